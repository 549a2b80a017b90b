// The call controller against a fake signaling port and a fake peer
// connection: states, ICE queues, perfect negotiation, endings and their
// reasons. The browser's real WebRTC is covered by e2e/calls.spec.ts.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { CallController, endReasonOf, qualityOf, type CallPorts, type PeerLike, type StatsSample } from "../src/calls/controller";
import type { CallAck, CallEvent, CallRequest } from "../src/proto";

class FakeTrack {
  enabled = true;
  muted = false;
  readyState: "live" | "ended" = "live";
  onended: (() => void) | null = null;
  onmute: (() => void) | null = null;
  onunmute: (() => void) | null = null;
  constructor(readonly kind: "audio" | "video", readonly label: string = kind) {}
  stop() {
    this.readyState = "ended";
  }
}

class FakeStream {
  tracks: FakeTrack[];
  constructor(tracks: FakeTrack[]) {
    this.tracks = [...tracks];
  }
  getTracks() {
    return this.tracks;
  }
  getAudioTracks() {
    return this.tracks.filter((t) => t.kind === "audio");
  }
  getVideoTracks() {
    return this.tracks.filter((t) => t.kind === "video");
  }
  addTrack(t: FakeTrack) {
    if (!this.tracks.includes(t)) this.tracks.push(t);
  }
  removeTrack(t: FakeTrack) {
    this.tracks = this.tracks.filter((x) => x !== t);
  }
}

class FakeTransceiver {
  direction: RTCRtpTransceiverDirection = "sendrecv";
  currentDirection: RTCRtpTransceiverDirection | null = null;
  sender: { track: FakeTrack | null; replaceTrack(t: FakeTrack | null): Promise<void>; setStreams(): void };
  receiver: { track: FakeTrack };
  constructor(
    kind: "audio" | "video",
    track: FakeTrack | null,
    private pc: FakePeer,
  ) {
    const sender = {
      track,
      replaceTrack: async (t: FakeTrack | null) => {
        sender.track = t;
      },
      setStreams: () => undefined,
    };
    this.sender = sender;
    this.receiver = { track: new FakeTrack(kind) };
    void this.pc;
  }
}

class FakePeer {
  signalingState: RTCSignalingState = "stable";
  connectionState: RTCPeerConnectionState = "new";
  remoteDescription: RTCSessionDescriptionInit | null = null;
  localDescription: RTCSessionDescriptionInit | null = null;
  onicecandidate: PeerLike["onicecandidate"] = null;
  ontrack: PeerLike["ontrack"] = null;
  onnegotiationneeded: (() => void) | null = null;
  onconnectionstatechange: (() => void) | null = null;
  transceivers: FakeTransceiver[] = [];
  added: RTCIceCandidateInit[] = [];
  restarts = 0;
  closed = false;
  offers = 0;
  log: string[] = [];
  stats: Record<string, unknown>[] = [];

  constructor(readonly config: RTCConfiguration) {}

  addTrack(track: FakeTrack) {
    const free = this.transceivers.find((t) => t.receiver.track.kind === track.kind && !t.sender.track);
    if (free) free.sender.track = track;
    else this.transceivers.push(new FakeTransceiver(track.kind, track, this));
    return {} as RTCRtpSender;
  }
  getTransceivers() {
    return this.transceivers as unknown as RTCRtpTransceiver[];
  }
  async createOffer() {
    return { type: "offer" as const, sdp: `offer-${++this.offers}` };
  }
  async setLocalDescription(d?: RTCSessionDescriptionInit) {
    const type = d?.type ?? (this.signalingState === "have-remote-offer" ? "answer" : "offer");
    const sdp = d?.sdp ?? `${type}-${++this.offers}`;
    this.localDescription = { type, sdp };
    this.signalingState = type === "offer" ? "have-local-offer" : "stable";
    this.log.push(`local ${type}`);
  }
  async setRemoteDescription(d: RTCSessionDescriptionInit) {
    if (d.type === "offer" && this.signalingState === "have-local-offer") this.log.push("rollback");
    this.remoteDescription = d;
    this.signalingState = d.type === "offer" ? "have-remote-offer" : "stable";
    if (d.type === "offer" && /video/.test(d.sdp ?? "") && !this.transceivers.some((t) => t.receiver.track.kind === "video")) {
      const t = new FakeTransceiver("video", null, this);
      t.direction = "recvonly";
      this.transceivers.push(t);
    }
    this.log.push(`remote ${d.type}`);
  }
  async addIceCandidate(c: RTCIceCandidateInit) {
    if (!this.remoteDescription) throw new Error("no remote description");
    this.added.push(c);
  }
  restartIce() {
    this.restarts++;
    this.onnegotiationneeded?.();
  }
  async getStats() {
    return new Map(this.stats.map((s, i) => [String(i), s])) as unknown as RTCStatsReport;
  }
  close() {
    this.closed = true;
  }
  // test helpers
  candidate(c: string) {
    this.onicecandidate?.({ candidate: { toJSON: () => ({ candidate: c, sdpMid: "0" }) } });
  }
  state(s: RTCPeerConnectionState) {
    this.connectionState = s;
    this.onconnectionstatechange?.();
  }
}

/** The fake server side: records requests, answers with canned acks. */
class Harness {
  sent: CallRequest[] = [];
  peers: FakePeer[] = [];
  streams: FakeStream[] = [];
  acks: ((r: CallRequest) => CallAck | Error | undefined)[] = [];
  mediaError: Error | null = null;
  memo = "";
  constraints: MediaStreamConstraints[] = [];
  clock = 1_000;
  controller: CallController;

  constructor() {
    const ports: CallPorts = {
      request: async (r) => {
        this.sent.push(r);
        for (const a of this.acks) {
          const x = a(r);
          if (x instanceof Error) throw x;
          if (x) return x;
        }
        return { callId: r.callId || "c1" };
      },
      iceServers: async () => [{ urls: "stun:127.0.0.1:3478" }],
      getUserMedia: async (c) => {
        this.constraints.push(c);
        if (this.mediaError) throw this.mediaError;
        const tracks: FakeTrack[] = [];
        if (c.audio) tracks.push(new FakeTrack("audio"));
        if (c.video) tracks.push(new FakeTrack("video", "camera"));
        const s = new FakeStream(tracks);
        this.streams.push(s);
        return s as unknown as MediaStream;
      },
      getDisplayMedia: async () => new FakeStream([new FakeTrack("video", "screen")]) as unknown as MediaStream,
      createPeer: (config) => {
        const p = new FakePeer(config);
        this.peers.push(p);
        return p as unknown as PeerLike;
      },
      now: () => this.clock,
      memo: { get: () => this.memo, set: (id) => void (this.memo = id) },
    };
    this.controller = new CallController(ports);
  }

  get peer(): FakePeer {
    return this.peers[this.peers.length - 1]!;
  }
  get view() {
    return this.controller.view.value;
  }
  event(e: CallEvent) {
    this.controller.onEvent(e);
  }
  ops(): string[] {
    return this.sent.map((r) => Object.keys(r).find((k) => k !== "callId")!);
  }
}

const flush = () => new Promise((r) => setTimeout(r, 0));

function domError(name: string): Error {
  return Object.assign(new Error(name), { name });
}

describe("placing a call", () => {
  let h: Harness;
  beforeEach(() => {
    h = new Harness();
  });

  it("sends the offer with the invite, trickles ICE once the id is known, connects on the answer", async () => {
    const started = h.controller.start("2", "video");
    expect(h.view.phase).toBe("outgoing");
    await started;
    expect(h.peer.config.iceServers).toEqual([{ urls: "stun:127.0.0.1:3478" }]);
    expect(h.sent[0]!.invite).toEqual({ calleeId: "2", media: "video", sdpOffer: "offer-1" });
    expect(h.view.id).toBe("c1");
    expect(h.view.local?.getVideoTracks()).toHaveLength(1);

    h.peer.candidate("cand-a");
    await flush();
    expect(h.sent.at(-1)).toEqual({ callId: "c1", ice: { candidate: JSON.stringify({ candidate: "cand-a", sdpMid: "0" }) } });

    h.event({ callId: "c1", ringing: {} });
    expect(h.view.ringing).toBe(true);

    // A remote candidate before the answer waits for the remote description.
    h.event({ callId: "c1", ice: { candidate: JSON.stringify({ candidate: "remote-1" }) } });
    await flush();
    expect(h.peer.added).toEqual([]);
    h.event({ callId: "c1", accepted: { sdpAnswer: "answer-x" } });
    await flush();
    expect(h.peer.remoteDescription).toEqual({ type: "answer", sdp: "answer-x" });
    expect(h.peer.added).toEqual([{ candidate: "remote-1" }]);
    expect(h.view.phase).toBe("connecting");

    h.peer.state("connected");
    expect(h.view.phase).toBe("active");
    expect(h.view.connectedAt).toBe(1_000);
  });

  it("queues local candidates gathered before the invite is answered", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const original = h.controller["ports"].request;
    h.controller["ports"].request = async (r) => {
      if (r.invite) {
        h.peer.candidate("early");
        await gate;
      }
      return original(r);
    };
    const started = h.controller.start("2", "audio");
    await flush();
    await flush();
    expect(h.sent.filter((r) => r.ice)).toHaveLength(0);
    release();
    await started;
    expect(h.sent.filter((r) => r.ice).map((r) => r.callId)).toEqual(["c1"]);
  });

  it("ends as busy when the invite's answer carries busy", async () => {
    h.acks.push((r) => (r.invite ? { callId: "c9", ended: { outcome: "busy", reason: "busy" } } : undefined));
    await h.controller.start("2", "audio");
    expect(h.view.phase).toBe("ended");
    expect(h.view.ended?.reason).toBe("busy");
    expect(h.peer.closed).toBe(true);
    expect(h.streams[0]!.tracks.every((t) => t.readyState === "ended")).toBe(true);
  });

  it("says why the server refused the invite", async () => {
    h.acks.push((r) => (r.invite ? Object.assign(new Error("no"), { code: "not_friends" }) : undefined));
    await h.controller.start("2", "audio");
    expect(h.view.ended?.reason).toBe("not_friends");
  });

  it("a blocked camera or microphone ends before anything is sent", async () => {
    h.mediaError = domError("NotAllowedError");
    await h.controller.start("2", "video");
    expect(h.view.phase).toBe("ended");
    expect(h.view.ended?.reason).toBe("media_blocked");
    expect(h.sent).toEqual([]);
  });

  it("hanging up before the invite is answered cancels once the id arrives", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const original = h.controller["ports"].request;
    h.controller["ports"].request = async (r) => {
      if (r.invite) await gate;
      return original(r);
    };
    const started = h.controller.start("2", "audio");
    await flush();
    await flush();
    await h.controller.hangup();
    expect(h.view.phase).toBe("ended");
    expect(h.view.ended?.reason).toBe("cancelled");
    release();
    await started;
    expect(h.ops()).toEqual(["invite", "cancel"]);
    expect(h.sent[1]!.callId).toBe("c1");
  });

  it("cancel while ringing, and the server's no-answer, read as such", async () => {
    await h.controller.start("2", "audio");
    h.acks.push((r) => (r.cancel ? { callId: "c1", ended: { outcome: "cancelled", reason: "cancelled" } } : undefined));
    await h.controller.hangup();
    expect(h.ops()).toEqual(["invite", "cancel"]);
    expect(h.view.ended?.reason).toBe("cancelled");

    h.controller.dismiss();
    expect(h.view.phase).toBe("idle");
    await h.controller.start("2", "audio");
    h.event({ callId: "c1", ended: { outcome: "missed", reason: "no_answer" } });
    expect(h.view.ended?.reason).toBe("no_answer");
  });

  it("ignores events of calls it does not hold", async () => {
    await h.controller.start("2", "audio");
    h.event({ callId: "other", ended: { outcome: "completed", reason: "hung_up" } });
    h.event({ callId: "other", accepted: { sdpAnswer: "x" } });
    await flush();
    expect(h.view.phase).toBe("outgoing");
    expect(h.peer.remoteDescription).toBeNull();
  });
});

describe("answering a call", () => {
  let h: Harness;
  beforeEach(() => {
    h = new Harness();
  });

  it("rings, then answers with the offer's answer and sends its candidates only after the accept", async () => {
    h.event({ callId: "c7", incoming: { callerId: "1", media: "video", sdpOffer: "offer video" } });
    expect(h.view).toMatchObject({ phase: "incoming", id: "c7", peerId: "1", media: "video", direction: "incoming" });
    expect(h.sent).toEqual([{ callId: "c7", ringing: {} }]);
    h.event({ callId: "c7", ice: { candidate: JSON.stringify({ candidate: "caller-1" }) } });

    let accepted!: () => void;
    const gate = new Promise<void>((r) => (accepted = r));
    const original = h.controller["ports"].request;
    h.controller["ports"].request = async (r) => {
      if (r.accept) {
        h.peer.candidate("mine-early");
        await flush();
        expect(h.sent.filter((x) => x.ice)).toHaveLength(0);
        await gate;
      }
      return original(r);
    };
    const accepting = h.controller.accept(true);
    expect(h.view.phase).toBe("connecting");
    await flush();
    await flush();
    await flush();
    accepted();
    await accepting;
    expect(h.peer.remoteDescription).toEqual({ type: "offer", sdp: "offer video" });
    expect(h.peer.added).toEqual([{ candidate: "caller-1" }]);
    expect(h.sent.find((r) => r.accept)!.accept!.sdpAnswer).toMatch(/^answer/);
    expect(h.sent.filter((r) => r.ice)).toHaveLength(1);
    h.peer.state("connected");
    expect(h.view.phase).toBe("active");
  });

  it("leaves a peer-to-peer file session alone: no ringing, no busy, the call goes on", async () => {
    h.event({ callId: "f1", incoming: { callerId: "1", media: "file", sdpOffer: "o" } });
    expect(h.view.phase).toBe("idle");
    expect(h.sent).toEqual([]);
    h.event({ callId: "c7", incoming: { callerId: "1", media: "audio", sdpOffer: "o" } });
    h.event({ callId: "f2", incoming: { callerId: "1", media: "file", sdpOffer: "o" } });
    expect(h.view).toMatchObject({ phase: "incoming", id: "c7" });
    expect(h.sent).toEqual([{ callId: "c7", ringing: {} }]);
  });

  it("declining goes back to idle at once", async () => {
    h.event({ callId: "c7", incoming: { callerId: "1", media: "audio", sdpOffer: "o" } });
    await h.controller.decline();
    expect(h.view.phase).toBe("idle");
    expect(h.sent.at(-1)).toEqual({ callId: "c7", reject: { reason: "declined" } });
  });

  it("a blocked microphone declines the call and says why", async () => {
    h.event({ callId: "c7", incoming: { callerId: "1", media: "audio", sdpOffer: "o" } });
    h.mediaError = domError("NotAllowedError");
    await h.controller.accept(false);
    expect(h.view.ended?.reason).toBe("media_blocked");
    expect(h.sent.at(-1)).toEqual({ callId: "c7", reject: { reason: "declined" } });
  });

  it("stops ringing when another device answers, or declines", () => {
    h.event({ callId: "c7", incoming: { callerId: "1", media: "audio", sdpOffer: "o" } });
    h.event({ callId: "c7", answeredElsewhere: {} });
    expect(h.view.ended?.reason).toBe("answered_elsewhere");

    h.event({ callId: "c8", incoming: { callerId: "1", media: "audio", sdpOffer: "o" } });
    expect(h.view.phase).toBe("incoming");
    h.event({ callId: "c8", ended: { outcome: "declined", reason: "declined" } });
    expect(h.view.ended?.reason).toBe("ended_elsewhere");

    h.event({ callId: "c9", incoming: { callerId: "1", media: "audio", sdpOffer: "o" } });
    h.event({ callId: "c9", ended: { outcome: "cancelled", reason: "cancelled" } });
    expect(h.view.ended?.reason).toBe("cancelled");
  });

  it("an accept refused as conflict means another device was first", async () => {
    h.event({ callId: "c7", incoming: { callerId: "1", media: "audio", sdpOffer: "o" } });
    h.acks.push((r) => (r.accept ? Object.assign(new Error("x"), { code: "conflict" }) : undefined));
    await h.controller.accept(false);
    expect(h.view.ended?.reason).toBe("answered_elsewhere");
    expect(h.peer.closed).toBe(true);
  });
});

describe("during a call", () => {
  let h: Harness;
  beforeEach(async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"] });
    h = new Harness();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function settle() {
    for (let i = 0; i < 6; i++) await Promise.resolve();
  }

  async function answeredCall(direction: "outgoing" | "incoming", media: "audio" | "video" = "audio") {
    if (direction === "outgoing") {
      await h.controller.start("2", media);
      h.event({ callId: "c1", accepted: { sdpAnswer: "a" } });
    } else {
      h.event({ callId: "c1", incoming: { callerId: "2", media, sdpOffer: `offer ${media}` } });
      await h.controller.accept(media === "video");
    }
    await settle();
    h.peer.state("connected");
  }

  it("turning the camera on in an audio call renegotiates; the answer comes back", async () => {
    await answeredCall("outgoing");
    await h.controller.setCamera(true);
    await settle();
    expect(h.view.camera).toBe(true);
    expect(h.peer.transceivers.some((t) => t.sender.track?.kind === "video")).toBe(true);
    // addTrack of a fresh kind: the browser asks for a negotiation.
    h.peer.onnegotiationneeded?.();
    await settle();
    const offer = h.sent.at(-1)!;
    expect(offer.renegotiate?.kind).toBe("offer");
    h.event({ callId: "c1", sdp: { kind: "answer", sdp: "answer-2" } });
    await settle();
    expect(h.peer.remoteDescription).toEqual({ type: "answer", sdp: "answer-2" });
    expect(h.peer.signalingState).toBe("stable");

    // Off keeps the m-line (no renegotiation), sending nothing.
    const before = h.sent.length;
    await h.controller.setCamera(false);
    expect(h.peer.transceivers.find((t) => t.receiver.track.kind === "video")!.sender.track).toBeNull();
    expect(h.sent.length).toBe(before);
  });

  it("the polite callee answers the caller's offer; the impolite caller ignores a colliding one", async () => {
    await answeredCall("incoming");
    h.event({ callId: "c1", sdp: { kind: "offer", sdp: "reoffer" } });
    await settle();
    expect(h.sent.at(-1)!.renegotiate?.kind).toBe("answer");

    const c = new Harness();
    h = c;
    await answeredCall("outgoing");
    // The caller is making an offer of its own when the callee's arrives.
    h.peer.restartIce();
    await settle();
    expect(h.peer.signalingState).toBe("have-local-offer");
    const sentBefore = h.sent.length;
    h.event({ callId: "c1", sdp: { kind: "offer", sdp: "glare" } });
    await settle();
    expect(h.peer.remoteDescription?.sdp).not.toBe("glare");
    expect(h.sent.length).toBe(sentBefore);
  });

  it("restarts ICE when the connection fails, after a while disconnected, and when resumed", async () => {
    await answeredCall("outgoing");
    h.peer.state("failed");
    expect(h.peer.restarts).toBe(1);
    await settle();
    expect(h.sent.at(-1)!.renegotiate?.kind).toBe("offer");
    h.event({ callId: "c1", sdp: { kind: "answer", sdp: "r1" } });
    await settle();

    h.peer.state("disconnected");
    expect(h.peer.restarts).toBe(1);
    vi.advanceTimersByTime(3_000);
    expect(h.peer.restarts).toBe(2);
    h.event({ callId: "c1", sdp: { kind: "answer", sdp: "r2" } });
    await settle();

    h.event({ callId: "c1", resumed: {} });
    await settle();
    expect(h.peer.restarts).toBe(3);
  });

  it("tells when the other side drops and comes back, and ends with the server's reason", async () => {
    await answeredCall("incoming");
    h.event({ callId: "c1", peerDisconnected: {} });
    expect(h.view.peerAway).toBe(true);
    h.event({ callId: "c1", peerReconnected: {} });
    expect(h.view.peerAway).toBe(false);
    h.event({ callId: "c1", ended: { outcome: "completed", reason: "connection_lost", durationMs: 5_000 } });
    expect(h.view.ended).toEqual({ reason: "connection_lost", durationMs: 5_000 });
    expect(h.peer.closed).toBe(true);
  });

  it("mutes the microphone, shares the screen in place of the camera and back", async () => {
    await answeredCall("outgoing", "video");
    h.controller.toggleMute();
    expect(h.view.muted).toBe(true);
    expect(h.streams[0]!.getAudioTracks()[0]!.enabled).toBe(false);

    const video = h.peer.transceivers.find((t) => t.receiver.track.kind === "video")!;
    const camera = video.sender.track!;
    await h.controller.toggleShare();
    expect(h.view.sharing).toBe(true);
    expect(video.sender.track?.label).toBe("screen");
    await h.controller.toggleShare();
    expect(video.sender.track).toBe(camera);
    expect(h.view.sharing).toBe(false);
  });

  it("switches devices in place: the exact device asked for, the sender's track replaced, the old one stopped", async () => {
    await answeredCall("outgoing", "video");
    const audio = h.peer.transceivers.find((t) => t.receiver.track.kind === "audio")!;
    const oldMic = audio.sender.track!;
    h.controller.toggleMute();
    await h.controller.setMicrophone("mic-2");
    expect(h.constraints.at(-1)).toEqual({ audio: { deviceId: { exact: "mic-2" } } });
    expect(audio.sender.track).not.toBe(oldMic);
    expect(audio.sender.track!.enabled).toBe(false); // still muted
    expect(oldMic.readyState).toBe("ended");
    expect(h.view.local!.getAudioTracks()).toEqual([audio.sender.track]);

    const video = h.peer.transceivers.find((t) => t.receiver.track.kind === "video")!;
    const oldCam = video.sender.track!;
    await h.controller.setCamera(true, "cam-2");
    expect(h.constraints.at(-1)).toEqual({ video: { deviceId: { exact: "cam-2" } } });
    expect(video.sender.track).not.toBe(oldCam);
    expect(oldCam.readyState).toBe("ended");
    expect(h.peer.transceivers).toHaveLength(2);
  });

  it("hanging up sends hangup and keeps the server's duration", async () => {
    await answeredCall("outgoing");
    h.acks.push((r) => (r.hangup ? { callId: "c1", ended: { outcome: "completed", reason: "hung_up", durationMs: 61_000 } } : undefined));
    await h.controller.hangup();
    expect(h.ops().at(-1)).toBe("hangup");
    expect(h.view.ended).toEqual({ reason: "hung_up", durationMs: 61_000 });
  });
});

describe("a reload mid-call", () => {
  it("notes the held call, and a reloaded tab that is told the call resumed hangs it up", async () => {
    const h = new Harness();
    await h.controller.start("2", "audio");
    expect(h.memo).toBe("c1");

    // The page reloads: a new controller, the same tab storage.
    const after = new Harness();
    after.memo = h.memo;
    after.event({ callId: "c1", resumed: {} });
    expect(after.sent).toEqual([{ callId: "c1", hangup: {} }]);
    expect(after.memo).toBe("");
    expect(after.view.phase).toBe("idle");

    // Another tab (its own storage) leaves the call alone.
    const other = new Harness();
    other.event({ callId: "c1", resumed: {} });
    expect(other.sent).toEqual([]);

    // Ended normally, nothing is noted.
    h.event({ callId: "c1", ended: { outcome: "cancelled", reason: "cancelled" } });
    expect(h.memo).toBe("");
  });
});

describe("reasons and quality", () => {
  it("reads the server's endings per side", () => {
    expect(endReasonOf({ reason: "no_answer" }, "outgoing", false)).toBe("no_answer");
    expect(endReasonOf({ reason: "no_answer" }, "incoming", false)).toBe("missed");
    expect(endReasonOf({ reason: "declined" }, "outgoing", false)).toBe("declined");
    expect(endReasonOf({ reason: "declined" }, "incoming", false)).toBe("ended_elsewhere");
    expect(endReasonOf({ reason: "busy" }, "outgoing", true)).toBe("busy");
  });

  it("grades loss, round trip and bitrate", () => {
    const s = (at: number, bytes: number, packets: number, lost: number, rttMs: number | null): StatsSample => ({
      at, audioBytesIn: bytes, videoBytesIn: 0, packetsIn: packets, packetsLost: lost, rttMs,
    });
    expect(qualityOf(null, s(0, 0, 0, 0, 10))).toBe("unknown");
    expect(qualityOf(s(0, 0, 0, 0, null), s(2000, 100_000, 200, 0, 20))).toBe("good");
    expect(qualityOf(s(0, 0, 0, 0, null), s(2000, 100_000, 200, 10, 20))).toBe("fair");
    expect(qualityOf(s(0, 0, 0, 0, null), s(2000, 100_000, 200, 50, 20))).toBe("poor");
    expect(qualityOf(s(0, 0, 0, 0, null), s(2000, 100_000, 200, 0, 400))).toBe("fair");
    expect(qualityOf(s(0, 0, 100, 0, null), s(2000, 0, 100, 0, 20))).toBe("poor");
  });
});
