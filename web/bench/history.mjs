// Measures the chat view on a long history: seeds a direct conversation
// with N messages over the HTTP API, opens it in Chromium, then scrolls up
// to the first message, page by page, as a user would. Reports (does not
// assert) the time to first render, the time to reach the start, the
// number of message rows in the DOM (virtualisation keeps it small), the
// JS heap, long tasks (> 50 ms main-thread blocks, which are the
// stutter a user feels), and the live delivery time of a new message to
// the open chat.
//
//   node bench/history.mjs http://127.0.0.1:8080 [messages=10000]
//
// The server must allow the registrations and logins (raise
// auth.register_per_ip_per_minute etc. for a bench server).

import { chromium } from "playwright-core";

const base = process.argv[2] ?? "http://127.0.0.1:8080";
const total = Number(process.argv[3] ?? 10000);
const password = "bench password 1";

async function call(method, path, body, token) {
  const r = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const tag = Date.now().toString(36);
const names = [`hist_a_${tag}`, `hist_b_${tag}`];
for (const n of names) await call("POST", "/auth/register", { username: n, password });
const [a, b] = await Promise.all(names.map((n) => call("POST", "/auth/login", { username: n, password })));

const seedStart = performance.now();
let next = 0;
async function worker() {
  for (;;) {
    const i = next++;
    if (i >= total) return;
    const from = i % 3 === 0 ? b : a;
    const to = from === a ? b : a;
    const text = i % 10 === 0 ? `message ${i}: a longer line that wraps in the bubble, with some words to make it read like a real chat message` : `message ${i}`;
    await call("POST", "/messages", { clientMsgId: `h${i}`, userId: String(to.user.id), content: { text: { text } } }, from.token);
  }
}
await Promise.all(Array.from({ length: 8 }, worker));
const seedMs = performance.now() - seedStart;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
const page = await context.newPage();
await page.addInitScript(() => {
  window.__long = [];
  new PerformanceObserver((l) => {
    for (const e of l.getEntries()) window.__long.push(e.duration);
  }).observe({ type: "longtask", buffered: true });
});
await page.goto(base);
await page.fill("input[name=username]", names[0]);
await page.fill("input[name=password]", password);
await page.locator("form button[type=submit]").click();
await page.locator(".rail").waitFor();
const conv = a.user.id < b.user.id ? `d_${a.user.id}_${b.user.id}` : `d_${b.user.id}_${a.user.id}`;

const openStart = performance.now();
await page.goto(`${base}/chats/${conv}`);
await page.locator(".msg-row[data-seq]").last().waitFor();
await page.locator(".messages").getByText(`message ${total - 1}`, { exact: true }).waitFor();
const openMs = performance.now() - openStart;
await page.evaluate(() => (window.__long = []));

// Scroll up like a user: a wheel step at a time until the start shows.
const scrollStart = performance.now();
let maxRows = 0;
let steps = 0;
for (;;) {
  const atStart = await page.locator(".history-edge", { hasText: /beginning/ }).count();
  const rows = await page.locator(".msg-row").count();
  maxRows = Math.max(maxRows, rows);
  const top = await page.locator(".messages").evaluate((el) => el.scrollTop);
  if (atStart && top === 0) break;
  await page.mouse.move(800, 400);
  await page.mouse.wheel(0, -2400);
  steps++;
  await page.waitForTimeout(16);
  if (performance.now() - scrollStart > 600_000) throw new Error("did not reach the start in 10 minutes");
}
const scrollMs = performance.now() - scrollStart;
await page.locator(`.msg-row[data-seq="1"]`).waitFor();
// Live delivery: a message sent over HTTP by the other user until its
// bubble is in this page's DOM (send, commit, push, render), 100 times.
await page.locator(".messages").evaluate((el) => (el.scrollTop = el.scrollHeight));
await page.waitForTimeout(500); // the bottom rows render and measure
const lat = [];
for (let i = 0; i < 100; i++) {
  const text = `live ${i} ${Date.now()}`;
  const t0 = performance.now();
  const seen = page.waitForFunction((t) => [...document.querySelectorAll(".msg-row .text")].some((e) => e.textContent === t), text, { polling: "raf" });
  await call("POST", "/messages", { clientMsgId: `live${i}`, userId: String(a.user.id), content: { text: { text } } }, b.token);
  await seen;
  lat.push(performance.now() - t0);
}
lat.sort((x, y) => x - y);
const long = await page.evaluate(() => window.__long);
const heap = await page.evaluate(() => performance.memory?.usedJSHeapSize ?? 0);
const held = await page.evaluate(() => document.querySelectorAll(".msg-row").length);

console.log(JSON.stringify({
  messages: total,
  seed_ms: Math.round(seedMs),
  open_ms: Math.round(openMs),
  scroll_to_start_ms: Math.round(scrollMs),
  wheel_steps: steps,
  max_rows_in_dom: maxRows,
  rows_in_dom_at_start: held,
  js_heap_mb: +(heap / 1048576).toFixed(1),
  long_tasks: long.length,
  long_task_max_ms: Math.round(Math.max(0, ...long)),
  long_task_total_ms: Math.round(long.reduce((x, y) => x + y, 0)),
  live_delivery_p50_ms: +lat[49].toFixed(1),
  live_delivery_p99_ms: +lat[98].toFixed(1),
}, null, 2));
await browser.close();
