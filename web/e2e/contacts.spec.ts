// Contacts between two people in two browsers: a friend request with a
// greeting found by username, seen live and accepted on the other side, a
// remark shown in the friends list, and a block that makes the other's
// direct message fail.

import { expect, test, uniqueName } from "./fixtures";
import { person, send } from "./ui";

test("find by username, request with a greeting, live accept, remark, block", async ({ browser, api }) => {
  const alice = await person(browser, api, uniqueName("alice"));
  const bob = await person(browser, api, uniqueName("bob"));
  await alice.page.locator("[data-tab=contacts]").click();
  await bob.page.locator("[data-tab=contacts]").click();
  await expect(bob.page.getByText("No pending requests")).toBeVisible();

  // Alice finds Bob by his username and asks, with a greeting.
  const find = alice.page.locator("input[name=find-user]");
  await find.fill(bob.login.user.username);
  await find.press("Enter");
  const card = alice.page.locator(`.ct-card[data-user="${bob.id}"]`);
  await expect(card.getByRole("heading", { name: bob.name })).toBeVisible();
  await card.getByRole("button", { name: "Add friend", exact: true }).click();
  await card.getByLabel("Greeting (optional)").fill("Hi Bob, it's Alice");
  await card.getByRole("button", { name: "Send request", exact: true }).click();
  await expect(card.getByText("Friend request sent", { exact: true })).toBeVisible();

  // Bob sees it arrive without reloading: greeting, count, and accepts.
  const request = bob.page.locator(".ct-incoming").filter({ has: bob.page.locator(`.ct-person[data-user="${alice.id}"]`) });
  await expect(request).toContainText("Hi Bob, it's Alice");
  await expect(bob.page.getByRole("heading", { name: /Friend requests/ }).locator(".badge")).toHaveText("1");
  await request.getByRole("button", { name: "Accept", exact: true }).click();
  await expect(bob.page.locator(`.ct-friends .ct-person[data-user="${alice.id}"]`)).toContainText(alice.name);
  await expect(request).toHaveCount(0);
  await expect(bob.page.getByRole("heading", { name: /Friend requests/ }).locator(".badge")).toHaveCount(0);

  // Alice's side follows live: Bob is a friend, in the card and the list.
  await expect(card.getByText("Friend", { exact: true })).toBeVisible();
  await find.fill("");
  const bobRow = alice.page.locator(`.ct-friends .ct-person[data-user="${bob.id}"]`);
  await expect(bobRow).toContainText(bob.name);

  // A remark is shown first in the list, the name after it.
  await bobRow.click();
  await card.getByRole("button", { name: "Set remark", exact: true }).click();
  await card.getByLabel("Remark").fill("Bobby from work");
  await card.getByRole("button", { name: "Save", exact: true }).click();
  await expect(bobRow.locator(".ct-remark")).toHaveText("Bobby from work");
  await expect(bobRow).toContainText(bob.name);
  await expect(card.getByRole("heading", { name: "Bobby from work" })).toBeVisible();

  // Alice blocks Bob (confirmed); he is listed as blocked.
  await card.getByRole("button", { name: "Block", exact: true }).click();
  await alice.page.getByRole("dialog").getByRole("button", { name: "Block", exact: true }).click();
  await expect(card.getByText("Blocked by you", { exact: true })).toBeVisible();
  await alice.page.getByRole("button", { name: /Blocked users/ }).click();
  await expect(alice.page.locator("#ct-blocked").locator(`.ct-person[data-user="${bob.id}"]`)).toBeVisible();

  // Bob's direct message to Alice is refused: a failed bubble saying why.
  await bob.page.locator(`.ct-friends .ct-person[data-user="${alice.id}"]`).click();
  await bob.page.locator(`.ct-card[data-user="${alice.id}"]`).getByRole("button", { name: "Message", exact: true }).click();
  await expect(bob.page.locator("textarea[name=message]")).toBeVisible();
  await send(bob.page, "are you there?");
  const failed = bob.page.locator(".msg-row.pending").filter({ hasText: "are you there?" });
  await expect(failed.locator("[data-status=failed]")).toBeVisible();
  await expect(failed).toContainText("You are blocked by this user");
});
