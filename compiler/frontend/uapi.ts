// The io_uring UAPI surface of the DSL in one table: every IORING_OP_* of the 7.x UAPI (in enum order),
// the prep helper for each with the SQE field each parameter lands in, and the flag constants. The
// compiler lowers prep helpers from this table, and scripts/gen-dts.ts writes the matching declarations
// into runtime/index.d.ts from it, so the two cannot drift apart.

/** IORING_OP_* in the order of `enum io_uring_op` (value = index). */
export const OPCODES = [
  "NOP", "READV", "WRITEV", "FSYNC", "READ_FIXED", "WRITE_FIXED", "POLL_ADD", "POLL_REMOVE", "SYNC_FILE_RANGE",
  "SENDMSG", "RECVMSG", "TIMEOUT", "TIMEOUT_REMOVE", "ACCEPT", "ASYNC_CANCEL", "LINK_TIMEOUT", "CONNECT",
  "FALLOCATE", "OPENAT", "CLOSE", "FILES_UPDATE", "STATX", "READ", "WRITE", "FADVISE", "MADVISE", "SEND", "RECV",
  "OPENAT2", "EPOLL_CTL", "SPLICE", "PROVIDE_BUFFERS", "REMOVE_BUFFERS", "TEE", "SHUTDOWN", "RENAMEAT",
  "UNLINKAT", "MKDIRAT", "SYMLINKAT", "LINKAT", "MSG_RING", "FSETXATTR", "SETXATTR", "FGETXATTR", "GETXATTR",
  "SOCKET", "URING_CMD", "SEND_ZC", "SENDMSG_ZC", "READ_MULTISHOT", "WAITID", "FUTEX_WAIT", "FUTEX_WAKE",
  "FUTEX_WAITV", "FIXED_FD_INSTALL", "FTRUNCATE", "BIND", "LISTEN", "RECV_ZC", "EPOLL_WAIT", "READV_FIXED",
  "WRITEV_FIXED", "PIPE", "NOP128", "URING_CMD128",
] as const;

/** A prep helper: the opcode, its parameters as `name:field` (the SQE field the argument is stored in;
 *  `field` is one of Sqe's properties), fixed field values, and a one-line description. Fields not
 *  named are zero (fd is -1 unless a parameter or `fixed` sets it). */
export interface PrepSpec {
  op: (typeof OPCODES)[number];
  params: string;
  fixed?: Record<string, bigint>;
  doc: string;
}

/** The prep helpers, by method name (as in liburing, without the io_uring_ prefix, in camelCase). */
export const PREPS: Record<string, PrepSpec> = Object.setPrototypeOf({
  prepNop: { op: "NOP", params: "", doc: "a request that completes with res 0" },
  prepReadv: { op: "READV", params: "fd:fd iovecs:addr nrVecs:len offset:off", doc: "vectored read (preadv2)" },
  prepWritev: { op: "WRITEV", params: "fd:fd iovecs:addr nrVecs:len offset:off", doc: "vectored write (pwritev2)" },
  prepFsync: { op: "FSYNC", params: "fd:fd fsyncFlags:opFlags", doc: "fsync/fdatasync (IORING_FSYNC_DATASYNC)" },
  prepReadFixed: { op: "READ_FIXED", params: "fd:fd buf:addr nbytes:len offset:off bufIndex:bufIndex", doc: "read into a registered buffer" },
  prepWriteFixed: { op: "WRITE_FIXED", params: "fd:fd buf:addr nbytes:len offset:off bufIndex:bufIndex", doc: "write from a registered buffer" },
  prepPollAdd: { op: "POLL_ADD", params: "fd:fd pollMask:opFlags", doc: "wait for poll events on fd" },
  prepPollRemove: { op: "POLL_REMOVE", params: "targetUserData:addr", doc: "remove a poll request by its user_data" },
  prepSyncFileRange: { op: "SYNC_FILE_RANGE", params: "fd:fd nbytes:len offset:off flags:opFlags", doc: "sync_file_range" },
  prepSendmsg: { op: "SENDMSG", params: "fd:fd msg:addr flags:opFlags", fixed: { len: 1n }, doc: "sendmsg with a struct msghdr" },
  prepRecvmsg: { op: "RECVMSG", params: "fd:fd msg:addr flags:opFlags", fixed: { len: 1n }, doc: "recvmsg with a struct msghdr" },
  prepTimeout: { op: "TIMEOUT", params: "ts:addr count:off flags:opFlags", fixed: { len: 1n }, doc: "complete after a timespec or `count` completions" },
  prepTimeoutRemove: { op: "TIMEOUT_REMOVE", params: "targetUserData:addr flags:opFlags", doc: "cancel a timeout" },
  prepAccept: { op: "ACCEPT", params: "fd:fd addr:addr addrlen:off flags:opFlags", doc: "accept4" },
  prepCancel: { op: "ASYNC_CANCEL", params: "targetUserData:addr flags:opFlags", doc: "cancel a request by its user_data" },
  prepLinkTimeout: { op: "LINK_TIMEOUT", params: "ts:addr flags:opFlags", fixed: { len: 1n }, doc: "timeout for the previous linked request" },
  prepConnect: { op: "CONNECT", params: "fd:fd addr:addr addrlen:off", doc: "connect" },
  prepFallocate: { op: "FALLOCATE", params: "fd:fd mode:len offset:off length:addr", doc: "fallocate" },
  prepOpenat: { op: "OPENAT", params: "dfd:fd path:addr flags:opFlags mode:len", doc: "openat" },
  prepClose: { op: "CLOSE", params: "fd:fd", doc: "close" },
  prepFilesUpdate: { op: "FILES_UPDATE", params: "fds:addr nrFds:len offset:off", doc: "update registered files" },
  prepStatx: { op: "STATX", params: "dfd:fd path:addr flags:opFlags mask:len statxbuf:off", doc: "statx" },
  prepRead: { op: "READ", params: "fd:fd buf:addr nbytes:len offset:off", doc: "read (pread)" },
  prepWrite: { op: "WRITE", params: "fd:fd buf:addr nbytes:len offset:off", doc: "write (pwrite)" },
  prepFadvise: { op: "FADVISE", params: "fd:fd offset:off length:len advice:opFlags", doc: "posix_fadvise" },
  prepMadvise: { op: "MADVISE", params: "addr:addr length:len advice:opFlags", doc: "madvise" },
  prepSend: { op: "SEND", params: "fd:fd buf:addr len:len flags:opFlags", doc: "send" },
  prepRecv: { op: "RECV", params: "fd:fd buf:addr len:len flags:opFlags", doc: "recv" },
  prepOpenat2: { op: "OPENAT2", params: "dfd:fd path:addr how:off howSize:len", doc: "openat2 with a struct open_how" },
  prepEpollCtl: { op: "EPOLL_CTL", params: "epfd:fd fd:off op:len event:addr", doc: "epoll_ctl" },
  prepSplice: { op: "SPLICE", params: "fdIn:spliceFdIn offIn:addr fdOut:fd offOut:off nbytes:len flags:opFlags", doc: "splice" },
  prepProvideBuffers: { op: "PROVIDE_BUFFERS", params: "addr:addr len:len nr:fd bgid:bufIndex bid:off", doc: "provide buffers to a group" },
  prepRemoveBuffers: { op: "REMOVE_BUFFERS", params: "nr:fd bgid:bufIndex", doc: "remove buffers from a group" },
  prepTee: { op: "TEE", params: "fdIn:spliceFdIn fdOut:fd nbytes:len flags:opFlags", doc: "tee" },
  prepShutdown: { op: "SHUTDOWN", params: "fd:fd how:len", doc: "shutdown" },
  prepRenameat: { op: "RENAMEAT", params: "oldDfd:fd oldPath:addr newDfd:len newPath:off flags:opFlags", doc: "renameat2" },
  prepUnlinkat: { op: "UNLINKAT", params: "dfd:fd path:addr flags:opFlags", doc: "unlinkat" },
  prepMkdirat: { op: "MKDIRAT", params: "dfd:fd path:addr mode:len", doc: "mkdirat" },
  prepSymlinkat: { op: "SYMLINKAT", params: "target:addr newDfd:fd linkPath:off", doc: "symlinkat" },
  prepLinkat: { op: "LINKAT", params: "oldDfd:fd oldPath:addr newDfd:len newPath:off flags:opFlags", doc: "linkat" },
  prepMsgRing: { op: "MSG_RING", params: "fd:fd len:len data:off flags:opFlags", doc: "post a CQE to another ring (IORING_MSG_DATA)" },
  prepFsetxattr: { op: "FSETXATTR", params: "fd:fd name:addr value:off flags:opFlags len:len", doc: "fsetxattr" },
  prepSetxattr: { op: "SETXATTR", params: "name:addr value:off path:addr3 flags:opFlags len:len", doc: "setxattr" },
  prepFgetxattr: { op: "FGETXATTR", params: "fd:fd name:addr value:off len:len", doc: "fgetxattr" },
  prepGetxattr: { op: "GETXATTR", params: "name:addr value:off path:addr3 len:len", doc: "getxattr" },
  prepSocket: { op: "SOCKET", params: "domain:fd type:off protocol:len flags:opFlags", doc: "socket" },
  prepUringCmd: { op: "URING_CMD", params: "fd:fd cmdOp:off", doc: "driver-specific command (payload at the SQE's cmd area)" },
  prepSendZc: { op: "SEND_ZC", params: "fd:fd buf:addr len:len flags:opFlags", doc: "zero-copy send" },
  prepSendmsgZc: { op: "SENDMSG_ZC", params: "fd:fd msg:addr flags:opFlags", fixed: { len: 1n }, doc: "zero-copy sendmsg" },
  prepReadMultishot: { op: "READ_MULTISHOT", params: "fd:fd nbytes:len offset:off bgid:bufIndex", doc: "multishot read from a buffer group" },
  prepWaitid: { op: "WAITID", params: "idtype:fd id:len infop:addr2 options:spliceFdIn flags:opFlags", doc: "waitid" },
  prepFutexWait: { op: "FUTEX_WAIT", params: "futex:addr val:off mask:addr3 futexFlags:fd flags:opFlags", doc: "futex wait" },
  prepFutexWake: { op: "FUTEX_WAKE", params: "futex:addr val:off mask:addr3 futexFlags:fd flags:opFlags", doc: "futex wake" },
  prepFutexWaitv: { op: "FUTEX_WAITV", params: "futexv:addr nrFutex:len flags:opFlags", doc: "wait on several futexes" },
  prepFixedFdInstall: { op: "FIXED_FD_INSTALL", params: "fd:fd flags:opFlags", fixed: { flags: 1n }, doc: "install a fixed file as a normal fd" },
  prepFtruncate: { op: "FTRUNCATE", params: "fd:fd length:off", doc: "ftruncate" },
  prepBind: { op: "BIND", params: "fd:fd addr:addr addrlen:off", doc: "bind" },
  prepListen: { op: "LISTEN", params: "fd:fd backlog:len", doc: "listen" },
  prepRecvZc: { op: "RECV_ZC", params: "fd:fd len:len flags:opFlags", doc: "zero-copy receive (needs a registered zcrx area)" },
  prepEpollWait: { op: "EPOLL_WAIT", params: "fd:fd events:addr maxEvents:len flags:opFlags", doc: "epoll_wait" },
  prepReadvFixed: { op: "READV_FIXED", params: "fd:fd iovecs:addr nrVecs:len offset:off bufIndex:bufIndex", doc: "vectored read into a registered buffer" },
  prepWritevFixed: { op: "WRITEV_FIXED", params: "fd:fd iovecs:addr nrVecs:len offset:off bufIndex:bufIndex", doc: "vectored write from a registered buffer" },
  prepPipe: { op: "PIPE", params: "fds:addr flags:opFlags", doc: "pipe2 (the two fds are written to `fds`)" },
}, null);

/** Flag and other constants importable from "uringbpf". */
export const FLAGS: Record<string, bigint> = {
  IOSQE_FIXED_FILE: 1n, IOSQE_IO_DRAIN: 2n, IOSQE_IO_LINK: 4n, IOSQE_IO_HARDLINK: 8n, IOSQE_ASYNC: 16n,
  IOSQE_BUFFER_SELECT: 32n, IOSQE_CQE_SKIP_SUCCESS: 64n,
  IORING_CQE_F_BUFFER: 1n, IORING_CQE_F_MORE: 2n, IORING_CQE_F_SOCK_NONEMPTY: 4n, IORING_CQE_F_NOTIF: 8n,
  IORING_CQE_F_BUF_MORE: 16n, IORING_CQE_F_SKIP: 32n, IORING_CQE_F_32: 0x8000n, IORING_CQE_BUFFER_SHIFT: 16n,
  IORING_FSYNC_DATASYNC: 1n,
  IORING_TIMEOUT_ABS: 1n, IORING_TIMEOUT_UPDATE: 2n, IORING_TIMEOUT_BOOTTIME: 4n, IORING_TIMEOUT_REALTIME: 8n,
  IORING_LINK_TIMEOUT_UPDATE: 16n, IORING_TIMEOUT_ETIME_SUCCESS: 32n, IORING_TIMEOUT_MULTISHOT: 64n,
  IORING_POLL_ADD_MULTI: 1n, IORING_POLL_UPDATE_EVENTS: 2n, IORING_POLL_UPDATE_USER_DATA: 4n, IORING_POLL_ADD_LEVEL: 8n,
  IORING_ASYNC_CANCEL_ALL: 1n, IORING_ASYNC_CANCEL_FD: 2n, IORING_ASYNC_CANCEL_ANY: 4n,
  IORING_RECVSEND_POLL_FIRST: 1n, IORING_RECV_MULTISHOT: 2n, IORING_RECVSEND_FIXED_BUF: 4n, IORING_RECVSEND_BUNDLE: 16n,
  IORING_ACCEPT_MULTISHOT: 1n, IORING_ACCEPT_DONTWAIT: 2n, IORING_ACCEPT_POLL_FIRST: 4n,
  IORING_MSG_DATA: 0n, IORING_MSG_SEND_FD: 1n, IORING_MSG_RING_CQE_SKIP: 1n, IORING_MSG_RING_FLAGS_PASS: 2n,
  IORING_NOP_INJECT_RESULT: 1n,
  SPLICE_F_FD_IN_FIXED: 0x80000000n,
  AT_FDCWD: -100n,
  POLLIN: 1n, POLLPRI: 2n, POLLOUT: 4n, POLLERR: 8n, POLLHUP: 16n,
  // Map update() flags and ring-buffer flags (include/uapi/linux/bpf.h).
  BPF_ANY: 0n, BPF_NOEXIST: 1n, BPF_EXIST: 2n, BPF_RB_NO_WAKEUP: 1n, BPF_RB_FORCE_WAKEUP: 2n,
};

/** Every importable constant: CONTINUE/STOP, IORING_OP_*, the flags. */
export function allConstants(): Record<string, bigint> {
  const out: Record<string, bigint> = { CONTINUE: 0n, STOP: 1n };
  OPCODES.forEach((name, i) => (out[`IORING_OP_${name}`] = BigInt(i)));
  return Object.assign(out, FLAGS);
}
