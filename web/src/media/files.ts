// Signed URLs of files, fetched in batches (POST /files/urls) and cached
// until shortly before they expire, for <img>, <video>, <audio> and
// downloads (which carry no Authorization header).

import { signal } from "@preact/signals";

import { http } from "../state/app";
import type { FileInfo } from "./upload";

export const fileInfos = signal<Map<string, FileInfo>>(new Map());
const wanted = new Set<string>();
/** When each id was last asked for (an unreadable one is not asked again at once). */
const asked = new Map<string, number>();
let timer: ReturnType<typeof setTimeout> | null = null;

export function rememberFile(f: FileInfo): void {
  const m = new Map(fileInfos.value);
  m.set(f.id, f);
  fileInfos.value = m;
}

/** The file's info with fresh URLs, fetched when missing or expiring. */
export function fileInfo(id: string | undefined): FileInfo | undefined {
  if (!id) return undefined;
  const f = fileInfos.value.get(id);
  const fresh = f && f.url_expires_at - Date.now() > 60_000;
  if (!fresh && !wanted.has(id) && Date.now() - (asked.get(id) ?? 0) > 30_000) {
    asked.set(id, Date.now());
    wanted.add(id);
    timer ??= setTimeout(flush, 15);
  }
  return f;
}

function flush(): void {
  timer = null;
  const ids = [...wanted].slice(0, 200);
  ids.forEach((i) => wanted.delete(i));
  if (wanted.size) timer = setTimeout(flush, 15);
  void http.post<{ files: FileInfo[] }>("/files/urls", { ids }).then(
    (a) => {
      const m = new Map(fileInfos.value);
      for (const f of a.files) m.set(f.id, f);
      fileInfos.value = m;
    },
    () => undefined,
  );
}
