// A modal dialog: focus moves in on open, Escape or the backdrop closes it,
// and focus returns to where it was.

import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";

import { t } from "../i18n";
import { Icon } from "./icons";

export function Dialog(p: { title: string; onClose: () => void; children: ComponentChildren; class?: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    const first = ref.current?.querySelector<HTMLElement>("input, button:not(.dialog-close), select, textarea, [tabindex]");
    (first ?? ref.current)?.focus();
    const key = (e: KeyboardEvent) => {
      if (e.key === "Escape") p.onClose();
    };
    window.addEventListener("keydown", key);
    return () => {
      window.removeEventListener("keydown", key);
      before?.focus?.();
    };
  }, []);
  return (
    <div class="backdrop" onClick={p.onClose}>
      <div ref={ref} class={`dialog ${p.class ?? ""}`} role="dialog" aria-modal="true" aria-label={p.title} tabIndex={-1} onClick={(e) => e.stopPropagation()}>
        <header class="dialog-header">
          <h2>{p.title}</h2>
          <button type="button" class="icon dialog-close" aria-label={t("common.close")} onClick={p.onClose}>
            <Icon name="close" size={18} />
          </button>
        </header>
        {p.children}
      </div>
    </div>
  );
}
