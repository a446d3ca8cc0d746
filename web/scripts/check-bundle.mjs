// Checks the built Observatory (web/dist) for what delivery promises (issue 20 part 6):
// no source maps, a .br and a .gz beside every text asset over 1 KiB, and the JavaScript the
// first screen (login and Overview: the entry and everything it imports statically) needs at
// most 250 kB gzipped. Prints the figures; exits 1 on any breach.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const dist = process.argv[2] ?? "dist";
const LIMIT = 250 * 1000;
const problems = [];

const all = readdirSync(join(dist, "assets")).map((f) => join(dist, "assets", f));
for (const f of all.filter((f) => f.endsWith(".map"))) problems.push(`source map published: ${f}`);
for (const f of all.filter((f) => /\.(js|css)$/.test(f))) {
  if (readFileSync(f).length >= 1024 && !(existsSync(`${f}.br`) && existsSync(`${f}.gz`))) problems.push(`not pre-compressed: ${f}`);
}

const html = readFileSync(join(dist, "index.html"), "utf8");
const entry = html.match(/<script[^>]+src="\/(assets\/[^"]+\.js)"/)?.[1];
if (!entry) problems.push("index.html names no entry script");
const initial = new Set();
const visit = (rel) => {
  if (initial.has(rel)) return;
  initial.add(rel);
  const code = readFileSync(join(dist, rel), "utf8");
  // Static imports only (`import … from "./x.js"` / `import "./x.js"`), not `import(…)`.
  for (const m of code.matchAll(/(?:^|[;\n}])\s*import\s*(?:[^"'()]*?\s*from\s*)?["']\.\/([^"']+\.js)["']/g)) visit(`assets/${m[1]}`);
};
if (entry) visit(entry);
let gz = 0;
for (const rel of initial) gz += gzipSync(readFileSync(join(dist, rel)), { level: 9 }).length;
console.log(`initial JS (login, Overview): ${initial.size} files, ${(gz / 1000).toFixed(1)} kB gzipped (limit ${LIMIT / 1000} kB)`);
if (gz > LIMIT) problems.push(`initial JS is ${(gz / 1000).toFixed(1)} kB gzipped, over ${LIMIT / 1000} kB`);
const lazy = all.filter((f) => f.endsWith(".js") && !initial.has(f.slice(dist.length + 1)));
console.log(`chunks loaded on demand: ${lazy.length}`);
for (const p of problems) console.error(`bundle check: ${p}`);
process.exit(problems.length ? 1 : 0);
