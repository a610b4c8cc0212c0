// uringbpf objects for C users (docs/OBJECT.md): a C program of our own (test/support/skel-nops.c) uses
// the bpftool 7.5 skeleton of samples/nops.ts, built statically against libbpf >= 1.5 (sid's, fetched by
// scripts/deps-libbpf-new.sh) and run in the 7.x VM: the skeleton's attach attaches the struct_ops map,
// the loop runs, and reqsToRun reads back 0 through the skeleton's .bss. Objects with maps too
// (test/support/skel-maps.c): the skeletons of samples/latency.ts (hash and array maps, a MEM region) and
// samples/events.ts (a ring buffer) load with libbpf's own map creation, run, and the program presets an
// entry and reads the maps through the skeleton; the numbers are checked against what the program must produce and against
// uringbpf-loader's JSON for the same run in the same boot. And two objects link into one
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
const LAT = { requests: 120, depth: 8, baseUs: 100 };
const EV = { requests: 300, depth: 8 };

beforeAll(async () => {
  // Fetched by scripts/test.sh; idempotent, so a direct `npx vitest run` gets it too.
  ok("bash", [path.join(root, "scripts", "deps-libbpf-new.sh")]);
  const nops = build("nops", nopsSrc);
  fs.writeFileSync(path.join(work, "nops.skel.h"), ok(bpftool, ["gen", "skeleton", nops, "name", "nops"], bpftoolEnv));
  cc(path.join(work, "skel-nops"), [path.join(root, "test", "support", "skel-nops.c")], [work, path.join(root, "runtime", "loader")]);
  const objs: Record<string, string> = {};
  for (const s of ["latency", "events"]) {
    objs[s] = build(s, fs.readFileSync(path.join(root, "samples", `${s}.ts`), "utf8"));
    fs.writeFileSync(path.join(work, `${s}.skel.h`), ok(bpftool, ["gen", "skeleton", objs[s], "name", s], bpftoolEnv));
  }
  cc(path.join(work, "skel-maps"), [path.join(root, "test", "support", "skel-maps.c")], [work, path.join(root, "runtime", "loader")]);
  cc(path.join(work, "bpf-link"), [path.join(root, "test", "support", "bpf-link.c")]);
  const avail = vmAvailability();
  expect(avail, JSON.stringify(avail)).toEqual({ ok: true });
  vm = await runInVm(
    [
      { id: "skel-1000", command: "/work/skel-nops 1000", timeoutSec: 300 },
      { id: "skel-100000", command: "/work/skel-nops 100000", timeoutSec: 600 },
      { id: "skel-latency", command: `/work/skel-maps latency ${LAT.requests} ${LAT.depth} ${LAT.baseUs}`, timeoutSec: 300 },
      { id: "loader-latency", command: `uringbpf-loader latency.o --set requests=${LAT.requests} --set depth=${LAT.depth} --set baseUs=${LAT.baseUs} --map hist[31]=1000`, timeoutSec: 300 },
      { id: "skel-events", command: `/work/skel-maps events ${EV.requests} ${EV.depth}`, timeoutSec: 300 },
      { id: "loader-events", command: `uringbpf-loader events.o --set requests=${EV.requests} --set depth=${EV.depth}`, timeoutSec: 300 },
    ],
    {
      files: [
        { guestPath: "skel-nops", hostPath: path.join(work, "skel-nops"), mode: 0o755 },
        { guestPath: "skel-maps", hostPath: path.join(work, "skel-maps"), mode: 0o755 },
        { guestPath: "latency.o", hostPath: objs.latency, mode: 0o644 },
        { guestPath: "events.o", hostPath: objs.events, mode: 0o644 },
      ],
      timeoutMs: 20 * 60_000,
    },
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

/** The one JSON line a case printed after `prefix` (the skeleton's "SKEL " or the loader's "{"). */
function jsonOf(id: string, prefix: string): any {
  const r = vm.byId.get(id)!;
  expect(r.exitCode, r.output).toBe(0);
  const line = r.output.split("\n").find((l) => l.startsWith(prefix));
  expect(line, r.output).toBeDefined();
  return JSON.parse(line!.slice(prefix === "{" ? 0 : prefix.length));
}

describe("C programs using the skeletons of objects with maps (libbpf creates the maps)", () => {
  it("latency: the histogram read through skel->maps.hist sums to the requests; no stamp is left; like the loader's run", () => {
    const skel = jsonOf("skel-latency", "SKEL ");
    const loader = jsonOf("loader-latency", "{");
    expect([skel.ret, skel.attached]).toEqual([0, 1]);
    expect(skel.globals).toEqual({ status: 0, submitted: LAT.requests, completed: LAT.requests, lost: 0 });
    const hist: number[] = skel.maps.hist;
    expect(hist).toHaveLength(32);
    // hist[31] was preset to 1000 through the skeleton (bpf_map__update_elem) before the run; no request
    // takes 2^31 us, so the other buckets sum to the requests.
    expect(hist[31]).toBe(1000);
    expect(hist.slice(0, 31).reduce((a, b) => a + b, 0)).toBe(LAT.requests);
    // A timeout never completes early: the requests of durations >= d (a quarter each of base, 4x, 16x,
    // 64x) lie in bucket floor(log2(d us)) or above; the fastest of each kind is at least its duration.
    const atLeast = (us: number) => hist.slice(Math.floor(Math.log2(us)), 31).reduce((a, b) => a + b, 0);
    expect([0, 1, 2, 3].map((k) => atLeast(LAT.baseUs * 4 ** k) >= LAT.requests - (LAT.requests / 4) * k)).toEqual([true, true, true, true]);
    expect(skel.maps.fastest.map((ns: number, k: number) => ns >= LAT.baseUs * 1000 * 4 ** k)).toEqual([true, true, true, true]);
    expect(skel.maps.inflight).toEqual([]);
    // The native loader's run of the same object and settings: the same globals and map shapes (the
    // latencies themselves are timings, so the buckets may differ; their sum may not).
    expect(loader.ok).toBe(true);
    expect({ status: loader.globals.status, submitted: loader.globals.submitted, completed: loader.globals.completed, lost: loader.globals.lost }).toEqual(skel.globals);
    expect(Object.keys(loader.maps).sort()).toEqual(Object.keys(skel.maps).sort());
    // The loader's --map hist[31]=1000 is the same preset.
    expect([loader.maps.hist.length, loader.maps.hist[31], loader.maps.hist.slice(0, 31).reduce((a: number, b: number) => a + b, 0), loader.maps.inflight]).toEqual([32, 1000, LAT.requests, []]);
  });

  it("events: ring_buffer__new on skel->maps.events yields one record per request, equal to the loader's records", () => {
    const skel = jsonOf("skel-events", "SKEL ");
    const loader = jsonOf("loader-events", "{");
    expect([skel.ret, skel.attached, skel.consumed, skel.bad_size]).toEqual([0, 1, EV.requests, 0]);
    expect(skel.globals).toEqual({ status: 0, submitted: EV.requests, completed: EV.requests, dropped: 0 });
    const recs: { userData: number; res: number; flags: number; seq: number }[] = skel.maps.events;
    expect(recs.map((r) => r.seq)).toEqual([...Array(EV.requests).keys()]);
    expect(recs.map((r) => r.userData).sort((a, b) => a - b)).toEqual([...Array(EV.requests).keys()]);
    // Each NOP injects its own result (samples/events.ts): every seventh a negative errno.
    const injected = (i: number) => (i % 7 === 3 ? -((i % 13) + 1) : i * 3);
    expect(recs.filter((r) => r.res !== injected(r.userData) || r.flags !== 0)).toEqual([]);
    expect(loader.ok).toBe(true);
    const byUd = (a: { userData: number }, b: { userData: number }) => a.userData - b.userData;
    // The same completions: by user_data, each record equal (seq is completion order, which may differ).
    const strip = (r: { userData: number; res: number; flags: number }) => ({ userData: r.userData, res: r.res, flags: r.flags });
    expect([...loader.maps.events].sort(byUd).map(strip)).toEqual([...recs].sort(byUd).map(strip));
  });
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
