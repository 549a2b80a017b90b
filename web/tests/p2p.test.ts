import { describe, expect, it } from "vitest";

import {
  Assembly,
  CHUNK_BYTES,
  HIGH_WATER_BYTES,
  LOW_WATER_BYTES,
  MAX_P2P_BYTES,
  P2P_FILE_TYPE,
  historyContent,
  p2pFileOf,
  parseHeader,
  sendFileOver,
  sha256Hex,
  type FileHeader,
  type SendChannel,
} from "../src/p2p/protocol";

function bytes(n: number, seed = 1): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(new ArrayBuffer(n));
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A data channel whose queue drains only when the test says so. */
class FakeChannel extends EventTarget implements SendChannel {
  readyState = "open";
  bufferedAmount = 0;
  bufferedAmountLowThreshold = 0;
  sent: (string | ArrayBuffer)[] = [];
  /** The largest queue seen right before a send. */
  maxQueuedAtSend = 0;

  send(data: string | ArrayBuffer): void {
    if (this.readyState !== "open") throw new Error("not open");
    this.maxQueuedAtSend = Math.max(this.maxQueuedAtSend, this.bufferedAmount);
    this.sent.push(data);
    this.bufferedAmount += typeof data === "string" ? data.length : data.byteLength;
  }

  /** The network takes everything queued; fires `bufferedamountlow` as a browser does. */
  drain(): void {
    this.bufferedAmount = 0;
    this.dispatchEvent(new Event("bufferedamountlow"));
  }

  close(): void {
    this.readyState = "closed";
    this.dispatchEvent(new Event("close"));
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0));

async function header(b: Uint8Array, name = "a.bin"): Promise<FileHeader> {
  return { name, size: b.length, mime: "application/octet-stream", sha256: await sha256Hex(b.buffer as ArrayBuffer) };
}

describe("sha256Hex", () => {
  it("is SHA-256 in lowercase hex, for blobs and buffers alike", async () => {
    const abc = new TextEncoder().encode("abc");
    expect(await sha256Hex(new Blob([abc]))).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const b = bytes(200_000);
    expect(await sha256Hex(new Blob([b]))).toBe(await sha256Hex(b.buffer));
    const c = b.slice();
    c[7] ^= 1;
    expect(await sha256Hex(c.buffer)).not.toBe(await sha256Hex(b.buffer));
    expect(await sha256Hex(new Blob([]))).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });
});

describe("parseHeader", () => {
  const sha = "a".repeat(64);
  it("accepts a well-formed header", () => {
    expect(parseHeader(JSON.stringify({ name: "x.pdf", size: 3, mime: "application/pdf", sha256: sha }))).toEqual({
      name: "x.pdf",
      size: 3,
      mime: "application/pdf",
      sha256: sha,
    });
  });
  it("refuses anything else", () => {
    const good = { name: "x", size: 3, mime: "", sha256: sha };
    for (const bad of [
      "not json",
      "null",
      "[]",
      JSON.stringify({ ...good, name: "" }),
      JSON.stringify({ ...good, size: -1 }),
      JSON.stringify({ ...good, size: 1.5 }),
      JSON.stringify({ ...good, size: MAX_P2P_BYTES + 1 }),
      JSON.stringify({ ...good, sha256: "A".repeat(64) }),
      JSON.stringify({ ...good, sha256: "abc" }),
      JSON.stringify({ ...good, mime: 7 }),
    ]) {
      expect(parseHeader(bad), bad).toBeNull();
    }
  });
});

describe("sendFileOver", () => {
  it("sends the header, then every byte in chunks, pausing above the high-water mark", async () => {
    const data = bytes(HIGH_WATER_BYTES * 3 + 1234);
    const h = await header(data);
    const ch = new FakeChannel();
    const progress: number[] = [];
    const done = sendFileOver(ch, new Blob([data]), h, (n) => progress.push(n));
    // It stops once the queue passes the mark, and waits for the drain.
    for (let i = 0; i < 50; i++) await tick();
    const stalled = ch.sent.length;
    expect(ch.bufferedAmount).toBeGreaterThan(HIGH_WATER_BYTES);
    expect(stalled).toBeLessThan(1 + Math.ceil(data.length / CHUNK_BYTES));
    for (let i = 0; i < 20; i++) await tick();
    expect(ch.sent.length, "nothing more while the queue is full").toBe(stalled);
    while (progress.at(-1) !== data.length) {
      ch.drain();
      for (let i = 0; i < 20; i++) await tick();
    }
    await done;
    expect(ch.bufferedAmountLowThreshold).toBe(LOW_WATER_BYTES);
    expect(ch.maxQueuedAtSend).toBeLessThanOrEqual(HIGH_WATER_BYTES);
    expect(parseHeader(ch.sent[0] as string)).toEqual(h);
    const chunks = ch.sent.slice(1) as ArrayBuffer[];
    expect(chunks.every((c) => c.byteLength <= CHUNK_BYTES)).toBe(true);
    const joined = new Uint8Array(await new Blob(chunks).arrayBuffer());
    expect(same(joined, data)).toBe(true);
    expect(progress.at(-1)).toBe(data.length);
  });

  it("fails when the channel closes while it waits for room", async () => {
    const data = bytes(HIGH_WATER_BYTES * 2);
    const ch = new FakeChannel();
    const done = sendFileOver(ch, new Blob([data]), await header(data), () => undefined);
    for (let i = 0; i < 50; i++) await tick();
    ch.close();
    await expect(done).rejects.toThrow(/closed/);
  });
});

describe("Assembly", () => {
  it("assembles the chunks and verifies the SHA-256", async () => {
    const data = bytes(CHUNK_BYTES * 2 + 17);
    const a = new Assembly(await header(data));
    for (let o = 0; o < data.length; o += CHUNK_BYTES) {
      expect(a.complete).toBe(false);
      expect(a.add(data.slice(o, o + CHUNK_BYTES).buffer)).toBe(true);
    }
    expect(a.complete).toBe(true);
    const blob = await a.verify();
    expect(blob).not.toBeNull();
    expect(same(new Uint8Array(await blob!.arrayBuffer()), data)).toBe(true);
  });

  it("rejects a corrupted byte, a short file and an overflow", async () => {
    const data = bytes(1000);
    const h = await header(data);
    const corrupt = data.slice();
    corrupt[500] ^= 1;
    const a = new Assembly(h);
    a.add(corrupt.buffer);
    expect(a.complete).toBe(true);
    expect(await a.verify()).toBeNull();

    const short = new Assembly(h);
    short.add(data.slice(0, 999).buffer);
    expect(await short.verify()).toBeNull();

    const over = new Assembly(h);
    expect(over.add(data.buffer)).toBe(true);
    expect(over.add(new Uint8Array(1).buffer)).toBe(false);
  });
});

describe("history message", () => {
  it("round-trips the header through a custom message", () => {
    const h: FileHeader = { name: "report.pdf", size: 5_000_000, mime: "application/pdf", sha256: "0".repeat(64) };
    const c = historyContent(h);
    expect(c.custom?.type).toBe(P2P_FILE_TYPE);
    expect(c.custom?.fallbackText).toBe("📎 report.pdf");
    expect(p2pFileOf(c)).toEqual(h);
    expect(p2pFileOf({ custom: { type: "other", payloadJson: c.custom?.payloadJson } })).toBeNull();
    expect(p2pFileOf({ text: { text: "hi" } })).toBeNull();
    expect(historyContent({ ...h, name: "n".repeat(300) }).custom?.fallbackText?.length).toBeLessThanOrEqual(256);
  });
});
