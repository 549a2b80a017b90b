// The collapsible details panel of a chat (being built).
import type { ConversationView } from "../sync/engine";

export function DetailsPanel(p: { conv: ConversationView; onClose: () => void }) {
  void p;
  return <aside class="details" />;
}
