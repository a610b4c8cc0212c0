// The reference NOP chain: keep up to MAX_INFLIGHT NOPs in flight until `reqsToRun` have completed.
// Each completion's user_data is checked against TOKEN; the loop sleeps until every request in flight
// has completed, unless completions are already waiting.
import { loopStep, u32, i32, u64, CONTINUE, STOP } from "uringbpf";

const MAX_INFLIGHT = 8;
const TOKEN: u64 = 0xabba1741n;

/** Requests still to run; the loader sets it, and it reads back 0 after a complete run. */
export let reqsToRun: i32 = 0;
/** 0 on success, or the error: -EINVAL (-22) for a bad region, a CQE's negative res, -EBADMSG (-74) for a wrong user_data. */
export let result: i32 = 0;
/** Requests submitted and not yet completed. */
let inflight: u32 = 0;

export const nops = loopStep((ring, lp) => {
  const sq = ring.sq();
  const cq = ring.cq();
  if (sq === null || cq === null) {
    result = -22;
    return STOP;
  }

  // Reap what has completed.
  let head = cq.head;
  const tail = cq.tail;
  for (let i: u32 = 0; i < MAX_INFLIGHT; i++) {
    if (head === tail) break;
    const cqe = cq.at(head);
    if (cqe.userData !== TOKEN) {
      result = -74;
      return STOP;
    }
    if (cqe.res < 0) {
      result = cqe.res;
      return STOP;
    }
    head++;
    inflight--;
  }
  cq.head = head;

  // Top the queue up to MAX_INFLIGHT.
  let n: u32 = 0;
  for (let i: u32 = 0; i < MAX_INFLIGHT; i++) {
    if (inflight + n >= MAX_INFLIGHT || reqsToRun <= 0) break;
    sq.at(i).prepNop(TOKEN);
    n++;
    reqsToRun--;
  }
  if (n > 0) {
    const submitted = ring.submit(n);
    if (submitted !== i32(n)) {
      result = submitted < 0 ? submitted : -5;
      return STOP;
    }
    inflight += n;
  }
  if (inflight === 0) return STOP;

  // Sleep until everything in flight has completed.
  lp.cqWaitIdx = head + inflight;
  return CONTINUE;
});
