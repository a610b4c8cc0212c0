// out-of-ssa: replace the phis by copies before register allocation. Each phi gets a fresh value that
// every predecessor sets at its end and the phi's block copies from at its start; a predecessor's copies
// write only these fresh values, so no copy can overwrite another's source (no lost copies or swaps) and
// edges need no splitting, except one from inside a loop to a block outside it (an exit's phis): there
// the copies go on a block of their own on the edge, so the loop does not run them every iteration. The
// register allocator's move preferences give most copies one register.

import { mapSuccessors, successors, type Block, type IrInsn, type VReg } from "../ir/ir";
import type { Pass } from "./pass";

export const outOfSsa: Pass = {
  name: "out-of-ssa",
  what: "phis become copies in the predecessors",
  run(fn) {
    const tails = new Map<Block, IrInsn[]>();
    const edgeBlocks = new Map<string, Block>();
    let nextId = Math.max(0, ...fn.blocks.map((b) => b.id)) + 1;
    const added: Block[] = [];
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
          let at = a.block;
          const fromLoop = successors(at).length > 1 && (at.term?.depth ?? 0) > i.depth;
          if (fromLoop) {
            const key = `${at.id}>${b.id}`;
            let e = edgeBlocks.get(key);
            if (!e) {
              e = { id: nextId++, insns: [], term: { op: "jmp", target: b, pos: i.pos, depth: i.depth } };
              edgeBlocks.set(key, e);
              added.push(e);
              const from = at;
              mapSuccessors(from.term!, (s) => (s === b ? e! : s));
            }
            at = e;
          }
          if (!tails.has(at)) tails.set(at, []);
          tails.get(at)!.push({ op: "mov", dst: t, src: a.value, pos: at.term?.pos ?? i.pos, depth: at.term?.depth ?? i.depth });
        }
        heads.push({ op: "mov", dst: i.dst, src: { reg: t }, pos: i.pos, depth: i.depth });
      }
      b.insns = [...heads, ...rest];
    }
    for (const [b, copies] of tails) b.insns.push(...copies);
    // Each edge block goes just before its target, so one of them falls through.
    for (const e of added) {
      const target = (e.term as { target: Block }).target;
      fn.blocks.splice(fn.blocks.indexOf(target), 0, e);
    }
  },
};
