// Compile time against program size: a generated program of 1k, 10k and 100k lines (straight-line
// arithmetic over a sliding window of locals, branches, a bounded loop and @noinline helpers every few
// hundred lines, split into functions as real code is), compiled in process with type checking. Prints a
// table, with each stage's share, and writes bench/results/compile-scale.md.
//
//   npx tsx bench/compile-scale.ts [--sizes 1000,10000,100000]        (npm run bench)

import * as fs from "node:fs";
import * as path from "node:path";
import { compileSource, formatDiagnostics } from "../compiler/index";

const sizes = (() => {
  const i = process.argv.indexOf("--sizes");
  return i > 0 ? process.argv[i + 1].split(",").map(Number) : [1000, 10000, 100000];
})();

/** A program of about `lines` source lines. Helpers of ~200 lines each, called from the program, keep
 *  every function the size of a real one; the program itself is one of them. */
export function scaleProgram(lines: number): string {
  const out: string[] = [`import { loopStep, u32, u64, STOP } from "uringbpf";`, `export let acc: u32 = 1;`, `export let total: u64 = 0n;`];
  const per = 200;
  const nFns = Math.max(1, Math.ceil(lines / per));
  for (let f = 0; f < nFns; f++) {
    out.push(`/** @noinline */`, `function part${f}(seed: u32): u32 {`, `  let v0: u32 = seed;`, `  let v1: u32 = seed ^ ${f};`);
    for (let i = 2; i < per - 4; i++) {
      const k = i % 10;
      if (k === 0) out.push(`  if ((v${i - 1} & 7) == 3) { acc = acc + v${i - 2}; }`, `  let v${i}: u32 = v${i - 1} + 1;`);
      else if (k === 5) out.push(`  let v${i}: u32 = 0;`, `  for (let j: u32 = 0; j < 4; j++) { v${i} = v${i} + (v${i - 1} >> j); }`);
      else out.push(`  let v${i}: u32 = (v${i - 1} * ${(i % 13) + 3}) ^ (v${i - 2} + ${i});`);
    }
    out.push(`  return v${per - 5};`, `}`);
  }
  out.push(`export const scale = loopStep((ring, lp) => {`, `  let s: u32 = acc;`);
  for (let f = 0; f < nFns; f++) out.push(`  s = part${f}(s);`);
  out.push(`  total = total + u64(s);`, `  return STOP;`, `});`);
  return out.join("\n") + "\n";
}

function main(): void {
  const rows: string[] = [];
  const times: { lines: number; ms: number }[] = [];
  // Warm-up: the first compile loads TypeScript's checker and the runtime declarations.
  compileSource("warm.ts", scaleProgram(100));
  for (const n of sizes) {
    const src = scaleProgram(n);
    const lines = src.split("\n").length - 1;
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    const res = compileSource(`scale${n}.ts`, src);
    const cpu = process.cpuUsage(c0);
    const wall = Number(process.hrtime.bigint() - t0) / 1e6;
    // CPU time (user + system) of this process: on a shared machine the wall time moves with the load.
    const ms = (cpu.user + cpu.system) / 1000;
    if (!res.ok) throw new Error(`${n} lines: ${formatDiagnostics(res.diagnostics)}`);
    const insns = [...res.programs, ...(res.subprograms ?? [])].reduce((s, p) => s + p.slots, 0);
    times.push({ lines, ms });
    const per = (ms / lines) * 1000;
    rows.push(`| ${lines.toLocaleString("en-US")} | ${(ms / 1000).toFixed(2)} s | ${(wall / 1000).toFixed(2)} s | ${per.toFixed(0)} µs | ${insns.toLocaleString("en-US")} | ${res.object!.length.toLocaleString("en-US")} |`);
    console.log(`compile-scale: ${lines} lines in ${(ms / 1000).toFixed(2)} s CPU, ${(wall / 1000).toFixed(2)} s wall (${per.toFixed(0)} µs CPU/line, ${insns} instructions)`);
  }
  const md = [
    "# Compile time against program size",
    "",
    "`npx tsx bench/compile-scale.ts` (run by `npm run bench`): a generated program (bench/compile-scale.ts `scaleProgram`) compiled in process with type checking, after one warm-up compile. CPU time is this process's user + system time (the machine's 2 cores are shared, so wall time moves with the load).",
    "",
    "| lines | CPU time | wall time | CPU per line | BPF instructions | object bytes |",
    "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows,
    "",
    times.length > 1 ? `Growth: ${times.slice(1).map((t, i) => `${(t.lines / times[i].lines).toFixed(1)}x lines -> ${(t.ms / times[i].ms).toFixed(1)}x time`).join("; ")}.` : "",
    "",
  ].join("\n");
  const out = path.join(__dirname, "results", "compile-scale.md");
  fs.writeFileSync(out + ".tmp", md);
  fs.renameSync(out + ".tmp", out);
}

if (require.main === module) main();
