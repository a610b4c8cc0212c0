// Dead-code elimination: removes instructions without side effects (moves, arithmetic, loads, address
// computations) whose result is never used, repeating until nothing changes. Calls and stores stay.

import { def, type IrFunction } from "../ir/ir";
import { liveness } from "./regalloc";

const PURE = new Set(["mov", "alu", "neg", "load", "addr", "stackaddr"]);

/** Remove dead pure instructions from `fn` in place. */
export function eliminateDeadCode(fn: IrFunction): void {
  for (let changed = true; changed; ) {
    changed = false;
    const live = liveness(fn);
    for (const b of fn.blocks) {
      const kept = b.insns.filter((i) => {
        const d = def(i);
        const dead = PURE.has(i.op) && d !== undefined && !live.get(i)!.has(d.id);
        if (dead) changed = true;
        return !dead;
      });
      b.insns = kept;
    }
  }
}
