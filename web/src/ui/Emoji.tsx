// A small emoji picker for the composer: the common ones, no font needed
// beyond the system's emoji font.

import { t } from "../i18n";

export const EMOJI = [
  "😀", "😁", "😂", "🤣", "😊", "😍", "😘", "😎", "🤔", "😅", "😭", "😡", "😱", "🥳", "😴", "🤗",
  "👍", "👎", "👏", "🙏", "💪", "👌", "✌️", "🤝", "❤️", "💔", "🔥", "🎉", "✨", "⭐", "✅", "❌",
  "☕", "🍺", "🍰", "🎂", "🌹", "🌞", "🌙", "⚡", "💡", "📎", "📌", "📅", "⏰", "🚀", "🏠", "🐶",
];

export function EmojiPicker(p: { onPick: (e: string) => void; onClose: () => void }) {
  return (
    <div class="emoji-picker" role="dialog" aria-label={t("emoji.pick")} onKeyDown={(e) => e.key === "Escape" && p.onClose()}>
      {EMOJI.map((e) => (
        <button key={e} type="button" class="icon" aria-label={e} onClick={() => p.onPick(e)}>
          {e}
        </button>
      ))}
    </div>
  );
}
