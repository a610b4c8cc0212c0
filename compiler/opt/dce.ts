// dce: dead-code elimination in SSA form. Stores, calls and terminators are needed; so is every value
// they read, transitively; every other instruction (moves, arithmetic, loads, addresses, phis) goes.

import { def, uses, type IrInsn, type VReg } from "../ir/ir";
import type { Pass } from "./pass";

const EFFECT = new Set(["store", "call"]);

export const dce: Pass = {
  name: "dce",
  what: "dead-code elimination (values nothing needed reads)",
  run(fn) {
    const defs = new Map<number, IrInsn>();
    for (const b of fn.blocks) for (const i of b.insns) {
      const d = def(i);
      if (d) defs.set(d.id, i);
    }
    const live = new Set<IrInsn>();
    const work: VReg[] = [];
    for (const b of fn.blocks) {
      for (const i of b.insns) if (EFFECT.has(i.op)) {
        live.add(i);
        work.push(...uses(i));
      }
      if (b.term) work.push(...uses(b.term));
    }
    const seen = new Set<number>();
    while (work.length) {
      const r = work.pop()!;
      if (seen.has(r.id)) continue;
      seen.add(r.id);
      const d = defs.get(r.id);
      if (!d || live.has(d)) continue;
      live.add(d);
      work.push(...uses(d));
    }
    for (const b of fn.blocks) b.insns = b.insns.filter((i) => live.has(i));
  },
};
