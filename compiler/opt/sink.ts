// sink: code that several predecessors of a block end with alike moves into one copy (LLVM's "sink
// common code from predecessors"). Predecessors that jump to the same block and end with instructions of
// the same shape (the same operations, sizes, offsets and symbols, in the same order) share one new block
// that holds those instructions once and then jumps on; where an operand differs between them (the value
// one path stored, the constant another did) the new block takes it from a phi, which every predecessor
// sets. The suffix runs in the same order right before the same block, so nothing it reads or writes
// moves past anything else. It is done when the instructions merged away outweigh the copies the phis
// cost: inlined calls of one function on several paths (an SQE prepared the same way in three branches)
// become one.

import { def, isImm, uses, type Block, type IrFunction, type IrInsn, type Operand, type VReg, type Width } from "../ir/ir";
import { predecessors } from "../ir/cfg";
import type { Pass } from "./pass";

/** The shape of an instruction: everything but its operands (undefined: never sunk). */
function shapeOf(i: IrInsn): string | undefined {
  if (i.opaque) return undefined;
  const d = def(i);
  const dw = d ? `${d.width}${d.ptr ? "p" : ""}` : "-";
  switch (i.op) {
    case "mov": return `mov ${dw}`;
    case "alu": return `alu ${i.alu} ${i.width} ${dw}`;
    case "neg": return `neg ${i.width} ${dw}`;
    case "load": return `load ${i.size} ${i.off} ${dw}`;
    case "store": return `store ${i.size} ${i.off} ${isImm(i.src) ? "#" : "r"}`;
    case "addr": return `addr ${i.symbol} ${i.offset} ${dw}`;
    case "call": return `call ${i.kind} ${i.name} ${i.helperId ?? ""} ${i.atomic ? JSON.stringify(i.atomic) : ""} ${i.args.length} ${dw}`;
    default: return undefined; // phi, param, stackaddr (cheaper to compute again than to merge)
  }
}

interface Slot {
  get(): Operand;
  set(o: Operand): void;
  width: Width;
  /** Whether a phi may feed it (a scalar value; pointers stay as they are, so alias facts survive). */
  value: boolean;
}

function slotsOf(i: IrInsn): Slot[] {
  const s = (get: () => Operand, set: (o: Operand) => void, width: Width, value = true): Slot => ({ get, set, width, value });
  switch (i.op) {
    case "mov": return [s(() => i.src, (o) => (i.src = o), i.dst.width, !i.dst.ptr)];
    case "alu": return [s(() => i.a, (o) => (i.a = o), i.width, !i.dst.ptr), s(() => i.b, (o) => (i.b = o), i.width, !i.dst.ptr)];
    case "neg": return [s(() => i.a, (o) => (i.a = o), i.width)];
    case "load": return [s(() => ({ reg: i.base }), (o) => (i.base = (o as { reg: VReg }).reg), 64, false)];
    case "store": return [
      s(() => ({ reg: i.base }), (o) => (i.base = (o as { reg: VReg }).reg), 64, false),
      // An immediate store's constant is part of its shape (a phi would turn it into a register store).
      s(() => i.src, (o) => (i.src = o), i.size === "DW" ? 64 : 32, !isImm(i.src)),
    ];
    case "call": return i.args.map((_, k) => s(() => i.args[k], (o) => (i.args[k] = o), 64, false));
    default: return [];
  }
}

const same = (a: Operand, b: Operand) => (isImm(a) ? isImm(b) && a.imm === b.imm : !isImm(b) && a.reg.id === b.reg.id);
const slotsOfInsn = (i: IrInsn) => (i.op === "addr" ? 2 : 1);

type How = { kind: "same" } | { kind: "local"; pos: number } | { kind: "phi"; width: Width };

interface Plan {
  preds: Block[];
  /** Instructions from the end of each predecessor. */
  n: number;
  how: How[][];
  phis: number;
}

/** How to merge the last `n` instructions of `preds`, or undefined when they do not merge. */
function planFor(preds: Block[], n: number, target: Block, usedOutside: (p: Block, from: number, id: number) => boolean): Plan | undefined {
  const base = preds.map((p) => p.insns.length - n);
  const how: How[][] = [];
  let phis = 0;
  for (let k = 0; k < n; k++) {
    const its = preds.map((p, g) => p.insns[base[g] + k]);
    const sh = shapeOf(its[0]);
    if (sh === undefined || its.some((i) => shapeOf(i) !== sh)) return undefined;
    // A value the suffix defines must not be used outside it (no use could name the merged one).
    for (let g = 0; g < preds.length; g++) {
      const d = def(its[g]);
      if (d && usedOutside(preds[g], base[g], d.id)) return undefined;
    }
    const slots = its.map(slotsOf);
    const row: How[] = [];
    for (let j = 0; j < slots[0].length; j++) {
      const ops = slots.map((s) => s[j].get());
      const local = ops.map((o, g) => {
        if (isImm(o)) return -1;
        for (let q = base[g]; q < base[g] + k; q++) if (def(preds[g].insns[q])?.id === o.reg.id) return q - base[g];
        return -1;
      });
      if (local.every((x) => x >= 0 && x === local[0])) {
        row.push({ kind: "local", pos: local[0] });
        continue;
      }
      if (local.some((x) => x >= 0)) return undefined;
      if (ops.every((o) => same(o, ops[0]))) {
        row.push({ kind: "same" });
        continue;
      }
      const slot = slots[0][j];
      const regs = ops.filter((o): o is { reg: VReg } => !isImm(o));
      if (!slot.value || regs.some((r) => r.reg.ptr || r.reg.width !== slot.width)) return undefined;
      row.push({ kind: "phi", width: slot.width });
      phis++;
    }
    how.push(row);
  }
  // The target's phis may take values the suffix defines: from every merged predecessor the value the
  // same instruction of the suffix defines (then the merged value), or none of them.
  const member = new Set(preds);
  for (const i of target.insns) {
    if (i.op !== "phi") continue;
    const at = i.args.filter((a) => member.has(a.block)).map((a) => {
      const g = preds.indexOf(a.block);
      if (isImm(a.value)) return -1;
      for (let q = base[g]; q < base[g] + n; q++) if (def(preds[g].insns[q])?.id === a.value.reg.id) return q - base[g];
      return -1;
    });
    if (at.some((x) => x >= 0) && !at.every((x) => x === at[0])) return undefined;
  }
  return { preds, n, how, phis };
}

/** Slots merged away minus what the phis' copies and the new block's jump may cost. */
function gain(plan: Plan, allPreds: number): number {
  const p = plan.preds[0];
  let size = 0;
  for (let k = p.insns.length - plan.n; k < p.insns.length; k++) size += slotsOfInsn(p.insns[k]);
  return (plan.preds.length - 1) * size - plan.preds.length * plan.phis - (plan.preds.length < allPreds ? 1 : 0);
}

export const sink: Pass = {
  name: "sink",
  what: "instructions several predecessors end with alike move into one block after them",
  run(fn: IrFunction) {
    const preds = predecessors(fn);
    const useSites = useSitesOf(fn);
    for (const b of fn.blocks) {
      const cands = candidates(b, preds.get(b) ?? []);
      if (cands.length >= 2) for (const p of cands) hoistOutgoing(p, b, useSites);
    }
    for (let round = 0; round < 64; round++) if (!sinkOnce(fn)) break;
  },
};

/** Where each value is used: block and index (the terminator is index insns.length). */
function useSitesOf(fn: IrFunction): Map<number, { b: Block; k: number }[]> {
  const useSites = new Map<number, { b: Block; k: number }[]>();
  for (const b of fn.blocks) {
    const items = [...b.insns, ...(b.term ? [b.term] : [])];
    items.forEach((it, k) => {
      for (const u of uses(it)) {
        if (!useSites.has(u.id)) useSites.set(u.id, []);
        useSites.get(u.id)!.push({ b, k });
      }
    });
  }
  return useSites;
}

/** The predecessors of `b` that jump to it (once) and could end in code shared with others. */
function candidates(b: Block, all: Block[]): Block[] {
  return all.filter((p) => p !== b && p.term?.op === "jmp" && all.filter((q) => q === p).length === 1);
}

function sinkOnce(fn: IrFunction): boolean {
  const preds = predecessors(fn);
  const useSites = useSitesOf(fn);
  // Uses in the target's phis are inside too: planFor checks they map onto the merged values.
  const usedOutside = (p: Block, from: number, id: number, target: Block) =>
    (useSites.get(id) ?? []).some((s) => !(s.b === target && target.insns[s.k]?.op === "phi") && (s.b !== p || s.k < from || s.k >= p.insns.length));

  let best: { plan: Plan; target: Block; gain: number } | undefined;
  for (const b of fn.blocks) {
    const all = preds.get(b) ?? [];
    const cands = candidates(b, all);
    if (cands.length < 2) continue;
    // Group the candidates by the shapes of their last n instructions, for growing n.
    const maxN = Math.min(64, Math.max(...cands.map((p) => p.insns.length)));
    for (let n = 1; n <= maxN; n++) {
      const groups = new Map<string, Block[]>();
      for (const p of cands) {
        if (p.insns.length < n) continue;
        const tail = p.insns.slice(p.insns.length - n).map(shapeOf);
        if (tail.some((s) => s === undefined)) continue;
        const k = tail.join("\n");
        if (!groups.has(k)) groups.set(k, []);
        groups.get(k)!.push(p);
      }
      let any = false;
      for (const g of groups.values()) {
        if (g.length < 2) continue;
        any = true;
        const plan = planFor(g, n, b, (p, from, id) => usedOutside(p, from, id, b));
        if (!plan) continue;
        const v = gain(plan, all.length);
        if (v > 0 && (!best || v > best.gain)) best = { plan, target: b, gain: v };
      }
      if (!any) break;
    }
  }
  if (!best) return false;
  apply(fn, best.plan, best.target);
  return true;
}

function apply(fn: IrFunction, plan: Plan, target: Block): void {
  const { preds, n, how } = plan;
  const first = preds[0];
  const base = preds.map((p) => p.insns.length - n);
  const t: Block = { id: Math.max(...fn.blocks.map((b) => b.id)) + 1, insns: [], term: { op: "jmp", target, pos: first.term!.pos, depth: first.term!.depth } };
  const phis: IrInsn[] = [];
  const local: VReg[] = [];
  for (let k = 0; k < n; k++) {
    const its = preds.map((p, g) => p.insns[base[g] + k]);
    const copy = { ...its[0] } as IrInsn;
    if (copy.op === "call") copy.args = [...copy.args];
    slotsOf(copy).forEach((slot, j) => {
      const h = how[k][j];
      if (h.kind === "local") slot.set({ reg: local[h.pos] });
      else if (h.kind === "phi") {
        const dst: VReg = { id: fn.nextVReg++, width: h.width, ptr: false };
        phis.push({ op: "phi", dst, args: preds.map((p, g) => ({ block: p, value: slotsOf(its[g])[j].get() })), pos: its[0].pos, depth: its[0].depth });
        slot.set({ reg: dst });
      }
    });
    const d = def(copy);
    if (d) {
      const r: VReg = { id: fn.nextVReg++, width: d.width, ptr: d.ptr, name: d.name };
      (copy as { dst: VReg }).dst = r;
      local[k] = r;
    }
    t.insns.push(copy);
  }
  t.insns.unshift(...phis);
  const removed: IrInsn[][] = [];
  for (const p of preds) {
    removed.push(p.insns.splice(p.insns.length - n, n));
    p.term = { op: "jmp", target: t, pos: p.term!.pos, depth: p.term!.depth };
  }
  // The target's phis: the arguments from the merged predecessors now come through the new block.
  const members = new Set(preds);
  for (const i of target.insns) {
    if (i.op !== "phi") continue;
    const from = i.args.filter((a) => members.has(a.block));
    if (from.length === 0) continue;
    let value = from[0].value;
    const g = preds.indexOf(from[0].block);
    const pos = isImm(value) ? -1 : removed[g].findIndex((x) => def(x)?.id === (value as { reg: VReg }).reg.id);
    if (pos >= 0) {
      i.args = [...i.args.filter((a) => !members.has(a.block)), { block: t, value: { reg: local[pos] } }];
      continue;
    }
    if (!from.every((a) => same(a.value, value))) {
      const dst: VReg = { id: fn.nextVReg++, width: i.dst.width, ptr: i.dst.ptr, name: i.dst.name };
      t.insns.unshift({ op: "phi", dst, args: from.map((a) => ({ block: a.block, value: a.value })), pos: i.pos, depth: i.depth });
      value = { reg: dst };
    }
    i.args = [...i.args.filter((a) => !members.has(a.block)), { block: t, value }];
  }
  fn.blocks.splice(fn.blocks.indexOf(target), 0, t);
}

/** Values `p` computes only for the phis of its successor `target` (a global loaded to be passed on)
 *  move up past the instructions before them they commute with (computations, and loads past loads),
 *  so that what `p` has in common with the other predecessors ends the block. */
function hoistOutgoing(p: Block, target: Block, useSites: Map<number, { b: Block; k: number }[]>): void {
  const onlyPhis = (id: number) => (useSites.get(id) ?? []).every((s) => s.b === target && target.insns[s.k]?.op === "phi");
  const pure = (i: IrInsn) => i.op === "addr" || i.op === "alu" || i.op === "mov" || i.op === "neg";
  // The instructions that feed only the phis, with the addresses and arithmetic feeding only them.
  const moving = new Set<IrInsn>();
  for (let k = p.insns.length - 1; k >= 0; k--) {
    const i = p.insns[k];
    const d = def(i);
    if (!d || i.opaque || !(pure(i) || i.op === "load")) continue;
    const sites = useSites.get(d.id) ?? [];
    if (onlyPhis(d.id) || (sites.length > 0 && sites.every((s) => s.b === p && moving.has(p.insns[s.k])))) moving.add(i);
  }
  if (moving.size === 0) return;
  const out = [...p.insns];
  for (let k = 1; k < out.length; k++) {
    const i = out[k];
    if (!moving.has(i)) continue;
    let j = k;
    while (j > 0) {
      const prev = out[j - 1];
      if (moving.has(prev) || prev.op === "phi") break;
      if (uses(i).some((u) => u.id === def(prev)?.id)) break;
      if (!(pure(prev) || (prev.op === "load" && i.op !== "store"))) break;
      if (prev.opaque) break;
      j--;
    }
    if (j < k) {
      out.splice(k, 1);
      out.splice(j, 0, i);
    }
  }
  p.insns = out;
}
