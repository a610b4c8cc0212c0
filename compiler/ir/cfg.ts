// Control-flow graph analyses over an IR function: predecessors, reverse postorder, the dominator tree
// (Cooper, Harvey and Kennedy's iterative algorithm over reverse postorder) and dominance frontiers, and
// the edits passes share (dropping unreachable blocks, keeping phis in step with edges).

import { successors, type Block, type IrFunction } from "./ir";

/** Predecessors of every reachable block, each listed once per edge. */
export function predecessors(fn: IrFunction): Map<Block, Block[]> {
  const preds = new Map<Block, Block[]>();
  for (const b of fn.blocks) preds.set(b, []);
  for (const b of fn.blocks) for (const s of successors(b)) preds.get(s)?.push(b);
  return preds;
}

/** Blocks reachable from the entry in reverse postorder (iterative, so deep graphs do not overflow). */
export function reversePostorder(fn: IrFunction): Block[] {
  const seen = new Set<Block>([fn.entry]);
  const post: Block[] = [];
  const stack: { b: Block; next: number; succ: Block[] }[] = [{ b: fn.entry, next: 0, succ: successors(fn.entry) }];
  while (stack.length) {
    const top = stack[stack.length - 1];
    if (top.next < top.succ.length) {
      const s = top.succ[top.next++];
      if (!seen.has(s)) {
        seen.add(s);
        stack.push({ b: s, next: 0, succ: successors(s) });
      }
    } else {
      post.push(top.b);
      stack.pop();
    }
  }
  return post.reverse();
}

/** Drop blocks the entry cannot reach (keeping the layout order of the rest) and their phi arguments. */
export function removeUnreachable(fn: IrFunction): boolean {
  const reach = new Set(reversePostorder(fn));
  if (reach.size === fn.blocks.length) return false;
  fn.blocks = fn.blocks.filter((b) => reach.has(b));
  for (const b of fn.blocks)
    for (const i of b.insns) if (i.op === "phi") i.args = i.args.filter((a) => reach.has(a.block));
  return true;
}

export interface DomTree {
  /** Reachable blocks in reverse postorder. */
  order: Block[];
  idom: Map<Block, Block>;
  children: Map<Block, Block[]>;
  preds: Map<Block, Block[]>;
  dominates(a: Block, b: Block): boolean;
}

/** The dominator tree of the reachable blocks. */
export function dominators(fn: IrFunction): DomTree {
  const order = reversePostorder(fn);
  const index = new Map(order.map((b, i) => [b, i]));
  const preds = predecessors(fn);
  const idom = new Map<Block, Block>([[fn.entry, fn.entry]]);
  const intersect = (a: Block, b: Block): Block => {
    while (a !== b) {
      while (index.get(a)! > index.get(b)!) a = idom.get(a)!;
      while (index.get(b)! > index.get(a)!) b = idom.get(b)!;
    }
    return a;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (const b of order) {
      if (b === fn.entry) continue;
      let d: Block | undefined;
      for (const p of preds.get(b)!) if (idom.has(p)) d = d ? intersect(p, d) : p;
      if (d && idom.get(b) !== d) {
        idom.set(b, d);
        changed = true;
      }
    }
  }
  const children = new Map<Block, Block[]>(order.map((b) => [b, []]));
  for (const b of order) if (b !== fn.entry) children.get(idom.get(b)!)!.push(b);
  // Preorder numbers and subtree ends make dominance queries O(1).
  const pre = new Map<Block, number>();
  const end = new Map<Block, number>();
  let n = 0;
  const stack: { b: Block; i: number }[] = [{ b: fn.entry, i: 0 }];
  pre.set(fn.entry, n++);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const kids = children.get(top.b)!;
    if (top.i < kids.length) {
      const c = kids[top.i++];
      pre.set(c, n++);
      stack.push({ b: c, i: 0 });
    } else {
      end.set(top.b, n);
      stack.pop();
    }
  }
  const dominates = (a: Block, b: Block) => {
    const pa = pre.get(a);
    const pb = pre.get(b);
    return pa !== undefined && pb !== undefined && pa <= pb && pb < end.get(a)!;
  };
  return { order, idom, children, preds, dominates };
}

/** Dominance frontiers (where a definition in a block stops dominating: the places phis go). */
export function dominanceFrontiers(dt: DomTree): Map<Block, Set<Block>> {
  const df = new Map<Block, Set<Block>>(dt.order.map((b) => [b, new Set()]));
  for (const b of dt.order) {
    const ps = (dt.preds.get(b) ?? []).filter((p) => dt.idom.has(p));
    if (ps.length < 2) continue;
    for (const p of ps) {
      let r: Block = p;
      while (r !== dt.idom.get(b)) {
        df.get(r)!.add(b);
        r = dt.idom.get(r)!;
      }
    }
  }
  return df;
}

/** Keep `to`'s phis in step when the edge from `from` is replaced by one from `by` (or removed). */
export function retargetPhis(to: Block, from: Block, by: Block | null): void {
  for (const i of to.insns) {
    if (i.op !== "phi") continue;
    if (by) for (const a of i.args) if (a.block === from) a.block = by;
    if (!by) {
      const k = i.args.findIndex((a) => a.block === from);
      if (k >= 0) i.args.splice(k, 1);
    }
  }
}
