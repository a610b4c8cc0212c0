// store-merge: consecutive stores through one pointer, with no load, call or possibly aliasing store
// between them, are rewritten as the fewest stores that leave the same bytes: constant bytes are
// gathered into the widest aligned immediate stores (a zeroed SQE is eight 64-bit stores of 0, whatever
// fields the front end wrote), stores overwritten before anything reads them disappear, and register
// stores stay in place. Widths never exceed the alignment the pointer is known to have.

import { SIZE_BYTES, type SizeName } from "../bpf/insn";
import { isImm, type IrInsn, type VReg } from "../ir/ir";
import { alignOf } from "./memory";
import { bits, canon, definitions, fitsImm32, type Pass } from "./pass";

type Store = Extract<IrInsn, { op: "store" }>;

export const storeMerge: Pass = {
  name: "store-merge",
  what: "merge stores through one pointer into the fewest (constant bytes into wide immediates)",
  run(fn) {
    const defs = definitions(fn);
    for (const b of fn.blocks) {
      const out: IrInsn[] = [];
      let group: Store[] = [];
      const flush = () => {
        if (group.length > 1) {
          const merged = merge(group, alignOf(defs, group[0].base), (s) => (isImm(s.src) ? 8 : valueBytes(defs, s.src.reg)));
          if (merged && merged.length < group.length) {
            // Register stores stay where they are (moving them would keep their values live longer);
            // the constant ones go, replaced by the merged stores after the group's last store.
            const keep = new Set<IrInsn>(merged);
            const at = out.lastIndexOf(group[group.length - 1]);
            const before = out.slice(0, at + 1).filter((i) => !group.includes(i as Store) || keep.has(i));
            out.splice(0, at + 1, ...before, ...merged.filter((s) => !group.includes(s)));
          }
        }
        group = [];
      };
      for (const i of b.insns) {
        if (i.op === "store") {
          if (group.length && group[0].base.id !== i.base.id) flush();
          group.push(i);
        } else if (i.op === "load" || i.op === "call") flush();
        out.push(i);
      }
      flush();
      b.insns = out;
    }
  },
};

/** The stores that leave the same bytes as `group` (in order), or undefined when they overlap in a way
 *  this pass does not untangle (a register store partly overwritten). */
function merge(group: Store[], align: number, fits: (s: Store) => number): Store[] | undefined {
  const lo = Math.min(...group.map((s) => s.off));
  const hi = Math.max(...group.map((s) => s.off + SIZE_BYTES[s.size]));
  if (hi - lo > 4096) return undefined;
  // Per byte: a constant, or the index of the register store that wrote it.
  const byte: ({ k: bigint } | { s: number } | undefined)[] = new Array(hi - lo).fill(undefined);
  group.forEach((s, idx) => {
    const n = SIZE_BYTES[s.size];
    let v = isImm(s.src) ? (s.size === "DW" ? bits(BigInt.asIntN(32, s.src.imm), 64) : bits(s.src.imm, n * 8)) : undefined;
    for (let k = 0; k < n; k++) {
      byte[s.off - lo + k] = v === undefined ? { s: idx } : { k: v & 0xffn };
      if (v !== undefined) v >>= 8n;
    }
  });
  const out: Store[] = [];
  const kept = new Set<number>();
  for (const x of byte) if (x && "s" in x) kept.add(x.s);
  for (const idx of kept) {
    const s = group[idx];
    for (let k = 0; k < SIZE_BYTES[s.size]; k++) {
      const x = byte[s.off - lo + k];
      if (!x || !("s" in x) || x.s !== idx) return undefined;
    }
  }
  // A register store whose value fits its size and is followed by constant zero bytes writes them too,
  // as a wider store (a 32-bit length and the zero word after it are one 64-bit store): the register's
  // bytes above the value are zero (32-bit values are kept zero-extended, narrow loads zero-extend).
  for (const idx of [...kept].sort((a, b) => a - b)) {
    const s = group[idx];
    const n = SIZE_BYTES[s.size];
    if (fits(s) > n) continue;
    for (const [size, m] of [["DW", 8], ["W", 4], ["H", 2]] as [SizeName, number][]) {
      if (m <= n || m > align || s.off % m !== 0 || s.off + m > hi) continue;
      let zeros = true;
      for (let k = n; k < m; k++) {
        const x = byte[s.off - lo + k];
        if (!x || !("k" in x) || x.k !== 0n) zeros = false;
      }
      if (!zeros) continue;
      for (let k = n; k < m; k++) byte[s.off - lo + k] = { s: idx };
      // In place: were the merge not taken, the wider store still leaves the same bytes.
      s.size = size;
      break;
    }
  }
  // Register stores first (in order), then the constant bytes: nothing reads between, and the register
  // stores' bytes are not overwritten by any constant (checked above), so the order does not matter.
  for (const idx of [...kept].sort((a, b) => a - b)) out.push(group[idx]);
  const last = group[group.length - 1];
  const sizes: [SizeName, number][] = [["DW", 8], ["W", 4], ["H", 2], ["B", 1]];
  for (let p = 0; p < byte.length; ) {
    if (!byte[p] || !("k" in byte[p]!)) {
      p++;
      continue;
    }
    const off = lo + p;
    let done = false;
    for (const [size, n] of sizes) {
      if (n > align || off % n !== 0 || p + n > byte.length) continue;
      let v = 0n;
      let all = true;
      for (let k = n - 1; k >= 0; k--) {
        const x = byte[p + k];
        if (!x || !("k" in x)) {
          all = false;
          break;
        }
        v = (v << 8n) | x.k;
      }
      if (!all) continue;
      if (size === "DW" && !fitsImm32(v)) continue;
      out.push({ op: "store", base: last.base, off, size, src: { imm: canon(v, n === 8 ? 64 : 32) }, pos: last.pos, depth: last.depth });
      p += n;
      done = true;
      break;
    }
    if (!done) throw new Error("internal: store-merge found no store for a byte");
  }
  return out;
}

/** How many low bytes of a value may be nonzero (a narrow load's size, an AND's mask, else its width). */
function valueBytes(defs: Map<number, IrInsn>, r: VReg, depth = 0): number {
  const whole = r.width / 8;
  const d = defs.get(r.id);
  if (!d || depth > 8) return whole;
  // A parameter's register comes from the caller as it is: its upper half is not known to be zero.
  if (d.op === "param") return 8;
  if (d.op === "load") return Math.min(whole, SIZE_BYTES[d.size]);
  if (d.op === "mov" && !isImm(d.src) && d.src.reg.width <= r.width) return Math.min(whole, valueBytes(defs, d.src.reg, depth + 1));
  if (d.op === "alu" && d.alu === "AND") {
    const m = isImm(d.b) ? d.b.imm : isImm(d.a) ? d.a.imm : undefined;
    if (m !== undefined && m >= 0n) {
      let n = 0;
      while (n < whole && m >> BigInt(8 * n) !== 0n) n++;
      return Math.max(n, 1);
    }
  }
  return whole;
}
