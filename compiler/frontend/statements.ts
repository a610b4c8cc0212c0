// Statement lowering: locals, if/else, switch, for/while/do loops with break and continue, return (from the
// program or from an inlined helper), expression statements. Unsupported statements are diagnosed and
// lowering goes on with the next statement, so one build reports every problem in a file.

import { Node, SyntaxKind, type Expression, type ForStatement, type Statement } from "ts-morph";
import { isImm, type Block } from "../ir/ir";
import { LowerAbort, type LowerContext } from "./context";
import { declaredType } from "./annotations";
import { destroyIterators, iterPtr, trapBlock } from "./exits";
import { lowerCond, lowerExpr } from "./expressions";
import { convert } from "./values";
import { KFUNC_ITER_DESTROY, KFUNC_ITER_NEW, KFUNC_ITER_NEXT, MAX_LOOP_ITERATIONS } from "./ring";
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

function loopDepth<T>(cx: LowerContext, f: () => T): T {
  cx.b.depth++;
  try {
    return f();
  } finally {
    cx.b.depth--;
  }
}

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
      if (cx.frame.ret && cx.frame.ret.type.kind === "void") return cx.b.terminate({ op: "jmp", target: cx.frame.ret.block });
      if (cx.frame.subprog && cx.frame.subprog.type.kind === "void") {
        destroyIterators(cx);
        return cx.b.terminate({ op: "ret", value: { imm: 0n } });
      }
      return cx.fail(s, 2024);
    }
    return lowerReturn(cx, s, e);
  }
  if (Node.isForStatement(s)) {
    const init = s.getInitializer();
    if (init) {
      if (Node.isVariableDeclarationList(init)) lowerVariables(cx, init);
      else lowerExpr(cx, init as Expression);
    }
    const shape = boundedFor(cx, s);
    if (shape.kind === "counted") return loopDepth(cx, () => lowerCountedLoop(cx, shape, s.getStatement()));
    const lower = shape.kind === "unroll" ? lowerLoop : lowerIteratorLoop;
    return loopDepth(cx, () => lower(cx, s.getCondition(), s.getIncrementor(), s.getStatement(), false));
  }
  if (Node.isWhileStatement(s)) return loopDepth(cx, () => lowerIteratorLoop(cx, s.getExpression(), undefined, s.getStatement(), false));
  if (Node.isDoStatement(s)) return loopDepth(cx, () => lowerIteratorLoop(cx, s.getExpression(), undefined, s.getStatement(), true));
  if (Node.isBreakStatement(s) || Node.isContinueStatement(s)) {
    if (s.getLabel()) cx.fail(s, 2001, "labelled break/continue");
    const loop = cx.loops[cx.loops.length - 1];
    const brk = Node.isBreakStatement(s);
    const target = loop && (brk ? loop.brk : loop.cont ?? [...cx.loops].reverse().find((l) => l.cont)?.cont);
    if (!target) return cx.fail(s, 2025);
    return cx.b.terminate({ op: "jmp", target });
  }
  if (Node.isSwitchStatement(s)) return lowerSwitch(cx, s);
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

/** Lower a loop's body with its break and continue targets. */
function lowerLoopBody(cx: LowerContext, body: Statement, brk: Block, cont: Block): void {
  cx.loops.push({ brk, cont });
  try {
    lowerStatements(cx, [body]);
  } finally {
    cx.loops.pop();
  }
}

/** Fall into `block` and evaluate a loop's incrementor there. */
function lowerIncrement(cx: LowerContext, block: Block, inc: Expression): void {
  cx.b.jumpTo(block);
  cx.at(inc);
  lowerExpr(cx, inc);
}

/** Loops: [body] [continue target: incrementor] [condition] with the exit after. A loop whose condition is a
 *  compile-time constant true has no condition block. */
function lowerLoop(cx: LowerContext, cond: Expression | undefined, inc: Expression | undefined, body: Statement, bodyFirst: boolean): void {
  const bodyBlock = cx.b.block();
  const incBlock = inc ? cx.b.block() : null;
  const condBlock = cx.b.block();
  const exit = cx.b.block();
  cx.b.terminate({ op: "jmp", target: bodyFirst ? bodyBlock : condBlock });
  cx.b.setBlock(bodyBlock);
  lowerLoopBody(cx, body, exit, incBlock ?? condBlock);
  if (incBlock) lowerIncrement(cx, incBlock, inc!);
  cx.b.jumpTo(condBlock);
  if (cond) {
    cx.at(cond);
    lowerCond(cx, cond, bodyBlock, exit);
  } else cx.b.terminate({ op: "jmp", target: bodyBlock });
  cx.b.setBlock(exit);
}

/** Constant-bounded loops longer than this run on the iterator instead of being followed by the verifier. */
export const MAX_UNROLLED_TRIPS = 256;

/** Whether the verifier can follow a `for` loop iteration by iteration: a counter declared in the
 *  initializer from a constant, compared with a constant (or config value) in the condition (possibly
 *  `&&`-ed with anything else), stepped by a constant in the incrementor, and not assigned in the body. */
type LoopShape =
  | { kind: "unroll" }
  | { kind: "iterate" }
  | { kind: "counted"; counter: Node; from: bigint; step: bigint; up: boolean; trips: bigint; others: Node[] };

function boundedFor(cx: LowerContext, s: ForStatement): LoopShape {
  const NO: LoopShape = { kind: "iterate" };
  const init = s.getInitializer();
  if (!init || !Node.isVariableDeclarationList(init) || init.getDeclarations().length !== 1) return NO;
  const d = init.getDeclarations()[0];
  const isCounter = (e: Node): boolean => Node.isIdentifier(e) && e.getSymbol()?.getDeclarations()[0] === d;
  const isConst = (e: Node): boolean => {
    if (Node.isParenthesizedExpression(e)) return isConst(e.getExpression());
    if (Node.isNumericLiteral(e) || Node.isBigIntLiteral(e)) return true;
    if (Node.isPrefixUnaryExpression(e)) return isConst(e.getOperand());
    if (Node.isCallExpression(e)) return e.getArguments().length === 1 && isConst(e.getArguments()[0]);
    if (Node.isBinaryExpression(e)) return /^[-+*/%&|^]$|^<<$|^>>$/.test(e.getOperatorToken().getText()) && isConst(e.getLeft()) && isConst(e.getRight());
    if (!Node.isIdentifier(e)) return false;
    const b = cx.resolve(e);
    return b?.kind === "const" || b?.kind === "import" || (b?.kind === "global" && b.global.section === ".rodata");
  };
  if (!d.getInitializer() || !isConst(d.getInitializer()!)) return NO;
  const inc = s.getIncrementor();
  let up: boolean;
  if (inc && (Node.isPostfixUnaryExpression(inc) || Node.isPrefixUnaryExpression(inc)) && isCounter(inc.getOperand()))
    up = inc.getOperatorToken() === SyntaxKind.PlusPlusToken;
  else if (inc && Node.isBinaryExpression(inc) && isCounter(inc.getLeft()) && ["+=", "-="].includes(inc.getOperatorToken().getText()) && isConst(inc.getRight()))
    up = inc.getOperatorToken().getText() === "+=";
  else return NO;
  const conjuncts = (e: Node): Node[] =>
    Node.isParenthesizedExpression(e) ? conjuncts(e.getExpression()) : Node.isBinaryExpression(e) && e.getOperatorToken().getText() === "&&" ? [...conjuncts(e.getLeft()), ...conjuncts(e.getRight())] : [e];
  const cond = s.getCondition();
  // A compile-time value for literals and constants (config values are known only to the verifier).
  const valueOf = (e: Node): bigint | undefined => {
    if (Node.isParenthesizedExpression(e)) return valueOf(e.getExpression());
    if (Node.isNumericLiteral(e) || Node.isBigIntLiteral(e)) {
      try {
        return BigInt(e.getText().replace(/[_n]/g, ""));
      } catch {
        return undefined;
      }
    }
    if (Node.isPrefixUnaryExpression(e) && e.getOperatorToken() === SyntaxKind.MinusToken) {
      const v = valueOf(e.getOperand());
      return v === undefined ? undefined : -v;
    }
    if (Node.isIdentifier(e)) {
      const b = cx.resolve(e);
      return b?.kind === "const" ? b.value : undefined;
    }
    return undefined;
  };
  let trips: bigint | undefined;
  let limit: Node | undefined;
  let from: bigint | undefined;
  let step: bigint | undefined;
  const limited = cond && conjuncts(cond).some((c) => {
    if (!Node.isBinaryExpression(c)) return false;
    const op = c.getOperatorToken().getText();
    const [l, r] = [c.getLeft(), c.getRight()];
    const toward = (o: string) => (up ? ["<", "<=", "!=", "!=="] : [">", ">=", "!=", "!=="]).includes(o);
    const flip: Record<string, string> = { "<": ">", "<=": ">=", ">": "<", ">=": "<=", "!=": "!=", "!==": "!==" };
    const ok = (isCounter(l) && isConst(r) && toward(op)) || (isCounter(r) && isConst(l) && flip[op] !== undefined && toward(flip[op]));
    if (ok) {
      const f = valueOf(d.getInitializer()!);
      const to = valueOf(isCounter(l) ? r : l);
      const st = inc && Node.isBinaryExpression(inc) ? valueOf(inc.getRight()) : 1n;
      if (f !== undefined && to !== undefined && st !== undefined && st > 0n && !op.startsWith("!")) {
        const inclusive = op === "<=" || op === ">=" ? 1n : 0n;
        const n = (up ? to - f : f - to) + inclusive <= 0n ? 0n : ((up ? to - f : f - to) + inclusive + st - 1n) / st;
        if (trips === undefined || n < trips) [trips, limit, from, step] = [n, c, f, st];
      }
    }
    return ok;
  });
  if (!limited) return NO;
  // The body must not assign the counter.
  const assigned = s.getStatement().getDescendants().some((n) => {
    if (Node.isBinaryExpression(n) && n.getOperatorToken().getText().endsWith("=") && !["==", "===", "!=", "!==", "<=", ">="].includes(n.getOperatorToken().getText())) return isCounter(n.getLeft());
    if (Node.isPostfixUnaryExpression(n) || (Node.isPrefixUnaryExpression(n) && [SyntaxKind.PlusPlusToken, SyntaxKind.MinusMinusToken].includes(n.getOperatorToken())))
      return isCounter(n.getOperand());
    return false;
  });
  if (assigned) return NO;
  // A long constant loop would make the verifier follow every iteration (and every path through each):
  // past MAX_UNROLLED_TRIPS it is counted by the iterator instead, so the verifier checks the body once.
  if (trips !== undefined && trips > BigInt(MAX_UNROLLED_TRIPS))
    return { kind: "counted", counter: d, from: from!, step: step!, up, trips, others: conjuncts(cond!).filter((c) => c !== limit) };
  return { kind: "unroll" };
}

/** A long constant-bounded `for` loop counted by the iterator: `new(it, 0, trips)`, and each iteration sets
 *  the counter from the iterator's value (`from + k * step`). The verifier sees an unknown counter and
 *  checks the body until it converges; the other conditions of the loop still apply. */
function lowerCountedLoop(cx: LowerContext, shape: Extract<LoopShape, { kind: "counted" }>, body: Statement): void {
  const counter = cx.frame.locals.get(shape.counter.compilerNode);
  if (!counter || counter.kind !== "local" || counter.type.kind !== "int") return cx.fail(shape.counter, 2001, "loop counter");
  const { reg, type } = counter;
  const width = widthOf(type);
  const slot = cx.b.stackObject(8);
  cx.b.emit({ op: "call", kind: "kfunc", name: KFUNC_ITER_NEW, args: [{ reg: iterPtr(cx, slot) }, { imm: 0n }, { imm: shape.trips }] });
  const head = cx.b.block();
  const bodyBlock = cx.b.block();
  const exit = cx.b.block();
  cx.iterators.push(slot);
  try {
    cx.b.jumpTo(head);
    const p = cx.b.vreg(64, "k", true);
    cx.b.emit({ op: "call", kind: "kfunc", name: KFUNC_ITER_NEXT, args: [{ reg: iterPtr(cx, slot) }], dst: p });
    const go = cx.b.block();
    cx.b.terminate({ op: "br", cmp: "JEQ", width: 64, a: p, b: { imm: 0n }, then: exit, else: go });
    cx.b.setBlock(go);
    // counter = from +/- k * step
    const k = cx.b.vreg(32, "k");
    cx.b.emit({ op: "load", dst: k, base: p, off: 0, size: "W" });
    cx.b.mov(reg, { reg: k });
    if (shape.step !== 1n) cx.b.emit({ op: "alu", alu: "MUL", width, dst: reg, a: { reg }, b: { imm: shape.step } });
    if (!shape.up) cx.b.emit({ op: "neg", width, dst: reg, a: { reg } });
    if (shape.from !== 0n) cx.b.emit({ op: "alu", alu: "ADD", width, dst: reg, a: { reg }, b: { imm: shape.from } });
    if (shape.others.length) {
      // The remaining conditions, `&&`-ed, decide whether the loop goes on.
      for (const c of shape.others) {
        const more = cx.b.block();
        lowerCond(cx, c as Expression, more, exit);
        cx.b.setBlock(more);
      }
    }
    cx.b.terminate({ op: "jmp", target: bodyBlock });
    cx.b.setBlock(bodyBlock);
    lowerLoopBody(cx, body, exit, head);
    cx.b.terminate({ op: "jmp", target: head });
  } finally {
    cx.iterators.pop();
  }
  cx.b.setBlock(exit);
  cx.b.emit({ op: "call", kind: "kfunc", name: KFUNC_ITER_DESTROY, args: [{ reg: iterPtr(cx, slot) }] });
}

/** A loop whose bound the compiler cannot prove, on the open-coded number iterator: the verifier checks
 *  the body until its state converges instead of following every iteration. It runs at most
 *  MAX_LOOP_ITERATIONS times; one more stops the program like a failed run-time check.
 *    new(it, 0, MAX); head: if next(it) == NULL trap; if !cond goto exit; body; inc; goto head;
 *    exit: destroy(it)                                     (do-while: head: next; body; cond) */
function lowerIteratorLoop(cx: LowerContext, cond: Expression | undefined, inc: Expression | undefined, body: Statement, bodyFirst: boolean): void {
  const slot = cx.b.stackObject(8);
  cx.b.emit({ op: "call", kind: "kfunc", name: KFUNC_ITER_NEW, args: [{ reg: iterPtr(cx, slot) }, { imm: 0n }, { imm: BigInt(MAX_LOOP_ITERATIONS) }] });
  const head = cx.b.block();
  const bodyBlock = cx.b.block();
  const incBlock = inc ? cx.b.block() : null;
  const condBlock = bodyFirst && cond ? cx.b.block() : null;
  const exit = cx.b.block();
  cx.iterators.push(slot);
  try {
    cx.b.jumpTo(head);
    const p = cx.b.vreg(64, "more", true);
    cx.b.emit({ op: "call", kind: "kfunc", name: KFUNC_ITER_NEXT, args: [{ reg: iterPtr(cx, slot) }], dst: p });
    const go = cx.b.block();
    cx.b.terminate({ op: "br", cmp: "JEQ", width: 64, a: p, b: { imm: 0n }, then: trapBlock(cx), else: go });
    cx.b.setBlock(go);
    if (cond && !bodyFirst) {
      cx.at(cond);
      lowerCond(cx, cond, bodyBlock, exit);
    } else cx.b.terminate({ op: "jmp", target: bodyBlock });
    cx.b.setBlock(bodyBlock);
    lowerLoopBody(cx, body, exit, incBlock ?? condBlock ?? head);
    if (incBlock) lowerIncrement(cx, incBlock, inc!);
    if (condBlock) {
      cx.b.jumpTo(condBlock);
      cx.at(cond!);
      lowerCond(cx, cond!, head, exit);
    } else cx.b.terminate({ op: "jmp", target: head });
  } finally {
    cx.iterators.pop();
  }
  cx.b.setBlock(exit);
  cx.b.emit({ op: "call", kind: "kfunc", name: KFUNC_ITER_DESTROY, args: [{ reg: iterPtr(cx, slot) }] });
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
  cx.loops.push({ brk: exit, cont: null });
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
