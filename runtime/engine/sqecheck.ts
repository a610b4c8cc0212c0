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

/** Opcodes whose CQE res (>= 0) is a new descriptor the run then owns. */
export const FD_CREATORS = new Set([13, 18, 28, 45]);

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

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** Check entries 0..n-1 of `sqes` (64 bytes each); throws SqeError naming the SQE, opcode and field. */
export function checkSqes(sqes: Uint8Array, n: number, ctx: SqeCheckContext): void {
  const d = new DataView(sqes.buffer, sqes.byteOffset, sqes.byteLength);
  for (let i = 0; i < n; i++) checkSqe(d, i * 64, i, ctx);
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
    if (name !== 0n) mem(`msg_name of the msghdr at addr (msg_namelen ${namelen})`, name, BigInt(namelen), write);
    if (iovlen > BigInt(UIO_MAXIOV)) fail(`msg_iovlen of the msghdr at addr: ${iovlen} iovecs (at most ${UIO_MAXIOV})`);
    iovecs("msg_iov of the msghdr at addr", iov, Number(iovlen), write, !(write && bufferSelect));
    if (control !== 0n) mem(`msg_control of the msghdr at addr (msg_controllen ${controllen})`, control, controllen, write);
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
      fd("fd", fdv);
      if (addr2 !== 0n) {
        const r = mem("addr2 (socklen_t *)", addr2, 4n, true)!;
        if (addr !== 0n) mem(`addr (the sockaddr, *addr2 = ${read32(r, addr2)} bytes)`, addr, BigInt(read32(r, addr2)), true);
      } else if (addr !== 0n) mem("addr (the sockaddr)", addr, 1n, true);
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
