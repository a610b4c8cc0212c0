// Spill code: values that found no register live in 8-byte stack slots below r10 (reloaded into a short
// temporary before each use, stored after each definition) or, when that is cheaper, are computed again
// at each use (constants, global and stack addresses).

import { def, isImm, type IrFunction, type IrInsn, type VReg } from "../ir/ir";
import type { Item } from "./liveness";

/** The frame pointer as a pseudo virtual register (never allocated; always r10). */
export const FP: VReg = { id: -1, width: 64, ptr: true, name: "fp" };

/** Values that are cheaper to compute again than to keep on the stack: the one definition is a constant,
 *  a global's address (ld_imm64) or a stack address. */
export function rematerializable(fn: IrFunction): Map<number, IrInsn> {
  const count = new Map<number, number>();
  const only = new Map<number, IrInsn>();
  for (const b of fn.blocks) for (const it of b.insns) {
    const d = def(it);
    if (!d) continue;
    count.set(d.id, (count.get(d.id) ?? 0) + 1);
    if ((it.op === "mov" && isImm(it.src)) || it.op === "addr" || it.op === "stackaddr") only.set(d.id, it);
  }
  for (const id of [...only.keys()]) if (count.get(id) !== 1) only.delete(id);
  return only;
}

/** Replace each use of a spilled value by a reload into a fresh temporary (or, for a rematerializable
 *  value, its definition again) and each definition by a definition of a temporary followed by a store to
 *  the value's slot. The instruction right after a definition reads the definition's temporary instead of
 *  reloading what was just stored. */
export function rewriteSpills(fn: IrFunction, spilled: Set<number>, slots: Map<number, number>, temps: Set<number>, remat: Map<number, IrInsn>): void {
  const fresh = (v: VReg): VReg => {
    const t: VReg = { id: fn.nextVReg++, width: v.width, ptr: v.ptr, name: v.name ? v.name + ".r" : undefined };
    temps.add(t.id);
    return t;
  };
  for (const b of fn.blocks) {
    const out: IrInsn[] = [];
    let justStored: { id: number; t: VReg } | undefined;
    const fixUses = (it: Item) => {
      const map = new Map<number, VReg>();
      if (justStored) map.set(justStored.id, justStored.t);
      const sub = (r: VReg): VReg => {
        if (!spilled.has(r.id)) return r;
        let t = map.get(r.id);
        if (!t) {
          t = fresh(r);
          map.set(r.id, t);
          const again = remat.get(r.id);
          if (again) out.push({ ...again, dst: t, pos: it.pos, depth: it.depth } as IrInsn);
          else out.push({ op: "load", dst: t, base: FP, off: -slots.get(r.id)!, size: "DW", pos: it.pos, depth: it.depth });
        }
        return t;
      };
      const op = (o: { reg: VReg } | { imm: bigint }) => (isImm(o) ? o : { reg: sub(o.reg) });
      switch (it.op) {
        case "mov": it.src = op(it.src); break;
        case "alu": it.a = op(it.a); it.b = op(it.b); break;
        case "neg": it.a = op(it.a); break;
        case "load": it.base = sub(it.base); break;
        case "store": it.base = sub(it.base); it.src = op(it.src); break;
        case "call": it.args = it.args.map(op); break;
        case "br": it.a = sub(it.a); it.b = op(it.b); break;
        case "ret": it.value = op(it.value); break;
      }
    };
    for (const it of b.insns) {
      fixUses(it);
      justStored = undefined;
      const d = def(it);
      if (d && spilled.has(d.id)) {
        if (remat.has(d.id)) continue; // computed again at each use
        const t = fresh(d);
        (it as { dst: VReg }).dst = t;
        out.push(it);
        out.push({ op: "store", base: FP, off: -slots.get(d.id)!, size: "DW", src: { reg: t }, pos: it.pos, depth: it.depth });
        justStored = { id: d.id, t };
      } else out.push(it);
    }
    if (b.term) fixUses(b.term);
    b.insns = out;
  }
}
