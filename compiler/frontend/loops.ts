// Loop lowering: for/while/do loops, break and continue, and the open-coded iterators that bound the loops
// the compiler cannot bound itself (every way out of a function destroys them). Statement lowering
// (statements.ts) calls in here and passes itself in as `lower`, so this file does not import it.

import { Node, SyntaxKind, type BreakStatement, type ContinueStatement, type DoStatement, type Expression, type ForStatement, type Statement, type VariableDeclarationList, type WhileStatement } from "ts-morph";
import type { Block } from "../ir/ir";
import type { LowerContext } from "./context";
import { lowerCond, lowerExpr } from "./expressions";
import { trapBlock } from "./ringapi";
import { KFUNC_ITER_DESTROY, KFUNC_ITER_NEW, KFUNC_ITER_NEXT, MAX_LOOP_ITERATIONS } from "./ring";
import { widthOf } from "./types";

/** What loops need from statement lowering (statements.ts passes it in). */
export interface StatementLowering {
  statements(cx: LowerContext, stmts: Statement[]): void;
  variables(cx: LowerContext, list: VariableDeclarationList): void;
}

function loopDepth<T>(cx: LowerContext, f: () => T): T {
  cx.b.depth++;
  try {
    return f();
  } finally {
    cx.b.depth--;
  }
}

export function lowerFor(cx: LowerContext, s: ForStatement, lower: StatementLowering): void {
  const init = s.getInitializer();
  if (init) {
    if (Node.isVariableDeclarationList(init)) lower.variables(cx, init);
    else lowerExpr(cx, init as Expression);
  }
  const shape = boundedFor(cx, s);
  if (shape.kind === "counted") return loopDepth(cx, () => lowerCountedLoop(cx, shape, s.getStatement(), lower));
  const l = shape.kind === "unroll" ? lowerLoop : lowerIteratorLoop;
  return loopDepth(cx, () => l(cx, s.getCondition(), s.getIncrementor(), s.getStatement(), false, lower));
}

export function lowerWhile(cx: LowerContext, s: WhileStatement, lower: StatementLowering): void {
  return loopDepth(cx, () => lowerIteratorLoop(cx, s.getExpression(), undefined, s.getStatement(), false, lower));
}

export function lowerDo(cx: LowerContext, s: DoStatement, lower: StatementLowering): void {
  return loopDepth(cx, () => lowerIteratorLoop(cx, s.getExpression(), undefined, s.getStatement(), true, lower));
}

export function lowerBreakContinue(cx: LowerContext, s: BreakStatement | ContinueStatement): void {
  if (s.getLabel()) cx.fail(s, 2001, "labelled break/continue");
  const loop = cx.loops[cx.loops.length - 1];
  const brk = Node.isBreakStatement(s);
  const target = loop && (brk ? loop.brk : loop.cont ?? [...cx.loops].reverse().find((l) => l.cont)?.cont);
  if (!target) return cx.fail(s, 2025);
  return cx.b.terminate({ op: "jmp", target });
}

/** Destroy the iterators of every loop being left (before leaving the function). */
export function destroyIterators(cx: LowerContext): void {
  for (const slot of [...cx.iterators].reverse()) cx.b.emit({ op: "call", kind: "kfunc", name: KFUNC_ITER_DESTROY, args: [{ reg: iterPtr(cx, slot) }] });
}

function iterPtr(cx: LowerContext, slot: number) {
  const r = cx.b.vreg(64, "iter", true);
  cx.b.emit({ op: "stackaddr", dst: r, slot });
  return r;
}

/** Lower a loop's body with its break and continue targets. */
function lowerLoopBody(cx: LowerContext, body: Statement, brk: Block, cont: Block, lower: StatementLowering): void {
  cx.loops.push({ brk, cont });
  try {
    lower.statements(cx, [body]);
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
function lowerLoop(cx: LowerContext, cond: Expression | undefined, inc: Expression | undefined, body: Statement, bodyFirst: boolean, lower: StatementLowering): void {
  const bodyBlock = cx.b.block();
  const incBlock = inc ? cx.b.block() : null;
  const condBlock = cx.b.block();
  const exit = cx.b.block();
  cx.b.terminate({ op: "jmp", target: bodyFirst ? bodyBlock : condBlock });
  cx.b.setBlock(bodyBlock);
  lowerLoopBody(cx, body, exit, incBlock ?? condBlock, lower);
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
function lowerCountedLoop(cx: LowerContext, shape: Extract<LoopShape, { kind: "counted" }>, body: Statement, lower: StatementLowering): void {
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
    lowerLoopBody(cx, body, exit, head, lower);
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
function lowerIteratorLoop(cx: LowerContext, cond: Expression | undefined, inc: Expression | undefined, body: Statement, bodyFirst: boolean, lower: StatementLowering): void {
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
    lowerLoopBody(cx, body, exit, incBlock ?? condBlock ?? head, lower);
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

