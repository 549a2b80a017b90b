// Peer-to-peer file transfers over WebRTC data channels (issue 12,
// docs/PROTOCOL.md §12.6), signaled as "calls" with media "file".
//
// Sender (`sendDirect`): hashes the file, opens an RTCPeerConnection with one
// ordered reliable channel, invites the peer; if the peer does not accept or
// the channel does not open within CONNECT_TIMEOUT_MS it cancels and uploads
// the file the normal way (`sendFile`). Once the receiver answers "ok" it
// hangs up and posts the `ferry.p2p_file` history message.
//
// Receiver (`startP2p`): every tab of the callee accepts an incoming file
// session at once (the server lets the first device win); nothing is saved
// without a click: a verified file is kept in memory, for the tab's life,
// behind an object URL the user saves from.

import { signal } from "@preact/signals";

import { sendFile } from "../media/uploads";
import type { CallAck, CallEvent } from "../proto";
import { callRequest, engine, http, onCallEvent, session } from "../state/app";
import { directId } from "../sync/engine";
import {
  Assembly,
  CONNECT_TIMEOUT_MS,
  type FileHeader,
  historyContent,
  MAX_P2P_BYTES,
  parseHeader,
  sendFileOver,
  sha256Hex,
  VERDICT_BAD,
  VERDICT_OK,
} from "./protocol";

export interface Transfer {
  key: string;
  conversationId: string;
  direction: "out" | "in";
  name: string;
  size: number;
  /** Bytes sent or received so far. */
  done: number;
  state: "connecting" | "moving" | "done" | "failed";
  /** The received file, once verified. */
  url?: string;
}

/** Transfers in progress (and received files, kept to be saved). */
export const transfers = signal<Transfer[]>([]);
/** The one notice: the file goes by upload after all. */
export const FALLBACK = "fallback";
/** conversation id → a short notice ({@link FALLBACK}). */
export const p2pNotices = signal<Map<string, string>>(new Map());
/** sha256 → the object URL of a file this tab received, for history messages to offer it. */
export const receivedFiles = signal<Map<string, string>>(new Map());

const NOTICE_MS = 8000;

function add(t: Transfer): void {
  transfers.value = [...transfers.value, t];
}
function patch(key: string, change: Partial<Transfer>): void {
  transfers.value = transfers.value.map((t) => (t.key === key ? { ...t, ...change } : t));
}
function drop(key: string): void {
  transfers.value = transfers.value.filter((t) => t.key !== key);
}
export function dismissTransfer(key: string): void {
  drop(key);
}

function notice(conversationId: string, text: string): void {
  const m = new Map(p2pNotices.value);
  m.set(conversationId, text);
  p2pNotices.value = m;
  setTimeout(() => {
    if (p2pNotices.value.get(conversationId) !== text) return;
    const n = new Map(p2pNotices.value);
    n.delete(conversationId);
    p2pNotices.value = n;
  }, NOTICE_MS);
}

/** Whether this browser can send peer to peer at all (WebRTC, and WebCrypto: a secure context). */
export function p2pSupported(): boolean {
  return typeof RTCPeerConnection !== "undefined" && typeof crypto !== "undefined" && !!crypto.subtle;
}

async function iceServers(): Promise<RTCIceServer[]> {
  try {
    return await http.iceServers();
  } catch {
    return [];
  }
}

// --- signaling --------------------------------------------------------------

/** One file session's signaling: events in order, local ICE out once allowed. */
class Link {
  callId = "";
  closed = false;
  /** Local candidates wait until the call id is known (sender) or the accept is sent (receiver). */
  private canSignal = false;
  private localIce: string[] = [];
  private queue: Promise<void> = Promise.resolve();
  onEvent: (e: CallEvent) => Promise<void> | void = () => undefined;

  constructor(readonly pc: RTCPeerConnection) {
    pc.onicecandidate = (ev) => {
      if (!ev.candidate) return;
      this.localIce.push(JSON.stringify(ev.candidate.toJSON()));
      this.flushIce();
    };
  }

  /** Runs `f` after everything queued before it. */
  run(f: () => Promise<void> | void): Promise<void> {
    const next = this.queue.then(f);
    this.queue = next.catch(() => undefined);
    return next;
  }

  start(callId: string): void {
    this.callId = callId;
    links.set(callId, this);
    for (const e of early.get(callId) ?? []) this.deliver(e);
    early.delete(callId);
  }

  allowSignals(): void {
    this.canSignal = true;
    this.flushIce();
  }

  private flushIce(): void {
    if (!this.canSignal || this.closed) return;
    for (const candidate of this.localIce.splice(0)) {
      void callRequest({ callId: this.callId, ice: { candidate } }).catch(() => undefined);
    }
  }

  deliver(e: CallEvent): void {
    if (e.ice?.candidate) {
      const init = JSON.parse(e.ice.candidate) as RTCIceCandidateInit;
      void this.run(() => this.pc.addIceCandidate(init)).catch(() => undefined);
      return;
    }
    void this.run(() => this.onEvent(e)).catch(() => undefined);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    links.delete(this.callId);
    this.pc.close();
  }
}

const links = new Map<string, Link>();
/** Events for a call id not known yet (an answer racing the invite's ack), a few per id. */
const early = new Map<string, CallEvent[]>();
/** Incoming sessions this tab is setting up (their early events are kept). */
const settingUp = new Set<string>();

function dispatch(e: CallEvent): void {
  const id = e.callId ?? "";
  if (e.incoming) {
    if (e.incoming.media === "file") void receive(id, e);
    return;
  }
  const link = links.get(id);
  if (link) {
    link.deliver(e);
    return;
  }
  // Only file sessions this tab places or is setting up can be early; calls' events are another module's.
  if (early.has(id) || (pendingInvites > 0 && early.size < 16)) early.set(id, [...(early.get(id) ?? []), e].slice(-64));
}

let pendingInvites = 0;
let started = false;

/** Listens for incoming file sessions; once per page. */
export function startP2p(): void {
  if (started) return;
  started = true;
  onCallEvent(dispatch);
}

// --- sending ----------------------------------------------------------------

/** Sends `file` to the peer of a direct chat, peer to peer, else by upload. */
export async function sendDirect(conversationId: string, peerId: string, file: File): Promise<void> {
  if (!p2pSupported() || file.size > MAX_P2P_BYTES) return sendFile(conversationId, file);
  const key = `p2p-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  add({ key, conversationId, direction: "out", name: file.name, size: file.size, done: 0, state: "connecting" });
  let link: Link | null = null;
  let verified = false;
  try {
    const header: FileHeader = {
      name: file.name || "file",
      size: file.size,
      mime: file.type || "application/octet-stream",
      sha256: await sha256Hex(file),
    };
    const pc = new RTCPeerConnection({ iceServers: await iceServers() });
    link = new Link(pc);
    const ch = pc.createDataChannel("file", { ordered: true });
    ch.binaryType = "arraybuffer";
    const l = link;
    // Settles when the session ends or the path fails: what every wait below races.
    const lost = new Promise<never>((_, reject) => {
      l.onEvent = (e) => {
        if (e.accepted) return pc.setRemoteDescription({ type: "answer", sdp: e.accepted.sdpAnswer ?? "" });
        if (e.ended) reject(new Error(e.ended.reason || "ended"));
      };
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === "failed") reject(new Error("no path"));
      };
      ch.addEventListener("close", () => reject(new Error("closed")));
    });
    lost.catch(() => undefined);
    await pc.setLocalDescription(await pc.createOffer());
    pendingInvites++;
    let ack: CallAck = {};
    try {
      ack = await callRequest({ invite: { calleeId: peerId, media: "file", sdpOffer: pc.localDescription?.sdp ?? "" } });
    } finally {
      pendingInvites--;
      // What was kept for the invite's ack and is not ours belongs to other calls.
      if (ack.callId && !ack.ended) link.start(ack.callId);
      if (pendingInvites === 0) for (const id of early.keys()) if (!settingUp.has(id)) early.delete(id);
    }
    if (ack.ended || !ack.callId) throw new Error(ack.ended?.reason || "not placed");
    link.allowSignals();
    const opened = new Promise<void>((resolve) => {
      if (ch.readyState === "open") resolve();
      ch.addEventListener("open", () => resolve());
    });
    let timer = 0;
    const timeout = new Promise<never>((_, reject) => {
      timer = window.setTimeout(() => reject(new Error("timeout")), CONNECT_TIMEOUT_MS);
    });
    try {
      await Promise.race([opened, lost, timeout]);
    } finally {
      clearTimeout(timer);
    }
    patch(key, { state: "moving" });
    const verdict = new Promise<string>((resolve) => {
      ch.addEventListener("message", (ev: MessageEvent) => {
        if (typeof ev.data === "string") resolve(ev.data);
      });
    });
    await Promise.race([sendFileOver(ch, file, header, (done) => patch(key, { done })), lost]);
    const answer = await Promise.race([verdict, lost]);
    if (answer !== VERDICT_OK) throw new Error(answer === VERDICT_BAD ? "checksum" : "no verdict");
    verified = true;
    engine.value?.send(conversationId, historyContent(header));
    drop(key);
  } catch {
    // fall through to the upload below
  } finally {
    if (link?.callId) {
      const id = link.callId;
      // Cancel before an answer, hang up after; either way the session ends.
      void callRequest({ callId: id, hangup: {} }).catch(() => undefined);
    }
    link?.close();
  }
  if (verified) return;
  drop(key);
  notice(conversationId, FALLBACK);
  await sendFile(conversationId, file);
}

// --- receiving --------------------------------------------------------------

async function receive(callId: string, e: CallEvent): Promise<void> {
  const me = session.value?.userId;
  const caller = e.incoming?.callerId;
  // A tab that cannot take it lets it ring: another device may, else the sender times out and uploads.
  if (!me || !caller || links.has(callId) || !p2pSupported()) return;
  const conversationId = directId(me, String(caller));
  // The sender's candidates that arrive while this sets up wait here.
  early.set(callId, early.get(callId) ?? []);
  settingUp.add(callId);
  const pc = new RTCPeerConnection({ iceServers: await iceServers() });
  const link = new Link(pc);
  // The offer first, then the candidates that came meanwhile.
  const answered = link.run(async () => {
    await pc.setRemoteDescription({ type: "offer", sdp: e.incoming?.sdpOffer ?? "" });
    await pc.setLocalDescription(await pc.createAnswer());
  });
  link.start(callId);
  settingUp.delete(callId);
  let key = "";
  let finished = false;
  link.onEvent = (ev) => {
    if (ev.answeredElsewhere) link.close();
    if (ev.ended) {
      link.close();
      if (key && !finished) patch(key, { state: "failed" });
    }
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === "failed" && key && !finished) patch(key, { state: "failed" });
  };
  pc.ondatachannel = (ev) => {
    const ch = ev.channel;
    ch.binaryType = "arraybuffer";
    let assembly: Assembly | null = null;
    let checking = false;
    const fail = () => {
      finished = true;
      if (ch.readyState === "open") ch.send(VERDICT_BAD);
      if (key) patch(key, { state: "failed" });
    };
    ch.onmessage = (m: MessageEvent) => {
      if (finished || checking) return;
      if (!assembly) {
        const header = typeof m.data === "string" ? parseHeader(m.data) : null;
        if (!header) return fail();
        assembly = new Assembly(header);
        key = `p2p-in-${callId}`;
        add({ key, conversationId, direction: "in", name: header.name, size: header.size, done: 0, state: "moving" });
      } else if (typeof m.data === "string" || !assembly.add(m.data as ArrayBuffer)) {
        return fail();
      } else {
        patch(key, { done: assembly.received });
      }
      if (!assembly.complete) return;
      checking = true;
      const a = assembly;
      void a.verify().then((blob) => {
        if (!blob) return fail();
        finished = true;
        const url = URL.createObjectURL(blob);
        const files = new Map(receivedFiles.value);
        files.set(a.header.sha256, url);
        receivedFiles.value = files;
        patch(key, { state: "done", done: a.header.size, url });
        ch.send(VERDICT_OK);
      });
    };
  };
  try {
    await answered;
    await callRequest({ callId, accept: { sdpAnswer: pc.localDescription?.sdp ?? "" } });
    link.allowSignals();
  } catch {
    // Answered on another device (or tab), or the sender gave up.
    link.close();
  }
}
