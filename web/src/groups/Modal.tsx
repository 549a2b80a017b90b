// Small building blocks of the groups screens: a modal dialog (focus moves
// in and is kept there, Escape or the backdrop closes it, focus returns to
// where it was), a confirmation dialog for destructive actions, a menu
// button (arrow keys, Escape), a switch, and a friend picker.

import type { ComponentChildren } from "preact";
import { createPortal } from "preact/compat";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";

import { t } from "../i18n";
import { displayName, user } from "../state/app";
import { errorText } from "../ui/Auth";
import { Avatar } from "../ui/Avatar";
import { Icon } from "../ui/icons";
import { loadFriends, type Friend } from "./store";
import "../ui/groups.css";

const FOCUSABLE = 'a[href], button:not(:disabled), input:not(:disabled), select:not(:disabled), textarea:not(:disabled), [tabindex]:not([tabindex="-1"])';

let modalSeq = 0;

export function Modal(p: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean; describedBy?: string }) {
  const ref = useRef<HTMLDivElement>(null);
  const [titleId] = useState(() => `grp-modal-${++modalSeq}`);
  const close = useRef(p.onClose);
  close.current = p.onClose;
  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    const box = ref.current;
    const first =
      box?.querySelector<HTMLElement>("[autofocus]") ??
      box?.querySelector<HTMLElement>("input:not(:disabled), textarea, select") ??
      box?.querySelector<HTMLElement>(".grp-modal-actions button");
    (first ?? box)?.focus();
    return () => {
      if (before && document.contains(before)) before.focus();
    };
  }, []);
  const onKey = (e: KeyboardEvent) => {
    if (e.key === "Escape") {
      e.stopPropagation();
      e.preventDefault();
      close.current();
    } else if (e.key === "Tab") {
      const all = [...(ref.current?.querySelectorAll<HTMLElement>(FOCUSABLE) ?? [])].filter((x) => x.offsetParent !== null);
      if (!all.length) return;
      const first = all[0]!;
      const last = all[all.length - 1]!;
      if (e.shiftKey && (document.activeElement === first || document.activeElement === ref.current)) {
        e.preventDefault();
        last.focus();
      } else if (!e.shiftKey && document.activeElement === last) {
        e.preventDefault();
        first.focus();
      }
    }
  };
  return createPortal(
    <div class="grp-backdrop" onMouseDown={(e) => e.target === e.currentTarget && p.onClose()}>
      <div
        ref={ref}
        class={`grp-modal${p.wide ? " wide" : ""}`}
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        aria-describedby={p.describedBy}
        tabIndex={-1}
        onKeyDown={onKey}
      >
        <header class="grp-modal-header">
          <h2 id={titleId}>{p.title}</h2>
          <button type="button" class="icon" aria-label={t("common.close")} title={t("common.close")} onClick={p.onClose}>
            <Icon name="close" size={18} />
          </button>
        </header>
        {p.children}
      </div>
    </div>,
    document.body,
  );
}

/** "Are you sure?" before something that cannot be undone. */
export function Confirm(p: { title: string; body: string; confirm: string; danger?: boolean; onConfirm: () => Promise<void>; onClose: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [bodyId] = useState(() => `grp-confirm-${++modalSeq}`);
  const go = async () => {
    setBusy(true);
    setError("");
    try {
      await p.onConfirm();
      p.onClose();
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
  };
  return (
    <Modal title={p.title} onClose={p.onClose} describedBy={bodyId}>
      <p id={bodyId} class="grp-confirm-body">{p.body}</p>
      {error ? <p class="error" role="alert">{error}</p> : null}
      <div class="grp-modal-actions">
        <button type="button" onClick={p.onClose} autofocus>
          {t("common.cancel")}
        </button>
        <button type="button" class={p.danger ? "grp-danger-solid" : "primary"} disabled={busy} onClick={() => void go()} data-action="confirm">
          {p.confirm}
        </button>
      </div>
    </Modal>
  );
}

export interface MenuItem {
  key: string;
  label: string;
  danger?: boolean;
  onSelect: () => void;
}

/** A "⋯" button opening a menu of actions. */
export function ActionMenu(p: { label: string; items: MenuItem[] }) {
  const [open, setOpen] = useState(false);
  const [up, setUp] = useState(false);
  const button = useRef<HTMLButtonElement>(null);
  const menu = useRef<HTMLDivElement>(null);

  useLayoutEffect(() => {
    if (!open) return;
    const m = menu.current;
    if (!m) return;
    const box = m.getBoundingClientRect();
    const limit = (m.closest(".details") ?? document.body).getBoundingClientRect().bottom;
    setUp(box.bottom > Math.min(limit, window.innerHeight) - 4);
    m.querySelector<HTMLElement>("[role=menuitem]")?.focus();
    const away = (e: MouseEvent) => {
      if (!m.contains(e.target as Node) && !button.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener("mousedown", away);
    return () => document.removeEventListener("mousedown", away);
  }, [open]);

  const onKey = (e: KeyboardEvent) => {
    const items = [...(menu.current?.querySelectorAll<HTMLElement>("[role=menuitem]") ?? [])];
    const i = items.indexOf(document.activeElement as HTMLElement);
    if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      setOpen(false);
      button.current?.focus();
    } else if (e.key === "ArrowDown") {
      e.preventDefault();
      items[(i + 1) % items.length]?.focus();
    } else if (e.key === "ArrowUp") {
      e.preventDefault();
      items[(i - 1 + items.length) % items.length]?.focus();
    } else if (e.key === "Home") {
      e.preventDefault();
      items[0]?.focus();
    } else if (e.key === "End") {
      e.preventDefault();
      items[items.length - 1]?.focus();
    } else if (e.key === "Tab") {
      setOpen(false);
    }
  };

  if (!p.items.length) return null;
  return (
    <div class="grp-menu-wrap">
      <button
        ref={button}
        type="button"
        class="icon grp-menu-button"
        aria-label={p.label}
        title={p.label}
        aria-haspopup="menu"
        aria-expanded={open}
        data-action="member-menu"
        onClick={() => setOpen(!open)}
        onKeyDown={(e) => {
          if (e.key === "ArrowDown" && !open) {
            e.preventDefault();
            setOpen(true);
          }
        }}
      >
        <Icon name="more" size={18} />
      </button>
      {open ? (
        <div ref={menu} class={`grp-menu${up ? " up" : ""}`} role="menu" aria-label={p.label} onKeyDown={onKey}>
          {p.items.map((x) => (
            <button
              key={x.key}
              type="button"
              role="menuitem"
              tabIndex={-1}
              class={x.danger ? "danger" : ""}
              data-action={x.key}
              onClick={() => {
                setOpen(false);
                button.current?.focus();
                x.onSelect();
              }}
            >
              {x.label}
            </button>
          ))}
        </div>
      ) : null}
    </div>
  );
}

/** An on/off setting, announced as a switch. */
export function Switch(p: { label: string; checked: boolean; disabled?: boolean; name: string; hint?: string; onChange: (on: boolean) => void }) {
  return (
    <label class="grp-switch">
      <span class="grp-switch-text">
        <span class="grp-switch-label">{p.label}</span>
        {p.hint ? <span class="muted small">{p.hint}</span> : null}
      </span>
      <input type="checkbox" role="switch" name={p.name} checked={p.checked} disabled={p.disabled} aria-checked={p.checked} onChange={(e) => p.onChange(e.currentTarget.checked)} />
      <span class="grp-switch-track" aria-hidden="true" />
    </label>
  );
}

/** "1 member" / "{n} members". */
export function memberCount(n: number): string {
  return n === 1 ? t("groups.memberCount.one") : t("groups.memberCount", { n });
}

/** The name a friend goes by for me: my remark, else their display name. */
export function friendName(f: Friend): string {
  return f.remark || displayName(String(f.user_id));
}

/** Checkboxes over my friends (minus `exclude`), with a filter. */
export function FriendPicker(p: { selected: Set<string>; exclude?: Set<string>; onChange: (s: Set<string>) => void; label: string }) {
  const [friends, setFriends] = useState<Friend[] | null>(null);
  const [error, setError] = useState("");
  const [q, setQ] = useState("");
  useEffect(() => {
    loadFriends().then(setFriends, (e: unknown) => {
      setError(errorText(e));
      setFriends([]);
    });
  }, []);
  const query = q.trim().toLowerCase();
  const list = (friends ?? [])
    .filter((f) => !p.exclude?.has(String(f.user_id)))
    .filter((f) => {
      if (!query) return true;
      const u = user(String(f.user_id));
      return [f.remark, u?.display_name, u?.username].some((s) => s && s.toLowerCase().includes(query));
    })
    .sort((a, b) => friendName(a).localeCompare(friendName(b)));
  const toggle = (id: string, on: boolean) => {
    const next = new Set(p.selected);
    if (on) next.add(id);
    else next.delete(id);
    p.onChange(next);
  };
  const total = (friends ?? []).filter((f) => !p.exclude?.has(String(f.user_id))).length;
  return (
    <fieldset class="grp-picker">
      <legend>
        {p.label}
        {p.selected.size ? <span class="grp-count"> · {t("groups.selected", { n: p.selected.size })}</span> : null}
      </legend>
      {total > 6 ? (
        <input type="search" class="grp-picker-filter" placeholder={t("groups.filterFriends")} aria-label={t("groups.filterFriends")} value={q} onInput={(e) => setQ(e.currentTarget.value)} />
      ) : null}
      {error ? <p class="error" role="alert">{error}</p> : null}
      {friends === null ? <p class="muted small">{t("groups.loading")}</p> : null}
      {friends !== null && total === 0 && !error ? <p class="muted small">{friends.length ? t("groups.allFriendsIn") : t("groups.noFriends")}</p> : null}
      {friends !== null && total > 0 && list.length === 0 ? <p class="muted small">{t("groups.noMatch")}</p> : null}
      <ul class="grp-pick-list">
        {list.map((f) => {
          const id = String(f.user_id);
          const u = user(id);
          return (
            <li key={id}>
              <label class="grp-pick" data-user={id}>
                <input type="checkbox" checked={p.selected.has(id)} onChange={(e) => toggle(id, e.currentTarget.checked)} />
                <Avatar id={id} name={friendName(f)} src={u?.avatar} size={32} />
                <span class="grp-pick-name">
                  <span>{friendName(f)}</span>
                  {u ? <span class="muted small">@{u.username}</span> : null}
                </span>
              </label>
            </li>
          );
        })}
      </ul>
    </fieldset>
  );
}
