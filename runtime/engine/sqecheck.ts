// The userspace engine's check of every SQE before it reaches a real ring (issue 16). The interpreter
// bounds-checks the program's own loads and stores, but an SQE hands addresses to the kernel, which then
// reads or writes this process's memory on the program's behalf. So before each submit, every user
// address an opcode makes the kernel touch (buffers, iovec arrays and the buffers they name, msghdrs and
// their names, iovecs and control data, sockaddrs and their length words, timespecs, paths, open_how,
// statx buffers, xattr names and values, provided buffers, epoll events) must lie, for its whole length,
// inside memory the run owns: a --buffer or the MEM region (mapped at their real addresses). Descriptors
// must be ones the run owns too (stdio, --open files, descriptors the run's own requests created), so a
// program cannot write into, or close, the Node process's own files. Opcodes the engine cannot check
// (registered buffers or files, other rings, futexes, uring_cmd, ...) are refused unless the run allows
// unchecked SQEs explicitly.

import type { Region } from "./interp";

export interface SqeCheckContext {
  /** Memory the kernel may touch on the program's behalf. */
  owned: Region[];
  /** Descriptors the run owns. */
  fds: Set<number>;
  /** Pass opcodes the engine cannot check (the --allow-unchecked-sqes flag). */
  allowUnchecked: boolean;
}

/** An SQE the engine will not submit (the interpreter reports it at the submit call's instruction). */
export class SqeError extends Error {}

/** IORING_OP_* names by number (include/uapi/linux/io_uring.h). */
export const OPCODES = [
  "NOP", "READV", "WRITEV", "FSYNC", "READ_FIXED", "WRITE_FIXED", "POLL_ADD", "POLL_REMOVE", "SYNC_FILE_RANGE", "SENDMSG", "RECVMSG",
  "TIMEOUT", "TIMEOUT_REMOVE", "ACCEPT", "ASYNC_CANCEL", "LINK_TIMEOUT", "CONNECT", "FALLOCATE", "OPENAT", "CLOSE", "FILES_UPDATE",
  "STATX", "READ", "WRITE", "FADVISE", "MADVISE", "SEND", "RECV", "OPENAT2", "EPOLL_CTL", "SPLICE", "PROVIDE_BUFFERS",
  "REMOVE_BUFFERS", "TEE", "SHUTDOWN", "RENAMEAT", "UNLINKAT", "MKDIRAT", "SYMLINKAT", "LINKAT", "MSG_RING", "FSETXATTR",
  "SETXATTR", "FGETXATTR", "GETXATTR", "SOCKET", "URING_CMD", "SEND_ZC", "SENDMSG_ZC", "READ_MULTISHOT", "WAITID", "FUTEX_WAIT",
  "FUTEX_WAKE", "FUTEX_WAITV", "FIXED_FD_INSTALL", "FTRUNCATE", "BIND", "LISTEN", "RECV_ZC", "EPOLL_WAIT", "READV_FIXED",
  "WRITEV_FIXED", "PIPE",
];

/** Opcodes whose CQE res (>= 0) is a new descriptor the run then owns: 1 at their index (a table, so the
 *  per-SQE test of the submit path is one load). */
export const FD_CREATORS = new Uint8Array(256);
for (const op of [13, 18, 28, 45]) FD_CREATORS[op] = 1;

/** Why an opcode cannot be checked (refused without --allow-unchecked-sqes). */
const UNCHECKED: Record<number, string> = {
  4: "registered buffers", 5: "registered buffers", 20: "the registered file table", 40: "another ring",
  46: "driver commands (uring_cmd)", 50: "waitid's siginfo", 51: "futexes", 52: "futexes", 53: "futexes",
  54: "the registered file table", 58: "zero-copy receive areas", 60: "registered buffers", 61: "registered buffers",
  62: "pipe descriptors written to memory",
};

const IOSQE_FIXED_FILE = 1;
const IOSQE_BUFFER_SELECT = 1 << 5;
const AT_FDCWD = -100;
const PATH_MAX = 4096;
const UIO_MAXIOV = 1024;
const SOCKADDR_STORAGE = 128;

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** SQEs, iovec arrays and the like are read through DataViews; the largest address a region can reach
 *  is far below 2^53, so addresses and lengths are compared as numbers: a value at or above 2^53 (inexact
 *  as a number) is beyond every region either way. */
const TWO32 = 4294967296;

/**
 * The run's owned memory as a table sorted by address, built once per run (again only when a region is
 * added): the check of a batch allocates nothing and needs no BigInt.
 */
interface Table {
  count: number;
  start: Float64Array;
  end: Float64Array;
  /** The regions' bytes, to read iovec arrays from. */
  views: DataView[];
}
const tables = new WeakMap<SqeCheckContext, Table>();

/** The last context's table (a run checks every batch against one context: no WeakMap lookup). */
let lastTable: { ctx: SqeCheckContext; t: Table } | undefined;

function tableOf(ctx: SqeCheckContext): Table {
  if (lastTable !== undefined && lastTable.ctx === ctx && lastTable.t.count === ctx.owned.length) return lastTable.t;
  let t = tables.get(ctx);
  if (t && t.count === ctx.owned.length) {
    lastTable = { ctx, t };
    return t;
  }
  const rs = [...ctx.owned].sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));
  t = { count: rs.length, start: Float64Array.from(rs, (r) => Number(r.base)), end: Float64Array.from(rs, (r) => Number(r.base) + r.bytes.length), views: rs.map((r) => new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength)) };
  tables.set(ctx, t);
  lastTable = { ctx, t };
  return t;
}

/** Whether [a, a + len) lies inside one owned region (len 0: nothing to check). */
function inside(t: Table, a: number, len: number): boolean {
  return len === 0 || regionAt(t, a, len) >= 0;
}

/** The index of the region holding [a, a + len), or -1. */
function regionAt(t: Table, a: number, len: number): number {
  // The last region starting at or below a (regions are disjoint allocations).
  let lo = 0;
  let hi = t.count - 1;
  let k = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (t.start[mid] <= a) {
      k = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return k >= 0 && a + len <= t.end[k] ? k : -1;
}

const sqeViews = new WeakMap<Uint8Array, DataView>();
let lastSqes: { sqes: Uint8Array; d: DataView } | undefined;

/** Check entries 0..n-1 of `sqes` (64 bytes each); throws SqeError naming the SQE, opcode and field. */
export function checkSqes(sqes: Uint8Array, n: number, ctx: SqeCheckContext): void {
  let d: DataView | undefined;
  if (lastSqes !== undefined && lastSqes.sqes === sqes) d = lastSqes.d;
  else {
    d = sqeViews.get(sqes);
    if (!d) sqeViews.set(sqes, (d = new DataView(sqes.buffer, sqes.byteOffset, sqes.byteLength)));
    lastSqes = { sqes, d };
  }
  const t = tableOf(ctx);
  // The quick check passes the common opcodes it can prove harmless; anything else (a refusal, or an
  // opcode it does not cover) goes to the full check, which names the field it refuses.
  for (let i = 0; i < n; i++) if (!quickCheck(d, i * 64, t, ctx)) checkSqe(d, i * 64, i, ctx);
}

/** The full check of entry i alone, without the fast path (for the test of the fast path). */
export function fullCheckSqe(sqes: Uint8Array, i: number, ctx: SqeCheckContext): void {
  checkSqe(new DataView(sqes.buffer, sqes.byteOffset, sqes.byteLength), i * 64, i, ctx);
}

/** The quick check of entry i alone (for the test that it never passes what checkSqe refuses). */
export function quickCheckSqe(sqes: Uint8Array, i: number, ctx: SqeCheckContext): boolean {
  return quickCheck(new DataView(sqes.buffer, sqes.byteOffset, sqes.byteLength), i * 64, tableOf(ctx), ctx);
}

/**
 * The fast path of the check: true only when the SQE at `o` certainly passes checkSqe (test/enginesafe
 * tests that over random SQEs); false means "let checkSqe decide". Numbers only, no allocation.
 */
function quickCheck(d: DataView, o: number, t: Table, ctx: SqeCheckContext): boolean {
  const opcode = d.getUint8(o);
  if (opcode === 0) return true; // NOP
  const flags = d.getUint8(o + 1);
  const fdv = d.getInt32(o + 4, true);
  const fdOk = (flags & IOSQE_FIXED_FILE) !== 0 || ctx.fds.has(fdv);
  const bufferSelect = (flags & IOSQE_BUFFER_SELECT) !== 0;
  const addr = d.getUint32(o + 16, true) + d.getUint32(o + 20, true) * TWO32;
  const len = d.getUint32(o + 24, true);
  switch (opcode) {
    case 7: case 14: case 32: case 45: // POLL_REMOVE, ASYNC_CANCEL, REMOVE_BUFFERS, SOCKET
      return true;
    case 3: case 6: case 8: case 17: case 24: case 34: case 55: case 57: // fd only
      return fdOk;
    case 22: case 23: // READ, WRITE (no read/write attributes: those go to checkSqe)
      if (!fdOk || d.getUint32(o + 56, true) !== 0 || d.getUint32(o + 60, true) !== 0) return false;
      return (opcode === 22 && bufferSelect) || inside(t, addr, len);
    case 27: // RECV
      return fdOk && (bufferSelect || inside(t, addr, len));
    case 26: { // SEND
      const addr2 = d.getUint32(o + 8, true) + d.getUint32(o + 12, true) * TWO32;
      return fdOk && inside(t, addr, len) && (addr2 === 0 || inside(t, addr2, d.getUint16(o + 44, true)));
    }
    case 11: case 15: // TIMEOUT, LINK_TIMEOUT
      return inside(t, addr, 16);
    case 31: // PROVIDE_BUFFERS
      return inside(t, addr, (fdv >>> 0) * len);
    case 19: // CLOSE
      return d.getUint32(o + 28, true) !== 0 || d.getUint32(o + 44, true) !== 0 || ctx.fds.has(fdv);
    case 1: case 2: { // READV, WRITEV
      if (!fdOk || len > UIO_MAXIOV || d.getUint32(o + 56, true) !== 0 || d.getUint32(o + 60, true) !== 0) return false;
      return iovecsInside(t, addr, len, !(opcode === 1 && bufferSelect));
    }
  }
  return false;
}

/** The iovec array at `a` (count entries) is owned, and with `buffersToo` every buffer it names. */
function iovecsInside(t: Table, a: number, count: number, buffersToo: boolean): boolean {
  if (count === 0) return true;
  const r = regionAt(t, a, count * 16);
  if (r < 0) return false;
  if (!buffersToo) return true;
  const v = t.views[r];
  const at = a - t.start[r];
  for (let k = 0; k < count; k++) {
    const p = at + k * 16;
    const base = v.getUint32(p, true) + v.getUint32(p + 4, true) * TWO32;
    const n = v.getUint32(p + 8, true) + v.getUint32(p + 12, true) * TWO32;
    if (!inside(t, base, n)) return false;
  }
  return true;
}

/** The owned region holding [addr, addr + len), or undefined. */
function ownedAt(ctx: SqeCheckContext, addr: bigint, len: bigint): Region | undefined {
  return ctx.owned.find((r) => addr >= r.base && addr + len <= r.base + BigInt(r.bytes.length));
}

function describeOwned(ctx: SqeCheckContext, addr: bigint): string {
  if (!ctx.owned.length) return "the run owns no memory the kernel may use (no --buffer, no MEM region)";
  // The region the address falls into or lies nearest below.
  const near = ctx.owned.filter((r) => r.base <= addr).sort((a, b) => (a.base > b.base ? -1 : 1))[0] ?? ctx.owned[0];
  return `nearest: ${near.name} at ${hex(near.base)}, ${near.bytes.length} bytes`;
}

function checkSqe(d: DataView, o: number, i: number, ctx: SqeCheckContext): void {
  const opcode = d.getUint8(o);
  const flags = d.getUint8(o + 1);
  const name = `IORING_OP_${OPCODES[opcode] ?? `#${opcode}`}`;
  const fail = (what: string): never => {
    throw new SqeError(`SQE ${i} (${name}): ${what}; the engine does not submit it`);
  };
  const u64 = (off: number) => d.getBigUint64(o + off, true);
  const u32 = (off: number) => d.getUint32(o + off, true);
  const addr = u64(16);
  const addr2 = u64(8);
  const addr3 = u64(48);
  const len = u32(24);
  const opFlags = u32(28);
  const bufferSelect = (flags & IOSQE_BUFFER_SELECT) !== 0;

  /** [a, a + size) must be owned memory (nothing to check for size 0). */
  const mem = (field: string, a: bigint, size: bigint, write: boolean): Region | undefined => {
    if (size === 0n) return undefined;
    const r = ownedAt(ctx, a, size);
    if (!r) fail(`${field} = ${hex(a)}, ${size} byte${size === 1n ? "" : "s"} the kernel would ${write ? "write" : "read"}, is not inside memory the run owns (${describeOwned(ctx, a)})`);
    return r;
  };
  const read64 = (r: Region, a: bigint) => new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength).getBigUint64(Number(a - r.base), true);
  const read32 = (r: Region, a: bigint) => new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength).getUint32(Number(a - r.base), true);
  /** A NUL-terminated path or name inside one owned region. */
  const str = (field: string, a: bigint) => {
    const r = ctx.owned.find((x) => a >= x.base && a < x.base + BigInt(x.bytes.length));
    if (!r) fail(`${field} = ${hex(a)}, a string the kernel would read, is not inside memory the run owns (${describeOwned(ctx, a)})`);
    const start = Number(a - r!.base);
    const end = r!.bytes.indexOf(0, start);
    if (end < 0 || end - start >= PATH_MAX) fail(`${field} = ${hex(a)}: the string is not NUL-terminated inside ${r!.name} (within ${PATH_MAX} bytes)`);
  };
  const iovecs = (field: string, a: bigint, count: number, write: boolean, buffersToo: boolean) => {
    if (count > UIO_MAXIOV) fail(`${field}: ${count} iovecs (at most ${UIO_MAXIOV})`);
    const r = mem(`${field} (the iovec array, ${count} entries)`, a, BigInt(count) * 16n, false);
    if (!r || !buffersToo) return;
    for (let k = 0; k < count; k++) {
      const base = read64(r, a + BigInt(k) * 16n);
      const n = read64(r, a + BigInt(k) * 16n + 8n);
      mem(`iovec ${k} of ${field} (iov_base, iov_len ${n})`, base, n, write);
    }
  };
  const fd = (field: string, v: number, dirfd = false) => {
    if (flags & IOSQE_FIXED_FILE && field === "fd") return; // an index into the (empty) registered table
    if (dirfd && v === AT_FDCWD) return;
    if (!ctx.fds.has(v)) fail(`${field} = ${v} is not a descriptor the run owns (${[...ctx.fds].sort((x, y) => x - y).join(", ")}: stdio, --open files and descriptors its requests created)`);
  };
  const msghdr = (write: boolean) => {
    const r = mem("addr (struct msghdr, 56 bytes)", addr, 56n, true)!;
    const name = read64(r, addr);
    const namelen = read32(r, addr + 8n);
    const iov = read64(r, addr + 16n);
    const iovlen = read64(r, addr + 24n);
    const control = read64(r, addr + 32n);
    const controllen = read64(r, addr + 40n);
    // RECVMSG writes the peer's address at completion, reading msg_namelen from the user msghdr then (not
    // now): up to sizeof(struct sockaddr_storage) bytes, as for ACCEPT.
    if (name !== 0n) {
      if (write) mem(`msg_name of the msghdr at addr (up to ${SOCKADDR_STORAGE} bytes, sizeof(struct sockaddr_storage): msg_namelen is read when a message arrives)`, name, BigInt(SOCKADDR_STORAGE), true);
      else mem(`msg_name of the msghdr at addr (msg_namelen ${namelen})`, name, BigInt(namelen), false);
    }
    if (iovlen > BigInt(UIO_MAXIOV)) fail(`msg_iovlen of the msghdr at addr: ${iovlen} iovecs (at most ${UIO_MAXIOV})`);
    iovecs("msg_iov of the msghdr at addr", iov, Number(iovlen), write, !(write && bufferSelect));
    if (control !== 0n) mem(`msg_control of the msghdr at addr (msg_controllen ${controllen})`, control, controllen, write);
  };
  /** READ/WRITE/READV/WRITEV attributes (Linux 6.15+: attr_ptr at addr3, attr_type_mask after it): with
   *  IORING_RW_ATTR_FLAG_PI the kernel reads a 32-byte struct io_uring_attr_pi at attr_ptr and maps
   *  its protection-information buffer (addr, len) for the I/O. */
  const rwAttributes = (write: boolean) => {
    const mask = u64(56);
    if (mask === 0n) return;
    if (mask !== 1n) fail(`attr_type_mask = ${hex(mask)}: the engine knows only IORING_RW_ATTR_FLAG_PI (1) and does not submit other read/write attributes`);
    const r = mem("attr_ptr (struct io_uring_attr_pi, 32 bytes)", addr3, 32n, false)!;
    const piLen = read32(r, addr3 + 4n);
    mem(`addr of the io_uring_attr_pi at attr_ptr (the protection information, len ${piLen})`, read64(r, addr3 + 8n), BigInt(piLen), write);
  };
  const timespec = (field: string, a: bigint) => mem(`${field} (struct __kernel_timespec, 16 bytes)`, a, 16n, false);

  if (UNCHECKED[opcode] !== undefined || opcode >= OPCODES.length) {
    if (ctx.allowUnchecked) return;
    const why = UNCHECKED[opcode] ?? "an opcode the engine does not know";
    fail(`the engine cannot check what this opcode makes the kernel touch (${why}); --allow-unchecked-sqes submits such SQEs anyway, letting the kernel read or write any memory of this process for the program`);
  }
  const fdv = d.getInt32(o + 4, true);
  switch (opcode) {
    case 0: case 7: case 14: case 32: case 45:
      return; // NOP, POLL_REMOVE, ASYNC_CANCEL (user_data, not pointers), REMOVE_BUFFERS, SOCKET
    case 1: case 2: // READV, WRITEV
      fd("fd", fdv);
      rwAttributes(opcode === 1);
      return iovecs("addr", addr, len, opcode === 1, !(opcode === 1 && bufferSelect));
    case 3: case 6: case 8: case 17: case 24: case 34: case 55: case 57: // fd only
      return fd("fd", fdv);
    case 9: case 10: case 48: // SENDMSG, RECVMSG, SENDMSG_ZC
      fd("fd", fdv);
      return msghdr(opcode === 10);
    case 11: case 15: // TIMEOUT, LINK_TIMEOUT
      timespec("addr", addr);
      return;
    case 12: // TIMEOUT_REMOVE: addr is the user_data; with IORING_TIMEOUT_UPDATE addr2 is the new timespec
      if (opFlags & (1 << 1)) timespec("addr2", addr2);
      return;
    case 13: { // ACCEPT: addr2 points at the socklen_t the kernel reads and writes, addr at the sockaddr
      // The kernel reads *addr2 only when a connection arrives (perhaps steps later, or in an io-wq worker
      // while loop_step runs), so its value now bounds nothing: it writes min(*addr2, the peer address's
      // length) bytes, at most sizeof(struct sockaddr_storage), and all of those must be owned.
      fd("fd", fdv);
      if (addr2 !== 0n) mem("addr2 (socklen_t *)", addr2, 4n, true);
      if (addr !== 0n) mem(`addr (the sockaddr: up to ${SOCKADDR_STORAGE} bytes, sizeof(struct sockaddr_storage), as *addr2 may change before a connection arrives)`, addr, BigInt(SOCKADDR_STORAGE), true);
      return;
    }
    case 16: // CONNECT: the sockaddr at addr, its length in off
      fd("fd", fdv);
      mem(`addr (the sockaddr, off = ${addr2} bytes)`, addr, addr2, false);
      return;
    case 56: // BIND: the sockaddr at addr, its length in addr2
      fd("fd", fdv);
      mem(`addr (the sockaddr, addr2 = ${addr2} bytes)`, addr, addr2, false);
      return;
    case 18: // OPENAT
      fd("fd (dirfd)", fdv, true);
      return str("addr (the path)", addr);
    case 28: // OPENAT2
      fd("fd (dirfd)", fdv, true);
      str("addr (the path)", addr);
      mem(`addr2 (struct open_how, len = ${len} bytes)`, addr2, BigInt(len), false);
      return;
    case 19: // CLOSE
      if (opFlags === 0 && d.getUint32(o + 44, true) === 0) fd("fd", fdv);
      return;
    case 21: // STATX
      fd("fd (dirfd)", fdv, true);
      str("addr (the path)", addr);
      mem("addr2 (struct statx, 256 bytes)", addr2, 256n, true);
      return;
    case 22: case 23: // READ, WRITE
      fd("fd", fdv);
      rwAttributes(opcode === 22);
      if (!(opcode === 22 && bufferSelect)) mem(`addr (the buffer, len = ${len})`, addr, BigInt(len), opcode === 22);
      return;
    case 25: // MADVISE: the advice acts on the memory itself
      mem(`addr (the range advised, len = ${len})`, addr, BigInt(len), true);
      return;
    case 26: case 47: { // SEND, SEND_ZC (addr2: an optional destination sockaddr of addr_len bytes)
      fd("fd", fdv);
      mem(`addr (the buffer, len = ${len})`, addr, BigInt(len), false);
      const addrLen = d.getUint16(o + 44, true);
      if (addr2 !== 0n) mem(`addr2 (the destination sockaddr, addr_len = ${addrLen})`, addr2, BigInt(addrLen), false);
      return;
    }
    case 27: // RECV
      fd("fd", fdv);
      if (!bufferSelect) mem(`addr (the buffer, len = ${len})`, addr, BigInt(len), true);
      return;
    case 49: // READ_MULTISHOT: provided buffers only
      return fd("fd", fdv);
    case 29: // EPOLL_CTL: fd the epoll instance, off the target, addr the struct epoll_event (12 bytes)
      fd("fd", fdv);
      fd("off (the target descriptor)", Number(BigInt.asIntN(32, addr2)));
      if (addr !== 0n) mem("addr (struct epoll_event, 12 bytes)", addr, 12n, false);
      return;
    case 59: // EPOLL_WAIT: len events of 12 bytes written at addr
      fd("fd", fdv);
      mem(`addr (the epoll_event array, len = ${len} entries)`, addr, BigInt(len) * 12n, true);
      return;
    case 30: case 33: // SPLICE, TEE: fd out, splice_fd_in in (SPLICE_F_FD_IN_FIXED: a registered index)
      fd("fd", fdv);
      if (!(opFlags & (1 << 31))) fd("splice_fd_in", d.getInt32(o + 44, true));
      return;
    case 31: { // PROVIDE_BUFFERS: fd = number of buffers, len = size of each, from addr
      const nbufs = BigInt(fdv >>> 0);
      mem(`addr (${nbufs} provided buffers of len = ${len} bytes)`, addr, nbufs * BigInt(len), true);
      return;
    }
    case 35: case 39: // RENAMEAT, LINKAT: old dirfd + addr, new dirfd (len) + addr2
      fd("fd (old dirfd)", fdv, true);
      str("addr (the old path)", addr);
      fd("len (new dirfd)", len | 0, true);
      return str("addr2 (the new path)", addr2);
    case 36: case 37: // UNLINKAT, MKDIRAT
      fd("fd (dirfd)", fdv, true);
      return str("addr (the path)", addr);
    case 38: // SYMLINKAT: addr the target, addr2 the link's path under dirfd
      fd("fd (dirfd)", fdv, true);
      str("addr (the link target)", addr);
      return str("addr2 (the link path)", addr2);
    case 41: case 43: // FSETXATTR, FGETXATTR
      fd("fd", fdv);
      str("addr (the attribute name)", addr);
      mem(`addr2 (the value, len = ${len})`, addr2, BigInt(len), opcode === 43);
      return;
    case 42: case 44: // SETXATTR, GETXATTR: the path in addr3
      str("addr3 (the path)", addr3);
      str("addr (the attribute name)", addr);
      mem(`addr2 (the value, len = ${len})`, addr2, BigInt(len), opcode === 44);
      return;
  }
  /* c8 ignore next */
  fail("no check is defined for this opcode");
}
