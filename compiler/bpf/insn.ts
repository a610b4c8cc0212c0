// BPF instruction model: one record per instruction, small builders, and the byte encoder.
// The code generator produces Insn records (jumps may still name labels); `resolveLabels` turns labels into
// offsets and `encode` writes the exact 8- or 16-byte forms. Source positions ride along as metadata so the
// BTF.ext writer can build line_info after layout.

/** Registers r0-r10 (r10 is the read-only frame pointer). */
export type Reg = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10;

import { AluOp, AtomicOp, Class, decodeBytes, insnSlots, isLdImm64, JmpOp, Mode, Opcode, PSEUDO_CALL, PSEUDO_KFUNC_CALL, Size, Src } from "./decode";

// The opcode fields live with the decoder (decode.ts); the encoder builds opcodes from them.
export { AluOp, AtomicOp, Class, JmpOp, Mode, PSEUDO_CALL, PSEUDO_KFUNC_CALL, Size, Src };

export type AluOpName = keyof typeof AluOp;
export type JmpOpName = Exclude<keyof typeof JmpOp, "CALL" | "EXIT" | "JCOND">;
export type SizeName = keyof typeof Size;

/** Byte widths of the memory sizes. */
export const SIZE_BYTES: Record<SizeName, number> = { B: 1, H: 2, W: 4, DW: 8 };

/** A source position carried by an instruction (for line_info and `--emit asm`). */
export interface SourcePos {
  file: string;
  line: number; // 1-based
  col: number; // 1-based
  text: string; // the source line, trimmed of trailing whitespace
}

/** A relocation the object writer must emit for an instruction. */
export interface InsnReloc {
  /** "global": ld_imm64 of a global variable's address; "kfunc": call of an extern kernel function;
   *  "call": BPF-to-BPF call of a subprogram. */
  kind: "global" | "kfunc" | "call";
  symbol: string;
}

/** One BPF instruction. `imm64` is set only for ld_imm64 (which takes two slots). */
export interface Insn {
  opcode: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
  imm64?: bigint;
  /** Jump target label, resolved into `off` (or `imm` for calls) by resolveLabels. */
  label?: string;
  reloc?: InsnReloc;
  pos?: SourcePos;
  /** A comment for the disassembly (e.g. the global's name). */
  comment?: string;
}

/** Number of 8-byte slots an instruction takes. */
export function slots(insn: Insn): number {
  return insnSlots(insn.opcode);
}

function mk(opcode: number, dst: number, src: number, off: number, imm: number): Insn {
  return { opcode, dst, src, off, imm };
}

/** 64-bit ALU, register source: dst = dst op src. */
export function alu64Reg(op: AluOpName, dst: Reg, src: Reg): Insn {
  return mk(Class.ALU64 | AluOp[op] | Src.X, dst, src, 0, 0);
}
/** 64-bit ALU, immediate source (imm is sign-extended to 64 bits by the CPU). */
export function alu64Imm(op: AluOpName, dst: Reg, imm: number): Insn {
  return mk(Class.ALU64 | AluOp[op] | Src.K, dst, 0, 0, imm | 0);
}
/** 32-bit ALU, register source (upper 32 bits of dst are zeroed). */
export function alu32Reg(op: AluOpName, dst: Reg, src: Reg): Insn {
  return mk(Class.ALU | AluOp[op] | Src.X, dst, src, 0, 0);
}
/** 32-bit ALU, immediate source. */
export function alu32Imm(op: AluOpName, dst: Reg, imm: number): Insn {
  return mk(Class.ALU | AluOp[op] | Src.K, dst, 0, 0, imm | 0);
}
/** 64-bit negate. */
export function neg64(dst: Reg): Insn {
  return mk(Class.ALU64 | AluOp.NEG, dst, 0, 0, 0);
}
/** 32-bit negate. */
export function neg32(dst: Reg): Insn {
  return mk(Class.ALU | AluOp.NEG, dst, 0, 0, 0);
}
/** Load a 64-bit immediate (two slots). */
export function ldImm64(dst: Reg, value: bigint): Insn {
  const v = BigInt.asUintN(64, value);
  return { opcode: Opcode.LD_IMM64, dst, src: 0, off: 0, imm: Number(BigInt.asIntN(32, v & 0xffffffffn)), imm64: v };
}
/** Load the address of a global variable (ld_imm64 with an R_BPF_64_64 relocation; imm = offset in section). */
export function ldGlobalAddr(dst: Reg, symbol: string, offset: number): Insn {
  const insn = ldImm64(dst, BigInt(offset));
  insn.reloc = { kind: "global", symbol };
  insn.comment = symbol;
  return insn;
}
/** dst = *(size *)(src + off) */
export function ldx(size: SizeName, dst: Reg, src: Reg, off: number): Insn {
  return mk(Class.LDX | Mode.MEM | Size[size], dst, src, off, 0);
}
/** *(size *)(dst + off) = src */
export function stx(size: SizeName, dst: Reg, off: number, src: Reg): Insn {
  return mk(Class.STX | Mode.MEM | Size[size], dst, src, off, 0);
}
/** *(size *)(dst + off) = imm */
export function st(size: SizeName, dst: Reg, off: number, imm: number): Insn {
  return mk(Class.ST | Mode.MEM | Size[size], dst, 0, off, imm | 0);
}
/** Conditional jump comparing dst with a register, to a label. */
export function jmpReg(op: JmpOpName, dst: Reg, src: Reg, label: string, wide = true): Insn {
  return { ...mk((wide ? Class.JMP : Class.JMP32) | JmpOp[op] | Src.X, dst, src, 0, 0), label };
}
/** Conditional jump comparing dst with an immediate, to a label. */
export function jmpImm(op: JmpOpName, dst: Reg, imm: number, label: string, wide = true): Insn {
  return { ...mk((wide ? Class.JMP : Class.JMP32) | JmpOp[op] | Src.K, dst, 0, 0, imm | 0), label };
}
/** Unconditional jump to a label. */
export function ja(label: string): Insn {
  return { ...mk(Class.JMP | JmpOp.JA, 0, 0, 0, 0), label };
}
/** BPF_JMP | BPF_JCOND (may_goto): jumps to `label` once the function's loop budget is spent. */
export const MAY_GOTO = Opcode.MAY_GOTO;
export function mayGoto(label: string): Insn {
  return { ...mk(MAY_GOTO, 0, 0, 0, 0), label };
}
/** Call a helper by id. */
export function callHelper(id: number): Insn {
  return mk(Class.JMP | JmpOp.CALL, 0, 0, 0, id);
}
/** Call an extern kernel function (resolved by the loader against the kernel's BTF). */
export function callKfunc(name: string): Insn {
  return { ...mk(Class.JMP | JmpOp.CALL, 0, PSEUDO_KFUNC_CALL, 0, -1), reloc: { kind: "kfunc", symbol: name }, comment: name };
}
/** BPF-to-BPF call of a subprogram (relocated against its symbol; imm = -1 as clang emits). */
export function callSubprog(name: string): Insn {
  return { ...mk(Class.JMP | JmpOp.CALL, 0, PSEUDO_CALL, 0, -1), reloc: { kind: "call", symbol: name }, comment: name };
}
/** Return from the program with r0. */
export function exit(): Insn {
  return mk(Class.JMP | JmpOp.EXIT, 0, 0, 0, 0);
}

/** A label marker inside an instruction list (emits nothing). */
export interface Label {
  label: string;
  isLabel: true;
}
export function label(name: string): Label {
  return { label: name, isLabel: true };
}
export type InsnOrLabel = Insn | Label;
export function isLabel(x: InsnOrLabel): x is Label {
  return (x as Label).isLabel === true;
}

/** A jump whose distance does not fit the 16-bit offset (a limit of the input's size, not a bug). */
export class JumpRangeError extends Error {
  constructor(readonly distance: number) {
    super(`jump out of range (${distance} slots)`);
  }
}

/** Resolve labels into jump offsets (in slots, relative to the next instruction). Removes label markers. */
export function resolveLabels(items: InsnOrLabel[]): Insn[] {
  const where = new Map<string, number>();
  let slot = 0;
  for (const it of items) {
    if (isLabel(it)) {
      if (where.has(it.label)) throw new Error(`internal: duplicate label ${it.label}`);
      where.set(it.label, slot);
    } else slot += slots(it);
  }
  const out: Insn[] = [];
  slot = 0;
  for (const it of items) {
    if (isLabel(it)) continue;
    const insn = { ...it };
    if (insn.label !== undefined) {
      const target = where.get(insn.label);
      if (target === undefined) throw new Error(`internal: undefined label ${insn.label}`);
      const rel = target - (slot + 1);
      if (rel < -32768 || rel > 32767) throw new JumpRangeError(rel);
      insn.off = rel;
      delete insn.label;
    }
    out.push(insn);
    slot += slots(insn);
  }
  return out;
}

/** Encode resolved instructions to bytes (little-endian, as the x86-64 kernel expects). */
export function encode(insns: Insn[]): Uint8Array {
  let n = 0;
  for (const i of insns) n += slots(i);
  const buf = new Uint8Array(n * 8);
  const dv = new DataView(buf.buffer);
  let o = 0;
  for (const i of insns) {
    if (i.label !== undefined) throw new Error(`internal: unresolved label ${i.label}`);
    dv.setUint8(o, i.opcode);
    dv.setUint8(o + 1, ((i.src & 0xf) << 4) | (i.dst & 0xf));
    dv.setInt16(o + 2, i.off, true);
    if (isLdImm64(i.opcode)) {
      const v = i.imm64 ?? BigInt.asUintN(32, BigInt(i.imm));
      dv.setUint32(o + 4, Number(v & 0xffffffffn), true);
      dv.setUint32(o + 8, 0, true);
      dv.setUint32(o + 12, Number((v >> 32n) & 0xffffffffn), true);
      o += 16;
    } else {
      dv.setInt32(o + 4, i.imm, true);
      o += 8;
    }
  }
  return buf;
}

/** Decode bytes back into instructions (the inverse of encode; used by the object reader and tests). */
export function decode(bytes: Uint8Array): Insn[] {
  return decodeBytes(bytes);
}

/** Atomic read-modify-write of *(size *)(dst + off) with src (size W or DW): `imm` is an AtomicOp value
 *  (ADD/OR/AND/XOR, each optionally | FETCH, or XCHG/CMPXCHG). */
export function atomic(size: "W" | "DW", imm: number, dst: Reg, off: number, src: Reg): Insn {
  return mk(Class.STX | Mode.ATOMIC | Size[size], dst, src, off, imm);
}
/** dst = load_acquire((size *)(src + off)) (narrow sizes zero-extend). */
export function loadAcquire(size: SizeName, dst: Reg, src: Reg, off: number): Insn {
  return mk(Class.STX | Mode.ATOMIC | Size[size], dst, src, off, AtomicOp.LOAD_ACQ);
}
/** store_release((size *)(dst + off), src). */
export function storeRelease(size: SizeName, dst: Reg, off: number, src: Reg): Insn {
  return mk(Class.STX | Mode.ATOMIC | Size[size], dst, src, off, AtomicOp.STORE_REL);
}

// cpu v4 (Linux 6.6+; every kernel with io_uring BPF ops has it): signed division and remainder (DIV/MOD
// with off = 1), sign-extending moves (MOV with off = 8, 16 or 32) and sign-extending loads (LDX with
// mode MEMSX).

/** BPF_MEMSX: the mode of sign-extending loads. */
export const MODE_MEMSX = Mode.MEMSX;

/** dst = dst s/ src or dst s% src (`src` a register, or an immediate). */
export function signedDivMod(op: "DIV" | "MOD", wide: boolean, dst: Reg, src: Reg | { imm: number }): Insn {
  const cls = wide ? Class.ALU64 : Class.ALU;
  if (typeof src === "number") return mk(cls | AluOp[op] | Src.X, dst, src, 1, 0);
  return mk(cls | AluOp[op] | Src.K, dst, 0, 1, src.imm | 0);
}
/** dst = (s8/s16/s32) src, sign-extended to 64 bits (`wide`) or to 32 bits with the upper half zeroed. */
export function movsx(wide: boolean, dst: Reg, src: Reg, bits: 8 | 16 | 32): Insn {
  return mk((wide ? Class.ALU64 : Class.ALU) | AluOp.MOV | Src.X, dst, src, bits, 0);
}
/** dst = *(s8/s16/s32 *)(src + off), sign-extended to 64 bits. */
export function ldsx(size: "B" | "H" | "W", dst: Reg, src: Reg, off: number): Insn {
  return mk(Class.LDX | MODE_MEMSX | Size[size], dst, src, off, 0);
}
