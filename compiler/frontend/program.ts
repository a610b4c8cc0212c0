// Front end entry: parse and type-check a DSL file with ts-morph (in memory, against the runtime's
// declarations and a minimal lib so checking stays fast), read its top level (imports, constants, config
// values, globals, helper functions, loopStep programs) and lower each program to IR.

import * as fs from "fs";
import * as path from "path";
import { Node, Project, ts, type FunctionDeclaration, type SourceFile, type VariableDeclaration } from "ts-morph";
import { packageRoot } from "../paths";
import { diag, type Diagnostic, type SourceRange } from "../diagnostics/diagnostics";
import type { IrFunction } from "../ir/ir";
import { layoutData, type IrModule, type StringConst, type Subprogram } from "../ir/module";
import { LowerAbort, LowerContext, lineAndColumn, rangeOf, type Binding, type GlobalVar, type Lowering } from "./context";
import { lowerCond, lowerExpr } from "./expressions";
import { KFUNC_GET_REGION, KFUNC_ITER_DESTROY, KFUNC_ITER_NEW, KFUNC_ITER_NEXT, KFUNC_SUBMIT, LOOP_ZERO_GLOBAL, MEM_UADDR_GLOBAL, RING_GLOBAL_DEFAULTS, TRAP_GLOBAL, type RingGlobal } from "./ring";
import type { StructLayout } from "./layout";
import { checkBrackets, checkTree, deepestNode, diagAt, findParserOverflow, findUnbracketedNesting, objectNameProblem } from "./limits";
import type { LoopOptions } from "./loops";
import { declaredType, signature } from "./annotations";
import { lowerBody, lowerStatements } from "./statements";
import { checkMapReferences, declareMap, mapDef, MAP_CONSTRUCTORS, SLEEPABLE_FORBIDDEN, type MapDecl } from "./maps";
import { convert } from "./values";
import { T, valueType, view, widthOf, type BoolType, type IntType } from "./types";

/** What the front end hands on: the file as an IR module (programs, subprograms, globals and strings laid
 *  out in their sections, the MEM layout), and its diagnostics. */
export interface FrontendResult extends IrModule {
  diagnostics: Diagnostic[];
  /** Where each program and subprogram is declared: the back end's limit diagnostics point there. */
  declarations?: Map<string, SourceRange>;
}

/** The recursive entry points of lowering, for the parts of the front end that reach them through the context. */
const LOWERING: Lowering = { expr: lowerExpr, cond: lowerCond, body: lowerBody, statements: lowerStatements };

/** Just enough global types for the checker to run without the standard library. */
const MINI_LIB = `
interface Array<T> { length: number; [n: number]: T; }
interface Boolean {} interface Function {} interface CallableFunction {} interface NewableFunction {}
interface IArguments {} interface Number {} interface Object {} interface RegExp {} interface String {}
interface BigInt {} interface Symbol {} interface TemplateStringsArray {} interface Promise<T> {}
`;

let runtimeDecls: string | undefined;
function runtimeDeclarations(): string {
  if (runtimeDecls === undefined) {
    runtimeDecls = fs.readFileSync(path.join(packageRoot(), "runtime", "index.d.ts"), "utf8");
  }
  return runtimeDecls;
}

const LIB_PATH = "/lib.uringbpf.d.ts";
const RUNTIME_PATH = "/node_modules/uringbpf/index.d.ts";
const PACKAGE_PATH = "/node_modules/uringbpf/package.json";

/** One in-memory project for every compile of the process: the minimal lib and the runtime's declarations
 *  are parsed and bound once (TypeScript reuses unchanged files from one program to the next), and each
 *  compile replaces the previous user file. A fresh project per compile cost more than half of a small
 *  program's compile time (the fuzz harness compiles thousands). */
let shared: Project | undefined;
/** Past this many characters, the previous user file is dropped with its whole project rather than removed:
 *  ts-morph's removal walks every node it wrapped (with their comments), which after a 100,000-character
 *  file costs seconds, while a fresh project costs a few tens of milliseconds. */
const REMOVE_LIMIT = 20_000;
let previousLength = 0;
function sharedProject(nextLength: number): Project {
  if (shared && previousLength > REMOVE_LIMIT) shared = undefined;
  previousLength = nextLength;
  if (shared) {
    // The previous compile's file(s), including any left half-made by a parser that overflowed its stack.
    for (const f of shared.getSourceFiles()) {
      const p = f.getFilePath();
      if (p !== LIB_PATH && p !== RUNTIME_PATH) shared.removeSourceFile(f);
    }
    return shared;
  }
  shared = new Project({
    useInMemoryFileSystem: true,
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      strict: true,
      noLib: true,
      types: [],
      skipLibCheck: true,
      noImplicitReturns: false,
    },
  });
  shared.createSourceFile(LIB_PATH, MINI_LIB);
  shared.createSourceFile(RUNTIME_PATH, runtimeDeclarations());
  shared.getFileSystem().writeFileSync(PACKAGE_PATH, '{"name":"uringbpf","types":"index.d.ts"}');
  return shared;
}

/** Whether an exception is V8's stack overflow. */
export function isStackOverflow(e: unknown): boolean {
  return e instanceof RangeError && /call stack/.test(e.message);
}

/** UBPF3004 for a file TypeScript's parser overflowed its stack on: at the token where the nesting passes
 *  the limit, or else where the shortest overflowing prefix of the file ends. */
function parserOverflow(fileName: string, text: string): Diagnostic {
  const hint = "split the code into smaller functions or statements";
  const found = findUnbracketedNesting(fileName, text);
  if (found) return found;
  const pos = findParserOverflow(text, (t) => ts.createSourceFile("/src/overflow.ts", t, ts.ScriptTarget.ES2022, true));
  return pos !== undefined ? diagAt(fileName, text, pos, 1, 3004, "too deep for the TypeScript parser", hint) : diag(3004, undefined, "too deep for the TypeScript parser", hint);
}

/** UBPF3004 for a file a recursive stage (TypeScript's checker, the lowering) overflowed its stack on,
 *  within the nesting limits: at the file's deepest node. */
export function stackOverflowAt(fileName: string, text: string, sf: ts.SourceFile): Diagnostic {
  const n = deepestNode(sf);
  const start = n.getStart(sf);
  return diagAt(fileName, text, start, Math.max(1, n.getEnd() - start), 3004, "nested too deeply for the compiler's stack", "split the code into smaller functions or statements");
}

/** Parse and type-check `text` as the DSL file `fileName`. The returned file is valid until the next call. */
export function parseProgram(fileName: string, text: string, typeCheck = true): { sf: SourceFile; diagnostics: Diagnostic[] } {
  const project = sharedProject(text.length);
  const virtualPath = "/src/" + path.basename(fileName);
  // Nesting deep enough to overflow the stack of TypeScript's parser or checker (or ours) is refused first.
  const deep = checkBrackets(fileName, text);
  if (deep) return { sf: project.createSourceFile(virtualPath, "", { overwrite: true }), diagnostics: [deep] };
  let sf: SourceFile;
  try {
    sf = project.createSourceFile(virtualPath, text, { overwrite: true });
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    return { sf: project.createSourceFile(virtualPath, "", { overwrite: true }), diagnostics: [parserOverflow(fileName, text)] };
  }
  const tooDeep = checkTree(fileName, text, sf.compilerNode);
  if (tooDeep) return { sf, diagnostics: [tooDeep] };
  const diagnostics: Diagnostic[] = [];
  let found: ts.Diagnostic[];
  try {
    // Without type checking, the syntax errors are still reported: later stages rely on a well-formed tree.
    found = typeCheck ? [...sf.getPreEmitDiagnostics()].map((d) => d.compilerObject) : [...project.getProgram().compilerObject.getSyntacticDiagnostics(sf.compilerNode)];
  } catch (e) {
    if (isStackOverflow(e)) return { sf, diagnostics: [stackOverflowAt(fileName, text, sf.compilerNode)] };
    return { sf, diagnostics: [diag(1001, undefined, e instanceof Error ? e.message : String(e))] };
  }
  const textLines = found.length ? sf.getFullText().split(/\r?\n/) : [];
  for (const d of found) {
    if (d.file?.fileName !== sf.getFilePath()) continue;
    const start = d.start ?? 0;
    const { line, column } = lineAndColumn(sf, start);
    const lineText = textLines[line - 1] ?? "";
    const message = ts.flattenDiagnosticMessageText(d.messageText, "\n  ");
    diagnostics.push(diag(1000, { file: fileName, line, col: column, length: Math.max(1, d.length ?? 1), lineText }, `TS${d.code}: ${message}`));
  }
  return { sf, diagnostics };
}

/** Lower a parsed DSL file to IR. */
export function lowerProgram(fileName: string, sf: SourceFile, loopOptions?: LoopOptions): FrontendResult {
  const diagnostics: Diagnostic[] = [];
  const globals = new Map<object, Binding>();
  const globalVars: GlobalVar[] = [];
  const ringGlobals = new Map<RingGlobal, GlobalVar>();
  const useRingGlobal = (g: RingGlobal): GlobalVar => {
    let v = ringGlobals.get(g);
    if (!v) {
      const trap = g === TRAP_GLOBAL || g === LOOP_ZERO_GLOBAL;
      v = { name: g, section: trap ? ".bss" : ".rodata", type: g === MEM_UADDR_GLOBAL || g === LOOP_ZERO_GLOBAL ? T.u64 : T.u32, init: BigInt(RING_GLOBAL_DEFAULTS[g]), exported: true, config: !trap, offset: 0 };
      ringGlobals.set(g, v);
    }
    return v;
  };
  const fail = (node: Node, code: Parameters<typeof diag>[0], detail?: string, hint?: string): never => {
    diagnostics.push(diag(code, rangeOf(sf, fileName, node), detail, hint));
    throw new LowerAbort();
  };
  // Every name that reaches the object (BTF and ELF symbols): a C identifier, and used once. The hidden
  // ring globals, the kfuncs and LICENSE are taken; each program NAME also defines NAME_ops.
  const objectNames = new Map<string, Node | string>([[TRAP_GLOBAL, "uringbpf"], ["LICENSE", "uringbpf"]]);
  for (const k of [KFUNC_SUBMIT, KFUNC_GET_REGION, KFUNC_ITER_NEW, KFUNC_ITER_NEXT, KFUNC_ITER_DESTROY]) objectNames.set(k, "the kernel");
  const claimName = (name: string, node: Node, what: string) => {
    const bad = objectNameProblem(name);
    if (bad) fail(node, 2028, `${what} '${name.length > 40 ? name.slice(0, 40) + "..." : name}': ${bad}`);
    const prev = objectNames.get(name);
    if (prev !== undefined || name.startsWith("uringbpf_")) {
      const where = typeof prev === "object" ? `line ${lineAndColumn(sf, prev.getStart()).line}` : prev === undefined ? "uringbpf (reserved prefix)" : prev;
      fail(node, 2029, `'${name}' is also defined by ${where}`);
    }
    objectNames.set(name, node);
  };
  const globalNodes: Node[] = [];
  // A scratch context for evaluating top-level constant expressions (code it emits is thrown away).
  const constCx = () => {
    const cx = new LowerContext(sf, fileName, globals, useRingGlobal, "<const>", diagnostics, LOWERING);
    cx.frames.push({ locals: new Map() });
    return cx;
  };
  const constValue = (node: Node, init: Node, t: IntType | BoolType | undefined) => {
    const cx = constCx();
    const v = lowerExpr(cx, init as never);
    if (!("imm" in v.op) || (v.type.kind !== "int" && v.type.kind !== "bool")) return fail(init, 2022);
    const type = t ?? (v.literal ? undefined : (v.type as IntType | BoolType));
    const value = type ? (convert(cx, init, v, type).op as { imm: bigint }).imm : v.op.imm;
    return { type, value, literal: v.literal };
  };
  const programs: { name: string; decl: VariableDeclaration; fn: Node }[] = [];
  const maps: MapDecl[] = [];
  const calleeImport = (init: Node | undefined): string | undefined => {
    if (!init || !Node.isCallExpression(init)) return undefined;
    const c = init.getExpression();
    if (!Node.isIdentifier(c)) return undefined;
    const d = c.getSymbol()?.getDeclarations()[0];
    const b = d && globals.get(d.compilerNode);
    return b?.kind === "import" ? b.name : undefined;
  };

  for (const st of sf.getStatements()) {
    try {
      if (Node.isImportDeclaration(st)) {
        if (!ts.isStringLiteral(st.compilerNode.moduleSpecifier)) fail(st, 2010, "the module must be named by a string literal");
        if (st.getModuleSpecifierValue() !== "uringbpf") fail(st.getModuleSpecifier(), 2010, st.getModuleSpecifierValue());
        if (st.getDefaultImport() || st.getNamespaceImport()) fail(st, 2010, "default or namespace import");
        for (const spec of st.getNamedImports()) globals.set(spec.compilerNode, { kind: "import", name: spec.getName() });
        continue;
      }
      if (Node.isTypeAliasDeclaration(st) || Node.isInterfaceDeclaration(st)) continue;
      if (Node.isFunctionDeclaration(st)) {
        if (!st.getBody()) fail(st, 2011, "function without a body");
        if (st.isAsync() || st.isGenerator()) fail(st, 2009);
        if (st.getTypeParameters().length) fail(st, 2003, "generic functions");
        globals.set(st.compilerNode, { kind: "func", decl: st });
        continue;
      }
      if (Node.isVariableStatement(st)) {
        const kind = st.getDeclarationKind() as string;
        const exported = st.isExported();
        for (const d of st.getDeclarations()) {
          const nameNode = d.getNameNode();
          if (!Node.isIdentifier(nameNode)) fail(nameNode, 2006, "destructuring");
          const init = d.getInitializer();
          const typeNode = d.getTypeNode();
          const annotated = typeNode ? (declaredType(constCx(), typeNode, typeNode.getText()) as IntType | BoolType) : undefined;
          if (annotated && annotated.kind !== "int" && annotated.kind !== "bool") fail(typeNode!, 2003);
          const callee = calleeImport(init);
          if (callee === "loopStep") {
            if (kind !== "const") fail(d, 2011, "programs are declared with const");
            const args = (init as import("ts-morph").CallExpression).getArguments();
            const fn = args[0];
            if (args.length !== 1 || !(Node.isArrowFunction(fn) || Node.isFunctionExpression(fn))) fail(init!, 2023);
            claimName(d.getName(), nameNode, "program");
            claimName(`${d.getName()}_ops`, nameNode, "program (its struct_ops variable)");
            programs.push({ name: d.getName(), decl: d, fn: args[0] });
            continue;
          }
          if (callee === "config") {
            if (kind !== "const") fail(d, 2011, "config values are declared with const");
            const call = init as import("ts-morph").CallExpression;
            const targ = call.getTypeArguments()[0];
            const t = targ ? (declaredType(constCx(), targ, targ.getText()) as IntType | BoolType) : annotated;
            if (call.getArguments().length !== 1) fail(call, 2017, "config() takes the default value");
            const c = constValue(d, call.getArguments()[0], t);
            const type = t ?? c.type ?? (c.literal === "bigint" ? T.i64 : T.i32);
            const g: GlobalVar = { name: d.getName(), section: ".rodata", type, init: c.value, exported: true, config: true, offset: 0 };
            claimName(g.name, nameNode, "config value");
            globalVars.push(g);
            globalNodes.push(nameNode);
            globals.set(d.compilerNode, { kind: "global", global: g });
            continue;
          }
          if (callee && MAP_CONSTRUCTORS[callee]) {
            if (kind !== "const") fail(d, 2011, "maps are declared with const");
            const m = declareMap(constCx(), d.getName(), init as import("ts-morph").CallExpression, MAP_CONSTRUCTORS[callee], exported);
            maps.push(m);
            globals.set(d.compilerNode, { kind: "map", map: m });
            continue;
          }
          if (callee && SLEEPABLE_FORBIDDEN[callee]) fail(init!, 2056, `${callee}() (${SLEEPABLE_FORBIDDEN[callee]})`);
          if (!init) fail(d, 2011, "globals need an initial value");
          const c = constValue(d, init!, annotated);
          if (kind === "const") {
            globals.set(d.compilerNode, { kind: "const", type: c.type ?? null, value: c.value, literal: c.literal });
            continue;
          }
          const type = c.type ?? (c.literal === "bigint" ? T.i64 : T.i32);
          const g: GlobalVar = { name: d.getName(), section: c.value === 0n ? ".bss" : ".data", type, init: c.value, exported, config: false, offset: 0 };
          claimName(g.name, nameNode, "global");
          globalVars.push(g);
          globalNodes.push(nameNode);
          globals.set(d.compilerNode, { kind: "global", global: g });
        }
        continue;
      }
      if (Node.isClassDeclaration(st)) fail(st, 2006);
      if (Node.isEnumDeclaration(st)) fail(st, 2011, "enum", "use top-level constants");
      fail(st, 2011, st.getKindName());
    } catch (e) {
      if (!(e instanceof LowerAbort)) throw e;
    }
  }

  const out: { name: string; fn: IrFunction }[] = [];
  const memLayoutsSeen: StructLayout[] = [];
  const subprograms: Subprogram[] = [];
  const declarations = new Map<string, SourceRange>();
  const strings: StringConst[] = [];
  const subState = new Map<object, { mayTrap: boolean; done: boolean }>();
  const newContext = (name: string): LowerContext => {
    const cx = new LowerContext(sf, fileName, globals, useRingGlobal, name, diagnostics, LOWERING);
    if (loopOptions) cx.loopOptions = loopOptions;
    cx.addString = (text) => {
      let s = strings.find((x) => x.text === text);
      if (!s) strings.push((s = { name: `uringbpf_str_${strings.length}`, text, offset: 0 }));
      return s.name;
    };
    cx.onMemLayout = (l) => {
      if (memLayoutsSeen.length && memLayoutsSeen[0] !== l) return `the MEM region is already mapped as ${memLayoutsSeen[0].name}`;
      if (!memLayoutsSeen.length) memLayoutsSeen.push(l);
      return undefined;
    };
    cx.memRoot = memLayoutsSeen[0];
    cx.requestSubprog = (decl) => {
      const st = subState.get(decl.compilerNode);
      if (st && !st.done) return fail(decl, 2013, `${(decl as FunctionDeclaration).getName()} calls itself`);
      if (st) return st;
      return lowerSubprogram(decl as FunctionDeclaration);
    };
    return cx;
  };
  // A @noinline helper: its own function in .text, arguments in r1-r5, lowered once on first use.
  const lowerSubprogram = (decl: FunctionDeclaration): { mayTrap: boolean } => {
    const name = decl.getName()!;
    claimName(name, decl.getNameNode() ?? decl, "@noinline helper");
    for (const p of decl.getParameters()) {
      const bad = objectNameProblem(p.getName());
      if (bad) fail(p.getNameNode(), 2028, `parameter '${p.getName().slice(0, 40)}' of ${name}: ${bad}`);
    }
    const state = { mayTrap: false, done: false };
    subState.set(decl.compilerNode, state);
    const cx = newContext(name);
    const before = diagnostics.length;
    cx.at(decl);
    const sig = signature(cx, decl);
    const locals = new Map<object, Binding>();
    decl.getParameters().forEach((p, i) => {
      const t = sig.params[i];
      const reg = cx.b.vreg(widthOf(t), p.getName(), t.kind === "view");
      cx.b.emit({ op: "param", dst: reg, index: i });
      locals.set(p.compilerNode, { kind: "local", type: t, reg, mutable: t.kind !== "view" });
    });
    cx.frames.push({ locals, subprog: { type: sig.ret, fnName: name }, fnDecl: decl });
    lowerBody(cx, decl.getBody()!);
    if (cx.b.current) {
      if (sig.ret.kind !== "void") fail(decl.getNameNode() ?? decl, 2024, `${name} can end without returning a value`);
      cx.b.terminate({ op: "ret", value: { imm: 0n } });
    }
    state.mayTrap = cx.mayTrap;
    state.done = true;
    if (diagnostics.length === before) {
      const fn = cx.b.finish();
      checkMapReferences(fn, diagnostics);
      if (diagnostics.length === before) declarations.set(name, rangeOf(sf, fileName, decl.getNameNode() ?? decl));
      if (diagnostics.length === before) subprograms.push({ name, fn, params: decl.getParameters().map((p, i) => ({ name: p.getName(), type: valueType(sig.params[i]) })), ret: valueType(sig.ret) });
    }
    return state;
  };
  for (const p of programs) {
    const cx = newContext(p.name);
    const before = diagnostics.length;
    try {
      const fnNode = p.fn as import("ts-morph").ArrowFunction;
      const params = fnNode.getParameters();
      if (params.length !== 2) fail(fnNode, 2023);
      cx.at(fnNode);
      const ctxArr = cx.b.vreg(64, "ctx", true);
      cx.b.emit({ op: "param", dst: ctxArr, index: 0 });
      cx.ringCtx = cx.b.vreg(64, "ring", true);
      cx.lp = cx.b.vreg(64, "lp", true);
      cx.b.emit({ op: "load", dst: cx.ringCtx, base: ctxArr, off: 0, size: "DW" });
      cx.b.emit({ op: "load", dst: cx.lp, base: ctxArr, off: 8, size: "DW" });
      const locals = new Map<object, Binding>();
      locals.set(params[0].compilerNode, { kind: "local", type: view("ring"), reg: cx.ringCtx, mutable: false });
      locals.set(params[1].compilerNode, { kind: "local", type: view("lp"), reg: cx.lp, mutable: false });
      cx.frames.push({ locals });
      lowerBody(cx, fnNode.getBody());
      if (cx.b.current) fail(fnNode, 2024, `${p.name} can reach its end without returning`, "end with `return CONTINUE;` or `return STOP;`");
      // Statements that failed leave blocks half-built: only finish a function that lowered cleanly.
      if (diagnostics.length === before) {
        const fn = cx.b.finish();
        checkMapReferences(fn, diagnostics);
        if (diagnostics.length === before) out.push({ name: p.name, fn }), declarations.set(p.name, rangeOf(sf, fileName, p.decl));
      }
    } catch (e) {
      if (!(e instanceof LowerAbort)) throw e;
    }
  }
  if (programs.length === 0 && diagnostics.length === 0) diagnostics.push(diag(2016, undefined));

  // BTF's DATASEC lists a section's variables in a 16-bit count.
  for (const section of [".rodata", ".bss", ".data"]) {
    const inSection = globalVars.map((g, i) => [g, i] as const).filter(([g]) => g.section === section);
    const limit = 0xffff - (section === ".rodata" ? ringGlobals.size + strings.length + 1 : section === ".bss" ? 1 : 0);
    if (inSection.length > limit) diagnostics.push(diag(3006, rangeOf(sf, fileName, globalNodes[inSection[limit][1]]), `${inSection.length} variables in ${section} (at most ${limit})`));
  }
  // Hidden ring values first in .rodata, then config values; .bss; .data (see layoutData).
  const all = [...ringGlobals.values(), ...globalVars];
  const memLayouts = out.length ? memLayoutsSeen : [];
  const module: IrModule = { programs: out, subprograms, globals: all, strings, memLayout: memLayouts[0], maps: maps.map(mapDef) };
  layoutData(module);
  return { ...module, diagnostics, declarations };
}
