// The groups pane: my groups (name, avatar, member count, dismissed), a
// click opens the group's chat; "New group" (a name and friends to add)
// and "Join by id" (look the group up, then join or ask to join).

import { useEffect, useState } from "preact/hooks";

import { ApiError } from "../api/http";
import { t } from "../i18n";
import { engine } from "../state/app";
import { FriendPicker, memberCount, Modal } from "../groups/Modal";
import { createGroup, groupsError, joinGroup, loadGroups, lookUpGroup, myGroups, type Group } from "../groups/store";
import { errorText } from "./Auth";
import { Avatar } from "./Avatar";
import { Icon } from "./icons";
import { openChat } from "./route";
import "./groups.css";

export function openGroup(g: Pick<Group, "conversation_id" | "name">): void {
  engine.value?.ensureConversation(g.conversation_id, g.name);
  openChat(g.conversation_id);
}

function JoinIcon() {
  return (
    <svg class="icon-svg" width="20" height="20" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">
      <path d="M4 9h16M4 15h16M10 3 8 21M16 3l-2 18" />
    </svg>
  );
}

export function Groups() {
  const [creating, setCreating] = useState(false);
  const [joining, setJoining] = useState(false);
  const [q, setQ] = useState("");
  useEffect(() => {
    void loadGroups();
  }, []);
  const list = myGroups.value;
  const err = groupsError.value;
  const query = q.trim().toLowerCase();
  const shown = (list ?? []).filter((g) => !query || g.name.toLowerCase().includes(query) || String(g.id) === query);

  return (
    <section class="pane list-pane grp-pane" aria-labelledby="groups-title">
      <header class="pane-header">
        <h2 id="groups-title">{t("nav.groups")}</h2>
        <button type="button" class="icon grp-header-button" aria-label={t("groups.join")} title={t("groups.join")} data-action="join-group" onClick={() => setJoining(true)}>
          <JoinIcon />
        </button>
        <button type="button" class="icon grp-header-button" aria-label={t("groups.new")} title={t("groups.new")} data-action="new-group" onClick={() => setCreating(true)}>
          <Icon name="plus" size={20} />
        </button>
      </header>
      {list && list.length > 5 ? (
        <div class="search-box">
          <input type="search" name="filter-groups" placeholder={t("groups.filter")} aria-label={t("groups.filter")} value={q} onInput={(e) => setQ(e.currentTarget.value)} />
        </div>
      ) : null}
      {err && !list ? (
        <div class="grp-empty">
          <p class="error" role="alert">{errorText(err)}</p>
          <button type="button" onClick={() => void loadGroups()}>{t("groups.retry")}</button>
        </div>
      ) : null}
      {list === null && !err ? <p class="empty muted">{t("groups.loading")}</p> : null}
      {list && list.length === 0 ? (
        <div class="grp-empty">
          <p class="muted">{t("groups.empty")}</p>
          <div class="grp-empty-actions">
            <button type="button" class="primary" onClick={() => setCreating(true)}>{t("groups.new")}</button>
            <button type="button" onClick={() => setJoining(true)}>{t("groups.join")}</button>
          </div>
        </div>
      ) : null}
      {list && list.length > 0 && shown.length === 0 ? <p class="empty muted">{t("groups.noMatch")}</p> : null}
      <ul class="grp-list" aria-label={t("groups.mine")}>
        {shown.map((g) => (
          <li key={g.id}>
            <button type="button" class={`grp-item${g.dismissed ? " dismissed" : ""}`} data-group={g.id} data-conversation={g.conversation_id} onClick={() => openGroup(g)}>
              <Avatar id={g.conversation_id} name={g.name} src={g.avatar} size={40} />
              <span class="grp-item-main">
                <span class="grp-item-name">{g.name}</span>
                <span class="muted small">
                  {memberCount(g.member_count)}
                  {g.mute_all && !g.dismissed ? ` · ${t("groups.allMutedShort")}` : ""}
                </span>
              </span>
              {g.dismissed ? <span class="grp-tag grp-tag-dismissed">{t("groups.dismissed")}</span> : null}
            </button>
          </li>
        ))}
      </ul>
      {creating ? <NewGroupDialog onClose={() => setCreating(false)} /> : null}
      {joining ? <JoinDialog onClose={() => setJoining(false)} /> : null}
    </section>
  );
}

function NewGroupDialog(p: { onClose: () => void }) {
  const [name, setName] = useState("");
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const submit = async (ev: Event) => {
    ev.preventDefault();
    if (!name.trim()) return;
    setBusy(true);
    setError("");
    try {
      const g = await createGroup(name.trim(), [...picked]);
      p.onClose();
      openGroup(g);
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
  };
  return (
    <Modal title={t("groups.new")} onClose={p.onClose} wide>
      <form class="grp-form" onSubmit={submit}>
        <label>
          <span>{t("groups.name")}</span>
          <input name="group_name" required maxLength={64} value={name} autofocus placeholder={t("groups.namePlaceholder")} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <FriendPicker label={t("groups.addMembers")} selected={picked} onChange={setPicked} />
        {error ? <p class="error" role="alert">{error}</p> : null}
        <div class="grp-modal-actions">
          <button type="button" onClick={p.onClose}>{t("common.cancel")}</button>
          <button type="submit" class="primary" disabled={busy || !name.trim()} data-action="create-group">
            {t("groups.create")}
          </button>
        </div>
      </form>
    </Modal>
  );
}

function policyText(g: Group): string {
  return g.join_policy === "free" ? t("groups.policy.free") : g.join_policy === "approval" ? t("groups.policy.approval") : t("groups.policy.invite_only");
}

function JoinDialog(p: { onClose: () => void }) {
  const [id, setId] = useState("");
  const [found, setFound] = useState<Group | null>(null);
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [sent, setSent] = useState(false);
  const member = found ? (myGroups.value ?? []).find((g) => g.id === found.id) : undefined;

  const clean = id.trim().replace(/^g_/, "");
  const look = async (ev: Event) => {
    ev.preventDefault();
    setError("");
    setFound(null);
    setSent(false);
    if (!/^\d{1,19}$/.test(clean)) {
      setError(t("groups.badId"));
      return;
    }
    setBusy(true);
    try {
      setFound(await lookUpGroup(clean));
    } catch (e) {
      setError(e instanceof ApiError && e.code === "not_found" ? t("groups.notFound") : errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const join = async () => {
    if (!found) return;
    setBusy(true);
    setError("");
    try {
      const joined = await joinGroup(String(found.id), note.trim());
      if (joined) {
        p.onClose();
        openGroup(found);
      } else setSent(true);
    } catch (e) {
      if (e instanceof ApiError && e.code === "conflict") {
        p.onClose();
        openGroup(found);
        return;
      }
      setError(e instanceof ApiError && e.code === "not_found" ? t("groups.notFound") : errorText(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal title={t("groups.join")} onClose={p.onClose}>
      <form class="grp-form grp-join-row" onSubmit={look} role="search">
        <label>
          <span>{t("groups.idLabel")}</span>
          <input name="group_id" inputMode="numeric" autoComplete="off" required value={id} autofocus placeholder="12345" onInput={(e) => setId(e.currentTarget.value)} />
        </label>
        <button type="submit" disabled={busy || !id.trim()} data-action="look-up">{t("groups.lookUp")}</button>
      </form>
      <p class="muted small grp-hint">{t("groups.idHint")}</p>
      {error ? <p class="error" role="alert">{error}</p> : null}
      {found ? (
        <div class="grp-found" aria-live="polite">
          <div class="grp-found-head">
            <Avatar id={found.conversation_id} name={found.name} src={found.avatar} size={48} />
            <div class="grp-item-main">
              <strong class="grp-item-name">{found.name}</strong>
              <span class="muted small">
                {memberCount(found.member_count)} · {policyText(found)}
              </span>
            </div>
          </div>
          {found.intro ? <p class="grp-prose">{found.intro}</p> : null}
          {found.dismissed ? (
            <p class="muted">{t("groups.dismissedNote")}</p>
          ) : member ? (
            <div class="grp-modal-actions">
              <span class="muted small grp-grow">{t("groups.alreadyMember")}</span>
              <button type="button" class="primary" onClick={() => { p.onClose(); openGroup(found); }}>{t("groups.open")}</button>
            </div>
          ) : sent ? (
            <p class="grp-ok" role="status">{t("groups.requestSent")}</p>
          ) : (
            <>
              {found.join_policy === "approval" ? (
                <label>
                  <span>{t("groups.joinMessage")}</span>
                  <input name="join_message" maxLength={256} value={note} onInput={(e) => setNote(e.currentTarget.value)} />
                </label>
              ) : null}
              <div class="grp-modal-actions">
                <button type="button" class="primary" disabled={busy} onClick={() => void join()} data-action="join">
                  {found.join_policy === "approval" ? t("groups.askToJoin") : t("groups.joinNow")}
                </button>
              </div>
            </>
          )}
        </div>
      ) : null}
    </Modal>
  );
}
