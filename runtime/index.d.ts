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

/** Explicit conversions (truncate or extend, C rules). */
export declare function u8(x: number | bigint | boolean): u8;
export declare function u16(x: number | bigint | boolean): u16;
export declare function u32(x: number | bigint | boolean): u32;
export declare function i8(x: number | bigint | boolean): i8;
export declare function i16(x: number | bigint | boolean): i16;
export declare function i32(x: number | bigint | boolean): i32;
export declare function u64(x: number | bigint | boolean): u64;
export declare function i64(x: number | bigint | boolean): i64;

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
  /** Offset into the file (also `addr2`). */
  off: u64;
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
  /** Prepare a generic request: clears the entry, then sets opcode, fd, addr, len, off. */
  prep(opcode: u8, fd: i32, addr: u64, len: u32, off: u64, userData?: u64): void;
  /** IORING_OP_NOP. */
  prepNop(userData?: u64): void;
  /** IORING_OP_READ into the buffer at `addr`. */
  prepRead(fd: i32, addr: u64, len: u32, off: u64, userData?: u64): void;
  /** IORING_OP_WRITE from the buffer at `addr`. */
  prepWrite(fd: i32, addr: u64, len: u32, off: u64, userData?: u64): void;
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

/** IORING_OP_* opcodes. */
export declare const IORING_OP_NOP: 0;
export declare const IORING_OP_READV: 1;
export declare const IORING_OP_WRITEV: 2;
export declare const IORING_OP_FSYNC: 3;
export declare const IORING_OP_READ: 22;
export declare const IORING_OP_WRITE: 23;

/** IOSQE_* flags. */
export declare const IOSQE_FIXED_FILE: 1;
export declare const IOSQE_IO_DRAIN: 2;
export declare const IOSQE_IO_LINK: 4;
export declare const IOSQE_IO_HARDLINK: 8;
export declare const IOSQE_ASYNC: 16;
export declare const IOSQE_BUFFER_SELECT: 32;
export declare const IOSQE_CQE_SKIP_SUCCESS: 64;
