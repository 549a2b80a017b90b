// The details panel of a chat (the header's info button): for a group its
// info (edited by the owner and admins), members with roles and the admin
// actions my role allows, join requests, invitations, leave and dismiss;
// for a direct chat the peer's profile. Both: my own settings of the chat
// (mute notifications, pin) and the files and images shared in it.

import type { ComponentChildren } from "preact";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";

import { formatBytes, formatListTime, formatTime, locale, t } from "../i18n";
import { num, type Message, type SearchResult } from "../proto";
import { fileInfo, rememberFile } from "../media/files";
import { upload } from "../media/upload";
import { displayName, engine, http, presence, session, user } from "../state/app";
import type { ConversationView } from "../sync/engine";
import { ActionMenu, Confirm, FriendPicker, memberCount, Modal, Switch, type MenuItem } from "../groups/Modal";
import { canManage, groupIdOf, isMuted, unwatchGroup, watchGroup, type Group, type GroupDetail, type JoinPolicy, type Member } from "../groups/store";
import { errorText } from "./Auth";
import { Avatar } from "./Avatar";
import { Icon } from "./icons";
import { viewing } from "./Media";
import { go } from "./route";
import "./groups.css";

export function DetailsPanel(p: { conv: ConversationView; onClose: () => void }) {
  const ref = useRef<HTMLElement>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  const [headingId] = useState(() => `details-${Math.random().toString(36).slice(2, 8)}`);

  const [top, setTop] = useState<number | null>(null);

  useEffect(() => {
    heading.current?.focus();
  }, []);

  // Just below the chat header, whatever its height.
  useLayoutEffect(() => {
    const header = ref.current?.parentElement?.querySelector<HTMLElement>(".chat-header");
    if (!header) return;
    const measure = () => setTop(header.offsetHeight);
    measure();
    const ro = typeof ResizeObserver === "undefined" ? null : new ResizeObserver(measure);
    ro?.observe(header);
    return () => ro?.disconnect();
  }, []);

  const close = () => {
    const button = ref.current?.closest(".chat-pane")?.querySelector<HTMLElement>("[data-action=details]");
    p.onClose();
    button?.focus();
  };

  const group = p.conv.kind === "group";
  return (
    <aside
      ref={ref}
      class="details"
      style={top !== null ? { "--details-top": `${top}px` } : undefined}
      aria-labelledby={headingId}
      onKeyDown={(e) => {
        if (e.key === "Escape" && !e.defaultPrevented) {
          e.preventDefault();
          close();
        }
      }}
    >
      <header class="details-header">
        <h2 id={headingId} ref={heading} tabIndex={-1}>
          {group ? t("details.groupTitle") : t("details.title")}
        </h2>
        <button type="button" class="icon" aria-label={t("details.close")} title={t("details.close")} data-action="close-details" onClick={close}>
          <Icon name="close" size={18} />
        </button>
      </header>
      <div class="details-body">
        {group ? <GroupDetails key={p.conv.id} conv={p.conv} onLeft={close} /> : <PeerProfile conv={p.conv} />}
        {!group ? <ChatSettings conv={p.conv} /> : null}
        {!group ? <SharedFiles conv={p.conv} /> : null}
      </div>
    </aside>
  );
}

// --- direct chats ------------------------------------------------------------------

function PeerProfile(p: { conv: ConversationView }) {
  const id = p.conv.peerId;
  const u = user(id);
  const online = presence.value.get(id);
  const name = u?.display_name || p.conv.name || displayName(id);
  return (
    <section class="details-section details-hero" aria-label={t("details.profile")}>
      <Avatar id={id} name={name} src={u?.avatar} size={72} online={online} />
      <h3 class="details-name">{name}</h3>
      {u ? <p class="muted details-sub">@{u.username}</p> : null}
      {online ? <p class="details-online small">{t("chat.online")}</p> : null}
      {u?.bio ? <p class="grp-prose details-bio">{u.bio}</p> : null}
    </section>
  );
}

// --- my settings of a chat -----------------------------------------------------------

function ChatSettings(p: { conv: ConversationView }) {
  const [error, setError] = useState("");
  const [clearing, setClearing] = useState(false);
  const set = async (change: { muted?: boolean; pinned?: boolean }) => {
    setError("");
    try {
      await engine.value?.settings(p.conv.id, change);
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <section class="details-section" aria-labelledby="details-mine">
      <h3 id="details-mine">{t("details.mySettings")}</h3>
      <Switch name="mute_chat" label={t("details.muteChat")} hint={t("details.muteChatHint")} checked={p.conv.muted} onChange={(on) => void set({ muted: on })} />
      <Switch name="pin_chat" label={t("details.pinChat")} checked={p.conv.pinned} onChange={(on) => void set({ pinned: on })} />
      <button type="button" class="danger" data-action="clear-history" onClick={() => setClearing(true)}>
        {t("chat.clear")}
      </button>
      {clearing ? (
        <Confirm
          title={t("chat.clear")}
          body={t("chat.clearBody")}
          confirm={t("chat.clear")}
          danger
          onConfirm={async () => {
            await engine.value?.clearHistory(p.conv.id);
          }}
          onClose={() => setClearing(false)}
        />
      ) : null}
      {error ? <p class="error small" role="alert">{error}</p> : null}
    </section>
  );
}

// --- shared files --------------------------------------------------------------------

function SharedFiles(p: { conv: ConversationView }) {
  const [items, setItems] = useState<Message[] | null>(null);
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  // A new file or image in the chat refetches the first page.
  const fileSeq = useRef(0);
  if (p.conv.lastKind === "file" || p.conv.lastKind === "image") fileSeq.current = Math.max(fileSeq.current, p.conv.lastSeq);
  const key = fileSeq.current;

  const load = async (from?: string) => {
    setBusy(true);
    setError("");
    try {
      const a = await http.get<SearchResult>("/search", { kinds: "file,image", conversation_id: p.conv.id, limit: 20, cursor: from });
      const got = (a.hits ?? []).map((h) => h.message).filter((m): m is Message => !!m);
      setItems((old) => (from ? [...(old ?? []), ...got] : got));
      setCursor(a.nextCursor || undefined);
    } catch (e) {
      const code = (e as { code?: string }).code;
      setError(code === "unavailable" ? t("details.filesOff") : errorText(e));
      if (!from) setItems([]);
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    void load();
  }, [p.conv.id, key]);

  return (
    <section class="details-section" aria-labelledby="details-files">
      <h3 id="details-files">{t("details.files")}</h3>
      {items === null ? <p class="muted small">{t("groups.loading")}</p> : null}
      {items && items.length === 0 && !error ? <p class="muted small">{t("details.noFiles")}</p> : null}
      {error ? <p class="error small" role="alert">{error}</p> : null}
      <ul class="details-files">
        {(items ?? []).map((m) => (
          <SharedFile key={`${m.seq}`} m={m} />
        ))}
      </ul>
      {cursor ? (
        <button type="button" class="link" disabled={busy} onClick={() => void load(cursor)}>
          {t("details.moreFiles")}
        </button>
      ) : null}
    </section>
  );
}

function SharedFile(p: { m: Message }) {
  const c = p.m.content;
  const ref = c?.image?.file ?? c?.file?.file;
  const image = !!c?.image;
  const info = fileInfo(ref?.fileId);
  const name = ref?.name || (image ? t("details.image") : t("details.file"));
  const when = formatListTime(num(p.m.serverTime));
  return (
    <li class="details-file" data-seq={p.m.seq}>
      {image ? (
        <button type="button" class="details-thumb" aria-label={`${t("details.view")} ${name}`} onClick={() => info && (viewing.value = { url: info.url, name })}>
          {info?.thumbnail_url || info?.url ? <img src={info.thumbnail_url || info.url} alt="" loading="lazy" /> : <Icon name="image" size={20} />}
        </button>
      ) : (
        <span class="details-thumb" aria-hidden="true">
          <Icon name="file" size={20} />
        </span>
      )}
      <span class="details-file-main">
        <span class="details-file-name" title={name}>{name}</span>
        <span class="muted small">
          {[formatBytes(num(ref?.size)), displayName(p.m.senderId ?? ""), when].filter(Boolean).join(" · ")}
        </span>
      </span>
      {info ? (
        <a class="details-download" href={info.url} download={name} aria-label={`${t("media.download")} ${name}`} title={t("media.download")}>
          <Icon name="download" size={18} />
        </a>
      ) : null}
    </li>
  );
}

// --- groups --------------------------------------------------------------------------

function memberName(m: Member): string {
  return m.nickname || displayName(String(m.user_id));
}

function untilText(ms: number): string {
  const d = new Date(ms);
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return formatTime(ms);
  return new Intl.DateTimeFormat(locale.value, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }).format(ms);
}

function policyText(p: JoinPolicy): string {
  return p === "free" ? t("groups.policy.free") : p === "approval" ? t("groups.policy.approval") : t("groups.policy.invite_only");
}

type Pending =
  | { kind: "kick"; m: Member }
  | { kind: "transfer"; m: Member }
  | { kind: "mute"; m: Member }
  | { kind: "leave" }
  | { kind: "dismiss" }
  | { kind: "invite" };

function GroupDetails(p: { conv: ConversationView; onLeft: () => void }) {
  const id = groupIdOf(p.conv.id);
  const d = useMemo(() => watchGroup(id), [id]);
  useEffect(() => () => unwatchGroup(d), [d]);
  const [notice, setNotice] = useState("");
  const [pending, setPending] = useState<Pending | null>(null);
  const [editing, setEditing] = useState(false);
  const me = session.value?.userId ?? "";

  const g = d.group.value;
  const gone = d.gone.value;
  const err = d.error.value;
  const role = d.role();
  const admin = role === "owner" || role === "admin";
  const live = !!g && !g.dismissed && !gone;

  const run = async (f: () => Promise<unknown>) => {
    setNotice("");
    try {
      await f();
    } catch (e) {
      setNotice(errorText(e));
    }
  };

  if (gone) {
    return (
      <>
        <section class="details-section details-hero">
          <Avatar id={p.conv.id} name={g?.name || p.conv.name || p.conv.id} src={g?.avatar || p.conv.avatar} size={64} />
          <h3 class="details-name">{g?.name || p.conv.name}</h3>
          <p class="grp-banner" role="status">{t("details.notMember")}</p>
        </section>
      </>
    );
  }
  if (!g) {
    return (
      <section class="details-section">
        {err ? (
          <>
            <p class="error" role="alert">{errorText(err)}</p>
            <button type="button" onClick={() => void d.load()}>{t("groups.retry")}</button>
          </>
        ) : (
          <p class="muted">{t("groups.loading")}</p>
        )}
      </section>
    );
  }

  const members = d.sorted((uid) => {
    const m = d.members.value.get(uid);
    return m ? memberName(m) : displayName(uid);
  });
  const canInvite = live && (admin || g.join_policy !== "invite_only" || g.invite_needs_approval);

  const menuFor = (m: Member): MenuItem[] => {
    if (!live || !canManage(role, m, me)) return [];
    const uid = String(m.user_id);
    const items: MenuItem[] = [];
    if (role === "owner") {
      items.push(
        m.role === "admin"
          ? { key: "remove-admin", label: t("details.removeAdmin"), onSelect: () => void run(() => d.setRole(uid, "member")) }
          : { key: "make-admin", label: t("details.makeAdmin"), onSelect: () => void run(() => d.setRole(uid, "admin")) },
      );
    }
    items.push(
      isMuted(m)
        ? { key: "unmute", label: t("details.unmute"), onSelect: () => void run(() => d.unmute(uid)) }
        : { key: "mute", label: t("details.muteMenu"), onSelect: () => setPending({ kind: "mute", m }) },
    );
    if (role === "owner") items.push({ key: "transfer", label: t("details.transfer"), onSelect: () => setPending({ kind: "transfer", m }) });
    items.push({ key: "kick", label: t("details.kick"), danger: true, onSelect: () => setPending({ kind: "kick", m }) });
    return items;
  };

  return (
    <>
      {notice ? (
        <div class="grp-alert" role="alert">
          <span>{notice}</span>
          <button type="button" class="icon" aria-label={t("common.close")} onClick={() => setNotice("")}>
            <Icon name="close" size={14} />
          </button>
        </div>
      ) : null}
      {err ? <p class="error small" role="alert">{errorText(err)}</p> : null}

      {editing ? (
        <EditGroup d={d} g={g} onDone={() => setEditing(false)} />
      ) : (
        <GroupInfo g={g} admin={admin && live} onEdit={() => setEditing(true)}>
          {admin && live && d.requests.value.length ? (
            <section class="details-section" aria-labelledby="details-requests">
              <h3 id="details-requests">
                {t("details.requests")} <span class="grp-count-badge">{d.requests.value.length}</span>
              </h3>
              <ul class="grp-members">
                {d.requests.value.map((r) => {
                  const uid = String(r.user_id);
                  return (
                    <li key={r.id} class="grp-request" data-request={r.id}>
                      <div class="grp-member-row">
                        <Avatar id={uid} name={displayName(uid)} src={user(uid)?.avatar} size={32} />
                        <span class="grp-member-main">
                          <span class="grp-member-name">{displayName(uid)}</span>
                          <span class="muted small">
                            {r.inviter_id ? t("details.invitedBy", { name: displayName(String(r.inviter_id)) }) : t("details.asksToJoin")}
                          </span>
                        </span>
                      </div>
                      {r.message ? <p class="grp-request-note small">“{r.message}”</p> : null}
                      <div class="grp-request-actions">
                        <button type="button" class="grp-small" data-action="reject" onClick={() => void run(() => d.reject(r.id))}>{t("details.reject")}</button>
                        <button type="button" class="primary grp-small" data-action="approve" onClick={() => void run(() => d.approve(r.id))}>{t("details.approve")}</button>
                      </div>
                    </li>
                  );
                })}
              </ul>
            </section>
          ) : null}
        </GroupInfo>
      )}

      <ChatSettings conv={p.conv} />

      {admin && live ? (
        <section class="details-section" aria-labelledby="details-admin">
          <h3 id="details-admin">{t("details.groupSettings")}</h3>
          <Switch name="mute_all" label={t("details.muteAll")} hint={t("details.muteAllHint")} checked={g.mute_all} onChange={(on) => void run(() => d.update({ mute_all: on }))} />
        </section>
      ) : null}

      <section class="details-section" aria-labelledby="details-members">
        <div class="details-section-head">
          <h3 id="details-members">{t("details.members", { n: g.member_count })}</h3>
          {canInvite ? (
            <button type="button" class="link grp-invite" data-action="invite" onClick={() => setPending({ kind: "invite" })}>
              <Icon name="plus" size={16} /> {t("details.invite")}
            </button>
          ) : null}
        </div>
        {d.loading.value && !members.length ? <p class="muted small">{t("groups.loading")}</p> : null}
        <ul class="grp-members" aria-labelledby="details-members">
          {members.map((m) => {
            const uid = String(m.user_id);
            const mine = uid === me;
            const name = memberName(m);
            return (
              <li key={uid} class="grp-member" data-user={uid} data-role={m.role}>
                <div class="grp-member-row">
                  <Avatar id={uid} name={name} src={user(uid)?.avatar} size={32} online={presence.value.get(uid)} />
                  <span class="grp-member-main">
                    <span class="grp-member-name">
                      <span class="grp-ellipsis">{name}</span>
                      {mine ? <span class="muted small">{t("details.youMark")}</span> : null}
                    </span>
                    <span class="grp-badges">
                      {m.role === "owner" ? <span class="grp-tag grp-tag-owner" data-badge="owner">{t("details.owner")}</span> : null}
                      {m.role === "admin" ? <span class="grp-tag grp-tag-admin" data-badge="admin">{t("details.admin")}</span> : null}
                      {isMuted(m) ? (
                        <span class="grp-tag grp-tag-muted" data-badge="muted">{t("details.mutedUntil", { time: untilText(m.muted_until) })}</span>
                      ) : null}
                    </span>
                  </span>
                  <ActionMenu label={t("details.memberActions", { name })} items={menuFor(m)} />
                </div>
              </li>
            );
          })}
        </ul>
        {d.nextAfter.value !== null ? (
          <button type="button" class="link" onClick={() => void d.loadMore()}>{t("details.moreMembers")}</button>
        ) : null}
      </section>

      <SharedFiles conv={p.conv} />

      {!g.dismissed || role !== "owner" ? (
        <section class="details-section details-danger">
          {role === "owner" && !g.dismissed ? (
            <>
              <button type="button" class="grp-danger-button" data-action="dismiss" onClick={() => setPending({ kind: "dismiss" })}>{t("details.dismiss")}</button>
              <p class="muted small">{t("details.ownerLeaveHint")}</p>
            </>
          ) : (
            <button type="button" class="grp-danger-button" data-action="leave" onClick={() => setPending({ kind: "leave" })}>{t("details.leave")}</button>
          )}
        </section>
      ) : null}

      {pending?.kind === "kick" ? (
        <Confirm
          title={t("details.kickTitle")}
          body={t("details.kickBody", { name: memberName(pending.m), group: g.name })}
          confirm={t("details.kick")}
          danger
          onConfirm={() => d.kick(String(pending.m.user_id))}
          onClose={() => setPending(null)}
        />
      ) : null}
      {pending?.kind === "transfer" ? (
        <Confirm
          title={t("details.transferTitle")}
          body={t("details.transferBody", { name: memberName(pending.m) })}
          confirm={t("details.transferConfirm")}
          danger
          onConfirm={() => d.transfer(String(pending.m.user_id))}
          onClose={() => setPending(null)}
        />
      ) : null}
      {pending?.kind === "leave" ? (
        <Confirm
          title={t("details.leaveTitle")}
          body={t("details.leaveBody", { group: g.name })}
          confirm={t("details.leave")}
          danger
          onConfirm={async () => {
            await d.leave();
            p.onLeft();
            go({ tab: "chats", chat: null });
          }}
          onClose={() => setPending(null)}
        />
      ) : null}
      {pending?.kind === "dismiss" ? (
        <Confirm
          title={t("details.dismissTitle")}
          body={t("details.dismissBody", { group: g.name })}
          confirm={t("details.dismiss")}
          danger
          onConfirm={() => d.dismiss()}
          onClose={() => setPending(null)}
        />
      ) : null}
      {pending?.kind === "mute" ? <MuteDialog d={d} m={pending.m} onClose={() => setPending(null)} /> : null}
      {pending?.kind === "invite" ? <InviteDialog d={d} admin={admin} onClose={() => setPending(null)} onDone={setNotice} /> : null}
    </>
  );
}

function GroupInfo(p: { g: Group; admin: boolean; onEdit: () => void; children?: ComponentChildren }) {
  const g = p.g;
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(String(g.id));
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch {
      // the id stays selectable
    }
  };
  return (
    <>
      <section class="details-section details-hero" aria-label={t("details.groupInfo")}>
        <Avatar id={g.conversation_id} name={g.name} src={g.avatar} size={64} />
        <h3 class="details-name">{g.name}</h3>
        <p class="muted small details-sub">
          {memberCount(g.member_count)} · {t("details.groupId")}{" "}
          <span class="grp-id" data-group-id={g.id}>{g.id}</span>
          <button type="button" class="icon grp-copy" aria-label={t("details.copyId")} title={t("details.copyId")} onClick={() => void copy()}>
            <Icon name="copy" size={14} />
          </button>
          <span class="grp-copied small" role="status">{copied ? t("details.copied") : ""}</span>
        </p>
        {g.dismissed ? <p class="grp-banner" role="status">{t("groups.dismissedNote")}</p> : null}
        {g.mute_all && !g.dismissed ? <p class="grp-banner" role="status">{t("details.allMutedBanner")}</p> : null}
        {p.admin ? (
          <button type="button" class="grp-small" data-action="edit-group" onClick={p.onEdit}>
            <Icon name="edit" size={14} /> {t("details.edit")}
          </button>
        ) : null}
      </section>
      {p.children}
      <section class="details-section" aria-labelledby="details-notice">
        <h3 id="details-notice">{t("details.notice")}</h3>
        {g.notice ? <p class="grp-prose grp-notice">{g.notice}</p> : <p class="muted small">{t("details.noNotice")}</p>}
        {g.intro ? (
          <>
            <h3 class="details-subhead">{t("details.intro")}</h3>
            <p class="grp-prose">{g.intro}</p>
          </>
        ) : null}
        <dl class="grp-facts">
          <dt>{t("details.joinPolicy")}</dt>
          <dd>{policyText(g.join_policy)}</dd>
          {g.invite_needs_approval ? (
            <>
              <dt>{t("details.invites")}</dt>
              <dd>{t("details.invitesNeedApproval")}</dd>
            </>
          ) : null}
        </dl>
      </section>
    </>
  );
}

function EditGroup(p: { d: GroupDetail; g: Group; onDone: () => void }) {
  const g = p.g;
  const [name, setName] = useState(g.name);
  const [avatar, setAvatar] = useState(g.avatar);
  const [notice, setNotice] = useState(g.notice);
  const [intro, setIntro] = useState(g.intro);
  const [policy, setPolicy] = useState<JoinPolicy>(g.join_policy);
  const [approval, setApproval] = useState(g.invite_needs_approval);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);

  const save = async (ev: Event) => {
    ev.preventDefault();
    const patch: Parameters<GroupDetail["update"]>[0] = {};
    if (name.trim() !== g.name) patch.name = name.trim();
    if (avatar.trim() !== g.avatar) patch.avatar = avatar.trim();
    if (notice !== g.notice) patch.notice = notice;
    if (intro !== g.intro) patch.intro = intro;
    if (policy !== g.join_policy) patch.join_policy = policy;
    if (approval !== g.invite_needs_approval) patch.invite_needs_approval = approval;
    if (!Object.keys(patch).length) {
      p.onDone();
      return;
    }
    setBusy(true);
    setError("");
    try {
      await p.d.update(patch);
      p.onDone();
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
  };
  return (
    <section class="details-section" aria-labelledby="details-edit">
      <h3 id="details-edit">{t("details.editTitle")}</h3>
      <form class="grp-form" onSubmit={save} onKeyDown={(e) => {
        if (e.key === "Escape") {
          e.preventDefault();
          p.onDone();
        }
      }}>
        <label>
          <span>{t("groups.name")}</span>
          <input ref={first} name="group_name" required maxLength={64} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          <span>{t("details.notice")}</span>
          <textarea name="notice" rows={3} maxLength={4096} value={notice} placeholder={t("details.noticePlaceholder")} onInput={(e) => setNotice(e.currentTarget.value)} />
        </label>
        <label>
          <span>{t("details.intro")}</span>
          <textarea name="intro" rows={2} maxLength={1024} value={intro} onInput={(e) => setIntro(e.currentTarget.value)} />
        </label>
        <label>
          <span>{t("details.joinPolicy")}</span>
          <select name="join_policy" value={policy} onChange={(e) => setPolicy(e.currentTarget.value as JoinPolicy)}>
            <option value="free">{t("groups.policy.free")}</option>
            <option value="approval">{t("groups.policy.approval")}</option>
            <option value="invite_only">{t("groups.policy.invite_only")}</option>
          </select>
        </label>
        <Switch name="invite_needs_approval" label={t("details.invitesNeedApproval")} checked={approval} onChange={setApproval} />
        <div class="grp-avatar-edit">
          <Avatar id={p.g.conversation_id} name={name} src={avatar} size={48} />
          <label class="file-button">
            <input
              type="file"
              accept="image/*"
              name="avatar_file"
              disabled={busy}
              onChange={(e) => {
                const file = e.currentTarget.files?.[0];
                if (!file) return;
                setBusy(true);
                setError("");
                upload(file, { token: session.value?.token ?? "" }).then(
                  (f) => {
                    rememberFile(f);
                    setAvatar(f.id);
                    setBusy(false);
                  },
                  (err) => {
                    setError(errorText(err));
                    setBusy(false);
                  },
                );
              }}
            />
            <span>{t("details.avatarUpload")}</span>
          </label>
          {avatar ? (
            <button type="button" class="link" onClick={() => setAvatar("")}>
              {t("details.avatarRemove")}
            </button>
          ) : null}
        </div>
        {error ? <p class="error small" role="alert">{error}</p> : null}
        <div class="grp-modal-actions">
          <button type="button" onClick={p.onDone}>{t("common.cancel")}</button>
          <button type="submit" class="primary" disabled={busy || !name.trim()} data-action="save-group">{t("details.save")}</button>
        </div>
      </form>
    </section>
  );
}

const MUTE_CHOICES = [10, 60, 12 * 60, 24 * 60, 7 * 24 * 60, 30 * 24 * 60];

function muteLabel(minutes: number): string {
  if (minutes < 60) return t("details.minutes", { n: minutes });
  if (minutes === 60) return t("details.hour");
  if (minutes < 24 * 60) return t("details.hours", { n: minutes / 60 });
  if (minutes === 24 * 60) return t("details.day");
  return t("details.days", { n: minutes / (24 * 60) });
}

function MuteDialog(p: { d: GroupDetail; m: Member; onClose: () => void }) {
  const [minutes, setMinutes] = useState(60);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const submit = async (ev: Event) => {
    ev.preventDefault();
    setBusy(true);
    setError("");
    try {
      await p.d.mute(String(p.m.user_id), minutes);
      p.onClose();
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
  };
  return (
    <Modal title={t("details.muteTitle", { name: memberName(p.m) })} onClose={p.onClose}>
      <form class="grp-form" onSubmit={submit}>
        <label>
          <span>{t("details.muteFor")}</span>
          <select name="mute_minutes" value={String(minutes)} onChange={(e) => setMinutes(Number(e.currentTarget.value))}>
            {MUTE_CHOICES.map((n) => (
              <option key={n} value={String(n)}>{muteLabel(n)}</option>
            ))}
          </select>
        </label>
        <p class="muted small">{t("details.muteExplain")}</p>
        {error ? <p class="error small" role="alert">{error}</p> : null}
        <div class="grp-modal-actions">
          <button type="button" onClick={p.onClose}>{t("common.cancel")}</button>
          <button type="submit" class="primary" disabled={busy} data-action="confirm-mute">{t("details.mute")}</button>
        </div>
      </form>
    </Modal>
  );
}

function InviteDialog(p: { d: GroupDetail; admin: boolean; onClose: () => void; onDone: (s: string) => void }) {
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const exclude = new Set(p.d.members.value.keys());
  const submit = async (ev: Event) => {
    ev.preventDefault();
    if (!picked.size) return;
    setBusy(true);
    setError("");
    try {
      const r = await p.d.invite([...picked]);
      p.onClose();
      if (r.pending) p.onDone(t("details.invitePending", { n: r.pending }));
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
  };
  const g = p.d.group.value;
  return (
    <Modal title={t("details.inviteTitle")} onClose={p.onClose} wide>
      <form class="grp-form" onSubmit={submit}>
        <FriendPicker label={t("groups.addMembers")} selected={picked} exclude={exclude} onChange={setPicked} />
        {!p.admin && g?.invite_needs_approval ? <p class="muted small">{t("details.inviteNeedsApproval")}</p> : null}
        {error ? <p class="error small" role="alert">{error}</p> : null}
        <div class="grp-modal-actions">
          <button type="button" onClick={p.onClose}>{t("common.cancel")}</button>
          <button type="submit" class="primary" disabled={busy || !picked.size} data-action="confirm-invite">
            {picked.size ? t("details.inviteN", { n: picked.size }) : t("details.invite")}
          </button>
        </div>
      </form>
    </Modal>
  );
}
