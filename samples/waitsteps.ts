// Multi-step waiting, a programmable min-wait: the loop starts a workload whose requests complete over
// time (each a NOP linked behind its own timer), then waits in stages: "N1 completions or a deadline,
// then N2 completions or a deadline, ...". Each stage is one IORING_OP_TIMEOUT with a completion count,
// so the kernel ends the wait at whichever comes first; the loop records how each stage ended and how
// much work it saw. (Timeout completions do not count towards a count, so the work is the NOPs.)
// Run: uringbpf run samples/waitsteps.ts --mem stages=2 --mem need[0]=2 --mem deadlineMs[0]=1000 ...
import { loopStep, u32, i32, i64, u64, FixedArray, userAddr, IOSQE_IO_LINK, IORING_TIMEOUT_ETIME_SUCCESS, CONTINUE, STOP } from "uringbpf";

const STAGE: u64 = 1n << 32n; // user_data of stage timeouts: STAGE + stage number
const TIMER: u64 = 1n << 33n; // user_data of the work's timers: TIMER + work number
const MAX_WORK = 4;
const ETIME = 62;

interface Timespec {
  sec: i64;
  nsec: i64;
}

interface Steps {
  status: i32; // 1 while running, 0 when every stage ended, -errno on failure
  work: u32; // requests in the workload (<= 4, and 2 * work + 1 <= SQ entries); the i-th completes after workMs[i]
  stages: u32; // stages (<= 8)
  workMs: FixedArray<u32, 8>;
  need: FixedArray<u32, 8>; // completions a stage waits for
  deadlineMs: FixedArray<u32, 8>; // or this long
  byDeadline: FixedArray<u32, 8>; // result: 1 if the stage ended at its deadline, 0 by its count
  seen: FixedArray<u32, 8>; // result: work completions seen during the stage
  workTs: FixedArray<Timespec, 8>;
  stageTs: FixedArray<Timespec, 8>;
}

let stage: u32 = 0;
let started: u32 = 0;
let inflight: u32 = 0;

function setMs(ts: Timespec, ms: u32): void {
  ts.sec = i64(ms / 1000);
  ts.nsec = i64(ms % 1000) * 1000000n;
}

export const waitsteps = loopStep((ring, lp) => {
  const p = ring.mem<Steps>();
  const sq = ring.sq();
  const cq = ring.cq();
  if (p === null || sq === null || cq === null) return STOP;
  if (p.work > MAX_WORK || p.stages > 8 || 2 * p.work + 1 > sq.entries) {
    p.status = -22;
    return STOP;
  }
  let n: u32 = 0;
  let head = cq.head;
  if (started === 0) {
    started = 1;
    p.status = 1;
    // The workload: each request a NOP linked behind its own timer (which counts as done on expiry).
    for (let i: u32 = 0; i < MAX_WORK; i++) {
      if (i >= p.work) break;
      setMs(p.workTs[i], p.workMs[i]);
      const timer = sq.at(n);
      timer.prepTimeout(userAddr(p.workTs[i]), 0n, IORING_TIMEOUT_ETIME_SUCCESS, TIMER + u64(i));
      timer.flags = IOSQE_IO_LINK;
      sq.at(n + 1).prepNop(u64(i));
      n += 2;
    }
  } else {
    const tail = cq.tail;
    for (let i: u32 = 0; i < 32; i++) {
      if (head === tail) break;
      const cqe = cq.at(head);
      head++;
      inflight--;
      if (cqe.userData >= TIMER) continue; // a work timer expiring: its NOP follows
      if (cqe.userData >= STAGE) {
        // The stage's wait ended: by its count (res 0) or its deadline (-ETIME).
        if (cqe.res !== 0 && cqe.res !== -ETIME) {
          p.status = cqe.res;
          return STOP;
        }
        if (stage < 8) p.byDeadline[stage] = cqe.res === -ETIME ? 1 : 0;
        stage++;
        if (stage < 8 && stage < p.stages) started = 1;
      } else if (stage < 8) p.seen[stage]++;
    }
    cq.head = head;
  }
  if (stage >= p.stages) {
    p.status = 0;
    return STOP;
  }
  if (started === 1) {
    // Arm the current stage: complete after `need` more CQEs or at its deadline.
    setMs(p.stageTs[stage], p.deadlineMs[stage]);
    sq.at(n).prepTimeout(userAddr(p.stageTs[stage]), u64(p.need[stage]), 0, STAGE + u64(stage));
    n++;
    started = 2;
  }
  if (n > 0) {
    if (ring.submit(n) !== i32(n)) {
      p.status = -5;
      return STOP;
    }
    inflight += n;
  }
  lp.cqWaitIdx = head + 1;
  return CONTINUE;
});
