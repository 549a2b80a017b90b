// Files in chats: an image shown as a thumbnail on the other side, a file
// downloaded byte for byte, and a resumable upload that survives a dropped
// connection and a page reload.

import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { expect, test, uniqueName } from "./fixtures";
import { png } from "./png";
import { directId, openChat, person } from "./ui";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

test("an image arrives as a thumbnail and opens full size; a file downloads byte for byte", async ({ browser, api }, info) => {
  const alice = await person(browser, api, uniqueName("alice"));
  const bob = await person(browser, api, uniqueName("bob"));
  const conv = directId(alice.id, bob.id);
  const dir = info.outputDir;
  mkdirSync(dir, { recursive: true });
  const image = join(dir, "photo.png");
  writeFileSync(image, png(800, 500));
  const doc = join(dir, "报告 2026.pdf");
  const docBytes = randomBytes(300_000);
  writeFileSync(doc, docBytes);

  await openChat(alice.page, conv);
  await alice.page.setInputFiles("input[name=attach]", [image, doc]);
  await openChat(bob.page, conv);

  // The thumbnail is the server's (≤ 320 px), not the original.
  const thumb = bob.page.locator(".image-thumb img");
  await expect(thumb).toBeVisible();
  await expect(thumb).toHaveAttribute("src", /\/thumbnail\?/);
  await expect.poll(() => thumb.evaluate((i: HTMLImageElement) => i.naturalWidth)).toBeGreaterThan(0);
  expect(await thumb.evaluate((i: HTMLImageElement) => i.naturalWidth)).toBeLessThanOrEqual(320);
  await bob.page.locator(".image-thumb").click();
  const full = bob.page.locator(".viewer img");
  await expect.poll(() => full.evaluate((i: HTMLImageElement) => i.naturalWidth)).toBe(800);
  await bob.page.keyboard.press("Escape");
  await expect(bob.page.locator(".viewer")).toHaveCount(0);

  const card = bob.page.locator(".file-card", { hasText: "报告 2026.pdf" });
  await expect(card).toBeVisible();
  const [download] = await Promise.all([bob.page.waitForEvent("download"), card.locator(".file-download").click()]);
  expect(download.suggestedFilename()).toBe("报告 2026.pdf");
  const saved = join(dir, "downloaded.bin");
  await download.saveAs(saved);
  expect(sha(readFileSync(saved))).toBe(sha(docBytes));
});

test("a resumable upload survives a dropped connection and a page reload", async ({ browser, api }, info) => {
  const alice = await person(browser, api, uniqueName("alice"));
  const bob = await person(browser, api, uniqueName("bob"));
  const conv = directId(alice.id, bob.id);
  mkdirSync(info.outputDir, { recursive: true });
  const big = join(info.outputDir, "archive.bin");
  const bytes = randomBytes(7 * 1024 * 1024 + 123);
  writeFileSync(big, bytes);

  // The second chunk's request dies mid-way (as a dropped network does),
  // and the fourth hangs until the page is reloaded (it never reaches the
  // server: it is failed once the old page is gone).
  let phase: "before reload" | "after reload" = "before reload";
  let patches = 0;
  const offsets: string[] = [];
  const after: string[] = [];
  let release = () => undefined as void;
  const released = new Promise<void>((r) => (release = r));
  await alice.page.route("**/api/v1/uploads/*", async (route) => {
    const req = route.request();
    if (req.method() !== "PATCH") return route.continue();
    const offset = req.headers()["upload-offset"] ?? "";
    if (phase === "after reload") {
      after.push(offset);
      return route.continue();
    }
    patches++;
    offsets.push(offset);
    if (patches === 2) return route.abort("connectionreset");
    if (patches >= 4) {
      await released;
      return route.abort("connectionreset").catch(() => undefined);
    }
    return route.continue();
  });
  await openChat(alice.page, conv);
  await alice.page.setInputFiles("input[name=attach]", big);
  await expect.poll(() => patches, { timeout: 30_000 }).toBeGreaterThanOrEqual(4);
  // After the dropped request the client asked where to resume and sent
  // that chunk again, from the same offset.
  expect(offsets[2]).toBe(offsets[1]);

  // Reload mid-upload, pick the same file again: it resumes, not restarts.
  phase = "after reload";
  await alice.page.reload();
  release();
  await expect(alice.page.locator("textarea[name=message]")).toBeVisible();
  await alice.page.setInputFiles("input[name=attach]", big);
  await expect.poll(() => after.length, { timeout: 30_000 }).toBeGreaterThan(0);
  expect(Number(after[0]), `offsets before the reload ${offsets.join(",")}, after ${after.join(",")}`).toBeGreaterThan(0);

  await openChat(bob.page, conv);
  const card = bob.page.locator(".file-card", { hasText: "archive.bin" });
  await expect(card).toBeVisible({ timeout: 30_000 });
  const [download] = await Promise.all([bob.page.waitForEvent("download"), card.locator(".file-download").click()]);
  const saved = join(info.outputDir, "archive.downloaded");
  await download.saveAs(saved);
  expect(sha(readFileSync(saved))).toBe(sha(bytes));
});

test.describe("voice notes", () => {
  test("a voice note recorded in the browser plays on the other side", async ({ browser, api }) => {
    const alice = await person(browser, api, uniqueName("alice"));
    const bob = await person(browser, api, uniqueName("bob"));
    await alice.context.grantPermissions(["microphone"]);
    const conv = directId(alice.id, bob.id);
    await openChat(alice.page, conv);
    await alice.page.getByRole("button", { name: "Record a voice note" }).click();
    const stop = alice.page.getByRole("button", { name: "Stop and send" });
    await expect(stop).toBeVisible();
    await alice.page.waitForTimeout(1600);
    await stop.click();

    await openChat(bob.page, conv);
    const voice = bob.page.locator(".voice");
    await expect(voice).toBeVisible({ timeout: 20_000 });
    await expect(voice).toContainText(/0:0[12]/);
    const audio = voice.locator("audio");
    await expect(audio).toHaveAttribute("src", /\/api\/v1\/files\//);
    // The recording is real audio the browser can decode.
    const ok = await audio.evaluate(
      (a: HTMLAudioElement) =>
        new Promise<boolean>((resolve) => {
          a.preload = "auto";
          a.onloadeddata = () => resolve(true);
          a.onerror = () => resolve(false);
          a.load();
          setTimeout(() => resolve(a.readyState >= 2), 10_000);
        }),
    );
    expect(ok).toBe(true);
    await expect(bob.page.locator(`[data-conversation="${conv}"]`)).toContainText(/Voice 0:0[12]/);
  });
});

test("a profile photo uploaded in Settings is what others see", async ({ browser, api }, info) => {
  const alice = await person(browser, api, uniqueName("alice"));
  const bob = await person(browser, api, uniqueName("bob"));
  mkdirSync(info.outputDir, { recursive: true });
  const photo = join(info.outputDir, "me.png");
  writeFileSync(photo, png(400, 400));
  await alice.page.locator("[data-tab=settings]").click();
  await alice.page.setInputFiles("input[name=avatar]", photo);
  await expect(alice.page.locator(".settings .avatar img")).toBeVisible();

  // Bob, who shares nothing with Alice but a chat, sees her photo.
  const conv = directId(alice.id, bob.id);
  await openChat(alice.page, conv);
  await alice.page.locator("textarea[name=message]").fill("new photo!");
  await alice.page.locator("textarea[name=message]").press("Enter");
  await openChat(bob.page, conv);
  const img = bob.page.locator(".chat-header .avatar img");
  await expect(img).toBeVisible();
  await expect.poll(() => img.evaluate((i: HTMLImageElement) => i.naturalWidth)).toBeGreaterThan(0);
});
