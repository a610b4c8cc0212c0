// Diagnostics: one numbered table of messages, a Diagnostic record with a source range, and the tsc-style
// pretty printer (file:line:col, the source line, a ~~~ underline, a hint). Every stage reports through
// here; a CompileError carries diagnostics out of the stage that found them.

/** The message table. Codes are stable: tests and editors match on them. */
export const Messages = {
  // 1xxx: TypeScript itself (syntax and type errors reported by the TypeScript checker)
  1000: { title: "TypeScript error", hint: "fix the type error; uringbpf programs are type-checked TypeScript" },
  1001: { title: "the TypeScript checker failed on this input", hint: "this is a TypeScript bug; simplify the construct it names, and please report the input" },
  // 2xxx: constructs outside the DSL
  2001: { title: "unsupported statement", hint: "loop_step programs use let/const, if, switch, for, while, do, break, continue and return" },
  2002: { title: "unsupported expression", hint: "only integer arithmetic, comparisons, logic, calls of top-level functions and the ring API are supported" },
  2003: { title: "unsupported type", hint: "use u8, u16, u32, u64, i8, i16, i32, i64 or bool" },
  2004: { title: "floating-point numbers are not supported", hint: "BPF has no floating point; use integers" },
  2005: { title: "strings are not supported", hint: "BPF programs cannot build strings" },
  2006: { title: "objects, arrays and classes are not supported", hint: "use global variables and the ring API" },
  2007: { title: "closures and function values are not supported", hint: "declare helpers as top-level `function` declarations" },
  2008: { title: "exceptions are not supported", hint: "return an error code (e.g. STOP after setting a result global)" },
  2009: { title: "async code is not supported", hint: "loop_step runs synchronously inside the kernel" },
  2010: { title: "unsupported import", hint: "import only named bindings from \"uringbpf\"" },
  2011: { title: "unsupported top-level declaration", hint: "top level holds imports, constants, config values, global `let` variables, functions and `export const NAME = loopStep(...)`" },
  2012: { title: "`any` and untyped values are not supported", hint: "give the value an integer type" },
  2013: { title: "recursion is not supported", hint: "BPF programs cannot recurse; rewrite with a bounded loop" },
  2014: { title: "unknown name", hint: "only locals, parameters, globals, top-level functions and names imported from \"uringbpf\" can be used" },
  2015: { title: "unsupported operator", hint: "see docs/LANGUAGE.md for the operators on integers" },
  2016: { title: "no loop_step program", hint: "declare one: `export const NAME = loopStep((ring, lp) => { ... });`" },
  2017: { title: "wrong number of arguments", hint: "check the declaration" },
  2018: { title: "this value cannot be stored", hint: "ring views can be kept in `const` locals, not in globals or mutable variables" },
  2019: { title: "assignment to a read-only value", hint: "constants, config values and read-only ring fields cannot be assigned" },
  2020: { title: "constant out of range", hint: "the literal does not fit the type; use an explicit conversion or a bigint literal for 64-bit values" },
  2021: { title: "mixed 32-bit and 64-bit operands", hint: "convert explicitly, e.g. u64(x) or u32(x)" },
  2022: { title: "not a compile-time constant", hint: "top-level `const` values must be integer expressions of literals and other constants" },
  2023: { title: "a loop_step program needs two parameters", hint: "write loopStep((ring, lp) => { ... })" },
  2024: { title: "missing return value", hint: "a loop_step program returns CONTINUE, STOP or an integer on every path" },
  2025: { title: "break or continue outside a loop", hint: "" },
  2026: { title: "constant shift count out of range", hint: "shift counts must be smaller than the operand's width" },
  2027: { title: "array index out of range", hint: "FixedArray<T, N> indices run from 0 to N-1" },
  2028: { title: "this name cannot be written into a BPF object", hint: "names of globals, programs, @noinline helpers and their parameters, and MEM-region interfaces and fields reach BTF and the ELF symbol table, which take C identifiers: ASCII letters, digits and _, not starting with a digit, at most 127 characters" },
  2029: { title: "two things in the object would have the same name", hint: "rename one of them (a program NAME also defines the symbol NAME_ops; names starting with uringbpf_ are reserved)" },
  2040: { title: "this loop never ends", hint: "give it a condition that can become false, or a break or return; a loop that runs out of its budget stops the program" },
  2041: { title: "this loop nest is too much work for the verifier", hint: "see docs/LANGUAGE.md, Loops" },
  // 205x: helpers, maps and atomics (docs/LANGUAGE.md)
  2051: { title: "not an integer place for an atomic", hint: "atomics work on integer globals, MEM-region fields and map value fields" },
  2052: { title: "atomic operand size not supported", hint: "BPF's read-modify-write atomics are 32 or 64 bits wide" },
  2053: { title: "atomic access the verifier refuses on this memory", hint: "see docs/LANGUAGE.md, Atomics" },
  2054: { title: "unsupported map declaration or use", hint: "see docs/LANGUAGE.md, Maps" },
  2055: { title: "map reference rule broken", hint: "the verifier tracks map values and ring-buffer records: see docs/LANGUAGE.md, Maps" },
  2056: { title: "map type not allowed in sleepable programs", hint: "loop_step programs are sleepable: the verifier allows array, hash and ring-buffer maps (arrayMap, hashMap, ringBuf)" },
  // 3xxx: resource limits checked at compile time
  3001: { title: "program too large", hint: "BPF programs are limited to 1,000,000 instructions; split the work over loop_step calls" },
  3002: { title: "stack frame larger than 512 bytes", hint: "keep fewer values alive at once" },
  3003: { title: "calls nested too deeply", hint: "the kernel allows 8 frames; inline some helpers (remove @noinline)" },
  3004: { title: "nested too deeply", hint: "split the code into smaller functions or statements" },
  3005: { title: "expression too long", hint: "split it into several statements with intermediate locals" },
  3006: { title: "too many entries for BTF", hint: "BTF lists at most 65,535 variables per section and members per struct; use fewer globals or a MEM-region struct with arrays" },
  3007: { title: "MEM-region layout too large", hint: "the MEM region's struct is limited to 256 MiB (BTF member offsets are 32-bit bit offsets)" },
  3008: { title: "function too large for BPF jumps", hint: "a BPF jump reaches at most 32,767 instructions; move work into @noinline helpers or split it over loop_step calls" },
  // 4xxx: the environment
  4001: { title: "cannot read the input file", hint: "check the path" },
  4002: { title: "unknown compiler pass", hint: "uringbpf build --help lists the passes --print-after takes" },
  // 9xxx: the compiler's own failures (a bug: the compiler caught its own exception)
  9001: { title: "internal compiler error", hint: "this is a bug in uringbpf; please report it with the input file" },
} as const;

export type DiagnosticCode = keyof typeof Messages;

/** A position range inside a source file (1-based line and column). */
export interface SourceRange {
  file: string;
  line: number;
  col: number;
  /** Length of the underline on that line (at least 1). */
  length: number;
  /** The full text of the source line. */
  lineText: string;
}

/** One compile-time finding. */
export interface Diagnostic {
  code: number;
  severity: "error" | "warning";
  message: string;
  hint?: string;
  range?: SourceRange;
}

/** Build a diagnostic from the table, with an optional detail appended to the title. */
export function diag(code: DiagnosticCode, range: SourceRange | undefined, detail?: string, hint?: string): Diagnostic {
  const m = Messages[code];
  return {
    code,
    severity: "error",
    message: detail ? `${m.title}: ${detail}` : m.title,
    hint: hint ?? (m.hint || undefined),
    range,
  };
}

/** Thrown by a stage to stop compilation with diagnostics. */
export class CompileError extends Error {
  constructor(public readonly diagnostics: Diagnostic[]) {
    super(diagnostics.map((d) => d.message).join("\n"));
  }
}

/** Format diagnostics as tsc does: `file:line:col - error UBPF2001: message`, the line, an underline, a hint. */
export function formatDiagnostics(diags: Diagnostic[], opts: { color?: boolean; cwdRelative?: (f: string) => string } = {}): string {
  const c = (code: string, s: string) => (opts.color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const seen = new Set<string>();
  const out: string[] = [];
  for (const d of diags) {
    const key = `${d.code}|${d.message}|${d.range?.file}:${d.range?.line}:${d.range?.col}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const sev = d.severity === "error" ? c("91", "error") : c("93", "warning");
    const code = c("90", `UBPF${d.code}`);
    if (d.range) {
      const file = opts.cwdRelative ? opts.cwdRelative(d.range.file) : d.range.file;
      out.push(`${c("96", file)}:${c("93", String(d.range.line))}:${c("93", String(d.range.col))} - ${sev} ${code}: ${d.message}`);
      const ln = String(d.range.line);
      const text = d.range.lineText.replace(/\t/g, " ");
      out.push("");
      out.push(`${c("7", ln)} ${text}`);
      const width = Math.max(1, Math.min(d.range.length, text.length - (d.range.col - 1) || 1));
      out.push(`${c("7", " ".repeat(ln.length))} ${" ".repeat(d.range.col - 1)}${c("91", "~".repeat(width))}`);
    } else {
      out.push(`${sev} ${code}: ${d.message}`);
    }
    if (d.hint) out.push(`  hint: ${d.hint}`);
    out.push("");
  }
  const n = diags.filter((d) => d.severity === "error").length;
  if (n > 0) out.push(`Found ${n} error${n === 1 ? "" : "s"}.`);
  return out.join("\n");
}
