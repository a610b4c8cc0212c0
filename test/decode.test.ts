// The one instruction decoder (compiler/bpf/decode.ts) over every instruction the encoder can build and
// every cpu v4 form: what decodeInsn says each is, its slots and jump target, the bytes round trip, and
// the disassembly built on the decoder against llvm-objdump's decoding of the same bytes (LLVM 18+, which
// knows the v4 instructions; scripts/deps.sh installs llvm-19).
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import * as D from "../compiler/bpf/decode";
import { formatInsn } from "../compiler/bpf/disasm";
import * as I from "../compiler/bpf/insn";
import { writeObject } from "../compiler/elf/writer";

type Case = { insn: I.Insn; want: D.Decoded; v4?: boolean };
const lower = <T extends string>(s: string) => s.toLowerCase() as T;
const raw = (opcode: number, dst: number, src: number, off: number, imm: number): I.Insn => ({ opcode, dst, src, off, imm });
/** Jumps go one slot forward; the label is resolved by hand. */
const at1 = (i: I.Insn): I.Insn => {
  const c = { ...i, off: 1 };
  delete c.label;
  return c;
};

const cases: Case[] = [];
const ALU_OPS = ["ADD", "SUB", "MUL", "DIV", "OR", "AND", "LSH", "RSH", "MOD", "XOR", "MOV", "ARSH"] as const;
for (const op of ALU_OPS) {
  const name = lower<D.AluName>(op);
  cases.push({ insn: I.alu64Reg(op, 3, 4), want: { kind: "alu", wide: true, op: name, reg: true, signed: false } });
  cases.push({ insn: I.alu64Imm(op, 3, -5), want: { kind: "alu", wide: true, op: name, reg: false, signed: false } });
  cases.push({ insn: I.alu32Reg(op, 5, 6), want: { kind: "alu", wide: false, op: name, reg: true, signed: false } });
  cases.push({ insn: I.alu32Imm(op, 5, 7), want: { kind: "alu", wide: false, op: name, reg: false, signed: false } });
}
cases.push({ insn: I.neg64(2), want: { kind: "neg", wide: true } }, { insn: I.neg32(2), want: { kind: "neg", wide: false } });
for (const bits of [16, 32, 64] as const) {
  cases.push({ insn: raw(D.Class.ALU | D.AluOp.END | D.Src.K, 1, 0, 0, bits), want: { kind: "end", order: "le", bits } });
  cases.push({ insn: raw(D.Class.ALU | D.AluOp.END | D.Src.X, 1, 0, 0, bits), want: { kind: "end", order: "be", bits } });
  cases.push({ insn: raw(D.Class.ALU64 | D.AluOp.END, 1, 0, 0, bits), want: { kind: "end", order: "swap", bits }, v4: true });
}
const JMP_OPS = ["JEQ", "JGT", "JGE", "JSET", "JNE", "JSGT", "JSGE", "JLT", "JLE", "JSLT", "JSLE"] as const;
for (const op of JMP_OPS) {
  const name = lower<D.JmpName>(op);
  for (const wide of [true, false]) {
    cases.push({ insn: at1(I.jmpReg(op, 1, 2, "L", wide)), want: { kind: "jmp", wide, op: name, reg: true } });
    cases.push({ insn: at1(I.jmpImm(op, 1, -7, "L", wide)), want: { kind: "jmp", wide, op: name, reg: false } });
  }
}
cases.push(
  { insn: at1(I.ja("L")), want: { kind: "ja", long: false } },
  { insn: at1(I.mayGoto("L")), want: { kind: "may_goto" }, v4: true },
  { insn: raw(D.Opcode.GOTOL, 0, 0, 0, 1), want: { kind: "ja", long: true }, v4: true },
  { insn: I.callHelper(6), want: { kind: "call", target: "helper" } },
  { insn: I.callKfunc("bpf_io_uring_submit_sqes"), want: { kind: "call", target: "kfunc" } },
  { insn: I.callSubprog("helper_fn"), want: { kind: "call", target: "subprog" } },
  { insn: I.exit(), want: { kind: "exit" } },
  { insn: I.ldImm64(2, 0x1234_5678_9abc_def0n), want: { kind: "ld_imm64", pseudo: 0 } },
);
const SIZES = ["B", "H", "W", "DW"] as const;
for (const size of SIZES) {
  const bytes = I.SIZE_BYTES[size] as D.SizeBytes;
  cases.push({ insn: I.ldx(size, 2, 1, 8), want: { kind: "ldx", size: bytes, signExtend: false } });
  cases.push({ insn: I.stx(size, 1, -8, 2), want: { kind: "stx", size: bytes } });
  cases.push({ insn: I.st(size, 1, 4, -3), want: { kind: "st", size: bytes } });
  cases.push({ insn: I.loadAcquire(size, 2, 1, 8), want: { kind: "atomic", size: bytes, op: "load_acquire", fetch: false }, v4: true });
  cases.push({ insn: I.storeRelease(size, 1, 8, 2), want: { kind: "atomic", size: bytes, op: "store_release", fetch: false }, v4: true });
  if (size !== "DW") cases.push({ insn: raw(D.Class.LDX | D.Mode.MEMSX | D.Size[size], 2, 1, 8, 0), want: { kind: "ldx", size: bytes, signExtend: true }, v4: true });
}
for (const size of ["W", "DW"] as const) {
  const bytes = I.SIZE_BYTES[size] as D.SizeBytes;
  for (const op of ["ADD", "OR", "AND", "XOR"] as const) {
    cases.push({ insn: I.atomic(size, I.AtomicOp[op], 1, 8, 2), want: { kind: "atomic", size: bytes, op: lower<D.AtomicName>(op), fetch: false } });
    cases.push({ insn: I.atomic(size, I.AtomicOp[op] | I.AtomicOp.FETCH, 1, -8, 2), want: { kind: "atomic", size: bytes, op: lower<D.AtomicName>(op), fetch: true } });
  }
  cases.push({ insn: I.atomic(size, I.AtomicOp.XCHG, 3, 0, 4), want: { kind: "atomic", size: bytes, op: "xchg", fetch: true } });
  cases.push({ insn: I.atomic(size, I.AtomicOp.CMPXCHG, 3, 4, 5), want: { kind: "atomic", size: bytes, op: "cmpxchg", fetch: true } });
}
// cpu v4: signed division and modulo (off 1), sign-extending moves (off 8, 16, 32).
for (const op of ["DIV", "MOD"] as const) {
  const name = lower<D.AluName>(op);
  cases.push({ insn: { ...I.alu64Reg(op, 3, 4), off: 1 }, want: { kind: "alu", wide: true, op: name, reg: true, signed: true }, v4: true });
  cases.push({ insn: { ...I.alu64Imm(op, 3, -5), off: 1 }, want: { kind: "alu", wide: true, op: name, reg: false, signed: true }, v4: true });
  cases.push({ insn: { ...I.alu32Reg(op, 5, 6), off: 1 }, want: { kind: "alu", wide: false, op: name, reg: true, signed: true }, v4: true });
  cases.push({ insn: { ...I.alu32Imm(op, 5, 7), off: 1 }, want: { kind: "alu", wide: false, op: name, reg: false, signed: true }, v4: true });
}
for (const bits of [8, 16, 32] as const) {
  cases.push({ insn: { ...I.alu64Reg("MOV", 1, 2), off: bits }, want: { kind: "movsx", wide: true, bits }, v4: true });
  if (bits !== 32) cases.push({ insn: { ...I.alu32Reg("MOV", 1, 2), off: bits }, want: { kind: "movsx", wide: false, bits }, v4: true });
}

const label = (c: Case) => `${formatInsn(c.insn, 0)} (0x${c.insn.opcode.toString(16)})`;

describe("decodeInsn", () => {
  it.each(cases.map((c) => [label(c), c] as const))("%s", (_, c) => {
    const d = D.decodeInsn(c.insn);
    expect(d).toEqual(c.want);
    expect(D.isCpuV4(d)).toBe(c.v4 === true);
    // The bytes round-trip through the encoder and the byte decoder, in the slots the decoder counts.
    const bytes = I.encode([c.insn]);
    expect(bytes.length).toBe(D.insnSlots(c.insn.opcode) * 8);
    expect(D.insnSlots(c.insn.opcode)).toBe(c.want.kind === "ld_imm64" ? 2 : 1);
    const back = D.decodeBytes(bytes);
    expect(back).toHaveLength(1);
    expect(D.decodeInsn(back[0])).toEqual(c.want);
    expect(back[0]).toMatchObject({ opcode: c.insn.opcode, dst: c.insn.dst, src: c.insn.src, off: c.insn.off, imm: c.insn.imm });
  });

  it("covers every kind and every operation name", () => {
    const kinds = new Set(cases.map((c) => c.want.kind));
    expect([...kinds].sort()).toEqual(["alu", "atomic", "call", "end", "exit", "ja", "jmp", "ld_imm64", "ldx", "may_goto", "movsx", "neg", "st", "stx"]);
    const alu = new Set(cases.flatMap((c) => (c.want.kind === "alu" ? [c.want.op] : [])));
    expect(alu.size).toBe(12);
    const jmp = new Set(cases.flatMap((c) => (c.want.kind === "jmp" ? [c.want.op] : [])));
    expect(jmp.size).toBe(11);
    const atomics = new Set(cases.flatMap((c) => (c.want.kind === "atomic" ? [c.want.op] : [])));
    expect(atomics.size).toBe(8);
  });

  it("names what is not an instruction", () => {
    const bad: [I.Insn, RegExp][] = [
      [raw(0xe7, 1, 0, 0, 0), /ALU operation 0xe0/],
      [raw(D.Class.ALU64 | D.AluOp.NEG | D.Src.X, 1, 2, 0, 0), /NEG with BPF_X/],
      [raw(D.Class.ALU64 | D.AluOp.END, 1, 0, 0, 8), /byte swap width 8/],
      [raw(D.Class.ALU64 | D.AluOp.END | D.Src.X, 1, 0, 0, 16), /ALU64 BPF_END with BPF_X/],
      [{ ...I.alu64Reg("MOV", 1, 2), off: 4 }, /mov with off 4/],
      [{ ...I.alu32Reg("MOV", 1, 2), off: 32 }, /mov with off 32/],
      [{ ...I.alu64Reg("ADD", 1, 2), off: 1 }, /add with off 1/],
      [raw(D.Class.JMP | 0xf0, 1, 0, 0, 0), /jump operation 0xf0/],
      [raw(D.Opcode.CALL, 0, 3, 0, 0), /call with src 3/],
      [raw(D.Opcode.MAY_GOTO, 0, 1, 0, 0), /JCOND with src 1/],
      [raw(D.Class.LD | D.Size.W, 0, 0, 0, 0), /BPF_LD/],
      [raw(D.Class.LDX | D.Mode.MEMSX | D.Size.DW, 1, 2, 0, 0), /load mode 0x80 of size 8/],
      [raw(D.Class.STX | D.Mode.ATOMIC | D.Size.B, 1, 2, 0, D.AtomicOp.ADD), /atomic operation 0x0 on 1 bytes/],
      [raw(D.Class.STX | D.Mode.ATOMIC | D.Size.DW, 1, 2, 0, 0x10), /atomic operation 0x10/],
      [raw(D.Class.ST | D.Mode.ATOMIC | D.Size.DW, 1, 0, 0, 0), /store mode 0xc0/],
    ];
    for (const [insn, why] of bad) {
      const d = D.decodeInsn(insn);
      expect(d.kind, formatInsn(insn, 0)).toBe("invalid");
      expect((d as { why: string }).why).toMatch(why);
    }
  });
});

describe("slots and jump targets", () => {
  it("lay out ld_imm64 as two slots and resolve ja, gotol and conditional jumps", () => {
    const insns = [I.ldImm64(1, 5n), raw(D.Opcode.GOTOL, 0, 0, 0, 2), { ...I.jmpImm("JEQ", 1, 0, "x"), off: -3 }, I.exit(), I.exit()];
    const lay = D.slotLayout(insns);
    expect(lay.slotOf).toEqual([0, 2, 3, 4, 5]);
    expect(lay.total).toBe(6);
    expect(lay.indexAt.get(1)).toBeUndefined(); // the second half of the ld_imm64
    expect(D.countSlots(insns)).toBe(6);
    expect(D.jumpTarget(insns[1], 2)).toBe(5); // gotol: imm
    expect(D.jumpTarget(insns[2], 3)).toBe(1); // off
    expect(insns.map((i) => D.endsBlock(i.opcode))).toEqual([false, true, true, true, true]);
    expect(insns.map((i) => D.hasJumpTarget(i.opcode))).toEqual([false, true, true, false, false]);
    expect(D.endsBlock(D.Opcode.CALL)).toBe(false);
  });
});

/** An LLVM with cpu v4 in its BPF disassembler (18+). */
function llvmObjdumpV4(): string | undefined {
  for (let n = 25; n >= 18; n--) if (spawnSync(`llvm-objdump-${n}`, ["--version"]).status === 0) return `llvm-objdump-${n}`;
  const r = spawnSync("llvm-objdump", ["--version"], { encoding: "utf8" });
  const m = /LLVM version (\d+)/.exec(r.stdout ?? "");
  return m && Number(m[1]) >= 18 ? "llvm-objdump" : undefined;
}
const objdump = llvmObjdumpV4();
if (process.env.CI && !objdump) throw new Error("no llvm-objdump of LLVM 18+ (for cpu v4): scripts/deps.sh installs llvm-19");
if (!objdump) console.warn("skipping the llvm-objdump cross-check of the decoder: no llvm-objdump of LLVM 18+ (bash scripts/deps.sh host)");

/** Both texts in one notation: numbers in decimal, no jump-target annotation, calls by their number, and
 *  memory operands' registers as r (with alu32, LLVM names the value of a narrow load or store wN; the
 *  size is in the operand either way). */
function normalize(text: string): string {
  const t = text.includes("*(") ? text.replace(/\bw(\d+)/g, "r$1") : text;
  return t
    .replace(/ <[^<>]*>$/, "")
    .replace(/(-?)0x([0-9a-f]+)/g, (_, sign: string, h: string) => `${sign}${BigInt(`0x${h}`)}`)
    .replace(/^call (pc|kfunc )?/, "call ")
    .replace(/^call \+/, "call ");
}

describe("llvm-objdump decodes the same bytes as the same instructions", () => {
  // LLVM 19 does not know load-acquire and store-release (20+): it prints them as a plain atomic add.
  const checked = cases.filter((c) => !(c.want.kind === "atomic" && (c.want.op === "load_acquire" || c.want.op === "store_release")));
  it.skipIf(!objdump)(`all ${checked.length} of them, v4 forms included`, () => {
    const insns = checked.map((c) => {
      const r = { ...c.insn };
      delete r.reloc; // a bare function: no kfunc or subprogram to relocate against
      delete r.comment;
      return r;
    });
    const proto = { kind: "func_proto" as const, ret: { kind: "int" as const, name: "int", size: 4 as const, signed: true }, params: [] };
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ubpf-decode-")), "all.o");
    fs.writeFileSync(file, writeObject({ sourceFile: "all.ts", license: "GPL", functions: [{ name: "all", section: ".text", linkage: "global", insns, proto }], globals: [], kfuncs: [], structOps: [] }));
    const out = execFileSync(objdump!, ["-d", "--no-show-raw-insn", "--mcpu=v4", file], { encoding: "utf8" });
    const lines = out.split("\n").filter((l) => /^\s+\d+:\s/.test(l)).map((l) => l.replace(/^\s+\d+:\s+/, "").trim());
    expect(lines).toHaveLength(insns.length);
    let slot = 0;
    const ours = insns.map((i) => {
      const t = formatInsn(i, slot);
      slot += D.insnSlots(i.opcode);
      return t;
    });
    expect(lines.map((l, k) => `${k}: ${normalize(l)}`)).toEqual(ours.map((t, k) => `${k}: ${normalize(t)}`));
  });
});
