// const-fold: constant propagation and folding with algebraic identities. A value defined as a constant
// is substituted into every operand that can hold it as an immediate; operations on constants are
// computed at their width with BPF's semantics (see evalAlu), so folding cannot grow numbers past 64 bits
// or change a result; identities (x + 0, x * 1, x & 0, x & ~0, x - x, (x + c1) + c2...) turn operations
// into copies or constants. Branches on two constants are left to branch-simplify.

import { isImm, type IrAluOp, type IrFunction, type IrInsn, type Operand, type VReg, type Width } from "../ir/ir";
import { bits, canon, definitions, evalAlu, fitsImm32, SWAP_CMP, type Pass } from "./pass";

const COMMUTATIVE = new Set<IrAluOp>(["ADD", "MUL", "AND", "OR", "XOR"]);

type Alu = Extract<IrInsn, { op: "alu" }>;

export const constFold: Pass = {
  name: "const-fold",
  what: "constant propagation and folding, algebraic identities",
  run(fn) {
    for (let round = 0; round < 8; round++) if (!foldOnce(fn)) break;
  },
};

function foldOnce(fn: IrFunction): boolean {
  const defs = definitions(fn);
  let changed = false;
  /** The constant a value holds (its bits at its own width), if it is one. */
  const constOf = (r: VReg): bigint | undefined => {
    const d = defs.get(r.id);
    if (d?.op === "mov" && isImm(d.src)) return bits(d.src.imm, r.width);
    return undefined;
  };
  const k = (o: Operand): bigint | undefined => (isImm(o) ? o.imm : constOf(o.reg));
  const become = (i: IrInsn, repl: IrInsn) => {
    Object.keys(i).forEach((key) => delete (i as unknown as Record<string, unknown>)[key]);
    Object.assign(i, repl);
    changed = true;
  };
  const toConst = (i: IrInsn, dst: VReg, v: bigint) => become(i, { op: "mov", dst, src: { imm: canon(v, dst.width) }, pos: i.pos, depth: i.depth });
  const toCopy = (i: IrInsn, dst: VReg, src: Operand) => become(i, { op: "mov", dst, src, pos: i.pos, depth: i.depth });
  // An operand as an immediate where the instruction can encode it.
  const asImm = (o: Operand, width: Width): Operand => {
    if (isImm(o)) return o;
    const c = constOf(o.reg);
    if (c === undefined) return o;
    const v = bits(c, width);
    if (width === 64 && !fitsImm32(v)) return o;
    changed = true;
    return { imm: canon(v, width) };
  };
  for (const b of fn.blocks) {
    for (const i of b.insns) {
      if (i.opaque) continue;
      switch (i.op) {
        case "mov": {
          if (isImm(i.src)) break;
          const c = constOf(i.src.reg);
          if (c !== undefined) toConst(i, i.dst, c);
          break;
        }
        case "neg": {
          const c = k(i.a);
          if (c !== undefined) toConst(i, i.dst, evalAlu("SUB", i.width, 0n, c)!);
          break;
        }
        case "alu": foldAlu(i, k, toConst, toCopy, asImm, defs); break;
        case "store": {
          if (isImm(i.src)) break;
          const c = constOf(i.src.reg);
          if (c === undefined) break;
          if (i.size === "DW" && !fitsImm32(c)) break;
          i.src = { imm: i.size === "DW" ? canon(c, 64) : canon(c, 32) };
          changed = true;
          break;
        }
        case "call": i.args = i.args.map((a) => { const c = k(a); if (c !== undefined && !isImm(a)) { changed = true; return { imm: bits(c, a.reg.width) }; } return a; }); break;
        case "phi": for (const a of i.args) if (!isImm(a.value)) { const c = constOf(a.value.reg); if (c !== undefined) { a.value = { imm: canon(c, i.dst.width) }; changed = true; } } break;
      }
    }
    const t = b.term;
    if (t?.op === "br") {
      t.b = asImm(t.b, t.width);
      // A constant on the left: swap the operands so the constant can be an immediate.
      if (!isImm(t.b) && constOf(t.a) !== undefined) {
        const a = t.a;
        t.a = t.b.reg;
        t.b = asImm({ reg: a }, t.width);
        t.cmp = SWAP_CMP[t.cmp];
        changed = true;
      }
    } else if (t?.op === "ret" && !isImm(t.value)) {
      const c = constOf(t.value.reg);
      if (c !== undefined) {
        t.value = { imm: canon(c, t.width ?? 32) };
        changed = true;
      }
    }
  }
  return changed;
}

function foldAlu(
  i: Alu,
  k: (o: Operand) => bigint | undefined,
  toConst: (i: IrInsn, dst: VReg, v: bigint) => void,
  toCopy: (i: IrInsn, dst: VReg, src: Operand) => void,
  asImm: (o: Operand, w: Width) => Operand,
  defs: Map<number, IrInsn>,
): void {
  const w = i.width;
  const a = k(i.a);
  const b = k(i.b);
  if (a !== undefined && b !== undefined) {
    const r = evalAlu(i.alu, w, a, b);
    if (r !== undefined) return toConst(i, i.dst, r);
  }
  const ones = (1n << BigInt(w)) - 1n;
  const same = !isImm(i.a) && !isImm(i.b) && i.a.reg.id === i.b.reg.id;
  // The constant on the right for commutative operations.
  if (a !== undefined && b === undefined && COMMUTATIVE.has(i.alu)) [i.a, i.b] = [i.b, i.a];
  const x = i.a;
  const c = k(i.b);
  const cv = c === undefined ? undefined : bits(c, w);
  const ca = k(i.a);
  const copyOfX = () => toCopy(i, i.dst, x);
  switch (i.alu) {
    case "ADD": case "SUB": case "OR": case "XOR": case "LSH": case "RSH": case "ARSH":
      if (cv === 0n || (["LSH", "RSH", "ARSH"].includes(i.alu) && cv !== undefined && (cv & BigInt(w - 1)) === 0n)) return copyOfX();
      break;
    case "MUL": case "DIV": case "SDIV":
      if (cv === 1n) return copyOfX();
      break;
  }
  if ((i.alu === "MUL" || i.alu === "AND") && cv === 0n) return toConst(i, i.dst, 0n);
  // BPF's x / 0 = 0 and x % 0 = x (the verifier refuses a constant 0 divisor, so never emit one).
  if ((i.alu === "DIV" || i.alu === "SDIV") && cv === 0n) return toConst(i, i.dst, 0n);
  if ((i.alu === "MOD" || i.alu === "SMOD") && cv === 0n) return copyOfX();
  if (i.alu === "AND" && cv === ones) return copyOfX();
  if (i.alu === "OR" && cv === ones) return toConst(i, i.dst, ones);
  if ((i.alu === "MOD" || i.alu === "SMOD") && cv === 1n) return toConst(i, i.dst, 0n);
  if (ca !== undefined && bits(ca, w) === 0n && ["DIV", "MOD", "SDIV", "SMOD", "LSH", "RSH", "ARSH", "AND", "MUL"].includes(i.alu)) return toConst(i, i.dst, 0n);
  if (same && (i.alu === "SUB" || i.alu === "XOR")) return toConst(i, i.dst, 0n);
  if (same && (i.alu === "AND" || i.alu === "OR")) return copyOfX();
  // (y + c1) + c2 = y + (c1 + c2), and likewise for - , at the same width.
  if ((i.alu === "ADD" || i.alu === "SUB") && cv !== undefined && !isImm(x)) {
    const inner = defs.get(x.reg.id);
    if (inner?.op === "alu" && inner.width === w && (inner.alu === "ADD" || inner.alu === "SUB") && !isImm(inner.a)) {
      const c1 = k(inner.b);
      if (c1 !== undefined) {
        const total = evalAlu("ADD", w, inner.alu === "ADD" ? c1 : -c1, i.alu === "ADD" ? cv : -cv)!;
        if (w === 32 || fitsImm32(total)) {
          i.a = inner.a;
          i.alu = "ADD";
          i.b = { imm: total };
          if (bits(total, w) === 0n) return toCopy(i, i.dst, inner.a);
          return;
        }
      }
    }
  }
  i.b = asImm(i.b, w);
}
