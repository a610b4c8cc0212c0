// BTF: a de-duplicating string table and a type builder in libbpf's btf__add_* shape. `addSpec` adds a
// TypeSpec (compiler/object/module.ts) recursively, reusing structurally equal types; `encode` writes the
// .BTF section (header, type records, strings) as the kernel and libbpf read it.

import type { TypeSpec } from "../object/module";

/** A string table: offset 0 is the empty string; equal strings share one offset. */
export class StringTable {
  private bytes: number[] = [0];
  private offsets = new Map<string, number>([["", 0]]);

  /** The offset of `s`, adding it if new. */
  add(s: string): number {
    let off = this.offsets.get(s);
    if (off !== undefined) return off;
    off = this.bytes.length;
    for (const b of Buffer.from(s, "utf8")) this.bytes.push(b);
    this.bytes.push(0);
    this.offsets.set(s, off);
    return off;
  }

  /** The table's bytes. */
  encode(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

/** BTF kinds (the `kind` field of btf_type.info). */
export const Kind = { INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9, CONST: 10, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15 } as const;
/** FUNC linkage (vlen of a FUNC) and VAR linkage. */
export const Linkage = { STATIC: 0, GLOBAL: 1, EXTERN: 2 } as const;

const BTF_MAGIC = 0xeb9f;

/** Builds a BTF type section. Type ids start at 1 (0 is void). */
export class BtfBuilder {
  readonly strings = new StringTable();
  private types: number[][] = [];
  private bySpec = new Map<string, number>();

  private add(words: number[]): number {
    this.types.push(words);
    return this.types.length;
  }

  private static info(kind: number, vlen: number, kindFlag = 0): number {
    return ((kindFlag << 31) | (kind << 24) | vlen) >>> 0;
  }

  /** INT: encoding is exactly one of SIGNED (1), CHAR (2), BOOL (4) or none; the kernel rejects mixes. */
  addInt(name: string, size: number, opts: { signed?: boolean; char?: boolean; bool?: boolean } = {}): number {
    const encoding = opts.bool ? 4 : opts.char ? 2 : opts.signed ? 1 : 0;
    return this.add([this.strings.add(name), BtfBuilder.info(Kind.INT, 0), size, ((encoding << 24) | (size * 8)) >>> 0]);
  }
  addPtr(to: number): number {
    return this.add([0, BtfBuilder.info(Kind.PTR, 0), to]);
  }
  addArray(elem: number, index: number, count: number): number {
    return this.add([0, BtfBuilder.info(Kind.ARRAY, 0), 0, elem, index, count]);
  }
  addStruct(name: string, size: number, members: { name: string; type: number; offset: number }[], union = false): number {
    return this.add([this.strings.add(name), BtfBuilder.info(union ? Kind.UNION : Kind.STRUCT, members.length), size, ...members.flatMap((m) => [this.strings.add(m.name), m.type, m.offset * 8])]);
  }
  addFwd(name: string, union = false): number {
    return this.add([this.strings.add(name), BtfBuilder.info(Kind.FWD, 0, union ? 1 : 0), 0]);
  }
  addTypedef(name: string, to: number): number {
    return this.add([this.strings.add(name), BtfBuilder.info(Kind.TYPEDEF, 0), to]);
  }
  addConst(to: number): number {
    return this.add([0, BtfBuilder.info(Kind.CONST, 0), to]);
  }
  addVolatile(to: number): number {
    return this.add([0, BtfBuilder.info(Kind.VOLATILE, 0), to]);
  }
  addEnum(name: string, values: { name: string; value: number }[]): number {
    return this.add([this.strings.add(name), BtfBuilder.info(Kind.ENUM, values.length), 4, ...values.flatMap((v) => [this.strings.add(v.name), v.value >>> 0])]);
  }
  addFuncProto(ret: number, params: { name: string; type: number }[]): number {
    return this.add([0, BtfBuilder.info(Kind.FUNC_PROTO, params.length), ret, ...params.flatMap((p) => [this.strings.add(p.name), p.type])]);
  }
  addFunc(name: string, proto: number, linkage: number): number {
    return this.add([this.strings.add(name), BtfBuilder.info(Kind.FUNC, linkage), proto]);
  }
  addVar(name: string, type: number, linkage: number): number {
    return this.add([this.strings.add(name), BtfBuilder.info(Kind.VAR, 0), type, linkage]);
  }
  addDatasec(name: string, size: number, vars: { type: number; offset: number; size: number }[]): number {
    return this.add([this.strings.add(name), BtfBuilder.info(Kind.DATASEC, vars.length), size, ...vars.flatMap((v) => [v.type, v.offset, v.size])]);
  }

  /** Add a type spec (and what it refers to), reusing an equal one added before. */
  addSpec(t: TypeSpec): number {
    if (t.kind === "void") return 0;
    const key = JSON.stringify(t);
    const hit = this.bySpec.get(key);
    if (hit !== undefined) return hit;
    let id: number;
    switch (t.kind) {
      case "int": id = this.addInt(t.name, t.size, t); break;
      case "ptr": id = this.addPtr(this.addSpec(t.to)); break;
      case "const": id = this.addConst(this.addSpec(t.to)); break;
      case "volatile": id = this.addVolatile(this.addSpec(t.to)); break;
      case "typedef": id = this.addTypedef(t.name, this.addSpec(t.to)); break;
      case "array": id = this.addArray(this.addSpec(t.elem), this.addSpec({ kind: "int", name: "__ARRAY_SIZE_TYPE__", size: 4, signed: false }), t.count); break;
      case "struct": case "union": id = this.addStruct(t.name, t.size, t.members.map((m) => ({ name: m.name, type: this.addSpec(m.type), offset: m.offset })), t.kind === "union"); break;
      case "fwd": id = this.addFwd(t.name, t.union); break;
      case "enum": id = this.addEnum(t.name, t.values); break;
      case "func_proto": {
        const ret = this.addSpec(t.ret);
        id = this.addFuncProto(ret, t.params.map((p) => ({ name: p.name, type: this.addSpec(p.type) })));
        break;
      }
    }
    this.bySpec.set(key, id);
    return id;
  }

  /** The .BTF section: header (magic, version 1, 24-byte header), types, strings. */
  encode(): Uint8Array {
    const words = this.types.flat();
    const strings = this.strings.encode();
    const typeLen = words.length * 4;
    const out = Buffer.alloc(24 + typeLen + strings.length);
    out.writeUInt16LE(BTF_MAGIC, 0);
    out.writeUInt8(1, 2);
    out.writeUInt8(0, 3);
    out.writeUInt32LE(24, 4);
    out.writeUInt32LE(0, 8);
    out.writeUInt32LE(typeLen, 12);
    out.writeUInt32LE(typeLen, 16);
    out.writeUInt32LE(strings.length, 20);
    words.forEach((w, i) => out.writeUInt32LE(w >>> 0, 24 + i * 4));
    out.set(strings, 24 + typeLen);
    return out;
  }
}
