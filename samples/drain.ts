// IOSQE_IO_DRAIN done in the loop: a batch of writes, then a barrier (fsync) that is issued only after
// every write before it has completed, then a commit record written only after the barrier completed.
// The completion order goes into the MEM region, so a test can check that nothing overtook the barrier.
// Run: uringbpf run samples/drain.ts --open fd=FILE:w
import { loopStep, config, u8, u32, i32, u64, FixedArray, userAddr, CONTINUE, STOP } from "uringbpf";

const BLOCK = 512;
const BARRIER: u64 = 1000n;
const COMMIT: u64 = 2000n;

/** Writes before the barrier (at most the SQ size). */
export const writes = config<u32>(6);
export let fd: i32 = -1;

interface Log {
  status: i32; // 1 while running, 0 when the commit record is written, -errno on failure
  n: u32; // completions logged
  order: FixedArray<u64, 64>; // user_data of each completion, in completion order
  block: FixedArray<u8, 512>; // the data every write writes
}

let phase: u32 = 0; // 0 start, 1 writes in flight, 2 barrier in flight, 3 commit in flight
let inflight: u32 = 0;

export const drain = loopStep((ring, lp) => {
  const p = ring.mem<Log>();
  const sq = ring.sq();
  const cq = ring.cq();
  if (p === null || sq === null || cq === null) return STOP;
  if (writes > sq.entries || writes > 60) {
    p.status = -22;
    return STOP;
  }
  let head = cq.head;
  const tail = cq.tail;
  for (let i: u32 = 0; i < 64; i++) {
    if (head === tail) break;
    const cqe = cq.at(head);
    if (cqe.res < 0) {
      p.status = cqe.res;
      return STOP;
    }
    if (p.n < 64) p.order[p.n] = cqe.userData;
    p.n++;
    inflight--;
    head++;
  }
  cq.head = head;
  let n: u32 = 0;
  if (phase === 0) {
    p.status = 1;
    for (let i: u32 = 0; i < writes; i++) {
      p.block[i] = u8(i + 1);
      sq.at(i).prepWrite(fd, userAddr(p.block), BLOCK, u64(i) * 512n, u64(i));
    }
    n = writes;
    phase = 1;
  } else if (inflight === 0 && phase === 1) {
    // Every write has completed: now the barrier.
    sq.at(0).prepFsync(fd, 0, BARRIER);
    n = 1;
    phase = 2;
  } else if (inflight === 0 && phase === 2) {
    sq.at(0).prepWrite(fd, userAddr(p.block), BLOCK, u64(writes) * 512n, COMMIT);
    n = 1;
    phase = 3;
  } else if (inflight === 0 && phase === 3) {
    p.status = 0;
    return STOP;
  }
  if (n > 0) {
    if (ring.submit(n) !== i32(n)) {
      p.status = -5;
      return STOP;
    }
    inflight += n;
  }
  lp.cqWaitIdx = head + inflight;
  return CONTINUE;
});
