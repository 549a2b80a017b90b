// The user's contacts — friends (with remarks), friend requests (sent and
// received) and the blocklist — kept in signals and in step with the server
// (docs/HTTP_API.md, "Contacts"):
//
//   - a full fetch (`GET /contacts/changes?since=0`) when a session starts,
//     then only what changed after the version held (`since=<version>`);
//   - again on every `changed{domain:"contacts", version}` push newer than
//     what is held, after every reconnect (pushes may have been missed while
//     offline), and after every change made here (should the push be slow);
//   - fetches never overlap: a push arriving during one runs another after it.
//
// Loaded at start (Shell imports the Contacts pane, which imports this), so
// counts such as `incoming` are live even while the pane is not shown.

import { batch, computed, effect, signal } from "@preact/signals";

import { engine, http, presence, session, user } from "../state/app";
import type { SyncEngine } from "../sync/engine";

/** `Friend` of docs/HTTP_API.md. */
export interface Friend {
  user_id: number;
  remark: string;
  created_at: number;
  version: number;
  deleted: boolean;
}

/** `FriendRequest` of docs/HTTP_API.md. */
export interface FriendRequest {
  id: number;
  from_user_id: number;
  to_user_id: number;
  greeting: string;
  status: "pending" | "accepted" | "declined";
  created_at: number;
  updated_at: number;
}

/** `Block` of docs/HTTP_API.md. */
export interface Block {
  user_id: number;
  created_at: number;
  version: number;
  deleted: boolean;
}

interface Changes {
  version: number;
  friends?: Friend[];
  requests?: FriendRequest[];
  blocks?: Block[];
}

/** user id → friendship (live ones only). */
export const friends = signal<ReadonlyMap<string, Friend>>(new Map());
/** user id → block (live ones only). */
export const blocks = signal<ReadonlyMap<string, Block>>(new Map());
/** request id → request (every status). */
export const requests = signal<ReadonlyMap<number, FriendRequest>>(new Map());
/** Whether the first fetch of this session has answered. */
export const loaded = signal(false);
/** Why the last fetch failed (null once one succeeds). */
export const syncError = signal<unknown>(null);

function me(): string {
  return session.value?.userId ?? "";
}

function newestFirst(a: FriendRequest, b: FriendRequest): number {
  return b.updated_at - a.updated_at || b.id - a.id;
}

/** Pending requests to me, newest first. */
export const incoming = computed(() => {
  const id = me();
  return [...requests.value.values()].filter((r) => r.status === "pending" && String(r.to_user_id) === id).sort(newestFirst);
});

/** Pending requests from me, newest first. */
export const outgoing = computed(() => {
  const id = me();
  return [...requests.value.values()].filter((r) => r.status === "pending" && String(r.from_user_id) === id).sort(newestFirst);
});

export function isFriend(id: string): boolean {
  return friends.value.has(id);
}

export function isBlocked(id: string): boolean {
  return blocks.value.has(id);
}

/** My private alias for a friend ("" when none). */
export function remarkOf(id: string): string {
  return friends.value.get(id)?.remark ?? "";
}

/** The pending request from `id` to me, if any. */
export function requestFrom(id: string): FriendRequest | undefined {
  return incoming.value.find((r) => String(r.from_user_id) === id);
}

/** The pending request from me to `id`, if any. */
export function requestTo(id: string): FriendRequest | undefined {
  return outgoing.value.find((r) => String(r.to_user_id) === id);
}

// --- sync ---------------------------------------------------------------------

let version = 0;
/** Bumped when the session changes: answers for an older one are dropped. */
let generation = 0;
let running: Promise<void> | null = null;
let again = false;

function reset(): void {
  generation++;
  version = 0;
  batch(() => {
    friends.value = new Map();
    blocks.value = new Map();
    requests.value = new Map();
    loaded.value = false;
    syncError.value = null;
  });
}

/** Fetches what changed since the version held (coalesced). */
export function refresh(): Promise<void> {
  if (running) {
    again = true;
    return running;
  }
  running = (async () => {
    do {
      again = false;
      await fetchChanges();
    } while (again);
  })().finally(() => {
    running = null;
  });
  return running;
}

async function fetchChanges(): Promise<void> {
  // (The engine is published before the session signal: the token is what counts.)
  if (!http.token) return;
  const gen = generation;
  try {
    const a = await http.get<Changes>("/contacts/changes", { since: version });
    if (gen !== generation) return;
    apply(a);
    syncError.value = null;
  } catch (e) {
    if (gen === generation) syncError.value = e;
  }
}

function apply(a: Changes): void {
  batch(() => {
    if (a.friends?.length) {
      const m = new Map(friends.value);
      for (const f of a.friends) {
        if (f.deleted) m.delete(String(f.user_id));
        else m.set(String(f.user_id), f);
      }
      friends.value = m;
    }
    if (a.blocks?.length) {
      const m = new Map(blocks.value);
      for (const b of a.blocks) {
        if (b.deleted) m.delete(String(b.user_id));
        else m.set(String(b.user_id), b);
      }
      blocks.value = m;
    }
    if (a.requests?.length) {
      const m = new Map(requests.value);
      for (const r of a.requests) m.set(r.id, r);
      requests.value = m;
    }
    if (typeof a.version === "number" && a.version > version) version = a.version;
    loaded.value = true;
  });
  // Profiles of everyone listed (batched by `user`).
  for (const id of friends.value.keys()) user(id);
  for (const id of blocks.value.keys()) user(id);
  for (const r of [...incoming.value, ...outgoing.value]) user(String(r.from_user_id === Number(me()) ? r.to_user_id : r.from_user_id));
  void presenceOfNewFriends();
}

/**
 * The presence of friends nobody has told us about yet (a friend accepted
 * a moment ago): the connection's presence list was fetched before.
 */
async function presenceOfNewFriends(): Promise<void> {
  const unknown = [...friends.value.keys()].filter((id) => !presence.value.has(id)).slice(0, 500);
  if (!unknown.length) return;
  try {
    const a = await http.get<{ users?: { userId?: string; online?: boolean }[] }>("/presence", { ids: unknown.join(",") });
    const p = new Map(presence.value);
    for (const id of unknown) if (!p.has(id)) p.set(id, false);
    for (const u of a.users ?? []) if (u.userId) p.set(u.userId, !!u.online);
    presence.value = p;
  } catch {
    // Presence is a nicety: pushes fill it in as people come and go.
  }
}

// --- the session's engine: pushes and reconnects ------------------------------

let current: SyncEngine | null = null;
let seenOnline = false;
let dropped = false;

function hook(e: SyncEngine): void {
  const previous = e.onOther;
  e.onOther = (f) => {
    previous?.(f);
    if (f.changed?.domain === "contacts" && e === current) {
      const v = Number(f.changed.version ?? 0);
      if (!v || v > version) void refresh();
    }
  };
}

if (typeof window !== "undefined") {
  effect(() => {
    const e = engine.value;
    if (!e) {
      if (current) reset();
      current = null;
      return;
    }
    if (e !== current) {
      reset();
      current = e;
      seenOnline = false;
      dropped = false;
      hook(e);
      void refresh();
    }
    const status = e.status.value;
    if (status === "online") {
      // Back after a drop: what was pushed meanwhile was missed.
      if (dropped) void refresh();
      dropped = false;
      seenOnline = true;
    } else if ((status === "offline" || status === "connecting") && seenOnline) {
      dropped = true;
    }
  });
}
