// A BPF interpreter for the instruction set uringbpf emits (ALU32/ALU64, JMP/JMP32, loads and stores of
// every size, ld_imm64 of globals, helper and kfunc calls). Memory is a set of named regions at synthetic
// addresses; every access is bounds-checked against the region the pointer falls into, so a faulty
// program stops with an error naming the instruction and its source line instead of corrupting anything.

import * as D from "../../compiler/bpf/decode";
import type { Insn } from "../../compiler/bpf/insn";

// The decoder's accessors and constants bound once here: the loop below reads them on every instruction,
// and a module-local binding costs nothing where an import may be a getter (tsx, vitest).
const { AluOp, AtomicOp, Class, JmpOp, Mode, PSEUDO_CALL, PSEUDO_KFUNC_CALL } = D;
const { insnClass, isAluClass, isJmpClass, isLdImm64, modeField, opField, sizeBytes, slotLayout, srcIsReg, srcIsRegisterField } = D;

/** A block of memory the program may address. */
export interface Region {
  name: string;
  base: bigint;
  bytes: Uint8Array;
  writable: boolean;
  /** Mapped at a real address with exact bounds (see Memory.mapAt). */
  exact?: boolean;
}

/** Thrown when the program does something the kernel would not allow at run time. */
export class ExecutionError extends Error {
  constructor(message: string, readonly insnIndex: number, readonly insn?: Insn) {
    const where = insn?.pos ? ` at ${insn.pos.file}:${insn.pos.line}: ${insn.pos.text.trim()}` : "";
    super(`${message} (instruction ${insnIndex}${where})`);
  }
}

/** A kfunc or helper implementation: receives r1-r5, returns r0. */
export type CallHandler = (args: bigint[], mem: Memory) => bigint;

const M64 = (1n << 64n) - 1n;
const M32 = (1n << 32n) - 1n;
const u64 = (v: bigint) => v & M64;
const u32 = (v: bigint) => v & M32;
const s64 = (v: bigint) => BigInt.asIntN(64, v);
const s32 = (v: bigint) => BigInt.asIntN(32, v);

/** The address space: regions placed 4 GiB apart so pointer arithmetic never crosses into another. */
const ZERO_STACK = new Uint8Array(512);

export class Memory {
  private regions: Region[] = [];
  private next = 1n;

  private stacks: Region[] = [];

  /** The 512-byte stack of call depth `depth` (0: the program; loop_step calls do not nest). */
  stack(depth = 0): Region {
    while (this.stacks.length <= depth) this.stacks.push(this.map(`stack of frame ${this.stacks.length}`, new Uint8Array(512)));
    return this.stacks[depth];
  }

  /** Zero every stack: a loop_step call starts with nothing left over from the previous one. */
  resetStacks(): void {
    // set() from a zero array is a plain copy; TypedArray.prototype.fill is a call into the runtime.
    for (const s of this.stacks) s.bytes.set(ZERO_STACK);
  }

  /** Map `bytes` as a new region and return it. */
  map(name: string, bytes: Uint8Array, writable = true): Region {
    const r: Region = { name, base: this.next << 32n, bytes, writable };
    this.next++;
    this.regions.push(r);
    return r;
  }

  /** Map `bytes` at a fixed (real) address: memory whose address the program hands to the kernel. */
  mapAt(name: string, bytes: Uint8Array, address: bigint, writable = true): Region {
    const r: Region = { name, base: address, bytes, writable, exact: true };
    this.regions.push(r);
    return r;
  }

  /** One past the highest tag so far: a region mapped by map() has base tag << 32 for a tag below this. */
  tagLimit(): number {
    return Number(this.next);
  }

  /** Every region mapped so far, in mapping order (the translation's region table is built from it). */
  regionList(): readonly Region[] {
    return this.regions;
  }

  /** The region and offset an access falls into, or an error message. */
  resolve(addr: bigint, size: number, write: boolean): { r: Region; off: number } | string {
    const r = this.regions.find((x) => addr >= x.base && addr < x.base + (x.exact ? BigInt(Math.max(x.bytes.length, 1)) : 1n << 32n));
    if (!r) return addr === 0n ? "null pointer dereference" : `access to unmapped address 0x${addr.toString(16)}`;
    const off = Number(addr - r.base);
    if (off + size > r.bytes.length) return `out-of-bounds ${write ? "write" : "read"} of ${size} bytes at offset ${off} of ${r.name} (${r.bytes.length} bytes)`;
    if (write && !r.writable) return `write to read-only ${r.name}`;
    return { r, off };
  }

  read(addr: bigint, size: number): bigint | string {
    const x = this.resolve(addr, size, false);
    if (typeof x === "string") return x;
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(x.r.bytes[x.off + i]);
    return v;
  }

  write(addr: bigint, size: number, value: bigint): string | undefined {
    const x = this.resolve(addr, size, true);
    if (typeof x === "string") return x;
    let v = value;
    for (let i = 0; i < size; i++, v >>= 8n) x.r.bytes[x.off + i] = Number(v & 0xffn);
    return undefined;
  }
}

export interface RunOptions {
  /** Resolve a global's address for an ld_imm64 relocation (symbol, imm addend). */
  globalAddress: (symbol: string, addend: bigint) => bigint;
  kfuncs: Record<string, CallHandler>;
  helpers?: Record<number, CallHandler>;
  /** BPF-to-BPF call targets by symbol (the object's .text functions). */
  subprograms?: Record<string, Insn[]>;
  /** Abort a single loop_step call after this many executed instructions: a guard against runaway loops.
   *  Default: none when `checkpoint` is given (the run's --timeout stops it), else 100,000,000. */
  maxInsns?: number;
  /** Called every CHECKPOINT_EVERY instructions within a call: the driver's --timeout check, which throws
   *  to stop the run. A loop that only its budget ends (may_goto's, an iterator's) reaches that budget
   *  in the engine as in the kernel, whatever its body costs, instead of an instruction cap. */
  checkpoint?: () => void;
}

/** Instructions between two `checkpoint` calls within one loop_step call. */
export const CHECKPOINT_EVERY = 1 << 24;

/** The instruction cap of a call (see RunOptions.maxInsns). */
export function insnCap(opts: RunOptions): number {
  return opts.maxInsns ?? (opts.checkpoint ? Number.MAX_SAFE_INTEGER : 100_000_000);
}

/** Reverse the byte order of the low `width` bits of v. */
function bswap(v: bigint, width: number): bigint {
  let r = 0n;
  for (let i = 0; i < width / 8; i++, v >>= 8n) r = (r << 8n) | (v & 0xffn);
  return r;
}

/** Signed division of the unsigned `a` by `b` (b != 0) at 32 or 64 bits, truncated towards zero. */
function sdiv(a: bigint, b: bigint, wide: boolean): bigint {
  const sa = wide ? s64(a) : s32(a);
  const sb = wide ? s64(b) : s32(b);
  return sa / sb; // BigInt division truncates; INT_MIN / -1 = -INT_MIN wraps back to INT_MIN at width
}

/** Signed remainder (b != 0): the sign of the dividend, as C's %. */
function smod(a: bigint, b: bigint, wide: boolean): bigint {
  const sa = wide ? s64(a) : s32(a);
  const sb = wide ? s64(b) : s32(b);
  return sa % sb;
}

/** may_goto falls through this many times per function call (the kernel's BPF_MAX_LOOPS counter; on
 *  x86-64 since 6.15 the kernel uses a time budget instead, see docs/LANGUAGE.md "Loops"). */
export const MAY_GOTO_BUDGET = 8 * 1024 * 1024;

/** Run a program from instruction 0 with r1 = ctx; returns r0 and the instruction count. */
export function run(insns: Insn[], ctx: bigint, mem: Memory, opts: RunOptions): { r0: bigint; executed: number } {
  const count = { executed: 0, next: Math.min(insnCap(opts), CHECKPOINT_EVERY) };
  const r0 = exec(insns, [ctx], 0, mem, opts, count);
  return { r0, executed: count.executed };
}

/** Execute one function (a program or a subprogram) at call depth `depth` with arguments r1..r5. */
function exec(insns: Insn[], args: bigint[], depth: number, mem: Memory, opts: RunOptions, count: { executed: number; next: number }): bigint {
  if (depth >= 8) throw new ExecutionError("more than 8 nested calls", 0);
  // Slot index <-> instruction index (ld_imm64 occupies two slots).
  const { indexAt: slotToIdx, slotOf } = slotLayout(insns);
  const stack = mem.stack(depth);
  const reg: bigint[] = new Array(11).fill(0n);
  args.forEach((a, i) => (reg[i + 1] = a));
  reg[10] = stack.base + 512n;
  const max = insnCap(opts);
  // may_goto's budget: one counter per function call, as the kernel keeps one stack slot per frame.
  let mayGoto = MAY_GOTO_BUDGET;
  let pc = 0;
  const fail = (msg: string): never => {
    throw new ExecutionError(msg, pc, insns[pc]);
  };
  const jumpTo = (off: number) => {
    const target = slotToIdx.get(slotOf[pc] + 1 + off);
    if (target === undefined) fail(`jump to slot ${slotOf[pc] + 1 + off} outside the program`);
    pc = target!;
  };
  for (;;) {
    if (pc < 0 || pc >= insns.length) fail("fell off the end of the program");
    if (++count.executed > count.next) {
      if (count.executed > max) fail(`more than ${max} instructions executed`);
      opts.checkpoint?.();
      count.next = Math.min(max, count.executed + CHECKPOINT_EVERY);
    }
    const ins = insns[pc];
    const cls = insnClass(ins.opcode);
    const d = ins.dst;
    const s = ins.src;
    // Registers are r0-r10; src of call and ld_imm64 is a pseudo number, not a register.
    if (d > 10 || (s > 10 && srcIsRegisterField(ins.opcode))) fail(`invalid register r${d > 10 ? d : s}`);
    if (isAluClass(cls)) {
      const wide = cls === Class.ALU64;
      const op = opField(ins.opcode);
      if (op === AluOp.END) {
        // Byte swaps: ALU32 END is to_le (the source bit clear: on this little-endian machine a truncation
        // to imm bits) or to_be (a swap); ALU64 END (cpu v4) is an unconditional swap. Either way the
        // result is zero-extended from imm bits to 64.
        const width = ins.imm === 16 ? 16 : ins.imm === 32 ? 32 : ins.imm === 64 ? 64 : 0;
        if (!width) return fail(`invalid byte swap width ${ins.imm}`);
        const v = BigInt.asUintN(width, reg[d]);
        reg[d] = wide || srcIsReg(ins.opcode) ? bswap(v, width) : v;
        pc++;
        continue;
      }
      const src = srcIsReg(ins.opcode) ? reg[s] : BigInt(ins.imm);
      const a = wide ? u64(reg[d]) : u32(reg[d]);
      const b = wide ? u64(src) : u32(src);
      const bits = wide ? 64n : 32n;
      const norm = wide ? u64 : u32;
      let r: bigint;
      switch (op) {
        case AluOp.ADD: r = a + b; break;
        case AluOp.SUB: r = a - b; break;
        case AluOp.MUL: r = a * b; break;
        // Division by zero: the quotient is 0 and the remainder the dividend (as the kernel patches both);
        // signed (off 1, cpu v4) truncates towards zero and INT_MIN / -1 is INT_MIN, INT_MIN % -1 is 0.
        case AluOp.DIV:
          if (ins.off === 1) r = b === 0n ? 0n : sdiv(a, b, wide);
          else r = b === 0n ? 0n : a / b;
          break;
        case AluOp.OR: r = a | b; break;
        case AluOp.AND: r = a & b; break;
        case AluOp.LSH: r = a << (b & (bits - 1n)); break;
        case AluOp.RSH: r = a >> (b & (bits - 1n)); break;
        case AluOp.NEG: r = -a; break;
        case AluOp.MOD:
          if (ins.off === 1) r = b === 0n ? a : smod(a, b, wide);
          else r = b === 0n ? a : a % b;
          break;
        case AluOp.XOR: r = a ^ b; break;
        case AluOp.MOV:
          // movsx (cpu v4): off 8, 16 or 32 sign-extends the source's low bits (ALU32: to 32 bits).
          if (ins.off !== 0) r = BigInt.asIntN(ins.off, reg[s]);
          else r = wide ? u64(srcIsReg(ins.opcode) ? reg[s] : BigInt(ins.imm)) : b;
          break;
        case AluOp.ARSH: r = (wide ? s64(a) : s32(a)) >> (b & (bits - 1n)); break;
        default: return fail(`unsupported ALU opcode 0x${ins.opcode.toString(16)}`);
      }
      reg[d] = norm(r);
      pc++;
      continue;
    }
    if (isJmpClass(cls)) {
      const op = opField(ins.opcode);
      if (op === JmpOp.JA) {
        // ja (off), or gotol (JMP32 ja, cpu v4: the 32-bit imm is the offset)
        jumpTo(cls === Class.JMP32 ? ins.imm : ins.off);
        continue;
      }
      if (cls === Class.JMP && op === JmpOp.EXIT) return reg[0];
      if (cls === Class.JMP && op === JmpOp.JCOND) {
        // may_goto: fall through while the budget lasts, then take the jump (the loop's way out).
        if (mayGoto === 0) jumpTo(ins.off);
        else {
          mayGoto--;
          pc++;
        }
        continue;
      }
      if (cls === Class.JMP && op === JmpOp.CALL) {
        const args = reg.slice(1, 6);
        let h: CallHandler | undefined;
        let what: string;
        if (ins.reloc?.kind === "kfunc" || ins.src === PSEUDO_KFUNC_CALL) {
          what = ins.reloc?.symbol ?? `kfunc #${ins.imm}`;
          h = ins.reloc ? opts.kfuncs[ins.reloc.symbol] : undefined;
        } else if (ins.src === PSEUDO_CALL) {
          const target = ins.reloc ? opts.subprograms?.[ins.reloc.symbol] : undefined;
          if (!target) return fail(`call of unknown subprogram ${ins.reloc?.symbol ?? ins.imm}`);
          // r6-r9 are callee-saved (this frame's array is untouched); the callee gets its own stack.
          reg[0] = u64(exec(target, args, depth + 1, mem, opts, count));
          for (let k = 1; k <= 5; k++) reg[k] = 0xdeadbeefn;
          pc++;
          continue;
        } else {
          what = `helper ${ins.imm}`;
          h = opts.helpers?.[ins.imm];
        }
        if (!h) fail(`call of unknown ${what}`);
        try {
          reg[0] = u64(h!(args, mem));
        } catch (e) {
          // A helper or kfunc refused its arguments (a bad iterator, an SQE the engine will not submit):
          // the program's fault at this call, reported with its instruction and TypeScript line.
          if (e instanceof ExecutionError || !(e instanceof Error) || (e as { fatal?: boolean }).fatal) throw e;
          fail(`${what}: ${e.message}`);
        }
        for (let k = 1; k <= 5; k++) reg[k] = 0xdeadbeefn; // clobbered, as the verifier assumes
        pc++;
        continue;
      }
      const wide = cls === Class.JMP;
      const a = wide ? u64(reg[d]) : u32(reg[d]);
      const bRaw = srcIsReg(ins.opcode) ? reg[s] : u64(BigInt(ins.imm));
      const b = wide ? u64(bRaw) : u32(bRaw);
      const sa = wide ? s64(a) : s32(a);
      const sb = wide ? s64(b) : s32(b);
      let t: boolean;
      switch (op) {
        case JmpOp.JEQ: t = a === b; break;
        case JmpOp.JGT: t = a > b; break;
        case JmpOp.JGE: t = a >= b; break;
        case JmpOp.JSET: t = (a & b) !== 0n; break;
        case JmpOp.JNE: t = a !== b; break;
        case JmpOp.JSGT: t = sa > sb; break;
        case JmpOp.JSGE: t = sa >= sb; break;
        case JmpOp.JLT: t = a < b; break;
        case JmpOp.JLE: t = a <= b; break;
        case JmpOp.JSLT: t = sa < sb; break;
        case JmpOp.JSLE: t = sa <= sb; break;
        default: return fail(`unsupported jump opcode 0x${ins.opcode.toString(16)}`);
      }
      if (t) jumpTo(ins.off);
      else pc++;
      continue;
    }
    if (isLdImm64(ins.opcode)) {
      if (ins.reloc?.kind === "global") reg[d] = u64(opts.globalAddress(ins.reloc.symbol, ins.imm64 ?? 0n));
      else reg[d] = u64(ins.imm64 ?? BigInt(ins.imm));
      pc++;
      continue;
    }
    const mode = modeField(ins.opcode);
    const size = sizeBytes(ins.opcode);
    if (cls === Class.LDX && (mode === Mode.MEM || (mode === Mode.MEMSX && size < 8))) {
      const v = mem.read(u64(reg[s] + BigInt(ins.off)), size);
      if (typeof v === "string") fail(v);
      // ldsx (mode MEMSX, cpu v4): sign-extended to 64 bits.
      reg[d] = mode === Mode.MEMSX ? u64(BigInt.asIntN(size * 8, v as bigint)) : (v as bigint);
      pc++;
      continue;
    }
    if ((cls === Class.STX || cls === Class.ST) && mode === Mode.MEM) {
      const v = cls === Class.STX ? reg[s] : u64(BigInt(ins.imm));
      const err = mem.write(u64(reg[d] + BigInt(ins.off)), size, v);
      if (err) fail(err);
      pc++;
      continue;
    }
    if (cls === Class.STX && mode === Mode.ATOMIC) {
      atomicOp(ins, reg, size, mem, fail);
      pc++;
      continue;
    }
    return fail(`unsupported opcode 0x${ins.opcode.toString(16)}`);
  }
}

/** BPF_ATOMIC (STX | ATOMIC): read-modify-write, xchg, cmpxchg (old value compared with and returned in
 *  r0), load-acquire (dst = *(src + off)) and store-release (*(dst + off) = src). The interpreter runs one
 *  program at a time, so each is simply its sequential meaning; 32-bit fetches zero-extend. */
function atomicOp(ins: Insn, reg: bigint[], size: number, mem: Memory, fail: (msg: string) => never): void {
  const d = ins.dst;
  const s = ins.src;
  const off = BigInt(ins.off);
  if (ins.imm === AtomicOp.LOAD_ACQ) {
    const v = mem.read(u64(reg[s] + off), size);
    if (typeof v === "string") fail(v);
    reg[d] = v as bigint;
    return;
  }
  if (ins.imm === AtomicOp.STORE_REL) {
    const err = mem.write(u64(reg[d] + off), size, reg[s]);
    if (err) fail(err);
    return;
  }
  if (size !== 4 && size !== 8) fail(`atomic operation on ${size} bytes`);
  const norm = size === 4 ? u32 : u64;
  const addr = u64(reg[d] + off);
  const cur = mem.read(addr, size);
  if (typeof cur === "string") fail(cur);
  const old = cur as bigint;
  const val = norm(reg[s]);
  let next: bigint;
  switch (ins.imm & ~AtomicOp.FETCH) {
    case AtomicOp.ADD: next = norm(old + val); break;
    case AtomicOp.OR: next = old | val; break;
    case AtomicOp.AND: next = old & val; break;
    case AtomicOp.XOR: next = old ^ val; break;
    case AtomicOp.XCHG & ~AtomicOp.FETCH: next = val; break;
    case AtomicOp.CMPXCHG & ~AtomicOp.FETCH: next = old === norm(reg[0]) ? val : old; break;
    default: return fail(`unsupported atomic operation 0x${ins.imm.toString(16)}`);
  }
  // xchg and cmpxchg exist only with BPF_FETCH.
  if ((ins.imm & 0xf0) >= (AtomicOp.XCHG & 0xf0) && (ins.imm & AtomicOp.FETCH) === 0) fail(`atomic operation 0x${ins.imm.toString(16)} without BPF_FETCH`);
  const err = mem.write(addr, size, next);
  if (err) fail(err);
  if ((ins.imm & AtomicOp.CMPXCHG) === AtomicOp.CMPXCHG) reg[0] = old;
  else if (ins.imm & AtomicOp.FETCH) reg[s] = old;
}
