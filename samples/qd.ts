// A queue-depth keeper: userspace queues many more requests than the device should see at once (in the
// MEM region); the loop keeps exactly `depth` of them in flight, topping up as completions arrive, and
// records the highest depth it ever had in flight.
// Run: uringbpf run samples/qd.ts --mem count=200 --set depth=4
import { loopStep, config, u8, u32, i32, u64, FixedArray, CONTINUE, STOP } from "uringbpf";

/** Requests in flight at once (at most the SQ size). */
export const depth = config<u32>(4);

/** One queued request: the SQE fields that matter; a zeroed entry is a NOP. */
interface Req {
  opcode: u8;
  fd: i32;
  len: u32;
  off: u64;
  addr: u64;
}

interface Queue {
  count: u32; // requests queued by userspace
  status: i32; // 1 while running, 0 when all completed, -errno of the first failure
  submitted: u32;
  completed: u32;
  maxInflight: u32;
  reqs: FixedArray<Req, 256>;
}

let inflight: u32 = 0;

export const qd = loopStep((ring, lp) => {
  const q = ring.mem<Queue>();
  const sq = ring.sq();
  const cq = ring.cq();
  if (q === null || sq === null || cq === null) return STOP;
  if (depth === 0 || depth > sq.entries || q.count > q.reqs.length) {
    q.status = -22;
    return STOP;
  }
  let head = cq.head;
  const tail = cq.tail;
  for (let i: u32 = 0; i < 64; i++) {
    if (head === tail) break;
    const cqe = cq.at(head);
    if (cqe.res < 0 && q.status === 1) q.status = cqe.res;
    q.completed++;
    inflight--;
    head++;
  }
  cq.head = head;
  if (q.completed === q.count) {
    if (q.status === 1 || q.count === 0) q.status = 0;
    return STOP;
  }
  if (q.submitted === 0) q.status = 1;
  // Top up to exactly `depth` in flight.
  let n: u32 = 0;
  for (let i: u32 = 0; i < 32; i++) {
    if (inflight + n >= depth || q.submitted + n >= q.count) break;
    const r = q.reqs[q.submitted + n];
    sq.at(i).prep(r.opcode, r.fd, r.addr, r.len, r.off, u64(q.submitted + n));
    n++;
  }
  if (n > 0) {
    const got = ring.submit(n);
    if (got !== i32(n)) {
      q.status = got < 0 ? got : -5;
      return STOP;
    }
    q.submitted += n;
    inflight += n;
    if (inflight > q.maxInflight) q.maxInflight = inflight;
  }
  lp.cqWaitIdx = head + 1;
  return CONTINUE;
});
