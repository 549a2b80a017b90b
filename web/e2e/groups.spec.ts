// Groups with three people in three browsers: Alice creates a group with
// Bob and Carol from the UI; all three see it and each sees the others'
// messages; Alice makes Bob an admin (Bob sees his badge), mutes Carol
// (Carol's send fails), then removes her (Carol's group list loses it).

import type { Page } from "@playwright/test";

import { expect, test, uniqueName, type Api } from "./fixtures";
import { person, send, texts, type Person } from "./ui";

/** Makes two people friends over the HTTP API (setup, not under test). */
async function befriend(api: Api, a: Person, b: Person): Promise<void> {
  const sent = await api.call<{ request: { id: number } }>("POST", "/friends/requests", { user_id: Number(b.id) }, a.login.token);
  await api.call("POST", `/friends/requests/${sent.request.id}/accept`, undefined, b.login.token);
}

/** Opens the details panel of the open chat. */
async function openDetails(page: Page): Promise<void> {
  const panel = page.locator("aside.details");
  if (!(await panel.isVisible())) await page.locator("[data-action=details]").click();
  await expect(panel).toBeVisible();
}

/** Picks an action from a member's "⋯" menu in the details panel. */
async function memberAction(page: Page, userId: string, action: string): Promise<void> {
  const row = page.locator(`aside.details .grp-member[data-user="${userId}"]`);
  await row.locator("[data-action=member-menu]").click();
  await page.locator(`.grp-menu [data-action=${action}]`).click();
}

test("three people in a group: create, chat, make admin, mute, remove", async ({ browser, api }) => {
  const alice = await person(browser, api, uniqueName("alice"));
  const bob = await person(browser, api, uniqueName("bob"));
  const carol = await person(browser, api, uniqueName("carol"));
  await befriend(api, alice, bob);
  await befriend(api, alice, carol);

  // Alice creates the group from the Groups tab, picking her two friends.
  await alice.page.locator("[data-tab=groups]").click();
  await alice.page.locator("[data-action=new-group]").click();
  const dialog = alice.page.getByRole("dialog", { name: "New group" });
  await dialog.locator("input[name=group_name]").fill("Trip planning");
  await dialog.locator(`label.grp-pick[data-user="${bob.id}"] input`).check();
  await dialog.locator(`label.grp-pick[data-user="${carol.id}"] input`).check();
  await dialog.locator("[data-action=create-group]").click();
  await expect(alice.page).toHaveURL(/\/chats\/g_\d+$/);
  const conv = new URL(alice.page.url()).pathname.split("/").pop()!;
  const groupId = conv.slice(2);
  await expect(alice.page.locator("textarea[name=message]")).toBeVisible();

  // Bob and Carol see it in their group lists, with its three members, and open it.
  for (const p of [bob, carol]) {
    await p.page.locator("[data-tab=groups]").click();
    const item = p.page.locator(`.grp-item[data-group="${groupId}"]`);
    await expect(item).toContainText("Trip planning");
    await expect(item).toContainText("3 members");
    await item.click();
    await expect(p.page).toHaveURL(new RegExp(`/chats/${conv}$`));
    await expect(p.page.locator("textarea[name=message]")).toBeVisible();
  }

  // Each one's message reaches the other two, in order.
  const lines = ["Hello from Alice", "Bob here", "Carol here"];
  const people = [alice, bob, carol];
  for (let i = 0; i < people.length; i++) {
    await send(people[i]!.page, lines[i]!);
    for (const p of people) await expect.poll(() => texts(p.page)).toEqual(lines.slice(0, i + 1));
  }

  // Alice makes Bob an admin; Bob's own details panel shows the badge.
  await openDetails(alice.page);
  await expect(alice.page.locator("aside.details .grp-member")).toHaveCount(3);
  await memberAction(alice.page, bob.id, "make-admin");
  await expect(alice.page.locator(`aside.details .grp-member[data-user="${bob.id}"] [data-badge=admin]`)).toBeVisible();
  await openDetails(bob.page);
  await expect(bob.page.locator(`aside.details .grp-member[data-user="${bob.id}"] [data-badge=admin]`)).toBeVisible();
  await expect(bob.page.locator(`aside.details .grp-member[data-user="${alice.id}"] [data-badge=owner]`)).toBeVisible();

  // Alice mutes Carol for an hour; Carol's next message is refused.
  await memberAction(alice.page, carol.id, "mute");
  const mute = alice.page.getByRole("dialog", { name: /Mute/ });
  await mute.locator("select[name=mute_minutes]").selectOption("60");
  await mute.locator("[data-action=confirm-mute]").click();
  await expect(mute).toBeHidden();
  await expect(alice.page.locator(`aside.details .grp-member[data-user="${carol.id}"] [data-badge=muted]`)).toBeVisible();
  await send(carol.page, "Can I still talk?");
  await expect(carol.page.locator(".msg-row.pending [data-status=failed]")).toBeVisible();
  await expect(carol.page.locator(".msg-row.pending .failed-actions")).toContainText("muted");
  // Nobody else got it.
  await expect.poll(() => texts(bob.page)).toEqual(lines);

  // Alice removes Carol (after confirming); Carol's group list loses the group.
  await memberAction(alice.page, carol.id, "kick");
  const confirm = alice.page.getByRole("dialog", { name: "Remove member?" });
  await expect(confirm).toBeVisible();
  await confirm.locator("[data-action=confirm]").click();
  await expect(alice.page.locator(`aside.details .grp-member[data-user="${carol.id}"]`)).toHaveCount(0);
  await expect(alice.page.locator("aside.details")).toContainText("Members · 2");
  await carol.page.locator("[data-tab=groups]").click();
  await expect(carol.page.locator(`.grp-item[data-group="${groupId}"]`)).toHaveCount(0);
  // Bob, still in, sees the member count follow.
  await bob.page.locator("[data-tab=groups]").click();
  await expect(bob.page.locator(`.grp-item[data-group="${groupId}"]`)).toContainText("2 members");

  for (const p of people) await p.context.close();
});
