// A deep copy of an IR function: new blocks and instructions (phi arguments and terminators point at the
// copies), sharing the virtual registers, which passes replace but never modify.

import { mapSuccessors, type Block, type IrFunction, type IrInsn } from "./ir";

export function cloneFunction(fn: IrFunction): IrFunction {
  const map = new Map<Block, Block>(fn.blocks.map((b) => [b, { id: b.id, insns: [] }]));
  const to = (b: Block) => map.get(b) ?? b;
  for (const [b, c] of map) {
    c.insns = b.insns.map((i): IrInsn => {
      const copy = { ...i } as IrInsn;
      if (copy.op === "phi") copy.args = copy.args.map((a) => ({ block: to(a.block), value: a.value }));
      if (copy.op === "call") copy.args = [...copy.args];
      return copy;
    });
    if (b.term) {
      c.term = { ...b.term };
      mapSuccessors(c.term, to);
    }
  }
  return { ...fn, blocks: fn.blocks.map(to), entry: to(fn.entry), stackObjects: fn.stackObjects && [...fn.stackObjects] };
}
