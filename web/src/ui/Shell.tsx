// The logged-in layout: a narrow navigation rail, the list pane and the
// chat pane side by side; on a narrow (phone) screen one pane at a time,
// the chat over the list with a back button.

import { useEffect } from "preact/hooks";

import { t } from "../i18n";
import { engine, me } from "../state/app";
import { Avatar } from "./Avatar";
import { CallLayer } from "./Call";
import { Chat } from "./Chat";
import { Contacts } from "./Contacts";
import { Groups } from "./Groups";
import { Icon, type IconName } from "./icons";
import { ConversationList } from "./ConversationList";
import { go, route, type Tab } from "./route";
import { ImageViewer } from "./Media";
import { Settings } from "./Settings";
import { useNotifications } from "./notify";

const TABS: { tab: Tab; icon: IconName; key: "nav.chats" | "nav.contacts" | "nav.groups" | "nav.settings" }[] = [
  { tab: "chats", icon: "chats", key: "nav.chats" },
  { tab: "contacts", icon: "contacts", key: "nav.contacts" },
  { tab: "groups", icon: "groups", key: "nav.groups" },
  { tab: "settings", icon: "settings", key: "nav.settings" },
];

export function Shell() {
  const r = route.value;
  const e = engine.value;
  const unread = e ? e.conversations.value.reduce((n, c) => n + (c.muted ? 0 : c.unread), 0) : 0;
  useNotifications();

  useEffect(() => {
    document.title = unread > 0 ? `(${unread}) ${t("app.name")}` : t("app.name");
  }, [unread]);

  const u = me.value;
  return (
    <div class={`shell${r.chat ? " has-chat" : ""}`}>
      <nav class="rail" aria-label="Ferry">
        {u ? <Avatar id={String(u.id)} name={u.display_name} src={u.avatar} size={36} /> : null}
        {TABS.map((x) => (
          <button
            key={x.tab}
            type="button"
            class={`rail-item${r.tab === x.tab ? " active" : ""}`}
            aria-current={r.tab === x.tab ? "page" : undefined}
            aria-label={t(x.key)}
            title={t(x.key)}
            data-tab={x.tab}
            onClick={() => go({ tab: x.tab, chat: x.tab === "chats" ? r.chat : null })}
          >
            <Icon name={x.icon} size={22} />
            {x.tab === "chats" && unread > 0 ? <span class="rail-badge">{unread > 99 ? "99+" : unread}</span> : null}
          </button>
        ))}
      </nav>
      {r.tab === "chats" ? <ConversationList /> : r.tab === "contacts" ? <Contacts /> : r.tab === "groups" ? <Groups /> : <Settings />}
      {r.tab === "chats" ? (
        r.chat && e ? (
          <Chat key={r.chat} id={r.chat} />
        ) : (
          <section class="pane chat-pane placeholder">
            <p class="muted">{t("chat.pick")}</p>
          </section>
        )
      ) : null}
      <ImageViewer />
      <CallLayer />
    </div>
  );
}
