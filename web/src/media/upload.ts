// Uploads a file to the server (docs/HTTP_API.md, "Files"): small files in
// one request, larger ones with tus 1.0 in chunks, so a dropped network or a
// reload loses at most the chunk in flight. Each chunk is retried with
// backoff after asking the server (HEAD) how much it holds; an upload's URL
// is remembered under the file's fingerprint (name, size, modification
// time), so picking the same file again after a reload resumes it.

import { ApiError } from "../api/http";

export interface FileInfo {
  id: string;
  name: string;
  size: number;
  mime: string;
  sha256: string;
  width: number;
  height: number;
  url: string;
  thumbnail_url?: string;
  thumbnail_id?: string;
  url_expires_at: number;
}

export interface UploadOptions {
  token: string;
  onProgress?: (sent: number, total: number) => void;
  signal?: AbortSignal;
  base?: string;
  /** Files up to this size go in one request. */
  simpleMax?: number;
  chunk?: number;
  storage?: Pick<Storage, "getItem" | "setItem" | "removeItem">;
}

const SIMPLE_MAX = 2 * 1024 * 1024;
const CHUNK = 2 * 1024 * 1024;
const RESUME_PREFIX = "ferry.upload.";

export function fingerprint(f: File): string {
  return `${f.name}:${f.size}:${f.lastModified}`;
}

interface XhrResult {
  status: number;
  body: string;
  header: (name: string) => string | null;
}

function xhr(
  method: string,
  url: string,
  headers: Record<string, string>,
  body: Blob | null,
  signal: AbortSignal | undefined,
  onUpload?: (loaded: number) => void,
): Promise<XhrResult> {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open(method, url);
    for (const [k, v] of Object.entries(headers)) x.setRequestHeader(k, v);
    if (onUpload) x.upload.onprogress = (ev) => onUpload(ev.loaded);
    x.onload = () => resolve({ status: x.status, body: x.responseText, header: (n) => x.getResponseHeader(n) });
    x.onerror = () => reject(new ApiError(0, "network", "the upload was interrupted"));
    x.ontimeout = () => reject(new ApiError(0, "network", "the upload timed out"));
    x.onabort = () => reject(new DOMException("aborted", "AbortError"));
    if (signal) {
      if (signal.aborted) {
        reject(new DOMException("aborted", "AbortError"));
        return;
      }
      signal.addEventListener("abort", () => x.abort(), { once: true });
    }
    x.send(body);
  });
}

function apiError(r: XhrResult): ApiError {
  try {
    const e = (JSON.parse(r.body) as { error?: { code?: string; message?: string } }).error;
    return new ApiError(r.status, e?.code ?? `http_${r.status}`, e?.message ?? `HTTP ${r.status}`);
  } catch {
    return new ApiError(r.status, `http_${r.status}`, `HTTP ${r.status}`);
  }
}

function b64(s: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(s)));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      reject(new DOMException("aborted", "AbortError"));
    }, { once: true });
  });
}

/** Whether an upload error is worth retrying (network, overload). */
function transient(e: unknown): boolean {
  return e instanceof ApiError && (e.status === 0 || e.status >= 500 || e.status === 429 || e.status === 423);
}

export async function upload(file: File, o: UploadOptions): Promise<FileInfo> {
  const base = o.base ?? "/api/v1";
  const auth = { Authorization: `Bearer ${o.token}` };
  if (file.size <= (o.simpleMax ?? SIMPLE_MAX)) {
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await xhr(
          "POST",
          `${base}/files?name=${encodeURIComponent(file.name || "file")}`,
          { ...auth, "Content-Type": file.type || "application/octet-stream" },
          file,
          o.signal,
          (n) => o.onProgress?.(n, file.size),
        );
        if (r.status !== 201) throw apiError(r);
        return (JSON.parse(r.body) as { file: FileInfo }).file;
      } catch (e) {
        if (!transient(e) || attempt >= 8) throw e;
        await sleep(Math.min(15_000, 500 * 2 ** attempt), o.signal);
      }
    }
  }
  return tus(file, o, base, auth);
}

async function tus(file: File, o: UploadOptions, base: string, auth: Record<string, string>): Promise<FileInfo> {
  const storage = o.storage ?? localStorage;
  const key = RESUME_PREFIX + fingerprint(file);
  const chunk = o.chunk ?? CHUNK;
  const tusHeaders = { ...auth, "Tus-Resumable": "1.0.0" };
  let location = storage.getItem(key);
  let offset = -1;
  let fileId = "";
  let failures = 0;

  for (;;) {
    try {
      if (location && offset < 0) {
        // Resume: how much does the server hold?
        const h = await xhr("HEAD", location, tusHeaders, null, o.signal);
        if (h.status === 404 || h.status === 410) {
          storage.removeItem(key);
          location = null;
          continue;
        }
        if (h.status >= 300) throw apiError(h);
        offset = Number(h.header("Upload-Offset") ?? "0");
        fileId = h.header("Ferry-File-Id") ?? "";
      }
      if (!location) {
        const meta = `filename ${b64(file.name || "file")},filetype ${b64(file.type || "application/octet-stream")}`;
        const c = await xhr("POST", `${base}/uploads`, { ...tusHeaders, "Upload-Length": String(file.size), "Upload-Metadata": meta }, null, o.signal);
        if (c.status !== 201) throw apiError(c);
        location = c.header("Location") ?? "";
        if (!location) throw new ApiError(c.status, "internal", "no upload location");
        storage.setItem(key, location);
        offset = Number(c.header("Upload-Offset") ?? "0");
      }
      o.onProgress?.(offset, file.size);
      while (!fileId && offset < file.size) {
        const end = Math.min(file.size, offset + chunk);
        const start = offset;
        const p = await xhr(
          "PATCH",
          location,
          { ...tusHeaders, "Upload-Offset": String(start), "Content-Type": "application/offset+octet-stream" },
          file.slice(start, end),
          o.signal,
          (n) => o.onProgress?.(start + n, file.size),
        );
        if (p.status === 409) {
          offset = -1; // ask again where we are
          break;
        }
        if (p.status !== 204) throw apiError(p);
        offset = Number(p.header("Upload-Offset") ?? String(end));
        fileId = p.header("Ferry-File-Id") ?? "";
        failures = 0;
        o.onProgress?.(offset, file.size);
      }
      if (offset < 0) continue;
      if (!fileId) {
        // All bytes sent but no id (the last answer was lost): ask.
        offset = -1;
        continue;
      }
      storage.removeItem(key);
      const info = await fetch(`${base}/files/${encodeURIComponent(fileId)}/info`, { headers: auth, signal: o.signal });
      if (!info.ok) throw new ApiError(info.status, "internal", "the uploaded file cannot be read");
      return ((await info.json()) as { file: FileInfo }).file;
    } catch (e) {
      if ((e as Error).name === "AbortError") throw e;
      if (!transient(e)) {
        if (e instanceof ApiError && (e.status === 404 || e.code === "checksum_mismatch")) storage.removeItem(key);
        throw e;
      }
      failures++;
      offset = -1;
      // Offline: retry as soon as the network is back, else after the
      // back-off anyway: `onLine` is false whenever no interface but
      // loopback is up, yet a server on this machine is still reachable.
      const backoff = Math.min(15_000, 400 * 2 ** Math.min(failures, 6));
      if (typeof navigator !== "undefined" && navigator.onLine === false) await waitOnline(backoff, o.signal);
      else await sleep(backoff, o.signal);
    }
  }
}

/** Until the browser says it is online again, `maxMs` at most. */
function waitOnline(maxMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      window.removeEventListener("online", done);
      resolve();
    };
    const timer = setTimeout(done, maxMs);
    window.addEventListener("online", done);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      window.removeEventListener("online", done);
      reject(new DOMException("aborted", "AbortError"));
    }, { once: true });
  });
}

/** Cancels a remembered resumable upload of this file, if any. */
export async function forget(file: File, token: string, storage: Pick<Storage, "getItem" | "removeItem"> = localStorage): Promise<void> {
  const key = RESUME_PREFIX + fingerprint(file);
  const location = storage.getItem(key);
  storage.removeItem(key);
  if (location) {
    await fetch(location, { method: "DELETE", headers: { Authorization: `Bearer ${token}`, "Tus-Resumable": "1.0.0" } }).catch(() => undefined);
  }
}
