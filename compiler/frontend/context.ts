// The lowering context shared by the front end's expression and statement lowering: name bindings (globals,
// constants, locals of the current inlined frame), loop targets for break/continue, the IR builder, and
// diagnostics with source ranges taken from ts-morph nodes.

import { Node, SourceFile, ts, type Expression, type Statement } from "ts-morph";
import type { SourcePos } from "../bpf/insn";
import { diag, type Diagnostic, type DiagnosticCode, type SourceRange } from "../diagnostics/diagnostics";
import { IrBuilder } from "../ir/builder";
import type { Block, Operand, VReg } from "../ir/ir";
import type { RingGlobal } from "./ring";
import type { GlobalVar, StructLayout } from "../ir/module";
import type { BoolType, DslType, IntType } from "./types";

/** A value during lowering: its type and where it is. `literal` marks an untyped integer constant. */
export interface Value {
  type: DslType;
  op: Operand;
  literal?: "number" | "bigint";
}

export type { GlobalVar } from "../ir/module";

export type Binding =
  | { kind: "local"; type: DslType; reg: VReg; mutable: boolean }
  | { kind: "global"; global: GlobalVar }
  | { kind: "const"; type: IntType | BoolType | null; value: bigint; literal?: "number" | "bigint" }
  | { kind: "func"; decl: Node }
  | { kind: "map"; map: import("./maps").MapDecl }
  | { kind: "import"; name: string };

/** The recursive entry points of lowering. Parts of the front end that lower sub-expressions or bodies
 *  (calls, the ring API, inlined helpers) reach them through the context, so no file of the front end
 *  imports another that imports it back; program.ts, at the top, supplies them. */
export interface Lowering {
  expr(cx: LowerContext, e: Expression): Value;
  cond(cx: LowerContext, e: Expression, t: Block, f: Block): void;
  body(cx: LowerContext, body: Node): void;
  statements(cx: LowerContext, stmts: Statement[]): void;
}

/** Thrown to abandon the current statement after recording a diagnostic. */
export class LowerAbort extends Error {}

/** One inlined function body (the program itself is the outermost frame). */
export interface Frame {
  locals: Map<object, Binding>;
  /** For inlined helpers: where `return` goes and which register receives the value. */
  ret?: { block: Block; reg?: VReg; type: DslType; fnName: string };
  /** For a function compiled as a BPF subprogram: its return type (`return` becomes `exit`). */
  subprog?: { type: DslType; fnName: string };
  fnDecl?: Node;
}

export class LowerContext {
  readonly b: IrBuilder;
  readonly diagnostics: Diagnostic[];
  readonly frames: Frame[] = [];
  /** Targets of break/continue, innermost last: a switch has no `cont`; `iterators` is how many of
   *  `iterators` were live when the statement began (a jump to it destroys the ones after). */
  readonly loops: { brk: Block; cont: Block | null; label?: string; iterators: number }[] = [];
  /** How loops are lowered (see loops.ts). */
  loopOptions: import("./loops").LoopOptions = { form: "maygoto", budget: 2048, unroll: 8 };
  /** Virtual registers for the kernel's io_ring_ctx and the iou_loop_params pointers. */
  ringCtx!: VReg;
  lp!: VReg;
  /** Told about each ring.mem<T>() layout; returns an error text when it conflicts with another. */
  onMemLayout: (l: StructLayout) => string | undefined = () => undefined;
  /** The layout ring.mem<T>() mapped in this function (userAddr paths start there). */
  memRoot?: StructLayout;
  /** Asks for a helper to be compiled as a BPF subprogram; returns whether it may trap. */
  requestSubprog: (decl: Node) => { mayTrap: boolean } = () => ({ mayTrap: false });
  /** Places a NUL-terminated string in .rodata; returns its symbol. */
  addString: (text: string) => string = () => {
    throw new Error("internal: no string table");
  };
  /** Stack slots of the open-coded iterators of the loops being lowered (innermost last): every way out
   *  of the function must destroy them. */
  readonly iterators: number[] = [];
  /** Set when this function contains a run-time check that can stop the program. */
  mayTrap = false;

  constructor(
    readonly sf: SourceFile,
    readonly fileName: string,
    readonly globals: Map<object, Binding>,
    readonly useRingGlobal: (g: RingGlobal) => GlobalVar,
    programName: string,
    diagnostics: Diagnostic[],
    readonly lower: Lowering,
  ) {
    this.b = new IrBuilder(programName);
    this.diagnostics = diagnostics;
  }

  get frame(): Frame {
    return this.frames[this.frames.length - 1];
  }

  /** Record a diagnostic at a node and abandon the current statement. */
  fail(node: Node, code: DiagnosticCode, detail?: string, hint?: string): never {
    this.diagnostics.push(diag(code, rangeOf(this.sf, this.fileName, node), detail, hint));
    throw new LowerAbort();
  }

  /** Stamp following instructions with this node's source line. */
  at(node: Node): void {
    this.b.pos = posOf(this.sf, this.fileName, node);
  }

  /** Find what an identifier refers to. */
  resolve(id: Node): Binding | undefined {
    const sym = id.getSymbol();
    const decl = sym?.getDeclarations()[0];
    if (!decl) return undefined;
    const key = decl.compilerNode;
    return this.frame?.locals.get(key) ?? this.globals.get(key);
  }
}

const lineCache = new WeakMap<SourceFile, string[]>();
function lines(sf: SourceFile): string[] {
  let l = lineCache.get(sf);
  if (!l) lineCache.set(sf, (l = sf.getFullText().split(/\r?\n/)));
  return l;
}

/** 1-based line and column of a text offset, from TypeScript's line map (a binary search: ts-morph's
 *  getLineAndColumnAtPos counts the lines from the start of the file on every call, which made lowering
 *  quadratic in the file's length). */
export function lineAndColumn(sf: SourceFile, pos: number): { line: number; column: number } {
  const lc = ts.getLineAndCharacterOfPosition(sf.compilerNode, pos);
  return { line: lc.line + 1, column: lc.character + 1 };
}

/** The source range of a node (first line only) for diagnostics. */
export function rangeOf(sf: SourceFile, file: string, node: Node): SourceRange {
  const start = node.getStart();
  const { line, column } = lineAndColumn(sf, start);
  const lineText = lines(sf)[line - 1] ?? "";
  const len = Math.max(1, Math.min(node.getEnd() - start, lineText.length - (column - 1)));
  return { file, line, col: column, length: len, lineText };
}

/** The source position of a node for line_info. */
export function posOf(sf: SourceFile, file: string, node: Node): SourcePos {
  const start = node.getStart();
  const { line, column } = lineAndColumn(sf, start);
  const text = (lines(sf)[line - 1] ?? "").trimEnd();
  return { file, line, col: column, text };
}
