// Request chains that pass results on: read a stream of length-prefixed records. Each record is a
// little-endian u32 length followed by that many bytes. The loop reads the 4-byte header, then reads
// exactly `length` bytes (a request built from the previous completion's data, which linked SQEs cannot
// do), adds the bytes to a checksum inside the MEM region, and goes on with the next header.
// Run: uringbpf run samples/records.ts --open inFd=FILE   (results in the MEM region: records, bytes, checksum)
import { loopStep, u8, u32, i32, u64, FixedArray, Sqe, userAddr, CONTINUE, STOP } from "uringbpf";

const MAX_RECORD = 4096;
const HEADER: u64 = 1n;
const BODY: u64 = 2n;

/** The MEM region: results for userspace, and the read buffers. */
interface Records {
  status: i32; // 1 while reading, 0 at a clean end of file, -errno on failure
  records: u32;
  bytes: u64;
  checksum: u32; // sum of all record bytes, modulo 2^32
  length: u32; // the header being read (little-endian on x86)
  data: FixedArray<u8, 4096>;
}

export let inFd: i32 = -1;
/** File offset of the next header. */
let offset: u64 = 0n;
let started: u32 = 0;

/** Queue the read of the next record's header. */
function readHeader(p: Records, sqe: Sqe): void {
  sqe.prepRead(inFd, userAddr(p.length), 4, offset, HEADER);
}

export const records = loopStep((ring, lp) => {
  const p = ring.mem<Records>();
  const sq = ring.sq();
  const cq = ring.cq();
  if (p === null || sq === null || cq === null) return STOP;
  const sqe = sq.at(0);
  let head = cq.head;
  if (started === 0) {
    started = 1;
    p.status = 1;
    readHeader(p, sqe);
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
      p.status = res;
      return STOP;
    }
    if (what === HEADER) {
      if (res === 0) {
        p.status = 0; // end of file between records
        return STOP;
      }
      const len = p.length;
      if (res !== 4 || len > MAX_RECORD) {
        p.status = -74; // EBADMSG: torn header or oversized record
        return STOP;
      }
      if (len === 0) {
        p.records++;
        offset += 4n;
        readHeader(p, sqe);
      } else sqe.prepRead(inFd, userAddr(p.data), len, offset + 4n, BODY);
    } else {
      const len = p.length;
      if (u32(res) !== len) {
        p.status = -74; // short record at the end of the file
        return STOP;
      }
      // The byte loop converges on may_goto (a few hundred verifier insns, whatever len is); the mask
      // (len <= MAX_RECORD, a power of two) replaces a bounds check per byte, and `data` is taken once.
      let sum = p.checksum;
      const data = p.data;
      for (let i: u32 = 0; i < len; i++) sum += u32(data[i & (MAX_RECORD - 1)]);
      p.checksum = sum;
      p.records++;
      p.bytes += u64(len);
      offset += 4n + u64(len);
      readHeader(p, sqe);
    }
  }
  if (ring.submit(1) !== 1) {
    p.status = -5;
    return STOP;
  }
  lp.cqWaitIdx = head + 1;
  return CONTINUE;
});
