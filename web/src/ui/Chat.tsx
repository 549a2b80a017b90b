// The chat pane: header (name, presence or typing, details), the message
// list (virtualised; bubbles grouped by sender and day; my messages with
// sending → sent → read), and the composer (Enter sends, Shift+Enter is a
// new line; typing is told to the peer in direct chats).

import { useComputed } from "@preact/signals";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";

import { formatDay, formatTime, t } from "../i18n";
import { num, type Message, type MessageContent } from "../proto";
import { displayName, engine, http, presence, session, user } from "../state/app";
import type { ConversationView } from "../sync/engine";
import type { OutboxEntry } from "../sync/outbox";
import { Avatar } from "./Avatar";
import { CallButtons } from "./Call";
import { titleOf } from "./ConversationList";
import { DetailsPanel } from "./Details";
import { EmojiPicker } from "./Emoji";
import { ForwardDialog } from "./Forward";
import { Icon } from "./icons";
import { UploadRows, VoiceRecorder } from "./Media";
import { previewOf, systemText } from "./preview";
import { sendFile } from "../media/uploads";
import { MessageBody, MessageMenu, type MenuAction } from "./MessageView";
import { P2pRows, P2pSendButton } from "./P2p";
import { go } from "./route";
import { VirtualList } from "./VirtualList";

type Row =
  | { kind: "day"; key: string; time: number }
  | { kind: "msg"; key: string; m: Message; first: boolean; last: boolean; mine: boolean }
  | { kind: "out"; key: string; e: OutboxEntry }
  | { kind: "system"; key: string; m: Message };

const GROUP_GAP_MS = 5 * 60_000;

function dayKey(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

export function buildRows(items: readonly Message[], outbox: OutboxEntry[], me: string): Row[] {
  const rows: Row[] = [];
  let lastDay = "";
  let prev: Message | null = null;
  const visible = items.filter((m) => !m.hidden && !m.content?.event);
  for (let i = 0; i < visible.length; i++) {
    const m = visible[i]!;
    const time = num(m.serverTime);
    const day = dayKey(time);
    if (day !== lastDay) {
      rows.push({ kind: "day", key: `day-${day}`, time });
      lastDay = day;
      prev = null;
    }
    if (m.content?.system) {
      rows.push({ kind: "system", key: `s-${m.seq}`, m });
      prev = null;
      continue;
    }
    const next = visible[i + 1];
    const sameAsPrev = !!prev && prev.senderId === m.senderId && time - num(prev.serverTime) < GROUP_GAP_MS && !prev.content?.system;
    const sameAsNext =
      !!next && next.senderId === m.senderId && num(next.serverTime) - time < GROUP_GAP_MS && !next.content?.system && dayKey(num(next.serverTime)) === day;
    rows.push({ kind: "msg", key: `m-${m.seq}`, m, first: !sameAsPrev, last: !sameAsNext, mine: m.senderId === me });
    prev = m;
  }
  const delivered = new Set(visible.map((m) => m.clientMsgId));
  for (const e of outbox) {
    if (delivered.has(e.clientMsgId)) continue;
    rows.push({ kind: "out", key: `o-${e.clientMsgId}`, e });
  }
  return rows;
}

function placeholder(id: string): ConversationView {
  return {
    id, kind: "group", peerId: "", name: "", avatar: "", maxSeq: 0, readSeq: 0, unread: 0, mentioned: false, lastTime: 0,
    peerReadSeq: 0, pinned: false, muted: false, archived: false, draft: "", lastSeq: 0, lastSenderId: "", lastKind: "", preview: "",
  };
}

export function Chat(p: { id: string }) {
  const e = engine.value!;
  const me = session.value!.userId;
  // A chat the list does not have: new (a first message to someone) for a
  // direct chat; for a group, one we are not (or no longer) in.
  const known = e.conversations.value.find((c) => c.id === p.id);
  const conv = known ?? (p.id.startsWith("d_") ? e.ensureConversation(p.id) : placeholder(p.id));
  const open = useMemo(() => e.timeline(p.id), [e, p.id]);
  const version = open.version.value;
  const outboxVersion = e.outboxVersion.value;
  const [bottomToken, setBottomToken] = useState(0);
  const [atBottom, setAtBottom] = useState(true);
  const [replyTo, setReplyTo] = useState<Message | null>(null);
  const [editing, setEditing] = useState<Message | null>(null);
  const [notice, setNotice] = useState("");
  const [details, setDetails] = useState(false);
  const [forwarding, setForwarding] = useState<number[] | null>(null);
  /** Selection mode: the seqs picked for a bulk forward or delete. */
  const [selected, setSelected] = useState<Set<number> | null>(null);
  useEffect(() => setSelected(null), [p.id]);
  const toggle = (seq: number) => {
    const next = new Set(selected ?? []);
    if (next.has(seq)) next.delete(seq);
    else if (next.size < 100) next.add(seq);
    setSelected(next);
  };
  const [pins, setPins] = useState<Message[]>([]);
  const pinKey = [...open.timeline.pinned].sort((a, b) => a - b).join(",");

  // Pinned messages: fetched on open and after every pin or unpin event.
  useEffect(() => {
    let live = true;
    e.pins(p.id).then(
      (list) => {
        if (!live) return;
        setPins(list);
        for (const m of list) open.timeline.pinned.add(num(m.seq));
      },
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [p.id, pinKey]);

  const rows = useMemo(
    () => buildRows(open.timeline.items, e.outbox.of(p.id), me),
    [version, outboxVersion, p.id, me],
  );

  // Read while looking: the chat is visible and scrolled to the bottom.
  useEffect(() => {
    const look = () => {
      const visible = document.visibilityState === "visible" && document.hasFocus() && atBottom;
      e.visible = visible ? p.id : null;
      if (visible) void e.markRead(p.id);
    };
    look();
    window.addEventListener("focus", look);
    document.addEventListener("visibilitychange", look);
    return () => {
      e.visible = null;
      window.removeEventListener("focus", look);
      document.removeEventListener("visibilitychange", look);
    };
  }, [p.id, atBottom, conv.maxSeq]);

  useEffect(() => {
    setReplyTo(null);
    setEditing(null);
    setNotice("");
  }, [p.id]);

  const typingNames = useComputed(() => {
    e.typing.value;
    return e.typingIn(p.id).map(displayName);
  }).value;

  const act = async (action: MenuAction, m: Message) => {
    setNotice("");
    try {
      switch (action) {
        case "reply":
          setReplyTo(m);
          setEditing(null);
          break;
        case "edit":
          setEditing(m);
          setReplyTo(null);
          break;
        case "copy":
          await navigator.clipboard.writeText(m.content?.text?.text ?? "");
          break;
        case "revoke":
          await e.op(p.id, num(m.seq), { revoke: {} });
          break;
        case "pin":
          await e.op(p.id, num(m.seq), { pin: {} });
          break;
        case "forward":
          setForwarding([num(m.seq)]);
          break;
        case "select":
          setSelected(new Set([num(m.seq)]));
          break;
        case "hide":
          await e.hide(p.id, [num(m.seq)]);
          break;
        case "readers": {
          const r = await e.readStatus(p.id, num(m.seq));
          setNotice(`${t("readers.title", { read: r.read.length, unread: r.unread.length })}: ${r.read.map(displayName).join(", ")}`);
          break;
        }
        case "unpin":
          await e.op(p.id, num(m.seq), { pin: { unpin: true } });
          break;
        default:
          if (action.startsWith("react:")) {
            const emoji = action.slice(6);
            const mine = m.reactions?.find((r) => r.emoji === emoji)?.me;
            await e.op(p.id, num(m.seq), { react: { emoji, remove: !!mine } });
          }
      }
    } catch (err) {
      setNotice((err as Error).message);
    }
  };

  const peer = conv.kind === "direct" ? user(conv.peerId) : undefined;
  const title = titleOf(conv);
  const subtitle = typingNames.length
    ? t("chat.typing", { name: typingNames.join(", ") })
    : conv.kind === "direct" && presence.value.get(conv.peerId)
      ? t("chat.online")
      : peer
        ? `@${peer.username}`
        : "";

  const [dragging, setDragging] = useState(false);
  const onDrop = (ev: DragEvent) => {
    ev.preventDefault();
    setDragging(false);
    for (const f of Array.from(ev.dataTransfer?.files ?? [])) void sendFile(p.id, f);
  };

  return (
    <section
      class={`pane chat-pane${dragging ? " dragging" : ""}`}
      aria-label={title}
      onDragOver={(ev) => {
        if (ev.dataTransfer?.types.includes("Files")) {
          ev.preventDefault();
          setDragging(true);
        }
      }}
      onDragLeave={(ev) => {
        if (ev.currentTarget === ev.target) setDragging(false);
      }}
      onDrop={onDrop}
    >
      {dragging ? <div class="drop-hint" aria-hidden="true">{t("media.drop")}</div> : null}
      <header class="pane-header chat-header">
        <button class="icon back" type="button" aria-label={t("chat.back")} onClick={() => go({ tab: "chats", chat: null })}>
          <Icon name="back" size={22} />
        </button>
        <Avatar id={conv.kind === "direct" ? conv.peerId : conv.id} name={title} src={conv.avatar || peer?.avatar} size={36} />
        <div class="chat-title">
          <h2>{title}</h2>
          <span class={`muted small${typingNames.length ? " typing" : ""}`} aria-live="polite">{subtitle}</span>
        </div>
        {conv.kind === "direct" && conv.peerId && conv.peerId !== me ? <CallButtons peerId={conv.peerId} /> : null}
        <button
          class="icon"
          type="button"
          aria-label={t("chat.details")}
          title={t("chat.details")}
          aria-expanded={details}
          data-action="details"
          onClick={() => setDetails(!details)}
        >
          <Icon name="info" size={20} />
        </button>
      </header>
      {details ? <DetailsPanel conv={conv} onClose={() => setDetails(false)} /> : null}
      {pins.length ? (
        <div class="pins-bar" aria-label={t("pins.title")}>
          <Icon name="pin" size={14} />
          <span class="pins-text">
            <strong>{t("pins.title")}</strong> {previewOf(pins[0]!.content)}
          </span>
          {pins.length > 1 ? <span class="muted small">+{pins.length - 1}</span> : null}
        </div>
      ) : null}
      {forwarding ? (
        <ForwardDialog
          conversationId={p.id}
          seqs={forwarding}
          onClose={(result) => {
            setForwarding(null);
            if (result) setSelected(null);
            if (result) setNotice(result);
          }}
        />
      ) : null}
      <VirtualList
        class="messages"
        label={title}
        items={rows}
        keyOf={(r) => r.key}
        estimate={56}
        scrollToBottomToken={bottomToken}
        onBottomChange={setAtBottom}
        onTop={() => void e.loadOlder(p.id)}
        header={
          <div class="history-edge muted small">
            {open.timeline.atStart ? t("chat.start") : open.loading.value ? t("chat.loadingOlder") : "\u00a0"}
          </div>
        }
        render={(r) => <RowView row={r} conv={conv} me={me} pinned={open.timeline.pinned} onAction={act} selected={selected} onToggle={toggle} />}
      />
      {!atBottom ? (
        <button class="jump" type="button" onClick={() => setBottomToken((n) => n + 1)}>
          {conv.unread > 0 ? `${t("chat.newMessages")} (${conv.unread})` : <Icon name="down" size={18} />}
        </button>
      ) : null}
      {notice ? <p class="error composer-notice" role="alert">{notice}</p> : null}
      <UploadRows conversationId={p.id} />
      <P2pRows conversationId={p.id} />
      {selected ? (
        <div class="select-bar" role="toolbar" aria-label={t("select.bar")}>
          <span>{t("select.count", { n: selected.size })}</span>
          <button type="button" class="primary" disabled={!selected.size} data-action="forward-selected" onClick={() => setForwarding([...selected].sort((a, b) => a - b))}>
            {t("action.forward")}
          </button>
          <button
            type="button"
            disabled={!selected.size}
            data-action="hide-selected"
            onClick={() => {
              const seqs = [...selected];
              setSelected(null);
              e.hide(p.id, seqs).catch((err: Error) => setNotice(err.message));
            }}
          >
            {t("action.hide")}
          </button>
          <button type="button" onClick={() => setSelected(null)}>
            {t("common.cancel")}
          </button>
        </div>
      ) : null}
      {selected ? null : <Composer
        conv={conv}
        replyTo={replyTo}
        editing={editing}
        onDone={() => {
          setReplyTo(null);
          setEditing(null);
          setBottomToken((n) => n + 1);
        }}
        onError={setNotice}
      />}
    </section>
  );
}

function RowView(p: {
  row: Row;
  conv: ConversationView;
  me: string;
  pinned: Set<number>;
  onAction: (a: MenuAction, m: Message) => void;
  selected: Set<number> | null;
  onToggle: (seq: number) => void;
}) {
  const r = p.row;
  if (r.kind === "day") return <div class="day-separator"><span>{formatDay(r.time)}</span></div>;
  if (r.kind === "system") return <div class="system-line">{systemText(r.m.content ?? {})}</div>;
  if (r.kind === "out") return <PendingRow e={r.e} />;
  const m = r.m;
  if (m.content?.revoked) {
    const by = m.content.revoked.by ?? m.senderId ?? "";
    return (
      <div class="system-line" data-seq={m.seq}>
        {by === p.me ? t("msg.youRecalled") : t("msg.recalledBy", { name: displayName(by) })}
      </div>
    );
  }
  const sender = m.senderId ?? "";
  const status = r.mine ? (p.conv.kind === "direct" && num(m.seq) <= p.conv.peerReadSeq ? "read" : "sent") : null;
  return (
    <div class={`msg-row${r.mine ? " mine" : ""}${r.first ? " first" : ""}${r.last ? " last" : ""}${p.selected ? " selecting" : ""}`} data-seq={m.seq}>
      {p.selected ? (
        <input
          type="checkbox"
          class="select-box"
          aria-label={t("select.one")}
          checked={p.selected.has(num(m.seq))}
          onChange={() => p.onToggle(num(m.seq))}
        />
      ) : null}
      {!r.mine ? (
        <div class="msg-avatar">{r.last ? <Avatar id={sender} name={displayName(sender)} src={user(sender)?.avatar} size={32} /> : null}</div>
      ) : null}
      <div class="msg-stack">
        {r.first && !r.mine && p.conv.kind === "group" ? <div class="msg-sender">{displayName(sender)}</div> : null}
        <div class="bubble-line">
          <div class="bubble" tabIndex={0}>
            <MessageBody m={m} />
            <div class="msg-meta">
              {m.content?.editedAt ? <span class="edited">{t("msg.edited")}</span> : null}
              <time>{formatTime(num(m.serverTime))}</time>
              {status ? (
                <span class={`msg-status status-${status}`} data-status={status} aria-label={t(status === "read" ? "msg.read" : "msg.sent")}>
                  {status === "read" ? "✓✓" : "✓"}
                </span>
              ) : null}
            </div>
          </div>
          {p.selected ? null : (
            <MessageMenu m={m} mine={r.mine} conv={p.conv} pinned={p.pinned.has(num(m.seq))} onAction={(a) => p.onAction(a, m)} />
          )}
        </div>
        {m.reactions?.length ? (
          <div class="reactions">
            {m.reactions.map((x) => (
              <button type="button" key={x.emoji} class={`reaction${x.me ? " me" : ""}`} aria-pressed={!!x.me} onClick={() => p.onAction(`react:${x.emoji}`, m)}>
                {x.emoji} {num(x.count)}
              </button>
            ))}
          </div>
        ) : null}
      </div>
    </div>
  );
}

function PendingRow(p: { e: OutboxEntry }) {
  const e = engine.value!;
  const failed = p.e.state === "failed";
  const code = p.e.error ?? "";
  const key = `msg.error.${code}`;
  const reason = failed ? (["blocked", "not_friends", "text_too_long", "forbidden", "group_muted", "member_muted", "group_dismissed"].includes(code) ? t(key as "msg.error.blocked") : t("msg.error.other", { code })) : "";
  return (
    <div class="msg-row mine first last pending" data-client-id={p.e.clientMsgId}>
      <div class="msg-stack">
        <div class="bubble-line">
          <div class="bubble">
            <MessageBody m={{ content: p.e.content, senderId: session.value?.userId }} />
            <div class="msg-meta">
              <time>{formatTime(p.e.createdAt)}</time>
              <span class={`msg-status status-${failed ? "failed" : "sending"}`} data-status={failed ? "failed" : "sending"}>
                {failed ? "!" : <Icon name="clock" size={12} />} {failed ? t("msg.failed") : t("msg.sending")}
              </span>
            </div>
          </div>
        </div>
        {failed ? (
          <div class="failed-actions">
            <span class="error small">{reason}</span>
            <button type="button" class="link" onClick={() => e.retry(p.e.clientMsgId)}>{t("msg.retry")}</button>
            <button type="button" class="link" onClick={() => e.discard(p.e.clientMsgId)}>{t("msg.discard")}</button>
          </div>
        ) : null}
      </div>
    </div>
  );
}

function Composer(p: { conv: ConversationView; replyTo: Message | null; editing: Message | null; onDone: () => void; onError: (s: string) => void }) {
  const e = engine.value!;
  const [text, setText] = useState(p.conv.draft);
  const area = useRef<HTMLTextAreaElement>(null);
  const picker = useRef<HTMLInputElement>(null);
  const lastTyping = useRef(0);
  const convId = p.conv.id;
  const textRef = useRef(text);
  textRef.current = text;
  const [emoji, setEmoji] = useState(false);
  const [members, setMembers] = useState<string[] | null>(null);
  const [mention, setMention] = useState<string | null>(null);
  const mentioned = useRef(new Map<string, string>());

  // @ autocomplete in groups: the members, fetched on first use.
  useEffect(() => {
    if (mention === null || members !== null || p.conv.kind !== "group") return;
    void http
      .get<{ members: { user_id: number }[] }>(`/groups/${convId.slice(2)}/members`, { limit: 1000 })
      .then((a) => setMembers(a.members.map((m) => String(m.user_id))), () => setMembers([]));
  }, [mention, convId]);
  const me = session.value?.userId ?? "";
  const suggestions =
    mention === null || !members
      ? []
      : members
          .filter((id) => id !== me && displayName(id).toLowerCase().includes(mention.toLowerCase()))
          .slice(0, 8);
  const pickMention = (id: string) => {
    const name = id === "all" ? "all" : displayName(id);
    const next = text.replace(/@([^\s@]*)$/, `@${name} `);
    mentioned.current.set(name, id);
    setText(next);
    setMention(null);
    area.current?.focus();
  };

  // Drafts: restored on open, saved on leaving.
  useEffect(() => {
    setText(e.conversation(convId)?.draft ?? "");
    area.current?.focus();
    return () => {
      const draft = textRef.current.trim() ? textRef.current : "";
      if (draft !== (e.conversation(convId)?.draft ?? "")) void e.saveDraft(convId, draft);
    };
  }, [convId]);

  useEffect(() => {
    if (p.editing) {
      setText(p.editing.content?.text?.text ?? "");
      area.current?.focus();
    }
  }, [p.editing]);
  useEffect(() => {
    if (p.replyTo) area.current?.focus();
  }, [p.replyTo]);

  const submit = async () => {
    const body = text.trim();
    if (!body) return;
    if (p.editing) {
      try {
        await e.op(convId, num(p.editing.seq), { edit: { content: { text: { text: body } } } });
        setText("");
        p.onDone();
      } catch (err) {
        p.onError((err as Error).message);
      }
      return;
    }
    const content: MessageContent = { text: { text: body } };
    const ids = [...mentioned.current.entries()].filter(([name]) => body.includes(`@${name}`)).map(([, id]) => id);
    if (ids.includes("all")) content.text!.mentionAll = true;
    const users = ids.filter((id) => id !== "all");
    if (users.length) content.text!.mentionUserIds = users;
    mentioned.current.clear();
    if (p.replyTo) content.quote = { seq: p.replyTo.seq };
    e.send(convId, content);
    setText("");
    if (p.conv.kind === "direct") void e.typingOff(convId);
    lastTyping.current = 0;
    p.onDone();
  };

  const onInput = (v: string) => {
    setText(v);
    const at = p.conv.kind === "group" ? /(?:^|\s)@([^\s@]*)$/.exec(v) : null;
    setMention(at ? at[1]! : null);
    if (p.conv.kind !== "direct") return;
    const now = Date.now();
    if (v && now - lastTyping.current > 4000) {
      lastTyping.current = now;
      void e.typingOn(convId);
    }
  };

  return (
    <form
      class="composer"
      onSubmit={(ev) => {
        ev.preventDefault();
        void submit();
      }}
    >
      {p.replyTo || p.editing ? (
        <div class="composer-context">
          <span class="small">
            {p.editing ? `✎ ${p.editing.content?.text?.text ?? ""}` : `↩ ${displayName(p.replyTo!.senderId ?? "")}: ${p.replyTo!.content?.text?.text ?? ""}`}
          </span>
          <button type="button" class="icon" aria-label={t("common.cancel")} onClick={() => { p.onDone(); setText(""); }}>
            <Icon name="close" size={16} />
          </button>
        </div>
      ) : null}
      <div class="composer-row">
        <input
          ref={picker}
          type="file"
          multiple
          hidden
          name="attach"
          onChange={(ev) => {
            for (const f of Array.from(ev.currentTarget.files ?? [])) void sendFile(convId, f);
            ev.currentTarget.value = "";
          }}
        />
        <button type="button" class="icon composer-tool" aria-label={t("media.attach")} title={t("media.attach")} onClick={() => picker.current?.click()}>
          <Icon name="attach" size={20} />
        </button>
        {p.conv.kind === "direct" ? <P2pSendButton conversationId={convId} peerId={p.conv.peerId} /> : null}
        <button type="button" class="icon composer-tool" aria-label={t("emoji.pick")} title={t("emoji.pick")} aria-expanded={emoji} onClick={() => setEmoji(!emoji)}>
          <Icon name="smile" size={20} />
        </button>
        {emoji ? (
          <EmojiPicker
            onPick={(x) => {
              setText(text + x);
              area.current?.focus();
            }}
            onClose={() => setEmoji(false)}
          />
        ) : null}
        {suggestions.length || mention === "" ? (
          <ul class="mentions" role="listbox" aria-label="@">
            {mention !== null && "all".startsWith(mention.toLowerCase()) ? (
              <li role="option" aria-selected={false}>
                <button type="button" onClick={() => pickMention("all")}>@all</button>
              </li>
            ) : null}
            {suggestions.map((id) => (
              <li key={id} role="option" aria-selected={false}>
                <button type="button" onClick={() => pickMention(id)}>
                  <Avatar id={id} name={displayName(id)} src={user(id)?.avatar} size={24} /> {displayName(id)}
                </button>
              </li>
            ))}
          </ul>
        ) : null}
        <textarea
          ref={area}
          rows={1}
          name="message"
          aria-label={t("chat.placeholder")}
          placeholder={t("chat.placeholder")}
          value={text}
          onInput={(ev) => onInput(ev.currentTarget.value)}
          onPaste={(ev) => {
            const files = Array.from(ev.clipboardData?.files ?? []);
            if (files.length) {
              ev.preventDefault();
              for (const f of files) void sendFile(convId, f);
            }
          }}
          onKeyDown={(ev) => {
            if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
              ev.preventDefault();
              void submit();
            } else if (ev.key === "Escape" && (p.replyTo || p.editing)) {
              p.onDone();
            }
          }}
        />
        {text.trim() ? (
          <button class="primary send" type="submit">
            {t("chat.send")}
          </button>
        ) : (
          <VoiceRecorder conversationId={convId} onError={p.onError} />
        )}
      </div>
    </form>
  );
}
