// The app as ferry-server serves it, in a real browser: it loads without
// errors under the server's Content-Security-Policy, and that policy lets
// the page open the long connection at /ws. Knows nothing of the UI.

import type { Page } from "@playwright/test";

import { expect, test, uniqueName } from "./fixtures";

declare global {
  interface Window {
    /** Filled by the init script below: `directive blocked-uri` per violation. */
    cspViolations: string[];
  }
}

/** Records CSP violations and console errors of `page` from its first script on. */
async function watch(page: Page): Promise<{ errors: string[]; violations: () => Promise<string[]> }> {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  await page.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      window.cspViolations.push(`${e.effectiveDirective} ${e.blockedURI}`);
    });
  });
  return { errors, violations: () => page.evaluate(() => window.cspViolations) };
}

test("the app loads with no errors and its WebSocket authenticates under the CSP", async ({ page, api }) => {
  const watched = await watch(page);

  const response = await page.goto("/");
  expect(response?.status()).toBe(200);
  const headers = response!.headers();
  expect(headers["content-security-policy"]).toContain("default-src 'self'");
  expect(headers["content-security-policy"]).toContain("script-src 'self'");
  expect(headers["content-security-policy"]).toContain("connect-src 'self'");
  expect(headers["cache-control"]).toBe("no-cache");
  expect(headers["x-content-type-options"]).toBe("nosniff");
  await page.waitForLoadState("networkidle");

  const name = uniqueName("smoke");
  await api.register(name);
  const { token } = await api.login(name);
  const answer = await page.evaluate(async (token) => {
    const ws = new WebSocket(`${location.origin.replace(/^http/, "ws")}/ws`);
    return new Promise<string>((resolve, reject) => {
      setTimeout(() => reject(new Error("no answer from /ws within 10 s")), 10_000);
      ws.onopen = () => ws.send(JSON.stringify({ id: "1", auth: { token, protocolVersion: 1 } }));
      ws.onmessage = (e) => {
        resolve(String(e.data));
        ws.close();
      };
      ws.onerror = () => reject(new Error("the WebSocket to /ws failed"));
    });
  }, token);
  const frame = JSON.parse(answer);
  expect(frame.id).toBe("1");
  expect(frame.authOk?.username, answer).toBe(name);

  expect(await watched.violations()).toEqual([]);
  expect(watched.errors).toEqual([]);
});

test("the CSP is enforced: no inline script, no other origin", async ({ page }) => {
  const watched = await watch(page);
  await page.goto("/");

  const ran = await page.evaluate(async () => {
    const script = document.createElement("script");
    script.textContent = "window.inlineRan = true";
    document.body.append(script);
    const fetched = await fetch("http://127.0.0.2:9/").then(
      () => "fetched",
      () => "refused",
    );
    return { inline: (window as unknown as { inlineRan?: boolean }).inlineRan ?? false, fetched };
  });
  expect(ran).toEqual({ inline: false, fetched: "refused" });
  await expect.poll(watched.violations).toEqual(["script-src-elem inline", "connect-src http://127.0.0.2:9/"]);
});
