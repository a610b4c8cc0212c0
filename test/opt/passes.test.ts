// Per-pass unit tests: IR text in, one pass, IR text out (test/support/irtext.ts reads the dump format).
// Each case is a small function that shows what the pass must do, and what it must leave alone.
import { describe, expect, it } from "vitest";
import { PASS_NAMES, PIPELINE } from "../../compiler/opt/pipeline";
import { ir, irText, parseIr } from "../support/irtext";

function run(pass: string, input: string, readOnly: string[] = []): string {
  const fn = parseIr(input);
  const p = PIPELINE.find((x) => x.name === pass);
  if (!p) throw new Error(`no pass ${pass}`);
  p.run(fn, { readOnly: new Set(readOnly) });
  return irText(fn);
}

interface PassCase {
  /** What the pass must do (and leave alone) in this function; a pass's name alone for its first case. */
  name: string;
  pass: string;
  /** Symbols in .rodata, whose loads no store or call invalidates (PassContext.readOnly). */
  readOnly?: string[];
  input: string;
}

/** Cases whose whole output is given. */
const EXACT: (PassCase & { output: string })[] = [
  {
    name: "jump-thread",
    pass: "jump-thread",
    input: ir`
      function f
      b0:
      %0.i:32 = 0
      jmp b1
      b1:
      br jlt32 %0.i:32, 10 ? b2 : b3
      b2:
      %0.i:32 = add32 %0.i:32, 1
      jmp b1
      b3:
      ret %0.i:32
    `,
    output: ir`
      function f
      b0:
      %0.i:32 = 0
      jmp b2
      b1:
      br jlt32 %0.i:32, 10 ? b2 : b3
      b2:
      %0.i:32 = add32 %0.i:32, 1
      jmp b1
      b3:
      ret %0.i:32
    `,
  },
  {
    name: "ssa",
    pass: "ssa",
    input: ir`
      function f
      b0:
      %0:32 = param 0
      %1.x:32 = 1
      br jne32 %0:32, 0 ? b1 : b2
      b1:
      %1.x:32 = 2
      jmp b2
      b2:
      ret %1.x:32
    `,
    output: ir`
      function f
      b0:
      %0:32 = param 0
      %2.x:32 = 1
      br jne32 %0:32, 0 ? b1 : b2
      b1:
      %3.x:32 = 2
      jmp b2
      b2:
      %4.x:32 = phi [b0: %2.x:32], [b1: %3.x:32]
      ret %4.x:32
    `,
  },
  {
    name: "copy-prop",
    pass: "copy-prop",
    input: ir`
      function f
      b0:
      %0:64 = param 0
      %1:64 = %0:64
      %2:64 = add64 %1:64, 1
      %3:32 = %2:64
      %4:32 = add32 %3:32, 1
      ret %4:32
    `,
    output: ir`
      function f
      b0:
      %0:64 = param 0
      %2:64 = add64 %0:64, 1
      %3:32 = %2:64
      %4:32 = add32 %3:32, 1
      ret %4:32
    `,
  },
  {
    name: "const-fold",
    pass: "const-fold",
    input: ir`
      function f
      b0:
      %0:32 = param 0
      %1:32 = 5
      %2:32 = mul32 %1:32, 3
      %3:32 = add32 %0:32, 0
      %4:32 = and32 %3:32, -1
      %5:32 = mul32 %4:32, 0
      %6:64 = lsh64 1, 70
      %7:32 = add32 %0:32, 4
      %8:32 = sub32 %7:32, 6
      %9:32 = sub32 %0:32, %0:32
      %10:64 = 4294967296
      %11:64 = add64 %6:64, %10:64
      %12:32 = add32 4294967295, 1
      store.W [%0:32 + 0] = %2:32
      store.W [%0:32 + 4] = %5:32
      store.DW [%0:32 + 8] = %11:64
      store.W [%0:32 + 16] = %8:32
      store.W [%0:32 + 20] = %9:32
      store.W [%0:32 + 24] = %12:32
      ret %4:32
    `,
    output: ir`
      function f
      b0:
      %0:32 = param 0
      %1:32 = 5
      %2:32 = 15
      %3:32 = %0:32
      %4:32 = %3:32
      %5:32 = 0
      %6:64 = 64
      %7:32 = add32 %0:32, 4
      %8:32 = add32 %0:32, -2
      %9:32 = 0
      %10:64 = 4294967296
      %11:64 = 4294967360
      %12:32 = 0
      store.W [%0:32 + 0] = 15
      store.W [%0:32 + 4] = 0
      store.DW [%0:32 + 8] = %11:64
      store.W [%0:32 + 16] = %8:32
      store.W [%0:32 + 20] = 0
      store.W [%0:32 + 24] = 0
      ret %4:32
    `,
  },
  {
    name: "gvn",
    pass: "gvn",
    readOnly: ["geom"],
    input: ir`
      function f
      b0:
      %0.a:p = &g+0
      %1:32 = load.W [%0.a:p + 0]
      %2.b:p = &g+0
      %3:32 = load.W [%2.b:p + 0]
      store.W [%2.b:p + 4] = %3:32
      %4:32 = load.W [%0.a:p + 4]
      %5.r:p = &geom+0
      %6:32 = load.W [%5.r:p + 0]
      %7:32 = add32 %1:32, %4:32
      call k(%7:32)
      %8:32 = load.W [%0.a:p + 0]
      %9.r:p = &geom+0
      %10:32 = load.W [%9.r:p + 0]
      %11:32 = add32 %8:32, %10:32
      %12:32 = add32 %11:32, %6:32
      ret %12:32
    `,
    output: ir`
      function f
      b0:
      %0.a:p = &g+0
      %1:32 = load.W [%0.a:p + 0]
      store.W [%0.a:p + 4] = %1:32
      %4:32 = %1:32
      %5.r:p = &geom+0
      %6:32 = load.W [%5.r:p + 0]
      %7:32 = add32 %1:32, %4:32
      call k(%7:32)
      %8:32 = load.W [%0.a:p + 0]
      %11:32 = add32 %8:32, %6:32
      %12:32 = add32 %11:32, %6:32
      ret %12:32
    `,
  },
  {
    name: "branch-simplify",
    pass: "branch-simplify",
    input: ir`
      function f
      b0:
      %0:32 = 3
      br jgt32 %0:32, 2 ? b1 : b2
      b1:
      jmp b3
      b2:
      ret 2
      b3:
      jmp b4
      b4:
      ret 1
    `,
    output: ir`
      function f
      b0:
      %0:32 = 3
      ret 1
    `,
  },
  {
    name: "dce",
    pass: "dce",
    input: ir`
      function f
      b0:
      %0:p = param 0
      %1:32 = load.W [%0:p + 0]
      %2:32 = add32 %1:32, 1
      %3:32 = add32 %1:32, 2
      store.W [%0:p + 0] = %3:32
      ret 0
    `,
    output: ir`
      function f
      b0:
      %0:p = param 0
      %1:32 = load.W [%0:p + 0]
      %3:32 = add32 %1:32, 2
      store.W [%0:p + 0] = %3:32
      ret 0
    `,
  },
  {
    name: "store-merge",
    pass: "store-merge",
    input: ir`
      function f
      b0:
      %0:p = param 0
      %1.sqe:p = call get(%0:p)
      %2:32 = param 1
      store.B [%1.sqe:p + 0] = 9
      store.B [%1.sqe:p + 1] = 0
      store.H [%1.sqe:p + 2] = 0
      store.W [%1.sqe:p + 4] = -1
      store.DW [%1.sqe:p + 8] = 0
      store.W [%1.sqe:p + 16] = %2:32
      store.W [%1.sqe:p + 20] = 0
      store.DW [%1.sqe:p + 24] = 0
      store.W [%1.sqe:p + 24] = 7
      ret 0
    `,
    output: ir`
      function f
      b0:
      %0:p = param 0
      %1.sqe:p = call get(%0:p)
      %2:32 = param 1
      store.W [%1.sqe:p + 16] = %2:32
      store.W [%1.sqe:p + 0] = 9
      store.W [%1.sqe:p + 4] = -1
      store.DW [%1.sqe:p + 8] = 0
      store.W [%1.sqe:p + 20] = 0
      store.DW [%1.sqe:p + 24] = 7
      ret 0
    `,
  },
  {
    name: "store-merge: a register store whose value fits it takes the zero bytes after it (a byte and three zero bytes are one word)",
    pass: "store-merge",
    input: ir`
      function f
      b0:
      %0:p = param 0
      %1.sqe:p = call get(%0:p)
      %2:32 = load.B [%0:p + 0]
      %3:32 = load.W [%0:p + 4]
      %4:32 = add32 %3:32, 1
      store.B [%1.sqe:p + 0] = %2:32
      store.B [%1.sqe:p + 1] = 0
      store.H [%1.sqe:p + 2] = 0
      store.W [%1.sqe:p + 8] = %3:32
      store.W [%1.sqe:p + 12] = 0
      store.H [%1.sqe:p + 16] = %4:32
      store.H [%1.sqe:p + 18] = 0
      ret 0
    `,
    output: ir`
      function f
      b0:
      %0:p = param 0
      %1.sqe:p = call get(%0:p)
      %2:32 = load.B [%0:p + 0]
      %3:32 = load.W [%0:p + 4]
      %4:32 = add32 %3:32, 1
      store.W [%1.sqe:p + 0] = %2:32
      store.DW [%1.sqe:p + 8] = %3:32
      store.H [%1.sqe:p + 16] = %4:32
      store.H [%1.sqe:p + 18] = 0
      ret 0
    `,
  },
  {
    name: "tail-merge",
    pass: "tail-merge",
    input: ir`
      function f
      b0:
      %0:32 = param 0
      br jeq32 %0:32, 1 ? b1 : b2
      b1:
      ret 1
      b2:
      br jeq32 %0:32, 2 ? b3 : b4
      b3:
      ret 1
      b4:
      ret 0
    `,
    output: ir`
      function f
      b0:
      %0:32 = param 0
      br jeq32 %0:32, 1 ? b1 : b2
      b1:
      ret 1
      b2:
      br jeq32 %0:32, 2 ? b1 : b4
      b4:
      ret 0
    `,
  },
  {
    name: "sink: what two predecessors end with alike becomes one block; differing operands become phis, the target's phi takes the merged value",
    pass: "sink",
    input: ir`
      function f
      b0:
      %0:p = param 0
      %1:32 = param 1
      br jne32 %1:32, 0 ? b1 : b2
      b1:
      %2:32 = load.W [%0:p + 4]
      %3.g:p = &g+0
      %4:32 = load.W [%3.g:p + 0]
      store.W [%0:p + 8] = %4:32
      store.W [%0:p + 12] = %2:32
      jmp b3
      b2:
      %5:32 = add32 %1:32, 7
      %6.g:p = &g+0
      %7:32 = load.W [%6.g:p + 0]
      store.W [%0:p + 8] = %7:32
      store.W [%0:p + 12] = %5:32
      jmp b3
      b3:
      %8:32 = phi [b1: %4:32], [b2: %7:32]
      ret %8:32
    `,
    output: ir`
      function f
      b0:
      %0:p = param 0
      %1:32 = param 1
      br jne32 %1:32, 0 ? b1 : b2
      b1:
      %2:32 = load.W [%0:p + 4]
      jmp b4
      b2:
      %5:32 = add32 %1:32, 7
      jmp b4
      b4:
      %11:32 = phi [b1: %2:32], [b2: %5:32]
      %9.g:p = &g+0
      %10:32 = load.W [%9.g:p + 0]
      store.W [%0:p + 8] = %10:32
      store.W [%0:p + 12] = %11:32
      jmp b3
      b3:
      %8:32 = phi [b4: %10:32]
      ret %8:32
    `,
  },
  {
    name: "sink: a value only passed on to the join moves up past loads, so the common part ends both blocks",
    pass: "sink",
    input: ir`
      function f
      b0:
      %0:p = param 0
      %1:32 = param 1
      br jne32 %1:32, 0 ? b1 : b2
      b1:
      store.W [%0:p + 0] = 1
      %2.a:p = &a+0
      %3:32 = load.W [%2.a:p + 0]
      %4.b:p = &b+0
      %5:32 = load.W [%4.b:p + 0]
      store.W [%0:p + 4] = %3:32
      jmp b3
      b2:
      %6.a:p = &a+0
      %7:32 = load.W [%6.a:p + 0]
      store.W [%0:p + 4] = %7:32
      jmp b3
      b3:
      %8:32 = phi [b1: %5:32], [b2: %1:32]
      ret %8:32
    `,
    output: ir`
      function f
      b0:
      %0:p = param 0
      %1:32 = param 1
      br jne32 %1:32, 0 ? b1 : b2
      b1:
      store.W [%0:p + 0] = 1
      %4.b:p = &b+0
      %5:32 = load.W [%4.b:p + 0]
      jmp b4
      b2:
      jmp b4
      b4:
      %11:32 = phi [b1: %5:32], [b2: %1:32]
      %9.a:p = &a+0
      %10:32 = load.W [%9.a:p + 0]
      store.W [%0:p + 4] = %10:32
      jmp b3
      b3:
      %8:32 = phi [b4: %11:32]
      ret %8:32
    `,
  },
  {
    name: "addr-fold: constant parts of addresses go into the access offsets; (p + C) + i used only for accesses becomes p + i",
    pass: "addr-fold",
    input: ir`
      function f
      b0:
      %0:p = param 0
      %1:32 = param 1
      %2:p = add64 %0:p, 24
      %3:32 = mul32 %1:32, 32
      %4:p = add64 %2:p, %3:32
      %5:32 = load.W [%4:p + 4]
      store.DW [%4:p + 8] = 0
      %6:p = add64 %0:p, 16
      %7:32 = load.W [%6:p + 2]
      %8:p = add64 %0:p, 8
      %9:p = add64 %8:p, %3:32
      store.W [%9:p + 0] = %5:32
      %10:32 = add32 %5:32, %7:32
      ret %10:32
    `,
    output: ir`
      function f
      b0:
      %0:p = param 0
      %1:32 = param 1
      %2:p = add64 %0:p, 24
      %3:32 = mul32 %1:32, 32
      %4:p = add64 %0:p, %3:32
      %5:32 = load.W [%4:p + 28]
      store.DW [%4:p + 32] = 0
      %6:p = add64 %0:p, 16
      %7:32 = load.W [%0:p + 18]
      %8:p = add64 %0:p, 8
      %9:p = add64 %0:p, %3:32
      store.W [%9:p + 8] = %5:32
      %10:32 = add32 %5:32, %7:32
      ret %10:32
    `,
  },
  {
    name: "out-of-ssa",
    pass: "out-of-ssa",
    input: ir`
      function f
      b0:
      %0:32 = param 0
      br jne32 %0:32, 0 ? b1 : b2
      b1:
      jmp b2
      b2:
      %1:32 = phi [b0: 1], [b1: %0:32]
      ret %1:32
    `,
    output: ir`
      function f
      b0:
      %0:32 = param 0
      %2:32 = 1
      br jne32 %0:32, 0 ? b1 : b2
      b1:
      %2:32 = %0:32
      jmp b2
      b2:
      %1:32 = %2:32
      ret %1:32
    `,
  },
  {
    name: "const-fold: a divisor that folds to 0 gives BPF's x / 0 = 0 and x % 0 = x, never an immediate 0",
    pass: "const-fold",
    input: ir`
      function f
      b0:
      %0:32 = param 0
      %1:32 = 0
      %2:32 = div32 %0:32, %1:32
      %3:32 = mod32 %0:32, %1:32
      %4:32 = add32 %2:32, %3:32
      ret %4:32
    `,
    output: ir`
      function f
      b0:
      %0:32 = param 0
      %1:32 = 0
      %2:32 = 0
      %3:32 = %0:32
      %4:32 = %3:32
      ret %4:32
    `,
  },
  {
    name: "range-fold: a mask that a dominating branch makes redundant goes, and p + (i + c) becomes p + i with c in the offsets; without the branch, or where i + c could pass 2^32, both stay",
    pass: "range-fold",
    input: ir`
      function f
      b0:
      %0:p = param 0
      %1:32 = param 1
      br jle32 %1:32, 4092 ? b1 : b2
      b1:
      %2:32 = and32 %1:32, 4095
      %3:p = add64 %0:p, %2:32
      %4:32 = load.B [%3:p + 24]
      %5:32 = add32 %1:32, 3
      %6:32 = and32 %5:32, 4095
      %7:p = add64 %0:p, %6:32
      %8:32 = load.B [%7:p + 24]
      %9:32 = add32 %4:32, %8:32
      %10:32 = load.B [%0:p + 0]
      %11:32 = and32 %10:32, 511
      %12:32 = add32 %9:32, %11:32
      ret %12:32
      b2:
      %13:32 = and32 %1:32, 4095
      %14:p = add64 %0:p, %13:32
      %15:32 = load.B [%14:p + 24]
      %16:32 = add32 %1:32, 3
      %17:p = add64 %0:p, %16:32
      %18:32 = load.B [%17:p + 24]
      %19:32 = add32 %15:32, %18:32
      ret %19:32
    `,
    output: ir`
      function f
      b0:
      %0:p = param 0
      %1:32 = param 1
      br jle32 %1:32, 4092 ? b1 : b2
      b1:
      %2:32 = %1:32
      %3:p = add64 %0:p, %2:32
      %4:32 = load.B [%3:p + 24]
      %5:32 = add32 %1:32, 3
      %6:32 = %5:32
      %7:p = add64 %0:p, %1:32
      %8:32 = load.B [%7:p + 27]
      %9:32 = add32 %4:32, %8:32
      %10:32 = load.B [%0:p + 0]
      %11:32 = %10:32
      %12:32 = add32 %9:32, %11:32
      ret %12:32
      b2:
      %13:32 = and32 %1:32, 4095
      %14:p = add64 %0:p, %13:32
      %15:32 = load.B [%14:p + 24]
      %16:32 = add32 %1:32, 3
      %17:p = add64 %0:p, %16:32
      %18:32 = load.B [%17:p + 24]
      %19:32 = add32 %15:32, %18:32
      ret %19:32
    `,
  },
  {
    name: "range-fold keeps p + (i + c) when only i + c is checked: the verifier would bound the folded access by i's range plus c, past the check",
    pass: "range-fold",
    input: ir`
      function f
      b0:
      %0:p = param 0
      %1:32 = param 1
      br jlt32 %1:32, 128 ? b1 : b3
      b1:
      %2:32 = add32 %1:32, 1
      br jlt32 %2:32, 128 ? b2 : b3
      b2:
      %3:p = add64 %0:p, %2:32
      store.B [%3:p + 0] = %2:32
      ret 0
      b3:
      ret 1
    `,
    output: ir`
      function f
      b0:
      %0:p = param 0
      %1:32 = param 1
      br jlt32 %1:32, 128 ? b1 : b3
      b1:
      %2:32 = add32 %1:32, 1
      br jlt32 %2:32, 128 ? b2 : b3
      b2:
      %3:p = add64 %0:p, %2:32
      store.B [%3:p + 0] = %2:32
      ret 0
      b3:
      ret 1
    `,
  },
];

/** Cases that check one line of the output. */
const CONTAINS: (PassCase & { contains: string })[] = [
  {
    name: "branch-simplify: a 32-bit constant compared at 64 bits is zero-extended (a w register's -1 is 0xffffffff; generated seed 106052)",
    pass: "branch-simplify",
    input: ir`
      function f
      b0:
      %0:32 = -1
      br jlt64 %0:32, 18446744073709551614 ? b1 : b2
      b1:
      ret 1
      b2:
      ret 2
    `,
    contains: "ret 1",
  },
  {
    name: "const-fold: a 32-bit constant feeding a 64-bit phi keeps its zero-extended bits (differential seed 100176)",
    pass: "const-fold",
    input: ir`
      function f
      b0:
      %0:32 = param 0
      %1:32 = -1
      br jeq32 %0:32, 0 ? b1 : b2
      b1:
      jmp b2
      b2:
      %2:64 = phi [b0: 7], [b1: %1:32]
      ret %2:64
    `,
    contains: "%2:64 = phi [b0: 7], [b1: 4294967295]",
  },
];

describe("passes", () => {
  it("every pass of the pipeline has a test here", () => {
    expect([...PASS_NAMES].sort()).toEqual(["addr-fold","branch-simplify","const-fold","copy-prop","dce","gvn","jump-thread","out-of-ssa","range-fold","sink","ssa","store-merge","tail-merge"]);
    expect([...new Set([...EXACT, ...CONTAINS].map((c) => c.pass))].sort()).toEqual([...PASS_NAMES].sort());
  });

  it.each(EXACT.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    expect(run(c.pass, c.input, c.readOnly)).toBe(c.output);
  });

  it.each(CONTAINS.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    expect(run(c.pass, c.input, c.readOnly)).toContain(c.contains);
  });
});
