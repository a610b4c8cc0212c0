/* What a C loop_step program needs to follow docs/OBJECT.md without libbpf headers: the io_uring BPF ops
 * types, the two kfuncs, the hidden ring globals the loader fills, and small helpers that do what the
 * TypeScript DSL's ring API does (sq.at(i), cq.at(head), the prep* methods clearing the whole SQE).
 * Used by the C references in bench/c/ (built with clang -O2 -g -target bpf -mcpu=v3 or v4 by
 * bench/size.ts and test/cref.test.ts) and by the C fixtures of test/fixtures/c/ (test/contract.test.ts,
 * test/image.test.ts).
 * -DURINGBPF_NO_RING: the types and kfuncs only, without the ring globals and the helpers over them. */
#ifndef URINGBPF_H
#define URINGBPF_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#define SEC(name) __attribute__((section(name), used))
#define __ksym __attribute__((section(".ksyms")))

struct io_ring_ctx {};
struct iou_loop_params {
	__u32 cq_wait_idx;
};
struct io_uring_bpf_ops {
	int (*loop_step)(struct io_ring_ctx *ctx, struct iou_loop_params *lp);
	__u32 ring_fd;
};
struct io_uring_sqe {
	__u8 opcode, flags;
	__u16 ioprio;
	__s32 fd;
	__u64 off, addr;
	__u32 len, op_flags;
	__u64 user_data;
	__u16 buf_index, personality;
	__s32 splice_fd_in;
	__u64 addr3, pad;
};
struct io_uring_cqe {
	__u64 user_data;
	__s32 res;
	__u32 flags;
};

extern int bpf_io_uring_submit_sqes(struct io_ring_ctx *ctx, __u32 nr) __ksym;
extern __u8 *bpf_io_uring_get_region(struct io_ring_ctx *ctx, __u32 region_id, const unsigned long rdwr_buf_size) __ksym;

#define REGION_MEM 0
#define REGION_CQ 1
#define REGION_SQ 2
#define IORING_OP_NOP 0
#define IORING_OP_READ 22
#define IORING_OP_WRITE 23
#define CONTINUE 0
#define STOP 1

#ifndef URINGBPF_NO_RING
/* The hidden ring globals (docs/OBJECT.md): WEAK, as uringbpf declares them, named uringbpf_NAME.
 * RING_NAME may be defined before this header to name them otherwise (test/fixtures/c/nops.c -DOTHER_NAMES:
 * an object whose loader cannot fill them). */
#ifndef RING_NAME
#define RING_NAME(name) uringbpf_##name
#endif
#define RING_GLOBAL(type, name) const volatile type name __attribute__((weak)) = 0
RING_GLOBAL(__u32, RING_NAME(sq_entries));
RING_GLOBAL(__u32, RING_NAME(cq_entries));
RING_GLOBAL(__u32, RING_NAME(cq_head));
RING_GLOBAL(__u32, RING_NAME(cq_tail));
RING_GLOBAL(__u32, RING_NAME(cq_cqes));
RING_GLOBAL(__u32, RING_NAME(cq_size));
RING_GLOBAL(__u32, RING_NAME(sq_size));
/* Only programs with a MEM region define this one (uringbpf_mem_uaddr: the region's user address). */
#define MEM_UADDR() const volatile __u64 uringbpf_mem_uaddr __attribute__((weak)) = 0
/* Names the MEM region's layout for the loader (BTF only; the value is unused). */
#define MEM_LAYOUT(type) type *const uringbpf_mem_layout SEC(".rodata") = 0

#define RING(ctx) ((struct io_ring_ctx *)(ctx)[0])
#define LOOP_PARAMS(ctx) ((struct iou_loop_params *)(ctx)[1])

static __always_inline struct io_uring_sqe *sq_region(struct io_ring_ctx *ring)
{
	return (struct io_uring_sqe *)bpf_io_uring_get_region(ring, REGION_SQ, RING_NAME(sq_size));
}
static __always_inline __u8 *cq_region(struct io_ring_ctx *ring)
{
	return bpf_io_uring_get_region(ring, REGION_CQ, RING_NAME(cq_size));
}
static __always_inline __u32 *cq_head(__u8 *cq)
{
	return (__u32 *)(cq + RING_NAME(cq_head));
}
static __always_inline __u32 cq_tail(__u8 *cq)
{
	return *(volatile __u32 *)(cq + RING_NAME(cq_tail));
}
static __always_inline struct io_uring_cqe *cq_at(__u8 *cq, __u32 head)
{
	return &((struct io_uring_cqe *)(cq + RING_NAME(cq_cqes)))[head & (RING_NAME(cq_entries) - 1)];
}
static __always_inline struct io_uring_sqe *sq_at(struct io_uring_sqe *sq, __u32 i)
{
	return &sq[i & (RING_NAME(sq_entries) - 1)];
}
/* Every field cleared, then the request's own. */
static __always_inline void prep(struct io_uring_sqe *sqe, __u8 opcode, __s32 fd, __u64 addr, __u32 len, __u64 off, __u64 user_data)
{
	__builtin_memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = opcode;
	sqe->fd = fd;
	sqe->addr = addr;
	sqe->len = len;
	sqe->off = off;
	sqe->user_data = user_data;
}

static __always_inline void prep_nop(struct io_uring_sqe *sqe, __u64 user_data)
{
	prep(sqe, IORING_OP_NOP, 0, 0, 0, 0, user_data);
}
static __always_inline void prep_read(struct io_uring_sqe *sqe, __s32 fd, __u64 addr, __u32 len, __u64 off, __u64 user_data)
{
	prep(sqe, IORING_OP_READ, fd, addr, len, off, user_data);
}
static __always_inline void prep_write(struct io_uring_sqe *sqe, __s32 fd, __u64 addr, __u32 len, __u64 off, __u64 user_data)
{
	prep(sqe, IORING_OP_WRITE, fd, addr, len, off, user_data);
}

/* What a loop_step starts from: its ring and loop parameters (ctx[0], ctx[1]), the MEM region if it has
 * one, and the SQ and CQ regions. */
struct ring {
	struct io_ring_ctx *ctx;
	struct iou_loop_params *lp;
	void *mem;
	struct io_uring_sqe *sq;
	__u8 *cq;
};
/* Fills r from the program's context, r->mem with the MEM region's first mem_size bytes (mem_size 0: no
 * MEM region, r->mem is NULL). A region that is missing is NULL: the program checks. */
static __always_inline void ring_open(struct ring *r, unsigned long long *ctx, unsigned long mem_size)
{
	r->ctx = RING(ctx);
	r->lp = LOOP_PARAMS(ctx);
	r->mem = mem_size ? bpf_io_uring_get_region(r->ctx, REGION_MEM, mem_size) : 0;
	r->sq = sq_region(r->ctx);
	r->cq = cq_region(r->ctx);
}
/* Takes the completion at *head off the CQ: its result and user_data are read before the new head is
 * published (from then on the kernel may reuse the entry). */
static __always_inline void cq_take(__u8 *cq, __u32 *head, __s32 *res, __u64 *user_data)
{
	struct io_uring_cqe *cqe = cq_at(cq, *head);
	*res = cqe->res;
	*user_data = cqe->user_data;
	*head += 1;
	*cq_head(cq) = *head;
}
/* The step's end when it waits: the loop sleeps until the CQ's tail reaches idx (CONTINUE). */
static __always_inline int wait_cq(struct ring *r, __u32 idx)
{
	r->lp->cq_wait_idx = idx;
	return CONTINUE;
}

#endif /* URINGBPF_NO_RING */

#define LOOP_OPS(prog) \
	SEC(".struct_ops.link") struct io_uring_bpf_ops prog##_ops = { .loop_step = (void *)prog }; \
	char LICENSE[] SEC("license") = "Dual BSD/GPL"

#endif
