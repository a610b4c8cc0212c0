// The IR-level description of a compiled file: its functions (programs and @noinline subprograms), the
// scalar types the IR's data has, the global variables and string constants with their sections, and the
// MEM region's layout. `layoutData` places every datum in its section, in one place; the linker reads
// offsets from here and never from the front end.

import type { IrFunction } from "./ir";

export type IntName = "u8" | "u16" | "u32" | "u64" | "i8" | "i16" | "i32" | "i64";

export interface IntType {
  kind: "int";
  name: IntName;
  bits: 8 | 16 | 32 | 64;
  signed: boolean;
}
export interface BoolType {
  kind: "bool";
}
export type ScalarType = IntType | BoolType;

/** A subprogram's parameter or result as the object describes it (ring views are untyped pointers). */
export type ValueType = ScalarType | { kind: "void" } | { kind: "ptr" };

/** What a field or array element of a MEM-region struct holds. */
export type Slot =
  | { kind: "scalar"; type: ScalarType; size: number; align: number }
  | { kind: "struct"; layout: StructLayout; size: number; align: number }
  | { kind: "array"; array: ArrayLayout; size: number; align: number };

export interface StructLayout {
  name: string;
  size: number;
  align: number;
  fields: Map<string, { off: number; slot: Slot }>;
}

export interface ArrayLayout {
  elem: Slot;
  count: number;
}

export type DataSection = ".rodata" | ".bss" | ".data";

/** A global variable in one of the data sections. */
export interface GlobalVar {
  name: string;
  section: DataSection;
  type: ScalarType;
  init: bigint;
  exported: boolean;
  /** config<T>() values and hidden ring values are const volatile. */
  config: boolean;
  /** Its offset in its section (set by layoutData). */
  offset: number;
}

/** A NUL-terminated string in .rodata. */
export interface StringConst {
  name: string;
  text: string;
  offset: number;
}

/** A helper compiled as a BPF subprogram. */
export interface Subprogram {
  name: string;
  fn: IrFunction;
  params: { name: string; type: ValueType }[];
  ret: ValueType;
}

/** A BPF-defined map (libbpf's `.maps` section): BPF_MAP_TYPE_*, its size, key and value layouts (for
 *  a ring buffer, `value` is the record type, which only the hidden pointer global describes). */
export interface MapDef {
  name: string;
  kind: "array" | "hash" | "ringbuf";
  /** BPF_MAP_TYPE_*. */
  mapType: number;
  maxEntries: number;
  key?: Slot;
  value: Slot;
  exported: boolean;
  /** For ring buffers: the offset in .rodata of the pointer global naming the record type (layoutData). */
  recordOffset?: number;
}

/** The hidden .rodata global that names a ring buffer's record type for loaders: a pointer to it. */
export function recordGlobalName(map: string): string {
  return `uringbpf_rec_${map}`;
}

/** A compiled file in IR form. */
export interface IrModule {
  programs: { name: string; fn: IrFunction }[];
  subprograms: Subprogram[];
  globals: GlobalVar[];
  strings: StringConst[];
  /** The layout of the MEM region, when a program maps it with ring.mem<T>(). */
  memLayout?: StructLayout;
  /** Where the pointer naming the MEM layout for loaders sits in .rodata (set by layoutData). */
  memLayoutOffset?: number;
  /** BTF-defined maps. */
  maps?: MapDef[];
}

/** The hidden global that names the MEM region's layout for loaders: a pointer to the struct, in .rodata. */
export const MEM_LAYOUT_GLOBAL = "uringbpf_mem_layout";

/** The kfuncs the IR calls by name. */
export const KFUNC_SUBMIT = "bpf_io_uring_submit_sqes";
export const KFUNC_GET_REGION = "bpf_io_uring_get_region";
export const KFUNC_ITER_NEW = "bpf_iter_num_new";
export const KFUNC_ITER_NEXT = "bpf_iter_num_next";
export const KFUNC_ITER_DESTROY = "bpf_iter_num_destroy";

export function scalarSize(t: ScalarType): number {
  return t.kind === "bool" ? 1 : t.bits / 8;
}

/** Place the data in their sections, in the order given: globals at their natural alignment (the
 *  front end lists the hidden ring values first), then the strings in .rodata, then the MEM layout
 *  pointer 8-aligned after everything else in .rodata. Returns each section's size. */
export function layoutData(m: IrModule): Record<DataSection, number> {
  const size: Record<DataSection, number> = { ".rodata": 0, ".bss": 0, ".data": 0 };
  for (const g of m.globals) {
    const n = scalarSize(g.type);
    g.offset = Math.ceil(size[g.section] / n) * n;
    size[g.section] = g.offset + n;
  }
  for (const s of m.strings) {
    s.offset = size[".rodata"];
    size[".rodata"] += Buffer.byteLength(s.text, "utf8") + 1;
  }
  if (m.memLayout) {
    m.memLayoutOffset = Math.ceil(size[".rodata"] / 8) * 8;
    size[".rodata"] = m.memLayoutOffset + 8;
  }
  for (const map of m.maps ?? []) {
    if (map.kind !== "ringbuf") continue;
    map.recordOffset = Math.ceil(size[".rodata"] / 8) * 8;
    size[".rodata"] = map.recordOffset + 8;
  }
  return size;
}
