// BTF: the string table, each btf__add_* shaped builder call to its exact words (struct btf_type and the
// kind-specific records of include/uapi/linux/btf.h), TypeSpec de-duplication, the .BTF header, .BTF.ext
// records from instruction positions, and bpftool reading a raw .BTF we encoded.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import * as I from "../compiler/bpf/insn";
import { BtfBuilder, Kind, Linkage } from "../compiler/btf/builder";
import { encodeBtfExt, lineRecords } from "../compiler/btf/ext";
import { StringTable } from "../compiler/btf/strings";
import { readBtf } from "../compiler/elf/reader";
import type { TypeSpec } from "../compiler/object/module";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
/** The type section words of a builder (after the 24-byte header). */
function words(b: BtfBuilder): number[] {
  const bytes = b.encode();
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  const len = dv.getUint32(12, true);
  return [...Array(len / 4)].map((_, i) => dv.getUint32(24 + i * 4, true));
}
const info = (kind: number, vlen = 0, flag = 0) => ((flag << 31) | (kind << 24) | vlen) >>> 0;

describe("string table", () => {
  it("starts with the empty string at 0, appends NUL-terminated UTF-8 and de-duplicates", () => {
    const s = new StringTable();
    expect(s.add("")).toBe(0);
    expect(s.add("int")).toBe(1);
    expect(s.add("ctx")).toBe(5);
    expect(s.add("int")).toBe(1);
    expect(s.add("é")).toBe(9);
    expect(s.find("ctx")).toBe(5);
    expect(s.find("nope")).toBeUndefined();
    expect(hex(s.encode())).toBe("00696e740063747800c3a900");
    expect(s.size).toBe(12);
    expect(() => s.add("a\0b")).toThrow(/NUL/);
  });
});

describe("builder calls to exact type records", () => {
  it("INT, PTR, ARRAY, TYPEDEF, CONST, VOLATILE, FWD", () => {
    const b = new BtfBuilder();
    expect(b.addInt("int", 4, { signed: true })).toBe(1);
    expect(b.addInt("_Bool", 1, { bool: true })).toBe(2);
    expect(b.addInt("char", 1, { char: true })).toBe(3);
    expect(b.addInt("unsigned long", 8)).toBe(4);
    expect(b.addPtr(1)).toBe(5);
    expect(b.addArray(1, 3, 13)).toBe(6);
    expect(b.addTypedef("size_t", 4)).toBe(7);
    expect(b.addConst(7)).toBe(8);
    expect(b.addVolatile(8)).toBe(9);
    expect(b.addFwd("later")).toBe(10);
    expect(b.addFwd("u", true)).toBe(11);
    const s = (x: string) => b.strings.find(x)!;
    expect(words(b)).toEqual([
      s("int"), info(Kind.INT), 4, 0x01000020,
      s("_Bool"), info(Kind.INT), 1, 0x04000008,
      s("char"), info(Kind.INT), 1, 0x02000008,
      s("unsigned long"), info(Kind.INT), 8, 0x00000040,
      0, info(Kind.PTR), 1,
      0, info(Kind.ARRAY), 0, 3, 1, 13,
      s("size_t"), info(Kind.TYPEDEF), 4,
      0, info(Kind.CONST), 7,
      0, info(Kind.VOLATILE), 8,
      s("later"), info(Kind.FWD), 0,
      s("u"), info(Kind.FWD, 0, 1), 0,
    ]);
    expect(info(Kind.FWD, 0, 1)).toBe(0x87000000);
  });

  it("STRUCT, UNION, ENUM, FUNC_PROTO, FUNC, VAR, DATASEC", () => {
    const b = new BtfBuilder();
    const u32 = b.addInt("__u32", 4);
    const p = b.addPtr(0);
    const st = b.addStruct("io_uring_bpf_ops", 16, [{ name: "loop_step", type: p, offset: 0 }, { name: "ring_fd", type: u32, offset: 8 }]);
    const un = b.addUnion("v", 8, [{ name: "a", type: u32, offset: 0 }, { name: "b", type: p, offset: 0 }]);
    const en = b.addEnum("e", [{ name: "A", value: 0 }, { name: "B", value: -1 }]);
    const fp = b.addFuncProto(u32, [{ name: "ctx", type: p }]);
    const fn = b.addFunc("f", fp, "global");
    const kf = b.addFunc("k", fp, "extern");
    const v = b.addVar("x", u32, Linkage.STATIC);
    const ds = b.addDatasec(".bss", 4, [{ type: v, offset: 0, size: 4 }]);
    expect([st, un, en, fp, fn, kf, v, ds]).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
    const s = (x: string) => b.strings.find(x)!;
    expect(words(b).slice(7)).toEqual([
      s("io_uring_bpf_ops"), info(Kind.STRUCT, 2), 16, s("loop_step"), p, 0, s("ring_fd"), u32, 64,
      s("v"), info(Kind.UNION, 2), 8, s("a"), u32, 0, s("b"), p, 0,
      s("e"), info(Kind.ENUM, 2, 1), 4, s("A"), 0, s("B"), 0xffffffff,
      0, info(Kind.FUNC_PROTO, 1), u32, s("ctx"), p,
      s("f"), info(Kind.FUNC, Linkage.GLOBAL), fp,
      s("k"), info(Kind.FUNC, Linkage.EXTERN), fp,
      s("x"), info(Kind.VAR), u32, 0,
      s(".bss"), info(Kind.DATASEC, 1), 4, v, 0, 4,
    ]);
  });

  it("refuses references to types that do not exist yet", () => {
    const b = new BtfBuilder();
    expect(() => b.addPtr(1)).toThrow(/type id 1 does not exist/);
    expect(() => b.addInt("x", 3)).toThrow(/INT size 3/);
  });

  it("encodes the header: magic 0xeB9F, version 1, hdr_len 24, types then strings", () => {
    const b = new BtfBuilder();
    b.addInt("int", 4, { signed: true });
    expect(hex(b.encode())).toBe(
      "9feb0100" + "18000000" + "00000000" + "10000000" + "10000000" + "05000000" + // header
        "01000000" + "00000001" + "04000000" + "20000001" + // INT 'int' size 4 signed, 32 bits
        "00696e7400", // "\0int\0"
    );
  });
});

describe("addSpec", () => {
  const ctx: TypeSpec = { kind: "struct", name: "io_ring_ctx", size: 0, members: [] };
  const u32: TypeSpec = { kind: "int", name: "__u32", size: 4, signed: false };
  const sizeT: TypeSpec = { kind: "typedef", name: "size_t", to: { kind: "int", name: "unsigned long", size: 8, signed: false } };

  it("adds what a spec refers to first and reuses structurally equal specs, whatever their key order", () => {
    const b = new BtfBuilder();
    const submit = b.addSpec({ kind: "func_proto", ret: { kind: "int", name: "int", size: 4, signed: true }, params: [{ name: "ctx", type: { kind: "ptr", to: ctx } }, { name: "nr", type: u32 }] });
    const before = b.count;
    const region = b.addSpec({ kind: "func_proto", ret: { kind: "ptr", to: { kind: "int", name: "__u8", size: 1, signed: false } }, params: [{ name: "ctx", type: { to: ctx, kind: "ptr" } }, { name: "region_id", type: { signed: false, size: 4, name: "__u32", kind: "int" } }, { name: "rdwr_buf_size", type: { kind: "const", to: sizeT } }] });
    // New: __u8, __u8 *, unsigned long, size_t, const size_t, the proto. Reused: ctx, ctx *, __u32.
    expect(b.count - before).toBe(6);
    expect(region).toBe(b.count);
    expect(b.addSpec({ kind: "ptr", to: ctx })).toBe(b.addSpec({ to: { members: [], size: 0, name: "io_ring_ctx", kind: "struct" }, kind: "ptr" }));
    expect(b.addSpec({ kind: "void" })).toBe(0);
    expect(submit).toBe(before);
    const types = readBtf(b.encode()).types;
    expect(types.filter((t) => t.name === "io_ring_ctx")).toEqual([{ id: 2, kind: "STRUCT", name: "io_ring_ctx", size: 0, members: [] }]);
    expect(types[region - 1].params!.map((p) => [p.name, types[p.type - 1].kind])).toEqual([["ctx", "PTR"], ["region_id", "INT"], ["rdwr_buf_size", "CONST"]]);
  });

  it("gives arrays clang's __ARRAY_SIZE_TYPE__ index", () => {
    const b = new BtfBuilder();
    const id = b.addSpec({ kind: "array", elem: { kind: "int", name: "char", size: 1, signed: true }, count: 13 });
    const t = readBtf(b.encode()).types;
    expect(t[id - 1]).toMatchObject({ kind: "ARRAY", count: 13 });
    expect(t[t[id - 1].index! - 1]).toMatchObject({ kind: "INT", name: "__ARRAY_SIZE_TYPE__", size: 4, encoding: 0 });
  });
});

describe(".BTF.ext", () => {
  const pos = (line: number, col = 1): I.SourcePos => ({ file: "a.ts", line, col, text: `line ${line}` });

  it("line records: one at the function start, then one per change of line (ld_imm64 counts two slots)", () => {
    const insns: I.Insn[] = [
      I.alu64Imm("MOV", 0, 0), // no position: the start record takes the first position in the function
      { ...I.ldImm64(1, 1n), pos: pos(3, 5) },
      { ...I.exit(), pos: pos(3, 9) },
      { ...I.exit(), pos: pos(4) },
      I.exit(),
      { ...I.exit(), pos: pos(3) },
    ];
    expect(lineRecords(insns, 64).map((r) => [r.offset, r.line, r.col])).toEqual([[64, 3, 5], [64 + 32, 4, 1], [64 + 48, 3, 1]]);
    expect(lineRecords([I.exit()], 0)).toEqual([]);
    expect(lineRecords([I.exit()], 8, pos(0))).toEqual([{ offset: 8, file: "a.ts", text: "line 0", line: 0, col: 1 }]);
  });

  it("encodes func_info (8-byte records) and line_info (16-byte records) per section after a 32-byte header", () => {
    const s = new StringTable();
    const bytes = encodeBtfExt([{ name: "struct_ops.s/p", funcs: [{ offset: 0, typeId: 7 }], lines: [{ offset: 8, file: "a.ts", text: "x++;", line: 2, col: 3 }] }], s);
    const sec = s.find("struct_ops.s/p")!;
    const w = (n: number) => Buffer.from(Uint32Array.of(n).buffer).toString("hex");
    expect(hex(bytes)).toBe(
      "9feb0100" + w(32) + w(0) + w(20) + w(20) + w(28) + w(48) + w(0) +
        w(8) + w(sec) + w(1) + w(0) + w(7) +
        w(16) + w(sec) + w(1) + w(8) + w(s.find("a.ts")!) + w(s.find("x++;")!) + w((2 << 10) | 3),
    );
    expect(hex(encodeBtfExt([], new StringTable()))).toBe("9feb0100" + w(32) + w(0).repeat(6));
  });
});

const bpftool = path.join(__dirname, "..", ".cache", "uringbpf", "sysroot", "usr", "sbin", "bpftool");
if (process.env.CI && !fs.existsSync(bpftool)) throw new Error("bpftool is missing: run scripts/deps.sh build");

describe("bpftool reads our .BTF", () => {
  it.skipIf(!fs.existsSync(bpftool))("as a raw BTF file", () => {
    const b = new BtfBuilder();
    const ctx = b.addSpec({ kind: "struct", name: "io_ring_ctx", size: 0, members: [] });
    const u32 = b.addSpec({ kind: "int", name: "__u32", size: 4, signed: false });
    b.addFunc("bpf_io_uring_submit_sqes", b.addFuncProto(b.addInt("int", 4, { signed: true }), [{ name: "ctx", type: b.addPtr(ctx) }, { name: "nr", type: u32 }]), "extern");
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ubpf-btf-")), "types.btf");
    fs.writeFileSync(file, b.encode());
    const out = execFileSync(bpftool, ["btf", "dump", "file", file], { encoding: "utf8" });
    expect(out.trim().split("\n")).toEqual([
      "[1] STRUCT 'io_ring_ctx' size=0 vlen=0",
      "[2] INT '__u32' size=4 bits_offset=0 nr_bits=32 encoding=(none)",
      "[3] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED",
      "[4] PTR '(anon)' type_id=1",
      "[5] FUNC_PROTO '(anon)' ret_type_id=3 vlen=2",
      "\t'ctx' type_id=4",
      "\t'nr' type_id=2",
      "[6] FUNC 'bpf_io_uring_submit_sqes' type_id=5 linkage=extern",
    ]);
  });
});
