// The object file: instruction encodings byte for byte, our own reader on what the writer produced, and
// the real tools (llvm-readelf, llvm-objdump, bpftool 7.5, libbpf 1.4 through the loader) on the samples.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import * as I from "../compiler/bpf/insn";
import { compileFile, formatDiagnostics } from "../compiler/index";
import { ObjectFormatError, readObject } from "../compiler/elf/reader";

const root = path.join(__dirname, "..");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ubpf-obj-"));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

function sample(name: string) {
  const res = compileFile(path.join(root, "samples", name));
  if (!res.ok || !res.object) throw new Error(formatDiagnostics(res.diagnostics));
  const file = path.join(tmp, name.replace(/\.ts$/, ".o"));
  fs.writeFileSync(file, res.object);
  return { res, file, obj: readObject(res.object) };
}

describe("instruction encoding", () => {
  // Expected bytes from the BPF ISA (opcode, dst|src<<4, off LE16, imm LE32).
  const table: [string, I.Insn, string][] = [
    ["w1 += 1", I.alu32Imm("ADD", 1, 1), "0401000001000000"],
    ["r2 -= r3", I.alu64Reg("SUB", 2, 3), "1f32000000000000"],
    ["w4 *= -2", I.alu32Imm("MUL", 4, -2), "24040000feffffff"],
    ["r5 /= r6 (unsigned)", I.alu64Reg("DIV", 5, 6), "3f65000000000000"],
    ["w0 |= 0xff", I.alu32Imm("OR", 0, 0xff), "44000000ff000000"],
    ["r7 &= r8", I.alu64Reg("AND", 7, 8), "5f87000000000000"],
    ["w1 <<= 24", I.alu32Imm("LSH", 1, 24), "6401000018000000"],
    ["r1 >>= 3", I.alu64Imm("RSH", 1, 3), "7701000003000000"],
    ["w2 = -w2", I.neg32(2), "8402000000000000"],
    ["r2 = -r2", I.neg64(2), "8702000000000000"],
    ["w3 %= w4", I.alu32Reg("MOD", 3, 4), "9c43000000000000"],
    ["r3 ^= -1", I.alu64Imm("XOR", 3, -1), "a7030000ffffffff"],
    ["r9 = r1", I.alu64Reg("MOV", 9, 1), "bf19000000000000"],
    ["w0 = 1", I.alu32Imm("MOV", 0, 1), "b400000001000000"],
    ["w1 s>>= 24", I.alu32Imm("ARSH", 1, 24), "c401000018000000"],
    ["r1 = 0x1122334455667788 ll", I.ldImm64(1, 0x1122334455667788n), "18010000887766550000000044332211"],
    ["r1 = *(u64 *)(r1 + 8)", I.ldx("DW", 1, 1, 8), "7911080000000000"],
    ["r2 = *(u32 *)(r6 + 4)", I.ldx("W", 2, 6, 4), "6162040000000000"],
    ["r3 = *(u16 *)(r7 + 2)", I.ldx("H", 3, 7, 2), "6973020000000000"],
    ["r4 = *(u8 *)(r8 + 1)", I.ldx("B", 4, 8, 1), "7184010000000000"],
    ["*(u64 *)(r10 - 8) = r1", I.stx("DW", 10, -8, 1), "7b1af8ff00000000"],
    ["*(u32 *)(r1 + 0) = r2", I.stx("W", 1, 0, 2), "6321000000000000"],
    ["*(u16 *)(r1 + 2) = r2", I.stx("H", 1, 2, 2), "6b21020000000000"],
    ["*(u8 *)(r1 + 3) = r2", I.stx("B", 1, 3, 2), "7321030000000000"],
    ["*(u32 *)(r1 + 0) = -22", I.st("W", 1, 0, -22), "62010000eaffffff"],
    ["*(u64 *)(r1 + 40) = 0", I.st("DW", 1, 40, 0), "7a01280000000000"],
    ["call 6", I.callHelper(6), "8500000006000000"],
    ["call kfunc", I.callKfunc("bpf_io_uring_submit_sqes"), "85200000ffffffff"],
    ["call subprog", I.callSubprog("f"), "85100000ffffffff"],
    ["exit", I.exit(), "9500000000000000"],
  ];
  it.each(table)("%s", (_name, insn, want) => {
    expect(hex(I.encode([insn]))).toBe(want);
    expect(I.decode(I.encode([insn]))[0]).toMatchObject({ opcode: insn.opcode, dst: insn.dst, src: insn.src, off: insn.off, imm: insn.imm });
  });

  it("jumps: every condition, 64- and 32-bit, to resolved offsets", () => {
    const ops: [I.JmpOpName, number][] = [["JEQ", 0x10], ["JGT", 0x20], ["JGE", 0x30], ["JSET", 0x40], ["JNE", 0x50], ["JSGT", 0x60], ["JSGE", 0x70], ["JLT", 0xa0], ["JLE", 0xb0], ["JSLT", 0xc0], ["JSLE", 0xd0]];
    for (const [op, code] of ops) {
      const insns = I.resolveLabels([I.jmpImm(op, 1, 7, "end"), I.jmpReg(op, 2, 3, "end", false), I.ldImm64(0, 1n), I.label("end"), I.exit()]);
      const b = I.encode(insns);
      expect(hex(b.subarray(0, 8))).toBe(`${(0x05 | code).toString(16).padStart(2, "0")}01030007000000`);
      expect(hex(b.subarray(8, 16))).toBe(`${(0x06 | code | 0x08).toString(16).padStart(2, "0")}32020000000000`);
    }
    const back = I.resolveLabels([I.label("top"), I.alu64Imm("ADD", 1, 1), I.ja("top")]);
    expect(hex(I.encode(back).subarray(8, 16))).toBe("0500feff00000000");
  });
});

describe("objects read back by our reader", () => {
  it("nops: sections, symbols, relocations, BTF and line info as clang lays them out", () => {
    const { res, obj } = sample("nops.ts");
    const names = obj.sections.map((s) => s.name);
    for (const n of ["struct_ops.s/nops", ".relstruct_ops.s/nops", "license", ".rodata", ".bss", ".struct_ops.link", ".rel.struct_ops.link", ".BTF", ".BTF.ext", ".symtab", ".strtab"]) expect(names).toContain(n);
    expect(Buffer.from(obj.section("license")!.data).toString()).toBe("Dual BSD/GPL\0");
    const prog = obj.symbols.find((s) => s.name === "nops")!;
    expect([prog.bind, prog.type, prog.size]).toEqual([1, 2, res.programs[0].slots * 8]);
    expect(obj.insns("struct_ops.s/nops").length).toBe(res.programs[0].insns.length);
    // Relocations: globals R_BPF_64_64 on ld_imm64, kfuncs R_BPF_64_32 against undefined symbols.
    const rel = obj.relocations.filter((r) => r.section === "struct_ops.s/nops");
    expect(rel.some((r) => r.type === 1 && r.symbol.name === "reqsToRun")).toBe(true);
    expect(rel.filter((r) => r.type === 10).every((r) => r.symbol.shndx === 0 && r.symbol.name.startsWith("bpf_io_uring_"))).toBe(true);
    const ops = obj.relocations.find((r) => r.section === ".struct_ops.link")!;
    expect([ops.type, ops.offset, ops.symbol.name]).toEqual([2, 0, "nops"]);
    // BTF: the struct_ops type, kfuncs extern in .ksyms, globals in DATASECs with real offsets.
    const byId = new Map(obj.btf.map((t) => [t.id, t]));
    const ops_t = obj.btf.find((t) => t.kind === "STRUCT" && t.name === "io_uring_bpf_ops")!;
    expect(ops_t.size).toBe(16);
    expect(ops_t.members!.map((m) => [m.name, m.offset])).toEqual([["loop_step", 0], ["ring_fd", 8]]);
    const ksyms = obj.btf.find((t) => t.kind === "DATASEC" && t.name === ".ksyms")!;
    expect(ksyms.vars!.map((v) => [byId.get(v.type)!.name, byId.get(v.type)!.linkage])).toEqual([["bpf_io_uring_get_region", 2], ["bpf_io_uring_submit_sqes", 2]]);
    const bss = obj.btf.find((t) => t.kind === "DATASEC" && t.name === ".bss")!;
    const vars = Object.fromEntries(bss.vars!.map((v) => [byId.get(v.type)!.name, v.offset]));
    expect(vars).toMatchObject({ reqsToRun: 0, result: 4, inflight: 8 });
    expect(obj.btf.filter((t) => t.kind === "INT").every((t) => [0, 1, 2, 4].includes(t.encoding!))).toBe(true);
    // BTF.ext: func_info for the program, line_info quoting the TypeScript source.
    expect(obj.btfExt!.funcs).toEqual([{ section: "struct_ops.s/nops", offset: 0, typeId: obj.btf.find((t) => t.kind === "FUNC" && t.name === "nops")!.id }]);
    const src = fs.readFileSync(path.join(root, "samples", "nops.ts"), "utf8").split("\n");
    expect(obj.btfExt!.lines.length).toBeGreaterThan(20);
    for (const l of obj.btfExt!.lines) expect(l.text).toBe(src[l.line - 1].trimEnd());
  });

  it("a @noinline helper lands in .text with a relocated call and its own func_info", () => {
    const res = compileFile(path.join(__dirname, "fixtures", "programs", "noinline-helper.ts"));
    const obj = readObject(res.object!);
    expect(obj.section(".text")).toBeDefined();
    const mix = obj.symbols.find((s) => s.name === "mix")!;
    expect([mix.bind, mix.type]).toEqual([0, 2]);
    expect(obj.relocations.filter((r) => r.type === 10 && r.symbol.name === "mix")).toHaveLength(2);
    expect(obj.btfExt!.funcs.map((f) => f.section)).toEqual([".text", "struct_ops.s/p"]);
  });

  it("says what is wrong with a file that is not a BPF object", () => {
    expect(() => readObject(new Uint8Array([1, 2, 3]))).toThrow(ObjectFormatError);
    expect(() => readObject(fs.readFileSync("/bin/true"))).toThrow(/not a relocatable|not a BPF object/);
    const { res } = sample("nops.ts");
    expect(() => readObject(res.object!.subarray(0, 200))).toThrow(/truncated/);
  });
});

const bpftool = path.join(root, ".cache", "uringbpf", "sysroot", "usr", "sbin", "bpftool");
const loader = path.join(root, ".cache", "uringbpf", "bin", "uringbpf-loader");
const haveLlvm = spawnSync("llvm-readelf", ["--version"]).status === 0;
if (process.env.CI && (!haveLlvm || !fs.existsSync(bpftool) || !fs.existsSync(loader))) throw new Error("llvm, bpftool or the loader is missing: scripts/deps.sh installs them");

describe("real tools accept the objects", () => {
  const objects = ["nops.ts", "cp.ts", "records.ts", "qd.ts"].map(sample);

  it.skipIf(!haveLlvm)("llvm-readelf lists the sections, symbols and relocations", () => {
    for (const { file } of objects) {
      const out = execFileSync("llvm-readelf", ["-S", "-s", "-r", file], { encoding: "utf8" });
      expect(out).toMatch(/struct_ops\.s\//);
      expect(out).toMatch(/R_BPF_64_64/);
      expect(out).toMatch(/R_BPF_64_ABS64/);
      expect(out).toMatch(/FUNC\s+GLOBAL/);
    }
  });

  it.skipIf(!haveLlvm)("llvm-objdump disassembles every instruction (LLVM 14 prints store-immediates and may_goto as <unknown>)", () => {
    for (const { file, res, obj } of objects) {
      const out = execFileSync("llvm-objdump", ["-d", file], { encoding: "utf8" });
      const lines = out.split("\n").filter((l) => /^\s+\d+:\s/.test(l));
      expect(lines.length).toBe(res.programs[0].insns.length);
      const unknown = lines.filter((l) => l.includes("<unknown>")).length;
      // LLVM 14 predates may_goto (0xe5) too.
      const unknowable = obj.insns(`struct_ops.s/${res.programs[0].name}`).filter((i) => (i.opcode & 0xe7) === 0x62 || i.opcode === 0xe5).length;
      expect(unknown).toBe(unknowable);
    }
  });

  it.skipIf(!fs.existsSync(bpftool))("bpftool 7.5 dumps the BTF and generates a skeleton", () => {
    for (const { file } of objects) {
      const btf = execFileSync(bpftool, ["btf", "dump", "file", file], { encoding: "utf8" });
      expect(btf).toMatch(/STRUCT 'io_uring_bpf_ops' size=16 vlen=2/);
      expect(btf).toMatch(/DATASEC '\.ksyms'/);
      const skel = execFileSync(bpftool, ["gen", "skeleton", file], { encoding: "utf8" });
      expect(skel).toMatch(/struct_ops/);
    }
    const skel = execFileSync(bpftool, ["gen", "skeleton", objects[0].file], { encoding: "utf8" });
    expect(skel).toMatch(/int reqsToRun;/);
  });

  it.skipIf(!fs.existsSync(loader))("libbpf 1.4 opens them and finds every global (the loader's --no-load)", () => {
    const r = spawnSync(loader, [objects[0].file, "--no-load", "--set", "reqsToRun=5", "--setup-flags", "DEFER_TASKRUN,SINGLE_ISSUER,CQSIZE"], { encoding: "utf8" });
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout.trim().split("\n").pop()!);
    expect(j.globals.reqsToRun).toBe(5);
    expect(j.globals.uringbpf_sq_entries).toBe(8);
  });
});
