import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { Connection, RequestError, errorOf, socketUrl, type ConnectionOptions, type ConnectionState, type SocketLike } from "../src/api/connection";
import type { AuthOk, Frame } from "../src/proto";

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

/** A WebSocket stand-in: the test opens it, feeds it frames and closes it. */
class FakeSocket implements SocketLike {
  readyState = CONNECTING;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  readonly sent: Frame[] = [];
  closedWith: { code?: number; reason?: string } | null = null;

  constructor(readonly url: string) {}

  send(data: string): void {
    if (this.readyState !== OPEN) throw new Error("not open");
    this.sent.push(JSON.parse(data) as Frame);
  }

  /** Like a browser: the close event comes later. */
  close(code?: number, reason?: string): void {
    if (this.readyState === CLOSED) return;
    this.closedWith = { code, reason };
    this.readyState = CLOSED;
    queueMicrotask(() => this.onclose?.({ code: code ?? 1005, reason: reason ?? "" }));
  }

  // --- driven by the test ---
  open(): void {
    this.readyState = OPEN;
    this.onopen?.({});
  }

  receive(frame: Frame): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  receiveRaw(data: unknown): void {
    this.onmessage?.({ data });
  }

  /** The server (or the network) closes the connection. */
  drop(code = 1006): void {
    this.readyState = CLOSED;
    this.onclose?.({ code, reason: "" });
  }

  last(): Frame {
    return this.sent[this.sent.length - 1]!;
  }
}

const AUTH_OK: AuthOk = { userId: "1", username: "alice", deviceId: "dev", heartbeatIntervalMs: 30_000, serverTime: "1" };

function setup(over: Partial<ConnectionOptions> = {}) {
  const sockets: FakeSocket[] = [];
  const pushes: Frame[] = [];
  const states: ConnectionState[] = [];
  const ended: string[] = [];
  const online: AuthOk[] = [];
  const conn = new Connection({
    url: "ws://ferry.test/ws",
    token: "TOKEN_ALICE",
    socket: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    onPush: (f) => pushes.push(f),
    onOnline: (ok) => online.push(ok),
    onState: (s) => states.push(s),
    onEnded: (r) => ended.push(r),
    random: () => 0.5,
    ...over,
  });
  const socket = () => sockets[sockets.length - 1]!;
  /** Opens the current socket and answers its auth frame with `answer`. */
  async function handshake(answer: Partial<Frame> = { authOk: AUTH_OK }): Promise<FakeSocket> {
    const s = socket();
    s.open();
    const auth = s.sent[0]!;
    s.receive({ id: auth.id, ...answer });
    await flush();
    return s;
  }
  return { conn, sockets, socket, pushes, states, ended, online, handshake };
}

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** Captures a promise's outcome without an unhandled rejection. */
function outcome<T>(p: Promise<T>): { value?: T; error?: unknown; settled: boolean } {
  const o: { value?: T; error?: unknown; settled: boolean } = { settled: false };
  p.then(
    (v) => {
      o.value = v;
      o.settled = true;
    },
    (e: unknown) => {
      o.error = e;
      o.settled = true;
    },
  );
  return o;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
});

afterEach(() => {
  vi.clearAllTimers();
  vi.useRealTimers();
});

describe("handshake", () => {
  it("sends auth with the token as the first frame, then goes online", async () => {
    const h = setup();
    h.conn.start();
    expect(h.sockets).toHaveLength(1);
    expect(h.socket().url).toBe("ws://ferry.test/ws");
    expect(h.conn.current).toBe("connecting");
    expect(h.socket().sent).toHaveLength(0);

    h.socket().open();
    expect(h.socket().sent).toHaveLength(1);
    const auth = h.socket().sent[0]!;
    expect(auth.auth).toEqual({ token: "TOKEN_ALICE", protocolVersion: 1 });
    expect(auth.id).toMatch(/^[1-9]\d*$/);
    expect(Object.keys(auth).sort()).toEqual(["auth", "id"]);

    // not online before auth_ok: requests are refused without a frame
    const early = outcome(h.conn.request({ ping: {} }));
    await flush();
    expect(early.error).toBeInstanceOf(RequestError);
    expect((early.error as RequestError).code).toBe("disconnected");
    expect(h.socket().sent).toHaveLength(1);

    h.socket().receive({ id: auth.id, authOk: AUTH_OK });
    await flush();
    expect(h.conn.current).toBe("online");
    expect(h.online).toEqual([AUTH_OK]);
    expect(h.conn.session).toEqual(AUTH_OK);
    expect(h.states).toEqual(["connecting", "online"]);
  });

  it("start() twice opens one socket", () => {
    const h = setup();
    h.conn.start();
    h.conn.start();
    expect(h.sockets).toHaveLength(1);
  });

  for (const code of ["unauthenticated", "forbidden", "unsupported_version"]) {
    it(`an auth answer '${code}' ends the session without reconnecting`, async () => {
      const h = setup();
      h.conn.start();
      await h.handshake({ error: { code, message: "no", fatal: true } });
      expect(h.ended).toEqual([code]);
      expect(h.conn.current).toBe("ended");
      expect(h.online).toEqual([]);
      expect(h.sockets[0]!.closedWith).not.toBeNull();
      h.sockets[0]!.drop();
      await vi.advanceTimersByTimeAsync(10 * 60_000);
      expect(h.sockets).toHaveLength(1);
      expect(h.ended).toEqual([code]);
    });
  }

  it("a transient auth failure (internal) reconnects instead of ending", async () => {
    const h = setup();
    h.conn.start();
    await h.handshake({ error: { code: "internal", message: "db", fatal: true } });
    expect(h.ended).toEqual([]);
    h.socket().drop(1000);
    expect(h.conn.current).toBe("offline");
    await vi.advanceTimersByTimeAsync(1000);
    expect(h.sockets).toHaveLength(2);
  });

  it("an auth frame without an answer in time drops the socket and reconnects", async () => {
    const h = setup({ requestTimeoutMs: 5000 });
    h.conn.start();
    h.socket().open();
    await vi.advanceTimersByTimeAsync(4999);
    expect(h.sockets[0]!.closedWith).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    expect(h.sockets[0]!.closedWith).not.toBeNull();
    expect(h.conn.current).toBe("offline");
    await vi.advanceTimersByTimeAsync(375);
    expect(h.sockets).toHaveLength(2);
  });
});

describe("requests and answers", () => {
  it("matches answers to requests by id, in any order", async () => {
    const h = setup();
    h.conn.start();
    const s = await h.handshake();
    const a = outcome(h.conn.request({ ping: { clientTime: "1" } }));
    const b = outcome(h.conn.request({ pull: { conversationId: "d_1_2", afterSeq: "0" } }));
    const c = outcome(h.conn.request({ markRead: { conversationId: "d_1_2", seq: "3" } }));
    const [fa, fb, fc] = s.sent.slice(1);
    expect(fa!.ping).toEqual({ clientTime: "1" });
    expect(fb!.pull).toEqual({ conversationId: "d_1_2", afterSeq: "0" });
    expect(fc!.markRead).toEqual({ conversationId: "d_1_2", seq: "3" });
    const ids = [fa!.id, fb!.id, fc!.id];
    expect(new Set(ids).size).toBe(3);
    expect(ids).not.toContain(s.sent[0]!.id);
    expect(ids).not.toContain("0");

    s.receive({ id: fc!.id, markReadOk: { conversationId: "d_1_2", readSeq: "3" } });
    s.receive({ id: fa!.id, pong: { clientTime: "1", serverTime: "2" } });
    await flush();
    expect(c.value?.markReadOk?.readSeq).toBe("3");
    expect(a.value?.pong?.serverTime).toBe("2");
    expect(b.settled).toBe(false);
    s.receive({ id: fb!.id, messages: { conversationId: "d_1_2" } });
    await flush();
    expect(b.value?.messages?.conversationId).toBe("d_1_2");
    expect(h.pushes).toEqual([]);
  });

  it("an answer that matches nothing is ignored, not taken for a push", async () => {
    const h = setup();
    h.conn.start();
    const s = await h.handshake();
    s.receive({ id: "999", pong: {} });
    expect(h.pushes).toEqual([]);
    expect(h.conn.current).toBe("online");
  });

  it("frames without an id (or id 0) go to onPush", async () => {
    const h = setup();
    h.conn.start();
    const s = await h.handshake();
    const msg: Frame = { message: { conversationId: "d_1_2", seq: "1", senderId: "2", content: { text: { text: "hi" } } } };
    s.receive(msg);
    s.receive({ id: "0", presence: { userId: "2", online: true } });
    s.receive({ error: { code: "malformed_frame", message: "x" } });
    expect(h.pushes).toEqual([msg, { id: "0", presence: { userId: "2", online: true } }, { error: { code: "malformed_frame", message: "x" } }]);
  });

  it("ignores frames that are not JSON text", async () => {
    const h = setup();
    h.conn.start();
    const s = await h.handshake();
    s.receiveRaw("{not json");
    s.receiveRaw(new Uint8Array([8, 1]));
    expect(h.pushes).toEqual([]);
    expect(h.conn.current).toBe("online");
  });

  it("an error answer rejects with RequestError(code) and the connection stays usable", async () => {
    const h = setup();
    h.conn.start();
    const s = await h.handshake();
    const r = outcome(h.conn.request({ send: { clientMsgId: "x", userId: "2", content: { text: { text: "hi" } } } }));
    s.receive({ id: s.last().id, error: { code: "rate_limited", message: "too many requests", retryAfterMs: 7 } });
    await flush();
    const e = r.error as RequestError;
    expect(e).toBeInstanceOf(RequestError);
    expect(e.code).toBe("rate_limited");
    expect(e.message).toBe("too many requests");
    expect(e.retryAfterMs).toBe(7);
    expect(e.retryable).toBe(true);
    expect(h.conn.current).toBe("online");

    const r2 = outcome(h.conn.request({ send: { clientMsgId: "y", userId: "2", content: { text: { text: "hi" } } } }));
    s.receive({ id: s.last().id, error: { code: "blocked", message: "blocked" } });
    await flush();
    expect((r2.error as RequestError).code).toBe("blocked");
    expect((r2.error as RequestError).retryable).toBe(false);
    expect(h.ended).toEqual([]);
  });

  it("a non-fatal forbidden answer to a request does not end the session", async () => {
    const h = setup();
    h.conn.start();
    const s = await h.handshake();
    const r = outcome(h.conn.request({ pull: { conversationId: "d_1_3", afterSeq: "0" } }));
    s.receive({ id: s.last().id, error: { code: "forbidden", message: "you are not in this conversation" } });
    await flush();
    expect((r.error as RequestError).code).toBe("forbidden");
    expect(h.ended).toEqual([]);
    expect(h.conn.current).toBe("online");
  });

  it("a request without an answer within requestTimeoutMs rejects 'timeout' and drops the socket", async () => {
    const h = setup({ requestTimeoutMs: 10_000 });
    h.conn.start();
    const s = await h.handshake();
    const r = outcome(h.conn.request({ ping: {} }));
    await vi.advanceTimersByTimeAsync(5000);
    const other = outcome(h.conn.request({ ping: {} }));
    await vi.advanceTimersByTimeAsync(4999);
    expect(r.settled).toBe(false);
    expect(s.closedWith).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    expect((r.error as RequestError).code).toBe("timeout");
    expect((other.error as RequestError).code).toBe("disconnected");
    expect(s.closedWith).not.toBeNull();
    expect(h.conn.current).toBe("offline");
    // a late answer on the dropped socket changes nothing
    s.receive({ id: s.sent[1]!.id, pong: {} });
    // one reconnect, not two (the socket's own close event comes too)
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.sockets).toHaveLength(2);
  });

  it("errorOf fills defaults", () => {
    const e = errorOf({});
    expect(e.code).toBe("internal");
    expect(e.retryAfterMs).toBe(0);
    expect(errorOf({ code: "not_found" }).message).toBe("not_found");
  });
});

describe("losing the connection", () => {
  it("a close fails pending requests with 'disconnected' and reconnects", async () => {
    const h = setup();
    h.conn.start();
    const s = await h.handshake();
    const a = outcome(h.conn.request({ ping: {} }));
    const b = outcome(h.conn.request({ listConversations: {} }));
    s.drop();
    await flush();
    expect((a.error as RequestError).code).toBe("disconnected");
    expect((b.error as RequestError).code).toBe("disconnected");
    expect((a.error as RequestError).retryable).toBe(true);
    expect(h.conn.current).toBe("offline");
    expect(h.states).toEqual(["connecting", "online", "offline"]);
    const late = outcome(h.conn.request({ ping: {} }));
    await flush();
    expect((late.error as RequestError).code).toBe("disconnected");

    await vi.advanceTimersByTimeAsync(375);
    expect(h.sockets).toHaveLength(2);
    expect(h.conn.current).toBe("connecting");
    const s2 = await h.handshake();
    expect(s2.sent[0]!.auth?.token).toBe("TOKEN_ALICE");
    expect(h.online).toHaveLength(2);
    expect(h.conn.current).toBe("online");
  });

  it("backs off exponentially with jitter up to the cap, and resets after a handshake", async () => {
    const h = setup({ minBackoffMs: 500, maxBackoffMs: 30_000, random: () => 0.5 });
    h.conn.start();
    const delays: number[] = [];
    for (let i = 0; i < 9; i++) {
      const count = h.sockets.length;
      h.socket().drop(); // connection refused
      let waited = 0;
      while (h.sockets.length === count && waited < 120_000) {
        await vi.advanceTimersByTimeAsync(50);
        waited += 50;
      }
      delays.push(waited);
    }
    // base 500·2^n capped at 30 000, times 0.75 (random 0.5 in [base/2, base))
    expect(delays).toEqual([400, 750, 1500, 3000, 6000, 12_000, 22_500, 22_500, 22_500]);

    await h.handshake();
    h.socket().drop();
    await vi.advanceTimersByTimeAsync(374);
    const before = h.sockets.length;
    await vi.advanceTimersByTimeAsync(1);
    expect(h.sockets.length).toBe(before + 1);
  });

  it("keeps every delay within [base/2, base)", async () => {
    for (const r of [0, 0.999999]) {
      const h = setup({ minBackoffMs: 1000, maxBackoffMs: 4000, random: () => r });
      h.conn.start();
      const at: number[] = [];
      for (let i = 0; i < 4; i++) {
        const count = h.sockets.length;
        h.socket().drop();
        let waited = 0;
        while (h.sockets.length === count) {
          await vi.advanceTimersByTimeAsync(1);
          waited += 1;
        }
        at.push(waited);
      }
      const bases = [1000, 2000, 4000, 4000];
      if (r === 0) expect(at).toEqual(bases.map((b) => b / 2));
      at.forEach((ms, i) => {
        expect(ms).toBeGreaterThanOrEqual(bases[i]! / 2);
        expect(ms).toBeLessThanOrEqual(bases[i]!);
        if (r > 0.9) expect(ms).toBeGreaterThan(bases[i]! * 0.99);
      });
      h.conn.stop();
    }
  });

  it("nudge() reconnects at once while waiting to", async () => {
    const h = setup({ minBackoffMs: 10_000 });
    h.conn.start();
    h.socket().drop();
    expect(h.sockets).toHaveLength(1);
    h.conn.nudge();
    expect(h.sockets).toHaveLength(2);
    // the pending reconnect was cancelled
    await vi.advanceTimersByTimeAsync(20_000);
    expect(h.sockets).toHaveLength(2);
  });

  it("nudge() while online checks the socket with a ping instead of reconnecting", async () => {
    const h = setup();
    h.conn.start();
    const s = await h.handshake();
    h.conn.nudge();
    expect(h.sockets).toHaveLength(1);
    expect(s.sent).toHaveLength(2);
    expect(s.last().ping).toBeDefined();
  });

  it("a fatal unavailable (shutdown) is not a push and does not end the session", async () => {
    const h = setup();
    h.conn.start();
    const s = await h.handshake();
    s.receive({ error: { code: "unavailable", message: "server is shutting down; reconnect shortly", fatal: true } });
    expect(h.pushes).toEqual([]);
    expect(h.ended).toEqual([]);
    s.drop(1000);
    await vi.advanceTimersByTimeAsync(375);
    expect(h.sockets).toHaveLength(2);
  });

  it("stop() closes, fails pending requests and does not reconnect", async () => {
    const h = setup();
    h.conn.start();
    const s = await h.handshake();
    const r = outcome(h.conn.request({ ping: {} }));
    h.conn.stop();
    await flush();
    expect(s.closedWith?.code).toBe(1000);
    expect((r.error as RequestError).code).toBe("disconnected");
    expect(h.conn.current).toBe("offline");
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.sockets).toHaveLength(1);
    expect(h.ended).toEqual([]);
  });
});

describe("kicks", () => {
  for (const reason of ["replaced", "logout", "banned"]) {
    it(`kicked '${reason}' ends the session and does not reconnect`, async () => {
      const h = setup();
      h.conn.start();
      const s = await h.handshake();
      const r = outcome(h.conn.request({ ping: {} }));
      s.receive({ kicked: { reason } });
      await flush();
      expect(h.ended).toEqual([reason]);
      expect(h.conn.current).toBe("ended");
      expect(h.states.at(-1)).toBe("ended");
      expect((r.error as RequestError).code).toBe("disconnected");
      expect(s.closedWith).not.toBeNull();
      expect(h.pushes).toEqual([]);
      s.drop(1000);
      await vi.advanceTimersByTimeAsync(10 * 60_000);
      expect(h.sockets).toHaveLength(1);
      h.conn.nudge();
      expect(h.sockets).toHaveLength(1);
      expect(h.ended).toEqual([reason]);
    });
  }

  it("a kick without a reason ends the session as 'kicked'", async () => {
    const h = setup();
    h.conn.start();
    const s = await h.handshake();
    s.receive({ kicked: {} });
    expect(h.ended).toEqual(["kicked"]);
  });

  for (const reason of ["slow_consumer", "shutdown"]) {
    it(`kicked '${reason}' keeps the session: it reconnects (PROTOCOL.md §2.5)`, async () => {
      const h = setup();
      h.conn.start();
      const s = await h.handshake();
      s.receive({ kicked: { reason } });
      s.drop(1000);
      await flush();
      expect(h.ended).toEqual([]);
      expect(h.conn.current).toBe("offline");
      await vi.advanceTimersByTimeAsync(375);
      expect(h.sockets).toHaveLength(2);
      await h.handshake();
      expect(h.conn.current).toBe("online");
    });
  }
});

describe("heartbeat", () => {
  it("pings while the server answers, and drops a silent connection", async () => {
    const h = setup({ requestTimeoutMs: 60_000 });
    h.conn.start();
    const s = await h.handshake({ authOk: { ...AUTH_OK, heartbeatIntervalMs: 10_000 } });
    expect(s.sent).toHaveLength(1);

    await vi.advanceTimersByTimeAsync(8000);
    expect(s.sent).toHaveLength(2);
    expect(s.last().ping).toBeDefined();
    s.receive({ id: s.last().id, pong: {} });

    await vi.advanceTimersByTimeAsync(8000);
    expect(s.sent).toHaveLength(3);
    s.receive({ id: s.last().id, pong: {} }); // heard at t=16 000

    // silence from now: dropped once more than 2×heartbeat has passed, at a beat
    await vi.advanceTimersByTimeAsync(8000); // 24 000: ping
    await vi.advanceTimersByTimeAsync(8000); // 32 000: ping
    expect(s.closedWith).toBeNull();
    await vi.advanceTimersByTimeAsync(8000); // 40 000: 24 000 > 20 000 silent
    expect(s.closedWith).not.toBeNull();
    expect(h.conn.current).toBe("offline");
  });

  it("stops pinging once the socket is gone", async () => {
    const h = setup();
    h.conn.start();
    const s = await h.handshake({ authOk: { ...AUTH_OK, heartbeatIntervalMs: 10_000 } });
    h.conn.stop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(s.sent).toHaveLength(1);
  });
});

describe("socketUrl", () => {
  it("follows the page's scheme and host", () => {
    expect(socketUrl({ protocol: "https:", host: "chat.example:8443" })).toBe("wss://chat.example:8443/ws");
    expect(socketUrl({ protocol: "http:", host: "127.0.0.1:8080" })).toBe("ws://127.0.0.1:8080/ws");
  });
});
