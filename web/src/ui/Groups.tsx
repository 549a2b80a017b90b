// The groups pane (being built).
export function Groups() {
  return <section class="pane list-pane" />;
}
