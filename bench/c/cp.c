/* samples/cp.ts in C: one request in flight; read a block at the running offset, write it out at the same
 * offset, repeat until end of file or an error. The loader opens inFd/outFd and allocates buf. */
#include "uringbpf.h"

#define READ 1
#define WRITE 2
#define EINVAL 22
#define EIO 5

const volatile __u32 bufSize = 4096;
int inFd = -1;
int outFd = -1;
__u64 buf = 0;
int result = 1;
__u64 copied = 0;
static __u32 pending = 0;
static _Bool started = 0;

static __always_inline int fail(int err)
{
	result = err;
	return STOP;
}

SEC("struct_ops.s/cp")
int cp(unsigned long long *ctx)
{
	struct io_ring_ctx *ring = RING(ctx);
	struct iou_loop_params *lp = LOOP_PARAMS(ctx);
	struct io_uring_sqe *sq = sq_region(ring);
	__u8 *cq = cq_region(ring);
	if (!sq || !cq)
		return fail(-EINVAL);
	if (inFd < 0 || outFd < 0 || buf == 0)
		return fail(-EINVAL);

	__u32 head = *cq_head(cq);
	if (!started) {
		started = 1;
		prep(sq_at(sq, 0), IORING_OP_READ, inFd, buf, bufSize, copied, READ);
	} else {
		if (head == cq_tail(cq)) {
			lp->cq_wait_idx = head + 1;
			return CONTINUE;
		}
		struct io_uring_cqe *cqe = cq_at(cq, head);
		int res = cqe->res;
		__u64 op = cqe->user_data;
		head++;
		*cq_head(cq) = head;
		if (res < 0)
			return fail(res);
		if (op == READ) {
			if (res == 0)
				return fail(0); /* end of file: done */
			pending = (__u32)res;
			prep(sq_at(sq, 0), IORING_OP_WRITE, outFd, buf, pending, copied, WRITE);
		} else {
			if ((__u32)res != pending)
				return fail(-EIO); /* short write */
			copied += (__u64)res;
			prep(sq_at(sq, 0), IORING_OP_READ, inFd, buf, bufSize, copied, READ);
		}
	}
	int submitted = bpf_io_uring_submit_sqes(ring, 1);
	if (submitted != 1)
		return fail(submitted < 0 ? submitted : -EIO);
	lp->cq_wait_idx = head + 1;
	return CONTINUE;
}

LOOP_OPS(cp);
