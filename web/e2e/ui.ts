// UI steps shared by the e2e specs: logging in through the real login form,
// opening a chat by its address, sending and finding messages.

import type { Browser, BrowserContext, Page } from "@playwright/test";

import { expect, PASSWORD, type Api, type Login } from "./fixtures";

export interface Person {
  login: Login;
  context: BrowserContext;
  page: Page;
  id: string;
  name: string;
}

/** Registers a user over HTTP, then logs in through the login form in a new context. */
export async function person(browser: Browser, api: Api, username: string, opts: { locale?: string; colorScheme?: "light" | "dark"; viewport?: { width: number; height: number } } = {}): Promise<Person> {
  await api.register(username, PASSWORD, username[0]!.toUpperCase() + username.slice(1).split("_")[0]);
  const context = await browser.newContext({
    baseURL: api.baseUrl,
    locale: opts.locale ?? "en-US",
    colorScheme: opts.colorScheme ?? "light",
    viewport: opts.viewport ?? { width: 1200, height: 800 },
  });
  const page = await context.newPage();
  await page.goto("/");
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", PASSWORD);
  await page.locator("form button[type=submit]").click();
  await expect(page.locator(".rail")).toBeVisible();
  const login = await api.login(username);
  return { login, context, page, id: String(login.user.id), name: login.user.display_name };
}

export function directId(a: string, b: string): string {
  return BigInt(a) < BigInt(b) ? `d_${a}_${b}` : `d_${b}_${a}`;
}

/** Opens a chat by its address (as a bookmark or a notification would). */
export async function openChat(page: Page, conversationId: string): Promise<void> {
  await page.goto(`/chats/${conversationId}`);
  await expect(page.locator("textarea[name=message]")).toBeVisible();
}

export async function send(page: Page, text: string): Promise<void> {
  const box = page.locator("textarea[name=message]");
  await box.fill(text);
  await box.press("Enter");
}

/** The bubble of a (delivered) message with exactly this text. */
export function bubble(page: Page, text: string) {
  return page.locator(".msg-row[data-seq]").filter({ has: page.locator(".text", { hasText: new RegExp(`^${escape(text)}$`) }) });
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The texts of the delivered messages, in order. */
export async function texts(page: Page): Promise<string[]> {
  return page.locator(".msg-row[data-seq] .text").allInnerTexts();
}
