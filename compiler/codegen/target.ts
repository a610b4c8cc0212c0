// What register allocation targets: BPF's registers (r0-r5 are clobbered by calls, r6-r9 survive them,
// r10 is the frame pointer) and the result an allocator hands to emission.

import type { Reg } from "../bpf/insn";

export const CALLEE_SAVED: Reg[] = [6, 7, 8, 9];
/** Allocation order: argument registers first (most values die before a call), r0, then callee-saved. */
export const ALL: Reg[] = [1, 2, 3, 4, 5, 0, 6, 7, 8, 9];
/** ALU operations whose right operand must not share the destination's register (dst = a; dst op= b). */
export const NON_COMMUTATIVE = new Set(["SUB", "DIV", "MOD", "SDIV", "SMOD", "LSH", "RSH", "ARSH"]);

export interface Allocation {
  reg: Map<number, Reg>;
  /** Bytes of stack used by spill slots (multiples of 8). */
  stackSize: number;
  /** Per spilled value: the slot's offset below r10 (for dumps). */
  spills: Map<number, number>;
  /** Source names of the spilled values ("" for temporaries), for stack diagnostics. */
  spilledNames: string[];
}
