// Linear-scan register allocation (Poletto and Sarkar) for large functions: each value's live interval
// over the instructions in layout order, a scan in order of interval starts that hands out free
// registers (callee-saved ones to values live across a call) and, when none is free, spills the interval
// that ends last. Spilled values are rewritten (spill.ts) and the scan repeats with the new temporaries,
// which never spill. Cost: n log n in the number of values, whatever number are live at once.

import type { Reg } from "../bpf/insn";
import { def, isImm, uses, type IrFunction } from "../ir/ir";
import { blockLiveness, items } from "./liveness";
import { rematerializable, rewriteSpills } from "./spill";
import { ALL, CALLEE_SAVED, NON_COMMUTATIVE, type Allocation } from "./target";

interface Interval {
  id: number;
  name: string;
  start: number;
  end: number;
  crossesCall: boolean;
  temp: boolean;
  reg?: Reg;
}

export function linearScan(fn: IrFunction): Allocation {
  const spills = new Map<number, number>();
  const spilledNames: string[] = [];
  const temps = new Set<number>();
  let stackSize = (fn.stackObjects ?? []).reduce((n, s) => n + Math.ceil(s / 8) * 8, 0);
  for (let round = 0; round < 20; round++) {
    const iv = intervals(fn, temps);
    const sorted = [...iv.values()].sort((a, b) => a.start - b.start || a.end - b.end);
    const active: Interval[] = [];
    const free = new Set<Reg>(ALL);
    const spilled: Interval[] = [];
    for (const cur of sorted) {
      // Expire intervals that ended before this one starts.
      for (let k = active.length - 1; k >= 0; k--) {
        if (active[k].end < cur.start) {
          free.add(active[k].reg!);
          active.splice(k, 1);
        }
      }
      const allowed = cur.crossesCall ? CALLEE_SAVED : ALL;
      const pick = allowed.find((r) => free.has(r));
      if (pick !== undefined) {
        cur.reg = pick;
        free.delete(pick);
        active.push(cur);
        continue;
      }
      // Spill whichever of the competitors (holding a register this value may use) ends last.
      let victim: Interval | undefined = cur.temp ? undefined : cur;
      for (const a of active) if (!a.temp && allowed.includes(a.reg!) && (!victim || a.end > victim.end)) victim = a;
      if (!victim) throw new Error(`internal: cannot allocate a register for a spill temporary in ${fn.name}`);
      if (victim !== cur) {
        cur.reg = victim.reg;
        victim.reg = undefined;
        active.splice(active.indexOf(victim), 1);
        active.push(cur);
      }
      spilled.push(victim);
    }
    if (spilled.length === 0) {
      const reg = new Map<number, Reg>();
      for (const x of iv.values()) reg.set(x.id, x.reg!);
      return { reg, stackSize, spills, spilledNames };
    }
    // Stack slots: a slot is reused by a spilled value whose interval starts after its last one ended.
    const remat = rematerializable(fn);
    const slotFree: { slot: number; end: number }[] = [];
    for (const x of spilled.filter((s) => !remat.has(s.id)).sort((a, b) => a.start - b.start)) {
      const k = slotFree.findIndex((s) => s.end < x.start);
      let slot: number;
      if (k >= 0) {
        slot = slotFree[k].slot;
        slotFree.splice(k, 1);
      } else {
        stackSize += 8;
        slot = stackSize;
        spilledNames.push(x.name);
      }
      spills.set(x.id, slot);
      slotFree.push({ slot, end: x.end });
    }
    rewriteSpills(fn, new Set(spilled.map((x) => x.id)), spills, temps, remat);
  }
  throw new Error(`internal: register allocation did not converge in ${fn.name}`);
}

/** Live intervals over positions: item k of the layout has its uses at 2k and its definition at 2k+1. */
function intervals(fn: IrFunction, temps: Set<number>): Map<number, Interval> {
  const { liveIn, liveOut } = blockLiveness(fn);
  const iv = new Map<number, Interval>();
  const names = new Map<number, string>();
  const touch = (id: number, p: number) => {
    if (id < 0) return;
    const x = iv.get(id);
    if (!x) iv.set(id, { id, name: names.get(id) ?? "", start: p, end: p, crossesCall: false, temp: temps.has(id) });
    else {
      if (p < x.start) x.start = p;
      if (p > x.end) x.end = p;
    }
  };
  const calls: number[] = [];
  let k = 0;
  for (const b of fn.blocks) {
    const first = 2 * k;
    for (const id of liveIn.get(b)!) touch(id, first);
    for (const it of items(b)) {
      for (const u of uses(it)) touch(u.id, 2 * k);
      const d = def(it);
      if (d) {
        if (d.name) names.set(d.id, d.name);
        touch(d.id, 2 * k + 1);
        // dst = a; dst op= b: b must not share dst's register.
        if (it.op === "alu" && !isImm(it.b) && (NON_COMMUTATIVE.has(it.alu) || isImm(it.a))) touch(it.b.reg.id, 2 * k + 1);
      }
      if (it.op === "call") calls.push(2 * k);
      k++;
    }
    for (const id of liveOut.get(b)!) touch(id, 2 * k - 1);
  }
  // Values live across a call (defined before it, used after it) need callee-saved registers.
  for (const x of iv.values()) {
    let lo = 0;
    let hi = calls.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (calls[mid] <= x.start) lo = mid + 1;
      else hi = mid;
    }
    x.crossesCall = lo < calls.length && calls[lo] + 1 < x.end;
  }
  return iv;
}
