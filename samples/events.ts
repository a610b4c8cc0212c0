// Every completion streamed to userspace through a ring buffer: the loop keeps `depth` NOPs in flight,
// each injecting a result of its own (IORING_NOP_INJECT_RESULT: res = the SQE's len), and turns each CQE
// into a record { seq, userData, res, flags } reserved in the ring buffer and submitted. A full buffer
// is counted, never waited for. After the run the loader prints the records in order.
// Run: uringbpf run samples/events.ts --set requests=100
import { loopStep, config, ringBuf, u32, i32, u64, CONTINUE, STOP, IORING_NOP_INJECT_RESULT } from "uringbpf";

/** Requests to run in all. */
export const requests = config<u32>(200);
/** Requests in flight at once (at most the SQ size). */
export const depth = config<u32>(8);

/** One completion, as userspace reads it from the ring buffer. */
interface Event {
  userData: u64;
  res: i32;
  flags: u32;
  seq: u32;
}
/** 16 KiB: 512 records of 24 bytes plus the 8-byte header each. */
export const events = ringBuf<Event>(16384);

export let status: i32 = 1;
export let submitted: u32 = 0;
export let completed: u32 = 0;
export let dropped: u32 = 0;
let running: u32 = 0;

/** The result request `i` injects: mostly its number, every seventh a negative errno. */
function injected(i: u32): i32 {
  return i % 7 === 3 ? -i32(i % 13 + 1) : i32(i * 3);
}

export const stream = loopStep((ring, lp) => {
  const sq = ring.sq();
  const cq = ring.cq();
  if (sq === null || cq === null) return STOP;
  if (depth === 0 || depth > sq.entries) {
    status = -22;
    return STOP;
  }
  let head = cq.head;
  const tail = cq.tail;
  for (let i: u32 = 0; i < 64; i++) {
    if (head === tail) break;
    const cqe = cq.at(head);
    const e = events.reserve();
    if (e === null) dropped++;
    else {
      e.userData = cqe.userData;
      e.res = cqe.res;
      e.flags = cqe.flags;
      e.seq = completed;
      events.submit(e);
    }
    completed++;
    running--;
    head++;
  }
  cq.head = head;
  if (completed === requests) {
    status = 0;
    return STOP;
  }
  let n: u32 = 0;
  for (let i: u32 = 0; i < 32; i++) {
    if (running + n >= depth || submitted + n >= requests) break;
    const id = submitted + n;
    const sqe = sq.at(i);
    sqe.prepNop(u64(id));
    sqe.opFlags = IORING_NOP_INJECT_RESULT;
    sqe.len = u32(injected(id));
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
