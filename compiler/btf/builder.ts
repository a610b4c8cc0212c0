// BTF type builder in libbpf's btf__add_* shape: each add* appends one type record and returns its id
// (ids start at 1; 0 is void). `addSpec` adds a TypeSpec (compiler/object/module.ts) recursively, reusing
// structurally equal types; `encode` writes the .BTF section (24-byte header, type records, strings) as the
// kernel and libbpf read it. The string table is shared with the .BTF.ext writer.

import type { TypeSpec } from "../object/module";
import { StringTable } from "./strings";

export { StringTable } from "./strings";

/** BTF kinds (bits 24-28 of btf_type.info). */
export const Kind = {
  INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9, CONST: 10,
  RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15,
} as const;
/** FUNC linkage (the vlen of a FUNC) and VAR linkage share these numbers. */
export const Linkage = { STATIC: 0, GLOBAL: 1, EXTERN: 2 } as const;
/** A linkage by name or by number. */
export type LinkageName = "static" | "global" | "extern";

/** BTF_INT encodings (exactly one, or none for unsigned). */
export const IntEncoding = { SIGNED: 1, CHAR: 2, BOOL: 4 } as const;

/** The .BTF / .BTF.ext magic number. */
export const BTF_MAGIC = 0xeb9f;
const HEADER_LEN = 24;

function linkageNumber(l: LinkageName | number): number {
  if (typeof l === "number") return l;
  return l === "static" ? Linkage.STATIC : l === "global" ? Linkage.GLOBAL : Linkage.EXTERN;
}

/** A stable key for structural de-duplication (object keys sorted, so key order does not matter). */
function specKey(t: unknown): string {
  if (Array.isArray(t)) return `[${t.map(specKey).join(",")}]`;
  if (t !== null && typeof t === "object") {
    const o = t as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${k}:${specKey(o[k])}`).join(",")}}`;
  }
  return JSON.stringify(t);
}

/** Builds a BTF type section. */
export class BtfBuilder {
  /** Strings of the types (and of .BTF.ext, which shares them). */
  readonly strings = new StringTable();
  private types: number[][] = [];
  private bySpec = new Map<string, number>();

  /** Number of types added (the last id). */
  get count(): number {
    return this.types.length;
  }

  private push(words: number[]): number {
    for (const w of words) if (!Number.isInteger(w) || w < 0 || w > 0xffffffff) throw new Error(`internal: BTF word out of range: ${w}`);
    this.types.push(words);
    return this.types.length;
  }

  private ref(id: number): number {
    if (!Number.isInteger(id) || id < 0 || id > this.types.length) throw new Error(`internal: BTF type id ${id} does not exist`);
    return id;
  }

  private static info(kind: number, vlen: number, kindFlag = 0): number {
    if (vlen > 0xffff) throw new Error(`internal: BTF vlen ${vlen} too large`);
    return ((kindFlag << 31) | (kind << 24) | vlen) >>> 0;
  }

  /** INT of `size` bytes; encoding is at most one of signed, char, bool (the kernel rejects mixes). */
  addInt(name: string, size: number, opts: { signed?: boolean; char?: boolean; bool?: boolean } = {}): number {
    if (![1, 2, 4, 8, 16].includes(size)) throw new Error(`internal: BTF INT size ${size}`);
    const encoding = opts.bool ? IntEncoding.BOOL : opts.char ? IntEncoding.CHAR : opts.signed ? IntEncoding.SIGNED : 0;
    return this.push([this.strings.add(name), BtfBuilder.info(Kind.INT, 0), size, ((encoding << 24) | (size * 8)) >>> 0]);
  }
  /** PTR to type `to`. */
  addPtr(to: number): number {
    return this.push([0, BtfBuilder.info(Kind.PTR, 0), this.ref(to)]);
  }
  /** ARRAY of `count` elements of `elem`, indexed by `index` (libbpf's argument order). */
  addArray(index: number, elem: number, count: number): number {
    return this.push([0, BtfBuilder.info(Kind.ARRAY, 0), 0, this.ref(elem), this.ref(index), count]);
  }
  /** STRUCT (or UNION) of `size` bytes; member offsets are in bytes. */
  addStruct(name: string, size: number, members: { name: string; type: number; offset: number }[], union = false): number {
    const words = members.flatMap((m) => [this.strings.add(m.name), this.ref(m.type), m.offset * 8]);
    return this.push([this.strings.add(name), BtfBuilder.info(union ? Kind.UNION : Kind.STRUCT, members.length), size, ...words]);
  }
  /** UNION of `size` bytes. */
  addUnion(name: string, size: number, members: { name: string; type: number; offset: number }[]): number {
    return this.addStruct(name, size, members, true);
  }
  /** FWD declaration of a struct (or union). */
  addFwd(name: string, union = false): number {
    return this.push([this.strings.add(name), BtfBuilder.info(Kind.FWD, 0, union ? 1 : 0), 0]);
  }
  /** TYPEDEF `name` of `to`. */
  addTypedef(name: string, to: number): number {
    return this.push([this.strings.add(name), BtfBuilder.info(Kind.TYPEDEF, 0), this.ref(to)]);
  }
  /** CONST `to`. */
  addConst(to: number): number {
    return this.push([0, BtfBuilder.info(Kind.CONST, 0), this.ref(to)]);
  }
  /** VOLATILE `to`. */
  addVolatile(to: number): number {
    return this.push([0, BtfBuilder.info(Kind.VOLATILE, 0), this.ref(to)]);
  }
  /** ENUM of 4 bytes; values are 32-bit. Any negative value makes it signed (kind_flag 1). */
  addEnum(name: string, values: { name: string; value: number }[]): number {
    const signed = values.some((v) => v.value < 0);
    const words = values.flatMap((v) => [this.strings.add(v.name), v.value >>> 0]);
    return this.push([this.strings.add(name), BtfBuilder.info(Kind.ENUM, values.length, signed ? 1 : 0), 4, ...words]);
  }
  /** FUNC_PROTO returning `ret` (0 = void) with named parameters. */
  addFuncProto(ret: number, params: { name: string; type: number }[]): number {
    const words = params.flatMap((p) => [this.strings.add(p.name), this.ref(p.type)]);
    return this.push([0, BtfBuilder.info(Kind.FUNC_PROTO, params.length), this.ref(ret), ...words]);
  }
  /** FUNC `name` of FUNC_PROTO `proto`; the linkage is stored in vlen. */
  addFunc(name: string, proto: number, linkage: LinkageName | number): number {
    return this.push([this.strings.add(name), BtfBuilder.info(Kind.FUNC, linkageNumber(linkage)), this.ref(proto)]);
  }
  /** VAR `name` of `type`. */
  addVar(name: string, type: number, linkage: LinkageName | number): number {
    return this.push([this.strings.add(name), BtfBuilder.info(Kind.VAR, 0), this.ref(type), linkageNumber(linkage)]);
  }
  /** DATASEC `name` of `size` bytes listing VARs (or extern FUNCs for .ksyms) with their offsets and sizes. */
  addDatasec(name: string, size: number, vars: { type: number; offset: number; size: number }[]): number {
    const words = vars.flatMap((v) => [this.ref(v.type), v.offset, v.size]);
    return this.push([this.strings.add(name), BtfBuilder.info(Kind.DATASEC, vars.length), size, ...words]);
  }

  /** Add a type spec (and what it refers to), reusing a structurally equal one added before. */
  addSpec(t: TypeSpec): number {
    if (t.kind === "void") return 0;
    const key = specKey(t);
    const hit = this.bySpec.get(key);
    if (hit !== undefined) return hit;
    let id: number;
    switch (t.kind) {
      case "int": id = this.addInt(t.name, t.size, t); break;
      case "ptr": id = this.addPtr(this.addSpec(t.to)); break;
      case "const": id = this.addConst(this.addSpec(t.to)); break;
      case "volatile": id = this.addVolatile(this.addSpec(t.to)); break;
      case "typedef": id = this.addTypedef(t.name, this.addSpec(t.to)); break;
      case "array": {
        const elem = this.addSpec(t.elem);
        id = this.addArray(this.addSpec({ kind: "int", name: "__ARRAY_SIZE_TYPE__", size: 4, signed: false }), elem, t.count);
        break;
      }
      case "struct": case "union": {
        const members = t.members.map((m) => ({ name: m.name, type: this.addSpec(m.type), offset: m.offset }));
        id = this.addStruct(t.name, t.size, members, t.kind === "union");
        break;
      }
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

  /** The .BTF section: header (magic, version 1, flags 0, hdr_len 24, type and string offsets/lengths),
   *  the type records, then the string table. */
  encode(): Uint8Array {
    const words = this.types.flat();
    const strings = this.strings.encode();
    const typeLen = words.length * 4;
    const out = Buffer.alloc(HEADER_LEN + typeLen + strings.length);
    out.writeUInt16LE(BTF_MAGIC, 0);
    out.writeUInt8(1, 2); // version
    out.writeUInt8(0, 3); // flags
    out.writeUInt32LE(HEADER_LEN, 4);
    out.writeUInt32LE(0, 8); // type_off (from the end of the header)
    out.writeUInt32LE(typeLen, 12);
    out.writeUInt32LE(typeLen, 16); // str_off
    out.writeUInt32LE(strings.length, 20);
    words.forEach((w, i) => out.writeUInt32LE(w >>> 0, HEADER_LEN + i * 4));
    out.set(strings, HEADER_LEN + typeLen);
    return out;
  }
}
