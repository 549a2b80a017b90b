#!/usr/bin/env node
// Runs a command (the Playwright suite) in a network namespace of its own
// whose only interface is loopback, so nothing a test starts — the server,
// Chromium, the WebRTC media of a call — can reach or be reached from
// another host: ICE finds loopback candidates only.
//
//   node scripts/netns.mjs playwright test [args…]
//
// As root (CI) that is `unshare -n`; otherwise `unshare -rn` (a user
// namespace too, where the kernel allows one). When no namespace can be
// made the run fails and says why: it never falls back to the host network.

import { spawnSync } from "node:child_process";

const command = process.argv.slice(2);
if (command.length === 0) {
  console.error("usage: node scripts/netns.mjs <command> [args…]");
  process.exit(2);
}

// Inside already (the script ran itself): check the namespace, then run.
if (process.env.FERRY_NETNS === "1") {
  const up = spawnSync("ip", ["link", "set", "lo", "up"], { stdio: "inherit" });
  if (up.error || up.status !== 0) fail(`could not bring up lo in the namespace (${up.error?.message ?? `ip exited ${up.status}`})`);
  const links = spawnSync("ip", ["-o", "link", "show"], { encoding: "utf8" });
  const names = (links.stdout ?? "").split("\n").filter(Boolean).map((l) => l.split(":")[1]?.trim().split("@")[0]);
  if (links.status !== 0 || names.length !== 1 || names[0] !== "lo") {
    fail(`the namespace should hold only lo, it holds: ${names.join(", ") || "(could not list)"}`);
  }
  const run = spawnSync(command[0], command.slice(1), { stdio: "inherit" });
  if (run.error) fail(`could not run ${command[0]}: ${run.error.message}`);
  process.exit(run.status ?? 1);
}

const root = typeof process.getuid === "function" && process.getuid() === 0;
const unshareArgs = root ? ["-n"] : ["-rn"];
const which = spawnSync("sh", ["-c", "command -v unshare && command -v ip"], { encoding: "utf8" });
if (which.status !== 0) {
  fail("`unshare` (util-linux) and `ip` (iproute2) are needed to run the browser tests in a loopback-only network namespace");
}
const probe = spawnSync("unshare", [...unshareArgs, "--", "true"], { encoding: "utf8" });
if (probe.error || probe.status !== 0) {
  fail(`\`unshare ${unshareArgs.join(" ")}\` could not create a network namespace: ${(probe.stderr ?? "").trim() || probe.error?.message || `exit ${probe.status}`}`);
}
const run = spawnSync("unshare", [...unshareArgs, "--", process.execPath, new URL(import.meta.url).pathname, ...command], {
  stdio: "inherit",
  env: { ...process.env, FERRY_NETNS: "1" },
});
if (run.error) fail(`could not run unshare: ${run.error.message}`);
process.exit(run.status ?? 1);

function fail(why) {
  console.error(`netns.mjs: ${why}`);
  console.error(
    "The browser tests run in a network namespace with only loopback (`unshare -n` as root, `unshare -rn` otherwise);" +
      " run them as root, or where unprivileged user namespaces are allowed.",
  );
  process.exit(1);
}
