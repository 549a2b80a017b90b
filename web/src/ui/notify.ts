// Browser notifications for new messages while the tab is hidden (never
// for muted conversations), when the user allowed them in Settings.

import { useEffect } from "preact/hooks";

import { engine } from "../state/app";
import { displayName } from "../state/app";
import { titleOf } from "./ConversationList";
import { previewOf } from "./preview";
import { openChat } from "./route";

export function useNotifications(): void {
  const e = engine.value;
  useEffect(() => {
    if (!e) return;
    e.onIncoming = (m, c) => {
      if (c.muted || typeof Notification === "undefined" || Notification.permission !== "granted") return;
      if (document.visibilityState === "visible" && document.hasFocus()) return;
      const body = c.kind === "group" ? `${displayName(m.senderId ?? "")}: ${previewOf(m.content)}` : previewOf(m.content);
      const n = new Notification(titleOf(c), { body, tag: c.id });
      n.onclick = () => {
        window.focus();
        openChat(c.id);
        n.close();
      };
    };
    return () => {
      e.onIncoming = null;
    };
  }, [e]);
}
