// A producer/consumer protocol with userspace in the MEM region, written with acquire/release accesses and
// atomics. Userspace (another process mapping the same region, see the loader's --mem-file) produces
// items into a 64-slot ring: it writes slot[produced % 64], then store-releases `produced`. The loop
// load-acquires `produced`, consumes the new items (adding each to `total`, atomically, as userspace may
// read it at any time), and store-releases `consumed` so userspace can reuse the slots. Both sides add to
// `shared` with atomic read-modify-writes. Between batches the loop sleeps on a short timeout, so the
// producer gets the CPU; it stops once userspace has set `done` and every item is consumed.
// Run: see test/lang.test.ts (a producer process and uringbpf-loader --mem-file share the region).
import { loopStep, config, atomicAdd, atomicFetchAdd, loadAcquire, storeRelease, u32, i32, i64, u64, userAddr, FixedArray, CONTINUE, STOP } from "uringbpf";

/** How long to sleep between polls of the MEM ring, in microseconds. */
export const pollUs = config<u32>(50);

interface Shared {
  produced: u32; // written by userspace (release), read here (acquire)
  consumed: u32; // written here (release), read by userspace (acquire)
  done: u32; // userspace: no more items (release)
  polls: u32;
  total: u64; // sum of the items consumed
  items: u64; // number of items consumed
  shared: u64; // incremented by both sides, atomically
  sleep: Timespec;
  slots: FixedArray<u32, 64>;
}
interface Timespec {
  sec: i64;
  nsec: i64;
}

export let status: i32 = 1;
export let batches: u32 = 0;
export let biggestBatch: u32 = 0;
let waiting: u32 = 0;

export const counters = loopStep((ring, lp) => {
  const m = ring.mem<Shared>();
  const sq = ring.sq();
  const cq = ring.cq();
  if (m === null || sq === null || cq === null) return STOP;
  let head = cq.head;
  if (waiting > 0) {
    if (head === cq.tail) {
      lp.cqWaitIdx = head + 1;
      return CONTINUE;
    }
    head++;
    cq.head = head;
    waiting = 0;
  }
  // Read `done` before `produced`: if done was set, every item it covers is visible below.
  const done = loadAcquire(m.done);
  const produced = loadAcquire(m.produced);
  let consumed = m.consumed;
  let n: u32 = 0;
  for (let i: u32 = 0; i < 64; i++) {
    if (consumed === produced) break;
    const item = m.slots[consumed & 63];
    atomicAdd(m.total, u64(item));
    atomicAdd(m.items, 1n);
    atomicFetchAdd(m.shared, 1n);
    consumed++;
    n++;
  }
  storeRelease(m.consumed, consumed);
  atomicAdd(m.polls, 1);
  if (n > 0) batches++;
  if (n > biggestBatch) biggestBatch = n;
  if (done !== 0 && consumed === produced) {
    status = 0;
    return STOP;
  }
  m.sleep.sec = 0n;
  m.sleep.nsec = i64(pollUs) * 1000n;
  sq.at(0).prepTimeout(userAddr(m.sleep), 0n, 0, 1n);
  if (ring.submit(1) !== 1) {
    status = -5;
    return STOP;
  }
  waiting = 1;
  lp.cqWaitIdx = head + 1;
  return CONTINUE;
});
