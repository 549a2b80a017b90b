// Two people chatting in two browsers: delivery both ways with receipts,
// reload keeping the session, recall and edit seen on both sides, and an
// offline spell on one side caught up without gaps or duplicates.

import { expect, test, uniqueName } from "./fixtures";
import { bubble, directId, openChat, person, send, texts } from "./ui";

test("two users exchange messages, with read receipts, and a reload keeps the session", async ({ browser, api }) => {
  const alice = await person(browser, api, uniqueName("alice"));
  const bob = await person(browser, api, uniqueName("bob"));
  const conv = directId(alice.id, bob.id);

  await openChat(alice.page, conv);
  await send(alice.page, "Hello Bob");
  await expect(bubble(alice.page, "Hello Bob")).toBeVisible();

  // Bob sees the chat appear in his list with an unread badge, live.
  const entry = bob.page.locator(`[data-conversation="${conv}"]`);
  await expect(entry).toContainText("Hello Bob");
  await expect(entry.locator(".badge")).toHaveText("1");
  await entry.click();
  await expect(bubble(bob.page, "Hello Bob")).toBeVisible();
  await expect(entry.locator(".badge")).toHaveCount(0);

  // Alice's message turns "read" once Bob has it open.
  await expect(bubble(alice.page, "Hello Bob").locator("[data-status]")).toHaveAttribute("data-status", "read");

  // Shift+Enter is a new line, Enter sends.
  const box = bob.page.locator("textarea[name=message]");
  await box.fill("Hi Alice");
  await box.press("Shift+Enter");
  await box.type("second line");
  await box.press("Enter");
  await expect(alice.page.locator(".msg-row[data-seq] .text").last()).toHaveText("Hi Alice\nsecond line");

  // A reload stays logged in and shows the history once, in order.
  await alice.page.reload();
  await expect(alice.page.locator(".rail")).toBeVisible();
  await expect.poll(() => texts(alice.page)).toEqual(["Hello Bob", "Hi Alice\nsecond line"]);
});

test("recall and edit are seen on both sides", async ({ browser, api }) => {
  const alice = await person(browser, api, uniqueName("alice"));
  const bob = await person(browser, api, uniqueName("bob"));
  const conv = directId(alice.id, bob.id);
  await openChat(alice.page, conv);
  await send(alice.page, "first draft");
  await send(alice.page, "sent to the wrong chat");
  await openChat(bob.page, conv);
  await expect(bubble(bob.page, "sent to the wrong chat")).toBeVisible();

  const wrong = bubble(alice.page, "sent to the wrong chat");
  await wrong.hover();
  await wrong.locator("[data-action=revoke]").click();
  await expect(alice.page.getByText("You recalled a message")).toBeVisible();
  await expect(bob.page.getByText(/recalled a message/)).toBeVisible();
  await expect(bubble(bob.page, "sent to the wrong chat")).toHaveCount(0);

  const first = bubble(alice.page, "first draft");
  await first.hover();
  await first.locator("[data-action=edit]").click();
  await alice.page.locator("textarea[name=message]").fill("final text");
  await alice.page.locator("textarea[name=message]").press("Enter");
  await expect(bubble(bob.page, "final text")).toBeVisible();
  await expect(bubble(bob.page, "final text").locator(".edited")).toBeVisible();
  await expect(bubble(bob.page, "first draft")).toHaveCount(0);
  // The list preview follows the recall.
  await bob.page.locator("[data-tab=chats]").click();
  await expect(bob.page.locator(`[data-conversation="${conv}"]`)).toContainText(/Recalled/);
});

test("offline: messages sent meanwhile arrive on reconnect, and queued sends go out, with no gaps or duplicates", async ({ browser, api }) => {
  const alice = await person(browser, api, uniqueName("alice"));
  const bob = await person(browser, api, uniqueName("bob"));
  const conv = directId(alice.id, bob.id);
  await openChat(alice.page, conv);
  await send(alice.page, "before");
  await openChat(bob.page, conv);
  await expect(bubble(bob.page, "before")).toBeVisible();

  await bob.context.setOffline(true);
  // Bob's socket notices (the connection drops or its ping goes unanswered).
  await bob.page.evaluate(() => window.dispatchEvent(new Event("offline")));
  for (const t of ["one", "two", "three"]) await send(alice.page, t);
  await send(bob.page, "written offline");
  await expect(bob.page.locator(".msg-row.pending [data-status=sending]")).toBeVisible();

  await bob.context.setOffline(false);
  await bob.page.evaluate(() => window.dispatchEvent(new Event("online")));
  await expect.poll(() => texts(bob.page), { timeout: 30_000 }).toEqual(["before", "one", "two", "three", "written offline"]);
  await expect(bob.page.locator(".msg-row.pending")).toHaveCount(0);
  await expect.poll(() => texts(alice.page), { timeout: 30_000 }).toEqual(["before", "one", "two", "three", "written offline"]);
});

test("the app speaks English and Simplified Chinese", async ({ browser, api }) => {
  const zh = await browser.newContext({ baseURL: api.baseUrl, locale: "zh-CN" });
  const page = await zh.newPage();
  await page.goto("/");
  await expect(page.locator("h2")).toHaveText("登录");
  await expect(page.locator("html")).toHaveAttribute("lang", "zh-CN");
  await page.selectOption("select[name=language]", "en");
  await expect(page.locator("h2")).toHaveText("Log in");

  const en = await browser.newContext({ baseURL: api.baseUrl, locale: "en-US" });
  const p2 = await en.newPage();
  await p2.goto("/");
  await expect(p2.locator("h2")).toHaveText("Log in");
  await p2.selectOption("select[name=language]", "zh-CN");
  await expect(p2.locator("h2")).toHaveText("登录");
  // The choice survives a reload.
  await p2.reload();
  await expect(p2.locator("h2")).toHaveText("登录");
});

test("several messages forwarded as one chat record, and deleted for me only", async ({ browser, api }) => {
  const alice = await person(browser, api, uniqueName("alice"));
  const bob = await person(browser, api, uniqueName("bob"));
  const carol = await person(browser, api, uniqueName("carol"));
  const ab = directId(alice.id, bob.id);
  const ac = directId(alice.id, carol.id);
  await openChat(alice.page, ac);
  await send(alice.page, "Carol, see what Bob said");
  await openChat(alice.page, ab);
  await send(alice.page, "Which room?");
  await openChat(bob.page, ab);
  await send(bob.page, "The big one, at 10");
  await expect(bubble(alice.page, "The big one, at 10")).toBeVisible();

  // Select both messages, forward them merged to Carol.
  const first = bubble(alice.page, "Which room?");
  await first.hover();
  await first.locator("[data-action=more]").click();
  await alice.page.locator(".more-menu [data-action=select]").click();
  await bubble(alice.page, "The big one, at 10").locator(".select-box").check();
  await expect(alice.page.locator(".select-bar")).toContainText("2 selected");
  await alice.page.locator("[data-action=forward-selected]").click();
  const dialog = alice.page.getByRole("dialog");
  await dialog.locator("label.pick", { hasText: carol.name }).locator("input").check();
  await dialog.getByText("Merge into one chat record").click();
  await dialog.getByRole("button", { name: /^Forward/ }).click();
  await expect(dialog).toHaveCount(0);

  await openChat(carol.page, ac);
  const record = carol.page.locator(".record");
  await expect(record).toBeVisible();
  await expect(record).toContainText("Which room?");
  await expect(record).toContainText("The big one, at 10");

  // Delete for me: gone for Alice (also after a reload), still there for Bob.
  await openChat(alice.page, ab);
  const mine = bubble(alice.page, "Which room?");
  await mine.hover();
  await mine.locator("[data-action=more]").click();
  await alice.page.locator(".more-menu [data-action=hide]").click();
  await expect(bubble(alice.page, "Which room?")).toHaveCount(0);
  await alice.page.reload();
  await expect(bubble(alice.page, "The big one, at 10")).toBeVisible();
  await expect(bubble(alice.page, "Which room?")).toHaveCount(0);
  await expect(bubble(bob.page, "Which room?")).toBeVisible();
});
