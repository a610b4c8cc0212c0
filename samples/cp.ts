// The reference file copy: one request in flight, read a block at the running offset, write it out at the
// same offset, repeat until end of file or an error. The loader opens the files (--open inFd=SRC,
// --open outFd=DST:w), allocates the buffer (--buffer buf=SIZE) and reads `result` and `copied` back.
import { loopStep, config, u32, i32, u64, bool, CONTINUE, STOP } from "uringbpf";

const READ: u64 = 1n;
const WRITE: u64 = 2n;
const EINVAL = 22;
const EIO = 5;

/** Bytes per read; set it with --set bufSize=N (at most the buffer's size). */
export const bufSize = config<u32>(4096);
export let inFd: i32 = -1;
export let outFd: i32 = -1;
/** Address of the copy buffer (the loader's --buffer). */
export let buf: u64 = 0n;
/** 1 while copying, 0 after a complete copy, -errno on failure. */
export let result: i32 = 1;
/** Bytes copied so far. */
export let copied: u64 = 0n;
/** Bytes the write in flight must write. */
let pending: u32 = 0;
let started: bool = false;

/** Record an error and stop the loop. */
function fail(err: i32): i32 {
  result = err;
  return STOP;
}

export const cp = loopStep((ring, lp) => {
  const sq = ring.sq();
  const cq = ring.cq();
  if (sq === null || cq === null) return fail(-EINVAL);
  if (inFd < 0 || outFd < 0 || buf === 0n) return fail(-EINVAL);

  let head = cq.head;
  if (!started) {
    started = true;
    sq.at(0).prepRead(inFd, buf, bufSize, copied, READ);
  } else {
    if (head === cq.tail) {
      lp.cqWaitIdx = head + 1;
      return CONTINUE;
    }
    const cqe = cq.at(head);
    const res = cqe.res;
    const op = cqe.userData;
    head++;
    cq.head = head;
    if (res < 0) return fail(res);
    if (op === READ) {
      if (res === 0) return fail(0); // end of file: done
      pending = u32(res);
      sq.at(0).prepWrite(outFd, buf, pending, copied, WRITE);
    } else {
      if (u32(res) !== pending) return fail(-EIO); // short write
      copied += u64(res);
      sq.at(0).prepRead(inFd, buf, bufSize, copied, READ);
    }
  }
  const submitted = ring.submit(1);
  if (submitted !== 1) return fail(submitted < 0 ? submitted : -EIO);
  lp.cqWaitIdx = head + 1;
  return CONTINUE;
});
