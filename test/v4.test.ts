// cpu v4 emission: the encoders of sdiv/smod, movsx and ldsx against hand-written bytes (BPF ISA: DIV/MOD
// with off = 1, MOV with off = 8/16/32, LDX with mode MEMSX 0x80), our disassembly of each against
// llvm-objdump 19's (14 predates cpu v4), and a program that uses every form: the compiler emits them, and
// its results equal a reference computed here with BigInt (the VM run of test/e2e.test.ts checks the same
// fixture against the kernel).
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { formatInsn } from "../compiler/bpf/disasm";
import * as I from "../compiler/bpf/insn";
import { writeObject } from "../compiler/elf/writer";
import { compileSource, programAsm } from "../compiler/index";
import { runOnFakeRing } from "./support/fakering";

const table: [string, I.Insn, string][] = [
  ["r3 s/= r4", I.signedDivMod("DIV", true, 3, 4), "3f43010000000000"],
  ["r3 s/= -5", I.signedDivMod("DIV", true, 3, { imm: -5 }), "37030100fbffffff"],
  ["w5 s/= w6", I.signedDivMod("DIV", false, 5, 6), "3c65010000000000"],
  ["w5 s/= 7", I.signedDivMod("DIV", false, 5, { imm: 7 }), "3405010007000000"],
  ["r3 s%= r4", I.signedDivMod("MOD", true, 3, 4), "9f43010000000000"],
  ["r3 s%= -5", I.signedDivMod("MOD", true, 3, { imm: -5 }), "97030100fbffffff"],
  ["w5 s%= w6", I.signedDivMod("MOD", false, 5, 6), "9c65010000000000"],
  ["w5 s%= 7", I.signedDivMod("MOD", false, 5, { imm: 7 }), "9405010007000000"],
  ["r1 = (s8)r2", I.movsx(true, 1, 2, 8), "bf21080000000000"],
  ["r1 = (s16)r2", I.movsx(true, 1, 2, 16), "bf21100000000000"],
  ["r1 = (s32)r2", I.movsx(true, 1, 2, 32), "bf21200000000000"],
  ["w1 = (s8)w2", I.movsx(false, 1, 2, 8), "bc21080000000000"],
  ["w1 = (s16)w2", I.movsx(false, 1, 2, 16), "bc21100000000000"],
  ["r1 = *(s8 *)(r2 + 3)", I.ldsx("B", 1, 2, 3), "9121030000000000"],
  ["r1 = *(s16 *)(r2 - 4)", I.ldsx("H", 1, 2, -4), "8921fcff00000000"],
  ["r1 = *(s32 *)(r2 + 8)", I.ldsx("W", 1, 2, 8), "8121080000000000"],
];

describe("cpu v4 instructions", () => {
  for (const [text, insn, bytes] of table) {
    it(text, () => {
      expect(Buffer.from(I.encode([insn])).toString("hex")).toBe(bytes);
      expect(formatInsn(insn, 0)).toBe(text);
    });
  }
});

const objdump = "llvm-objdump-19";
const have = spawnSync(objdump, ["--version"]).status === 0;
if (process.env.CI && !have) throw new Error(`${objdump} is missing: scripts/deps.sh installs llvm-19`);

describe("llvm-objdump 19 reads the same bytes as the same instructions", () => {
  it.skipIf(!have)("the whole table in one object", () => {
    const proto = { kind: "func_proto" as const, ret: { kind: "int" as const, name: "int", size: 4 as const, signed: true }, params: [] };
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ubpf-v4-")), "v4.o");
    const insns = [...table.map(([, i]) => i), I.exit()];
    fs.writeFileSync(file, writeObject({ sourceFile: "v4.ts", license: "GPL", functions: [{ name: "v4", section: ".text", linkage: "global", insns, proto }], globals: [], kfuncs: [], structOps: [] }));
    const out = execFileSync(objdump, ["-d", "--no-show-raw-insn", file], { encoding: "utf8" });
    // llvm-objdump 19 prints immediates and offsets in hex; ours (like 14's) are decimal.
    const lines = out.split("\n").filter((l) => /^\s+\d+:\s/.test(l)).map((l) => l.replace(/^\s+\d+:\s+/, "").trim().replace(/(-?)0x([0-9a-f]+)/g, (_, s, h) => `${s}${parseInt(h, 16)}`));
    expect(lines).toEqual([...table.map(([t]) => t), "exit"]);
  });
});

describe("the compiler emits cpu v4 instructions", () => {
  const file = path.join(__dirname, "fixtures", "programs", "cpu-v4.ts");
  const res = compileSource("cpu-v4.ts", fs.readFileSync(file, "utf8"));
  it("compiles", () => expect(res.ok).toBe(true));
  const asm = res.ok ? programAsm(res.programs[0], false) : "";

  it("signed division and remainder are sdiv/smod, at both widths, by registers and constants", () => {
    for (const re of [/w\d s\/= w\d/, /w\d s%= w\d/, /w\d s\/= -3/, /w\d s%= -3/, /r\d s\/= r\d/, /r\d s%= r\d/, /r\d s\/= -1000/, /r\d s%= -1000/]) expect(asm).toMatch(re);
    // No unsigned expansion is left: no negation, no sign tests.
    expect(asm).not.toMatch(/= -[rw]\d|s< 0/);
  });

  it("sign extension is movsx, and a narrow signed load into 64 bits is ldsx", () => {
    for (const re of [/w\d = \(s8\)w\d/, /w\d = \(s16\)w\d/, /r\d = \(s32\)r\d/, /r\d = \(s8\)r\d/, /r\d = \*\(s16 \*\)\(r\d \+ 0\)/]) expect(asm).toMatch(re);
    expect(asm).not.toMatch(/s>>=/);
  });

  it("its results are C's (truncating division, BPF's x / 0 = 0 and x % 0 = x, MIN / -1 = MIN)", () => {
    const sim = runOnFakeRing(res, { mem: 4096, maxSteps: 10 });
    const i32 = (v: bigint) => BigInt.asIntN(32, v);
    const i64 = (v: bigint) => BigInt.asIntN(64, v);
    const div = (a: bigint, b: bigint, w: (v: bigint) => bigint) => (b === 0n ? 0n : w(a / b));
    const mod = (a: bigint, b: bigint, w: (v: bigint) => bigint) => (b === 0n ? a : w(a % b));
    const [a32, b32, min32, m1, z32, a64, b64, z64, n8, n16] = [-7n, 2n, -2147483648n, -1n, 0n, -9000000000n, 7n, 0n, -100n, -30000n];
    const want: Record<string, bigint> = {
      q1: div(a32, b32, i32), rem1: mod(a32, b32, i32), q2: div(a32, -3n, i32), rem2: mod(a32, -3n, i32),
      q3: div(min32, m1, i32), rem3: mod(min32, m1, i32), q4: div(a32, z32, i32), rem4: mod(a32, z32, i32),
      q5: div(a64, b64, i64), rem5: mod(a64, b64, i64), q6: div(a64, -1000n, i64), rem6: mod(a64, -1000n, i64),
      q7: div(a64, z64, i64), rem7: mod(a64, z64, i64),
      s1: n8 * 3n, s2: n16, s3: a32, s4: BigInt.asIntN(8, b32 + 126n), s5: BigInt.asIntN(16, a32 * 10000n), s6: BigInt.asIntN(32, a64),
    };
    const got: Record<string, bigint> = {};
    for (const k of Object.keys(want)) got[k] = sim.get(k);
    expect(got).toEqual(want);
    expect(want.q3).toBe(min32);
  });
});
