// Values during lowering: conversions between the DSL's scalar types with C's rules, immediates into
// registers, the sign extension narrow signed loads need, memory access sizes, and the diagnostic for
// expressions outside the DSL. Shared by every part of the front end; it lowers no sub-expressions.

import { Node } from "ts-morph";
import { isImm, type VReg } from "../ir/ir";
import type { LowerContext, Value } from "./context";
import { fits, typeName, widthOf, wrap, type BoolType, type IntType } from "./types";

type Scalar = IntType | BoolType;

/** Diagnose an expression outside the DSL with the most specific code. */
export function unsupported(cx: LowerContext, e: Node): never {
  if (Node.isStringLiteral(e) || Node.isTemplateExpression(e) || Node.isNoSubstitutionTemplateLiteral(e)) cx.fail(e, 2005);
  if (Node.isObjectLiteralExpression(e) || Node.isArrayLiteralExpression(e) || Node.isNewExpression(e) || Node.isClassExpression(e) || Node.isThisExpression(e))
    cx.fail(e, 2006);
  if (Node.isArrowFunction(e) || Node.isFunctionExpression(e)) cx.fail(e, 2007);
  if (Node.isAwaitExpression(e) || Node.isYieldExpression(e)) cx.fail(e, 2009);
  if (Node.isAsExpression(e) || Node.isTypeAssertion(e) || Node.isSatisfiesExpression(e))
    cx.fail(e, 2002, "type assertions do not convert values", "use a conversion function such as u32(x) or u64(x)");
  cx.fail(e, 2002, e.getKindName());
}

/** Memory access size of a scalar type. */
export function sizeOf(t: Scalar): "B" | "H" | "W" | "DW" {
  if (t.kind === "bool") return "B";
  return t.bits === 8 ? "B" : t.bits === 16 ? "H" : t.bits === 32 ? "W" : "DW";
}

/** Loads zero-extend; sign-extend the narrow signed types into their 32-bit representation. */
export function normalizeLoaded(cx: LowerContext, v: Value): Value {
  const t = v.type;
  if (t.kind === "int" && t.signed && t.bits < 32 && !isImm(v.op)) {
    const r = cx.b.vreg(32);
    cx.b.emit({ op: "alu", alu: "LSH", width: 32, dst: r, a: v.op, b: { imm: BigInt(32 - t.bits) } });
    cx.b.emit({ op: "alu", alu: "ARSH", width: 32, dst: r, a: { reg: r }, b: { imm: BigInt(32 - t.bits) } });
    return { type: t, op: { reg: r } };
  }
  return v;
}

/** Put a value in a register. */
export function toReg(cx: LowerContext, v: Value): VReg {
  if (!isImm(v.op)) return v.op.reg;
  const r = cx.b.vreg(widthOf(v.type));
  cx.b.mov(r, v.op);
  return r;
}

/** Convert a value to a scalar type. Implicit conversions check literals; explicit ones wrap them. */
export function convert(cx: LowerContext, node: Node, v: Value, to: Scalar, explicit = false): Value {
  const from = v.type;
  if (from.kind !== "int" && from.kind !== "bool") cx.fail(node, 2002, `a ${typeName(from)} value cannot be used as ${typeName(to)}`);
  if (to.kind === "bool" && from.kind !== "bool") cx.fail(node, 2002, `an integer cannot be used as bool`, "compare it: x !== 0");
  if (isImm(v.op)) {
    const value = v.op.imm;
    if (!explicit && v.literal && !fits(to, value)) cx.fail(node, 2020, `${value} does not fit ${typeName(to)}`);
    return { type: to, op: { imm: wrap(to, value) } };
  }
  if (!explicit && from.kind === "int" && to.kind === "int" && (from.bits === 64) !== (to.bits === 64))
    cx.fail(node, 2021, `${from.name} to ${to.name}`);
  const src = v.op.reg;
  const fromBits = from.kind === "bool" ? 1 : from.bits;
  const fromSigned = from.kind === "int" && from.signed;
  if (to.kind === "bool") return { type: to, op: v.op };
  if (to.bits === 64) {
    if (fromBits === 64) return { type: to, op: v.op };
    const r = cx.b.vreg(64);
    cx.b.mov(r, v.op);
    if (fromSigned) {
      cx.b.emit({ op: "alu", alu: "LSH", width: 64, dst: r, a: { reg: r }, b: { imm: 32n } });
      cx.b.emit({ op: "alu", alu: "ARSH", width: 64, dst: r, a: { reg: r }, b: { imm: 32n } });
    }
    return { type: to, op: { reg: r } };
  }
  let cur: VReg = src;
  if (fromBits === 64) {
    cur = cx.b.vreg(32);
    cx.b.mov(cur, v.op);
  }
  if (to.bits === 32) return { type: to, op: { reg: cur } };
  // Narrow targets: no code when the source already lies in the target's range.
  const already = fromBits !== 64 && (fromBits < to.bits ? !fromSigned || to.signed : fromBits === to.bits && fromSigned === to.signed);
  if (already) return { type: to, op: { reg: cur } };
  const r = cx.b.vreg(32);
  if (to.signed) {
    cx.b.emit({ op: "alu", alu: "LSH", width: 32, dst: r, a: { reg: cur }, b: { imm: BigInt(32 - to.bits) } });
    cx.b.emit({ op: "alu", alu: "ARSH", width: 32, dst: r, a: { reg: r }, b: { imm: BigInt(32 - to.bits) } });
  } else {
    cx.b.emit({ op: "alu", alu: "AND", width: 32, dst: r, a: { reg: cur }, b: { imm: (1n << BigInt(to.bits)) - 1n } });
  }
  return { type: to, op: { reg: r } };
}

/** Whether an immediate can be encoded in a jump/ALU instruction of this width (sign-extended imm32). */
export function fitsImm(v: bigint, width: number): boolean {
  if (width === 32) return true;
  return BigInt.asIntN(64, v) === BigInt.asIntN(32, v);
}
