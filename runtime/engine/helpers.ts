// The base helpers of io_uring struct_ops programs for the interpreter, with the kernel's semantics:
// bpf_ktime_get_ns (CLOCK_MONOTONIC), bpf_ktime_get_boot_ns (CLOCK_BOOTTIME), bpf_get_prandom_u32 and
// bpf_get_smp_processor_id (the CPU this thread last ran on). Map and ring-buffer helpers are in maps.ts.

import * as fs from "fs";
import { randomBytes } from "crypto";
import type { CallHandler } from "./interp";
import { tracePrintk } from "./trace";

/** Helper ids (enum bpf_func_id). */
export const HELPER_ID = { ktime_get_ns: 5, trace_printk: 6, get_prandom_u32: 7, get_smp_processor_id: 8, ktime_get_boot_ns: 125 } as const;

/** CLOCK_BOOTTIME - CLOCK_MONOTONIC (the time spent suspended), measured once from /proc/uptime (whose
 *  first field is CLOCK_BOOTTIME in centiseconds): Node has no clock_gettime(CLOCK_BOOTTIME). The offset
 *  is rounded down to whole centiseconds so boot time never runs behind monotonic time. */
let bootOffset: bigint | undefined;
function bootOffsetNs(): bigint {
  if (bootOffset === undefined) {
    let off = 0n;
    try {
      const up = fs.readFileSync("/proc/uptime", "utf8").split(" ")[0];
      const [s, cs = "0"] = up.split(".");
      const boot = BigInt(s) * 1_000_000_000n + BigInt(cs.padEnd(2, "0").slice(0, 2)) * 10_000_000n;
      const d = boot - process.hrtime.bigint();
      off = d > 10_000_000n ? d - (d % 10_000_000n) - 10_000_000n : 0n;
    } catch {
      off = 0n; // no /proc: boot time is monotonic time
    }
    bootOffset = off;
  }
  return bootOffset;
}

/** The CPU this thread last ran on (field 39 of /proc/thread-self/stat), 0 when unknown. */
function currentCpu(): bigint {
  try {
    const stat = fs.readFileSync("/proc/thread-self/stat", "utf8");
    // The command name (field 2) is in parentheses and may contain spaces: count from its end.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const cpu = Number(fields[39 - 3]);
    return Number.isInteger(cpu) && cpu >= 0 ? BigInt(cpu) : 0n;
  } catch {
    return 0n;
  }
}

/** A pool of random bytes refilled in blocks, so each bpf_get_prandom_u32 costs no system call. */
let pool = Buffer.alloc(0);
let poolOff = 0;
function randomU32(): bigint {
  if (poolOff + 4 > pool.length) {
    pool = randomBytes(4096);
    poolOff = 0;
  }
  const v = pool.readUInt32LE(poolOff);
  poolOff += 4;
  return BigInt(v);
}

/** The base helper set, by id; `trace` collects bpf_trace_printk lines. `clock` replaces CLOCK_MONOTONIC
 *  (boot time stays clock + the suspend offset): tests that compare two runs pass a deterministic one. */
export function baseHelpers(trace: string[], clock: () => bigint = () => process.hrtime.bigint()): Record<number, CallHandler> {
  return {
    [HELPER_ID.ktime_get_ns]: () => clock(),
    [HELPER_ID.ktime_get_boot_ns]: () => clock() + bootOffsetNs(),
    [HELPER_ID.get_prandom_u32]: () => randomU32(),
    [HELPER_ID.get_smp_processor_id]: () => currentCpu(),
    [HELPER_ID.trace_printk]: tracePrintk(trace),
  };
}
