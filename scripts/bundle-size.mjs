// The size of what a browser downloads to run the first page it opens: the glue JS and the
// WASM of a release build, compressed as `brotli -q 11` would. Every page loads the same
// two files (no route is split off), so this is the initial route of every page.
//
//   node scripts/bundle-size.mjs [site-root]            prints the figures
//   node scripts/bundle-size.mjs [site-root] --check    also fails above the budget
//
// The budget is the ceiling CI holds the bundle to; lower it as the bundle shrinks.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants } from "node:zlib";

const BUDGET_BYTES = 480_000;
const GOAL_BYTES = 250_000;

const args = process.argv.slice(2);
const check = args.includes("--check");
const site = args.find((arg) => !arg.startsWith("--")) ?? "target/site";

function brotli(bytes) {
  return brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 11,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  }).length;
}

let total = 0;
let rawTotal = 0;
for (const file of ["wukong.js", "wukong.wasm"]) {
  const bytes = readFileSync(join(site, "pkg", file));
  const compressed = brotli(bytes);
  total += compressed;
  rawTotal += bytes.length;
  console.log(`${file}: ${bytes.length} bytes, ${compressed} with brotli -q 11`);
}
console.log(`initial route: ${rawTotal} bytes, ${total} with brotli -q 11 (budget ${BUDGET_BYTES}, goal ${GOAL_BYTES})`);
if (check && total > BUDGET_BYTES) {
  console.error(`the bundle is ${total - BUDGET_BYTES} bytes over its budget`);
  process.exit(1);
}
