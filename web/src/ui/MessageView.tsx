// How one message reads: its content by kind (text with links, quotes,
// forwarded mark, media), and the actions on it (reply, react, copy, edit,
// recall, pin).

import { Fragment } from "preact";
import { useState } from "preact/hooks";

import { t } from "../i18n";
import { contentKind, num, type Message } from "../proto";
import { displayName } from "../state/app";
import type { ConversationView } from "../sync/engine";
import { Icon } from "./icons";
import { MediaBody } from "./Media";
import { p2pFileOf } from "../p2p/protocol";
import { P2pFileCard } from "./P2p";
import { previewOf, translatePreview } from "./preview";

export type MenuAction = "reply" | "copy" | "edit" | "revoke" | "pin" | "unpin" | "forward" | "hide" | "readers" | "select" | `react:${string}`;

export const QUICK_REACTIONS = ["👍", "❤️", "😂", "😮", "😢", "🙏"];

const URL_RE = /\bhttps?:\/\/[^\s<>"']+/g;

/** Text with links made clickable (and nothing else interpreted). */
export function RichText(p: { text: string }) {
  const parts: preact.ComponentChildren[] = [];
  let last = 0;
  for (const m of p.text.matchAll(URL_RE)) {
    const i = m.index ?? 0;
    if (i > last) parts.push(p.text.slice(last, i));
    parts.push(
      <a href={m[0]} target="_blank" rel="noopener noreferrer">
        {m[0]}
      </a>,
    );
    last = i + m[0].length;
  }
  if (last < p.text.length) parts.push(p.text.slice(last));
  return <span class="text">{parts.map((x, i) => <Fragment key={i}>{x}</Fragment>)}</span>;
}

export function MessageBody(p: { m: Message }) {
  const c = p.m.content;
  if (!c) return null;
  const kind = contentKind(c);
  const p2p = p2pFileOf(c);
  return (
    <div class={`body body-${kind}`}>
      {c.forwarded ? <div class="forwarded small muted">{t("msg.forwarded")}</div> : null}
      {c.quote ? (
        <div class="quote small">
          <strong>{displayName(c.quote.senderId ?? "")}</strong>{" "}
          {c.quote.revoked ? t("preview.revoked") : translatePreview(c.quote.kind ?? "text", c.quote.preview ?? "")}
        </div>
      ) : null}
      {kind === "text" ? <RichText text={c.text?.text ?? ""} /> : null}
      <MediaBody c={c} />
      {kind === "chat_record" ? (
        <div class="record">
          <strong>{c.chatRecord?.title}</strong>
          {(c.chatRecord?.items ?? []).slice(0, 4).map((it, i) => (
            <div key={i} class="small muted">
              {it.senderName}: {previewOf(it.content)}
            </div>
          ))}
        </div>
      ) : null}
      {p2p ? <P2pFileCard h={p2p} /> : null}
      {kind === "call_log" ? (
        <span class="call-log-line">
          <Icon name={c.callLog?.media === "video" ? "video" : "phone"} size={16} />
          {previewOf(c)}
        </span>
      ) : null}
      {!p2p && !["text", "image", "file", "voice", "video", "chat_record", "call_log"].includes(kind) ? <span>{previewOf(c)}</span> : null}
    </div>
  );
}

export function MessageMenu(p: { m: Message; mine: boolean; conv: ConversationView; pinned: boolean; onAction: (a: MenuAction) => void }) {
  const [reacting, setReacting] = useState(false);
  const [more, setMore] = useState(false);
  const kind = contentKind(p.m.content);
  const text = kind === "text";
  const ageMs = Date.now() - num(p.m.serverTime);
  return (
    <div class="msg-menu" role="toolbar" aria-label={t("action.menu")}>
      <button type="button" class="icon" title={t("action.reply")} aria-label={t("action.reply")} data-action="reply" onClick={() => p.onAction("reply")}>
        <Icon name="reply" size={16} />
      </button>
      <button type="button" class="icon" title={t("action.react")} aria-label={t("action.react")} aria-expanded={reacting} data-action="react" onClick={() => setReacting(!reacting)}>
        <Icon name="react" size={16} />
      </button>
      {reacting ? (
        <span class="reaction-picker">
          {QUICK_REACTIONS.map((e) => (
            <button type="button" key={e} class="icon" aria-label={e} onClick={() => { setReacting(false); p.onAction(`react:${e}`); }}>
              {e}
            </button>
          ))}
        </span>
      ) : null}
      {text ? (
        <button type="button" class="icon" title={t("action.copy")} aria-label={t("action.copy")} data-action="copy" onClick={() => p.onAction("copy")}>
          <Icon name="copy" size={16} />
        </button>
      ) : null}
      {p.mine && text && ageMs < 24 * 3600_000 ? (
        <button type="button" class="icon" title={t("action.edit")} aria-label={t("action.edit")} data-action="edit" onClick={() => p.onAction("edit")}>
          <Icon name="edit" size={16} />
        </button>
      ) : null}
      {p.mine && ageMs < 120_000 && kind !== "call_log" ? (
        <button type="button" class="icon" title={t("action.revoke")} aria-label={t("action.revoke")} data-action="revoke" onClick={() => p.onAction("revoke")}>
          <Icon name="revoke" size={16} />
        </button>
      ) : null}
      <span class="more-wrap">
        <button type="button" class="icon" title={t("action.more")} aria-label={t("action.more")} aria-haspopup="menu" aria-expanded={more} data-action="more" onClick={() => setMore(!more)}>
          <Icon name="more" size={16} />
        </button>
        {more ? (
          <div class="more-menu" role="menu" onKeyDown={(e) => e.key === "Escape" && setMore(false)}>
            {kind !== "system" && kind !== "call_log" ? (
              <button type="button" role="menuitem" data-action="forward" onClick={() => { setMore(false); p.onAction("forward"); }}>
                {t("action.forward")}
              </button>
            ) : null}
            <button type="button" role="menuitem" data-action={p.pinned ? "unpin" : "pin"} onClick={() => { setMore(false); p.onAction(p.pinned ? "unpin" : "pin"); }}>
              {p.pinned ? t("action.unpin") : t("action.pin")}
            </button>
            {p.mine && p.conv.kind === "group" ? (
              <button type="button" role="menuitem" data-action="readers" onClick={() => { setMore(false); p.onAction("readers"); }}>
                {t("action.readers")}
              </button>
            ) : null}
            <button type="button" role="menuitem" data-action="select" onClick={() => { setMore(false); p.onAction("select"); }}>
              {t("action.select")}
            </button>
            <button type="button" role="menuitem" data-action="hide" onClick={() => { setMore(false); p.onAction("hide"); }}>
              {t("action.hide")}
            </button>
          </div>
        ) : null}
      </span>
    </div>
  );
}
