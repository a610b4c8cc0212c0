// The JavaScript translation of BPF functions (runtime/engine/translate.ts) against the reference
// interpreter (runtime/engine/interp.ts): random instruction sequences over every ALU and jump operation
// both implement, every fixture program and generated program on the simulated ring (same globals, same
// instruction counts), and the same errors with the same source lines for out-of-bounds accesses.
import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import type { Insn } from "../compiler/bpf/insn";
import { compileFile, compileSource } from "../compiler/index";
import { ExecutionError, Memory, run, type RunOptions } from "../runtime/engine/interp";
import { EngineMaps } from "../runtime/engine/maps";
import { MAX_TRANSLATED_INSNS, runTranslated, translatable, translateSource } from "../runtime/engine/translate";
import { runOnFakeRing } from "./support/fakering";
import { generateProgram, Rng } from "./support/progen";
import { storeOffsetField } from "./support/patch";

const j = (x: unknown) => JSON.stringify(x, (_k, v) => (typeof v === "bigint" ? `${v}n` : v));
/** A deterministic clock for the time helpers: 1 µs later at every call (both engines call it alike). */
const counterClock = () => {
  let t = 1_000_000_000n;
  return () => (t += 1000n);
};
const ins = (opcode: number, dst: number, src: number, off: number, imm: number, extra: Partial<Insn> = {}): Insn => ({ opcode, dst, src, off, imm, ...extra });

/** Run `insns` in both engines on fresh memories with an 80-byte output region at global `out`. */
function both(insns: Insn[], extraOpts: Partial<RunOptions> = {}) {
  const go = (exec: typeof run) => {
    const mem = new Memory();
    const out = mem.map("out", new Uint8Array(80));
    const ctx = mem.map("ctx", new Uint8Array(16), false);
    const opts: RunOptions = { globalAddress: (s, a) => (s === "out" ? out.base + a : 0n), kfuncs: {}, ...extraOpts };
    try {
      const r = exec(insns, ctx.base, mem, opts);
      return { r0: r.r0, executed: r.executed, out: Buffer.from(out.bytes).toString("hex") };
    } catch (e) {
      return { error: (e as Error).message, type: (e as Error).constructor.name };
    }
  };
  return { interp: go(run), translated: go(runTranslated) };
}

const ALU_OPS = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xa0, 0xb0, 0xc0];
const JMP_OPS = [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0];
const INTERESTING = [0n, 1n, 2n, 31n, 32n, 63n, 64n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 0x7fffffffffffffffn, 0x8000000000000000n, 0xffffffffffffffffn, 0xfffffffffffffffen];

/** A random straight-line-and-forward-jumps program over r0-r9; it stores r0-r9 into `out` and exits. */
function randomProgram(rng: Rng): Insn[] {
  const p: Insn[] = [];
  const val = () => (rng.int(3) === 0 ? rng.pick(INTERESTING) : BigInt.asUintN(64, (BigInt(rng.int(2 ** 32)) << 32n) | BigInt(rng.int(2 ** 32))));
  for (let r = 0; r <= 9; r++) p.push(ins(0x18, r, 0, 0, 0, { imm64: val() }));
  const body = 30;
  const bodyStart = p.length;
  for (let k = 0; k < body; k++) {
    const d = rng.int(10);
    const s = rng.int(10);
    const imm = rng.int(4) === 0 ? Number(BigInt.asIntN(32, rng.pick(INTERESTING))) : rng.int(2 ** 32) - 2 ** 31;
    if (rng.int(5) === 0) {
      // A forward conditional jump within the body.
      const cls = rng.pick([5, 6]);
      const left = body - k - 1;
      p.push(ins(cls | rng.pick(JMP_OPS) | rng.pick([0, 8]), d, s, rng.int(Math.max(1, left)), imm));
      continue;
    }
    const op = rng.pick(ALU_OPS);
    const cls = rng.pick([4, 7]);
    const x = rng.pick([0, 8]);
    const shiftImm = op === 0x60 || op === 0x70 || op === 0xc0 ? rng.int(cls === 7 ? 64 : 32) : imm;
    p.push(ins(cls | op | x, d, s, 0, shiftImm));
  }
  void bodyStart;
  p.push(ins(0x18, 10 - 10 + 0, 0, 0, 0, { imm64: 0n })); // placeholder replaced below
  p.pop();
  // Store r0-r9 into out: r10 stays the frame pointer, so use it as scratch through the stack? No: load
  // the region's address into r0 last, after storing r0 itself on the stack.
  p.push(ins(0x7b, 10, 0, -8, 0)); // *(u64 *)(r10 - 8) = r0
  p.push(ins(0x18, 0, 0, 0, 0, { imm64: 0n, reloc: { kind: "global", symbol: "out" } }));
  for (let r = 1; r <= 9; r++) p.push(ins(0x7b, 0, r, r * 8, 0));
  p.push(ins(0x79, 1, 10, -8, 0)); // r1 = saved r0
  p.push(ins(0x7b, 0, 1, 0, 0));
  p.push(ins(0x95, 0, 0, 0, 0));
  return p;
}

describe("the translation against the interpreter", () => {
  it("2000 random ALU/jump programs: same registers, same instruction counts", () => {
    const bad: string[] = [];
    for (let seed = 1; seed <= 2000; seed++) {
      const p = randomProgram(new Rng(seed));
      const r = both(p);
      const j = (x: unknown) => JSON.stringify(x, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
      if (j(r.interp) !== j(r.translated)) bad.push(`seed ${seed}: ${j(r)}`);
    }
    expect(bad.slice(0, 5)).toEqual([]);
  }, 120_000);

  it("out-of-bounds, unmapped and read-only accesses stop with the interpreter's message", () => {
    const cases: Insn[][] = [
      [ins(0x61, 0, 1, 16, 0), ins(0x95, 0, 0, 0, 0)], // read past the 16-byte ctx
      [ins(0x63, 1, 0, 0, 0), ins(0x95, 0, 0, 0, 0)], // write to read-only ctx
      [ins(0xb7, 2, 0, 0, 0), ins(0x61, 0, 2, 0, 0), ins(0x95, 0, 0, 0, 0)], // null
      [ins(0x18, 2, 0, 0, 0, { imm64: 0x123400000000n }), ins(0x79, 0, 2, 0, 0), ins(0x95, 0, 0, 0, 0)], // unmapped
      [ins(0x7a, 10, 0, -520, 7), ins(0x95, 0, 0, 0, 0)], // below the stack
      [ins(0x7a, 10, 0, 0, 7), ins(0x95, 0, 0, 0, 0)], // above the stack
      [ins(0x61, 0, 1, -1, 0), ins(0x95, 0, 0, 0, 0)], // before the region: another region or unmapped
      [ins(0x05, 0, 0, 5, 0), ins(0x95, 0, 0, 0, 0)], // jump outside
      [ins(0xb7, 0, 0, 0, 0)], // falls off the end
      [ins(0x05, 0, 0, -1, 0)], // runaway loop
      [ins(0x07, 0, 0, 0, 1), ins(0x07, 0, 0, 0, 1), ins(0x07, 0, 0, 0, 1), ins(0x05, 0, 0, -4, 0)], // stopped mid-block
      [ins(0x85, 0, 0, 0, 99), ins(0x95, 0, 0, 0, 0)], // unknown helper
      [ins(0xff, 0, 0, 0, 0)], // bad opcode
      [ins(0xbf, 11, 0, 0, 0), ins(0x95, 0, 0, 0, 0)], // invalid register
      [ins(0xbf, 0, 13, 0, 0), ins(0x95, 0, 0, 0, 0)],
      [ins(0xe5, 0, 0, 0, 0), ins(0x05, 0, 0, -2, 0)], // a may_goto loop runs into the instruction limit
    ];
    for (const c of cases) {
      const r = both(c, { maxInsns: 10_000 });
      expect(r.translated).toEqual(r.interp);
      expect(r.interp).toHaveProperty("error");
      expect((r.interp as { type: string }).type).toBe("ExecutionError");
    }
  });

  it("a function too big to translate quickly is interpreted, with the same result", () => {
    const p = [...Array(MAX_TRANSLATED_INSNS + 10)].map(() => ins(0x07, 0, 0, 0, 1));
    p.push(ins(0x95, 0, 0, 0, 0));
    const r = both(p);
    expect(r.translated).toEqual(r.interp);
    expect((r.interp as { r0: bigint }).r0).toBe(BigInt(MAX_TRANSLATED_INSNS + 10));
  });

  it("may_goto falls through while its budget lasts", () => {
    const p = [ins(0xe5, 0, 0, 2, 0), ins(0xb7, 0, 0, 0, 1), ins(0x95, 0, 0, 0, 0), ins(0xb7, 0, 0, 0, 2), ins(0x95, 0, 0, 0, 0)];
    const r = both(p);
    expect(r.translated).toEqual(r.interp);
    expect((r.interp as { r0: bigint }).r0).toBe(1n);
  });

  it("translates each function once: the same instruction array gives the same source", () => {
    const res = compileFile(path.join(__dirname, "..", "samples", "nops.ts"));
    const a = translateSource(res.programs[0].insns).source;
    expect(translateSource(res.programs[0].insns).source).toBe(a);
    // No BigInt on the hot path: the generated code never mentions BigInt literals or BigInt().
    expect(a).not.toMatch(/\d+n\b|BigInt/);
  });

  it("every fixture program (atomics, maps and helpers too) is translated and gives the interpreter's globals, maps and instruction counts on the simulated ring", () => {
    const dir = path.join(__dirname, "fixtures", "programs");
    const diffs: string[] = [];
    let n = 0;
    const kinds = { atomics: 0, maps: 0, helpers: 0 };
    for (const f of fs.readdirSync(dir).filter((x) => x.endsWith(".ts"))) {
      const res = compileFile(path.join(dir, f));
      // Translated, not handed to the interpreter (only functions over MAX_TRANSLATED_INSNS would be).
      const subprograms = Object.fromEntries((res.subprograms ?? []).map((p) => [p.name, p.insns]));
      for (const p of res.programs) expect([f, p.name, translatable(p.insns, subprograms)]).toEqual([f, p.name, true]);
      const all = [...res.programs, ...(res.subprograms ?? [])].flatMap((p) => p.insns);
      if (all.some((i) => i.opcode === 0xc3 || i.opcode === 0xdb || i.opcode === 0xd3 || i.opcode === 0xcb)) kinds.atomics++;
      if (all.some((i) => i.opcode === 0x85 && i.src === 0 && [1, 2, 3, 130, 131, 132, 133].includes(i.imm))) kinds.maps++;
      if (all.some((i) => i.opcode === 0x85 && i.src === 0 && [5, 7, 8, 125].includes(i.imm))) kinds.helpers++;
      const go = (exec: "interp" | "translate") => {
        try {
          const r = runOnFakeRing(res, { mem: 4096, maxSteps: 100, exec, clock: counterClock() });
          return { steps: r.steps, executed: r.executed, ret: r.ret, globals: res.module!.globals.map((g) => `${g.name}=${r.get(g.name)}`), maps: r.maps, mem: Buffer.from(r.mem ?? []).toString("hex") };
        } catch (e) {
          return { error: (e as Error).message };
        }
      };
      const a = go("interp");
      const b = go("translate");
      n++;
      if (JSON.stringify(a, (_k, v) => (typeof v === "bigint" ? v.toString() : v)) !== JSON.stringify(b, (_k, v) => (typeof v === "bigint" ? v.toString() : v))) diffs.push(`${f}: ${JSON.stringify({ a, b }, (_k, v) => (typeof v === "bigint" ? v.toString() : v))}`);
    }
    expect(n).toBeGreaterThan(30);
    expect(kinds.atomics).toBeGreaterThanOrEqual(3);
    expect(kinds.maps).toBeGreaterThanOrEqual(4);
    expect(kinds.helpers).toBeGreaterThanOrEqual(1);
    expect(diffs).toEqual([]);
  }, 120_000);

  it("the language samples with maps, atomics and time (latency, events, counters, spin): the interpreter's results, translated", () => {
    const sample = (name: string) => compileFile(path.join(__dirname, "..", "samples", `${name}.ts`));
    // counters: the producer's side done beforehand (100 items, `done` set): two batches, a timeout between.
    const produced = (b: Uint8Array) => {
      const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
      v.setUint32(0, 100, true);
      v.setUint32(8, 1, true);
      for (let i = 0; i < 64; i++) v.setUint32(56 + 4 * i, 1000 + i, true); // slots
    };
    const cases: [string, Parameters<typeof runOnFakeRing>[1]][] = [
      ["latency", { set: { requests: 60, depth: 8, baseUs: 100 }, mem: 4096 }],
      ["events", { set: { requests: 50, depth: 8 } }],
      ["counters", { memInit: produced }],
      ["spin", { set: { requests: 20, spinNs: 5000, delayUs: 100 }, mem: 4096 }],
      ["spin", { set: { requests: 10, spinNs: 0, delayUs: 0 } }],
    ];
    for (const [name, opts] of cases) {
      const res = sample(name);
      expect(translatable(res.programs[0].insns)).toBe(true);
      const go = (exec: "interp" | "translate") => {
        const r = runOnFakeRing(res, { ...opts, exec, clock: counterClock() });
        return { steps: r.steps, executed: r.executed, ret: r.ret, globals: r.result.globals, maps: r.maps, mem: Buffer.from(r.mem ?? []).toString("hex") };
      };
      const a = go("interp");
      const b = go("translate");
      expect(j(b)).toBe(j(a));
      // Each ran to its end with a result worth comparing.
      expect([name, a.ret, a.globals.status]).toEqual([name, 1n, 0n]);
      expect(a.steps).toBeGreaterThan(1);
    }
  }, 120_000);

  it("map helpers from translated code: a hash element and a ring buffer record mapped by a helper, a submitted record read-only afterwards", () => {
    // r1 = &rb; reserve 16 bytes; store into the record; submit it; store again (refused: read-only).
    // Then the hash map: update key 5, look it up, add to the value in place, read it back into r0.
    const prog = (afterSubmit: boolean): Insn[] => [
      ins(0x18, 1, 0, 0, 0, { imm64: 0n, reloc: { kind: "global", symbol: "rb" } }),
      ins(0xb7, 2, 0, 0, 16), ins(0xb7, 3, 0, 0, 0), ins(0x85, 0, 0, 0, 131),
      ins(0x15, 0, 0, afterSubmit ? 9 : 8, 0), // null: exit
      ins(0xbf, 6, 0, 0, 0), ins(0x62, 6, 0, 0, 5), ins(0xdb, 6, 0, 8, 0) /* atomic add r0 to 8 */,
      ins(0xbf, 1, 6, 0, 0), ins(0xb7, 2, 0, 0, 0), ins(0x85, 0, 0, 0, 132),
      ins(0x61, 7, 6, 0, 0), // reading a submitted record is fine
      ...(afterSubmit ? [ins(0x62, 6, 0, 0, 7)] : []),
      ins(0x05, 0, 0, 0, 0),
      // hash: key 5 at fp-8, value 40 at fp-16
      ins(0x7a, 10, 0, -8, 5), ins(0x7a, 10, 0, -16, 40),
      ins(0x18, 1, 0, 0, 0, { imm64: 0n, reloc: { kind: "global", symbol: "h" } }), ins(0xbf, 2, 10, 0, 0), ins(0x07, 2, 0, 0, -8), ins(0xbf, 3, 10, 0, 0), ins(0x07, 3, 0, 0, -16), ins(0xb7, 4, 0, 0, 0), ins(0x85, 0, 0, 0, 2),
      ins(0x18, 1, 0, 0, 0, { imm64: 0n, reloc: { kind: "global", symbol: "h" } }), ins(0xbf, 2, 10, 0, 0), ins(0x07, 2, 0, 0, -8), ins(0x85, 0, 0, 0, 1),
      ins(0x15, 0, 0, 4, 0),
      ins(0xb7, 1, 0, 0, 2), ins(0xdb, 0, 1, 0, 0x01), // atomic fetch-add 2: r1 = 40
      ins(0x79, 0, 0, 0, 0), ins(0x0f, 0, 1, 0, 0), // r0 = 42 + 40
      ins(0x95, 0, 0, 0, 0),
    ];
    const go = (p: Insn[], exec: typeof run) => {
      const mem = new Memory();
      const ctx = mem.map("ctx", new Uint8Array(16), false);
      const maps = new EngineMaps([{ name: "rb", mapType: 27, maxEntries: 4096, keySize: 0, valueSize: 0 }, { name: "h", mapType: 1, maxEntries: 4, keySize: 8, valueSize: 8 }], mem);
      const opts: RunOptions = { globalAddress: (sym, a) => maps.address(sym)! + a, kfuncs: {}, helpers: maps.helpers() };
      try {
        const r = exec(p, ctx.base, mem, opts);
        return { r0: r.r0, executed: r.executed, maps: maps.dump() };
      } catch (e) {
        return { error: (e as Error).message, maps: maps.dump() };
      }
    };
    for (const after of [false, true]) {
      const a = go(prog(after), run);
      const b = go(prog(after), runTranslated);
      expect(j(b)).toBe(j(a));
      if (after) expect(a).toMatchObject({ error: expect.stringMatching(/^write to read-only ring buffer rb record \(instruction 12/) });
      else expect(a).toMatchObject({ r0: 82n });
    }
  });

  it("2000 random programs of atomic operations (every kind and size, offsets past the region, a read-only region): the interpreter's memory, registers and errors", () => {
    const bad: string[] = [];
    const kindsSeen = new Set<string>();
    for (let seed = 1; seed <= 2000; seed++) {
      const rng = new Rng(seed);
      const p: Insn[] = [ins(0xbf, 6, 1, 0, 0)]; // r6 = ctx (read-only, 16 bytes)
      for (const r of [0, 2, 3, 4, 5, 7, 8, 9]) p.push(ins(0x18, r, 0, 0, 0, { imm64: rng.int(3) === 0 ? rng.pick(INTERESTING) : BigInt(rng.int(2 ** 32)) * BigInt(rng.int(3)) + BigInt(rng.int(2 ** 32)) }));
      p.push(ins(0x18, 1, 0, 0, 0, { imm64: 0n, reloc: { kind: "global", symbol: "out" } }));
      const IMMS = [0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1, 0x100, 0x110];
      for (let k = 0; k < 12; k++) {
        const size = rng.int(10) === 0 ? rng.pick([0x10, 0x08]) : rng.pick([0x00, 0x18]);
        let imm = rng.int(40) === 0 ? rng.pick([0x30, 0xe0, 0xf0, 0x02]) : rng.pick(IMMS);
        if (size !== 0x00 && size !== 0x18 && rng.int(2) === 0) imm = rng.pick([0x100, 0x110]);
        const base = rng.int(10) === 0 ? 6 : rng.int(20) === 0 ? 10 : 1;
        const off = base === 10 ? -8 * (1 + rng.int(4)) : rng.int(12) === 0 ? rng.pick([-1, 73, 76, 77, 80, 4096]) : 8 * rng.int(9) + rng.pick([0, 0, 4]);
        const other = rng.pick([0, 2, 3, 4, 5, 7, 8, 9, rng.int(30) === 0 ? 1 : 0]);
        // load-acquire: dst = *(src + off), the address in src; the others: the address in dst
        p.push(imm === 0x100 ? ins(0xc3 | size, other, base, off, imm) : ins(0xc3 | size, base, other, off, imm));
        kindsSeen.add(`${size}:${imm}`);
      }
      p.push(ins(0x18, 1, 0, 0, 0, { imm64: 0n, reloc: { kind: "global", symbol: "regs" } }));
      [0, 2, 3, 4, 5, 6, 7, 8, 9].forEach((r, k) => p.push(ins(0x7b, 1, r, k * 8, 0)));
      p.push(ins(0x95, 0, 0, 0, 0));
      const go = (exec: typeof run) => {
        const mem = new Memory();
        const init = new Rng(seed * 7 + 1);
        const out = mem.map("out", Uint8Array.from({ length: 80 }, () => init.int(256)));
        const regs = mem.map("regs", new Uint8Array(80));
        const ctx = mem.map("ctx", Uint8Array.from({ length: 16 }, (_, i) => i), false);
        const opts: RunOptions = { globalAddress: (s) => (s === "out" ? out.base : s === "regs" ? regs.base : 0n), kfuncs: {} };
        try {
          const r = exec(p, ctx.base, mem, opts);
          return { r0: r.r0, executed: r.executed, out: Buffer.from(out.bytes).toString("hex"), regs: Buffer.from(regs.bytes).toString("hex") };
        } catch (e) {
          return { error: (e as Error).message, type: (e as Error).constructor.name, out: Buffer.from(out.bytes).toString("hex") };
        }
      };
      const a = go(run);
      const b = go(runTranslated);
      if (j(a) !== j(b)) bad.push(`seed ${seed}: ${j({ a, b })}`);
    }
    expect(bad.slice(0, 3)).toEqual([]);
    expect(kindsSeen.size).toBeGreaterThan(40);
  }, 120_000);

  it("2000 random programs of loads and stores through globals, regions at real addresses and the stack (the addresses the translation knows within a block: bases moved by constants, copied, clobbered, offsets past the region or the frame, read-only regions): the interpreter's memory, registers and errors", () => {
    const bad: string[] = [];
    let errors = 0;
    for (let seed = 1; seed <= 2000; seed++) {
      const rng = new Rng(seed * 13 + 5);
      const p: Insn[] = [];
      const setBase = (r: number) => p.push(ins(0x18, r, 0, 0, 0, { imm64: BigInt(rng.int(8) === 0 ? rng.pick([76, 80, -8]) : rng.pick([0, 0, 8, 16])), reloc: { kind: "global", symbol: rng.int(16) === 0 ? rng.pick(["ro", "rbuf"]) : rng.pick(["out", "regs", "buf", "buf"]) } }));
      for (const r of [1, 2, 3, 4, 5]) setBase(r);
      for (const r of [0, 6, 7, 8, 9]) p.push(ins(0x18, r, 0, 0, 0, { imm64: BigInt(rng.int(2 ** 32)) * BigInt(rng.int(3)) + BigInt(rng.int(2 ** 32)) }));
      const body = 20;
      const start = p.length;
      for (let k = 0; k < body; k++) {
        const base = rng.int(4) === 0 ? 10 : 1 + rng.int(5);
        // Data registers, and now and then a base (a load into it clobbers it).
        const other = rng.int(12) === 0 ? 1 + rng.int(5) : rng.pick([0, 6, 7, 8, 9]);
        const size = rng.pick([0x00, 0x08, 0x10, 0x18]);
        const bytes = [4, 2, 1, 8][size >> 3];
        const off = base === 10 ? (rng.int(12) === 0 ? rng.pick([-513, -1, 0, 8, -bytes + 1]) : -bytes - 8 * rng.int(64)) : rng.int(25) === 0 ? rng.pick([-8, -1, 76, 77, 80, 4096, -4096, 41, 45, 47, 21, 23]) : rng.int(3) * 8;
        // Mostly accesses; now and then a move of a base, a clobber, a new base or a block boundary.
        const w = rng.int(100);
        switch (w < 8 ? 0 : w < 11 ? 1 : w < 16 ? 2 : w < 18 ? 3 : w < 24 ? 4 : w < 28 ? 5 : 6 + rng.int(6)) {
          case 0: p.push(ins(0x07, 1 + rng.int(5), 0, 0, rng.int(8) === 0 ? rng.pick([64, 2 ** 31 - 1, -(2 ** 31)]) : rng.pick([8, -8, 4, 1]))); break; // base += k
          case 1: p.push(ins(0x17, 1 + rng.int(5), 0, 0, rng.pick([8, -8, 4]))); break; // base -= k
          case 2: p.push(ins(0xbf, 1 + rng.int(5), rng.pick([1, 2, 3, 4, 5, 10]), 0, 0)); break; // base = another base (or r10)
          case 3: p.push(ins(rng.pick([0x04, 0xb7, 0x0f, 0xbc]), 1 + rng.int(5), other, 0, 8)); break; // w += 8, mov k, add x, w = w (clobbers)
          case 4: setBase(1 + rng.int(5)); break;
          case 5: {
            // a forward conditional jump: a block boundary where the bases differ by path
            const left = body - k - 1;
            p.push(ins(0x55, other, 0, Math.min(left, 1 + rng.int(3)), rng.int(2)));
            break;
          }
          case 6: case 7: case 8: p.push(ins(0x61 | size, other, base, off, 0)); break; // ldx
          case 9: case 10: p.push(ins(0x63 | size, base, other, off, 0)); break; // stx (ro is read-only)
          default: p.push(ins(0x62 | size, base, 0, off, rng.int(2 ** 32) - 2 ** 31)); // st
        }
      }
      expect(p.length - start).toBe(body);
      p.push(ins(0x18, 1, 0, 0, 0, { imm64: 0n, reloc: { kind: "global", symbol: "regs2" } }));
      [0, 2, 3, 4, 5, 6, 7, 8, 9].forEach((r, k) => p.push(ins(0x7b, 1, r, k * 8, 0)));
      p.push(ins(0x95, 0, 0, 0, 0));
      const go = (exec: typeof run) => {
        const mem = new Memory();
        const init = new Rng(seed * 7 + 3);
        const m = (name: string, n: number, w = true) => mem.map(name, Uint8Array.from({ length: n }, () => init.int(256)), w);
        // Regions at real addresses too (a --buffer, the MEM region): found by the slow path.
        const x = (name: string, n: number, at: bigint, w = true) => mem.mapAt(name, Uint8Array.from({ length: n }, () => init.int(256)), at, w);
        const rs: Record<string, ReturnType<typeof m>> = {
          out: m("out", 80),
          ro: m("ro", 40, false),
          buf: x("buf", 48, 0x7f3a12345000n),
          regs: m("regs", 80),
          rbuf: x("rbuf", 24, 0x7f3a12345030n, false),
          regs2: mem.map("regs2", new Uint8Array(80)),
        };
        const ctx = mem.map("ctx", new Uint8Array(16), false);
        const opts: RunOptions = { globalAddress: (s, add) => rs[s].base + add, kfuncs: {} };
        const dump = () => Object.fromEntries(Object.entries(rs).map(([k, r]) => [k, Buffer.from(r.bytes).toString("hex")]));
        try {
          const r = exec(p, ctx.base, mem, opts);
          return { r0: r.r0, executed: r.executed, ...dump() };
        } catch (e) {
          return { error: (e as Error).message, type: (e as Error).constructor.name, ...dump() };
        }
      };
      const a = go(run);
      const b = go(runTranslated);
      if ("error" in a) errors++;
      if (j(a) !== j(b)) bad.push(`seed ${seed}: ${j({ a, b })}`);
    }
    expect(bad.slice(0, 3)).toEqual([]);
    // Both kinds of end are covered: runs that fail a check and runs that complete.
    expect(errors).toBeGreaterThan(200);
    expect(errors).toBeLessThan(1800);
  }, 120_000);

  it("300 generated programs give the interpreter's (and the reference evaluator's) results", () => {
    const bad: string[] = [];
    for (let seed = 300_001; seed <= 300_300; seed++) {
      const g = generateProgram(seed);
      const res = compileSource(`gen${seed}.ts`, g.source, { typeCheck: false });
      if (!res.ok) {
        bad.push(`seed ${seed}: compile error`);
        continue;
      }
      const a = runOnFakeRing(res, { exec: "interp" });
      const b = runOnFakeRing(res, { exec: "translate" });
      if (a.executed !== b.executed) bad.push(`seed ${seed}: executed ${a.executed} vs ${b.executed}`);
      for (const [k, v] of Object.entries(g.expected)) if (b.get(k) !== v || a.get(k) !== v) bad.push(`seed ${seed}: ${k} = ${a.get(k)} / ${b.get(k)}, expected ${v}`);
    }
    expect(bad).toEqual([]);
  }, 300_000);

  it("an out-of-bounds store stops both with the TypeScript line", () => {
    // Move the store of lp.cqWaitIdx 4 bytes past the end of iou_loop_params in the object (as a hostile
    // object could); run on the simulated ring only.
    const bytes = Buffer.from(compileFile(path.join(__dirname, "..", "samples", "nops.ts")).object!);
    const { field: off, line } = storeOffsetField(bytes, "struct_ops.s/nops", "lp.cqWaitIdx =");
    bytes.writeInt16LE(4, off);
    const errs = (["interp", "translate"] as const).map((exec) => {
      try {
        runOnFakeRing(bytes, { set: { reqsToRun: 10 }, exec, noVerify: true });
        return "no error";
      } catch (e) {
        return `${(e as Error).constructor.name}: ${(e as Error).message}`;
      }
    });
    expect(errs[0]).toMatch(/^ExecutionError: out-of-bounds write of 4 bytes at offset 4 of iou_loop_params .*samples\/nops\.ts:\d+: lp\.cqWaitIdx = head \+ inflight;/);
    expect(errs[0]).toContain(`samples/nops.ts:${line}: `);
    expect(errs[1]).toBe(errs[0]);
  });
});
