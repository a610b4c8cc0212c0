// Register allocation: liveness over the IR's blocks, an interference graph, and priority-based colouring
// onto r0-r9. Values live across a call get callee-saved r6-r9 (calls clobber r0-r5); the rest prefer
// r0-r5. Move-related registers and calling-convention registers are tried first so most moves vanish.
// A value that finds no register is spilled to an 8-byte stack slot and the function is rewritten with
// short-lived reload/store temporaries; allocation then repeats.

import type { Reg } from "../bpf/insn";
import { def, isImm, successors, uses, type Block, type IrFunction, type IrInsn, type Terminator, type VReg } from "../ir/ir";

/** The frame pointer as a pseudo virtual register (never allocated; always r10). */
export const FP: VReg = { id: -1, width: 64, ptr: true, name: "fp" };

export interface Allocation {
  reg: Map<number, Reg>;
  /** Bytes of stack used by spill slots (multiples of 8). */
  stackSize: number;
  /** Per spilled value: the slot's offset below r10 (for dumps). */
  spills: Map<number, number>;
  /** Source names of the spilled values ("" for temporaries), for stack diagnostics. */
  spilledNames: string[];
}

const CALLEE_SAVED: Reg[] = [6, 7, 8, 9];
const ALL: Reg[] = [1, 2, 3, 4, 5, 0, 6, 7, 8, 9];
const NON_COMMUTATIVE = new Set(["SUB", "DIV", "MOD", "LSH", "RSH", "ARSH"]);

type Item = IrInsn | Terminator;

function items(b: Block): Item[] {
  return b.term ? [...b.insns, b.term] : [...b.insns];
}

/** Live-out sets per instruction, computed block by block to a fixed point. */
export function liveness(fn: IrFunction): Map<Item, Set<number>> {
  const liveIn = new Map<Block, Set<number>>();
  for (const b of fn.blocks) liveIn.set(b, new Set());
  const outOf = (b: Block) => {
    const s = new Set<number>();
    for (const succ of successors(b)) for (const v of liveIn.get(succ) ?? []) s.add(v);
    return s;
  };
  let changed = true;
  while (changed) {
    changed = false;
    for (let bi = fn.blocks.length - 1; bi >= 0; bi--) {
      const b = fn.blocks[bi];
      const live = outOf(b);
      const its = items(b);
      for (let i = its.length - 1; i >= 0; i--) {
        const d = def(its[i]);
        if (d) live.delete(d.id);
        for (const u of uses(its[i])) if (u.id >= 0) live.add(u.id);
      }
      const prev = liveIn.get(b)!;
      if (live.size !== prev.size || [...live].some((v) => !prev.has(v))) {
        liveIn.set(b, live);
        changed = true;
      }
    }
  }
  const result = new Map<Item, Set<number>>();
  for (const b of fn.blocks) {
    const live = outOf(b);
    const its = items(b);
    for (let i = its.length - 1; i >= 0; i--) {
      result.set(its[i], new Set(live));
      const d = def(its[i]);
      if (d) live.delete(d.id);
      for (const u of uses(its[i])) if (u.id >= 0) live.add(u.id);
    }
  }
  return result;
}

interface Info {
  v: VReg;
  cost: number;
  crossesCall: boolean;
  temp: boolean;
  neighbours: Set<number>;
  hints: Reg[];
  moves: Set<number>;
}

/** Allocate registers for `fn`, rewriting it with spill code where needed. */
/** How colouring orders values: by use count ("cost": good for small functions), or by uses per
 *  conflicting value ("chaitin": spills long-lived values first, good under heavy pressure). */
export type Priority = "cost" | "chaitin";

export function allocate(fn: IrFunction, priority: Priority = "cost"): Allocation {
  const spills = new Map<number, number>();
  const spilledNames: string[] = [];
  const temps = new Set<number>();
  // Stack objects sit at the top of the frame (8-byte aligned); spill slots below them.
  let stackSize = (fn.stackObjects ?? []).reduce((n, s) => n + Math.ceil(s / 8) * 8, 0);
  for (let round = 0; round < 50; round++) {
    const live = liveness(fn);
    const info = new Map<number, Info>();
    const get = (v: VReg): Info => {
      let x = info.get(v.id);
      if (!x) info.set(v.id, (x = { v, cost: 0, crossesCall: false, temp: temps.has(v.id), neighbours: new Set(), hints: [], moves: new Set() }));
      return x;
    };
    const edge = (a: number, b: number) => {
      if (a === b || a < 0 || b < 0) return;
      info.get(a)?.neighbours.add(b);
      info.get(b)?.neighbours.add(a);
    };
    for (const b of fn.blocks) {
      for (const it of items(b)) {
        const w = Math.pow(10, Math.min(it.depth, 6));
        for (const u of uses(it)) if (u.id >= 0) get(u).cost += w;
        const d = def(it);
        if (d) get(d).cost += w;
        const out = live.get(it)!;
        for (const id of out) get(info.get(id)?.v ?? ({ id, width: 64, ptr: false } as VReg));
        if (it.op === "call") {
          for (const id of out) if (id !== d?.id) info.get(id)!.crossesCall = true;
          it.args.forEach((a, i) => { if (!isImm(a) && a.reg.id >= 0) get(a.reg).hints.push((i + 1) as Reg); });
          if (d) get(d).hints.push(0);
        }
        if (it.op === "param") get(it.dst).hints.push((it.index + 1) as Reg);
        if (it.op === "ret" && !isImm(it.value)) get(it.value.reg).hints.push(0);
        if (d) {
          for (const id of out) {
            // A copy may share its source's register (the value is the same), unless it truncates.
            if (it.op === "mov" && !isImm(it.src) && it.src.reg.id === id && !(it.dst.width === 32 && it.src.reg.width === 64)) continue;
            edge(d.id, id);
          }
          if (it.op === "alu" && !isImm(it.b) && NON_COMMUTATIVE.has(it.alu)) edge(d.id, it.b.reg.id);
          if (it.op === "alu" && isImm(it.a) && !isImm(it.b)) edge(d.id, it.b.reg.id);
          if (it.op === "mov" && !isImm(it.src) && it.src.reg.id >= 0) {
            get(d).moves.add(it.src.reg.id);
            get(it.src.reg).moves.add(d.id);
          }
          if (it.op === "alu" && !isImm(it.a) && it.a.reg.id >= 0) {
            get(d).moves.add(it.a.reg.id);
            get(it.a.reg).moves.add(d.id);
          }
        }
      }
    }
    // Colour: temporaries first, then values crossing calls, then by weight.
    // Chaitin's measure: values used often per unit of conflict keep registers; long-lived values with
    // few uses (many neighbours) are the cheapest to spill.
    const weight = (x: Info) => (priority === "chaitin" ? x.cost / (x.neighbours.size + 1) : x.cost);
    const order = [...info.values()].sort((a, b) => Number(b.temp) - Number(a.temp) || Number(b.crossesCall) - Number(a.crossesCall) || weight(b) - weight(a));
    const reg = new Map<number, Reg>();
    const failed: Info[] = [];
    for (const x of order) {
      const taken = new Set<Reg>();
      for (const n of x.neighbours) {
        const r = reg.get(n);
        if (r !== undefined) taken.add(r);
      }
      const allowed = x.crossesCall ? CALLEE_SAVED : ALL;
      const prefs: Reg[] = [];
      for (const m of x.moves) {
        const r = reg.get(m);
        if (r !== undefined) prefs.push(r);
      }
      prefs.push(...x.hints);
      const pick = [...prefs, ...allowed].find((r) => allowed.includes(r) && !taken.has(r));
      if (pick === undefined) failed.push(x);
      else reg.set(x.v.id, pick);
    }
    if (failed.length === 0) return { reg, stackSize, spills, spilledNames };
    for (const x of failed) {
      spilledNames.push(x.v.name ?? "");
      if (x.temp) throw new Error(`internal: cannot allocate a register for a spill temporary in ${fn.name}`);
      stackSize += 8;
      spills.set(x.v.id, stackSize);
    }
    rewriteSpills(fn, new Set(failed.map((x) => x.v.id)), spills, temps);
  }
  throw new Error(`internal: register allocation did not converge in ${fn.name}`);
}

/** Replace each use of a spilled value by a reload into a fresh temporary and each definition by a
 *  definition of a temporary followed by a store to the value's slot. */
function rewriteSpills(fn: IrFunction, spilled: Set<number>, slots: Map<number, number>, temps: Set<number>): void {
  const fresh = (v: VReg): VReg => {
    const t: VReg = { id: fn.nextVReg++, width: v.width, ptr: v.ptr, name: v.name ? v.name + ".r" : undefined };
    temps.add(t.id);
    return t;
  };
  for (const b of fn.blocks) {
    const out: IrInsn[] = [];
    const fixUses = (it: Item) => {
      const map = new Map<number, VReg>();
      const sub = (r: VReg): VReg => {
        if (!spilled.has(r.id)) return r;
        let t = map.get(r.id);
        if (!t) {
          t = fresh(r);
          map.set(r.id, t);
          out.push({ op: "load", dst: t, base: FP, off: -slots.get(r.id)!, size: "DW", pos: it.pos, depth: it.depth });
        }
        return t;
      };
      const op = (o: { reg: VReg } | { imm: bigint }) => (isImm(o) ? o : { reg: sub(o.reg) });
      switch (it.op) {
        case "mov": it.src = op(it.src); break;
        case "alu": it.a = op(it.a); it.b = op(it.b); break;
        case "neg": it.a = op(it.a); break;
        case "load": it.base = sub(it.base); break;
        case "store": it.base = sub(it.base); it.src = op(it.src); break;
        case "call": it.args = it.args.map(op); break;
        case "br": it.a = sub(it.a); it.b = op(it.b); break;
        case "ret": it.value = op(it.value); break;
      }
    };
    for (const it of b.insns) {
      fixUses(it);
      const d = def(it);
      if (d && spilled.has(d.id)) {
        const t = fresh(d);
        (it as { dst: VReg }).dst = t;
        out.push(it);
        out.push({ op: "store", base: FP, off: -slots.get(d.id)!, size: "DW", src: { reg: t }, pos: it.pos, depth: it.depth });
      } else out.push(it);
    }
    if (b.term) fixUses(b.term);
    b.insns = out;
  }
}
