import { describe, expect, it } from "vitest";

import { MemoryKV, Outbox, newClientMsgId, type OutboxEntry } from "../src/sync/outbox";

const KEY = "ferry.outbox.1";

let clock = 0;
function entry(clientMsgId: string, conversationId: string, state: OutboxEntry["state"] = "pending"): OutboxEntry {
  return { clientMsgId, conversationId, content: { text: { text: `text of ${clientMsgId}` } }, createdAt: ++clock, state };
}

function ids(list: readonly OutboxEntry[]): string[] {
  return list.map((e) => e.clientMsgId);
}

describe("Outbox persistence", () => {
  it("keeps entries across instances sharing a KV", () => {
    const kv = new MemoryKV();
    const a = new Outbox(kv, KEY);
    a.add(entry("a1", "d_1_2"));
    a.add(entry("b1", "g_7"));
    a.add(entry("a2", "d_1_2"));

    const b = new Outbox(kv, KEY);
    expect(ids(b.all())).toEqual(["a1", "b1", "a2"]);
    expect(b.get("b1")?.conversationId).toBe("g_7");
    expect(b.get("a2")?.content.text?.text).toBe("text of a2");
    expect(b.of("d_1_2").map((e) => e.clientMsgId)).toEqual(["a1", "a2"]);
  });

  it("keeps outboxes of different keys apart", () => {
    const kv = new MemoryKV();
    new Outbox(kv, KEY).add(entry("a1", "d_1_2"));
    expect(new Outbox(kv, "ferry.outbox.2").all()).toHaveLength(0);
  });

  it("restores an entry that was sending as pending, keeping failed ones failed", () => {
    const kv = new MemoryKV();
    const a = new Outbox(kv, KEY);
    a.add(entry("a1", "d_1_2"));
    a.add(entry("b1", "g_7"));
    a.add(entry("c1", "g_8"));
    a.set("a1", "sending");
    a.set("b1", "failed", "blocked");

    const b = new Outbox(kv, KEY);
    expect(b.get("a1")?.state).toBe("pending");
    expect(b.get("b1")?.state).toBe("failed");
    expect(b.get("b1")?.error).toBe("blocked");
    expect(b.get("c1")?.state).toBe("pending");
    expect(ids(b.ready())).toEqual(["a1", "c1"]);
  });

  it("persists state changes and removals", () => {
    const kv = new MemoryKV();
    const a = new Outbox(kv, KEY);
    a.add(entry("a1", "d_1_2"));
    a.add(entry("a2", "d_1_2"));
    a.set("a2", "failed", "forbidden");
    expect(a.remove("a1")).toBe(true);

    const b = new Outbox(kv, KEY);
    expect(ids(b.all())).toEqual(["a2"]);
    expect(b.get("a2")?.error).toBe("forbidden");
  });

  it("removes the storage key once empty", () => {
    const kv = new MemoryKV();
    const a = new Outbox(kv, KEY);
    a.add(entry("a1", "d_1_2"));
    expect(kv.getItem(KEY)).not.toBeNull();
    a.remove("a1");
    expect(kv.getItem(KEY)).toBeNull();
    expect(new Outbox(kv, KEY).all()).toHaveLength(0);
  });

  it("starts empty from unreadable storage", () => {
    const kv = new MemoryKV();
    kv.setItem(KEY, "{not json");
    const o = new Outbox(kv, KEY);
    expect(o.all()).toHaveLength(0);
    o.add(entry("a1", "d_1_2"));
    expect(ids(new Outbox(kv, KEY).all())).toEqual(["a1"]);
  });

  it("keeps working in memory when storage throws", () => {
    const kv = {
      getItem: () => null,
      setItem: () => {
        throw new Error("quota");
      },
      removeItem: () => undefined,
    };
    const o = new Outbox(kv, KEY);
    o.add(entry("a1", "d_1_2"));
    expect(ids(o.ready())).toEqual(["a1"]);
  });
});

describe("Outbox.ready", () => {
  it("gives the oldest pending entry of each conversation", () => {
    const o = new Outbox(new MemoryKV(), KEY);
    o.add(entry("a1", "d_1_2"));
    o.add(entry("b1", "g_7"));
    o.add(entry("a2", "d_1_2"));
    o.add(entry("b2", "g_7"));
    o.add(entry("c1", "d_1_3"));
    expect(ids(o.ready())).toEqual(["a1", "b1", "c1"]);
  });

  it("gives nothing for a conversation with a send in flight", () => {
    const o = new Outbox(new MemoryKV(), KEY);
    o.add(entry("a1", "d_1_2"));
    o.add(entry("a2", "d_1_2"));
    o.add(entry("b1", "g_7"));
    o.set("a1", "sending");
    expect(ids(o.ready())).toEqual(["b1"]);
    o.set("b1", "sending");
    expect(o.ready()).toEqual([]);
    // the answer came: the next one of that conversation is ready
    o.remove("a1");
    expect(ids(o.ready())).toEqual(["a2"]);
  });

  it("skips failed entries", () => {
    const o = new Outbox(new MemoryKV(), KEY);
    o.add(entry("a1", "d_1_2"));
    o.add(entry("a2", "d_1_2"));
    o.add(entry("b1", "g_7"));
    o.set("a1", "failed", "blocked");
    o.set("b1", "failed", "group_muted");
    expect(ids(o.ready())).toEqual(["a2"]);
    o.set("a2", "failed", "blocked");
    expect(o.ready()).toEqual([]);
    // retrying puts a failed one back first in line
    o.set("a1", "pending");
    expect(ids(o.ready())).toEqual(["a1"]);
    expect(o.get("a1")?.error).toBeUndefined();
  });
});

describe("Outbox.set / remove", () => {
  it("set records the state and the error code, and clears the code without one", () => {
    const o = new Outbox(new MemoryKV(), KEY);
    o.add(entry("a1", "d_1_2"));
    o.set("a1", "failed", "not_friends");
    expect(o.get("a1")).toMatchObject({ state: "failed", error: "not_friends" });
    o.set("a1", "pending");
    expect(o.get("a1")?.state).toBe("pending");
    expect(o.get("a1")).not.toHaveProperty("error");
  });

  it("set and remove of an unknown id change nothing", () => {
    const kv = new MemoryKV();
    const o = new Outbox(kv, KEY);
    o.add(entry("a1", "d_1_2"));
    const stored = kv.getItem(KEY);
    o.set("zz", "failed", "x");
    expect(o.remove("zz")).toBe(false);
    expect(kv.getItem(KEY)).toBe(stored);
    expect(ids(o.all())).toEqual(["a1"]);
    expect(o.get("a1")?.state).toBe("pending");
  });

  it("remove returns true once", () => {
    const o = new Outbox(new MemoryKV(), KEY);
    o.add(entry("a1", "d_1_2"));
    expect(o.remove("a1")).toBe(true);
    expect(o.remove("a1")).toBe(false);
    expect(o.get("a1")).toBeUndefined();
  });
});

describe("newClientMsgId", () => {
  it("makes distinct ids the server accepts (1-64 printable ASCII, no space)", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const id = newClientMsgId();
      expect(id).toMatch(/^[\x21-\x7e]{1,64}$/);
      seen.add(id);
    }
    expect(seen.size).toBe(200);
  });
});
