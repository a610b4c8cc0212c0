// Hand-assembled loop_step objects for the engine's tests: `assemble` wraps any instruction list in a real
// object (the compiler's output for a template program with the code replaced, so its BTF, struct_ops map
// and relocations are what libbpf expects; every instruction carries the template's TypeScript line).
//
// The v4 table: an object that runs every cpu v4 instruction (sdiv, smod, movsx, ldsx, bswap,
// gotol; 32- and 64-bit, register and immediate forms) and the older ALU forms they sit beside (unsigned
// div/mod, to_le/to_be) over a table of edge values, storing each result in one slot of the .bss array
// `out`. The same bytes run in the kernel (the VM) and in the engine, and the two `out` arrays must be
// equal. The object is the compiler's own output for a template program with the code replaced, so its
// BTF, struct_ops map and relocations are what libbpf expects.
import { compileSource } from "../../compiler/index";
import { writeObject } from "../../compiler/elf/writer";
import type { Insn } from "../../compiler/bpf/insn";

const M64 = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;
/** Dividends and divisors: zero, ±1, small values of both signs, the 32- and 64-bit extremes. */
export const VALUES: bigint[] = [0n, 1n, -1n, 2n, -3n, 7n, -10n, I64_MIN, I64_MAX, 0x80000000n, 0x7fffffffn, 0xfffffff6n, 0x1_0000_0007n, -0x80000000n];
/** Immediates for the K forms (never 0: the verifier refuses an immediate division by zero). */
export const IMMS = [1, -1, 3, -3, -0x80000000];
/** Values for the unary operations: byte, half and word patterns with the sign bit set and clear. */
export const UNARY: bigint[] = [...VALUES, 0x80n, 0xffn, 0x7fn, 0x8000n, 0xffffn, 0x7fffn, 0x123456789abcdef0n, 0xfedcba9876543210n];

const ld64 = (dst: number, v: bigint): Insn => ({ opcode: 0x18, dst, src: 0, off: 0, imm: Number(BigInt.asIntN(32, v & 0xffffffffn)), imm64: v & M64 });
const alu = (opcode: number, dst: number, src: number, off: number, imm: number): Insn => ({ opcode, dst, src, off, imm });

export interface V4Table {
  object: Uint8Array;
  /** What each slot of `out` holds. */
  labels: string[];
}

/** The template's single line of code (every assembled instruction carries it). */
export const TEMPLATE_LINE = "  out = 7n;";

/**
 * A loop_step object `v4` whose code is `code` (a .bss global `out` of `outSlots` u64 slots when more
 * than one, a u64 otherwise; an ld_imm64 relocated against "out" loads its address).
 */
export function assemble(code: Insn[], outSlots = 1): Uint8Array {
  const res = compileSource(
    "v4.ts",
    `import { loopStep, u64, STOP } from "uringbpf";
export let out: u64 = 0n;
export const v4 = loopStep((ring, lp) => {
  out = 7n;
  return STOP;
});
`,
  );
  if (!res.ok || !res.module) throw new Error("the template program did not compile");
  const fn = res.module.functions.find((f) => f.name === "v4")!;
  const pos = fn.insns.find((i) => i.pos)?.pos;
  fn.insns = code.map((i) => ({ ...i, pos }));
  if (outSlots > 1) {
    const out = res.module.globals.find((g) => g.name === "out")!;
    out.size = outSlots * 8;
    out.type = { kind: "array", elem: out.type, count: outSlots };
    delete out.init;
  }
  return writeObject(res.module);
}

/** r6 = &out */
export const LD_OUT: Insn = { opcode: 0x18, dst: 6, src: 0, off: 0, imm: 0, imm64: 0n, reloc: { kind: "global", symbol: "out" } };
/** r0 = 1 (STOP); exit */
export const STOP_EXIT: Insn[] = [{ opcode: 0xb7, dst: 0, src: 0, off: 0, imm: 1 }, { opcode: 0x95, dst: 0, src: 0, off: 0, imm: 0 }];

/** Build the v4 table object. */
export function buildV4Table(): V4Table {
  const code: Insn[] = [LD_OUT];
  const labels: string[] = [];
  const store = (label: string) => {
    code.push({ opcode: 0x7b, dst: 6, src: 1, off: labels.length * 8, imm: 0 }); // *(u64 *)(r6 + 8k) = r1
    labels.push(label);
  };
  // Binary operations, register form: r1 op= r2 (ALU64 0x07 / ALU32 0x04 class, X source 0x08).
  const binary: [string, number, number][] = [
    ["udiv64", 0x3f, 0], ["umod64", 0x9f, 0], ["sdiv64", 0x3f, 1], ["smod64", 0x9f, 1],
    ["udiv32", 0x3c, 0], ["umod32", 0x9c, 0], ["sdiv32", 0x3c, 1], ["smod32", 0x9c, 1],
  ];
  for (const [name, opcode, off] of binary)
    for (const a of VALUES)
      for (const b of VALUES) {
        code.push(ld64(1, a), ld64(2, b), alu(opcode, 1, 2, off, 0));
        store(`${name} ${a} ${b}`);
      }
  // Immediate forms of the signed operations (the immediate is sign-extended to 64 bits).
  const immediate: [string, number][] = [["sdiv64", 0x37], ["smod64", 0x97], ["sdiv32", 0x34], ["smod32", 0x94]];
  for (const [name, opcode] of immediate)
    for (const a of VALUES)
      for (const k of IMMS) {
        code.push(ld64(1, a), alu(opcode, 1, 0, 1, k));
        store(`${name} ${a} imm ${k}`);
      }
  for (const v of UNARY) {
    // movsx: r1 = (s8/s16/s32) r2, w1 = (s8/s16) w2
    for (const [name, opcode, off] of [["movsx64 8", 0xbf, 8], ["movsx64 16", 0xbf, 16], ["movsx64 32", 0xbf, 32], ["movsx32 8", 0xbc, 8], ["movsx32 16", 0xbc, 16]] as const) {
      code.push(ld64(1, 0x5555n), ld64(2, v), alu(opcode, 1, 2, off, 0));
      store(`${name} ${v}`);
    }
    // ldsx: r1 = *(s8/s16/s32 *)(r10 - 8) after storing the value there
    for (const [name, opcode] of [["ldsx 8", 0x91], ["ldsx 16", 0x89], ["ldsx 32", 0x81]] as const) {
      code.push(ld64(2, v), { opcode: 0x7b, dst: 10, src: 2, off: -8, imm: 0 }, { opcode, dst: 1, src: 10, off: -8, imm: 0 });
      store(`${name} ${v}`);
    }
    // bswap (ALU64 END), to_le (ALU32 END, K) and to_be (ALU32 END, X)
    for (const [name, opcode] of [["bswap", 0xd7], ["le", 0xd4], ["be", 0xdc]] as const)
      for (const width of [16, 32, 64]) {
        code.push(ld64(1, v), alu(opcode, 1, 0, 0, width));
        store(`${name}${width} ${v}`);
      }
  }
  // gotol (JMP32 ja, imm offset): forward over an instruction, and backwards.
  code.push(ld64(1, 3n), alu(0x06, 0, 0, 0, 2), alu(0x07, 1, 0, 0, 100), alu(0x06, 0, 0, 0, 1), alu(0x06, 0, 0, 0, -3));
  store("gotol forward, back, forward");
  // gotol backwards onto an ld_imm64 (every instruction must stay reachable: the verifier refuses dead code)
  code.push(ld64(1, 0n), alu(0x06, 0, 0, 0, 3), ld64(2, 40n), alu(0x06, 0, 0, 0, 2), alu(0x07, 1, 0, 0, 2), alu(0x06, 0, 0, 0, -5), alu(0x0f, 1, 2, 0, 0));
  store("gotol onto an ld_imm64");
  code.push(...STOP_EXIT);
  return { object: assemble(code, labels.length), labels };
}

/** The `out` array of a loader JSON line (which prints a non-integer global as its bytes in hex) or of
 *  an engine result, as unsigned 64-bit values. */
export function outValues(out: unknown): bigint[] {
  if (typeof out === "string" && /^([0-9a-f]{16})+$/.test(out)) {
    const b = Buffer.from(out, "hex");
    return Array.from({ length: b.length / 8 }, (_, i) => b.readBigUInt64LE(i * 8));
  }
  if (!Array.isArray(out)) throw new Error(`out is not an array: ${String(out).slice(0, 100)}`);
  return out.map((x) => BigInt.asUintN(64, BigInt(x as string | number | bigint)));
}

const mov = (dst: number, imm: number): Insn => ({ opcode: 0xb7, dst, src: 0, off: 0, imm });

/** Objects the kernel verifier refuses for a structural reason, with the engine's refusal message. */
export const BAD_CODE: { name: string; code: Insn[]; message: RegExp }[] = [
  ["r10 = 0", [mov(10, 0), ...STOP_EXIT], /frame pointer is read only \(r10 written\) \(instruction 0, slot 0: r10 = 0 at v4\.ts:4/],
  ["a read of uninitialised stack", [{ opcode: 0x79, dst: 0, src: 10, off: -8, imm: 0 }, ...STOP_EXIT], /invalid read from stack at fp-8 \(8 bytes\): not written before on some path in this call \(the stack does not carry over between loop_step calls; .*\) \(instruction 0, slot 0: r0 = \*\(u64 \*\)\(r10 - 8\)/],
  [
    "a stack slot written on one path only",
    [LD_OUT, { opcode: 0x79, dst: 2, src: 6, off: 0, imm: 0 }, { opcode: 0x15, dst: 2, src: 0, off: 1, imm: 0 }, { opcode: 0x7b, dst: 10, src: 2, off: -16, imm: 0 }, { opcode: 0x79, dst: 3, src: 10, off: -16, imm: 0 }, ...STOP_EXIT],
    /invalid read from stack at fp-16 .*\(instruction 4, slot 5: r3 = \*\(u64 \*\)\(r10 - 16\)/,
  ],
  ["a register read before it is written", [{ opcode: 0xbf, dst: 1, src: 7, off: 0, imm: 0 }, ...STOP_EXIT], /R7 !read_ok: r7 is read before it is written on some path \(the source of an ALU operation\) \(instruction 0, slot 0: r1 = r7/],
  ["an exit with r0 unset", [{ opcode: 0x95, dst: 0, src: 0, off: 0, imm: 0 }], /R0 !read_ok.*the return value at exit/],
  ["a jump out of the function", [{ opcode: 0x05, dst: 0, src: 0, off: 100, imm: 0 }, ...STOP_EXIT], /jump out of range \(to slot 101; the function has slots 0-2\) \(instruction 0, slot 0: goto \+100 <101>/],
  ["a jump into an ld_imm64", [{ opcode: 0x05, dst: 0, src: 0, off: 1, imm: 0 }, LD_OUT, ...STOP_EXIT], /jump into the middle of an ld_imm64 \(slot 2\)/],
  ["a division by an immediate 0", [mov(0, 5), { opcode: 0x37, dst: 0, src: 0, off: 0, imm: 0 }, ...STOP_EXIT], /division by zero \(instruction 1, slot 1: r0 \/= 0/],
  ["a signed modulo by an immediate 0", [mov(0, 5), { opcode: 0x94, dst: 0, src: 0, off: 1, imm: 0 }, ...STOP_EXIT], /division by zero \(instruction 1/],
  ["an unknown helper", [{ opcode: 0x85, dst: 0, src: 0, off: 0, imm: 9999 }, ...STOP_EXIT], /call of unknown helper 9999 \(instruction 0, slot 0: call 9999/],
  ["a kfunc call without a relocation", [{ opcode: 0x85, dst: 0, src: 2, off: 0, imm: 77 }, ...STOP_EXIT], /call of a kfunc the engine does not provide \(btf id 77\)/],
  ["an unused bogus map fd in ld_imm64", [{ opcode: 0x18, dst: 3, src: 1, off: 0, imm: 12345, imm64: 12345n }, ...STOP_EXIT], /ld_imm64 of a map fd \(src_reg 1\) without a relocation: the fd is bogus \(instruction 0, slot 0: r3 = 0x3039 ll/],
  ["a function that falls off its end", [mov(0, 1)], /the last instruction falls through/],
  ["an unreachable instruction", [{ opcode: 0x05, dst: 0, src: 0, off: 1, imm: 0 }, mov(0, 2), ...STOP_EXIT], /unreachable instruction \(instruction 1, slot 1: r0 = 2 at/],
  ["an invalid opcode", [{ opcode: 0xe7, dst: 0, src: 0, off: 0, imm: 0 }, ...STOP_EXIT], /invalid ALU opcode 0xe7/],
].map(([name, code, message]) => ({ name: name as string, code: code as Insn[], message: message as RegExp }));
for (let r = 11; r <= 15; r++) {
  BAD_CODE.push({ name: `dst register r${r}`, code: [mov(r, 1), ...STOP_EXIT], message: new RegExp(`invalid register r${r} \\(dst_reg; registers are r0-r10\\) \\(instruction 0, slot 0: r${r} = 1 at v4\\.ts:4`) });
  BAD_CODE.push({ name: `src register r${r}`, code: [mov(0, 1), { opcode: 0x0f, dst: 0, src: r, off: 0, imm: 0 }, ...STOP_EXIT], message: new RegExp(`invalid register r${r} \\(src_reg; registers are r0-r10\\) \\(instruction 1, slot 1: r0 \\+= r${r}`) });
}

/** Counts its calls in out[0], ORs what fp-8 holds on entry into out[1], then writes 42 there; CONTINUE
 *  twice, then STOP. Refused by the check (a read of unwritten stack); without it, out[1] shows whether the
 *  stack carried over. */
export const STACK_CARRY: Insn[] = [
  LD_OUT,
  { opcode: 0x79, dst: 1, src: 6, off: 0, imm: 0 },
  { opcode: 0x07, dst: 1, src: 0, off: 0, imm: 1 },
  { opcode: 0x7b, dst: 6, src: 1, off: 0, imm: 0 },
  { opcode: 0x79, dst: 2, src: 10, off: -8, imm: 0 },
  { opcode: 0x79, dst: 3, src: 6, off: 8, imm: 0 },
  { opcode: 0x4f, dst: 3, src: 2, off: 0, imm: 0 },
  { opcode: 0x7b, dst: 6, src: 3, off: 8, imm: 0 },
  { opcode: 0x7a, dst: 10, src: 0, off: -8, imm: 42 },
  mov(0, 0),
  { opcode: 0xa5, dst: 1, src: 0, off: 1, imm: 3 }, // if r1 < 3 goto +1 (CONTINUE)
  mov(0, 1),
  { opcode: 0x95, dst: 0, src: 0, off: 0, imm: 0 },
];
