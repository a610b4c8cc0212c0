// The front end's input limits, checked before anything recursive touches the program: TypeScript's parser
// and checker, ts-morph and our own lowering all recurse on the syntax tree, so a deeply nested input
// would end in a stack overflow instead of a diagnostic. The bracket scan runs on the text before parsing;
// the tree walk (iterative) runs on the parsed file before type checking. Also here: the rules for names
// that reach the object (BTF, ELF symbols and sections), which follow C identifiers.

import { ts } from "ts-morph";
import { diag, type Diagnostic } from "../diagnostics/diagnostics";

/** Deepest nesting of brackets, statements and expressions accepted (real programs stay far below). */
export const MAX_NESTING = 200;
/** Longest chain of binary operators in one expression (`a + b + ... `). */
export const MAX_CHAIN = 1500;
/** Longest name that reaches the object (the kernel's KSYM_NAME_LEN is 128 on older kernels, with the NUL). */
export const MAX_NAME = 127;

const lineAt = (text: string, pos: number) => {
  const start = text.lastIndexOf("\n", pos - 1) + 1;
  const end = text.indexOf("\n", pos);
  const before = text.slice(0, start);
  let line = 1;
  for (let i = before.indexOf("\n"); i >= 0; i = before.indexOf("\n", i + 1)) line++;
  return { line, col: pos - start + 1, lineText: text.slice(start, end < 0 ? text.length : end).replace(/\r$/, "") };
};

/** A diagnostic at a character offset of the source text. */
export function diagAt(file: string, text: string, pos: number, length: number, code: Parameters<typeof diag>[0], detail?: string, hint?: string): Diagnostic {
  const { line, col, lineText } = lineAt(text, pos);
  return diag(code, { file, line, col, length: Math.max(1, Math.min(length, lineText.length - col + 1)), lineText }, detail, hint);
}

/** Bracket nesting, found without parsing (strings, template literals and comments skipped roughly). */
export function checkBrackets(file: string, text: string): Diagnostic | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "/" && text[i + 1] === "/") {
      const e = text.indexOf("\n", i);
      i = e < 0 ? text.length : e;
    } else if (c === "/" && text[i + 1] === "*") {
      const e = text.indexOf("*/", i + 2);
      i = e < 0 ? text.length : e + 1;
    } else if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      while (j < text.length && text[j] !== c && (c === "`" || text[j] !== "\n")) j += text[j] === "\\" ? 2 : 1;
      i = j;
    } else if (c === "(" || c === "[" || c === "{") {
      if (++depth > MAX_NESTING) return diagAt(file, text, i, 1, 3004, `more than ${MAX_NESTING} levels of brackets`);
    } else if (c === ")" || c === "]" || c === "}") depth = Math.max(0, depth - 1);
  }
  return undefined;
}

/** Nesting depth and operator chains of the parsed tree, walked without recursion. Also refuses the
 *  identifier `__proto__`, on which TypeScript's own checker crashes. */
export function checkTree(file: string, text: string, sf: ts.SourceFile): Diagnostic | undefined {
  const stack: { node: ts.Node; depth: number; chain: number }[] = [{ node: sf, depth: 0, chain: 0 }];
  while (stack.length) {
    const { node, depth, chain } = stack.pop()!;
    if (depth > MAX_NESTING) return diagAt(file, text, node.getStart(sf), node.getEnd() - node.getStart(sf), 3004, `more than ${MAX_NESTING} levels`, "split the code into smaller functions or statements");
    if (chain > MAX_CHAIN) return diagAt(file, text, node.getStart(sf), 1, 3005, `more than ${MAX_CHAIN} operators in one expression`);
    if (ts.isIdentifier(node) && node.text === "__proto__") return diagAt(file, text, node.getStart(sf), 9, 2014, "__proto__ is reserved", "choose another name");
    const isBin = ts.isBinaryExpression(node);
    const children: typeof stack = [];
    ts.forEachChild(node, (child) => {
      // The left operand of a binary chain does not nest (`a + b + c` is one level per operator, counted
      // as a chain): TypeScript checks such chains without recursion.
      const left = isBin && child === (node as ts.BinaryExpression).left && ts.isBinaryExpression(child);
      children.push({ node: child, depth: left ? depth : depth + 1, chain: left ? chain + 1 : 0 });
    });
    // Visited in source order, so the first problem in the file is the one reported.
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
  }
  return undefined;
}

/** Whether a name may reach BTF and the ELF symbol table as is: a C identifier of ASCII letters, digits and
 *  `_`, not starting with a digit, at most MAX_NAME characters. */
export function objectNameProblem(name: string): string | undefined {
  if (name.length > MAX_NAME) return `it is ${name.length} characters long (at most ${MAX_NAME})`;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    const bad = [...name].find((ch, i) => !(/[A-Za-z_]/.test(ch) || (i > 0 && /[0-9]/.test(ch))));
    return bad !== undefined ? `'${bad}' (U+${bad.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}) is not an ASCII letter, digit or _` : "it is not a C identifier";
  }
  return undefined;
}

const OPERAND_END = new Set<ts.SyntaxKind>([
  ts.SyntaxKind.Identifier, ts.SyntaxKind.PrivateIdentifier, ts.SyntaxKind.NumericLiteral, ts.SyntaxKind.BigIntLiteral, ts.SyntaxKind.StringLiteral,
  ts.SyntaxKind.NoSubstitutionTemplateLiteral, ts.SyntaxKind.TemplateTail, ts.SyntaxKind.RegularExpressionLiteral, ts.SyntaxKind.CloseParenToken,
  ts.SyntaxKind.CloseBracketToken, ts.SyntaxKind.CloseBraceToken, ts.SyntaxKind.ThisKeyword, ts.SyntaxKind.SuperKeyword, ts.SyntaxKind.TrueKeyword,
  ts.SyntaxKind.FalseKeyword, ts.SyntaxKind.NullKeyword, ts.SyntaxKind.PlusPlusToken, ts.SyntaxKind.MinusMinusToken,
]);
const PREFIX = new Set<ts.SyntaxKind>([
  ts.SyntaxKind.ExclamationToken, ts.SyntaxKind.TildeToken, ts.SyntaxKind.MinusToken, ts.SyntaxKind.PlusToken, ts.SyntaxKind.PlusPlusToken,
  ts.SyntaxKind.MinusMinusToken, ts.SyntaxKind.TypeOfKeyword, ts.SyntaxKind.VoidKeyword, ts.SyntaxKind.DeleteKeyword, ts.SyntaxKind.AwaitKeyword,
  ts.SyntaxKind.NewKeyword, ts.SyntaxKind.YieldKeyword, ts.SyntaxKind.LessThanToken,
]);
const HEADS = new Set<ts.SyntaxKind>([ts.SyntaxKind.IfKeyword, ts.SyntaxKind.WhileKeyword, ts.SyntaxKind.ForKeyword, ts.SyntaxKind.WithKeyword]);
const isWord = (k: ts.SyntaxKind) => k === ts.SyntaxKind.Identifier || (k >= ts.SyntaxKind.FirstKeyword && k <= ts.SyntaxKind.LastKeyword);

/** Where nesting that needs no brackets (statements under `if`/`else`/`while`/`for`/`do` without braces,
 *  labels (`a: b: c: x = 1;`), `else if` chains, conditionals, arrows, assignments and `**` to the right, runs of prefix operators) first
 *  passes MAX_NESTING levels, estimated from the tokens alone: for input too deep for TypeScript's parser,
 *  which overflows its stack before there is a tree to point into. The estimate never counts more levels
 *  than the tree has (it only counts what nests), so it names a place where the limit is really passed. */
export function findUnbracketedNesting(file: string, text: string): Diagnostic | undefined {
  interface Frame { base: number; stmt: number; expr: number; head: boolean; body: boolean; doBody: boolean; template: boolean; awaiting: boolean; ended: boolean; afterDo: boolean }
  const frame = (base: number): Frame => ({ base, stmt: 0, expr: 0, head: false, body: false, doBody: false, template: false, awaiting: false, ended: false, afterDo: false });
  const stack: Frame[] = [frame(0)];
  const sc = ts.createScanner(ts.ScriptTarget.ES2022, true, ts.LanguageVariant.Standard, text);
  let prev = ts.SyntaxKind.Unknown;
  let unary = 0, pow = 0;
  let headPending = false, doPending = false;
  // Whether the token starts a statement, and whether it is an identifier that did (a label if `:` follows).
  let stmtStart = true, labelCandidate = false;
  for (let k = sc.scan(); k !== ts.SyntaxKind.EndOfFileToken; prev = k, k = sc.scan()) {
    let f = stack[stack.length - 1];
    if (k === ts.SyntaxKind.SlashToken || k === ts.SyntaxKind.SlashEqualsToken) {
      if (!OPERAND_END.has(prev)) k = sc.reScanSlashToken();
    } else if (k === ts.SyntaxKind.CloseBraceToken && f.template) {
      k = sc.reScanTemplateToken(false);
    }
    // A statement that ended goes on only with `else`.
    if (f.ended && k !== ts.SyntaxKind.ElseKeyword) f.stmt = f.expr = 0;
    f.ended = false;
    // A new line starting a word after a complete operand is a new statement (automatic semicolons).
    if (sc.hasPrecedingLineBreak() && OPERAND_END.has(prev) && isWord(k) && !f.awaiting) f.stmt = f.expr = 0;
    if (f.awaiting && k !== ts.SyntaxKind.OpenBraceToken) f.awaiting = false;
    unary = PREFIX.has(k) && !OPERAND_END.has(prev) ? unary + 1 : 0;
    if (k === ts.SyntaxKind.AsteriskAsteriskToken) pow++;
    else if (!OPERAND_END.has(k) && !isWord(k)) pow = 0;
    let grows = unary > 0 || k === ts.SyntaxKind.AsteriskAsteriskToken;
    const isLabel: boolean = k === ts.SyntaxKind.ColonToken && labelCandidate;
    labelCandidate = stmtStart && k === ts.SyntaxKind.Identifier;
    stmtStart = isLabel || k === ts.SyntaxKind.SemicolonToken || k === ts.SyntaxKind.OpenBraceToken || k === ts.SyntaxKind.CloseBraceToken || k === ts.SyntaxKind.ElseKeyword || k === ts.SyntaxKind.DoKeyword;
    if (isLabel) {
      // A labeled statement holds the statement after its label: one level each.
      f.stmt++;
      grows = true;
    } else if (HEADS.has(k) || k === ts.SyntaxKind.DoKeyword) {
      if (k === ts.SyntaxKind.WhileKeyword && f.afterDo) f.afterDo = false;
      else {
        f.stmt++;
        grows = true;
        if (k === ts.SyntaxKind.DoKeyword) (f.awaiting = true), (doPending = true);
        else headPending = true;
      }
    } else if (k === ts.SyntaxKind.ElseKeyword) f.awaiting = true;
    else if (k === ts.SyntaxKind.QuestionToken || k === ts.SyntaxKind.EqualsGreaterThanToken || (k >= ts.SyntaxKind.FirstAssignment && k <= ts.SyntaxKind.LastAssignment)) {
      f.expr++;
      grows = true;
    } else if (k === ts.SyntaxKind.SemicolonToken) {
      f.expr = 0;
      if (!f.head) f.ended = true;
    } else if (k === ts.SyntaxKind.CommaToken) f.expr = 0;
    const depth = f.base + f.stmt + f.expr + unary + pow;
    if (grows && depth > MAX_NESTING) return diagAt(file, text, sc.getTokenStart(), sc.getTokenEnd() - sc.getTokenStart(), 3004, `more than ${MAX_NESTING} levels`, "split the code into smaller functions or statements");
    if (k === ts.SyntaxKind.OpenParenToken || k === ts.SyntaxKind.OpenBracketToken || k === ts.SyntaxKind.OpenBraceToken || k === ts.SyntaxKind.TemplateHead || k === ts.SyntaxKind.TemplateMiddle) {
      if (k === ts.SyntaxKind.TemplateMiddle) stack.pop(), (f = stack[stack.length - 1]);
      const n = frame(f.base + f.stmt + f.expr + unary + pow + 1);
      n.template = k === ts.SyntaxKind.TemplateHead || k === ts.SyntaxKind.TemplateMiddle;
      if (k === ts.SyntaxKind.OpenParenToken && headPending) (n.head = true), (headPending = false);
      if (k === ts.SyntaxKind.OpenBraceToken && f.awaiting) {
        n.body = true;
        n.doBody = doPending;
        f.awaiting = doPending = false;
      }
      stack.push(n);
      unary = pow = 0;
    } else if ((k === ts.SyntaxKind.CloseParenToken || k === ts.SyntaxKind.CloseBracketToken || k === ts.SyntaxKind.CloseBraceToken || k === ts.SyntaxKind.TemplateTail) && stack.length > 1) {
      const done = stack.pop()!;
      const p = stack[stack.length - 1];
      if (done.head) (p.awaiting = true), (stmtStart = true);
      if (done.body) p.ended = !done.doBody;
      if (done.doBody) p.afterDo = true;
    }
    if (!HEADS.has(k) && k !== ts.SyntaxKind.OpenParenToken && k !== ts.SyntaxKind.AwaitKeyword) headPending = false;
    if (k !== ts.SyntaxKind.DoKeyword && k !== ts.SyntaxKind.OpenBraceToken) doPending = false;
  }
  return undefined;
}

/** The shortest prefix of `text` on which `parse` overflows its stack, found by bisection: where input too
 *  deep for the parser became too deep (for nesting the token estimate above does not see). */
export function findParserOverflow(text: string, parse: (t: string) => void): number | undefined {
  const overflows = (n: number) => {
    try {
      parse(text.slice(0, n));
      return false;
    } catch (e) {
      if (e instanceof RangeError) return true;
      throw e;
    }
  };
  if (!overflows(text.length)) return undefined;
  let lo = 0, hi = text.length;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (overflows(mid)) hi = mid;
    else lo = mid;
  }
  return hi - 1;
}

/** The deepest node of a parsed file (walked without recursion): where to point when a recursive stage
 *  ran out of stack on a tree within the limits above. */
export function deepestNode(sf: ts.SourceFile): ts.Node {
  const stack: { node: ts.Node; depth: number }[] = [{ node: sf, depth: 0 }];
  let best: { node: ts.Node; depth: number } = stack[0];
  while (stack.length) {
    const e = stack.pop()!;
    if (e.depth > best.depth) best = e;
    ts.forEachChild(e.node, (c) => {
      stack.push({ node: c, depth: e.depth + 1 });
    });
  }
  return best.node;
}
