// Fails when web/dist (committed, embedded into ferry-server) differs from
// what a fresh `npm run build` just wrote there: someone changed the client
// without rebuilding, or committed a bundle of other sources.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const web = fileURLToPath(new URL("..", import.meta.url));
let status;
try {
  status = execFileSync("git", ["status", "--porcelain", "--untracked-files=all", "--", "dist"], {
    cwd: web,
    encoding: "utf8",
  });
} catch (e) {
  console.error(`check-dist: cannot ask git about web/dist: ${e.message}`);
  process.exit(1);
}
if (status.trim() !== "") {
  console.error(status.trimEnd());
  console.error("web/dist differs from a fresh build: run npm run build in web/ and commit");
  process.exit(1);
}
console.log("check-dist: web/dist matches a fresh build");
