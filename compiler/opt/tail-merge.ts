// tail-merge: blocks with the same instructions that end the same way (the same return, or a jump to a
// block without phis) become one; their predecessors branch to the first. This folds the copies of
// `return CONTINUE` and `return STOP` a program has at every exit into one each.

import { isImm, mapSuccessors, type Block, type IrFunction, type IrInsn, type Operand, type Terminator } from "../ir/ir";
import { removeUnreachable } from "../ir/cfg";
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
    if (into.size === 0) return;
    for (const b of fn.blocks) if (b.term) mapSuccessors(b.term, (s) => into.get(s) ?? s);
    removeUnreachable(fn);
  },
};
