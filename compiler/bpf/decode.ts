// The one BPF instruction decoder: the opcode's fields (class, operation, source, size, mode), the slot
// layout (ld_imm64 takes two slots), jump targets, and `decodeInsn`, which names what an instruction is,
// cpu v4 forms included (sdiv/smod with off 1, movsx with off 8/16/32, ldsx in mode MEMSX, BPF_END in
// ALU64, gotol, may_goto, the atomic operations with load-acquire and store-release). The encoder
// (insn.ts) builds opcodes from the constants here; the disassembler, the object reader and writer, the
// engine's interpreter, translation, structural verifier and image loader take instructions apart with
// the accessors here, never with masks of their own. The accessors are one-line functions V8 inlines in
// the interpreter's loop.

/** The fields of an instruction the decoder reads (an `Insn` has them, and more). */
export interface RawInsn {
  opcode: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

/** Instruction classes (low 3 bits of the opcode). */
export const Class = { LD: 0x00, LDX: 0x01, ST: 0x02, STX: 0x03, ALU: 0x04, JMP: 0x05, JMP32: 0x06, ALU64: 0x07 } as const;
/** ALU operations (high 4 bits). */
export const AluOp = {
  ADD: 0x00, SUB: 0x10, MUL: 0x20, DIV: 0x30, OR: 0x40, AND: 0x50, LSH: 0x60, RSH: 0x70,
  NEG: 0x80, MOD: 0x90, XOR: 0xa0, MOV: 0xb0, ARSH: 0xc0, END: 0xd0,
} as const;
/** Jump operations (high 4 bits). JCOND (cpu v4's may_goto) is the JMP class's 0xe0. */
export const JmpOp = {
  JA: 0x00, JEQ: 0x10, JGT: 0x20, JGE: 0x30, JSET: 0x40, JNE: 0x50, JSGT: 0x60, JSGE: 0x70,
  CALL: 0x80, EXIT: 0x90, JLT: 0xa0, JLE: 0xb0, JSLT: 0xc0, JSLE: 0xd0, JCOND: 0xe0,
} as const;
/** Source operand: immediate (K) or register (X). On BPF_END it is the byte order (K: to_le, X: to_be). */
export const Src = { K: 0x00, X: 0x08 } as const;
/** Memory access sizes. */
export const Size = { W: 0x00, H: 0x08, B: 0x10, DW: 0x18 } as const;
/** Memory modes: IMM (ld_imm64), MEM, MEMSX (cpu v4 sign-extending loads), ATOMIC. */
export const Mode = { IMM: 0x00, MEM: 0x60, MEMSX: 0x80, ATOMIC: 0xc0 } as const;

/** BPF_ATOMIC operations (the instruction's imm): read-modify-write, with BPF_FETCH (0x01) returning the
 *  old value in src; XCHG and CMPXCHG always fetch (CMPXCHG compares with r0 and returns the old value in
 *  r0); LOAD_ACQ and STORE_REL are the load-acquire/store-release forms (Linux 6.15). */
export const AtomicOp = {
  ADD: 0x00, OR: 0x40, AND: 0x50, XOR: 0xa0, FETCH: 0x01, XCHG: 0xe0 | 0x01, CMPXCHG: 0xf0 | 0x01,
  LOAD_ACQ: 0x100, STORE_REL: 0x110,
} as const;

/** Whole opcodes with a meaning of their own. */
export const Opcode = {
  /** BPF_LD | BPF_IMM | BPF_DW: the 16-byte load of a 64-bit immediate. */
  LD_IMM64: Class.LD | Mode.IMM | Size.DW,
  CALL: Class.JMP | JmpOp.CALL,
  EXIT: Class.JMP | JmpOp.EXIT,
  JA: Class.JMP | JmpOp.JA,
  /** BPF_JMP32 | BPF_JA (cpu v4): the unconditional jump whose offset is the 32-bit imm. */
  GOTOL: Class.JMP32 | JmpOp.JA,
  /** BPF_JMP | BPF_JCOND (cpu v4, src 0): may_goto. */
  MAY_GOTO: Class.JMP | JmpOp.JCOND,
} as const;

/** src_reg values with a special meaning on call and ld_imm64. */
export const PSEUDO_CALL = 1;
export const PSEUDO_KFUNC_CALL = 2;

// ---- fields ----------------------------------------------------------------------------------------

/** The class (low 3 bits). */
export const insnClass = (opcode: number): number => opcode & 0x07;
/** The ALU or jump operation (high 4 bits). */
export const opField = (opcode: number): number => opcode & 0xf0;
/** The opcode with its ALU or jump operation replaced (class and source kept). */
export const withOp = (opcode: number, op: number): number => (opcode & 0x0f) | op;
/** The source bit: the operand is src_reg (X), not imm (K). */
export const srcIsReg = (opcode: number): boolean => (opcode & 0x08) !== 0;
/** The size field of a load or store (Size.*). */
export const sizeField = (opcode: number): number => opcode & 0x18;
/** The mode field of a load or store (Mode.*). */
export const modeField = (opcode: number): number => opcode & 0xe0;
const SIZE_BYTES_BY_FIELD = [4, 2, 1, 8];
/** The bytes a load or store of this opcode moves (1, 2, 4 or 8). */
export const sizeBytes = (opcode: number): number => SIZE_BYTES_BY_FIELD[(opcode >> 3) & 3];
/** ALU or ALU64. */
export const isAluClass = (cls: number): boolean => cls === Class.ALU || cls === Class.ALU64;
/** JMP or JMP32. */
export const isJmpClass = (cls: number): boolean => cls === Class.JMP || cls === Class.JMP32;
/** The 16-byte ld_imm64. */
export const isLdImm64 = (opcode: number): boolean => opcode === Opcode.LD_IMM64;
/** A call (helper, kfunc or subprogram). */
export const isCall = (opcode: number): boolean => opcode === Opcode.CALL;
/** BPF_STX | BPF_ATOMIC of any size. */
export const isAtomic = (opcode: number): boolean => (opcode & 0xe7) === (Class.STX | Mode.ATOMIC);
/** 8-byte slots an instruction of this opcode takes. */
export const insnSlots = (opcode: number): number => (opcode === Opcode.LD_IMM64 ? 2 : 1);
/** Slots of a list of instructions. */
export function countSlots(insns: readonly { opcode: number }[]): number {
  let n = 0;
  for (const i of insns) n += insnSlots(i.opcode);
  return n;
}
/** Whether src_reg must name a register r0-r10 (on the BPF_LD class and on calls, of either source bit,
 *  it is a pseudo number instead). */
export const srcIsRegisterField = (opcode: number): boolean => insnClass(opcode) !== Class.LD && (opcode & 0xf7) !== Opcode.CALL;

/** Does the instruction end a basic block (a jump, may_goto or exit; calls do not)? By the class and
 *  the operation field alone, so an invalid form (a JMP32 call) is treated like the valid one. */
export function endsBlock(opcode: number): boolean {
  return isJmpClass(insnClass(opcode)) && opField(opcode) !== JmpOp.CALL;
}
/** Does it jump somewhere (an instruction with a target: ja, gotol, conditional jumps, may_goto)? */
export function hasJumpTarget(opcode: number): boolean {
  return endsBlock(opcode) && opField(opcode) !== JmpOp.EXIT;
}
/** The jump distance in slots, relative to the next slot: gotol's is imm, every other jump's off. */
export const jumpOffset = (i: RawInsn): number => (i.opcode === Opcode.GOTOL ? i.imm : i.off);
/** The slot a jump at `slot` goes to. */
export const jumpTarget = (i: RawInsn, slot: number): number => slot + 1 + jumpOffset(i);

/** Slot index <-> instruction index of a list of instructions. */
export interface SlotLayout {
  /** slotOf[i]: the first slot of instruction i. */
  slotOf: number[];
  /** The instruction that starts at a slot (none for the second half of an ld_imm64). */
  indexAt: Map<number, number>;
  /** Slots of the whole list. */
  total: number;
}
export function slotLayout(insns: readonly { opcode: number }[]): SlotLayout {
  const slotOf: number[] = [];
  const indexAt = new Map<number, number>();
  let slot = 0;
  for (let i = 0; i < insns.length; i++) {
    indexAt.set(slot, i);
    slotOf.push(slot);
    slot += insnSlots(insns[i].opcode);
  }
  return { slotOf, indexAt, total: slot };
}

// ---- what an instruction is ----------------------------------------------------------------------

export type AluName = "add" | "sub" | "mul" | "div" | "or" | "and" | "lsh" | "rsh" | "mod" | "xor" | "mov" | "arsh";
export type JmpName = "jeq" | "jgt" | "jge" | "jset" | "jne" | "jsgt" | "jsge" | "jlt" | "jle" | "jslt" | "jsle";
export type AtomicName = "add" | "or" | "and" | "xor" | "xchg" | "cmpxchg" | "load_acquire" | "store_release";
export type SizeBytes = 1 | 2 | 4 | 8;

/** An instruction decoded. `wide` is 64-bit (ALU64/JMP), else 32-bit (ALU/JMP32). */
export type Decoded =
  /** dst op= src or imm; `signed` is sdiv/smod (off 1, cpu v4). */
  | { kind: "alu"; wide: boolean; op: AluName; reg: boolean; signed: boolean }
  /** movsx (cpu v4): dst = the low `bits` of src, sign-extended (ALU32: to 32 bits). */
  | { kind: "movsx"; wide: boolean; bits: 8 | 16 | 32 }
  | { kind: "neg"; wide: boolean }
  /** Byte order: ALU32 to_le (a truncation on little-endian) / to_be; ALU64 (cpu v4) an unconditional swap. */
  | { kind: "end"; order: "le" | "be" | "swap"; bits: 16 | 32 | 64 }
  /** ja (off) or gotol (JMP32 ja, cpu v4: imm). */
  | { kind: "ja"; long: boolean }
  | { kind: "may_goto" }
  | { kind: "jmp"; wide: boolean; op: JmpName; reg: boolean }
  | { kind: "call"; target: "helper" | "subprog" | "kfunc" }
  | { kind: "exit" }
  /** The 16-byte load of a 64-bit immediate; `pseudo` is src_reg (0: a plain value; 1: a map fd ...). */
  | { kind: "ld_imm64"; pseudo: number }
  /** dst = *(size *)(src + off), zero-extended, or sign-extended (`signExtend`: ldsx, cpu v4). */
  | { kind: "ldx"; size: SizeBytes; signExtend: boolean }
  | { kind: "st"; size: SizeBytes }
  | { kind: "stx"; size: SizeBytes }
  /** BPF_ATOMIC: `fetch` returns the old value (in src; in r0 for cmpxchg). */
  | { kind: "atomic"; size: SizeBytes; op: AtomicName; fetch: boolean }
  | { kind: "invalid"; why: string };

const ALU_NAMES: Record<number, AluName> = {
  [AluOp.ADD]: "add", [AluOp.SUB]: "sub", [AluOp.MUL]: "mul", [AluOp.DIV]: "div", [AluOp.OR]: "or", [AluOp.AND]: "and",
  [AluOp.LSH]: "lsh", [AluOp.RSH]: "rsh", [AluOp.MOD]: "mod", [AluOp.XOR]: "xor", [AluOp.MOV]: "mov", [AluOp.ARSH]: "arsh",
};
const JMP_NAMES: Record<number, JmpName> = {
  [JmpOp.JEQ]: "jeq", [JmpOp.JGT]: "jgt", [JmpOp.JGE]: "jge", [JmpOp.JSET]: "jset", [JmpOp.JNE]: "jne", [JmpOp.JSGT]: "jsgt",
  [JmpOp.JSGE]: "jsge", [JmpOp.JLT]: "jlt", [JmpOp.JLE]: "jle", [JmpOp.JSLT]: "jslt", [JmpOp.JSLE]: "jsle",
};
const ATOMIC_RMW: Record<number, AtomicName> = { [AtomicOp.ADD]: "add", [AtomicOp.OR]: "or", [AtomicOp.AND]: "and", [AtomicOp.XOR]: "xor" };

const hex = (n: number) => `0x${n.toString(16)}`;

/** What an instruction is, by the kernel's encoding rules for the fields that pick the operation (the
 *  opcode, off where cpu v4 gives it a meaning, imm of BPF_END and BPF_ATOMIC, src of calls). Operands
 *  (registers, offsets, immediates) are not checked here: the engine's verifier does that. */
export function decodeInsn(i: RawInsn): Decoded {
  const cls = insnClass(i.opcode);
  const op = opField(i.opcode);
  const reg = srcIsReg(i.opcode);
  if (isAluClass(cls)) {
    const wide = cls === Class.ALU64;
    if (op === AluOp.NEG) return reg ? { kind: "invalid", why: `NEG with BPF_X ${hex(i.opcode)}` } : { kind: "neg", wide };
    if (op === AluOp.END) {
      if (i.imm !== 16 && i.imm !== 32 && i.imm !== 64) return { kind: "invalid", why: `byte swap width ${i.imm}` };
      if (wide && reg) return { kind: "invalid", why: `ALU64 BPF_END with BPF_X ${hex(i.opcode)}` };
      return { kind: "end", order: wide ? "swap" : reg ? "be" : "le", bits: i.imm };
    }
    const name = ALU_NAMES[op];
    if (!name) return { kind: "invalid", why: `ALU operation ${hex(op)}` };
    if (op === AluOp.MOV && i.off !== 0) {
      if (reg && (i.off === 8 || i.off === 16 || (wide && i.off === 32))) return { kind: "movsx", wide, bits: i.off };
      return { kind: "invalid", why: `mov with off ${i.off}` };
    }
    const signed = (op === AluOp.DIV || op === AluOp.MOD) && i.off === 1;
    if (i.off !== 0 && !signed) return { kind: "invalid", why: `ALU operation ${name} with off ${i.off}` };
    return { kind: "alu", wide, op: name, reg, signed };
  }
  if (isJmpClass(cls)) {
    const wide = cls === Class.JMP;
    if (op === JmpOp.JA) {
      if (reg) return { kind: "invalid", why: `ja with BPF_X ${hex(i.opcode)}` };
      return { kind: "ja", long: !wide };
    }
    if (wide && op === JmpOp.CALL) {
      if (i.src === PSEUDO_CALL) return { kind: "call", target: "subprog" };
      if (i.src === PSEUDO_KFUNC_CALL) return { kind: "call", target: "kfunc" };
      if (i.src === 0) return { kind: "call", target: "helper" };
      return { kind: "invalid", why: `call with src ${i.src}` };
    }
    if (wide && op === JmpOp.EXIT) return { kind: "exit" };
    if (wide && op === JmpOp.JCOND && !reg) return i.src === 0 ? { kind: "may_goto" } : { kind: "invalid", why: `JCOND with src ${i.src}` };
    const name = JMP_NAMES[op];
    if (!name) return { kind: "invalid", why: `jump operation ${hex(op)} in ${wide ? "JMP" : "JMP32"}` };
    return { kind: "jmp", wide, op: name, reg };
  }
  const size = sizeBytes(i.opcode) as SizeBytes;
  const mode = modeField(i.opcode);
  if (cls === Class.LD) {
    if (i.opcode === Opcode.LD_IMM64) return { kind: "ld_imm64", pseudo: i.src };
    return { kind: "invalid", why: `BPF_LD ${hex(i.opcode)} (only ld_imm64 exists for struct_ops programs)` };
  }
  if (cls === Class.LDX) {
    if (mode === Mode.MEM) return { kind: "ldx", size, signExtend: false };
    if (mode === Mode.MEMSX && size !== 8) return { kind: "ldx", size, signExtend: true };
    return { kind: "invalid", why: `load mode ${hex(mode)} of size ${size}` };
  }
  if (cls === Class.ST) {
    if (mode === Mode.MEM) return { kind: "st", size };
    return { kind: "invalid", why: `store mode ${hex(mode)}` };
  }
  // STX
  if (mode === Mode.MEM) return { kind: "stx", size };
  if (mode !== Mode.ATOMIC) return { kind: "invalid", why: `store mode ${hex(mode)}` };
  if (i.imm === AtomicOp.LOAD_ACQ) return { kind: "atomic", size, op: "load_acquire", fetch: false };
  if (i.imm === AtomicOp.STORE_REL) return { kind: "atomic", size, op: "store_release", fetch: false };
  if (size !== 4 && size !== 8) return { kind: "invalid", why: `atomic operation 0x${i.imm.toString(16)} on ${size} bytes` };
  if (i.imm === AtomicOp.XCHG) return { kind: "atomic", size, op: "xchg", fetch: true };
  if (i.imm === AtomicOp.CMPXCHG) return { kind: "atomic", size, op: "cmpxchg", fetch: true };
  const rmw = ATOMIC_RMW[i.imm & ~AtomicOp.FETCH];
  if (!rmw) return { kind: "invalid", why: `atomic operation 0x${i.imm.toString(16)}` };
  return { kind: "atomic", size, op: rmw, fetch: (i.imm & AtomicOp.FETCH) !== 0 };
}

/** Is this a cpu v4 instruction (one a -mcpu=v3 program cannot contain)? */
export function isCpuV4(d: Decoded): boolean {
  switch (d.kind) {
    case "alu": return d.signed;
    case "movsx": return true;
    case "end": return d.order === "swap";
    case "ja": return d.long;
    case "may_goto": return true;
    case "ldx": return d.signExtend;
    case "atomic": return d.op === "load_acquire" || d.op === "store_release";
    default: return false;
  }
}

// ---- bytes ---------------------------------------------------------------------------------------

/** One instruction read from bytes; `imm64` only for ld_imm64. */
export interface BytesInsn extends RawInsn {
  imm64?: bigint;
}

/** Decode little-endian instruction bytes into instructions (ld_imm64 reads its second slot, unless
 *  the bytes end before it; a trailing partial slot is ignored). */
export function decodeBytes(bytes: Uint8Array): BytesInsn[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: BytesInsn[] = [];
  for (let o = 0; o + 8 <= bytes.length; ) {
    const opcode = dv.getUint8(o);
    const regs = dv.getUint8(o + 1);
    const insn: BytesInsn = { opcode, dst: regs & 0xf, src: regs >> 4, off: dv.getInt16(o + 2, true), imm: dv.getInt32(o + 4, true) };
    if (isLdImm64(opcode) && o + 16 <= bytes.length) {
      const lo = BigInt(dv.getUint32(o + 4, true));
      const hi = BigInt(dv.getUint32(o + 12, true));
      insn.imm64 = (hi << 32n) | lo;
      o += 16;
    } else o += 8;
    out.push(insn);
  }
  return out;
}
