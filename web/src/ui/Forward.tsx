// Forwarding: pick target chats, as copies or merged into one chat record.

import { useState } from "preact/hooks";

import { t } from "../i18n";
import { engine } from "../state/app";
import { Avatar } from "./Avatar";
import { titleOf } from "./ConversationList";
import { Dialog } from "./Dialog";

export function ForwardDialog(p: { conversationId: string; seqs: number[]; onClose: (result?: string) => void }) {
  const e = engine.value!;
  const [picked, setPicked] = useState<string[]>([]);
  const [merged, setMerged] = useState(false);
  const [q, setQ] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const list = e.conversations.value.filter((c) => !q || titleOf(c).toLowerCase().includes(q.toLowerCase()));
  const toggle = (id: string) => setPicked(picked.includes(id) ? picked.filter((x) => x !== id) : picked.length < 20 ? [...picked, id] : picked);

  const go = async () => {
    setBusy(true);
    setError("");
    try {
      const out = await e.forward(p.conversationId, p.seqs, picked, merged);
      const failed = out.filter((o) => o.error);
      if (failed.length) {
        setError(failed.map((f) => t("forward.failed", { name: titleOf(e.conversation(f.target) ?? e.ensureConversation(f.target)), code: f.error ?? "" })).join("\n"));
      } else {
        p.onClose(t("forward.done"));
      }
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog title={t("forward.title")} onClose={() => p.onClose()}>
      <input type="search" placeholder={t("list.search")} aria-label={t("list.search")} value={q} onInput={(ev) => setQ(ev.currentTarget.value)} />
      <ul class="pick-list" aria-label={t("chat.selectTargets")}>
        {list.map((c) => (
          <li key={c.id}>
            <label class="pick">
              <input type="checkbox" checked={picked.includes(c.id)} onChange={() => toggle(c.id)} />
              <Avatar id={c.kind === "direct" ? c.peerId : c.id} name={titleOf(c)} src={c.avatar} size={32} />
              <span>{titleOf(c)}</span>
            </label>
          </li>
        ))}
      </ul>
      {p.seqs.length > 0 ? (
        <label class="pick">
          <input type="checkbox" checked={merged} onChange={() => setMerged(!merged)} />
          <span>{t("forward.merged")}</span>
        </label>
      ) : null}
      {error ? <p class="error" role="alert">{error}</p> : null}
      <div class="dialog-actions">
        <button type="button" onClick={() => p.onClose()}>{t("common.cancel")}</button>
        <button type="button" class="primary" disabled={!picked.length || busy} onClick={() => void go()}>
          {t("forward.send")} {picked.length ? `(${picked.length})` : ""}
        </button>
      </div>
    </Dialog>
  );
}
