// Sessions: two tabs of one browser stay in sync and log out together; a
// session ended elsewhere (logout on another device's request, a revoked
// token) returns to the login screen saying why.

import { expect, test, uniqueName } from "./fixtures";
import { bubble, directId, openChat, person, send } from "./ui";

test("two tabs share the session: messages show in both, logging out in one logs out both", async ({ browser, api }) => {
  const alice = await person(browser, api, uniqueName("alice"));
  const bob = await person(browser, api, uniqueName("bob"));
  const conv = directId(alice.id, bob.id);
  const tab2 = await alice.context.newPage();
  await openChat(alice.page, conv);
  await openChat(tab2, conv);
  await send(alice.page, "from tab one");
  await expect(bubble(tab2, "from tab one")).toBeVisible();
  await openChat(bob.page, conv);
  await send(bob.page, "to both tabs");
  await expect(bubble(alice.page, "to both tabs")).toBeVisible();
  await expect(bubble(tab2, "to both tabs")).toBeVisible();

  const token = await tab2.evaluate(() => JSON.parse(localStorage.getItem("ferry.session") ?? "{}").token as string);
  await tab2.locator("[data-tab=settings]").click();
  await tab2.getByRole("button", { name: "Log out" }).click();
  await expect(tab2.locator("form input[name=username]")).toBeVisible();
  await expect(alice.page.locator("form input[name=username]")).toBeVisible();
  await expect(alice.page.getByRole("status")).toContainText("You logged out.");
  // The token is revoked on the server, not only forgotten here.
  await expect(api.call("GET", "/me", undefined, token)).rejects.toMatchObject({ status: 401 });
});

test("a token revoked elsewhere ends the session with a reason", async ({ browser, api }) => {
  const alice = await person(browser, api, uniqueName("alice"));
  await expect(alice.page.locator(".rail")).toBeVisible();
  const token = await alice.page.evaluate(() => JSON.parse(localStorage.getItem("ferry.session") ?? "{}").token as string);
  expect(token).toBeTruthy();
  // Another device (here: the API) logs this token out.
  await api.call("POST", "/auth/logout", {}, token);
  await expect(alice.page.locator("form input[name=username]")).toBeVisible();
  await expect(alice.page.getByRole("status")).toContainText("You logged out.");
  // Logging in again works and keeps the device id.
  await alice.page.fill("input[name=username]", alice.login.user.username);
  await alice.page.fill("input[name=password]", "correct horse battery");
  await alice.page.locator("form button[type=submit]").click();
  await expect(alice.page.locator(".rail")).toBeVisible();
});
