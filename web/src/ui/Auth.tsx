// Log in or create an account. After registering, the user is logged in
// straight away. A session that ended (logout, kick, expired token) says why.

import { useState } from "preact/hooks";

import { ApiError } from "../api/http";
import { has, t, type Key } from "../i18n";
import { endedReason, http, login } from "../state/app";
import { LanguagePicker } from "./Settings";

export function errorText(e: unknown): string {
  if (e instanceof ApiError) {
    const key = `error.${e.code}`;
    if (has(key)) return t(key as Key);
    return t("error.generic", { code: e.code });
  }
  return t("error.generic", { code: (e as Error)?.message ?? "?" });
}

function endedText(reason: string): string {
  if (!reason) return "";
  const key = `auth.ended.${reason}`;
  return has(key) ? t(key as Key) : t("auth.ended.kicked");
}

export function Auth() {
  const [mode, setMode] = useState<"login" | "register">("login");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");

  const submit = async (ev: Event) => {
    ev.preventDefault();
    setBusy(true);
    setError("");
    try {
      if (mode === "register") await http.register(username.trim(), password, displayName.trim());
      await login(username.trim(), password);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  const ended = endedText(endedReason.value);
  return (
    <main class="auth">
      <form class="auth-card" onSubmit={submit} aria-labelledby="auth-title">
        <div class="auth-brand">
          <img src="/favicon.svg" alt="" width={48} height={48} />
          <div>
            <h1 id="auth-title">{t("app.name")}</h1>
            <p class="muted">{t("auth.tagline")}</p>
          </div>
        </div>
        {ended && mode === "login" ? <p class="notice" role="status">{ended}</p> : null}
        <h2>{mode === "login" ? t("auth.login") : t("auth.register")}</h2>
        <label>
          <span>{t("auth.username")}</span>
          <input name="username" autoComplete="username" required value={username} onInput={(e) => setUsername(e.currentTarget.value)} autoFocus />
        </label>
        <label>
          <span>{t("auth.password")}</span>
          <input
            name="password"
            type="password"
            autoComplete={mode === "login" ? "current-password" : "new-password"}
            required
            minLength={mode === "register" ? 8 : undefined}
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        {mode === "register" ? (
          <label>
            <span>{t("auth.displayName")}</span>
            <input name="display_name" autoComplete="nickname" value={displayName} onInput={(e) => setDisplayName(e.currentTarget.value)} />
          </label>
        ) : null}
        {error ? <p class="error" role="alert">{error}</p> : null}
        <button class="primary" type="submit" disabled={busy}>
          {mode === "login" ? t("auth.login") : t("auth.register")}
        </button>
        <button type="button" class="link" onClick={() => { setMode(mode === "login" ? "register" : "login"); setError(""); }}>
          {mode === "login" ? t("auth.noAccount") : t("auth.haveAccount")}
        </button>
        <div class="auth-footer">
          <LanguagePicker />
        </div>
      </form>
    </main>
  );
}
