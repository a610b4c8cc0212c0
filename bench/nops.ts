// The NOP benchmark: N sequential NOPs four ways, in one VM boot. The uringbpf loop_step (samples/nops.ts
// compiled by uringbpf, run by uringbpf-loader) against userspace liburing (uringbpf-nopbench: one NOP per
// submit_and_wait, 8 per submit, one 2-NOP link chain per submit, four chains per submit). Prints a
// markdown table of ns per NOP and each way's ratio to the BPF loop, and writes it to bench/results/nops.md.
//
//   npx tsx bench/nops.ts [--n 100000] [--reps 3] [--kvm]        (npm run bench)
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
  // Interleave the repetitions (bpf, batch8, ..., bpf, batch8, ...) so drifts hit every way alike.
  const cases: VmCase[] = [];
  for (let r = 0; r < reps; r++) {
    for (const w of ways) {
      cases.push({ id: `${w.key}-${r}`, command: w.command, timeoutSec: 300, files: w.key === "bpf" ? [{ guestPath: "nops.o", data: compiled.object }] : [] });
    }
  }
  process.stderr.write(`bench: booting the VM for ${cases.length} runs of ${n} NOPs (QEMU ${kvm ? "KVM" : "TCG"})...\n`);
  const vm = await runInVm(cases, { kvm, timeoutMs: 1_800_000 });
  const results = new Map<string, number[]>();
  for (const w of ways) {
    results.set(
      w.key,
      Array.from({ length: reps }, (_, r) => {
        const c = vm.byId.get(`${w.key}-${r}`)!;
        if (c.exitCode !== 0) throw new Error(`${c.id} exited ${c.exitCode}:\n${c.output}`);
        return w.parse(c.output);
      }),
    );
  }
  const bpf = median(results.get("bpf")!);
  const f = (x: number) => x.toFixed(0);
  const rows = ways.map((w) => {
    const xs = results.get(w.key)!;
    const m = median(xs);
    return `| ${w.label} | ${f(Math.min(...xs))}-${f(Math.max(...xs))} | ${f(m)} | ${(m / bpf).toFixed(2)}x |`;
  });
  const kernel = findKernel()?.version ?? "?";
  const table = [
    `N = ${n} sequential NOPs, ${reps} runs each, kernel ${kernel} under QEMU ${kvm ? "KVM" : "TCG (emulated: only the ratios mean anything)"}, ${new Date().toISOString().slice(0, 10)}.`,
    "",
    "| way | ns per NOP (min-max) | median | median / BPF loop |",
    "| --- | --- | --- | --- |",
    ...rows,
    "",
  ].join("\n");
  process.stdout.write(table);
  const outDir = path.join(root, "bench", "results");
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, "nops.md"), `# NOP benchmark (npm run bench)\n\n${table}`);
  process.stderr.write(`bench: VM wall time ${(vm.wallMs / 1000).toFixed(1)} s; table written to bench/results/nops.md\n`);
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exit(1);
});
