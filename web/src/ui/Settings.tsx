// Settings: profile, language, theme, notifications, log out.

import { signal } from "@preact/signals";
import { useEffect, useState } from "preact/hooks";

import { locale, setLocale, t, type Locale } from "../i18n";
import { upload } from "../media/upload";
import { rememberFile } from "../media/files";
import { http, logout, me, remember, session } from "../state/app";
import { errorText } from "./Auth";
import { Avatar } from "./Avatar";

export type Theme = "system" | "light" | "dark";
const THEME_KEY = "ferry.theme";

function loadTheme(): Theme {
  try {
    const v = localStorage.getItem(THEME_KEY);
    if (v === "light" || v === "dark") return v;
  } catch {
    // none
  }
  return "system";
}

export const theme = signal<Theme>(loadTheme());

const systemDark = typeof matchMedia === "undefined" ? null : matchMedia("(prefers-color-scheme: dark)");

export function applyTheme(th: Theme): void {
  const dark = th === "dark" || (th === "system" && !!systemDark?.matches);
  document.documentElement.setAttribute("data-theme", dark ? "dark" : "light");
}

// "System" follows the system's setting as it changes.
systemDark?.addEventListener("change", () => {
  if (theme.value === "system") applyTheme("system");
});

export function setTheme(th: Theme): void {
  theme.value = th;
  try {
    localStorage.setItem(THEME_KEY, th);
  } catch {
    // none
  }
  applyTheme(th);
}

export function LanguagePicker() {
  return (
    <label class="inline">
      <span>{t("settings.language")}</span>
      <select value={locale.value} onChange={(e) => setLocale(e.currentTarget.value as Locale)} name="language">
        <option value="en">English</option>
        <option value="zh-CN">简体中文</option>
      </select>
    </label>
  );
}

export function Settings() {
  const u = me.value;
  const [name, setName] = useState(u?.display_name ?? "");
  const [bio, setBio] = useState(u?.bio ?? "");
  const [status, setStatus] = useState("");
  const [perm, setPerm] = useState(typeof Notification === "undefined" ? "denied" : Notification.permission);
  const [busy, setBusy] = useState(false);
  const pick = async (file: File | undefined) => {
    if (!file) return;
    setBusy(true);
    setStatus("");
    try {
      const f = await upload(file, { token: session.value?.token ?? "" });
      rememberFile(f);
      const a = await http.updateMe({ avatar: f.id });
      me.value = a.user;
      remember([a.user]);
      setStatus(t("settings.saved"));
    } catch (e) {
      setStatus(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    setName(u?.display_name ?? "");
    setBio(u?.bio ?? "");
  }, [u?.id]);

  const save = async (ev: Event) => {
    ev.preventDefault();
    try {
      const a = await http.updateMe({ display_name: name.trim(), bio });
      me.value = a.user;
      remember([a.user]);
      setStatus(t("settings.saved"));
    } catch (e) {
      setStatus(errorText(e));
    }
  };

  return (
    <section class="pane settings" aria-labelledby="settings-title">
      <header class="pane-header">
        <h2 id="settings-title">{t("settings.title")}</h2>
      </header>
      <div class="pane-body">
        <form class="card" onSubmit={save}>
          <h3>{t("settings.profile")}</h3>
          {u ? (
            <div class="profile-row">
              <Avatar id={String(u.id)} name={u.display_name} src={u.avatar} size={56} />
              <div>
                <strong>{u.display_name}</strong>
                <div class="muted">@{u.username}</div>
                <label class="file-button">
                  <input type="file" accept="image/*" name="avatar" disabled={busy} onChange={(e) => void pick(e.currentTarget.files?.[0])} />
                  <span>{t("settings.avatar")}</span>
                </label>
              </div>
            </div>
          ) : null}
          <label>
            <span>{t("auth.displayName").replace(/（.*）|\(.*\)/, "").trim()}</span>
            <input name="display_name" value={name} maxLength={64} required onInput={(e) => setName(e.currentTarget.value)} />
          </label>
          <label>
            <span>{t("settings.bio")}</span>
            <input name="bio" value={bio} maxLength={256} onInput={(e) => setBio(e.currentTarget.value)} />
          </label>
          <div class="row">
            <button class="primary" type="submit">{t("settings.save")}</button>
            <span role="status" class="muted">{status}</span>
          </div>
        </form>
        <div class="card">
          <LanguagePicker />
          <label class="inline">
            <span>{t("settings.theme")}</span>
            <select name="theme" value={theme.value} onChange={(e) => setTheme(e.currentTarget.value as Theme)}>
              <option value="system">{t("settings.theme.system")}</option>
              <option value="light">{t("settings.theme.light")}</option>
              <option value="dark">{t("settings.theme.dark")}</option>
            </select>
          </label>
        </div>
        <div class="card">
          <h3>{t("settings.notifications")}</h3>
          {perm === "granted" ? (
            <p class="muted">{t("settings.notifications.on")}</p>
          ) : perm === "denied" ? (
            <p class="muted">{t("settings.notifications.denied")}</p>
          ) : (
            <button type="button" onClick={() => void Notification.requestPermission().then(setPerm)}>
              {t("settings.notifications.enable")}
            </button>
          )}
        </div>
        <div class="card">
          <button type="button" class="danger" onClick={() => void logout()}>{t("settings.logout")}</button>
        </div>
      </div>
    </section>
  );
}
