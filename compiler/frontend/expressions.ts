// Expression lowering: TypeScript expressions to IR values with C's integer semantics. Untyped literals
// take the type of the other operand (and must fit it); typed operands follow the usual arithmetic
// conversions; constants fold with the same wrap-around the generated code has. Conditions lower straight
// to branches so `&&`, `||` and `!` short-circuit without materialising booleans.

import { Node, SyntaxKind, type Expression } from "ts-morph";
import type { AluOpName, JmpOpName } from "../bpf/insn";
import type { Block, IrAluOp, Operand, VReg } from "../ir/ir";
import { isImm } from "../ir/ir";
import type { LowerContext, Value } from "./context";
import { CONSTANTS } from "./ring";
import { lowerCall } from "./calls";
import { lowerElementAccess, lowerPropertyAccess, storeToElement, storeToProperty } from "./ringapi";
import { common, fits, foldBinary, promote, T, typeName, widthOf, wrap, type BoolType, type DslType, type IntType } from "./types";
import { convert, fitsImm, normalizeLoaded, sizeOf, toReg, unsupported } from "./values";

type Scalar = IntType | BoolType;

/** Lower an expression to a value. */
export function lowerExpr(cx: LowerContext, e: Expression): Value {
  if (Node.isParenthesizedExpression(e) || Node.isNonNullExpression(e)) return lowerExpr(cx, e.getExpression());
  if (Node.isNumericLiteral(e)) return literal(cx, e, e.getText(), "number");
  if (Node.isBigIntLiteral(e)) return literal(cx, e, e.getText().slice(0, -1), "bigint");
  switch (e.getKind()) {
    case SyntaxKind.TrueKeyword: return { type: T.bool, op: { imm: 1n } };
    case SyntaxKind.FalseKeyword: return { type: T.bool, op: { imm: 0n } };
    case SyntaxKind.NullKeyword: return { type: T.null, op: { imm: 0n } };
  }
  if (Node.isIdentifier(e)) return lowerIdentifier(cx, e);
  if (Node.isPrefixUnaryExpression(e)) return lowerPrefix(cx, e);
  if (Node.isPostfixUnaryExpression(e)) return lowerIncDec(cx, e, e.getOperand(), e.getOperatorToken() === SyntaxKind.PlusPlusToken ? "+" : "-", true);
  if (Node.isBinaryExpression(e)) return lowerBinary(cx, e);
  if (Node.isConditionalExpression(e)) return lowerConditional(cx, e);
  if (Node.isCallExpression(e)) return lowerCall(cx, e);
  if (Node.isPropertyAccessExpression(e)) return lowerPropertyAccess(cx, e);
  if (Node.isElementAccessExpression(e)) return lowerElementAccess(cx, e);
  return unsupported(cx, e);
}


function literal(cx: LowerContext, e: Node, text: string, family: "number" | "bigint"): Value {
  const t = text.replace(/_/g, "");
  if (family === "number" && /^[0-9]*\.|^[0-9]+[eE]|\.[0-9]/.test(t) && !/^0[xX]/.test(t)) cx.fail(e, 2004);
  let v: bigint;
  try {
    v = /^0[0-7]+$/.test(t) ? BigInt("0o" + t.slice(1)) : BigInt(t);
  } catch {
    cx.fail(e, 2004);
  }
  if (v >= 1n << 64n) cx.fail(e, 2020, `${t.length > 40 ? t.slice(0, 40) + "..." : t} does not fit in 64 bits`);
  return { type: family === "bigint" ? T.i64 : T.i32, op: { imm: v }, literal: family };
}

function lowerIdentifier(cx: LowerContext, e: Node): Value {
  if (e.getText() === "undefined") cx.fail(e, 2012);
  const bnd = cx.resolve(e);
  if (!bnd) cx.fail(e, 2014, e.getText());
  switch (bnd.kind) {
    case "local": return { type: bnd.type, op: { reg: bnd.reg } };
    case "const":
      return bnd.type ? { type: bnd.type, op: { imm: bnd.value } } : { type: T.i32, op: { imm: bnd.value }, literal: bnd.literal ?? "number" };
    case "global": {
      const g = bnd.global;
      const base = cx.b.addr(g.name);
      const dst = cx.b.vreg(widthOf(g.type), g.name);
      cx.b.emit({ op: "load", dst, base, off: 0, size: sizeOf(g.type) });
      return normalizeLoaded(cx, { type: g.type, op: { reg: dst } });
    }
    case "import": {
      const c = CONSTANTS[bnd.name];
      if (c !== undefined) return { type: T.i32, op: { imm: c }, literal: "number" };
      return cx.fail(e, 2002, `'${bnd.name}' is not a value here`);
    }
    case "func": return cx.fail(e, 2007, "functions can only be called");
    case "map": return cx.fail(e, 2002, `${bnd.map.name} is a map: use its methods (${bnd.map.kind === "ringbuf" ? "output, reserve, submit, discard" : "lookup, update, delete"})`);
  }
}





function scalarOf(cx: LowerContext, node: Node, v: Value): Scalar {
  if (v.type.kind === "int" || v.type.kind === "bool") return v.type;
  return cx.fail(node, 2002, `a ${typeName(v.type)} value is not a number`);
}

/** The operation type of a binary operator's operands (untyped literals adopt the other side's type). */
function operandType(cx: LowerContext, node: Node, a: Value, b: Value): IntType {
  if (a.literal && b.literal) {
    // Two untyped constants: the first of i32, u32, i64, u64 (C's order for literals) that holds both.
    const x = (a.op as { imm: bigint }).imm;
    const y = (b.op as { imm: bigint }).imm;
    const order = a.literal === "bigint" || b.literal === "bigint" ? [T.i64, T.u64] : [T.i32, T.u32, T.i64, T.u64];
    return order.find((t) => fits(t, x) && fits(t, y)) ?? cx.fail(node, 2020, `${x} and ${y} have no common type`);
  }
  if (a.literal) return promote(scalarOf(cx, node, b));
  if (b.literal) return promote(scalarOf(cx, node, a));
  const ta = scalarOf(cx, node, a);
  const tb = scalarOf(cx, node, b);
  const wa = ta.kind === "int" && ta.bits === 64;
  const wb = tb.kind === "int" && tb.bits === 64;
  if (wa !== wb) cx.fail(node, 2021, `${typeName(ta)} and ${typeName(tb)}`);
  return common(ta, tb);
}

const ARITH: Record<string, AluOpName> = { "+": "ADD", "-": "SUB", "*": "MUL", "/": "DIV", "%": "MOD", "&": "AND", "|": "OR", "^": "XOR", "<<": "LSH", ">>": "RSH", ">>>": "RSH" };
const COMMUTATIVE = new Set(["+", "*", "&", "|", "^"]);

/** Arithmetic `a op b` on already lowered operands. */
export function arith(cx: LowerContext, node: Node, op: string, a: Value, b: Value): Value {
  const shift = op === "<<" || op === ">>" || op === ">>>";
  if (a.literal && b.literal) {
    const x = (a.op as { imm: bigint }).imm;
    const y = (b.op as { imm: bigint }).imm;
    const lit = a.literal === "bigint" || b.literal === "bigint" ? "bigint" : "number";
    let r: bigint;
    switch (op) {
      case "+": r = x + y; break;
      case "-": r = x - y; break;
      case "*": r = x * y; break;
      case "/": r = y === 0n ? 0n : x / y; break;
      case "%": r = y === 0n ? x : x % y; break;
      case "&": r = x & y; break;
      case "|": r = x | y; break;
      case "^": r = x ^ y; break;
      case "<<": case ">>": case ">>>":
        // Constants have at most 64 bits: a count outside 0..63 has no meaning (and 1n << 10n**9n would
        // not even fit in memory).
        if (y < 0n || y > 63n) return cx.fail(node, 2026, `${y} for a constant`);
        r = op === "<<" ? x << y : x >> y;
        break;
      default: return cx.fail(node, 2015, op);
    }
    if (r < -(1n << 63n) || r >= 1n << 64n) return cx.fail(node, 2020, `${x} ${op} ${y} does not fit in 64 bits`);
    return { type: lit === "bigint" ? T.i64 : T.i32, op: { imm: r }, literal: lit };
  }
  const t = shift ? (a.literal ? (a.literal === "bigint" ? T.i64 : T.i32) : promote(scalarOf(cx, node, a))) : operandType(cx, node, a, b);
  const left = convert(cx, node, a, t);
  const width = widthOf(t);
  let right: Value;
  if (shift) {
    if (isImm(b.op)) {
      // A literal count must be in range; any other count is taken modulo the width, as at run time.
      const c = b.op.imm;
      if (b.literal && (c < 0n || c >= BigInt(width))) cx.fail(node, 2026, `${c} for a ${width}-bit value`);
      right = { type: t, op: { imm: BigInt.asUintN(64, c) & BigInt(width - 1) } };
    } else {
      const cnt = convert(cx, node, b, scalarOf(cx, node, b), false);
      const c32 = width === 64 && widthOf(cnt.type) === 32 ? convert(cx, node, cnt, T.u64, true) : width === 32 && widthOf(cnt.type) === 64 ? convert(cx, node, cnt, T.u32, true) : cnt;
      const m = cx.b.vreg(width);
      cx.b.emit({ op: "alu", alu: "AND", width, dst: m, a: c32.op, b: { imm: BigInt(width - 1) } });
      right = { type: t, op: { reg: m } };
    }
  } else right = convert(cx, node, b, t);
  if (isImm(left.op) && isImm(right.op)) return { type: t, op: { imm: foldBinary(op, t, left.op.imm, right.op.imm) as bigint } };
  // Division by a constant zero: the verifier rejects `/ 0` and `% 0` immediates, so apply the BPF
  // definition here (x / 0 = 0, x % 0 = x).
  if ((op === "/" || op === "%") && isImm(right.op) && wrap(t, right.op.imm) === 0n) return op === "/" ? { type: t, op: { imm: 0n } } : left;
  // Signed types: cpu v4's sdiv/smod (truncating towards zero, as C and the reference evaluation do).
  const alu: IrAluOp = t.signed && op === ">>" ? "ARSH" : t.signed && op === "/" ? "SDIV" : t.signed && op === "%" ? "SMOD" : ARITH[op];
  if (!alu) cx.fail(node, 2015, op);
  const dst = cx.b.vreg(width);
  let x = left.op;
  let y = right.op;
  if (isImm(x)) {
    if (COMMUTATIVE.has(op)) [x, y] = [y, x];
    else x = { reg: toReg(cx, left) };
  }
  // ALU64 immediates are 32 bits, sign-extended: larger constants go through a register (ld_imm64).
  if (isImm(y) && !fitsImm(y.imm, width)) y = { reg: toReg(cx, { type: t, op: y }) };
  cx.b.emit({ op: "alu", alu, width, dst, a: x, b: y });
  return { type: t, op: { reg: dst } };
}

const CMP: Record<string, { u: JmpOpName; s: JmpOpName; swap: string }> = {
  "<": { u: "JLT", s: "JSLT", swap: ">" },
  "<=": { u: "JLE", s: "JSLE", swap: ">=" },
  ">": { u: "JGT", s: "JSGT", swap: "<" },
  ">=": { u: "JGE", s: "JSGE", swap: "<=" },
  "==": { u: "JEQ", s: "JEQ", swap: "==" },
  "===": { u: "JEQ", s: "JEQ", swap: "===" },
  "!=": { u: "JNE", s: "JNE", swap: "!=" },
  "!==": { u: "JNE", s: "JNE", swap: "!==" },
};

/** Lower a condition to a branch: to `t` when true, `f` when false. */
export function lowerCond(cx: LowerContext, e: Expression, t: Block, f: Block): void {
  if (Node.isParenthesizedExpression(e)) return lowerCond(cx, e.getExpression(), t, f);
  if (Node.isPrefixUnaryExpression(e) && e.getOperatorToken() === SyntaxKind.ExclamationToken) return lowerCond(cx, e.getOperand(), f, t);
  if (Node.isBinaryExpression(e)) {
    const op = e.getOperatorToken().getText();
    if (op === "&&" || op === "||") {
      const mid = cx.b.block();
      if (op === "&&") lowerCond(cx, e.getLeft(), mid, f);
      else lowerCond(cx, e.getLeft(), t, mid);
      cx.b.setBlock(mid);
      return lowerCond(cx, e.getRight(), t, f);
    }
    if (CMP[op]) return compareBranch(cx, e, op, lowerExpr(cx, e.getLeft()), lowerExpr(cx, e.getRight()), t, f);
  }
  const v = lowerExpr(cx, e);
  if (v.type.kind !== "bool" && v.type.kind !== "int") cx.fail(e, 2002, `a ${typeName(v.type)} value is not a condition`, "compare it with null");
  if (isImm(v.op)) {
    cx.b.terminate({ op: "jmp", target: v.op.imm !== 0n ? t : f });
    return;
  }
  cx.b.terminate({ op: "br", cmp: "JNE", width: widthOf(v.type), a: v.op.reg, b: { imm: 0n }, then: t, else: f });
}

function compareBranch(cx: LowerContext, node: Node, op: string, a: Value, b: Value, t: Block, f: Block): void {
  let ty: Scalar;
  const isPtr = (v: Value) => v.type.kind === "view" || v.type.kind === "null";
  if (isPtr(a) || isPtr(b)) {
    if (!(op.startsWith("==") || op.startsWith("!="))) cx.fail(node, 2015, `${op} on a ring view`);
    ty = T.u64;
  } else if (a.type.kind === "bool" && b.type.kind === "bool") ty = T.bool;
  else ty = operandType(cx, node, a, b);
  const width = isPtr(a) || isPtr(b) ? 64 : widthOf(ty);
  let x: Operand = isPtr(a) ? a.op : convert(cx, node, a, ty).op;
  let y: Operand = isPtr(b) ? b.op : convert(cx, node, b, ty).op;
  if (isImm(x) && isImm(y)) {
    const r = ty.kind === "bool" ? foldBinary(op, T.u32, x.imm, y.imm) : foldBinary(op, ty as IntType, x.imm, y.imm);
    cx.b.terminate({ op: "jmp", target: r ? t : f });
    return;
  }
  if (isImm(x)) {
    [x, y] = [y, x];
    op = CMP[op].swap;
  }
  const signed = ty.kind === "int" && ty.signed;
  const cmp = signed ? CMP[op].s : CMP[op].u;
  const yy = isImm(y) && !fitsImm(y.imm, width) ? { reg: toReg(cx, { type: ty, op: y }) } : y;
  cx.b.terminate({ op: "br", cmp, width, a: (x as { reg: VReg }).reg, b: yy, then: t, else: f });
}


/** Materialise a condition as a bool value (0 or 1). */
function condValue(cx: LowerContext, e: Expression): Value {
  const r = cx.b.vreg(32);
  const t = cx.b.block();
  const f = cx.b.block();
  const done = cx.b.block();
  lowerCond(cx, e, t, f);
  cx.b.setBlock(t);
  cx.b.mov(r, { imm: 1n });
  cx.b.terminate({ op: "jmp", target: done });
  cx.b.setBlock(f);
  cx.b.mov(r, { imm: 0n });
  cx.b.jumpTo(done);
  return { type: T.bool, op: { reg: r } };
}

function lowerPrefix(cx: LowerContext, e: import("ts-morph").PrefixUnaryExpression): Value {
  const tok = e.getOperatorToken();
  const operand = e.getOperand();
  if (tok === SyntaxKind.PlusPlusToken || tok === SyntaxKind.MinusMinusToken) return lowerIncDec(cx, e, operand, tok === SyntaxKind.PlusPlusToken ? "+" : "-", false);
  if (tok === SyntaxKind.ExclamationToken) return condValue(cx, e);
  const v = lowerExpr(cx, operand);
  if (tok === SyntaxKind.MinusToken) {
    if (v.literal) return { ...v, op: { imm: -(v.op as { imm: bigint }).imm } };
    const t = promote(scalarOf(cx, e, v));
    const x = convert(cx, e, v, t);
    if (isImm(x.op)) return { type: t, op: { imm: wrap(t, -x.op.imm) } };
    const dst = cx.b.vreg(widthOf(t));
    cx.b.emit({ op: "neg", width: widthOf(t), dst, a: x.op });
    return { type: t, op: { reg: dst } };
  }
  if (tok === SyntaxKind.TildeToken) {
    if (v.literal) return { ...v, op: { imm: ~(v.op as { imm: bigint }).imm } };
    const t = promote(scalarOf(cx, e, v));
    return arith(cx, e, "^", convert(cx, e, v, t), { type: t, op: { imm: wrap(t, -1n) } });
  }
  return cx.fail(e, 2015, e.getText().slice(0, 1));
}

function lowerConditional(cx: LowerContext, e: import("ts-morph").ConditionalExpression): Value {
  const t = cx.b.block();
  const f = cx.b.block();
  const done = cx.b.block();
  lowerCond(cx, e.getCondition(), t, f);
  cx.b.setBlock(t);
  const a = lowerExpr(cx, e.getWhenTrue());
  const tBlock = cx.b.current;
  // Decide the result type from both arms before emitting moves: lower the false arm into its block.
  cx.b.setBlock(f);
  const c = lowerExpr(cx, e.getWhenFalse());
  const fBlock = cx.b.current;
  let ty: DslType;
  if (a.type.kind === "bool" && c.type.kind === "bool") ty = T.bool;
  else if (a.type.kind === "view" || c.type.kind === "view") return cx.fail(e, 2018, "a ring view in ?:");
  else ty = operandType(cx, e, a, c);
  const r = cx.b.vreg(widthOf(ty));
  cx.b.setBlock(tBlock);
  cx.b.mov(r, convert(cx, e, a, ty as Scalar).op);
  cx.b.terminate({ op: "jmp", target: done });
  cx.b.setBlock(fBlock);
  cx.b.mov(r, convert(cx, e, c, ty as Scalar).op);
  cx.b.jumpTo(done);
  return { type: ty, op: { reg: r } };
}

function lowerBinary(cx: LowerContext, e: import("ts-morph").BinaryExpression): Value {
  const op = e.getOperatorToken().getText();
  if (op === "=" || (op.endsWith("=") && ARITH[op.slice(0, -1)] && !CMP[op])) return lowerAssign(cx, e, op === "=" ? null : op.slice(0, -1));
  if (op === "&&" || op === "||" || CMP[op]) return condValue(cx, e);
  if (op === ",") cx.fail(e, 2015, ",");
  if (op === "**" || op === "??" || op === "in" || op === "instanceof") cx.fail(e, 2015, op);
  if (!ARITH[op]) cx.fail(e, 2015, op);
  return arith(cx, e, op, lowerExpr(cx, e.getLeft()), lowerExpr(cx, e.getRight()));
}

/** `x = v` and `x op= v`; returns the stored value. */
function lowerAssign(cx: LowerContext, e: import("ts-morph").BinaryExpression, op: string | null): Value {
  const target = e.getLeft();
  const rhs = e.getRight();
  return assignTo(cx, e, target, (cur) => (op === null ? lowerExpr(cx, rhs) : arith(cx, e, op, cur(), lowerExpr(cx, rhs))));
}

function lowerIncDec(cx: LowerContext, e: Node, target: Expression, op: "+" | "-", postfix: boolean): Value {
  let before: Value | undefined;
  const after = assignTo(cx, e, target, (cur) => {
    before = cur();
    if (postfix && !isImm(before.op)) {
      const copy = cx.b.vreg(widthOf(before.type));
      cx.b.mov(copy, before.op);
      before = { type: before.type, op: { reg: copy } };
    }
    return arith(cx, e, op, before, { type: T.i32, op: { imm: 1n }, literal: widthOf(before.type) === 64 ? "bigint" : "number" });
  });
  return postfix ? before! : after;
}

/** Store into an assignable place: a local, a global or a writable ring field. */
function assignTo(cx: LowerContext, e: Node, target: Expression, compute: (current: () => Value) => Value): Value {
  while (Node.isParenthesizedExpression(target)) target = target.getExpression();
  if (Node.isIdentifier(target)) {
    const bnd = cx.resolve(target);
    if (!bnd) cx.fail(target, 2014, target.getText());
    if (bnd.kind === "local") {
      if (!bnd.mutable) cx.fail(target, 2019, target.getText());
      if (bnd.type.kind === "view") cx.fail(target, 2018);
      const v = convert(cx, e, compute(() => ({ type: bnd.type, op: { reg: bnd.reg } })), bnd.type as Scalar);
      cx.b.mov(bnd.reg, v.op);
      return { type: bnd.type, op: { reg: bnd.reg } };
    }
    if (bnd.kind === "global") {
      const g = bnd.global;
      if (g.section === ".rodata") cx.fail(target, 2019, `${g.name} is a config value`);
      const v = convert(cx, e, compute(() => lowerExpr(cx, target)), g.type);
      cx.b.emit({ op: "store", base: cx.b.addr(g.name), off: 0, size: sizeOf(g.type), src: v.op });
      return v;
    }
    return cx.fail(target, 2019, target.getText());
  }
  if (Node.isPropertyAccessExpression(target)) return storeToProperty(cx, e, target, compute);
  if (Node.isElementAccessExpression(target)) return storeToElement(cx, e, target, compute);
  return cx.fail(target, 2019, target.getText());
}

