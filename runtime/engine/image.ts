// An executable image of a BPF object for the userspace engine, built with the object reader from the
// ELF bytes alone (so it works for uringbpf's objects and clang's): each function's instructions with
// their relocations and TypeScript positions (from line_info), the globals with their sections, initial
// bytes and integer types, and the MEM-region layout from BTF.

import type { Insn } from "../../compiler/bpf/insn";
import { readObject, type BtfType, type ObjectFile } from "../../compiler/elf/reader";

export interface ImageGlobal {
  name: string;
  section: string;
  offset: number;
  size: number;
  /** BTF type id of the variable. */
  type: number;
}

export interface Image {
  obj: ObjectFile;
  /** struct_ops programs by name. */
  programs: Map<string, Insn[]>;
  /** .text functions by name. */
  subprograms: Map<string, Insn[]>;
  globals: ImageGlobal[];
  /** Initial bytes of each data section (zeros for .bss). */
  sections: Map<string, Uint8Array>;
  btf: Map<number, BtfType>;
  /** The struct type behind uringbpf_mem_layout, if the program maps the MEM region. */
  memLayout?: BtfType;
}

/** Follow typedefs and qualifiers to the underlying type. */
export function resolveType(btf: Map<number, BtfType>, id: number): BtfType | undefined {
  let t = btf.get(id);
  while (t && ["TYPEDEF", "CONST", "VOLATILE", "RESTRICT", "TYPE_TAG"].includes(t.kind)) t = btf.get(t.type!);
  return t;
}

/** Build the image. Throws ObjectFormatError for a malformed object. */
export function loadImage(bytes: Uint8Array): Image {
  const obj = readObject(bytes);
  const btf = new Map(obj.btf.map((t) => [t.id, t]));
  const programs = new Map<string, Insn[]>();
  const subprograms = new Map<string, Insn[]>();
  for (const sec of obj.sections.filter((s) => s.type === 1 && (s.flags & 4) !== 0)) {
    const insns = obj.insns(sec.name);
    // Slot offsets of instructions (ld_imm64 takes two slots).
    const bySlot = new Map<number, Insn>();
    let slot = 0;
    for (const i of insns) {
      bySlot.set(slot, i);
      slot += i.opcode === 0x18 ? 2 : 1;
    }
    for (const r of obj.relocations.filter((x) => x.section === sec.name)) {
      const insn = bySlot.get(r.offset / 8);
      if (!insn) continue;
      if (r.type === 1) {
        insn.reloc = { kind: "global", symbol: r.symbol.name };
        // Against a section symbol (clang's static variables): the offset is in the instruction's imm.
        if (r.symbol.type === 3) insn.reloc.symbol = `section:${obj.sections[r.symbol.shndx]?.name}`;
      } else if (r.type === 10) insn.reloc = { kind: r.symbol.shndx === 0 ? "kfunc" : "call", symbol: r.symbol.name };
    }
    const lines = (obj.btfExt?.lines ?? []).filter((l) => l.section === sec.name).sort((a, b) => a.offset - b.offset);
    let li = 0;
    slot = 0;
    let cur: (typeof lines)[number] | undefined;
    for (const i of insns) {
      while (li < lines.length && lines[li].offset <= slot * 8) cur = lines[li++];
      if (cur) i.pos = { file: cur.file, line: cur.line, col: cur.col, text: cur.text };
      slot += i.opcode === 0x18 ? 2 : 1;
    }
    for (const f of obj.symbols.filter((s) => s.type === 2 && s.shndx === sec.index)) {
      const start = [...bySlot.keys()].indexOf(f.value / 8);
      const end = [...bySlot.keys()].indexOf((f.value + f.size) / 8);
      const body = insns.slice(start, end < 0 ? insns.length : end);
      (sec.name === ".text" ? subprograms : programs).set(f.name, body);
    }
  }
  const sections = new Map<string, Uint8Array>();
  const globals: ImageGlobal[] = [];
  for (const ds of obj.btf.filter((t) => t.kind === "DATASEC" && /^\.(rodata|data|bss)/.test(t.name))) {
    const sec = obj.section(ds.name);
    if (!sec) continue;
    sections.set(ds.name, sec.type === 8 ? new Uint8Array(sec.size) : Uint8Array.from(sec.data));
    for (const v of ds.vars ?? []) {
      const vt = btf.get(v.type);
      if (vt?.kind === "VAR") globals.push({ name: vt.name, section: ds.name, offset: v.offset, size: v.size, type: vt.type! });
    }
  }
  const layoutVar = globals.find((g) => g.name === "uringbpf_mem_layout");
  const ptr = layoutVar ? resolveType(btf, layoutVar.type) : undefined;
  const memLayout = ptr?.kind === "PTR" ? resolveType(btf, ptr.type!) : undefined;
  return { obj, programs, subprograms, globals, sections, btf, memLayout: memLayout?.kind === "STRUCT" ? memLayout : undefined };
}

/** Size of a BTF type in bytes. */
export function typeSize(btf: Map<number, BtfType>, id: number): number {
  const t = resolveType(btf, id);
  if (!t) return 0;
  if (t.kind === "ARRAY") return (t.count ?? 0) * typeSize(btf, t.elem!);
  if (t.kind === "PTR") return 8;
  return t.size ?? 0;
}

/** Decode a value of BTF type `id` at `bytes[off]` into plain JSON data (ints as bigint). */
export function decodeValue(btf: Map<number, BtfType>, id: number, bytes: Uint8Array, off: number): unknown {
  const t = resolveType(btf, id);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!t) return null;
  if (t.kind === "INT" || t.kind === "ENUM" || t.kind === "PTR") {
    const size = t.kind === "PTR" ? 8 : t.size!;
    // A (hostile) BTF size or offset past the bytes: no value to show.
    if (!(off >= 0 && size >= 0 && size <= 16 && off + size <= bytes.length)) return null;
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(dv.getUint8(off + i));
    if (t.kind === "INT" && t.encoding === 4) return v !== 0n;
    return t.kind === "INT" && t.encoding === 1 ? BigInt.asIntN(size * 8, v) : v;
  }
  if (t.kind === "STRUCT") return Object.fromEntries((t.members ?? []).map((m) => [m.name, decodeValue(btf, m.type, bytes, off + m.offset)]));
  if (t.kind === "ARRAY") {
    const es = typeSize(btf, t.elem!);
    return [...Array(t.count ?? 0)].map((_, i) => decodeValue(btf, t.elem!, bytes, off + i * es));
  }
  return null;
}
