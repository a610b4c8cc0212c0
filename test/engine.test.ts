// Compiled programs run on the host in the BPF interpreter against a simulated ring: the samples' logic
// (not only their acceptance by the verifier) is checked on every test run, without a VM.
import * as crypto from "crypto";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { compileFile, compileSource } from "../compiler/index";
import { runOnFakeRing } from "./support/fakering";
import { ENDLESS, ENDLESS_LINE } from "./support/endless";
import { readObject } from "../compiler/elf/reader";

const sample = (n: string) => compileFile(path.join(__dirname, "..", "samples", n));

describe("samples on a simulated ring", () => {
  it("nops runs 1000 NOPs and counts down to 0", () => {
    const r = runOnFakeRing(sample("nops.ts"), { set: { reqsToRun: 1000 } });
    expect(r.ret).toBe(1n);
    expect(r.get("reqsToRun")).toBe(0n);
    expect(r.get("result")).toBe(0n);
    expect(r.get("inflight")).toBe(0n);
  });

  it("nops reports a wrong user_data", () => {
    const res = sample("nops.ts");
    // A ring with a 4-entry CQ still works: indices wrap.
    const r = runOnFakeRing(res, { set: { reqsToRun: 37 }, cqEntries: 8 });
    expect(r.get("reqsToRun")).toBe(0n);
    expect(r.get("result")).toBe(0n);
  });

  it("cp copies a file byte for byte", () => {
    const data = crypto.randomBytes(100_000 + 123);
    const files = new Map([
      [3, { data: new Uint8Array(data), size: data.length }],
      [4, { data: new Uint8Array(0), size: 0 }],
    ]);
    const r = runOnFakeRing(sample("cp.ts"), { files, buffers: { buf: 4096 }, set: { inFd: 3, outFd: 4 } });
    expect(r.get("result")).toBe(0n);
    expect(r.get("copied")).toBe(BigInt(data.length));
    const out = files.get(4)!;
    expect(Buffer.from(out.data.subarray(0, out.size)).equals(data)).toBe(true);
  });
});

describe("an object run again", () => {
  it("is read again when its bytes changed in place (the engine reuses images by content, not by array)", () => {
    const res = compileSource(
      "again.ts",
      `import { loopStep, u32, STOP } from "uringbpf";
export let seed: u32 = 0x5eed1234;
export let out: u32 = 0;
export const again = loopStep((ring, lp) => {
  out = seed + 1;
  return STOP;
});
`,
    );
    expect(res.ok).toBe(true);
    const bytes = Uint8Array.from(res.object!);
    expect(runOnFakeRing(bytes).get("out")).toBe(0x5eed1235n);
    expect(runOnFakeRing(bytes).get("out")).toBe(0x5eed1235n);
    // The initial value of seed in .data, changed in the same array.
    const at = Buffer.from(bytes).indexOf(Buffer.from([0x34, 0x12, 0xed, 0x5e]));
    expect(at).toBeGreaterThan(0);
    bytes[at] = 0x40;
    expect(runOnFakeRing(bytes).get("out")).toBe(0x5eed1241n);
  });
});

describe("the MEM region", () => {
  const source = `
import { loopStep, u8, u16, u32, u64, FixedArray, STOP } from "uringbpf";
interface Header { kind: u8; len: u16; seq: u32 }
interface Params { count: u32; total: u64; hdr: Header; slots: FixedArray<u32, 8>; heads: FixedArray<Header, 2> }
export let idx: u32 = 3;
export let out: u64 = 0n;
function bump(p: Params, k: u32): void {
  p.slots[k] += 1;
}
export const m = loopStep((ring, lp) => {
  const p = ring.mem<Params>();
  if (p === null) return STOP;
  p.count += 1;
  p.slots[idx] = p.count * 10;
  bump(p, 1);
  p.hdr.len = 0x1234;
  p.heads[1].seq = 5;
  out = p.total + u64(p.slots[idx]);
  p.slots[idx + 5] = 1;
  return STOP;
});
`;
  it("lays out C structs and reads/writes them; an index out of range traps with its line", () => {
    const res = compileSource("mem.ts", source);
    expect(res.ok).toBe(true);
    // C layout: count@0, total@8, hdr@16 {kind@16, len@18, seq@20}, slots@24 (8 x 4), heads@56 (2 x 8): 72 bytes.
    const r = runOnFakeRing(res, { mem: 72, set: { idx: 2 } });
    const m = new DataView(r.mem!.buffer);
    expect(m.getUint32(0, true)).toBe(1); // count (region starts zeroed)
    expect(m.getUint32(24 + 2 * 4, true)).toBe(10); // slots[2]
    expect(m.getUint32(24 + 1 * 4, true)).toBe(1); // slots[1] bumped by the helper
    expect(m.getUint16(18, true)).toBe(0x1234); // hdr.len
    expect(m.getUint32(56 + 8 + 4, true)).toBe(5); // heads[1].seq
    expect(r.get("out")).toBe(10n);
    // slots[idx + 5] with idx = 2 is slots[7]: in range, so no trap.
    expect(r.get("uringbpf_trap")).toBe(0n);
    expect(m.getUint32(24 + 7 * 4, true)).toBe(1);
    const bad = runOnFakeRing(res, { mem: 72, set: { idx: 3 } });
    expect(bad.ret).toBe(1n);
    expect(bad.get("uringbpf_trap")).toBe(19n); // the line of p.slots[idx + 5] = 1
  });

  it("a region smaller than the layout gives null", () => {
    const r = runOnFakeRing(compileSource("mem.ts", source), { mem: 16, set: { idx: 2 } });
    expect(r.get("out")).toBe(0n);
  });
});

describe("loops without a bound the compiler can prove", () => {
  const source = `
import { loopStep, u32, i32, STOP } from "uringbpf";
export let n: u32 = 10;
export let sum: u32 = 0;
export let iters: u32 = 0;
export let found: i32 = -1;
export let target: u32 = 7;
export const t = loopStep((ring, lp) => {
  let i: u32 = 0;
  while (i < n) {
    sum += i;
    i++;
    if (i === 100) return STOP;
  }
  let k: u32 = 1;
  do { k = k * 2; iters++; } while (k < 1000);
  for (let j: u32 = 0; j < n; j++) {
    if (j === target) { found = i32(j); break; }
  }
  while (true) { iters++; if (iters > 20) break; }
  return STOP;
});
`;
  it("run on the open-coded iterator (loops: \"iterator\") with the right results", () => {
    const res = compileSource("loops.ts", source, { loops: "iterator" });
    expect(res.ok).toBe(true);
    const calls = res.programs[0].insns.filter((i) => i.reloc?.kind === "kfunc").map((i) => i.reloc!.symbol);
    expect(calls.filter((c) => c === "bpf_iter_num_new")).toHaveLength(4);
    const r = runOnFakeRing(res);
    expect([r.get("sum"), r.get("iters"), r.get("found"), r.get("uringbpf_trap")]).toEqual([45n, 21n, 7n, 0n]);
  });

  it("run on may_goto (the default) with the same results", () => {
    const res = compileSource("loops.ts", source);
    expect(res.ok).toBe(true);
    expect(res.programs[0].insns.filter((i) => i.opcode === 0xe5)).toHaveLength(4);
    expect(res.programs[0].insns.some((i) => i.reloc?.kind === "kfunc")).toBe(false);
    const r = runOnFakeRing(res);
    expect([r.get("sum"), r.get("iters"), r.get("found"), r.get("uringbpf_trap")]).toEqual([45n, 21n, 7n, 0n]);
  });

  it("long constant loops converge (inner ones on may_goto, the outer one on the iterator) and compute what JavaScript computes", () => {
    const res = compileFile(path.join(__dirname, "fixtures", "programs", "for-long.ts"));
    expect(res.programs[0].insns.filter((i) => i.opcode === 0xe5)).toHaveLength(2);
    expect(res.programs[0].insns.filter((i) => i.reloc?.symbol === "bpf_iter_num_new")).toHaveLength(1);
    const r = runOnFakeRing(res);
    let x = 5;
    for (let i = 0; i < 300; i++) for (let j = 10; j < 1010; j += 3) x = (x ^ j) & 1 ? (Math.imul(x, 3) + j) >>> 0 : (x + i) >>> 0;
    expect(r.get("x")).toBe(BigInt(x));
    expect([r.get("s"), r.get("n")]).toEqual([100435n, 106n]);
  });

  it("a constant-bounded for loop is left to the verifier to unroll", () => {
    const res = compileSource("nops.ts", require("fs").readFileSync(path.join(__dirname, "..", "samples", "nops.ts"), "utf8"));
    expect(res.programs[0].insns.some((i) => i.reloc?.symbol === "bpf_iter_num_new")).toBe(false);
  });
});

describe("a call that only its loop budget or --timeout ends", () => {
  it("an unrolled endless loop reaches may_goto's budget (a loop trap at its header), not an instruction cap", () => {
    const res = compileSource("endless.ts", ENDLESS);
    const sim = runOnFakeRing(res, { maxSteps: 1, maxInsns: null });
    expect(sim.result.trap).toMatchObject({ line: ENDLESS_LINE, kind: "loop" });
    expect(sim.get("after")).toBe(0n);
    // Far more instructions than the oracle's deterministic 100,000,000 cap would have let it run.
    expect(sim.executed).toBeGreaterThan(100_000_000);
  }, 120_000);

  it("with the may_goto made a plain jump (a hostile object), the call is stopped at --timeout", () => {
    const res = compileSource("endless.ts", ENDLESS, { loopUnroll: 1 });
    const bytes = Uint8Array.from(res.object!);
    // The first may_goto (0xe5) becomes `ja +0`: the loop has no way out but the timeout (the engine's
    // structural check refuses such a loop, as the kernel would; noVerify runs it anyway, on the simulated ring).
    const o = readObject(bytes);
    const sec = o.section("struct_ops/p") ?? o.sections.find((s) => s.name.startsWith("struct_ops"))!;
    let at = -1;
    for (let off = sec.offset; off < sec.offset + sec.size; off += 8) if (bytes[off] === 0xe5) { at = off; break; }
    expect(at).toBeGreaterThan(0);
    bytes[at] = 0x05;
    bytes[at + 2] = bytes[at + 3] = 0;
    const t0 = Date.now();
    expect(() => runOnFakeRing({ ...res, object: bytes }, { maxSteps: 1, maxInsns: null, timeoutSec: 1, noVerify: true })).toThrow(/did not finish within 1 s \(--timeout\)/);
    expect(Date.now() - t0).toBeLessThan(10_000);
  }, 60_000);
});
