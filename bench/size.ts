// Code size and verifier work side by side with clang (issue 10): samples nops, cp, records and qd
// compiled by uringbpf, and their C versions (bench/c/*.c, written against docs/OBJECT.md) compiled by
// `clang -O2 -g -target bpf` at -mcpu=v3 (Debian's clang 14, and with -fno-unroll-loops) and by a clang
// that knows -mcpu=v4 (18+; scripts/deps.sh installs clang-19) at v3 and v4. For each object: the
// instruction slots of all code sections (llvm-readelf -S) and, in one VM boot, the 7.x verifier's
// "insns processed" when the reference loader loads it, with a run that must do its job.
// Writes bench/results/size.md.
//
//   npx tsx bench/size.ts        (part of npm run bench)
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { compileFile, formatDiagnostics } from "../compiler/index";
import { repoRoot, runInVm, vmAvailability, type VmCase } from "../runtime/vm/vm";
import { buildCref, codeSlots, CREF_RECORDS, CREF_RUNS, CREF_SAMPLES, CREF_SETUP, defaultClang, loaderJson, v4Clang, type CrefSample } from "../test/support/crefs";

interface Variant {
  /** Column title. */
  title: string;
  /** Short id used in file names. */
  id: string;
  build: (name: CrefSample, out: string) => void;
}

async function main(): Promise<void> {
  const avail = vmAvailability();
  if (!avail.ok) throw new Error(avail.reason);
  const root = repoRoot();
  const c14 = defaultClang();
  const c4 = v4Clang();
  if (!c14) throw new Error("clang is not installed (bash scripts/deps.sh host)");
  if (!c4) throw new Error("no clang >= 18 for -mcpu=v4 (bash scripts/deps.sh host installs clang-19)");
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ubpf-size-"));
  const variants: Variant[] = [
    {
      title: "uringbpf",
      id: "ubpf",
      build: (name, out) => {
        const res = compileFile(path.join(root, "samples", `${name}.ts`));
        if (!res.ok || !res.object) throw new Error(formatDiagnostics(res.diagnostics));
        fs.writeFileSync(out, res.object);
      },
    },
    { title: `clang ${c14.version} v3`, id: "c14v3", build: (name, out) => buildCref(c14, name, "v3", out) },
    { title: `clang ${c14.version} v3, -fno-unroll-loops`, id: "c14v3nu", build: (name, out) => buildCref(c14, name, "v3", out, ["-fno-unroll-loops"]) },
    { title: `clang ${c4.version} v3`, id: "cNv3", build: (name, out) => buildCref(c4, name, "v3", out) },
    { title: `clang ${c4.version} v4`, id: "cNv4", build: (name, out) => buildCref(c4, name, "v4", out) },
  ];
  const slots = new Map<string, number>();
  const files: VmCase["files"] = [{ guestPath: "cref-records.bin", data: CREF_RECORDS.file }];
  const cases: VmCase[] = [{ id: "setup", command: CREF_SETUP }];
  for (const s of CREF_SAMPLES) {
    for (const v of variants) {
      const tag = `${s}-${v.id}`;
      const out = path.join(tmp, `${tag}.o`);
      v.build(s, out);
      slots.set(tag, codeSlots(out));
      files.push({ guestPath: `${tag}.o`, hostPath: out });
      cases.push({ id: tag, command: CREF_RUNS[s].command(`${tag}.o`, tag), timeoutSec: 300 });
    }
  }
  const run = await runInVm(cases, { files, timeoutMs: 30 * 60_000 });
  const setup = run.byId.get("setup")!;
  if (setup.exitCode !== 0) throw new Error(`guest set-up failed:\n${setup.output}`);
  const row = (s: CrefSample, cell: (tag: string) => string) => `| ${s} | ${variants.map((v) => cell(`${s}-${v.id}`)).join(" | ")} |`;
  const processed = new Map<string, number>();
  for (const s of CREF_SAMPLES) {
    for (const v of variants) {
      const tag = `${s}-${v.id}`;
      const out = run.byId.get(tag)!;
      if (out.exitCode !== 0) throw new Error(`${tag} failed in the VM:\n${out.output}`);
      const j = loaderJson(out.output);
      const wrong = CREF_RUNS[s].check(j);
      if (wrong) throw new Error(`${tag} did not do its job: ${wrong}`);
      processed.set(tag, j.verifier.insns_processed);
    }
  }
  const head = `| sample | ${variants.map((v) => v.title).join(" | ")} |`;
  const rule = `| --- | ${variants.map(() => "---").join(" | ")} |`;
  const text = [
    `# Code size against clang (npx tsx bench/size.ts)`,
    ``,
    `uringbpf compiles \`samples/NAME.ts\`; clang compiles \`bench/c/NAME.c\`, the same algorithm in C, with`,
    `\`-O2 -g -target bpf -mcpu=CPU\`. Kernel ${run.kernelVersion}; every object was loaded by uringbpf-loader and its run checked.`,
    ``,
    `## Instruction slots of all code sections (llvm-readelf -S)`,
    ``,
    head,
    rule,
    ...CREF_SAMPLES.map((s) => row(s, (t) => String(slots.get(t)))),
    ``,
    `## Verifier: insns processed`,
    ``,
    head,
    rule,
    ...CREF_SAMPLES.map((s) => row(s, (t) => processed.get(t)!.toLocaleString("en-US"))),
    ``,
    `uringbpf / the smallest clang object (slots): ${CREF_SAMPLES.map((s) => `${s} ${(slots.get(`${s}-ubpf`)! / Math.min(...variants.slice(1).map((v) => slots.get(`${s}-${v.id}`)!))).toFixed(2)}`).join(", ")}.`,
    ``,
    `clang -O2 unrolls nops' two 8-iteration loops (memset of each SQE included); -fno-unroll-loops keeps them. records' C byte loop has`,
    `a constant bound (4096) with a break at len, which the verifier walks once per iteration; uringbpf's loops converge on may_goto.`,
    ``,
  ].join("\n");
  fs.mkdirSync(path.join(root, "bench", "results"), { recursive: true });
  fs.writeFileSync(path.join(root, "bench", "results", "size.md"), text);
  process.stdout.write(text);
  fs.rmSync(tmp, { recursive: true, force: true });
}

main().catch((e) => {
  process.stderr.write(`bench/size: ${(e as Error).message}\n`);
  process.exit(1);
});
