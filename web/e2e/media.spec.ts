// Files in chats: an image shown as a thumbnail on the other side, a file
// downloaded byte for byte, and a resumable upload that survives a dropped
// connection and a page reload.

import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { deflateSync } from "node:zlib";

import { expect, test, uniqueName } from "./fixtures";
import { directId, openChat, person } from "./ui";

/** A real PNG of w×h pixels (a gradient), made here so no fixture file is needed. */
function png(w: number, h: number): Buffer {
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0;
    for (let x = 0; x < w; x++) {
      const o = y * (w * 3 + 1) + 1 + x * 3;
      raw[o] = (x * 255) / w;
      raw[o + 1] = (y * 255) / h;
      raw[o + 2] = 160;
    }
  }
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}

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
  // and the third hangs until the page is reloaded.
  let patches = 0;
  const offsets: string[] = [];
  await alice.page.route("**/api/v1/uploads/*", async (route) => {
    const req = route.request();
    if (req.method() !== "PATCH") return route.continue();
    patches++;
    offsets.push(req.headers()["upload-offset"] ?? "");
    if (patches === 2) return route.abort("connectionreset");
    if (patches === 4) return new Promise<void>(() => undefined); // never answered
    return route.continue();
  });
  await openChat(alice.page, conv);
  await alice.page.setInputFiles("input[name=attach]", big);
  await expect.poll(() => patches, { timeout: 30_000 }).toBeGreaterThanOrEqual(4);
  // After the dropped request the client asked where to resume and sent
  // that chunk again, from the same offset.
  expect(offsets[2]).toBe(offsets[1]);

  // Reload mid-upload, pick the same file again: it resumes, not restarts.
  await alice.page.unrouteAll({ behavior: "ignoreErrors" });
  const after: string[] = [];
  await alice.page.route("**/api/v1/uploads/*", (route) => {
    if (route.request().method() === "PATCH") after.push(route.request().headers()["upload-offset"] ?? "");
    return route.continue();
  });
  await alice.page.reload();
  await expect(alice.page.locator("textarea[name=message]")).toBeVisible();
  await alice.page.setInputFiles("input[name=attach]", big);
  await expect.poll(() => after.length, { timeout: 30_000 }).toBeGreaterThan(0);
  expect(Number(after[0])).toBeGreaterThan(0);

  await openChat(bob.page, conv);
  const card = bob.page.locator(".file-card", { hasText: "archive.bin" });
  await expect(card).toBeVisible({ timeout: 30_000 });
  const [download] = await Promise.all([bob.page.waitForEvent("download"), card.locator(".file-download").click()]);
  const saved = join(info.outputDir, "archive.downloaded");
  await download.saveAs(saved);
  expect(sha(readFileSync(saved))).toBe(sha(bytes));
});
