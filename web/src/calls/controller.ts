// The client side of a 1:1 call (docs/PROTOCOL.md §12): what the UI shows
// (`view`), the RTCPeerConnection and its media, and the signaling that
// goes with them. The server owns the call's state; this mirrors it for
// one tab and drives WebRTC: the offer rides on `invite`, the answer on
// `accept`, ICE candidates trickle both ways (remote ones wait until the
// remote description is set, local ones until the server lets us send
// them), and every later change — a camera turned on where there was no
// video, a screen share, an ICE restart after a network change — is a
// perfect-negotiation exchange over `renegotiate` (the callee is polite).
//
// The browser is reached through `CallPorts` only, so tests drive this with
// a fake signaling port and a fake peer connection (tests/calls.test.ts);
// the real thing is covered by e2e/calls.spec.ts.

import { signal } from "@preact/signals-core";

import type { CallAck, CallEnded, CallEvent, CallMediaKind, CallRequest } from "../proto";

export type CallPhase = "idle" | "outgoing" | "incoming" | "connecting" | "active" | "ended";

/** Why a call ended, as the user is told. */
export type EndReason =
  | "hung_up"
  | "busy"
  | "no_answer"
  | "missed"
  | "declined"
  | "cancelled"
  | "connection_lost"
  | "unavailable"
  | "shutdown"
  | "answered_elsewhere"
  | "ended_elsewhere"
  | "media_blocked"
  | "media_missing"
  | "not_friends"
  | "blocked"
  | "in_call"
  | "failed";

export interface CallView {
  phase: CallPhase;
  /** The server's call id ("" while an invite is on its way). */
  id: string;
  peerId: string;
  direction: "outgoing" | "incoming";
  /** What the call was placed as. */
  media: CallMediaKind;
  /** Caller: a device of the callee shows the call. */
  ringing: boolean;
  /** When media first flowed (ms; 0 before). */
  connectedAt: number;
  /** The other party lost its connection (the server waits for it). */
  peerAway: boolean;
  muted: boolean;
  camera: boolean;
  sharing: boolean;
  local: MediaStream | null;
  remote: MediaStream | null;
  /** The remote stream has a live video track. */
  remoteVideo: boolean;
  ended: { reason: EndReason; durationMs: number } | null;
}

export type Quality = "good" | "fair" | "poor" | "unknown";

/** One getStats reading, cumulative counters. */
export interface StatsSample {
  at: number;
  audioBytesIn: number;
  videoBytesIn: number;
  packetsIn: number;
  packetsLost: number;
  rttMs: number | null;
}

/** The subset of RTCPeerConnection the controller uses (a fake in tests). */
export interface PeerLike {
  readonly signalingState: RTCSignalingState;
  readonly connectionState: RTCPeerConnectionState;
  readonly remoteDescription: RTCSessionDescriptionInit | null;
  readonly localDescription: RTCSessionDescriptionInit | null;
  onicecandidate: ((ev: { candidate: { toJSON(): RTCIceCandidateInit } | null }) => void) | null;
  ontrack: ((ev: { track: MediaStreamTrack; streams: readonly MediaStream[] }) => void) | null;
  onnegotiationneeded: (() => void) | null;
  onconnectionstatechange: (() => void) | null;
  addTrack(track: MediaStreamTrack, ...streams: MediaStream[]): RTCRtpSender;
  getTransceivers(): RTCRtpTransceiver[];
  createOffer(): Promise<RTCSessionDescriptionInit>;
  setLocalDescription(d?: RTCSessionDescriptionInit): Promise<void>;
  setRemoteDescription(d: RTCSessionDescriptionInit): Promise<void>;
  addIceCandidate(c: RTCIceCandidateInit): Promise<void>;
  restartIce(): void;
  getStats(): Promise<RTCStatsReport>;
  close(): void;
}

/** How the controller reaches the server and the browser. */
export interface CallPorts {
  request(body: CallRequest): Promise<CallAck>;
  iceServers(): Promise<RTCIceServer[]>;
  getUserMedia(c: MediaStreamConstraints): Promise<MediaStream>;
  getDisplayMedia(): Promise<MediaStream>;
  createPeer(config: RTCConfiguration): PeerLike;
  now(): number;
  /** Where this tab notes the call it holds (sessionStorage: it outlives a reload, not the tab). */
  memo?: { get(): string; set(callId: string): void };
}

/** Seconds a connection may stay `disconnected` before ICE is restarted. */
const DISCONNECTED_RESTART_MS = 3_000;
const STATS_EVERY_MS = 2_000;

const IDLE: CallView = {
  phase: "idle",
  id: "",
  peerId: "",
  direction: "outgoing",
  media: "audio",
  ringing: false,
  connectedAt: 0,
  peerAway: false,
  muted: false,
  camera: false,
  sharing: false,
  local: null,
  remote: null,
  remoteVideo: false,
  ended: null,
};

/** The live parts of the call this tab holds. */
interface Live {
  id: string;
  peer: PeerLike | null;
  local: MediaStream | null;
  camera: MediaStreamTrack | null;
  screen: MediaStreamTrack | null;
  offer: string;
  /** The answer is in: ICE and renegotiation may flow. */
  answered: boolean;
  /** Local candidates the server does not take yet. */
  outIce: string[];
  /** Remote candidates that wait for the remote description. */
  inIce: RTCIceCandidateInit[];
  /** Serialises signaling work so events apply in order. */
  chain: Promise<void>;
  makingOffer: boolean;
  ignoreOffer: boolean;
  pendingNegotiation: boolean;
  restartTimer: ReturnType<typeof setTimeout> | null;
  statsTimer: ReturnType<typeof setInterval> | null;
  lastStats: StatsSample | null;
}

/** An error frame's code (connection.ts rejects requests with `{code, message}`). */
function codeOf(e: unknown): string {
  return typeof e === "object" && e && "code" in e ? String((e as { code: unknown }).code) : "";
}

/** What a getUserMedia refusal means to the user. */
export function mediaError(e: unknown): EndReason {
  const name = e instanceof Error || (typeof e === "object" && e && "name" in e) ? String((e as { name: unknown }).name) : "";
  if (name === "NotAllowedError" || name === "SecurityError") return "media_blocked";
  if (name === "NotFoundError" || name === "OverconstrainedError" || name === "NotReadableError") return "media_missing";
  return "failed";
}

/** The user-facing reason of the server's `ended`, for this side of the call. */
export function endReasonOf(e: CallEnded, direction: "outgoing" | "incoming", byMe: boolean): EndReason {
  switch (e.reason) {
    case "busy":
      return "busy";
    case "no_answer":
      return direction === "outgoing" ? "no_answer" : "missed";
    case "declined":
      return direction === "outgoing" || byMe ? "declined" : "ended_elsewhere";
    case "cancelled":
      return "cancelled";
    case "hung_up":
      return "hung_up";
    case "connection_lost":
      return "connection_lost";
    case "unavailable":
      return "unavailable";
    case "shutdown":
      return "shutdown";
    default:
      return "hung_up";
  }
}

/** good / fair / poor from two readings (loss and bitrate over the interval, the latest RTT). */
export function qualityOf(prev: StatsSample | null, cur: StatsSample): Quality {
  if (!prev || cur.at <= prev.at) return "unknown";
  const packets = cur.packetsIn - prev.packetsIn;
  const lost = Math.max(0, cur.packetsLost - prev.packetsLost);
  const loss = packets + lost > 0 ? lost / (packets + lost) : 0;
  const kbps = ((cur.audioBytesIn + cur.videoBytesIn - prev.audioBytesIn - prev.videoBytesIn) * 8) / (cur.at - prev.at);
  const rtt = cur.rttMs ?? 0;
  if (packets <= 0) return "poor";
  if (loss > 0.1 || rtt > 600 || kbps < 8) return "poor";
  if (loss > 0.03 || rtt > 250) return "fair";
  return "good";
}

/** Sums the inbound RTP counters and reads the RTT of the selected candidate pair. */
export function sampleOf(report: RTCStatsReport, at: number): StatsSample {
  const s: StatsSample = { at, audioBytesIn: 0, videoBytesIn: 0, packetsIn: 0, packetsLost: 0, rttMs: null };
  report.forEach((r: Record<string, unknown>) => {
    if (r.type === "inbound-rtp") {
      const bytes = Number(r.bytesReceived ?? 0);
      if (r.kind === "audio") s.audioBytesIn += bytes;
      else if (r.kind === "video") s.videoBytesIn += bytes;
      s.packetsIn += Number(r.packetsReceived ?? 0);
      s.packetsLost += Number(r.packetsLost ?? 0);
    } else if (r.type === "candidate-pair" && (r.nominated || r.selected) && r.state === "succeeded") {
      const rtt = r.currentRoundTripTime;
      if (typeof rtt === "number") s.rttMs = rtt * 1000;
    }
  });
  return s;
}

export class CallController {
  readonly view = signal<CallView>(IDLE);
  readonly quality = signal<Quality>("unknown");
  private live: Live | null = null;

  constructor(private ports: CallPorts) {}

  /** No call on screen, or only the news of one that ended. */
  get free(): boolean {
    const p = this.view.value.phase;
    return p === "idle" || p === "ended";
  }

  // --- actions --------------------------------------------------------------

  /** Places a call to `peerId`. */
  async start(peerId: string, media: CallMediaKind): Promise<void> {
    if (!this.free) return;
    const live = this.begin("");
    this.set({ ...IDLE, phase: "outgoing", peerId, direction: "outgoing", media, camera: media === "video" });
    let stream: MediaStream;
    try {
      stream = await this.ports.getUserMedia({ audio: true, video: media === "video" });
    } catch (e) {
      if (this.live === live) this.finish(mediaError(e), 0);
      return;
    }
    if (this.live !== live) return stopAll(stream);
    try {
      const peer = await this.connect(live, stream);
      if (this.live !== live) return;
      await peer.setLocalDescription(await peer.createOffer());
      const ack = await this.ports.request({ invite: { calleeId: peerId, media, sdpOffer: peer.localDescription?.sdp ?? "" } });
      live.id = ack.callId ?? "";
      if (this.live !== live) {
        // Hung up while the invite travelled.
        if (live.id && !ack.ended) void this.ports.request({ callId: live.id, cancel: {} }).catch(() => undefined);
        return;
      }
      if (ack.ended) return this.finish(endReasonOf(ack.ended, "outgoing", true), ack.ended.durationMs ?? 0);
      this.patch({ id: live.id });
      this.ports.memo?.set(live.id);
      this.flushIce(live);
    } catch (e) {
      if (this.live !== live) return;
      const code = codeOf(e);
      this.finish(code === "not_friends" ? "not_friends" : code === "blocked" ? "blocked" : code === "conflict" ? "in_call" : "failed", 0);
    }
  }

  /** Answers the ringing call, sending video or not. */
  async accept(video: boolean): Promise<void> {
    const live = this.live;
    const v = this.view.value;
    if (!live || v.phase !== "incoming") return;
    this.patch({ phase: "connecting", camera: video });
    let stream: MediaStream;
    try {
      stream = await this.ports.getUserMedia({ audio: true, video });
    } catch (e) {
      if (this.live !== live) return;
      // Without a microphone there is no call: decline it, say why.
      void this.ports.request({ callId: live.id, reject: { reason: "declined" } }).catch(() => undefined);
      return this.finish(mediaError(e), 0);
    }
    if (this.live !== live) return stopAll(stream);
    try {
      const peer = await this.connect(live, stream, live.offer);
      if (this.live !== live) return;
      await peer.setLocalDescription();
      const ack = await this.ports.request({ callId: live.id, accept: { sdpAnswer: peer.localDescription?.sdp ?? "" } });
      if (this.live !== live) return;
      if (ack.ended) return this.finish(endReasonOf(ack.ended, "incoming", false), ack.ended.durationMs ?? 0);
      live.answered = true;
      this.ports.memo?.set(live.id);
      this.flushIce(live);
      if (live.pendingNegotiation) this.negotiate(live);
    } catch (e) {
      if (this.live !== live) return;
      // conflict: another device (or tab) answered, or the call just ended.
      this.finish(codeOf(e) === "conflict" ? "answered_elsewhere" : "failed", 0);
    }
  }

  /** Declines the ringing call. */
  async decline(): Promise<void> {
    const live = this.live;
    if (!live || this.view.value.phase !== "incoming") return;
    this.reset();
    await this.ports.request({ callId: live.id, reject: { reason: "declined" } }).catch(() => undefined);
  }

  /** Cancels (caller, before an answer) or hangs up. */
  async hangup(): Promise<void> {
    const live = this.live;
    const v = this.view.value;
    if (!live || this.free) return;
    if (v.phase === "incoming") return this.decline();
    const op: CallRequest = v.phase === "outgoing" ? { callId: live.id, cancel: {} } : { callId: live.id, hangup: {} };
    const since = v.connectedAt;
    this.finish(v.phase === "outgoing" ? "cancelled" : "hung_up", since ? this.ports.now() - since : 0);
    if (!live.id) return; // start() cancels once the invite is answered.
    try {
      const ack = await this.ports.request(op);
      if (ack.ended && this.view.value.id === live.id && this.view.value.phase === "ended") {
        this.patch({ ended: { reason: endReasonOf(ack.ended, v.direction, true), durationMs: ack.ended.durationMs ?? 0 } });
      }
    } catch {
      // Ended already (or the server restarted): nothing left to end.
    }
  }

  /** Clears the news of an ended call. */
  dismiss(): void {
    if (this.view.value.phase === "ended") this.set(IDLE);
  }

  toggleMute(): void {
    const live = this.live;
    if (!live?.local) return;
    const muted = !this.view.value.muted;
    for (const t of live.local.getAudioTracks()) t.enabled = !muted;
    this.patch({ muted });
  }

  /** Turns the camera on (adding video to the call if it had none) or off. */
  async setCamera(on: boolean, deviceId?: string): Promise<void> {
    const live = this.live;
    if (!live?.peer || !live.local) return;
    if (!on) {
      const old = live.camera;
      live.camera = null;
      if (!live.screen) await this.sendVideo(live, null);
      if (old) {
        old.stop();
        live.local.removeTrack(old);
      }
      this.patch({ camera: false, local: live.local });
      return;
    }
    let track: MediaStreamTrack | undefined;
    try {
      const s = await this.ports.getUserMedia({ video: deviceId ? { deviceId: { exact: deviceId } } : true });
      track = s.getVideoTracks()[0];
    } catch (e) {
      throw Object.assign(new Error(mediaError(e)), { reason: mediaError(e) });
    }
    if (!track) return;
    if (this.live !== live) return track.stop();
    const old = live.camera;
    live.camera = track;
    if (old) {
      old.stop();
      live.local.removeTrack(old);
    }
    if (!live.screen) {
      live.local.addTrack(track);
      await this.sendVideo(live, track);
    }
    this.patch({ camera: true, local: live.local });
  }

  /** Switches the microphone. */
  async setMicrophone(deviceId: string): Promise<void> {
    const live = this.live;
    if (!live?.peer || !live.local) return;
    const s = await this.ports.getUserMedia({ audio: { deviceId: { exact: deviceId } } });
    const track = s.getAudioTracks()[0];
    if (!track) return;
    if (this.live !== live) return track.stop();
    track.enabled = !this.view.value.muted;
    const sender = live.peer.getTransceivers().find((t) => t.sender.track?.kind === "audio")?.sender;
    await sender?.replaceTrack(track);
    for (const old of live.local.getAudioTracks()) {
      old.stop();
      live.local.removeTrack(old);
    }
    live.local.addTrack(track);
    this.patch({ local: live.local });
  }

  /** Shares a screen (or window) in place of the camera; again to stop. */
  async toggleShare(): Promise<void> {
    const live = this.live;
    if (!live?.peer || !live.local) return;
    if (live.screen) return this.stopShare(live);
    const s = await this.ports.getDisplayMedia();
    const track = s.getVideoTracks()[0];
    if (!track) return;
    if (this.live !== live) return track.stop();
    live.screen = track;
    track.onended = () => void this.stopShare(live);
    if (live.camera) live.local.removeTrack(live.camera);
    live.local.addTrack(track);
    await this.sendVideo(live, track);
    this.patch({ sharing: true, local: live.local });
  }

  /** Inbound byte counters now (the e2e test hook reads these). */
  async inbound(): Promise<StatsSample | null> {
    const peer = this.live?.peer;
    return peer ? sampleOf(await peer.getStats(), this.ports.now()) : null;
  }

  // --- signaling in ---------------------------------------------------------

  /** A `call_event` push. Events of calls this tab does not hold are ignored. */
  onEvent(e: CallEvent): void {
    const id = e.callId ?? "";
    if (e.incoming) return this.incoming(id, e);
    const live = this.live;
    if (e.resumed && id && live?.id !== id && this.ports.memo?.get() === id) {
      // This tab held the call before a reload: its media is gone, so
      // end the call rather than leave the other side waiting on it.
      this.ports.memo.set("");
      void this.ports.request({ callId: id, hangup: {} }).catch(() => undefined);
      return;
    }
    if (!live || !id || live.id !== id) return;
    const v = this.view.value;
    if (e.ringing) {
      if (v.phase === "outgoing") this.patch({ ringing: true });
    } else if (e.accepted) {
      const sdp = e.accepted.sdpAnswer ?? "";
      this.serial(live, () => this.answered(live, sdp));
    } else if (e.answeredElsewhere) {
      if (v.phase === "incoming" || v.phase === "connecting") this.finish("answered_elsewhere", 0);
    } else if (e.ice) {
      const raw = e.ice.candidate ?? "";
      this.serial(live, () => this.remoteIce(live, raw));
    } else if (e.sdp) {
      const { kind, sdp } = e.sdp;
      if (kind && sdp) this.serial(live, () => this.remoteSdp(live, kind, sdp));
    } else if (e.peerDisconnected) {
      this.patch({ peerAway: true });
    } else if (e.peerReconnected) {
      this.patch({ peerAway: false });
    } else if (e.resumed) {
      // This connection came back within the grace: take the answer we may
      // have missed (caller), then restart ICE over the new network path.
      const sdp = e.resumed.sdpAnswer ?? "";
      this.serial(live, async () => {
        if (v.direction === "outgoing" && !live.answered && sdp) await this.answered(live, sdp);
        if (live.answered) live.peer?.restartIce();
      });
    } else if (e.ended) {
      this.finish(endReasonOf(e.ended, v.direction, false), e.ended.durationMs ?? 0);
    }
  }

  /** The connection is (re)authenticated: a call that lost its path restarts ICE. */
  onOnline(): void {
    const live = this.live;
    if (live?.answered && live.peer && live.peer.connectionState !== "connected") live.peer.restartIce();
  }

  // --- internals ------------------------------------------------------------

  private incoming(id: string, e: CallEvent): void {
    const inc = e.incoming!;
    // A peer-to-peer file session (p2p/) rides the same frames: not a call.
    if (inc.media === "file") return;
    if (this.live?.id === id) {
      // Rings again (this device came back while the call still rings).
      if (this.view.value.phase === "incoming") void this.ports.request({ callId: id, ringing: {} }).catch(() => undefined);
      return;
    }
    if (!this.free || !id) return;
    const live = this.begin(id);
    live.offer = inc.sdpOffer ?? "";
    this.set({ ...IDLE, phase: "incoming", id, peerId: String(inc.callerId ?? ""), direction: "incoming", media: inc.media === "video" ? "video" : "audio" });
    void this.ports.request({ callId: id, ringing: {} }).catch(() => undefined);
  }

  private begin(id: string): Live {
    this.teardown();
    this.quality.value = "unknown";
    this.live = {
      id, peer: null, local: null, camera: null, screen: null, offer: "", answered: false, outIce: [], inIce: [],
      chain: Promise.resolve(), makingOffer: false, ignoreOffer: false, pendingNegotiation: false,
      restartTimer: null, statsTimer: null, lastStats: null,
    };
    return this.live;
  }

  /** Creates the peer connection with the local media (and the remote offer, callee). */
  private async connect(live: Live, stream: MediaStream, offer?: string): Promise<PeerLike> {
    live.local = stream;
    live.camera = stream.getVideoTracks()[0] ?? null;
    this.patch({ local: stream });
    let iceServers: RTCIceServer[] = [];
    try {
      iceServers = await this.ports.iceServers();
    } catch {
      // Without STUN/TURN the call still works where host candidates reach.
    }
    if (this.live !== live) {
      stopAll(stream);
      throw new Error("gone");
    }
    const peer = this.ports.createPeer({ iceServers });
    live.peer = peer;
    peer.onicecandidate = (ev) => {
      if (!ev.candidate) return;
      live.outIce.push(JSON.stringify(ev.candidate.toJSON()));
      if (live.id && (live.answered || this.view.value.direction === "outgoing")) this.flushIce(live);
    };
    peer.ontrack = (ev) => {
      const remote = ev.streams[0] ?? this.view.value.remote;
      const update = () => {
        if (this.live !== live) return;
        const r = this.view.value.remote;
        this.patch({ remote: r, remoteVideo: !!r?.getVideoTracks().some((t) => t.readyState === "live" && !t.muted) });
      };
      ev.track.onmute = update;
      ev.track.onunmute = update;
      ev.track.onended = update;
      this.patch({ remote: remote ?? null });
      update();
    };
    peer.onnegotiationneeded = () => this.negotiate(live);
    peer.onconnectionstatechange = () => this.connectionChanged(live);
    if (offer !== undefined) {
      await peer.setRemoteDescription({ type: "offer", sdp: offer });
      await this.drainRemoteIce(live);
    }
    for (const t of stream.getTracks()) peer.addTrack(t, stream);
    return peer;
  }

  private async answered(live: Live, sdp: string): Promise<void> {
    const peer = live.peer;
    if (!peer || live.answered) return;
    live.answered = true;
    this.patch({ phase: "connecting" });
    await peer.setRemoteDescription({ type: "answer", sdp });
    await this.drainRemoteIce(live);
    this.flushIce(live);
    if (live.pendingNegotiation) this.negotiate(live);
  }

  private async remoteIce(live: Live, raw: string): Promise<void> {
    let c: RTCIceCandidateInit;
    try {
      c = JSON.parse(raw) as RTCIceCandidateInit;
    } catch {
      return;
    }
    if (!live.peer?.remoteDescription) {
      live.inIce.push(c);
      return;
    }
    try {
      await live.peer.addIceCandidate(c);
    } catch (e) {
      if (!live.ignoreOffer) console.warn("ferry call: a remote ICE candidate was refused", e);
    }
  }

  private async drainRemoteIce(live: Live): Promise<void> {
    const queued = live.inIce.splice(0);
    for (const c of queued) {
      try {
        await live.peer?.addIceCandidate(c);
      } catch {
        // A candidate of an older generation; the others carry on.
      }
    }
  }

  private flushIce(live: Live): void {
    if (!live.id) return;
    for (const candidate of live.outIce.splice(0)) {
      void this.ports.request({ callId: live.id, ice: { candidate } }).catch(() => undefined);
    }
  }

  /** Perfect negotiation, the offering half (negotiationneeded). */
  private negotiate(live: Live): void {
    if (!live.answered) {
      live.pendingNegotiation = true;
      return;
    }
    live.pendingNegotiation = false;
    const peer = live.peer;
    if (!peer) return;
    this.serial(live, async () => {
      if (peer.signalingState !== "stable") return;
      try {
        live.makingOffer = true;
        await peer.setLocalDescription();
        const sdp = peer.localDescription?.sdp ?? "";
        await this.ports.request({ callId: live.id, renegotiate: { kind: "offer", sdp } });
      } finally {
        live.makingOffer = false;
      }
    });
  }

  /** Perfect negotiation, the answering half: the callee is polite, the caller ignores a colliding offer. */
  private async remoteSdp(live: Live, kind: "offer" | "answer", sdp: string): Promise<void> {
    const peer = live.peer;
    if (!peer) return;
    const offer = kind === "offer";
    const collision = offer && (live.makingOffer || peer.signalingState !== "stable");
    live.ignoreOffer = this.view.value.direction === "outgoing" && collision;
    if (live.ignoreOffer) return;
    await peer.setRemoteDescription({ type: kind, sdp });
    await this.drainRemoteIce(live);
    if (offer) {
      await peer.setLocalDescription();
      await this.ports.request({ callId: live.id, renegotiate: { kind: "answer", sdp: peer.localDescription?.sdp ?? "" } });
    }
  }

  private connectionChanged(live: Live): void {
    const peer = live.peer;
    if (!peer || this.live !== live) return;
    const st = peer.connectionState;
    if (st === "connected") {
      if (live.restartTimer) clearTimeout(live.restartTimer);
      live.restartTimer = null;
      if (this.view.value.phase === "connecting") this.patch({ phase: "active", connectedAt: this.ports.now() });
      if (!live.statsTimer) live.statsTimer = setInterval(() => void this.pollStats(live), STATS_EVERY_MS);
    } else if (st === "disconnected") {
      // Often back by itself within a second or two (a Wi-Fi hiccup).
      if (!live.restartTimer) {
        live.restartTimer = setTimeout(() => {
          live.restartTimer = null;
          if (this.live === live && peer.connectionState !== "connected") peer.restartIce();
        }, DISCONNECTED_RESTART_MS);
      }
    } else if (st === "failed") {
      if (live.answered) peer.restartIce();
    }
  }

  private async pollStats(live: Live): Promise<void> {
    if (!live.peer || this.live !== live) return;
    try {
      const cur = sampleOf(await live.peer.getStats(), this.ports.now());
      this.quality.value = qualityOf(live.lastStats, cur);
      live.lastStats = cur;
    } catch {
      // closed meanwhile
    }
  }

  /** The track the video sender sends: replaced in place, added (a renegotiation) when there is no video yet. */
  private async sendVideo(live: Live, track: MediaStreamTrack | null): Promise<void> {
    const peer = live.peer!;
    const t = peer
      .getTransceivers()
      .find((x) => x.currentDirection !== "stopped" && (x.sender.track?.kind === "video" || x.receiver.track?.kind === "video"));
    if (t) {
      await t.sender.replaceTrack(track);
      if (track && (t.direction === "recvonly" || t.direction === "inactive")) {
        t.direction = t.direction === "recvonly" ? "sendrecv" : "sendonly"; // negotiationneeded follows
        t.sender.setStreams?.(live.local!);
      }
    } else if (track) {
      peer.addTrack(track, live.local!);
    }
  }

  private async stopShare(live: Live): Promise<void> {
    const screen = live.screen;
    if (!screen || this.live !== live) return;
    live.screen = null;
    screen.onended = null;
    screen.stop();
    live.local?.removeTrack(screen);
    if (live.camera) live.local?.addTrack(live.camera);
    await this.sendVideo(live, live.camera);
    this.patch({ sharing: false, local: live.local });
  }

  private serial(live: Live, work: () => Promise<void>): void {
    live.chain = live.chain.then(work).catch((e) => {
      if (this.live === live) console.warn("ferry call: signaling step failed", e);
    });
  }

  /** Ends the call on this side with a reason to show. */
  private finish(reason: EndReason, durationMs: number): void {
    const v = this.view.value;
    this.teardown();
    this.set({ ...v, phase: "ended", ringing: false, local: null, remote: null, remoteVideo: false, ended: { reason, durationMs } });
  }

  /** Ends it without news (this side declined). */
  private reset(): void {
    this.teardown();
    this.set(IDLE);
  }

  private teardown(): void {
    const live = this.live;
    this.live = null;
    if (!live) return;
    if (live.id && this.ports.memo?.get() === live.id) this.ports.memo.set("");
    if (live.restartTimer) clearTimeout(live.restartTimer);
    if (live.statsTimer) clearInterval(live.statsTimer);
    if (live.local) stopAll(live.local);
    live.camera?.stop();
    live.screen?.stop();
    if (live.peer) {
      live.peer.onicecandidate = null;
      live.peer.ontrack = null;
      live.peer.onnegotiationneeded = null;
      live.peer.onconnectionstatechange = null;
      live.peer.close();
    }
  }

  private set(v: CallView): void {
    this.view.value = v;
  }

  private patch(p: Partial<CallView>): void {
    this.view.value = { ...this.view.value, ...p };
  }
}

function stopAll(s: MediaStream): void {
  for (const t of s.getTracks()) t.stop();
}
