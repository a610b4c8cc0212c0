// jump-thread: before SSA, a block that jumps to a test it has already decided goes straight to the
// test's outcome. The test block must hold nothing but the branch, and the block must have set the
// branch's operands to constants: this is a loop's first test after `let i = 0` (`i < 10` is true), or a
// `||`/`&&` whose left side was constant. Running before SSA needs no phi updates: the test computes
// nothing.

import { def, isImm, mapSuccessors, type Block, type IrFunction, type VReg } from "../ir/ir";
import { removeUnreachable } from "../ir/cfg";
import { bits, evalCmp, type Pass } from "./pass";

/** The constant `r` holds at the end of `b`, when b's last assignment to it is a constant. */
function constAtEnd(b: Block, r: VReg): bigint | undefined {
  for (let k = b.insns.length - 1; k >= 0; k--) {
    const i = b.insns[k];
    if (def(i)?.id !== r.id) continue;
    return i.op === "mov" && isImm(i.src) ? bits(i.src.imm, r.width) : undefined; // its value at its width
  }
  return undefined;
}

export const jumpThread: Pass = {
  name: "jump-thread",
  what: "jumps to a branch the jumping block has decided go to its outcome (before SSA)",
  run(fn: IrFunction) {
    let changed = false;
    for (const b of fn.blocks) {
      if (!b.term) continue;
      mapSuccessors(b.term, (c) => {
        for (let hops = 0; hops < 8; hops++) {
          const t = c.term;
          if (c === b || c.insns.length !== 0 || t?.op !== "br") return c;
          const x = constAtEnd(b, t.a);
          const y = isImm(t.b) ? t.b.imm : constAtEnd(b, (t.b as { reg: VReg }).reg);
          if (x === undefined || y === undefined) return c;
          c = evalCmp(t.cmp, t.width, x, y) ? t.then : t.else;
          changed = true;
        }
        return c;
      });
    }
    if (changed) removeUnreachable(fn);
  },
};

