// Peeking at an application header to choose the next request: read a message stream into a buffer in
// the MEM region; each message starts with a header (u16 type, u16 length). The loop looks at the header
// and routes the body: type 1 is written to outA, type 2 to outB, anything else is skipped. One request
// in flight; every request depends on bytes the previous one brought in.
// Run: uringbpf run samples/peek.ts --open inFd=MSGS --open outA=A:w --open outB=B:w
import { loopStep, u8, u16, u32, i32, u64, FixedArray, userAddr, CONTINUE, STOP } from "uringbpf";

const HEADER: u64 = 1n;
const BODY: u64 = 2n;
const WRITE: u64 = 3n;

interface Msg {
  status: i32; // 1 running, 0 done, -errno
  routedA: u32;
  routedB: u32;
  skipped: u32;
  type: u16; // the header, read straight into the region
  length: u16;
  body: FixedArray<u8, 65536>;
}

export let inFd: i32 = -1;
export let outA: i32 = -1;
export let outB: i32 = -1;
let inOff: u64 = 0n;
let offA: u64 = 0n;
let offB: u64 = 0n;
let started: u32 = 0;

export const peek = loopStep((ring, lp) => {
  const m = ring.mem<Msg>();
  const sq = ring.sq();
  const cq = ring.cq();
  if (m === null || sq === null || cq === null) return STOP;
  const sqe = sq.at(0);
  let head = cq.head;
  if (started === 0) {
    started = 1;
    m.status = 1;
    sqe.prepRead(inFd, userAddr(m.type), 4, inOff, HEADER);
  } else {
    if (head === cq.tail) {
      lp.cqWaitIdx = head + 1;
      return CONTINUE;
    }
    const cqe = cq.at(head);
    const res = cqe.res;
    const what = cqe.userData;
    head++;
    cq.head = head;
    if (res < 0) {
      m.status = res;
      return STOP;
    }
    const len = u32(m.length);
    if (what === HEADER) {
      if (res === 0) {
        m.status = 0;
        return STOP;
      }
      if (res !== 4) {
        m.status = -74;
        return STOP;
      }
      sqe.prepRead(inFd, userAddr(m.body), len, inOff + 4n, BODY);
    } else if (what === BODY) {
      if (u32(res) !== len) {
        m.status = -74;
        return STOP;
      }
      inOff += 4n + u64(len);
      // Peek at the header to choose the next request.
      const type = m.type;
      if (type === 1) {
        sqe.prepWrite(outA, userAddr(m.body), len, offA, WRITE);
        offA += u64(len);
        m.routedA++;
      } else if (type === 2) {
        sqe.prepWrite(outB, userAddr(m.body), len, offB, WRITE);
        offB += u64(len);
        m.routedB++;
      } else {
        m.skipped++;
        sqe.prepRead(inFd, userAddr(m.type), 4, inOff, HEADER);
      }
    } else {
      if (u32(res) !== len) {
        m.status = -5;
        return STOP;
      }
      sqe.prepRead(inFd, userAddr(m.type), 4, inOff, HEADER);
    }
  }
  if (ring.submit(1) !== 1) {
    m.status = -5;
    return STOP;
  }
  lp.cqWaitIdx = head + 1;
  return CONTINUE;
});
