// The `uringbpf run` contract, one table of cases run against both engines: the userspace engine on this
// host (cli/engine.ts) and the kernel in the VM (runtime/run.ts, all kernel cases in one boot). Each case
// must give the same exit code, stage and results on both: globals (hidden ones left out), the MEM region,
// trace() output, traps with their TypeScript line, --no-run, --timeout, --prog and range errors; and
// the clang-built C object of docs/OBJECT.md must end with the same globals as the TypeScript sample.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { beforeAll, describe, expect, it } from "vitest";
import { runInEngine, type EngineFlags } from "../cli/engine";
import { kernelError, kernelOutcome, type Outcome, type RunReport } from "../cli/report";
import { RunError, runProgramsInGuest, type RunOptions } from "../runtime/run";
import { loadAddon } from "../runtime/engine/driver";
import { vmAvailability } from "../runtime/vm/vm";

const root = path.join(__dirname, "..");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ubpf-contract-"));
const clangObject = path.join(tmp, "nops-c.o");
const shapesObject = path.join(tmp, "shapes-c.o");
const F = (f: string) => path.join(root, "test", "fixtures", "contract", f);

const avail = vmAvailability();
if (!avail.ok && process.env.CI) throw new Error(`the CLI contract's kernel side cannot run: ${avail.reason}`);
let haveAddon = true;
try {
  loadAddon();
} catch (e) {
  if (process.env.CI) throw e;
  haveAddon = false;
}
const skip = (!avail.ok || !haveAddon) && !process.env.CI;

interface Case {
  name: string;
  file: () => string;
  flags: EngineFlags;
  exit: 0 | 1 | 2;
  stage?: string;
  /** The engine set the program up (and said once that the kernel verifier has not checked it): false
   *  when the flags were refused first. */
  setUp: boolean;
  /** The kernel's verifier passed the program (the report's `verified`). */
  verified: boolean;
  check: (r: RunReport) => void;
}

const CASES: Case[] = [
  {
    name: "nops runs to STOP; hidden globals stay hidden",
    file: () => path.join(root, "samples", "nops.ts"),
    flags: { set: ["reqsToRun=1000"] },
    exit: 0,
    setUp: true,
    verified: true,
    check: (r) => {
      expect(r.globals).toEqual({ reqsToRun: 0, result: 0, inflight: 0 });
      expect([r.ran, r.ret, r.prog]).toEqual([true, 0, "nops"]);
    },
  },
  {
    name: "the clang-built C object (docs/OBJECT.md) gives the same globals",
    file: () => clangObject,
    flags: { set: ["reqsToRun=1000"] },
    exit: 0,
    setUp: true,
    verified: true,
    check: (r) => expect(r.globals).toEqual({ reqsToRun: 0, result: 0, inflight: 0 }),
  },
  {
    name: "clang's section and relocation kinds (shapes.c): the same globals and trace",
    file: () => shapesObject,
    flags: { trace: true, set: ["tweak=4"] },
    exit: 0,
    setUp: true,
    verified: true,
    check: (r) => {
      expect(r.globals).toEqual({ first: 0x11223344, second: "6153737369425722316", seeded: 42, custom: 28, tweak: 4, result_a: 6, result_b: 2, result_call: 43, hidden_a: 6, hidden_b: 2 });
      expect(r.trace).toEqual(["shapes 42", "literal 28"]);
    },
  },
  {
    name: "--set, --mem, --trace: globals, the MEM region and trace() output",
    file: () => F("kinds.ts"),
    flags: { set: ["idx=2", "flag=true", "big=-7", "h=0xffff"], mem: ["n=3", "slots[2]=40", "wide=0x100000000"], trace: true },
    exit: 0,
    setUp: true,
    verified: true,
    check: (r) => {
      expect(r.globals).toEqual({ b: 1, s8: -1, h: 65535, big: -7, flag: true, idx: 2, sum: 1044 + 2 ** 32 });
      expect(r.mem).toEqual({ n: 3, wide: 2 ** 32, slots: [0, 0, 40, 7] });
      expect(r.trace).toEqual([`kinds sum ${1044 + 2 ** 32}`]);
    },
  },
  {
    name: "--no-run sets up but does not run",
    file: () => F("kinds.ts"),
    flags: { set: ["b=5"], run: false },
    exit: 0,
    setUp: true,
    verified: true,
    check: (r) => {
      expect(r.ran).toBe(false);
      expect([r.globals!.b, r.globals!.sum]).toEqual([5, 0]);
    },
  },
  {
    name: "a failed run-time check: exit 1, stage trap, the TypeScript line",
    file: () => F("kinds.ts"),
    flags: { set: ["idx=9"] },
    exit: 1,
    stage: "trap",
    setUp: true,
    verified: true,
    check: (r) => {
      expect(r.trap?.line).toBe(18);
      expect(r.trap?.kind).toBe("check");
      expect(r.trap?.source).toContain("sum = u64(b) + u64(p.n) + p.wide + u64(p.slots[idx]);");
      expect(r.globals!.sum).toBe(0);
    },
  },
  {
    name: "--timeout stops a run that waits forever: exit 2, stage timeout",
    file: () => F("forever.ts"),
    flags: { timeout: 5 },
    exit: 2,
    stage: "timeout",
    setUp: true,
    verified: false, // a stopped loader's report says nothing of the verifier (cli/report.ts)
    check: (r) => expect(r.error).toMatch(/did not finish within 5 s \(--timeout\)/),
  },
  {
    name: "an unknown --prog: exit 2 with the programs' names",
    file: () => F("kinds.ts"),
    flags: { prog: "nope" },
    exit: 2,
    stage: "usage",
    setUp: false,
    verified: false,
    check: (r) => expect(r.error).toBe("no program named 'nope' (programs: kinds)"),
  },
  {
    name: "--set b=256 on a u8 is out of range",
    file: () => F("kinds.ts"),
    flags: { set: ["b=256"] },
    exit: 2,
    stage: "usage",
    setUp: false,
    verified: false,
    check: (r) => expect(r.error).toBe("--set b=256: value out of range for global 'b' (u8: 0..255)"),
  },
  {
    name: "--set s8=-129 on an i8 is out of range",
    file: () => F("kinds.ts"),
    flags: { set: ["s8=-129"] },
    exit: 2,
    stage: "usage",
    setUp: false,
    verified: false,
    check: (r) => expect(r.error).toBe("--set s8=-129: value out of range for global 's8' (i8: -128..127)"),
  },
  {
    name: "--mem n=256 on a u8 field is out of range",
    file: () => F("kinds.ts"),
    flags: { mem: ["n=256"] },
    exit: 2,
    stage: "usage",
    setUp: false,
    verified: false,
    check: (r) => expect(r.error).toBe("--mem n=256: value out of range for field 'n' (u8: 0..255)"),
  },
  {
    name: "--set flag=2 on a bool, --set b=true and a bad value",
    file: () => F("kinds.ts"),
    flags: { set: ["b=true", "flag=2"] },
    exit: 2,
    stage: "usage",
    setUp: false,
    verified: false,
    check: (r) => expect(r.error).toBe("--set flag=2: value out of range for global 'flag' (bool: 0..1 or true/false)"),
  },
  {
    name: "--set b=abc is not a number",
    file: () => F("kinds.ts"),
    flags: { set: ["b=abc"] },
    exit: 2,
    stage: "usage",
    setUp: false,
    verified: false,
    check: (r) => expect(r.error).toBe("--set b=abc: bad value (a decimal or 0x hex integer within 64 bits, or true/false)"),
  },
  {
    name: "--map presets struct keys and values (docs/LANGUAGE.md \"Maps\"): the same maps after the run",
    file: () => path.join(root, "test", "fixtures", "mapassign", "presets.ts"),
    flags: { map: ["conns[{port=80,proto=6,addr=0x7f000001}]={bytes=7,up=true,hops[2]=3}", "byId[-3].origin.x=-9", "counts[1]=5"] },
    exit: 0,
    setUp: true,
    verified: true,
    check: (r) => {
      expect([r.globals!.seenBytes, r.globals!.seenHop, r.globals!.seenUp, r.globals!.seenX]).toEqual([7, 3, 1, -9]);
      expect(r.maps!.counts).toEqual([0, 10, 0, 0]);
    },
  },
  {
    name: "--map with a field value out of range: exit 2, the same message",
    file: () => path.join(root, "test", "fixtures", "mapassign", "presets.ts"),
    flags: { map: ["conns[{port=80,proto=256}].pkts=1"] },
    exit: 2,
    stage: "usage",
    setUp: false,
    verified: false,
    check: (r) => expect(r.error).toBe("--map conns[{port=80,proto=256}].pkts=1: value out of range for field 'proto' of the key of conns (u8: 0..255)"),
  },
  {
    name: "--map presets more keys than a hash map holds: exit 2, the map is full, before anything runs",
    file: () => path.join(root, "test", "fixtures", "mapassign", "presets.ts"),
    flags: { map: [1, 2, 3, 4, 5].map((i) => `conns[{port=${i}}].pkts=1`) },
    exit: 2,
    stage: "usage",
    setUp: false,
    verified: false,
    check: (r) => expect(r.error).toBe("--map conns[{port=5}].pkts=1: the map is full (4 entries)"),
  },
];

function kernelOpts(f: EngineFlags): RunOptions {
  return { set: f.set, mem: f.mem, map: f.map, trace: f.trace, noRun: f.run === false, prog: f.prog, timeoutSec: f.timeout ?? 60, vm: true };
}

function engineSide(c: Case): { outcome: RunReport; exit: number; err: string } {
  let out = "";
  let err = "";
  const exit = runInEngine(c.file(), { ...c.flags, json: true }, { out: (s) => (out += s), err: (s) => (err += s) });
  const lines = out.trim().split("\n");
  expect(lines).toHaveLength(1);
  return { outcome: JSON.parse(lines[0]) as RunReport, exit, err };
}

describe.skipIf(skip)("the run contract on both engines", () => {
  const kernel = new Map<string, Outcome>();
  beforeAll(async () => {
    execFileSync("clang", ["-O2", "-g", "-target", "bpf", "-mcpu=v3", "-c", path.join(root, "test", "fixtures", "c", "nops.c"), "-o", clangObject]);
    execFileSync("clang", ["-O2", "-g", "-target", "bpf", "-mcpu=v3", "-c", path.join(root, "test", "fixtures", "c", "shapes.c"), "-o", shapesObject]);
    const results = await runProgramsInGuest(CASES.map((c) => ({ input: c.file(), opts: kernelOpts(c.flags) })));
    results.forEach((r, i) => {
      const c = CASES[i];
      kernel.set(c.name, r instanceof RunError ? kernelError(r) : kernelOutcome(r, c.flags.timeout ?? 60));
    });
  }, 1_500_000);

  it.each(CASES.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const e = engineSide(c);
    const k = kernel.get(c.name)!;
    // The same JSON schema: the kernel's report goes through the same serialiser as the engine's.
    const kr = JSON.parse(JSON.stringify(k.report)) as RunReport;
    for (const [side, r, exit] of [["user", e.outcome, e.exit], ["kernel", kr, k.exit]] as const) {
      expect({ side, exit, stage: r.stage, engine: r.engine }).toEqual({ side, exit: c.exit, stage: c.stage, engine: side });
      c.check(r);
      for (const g of Object.keys(r.globals ?? {})) expect(g.startsWith("uringbpf_")).toBe(false);
    }
    expect(e.outcome.globals).toEqual(kr.globals);
    expect(e.outcome.mem).toEqual(kr.mem);
    expect(e.outcome.maps).toEqual(kr.maps);
    expect(e.outcome.trace).toEqual(kr.trace);
    expect(e.outcome.ran).toBe(kr.ran);
    // The engine says once that the verifier has not checked the program, when it set one up.
    expect(e.err.match(/without the kernel verifier's check/g) ?? []).toHaveLength(c.setUp ? 1 : 0);
    expect(e.outcome.verified).toBe(false);
    expect(kr.verified).toBe(c.verified);
  });
});

describe.skipIf(!haveAddon && !process.env.CI)("a clang object without the geometry names", () => {
  it("is stopped with a message naming the missing globals, not a hang or a wrong ok", () => {
    const obj = path.join(tmp, "nops-other.o");
    execFileSync("clang", ["-O2", "-g", "-target", "bpf", "-mcpu=v3", "-DOTHER_NAMES", "-c", path.join(root, "test", "fixtures", "c", "nops.c"), "-o", obj]);
    let out = "";
    const exit = runInEngine(obj, { set: ["reqsToRun=100"], timeout: 5, json: true }, { out: (s) => (out += s), err: () => {} });
    const r = JSON.parse(out) as RunReport;
    // The ring-state guard refuses the impossible wait the zero geometry leads to (exit 1, stage run).
    expect([exit, r.ok, r.stage]).toEqual([1, false, "run"]);
    expect(r.error).toMatch(/defines none of the ring-geometry globals of docs\/OBJECT.md \(uringbpf_sq_entries, /);
  });
});
