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
