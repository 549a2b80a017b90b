// Message builders shared by the sync tests. Shapes follow proto3 JSON
// (docs/PROTOCOL.md §8): 64-bit integers as decimal strings.

import type { Message, MessageContent, Quote } from "../src/proto";

export const ME = "1";
export const PEER = "2";
export const DM = "d_1_2";

let serverIds = 1000;

export function text(seq: number, senderId = PEER, body = `m${seq}`, conversationId = DM): Message {
  return {
    conversationId,
    seq: String(seq),
    serverMsgId: String(serverIds++),
    senderId,
    clientMsgId: `c-${senderId}-${seq}`,
    serverTime: String(1_700_000_000_000 + seq * 1000),
    content: { text: { text: body } },
  };
}

export function withContent(m: Message, content: MessageContent): Message {
  return { ...m, content };
}

export function quoting(seq: number, quote: Quote, senderId = PEER, body = `reply ${seq}`): Message {
  const m = text(seq, senderId, body);
  return { ...m, content: { text: { text: body }, quote } };
}

export type EventKind = "revoked" | "edited" | "reaction_added" | "reaction_removed" | "pinned" | "unpinned";

export function event(seq: number, kind: EventKind, targetSeq: number, senderId = PEER, emoji?: string, conversationId = DM): Message {
  const ev: NonNullable<MessageContent["event"]> = { event: kind, targetSeq: String(targetSeq) };
  if (emoji !== undefined) ev.emoji = emoji;
  return {
    conversationId,
    seq: String(seq),
    serverMsgId: String(serverIds++),
    senderId,
    clientMsgId: `op ${seq}`,
    serverTime: String(1_700_000_000_000 + seq * 1000),
    content: { event: ev },
  };
}

/** Messages `from..to` inclusive, alternating senders. */
export function range(from: number, to: number, conversationId = DM): Message[] {
  const out: Message[] = [];
  for (let s = from; s <= to; s++) out.push(text(s, s % 2 ? PEER : ME, `m${s}`, conversationId));
  return out;
}

export function seqs(list: readonly Message[]): number[] {
  return list.map((m) => Number(m.seq));
}

/** Whether `list` is ascending by one from its first seq. */
export function gapFree(list: readonly Message[]): boolean {
  return list.every((m, i) => i === 0 || Number(m.seq) === Number(list[i - 1]!.seq) + 1);
}
