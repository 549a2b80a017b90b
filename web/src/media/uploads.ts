// Uploads in progress, per conversation, shown in the chat as bubbles with
// a progress bar; each becomes a message when its file is stored.

import { signal } from "@preact/signals";

import type { MessageContent } from "../proto";
import { engine, session } from "../state/app";
import { rememberFile } from "./files";
import { forget, upload, type FileInfo } from "./upload";

export interface UploadEntry {
  key: string;
  conversationId: string;
  name: string;
  size: number;
  mime: string;
  sent: number;
  state: "uploading" | "failed";
  error?: string;
  preview?: string;
  abort: AbortController;
  file: File;
  extra?: { durationMs?: number };
}

export const uploads = signal<UploadEntry[]>([]);

function patch(key: string, change: Partial<UploadEntry>): void {
  uploads.value = uploads.value.map((u) => (u.key === key ? { ...u, ...change } : u));
}

function drop(key: string): void {
  const u = uploads.value.find((x) => x.key === key);
  if (u?.preview) URL.revokeObjectURL(u.preview);
  uploads.value = uploads.value.filter((x) => x.key !== key);
}

/** The content of a message carrying an uploaded file. */
export function contentFor(f: FileInfo, file: File, extra?: { durationMs?: number; width?: number; height?: number }): MessageContent {
  const ref = { fileId: f.id, name: f.name || file.name };
  const mime = f.mime || file.type;
  if (mime.startsWith("image/") && f.width > 0 && f.height > 0) {
    return { image: { file: ref, width: f.width, height: f.height } };
  }
  if (extra?.durationMs && mime.startsWith("audio/")) {
    return { voice: { file: ref, durationMs: Math.max(1, Math.round(extra.durationMs)) } };
  }
  if (mime.startsWith("video/") && extra?.durationMs && extra.width && extra.height) {
    return { video: { file: ref, durationMs: Math.round(extra.durationMs), width: extra.width, height: extra.height } };
  }
  return { file: { file: ref } };
}

/** A video's duration and size, read by the browser (best effort). */
function videoMeta(file: File): Promise<{ durationMs?: number; width?: number; height?: number }> {
  return new Promise((resolve) => {
    const url = URL.createObjectURL(file);
    const v = document.createElement("video");
    v.preload = "metadata";
    const done = (r: { durationMs?: number; width?: number; height?: number }) => {
      URL.revokeObjectURL(url);
      resolve(r);
    };
    v.onloadedmetadata = () =>
      done(Number.isFinite(v.duration) && v.duration > 0 ? { durationMs: v.duration * 1000, width: v.videoWidth, height: v.videoHeight } : {});
    v.onerror = () => done({});
    setTimeout(() => done({}), 5000);
    v.src = url;
  });
}

/** Uploads a file and sends it to a conversation as a message. */
export async function sendFile(conversationId: string, file: File, extra?: { durationMs?: number }): Promise<void> {
  const s = session.value;
  const e = engine.value;
  if (!s || !e) return;
  const key = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const entry: UploadEntry = {
    key,
    conversationId,
    name: file.name,
    size: file.size,
    mime: file.type,
    sent: 0,
    state: "uploading",
    abort: new AbortController(),
    file,
    extra,
    preview: file.type.startsWith("image/") ? URL.createObjectURL(file) : undefined,
  };
  uploads.value = [...uploads.value, entry];
  await run(entry);
}

async function run(entry: UploadEntry): Promise<void> {
  const s = session.value;
  const e = engine.value;
  if (!s || !e) return;
  try {
    const meta = entry.mime.startsWith("video/") ? await videoMeta(entry.file) : {};
    const f = await upload(entry.file, {
      token: s.token,
      signal: entry.abort.signal,
      onProgress: (sent) => patch(entry.key, { sent }),
    });
    rememberFile(f);
    e.send(entry.conversationId, contentFor(f, entry.file, { ...meta, ...entry.extra }));
    drop(entry.key);
  } catch (err) {
    if ((err as Error).name === "AbortError") {
      drop(entry.key);
      return;
    }
    patch(entry.key, { state: "failed", error: (err as { code?: string }).code ?? (err as Error).message });
  }
}

export function retryUpload(key: string): void {
  const u = uploads.value.find((x) => x.key === key);
  if (!u) return;
  const fresh = { ...u, state: "uploading" as const, error: undefined, abort: new AbortController() };
  uploads.value = uploads.value.map((x) => (x.key === key ? fresh : x));
  void run(fresh);
}

export function cancelUpload(key: string): void {
  const u = uploads.value.find((x) => x.key === key);
  if (!u) return;
  u.abort.abort();
  drop(key);
  const token = session.value?.token;
  if (token) void forget(u.file, token);
}
