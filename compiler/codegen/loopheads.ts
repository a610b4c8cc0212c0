// Loop heads the verifier can converge on. The 7.x verifier proves a converging loop (compiler/frontend/
// loops.ts) by comparing the state at its head (the may_goto, or the bpf_iter_num_next call) with the state
// it saw there on the first pass, by ranges (old contains new) over every register it thinks live. Two
// things in the emitted code can make a later state never fit inside the first one, whatever the loop
// lowering did; then a counter the body pins to exact values (`if (k === 3)` narrows k to 3, so k + 1 is a
// known 4 from then on) is walked one value at a time until "The sequence of 8193 jumps is too complex":
//  - Registers it thinks live that are dead: its liveness lets a call of a subprogram read all of r1-r5,
//    whatever the callee takes, so whatever is left in an unused argument register (a dead copy: 0 on
//    entry, -1 after a pass) is compared too. Fixed here by zeroing those registers before the calls a
//    loop head reaches (they are clobbered by the call anyway).
//  - Scalars linked by a copy (`r6 = r4`, `w1 = w3`, a spill and its fill): the verifier gives both the same
//    id, and a state whose two live registers share an id fits only states where they share one too. A
//    copy on the loop's entry edge (or on one path round the loop) that is not on the others makes every
//    later state differ from the first. Fixed here by `r &= -1` (value unchanged, id cleared) right before
//    the head, on the registers a forward analysis finds may be linked there.
// And one thing the verifier itself does: when a state at the head is new, it widens every imprecise scalar
// that differs from the previous pass's to a 64-bit unknown before walking the body again. A 32-bit value
// (zero-extended on every path, as uringbpf keeps them) that the body leaves as it is, copies with a 64-bit
// move or spills, or that an operation the verifier does not track (a shift or division by a register)
// rewrites, reaches the head again as a 64-bit unknown, and the first state, where it was 32 bits wide,
// never contains the later ones (generated seed 101155). A value the loop only reads changes too when the
// loop compares it (a branch narrows both operands, and the scalars linked with them: seed 104578). Fixed
// here by `w = w` before the head (a 32-bit
// move zero-extends, so the verifier bounds the value to 32 bits again; at run time it changes nothing),
// and for a spilled one by the same move before the spills that reach the head.
// Runs on the emitted instructions after the peephole, labels still symbolic.

import { insnClass, isLdImm64, modeField, opField, sizeField, srcIsReg } from "../bpf/decode";
import * as I from "../bpf/insn";
import type { Insn, InsnOrLabel, Reg } from "../bpf/insn";
import { KFUNC_ITER_NEXT } from "../ir/module";

/** What emission knows about an instruction that the bytes do not say. */
export interface EmitFacts {
  /** Calls: how many arguments the call passes (r1..rN). */
  argc: WeakMap<Insn, number>;
  /** Definitions: whether the value written (r0 for a call) is a pointer. */
  ptr: WeakMap<Insn, boolean>;
}

type Kind = "S" | "P" | "?";
const CALL = I.Class.JMP | I.JmpOp.CALL;
const EXIT = I.Class.JMP | I.JmpOp.EXIT;
const ARG_REGS = [1, 2, 3, 4, 5] as const;

const cls = (x: Insn) => insnClass(x.opcode);
const isAlu = (x: Insn) => cls(x) === I.Class.ALU || cls(x) === I.Class.ALU64;
const isJump = (x: Insn) => cls(x) === I.Class.JMP || cls(x) === I.Class.JMP32;
const isCall = (x: Insn) => x.opcode === CALL;
const isSubprogCall = (x: Insn) => isCall(x) && x.src === I.PSEUDO_CALL;
const isHead = (x: Insn) => x.opcode === I.MAY_GOTO || (isCall(x) && x.reloc?.kind === "kfunc" && x.reloc.symbol === KFUNC_ITER_NEXT);
const isStackAccess = (x: Insn) => (cls(x) === I.Class.LDX ? x.src === 10 : (cls(x) === I.Class.STX || cls(x) === I.Class.ST) && x.dst === 10);

interface Flow {
  insns: Insn[];
  succ: number[][];
  pred: number[][];
}

function flowOf(items: InsnOrLabel[]): Flow {
  const insns: Insn[] = [];
  const at = new Map<string, number>();
  for (const x of items) {
    if (I.isLabel(x)) at.set(x.label, insns.length);
    else insns.push(x);
  }
  const succ = insns.map((x, k) => {
    const out: number[] = [];
    const target = x.label !== undefined && !isCall(x) ? at.get(x.label) : undefined;
    if (x.opcode === EXIT) return out;
    const ja = x.opcode === (I.Class.JMP | I.JmpOp.JA);
    if (!ja && k + 1 < insns.length) out.push(k + 1);
    if (target !== undefined) out.push(target);
    return out;
  });
  const pred: number[][] = insns.map(() => []);
  succ.forEach((s, k) => s.forEach((t) => pred[t].push(k)));
  return { insns, succ, pred };
}

/** A forward analysis to its fixed point: the state before each instruction (undefined: unreached). */
function forward<S>(flow: Flow, entry: S, copy: (st: S) => S, step: (k: number, st: S) => void, join: (into: S, from: S) => boolean): (S | undefined)[] {
  const inState: (S | undefined)[] = new Array(flow.insns.length);
  inState[0] = entry;
  const work = [0];
  const queued = new Set(work);
  while (work.length) {
    const k = work.shift()!;
    queued.delete(k);
    const st = copy(inState[k]!);
    step(k, st);
    for (const s of flow.succ[k]) {
      const target = inState[s];
      const changed = target ? join(target, st) : ((inState[s] = copy(st)), true);
      if (changed && !queued.has(s)) {
        queued.add(s);
        work.push(s);
      }
    }
  }
  return inState;
}

/** Registers an instruction reads; `verifier`: as the verifier's liveness counts them (a subprogram call
 *  reads r1-r5), else as the program does. */
function uses(x: Insn, facts: EmitFacts, verifier: boolean): number[] {
  const c = cls(x);
  if (isCall(x)) {
    const n = verifier && isSubprogCall(x) ? 5 : facts.argc.get(x) ?? 5;
    return ARG_REGS.slice(0, n);
  }
  if (x.opcode === EXIT) return [0];
  if (x.opcode === I.MAY_GOTO || x.opcode === (I.Class.JMP | I.JmpOp.JA)) return [];
  if (isAlu(x)) {
    const op = opField(x.opcode);
    const reg = srcIsReg(x.opcode) && op !== I.AluOp.NEG && op !== I.AluOp.END;
    const r = op === I.AluOp.MOV ? [] : [x.dst];
    return reg ? [...r, x.src] : r;
  }
  if (isJump(x)) return srcIsReg(x.opcode) ? [x.dst, x.src] : [x.dst];
  if (c === I.Class.LDX) return [x.src];
  if (c === I.Class.ST) return [x.dst];
  if (c === I.Class.STX) return modeField(x.opcode) === I.Mode.ATOMIC ? [x.dst, x.src, 0] : [x.dst, x.src];
  return [];
}

/** Registers an instruction writes. */
function defs(x: Insn): number[] {
  const c = cls(x);
  if (isCall(x)) return [0, 1, 2, 3, 4, 5];
  if (isAlu(x) || c === I.Class.LDX || isLdImm64(x.opcode)) return [x.dst];
  if (c === I.Class.STX && modeField(x.opcode) === I.Mode.ATOMIC) {
    if (x.imm === I.AtomicOp.LOAD_ACQ) return [x.dst];
    if (x.imm === I.AtomicOp.CMPXCHG) return [0];
    return x.imm & I.AtomicOp.FETCH ? [x.src] : [];
  }
  return [];
}

/** Registers live before each instruction (bit k: rk). */
function liveness(flow: Flow, facts: EmitFacts, verifier: boolean): number[] {
  const n = flow.insns.length;
  const use = flow.insns.map((x) => uses(x, facts, verifier).reduce((m, r) => m | (1 << r), 0));
  const def = flow.insns.map((x) => defs(x).reduce((m, r) => m | (1 << r), 0));
  const live = new Array<number>(n).fill(0);
  for (let changed = true; changed; ) {
    changed = false;
    for (let k = n - 1; k >= 0; k--) {
      let out = 0;
      for (const s of flow.succ[k]) out |= live[s];
      const v = (use[k] | (out & ~def[k])) >>> 0;
      if (v !== live[k]) {
        live[k] = v;
        changed = true;
      }
    }
  }
  return live;
}

/** Stack slots read before they are written again, before each instruction. */
function stackLiveness(flow: Flow): Set<number>[] {
  const n = flow.insns.length;
  const live = flow.insns.map(() => new Set<number>());
  for (let changed = true; changed; ) {
    changed = false;
    for (let k = n - 1; k >= 0; k--) {
      const x = flow.insns[k];
      const v = new Set<number>();
      for (const s of flow.succ[k]) for (const o of live[s]) v.add(o);
      if (isStackAccess(x) && cls(x) !== I.Class.LDX && sizeField(x.opcode) === I.Size.DW) v.delete(x.off);
      if (isStackAccess(x) && cls(x) === I.Class.LDX) v.add(x.off);
      if (v.size !== live[k].size || [...v].some((o) => !live[k].has(o))) {
        live[k] = v;
        changed = true;
      }
    }
  }
  return live;
}

/** Insert instructions before some instructions (after the labels in front of them, so a jump to the
 *  instruction runs them too). */
function insertBefore(items: InsnOrLabel[], before: Map<Insn, Insn[]>): InsnOrLabel[] {
  if (!before.size) return items;
  const out: InsnOrLabel[] = [];
  for (const x of items) {
    if (!I.isLabel(x)) {
      const add = before.get(x);
      if (add) for (const a of add) out.push(x.pos ? { ...a, pos: x.pos } : a);
    }
    out.push(x);
  }
  return out;
}

/** Zero the unused argument registers of the subprogram calls that a loop head reaches while the
 *  verifier, but not the program, thinks them live there. */
function zeroUnusedArguments(items: InsnOrLabel[], facts: EmitFacts): InsnOrLabel[] {
  const flow = flowOf(items);
  const heads = flow.insns.map((x, k) => (isHead(x) ? k : -1)).filter((k) => k >= 0);
  if (!heads.length) return items;
  const ver = liveness(flow, facts, true);
  const real = liveness(flow, facts, false);
  const zero = new Map<Insn, Set<number>>();
  for (const h of heads) {
    for (const r of ARG_REGS) {
      const bit = 1 << r;
      if (!(ver[h] & bit) || real[h] & bit) continue;
      // Walk forward from the head to the calls that read r only as an unused argument.
      const seen = new Set<number>();
      const todo = [h];
      while (todo.length) {
        const k = todo.pop()!;
        if (seen.has(k)) continue;
        seen.add(k);
        const x = flow.insns[k];
        if (isSubprogCall(x) && r > (facts.argc.get(x) ?? 5)) {
          if (!zero.has(x)) zero.set(x, new Set());
          zero.get(x)!.add(r);
          continue;
        }
        if (k !== h && defs(x).includes(r)) continue;
        for (const s of flow.succ[k]) todo.push(s);
      }
    }
  }
  const before = new Map<Insn, Insn[]>();
  for (const [x, regs] of zero) {
    const add = [...regs].sort().map((r) => I.alu32Imm("MOV", r as Reg, 0));
    for (const a of add) facts.ptr.set(a, false);
    before.set(x, add);
  }
  return insertBefore(items, before);
}

// ---- scalars the verifier links by id ----

/** A location: r0-r9 (0-9) or a stack slot (its fp offset, negative, as `s<off>`). */
type Loc = number | string;
const slot = (off: number) => `s${off}`;
const pairKey = (a: Loc, b: Loc) => (String(a) < String(b) ? `${a}|${b}` : `${b}|${a}`);

interface LinkState {
  kind: Map<Loc, Kind>;
  /** Pairs of locations that may hold scalars sharing an id ("a|b"). */
  links: Set<string>;
}

function linked(st: LinkState, a: Loc): Loc[] {
  const out: Loc[] = [];
  for (const p of st.links) {
    const [x, y] = p.split("|");
    const other = x === String(a) ? y : y === String(a) ? x : undefined;
    if (other !== undefined) out.push(/^s/.test(other) ? other : Number(other));
  }
  return out;
}

function unlink(st: LinkState, a: Loc): void {
  for (const p of [...st.links]) {
    const [x, y] = p.split("|");
    if (x === String(a) || y === String(a)) st.links.delete(p);
  }
}

function define(st: LinkState, a: Loc, kind: Kind): void {
  unlink(st, a);
  st.kind.set(a, kind);
}

function copy(st: LinkState, dst: Loc, src: Loc, kind: Kind): void {
  if (dst === src) return;
  const others = linked(st, src);
  define(st, dst, kind);
  if (kind === "P") return;
  st.links.add(pairKey(dst, src));
  for (const o of others) if (o !== dst) st.links.add(pairKey(dst, o));
}

function transfer(x: Insn, st: LinkState, facts: EmitFacts): void {
  const k = (l: Loc): Kind => st.kind.get(l) ?? "?";
  const tagged = (fallback: Kind): Kind => {
    const p = facts.ptr.get(x);
    return p === undefined ? fallback : p ? "P" : "S";
  };
  const c = cls(x);
  if (isCall(x)) {
    for (const r of ARG_REGS) define(st, r, "?");
    define(st, 0, tagged("?"));
    return;
  }
  if (isLdImm64(x.opcode)) return define(st, x.dst, x.reloc ? "P" : "S");
  if (isAlu(x)) {
    const op = opField(x.opcode);
    const reg = (x.opcode & I.Src.X) !== 0;
    const wide = c === I.Class.ALU64;
    if (op === I.AluOp.MOV) {
      if (!reg) return define(st, x.dst, "S");
      // A plain move links scalars; so may a sign-extending one (off != 0) that changes nothing.
      if (x.dst === x.src) return;
      return copy(st, x.dst, x.src, wide ? tagged(k(x.src)) : "S");
    }
    // dst += const (or += a register the verifier may know is one) keeps the link, with an offset.
    if ((op === I.AluOp.ADD || op === I.AluOp.SUB) && k(x.dst) !== "P") {
      st.kind.set(x.dst, wide ? tagged(reg && k(x.src) === "P" ? "P" : k(x.dst)) : "S");
      return;
    }
    if (op === I.AluOp.ADD || op === I.AluOp.SUB) return define(st, x.dst, wide ? tagged("P") : "S");
    return define(st, x.dst, "S");
  }
  if (c === I.Class.LDX) {
    if (x.src === 10) return copy(st, x.dst, slot(x.off), tagged(k(slot(x.off))));
    return define(st, x.dst, sizeField(x.opcode) === I.Size.DW ? tagged("?") : "S");
  }
  if (c === I.Class.STX && modeField(x.opcode) === I.Mode.ATOMIC) {
    for (const r of defs(x)) define(st, r, "S");
    return;
  }
  if (c === I.Class.STX && x.dst === 10) return copy(st, slot(x.off), x.src, k(x.src));
  if (c === I.Class.ST && x.dst === 10) return define(st, slot(x.off), "S");
}

function joinInto(into: LinkState, from: LinkState): boolean {
  let changed = false;
  for (const [l, v] of from.kind) {
    // A location missing from `into` is unwritten on a path joined before: it may be unreadable there, so
    // it is no scalar on every path ("?"), whatever `from` holds.
    const old = into.kind.get(l);
    const nv = old === v ? v : "?";
    if (nv !== old) {
      into.kind.set(l, nv);
      changed = true;
    }
  }
  for (const l of into.kind.keys()) if (!from.kind.has(l) && into.kind.get(l) !== "?") {
    into.kind.set(l, "?");
    changed = true;
  }
  for (const p of from.links) if (!into.links.has(p)) {
    into.links.add(p);
    changed = true;
  }
  return changed;
}

/** The locations that may share an id, before each instruction. */
function linkAnalysis(flow: Flow, facts: EmitFacts, entryKinds: Map<Loc, Kind>): (LinkState | undefined)[] {
  const copyState = (st: LinkState): LinkState => ({ kind: new Map(st.kind), links: new Set(st.links) });
  return forward<LinkState>(flow, { kind: new Map(entryKinds), links: new Set<string>() }, copyState, (k, st) => transfer(flow.insns[k], st, facts), joinInto);
}

/** Clear the ids of scalars that may be linked with another live location at a loop head. */
function unlinkAtHeads(items: InsnOrLabel[], facts: EmitFacts, entryKinds: Map<Loc, Kind>): InsnOrLabel[] {
  const flow = flowOf(items);
  if (!flow.insns.some(isHead)) return items;
  const inState = linkAnalysis(flow, facts, entryKinds);
  const live = liveness(flow, facts, true);
  const stack = stackLiveness(flow);
  const before = new Map<Insn, Insn[]>();
  flow.insns.forEach((x, k) => {
    const st = inState[k];
    if (!isHead(x) || !st) return;
    const isLive = (l: Loc) => (typeof l === "number" ? (live[k] & (1 << l)) !== 0 : stack[k].has(Number(l.slice(1))));
    const pairs = [...st.links].map((p) => p.split("|").map((s) => (/^s/.test(s) ? s : Number(s))) as [Loc, Loc]).filter(([a, b]) => isLive(a) && isLive(b));
    const cleared = new Set<number>();
    for (const [a, b] of pairs) {
      if ((typeof a === "number" && cleared.has(a)) || (typeof b === "number" && cleared.has(b))) continue;
      // Prefer a register whose value is a scalar on every path (r &= -1 on a pointer is refused).
      const pick = [a, b].find((l): l is number => typeof l === "number" && st.kind.get(l) === "S");
      if (pick !== undefined) cleared.add(pick);
    }
    if (cleared.size) before.set(x, [...cleared].sort().map((r) => I.alu64Imm("AND", r as Reg, -1)));
  });
  return insertBefore(items, before);
}

// ---- 32-bit values the verifier may see as 64-bit ones at a head ----

/** Bits of what is known of a location's value: ZX, its upper 32 bits are zero on every path (so `w = w`
 *  changes nothing); SEEN, the verifier knows that too (its 64-bit range is within 32 bits). */
const ZX = 1;
const SEEN = 2;

function slotOf(x: Insn): string | undefined {
  const c = cls(x);
  if (c === I.Class.LDX) return x.src === 10 ? slot(x.off) : undefined;
  return (c === I.Class.STX || c === I.Class.ST) && x.dst === 10 ? slot(x.off) : undefined;
}

/** ALU32 operations whose result the verifier computes a range for (and so zero-extends); for the others
 *  (division, modulo, byte swaps, shifts by a register) it marks the whole register unknown. */
function verifierBounds32(x: Insn): boolean {
  const op = opField(x.opcode);
  if ([I.AluOp.ADD, I.AluOp.SUB, I.AluOp.MUL, I.AluOp.AND, I.AluOp.OR, I.AluOp.XOR, I.AluOp.MOV, I.AluOp.NEG].includes(op as never)) return true;
  return (op === I.AluOp.LSH || op === I.AluOp.RSH || op === I.AluOp.ARSH) && !srcIsReg(x.opcode);
}

/** The lowest stack offset whose address the code takes (-Infinity if it cannot tell): stack objects
 *  (iterators, arrays) sit above the spill slots, and a call may write them through a pointer. */
function lowestAddressTaken(insns: Insn[]): number {
  let low = Infinity;
  insns.forEach((x, k) => {
    if (cls(x) === I.Class.STX && x.src === 10) low = -Infinity;
    if (!isAlu(x) || !srcIsReg(x.opcode) || x.src !== 10) return;
    const next = insns[k + 1];
    const copy = x.opcode === (I.Class.ALU64 | I.AluOp.MOV | I.Src.X) && x.off === 0;
    if (copy && next && next.opcode === (I.Class.ALU64 | I.AluOp.ADD | I.Src.K) && next.dst === x.dst) low = Math.min(low, next.imm);
    else if (copy && next && next.opcode === (I.Class.ALU64 | I.AluOp.SUB | I.Src.K) && next.dst === x.dst) low = Math.min(low, -next.imm);
    else low = -Infinity;
  });
  return low;
}

function widthTransfer(x: Insn, st: Map<Loc, number>, lowestTaken: number): void {
  const get = (l: Loc) => st.get(l) ?? 0;
  const set = (l: Loc, v: number): void => {
    if (v) st.set(l, v);
    else st.delete(l);
  };
  const c = cls(x);
  if (isCall(x)) {
    for (const r of [0, ...ARG_REGS]) set(r, 0);
    // A call may write the stack objects it is given (not the spill slots below them).
    for (const l of [...st.keys()]) if (typeof l === "string" && Number(l.slice(1)) + 8 > lowestTaken) st.delete(l);
    return;
  }
  if (isLdImm64(x.opcode)) {
    const v = x.imm64 ?? BigInt(x.imm);
    return set(x.dst, !x.reloc && v >= 0n && v <= 0xffffffffn ? ZX | SEEN : 0);
  }
  if (c === I.Class.ALU) {
    const op = opField(x.opcode);
    if (op === I.AluOp.END && x.imm === 64) return set(x.dst, 0);
    return set(x.dst, ZX | (verifierBounds32(x) ? SEEN : 0));
  }
  if (c === I.Class.ALU64) {
    const op = opField(x.opcode);
    const reg = srcIsReg(x.opcode);
    if (op === I.AluOp.MOV) return set(x.dst, reg ? (x.off === 0 ? get(x.src) : 0) : x.imm >= 0 ? ZX | SEEN : 0);
    if (op === I.AluOp.AND && !reg) return set(x.dst, x.imm >= 0 ? ZX | SEEN : get(x.dst));
    return set(x.dst, 0);
  }
  const s = slotOf(x);
  if (c === I.Class.LDX) {
    if (modeField(x.opcode) !== I.Mode.MEM) return set(x.dst, 0);
    if (sizeField(x.opcode) !== I.Size.DW) return set(x.dst, ZX | SEEN);
    return set(x.dst, s ? get(s) : 0);
  }
  if (c === I.Class.STX && modeField(x.opcode) === I.Mode.ATOMIC) {
    for (const r of defs(x)) set(r, 0);
    if (s) set(s, 0);
    return;
  }
  if (s && (c === I.Class.STX || c === I.Class.ST)) {
    const whole = sizeField(x.opcode) === I.Size.DW && x.off % 8 === 0;
    if (!whole) {
      set(s, 0);
      set(slot(Math.floor(x.off / 8) * 8), 0);
      return;
    }
    return set(s, c === I.Class.STX ? get(x.src) : x.imm >= 0 ? ZX | SEEN : 0);
  }
}

/** The instructions on a cycle through `h` (the strongly connected part of the flow graph holding it). */
function cycleThrough(flow: Flow, h: number): Set<number> {
  const walk = (next: number[][]) => {
    const seen = new Set<number>([h]);
    const todo = [h];
    while (todo.length) for (const s of next[todo.pop()!]) if (!seen.has(s)) (seen.add(s), todo.push(s));
    return seen;
  };
  const back = walk(flow.pred);
  return new Set([...walk(flow.succ)].filter((k) => back.has(k)));
}

const NO_FACTS: EmitFacts = { argc: new WeakMap(), ptr: new WeakMap() };

/** The locations whose state the verifier may see change round the loop through `h`, and so may widen
 *  there: what the loop writes, what its conditional jumps compare (a branch narrows both operands), and
 *  what shares an id with those at the jump (the verifier narrows linked scalars together). */
function changedRound(flow: Flow, h: number, links: (LinkState | undefined)[]): Set<Loc> {
  const out = new Set<Loc>();
  for (const k of cycleThrough(flow, h)) {
    const x = flow.insns[k];
    for (const r of defs(x)) out.add(r);
    const s = slotOf(x);
    if (s && cls(x) !== I.Class.LDX) out.add(s);
    const branch = isJump(x) && !isCall(x) && x.opcode !== EXIT && x.opcode !== I.MAY_GOTO && opField(x.opcode) !== I.JmpOp.JA;
    if (!branch) continue;
    for (const r of uses(x, NO_FACTS, false)) {
      out.add(r);
      const st = links[k];
      if (st) for (const l of linked(st, r)) out.add(l);
    }
  }
  return out;
}

/** Zero-extend, before each loop head, the 32-bit values the verifier may no longer know are 32-bit there
 *  (see the header); a value the loop never writes is the same on every pass and never widened. */
function zeroExtendAtHeads(items: InsnOrLabel[], facts: EmitFacts, entryKinds: Map<Loc, Kind>): InsnOrLabel[] {
  const flow = flowOf(items);
  const heads = flow.insns.map((x, k) => (isHead(x) ? k : -1)).filter((k) => k >= 0);
  if (!heads.length) return items;
  const links = linkAnalysis(flow, facts, entryKinds);
  const written = new Map<number, Set<Loc>>();
  for (const h of heads) written.set(h, changedRound(flow, h, links));
  const lowestTaken = lowestAddressTaken(flow.insns);
  const step = (k: number, st: Map<Loc, number>) => {
    widthTransfer(flow.insns[k], st, lowestTaken);
    const w = written.get(k);
    if (w) for (const l of w) if (st.has(l)) st.set(l, st.get(l)! & ~SEEN);
  };
  const join = (into: Map<Loc, number>, from: Map<Loc, number>) => {
    let changed = false;
    for (const [l, v] of into) {
      const nv = v & (from.get(l) ?? 0);
      if (nv === v) continue;
      if (nv) into.set(l, nv);
      else into.delete(l);
      changed = true;
    }
    return changed;
  };
  const inState = forward(flow, new Map<Loc, number>(), (st) => new Map(st), step, join);
  const live = liveness(flow, facts, true);
  const stack = stackLiveness(flow);
  const before = new Map<Insn, Insn[]>();
  const add = (at: Insn, xs: Insn[]) => {
    for (const a of xs) facts.ptr.set(a, false);
    const list = before.get(at) ?? [];
    // A spill that reaches two heads (nested loops) is zero-extended once.
    if (xs.length === 1 && list.some((b) => formatKey(b) === formatKey(xs[0]))) return;
    list.push(...xs);
    before.set(at, list);
  };
  const zext = (r: number) => I.alu32Reg("MOV", r as Reg, r as Reg);
  for (const h of heads) {
    const st = inState[h];
    if (!st) continue;
    const regs: number[] = [];
    for (let r = 0; r < 10; r++) if (live[h] & (1 << r) && st.get(r) === ZX) regs.push(r);
    const slots: Insn[] = [];
    for (const off of stack[h]) {
      const s = slot(off);
      // The spills that reach the head: their registers are zero-extended before them, unless a path
      // round the loop keeps the slot's old (widened) value; then it is reloaded, zero-extended and
      // spilled again at the head, in a register dead there.
      const spills = new Set<number>();
      let around = false;
      const seen = new Set<number>();
      const todo = [...flow.pred[h]];
      while (todo.length) {
        const k = todo.pop()!;
        if (seen.has(k)) continue;
        seen.add(k);
        if (k === h) {
          around = true;
          continue;
        }
        const x = flow.insns[k];
        if (slotOf(x) === s && cls(x) !== I.Class.LDX) {
          spills.add(k);
          continue;
        }
        todo.push(...flow.pred[k]);
      }
      const src = (k: number) => flow.insns[k].src;
      const wanted = [...spills].filter((k) => cls(flow.insns[k]) === I.Class.STX && sizeField(flow.insns[k].opcode) === I.Size.DW && inState[k]?.get(src(k)) === ZX);
      if (around && st.get(s) === ZX) {
        const scratch = [0, 1, 2, 3, 4, 5].find((r) => !(live[h] & (1 << r)));
        if (scratch === undefined) continue;
        const r = scratch as Reg;
        slots.push(I.ldx("DW", r, 10, off), zext(r), I.stx("DW", 10, off, r));
      } else if (!around) for (const k of wanted) add(flow.insns[k], [zext(src(k))]);
    }
    if (regs.length || slots.length) add(flow.insns[h], [...slots, ...regs.map(zext)]);
  }
  return insertBefore(items, before);
}

const formatKey = (x: Insn) => `${x.opcode}:${x.dst}:${x.src}:${x.off}:${x.imm}`;

/** Make every loop head of a function's emitted code one the verifier converges on (see the header). */
export function steadyLoopHeads(items: InsnOrLabel[], facts: EmitFacts, entryKinds: Map<number, Kind>): InsnOrLabel[] {
  if (!items.some((x) => !I.isLabel(x) && isHead(x))) return items;
  return unlinkAtHeads(zeroExtendAtHeads(zeroUnusedArguments(items, facts), facts, entryKinds), facts, entryKinds);
}
