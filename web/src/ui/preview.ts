// One-line previews of message contents in the user's language (lists,
// notifications, quotes). The server's previews are English tags; a list
// entry whose message this tab does not hold is translated by kind.

import { formatDuration, has, locale, t, type Key } from "../i18n";
import { displayName, session } from "../state/app";
import { contentKind, type CallLogContent, type MessageContent } from "../proto";
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
      return callLogText(c.callLog ?? {});
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

/** A call-log message for its reader: "Missed video call" for the callee,
 *  "Video call · No answer" for the caller, "Voice call 1:23" when it took place. */
export function callLogText(log: CallLogContent): string {
  const media = log.media === "video" ? "video" : "audio";
  const caller = !!log.callerId && String(log.callerId) === session.value?.userId;
  const outcome = log.outcome ?? "";
  let what: string;
  if (outcome === "completed") what = "completed";
  else if (outcome === "declined") what = caller ? "declined" : "youDeclined";
  else if (outcome === "busy") what = caller ? "busy" : "missed";
  else if (outcome === "cancelled") what = caller ? "cancelled" : "missed";
  else if (outcome === "missed") what = caller ? "noAnswer" : "missed";
  else return t("preview.call_log");
  return t(`calls.log.${media}.${what}` as Key, { d: formatDuration(log.durationMs ?? 0) });
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
    case "call_log":
      return t("preview.call_log");
    case "revoked":
      return t("preview.revoked");
    case "hidden":
      return "";
    default:
      return preview;
  }
}
