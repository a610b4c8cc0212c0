// The one disassembly format: used by `uringbpf build --emit asm`, the golden fixtures and error messages.
// One line per instruction: slot index, then llvm-objdump's notation (`w1 += 1`, `r2 = *(u32 *)(r6 + 8)`,
// `if w1 > 7 goto +5 <12>`, and LLVM 18+'s for cpu v4: `r1 s/= r2`, `r1 = (s8)r2`, `gotol`, `may_goto`),
// optionally with the TypeScript line before the first instruction of each line. Instructions are taken
// apart by the one decoder (decode.ts).

import { decodeInsn, jumpOffset, type AluName, type AtomicName, type JmpName } from "./decode";
import { slots, type Insn } from "./insn";

const ALU: Record<AluName, string> = { add: "+=", sub: "-=", mul: "*=", div: "/=", or: "|=", and: "&=", lsh: "<<=", rsh: ">>=", mod: "%=", xor: "^=", mov: "=", arsh: "s>>=" };
const JMP: Record<JmpName, string> = { jeq: "==", jgt: ">", jge: ">=", jset: "&", jne: "!=", jsgt: "s>", jsge: "s>=", jlt: "<", jle: "<=", jslt: "s<", jsle: "s<=" };
const SIZE: Record<number, string> = { 4: "u32", 2: "u16", 1: "u8", 8: "u64" };

function hex(n: number | bigint): string {
  const v = BigInt(n);
  return v < 0n ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`;
}

const signedOff = (off: number) => `${off >= 0 ? "+" : ""}${off}`;
const place = (reg: number, off: number) => `r${reg} ${off < 0 ? "-" : "+"} ${Math.abs(off)}`;

/** BPF_ATOMIC (STX | ATOMIC) in LLVM's notation (llvm-objdump 14 knows only the 64-bit forms and
 *  32-bit add; 17+ all read-modify-write forms; 20+ load-acquire/store-release). */
function atomic(i: Insn, op: AtomicName, fetch: boolean, size: number): string {
  const r = size === 8 ? "r" : "w";
  const ty = SIZE[size];
  const at = place(i.dst, i.off);
  switch (op) {
    case "load_acquire": return `${r}${i.dst} = load_acquire((${ty} *)(${place(i.src, i.off)}))`;
    case "store_release": return `store_release((${ty} *)(${at}), ${r}${i.src})`;
    case "xchg": return r === "r" ? `r${i.src} = xchg_64(${at}, r${i.src})` : `w${i.src} = xchg32_32(${at}, w${i.src})`;
    case "cmpxchg": return r === "r" ? `r0 = cmpxchg_64(${at}, r0, r${i.src})` : `w0 = cmpxchg32_32(${at}, w0, w${i.src})`;
    default:
      if (!fetch) return `lock *(${ty} *)(${at}) ${ALU[op]} ${r}${i.src}`;
      return `${r}${i.src} = atomic_fetch_${op}((${ty} *)(${at}), ${r}${i.src})`;
  }
}

/** The text of one instruction at slot `slot`. */
export function formatInsn(i: Insn, slot: number): string {
  const d = decodeInsn(i);
  const target = () => `${signedOff(jumpOffset(i))} <${slot + 1 + jumpOffset(i)}>`;
  switch (d.kind) {
    case "alu": {
      const r = d.wide ? "r" : "w";
      const src = d.reg ? `${r}${i.src}` : String(i.imm);
      return `${r}${i.dst} ${d.signed ? `s${ALU[d.op]}` : ALU[d.op]} ${src}`;
    }
    case "movsx": {
      const r = d.wide ? "r" : "w";
      return `${r}${i.dst} = (s${d.bits})${r}${i.src}`;
    }
    case "neg": {
      const r = d.wide ? "r" : "w";
      return `${r}${i.dst} = -${r}${i.dst}`;
    }
    case "end": return `r${i.dst} = ${d.order === "swap" ? "bswap" : d.order}${d.bits} r${i.dst}`;
    case "ja": return `${d.long ? "gotol" : "goto"} ${target()}`;
    case "may_goto": return `may_goto ${target()}`;
    case "exit": return "exit";
    case "call":
      if (d.target === "subprog") return `call ${i.comment ?? i.reloc?.symbol ?? `pc${i.imm >= 0 ? "+" : ""}${i.imm}`}`;
      if (d.target === "kfunc") return `call ${i.comment ?? i.reloc?.symbol ?? `kfunc ${i.imm}`}`;
      return `call ${i.comment ?? i.imm}`;
    case "jmp": {
      const r = d.wide ? "r" : "w";
      const rhs = d.reg ? `${r}${i.src}` : String(i.imm);
      return `if ${r}${i.dst} ${JMP[d.op]} ${rhs} goto ${target()}`;
    }
    case "ld_imm64": {
      const what = i.reloc?.kind === "global" ? `&${i.reloc.symbol}${i.imm64 ? ` + ${i.imm64}` : ""}` : hex(i.imm64 ?? BigInt(i.imm));
      return `r${i.dst} = ${what} ll${i.reloc?.kind !== "global" && i.comment ? ` ; ${i.comment}` : ""}`;
    }
    case "ldx": return `r${i.dst} = *(${d.signExtend ? `s${d.size * 8}` : SIZE[d.size]} *)(${place(i.src, i.off)})`;
    case "stx": return `*(${SIZE[d.size]} *)(${place(i.dst, i.off)}) = r${i.src}`;
    case "st": return `*(${SIZE[d.size]} *)(${place(i.dst, i.off)}) = ${i.imm}`;
    case "atomic": return atomic(i, d.op, d.fetch, d.size);
    case "invalid": return `.insn 0x${i.opcode.toString(16)} ; ${d.why}`;
  }
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
