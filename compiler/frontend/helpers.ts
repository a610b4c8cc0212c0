// BPF helpers of the base set the kernel offers io_uring struct_ops programs (bpf_base_func_proto): time,
// random numbers and the CPU number. Each DSL name maps to a helper id and a result type; a call lowers to
// a `call` of the helper with the result taken from r0 (32-bit results by a 32-bit move, which is exactly
// the kernel's u32 return). Map and ring-buffer helpers live in maps.ts.

import type { CallExpression, Expression } from "ts-morph";
import type { LowerContext, Value } from "./context";
import { T, widthOf, type IntType } from "./types";

/** A helper callable by its DSL name. */
export interface HelperSpec {
  /** The kernel's helper id (enum bpf_func_id). */
  id: number;
  /** The kernel's name, for disassembly and docs. */
  kernelName: string;
  ret: IntType;
  doc: string;
}

/** The DSL's helpers without arguments, by exported name. */
export const HELPERS: Record<string, HelperSpec> = Object.setPrototypeOf({
  ktimeNs: { id: 5, kernelName: "bpf_ktime_get_ns", ret: T.u64, doc: "nanoseconds of CLOCK_MONOTONIC (does not count suspend)" },
  bootNs: { id: 125, kernelName: "bpf_ktime_get_boot_ns", ret: T.u64, doc: "nanoseconds of CLOCK_BOOTTIME (counts suspend)" },
  randomU32: { id: 7, kernelName: "bpf_get_prandom_u32", ret: T.u32, doc: "a pseudo-random 32-bit number (not for cryptography)" },
  cpuId: { id: 8, kernelName: "bpf_get_smp_processor_id", ret: T.u32, doc: "the number of the CPU the program runs on" },
}, null);

/** Lower `name()` for a helper of HELPERS. */
export function lowerHelperCall(cx: LowerContext, e: CallExpression, name: string, args: Expression[]): Value {
  const h = HELPERS[name];
  if (args.length !== 0) cx.fail(e, 2017, `${name}() takes no arguments`);
  const dst = cx.b.vreg(widthOf(h.ret), name);
  cx.b.emit({ op: "call", kind: "helper", name: h.kernelName, helperId: h.id, args: [], dst });
  return { type: h.ret, op: { reg: dst } };
}
