// The userspace engine's structural check of an object before it runs (issue 17): what the kernel verifier
// refuses outright, whatever the values, is refused here too, so the engine never runs a program the kernel
// would not load and never meets an instruction its interpreter cannot execute (a register 11-15 ended in
// "Cannot mix BigInt and other types"). Per function (the program and each subprogram):
// - every opcode is a valid BPF instruction (with its v4 forms: sdiv/smod, movsx, ldsx, bswap, gotol;
//   atomics; may_goto), with register numbers 0-10, and r10 (the frame pointer) never written;
// - jump targets lie inside the function and never in the second half of an ld_imm64; the last
//   instruction does not fall through; division or modulo by an immediate 0 is refused;
// - calls name a helper or kfunc the engine implements, or a subprogram of the object; ld_imm64 either
//   carries a plain constant or a relocation against a known global (a src_reg map fd without a
//   relocation is a bogus fd);
// - every instruction is reachable from the entry;
// - along all paths, no register is read before it is written (r1 holds ctx, r1-r5 a subprogram's
//   arguments; a call clobbers r1-r5 and sets r0; exit reads r0), and no stack byte is read before it is
//   written in the same call (the stack does not carry over between loop_step calls), with stack accesses
//   inside the 512-byte frame. (The verifier refuses reads of unwritten stack only without CAP_PERFMON:
//   as root they read leftover kernel stack, a result the engine cannot reproduce, so it refuses them.)
// A refusal names the instruction, its disassembly and the TypeScript line.

import { AluOp, AtomicOp, Class, insnClass, isAluClass, isJmpClass, isLdImm64, JmpOp, Mode, modeField, opField, PSEUDO_CALL, PSEUDO_KFUNC_CALL, Size, sizeBytes, sizeField, slotLayout, srcIsReg as srcBitX } from "../../compiler/bpf/decode";
import { formatInsn } from "../../compiler/bpf/disasm";
import type { Insn } from "../../compiler/bpf/insn";
import type { Image } from "./image";
import { ExecutionError } from "./interp";

/** The object would be refused by the kernel verifier for a structural reason (a program error, as a
 *  failed run-time check is: exit 1). */
export class VerifyError extends ExecutionError {
  constructor(
    readonly reason: string,
    readonly func: string,
    insnIndex: number,
    readonly slot: number,
    insn: Insn,
    /** The verifier refuses this only for unprivileged loads; the engine refuses it always (its result
     *  in the kernel depends on leftover memory). */
    readonly privilegedAccepts = false,
  ) {
    super(reason, insnIndex, insn);
    const where = insn.pos ? ` at ${insn.pos.file}:${insn.pos.line}: ${insn.pos.text.trim()}` : "";
    let text: string;
    try {
      text = formatInsn(insn, slot);
    } catch {
      text = `.insn 0x${insn.opcode.toString(16)}`;
    }
    this.message = `${privilegedAccepts ? "the engine refuses to run" : "the kernel verifier would refuse"} ${func}: ${reason} (instruction ${insnIndex}, slot ${slot}: ${text}${where})`;
  }
}

export interface VerifyOptions {
  /** Helper ids the engine implements. */
  helpers: Iterable<number>;
  /** Kfunc names the engine implements. */
  kfuncs: Iterable<string>;
}

/** Check the program `prog` and every subprogram of the image; throws VerifyError. */
export function verifyImage(img: Image, prog: string, opts: VerifyOptions): void {
  // An image already checked for this program against the same helpers and kfuncs passes again (the
  // driver reuses the image of an object run again: runtime/engine/driver.ts imageOf).
  const key = `${prog}\0${[...opts.helpers].sort((a, b) => a - b).join(",")}\0${[...opts.kfuncs].sort().join(",")}`;
  let passed = verified.get(img);
  if (passed?.has(key)) return;
  verifyImageOnce(img, prog, opts);
  if (!passed) verified.set(img, (passed = new Set()));
  passed.add(key);
}

const verified = new WeakMap<Image, Set<string>>();

function verifyImageOnce(img: Image, prog: string, opts: VerifyOptions): void {
  const globals = new Set(img.globals.map((g) => g.name));
  // Objects (globals, maps) and functions (a bpf_loop callback's ld_imm64) defined in the object.
  const symbols = new Set(img.obj.symbols.filter((s) => (s.type === 1 || s.type === 2) && s.shndx > 0).map((s) => s.name));
  const known = {
    helpers: new Set(opts.helpers),
    kfuncs: new Set(opts.kfuncs),
    subprograms: new Set(img.subprograms.keys()),
    global: (sym: string) => globals.has(sym) || symbols.has(sym) || (sym.startsWith("section:") && img.sections.has(sym.slice(8))),
  };
  verifyFunction(prog, img.programs.get(prog)!, false, known);
  for (const [name, insns] of img.subprograms) verifyFunction(name, insns, true, known);
}

interface Known {
  helpers: Set<number>;
  kfuncs: Set<string>;
  subprograms: Set<string>;
  global: (sym: string) => boolean;
}

/** A register's state in the analysis: not written, a value, or the frame pointer plus a constant. */
type RegState = { k: "uninit" } | { k: "value" } | { k: "fp"; off: number };
const UNINIT: RegState = { k: "uninit" };
const VALUE: RegState = { k: "value" };

interface State {
  regs: RegState[];
  /** Bit i set: stack byte (512 - 512 + i), i.e. fp - 512 + i, has been written. */
  stack: bigint;
}

function joinReg(a: RegState, b: RegState): RegState {
  if (a.k === "uninit" || b.k === "uninit") return UNINIT;
  if (a.k === "fp" && b.k === "fp" && a.off === b.off) return a;
  return VALUE;
}

function sameReg(a: RegState, b: RegState): boolean {
  return a.k === b.k && (a.k !== "fp" || a.off === (b as { off: number }).off);
}

export function verifyFunction(name: string, insns: Insn[], isSub: boolean, known: Known): void {
  if (!insns.length) throw new Error(`the kernel verifier would refuse ${name}: the function has no instructions`);
  const { slotOf, indexAt: idxAt, total } = slotLayout(insns);
  const fail = (i: number, reason: string, privilegedAccepts = false): never => {
    throw new VerifyError(reason, name, i, slotOf[i], insns[i], privilegedAccepts);
  };
  // Pass 1: each instruction on its own; successors.
  const succ: number[][] = [];
  for (let i = 0; i < insns.length; i++) {
    const ins = insns[i];
    const cls = insnClass(ins.opcode);
    const op = opField(ins.opcode);
    if (ins.dst > 10) fail(i, `invalid register r${ins.dst} (dst_reg; registers are r0-r10)`);
    const srcIsReg = cls === Class.LDX || cls === Class.STX || ((isAluClass(cls) || (isJmpClass(cls) && op !== JmpOp.CALL && op !== JmpOp.EXIT && op !== JmpOp.JA && op !== JmpOp.JCOND)) && srcBitX(ins.opcode));
    if (srcIsReg && ins.src > 10) fail(i, `invalid register r${ins.src} (src_reg; registers are r0-r10)`);
    const jumpTarget = (off: number): number => {
      const t = slotOf[i] + 1 + off;
      if (t < 0 || t >= total) fail(i, `jump out of range (to slot ${t}; the function has slots 0-${total - 1})`);
      const ti = idxAt.get(t);
      if (ti === undefined) fail(i, `jump into the middle of an ld_imm64 (slot ${t})`);
      return ti!;
    };
    const next = () => {
      if (i + 1 >= insns.length) fail(i, "the last instruction falls through (it must be an exit or a jump)");
      return i + 1;
    };
    if (isAluClass(cls)) {
      const wide = cls === Class.ALU64;
      const k = !srcBitX(ins.opcode);
      if (op > AluOp.END) fail(i, `invalid ALU opcode 0x${ins.opcode.toString(16)}`);
      if (op === AluOp.END) {
        if (![16, 32, 64].includes(ins.imm)) fail(i, `invalid byte swap width ${ins.imm} (16, 32 or 64)`);
        if (wide && !k) fail(i, "invalid ALU64 byte swap with the source bit set");
        if (ins.src !== 0 || ins.off !== 0) fail(i, "reserved fields of a byte swap are not zero");
      } else if (op === AluOp.NEG) {
        if (!k || ins.src !== 0 || ins.off !== 0 || ins.imm !== 0) fail(i, "reserved fields of a negation are not zero");
      } else if (op === AluOp.DIV || op === AluOp.MOD) {
        if (ins.off !== 0 && ins.off !== 1) fail(i, `invalid offset ${ins.off} of a division (0 unsigned, 1 signed)`);
        if (k && ins.imm === 0) fail(i, "division by zero");
      } else if (op === AluOp.MOV) {
        const sx = wide ? [0, 8, 16, 32] : [0, 8, 16];
        if (!sx.includes(ins.off)) fail(i, `invalid sign-extension width ${ins.off} of a move`);
        if (k && ins.off !== 0) fail(i, "a sign-extending move needs a register source");
      } else if (ins.off !== 0) fail(i, "reserved offset field of an ALU instruction is not zero");
      if (k && ins.src !== 0 && op !== AluOp.END) fail(i, "reserved src_reg field of an immediate ALU instruction is not zero");
      if ((op === AluOp.LSH || op === AluOp.RSH || op === AluOp.ARSH) && k && (ins.imm < 0 || ins.imm >= (wide ? 64 : 32))) fail(i, `invalid shift ${ins.imm}`);
      if (ins.dst === 10) fail(i, "frame pointer is read only (r10 written)");
      succ.push([next()]);
    } else if (isJmpClass(cls)) {
      if (op === JmpOp.EXIT) {
        if (cls !== Class.JMP) fail(i, "invalid JMP32 exit");
        succ.push([]);
      } else if (op === JmpOp.CALL) {
        if (cls !== Class.JMP) fail(i, "invalid JMP32 call");
        if (ins.src === PSEUDO_CALL) {
          if (!ins.reloc || !known.subprograms.has(ins.reloc.symbol)) fail(i, `call of an unknown subprogram ${ins.reloc?.symbol ?? `at pc+${ins.imm}`}`);
        } else if (ins.src === PSEUDO_KFUNC_CALL) {
          if (ins.reloc?.kind !== "kfunc" || !known.kfuncs.has(ins.reloc.symbol)) fail(i, `call of a kfunc the engine does not provide (${ins.reloc?.symbol ?? `btf id ${ins.imm}`})`);
        } else if (ins.src === 0) {
          if (!known.helpers.has(ins.imm)) fail(i, `call of unknown helper ${ins.imm}`);
        } else fail(i, `invalid call (src_reg ${ins.src})`);
        succ.push([next()]);
      } else if (op === JmpOp.JA) {
        // ja (JMP: off) or gotol (JMP32: imm)
        succ.push([jumpTarget(cls === Class.JMP32 ? ins.imm : ins.off)]);
      } else if (op === JmpOp.JCOND) {
        if (cls !== Class.JMP || ins.src !== 0 || ins.imm !== 0) fail(i, "invalid may_goto (JCOND)");
        succ.push([jumpTarget(ins.off), next()]);
      } else if (op > JmpOp.JCOND) {
        fail(i, `invalid jump opcode 0x${ins.opcode.toString(16)}`);
      } else {
        if (!srcBitX(ins.opcode) && ins.src !== 0) fail(i, "reserved src_reg field of an immediate jump is not zero");
        succ.push([jumpTarget(ins.off), next()]);
      }
    } else if (isLdImm64(ins.opcode)) {
      if (ins.dst === 10) fail(i, "frame pointer is read only (r10 written)");
      if (ins.reloc) {
        if (ins.reloc.kind !== "global" || !known.global(ins.reloc.symbol)) fail(i, `ld_imm64 relocated against an unknown symbol ${ins.reloc.symbol}`);
      } else if (ins.src !== 0) fail(i, `ld_imm64 of a map fd (src_reg ${ins.src}) without a relocation: the fd is bogus`);
      succ.push([next()]);
    } else if (cls === Class.LDX) {
      const mode = modeField(ins.opcode);
      if (mode !== Mode.MEM && !(mode === Mode.MEMSX && sizeField(ins.opcode) !== Size.DW)) fail(i, `invalid load opcode 0x${ins.opcode.toString(16)}`);
      if (ins.imm !== 0) fail(i, "reserved imm field of a load is not zero");
      if (ins.dst === 10) fail(i, "frame pointer is read only (r10 written)");
      succ.push([next()]);
    } else if (cls === Class.ST || cls === Class.STX) {
      const mode = modeField(ins.opcode);
      if (cls === Class.STX && mode === Mode.ATOMIC) {
        const sz = sizeField(ins.opcode);
        const { ADD, OR, AND, XOR, FETCH, XCHG, CMPXCHG, LOAD_ACQ, STORE_REL } = AtomicOp;
        const okImm = [ADD, ADD | FETCH, OR, OR | FETCH, AND, AND | FETCH, XOR, XOR | FETCH, XCHG, CMPXCHG].includes(ins.imm);
        // Load-acquire and store-release, Linux 6.15+: every size.
        const ordered = ins.imm === LOAD_ACQ || ins.imm === STORE_REL;
        if (ordered && ins.imm === LOAD_ACQ && ins.dst === 10) fail(i, "frame pointer is read only (r10 written)");
        if (!ordered && ((sz !== Size.W && sz !== Size.DW) || !okImm)) fail(i, `invalid atomic operation 0x${ins.imm.toString(16)}`);
      } else if (mode !== Mode.MEM) fail(i, `invalid store opcode 0x${ins.opcode.toString(16)}`);
      if (cls === Class.ST && ins.src !== 0) fail(i, "reserved src_reg field of a store is not zero");
      if (cls === Class.STX && mode === Mode.MEM && ins.imm !== 0) fail(i, "reserved imm field of a store is not zero");
      succ.push([next()]);
    } else fail(i, `invalid opcode 0x${ins.opcode.toString(16)}`);
  }

  // Every instruction reachable from the entry (the verifier refuses dead code: "unreachable insn").
  const reached = new Uint8Array(insns.length);
  const todo = [0];
  reached[0] = 1;
  while (todo.length) for (const t of succ[todo.pop()!]) if (!reached[t]) (reached[t] = 1), todo.push(t);
  const dead = reached.indexOf(0);
  if (dead >= 0) fail(dead, "unreachable instruction");

  // Pass 2: registers and stack bytes written before they are read, along all paths (a forward
  // must-be-written analysis: a state at an instruction is the meet of its predecessors' states).
  const entry: State = { regs: Array.from({ length: 11 }, (_, r) => (r === 10 ? ({ k: "fp", off: 0 } as RegState) : r === 1 || (isSub && r >= 1 && r <= 5) ? VALUE : UNINIT)), stack: 0n };
  const states: (State | undefined)[] = new Array(insns.length);
  states[0] = entry;
  const work = [0];
  const queued = new Set([0]);
  while (work.length) {
    const i = work.pop()!;
    queued.delete(i);
    const s = states[i]!;
    const out = transfer(i, s);
    for (const t of succ[i]) {
      const cur = states[t];
      let changed = false;
      if (!cur) {
        states[t] = { regs: out.regs.slice(), stack: out.stack };
        changed = true;
      } else {
        const stack = cur.stack & out.stack;
        if (stack !== cur.stack) changed = true;
        const regs = cur.regs.map((r, k) => {
          const j = joinReg(r, out.regs[k]);
          if (!sameReg(j, r)) changed = true;
          return j;
        });
        states[t] = { regs, stack };
      }
      if (changed && !queued.has(t)) {
        queued.add(t);
        work.push(t);
      }
    }
  }

  function transfer(i: number, s: State): State {
    const ins = insns[i];
    const cls = insnClass(ins.opcode);
    const op = opField(ins.opcode);
    const regs = s.regs.slice();
    let stack = s.stack;
    const use = (r: number, what: string) => {
      if (regs[r].k === "uninit") fail(i, `R${r} !read_ok: r${r} is read before it is written on some path (${what})`);
    };
    const stackAccess = (base: number, off: number, size: number, write: boolean) => {
      const st = regs[base];
      if (st.k !== "fp") return;
      const lo = st.off + off;
      if (lo < -512 || lo + size > 0) fail(i, `invalid stack access at fp${lo} (${size} bytes; the stack is fp-512 to fp-1)`);
      const mask = ((1n << BigInt(size)) - 1n) << BigInt(lo + 512);
      if (write) stack |= mask;
      else if ((stack & mask) !== mask)
        fail(
          i,
          `invalid read from stack at fp${lo} (${size} bytes): not written before on some path in this call (the stack does not carry over between loop_step calls; the verifier refuses this read without CAP_PERFMON, and with it, as the root loader runs, the program reads whatever the kernel's stack holds)`,
          true,
        );
    };
    if (isAluClass(cls)) {
      const k = !srcBitX(ins.opcode);
      if (op !== AluOp.MOV) use(ins.dst, "the destination of an ALU operation");
      if (!k && op !== AluOp.END && op !== AluOp.NEG) use(ins.src, "the source of an ALU operation");
      const d = regs[ins.dst];
      if (cls === Class.ALU64 && op === AluOp.MOV && !k && ins.off === 0) regs[ins.dst] = regs[ins.src];
      else if (cls === Class.ALU64 && d.k === "fp" && k && (op === AluOp.ADD || op === AluOp.SUB)) regs[ins.dst] = { k: "fp", off: d.off + (op === AluOp.ADD ? ins.imm : -ins.imm) };
      else regs[ins.dst] = VALUE;
    } else if (isJmpClass(cls)) {
      if (op === JmpOp.EXIT) use(0, "the return value at exit");
      else if (op === JmpOp.CALL) {
        if (ins.src === PSEUDO_KFUNC_CALL && ins.reloc?.symbol === "bpf_iter_num_new" && regs[1].k === "fp") stackAccess(1, 0, 8, true);
        for (let r = 1; r <= 5; r++) regs[r] = UNINIT;
        regs[0] = VALUE;
      } else if (op !== JmpOp.JA && op !== JmpOp.JCOND) {
        use(ins.dst, "a jump condition");
        if (srcBitX(ins.opcode)) use(ins.src, "a jump condition");
      }
    } else if (isLdImm64(ins.opcode)) {
      regs[ins.dst] = VALUE;
    } else if (cls === Class.LDX) {
      use(ins.src, "the address of a load");
      stackAccess(ins.src, ins.off, sizeBytes(ins.opcode), false);
      regs[ins.dst] = VALUE;
    } else if (cls === Class.ST) {
      use(ins.dst, "the address of a store");
      stackAccess(ins.dst, ins.off, sizeBytes(ins.opcode), true);
    } else if (cls === Class.STX && modeField(ins.opcode) === Mode.ATOMIC && ins.imm === AtomicOp.LOAD_ACQ) {
      // load_acquire: dst = *(src + off)
      use(ins.src, "the address of a load-acquire");
      stackAccess(ins.src, ins.off, sizeBytes(ins.opcode), false);
      regs[ins.dst] = VALUE;
    } else if (cls === Class.STX) {
      use(ins.dst, "the address of a store");
      use(ins.src, "the value stored");
      const size = sizeBytes(ins.opcode);
      const atomic = modeField(ins.opcode) === Mode.ATOMIC;
      if (atomic && ins.imm === AtomicOp.STORE_REL) stackAccess(ins.dst, ins.off, size, true);
      else if (atomic) {
        // An atomic read-modify-write reads the memory first.
        stackAccess(ins.dst, ins.off, size, false);
        if (ins.imm === AtomicOp.CMPXCHG) use(0, "the expected value of a cmpxchg");
        if (ins.imm & AtomicOp.FETCH) regs[ins.imm === AtomicOp.CMPXCHG ? 0 : ins.src] = VALUE;
      } else stackAccess(ins.dst, ins.off, size, true);
    }
    return { regs, stack };
  }
}
