// The README's screenshots, made from a real session: a direct chat with
// text, a reply, a reaction, an image and a file; a group with its details
// panel; in English and Simplified Chinese, light and dark, desktop and
// phone. Saved with the test's output; `UPDATE_SCREENSHOTS=1` also writes
// them to docs/screenshots/ (then commit them).

import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import type { Page, TestInfo } from "@playwright/test";

import { expect, test, uniqueName, type Api } from "./fixtures";
import { png } from "./png";
import { directId, openChat, person, type Person } from "./ui";

const DOCS = fileURLToPath(new URL("../../docs/screenshots/", import.meta.url));

async function shot(page: Page, info: TestInfo, name: string): Promise<void> {
  await page.waitForTimeout(400); // thumbnails and fonts settle
  const path = join(info.outputDir, `${name}.png`);
  await page.screenshot({ path });
  if (process.env.UPDATE_SCREENSHOTS) {
    mkdirSync(DOCS, { recursive: true });
    copyFileSync(path, join(DOCS, `${name}.png`));
  }
}

async function say(api: Api, from: Person, to: { userId?: string; conversationId?: string }, content: unknown): Promise<{ seq: string }> {
  return api.call("POST", "/messages", { clientMsgId: uniqueName("s"), ...to, content }, from.login.token);
}

async function upload(api: Api, who: Person, name: string, mime: string, bytes: Buffer): Promise<string> {
  const r = await fetch(`${api.baseUrl}/api/v1/files?name=${encodeURIComponent(name)}`, {
    method: "POST",
    headers: { authorization: `Bearer ${who.login.token}`, "content-type": mime },
    body: new Uint8Array(bytes),
  });
  expect(r.status).toBe(201);
  return ((await r.json()) as { file: { id: string } }).file.id;
}

test("screenshots of the app", async ({ browser, api }, info) => {
  mkdirSync(info.outputDir, { recursive: true });
  const alice = await person(browser, api, uniqueName("alice"), { viewport: { width: 1280, height: 800 } });
  const bob = await person(browser, api, uniqueName("bob"), { locale: "zh-CN", colorScheme: "dark", viewport: { width: 1280, height: 800 } });
  const carol = await person(browser, api, uniqueName("carol"));
  for (const [a, b] of [[alice, bob], [alice, carol], [bob, carol]] as const) {
    const r = await api.call<{ request: { id: number } }>("POST", "/friends/requests", { user_id: Number(b.id) }, a.login.token);
    await api.call("POST", `/friends/requests/${r.request.id}/accept`, undefined, b.login.token);
  }
  const group = await api.call<{ group: { conversation_id: string } }>(
    "POST",
    "/groups",
    { name: "Design team 设计组", members: [Number(bob.id), Number(carol.id)], notice: "Review on Friday at 10:00" },
    alice.login.token,
  );
  const g = { conversationId: group.group.conversation_id };
  await say(api, carol, g, { text: { text: "Morning! The new mockups are in the shared folder 🎨" } });
  await say(api, bob, g, { text: { text: "收到，我下午看一下" } });

  const dm = { userId: bob.id };
  const toAlice = { userId: alice.id };
  await say(api, alice, dm, { text: { text: "Hi Bob! Are we still on for the launch review tomorrow?" } });
  const q = await say(api, bob, toAlice, { text: { text: "Yes — 10:00 in the big room. 明天见！" } });
  await say(api, alice, dm, { text: { text: "Great, I'll bring the slides 👍", mentionUserIds: [] }, quote: { seq: q.seq } });
  const img = await upload(api, bob, "whiteboard.png", "image/png", png(960, 600));
  await say(api, bob, toAlice, { image: { file: { fileId: img, name: "whiteboard.png" } } });
  const pdf = await upload(api, alice, "Launch plan Q1.pdf", "application/pdf", Buffer.concat([Buffer.from("%PDF-1.4\n"), Buffer.alloc(180_000, 32)]));
  await say(api, alice, dm, { file: { file: { fileId: pdf, name: "Launch plan Q1.pdf" } } });
  await say(api, bob, toAlice, { text: { text: "Thanks! See you there." } });

  const conv = directId(alice.id, bob.id);
  await openChat(alice.page, conv);
  await expect(alice.page.locator(".image-thumb img")).toBeVisible();
  await alice.page.locator(".msg-row[data-seq] .text", { hasText: "Thanks! See you there." }).waitFor();
  // A reaction from Alice on Bob's reply.
  const reply = alice.page.locator(".msg-row[data-seq]").filter({ has: alice.page.locator(".text", { hasText: /^Yes/ }) });
  await reply.hover();
  await reply.locator("[data-action=react]").click();
  await reply.getByRole("button", { name: "🎉" }).or(reply.getByRole("button", { name: "👍" })).first().click();
  await alice.page.mouse.move(5, 5);
  await shot(alice.page, info, "chat-en-light");

  await openChat(bob.page, conv);
  await expect(bob.page.locator(".file-card")).toBeVisible();
  await bob.page.mouse.move(5, 5);
  await shot(bob.page, info, "chat-zh-dark");

  await openChat(alice.page, group.group.conversation_id);
  await alice.page.locator("[data-action=details]").click();
  await expect(alice.page.locator("aside.details")).toBeVisible();
  await shot(alice.page, info, "group-en-light");

  await alice.page.locator("[data-tab=contacts]").click();
  await alice.page.waitForTimeout(300);
  await shot(alice.page, info, "contacts-en-light");
  await bob.page.locator("[data-tab=settings]").click();
  await shot(bob.page, info, "settings-zh-dark");

  await bob.page.setViewportSize({ width: 390, height: 780 });
  await openChat(bob.page, conv);
  await bob.page.mouse.move(5, 5);
  await shot(bob.page, info, "phone-zh-dark");
  await alice.page.setViewportSize({ width: 390, height: 780 });
  await alice.page.goto("/chats");
  await shot(alice.page, info, "phone-en-light");
});

test("screenshots of a call", async ({ browser, api }, info) => {
  mkdirSync(info.outputDir, { recursive: true });
  const alice = await person(browser, api, uniqueName("alice"), { viewport: { width: 1280, height: 800 } });
  const bob = await person(browser, api, uniqueName("bob"), { locale: "zh-CN", colorScheme: "dark", viewport: { width: 1280, height: 800 } });
  const r = await api.call<{ request: { id: number } }>("POST", "/friends/requests", { user_id: Number(bob.id) }, alice.login.token);
  await api.call("POST", `/friends/requests/${r.request.id}/accept`, undefined, bob.login.token);
  const conv = directId(alice.id, bob.id);
  await openChat(alice.page, conv);
  await openChat(bob.page, conv);

  await alice.page.locator("[data-action=call-video]").click();
  await expect(bob.page.locator("[data-call=incoming]")).toBeVisible();
  await expect(alice.page.locator(".call-view .call-status")).not.toHaveText("");
  await shot(bob.page, info, "call-incoming-zh-dark");
  await shot(alice.page, info, "call-outgoing-en-light");

  await bob.page.locator("[data-action=accept-video]").click();
  for (const p of [alice.page, bob.page]) await expect(p.locator(".call-view .remote-video")).toBeVisible();
  await expect(alice.page.locator(".call-view [data-quality]")).not.toHaveAttribute("data-quality", "unknown", { timeout: 15_000 });
  await alice.page.mouse.move(5, 5);
  await shot(alice.page, info, "call-en-light");
  await bob.page.setViewportSize({ width: 390, height: 780 });
  await shot(bob.page, info, "call-phone-zh-dark");
  await bob.page.locator("[data-action=minimise]").click();
  await expect(bob.page.locator("[data-call=bar]")).toBeVisible();
  await shot(bob.page, info, "call-bar-zh-dark");

  await alice.page.locator("[data-action=hangup]").click();
  await expect(alice.page.locator("[data-call=ended]")).toBeVisible();
  await expect(alice.page.locator(".msg-row[data-seq] .body-call_log")).toBeVisible();
  await shot(alice.page, info, "call-ended-en-light");
});
