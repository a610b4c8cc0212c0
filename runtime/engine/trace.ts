// bpf_trace_printk for the interpreter: reads the NUL-terminated format from program memory and formats
// up to three 64-bit arguments the way the kernel does for the specifiers uringbpf programs use.

import type { Memory } from "./interp";

/** Read a NUL-terminated string of at most `max` bytes at `addr`. */
export function readCString(mem: Memory, addr: bigint, max: number): string {
  const bytes: number[] = [];
  for (let i = 0; i < max; i++) {
    const b = mem.read(addr + BigInt(i), 1);
    if (typeof b === "string") throw new Error(`trace format: ${b}`);
    if (b === 0n) break;
    bytes.push(Number(b));
  }
  return Buffer.from(bytes).toString("utf8");
}

/** Format like the kernel's bpf_trace_printk: %d %i %u %x with optional l/ll, %%. */
export function formatTrace(fmt: string, args: bigint[]): string {
  let n = 0;
  return fmt.replace(/%(%|(l{0,2})([diux]))/g, (_m, all: string, len: string, conv: string) => {
    if (all === "%") return "%";
    const raw = args[n++] ?? 0n;
    const bits = len === "" ? 32 : 64;
    const v = conv === "d" || conv === "i" ? BigInt.asIntN(bits, raw) : BigInt.asUintN(bits, raw);
    return conv === "x" ? v.toString(16) : v.toString();
  });
}

/** A helper-6 handler that appends each formatted line to `out`. */
export function tracePrintk(out: string[]): (args: bigint[], mem: Memory) => bigint {
  return (args, mem) => {
    const fmt = readCString(mem, args[0], Number(args[1]));
    const line = formatTrace(fmt, args.slice(2, 5));
    out.push(line.replace(/\n$/, ""));
    return BigInt(Buffer.byteLength(line));
  };
}
