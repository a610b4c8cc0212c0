// copy-prop: copy propagation in SSA form. Every use of `d = s` reads `s` instead when the two hold the
// same bits at d's width (see sameValue; a truncating copy stays), and a phi whose arguments are all one
// value (or the phi itself) is that value.

import { isImm, type IrFunction, type Operand } from "../ir/ir";
import { replaceUses, sameValue, type Pass } from "./pass";

export const copyProp: Pass = {
  name: "copy-prop",
  what: "copy propagation; phis of one value",
  run(fn: IrFunction) {
    for (let round = 0; round < 8; round++) {
      const map = new Map<number, Operand>();
      for (const b of fn.blocks) {
        b.insns = b.insns.filter((i) => {
          if (i.op === "mov" && !isImm(i.src) && i.src.reg.id >= 0 && i.src.reg.id !== i.dst.id && sameValue(i.dst, i.src.reg)) {
            map.set(i.dst.id, i.src);
            return false;
          }
          if (i.op === "phi") {
            const others = i.args.map((a) => a.value).filter((v) => isImm(v) || v.reg.id !== i.dst.id);
            const first = others[0];
            const one = first && others.every((v) => (isImm(v) ? isImm(first) && v.imm === first.imm : !isImm(first) && v.reg.id === first.reg.id));
            if (one && (isImm(first) || sameValue(i.dst, first.reg))) {
              // A constant phi becomes a move of the constant (operands that need a register keep one).
              if (isImm(first)) {
                const m = i as unknown as { op: string; src?: Operand; args?: unknown };
                m.op = "mov";
                m.src = first;
                delete m.args;
                return true;
              }
              map.set(i.dst.id, first);
              return false;
            }
          }
          return true;
        });
      }
      if (map.size === 0) return;
      replaceUses(fn, map);
    }
  },
};
