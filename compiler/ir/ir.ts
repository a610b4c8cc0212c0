// The typed intermediate representation between the front end and BPF code generation: a function is a
// list of basic blocks of three-address instructions over virtual registers. Each virtual register has a
// width (32 or 64 bits) that picks ALU32/JMP32 or ALU64/JMP instructions; the front end has already chosen
// signed or unsigned operations and inserted the conversions C's rules call for.
//
// The front end assigns locals more than once; the `ssa` pass (compiler/opt/ssa.ts) renames them so every
// virtual register has one definition, with `phi` instructions at joins, and `out-of-ssa` turns the phis
// back into copies before register allocation. The passes between rely on single definitions.

import type { AluOpName, JmpOpName, SizeName, SourcePos } from "../bpf/insn";

export type Width = 32 | 64;

/** ALU operations of the IR: BPF's, and cpu v4's signed division and remainder (DIV/MOD with off = 1;
 *  the result's sign is the C one: truncated towards zero, x s/ 0 = 0, x s% 0 = x). */
export type IrAluOp = AluOpName | "SDIV" | "SMOD";

/** A virtual register. `ptr` registers hold pointers (always 64-bit). */
export interface VReg {
  id: number;
  width: Width;
  ptr: boolean;
  /** The source name, for readable dumps. */
  name?: string;
}

/** An operand: a virtual register or an immediate (two's complement bits, width of the operation). */
export type Operand = { reg: VReg } | { imm: bigint };

export function isImm(o: Operand): o is { imm: bigint } {
  return (o as { imm: bigint }).imm !== undefined;
}

/** A BPF_ATOMIC access: the operation (imm, see AtomicOp in bpf/insn.ts), size and offset from the address. */
export interface AtomicSpec {
  imm: number;
  size: SizeName;
  off: number;
}

/** Common metadata on every instruction. */
export interface Meta {
  pos?: SourcePos;
  /** Loop nesting depth, for spill costs. */
  depth: number;
  /** Kept exactly as written: no pass folds, shares or forwards it (what the verifier sees of it matters,
   *  e.g. the loop lowering's laundering `v ^= zero`, whose result must be a fresh unknown to it). */
  opaque?: boolean;
}

export type IrInsn =
  /** dst = src (mov32 or mov64 by dst width; a 32-bit mov zero-extends). */
  | ({ op: "mov"; dst: VReg; src: Operand } & Meta)
  /** dst = a OP b at the given width. */
  | ({ op: "alu"; alu: IrAluOp; width: Width; dst: VReg; a: Operand; b: Operand } & Meta)
  /** dst = -a */
  | ({ op: "neg"; width: Width; dst: VReg; a: Operand } & Meta)
  /** dst = *(size *)(base + off) */
  | ({ op: "load"; dst: VReg; base: VReg; off: number; size: SizeName } & Meta)
  /** *(size *)(base + off) = src */
  | ({ op: "store"; base: VReg; off: number; size: SizeName; src: Operand } & Meta)
  /** dst = &global + offset */
  | ({ op: "addr"; dst: VReg; symbol: string; offset: number } & Meta)
  /** dst = the address of stack object `slot` (r10 - its offset) */
  | ({ op: "stackaddr"; dst: VReg; slot: number } & Meta)
  /** call a kfunc or helper; args go to r1..r5, the result (if any) comes from r0. kind "atomic" is a
   *  BPF_ATOMIC instruction with the calling convention (args: address, then the operands; result in r0;
   *  r1-r5 clobbered), so every pass treats it like the side-effecting call it resembles. */
  | ({ op: "call"; kind: "kfunc" | "helper" | "subprog" | "atomic"; name: string; helperId?: number; atomic?: AtomicSpec; args: Operand[]; dst?: VReg } & Meta)
  /** dst = argument `index` (r1 + index at entry). Only at the start of the entry block. */
  | ({ op: "param"; dst: VReg; index: number } & Meta)
  /** SSA join: dst = the value of the argument whose block the control came from. Phis come first in
   *  their block, one argument per predecessor. */
  | ({ op: "phi"; dst: VReg; args: PhiArg[] } & Meta);

export interface PhiArg {
  block: Block;
  value: Operand;
}

export type Terminator =
  | ({ op: "br"; cmp: JmpOpName; width: Width; a: VReg; b: Operand; then: Block; else: Block } & Meta)
  | ({ op: "jmp"; target: Block } & Meta)
  /** The kernel's may_goto: go on to `next` while the function's loop budget lasts, to `exhausted` after. */
  | ({ op: "maygoto"; exhausted: Block; next: Block } & Meta)
  /** `trap`: the exit of a failed run-time check (or a loop's spent budget), where the front end
   *  discards the ring-buffer records still outstanding (frontend/maps.ts). */
  | ({ op: "ret"; value: Operand; width?: Width; trap?: boolean } & Meta);

/** A basic block. */
export interface Block {
  id: number;
  insns: IrInsn[];
  term?: Terminator;
}

/** A function in IR form. */
export interface IrFunction {
  name: string;
  blocks: Block[];
  entry: Block;
  nextVReg: number;
  /** Sizes of the stack objects (e.g. iterators) `stackaddr` refers to, by slot. */
  stackObjects?: number[];
}

/** Successor blocks of a block. */
export function successors(b: Block): Block[] {
  const t = b.term;
  if (!t) return [];
  if (t.op === "br") return [t.then, t.else];
  if (t.op === "jmp") return [t.target];
  if (t.op === "maygoto") return [t.exhausted, t.next];
  return [];
}

/** Replace the successors of a terminator by `f` of each (in place). */
export function mapSuccessors(t: Terminator, f: (b: Block) => Block): void {
  if (t.op === "br") {
    t.then = f(t.then);
    t.else = f(t.else);
  } else if (t.op === "jmp") t.target = f(t.target);
  else if (t.op === "maygoto") {
    t.exhausted = f(t.exhausted);
    t.next = f(t.next);
  }
}

/** Rewrite the virtual registers an instruction or terminator reads: `f` returns the replacement
 *  operand, or undefined to keep the register. Where the instruction needs a register (a base address,
 *  a branch's left side) an immediate replacement is not taken. */
export function mapUses(i: IrInsn | Terminator, f: (r: VReg) => Operand | undefined): void {
  const op = (o: Operand): Operand => (isImm(o) ? o : f(o.reg) ?? o);
  const reg = (r: VReg): VReg => {
    const n = f(r);
    return n && !isImm(n) ? n.reg : r;
  };
  switch (i.op) {
    case "mov": i.src = op(i.src); break;
    case "alu": i.a = op(i.a); i.b = op(i.b); break;
    case "neg": i.a = op(i.a); break;
    case "load": i.base = reg(i.base); break;
    case "store": i.base = reg(i.base); i.src = op(i.src); break;
    case "call": i.args = i.args.map(op); break;
    case "phi": for (const a of i.args) a.value = op(a.value); break;
    case "br": i.a = reg(i.a); i.b = op(i.b); break;
    case "ret": i.value = op(i.value); break;
  }
}

/** Virtual registers an instruction reads. */
export function uses(i: IrInsn | Terminator): VReg[] {
  const r: VReg[] = [];
  const add = (o: Operand | undefined) => {
    if (o && !isImm(o)) r.push(o.reg);
  };
  switch (i.op) {
    case "mov": add(i.src); break;
    case "alu": add(i.a); add(i.b); break;
    case "neg": add(i.a); break;
    case "load": r.push(i.base); break;
    case "store": r.push(i.base); add(i.src); break;
    case "call": i.args.forEach(add); break;
    case "phi": for (const a of i.args) add(a.value); break;
    case "br": r.push(i.a); add(i.b); break;
    case "ret": add(i.value); break;
  }
  return r;
}

/** The virtual register an instruction writes, if any. */
export function def(i: IrInsn | Terminator): VReg | undefined {
  switch (i.op) {
    case "mov": case "alu": case "neg": case "load": case "addr": case "stackaddr": case "param": case "phi": return i.dst;
    case "call": return i.dst;
    default: return undefined;
  }
}

/** A readable dump of a function (for debugging and `--emit ir`). */
export function dumpFunction(f: IrFunction): string {
  const v = (r: VReg) => `%${r.id}${r.name ? "." + r.name : ""}:${r.ptr ? "p" : r.width}`;
  const o = (x: Operand) => (isImm(x) ? String(x.imm) : v(x.reg));
  const lines: string[] = [`function ${f.name}`];
  for (const b of f.blocks) {
    lines.push(`  b${b.id}:`);
    for (const i of b.insns) {
      switch (i.op) {
        case "mov": lines.push(`    ${v(i.dst)} = ${o(i.src)}`); break;
        case "alu": lines.push(`    ${v(i.dst)} = ${i.alu.toLowerCase()}${i.width} ${o(i.a)}, ${o(i.b)}`); break;
        case "neg": lines.push(`    ${v(i.dst)} = neg${i.width} ${o(i.a)}`); break;
        case "load": lines.push(`    ${v(i.dst)} = load.${i.size} [${v(i.base)} + ${i.off}]`); break;
        case "store": lines.push(`    store.${i.size} [${v(i.base)} + ${i.off}] = ${o(i.src)}`); break;
        case "addr": lines.push(`    ${v(i.dst)} = &${i.symbol}+${i.offset}`); break;
        case "stackaddr": lines.push(`    ${v(i.dst)} = &stack${i.slot}`); break;
        case "call": lines.push(`    ${i.dst ? v(i.dst) + " = " : ""}call ${i.name}(${i.args.map(o).join(", ")})`); break;
        case "param": lines.push(`    ${v(i.dst)} = param ${i.index}`); break;
        case "phi": lines.push(`    ${v(i.dst)} = phi ${i.args.map((a) => `[b${a.block.id}: ${o(a.value)}]`).join(", ")}`); break;
      }
    }
    const t = b.term;
    if (t?.op === "br") lines.push(`    br ${t.cmp.toLowerCase()}${t.width} ${v(t.a)}, ${o(t.b)} ? b${t.then.id} : b${t.else.id}`);
    else if (t?.op === "jmp") lines.push(`    jmp b${t.target.id}`);
    else if (t?.op === "maygoto") lines.push(`    maygoto exhausted b${t.exhausted.id}, next b${t.next.id}`);
    else if (t?.op === "ret") lines.push(`    ret ${o(t.value)}`);
  }
  return lines.join("\n");
}
