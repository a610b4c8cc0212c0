// Liveness for register allocation: live-in and live-out sets per block (a worklist to a fixed point,
// no per-instruction sets), and a backward walk of a block that hands each instruction the values live
// after it.

import { def, successors, uses, type Block, type IrFunction, type IrInsn, type Terminator } from "../ir/ir";

export type Item = IrInsn | Terminator;

export function items(b: Block): Item[] {
  return b.term ? [...b.insns, b.term] : [...b.insns];
}

/** Live-in and live-out sets of every block, to a fixed point over a worklist (each block is revisited
 *  only when a successor's live-in grew). */
export function blockLiveness(fn: IrFunction): { liveIn: Map<Block, Set<number>>; liveOut: Map<Block, Set<number>> } {
  const liveIn = new Map<Block, Set<number>>();
  const liveOut = new Map<Block, Set<number>>();
  const gen = new Map<Block, Set<number>>();
  const kill = new Map<Block, Set<number>>();
  const preds = new Map<Block, Block[]>();
  for (const b of fn.blocks) {
    preds.set(b, []);
    const g = new Set<number>();
    const k = new Set<number>();
    for (const it of items(b)) {
      for (const u of uses(it)) if (u.id >= 0 && !k.has(u.id)) g.add(u.id);
      const d = def(it);
      if (d) k.add(d.id);
    }
    gen.set(b, g);
    kill.set(b, k);
    liveIn.set(b, new Set(g));
    liveOut.set(b, new Set());
  }
  for (const b of fn.blocks) for (const s of successors(b)) preds.get(s)?.push(b);
  const work = [...fn.blocks];
  const queued = new Set(work);
  while (work.length) {
    const b = work.pop()!;
    queued.delete(b);
    const out = liveOut.get(b)!;
    for (const s of successors(b)) for (const v of liveIn.get(s) ?? []) out.add(v);
    const inn = liveIn.get(b)!;
    const k = kill.get(b)!;
    let grew = false;
    for (const v of out) if (!k.has(v) && !inn.has(v)) {
      inn.add(v);
      grew = true;
    }
    if (grew) for (const p of preds.get(b)!) if (!queued.has(p)) {
      queued.add(p);
      work.push(p);
    }
  }
  return { liveIn, liveOut };
}

/** Walk a block backwards with the set of values live after each item (the set is reused: copy it to keep it). */
export function walkBack(b: Block, liveOut: Set<number>, f: (it: Item, liveAfter: Set<number>) => void): void {
  const live = new Set(liveOut);
  const its = items(b);
  for (let i = its.length - 1; i >= 0; i--) {
    f(its[i], live);
    const d = def(its[i]);
    if (d) live.delete(d.id);
    for (const u of uses(its[i])) if (u.id >= 0) live.add(u.id);
  }
}
