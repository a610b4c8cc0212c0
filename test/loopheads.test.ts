// The loop-head pass of the code generator (compiler/codegen/loopheads.ts) on hand-written instruction
// lists: what it inserts so the 7.x verifier's state at a loop head can contain every later one. The
// kernel side (the generated programs 100127, 100333 and 101155 it refused with "8193 jumps", now loop
// fixtures) is in test/loops.test.ts and test/e2e.test.ts.
import { describe, expect, it } from "vitest";
import { formatInsn } from "../compiler/bpf/disasm";
import * as I from "../compiler/bpf/insn";
import type { Insn, InsnOrLabel } from "../compiler/bpf/insn";
import { steadyLoopHeads, type EmitFacts } from "../compiler/codegen/loopheads";
import { KFUNC_ITER_NEXT } from "../compiler/ir/module";

function facts(): EmitFacts {
  return { argc: new WeakMap(), ptr: new WeakMap() };
}

function call(f: EmitFacts, name: string, argc: number): Insn {
  const c = I.callSubprog(name);
  f.argc.set(c, argc);
  f.ptr.set(c, false);
  return c;
}

const text = (items: InsnOrLabel[]) => I.resolveLabels(items).map((x, slot) => formatInsn(x, slot)).filter((s) => s.length);
const run = (items: InsnOrLabel[], f: EmitFacts) => text(steadyLoopHeads(items, f, new Map([[10, "P"]])));

/** A loop: `r4 = *(u64 *)(r1 + 0)` (a scalar), r6 = r4 on entry; the body changes r6 and counts r2; after it,
 *  r6 is stored and a one-argument subprogram is called. */
function loop(f: EmitFacts, body: Insn[], after: Insn[]): InsnOrLabel[] {
  const load = I.ldx("DW", 4, 1, 0);
  f.ptr.set(load, false);
  return [
    load,
    I.alu64Reg("MOV", 6, 4),
    I.alu32Imm("MOV", 2, 0),
    I.label("head"),
    I.mayGoto("out"),
    ...body,
    I.alu32Imm("ADD", 2, 1),
    I.jmpImm("JLT", 2, 10, "head", false),
    ...after,
    I.alu64Reg("MOV", 0, 6),
    I.exit(),
    I.label("out"),
    I.alu32Imm("MOV", 0, 1),
    I.exit(),
  ];
}

describe("loop heads the verifier converges on", () => {
  it("zeroes the unused argument registers of a subprogram call a loop head reaches", () => {
    const f = facts();
    const out = run(loop(f, [I.alu64Imm("ADD", 6, 3)], [I.alu64Imm("MOV", 1, 7), call(f, "h", 1)]), f);
    // r4 is dead after the copy, but the verifier lets the call read r1-r5: r3-r5 are zeroed before it
    // (not r2, the live counter, nor r1, the argument).
    const at = out.findIndex((s) => s.includes("call"));
    expect(out.slice(at - 4, at + 1)).toEqual(["r1 = 7", "w3 = 0", "w4 = 0", "w5 = 0", expect.stringContaining("call")]);
  });

  it("clears the id of a live scalar copied into another live register before the head", () => {
    const f = facts();
    // r4 stays live (stored after the loop), so r4 and r6 share the verifier's id at the head.
    const insns = I.resolveLabels(steadyLoopHeads(loop(f, [I.alu64Imm("MUL", 6, 3)], [I.stx("DW", 10, -8, 4)]), f, new Map([[10, "P"]])));
    const out = insns.map((x, slot) => formatInsn(x, slot));
    const head = out.findIndex((s) => s.startsWith("may_goto"));
    expect(out[head - 1]).toMatch(/^r[46] &= -1$/);
    // Inserted inside the loop: the back edge jumps to it, not to the may_goto.
    const back = out.findIndex((s) => s.startsWith("if w2 < 10"));
    expect(out[back + 1 + insns[back].off]).toMatch(/&= -1$/);
  });

  it("leaves a loop alone when nothing is linked or left in an argument register", () => {
    const f = facts();
    const items = loop(f, [I.alu64Imm("MUL", 6, 3)], []);
    expect(run(items, f)).toEqual(text(items));
  });

  it("never clears a pointer (r &= -1 on a pointer is refused)", () => {
    const f = facts();
    const items: InsnOrLabel[] = [
      I.alu64Reg("MOV", 6, 1),
      I.alu32Imm("MOV", 2, 0),
      I.label("head"),
      I.mayGoto("out"),
      I.alu32Imm("ADD", 2, 1),
      I.jmpImm("JLT", 2, 10, "head", false),
      I.ldx("DW", 0, 6, 0),
      I.ldx("DW", 3, 1, 0),
      I.exit(),
      I.label("out"),
      I.alu32Imm("MOV", 0, 1),
      I.exit(),
    ];
    const ctx = new Map<number, "P" | "S" | "?">([[10, "P"], [1, "P"]]);
    expect(text(steadyLoopHeads(items, f, ctx))).toEqual(text(items));
  });

  it("never clears a register that one path into the head leaves unwritten (the verifier: unreadable)", () => {
    const f = facts();
    const load = I.ldx("DW", 4, 1, 0);
    f.ptr.set(load, false);
    const items: InsnOrLabel[] = [
      load,
      I.jmpImm("JEQ", 4, 0, "skip", true),
      I.alu64Reg("MOV", 0, 4),
      I.label("skip"),
      I.alu32Imm("MOV", 2, 0),
      I.label("head"),
      I.mayGoto("out"),
      I.alu32Imm("ADD", 2, 1),
      I.jmpImm("JLT", 2, 10, "head", false),
      I.alu64Reg("ADD", 0, 4),
      I.exit(),
      I.label("out"),
      I.alu32Imm("MOV", 0, 1),
      I.exit(),
    ];
    const out = run(items, f);
    // r0 and r4 may share an id at the head, but r0 is unwritten when the branch is taken: the link is
    // cut on r4, a scalar on every path.
    const head = out.findIndex((s) => s.startsWith("may_goto"));
    expect(out[head - 1]).toBe("r4 &= -1");
    expect(out.filter((s) => s === "r0 &= -1")).toEqual([]);
  });

  it("treats the iterator's next call as a loop head too", () => {
    const f = facts();
    const next = I.callKfunc(KFUNC_ITER_NEXT);
    f.argc.set(next, 1);
    f.ptr.set(next, true);
    const load = I.ldx("DW", 7, 1, 0);
    f.ptr.set(load, false);
    const items: InsnOrLabel[] = [
      load,
      I.alu64Reg("MOV", 8, 7),
      I.label("head"),
      I.alu64Reg("MOV", 1, 10),
      I.alu64Imm("ADD", 1, -8),
      next,
      I.jmpImm("JEQ", 0, 0, "done", true),
      I.alu64Imm("MUL", 8, 3),
      I.ja("head"),
      I.label("done"),
      I.alu64Reg("ADD", 8, 7),
      I.alu64Reg("MOV", 0, 8),
      I.exit(),
    ];
    const out = text(steadyLoopHeads(items, f, new Map([[10, "P"]])));
    const at = out.findIndex((s) => s.includes("call"));
    expect(out[at - 1]).toMatch(/^r[78] &= -1$/);
  });

  /** The end of a loop body counting in r2 (w2 += 1; if w2 < 10 goto head). */
  const countTo10 = (head: string) => [I.alu32Imm("ADD", 2, 1), I.jmpImm("JLT", 2, 10, head, false)];
  /** After the loop: return the slot at fp-8; the may_goto's way out returns 1. */
  const returnSlot = [I.ldx("DW", 0, 10, -8), I.exit(), I.label("out"), I.alu32Imm("MOV", 0, 1), I.exit()];

  it("zero-extends before the head a 32-bit value the loop leaves the verifier seeing as 64-bit", () => {
    const f = facts();
    const wide = I.ldx("DW", 7, 1, 0);
    const invariant = I.ldx("W", 8, 1, 8);
    const items: InsnOrLabel[] = [
      wide,
      invariant,
      I.alu32Imm("MOV", 6, 1),
      I.alu32Imm("MOV", 3, 5),
      I.alu32Imm("MOV", 2, 0),
      I.label("head"),
      I.mayGoto("out"),
      // A shift by a register: the verifier marks the whole of r6 unknown (and widens it at the head).
      I.alu32Reg("LSH", 6, 3),
      I.alu64Imm("MUL", 7, 3),
      I.alu32Imm("ADD", 2, 1),
      I.jmpImm("JLT", 2, 10, "head", false),
      I.alu64Reg("MOV", 0, 6),
      I.alu64Reg("ADD", 0, 7),
      I.alu64Reg("ADD", 0, 8),
      I.exit(),
      I.label("out"),
      I.alu32Imm("MOV", 0, 1),
      I.exit(),
    ];
    const out = run(items, f);
    const head = out.findIndex((s) => s.startsWith("may_goto"));
    // r6 only: not r7 (64-bit), r8 (the loop never writes it) nor the counter r2 (an add the verifier bounds).
    expect(out.slice(head - 2, head)).toEqual(["w2 = 0", "w6 = w6"]);
  });

  it("zero-extends a 32-bit value before the spill that carries it round the loop", () => {
    const f = facts();
    const items: InsnOrLabel[] = [
      I.alu32Imm("MOV", 3, 5),
      I.alu32Imm("MOV", 2, 0),
      I.alu32Imm("MOV", 1, 1),
      I.label("top"),
      I.stx("DW", 10, -8, 1),
      I.mayGoto("out"),
      I.ldx("DW", 1, 10, -8),
      I.alu32Reg("LSH", 1, 3),
      ...countTo10("top"),
      ...returnSlot,
    ];
    const out = run(items, f);
    const spill = out.findIndex((s) => s.startsWith("*(u64 *)(r10 - 8) = r1"));
    expect(out[spill - 1]).toBe("w1 = w1");
    expect(out.filter((s) => s === "w1 = w1")).toHaveLength(1);
  });

  it("reloads, zero-extends and spills again at the head a 32-bit slot that one path round the loop keeps", () => {
    const f = facts();
    const items: InsnOrLabel[] = [
      I.alu32Imm("MOV", 1, 1),
      I.stx("DW", 10, -8, 1),
      I.alu32Imm("MOV", 3, 5),
      I.alu32Imm("MOV", 2, 0),
      I.label("head"),
      I.mayGoto("out"),
      I.ldx("DW", 1, 10, -8),
      I.jmpImm("JEQ", 2, 3, "skip", false),
      I.alu32Reg("LSH", 1, 3),
      I.stx("DW", 10, -8, 1),
      I.label("skip"),
      ...countTo10("head"),
      ...returnSlot,
    ];
    const out = run(items, f);
    const head = out.findIndex((s) => s.startsWith("may_goto"));
    // In a register dead at the head (r0), not in r2 or r3 (live).
    expect(out.slice(head - 3, head)).toEqual(["r0 = *(u64 *)(r10 - 8)", "w0 = w0", "*(u64 *)(r10 - 8) = r0"]);
  });

  it("counts what a loop compares as changing round it (a branch narrows both operands)", () => {
    const f = facts();
    const items: InsnOrLabel[] = [
      I.ldx("W", 8, 1, 0),
      I.ldx("W", 7, 1, 4),
      I.alu32Imm("MOV", 6, 0),
      I.alu32Imm("MOV", 2, 0),
      I.label("head"),
      I.mayGoto("out"),
      // r8 is only read, but compared; r7 is only read, in arithmetic.
      I.jmpImm("JGE", 8, 0x7fffffff, "skip", false),
      I.alu32Imm("ADD", 6, 1),
      I.label("skip"),
      I.alu32Reg("ADD", 6, 7),
      ...countTo10("head"),
      I.alu64Reg("MOV", 0, 6),
      I.alu64Reg("ADD", 0, 7),
      I.alu64Reg("ADD", 0, 8),
      I.exit(),
      I.label("out"),
      I.alu32Imm("MOV", 0, 1),
      I.exit(),
    ];
    const out = run(items, f);
    const head = out.findIndex((s) => s.startsWith("may_goto"));
    expect(out.slice(head - 2, head)).toEqual(["w2 = 0", "w8 = w8"]);
  });
});
