// Random well-typed DSL programs for differential testing. The generator builds a small typed AST, prints
// it as TypeScript and evaluates it with its own reference semantics (C's fixed-width rules as
// docs/LANGUAGE.md defines them), written independently of the compiler. The compiled program writes its
// results to globals; a test compares them with the evaluator's.

type Ty = "u8" | "u16" | "u32" | "u64" | "i8" | "i16" | "i32" | "i64";
const TYPES: Ty[] = ["u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64"];
const bitsOf = (t: Ty) => Number(t.slice(1));
const signed = (t: Ty) => t[0] === "i";
const wide = (t: Ty) => bitsOf(t) === 64;
/** The type arithmetic on t computes in (C's integer promotion). */
const promoted = (t: Ty): Ty => (bitsOf(t) < 32 ? "i32" : t);

function norm(t: Ty, v: bigint): bigint {
  return signed(t) ? BigInt.asIntN(bitsOf(t), v) : BigInt.asUintN(bitsOf(t), v);
}

/** A deterministic PRNG (mulberry32). */
export class Rng {
  constructor(private s: number) {}
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

interface Var {
  name: string;
  ty: Ty;
}
type Env = Map<string, bigint>;

/** An expression: its TypeScript text (of type `ty`) and a reference evaluator. */
interface Expr {
  ty: Ty;
  text: string;
  ev: (env: Env) => bigint;
}

const lit = (t: Ty, v: bigint): Expr => {
  const n = norm(t, v);
  const text = wide(t) ? `${n < 0n ? `(${n}n)` : `${n}n`}` : n < 0n ? `(${n})` : `${n}`;
  return { ty: t, text, ev: () => n };
};

function interesting(r: Rng, t: Ty): bigint {
  const b = bitsOf(t);
  const choices = [0n, 1n, 2n, 3n, 7n, -1n, -2n, 1n << BigInt(b - 1), (1n << BigInt(b - 1)) - 1n, BigInt(r.int(1000)), BigInt(r.int(0x7fffffff)) * (r.chance(0.5) ? 1n : 12345n)];
  return norm(t, r.pick(choices));
}

const isLit = (e: Expr) => /^\(?-?[0-9]+n?\)?$/.test(e.text);
/** Untyped constants compute exactly (without wrapping) in the DSL: give literal operands their type. */
const typed = (e: Expr): Expr => (isLit(e) ? { ...e, text: `${e.ty}(${e.text})` } : e);

/** Convert with an explicit conversion call. */
function conv(t: Ty, e: Expr): Expr {
  if (e.ty === t) return e;
  return { ty: t, text: `${t}(${e.text})`, ev: (env) => norm(t, e.ev(env)) };
}

export class ProgramGenerator {
  private vars: Var[] = [];
  private counter = 0;
  private helpers: { name: string; params: Ty[]; ret: Ty; text: string; ev: (args: bigint[]) => bigint }[] = [];
  private depth = 0;

  constructor(private r: Rng) {}

  private fresh(prefix: string): string {
    return `${prefix}${this.counter++}`;
  }

  /** An expression of type t over the variables in scope. */
  expr(t: Ty, scope: Var[], depth = 0): Expr {
    const r = this.r;
    const leaf = depth >= 3 || r.chance(0.3);
    if (leaf) {
      const same = scope.filter((v) => v.ty === t);
      if (same.length && r.chance(0.6)) {
        const v = r.pick(same);
        return { ty: t, text: v.name, ev: (env) => env.get(v.name)! };
      }
      if (scope.length && r.chance(0.4)) {
        const v = r.pick(scope);
        return conv(t, { ty: v.ty, text: v.name, ev: (env) => env.get(v.name)! });
      }
      return lit(t, interesting(r, t));
    }
    const k = r.int(10);
    if (k < 5) return this.binary(t, scope, depth);
    if (k === 5) {
      // conversion from another type
      const from = r.pick(TYPES);
      return conv(t, this.expr(from, scope, depth + 1));
    }
    if (k === 6) {
      // ternary on a comparison
      const ct = r.pick(TYPES);
      const a = this.expr(ct, scope, depth + 1);
      const b = this.expr(ct, scope, depth + 1);
      // TypeScript rejects === between two different literal types; compare literals with < instead.
      const op = isLit(a) && isLit(b) ? "<" : r.pick(["<", "<=", ">", ">=", "===", "!=="] as const);
      const x = typed(this.expr(t, scope, depth + 1));
      const y = typed(this.expr(t, scope, depth + 1));
      const p = promoted(ct);
      const cmp = (u: bigint, v: bigint) => {
        const pu = norm(p, u);
        const pv = norm(p, v);
        switch (op) {
          case "<": return pu < pv;
          case "<=": return pu <= pv;
          case ">": return pu > pv;
          case ">=": return pu >= pv;
          case "===": return pu === pv;
          default: return pu !== pv;
        }
      };
      // `a < b > (c)` parses as a generic call: never write a lone `>` (swap the operands of > and >=).
      const cmpText = op === ">" ? `(${b.text}) < (${a.text})` : op === ">=" ? `(${b.text}) <= (${a.text})` : `(${a.text}) ${op} (${b.text})`;
      return { ty: t, text: `(${cmpText} ? ${x.text} : ${y.text})`, ev: (env) => (cmp(a.ev(env), b.ev(env)) ? x.ev(env) : y.ev(env)) };
    }
    if (k === 7 && this.helpers.length) {
      const h = r.pick(this.helpers);
      const args = h.params.map((p) => this.expr(p, scope, depth + 1));
      return conv(t, { ty: h.ret, text: `${h.name}(${args.map((a) => a.text).join(", ")})`, ev: (env) => h.ev(args.map((a) => a.ev(env))) });
    }
    if (k === 8) {
      // unary minus / complement
      const a = typed(this.expr(t, scope, depth + 1));
      const p = promoted(t);
      const neg = r.chance(0.5);
      const e: Expr = { ty: p, text: `(${neg ? "-" : "~"}${a.text})`, ev: (env) => norm(p, neg ? -a.ev(env) : ~a.ev(env)) };
      return conv(t, e);
    }
    return this.binary(t, scope, depth);
  }

  private binary(t: Ty, scope: Var[], depth: number): Expr {
    const r = this.r;
    const op = r.pick(["+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>"] as const);
    const p = promoted(t);
    const a = typed(this.expr(t, scope, depth + 1));
    const width = BigInt(bitsOf(p));
    if (op === "<<" || op === ">>") {
      // Constant counts must be in range; dynamic counts are masked to the width.
      let c: Expr;
      if (r.chance(0.5)) c = lit(wide(t) ? "u64" : "u32", BigInt(r.int(Number(width))));
      else c = this.expr(wide(t) ? "u64" : "u32", scope, depth + 1);
      // A constant count must be in range (the DSL rejects others at compile time).
      if (isLit(c)) c = lit(c.ty, c.ev(new Map()) & (width - 1n));
      const e: Expr = {
        ty: p,
        text: `(${a.text} ${op} ${c.text})`,
        ev: (env) => {
          const x = norm(p, a.ev(env));
          const n = BigInt.asUintN(64, c.ev(env)) & (width - 1n);
          if (op === "<<") return norm(p, x << n);
          return signed(p) ? norm(p, x >> n) : norm(p, BigInt.asUintN(Number(width), x) >> n);
        },
      };
      return conv(t, e);
    }
    const b = typed(this.expr(t, scope, depth + 1));
    const e: Expr = {
      ty: p,
      text: `(${a.text} ${op} ${b.text})`,
      ev: (env) => {
        const x = norm(p, a.ev(env));
        const y = norm(p, b.ev(env));
        switch (op) {
          case "+": return norm(p, x + y);
          case "-": return norm(p, x - y);
          case "*": return norm(p, x * y);
          case "/": return y === 0n ? 0n : norm(p, x / y);
          case "%": return y === 0n ? x : norm(p, x % y);
          case "&": return norm(p, x & y);
          case "|": return norm(p, x | y);
          default: return norm(p, x ^ y);
        }
      },
    };
    return conv(t, e);
  }

  /** Statements over `scope`, mutating variables; returns text and an executor. */
  private statements(scope: Var[], n: number, indent: string): { text: string; run: (env: Env) => void } {
    const r = this.r;
    const parts: { text: string; run: (env: Env) => void }[] = [];
    for (let i = 0; i < n; i++) {
      const k = r.int(10);
      if (k < 6 || this.depth >= 2) {
        const v = r.pick(scope);
        const e = this.expr(v.ty, scope);
        const compound = r.chance(0.2) && !wide(v.ty) && bitsOf(v.ty) === 32 ? r.pick(["+=", "-=", "^="] as const) : "=";
        parts.push({
          text: `${indent}${v.name} ${compound} ${e.text};\n`,
          run: (env) => {
            const x = e.ev(env);
            const cur = env.get(v.name)!;
            env.set(v.name, norm(v.ty, compound === "=" ? x : compound === "+=" ? cur + x : compound === "-=" ? cur - x : cur ^ x));
          },
        });
      } else if (k < 8) {
        const ct = r.pick(TYPES);
        const a = this.expr(ct, scope, 2);
        const b = this.expr(ct, scope, 2);
        const p = promoted(ct);
        this.depth++;
        const th = this.statements(scope, 1 + r.int(2), indent + "  ");
        const el = this.statements(scope, r.int(2), indent + "  ");
        this.depth--;
        parts.push({
          text: `${indent}if ((${a.text}) < (${b.text})) {\n${th.text}${indent}} else {\n${el.text}${indent}}\n`,
          run: (env) => (norm(p, a.ev(env)) < norm(p, b.ev(env)) ? th.run(env) : el.run(env)),
        });
      } else parts.push(this.loop(scope, indent));
    }
    return { text: parts.map((p) => p.text).join(""), run: (env) => parts.forEach((p) => p.run(env)) };
  }

  /** Run-time loop bounds: u32 globals with small values (the verifier cannot know them). */
  private bounds: { name: string; value: number }[] = [];
  /** The outputs, for loops that return early (they store the results first). */
  private outs: { name: string; from: string }[] = [];

  /** A loop of one of the shapes issue 9 lists: for/while/do/while(true)+break, constant or run-time
   *  bounds, branches and continue on the counter, break, early return. */
  private loop(scope: Var[], indent: string): { text: string; run: (env: Env) => void } {
    const r = this.r;
    const iv = this.fresh("k");
    const runtime = r.chance(0.5);
    let bound = 1 + r.int(5);
    let boundText = String(bound);
    if (runtime) {
      const b = { name: this.fresh("n"), value: r.int(6) };
      this.bounds.push(b);
      bound = b.value;
      boundText = b.name;
    }
    const shape = r.pick(["for", "for", "while", "do", "forever"] as const);
    const loopVar: Var = { name: iv, ty: "u32" };
    this.depth++;
    const body = this.statements([...scope], 1 + r.int(2), indent + "  ");
    const useIdx = this.expr("u32", [...scope, loopVar], 2);
    const target = r.pick(scope.filter((v) => !wide(v.ty)).length ? scope.filter((v) => !wide(v.ty)) : scope);
    // A branch on the counter: the verifier must not pin it (issue 9).
    const onCounter = r.chance(0.5) ? { c: r.int(6), op: r.pick(["===", "<", "!=="] as const), v: r.pick(scope) } : undefined;
    const onExpr = onCounter ? this.expr(onCounter.v.ty, [...scope, loopVar], 2) : undefined;
    this.depth--;
    const brk = r.chance(0.3) ? r.int(bound + 1) : -1;
    const cont = shape === "for" && r.chance(0.3) ? r.int(bound + 1) : -1;
    const ret = r.chance(0.15) ? r.int(bound + 1) : -1;
    const i2 = indent + "  ";
    const outText = this.outs.map((o) => `${o.name} = ${o.from}; `).join("");
    const inner =
      (brk >= 0 ? `${i2}if (${iv} === ${brk}) break;
` : "") +
      (cont >= 0 ? `${i2}if (${iv} === ${cont}) continue;
` : "") +
      (ret >= 0 ? `${i2}if (${iv} === ${ret}) { ${outText}return STOP; }
` : "") +
      (onCounter ? `${i2}if (${iv} ${onCounter.op} ${onCounter.c}) ${onCounter.v.name} = ${onExpr!.text};
` : "") +
      body.text +
      `${i2}${target.name} = ${wide(target.ty) ? `${target.ty}(${useIdx.text})` : `${target.ty}(${target.name} + ${conv(target.ty, useIdx).text})`};
`;
    let text: string;
    if (shape === "for") text = `${indent}for (let ${iv}: u32 = 0; ${iv} < ${boundText}; ${iv}++) {
${inner}${indent}}
`;
    else if (shape === "while") text = `${indent}let ${iv}: u32 = 0;
${indent}while (${iv} < ${boundText}) {
${inner}${i2}${iv}++;
${indent}}
`;
    else if (shape === "do") text = `${indent}let ${iv}: u32 = 0;
${indent}do {
${inner}${i2}${iv}++;
${indent}} while (${iv} < ${boundText});
`;
    else text = `${indent}let ${iv}: u32 = 0;
${indent}while (true) {
${i2}if (${iv} >= ${boundText}) break;
${inner}${i2}${iv}++;
${indent}}
`;
    // A `let` counter would clash with a later loop of the same name in the same block: wrap in a block.
    if (shape !== "for") text = `${indent}{
${text.replace(/^/gm, "  ")}${indent}}
`;
    return {
      text,
      run: (env) => {
        for (let i = 0n; shape === "do" ? i === 0n || i < BigInt(bound) : i < BigInt(bound); i++) {
          if (brk >= 0 && i === BigInt(brk)) break;
          if (cont >= 0 && i === BigInt(cont)) continue;
          env.set(iv, i);
          if (ret >= 0 && i === BigInt(ret)) throw new EarlyReturn();
          if (onCounter) {
            const c = BigInt(onCounter.c);
            if (onCounter.op === "===" ? i === c : onCounter.op === "<" ? i < c : i !== c) env.set(onCounter.v.name, norm(onCounter.v.ty, onExpr!.ev(env)));
          }
          body.run(env);
          const u = useIdx.ev(env);
          env.set(target.name, wide(target.ty) ? norm(target.ty, u) : norm(target.ty, norm(promoted(target.ty), env.get(target.name)! + norm(target.ty, u))));
        }
        env.delete(iv);
      },
    };
  }

  /** A whole program: inputs as .data globals, results in `out*` globals. */
  program(opts: GenOptions = {}): { source: string; expected: Record<string, bigint>; inputs: Record<string, bigint> } {
    const r = this.r;
    const inputs: Var[] = [];
    const inputVals: Record<string, bigint> = {};
    for (let i = 0; i < 2 + r.int(3); i++) {
      const v = { name: `in${i}`, ty: r.pick(TYPES) };
      inputs.push(v);
      inputVals[v.name] = interesting(r, v.ty);
    }
    // helpers
    let helperText = "";
    for (let h = 0; h < r.int(3); h++) {
      const params = [r.pick(TYPES), r.pick(TYPES)];
      const ret = r.pick(TYPES);
      const pvars = params.map((t, i) => ({ name: `p${i}`, ty: t }));
      const body = this.expr(ret, pvars, 1);
      const name = `h${h}`;
      helperText += `${r.chance(0.5) ? "/** @noinline */\n" : ""}function ${name}(${pvars.map((v) => `${v.name}: ${v.ty}`).join(", ")}): ${ret} {\n  return ${body.text};\n}\n`;
      this.helpers.push({ name, params, ret, text: "", ev: (args) => body.ev(new Map(pvars.map((v, i) => [v.name, norm(v.ty, args[i])]))) });
    }
    const locals: Var[] = [];
    let bodyText = "";
    const inits: { v: Var; e: Expr }[] = [];
    for (let i = 0; i < 2 + r.int(4); i++) {
      const v = { name: `v${i}`, ty: r.pick(TYPES) };
      const e = this.expr(v.ty, [...inputs, ...locals]);
      inits.push({ v, e });
      locals.push(v);
      bodyText += `  let ${v.name}: ${v.ty} = ${e.text};\n`;
    }
    const outs = locals.map((v, i) => ({ name: `out${i}`, ty: v.ty, from: v.name }));
    this.outs = outs;
    const st = this.statements(locals, 2 + r.int(4), "  ");
    bodyText += st.text;
    for (const o of outs) bodyText += `  ${o.name} = ${o.from};\n`;
    // Atomics on the result globals, each old value kept in a global of its own (`old${i}`).
    const atomics: { name: string; ty: Ty; text: string; run: (g: Env) => void }[] = [];
    if (opts.atomics) {
      outs.forEach((o, i) => {
        if (!r.chance(0.8)) return;
        const t = o.ty;
        const e = this.expr(t, locals);
        const narrow = bitsOf(t) < 32;
        const forms = narrow ? ["release", "acquire"] : ["add", "and", "or", "xor", "fetchAdd", "fetchAnd", "fetchOr", "fetchXor", "xchg", "cmpxchg", "release", "acquire"];
        const f = r.pick(forms);
        const old = `old${i}`;
        const name = (x: string) => `atomic${x[0].toUpperCase()}${x.slice(1)}`;
        const apply = (op: string, a: bigint, b: bigint) => norm(t, op === "add" ? a + b : op === "and" ? a & b : op === "or" ? a | b : a ^ b);
        let text: string;
        let run: (g: Env) => void;
        if (["add", "and", "or", "xor"].includes(f)) {
          text = `  ${name(f)}(${o.name}, ${e.text});\n`;
          run = (g) => g.set(o.name, apply(f, g.get(o.name)!, norm(t, e.ev(g))));
        } else if (f.startsWith("fetch")) {
          const op = f.slice(5).toLowerCase();
          text = `  ${old} = ${name(f)}(${o.name}, ${e.text});\n`;
          run = (g) => {
            g.set(old, g.get(o.name)!);
            g.set(o.name, apply(op, g.get(o.name)!, norm(t, e.ev(g))));
          };
        } else if (f === "xchg") {
          text = `  ${old} = atomicXchg(${o.name}, ${e.text});\n`;
          run = (g) => {
            g.set(old, g.get(o.name)!);
            g.set(o.name, norm(t, e.ev(g)));
          };
        } else if (f === "cmpxchg") {
          // Against the value just stored (swaps) or another expression (usually does not).
          const cmp = r.chance(0.5) ? { text: o.from, ev: (g: Env) => g.get(o.from)! } : this.expr(t, locals);
          text = `  ${old} = atomicCmpXchg(${o.name}, ${cmp.text}, ${e.text});\n`;
          run = (g) => {
            const cur = g.get(o.name)!;
            g.set(old, cur);
            if (cur === norm(t, cmp.ev(g))) g.set(o.name, norm(t, e.ev(g)));
          };
        } else if (f === "release") {
          text = `  storeRelease(${o.name}, ${e.text});\n`;
          run = (g) => g.set(o.name, norm(t, e.ev(g)));
        } else {
          text = `  ${old} = loadAcquire(${o.name});\n`;
          run = (g) => g.set(old, g.get(o.name)!);
        }
        atomics.push({ name: old, ty: t, text, run });
        bodyText += text;
      });
    }
    const header =
      `import { loopStep, STOP, u8, u16, u32, u64, i8, i16, i32, i64${opts.atomics ? ", atomicAdd, atomicAnd, atomicOr, atomicXor, atomicFetchAdd, atomicFetchAnd, atomicFetchOr, atomicFetchXor, atomicXchg, atomicCmpXchg, loadAcquire, storeRelease" : ""} } from "uringbpf";\n` +
      atomics.map((a) => `export let ${a.name}: ${a.ty} = ${wide(a.ty) ? "0n" : "0"};\n`).join("") +
      inputs.map((v) => `export let ${v.name}: ${v.ty} = ${lit(v.ty, inputVals[v.name]).text};\n`).join("") +
      outs.map((o) => `export let ${o.name}: ${o.ty} = ${wide(o.ty) ? "0n" : "0"};\n`).join("") +
      this.bounds.map((b) => `export let ${b.name}: u32 = ${b.value};\n`).join("");
    const source = `${header}${helperText}export const prog = loopStep((ring, lp) => {\n${bodyText}  return STOP;\n});\n`;
    const env: Env = new Map();
    for (const v of inputs) env.set(v.name, inputVals[v.name]);
    for (const { v, e } of inits) env.set(v.name, norm(v.ty, e.ev(env)));
    let early = false;
    try {
      st.run(env);
    } catch (e) {
      if (!(e instanceof EarlyReturn)) throw e;
      early = true;
    }
    const expected: Record<string, bigint> = {};
    for (const o of outs) env.set(o.name, env.get(o.from)!);
    // A loop's early `return STOP` skips the atomics at the end of the body.
    for (const a of atomics) {
      env.set(a.name, 0n);
      if (!early) a.run(env);
    }
    for (const o of outs) expected[o.name] = env.get(o.name)!;
    for (const a of atomics) expected[a.name] = env.get(a.name)!;
    return { source, expected, inputs: inputVals };
  }
}

/** A loop's `return STOP` in the reference evaluation. */
class EarlyReturn extends Error {}

/** Generator options: `atomics` adds atomic operations on the result globals (checked by the evaluator). */
export interface GenOptions {
  atomics?: boolean;
}

/** Generate program number `seed`. */
export function generateProgram(seed: number, opts: GenOptions = {}) {
  return new ProgramGenerator(new Rng(seed)).program(opts);
}
