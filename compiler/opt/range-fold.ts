// range-fold: what the unsigned range of a value makes redundant. Ranges come from constants, masks,
// zero-extending loads, shifts and sums that cannot wrap, and from the branches a use is dominated by
// (`if (i <= 4092) { ... }`: i is at most 4092 in the block the branch leads to and in every block that
// block dominates, when that block has no other way in). Two rewrites use them:
//  - `x & M` is `x` when every bit x can have is in M: an index masked for the verifier (`i & 4095`) in
//    code where a branch has already bounded i, as in the copies of an unrolled loop;
//  - an address `p + (y + c)` used only by loads and stores is `p + y` with c in their offsets, when
//    y + c cannot wrap at its width (a 32-bit sum is zero-extended into the address: it must not pass
//    2^32). The copies of an unrolled loop then share one address, `p + i`, and read at i's offsets.
// The facts are the ones the verifier has too: it tracks the same branches, masks and loads. Values
// marked opaque (the loop lowering's laundering) and phis are taken as unknown, as the verifier sees
// them at a loop head, so no mask the verifier needs is dropped.

import type { JmpOpName } from "../bpf/insn";
import { dominators, type DomTree } from "../ir/cfg";
import { isImm, uses, type Block, type IrInsn, type Operand, type VReg, type Width } from "../ir/ir";
import { bits, definitions, type Pass } from "./pass";

/** An unsigned range [lo, hi] of a value at some width. */
interface Range {
  lo: bigint;
  hi: bigint;
}

const MAX_DEPTH = 8;
/** How many dominators up a use looks for branch facts (far ones rarely bound anything nearby). */
const MAX_CHAIN = 32;
const fitsOff = (v: number) => v >= -32768 && v <= 32767;
const full = (w: number): Range => ({ lo: 0n, hi: (1n << BigInt(w)) - 1n });

/** The branch condition that holds on the edge to `then` (or, negated, to `else`). */
const NEGATE: Partial<Record<JmpOpName, JmpOpName>> = { JEQ: "JNE", JNE: "JEQ", JLT: "JGE", JGE: "JLT", JLE: "JGT", JGT: "JLE" };
const SWAP: Partial<Record<JmpOpName, JmpOpName>> = { JEQ: "JEQ", JNE: "JNE", JLT: "JGT", JGT: "JLT", JLE: "JGE", JGE: "JLE" };

/** What `x CMP y` says about x, for y in [ylo, yhi], at width w. */
function bound(cmp: JmpOpName, y: Range, w: number): Range | undefined {
  const max = full(w).hi;
  switch (cmp) {
    case "JLT": return y.hi === 0n ? undefined : { lo: 0n, hi: y.hi - 1n };
    case "JLE": return { lo: 0n, hi: y.hi };
    case "JGT": return y.lo === max ? undefined : { lo: y.lo + 1n, hi: max };
    case "JGE": return { lo: y.lo, hi: max };
    case "JEQ": return { lo: y.lo, hi: y.hi };
    default: return undefined;
  }
}

const intersect = (a: Range, b: Range): Range => ({ lo: a.lo > b.lo ? a.lo : b.lo, hi: a.hi < b.hi ? a.hi : b.hi });

export const rangeFold: Pass = {
  name: "range-fold",
  what: "value ranges from masks, loads and dominating branches: redundant masks go, addresses p + (i + c) become p + i with c in the offsets",
  run(fn) {
    const defs = definitions(fn);
    const dt = dominators(fn);
    const r = new Ranges(defs, dt);

    // x & M where M covers every bit x can have: x.
    for (const b of dt.order) {
      for (const i of b.insns) {
        if (i.op !== "alu" || i.alu !== "AND" || i.opaque) continue;
        const [x, m] = isImm(i.b) ? [i.a, i.b] : [i.b, i.a];
        if (isImm(x) || !isImm(m)) continue;
        const mask = bits(m.imm, i.width);
        const hi = r.of(x, i.width, b).hi;
        const need = (1n << BigInt(hi.toString(2).length)) - 1n;
        if ((need & mask) !== need) continue;
        become(i, { op: "mov", dst: i.dst, src: x, pos: i.pos, depth: i.depth });
      }
    }

    // Uses of each value: which addresses feed only loads and stores.
    const accesses = new Map<number, Extract<IrInsn, { op: "load" | "store" }>[]>();
    const other = new Set<number>();
    for (const b of fn.blocks) {
      for (const i of b.insns) {
        if (i.op === "load" || i.op === "store") {
          if (!accesses.has(i.base.id)) accesses.set(i.base.id, []);
          accesses.get(i.base.id)!.push(i);
          if (i.op === "store" && !isImm(i.src)) other.add(i.src.reg.id);
        } else for (const u of uses(i)) other.add(u.id);
      }
      if (b.term) for (const u of uses(b.term)) other.add(u.id);
    }
    // q = p + (y + c), used only as an address: q = p + y, c into the offsets.
    for (const b of dt.order) {
      for (const i of b.insns) {
        if (i.op !== "alu" || i.alu !== "ADD" || i.width !== 64 || i.opaque || !i.dst.ptr) continue;
        const mem = accesses.get(i.dst.id);
        if (!mem || other.has(i.dst.id)) continue;
        const sides: ("a" | "b")[] = ["a", "b"];
        for (const side of sides) {
          const p = i[side];
          const x = i[side === "a" ? "b" : "a"];
          if (isImm(p) || !p.reg.ptr || isImm(x) || x.reg.ptr) continue;
          const sum = resolveCopies(defs, x.reg);
          const d = defs.get(sum.id);
          if (d?.op !== "alu" || d.alu !== "ADD" || d.opaque) continue;
          const [y, c] = isImm(d.b) ? [d.a, d.b] : [d.b, d.a];
          if (isImm(y) || !isImm(c) || y.reg.ptr) continue;
          const k = BigInt.asIntN(d.width, c.imm);
          if (k < 0n || k > 32767n) continue;
          // A 32-bit sum is zero-extended into the address: y + c must stay below 2^32 (a 64-bit one
          // wraps with the address, so any y will do). y must be d.width wide for its bits to be the sum's.
          if (d.width === 32 && (y.reg.width !== 32 || r.of(y, 32, b).hi + k > full(32).hi)) continue;
          if (d.width === 64 && y.reg.width !== 64) continue;
          // The verifier bounds the new access by y's range plus c: that must not pass what it knew of the
          // old one (the sum's range, from its own index check). `i < 128; d[i + 1]` checked on i + 1 only
          // would otherwise reach d[128] as far as the verifier can tell ("Access outside bounds").
          const sumHi = [r.of({ reg: sum }, d.width, b).hi, r.of(x, d.width, b).hi].reduce((m, v) => (v < m ? v : m));
          if (r.of(y, d.width, b).hi + k > sumHi) continue;
          if (!mem.every((m) => !m.opaque && fitsOff(m.off + Number(k)))) continue;
          i[side === "a" ? "b" : "a"] = { reg: y.reg };
          for (const m of mem) m.off += Number(k);
          break;
        }
      }
    }
  },
};

function become(i: IrInsn, repl: IrInsn): void {
  Object.keys(i).forEach((key) => delete (i as unknown as Record<string, unknown>)[key]);
  Object.assign(i, repl);
}

/** Follow `d = s` copies of the same width back to their source. */
function resolveCopies(defs: Map<number, IrInsn>, r: VReg): VReg {
  for (let n = 0; n < MAX_DEPTH; n++) {
    const d = defs.get(r.id);
    if (d?.op !== "mov" || d.opaque || isImm(d.src) || d.src.reg.width !== r.width) break;
    r = d.src.reg;
  }
  return r;
}

/** Unsigned ranges of values at a block, from their definitions and the branches dominating the block. */
class Ranges {
  constructor(
    private readonly defs: Map<number, IrInsn>,
    private readonly dt: DomTree,
  ) {}

  /** Ranges found, by value, width, block and depth (the depth limit makes deeper ones coarser). */
  private readonly seen = new Map<string, Range>();

  /** The range of operand `o` read at width `w` in block `at`. */
  of(o: Operand, w: Width, at: Block, depth = 0): Range {
    if (isImm(o)) {
      const v = bits(o.imm, w);
      return { lo: v, hi: v };
    }
    const key = `${o.reg.id}:${w}:${at.id}:${depth}`;
    let r = this.seen.get(key);
    if (!r) this.seen.set(key, (r = this.find(o.reg, w, at, depth)));
    return r;
  }

  private find(v: VReg, w: Width, at: Block, depth: number): Range {
    const o = { reg: v };
    let r = this.defined(o.reg, at, depth);
    for (const f of this.facts(o.reg, at, depth)) r = intersect(r, f);
    if (r.lo > r.hi) r = this.defined(o.reg, at, depth); // a path that cannot run: no use of its facts
    // Read at 32 bits, a 64-bit value is its low half: the range holds only if the value fits.
    if (w === 32 && o.reg.width === 64 && r.hi > full(32).hi) return full(32);
    return r;
  }

  /** What the branches on the edges into `at` and its dominators say about `v`. */
  private facts(v: VReg, at: Block, depth: number): Range[] {
    const out: Range[] = [];
    let b = at;
    for (let n = 0; n < MAX_CHAIN; n++) {
      const preds = this.dt.preds.get(b) ?? [];
      const p = preds.length === 1 ? preds[0] : undefined;
      const t = p?.term;
      if (p && t?.op === "br" && t.then !== t.else) {
        const cmp = b === t.then ? t.cmp : NEGATE[t.cmp];
        // A comparison at 32 bits bounds a 32-bit value (a 64-bit value only in its low half).
        const fits = (x: VReg) => t.width === 64 || x.width === 32;
        if (cmp && t.a.id === v.id && fits(v) && depth < MAX_DEPTH) {
          const f = bound(cmp, this.of(t.b, t.width, p, depth + 1), t.width);
          if (f) out.push(f);
        }
        if (cmp && !isImm(t.b) && t.b.reg.id === v.id && fits(v) && SWAP[cmp] && depth < MAX_DEPTH) {
          const f = bound(SWAP[cmp]!, this.of({ reg: t.a }, t.width, p, depth + 1), t.width);
          if (f) out.push(f);
        }
      }
      const up = this.dt.idom.get(b);
      if (!up || up === b) break;
      b = up;
    }
    return out;
  }

  /** The range a definition gives `v` (at v's width). */
  private defined(v: VReg, at: Block, depth: number): Range {
    const all = full(v.width);
    const d = this.defs.get(v.id);
    if (!d || d.opaque || depth >= MAX_DEPTH) return all;
    const sub = (o: Operand, w: Width) => this.of(o, w, at, depth + 1);
    switch (d.op) {
      case "mov": {
        if (isImm(d.src)) {
          const c = bits(d.src.imm, v.width);
          return { lo: c, hi: c };
        }
        const s = sub(d.src, d.src.reg.width);
        return s.hi <= all.hi ? s : all;
      }
      case "load": {
        const size = { B: 8, H: 16, W: 32, DW: 64 }[d.size];
        return size < v.width ? full(size) : all;
      }
      case "alu": {
        const w = d.width;
        if (w !== v.width) return all;
        const a = () => sub(d.a, w);
        const b = () => sub(d.b, w);
        const c = isImm(d.b) ? bits(d.b.imm, w) : undefined;
        switch (d.alu) {
          case "AND": {
            const x = a(), y = b();
            return { lo: 0n, hi: x.hi < y.hi ? x.hi : y.hi };
          }
          case "ADD": {
            const x = a(), y = b();
            return x.hi + y.hi <= all.hi ? { lo: x.lo + y.lo, hi: x.hi + y.hi } : all;
          }
          case "SUB": {
            if (c === undefined) return all;
            const x = a();
            return x.lo >= c ? { lo: x.lo - c, hi: x.hi - c } : all;
          }
          case "RSH": {
            if (c === undefined || c >= BigInt(w)) return all;
            const x = a();
            return { lo: x.lo >> c, hi: x.hi >> c };
          }
          case "LSH": {
            if (c === undefined || c >= BigInt(w)) return all;
            const x = a();
            return x.hi << c <= all.hi ? { lo: x.lo << c, hi: x.hi << c } : all;
          }
          case "MOD": {
            if (c === undefined || c === 0n) return all;
            const x = a();
            return x.hi < c ? x : { lo: 0n, hi: c - 1n };
          }
          case "DIV": {
            if (c === undefined || c === 0n) return all;
            const x = a();
            return { lo: x.lo / c, hi: x.hi / c };
          }
          default:
            return all;
        }
      }
      default:
        return all;
    }
  }
}
