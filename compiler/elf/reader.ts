// The object reader: parses an ELF64 BPF relocatable (ours or clang's) back into sections, symbols,
// relocations, instructions, BTF types and BTF.ext records. The tests read every object we write with
// it; the userspace engine loads objects with it. Malformed input raises ObjectFormatError with a message
// saying what is wrong, never an out-of-range crash.

import { decode, type Insn } from "../bpf/insn";

/** What is wrong with an input that is not a readable BPF object. */
export class ObjectFormatError extends Error {
  override name = "ObjectFormatError";
}

/** A section header with its contents (empty for SHT_NOBITS). */
export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  entsize: number;
  data: Uint8Array;
}

/** A symbol table entry (bind and type are the two halves of st_info). */
export interface ElfSymbol {
  name: string;
  bind: number;
  type: number;
  shndx: number;
  value: number;
  size: number;
}

/** A relocation entry resolved to its target section name and symbol. */
export interface ElfRelocation {
  /** The section the relocation applies to. */
  section: string;
  offset: number;
  type: number;
  symbol: ElfSymbol;
}

/** A BTF type in readable form. */
export interface BtfType {
  id: number;
  kind: string;
  name: string;
  /** The kind_flag bit (FWD of a union, bitfield STRUCT/UNION, ENUM signedness). */
  kindFlag?: boolean;
  /** size or referenced type, by kind */
  size?: number;
  type?: number;
  /** INT: BTF_INT encoding (1 signed, 2 char, 4 bool), bit offset and number of bits */
  encoding?: number;
  bitOffset?: number;
  bits?: number;
  /** ARRAY */
  elem?: number;
  index?: number;
  count?: number;
  /** STRUCT/UNION members (offset in bytes; bitOffset exact, bitfieldSize for kind_flag bitfields) */
  members?: { name: string; type: number; offset: number; bitOffset: number; bitfieldSize?: number }[];
  /** FUNC_PROTO params */
  params?: { name: string; type: number }[];
  /** DATASEC vars */
  vars?: { type: number; offset: number; size: number }[];
  /** ENUM / ENUM64 values (signed when kind_flag is set) */
  values?: { name: string; value: number | bigint }[];
  /** FUNC/VAR linkage (0 static, 1 global, 2 extern) */
  linkage?: number;
  /** DECL_TAG: member/param index, -1 for the type itself */
  componentIdx?: number;
}

/** func_info and line_info records, per section, with strings resolved. */
export interface BtfExtInfo {
  funcs: { section: string; offset: number; typeId: number }[];
  lines: { section: string; offset: number; file: string; text: string; line: number; col: number }[];
}

/** A parsed object file. */
export interface ObjectFile {
  sections: ElfSection[];
  symbols: ElfSymbol[];
  relocations: ElfRelocation[];
  btf: BtfType[];
  btfExt?: BtfExtInfo;
  /** A section by name. */
  section(name: string): ElfSection | undefined;
  /** The instructions of a code section. */
  insns(section: string): Insn[];
  /** A BTF type by id (undefined for 0 = void or a missing id). */
  type(id: number): BtfType | undefined;
}

const KINDS = ["UNKN", "INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF", "VOLATILE", "CONST", "RESTRICT", "FUNC", "FUNC_PROTO", "VAR", "DATASEC", "FLOAT", "DECL_TAG", "TYPE_TAG", "ENUM64"];
const SHT_NOBITS = 8;
const SHT_SYMTAB = 2;
const SHT_REL = 9;
const SHN_LORESERVE = 0xff00;

/** Bounds-checked little-endian reads over one byte range, naming it in errors. */
class Cursor {
  private dv: DataView;
  constructor(private bytes: Uint8Array, private what: string) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get length(): number { return this.bytes.length; }
  private need(off: number, n: number): void {
    if (!Number.isSafeInteger(off) || off < 0 || off + n > this.bytes.length) throw new ObjectFormatError(`${this.what} is truncated (needs ${off + n} bytes, has ${this.bytes.length})`);
  }
  u8(o: number) { this.need(o, 1); return this.dv.getUint8(o); }
  u16(o: number) { this.need(o, 2); return this.dv.getUint16(o, true); }
  u32(o: number) { this.need(o, 4); return this.dv.getUint32(o, true); }
  i32(o: number) { this.need(o, 4); return this.dv.getInt32(o, true); }
  u64(o: number) {
    this.need(o, 8);
    const v = this.dv.getBigUint64(o, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ObjectFormatError(`${this.what}: value at ${o} is out of range`);
    return Number(v);
  }
  slice(o: number, n: number) { this.need(o, n); return this.bytes.subarray(o, o + n); }
  cstr(o: number): string {
    if (o === this.bytes.length && o === 0) return "";
    this.need(o, 1);
    const e = this.bytes.indexOf(0, o);
    if (e < 0) throw new ObjectFormatError(`${this.what}: unterminated string at ${o}`);
    return Buffer.from(this.bytes.subarray(o, e)).toString("utf8");
  }
}

/** Parse an object file. Throws ObjectFormatError for anything that is not a consistent ELF64 BPF object. */
export function readObject(bytes: Uint8Array): ObjectFile {
  const c = new Cursor(bytes, "the ELF file");
  if (bytes.length < 4 || c.u32(0) !== 0x464c457f) throw new ObjectFormatError("not an ELF file (bad magic)");
  if (bytes.length < 64) throw new ObjectFormatError(`the ELF file is truncated (${bytes.length} bytes, the header alone is 64)`);
  if (c.u8(4) !== 2 || c.u8(5) !== 1) throw new ObjectFormatError("not a 64-bit little-endian ELF file");
  if (c.u16(16) !== 1) throw new ObjectFormatError(`not a relocatable object (e_type ${c.u16(16)}, expected 1 ET_REL)`);
  if (c.u16(18) !== 247) throw new ObjectFormatError(`not a BPF object (e_machine ${c.u16(18)}, expected 247 EM_BPF)`);
  const shoff = c.u64(40);
  const shentsize = c.u16(58);
  const shnum = c.u16(60);
  const shstrndx = c.u16(62);
  if (shnum === 0 || shstrndx >= shnum) throw new ObjectFormatError("the section header table is missing or inconsistent");
  if (shentsize !== 64) throw new ObjectFormatError(`unexpected section header size ${shentsize} (expected 64)`);
  if (shoff + shnum * 64 > bytes.length) throw new ObjectFormatError(`the ELF file is truncated (section headers end at ${shoff + shnum * 64}, file has ${bytes.length} bytes)`);
  const raw = [...Array(shnum)].map((_, i) => {
    const h = shoff + i * 64;
    const type = c.u32(h + 4);
    const offset = c.u64(h + 24);
    const size = c.u64(h + 32);
    if (type !== SHT_NOBITS && type !== 0 && offset + size > bytes.length) throw new ObjectFormatError(`the ELF file is truncated (section ${i} ends at ${offset + size}, file has ${bytes.length} bytes)`);
    return { nameOff: c.u32(h), type, flags: c.u64(h + 8), offset, size, link: c.u32(h + 40), info: c.u32(h + 44), entsize: c.u64(h + 56), data: type === SHT_NOBITS || type === 0 ? new Uint8Array(0) : c.slice(offset, size) };
  });
  const shstr = new Cursor(raw[shstrndx].data, "the section name table");
  const sections: ElfSection[] = raw.map((r, index) => ({ index, name: index === 0 ? "" : shstr.cstr(r.nameOff), type: r.type, flags: r.flags, offset: r.offset, size: r.size, link: r.link, info: r.info, entsize: r.entsize, data: r.data }));
  const byName = new Map<string, ElfSection>();
  for (const s of sections) if (!byName.has(s.name)) byName.set(s.name, s);

  const symbols = readSymbols(sections);
  const relocations: ElfRelocation[] = [];
  for (const s of sections.filter((x) => x.type === SHT_REL)) {
    const rc = new Cursor(s.data, s.name);
    const target = s.info > 0 ? sections[s.info] : undefined;
    if (target === undefined) throw new ObjectFormatError(`${s.name} applies to a missing section ${s.info}`);
    if (s.data.length % 16 !== 0) throw new ObjectFormatError(`${s.name}: size ${s.data.length} is not a multiple of 16`);
    for (let o = 0; o + 16 <= s.data.length; o += 16) {
      const info = BigInt(rc.u64(o + 8));
      const offset = rc.u64(o);
      const sym = symbols[Number(info >> 32n)];
      if (!sym) throw new ObjectFormatError(`${s.name}: relocation against missing symbol ${info >> 32n}`);
      if (target.type !== SHT_NOBITS && offset >= target.size) throw new ObjectFormatError(`${s.name}: relocation at ${offset} is outside ${target.name} (${target.size} bytes)`);
      relocations.push({ section: target.name, offset, type: Number(info & 0xffffffffn), symbol: sym });
    }
  }

  const btfSec = byName.get(".BTF");
  const parsed = btfSec ? readBtf(btfSec.data) : undefined;
  const btf = parsed?.types ?? [];
  const extSec = byName.get(".BTF.ext");
  const btfExt = extSec && parsed ? readBtfExt(extSec.data, parsed.strings) : undefined;
  const byId = new Map(btf.map((t) => [t.id, t]));

  return {
    sections,
    symbols,
    relocations,
    btf,
    btfExt,
    section: (name) => byName.get(name),
    insns: (name) => {
      const s = byName.get(name);
      if (!s) throw new ObjectFormatError(`no section ${name}`);
      if (s.data.length % 8 !== 0) throw new ObjectFormatError(`${name}: size ${s.data.length} is not a multiple of 8 (one instruction)`);
      return decode(s.data);
    },
    type: (id) => byId.get(id),
  };
}

function readSymbols(sections: ElfSection[]): ElfSymbol[] {
  const symtab = sections.find((s) => s.type === SHT_SYMTAB);
  const symbols: ElfSymbol[] = [];
  if (!symtab) return symbols;
  if (symtab.link === 0 || symtab.link >= sections.length) throw new ObjectFormatError(".symtab links to a missing string table");
  if (symtab.data.length % 24 !== 0) throw new ObjectFormatError(`.symtab: size ${symtab.data.length} is not a multiple of 24`);
  const sc = new Cursor(symtab.data, ".symtab");
  const st = new Cursor(sections[symtab.link].data, "the symbol name table");
  for (let o = 0; o + 24 <= symtab.data.length; o += 24) {
    const info = sc.u8(o + 4);
    const shndx = sc.u16(o + 6);
    if (shndx < SHN_LORESERVE && shndx >= sections.length) throw new ObjectFormatError(`.symtab: symbol ${o / 24} is in missing section ${shndx}`);
    symbols.push({ name: st.cstr(sc.u32(o)), bind: info >> 4, type: info & 15, shndx, value: sc.u64(o + 8), size: sc.u64(o + 16) });
  }
  return symbols;
}

/** Parse a .BTF section: its types (ids from 1) and its string table. */
export function readBtf(data: Uint8Array): { types: BtfType[]; strings: (offset: number) => string } {
  const b = new Cursor(data, ".BTF");
  if (b.u16(0) !== 0xeb9f) throw new ObjectFormatError(".BTF has a bad magic number");
  if (b.u8(2) !== 1) throw new ObjectFormatError(`.BTF has version ${b.u8(2)} (expected 1)`);
  const hdr = b.u32(4);
  if (hdr < 24) throw new ObjectFormatError(`.BTF header length ${hdr} is too short`);
  const typeOff = hdr + b.u32(8);
  const typeLen = b.u32(12);
  const strOff = hdr + b.u32(16);
  const strLen = b.u32(20);
  b.slice(typeOff, typeLen);
  const s = new Cursor(b.slice(strOff, strLen), "the BTF string table");
  const types: BtfType[] = [];
  const end = typeOff + typeLen;
  const t32 = new Cursor(data.subarray(0, end), ".BTF types");
  let o = typeOff;
  for (let id = 1; o < end; id++) {
    const info = t32.u32(o + 4);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const kindFlag = (info >>> 31) === 1;
    const t: BtfType = { id, kind: KINDS[kind] ?? `KIND${kind}`, name: s.cstr(t32.u32(o)) };
    if (kindFlag) t.kindFlag = true;
    const sizeOrType = t32.u32(o + 8);
    o += 12;
    switch (kind) {
      case 1: { const v = t32.u32(o); t.size = sizeOrType; t.encoding = (v >>> 24) & 0xf; t.bitOffset = (v >>> 16) & 0xff; t.bits = v & 0xff; o += 4; break; }
      case 2: case 8: case 9: case 10: case 11: case 18: t.type = sizeOrType; break;
      case 3: t.elem = t32.u32(o); t.index = t32.u32(o + 4); t.count = t32.u32(o + 8); o += 12; break;
      case 4: case 5:
        t.size = sizeOrType;
        t.members = [...Array(vlen)].map((_, k) => {
          const off = t32.u32(o + k * 12 + 8);
          const bitOffset = kindFlag ? off & 0xffffff : off;
          const m: NonNullable<BtfType["members"]>[number] = { name: s.cstr(t32.u32(o + k * 12)), type: t32.u32(o + k * 12 + 4), offset: Math.floor(bitOffset / 8), bitOffset };
          if (kindFlag && off >>> 24) m.bitfieldSize = off >>> 24;
          return m;
        });
        o += vlen * 12;
        break;
      case 6: t.size = sizeOrType; t.values = [...Array(vlen)].map((_, k) => ({ name: s.cstr(t32.u32(o + k * 8)), value: kindFlag ? t32.i32(o + k * 8 + 4) : t32.u32(o + k * 8 + 4) })); o += vlen * 8; break;
      case 7: break;
      case 12: t.type = sizeOrType; t.linkage = vlen; break;
      case 13: t.type = sizeOrType; t.params = [...Array(vlen)].map((_, k) => ({ name: s.cstr(t32.u32(o + k * 8)), type: t32.u32(o + k * 8 + 4) })); o += vlen * 8; break;
      case 14: t.type = sizeOrType; t.linkage = t32.u32(o); o += 4; break;
      case 15: t.size = sizeOrType; t.vars = [...Array(vlen)].map((_, k) => ({ type: t32.u32(o + k * 12), offset: t32.u32(o + k * 12 + 4), size: t32.u32(o + k * 12 + 8) })); o += vlen * 12; break;
      case 16: t.size = sizeOrType; break;
      case 17: t.type = sizeOrType; t.componentIdx = t32.i32(o); o += 4; break;
      case 19:
        t.size = sizeOrType;
        t.values = [...Array(vlen)].map((_, k) => {
          const v = (BigInt(t32.u32(o + k * 12 + 8)) << 32n) | BigInt(t32.u32(o + k * 12 + 4));
          return { name: s.cstr(t32.u32(o + k * 12)), value: kindFlag ? BigInt.asIntN(64, v) : v };
        });
        o += vlen * 12;
        break;
      default: throw new ObjectFormatError(`.BTF: type ${id} has unknown kind ${kind}`);
    }
    types.push(t);
  }
  if (o !== end) throw new ObjectFormatError(`.BTF: the last type runs past the type section (${o} > ${end})`);
  for (const t of types)
    for (const ref of [t.type, t.elem, t.index, ...(t.members ?? []).map((m) => m.type), ...(t.params ?? []).map((p) => p.type), ...(t.vars ?? []).map((v) => v.type)])
      if (ref !== undefined && ref > types.length && t.kind !== "INT" && t.kind !== "FLOAT") throw new ObjectFormatError(`.BTF: type ${t.id} (${t.kind} '${t.name}') refers to missing type ${ref}`);
  return { types, strings: (off) => s.cstr(off) };
}

/** Parse a .BTF.ext section against the BTF string table. */
function readBtfExt(data: Uint8Array, str: (offset: number) => string): BtfExtInfo {
  const s = { cstr: str };
  const e = new Cursor(data, ".BTF.ext");
  if (e.u16(0) !== 0xeb9f) throw new ObjectFormatError(".BTF.ext has a bad magic number");
  const hdr = e.u32(4);
  if (hdr < 24) throw new ObjectFormatError(`.BTF.ext header length ${hdr} is too short`);
  const groups = (what: string, off: number, len: number, minSize: number, each: (sec: string, rec: number) => void) => {
    if (len === 0) return;
    const recSize = e.u32(off);
    if (recSize < minSize) throw new ObjectFormatError(`.BTF.ext ${what} record size ${recSize} is below ${minSize}`);
    const end = off + len;
    e.slice(off, len);
    let o = off + 4;
    while (o < end) {
      const sec = s.cstr(e.u32(o));
      const n = e.u32(o + 4);
      o += 8;
      if (o + n * recSize > end) throw new ObjectFormatError(`.BTF.ext ${what} of ${sec}: ${n} records do not fit`);
      for (let k = 0; k < n; k++, o += recSize) each(sec, o);
    }
  };
  const ext: BtfExtInfo = { funcs: [], lines: [] };
  groups("func_info", hdr + e.u32(8), e.u32(12), 8, (section, o) => ext.funcs.push({ section, offset: e.u32(o), typeId: e.u32(o + 4) }));
  groups("line_info", hdr + e.u32(16), e.u32(20), 16, (section, o) => {
    const lc = e.u32(o + 12);
    ext.lines.push({ section, offset: e.u32(o), file: s.cstr(e.u32(o + 4)), text: s.cstr(e.u32(o + 8)), line: lc >>> 10, col: lc & 0x3ff });
  });
  return ext;
}
