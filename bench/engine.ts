// The userspace engine's cost: N sequential NOPs on this host's kernel, run by the engine (samples/nops.ts
// translated to JavaScript, driving a real ring; and the reference interpreter, once) and by liburing
// userspace programs (uringbpf-nopbench), measured side by side in one run: the engine and liburing's
// 8-NOPs-per-submit alternate, rep after rep, so host load hits both alike; the figures are medians. The
// engine's translation is warmed up by one untimed run first (as a program run many times would be; the
// cold first run is reported too). Prints a markdown table and writes bench/results/engine.md. The goal
// (issue 12): the engine at most 3x liburing's 8-per-submit cost per NOP.
//
//   npx tsx bench/engine.ts [--n 100000] [--reps 5]        (npm run bench)
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
  const reps = arg("--reps", 5);
  const root = path.join(__dirname, "..");
  const res = compileFile(path.join(root, "samples", "nops.ts"));
  if (!res.ok || !res.object) throw new Error(formatDiagnostics(res.diagnostics));
  const engineRun = (interpreter: boolean, count: number) => {
    const c0 = process.cpuUsage();
    const r = runUserEngine(res.object!, { set: [`reqsToRun=${count}`], interpreter });
    const c = process.cpuUsage(c0);
    if (r.ret !== 0 || r.globals.reqsToRun !== 0n || r.globals.result !== 0n) throw new Error("the engine run did not complete");
    return { wall: r.runNs / count, cpu: ((c.user + c.system) * 1000) / count };
  };
  const bench = path.join(process.env.UBPF_CACHE ?? path.join(root, ".cache", "uringbpf"), "bin", "uringbpf-nopbench");
  const liburing = (way: string) => {
    const out = execFileSync("/usr/bin/env", ["bash", "-c", `TIMEFORMAT='%U %S'; { time "$0" "$1" "$2" ; } 2>&1`, bench, String(n), way], { encoding: "utf8" }).trim().split("\n");
    const [u, s] = out.pop()!.split(" ").map(Number);
    return { wall: JSON.parse(out.pop()!).ns_per_nop as number, cpu: ((u + s) * 1e9) / n };
  };
  const cold = engineRun(false, n);
  const interp = engineRun(true, Math.min(n, 20_000));
  engineRun(false, n); // warm-up
  const engine: { wall: number; cpu: number }[] = [];
  const batch8: { wall: number; cpu: number }[] = [];
  for (let i = 0; i < reps; i++) {
    engine.push(engineRun(false, n));
    batch8.push(liburing("batch8"));
  }
  const others = (["link2", "single"] as const).map((way) => {
    const xs = [...Array(3)].map(() => liburing(way));
    return { way, wall: median(xs.map((x) => x.wall)), cpu: median(xs.map((x) => x.cpu)) };
  });
  const e = { wall: median(engine.map((x) => x.wall)), cpu: median(engine.map((x) => x.cpu)) };
  const b8 = { wall: median(batch8.map((x) => x.wall)), cpu: median(batch8.map((x) => x.cpu)) };
  const row = (label: string, x: { wall: number; cpu: number }) => `| ${label} | ${x.wall.toFixed(0)} | ${(x.wall / b8.wall).toFixed(1)}x | ${x.cpu.toFixed(0)} | ${(x.cpu / b8.cpu).toFixed(1)}x |`;
  const labels: Record<string, string> = { link2: "liburing, one 2-NOP link chain per submit", single: "liburing, one NOP per submit_and_wait" };
  const text = [
    `# The userspace engine (npx tsx bench/engine.ts)`,
    ``,
    `${n} sequential NOPs on this host's kernel ${os.release()} (no io_uring BPF ops); engine and liburing 8-per-submit`,
    `alternate for ${reps} reps (medians); load average at the end ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} CPUs.`,
    `Wall: ns per NOP of the run; CPU: user + system time of the process per NOP.`,
    ``,
    `| way | wall ns per NOP | / liburing 8 per submit | CPU ns per NOP | / liburing 8 per submit |`,
    `| --- | --- | --- | --- | --- |`,
    row("uringbpf userspace engine, translated (warm)", e),
    row("uringbpf userspace engine, translated (cold: first run, translation and JIT included)", cold),
    row(`uringbpf userspace engine, reference interpreter (${Math.min(n, 20_000)} NOPs)`, interp),
    row("liburing, 8 NOPs per submit_and_wait", b8),
    ...others.map((o) => row(labels[o.way], o)),
    ``,
  ].join("\n");
  fs.mkdirSync(path.join(root, "bench", "results"), { recursive: true });
  fs.writeFileSync(path.join(root, "bench", "results", "engine.md"), text);
  process.stdout.write(text);
}

main();
