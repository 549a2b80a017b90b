// Peer-to-peer file transfer (issue 12): a 5 MB file sent over a WebRTC data
// channel arrives with the same SHA-256 and leaves a "sent directly" message
// in both histories; with the receiver offline the file goes by upload.
//
// WebRTC must stay on loopback: run in a network namespace with only `lo`,
//   unshare -n sh -c 'ip link set lo up && npx playwright test e2e/p2p.spec.ts'
// (Chromium gets --allow-loopback-in-peer-connection in playwright.config.ts).

import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { expect, test, uniqueName, type Api } from "./fixtures";
import { directId, openChat, person, type Person } from "./ui";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function befriend(api: Api, a: Person, b: Person): Promise<void> {
  const sent = await api.call<{ request: { id: number } }>("POST", "/friends/requests", { user_id: Number(b.id) }, a.login.token);
  await api.call("POST", `/friends/requests/${sent.request.id}/accept`, undefined, b.login.token);
}

test("a 5 MB file sent directly arrives with the same SHA-256 and is recorded on both sides", async ({ browser, api }, info) => {
  const alice = await person(browser, api, uniqueName("alice"));
  const bob = await person(browser, api, uniqueName("bob"));
  await befriend(api, alice, bob);
  const conv = directId(alice.id, bob.id);
  const dir = info.outputDir;
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "direct 直传.bin");
  const bytes = randomBytes(5 * 1024 * 1024);
  writeFileSync(path, bytes);

  await openChat(alice.page, conv);
  await openChat(bob.page, conv);
  // Bob's tab is connected (opening the chat loaded the page again).
  await expect(bob.page.locator(".status-online")).toBeVisible();
  await alice.page.setInputFiles("input[name=send-direct]", path);

  // Both sides show the transfer with a progress bar; the receiver's ends verified.
  const row = bob.page.locator(".p2p .upload", { hasText: "direct 直传.bin" });
  await expect(row).toHaveAttribute("data-state", "done", { timeout: 30_000 });
  await expect(row.locator("progress")).toHaveAttribute("value", "100");
  const save = row.locator("a[data-action=save-direct]");
  await expect(save).toHaveAttribute("href", /^blob:/);

  // The blob behind Save is the file, byte for byte (the page's CSP keeps fetch() off blob: URLs, so it is hashed here).
  const [download] = await Promise.all([bob.page.waitForEvent("download"), save.click()]);
  expect(download.suggestedFilename()).toBe("direct 直传.bin");
  const saved = join(dir, "saved.bin");
  await download.saveAs(saved);
  const got = readFileSync(saved);
  expect(got.length).toBe(bytes.length);
  expect(sha(got)).toBe(sha(bytes));

  // The sender's record, in both histories; nothing was uploaded.
  for (const p of [alice, bob]) {
    const card = p.page.locator(".msg-row[data-seq] .p2p-file", { hasText: "direct 直传.bin" });
    await expect(card).toBeVisible();
    await expect(card).toContainText("5.0 MB — sent directly (not stored on the server)");
    await expect(p.page.locator(".file-card:not(.p2p-file)")).toHaveCount(0);
    await expect(p.page.locator(".conversations")).toContainText("[File] direct 直传.bin (sent directly)");
  }
  await expect(alice.page.getByText("Could not connect directly — uploading instead")).toHaveCount(0);
  await expect(alice.page.locator(".p2p .upload")).toHaveCount(0);
  // Bob's copy of the record offers the file he holds in this tab.
  await expect(bob.page.locator(".msg-row[data-seq] .p2p-file a[download]")).toHaveAttribute("href", /^blob:/);

  // In Chinese too.
  await bob.page.evaluate(() => localStorage.setItem("ferry.locale", "zh-CN"));
  await openChat(bob.page, conv);
  await expect(bob.page.locator(".msg-row[data-seq] .p2p-file")).toContainText("直接发送（未存储在服务器上）");
  // Loaded afresh, the list shows the server's preview: the message's fallback text.
  await expect(bob.page.locator(".conversations")).toContainText("📎 direct 直传.bin");
});

test("with the receiver offline, a file sent directly goes by normal upload", async ({ browser, api }, info) => {
  const alice = await person(browser, api, uniqueName("alice"));
  const bobLogin = await api.user(uniqueName("bob"));
  const conv = directId(alice.id, String(bobLogin.user.id));
  const dir = info.outputDir;
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "fallback.bin");
  const bytes = randomBytes(300_000);
  writeFileSync(path, bytes);

  await openChat(alice.page, conv);
  await alice.page.setInputFiles("input[name=send-direct]", path);
  await expect(alice.page.locator(".p2p [role=status]")).toContainText("Could not connect directly — uploading instead");
  // An ordinary file message, stored on the server: it downloads byte for byte.
  const card = alice.page.locator(".msg-row[data-seq] .file-card:not(.p2p-file)", { hasText: "fallback.bin" });
  await expect(card).toBeVisible();
  await expect(alice.page.locator(".p2p-file")).toHaveCount(0);
  const [download] = await Promise.all([alice.page.waitForEvent("download"), card.locator(".file-download").click()]);
  const saved = join(dir, "saved.bin");
  await download.saveAs(saved);
  expect(sha(readFileSync(saved))).toBe(sha(bytes));
});

test("when the receiver's browser cannot take it, the sender gives up after a few seconds and uploads", async ({ browser, api }, info) => {
  const alice = await person(browser, api, uniqueName("alice"));
  const bob = await person(browser, api, uniqueName("bob"));
  await befriend(api, alice, bob);
  // Bob's browser has no WebRTC: his tab is online but never accepts.
  await bob.context.addInitScript(() => {
    delete (window as { RTCPeerConnection?: unknown }).RTCPeerConnection;
  });
  const conv = directId(alice.id, bob.id);
  const dir = info.outputDir;
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "slow path.bin");
  writeFileSync(path, randomBytes(100_000));

  await openChat(bob.page, conv);
  await expect(bob.page.locator(".status-online")).toBeVisible();
  await expect(bob.page.locator("button[data-action=send-direct]")).toHaveCount(0);
  await openChat(alice.page, conv);
  await alice.page.setInputFiles("input[name=send-direct]", path);
  await expect(alice.page.locator(".p2p .upload", { hasText: "slow path.bin" })).toHaveAttribute("data-state", "connecting");
  await expect(alice.page.locator(".p2p [role=status]")).toContainText("Could not connect directly — uploading instead");
  for (const p of [alice, bob]) {
    await expect(p.page.locator(".msg-row[data-seq] .file-card:not(.p2p-file)", { hasText: "slow path.bin" })).toBeVisible();
  }
  await expect(bob.page.locator(".p2p .upload")).toHaveCount(0);
});
