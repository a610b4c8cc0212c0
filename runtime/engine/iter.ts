// The open-coded number iterator kfuncs (bpf_iter_num_new/next/destroy) for the interpreter, with the
// kernel's semantics: the 8-byte iterator object on the program's stack holds the current value (low 32
// bits, start - 1 before the first next) and the end (high 32 bits); next returns a pointer to the current
// value, or NULL after end - 1.

import type { CallHandler, Memory } from "./interp";

function state(mem: Memory, it: bigint): { cur: number; end: number } {
  const v = mem.read(it, 8);
  if (typeof v === "string") throw new Error(`bpf_iter_num: ${v}`);
  return { cur: Number(BigInt.asIntN(32, v & 0xffffffffn)), end: Number(BigInt.asIntN(32, v >> 32n)) };
}

function save(mem: Memory, it: bigint, cur: number, end: number): void {
  const err = mem.write(it, 8, (BigInt.asUintN(32, BigInt(end)) << 32n) | BigInt.asUintN(32, BigInt(cur)));
  if (err) throw new Error(`bpf_iter_num: ${err}`);
}

const MAX_LOOPS = 8 * 1024 * 1024;

/** Handlers by kfunc name. `next` returns the iterator's own address as the (non-NULL) int pointer. */
export const iterKfuncs: Record<string, CallHandler> = {
  bpf_iter_num_new: (a, mem) => {
    const start = Number(BigInt.asIntN(32, a[1]));
    const end = Number(BigInt.asIntN(32, a[2]));
    if (start > end || end - start > MAX_LOOPS) {
      save(mem, a[0], 0, 0); // next() then returns NULL at once
      return BigInt.asUintN(64, -22n);
    }
    save(mem, a[0], start - 1, end);
    return 0n;
  },
  bpf_iter_num_next: (a, mem) => {
    const s = state(mem, a[0]);
    if (s.cur + 1 >= s.end) return 0n;
    save(mem, a[0], s.cur + 1, s.end);
    return a[0];
  },
  bpf_iter_num_destroy: (a, mem) => {
    save(mem, a[0], 0, 0);
    return 0n;
  },
};
