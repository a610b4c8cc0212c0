// addr-fold: constant parts of an address go into the offset field of the loads and stores that use it,
// as clang's instruction selection does. `[(p + 24) + 8]` becomes `[p + 32]`, and an address that adds a
// variable index to a constant-offset pointer, `t = p + 24; u = t + i; [u + 4]`, becomes `u = p + i;
// [u + 28]` when memory accesses are all u is used for: the constant-offset pointer need not be kept (or
// spilled) across a loop for it. The verifier sees the same pointer and the same range of offsets.
// Stack addresses are left alone (the verifier wants constant offsets on the stack).

import { isImm, uses, type IrInsn, type VReg } from "../ir/ir";
import { definitions, type Pass } from "./pass";

type Alu = Extract<IrInsn, { op: "alu" }>;

/** Offsets a load or store can hold (BPF's off field is a signed 16-bit number). */
const fitsOff = (v: number) => v >= -32768 && v <= 32767;

export const addrFold: Pass = {
  name: "addr-fold",
  what: "constant parts of addresses go into the offsets of the loads and stores that use them",
  run(fn) {
    const defs = definitions(fn);
    // Values whose definitions lead to the frame or a stack object (never reassociated).
    const stackDerived = new Set<number>();
    for (const b of fn.blocks) for (const i of b.insns) {
      if (i.op === "stackaddr") stackDerived.add(i.dst.id);
      if ((i.op === "alu" || i.op === "mov") && i.dst.ptr) {
        const srcs = i.op === "mov" ? [i.src] : [i.a, i.b];
        if (srcs.some((o) => !isImm(o) && (o.reg.id === -1 || stackDerived.has(o.reg.id)))) stackDerived.add(i.dst.id);
      }
    }
    /** `base = p + C` with p a pointer value: [p, C]. */
    const constPart = (base: VReg): [VReg, number] | undefined => {
      const d = defs.get(base.id);
      if (d?.op !== "alu" || d.alu !== "ADD" || d.width !== 64 || d.opaque || !d.dst.ptr || stackDerived.has(base.id)) return undefined;
      const [x, y] = isImm(d.b) ? [d.a, d.b] : [d.b, d.a];
      if (isImm(x) || !isImm(y) || !x.reg.ptr) return undefined;
      const c = Number(BigInt.asIntN(64, y.imm));
      return Number.isSafeInteger(c) && fitsOff(c) ? [x.reg, c] : undefined;
    };
    // Uses of each value, to know which addresses only feed memory accesses.
    const memUses = new Map<number, IrInsn[]>();
    const otherUse = new Set<number>();
    for (const b of fn.blocks) {
      for (const i of b.insns) {
        const base = i.op === "load" || i.op === "store" ? i.base : undefined;
        if (base) {
          if (!memUses.has(base.id)) memUses.set(base.id, []);
          memUses.get(base.id)!.push(i);
        }
        if (i.op === "store" && !isImm(i.src)) otherUse.add(i.src.reg.id);
        else if (!base) for (const r of uses(i)) otherUse.add(r.id);
      }
      if (b.term) for (const r of uses(b.term)) otherUse.add(r.id);
    }
    // u = (p + C) + y, used only as an address: u = p + y, and C moves into the accesses.
    for (const b of fn.blocks) for (const i of b.insns) {
      if (i.op !== "alu" || i.alu !== "ADD" || i.width !== 64 || i.opaque || !i.dst.ptr || stackDerived.has(i.dst.id)) continue;
      if (otherUse.has(i.dst.id) || !memUses.has(i.dst.id)) continue;
      const sides: ("a" | "b")[] = ["a", "b"];
      for (const side of sides) {
        const o = i[side];
        if (isImm(o)) continue;
        const cp = constPart(o.reg);
        const other = i[side === "a" ? "b" : "a"];
        if (!cp || isImm(other)) continue;
        const accesses = memUses.get(i.dst.id)!;
        if (!accesses.every((m) => fitsOff((m as { off: number }).off + cp[1]))) continue;
        (i as Alu)[side] = { reg: cp[0] };
        for (const m of accesses) (m as { off: number }).off += cp[1];
        break;
      }
    }
    // [(p + C) + off] = [p + C + off].
    for (const b of fn.blocks) for (const i of b.insns) {
      if (i.op !== "load" && i.op !== "store") continue;
      if (i.opaque) continue;
      for (let n = 0; n < 4; n++) {
        const cp = constPart(i.base);
        if (!cp || !fitsOff(i.off + cp[1])) break;
        i.base = cp[0];
        i.off += cp[1];
      }
    }
  },
};
