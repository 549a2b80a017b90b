// Accessibility scan (axe-core) of the main screens, in both themes: no
// serious or critical violations.

import AxeBuilder from "@axe-core/playwright";
import type { Page } from "@playwright/test";

import { expect, test, uniqueName } from "./fixtures";
import { directId, openChat, person, send } from "./ui";

async function scan(page: Page, name: string) {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(bad.map((v) => `${name}: ${v.id} (${v.impact}) ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`)).toEqual([]);
}

for (const scheme of ["light", "dark"] as const) {
  test(`main screens have no serious accessibility violations (${scheme})`, async ({ browser, api }) => {
    const login = await browser.newContext({ baseURL: api.baseUrl, colorScheme: scheme });
    const lp = await login.newPage();
    await lp.goto("/");
    await expect(lp.locator("form")).toBeVisible();
    await scan(lp, "login");

    const alice = await person(browser, api, uniqueName("alice"), { colorScheme: scheme });
    const bob = await person(browser, api, uniqueName("bob"), { colorScheme: scheme });
    const conv = directId(alice.id, bob.id);
    await openChat(alice.page, conv);
    await send(alice.page, "Hello! https://example.com");
    await openChat(bob.page, conv);
    await send(bob.page, "Hi 你好");
    await expect(alice.page.locator(".msg-row[data-seq]")).toHaveCount(2);
    await scan(alice.page, "chat");
    for (const tab of ["contacts", "groups", "settings"]) {
      await alice.page.locator(`[data-tab=${tab}]`).click();
      await alice.page.waitForTimeout(200);
      await scan(alice.page, tab);
    }
  });
}

test("the call screens have no serious accessibility violations", async ({ browser, api }) => {
  const alice = await person(browser, api, uniqueName("alice"));
  const bob = await person(browser, api, uniqueName("bob"), { colorScheme: "dark" });
  const sent = await api.call<{ request: { id: number } }>("POST", "/friends/requests", { user_id: Number(bob.id) }, alice.login.token);
  await api.call("POST", `/friends/requests/${sent.request.id}/accept`, undefined, bob.login.token);
  const conv = directId(alice.id, bob.id);
  await openChat(alice.page, conv);
  await openChat(bob.page, conv);
  await alice.page.locator("[data-action=call-video]").click();
  await expect(bob.page.locator("[data-call=incoming]")).toBeVisible();
  await scan(bob.page, "incoming call");
  await scan(alice.page, "outgoing call");
  await bob.page.locator("[data-action=accept-video]").click();
  await expect(alice.page.locator(".call-view[data-call=active]")).toBeVisible();
  await scan(alice.page, "in call");
  await bob.page.locator("[data-action=minimise]").click();
  await expect(bob.page.locator("[data-call=bar]")).toBeVisible();
  await scan(bob.page, "call bar");
  await alice.page.locator("[data-action=hangup]").click();
  await expect(alice.page.locator("[data-call=ended]")).toBeVisible();
  await scan(alice.page, "call ended");
});
