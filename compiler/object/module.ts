// The contract between code generation and the object writer: everything an ELF BPF object needs, already
// laid out (instructions resolved, globals placed at offsets), described with BTF type specs. The BTF builder
// turns the specs into type ids; the ELF writer turns the rest into sections, symbols and relocations.

import type { Insn } from "../bpf/insn";

/** A C type as BTF describes it. Builders de-duplicate structurally equal specs. */
export type TypeSpec =
  | { kind: "void" }
  | { kind: "int"; name: string; size: 1 | 2 | 4 | 8 | 16; signed: boolean; bool?: boolean; char?: boolean }
  | { kind: "ptr"; to: TypeSpec }
  | { kind: "array"; elem: TypeSpec; count: number }
  | { kind: "struct" | "union"; name: string; size: number; members: { name: string; type: TypeSpec; offset: number }[] }
  | { kind: "fwd"; name: string; union?: boolean }
  | { kind: "typedef"; name: string; to: TypeSpec }
  | { kind: "const" | "volatile"; to: TypeSpec }
  | { kind: "enum"; name: string; size: 4; values: { name: string; value: number }[] }
  | { kind: "func_proto"; ret: TypeSpec; params: { name: string; type: TypeSpec }[] };

/** A struct or union type spec. */
export type StructSpec = Extract<TypeSpec, { members: unknown }>;

/** A function: a struct_ops program (GLOBAL, own section) or a subprogram in `.text`. */
export interface ObjectFunction {
  /** Symbol and BTF FUNC name. */
  name: string;
  /** Section: `struct_ops.s/<name>` for a sleepable struct_ops program, `.text` for subprograms. */
  section: string;
  /** global: GLOBAL FUNC symbol and BTF linkage global; static: LOCAL FUNC symbol and BTF linkage static. */
  linkage: "global" | "static";
  /** Resolved instructions; `reloc` and `pos` metadata drive relocations and line_info. */
  insns: Insn[];
  /** The BTF FUNC_PROTO of the function. */
  proto: Extract<TypeSpec, { kind: "func_proto" }>;
}

/** A global variable in `.rodata`, `.bss` or `.data`. */
export interface ObjectGlobal {
  name: string;
  section: ".rodata" | ".bss" | ".data";
  /** Byte offset inside its section. */
  offset: number;
  size: number;
  type: TypeSpec;
  /** Initial bytes (length === size); absent for `.bss` (zeros). */
  init?: Uint8Array;
  /** GLOBAL symbol (visible to loaders/skeletons) or LOCAL (static). */
  linkage: "global" | "static";
  /** A global's ELF symbol is WEAK, not GLOBAL: the hidden ring globals, whose values are the same for
   *  every program on a ring, so that two objects can be linked into one (`bpftool gen object`). */
  weak?: boolean;
}

/** An extern kernel function called from the program. */
export interface ObjectKfunc {
  name: string;
  proto: Extract<TypeSpec, { kind: "func_proto" }>;
}

/** The struct_ops variable placed in `.struct_ops.link`. */
export interface ObjectStructOps {
  /** Variable (symbol, BTF VAR and map) name. */
  varName: string;
  /** The struct type, e.g. io_uring_bpf_ops with members loop_step (func ptr) and ring_fd (u32). */
  type: StructSpec;
  /** Function-pointer members initialised with programs: member name -> function name. */
  funcs: { member: string; func: string }[];
}

/** A BTF-defined map in `.maps` (libbpf's parse_btf_map_def): a VAR whose type is an anonymous struct
 *  of `type`/`max_entries` (as `int (*)[N]`) and `key`/`value` (pointers to the real types). */
export interface ObjectMap {
  name: string;
  /** BPF_MAP_TYPE_*. */
  mapType: number;
  maxEntries: number;
  key?: TypeSpec;
  value?: TypeSpec;
  linkage: "global" | "static";
}

/** The anonymous struct libbpf reads a BTF-defined map from: 8 bytes per attribute, in this order. */
export function mapDefSpec(m: ObjectMap): StructSpec {
  const INT: TypeSpec = { kind: "int", name: "int", size: 4, signed: true };
  const num = (n: number): TypeSpec => ({ kind: "ptr", to: { kind: "array", elem: INT, count: n } });
  const members: { name: string; type: TypeSpec }[] = [{ name: "type", type: num(m.mapType) }, { name: "max_entries", type: num(m.maxEntries) }];
  if (m.key) members.push({ name: "key", type: { kind: "ptr", to: m.key } });
  if (m.value) members.push({ name: "value", type: { kind: "ptr", to: m.value } });
  return { kind: "struct", name: "", size: members.length * 8, members: members.map((x, i) => ({ ...x, offset: i * 8 })) };
}

/** A whole object file. */
export interface ObjectModule {
  /** Source file path as line_info should name it. */
  sourceFile: string;
  license: string;
  functions: ObjectFunction[];
  globals: ObjectGlobal[];
  kfuncs: ObjectKfunc[];
  structOps: ObjectStructOps[];
  /** BTF-defined maps (section `.maps`). */
  maps?: ObjectMap[];
}
