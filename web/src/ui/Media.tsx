// Media in messages: images from their thumbnails with a full-size viewer,
// file cards with a download link, voice notes and videos with players
// (the browser fetches ranges of the signed URL), upload bubbles with
// progress, and the voice recorder.

import { signal } from "@preact/signals";
import { useEffect, useRef, useState } from "preact/hooks";

import { formatBytes, formatDuration, t } from "../i18n";
import { num, type FileRef, type MessageContent } from "../proto";
import { fileInfo } from "../media/files";
import { cancelUpload, retryUpload, sendFile, uploads, type UploadEntry } from "../media/uploads";
import { Icon } from "./icons";

/** The image open in the viewer (a signed URL), if any. */
export const viewing = signal<{ url: string; name: string } | null>(null);

function fit(w: number, h: number, max = 280): { width: number; height: number } {
  if (!w || !h) return { width: max, height: max };
  const k = Math.min(1, max / Math.max(w, h));
  return { width: Math.max(40, Math.round(w * k)), height: Math.max(40, Math.round(h * k)) };
}

export function MediaBody(p: { c: MessageContent }) {
  const c = p.c;
  if (c.image) return <ImageView file={c.image.file} width={c.image.width ?? 0} height={c.image.height ?? 0} />;
  if (c.file) return <FileCard file={c.file.file} />;
  if (c.voice) return <VoiceView file={c.voice.file} durationMs={c.voice.durationMs ?? 0} />;
  if (c.video) return <VideoView file={c.video.file} width={c.video.width ?? 0} height={c.video.height ?? 0} />;
  return null;
}

function ImageView(p: { file?: FileRef; width: number; height: number }) {
  const info = fileInfo(p.file?.fileId);
  const size = fit(p.width, p.height);
  const src = info?.thumbnail_url || info?.url;
  return (
    <button
      type="button"
      class="image-thumb"
      style={{ width: `${size.width}px`, height: `${size.height}px` }}
      aria-label={p.file?.name ?? t("preview.image")}
      onClick={() => info && (viewing.value = { url: info.url, name: p.file?.name ?? "" })}
    >
      {src ? <img src={src} alt={p.file?.name ?? ""} width={size.width} height={size.height} loading="lazy" /> : null}
    </button>
  );
}

function FileCard(p: { file?: FileRef }) {
  const info = fileInfo(p.file?.fileId);
  return (
    <div class="file-card">
      <span class="file-icon">
        <Icon name="file" size={28} />
      </span>
      <span class="file-main">
        <strong class="file-name">{p.file?.name}</strong>
        <span class="muted small">{formatBytes(num(p.file?.size))}</span>
      </span>
      {info ? (
        <a class="file-download" href={info.url} download={p.file?.name ?? ""} aria-label={`${t("media.download")} ${p.file?.name ?? ""}`}>
          <Icon name="download" size={18} />
        </a>
      ) : null}
    </div>
  );
}

function VoiceView(p: { file?: FileRef; durationMs: number }) {
  const info = fileInfo(p.file?.fileId);
  return (
    <div class="voice">
      <Icon name="mic" size={16} />
      {info ? <audio controls preload="none" src={info.url} aria-label={t("preview.voice", { d: formatDuration(p.durationMs) })} /> : null}
      <span class="small">{formatDuration(p.durationMs)}</span>
    </div>
  );
}

function VideoView(p: { file?: FileRef; width: number; height: number }) {
  const info = fileInfo(p.file?.fileId);
  const size = fit(p.width, p.height, 320);
  return info ? (
    <video class="video" controls preload="metadata" src={info.url} width={size.width} height={size.height} aria-label={p.file?.name ?? ""} />
  ) : (
    <div class="video" style={{ width: `${size.width}px`, height: `${size.height}px` }} />
  );
}

export function ImageViewer() {
  const v = viewing.value;
  const ref = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (!v) return;
    ref.current?.focus();
    const key = (e: KeyboardEvent) => {
      if (e.key === "Escape") viewing.value = null;
    };
    window.addEventListener("keydown", key);
    return () => window.removeEventListener("keydown", key);
  }, [v]);
  if (!v) return null;
  return (
    <div class="viewer" role="dialog" aria-modal="true" aria-label={v.name || t("preview.image")} onClick={() => (viewing.value = null)}>
      <img src={v.url} alt={v.name} onClick={(e) => e.stopPropagation()} />
      <div class="viewer-bar">
        <a href={v.url} download={v.name} onClick={(e) => e.stopPropagation()}>
          {t("media.download")}
        </a>
        <button ref={ref} type="button" class="icon" aria-label={t("common.close")} onClick={() => (viewing.value = null)}>
          <Icon name="close" size={22} />
        </button>
      </div>
    </div>
  );
}

export function UploadRows(p: { conversationId: string }) {
  const list = uploads.value.filter((u) => u.conversationId === p.conversationId);
  if (!list.length) return null;
  return (
    <div class="uploads">
      {list.map((u) => (
        <UploadRow key={u.key} u={u} />
      ))}
    </div>
  );
}

function UploadRow(p: { u: UploadEntry }) {
  const u = p.u;
  const pct = u.size ? Math.floor((u.sent / u.size) * 100) : 0;
  return (
    <div class="upload" data-upload={u.name}>
      {u.preview ? <img class="upload-preview" src={u.preview} alt="" /> : <Icon name="file" size={24} />}
      <div class="upload-main">
        <div class="upload-name">{u.name}</div>
        <progress max={100} value={pct} aria-label={t("media.uploading", { name: u.name })} />
        <div class="muted small">
          {u.state === "failed" ? t("media.failed", { code: u.error ?? "" }) : `${formatBytes(u.sent)} / ${formatBytes(u.size)}`}
        </div>
      </div>
      {u.state === "failed" ? (
        <button type="button" class="link" onClick={() => retryUpload(u.key)}>
          {t("msg.retry")}
        </button>
      ) : null}
      <button type="button" class="icon" aria-label={t("common.cancel")} onClick={() => cancelUpload(u.key)}>
        <Icon name="close" size={16} />
      </button>
    </div>
  );
}

/** Records a voice note with MediaRecorder; a second press sends it. */
export function VoiceRecorder(p: { conversationId: string; onError: (s: string) => void }) {
  const [rec, setRec] = useState<{ r: MediaRecorder; started: number } | null>(null);
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!rec) return;
    const i = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(i);
  }, [rec]);
  if (typeof MediaRecorder === "undefined") return null;

  const start = async () => {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const type = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm"].find((x) => MediaRecorder.isTypeSupported(x)) ?? "";
      const r = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
      const chunks: Blob[] = [];
      const started = Date.now();
      r.ondataavailable = (e) => e.data.size && chunks.push(e.data);
      r.onstop = () => {
        stream.getTracks().forEach((tr) => tr.stop());
        const durationMs = Date.now() - started;
        const mime = (r.mimeType || "audio/webm").split(";")[0]!;
        const ext = mime.includes("ogg") ? "ogg" : "webm";
        const file = new File(chunks, `voice-${new Date(started).toISOString().replace(/[:.]/g, "-")}.${ext}`, { type: mime });
        if (durationMs >= 500 && file.size > 0) void sendFile(p.conversationId, file, { durationMs });
      };
      r.start(250);
      setRec({ r, started });
    } catch {
      p.onError(t("media.micBlocked"));
    }
  };
  const stop = () => {
    rec?.r.stop();
    setRec(null);
  };
  return rec ? (
    <button type="button" class="recording" onClick={stop} aria-label={t("media.stopRecording")}>
      <span class="rec-dot" aria-hidden="true" /> {formatDuration(now - rec.started)}
    </button>
  ) : (
    <button type="button" class="icon composer-tool" onClick={() => void start()} aria-label={t("media.record")} title={t("media.record")}>
      <Icon name="mic" size={20} />
    </button>
  );
}
