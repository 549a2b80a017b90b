import { render } from "preact";

function App() {
  return <h1>Ferry</h1>;
}

render(<App />, document.getElementById("app")!);
