// An executable image of a BPF object for the userspace engine, built with the one object reader
// (compiler/elf/reader.ts) from the ELF bytes alone, the way libbpf reads them, so it works for uringbpf's
// objects and clang's alike:
// - data: every allocated, non-executable section (.rodata, .data, .bss, .rodata.str1.1, .data.NAME, ...)
//   is a region with its initial bytes; each global's offset and size come from the symbol table (clang
//   leaves them 0 in the BTF DATASEC; libbpf fills them in the same way), its type from the DATASEC's VAR;
// - code: every function (FUNC symbol) of every executable section, with its relocations resolved:
//   R_BPF_64_64 on an ld_imm64 against a variable or a section symbol (the address is symbol value + imm),
//   R_BPF_64_32 on a call against an extern kfunc, a FUNC symbol or a section symbol (the target is
//   value / 8 + imm + 1, libbpf's rule), and calls inside a section without a relocation;
// - the struct_ops maps (.struct_ops.link / .struct_ops: R_BPF_64_ABS64 from a member to a program);
// - TypeScript (or C) positions of each instruction from line_info.
// An object that lacks what the engine's contract needs gets an ImageError naming what is missing.

import { insnSlots, isCall, isLdImm64, PSEUDO_CALL, PSEUDO_KFUNC_CALL } from "../../compiler/bpf/decode";
import type { Insn } from "../../compiler/bpf/insn";
import { ObjectFormatError, readObject, type BtfType, type ElfSection, type ElfSymbol, type ObjectFile } from "../../compiler/elf/reader";
import { GEOMETRY } from "../../compiler/contract/geometry";

/** The object does not satisfy the contract of docs/OBJECT.md (what is missing is in the message): a bad
 *  object, like the reader's ObjectFormatError. */
export class ImageError extends ObjectFormatError {
  constructor(message: string) {
    super(message);
    this.name = "ImageError";
  }
}

export interface ImageGlobal {
  name: string;
  section: string;
  offset: number;
  size: number;
  /** BTF type id of the variable (0 when the object has no BTF VAR for it). */
  type: number;
}

/** One function of the image: a program or a subprogram. */
export interface ImageFunction {
  name: string;
  section: string;
  insns: Insn[];
}

export interface Image {
  obj: ObjectFile;
  /** struct_ops programs by name (functions of executable sections other than .text). */
  programs: Map<string, Insn[]>;
  /** Every function by name (programs and .text subprograms): BPF-to-BPF call targets. */
  subprograms: Map<string, Insn[]>;
  globals: ImageGlobal[];
  /** Initial bytes of each data section (zeros for .bss). */
  sections: Map<string, Uint8Array>;
  /** Data symbols (variables and section symbols) by the name relocations use: section and offset. */
  symbols: Map<string, { section: string; offset: number }>;
  /** struct_ops variables (NAME_ops): the program their loop_step points at. */
  structOps: { name: string; section: string; program?: string }[];
  btf: Map<number, BtfType>;
  /** The struct type behind uringbpf_mem_layout, if the program maps the MEM region. */
  memLayout?: BtfType;
}

/** Follow typedefs and qualifiers to the underlying type. */
export function resolveType(btf: Map<number, BtfType>, id: number): BtfType | undefined {
  let t = btf.get(id);
  // At most 32 qualifiers and typedefs (a hostile object may make them a cycle: no type then).
  for (let n = 0; t && ["TYPEDEF", "CONST", "VOLATILE", "RESTRICT", "TYPE_TAG"].includes(t.kind); n++) t = n < 32 ? btf.get(t.type!) : undefined;
  return t;
}

const SHT_PROGBITS = 1;
const SHT_NOBITS = 8;
const SHF_ALLOC = 2;
const SHF_EXECINSTR = 4;
const STT_OBJECT = 1;
const STT_FUNC = 2;
const STT_SECTION = 3;
const R_BPF_64_64 = 1;
const R_BPF_64_ABS64 = 2;
const R_BPF_64_32 = 10;

/** The name a relocation against `sym` resolves by (section symbols have no name of their own). */
function symbolKey(obj: ObjectFile, sym: ElfSymbol): string {
  return sym.type === STT_SECTION ? `section:${obj.sections[sym.shndx]?.name}` : sym.name;
}

function isDataSection(s: ElfSection): boolean {
  if (!(s.type === SHT_PROGBITS || s.type === SHT_NOBITS) || !(s.flags & SHF_ALLOC) || s.flags & SHF_EXECINSTR) return false;
  return /^\.(rodata|data|bss)(\.|$)/.test(s.name);
}

function isStructOpsSection(name: string): boolean {
  return name === ".struct_ops" || name === ".struct_ops.link";
}

/** The largest data section the engine maps (an object asking for more is refused, not allocated). */
export const MAX_SECTION_BYTES = 64 << 20;

/** Build the image. Throws ObjectFormatError for a malformed object, ImageError for one the engine cannot run. */
export function loadImage(bytes: Uint8Array): Image {
  const obj = readObject(bytes);
  const btf = new Map(obj.btf.map((t) => [t.id, t]));

  // --- data sections and their symbols ---
  const sections = new Map<string, Uint8Array>();
  const symbols = new Map<string, { section: string; offset: number }>();
  for (const sec of obj.sections.filter(isDataSection)) {
    if (sec.size > MAX_SECTION_BYTES) throw new ImageError(`section ${sec.name} is ${sec.size} bytes (the engine maps at most ${MAX_SECTION_BYTES})`);
    sections.set(sec.name, sec.type === SHT_NOBITS ? new Uint8Array(sec.size) : Uint8Array.from(sec.data));
    symbols.set(`section:${sec.name}`, { section: sec.name, offset: 0 });
  }
  const dataSymbols = new Map<string, ElfSymbol>();
  for (const s of obj.symbols) {
    const sec = obj.sections[s.shndx];
    if (!sec || !sections.has(sec.name) || s.type === STT_SECTION || !s.name) continue;
    if (s.value + s.size > sec.size) throw new ImageError(`symbol ${s.name} (offset ${s.value}, ${s.size} bytes) lies outside ${sec.name} (${sec.size} bytes)`);
    symbols.set(s.name, { section: sec.name, offset: s.value });
    if (s.type === STT_OBJECT || s.type === 0) dataSymbols.set(`${sec.name}\0${s.name}`, s);
  }
  // Globals: each VAR of a DATASEC, at the offset and size of its symbol (libbpf's fix-up).
  const globals: ImageGlobal[] = [];
  const seen = new Set<string>();
  for (const ds of obj.btf.filter((t) => t.kind === "DATASEC" && sections.has(t.name))) {
    for (const v of ds.vars ?? []) {
      const vt = btf.get(v.type);
      if (vt?.kind !== "VAR") continue;
      const sym = dataSymbols.get(`${ds.name}\0${vt.name}`);
      const offset = sym ? sym.value : v.offset;
      const size = sym && sym.size ? sym.size : v.size || typeSize(btf, vt.type!);
      if (offset + size > sections.get(ds.name)!.length) throw new ImageError(`global ${vt.name} (offset ${offset}, ${size} bytes) lies outside ${ds.name}`);
      globals.push({ name: vt.name, section: ds.name, offset, size, type: vt.type! });
      seen.add(vt.name);
    }
  }
  // Variables with a symbol but no BTF (an object built without -g): raw bytes, shown as unsigned integers.
  for (const [, s] of dataSymbols) {
    if (seen.has(s.name) || s.size === 0 || s.size > 8 || s.name.startsWith(".")) continue;
    globals.push({ name: s.name, section: obj.sections[s.shndx].name, offset: s.value, size: s.size, type: 0 });
  }

  // --- code ---
  const programs = new Map<string, Insn[]>();
  const subprograms = new Map<string, Insn[]>();
  const codeSecs = obj.sections.filter((s) => s.type === SHT_PROGBITS && s.flags & SHF_EXECINSTR);
  // Instruction slot -> function name, per section, for call targets given by a section symbol.
  const funcAt = new Map<string, Map<number, string>>();
  for (const sec of codeSecs) {
    const m = new Map<number, string>();
    for (const f of obj.symbols.filter((s) => s.type === STT_FUNC && s.shndx === sec.index)) m.set(f.value / 8, f.name);
    funcAt.set(sec.name, m);
  }
  for (const sec of codeSecs) {
    const insns = obj.insns(sec.name);
    // Slot offsets of instructions (ld_imm64 takes two slots).
    const bySlot = new Map<number, Insn>();
    const slotOf = new Map<Insn, number>();
    let slot = 0;
    for (const i of insns) {
      bySlot.set(slot, i);
      slotOf.set(i, slot);
      slot += insnSlots(i.opcode);
    }
    const where = (off: number) => `${sec.name}+${off}`;
    for (const r of obj.relocations.filter((x) => x.section === sec.name)) {
      const insn = bySlot.get(r.offset / 8);
      if (!insn || r.offset % 8 !== 0) throw new ImageError(`relocation at ${where(r.offset)} is not at the start of an instruction`);
      if (r.type === R_BPF_64_64) {
        if (!isLdImm64(insn.opcode)) throw new ImageError(`R_BPF_64_64 relocation at ${where(r.offset)} is not on an ld_imm64`);
        if (r.symbol.type === STT_FUNC || (r.symbol.type === STT_SECTION && funcAt.has(obj.sections[r.symbol.shndx]?.name))) {
          throw new ImageError(`${where(r.offset)}: the address of a function (a callback, as bpf_loop takes) is not supported by the userspace engine`);
        }
        const key = symbolKey(obj, r.symbol);
        if (r.symbol.shndx === 0) throw new ImageError(`${where(r.offset)}: ld_imm64 of the extern symbol '${r.symbol.name}' (ksym or kconfig variables are not supported by the userspace engine)`);
        insn.reloc = { kind: "global", symbol: key };
        // The addend is the instruction's imm (libbpf: symbol value + insn[0].imm).
        insn.imm64 = BigInt(insn.imm);
      } else if (r.type === R_BPF_64_32) {
        if (!isCall(insn.opcode)) throw new ImageError(`R_BPF_64_32 relocation at ${where(r.offset)} is not on a call`);
        if (r.symbol.shndx === 0) {
          // An extern: a kfunc call, which libbpf marks BPF_PSEUDO_KFUNC_CALL (clang writes src 1).
          insn.reloc = { kind: "kfunc", symbol: r.symbol.name };
          insn.src = PSEUDO_KFUNC_CALL;
        } else {
          const tsec = obj.sections[r.symbol.shndx]?.name;
          const target = funcAt.get(tsec)?.get(r.symbol.value / 8 + insn.imm + 1);
          if (!target) throw new ImageError(`${where(r.offset)}: call into ${tsec} at instruction ${r.symbol.value / 8 + insn.imm + 1}, where no function starts`);
          insn.reloc = { kind: "call", symbol: target };
        }
      } else {
        throw new ImageError(`relocation type ${r.type} at ${where(r.offset)} is not one clang emits in code (R_BPF_64_64, R_BPF_64_32)`);
      }
    }
    // A BPF-to-BPF call within the section without a relocation: imm is relative to the next instruction.
    for (const i of insns) {
      if (isCall(i.opcode) && i.src === PSEUDO_CALL && !i.reloc) {
        const t = slotOf.get(i)! + 1 + i.imm;
        const target = funcAt.get(sec.name)!.get(t);
        if (!target) throw new ImageError(`${sec.name}: call at instruction ${slotOf.get(i)} to instruction ${t}, where no function starts`);
        i.reloc = { kind: "call", symbol: target };
      }
    }
    const lines = (obj.btfExt?.lines ?? []).filter((l) => l.section === sec.name).sort((a, b) => a.offset - b.offset);
    let li = 0;
    let cur: (typeof lines)[number] | undefined;
    for (const i of insns) {
      while (li < lines.length && lines[li].offset <= slotOf.get(i)! * 8) cur = lines[li++];
      if (cur) i.pos = { file: cur.file, line: cur.line, col: cur.col, text: cur.text };
    }
    const starts = [...bySlot.keys()];
    for (const f of obj.symbols.filter((s) => s.type === STT_FUNC && s.shndx === sec.index)) {
      const start = starts.indexOf(f.value / 8);
      if (start < 0) throw new ImageError(`function ${f.name} starts inside an instruction of ${sec.name}`);
      const endSlot = f.size ? (f.value + f.size) / 8 : Infinity;
      let end = start;
      while (end < insns.length && slotOf.get(insns[end])! < endSlot && (end === start || !funcAt.get(sec.name)!.has(slotOf.get(insns[end])!))) end++;
      const body = insns.slice(start, end);
      if (subprograms.has(f.name)) throw new ImageError(`two functions named ${f.name}`);
      subprograms.set(f.name, body);
      if (sec.name !== ".text") programs.set(f.name, body);
    }
  }

  // --- struct_ops maps ---
  const structOps: Image["structOps"] = [];
  for (const s of obj.symbols) {
    const sec = obj.sections[s.shndx];
    if (!sec || !isStructOpsSection(sec.name) || s.type !== STT_OBJECT) continue;
    const rel = obj.relocations.find((r) => r.section === sec.name && r.type === R_BPF_64_ABS64 && r.offset === s.value && r.symbol.type === STT_FUNC);
    structOps.push({ name: s.name, section: sec.name, program: rel?.symbol.name });
  }

  const layoutVar = globals.find((g) => g.name === "uringbpf_mem_layout");
  const ptr = layoutVar ? resolveType(btf, layoutVar.type) : undefined;
  const memLayout = ptr?.kind === "PTR" ? resolveType(btf, ptr.type!) : undefined;
  return { obj, programs, subprograms, globals, sections, symbols, structOps, btf, memLayout: memLayout?.kind === "STRUCT" ? memLayout : undefined };
}

/**
 * Check that the image has what running `progName` needs (docs/OBJECT.md): a struct_ops map whose loop_step
 * is the program, and the ring-geometry globals it defines in .rodata with their sizes. Returns the
 * program's instructions; throws ImageError naming what is missing.
 */
export function checkRunnable(img: Image, progName?: string): { name: string; insns: Insn[] } {
  const names = [...img.programs.keys()];
  if (names.length === 0) throw new ImageError("the object has no struct_ops program (a function in a section named struct_ops.s/NAME)");
  const name = progName ?? (img.structOps.find((o) => o.program)?.program ?? names[0]);
  const insns = img.programs.get(name);
  if (!insns) throw new ImageError(`no program named '${name}' (programs: ${names.join(", ")})`);
  if (!img.structOps.some((o) => o.program === name)) {
    const have = img.structOps.map((o) => o.name).join(", ");
    throw new ImageError(`no struct_ops map points at ${name}: the object needs a struct io_uring_bpf_ops variable in section .struct_ops.link whose loop_step is ${name}${have ? ` (struct_ops variables: ${have})` : ""}`);
  }
  for (const g of img.globals) {
    const want = GEOMETRY.find((x) => x.name === g.name);
    if (!want) continue;
    if (!g.section.startsWith(".rodata") && want.section === ".rodata") throw new ImageError(`the ring-geometry global ${g.name} must be in .rodata (const volatile), not ${g.section}`);
    if (g.size !== want.size) throw new ImageError(`the ring-geometry global ${g.name} must be ${want.size} bytes, not ${g.size}`);
  }
  return { name, insns };
}

/** Size of a BTF type in bytes. */
export function typeSize(btf: Map<number, BtfType>, id: number, depth = 0): number {
  const t = resolveType(btf, id);
  if (!t || depth > 32) return 0;
  if (t.kind === "ARRAY") return (t.count ?? 0) * typeSize(btf, t.elem!, depth + 1);
  if (t.kind === "PTR") return 8;
  return t.size ?? 0;
}

/** Decode a value of BTF type `id` at `bytes[off]` into plain JSON data (ints as bigint). Type 0: an
 *  unsigned integer of `rawSize` bytes. */
export function decodeValue(btf: Map<number, BtfType>, id: number, bytes: Uint8Array, off: number, rawSize = 0, depth = 0): unknown {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const int = (size: number) => {
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(dv.getUint8(off + i));
    return v;
  };
  if (id === 0) return rawSize > 0 && rawSize <= 8 && off >= 0 && off + rawSize <= bytes.length ? int(rawSize) : null;
  const t = resolveType(btf, id);
  if (!t || depth > 32) return null;
  if (t.kind === "INT" || t.kind === "ENUM" || t.kind === "ENUM64" || t.kind === "PTR") {
    const size = t.kind === "PTR" ? 8 : t.size!;
    // A (hostile) BTF size or offset past the bytes: no value to show.
    if (!(off >= 0 && size >= 0 && size <= 16 && off + size <= bytes.length)) return null;
    const v = int(size);
    if (t.kind === "INT" && t.encoding === 4) return v !== 0n;
    const signed = (t.kind === "INT" && t.encoding === 1) || ((t.kind === "ENUM" || t.kind === "ENUM64") && t.kindFlag);
    return signed ? BigInt.asIntN(size * 8, v) : v;
  }
  if (t.kind === "STRUCT" || t.kind === "UNION") return Object.fromEntries((t.members ?? []).map((m) => [m.name, decodeValue(btf, m.type, bytes, off + m.offset, 0, depth + 1)]));
  if (t.kind === "ARRAY") {
    const es = typeSize(btf, t.elem!);
    const count = t.count ?? 0;
    // Nothing to show for an array past the bytes or of elements without a size (hostile BTF).
    if (es <= 0 || off < 0 || count * es > bytes.length - off) return null;
    return [...Array(count)].map((_, i) => decodeValue(btf, t.elem!, bytes, off + i * es, 0, depth + 1));
  }
  return null;
}

/** A hint for a run that never stopped: an object without the ring-geometry globals sees a ring of size 0. */
export function geometryHint(img: Image): string | undefined {
  const have = new Set(img.globals.map((g) => g.name));
  const ring = GEOMETRY.filter((g) => g.ring);
  if (ring.some((g) => have.has(g.name))) return undefined;
  return `the object defines none of the ring-geometry globals of docs/OBJECT.md (${ring.map((g) => g.name).join(", ")}): a program that reads the ring's sizes and offsets from globals of other names sees zeros`;
}
