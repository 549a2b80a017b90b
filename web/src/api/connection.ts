// The long connection (docs/PROTOCOL.md): a WebSocket speaking proto3 JSON
// in text frames. Authenticates with the HTTP login's token, matches
// answers to requests by id, keeps the connection alive with pings, and
// reconnects with exponential backoff until the session is over (logout,
// kick, a token the server no longer accepts).
//
// No UI here: the sync engine (../sync/engine.ts) drives it, and unit tests
// drive it with a fake socket.

import type { AuthOk, ErrorFrame, Frame } from "../proto";

/** What a socket must offer; `WebSocket` does. */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type SocketFactory = (url: string) => SocketLike;

export type ConnectionState = "connecting" | "online" | "offline" | "ended";

/** An answer with an `error` body, or the connection failing first. */
export class RequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryAfterMs = 0,
  ) {
    super(message);
    this.name = "RequestError";
  }

  /** Whether the same request may succeed later unchanged. */
  get retryable(): boolean {
    return ["disconnected", "timeout", "unavailable", "rate_limited", "internal"].includes(this.code);
  }
}

/** Errors after which the token is useless (PROTOCOL.md §2.1). */
const SESSION_OVER = new Set(["unauthenticated", "forbidden", "unsupported_version"]);

export interface ConnectionOptions {
  url: string;
  token: string;
  socket?: SocketFactory;
  /** Called for every frame without an id (pushes). */
  onPush: (frame: Frame) => void;
  /** Called after each successful handshake. */
  onOnline: (ok: AuthOk) => void;
  onState: (state: ConnectionState) => void;
  /** The session is over for good: `reason` is `logout`, `replaced`, a kick reason, or an error code. */
  onEnded: (reason: string) => void;
  requestTimeoutMs?: number;
  /** Backoff bounds for reconnects. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  random?: () => number;
  setTimer?: (f: () => void, ms: number) => unknown;
  clearTimer?: (t: unknown) => void;
}

interface Pending {
  resolve: (f: Frame) => void;
  reject: (e: RequestError) => void;
  timer: unknown;
}

const OPEN = 1;

export class Connection {
  private socket: SocketLike | null = null;
  private nextId = 1;
  private pending = new Map<string, Pending>();
  private state: ConnectionState = "offline";
  private attempts = 0;
  private reconnectTimer: unknown = null;
  private heartbeatTimer: unknown = null;
  private lastHeard = 0;
  private heartbeatMs = 30_000;
  private stopped = false;
  private authOk: AuthOk | null = null;
  private readonly o: Required<Omit<ConnectionOptions, "socket">> & { socket: SocketFactory };

  constructor(options: ConnectionOptions) {
    this.o = {
      requestTimeoutMs: 30_000,
      minBackoffMs: 500,
      maxBackoffMs: 30_000,
      random: Math.random,
      setTimer: (f, ms) => setTimeout(f, ms),
      clearTimer: (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
      socket: (url) => new WebSocket(url) as unknown as SocketLike,
      ...options,
    } as Connection["o"];
  }

  get current(): ConnectionState {
    return this.state;
  }

  get session(): AuthOk | null {
    return this.authOk;
  }

  /** Opens the connection (and keeps it open until `stop`). */
  start(): void {
    this.stopped = false;
    if (this.socket || this.reconnectTimer) return;
    this.open();
  }

  /** Closes the connection and stops reconnecting. */
  stop(): void {
    this.stopped = true;
    this.cancelReconnect();
    this.stopHeartbeat();
    this.detach("bye");
    this.failPending("disconnected", "the connection was closed");
    this.setState("offline");
  }

  /** Reconnect now (the network came back, the tab became visible). */
  nudge(): void {
    if (this.stopped || this.state === "ended") return;
    if (this.socket === null) {
      this.cancelReconnect();
      this.attempts = 0;
      this.open();
    } else if (this.state === "online") {
      // A suspended tab may hold a dead socket: a ping tells.
      void this.request({ ping: { clientTime: String(Date.now()) } }).catch(() => undefined);
    }
  }

  /** Sends a request and resolves with its answer frame. */
  request(body: Omit<Frame, "id">): Promise<Frame> {
    const s = this.socket;
    if (!s || this.state !== "online" || s.readyState !== OPEN) {
      return Promise.reject(new RequestError("disconnected", "not connected"));
    }
    return this.sendFrame(s, body);
  }

  private sendFrame(s: SocketLike, body: Omit<Frame, "id">): Promise<Frame> {
    const id = String(this.nextId++);
    return new Promise<Frame>((resolve, reject) => {
      const timer = this.o.setTimer(() => {
        this.pending.delete(id);
        reject(new RequestError("timeout", "no answer in time"));
        // An unanswered request means a dead or stuck connection.
        this.drop(s);
      }, this.o.requestTimeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      try {
        s.send(JSON.stringify({ id, ...body }));
      } catch {
        this.o.clearTimer(timer);
        this.pending.delete(id);
        reject(new RequestError("disconnected", "the connection is closed"));
      }
    });
  }

  private open(): void {
    this.reconnectTimer = null;
    this.setState("connecting");
    let s: SocketLike;
    try {
      s = this.o.socket(this.o.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = s;
    s.onopen = () => {
      this.lastHeard = Date.now();
      this.sendFrame(s, { auth: { token: this.o.token, protocolVersion: 1 } }).then(
        (answer) => this.authenticated(s, answer),
        () => undefined, // the close handler reconnects
      );
    };
    s.onmessage = (ev) => this.receive(s, ev.data);
    s.onerror = () => undefined;
    s.onclose = () => this.closed(s);
  }

  private authenticated(s: SocketLike, answer: Frame): void {
    if (s !== this.socket) return;
    if (answer.authOk) {
      this.attempts = 0;
      this.authOk = answer.authOk;
      this.heartbeatMs = answer.authOk.heartbeatIntervalMs || 30_000;
      this.setState("online");
      this.startHeartbeat(s);
      this.o.onOnline(answer.authOk);
    } else {
      const code = answer.error?.code ?? "internal";
      if (SESSION_OVER.has(code)) this.end(code);
      else this.drop(s);
    }
  }

  private receive(s: SocketLike, data: unknown): void {
    if (s !== this.socket) return;
    this.lastHeard = Date.now();
    if (typeof data !== "string") return; // only the auth-deadline error is ever binary
    let frame: Frame;
    try {
      frame = JSON.parse(data) as Frame;
    } catch {
      return;
    }
    const id = frame.id;
    if (id !== undefined && id !== "0") {
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      this.o.clearTimer(p.timer);
      if (frame.error) {
        p.reject(errorOf(frame.error));
        if (frame.error.fatal && SESSION_OVER.has(frame.error.code ?? "")) this.end(frame.error.code ?? "");
      } else {
        p.resolve(frame);
      }
      return;
    }
    if (frame.kicked) {
      const reason = frame.kicked.reason || "kicked";
      // The token stays valid after these: reconnect and resync (PROTOCOL.md §2.5).
      if (reason === "slow_consumer" || reason === "shutdown") this.drop(s);
      else this.end(reason);
      return;
    }
    if (frame.error?.fatal) {
      // e.g. a slow-consumer kick: reconnect and sync.
      if (SESSION_OVER.has(frame.error.code ?? "")) this.end(frame.error.code ?? "");
      return;
    }
    this.o.onPush(frame);
  }

  private closed(s: SocketLike): void {
    if (s !== this.socket) return;
    this.socket = null;
    this.stopHeartbeat();
    this.failPending("disconnected", "the connection was lost");
    if (this.stopped || this.state === "ended") return;
    this.scheduleReconnect();
  }

  /** Closes a socket we no longer trust; its close handler reconnects. */
  private drop(s: SocketLike): void {
    if (s !== this.socket) return;
    try {
      s.close(4000, "unresponsive");
    } catch {
      // already closed
    }
    this.closed(s);
  }

  private end(reason: string): void {
    if (this.state === "ended") return;
    this.stopped = true;
    this.cancelReconnect();
    this.stopHeartbeat();
    this.detach("ended");
    this.failPending("disconnected", "the session ended");
    this.setState("ended");
    this.o.onEnded(reason);
  }

  /** Forgets the socket and closes it without running its handlers. */
  private detach(reason: string): void {
    const s = this.socket;
    this.socket = null;
    if (!s) return;
    s.onclose = null;
    s.onmessage = null;
    s.onerror = null;
    try {
      s.close(1000, reason);
    } catch {
      // already closed
    }
  }

    private scheduleReconnect(): void {
    this.setState("offline");
    const base = Math.min(this.o.maxBackoffMs, this.o.minBackoffMs * 2 ** Math.min(this.attempts, 16));
    this.attempts++;
    // Full jitter on the upper half: spread a server restart's reconnects.
    const delay = base / 2 + (this.o.random() * base) / 2;
    this.reconnectTimer = this.o.setTimer(() => this.open(), delay);
  }

  private cancelReconnect(): void {
    if (this.reconnectTimer !== null) this.o.clearTimer(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  private startHeartbeat(s: SocketLike): void {
    this.stopHeartbeat();
    const every = Math.max(1000, Math.floor(this.heartbeatMs * 0.8));
    const beat = () => {
      if (s !== this.socket) return;
      if (Date.now() - this.lastHeard > this.heartbeatMs * 2) {
        this.drop(s);
        return;
      }
      void this.request({ ping: { clientTime: String(Date.now()) } }).catch(() => undefined);
      this.heartbeatTimer = this.o.setTimer(beat, every);
    };
    this.heartbeatTimer = this.o.setTimer(beat, every);
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer !== null) this.o.clearTimer(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  private failPending(code: string, message: string): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) {
      this.o.clearTimer(p.timer);
      p.reject(new RequestError(code, message));
    }
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return;
    if (this.state === "ended") return;
    this.state = state;
    this.o.onState(state);
  }
}

export function errorOf(e: ErrorFrame): RequestError {
  return new RequestError(e.code ?? "internal", e.message ?? e.code ?? "error", e.retryAfterMs ?? 0);
}

/** The WebSocket URL of the server this page came from. */
export function socketUrl(loc: { protocol: string; host: string }): string {
  return `${loc.protocol === "https:" ? "wss" : "ws"}://${loc.host}/ws`;
}
