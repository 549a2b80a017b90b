// Peer-to-peer file transfer in the chat: the composer's "send directly"
// action (direct chats), the transfer rows with progress (and Save for a
// received file), and the history message of a verified transfer.

import { useRef } from "preact/hooks";

import { formatBytes, t } from "../i18n";
import type { FileHeader } from "../p2p/protocol";
import { dismissTransfer, FALLBACK, p2pNotices, p2pSupported, receivedFiles, sendDirect, transfers, type Transfer } from "../p2p/transfer";
import { Icon } from "./icons";

/** The composer's "Send directly (peer-to-peer)" button and its file picker. */
export function P2pSendButton(p: { conversationId: string; peerId: string }) {
  const picker = useRef<HTMLInputElement>(null);
  if (!p2pSupported()) return null;
  return (
    <>
      <input
        ref={picker}
        type="file"
        hidden
        name="send-direct"
        onChange={(ev) => {
          for (const f of Array.from(ev.currentTarget.files ?? [])) void sendDirect(p.conversationId, p.peerId, f);
          ev.currentTarget.value = "";
        }}
      />
      <button type="button" class="icon composer-tool" aria-label={t("p2p.send")} title={t("p2p.send")} data-action="send-direct" onClick={() => picker.current?.click()}>
        <Icon name="direct" size={20} />
      </button>
    </>
  );
}

/** Transfers of this chat, and the fallback notice. */
export function P2pRows(p: { conversationId: string }) {
  const list = transfers.value.filter((x) => x.conversationId === p.conversationId);
  const note = p2pNotices.value.get(p.conversationId);
  if (!list.length && !note) return null;
  return (
    <div class="uploads p2p">
      {note === FALLBACK ? (
        <p class="muted small" role="status">
          {t("p2p.fallback")}
        </p>
      ) : null}
      {list.map((x) => (
        <TransferRow key={x.key} x={x} />
      ))}
    </div>
  );
}

function TransferRow(p: { x: Transfer }) {
  const x = p.x;
  const pct = x.size ? Math.floor((x.done / x.size) * 100) : 100;
  const label =
    x.state === "connecting"
      ? t("p2p.connecting")
      : x.state === "failed"
        ? t("p2p.failed")
        : x.state === "done"
          ? t("p2p.received")
          : t(x.direction === "out" ? "p2p.sending" : "p2p.receiving", { name: x.name });
  return (
    <div class="upload" data-transfer={x.name} data-state={x.state}>
      <Icon name="direct" size={24} />
      <div class="upload-main">
        <div class="upload-name">{x.name}</div>
        <progress max={100} value={pct} aria-label={label} />
        <div class="muted small">
          {label} · {formatBytes(x.done)} / {formatBytes(x.size)}
        </div>
      </div>
      {x.url ? (
        <a class="link" href={x.url} download={x.name} data-action="save-direct">
          {t("p2p.save")}
        </a>
      ) : null}
      {x.state === "done" || x.state === "failed" ? (
        <button type="button" class="icon" aria-label={t("p2p.dismiss")} onClick={() => dismissTransfer(x.key)}>
          <Icon name="close" size={16} />
        </button>
      ) : null}
    </div>
  );
}

/** The history message: "📎 name · size — sent directly", with Save where this tab holds the file. */
export function P2pFileCard(p: { h: FileHeader }) {
  const url = receivedFiles.value.get(p.h.sha256);
  return (
    <div class="file-card p2p-file" data-p2p-file={p.h.name}>
      <span class="file-icon">
        <Icon name="file" size={28} />
      </span>
      <span class="file-main">
        <strong class="file-name">📎 {p.h.name}</strong>
        <span class="muted small">
          {formatBytes(p.h.size)} — {t("p2p.history")}
        </span>
      </span>
      {url ? (
        <a class="link" href={url} download={p.h.name}>
          {t("p2p.save")}
        </a>
      ) : null}
    </div>
  );
}
