// The app's one call controller, wired to the long connection, the ICE
// servers endpoint and the browser's media; plus the tiny test hook the
// e2e suite reads call stats through (`window.__ferryCall`).

import { CallController, type CallPorts, type PeerLike } from "./controller";
import { callRequest, http, onCallEvent, onOnline } from "../state/app";

const MEMO_KEY = "ferry.call";
let memo: NonNullable<CallPorts["memo"]>;

export const calls = new CallController({
  request: callRequest,
  iceServers: () => http.iceServers(),
  getUserMedia: (c) => navigator.mediaDevices.getUserMedia(c),
  getDisplayMedia: () => navigator.mediaDevices.getDisplayMedia({ video: true, audio: false }),
  createPeer: (config) => new RTCPeerConnection(config) as unknown as PeerLike,
  now: () => Date.now(),
  memo: (memo = {
    get: () => {
      try {
        return sessionStorage.getItem(MEMO_KEY) ?? "";
      } catch {
        return "";
      }
    },
    set: (id) => {
      try {
        if (id) sessionStorage.setItem(MEMO_KEY, id);
        else sessionStorage.removeItem(MEMO_KEY);
      } catch {
        // no storage: a reload mid-call leaves the call to the server's grace
      }
    },
  }),
});

onCallEvent((e) => calls.onEvent(e));
onOnline(() => calls.onOnline());
// Closing or reloading the tab ends its call at once (the frame leaves
// before the page does). The note of the call stays: should the frame not
// have made it, the reloaded tab ends the call on `resumed`.
// A call that only rings here is left alone: it rings again after the
// reload, and on the callee's other devices meanwhile.
window.addEventListener("beforeunload", () => {
  if (calls.view.value.phase === "incoming") return;
  const held = memo.get();
  void calls.hangup();
  if (held) memo.set(held);
});

declare global {
  interface Window {
    __ferryCall?: { phase(): string; inbound(): ReturnType<CallController["inbound"]> };
  }
}

window.__ferryCall = { phase: () => calls.view.value.phase, inbound: () => calls.inbound() };
