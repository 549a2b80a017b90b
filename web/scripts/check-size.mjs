// The bundle budget (issue 11): at most 250 KB of gzipped JavaScript on
// first load — every script index.html loads or preloads. Prints the
// figures either way; fails over budget.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const BUDGET = 250 * 1024;
const dist = new URL("../dist/", import.meta.url);
const html = readFileSync(new URL("index.html", dist), "utf8");
const scripts = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]);
let total = 0;
for (const s of scripts) {
  const raw = readFileSync(new URL(s, dist));
  const gz = gzipSync(raw, { level: 9 }).length;
  total += gz;
  console.log(`check-size: ${s} ${(raw.length / 1024).toFixed(1)} KB, ${(gz / 1024).toFixed(1)} KB gzipped`);
}
const css = [...html.matchAll(/href="\/(assets\/[^"]+\.css)"/g)].map((m) => m[1]);
for (const s of css) {
  const raw = readFileSync(new URL(s, dist));
  console.log(`check-size: ${s} ${(raw.length / 1024).toFixed(1)} KB, ${(gzipSync(raw, { level: 9 }).length / 1024).toFixed(1)} KB gzipped`);
}
console.log(`check-size: first-load JavaScript ${(total / 1024).toFixed(1)} KB gzipped (budget ${BUDGET / 1024} KB)`);
if (scripts.length === 0 || total > BUDGET) {
  console.error(scripts.length === 0 ? "check-size: no script found in index.html" : "check-size: over budget");
  process.exit(1);
}
