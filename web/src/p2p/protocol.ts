// The peer-to-peer file transfer's wire rules, free of WebRTC and the app
// (docs/PROTOCOL.md §12.6): the header, chunked sending with backpressure
// on a data channel, the receiver's assembly and SHA-256 check, and the
// `custom` message that records a verified transfer in the chat.

import type { MessageContent } from "../proto";

/** Bytes per binary message: well under every browser's SCTP message limit. */
export const CHUNK_BYTES = 64 * 1024;
/** Sending pauses while more than this is queued in the channel… */
export const HIGH_WATER_BYTES = 1024 * 1024;
/** …and resumes when the queue falls to this (`bufferedamountlow`). */
export const LOW_WATER_BYTES = 256 * 1024;
/** The callee must accept and the channel open within this, else the file is uploaded. */
export const CONNECT_TIMEOUT_MS = 5000;
/** Larger files always go by upload: the receiver holds the whole file in memory. */
export const MAX_P2P_BYTES = 1024 * 1024 * 1024;
/** The `custom` message type of a verified transfer. */
export const P2P_FILE_TYPE = "ferry.p2p_file";
/** The receiver's verdicts, as text messages on the channel. */
export const VERDICT_OK = "ok";
export const VERDICT_BAD = "bad";

/** The first message on the channel, and the history message's payload. */
export interface FileHeader {
  name: string;
  size: number;
  mime: string;
  /** Lowercase hex. */
  sha256: string;
}

/** The SHA-256 of `data`, lowercase hex. */
export async function sha256Hex(data: Blob | ArrayBuffer): Promise<string> {
  const bytes = data instanceof Blob ? await data.arrayBuffer() : data;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A header from JSON text, or null when it is not one (the receiver refuses it). */
export function parseHeader(text: string): FileHeader | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null) return null;
  const h = v as Record<string, unknown>;
  const ok =
    typeof h.name === "string" &&
    h.name.length > 0 &&
    typeof h.size === "number" &&
    Number.isSafeInteger(h.size) &&
    h.size >= 0 &&
    h.size <= MAX_P2P_BYTES &&
    typeof h.mime === "string" &&
    typeof h.sha256 === "string" &&
    /^[0-9a-f]{64}$/.test(h.sha256);
  return ok ? { name: h.name as string, size: h.size as number, mime: h.mime as string, sha256: h.sha256 as string } : null;
}

/** What the sender needs of an RTCDataChannel (a fake one in the tests). */
export interface SendChannel extends EventTarget {
  readonly readyState: string;
  readonly bufferedAmount: number;
  bufferedAmountLowThreshold: number;
  send(data: string | ArrayBuffer): void;
}

/** Resolves on `bufferedamountlow`; rejects if the channel closes first. */
function drained(ch: SendChannel): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (ok: boolean) => {
      ch.removeEventListener("bufferedamountlow", low);
      ch.removeEventListener("close", closed);
      if (ok) resolve();
      else reject(new Error("the channel closed"));
    };
    const low = () => done(true);
    const closed = () => done(false);
    ch.addEventListener("bufferedamountlow", low);
    ch.addEventListener("close", closed);
  });
}

/**
 * Sends the header, then `file` in chunks of {@link CHUNK_BYTES}, pausing
 * while more than {@link HIGH_WATER_BYTES} is queued. `onProgress` gets the
 * bytes handed to the channel so far.
 */
export async function sendFileOver(ch: SendChannel, file: Blob, header: FileHeader, onProgress: (sent: number) => void): Promise<void> {
  ch.bufferedAmountLowThreshold = LOW_WATER_BYTES;
  ch.send(JSON.stringify(header));
  for (let offset = 0; offset < file.size; offset += CHUNK_BYTES) {
    if (ch.bufferedAmount > HIGH_WATER_BYTES) await drained(ch);
    if (ch.readyState !== "open") throw new Error("the channel closed");
    const chunk = await file.slice(offset, offset + CHUNK_BYTES).arrayBuffer();
    ch.send(chunk);
    onProgress(Math.min(file.size, offset + CHUNK_BYTES));
  }
}

/** The receiver's side: chunks in, a verified Blob out. */
export class Assembly {
  private readonly parts: ArrayBuffer[] = [];
  received = 0;

  constructor(readonly header: FileHeader) {}

  /** Adds a chunk; false when it overflows the announced size (the transfer is bad). */
  add(chunk: ArrayBuffer): boolean {
    this.received += chunk.byteLength;
    if (this.received > this.header.size) return false;
    this.parts.push(chunk);
    return true;
  }

  get complete(): boolean {
    return this.received === this.header.size;
  }

  /** The file if it is complete and its SHA-256 is the announced one, else null. */
  async verify(): Promise<Blob | null> {
    if (!this.complete) return null;
    const blob = new Blob(this.parts, { type: this.header.mime });
    return (await sha256Hex(blob)) === this.header.sha256 ? blob : null;
  }
}

/** The chat's record of a verified transfer (sent by the sender). */
export function historyContent(h: FileHeader): MessageContent {
  // The fallback text is what the server previews and searches by.
  const name = h.name.length > 100 ? `${h.name.slice(0, 99)}…` : h.name;
  return {
    custom: {
      type: P2P_FILE_TYPE,
      payloadJson: JSON.stringify({ name: h.name, size: h.size, mime: h.mime, sha256: h.sha256 }),
      fallbackText: `📎 ${name}`,
    },
  };
}

/** The transfer a history message records, or null for any other content. */
export function p2pFileOf(c: MessageContent | undefined): FileHeader | null {
  if (c?.custom?.type !== P2P_FILE_TYPE) return null;
  return parseHeader(c.custom.payloadJson ?? "");
}
