// The post-allocation peephole: rewrites of the emitted instructions (labels still symbolic, so nothing
// needs renumbering) that register allocation and block layout leave behind:
//  - a jump to the label right after it goes;
//  - `if c goto L1; goto L2; L1:` becomes `if !c goto L2; L1:` (a branch over a jump);
//  - a reload right after the spill store of the same slot becomes a register move (or nothing).

import { decodeInsn, opField, withOp } from "../bpf/decode";
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
