import { render } from "preact";

import { locale } from "./i18n";
import { startP2p } from "./p2p/transfer";
import { session, start } from "./state/app";
import { Auth } from "./ui/Auth";
import { applyTheme, theme } from "./ui/Settings";
import { Shell } from "./ui/Shell";
import "./styles.css";

function App() {
  // Reading the locale re-renders everything when it changes.
  document.documentElement.lang = locale.value;
  return session.value ? <Shell /> : <Auth />;
}

applyTheme(theme.value);
startP2p();
const saved = session.value;
if (saved) start(saved);
render(<App />, document.getElementById("app")!);
