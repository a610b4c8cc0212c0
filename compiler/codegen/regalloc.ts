// Register allocation: liveness over the IR's blocks, an interference graph, and priority-based colouring
// onto r0-r9. Values live across a call get callee-saved r6-r9 (calls clobber r0-r5); the rest prefer
// r0-r5. Move-related registers and calling-convention registers are tried first so most moves vanish.
// A value that finds no register is spilled to an 8-byte stack slot and the function is rewritten with
// short-lived reload/store temporaries; allocation then repeats.

import type { Reg } from "../bpf/insn";
import { ALL, CALLEE_SAVED, NON_COMMUTATIVE, type Allocation } from "./target";
import { def, isImm, uses, type IrFunction, type VReg } from "../ir/ir";
import { blockLiveness, walkBack } from "./liveness";
import { linearScan } from "./linearscan";
import { rematerializable, rewriteSpills } from "./spill";

export { FP } from "./spill";
export type { Allocation } from "./target";


/** Functions with more values than this get the linear-scan allocator (linearscan.ts): its cost grows
 *  as n log n where an interference graph grows with the square of the values live at once. */
export const LINEAR_SCAN_ABOVE = 1500;





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
 *  conflicting value ("chaitin": spills long-lived values first, good under heavy pressure); or
 *  "linear": linear scan, which large functions get whatever is asked. */
export type Priority = "cost" | "chaitin" | "linear";

/** `lookAhead`: a value avoids the registers that the neighbours of its not yet coloured copy partners
 *  hold (see below). Each of the options wins on some functions; codegen tries them and keeps the
 *  smallest code. */
export function allocate(fn: IrFunction, priority: Priority = "cost", coalesceMoves = false, lookAhead = false): Allocation {
  const spills = new Map<number, number>();
  const spilledNames: string[] = [];
  const temps = new Set<number>();
  // Stack objects sit at the top of the frame (8-byte aligned); spill slots below them.
  let stackSize = (fn.stackObjects ?? []).reduce((n, s) => n + Math.ceil(s / 8) * 8, 0);
  let nvals = 0;
  for (const b of fn.blocks) for (const it of b.insns) if (def(it)) nvals++;
  if (priority === "linear" || nvals > LINEAR_SCAN_ABOVE) return linearScan(fn);
  for (let round = 0; round < 50; round++) {
    const { liveOut } = blockLiveness(fn);
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
      walkBack(b, liveOut.get(b)!, (it, out) => {
        const w = Math.pow(10, Math.min(it.depth, 6));
        for (const u of uses(it)) if (u.id >= 0) get(u).cost += w;
        const d = def(it);
        if (d) get(d).cost += w;
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
      });
    }
    // Conservative coalescing: copies between values that never interfere become one value when the
    // merged value has fewer neighbours than it has registers to choose from (Briggs' test, simplified),
    // so both ends get one register whatever order colouring takes. If that leaves anything without a
    // register, this round is coloured again without it.
    const rep = coalesceMoves ? coalesce(fn, info) : undefined;
    if (rep) {
      for (const [id, r] of rep) {
        if (id === r) continue;
        const x = info.get(id)!;
        const y = info.get(r)!;
        y.cost += x.cost;
        y.crossesCall ||= x.crossesCall;
        y.temp ||= x.temp;
        y.hints.push(...x.hints);
        for (const n of x.neighbours) y.neighbours.add(n);
        for (const m of x.moves) y.moves.add(m);
      }
      for (const [id, r] of rep) if (id !== r) info.delete(id);
      const R = (id: number) => rep.get(id) ?? id;
      for (const x of info.values()) {
        x.neighbours = new Set([...x.neighbours].map(R).filter((n) => n !== x.v.id));
        x.moves = new Set([...x.moves].map(R).filter((n) => n !== x.v.id));
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
      // A copy partner not coloured yet will want this value's register: avoid those its neighbours
      // already hold, or the copy stays (a loop's phi copy whose partner conflicts with the counter).
      const avoid = new Set<Reg>();
      if (lookAhead) for (const m of x.moves) {
        if (reg.has(m)) continue;
        for (const n of info.get(m)?.neighbours ?? []) {
          const r = reg.get(n);
          if (r !== undefined) avoid.add(r);
        }
      }
      const pick = [...prefs, ...allowed.filter((r) => !avoid.has(r)), ...allowed].find((r) => allowed.includes(r) && !taken.has(r));
      if (pick === undefined) failed.push(x);
      else reg.set(x.v.id, pick);
    }
    if (failed.length === 0) {
      if (rep) for (const [id, r] of rep) reg.set(id, reg.get(r)!);
      return { reg, stackSize, spills, spilledNames };
    }
    if (rep) {
      coalesceMoves = false;
      round--;
      continue;
    }
    const remat = rematerializable(fn);
    for (const x of failed) {
      if (x.temp) throw new Error(`internal: cannot allocate a register for a spill temporary in ${fn.name}`);
      if (remat.has(x.v.id)) continue;
      spilledNames.push(x.v.name ?? "");
      stackSize += 8;
      spills.set(x.v.id, stackSize);
    }
    rewriteSpills(fn, new Set(failed.map((x) => x.v.id)), spills, temps, remat);
  }
  throw new Error(`internal: register allocation did not converge in ${fn.name}`);
}



/** Classes of copy-related values that can share a register: value id to its class representative. */
function coalesce(fn: IrFunction, info: Map<number, Info>): Map<number, number> | undefined {
  const moves: { a: number; b: number; w: number }[] = [];
  for (const b of fn.blocks) for (const it of b.insns) {
    if (it.op !== "mov" || isImm(it.src) || it.src.reg.id < 0 || it.dst.id < 0) continue;
    // A copy that truncates stays (it clears the upper half).
    if (it.dst.width === 32 && it.src.reg.width === 64) continue;
    moves.push({ a: it.dst.id, b: it.src.reg.id, w: Math.pow(10, Math.min(it.depth, 6)) });
  }
  if (moves.length === 0) return undefined;
  moves.sort((x, y) => y.w - x.w);
  const parent = new Map<number, number>();
  const find = (x: number): number => {
    let r = x;
    while (parent.has(r)) r = parent.get(r)!;
    return r;
  };
  const members = new Map<number, number[]>();
  const nbrs = new Map<number, Set<number>>();
  const cc = new Map<number, boolean>();
  for (const [id, x] of info) {
    members.set(id, [id]);
    nbrs.set(id, new Set(x.neighbours));
    cc.set(id, x.crossesCall);
  }
  let merged = false;
  for (const { a, b } of moves) {
    const ra = find(a);
    const rb = find(b);
    if (ra === rb || !info.has(ra) || !info.has(rb)) continue;
    const na = nbrs.get(ra)!;
    if (members.get(rb)!.some((m) => na.has(m))) continue;
    const union = new Set<number>();
    for (const n of na) union.add(find(n));
    for (const n of nbrs.get(rb)!) union.add(find(n));
    const limit = cc.get(ra) || cc.get(rb) ? CALLEE_SAVED.length : ALL.length;
    if (union.size >= limit) continue;
    parent.set(rb, ra);
    members.get(ra)!.push(...members.get(rb)!);
    for (const n of nbrs.get(rb)!) na.add(n);
    cc.set(ra, cc.get(ra)! || cc.get(rb)!);
    merged = true;
  }
  if (!merged) return undefined;
  const rep = new Map<number, number>();
  for (const id of info.keys()) rep.set(id, find(id));
  return rep;
}
