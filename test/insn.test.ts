// Instruction encoding, table-driven: every builder in compiler/bpf/insn.ts against hand-written bytes (from
// the BPF ISA, Documentation/bpf/standardization/instruction-set.rst: opcode = operation | source | class,
// then src_reg << 4 | dst_reg, offset LE16, imm LE32; ld_imm64 takes a second 8-byte slot with the upper
// 32 bits), our disassembly text of each, and llvm-objdump's text of the same bytes in an object we write.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { disassemble, formatInsn } from "../compiler/bpf/disasm";
import * as I from "../compiler/bpf/insn";
import { writeObject } from "../compiler/elf/writer";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
/** Jumps in the table go one slot forward (`goto +1`): their label is resolved by hand. */
const resolved = (i: I.Insn): I.Insn => {
  const c: I.Insn = { ...i, off: i.label !== undefined ? 1 : i.off };
  delete c.label;
  return c;
};

/** [our disassembly, builder call, bytes, llvm-objdump 14's text when it differs from ours] */
const table: [string, I.Insn, string, string?][] = [
  ["r3 += r4", I.alu64Reg("ADD", 3, 4), "0f43000000000000"],
  ["r3 += -5", I.alu64Imm("ADD", 3, -5), "07030000fbffffff"],
  ["w5 += w6", I.alu32Reg("ADD", 5, 6), "0c65000000000000"],
  ["w5 += 7", I.alu32Imm("ADD", 5, 7), "0405000007000000"],
  ["r3 -= r4", I.alu64Reg("SUB", 3, 4), "1f43000000000000"],
  ["r3 -= -5", I.alu64Imm("SUB", 3, -5), "17030000fbffffff"],
  ["w5 -= w6", I.alu32Reg("SUB", 5, 6), "1c65000000000000"],
  ["w5 -= 7", I.alu32Imm("SUB", 5, 7), "1405000007000000"],
  ["r3 *= r4", I.alu64Reg("MUL", 3, 4), "2f43000000000000"],
  ["r3 *= -5", I.alu64Imm("MUL", 3, -5), "27030000fbffffff"],
  ["w5 *= w6", I.alu32Reg("MUL", 5, 6), "2c65000000000000"],
  ["w5 *= 7", I.alu32Imm("MUL", 5, 7), "2405000007000000"],
  ["r3 /= r4", I.alu64Reg("DIV", 3, 4), "3f43000000000000"],
  ["r3 /= -5", I.alu64Imm("DIV", 3, -5), "37030000fbffffff"],
  ["w5 /= w6", I.alu32Reg("DIV", 5, 6), "3c65000000000000"],
  ["w5 /= 7", I.alu32Imm("DIV", 5, 7), "3405000007000000"],
  ["r3 |= r4", I.alu64Reg("OR", 3, 4), "4f43000000000000"],
  ["r3 |= -5", I.alu64Imm("OR", 3, -5), "47030000fbffffff"],
  ["w5 |= w6", I.alu32Reg("OR", 5, 6), "4c65000000000000"],
  ["w5 |= 7", I.alu32Imm("OR", 5, 7), "4405000007000000"],
  ["r3 &= r4", I.alu64Reg("AND", 3, 4), "5f43000000000000"],
  ["r3 &= -5", I.alu64Imm("AND", 3, -5), "57030000fbffffff"],
  ["w5 &= w6", I.alu32Reg("AND", 5, 6), "5c65000000000000"],
  ["w5 &= 7", I.alu32Imm("AND", 5, 7), "5405000007000000"],
  ["r3 <<= r4", I.alu64Reg("LSH", 3, 4), "6f43000000000000"],
  ["r3 <<= -5", I.alu64Imm("LSH", 3, -5), "67030000fbffffff"],
  ["w5 <<= w6", I.alu32Reg("LSH", 5, 6), "6c65000000000000"],
  ["w5 <<= 7", I.alu32Imm("LSH", 5, 7), "6405000007000000"],
  ["r3 >>= r4", I.alu64Reg("RSH", 3, 4), "7f43000000000000"],
  ["r3 >>= -5", I.alu64Imm("RSH", 3, -5), "77030000fbffffff"],
  ["w5 >>= w6", I.alu32Reg("RSH", 5, 6), "7c65000000000000"],
  ["w5 >>= 7", I.alu32Imm("RSH", 5, 7), "7405000007000000"],
  ["r3 %= r4", I.alu64Reg("MOD", 3, 4), "9f43000000000000", "<unknown>"],
  ["r3 %= -5", I.alu64Imm("MOD", 3, -5), "97030000fbffffff", "<unknown>"],
  ["w5 %= w6", I.alu32Reg("MOD", 5, 6), "9c65000000000000", "<unknown>"],
  ["w5 %= 7", I.alu32Imm("MOD", 5, 7), "9405000007000000", "<unknown>"],
  ["r3 ^= r4", I.alu64Reg("XOR", 3, 4), "af43000000000000"],
  ["r3 ^= -5", I.alu64Imm("XOR", 3, -5), "a7030000fbffffff"],
  ["w5 ^= w6", I.alu32Reg("XOR", 5, 6), "ac65000000000000"],
  ["w5 ^= 7", I.alu32Imm("XOR", 5, 7), "a405000007000000"],
  ["r3 = r4", I.alu64Reg("MOV", 3, 4), "bf43000000000000"],
  ["r3 = -5", I.alu64Imm("MOV", 3, -5), "b7030000fbffffff"],
  ["w5 = w6", I.alu32Reg("MOV", 5, 6), "bc65000000000000"],
  ["w5 = 7", I.alu32Imm("MOV", 5, 7), "b405000007000000"],
  ["r3 s>>= r4", I.alu64Reg("ARSH", 3, 4), "cf43000000000000"],
  ["r3 s>>= -5", I.alu64Imm("ARSH", 3, -5), "c7030000fbffffff"],
  ["w5 s>>= w6", I.alu32Reg("ARSH", 5, 6), "cc65000000000000"],
  ["w5 s>>= 7", I.alu32Imm("ARSH", 5, 7), "c405000007000000"],
  ["r2 = -r2", I.neg64(2), "8702000000000000"],
  ["w2 = -w2", I.neg32(2), "8402000000000000"],
  ["r1 = 0x1122334455667788 ll", I.ldImm64(1, 0x1122334455667788n), "18010000887766550000000044332211", "r1 = 1234605616436508552 ll"],
  ["r9 = 0xffffffffffffffff ll", I.ldImm64(9, -1n), "18090000ffffffff00000000ffffffff", "r9 = -1 ll"],
  ["r1 = *(u8 *)(r2 + 1)", I.ldx("B", 1, 2, 1), "7121010000000000"],
  ["r1 = *(u16 *)(r2 + 2)", I.ldx("H", 1, 2, 2), "6921020000000000"],
  ["r1 = *(u32 *)(r2 + 4)", I.ldx("W", 1, 2, 4), "6121040000000000"],
  ["r1 = *(u64 *)(r2 + 8)", I.ldx("DW", 1, 2, 8), "7921080000000000"],
  ["*(u8 *)(r10 - 2) = r7", I.stx("B", 10, -2, 7), "737afeff00000000"],
  ["*(u16 *)(r10 - 4) = r7", I.stx("H", 10, -4, 7), "6b7afcff00000000"],
  ["*(u32 *)(r10 - 8) = r7", I.stx("W", 10, -8, 7), "637af8ff00000000"],
  ["*(u64 *)(r10 - 16) = r7", I.stx("DW", 10, -16, 7), "7b7af0ff00000000"],
  ["*(u8 *)(r1 + 1) = -3", I.st("B", 1, 1, -3), "72010100fdffffff", "<unknown>"],
  ["*(u16 *)(r1 + 2) = -3", I.st("H", 1, 2, -3), "6a010200fdffffff", "<unknown>"],
  ["*(u32 *)(r1 + 4) = -3", I.st("W", 1, 4, -3), "62010400fdffffff", "<unknown>"],
  ["*(u64 *)(r1 + 8) = -3", I.st("DW", 1, 8, -3), "7a010800fdffffff", "<unknown>"],
  // BPF_ATOMIC: llvm-objdump 14 knows the 64-bit read-modify-write forms and 32-bit add (it reads the
  // 32-bit fetch-add as a plain add, and load-acquire of a word as an add: it ignores imm bits it does not
  // know); the rest it prints as <unknown>.
  ["lock *(u32 *)(r1 + 8) += w2", I.atomic("W", I.AtomicOp.ADD, 1, 8, 2), "c321080000000000", "lock *(u32 *)(r1 + 8) += r2"],
  ["w2 = atomic_fetch_add((u32 *)(r1 - 8), w2)", I.atomic("W", I.AtomicOp.ADD | I.AtomicOp.FETCH, 1, -8, 2), "c321f8ff01000000", "lock *(u32 *)(r1 - 8) += r2"],
  ["lock *(u32 *)(r1 + 8) |= w2", I.atomic("W", I.AtomicOp.OR, 1, 8, 2), "c321080040000000", "<unknown>"],
  ["w2 = atomic_fetch_or((u32 *)(r1 - 8), w2)", I.atomic("W", I.AtomicOp.OR | I.AtomicOp.FETCH, 1, -8, 2), "c321f8ff41000000", "<unknown>"],
  ["lock *(u32 *)(r1 + 8) &= w2", I.atomic("W", I.AtomicOp.AND, 1, 8, 2), "c321080050000000", "<unknown>"],
  ["w2 = atomic_fetch_and((u32 *)(r1 - 8), w2)", I.atomic("W", I.AtomicOp.AND | I.AtomicOp.FETCH, 1, -8, 2), "c321f8ff51000000", "<unknown>"],
  ["lock *(u32 *)(r1 + 8) ^= w2", I.atomic("W", I.AtomicOp.XOR, 1, 8, 2), "c3210800a0000000", "<unknown>"],
  ["w2 = atomic_fetch_xor((u32 *)(r1 - 8), w2)", I.atomic("W", I.AtomicOp.XOR | I.AtomicOp.FETCH, 1, -8, 2), "c321f8ffa1000000", "<unknown>"],
  ["w4 = xchg32_32(r3 + 0, w4)", I.atomic("W", I.AtomicOp.XCHG, 3, 0, 4), "c3430000e1000000", "<unknown>"],
  ["w0 = cmpxchg32_32(r3 + 4, w0, w5)", I.atomic("W", I.AtomicOp.CMPXCHG, 3, 4, 5), "c3530400f1000000", "<unknown>"],
  ["lock *(u64 *)(r1 + 8) += r2", I.atomic("DW", I.AtomicOp.ADD, 1, 8, 2), "db21080000000000"],
  ["r2 = atomic_fetch_add((u64 *)(r1 - 8), r2)", I.atomic("DW", I.AtomicOp.ADD | I.AtomicOp.FETCH, 1, -8, 2), "db21f8ff01000000"],
  ["lock *(u64 *)(r1 + 8) |= r2", I.atomic("DW", I.AtomicOp.OR, 1, 8, 2), "db21080040000000"],
  ["r2 = atomic_fetch_or((u64 *)(r1 - 8), r2)", I.atomic("DW", I.AtomicOp.OR | I.AtomicOp.FETCH, 1, -8, 2), "db21f8ff41000000"],
  ["lock *(u64 *)(r1 + 8) &= r2", I.atomic("DW", I.AtomicOp.AND, 1, 8, 2), "db21080050000000"],
  ["r2 = atomic_fetch_and((u64 *)(r1 - 8), r2)", I.atomic("DW", I.AtomicOp.AND | I.AtomicOp.FETCH, 1, -8, 2), "db21f8ff51000000"],
  ["lock *(u64 *)(r1 + 8) ^= r2", I.atomic("DW", I.AtomicOp.XOR, 1, 8, 2), "db210800a0000000"],
  ["r2 = atomic_fetch_xor((u64 *)(r1 - 8), r2)", I.atomic("DW", I.AtomicOp.XOR | I.AtomicOp.FETCH, 1, -8, 2), "db21f8ffa1000000"],
  ["r4 = xchg_64(r3 + 0, r4)", I.atomic("DW", I.AtomicOp.XCHG, 3, 0, 4), "db430000e1000000"],
  ["r0 = cmpxchg_64(r3 + 4, r0, r5)", I.atomic("DW", I.AtomicOp.CMPXCHG, 3, 4, 5), "db530400f1000000"],
  ["w0 = load_acquire((u8 *)(r1 + 2))", I.loadAcquire("B", 0, 1, 2), "d310020000010000", "<unknown>"],
  ["w0 = load_acquire((u16 *)(r1 + 2))", I.loadAcquire("H", 0, 1, 2), "cb10020000010000", "<unknown>"],
  ["w0 = load_acquire((u32 *)(r1 + 2))", I.loadAcquire("W", 0, 1, 2), "c310020000010000", "lock *(u32 *)(r0 + 2) += r1"],
  ["r0 = load_acquire((u64 *)(r1 + 2))", I.loadAcquire("DW", 0, 1, 2), "db10020000010000", "lock *(u64 *)(r0 + 2) += r1"],
  ["store_release((u8 *)(r1 + 2), w3)", I.storeRelease("B", 1, 2, 3), "d331020010010000", "<unknown>"],
  ["store_release((u16 *)(r1 + 2), w3)", I.storeRelease("H", 1, 2, 3), "cb31020010010000", "<unknown>"],
  ["store_release((u32 *)(r1 + 2), w3)", I.storeRelease("W", 1, 2, 3), "c331020010010000", "<unknown>"],
  ["store_release((u64 *)(r1 + 2), r3)", I.storeRelease("DW", 1, 2, 3), "db31020010010000", "<unknown>"],
  ["if r1 == r2 goto +1 <2>", I.jmpReg("JEQ", 1, 2, "L"), "1d21010000000000"],
  ["if r1 == -7 goto +1 <2>", I.jmpImm("JEQ", 1, -7, "L"), "15010100f9ffffff"],
  ["if w3 == w4 goto +1 <2>", I.jmpReg("JEQ", 3, 4, "L", false), "1e43010000000000"],
  ["if w3 == 9 goto +1 <2>", I.jmpImm("JEQ", 3, 9, "L", false), "1603010009000000"],
  ["if r1 > r2 goto +1 <2>", I.jmpReg("JGT", 1, 2, "L"), "2d21010000000000"],
  ["if r1 > -7 goto +1 <2>", I.jmpImm("JGT", 1, -7, "L"), "25010100f9ffffff"],
  ["if w3 > w4 goto +1 <2>", I.jmpReg("JGT", 3, 4, "L", false), "2e43010000000000"],
  ["if w3 > 9 goto +1 <2>", I.jmpImm("JGT", 3, 9, "L", false), "2603010009000000"],
  ["if r1 >= r2 goto +1 <2>", I.jmpReg("JGE", 1, 2, "L"), "3d21010000000000"],
  ["if r1 >= -7 goto +1 <2>", I.jmpImm("JGE", 1, -7, "L"), "35010100f9ffffff"],
  ["if w3 >= w4 goto +1 <2>", I.jmpReg("JGE", 3, 4, "L", false), "3e43010000000000"],
  ["if w3 >= 9 goto +1 <2>", I.jmpImm("JGE", 3, 9, "L", false), "3603010009000000"],
  ["if r1 & r2 goto +1 <2>", I.jmpReg("JSET", 1, 2, "L"), "4d21010000000000", "<unknown>"],
  ["if r1 & -7 goto +1 <2>", I.jmpImm("JSET", 1, -7, "L"), "45010100f9ffffff", "<unknown>"],
  ["if w3 & w4 goto +1 <2>", I.jmpReg("JSET", 3, 4, "L", false), "4e43010000000000", "<unknown>"],
  ["if w3 & 9 goto +1 <2>", I.jmpImm("JSET", 3, 9, "L", false), "4603010009000000", "<unknown>"],
  ["if r1 != r2 goto +1 <2>", I.jmpReg("JNE", 1, 2, "L"), "5d21010000000000"],
  ["if r1 != -7 goto +1 <2>", I.jmpImm("JNE", 1, -7, "L"), "55010100f9ffffff"],
  ["if w3 != w4 goto +1 <2>", I.jmpReg("JNE", 3, 4, "L", false), "5e43010000000000"],
  ["if w3 != 9 goto +1 <2>", I.jmpImm("JNE", 3, 9, "L", false), "5603010009000000"],
  ["if r1 s> r2 goto +1 <2>", I.jmpReg("JSGT", 1, 2, "L"), "6d21010000000000"],
  ["if r1 s> -7 goto +1 <2>", I.jmpImm("JSGT", 1, -7, "L"), "65010100f9ffffff"],
  ["if w3 s> w4 goto +1 <2>", I.jmpReg("JSGT", 3, 4, "L", false), "6e43010000000000"],
  ["if w3 s> 9 goto +1 <2>", I.jmpImm("JSGT", 3, 9, "L", false), "6603010009000000"],
  ["if r1 s>= r2 goto +1 <2>", I.jmpReg("JSGE", 1, 2, "L"), "7d21010000000000"],
  ["if r1 s>= -7 goto +1 <2>", I.jmpImm("JSGE", 1, -7, "L"), "75010100f9ffffff"],
  ["if w3 s>= w4 goto +1 <2>", I.jmpReg("JSGE", 3, 4, "L", false), "7e43010000000000"],
  ["if w3 s>= 9 goto +1 <2>", I.jmpImm("JSGE", 3, 9, "L", false), "7603010009000000"],
  ["if r1 < r2 goto +1 <2>", I.jmpReg("JLT", 1, 2, "L"), "ad21010000000000"],
  ["if r1 < -7 goto +1 <2>", I.jmpImm("JLT", 1, -7, "L"), "a5010100f9ffffff"],
  ["if w3 < w4 goto +1 <2>", I.jmpReg("JLT", 3, 4, "L", false), "ae43010000000000"],
  ["if w3 < 9 goto +1 <2>", I.jmpImm("JLT", 3, 9, "L", false), "a603010009000000"],
  ["if r1 <= r2 goto +1 <2>", I.jmpReg("JLE", 1, 2, "L"), "bd21010000000000"],
  ["if r1 <= -7 goto +1 <2>", I.jmpImm("JLE", 1, -7, "L"), "b5010100f9ffffff"],
  ["if w3 <= w4 goto +1 <2>", I.jmpReg("JLE", 3, 4, "L", false), "be43010000000000"],
  ["if w3 <= 9 goto +1 <2>", I.jmpImm("JLE", 3, 9, "L", false), "b603010009000000"],
  ["if r1 s< r2 goto +1 <2>", I.jmpReg("JSLT", 1, 2, "L"), "cd21010000000000"],
  ["if r1 s< -7 goto +1 <2>", I.jmpImm("JSLT", 1, -7, "L"), "c5010100f9ffffff"],
  ["if w3 s< w4 goto +1 <2>", I.jmpReg("JSLT", 3, 4, "L", false), "ce43010000000000"],
  ["if w3 s< 9 goto +1 <2>", I.jmpImm("JSLT", 3, 9, "L", false), "c603010009000000"],
  ["if r1 s<= r2 goto +1 <2>", I.jmpReg("JSLE", 1, 2, "L"), "dd21010000000000"],
  ["if r1 s<= -7 goto +1 <2>", I.jmpImm("JSLE", 1, -7, "L"), "d5010100f9ffffff"],
  ["if w3 s<= w4 goto +1 <2>", I.jmpReg("JSLE", 3, 4, "L", false), "de43010000000000"],
  ["if w3 s<= 9 goto +1 <2>", I.jmpImm("JSLE", 3, 9, "L", false), "d603010009000000"],
  ["goto +1 <2>", I.ja("L"), "0500010000000000"],
  ["call 6", I.callHelper(6), "8500000006000000"],
  ["call bpf_io_uring_submit_sqes", I.callKfunc("bpf_io_uring_submit_sqes"), "85200000ffffffff", "call -1"],
  ["call helper_fn", I.callSubprog("helper_fn"), "85100000ffffffff", "call -1"],
  ["exit", I.exit(), "9500000000000000"],
];

describe("every instruction form encodes to the ISA's bytes", () => {
  it.each(table)("%s", (text, insn, bytes) => {
    const r = resolved(insn);
    expect(hex(I.encode([r]))).toBe(bytes);
    expect(formatInsn(r, 0)).toBe(text);
    const back = I.decode(Buffer.from(bytes, "hex"));
    expect(back).toHaveLength(1);
    expect(back[0]).toMatchObject({ opcode: r.opcode, dst: r.dst, src: r.src, off: r.off, imm: r.imm });
    expect(I.slots(r) * 8).toBe(bytes.length / 2);
  });

  it("covers every ALU and jump operation in both widths", () => {
    const alu = new Set(table.map(([, i]) => i.opcode).filter((op) => (op & 7) === 4 || (op & 7) === 7));
    expect(alu.size).toBe(12 * 4 + 2); // 12 operations x {32, 64} x {reg, imm}, plus the two negations
    const jumps = new Set(table.map(([, i]) => i.opcode).filter((op) => (op & 7) === 6 || ((op & 7) === 5 && op !== 0x85 && op !== 0x95)));
    expect(jumps.size).toBe(11 * 4 + 1); // 11 conditions x {jmp, jmp32} x {reg, imm}, plus ja
  });
});

describe("labels", () => {
  it("resolve to slot offsets relative to the next instruction, counting ld_imm64 as two slots", () => {
    const insns = I.resolveLabels([I.label("top"), I.jmpImm("JEQ", 1, 0, "end"), I.ldImm64(2, 5n), I.ja("top"), I.label("end"), I.exit()]);
    expect(insns.map((i) => i.off)).toEqual([3, 0, -4, 0]);
    expect(disassemble(insns)).toBe(["    0: if r1 == 0 goto +3 <4>", "    1: r2 = 0x5 ll", "    3: goto -4 <0>", "    4: exit"].join("\n"));
  });

  it("reject undefined, duplicate and unresolved labels and out-of-range jumps", () => {
    expect(() => I.resolveLabels([I.ja("nowhere")])).toThrow(/undefined label nowhere/);
    expect(() => I.resolveLabels([I.label("a"), I.label("a")])).toThrow(/duplicate label a/);
    expect(() => I.encode([I.ja("x")])).toThrow(/unresolved label x/);
    const far = [I.ja("end"), ...Array.from({ length: 40000 }, () => I.exit()), I.label("end")];
    expect(() => I.resolveLabels(far)).toThrow(/out of range/);
  });
});

describe("disassembly", () => {
  it("names globals, kfuncs and subprograms from the relocation metadata and interleaves source lines", () => {
    const pos = (line: number, text: string): I.SourcePos => ({ file: "p.ts", line, col: 3, text });
    const insns = [
      { ...I.ldGlobalAddr(1, "inflight", 0), pos: pos(4, "inflight += 1;") },
      { ...I.ldx("W", 2, 1, 0), pos: pos(4, "inflight += 1;") },
      { ...I.callKfunc("bpf_io_uring_submit_sqes"), pos: pos(5, "submit(1);") },
      I.callSubprog("mix"),
      I.callHelper(6),
      I.exit(),
    ];
    expect(disassemble(insns, { interleaveSource: true })).toBe(
      [
        "; inflight += 1;   @ p.ts:4",
        "    0: r1 = &inflight ll",
        "    2: r2 = *(u32 *)(r1 + 0)",
        "; submit(1);   @ p.ts:5",
        "    3: call bpf_io_uring_submit_sqes",
        "    4: call mix",
        "    5: call 6",
        "    6: exit",
      ].join("\n"),
    );
    expect(disassemble(insns)).not.toContain(";");
  });
});

const haveLlvm = spawnSync("llvm-objdump", ["--version"]).status === 0;
if (process.env.CI && !haveLlvm) throw new Error("llvm-objdump is missing: scripts/deps.sh installs it");

describe("llvm-objdump reads the same bytes as the same instructions", () => {
  it.skipIf(!haveLlvm)("in an object holding the whole table", () => {
    const insns = table.map(([, i]) => {
      const r = resolved(i);
      delete r.reloc; // a bare function: no kfunc or subprogram to relocate against
      return r;
    });
    const proto = { kind: "func_proto" as const, ret: { kind: "int" as const, name: "int", size: 4 as const, signed: true }, params: [] };
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ubpf-insn-")), "all.o");
    fs.writeFileSync(file, writeObject({ sourceFile: "all.ts", license: "GPL", functions: [{ name: "all", section: ".text", linkage: "global", insns, proto }], globals: [], kfuncs: [], structOps: [] }));
    const out = execFileSync("llvm-objdump", ["-d", "--no-show-raw-insn", file], { encoding: "utf8" });
    const lines = out.split("\n").filter((l) => /^\s+\d+:\s/.test(l)).map((l) => l.replace(/^\s+\d+:\s+/, "").replace(/ <[^<>]*>$/, "").trim());
    expect(lines).toHaveLength(table.length);
    table.forEach(([text, , , llvm], k) => expect(`${k}: ${lines[k]}`).toBe(`${k}: ${llvm ?? text.replace(/ <\d+>$/, "")}`));
  });
});
