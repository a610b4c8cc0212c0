// What the memory passes (gvn, store-merge) know about where a load or store goes: a global (the address
// of a symbol: distinct symbols never overlap), the stack, or another pointer (ring memory, the MEM
// region: may overlap any other such pointer unless it is the same base at disjoint offsets). And the
// alignment a pointer is known to have.

import { isImm, type IrInsn, type VReg } from "../ir/ir";
import { SIZE_BYTES, type SizeName } from "../bpf/insn";

export type Place =
  | { kind: "global"; symbol: string; off: number; size: number }
  | { kind: "stack"; base: number; off: number; size: number }
  | { kind: "ptr"; base: number; off: number; size: number };

/** Where `[base + off]` of `size` is. */
export function placeOf(defs: Map<number, IrInsn>, base: VReg, off: number, size: SizeName): Place {
  const n = SIZE_BYTES[size];
  if (base.id === -1) return { kind: "stack", base: -1, off, size: n };
  const d = defs.get(base.id);
  if (d?.op === "addr") return { kind: "global", symbol: d.symbol, off: d.offset + off, size: n };
  if (d?.op === "stackaddr") return { kind: "stack", base: base.id, off, size: n };
  return { kind: "ptr", base: base.id, off, size: n };
}

const overlap = (a: Place, b: Place) => a.off < b.off + b.size && b.off < a.off + a.size;

/** Whether two accesses may touch the same bytes. */
export function mayAlias(a: Place, b: Place): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === "global") return a.symbol === (b as typeof a).symbol && overlap(a, b);
  if (a.base === (b as typeof a).base) return overlap(a, b);
  // Distinct stack objects never overlap the frame's spill area or each other; other pointers may.
  return a.kind === "ptr";
}

/** The alignment (a power of two, at most 8) a pointer value is known to have. */
export function alignOf(defs: Map<number, IrInsn>, r: VReg, depth = 0): number {
  if (r.id === -1) return 8;
  const d = defs.get(r.id);
  if (!d || depth > 16) return 1;
  const low = (v: bigint) => {
    let a = 1;
    while (a < 8 && (v & BigInt(a)) === 0n) a *= 2;
    return a;
  };
  switch (d.op) {
    case "addr": return low(BigInt(d.offset));
    case "stackaddr": return 8;
    case "call": return 8; // region pointers are page-aligned
    case "mov": return isImm(d.src) ? low(d.src.imm) : alignOf(defs, d.src.reg, depth + 1);
    case "alu": {
      if (d.alu === "LSH" && isImm(d.b)) return Math.min(8, 2 ** Math.min(3, Number(d.b.imm & 63n)));
      if (d.alu === "ADD") {
        const x = isImm(d.a) ? low(d.a.imm) : alignOf(defs, d.a.reg, depth + 1);
        const y = isImm(d.b) ? low(d.b.imm) : alignOf(defs, d.b.reg, depth + 1);
        return Math.min(x, y);
      }
      if (d.alu === "MUL" && isImm(d.b)) return low(d.b.imm);
      return 1;
    }
    default: return 1;
  }
}
