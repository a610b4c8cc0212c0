// The userspace engine's loop driver: runs a loop_step object's BPF code in the interpreter the way
// io_uring/loop.c drives it in the kernel, over a ring backend: a REAL io_uring ring in this process (the
// Node-API addon, runtime/addon; kernels without io_uring_bpf_ops, no root) or the simulated ring the tests
// use (test/support/fakering.ts). The loop, the ring-state guard, the SQE check, the globals and the MEM
// region are this file's alone: a backend only moves bytes between the program's regions and its ring.
//
// Submission on the real ring (region 2, bpf_io_uring_submit_sqes(n) = "the first n SQEs"):
// - When the kernel accepts IORING_SETUP_SQ_REWIND (Linux 7.1+), region 2 IS the ring's SQE array and the
//   kfunc is io_uring_enter(fd, n, 0, 0): the kernel reads entries 0..n-1 and leaves head and tail at 0.
// - Otherwise (6.18 here: setup fails with EINVAL and the driver retries without it) the program writes a
//   shadow SQE array of the same size; the kfunc copies shadow entries 0..n-1 into the ring's slots
//   tail..tail+n-1 (mod entries), publishes tail + n and calls io_uring_enter(fd, n, 0, 0). With
//   NO_SQARRAY the kernel consumes exactly slots head..tail-1, and every SQE is consumed during that
//   enter (the SQ is empty again when it returns, head == tail), so the slots written never hold an SQE the
//   kernel has yet to read, and the program's view (entries from 0) is what SQ_REWIND gives it. The SQ
//   tail is the driver's own count, never read back from memory the program can write.
// Buffers and the MEM region are real memory mapped in the interpreter at their real addresses, so the
// kernel can read and write what the program points it at (and nothing else: runtime/engine/sqecheck.ts).
//
// The guard (issue 17): a hostile program once moved the shared CQ head past the tail and the driver
// asked the kernel to wait for 4294967295 completions, which wedged the process in the kernel for good.
// Before every io_uring_enter the driver checks the ring's state (the CQ head within [tail - entries,
// tail], the tail where the kernel left it), and it waits only for completions that can come: no more than
// the requests in flight (counted from submissions and the CQEs the kernel posted), within the CQ's room,
// for a bounded time (--timeout). Anything else stops the run with a RingStateError.

import * as fs from "fs";
import { Memory, run, type Region } from "./interp";
import { checkRunnable, decodeValue, geometryHint, loadImage, type Image, type ImageGlobal } from "./image";
import { runTranslated } from "./translate";
import { decodeTrap, geometryValues } from "../../compiler/contract/geometry";
import { resolveMapAssigns, resolveMem, resolveSet, splitAssign, writeBits } from "../assign";
import { iterKfuncs } from "./iter";
import { baseHelpers } from "./helpers";
import { EngineMaps, imageMapSpecs } from "./maps";
import { checkSqes, FD_CREATORS, type SqeCheckContext } from "./sqecheck";
import { verifyImage } from "./verify";
import { loadEngineAddon } from "../addon/load";
import type { CompileResult } from "../../compiler/index";
import { isAtomic } from "../../compiler/bpf/decode";
import type { Insn } from "../../compiler/bpf/insn";

const SETUP = { SINGLE_ISSUER: 1 << 12, DEFER_TASKRUN: 1 << 13, NO_SQARRAY: 1 << 16, CQSIZE: 1 << 3, TASKRUN_FLAG: 1 << 9 };
const ENTER_GETEVENTS = 1;
const SQ_CQ_OVERFLOW = 1 << 1;
const SQ_TASKRUN = 1 << 2;
const CQE_F_MORE = 1 << 1;
const ETIME = 62;
const EINTR = 4;
/** Set once the kernel has rejected IORING_SETUP_SQ_REWIND: later runs go straight to the emulation. */
let sqRewindRejected = false;

/** The addon's interface (runtime/addon/uring.c). */
export interface Addon {
  setup(sq: number, cq: number, flags: number): {
    fd: number;
    sqEntries: number;
    cqEntries: number;
    sqOff: { head: number; tail: number; ringMask: number; flags: number };
    cqOff: { head: number; tail: number; ringMask: number; cqes: number };
    flags: number;
    rings: ArrayBuffer;
    sqes: ArrayBuffer;
  };
  /** timeoutNs > 0 bounds a GETEVENTS wait (-ETIME when it passes). */
  enter(fd: number, toSubmit: number, minComplete: number, flags: number, timeoutNs?: number): number;
  alloc(size: number): { buffer: ArrayBuffer; addr: bigint };
  free(addr: bigint): void;
  registerMemRegion(fd: number, addr: bigint, size: number): number;
  close(fd: number): void;
  constants: { SETUP_SQ_REWIND: number };
}

/** Where the ring's indices sit in region 1 (the rings structure), as io_uring_setup reports them. */
export interface RingOffsets {
  sqFlags: number;
  cqHead: number;
  cqTail: number;
  cqes: number;
}

/**
 * A ring the driver runs a program against: the real one (realRing) or a simulation (the tests').
 * Region 1 and region 2 are the backend's bytes; everything else (guard, SQE check, globals) is the driver's.
 */
export interface RingBackend {
  readonly sqEntries: number;
  readonly cqEntries: number;
  readonly off: RingOffsets;
  /** Region 1: the rings structure up to the end of the CQE array. */
  readonly cqBytes: Uint8Array;
  /** Region 2: the SQE array the program fills (sqEntries * 64 bytes). */
  readonly sqBytes: Uint8Array;
  readonly submission: "sq_rewind" | "emulated" | "simulated";
  /** The ring sets IORING_SQ_TASKRUN in the SQ flags whenever deferred task work is pending
   *  (IORING_SETUP_TASKRUN_FLAG): a wait for nothing may then be skipped when the flag is clear. */
  readonly taskrunFlag?: boolean;
  /** The run's address space, once it exists (a simulation resolves the SQEs' addresses in it). */
  attach?(mem: Memory): void;
  /** Memory the program may hand to the ring (a --buffer, the MEM region), mapped into `mem`. */
  alloc(mem: Memory, name: string, size: number): Region;
  /** Register the MEM region with the ring (IORING_REGISTER_MEM_REGION); 0 or -errno. */
  registerMemRegion(r: Region): number;
  /** Submit entries 0..n-1 of region 2: the number the kernel took, or -errno. */
  submit(n: number): number;
  /** io_uring_enter(0, min, GETEVENTS) bounded by timeoutNs: >= 0, or -errno (-ETIME: the time passed). */
  getEvents(min: number, timeoutNs: number): number;
  /** Nanoseconds on the backend's clock (the simulation's is virtual). */
  now(): bigint;
  /** Open a --open file for the run; returns its descriptor. */
  open(file: string, mode: string): number;
  /** Descriptors the run owns without opening them (stdio on the real ring, the simulated files). */
  readonly initialFds: number[];
  close(): void;
}

export interface EngineOptions {
  set?: string[];
  open?: string[];
  buffer?: string[];
  mem?: string[];
  /** `--map NAME[KEY]PATH=VALUE` map presets (the loader's --map; grammar in runtime/assign.ts resolveMapAssign). */
  map?: string[];
  memRegion?: number;
  /** Fill the MEM region before the run (after --mem), for tests. */
  memInit?: (bytes: Uint8Array) => void;
  sqEntries?: number;
  cqEntries?: number;
  prog?: string;
  /** Log each step's submitted SQEs and consumed CQEs (to `log`, default stderr). */
  trace?: boolean;
  /** Ask for IORING_SETUP_SQ_REWIND (default true; the driver falls back to emulating it). */
  sqRewind?: boolean;
  log?: (line: string) => void;
  /** Stop after this many loop_step calls (default 100 million). */
  maxSteps?: number;
  /** Stop the run after this many seconds (default 60, as `uringbpf run --timeout`): TimeoutError. */
  timeoutSec?: number;
  /** Submit SQEs the engine cannot check (see runtime/engine/sqecheck.ts): the kernel may then read or
   *  write any memory of this process on the program's behalf. */
  allowUncheckedSqes?: boolean;
  /** Skip the structural check of the object (runtime/engine/verify.ts): tests of the run-time checks. */
  noVerify?: boolean;
  /** Abort one loop_step call after this many instructions (the interpreter's default otherwise). */
  maxInsns?: number;
  /** The ring implementation (default: the liburing addon). The fuzz harness passes a simulated ring. */
  addon?: Addon;
  /** Run the BPF code in the reference interpreter instead of its JavaScript translation (slower). */
  interpreter?: boolean;
  /** Set everything up (ring, globals, --set, --mem) but do not call loop_step. */
  noRun?: boolean;
  /** The clock of bpf_ktime_get_ns / bpf_ktime_get_boot_ns (default CLOCK_MONOTONIC), for tests. */
  clock?: () => bigint;
}

export interface EngineResult {
  prog: string;
  /** 0 when the program returned STOP, -22 when it returned something else. */
  ret: number;
  /** What the last loop_step call returned. */
  r0: number;
  steps: number;
  runNs: number;
  insnsExecuted: number;
  /** How submissions reached the ring: the kernel's SQ_REWIND, the driver's emulation of it, or the simulation. */
  submission: "sq_rewind" | "emulated" | "simulated";
  globals: Record<string, unknown>;
  mem?: unknown;
  /** Every map after the run, as the loader prints them (absent when the object has none). */
  maps?: Record<string, unknown[]>;
  /** The MEM region's bytes after the run. */
  memBytes?: Uint8Array;
  /** The --buffer regions' bytes after the run (copies: the real memory is freed when the run ends). */
  buffers: Record<string, Uint8Array>;
  trace: string[];
  /** False with noRun (loop_step was not called). */
  ran: boolean;
  /** A failed run-time check (uringbpf_trap != 0): its source line from line_info. */
  trap?: { line: number; kind: "loop" | "check"; file: string | null; source: string | null };
}

/**
 * The ring was in a state, or the program asked for a wait, that the engine refuses (see the top): the
 * program's fault, reported like a failed run-time check (exit 1), with the step it happened after.
 */
export class RingStateError extends Error {
  constructor(message: string, readonly step: number) {
    super(`${message} (after loop_step call ${step})`);
  }
}

/** The run went past its time limit (exit 2, as the kernel path's --timeout). */
export class TimeoutError extends Error {
  constructor(readonly seconds: number, readonly steps: number, readonly hint?: string) {
    super(`the run did not finish within ${seconds} s (--timeout); stopped after ${steps} loop_step calls${hint ? `. Note: ${hint}` : ""}`);
  }
}

/** The engine addon: prebuilt in the package, built by scripts/deps.sh, or from source (runtime/addon/load.ts). */
export function loadAddon(): Addon {
  return loadEngineAddon() as unknown as Addon;
}


/** A real io_uring ring through the addon (see the top for the SQ_REWIND emulation). */
export function realRing(addon: Addon, sqEntries: number, cqEntries: number, sqRewind = true): RingBackend {
  // TASKRUN_FLAG (accepted wherever DEFER_TASKRUN is): the kernel sets IORING_SQ_TASKRUN while deferred
  // task work is pending, so the driver knows when a step's GETEVENTS would have nothing to do (waitFor).
  const base = SETUP.SINGLE_ISSUER | SETUP.DEFER_TASKRUN | SETUP.NO_SQARRAY | SETUP.CQSIZE | SETUP.TASKRUN_FLAG;
  const rewind = addon.constants.SETUP_SQ_REWIND;
  let ring: ReturnType<Addon["setup"]> | undefined;
  let triedRewind = false;
  if (rewind && sqRewind && !sqRewindRejected) {
    try {
      ring = addon.setup(sqEntries, cqEntries, base | rewind);
    } catch (e) {
      // A kernel without SQ_REWIND rejects the unknown flag with EINVAL: emulate it (see the top).
      if (!/errno 22\)/.test((e as Error).message)) throw e;
      triedRewind = true;
    }
  }
  if (!ring) {
    ring = addon.setup(sqEntries, cqEntries, base);
    // Only SQ_REWIND made the first setup fail: remember that for this process.
    if (triedRewind) sqRewindRejected = true;
  }
  const r = ring;
  const rings = new Uint8Array(r.rings);
  const rv = new DataView(r.rings);
  const sqes = new Uint8Array(r.sqes);
  const kernelRewind = rewind !== 0 && (r.flags & rewind) !== 0;
  const cqSize = r.cqOff.cqes + r.cqEntries * 16;
  const shadow = kernelRewind ? sqes.subarray(0, r.sqEntries * 64) : new Uint8Array(r.sqEntries * 64);
  const sqeWords = new Int32Array(r.sqes, 0, r.sqEntries * 16);
  const shadowWords = new Int32Array(shadow.buffer, shadow.byteOffset, r.sqEntries * 16);
  const allocated: bigint[] = [];
  const opened: number[] = [];
  // The SQ tail as the driver last published it (the kernel consumes every SQE during the enter).
  let sqTail = rv.getUint32(r.sqOff.tail, true);
  const t0 = process.hrtime.bigint();
  return {
    sqEntries: r.sqEntries,
    cqEntries: r.cqEntries,
    off: { sqFlags: r.sqOff.flags, cqHead: r.cqOff.head, cqTail: r.cqOff.tail, cqes: r.cqOff.cqes },
    cqBytes: rings.subarray(0, Math.min(cqSize, rings.length)),
    sqBytes: shadow,
    submission: kernelRewind ? "sq_rewind" : "emulated",
    taskrunFlag: (r.flags & SETUP.TASKRUN_FLAG) !== 0,
    alloc: (mem, name, size) => {
      const a = addon.alloc(size);
      allocated.push(a.addr);
      return mem.mapAt(name, new Uint8Array(a.buffer, 0, size), a.addr);
    },
    registerMemRegion: (reg) => addon.registerMemRegion(r.fd, reg.base, reg.bytes.byteLength),
    submit: (n) => {
      if (kernelRewind) return addon.enter(r.fd, n, 0, 0);
      const mask = r.sqEntries - 1;
      let tail = sqTail;
      // Entry i to slot (tail + i) & mask, 16 words each (no copy of a subarray per SQE).
      for (let i = 0; i < n; i++, tail = (tail + 1) >>> 0) {
        const from = i * 16;
        const to = (tail & mask) * 16;
        for (let w = 0; w < 16; w++) sqeWords[to + w] = shadowWords[from + w];
      }
      rv.setUint32(r.sqOff.tail, tail, true);
      const got = addon.enter(r.fd, n, 0, 0);
      // Entries the kernel did not take (a submission error, -EBUSY, ...) are dropped, as with SQ_REWIND,
      // where the next call starts from entry 0 again: only this thread and this enter read the SQ.
      sqTail = (sqTail + Math.max(0, Math.min(got, n))) >>> 0;
      rv.setUint32(r.sqOff.tail, sqTail, true);
      return got;
    },
    getEvents: (min, timeoutNs) => addon.enter(r.fd, 0, min, ENTER_GETEVENTS, Math.max(1, timeoutNs)),
    now: () => process.hrtime.bigint() - t0,
    open: (file, mode) => {
      const fd = fs.openSync(file, mode === "rw" ? fs.constants.O_RDWR | fs.constants.O_CREAT : { r: "r", w: "w", a: "a" }[mode]!);
      opened.push(fd);
      return fd;
    },
    initialFds: [0, 1, 2],
    close: () => {
      addon.close(r.fd);
      for (const a of allocated) addon.free(a);
      for (const fd of opened) fs.closeSync(fd);
    },
  };
}

function imageOf(input: Uint8Array | CompileResult): Image {
  let object: Uint8Array;
  if (input instanceof Uint8Array) object = input;
  else if (input.ok && input.object) object = input.object;
  else throw new Error(`the program did not compile (${input.diagnostics?.length ?? 0} diagnostics)`);
  return loadImage(object);
}

/** The program to run, with what the contract needs checked (runtime/engine/image.ts checkRunnable). */
function pickProgram(img: Image, name?: string): [string, Insn[]] {
  const p = checkRunnable(img, name);
  return [p.name, p.insns];
}

/** Run a loop_step object (its ELF bytes, or compileFile's result) on a real ring in this process. */
export function runUserEngine(input: Uint8Array | CompileResult, opts: EngineOptions = {}): EngineResult {
  const img = imageOf(input);
  const [progName, prog] = pickProgram(img, opts.prog);
  const addon = opts.addon ?? loadAddon();
  const sqEntries = opts.sqEntries ?? 8;
  const ring = realRing(addon, sqEntries, opts.cqEntries ?? 2 * sqEntries, opts.sqRewind !== false);
  try {
    return drive(img, progName, prog, ring, opts);
  } finally {
    ring.close();
  }
}

/** Run a loop_step object against any ring backend (the tests' simulated ring, or realRing). */
export function runOnBackend(input: Uint8Array | CompileResult, makeRing: () => RingBackend, opts: EngineOptions = {}): EngineResult {
  const img = imageOf(input);
  const [progName, prog] = pickProgram(img, opts.prog);
  const ring = makeRing();
  try {
    return drive(img, progName, prog, ring, opts);
  } finally {
    ring.close();
  }
}

/** The loop of io_uring/loop.c over `ring`. */
export function drive(img: Image, progName: string, prog: Insn[], ring: RingBackend, opts: EngineOptions): EngineResult {
  const mem = new Memory();
  ring.attach?.(mem);
  const cv = new DataView(ring.cqBytes.buffer, ring.cqBytes.byteOffset, ring.cqBytes.byteLength);
  const cqRegion = mem.map("CQ region", ring.cqBytes);
  const sqRegion = mem.map("SQ region", ring.sqBytes);
  const lp = mem.map("iou_loop_params", new Uint8Array(4));
  const ctxObj = mem.map("io_ring_ctx", new Uint8Array(0), false);
  const ctxArr = mem.map("ctx", new Uint8Array(16), false);
  new DataView(ctxArr.bytes.buffer).setBigUint64(0, ctxObj.base, true);
  new DataView(ctxArr.bytes.buffer).setBigUint64(8, lp.base, true);
  /** The memory the ring may touch on the program's behalf: the MEM region and the --buffers. */
  const owned: Region[] = [];

  // Globals: one region per data section, with the loader's settings applied.
  const sections = new Map<string, Region>();
  for (const [name, init] of img.sections) sections.set(name, mem.map(name, Uint8Array.from(init), !name.startsWith(".rodata")));
  const byName = new Map(img.globals.map((g) => [g.name, g]));
  const write = (g: ImageGlobal, v: bigint) => writeBits(sections.get(g.section)!.bytes, g.offset, g.size, BigInt.asUintN(g.size * 8, v));
  const setGlobal = (name: string, v: bigint, required: boolean) => {
    const g = byName.get(name);
    if (!g) {
      if (required) throw new Error(`no global named '${name}' (globals: ${img.globals.filter((x) => !x.name.startsWith("uringbpf_")).map((x) => x.name).join(", ")})`);
      return;
    }
    write(g, v);
  };
  // The MEM region: memory the ring can reach, registered with it.
  const memSize = opts.memRegion ?? (img.memLayout ? img.memLayout.size! : 0);
  let memRegion: Region | undefined;
  if (memSize > 0) {
    memRegion = ring.alloc(mem, "MEM region", memSize);
    owned.push(memRegion);
    const r = ring.registerMemRegion(memRegion);
    if (r < 0 && opts.log) opts.log(`engine: IORING_REGISTER_MEM_REGION failed (${r}); the region is still mapped for the program`);
  }
  // The ring geometry: the one table (compiler/contract/geometry.ts) the compiler and the loader use.
  const geometry = geometryValues({
    sq_entries: ring.sqEntries, cq_entries: ring.cqEntries, cq_off_head: ring.off.cqHead, cq_off_tail: ring.off.cqTail, cq_off_cqes: ring.off.cqes,
    sqe_size: 64, cqe_size: 16, mem_size: memRegion ? memRegion.bytes.length : 0, mem_uaddr: memRegion ? memRegion.base : 0n,
  });
  for (const [k, v] of geometry) setGlobal(k, v, false);
  const fds = new Set<number>(ring.initialFds);
  // --set and --mem: the one parser and range check of both engines (runtime/assign.ts).
  for (const s of opts.set ?? []) {
    const { global, bits } = resolveSet(img, s);
    write(global, bits);
  }
  for (const s of opts.open ?? []) {
    const [k, spec] = splitAssign("--open", s);
    const m = /^(.*?)(?::(r|w|rw|a))?$/.exec(spec)!;
    const fd = ring.open(m[1], m[2] ?? "r");
    fds.add(fd);
    setGlobal(k, BigInt(fd), true);
  }
  const buffers = new Map<string, Region>();
  for (const s of opts.buffer ?? []) {
    const [k, size] = splitAssign("--buffer", s);
    if (!/^\d+$/.test(size) || Number(size) <= 0 || Number(size) > 1 << 30) throw new Error(`--buffer ${k}: size must be between 1 and 2^30 bytes (got '${size}')`);
    const r = ring.alloc(mem, `buffer ${k}`, Number(size));
    owned.push(r);
    buffers.set(k, r);
    setGlobal(k, r.base, true);
  }
  for (const s of opts.mem ?? []) {
    const { off, bits, kind } = resolveMem(img, s, memRegion?.bytes.length ?? 0);
    writeBits(memRegion!.bytes, off, kind.size, bits);
  }
  if (opts.memInit && memRegion) opts.memInit(memRegion.bytes);

  // BTF-defined maps, with --map presets applied (the loader applies them after load, before the run).
  const maps = new EngineMaps(imageMapSpecs(img), mem);
  resolveMapAssigns(img, opts.map ?? []).forEach((p, i) => maps.preset(opts.map![i], p));
  const trace: string[] = [];
  const log = opts.log ?? ((l: string) => process.stderr.write(l + "\n"));
  const cqHead = () => cv.getUint32(ring.off.cqHead, true);
  const cqTail = () => cv.getUint32(ring.off.cqTail, true);
  let steps = 0;

  // In-flight accounting: requests the kernel took, minus the final CQEs it posted (a CQE without
  // IORING_CQE_F_MORE ends its request). `seen` is the CQ tail up to which CQEs were counted, read right
  // after each enter, before the program can touch the CQE array.
  let inflight = 0;
  let seen = cqTail();
  /** user_data of in-flight requests whose CQE res is a new descriptor the run then owns. */
  const fdCreators = new Map<bigint, number>();
  const scan = () => {
    const tail = cqTail();
    const n = (tail - seen) >>> 0;
    for (let i = 0; i < Math.min(n, ring.cqEntries); i++) {
      const o = ring.off.cqes + (((seen + i) >>> 0) & (ring.cqEntries - 1)) * 16;
      const flags = cv.getUint32(o + 12, true);
      if (!(flags & CQE_F_MORE)) inflight = Math.max(0, inflight - 1);
      if (fdCreators.size === 0) continue;
      const ud = cv.getBigUint64(o, true);
      const res = cv.getInt32(o + 8, true);
      if (fdCreators.has(ud)) {
        if (res >= 0) fds.add(res);
        if (!(flags & CQE_F_MORE)) fdCreators.delete(ud);
      }
    }
    seen = tail;
  };
  /** The ring's indices as the kernel must find them before an io_uring_enter. */
  const checkRing = (what: string) => {
    const head = cqHead();
    const tail = cqTail();
    if (tail !== seen) throw new RingStateError(`loop_step wrote the CQ tail (${seen} -> ${tail}): the tail belongs to the kernel; the engine does not ${what} on a ring in that state`, steps);
    if (((tail - head) >>> 0) > ring.cqEntries) {
      const past = ((head - tail) | 0) > 0;
      throw new RingStateError(
        `the CQ head (${head}) is ${past ? "past the CQ tail" : "more than cq_entries behind the CQ tail"} (${tail}): loop_step must keep it within [tail - ${ring.cqEntries}, tail]; the engine does not ${what} on a ring in that state`,
        steps,
      );
    }
  };
  const sqBytes = ring.sqBytes;
  const sqView = new DataView(sqBytes.buffer, sqBytes.byteOffset, sqBytes.byteLength);
  const sqeContext: SqeCheckContext = { owned, fds, allowUnchecked: opts.allowUncheckedSqes === true };

  let stepSubmitted: string[] = [];
  // Each kfunc also has the numeric form the translation calls (runtime/engine/translate.ts FastCall).
  const kfuncs = {
    ...iterKfuncs,
    bpf_io_uring_get_region: Object.assign((a: bigint[]) => BigInt(getRegion(Number(a[1] & 0xffffffffn), Number(a[2]))), {
      fast: (_l1: number, _h1: number, l2: number, _h2: number, l3: number, h3: number) => getRegion(l2, l3 + h3 * 4294967296),
    }),
    bpf_io_uring_submit_sqes: Object.assign((a: bigint[]) => BigInt.asUintN(64, BigInt(submit(Number(a[1] & 0xffffffffn)))), {
      fast: (_l1: number, _h1: number, l2: number) => submit(l2),
    }),
  };
  function getRegion(id: number, size: number): number {
    const r = id === 0 ? memRegion : id === 1 ? cqRegion : id === 2 ? sqRegion : undefined;
    return r && size <= r.bytes.length ? Number(r.base) : 0;
  }
  function submit(n: number): number {
    // "The first n entries of region 2" (see the top of this file).
    if (n > ring.sqEntries) return -22;
    // Every address and descriptor of the batch against what the run owns (runtime/engine/sqecheck.ts):
    // thrown as an error of the calling instruction, so the message names the submit's TypeScript line.
    checkSqes(ring.sqBytes, n, sqeContext);
    checkRing("submit");
    if (opts.trace) {
      const d = new DataView(ring.sqBytes.buffer, ring.sqBytes.byteOffset, ring.sqBytes.byteLength);
      for (let i = 0; i < n; i++) {
        const o = i * 64;
        stepSubmitted.push(`sqe ${i}: opcode ${d.getUint8(o)} flags 0x${d.getUint8(o + 1).toString(16)} fd ${d.getInt32(o + 4, true)} off ${d.getBigUint64(o + 8, true)} addr 0x${d.getBigUint64(o + 16, true).toString(16)} len ${d.getUint32(o + 24, true)} user_data ${d.getBigUint64(o + 32, true)}`);
      }
    }
    // Requests whose CQE res is a new descriptor the run then owns (rare: an array only when one is there).
    let creators: bigint[] | undefined;
    for (let i = 0; i < n; i++) if (FD_CREATORS.has(sqBytes[i * 64])) (creators ??= []).push(sqView.getBigUint64(i * 64 + 32, true));
    const r = ring.submit(n);
    if (r > 0) {
      inflight += Math.min(r, n);
      if (creators) for (const ud of creators.slice(0, r)) fdCreators.set(ud, 1);
    }
    scan();
    return r;
  }
  const subprograms = Object.fromEntries(img.subprograms);
  const globalAddress = (symbol: string, addend: bigint) => {
    const map = maps.address(symbol);
    if (map !== undefined) return map + addend;
    const at = img.symbols.get(symbol);
    if (!at) throw new Error(`relocation against unknown global ${symbol}`);
    return sections.get(at.section)!.base + BigInt(at.offset) + addend;
  };
  const helpers = { ...baseHelpers(trace, opts.clock), ...maps.helpers() };
  // Refuse what the kernel verifier refuses structurally, against the helpers and kfuncs above, before
  // the program runs (runtime/engine/verify.ts).
  if (!opts.noVerify) verifyImage(img, progName, { helpers: Object.keys(helpers).map(Number), kfuncs: Object.keys(kfuncs) });
  let executed = 0;
  let ret = 0;
  let lastR0 = 0;
  const maxSteps = opts.maxSteps ?? 100_000_000;
  const timeoutSec = opts.timeoutSec ?? 60;
  const deadline = ring.now() + BigInt(Math.round(timeoutSec * 1e9));
  const t0 = process.hrtime.bigint();
  let t1 = t0;
  const exec = opts.interpreter ? run : runTranslated;
  const runOpts = { globalAddress, kfuncs, helpers, subprograms, maxInsns: opts.maxInsns };
  const lpView = new DataView(lp.bytes.buffer, lp.bytes.byteOffset, lp.bytes.byteLength);
  try {
    if (!opts.noRun) loop();
  } finally {
    t1 = process.hrtime.bigint();
    drain();
  }

  function loop(): void {
    for (;;) {
      if (++steps > maxSteps) throw new Error(`loop_step called ${maxSteps} times without stopping`);
      if (ring.now() >= deadline) throw new TimeoutError(timeoutSec, steps - 1, geometryHint(img));
      const headBefore = cqHead();
      if (opts.trace) stepSubmitted = [];
      // Stack contents do not carry over from one loop_step call to the next (the verifier refuses reads of
      // stack slots not written in the same call; runtime/engine/verify.ts): a fresh stack each call.
      mem.resetStacks();
      const r = exec(prog, ctxArr.base, mem, runOpts);
      executed += r.executed;
      const r0 = Number(BigInt.asIntN(32, r.r0));
      lastR0 = r0;
      if (opts.trace) {
        const consumed = (cqHead() - headBefore) >>> 0;
        log(`step ${steps}: returned ${r0 === 0 ? "CONTINUE" : r0 === 1 ? "STOP" : r0}, consumed ${consumed} CQE${consumed === 1 ? "" : "s"}, submitted ${stepSubmitted.length} SQE${stepSubmitted.length === 1 ? "" : "s"}`);
        // The CQEs between the head before and after the step (still in place unless more than cq_entries
        // completions arrived during the step).
        const mask = ring.cqEntries - 1;
        for (let i = 0; i < Math.min(consumed, ring.cqEntries); i++) {
          const o = ring.off.cqes + ((headBefore + i) & mask) * 16;
          log(`  cqe: user_data ${cv.getBigUint64(o, true)} res ${cv.getInt32(o + 8, true)} flags 0x${cv.getUint32(o + 12, true).toString(16)}`);
        }
        for (const s of stepSubmitted) log(`  ${s}`);
      }
      if (r0 === 1) break;
      if (r0 !== 0) {
        ret = -22;
        break;
      }
      waitFor(lpView.getUint32(0, true));
    }
  }

  /**
   * After the run (a STOP, or any error), requests may still be in flight with the run's buffers as their
   * target, and those buffers are freed when the run ends: cancel them all (IORING_OP_ASYNC_CANCEL with
   * IORING_ASYNC_CANCEL_ANY) and reap their completions for at most a second, so the kernel is done with
   * the memory before it is unmapped. The program no longer runs, so the driver owns the CQ head.
   */
  function drain(): void {
    try {
      if (inflight <= 0) return;
      scan();
      cv.setUint32(ring.off.cqHead, cqTail(), true);
      const sq = new DataView(ring.sqBytes.buffer, ring.sqBytes.byteOffset, 64);
      ring.sqBytes.fill(0, 0, 64);
      sq.setUint8(0, 14); // IORING_OP_ASYNC_CANCEL
      sq.setInt32(4, -1, true);
      sq.setUint32(28, 1 << 2, true); // IORING_ASYNC_CANCEL_ANY
      sq.setBigUint64(32, 0xffffffffffffffffn, true);
      if (ring.submit(1) === 1) inflight++;
      scan();
      const until = ring.now() + 1_000_000_000n;
      while (inflight > 0 && ring.now() < until) {
        cv.setUint32(ring.off.cqHead, cqTail(), true);
        const e = ring.getEvents(Math.min(inflight, ring.cqEntries), Number(until - ring.now()));
        scan();
        if (e < 0 && e !== -EINTR) break;
      }
      cv.setUint32(ring.off.cqHead, cqTail(), true);
    } catch {
      // best effort: the ring is closed next either way
    }
  }

  /**
   * Wait until the CQ tail reaches cq_wait_idx (running deferred task work either way), like loop.c.
   * io_uring_enter's min_complete counts from the CQ head (it waits for tail - head >= min), so the target
   * tail `want` means min = want - head; compared as a signed 32-bit distance because the indices wrap.
   * Already reached: GETEVENTS with 0 only runs the task work, and when the ring says no task work is
   * pending and nothing overflowed (IORING_SQ_TASKRUN and IORING_SQ_CQ_OVERFLOW clear) it would do
   * nothing at all, as loop.c's io_run_local_work_locked then does nothing: the driver skips that
   * io_uring_enter, so a step that waits for nothing costs one system call (its submit), not two.
   * Refused (see the top): an inconsistent ring, a target beyond the requests in flight or beyond the
   * CQ's room.
   */
  function waitFor(want: number): void {
    checkRing("wait");
    let need = (want - cqTail()) | 0;
    if (need > 0 && cv.getUint32(ring.off.sqFlags, true) & SQ_CQ_OVERFLOW) {
      // Completions wait in the kernel's overflow list: a wait for nothing flushes what fits.
      const e = ring.getEvents(0, 1);
      if (e < 0 && e !== -EINTR && e !== -ETIME) throw new Error(`io_uring_enter(GETEVENTS): errno ${-e}`);
      scan();
      need = (want - cqTail()) | 0;
    }
    let min = 0;
    if (need > 0) {
      const head = cqHead();
      const tail = cqTail();
      const room = ring.cqEntries - ((tail - head) >>> 0);
      if (need > inflight)
        throw new RingStateError(
          `loop_step asks to wait for CQ index ${want} (${need} more completion${need === 1 ? "" : "s"}) but ${inflight === 0 ? "no request is" : inflight === 1 ? "only 1 request is" : `only ${inflight} requests are`} in flight: nothing can complete the wait, so the engine does not wait`,
          steps,
        );
      if (need > room)
        throw new RingStateError(
          `loop_step asks to wait for CQ index ${want} (${need} more completions) but the CQ has room for only ${room} (head ${head}, tail ${tail}, ${ring.cqEntries} entries)${cv.getUint32(ring.off.sqFlags, true) & SQ_CQ_OVERFLOW ? " and completions wait in the overflow list" : ""}: loop_step must consume CQEs before waiting for more`,
          steps,
        );
      min = (want - head) >>> 0;
    } else if (ring.taskrunFlag && (cv.getUint32(ring.off.sqFlags, true) & (SQ_TASKRUN | SQ_CQ_OVERFLOW)) === 0) return;
    const left = deadline - ring.now();
    if (left <= 0n) throw new TimeoutError(timeoutSec, steps, geometryHint(img));
    const e = ring.getEvents(min, Number(left));
    scan();
    if (e < 0 && e !== -EINTR && e !== -ETIME) throw new Error(`io_uring_enter(GETEVENTS): errno ${-e}`);
    if (e === -ETIME && ring.now() >= deadline) throw new TimeoutError(timeoutSec, steps, geometryHint(img));
  }

  const runNs = Number(t1 - t0);
  const globals: Record<string, unknown> = {};
  for (const g of img.globals) globals[g.name] = decodeValue(img.btf, g.type, sections.get(g.section)!.bytes, g.offset, g.size);
  const memValue = memRegion && img.memLayout && memRegion.bytes.length >= (img.memLayout.size ?? 0) ? decodeValue(img.btf, img.memLayout.id, memRegion.bytes, 0) : undefined;
  return {
    prog: progName,
    ret,
    r0: lastR0,
    steps,
    runNs,
    insnsExecuted: executed,
    submission: ring.submission,
    globals,
    mem: memValue,
    memBytes: memRegion ? Uint8Array.from(memRegion.bytes) : undefined,
    maps: maps.byName.size ? maps.dump() : undefined,
    buffers: Object.fromEntries([...buffers].map(([k, r]) => [k, Uint8Array.from(r.bytes)])),
    trace,
    ran: !opts.noRun,
    trap: trapOf(img, globals),
  };
}

/** A failed run-time check (uringbpf_trap holds its source line): the line's text from line_info. */
function trapOf(img: Image, globals: Record<string, unknown>): EngineResult["trap"] {
  const t = decodeTrap(typeof globals.uringbpf_trap === "bigint" ? Number(globals.uringbpf_trap & 0xffffffffn) : 0);
  if (!t) return undefined;
  const li = img.obj.btfExt?.lines.find((l) => l.line === t.line);
  return { line: t.line, kind: t.kind, file: li?.file ?? null, source: li?.text.trim() ?? null };
}
