// A small in-memory Ferry server for the sync engine's tests: it answers
// the requests of docs/PROTOCOL.md §3 the engine makes (list_conversations
// full and incremental, pull, send with dedup by client_msg_id, mark_read)
// and pushes committed messages to the engine, asynchronously.
//
// Knobs:
//   - `pushOrder`: for my own sends, whether the push comes before or after
//     the ack ("push-first" / "ack-first"), or is queued until
//     `deliverPushes()` ("manual"), or either at random per send ("mixed",
//     seeded);
//   - `online = false`: pushes are lost (the engine is not connected);
//   - `losePushOf(n)`: the push of the next n committed messages is lost;
//   - `fault(kind, code)`: the next request of that kind is answered with
//     RequestError(code) without being processed; `lose("send")`: the next
//     send is stored but its answer (and push) never arrives (rejects
//     "disconnected", as Connection does when the socket closes);
//   - `refuse(conversationId, code)`: sends to it are refused until cleared;
//   - `hold(kind)`: answers of that kind are computed at once but delivered
//     only on `release(kind)` (a pull that read before a later commit);
//   - `pageCap`: pages stop after that many messages with hasMore (as the
//     server's byte bound cuts them).

import { RequestError } from "../src/api/connection";
import { contentKind, num, type Conversation, type Frame, type Message, type MessageContent } from "../src/proto";
import type { Port, SyncEngine } from "../src/sync/engine";

export type PushOrder = "ack-first" | "push-first" | "mixed" | "manual";

interface Stored {
  message: Message;
  reactions: Map<string, Set<string>>;
}

interface Conv {
  id: string;
  kind: "direct" | "group";
  members: string[];
  messages: Stored[]; // index seq-1
  readSeq: Map<string, number>;
  joinSeq: Map<string, number>;
  version: number;
}

type Body = Omit<Frame, "id">;

// Node's setImmediate (no @types/node here), captured before any test fakes
// timers: pushes and answers "later" run after every pending microtask.
const setImmediate = (globalThis as unknown as { setImmediate: (f: () => void) => unknown }).setImmediate;

export function nextTick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** Lets every queued push, answer and continuation run. */
export async function settle(rounds = 30): Promise<void> {
  for (let i = 0; i < rounds; i++) await nextTick();
}

function kindOf(body: Body): string {
  return Object.keys(body)[0] ?? "";
}

function int(n: number): string | undefined {
  return n ? String(n) : undefined;
}

export class FakeServer implements Port {
  engine: SyncEngine | null = null;
  pushOrder: PushOrder = "ack-first";
  online = true;
  pageCap = Infinity;
  /** Every request received, in order. */
  readonly log: Body[] = [];
  /** client_msg_ids of my stored sends, in commit order. */
  readonly stored: string[] = [];
  private convs = new Map<string, Conv>();
  private version = 0;
  private cursors = new Set<string>();
  private dedup = new Map<string, { conversationId: string; seq: number }>();
  private faults: { kind: string; code: string; lose: boolean }[] = [];
  private refusals = new Map<string, string>();
  private gates = new Map<string, (() => void)[] | null>();
  private manual: Frame[] = [];
  private pushesToLose = 0;
  private time = 1_800_000_000_000;
  private ids = 5_000_000;
  private rngState = 12345;
  /** Whether the send being answered pushes before its ack. */
  private pushFirst = false;

  constructor(readonly me: string) {}

  // --- setting up -----------------------------------------------------------

  direct(peer: string): string {
    const [a, b] = BigInt(this.me) <= BigInt(peer) ? [this.me, peer] : [peer, this.me];
    const id = `d_${a}_${b}`;
    if (!this.convs.has(id)) this.create(id, "direct", [this.me, peer]);
    return id;
  }

  group(gid: number, members: string[], joinSeqOfMe = 0): string {
    const id = `g_${gid}`;
    const c = this.create(id, "group", members);
    if (joinSeqOfMe) {
      c.joinSeq.set(this.me, joinSeqOfMe);
      c.readSeq.set(this.me, joinSeqOfMe);
    }
    return id;
  }

  private create(id: string, kind: "direct" | "group", members: string[]): Conv {
    const c: Conv = { id, kind, members, messages: [], readSeq: new Map(), joinSeq: new Map(), version: ++this.version };
    this.convs.set(id, c);
    return c;
  }

  /** Adds n messages from `from` without pushing them (history). */
  seed(id: string, n: number, from?: string): void {
    const c = this.get(id);
    for (let i = 0; i < n; i++) {
      const sender = from ?? c.members.find((u) => u !== this.me) ?? this.me;
      this.commit(c, sender, `sd-${id}-${c.messages.length + 1}`, { text: { text: `msg ${c.messages.length + 1}` } });
    }
  }

  /** Removes me from a conversation (it leaves my list; pulls are not_found). */
  removeMe(id: string): void {
    this.convs.delete(id);
    this.version++;
  }

  setRead(id: string, user: string, seq: number): void {
    const c = this.get(id);
    c.readSeq.set(user, seq);
    c.version = ++this.version;
  }

  maxSeq(id: string): number {
    return this.get(id).messages.length;
  }

  messageAt(id: string, seq: number): Message {
    return this.render(this.get(id).messages[seq - 1]!);
  }

  // --- knobs ----------------------------------------------------------------

  fault(kind: string, code: string): void {
    this.faults.push({ kind, code, lose: false });
  }

  lose(kind: string): void {
    this.faults.push({ kind, code: "disconnected", lose: true });
  }

  refuse(id: string, code: string | null): void {
    if (code) this.refusals.set(id, code);
    else this.refusals.delete(id);
  }

  losePushOf(n: number): void {
    this.pushesToLose += n;
  }

  hold(kind: string): void {
    this.gates.set(kind, []);
  }

  release(kind: string): void {
    const waiting = this.gates.get(kind) ?? [];
    this.gates.delete(kind);
    for (const w of waiting) w();
  }

  /** Delivers pushes queued in "manual" order. */
  deliverPushes(): void {
    const all = this.manual.splice(0);
    for (const f of all) this.engine?.push(f);
  }

  requests(kind: string): Body[] {
    return this.log.filter((b) => kindOf(b) === kind);
  }

  // --- acts of other users --------------------------------------------------

  /** A message from `from`, committed and pushed. */
  deliver(id: string, from: string, content: MessageContent = { text: { text: "hi" } }): Message {
    const c = this.get(id);
    const m = this.commit(c, from, `o-${from}-${this.ids}`, content);
    this.push(m, "later");
    return m;
  }

  revoke(id: string, seq: number, by: string): Message {
    const c = this.get(id);
    const t = c.messages[seq - 1]!;
    t.message = { ...t.message, content: { revoked: { by, at: String(this.time + 1) } } };
    t.reactions.clear();
    return this.event(c, by, { event: "revoked", targetSeq: String(seq) });
  }

  react(id: string, seq: number, by: string, emoji: string, remove = false): Message {
    const c = this.get(id);
    const t = c.messages[seq - 1]!;
    const users = t.reactions.get(emoji) ?? new Set<string>();
    if (remove) users.delete(by);
    else users.add(by);
    if (users.size) t.reactions.set(emoji, users);
    else t.reactions.delete(emoji);
    return this.event(c, by, { event: remove ? "reaction_removed" : "reaction_added", targetSeq: String(seq), emoji });
  }

  private event(c: Conv, by: string, ev: NonNullable<MessageContent["event"]>): Message {
    const m = this.commit(c, by, `op ${this.ids}`, { event: ev });
    this.push(m, "later");
    return m;
  }

  // --- the Port -------------------------------------------------------------

  request(body: Body): Promise<Frame> {
    this.log.push(structuredClone(body));
    const kind = kindOf(body);
    this.pushFirst = this.pushOrder === "push-first" || (this.pushOrder === "mixed" && this.random() < 0.5);
    const fault = this.faults.findIndex((f) => f.kind === kind);
    let answer: Promise<Frame>;
    if (fault >= 0) {
      const f = this.faults.splice(fault, 1)[0]!;
      if (f.lose) {
        const before = this.pushesToLose;
        this.pushesToLose = 1;
        try {
          this.answer(body);
        } catch {
          // refused: nothing stored
        }
        this.pushesToLose = before;
      }
      answer = Promise.reject(new RequestError(f.code, `fault ${f.code}`));
    } else {
      try {
        const frame = this.answer(body);
        answer = kind === "send" && this.pushFirst ? new Promise((r) => setImmediate(() => r(frame))) : Promise.resolve(frame);
      } catch (e) {
        answer = Promise.reject(e);
      }
    }
    const gate = this.gates.get(kind);
    if (gate) {
      return new Promise<Frame>((resolve, reject) => gate.push(() => answer.then(resolve, reject)));
    }
    return answer;
  }

  private answer(body: Body): Frame {
    if (body.listConversations) return this.list(body.listConversations.since);
    if (body.pull) return this.pull(body.pull.conversationId, num(body.pull.afterSeq), body.pull.limit ?? 0);
    if (body.send) return this.send(body.send);
    if (body.markRead) return this.markRead(body.markRead.conversationId, num(body.markRead.seq));
    throw new RequestError("unknown_kind", "not handled by the fake");
  }

  private list(since: string | undefined): Frame {
    if (since !== undefined && !this.cursors.has(since)) throw new RequestError("invalid_argument", "unknown cursor");
    const after = since ? Number(since.slice(1)) : -1;
    const mine = [...this.convs.values()].filter((c) => c.members.includes(this.me));
    const changed = mine.filter((c) => c.version > after);
    const cursor = `v${this.version}`;
    this.cursors.add(cursor);
    const conversations = changed.map((c) => this.entry(c)).sort((a, b) => num(b.lastTime) - num(a.lastTime));
    return {
      conversations: since
        ? { conversations, cursor, incremental: true, conversationIds: mine.map((c) => c.id) }
        : { conversations, cursor },
    };
  }

  private entry(c: Conv): Conversation {
    const read = c.readSeq.get(this.me) ?? 0;
    const visible = c.messages.map((s) => s.message).filter((m) => num(m.seq) > (c.joinSeq.get(this.me) ?? 0));
    const last = [...visible].reverse().find((m) => !m.content?.event);
    const after = visible.filter((m) => num(m.seq) > read && !m.content?.event && !m.content?.revoked);
    const unread = after.filter((m) => m.senderId !== this.me).length;
    const mentioned = after.some((m) => m.senderId !== this.me && (m.content?.text?.mentionUserIds ?? []).includes(this.me));
    const peer = c.kind === "direct" ? (c.members.find((u) => u !== this.me) ?? this.me) : "";
    return {
      conversationId: c.id,
      kind: c.kind,
      peerUserId: peer || undefined,
      maxSeq: int(c.messages.length),
      readSeq: int(read),
      unread: int(unread),
      lastTime: last?.serverTime,
      mentioned: mentioned || undefined,
      peerReadSeq: peer ? int(c.readSeq.get(peer) ?? 0) : undefined,
      lastSeq: last?.seq,
      lastSenderId: last?.senderId,
      lastKind: last ? contentKind(last.content) : undefined,
      preview: last ? (last.content?.revoked ? "[Recalled]" : (last.content?.text?.text ?? "")) : undefined,
    };
  }

  private pull(id: string, afterSeq: number, limit: number): Frame {
    const c = this.convs.get(id);
    if (!c) throw new RequestError("not_found", `no conversation ${id}`);
    const after = Math.max(afterSeq, c.joinSeq.get(this.me) ?? 0);
    const n = Math.min(limit === 0 ? 100 : Math.min(limit, 1000), this.pageCap);
    const rest = c.messages.slice(after);
    const page = rest.slice(0, n).map((s) => this.render(s));
    return { messages: { conversationId: id, messages: page, hasMore: rest.length > page.length || undefined } };
  }

  private send(s: NonNullable<Frame["send"]>): Frame {
    const prior = this.dedup.get(s.clientMsgId);
    if (prior) {
      const m = this.get(prior.conversationId).messages[prior.seq - 1]!.message;
      return { sendAck: { ...this.ackOf(m), duplicate: true } };
    }
    const id = s.userId !== undefined ? this.direct(s.userId) : (s.conversationId ?? "");
    const c = this.convs.get(id);
    if (!c || !c.members.includes(this.me)) throw new RequestError("not_found", `no conversation ${id}`);
    const refusal = this.refusals.get(id);
    if (refusal) throw new RequestError(refusal, `refused: ${refusal}`);
    const m = this.commit(c, this.me, s.clientMsgId, s.content);
    this.dedup.set(s.clientMsgId, { conversationId: id, seq: num(m.seq) });
    this.stored.push(s.clientMsgId);
    this.push(m, this.pushFirst ? "first" : "later");
    return { sendAck: this.ackOf(m) };
  }

  private markRead(id: string, seq: number): Frame {
    const c = this.get(id);
    const now = Math.max(c.readSeq.get(this.me) ?? 0, Math.min(seq, c.messages.length));
    c.readSeq.set(this.me, now);
    c.version = ++this.version;
    return { markReadOk: { conversationId: id, readSeq: int(now) } };
  }

  // --- internals ------------------------------------------------------------

  private get(id: string): Conv {
    const c = this.convs.get(id);
    if (!c) throw new Error(`fake: no conversation ${id}`);
    return c;
  }

  private commit(c: Conv, sender: string, clientMsgId: string, content: MessageContent): Message {
    const m: Message = {
      conversationId: c.id,
      seq: String(c.messages.length + 1),
      serverMsgId: String(this.ids++),
      senderId: sender,
      clientMsgId,
      serverTime: String((this.time += 1000)),
      content: structuredClone(content),
    };
    c.messages.push({ message: m, reactions: new Map() });
    c.version = ++this.version;
    return m;
  }

  private render(s: Stored): Message {
    const m = structuredClone(s.message);
    if (s.reactions.size) {
      m.reactions = [...s.reactions].map(([emoji, users]) => {
        const r: NonNullable<Message["reactions"]>[number] = { emoji, count: String(users.size) };
        if (users.has(this.me)) r.me = true;
        return r;
      });
    }
    return m;
  }

  private random(): number {
    this.rngState = (this.rngState * 1103515245 + 12345) % 2147483648;
    return this.rngState / 2147483648;
  }

  private ackOf(m: Message) {
    return { clientMsgId: m.clientMsgId, conversationId: m.conversationId, seq: m.seq, serverMsgId: m.serverMsgId, serverTime: m.serverTime };
  }

  /** Pushes a committed message: "first" before the current answer, "later" after it. */
  private push(m: Message, when: "first" | "later"): void {
    if (this.pushesToLose > 0) {
      this.pushesToLose--;
      return;
    }
    if (!this.online) return;
    const frame: Frame = { message: structuredClone(m) };
    if (this.pushOrder === "manual") {
      this.manual.push(frame);
      return;
    }
    if (when === "first") queueMicrotask(() => this.engine?.push(frame));
    else setImmediate(() => this.engine?.push(frame));
  }
}
