import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import type { Message } from "../src/proto";
import { PAGE, SyncEngine, TYPING_TTL_MS, directId, peerOf } from "../src/sync/engine";
import { MemoryKV } from "../src/sync/outbox";
import { FakeServer, settle } from "./fake-server";
import { gapFree, seqs } from "./fixtures";

const ME = "1";

function setup() {
  const server = new FakeServer(ME);
  const kv = new MemoryKV();
  let now = 1_000_000;
  const engine = new SyncEngine(server, ME, kv, () => now);
  server.engine = engine;
  return {
    server,
    engine,
    kv,
    advance(ms: number) {
      now += ms;
    },
  };
}

function textOf(m: Message | undefined): string | undefined {
  return m?.content?.text?.text;
}

function countOf(items: readonly Message[], clientMsgId: string): number {
  return items.filter((m) => m.clientMsgId === clientMsgId).length;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

beforeEach(() => {
  // Only the engine's own timers (list refresh, send retry) are faked; the
  // fake server's pushes use setImmediate and run for real.
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
});

afterEach(() => {
  vi.clearAllTimers();
  vi.useRealTimers();
});

describe("helpers", () => {
  it("directId orders the two ids numerically and peerOf finds the other", () => {
    expect(directId("10", "9")).toBe("d_9_10");
    expect(directId("9", "10")).toBe("d_9_10");
    expect(directId("3", "3")).toBe("d_3_3");
    expect(peerOf("d_9_10", "10")).toBe("9");
    expect(peerOf("d_9_10", "9")).toBe("10");
    expect(peerOf("d_3_3", "3")).toBe("3");
    expect(peerOf("g_4", "3")).toBe("");
  });
});

describe("catching up", () => {
  it("lists conversations on connect and catches up open timelines after a reconnect", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    server.seed(dm, 3);
    const g = server.group(5, [ME, "2", "3"]);
    server.seed(g, 2, "3");

    expect(engine.status.value).toBe("connecting");
    await engine.connected();
    expect(engine.status.value).toBe("online");
    expect(engine.conversations.value.map((c) => c.id)).toEqual([g, dm]);
    expect(engine.conversation(dm)).toMatchObject({ kind: "direct", peerId: "2", maxSeq: 3, unread: 3, lastSeq: 3, preview: "msg 3" });
    expect(engine.conversation(g)).toMatchObject({ kind: "group", maxSeq: 2, unread: 2 });

    const t = engine.timeline(dm);
    await settle();
    expect(seqs(t.timeline.items)).toEqual([1, 2, 3]);
    expect(t.timeline.atStart).toBe(true);
    expect(t.loading.value).toBe(false);

    // Offline: messages arrive that this tab never sees pushed.
    engine.disconnected();
    expect(engine.status.value).toBe("offline");
    server.online = false;
    server.deliver(dm, "2");
    server.deliver(dm, "2");
    server.seed(g, 1, "3");
    server.online = true;

    const version = t.version.value;
    await engine.connected();
    expect(engine.status.value).toBe("online");

    const lists = server.requests("listConversations");
    expect(lists).toHaveLength(2);
    expect(lists[0]!.listConversations!.since).toBeUndefined();
    expect(lists[1]!.listConversations!.since).toMatch(/^v\d+$/);

    expect(seqs(t.timeline.items)).toEqual([1, 2, 3, 4, 5]);
    expect(t.version.value).toBeGreaterThan(version);
    const lastPull = server.requests("pull").at(-1)!.pull!;
    expect(lastPull).toMatchObject({ conversationId: dm, afterSeq: "3" });
    expect(engine.conversation(dm)).toMatchObject({ maxSeq: 5, unread: 5, lastSeq: 5 });
    expect(engine.conversation(g)).toMatchObject({ maxSeq: 3, unread: 3 });
  });

  it("an incremental list drops conversations I am no longer in and keeps unchanged ones", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    server.seed(dm, 2);
    const g = server.group(5, [ME, "2"]);
    server.seed(g, 1, "2");
    const other = server.direct("3");
    server.seed(other, 1);
    await engine.connected();
    const local = engine.ensureConversation("d_1_9");
    expect(local.maxSeq).toBe(0);

    engine.disconnected();
    server.removeMe(g);
    server.seed(dm, 1);
    await engine.connected();

    const last = server.requests("listConversations").at(-1)!.listConversations!;
    expect(last.since).toBeDefined();
    const ids = engine.conversations.value.map((c) => c.id).sort();
    expect(ids).toEqual(["d_1_2", "d_1_3", "d_1_9"]);
    expect(engine.conversation(g)).toBeUndefined();
    expect(engine.conversation(dm)!.maxSeq).toBe(3);
    expect(engine.conversation(other)!.maxSeq).toBe(1);
  });

  it("a conversation I left does not stop the catch-up of the others nor the outbox", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    server.seed(dm, 2);
    const g = server.group(5, [ME, "2"]);
    server.seed(g, 2, "2");
    await engine.connected();
    const tg = engine.timeline(g);
    const td = engine.timeline(dm);
    await settle();
    expect(seqs(tg.timeline.items)).toEqual([1, 2]);

    engine.disconnected();
    server.online = false;
    server.removeMe(g);
    server.seed(dm, 1);
    const id = engine.send(dm, { text: { text: "still here" } });
    server.online = true;

    await engine.connected();
    await settle();
    expect(engine.status.value).toBe("online");
    expect(server.stored).toEqual([id]);
    expect(seqs(td.timeline.items)).toEqual([1, 2, 3, 4]);
    expect(textOf(td.timeline.get(4))).toBe("still here");
  });

  it("opens a conversation of 120 messages at its newest page and walks back to seq 1", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    server.seed(dm, 120);
    await engine.connected();

    const t = engine.timeline(dm);
    expect(t.loading.value).toBe(true);
    await settle();
    expect(t.loading.value).toBe(false);
    expect(seqs(t.timeline.items)).toEqual(range(121 - PAGE, 120));
    expect(t.timeline.atStart).toBe(false);
    expect(server.requests("pull")[0]!.pull).toMatchObject({ conversationId: dm, afterSeq: String(120 - PAGE) });

    let rounds = 0;
    while (!t.timeline.atStart && rounds++ < 20) await engine.loadOlder(dm);
    expect(t.timeline.atStart).toBe(true);
    expect(seqs(t.timeline.items)).toEqual(range(1, 120));
    expect(gapFree(t.timeline.items)).toBe(true);
    expect(t.timeline.items.map((m) => textOf(m))).toEqual(range(1, 120).map((s) => `msg ${s}`));
    // a page per call, no overlap between them
    const older = server.requests("pull").slice(1).map((b) => b.pull!);
    expect(older.map((p) => [p.afterSeq, p.limit])).toEqual([
      [String(120 - 2 * PAGE), PAGE],
      ["0", 120 - 2 * PAGE],
    ]);
    // once at the start, loading older asks nothing more
    await engine.loadOlder(dm);
    expect(server.requests("pull")).toHaveLength(3);
  });

  it("walks back gap-free when the server cuts pages short", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    server.seed(dm, 120);
    server.pageCap = 7;
    await engine.connected();
    const t = engine.timeline(dm);
    await settle();
    expect(seqs(t.timeline.items)).toEqual(range(121 - PAGE, 120));
    let rounds = 0;
    while (!t.timeline.atStart && rounds++ < 20) await engine.loadOlder(dm);
    expect(seqs(t.timeline.items)).toEqual(range(1, 120));
  });

  it("a group joiner's timeline starts at the first seq they may see", async () => {
    const { server, engine } = setup();
    const g = server.group(8, [ME, "2"], 30);
    server.seed(g, 40, "2");
    await engine.connected();
    const t = engine.timeline(g);
    await settle();
    expect(seqs(t.timeline.items)).toEqual(range(31, 40));
    expect(t.timeline.atStart).toBe(true);
    await engine.loadOlder(g);
    expect(server.requests("pull")).toHaveLength(1);
  });
});

describe("pushes", () => {
  it("a push with a gap pulls the missing messages and ends gap-free", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    server.seed(dm, 10);
    await engine.connected();
    const t = engine.timeline(dm);
    await settle();

    server.losePushOf(1);
    server.deliver(dm, "2", { text: { text: "lost push" } }); // 11
    server.deliver(dm, "2", { text: { text: "pushed" } }); // 12
    await settle();

    expect(seqs(t.timeline.items)).toEqual(range(1, 12));
    expect(textOf(t.timeline.get(11))).toBe("lost push");
    expect(textOf(t.timeline.get(12))).toBe("pushed");
    expect(server.requests("pull").at(-1)!.pull).toMatchObject({ afterSeq: "10" });
    expect(engine.conversation(dm)).toMatchObject({ maxSeq: 12, unread: 12, lastSeq: 12 });
  });

  it("delivers in-order pushes without pulling", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    server.seed(dm, 2);
    await engine.connected();
    const t = engine.timeline(dm);
    await settle();
    const pulls = server.requests("pull").length;
    server.deliver(dm, "2");
    server.deliver(dm, "2");
    await settle();
    expect(seqs(t.timeline.items)).toEqual([1, 2, 3, 4]);
    expect(server.requests("pull")).toHaveLength(pulls);
  });

  it("a push arriving while the first page loads is not lost", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    server.seed(dm, 10);
    await engine.connected();
    server.hold("pull");
    const t = engine.timeline(dm); // its pull reads 1..10
    server.deliver(dm, "2", { text: { text: "during" } }); // 11, committed after that read
    await settle();
    server.release("pull");
    await settle();
    expect(seqs(t.timeline.items)).toEqual(range(1, 11));
    expect(textOf(t.timeline.get(11))).toBe("during");
    expect(engine.conversation(dm)).toMatchObject({ maxSeq: 11, unread: 11 });
  });

  it("a push arriving during the catch-up after a reconnect is not lost", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    server.seed(dm, 10);
    await engine.connected();
    const t = engine.timeline(dm);
    await settle();

    engine.disconnected();
    server.online = false;
    server.deliver(dm, "2"); // 11, missed while offline
    server.online = true;
    server.hold("pull");
    const done = engine.connected(); // pulls after 10: reads 11
    await settle();
    server.deliver(dm, "2", { text: { text: "right after auth_ok" } }); // 12
    await settle();
    server.release("pull");
    await done;
    await settle();
    expect(seqs(t.timeline.items)).toEqual(range(1, 12));
    expect(textOf(t.timeline.get(12))).toBe("right after auth_ok");
  });

  it("a message in a conversation the list does not have creates it and refreshes the list", async () => {
    const { server, engine } = setup();
    await engine.connected();
    const dm = server.direct("4");
    server.deliver(dm, "4", { text: { text: "hello stranger" } });
    await settle();
    expect(engine.conversation(dm)).toMatchObject({ unread: 1, maxSeq: 1, lastSeq: 1 });
    expect(engine.conversation(dm)!.last?.content?.text?.text).toBe("hello stranger");
    const lists = server.requests("listConversations").length;
    await vi.advanceTimersByTimeAsync(400);
    expect(server.requests("listConversations")).toHaveLength(lists + 1);
    expect(engine.conversation(dm)).toMatchObject({ peerId: "4", unread: 1 });
  });
});

describe("own sends", () => {
  for (const order of ["ack-first", "push-first"] as const) {
    it(`appear exactly once when the ${order === "ack-first" ? "ack" : "push"} comes first`, async () => {
      const { server, engine } = setup();
      server.pushOrder = order;
      const dm = server.direct("2");
      server.seed(dm, 3);
      await engine.connected();
      const t = engine.timeline(dm);
      await settle();

      const id = engine.send(dm, { text: { text: "hello" } });
      expect(engine.outbox.get(id)?.state).toBe("sending");
      await settle();

      expect(server.stored).toEqual([id]);
      expect(seqs(t.timeline.items)).toEqual([1, 2, 3, 4]);
      expect(countOf(t.timeline.items, id)).toBe(1);
      expect(t.timeline.get(4)).toEqual(server.messageAt(dm, 4));
      expect(engine.outbox.all()).toHaveLength(0);
      expect(engine.conversation(dm)).toMatchObject({ maxSeq: 4, lastSeq: 4, lastSenderId: ME, unread: 3 });
      expect(server.requests("send")[0]!.send).toMatchObject({ clientMsgId: id, userId: "2" });
    });
  }

  it("shows the ack at once and swaps in the pushed version later", async () => {
    const { server, engine } = setup();
    server.pushOrder = "manual";
    const dm = server.direct("2");
    server.seed(dm, 1);
    await engine.connected();
    const t = engine.timeline(dm);
    await settle();

    const id = engine.send(dm, { text: { text: "ack first" } });
    await settle();
    expect(seqs(t.timeline.items)).toEqual([1, 2]);
    expect(t.timeline.get(2)?.clientMsgId).toBe(id);
    expect(engine.outbox.all()).toHaveLength(0);

    server.deliverPushes();
    await settle();
    expect(seqs(t.timeline.items)).toEqual([1, 2]);
    expect(t.timeline.get(2)).toEqual(server.messageAt(dm, 2));
  });

  it("takes the push before the ack and ignores the ack's copy", async () => {
    const { server, engine } = setup();
    server.pushOrder = "manual";
    const dm = server.direct("2");
    server.seed(dm, 1);
    await engine.connected();
    const t = engine.timeline(dm);
    await settle();

    server.hold("send");
    const id = engine.send(dm, { text: { text: "push first" } });
    await settle();
    server.deliverPushes();
    await settle();
    expect(seqs(t.timeline.items)).toEqual([1, 2]);
    expect(engine.outbox.get(id)).toBeUndefined();
    const pushed = t.timeline.get(2);
    server.release("send");
    await settle();
    expect(seqs(t.timeline.items)).toEqual([1, 2]);
    expect(t.timeline.get(2)).toBe(pushed);
  });

  it("many sends mixed with others' messages, pushes and acks in any order, each once and in order", async () => {
    const { server, engine } = setup();
    server.pushOrder = "mixed";
    const dm = server.direct("2");
    server.seed(dm, 2);
    await engine.connected();
    const t = engine.timeline(dm);
    await settle();

    const mine: string[] = [];
    for (let i = 0; i < 25; i++) {
      mine.push(engine.send(dm, { text: { text: `mine ${i}` } }));
      if (i % 3 === 0) server.deliver(dm, "2", { text: { text: `theirs ${i}` } });
      if (i % 4 === 0) await settle(2);
    }
    await settle(200);

    expect(server.stored).toEqual(mine);
    const max = server.maxSeq(dm);
    expect(seqs(t.timeline.items)).toEqual(range(1, max));
    for (const id of mine) expect(countOf(t.timeline.items, id)).toBe(1);
    const order = t.timeline.items.filter((m) => m.senderId === ME).map((m) => m.clientMsgId);
    expect(order).toEqual(mine);
    expect(engine.outbox.all()).toHaveLength(0);
    expect(engine.conversation(dm)!.maxSeq).toBe(max);
    expect(engine.conversation(dm)!.unread).toBe(2 + 9);
  });
});

describe("the outbox", () => {
  it("queues offline sends and sends them in order on connect with their ids", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    server.seed(dm, 2);
    const g = server.group(5, [ME, "2", "3"]);

    const a = ["a1", "a2", "a3"].map((x) => engine.send(dm, { text: { text: x } }));
    const b = ["b1", "b2"].map((x) => engine.send(g, { text: { text: x } }));
    await settle();
    expect(server.requests("send")).toHaveLength(0);
    expect(engine.outbox.all().map((e) => e.state)).toEqual(["pending", "pending", "pending", "pending", "pending"]);
    expect(new Set([...a, ...b]).size).toBe(5);

    await engine.connected();
    await settle();
    const sends = server.requests("send").map((x) => x.send!);
    expect(sends.filter((s) => s.userId === "2").map((s) => s.clientMsgId)).toEqual(a);
    expect(sends.filter((s) => s.conversationId === g).map((s) => s.clientMsgId)).toEqual(b);
    expect(sends).toHaveLength(5);
    expect(engine.outbox.all()).toHaveLength(0);

    const t = engine.timeline(dm);
    await settle();
    expect(t.timeline.items.slice(2).map(textOf)).toEqual(["a1", "a2", "a3"]);
    expect(t.timeline.items.slice(2).map((m) => m.clientMsgId)).toEqual(a);
  });

  it("sends one at a time per conversation", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    await engine.connected();
    server.pushOrder = "manual"; // only the ack settles a send here
    server.hold("send");
    engine.send(dm, { text: { text: "1" } });
    engine.send(dm, { text: { text: "2" } });
    await settle();
    expect(server.requests("send")).toHaveLength(1);
    expect(engine.outbox.all().map((e) => e.state)).toEqual(["sending", "pending"]);
    server.release("send");
    await settle();
    expect(server.requests("send")).toHaveLength(2);
    expect(engine.outbox.all()).toHaveLength(0);
  });

  it("a lost answer is retried with the same id after reconnecting; the server stores it once", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    server.seed(dm, 2);
    await engine.connected();

    engine.disconnected();
    const ids = ["x", "y", "z"].map((x) => engine.send(dm, { text: { text: x } }));
    server.lose("send"); // "x" is stored, its answer and push never come
    await engine.connected();
    await settle();
    expect(server.stored).toEqual([ids[0]]);
    expect(engine.outbox.all().map((e) => [e.clientMsgId, e.state])).toEqual(ids.map((id) => [id, "pending"]));

    engine.disconnected();
    await engine.connected();
    await settle();
    const sent = server.requests("send").map((x) => x.send!.clientMsgId);
    expect(sent).toEqual([ids[0], ids[0], ids[1], ids[2]]);
    expect(server.stored).toEqual(ids);
    expect(engine.outbox.all()).toHaveLength(0);

    const t = engine.timeline(dm);
    await settle();
    expect(seqs(t.timeline.items)).toEqual([1, 2, 3, 4, 5]);
    expect(t.timeline.items.slice(2).map((m) => m.clientMsgId)).toEqual(ids);
  });

  it("a lost answer of a conversation whose timeline is open is settled by the catch-up", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    server.seed(dm, 2);
    await engine.connected();
    const t = engine.timeline(dm);
    await settle();

    server.lose("send");
    const id = engine.send(dm, { text: { text: "lost answer" } });
    await settle();
    expect(engine.outbox.get(id)?.state).toBe("pending");
    expect(seqs(t.timeline.items)).toEqual([1, 2]);

    engine.disconnected();
    await engine.connected();
    await settle();
    expect(server.stored).toEqual([id]);
    expect(seqs(t.timeline.items)).toEqual([1, 2, 3]);
    expect(countOf(t.timeline.items, id)).toBe(1);
    expect(engine.outbox.all()).toHaveLength(0);
  });

  it("a send failing with 'disconnected' stays pending and goes on the next connect", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    await engine.connected();
    server.fault("send", "disconnected");
    const id = engine.send(dm, { text: { text: "later" } });
    await settle();
    expect(engine.outbox.get(id)?.state).toBe("pending");
    expect(server.stored).toEqual([]);
    engine.disconnected();
    await engine.connected();
    await settle();
    expect(server.stored).toEqual([id]);
  });

  for (const code of ["unavailable", "internal"]) {
    it(`a send answered '${code}' is retried later with the same id while online`, async () => {
      const { server, engine } = setup();
      const dm = server.direct("2");
      await engine.connected();
      server.fault("send", code);
      const id = engine.send(dm, { text: { text: "retry me" } });
      await settle();
      expect(engine.outbox.get(id)?.state).toBe("pending");
      expect(server.stored).toEqual([]);
      await vi.advanceTimersByTimeAsync(1000);
      await settle();
      expect(server.requests("send").map((s) => s.send!.clientMsgId)).toEqual([id, id]);
      expect(server.stored).toEqual([id]);
      expect(engine.outbox.all()).toHaveLength(0);
    });
  }

  it("a refusal marks the entry failed with its code; retry() sends it again with the same id", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    server.seed(dm, 1);
    await engine.connected();
    const t = engine.timeline(dm);
    await settle();

    server.refuse(dm, "blocked");
    const version = engine.outboxVersion.value;
    const id = engine.send(dm, { text: { text: "refused" } });
    await settle();
    expect(engine.outbox.get(id)).toMatchObject({ state: "failed", error: "blocked" });
    expect(engine.outboxVersion.value).toBeGreaterThan(version);
    expect(server.stored).toEqual([]);
    expect(seqs(t.timeline.items)).toEqual([1]);

    // a failed entry is not sent again by itself
    engine.disconnected();
    await engine.connected();
    await settle();
    expect(server.requests("send")).toHaveLength(1);

    server.refuse(dm, null);
    engine.retry(id);
    await settle();
    const sent = server.requests("send").map((s) => s.send!.clientMsgId);
    expect(sent).toEqual([id, id]);
    expect(server.stored).toEqual([id]);
    expect(engine.outbox.get(id)).toBeUndefined();
    expect(seqs(t.timeline.items)).toEqual([1, 2]);
    expect(t.timeline.get(2)?.clientMsgId).toBe(id);
  });

  it("discard() drops a failed entry", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    await engine.connected();
    server.refuse(dm, "not_friends");
    const id = engine.send(dm, { text: { text: "x" } });
    await settle();
    expect(engine.outbox.get(id)?.state).toBe("failed");
    engine.discard(id);
    expect(engine.outbox.all()).toHaveLength(0);
  });

  it("the outbox survives a new engine (a reload) and is sent on connect", async () => {
    const { server, kv } = setup();
    const dm = server.direct("2");
    const first = new SyncEngine(server, ME, kv);
    const id = first.send(dm, { text: { text: "before reload" } });
    const second = new SyncEngine(server, ME, kv);
    server.engine = second;
    expect(second.outbox.get(id)?.state).toBe("pending");
    await second.connected();
    await settle();
    expect(server.stored).toEqual([id]);
    expect(second.outbox.all()).toHaveLength(0);
  });
});

describe("unread, mentions, receipts", () => {
  it("counts others' messages as unread, not my own nor events", async () => {
    const { server, engine } = setup();
    const g = server.group(5, [ME, "2", "3"]);
    server.seed(g, 1, "2");
    await engine.connected();
    const incoming: string[] = [];
    engine.onIncoming = (m) => incoming.push(m.seq ?? "");
    expect(engine.conversation(g)!.unread).toBe(1);

    server.deliver(g, "2"); // 2
    server.deliver(g, "3"); // 3
    await settle();
    expect(engine.conversation(g)!.unread).toBe(3);

    server.deliver(g, ME, { text: { text: "from my phone" } }); // 4
    server.react(g, 2, "3", "👍"); // 5
    server.react(g, 2, ME, "👍"); // 6
    await settle();
    expect(engine.conversation(g)).toMatchObject({ unread: 3, maxSeq: 6, lastSeq: 4, lastSenderId: ME, mentioned: false });
    expect(incoming).toEqual(["2", "3"]);

    server.deliver(g, "2", { text: { text: "@you", mentionUserIds: [ME] } }); // 7
    await settle();
    expect(engine.conversation(g)).toMatchObject({ unread: 4, mentioned: true });
  });

  for (const open of [false, true]) {
    it(`counts a message of someone else whose push comes after my later ack (timeline ${open ? "open" : "closed"})`, async () => {
      const { server, engine } = setup();
      const dm = server.direct("2");
      server.seed(dm, 2);
      await engine.connected();
      const t = open ? engine.timeline(dm) : null;
      await settle();
      const incoming: string[] = [];
      engine.onIncoming = (m) => incoming.push(m.seq ?? "");

      server.pushOrder = "manual";
      server.deliver(dm, "2", { text: { text: "theirs" } }); // 3, push queued
      const id = engine.send(dm, { text: { text: "mine" } }); // 4, acked now
      await settle();
      server.deliverPushes();
      await settle();

      expect(incoming).toEqual(["3"]);
      expect(engine.conversation(dm)).toMatchObject({ unread: 3, maxSeq: 4, lastSeq: 4, lastSenderId: ME });
      if (t) {
        expect(seqs(t.timeline.items)).toEqual([1, 2, 3, 4]);
        expect(countOf(t.timeline.items, id)).toBe(1);
      }
    });
  }

  it("counts the same way with the timeline open", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    server.seed(dm, 1);
    await engine.connected();
    engine.timeline(dm);
    await settle();
    server.deliver(dm, "2");
    server.deliver(dm, ME);
    server.react(dm, 1, "2", "🎉");
    await settle();
    expect(engine.conversation(dm)).toMatchObject({ unread: 2, maxSeq: 4, lastSeq: 3 });
  });

  it("a read receipt of my own other device lowers unread", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    server.seed(dm, 5);
    await engine.connected();
    engine.timeline(dm);
    await settle();
    expect(engine.conversation(dm)!.unread).toBe(5);

    engine.push({ readReceipt: { conversationId: dm, userId: ME, readSeq: "3" } });
    expect(engine.conversation(dm)).toMatchObject({ readSeq: 3, unread: 2 });
    engine.push({ readReceipt: { conversationId: dm, userId: ME, readSeq: "2" } });
    expect(engine.conversation(dm)).toMatchObject({ readSeq: 3, unread: 2 });
    engine.push({ readReceipt: { conversationId: dm, userId: ME, readSeq: "5" } });
    expect(engine.conversation(dm)).toMatchObject({ readSeq: 5, unread: 0 });
  });

  it("a read receipt lowers unread without the timeline, and clears the mention once all is read", async () => {
    const { server, engine } = setup();
    const g = server.group(5, [ME, "2"]);
    server.seed(g, 2, "2");
    server.deliver(g, "2", { text: { text: "@you", mentionUserIds: [ME] } });
    server.seed(g, 1, "2");
    await engine.connected();
    expect(engine.conversation(g)).toMatchObject({ unread: 4, mentioned: true });

    engine.push({ readReceipt: { conversationId: g, userId: ME, readSeq: "2" } });
    expect(engine.conversation(g)).toMatchObject({ readSeq: 2, unread: 2, mentioned: true });
    engine.push({ readReceipt: { conversationId: g, userId: ME, readSeq: "4" } });
    expect(engine.conversation(g)).toMatchObject({ readSeq: 4, unread: 0, mentioned: false });
  });

  it("the peer's read receipts move peerReadSeq, never back, and leave my unread alone", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    server.seed(dm, 4, ME);
    server.seed(dm, 1, "2");
    server.setRead(dm, "2", 1);
    await engine.connected();
    expect(engine.conversation(dm)).toMatchObject({ peerReadSeq: 1, unread: 1 });

    engine.push({ readReceipt: { conversationId: dm, userId: "2", readSeq: "4" } });
    expect(engine.conversation(dm)).toMatchObject({ peerReadSeq: 4, unread: 1, readSeq: 0 });
    engine.push({ readReceipt: { conversationId: dm, userId: "2", readSeq: "2" } });
    expect(engine.conversation(dm)!.peerReadSeq).toBe(4);
  });

  it("marks the visible conversation read as messages come", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    server.seed(dm, 2);
    await engine.connected();
    engine.visible = dm;
    server.deliver(dm, "2");
    await settle();
    const marks = server.requests("markRead").map((b) => b.markRead!);
    expect(marks).toEqual([{ conversationId: dm, seq: "3" }]);
    expect(engine.conversation(dm)).toMatchObject({ readSeq: 3, unread: 0 });
    await engine.markRead(dm);
    expect(server.requests("markRead")).toHaveLength(1);
  });

  it("a list read before my markRead but answered after it does not bring the badge back", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    server.seed(dm, 1);
    server.setRead(dm, "2", 1);
    await engine.connected();
    server.deliver(dm, "2");
    await settle();
    expect(engine.conversation(dm)).toMatchObject({ unread: 2, readSeq: 0, maxSeq: 2, peerReadSeq: 1 });

    // The refresh the new message asks for is read now (unread 2, as the
    // server has it then), but its answer comes after the markRead's.
    server.hold("listConversations");
    const refresh = engine.refreshList();
    await engine.markRead(dm);
    expect(engine.conversation(dm)).toMatchObject({ unread: 0, readSeq: 2 });
    engine.push({ readReceipt: { conversationId: dm, userId: "2", readSeq: "2" } });
    server.release("listConversations");
    await refresh;
    expect(server.requests("listConversations").length).toBeGreaterThanOrEqual(2);
    expect(engine.conversation(dm)).toMatchObject({ unread: 0, readSeq: 2, mentioned: false, peerReadSeq: 2 });

    // A newer message still counts: the kept position is a floor, not a freeze.
    server.deliver(dm, "2");
    await settle();
    await vi.advanceTimersByTimeAsync(400);
    expect(engine.conversation(dm)).toMatchObject({ unread: 1, readSeq: 2, maxSeq: 3 });
  });
});

describe("recalls and the preview", () => {
  it("a revoke event of the last message changes the preview to [Recalled]", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    server.seed(dm, 3);
    await engine.connected();
    expect(engine.conversation(dm)).toMatchObject({ preview: "msg 3", lastSeq: 3 });

    server.revoke(dm, 3, "2");
    await settle();
    expect(engine.conversation(dm)).toMatchObject({ preview: "[Recalled]", lastKind: "revoked", lastSeq: 3, maxSeq: 4 });
    expect(engine.conversation(dm)!.last).toBeUndefined();

    // the list refresh that follows agrees, and counts the recalled one out
    await vi.advanceTimersByTimeAsync(400);
    expect(engine.conversation(dm)).toMatchObject({ preview: "[Recalled]", unread: 2 });
  });

  it("a revoke of an older message leaves the preview alone", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    server.seed(dm, 3);
    await engine.connected();
    server.revoke(dm, 1, "2");
    await settle();
    expect(engine.conversation(dm)).toMatchObject({ preview: "msg 3", lastSeq: 3, maxSeq: 4 });
  });

  it("a revoke of the last message shows in the open timeline and the preview", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    server.seed(dm, 2);
    await engine.connected();
    const t = engine.timeline(dm);
    await settle();
    server.deliver(dm, "2", { text: { text: "oops" } });
    await settle();
    expect(engine.conversation(dm)!.last?.content?.text?.text).toBe("oops");
    server.revoke(dm, 3, "2");
    await settle();
    expect(t.timeline.get(3)?.content?.revoked?.by).toBe("2");
    expect(textOf(t.timeline.get(3))).toBeUndefined();
    expect(engine.conversation(dm)).toMatchObject({ preview: "[Recalled]", lastKind: "revoked" });
  });

  it("an edit event fetches the new content of a held message", async () => {
    const { server, engine } = setup();
    const dm = server.direct("2");
    server.seed(dm, 2);
    await engine.connected();
    const t = engine.timeline(dm);
    await settle();
    const edited = server.messageAt(dm, 2);
    // the server's state after the edit, then the event
    const s = server as unknown as { convs: Map<string, { messages: { message: Message }[] }> };
    s.convs.get(dm)!.messages[1]!.message = { ...edited, content: { text: { text: "edited" }, editedAt: "7" } };
    server.deliver(dm, "2", { event: { event: "edited", targetSeq: "2" } });
    await settle();
    expect(textOf(t.timeline.get(2))).toBe("edited");
    expect(server.requests("pull").at(-1)!.pull).toMatchObject({ afterSeq: "1", limit: 1 });
  });
});

describe("typing", () => {
  it("shows who types until the TTL passes or they send", async () => {
    const { server, engine, advance } = setup();
    const dm = server.direct("2");
    server.seed(dm, 1);
    await engine.connected();

    engine.push({ typing: { conversationId: dm, userId: "2", typing: true } });
    expect(engine.typingIn(dm)).toEqual(["2"]);
    advance(TYPING_TTL_MS - 1);
    expect(engine.typingIn(dm)).toEqual(["2"]);
    advance(2);
    expect(engine.typingIn(dm)).toEqual([]);

    engine.push({ typing: { conversationId: dm, userId: "2", typing: true } });
    engine.push({ typing: { conversationId: dm, userId: "2", typing: false } });
    expect(engine.typingIn(dm)).toEqual([]);

    engine.push({ typing: { conversationId: dm, userId: "2", typing: true } });
    server.deliver(dm, "2");
    await settle();
    expect(engine.typingIn(dm)).toEqual([]);
  });
});

describe("other pushes", () => {
  it("passes pushes it does not handle to onOther", async () => {
    const { engine } = setup();
    const seen: string[] = [];
    engine.onOther = (f) => seen.push(Object.keys(f)[0]!);
    engine.push({ presence: { userId: "2", online: true } });
    engine.push({ changed: { domain: "contacts", version: "3" } });
    expect(seen).toEqual(["presence", "changed"]);
  });
});
