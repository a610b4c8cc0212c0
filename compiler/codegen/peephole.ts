// The post-allocation peephole: rewrites of the emitted instructions (labels still symbolic, so nothing
// needs renumbering) that register allocation and block layout leave behind:
//  - a jump to the label right after it goes;
//  - `if c goto L1; goto L2; L1:` becomes `if !c goto L2; L1:` (a branch over a jump);
//  - a reload right after the spill store of the same slot becomes a register move (or nothing);
//  - sign extension by two shifts becomes one cpu v4 movsx, and a narrow load it extends an ldsx.

import { decodeInsn, insnClass, opField, withOp } from "../bpf/decode";
import * as I from "../bpf/insn";
import type { Insn, InsnOrLabel, JmpOpName } from "../bpf/insn";

const JMP_NAMES = Object.entries(I.JmpOp) as [string, number][];
const INVERT: Partial<Record<JmpOpName, JmpOpName>> = {
  JEQ: "JNE", JNE: "JEQ", JGT: "JLE", JLE: "JGT", JGE: "JLT", JLT: "JGE",
  JSGT: "JSLE", JSLE: "JSGT", JSGE: "JSLT", JSLT: "JSGE",
};

const isJa = (x: InsnOrLabel): x is Insn => !I.isLabel(x) && x.opcode === (I.Class.JMP | I.JmpOp.JA) && x.label !== undefined;

/** A conditional jump's operation name, when `x` is one. */
function condOf(x: InsnOrLabel): JmpOpName | undefined {
  if (I.isLabel(x) || x.label === undefined) return undefined;
  const d = decodeInsn(x);
  if (d.kind !== "jmp") return undefined;
  const op = opField(x.opcode);
  return JMP_NAMES.find(([, v]) => v === op)?.[0] as JmpOpName | undefined;
}

/** Labels directly at position k (and after it, up to the next instruction). */
function labelsAt(items: InsnOrLabel[], k: number): Set<string> {
  const s = new Set<string>();
  for (let j = k; j < items.length && I.isLabel(items[j]); j++) s.add((items[j] as I.Label).label);
  return s;
}

export function peephole(items: InsnOrLabel[]): InsnOrLabel[] {
  let out = items;
  for (let changed = true; changed; ) {
    changed = false;
    const next: InsnOrLabel[] = [];
    for (let k = 0; k < out.length; k++) {
      const x = out[k];
      if (isJa(x) && labelsAt(out, k + 1).has(x.label!)) {
        changed = true;
        continue;
      }
      const cc = condOf(x);
      const y = out[k + 1];
      if (cc && INVERT[cc] && y && isJa(y) && labelsAt(out, k + 2).has((x as Insn).label!)) {
        const op = INVERT[cc]!;
        next.push({ ...(x as Insn), opcode: withOp((x as Insn).opcode, I.JmpOp[op]), label: y.label });
        k++;
        changed = true;
        continue;
      }
      // cpu v4 sign extension (see signExtend below).
      const sx = !I.isLabel(x) && y && !I.isLabel(y) ? signExtend(x, y) : undefined;
      if (sx) {
        next.push({ ...sx, pos: (x as Insn).pos });
        k++;
        changed = true;
        continue;
      }
      // *(u64 *)(r10 - n) = rA; rB = *(u64 *)(r10 - n)
      const st = I.Class.STX | I.Mode.MEM | I.Size.DW;
      const ld = I.Class.LDX | I.Mode.MEM | I.Size.DW;
      if (!I.isLabel(x) && x.opcode === st && x.dst === 10 && y && !I.isLabel(y) && y.opcode === ld && y.src === 10 && y.off === x.off) {
        next.push(x);
        if (y.dst !== x.src) next.push({ ...I.alu64Reg("MOV", y.dst as I.Reg, x.src as I.Reg), pos: y.pos });
        k++;
        changed = true;
        continue;
      }
      next.push(x);
    }
    out = next;
  }
  return out;
}

const ALU32 = I.Class.ALU;
const ALU64 = I.Class.ALU64;
const isMovsx = (i: Insn) => (i.opcode === (ALU64 | I.AluOp.MOV | I.Src.X) || i.opcode === (ALU32 | I.AluOp.MOV | I.Src.X)) && (i.off === 8 || i.off === 16 || i.off === 32);

/** Two consecutive instructions on one register as one cpu v4 instruction, when they are:
 *  - `r <<= k; r s>>= k` (k = 32, 48, 56; for w: 16, 24): `r = (sN)r`, N = width - k;
 *  - `rX = rY; rX = (sN)rX` (either width of move): `rX = (sN)rY` (the low bits are the same);
 *  - `wX = (sN)wX; rX = (s32)rX`: `rX = (sN)rX` (sign-extending N bits twice is once);
 *  - `rX = *(uN *)(rY + off); rX = (sN)rX` (64-bit): `rX = *(sN *)(rY + off)`. */
function signExtend(x: Insn, y: Insn): Insn | undefined {
  const cls = insnClass(x.opcode);
  if (x.label !== undefined || y.label !== undefined || y.dst !== x.dst) return undefined;
  if ((cls === ALU32 || cls === ALU64) && x.opcode === (cls | I.AluOp.LSH | I.Src.K) && y.opcode === (cls | I.AluOp.ARSH | I.Src.K) && x.imm === y.imm) {
    const n = (cls === ALU64 ? 64 : 32) - x.imm;
    if ((n === 8 || n === 16 || (n === 32 && cls === ALU64)) && x.off === 0 && y.off === 0) return I.movsx(cls === ALU64, x.dst as I.Reg, x.dst as I.Reg, n as 8 | 16 | 32);
    return undefined;
  }
  if (!isMovsx(y) || y.src !== y.dst) return undefined;
  const wide = insnClass(y.opcode) === ALU64;
  const bits = y.off as 8 | 16 | 32;
  if ((x.opcode === (ALU64 | I.AluOp.MOV | I.Src.X) || x.opcode === (ALU32 | I.AluOp.MOV | I.Src.X)) && x.off === 0) return I.movsx(wide, x.dst as I.Reg, x.src as I.Reg, bits);
  if (isMovsx(x) && insnClass(x.opcode) === ALU32 && x.src === x.dst && wide && bits === 32) return I.movsx(true, x.dst as I.Reg, x.dst as I.Reg, x.off as 8 | 16);
  const size = { 8: I.Size.B, 16: I.Size.H, 32: I.Size.W }[bits];
  if (wide && x.opcode === (I.Class.LDX | I.Mode.MEM | size)) return I.ldsx(({ 8: "B", 16: "H", 32: "W" } as const)[bits], x.dst as I.Reg, x.src as I.Reg, x.off);
  return undefined;
}
