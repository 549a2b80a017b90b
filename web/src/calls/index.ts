// The app's one call controller, wired to the long connection, the ICE
// servers endpoint and the browser's media; plus the tiny test hook the
// e2e suite reads call stats through (`window.__ferryCall`).

import { CallController, type PeerLike } from "./controller";
import { callRequest, http, onCallEvent, onOnline } from "../state/app";

export const calls = new CallController({
  request: callRequest,
  iceServers: async () => {
    const a = await http.get<{ iceServers?: RTCIceServer[] }>("/calls/ice-servers");
    return a.iceServers ?? [];
  },
  getUserMedia: (c) => navigator.mediaDevices.getUserMedia(c),
  getDisplayMedia: () => navigator.mediaDevices.getDisplayMedia({ video: true, audio: false }),
  createPeer: (config) => new RTCPeerConnection(config) as unknown as PeerLike,
  now: () => Date.now(),
});

onCallEvent((e) => calls.onEvent(e));
onOnline(() => calls.onOnline());

declare global {
  interface Window {
    __ferryCall?: { phase(): string; inbound(): ReturnType<CallController["inbound"]> };
  }
}

window.__ferryCall = { phase: () => calls.view.value.phase, inbound: () => calls.inbound() };
