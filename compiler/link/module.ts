// Linking: turns the IR module (globals, strings and the MEM layout, laid out by ir/module.ts) and the
// generated code into an ObjectModule: BTF type specs for
// the kernel's io_uring types (as the kernel names them, so libbpf can match them), the kfunc prototypes,
// each program as a sleepable struct_ops program with its `*_ops` struct_ops variable, and the globals
// with their initial bytes.

import type { FunctionCode } from "../codegen/emit";
import {
  KFUNC_GET_REGION, KFUNC_ITER_DESTROY, KFUNC_ITER_NEW, KFUNC_ITER_NEXT, KFUNC_SUBMIT, MEM_LAYOUT_GLOBAL, recordGlobalName,
  type IrModule, type ScalarType, type Slot, type StructLayout, type ValueType,
} from "../ir/module";
import type { ObjectFunction, ObjectGlobal, ObjectKfunc, ObjectModule, StructSpec, TypeSpec } from "../object/module";
import { RING_GLOBALS } from "../frontend/ring";

/** The hidden ring globals: the same values for every program on a ring, so WEAK symbols (two objects link). */
const WEAK_GLOBALS: ReadonlySet<string> = new Set(RING_GLOBALS);

const C_NAMES: Record<string, string> = {
  u8: "unsigned char", u16: "unsigned short", u32: "unsigned int", u64: "unsigned long long",
  i8: "signed char", i16: "short", i32: "int", i64: "long long",
};

/** The BTF spec of a DSL scalar type. */
export function scalarSpec(t: ScalarType): TypeSpec {
  if (t.kind === "bool") return { kind: "int", name: "_Bool", size: 1, signed: false, bool: true };
  // As clang describes `signed char`/`unsigned char`: SIGNED or no encoding (CHAR is only for plain char).
  return { kind: "int", name: C_NAMES[t.name], size: (t.bits / 8) as 1 | 2 | 4 | 8, signed: t.signed };
}

const CHAR: TypeSpec = { kind: "int", name: "char", size: 1, signed: true, char: true };
const INT: TypeSpec = { kind: "int", name: "int", size: 4, signed: true };
const U32: TypeSpec = { kind: "int", name: "unsigned int", size: 4, signed: false };
const U8: TypeSpec = { kind: "int", name: "unsigned char", size: 1, signed: false };
const SIZE_T: TypeSpec = { kind: "typedef", name: "size_t", to: { kind: "int", name: "unsigned long", size: 8, signed: false } };
const U64_PTR: TypeSpec = { kind: "ptr", to: { kind: "int", name: "unsigned long long", size: 8, signed: false } };
/** The kernel's ring context: opaque, declared as an empty struct (a forward declaration would not resolve). */
const RING_CTX: TypeSpec = { kind: "struct", name: "io_ring_ctx", size: 0, members: [] };
const LOOP_PARAMS: TypeSpec = { kind: "struct", name: "iou_loop_params", size: 4, members: [{ name: "cq_wait_idx", type: U32, offset: 0 }] };

/** `struct io_uring_bpf_ops` as a userspace object declares it: loop_step at 0, ring_fd at 8. */
export const IO_URING_BPF_OPS: StructSpec = {
  kind: "struct",
  name: "io_uring_bpf_ops",
  size: 16,
  members: [
    {
      name: "loop_step",
      offset: 0,
      type: { kind: "ptr", to: { kind: "func_proto", ret: INT, params: [{ name: "", type: { kind: "ptr", to: RING_CTX } }, { name: "", type: { kind: "ptr", to: LOOP_PARAMS } }] } },
    },
    { name: "ring_fd", offset: 8, type: U32 },
  ],
};

/** The kfuncs of io_uring's BPF ops, with prototypes compatible with the kernel's BTF. */
export const KFUNCS: Record<string, ObjectKfunc> = {
  [KFUNC_SUBMIT]: {
    name: KFUNC_SUBMIT,
    proto: { kind: "func_proto", ret: INT, params: [{ name: "ctx", type: { kind: "ptr", to: RING_CTX } }, { name: "nr", type: U32 }] },
  },
  [KFUNC_GET_REGION]: {
    name: KFUNC_GET_REGION,
    proto: {
      kind: "func_proto",
      ret: { kind: "ptr", to: U8 },
      params: [
        { name: "ctx", type: { kind: "ptr", to: RING_CTX } },
        { name: "region_id", type: U32 },
        { name: "rdwr_buf_size", type: { kind: "const", to: SIZE_T } },
      ],
    },
  },
};

/** The BTF spec of a MEM-region layout. */
export function layoutSpec(l: StructLayout): StructSpec {
  return { kind: "struct", name: l.name, size: l.size, members: [...l.fields].map(([name, f]) => ({ name, offset: f.off, type: slotSpec(f.slot) })) };
}

/** The BTF spec of a layout slot (scalar, struct or FixedArray). */
export function slotSpec(x: Slot): TypeSpec {
  return x.kind === "scalar" ? scalarSpec(x.type) : x.kind === "struct" ? layoutSpec(x.layout) : { kind: "array", elem: slotSpec(x.array.elem), count: x.array.count };
}

export { MEM_LAYOUT_GLOBAL } from "../ir/module";

const ITER_NUM_PTR: TypeSpec = {
  kind: "ptr",
  to: { kind: "struct", name: "bpf_iter_num", size: 8, members: [{ name: "__opaque", offset: 0, type: { kind: "array", elem: { kind: "int", name: "unsigned long long", size: 8, signed: false }, count: 1 } }] },
};
KFUNCS[KFUNC_ITER_NEW] = { name: KFUNC_ITER_NEW, proto: { kind: "func_proto", ret: INT, params: [{ name: "it", type: ITER_NUM_PTR }, { name: "start", type: INT }, { name: "end", type: INT }] } };
KFUNCS[KFUNC_ITER_NEXT] = { name: KFUNC_ITER_NEXT, proto: { kind: "func_proto", ret: { kind: "ptr", to: INT }, params: [{ name: "it", type: ITER_NUM_PTR }] } };
KFUNCS[KFUNC_ITER_DESTROY] = { name: KFUNC_ITER_DESTROY, proto: { kind: "func_proto", ret: { kind: "void" }, params: [{ name: "it", type: ITER_NUM_PTR }] } };

/** Little-endian bytes of an integer value. */
function bytesOf(value: bigint, size: number): Uint8Array {
  const b = new Uint8Array(size);
  let v = BigInt.asUintN(size * 8, value);
  for (let i = 0; i < size; i++, v >>= 8n) b[i] = Number(v & 0xffn);
  return b;
}

/** The BTF spec of a subprogram parameter or result (ring views are `void *`). */
function paramSpec(t: ValueType): TypeSpec {
  if (t.kind === "int" || t.kind === "bool") return scalarSpec(t);
  if (t.kind === "void") return { kind: "void" };
  return { kind: "ptr", to: { kind: "void" } };
}

/** Build the object description for a compiled file: the IR module's data as laid out there, and the
 *  code generated for each of its functions (by name). */
export function linkModule(sourceFile: string, m: IrModule, code: Map<string, FunctionCode>, license = "Dual BSD/GPL"): ObjectModule {
  const codeOf = (name: string): FunctionCode => {
    const c = code.get(name);
    if (!c) throw new Error(`internal: no code for ${name}`);
    return c;
  };
  const programs = m.programs.map((p) => ({ name: p.name, code: codeOf(p.name) }));
  const subprograms = m.subprograms.map((s) => ({ ...s, code: codeOf(s.name) }));
  const { globals, strings, memLayout } = m;
  const used = new Set<string>();
  for (const p of [...programs, ...subprograms]) for (const i of p.code.insns) if (i.reloc?.kind === "kfunc") used.add(i.reloc.symbol);
  const objGlobals: ObjectGlobal[] = globals.map((g) => {
    const size = g.type.kind === "bool" ? 1 : g.type.bits / 8;
    const base = scalarSpec(g.type);
    return {
      name: g.name,
      section: g.section,
      offset: g.offset,
      size,
      type: g.config ? { kind: "const", to: { kind: "volatile", to: base } } : base,
      init: g.section === ".bss" ? undefined : bytesOf(g.init, size),
      linkage: g.exported ? "global" : "static",
      weak: WEAK_GLOBALS.has(g.name) || undefined,
    };
  });
  for (const s of strings) {
    const bytes = Buffer.from(s.text + "\0", "utf8");
    objGlobals.push({ name: s.name, section: ".rodata", offset: s.offset, size: bytes.length, type: { kind: "const", to: { kind: "array", elem: CHAR, count: bytes.length } }, init: new Uint8Array(bytes), linkage: "static" });
  }
  if (memLayout) {
    if (m.memLayoutOffset === undefined) throw new Error("internal: the module's data are not laid out");
    objGlobals.push({ name: MEM_LAYOUT_GLOBAL, section: ".rodata", offset: m.memLayoutOffset, size: 8, type: { kind: "const", to: { kind: "ptr", to: layoutSpec(memLayout) } }, init: new Uint8Array(8), linkage: "global" });
  }
  // A ring buffer's record type has no place in the map definition (the kernel refuses key/value sizes on
  // ring buffers): a hidden pointer global names it for loaders, as uringbpf_mem_layout does the MEM layout.
  const maps = m.maps ?? [];
  for (const map of maps.filter((x) => x.kind === "ringbuf")) {
    if (map.recordOffset === undefined) throw new Error("internal: the module's data are not laid out");
    objGlobals.push({ name: recordGlobalName(map.name), section: ".rodata", offset: map.recordOffset, size: 8, type: { kind: "const", to: { kind: "ptr", to: slotSpec(map.value) } }, init: new Uint8Array(8), linkage: "global" });
  }
  return {
    maps: maps.map((x) => ({ name: x.name, mapType: x.mapType, maxEntries: x.maxEntries, key: x.key && slotSpec(x.key), value: x.kind === "ringbuf" ? undefined : slotSpec(x.value), linkage: x.exported ? "global" : "static" })),
    sourceFile,
    license,
    functions: programs.map((p): ObjectFunction => ({
      name: p.name,
      section: `struct_ops.s/${p.name}`,
      linkage: "global" as const,
      insns: p.code.insns,
      proto: { kind: "func_proto" as const, ret: INT, params: [{ name: "ctx", type: U64_PTR }] },
    })).concat(subprograms.map((s): ObjectFunction => ({
      name: s.name,
      section: ".text",
      linkage: "static" as const,
      insns: s.code.insns,
      proto: { kind: "func_proto" as const, ret: paramSpec(s.ret), params: s.params.map((p) => ({ name: p.name, type: paramSpec(p.type) })) },
    }))),
    globals: objGlobals,
    kfuncs: [...used].sort().map((k) => KFUNCS[k]),
    structOps: programs.map((p) => ({ varName: `${p.name}_ops`, type: IO_URING_BPF_OPS, funcs: [{ member: "loop_step", func: p.name }] })),
  };
}
