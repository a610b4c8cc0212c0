// The ELF writer: an ObjectModule to an ELF64 little-endian relocatable for EM_BPF, with the sections,
// symbols and relocations clang emits for a C loop_step program (see docs/OBJECT.md): code sections with
// .rel sections, license, .rodata/.data/.bss, .struct_ops.link, .BTF, .BTF.ext, .symtab and .strtab.

import { encode, slots, type Insn } from "../bpf/insn";
import { BtfBuilder, Linkage, StringTable } from "../btf/builder";
import { encodeBtfExt, lineRecords, type ExtSection } from "../btf/ext";
import type { ObjectModule } from "../object/module";
import type { ElfSymbol } from "./reader";

const SHT = { PROGBITS: 1, SYMTAB: 2, STRTAB: 3, NOBITS: 8, REL: 9 } as const;
const SHF = { WRITE: 1, ALLOC: 2, EXECINSTR: 4, INFO_LINK: 0x40 } as const;
const STB = { LOCAL: 0, GLOBAL: 1 } as const;
const STT = { NOTYPE: 0, OBJECT: 1, FUNC: 2 } as const;
/** Relocation types of the BPF ELF ABI. */
export const R_BPF = { R_BPF_64_64: 1, R_BPF_64_ABS64: 2, R_BPF_64_32: 10 } as const;
const EM_BPF = 247;

interface Section {
  name: string;
  type: number;
  flags: number;
  data: Uint8Array;
  /** For NOBITS: the size. */
  size?: number;
  link?: number | "symtab";
  info?: number;
  align: number;
  entsize?: number;
}

type Symbol = ElfSymbol;

/** Write an object file. */
export function writeObject(mod: ObjectModule): Uint8Array {
  const sections: Section[] = [{ name: "", type: 0, flags: 0, data: new Uint8Array(0), align: 0 }];
  const add = (s: Section) => sections.push(s) - 1;
  const strtab = add({ name: ".strtab", type: SHT.STRTAB, flags: 0, data: new Uint8Array(0), align: 1 });

  // Code: .text (subprograms) first, then one section per program, in declaration order.
  const codeNames = [...new Set(mod.functions.map((f) => f.section))].sort((a, b) => Number(b === ".text") - Number(a === ".text"));
  const index = new Map<string, number>();
  const where = new Map<string, { offset: number; size: number }>();
  const codeInsns = new Map<string, Insn[]>();
  for (const name of codeNames) {
    const insns: Insn[] = [];
    let offset = 0;
    for (const f of mod.functions.filter((x) => x.section === name)) {
      const size = f.insns.reduce((n, i) => n + slots(i), 0) * 8;
      where.set(f.name, { offset, size });
      insns.push(...f.insns);
      offset += size;
    }
    codeInsns.set(name, insns);
    index.set(name, add({ name, type: SHT.PROGBITS, flags: SHF.ALLOC | SHF.EXECINSTR, data: encode(insns), align: 8 }));
  }
  const license = Buffer.from(mod.license + "\0", "utf8");
  index.set("license", add({ name: "license", type: SHT.PROGBITS, flags: SHF.ALLOC | SHF.WRITE, data: license, align: 1 }));
  const dataSize = new Map<string, number>();
  for (const name of [".rodata", ".data", ".bss"] as const) {
    const vars = mod.globals.filter((g) => g.section === name);
    if (!vars.length) continue;
    const size = Math.max(...vars.map((g) => g.offset + g.size));
    dataSize.set(name, size);
    const data = new Uint8Array(size);
    for (const g of vars) if (g.init) data.set(g.init, g.offset);
    const flags = name === ".rodata" ? SHF.ALLOC : SHF.ALLOC | SHF.WRITE;
    index.set(name, add({ name, type: name === ".bss" ? SHT.NOBITS : SHT.PROGBITS, flags, data: name === ".bss" ? new Uint8Array(0) : data, size, align: 8 }));
  }
  const opsSize = mod.structOps.reduce((n, s) => n + s.type.size, 0);
  if (mod.structOps.length) index.set(".struct_ops.link", add({ name: ".struct_ops.link", type: SHT.PROGBITS, flags: SHF.ALLOC | SHF.WRITE, data: new Uint8Array(opsSize), align: 8 }));

  // Symbols: locals first (the null symbol, static functions and variables), then globals.
  const locals: Symbol[] = [{ name: "", bind: STB.LOCAL, type: STT.NOTYPE, shndx: 0, value: 0, size: 0 }];
  const globals: Symbol[] = [];
  for (const f of mod.functions) {
    const w = where.get(f.name)!;
    (f.linkage === "global" ? globals : locals).push({ name: f.name, bind: f.linkage === "global" ? STB.GLOBAL : STB.LOCAL, type: STT.FUNC, shndx: index.get(f.section)!, value: w.offset, size: w.size });
  }
  for (const g of mod.globals)
    (g.linkage === "global" ? globals : locals).push({ name: g.name, bind: g.linkage === "global" ? STB.GLOBAL : STB.LOCAL, type: STT.OBJECT, shndx: index.get(g.section)!, value: g.offset, size: g.size });
  globals.push({ name: "LICENSE", bind: STB.GLOBAL, type: STT.OBJECT, shndx: index.get("license")!, value: 0, size: license.length });
  let opsOffset = 0;
  const opsOffsets = new Map<string, number>();
  for (const s of mod.structOps) {
    opsOffsets.set(s.varName, opsOffset);
    globals.push({ name: s.varName, bind: STB.GLOBAL, type: STT.OBJECT, shndx: index.get(".struct_ops.link")!, value: opsOffset, size: s.type.size });
    opsOffset += s.type.size;
  }
  for (const k of mod.kfuncs) globals.push({ name: k.name, bind: STB.GLOBAL, type: STT.NOTYPE, shndx: 0, value: 0, size: 0 });
  const symbols = [...locals, ...globals];
  const symbolIndex = new Map(symbols.map((s, i) => [s.name, i]));
  const symbolOf = (name: string): number => {
    const i = symbolIndex.get(name);
    if (i === undefined) throw new Error(`internal: relocation against unknown symbol ${name}`);
    return i;
  };

  // Relocations: ld_imm64 of globals (R_BPF_64_64), calls of kfuncs and subprograms (R_BPF_64_32),
  // struct_ops function pointers (R_BPF_64_ABS64).
  const rel = (entries: [number, number, number][]) => {
    const b = Buffer.alloc(entries.length * 16);
    entries.forEach(([offset, sym, type], k) => {
      b.writeBigUInt64LE(BigInt(offset), k * 16);
      b.writeBigUInt64LE((BigInt(sym) << 32n) | BigInt(type), k * 16 + 8);
    });
    return b;
  };
  for (const name of codeNames) {
    const entries: [number, number, number][] = [];
    let slot = 0;
    for (const i of codeInsns.get(name)!) {
      if (i.reloc) entries.push([slot * 8, symbolOf(i.reloc.symbol), i.reloc.kind === "global" ? R_BPF.R_BPF_64_64 : R_BPF.R_BPF_64_32]);
      slot += slots(i);
    }
    if (entries.length) add({ name: ".rel" + name, type: SHT.REL, flags: SHF.INFO_LINK, data: rel(entries), link: "symtab", info: index.get(name)!, align: 8, entsize: 16 });
  }
  if (mod.structOps.length) {
    const entries: [number, number, number][] = [];
    for (const s of mod.structOps)
      for (const f of s.funcs) {
        const member = s.type.members.find((m) => m.name === f.member);
        if (!member) throw new Error(`internal: ${s.type.name} has no member ${f.member}`);
        entries.push([opsOffsets.get(s.varName)! + member.offset, symbolOf(f.func), R_BPF.R_BPF_64_ABS64]);
      }
    add({ name: ".rel.struct_ops.link", type: SHT.REL, flags: SHF.INFO_LINK, data: rel(entries), link: "symtab", info: index.get(".struct_ops.link")!, align: 8, entsize: 16 });
  }

  // BTF: functions, kfuncs (extern, in DATASEC .ksyms), variables in a DATASEC per section with real
  // offsets and sizes, the license, the struct_ops variables.
  const btf = new BtfBuilder();
  const funcType = new Map<string, number>();
  for (const f of mod.functions) funcType.set(f.name, btf.addFunc(f.name, btf.addSpec(f.proto), f.linkage === "global" ? Linkage.GLOBAL : Linkage.STATIC));
  const ksyms = mod.kfuncs.map((k) => ({ type: btf.addFunc(k.name, btf.addSpec(k.proto), Linkage.EXTERN), offset: 0, size: 0 }));
  for (const name of [".rodata", ".data", ".bss"]) {
    const vars = mod.globals.filter((g) => g.section === name);
    if (!vars.length) continue;
    btf.addDatasec(name, dataSize.get(name)!, vars.map((g) => ({ type: btf.addVar(g.name, btf.addSpec(g.type), g.linkage === "global" ? Linkage.GLOBAL : Linkage.STATIC), offset: g.offset, size: g.size })));
  }
  const licenseType = btf.addSpec({ kind: "array", elem: { kind: "int", name: "char", size: 1, signed: true, char: true }, count: license.length });
  btf.addDatasec("license", license.length, [{ type: btf.addVar("LICENSE", licenseType, Linkage.GLOBAL), offset: 0, size: license.length }]);
  if (mod.structOps.length)
    btf.addDatasec(".struct_ops.link", opsSize, mod.structOps.map((s) => ({ type: btf.addVar(s.varName, btf.addSpec(s.type), Linkage.GLOBAL), offset: opsOffsets.get(s.varName)!, size: s.type.size })));
  if (ksyms.length) btf.addDatasec(".ksyms", 0, ksyms);
  const ext: ExtSection[] = codeNames.map((name) => {
    const funcs = mod.functions.filter((f) => f.section === name);
    return {
      name,
      funcs: funcs.map((f) => ({ offset: where.get(f.name)!.offset, typeId: funcType.get(f.name)! })),
      lines: funcs.flatMap((f) => lineRecords(f.insns, where.get(f.name)!.offset)),
    };
  });
  const btfExt = encodeBtfExt(ext, btf.strings);
  add({ name: ".BTF", type: SHT.PROGBITS, flags: 0, data: btf.encode(), align: 4 });
  add({ name: ".BTF.ext", type: SHT.PROGBITS, flags: 0, data: btfExt, align: 4 });

  // .symtab and the shared string table (section and symbol names).
  const names = new StringTable();
  const symtab = Buffer.alloc(symbols.length * 24);
  symbols.forEach((s, i) => {
    const o = i * 24;
    symtab.writeUInt32LE(names.add(s.name), o);
    symtab.writeUInt8((s.bind << 4) | s.type, o + 4);
    symtab.writeUInt16LE(s.shndx, o + 6);
    symtab.writeBigUInt64LE(BigInt(s.value), o + 8);
    symtab.writeBigUInt64LE(BigInt(s.size), o + 16);
  });
  const symtabIndex = add({ name: ".symtab", type: SHT.SYMTAB, flags: 0, data: symtab, link: strtab, info: locals.length, align: 8, entsize: 24 });
  const nameOffsets = sections.map((s) => names.add(s.name));
  sections[strtab].data = names.encode();

  // Layout: the ELF header, section contents (aligned), then the section header table.
  const offsets: number[] = [];
  let offset = 64;
  for (const s of sections) {
    const align = Math.max(1, s.align);
    offset = Math.ceil(offset / align) * align;
    offsets.push(offset);
    if (s.type !== SHT.NOBITS) offset += s.data.length;
  }
  const shoff = Math.ceil(offset / 8) * 8;
  const out = Buffer.alloc(shoff + sections.length * 64);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2 /* 64-bit */, 1 /* little-endian */, 1 /* version */, 0 /* SYSV */], 0);
  out.writeUInt16LE(1, 16); // ET_REL
  out.writeUInt16LE(EM_BPF, 18);
  out.writeUInt32LE(1, 20);
  out.writeBigUInt64LE(BigInt(shoff), 40);
  out.writeUInt16LE(64, 52); // e_ehsize
  out.writeUInt16LE(64, 58); // e_shentsize
  out.writeUInt16LE(sections.length, 60);
  out.writeUInt16LE(strtab, 62); // e_shstrndx
  sections.forEach((s, i) => {
    if (s.type !== SHT.NOBITS) out.set(s.data, offsets[i]);
    const h = shoff + i * 64;
    out.writeUInt32LE(nameOffsets[i], h);
    out.writeUInt32LE(s.type, h + 4);
    out.writeBigUInt64LE(BigInt(s.flags), h + 8);
    out.writeBigUInt64LE(BigInt(i === 0 ? 0 : offsets[i]), h + 24);
    out.writeBigUInt64LE(BigInt(s.type === SHT.NOBITS ? (s.size ?? 0) : s.data.length), h + 32);
    out.writeUInt32LE(s.link === "symtab" ? symtabIndex : (s.link ?? 0), h + 40);
    out.writeUInt32LE(s.info ?? 0, h + 44);
    out.writeBigUInt64LE(BigInt(s.align), h + 48);
    out.writeBigUInt64LE(BigInt(s.entsize ?? 0), h + 56);
  });
  return out;
}
