// The call screens: the call buttons of a direct chat's header, the
// incoming-call screen (with a WebAudio ring and, when the tab is hidden,
// a browser notification), the in-call view (remote video large, the local
// preview small, mute, camera, screen share, devices, timer, connection
// quality, picture in picture, hang up), the bar a minimised call leaves
// while browsing other chats, and the news of how a call ended.

import { signal } from "@preact/signals";
import { useEffect, useRef, useState } from "preact/hooks";

import { calls } from "../calls";
import type { CallView, EndReason } from "../calls/controller";
import { playTone, stopTone } from "../calls/ringtone";
import { formatDuration, t, type Key } from "../i18n";
import { displayName, user } from "../state/app";
import { Avatar } from "./Avatar";
import { Icon } from "./icons";
import "./call.css";

/** The in-call view is folded into a bar (browsing other chats). */
const minimised = signal(false);

/** Endings the user must read and close; the others fade after a while. */
const STICKY: EndReason[] = ["media_blocked", "media_missing", "not_friends", "blocked", "in_call", "failed"];
const ENDED_SHOWN_MS = 6_000;

export function CallButtons(p: { peerId: string }) {
  const busy = !calls.free;
  const start = (media: "audio" | "video") => {
    minimised.value = false;
    void calls.start(p.peerId, media);
  };
  return (
    <>
      <button class="icon" type="button" data-action="call-audio" aria-label={t("calls.start.audio")} title={busy ? t("calls.busyHere") : t("calls.start.audio")} disabled={busy} onClick={() => start("audio")}>
        <Icon name="phone" size={20} />
      </button>
      <button class="icon" type="button" data-action="call-video" aria-label={t("calls.start.video")} title={busy ? t("calls.busyHere") : t("calls.start.video")} disabled={busy} onClick={() => start("video")}>
        <Icon name="video" size={20} />
      </button>
    </>
  );
}

/** Everything a call puts on screen; rendered once by the shell. */
export function CallLayer() {
  const v = calls.view.value;
  useCallSounds(v);
  useCallNotification(v);
  useEffect(() => {
    if (v.phase === "idle") minimised.value = false;
  }, [v.phase]);
  // Logging out ends a call in progress (the shell, and this, unmount).
  useEffect(() => () => void calls.hangup(), []);
  if (v.phase === "idle") return null;
  if (v.phase === "incoming") return <Incoming v={v} />;
  if (v.phase === "ended") return <Ended v={v} />;
  return (
    <>
      {minimised.value ? <CallBar v={v} /> : null}
      <InCall v={v} hidden={minimised.value} />
    </>
  );
}

function useCallSounds(v: CallView): void {
  const tone = v.phase === "incoming" ? "ring" : v.phase === "outgoing" && v.ringing ? "ringback" : null;
  useEffect(() => {
    if (tone) playTone(tone);
    return () => stopTone();
  }, [tone]);
}

function useCallNotification(v: CallView): void {
  const ringing = v.phase === "incoming" ? v.id : "";
  useEffect(() => {
    if (!ringing || typeof Notification === "undefined" || Notification.permission !== "granted") return;
    if (document.visibilityState === "visible" && document.hasFocus()) return;
    const n = new Notification(t("calls.notify.title", { name: displayName(v.peerId) }), {
      body: t(v.media === "video" ? "calls.incoming.video" : "calls.incoming.audio"),
      tag: `call-${ringing}`,
      requireInteraction: true,
    });
    n.onclick = () => {
      window.focus();
      n.close();
    };
    return () => n.close();
  }, [ringing]);
}

function Incoming(p: { v: CallView }) {
  const v = p.v;
  const name = displayName(v.peerId);
  const first = useRef<HTMLButtonElement>(null);
  useEffect(() => first.current?.focus(), []);
  return (
    <div class="call-overlay">
      <div class="call-card incoming" role="alertdialog" aria-modal="true" aria-labelledby="call-in-name" aria-describedby="call-in-kind" data-call="incoming">
        <Avatar id={v.peerId} name={name} src={user(v.peerId)?.avatar} size={96} />
        <h2 id="call-in-name">{name}</h2>
        <p id="call-in-kind" class="call-status">{t(v.media === "video" ? "calls.incoming.video" : "calls.incoming.audio")}</p>
        <div class="call-actions">
          <RoundButton label={t("calls.decline")} icon="hangup" tone="end" action="decline" onClick={() => void calls.decline()} />
          <RoundButton label={t("calls.accept.audio")} icon="phone" tone="go" action="accept-audio" onClick={() => void calls.accept(false)} buttonRef={v.media === "audio" ? first : undefined} />
          <RoundButton label={t("calls.accept.video")} icon="video" tone="go" action="accept-video" onClick={() => void calls.accept(true)} buttonRef={v.media === "video" ? first : undefined} />
        </div>
      </div>
    </div>
  );
}

function RoundButton(p: {
  label: string;
  icon: Parameters<typeof Icon>[0]["name"];
  tone?: "go" | "end" | "plain";
  action: string;
  /** Shown lit: a setting away from the usual (muted, camera off, sharing). */
  lit?: boolean;
  expanded?: boolean;
  disabled?: boolean;
  onClick: () => void;
  buttonRef?: preact.Ref<HTMLButtonElement> | undefined;
}) {
  return (
    <span class="round-wrap">
      <button
        ref={p.buttonRef}
        type="button"
        class={`round ${p.tone ?? "plain"}${p.lit ? " lit" : ""}`}
        aria-label={p.label}
        aria-expanded={p.expanded}
        title={p.label}
        data-action={p.action}
        disabled={p.disabled}
        onClick={p.onClick}
      >
        <Icon name={p.icon} size={24} />
      </button>
      <span class="round-label" aria-hidden="true">{p.label}</span>
    </span>
  );
}

function statusOf(v: CallView): string {
  if (v.phase === "outgoing") return v.ringing ? t("calls.ringing") : t("calls.calling");
  if (v.phase === "connecting") return t("calls.connecting");
  return "";
}

function InCall(p: { v: CallView; hidden: boolean }) {
  const v = p.v;
  const name = displayName(v.peerId);
  const remoteVideo = useRef<HTMLVideoElement>(null);
  const remoteAudio = useRef<HTMLAudioElement>(null);
  const localVideo = useRef<HTMLVideoElement>(null);
  const [devices, setDevices] = useState(false);
  const [error, setError] = useState("");
  const hangup = useRef<HTMLButtonElement>(null);
  // Keyboard users land in the call (and back in it after the bar).
  useEffect(() => {
    if (!p.hidden) hangup.current?.focus();
  }, [p.hidden]);
  useStream(remoteVideo, v.remote);
  useStream(remoteAudio, v.remote);
  useStream(localVideo, v.local);
  const hasLocalVideo = !!v.local?.getVideoTracks().length;
  const answered = v.phase === "connecting" || v.phase === "active";
  const canShare = typeof navigator !== "undefined" && !!navigator.mediaDevices && "getDisplayMedia" in navigator.mediaDevices;
  const canPip = typeof document !== "undefined" && !!document.pictureInPictureEnabled;
  const run = (work: Promise<void>) => {
    setError("");
    work.catch((e: Error & { reason?: string }) => {
      if (e?.name === "NotAllowedError" && e.message?.includes("display")) return; // the share picker was closed
      setError(e?.reason ? t(`calls.ended.${e.reason}` as Key) : t("calls.error.device"));
    });
  };
  return (
    <div class={`call-view${v.remoteVideo ? " has-video" : ""}`} hidden={p.hidden} role="dialog" aria-modal="true" aria-label={t("calls.with", { name })} data-call={v.phase}>
      <audio ref={remoteAudio} autoPlay />
      <div class="call-stage">
        <video ref={remoteVideo} class="remote-video" autoPlay playsInline muted hidden={!v.remoteVideo} />
        {v.remoteVideo ? null : (
          <div class="call-peer">
            <Avatar id={v.peerId} name={name} src={user(v.peerId)?.avatar} size={112} />
          </div>
        )}
        <header class="call-top">
          <h2>{name}</h2>
          <p class="call-status" aria-live="polite">
            {v.phase === "active" ? <Timer since={v.connectedAt} /> : statusOf(v)}
            {v.phase === "active" ? <QualityBadge /> : null}
          </p>
          {v.peerAway ? <p class="call-warning" role="status">{t("calls.peerAway", { name })}</p> : null}
          {error ? <p class="call-warning" role="alert">{error}</p> : null}
        </header>
        {hasLocalVideo ? <video ref={localVideo} class={`local-video${v.sharing ? " screen" : ""}`} autoPlay playsInline muted aria-label={t("calls.you")} /> : null}
      </div>
      {devices ? <DevicePicker onClose={() => setDevices(false)} onError={setError} /> : null}
      <div class="call-controls" role="toolbar" aria-label={t("calls.with", { name })}>
        <RoundButton label={v.muted ? t("calls.unmute") : t("calls.mute")} icon={v.muted ? "micOff" : "mic"} action="mute" lit={v.muted} onClick={() => calls.toggleMute()} />
        <RoundButton
          label={v.camera ? t("calls.cameraOff") : t("calls.cameraOn")}
          icon={v.camera ? "video" : "videoOff"}
          action="camera"
          lit={!v.camera}
          disabled={!answered && v.phase !== "outgoing"}
          onClick={() => run(calls.setCamera(!v.camera))}
        />
        {canShare ? (
          <RoundButton label={v.sharing ? t("calls.stopShare") : t("calls.share")} icon="screen" action="share" lit={v.sharing} disabled={!answered} onClick={() => run(calls.toggleShare())} />
        ) : null}
        <RoundButton label={t("calls.devices")} icon="settings" action="devices" expanded={devices} onClick={() => setDevices(!devices)} />
        {canPip && v.remoteVideo ? (
          <RoundButton label={t("calls.pip")} icon="pip" action="pip" onClick={() => void remoteVideo.current?.requestPictureInPicture().catch(() => undefined)} />
        ) : null}
        <RoundButton label={t("calls.minimise")} icon="minimise" action="minimise" onClick={() => (minimised.value = true)} />
        <RoundButton label={v.phase === "outgoing" ? t("calls.cancel") : t("calls.hangup")} icon="hangup" tone="end" action="hangup" onClick={() => void calls.hangup()} buttonRef={hangup} />
      </div>
    </div>
  );
}

function useStream(ref: { current: HTMLMediaElement | null }, stream: MediaStream | null): void {
  useEffect(() => {
    const el = ref.current;
    if (el && el.srcObject !== stream) {
      el.srcObject = stream;
      if (stream) void el.play().catch(() => undefined);
    }
  });
}

function Timer(p: { since: number }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), 1_000);
    return () => clearInterval(id);
  }, []);
  return <span class="call-timer" data-call-timer>{formatDuration(Math.max(0, now - p.since))}</span>;
}

function QualityBadge() {
  const q = calls.quality.value;
  const label = t(`calls.quality.${q}` as Key);
  return (
    <span class={`quality q-${q}`} role="img" aria-label={label} title={label} data-quality={q}>
      <i />
      <i />
      <i />
    </span>
  );
}

function DevicePicker(p: { onClose: () => void; onError: (s: string) => void }) {
  const [list, setList] = useState<MediaDeviceInfo[]>([]);
  useEffect(() => {
    void navigator.mediaDevices?.enumerateDevices().then(setList, () => setList([]));
  }, []);
  const local = calls.view.value.local;
  const mic = local?.getAudioTracks()[0]?.getSettings().deviceId ?? "";
  const cam = local?.getVideoTracks()[0]?.getSettings().deviceId ?? "";
  const pick = (work: Promise<void>) => work.catch(() => p.onError(t("calls.error.device")));
  const options = (kind: MediaDeviceKind) =>
    list.filter((d) => d.kind === kind).map((d, i) => (
      <option key={d.deviceId} value={d.deviceId}>
        {d.label || `${t(kind === "audioinput" ? "calls.microphone" : "calls.camera")} ${i + 1}`}
      </option>
    ));
  return (
    <div class="call-devices" role="group" aria-label={t("calls.devices")} onKeyDown={(e) => e.key === "Escape" && p.onClose()}>
      <label>
        {t("calls.microphone")}
        <select value={mic} onChange={(e) => pick(calls.setMicrophone((e.target as HTMLSelectElement).value))}>
          {options("audioinput")}
        </select>
      </label>
      <label>
        {t("calls.camera")}
        <select value={cam} onChange={(e) => pick(calls.setCamera(true, (e.target as HTMLSelectElement).value))}>
          {options("videoinput")}
        </select>
      </label>
      <button type="button" onClick={p.onClose}>
        {t("calls.close")}
      </button>
    </div>
  );
}

function CallBar(p: { v: CallView }) {
  const v = p.v;
  const name = displayName(v.peerId);
  const restore = useRef<HTMLButtonElement>(null);
  useEffect(() => restore.current?.focus(), []);
  return (
    <div class="call-bar" role="region" aria-label={t("calls.with", { name })} data-call="bar">
      <Icon name="phone" size={16} />
      <span class="call-bar-name">{t("calls.with", { name })}</span>
      <span class="call-bar-status">{v.phase === "active" ? <Timer since={v.connectedAt} /> : statusOf(v)}</span>
      {v.phase === "active" ? <QualityBadge /> : null}
      <button ref={restore} type="button" class="primary" data-action="restore" onClick={() => (minimised.value = false)}>
        {t("calls.restore")}
      </button>
      <button type="button" class="end" data-action="hangup-bar" aria-label={v.phase === "outgoing" ? t("calls.cancel") : t("calls.hangup")} onClick={() => void calls.hangup()}>
        <Icon name="hangup" size={18} />
      </button>
    </div>
  );
}

function Ended(p: { v: CallView }) {
  const v = p.v;
  const reason = v.ended?.reason ?? "hung_up";
  const sticky = STICKY.includes(reason);
  const name = displayName(v.peerId);
  const close = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (sticky) {
      close.current?.focus();
      return;
    }
    const id = setTimeout(() => calls.dismiss(), ENDED_SHOWN_MS);
    return () => clearTimeout(id);
  }, [v]);
  const duration = v.ended?.durationMs ? formatDuration(v.ended.durationMs) : "";
  return (
    <div class="call-toast" role={sticky ? "alert" : "status"} data-call="ended" data-reason={reason}>
      <Avatar id={v.peerId} name={name} src={user(v.peerId)?.avatar} size={36} />
      <div class="call-toast-text">
        <strong>{name}</strong>
        <span class="call-ended-reason">
          {t(`calls.ended.${reason}` as Key, { name })}
          {duration && reason === "hung_up" ? ` · ${duration}` : ""}
        </span>
      </div>
      <button ref={close} type="button" class="icon" aria-label={t("calls.close")} title={t("calls.close")} onClick={() => calls.dismiss()}>
        <Icon name="close" size={18} />
      </button>
    </div>
  );
}
