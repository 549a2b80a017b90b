// Writes .br and .gz beside every compressible file of dist/, so
// ferry-server serves them precompressed (no compression per request).
// Deterministic: the same input gives the same bytes (gzip without a
// timestamp or name), so CI can rebuild and compare with what is committed.
import { readdirSync, readFileSync, statSync, writeFileSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, gzipSync, constants } from "node:zlib";

const root = new URL("../dist/", import.meta.url).pathname;
const compressible = /\.(js|css|html|svg|json|txt|webmanifest)$/;

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      walk(path);
    } else if (/\.(br|gz)$/.test(name)) {
      unlinkSync(path);
    } else if (compressible.test(name)) {
      const data = readFileSync(path);
      if (data.length < 512) continue;
      const br = brotliCompressSync(data, {
        params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: data.length },
      });
      const gz = gzipSync(data, { level: 9 });
      if (br.length < data.length) writeFileSync(path + ".br", br);
      if (gz.length < data.length) writeFileSync(path + ".gz", gz);
    }
  }
}

walk(root);
