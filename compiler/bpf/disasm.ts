// The one disassembly format: used by `uringbpf build --emit asm`, the golden fixtures and error messages.
// One line per instruction: slot index, then llvm-objdump's notation (`w1 += 1`, `r2 = *(u32 *)(r6 + 8)`,
// `if w1 > 7 goto +5 <12>`), optionally with the TypeScript line before the first instruction of each line.

import { slots, type Insn } from "./insn";

const ALU: Record<number, string> = { 0x00: "+=", 0x10: "-=", 0x20: "*=", 0x30: "/=", 0x40: "|=", 0x50: "&=", 0x60: "<<=", 0x70: ">>=", 0x90: "%=", 0xa0: "^=", 0xb0: "=", 0xc0: "s>>=" };
const JMP: Record<number, string> = { 0x10: "==", 0x20: ">", 0x30: ">=", 0x40: "&", 0x50: "!=", 0x60: "s>", 0x70: "s>=", 0xa0: "<", 0xb0: "<=", 0xc0: "s<", 0xd0: "s<=" };
const SIZE: Record<number, string> = { 0x00: "u32", 0x08: "u16", 0x10: "u8", 0x18: "u64" };

function hex(n: number | bigint): string {
  const v = BigInt(n);
  return v < 0n ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`;
}

const ATOMIC_OP: Record<number, string> = { 0x00: "+=", 0x40: "|=", 0x50: "&=", 0xa0: "^=" };

/** BPF_ATOMIC (STX | ATOMIC) in LLVM's notation (llvm-objdump 14 knows only the 64-bit forms and
 *  32-bit add; 17+ all read-modify-write forms; 20+ load-acquire/store-release). */
function atomic(i: Insn, size: string): string {
  const r = (i.opcode & 0x18) === 0x18 ? "r" : "w";
  const at = `r${i.dst} ${i.off < 0 ? "-" : "+"} ${Math.abs(i.off)}`;
  if (i.imm === 0x100) return `${r}${i.dst} = load_acquire((${size} *)(r${i.src} ${i.off < 0 ? "-" : "+"} ${Math.abs(i.off)}))`;
  if (i.imm === 0x110) return `store_release((${size} *)(${at}), ${r}${i.src})`;
  if (i.imm === 0xe1) return r === "r" ? `r${i.src} = xchg_64(${at}, r${i.src})` : `w${i.src} = xchg32_32(${at}, w${i.src})`;
  if (i.imm === 0xf1) return r === "r" ? `r0 = cmpxchg_64(${at}, r0, r${i.src})` : `w0 = cmpxchg32_32(${at}, w0, w${i.src})`;
  const op = ATOMIC_OP[i.imm & ~1];
  if (!op || (i.imm & ~0xf1) !== 0) return `.insn atomic 0x${i.imm.toString(16)}`;
  if (!(i.imm & 1)) return `lock *(${size} *)(${at}) ${op} ${r}${i.src}`;
  return `${r}${i.src} = atomic_fetch_${{ "+=": "add", "|=": "or", "&=": "and", "^=": "xor" }[op]}((${size} *)(${at}), ${r}${i.src})`;
}

/** The text of one instruction at slot `slot`. */
export function formatInsn(i: Insn, slot: number): string {
  const cls = i.opcode & 7;
  const op = i.opcode & 0xf0;
  const useReg = (i.opcode & 0x08) !== 0;
  if (cls === 4 || cls === 7) {
    const r = cls === 7 ? "r" : "w";
    if (op === 0x80) return `${r}${i.dst} = -${r}${i.dst}`;
    if (op === 0xd0) return `r${i.dst} = ${cls === 7 ? "bswap" : useReg ? "be" : "le"}${i.imm} r${i.dst}`;
    const src = useReg ? `${r}${i.src}` : String(i.imm);
    // cpu v4: MOV with off 8/16/32 sign-extends, DIV/MOD with off 1 are signed.
    if (op === 0xb0 && useReg && (i.off === 8 || i.off === 16 || i.off === 32)) return `${r}${i.dst} = (s${i.off})${r}${i.src}`;
    if ((op === 0x30 || op === 0x90) && i.off === 1) return `${r}${i.dst} s${ALU[op]} ${src}`;
    return `${r}${i.dst} ${ALU[op] ?? `alu(0x${op.toString(16)})`} ${src}`;
  }
  if (cls === 5 || cls === 6) {
    if (cls === 5 && op === 0x00) return `goto ${i.off >= 0 ? "+" : ""}${i.off} <${slot + 1 + i.off}>`;
    if (cls === 5 && op === 0x90) return "exit";
    if (cls === 5 && op === 0xe0 && i.src === 0) return `may_goto ${i.off >= 0 ? "+" : ""}${i.off} <${slot + 1 + i.off}>`;
    if (cls === 5 && op === 0x80) {
      if (i.src === 1) return `call ${i.comment ?? i.reloc?.symbol ?? `pc${i.imm >= 0 ? "+" : ""}${i.imm}`}`;
      if (i.src === 2) return `call ${i.comment ?? i.reloc?.symbol ?? `kfunc ${i.imm}`}`;
      return `call ${i.comment ?? i.imm}`;
    }
    const r = cls === 5 ? "r" : "w";
    const rhs = useReg ? `${r}${i.src}` : String(i.imm);
    return `if ${r}${i.dst} ${JMP[op] ?? `jmp(0x${op.toString(16)})`} ${rhs} goto ${i.off >= 0 ? "+" : ""}${i.off} <${slot + 1 + i.off}>`;
  }
  if (i.opcode === 0x18) {
    const what = i.reloc?.kind === "global" ? `&${i.reloc.symbol}${i.imm64 ? ` + ${i.imm64}` : ""}` : hex(i.imm64 ?? BigInt(i.imm));
    return `r${i.dst} = ${what} ll${i.reloc?.kind !== "global" && i.comment ? ` ; ${i.comment}` : ""}`;
  }
  const size = SIZE[i.opcode & 0x18];
  const mem = (reg: number, off: number) => `*(${size} *)(r${reg} ${off < 0 ? "-" : "+"} ${Math.abs(off)})`;
  if (cls === 1 && (i.opcode & 0xe0) === 0x80) return `r${i.dst} = ${mem(i.src, i.off).replace("(u", "(s")}`;
  if (cls === 1) return `r${i.dst} = ${mem(i.src, i.off)}`;
  if (cls === 3 && (i.opcode & 0xe0) === 0xc0) return atomic(i, size);
  if (cls === 3) return `${mem(i.dst, i.off)} = r${i.src}`;
  if (cls === 2) return `${mem(i.dst, i.off)} = ${i.imm}`;
  return `.insn 0x${i.opcode.toString(16)}`;
}

/** Disassemble instructions, one per line, optionally with the TypeScript source lines interleaved. */
export function disassemble(insns: Insn[], opts: { interleaveSource?: boolean } = {}): string {
  const out: string[] = [];
  let slot = 0;
  let last = "";
  for (const i of insns) {
    if (opts.interleaveSource && i.pos) {
      const key = `${i.pos.file}:${i.pos.line}`;
      if (key !== last) out.push(`; ${i.pos.text.trim()}   @ ${i.pos.file}:${i.pos.line}`);
      last = key;
    }
    out.push(`${String(slot).padStart(5)}: ${formatInsn(i, slot)}`);
    slot += slots(i);
  }
  return out.join("\n");
}
