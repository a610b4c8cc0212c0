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
import { checkSqes, fullCheckSqe, quickCheckSqe, SqeError } from "../runtime/engine/sqecheck";
import { runOnFakeRing } from "./support/fakering";
import { Rng } from "./support/progen";
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
  // The MEM region also holds a struct msghdr (56 bytes at offset 32) the program fills from the globals:
  // msg_name and msg_control relative to `buf`, msg_iov the two iovecs.
  const source = `import { loopStep, u8, u32, i32, u64, FixedArray, userAddr, CONTINUE, STOP } from "uringbpf";
interface Iov { base: u64; len: u64 }
interface Msg { name: u64; namelen: u32; pad: u32; iov: u64; iovlen: u64; control: u64; controllen: u64; flags: u32; pad2: u32 }
interface M { iov: FixedArray<Iov, 2>; msg: Msg; bytes: FixedArray<u8, 424> }
export let op: u8 = 0;
export let fd: i32 = 3;
export let base: u32 = 1;
export let addrOff: u64 = 0n;
export let base2: u32 = 0;
export let addr2Off: u64 = 0n;
export let base3: u32 = 0;
export let addr3Off: u64 = 0n;
export let len: u32 = 0;
export let flags: u8 = 0;
export let opFlags: u32 = 0;
export let spliceFdIn: i32 = 0;
export let iovBase: u32 = 1;
export let iovOff: u64 = 0n;
export let iovLen: u64 = 0n;
export let nameOff: u64 = 0n;
export let namelen: u32 = 0;
export let iovlen: u64 = 0n;
export let controlOff: u64 = 0n;
export let controllen: u64 = 0n;
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
    p.msg.name = nameOff === 0n ? 0n : buf + nameOff;
    p.msg.namelen = namelen;
    p.msg.iov = userAddr(p.iov);
    p.msg.iovlen = iovlen;
    p.msg.control = controlOff === 0n ? 0n : buf + controlOff;
    p.msg.controllen = controllen;
    const e = sq.at(0);
    e.prep(op, fd, where(p, base, addrOff), len, where(p, base2, addr2Off), 1n);
    e.flags = flags;
    e.opFlags = opFlags;
    e.spliceFdIn = spliceFdIn;
    e.addr3 = where(p, base3, addr3Off);
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

  // Every family once more, each with an address just outside and a length one byte too long (issue 16).
  const MSG = 32; // the msghdr's offset in the MEM region
  const SOCKLEN = 100; // a socklen_t inside the MEM region
  it("accept: the sockaddr (sizeof(struct sockaddr_storage): *addr2 is read when a connection comes) and the length word", () => {
    const acc = { op: 13, base2: 2, addr2Off: BigInt(SOCKLEN) };
    expect(run({ ...acc, addrOff: 3968n }).get("res")).toBe(-22n); // 128 bytes up to the end of buf: checked and passed on
    refused({ ...acc, addrOff: 3969n }, /IORING_OP_ACCEPT\): addr \(the sockaddr: up to 128 bytes, sizeof\(struct sockaddr_storage\), as \*addr2 may change before a connection arrives\) = 0x[0-9a-f]+, 128 bytes the kernel would write, is not inside/);
    refused({ ...acc, addrOff: 4096n }, /IORING_OP_ACCEPT\): addr \(the sockaddr: up to 128 bytes/);
    refused({ op: 13, base: 0, addrOff: 0n, base2: 1, addr2Off: 4096n }, /IORING_OP_ACCEPT\): addr2 \(socklen_t \*\) = 0x[0-9a-f]+, 4 bytes the kernel would write/);
  });

  it("recvmsg/sendmsg: the msghdr, its name, iovecs and control data", () => {
    const msg = (op: number, x: Record<string, number | bigint> = {}) => ({ op, base: 2, addrOff: BigInt(MSG), ...x });
    expect(run(msg(10, { nameOff: 3968n, iovlen: 1n, iovLen: 4096n, controlOff: 1000n, controllen: 3096n })).get("res")).toBe(-22n);
    refused(msg(10, { addrOff: 457n }), /IORING_OP_RECVMSG\): addr \(struct msghdr, 56 bytes\) = 0x[0-9a-f]+, 56 bytes the kernel would write, is not inside/);
    refused(msg(9, { addrOff: 512n }), /IORING_OP_SENDMSG\): addr \(struct msghdr, 56 bytes\)/);
    refused(msg(10, { nameOff: 3969n }), /IORING_OP_RECVMSG\): msg_name of the msghdr at addr \(up to 128 bytes, sizeof\(struct sockaddr_storage\): msg_namelen is read when a message arrives\) = 0x[0-9a-f]+, 128 bytes the kernel would write/);
    refused(msg(9, { nameOff: 4080n, namelen: 17 }), /IORING_OP_SENDMSG\): msg_name of the msghdr at addr \(msg_namelen 17\) = 0x[0-9a-f]+, 17 bytes the kernel would read/);
    refused(msg(9, { nameOff: 4096n, namelen: 1 }), /IORING_OP_SENDMSG\): msg_name of the msghdr at addr \(msg_namelen 1\)/);
    refused(msg(10, { iovlen: 1n, iovLen: 4097n }), /IORING_OP_RECVMSG\): iovec 0 of msg_iov of the msghdr at addr \(iov_base, iov_len 4097\) = 0x[0-9a-f]+, 4097 bytes the kernel would write/);
    refused(msg(9, { iovlen: 1n, iovOff: 4096n, iovLen: 1n }), /IORING_OP_SENDMSG\): iovec 0 of msg_iov of the msghdr at addr \(iov_base, iov_len 1\) = 0x[0-9a-f]+, 1 byte the kernel would read/);
    refused(msg(9, { iovlen: 1025n }), /IORING_OP_SENDMSG\): msg_iovlen of the msghdr at addr: 1025 iovecs \(at most 1024\)/);
    refused(msg(10, { controlOff: 4000n, controllen: 97n }), /IORING_OP_RECVMSG\): msg_control of the msghdr at addr \(msg_controllen 97\) = 0x[0-9a-f]+, 97 bytes the kernel would write/);
    refused(msg(9, { controlOff: 4096n, controllen: 1n }), /IORING_OP_SENDMSG\): msg_control of the msghdr at addr \(msg_controllen 1\)/);
  });

  it("send's destination, connect's and bind's sockaddr: one byte too long, just outside", () => {
    refused({ op: 26, len: 1, base2: 1, addr2Off: 4080n, spliceFdIn: 17 }, /IORING_OP_SEND\): addr2 \(the destination sockaddr, addr_len = 17\) = 0x[0-9a-f]+, 17 bytes the kernel would read/);
    refused({ op: 26, len: 1, base2: 1, addr2Off: 4096n, spliceFdIn: 1 }, /IORING_OP_SEND\): addr2 \(the destination sockaddr, addr_len = 1\)/);
    refused({ op: 16, addrOff: 4096n, addr2Off: 1n }, /IORING_OP_CONNECT\): addr \(the sockaddr, off = 1 bytes\)/);
    refused({ op: 56, addrOff: 4080n, addr2Off: 17n }, /IORING_OP_BIND\): addr \(the sockaddr, addr2 = 17 bytes\) = 0x[0-9a-f]+, 17 bytes the kernel would read/);
    refused({ op: 56, addrOff: 4096n, addr2Off: 16n }, /IORING_OP_BIND\): addr \(the sockaddr, addr2 = 16 bytes\)/);
  });

  it("timeouts: the timespec one byte too long or just outside, for TIMEOUT, LINK_TIMEOUT and an updating TIMEOUT_REMOVE", () => {
    refused({ op: 11, addrOff: 4081n, len: 1 }, /IORING_OP_TIMEOUT\): addr \(struct __kernel_timespec, 16 bytes\) = 0x[0-9a-f]+, 16 bytes the kernel would read, is not inside/);
    refused({ op: 15, addrOff: 4096n, len: 1 }, /IORING_OP_LINK_TIMEOUT\): addr \(struct __kernel_timespec, 16 bytes\)/);
    // IORING_TIMEOUT_UPDATE (op_flags bit 1): addr2 is the new timespec
    refused({ op: 12, base: 0, opFlags: 2, base2: 1, addr2Off: 4081n }, /IORING_OP_TIMEOUT_REMOVE\): addr2 \(struct __kernel_timespec, 16 bytes\) = 0x[0-9a-f]+, 16 bytes the kernel would read/);
    refused({ op: 12, base: 0, opFlags: 2, base2: 1, addr2Off: 4096n }, /IORING_OP_TIMEOUT_REMOVE\): addr2 \(struct __kernel_timespec/);
    expect(run({ op: 12, base: 0, opFlags: 2, base2: 1, addr2Off: 4080n }).get("res")).toBe(-22n);
  });

  it("path-based: a path whose NUL is the region's last byte passes, one byte longer is refused; second paths, open_how, statx and xattr buffers", () => {
    const upTo = (last: number) => (b: Uint8Array) => {
      b.fill(0x61, 100);
      b[last] = 0;
    };
    expect(run({ op: 18, fd: -100, base: 2, addrOff: 500n }, { memInit: upTo(511) }).get("res")).toBe(-22n);
    refused({ op: 18, fd: -100, base: 2, addrOff: 500n }, /IORING_OP_OPENAT\): addr \(the path\) = 0x[0-9a-f]+: the string is not NUL-terminated inside MEM region/, { memInit: upTo(99) });
    refused({ op: 35, fd: -100, base: 2, addrOff: 500n, len: -100 >>> 0, base2: 2, addr2Off: 512n }, /IORING_OP_RENAMEAT\): addr2 \(the new path\) = 0x[0-9a-f]+, a string the kernel would read, is not inside/, { memInit: upTo(511) });
    refused({ op: 38, fd: -100, base: 2, addrOff: 500n, base2: 1, addr2Off: 4096n }, /IORING_OP_SYMLINKAT\): addr2 \(the link path\)/, { memInit: upTo(511) });
    refused({ op: 28, fd: -100, base: 2, addrOff: 500n, len: 25, base2: 1, addr2Off: 4072n }, /IORING_OP_OPENAT2\): addr2 \(struct open_how, len = 25 bytes\) = 0x[0-9a-f]+, 25 bytes the kernel would read/, { memInit: upTo(511) });
    refused({ op: 28, fd: -100, base: 2, addrOff: 500n, len: 24, base2: 1, addr2Off: 4096n }, /IORING_OP_OPENAT2\): addr2 \(struct open_how, len = 24 bytes\)/, { memInit: upTo(511) });
    refused({ op: 21, fd: -100, base: 2, addrOff: 500n, base2: 1, addr2Off: 4096n }, /IORING_OP_STATX\): addr2 \(struct statx, 256 bytes\)/, { memInit: upTo(511) });
    refused({ op: 42, base: 2, addrOff: 500n, base3: 2, addr3Off: 512n }, /IORING_OP_SETXATTR\): addr3 \(the path\) = 0x[0-9a-f]+, a string the kernel would read, is not inside/, { memInit: upTo(511) });
    refused({ op: 43, base: 2, addrOff: 500n, base2: 1, addr2Off: 4000n, len: 97 }, /IORING_OP_FGETXATTR\): addr2 \(the value, len = 97\) = 0x[0-9a-f]+, 97 bytes the kernel would write/, { memInit: upTo(511) });
    refused({ op: 41, base: 2, addrOff: 512n, base2: 1, len: 1 }, /IORING_OP_FSETXATTR\): addr \(the attribute name\)/);
  });

  it("provided buffers and epoll events: one byte too long", () => {
    refused({ op: 31, fd: 4, len: 1024, addrOff: 1n }, /IORING_OP_PROVIDE_BUFFERS\): addr \(4 provided buffers of len = 1024 bytes\) = 0x[0-9a-f]+, 4096 bytes the kernel would write, is not inside/);
    expect(run({ op: 59, addrOff: 4n, len: 341 }).get("res")).toBe(-22n);
    refused({ op: 59, addrOff: 5n, len: 341 }, /IORING_OP_EPOLL_WAIT\): addr \(the epoll_event array, len = 341 entries\) = 0x[0-9a-f]+, 4092 bytes the kernel would write/);
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

describe("the SQE check's fast path and the fields the language cannot set", () => {
  // Two owned regions at real-looking addresses; SQEs written byte by byte.
  const regionA = { name: "buffer a", base: 0x7f0000001000n, bytes: new Uint8Array(4096), writable: true, exact: true };
  const regionB = { name: "MEM region", base: 0x7f0000010000n, bytes: new Uint8Array(512), writable: true, exact: true };
  const ctx = { owned: [regionB, regionA], fds: new Set([0, 1, 2, 3]), allowUnchecked: false };
  const sqe = (fill: (d: DataView) => void) => {
    const b = new Uint8Array(64);
    fill(new DataView(b.buffer));
    return b;
  };
  const check = (b: Uint8Array, full = false) => {
    try {
      if (full) fullCheckSqe(b, 0, ctx);
      else checkSqes(b, 1, ctx);
      return "ok";
    } catch (e) {
      expect(e).toBeInstanceOf(SqeError);
      return (e as Error).message;
    }
  };

  it("read/write attributes (attr_ptr, attr_type_mask): the io_uring_attr_pi and the buffer it names", () => {
    const rw = (op: number, attr: bigint, mask: bigint, piAddr: bigint, piLen: number) => {
      // the attribute struct, where it lies inside buffer a
      const at = Number(attr - regionA.base);
      if (at >= 0 && at + 32 <= 4096) {
        const v = new DataView(regionA.bytes.buffer);
        v.setUint32(at + 4, piLen, true);
        v.setBigUint64(at + 8, piAddr, true);
      }
      return check(sqe((d) => {
        d.setUint8(0, op);
        d.setInt32(4, 3, true);
        d.setBigUint64(16, regionA.base, true);
        d.setUint32(24, op === 1 || op === 2 ? 0 : 16, true);
        d.setBigUint64(48, attr, true);
        d.setBigUint64(56, mask, true);
      }));
    };
    const end = regionA.base + 4096n;
    expect(rw(22, end - 32n, 1n, regionB.base, 512)).toBe("ok");
    expect(rw(22, end - 31n, 1n, regionB.base, 512)).toMatch(/^SQE 0 \(IORING_OP_READ\): attr_ptr \(struct io_uring_attr_pi, 32 bytes\) = 0x7f0000001fe1, 32 bytes the kernel would read, is not inside memory the run owns/);
    expect(rw(23, end, 1n, regionB.base, 512)).toMatch(/IORING_OP_WRITE\): attr_ptr \(struct io_uring_attr_pi, 32 bytes\) = 0x7f0000002000/);
    expect(rw(22, end - 32n, 1n, regionB.base, 513)).toMatch(/IORING_OP_READ\): addr of the io_uring_attr_pi at attr_ptr \(the protection information, len 513\) = 0x7f0000010000, 513 bytes the kernel would write/);
    expect(rw(2, end - 32n, 1n, regionB.base + 512n, 1)).toMatch(/IORING_OP_WRITEV\): addr of the io_uring_attr_pi at attr_ptr \(the protection information, len 1\) = 0x7f0000010200, 1 byte the kernel would read/);
    expect(rw(1, end - 32n, 2n, regionB.base, 1)).toMatch(/IORING_OP_READV\): attr_type_mask = 0x2: the engine knows only IORING_RW_ATTR_FLAG_PI/);
  });

  it("the fast path never passes an SQE the full check refuses (20000 random SQEs near the regions' edges)", () => {
    const rng = new Rng(7);
    const rnd = (n: number) => rng.int(n);
    const edges = [regionA.base, regionA.base + 4096n, regionB.base, regionB.base + 512n, 0n, 0xffffffffffffffffn, 1n << 53n];
    const addr = () => BigInt.asUintN(64, edges[rnd(edges.length)] + BigInt(rnd(64)) - 32n);
    const lens = [0, 1, 15, 16, 17, 64, 511, 512, 513, 4095, 4096, 4097, 0xffffffff];
    const ops = [0, 1, 2, 3, 6, 7, 8, 11, 14, 15, 17, 19, 22, 23, 24, 26, 27, 31, 32, 34, 45, 55, 57];
    const counts = { fast: 0, full: 0, refused: 0 };
    const bad: string[] = [];
    for (let k = 0; k < 20000; k++) {
      // iovecs in buffer a's first 64 bytes and the MEM region's first 64
      for (const r of [regionA, regionB]) {
        const v = new DataView(r.bytes.buffer);
        for (let j = 0; j < 4; j++) {
          v.setBigUint64(j * 16, addr(), true);
          v.setBigUint64(j * 16 + 8, BigInt(lens[rnd(lens.length)]), true);
        }
      }
      const b = sqe((d) => {
        d.setUint8(0, ops[rnd(ops.length)]);
        d.setUint8(1, [0, 1, 32, 33][rnd(4)]);
        d.setInt32(4, [3, 7, -100, 0][rnd(4)], true);
        d.setBigUint64(8, rnd(2) ? 0n : addr(), true);
        d.setBigUint64(16, rnd(3) === 0 ? [regionA.base, regionB.base][rnd(2)] : addr(), true);
        d.setUint32(24, rnd(2) ? rnd(6) : lens[rnd(lens.length)], true);
        d.setUint32(28, rnd(4) === 0 ? 1 : 0, true);
        d.setUint16(44, rnd(2) ? 0 : lens[rnd(lens.length)] & 0xffff, true);
        d.setBigUint64(48, addr(), true);
        d.setBigUint64(56, rnd(8) === 0 ? 1n : 0n, true);
      });
      const fast = quickCheckSqe(b, 0, ctx);
      const full = check(b, true);
      expect(check(b)).toBe(full); // the batch check (fast path first) says the same
      if (fast) counts.fast++;
      if (full === "ok") counts.full++;
      else counts.refused++;
      if (fast && full !== "ok") bad.push(`${Buffer.from(b).toString("hex")}: ${full}`);
    }
    expect(bad.slice(0, 3)).toEqual([]);
    // Both outcomes are common, and the fast path decides most of the SQEs the full check passes.
    expect(counts.refused).toBeGreaterThan(2000);
    expect(counts.full).toBeGreaterThan(2000);
    expect(counts.fast).toBeGreaterThan(counts.full * 0.8);
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

  it("the ring is entered through a registered ring fd, and closing the ring frees its slot (40 rings in turn; the kernel has 16 slots per thread)", () => {
    const addon = loadAddon();
    for (let k = 0; k < 40; k++) {
      const ring = addon.setup(8, 16, 1 << 16); // IORING_SETUP_NO_SQARRAY: slot i is SQE i
      const index = addon.registerRingFd!(ring.fd);
      expect(index).toBeGreaterThanOrEqual(0);
      expect(addon.registerRingFd!(ring.fd)).toBe(index); // registered once per ring
      // A NOP (an all-zero SQE) through the index.
      new Uint8Array(ring.sqes).fill(0, 0, 64);
      new DataView(ring.rings).setUint32(ring.sqOff.tail, 1, true);
      expect(addon.enter(index, 1, 1, 1 | addon.constants.ENTER_REGISTERED_RING!)).toBe(1);
      expect(new DataView(ring.rings).getUint32(ring.cqOff.tail, true)).toBe(1);
      addon.close(ring.fd);
    }
  });

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
