// Contacts: friend requests (received, with their greeting, and sent), the
// friends list (remark first, presence dot, sorted by name, filtered by the
// search box), the blocklist, and finding a user by username. A contact
// opens a profile card: message, add friend (with a greeting), accept or
// decline, set a remark, remove, block or unblock.
//
// Wide: the list beside the card. Narrow (a phone, or a narrow list
// column): one at a time, the card with a back button. The width is the
// pane's own (a container query), not the window's.

import { signal } from "@preact/signals";
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

import { ApiError, type User } from "../api/http";
import {
  blocks,
  friends,
  incoming,
  loaded,
  outgoing,
  refresh,
  remarkOf,
  requestFrom,
  requestTo,
  syncError,
  type FriendRequest,
} from "../contacts/store";
import { locale, t, type Key } from "../i18n";
import { engine, http, me as meUser, presence, remember, session, user } from "../state/app";
import { directId } from "../sync/engine";
import { errorText } from "./Auth";
import { Avatar } from "./Avatar";
import { Dialog } from "./Dialog";
import { Icon } from "./icons";
import { go, openChat } from "./route";
import "./contacts.css";

/** The user whose card is open (kept while other tabs are shown). */
const selected = signal<string | null>(null);
/** Move focus into the card once it renders (it was opened by the user). */
let focusCard = false;

function select(id: string | null): void {
  focusCard = id !== null;
  selected.value = id;
}

interface Notice {
  text: string;
  error: boolean;
}

/** An API error in words, with the meaning `not_found` has for this action. */
function actionError(e: unknown, notFound: Key = "contacts.error.noUser"): string {
  if (e instanceof ApiError) {
    if (e.code === "blocked") return t("contacts.error.blocked");
    if (e.code === "not_found") return t(notFound);
  }
  return errorText(e);
}

function nameOf(id: string, u: User | undefined): string {
  return u?.display_name || u?.username || `#${id}`;
}

/** What a contact is listed and sorted by: the remark, else the name. */
function listName(id: string): string {
  return remarkOf(id) || nameOf(id, user(id));
}

function message(id: string): void {
  const me = session.value!.userId;
  const conv = directId(me, id);
  engine.value?.ensureConversation(conv, user(id)?.display_name ?? "");
  openChat(conv);
}

// --- finding a user by username -----------------------------------------------

interface Found {
  q: string;
  users: User[] | null;
  error: unknown;
}

async function lookUp(q: string, signal?: AbortSignal): Promise<User[]> {
  const a = await http.request<{ users: User[] }>("GET", "/users/search", undefined, { q }, signal);
  remember(a.users);
  return a.users;
}

function cleanQuery(q: string): string {
  return q.trim().replace(/^@/, "");
}

/** The server's exact-username lookup of what is typed, debounced. */
function useFind(q: string): [Found | null, (f: Found) => void] {
  const [found, setFound] = useState<Found | null>(null);
  useEffect(() => {
    const query = cleanQuery(q);
    setFound(null);
    if (!query || query.length > 64 || /\s/.test(query)) return;
    const ctl = new AbortController();
    const timer = setTimeout(() => {
      lookUp(query, ctl.signal).then(
        (users) => setFound({ q: query, users, error: null }),
        (e: unknown) => {
          if ((e as Error)?.name !== "AbortError") setFound({ q: query, users: null, error: e });
        },
      );
    }, 300);
    return () => {
      clearTimeout(timer);
      ctl.abort();
    };
  }, [q]);
  return [found, setFound];
}

// --- the pane -------------------------------------------------------------------

export function Contacts() {
  const [q, setQ] = useState("");
  const [found, setFound] = useFind(q);
  const [notice, setNotice] = useState<Notice | null>(null);
  const [showBlocked, setShowBlocked] = useState(false);
  const sel = selected.value;
  const query = cleanQuery(q).toLowerCase();

  // Back from the card (narrow layout): focus returns to its row.
  const back = () => {
    const id = selected.value;
    select(null);
    if (id) requestAnimationFrame(() => document.querySelector<HTMLElement>(`.ct-person[data-user="${id}"]`)?.focus());
  };

  const submit = async (ev: Event) => {
    ev.preventDefault();
    const query = cleanQuery(q);
    if (!query) return;
    try {
      const users = await lookUp(query);
      setFound({ q: query, users, error: null });
      // Enter opens the one match: the user of that name, else the one friend.
      if (users.length === 1) select(String(users[0]!.id));
      else if (!users.length && shown.length === 1) select(shown[0]!.id);
    } catch (e) {
      setFound({ q: query, users: null, error: e });
    }
  };

  // Friends: sorted by what is shown (remark, else name), filtered by the box.
  const collator = new Intl.Collator(locale.value, { sensitivity: "base", numeric: true });
  const all = [...friends.value.keys()].map((id) => ({ id, name: listName(id) }));
  all.sort((a, b) => collator.compare(a.name, b.name) || (a.id < b.id ? -1 : 1));
  const shown = query
    ? all.filter(({ id, name }) => {
        const u = user(id);
        return [name, u?.display_name, u?.username, id].some((s) => s?.toLowerCase().includes(query));
      })
    : all;
  const shownIds = new Set(shown.map((f) => f.id));
  const foundOthers = found?.users?.filter((u) => !shownIds.has(String(u.id))) ?? [];
  const searching = !!query && !found && cleanQuery(q).length <= 64 && !/\s/.test(query);

  const blockedIds = [...blocks.value.keys()].sort((a, b) => collator.compare(listName(a), listName(b)));
  const inc = incoming.value;
  const out = outgoing.value;
  const err = syncError.value;

  return (
    <section class="pane list-pane contacts-pane" aria-labelledby="contacts-title">
      <div class={`ct-layout${sel ? " ct-has-card" : ""}`}>
        <div class="ct-column">
          <header class="pane-header">
            <h2 id="contacts-title">{t("contacts.title")}</h2>
          </header>
          <form class="search-box ct-search" role="search" onSubmit={submit}>
            <label class="ct-sr" for="ct-find">
              {t("contacts.search")}
            </label>
            <input
              id="ct-find"
              type="search"
              name="find-user"
              autoComplete="off"
              placeholder={t("contacts.search")}
              value={q}
              onInput={(e) => setQ(e.currentTarget.value)}
            />
            <button type="submit" class="icon ct-search-go" aria-label={t("contacts.search.go")} title={t("contacts.search.go")}>
              <Icon name="search" size={18} />
            </button>
          </form>
          <div class="ct-scroll">
            {err ? (
              <div class="ct-banner ct-banner-error" role="alert">
                <span>{t("contacts.error.sync", { error: errorText(err) })}</span>
                <button type="button" class="link" onClick={() => void refresh()}>
                  {t("contacts.retry")}
                </button>
              </div>
            ) : null}
            {notice ? <NoticeLine notice={notice} onDismiss={() => setNotice(null)} /> : null}

            {query ? (
              <FoundSection found={found} others={foundOthers} searching={searching} friendsShown={shown.length} selected={sel} />
            ) : (
              <section class="ct-section" aria-labelledby="ct-requests-h">
                <h3 id="ct-requests-h" class="ct-heading">
                  <span>{t("contacts.requests")}</span>
                  {inc.length > 0 ? (
                    <span class="badge" aria-hidden="true">
                      {inc.length > 99 ? "99+" : inc.length}
                    </span>
                  ) : null}
                  {inc.length > 0 ? <span class="ct-sr">{t("contacts.requests.count", { n: inc.length })}</span> : null}
                </h3>
                {inc.length || out.length ? (
                  <ul class="ct-list" aria-labelledby="ct-requests-h">
                    {inc.map((r) => (
                      <IncomingRow key={r.id} r={r} selected={sel} onNotice={setNotice} />
                    ))}
                    {out.map((r) => {
                      const id = String(r.to_user_id);
                      return (
                        <li key={r.id} class="ct-row" data-request={r.id}>
                          <Person id={id} current={sel === id} sub={t("contacts.request.waiting")} />
                          <span class="ct-pill">{t("contacts.request.pending")}</span>
                        </li>
                      );
                    })}
                  </ul>
                ) : loaded.value ? (
                  <p class="ct-empty muted">{t("contacts.requests.empty")}</p>
                ) : null}
              </section>
            )}

            {/* Searching: friends only when some match (the lookup speaks otherwise). */}
            {query && !shown.length && (found || searching) ? null : (
            <section class="ct-section" aria-labelledby="ct-friends-h">
              <h3 id="ct-friends-h" class="ct-heading">
                <span>{t("contacts.friends")}</span>
                {all.length ? <span class="ct-count">{query ? `${shown.length}/${all.length}` : all.length}</span> : null}
              </h3>
              {shown.length ? (
                <ul class="ct-list ct-friends" aria-labelledby="ct-friends-h">
                  {shown.map(({ id }) => (
                    <li key={id} class="ct-row">
                      <Person id={id} current={sel === id} />
                    </li>
                  ))}
                </ul>
              ) : !loaded.value ? (
                err ? null : <p class="ct-empty muted">{t("contacts.loading")}</p>
              ) : query ? (
                all.length ? <p class="ct-empty muted">{t("contacts.friends.noMatch", { q: cleanQuery(q) })}</p> : null
              ) : (
                <p class="ct-empty muted">{t("contacts.friends.empty")}</p>
              )}
            </section>
            )}

            {query ? null : (
              <section class="ct-section" aria-labelledby="ct-blocked-h">
                <h3 id="ct-blocked-h" class="ct-heading">
                  <button type="button" class="ct-toggle" aria-expanded={showBlocked} aria-controls="ct-blocked" onClick={() => setShowBlocked(!showBlocked)}>
                    <span>{t("contacts.blocked")}</span>
                    {blockedIds.length ? <span class="ct-count">{blockedIds.length}</span> : null}
                    <span class={`ct-chevron${showBlocked ? " open" : ""}`}>
                      <Icon name="down" size={16} />
                    </span>
                  </button>
                </h3>
                <div id="ct-blocked" hidden={!showBlocked}>
                  {blockedIds.length ? (
                    <ul class="ct-list" aria-labelledby="ct-blocked-h">
                      {blockedIds.map((id) => (
                        <BlockedRow key={id} id={id} selected={sel} onNotice={setNotice} />
                      ))}
                    </ul>
                  ) : (
                    <p class="ct-empty muted">{t("contacts.blocked.empty")}</p>
                  )}
                </div>
              </section>
            )}
          </div>
        </div>
        <div class="ct-detail">
          {sel ? (
            <Card key={sel} id={sel} onBack={back} />
          ) : (
            <div class="ct-placeholder">
              <Icon name="contacts" size={40} />
              <p>{t("contacts.pick")}</p>
              <p class="muted small">{t("contacts.pick.hint")}</p>
            </div>
          )}
        </div>
      </div>
    </section>
  );
}

/** An outcome: an error stays until dismissed, a success fades after a while. */
function NoticeLine(p: { notice: Notice; onDismiss: () => void }) {
  useEffect(() => {
    if (p.notice.error) return;
    const timer = setTimeout(p.onDismiss, 5000);
    return () => clearTimeout(timer);
  }, [p.notice]);
  return (
    <div class={`ct-banner${p.notice.error ? " ct-banner-error" : ""}`} role={p.notice.error ? "alert" : "status"}>
      <span>{p.notice.text}</span>
      <button type="button" class="icon" aria-label={t("common.close")} onClick={p.onDismiss}>
        <Icon name="close" size={14} />
      </button>
    </div>
  );
}

/** A contact's row: avatar (with presence), remark then name, a second line. */
function Person(p: { id: string; current: boolean; sub?: ComponentChildren }) {
  const u = user(p.id);
  const name = nameOf(p.id, u);
  const remark = remarkOf(p.id);
  const online = presence.value.get(p.id) === true;
  return (
    <button type="button" class="ct-person" aria-current={p.current ? "true" : undefined} data-user={p.id} onClick={() => select(p.id)}>
      <Avatar id={p.id} name={name} src={u?.avatar} online={online} />
      <span class="ct-main">
        <span class="ct-name">
          {remark ? (
            <>
              <span class="ct-remark">{remark}</span> <span class="ct-alt">{name}</span>
            </>
          ) : (
            name
          )}
        </span>
        <span class="ct-sub">{p.sub ?? (u ? `@${u.username}` : "")}</span>
      </span>
      {online ? <span class="ct-sr">{t("contacts.online")}</span> : null}
    </button>
  );
}

function FoundSection(p: { found: Found | null; others: User[]; searching: boolean; friendsShown: number; selected: string | null }) {
  const f = p.found;
  const me = session.value?.userId;
  if (p.searching) {
    return (
      <p class="ct-empty muted" role="status">
        {t("contacts.searching")}
      </p>
    );
  }
  if (!f) return null;
  if (f.error) {
    return (
      <p class="ct-banner ct-banner-error" role="alert">
        {errorText(f.error)}
      </p>
    );
  }
  if (!p.others.length) {
    // Nobody by that name; say so unless friends match what is typed.
    if (p.friendsShown || f.users?.length) return null;
    return (
      <div class="ct-empty" role="status">
        <p class="muted">{t("contacts.notFound", { q: f.q })}</p>
        <p class="muted small">{t("contacts.search.hint")}</p>
      </div>
    );
  }
  return (
    <section class="ct-section" aria-labelledby="ct-found-h">
      <h3 id="ct-found-h" class="ct-heading">
        <span>{t("contacts.found")}</span>
      </h3>
      <ul class="ct-list" aria-labelledby="ct-found-h">
        {p.others.map((u) => {
          const id = String(u.id);
          return (
            <li key={id} class="ct-row">
              <Person id={id} current={p.selected === id} sub={id === me ? t("contacts.you") : `@${u.username}`} />
            </li>
          );
        })}
      </ul>
    </section>
  );
}

/** Runs an action once at a time, reporting its outcome. */
function useAction(onNotice: (n: Notice | null) => void): [boolean, (f: () => Promise<unknown>, ok: string, notFound?: Key) => Promise<boolean>] {
  const [busy, setBusy] = useState(false);
  const alive = useRef(true);
  useEffect(
    () => () => {
      alive.current = false;
    },
    [],
  );
  const run = async (f: () => Promise<unknown>, ok: string, notFound?: Key) => {
    setBusy(true);
    onNotice(null);
    try {
      await f();
      void refresh();
      if (alive.current) onNotice(ok ? { text: ok, error: false } : null);
      return true;
    } catch (e) {
      // Shown wherever it can be: in the row's pane if the row is gone.
      onNotice({ text: actionError(e, notFound), error: true });
      void refresh();
      return false;
    } finally {
      if (alive.current) setBusy(false);
    }
  };
  return [busy, run];
}

function answer(r: FriendRequest, accept: boolean): Promise<unknown> {
  return http.post(`/friends/requests/${r.id}/${accept ? "accept" : "decline"}`);
}

function IncomingRow(p: { r: FriendRequest; selected: string | null; onNotice: (n: Notice | null) => void }) {
  const id = String(p.r.from_user_id);
  const [busy, run] = useAction(p.onNotice);
  return (
    <li class="ct-row ct-incoming" data-request={p.r.id}>
      <Person id={id} current={p.selected === id} sub={p.r.greeting ? `“${p.r.greeting}”` : t("contacts.request.wants")} />
      <span class="ct-actions">
        <button type="button" class="primary" disabled={busy} onClick={() => void run(() => answer(p.r, true), t("contacts.request.accepted"), "contacts.error.answered")}>
          {t("contacts.request.accept")}
        </button>
        <button type="button" disabled={busy} onClick={() => void run(() => answer(p.r, false), t("contacts.request.declined"), "contacts.error.answered")}>
          {t("contacts.request.decline")}
        </button>
      </span>
    </li>
  );
}

function BlockedRow(p: { id: string; selected: string | null; onNotice: (n: Notice | null) => void }) {
  const [busy, run] = useAction(p.onNotice);
  return (
    <li class="ct-row">
      <Person id={p.id} current={p.selected === p.id} />
      <span class="ct-actions">
        <button type="button" disabled={busy} onClick={() => void run(() => http.delete(`/blocks/${p.id}`), t("contacts.unblockedDone"), "contacts.error.notBlocked")}>
          {t("contacts.unblock")}
        </button>
      </span>
    </li>
  );
}

// --- the profile card -------------------------------------------------------------

function Card(p: { id: string; onBack: () => void }) {
  const id = p.id;
  const me = session.value!.userId;
  const self = id === me;
  const u = user(id);
  const name = nameOf(id, u);
  const friend = friends.value.get(id);
  const blocked = blocks.value.has(id);
  const received = requestFrom(id);
  const sent = requestTo(id);
  const online = presence.value.get(id) === true;

  const [mode, setMode] = useState<"none" | "remark" | "add">("none");
  const [confirm, setConfirm] = useState<"remove" | "block" | null>(null);
  const [remark, setRemark] = useState(friend?.remark ?? "");
  const [greeting, setGreeting] = useState(() => t("contacts.greeting.default", { name: meUser.value?.display_name ?? session.value?.username ?? "" }));
  const [notice, setNotice] = useState<Notice | null>(null);
  const [busy, run] = useAction(setNotice);
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    if (focusCard) heading.current?.focus();
    focusCard = false;
  }, []);
  // A friendship that ends while the remark form is open closes it.
  useEffect(() => {
    if (!friend && mode === "remark") setMode("none");
  }, [!!friend]);

  const startRemark = () => {
    setRemark(friend?.remark ?? "");
    setMode("remark");
  };

  const saveRemark = async (ev: Event) => {
    ev.preventDefault();
    if (await run(() => http.put(`/friends/${id}/remark`, { remark: remark.trim() }), t("contacts.remark.saved"), "contacts.error.notFriend")) setMode("none");
  };

  const sendRequest = async (ev: Event) => {
    ev.preventDefault();
    let accepted = false;
    const ok = await run(async () => {
      const a = await http.post<{ request: FriendRequest }>("/friends/requests", { user_id: Number(id), greeting: greeting.trim() });
      accepted = a.request.status === "accepted";
    }, "");
    if (ok) {
      setMode("none");
      // Sent: the "Friend request sent" tag says so (a live region).
      if (accepted) setNotice({ text: t("contacts.request.accepted"), error: false });
    }
  };

  const doConfirm = async () => {
    const what = confirm;
    setConfirm(null);
    if (what === "remove") await run(() => http.delete(`/friends/${id}`), t("contacts.removed"), "contacts.error.notFriend");
    else if (what === "block") await run(() => http.put(`/blocks/${id}`), t("contacts.blockedDone"));
  };

  const title = (friend?.remark || "") || name;
  return (
    <article class="ct-card" aria-labelledby="ct-card-name" data-user={id}>
      <div class="ct-card-bar">
        <button type="button" class="icon ct-back" aria-label={t("contacts.back")} title={t("contacts.back")} onClick={p.onBack}>
          <Icon name="back" size={22} />
        </button>
      </div>
      <div class="ct-card-head">
        <Avatar id={id} name={name} src={u?.avatar} size={72} online={online} />
        <div class="ct-card-id">
          <h3 id="ct-card-name" ref={heading} tabIndex={-1}>
            {title}
          </h3>
          {friend?.remark ? <p class="muted">{t("contacts.name", { name })}</p> : null}
          <p class="muted">
            {u ? `@${u.username}` : ""}
            {online ? <span class="ct-online"> · {t("contacts.online")}</span> : null}
          </p>
        </div>
      </div>

      <ul class="ct-tags" aria-live="polite">
        {self ? <li class="ct-tag">{t("contacts.you")}</li> : null}
        {friend ? <li class="ct-tag ct-tag-friend">{t("contacts.relation.friend")}</li> : null}
        {sent ? <li class="ct-tag">{t("contacts.relation.sent")}</li> : null}
        {received ? <li class="ct-tag ct-tag-friend">{t("contacts.relation.received")}</li> : null}
        {blocked ? <li class="ct-tag ct-tag-blocked">{t("contacts.relation.blocked")}</li> : null}
      </ul>

      {u?.bio ? <p class="ct-bio">{u.bio}</p> : null}
      {blocked ? <p class="muted small">{t("contacts.blockedNote")}</p> : null}

      {received ? (
        <div class="ct-request-box">
          {received.greeting ? <blockquote class="ct-greeting">{received.greeting}</blockquote> : <p class="muted">{t("contacts.request.wants")}</p>}
          <div class="ct-buttons">
            <button type="button" class="primary" disabled={busy} onClick={() => void run(() => answer(received, true), t("contacts.request.accepted"), "contacts.error.answered")}>
              {t("contacts.request.accept")}
            </button>
            <button type="button" disabled={busy} onClick={() => void run(() => answer(received, false), t("contacts.request.declined"), "contacts.error.answered")}>
              {t("contacts.request.decline")}
            </button>
          </div>
        </div>
      ) : null}

      {notice ? <NoticeLine notice={notice} onDismiss={() => setNotice(null)} /> : null}

      {self ? (
        <div class="ct-buttons">
          <button type="button" class="primary" onClick={() => go({ tab: "settings", chat: null })}>
            {t("contacts.editProfile")}
          </button>
        </div>
      ) : (
        <>
          <div class="ct-buttons">
            <button type="button" class="primary" data-action="message" onClick={() => message(id)}>
              {t("contacts.message")}
            </button>
            {friend ? (
              <button type="button" data-action="remark" aria-expanded={mode === "remark"} disabled={busy} onClick={() => (mode === "remark" ? setMode("none") : startRemark())}>
                {t("contacts.setRemark")}
              </button>
            ) : sent || received ? null : (
              <button type="button" data-action="add" aria-expanded={mode === "add"} disabled={busy} onClick={() => setMode(mode === "add" ? "none" : "add")}>
                {t("contacts.addFriend")}
              </button>
            )}
          </div>

          {mode === "remark" && friend ? (
            <form class="ct-form" onSubmit={saveRemark}>
              <label>
                <span>{t("contacts.remark")}</span>
                <input name="remark" value={remark} maxLength={64} autoFocus placeholder={name} onInput={(e) => setRemark(e.currentTarget.value)} />
              </label>
              <p class="muted small">{t("contacts.remark.hint")}</p>
              <div class="ct-buttons">
                <button type="submit" class="primary" disabled={busy}>
                  {t("contacts.save")}
                </button>
                <button type="button" onClick={() => setMode("none")}>
                  {t("common.cancel")}
                </button>
              </div>
            </form>
          ) : null}

          {mode === "add" && !friend ? (
            <form class="ct-form" onSubmit={sendRequest}>
              <label>
                <span>{t("contacts.greeting")}</span>
                <textarea name="greeting" rows={2} maxLength={256} value={greeting} autoFocus onInput={(e) => setGreeting(e.currentTarget.value)} />
              </label>
              <div class="ct-buttons">
                <button type="submit" class="primary" disabled={busy}>
                  {t("contacts.sendRequest")}
                </button>
                <button type="button" onClick={() => setMode("none")}>
                  {t("common.cancel")}
                </button>
              </div>
            </form>
          ) : null}

          <div class="ct-buttons ct-danger-zone">
            {friend ? (
              <button type="button" class="danger" data-action="remove" disabled={busy} onClick={() => setConfirm("remove")}>
                {t("contacts.remove")}
              </button>
            ) : null}
            {blocked ? (
              <button
                type="button"
                data-action="unblock"
                disabled={busy}
                onClick={() => void run(() => http.delete(`/blocks/${id}`), t("contacts.unblockedDone"), "contacts.error.notBlocked")}
              >
                {t("contacts.unblock")}
              </button>
            ) : (
              <button type="button" class="danger" data-action="block" disabled={busy} onClick={() => setConfirm("block")}>
                {t("contacts.block")}
              </button>
            )}
          </div>
        </>
      )}

      {confirm ? (
        <Dialog title={confirm === "remove" ? t("contacts.remove") : t("contacts.block")} onClose={() => setConfirm(null)} class="ct-confirm">
          <p>{confirm === "remove" ? t("contacts.remove.confirm", { name: title }) : t("contacts.block.confirm", { name: title })}</p>
          <div class="dialog-actions">
            <button type="button" onClick={() => setConfirm(null)}>
              {t("common.cancel")}
            </button>
            <button type="button" class="danger" data-action="confirm" onClick={() => void doConfirm()}>
              {confirm === "remove" ? t("contacts.remove") : t("contacts.block")}
            </button>
          </div>
        </Dialog>
      ) : null}
    </article>
  );
}
