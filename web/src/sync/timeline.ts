// One conversation's messages as this tab holds them: a gap-free window of
// the seq stream, [low, held], newest last (docs/PROTOCOL.md §5). Pure data
// and rules, no I/O: the engine decides when to pull; the timeline says
// what a pulled page or a push means.
//
//   - a push at held+1 is delivered; at or below held it is a duplicate
//     (your own send, a push racing a pull); above held+1 it is a gap, and
//     the engine pulls after `held` first;
//   - a pulled page is authoritative: any seq above `held` is accepted (a
//     group member sees nothing up to their join seq);
//   - events (recall, edit, reactions, pins) are kept in the stream and
//     applied to the messages they target.

import { contentKind, num, type Message, type MessageContent } from "../proto";

export type PushResult = "delivered" | "duplicate" | "gap";

export interface EditRequest {
  /** The seq of an edited message whose new content must be pulled. */
  seq: number;
}

export class Timeline {
  /** Every held message and event, ascending by seq, gap-free from `low`. */
  readonly items: Message[] = [];
  /** Highest seq held (0: nothing yet). */
  held = 0;
  /** Whether the window reaches the first seq this user may see. */
  atStart = false;
  /** Seqs pinned in this conversation, as far as events told. */
  readonly pinned = new Set<number>();

  constructor(
    readonly conversationId: string,
    readonly me: string,
  ) {}

  /** Lowest seq held (held+1 when empty). */
  get low(): number {
    return this.items.length ? num(this.items[0]!.seq) : this.held + 1;
  }

  /** The held message `seq`, if any. */
  get(seq: number): Message | undefined {
    const low = this.low;
    if (seq < low || seq > this.held) return undefined;
    // Gap-free, so the index is direct, unless a page started above low.
    const guess = this.items[seq - low];
    if (guess && num(guess.seq) === seq) return guess;
    return this.items.find((m) => num(m.seq) === seq);
  }

  /**
   * Takes a push. Returns what it was; on "gap" nothing changed and the
   * caller pulls after `held` before offering it again.
   */
  push(m: Message): PushResult {
    const seq = num(m.seq);
    if (seq <= this.held) return "duplicate";
    if (seq > this.held + 1 && this.held > 0) return "gap";
    if (this.held === 0 && this.items.length === 0 && seq > 1) {
      // Nothing loaded yet: the engine loads the newest page first.
      return "gap";
    }
    this.append(m);
    return "delivered";
  }

  /**
   * Takes a pulled page of messages after `afterSeq` (ascending). Returns
   * the edits whose new content must be fetched.
   */
  pulled(afterSeq: number, messages: Message[], hasMore: boolean): EditRequest[] {
    void hasMore;
    const edits: EditRequest[] = [];
    if (this.items.length === 0) {
      // The first page of a window decides where it starts: from seq 0, or
      // above afterSeq+1 (a group member sees nothing up to their join).
      const first = messages.find((m) => num(m.seq) > this.held);
      if (afterSeq === 0 || (first && num(first.seq) > afterSeq + 1)) this.atStart = true;
    }
    // Messages taken from this page are as they are now: an event of the
    // same page targeting one of them is already reflected in it.
    const taken = new Set<number>();
    for (const m of messages) {
      const seq = num(m.seq);
      if (seq <= this.held) continue;
      if (this.items.length === 0) {
        this.held = seq - 1;
      }
      const ev = m.content?.event;
      edits.push(...this.append(m, !!ev && taken.has(num(ev.targetSeq))));
      taken.add(seq);
    }
    if (this.items.length === 0 && afterSeq > this.held) this.held = afterSeq;
    return edits;
  }

  /**
   * Takes an older page (messages after `afterSeq`, ascending, all below
   * `low`). `afterSeq` 0, or a page starting above afterSeq+1, reaches the
   * start of what this user may see.
   */
  older(afterSeq: number, messages: Message[]): void {
    const low = this.low;
    const add = messages.filter((m) => num(m.seq) < low && num(m.seq) > afterSeq);
    if (add.length === 0) {
      // Nothing between afterSeq and low is visible to us.
      this.atStart = true;
      return;
    }
    // A page may end below `low` when older seqs are invisible: keep the
    // window gap-free by taking only a run that reaches `low`.
    if (num(add[add.length - 1]!.seq) !== low - 1) return;
    // Nothing between afterSeq and the page's first seq is visible to us.
    if (afterSeq === 0 || num(add[0]!.seq) > afterSeq + 1) this.atStart = true;
    // Pins decided by newer events already held are not undone by older ones.
    const decided = new Set<number>();
    for (const m of this.items) {
      const ev = m.content?.event;
      if (ev?.event === "pinned" || ev?.event === "unpinned" || ev?.event === "revoked") decided.add(num(ev.targetSeq));
    }
    // Events among them target messages at or below them: apply in order.
    this.items.unshift(...add);
    for (const m of add) {
      const ev = m.content?.event;
      if (!ev) continue;
      if ((ev.event === "pinned" || ev.event === "unpinned") && decided.has(num(ev.targetSeq))) continue;
      this.applyEvent(m, /* replay */ true);
    }
  }

  /** Replaces a message's content (after an edit) as pulled now. */
  replace(m: Message): void {
    const seq = num(m.seq);
    const i = this.indexOf(seq);
    if (i < 0) return;
    this.items[i] = m;
    this.refreshQuotes(seq, m);
  }

  /** Hides messages for me (deleted on one of my devices). */
  hide(seqs: number[]): boolean {
    let changed = false;
    for (const seq of seqs) {
      const i = this.indexOf(seq);
      if (i < 0 || this.items[i]!.hidden) continue;
      const m = this.items[i]!;
      this.items[i] = { conversationId: m.conversationId, seq: m.seq, senderId: m.senderId, serverTime: m.serverTime, hidden: true };
      this.pinned.delete(seq);
      changed = true;
    }
    return changed;
  }

  /** Hides everything up to `upTo` (clear history). */
  clearUpTo(upTo: number): boolean {
    const seqs = this.items.map((m) => num(m.seq)).filter((s) => s <= upTo);
    return this.hide(seqs);
  }

  /** The newest held message that is not an event (for previews). */
  lastVisible(): Message | undefined {
    for (let i = this.items.length - 1; i >= 0; i--) {
      const m = this.items[i]!;
      if (!m.hidden && !m.content?.event) return m;
    }
    return undefined;
  }

  private indexOf(seq: number): number {
    const low = this.low;
    const guess = seq - low;
    if (guess >= 0 && guess < this.items.length && num(this.items[guess]!.seq) === seq) return guess;
    return this.items.findIndex((m) => num(m.seq) === seq);
  }

  private append(m: Message, replay = false): EditRequest[] {
    this.items.push(m);
    this.held = num(m.seq);
    if (m.content?.event) return this.applyEvent(m, replay);
    return [];
  }

  /** Applies an event message to its target; returns edits to fetch. */
  private applyEvent(m: Message, replay: boolean): EditRequest[] {
    const ev = m.content!.event!;
    const target = num(ev.targetSeq);
    const i = this.indexOf(target);
    switch (ev.event) {
      case "pinned":
        this.pinned.add(target);
        return [];
      case "unpinned":
        this.pinned.delete(target);
        return [];
      case "revoked": {
        this.pinned.delete(target);
        if (i < 0) {
          // Not held, but what we hold may quote it.
          this.refreshQuotes(target, { seq: String(target), content: { revoked: { by: m.senderId, at: m.serverTime } } });
          return [];
        }
        const old = this.items[i]!;
        if (old.content?.revoked) return [];
        const content: MessageContent = { revoked: { by: m.senderId, at: m.serverTime } };
        if (old.content?.quote) content.quote = old.content.quote;
        this.items[i] = { ...old, content, reactions: undefined };
        this.refreshQuotes(target, this.items[i]!);
        return [];
      }
      case "edited":
        // Pages pulled after the edit have the new content already.
        return i >= 0 && !replay ? [{ seq: target }] : [];
      case "reaction_added":
      case "reaction_removed": {
        if (i < 0 || replay) return [];
        const old = this.items[i]!;
        const emoji = ev.emoji ?? "";
        const add = ev.event === "reaction_added";
        const mine = m.senderId === this.me;
        const list = (old.reactions ?? []).map((r) => ({ ...r }));
        let r = list.find((x) => x.emoji === emoji);
        if (!r && add) {
          r = { emoji, count: "0" };
          list.push(r);
        }
        if (r) {
          const count = Math.max(0, num(r.count) + (add ? 1 : -1));
          r.count = String(count);
          if (mine) r.me = add;
        }
        this.items[i] = { ...old, reactions: list.filter((x) => num(x.count) > 0) };
        return [];
      }
      default:
        return [];
    }
  }

  /** Messages quoting `seq` show it as it is now. */
  private refreshQuotes(seq: number, target: Message): void {
    for (let j = 0; j < this.items.length; j++) {
      const q = this.items[j]!.content?.quote;
      if (!q || num(q.seq) !== seq) continue;
      const revoked = !!target.content?.revoked;
      const quote = revoked
        ? { seq: q.seq, senderId: q.senderId, kind: q.kind, revoked: true }
        : { ...q, kind: contentKind(target.content), preview: q.preview };
      this.items[j] = { ...this.items[j]!, content: { ...this.items[j]!.content, quote } };
    }
  }
}
