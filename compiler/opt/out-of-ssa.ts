// out-of-ssa: replace the phis by copies before register allocation. Each phi gets a fresh value that
// every predecessor sets at its end and the phi's block copies from at its start; a predecessor's copies
// write only these fresh values, so no copy can overwrite another's source (no lost copies or swaps) and
// no edge needs splitting. The register allocator's move preferences give most of them one register.

import type { Block, IrInsn, VReg } from "../ir/ir";
import type { Pass } from "./pass";

export const outOfSsa: Pass = {
  name: "out-of-ssa",
  what: "phis become copies in the predecessors",
  run(fn) {
    const tails = new Map<Block, IrInsn[]>();
    for (const b of fn.blocks) {
      const heads: IrInsn[] = [];
      const rest: IrInsn[] = [];
      for (const i of b.insns) {
        if (i.op !== "phi") {
          rest.push(i);
          continue;
        }
        const t: VReg = { id: fn.nextVReg++, width: i.dst.width, ptr: i.dst.ptr, name: i.dst.name };
        for (const a of i.args) {
          if (!tails.has(a.block)) tails.set(a.block, []);
          tails.get(a.block)!.push({ op: "mov", dst: t, src: a.value, pos: a.block.term?.pos ?? i.pos, depth: a.block.term?.depth ?? i.depth });
        }
        heads.push({ op: "mov", dst: i.dst, src: { reg: t }, pos: i.pos, depth: i.depth });
      }
      b.insns = [...heads, ...rest];
    }
    for (const [b, copies] of tails) b.insns.push(...copies);
  },
};
