// The samples' figures: for each use-case sample its code size, the verifier's work, the run time and what
// it did; and, where a userspace way of doing the same I/O exists, both in the same guest: cp against dd
// (4 KiB read(2)/write(2) per block), records and qd against liburing programs doing the same requests from
// userspace (uringbpf-userbench). One VM boot per clock: "wall" (plain TCG: the guest clock follows the
// host's, so figures move with host load) and "icount" (QEMU -icount shift=0,sleep=off: the guest clock
// counts executed guest instructions, 1 ns each; figures repeat within a few percent). Each boot first runs
// every case twice to warm up (the first seconds after boot read 2-4x high) and discards it.
// Transparent huge pages are off in the guest: with them on (the kernel's default, "always"), khugepaged
// wakes every 10 guest seconds (its default scan interval) and collapses the heap of whichever big
// process is running, which is the loader (libbpf holds the kernel's parsed BTF, megabytes) and never
// the small liburing program. The run it lands in reads about 9.5M guest insns high (records: 51.6 ->
// 61.0; with khugepaged's interval set to 20 ms every loader run was slow and no liburing run), and that
// was records' slow mode in 3 of 5 runs. Neither side's own work depends on huge pages.
// Writes bench/results/samples.md.
//
//   npx tsx bench/samples.ts [--reps 3] [--clock wall|icount|both]        (npm run bench: both)
import * as fs from "node:fs";
import * as path from "node:path";
import { compileFile, formatDiagnostics, type CompileOptions } from "../compiler/index";
import { repoRoot, runInVm, vmAvailability, type VmCase } from "../runtime/vm/vm";
import { makeMessages, makeRecords } from "../test/support/records";

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const reps = Number(arg("--reps") ?? 3);
const WARMUP = 2;
const clockArg = arg("--clock") ?? "both";
if (!["wall", "icount", "both"].includes(clockArg) || !(reps >= 1)) {
  process.stderr.write("usage: bench/samples.ts [--reps N] [--clock wall|icount|both]\n");
  process.exit(2);
}
type Clock = "wall" | "icount";
const clocks: Clock[] = clockArg === "both" ? ["wall", "icount"] : [clockArg as Clock];

function lastJson(output: string): Record<string, any> {
  const line = output.split("\n").reverse().find((l) => l.startsWith("{"));
  if (!line) throw new Error(`no JSON line in:\n${output}`);
  return JSON.parse(line);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

interface Sample {
  name: string;
  command: string;
  /** What the run did, from the loader's JSON (throws if it did not do its job). */
  result: (j: Record<string, any>) => string;
  /** Compile samples/SOURCE.ts (default: NAME) with these options: the loop forms of issue 9, side by side. */
  source?: string;
  options?: CompileOptions;
}

async function main(): Promise<void> {
  const avail = vmAvailability();
  if (!avail.ok) throw new Error(avail.reason);
  const root = repoRoot();
  const records = makeRecords(2000, 3);
  const messages = makeMessages(1000);
  const samples: Sample[] = [
    { name: "nops", command: "uringbpf-loader nops.o --set reqsToRun=100000", result: (j) => `100000 NOPs, reqsToRun ${j.globals.reqsToRun}` },
    { name: "cp", command: "uringbpf-loader cp.o --open inFd=/tmp/in --open outFd=/tmp/out:w --buffer buf=4096 && cmp /tmp/in /tmp/out", result: (j) => `${Number(j.globals.copied) / 1048576} MiB copied, result ${j.globals.result}` },
    { name: "records", command: "uringbpf-loader records.o --open inFd=records.bin", result: (j) => `${j.mem.records} records, ${j.mem.bytes} bytes, status ${j.mem.status}` },
    // The same sample with its byte loop on other loop forms (compile options loopUnroll / loops).
    { name: "records-maygoto1", source: "records", options: { loopUnroll: 1 }, command: "uringbpf-loader records-maygoto1.o --open inFd=records.bin", result: (j) => `may_goto, not unrolled: ${j.mem.records} records, status ${j.mem.status}` },
    { name: "records-iterator", source: "records", options: { loops: "iterator", loopUnroll: 1 }, command: "uringbpf-loader records-iterator.o --open inFd=records.bin", result: (j) => `bpf_iter_num: ${j.mem.records} records, status ${j.mem.status}` },
    { name: "drain", command: "uringbpf-loader drain.o --open fd=/tmp/drain:w", result: (j) => `${j.mem.n} completions, barrier at ${j.mem.order.slice(0, j.mem.n).map(Number).indexOf(1000)}, status ${j.mem.status}` },
    { name: "qd", command: "uringbpf-loader qd.o --set depth=4 --mem count=256", result: (j) => `${j.mem.completed} requests, max in flight ${j.mem.maxInflight}, status ${j.mem.status}` },
    {
      name: "waitsteps",
      command: "uringbpf-loader waitsteps.o --sq-entries 16 --cq-entries 32 --mem work=4 --mem stages=2 --mem 'workMs[0]=20' --mem 'workMs[1]=40' --mem 'workMs[2]=60' --mem 'workMs[3]=80' --mem 'need[0]=2' --mem 'deadlineMs[0]=100' --mem 'need[1]=10' --mem 'deadlineMs[1]=30'",
      result: (j) => `stage ends: ${j.mem.byDeadline.slice(0, 2).map((d: number) => (d ? "deadline" : "count")).join(", ")}`,
    },
    { name: "spin", command: "uringbpf-loader spin.o --set spinNs=1000000 --set requests=200 --set delayUs=100", result: (j) => `${j.globals.done} timers: ${j.globals.hits} found spinning, ${j.globals.sleeps} sleeps` },
    { name: "peek", command: "uringbpf-loader peek.o --open inFd=msgs.bin --open outA=/tmp/a:w --open outB=/tmp/b:w", result: (j) => `${j.mem.routedA + j.mem.routedB} routed, ${j.mem.skipped} skipped` },
  ];
  const files: VmCase["files"] = [
    { guestPath: "records.bin", data: records.file },
    { guestPath: "msgs.bin", data: messages.file },
  ];
  const slots = new Map<string, number>();
  for (const s of samples) {
    const res = compileFile(path.join(root, "samples", `${s.source ?? s.name}.ts`), s.options);
    if (!res.ok || !res.object) throw new Error(formatDiagnostics(res.diagnostics));
    slots.set(s.name, res.programs[0].slots);
    files.push({ guestPath: `${s.name}.o`, data: res.object });
  }
  const measure = async (clock: Clock): Promise<string> => {
    const thp = "/sys/kernel/mm/transparent_hugepage/enabled";
    const cases: VmCase[] = [{ id: "setup", command: `head -c 4194304 /dev/urandom > /tmp/in && echo never > ${thp} && grep -q '\\[never\\]' ${thp}` }];
    // Rounds -2 and -1 warm up (their figures are discarded: after boot, icount reads high for a while).
    for (let r = -WARMUP; r < reps; r++) {
      for (const s of samples) cases.push({ id: `${s.name}.${r}`, command: s.command, timeoutSec: 300 });
      cases.push({ id: `user-records.${r}`, command: "uringbpf-userbench records records.bin" });
      cases.push({ id: `user-qd.${r}`, command: "uringbpf-userbench qd 256 4" });
      // busybox `time` reports real time in 10 ms steps: copy 4 times to keep the error small.
      cases.push({ id: `dd.${r}`, command: "time sh -c 'for k in 1 2 3 4; do dd if=/tmp/in of=/tmp/dd bs=4096 2>/dev/null; done' 2>&1 && cmp /tmp/in /tmp/dd" });
    }
    const run = await runInVm(cases, { files, icount: clock === "icount", timeoutMs: 40 * 60_000 });
    const setup = run.byId.get("setup")!;
    if (setup.exitCode !== 0) throw new Error(`guest set-up failed (transparent huge pages off?):\n${setup.output}`);
    const rows: string[] = [];
    const bpfNs = new Map<string, number>();
    /** Each run's figure, for the side-by-side rows (a median hides a second mode). */
    const runsOf = new Map<string, number[]>();
    const fmt = (xs: number[]) => xs.map((x) => (x / 1e6).toFixed(3)).join(", ");
    let cpNs = 0;
    for (const s of samples) {
      const runs = [...Array(reps)].map((_, r) => {
        const out = run.byId.get(`${s.name}.${r}`)!;
        if (out.exitCode !== 0) throw new Error(`${s.name} failed:\n${out.output}`);
        return lastJson(out.output);
      });
      const ns = median(runs.map((j) => j.run_ns));
      process.stderr.write(`${clock} ${s.name}: ${runs.map((j) => j.run_ns).join(" ")}\n`);
      if (s.name === "cp") cpNs = ns;
      bpfNs.set(s.name, ns);
      runsOf.set(s.name, runs.map((j) => j.run_ns as number));
      rows.push(`| \`samples/${s.source ?? s.name}.ts\`${s.options ? ` ${JSON.stringify(s.options)}` : ""} | ${slots.get(s.name)} | ${runs[0].verifier.insns_processed} | ${(ns / 1e6).toFixed(2)} | ${s.result(runs[0])} |`);
    }
    const ddNs = median(
      [...Array(reps)].map((_, r) => {
        const out = run.byId.get(`dd.${r}`)!.output;
        const m = /real\s+(\d+)m\s*([\d.]+)s/.exec(out);
        if (!m) throw new Error(`no time in dd output:\n${out}`);
        return ((Number(m[1]) * 60 + Number(m[2])) * 1e9) / 4;
      }),
    );
    const user = (way: string, check: (j: Record<string, any>) => boolean) => {
      const ns = [...Array(reps)].map((_, r) => {
        const j = lastJson(run.byId.get(`user-${way}.${r}`)!.output);
        if (!check(j)) throw new Error(`userspace ${way} did not do its job: ${JSON.stringify(j)}`);
        return j.ns as number;
      });
      process.stderr.write(`${clock} user-${way}: ${ns.join(" ")}\n`);
      runsOf.set(`user-${way}`, ns);
      return median(ns);
    };
    const userRecords = user("records", (j) => j.status === 0 && j.records === records.records && j.checksum === records.checksum);
    const userQd = user("qd", (j) => j.completed === 256 && j.maxInflight === 4);
    const unit = clock === "icount" ? "guest Minsns" : "ms";
    return [
      clock === "icount"
        ? `## icount clock (-icount shift=0,sleep=off: run time = guest instructions executed, 1 ns each)`
        : `## wall clock (plain TCG: moves with host load)`,
      ``,
      `Kernel ${run.kernelVersion} under QEMU TCG (emulated: compare ratios, not absolute times), transparent huge pages off (see bench/samples.ts); median of ${reps} runs after ${WARMUP} warm-up runs.`,
      ``,
      `| sample | instruction slots | verifier: insns processed | run time (${unit}) | what the run did |`,
      `| --- | --- | --- | --- | --- |`,
      ...rows,
      ``,
      `Against userspace doing the same I/O in the same guest (userspace time / loop_step time; above 1 means the loop is faster):`,
      ``,
      `| sample | loop_step (${unit}) | userspace way | userspace (${unit}) | ratio |`,
      `| --- | --- | --- | --- | --- |`,
      `| records | ${(bpfNs.get("records")! / 1e6).toFixed(2)} | liburing: read header, wait, read body, wait | ${(userRecords / 1e6).toFixed(2)} | ${(userRecords / bpfNs.get("records")!).toFixed(2)}x |`,
      `| qd (256 NOPs, depth 4) | ${(bpfNs.get("qd")! / 1e6).toFixed(2)} | liburing: top up to 4, submit_and_wait(1) | ${(userQd / 1e6).toFixed(2)} | ${(userQd / bpfNs.get("qd")!).toFixed(2)}x |`,
      `| cp (4 MiB) | ${(cpNs / 1e6).toFixed(2)} | dd bs=4096 (read/write syscalls) | ${(ddNs / 1e6).toFixed(2)} | ${(ddNs / cpNs).toFixed(2)}x |`,
      ``,
      `Each run (${unit}), in order: records loop_step ${fmt(runsOf.get("records")!)}; liburing ${fmt(runsOf.get("user-records")!)}. qd loop_step ${fmt(runsOf.get("qd")!)}; liburing ${fmt(runsOf.get("user-qd")!)}.`,
      ``,
    ].join("\n");
  }

  const parts: string[] = [];
  for (const c of clocks) parts.push(await measure(c));
  const text = [`# Samples (npx tsx bench/samples.ts --clock ${clockArg} --reps ${reps})`, ``, ...parts].join("\n");
  fs.mkdirSync(path.join(root, "bench", "results"), { recursive: true });
  fs.writeFileSync(path.join(root, "bench", "results", "samples.md"), text);
  process.stdout.write(text);
}

main().catch((e) => {
  process.stderr.write(`bench/samples: ${(e as Error).message}\n`);
  process.exit(1);
});
