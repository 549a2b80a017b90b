// Contacts: find a user by username and start a chat. (Friend requests,
// remarks and the blocklist build on this pane.)

import { useState } from "preact/hooks";

import type { User } from "../api/http";
import { t } from "../i18n";
import { engine, http, remember, session } from "../state/app";
import { directId } from "../sync/engine";
import { errorText } from "./Auth";
import { Avatar } from "./Avatar";
import { openChat } from "./route";

export function Contacts() {
  const [q, setQ] = useState("");
  const [found, setFound] = useState<User[] | null>(null);
  const [error, setError] = useState("");
  const me = session.value!.userId;

  const find = async (ev: Event) => {
    ev.preventDefault();
    setError("");
    try {
      const a = await http.searchUsers(q.trim());
      remember(a.users);
      setFound(a.users);
    } catch (e) {
      setError(errorText(e));
    }
  };

  const message = (u: User) => {
    const id = directId(me, String(u.id));
    engine.value?.ensureConversation(id, u.display_name);
    openChat(id);
  };

  return (
    <section class="pane list-pane" aria-labelledby="contacts-title">
      <header class="pane-header">
        <h2 id="contacts-title">{t("contacts.title")}</h2>
      </header>
      <form class="search-box" onSubmit={find} role="search">
        <input type="search" name="find-user" placeholder={t("contacts.find")} aria-label={t("contacts.find")} value={q} onInput={(e) => setQ(e.currentTarget.value)} />
      </form>
      {error ? <p class="error" role="alert">{error}</p> : null}
      {found && found.length === 0 ? <p class="empty muted">{t("contacts.none")}</p> : null}
      <ul class="people">
        {(found ?? []).map((u) => (
          <li key={u.id} class="person">
            <Avatar id={String(u.id)} name={u.display_name} />
            <div class="person-main">
              <strong>{u.display_name}</strong>
              <span class="muted small">@{u.username}</span>
            </div>
            {String(u.id) !== me ? (
              <button type="button" class="primary" onClick={() => message(u)}>
                {t("contacts.message")}
              </button>
            ) : null}
          </li>
        ))}
      </ul>
    </section>
  );
}
