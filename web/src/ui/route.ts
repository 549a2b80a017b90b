// Where the user is: a tab of the navigation rail and the open chat, kept in
// the address (`/chats/<conversation id>`, `/contacts`, …) so reload and the
// browser's back button work (on a phone, back leaves the chat for the list).

import { signal } from "@preact/signals";

export type Tab = "chats" | "contacts" | "groups" | "settings";

export interface Route {
  tab: Tab;
  chat: string | null;
}

export function parse(path: string): Route {
  const parts = path.split("/").filter(Boolean);
  const tab = (["chats", "contacts", "groups", "settings"] as Tab[]).find((x) => x === parts[0]) ?? "chats";
  const chat = tab === "chats" && parts[1] && /^(d_\d+_\d+|g_\d+)$/.test(parts[1]) ? parts[1] : null;
  return { tab, chat };
}

export function format(r: Route): string {
  return r.chat ? `/chats/${r.chat}` : `/${r.tab}`;
}

export const route = signal<Route>(parse(typeof location === "undefined" ? "/" : location.pathname));

export function go(r: Route, replace = false): void {
  const path = format(r);
  if (path !== location.pathname) {
    if (replace) history.replaceState(null, "", path);
    else history.pushState(null, "", path);
  }
  route.value = r;
}

export function openChat(id: string): void {
  go({ tab: "chats", chat: id });
}

if (typeof window !== "undefined") {
  window.addEventListener("popstate", () => {
    route.value = parse(location.pathname);
  });
}
