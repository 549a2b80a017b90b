// Messages the user sent that the server has not acknowledged yet. Kept in
// storage so a reload or an offline spell loses none of them; each keeps
// its client_msg_id for every retry, so the server stores it once
// (docs/PROTOCOL.md §4.3) however often it goes out.

import type { MessageContent } from "../proto";

export type OutboxState = "pending" | "sending" | "failed";

export interface OutboxEntry {
  clientMsgId: string;
  conversationId: string;
  content: MessageContent;
  createdAt: number;
  state: OutboxState;
  /** The error code of the last refusal (state "failed"). */
  error?: string;
}

/** Key-value storage (localStorage in the browser, a Map in tests). */
export interface KV {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export class MemoryKV implements KV {
  private m = new Map<string, string>();
  getItem(k: string): string | null {
    return this.m.get(k) ?? null;
  }
  setItem(k: string, v: string): void {
    this.m.set(k, v);
  }
  removeItem(k: string): void {
    this.m.delete(k);
  }
}

export class Outbox {
  private entries: OutboxEntry[];

  constructor(
    private kv: KV,
    private key: string,
  ) {
    let loaded: OutboxEntry[] = [];
    try {
      const raw = kv.getItem(key);
      if (raw) loaded = JSON.parse(raw) as OutboxEntry[];
    } catch {
      loaded = [];
    }
    // A send in flight when the page closed may or may not have arrived:
    // sending it again with the same id is safe.
    this.entries = loaded.map((e) => (e.state === "sending" ? { ...e, state: "pending" } : e));
  }

  all(): readonly OutboxEntry[] {
    return this.entries;
  }

  of(conversationId: string): OutboxEntry[] {
    return this.entries.filter((e) => e.conversationId === conversationId);
  }

  get(clientMsgId: string): OutboxEntry | undefined {
    return this.entries.find((e) => e.clientMsgId === clientMsgId);
  }

  add(entry: OutboxEntry): void {
    this.entries.push(entry);
    this.save();
  }

  /** Changes an entry's state. The entry is replaced, not changed in place,
   *  so renderers comparing entries by identity see the change. */
  set(clientMsgId: string, state: OutboxState, error?: string): void {
    const i = this.entries.findIndex((e) => e.clientMsgId === clientMsgId);
    if (i < 0) return;
    const next: OutboxEntry = { ...this.entries[i]!, state };
    if (error === undefined) delete next.error;
    else next.error = error;
    this.entries[i] = next;
    this.save();
  }

  remove(clientMsgId: string): boolean {
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => e.clientMsgId !== clientMsgId);
    if (this.entries.length !== before) this.save();
    return this.entries.length !== before;
  }

  /** The next entry to send for each conversation (oldest first), skipping failed ones. */
  ready(): OutboxEntry[] {
    const seen = new Set<string>();
    const out: OutboxEntry[] = [];
    for (const e of this.entries) {
      if (seen.has(e.conversationId)) continue;
      if (e.state === "failed") continue;
      seen.add(e.conversationId);
      if (e.state === "pending") out.push(e);
    }
    return out;
  }

  private save(): void {
    try {
      if (this.entries.length) this.kv.setItem(this.key, JSON.stringify(this.entries));
      else this.kv.removeItem(this.key);
    } catch {
      // Storage full or unavailable: the outbox still works for this page.
    }
  }
}

/** A new client_msg_id: unique per user, ≤ 64 bytes. */
export function newClientMsgId(): string {
  const c = globalThis.crypto;
  if (c && "randomUUID" in c) return "w-" + c.randomUUID();
  return "w-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
}
