// Instruction selection and emission: IR with allocated registers to BPF instructions. 32-bit values use
// ALU32/JMP32 (so the verifier keeps their bounds), 64-bit values and pointers ALU64/JMP. Calls move their
// arguments into r1-r5 as a parallel move; blocks are laid out in order with fall-through, inverting
// branches where that saves a jump. The IR arrives optimized and out of SSA form (compiler/opt/).

import { countSlots, insnClass } from "../bpf/decode";
import * as I from "../bpf/insn";
import type { Insn, InsnOrLabel, JmpOpName, Reg } from "../bpf/insn";
import { isImm, type AtomicSpec, type Block, type IrFunction, type IrInsn, type Operand, type Terminator, type VReg } from "../ir/ir";
import { cloneFunction } from "../ir/clone";
import { steadyLoopHeads, type EmitFacts } from "./loopheads";
import { peephole } from "./peephole";
import { allocate, FP, LINEAR_SCAN_ABOVE, type Allocation, type Priority } from "./regalloc";

const INVERT: Record<JmpOpName, JmpOpName> = {
  JEQ: "JNE", JNE: "JEQ", JGT: "JLE", JLE: "JGT", JGE: "JLT", JLT: "JGE",
  JSGT: "JSLE", JSLE: "JSGT", JSGE: "JSLT", JSLT: "JSGE", JSET: "JSET", JA: "JA",
};
const COMMUTATIVE = new Set(["ADD", "MUL", "AND", "OR", "XOR"]);
const RESULT: VReg = { id: -3, width: 64, ptr: false, name: "r0" };


/** The result of code generation for one function. */
export interface FunctionCode {
  insns: Insn[];
  stackSize: number;
  /** What the stack holds: spilled values by source name, stack objects (iterators), scratch. */
  stackUse: { spilled: string[]; objects: number; scratch: number };
}

/** Generate BPF instructions for an IR function. Throws StackOverflow when the frame exceeds 512 bytes. */
export function generate(fn: IrFunction, allocator: "auto" | "linear" = "auto"): FunctionCode {
  // Allocate with both priorities (on copies: spilling rewrites the function) and keep the smaller code;
  // large functions get linear scan once.
  let values = 0;
  for (const b of fn.blocks) values += b.insns.length;
  const priorities: Priority[] = allocator === "linear" || values > LINEAR_SCAN_ABOVE ? ["linear"] : ["cost", "chaitin"];
  // Each colouring order with and without coalescing of copies (coalescing can cost a spill); the
  // "cost" order also with a look-ahead at copy partners (the "chaitin" order never won with it on the
  // fixtures and samples, and each try costs compile time).
  const tries = priorities.flatMap((p) => (p === "linear" ? [[false, false]] : p === "chaitin" ? [[false, false], [true, false]] : [[false, false], [true, false], [false, true], [true, true]]).map(([co, ahead]) => {
    const copy = cloneFunction(fn);
    return emitFunction(copy, allocate(copy, p, co, ahead));
  }));
  const size = (c: FunctionCode) => (c.stackSize > 512 ? 1e9 : 0) + countSlots(c.insns) + c.stackSize / 64;
  return tries.reduce((a, b) => (size(b) < size(a) ? b : a));
}

function emitFunction(fn: IrFunction, alloc: Allocation): FunctionCode {
  const scratchSlot = alloc.stackSize + 8;
  let usedScratch = false;
  // Fixed registers: r10 for the frame pointer, r1 for the context argument, r0 for call results.
  const R = (v: { id: number }): Reg => {
    if (v.id === FP.id) return 10;
    if (v.id === RESULT.id) return 0;
    const r = alloc.reg.get(v.id);
    if (r === undefined) throw new Error(`internal: no register for %${v.id} in ${fn.name}`);
    return r;
  };
  const out: InsnOrLabel[] = [];
  // What the loop-head pass needs to know of the emitted instructions (see loopheads.ts).
  const facts: EmitFacts = { argc: new WeakMap(), ptr: new WeakMap() };
  const tagFrom = (start: number, dst: Reg | undefined, ptr: boolean) => {
    for (let k = start; k < out.length; k++) {
      const x = out[k];
      if (!I.isLabel(x) && x.dst === dst && insnClass(x.opcode) !== I.Class.STX && insnClass(x.opcode) !== I.Class.ST && insnClass(x.opcode) !== I.Class.JMP) facts.ptr.set(x, ptr);
    }
  };
  let pos: I.SourcePos | undefined;
  const put = (insn: Insn) => {
    if (pos) insn.pos = pos;
    out.push(insn);
  };
  const movImm = (dst: Reg, v: bigint, width: 32 | 64) => {
    if (width === 32) put(I.alu32Imm("MOV", dst, Number(BigInt.asIntN(32, v))));
    else if (BigInt.asIntN(64, v) === BigInt.asIntN(32, v)) put(I.alu64Imm("MOV", dst, Number(BigInt.asIntN(32, v))));
    else put(I.ldImm64(dst, v));
  };
  const movOp = (dst: Reg, src: Operand, width: 32 | 64, srcWidth: 32 | 64 = width) => {
    if (isImm(src)) return movImm(dst, src.imm, width);
    const s = R(src.reg);
    if (s === dst && (width === 64 || srcWidth === 32)) return;
    put(width === 32 ? I.alu32Reg("MOV", dst, s) : I.alu64Reg("MOV", dst, s));
  };
  const label = (b: Block) => `b${b.id}`;

  const emitInsn = (it: IrInsn) => {
    const start = out.length;
    emitInsnAt(it);
    if (it.op === "call") {
      for (let k = start; k < out.length; k++) {
        const x = out[k];
        if (!I.isLabel(x) && x.opcode === (I.Class.JMP | I.JmpOp.CALL)) {
          facts.argc.set(x, it.args.length);
          facts.ptr.set(x, !!it.dst?.ptr);
        }
      }
    }
    const dst = (it as { dst?: VReg }).dst;
    if (dst && it.op !== "call") tagFrom(start, R(dst), dst.ptr);
    else if (dst) tagFrom(out.length - 1, R(dst), dst.ptr);
  };
  const emitInsnAt = (it: IrInsn) => {
    switch (it.op) {
      case "mov": return movOp(R(it.dst), it.src, it.dst.width, isImm(it.src) ? it.dst.width : it.src.reg.width);
      case "neg": {
        movOp(R(it.dst), it.a, it.width);
        return put(it.width === 32 ? I.neg32(R(it.dst)) : I.neg64(R(it.dst)));
      }
      case "alu": {
        let a = it.a;
        let b = it.b;
        const d = R(it.dst);
        if (isImm(a) && COMMUTATIVE.has(it.alu)) [a, b] = [b, a];
        if (!isImm(b) && R(b.reg) === d && !(!isImm(a) && R(a.reg) === d)) {
          if (!COMMUTATIVE.has(it.alu)) throw new Error("internal: non-commutative operand clobbered");
          [a, b] = [b, a];
        }
        movOp(d, a, it.width);
        if (isImm(b)) {
          const imm = Number(BigInt.asIntN(32, b.imm));
          if (imm === 0 && (it.alu === "DIV" || it.alu === "MOD" || it.alu === "SDIV" || it.alu === "SMOD")) throw new Error(`internal: a division by a constant 0 in ${fn.name} (the verifier refuses it)`);
          if (it.alu === "SDIV" || it.alu === "SMOD") return put(I.signedDivMod(it.alu === "SDIV" ? "DIV" : "MOD", it.width === 64, d, { imm }));
          return put(it.width === 32 ? I.alu32Imm(it.alu, d, imm) : I.alu64Imm(it.alu, d, imm));
        }
        if (it.alu === "SDIV" || it.alu === "SMOD") return put(I.signedDivMod(it.alu === "SDIV" ? "DIV" : "MOD", it.width === 64, d, R(b.reg)));
        return put(it.width === 32 ? I.alu32Reg(it.alu, d, R(b.reg)) : I.alu64Reg(it.alu, d, R(b.reg)));
      }
      case "phi": throw new Error(`internal: a phi reached code generation in ${fn.name}`);
      case "load": return put(I.ldx(it.size, R(it.dst), R(it.base), it.off));
      case "store":
        if (isImm(it.src)) return put(I.st(it.size, R(it.base), it.off, Number(BigInt.asIntN(32, it.src.imm))));
        return put(I.stx(it.size, R(it.base), it.off, R(it.src.reg)));
      case "addr": return put(I.ldGlobalAddr(R(it.dst), it.symbol, it.offset));
      case "stackaddr": {
        const objs = fn.stackObjects ?? [];
        let off = 0;
        for (let k = 0; k <= it.slot; k++) off += Math.ceil(objs[k] / 8) * 8;
        put(I.alu64Reg("MOV", R(it.dst), 10));
        return put(I.alu64Imm("ADD", R(it.dst), -off));
      }
      case "call": {
        parallelMove(it.args);
        if (it.kind === "atomic") {
          emitAtomic(it.atomic!);
          if (it.dst) movOp(R(it.dst), { reg: RESULT }, it.dst.width, 64);
          return;
        }
        put(it.kind === "kfunc" ? I.callKfunc(it.name) : it.kind === "subprog" ? I.callSubprog(it.name) : I.callHelper(it.helperId!));
        if (it.dst) movOp(R(it.dst), { reg: RESULT }, it.dst.width, 64);
        return;
      }
    }
  };

  // BPF_ATOMIC with the address in r1 and the operands in r2 (r3): the result goes to r0.
  const emitAtomic = (a: AtomicSpec) => {
    const { imm, size, off } = a;
    if (imm === I.AtomicOp.LOAD_ACQ) return put(I.loadAcquire(size, 0, 1, off));
    if (imm === I.AtomicOp.STORE_REL) return put(I.storeRelease(size, 1, off, 2));
    const wide = size === "DW" ? "DW" : "W";
    if (imm === I.AtomicOp.CMPXCHG) {
      put(I.alu64Reg("MOV", 0, 2));
      return put(I.atomic(wide, imm, 1, off, 3));
    }
    put(I.atomic(wide, imm, 1, off, 2));
    if (imm & I.AtomicOp.FETCH) put(I.alu64Reg("MOV", 0, 2));
  };

  // Register-to-register moves that happen at once (call arguments into r1-r5, incoming arguments out of
  // them): emit moves whose destination no pending move still reads; break cycles through a stack slot.
  const parallelMoves = (moves: { dst: Reg; src: Reg }[]) => {
    const pending: { dst: Reg; src: Reg | "scratch" }[] = moves.filter((m) => m.dst !== m.src);
    while (pending.length) {
      const idx = pending.findIndex((m) => !pending.some((o) => o !== m && o.src === m.dst));
      if (idx >= 0) {
        const m = pending.splice(idx, 1)[0];
        if (m.src === "scratch") put(I.ldx("DW", m.dst, 10, -scratchSlot));
        else put(I.alu64Reg("MOV", m.dst, m.src));
        continue;
      }
      const m = pending[0];
      put(I.stx("DW", 10, -scratchSlot, m.src as Reg));
      usedScratch = true;
      m.src = "scratch";
    }
  };
  const parallelMove = (args: Operand[]) => {
    parallelMoves(args.flatMap((a, i) => (isImm(a) ? [] : [{ dst: (i + 1) as Reg, src: R(a.reg) }])));
    args.forEach((a, i) => {
      if (isImm(a)) movImm((i + 1) as Reg, a.imm, 64);
    });
  };

  const blocks = fn.blocks;
  blocks.forEach((b, bi) => {
    out.push(I.label(label(b)));
    // The incoming arguments are read all at once.
    const params = b.insns.filter((it) => it.op === "param");
    if (params.length) {
      pos = params[0].pos;
      const start = out.length;
      parallelMoves(params.map((it) => ({ dst: R(it.dst), src: ((it as { index: number }).index + 1) as Reg })));
      for (const it of params) tagFrom(start, R(it.dst), it.dst.ptr);
    }
    for (const it of b.insns) {
      if (it.op === "param") continue;
      pos = it.pos;
      emitInsn(it);
    }
    const t = b.term as Terminator;
    pos = t.pos;
    const next = blocks[bi + 1];
    if (t.op === "jmp") {
      if (t.target !== next) put(I.ja(label(t.target)));
    } else if (t.op === "maygoto") {
      put(I.mayGoto(label(t.exhausted)));
      if (t.next !== next) put(I.ja(label(t.next)));
    } else if (t.op === "ret") {
      movOp(0, t.value, t.width ?? 32);
      put(I.exit());
    } else {
      const wide = t.width === 64;
      const cond = (op: JmpOpName, target: Block) =>
        isImm(t.b) ? put(I.jmpImm(op, R(t.a), Number(BigInt.asIntN(32, t.b.imm)), label(target), wide)) : put(I.jmpReg(op, R(t.a), R(t.b.reg), label(target), wide));
      if (t.then === next) cond(INVERT[t.cmp], t.else);
      else {
        cond(t.cmp, t.then);
        if (t.else !== next) put(I.ja(label(t.else)));
      }
    }
  });
  const insns = I.resolveLabels(steadyLoopHeads(peephole(out), facts, new Map([[10, "P"]])));
  const objects = (fn.stackObjects ?? []).reduce((n, s) => n + Math.ceil(s / 8) * 8, 0);
  return { insns, stackSize: alloc.stackSize + (usedScratch ? 8 : 0), stackUse: { spilled: alloc.spilledNames, objects, scratch: usedScratch ? 8 : 0 } };
}

