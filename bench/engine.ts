// The userspace engine's cost: 100000 sequential NOPs on this host's kernel, run by the engine (samples/nops.ts
// interpreted, driving a real ring) and by liburing userspace programs (uringbpf-nopbench). Prints a
// markdown table and writes bench/results/engine.md. No target: the engine is for testing and portability.
//
//   npx tsx bench/engine.ts [--n 100000] [--reps 3]        (npm run bench)
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { compileFile, formatDiagnostics } from "../compiler/index";
import { runUserEngine } from "../runtime/engine/driver";

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

function main(): void {
  const n = arg("--n", 100_000);
  const reps = arg("--reps", 3);
  const root = path.join(__dirname, "..");
  const res = compileFile(path.join(root, "samples", "nops.ts"));
  if (!res.ok || !res.object) throw new Error(formatDiagnostics(res.diagnostics));
  const engine = median([...Array(reps)].map(() => {
    const r = runUserEngine(res.object!, { set: [`reqsToRun=${n}`] });
    if (r.ret !== 0 || r.globals.reqsToRun !== 0n) throw new Error("the engine run did not complete");
    return r.runNs / n;
  }));
  const bench = path.join(process.env.UBPF_CACHE ?? path.join(root, ".cache", "uringbpf"), "bin", "uringbpf-nopbench");
  const ways: [string, string][] = [["batch8", "liburing, 8 NOPs per submit_and_wait"], ["link2", "liburing, one 2-NOP link chain per submit"], ["single", "liburing, one NOP per submit_and_wait"]];
  const rows = ways.map(([way, label]) => {
    const ns = median([...Array(reps)].map(() => JSON.parse(execFileSync(bench, [String(n), way], { encoding: "utf8" }).trim().split("\n").pop()!).ns_per_nop as number));
    return `| ${label} | ${ns.toFixed(0)} | ${(engine / ns).toFixed(1)}x |`;
  });
  const text = [
    `# The userspace engine (npx tsx bench/engine.ts)`,
    ``,
    `${n} sequential NOPs on this host's kernel ${os.release()} (no io_uring BPF ops), median of ${reps} runs.`,
    ``,
    `| way | ns per NOP | engine / this way |`,
    `| --- | --- | --- |`,
    `| uringbpf userspace engine (samples/nops.ts interpreted, real ring) | ${engine.toFixed(0)} | 1.0x |`,
    ...rows,
    ``,
  ].join("\n");
  fs.mkdirSync(path.join(root, "bench", "results"), { recursive: true });
  fs.writeFileSync(path.join(root, "bench", "results", "engine.md"), text);
  process.stdout.write(text);
}

main();
