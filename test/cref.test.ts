// The C references of bench/c/ (samples nops, cp, records and qd in C, the other side of bench/size.ts's
// table) cannot rot: each builds with clang -O2 -g -target bpf at -mcpu=v3 (Debian's clang) and -mcpu=v4
// (clang 18+; scripts/deps.sh installs clang-19); every instruction decodes (by the one decoder), none is a
// cpu v4 one at v3, and only at v4 does clang store immediates (BPF_ST, which LLVM selects from -mcpu=v4
// on: where these programs' v4 objects are smaller); and all of them load and do their job in the 7.x
// kernel, in one VM boot. And a clang object the kernel refuses although clang made it from valid C
// (test/fixtures/c/shrunk.c: a static 0/1 variable stored as a 1-byte bool whose BTF type stays 4 bytes):
// libbpf opens it and the kernel's BTF check refuses it at load; the loader refuses it up front, naming
// the variable.
// Skipped with a message when the VM or a clang is missing, except under CI.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { beforeAll, describe, expect, it } from "vitest";
import { decodeInsn, isCpuV4 } from "../compiler/bpf/decode";
import { readObject } from "../compiler/elf/reader";
import { typeSize } from "../runtime/engine/image";
import { runInVm, vmAvailability, type VmCase, type VmRunResult } from "../runtime/vm/vm";
import { buildCref, codeSlots, CREF_RECORDS, CREF_RUNS, CREF_SAMPLES, CREF_SETUP, defaultClang, loaderJson, v4Clang, type Clang } from "./support/crefs";

const root = path.join(__dirname, "..");
const avail = vmAvailability();
const cache = process.env.UBPF_CACHE ?? path.join(root, ".cache", "uringbpf");
const loader = path.join(cache, "bin", "uringbpf-loader");
const loaderBuilt = fs.existsSync(loader);
const c3 = defaultClang();
const c4 = v4Clang();
const why = !avail.ok ? avail.reason : !loaderBuilt ? "the loader is not built (bash scripts/deps.sh build)" : !c3 ? "clang is missing" : !c4 ? "no clang >= 18 for -mcpu=v4" : "";
if (why && process.env.CI) throw new Error(`the C reference tests cannot run under CI: ${why} (bash scripts/deps.sh all)`);
if (why) console.warn(`skipping the C reference tests: ${why}`);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ubpf-cref-"));
const CPUS = ["v3", "v4"] as const;
const tag = (s: string, cpu: string) => `${s}-${cpu}`;
let vm: VmRunResult;

/** test/fixtures/c/shrunk.c built by clang 14 -O2 -mcpu=v3, and libbpf-open (test/support) linked
 *  statically against the loader's libbpf, for the guest. */
const shrunkObj = path.join(tmp, "shrunk.o");
const libbpfOpen = path.join(tmp, "libbpf-open");
function buildShrunk() {
  const cc = (bin: string, args: string[]) => {
    const r = spawnSync(bin, args, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${bin} ${args.join(" ")} failed:\n${r.stderr}`);
  };
  cc(c3!.bin, ["-O2", "-g", "-target", "bpf", "-mcpu=v3", "-Wall", "-Werror", "-c", path.join(root, "test", "fixtures", "c", "shrunk.c"), "-o", shrunkObj]);
  const sysroot = path.join(cache, "sysroot");
  cc("gcc", ["-static", "-O1", "-Wall", "-Werror", "-o", libbpfOpen, path.join(root, "test", "support", "libbpf-open.c"), `-I${path.join(sysroot, "usr", "include")}`,
    path.join(sysroot, "usr", "lib", "x86_64-linux-gnu", "libbpf.a"), "-lelf", "-lz", "-lzstd"]);
}
const SHRUNK_MSG = "BTF DATASEC '.bss' variable 'ran': size 1 is smaller than its type (4 bytes), which the kernel's BTF check refuses (clang -O2 stores a static variable that only holds 0 or 1 in 1 byte: make it non-static)";

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
    buildShrunk();
    files.push({ guestPath: "shrunk.o", hostPath: shrunkObj }, { guestPath: "libbpf-open", hostPath: libbpfOpen, mode: 0o755 });
    cases.push({ id: "shrunk-libbpf", command: "./libbpf-open --load shrunk.o" });
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

  it("a static 0/1 variable clang stored as a 1-byte bool: libbpf opens the object, the kernel's BTF check refuses it", () => {
    const out = vm.byId.get("shrunk-libbpf")!;
    expect(out.output).toContain("program shrunk section=struct_ops.s/shrunk");
    expect(out.output).toMatch(/type_id=\d+ offset=4 size=1 Invalid size/);
    expect(out.output).toContain("load failed");
    expect(out.exitCode).toBe(1);
  });
});

describe.skipIf(!c3 || !loaderBuilt)("a clang object whose BTF DATASEC entry is smaller than its type (test/fixtures/c/shrunk.c)", () => {
  beforeAll(() => {
    if (!fs.existsSync(shrunkObj)) buildShrunk();
  }, 120_000);

  it("is what clang makes of a static 0/1 variable: a 1-byte symbol and DATASEC entry, a 4-byte type", () => {
    const obj = readObject(fs.readFileSync(shrunkObj));
    expect(obj.symbols.filter((x) => x.name === "ran").map((x) => x.size)).toEqual([1]);
    const bss = obj.btf.find((t) => t.kind === "DATASEC" && t.name === ".bss")!;
    const byId = new Map(obj.btf.map((t) => [t.id, t]));
    const ran = bss.vars!.find((v) => byId.get(v.type)?.name === "ran")!;
    expect(ran.size).toBe(1);
    expect(typeSize(byId, byId.get(ran.type)!.type!)).toBe(4);
  });

  it("is refused by the loader before libbpf sees it (exit 2, stage open), naming the variable", () => {
    const r = spawnSync(loader, [shrunkObj, "--no-load"], { encoding: "utf8", timeout: 30_000 });
    const j = loaderJson(r.stdout);
    expect([r.status, j.ok, j.stage]).toEqual([2, false, "open"]);
    expect(j.error).toBe(`${shrunkObj}: malformed BPF object: ${SHRUNK_MSG}`);
  });
});
