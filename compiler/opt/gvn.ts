// gvn: value numbering over the dominator tree. Pure computations (global addresses, arithmetic,
// truncating copies; stack addresses are cheaper to recompute than to keep) computed again in a
// dominated block reuse the first result. Loads reuse an earlier load of the same place or the value an earlier store put there (store-to-load forwarding);
// what is known about memory is forgotten at stores that may alias (memory.ts), at calls (except
// .rodata, which nothing writes) and at loop headers, and on entry to a join block for whatever any other
// path into it stores or calls.

import { dominators, type DomTree } from "../ir/cfg";
import { isImm, mapUses, type Block, type IrInsn, type Operand, type VReg } from "../ir/ir";
import { mayAlias, placeOf, type Place } from "./memory";
import { bits, canon, definitions, replaceUses, type Pass } from "./pass";

interface Known {
  place: Place;
  /** The value a load there gives; `exact` when it is a register of the load's own width. */
  value: Operand;
  exact: boolean;
}

type Memory = Map<string, Known>;

const COMMUTATIVE = new Set(["ADD", "MUL", "AND", "OR", "XOR"]);

export const gvn: Pass = {
  name: "gvn",
  what: "value numbering over the dominator tree: addresses, arithmetic, loads, store-to-load forwarding",
  run(fn, cx) {
    const dt = dominators(fn);
    const defs = definitions(fn);
    const replace = new Map<number, Operand>();
    const lookup = (r: VReg): Operand | undefined => {
      let o = replace.get(r.id);
      while (o && !isImm(o) && replace.has(o.reg.id)) o = replace.get(o.reg.id);
      return o;
    };
    const pure = new Map<string, VReg>();
    const memOut = new Map<Block, Memory>();
    const readOnly = (p: Place) => p.kind === "global" && cx.readOnly.has(p.symbol);
    const forgetCalls = (m: Memory) => {
      for (const [k, v] of m) if (!readOnly(v.place)) m.delete(k);
    };
    const forgetStore = (m: Memory, p: Place) => {
      for (const [k, v] of m) if (mayAlias(v.place, p)) m.delete(k);
    };
    const op = (o: Operand) => (isImm(o) ? `#${o.imm}` : `%${o.reg.id}`);
    const work: { b: Block; undo?: string[] }[] = [{ b: fn.entry }];
    while (work.length) {
      const item = work.pop()!;
      if (item.undo) {
        for (const k of item.undo) pure.delete(k);
        continue;
      }
      const b = item.b;
      const idom = dt.idom.get(b);
      const mem: Memory = idom && idom !== b ? new Map(memOut.get(idom)) : new Map();
      if (idom && idom !== b) enterJoin(dt, b, idom, mem, defs, forgetCalls, forgetStore);
      const undo: string[] = [];
      const kept: IrInsn[] = [];
      for (const i of b.insns) {
        mapUses(i, lookup);
        let key: string | undefined;
        if (i.opaque) {
          kept.push(i);
          continue;
        }
        switch (i.op) {
          case "addr": key = `addr ${i.symbol} ${i.offset}`; break;
          case "neg": key = `neg ${i.width} ${op(i.a)}`; break;
          case "alu": {
            let [x, y] = [op(i.a), op(i.b)];
            if (COMMUTATIVE.has(i.alu) && x > y) [x, y] = [y, x];
            key = `alu ${i.alu} ${i.width} ${x} ${y}`;
            break;
          }
          case "mov": if (!isImm(i.src)) key = `mov ${op(i.src)}`; break;
        }
        if (key !== undefined) {
          const d = (i as { dst: VReg }).dst;
          key += ` ${d.width} ${d.ptr}`;
          const hit = pure.get(key);
          if (hit) {
            replace.set(d.id, { reg: hit });
            continue;
          }
          pure.set(key, d);
          undo.push(key);
          kept.push(i);
          continue;
        }
        if (i.op === "load") {
          const place = placeOf(defs, i.base, i.off, i.size);
          const k = `${i.base.id} ${i.off} ${i.size}`;
          const hit = mem.get(k);
          if (hit) {
            if (hit.exact && !isImm(hit.value)) {
              replace.set(i.dst.id, hit.value);
              continue;
            }
            kept.push({ op: "mov", dst: i.dst, src: hit.value, pos: i.pos, depth: i.depth });
            continue;
          }
          mem.set(k, { place, value: { reg: i.dst }, exact: true });
          kept.push(i);
          continue;
        }
        if (i.op === "store") {
          const place = placeOf(defs, i.base, i.off, i.size);
          forgetStore(mem, place);
          const k = `${i.base.id} ${i.off} ${i.size}`;
          if (isImm(i.src)) {
            const v = i.size === "DW" ? canon(BigInt.asIntN(32, i.src.imm), 64) : canon(bits(i.src.imm, place.size * 8), 32);
            mem.set(k, { place, value: { imm: v }, exact: false });
          } else if (i.size === "W" || i.size === "DW") mem.set(k, { place, value: i.src, exact: false });
          kept.push(i);
          continue;
        }
        if (i.op === "call") forgetCalls(mem);
        kept.push(i);
      }
      b.insns = kept;
      if (b.term) mapUses(b.term, lookup);
      memOut.set(b, mem);
      work.push({ b, undo });
      for (const c of [...dt.children.get(b)!].reverse()) work.push({ b: c });
    }
    replaceUses(fn, replace);
  },
};

/** Forget what another path into `b` (not through its immediate dominator) may change. */
function enterJoin(
  dt: DomTree,
  b: Block,
  idom: Block,
  mem: Memory,
  defs: Map<number, IrInsn>,
  forgetCalls: (m: Memory) => void,
  forgetStore: (m: Memory, p: Place) => void,
): void {
  const preds = dt.preds.get(b) ?? [];
  if (preds.length === 1 && preds[0] === idom) return;
  // A loop header: the loop may change anything (other threads and the kernel too, between iterations).
  if (preds.some((p) => dt.dominates(b, p))) return forgetCalls(mem);
  const seen = new Set<Block>([idom]);
  const work = preds.filter((p) => p !== idom);
  let budget = 4096;
  while (work.length && mem.size) {
    const p = work.pop()!;
    if (seen.has(p)) continue;
    seen.add(p);
    if (--budget < 0) return forgetCalls(mem);
    for (const i of p.insns) {
      if (i.op === "call") forgetCalls(mem);
      else if (i.op === "store") forgetStore(mem, placeOf(defs, i.base, i.off, i.size));
    }
    for (const q of dt.preds.get(p) ?? []) if (!seen.has(q)) work.push(q);
  }
}
