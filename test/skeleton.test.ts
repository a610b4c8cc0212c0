// uringbpf objects for C users (docs/OBJECT.md): a C program of our own (test/support/skel-nops.c) uses
// the bpftool 7.5 skeleton of samples/nops.ts, built statically against libbpf >= 1.5 (sid's, fetched by
// scripts/deps-libbpf-new.sh) and run in the 7.x VM: the skeleton's attach attaches the struct_ops map,
// the loop runs, and reqsToRun reads back 0 through the skeleton's .bss. And two objects link into one
// with libbpf's static linker (what `bpftool gen object` runs), because the hidden ring globals are WEAK:
// the same objects with those symbols made GLOBAL fail with "conflicting non-weak symbol".

import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileSource } from "../compiler/index";
import { readObject } from "../compiler/elf/reader";
import { RING_GLOBALS } from "../compiler/frontend/ring";
import { runInVm, vmAvailability, type VmRunResult } from "../runtime/vm/vm";

const root = path.join(__dirname, "..");
const cache = process.env.UBPF_CACHE ?? path.join(root, ".cache", "uringbpf");
const sysroot = path.join(cache, "sysroot");
const libbpfNew = path.join(cache, "libbpf-new");
const bpftool = path.join(sysroot, "usr", "sbin", "bpftool");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "ubpf-skel-"));

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(cmd, args, { cwd: work, encoding: "utf8", timeout: 300_000, env });
  expect(r.error).toBeUndefined();
  return r;
}

function ok(cmd: string, args: string[], env?: NodeJS.ProcessEnv): string {
  const r = run(cmd, args, env);
  expect(r.status, `${cmd} ${args.join(" ")}:\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

/** Compile DSL text to an object file in the work directory. */
function build(name: string, text: string): string {
  const res = compileSource(`${name}.ts`, text);
  expect(res.diagnostics).toEqual([]);
  const file = path.join(work, `${name}.o`);
  fs.writeFileSync(file, res.object!);
  return file;
}

/** The C compiler line for a static program against libbpf >= 1.5 (its headers before the sysroot's). */
function cc(out: string, sources: string[], extraInclude: string[] = []) {
  const lib = path.join(libbpfNew, "usr", "lib", "x86_64-linux-gnu", "libbpf.a");
  ok("gcc", [
    "-static", "-O2", "-Wall", "-Werror",
    "-I", path.join(libbpfNew, "usr", "include"), ...extraInclude.flatMap((d) => ["-I", d]), "-I", path.join(sysroot, "usr", "include"),
    "-o", out, ...sources, path.join(root, "test", "support", "isoc23.c"), lib, "-lelf", "-lz", "-lzstd",
  ]);
}

const bpftoolEnv = { ...process.env, LD_LIBRARY_PATH: path.join(sysroot, "usr", "lib", "x86_64-linux-gnu") };
const nopsSrc = fs.readFileSync(path.join(root, "samples", "nops.ts"), "utf8");
const cpSrc = fs.readFileSync(path.join(root, "samples", "cp.ts"), "utf8");
let vm: VmRunResult;

beforeAll(async () => {
  // Fetched by scripts/test.sh; idempotent, so a direct `npx vitest run` gets it too.
  ok("bash", [path.join(root, "scripts", "deps-libbpf-new.sh")]);
  const nops = build("nops", nopsSrc);
  fs.writeFileSync(path.join(work, "nops.skel.h"), ok(bpftool, ["gen", "skeleton", nops, "name", "nops"], bpftoolEnv));
  cc(path.join(work, "skel-nops"), [path.join(root, "test", "support", "skel-nops.c")], [work]);
  cc(path.join(work, "bpf-link"), [path.join(root, "test", "support", "bpf-link.c")]);
  const avail = vmAvailability();
  expect(avail, JSON.stringify(avail)).toEqual({ ok: true });
  vm = await runInVm(
    [
      { id: "skel-1000", command: "/work/skel-nops 1000", timeoutSec: 300 },
      { id: "skel-100000", command: "/work/skel-nops 100000", timeoutSec: 600 },
    ],
    { files: [{ guestPath: "skel-nops", hostPath: path.join(work, "skel-nops"), mode: 0o755 }], timeoutMs: 20 * 60_000 },
  );
}, 30 * 60_000);

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe("a C program using the bpftool skeleton (libbpf >= 1.5)", () => {
  for (const n of [1000, 100000]) {
    it(`runs nops with reqsToRun ${n} in the 7.x kernel: attached by the skeleton, reqsToRun reads back 0`, () => {
      const r = vm.byId.get(`skel-${n}`)!;
      expect(r.exitCode, r.output).toBe(0);
      expect(r.output).toMatch(/^SKEL reqsToRun=0 result=0 enter=0 attached=1$/m);
    });
  }
});

describe("two objects on one ring link into one (bpftool gen object's linker)", () => {
  // Two programs with distinct user globals: the hidden ring globals are the only names they share.
  const a = () => build("a", nopsSrc.replace(/\breqsToRun\b/g, "reqsA").replace(/\bresult\b/g, "resultA").replace("export const nops", "export const nopsA"));
  const b = () => build("b", cpSrc.replace(/\bresult\b/g, "resultB"));

  it("links; each hidden global is defined once, WEAK; both programs are there", () => {
    const out = path.join(work, "ab.o");
    ok(path.join(work, "bpf-link"), [out, a(), b()]);
    const obj = readObject(fs.readFileSync(out));
    const shared = RING_GLOBALS.filter((g) => obj.symbols.some((s) => s.name === g));
    expect(shared.length).toBeGreaterThanOrEqual(5);
    for (const g of shared) {
      const defs = obj.symbols.filter((s) => s.name === g);
      expect(defs.map((s) => s.bind)).toEqual([2]);
    }
    expect(obj.symbols.filter((s) => s.type === 2 && s.bind === 1).map((s) => s.name).sort()).toEqual(["cp", "nopsA"]);
    // And bpftool writes a skeleton of the linked object.
    expect(ok(bpftool, ["gen", "skeleton", out, "name", "ab"], bpftoolEnv)).toMatch(/struct ab__rodata \{[^}]*uringbpf_sq_entries/);
  });

  it("the same objects with the ring globals GLOBAL instead of WEAK do not link", () => {
    const strong = (file: string) => {
      const bytes = new Uint8Array(fs.readFileSync(file));
      const obj = readObject(bytes);
      const symtab = obj.section(".symtab")!;
      obj.symbols.forEach((s, i) => {
        if ((RING_GLOBALS as readonly string[]).includes(s.name)) bytes[symtab.offset + i * 24 + 4] = (1 << 4) | s.type;
      });
      const out = file.replace(/\.o$/, "-strong.o");
      fs.writeFileSync(out, bytes);
      return out;
    };
    const r = run(path.join(work, "bpf-link"), [path.join(work, "ab-strong.o"), strong(a()), strong(b())]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/conflicting non-weak symbol #\d+ \(uringbpf_/);
  });
});
