// The object reader: parses an ELF64 BPF relocatable (ours or clang's) back into sections, symbols,
// relocations, instructions, BTF types and BTF.ext records. The tests read every object we write with
// it; the userspace engine loads objects with it. Malformed input raises ObjectFormatError with a message
// saying what is wrong, never an out-of-range crash.

import { decode, type Insn } from "../bpf/insn";

/** What is wrong with an input that is not a readable BPF object. */
export class ObjectFormatError extends Error {}

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

export interface ElfSymbol {
  name: string;
  bind: number;
  type: number;
  shndx: number;
  value: number;
  size: number;
}

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
  /** size or referenced type, by kind */
  size?: number;
  type?: number;
  /** INT */
  encoding?: number;
  bits?: number;
  /** ARRAY */
  elem?: number;
  count?: number;
  /** STRUCT/UNION members, FUNC_PROTO params, DATASEC vars, ENUM values */
  members?: { name: string; type: number; offset: number }[];
  params?: { name: string; type: number }[];
  vars?: { type: number; offset: number; size: number }[];
  values?: { name: string; value: number }[];
  /** FUNC/VAR linkage */
  linkage?: number;
}

export interface BtfExtInfo {
  funcs: { section: string; offset: number; typeId: number }[];
  lines: { section: string; offset: number; file: string; text: string; line: number; col: number }[];
}

export interface ObjectFile {
  sections: ElfSection[];
  symbols: ElfSymbol[];
  relocations: ElfRelocation[];
  btf: BtfType[];
  btfExt?: BtfExtInfo;
  section(name: string): ElfSection | undefined;
  /** The instructions of a code section. */
  insns(section: string): Insn[];
}

const KINDS = ["UNKN", "INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF", "VOLATILE", "CONST", "RESTRICT", "FUNC", "FUNC_PROTO", "VAR", "DATASEC", "FLOAT", "DECL_TAG", "TYPE_TAG", "ENUM64"];

class Cursor {
  private dv: DataView;
  constructor(private bytes: Uint8Array, private what: string) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private need(off: number, n: number): void {
    if (off < 0 || off + n > this.bytes.length) throw new ObjectFormatError(`${this.what} is truncated (needs ${off + n} bytes, has ${this.bytes.length})`);
  }
  u8(o: number) { this.need(o, 1); return this.dv.getUint8(o); }
  u16(o: number) { this.need(o, 2); return this.dv.getUint16(o, true); }
  u32(o: number) { this.need(o, 4); return this.dv.getUint32(o, true); }
  i32(o: number) { this.need(o, 4); return this.dv.getInt32(o, true); }
  u64(o: number) { this.need(o, 8); return Number(this.dv.getBigUint64(o, true)); }
  slice(o: number, n: number) { this.need(o, n); return this.bytes.subarray(o, o + n); }
  cstr(o: number): string {
    this.need(o, 1);
    let e = o;
    while (e < this.bytes.length && this.bytes[e] !== 0) e++;
    if (e >= this.bytes.length) throw new ObjectFormatError(`${this.what}: unterminated string at ${o}`);
    return Buffer.from(this.bytes.subarray(o, e)).toString("utf8");
  }
}

/** Parse an object file. */
export function readObject(bytes: Uint8Array): ObjectFile {
  const c = new Cursor(bytes, "the ELF file");
  if (bytes.length < 64 || c.u32(0) !== 0x464c457f) throw new ObjectFormatError("not an ELF file (bad magic)");
  if (c.u8(4) !== 2 || c.u8(5) !== 1) throw new ObjectFormatError("not a 64-bit little-endian ELF file");
  if (c.u16(16) !== 1) throw new ObjectFormatError("not a relocatable object (ET_REL)");
  if (c.u16(18) !== 247) throw new ObjectFormatError(`not a BPF object (e_machine ${c.u16(18)}, expected 247 EM_BPF)`);
  const shoff = c.u64(40);
  const shnum = c.u16(60);
  const shstrndx = c.u16(62);
  if (shnum === 0 || shstrndx >= shnum) throw new ObjectFormatError("the section header table is missing or inconsistent");
  const raw = [...Array(shnum)].map((_, i) => {
    const h = shoff + i * 64;
    const type = c.u32(h + 4);
    const offset = c.u64(h + 24);
    const size = c.u64(h + 32);
    return { nameOff: c.u32(h), type, flags: c.u64(h + 8), offset, size, link: c.u32(h + 40), info: c.u32(h + 44), entsize: c.u64(h + 56), data: type === 8 ? new Uint8Array(0) : c.slice(offset, size) };
  });
  const shstr = new Cursor(raw[shstrndx].data, "the section name table");
  const sections: ElfSection[] = raw.map((r, index) => ({ index, name: index === 0 ? "" : shstr.cstr(r.nameOff), type: r.type, flags: r.flags, offset: r.offset, size: r.size, link: r.link, info: r.info, entsize: r.entsize, data: r.data }));
  const byName = new Map(sections.map((s) => [s.name, s]));

  const symtab = sections.find((s) => s.type === 2);
  const symbols: ElfSymbol[] = [];
  if (symtab) {
    if (symtab.link >= sections.length) throw new ObjectFormatError(".symtab links to a missing string table");
    const sc = new Cursor(symtab.data, ".symtab");
    const st = new Cursor(sections[symtab.link].data, "the symbol name table");
    for (let o = 0; o + 24 <= symtab.data.length; o += 24) {
      const info = sc.u8(o + 4);
      symbols.push({ name: st.cstr(sc.u32(o)), bind: info >> 4, type: info & 15, shndx: sc.u16(o + 6), value: sc.u64(o + 8), size: sc.u64(o + 16) });
    }
  }
  const relocations: ElfRelocation[] = [];
  for (const s of sections.filter((x) => x.type === 9)) {
    const rc = new Cursor(s.data, s.name);
    const target = sections[s.info]?.name;
    if (target === undefined) throw new ObjectFormatError(`${s.name} applies to a missing section ${s.info}`);
    for (let o = 0; o + 16 <= s.data.length; o += 16) {
      const info = BigInt(rc.u64(o + 8));
      const sym = symbols[Number(info >> 32n)];
      if (!sym) throw new ObjectFormatError(`${s.name}: relocation against missing symbol ${info >> 32n}`);
      relocations.push({ section: target, offset: rc.u64(o), type: Number(info & 0xffffffffn), symbol: sym });
    }
  }

  const btfSec = byName.get(".BTF");
  const btf: BtfType[] = [];
  let btfStrings: Cursor | undefined;
  if (btfSec) {
    const b = new Cursor(btfSec.data, ".BTF");
    if (b.u16(0) !== 0xeb9f) throw new ObjectFormatError(".BTF has a bad magic number");
    const hdr = b.u32(4);
    const typeOff = hdr + b.u32(8);
    const typeLen = b.u32(12);
    const strOff = hdr + b.u32(16);
    const strLen = b.u32(20);
    btfStrings = new Cursor(b.slice(strOff, strLen), "the BTF string table");
    const s = btfStrings;
    let o = typeOff;
    for (let id = 1; o < typeOff + typeLen; id++) {
      const info = b.u32(o + 4);
      const kind = (info >>> 24) & 0x1f;
      const vlen = info & 0xffff;
      const t: BtfType = { id, kind: KINDS[kind] ?? `KIND${kind}`, name: s.cstr(b.u32(o)) };
      const sizeOrType = b.u32(o + 8);
      o += 12;
      switch (kind) {
        case 1: t.size = sizeOrType; t.encoding = b.u32(o) >>> 24; t.bits = b.u32(o) & 0xff; o += 4; break;
        case 3: t.elem = b.u32(o); t.count = b.u32(o + 8); o += 12; break;
        case 4: case 5: t.size = sizeOrType; t.members = [...Array(vlen)].map((_, k) => ({ name: s.cstr(b.u32(o + k * 12)), type: b.u32(o + k * 12 + 4), offset: b.u32(o + k * 12 + 8) / 8 })); o += vlen * 12; break;
        case 6: t.size = sizeOrType; t.values = [...Array(vlen)].map((_, k) => ({ name: s.cstr(b.u32(o + k * 8)), value: b.i32(o + k * 8 + 4) })); o += vlen * 8; break;
        case 12: t.type = sizeOrType; t.linkage = vlen; break;
        case 13: t.type = sizeOrType; t.params = [...Array(vlen)].map((_, k) => ({ name: s.cstr(b.u32(o + k * 8)), type: b.u32(o + k * 8 + 4) })); o += vlen * 8; break;
        case 14: t.type = sizeOrType; t.linkage = b.u32(o); o += 4; break;
        case 15: t.size = sizeOrType; t.vars = [...Array(vlen)].map((_, k) => ({ type: b.u32(o + k * 12), offset: b.u32(o + k * 12 + 4), size: b.u32(o + k * 12 + 8) })); o += vlen * 12; break;
        case 16: t.size = sizeOrType; break;
        case 17: t.type = sizeOrType; o += 4; break;
        case 19: t.size = sizeOrType; o += vlen * 12; break;
        default: t.type = sizeOrType;
      }
      btf.push(t);
    }
  }

  let btfExt: BtfExtInfo | undefined;
  const extSec = byName.get(".BTF.ext");
  if (extSec && btfStrings) {
    const e = new Cursor(extSec.data, ".BTF.ext");
    if (e.u16(0) !== 0xeb9f) throw new ObjectFormatError(".BTF.ext has a bad magic number");
    const hdr = e.u32(4);
    const s = btfStrings;
    const groups = (off: number, len: number, each: (sec: string, rec: number, size: number) => void) => {
      if (len === 0) return;
      const recSize = e.u32(off);
      let o = off + 4;
      while (o < off + len) {
        const sec = s.cstr(e.u32(o));
        const n = e.u32(o + 4);
        o += 8;
        for (let k = 0; k < n; k++, o += recSize) each(sec, o, recSize);
      }
    };
    btfExt = { funcs: [], lines: [] };
    const ext = btfExt;
    groups(hdr + e.u32(8), e.u32(12), (section, o) => ext.funcs.push({ section, offset: e.u32(o), typeId: e.u32(o + 4) }));
    groups(hdr + e.u32(16), e.u32(20), (section, o) => {
      const lc = e.u32(o + 12);
      ext.lines.push({ section, offset: e.u32(o), file: s.cstr(e.u32(o + 4)), text: s.cstr(e.u32(o + 8)), line: lc >>> 10, col: lc & 0x3ff });
    });
  }

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
      return decode(s.data);
    },
  };
}
