// The size of what a browser downloads to run the first page it opens, compressed as
// `brotli -q 11` would. Most pages come with the main bundle: the glue JS, the split
// loader it imports and the main WASM. Rarely used pages are lazy routes: opened first,
// they also fetch their own chunk and the shared chunks it needs (the build's
// `__wasm_split_manifest.json` lists them); those totals are printed beside it.
//
//   node scripts/bundle-size.mjs [site-root]            prints the figures
//   node scripts/bundle-size.mjs [site-root] --check    also fails above the budget
//
// The budget is the ceiling CI holds the main bundle to; lower it as the bundle shrinks.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants } from "node:zlib";

const BUDGET_BYTES = 400_500;
const GOAL_BYTES = 250_000;

const args = process.argv.slice(2);
const check = args.includes("--check");
const site = args.find((arg) => !arg.startsWith("--")) ?? "target/site";
const pkg = join(site, "pkg");

function brotli(file) {
  const bytes = readFileSync(join(pkg, file));
  const compressed = brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 11,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  }).length;
  return { raw: bytes.length, compressed };
}

const loader = readdirSync(pkg).filter((file) => /^__wasm_split\..*\.js$/.test(file));
let main = 0;
let mainRaw = 0;
for (const file of ["wukong.js", ...loader, "wukong.wasm"]) {
  const { raw, compressed } = brotli(file);
  main += compressed;
  mainRaw += raw;
  console.log(`${file}: ${raw} bytes, ${compressed} with brotli -q 11`);
}
console.log(`initial route: ${mainRaw} bytes, ${main} with brotli -q 11 (budget ${BUDGET_BYTES}, goal ${GOAL_BYTES})`);

const manifest = join(pkg, "__wasm_split_manifest.json");
if (existsSync(manifest)) {
  const chunks = JSON.parse(readFileSync(manifest, "utf8"));
  for (const [split, shared] of Object.entries(chunks).sort()) {
    const page = split.replace(/^__/, "").replace(/_route_view_\d+$/, "");
    const own = brotli(`split_${split}.wasm`).compressed;
    const rest = shared.reduce((sum, chunk) => sum + brotli(`${chunk}.wasm`).compressed, 0);
    console.log(`lazy ${page}: ${main + own + rest} with brotli -q 11 when opened first (${own} own, ${rest} in ${shared.length} shared chunks)`);
  }
}
if (check && main > BUDGET_BYTES) {
  console.error(`the bundle is ${main - BUDGET_BYTES} bytes over its budget`);
  process.exit(1);
}
