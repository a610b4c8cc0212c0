// The native loader (runtime/loader/loader.c) on the host: error paths, --help, and a compiled sample up
// to the load. On a kernel without io_uring_bpf_ops (before 7.1) the load must fail with exit 3 and a
// clear message; on a kernel that has it, the sample must run (the 7.x VM tests run it in such a kernel
// under CI, whatever this host has). Build the loader with `scripts/deps.sh build`; without it these
// tests are skipped, except under CI, where a missing loader fails.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TRAP_LOOP_BIT } from "../compiler/contract/geometry";

const root = path.join(__dirname, "..");
const cache = process.env.UBPF_CACHE ?? path.join(root, ".cache", "uringbpf");
const loader = path.join(cache, "bin", "uringbpf-loader");
const haveLoader = fs.existsSync(loader);
if (!haveLoader && process.env.CI) throw new Error(`${loader} missing under CI (scripts/deps.sh build builds it)`);
if (!haveLoader) console.warn(`loader tests skipped: ${loader} missing (run scripts/deps.sh build)`);

/** Compile a DSL file with the CLI into `out`; a compile failure fails the test that needs the object. */
function compileWithCli(src: string, out: string): string {
  const tsx = path.join(root, "node_modules", ".bin", "tsx");
  const r = spawnSync(tsx, ["cli/main.ts", "build", src, "-o", out], { cwd: root, encoding: "utf8", timeout: 120_000 });
  expect(r.status, `uringbpf build ${src}: ${r.stderr || r.stdout || String(r.error)}`).toBe(0);
  return out;
}

/** Does the running kernel's BTF describe struct io_uring_bpf_ops? */
function kernelHasOps(): boolean {
  try {
    return fs.readFileSync("/sys/kernel/btf/vmlinux").includes("io_uring_bpf_ops");
  } catch {
    return false;
  }
}

interface Run { status: number | null; stdout: string; stderr: string; json: any }

function runLoader(args: string[]): Run {
  const r = spawnSync(loader, args, { encoding: "utf8", timeout: 30_000 });
  const lines = r.stdout.trim().split("\n").filter((l) => l.startsWith("{"));
  expect(lines.length, `one JSON line expected, got: ${r.stdout}`).toBe(1);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, json: JSON.parse(lines[0]) };
}

describe.skipIf(!haveLoader)("uringbpf-loader on this host", () => {
  let tmp = "";
  let nopsObj = "";

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "uringbpf-loader-"));
    const out = path.join(tmp, "nops.o");
    // UBPF_LOADER_TEST_OBJ: use this object (a program `nops` with globals reqsToRun and result and the
    // ring geometry globals) instead of compiling samples/nops.ts.
    if (process.env.UBPF_LOADER_TEST_OBJ) {
      fs.copyFileSync(process.env.UBPF_LOADER_TEST_OBJ, out);
      nopsObj = out;
      return;
    }
    nopsObj = compileWithCli("samples/nops.ts", out);
  }, 180_000);

  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("--help describes every option", () => {
    const r = spawnSync(loader, ["--help"], { encoding: "utf8" });
    expect(r.status).toBe(0);
    for (const o of ["--sq-entries", "--cq-entries", "--setup-flags", "--mem-region", "--set", "--open", "--buffer", "--mem", "--trace", "--log-level", "--no-run", "--prog", "--explain-log"])
      expect(r.stdout).toContain(o);
  });

  it("--explain-log picks the verifier's error line, not the statistics, trace or argument preamble", () => {
    const dir = path.join(__dirname, "fixtures", "verifier-logs");
    const pick = (f: string) => {
      const r = spawnSync(loader, ["--explain-log", path.join(dir, f)], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout).error_line as string;
    };
    // a real 7.2 log (the tail of a rejection: trace lines, the error, the statistics)
    expect(pick("jumps-too-complex.log")).toBe("The sequence of 8193 jumps is too complex.");
    expect(pick("too-large.log")).toBe("BPF program is too large. Processed 1000001 insn");
    // the error is followed by a frame dump: not "caller:" and not a register line
    expect(pick("error-then-frames.log")).toBe("R1 type=scalar expected=ptr_, trusted_ptr_, rcu_ptr_");
    // no error line at all: never the `func 'loop_step' arg0 has btf_id ...` preamble
    expect(pick("preamble-only.log")).toBe("");
    expect(spawnSync(loader, ["--explain-log", path.join(dir, "missing.log")], { encoding: "utf8" }).status).toBe(1);
  });

  it("rejects bad usage with exit 1", () => {
    expect(spawnSync(loader, [], { encoding: "utf8" }).status).toBe(1);
    expect(spawnSync(loader, ["x.o", "--bogus"], { encoding: "utf8" }).status).toBe(1);
    expect(spawnSync(loader, ["x.o", "--setup-flags", "NOT_A_FLAG"], { encoding: "utf8" }).status).toBe(1);
  });

  it("refuses a non-BPF ELF file", () => {
    const r = runLoader(["/bin/true"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("/bin/true: not a BPF object file (");
    expect(r.json).toMatchObject({ ok: false, stage: "open" });
  });

  it("refuses a truncated file and a missing file", () => {
    const trunc = path.join(tmp, "trunc.o");
    fs.writeFileSync(trunc, fs.readFileSync("/bin/true").subarray(0, 40));
    let r = runLoader([trunc]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("not a BPF object file (truncated ELF header)");

    const text = path.join(tmp, "text.o");
    fs.writeFileSync(text, "hello, not an object\n");
    r = runLoader([text]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("not a BPF object file (no ELF header)");

    r = runLoader([path.join(tmp, "missing.o")]);
    expect(r.status).toBe(2);
    expect(r.json.error).toMatch(/cannot open/);
  });

  it("refuses a BPF object truncated after its ELF header", () => {
    const data = fs.readFileSync(nopsObj);
    const trunc = path.join(tmp, "nops-trunc.o");
    fs.writeFileSync(trunc, data.subarray(0, Math.min(200, data.length - 1)));
    const r = runLoader([trunc]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/not a BPF object file \(.+\)/);
  });

  it("fills the ring-geometry globals and user globals before load (--no-load)", () => {
    // Without SQ_REWIND the ring can be created on kernels before 7.1 as well.
    const r = runLoader([nopsObj, "--no-load", "--setup-flags", "DEFER_TASKRUN,SINGLE_ISSUER,CQSIZE", "--sq-entries", "16", "--set", "reqsToRun=1234"]);
    expect(r.status).toBe(0);
    expect(r.json).toMatchObject({ ok: true, prog: "nops", ring: { sq_entries: 16, cq_entries: 32 } });
    expect(r.json.globals.reqsToRun).toBe(1234);
    // nops uses sq.at, cq.at and both regions: these five geometry globals are in its object.
    const g = r.json.globals;
    expect([g.uringbpf_sq_entries, g.uringbpf_cq_entries, g.uringbpf_sq_size]).toEqual([16, 32, 16 * 64]);
    expect(g.uringbpf_cq_cqes).toBeGreaterThan(0);
    expect(g.uringbpf_cq_size).toBe(g.uringbpf_cq_cqes + 32 * 16);
  });

  it("--no-load works with the default setup flags on any kernel (SQ_REWIND dropped where refused)", () => {
    const r = runLoader([nopsObj, "--no-load"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ ok: true, loaded: false, prog: "nops" });
    expect(r.json.globals.uringbpf_sq_entries).toBe(8);
  });

  it("names the existing globals when --set names a missing one", () => {
    const r = runLoader([nopsObj, "--no-load", "--setup-flags", "DEFER_TASKRUN,SINGLE_ISSUER", "--set", "noSuchVar=1"]);
    expect(r.status).toBe(5);
    expect(r.json.error).toMatch(/no global named 'noSuchVar'.*reqsToRun/);
  });

  it("loads and runs a compiled sample where the kernel has io_uring BPF ops, else says it lacks them (exit 3)", () => {
    // What this host's kernel has (its BTF) picks the expected answer; the test runs and asserts on every
    // host (the kernel-with-ops side also runs in the 7.x VM under CI: e2e, loader-vm, cref).
    // Without ops: the default flags include SQ_REWIND, which such a kernel refuses already at
    // io_uring_setup; without it the ring is created and libbpf's load fails. Both say the same, exit 3.
    const hostHasOps = kernelHasOps();
    const LACKS = "kernel lacks io_uring BPF ops (CONFIG_IO_URING_BPF_OPS, Linux 7.1+)";
    const flagSets = hostHasOps ? [[]] : [[], ["--setup-flags", "DEFER_TASKRUN,SINGLE_ISSUER,NO_SQARRAY,CQSIZE"]];
    const want = hostHasOps
      ? { status: 0, ok: true, reqsToRun: 0, result: 0, verified: true, says: false }
      : { status: 3, ok: false, reqsToRun: undefined, result: undefined, verified: false, says: true };
    for (const extra of flagSets) {
      const r = runLoader([nopsObj, "--set", "reqsToRun=1000", ...extra]);
      expect({
        status: r.status,
        ok: r.json.ok,
        reqsToRun: r.json.globals?.reqsToRun,
        result: r.json.globals?.result,
        verified: (r.json.verifier?.insns_processed ?? 0) > 0,
        says: r.stderr.includes(LACKS) && String(r.json.error).includes("kernel lacks io_uring BPF ops"),
      }).toEqual(want);
    }
  });
});

// A program with a MEM-region layout (ring.mem<Params>()), checked up to the load (--no-load): the region
// is registered with the layout's size, --mem writes fields through the BTF layout, and the JSON decodes it.
const MEM_SOURCE = `import { loopStep, u8, u16, u32, u64, i16, FixedArray, STOP } from "uringbpf";
interface Header { kind: u8; len: u16; seq: u32 }
interface Params { count: u32; total: u64; delta: i16; hdr: Header; slots: FixedArray<u32, 8>; heads: FixedArray<Header, 2> }
export let idx: u32 = 3;
export const m = loopStep((ring, lp) => {
  const p = ring.mem<Params>();
  if (p === null) return STOP;
  p.count += 1;
  p.slots[idx] = p.count * 10;
  return STOP;
});
`;
/** The line of `p.slots[idx] = ...` in MEM_SOURCE (the run-time index check's line). */
const SLOTS_LINE = MEM_SOURCE.split("\n").findIndex((l) => l.includes("p.slots[idx]")) + 1;
// Without SQ_REWIND the ring can be created on kernels before 7.1 as well.
const HOST_FLAGS = ["--setup-flags", "DEFER_TASKRUN,SINGLE_ISSUER,CQSIZE"];

describe.skipIf(!haveLoader)("uringbpf-loader: the MEM region, traps and --trace (--no-load)", () => {
  let tmp = "";
  let memObj = "";

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "uringbpf-loader-mem-"));
    const src = path.join(tmp, "mem.ts");
    fs.writeFileSync(src, MEM_SOURCE);
    memObj = compileWithCli(src, path.join(tmp, "mem.o"));
  }, 180_000);

  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** The loader on the MEM object with --no-load; skips on a host kernel without MEM regions (before
   *  6.13), except under CI, where the run's own assertions then fail. */
  function mem(ctx: { skip: (note?: string) => void }, ...args: string[]): Run {
    const r = runLoader([memObj, "--no-load", ...HOST_FLAGS, ...args]);
    if (r.status === 5 && r.json.stage === "ring" && /MEM_REGION/.test(r.json.error) && !process.env.CI) ctx.skip(`kernel without MEM regions: ${r.json.error}`);
    return r;
  }

  it("registers a region of the layout's size and decodes it through the layout", (ctx) => {
    const r = mem(ctx);
    expect(r.status).toBe(0);
    expect(r.json.ok).toBe(true);
    expect(r.json.ring.mem_size).toBe(4096); // the struct's size, rounded up to a page
    expect(r.json.mem).toEqual({
      count: 0, total: 0, delta: 0, hdr: { kind: 0, len: 0, seq: 0 }, slots: [0, 0, 0, 0, 0, 0, 0, 0],
      heads: [{ kind: 0, len: 0, seq: 0 }, { kind: 0, len: 0, seq: 0 }],
    });
    expect(r.json).not.toHaveProperty("trap");
    expect(r.json).not.toHaveProperty("trace"); // --trace only applies to a run
  });

  it("--mem sets fields, nested fields and array elements; u64 beyond 2^53 as a string", (ctx) => {
    const r = mem(ctx, "--mem", "count=5", "--mem", "total=0xffffffffffffffff", "--mem", "delta=-300", "--mem", "hdr.len=65535",
      "--mem", "slots[3]=9", "--mem", "slots[7]=4294967295", "--mem", "heads[1].seq=4000000000", "--mem", "heads[0].kind=255");
    expect(r.status).toBe(0);
    expect(r.json.mem).toEqual({
      count: 5, total: "18446744073709551615", delta: -300, hdr: { kind: 0, len: 65535, seq: 0 },
      slots: [0, 0, 0, 9, 0, 0, 0, 4294967295], heads: [{ kind: 255, len: 0, seq: 0 }, { kind: 0, len: 0, seq: 4000000000 }],
    });
    expect(mem(ctx, "--mem", "total=9007199254740993").json.mem.total).toBe("9007199254740993");
    expect(mem(ctx, "--mem", "total=9007199254740992").json.mem.total).toBe(9007199254740992);
    expect(mem(ctx, "--mem-region", "10000").json.ring.mem_size).toBe(12288);
  });

  it("names the valid fields when --mem names an unknown one", (ctx) => {
    let r = mem(ctx, "--mem", "nope=1");
    expect(r.status).toBe(5);
    expect(r.json).toMatchObject({ ok: false, stage: "globals" });
    expect(r.json.error).toBe("--mem nope=1: the MEM layout (struct Params) has no field 'nope'; valid fields: count, total, delta, hdr, slots, heads");
    expect(r.stderr).toContain("has no field 'nope'");
    r = mem(ctx, "--mem", "heads[1].bogus=2");
    expect(r.status).toBe(5);
    expect(r.json.error).toContain("heads[1] (struct Header) has no field 'bogus'; valid fields: heads[1].kind, heads[1].len, heads[1].seq");
  });

  it("refuses indices out of range and malformed paths", (ctx) => {
    const cases: [string, string][] = [
      ["slots[8]=1", "index 8 out of range: slots has 8 elements (0..7)"],
      ["heads[2].seq=1", "index 2 out of range: heads has 2 elements (0..1)"],
      ["slots[x]=1", "bad index after slots: expected [0..7]"],
      ["slots[-1]=1", "bad index after slots"],
      ["count[0]=1", "count is not an array (it is u32)"],
      ["count.x=1", "count is not a struct (it is u32)"],
      ["hdr=1", "hdr is a struct Header: set one of its fields (hdr.kind, hdr.len, hdr.seq)"],
      ["slots=1", "slots is an array of 8 u32: set one element, slots[0] .. slots[7]"],
      ["hdr..len=1", "empty field name after hdr"],
    ];
    for (const [arg, msg] of cases) {
      const r = mem(ctx, "--mem", arg);
      expect(r.status, arg).toBe(5);
      expect(r.json.error, arg).toContain(msg);
    }
  });

  it("refuses values out of the field's range", (ctx) => {
    const cases: [string, string][] = [
      ["hdr.kind=256", "value out of range for hdr.kind (u8: 0..255)"],
      ["hdr.kind=-1", "value out of range for hdr.kind (u8: 0..255)"],
      ["hdr.len=65536", "(u16: 0..65535)"],
      ["count=4294967296", "(u32: 0..4294967295)"],
      ["delta=32768", "(i16: -32768..32767)"],
      ["delta=-32769", "(i16: -32768..32767)"],
      ["total=-1", "(u64: 0..18446744073709551615)"],
    ];
    for (const [arg, msg] of cases) {
      const r = mem(ctx, "--mem", arg);
      expect(r.status, arg).toBe(5);
      expect(r.json.error, arg).toContain(msg);
    }
    expect(mem(ctx, "--mem", "delta=-32768").json.mem.delta).toBe(-32768);
    // Not a number at all: a usage error (exit 1) before anything is opened.
    const bad = spawnSync(loader, [memObj, "--no-load", "--mem", "count=ten"], { encoding: "utf8" });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("--mem count=ten: bad value");
  });

  it("--mem on a program without a MEM layout says so", () => {
    const nopsSrc = path.join(tmp, "plain.ts");
    fs.writeFileSync(nopsSrc, `import { loopStep, u32, STOP } from "uringbpf";\nexport let n: u32 = 0;\nexport const p = loopStep((ring, lp) => { n += 1; return STOP; });\n`);
    const out = compileWithCli(nopsSrc, path.join(tmp, "plain.o"));
    let r = runLoader([out, "--no-load", ...HOST_FLAGS]);
    expect(r.status).toBe(0);
    expect(r.json).not.toHaveProperty("mem");
    expect(r.json.ring.mem_size).toBe(0);
    r = runLoader([out, "--no-load", ...HOST_FLAGS, "--mem", "count=1"]);
    expect(r.status).toBe(5);
    expect(r.json.error).toContain("the program has no MEM-region layout");
  });

  it("reports a trap with its source line from BTF.ext line_info (exit 8)", (ctx) => {
    // With --no-load the globals are their initial values, so setting the hidden .bss global stands in
    // for a program that stopped at the index check of p.slots[idx].
    const r = mem(ctx, "--set", `uringbpf_trap=${SLOTS_LINE}`);
    expect(r.status).toBe(8);
    expect(r.json).toMatchObject({ ok: false, stage: "trap", trap: { line: SLOTS_LINE, source: "p.slots[idx] = p.count * 10;" } });
    expect(r.json.trap.file).toMatch(/mem\.ts$/);
    expect(r.json.error).toMatch(new RegExp(`^program stopped at \\S*mem\\.ts:${SLOTS_LINE}: p\\.slots\\[idx\\] = p\\.count \\* 10; \\(run-time check failed\\)$`));
    expect(r.stderr).toMatch(new RegExp(`program stopped at \\S*mem\\.ts:${SLOTS_LINE}: p\\.slots\\[idx\\] = p\\.count \\* 10; \\(run-time check failed\\)`));
    expect(r.json.mem.count).toBe(0); // the rest of the report is still there

    // The trap word's top bit (TRAP_LOOP_BIT) marks a loop whose budget ran out: the same line, another cause.
    const loop = mem(ctx, "--set", `uringbpf_trap=${(TRAP_LOOP_BIT | SLOTS_LINE) >>> 0}`);
    expect(loop.status).toBe(8);
    expect(loop.json.trap).toMatchObject({ line: SLOTS_LINE, kind: "loop" });
    expect(loop.json.error).toMatch(/\(loop budget spent\)$/);

    const none = mem(ctx, "--set", "uringbpf_trap=999");
    expect(none.status).toBe(8);
    expect(none.json.trap).toMatchObject({ line: 999, kind: "check", source: "" });
    expect(none.stderr).toContain("program stopped at line 999");
  });
});
