// The NOP benchmark: N sequential NOPs four ways, in one VM boot. The uringbpf loop_step (samples/nops.ts
// compiled by uringbpf, run by uringbpf-loader) against userspace liburing (uringbpf-nopbench: one NOP per
// submit_and_wait, 8 per submit, one 2-NOP link chain per submit, four chains per submit). Prints a
// markdown table of ns per NOP and each way's ratio to the BPF loop, and writes it to bench/results/nops.md.
// One VM boot per clock: "wall" (plain TCG: the guest clock follows the host's, so figures move with host
// load) and "icount" (QEMU -icount shift=0,sleep=off: the guest clock counts executed guest instructions,
// one ns each, so a figure is guest instructions per NOP and does not move with host load).
//
//   npx tsx bench/nops.ts [--n 100000] [--reps 3] [--clock wall|icount|both] [--kvm]   (npm run bench: both)
import * as fs from "node:fs";
import * as path from "node:path";
import { compileFile, formatDiagnostics } from "../compiler/index";
import { cacheRoot, findKernel, repoRoot, runInVm, vmAvailability, type VmCase } from "../runtime/vm/vm";

interface Way {
  key: string;
  label: string;
  command: string;
  /** ns per NOP from a case's output; throws when the run did not do its work. */
  parse: (output: string) => number;
}

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

type Clock = "wall" | "icount";
/** Rounds discarded before the measured ones: after boot, icount reads high for a while. */
const WARMUP = 2;

function lastJson(output: string): Record<string, any> {
  const line = output.split("\n").reverse().find((l) => l.startsWith("{"));
  if (!line) throw new Error(`no JSON line in:\n${output}`);
  return JSON.parse(line);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  const n = arg("--n", 100_000);
  const reps = arg("--reps", 3);
  const kvm = process.argv.includes("--kvm");
  const ci = process.argv.indexOf("--clock");
  const clockArg = ci > 0 ? process.argv[ci + 1] : "both";
  if (!(n >= 1) || !(reps >= 1) || !["wall", "icount", "both"].includes(clockArg ?? "") || (kvm && clockArg !== "wall")) {
    throw new Error("usage: bench/nops.ts [--n N] [--reps R] [--clock wall|icount|both] [--kvm (wall clock only)]");
  }
  const clocks: Clock[] = clockArg === "both" ? ["wall", "icount"] : [clockArg as Clock];
  const avail = vmAvailability();
  if (!avail.ok) throw new Error(avail.reason);
  for (const bin of ["uringbpf-loader", "uringbpf-nopbench"]) {
    if (!fs.existsSync(path.join(cacheRoot(), "bin", bin))) throw new Error(`${bin} is not built: run \`bash scripts/deps.sh build\``);
  }
  const root = repoRoot();
  const compiled = compileFile(path.join(root, "samples", "nops.ts"));
  if (!compiled.ok || !compiled.object) throw new Error(formatDiagnostics(compiled.diagnostics));

  const ways: Way[] = [
    {
      key: "bpf",
      label: "uringbpf loop_step (samples/nops.ts), up to 8 in flight",
      command: `uringbpf-loader nops.o --set reqsToRun=${n}`,
      parse: (out) => {
        const j = lastJson(out);
        if (!j.ok || j.globals?.reqsToRun !== 0 || j.globals?.result !== 0) throw new Error(`BPF run failed: ${JSON.stringify(j)}`);
        return j.run_ns / n;
      },
    },
    ...[
      ["batch8", "userspace, 8 NOPs per submit_and_wait"],
      ["link2x4", "userspace, four 2-NOP link chains per submit"],
      ["link2", "userspace, one 2-NOP IOSQE_IO_LINK chain per submit"],
      ["single", "userspace, one NOP per submit_and_wait"],
    ].map(([way, label]) => ({
      key: way,
      label,
      command: `uringbpf-nopbench ${n} ${way}`,
      parse: (out: string) => {
        const j = lastJson(out);
        if (j.n !== n || typeof j.ns_per_nop !== "number") throw new Error(`nopbench ${way} failed: ${out}`);
        return j.ns_per_nop;
      },
    })),
  ];
  const kernel = findKernel()?.version ?? "?";
  const measure = async (clock: Clock): Promise<string> => {
    // Interleave the repetitions (bpf, batch8, ..., bpf, batch8, ...) so drifts hit every way alike.
    const cases: VmCase[] = [];
    for (let r = -WARMUP; r < reps; r++) {
      for (const w of ways) {
        cases.push({ id: `${w.key}.${r}`, command: w.command, timeoutSec: 300, files: w.key === "bpf" ? [{ guestPath: "nops.o", data: compiled.object! }] : [] });
      }
    }
    process.stderr.write(`bench: booting the VM (${clock} clock) for ${cases.length} runs of ${n} NOPs (QEMU ${kvm ? "KVM" : "TCG"})...\n`);
    const vm = await runInVm(cases, { kvm, icount: clock === "icount", timeoutMs: 1_800_000 });
    process.stderr.write(`bench: VM wall time ${(vm.wallMs / 1000).toFixed(1)} s\n`);
    const results = new Map<string, number[]>();
    for (const w of ways) {
      results.set(
        w.key,
        Array.from({ length: reps }, (_, r) => {
          const c = vm.byId.get(`${w.key}.${r}`)!;
          if (c.exitCode !== 0) throw new Error(`${c.id} exited ${c.exitCode}:\n${c.output}`);
          return w.parse(c.output);
        }),
      );
    }
    const bpf = median(results.get("bpf")!);
    const f = (x: number) => x.toFixed(0);
    const unit = clock === "icount" ? "guest insns per NOP" : "ns per NOP";
    const rows = ways.map((w) => {
      const xs = results.get(w.key)!;
      const m = median(xs);
      return `| ${w.label} | ${f(Math.min(...xs))}-${f(Math.max(...xs))} | ${f(m)} | ${(m / bpf).toFixed(2)}x |`;
    });
    return [
      clock === "icount"
        ? "## icount clock (-icount shift=0,sleep=off: guest instructions executed, independent of host load)"
        : `## wall clock (plain ${kvm ? "KVM" : "TCG"}: moves with host load)`,
      "",
      `N = ${n} sequential NOPs, ${reps} runs each after ${WARMUP} warm-up rounds, kernel ${kernel} under QEMU ${kvm ? "KVM" : "TCG (emulated: only the ratios mean anything)"}, ${new Date().toISOString().slice(0, 10)}.`,
      "",
      `| way | ${unit} (min-max) | median | median / BPF loop |`,
      "| --- | --- | --- | --- |",
      ...rows,
      "",
    ].join("\n");
  };
  const parts: string[] = [];
  for (const c of clocks) parts.push(await measure(c));
  const table = parts.join("\n");
  process.stdout.write(table);
  const outDir = path.join(root, "bench", "results");
  fs.mkdirSync(outDir, { recursive: true });
  const tmp = path.join(outDir, `.nops.md.${process.pid}`);
  fs.writeFileSync(tmp, `# NOP benchmark (npx tsx bench/nops.ts --n ${n} --reps ${reps} --clock ${clockArg})\n\n${table}`);
  fs.renameSync(tmp, path.join(outDir, "nops.md"));
  process.stderr.write(`bench: table written to bench/results/nops.md\n`);
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exit(1);
});
