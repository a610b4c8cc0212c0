// The userspace engine's safety (issues 16 and 17), on the simulated ring only: the ring-state guard
// refuses the waits that can wedge a real kernel, the structural check refuses what the verifier refuses,
// the SQE check refuses addresses and descriptors the run does not own, and the interpreter computes
// the cpu v4 instructions as the kernel defines them (test/enginekernel.test.ts compares the v4 table with
// the kernel in the VM). Only the last block touches a real ring, with well-formed programs and the guard
// in place (a bounded wait, and an SQE refused before it is submitted).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { compileFile, compileSource, type CompileResult } from "../compiler/index";
import { readObject } from "../compiler/elf/reader";
import { loadAddon, RingStateError, TimeoutError } from "../runtime/engine/driver";
import { runInEngine } from "../cli/engine";
import { ExecutionError } from "../runtime/engine/interp";
import { ImageError } from "../runtime/engine/image";
import { verifyFunction, VerifyError } from "../runtime/engine/verify";
import { runOnFakeRing } from "./support/fakering";
import { assemble, BAD_CODE, buildV4Table, outValues, STACK_CARRY, TEMPLATE_LINE } from "./support/asm";
import { storeOffsetField } from "./support/patch";

const compile = (name: string, source: string): CompileResult => {
  const res = compileSource(name, source);
  if (!res.ok) throw new Error(JSON.stringify(res.diagnostics));
  return res;
};
const lineOf = (source: string, text: string) => source.split("\n").findIndex((l) => l.includes(text)) + 1;
const thrown = (f: () => unknown): Error => {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error, the run succeeded");
};

describe("the ring-state guard (simulated ring)", () => {
  // Step 1 submits `n` NOPs and waits for them; step 2 does what `step2` says.
  const guardProgram = (step2: string, n = 8) => `import { loopStep, u32, CONTINUE, STOP } from "uringbpf";
export let step: u32 = 0;
export let skew: u32 = 1;
export const g = loopStep((ring, lp) => {
  const sq = ring.sq();
  const cq = ring.cq();
  if (sq === null || cq === null) return STOP;
  step++;
  if (step === 1) {
    for (let i: u32 = 0; i < ${n}; i++) sq.at(i).prepNop(7n);
    ring.submit(${n});
    lp.cqWaitIdx = cq.head + ${n};
    return CONTINUE;
  }
  ${step2}
});
`;

  it("refuses to wait when the program moved the CQ head past the tail (the wedge: head 9, tail 8)", () => {
    const r = compile("wedge.ts", guardProgram("cq.head = cq.tail + skew;\n  lp.cqWaitIdx = cq.head + 8;\n  return CONTINUE;"));
    let log: { min: number }[] = [];
    const err = thrown(() => {
      const sim = runOnFakeRing(r, { cqEntries: 16 });
      log = sim.log.waits;
    });
    expect(err).toBeInstanceOf(RingStateError);
    expect(err.message).toBe(
      "the CQ head (9) is past the CQ tail (8): loop_step must keep it within [tail - 16, tail]; the engine does not wait on a ring in that state (after loop_step call 2)",
    );
    expect(log).toEqual([]);
  });

  it("refuses a head more than cq_entries behind the tail", () => {
    const r = compile("behind.ts", guardProgram("cq.head = cq.tail - skew;\n  lp.cqWaitIdx = cq.tail + 1;\n  return CONTINUE;"));
    const err = thrown(() => runOnFakeRing(r, { cqEntries: 16, set: { skew: 17 } }));
    expect(err).toBeInstanceOf(RingStateError);
    expect(err.message).toMatch(/^the CQ head \(4294967287\) is more than cq_entries behind the CQ tail \(8\): loop_step must keep it within \[tail - 16, tail\]/);
  });

  it("refuses to go on when the program wrote the CQ tail (a store to cq.head moved 4 bytes, onto the tail)", () => {
    const src = guardProgram("cq.head = cq.head + skew;\n  lp.cqWaitIdx = cq.tail;\n  return CONTINUE;");
    const res = compile("tail.ts", src);
    const bytes = Buffer.from(res.object!);
    const { field: off } = storeOffsetField(bytes, "struct_ops.s/g", "cq.head = cq.head + skew");
    bytes.writeInt16LE(bytes.readInt16LE(off) + 4, off);
    const err = thrown(() => runOnFakeRing(bytes, { set: { skew: 3 } }));
    expect(err).toBeInstanceOf(RingStateError);
    expect(err.message).toBe("loop_step wrote the CQ tail (8 -> 3): the tail belongs to the kernel; the engine does not wait on a ring in that state (after loop_step call 2)");
  });

  it("refuses a wait for a completion when nothing is in flight (lp.cqWaitIdx = cq.head + 1)", () => {
    const src = `import { loopStep, CONTINUE, STOP } from "uringbpf";
export const idle = loopStep((ring, lp) => {
  const cq = ring.cq();
  if (cq === null) return STOP;
  lp.cqWaitIdx = cq.head + 1;
  return CONTINUE;
});
`;
    const err = thrown(() => runOnFakeRing(compile("idle.ts", src)));
    expect(err).toBeInstanceOf(RingStateError);
    expect(err.message).toBe("loop_step asks to wait for CQ index 1 (1 more completion) but no request is in flight: nothing can complete the wait, so the engine does not wait (after loop_step call 1)");
  });

  it("refuses a wait for more completions than requests in flight", () => {
    // 8 NOPs complete at once; step 2 waits for 9 more.
    const r = compile("more.ts", guardProgram("cq.head = cq.tail;\n  lp.cqWaitIdx = cq.tail + 9;\n  return CONTINUE;"));
    const err = thrown(() => runOnFakeRing(r, { cqEntries: 16 }));
    expect(err.message).toMatch(/^loop_step asks to wait for CQ index 17 \(9 more completions\) but no request is in flight/);
  });

  it("a full CQ overflows into the kernel's list; waiting for more without consuming is refused, consuming then waiting works", () => {
    const src = (consume: boolean) => `import { loopStep, u32, CONTINUE, STOP } from "uringbpf";
export let step: u32 = 0;
export let seen: u32 = 0;
export const ov = loopStep((ring, lp) => {
  const sq = ring.sq();
  const cq = ring.cq();
  if (sq === null || cq === null) return STOP;
  step++;
  if (step === 1) {
    for (let k: u32 = 0; k < 3; k++) {
      for (let i: u32 = 0; i < 8; i++) sq.at(i).prepNop(5n);
      ring.submit(8);
    }
    ${consume ? "seen += cq.tail - cq.head;\n    cq.head = cq.tail;\n    lp.cqWaitIdx = cq.tail + 8;" : "lp.cqWaitIdx = cq.head + 20;"}
    return CONTINUE;
  }
  seen += cq.tail - cq.head;
  cq.head = cq.tail;
  return STOP;
});
`;
    const bad = thrown(() => runOnFakeRing(compile("ov.ts", src(false)), { cqEntries: 16 }));
    expect(bad).toBeInstanceOf(RingStateError);
    expect(bad.message).toBe(
      "loop_step asks to wait for CQ index 20 (4 more completions) but the CQ has room for only 0 (head 0, tail 16, 16 entries) and completions wait in the overflow list: loop_step must consume CQEs before waiting for more (after loop_step call 1)",
    );
    const good = runOnFakeRing(compile("ov.ts", src(true)), { cqEntries: 16 });
    expect([good.ret, good.get("seen"), good.log.waits.map((w) => w.min)]).toEqual([1n, 24n, [0, 0]]);
  });

  it("a wait that can never end stops at --timeout (virtual time on the simulated ring)", () => {
    const src = `import { loopStep, u32, u64, i32, CONTINUE, STOP } from "uringbpf";
export let fd: i32 = 9;
export let buf: u64 = 0n;
export let started: u32 = 0;
export const stuck = loopStep((ring, lp) => {
  const sq = ring.sq();
  const cq = ring.cq();
  if (sq === null || cq === null) return STOP;
  if (started === 0) {
    sq.at(0).prepRead(fd, buf, 16, 0n, 1n);
    ring.submit(1);
    started = 1;
  }
  lp.cqWaitIdx = cq.head + 1;
  return CONTINUE;
});
`;
    let sim: ReturnType<typeof runOnFakeRing> | undefined;
    const err = thrown(() => (sim = runOnFakeRing(compile("stuck.ts", src), { stalled: [9], buffers: { buf: 16 }, timeoutSec: 5 })));
    expect(sim).toBeUndefined();
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err.message).toBe("the run did not finish within 5 s (--timeout); stopped after 1 loop_step calls");
  });
});

describe("structural checks before a run (what the verifier refuses outright)", () => {
  const at = `at v4.ts:4: ${TEMPLATE_LINE.trim()})`;
  const cases = BAD_CODE.map((c) => [c.name, c.code, c.message] as const);
  it.each(cases)("refuses %s with the instruction, its disassembly and the TypeScript line", (_name, code, message) => {
    const err = thrown(() => runOnFakeRing(assemble(code)));
    expect(err).toBeInstanceOf(VerifyError);
    expect(err.message).toMatch(/stack/.test(_name) ? /^the engine refuses to run v4: / : /^the kernel verifier would refuse v4: /);
    expect(err.message).toMatch(message);
    expect(err.message.endsWith(at)).toBe(true);
  });

  it("refuses relocations against unknown symbols and kfuncs the engine does not provide", () => {
    const known = { helpers: new Set([6]), kfuncs: new Set(["bpf_io_uring_submit_sqes"]), subprograms: new Set<string>(), global: (s: string) => s === "out" };
    const exit = [{ opcode: 0xb7, dst: 0, src: 0, off: 0, imm: 1 }, { opcode: 0x95, dst: 0, src: 0, off: 0, imm: 0 }];
    const ld = (symbol: string) => ({ opcode: 0x18, dst: 1, src: 0, off: 0, imm: 0, imm64: 0n, reloc: { kind: "global" as const, symbol } });
    expect(() => verifyFunction("f", [ld("out"), ...exit], false, known)).not.toThrow();
    expect(() => verifyFunction("f", [ld("nosuch"), ...exit], false, known)).toThrow(/^the kernel verifier would refuse f: ld_imm64 relocated against an unknown symbol nosuch \(instruction 0, slot 0: r1 = &nosuch ll\)$/);
    const call = (kind: "kfunc" | "call", symbol: string, src: number) => ({ opcode: 0x85, dst: 0, src, off: 0, imm: -1, reloc: { kind, symbol } });
    expect(() => verifyFunction("f", [call("kfunc", "bpf_io_uring_submit_sqes", 2), ...exit], false, known)).not.toThrow();
    expect(() => verifyFunction("f", [call("kfunc", "bpf_rdonly_cast", 2), ...exit], false, known)).toThrow(/call of a kfunc the engine does not provide \(bpf_rdonly_cast\)/);
    expect(() => verifyFunction("f", [call("call", "helper", 1), ...exit], false, known)).toThrow(/call of an unknown subprogram helper/);
  });

  it("accepts every sample, fixture-style program and the v4 table", () => {
    for (const s of ["nops", "cp", "drain", "peek", "qd", "records", "spin", "waitsteps"]) {
      const res = compileFile(path.join(__dirname, "..", "samples", `${s}.ts`));
      expect(() => runOnFakeRing(res, { maxSteps: 1, mem: 70000, files: new Map([[3, { data: new Uint8Array(0), size: 0 }]]) })).not.toThrow(VerifyError);
    }
    expect(() => runOnFakeRing(buildV4Table().object)).not.toThrow();
  });

  it("the stack does not carry over between loop_step calls (run without the check)", () => {
    const object = assemble(STACK_CARRY, 2);
    const r = runOnFakeRing(object, { noVerify: true });
    expect(outValues(r.result.globals.out)).toEqual([3n, 0n]);
    expect(thrown(() => runOnFakeRing(object)).message).toMatch(/invalid read from stack at fp-8/);
  });
});

describe("cpu v4 instructions in the interpreter", () => {
  const t = buildV4Table();
  const out = outValues(runOnFakeRing(t.object).result.globals.out);
  const v = (label: string) => {
    const i = t.labels.indexOf(label);
    if (i < 0) throw new Error(`no case ${label}`);
    return BigInt.asIntN(64, out[i]);
  };
  const I64_MIN = -(1n << 63n);
  it.each([
    ["sdiv64 -10 7", -1n], ["smod64 -10 7", -3n], ["sdiv64 7 -3", -2n], ["smod64 7 -3", 1n], ["sdiv64 -10 imm -3", 3n], ["smod64 -10 imm 3", -1n],
    [`sdiv64 ${I64_MIN} -1`, I64_MIN], [`smod64 ${I64_MIN} -1`, 0n], ["sdiv64 -10 0", 0n], ["smod64 -10 0", -10n],
    ["udiv64 -10 7", 2635249153387078800n], ["umod64 7 0", 7n],
    ["sdiv32 2147483648 -1", 0x80000000n], ["smod32 2147483648 -1", 0n], ["sdiv32 -10 imm 3", 0xfffffffdn], ["smod32 -10 0", 0xfffffff6n], ["sdiv32 4294967286 2", 0xfffffffbn], ["smod32 4294967303 -3", 1n],
    ["movsx64 8 128", -128n], ["movsx64 16 32768", -32768n], ["movsx64 32 2147483648", -2147483648n], ["movsx64 8 127", 127n], ["movsx32 8 255", 0xffffffffn], ["movsx32 16 32767", 0x7fffn],
    ["ldsx 8 128", -128n], ["ldsx 16 65535", -1n], ["ldsx 32 2147483647", 2147483647n], ["ldsx 32 -2147483648", -2147483648n],
    ["bswap16 1311768467463790320", 0xf0den], ["bswap32 1311768467463790320", 0xf0debc9an], ["bswap64 1311768467463790320", BigInt.asIntN(64, 0xf0debc9a78563412n)],
    ["le16 1311768467463790320", 0xdef0n], ["le64 -1", -1n], ["be32 1311768467463790320", 0xf0debc9an],
    ["gotol forward, back, forward", 103n], ["gotol onto an ld_imm64", 42n],
  ])("%s = %s", (label, want) => {
    expect(v(label)).toBe(want);
  });
});

describe("the SQE check (simulated ring)", () => {
  // One SQE from the globals, submitted once; its CQE's res read back. `base` chooses what addr and addr2
  // are relative to: 0 absolute, 1 the --buffer `buf`, 2 the MEM region. The MEM region holds two iovecs
  // (filled from the globals) and 480 bytes.
  const source = `import { loopStep, u8, u32, i32, u64, FixedArray, userAddr, CONTINUE, STOP } from "uringbpf";
interface Iov { base: u64; len: u64 }
interface M { iov: FixedArray<Iov, 2>; bytes: FixedArray<u8, 480> }
export let op: u8 = 0;
export let fd: i32 = 3;
export let base: u32 = 1;
export let addrOff: u64 = 0n;
export let base2: u32 = 0;
export let addr2Off: u64 = 0n;
export let len: u32 = 0;
export let flags: u8 = 0;
export let iovBase: u32 = 1;
export let iovOff: u64 = 0n;
export let iovLen: u64 = 0n;
export let buf: u64 = 0n;
export let res: i32 = 99;
export let step: u32 = 0;
function where(p: M, b: u32, off: u64): u64 {
  if (b === 1) return buf + off;
  if (b === 2) return userAddr(p.iov) + off;
  return off;
}
export const s = loopStep((ring, lp) => {
  const sq = ring.sq();
  const cq = ring.cq();
  const p = ring.mem<M>();
  if (sq === null || cq === null || p === null) return STOP;
  step++;
  if (step === 1) {
    p.iov[0].base = where(p, iovBase, iovOff);
    p.iov[0].len = iovLen;
    const e = sq.at(0);
    e.prep(op, fd, where(p, base, addrOff), len, where(p, base2, addr2Off), 1n);
    e.flags = flags;
    ring.submit(1);
    lp.cqWaitIdx = cq.head + 1;
    return CONTINUE;
  }
  if (cq.head !== cq.tail) {
    res = cq.at(cq.head).res;
    cq.head = cq.head + 1;
  }
  return STOP;
});
`;
  const res = compile("sqe.ts", source);
  const submitLine = lineOf(source, "ring.submit(1);");
  const files = () => new Map([[3, { data: new Uint8Array(8192).fill(1), size: 8192 }]]);
  const run = (set: Record<string, number | bigint>, extra: { allowUncheckedSqes?: boolean; memInit?: (b: Uint8Array) => void } = {}) =>
    runOnFakeRing(res, { set, buffers: { buf: 4096 }, mem: 512, files: files(), ...extra });
  const refused = (set: Record<string, number | bigint>, message: RegExp, extra: { memInit?: (b: Uint8Array) => void } = {}) => {
    const err = thrown(() => run(set, extra));
    expect(err).toBeInstanceOf(ExecutionError);
    expect(err.message).toMatch(message);
    expect(err.message).toContain(`at sqe.ts:${submitLine}: ring.submit(1);)`);
    return err.message;
  };

  it("read/write: a buffer one byte too long or just outside is refused; inside it runs", () => {
    expect(run({ op: 22, len: 4096 }).get("res")).toBe(4096n);
    expect(run({ op: 23, len: 100, addrOff: 3996n }).get("res")).toBe(100n);
    refused({ op: 22, len: 4097 }, /^bpf_io_uring_submit_sqes: SQE 0 \(IORING_OP_READ\): addr \(the buffer, len = 4097\) = 0x[0-9a-f]+, 4097 bytes the kernel would write, is not inside memory the run owns \(nearest: buffer buf at 0x[0-9a-f]+, 4096 bytes\); the engine does not submit it \(instruction \d+ at/);
    refused({ op: 23, len: 1, addrOff: 4096n }, /SQE 0 \(IORING_OP_WRITE\): addr \(the buffer, len = 1\) = 0x[0-9a-f]+, 1 byte the kernel would read, is not inside memory the run owns/);
    refused({ op: 22, len: 16, base: 0, addrOff: 0x7fff0000n }, /IORING_OP_READ\): addr \(the buffer, len = 16\) = 0x7fff0000/);
  });

  it("vectored: the iovec array and each buffer it names must be owned", () => {
    expect(run({ op: 1, base: 2, len: 1, iovLen: 4096n }).get("res")).toBe(-22n); // checked, then the simulation refuses READV
    refused({ op: 1, base: 2, len: 1, iovLen: 4097n }, /SQE 0 \(IORING_OP_READV\): iovec 0 of addr \(iov_base, iov_len 4097\) = 0x[0-9a-f]+, 4097 bytes the kernel would write, is not inside/);
    refused({ op: 2, base: 2, len: 1, iovBase: 1, iovOff: 4096n, iovLen: 1n }, /IORING_OP_WRITEV\): iovec 0 of addr .* 1 byte the kernel would read/);
    refused({ op: 1, base: 2, addrOff: 497n, len: 1, iovLen: 1n }, /IORING_OP_READV\): addr \(the iovec array, 1 entries\) = 0x[0-9a-f]+, 16 bytes the kernel would read, is not inside/);
  });

  it("socket: send/recv buffers, a sockaddr and its length one byte too long or outside", () => {
    refused({ op: 27, len: 4097 }, /IORING_OP_RECV\): addr \(the buffer, len = 4097\)/);
    refused({ op: 26, len: 1, addrOff: 4096n }, /IORING_OP_SEND\): addr \(the buffer, len = 1\)/);
    // CONNECT: the sockaddr's length is in off (addr2)
    refused({ op: 16, addrOff: 4080n, base2: 0, addr2Off: 17n }, /IORING_OP_CONNECT\): addr \(the sockaddr, off = 17 bytes\) = 0x[0-9a-f]+, 17 bytes the kernel would read/);
    // ACCEPT: addr2 points at the socklen_t
    refused({ op: 13, base: 0, addrOff: 0n, base2: 1, addr2Off: 4093n }, /IORING_OP_ACCEPT\): addr2 \(socklen_t \*\) = 0x[0-9a-f]+, 4 bytes the kernel would write/);
  });

  it("timeout: the timespec must be owned for its 16 bytes", () => {
    refused({ op: 11, base: 2, addrOff: 497n, len: 1 }, /IORING_OP_TIMEOUT\): addr \(struct __kernel_timespec, 16 bytes\) = 0x[0-9a-f]+, 16 bytes the kernel would read/);
    refused({ op: 11, base: 1, addrOff: 4096n, len: 1 }, /IORING_OP_TIMEOUT\): addr \(struct __kernel_timespec, 16 bytes\)/);
    refused({ op: 15, base: 1, addrOff: 4081n, len: 1 }, /IORING_OP_LINK_TIMEOUT\): addr \(struct __kernel_timespec/);
  });

  it("path-based: a path just outside, or not NUL-terminated inside the region, is refused", () => {
    const fill = (b: Uint8Array) => b.fill(0x61, 32);
    refused({ op: 18, fd: -100, base: 2, addrOff: 508n }, /IORING_OP_OPENAT\): addr \(the path\) = 0x[0-9a-f]+: the string is not NUL-terminated inside MEM region/, { memInit: fill });
    refused({ op: 36, fd: -100, base: 2, addrOff: 512n }, /IORING_OP_UNLINKAT\): addr \(the path\) = 0x[0-9a-f]+, a string the kernel would read, is not inside memory the run owns/);
    refused({ op: 21, fd: -100, base: 2, addrOff: 32n, base2: 1, addr2Off: 3841n }, /IORING_OP_STATX\): addr2 \(struct statx, 256 bytes\) = 0x[0-9a-f]+, 256 bytes the kernel would write/);
    // a path inside, NUL-terminated: checked and passed on (the simulation has no openat: -EINVAL)
    expect(run({ op: 18, fd: -100, base: 2, addrOff: 32n }).get("res")).toBe(-22n);
  });

  it("provided buffers: nbufs * len must fit", () => {
    expect(run({ op: 31, fd: 4, len: 1024 }).get("res")).toBe(-22n);
    refused({ op: 31, fd: 4, len: 1025 }, /IORING_OP_PROVIDE_BUFFERS\): addr \(4 provided buffers of len = 1025 bytes\) = 0x[0-9a-f]+, 4100 bytes the kernel would write/);
    refused({ op: 31, fd: 1, len: 1, addrOff: 4096n }, /IORING_OP_PROVIDE_BUFFERS\): addr \(1 provided buffers of len = 1 bytes\)/);
    // a read that selects a provided buffer has no address of its own to check
    expect(run({ op: 22, base: 0, addrOff: 0x7fff0000n, len: 64, flags: 32 }).get("res")).toBe(-14n);
  });

  it("descriptors the run does not own, and opcodes the engine cannot check, are refused", () => {
    refused({ op: 23, fd: 7, len: 1 }, /IORING_OP_WRITE\): fd = 7 is not a descriptor the run owns \(3: stdio, --open files and descriptors its requests created\)/);
    refused({ op: 19, fd: 5 }, /IORING_OP_CLOSE\): fd = 5 is not a descriptor the run owns/);
    expect(run({ op: 3, fd: 3 }).get("res")).toBe(0n); // FSYNC of an owned descriptor
  });

  it("an opcode the engine cannot check is refused unless allowed explicitly", () => {
    const msg = refused({ op: 40, fd: 3 }, /IORING_OP_MSG_RING\): the engine cannot check what this opcode makes the kernel touch \(another ring\); --allow-unchecked-sqes submits such SQEs anyway/);
    expect(msg).toContain("letting the kernel read or write any memory of this process for the program");
    expect(run({ op: 40, fd: 3 }, { allowUncheckedSqes: true }).get("res")).toBe(-22n);
    refused({ op: 99 }, /IORING_OP_#99\): the engine cannot check .* \(an opcode the engine does not know\)/);
  });

  it("cp with --buffer buf=4096 --set bufSize=1048576 stops at the submit with its line", () => {
    const file = path.join(__dirname, "..", "samples", "cp.ts");
    const cp = compileFile(file);
    const fs2 = new Map([[3, { data: new Uint8Array(10000), size: 10000 }], [4, { data: new Uint8Array(0), size: 0 }]]);
    const err = thrown(() => runOnFakeRing(cp, { files: fs2, buffers: { buf: 4096 }, set: { inFd: 3, outFd: 4, bufSize: 1048576 } }));
    expect(err).toBeInstanceOf(ExecutionError);
    expect(err.message).toMatch(/^bpf_io_uring_submit_sqes: SQE 0 \(IORING_OP_READ\): addr \(the buffer, len = 1048576\) = 0x[0-9a-f]+, 1048576 bytes the kernel would write, is not inside memory the run owns \(nearest: buffer buf at 0x[0-9a-f]+, 4096 bytes\); the engine does not submit it \(instruction \d+ at samples\/cp\.ts:\d+: /);
    expect(err.message).toMatch(/ring\.submit\(1\)/);
  });
});

describe("mutated objects on the simulated ring", () => {
  it("400 byte mutations of nops.o's code end in a refusal, a run-time error or a result, never a JavaScript error", () => {
    const base = Buffer.from(compileFile(path.join(__dirname, "..", "samples", "nops.ts")).object!);
    const sec = readObject(base).section("struct_ops.s/nops")!;
    let seed = 20261201;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const outcomes: Record<string, number> = {};
    const bad: string[] = [];
    for (let k = 0; k < 400; k++) {
      const b = Buffer.from(base);
      for (let m = 0; m < 1 + Math.floor(rnd() * 3); m++) {
        const at = sec.offset + Math.floor(rnd() * sec.size);
        b[at] = rnd() < 0.5 ? b[at] ^ (1 << Math.floor(rnd() * 8)) : Math.floor(rnd() * 256);
      }
      let kind = "ok";
      try {
        runOnFakeRing(b, { set: { reqsToRun: 20 }, maxSteps: 200, timeoutSec: 10 });
      } catch (e) {
        const err = e as Error;
        kind = e instanceof ImageError ? "image" : e instanceof VerifyError ? "verify" : e instanceof ExecutionError ? "run" : e instanceof RingStateError ? "ring" : e instanceof TimeoutError ? "timeout" : /^loop_step called 200 times/.test(err.message) ? "steps" : "other";
        if (kind === "other") bad.push(`mutant ${k}: ${err.constructor.name}: ${err.message}`);
      }
      outcomes[kind] = (outcomes[kind] ?? 0) + 1;
    }
    expect(bad).toEqual([]);
    // The structural check refuses most mutants before they run; some still run to a result.
    expect(outcomes.verify).toBeGreaterThan(100);
    expect(outcomes.ok).toBeGreaterThan(10);
  }, 120_000);
});

let haveAddon = true;
try {
  loadAddon();
} catch (e) {
  haveAddon = false;
  if (process.env.CI) throw e;
  console.warn(`skipping the real-ring cases: ${(e as Error).message}`);
}

describe.skipIf(!haveAddon)("the same checks on a real ring (cli/engine.ts)", () => {
  const cli = (file: string, flags: Parameters<typeof runInEngine>[1]) => {
    let out = "";
    let err = "";
    const code = runInEngine(file, flags, { out: (x) => (out += x), err: (x) => (err += x) });
    return { code, out, err };
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ubpf-engsafe-"));

  it("a run past --timeout stops with exit 2 (a 30 s timeout request, --timeout 1); the request is cancelled", () => {
    const file = path.join(dir, "slow.ts");
    fs.writeFileSync(
      file,
      `import { loopStep, i64, u32, FixedArray, userAddr, CONTINUE, STOP } from "uringbpf";
interface M { sec: i64; nsec: i64 }
let started: u32 = 0;
export const slow = loopStep((ring, lp) => {
  const sq = ring.sq();
  const cq = ring.cq();
  const p = ring.mem<M>();
  if (sq === null || cq === null || p === null) return STOP;
  if (started === 0) {
    p.sec = 30n;
    sq.at(0).prepTimeout(userAddr(p.sec), 0n, 0, 1n);
    ring.submit(1);
    started = 1;
  }
  lp.cqWaitIdx = cq.head + 1;
  return CONTINUE;
});
`,
    );
    const t0 = Date.now();
    const r = cli(file, { timeout: 1, json: true });
    expect([r.code, JSON.parse(r.out).stage]).toEqual([2, "timeout"]);
    expect(JSON.parse(r.out).error).toMatch(/^the run did not finish within 1 s \(--timeout\); stopped after 1 loop_step calls$/);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it("cp with --buffer buf=4096 --set bufSize=1048576: the READ is refused before it reaches the ring, exit 1", () => {
    fs.writeFileSync(path.join(dir, "in"), Buffer.alloc(10000, 7));
    const r = cli(path.join(__dirname, "..", "samples", "cp.ts"), { open: [`inFd=${dir}/in`, `outFd=${dir}/out:w`], buffer: ["buf=4096"], set: ["bufSize=1048576"] });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/program: run error: bpf_io_uring_submit_sqes: SQE 0 \(IORING_OP_READ\): addr \(the buffer, len = 1048576\) = 0x[0-9a-f]+, 1048576 bytes the kernel would write, is not inside memory the run owns \(nearest: buffer buf at 0x[0-9a-f]+, 4096 bytes\); the engine does not submit it \(instruction \d+ at .*cp\.ts:\d+: const submitted = ring\.submit\(1\);\)/);
    expect(fs.statSync(path.join(dir, "out")).size).toBe(0);
  });

  it("a structurally invalid object is refused before it runs: exit 1, stage verify", () => {
    const file = path.join(dir, "r11.o");
    fs.writeFileSync(file, assemble([{ opcode: 0xb7, dst: 11, src: 0, off: 0, imm: 1 }, { opcode: 0xb7, dst: 0, src: 0, off: 0, imm: 1 }, { opcode: 0x95, dst: 0, src: 0, off: 0, imm: 0 }]));
    const r = cli(file, { json: true });
    expect([r.code, JSON.parse(r.out).stage]).toEqual([1, "verify"]);
    expect(JSON.parse(r.out).error).toBe("the kernel verifier would refuse v4: invalid register r11 (dst_reg; registers are r0-r10) (instruction 0, slot 0: r11 = 1 at v4.ts:4: out = 7n;)");
  });
});
