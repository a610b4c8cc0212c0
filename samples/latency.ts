// Request latency, measured in the kernel: the loop keeps `depth` timeouts of four durations in flight,
// stamps each request at submission with ktimeNs() (per-request state in a hash map keyed by user_data),
// and at its completion adds the latency to a log2-microsecond histogram in an array map: bucket b counts
// latencies in [2^b, 2^(b+1)) microseconds (bucket 0 also holds those under 1 us). The maps are libbpf
// BTF-defined maps, so `bpftool map dump` reads the same histogram. The buckets sum to `requests`.
// Run: uringbpf run samples/latency.ts --set requests=200 --set depth=8
import { loopStep, config, hashMap, arrayMap, ktimeNs, atomicAdd, u32, i32, u64, i64, userAddr, FixedArray, CONTINUE, STOP } from "uringbpf";

/** Requests to run in all. */
export const requests = config<u32>(200);
/** Requests in flight at once (at most the SQ size). */
export const depth = config<u32>(8);
/** The four timeout durations, in microseconds; request i waits durationUs[i % 4]. */
export const baseUs = config<u32>(100);

/** When each request in flight was submitted, by user_data. */
interface Stamp {
  start: u64;
  kind: u32;
}
export const inflight = hashMap<u64, Stamp>(64);
/** log2-microsecond latency histogram. */
export const hist = arrayMap<u64>(32);
/** Per duration kind: the fastest completion seen, in nanoseconds. */
export const fastest = arrayMap<u64>(4);

export let status: i32 = 1;
export let submitted: u32 = 0;
export let completed: u32 = 0;
export let lost: u32 = 0; // completions without a stamp (never expected)
let running: u32 = 0;

/** The timeouts' timespecs: the kernel reads them from user memory, so they live in the MEM region. */
interface Timespec {
  sec: i64;
  nsec: i64;
}
interface Params {
  ts: FixedArray<Timespec, 4>;
}

/** The log2 bucket of a latency in nanoseconds. */
function bucket(ns: u64): u32 {
  let us = ns / 1000n;
  let b: u32 = 0;
  for (let i: u32 = 0; i < 31; i++) {
    if (us < 2n) break;
    us = us >> 1n;
    b++;
  }
  return b;
}

export const latency = loopStep((ring, lp) => {
  const sq = ring.sq();
  const cq = ring.cq();
  const p = ring.mem<Params>();
  if (sq === null || cq === null || p === null) return STOP;
  if (depth === 0 || depth > sq.entries) {
    status = -22;
    return STOP;
  }
  if (submitted === 0) {
    // Durations base, 4 x base, 16 x base, 64 x base.
    for (let k: u32 = 0; k < 4; k++) {
      const us = u64(baseUs) << u64(2 * k);
      p.ts[k].sec = i64(us / 1000000n);
      p.ts[k].nsec = i64(us % 1000000n) * 1000n;
    }
  }
  let head = cq.head;
  const tail = cq.tail;
  const now = ktimeNs();
  for (let i: u32 = 0; i < 64; i++) {
    if (head === tail) break;
    const cqe = cq.at(head);
    const ud = cqe.userData;
    if (cqe.res !== -62 && status === 1) status = cqe.res;
    const s = inflight.lookup(ud);
    if (s !== null) {
      const ns = now - s.start;
      const kind = s.kind;
      inflight.delete(ud);
      const h = hist.lookup(bucket(ns));
      if (h !== null) atomicAdd(h.value, 1n);
      const f = fastest.lookup(kind);
      if (f !== null && (f.value === 0n || ns < f.value)) f.value = ns;
    } else lost++;
    completed++;
    running--;
    head++;
  }
  cq.head = head;
  if (completed === requests) {
    if (status === 1) status = 0;
    return STOP;
  }
  let n: u32 = 0;
  for (let i: u32 = 0; i < 32; i++) {
    if (running + n >= depth || submitted + n >= requests) break;
    const id = submitted + n;
    const kind = id & 3;
    const ud = u64(id);
    sq.at(i).prepTimeout(userAddr(p.ts[kind]), 0n, 0, ud);
    if (inflight.update(ud, { start: ktimeNs(), kind }) !== 0) {
      status = -12;
      return STOP;
    }
    n++;
  }
  if (n > 0) {
    const r = ring.submit(n);
    if (r !== i32(n)) {
      status = r < 0 ? r : -5;
      return STOP;
    }
    submitted += n;
    running += n;
  }
  lp.cqWaitIdx = head + 1;
  return CONTINUE;
});
