// The C references of bench/c/ (samples nops, cp, records and qd in C, the other side of bench/size.ts's
// table) cannot rot: each builds with clang -O2 -g -target bpf at -mcpu=v3 (Debian's clang) and -mcpu=v4
// (clang 18+; scripts/deps.sh installs clang-19); every instruction decodes (by the one decoder), none is a
// cpu v4 one at v3, and only at v4 does clang store immediates (BPF_ST, which LLVM selects from -mcpu=v4
// on: where these programs' v4 objects are smaller); and all of them load and do their job in the 7.x
// kernel, in one VM boot.
// Skipped with a message when the VM or a clang is missing, except under CI.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { beforeAll, describe, expect, it } from "vitest";
import { decodeInsn, isCpuV4 } from "../compiler/bpf/decode";
import { readObject } from "../compiler/elf/reader";
import { runInVm, vmAvailability, type VmCase, type VmRunResult } from "../runtime/vm/vm";
import { buildCref, codeSlots, CREF_RECORDS, CREF_RUNS, CREF_SAMPLES, CREF_SETUP, defaultClang, loaderJson, v4Clang, type Clang } from "./support/crefs";

const root = path.join(__dirname, "..");
const avail = vmAvailability();
const loaderBuilt = fs.existsSync(path.join(process.env.UBPF_CACHE ?? path.join(root, ".cache", "uringbpf"), "bin", "uringbpf-loader"));
const c3 = defaultClang();
const c4 = v4Clang();
const why = !avail.ok ? avail.reason : !loaderBuilt ? "the loader is not built (bash scripts/deps.sh build)" : !c3 ? "clang is missing" : !c4 ? "no clang >= 18 for -mcpu=v4" : "";
if (why && process.env.CI) throw new Error(`the C reference tests cannot run under CI: ${why} (bash scripts/deps.sh all)`);
if (why) console.warn(`skipping the C reference tests: ${why}`);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ubpf-cref-"));
const CPUS = ["v3", "v4"] as const;
const tag = (s: string, cpu: string) => `${s}-${cpu}`;
let vm: VmRunResult;

/** The code sections' instructions of an object, decoded. */
function decodedCode(file: string) {
  const obj = readObject(fs.readFileSync(file));
  const code = obj.sections.filter((s) => s.type === 1 && (Number(s.flags) & 4) !== 0 && s.size > 0);
  expect(code.length).toBeGreaterThan(0);
  return code.flatMap((s) => obj.insns(s.name)).map((i) => decodeInsn(i));
}

describe.skipIf(why !== "")("the C references of bench/c/", () => {
  beforeAll(async () => {
    const files: VmCase["files"] = [{ guestPath: "cref-records.bin", data: CREF_RECORDS.file }];
    const cases: VmCase[] = [{ id: "setup", command: CREF_SETUP }];
    for (const s of CREF_SAMPLES)
      for (const cpu of CPUS) {
        const out = path.join(tmp, `${tag(s, cpu)}.o`);
        buildCref((cpu === "v3" ? c3 : c4) as Clang, s, cpu, out);
        files.push({ guestPath: `${tag(s, cpu)}.o`, hostPath: out });
        cases.push({ id: tag(s, cpu), command: CREF_RUNS[s].command(`${tag(s, cpu)}.o`, tag(s, cpu)), timeoutSec: 300 });
      }
    vm = await runInVm(cases, { files, timeoutMs: 30 * 60_000 });
    expect(vm.byId.get("setup")!.exitCode).toBe(0);
  }, 35 * 60_000);

  it.each(CREF_SAMPLES.flatMap((s) => CPUS.map((cpu) => [s, cpu] as const)))("%s at -mcpu=%s builds into instructions the decoder knows, with store-immediates only at v4", (s, cpu) => {
    const file = path.join(tmp, `${tag(s, cpu)}.o`);
    expect(codeSlots(file)).toBeGreaterThan(50);
    const d = decodedCode(file);
    expect(d.filter((x) => x.kind === "invalid")).toEqual([]);
    expect(d.some((x) => x.kind === "st")).toBe(cpu === "v4");
  });

  it.each(CREF_SAMPLES)("%s at -mcpu=v3 has no cpu v4 instruction", (s) => {
    expect(decodedCode(path.join(tmp, `${tag(s, "v3")}.o`)).filter(isCpuV4)).toEqual([]);
  });

  it.each(CREF_SAMPLES.flatMap((s) => CPUS.map((cpu) => [s, cpu] as const)))("%s at -mcpu=%s loads in the kernel and does its job", (s, cpu) => {
    const out = vm.byId.get(tag(s, cpu))!;
    expect(out.exitCode, out.output).toBe(0);
    const j = loaderJson(out.output);
    expect(j.ok).toBe(true);
    expect(j.verifier.insns_processed).toBeGreaterThan(0);
    expect(CREF_RUNS[s].check(j)).toBe("");
  });
});
