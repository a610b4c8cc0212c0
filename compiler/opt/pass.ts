// What the passes share: the pass interface and its context, BPF's arithmetic evaluated at a register
// width (so folded results are the bits the instructions would compute, and never grow past 64 bits),
// which immediates an instruction can hold, and rewriting of every use of a value.

import type { JmpOpName } from "../bpf/insn";
import { def, isImm, mapUses, type IrAluOp, type IrFunction, type IrInsn, type Operand, type Terminator, type VReg, type Width } from "../ir/ir";

/** What a pass may know beyond the function: the globals that never change while a program runs. */
export interface PassContext {
  /** Symbols in .rodata (config values, ring geometry, strings): loads from them are never invalidated. */
  readonly readOnly: ReadonlySet<string>;
}

export interface Pass {
  /** The name `--print-after` takes. */
  readonly name: string;
  /** One line for `--help` and docs. */
  readonly what: string;
  run(fn: IrFunction, cx: PassContext): void;
}

/** The bits of `v` as an unsigned value of `width` bits. */
export function bits(v: bigint, width: number): bigint {
  return BigInt.asUintN(width, v);
}

/** The canonical immediate of a `width`-bit value (sign-extended, as dumps and encoders expect). */
export function canon(v: bigint, width: number): bigint {
  return BigInt.asIntN(width, v);
}

/** Whether an ALU64/JMP/ST.DW immediate (32 bits, sign-extended by the CPU) holds the 64-bit value. */
export function fitsImm32(v: bigint): boolean {
  return BigInt.asIntN(64, v) === BigInt.asIntN(32, v);
}

/** BPF's result of `a OP b` at `width` bits (x / 0 = 0, x % 0 = x, shift counts taken modulo the width). */
export function evalAlu(op: IrAluOp, width: Width, a: bigint, b: bigint): bigint | undefined {
  const x = bits(a, width);
  const y = bits(b, width);
  const sh = y & BigInt(width - 1);
  let r: bigint;
  switch (op) {
    case "ADD": r = x + y; break;
    case "SUB": r = x - y; break;
    case "MUL": r = x * y; break;
    case "DIV": r = y === 0n ? 0n : x / y; break;
    case "MOD": r = y === 0n ? x : x % y; break;
    // BigInt division truncates towards zero, as sdiv does; MIN s/ -1 wraps to MIN (canon below).
    case "SDIV": r = y === 0n ? 0n : BigInt.asIntN(width, x) / BigInt.asIntN(width, y); break;
    case "SMOD": r = y === 0n ? x : BigInt.asIntN(width, x) % BigInt.asIntN(width, y); break;
    case "OR": r = x | y; break;
    case "AND": r = x & y; break;
    case "XOR": r = x ^ y; break;
    case "LSH": r = x << sh; break;
    case "RSH": r = x >> sh; break;
    case "ARSH": r = BigInt.asIntN(width, x) >> sh; break;
    default: return undefined;
  }
  return canon(r, width);
}

/** Whether the branch `a CMP b` at `width` bits is taken. */
export function evalCmp(cmp: JmpOpName, width: Width, a: bigint, b: bigint): boolean {
  const x = bits(a, width);
  const y = bits(b, width);
  const sx = BigInt.asIntN(width, a);
  const sy = BigInt.asIntN(width, b);
  switch (cmp) {
    case "JEQ": return x === y;
    case "JNE": return x !== y;
    case "JGT": return x > y;
    case "JGE": return x >= y;
    case "JLT": return x < y;
    case "JLE": return x <= y;
    case "JSGT": return sx > sy;
    case "JSGE": return sx >= sy;
    case "JSLT": return sx < sy;
    case "JSLE": return sx <= sy;
    case "JSET": return (x & y) !== 0n;
    case "JA": return true;
  }
}

/** The comparison with its operands swapped (a < b is b > a). */
export const SWAP_CMP: Record<JmpOpName, JmpOpName> = {
  JEQ: "JEQ", JNE: "JNE", JGT: "JLT", JLT: "JGT", JGE: "JLE", JLE: "JGE",
  JSGT: "JSLT", JSLT: "JSGT", JSGE: "JSLE", JSLE: "JSGE", JSET: "JSET", JA: "JA",
};

/** The definition of every value (the function is in SSA form: one each). */
export function definitions(fn: IrFunction): Map<number, IrInsn> {
  const m = new Map<number, IrInsn>();
  for (const b of fn.blocks) for (const i of b.insns) {
    const d = def(i);
    if (d) m.set(d.id, i);
  }
  return m;
}

/** Replace every use of the values in `map` (resolving chains) throughout the function. */
export function replaceUses(fn: IrFunction, map: Map<number, Operand>): void {
  if (map.size === 0) return;
  const resolve = (r: VReg): Operand | undefined => {
    let o: Operand | undefined = map.get(r.id);
    if (!o) return undefined;
    for (let n = 0; !isImm(o) && map.has(o.reg.id) && n < 1000; n++) o = map.get(o.reg.id)!;
    return o;
  };
  const all: (IrInsn | Terminator)[] = [];
  for (const b of fn.blocks) {
    all.push(...b.insns);
    if (b.term) all.push(b.term);
  }
  for (const i of all) mapUses(i, resolve);
}

/** Whether a copy `dst = src` can be dropped in favour of `src`: the same bits at dst's width. A 32-bit
 *  source in a 64-bit destination is the same (32-bit values are kept zero-extended); the other way
 *  round the copy truncates. */
export function sameValue(dst: VReg, src: VReg): boolean {
  return dst.width === src.width || (src.width === 32 && dst.width === 64);
}
