// The conversation list: pinned first, then by last activity; each entry
// with avatar, name, type-aware preview, time, unread badge, @ marker,
// muted icon and draft.

import { useEffect, useState } from "preact/hooks";

import type { SearchResult } from "../proto";

import { formatListTime, t } from "../i18n";
import { displayName, engine, http, presence, session, user } from "../state/app";
import type { ConversationView } from "../sync/engine";
import { Avatar } from "./Avatar";
import { Icon } from "./icons";
import { previewOf, translatePreview } from "./preview";
import { openChat, route } from "./route";

export function titleOf(c: ConversationView): string {
  if (c.name) return c.name;
  if (c.kind === "direct") return displayName(c.peerId);
  return c.id;
}

function previewLine(c: ConversationView): string {
  const text = c.last ? previewOf(c.last.content) : translatePreview(c.lastKind, c.preview);
  if (!text) return "";
  const mine = c.lastSenderId && c.lastSenderId === session.value?.userId;
  if (c.kind === "group" && c.lastSenderId && c.lastKind !== "system" && c.lastKind !== "revoked") {
    return `${mine ? t("common.you") : displayName(c.lastSenderId)}: ${text}`;
  }
  return text;
}

export function ConversationList() {
  const e = engine.value;
  const [q, setQ] = useState("");
  if (!e) return null;
  const list = e.conversations.value.filter((c) => !c.archived || c.unread > 0);
  const query = q.trim().toLowerCase();
  const shown = query ? list.filter((c) => titleOf(c).toLowerCase().includes(query) || c.id === query) : list;
  const current = route.value.chat;
  const found = useSearch(query);
  return (
    <section class="pane list-pane" aria-label={t("nav.chats")}>
      <header class="pane-header">
        <h2>{t("nav.chats")}</h2>
        <Status />
      </header>
      <div class="search-box">
        <input type="search" placeholder={t("list.search")} aria-label={t("list.search")} value={q} onInput={(ev) => setQ(ev.currentTarget.value)} />
      </div>
      {query ? <SearchResults result={found} /> : null}
      {shown.length === 0 && !query ? <p class="empty muted">{t("list.empty")}</p> : null}
      <ul class="conversations" role="listbox" aria-label={t("nav.chats")}>
        {shown.map((c) => {
          const name = titleOf(c);
          const peer = c.kind === "direct" ? user(c.peerId) : undefined;
          const selected = c.id === current;
          return (
            <li
              key={c.id}
              role="option"
              aria-selected={selected}
              tabIndex={0}
              class={`conversation${selected ? " selected" : ""}${c.pinned ? " pinned" : ""}`}
              data-conversation={c.id}
              onClick={() => openChat(c.id)}
              onKeyDown={(ev) => {
                if (ev.key === "Enter" || ev.key === " ") {
                  ev.preventDefault();
                  openChat(c.id);
                }
              }}
            >
              <Avatar id={c.kind === "direct" ? c.peerId : c.id} name={name} src={c.avatar || peer?.avatar} online={c.kind === "direct" && presence.value.get(c.peerId)} />
              <div class="conversation-main">
                <div class="conversation-top">
                  <span class="conversation-name">{name}</span>
                  <time class="conversation-time">{formatListTime(c.lastTime)}</time>
                </div>
                <div class="conversation-bottom">
                  <span class="conversation-preview">
                    {c.mentioned ? <span class="mention-mark">{t("list.mentioned")} </span> : null}
                    {c.draft && !selected ? <span class="draft-mark">{t("list.draft")} </span> : null}
                    {c.draft && !selected ? c.draft : previewLine(c)}
                  </span>
                  {c.muted ? <span class="muted-icon" title={t("list.muted")} aria-label={t("list.muted")}><Icon name="bellOff" size={14} /></span> : null}
                  {c.unread > 0 ? (
                    <span class={`badge${c.muted ? " badge-muted" : ""}`} aria-label={t("list.unread", { n: c.unread })}>
                      {c.unread > 99 ? "99+" : c.unread}
                    </span>
                  ) : null}
                </div>
              </div>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

/** The server's search (messages, contacts, groups), debounced. */
function useSearch(query: string): SearchResult | null {
  const [result, setResult] = useState<SearchResult | null>(null);
  useEffect(() => {
    setResult(null);
    if (!/[\p{L}\p{N}]/u.test(query)) return;
    const ctl = new AbortController();
    const timer = setTimeout(() => {
      http.request<SearchResult>("GET", "/search", undefined, { q: query.slice(0, 200), limit: 20 }, ctl.signal).then(setResult, () => setResult({}));
    }, 250);
    return () => {
      clearTimeout(timer);
      ctl.abort();
    };
  }, [query]);
  return result;
}

function SearchResults(p: { result: SearchResult | null }) {
  const r = p.result;
  if (!r) return null;
  const hits = r.hits ?? [];
  const contacts = r.contacts ?? [];
  const groups = r.groups ?? [];
  if (!hits.length && !contacts.length && !groups.length) return <p class="empty muted">{t("search.none")}</p>;
  const conv = (id: string) => engine.value?.conversation(id);
  return (
    <div class="search-results">
      {contacts.length ? <h3>{t("search.contacts")}</h3> : null}
      <ul class="people">
        {contacts.map((c) => (
          <li key={c.userId} class="person" tabIndex={0} onClick={() => c.conversationId && openChat(c.conversationId)}>
            <Avatar id={c.userId ?? ""} name={c.displayName ?? ""} src={c.avatar} size={32} />
            <div class="person-main">
              <strong>{c.remark || c.displayName}</strong>
              <span class="muted small">@{c.username}</span>
            </div>
          </li>
        ))}
      </ul>
      {groups.length ? <h3>{t("search.groups")}</h3> : null}
      <ul class="people">
        {groups.map((g) => (
          <li key={g.groupId} class="person" tabIndex={0} onClick={() => g.conversationId && openChat(g.conversationId)}>
            <Avatar id={g.conversationId ?? ""} name={g.name ?? ""} src={g.avatar} size={32} />
            <div class="person-main">
              <strong>{g.name}</strong>
            </div>
          </li>
        ))}
      </ul>
      {hits.length ? <h3>{t("search.messages")}</h3> : null}
      <ul class="people">
        {hits.map((h) => {
          const m = h.message ?? {};
          const c = conv(m.conversationId ?? "");
          return (
            <li key={`${m.conversationId}:${m.seq}`} class="person search-hit" tabIndex={0} onClick={() => m.conversationId && openChat(m.conversationId)}>
              <div class="person-main">
                <span class="small muted">
                  {c ? titleOf(c) : m.conversationId} · {displayName(m.senderId ?? "")} · {formatListTime(Number(m.serverTime ?? 0))}
                </span>
                <span class="snippet">
                  {(h.snippet ?? []).map((part, i) => (part.hit ? <mark key={i}>{part.text}</mark> : <span key={i}>{part.text}</span>))}
                </span>
              </div>
            </li>
          );
        })}
      </ul>
    </div>
  );
}

export function Status() {
  const s = engine.value?.status.value ?? "connecting";
  if (s === "online") return <span class="status status-online" role="status" aria-label={t("status.online")} />;
  return (
    <span class={`status status-${s}`} role="status">
      {s === "syncing" ? t("status.syncing") : s === "offline" ? t("status.offline") : t("status.connecting")}
    </span>
  );
}
