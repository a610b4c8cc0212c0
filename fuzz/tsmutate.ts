// TypeScript mutation for the fuzz harness: token edits (delete, duplicate, replace, swap), inserted
// constructs (statements and declarations from inside and outside the DSL), odd names and literals,
// byte-level damage (NUL bytes, non-ASCII, control characters), and generated stress shapes (deep nesting
// of every kind, huge sums, many locals, many globals, long lines). All of it deterministic from an Rng.

import * as fs from "fs";
import * as path from "path";
import { generateProgram, Rng } from "../test/support/progen";

export { Rng };

/** A TypeScript input and how it was made (saved next to a crashing input). */
export interface TsInput {
  name: string;
  text: string;
  /** Compile with --no-typecheck. */
  noTypecheck: boolean;
  how: string;
}

const ROOT = path.join(__dirname, "..");

/** The seed programs: the samples, the fixture programs and diagnostics fixtures. */
export function seedSources(): { name: string; text: string }[] {
  const out: { name: string; text: string }[] = [];
  const dirs = ["samples", "test/fixtures/programs", "test/fixtures/diagnostics", "test/fixtures/loops"];
  for (const d of dirs) {
    const abs = path.join(ROOT, d);
    if (!fs.existsSync(abs)) continue;
    for (const f of fs.readdirSync(abs).sort()) if (f.endsWith(".ts")) out.push({ name: `${d}/${f}`, text: fs.readFileSync(path.join(abs, f), "utf8") });
  }
  return out;
}

const TOKEN = /[A-Za-z_$\u0080-\uffff][\w$\u0080-\uffff]*|0[xX][0-9a-fA-F_]+n?|\d[\d_]*n?|"(?:[^"\\\n]|\\.)*"|`[^`]*`|\/\/[^\n]*|>>>=?|[=!]==|[-+*/%&|^<>=!]=|&&|\|\||\+\+|--|<<|>>|=>|\*\*|\?\?|\S/g;

const ODD_NAMES = [
  "中文", "שלום", "café", "$x", "_$", "x\u200d", "ℌ", "𝑥", "a".repeat(300), "constructor", "__proto__", "toString",
  "r", "p_ops", "LICENSE", "uringbpf_sq_entries", "uringbpf_str_0", "bpf_iter_num_new", "bpf_io_uring_submit_sqes", "_", "ring", "lp",
];
const ODD_NUMBERS = [
  "0", "1", "-1", "255", "256", "65535", "65536", "2147483647", "2147483648", "4294967295", "4294967296", "9007199254740993",
  "18446744073709551615n", "18446744073709551616n", "-9223372036854775808n", "1e400", "0.5", "0x", "0b102", "1_000", "08", "0o777",
  "123456789012345678901234567890123456789n", "0xffffffffffffffffffffffffffffffffn",
];
const TOKENS_POOL = [
  "(", ")", "{", "}", "[", "]", ";", ",", ".", "=", "==", "+", "-", "*", "/", "%", "<<", ">>", ">>>", "&", "|", "^", "!", "~", "?", ":",
  "=>", "...", "let", "const", "var", "if", "else", "for", "while", "do", "return", "break", "continue", "switch", "case", "default",
  "function", "export", "import", "from", "as", "typeof", "new", "this", "null", "undefined", "true", "false", "u8", "u32", "u64", "i64",
  "bool", "ring", "lp", "STOP", "CONTINUE", "loopStep", "config", "sqe", "cqe", "async", "await", "yield", "class", "enum", "throw",
  "try", "catch", "delete", "void", "in", "of", "instanceof", "@noinline", "/*", "*/", "`", "'", "\"", "\\", "#", "@",
];
const CONSTRUCTS = [
  "let q: u32 = 1;", "x = x + 1;", "for (;;) {}", "while (true) {}", "do {} while (false);", "for (let j: u32 = 0; j | 4; j++) {}",
  "for (let j: u32 = 0; j < 100000; j++) { }", "if (x) { return STOP; }", "switch (x) { case 1: break; default: }",
  "return 1n << 100000n;", "x = 1 << 70;", "x = 1 << 100000000;", "x = (1n << 64n) * (1n << 64n);", "const big = 1n << 1000000n;",
  "x = 2 ** 10;", "x = x / 0;", "x = x % 0;", "x = -2147483648 / -1;", "throw 1;", "try {} catch {}", "label: for (;;) break label;",
  "import { nope } from \"elsewhere\";", "import * as ns from \"uringbpf\";", "import def from \"uringbpf\";", "import x from `uringbpf`;",
  "export let 中文: u32 = 1;", "export let שלום: u32 = 2;", "let café: u32 = 3;", "export let $d: u32 = 4;", "export let r: u32 = 5;",
  "export let r: u32 = 6;", "function r(): u32 { return 1; }", "function f(a: u32): u32 { return f(a); }", "class C {}", "enum E { A }",
  "const s = \"str\";", "let o = { a: 1 };", "let a = [1, 2];", "let fn = () => 1;", "async function af() {}", "function* g() {}",
  "x = ring.sqe(0).opcode;", "x = ring.cqe(1000000).res;", "ring.submit(100000);", "const m = ring.mem<Foo>();", "interface Foo { a: u32; }",
  "interface 名前 { 値: u32; }", "type T = u32;", "declare let d: u32;", "export default 1;", "namespace N {}", "x = <u32>x;", "x = x as u32;",
  "x = u32(u64(x));", "x = typeof x;", "delete x;", "void 0;", "x = x!;", "x ??= 1;", "x **= 2;", "x = (x, x);", "x = `t${x}`;",
  "/* unterminated", "\"unterminated", "`unterminated", "{", "}", ")", "(", "//\0", "x = 1;\0", "\u0000", "\uFEFF", "\u2028", "\r",
];

/** Split text into tokens with their offsets. */
function tokens(text: string): { start: number; end: number; text: string }[] {
  const out: { start: number; end: number; text: string }[] = [];
  for (const m of text.matchAll(TOKEN)) out.push({ start: m.index!, end: m.index! + m[0].length, text: m[0] });
  return out;
}

/** One random edit of the text. */
function mutateOnce(r: Rng, text: string): { text: string; how: string } {
  const toks = tokens(text);
  const lines = text.split("\n");
  const k = r.int(12);
  if (toks.length === 0 || k === 0) {
    const at = r.int(lines.length + 1);
    const c = r.pick(CONSTRUCTS);
    lines.splice(at, 0, c);
    return { text: lines.join("\n"), how: `insert line ${at + 1}: ${JSON.stringify(c)}` };
  }
  const t = toks[r.int(toks.length)];
  const splice = (s: string) => text.slice(0, t.start) + s + text.slice(t.end);
  switch (k) {
    case 1: return { text: splice(""), how: `delete token ${JSON.stringify(t.text)} at ${t.start}` };
    case 2: return { text: splice(t.text + " " + t.text), how: `duplicate token ${JSON.stringify(t.text)} at ${t.start}` };
    case 3: {
      const x = r.pick(TOKENS_POOL);
      return { text: splice(x), how: `replace token ${JSON.stringify(t.text)} at ${t.start} with ${JSON.stringify(x)}` };
    }
    case 4: {
      const u = toks[r.int(toks.length)];
      if (u.start <= t.end) return { text: splice(u.text), how: `replace token at ${t.start} with ${JSON.stringify(u.text)}` };
      return { text: text.slice(0, t.start) + u.text + text.slice(t.end, u.start) + t.text + text.slice(u.end), how: `swap tokens at ${t.start} and ${u.start}` };
    }
    case 5: {
      // Rename every occurrence of an identifier to an odd name.
      const ids = toks.filter((x) => /^[A-Za-z_$]/.test(x.text) && !/^(import|export|from|const|let|return|function|if|for|while)$/.test(x.text));
      if (!ids.length) break;
      const id = r.pick(ids).text;
      const to = r.pick(ODD_NAMES);
      return { text: text.replace(new RegExp(`(?<![\\w$])${id.replace(/\$/g, "\\$")}(?![\\w$])`, "g"), to), how: `rename ${id} to ${JSON.stringify(to)}` };
    }
    case 6: {
      const nums = toks.filter((x) => /^\d|^0[xX]/.test(x.text));
      if (!nums.length) break;
      const n = r.pick(nums);
      const to = r.pick(ODD_NUMBERS);
      return { text: text.slice(0, n.start) + to + text.slice(n.end), how: `number ${n.text} at ${n.start} -> ${to}` };
    }
    case 7: {
      const at = r.int(text.length + 1);
      const c = r.pick(["\0", "\u00e9", "\u4e2d", "\ud800", "\u202e", "\x01", "\x7f", "\t", "\r", "\v", "\uFEFF", "\u{1F600}"]);
      return { text: text.slice(0, at) + c + text.slice(at), how: `insert ${JSON.stringify(c)} at ${at}` };
    }
    case 8: {
      const at = r.int(lines.length);
      const dup = r.chance(0.5);
      if (dup) lines.splice(at, 0, lines[at]);
      else lines.splice(at, 1);
      return { text: lines.join("\n"), how: `${dup ? "duplicate" : "delete"} line ${at + 1}` };
    }
    case 9: {
      // Wrap an expression-looking token in conversions or parentheses.
      const w = r.pick(["u32(", "u64(", "(", "i8(", "bool("]);
      return { text: splice(w + t.text + ")"), how: `wrap token at ${t.start} in ${w})` };
    }
    case 10: return { text: text.slice(0, r.int(text.length + 1)), how: "truncate" };
  }
  const at = r.int(lines.length + 1);
  const c = r.pick(CONSTRUCTS);
  lines.splice(at, 0, c);
  return { text: lines.join("\n"), how: `insert line ${at + 1}: ${JSON.stringify(c)}` };
}

/** A mutant of one of the seeds (1 to 4 edits). */
export function mutateSource(r: Rng, seeds: { name: string; text: string }[]): TsInput {
  const useGen = r.chance(0.15);
  const seed = useGen ? { name: `progen`, text: generateProgram(r.int(1 << 30)).source } : r.pick(seeds);
  let text = seed.text;
  const hows: string[] = [];
  const n = 1 + r.int(4);
  for (let i = 0; i < n; i++) {
    const m = mutateOnce(r, text);
    text = m.text;
    hows.push(m.how);
  }
  return { name: seed.name.replace(/.*\//, ""), text, noTypecheck: r.chance(0.3), how: `${seed.name}: ${hows.join("; ")}` };
}

const HEAD = `import { loopStep, u8, u16, u32, u64, i32, i64, bool, STOP, CONTINUE } from "uringbpf";\n`;
const prog = (body: string, top = "") => `${HEAD}${top}export let x: u32 = 1;\nexport let y: u64 = 2n;\nexport const p = loopStep((ring, lp) => {\n${body}\n  return STOP;\n});\n`;

/** A generated stress program: deep nesting, huge sums, many locals or globals, long lines, odd bytes. */
export function stressSource(r: Rng): TsInput {
  const kinds = ["paren", "conv", "block", "if", "ifelse", "tern", "unary", "not", "while", "for", "call", "sum", "sum64", "locals", "live",
    "globals", "longline", "nul", "names", "bigint", "dups", "import", "switch", "helpers", "consts", "elseif"] as const;
  const kind = r.pick(kinds);
  // Sizes: mostly moderate, sometimes far past any limit (a big one costs seconds to compile: one in ten
  // keeps a few hundred of them in a 30-minute run without their time crowding out everything else).
  const big = r.chance(0.1);
  const n = big ? 500 + r.int(20000) : 1 + r.int(300);
  let text: string;
  switch (kind) {
    case "paren": text = prog(`  x = ${"(".repeat(n)}x${")".repeat(n)};`); break;
    case "conv": text = prog(`  x = ${"u32(".repeat(n)}x${")".repeat(n)};`); break;
    case "block": text = prog(`${"{ ".repeat(n)}x = 1;${" }".repeat(n)}`); break;
    case "if": text = prog(`${"if (x) ".repeat(n)}x = 1;`); break;
    case "ifelse": text = prog(`${"if (x) { x = 1; } else ".repeat(n)}{ x = 2; }`); break;
    case "elseif": text = prog(Array.from({ length: n }, (_, i) => `  ${i ? "else " : ""}if (x == ${i}) x = ${i + 1};`).join("\n")); break;
    case "tern": text = prog(`  x = ${"x ? 1 : ".repeat(n)}0;`); break;
    case "unary": text = prog(`  x = ${"~".repeat(n)}x;`); break;
    case "not": text = prog(`  if (${"!".repeat(n)}x) x = 0;`); break;
    case "while": {
      const d = Math.min(n, big ? 2000 : 60);
      text = prog(`${"while (x) { ".repeat(d)}x = x - 1;${" }".repeat(d)}`);
      break;
    }
    case "for": {
      const d = Math.min(n, big ? 1000 : 20);
      text = prog(Array.from({ length: d }, (_, i) => `for (let i${i}: u32 = 0; i${i} < 2; i${i}++) {`).join("\n") + "x = x + 1;" + "}".repeat(d));
      break;
    }
    case "call": {
      const d = Math.min(n, 64);
      const fns = Array.from({ length: d }, (_, i) => `function f${i}(a: u32): u32 { return ${i + 1 < d ? `f${i + 1}(a + 1)` : "a"}; }`).join("\n");
      text = prog(`  x = f0(x);`, fns + "\n");
      break;
    }
    case "sum": text = prog(`  x = ${Array.from({ length: Math.min(n, 8000) }, (_, i) => (i % 3 ? "x" : String(i))).join(" + ")};`); break;
    case "sum64": text = prog(`  y = ${Array.from({ length: Math.min(n, 8000) }, () => "y").join(" * ")};`); break;
    case "locals": text = prog(Array.from({ length: Math.min(n, 5000) }, (_, i) => `  let v${i}: u32 = x + ${i};\n  x = v${i};`).join("\n")); break;
    case "live": {
      // Values alive at once (register pressure, spills, the 512-byte stack).
      const m = Math.min(n, 400);
      text = prog(Array.from({ length: m }, (_, i) => `  let v${i}: u32 = x + ${i};`).join("\n") + `\n  x = ${Array.from({ length: m }, (_, i) => `v${i}`).join(" + ")};`);
      break;
    }
    case "globals": {
      const m = big ? 60000 + r.int(10000) : n;
      text = `${HEAD}${Array.from({ length: m }, (_, i) => `export let g${i}: u8 = ${i & 1};`).join("\n")}\nexport const p = loopStep((ring, lp) => { g0 = 1; return STOP; });\n`;
      break;
    }
    case "longline": text = prog(`  x = 1; ${"x = x + 1; ".repeat(Math.min(n, 20000))}`); break;
    case "nul": text = prog(`  x = 1; // a NUL \0 here\n  x = 2;\0\n  /* \0 */ x = 3;`); break;
    case "names": {
      const nm = r.pick(["中文", "שלום", "café", "$x", "ℌ", "𝑥", "a".repeat(200 + r.int(400)), "Ωmega", "x\u200dy"]);
      const where = r.int(5);
      if (where === 0) text = prog(`  ${nm} = ${nm} + 1;`, `export let ${nm}: u32 = 1;\n`);
      else if (where === 1) text = `${HEAD}export let x: u32 = 1;\nexport const ${nm} = loopStep((ring, lp) => { x = 1; return STOP; });\n`;
      else if (where === 2) text = prog(`  x = ${nm}(x);`, `/** @noinline */\nfunction ${nm}(a: u32): u32 { return a + 1; }\n`);
      else if (where === 3) text = prog(`  x = h(x);`, `/** @noinline */\nfunction h(${nm}: u32): u32 { return ${nm} + 1; }\n`);
      else text = prog(`  const m = ring.mem<${nm}>();\n  m.${nm} = 1;`, `interface ${nm} { ${nm}: u32; }\n`);
      break;
    }
    case "bigint": {
      const e = r.pick(["1n << 100000000n", "(1n << 64n) * (1n << 64n)", "1 << 100000000", "1 << 4294967296", "-(1n << 63n) - 1n", "18446744073709551615n + 1n", "1n << -1n", "2n ** 100000n"]);
      text = prog(`  y = ${e};`, `const K = ${e};\n`);
      break;
    }
    case "dups": text = `${HEAD}export let r: u32 = 1;\nexport let r: u32 = 2;\nfunction r(): u32 { return 1; }\nexport const p = loopStep((ring, lp) => { r = 3; return STOP; });\nexport const p = loopStep((ring, lp) => STOP);\nexport let p_ops: u32 = 0;\n`; break;
    case "import": text = `import { loopStep, STOP } from ${r.pick(["x", "1", "`uringbpf`", "'uringbpf' + ''", "(\"uringbpf\")"])};\nexport const p = loopStep((ring, lp) => STOP);\n`; break;
    case "switch": text = prog(`  switch (x) {\n${Array.from({ length: Math.min(n, 4000) }, (_, i) => `    case ${i}: x = ${i * 7}; break;`).join("\n")}\n  }`); break;
    case "helpers": {
      const m = Math.min(n, 300);
      text = prog(Array.from({ length: m }, (_, i) => `  x = h${i}(x);`).join("\n"), Array.from({ length: m }, (_, i) => `/** @noinline */\nfunction h${i}(a: u32): u32 { return a + ${i}; }`).join("\n") + "\n");
      break;
    }
    case "consts": text = prog(`  x = C${Math.min(n, 3000) - 1};`, Array.from({ length: Math.min(n, 3000) }, (_, i) => `const C${i} = ${i ? `C${i - 1} + C${i - 1}` : "1"};`).join("\n") + "\n");
  }
  return { name: `stress-${kind}.ts`, text, noTypecheck: r.chance(0.4), how: `stress ${kind} n=${n}` };
}

const OPERATORS = ["+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>", "<", "<=", ">", ">=", "==", "!=", "===", "!==", "&&", "||"];
const SMALL_NUMBERS = ["0", "1", "2", "3", "7", "8", "15", "16", "31", "32", "63", "64", "100", "255", "256", "1000", "4096", "65535"];

/** A mutant meant to stay inside the language (for the kernel corpus): one or two edits that keep the
 *  program well-formed more often than not (operators swapped for operators, numbers for small numbers,
 *  lines duplicated or deleted, names renamed to other valid names). */
export function mutateForKernel(r: Rng, seeds: { name: string; text: string }[]): TsInput {
  const seed = r.pick(seeds);
  let text = seed.text;
  const hows: string[] = [];
  const n = 1 + r.int(2);
  for (let k = 0; k < n; k++) {
    const toks = tokens(text);
    const kind = r.int(4);
    if (kind === 0) {
      const ops = toks.filter((t) => OPERATORS.includes(t.text));
      if (!ops.length) continue;
      const t = r.pick(ops);
      const to = r.pick(OPERATORS);
      text = text.slice(0, t.start) + to + text.slice(t.end);
      hows.push(`operator ${t.text} at ${t.start} -> ${to}`);
    } else if (kind === 1) {
      const nums = toks.filter((t) => /^\d/.test(t.text) && !t.text.endsWith("n"));
      if (!nums.length) continue;
      const t = r.pick(nums);
      const to = r.pick(SMALL_NUMBERS);
      text = text.slice(0, t.start) + to + text.slice(t.end);
      hows.push(`number ${t.text} at ${t.start} -> ${to}`);
    } else if (kind === 2) {
      const lines = text.split("\n");
      const at = r.int(lines.length);
      const dup = r.chance(0.6);
      if (dup) lines.splice(at, 0, lines[at]);
      else lines.splice(at, 1);
      text = lines.join("\n");
      hows.push(`${dup ? "duplicate" : "delete"} line ${at + 1}`);
    } else {
      const m = mutateOnce(r, text);
      text = m.text;
      hows.push(m.how);
    }
  }
  return { name: seed.name.replace(/.*\//, ""), text, noTypecheck: false, how: `${seed.name}: ${hows.join("; ") || "unchanged"}` };
}
