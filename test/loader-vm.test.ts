// The native loader's load-failure reports in the real kernel (issues 15 and 17), one VM boot: the
// static uringbpf-loader in the 7.x guest on objects the kernel or libbpf refuse.
//   - a BTF rejection (a non-ASCII name patched into a compiled object, so the compiler's own name
//     checks do not stand in the way): the kernel's BTF verifier line names the type and the name;
//   - an object with two programs whose second one the verifier rejects with E2BIG: the report names that
//     program, its section, the verifier's error line and the errno, although the first one was selected;
//   - the two objects that crash libbpf 1.4.6 itself (a huge .struct_ops.link variable offset, a huge
//     symbol value): a clear error before libbpf opens them;
//   - mutants of compiled objects (test/support/objmutate.ts) loaded for real (--no-run: load and attach,
//     no io_uring_enter), which goes through libbpf's load stages that --no-load on the host does not
//     reach: each must end with an exit status and a message, never a signal.
// Skipped with a message when the kernel or QEMU is missing, except under CI.
import * as fs from "fs";
import * as path from "path";
import { beforeAll, describe, expect, it } from "vitest";
import { compileSource, formatDiagnostics } from "../compiler/index";
import { runInVm, type VmCase, type VmRunResult } from "../runtime/vm/vm";
import { hostileLibbpfObjects, mutants, pick } from "./support/objmutate";
import { kernelTestsCanRun } from "./support/kernelgate";

const root = path.join(__dirname, "..");
const canRun = kernelTestsCanRun("the loader's kernel tests");

function compile(name: string, source: string, typeCheck = true): Buffer {
  const r = compileSource(name, source, { typeCheck });
  if (!r.ok || !r.object) throw new Error(formatDiagnostics(r.diagnostics));
  return Buffer.from(r.object);
}

function json(output: string): Record<string, any> {
  const line = output.split("\n").reverse().find((l) => l.startsWith("{"));
  if (!line) throw new Error(`no JSON line in:\n${output}`);
  return JSON.parse(line);
}

const HEAD = `import { loopStep, u32, STOP } from "uringbpf";\nexport let x: u32 = 1;\n`;
const FIRST = `export const first = loopStep((ring, lp) => { x = x + 1; return STOP; });\n`;
// More pending branches than the verifier keeps (8192): 520 statements of 16 conditions on a global the
// verifier cannot know and that each statement changes (so the middle end cannot merge the tests of one
// statement with the next one's), so the all-true path pushes 8320 states and the kernel
// answers E2BIG ("The sequence of 8193 jumps is too complex"). Too large for TypeScript's control-flow
// analysis, so it is compiled without the type check.
const SECOND_STATEMENTS = 520;
const SECOND_CONDITIONS = 16;
function secondSource(): string {
  const conj = Array.from({ length: SECOND_CONDITIONS }, (_, c) => `(x & ${1 << c}) != 0`).join(" && ");
  const body = Array.from({ length: SECOND_STATEMENTS }, () => `  if (${conj}) x = x * 3;\n`).join("");
  return `export let g: u32 = 5;\nexport const second = loopStep((ring, lp) => {\n${body}  return STOP;\n});\n`;
}

/** A compiled object whose global `counter` is renamed to a non-ASCII name in BTF and the symbol table. */
function nonAsciiObject(): { data: Buffer; name: string } {
  const obj = compile("named.ts", `import { loopStep, u32, STOP } from "uringbpf";
export let counter: u32 = 1;
export const first = loopStep((ring, lp) => { counter = counter + 1; return STOP; });
`);
  const from = Buffer.from("counter\0");
  const name = "中文c"; // 7 bytes of UTF-8, the length of "counter"
  const to = Buffer.from(`${name}\0`, "utf8");
  expect(to.length).toBe(from.length);
  let n = 0;
  for (let at = obj.indexOf(from); at >= 0; at = obj.indexOf(from, at + from.length), n++) to.copy(obj, at);
  expect(n).toBeGreaterThanOrEqual(1);
  return { data: obj, name };
}

const VM_MUTANTS = Number(process.env.UBPF_LOADER_VM_MUTANTS ?? 160);
const cases: VmCase[] = [];
const mutantNames: string[] = [];
let run: VmRunResult;
let nonAsciiName = "";

beforeAll(async () => {
  if (!canRun) return;
  const na = nonAsciiObject();
  nonAsciiName = na.name;
  cases.push({ id: "btf-nonascii", command: "uringbpf-loader nonascii.o", files: [{ guestPath: "nonascii.o", data: na.data }] });
  cases.push({
    id: "two-programs",
    command: "uringbpf-loader two.o",
    files: [{ guestPath: "two.o", data: compile("two.ts", HEAD + FIRST + secondSource(), false) }],
    timeoutSec: 400,
  });
  // A kfunc the kernel does not have (the name patched in BTF and the symbol table): libbpf's stage.
  const sample = compile("samples/nops.ts", fs.readFileSync(path.join(root, "samples", "nops.ts"), "utf8"));
  const kf = Buffer.from("bpf_io_uring_submit_sqes\0");
  let patched = 0;
  for (let at = sample.indexOf(kf); at >= 0; at = sample.indexOf(kf, at + kf.length), patched++) Buffer.from("bpf_io_uring_submit_sqez\0").copy(sample, at);
  expect(patched).toBeGreaterThanOrEqual(1);
  cases.push({ id: "kfunc-missing", command: "uringbpf-loader nokfunc.o", files: [{ guestPath: "nokfunc.o", data: sample }] });
  const nops = compile("nops.ts", `${HEAD}export const nops = loopStep((ring, lp) => { x = x + 1; return STOP; });\n`);
  for (const [name, data] of hostileLibbpfObjects(nops)) cases.push({ id: `libbpf-${name}`, command: `uringbpf-loader ${name}`, files: [{ guestPath: name, data }] });
  // The unmutated object loads (the hostile ones differ from it in one field).
  cases.push({ id: "nops-ok", command: "uringbpf-loader nops.o", files: [{ guestPath: "nops.o", data: nops }] });
  const mem = compile("mem.ts", fs.readFileSync(path.join(__dirname, "fixtures", "programs", "mem-region.ts"), "utf8"));
  const all = [
    ...pick(mutants(nops, 1517, { perSite: 1, flips: 6, truncations: 4 }), VM_MUTANTS / 2, 15).map((m) => ({ ...m, what: `nops: ${m.what}` })),
    ...pick(mutants(mem, 1715, { perSite: 1, flips: 6, truncations: 4 }), VM_MUTANTS / 2, 17).map((m) => ({ ...m, what: `mem-region: ${m.what}` })),
  ];
  const files = all.map((m, i) => ({ guestPath: `mut/${i}.o`, data: m.data }));
  mutantNames.push(...all.map((m) => m.what));
  // one line per mutant: its number, the exit status and the loader's JSON line (or nothing)
  cases.push({
    id: "mutants",
    command: `for i in $(seq 0 ${all.length - 1}); do uringbpf-loader mut/$i.o --no-run >/tmp/o 2>/tmp/e; rc=$?; echo "@@M $i $rc $(grep '^{' /tmp/o | tail -1)"; done`,
    files,
    timeoutSec: 900,
  });
  run = await runInVm(cases, { timeoutMs: 1_200_000 });
}, 1_300_000);

function result(id: string) {
  const r = run.byId.get(id);
  if (!r) throw new Error(`case ${id} has no result`);
  return r;
}

describe.skipIf(!canRun)("uringbpf-loader: why a load failed, in the kernel", () => {
  it("a BTF rejection is reported with the kernel's BTF verifier line (type and name)", () => {
    const r = result("btf-nonascii");
    expect(r.exitCode).toBe(4);
    const j = json(r.output);
    expect(j).toMatchObject({ ok: false, stage: "load", load_stage: "btf", errno: 22 });
    expect(j.btf.error_line).toMatch(new RegExp(`^\\[\\d+\\] VAR ${nonAsciiName} type_id=\\d+ linkage=\\d Invalid name$`));
    expect(j.error).toContain(`the kernel rejected the object's BTF (type information): ${j.btf.error_line}`);
    expect(j.error).toContain("only C identifiers");
    expect(r.output).not.toContain("no verifier log");
  });

  it("names the program, its section and the verifier's reason when the second program is rejected with E2BIG", () => {
    const r = result("two-programs");
    expect(r.exitCode).toBe(4);
    const j = json(r.output);
    expect(j).toMatchObject({ ok: false, stage: "load", load_stage: "verifier", errno: 7, prog: "second", section: "struct_ops.s/second" });
    expect(j.verifier.error_line).toBe("The sequence of 8193 jumps is too complex.");
    expect(j.verifier.rejected_at).toMatch(/^two\.ts:\d+: if \(\(x & 1\) != 0 && /);
    expect(j.verifier.insns_processed).toBeGreaterThan(0);
    expect(j.error).toMatch(/^verifier rejected second: The sequence of 8193 jumps is too complex\. \(program 'second', section struct_ops\.s\/second, \d+ instructions processed; E2BIG 7: Argument list too long\)$/);
  });

  it("a kfunc the kernel lacks is reported with libbpf's stage and reason", () => {
    const r = result("kfunc-missing");
    expect(r.exitCode).toBe(4);
    const j = json(r.output);
    expect(j).toMatchObject({ ok: false, stage: "load", load_stage: "kfunc/extern resolution" });
    expect(j.error).toBe("load failed at kfunc/extern resolution: extern (func ksym) 'bpf_io_uring_submit_sqez': not found in kernel or module BTFs");
  });

  it.each([["struct-ops-offset.o"], ["symbol-value.o"]])("%s (crashes libbpf 1.4.6) gets a clear error before libbpf opens it", (name) => {
    const r = result(`libbpf-${name}`);
    expect(r.exitCode).toBe(2);
    const want = hostileLibbpfObjects(compile("nops.ts", `${HEAD}export const nops = loopStep((ring, lp) => { x = x + 1; return STOP; });\n`)).find(([n]) => n === name)![2];
    const j = json(r.output);
    expect(j).toMatchObject({ ok: false, stage: "open" });
    expect(j.error).toMatch(want);
    expect(j.error).toContain(`${name}: malformed BPF object: `);
    expect(r.output).not.toMatch(/Segmentation|SIGSEGV/);
  });

  it("mutants of compiled objects loaded for real end with an exit status and a message, never a signal", () => {
    const r = result("mutants");
    const seen = new Map<number, { rc: number; json: string }>();
    for (const line of r.output.split("\n")) {
      const m = /^@@M (\d+) (\d+) ?(.*)$/.exec(line);
      if (m) seen.set(Number(m[1]), { rc: Number(m[2]), json: m[3] });
    }
    expect(seen.size).toBe(mutantNames.length);
    const problems: string[] = [];
    for (const [i, { rc, json: line }] of seen) {
      const what = mutantNames[i];
      if (rc >= 128) problems.push(`${what}: killed by signal ${rc - 128}`);
      else if (![0, 2, 4, 5, 6].includes(rc)) problems.push(`${what}: exit ${rc}`);
      else if (!line.startsWith("{")) problems.push(`${what}: exit ${rc} without a JSON line`);
      else {
        const j = JSON.parse(line);
        if (rc === 0 ? j.ok !== true : j.ok !== false || !j.error) problems.push(`${what}: exit ${rc} with ${line.slice(0, 200)}`);
      }
    }
    expect(problems).toEqual([]);
    // most mutants are refused, by the loader's checks (2) or by the kernel (4)
    expect([...seen.values()].filter((v) => v.rc === 2 || v.rc === 4).length).toBeGreaterThan(mutantNames.length / 3);
  });

  it("the object they were made from loads and runs", () => {
    const r = result("nops-ok");
    expect(r.exitCode).toBe(0);
    expect(json(r.output)).toMatchObject({ ok: true, prog: "nops", globals: { x: 2 } });
  });
});
