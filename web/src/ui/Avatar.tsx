// A round avatar: the picture when there is one (an uploaded image's file
// id, shown from its thumbnail, or a URL), else initials on a colour
// derived from the id (stable across sessions).

import { fileInfo } from "../media/files";

const FILE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The URL to show an avatar value with ("" when none). */
export function avatarUrl(value: string | undefined): string {
  if (!value) return "";
  if (FILE_ID.test(value)) {
    const f = fileInfo(value);
    return f?.thumbnail_url || f?.url || "";
  }
  return /^(\/|https?:|blob:|data:image\/)/.test(value) ? value : "";
}

const COLORS = ["#2563eb", "#16a34a", "#db2777", "#ea580c", "#7c3aed", "#0891b2", "#ca8a04", "#dc2626"];

function initials(name: string): string {
  const s = name.trim();
  if (!s) return "?";
  const chars = [...s];
  // CJK names: the first character; others: first letters of two words.
  if (/[\u3400-\u9fff]/.test(chars[0]!)) return chars[0]!;
  const words = s.split(/\s+/);
  return ((words[0]?.[0] ?? "") + (words[1]?.[0] ?? "")).toUpperCase() || "?";
}

export function Avatar(p: { id: string; name: string; src?: string; size?: number; online?: boolean }) {
  const size = p.size ?? 40;
  let h = 0;
  for (const c of p.id) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  const bg = COLORS[h % COLORS.length];
  const src = avatarUrl(p.src);
  return (
    <span class="avatar" style={{ width: `${size}px`, height: `${size}px`, background: src ? undefined : bg, fontSize: `${Math.round(size * 0.4)}px` }} aria-hidden="true">
      {src ? <img src={src} alt="" /> : initials(p.name)}
      {p.online ? <span class="avatar-online" /> : null}
    </span>
  );
}
