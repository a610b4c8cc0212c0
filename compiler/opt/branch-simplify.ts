// branch-simplify: branches on two constants become jumps, branches whose targets agree become jumps,
// jumps to blocks that only jump on are threaded through them, a block whose only successor has no other
// predecessor absorbs it, and unreachable blocks go. Phis are kept in step with every edge change.

import { predecessors, removeUnreachable, retargetPhis } from "../ir/cfg";
import { isImm, mapSuccessors, successors, type Block, type IrFunction, type IrInsn, type Operand } from "../ir/ir";
import { bits, definitions, evalCmp, type Pass } from "./pass";

export const branchSimplify: Pass = {
  name: "branch-simplify",
  what: "constant branches, jump threading through empty blocks, block merging, unreachable code",
  run(fn) {
    for (let round = 0; round < 16; round++) {
      let changed = foldBranches(fn);
      changed = removeUnreachable(fn) || changed;
      changed = thread(fn) || changed;
      changed = removeUnreachable(fn) || changed;
      changed = mergeBlocks(fn) || changed;
      if (!changed) break;
    }
  },
};

function foldBranches(fn: IrFunction): boolean {
  const defs = definitions(fn);
  const constOf = (o: Operand): bigint | undefined => {
    if (isImm(o)) return o.imm;
    const d = defs.get(o.reg.id);
    // A register's constant is its value at the register's width (a 32-bit -1 is 0xffffffff in a 64-bit
    // compare: w registers zero-extend), not the canonical sign-extended immediate (generated seed 106052).
    return d?.op === "mov" && isImm(d.src) ? bits(d.src.imm, o.reg.width) : undefined;
  };
  let changed = false;
  for (const b of fn.blocks) {
    const t = b.term;
    if (t?.op !== "br") continue;
    let target: Block | undefined;
    if (t.then === t.else) target = t.then;
    else {
      const x = constOf({ reg: t.a });
      const y = constOf(t.b);
      if (x !== undefined && y !== undefined) target = evalCmp(t.cmp, t.width, x, y) ? t.then : t.else;
    }
    if (!target) continue;
    const dropped = target === t.then ? t.else : t.then;
    if (dropped !== target) retargetPhis(dropped, b, null);
    b.term = { op: "jmp", target, pos: t.pos, depth: t.depth };
    changed = true;
  }
  return changed;
}

/** The value a phi of `to` takes on the edge from `from`. */
function phiArg(phi: Extract<IrInsn, { op: "phi" }>, from: Block): Operand | undefined {
  return phi.args.find((a) => a.block === from)?.value;
}

const sameOperand = (a: Operand | undefined, b: Operand | undefined) =>
  !!a && !!b && (isImm(a) ? isImm(b) && a.imm === b.imm : !isImm(b) && a.reg.id === b.reg.id);

function thread(fn: IrFunction): boolean {
  let changed = false;
  for (const b of fn.blocks) {
    if (!b.term) continue;
    mapSuccessors(b.term, (e) => {
      // e only jumps on: go straight to its target, if the target's phis allow it.
      if (e === b || e.insns.length !== 0 || e.term?.op !== "jmp" || e.term.target === e) return e;
      const t = e.term.target;
      const phis = t.insns.filter((i): i is Extract<IrInsn, { op: "phi" }> => i.op === "phi");
      const already = successors(b).includes(t);
      if (phis.some((p) => already && !sameOperand(phiArg(p, b), phiArg(p, e)))) return e;
      if (already && phis.length) return e;
      for (const p of phis) p.args.push({ block: b, value: phiArg(p, e)! });
      changed = true;
      return t;
    });
    // Phis of a threaded-away block lose this predecessor.
  }
  if (changed) {
    // Drop the phi arguments of edges that no longer exist.
    const preds = predecessors(fn);
    for (const b of fn.blocks)
      for (const i of b.insns) if (i.op === "phi") i.args = i.args.filter((a) => preds.get(b)?.includes(a.block));
    for (const b of fn.blocks) {
      const t = b.term;
      if (t?.op === "br" && t.then === t.else) b.term = { op: "jmp", target: t.then, pos: t.pos, depth: t.depth };
    }
  }
  return changed;
}

function mergeBlocks(fn: IrFunction): boolean {
  const preds = predecessors(fn);
  let changed = false;
  const gone = new Set<Block>();
  for (const b of fn.blocks) {
    if (gone.has(b)) continue;
    for (;;) {
      const t = b.term;
      if (t?.op !== "jmp") break;
      const s = t.target;
      if (s === b || s === fn.entry || gone.has(s) || (preds.get(s)?.length ?? 0) !== 1) break;
      // s's phis have one argument: they become copies.
      const insns = s.insns.map((i): IrInsn => (i.op === "phi" ? { op: "mov", dst: i.dst, src: i.args[0].value, pos: i.pos, depth: i.depth } : i));
      b.insns.push(...insns);
      b.term = s.term;
      for (const n of successors(s)) {
        retargetPhis(n, s, b);
        const ps = preds.get(n)!;
        for (let k = 0; k < ps.length; k++) if (ps[k] === s) ps[k] = b;
      }
      gone.add(s);
      changed = true;
    }
  }
  if (changed) fn.blocks = fn.blocks.filter((b) => !gone.has(b));
  return changed;
}
