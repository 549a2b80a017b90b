// The application state shared by every screen: the session (token and
// user, kept in localStorage so a reload stays logged in), the connection
// and sync engine of a logged-in session, and a cache of user profiles.

import { signal } from "@preact/signals";

import { Connection, socketUrl } from "../api/connection";
import { Http, type User } from "../api/http";
import type { CallAck, CallEvent, CallRequest } from "../proto";
import { SyncEngine } from "../sync/engine";

export interface Session {
  token: string;
  userId: string;
  username: string;
  deviceId: string;
}

const SESSION_KEY = "ferry.session";
const DEVICE_KEY = "ferry.device";

export const http = new Http();

function loadSession(): Session | null {
  try {
    const raw = localStorage.getItem(SESSION_KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export const session = signal<Session | null>(loadSession());
/** Why the last session ended (shown on the login screen). */
export const endedReason = signal<string>("");
export const engine = signal<SyncEngine | null>(null);
export const me = signal<User | null>(null);
/** user id → profile. */
export const users = signal<Map<string, User>>(new Map());
export const presence = signal<Map<string, boolean>>(new Map());

let connection: Connection | null = null;

function saveSession(s: Session | null): void {
  try {
    if (s) localStorage.setItem(SESSION_KEY, JSON.stringify(s));
    else localStorage.removeItem(SESSION_KEY);
  } catch {
    // no storage: the session lasts as long as the page
  }
}

export async function login(username: string, password: string): Promise<void> {
  let device = "";
  try {
    device = localStorage.getItem(DEVICE_KEY) ?? "";
  } catch {
    device = "";
  }
  const a = await http.login(username, password, device);
  try {
    localStorage.setItem(DEVICE_KEY, a.device_id);
  } catch {
    // fine
  }
  const s: Session = { token: a.token, userId: String(a.user.id), username: a.user.username, deviceId: a.device_id };
  saveSession(s);
  endedReason.value = "";
  remember([a.user]);
  me.value = a.user;
  start(s);
}

export async function logout(): Promise<void> {
  try {
    await http.logout();
  } catch {
    // the token is forgotten here either way
  }
  end("logout");
}

/** Forgets the session (logout, kick, expired token). */
export function end(reason: string): void {
  connection?.stop();
  connection = null;
  engine.value?.disconnected(true);
  engine.value = null;
  saveSession(null);
  http.token = "";
  session.value = null;
  me.value = null;
  endedReason.value = reason;
}

/** Starts the connection and sync of a session. */
export function start(s: Session): void {
  http.token = s.token;
  http.onUnauthenticated = () => end("unauthenticated");
  const e = new SyncEngine(connectionPort(), s.userId, localStorage);
  engine.value = e;
  session.value = s;
  connection = new Connection({
    url: socketUrl(location),
    token: s.token,
    onPush: (f) => {
      if (f.presence) {
        const p = new Map(presence.value);
        p.set(f.presence.userId ?? "", !!f.presence.online);
        presence.value = p;
      }
      if (f.changed?.domain === "hidden") void syncHidden(e, s.userId);
      if (f.callEvent) {
        for (const l of callListeners) l(f.callEvent);
        return;
      }
      e.push(f);
    },
    onOnline: () => {
      for (const l of onlineListeners) l();
      void e.connected().catch(() => undefined);
      void refreshPresence();
      void syncHidden(e, s.userId);
    },
    onState: (st) => {
      if (st === "connecting") e.connecting();
      else if (st === "offline") e.disconnected();
    },
    onEnded: (reason) => end(reason),
  });
  connection.start();
  void http.me().then(
    (a) => {
      me.value = a.user;
      remember([a.user]);
    },
    () => undefined,
  );
}

function connectionPort() {
  return {
    request: (body: Parameters<Connection["request"]>[0]) => {
      if (!connection) return Promise.reject(new Error("no connection"));
      return connection.request(body);
    },
  };
}

const callListeners = new Set<(e: CallEvent) => void>();
const onlineListeners = new Set<() => void>();

/** Call signaling pushes (`call_event`), for the calls module; returns the unsubscribe. */
export function onCallEvent(l: (e: CallEvent) => void): () => void {
  callListeners.add(l);
  return () => callListeners.delete(l);
}

/** Each time the connection is (re)authenticated; returns the unsubscribe. */
export function onOnline(l: () => void): () => void {
  onlineListeners.add(l);
  return () => onlineListeners.delete(l);
}

/** A signaling request on the long connection; resolves with the `call_ack` (rejects with the error frame). */
export async function callRequest(body: CallRequest): Promise<CallAck> {
  if (!connection) throw new Error("no connection");
  const a = await connection.request({ call: body });
  return a.callAck ?? {};
}

/** Reconnect now (network back, tab visible). */
export function nudge(): void {
  connection?.nudge();
}

/** Fetches what I deleted for myself on other devices since last time. */
async function syncHidden(e: SyncEngine, userId: string): Promise<void> {
  const key = `ferry.hidden.${userId}`;
  const since = (() => {
    try {
      return localStorage.getItem(key) ?? "0";
    } catch {
      return "0";
    }
  })();
  try {
    const a = await http.get<{
      version?: string;
      hidden?: { conversationId?: string; seq?: string }[];
      cleared?: { conversationId?: string; upToSeq?: string }[];
    }>("/messages/hidden/changes", { since });
    if (since !== "0") e.applyHidden(a);
    if (a.version) localStorage.setItem(key, a.version);
  } catch {
    // the next change or reconnect tries again
  }
}

async function refreshPresence(): Promise<void> {
  if (!connection) return;
  try {
    const a = await connection.request({ getPresence: {} });
    const p = new Map<string, boolean>();
    for (const u of a.presenceList?.users ?? []) p.set(u.userId ?? "", !!u.online);
    presence.value = p;
  } catch {
    // next reconnect
  }
}

export function remember(list: User[]): void {
  const m = new Map(users.value);
  for (const u of list) m.set(String(u.id), u);
  users.value = m;
}

const wanted = new Set<string>();
let fetchTimer: ReturnType<typeof setTimeout> | null = null;

/** A user's profile, fetched (batched) when not cached yet. */
export function user(id: string): User | undefined {
  const u = users.value.get(id);
  if (!u && id && id !== "0" && !wanted.has(id)) {
    wanted.add(id);
    if (!fetchTimer) {
      fetchTimer = setTimeout(() => {
        fetchTimer = null;
        const ids = [...wanted].slice(0, 500);
        ids.forEach((i) => wanted.delete(i));
        void http.users(ids).then((a) => remember(a.users), () => undefined);
      }, 20);
    }
  }
  return u;
}

export function displayName(id: string): string {
  const u = user(id);
  return u?.display_name || u?.username || `#${id}`;
}

// Another tab logging in or out changes the session here too.
if (typeof window !== "undefined") {
  window.addEventListener("storage", (ev) => {
    if (ev.key !== SESSION_KEY) return;
    const s = loadSession();
    if (!s && session.value) end("logout");
    else if (s && (!session.value || session.value.token !== s.token)) {
      connection?.stop();
      start(s);
    }
  });
  window.addEventListener("online", () => nudge());
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") nudge();
  });
}
