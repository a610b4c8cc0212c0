// ssa: rename the values the front end assigns more than once (locals, conditional results) so that every
// value has one definition, with phis where definitions meet (Cytron et al.: phis at the iterated
// dominance frontier of the defining blocks, for values live across blocks; renaming over the dominator
// tree). A value read on a path where it was never assigned reads 0, as a fresh local would.

import { dominanceFrontiers, dominators, removeUnreachable } from "../ir/cfg";
import { def, mapUses, successors, uses, type Block, type IrInsn, type VReg } from "../ir/ir";
import type { Pass } from "./pass";

export const ssa: Pass = {
  name: "ssa",
  what: "SSA form: one definition per value, phis at joins",
  run(fn) {
    for (const b of fn.blocks) {
      const t = b.term;
      if (t?.op === "br" && t.then === t.else) b.term = { op: "jmp", target: t.then, pos: t.pos, depth: t.depth };
    }
    removeUnreachable(fn);
    const dt = dominators(fn);
    // Which values need renaming: those defined more than once, or whose one definition does not come
    // before every use.
    const defBlocks = new Map<number, Set<Block>>();
    const defCount = new Map<number, number>();
    const defAt = new Map<number, { b: Block; i: number }>();
    const regs = new Map<number, VReg>();
    for (const b of dt.order) {
      b.insns.forEach((it, i) => {
        const d = def(it);
        if (!d) return;
        regs.set(d.id, d);
        defCount.set(d.id, (defCount.get(d.id) ?? 0) + 1);
        if (!defBlocks.has(d.id)) defBlocks.set(d.id, new Set());
        defBlocks.get(d.id)!.add(b);
        defAt.set(d.id, { b, i });
      });
    }
    const vars = new Set<number>();
    for (const [id, n] of defCount) if (n > 1) vars.add(id);
    // Values used in a block before (or without) a definition there: candidates for phis.
    const global = new Set<number>();
    for (const b of dt.order) {
      const local = new Set<number>();
      const its: (IrInsn | NonNullable<Block["term"]>)[] = [...b.insns, ...(b.term ? [b.term] : [])];
      its.forEach((it, i) => {
        for (const u of uses(it)) {
          if (u.id < 0) continue;
          regs.set(u.id, regs.get(u.id) ?? u);
          if (!local.has(u.id)) global.add(u.id);
          const d = defAt.get(u.id);
          if (!d || (defCount.get(u.id) === 1 && (d.b === b ? d.i >= i : !dt.dominates(d.b, b)))) vars.add(u.id);
        }
        const d = def(it);
        if (d) local.add(d.id);
      });
    }
    if (vars.size === 0) return;
    // Phi placement.
    const df = dominanceFrontiers(dt);
    const phiVar = new Map<IrInsn, number>();
    const phisOf = new Map<Block, IrInsn[]>();
    for (const v of vars) {
      if (!global.has(v)) continue;
      const has = new Set<Block>();
      const work = [...(defBlocks.get(v) ?? [])];
      const queued = new Set(work);
      while (work.length) {
        const b = work.pop()!;
        for (const f of df.get(b) ?? []) {
          if (has.has(f)) continue;
          has.add(f);
          const r = regs.get(v)!;
          const phi: IrInsn = { op: "phi", dst: r, args: [], pos: f.insns[0]?.pos ?? f.term?.pos, depth: f.insns[0]?.depth ?? f.term?.depth ?? 0 };
          phiVar.set(phi, v);
          if (!phisOf.has(f)) phisOf.set(f, []);
          phisOf.get(f)!.push(phi);
          if (!queued.has(f)) {
            queued.add(f);
            work.push(f);
          }
        }
      }
    }
    for (const [b, ps] of phisOf) b.insns.unshift(...ps);
    // Renaming over the dominator tree; a value with no definition on the way reads a zero made at entry.
    const stacks = new Map<number, VReg[]>();
    const zeros = new Map<number, VReg>();
    const entryZeros: IrInsn[] = [];
    const fresh = (r: VReg): VReg => ({ id: fn.nextVReg++, width: r.width, ptr: r.ptr, name: r.name });
    const current = (id: number): VReg => {
      const s = stacks.get(id);
      if (s && s.length) return s[s.length - 1];
      let z = zeros.get(id);
      if (!z) {
        z = fresh(regs.get(id)!);
        zeros.set(id, z);
        entryZeros.push({ op: "mov", dst: z, src: { imm: 0n }, depth: 0 });
      }
      return z;
    };
    const push = (id: number, r: VReg, log: number[]) => {
      if (!stacks.has(id)) stacks.set(id, []);
      stacks.get(id)!.push(r);
      log.push(id);
    };
    const work: { b: Block; log?: number[] }[] = [{ b: fn.entry }];
    while (work.length) {
      const item = work.pop()!;
      if (item.log) {
        for (const id of item.log) stacks.get(id)!.pop();
        continue;
      }
      const b = item.b;
      const log: number[] = [];
      for (const it of b.insns) {
        if (!(it.op === "phi" && phiVar.has(it))) mapUses(it, (r) => (vars.has(r.id) ? { reg: current(r.id) } : undefined));
        const d = def(it);
        if (d && vars.has(d.id)) {
          const n = fresh(d);
          (it as { dst: VReg }).dst = n;
          push(d.id, n, log);
        }
      }
      if (b.term) mapUses(b.term, (r) => (vars.has(r.id) ? { reg: current(r.id) } : undefined));
      const seen = new Set<Block>();
      for (const s of successors(b)) {
        if (seen.has(s)) continue;
        seen.add(s);
        for (const p of phisOf.get(s) ?? []) {
          const v = phiVar.get(p)!;
          (p as Extract<IrInsn, { op: "phi" }>).args.push({ block: b, value: { reg: current(v) } });
        }
      }
      work.push({ b, log });
      for (const c of [...dt.children.get(b)!].reverse()) work.push({ b: c });
    }
    if (entryZeros.length) {
      const k = fn.entry.insns.findIndex((i) => i.op !== "param");
      fn.entry.insns.splice(k < 0 ? fn.entry.insns.length : k, 0, ...entryZeros);
    }
  },
};
