// The translation of BPF functions to JavaScript: the userspace engine's fast path (the interpreter,
// interp.ts, stays as the reference it is tested against). Each BPF function (a program or a subprogram)
// becomes one JavaScript function, built once and cached per instruction array (so per object image):
// - a 64-bit register is two local numbers, its low and high 32-bit halves (uint32), so no BigInt on the
//   hot path (64-bit multiply, divide and modulo and variable 64-bit shifts go through small helpers);
// - control flow is a switch over basic blocks; each block adds its length to the executed count and
//   stops the run past the limit, as the interpreter does;
// - an address's high half is the tag of its region (the Memory places regions 4 GiB apart), so a load or
//   store finds its region by indexing a table, checks the offset against the region's length (and the
//   region's writability) and accesses it word-sized through a DataView; within a basic block the
//   translation also knows registers holding a relocated global plus a constant (checked against the
//   region's bytes from that address, resolved at entry) or the stack base plus a constant (r10 is never
//   written: an access inside the frame needs no check); regions mapped at real addresses (the MEM
//   region and buffers the kernel reads) are found by the slow path without BigInt, and every failed
//   check takes the slow path that resolves the address like the interpreter and stops the run with the
//   interpreter's message and the instruction's source line;
// - BPF_ATOMIC (add/or/and/xor and their fetch forms, xchg, cmpxchg, load-acquire, store-release) is the
//   interpreter's sequential meaning, with its checks in its order (atomicCode);
// - kfunc and helper calls go to the interpreter's handlers, bound to each call site once per run: a
//   handler's numeric form (FastCall) is called from the translated code directly, the others with
//   BigInt arguments and result (rt.call), map and ring buffer helpers included
//   (runtime/engine/maps.ts); regions a helper maps (a hash element, a ring
//   buffer record) join the region table when it returns, and a record it submits or discards becomes
//   read-only there too.

import * as D from "../../compiler/bpf/decode";
import type { Insn } from "../../compiler/bpf/insn";

const { AluOp, AtomicOp, Class, JmpOp, Mode, Opcode, PSEUDO_CALL, PSEUDO_KFUNC_CALL } = D;
const { countSlots, endsBlock, hasJumpTarget, insnClass, isAluClass, isAtomic, isJmpClass, isLdImm64, jumpTarget, modeField, opField, sizeBytes, slotLayout, srcIsReg, srcIsRegisterField } = D;
/** rt.op64's operation code: the ALU operation, | 1 for the signed division and modulo (off 1, cpu v4). */
const OP64_SIGNED = 1;
import { CHECKPOINT_EVERY, ExecutionError, insnCap, MAY_GOTO_BUDGET, run, type CallHandler, type Memory, type Region, type RunOptions } from "./interp";

/** The region table entry the translated code indexes by an address's high half. */
interface Tag {
  dv: DataView;
  len: number;
  w: boolean;
}

/** What translated code calls back into (one per run() call). */
class Runtime {
  /** Regions by tag (an address's high 32 bits); undefined for real-address regions. */
  T: (Tag | undefined)[] = [];
  /** Resolved ld_imm64 relocation addresses, lo/hi pairs, per function. */
  G: Uint32Array[] = [];
  /** Per function, per call site: the handler's numeric form, if it has one. */
  S: (FastCall | undefined)[][] = [];
  n = 0;
  /** The next count at which the translated code calls limit(): a checkpoint, or the cap. */
  max: number;
  /** The instruction cap of a call (interp.ts insnCap). */
  cap: number;
  /** High half of the last function result. */
  rh = 0;
  /** Offset found by the slow path. */
  off = 0;
  /** Regions already in T. */
  seen = 0;
  /** The region of each tag in T (to follow a change of its writability). */
  R: (Region | undefined)[] = [];
  private stackTags: number[] = [];
  constructor(
    readonly fns: CompiledFn[],
    readonly mem: Memory,
    public opts: RunOptions,
  ) {
    this.cap = insnCap(opts);
    this.max = Math.min(this.cap, CHECKPOINT_EVERY);
  }
  fail(f: number, pc: number, msg: string): never {
    throw new ExecutionError(msg, pc, this.fns[f].insns[pc]);
  }
  /** The count passed `max` in the block starting at `start` (length `len`). Past the cap: stop at the
   *  instruction where the interpreter would (it counts before executing each one). At a checkpoint: call
   *  opts.checkpoint (it may throw) and return the next `max`. */
  limit(f: number, start: number, n: number, len: number): number {
    if (n <= this.max) return this.max; // a callee has moved it on already
    if (n > this.cap) {
      this.n = n;
      return this.fail(f, start + Math.max(0, this.cap - (n - len)), `more than ${this.cap} instructions executed`);
    }
    this.opts.checkpoint?.();
    this.max = Math.min(this.cap, n + CHECKPOINT_EVERY);
    return this.max;
  }
  /** The stack of call depth `depth`: its tag (base = tag << 32, r10 = base + 512). */
  stack(depth: number): number {
    const t = this.stackTags[depth];
    if (t !== undefined) return t;
    const r = this.mem.stack(depth);
    this.ensureTag(r);
    return (this.stackTags[depth] = Number(r.base >> 32n));
  }
  /** Regions mapped at real addresses (the MEM region, --buffers), in mapping order: the slow path
   *  finds them by comparing numbers (their addresses are user addresses, far below 2^53). */
  X: { at: number; len: number; dv: DataView; r: Region }[] = [];
  private exactSeen = new Set<Region>();
  ensureTag(r: Region): void {
    if (r.exact) {
      if (!this.exactSeen.has(r) && r.base < 1n << 53n) {
        this.exactSeen.add(r);
        this.X.push({ at: Number(r.base), len: r.bytes.length, dv: new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength), r });
      }
      return;
    }
    if (r.base & 0xffffffffn) return;
    const tag = Number(r.base >> 32n);
    if (!this.T[tag]) {
      this.T[tag] = { dv: new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength), len: r.bytes.length, w: r.writable };
      this.R[tag] = r;
    }
  }
  /** After a helper call: regions it mapped (a hash map element, a ring buffer record) get their tags,
   *  and a region it made read-only (a submitted or discarded record, the pointer in r1) is read-only
   *  for the fast path too. */
  sync(a1h: number): void {
    const regions = this.mem.regionList();
    if (regions.length !== this.seen) {
      for (let k = this.seen; k < regions.length; k++) this.ensureTag(regions[k]);
      this.seen = regions.length;
    }
    const t = this.T[a1h];
    if (t !== undefined) t.w = this.R[a1h]!.writable;
  }
  /** A failed fast check: resolve like the interpreter; returns the DataView (offset in `off`) or stops the run. */
  slow(f: number, pc: number, lo: number, hi: number, size: number, write: boolean): DataView {
    // A region at a real address, when no tagged region's 4 GiB window holds the address (the
    // interpreter's resolve takes the first region in mapping order whose range holds it, and tags are
    // 1 .. tagLimit - 1): the access, if it passes the checks; anything else is resolved as before.
    if (hi >= this.mem.tagLimit() && hi < 2097152) {
      const a = hi * 4294967296 + lo;
      for (const x of this.X)
        if (a >= x.at && a < x.at + Math.max(x.len, 1)) {
          const off = a - x.at;
          if (off + size <= x.len && (!write || x.r.writable)) {
            this.off = off;
            return x.dv;
          }
          break;
        }
    }
    const x = this.mem.resolve((BigInt(hi) << 32n) | BigInt(lo), size, write);
    if (typeof x === "string") return this.fail(f, pc, x);
    this.off = x.off;
    return new DataView(x.r.bytes.buffer, x.r.bytes.byteOffset, x.r.bytes.byteLength);
  }
  /** Call site `k` of function `f` (at instruction `pc`): its handler was resolved when the function
   *  joined this runtime (compile), so a call is no lookup by name. */
  call(f: number, pc: number, k: number, a1l: number, a1h: number, a2l: number, a2h: number, a3l: number, a3h: number, a4l: number, a4h: number, a5l: number, a5h: number): number {
    const site = this.fns[f].sites[k];
    const { kind, name, imm } = site;
    const h = site.h;
    if (!h) return this.fail(f, pc, `call of unknown ${kind === 2 ? name : `helper ${imm}`}`);
    // (A handler with a numeric form is called by the translated code itself: translate.ts callCode.)
    const args = [big(a1l, a1h), big(a2l, a2h), big(a3l, a3h), big(a4l, a4h), big(a5l, a5h)];
    let v: bigint;
    try {
      v = BigInt.asUintN(64, h(args, this.mem));
    } catch (e) {
      return this.refused(f, pc, kind, name, imm, e);
    } finally {
      if (kind !== 2) this.sync(a1h);
    }
    this.rh = Number(v >> 32n);
    return Number(v & 0xffffffffn);
  }
  /** The numeric form of call site k threw (see refused). */
  refusedAt(f: number, pc: number, k: number, e: unknown): never {
    const site = this.fns[f].sites[k];
    return this.refused(f, pc, site.kind, site.name, site.imm, e);
  }
  /** A helper or kfunc refused its arguments: the program's fault at this call (the interpreter's rule). */
  refused(f: number, pc: number, kind: number, name: string, imm: number, e: unknown): never {
    if (e instanceof ExecutionError || !(e instanceof Error) || (e as { fatal?: boolean }).fatal) throw e;
    return this.fail(f, pc, `${kind === 2 ? name : `helper ${imm}`}: ${e.message}`);
  }
  sub(f: number, pc: number, name: string, depth: number, a1l: number, a1h: number, a2l: number, a2h: number, a3l: number, a3h: number, a4l: number, a4h: number, a5l: number, a5h: number): number {
    const target = this.opts.subprograms?.[name];
    if (!target) return this.fail(f, pc, `call of unknown subprogram ${name}`);
    const fn = compile(target, this);
    return fn.js(this, depth, fn.index, a1l, a1h, a2l, a2h, a3l, a3h, a4l, a4h, a5l, a5h);
  }
  /** 64-bit helpers through BigInt (rare operations): the result's low half, high half in `rh`. */
  op64(op: number, al: number, ah: number, bl: number, bh: number): number {
    const a = big(al, ah);
    const b = big(bl, bh);
    let r: bigint;
    switch (op) {
      case AluOp.MUL: r = a * b; break;
      case AluOp.DIV: r = b === 0n ? 0n : a / b; break;
      case AluOp.MOD: r = b === 0n ? a : a % b; break;
      case AluOp.DIV | OP64_SIGNED: r = b === 0n ? 0n : BigInt.asIntN(64, a) / BigInt.asIntN(64, b); break;
      case AluOp.MOD | OP64_SIGNED: r = b === 0n ? a : BigInt.asIntN(64, a) % BigInt.asIntN(64, b); break;
      case AluOp.LSH: r = a << (b & 63n); break;
      case AluOp.RSH: r = a >> (b & 63n); break;
      case AluOp.ARSH: r = BigInt.asIntN(64, a) >> (b & 63n); break;
      default: throw new Error(`op64 ${op}`);
    }
    r = BigInt.asUintN(64, r);
    this.rh = Number(r >> 32n);
    return Number(r & 0xffffffffn);
  }
}

function big(lo: number, hi: number): bigint {
  return hi === 0 ? BigInt(lo >>> 0) : (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

type JsFn = (rt: Runtime, depth: number, F: number, ...args: number[]) => number;

/** A kfunc or helper may also offer this numeric form (arguments r1-r3 as 32-bit halves; the result a
 *  number in -2^31..2^53): the translation calls it instead of converting to and from BigInt. It must
 *  compute exactly what the BigInt form computes. */
export type FastCall = (a1l: number, a1h: number, a2l: number, a2h: number, a3l: number, a3h: number) => number;

/** A call instruction of a translated function: helper (kind 0) or kfunc (kind 2). */
interface CallSite {
  kind: number;
  name: string;
  imm: number;
}

/** A call site with its handler for this run (undefined: unknown, the call stops the run). */
interface BoundSite extends CallSite {
  h: CallHandler | undefined;
  fast: FastCall | undefined;
}

interface CompiledFn {
  insns: Insn[];
  index: number;
  /** Relocated ld_imm64s: (symbol, addend) in the order of G's pairs. */
  relocs: { symbol: string; addend: bigint }[];
  /** Helper and kfunc calls in the order of their site numbers. */
  calls: CallSite[];
  /** The call sites bound to this run's handlers (set by compile). */
  sites: BoundSite[];
  js: JsFn;
}

/** Translations by instruction array (the image's arrays live as long as the image). */
const cache = new WeakMap<Insn[], Omit<CompiledFn, "index" | "sites">>();

/** The translation of `insns`, registered in the runtime's function table. */
function compile(insns: Insn[], rt: Runtime): CompiledFn {
  let entry = (rt as unknown as { byInsns?: Map<Insn[], CompiledFn> }).byInsns?.get(insns);
  if (entry) return entry;
  let t = cache.get(insns);
  if (!t) {
    t = translateFunction(insns);
    cache.set(insns, t);
  }
  const index = rt.fns.length;
  const tt = t;
  const sites = tt.calls.map((c): BoundSite => {
    // The interpreter's lookups (interp.ts), once per run instead of once per call.
    const h = c.kind === 2 ? rt.opts.kfuncs[c.name] : rt.opts.helpers?.[c.imm];
    return { ...c, h, fast: h ? (h as { fast?: FastCall }).fast : undefined };
  });
  entry = { ...tt, index, sites };
  // Relocation addresses for this run.
  const G = new Uint32Array(tt.relocs.length * 2);
  tt.relocs.forEach((x, i) => {
    const v = BigInt.asUintN(64, rt.opts.globalAddress(x.symbol, x.addend));
    G[2 * i] = Number(v & 0xffffffffn);
    G[2 * i + 1] = Number(v >> 32n);
  });
  rt.fns.push(entry);
  rt.G[index] = G;
  rt.S[index] = sites.map((x) => x.fast);
  const m = ((rt as unknown as { byInsns?: Map<Insn[], CompiledFn> }).byInsns ??= new Map());
  m.set(insns, entry);
  return entry;
}

/** Run a program from instruction 0 with r1 = ctx, translated: the interpreter's `run`, faster. */
export function runTranslated(insns: Insn[], ctx: bigint, mem: Memory, opts: RunOptions): { r0: bigint; executed: number } {
  const lo = runTranslatedLow(insns, ctx, mem, opts);
  return { r0: big(lo, lastRun.hi), executed: lastRun.executed };
}

/** What the last translated run left besides r0's low half: the instruction count, r0's high half. */
export const lastRun = { executed: 0, hi: 0 };

/** runTranslated without an allocation: r0's low 32 bits (unsigned); the rest in lastRun. */
export function runTranslatedLow(insns: Insn[], ctx: bigint, mem: Memory, opts: RunOptions): number {
  // The driver calls the same program with the same context, memory and options at every loop_step:
  // then the stepper is the previous call's.
  let l = last;
  if (l === undefined || l.insns !== insns || l.mem !== mem || l.opts !== opts || l.ctx !== ctx) last = l = { insns, mem, opts, ctx, step: translatedStepper(insns, ctx, mem, opts) };
  return l.step();
}

/**
 * The program's loop_step call, translated, with every lookup done once (the driver's loop calls it at
 * every step): returns r0's low 32 bits (unsigned); the instruction count and r0's high half in lastRun.
 */
export function translatedStepper(insns: Insn[], ctx: bigint, mem: Memory, opts: RunOptions): () => number {
  // A function too big to translate in reasonable time (V8 compiles one JavaScript function per BPF
  // function): the interpreter runs the program instead, with the same results.
  if (tooBig(insns, opts))
    return () => {
      const r = run(insns, ctx, mem, opts);
      const v = BigInt.asUintN(64, r.r0);
      lastRun.executed = r.executed;
      lastRun.hi = Number(v >> 32n);
      return Number(v & 0xffffffffn);
    };
  // One runtime per address space: its region table and relocated addresses stay valid across the
  // loop_step calls of a run (the driver maps every region before the first call).
  let rt = runtimes.get(mem);
  // (Call sites are bound to the handlers of the options the runtime was made with.)
  if (!rt || rt.opts.globalAddress !== opts.globalAddress || rt.opts.kfuncs !== opts.kfuncs || rt.opts.helpers !== opts.helpers) {
    rt = new Runtime([], mem, opts);
    runtimes.set(mem, rt);
  }
  rt.opts = opts;
  rt.cap = insnCap(opts);
  const c = BigInt.asUintN(64, ctx);
  const lo = Number(c & 0xffffffffn);
  const hi = Number(c >> 32n);
  const fn = compile(insns, rt);
  const js = fn.js;
  const index = fn.index;
  const art = rt;
  return () => {
    art.n = 0;
    art.max = Math.min(art.cap, CHECKPOINT_EVERY);
    const regions = mem.regionList();
    if (regions.length !== art.seen) {
      for (let k = art.seen; k < regions.length; k++) art.ensureTag(regions[k]);
      art.seen = regions.length;
    }
    const r0 = js(art, 0, index, lo, hi, 0, 0, 0, 0, 0, 0, 0, 0);
    lastRun.executed = art.n;
    lastRun.hi = art.rh;
    return r0;
  };
}

/** The previous runTranslated call's stepper (see there). */
let last: { insns: Insn[]; mem: Memory; opts: RunOptions; ctx: bigint; step: () => number } | undefined;

const runtimes = new WeakMap<Memory, Runtime>();

/** Functions above this many instructions are interpreted, not translated. */
export const MAX_TRANSLATED_INSNS = 16384;
const bigness = new WeakMap<Insn[], boolean>();

/** Whether runTranslated translates a program (and its subprograms) rather than interpreting it. */
export function translatable(insns: Insn[], subprograms?: Record<string, Insn[]>): boolean {
  const small = (f: Insn[]) => f.length <= MAX_TRANSLATED_INSNS;
  return small(insns) && Object.values(subprograms ?? {}).every(small);
}

function tooBig(insns: Insn[], opts: RunOptions): boolean {
  let b = bigness.get(insns);
  if (b === undefined) {
    b = !translatable(insns, opts.subprograms);
    bigness.set(insns, b);
  }
  return b;
}

/** What translation knows about a register within a basic block: the address of relocation `g` (its
 *  index in G's pairs) plus `add`, or (s) the stack base of this call plus `add` (r10 is base + 512). */
type Known = { g: number; add: number } | { s: true; add: number };

/** The translation state of one function (insnCode's context). */
interface Tx {
  insns: Insn[];
  target: (i: number) => number | undefined;
  relocs: { symbol: string; addend: bigint }[];
  calls: CallSite[];
  fail: (i: number, msg: string) => string;
  L: (r: number) => string;
  H: (r: number) => string;
  /** Known register contents at the current instruction (reset at each block start). */
  known: (Known | undefined)[];
  /** r10 is never written in this function: it is the stack base + 512 everywhere. */
  fpConst: boolean;
  /** Relocations whose region the code reads through the g* locals. */
  gUsed: Set<number>;
}

/** Registers an instruction may write (an over-approximation is safe: it only forgets what is known). */
function writtenRegs(ins: Insn): number[] {
  const cls = insnClass(ins.opcode);
  if (isAluClass(cls) || cls === Class.LDX || cls === Class.LD) return [ins.dst];
  if (isJmpClass(cls)) return opField(ins.opcode) === JmpOp.CALL ? [0, 1, 2, 3, 4, 5] : [];
  if (cls === Class.STX && modeField(ins.opcode) === Mode.ATOMIC) return [0, ins.dst, ins.src];
  return [];
}

/** Update `tx.known` past instruction `ins` (translated: its relocation, if any, is in tx.relocs). */
function learn(tx: Tx, ins: Insn): void {
  const cls = insnClass(ins.opcode);
  const k = tx.known;
  const d = ins.dst;
  if (cls === Class.ALU64 && d <= 10) {
    const op = opField(ins.opcode);
    const cur = k[d];
    if (!srcIsReg(ins.opcode) && cur && (op === AluOp.ADD || op === AluOp.SUB)) {
      k[d] = { ...cur, add: cur.add + (op === AluOp.ADD ? ins.imm | 0 : -(ins.imm | 0)) };
      return;
    }
    if (srcIsReg(ins.opcode) && op === AluOp.MOV && ins.off === 0 && ins.src <= 10) {
      k[d] = baseKnown(tx, ins.src);
      return;
    }
  }
  if (isLdImm64(ins.opcode) && d <= 10) {
    const sym = ins.reloc?.kind === "global" ? ins.reloc.symbol : undefined;
    const g = sym === undefined ? -1 : tx.relocs.findIndex((x) => x.symbol === sym && x.addend === (ins.imm64 ?? 0n));
    k[d] = g >= 0 ? { g, add: 0 } : undefined;
    return;
  }
  for (const r of writtenRegs(ins)) if (r <= 10) k[r] = undefined;
}

/** What is known about register r as an address base. */
function baseKnown(tx: Tx, r: number): Known | undefined {
  return r === 10 ? (tx.fpConst ? { s: true, add: 512 } : undefined) : tx.known[r];
}

/** Generate the JavaScript of one function. Exported for tests (the source is readable). */
export function translateSource(insns: Insn[]): { source: string; relocs: { symbol: string; addend: bigint }[]; calls: CallSite[] } {
  const { indexAt: slotToIdx, slotOf } = slotLayout(insns);
  const target = (i: number) => slotToIdx.get(jumpTarget(insns[i], slotOf[i]));
  // Leaders: the entry, jump targets, and the instruction after a jump or exit.
  const leaders = new Set<number>([0]);
  insns.forEach((ins, i) => {
    if (!endsBlock(ins.opcode)) return; // calls do not end a block
    if (i + 1 <= insns.length) leaders.add(i + 1);
    if (hasJumpTarget(ins.opcode)) {
      const t = target(i);
      if (t !== undefined) leaders.add(t);
    }
  });
  const tx: Tx = {
    insns,
    target,
    relocs: [],
    calls: [],
    fail: (i: number, msg: string) => `rt.fail(F, ${i}, ${JSON.stringify(msg)})`,
    L: (r: number) => `l${r}`,
    H: (r: number) => `h${r}`,
    known: [],
    fpConst: insns.every((ins) => !writtenRegs(ins).includes(10)),
    gUsed: new Set(),
  };
  const { fail, L, H } = tx;
  const out: string[] = [];
  const sorted = [...leaders].filter((x) => x <= insns.length).sort((a, b) => a - b);
  for (let bi = 0; bi < sorted.length; bi++) {
    const start = sorted[bi];
    const end = bi + 1 < sorted.length ? sorted[bi + 1] : insns.length;
    out.push(`case ${start}:`);
    if (start === insns.length) {
      out.push(`${fail(start, "fell off the end of the program")};`);
      continue;
    }
    out.push(`if ((n += ${end - start}) > max) max = rt.limit(F, ${start}, n, ${end - start});`);
    // Nothing is known about registers where control can arrive from elsewhere.
    tx.known = [];
    for (let i = start; i < end; i++) {
      out.push(insnCode(tx, i));
      learn(tx, insns[i]);
    }
    // A block that does not end with a jump falls through into the next case (or off the end).
    if (end === insns.length) out.push(`${fail(end, "fell off the end of the program")};`);
  }
  const params = [1, 2, 3, 4, 5].map((r) => `${L(r)}, ${H(r)}`).join(", ");
  // The regions of the relocations the code reads or writes directly: gD (its DataView), gO (the
  // offset of the relocated address in it), gA (bytes from there to the region's end, -1 when the
  // address is not in a tagged region), gW (gA when the region is writable, else -1). Set at entry and
  // again after each helper or subprogram call (a helper may change a region's writability).
  const g = [...tx.gUsed].sort((a, b) => a - b);
  const gDecl = g.map((k) => `let gD${k} = SD, gO${k} = G[${2 * k}], gA${k} = -1, gW${k} = -1;`);
  const gSet = g.map((k) => `if ((r = T[G[${2 * k + 1}]]) !== undefined) { gD${k} = r.dv; gA${k} = r.len - gO${k}; gW${k} = r.w ? gA${k} : -1; } else gA${k} = gW${k} = -1;`).join(" ");
  const source = [
    `"use strict";`,
    `return function bpf(rt, depth, F, ${params}) {`,
    `if (depth >= 8) rt.fail(F, 0, "more than 8 nested calls");`,
    `const T = rt.T, G = rt.G[F], S = rt.S[F];`,
    `let l0 = 0, h0 = 0, l6 = 0, h6 = 0, l7 = 0, h7 = 0, l8 = 0, h8 = 0, l9 = 0, h9 = 0, l10 = 512, h10 = rt.stack(depth);`,
    `let pc = 0, r, a, b, c, o, dv, x, y, z, fc, fv = 0, mg = ${MAY_GOTO_BUDGET}, n = rt.n;`,
    `let max = rt.max;`,
    `const SD = T[h10].dv;`,
    ...gDecl,
    gSet,
    `for (;;) switch (pc) {`,
    ...out.map((line) => line.replaceAll("/*GSET*/", gSet)),
    `default: ${fail(0, "bad jump")};`,
    `}`,
    `};`,
  ].join("\n");
  return { source, relocs: tx.relocs, calls: tx.calls };
}

/** Compiled functions by their source: the same code (the same object run again) reuses V8's optimized
 *  code instead of warming up a new function. Bounded; the oldest entry goes first. */
const bySource = new Map<string, JsFn>();
const MAX_CACHED = 256;

function translateFunction(insns: Insn[]): Omit<CompiledFn, "index" | "sites"> {
  const { source, relocs, calls } = translateSource(insns);
  let js = bySource.get(source);
  if (!js) {
    js = new Function(source)() as JsFn;
    if (bySource.size >= MAX_CACHED) bySource.delete(bySource.keys().next().value!);
    bySource.set(source, js);
  }
  return { insns, relocs, calls, js };
}

/** The code of instruction i (a statement, or several). */
function insnCode(tx: Tx, i: number): string {
  const { insns, target, relocs, fail, L, H } = tx;
  const ins = insns[i];
  const cls = insnClass(ins.opcode);
  const d = ins.dst;
  const s = ins.src;
  const hex = `0x${ins.opcode.toString(16)}`;
  // Registers are r0-r10; src of call and ld_imm64 is a pseudo number (the interpreter's rule).
  if (d > 10 || (s > 10 && srcIsRegisterField(ins.opcode))) return `${fail(i, `invalid register r${d > 10 ? d : s}`)};`;
  const dl = L(d), dh = H(d), sl = L(s), sh = H(s);
  const imm = ins.imm | 0;
  const immLo = `${imm >>> 0}`;
  const immHi = imm < 0 ? "4294967295" : "0";
  const K = !srcIsReg(ins.opcode);
  // ---------------- ALU ----------------
  if (isAluClass(cls)) {
    const op = opField(ins.opcode);
    const wide = cls === Class.ALU64;
    const bl = K ? immLo : sl;
    const bh = K ? immHi : sh;
    if (!wide) {
      // 32-bit: operate on the low halves; the result zero-extends.
      let e: string;
      switch (op) {
        case AluOp.ADD: e = `(${dl} + ${bl}) >>> 0`; break;
        case AluOp.SUB: e = `(${dl} - ${bl}) >>> 0`; break;
        case AluOp.MUL: e = `Math.imul(${dl}, ${bl}) >>> 0`; break;
        case AluOp.DIV:
          e = ins.off === 1 ? `(b = ${bl} | 0) === 0 ? 0 : ((a = ${dl} | 0) === -2147483648 && b === -1 ? a : (a / b) | 0) >>> 0` : `(b = ${bl}) === 0 ? 0 : Math.floor(${dl} / b) >>> 0`;
          break;
        case AluOp.OR: e = `(${dl} | ${bl}) >>> 0`; break;
        case AluOp.AND: e = `(${dl} & ${bl}) >>> 0`; break;
        case AluOp.LSH: e = `(${dl} << (${bl} & 31)) >>> 0`; break;
        case AluOp.RSH: e = `${dl} >>> (${bl} & 31)`; break;
        case AluOp.NEG: e = `(-${dl}) >>> 0`; break;
        case AluOp.MOD:
          e = ins.off === 1 ? `(b = ${bl} | 0) === 0 ? ${dl} : (((${dl} | 0) % b) | 0) >>> 0` : `(b = ${bl}) === 0 ? ${dl} : ${dl} % b`;
          break;
        case AluOp.XOR: e = `(${dl} ^ ${bl}) >>> 0`; break;
        case AluOp.MOV:
          if (ins.off === 8) e = `((${bl} << 24) >> 24) >>> 0`;
          else if (ins.off === 16) e = `((${bl} << 16) >> 16) >>> 0`;
          else e = bl;
          break;
        case AluOp.ARSH: e = `((${dl} | 0) >> (${bl} & 31)) >>> 0`; break;
        case AluOp.END: {
          // to_le (K) truncates on this little-endian machine; to_be (X) swaps the low imm bits.
          if (imm !== 16 && imm !== 32 && imm !== 64) return `${fail(i, `unsupported opcode ${hex}`)};`;
          if (K) return imm === 16 ? `${dl} &= 0xffff; ${dh} = 0;` : imm === 32 ? `${dh} = 0;` : ``;
          return swapCode(dl, dh, imm);
        }
        default: return `${fail(i, `unsupported ALU opcode ${hex}`)};`;
      }
      return `${dl} = ${e}; ${dh} = 0;`;
    }
    switch (op) {
      case AluOp.ADD: return `a = ${dl} + ${bl}; ${dh} = (${dh} + ${bh} + (a > 4294967295 ? 1 : 0)) >>> 0; ${dl} = a >>> 0;`;
      case AluOp.SUB: return `a = ${dl} - ${bl}; ${dh} = (${dh} - ${bh} - (a < 0 ? 1 : 0)) >>> 0; ${dl} = a >>> 0;`;
      case AluOp.OR: return `${dl} = (${dl} | ${bl}) >>> 0; ${dh} = (${dh} | ${bh}) >>> 0;`;
      case AluOp.AND: return `${dl} = (${dl} & ${bl}) >>> 0; ${dh} = (${dh} & ${bh}) >>> 0;`;
      case AluOp.XOR: return `${dl} = (${dl} ^ ${bl}) >>> 0; ${dh} = (${dh} ^ ${bh}) >>> 0;`;
      case AluOp.NEG: return `${dh} = (-${dh} - (${dl} !== 0 ? 1 : 0)) >>> 0; ${dl} = (-${dl}) >>> 0;`;
      case AluOp.MOV:
        if (ins.off === 8) return `${dl} = ((${bl} << 24) >> 24) >>> 0; ${dh} = ${dl} & 0x80000000 ? 4294967295 : 0;`;
        if (ins.off === 16) return `${dl} = ((${bl} << 16) >> 16) >>> 0; ${dh} = ${dl} & 0x80000000 ? 4294967295 : 0;`;
        if (ins.off === 32) return `${dl} = ${bl}; ${dh} = ${dl} & 0x80000000 ? 4294967295 : 0;`;
        return `${dl} = ${bl}; ${dh} = ${bh};`;
      case AluOp.LSH: case AluOp.RSH: case AluOp.ARSH:
        if (K) return shiftImm(op, dl, dh, imm & 63);
        return `${dl} = rt.op64(${op}, ${dl}, ${dh}, ${bl}, ${bh}); ${dh} = rt.rh;`;
      case AluOp.MUL: case AluOp.DIV: case AluOp.MOD: {
        const code = op | (ins.off === 1 && op !== AluOp.MUL ? OP64_SIGNED : 0);
        return `${dl} = rt.op64(${code}, ${dl}, ${dh}, ${bl}, ${bh}); ${dh} = rt.rh;`;
      }
      case AluOp.END:
        // BPF_ALU64 | BPF_END: bswap16/32/64 (cpu v4), unconditional.
        if (imm !== 16 && imm !== 32 && imm !== 64) return `${fail(i, `unsupported opcode ${hex}`)};`;
        return swapCode(dl, dh, imm);
      default: return `${fail(i, `unsupported ALU opcode ${hex}`)};`;
    }
  }
  // ---------------- JMP ----------------
  if (isJmpClass(cls)) {
    const op = opField(ins.opcode);
    const t = target(i);
    const jump = t === undefined ? `${fail(i, `jump to slot ${slotOfStr(insns, i)} outside the program`)};` : `{ pc = ${t}; continue; }`;
    if (cls === Class.JMP && op === JmpOp.JA) {
      // gotol (BPF_JMP32 | BPF_JA) takes its offset from imm; plain ja from off.
      return jump;
    }
    if (cls === Class.JMP32 && op === JmpOp.JA) {
      if (ins.opcode !== Opcode.GOTOL) return `${fail(i, `unsupported jump opcode ${hex}`)};`;
      return jump;
    }
    if (cls === Class.JMP && op === JmpOp.EXIT) return `rt.n = n; rt.rh = h0; return l0;`;
    if (cls === Class.JMP && op === JmpOp.JCOND) {
      // may_goto: falls through MAY_GOTO_BUDGET times per function call (the interpreter's rule), then jumps.
      return `if (mg === 0) ${jump} else mg--;`;
    }
    if (cls === Class.JMP && op === JmpOp.CALL) {
      const clobber = `l1 = l2 = l3 = l4 = l5 = 3735928559; h1 = h2 = h3 = h4 = h5 = 0;`;
      const args = [1, 2, 3, 4, 5].map((r) => `${L(r)}, ${H(r)}`).join(", ");
      if (ins.reloc?.kind === "kfunc" || ins.src === PSEUDO_KFUNC_CALL) {
        const name = ins.reloc?.symbol ?? "";
        if (!ins.reloc) return `${fail(i, `call of unknown kfunc #${ins.imm}`)};`;
        tx.calls.push({ kind: 2, name, imm: 0 });
        return `${callCode(i, tx.calls.length - 1, args)} ${clobber}`;
      }
      if (ins.src === PSEUDO_CALL) {
        if (!ins.reloc) return `${fail(i, `call of unknown subprogram ${ins.imm}`)};`;
        return `rt.n = n; l0 = rt.sub(F, ${i}, ${JSON.stringify(ins.reloc.symbol)}, depth + 1, ${args}); h0 = rt.rh; n = rt.n; ${clobber} /*GSET*/`;
      }
      tx.calls.push({ kind: 0, name: "", imm });
      return `${callCode(i, tx.calls.length - 1, args)} ${clobber} /*GSET*/`;
    }
    const wide = cls === Class.JMP;
    const bl = K ? immLo : sl;
    const bh = K ? immHi : sh;
    let c: string;
    if (!wide) {
      const a = dl, b = bl;
      switch (op) {
        case JmpOp.JEQ: c = `${a} === ${b}`; break;
        case JmpOp.JGT: c = `${a} > ${b}`; break;
        case JmpOp.JGE: c = `${a} >= ${b}`; break;
        case JmpOp.JSET: c = `(${a} & ${b}) !== 0`; break;
        case JmpOp.JNE: c = `${a} !== ${b}`; break;
        case JmpOp.JSGT: c = `(${a} | 0) > (${b} | 0)`; break;
        case JmpOp.JSGE: c = `(${a} | 0) >= (${b} | 0)`; break;
        case JmpOp.JLT: c = `${a} < ${b}`; break;
        case JmpOp.JLE: c = `${a} <= ${b}`; break;
        case JmpOp.JSLT: c = `(${a} | 0) < (${b} | 0)`; break;
        case JmpOp.JSLE: c = `(${a} | 0) <= (${b} | 0)`; break;
        default: return `${fail(i, `unsupported jump opcode ${hex}`)};`;
      }
    } else {
      const ucmp = (rel: string) => `(${dh} !== ${bh} ? ${dh} ${rel} ${bh} : ${dl} ${rel} ${bl})`;
      const scmp = (rel: string) => `(${dh} !== ${bh} ? (${dh} | 0) ${rel} (${bh} | 0) : ${dl} ${rel} ${bl})`;
      switch (op) {
        case JmpOp.JEQ: c = `${dl} === ${bl} && ${dh} === ${bh}`; break;
        case JmpOp.JNE: c = `${dl} !== ${bl} || ${dh} !== ${bh}`; break;
        case JmpOp.JSET: c = `(${dl} & ${bl}) !== 0 || (${dh} & ${bh}) !== 0`; break;
        case JmpOp.JGT: c = ucmp(">"); break;
        case JmpOp.JGE: c = ucmp(">="); break;
        case JmpOp.JLT: c = ucmp("<"); break;
        case JmpOp.JLE: c = ucmp("<="); break;
        case JmpOp.JSGT: c = scmp(">"); break;
        case JmpOp.JSGE: c = scmp(">="); break;
        case JmpOp.JSLT: c = scmp("<"); break;
        case JmpOp.JSLE: c = scmp("<="); break;
        default: return `${fail(i, `unsupported jump opcode ${hex}`)};`;
      }
    }
    return `if (${c}) ${jump}`;
  }
  // ---------------- ld_imm64 ----------------
  if (isLdImm64(ins.opcode)) {
    if (ins.reloc?.kind === "global") {
      // The same (symbol, addend) shares one pair (and one set of g* locals).
      const addend = ins.imm64 ?? 0n;
      let k = relocs.findIndex((x) => x.symbol === ins.reloc!.symbol && x.addend === addend);
      if (k < 0) k = relocs.push({ symbol: ins.reloc.symbol, addend }) - 1;
      return `${dl} = G[${2 * k}]; ${dh} = G[${2 * k + 1}];`;
    }
    const v = BigInt.asUintN(64, ins.imm64 ?? BigInt(ins.imm));
    return `${dl} = ${Number(v & 0xffffffffn)}; ${dh} = ${Number(v >> 32n)};`;
  }
  // ---------------- loads and stores ----------------
  const mode = modeField(ins.opcode);
  const size = sizeBytes(ins.opcode);
  // MEM (ldx/stx/st); MEMSX on LDX (cpu v4 ldsx: the loaded value sign-extended to 64 bits).
  const signed = mode === Mode.MEMSX && cls === Class.LDX && size !== 8;
  if ((mode === Mode.MEM && (cls === Class.LDX || cls === Class.ST || cls === Class.STX)) || signed) {
    const write = cls !== Class.LDX;
    const base = write ? d : s;
    const off = ins.off | 0;
    // Address = base + off (64-bit); the region by the high half.
    // Address = base + off (64-bit). The fast path: no carry into the high half, whose value is then
    // the region's tag (the same T[h] load for every access through an unchanged base, which V8 can
    // share); an access whose low half wraps, like every failed check, goes to the slow path with the
    // address's halves as they are.
    const addr =
      off === 0 ? `a = ${L(base)};`
      : off > 0 ? `a = ${L(base)} + ${off};`
      : `a = ${L(base)} - ${-off};`;
    const noCarry = off === 0 ? `` : off > 0 ? `a < 4294967296 && ` : `a >= 0 && `;
    const halves =
      off === 0 ? `c = ${H(base)};`
      : off > 0 ? `c = ${H(base)}; if (a > 4294967295) { a -= 4294967296; c = (c + 1) >>> 0; }`
      : `c = ${H(base)}; if (a < 0) { a += 4294967296; c = (c - 1) >>> 0; }`;
    const fast = `${noCarry}(r = T[${H(base)}]) !== undefined && ${write ? "r.w && " : ""}a + ${size} <= r.len`;
    let pick = `if (${fast}) { dv = r.dv; o = a; } else { ${halves} dv = rt.slow(F, ${i}, a, c, ${size}, ${write}); o = rt.off; }`;
    // A base the block knows: the stack at a constant offset inside the frame needs no check at all; a
    // relocated global (plus a constant) is checked against its region's bytes from that address
    // (computed at entry), and anything else takes the general path.
    const kb = baseKnown(tx, base);
    const total = kb ? kb.add + off : -1;
    if (kb && "s" in kb && total >= 0 && total + size <= 512) pick = `dv = SD; o = ${total};`;
    else if (kb && "g" in kb && total >= 0) {
      tx.gUsed.add(kb.g);
      pick = `${addr} if (g${write ? "W" : "A"}${kb.g} >= ${total + size}) { dv = gD${kb.g}; o = gO${kb.g} + ${total}; } else ${pick}`;
    } else pick = `${addr} ${pick}`;
    if (!write && signed) {
      const ld =
        size === 4 ? `${dl} = dv.getInt32(o, true) >>> 0;`
        : size === 2 ? `${dl} = dv.getInt16(o, true) >>> 0;`
        : `${dl} = dv.getInt8(o) >>> 0;`;
      return `${pick} ${ld} ${dh} = ${dl} & 0x80000000 ? 4294967295 : 0;`;
    }
    if (!write) {
      const ld =
        size === 8 ? `${dl} = dv.getUint32(o, true); ${dh} = dv.getUint32(o + 4, true);`
        : size === 4 ? `${dl} = dv.getUint32(o, true); ${dh} = 0;`
        : size === 2 ? `${dl} = dv.getUint16(o, true); ${dh} = 0;`
        : `${dl} = dv.getUint8(o); ${dh} = 0;`;
      return `${pick} ${ld}`;
    }
    const vl = cls === Class.STX ? sl : immLo;
    const vh = cls === Class.STX ? sh : immHi;
    // The value is read before the address registers could change (they cannot: only memory is written).
    const st =
      size === 8 ? `dv.setUint32(o, ${vl}, true); dv.setUint32(o + 4, ${vh}, true);`
      : size === 4 ? `dv.setUint32(o, ${vl}, true);`
      : size === 2 ? `dv.setUint16(o, ${vl} & 0xffff, true);`
      : `dv.setUint8(o, ${vl} & 0xff);`;
    return `${pick} ${st}`;
  }
  if (cls === Class.STX && mode === Mode.ATOMIC) return atomicCode(ins, i, size, fail, L, H);
  return `${fail(i, `unsupported opcode ${hex}`)};`;
}

/**
 * BPF_ATOMIC (STX | ATOMIC), as the interpreter's atomicOp computes it, in the same order of checks:
 * load-acquire (imm 0x100: dst = *(src + off), zero-extended) and store-release (0x110: *(dst + off) =
 * src) of any size; otherwise 4 or 8 bytes: the old value is read (a read's bounds check), the operation
 * decided (add, or, and, xor, xchg, cmpxchg against r0; 0x01 BPF_FETCH returns the old value in src, in
 * r0 for cmpxchg; 32-bit forms work on and zero-extend the low half), and the new value written (a
 * write's check: a read-only region stops the run even when cmpxchg leaves the value as it was). One
 * loop_step runs at a time, so each is its sequential meaning, as in the interpreter.
 */
function atomicCode(ins: Insn, i: number, size: number, fail: (i: number, msg: string) => string, L: (r: number) => string, H: (r: number) => string): string {
  const d = ins.dst;
  const s = ins.src;
  const off = ins.off | 0;
  const imm = ins.imm | 0;
  const addrOf = (base: number) =>
    off === 0 ? `a = ${L(base)}; c = ${H(base)};`
    : off > 0 ? `a = ${L(base)} + ${off}; c = ${H(base)}; if (a > 4294967295) { a -= 4294967296; c = (c + 1) >>> 0; }`
    : `a = ${L(base)} - ${-off}; c = ${H(base)}; if (a < 0) { a += 4294967296; c = (c - 1) >>> 0; }`;
  const pick = (write: boolean) =>
    `if ((r = T[c]) !== undefined && ${write ? "r.w && " : ""}a + ${size} <= r.len) { dv = r.dv; o = a; } else { dv = rt.slow(F, ${i}, a, c, ${size}, ${write}); o = rt.off; }`;
  const load = (dl: string, dh: string) =>
    size === 8 ? `${dl} = dv.getUint32(o, true); ${dh} = dv.getUint32(o + 4, true);`
    : size === 4 ? `${dl} = dv.getUint32(o, true); ${dh} = 0;`
    : size === 2 ? `${dl} = dv.getUint16(o, true); ${dh} = 0;`
    : `${dl} = dv.getUint8(o); ${dh} = 0;`;
  const store = (vl: string, vh: string) =>
    size === 8 ? `dv.setUint32(o, ${vl}, true); dv.setUint32(o + 4, ${vh}, true);`
    : size === 4 ? `dv.setUint32(o, ${vl}, true);`
    : size === 2 ? `dv.setUint16(o, ${vl} & 0xffff, true);`
    : `dv.setUint8(o, ${vl} & 0xff);`;
  if (imm === AtomicOp.LOAD_ACQ) return `${addrOf(s)} ${pick(false)} ${load(L(d), H(d))}`;
  if (imm === AtomicOp.STORE_REL) return `${addrOf(d)} ${pick(true)} ${store(L(s), H(s))}`;
  if (size !== 4 && size !== 8) return `${fail(i, `atomic operation on ${size} bytes`)};`;
  const wide = size === 8;
  // The old value in (ol, oh) = (b, o2)... kept in the scratch locals: b = old low, x = old high.
  const read = `${addrOf(d)} ${pick(false)} b = dv.getUint32(o, true); x = ${wide ? "dv.getUint32(o + 4, true)" : "0"};`;
  const sl = L(s), sh = wide ? H(s) : "0";
  let next: string; // the new value in (y, z)
  switch (imm & ~AtomicOp.FETCH) {
    case AtomicOp.ADD: next = wide ? `y = b + ${sl}; z = (x + ${sh} + (y > 4294967295 ? 1 : 0)) >>> 0; y = y >>> 0;` : `y = (b + ${sl}) >>> 0; z = 0;`; break;
    case AtomicOp.OR: next = `y = (b | ${sl}) >>> 0; z = (x | ${sh}) >>> 0;`; break;
    case AtomicOp.AND: next = `y = (b & ${sl}) >>> 0; z = (x & ${sh}) >>> 0;`; break;
    case AtomicOp.XOR: next = `y = (b ^ ${sl}) >>> 0; z = (x ^ ${sh}) >>> 0;`; break;
    case AtomicOp.XCHG & ~AtomicOp.FETCH: next = `y = ${sl}; z = ${sh};`; break;
    case AtomicOp.CMPXCHG & ~AtomicOp.FETCH: next = wide ? `if (b === l0 && x === h0) { y = ${sl}; z = ${sh}; } else { y = b; z = x; }` : `if (b === l0) { y = ${sl}; z = 0; } else { y = b; z = 0; }`; break;
    default: return `${read} ${fail(i, `unsupported atomic operation 0x${ins.imm.toString(16)}`)};`;
  }
  // xchg and cmpxchg exist only with BPF_FETCH.
  if ((imm & 0xf0) >= (AtomicOp.XCHG & 0xf0) && (imm & AtomicOp.FETCH) === 0) return `${read} ${fail(i, `atomic operation 0x${ins.imm.toString(16)} without BPF_FETCH`)};`;
  // The write's check resolves the same address again (the region may be read-only).
  const write = `${pick(true)} ${wide ? "dv.setUint32(o, y, true); dv.setUint32(o + 4, z, true);" : "dv.setUint32(o, y, true);"}`;
  const result = (imm & AtomicOp.CMPXCHG) === AtomicOp.CMPXCHG ? `l0 = b; h0 = x;` : imm & AtomicOp.FETCH ? `${L(s)} = b; ${H(s)} = x;` : ``;
  return `${read} ${next} ${write} ${result}`;
}

function slotOfStr(insns: Insn[], i: number): number {
  return jumpTarget(insns[i], countSlots(insns.slice(0, i)));
}

/**
 * Call site k (instruction i): a handler with a numeric form (FastCall) is called directly, its result
 * split as rt.call splits it; a refusal (an exception) is the program's fault at this call, as there.
 * Anything else goes through rt.call (BigInt arguments).
 */
function callCode(i: number, k: number, args: string): string {
  return (
    `if ((fc = S[${k}]) !== undefined) { try { fv = fc(l1, h1, l2, h2, l3, h3); } catch (e) { rt.refusedAt(F, ${i}, ${k}, e); } ` +
    `h0 = fv < 0 ? 4294967295 : Math.floor(fv / 4294967296); l0 = fv >>> 0; } else { l0 = rt.call(F, ${i}, ${k}, ${args}); h0 = rt.rh; }`
  );
}

/** Shift a 64-bit register by a constant (0..63). */
function shiftImm(op: number, dl: string, dh: string, k: number): string {
  if (k === 0) return "";
  if (op === AluOp.LSH) {
    if (k < 32) return `${dh} = ((${dh} << ${k}) | (${dl} >>> ${32 - k})) >>> 0; ${dl} = (${dl} << ${k}) >>> 0;`;
    return `${dh} = (${dl} << ${k - 32}) >>> 0; ${dl} = 0;`;
  }
  if (op === AluOp.RSH) {
    if (k < 32) return `${dl} = ((${dl} >>> ${k}) | (${dh} << ${32 - k})) >>> 0; ${dh} = ${dh} >>> ${k};`;
    return `${dl} = ${dh} >>> ${k - 32}; ${dh} = 0;`;
  }
  if (k < 32) return `${dl} = ((${dl} >>> ${k}) | (${dh} << ${32 - k})) >>> 0; ${dh} = ((${dh} | 0) >> ${k}) >>> 0;`;
  return `${dl} = ((${dh} | 0) >> ${k - 32}) >>> 0; ${dh} = ((${dh} | 0) >> 31) >>> 0;`;
}

/** Byte-swap the low `bits` of a register (the result zero-extends). */
function swapCode(dl: string, dh: string, bits: number): string {
  const sw32 = (x: string) => `(((${x} & 0xff) << 24) | ((${x} & 0xff00) << 8) | ((${x} >>> 8) & 0xff00) | (${x} >>> 24)) >>> 0`;
  if (bits === 16) return `${dl} = ((${dl} & 0xff) << 8) | ((${dl} >>> 8) & 0xff); ${dh} = 0;`;
  if (bits === 32) return `${dl} = ${sw32(dl)}; ${dh} = 0;`;
  return `a = ${sw32(dl)}; ${dl} = ${sw32(dh)}; ${dh} = a;`;
}
