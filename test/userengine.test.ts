// The userspace engine on this host's kernel (no io_uring BPF ops needed, no VM): the samples' results on a
// real ring, an out-of-bounds access stopped with its TypeScript line, and the fixture and differential
// corpora giving the same results as the interpreter's simulated ring (which the kernel tests compare
// with the real kernel).
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { compileFile, compileSource } from "../compiler/index";
import { loadAddon, runUserEngine } from "../runtime/engine/driver";
import { ExecutionError } from "../runtime/engine/interp";
import { runInEngine } from "../cli/engine";
import { runOnFakeRing } from "./support/fakering";
import { generateProgram } from "./support/progen";
import { storeOffsetField } from "./support/patch";

let haveAddon = true;
try {
  loadAddon();
} catch (e) {
  haveAddon = false;
  if (process.env.CI) throw e;
  console.warn(`skipping the userspace engine tests: ${(e as Error).message}`);
}
const root = path.join(__dirname, "..");
const obj = (f: string) => {
  const res = compileFile(path.join(root, f));
  if (!res.ok) throw new Error(JSON.stringify(res.diagnostics));
  return res;
};

describe.skipIf(!haveAddon)("the userspace engine on a real ring", () => {
  it.each([1000, 100000])("nops with reqsToRun %i: STOP, reqsToRun reads back 0", (n) => {
    const r = runUserEngine(obj("samples/nops.ts").object!, { set: [`reqsToRun=${n}`] });
    expect(r.ret).toBe(0);
    expect([r.globals.reqsToRun, r.globals.result, r.globals.inflight]).toEqual([0n, 0n, 0n]);
  });

  it("nops with reqsToRun 0: STOP at once, result 0", () => {
    const r = runUserEngine(obj("samples/nops.ts"), { set: ["reqsToRun=0"] });
    expect([r.ret, r.steps, r.globals.result, r.globals.reqsToRun]).toEqual([0, 1, 0n, 0n]);
  });

  it("takes a CompileResult and an object alike; submissions are the kernel's SQ_REWIND or emulated", () => {
    const res = obj("samples/nops.ts");
    const a = runUserEngine(res, { set: ["reqsToRun=50"] });
    const b = runUserEngine(res.object!, { set: ["reqsToRun=50"], sqRewind: false });
    expect([a.ret, a.globals.reqsToRun, b.ret, b.globals.reqsToRun, b.submission]).toEqual([0, 0n, 0, 0n, "emulated"]);
    // IORING_SETUP_SQ_REWIND is Linux 7.1+: the kernel's where the host has it, else the driver's emulation.
    const [major, minor] = os.release().split(".").map(Number);
    expect(a.submission).toBe(major > 7 || (major === 7 && minor >= 1) ? "sq_rewind" : "emulated");
  });

  it("--trace logs each step's SQEs and the CQEs it consumed", () => {
    const lines: string[] = [];
    const r = runUserEngine(obj("samples/nops.ts"), { set: ["reqsToRun=12"], trace: true, log: (l) => lines.push(l) });
    expect(r.ret).toBe(0);
    expect(lines[0]).toBe("step 1: returned CONTINUE, consumed 0 CQEs, submitted 8 SQEs");
    expect(lines.filter((l) => /^ {2}sqe \d: opcode 0 .* user_data 2881099585$/.test(l))).toHaveLength(12);
    expect(lines.filter((l) => l === "  cqe: user_data 2881099585 res 0 flags 0x0")).toHaveLength(12);
    expect(lines.filter((l) => l.startsWith("step ")).at(-1)).toMatch(/^step \d+: returned STOP, consumed \d CQEs?, submitted 0 SQEs$/);
  });

  it("the addon detaches its ArrayBuffers when the ring is closed or a buffer freed", () => {
    const addon = loadAddon();
    const ring = addon.setup(8, 16, (1 << 12) | (1 << 13) | (1 << 16) | (1 << 3));
    expect([ring.sqEntries, ring.cqEntries, ring.sqes.byteLength]).toEqual([8, 16, 512]);
    expect(ring.rings.byteLength).toBeGreaterThanOrEqual(ring.cqOff.cqes + 16 * 16);
    addon.close(ring.fd);
    expect([ring.rings.byteLength, ring.sqes.byteLength]).toEqual([0, 0]);
    const buf = addon.alloc(100);
    expect([buf.buffer.byteLength, Number(buf.addr % 4096n)]).toEqual([4096, 0]);
    addon.free(buf.addr);
    expect(buf.buffer.byteLength).toBe(0);
    expect(() => addon.close(ring.fd)).toThrow(/not a ring of this addon/);
    expect(() => addon.setup(0, 0, 0)).toThrow(/io_uring_setup: Invalid argument \(errno 22\)/);
  });

  it("cli/engine.ts: one JSON line, a summary, exit codes", () => {
    const run = (file: string, flags: Parameters<typeof runInEngine>[1]) => {
      let out = "";
      let err = "";
      const code = runInEngine(path.join(root, file), flags, { out: (x) => (out += x), err: (x) => (err += x) });
      return { code, out, err };
    };
    const j = run("samples/nops.ts", { set: ["reqsToRun=100"], json: true });
    expect(j.code).toBe(0);
    const line = JSON.parse(j.out);
    expect([line.ok, line.engine, line.prog, line.ret, line.globals.reqsToRun, line.globals.result]).toEqual([true, "user", "nops", 0, 0, 0]);
    const s = run("samples/nops.ts", { set: ["reqsToRun=100"] });
    expect(s.out).toMatch(/^nops: ok \(userspace engine, host kernel .*\)\n {2}run time: [\d.]+ ms, \d+ loop_step calls, \d+ BPF instructions executed/);
    expect(s.out).toMatch(/reqsToRun += 0/);
    expect(run("samples/nops.ts", { set: ["nosuch=1"] })).toMatchObject({ code: 2, err: expect.stringMatching(/no global named 'nosuch'/) });
    expect(run("samples/nosuch.o", {}).code).toBe(2);
  });

  it("cp copies 4 MiB byte for byte", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ubpf-engine-"));
    const data = crypto.randomBytes(4 << 20);
    fs.writeFileSync(path.join(dir, "in"), data);
    const r = runUserEngine(obj("samples/cp.ts").object!, { open: [`inFd=${dir}/in`, `outFd=${dir}/out:w`], buffer: ["buf=4096"] });
    expect([r.globals.result, r.globals.copied]).toEqual([0n, BigInt(data.length)]);
    expect(fs.readFileSync(path.join(dir, "out")).equals(data)).toBe(true);
  });

  it("an out-of-bounds access stops the program with its TypeScript line", () => {
    // Move the store of lp.cqWaitIdx 4 bytes past the end of iou_loop_params in the object itself.
    const bytes = Buffer.from(obj("samples/nops.ts").object!);
    const { field: off, line } = storeOffsetField(bytes, "struct_ops.s/nops", "lp.cqWaitIdx =");
    bytes.writeInt16LE(4, off);
    let err: unknown;
    try {
      runUserEngine(bytes, { set: ["reqsToRun=10"] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ExecutionError);
    expect((err as Error).message).toMatch(/out-of-bounds write of 4 bytes at offset 4 of iou_loop_params/);
    expect((err as Error).message).toContain(`samples/nops.ts:${line}: lp.cqWaitIdx = head + inflight;`);
  });

  it("every fixture ends with the same globals as on the simulated ring", () => {
    const dir = path.join(__dirname, "fixtures", "programs");
    const diffs: string[] = [];
    for (const f of fs.readdirSync(dir).filter((x) => x.endsWith(".ts"))) {
      const res = compileFile(path.join(dir, f));
      const sim = runOnFakeRing(res, { mem: 4096, maxSteps: 100 });
      const r = runUserEngine(res.object!, { maxSteps: 100 });
      for (const g of res.module!.globals) {
        if (g.name.startsWith("uringbpf_") || g.type.kind === "const") continue;
        const got = r.globals[g.name];
        const v = typeof got === "boolean" ? BigInt(got ? 1 : 0) : (got as bigint);
        if (v !== sim.get(g.name)) diffs.push(`${f}: ${g.name} = ${v}, simulated ${sim.get(g.name)}`);
      }
    }
    expect(diffs).toEqual([]);
  });

  it("200 random programs give the reference evaluator's results", () => {
    const bad: string[] = [];
    for (let seed = 200_001; seed <= 200_200; seed++) {
      const g = generateProgram(seed);
      const res = compileSource(`gen${seed}.ts`, g.source, { typeCheck: false });
      if (!res.ok) {
        bad.push(`seed ${seed}: compile error`);
        continue;
      }
      const r = runUserEngine(res.object!);
      for (const [k, v] of Object.entries(g.expected)) if (r.globals[k] !== v) bad.push(`seed ${seed}: ${k} = ${r.globals[k]}, expected ${v}`);
    }
    expect(bad).toEqual([]);
  }, 120_000);
});
