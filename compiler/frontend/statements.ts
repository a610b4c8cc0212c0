// Statement lowering: locals, if/else, switch, return (from the program or from an inlined helper), expression
// statements; loops are lowered in loops.ts. Unsupported statements are diagnosed and
// lowering goes on with the next statement, so one build reports every problem in a file.

import { Node, SyntaxKind, type Expression, type Statement } from "ts-morph";
import { isImm } from "../ir/ir";
import { LowerAbort, type LowerContext } from "./context";
import { declaredType } from "./annotations";
import { destroyIterators } from "./exits";
import { lowerCond, lowerExpr } from "./expressions";
import { destroyFrameIterators, lowerBreakContinue, lowerDo, lowerFor, lowerWhile, type StatementLowering } from "./loops";
import { convert } from "./values";
import { scalarTypeFromName, T, widthOf, type BoolType, type IntType } from "./types";

/** Lower a function body or block. */
export function lowerBody(cx: LowerContext, body: Node): void {
  if (Node.isBlock(body)) lowerStatements(cx, body.getStatements());
  else if (Node.isExpression(body)) lowerReturn(cx, body, body as Expression);
  else cx.fail(body, 2001);
}

/** Lower statements one by one; a failed statement records its diagnostic and lowering continues. */
export function lowerStatements(cx: LowerContext, stmts: Statement[]): void {
  for (const s of stmts) {
    try {
      lowerStatement(cx, s);
    } catch (err) {
      if (!(err instanceof LowerAbort)) throw err;
    }
  }
}

const LOWER: StatementLowering = { statements: (cx, s) => lowerStatements(cx, s), variables: (cx, l) => lowerVariables(cx, l) };

function lowerStatement(cx: LowerContext, s: Statement): void {
  cx.at(s);
  if (Node.isBlock(s)) return lowerStatements(cx, s.getStatements());
  if (Node.isEmptyStatement(s)) return;
  if (Node.isExpressionStatement(s)) {
    lowerExpr(cx, s.getExpression());
    return;
  }
  if (Node.isVariableStatement(s)) return lowerVariables(cx, s.getDeclarationList());
  if (Node.isIfStatement(s)) {
    const t = cx.b.block();
    const els = s.getElseStatement();
    const f = cx.b.block();
    const done = els ? cx.b.block() : f;
    lowerCond(cx, s.getExpression(), t, f);
    cx.b.setBlock(t);
    lowerStatements(cx, [s.getThenStatement()]);
    if (els) {
      cx.b.terminate({ op: "jmp", target: done });
      cx.b.setBlock(f);
      lowerStatements(cx, [els]);
    }
    cx.b.jumpTo(done);
    return;
  }
  if (Node.isReturnStatement(s)) {
    const e = s.getExpression();
    if (!e) {
      if (cx.frame.ret && cx.frame.ret.type.kind === "void") {
        destroyFrameIterators(cx);
        return cx.b.terminate({ op: "jmp", target: cx.frame.ret.block });
      }
      if (cx.frame.subprog && cx.frame.subprog.type.kind === "void") {
        destroyIterators(cx);
        return cx.b.terminate({ op: "ret", value: { imm: 0n } });
      }
      return cx.fail(s, 2024);
    }
    return lowerReturn(cx, s, e);
  }
  if (Node.isForStatement(s)) return lowerFor(cx, s, LOWER);
  if (Node.isWhileStatement(s)) return lowerWhile(cx, s, LOWER);
  if (Node.isDoStatement(s)) return lowerDo(cx, s, LOWER);
  if (Node.isBreakStatement(s) || Node.isContinueStatement(s)) return lowerBreakContinue(cx, s);
  if (Node.isSwitchStatement(s)) return lowerSwitch(cx, s);
  if (Node.isLabeledStatement(s)) {
    const inner = s.getStatement();
    if (!Node.isForStatement(inner) && !Node.isWhileStatement(inner) && !Node.isDoStatement(inner)) return cx.fail(s, 2001, "a label on something other than a loop");
    return lowerStatement(cx, inner);
  }
  if (Node.isThrowStatement(s) || Node.isTryStatement(s)) return cx.fail(s, 2008);
  if (Node.isFunctionDeclaration(s)) return cx.fail(s, 2007, "nested function", "declare helpers at the top level");
  if (Node.isClassDeclaration(s)) return cx.fail(s, 2006);
  if (s.getKind() === SyntaxKind.ForOfStatement || s.getKind() === SyntaxKind.ForInStatement) return cx.fail(s, 2001, "for-of/for-in", "use a counted for loop");
  return cx.fail(s, 2001, s.getKindName());
}

function lowerReturn(cx: LowerContext, node: Node, e: Expression): void {
  const v = lowerExpr(cx, e);
  const ret = cx.frame.ret;
  if (!ret) destroyIterators(cx);
  else destroyFrameIterators(cx);
  if (ret) {
    if (!ret.reg) cx.fail(e, 2002, `${ret.fnName} returns void`);
    cx.b.mov(ret.reg, convert(cx, e, v, ret.type as IntType | BoolType).op);
    return cx.b.terminate({ op: "jmp", target: ret.block });
  }
  const sp = cx.frame.subprog;
  if (sp) {
    if (sp.type.kind === "void") cx.fail(e, 2002, `${sp.fnName} returns void`);
    const t = sp.type as IntType | BoolType;
    return cx.b.terminate({ op: "ret", value: convert(cx, e, v, t).op, width: widthOf(t) });
  }
  cx.b.terminate({ op: "ret", value: convert(cx, e, v, T.i32).op });
}

function lowerSwitch(cx: LowerContext, s: import("ts-morph").SwitchStatement): void {
  const disc = lowerExpr(cx, s.getExpression());
  if (disc.type.kind !== "int") cx.fail(s.getExpression(), 2002, "switch needs an integer");
  const t = disc.type;
  const reg = isImm(disc.op) ? (() => { const r = cx.b.vreg(widthOf(t)); cx.b.mov(r, disc.op); return r; })() : disc.op.reg;
  const clauses = s.getClauses();
  const bodies = clauses.map(() => cx.b.block());
  const exit = cx.b.block();
  let dflt = exit;
  clauses.forEach((c, i) => {
    if (Node.isDefaultClause(c)) {
      dflt = bodies[i];
      return;
    }
    const v = convert(cx, c.getExpression(), lowerExpr(cx, c.getExpression()), t);
    if (!isImm(v.op)) cx.fail(c.getExpression(), 2022, "case labels must be constants");
    const next = cx.b.block();
    cx.b.terminate({ op: "br", cmp: "JEQ", width: widthOf(t), a: reg, b: v.op, then: bodies[i], else: next });
    cx.b.setBlock(next);
  });
  cx.b.terminate({ op: "jmp", target: dflt });
  cx.loops.push({ brk: exit, cont: null, iterators: cx.iterators.length });
  try {
    clauses.forEach((c, i) => {
      cx.b.jumpTo(bodies[i]);
      lowerStatements(cx, c.getStatements());
    });
  } finally {
    cx.loops.pop();
  }
  cx.b.jumpTo(exit);
}

function lowerVariables(cx: LowerContext, list: import("ts-morph").VariableDeclarationList): void {
  const kind = list.getDeclarationKind() as string;
  const mutable = kind !== "const";
  if (kind === "var") cx.fail(list, 2001, "var", "use let or const");
  for (const d of list.getDeclarations()) {
    const nameNode = d.getNameNode();
    if (!Node.isIdentifier(nameNode)) cx.fail(nameNode, 2006, "destructuring");
    const init = d.getInitializer();
    const annotated = d.getTypeNode();
    if (!init) {
      if (!annotated) cx.fail(d, 2003, "a local needs a type or an initializer");
      const t = declaredType(cx, annotated, annotated.getText());
      if (t.kind === "view") cx.fail(d, 2018);
      const reg = cx.b.vreg(widthOf(t), d.getName());
      cx.b.mov(reg, { imm: 0n });
      cx.frame.locals.set(d.compilerNode, { kind: "local", type: t, reg, mutable: true });
      continue;
    }
    let v: import("./context").Value;
    try {
      v = lowerExpr(cx, init);
    } catch (err) {
      // Keep the name known so later uses do not report it again as unknown.
      const t = annotated ? scalarTypeFromName(annotated.getText()) : undefined;
      if (t) cx.frame.locals.set(d.compilerNode, { kind: "local", type: t, reg: cx.b.vreg(widthOf(t), d.getName()), mutable });
      throw err;
    }
    if (v.type.kind === "view" || v.type.kind === "null") {
      if (mutable) cx.fail(d, 2018, "ring views must be held in const locals");
      cx.frame.locals.set(d.compilerNode, { kind: "local", type: v.type, reg: (v.op as { reg: import("../ir/ir").VReg }).reg, mutable: false });
      continue;
    }
    if (v.type.kind === "void") cx.fail(init, 2002, "this call has no value");
    const t = annotated ? declaredType(cx, annotated, annotated.getText()) : v.literal === "bigint" ? T.i64 : v.type;
    if (t.kind === "view" || t.kind === "void" || t.kind === "null") return cx.fail(d, 2003);
    const cv = convert(cx, init, v, t);
    if (!mutable && isImm(cv.op)) {
      cx.frame.locals.set(d.compilerNode, { kind: "const", type: t, value: cv.op.imm });
      continue;
    }
    const reg = cx.b.vreg(widthOf(t), d.getName());
    cx.b.mov(reg, cv.op);
    cx.frame.locals.set(d.compilerNode, { kind: "local", type: t, reg, mutable });
  }
}
