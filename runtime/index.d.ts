// The uringbpf DSL: declarations of everything a loop_step program may use. A program file imports from
// "uringbpf"; the editor type-checks it against these declarations and `uringbpf build` compiles it to BPF.
// Nothing here runs in JavaScript: the compiler gives each name its meaning (see docs/LANGUAGE.md).

/** Unsigned 8-bit integer (C `__u8`). Arithmetic wraps modulo 2^8. */
export type u8 = number;
/** Unsigned 16-bit integer (C `__u16`). */
export type u16 = number;
/** Unsigned 32-bit integer (C `__u32`). */
export type u32 = number;
/** Signed 8-bit integer (C `__s8`). */
export type i8 = number;
/** Signed 16-bit integer (C `__s16`). */
export type i16 = number;
/** Signed 32-bit integer (C `int`). */
export type i32 = number;
/** Unsigned 64-bit integer (C `__u64`); written with bigint literals (`1n`). */
export type u64 = bigint;
/** Signed 64-bit integer (C `__s64`); written with bigint literals. */
export type i64 = bigint;
/** Boolean, stored as 0 or 1. */
export type bool = boolean;

/** A fixed-size array inside a MEM-region layout: `FixedArray<u32, 16>` is C's `__u32[16]`. Constant
 *  indices are checked at compile time; other indices at run time (out of range stops the program). */
export interface FixedArray<T, N extends number> {
  readonly length: N;
  [index: number]: T;
}

/** Explicit conversions (truncate or extend, C rules). */
export declare function u8(x: number | bigint | boolean): u8;
export declare function u16(x: number | bigint | boolean): u16;
export declare function u32(x: number | bigint | boolean): u32;
export declare function i8(x: number | bigint | boolean): i8;
export declare function i16(x: number | bigint | boolean): i16;
export declare function i32(x: number | bigint | boolean): i32;
export declare function u64(x: number | bigint | boolean): u64;
export declare function i64(x: number | bigint | boolean): i64;

/** Print a line to the kernel's trace buffer (bpf_trace_printk): a string-literal format with at most three
 *  integer values (%d %u %x %ld %lu %lx %lld %llu %llx). `uringbpf run --trace` shows the output. */
export declare function trace(format: string, ...values: (number | bigint | boolean)[]): void;

/** The userspace address of a place inside the MEM region (`userAddr(p.buf)`, `userAddr(p.slots[i])`), for
 *  an SQE's buffer address: the kernel reads and writes the region's pages at that address. */
export declare function userAddr(place: unknown): u64;

/** loop_step return value: call loop_step again after waiting for `lp.cqWaitIdx` (IOU_LOOP_CONTINUE). */
export declare const CONTINUE: 0;
/** loop_step return value: leave the loop and return to userspace (IOU_LOOP_STOP). */
export declare const STOP: 1;

/** A loader-set configuration value: lives in frozen `.rodata`, the loader may overwrite the default before
 *  load, and the verifier then knows it as a constant. Only `const X = config<T>(default)` at top level. */
export declare function config<T extends number | bigint | boolean>(defaultValue: T): T;

/** One submission queue entry (64 bytes, `struct io_uring_sqe`). Every field is writable. */
export interface Sqe {
  opcode: u8;
  flags: u8;
  ioprio: u16;
  fd: i32;
  /** Offset into the file. */
  off: u64;
  /** The same field as `off`, by its other UAPI name. */
  addr2: u64;
  /** Buffer address (also `splice_off_in`). */
  addr: u64;
  len: u32;
  /** The opcode-specific flags word (`rw_flags`, `fsync_flags`, `timeout_flags`, ...). */
  opFlags: u32;
  userData: u64;
  /** `buf_index` / `buf_group`. */
  bufIndex: u16;
  personality: u16;
  /** `splice_fd_in` / `file_index`. */
  spliceFdIn: i32;
  addr3: u64;
}

/** The submission queue: the SQE array (region 2). With IORING_SETUP_SQ_REWIND, `submit(n)` takes
 *  entries 0..n-1. Indices wrap modulo the number of entries (a power of two). */
export interface Sq {
  /** The entry at index `i & (entries - 1)`. */
  at(i: u32): Sqe;
  /** Number of SQ entries (from io_uring_params, filled in by the loader). */
  readonly entries: u32;
}

/** One completion queue entry (`struct io_uring_cqe`). */
export interface Cqe {
  readonly userData: u64;
  readonly res: i32;
  readonly flags: u32;
}

/** The completion queue in the rings region (region 1). */
export interface Cq {
  /** The consumer index; write it to release consumed CQEs. */
  head: u32;
  /** The producer index (written by the kernel). */
  readonly tail: u32;
  /** Number of CQ entries. */
  readonly entries: u32;
  /** The CQE at index `i & (entries - 1)`. */
  at(i: u32): Cqe;
}

/** The io_uring instance the loop runs on (the kernel's `struct io_ring_ctx`). */
export interface Ring {
  /** The SQE array, or null if the kernel cannot map it. */
  sq(): Sq | null;
  /** The CQ ring, or null if the kernel cannot map it. */
  cq(): Cq | null;
  /** The MEM region (IORING_REGISTER_MEM_REGION) seen through the layout `T`, an interface of integer
   *  fields, nested interfaces and FixedArray<T, N> (C layout rules); null if the region is missing or
   *  smaller than T. */
  mem<T>(): T | null;
  /** Submit the first `n` SQEs (kfunc bpf_io_uring_submit_sqes); returns the number submitted or -errno. */
  submit(n: u32): i32;
}

/** The loop parameters (`struct iou_loop_params`). */
export interface LoopParams {
  /** After CONTINUE, the kernel sleeps until the CQ tail reaches this index. */
  cqWaitIdx: u32;
}

/** Declare a loop_step program: `export const NAME = loopStep((ring, lp) => { ... })`. NAME becomes the
 *  BPF program (section `struct_ops.s/NAME`) and `NAME_ops` its struct_ops map. */
export declare function loopStep(step: (ring: Ring, lp: LoopParams) => number): LoopStepProgram;
export interface LoopStepProgram {
  readonly __loopStep: true;
}

/** A map value seen through lookup(): a struct value is its own view; an integer value is a Cell, whose
 *  `value` field is the integer (read it, assign it, or use it as an atomic place). */
export interface Cell<T> {
  value: T;
}
export type MapValue<V> = V extends number | bigint ? Cell<V> : V;

/** BPF_MAP_TYPE_ARRAY: `maxEntries` values indexed 0..maxEntries-1, all present (zero at first). */
export interface ArrayMap<V> {
  /** The value at `index`, or null when the index is out of range (the verifier insists on the test). */
  lookup(index: u32): MapValue<V> | null;
  /** Store a value (an integer, or an object literal of V's fields); returns 0 or -errno
   *  (bpf_map_update_elem). `flags`: BPF_ANY (default) or BPF_EXIST. */
  update(index: u32, value: V, flags?: u32): i32;
}
/** BPF_MAP_TYPE_HASH: up to `maxEntries` key/value pairs. */
export interface HashMap<K, V> {
  /** The value stored under `key`, or null. */
  lookup(key: K): MapValue<V> | null;
  /** Insert or replace; returns 0 or -errno. `flags`: BPF_ANY (default), BPF_NOEXIST, BPF_EXIST. */
  update(key: K, value: V, flags?: u32): i32;
  /** Remove the entry; returns 0 or -ENOENT. Values looked up before must not be used after it. */
  delete(key: K): i32;
}
/** BPF_MAP_TYPE_RINGBUF: records of type R streamed to userspace in the order they are committed. */
export interface RingBuf<R> {
  /** Copy a record (an object literal) into the buffer; returns 0 or -errno (-EAGAIN when full). */
  output(record: R, flags?: u32): i32;
  /** Reserve space for one record, or null when the buffer is full. Fill it in, then submit() or
   *  discard() it on every path (the compiler checks). */
  reserve(): R | null;
  /** Commit a reserved record. */
  submit(record: R, flags?: u32): void;
  /** Drop a reserved record. */
  discard(record: R, flags?: u32): void;
}
/** Declare an array map at the top level: `const hist = arrayMap<u64>(64);` (a libbpf BTF-defined map in
 *  `.maps`, visible to bpftool and skeletons by its name). */
export declare function arrayMap<V>(maxEntries: number): ArrayMap<V>;
/** Declare a hash map at the top level: `const reqs = hashMap<u64, Stamp>(1024);`. */
export declare function hashMap<K, V>(maxEntries: number): HashMap<K, V>;
/** Declare a ring buffer of `bytes` bytes (a power of two, at least 4096) at the top level. */
export declare function ringBuf<R>(bytes: number): RingBuf<R>;
/** Map kinds the verifier refuses in sleepable programs (loop_step programs are sleepable): declared only
 *  so that using one gets a clear compile-time error. */
export declare function perfEventArray<V>(maxEntries: number): never;
export declare function stackTraceMap<V>(maxEntries: number): never;
export declare function progArray(maxEntries: number): never;
export declare function sockMap(maxEntries: number): never;
export declare function devMap(maxEntries: number): never;
export declare function cpuMap(maxEntries: number): never;
export declare function xskMap(maxEntries: number): never;
export declare function lpmTrie<K, V>(maxEntries: number): never;

// BEGIN GENERATED by scripts/gen-dts.ts from compiler/frontend/uapi.ts: do not edit by hand.
export interface Sqe {
  /** Prepare any request: every field is cleared, then opcode, fd, addr, len and off are set. */
  prep(opcode: u8, fd: i32, addr: u64, len: u32, off: u64, userData?: u64): void;
  /** IORING_OP_NOP: a request that completes with res 0. */
  prepNop(userData?: u64): void;
  /** IORING_OP_READV: vectored read (preadv2). */
  prepReadv(fd: i32, iovecs: u64, nrVecs: u32, offset: u64, userData?: u64): void;
  /** IORING_OP_WRITEV: vectored write (pwritev2). */
  prepWritev(fd: i32, iovecs: u64, nrVecs: u32, offset: u64, userData?: u64): void;
  /** IORING_OP_FSYNC: fsync/fdatasync (IORING_FSYNC_DATASYNC). */
  prepFsync(fd: i32, fsyncFlags: u32, userData?: u64): void;
  /** IORING_OP_READ_FIXED: read into a registered buffer. */
  prepReadFixed(fd: i32, buf: u64, nbytes: u32, offset: u64, bufIndex: u16, userData?: u64): void;
  /** IORING_OP_WRITE_FIXED: write from a registered buffer. */
  prepWriteFixed(fd: i32, buf: u64, nbytes: u32, offset: u64, bufIndex: u16, userData?: u64): void;
  /** IORING_OP_POLL_ADD: wait for poll events on fd. */
  prepPollAdd(fd: i32, pollMask: u32, userData?: u64): void;
  /** IORING_OP_POLL_REMOVE: remove a poll request by its user_data. */
  prepPollRemove(targetUserData: u64, userData?: u64): void;
  /** IORING_OP_SYNC_FILE_RANGE: sync_file_range. */
  prepSyncFileRange(fd: i32, nbytes: u32, offset: u64, flags: u32, userData?: u64): void;
  /** IORING_OP_SENDMSG: sendmsg with a struct msghdr. */
  prepSendmsg(fd: i32, msg: u64, flags: u32, userData?: u64): void;
  /** IORING_OP_RECVMSG: recvmsg with a struct msghdr. */
  prepRecvmsg(fd: i32, msg: u64, flags: u32, userData?: u64): void;
  /** IORING_OP_TIMEOUT: complete after a timespec or `count` completions. */
  prepTimeout(ts: u64, count: u64, flags: u32, userData?: u64): void;
  /** IORING_OP_TIMEOUT_REMOVE: cancel a timeout. */
  prepTimeoutRemove(targetUserData: u64, flags: u32, userData?: u64): void;
  /** IORING_OP_ACCEPT: accept4. */
  prepAccept(fd: i32, addr: u64, addrlen: u64, flags: u32, userData?: u64): void;
  /** IORING_OP_ASYNC_CANCEL: cancel a request by its user_data. */
  prepCancel(targetUserData: u64, flags: u32, userData?: u64): void;
  /** IORING_OP_LINK_TIMEOUT: timeout for the previous linked request. */
  prepLinkTimeout(ts: u64, flags: u32, userData?: u64): void;
  /** IORING_OP_CONNECT: connect. */
  prepConnect(fd: i32, addr: u64, addrlen: u64, userData?: u64): void;
  /** IORING_OP_FALLOCATE: fallocate. */
  prepFallocate(fd: i32, mode: u32, offset: u64, length: u64, userData?: u64): void;
  /** IORING_OP_OPENAT: openat. */
  prepOpenat(dfd: i32, path: u64, flags: u32, mode: u32, userData?: u64): void;
  /** IORING_OP_CLOSE: close. */
  prepClose(fd: i32, userData?: u64): void;
  /** IORING_OP_FILES_UPDATE: update registered files. */
  prepFilesUpdate(fds: u64, nrFds: u32, offset: u64, userData?: u64): void;
  /** IORING_OP_STATX: statx. */
  prepStatx(dfd: i32, path: u64, flags: u32, mask: u32, statxbuf: u64, userData?: u64): void;
  /** IORING_OP_READ: read (pread). */
  prepRead(fd: i32, buf: u64, nbytes: u32, offset: u64, userData?: u64): void;
  /** IORING_OP_WRITE: write (pwrite). */
  prepWrite(fd: i32, buf: u64, nbytes: u32, offset: u64, userData?: u64): void;
  /** IORING_OP_FADVISE: posix_fadvise. */
  prepFadvise(fd: i32, offset: u64, length: u32, advice: u32, userData?: u64): void;
  /** IORING_OP_MADVISE: madvise. */
  prepMadvise(addr: u64, length: u32, advice: u32, userData?: u64): void;
  /** IORING_OP_SEND: send. */
  prepSend(fd: i32, buf: u64, len: u32, flags: u32, userData?: u64): void;
  /** IORING_OP_RECV: recv. */
  prepRecv(fd: i32, buf: u64, len: u32, flags: u32, userData?: u64): void;
  /** IORING_OP_OPENAT2: openat2 with a struct open_how. */
  prepOpenat2(dfd: i32, path: u64, how: u64, howSize: u32, userData?: u64): void;
  /** IORING_OP_EPOLL_CTL: epoll_ctl. */
  prepEpollCtl(epfd: i32, fd: u64, op: u32, event: u64, userData?: u64): void;
  /** IORING_OP_SPLICE: splice. */
  prepSplice(fdIn: i32, offIn: u64, fdOut: i32, offOut: u64, nbytes: u32, flags: u32, userData?: u64): void;
  /** IORING_OP_PROVIDE_BUFFERS: provide buffers to a group. */
  prepProvideBuffers(addr: u64, len: u32, nr: i32, bgid: u16, bid: u64, userData?: u64): void;
  /** IORING_OP_REMOVE_BUFFERS: remove buffers from a group. */
  prepRemoveBuffers(nr: i32, bgid: u16, userData?: u64): void;
  /** IORING_OP_TEE: tee. */
  prepTee(fdIn: i32, fdOut: i32, nbytes: u32, flags: u32, userData?: u64): void;
  /** IORING_OP_SHUTDOWN: shutdown. */
  prepShutdown(fd: i32, how: u32, userData?: u64): void;
  /** IORING_OP_RENAMEAT: renameat2. */
  prepRenameat(oldDfd: i32, oldPath: u64, newDfd: u32, newPath: u64, flags: u32, userData?: u64): void;
  /** IORING_OP_UNLINKAT: unlinkat. */
  prepUnlinkat(dfd: i32, path: u64, flags: u32, userData?: u64): void;
  /** IORING_OP_MKDIRAT: mkdirat. */
  prepMkdirat(dfd: i32, path: u64, mode: u32, userData?: u64): void;
  /** IORING_OP_SYMLINKAT: symlinkat. */
  prepSymlinkat(target: u64, newDfd: i32, linkPath: u64, userData?: u64): void;
  /** IORING_OP_LINKAT: linkat. */
  prepLinkat(oldDfd: i32, oldPath: u64, newDfd: u32, newPath: u64, flags: u32, userData?: u64): void;
  /** IORING_OP_MSG_RING: post a CQE to another ring (IORING_MSG_DATA). */
  prepMsgRing(fd: i32, len: u32, data: u64, flags: u32, userData?: u64): void;
  /** IORING_OP_FSETXATTR: fsetxattr. */
  prepFsetxattr(fd: i32, name: u64, value: u64, flags: u32, len: u32, userData?: u64): void;
  /** IORING_OP_SETXATTR: setxattr. */
  prepSetxattr(name: u64, value: u64, path: u64, flags: u32, len: u32, userData?: u64): void;
  /** IORING_OP_FGETXATTR: fgetxattr. */
  prepFgetxattr(fd: i32, name: u64, value: u64, len: u32, userData?: u64): void;
  /** IORING_OP_GETXATTR: getxattr. */
  prepGetxattr(name: u64, value: u64, path: u64, len: u32, userData?: u64): void;
  /** IORING_OP_SOCKET: socket. */
  prepSocket(domain: i32, type: u64, protocol: u32, flags: u32, userData?: u64): void;
  /** IORING_OP_URING_CMD: driver-specific command (payload at the SQE's cmd area). */
  prepUringCmd(fd: i32, cmdOp: u64, userData?: u64): void;
  /** IORING_OP_SEND_ZC: zero-copy send. */
  prepSendZc(fd: i32, buf: u64, len: u32, flags: u32, userData?: u64): void;
  /** IORING_OP_SENDMSG_ZC: zero-copy sendmsg. */
  prepSendmsgZc(fd: i32, msg: u64, flags: u32, userData?: u64): void;
  /** IORING_OP_READ_MULTISHOT: multishot read from a buffer group. */
  prepReadMultishot(fd: i32, nbytes: u32, offset: u64, bgid: u16, userData?: u64): void;
  /** IORING_OP_WAITID: waitid. */
  prepWaitid(idtype: i32, id: u32, infop: u64, options: i32, flags: u32, userData?: u64): void;
  /** IORING_OP_FUTEX_WAIT: futex wait. */
  prepFutexWait(futex: u64, val: u64, mask: u64, futexFlags: i32, flags: u32, userData?: u64): void;
  /** IORING_OP_FUTEX_WAKE: futex wake. */
  prepFutexWake(futex: u64, val: u64, mask: u64, futexFlags: i32, flags: u32, userData?: u64): void;
  /** IORING_OP_FUTEX_WAITV: wait on several futexes. */
  prepFutexWaitv(futexv: u64, nrFutex: u32, flags: u32, userData?: u64): void;
  /** IORING_OP_FIXED_FD_INSTALL: install a fixed file as a normal fd. */
  prepFixedFdInstall(fd: i32, flags: u32, userData?: u64): void;
  /** IORING_OP_FTRUNCATE: ftruncate. */
  prepFtruncate(fd: i32, length: u64, userData?: u64): void;
  /** IORING_OP_BIND: bind. */
  prepBind(fd: i32, addr: u64, addrlen: u64, userData?: u64): void;
  /** IORING_OP_LISTEN: listen. */
  prepListen(fd: i32, backlog: u32, userData?: u64): void;
  /** IORING_OP_RECV_ZC: zero-copy receive (needs a registered zcrx area). */
  prepRecvZc(fd: i32, len: u32, flags: u32, userData?: u64): void;
  /** IORING_OP_EPOLL_WAIT: epoll_wait. */
  prepEpollWait(fd: i32, events: u64, maxEvents: u32, flags: u32, userData?: u64): void;
  /** IORING_OP_READV_FIXED: vectored read into a registered buffer. */
  prepReadvFixed(fd: i32, iovecs: u64, nrVecs: u32, offset: u64, bufIndex: u16, userData?: u64): void;
  /** IORING_OP_WRITEV_FIXED: vectored write from a registered buffer. */
  prepWritevFixed(fd: i32, iovecs: u64, nrVecs: u32, offset: u64, bufIndex: u16, userData?: u64): void;
  /** IORING_OP_PIPE: pipe2 (the two fds are written to `fds`). */
  prepPipe(fds: u64, flags: u32, userData?: u64): void;
}
/** Nanoseconds of CLOCK_MONOTONIC (does not count suspend) (helper bpf_ktime_get_ns, 5). */
export declare function ktimeNs(): u64;
/** Nanoseconds of CLOCK_BOOTTIME (counts suspend) (helper bpf_ktime_get_boot_ns, 125). */
export declare function bootNs(): u64;
/** A pseudo-random 32-bit number (not for cryptography) (helper bpf_get_prandom_u32, 7). */
export declare function randomU32(): u32;
/** The number of the CPU the program runs on (helper bpf_get_smp_processor_id, 8). */
export declare function cpuId(): u32;
/** Atomics: place += value, atomically. `place` is an integer global, MEM-region field or map value field (see docs/LANGUAGE.md). */
export declare function atomicAdd<T extends number | bigint>(place: T, value: T): void;
/** Atomics: place &= value, atomically. `place` is an integer global, MEM-region field or map value field (see docs/LANGUAGE.md). */
export declare function atomicAnd<T extends number | bigint>(place: T, value: T): void;
/** Atomics: place |= value, atomically. `place` is an integer global, MEM-region field or map value field (see docs/LANGUAGE.md). */
export declare function atomicOr<T extends number | bigint>(place: T, value: T): void;
/** Atomics: place ^= value, atomically. `place` is an integer global, MEM-region field or map value field (see docs/LANGUAGE.md). */
export declare function atomicXor<T extends number | bigint>(place: T, value: T): void;
/** Atomics: place += value, atomically; returns the old value. `place` is an integer global, MEM-region field or map value field (see docs/LANGUAGE.md). */
export declare function atomicFetchAdd<T extends number | bigint>(place: T, value: T): T;
/** Atomics: place &= value, atomically; returns the old value. `place` is an integer global, MEM-region field or map value field (see docs/LANGUAGE.md). */
export declare function atomicFetchAnd<T extends number | bigint>(place: T, value: T): T;
/** Atomics: place |= value, atomically; returns the old value. `place` is an integer global, MEM-region field or map value field (see docs/LANGUAGE.md). */
export declare function atomicFetchOr<T extends number | bigint>(place: T, value: T): T;
/** Atomics: place ^= value, atomically; returns the old value. `place` is an integer global, MEM-region field or map value field (see docs/LANGUAGE.md). */
export declare function atomicFetchXor<T extends number | bigint>(place: T, value: T): T;
/** Atomics: stores value; returns the old value, atomically. `place` is an integer global, MEM-region field or map value field (see docs/LANGUAGE.md). */
export declare function atomicXchg<T extends number | bigint>(place: T, value: T): T;
/** Atomics: stores value if the place holds expected; returns the old value, atomically. `place` is an integer global, MEM-region field or map value field (see docs/LANGUAGE.md). */
export declare function atomicCmpXchg<T extends number | bigint>(place: T, expected: T, value: T): T;
/** Atomics: reads the place; later accesses are not reordered before it. `place` is an integer global, MEM-region field or map value field (see docs/LANGUAGE.md). */
export declare function loadAcquire<T extends number | bigint>(place: T): T;
/** Atomics: writes the place; earlier accesses are not reordered after it. `place` is an integer global, MEM-region field or map value field (see docs/LANGUAGE.md). */
export declare function storeRelease<T extends number | bigint>(place: T, value: T): void;
/** enum io_uring_op: NOP. */ export declare const IORING_OP_NOP: 0;
/** enum io_uring_op: READV. */ export declare const IORING_OP_READV: 1;
/** enum io_uring_op: WRITEV. */ export declare const IORING_OP_WRITEV: 2;
/** enum io_uring_op: FSYNC. */ export declare const IORING_OP_FSYNC: 3;
/** enum io_uring_op: READ_FIXED. */ export declare const IORING_OP_READ_FIXED: 4;
/** enum io_uring_op: WRITE_FIXED. */ export declare const IORING_OP_WRITE_FIXED: 5;
/** enum io_uring_op: POLL_ADD. */ export declare const IORING_OP_POLL_ADD: 6;
/** enum io_uring_op: POLL_REMOVE. */ export declare const IORING_OP_POLL_REMOVE: 7;
/** enum io_uring_op: SYNC_FILE_RANGE. */ export declare const IORING_OP_SYNC_FILE_RANGE: 8;
/** enum io_uring_op: SENDMSG. */ export declare const IORING_OP_SENDMSG: 9;
/** enum io_uring_op: RECVMSG. */ export declare const IORING_OP_RECVMSG: 10;
/** enum io_uring_op: TIMEOUT. */ export declare const IORING_OP_TIMEOUT: 11;
/** enum io_uring_op: TIMEOUT_REMOVE. */ export declare const IORING_OP_TIMEOUT_REMOVE: 12;
/** enum io_uring_op: ACCEPT. */ export declare const IORING_OP_ACCEPT: 13;
/** enum io_uring_op: ASYNC_CANCEL. */ export declare const IORING_OP_ASYNC_CANCEL: 14;
/** enum io_uring_op: LINK_TIMEOUT. */ export declare const IORING_OP_LINK_TIMEOUT: 15;
/** enum io_uring_op: CONNECT. */ export declare const IORING_OP_CONNECT: 16;
/** enum io_uring_op: FALLOCATE. */ export declare const IORING_OP_FALLOCATE: 17;
/** enum io_uring_op: OPENAT. */ export declare const IORING_OP_OPENAT: 18;
/** enum io_uring_op: CLOSE. */ export declare const IORING_OP_CLOSE: 19;
/** enum io_uring_op: FILES_UPDATE. */ export declare const IORING_OP_FILES_UPDATE: 20;
/** enum io_uring_op: STATX. */ export declare const IORING_OP_STATX: 21;
/** enum io_uring_op: READ. */ export declare const IORING_OP_READ: 22;
/** enum io_uring_op: WRITE. */ export declare const IORING_OP_WRITE: 23;
/** enum io_uring_op: FADVISE. */ export declare const IORING_OP_FADVISE: 24;
/** enum io_uring_op: MADVISE. */ export declare const IORING_OP_MADVISE: 25;
/** enum io_uring_op: SEND. */ export declare const IORING_OP_SEND: 26;
/** enum io_uring_op: RECV. */ export declare const IORING_OP_RECV: 27;
/** enum io_uring_op: OPENAT2. */ export declare const IORING_OP_OPENAT2: 28;
/** enum io_uring_op: EPOLL_CTL. */ export declare const IORING_OP_EPOLL_CTL: 29;
/** enum io_uring_op: SPLICE. */ export declare const IORING_OP_SPLICE: 30;
/** enum io_uring_op: PROVIDE_BUFFERS. */ export declare const IORING_OP_PROVIDE_BUFFERS: 31;
/** enum io_uring_op: REMOVE_BUFFERS. */ export declare const IORING_OP_REMOVE_BUFFERS: 32;
/** enum io_uring_op: TEE. */ export declare const IORING_OP_TEE: 33;
/** enum io_uring_op: SHUTDOWN. */ export declare const IORING_OP_SHUTDOWN: 34;
/** enum io_uring_op: RENAMEAT. */ export declare const IORING_OP_RENAMEAT: 35;
/** enum io_uring_op: UNLINKAT. */ export declare const IORING_OP_UNLINKAT: 36;
/** enum io_uring_op: MKDIRAT. */ export declare const IORING_OP_MKDIRAT: 37;
/** enum io_uring_op: SYMLINKAT. */ export declare const IORING_OP_SYMLINKAT: 38;
/** enum io_uring_op: LINKAT. */ export declare const IORING_OP_LINKAT: 39;
/** enum io_uring_op: MSG_RING. */ export declare const IORING_OP_MSG_RING: 40;
/** enum io_uring_op: FSETXATTR. */ export declare const IORING_OP_FSETXATTR: 41;
/** enum io_uring_op: SETXATTR. */ export declare const IORING_OP_SETXATTR: 42;
/** enum io_uring_op: FGETXATTR. */ export declare const IORING_OP_FGETXATTR: 43;
/** enum io_uring_op: GETXATTR. */ export declare const IORING_OP_GETXATTR: 44;
/** enum io_uring_op: SOCKET. */ export declare const IORING_OP_SOCKET: 45;
/** enum io_uring_op: URING_CMD. */ export declare const IORING_OP_URING_CMD: 46;
/** enum io_uring_op: SEND_ZC. */ export declare const IORING_OP_SEND_ZC: 47;
/** enum io_uring_op: SENDMSG_ZC. */ export declare const IORING_OP_SENDMSG_ZC: 48;
/** enum io_uring_op: READ_MULTISHOT. */ export declare const IORING_OP_READ_MULTISHOT: 49;
/** enum io_uring_op: WAITID. */ export declare const IORING_OP_WAITID: 50;
/** enum io_uring_op: FUTEX_WAIT. */ export declare const IORING_OP_FUTEX_WAIT: 51;
/** enum io_uring_op: FUTEX_WAKE. */ export declare const IORING_OP_FUTEX_WAKE: 52;
/** enum io_uring_op: FUTEX_WAITV. */ export declare const IORING_OP_FUTEX_WAITV: 53;
/** enum io_uring_op: FIXED_FD_INSTALL. */ export declare const IORING_OP_FIXED_FD_INSTALL: 54;
/** enum io_uring_op: FTRUNCATE. */ export declare const IORING_OP_FTRUNCATE: 55;
/** enum io_uring_op: BIND. */ export declare const IORING_OP_BIND: 56;
/** enum io_uring_op: LISTEN. */ export declare const IORING_OP_LISTEN: 57;
/** enum io_uring_op: RECV_ZC. */ export declare const IORING_OP_RECV_ZC: 58;
/** enum io_uring_op: EPOLL_WAIT. */ export declare const IORING_OP_EPOLL_WAIT: 59;
/** enum io_uring_op: READV_FIXED. */ export declare const IORING_OP_READV_FIXED: 60;
/** enum io_uring_op: WRITEV_FIXED. */ export declare const IORING_OP_WRITEV_FIXED: 61;
/** enum io_uring_op: PIPE. */ export declare const IORING_OP_PIPE: 62;
/** enum io_uring_op: NOP128. */ export declare const IORING_OP_NOP128: 63;
/** enum io_uring_op: URING_CMD128. */ export declare const IORING_OP_URING_CMD128: 64;
export declare const IOSQE_FIXED_FILE: 1;
export declare const IOSQE_IO_DRAIN: 2;
export declare const IOSQE_IO_LINK: 4;
export declare const IOSQE_IO_HARDLINK: 8;
export declare const IOSQE_ASYNC: 16;
export declare const IOSQE_BUFFER_SELECT: 32;
export declare const IOSQE_CQE_SKIP_SUCCESS: 64;
export declare const IORING_CQE_F_BUFFER: 1;
export declare const IORING_CQE_F_MORE: 2;
export declare const IORING_CQE_F_SOCK_NONEMPTY: 4;
export declare const IORING_CQE_F_NOTIF: 8;
export declare const IORING_CQE_F_BUF_MORE: 16;
export declare const IORING_CQE_F_SKIP: 32;
export declare const IORING_CQE_F_32: 32768;
export declare const IORING_CQE_BUFFER_SHIFT: 16;
export declare const IORING_FSYNC_DATASYNC: 1;
export declare const IORING_TIMEOUT_ABS: 1;
export declare const IORING_TIMEOUT_UPDATE: 2;
export declare const IORING_TIMEOUT_BOOTTIME: 4;
export declare const IORING_TIMEOUT_REALTIME: 8;
export declare const IORING_LINK_TIMEOUT_UPDATE: 16;
export declare const IORING_TIMEOUT_ETIME_SUCCESS: 32;
export declare const IORING_TIMEOUT_MULTISHOT: 64;
export declare const IORING_POLL_ADD_MULTI: 1;
export declare const IORING_POLL_UPDATE_EVENTS: 2;
export declare const IORING_POLL_UPDATE_USER_DATA: 4;
export declare const IORING_POLL_ADD_LEVEL: 8;
export declare const IORING_ASYNC_CANCEL_ALL: 1;
export declare const IORING_ASYNC_CANCEL_FD: 2;
export declare const IORING_ASYNC_CANCEL_ANY: 4;
export declare const IORING_RECVSEND_POLL_FIRST: 1;
export declare const IORING_RECV_MULTISHOT: 2;
export declare const IORING_RECVSEND_FIXED_BUF: 4;
export declare const IORING_RECVSEND_BUNDLE: 16;
export declare const IORING_ACCEPT_MULTISHOT: 1;
export declare const IORING_ACCEPT_DONTWAIT: 2;
export declare const IORING_ACCEPT_POLL_FIRST: 4;
export declare const IORING_MSG_DATA: 0;
export declare const IORING_MSG_SEND_FD: 1;
export declare const IORING_MSG_RING_CQE_SKIP: 1;
export declare const IORING_MSG_RING_FLAGS_PASS: 2;
export declare const IORING_NOP_INJECT_RESULT: 1;
export declare const SPLICE_F_FD_IN_FIXED: 2147483648;
export declare const AT_FDCWD: -100;
export declare const POLLIN: 1;
export declare const POLLPRI: 2;
export declare const POLLOUT: 4;
export declare const POLLERR: 8;
export declare const POLLHUP: 16;
export declare const BPF_ANY: 0;
export declare const BPF_NOEXIST: 1;
export declare const BPF_EXIST: 2;
export declare const BPF_RB_NO_WAKEUP: 1;
export declare const BPF_RB_FORCE_WAKEUP: 2;
// END GENERATED
