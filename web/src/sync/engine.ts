// The sync engine: what this tab knows of the user's conversations, kept
// convergent with the server over the long connection (docs/PROTOCOL.md §5):
//
//   - after every (re)connect: the conversation list (incrementally, by
//     cursor), a catch-up pull of every open timeline, then the outbox;
//   - pushes: delivered in seq order per open timeline; a gap is pulled
//     first; a duplicate is dropped;
//   - sends go through the outbox (persisted), one at a time per
//     conversation so their order is the user's, each retried with its own
//     client_msg_id until the server answers.
//
// State is held in signals (framework-free `@preact/signals-core`), so the
// UI re-renders what changed and unit tests read it directly.

import { batch, signal, type Signal } from "@preact/signals-core";

import { RequestError } from "../api/connection";
import { contentKind, num, type Conversation, type Frame, type Message, type MessageContent, type MessageOp } from "../proto";
import { newClientMsgId, Outbox, type KV, type OutboxEntry } from "./outbox";
import { Timeline } from "./timeline";

/** What the engine needs of the connection. */
export interface Port {
  request(body: Omit<Frame, "id">): Promise<Frame>;
}

export type SyncStatus = "connecting" | "syncing" | "online" | "offline" | "ended";

/** A conversation as the list shows it. */
export interface ConversationView {
  id: string;
  kind: "direct" | "group";
  peerId: string;
  name: string;
  avatar: string;
  maxSeq: number;
  readSeq: number;
  unread: number;
  mentioned: boolean;
  lastTime: number;
  peerReadSeq: number;
  pinned: boolean;
  muted: boolean;
  archived: boolean;
  draft: string;
  lastSeq: number;
  lastSenderId: string;
  lastKind: string;
  /** The server's one-line preview of the last message (English tags). */
  preview: string;
  /** The last message itself when this tab holds it. */
  last?: Message;
}

/** Messages per page when opening a conversation or scrolling up. */
export const PAGE = 50;

/** Typing indicators last this long unless repeated (§4.9). */
export const TYPING_TTL_MS = 6000;

export function directId(a: string, b: string): string {
  const [x, y] = BigInt(a) < BigInt(b) ? [a, b] : [b, a];
  return `d_${x}_${y}`;
}

export function peerOf(conversationId: string, me: string): string {
  const m = /^d_(\d+)_(\d+)$/.exec(conversationId);
  if (!m) return "";
  if (m[1] === me) return m[2]!;
  if (m[2] === me) return m[1]!;
  // Someone else's pair: no peer (a send by conversation id is refused).
  return "";
}

function fromServer(c: Conversation, me: string): ConversationView {
  const id = c.conversationId ?? "";
  return {
    id,
    kind: c.kind === "group" || id.startsWith("g_") ? "group" : "direct",
    peerId: c.peerUserId ?? peerOf(id, me),
    name: c.name ?? "",
    avatar: c.avatar ?? "",
    maxSeq: num(c.maxSeq),
    readSeq: num(c.readSeq),
    unread: num(c.unread),
    mentioned: !!c.mentioned,
    lastTime: num(c.lastTime),
    peerReadSeq: num(c.peerReadSeq),
    pinned: !!c.pinned,
    muted: !!c.muted,
    archived: !!c.archived,
    draft: c.draft ?? "",
    lastSeq: num(c.lastSeq),
    lastSenderId: c.lastSenderId ?? "",
    lastKind: c.lastKind ?? "",
    preview: c.preview ?? "",
  };
}

/** Pinned first, then by last activity, newest first. */
export function sortConversations(list: ConversationView[]): ConversationView[] {
  return list.sort((a, b) => Number(b.pinned) - Number(a.pinned) || b.lastTime - a.lastTime || (a.id < b.id ? -1 : 1));
}

/** Whether a message counts as unread for `me` (§5.3). */
function countsUnread(m: Message, me: string): boolean {
  return m.senderId !== me && !m.hidden && !m.content?.event && !m.content?.revoked;
}

function mentions(m: Message, me: string): boolean {
  const t = m.content?.text;
  if (!t || m.senderId === me) return false;
  return !!t.mentionAll || (t.mentionUserIds ?? []).includes(me);
}

export interface OpenTimeline {
  timeline: Timeline;
  /** Bumped on every change, for renderers. */
  version: Signal<number>;
  loading: Signal<boolean>;
}

export class SyncEngine {
  readonly status = signal<SyncStatus>("connecting");
  readonly conversations = signal<ConversationView[]>([]);
  /** Bumped when the outbox changes. */
  readonly outboxVersion = signal(0);
  /** conversation id → user id → until (ms) while they type. */
  readonly typing = signal<Map<string, Map<string, number>>>(new Map());
  /** Pushes the engine does not handle itself (changed, presence). */
  onOther: ((f: Frame) => void) | null = null;
  /** A new message from someone else (for notifications). */
  onIncoming: ((m: Message, c: ConversationView) => void) | null = null;

  readonly outbox: Outbox;
  private convs = new Map<string, ConversationView>();
  private open = new Map<string, OpenTimeline>();
  private cursor = "";
  private catchUps = new Map<string, Promise<void>>();
  /** Own messages shown from their ack, replaced by the push's version. */
  private provisional = new Set<string>();
  private flushing = false;
  private online = false;
  private listRefresh: ReturnType<typeof setTimeout> | null = null;
  /** The conversation the user is looking at (marked read as messages come). */
  visible: string | null = null;

  constructor(
    private port: Port,
    readonly me: string,
    kv: KV,
    private now: () => number = () => Date.now(),
  ) {
    this.outbox = new Outbox(kv, `ferry.outbox.${me}`);
  }

  // --- connection events -------------------------------------------------

  /** The connection is authenticated: catch up, then send what waits. */
  async connected(): Promise<void> {
    this.online = true;
    this.status.value = "syncing";
    try {
      await this.refreshList();
      await Promise.all(
        [...this.open.keys()].map((id) =>
          this.catchUp(id).catch((e: unknown) => {
            // A conversation refused (left, removed) must not stop the others.
            if (e instanceof RequestError && e.retryable) throw e;
          }),
        ),
      );
      if (this.online) this.status.value = "online";
    } catch (e) {
      if (!(e instanceof RequestError) || !e.retryable) throw e;
      return; // the connection dropped; the next connect starts again
    }
    void this.flush();
  }

  disconnected(ended = false): void {
    this.online = false;
    this.status.value = ended ? "ended" : "offline";
    // A send in flight is answered never: it goes again on reconnect.
    for (const e of this.outbox.all()) if (e.state === "sending") this.outbox.set(e.clientMsgId, "pending");
    this.outboxVersion.value++;
  }

  connecting(): void {
    if (this.status.value !== "ended") this.status.value = "connecting";
  }

  /** A frame without an id. */
  push(f: Frame): void {
    if (f.message) void this.pushedMessage(f.message);
    else if (f.readReceipt) this.receipt(f.readReceipt.conversationId ?? "", f.readReceipt.userId ?? "", num(f.readReceipt.readSeq));
    else if (f.typing) this.typed(f.typing.conversationId ?? "", f.typing.userId ?? "", !!f.typing.typing);
    else {
      if (f.changed?.domain === "conversations") this.scheduleListRefresh();
      this.onOther?.(f);
    }
  }

  // --- the conversation list ---------------------------------------------

  conversation(id: string): ConversationView | undefined {
    return this.convs.get(id);
  }

  /** Fetches the list (incrementally once a cursor is known). */
  async refreshList(): Promise<void> {
    let answer: Frame;
    try {
      answer = await this.port.request({ listConversations: this.cursor ? { since: this.cursor } : {} });
    } catch (e) {
      // A cursor this server does not know (restored data, another node
      // version): start again with a full list.
      if (!(e instanceof RequestError) || e.code !== "invalid_argument" || !this.cursor) throw e;
      this.cursor = "";
      answer = await this.port.request({ listConversations: {} });
    }
    const list = answer.conversations ?? {};
    batch(() => {
      if (!list.incremental) {
        const fresh = new Map<string, ConversationView>();
        for (const c of list.conversations ?? []) {
          const v = fromServer(c, this.me);
          fresh.set(v.id, this.keepLocal(v));
        }
        // Chats started here that have no message on the server yet stay.
        for (const [id, c] of this.convs) if (!fresh.has(id) && c.maxSeq === 0) fresh.set(id, c);
        this.convs = fresh;
      } else {
        for (const c of list.conversations ?? []) {
          const v = fromServer(c, this.me);
          this.convs.set(v.id, this.keepLocal(v));
        }
        const keep = new Set(list.conversationIds ?? []);
        for (const id of [...this.convs.keys()]) {
          if (!keep.has(id) && this.convs.get(id)!.maxSeq > 0) this.convs.delete(id);
        }
      }
      if (list.cursor) this.cursor = list.cursor;
      this.publish();
    });
  }

  /**
   * Keeps what this tab knows better than a list entry: newer pushes, and
   * read positions that moved after the server read the list (they only
   * ever advance) — a list answered after a `markRead` it was read before
   * must not bring the unread badge back.
   */
  private keepLocal(v: ConversationView): ConversationView {
    const old = this.convs.get(v.id);
    if (!old) return v;
    if (old.peerReadSeq > v.peerReadSeq) v = { ...v, peerReadSeq: old.peerReadSeq };
    if (old.maxSeq > v.maxSeq) {
      v = { ...v, maxSeq: old.maxSeq, lastTime: Math.max(old.lastTime, v.lastTime), last: old.last };
    } else {
      const t = this.open.get(v.id)?.timeline;
      const last = t?.lastVisible();
      if (last && num(last.seq) === v.lastSeq) v.last = last;
    }
    if (old.readSeq > v.readSeq) {
      v = { ...v, readSeq: old.readSeq, unread: this.unreadAfter(v.id, old.readSeq, v) };
      if (old.readSeq >= v.maxSeq) v.mentioned = false;
    }
    return v;
  }

  private scheduleListRefresh(): void {
    if (this.listRefresh) return;
    this.listRefresh = setTimeout(() => {
      this.listRefresh = null;
      if (this.online) void this.refreshList().catch(() => undefined);
    }, 300);
  }

  private publish(): void {
    this.conversations.value = sortConversations([...this.convs.values()]);
  }

  private update(id: string, f: (c: ConversationView) => ConversationView): void {
    const c = this.convs.get(id);
    if (!c) return;
    this.convs.set(id, f({ ...c }));
    this.publish();
  }

  /** A conversation the list does not have yet (a first message to someone). */
  ensureConversation(id: string, name = ""): ConversationView {
    let c = this.convs.get(id);
    if (!c) {
      c = fromServer({ conversationId: id, name }, this.me);
      c.lastTime = this.now();
      this.convs.set(id, c);
      this.publish();
    }
    return c;
  }

  // --- timelines -----------------------------------------------------------

  /** The open timeline of a conversation, loading its newest page first. */
  timeline(id: string): OpenTimeline {
    let t = this.open.get(id);
    if (!t) {
      t = { timeline: new Timeline(id, this.me), version: signal(0), loading: signal(false) };
      this.open.set(id, t);
      if (this.online) void this.catchUp(id).catch(() => undefined);
    }
    return t;
  }

  /** Pulls everything after what the timeline holds (or its newest page). */
  catchUp(id: string): Promise<void> {
    const running = this.catchUps.get(id);
    if (running) return running;
    const p = this.doCatchUp(id).finally(() => this.catchUps.delete(id));
    this.catchUps.set(id, p);
    return p;
  }

  private async doCatchUp(id: string): Promise<void> {
    const t = this.open.get(id);
    if (!t) return;
    const tl = t.timeline;
    const c = this.convs.get(id);
    if (tl.items.length === 0 && tl.held === 0) {
      // Fresh: the newest page only; older ones load on scroll.
      const max = c?.maxSeq ?? 0;
      const after = Math.max(0, max - PAGE);
      t.loading.value = true;
      try {
        await this.pullInto(t, after);
      } finally {
        t.loading.value = false;
      }
      return;
    }
    await this.pullInto(t, tl.held);
  }

  /** Pulls after `after` until the server has nothing more. */
  private async pullInto(t: OpenTimeline, after: number): Promise<void> {
    const tl = t.timeline;
    for (let guard = 0; guard < 10_000; guard++) {
      const answer = await this.port.request({
        pull: { conversationId: tl.conversationId, afterSeq: String(after), limit: 200 },
      });
      const batch = answer.messages ?? {};
      const messages = batch.messages ?? [];
      const before = tl.held;
      const edits = tl.pulled(after, messages, !!batch.hasMore);
      this.changed(t);
      this.afterDelivery(tl.conversationId, messages.filter((m) => num(m.seq) > before));
      void this.fetchEdits(t, edits.map((e) => e.seq));
      if (!batch.hasMore || tl.held <= after) break;
      after = tl.held;
    }
  }

  /** Loads the page before what the timeline holds. */
  async loadOlder(id: string): Promise<void> {
    const t = this.open.get(id);
    if (!t || t.timeline.atStart || t.loading.value) return;
    const tl = t.timeline;
    const low = tl.low;
    if (low <= 1) {
      tl.atStart = true;
      this.changed(t);
      return;
    }
    const from = Math.max(0, low - 1 - PAGE);
    t.loading.value = true;
    try {
      const got: Message[] = [];
      let after = from;
      for (let guard = 0; guard < 100; guard++) {
        const answer = await this.port.request({
          pull: { conversationId: id, afterSeq: String(after), limit: low - 1 - after },
        });
        const page = (answer.messages?.messages ?? []).filter((m) => num(m.seq) < low);
        got.push(...page);
        const last = page.length ? num(page[page.length - 1]!.seq) : after;
        if (!answer.messages?.hasMore || last >= low - 1 || page.length === 0) break;
        after = last;
      }
      tl.older(from, got);
      this.changed(t);
    } finally {
      t.loading.value = false;
    }
  }

  private async fetchEdits(t: OpenTimeline, seqs: number[]): Promise<void> {
    for (const seq of seqs) {
      try {
        const a = await this.port.request({
          pull: { conversationId: t.timeline.conversationId, afterSeq: String(seq - 1), limit: 1 },
        });
        const m = a.messages?.messages?.[0];
        if (m && num(m.seq) === seq) {
          t.timeline.replace(m);
          this.changed(t);
        }
      } catch {
        // The next catch-up shows it as it is.
      }
    }
  }

  private changed(t: OpenTimeline): void {
    t.version.value++;
  }

  // --- pushes --------------------------------------------------------------

  private async pushedMessage(m: Message): Promise<void> {
    const id = m.conversationId ?? "";
    const seq = num(m.seq);
    if (!this.convs.has(id)) {
      this.ensureConversation(id);
      this.scheduleListRefresh();
    }
    const t = this.open.get(id);
    if (t) {
      let r = t.timeline.push(m);
      // A catch-up already running may have pulled before m was committed:
      // offer m again once it is done.
      for (let tries = 0; r === "gap" && tries < 3; tries++) {
        await this.catchUp(id).catch(() => undefined);
        r = t.timeline.held >= seq ? "duplicate" : t.timeline.push(m);
      }
      if (r === "gap") {
        // not delivered: counted below, pulled on the next catch-up
      } else if (r === "delivered") {
        this.changed(t);
        const edits = m.content?.event?.event === "edited" ? [num(m.content.event.targetSeq)] : [];
        if (edits.length && t.timeline.get(edits[0]!)) void this.fetchEdits(t, edits);
        this.afterDelivery(id, [m]);
        return;
      } else {
        const key = `${id}:${seq}`;
        if (this.provisional.delete(key)) {
          t.timeline.replace(m);
          this.changed(t);
        }
        return;
      }
    }
    this.afterDelivery(id, [m]);
  }

  /** List effects of new messages: counts, preview, own sends settled. */
  private afterDelivery(id: string, messages: Message[]): void {
    if (!messages.length) return;
    const c = this.convs.get(id);
    if (!c) return;
    let touched = false;
    const next = { ...c };
    for (const m of messages) {
      const seq = num(m.seq);
      if (m.senderId === this.me && m.clientMsgId && this.outbox.remove(m.clientMsgId)) this.outboxVersion.value++;
      if (seq <= c.maxSeq && c.maxSeq > 0 && seq <= next.maxSeq) {
        // Already counted by the list; events may still change the preview.
        if (m.content?.event?.event === "revoked" && num(m.content.event.targetSeq) === next.lastSeq) {
          this.scheduleListRefresh();
        }
        continue;
      }
      next.maxSeq = Math.max(next.maxSeq, seq);
      touched = true;
      const ev = m.content?.event;
      if (ev) {
        if (ev.event === "revoked") {
          if (num(ev.targetSeq) === next.lastSeq) {
            next.lastKind = "revoked";
            next.preview = "[Recalled]";
            next.last = undefined;
          }
          this.scheduleListRefresh(); // unread and mentions may change
        }
        continue;
      }
      next.lastTime = Math.max(next.lastTime, num(m.serverTime));
      if (!m.hidden) {
        next.lastSeq = seq;
        next.lastSenderId = m.senderId ?? "";
        next.lastKind = contentKind(m.content);
        next.last = m;
        next.archived = false;
      }
      if (countsUnread(m, this.me) && seq > next.readSeq) {
        next.unread++;
        if (mentions(m, this.me)) next.mentioned = true;
        this.onIncoming?.(m, next);
      }
      if (m.senderId !== this.me) this.clearTyping(id, m.senderId ?? "");
    }
    if (!touched) return;
    this.convs.set(id, next);
    this.publish();
    if (this.visible === id) void this.markRead(id);
  }

  private receipt(id: string, userId: string, readSeq: number): void {
    this.update(id, (c) => {
      if (userId === this.me) {
        if (readSeq > c.readSeq) {
          c.readSeq = readSeq;
          c.unread = this.unreadAfter(id, readSeq, c);
          if (readSeq >= c.maxSeq) c.mentioned = false;
        }
      } else if (readSeq > c.peerReadSeq) {
        c.peerReadSeq = readSeq;
      }
      return c;
    });
  }

  /** Unread after a read position, counted from the timeline when held. */
  private unreadAfter(id: string, readSeq: number, c: ConversationView): number {
    if (readSeq >= c.maxSeq) return 0;
    const tl = this.open.get(id)?.timeline;
    if (tl && tl.low <= readSeq + 1) {
      return tl.items.filter((m) => num(m.seq) > readSeq && countsUnread(m, this.me)).length;
    }
    return Math.min(c.unread, c.maxSeq - readSeq);
  }

  private typed(id: string, userId: string, on: boolean): void {
    const all = new Map(this.typing.value);
    const inConv = new Map(all.get(id) ?? []);
    if (on) inConv.set(userId, this.now() + TYPING_TTL_MS);
    else inConv.delete(userId);
    all.set(id, inConv);
    this.typing.value = all;
  }

  private clearTyping(id: string, userId: string): void {
    if (this.typing.value.get(id)?.has(userId)) this.typed(id, userId, false);
  }

  /** Who types in a conversation now. */
  typingIn(id: string): string[] {
    const m = this.typing.value.get(id);
    if (!m) return [];
    const now = this.now();
    return [...m.entries()].filter(([, until]) => until > now).map(([u]) => u);
  }

  // --- reading -------------------------------------------------------------

  private marking = new Map<string, number>();

  /** Marks everything of a conversation read (once per position). */
  async markRead(id: string): Promise<void> {
    const c = this.convs.get(id);
    if (!c || !this.online) return;
    const upTo = c.maxSeq;
    if (upTo <= c.readSeq && c.unread === 0 && !c.mentioned) return;
    if ((this.marking.get(id) ?? 0) >= upTo) return;
    this.marking.set(id, upTo);
    try {
      const a = await this.port.request({ markRead: { conversationId: id, seq: String(upTo) } });
      this.receipt(id, this.me, num(a.markReadOk?.readSeq));
    } catch {
      this.marking.delete(id);
    }
  }

  // --- sending -------------------------------------------------------------

  /** Queues a message; it goes out now if online, else on reconnect. */
  send(conversationId: string, content: MessageContent): string {
    const clientMsgId = newClientMsgId();
    this.ensureConversation(conversationId);
    this.outbox.add({ clientMsgId, conversationId, content, createdAt: this.now(), state: "pending" });
    this.outboxVersion.value++;
    void this.flush();
    return clientMsgId;
  }

  /** Sends a failed message again, with the same client_msg_id. */
  retry(clientMsgId: string): void {
    this.outbox.set(clientMsgId, "pending");
    this.outboxVersion.value++;
    void this.flush();
  }

  discard(clientMsgId: string): void {
    this.outbox.remove(clientMsgId);
    this.outboxVersion.value++;
  }

  /** Sends what the outbox holds, one at a time per conversation. */
  async flush(): Promise<void> {
    if (this.flushing || !this.online) return;
    this.flushing = true;
    try {
      for (;;) {
        const ready = this.outbox.ready();
        if (!ready.length || !this.online) break;
        const results = await Promise.all(ready.map((e) => this.sendOne(e)));
        if (results.includes("stop")) break;
      }
    } finally {
      this.flushing = false;
    }
  }

  private async sendOne(e: OutboxEntry): Promise<"ok" | "stop"> {
    this.outbox.set(e.clientMsgId, "sending");
    this.outboxVersion.value++;
    const body: Frame["send"] = { clientMsgId: e.clientMsgId, content: e.content };
    const peer = peerOf(e.conversationId, this.me);
    if (peer) body.userId = peer;
    else body.conversationId = e.conversationId;
    try {
      const a = await this.port.request({ send: body });
      const ack = a.sendAck ?? {};
      this.acked(e, ack.conversationId ?? e.conversationId, num(ack.seq), ack.serverMsgId ?? "", num(ack.serverTime));
      return "ok";
    } catch (err) {
      const code = err instanceof RequestError ? err.code : "internal";
      if (err instanceof RequestError && err.retryable) {
        this.outbox.set(e.clientMsgId, "pending");
        this.outboxVersion.value++;
        if (code === "rate_limited" || code === "unavailable" || code === "internal") {
          const wait = Math.max(1000, err.retryAfterMs);
          setTimeout(() => void this.flush(), wait);
        }
        return "stop";
      }
      this.outbox.set(e.clientMsgId, "failed", code);
      this.outboxVersion.value++;
      return "ok";
    }
  }

  /** An ack: the message is stored. Show it at once when in order. */
  private acked(e: OutboxEntry, conversationId: string, seq: number, serverMsgId: string, serverTime: number): void {
    const m: Message = {
      conversationId,
      seq: String(seq),
      serverMsgId,
      senderId: this.me,
      clientMsgId: e.clientMsgId,
      serverTime: String(serverTime),
      content: e.content,
    };
    const t = this.open.get(conversationId);
    if (t && t.timeline.held === seq - 1 && !e.content.quote) {
      // The push carries the same message; the timeline drops it then.
      if (t.timeline.push(m) === "delivered") {
        this.provisional.add(`${conversationId}:${seq}`);
        this.changed(t);
      }
    }
    if (this.outbox.remove(e.clientMsgId)) this.outboxVersion.value++;
    const c = this.convs.get(conversationId);
    if (c && seq > c.maxSeq + 1) {
      // Messages before ours are still on their way: counting ours now
      // would mark them counted. Its push (or a pull, or the list) does it.
      this.scheduleListRefresh();
    } else {
      this.afterDelivery(conversationId, [m]);
    }
    if (t && t.timeline.held < seq) void this.catchUp(conversationId).catch(() => undefined);
  }

  // --- operations ----------------------------------------------------------

  async op(conversationId: string, seq: number, op: Omit<MessageOp, "conversationId" | "seq">): Promise<void> {
    await this.port.request({ op: { conversationId, seq: String(seq), clientMsgId: newClientMsgId(), ...op } });
  }

  /** Saves (or clears) the unsent text of a conversation on all my devices. */
  async saveDraft(conversationId: string, draft: string): Promise<void> {
    this.update(conversationId, (c) => ({ ...c, draft }));
    try {
      await this.port.request({ updateConversation: { conversationId, draft } });
    } catch {
      // kept locally; the next save tries again
    }
  }

  /** Changes my settings of a conversation (pinned, muted, archived). */
  async settings(conversationId: string, change: { pinned?: boolean; muted?: boolean; archived?: boolean }): Promise<void> {
    await this.port.request({ updateConversation: { conversationId, ...change } });
    this.update(conversationId, (c) => ({ ...c, ...change }));
  }

  /** Tells the peer of a direct chat that I type (callers throttle). */
  async typingOn(conversationId: string): Promise<void> {
    if (!this.online) return;
    await this.port.request({ typing: { conversationId, typing: true } }).catch(() => undefined);
  }

  async typingOff(conversationId: string): Promise<void> {
    if (!this.online) return;
    await this.port.request({ typing: { conversationId, typing: false } }).catch(() => undefined);
  }

  /** Deletes messages for me only (all my devices; others keep them). */
  async hide(conversationId: string, seqs: number[]): Promise<void> {
    await this.port.request({ hide: { conversationId, seqs: seqs.map(String) } });
    this.applyHidden({ hidden: seqs.map((seq) => ({ conversationId, seq: String(seq) })) });
  }

  /** Clears my history of a conversation up to now. */
  async clearHistory(conversationId: string): Promise<void> {
    const upTo = this.convs.get(conversationId)?.maxSeq ?? 0;
    await this.port.request({ hide: { conversationId, clear: true, upToSeq: String(upTo) } });
    this.applyHidden({ cleared: [{ conversationId, upToSeq: String(upTo) }] });
  }

  /** Applies hidden-message changes (mine, from any device). */
  applyHidden(changes: {
    hidden?: { conversationId?: string; seq?: string }[];
    cleared?: { conversationId?: string; upToSeq?: string }[];
  }): void {
    const touched = new Set<string>();
    for (const h of changes.hidden ?? []) {
      const t = this.open.get(h.conversationId ?? "");
      if (t && t.timeline.hide([num(h.seq)])) touched.add(t.timeline.conversationId);
    }
    for (const c of changes.cleared ?? []) {
      const t = this.open.get(c.conversationId ?? "");
      if (t && t.timeline.clearUpTo(num(c.upToSeq))) touched.add(t.timeline.conversationId);
    }
    for (const id of touched) {
      const t = this.open.get(id)!;
      this.changed(t);
      const last = t.timeline.lastVisible();
      this.update(id, (c) => (c.lastSeq && !last ? { ...c, last: undefined, lastKind: "hidden", preview: "" } : { ...c, last: last ?? c.last }));
    }
    if ((changes.hidden?.length || changes.cleared?.length)) this.scheduleListRefresh();
  }

  /** Forwards messages to targets, as copies or merged into one record. */
  async forward(conversationId: string, seqs: number[], targets: string[], merged: boolean): Promise<{ target: string; error?: string }[]> {
    const a = await this.port.request({
      forward: {
        clientMsgId: newClientMsgId().slice(0, 40),
        conversationId,
        seqs: seqs.map(String),
        merged,
        targets: targets.map((id) => {
          const peer = peerOf(id, this.me);
          return peer ? { userId: peer } : { conversationId: id };
        }),
      },
    });
    return (a.forwardResult?.outcomes ?? []).map((o, i) => ({ target: targets[i] ?? o.conversationId ?? "", error: o.error?.code }));
  }

  /** The pinned messages of a conversation, newest pin first. */
  async pins(conversationId: string): Promise<Message[]> {
    const a = await this.port.request({ getPins: { conversationId } });
    return (a.pins?.pins ?? []).map((p) => p.message).filter((m): m is Message => !!m);
  }

  /** Who has read one of my messages (groups: counts and ids). */
  async readStatus(conversationId: string, seq: number): Promise<{ read: string[]; unread: string[] }> {
    const a = await this.port.request({ getReadStatus: { conversationId, seq: String(seq) } });
    return { read: a.readStatus?.readUserIds ?? [], unread: a.readStatus?.unreadUserIds ?? [] };
  }
}
