// Ways out of a function other than its normal return: the run-time trap (a failed check stores its line
// in the hidden global uringbpf_trap and stops the program) and the release of the open-coded iterators of
// the loops being left, which every exit from inside a loop must do.

import type { Block, VReg } from "../ir/ir";
import type { LowerContext } from "./context";
import { TRAP_LOOP_BIT } from "../contract/geometry";
import { KFUNC_ITER_DESTROY, TRAP_GLOBAL } from "./ring";

/** Destroy the iterators of every loop being left (before leaving the function). */
export function destroyIterators(cx: LowerContext): void {
  for (const slot of [...cx.iterators].reverse()) cx.b.emit({ op: "call", kind: "kfunc", name: KFUNC_ITER_DESTROY, args: [{ reg: iterPtr(cx, slot) }] });
}

/** A pointer to the stack object (an iterator) in `slot`. */
export function iterPtr(cx: LowerContext, slot: number): VReg {
  const r = cx.b.vreg(64, "iter", true);
  cx.b.emit({ op: "stackaddr", dst: r, slot });
  return r;
}

/** Stop the program when a run-time check fails: the hidden global uringbpf_trap gets the line number
 *  (with TRAP_LOOP_BIT for a loop's spent budget) and loop_step returns STOP. Returns the block to branch to. */
export function trapBlock(cx: LowerContext, loopBudget = false): Block {
  const t = cx.b.block();
  const saved = cx.b.current;
  cx.b.setBlock(t);
  destroyIterators(cx);
  cx.useRingGlobal(TRAP_GLOBAL);
  cx.mayTrap = true;
  cx.b.emit({ op: "store", base: cx.b.addr(TRAP_GLOBAL), off: 0, size: "W", src: { imm: BigInt((cx.b.pos?.line ?? 0) | (loopBudget ? TRAP_LOOP_BIT : 0)) } });
  // A program stops; a subprogram returns and its caller stops (see subprogCall).
  cx.b.terminate({ op: "ret", value: { imm: cx.frames[0]?.subprog ? 0n : 1n }, trap: true });
  cx.b.setBlock(saved);
  return t;
}
