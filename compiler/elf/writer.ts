// The ELF writer: an ObjectModule to an ELF64 little-endian relocatable for EM_BPF, with the sections,
// symbols and relocations clang (-O2 -g -target bpf) emits for a C loop_step program (docs/OBJECT.md):
// code sections (`.text` for subprograms, `struct_ops.s/NAME` for programs) with `.rel` sections,
// `license`, `.rodata`/`.data`/`.bss`, `.struct_ops.link` with its relocations, `.BTF`, `.BTF.ext`,
// `.symtab` and one `.strtab` for symbol and section names. What libbpf 1.4 requires of each part:
// subprogram callees live in `.text`; global accesses are ld_imm64 relocated against the variable's
// OBJECT symbol (libbpf adds st_value to the instruction's imm, so imm is the offset inside the variable);
// extern kfuncs are UND GLOBAL symbols and extern FUNCs in `DATASEC .ksyms`; struct_ops members are
// R_BPF_64_ABS64 relocations against the program's FUNC symbol.

import { countSlots, isCall, isLdImm64 } from "../bpf/decode";
import { encode, slots, type Insn, type SourcePos } from "../bpf/insn";
import { BtfBuilder, Linkage } from "../btf/builder";
import { encodeBtfExt, lineRecords, type ExtSection } from "../btf/ext";
import { StringTable } from "../btf/strings";
import { mapDefSpec, type ObjectModule } from "../object/module";
import type { ElfSymbol } from "./reader";

/** Section header types used here. */
export const SHT = { NULL: 0, PROGBITS: 1, SYMTAB: 2, STRTAB: 3, NOBITS: 8, REL: 9 } as const;
/** Section header flags used here. */
export const SHF = { WRITE: 1, ALLOC: 2, EXECINSTR: 4, INFO_LINK: 0x40 } as const;
/** Symbol bindings. */
export const STB = { LOCAL: 0, GLOBAL: 1, WEAK: 2 } as const;
/** Symbol types. */
export const STT = { NOTYPE: 0, OBJECT: 1, FUNC: 2, SECTION: 3, FILE: 4 } as const;
/** Relocation types of the BPF ELF ABI. */
export const R_BPF = { R_BPF_64_64: 1, R_BPF_64_ABS64: 2, R_BPF_64_32: 10 } as const;
/** e_machine of BPF. */
export const EM_BPF = 247;
const SHN_ABS = 0xfff1;

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

type Rel = { offset: number; symbol: number; type: number };

function encodeRel(entries: Rel[]): Uint8Array {
  const b = Buffer.alloc(entries.length * 16);
  entries.forEach((e, k) => {
    b.writeBigUInt64LE(BigInt(e.offset), k * 16);
    b.writeBigUInt64LE((BigInt(e.symbol) << 32n) | BigInt(e.type), k * 16 + 8);
  });
  return b;
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;
const isCode = (name: string) => name === ".text" || /^struct_ops(\.s)?\//.test(name);

/** Write an object file. Throws an "internal:" Error for an inconsistent module (unknown relocation
 *  symbol, call of a function outside `.text`, duplicate names, overlapping globals). */
export function writeObject(mod: ObjectModule): Uint8Array {
  const sections: Section[] = [{ name: "", type: SHT.NULL, flags: 0, data: new Uint8Array(0), align: 0 }];
  const add = (s: Section) => sections.push(s) - 1;
  const strtab = add({ name: ".strtab", type: SHT.STRTAB, flags: 0, data: new Uint8Array(0), align: 1 });
  const names = new Set<string>();
  const maps = mod.maps ?? [];
  for (const n of [...mod.functions.map((f) => f.name), ...mod.globals.map((g) => g.name), ...mod.kfuncs.map((k) => k.name), ...mod.structOps.map((s) => s.varName), ...maps.map((m) => m.name), "LICENSE"]) {
    if (names.has(n)) throw new Error(`internal: two symbols named ${n}`);
    names.add(n);
  }

  // Code: .text (subprograms) first, then one section per program, in declaration order.
  const codeNames = [...new Set(mod.functions.map((f) => f.section))].sort((a, b) => Number(b === ".text") - Number(a === ".text"));
  const index = new Map<string, number>();
  const where = new Map<string, { offset: number; size: number }>();
  const codeInsns = new Map<string, Insn[]>();
  for (const name of codeNames) {
    if (!isCode(name)) throw new Error(`internal: ${name} is not a code section name`);
    const insns: Insn[] = [];
    let offset = 0;
    for (const f of mod.functions.filter((x) => x.section === name)) {
      if (f.insns.length === 0) throw new Error(`internal: function ${f.name} has no instructions`);
      const size = countSlots(f.insns) * 8;
      where.set(f.name, { offset, size });
      for (const i of f.insns) insns.push(i);
      offset += size;
    }
    codeInsns.set(name, insns);
    index.set(name, add({ name, type: SHT.PROGBITS, flags: SHF.ALLOC | SHF.EXECINSTR, data: encode(insns), align: 8 }));
  }
  const license = Buffer.from(mod.license + "\0", "utf8");
  index.set("license", add({ name: "license", type: SHT.PROGBITS, flags: SHF.ALLOC | SHF.WRITE, data: license, align: 1 }));
  const dataSize = new Map<string, number>();
  for (const name of [".rodata", ".data", ".bss"] as const) {
    const vars = mod.globals.filter((g) => g.section === name).sort((a, b) => a.offset - b.offset);
    if (!vars.length) continue;
    vars.forEach((g, k) => {
      if (k > 0 && g.offset < vars[k - 1].offset + vars[k - 1].size) throw new Error(`internal: ${g.name} overlaps ${vars[k - 1].name} in ${name}`);
      if (g.init && g.init.length !== g.size) throw new Error(`internal: ${g.name} has ${g.init.length} initial bytes for size ${g.size}`);
    });
    const size = vars.reduce((m, g) => Math.max(m, g.offset + g.size), 0);
    dataSize.set(name, size);
    const data = new Uint8Array(size);
    for (const g of vars) if (g.init) data.set(g.init, g.offset);
    const flags = name === ".rodata" ? SHF.ALLOC : SHF.ALLOC | SHF.WRITE;
    const nobits = name === ".bss";
    index.set(name, add({ name, type: nobits ? SHT.NOBITS : SHT.PROGBITS, flags, data: nobits ? new Uint8Array(0) : data, size, align: 8 }));
  }
  // .maps: one zeroed anonymous struct per map (libbpf reads the definition from BTF, not from the bytes).
  const mapOffsets = new Map<string, number>();
  let mapsSize = 0;
  for (const m of maps) {
    mapOffsets.set(m.name, mapsSize);
    mapsSize += mapDefSpec(m).size;
  }
  if (maps.length) index.set(".maps", add({ name: ".maps", type: SHT.PROGBITS, flags: SHF.ALLOC | SHF.WRITE, data: new Uint8Array(mapsSize), align: 8 }));
  const opsOffsets = new Map<string, number>();
  let opsSize = 0;
  for (const s of mod.structOps) {
    opsSize = align(opsSize, 8);
    opsOffsets.set(s.varName, opsSize);
    opsSize += s.type.size;
  }
  if (mod.structOps.length) index.set(".struct_ops.link", add({ name: ".struct_ops.link", type: SHT.PROGBITS, flags: SHF.ALLOC | SHF.WRITE, data: new Uint8Array(opsSize), align: 8 }));

  // Symbols: locals first (null, FILE, section symbols, static functions and variables), then globals.
  const sym = (name: string, bind: number, type: number, shndx: number, value = 0, size = 0): ElfSymbol => ({ name, bind, type, shndx, value, size });
  const locals: ElfSymbol[] = [sym("", STB.LOCAL, STT.NOTYPE, 0)];
  const globals: ElfSymbol[] = [];
  if (mod.sourceFile) locals.push(sym(mod.sourceFile.split("/").pop()!.replace(/\0/g, "\\0"), STB.LOCAL, STT.FILE, SHN_ABS));
  for (const [name, i] of index) if (name !== "license") locals.push(sym("", STB.LOCAL, STT.SECTION, i));
  for (const f of mod.functions) {
    const w = where.get(f.name)!;
    const bind = f.linkage === "global" ? STB.GLOBAL : STB.LOCAL;
    (bind === STB.GLOBAL ? globals : locals).push(sym(f.name, bind, STT.FUNC, index.get(f.section)!, w.offset, w.size));
  }
  for (const g of mod.globals) {
    const bind = g.linkage === "global" ? (g.weak ? STB.WEAK : STB.GLOBAL) : STB.LOCAL;
    (bind === STB.LOCAL ? locals : globals).push(sym(g.name, bind, STT.OBJECT, index.get(g.section)!, g.offset, g.size));
  }
  for (const m of maps) {
    const bind = m.linkage === "global" ? STB.GLOBAL : STB.LOCAL;
    (bind === STB.GLOBAL ? globals : locals).push(sym(m.name, bind, STT.OBJECT, index.get(".maps")!, mapOffsets.get(m.name)!, mapDefSpec(m).size));
  }
  globals.push(sym("LICENSE", STB.GLOBAL, STT.OBJECT, index.get("license")!, 0, license.length));
  for (const s of mod.structOps) globals.push(sym(s.varName, STB.GLOBAL, STT.OBJECT, index.get(".struct_ops.link")!, opsOffsets.get(s.varName)!, s.type.size));
  for (const k of mod.kfuncs) globals.push(sym(k.name, STB.GLOBAL, STT.NOTYPE, 0));
  const symbols = [...locals, ...globals];
  const symbolIndex = new Map(symbols.map((s, i) => [s.name, i] as const).filter(([n]) => n !== ""));
  const symbolOf = (name: string, what: string): number => {
    const i = symbolIndex.get(name);
    if (i === undefined) throw new Error(`internal: ${what} of unknown symbol ${name}`);
    return i;
  };
  const kfuncNames = new Set(mod.kfuncs.map((k) => k.name));
  const functionSection = new Map(mod.functions.map((f) => [f.name, f.section]));
  const globalNames = new Set([...mod.globals.map((g) => g.name), ...maps.map((m) => m.name)]);

  // Relocations: ld_imm64 of globals (R_BPF_64_64), calls of kfuncs and subprograms (R_BPF_64_32),
  // struct_ops function pointers (R_BPF_64_ABS64).
  for (const name of codeNames) {
    const entries: Rel[] = [];
    let slot = 0;
    for (const i of codeInsns.get(name)!) {
      if (i.reloc) {
        const { kind, symbol } = i.reloc;
        if (kind === "global") {
          if (!isLdImm64(i.opcode) || !globalNames.has(symbol)) throw new Error(`internal: global relocation of ${symbol} on a non-ld_imm64 or unknown global`);
          entries.push({ offset: slot * 8, symbol: symbolOf(symbol, "load"), type: R_BPF.R_BPF_64_64 });
        } else {
          if (!isCall(i.opcode)) throw new Error(`internal: call relocation of ${symbol} on a non-call instruction`);
          if (kind === "kfunc" && !kfuncNames.has(symbol)) throw new Error(`internal: call of undeclared kfunc ${symbol}`);
          if (kind === "call" && functionSection.get(symbol) !== ".text") throw new Error(`internal: call of ${symbol}, which is not a subprogram in .text`);
          entries.push({ offset: slot * 8, symbol: symbolOf(symbol, "call"), type: R_BPF.R_BPF_64_32 });
        }
      }
      slot += slots(i);
    }
    if (entries.length) add({ name: ".rel" + name, type: SHT.REL, flags: SHF.INFO_LINK, data: encodeRel(entries), link: "symtab", info: index.get(name)!, align: 8, entsize: 16 });
  }
  if (mod.structOps.length) {
    const entries: Rel[] = [];
    for (const s of mod.structOps)
      for (const f of s.funcs) {
        const member = s.type.members.find((m) => m.name === f.member);
        if (!member) throw new Error(`internal: ${s.type.name} has no member ${f.member}`);
        if (!functionSection.has(f.func)) throw new Error(`internal: struct_ops member ${f.member} names unknown function ${f.func}`);
        entries.push({ offset: opsOffsets.get(s.varName)! + member.offset, symbol: symbolOf(f.func, "struct_ops member"), type: R_BPF.R_BPF_64_ABS64 });
      }
    add({ name: ".rel.struct_ops.link", type: SHT.REL, flags: SHF.INFO_LINK, data: encodeRel(entries), link: "symtab", info: index.get(".struct_ops.link")!, align: 8, entsize: 16 });
  }

  // BTF: functions, kfuncs (extern, in DATASEC .ksyms), variables in a DATASEC per section with real
  // offsets and sizes, the license, the struct_ops variables.
  const btf = new BtfBuilder();
  const funcType = new Map<string, number>();
  for (const f of mod.functions) funcType.set(f.name, btf.addFunc(f.name, btf.addSpec(f.proto), f.linkage));
  const ksyms = mod.kfuncs.map((k) => ({ type: btf.addFunc(k.name, btf.addSpec(k.proto), Linkage.EXTERN), offset: 0, size: 0 }));
  for (const name of [".rodata", ".data", ".bss"]) {
    const vars = mod.globals.filter((g) => g.section === name).sort((a, b) => a.offset - b.offset);
    if (!vars.length) continue;
    btf.addDatasec(name, dataSize.get(name)!, vars.map((g) => ({ type: btf.addVar(g.name, btf.addSpec(g.type), g.linkage), offset: g.offset, size: g.size })));
  }
  const licenseType = btf.addSpec({ kind: "array", elem: { kind: "int", name: "char", size: 1, signed: true }, count: license.length });
  btf.addDatasec("license", license.length, [{ type: btf.addVar("LICENSE", licenseType, Linkage.GLOBAL), offset: 0, size: license.length }]);
  if (mod.structOps.length)
    btf.addDatasec(".struct_ops.link", opsSize, mod.structOps.map((s) => ({ type: btf.addVar(s.varName, btf.addSpec(s.type), Linkage.GLOBAL), offset: opsOffsets.get(s.varName)!, size: s.type.size })));
  if (ksyms.length) btf.addDatasec(".ksyms", 0, ksyms);
  if (maps.length)
    btf.addDatasec(".maps", mapsSize, maps.map((m) => ({ type: btf.addVar(m.name, btf.addSpec(mapDefSpec(m)), m.linkage === "global" ? Linkage.GLOBAL : Linkage.STATIC), offset: mapOffsets.get(m.name)!, size: mapDefSpec(m).size })));

  // BTF.ext: a func_info per function; line_info if any instruction has a position (then every function
  // gets a record at its start, as the kernel requires).
  const anyPos = mod.functions.some((f) => f.insns.some((i) => i.pos));
  const fallback: SourcePos | undefined = anyPos ? { file: mod.sourceFile, line: 0, col: 0, text: "" } : undefined;
  const ext: ExtSection[] = codeNames.map((name) => {
    const funcs = mod.functions.filter((f) => f.section === name);
    return {
      name,
      funcs: funcs.map((f) => ({ offset: where.get(f.name)!.offset, typeId: funcType.get(f.name)! })),
      lines: anyPos ? funcs.flatMap((f) => lineRecords(f.insns, where.get(f.name)!.offset, fallback)) : [],
    };
  });
  const btfExt = encodeBtfExt(ext, btf.strings); // adds its strings to the BTF string table: encode .BTF after
  add({ name: ".BTF", type: SHT.PROGBITS, flags: 0, data: btf.encode(), align: 4 });
  add({ name: ".BTF.ext", type: SHT.PROGBITS, flags: 0, data: btfExt, align: 4 });

  // .symtab and the one string table for symbol and section names.
  const strings = new StringTable();
  const symtab = Buffer.alloc(symbols.length * 24);
  symbols.forEach((s, i) => {
    const o = i * 24;
    symtab.writeUInt32LE(strings.add(s.name), o);
    symtab.writeUInt8((s.bind << 4) | s.type, o + 4);
    symtab.writeUInt16LE(s.shndx, o + 6);
    symtab.writeBigUInt64LE(BigInt(s.value), o + 8);
    symtab.writeBigUInt64LE(BigInt(s.size), o + 16);
  });
  const symtabIndex = add({ name: ".symtab", type: SHT.SYMTAB, flags: 0, data: symtab, link: strtab, info: locals.length, align: 8, entsize: 24 });
  const nameOffsets = sections.map((s) => strings.add(s.name));
  sections[strtab].data = strings.encode();
  return layout(sections, nameOffsets, strtab, symtabIndex);
}

/** Lay out the ELF header, the section contents (aligned) and the section header table. */
function layout(sections: Section[], nameOffsets: number[], shstrndx: number, symtabIndex: number): Uint8Array {
  const offsets: number[] = [];
  let offset = 64;
  for (const s of sections) {
    offset = align(offset, Math.max(1, s.align));
    offsets.push(offset);
    if (s.type !== SHT.NOBITS) offset += s.data.length;
  }
  const shoff = align(offset, 8);
  const out = Buffer.alloc(shoff + sections.length * 64);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2 /* ELFCLASS64 */, 1 /* little-endian */, 1 /* EV_CURRENT */, 0 /* SYSV */], 0);
  out.writeUInt16LE(1, 16); // ET_REL
  out.writeUInt16LE(EM_BPF, 18);
  out.writeUInt32LE(1, 20); // e_version
  out.writeBigUInt64LE(BigInt(shoff), 40);
  out.writeUInt16LE(64, 52); // e_ehsize
  out.writeUInt16LE(64, 58); // e_shentsize
  out.writeUInt16LE(sections.length, 60);
  out.writeUInt16LE(shstrndx, 62);
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
