// One-line previews of message contents in the user's language (lists,
// notifications, quotes). The server's previews are English tags; a list
// entry whose message this tab does not hold is translated by kind.

import { formatDuration, has, locale, t, type Key } from "../i18n";
import { displayName, session } from "../state/app";
import { contentKind, type MessageContent } from "../proto";
import { p2pFileOf } from "../p2p/protocol";

export function previewOf(c: MessageContent | undefined): string {
  if (!c) return t("preview.unknown");
  switch (contentKind(c)) {
    case "text":
      return c.text?.text ?? "";
    case "image":
      return t("preview.image");
    case "file":
      return t("preview.file", { name: c.file?.file?.name ?? "" });
    case "voice":
      return t("preview.voice", { d: formatDuration(c.voice?.durationMs ?? 0) });
    case "video":
      return t("preview.video", { d: formatDuration(c.video?.durationMs ?? 0) });
    case "location":
      return t("preview.location", { title: c.location?.title || c.location?.address || "" });
    case "contact_card":
      return t("preview.contact_card");
    case "link":
      return t("preview.link", { title: c.link?.title || c.link?.url || "" });
    case "chat_record":
      return t("preview.chat_record");
    case "call_log":
      return t("preview.call_log");
    case "revoked":
      return t("preview.revoked");
    case "custom": {
      const direct = p2pFileOf(c);
      if (direct) return t("p2p.preview", { name: direct.name });
      return c.custom?.fallbackText || t("preview.custom", { type: c.custom?.type ?? "" });
    }
    case "system":
      return systemText(c);
    default:
      return t("preview.unknown");
  }
}

function who(id: string | undefined): string {
  if (id && id === session.value?.userId) return t("common.you");
  return displayName(id ?? "");
}

/** A group event in the reader's language, with display names; the
 *  server's English line when the event is one this client does not know. */
export function systemText(c: MessageContent): string {
  const s = c.system ?? {};
  const role = s.event === "role_changed" ? `.${s.detail === "admin" ? "admin" : "member"}` : "";
  const key = `sys.${s.event ?? ""}${role}`;
  if (!has(key)) return s.text ?? "";
  const until = s.until ? new Intl.DateTimeFormat(locale.value, { dateStyle: "medium", timeStyle: "short" }).format(Number(s.until)) : "";
  return t(key as Key, {
    actor: who(s.actorId),
    targets: (s.targetIds ?? []).map(who).join(", "),
    until,
    detail: s.detail ?? "",
  });
}

/** Translates the server's English preview of a message of `kind`. */
export function translatePreview(kind: string, preview: string): string {
  const rest = (tag: string) => (preview.startsWith(tag) ? preview.slice(tag.length).trim() : "");
  switch (kind) {
    case "text":
    case "system":
    case "custom":
    case "":
      return preview;
    case "image":
      return t("preview.image");
    case "file":
      return t("preview.file", { name: rest("[File]") });
    case "voice":
      return t("preview.voice", { d: /\[Voice (.*)\]/.exec(preview)?.[1] ?? "" });
    case "video":
      return t("preview.video", { d: /\[Video (.*)\]/.exec(preview)?.[1] ?? "" });
    case "location":
      return t("preview.location", { title: rest("[Location]") });
    case "contact_card":
      return t("preview.contact_card");
    case "link":
      return t("preview.link", { title: rest("[Link]") });
    case "chat_record":
      return t("preview.chat_record");
    case "revoked":
      return t("preview.revoked");
    case "hidden":
      return "";
    default:
      return preview;
  }
}
