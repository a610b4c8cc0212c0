// tail-merge: blocks with the same instructions that end the same way (the same return, or a jump to a
// block without phis) become one; their predecessors branch to the first. This folds the copies of
// `return CONTINUE` and `return STOP` a program has at every exit into one each. Then exits that do the
// same with other values (`result = -22; return STOP` and `result = cqe.res; return STOP`) become one
// exit whose differing operands are phis, set by each predecessor.

import { def, isImm, mapSuccessors, successors, type Block, type IrFunction, type IrInsn, type Operand, type Terminator, type VReg, type Width } from "../ir/ir";
import { predecessors, removeUnreachable } from "../ir/cfg";
import type { Pass } from "./pass";

const o = (x: Operand) => (isImm(x) ? `#${x.imm}` : `%${x.reg.id}`);

function key(i: IrInsn | Terminator): string | undefined {
  switch (i.op) {
    case "mov": return `mov ${i.dst.id} ${o(i.src)}`;
    case "alu": return `alu ${i.alu} ${i.width} ${i.dst.id} ${o(i.a)} ${o(i.b)}`;
    case "neg": return `neg ${i.width} ${i.dst.id} ${o(i.a)}`;
    case "load": return `load ${i.dst.id} ${i.base.id} ${i.off} ${i.size}`;
    case "store": return `store ${i.base.id} ${i.off} ${i.size} ${o(i.src)}`;
    case "addr": return `addr ${i.dst.id} ${i.symbol} ${i.offset}`;
    case "stackaddr": return `stackaddr ${i.dst.id} ${i.slot}`;
    case "call": return `call ${i.kind} ${i.name} ${i.helperId} ${i.args.map(o).join(",")} ${i.dst?.id}`;
    case "ret": return `ret ${o(i.value)} ${i.width ?? 32}`;
    case "jmp": return i.target.insns.some((x) => x.op === "phi") ? undefined : `jmp ${i.target.id}`;
    default: return undefined;
  }
}

function blockKey(b: Block): string | undefined {
  const parts: string[] = [];
  for (const i of b.insns) {
    // Blocks that define values used elsewhere cannot be merged in SSA form (the uses name one of them).
    if ("dst" in i && i.dst) return undefined;
    const k = key(i);
    if (k === undefined) return undefined;
    parts.push(k);
  }
  const t = b.term && key(b.term);
  if (!t) return undefined;
  parts.push(t);
  return parts.join("\n");
}

export const tailMerge: Pass = {
  name: "tail-merge",
  what: "identical exit blocks become one",
  run(fn: IrFunction) {
    const first = new Map<string, Block>();
    const into = new Map<Block, Block>();
    for (const b of fn.blocks) {
      if (b === fn.entry) continue;
      const k = blockKey(b);
      if (k === undefined) continue;
      const f = first.get(k);
      if (f) into.set(b, f);
      else first.set(k, b);
    }
    if (into.size) {
      for (const b of fn.blocks) if (b.term) mapSuccessors(b.term, (s) => into.get(s) ?? s);
      removeUnreachable(fn);
    }
    mergeExitsWithPhis(fn);
    shareReturns(fn);
  },
};

/** Exits returning the same constant end in one `return` block: `w0 = 1; exit` (two slots) becomes a
 *  jump (one slot, none when the return block follows). */
function shareReturns(fn: IrFunction): void {
  const byValue = new Map<string, Block[]>();
  for (const b of fn.blocks) {
    const t = b.term;
    if (t?.op !== "ret" || !isImm(t.value)) continue;
    const k = `${t.value.imm} ${t.width ?? 32}`;
    if (!byValue.has(k)) byValue.set(k, []);
    byValue.get(k)!.push(b);
  }
  for (const bs of byValue.values()) {
    if (bs.length < 2) continue;
    let r = bs.find((b) => b.insns.length === 0 && b !== fn.entry);
    if (!r) {
      const t = bs[bs.length - 1].term!;
      r = { id: Math.max(...fn.blocks.map((b) => b.id)) + 1, insns: [], term: { ...t } };
      fn.blocks.push(r);
    }
    for (const b of bs) if (b !== r) b.term = { op: "jmp", target: r, pos: b.term!.pos, depth: b.term!.depth };
  }
}

/** The shape of an exit block: everything but its operands. */
function shapeOf(b: Block): string | undefined {
  if (b.term?.op !== "ret") return undefined;
  const parts: string[] = [];
  for (const i of b.insns) {
    switch (i.op) {
      case "mov": parts.push(`mov ${i.dst.width}`); break;
      case "alu": parts.push(`alu ${i.alu} ${i.width} ${i.dst.width}`); break;
      case "neg": parts.push(`neg ${i.width}`); break;
      case "load": parts.push(`load ${i.size} ${i.off} ${i.dst.width} ${i.dst.ptr}`); break;
      case "store": parts.push(`store ${i.size} ${i.off}`); break;
      case "addr": parts.push(`addr ${i.symbol} ${i.offset}`); break;
      case "stackaddr": parts.push(`stackaddr ${i.slot}`); break;
      case "call": parts.push(`call ${i.kind} ${i.name} ${i.helperId} ${i.args.length} ${i.dst ? i.dst.width : "-"}`); break;
      default: return undefined;
    }
    if (i.opaque) return undefined;
  }
  parts.push(`ret ${b.term.width ?? 32}`);
  return parts.join("\n");
}

type Slot = { get: () => Operand; set: (o: Operand) => void; width: Width; value: boolean };

/** The operand slots of an instruction or terminator, in a fixed order; `value` when a phi may feed it. */
function slotsOf(i: IrInsn | Terminator): Slot[] {
  const s = (get: () => Operand, set: (o: Operand) => void, width: Width, value = true): Slot => ({ get, set, width, value });
  switch (i.op) {
    case "mov": return [s(() => i.src, (o) => (i.src = o), i.dst.width)];
    case "alu": return [s(() => i.a, (o) => (i.a = o), i.width), s(() => i.b, (o) => (i.b = o), i.width)];
    case "neg": return [s(() => i.a, (o) => (i.a = o), i.width)];
    case "load": return [s(() => ({ reg: i.base }), (o) => (i.base = (o as { reg: VReg }).reg), 64, false)];
    case "store": return [s(() => ({ reg: i.base }), (o) => (i.base = (o as { reg: VReg }).reg), 64, false), s(() => i.src, (o) => (i.src = o), i.size === "DW" ? 64 : 32)];
    case "call": return i.args.map((_, k) => s(() => i.args[k], (o) => (i.args[k] = o), 64, false));
    case "ret": return [s(() => i.value, (o) => (i.value = o), i.width ?? 32)];
    default: return [];
  }
}

const same = (a: Operand, b: Operand) => (isImm(a) ? isImm(b) && a.imm === b.imm : !isImm(b) && a.reg.id === b.reg.id);

function mergeExitsWithPhis(fn: IrFunction): void {
  const groups = new Map<string, Block[]>();
  for (const b of fn.blocks) {
    if (b === fn.entry) continue;
    const k = shapeOf(b);
    if (k === undefined) continue;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(b);
  }
  let changed = false;
  const preds = predecessors(fn);
  for (let group of groups.values()) {
    // A predecessor may reach only one block of the group (a phi takes one value per edge).
    const seen = new Set<Block>();
    group = group.filter((b) => {
      const ps = preds.get(b) ?? [];
      if (ps.length === 0 || ps.some((p) => seen.has(p) || successors(p).filter((s) => s === b).length > 1)) return false;
      ps.forEach((p) => seen.add(p));
      return true;
    });
    if (group.length < 2) continue;
    const plan = planMerge(group);
    if (!plan) continue;
    // Worth it when the code merged away outweighs a copy per phi and a jump per predecessor.
    const size = group[0].insns.reduce((s, i) => s + (i.op === "addr" ? 2 : 1), 0) + 2;
    const nPhis = plan.flat().filter((h) => h.kind === "phi").length;
    const nPreds = group.reduce((s, b) => s + (preds.get(b)?.length ?? 0), 0);
    if ((group.length - 1) * size <= nPreds * (nPhis + 1)) continue;
    const [first] = group;
    const t: Block = { id: Math.max(...fn.blocks.map((b) => b.id)) + 1, insns: [] };
    const local = new Map<number, VReg>();
    const fresh = (r: VReg): VReg => ({ id: fn.nextVReg++, width: r.width, ptr: r.ptr, name: r.name });
    const phis: IrInsn[] = [];
    const items = [...first.insns, first.term!];
    items.forEach((it, n) => {
      const copy = (n < first.insns.length ? { ...it } : { ...it }) as IrInsn | Terminator;
      if (copy.op === "call") copy.args = [...copy.args];
      slotsOf(copy).forEach((slot, j) => {
        const how = plan[n][j];
        if (how.kind === "local") slot.set({ reg: local.get(how.id)! });
        else if (how.kind === "phi") {
          const dst: VReg = { id: fn.nextVReg++, width: how.width, ptr: false };
          phis.push({ op: "phi", dst, args: group.flatMap((b) => (preds.get(b) ?? []).map((p) => ({ block: p, value: how.values.get(b)! }))), pos: it.pos, depth: it.depth });
          slot.set({ reg: dst });
        }
      });
      if (n < first.insns.length) {
        const d = def(copy);
        if (d) {
          const r = fresh(d);
          local.set(d.id, r);
          (copy as { dst: VReg }).dst = r;
        }
        t.insns.push(copy as IrInsn);
      } else t.term = copy as Terminator;
    });
    t.insns.unshift(...phis);
    const members = new Set(group);
    for (const b of fn.blocks) if (b.term) mapSuccessors(b.term, (s) => (members.has(s) ? t : s));
    fn.blocks = fn.blocks.filter((b) => !members.has(b));
    fn.blocks.push(t);
    changed = true;
  }
  if (changed) removeUnreachable(fn);
}

type How = { kind: "same" } | { kind: "local"; id: number } | { kind: "phi"; width: Width; values: Map<Block, Operand> };

/** How each operand of the merged exit is found, or undefined when the blocks cannot be merged: operands
 *  the same everywhere stay, values defined at the same place in each block map to the merged block's
 *  own, and scalars that differ become phis (worth it only for a few). */
function planMerge(group: Block[]): How[][] | undefined {
  const [first] = group;
  const n = first.insns.length;
  const localIndex = group.map((b) => {
    const m = new Map<number, number>();
    b.insns.forEach((i, k) => {
      const d = def(i);
      if (d) m.set(d.id, k);
    });
    return m;
  });
  const plan: How[][] = [];
  let phis = 0;
  for (let k = 0; k <= n; k++) {
    const its = group.map((b) => (k < n ? b.insns[k] : b.term!));
    const slots = its.map(slotsOf);
    const row: How[] = [];
    for (let j = 0; j < slots[0].length; j++) {
      const ops = slots.map((s) => s[j].get());
      const locals = ops.map((o, g) => (isImm(o) ? undefined : localIndex[g].get(o.reg.id)));
      if (locals.every((x) => x !== undefined)) {
        if (!locals.every((x) => x === locals[0])) return undefined;
        row.push({ kind: "local", id: (ops[0] as { reg: VReg }).reg.id });
        continue;
      }
      if (locals.some((x) => x !== undefined)) return undefined;
      if (ops.every((o) => same(o, ops[0]))) {
        row.push({ kind: "same" });
        continue;
      }
      // The phi has the slot's width and every register feeding it that width too, so the bits an
      // immediate gives through the phi's copy are those the instruction would have taken from it.
      const regs = ops.filter((o): o is { reg: VReg } => !isImm(o));
      const width = slots[0][j].width;
      if (!slots[0][j].value || regs.some((r) => r.reg.ptr || r.reg.width !== width)) return undefined;
      row.push({ kind: "phi", width, values: new Map(group.map((b, g) => [b, ops[g]])) });
      phis++;
    }
    plan.push(row);
  }
  // Each phi costs every predecessor a copy; merging saves the block's size per block merged away.
  if (phis > 2 || n + 1 <= phis) return undefined;
  return plan;
}
