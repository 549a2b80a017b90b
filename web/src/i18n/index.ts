// Strings, dates and times in the user's language: English or Simplified
// Chinese, following the browser until the user picks one (kept in
// localStorage). Every user-visible string goes through `t`.

import { signal } from "@preact/signals";

import * as calls from "./calls";
import * as contacts from "./contacts";
import { en as base, type Catalogue } from "./en";
import * as groups from "./groups";
import * as p2p from "./p2p";
import { zhCN } from "./zh-CN";

export type Locale = "en" | "zh-CN";

// Each screen family keeps its strings in its own module (`en` and `zh`
// with the same keys, checked by the compiler); they merge here.
const en = { ...base, ...contacts.en, ...groups.en, ...p2p.en, ...calls.en };
export type Key = keyof typeof en;

const catalogues: Record<Locale, Record<Key, string>> = {
  en,
  "zh-CN": { ...(zhCN satisfies Catalogue), ...contacts.zh, ...groups.zh, ...p2p.zh, ...calls.zh },
};
const STORE_KEY = "ferry.locale";

export function detectLocale(langs: readonly string[]): Locale {
  for (const l of langs) {
    const low = l.toLowerCase();
    if (low.startsWith("zh")) return "zh-CN";
    if (low.startsWith("en")) return "en";
  }
  return "en";
}

function initial(): Locale {
  try {
    const saved = localStorage.getItem(STORE_KEY);
    if (saved === "en" || saved === "zh-CN") return saved;
  } catch {
    // no storage
  }
  return typeof navigator === "undefined" ? "en" : detectLocale(navigator.languages ?? [navigator.language]);
}

export const locale = signal<Locale>(initial());

export function setLocale(l: Locale): void {
  locale.value = l;
  try {
    localStorage.setItem(STORE_KEY, l);
  } catch {
    // no storage
  }
  document.documentElement.lang = l;
}

export function t(key: Key, params?: Record<string, string | number>): string {
  let s = catalogues[locale.value][key] ?? en[key] ?? key;
  if (params) for (const [k, v] of Object.entries(params)) s = s.split(`{${k}}`).join(String(v));
  return s;
}

/** Whether a catalogue key exists (for error codes from the server). */
export function has(key: string): key is Key {
  return key in en;
}

/** "14:05", localised. */
export function formatTime(ms: number): string {
  return new Intl.DateTimeFormat(locale.value, { hour: "2-digit", minute: "2-digit" }).format(ms);
}

function startOfDay(ms: number): number {
  const d = new Date(ms);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** A day separator: Today, Yesterday, a weekday this week, else the date. */
export function formatDay(ms: number, now = Date.now()): string {
  const days = Math.round((startOfDay(now) - startOfDay(ms)) / 86_400_000);
  if (days === 0) return t("day.today");
  if (days === 1) return t("day.yesterday");
  if (days > 1 && days < 7) return new Intl.DateTimeFormat(locale.value, { weekday: "long" }).format(ms);
  const sameYear = new Date(ms).getFullYear() === new Date(now).getFullYear();
  return new Intl.DateTimeFormat(locale.value, {
    year: sameYear ? undefined : "numeric",
    month: "long",
    day: "numeric",
  }).format(ms);
}

/** The time a conversation list shows: time today, else a short date. */
export function formatListTime(ms: number, now = Date.now()): string {
  if (!ms) return "";
  const days = Math.round((startOfDay(now) - startOfDay(ms)) / 86_400_000);
  if (days === 0) return formatTime(ms);
  if (days === 1) return t("day.yesterday");
  if (days > 1 && days < 7) return new Intl.DateTimeFormat(locale.value, { weekday: "short" }).format(ms);
  return new Intl.DateTimeFormat(locale.value, { year: "2-digit", month: "numeric", day: "numeric" }).format(ms);
}

/** m:ss of a duration. */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export function formatBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
