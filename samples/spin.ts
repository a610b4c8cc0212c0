// A polling loop that mixes busy checks of the CQ with sleeping, on a time budget: after submitting a
// request the loop checks the CQ without sleeping (cqWaitIdx = head: nothing to wait for, so the kernel
// runs task work and calls loop_step again at once) for up to `spinNs` nanoseconds of CLOCK_MONOTONIC
// (ktimeNs()), and only then sleeps until the completion arrives: the seed's "smarter polling" that
// intermixes polling with waiting. The counters show how a workload splits between the two.
// Run: uringbpf run samples/spin.ts --set spinNs=50000 --set requests=1000 --set delayUs=100
import { loopStep, config, ktimeNs, u32, i32, i64, u64, userAddr, CONTINUE, STOP } from "uringbpf";

/** How long to poll the CQ before sleeping, in nanoseconds. */
export const spinNs = config<u64>(20000n);
/** Requests to run, one at a time. */
export const requests = config<u32>(1000);
/** Each request: a NOP (0) or a timeout of this many microseconds (needs the MEM region). */
export const delayUs = config<u32>(0);

export let status: i32 = 1;
export let done: u32 = 0;
export let busyChecks: u32 = 0;
export let sleeps: u32 = 0;
export let hits: u32 = 0; // completions found by a busy check, within the budget
/** Nanoseconds spent polling, over all requests. */
export let spunNs: u64 = 0n;
/** When the current request's polling began (0: not polling yet). */
let spinStart: u64 = 0n;
let slept: u32 = 0;
let inflight: u32 = 0;

/** The MEM region holds the timeout's timespec (the kernel reads it from user memory). */
interface Delay {
  sec: i64;
  nsec: i64;
}

export const spin = loopStep((ring, lp) => {
  const sq = ring.sq();
  const cq = ring.cq();
  if (sq === null || cq === null) return STOP;
  let head = cq.head;
  if (inflight > 0) {
    if (head === cq.tail) {
      if (slept === 0) {
        const now = ktimeNs();
        if (spinStart === 0n) spinStart = now;
        if (now - spinStart < spinNs) {
          busyChecks++;
          lp.cqWaitIdx = head; // already reached: no sleep
          return CONTINUE;
        }
        spunNs += now - spinStart;
        slept = 1;
      }
      sleeps++;
      lp.cqWaitIdx = head + 1;
      return CONTINUE;
    }
    const res = cq.at(head).res;
    if (spinStart !== 0n && slept === 0) {
      hits++;
      spunNs += ktimeNs() - spinStart;
    }
    head++;
    cq.head = head;
    inflight = 0;
    done++;
    if (res < 0 && res !== -62) {
      status = res;
      return STOP;
    }
  }
  if (done >= requests) {
    status = 0;
    return STOP;
  }
  spinStart = 0n;
  slept = 0;
  const d = ring.mem<Delay>();
  if (delayUs > 0 && d !== null) {
    d.sec = i64(delayUs / 1000000);
    d.nsec = i64(delayUs % 1000000) * 1000n;
    sq.at(0).prepTimeout(userAddr(d), 0n, 0, u64(done));
  } else sq.at(0).prepNop(u64(done));
  if (ring.submit(1) !== 1) {
    status = -5;
    return STOP;
  }
  inflight = 1;
  lp.cqWaitIdx = head;
  return CONTINUE;
});
