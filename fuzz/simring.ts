// A simulated io_uring behind the userspace engine's addon interface (runtime/engine/driver.ts `Addon`), so
// the fuzz harness runs hostile and mutated objects through the real engine (object reading, image, driver,
// interpreter) without ever touching a kernel ring: SQEs are consumed from the SQ ring the driver fills,
// NOPs complete with 0, everything else with -EINVAL (no I/O is done), and a wait for completions that can
// never come returns -ETIME at once instead of blocking. Memory the driver allocates is plain JS memory at
// made-up addresses, bounded so a hostile size is refused instead of exhausting the process.

import type { Addon } from "../runtime/engine/driver";

/** Offsets in the simulated rings area (SQ indices, CQ indices, then the CQEs). */
const SQ_HEAD = 0, SQ_TAIL = 4, SQ_MASK = 8, CQ_HEAD = 64, CQ_TAIL = 68, CQ_MASK = 72, CQES = 128;

/** What the simulated ring saw, for the harness's summary. */
export interface SimStats {
  submitted: number;
  /** GETEVENTS calls that asked for completions that were not there (a real ring would sleep). */
  impossibleWaits: number;
  /** Allocations refused because they were larger than `maxAlloc`. */
  refusedAllocs: number;
}

export interface SimRingOptions {
  /** Largest buffer the driver may allocate (default 64 MiB). */
  maxAlloc?: number;
}

/** A fresh simulated ring addon and its statistics. */
export function simulatedAddon(opts: SimRingOptions = {}): { addon: Addon; stats: SimStats } {
  const stats: SimStats = { submitted: 0, impossibleWaits: 0, refusedAllocs: 0 };
  const maxAlloc = opts.maxAlloc ?? 64 << 20;
  const rings = new Map<number, { sq: number; cq: number; rv: DataView; sqes: Uint8Array }>();
  let nextFd = 100;
  let nextAddr = 0x7e00n << 32n;
  const pow2 = (n: number) => 1 << Math.ceil(Math.log2(Math.max(1, n)));
  const addon: Addon = {
    setup(sqWant, cqWant, flags) {
      if (!Number.isInteger(sqWant) || sqWant < 1 || sqWant > 32768) throw new Error(`io_uring_setup: errno 22)`);
      const sq = pow2(sqWant);
      const cq = pow2(Math.max(cqWant, sq));
      if (cq > 65536) throw new Error(`io_uring_setup: errno 22)`);
      const ringsBuf = new ArrayBuffer(CQES + cq * 16);
      const rv = new DataView(ringsBuf);
      rv.setUint32(SQ_MASK, sq - 1, true);
      rv.setUint32(CQ_MASK, cq - 1, true);
      const sqesBuf = new ArrayBuffer(sq * 64);
      const fd = nextFd++;
      rings.set(fd, { sq, cq, rv, sqes: new Uint8Array(sqesBuf) });
      return {
        fd, sqEntries: sq, cqEntries: cq,
        sqOff: { head: SQ_HEAD, tail: SQ_TAIL, ringMask: SQ_MASK, flags: SQ_MASK + 4 },
        cqOff: { head: CQ_HEAD, tail: CQ_TAIL, ringMask: CQ_MASK, cqes: CQES },
        flags, rings: ringsBuf, sqes: sqesBuf,
      };
    },
    enter(fd, toSubmit, minComplete, flags) {
      const r = rings.get(fd);
      if (!r) return -9;
      const { rv } = r;
      let done = 0;
      for (let i = 0; i < toSubmit; i++) {
        const head = rv.getUint32(SQ_HEAD, true);
        if (head === rv.getUint32(SQ_TAIL, true)) break;
        const o = (head & (r.sq - 1)) * 64;
        const opcode = r.sqes[o];
        const ud = new DataView(r.sqes.buffer).getBigUint64(o + 32, true);
        rv.setUint32(SQ_HEAD, (head + 1) >>> 0, true);
        done++;
        stats.submitted++;
        const tail = rv.getUint32(CQ_TAIL, true);
        if (((tail - rv.getUint32(CQ_HEAD, true)) >>> 0) >= r.cq) continue; // CQ full: dropped (overflow)
        const c = CQES + (tail & (r.cq - 1)) * 16;
        rv.setBigUint64(c, ud, true);
        rv.setInt32(c + 8, opcode === 0 ? 0 : -22, true);
        rv.setUint32(c + 12, 0, true);
        rv.setUint32(CQ_TAIL, (tail + 1) >>> 0, true);
      }
      if (flags & 1) {
        const have = (rv.getUint32(CQ_TAIL, true) - rv.getUint32(CQ_HEAD, true)) >>> 0;
        if (have < minComplete) {
          stats.impossibleWaits++;
          return toSubmit ? done : -62;
        }
      }
      return done;
    },
    alloc(size) {
      if (!Number.isInteger(size) || size < 0 || size > maxAlloc) {
        stats.refusedAllocs++;
        throw new Error(`simulated ring: refusing to allocate ${size} bytes`);
      }
      const addr = nextAddr;
      nextAddr += 1n << 32n;
      return { buffer: new ArrayBuffer(Math.max(size, 1)), addr };
    },
    free() {},
    registerMemRegion() {
      return 0;
    },
    close(fd) {
      rings.delete(fd);
    },
    constants: { SETUP_SQ_REWIND: 0 },
  };
  return { addon, stats };
}
