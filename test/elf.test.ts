// The object writer and reader on a hand-built ObjectModule (a struct_ops program calling two kfuncs and a
// .text subprogram, globals in .rodata/.data/.bss, the io_uring_bpf_ops variable): read back with our
// reader, then cross-checked with llvm-readelf, llvm-objdump, bpftool 7.5 and libbpf 1.4's
// bpf_object__open_file; the reader on a clang-built object and on broken input.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, describe, expect, it } from "vitest";
import * as I from "../compiler/bpf/insn";
import { ObjectFormatError, readObject } from "../compiler/elf/reader";
import { writeObject } from "../compiler/elf/writer";
import type { ObjectModule, TypeSpec } from "../compiler/object/module";

const root = path.join(__dirname, "..");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ubpf-elf-"));
const sysroot = path.join(root, ".cache", "uringbpf", "sysroot");
const bpftool = path.join(sysroot, "usr", "sbin", "bpftool");
const libbpfA = ["usr/lib/x86_64-linux-gnu/libbpf.a", "usr/lib/libbpf.a", "usr/lib64/libbpf.a"].map((p) => path.join(sysroot, p)).find((p) => fs.existsSync(p));
const has = (tool: string) => spawnSync(tool, ["--version"]).status === 0;
const haveLlvm = has("llvm-readelf") && has("llvm-objdump");
const haveClang = has("clang");
const haveGcc = has("gcc");
if (process.env.CI && (!haveLlvm || !fs.existsSync(bpftool) || !libbpfA)) throw new Error("llvm, bpftool or libbpf.a is missing: run scripts/deps.sh build");

// ---- the sample module ----
const int: TypeSpec = { kind: "int", name: "int", size: 4, signed: true };
const u32: TypeSpec = { kind: "typedef", name: "__u32", to: { kind: "int", name: "unsigned int", size: 4, signed: false } };
const u64: TypeSpec = { kind: "typedef", name: "__u64", to: { kind: "int", name: "unsigned long long", size: 8, signed: false } };
const u8: TypeSpec = { kind: "typedef", name: "__u8", to: { kind: "int", name: "unsigned char", size: 1, signed: false } };
const sizeT: TypeSpec = { kind: "typedef", name: "size_t", to: { kind: "int", name: "unsigned long", size: 8, signed: false } };
const ctx: TypeSpec = { kind: "struct", name: "io_ring_ctx", size: 0, members: [] };
const params: TypeSpec = { kind: "struct", name: "iou_loop_params", size: 4, members: [{ name: "cq_wait_idx", type: u32, offset: 0 }] };
const opsType = {
  kind: "struct" as const,
  name: "io_uring_bpf_ops",
  size: 16,
  members: [
    { name: "loop_step", type: { kind: "ptr", to: { kind: "func_proto", ret: int, params: [{ name: "", type: { kind: "ptr", to: ctx } }, { name: "", type: { kind: "ptr", to: params } }] } } as TypeSpec, offset: 0 },
    { name: "ring_fd", type: u32, offset: 8 },
  ],
};
const at = (line: number, text: string, col = 3): I.SourcePos => ({ file: "sample.ts", line, col, text });
const mark = (i: I.Insn, p: I.SourcePos): I.Insn => ({ ...i, pos: p });
const L1 = at(10, "const ctx = ring();");
const L2 = at(11, "counter += 1;");
const L3 = at(12, "submit(limit);");
const L4 = at(13, "return mix(total);");
const loopInsns: I.Insn[] = [
  mark(I.ldx("DW", 6, 1, 0), L1),
  mark(I.ldGlobalAddr(1, "counter", 0), L2),
  mark(I.ldx("W", 2, 1, 0), L2),
  mark(I.alu32Imm("ADD", 2, 1), L2),
  mark(I.stx("W", 1, 0, 2), L2),
  mark(I.alu64Reg("MOV", 1, 6), L3),
  mark(I.ldGlobalAddr(2, "limit", 0), L3),
  mark(I.ldx("W", 2, 2, 0), L3),
  mark(I.callKfunc("bpf_io_uring_submit_sqes"), L3),
  mark(I.alu64Reg("MOV", 1, 6), L3),
  mark(I.alu32Imm("MOV", 2, 0), L3),
  mark(I.alu64Imm("MOV", 3, 64), L3),
  mark(I.callKfunc("bpf_io_uring_get_region"), L3),
  mark(I.ldGlobalAddr(1, "total", 0), L4),
  mark(I.ldx("DW", 1, 1, 0), L4),
  mark(I.callSubprog("mix"), L4),
  mark(I.exit(), L4),
];
const mixInsns: I.Insn[] = [mark(I.alu32Reg("MOV", 0, 1), at(3, "return x ^ seed;")), mark(I.ldGlobalAddr(1, "seed", 0), at(3, "return x ^ seed;")), mark(I.ldx("W", 1, 1, 0), at(3, "return x ^ seed;")), mark(I.alu32Reg("XOR", 0, 1), at(3, "return x ^ seed;")), mark(I.exit(), at(4, "}"))];
const le = (n: number, size: number) => Uint8Array.from([...Array(size)].map((_, i) => (n >>> (i * 8)) & 0xff));

const sample: ObjectModule = {
  sourceFile: "sample.ts",
  license: "Dual BSD/GPL",
  functions: [
    { name: "mix", section: ".text", linkage: "static", insns: mixInsns, proto: { kind: "func_proto", ret: int, params: [{ name: "x", type: u64 }] } },
    { name: "loop", section: "struct_ops.s/loop", linkage: "global", insns: loopInsns, proto: { kind: "func_proto", ret: int, params: [{ name: "ctx", type: { kind: "ptr", to: { kind: "int", name: "unsigned long long", size: 8, signed: false } } }] } },
  ],
  globals: [
    { name: "limit", section: ".rodata", offset: 0, size: 4, type: { kind: "const", to: { kind: "volatile", to: u32 } }, init: le(8, 4), linkage: "global" },
    { name: "counter", section: ".bss", offset: 0, size: 4, type: u32, linkage: "global" },
    { name: "total", section: ".bss", offset: 8, size: 8, type: u64, linkage: "global" },
    { name: "seed", section: ".data", offset: 0, size: 4, type: u32, init: le(42, 4), linkage: "global" },
    { name: "hidden", section: ".data", offset: 4, size: 4, type: u32, init: le(7, 4), linkage: "static" },
  ],
  kfuncs: [
    { name: "bpf_io_uring_submit_sqes", proto: { kind: "func_proto", ret: int, params: [{ name: "ctx", type: { kind: "ptr", to: ctx } }, { name: "nr", type: u32 }] } },
    { name: "bpf_io_uring_get_region", proto: { kind: "func_proto", ret: { kind: "ptr", to: u8 }, params: [{ name: "ctx", type: { kind: "ptr", to: ctx } }, { name: "region_id", type: u32 }, { name: "rdwr_buf_size", type: { kind: "const", to: sizeT } }] } },
  ],
  structOps: [{ varName: "loop_ops", type: opsType, funcs: [{ member: "loop_step", func: "loop" }] }],
};
const bytes = writeObject(sample);
const file = path.join(tmp, "sample.o");
fs.writeFileSync(file, bytes);
const slotsOf = (insns: I.Insn[]) => insns.reduce((n, i) => n + I.slots(i), 0);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("our reader on the sample object", () => {
  const obj = readObject(bytes);
  const sec = (name: string) => obj.section(name)!;
  const sym = (name: string) => obj.symbols.find((s) => s.name === name)!;

  it("has clang's sections with their types, flags and contents", () => {
    const want: [string, number, number][] = [
      [".text", 1, 6], ["struct_ops.s/loop", 1, 6], ["license", 1, 3], [".rodata", 1, 2], [".data", 1, 3], [".bss", 8, 3],
      [".struct_ops.link", 1, 3], [".rel.text", 9, 0x40], [".relstruct_ops.s/loop", 9, 0x40], [".rel.struct_ops.link", 9, 0x40],
      [".BTF", 1, 0], [".BTF.ext", 1, 0], [".symtab", 2, 0], [".strtab", 3, 0],
    ];
    for (const [name, type, flags] of want) expect([name, sec(name)?.type, sec(name)?.flags]).toEqual([name, type, flags]);
    expect(hex(sec("struct_ops.s/loop").data)).toBe(hex(I.encode(loopInsns)));
    expect(hex(sec(".text").data)).toBe(hex(I.encode(mixInsns)));
    expect(Buffer.from(sec("license").data).toString()).toBe("Dual BSD/GPL\0");
    expect([...sec(".rodata").data]).toEqual([8, 0, 0, 0]);
    expect([...sec(".data").data]).toEqual([42, 0, 0, 0, 7, 0, 0, 0]);
    expect([sec(".bss").size, sec(".bss").data.length]).toEqual([16, 0]);
    expect([...sec(".struct_ops.link").data]).toEqual(Array(16).fill(0));
    for (const r of [".rel.text", ".relstruct_ops.s/loop", ".rel.struct_ops.link"]) {
      expect(sec(r).link).toBe(sec(".symtab").index);
      expect(sec(r).entsize).toBe(16);
    }
    expect(sec(".relstruct_ops.s/loop").info).toBe(sec("struct_ops.s/loop").index);
    expect(obj.insns("struct_ops.s/loop")).toHaveLength(loopInsns.length);
  });

  it("lists locals first, then FUNC/OBJECT/UND symbols with sizes and offsets", () => {
    const symtab = sec(".symtab");
    const firstGlobal = obj.symbols.findIndex((s) => s.bind !== 0);
    expect(symtab.info).toBe(firstGlobal);
    expect(obj.symbols.slice(firstGlobal).every((s) => s.bind === 1)).toBe(true);
    expect(obj.symbols[0]).toEqual({ name: "", bind: 0, type: 0, shndx: 0, value: 0, size: 0 });
    expect(obj.symbols.find((s) => s.type === 4)?.name).toBe("sample.ts");
    const s = (name: string) => { const x = sym(name); return [x.bind, x.type, x.shndx === 0 ? 0 : obj.sections[x.shndx].name, x.value, x.size]; };
    expect(s("loop")).toEqual([1, 2, "struct_ops.s/loop", 0, slotsOf(loopInsns) * 8]);
    expect(s("mix")).toEqual([0, 2, ".text", 0, slotsOf(mixInsns) * 8]);
    expect(s("limit")).toEqual([1, 1, ".rodata", 0, 4]);
    expect(s("total")).toEqual([1, 1, ".bss", 8, 8]);
    expect(s("hidden")).toEqual([0, 1, ".data", 4, 4]);
    expect(s("LICENSE")).toEqual([1, 1, "license", 0, 13]);
    expect(s("loop_ops")).toEqual([1, 1, ".struct_ops.link", 0, 16]);
    expect(s("bpf_io_uring_get_region")).toEqual([1, 0, 0, 0, 0]);
  });

  it("relocates global loads, kfunc and subprogram calls and the struct_ops member", () => {
    const rel = obj.relocations.map((r) => [r.section, r.offset, r.type, r.symbol.name]);
    expect(rel).toEqual([
      [".text", 8, 1, "seed"],
      ["struct_ops.s/loop", 8, 1, "counter"],
      ["struct_ops.s/loop", 56, 1, "limit"],
      ["struct_ops.s/loop", 80, 10, "bpf_io_uring_submit_sqes"],
      ["struct_ops.s/loop", 112, 10, "bpf_io_uring_get_region"],
      ["struct_ops.s/loop", 120, 1, "total"],
      ["struct_ops.s/loop", 144, 10, "mix"],
      [".struct_ops.link", 0, 2, "loop"],
    ]);
    const call = obj.insns("struct_ops.s/loop").find((i) => i.opcode === 0x85 && i.src === 1)!;
    expect([call.imm, call.off]).toEqual([-1, 0]);
  });

  it("describes functions, kfuncs, variables, the license and the ops variable in BTF", () => {
    const t = (id: number) => obj.type(id)!;
    const named = (kind: string, name: string) => obj.btf.find((x) => x.kind === kind && x.name === name)!;
    expect(named("FUNC", "loop").linkage).toBe(1);
    expect(named("FUNC", "mix").linkage).toBe(0);
    const proto = t(named("FUNC", "loop").type!);
    expect(proto.params!.map((p) => [p.name, t(p.type).kind, t(t(p.type).type!).name])).toEqual([["ctx", "PTR", "unsigned long long"]]);
    const ksyms = named("DATASEC", ".ksyms");
    expect(ksyms.vars!.map((v) => [t(v.type).kind, t(v.type).name, t(v.type).linkage])).toEqual([["FUNC", "bpf_io_uring_submit_sqes", 2], ["FUNC", "bpf_io_uring_get_region", 2]]);
    const region = t(t(named("FUNC", "bpf_io_uring_get_region").type!).params![0].type);
    expect(t(region.type!)).toMatchObject({ kind: "STRUCT", name: "io_ring_ctx", size: 0 });
    expect(obj.btf.some((x) => x.kind === "FWD")).toBe(false);
    const ds = (name: string) => named("DATASEC", name).vars!.map((v) => [t(v.type).name, t(v.type).linkage, v.offset, v.size]);
    expect(ds(".rodata")).toEqual([["limit", 1, 0, 4]]);
    expect(ds(".bss")).toEqual([["counter", 1, 0, 4], ["total", 1, 8, 8]]);
    expect(ds(".data")).toEqual([["seed", 1, 0, 4], ["hidden", 0, 4, 4]]);
    expect(named("DATASEC", ".bss").size).toBe(16);
    expect(ds("license")).toEqual([["LICENSE", 1, 0, 13]]);
    expect(t(t(named("VAR", "LICENSE").type!).elem!)).toMatchObject({ kind: "INT", name: "char", size: 1 });
    expect(ds(".struct_ops.link")).toEqual([["loop_ops", 1, 0, 16]]);
    const ops = t(named("VAR", "loop_ops").type!);
    expect([ops.kind, ops.name, ops.size, ops.members!.map((m) => [m.name, m.offset])]).toEqual(["STRUCT", "io_uring_bpf_ops", 16, [["loop_step", 0], ["ring_fd", 8]]]);
    expect(t(t(named("VAR", "limit").type!).type!).kind).toBe("VOLATILE");
  });

  it("carries func_info and line_info (one record per function start and per new line)", () => {
    const ext = obj.btfExt!;
    expect(ext.funcs.map((f) => [f.section, f.offset, obj.type(f.typeId)!.name])).toEqual([[".text", 0, "mix"], ["struct_ops.s/loop", 0, "loop"]]);
    expect(ext.lines.map((l) => [l.section, l.offset, l.line, l.col, l.file, l.text])).toEqual([
      [".text", 0, 3, 3, "sample.ts", "return x ^ seed;"],
      [".text", 40, 4, 3, "sample.ts", "}"],
      ["struct_ops.s/loop", 0, 10, 3, "sample.ts", L1.text],
      ["struct_ops.s/loop", 8, 11, 3, "sample.ts", L2.text],
      ["struct_ops.s/loop", 48, 12, 3, "sample.ts", L3.text],
      ["struct_ops.s/loop", 120, 13, 3, "sample.ts", L4.text],
    ]);
  });
});

describe("the writer refuses inconsistent modules", () => {
  const fn = sample.functions[1];
  const withInsns = (insns: I.Insn[], extra: Partial<ObjectModule> = {}): ObjectModule => ({ ...sample, functions: [sample.functions[0], { ...fn, insns }], ...extra });
  it("unknown globals, undeclared kfuncs, calls outside .text, duplicate names", () => {
    expect(() => writeObject(withInsns([I.ldGlobalAddr(1, "nope", 0), I.exit()]))).toThrow(/nope/);
    expect(() => writeObject(withInsns([I.callKfunc("bpf_nope"), I.exit()]))).toThrow(/undeclared kfunc bpf_nope/);
    expect(() => writeObject(withInsns([I.callSubprog("loop"), I.exit()]))).toThrow(/not a subprogram in .text/);
    expect(() => writeObject({ ...sample, globals: [...sample.globals, { ...sample.globals[0], offset: 8 }] })).toThrow(/two symbols named limit/);
    expect(() => writeObject({ ...sample, globals: [...sample.globals, { ...sample.globals[1], name: "other", offset: 2 }] })).toThrow(/overlaps/);
  });
});

describe("the reader on broken input", () => {
  it("says what is wrong instead of crashing", () => {
    expect(() => readObject(new Uint8Array([1, 2, 3]))).toThrow(/not an ELF file/);
    expect(() => readObject(bytes.subarray(0, 40))).toThrow(/truncated/);
    const x86 = Uint8Array.from(bytes);
    x86[18] = 62;
    expect(() => readObject(x86)).toThrow(/not a BPF object \(e_machine 62/);
    const big = Uint8Array.from(bytes);
    big[5] = 2;
    expect(() => readObject(big)).toThrow(/64-bit little-endian/);
    expect(() => readObject(fs.readFileSync("/bin/true"))).toThrow(ObjectFormatError);
  });

  it("every truncation and many corruptions raise ObjectFormatError or parse, never another error", () => {
    const tryRead = (b: Uint8Array) => {
      try {
        readObject(b).btf.length;
      } catch (e) {
        if (!(e instanceof ObjectFormatError)) throw new Error(`${(e as Error).name}: ${(e as Error).message}`);
      }
    };
    for (let n = 0; n < bytes.length; n += 7) tryRead(bytes.subarray(0, n));
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 0x1000000;
    for (let k = 0; k < 2000; k++) {
      const b = Uint8Array.from(bytes);
      for (let m = 0; m < 4; m++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      tryRead(b);
    }
  });
});

describe("real tools accept the sample object", () => {
  it.skipIf(!haveLlvm)("llvm-readelf lists its sections, symbols and relocations", () => {
    const out = execFileSync("llvm-readelf", ["-S", "-s", "-r", file], { encoding: "utf8" });
    for (const re of [
      /struct_ops\.s\/loop\s+PROGBITS\s.*\sAX\s/, /\.text\s+PROGBITS\s.*\sAX\s/, /\.relstruct_ops\.s\/loop\s+REL\s/, /\.bss\s+NOBITS\s.*\sWA\s/,
      /\.rodata\s+PROGBITS\s.*\sA\s/, /\.struct_ops\.link\s+PROGBITS\s.*\sWA\s/, /license\s+PROGBITS\s.*\sWA\s/, /\.BTF\.ext\s+PROGBITS/,
      /R_BPF_64_64\s+0+\s+counter/, /R_BPF_64_32\s+0+\s+bpf_io_uring_submit_sqes/, /R_BPF_64_32\s+0+\s+mix/, /R_BPF_64_ABS64\s+0+\s+loop/,
      new RegExp(`${slotsOf(loopInsns) * 8} FUNC\\s+GLOBAL DEFAULT\\s+\\d+ loop`), new RegExp(`${slotsOf(mixInsns) * 8} FUNC\\s+LOCAL\\s+DEFAULT\\s+\\d+ mix`), /8 OBJECT\s+GLOBAL DEFAULT\s+\d+ total/,
      /0 NOTYPE\s+GLOBAL DEFAULT\s+UND bpf_io_uring_get_region/, /13 OBJECT\s+GLOBAL DEFAULT\s+\d+ LICENSE/, /16 OBJECT\s+GLOBAL DEFAULT\s+\d+ loop_ops/,
    ])
      expect(out).toMatch(re);
    expect(out).not.toMatch(/warning|error/i);
  });

  it.skipIf(!haveLlvm)("llvm-objdump disassembles every instruction", () => {
    const plain = spawnSync("llvm-objdump", ["-d", file], { encoding: "utf8" });
    expect(plain.stderr).toBe("");
    const lines = plain.stdout.split("\n").filter((l) => /^\s+\d+:\s/.test(l));
    expect(lines).toHaveLength(loopInsns.length + mixInsns.length);
    const r = spawnSync("llvm-objdump", ["-d", "-r", file], { encoding: "utf8" });
    expect(r.stdout).toMatch(/R_BPF_64_32\s+bpf_io_uring_get_region/);
    expect(r.stdout).toMatch(/call -1/);
  });

  it.skipIf(!fs.existsSync(bpftool))("bpftool 7.5 dumps the BTF and generates a skeleton", () => {
    const btf = execFileSync(bpftool, ["btf", "dump", "file", file], { encoding: "utf8" });
    expect(btf).toMatch(/STRUCT 'io_uring_bpf_ops' size=16 vlen=2\n\t'loop_step' type_id=\d+ bits_offset=0\n\t'ring_fd' type_id=\d+ bits_offset=64/);
    expect(btf).toMatch(/FUNC 'bpf_io_uring_get_region' type_id=\d+ linkage=extern/);
    expect(btf).toMatch(/DATASEC '\.ksyms' size=0 vlen=2/);
    expect(btf).toMatch(/DATASEC '\.bss' size=16 vlen=2\n\ttype_id=\d+ offset=0 size=4 \(VAR 'counter'\)\n\ttype_id=\d+ offset=8 size=8 \(VAR 'total'\)/);
    expect(btf).toMatch(/FUNC 'loop' type_id=\d+ linkage=global/);
    expect(btf).toMatch(/FUNC 'mix' type_id=\d+ linkage=static/);
    const c = execFileSync(bpftool, ["btf", "dump", "file", file, "format", "c"], { encoding: "utf8" });
    expect(c).toMatch(/struct io_uring_bpf_ops \{\n\tint \(\*loop_step\)\(struct io_ring_ctx \*, struct iou_loop_params \*\);\n\t__u32 ring_fd;\n\};/);
    const skel = execFileSync(bpftool, ["gen", "skeleton", file, "name", "sample"], { encoding: "utf8" });
    expect(skel).toMatch(/struct bpf_program \*loop;/);
    expect(skel).toMatch(/struct bpf_map \*loop_ops;/);
    expect(skel).toMatch(/__u32 counter;/);
    expect(skel).toMatch(/__u64 total;/);
    expect(skel).not.toMatch(/hidden;/); // static variables stay out of the skeleton
  });

  it.skipIf(!libbpfA || !haveGcc)("libbpf 1.4 opens it (bpf_object__open_file) and finds the program and maps", () => {
    const exe = path.join(tmp, "libbpf-open");
    const inc = path.join(sysroot, "usr", "include");
    execFileSync("gcc", ["-O1", "-o", exe, path.join(__dirname, "support", "libbpf-open.c"), `-I${inc}`, libbpfA!, "-lelf", "-lz", "-lzstd"]);
    const r = spawnSync(exe, [file], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/^program loop section=struct_ops\.s\/loop type=27 insns=\d+ autoload=1$/m);
    expect(out).not.toMatch(/^program mix/m); // a subprogram, appended to its caller at load
    for (const m of [/^map sample\.rodata type=2 value_size=4$/m, /^map sample\.data type=2 value_size=8$/m, /^map sample\.bss type=2 value_size=16$/m, /^map loop_ops type=26 value_size=16$/m]) expect(out).toMatch(m);
  });
});

describe("the reader on a clang-built object", () => {
  // scripts/deps.sh installs clang; in CI a missing clang fails here instead of skipping.
  it.skipIf(!haveClang && !process.env.CI)("reads clang's sections, symbols, relocations, BTF and line_info", () => {
    const src = path.join(tmp, "clang.c");
    fs.writeFileSync(
      src,
      [
        "struct io_ring_ctx {};",
        "extern int bpf_io_uring_submit_sqes(struct io_ring_ctx *ctx, unsigned int nr) __attribute__((section(\".ksyms\")));",
        "unsigned int counter;",
        "const volatile unsigned int limit = 8;",
        "static __attribute__((noinline)) int mix(unsigned long long x) { return x ^ counter; }",
        "__attribute__((section(\"struct_ops.s/loop\"))) int loop(unsigned long long *ctx)",
        "{",
        "  counter += 1;",
        "  bpf_io_uring_submit_sqes((struct io_ring_ctx *)ctx[0], limit);",
        "  return mix(ctx[1]);",
        "}",
        "char LICENSE[] __attribute__((section(\"license\"))) = \"Dual BSD/GPL\";",
      ].join("\n"),
    );
    const out = path.join(tmp, "clang.o");
    execFileSync("clang", ["-O2", "-g", "-target", "bpf", "-mcpu=v3", "-c", src, "-o", out]);
    const obj = readObject(fs.readFileSync(out));
    expect(obj.section("struct_ops.s/loop")).toBeDefined();
    expect(obj.section(".text")).toBeDefined();
    expect(obj.symbols.find((s) => s.name === "loop")).toMatchObject({ bind: 1, type: 2 });
    expect(obj.relocations.some((r) => r.section === "struct_ops.s/loop" && r.type === 1 && r.symbol.name === "counter")).toBe(true);
    expect(obj.relocations.some((r) => r.section === "struct_ops.s/loop" && r.type === 10 && r.symbol.name === "bpf_io_uring_submit_sqes")).toBe(true);
    expect(obj.btf.find((t) => t.kind === "FUNC" && t.name === "loop")?.linkage).toBe(1);
    expect(obj.btf.some((t) => t.kind === "DATASEC" && t.name === ".ksyms")).toBe(true);
    expect(obj.btfExt!.funcs.map((f) => [f.section, obj.type(f.typeId)!.name]).sort()).toEqual([[".text", "mix"], ["struct_ops.s/loop", "loop"]]);
    const lines = obj.btfExt!.lines.filter((l) => l.section === "struct_ops.s/loop");
    expect(lines.length).toBeGreaterThan(2);
    expect(lines.every((l) => l.file.endsWith("clang.c"))).toBe(true);
    expect(lines.map((l) => l.text)).toContain("  counter += 1;");
    const n = obj.insns("struct_ops.s/loop").length;
    expect(n).toBeGreaterThan(3);
  });
});
