// A simulated io_uring for host-side tests of compiled programs: a ring backend for the engine's one loop
// driver (runtime/engine/driver.ts), so the tests run the same loop, guard and SQE check as a real ring.
// SQ and CQ memory are laid out as the kernel does (indices and CQEs at the offsets io_uring_setup would
// report); NOP, FSYNC, READ and WRITE complete synchronously against in-memory files, TIMEOUT on a virtual
// clock that jumps to the next deadline when the program waits; a full CQ overflows into a list (with
// IORING_SQ_CQ_OVERFLOW set) that a wait flushes, as the kernel's does. Reads of a "stalled" descriptor
// never complete: a wait on one can only end by the run's timeout.
import type { CompileResult } from "../../compiler/index";
import type { Memory, Region } from "../../runtime/engine/interp";
import { runOnBackend, type EngineOptions, type EngineResult, type RingBackend } from "../../runtime/engine/driver";

export interface FakeRingOptions {
  sqEntries?: number;
  cqEntries?: number;
  /** In-memory files by descriptor. */
  files?: Map<number, { data: Uint8Array; size: number }>;
  /** Descriptors whose reads never complete. */
  stalled?: number[];
  /** Extra regions (buffers) by global name: the global receives the region's address. */
  buffers?: Record<string, number>;
  /** Values for user globals, set before the run (like the loader's --set). */
  set?: Record<string, bigint | number>;
  maxSteps?: number;
  /** Size of a MEM region (region 0) to provide. */
  mem?: number;
  /** Fill the MEM region before the run (like the loader's --mem). */
  memInit?: (bytes: Uint8Array) => void;
  /** Map presets, like the loader's --map NAME[KEY]PATH=VALUE. */
  maps?: string[];
  /** Time limit of the run in (virtual) seconds; within one loop_step call, in real seconds. */
  timeoutSec?: number;
  /** The instruction cap of one loop_step call (default 100,000,000, deterministic for the oracle; null:
   *  none, as in the CLI, where timeoutSec stops a runaway call). */
  maxInsns?: number | null;
  /** Passed on to the driver. */
  allowUncheckedSqes?: boolean;
  noVerify?: boolean;
  /** The driver's JavaScript translation of the BPF code (default) or the reference interpreter. */
  exec?: "interp" | "translate";
  /** The time helpers' clock (default CLOCK_MONOTONIC). */
  clock?: () => bigint;
}

/** What the simulation did, for tests of the driver's guard. */
export interface SimLog {
  /** min_complete of each GETEVENTS, with the CQ head and tail when it was asked. */
  waits: { min: number; head: number; tail: number }[];
  submits: number;
}

const SQ_FLAGS = 8, CQ_HEAD = 64, CQ_TAIL = 68, CQES = 128;

/** The simulated ring as a backend of the driver. */
export function simRing(opts: { sqEntries?: number; cqEntries?: number; files?: Map<number, { data: Uint8Array; size: number }>; stalled?: number[] } = {}): RingBackend & { log: SimLog; clock(): bigint } {
  const sqEntries = opts.sqEntries ?? 8;
  const cqEntries = opts.cqEntries ?? 16;
  const sq = new Uint8Array(sqEntries * 64);
  const cq = new Uint8Array(CQES + cqEntries * 16);
  const cqv = new DataView(cq.buffer);
  const sqv = new DataView(sq.buffer);
  const files = opts.files ?? new Map<number, { data: Uint8Array; size: number }>();
  const stalled = new Set(opts.stalled ?? []);
  let memory: Memory | undefined;
  const log: SimLog = { waits: [], submits: 0 };
  const overflow: { ud: bigint; res: number }[] = [];
  const place = (ud: bigint, res: number) => {
    const tail = cqv.getUint32(CQ_TAIL, true);
    const off = CQES + (tail & (cqEntries - 1)) * 16;
    cqv.setBigUint64(off, ud, true);
    cqv.setInt32(off + 8, res, true);
    cqv.setUint32(off + 12, 0, true);
    cqv.setUint32(CQ_TAIL, (tail + 1) >>> 0, true);
  };
  const room = () => cqEntries - ((cqv.getUint32(CQ_TAIL, true) - cqv.getUint32(CQ_HEAD, true)) >>> 0);
  const flush = () => {
    while (overflow.length && room() > 0) {
      const c = overflow.shift()!;
      place(c.ud, c.res);
    }
    cqv.setUint32(SQ_FLAGS, overflow.length ? 2 : 0, true);
  };
  const post = (userData: bigint, res: number, fromTimer = false) => {
    flush();
    if (overflow.length || room() <= 0) {
      overflow.push({ ud: userData, res });
      cqv.setUint32(SQ_FLAGS, 2, true); // IORING_SQ_CQ_OVERFLOW
    } else place(userData, res);
    if (!fromTimer) fireCounted();
  };
  // Timeouts: a virtual clock (ns) that jumps to the next deadline when the program waits for more
  // completions than have arrived; a timeout with a count completes with 0 after that many other CQEs.
  let now = 0n;
  // Completions of timeouts do not count towards other timeouts' counts (as in io_uring). A request
  // linked after a timeout runs when it fires (with IORING_TIMEOUT_ETIME_SUCCESS), else is cancelled.
  const timers: { deadline: bigint; ud: bigint; count: number; etimeOk: boolean; linked?: bigint }[] = [];
  const fireCounted = () => {
    for (let k = timers.length - 1; k >= 0; k--) {
      const t = timers[k];
      if (t.count > 0 && --t.count === 0) {
        timers.splice(k, 1);
        post(t.ud, 0, true);
      }
    }
  };
  const read = (addr: bigint, size: number): bigint | string => (memory ? memory.read(addr, size) : "no memory");
  const submit = (n: number): number => {
    log.submits++;
    for (let i = 0; i < n; i++) {
      const o = i * 64;
      const opcode = sqv.getUint8(o);
      const fd = sqv.getInt32(o + 4, true);
      const off = Number(sqv.getBigUint64(o + 8, true));
      const addr = sqv.getBigUint64(o + 16, true);
      const len = sqv.getUint32(o + 24, true);
      const ud = sqv.getBigUint64(o + 32, true);
      const opFlags = sqv.getUint32(o + 28, true);
      const prev = i > 0 && sqv.getUint8((i - 1) * 64 + 1) & 4 ? timers.find((t) => t.ud === sqv.getBigUint64((i - 1) * 64 + 32, true) && t.linked === undefined) : undefined;
      if (prev && opcode === 0) {
        prev.linked = ud; // a NOP linked after a pending timeout
        continue;
      }
      if (opcode === 0) post(ud, opFlags & 1 ? len | 0 : 0); // IORING_NOP_INJECT_RESULT: res is sqe->len, as the kernel's
      else if (opcode === 3) post(ud, files.has(fd) ? 0 : -9);
      else if (opcode === 11) {
        const sec = read(addr, 8);
        const nsec = read(addr + 8n, 8);
        if (typeof sec === "string" || typeof nsec === "string") post(ud, -14);
        else timers.push({ deadline: now + sec * 1_000_000_000n + nsec, ud, count: off, etimeOk: (opFlags & 32) !== 0 });
      } else if ((opcode === 22 || opcode === 23) && stalled.has(fd)) {
        // never completes
      } else if (opcode === 22 || opcode === 23) {
        const f = files.get(fd);
        const at = memory ? memory.resolve(addr, len, opcode === 22) : "no memory";
        if (!f) post(ud, -9);
        else if (typeof at === "string") post(ud, -14);
        else if (opcode === 22) {
          const m = Math.max(0, Math.min(len, f.size - off));
          at.r.bytes.set(f.data.subarray(off, off + m), at.off);
          post(ud, m);
        } else {
          if (off + len > f.data.length) {
            const bigger = new Uint8Array(Math.max(off + len, f.data.length * 2));
            bigger.set(f.data);
            f.data = bigger;
          }
          f.data.set(at.r.bytes.subarray(at.off, at.off + len), off);
          f.size = Math.max(f.size, off + len);
          post(ud, len);
        }
      } else post(ud, -22);
    }
    return n;
  };
  return {
    sqEntries,
    cqEntries,
    off: { sqFlags: SQ_FLAGS, cqHead: CQ_HEAD, cqTail: CQ_TAIL, cqes: CQES },
    cqBytes: cq,
    sqBytes: sq,
    submission: "simulated",
    log,
    attach: (mem: Memory) => {
      memory = mem;
    },
    alloc: (mem: Memory, name: string, size: number): Region => {
      return mem.map(name, new Uint8Array(size));
    },
    registerMemRegion: () => 0,
    submit: (n) => {
      return submit(n);
    },
    getEvents: (min, timeoutNs) => {
      log.waits.push({ min, head: cqv.getUint32(CQ_HEAD, true), tail: cqv.getUint32(CQ_TAIL, true) });
      const ready = () => ((cqv.getUint32(CQ_TAIL, true) - cqv.getUint32(CQ_HEAD, true)) >>> 0) >= min;
      // A wait the kernel could never satisfy (more than the CQ holds) is what wedged a real host: the
      // driver's guard must never ask for it.
      if (min > cqEntries) throw new Error(`simulated ring: GETEVENTS with min_complete ${min} on a ${cqEntries}-entry CQ (the wait that wedges a real kernel)`);
      flush();
      const until = now + BigInt(Math.floor(timeoutNs));
      while (!ready() && timers.length) {
        timers.sort((a, b) => (a.deadline < b.deadline ? -1 : 1));
        if (timers[0].deadline > until) break;
        const t = timers.shift()!;
        now = t.deadline > now ? t.deadline : now;
        post(t.ud, -62, true);
        if (t.linked !== undefined) post(t.linked, t.etimeOk ? 0 : -125);
      }
      if (ready()) return 0;
      now = until;
      return -62;
    },
    now: () => now,
    clock: () => now,
    open: () => {
      throw new Error("the simulated ring has no file system: pass files by descriptor");
    },
    initialFds: [...files.keys(), ...stalled],
    close: () => {},
  };
}

/** Run a compiled program (or an object's bytes) on a simulated ring through the engine's driver. */
export function runOnFakeRing(res: CompileResult | Uint8Array, opts: FakeRingOptions = {}) {
  if (!(res instanceof Uint8Array) && (!res.ok || !res.object)) throw new Error("program did not compile");
  const files = opts.files ?? new Map();
  const ring = simRing({ sqEntries: opts.sqEntries, cqEntries: opts.cqEntries, files, stalled: opts.stalled });
  const engineOpts: EngineOptions = {
    set: Object.entries(opts.set ?? {}).map(([k, v]) => `${k}=${v}`),
    buffer: Object.entries(opts.buffers ?? {}).map(([k, v]) => `${k}=${v}`),
    memRegion: opts.mem,
    memInit: opts.memInit,
    map: opts.maps,
    maxSteps: opts.maxSteps ?? 10_000_000,
    // A deterministic guard for the oracle (the CLI's runs are bounded by --timeout instead).
    maxInsns: opts.maxInsns === null ? undefined : (opts.maxInsns ?? 100_000_000),
    timeoutSec: opts.timeoutSec ?? 3600,
    allowUncheckedSqes: opts.allowUncheckedSqes,
    noVerify: opts.noVerify,
    interpreter: opts.exec === "interp",
    clock: opts.clock,
  };
  const r: EngineResult = runOnBackend(res instanceof Uint8Array ? res : res.object!, () => ring, engineOpts);
  const get = (n: string): bigint => {
    if (!(n in r.globals)) throw new Error(`no global ${n}`);
    const v = r.globals[n];
    return typeof v === "boolean" ? (v ? 1n : 0n) : (v as bigint);
  };
  return { ret: BigInt(r.r0), steps: r.steps, executed: r.insnsExecuted, now: ring.clock(), get, files, buffers: r.buffers, mem: r.memBytes, trace: r.trace, log: ring.log, result: r, maps: r.maps ?? {} };
}
