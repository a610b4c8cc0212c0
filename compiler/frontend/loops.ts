// Loop lowering: for/while/do loops, labelled and plain break/continue, and what makes every loop pass the
// kernel verifier in work that does not grow with its trip count.
//
// The verifier proves loops one of two ways, and each loop is lowered for one of them:
//  - "followed": a `for` loop whose counter starts at a compile-time constant, is stepped by a constant and
//    is compared with a constant, and holds no converging loop, is walked by the verifier iteration by iteration. That costs it about
//    trips x body instructions and the program nothing at run time, so it is chosen when that product is
//    small (LoopOptions.budget).
//  - "converging": every other loop. The variables the loop assigns are laundered on entry (xor-ed with a
//    .bss zero the verifier cannot see through), so the verifier never knows a counter's exact value and
//    never marks it precise; the loop head is a `may_goto` (or, with loops: "iterator", a
//    bpf_iter_num_next call; a loop around another converging loop always uses one), where the verifier compares the new state with the old one with ranges
//    (old contains new) and stops after two or three passes over the body. may_goto's budget (8,388,608
//    iterations of the function's loops per call; a time budget on x86-64 since 6.15) bounds the loop at
//    run time: when it runs out the program stops like a failed run-time check, naming the loop's line.
// Statement lowering (statements.ts) calls in here and passes itself in, so this file does not import it.

import {
  Node,
  SyntaxKind,
  type BreakStatement,
  type ContinueStatement,
  type DoStatement,
  type Expression,
  type ForStatement,
  type Statement,
  type VariableDeclarationList,
  type WhileStatement,
} from "ts-morph";
import { isImm, type Block, type VReg } from "../ir/ir";
import type { LowerContext } from "./context";
import { iterPtr, trapBlock } from "./exits";
import { lowerCond, lowerExpr } from "./expressions";
import { KFUNC_ITER_DESTROY, KFUNC_ITER_NEW, KFUNC_ITER_NEXT, LOOP_ZERO_GLOBAL, MAX_LOOP_ITERATIONS } from "./ring";
import { scalarTypeFromName, type IntType } from "./types";

/** How loops are lowered (compile options `loops` and `loopBudget`). */
export interface LoopOptions {
  /** The head of a converging loop: may_goto (default; kernel 6.9+; loops around converging loops still
   *  use an iterator) or an open-coded number iterator everywhere. */
  form: "maygoto" | "iterator";
  /** The most verifier work (trip count x body size, in source nodes) a followed loop may cost. */
  budget: number;
  /** Copies of a small converging body per loop head (1: no unrolling). */
  unroll: number;
}
export const DEFAULT_LOOP_OPTIONS: LoopOptions = { form: "maygoto", budget: 2048, unroll: 8 };

/** Estimated verifier work for a whole function past which the compiler refuses (the kernel's limit is
 *  1,000,000 instructions processed; source nodes are about one instruction each). */
const FUNCTION_WORK_LIMIT = 400_000;
/** Passes the verifier makes over a converging loop's body before its states converge. */
const CONVERGE_PASSES = 3;

/** What loops need from statement lowering (statements.ts passes it in). */
export interface StatementLowering {
  statements(cx: LowerContext, stmts: Statement[]): void;
  variables(cx: LowerContext, list: VariableDeclarationList): void;
}

type LoopNode = ForStatement | WhileStatement | DoStatement;

function loopDepth<T>(cx: LowerContext, f: () => T): T {
  cx.b.depth++;
  try {
    return f();
  } finally {
    cx.b.depth--;
  }
}

/** The label of a labelled loop (`outer: for (...)`). */
function labelOf(s: Node): string | undefined {
  const p = s.getParent();
  return p && Node.isLabeledStatement(p) ? p.getLabel().getText() : undefined;
}

export function lowerFor(cx: LowerContext, s: ForStatement, lower: StatementLowering): void {
  const init = s.getInitializer();
  if (init) {
    if (Node.isVariableDeclarationList(init)) lower.variables(cx, init);
    else lowerExpr(cx, init as Expression);
  }
  checkWork(cx, s);
  if (followed(cx, s))
    return loopDepth(cx, () => lowerFollowed(cx, s, s.getCondition(), s.getIncrementor(), s.getStatement(), lower));
  return loopDepth(cx, () => lowerConverging(cx, s, s.getCondition(), s.getIncrementor(), s.getStatement(), false, lower));
}

export function lowerWhile(cx: LowerContext, s: WhileStatement, lower: StatementLowering): void {
  checkWork(cx, s);
  return loopDepth(cx, () => lowerConverging(cx, s, s.getExpression(), undefined, s.getStatement(), false, lower));
}

export function lowerDo(cx: LowerContext, s: DoStatement, lower: StatementLowering): void {
  checkWork(cx, s);
  return loopDepth(cx, () => lowerConverging(cx, s, s.getExpression(), undefined, s.getStatement(), true, lower));
}

/** `break`/`continue`, optionally labelled: leave the loops in between (destroying their iterators). */
export function lowerBreakContinue(cx: LowerContext, s: BreakStatement | ContinueStatement): void {
  const brk = Node.isBreakStatement(s);
  const label = s.getLabel()?.getText();
  let target: (typeof cx.loops)[number] | undefined;
  for (let k = cx.loops.length - 1; k >= 0 && !target; k--) {
    const l = cx.loops[k];
    if (label !== undefined ? l.label === label && (brk || l.cont) : brk || l.cont) target = l;
  }
  if (!target) {
    if (label !== undefined) return cx.fail(s, 2025, `no enclosing ${brk ? "" : "loop "}labelled ${label}`);
    return cx.fail(s, 2025);
  }
  destroyIteratorsFrom(cx, target.iterators);
  return cx.b.terminate({ op: "jmp", target: brk ? target.brk : target.cont! });
}

// ---- iterators (loops: "iterator") and the ways out of a function ----

/** Where each inlined frame's iterators start in cx.iterators (frames nest, so one number per frame). */
const frameBase = new WeakMap<object, number>();

function destroyIteratorsFrom(cx: LowerContext, from: number): void {
  for (let k = cx.iterators.length - 1; k >= from; k--) cx.b.emit({ op: "call", kind: "kfunc", name: KFUNC_ITER_DESTROY, args: [{ reg: iterPtr(cx, cx.iterators[k]) }] });
}

/** Destroy the iterators of the loops of the current inlined frame (before its `return`). */
export function destroyFrameIterators(cx: LowerContext): void {
  destroyIteratorsFrom(cx, frameBase.get(cx.frame) ?? cx.iterators.length);
}

function pushIterator(cx: LowerContext, slot: number): void {
  if (!frameBase.has(cx.frame)) frameBase.set(cx.frame, cx.iterators.length);
  cx.iterators.push(slot);
}

// ---- lowering ----

/** Lower a loop's body with its break and continue targets. */
function lowerLoopBody(cx: LowerContext, loop: LoopNode, body: Statement, brk: Block, cont: Block, lower: StatementLowering): void {
  cx.loops.push({ brk, cont, label: labelOf(loop), iterators: cx.iterators.length });
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

/** A loop the verifier follows: [body] [continue target: incrementor] [condition] with the exit after. */
function lowerFollowed(cx: LowerContext, loop: LoopNode, cond: Expression | undefined, inc: Expression | undefined, body: Statement, lower: StatementLowering): void {
  const bodyBlock = cx.b.block();
  const incBlock = inc ? cx.b.block() : null;
  const condBlock = cx.b.block();
  const exit = cx.b.block();
  cx.b.terminate({ op: "jmp", target: condBlock });
  cx.b.setBlock(bodyBlock);
  lowerLoopBody(cx, loop, body, exit, incBlock ?? condBlock, lower);
  if (incBlock) lowerIncrement(cx, incBlock, inc!);
  cx.b.jumpTo(condBlock);
  if (cond) {
    cx.at(cond);
    lowerCond(cx, cond, bodyBlock, exit);
  } else cx.b.terminate({ op: "jmp", target: bodyBlock });
  cx.b.enter(exit);
}

/** A loop the verifier checks until its states converge (see the header of this file):
 *    launder; head: may_goto exhausted (or: if next(it) == NULL goto exhausted); if !cond goto exit;
 *    body; inc; goto head;  exhausted: trap (the loop's line);  exit: (destroy(it))
 *  do-while: head: may_goto; body; if cond goto head. */
function lowerConverging(cx: LowerContext, loop: LoopNode, cond: Expression | undefined, inc: Expression | undefined, body: Statement, bodyFirst: boolean, lower: StatementLowering): void {
  if (cond) checkEnds(cx, loop, cond, body);
  else checkEnds(cx, loop, undefined, body);
  cx.at(headerNode(loop));
  launder(cx, assignedLocals(cx, loop));
  // A loop around another converging loop keeps the iterator: the verifier counts may_goto passes in one
  // depth per state, shared by nested loops, and an outer may_goto loop around an inner one did not always
  // converge ("8193 jumps", differential seed 100044), where an iterator, whose depth it tracks per
  // iterator, does. Innermost loops, where the time goes, keep may_goto.
  const iterator = cx.loopOptions.form === "iterator" || containsConverging(cx, body);
  lowerConvergingAs(cx, loop, cond, inc, body, bodyFirst, lower, iterator);
}

/** Whether a loop body holds a loop that converges (not one the verifier follows), itself or in a helper
 *  it calls (inlined or not). */
function containsConverging(cx: LowerContext, body: Node, seen: Set<Node> = new Set()): boolean {
  return body.getDescendants().some((n) => {
    if (Node.isWhileStatement(n) || Node.isDoStatement(n)) return true;
    if (Node.isForStatement(n)) return !followed(cx, n, seen);
    if (!Node.isCallExpression(n) || !Node.isIdentifier(n.getExpression())) return false;
    const d = n.getExpression().getSymbol()?.getDeclarations()[0];
    if (!d || !Node.isFunctionDeclaration(d) || !d.getBody() || seen.has(d)) return false;
    seen.add(d);
    try {
      return containsConverging(cx, d.getBody()!, seen);
    } finally {
      seen.delete(d);
    }
  });
}

/** Whether the verifier follows a `for` loop (see the header): a counted shape, cheap enough, and no
 *  converging loop inside. The verifier walks such a loop pass by pass with the values of that pass; at a
 *  converging loop inside, it widens whatever differs from the previous outer pass, so the inner loop's
 *  first state (with this pass's values) never contains its later ones, and a counter the inner body pins
 *  is walked value by value until "8193 jumps" (generated seed 100664). Such a loop converges instead,
 *  which also costs the verifier a few passes, not one per trip. A loop of one trip has no previous pass. */
function followed(cx: LowerContext, s: ForStatement, seen: Set<Node> = new Set()): boolean {
  // Memoized per node (outside helpers being entered): a nest asks about its inner loops from every
  // level, which was exponential in the depth (a 20-deep nest of 2-trip loops took minutes: fuzz).
  const memo = seen.size === 0 ? memoOf(cx).followed : undefined;
  const known = memo?.get(s);
  if (known !== undefined) return known;
  const shape = followedFor(cx, s);
  const r = !!shape && followedCost(cx, s, shape.trips) <= cx.loopOptions.budget && (shape.trips <= 1n || !containsConverging(cx, s.getStatement(), seen));
  memo?.set(s, r);
  return r;
}

/** Per-function answers of `followed` and `work` (the source does not change while it is lowered). */
const memos = new WeakMap<LowerContext, { followed: Map<Node, boolean>; work: Map<Node, number> }>();
function memoOf(cx: LowerContext): { followed: Map<Node, boolean>; work: Map<Node, number> } {
  let m = memos.get(cx);
  if (!m) memos.set(cx, (m = { followed: new Map(), work: new Map() }));
  return m;
}

function lowerConvergingAs(cx: LowerContext, loop: LoopNode, cond: Expression | undefined, inc: Expression | undefined, body: Statement, bodyFirst: boolean, lower: StatementLowering, iterator: boolean): void {
  let slot = -1;
  if (iterator) {
    slot = cx.b.stackObject(8);
    cx.b.emit({ op: "call", kind: "kfunc", name: KFUNC_ITER_NEW, args: [{ reg: iterPtr(cx, slot) }, { imm: 0n }, { imm: BigInt(MAX_LOOP_ITERATIONS) }] });
  }
  const head = cx.b.block();
  const bodyBlock = cx.b.block();
  const incBlock = inc ? cx.b.block() : null;
  const condBlock = bodyFirst && cond ? cx.b.block() : null;
  const exit = cx.b.block();
  if (iterator) pushIterator(cx, slot);
  try {
    cx.b.jumpTo(head);
    cx.at(headerNode(loop));
    // Filled in after the body (so the loop's code stays together) with a trap naming the header line.
    const exhausted = cx.b.block();
    const go = cx.b.block();
    if (iterator) {
      const p = cx.b.vreg(64, "more", true);
      cx.b.emit({ op: "call", kind: "kfunc", name: KFUNC_ITER_NEXT, args: [{ reg: iterPtr(cx, slot) }], dst: p });
      cx.b.terminate({ op: "br", cmp: "JEQ", width: 64, a: p, b: { imm: 0n }, then: exhausted, else: go });
    } else cx.b.terminate({ op: "maygoto", exhausted, next: go });
    cx.b.setBlock(go);
    // A small body is lowered `copies` times between two loop heads: one may_goto (and one jump back)
    // for several iterations. Each copy tests the condition, so the loop still stops exactly.
    const copies = bodyFirst || iterator ? 1 : unrollFactor(cx, loop, body);
    const group = copies > 1 && Node.isForStatement(loop) ? groupShape(cx, loop) : undefined;
    if (group) {
      // `for (i = ..; i < X; i++)` with X fixed in the loop: when X - i >= copies, run the copies
      // without testing the condition between them; otherwise one iteration at a time.
      cx.at(cond!);
      const check = cx.b.block();
      lowerCond(cx, cond!, check, exit);
      cx.b.setBlock(check);
      const left = cx.b.vreg(group.counter.width, "left");
      cx.b.emit({ op: "alu", alu: "SUB", width: group.counter.width, dst: left, a: group.limit, b: { reg: group.counter } });
      const guard = cx.b.block();
      const fast = cx.b.block();
      const slow = cx.b.block();
      cx.b.terminate({ op: "br", cmp: "JGE", width: group.counter.width, a: left, b: { imm: BigInt(copies) }, then: guard, else: slow });
      cx.b.setBlock(guard); // placed here, ended below: the copies decide what it tests
      const fastFrom = cx.b.fn.blocks.length;
      let fastBlocks: Block[] = [];
      for (const [start, n] of [[fast, copies], [slow, 1]] as const) {
        if (start === slow) fastBlocks = [fast, ...cx.b.fn.blocks.slice(fastFrom)];
        cx.b.setBlock(start);
        for (let k = 0; k < n; k++) {
          const next = k === n - 1 ? head : cx.b.block();
          const incK = cx.b.block();
          lowerLoopBody(cx, loop, body, exit, incK, lower);
          lowerIncrement(cx, incK, inc!);
          cx.at(headerNode(loop));
          cx.b.jumpTo(next);
        }
        cx.b.setBlock(null);
      }
      // An index masked for the verifier, `counter & M` (M = 2^n - 1), is counter + k in copy k: while
      // counter <= M - (copies - 1) no copy's mask changes its index, so the copies run only then and
      // range-fold drops their masks (one compare a group instead of a mask, an add and an address per
      // copy). The verifier learns the same bound from this branch.
      const limit = maskLimit(fastBlocks, group.counter, copies);
      cx.b.setBlock(guard);
      cx.at(cond!);
      if (limit === undefined) cx.b.terminate({ op: "jmp", target: fast });
      else cx.b.terminate({ op: "br", cmp: "JLE", width: group.counter.width, a: group.counter, b: { imm: limit }, then: fast, else: slow });
      cx.b.setBlock(exhausted);
      cx.at(headerNode(loop));
      cx.b.terminate({ op: "jmp", target: trapBlock(cx, true) });
      cx.b.enter(exit);
      return;
    }
    let bodyK = bodyBlock;
    let incK = incBlock;
    for (let k = 0; k < copies; k++) {
      const errors = cx.diagnostics.length;
      const last = k === copies - 1;
      const nextCopy = last ? head : cx.b.block();
      if (cond && !bodyFirst) {
        cx.at(cond);
        lowerCond(cx, cond, bodyK, exit);
      } else cx.b.terminate({ op: "jmp", target: bodyK });
      cx.b.setBlock(bodyK);
      lowerLoopBody(cx, loop, body, exit, incK ?? condBlock ?? nextCopy, lower);
      if (incK) lowerIncrement(cx, incK, inc!);
      if (last || condBlock) break;
      cx.at(headerNode(loop));
      cx.b.jumpTo(nextCopy);
      if (cx.diagnostics.length !== errors) break;
      bodyK = cx.b.block();
      incK = inc ? cx.b.block() : null;
    }
    if (condBlock) {
      cx.b.jumpTo(condBlock);
      cx.at(cond!);
      lowerCond(cx, cond!, head, exit);
    } else {
      cx.at(headerNode(loop));
      cx.b.terminate({ op: "jmp", target: head });
    }
    cx.b.setBlock(exhausted);
    cx.at(headerNode(loop));
    cx.b.terminate({ op: "jmp", target: trapBlock(cx, true) });
  } finally {
    if (iterator) cx.iterators.pop();
  }
  cx.b.enter(exit);
  if (iterator) cx.b.emit({ op: "call", kind: "kfunc", name: KFUNC_ITER_DESTROY, args: [{ reg: iterPtr(cx, slot) }] });
}

/** Bodies of at most this much work (source nodes, no loops, calls or switches inside) are unrolled. */
const UNROLL_MAX_WORK = 40;
/** The work all copies of an unrolled body may add up to (the policy is by size, as clang's unroll
 *  threshold is: a body of work 20 gets 8 copies, one of 33 gets 4). Masks of the counter do not count
 *  (see maskedWork): records' byte loop, work 33 of which 8 is `i & (MAX_RECORD - 1)`, gets 6. */
const UNROLL_BUDGET = 4 * UNROLL_MAX_WORK;

/** The work of a `for` body's `counter & M` expressions: copies of a counted loop compute none of it
 *  (the group's guard bounds the counter, and range-fold drops the masks; see maskLimit), so it does
 *  not count against the unrolling budget. */
function maskedWork(cx: LowerContext, loop: LoopNode, body: Statement): number {
  if (!Node.isForStatement(loop)) return 0;
  const init = loop.getInitializer();
  if (!init || !Node.isVariableDeclarationList(init) || init.getDeclarations().length !== 1) return 0;
  const d = init.getDeclarations()[0];
  const isCounter = (e: Node) => Node.isIdentifier(e) && e.getSymbol()?.getDeclarations()[0] === d;
  // The mask must be a constant expression (literals and constants) for the guard to bound it.
  const constant = (e: Node) => [e, ...e.getDescendants()].every((x) => !Node.isIdentifier(x) || cx.resolve(x)?.kind === "const" || /^[ui](8|16|32|64)$/.test(x.getText()));
  let w = 0;
  for (const n of body.getDescendantsOfKind(SyntaxKind.BinaryExpression)) {
    if (n.getOperatorToken().getKind() !== SyntaxKind.AmpersandToken) continue;
    const [l, r] = [n.getLeft(), n.getRight()];
    if ((isCounter(l) && constant(r)) || (isCounter(r) && constant(l))) w += work(cx, n) - 1;
  }
  return w;
}

/** How many copies of a converging loop's body to lower between two heads (1: no unrolling). */
function unrollFactor(cx: LowerContext, loop: LoopNode, body: Statement): number {
  if (labelOf(loop) !== undefined) return 1;
  const inside = body.getDescendants();
  const helperCall = (n: Node) => {
    if (!Node.isCallExpression(n) || !Node.isIdentifier(n.getExpression())) return false;
    const d = n.getExpression().getSymbol()?.getDeclarations()[0];
    return !!d && Node.isFunctionDeclaration(d);
  };
  if (inside.some((n) => helperCall(n) || Node.isSwitchStatement(n) || Node.isIterationStatement(n) || Node.isLabeledStatement(n))) return 1;
  const per = loop.getChildren().reduce((n, c) => n + work(cx, c), 0) - maskedWork(cx, loop, body);
  return per <= UNROLL_MAX_WORK ? Math.max(1, Math.min(Math.floor(cx.loopOptions.unroll), Math.floor(UNROLL_BUDGET / Math.max(per, 1)))) : 1;
}

/** The largest counter value for which no `counter & M` in the copies (M = 2^n - 1, n < 32) wraps,
 *  counter + copies - 1 <= M: undefined when the copies mask no counter. */
function maskLimit(blocks: Block[], counter: VReg, copies: number): bigint | undefined {
  let limit: bigint | undefined;
  for (const b of blocks)
    for (const i of b.insns) {
      if (i.op !== "alu" || i.alu !== "AND" || i.width !== counter.width) continue;
      const [x, m] = isImm(i.b) ? [i.a, i.b.imm] : isImm(i.a) ? [i.b, i.a.imm] : [undefined, 0n];
      if (!x || isImm(x) || x.reg.id !== counter.id || m <= 0n || m >= 1n << 31n || (m & (m + 1n)) !== 0n) continue;
      const l = m - BigInt(copies - 1);
      if (l >= 0n && (limit === undefined || l < limit)) limit = l;
    }
  return limit;
}

/** A counted `for` loop whose copies need no condition between them: an unsigned counter declared in the
 *  initializer, stepped by `++`, not assigned in the body, and a condition `counter < X` where X is a
 *  local the loop does not assign (or a constant). */
function groupShape(cx: LowerContext, s: ForStatement): { counter: VReg; limit: import("../ir/ir").Operand } | undefined {
  const init = s.getInitializer();
  const cond = s.getCondition();
  const inc = s.getIncrementor();
  if (!init || !Node.isVariableDeclarationList(init) || init.getDeclarations().length !== 1 || !cond || !inc) return undefined;
  const d = init.getDeclarations()[0];
  const c = cx.resolve(d.getNameNode());
  if (c?.kind !== "local" || c.type.kind !== "int" || c.type.signed || c.type.bits < 32) return undefined;
  const isCounter = (e: Node) => Node.isIdentifier(e) && e.getSymbol()?.getDeclarations()[0] === d;
  if (!((Node.isPostfixUnaryExpression(inc) || Node.isPrefixUnaryExpression(inc)) && inc.getOperatorToken() === SyntaxKind.PlusPlusToken && isCounter(inc.getOperand()))) return undefined;
  if (!Node.isBinaryExpression(cond) || cond.getOperatorToken().getText() !== "<" || !isCounter(cond.getLeft())) return undefined;
  const x = cond.getRight();
  if (!Node.isIdentifier(x)) return undefined;
  const b = cx.resolve(x);
  const assigned = new Set(assignedLocals(cx, s).map((v) => v.reg.id));
  let limit: import("../ir/ir").Operand;
  if (b?.kind === "local" && b.type.kind === "int" && !b.type.signed && b.reg.width === c.reg.width && !assigned.has(b.reg.id)) limit = { reg: b.reg };
  else if (b?.kind === "const") limit = { imm: b.value };
  else return undefined;
  if (assigned.has(c.reg.id) && s.getStatement().getDescendants().some((n) => assignsCounter(n, isCounter))) return undefined;
  return { counter: c.reg, limit };
}

function assignsCounter(n: Node, isCounter: (e: Node) => boolean): boolean {
  if (Node.isBinaryExpression(n)) {
    const op = n.getOperatorToken().getText();
    return op.endsWith("=") && !["==", "===", "!=", "!==", "<=", ">="].includes(op) && isCounter(n.getLeft());
  }
  if (Node.isPostfixUnaryExpression(n) || (Node.isPrefixUnaryExpression(n) && [SyntaxKind.PlusPlusToken, SyntaxKind.MinusMinusToken].includes(n.getOperatorToken()))) return isCounter(n.getOperand());
  return false;
}

/** The node whose line names a loop: the loop statement (its first line is the header). */
function headerNode(loop: LoopNode): Node {
  return loop;
}

// ---- laundering ----

/** Mutable scalar locals declared before the loop that the loop (condition, incrementor, body) assigns. */
function assignedLocals(cx: LowerContext, loop: LoopNode): { reg: VReg; type: IntType | { kind: "bool" } }[] {
  const out = new Map<number, { reg: VReg; type: IntType | { kind: "bool" } }>();
  const target = (n: Node) => {
    while (Node.isParenthesizedExpression(n)) n = n.getExpression();
    if (!Node.isIdentifier(n)) return;
    const b = cx.resolve(n);
    if (b?.kind === "local" && b.mutable && (b.type.kind === "int" || b.type.kind === "bool")) out.set(b.reg.id, { reg: b.reg, type: b.type as IntType });
  };
  for (const n of loop.getDescendants()) {
    if (Node.isBinaryExpression(n)) {
      const op = n.getOperatorToken().getText();
      if (op.endsWith("=") && !["==", "===", "!=", "!==", "<=", ">="].includes(op)) target(n.getLeft());
    } else if (Node.isPostfixUnaryExpression(n)) target(n.getOperand());
    else if (Node.isPrefixUnaryExpression(n) && (n.getOperatorToken() === SyntaxKind.PlusPlusToken || n.getOperatorToken() === SyntaxKind.MinusMinusToken)) target(n.getOperand());
  }
  return [...out.values()];
}

/** v ^= zero for each variable, with a zero loaded from .bss that the verifier cannot know: their values
 *  do not change, but the verifier sees unknowns and so never pins a loop-carried value. Unsigned narrow
 *  values keep their range (the zero is loaded at their size). */
function launder(cx: LowerContext, vars: { reg: VReg; type: IntType | { kind: "bool" } }[]): void {
  if (!vars.length) return;
  cx.useRingGlobal(LOOP_ZERO_GLOBAL);
  const base = cx.b.addr(LOOP_ZERO_GLOBAL);
  const zeros = new Map<string, VReg>();
  for (const v of vars) {
    const t = v.type as IntType;
    const size = t.kind === "int" && !t.signed && t.bits < 32 ? (t.bits === 8 ? "B" : "H") : v.reg.width === 64 ? "DW" : "W";
    let z = zeros.get(size);
    if (!z) {
      z = cx.b.vreg(size === "DW" ? 64 : 32, "zero");
      cx.b.emit({ op: "load", dst: z, base, off: 0, size });
      zeros.set(size, z);
    }
    cx.b.emit({ op: "alu", alu: "XOR", width: v.reg.width, dst: v.reg, a: { reg: v.reg }, b: { reg: z }, opaque: true });
  }
}

// ---- which loops the verifier may follow ----

/** A `for` loop the verifier can follow: a counter declared in the initializer from a literal or
 *  constant, compared (possibly `&&`-ed with anything else) with a literal or constant, stepped by a
 *  constant in the incrementor and not assigned in the body. Returns its trip count. */
function followedFor(cx: LowerContext, s: ForStatement): { trips: bigint } | undefined {
  const init = s.getInitializer();
  if (!init || !Node.isVariableDeclarationList(init) || init.getDeclarations().length !== 1) return undefined;
  const d = init.getDeclarations()[0];
  const isCounter = (e: Node): boolean => Node.isIdentifier(e) && e.getSymbol()?.getDeclarations()[0] === d;
  const valueOf = (e: Node): bigint | undefined => constValue(cx, e);
  const from = d.getInitializer() ? valueOf(d.getInitializer()!) : undefined;
  if (from === undefined) return undefined;
  const inc = s.getIncrementor();
  let up: boolean;
  let step: bigint | undefined;
  if (inc && (Node.isPostfixUnaryExpression(inc) || Node.isPrefixUnaryExpression(inc)) && isCounter(inc.getOperand())) {
    up = inc.getOperatorToken() === SyntaxKind.PlusPlusToken;
    step = 1n;
  } else if (inc && Node.isBinaryExpression(inc) && isCounter(inc.getLeft()) && ["+=", "-="].includes(inc.getOperatorToken().getText())) {
    up = inc.getOperatorToken().getText() === "+=";
    step = valueOf(inc.getRight());
  } else return undefined;
  if (step === undefined || step <= 0n) return undefined;
  const cond = s.getCondition();
  if (!cond) return undefined;
  let trips: bigint | undefined;
  for (const c of conjuncts(cond)) {
    if (!Node.isBinaryExpression(c)) continue;
    let op = c.getOperatorToken().getText();
    let [l, r] = [c.getLeft(), c.getRight()];
    if (isCounter(r) && !isCounter(l)) {
      [l, r] = [r, l];
      op = ({ "<": ">", "<=": ">=", ">": "<", ">=": "<=" } as Record<string, string>)[op] ?? op;
    }
    if (!isCounter(l)) continue;
    const to = valueOf(r);
    if (to === undefined) continue;
    const ok = up ? op === "<" || op === "<=" : op === ">" || op === ">=";
    if (!ok) continue;
    const span = (up ? to - from : from - to) + (op.endsWith("=") ? 1n : 0n);
    const n = span <= 0n ? 0n : (span + step - 1n) / step;
    if (trips === undefined || n < trips) trips = n;
  }
  if (trips === undefined) return undefined;
  // The last value the counter takes must fit its type (a narrow counter that wraps never reaches its
  // bound: that loop converges, and runs until its budget if it really never ends).
  const bound = cx.resolve(d.getNameNode());
  const ty = bound?.kind === "local" ? bound.type : d.getTypeNode() ? scalarTypeFromName(d.getTypeNode()!.getText().trim()) : undefined;
  if (!ty || ty.kind !== "int") return undefined;
  const { bits, signed } = ty;
  const [min, max] = signed ? [-(1n << BigInt(bits - 1)), (1n << BigInt(bits - 1)) - 1n] : [0n, (1n << BigInt(bits)) - 1n];
  const last = up ? from + trips * step : from - trips * step;
  if (last < min || last > max || from < min || from > max) return undefined;
  // The body must not assign the counter.
  const assigned = s.getStatement().getDescendants().some((n) => {
    if (Node.isBinaryExpression(n) && n.getOperatorToken().getText().endsWith("=") && !["==", "===", "!=", "!==", "<=", ">="].includes(n.getOperatorToken().getText())) return isCounter(n.getLeft());
    if (Node.isPostfixUnaryExpression(n) || (Node.isPrefixUnaryExpression(n) && [SyntaxKind.PlusPlusToken, SyntaxKind.MinusMinusToken].includes(n.getOperatorToken())))
      return isCounter(n.getOperand());
    return false;
  });
  // Signed counters could wrap past the bound in ways the trip count above does not see: only the
  // plain counting shapes are followed; the rest converge.
  return assigned ? undefined : { trips };
}

function conjuncts(e: Node): Node[] {
  if (Node.isParenthesizedExpression(e)) return conjuncts(e.getExpression());
  if (Node.isBinaryExpression(e) && e.getOperatorToken().getText() === "&&") return [...conjuncts(e.getLeft()), ...conjuncts(e.getRight())];
  return [e];
}

/** A compile-time value of literals and constants (config values are known only to the verifier). */
function constValue(cx: LowerContext, e: Node): bigint | undefined {
  if (Node.isParenthesizedExpression(e)) return constValue(cx, e.getExpression());
  if (Node.isNumericLiteral(e) || Node.isBigIntLiteral(e)) {
    try {
      return BigInt(e.getText().replace(/[_n]/g, ""));
    } catch {
      return undefined;
    }
  }
  if (Node.isPrefixUnaryExpression(e) && e.getOperatorToken() === SyntaxKind.MinusToken) {
    const v = constValue(cx, e.getOperand());
    return v === undefined ? undefined : -v;
  }
  if (Node.isCallExpression(e) && e.getArguments().length === 1 && Node.isIdentifier(e.getExpression()) && /^[ui](8|16|32|64)$/.test(e.getExpression().getText()))
    return constValue(cx, e.getArguments()[0]);
  if (Node.isIdentifier(e)) {
    const b = cx.resolve(e);
    return b?.kind === "const" ? b.value : undefined;
  }
  return undefined;
}

// ---- the verifier's work, estimated on the source ----

/** Source nodes of a subtree, with loops and inlined calls counted as the verifier walks them. */
function work(cx: LowerContext, n: Node, seen: Set<Node> = new Set()): number {
  const memo = seen.size === 0 ? memoOf(cx).work : undefined;
  const known = memo?.get(n);
  if (known !== undefined) return known;
  const w = workOf(cx, n, seen);
  memo?.set(n, w);
  return w;
}

function workOf(cx: LowerContext, n: Node, seen: Set<Node>): number {
  if (Node.isForStatement(n) || Node.isWhileStatement(n) || Node.isDoStatement(n)) return loopWork(cx, n, seen);
  let w = 1;
  if (Node.isCallExpression(n)) {
    const callee = n.getExpression();
    const decl = Node.isIdentifier(callee) ? callee.getSymbol()?.getDeclarations()[0] : undefined;
    if (decl && Node.isFunctionDeclaration(decl) && decl.getBody() && !seen.has(decl)) {
      seen.add(decl);
      w += work(cx, decl.getBody()!, seen);
      seen.delete(decl);
    }
  }
  n.forEachChild((c) => {
    w += work(cx, c, seen);
  });
  return w;
}

function loopWork(cx: LowerContext, loop: LoopNode, seen: Set<Node>): number {
  const body = work(cx, loop.getStatement(), seen);
  const rest = loop.getChildren().filter((c) => c !== loop.getStatement()).reduce((n, c) => n + work(cx, c, seen), 0);
  const shape = Node.isForStatement(loop) && followed(cx, loop) ? followedFor(cx, loop) : undefined;
  if (shape) return Number(shape.trips) * (body + rest) + rest;
  return CONVERGE_PASSES * (body + rest);
}

/** What a followed `for` loop would cost the verifier. */
function followedCost(cx: LowerContext, s: ForStatement, trips: bigint): number {
  const per = work(cx, s.getStatement()) + (s.getCondition() ? work(cx, s.getCondition()!) : 0) + (s.getIncrementor() ? work(cx, s.getIncrementor()!) : 0);
  return Number(trips) * per;
}

/** The estimated verifier work of the outermost loops lowered so far, per function. */
const functionWork = new WeakMap<LowerContext, number>();

/** An outermost loop that takes the function's estimated verifier work past what the kernel allows: say so
 *  now, at the loop's line. */
function checkWork(cx: LowerContext, loop: LoopNode): void {
  if (cx.b.depth > 0) return;
  const w = loopWork(cx, loop, new Set());
  const total = (functionWork.get(cx) ?? 0) + w;
  functionWork.set(cx, total);
  if (total > FUNCTION_WORK_LIMIT)
    cx.fail(loop, 2041, `about ${total} instructions for the verifier to check${total > w ? " with the loops before it" : ""} (the kernel stops at 1,000,000)`, `give the loops a smaller loopBudget (now ${cx.loopOptions.budget}) so they converge, or split the function with @noinline helpers`);
}

// ---- loops that never end ----

/** A condition that is always true (a non-zero constant, or `x | c` with c non-zero) with no way out of the
 *  body: the loop would only stop when its budget runs out. */
function checkEnds(cx: LowerContext, loop: LoopNode, cond: Expression | undefined, body: Statement): void {
  const alwaysTrue = cond === undefined || knownNonZero(cx, cond);
  if (!alwaysTrue) return;
  const exits = body.getDescendants().some((n) => {
    if (Node.isReturnStatement(n)) return !isInsideFunction(n, loop);
    if (Node.isBreakStatement(n)) return breaksOut(n, loop);
    return false;
  });
  if (!exits) cx.fail(cond ?? loop, 2040, cond ? `\`${cond.getText()}\` is never false and the body has no break or return` : "the body has no break or return");
}

function isInsideFunction(n: Node, stop: Node): boolean {
  for (let p: Node | undefined = n.getParent(); p && p !== stop; p = p.getParent()) if (Node.isFunctionLikeDeclaration(p) || Node.isArrowFunction(p)) return true;
  return false;
}

/** Whether a `break` inside `loop`'s body leaves `loop`. */
function breaksOut(b: BreakStatement, loop: LoopNode): boolean {
  const label = b.getLabel()?.getText();
  for (let p: Node | undefined = b.getParent(); p; p = p.getParent()) {
    if (p === loop) return true;
    if (label === undefined && (Node.isSwitchStatement(p) || Node.isForStatement(p) || Node.isWhileStatement(p) || Node.isDoStatement(p))) return false;
    if (label !== undefined && Node.isLabeledStatement(p) && p.getLabel().getText() === label) return false;
  }
  return false;
}

function knownNonZero(cx: LowerContext, e: Node): boolean {
  if (Node.isParenthesizedExpression(e)) return knownNonZero(cx, e.getExpression());
  if (e.getKind() === SyntaxKind.TrueKeyword) return true;
  const v = constValue(cx, e);
  if (v !== undefined) return v !== 0n;
  if (Node.isBinaryExpression(e) && e.getOperatorToken().getText() === "|") return knownNonZero(cx, e.getLeft()) || knownNonZero(cx, e.getRight());
  if (Node.isBinaryExpression(e)) return alwaysTrueComparison(cx, e.getLeft(), e.getOperatorToken().getText(), e.getRight());
  return false;
}

/** The values a variable (or a cast to an integer type) can hold, by its type. */
function typeRange(cx: LowerContext, e: Node): [bigint, bigint] | undefined {
  if (Node.isParenthesizedExpression(e)) return typeRange(cx, e.getExpression());
  let ty: IntType | undefined;
  if (Node.isIdentifier(e)) {
    const b = cx.resolve(e);
    const t = b?.kind === "local" ? b.type : b?.kind === "global" ? b.global.type : undefined;
    if (t?.kind === "int") ty = t;
  } else if (Node.isCallExpression(e) && e.getArguments().length === 1 && Node.isIdentifier(e.getExpression())) {
    const t = scalarTypeFromName(e.getExpression().getText());
    if (t?.kind === "int") ty = t;
  }
  if (!ty) return undefined;
  const bits = BigInt(ty.bits);
  return ty.signed ? [-(1n << (bits - 1n)), (1n << (bits - 1n)) - 1n] : [0n, (1n << bits) - 1n];
}

/** A comparison of a variable with a constant that its type makes always true (`k >= 0` with k unsigned,
 *  `k < 256` with k a u8): the classic count-down and narrow-counter loops that never end. */
function alwaysTrueComparison(cx: LowerContext, l: Node, op: string, r: Node): boolean {
  const flip: Record<string, string> = { "<": ">", "<=": ">=", ">": "<", ">=": "<=", "!==": "!==", "!=": "!=" };
  if (!(op in flip)) return false;
  let range = typeRange(cx, l);
  let c = constValue(cx, r);
  if (!range || c === undefined) {
    range = typeRange(cx, r);
    c = constValue(cx, l);
    op = flip[op];
  }
  if (!range || c === undefined) return false;
  const [min, max] = range;
  if (op === "<") return max < c;
  if (op === "<=") return max <= c;
  if (op === ">") return min > c;
  if (op === ">=") return min >= c;
  return c < min || c > max;
}
