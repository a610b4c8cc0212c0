// The compiler's API: source text in, a BPF ELF object (and diagnostics, disassembly, IR) out. The stages:
// frontend (ts-morph -> IR), opt (the pass pipeline, compiler/opt/pipeline.ts), codegen (register allocation, BPF instructions), link (ObjectModule), then the
// BTF/BTF.ext and ELF writers. The CLI and the tests call compileFile/compileSource.

import * as fs from "fs";
import * as path from "path";
import { disassemble } from "./bpf/disasm";
import { JumpRangeError, slots, type Insn } from "./bpf/insn";
import { generate, type FunctionCode } from "./codegen/emit";
import { diag, type Diagnostic, type SourceRange } from "./diagnostics/diagnostics";
import { isStackOverflow, lowerProgram, parseProgram, stackOverflowAt, type FrontendResult } from "./frontend/program";
import { DEFAULT_LOOP_OPTIONS } from "./frontend/loops";
import { dumpFunction, type IrFunction } from "./ir/ir";
import { PASS_NAMES, PIPELINE, runPipeline } from "./opt/pipeline";
import { cloneFunction } from "./ir/clone";
import type { PassContext } from "./opt/pass";
import { writeObject } from "./elf/writer";
import { linkModule } from "./link/module";
import type { ObjectModule } from "./object/module";

export { formatDiagnostics } from "./diagnostics/diagnostics";
export { PASS_NAMES } from "./opt/pipeline";
export type { Diagnostic } from "./diagnostics/diagnostics";

/** The BPF verifier's limit on a program's stack frame. */
export const MAX_STACK = 512;

export interface CompileOptions {
  /** Run the TypeScript type checker (default true). */
  typeCheck?: boolean;
  /** Also produce the IR dump. */
  ir?: boolean;
  /** With `ir`: the IR after the first run of this pass (see PASS_NAMES) instead of after the last. */
  printAfter?: string;
  /** Register allocator: "auto" (graph colouring, linear scan for large functions) or "linear" (tests). */
  allocator?: "auto" | "linear";
  /** Run only the first N passes of the pipeline (tests: every prefix must compute the same results). */
  passLimit?: number;
  /** Name recorded in line_info (default: the path as given). */
  sourceName?: string;
  /** The head of loops the verifier cannot follow: "maygoto" (default) or "iterator" (bpf_iter_num_next). */
  loops?: "maygoto" | "iterator";
  /** The most verifier work (trip count x body, in source nodes) a loop the verifier follows may cost
   *  (default 2048); longer loops converge instead. */
  loopBudget?: number;
  /** Copies of a small converging loop body per may_goto (default 8; 1 turns unrolling off). */
  loopUnroll?: number;
}

export interface CompiledProgram {
  name: string;
  insns: Insn[];
  /** Instruction slots (an ld_imm64 counts two). */
  slots: number;
  stackSize: number;
  ir?: string;
}

export interface CompileResult {
  ok: boolean;
  diagnostics: Diagnostic[];
  programs: CompiledProgram[];
  /** @noinline helpers compiled as BPF subprograms (section .text). */
  subprograms?: CompiledProgram[];
  module?: ObjectModule;
  object?: Uint8Array;
}

/** Where a function's stack goes, for the stack-overflow diagnostic. */
function stackBreakdown(code: FunctionCode): string {
  const named = new Map<string, number>();
  for (const n of code.stackUse.spilled) named.set(n || "temporaries", (named.get(n || "temporaries") ?? 0) + 1);
  const parts = [...named].sort((a, b) => b[1] - a[1]).map(([n, k]) => `${n} ${k * 8}`);
  const out = [`${code.stackUse.spilled.length * 8} bytes of spilled values (${parts.slice(0, 12).join(", ")}${parts.length > 12 ? ", ..." : ""})`];
  if (code.stackUse.objects) out.push(`${code.stackUse.objects} bytes of loop iterators`);
  if (code.stackUse.scratch) out.push(`${code.stackUse.scratch} bytes of call scratch`);
  return out.join(", ");
}

/** Compile DSL source text. Never throws: problems come back as diagnostics, and an exception of the
 *  compiler itself (a bug) comes back as UBPF9001. */
export function compileSource(fileName: string, text: string, opts: CompileOptions = {}): CompileResult {
  try {
    return compileUnguarded(fileName, text, opts);
  } catch (e) {
    // For debugging the compiler itself: see the exception instead of its diagnostic.
    if (process.env.UBPF_INTERNAL_THROW) throw e;
    const sourceName = opts.sourceName ?? fileName;
    if (e instanceof RangeError && /call stack/.test(e.message))
      return { ok: false, diagnostics: [diag(3004, undefined, `${sourceName} is nested too deeply for the compiler's stack`)], programs: [] };
    const msg = e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e);
    return { ok: false, diagnostics: [diag(9001, undefined, `${msg} (compiling ${sourceName})`)], programs: [] };
  }
}

/** Generate a function's code; a jump farther than BPF's 16-bit offsets becomes UBPF3008. */
function generateChecked(name: string, fn: Parameters<typeof generate>[0], diags: Diagnostic[], allocator?: "auto" | "linear", at?: SourceRange): FunctionCode | undefined {
  try {
    return generate(fn, allocator);
  } catch (e) {
    if (!(e instanceof JumpRangeError)) throw e;
    diags.push(diag(3008, at, `${name} needs a jump over ${Math.abs(e.distance)} instructions`));
    return undefined;
  }
}

function loopOptions(opts: CompileOptions) {
  return { form: opts.loops ?? DEFAULT_LOOP_OPTIONS.form, budget: opts.loopBudget ?? DEFAULT_LOOP_OPTIONS.budget, unroll: opts.loopUnroll ?? DEFAULT_LOOP_OPTIONS.unroll };
}

function compileUnguarded(fileName: string, text: string, opts: CompileOptions): CompileResult {
  const sourceName = opts.sourceName ?? fileName;
  const { sf, diagnostics } = parseProgram(sourceName, text, opts.typeCheck !== false);
  if (diagnostics.length) return { ok: false, diagnostics, programs: [] };
  if (opts.printAfter !== undefined && !PASS_NAMES.includes(opts.printAfter))
    return { ok: false, diagnostics: [diag(4002, undefined, `--print-after takes one of: ${PASS_NAMES.join(", ")} (got '${opts.printAfter}')`)], programs: [] };
  try {
    const fe = lowerProgram(sourceName, sf, loopOptions(opts));
    if (fe.diagnostics.length) return { ok: false, diagnostics: fe.diagnostics, programs: [] };
    return backEnd(sourceName, fe, opts);
  } catch (e) {
    if (!isStackOverflow(e) || process.env.UBPF_INTERNAL_THROW) throw e;
    return { ok: false, diagnostics: [stackOverflowAt(sourceName, text, sf.compilerNode)], programs: [] };
  }
}

/** Compile with every prefix of the pass pipeline (none, the first pass, the first two... all): one
 *  result each, from one run of the front end. Tests check that every prefix computes the same. */
export function compileEveryPrefix(fileName: string, text: string, opts: CompileOptions = {}): CompileResult[] {
  const { sf, diagnostics } = parseProgram(fileName, text, opts.typeCheck !== false);
  if (diagnostics.length) return [{ ok: false, diagnostics, programs: [] }];
  const fe = lowerProgram(fileName, sf, loopOptions(opts));
  if (fe.diagnostics.length) return [{ ok: false, diagnostics: fe.diagnostics, programs: [] }];
  const out: CompileResult[] = [];
  for (let k = 0; k <= PIPELINE.length; k++) {
    const copy: FrontendResult = {
      ...fe,
      programs: fe.programs.map((p) => ({ ...p, fn: cloneFunction(p.fn) })),
      subprograms: fe.subprograms.map((s) => ({ ...s, fn: cloneFunction(s.fn) })),
    };
    out.push(backEnd(fileName, copy, { ...opts, passLimit: k }));
  }
  return out;
}

/** Optimization, code generation, stack checks, linking and the ELF object. */
function backEnd(sourceName: string, fe: FrontendResult, opts: CompileOptions): CompileResult {
  const passContext: PassContext = { readOnly: new Set([...fe.globals.filter((g) => g.section === ".rodata").map((g) => g.name), ...fe.strings.map((s) => s.name)]) };
  const optimize = (fn: IrFunction): string | undefined => {
    const dump = runPipeline(fn, passContext, { printAfter: opts.ir ? opts.printAfter : undefined, limit: opts.passLimit });
    return opts.ir ? dump ?? dumpFunction(fn) : undefined;
  };
  const at = (name: string) => fe.declarations?.get(name);
  const programs: CompiledProgram[] = [];
  const codes = new Map<string, FunctionCode>();
  const diags: Diagnostic[] = [];
  for (const p of fe.programs) {
    const ir = optimize(p.fn);
    const code = generateChecked(p.name, p.fn, diags, opts.allocator, at(p.name));
    if (!code) continue;
    if (code.stackSize > MAX_STACK) diags.push(diag(3002, at(p.name), `${p.name} needs ${code.stackSize} bytes: ${stackBreakdown(code)}`));
    const n = code.insns.reduce((s, i) => s + slots(i), 0);
    if (n > 1_000_000) diags.push(diag(3001, at(p.name), `${p.name} has ${n} instructions`));
    programs.push({ name: p.name, insns: code.insns, slots: n, stackSize: code.stackSize, ir });
    codes.set(p.name, code);
  }
  const subprograms: CompiledProgram[] = [];
  for (const s of fe.subprograms) {
    const ir = optimize(s.fn);
    const code = generateChecked(s.name, s.fn, diags, opts.allocator, at(s.name));
    if (!code) continue;
    subprograms.push({ name: s.name, insns: code.insns, slots: code.insns.reduce((n, i) => n + slots(i), 0), stackSize: code.stackSize, ir });
    codes.set(s.name, code);
  }
  // The verifier limits the stack of a whole call chain to 512 bytes (each frame rounded up to 32).
  const frame = (n: number) => Math.ceil(Math.max(n, 1) / 32) * 32;
  const calls = (insns: Insn[]) => insns.filter((i) => i.reloc?.kind === "call").map((i) => i.reloc!.symbol);
  const byName = new Map(subprograms.map((s) => [s.name, s]));
  const chainDepth = (p: CompiledProgram, seen: string[]): { depth: number; chain: string[] } => {
    let best = { depth: 0, chain: [] as string[] };
    for (const c of calls(p.insns)) {
      const callee = byName.get(c);
      if (!callee || seen.includes(c)) continue;
      const d = chainDepth(callee, [...seen, c]);
      if (d.depth > best.depth) best = d;
    }
    return { depth: frame(p.stackSize) + best.depth, chain: [p.name, ...best.chain] };
  };
  for (const p of programs) {
    const d = chainDepth(p, [p.name]);
    if (d.depth > MAX_STACK && d.chain.length > 1) diags.push(diag(3002, at(p.name), `the call chain ${d.chain.join(" -> ")} needs ${d.depth} bytes of stack`));
    if (d.chain.length > 8) diags.push(diag(3003, at(p.name), `the call chain ${d.chain.join(" -> ")} is ${d.chain.length} calls deep`));
  }
  if (diags.length) return { ok: false, diagnostics: diags, programs, subprograms };
  const module = linkModule(sourceName, fe, codes);
  const object = writeObject(module);
  return { ok: true, diagnostics: [], programs, subprograms, module, object };
}

/** Compile a DSL file. */
export function compileFile(file: string, opts: CompileOptions = {}): CompileResult {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { ok: false, diagnostics: [diag(4001, undefined, `${file}: ${err.code ?? err.message}`)], programs: [] };
  }
  return compileSource(file, text, { sourceName: opts.sourceName ?? path.relative(process.cwd(), file), ...opts });
}

/** The disassembly of a compiled program, with the TypeScript lines interleaved. */
export function programAsm(p: CompiledProgram, interleaveSource = true): string {
  return disassemble(p.insns, { interleaveSource });
}
