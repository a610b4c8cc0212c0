// The io_uring memory layouts the DSL's ring views map onto: one table for the SQE (struct io_uring_sqe),
// one for the CQE, the hidden .rodata ring-geometry values the loader fills in from io_uring_params, the
// kfuncs, and the UAPI constants programs may import. Prep helpers are generated from the SQE table.

import type { SizeName } from "../bpf/insn";
import { T, type IntType } from "./types";
export { KFUNC_GET_REGION, KFUNC_ITER_DESTROY, KFUNC_ITER_NEW, KFUNC_ITER_NEXT, KFUNC_SUBMIT } from "../ir/module";
import { allConstants } from "./uapi";
import { GEOMETRY, geometryValues, LOOP_BUDGET, type GeometryName } from "../contract/geometry";

/** A field of a ring structure: byte offset, access size and DSL type. */
export interface Field {
  off: number;
  size: SizeName;
  type: IntType;
  readonly?: boolean;
}

/** struct io_uring_sqe (64 bytes), by DSL field name. */
export const SQE_FIELDS: Record<string, Field> = Object.setPrototypeOf({
  opcode: { off: 0, size: "B", type: T.u8 },
  flags: { off: 1, size: "B", type: T.u8 },
  ioprio: { off: 2, size: "H", type: T.u16 },
  fd: { off: 4, size: "W", type: T.i32 },
  off: { off: 8, size: "DW", type: T.u64 },
  addr2: { off: 8, size: "DW", type: T.u64 },
  addr: { off: 16, size: "DW", type: T.u64 },
  len: { off: 24, size: "W", type: T.u32 },
  opFlags: { off: 28, size: "W", type: T.u32 },
  userData: { off: 32, size: "DW", type: T.u64 },
  bufIndex: { off: 40, size: "H", type: T.u16 },
  personality: { off: 42, size: "H", type: T.u16 },
  spliceFdIn: { off: 44, size: "W", type: T.i32 },
  addr3: { off: 48, size: "DW", type: T.u64 },
}, null);
export const SQE_SIZE = 64;

/** struct io_uring_cqe (16 bytes). */
export const CQE_FIELDS: Record<string, Field> = Object.setPrototypeOf({
  userData: { off: 0, size: "DW", type: T.u64, readonly: true },
  res: { off: 8, size: "W", type: T.i32, readonly: true },
  flags: { off: 12, size: "W", type: T.u32, readonly: true },
}, null);
export const CQE_SHIFT = 4;
export const SQE_SHIFT = 6;

/** Hidden globals: the ring geometry the loader fills in before load (the one table,
 *  compiler/contract/geometry.ts), the trap line a failed run-time check writes, and a .bss zero the
 *  loop lowering reads to hide a value from the verifier. */
export const RING_GLOBALS = [...GEOMETRY.map((g) => g.name), "uringbpf_trap", "uringbpf_loop_zero"] as const;
export type RingGlobal = GeometryName | "uringbpf_trap" | "uringbpf_loop_zero";
/** Defaults (an 8-entry SQ and 16-entry CQ as io_uring_setup lays them out) so an object also loads
 *  without a loader that knows these names. */
export const RING_GLOBAL_DEFAULTS: Record<RingGlobal, number> = {
  ...(Object.fromEntries([...geometryValues({ sq_entries: 8, cq_entries: 16, cq_off_head: 0, cq_off_tail: 4, cq_off_cqes: 64, sqe_size: 64, cqe_size: 16, mem_size: 0, mem_uaddr: 0 })].map(([k, v]) => [k, Number(v)])) as Record<GeometryName, number>),
  uringbpf_trap: 0,
  uringbpf_loop_zero: 0,
};
/** The hidden .rodata u64 holding the MEM region's userspace address (for SQE buffer addresses). */
export const MEM_UADDR_GLOBAL = "uringbpf_mem_uaddr";
/** The hidden .bss global a failed run-time check writes its TypeScript line number into. */
export const TRAP_GLOBAL = "uringbpf_trap";

/** A hidden .bss u64 that is always 0: loops xor the variables they assign with it on entry, so the
 *  verifier sees values it cannot pin (see loops.ts). Nothing writes it; passes must not fold its loads. */
export const LOOP_ZERO_GLOBAL = "uringbpf_loop_zero";

/** Region ids of bpf_io_uring_get_region. */
export const REGION = { MEM: 0, CQ: 1, SQ: 2 } as const;

/** The most iterations a loop the compiler cannot bound may run (the kernel's BPF_MAX_LOOPS). */
export const MAX_LOOP_ITERATIONS = LOOP_BUDGET;

/** Constants importable from "uringbpf" (name -> value): see uapi.ts. */
// The name tables are looked up by names from the program: without a prototype, `toString` or
// `constructor` is a name like any other (was: Object.prototype's function, an internal error).
export const CONSTANTS: Record<string, bigint> = Object.setPrototypeOf(allConstants(), null);
