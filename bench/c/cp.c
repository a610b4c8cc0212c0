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
	struct ring r;
	ring_open(&r, ctx, 0);
	if (!r.sq || !r.cq)
		return fail(-EINVAL);
	__u8 *cq = r.cq;
	if (inFd < 0 || outFd < 0 || buf == 0)
		return fail(-EINVAL);

	__u32 head = *cq_head(cq);
	if (!started) {
		started = 1;
		prep_read(sq_at(r.sq, 0), inFd, buf, bufSize, copied, READ);
	} else {
		if (head == cq_tail(cq))
			return wait_cq(&r, head + 1);
		int res;
		__u64 op;
		cq_take(cq, &head, &res, &op);
		if (res < 0)
			return fail(res);
		if (op == READ) {
			if (res == 0)
				return fail(0); /* end of file: done */
			pending = (__u32)res;
			prep_write(sq_at(r.sq, 0), outFd, buf, pending, copied, WRITE);
		} else {
			if ((__u32)res != pending)
				return fail(-EIO); /* short write */
			copied += (__u64)res;
			prep_read(sq_at(r.sq, 0), inFd, buf, bufSize, copied, READ);
		}
	}
	int submitted = bpf_io_uring_submit_sqes(r.ctx, 1);
	if (submitted != 1)
		return fail(submitted < 0 ? submitted : -EIO);
	return wait_cq(&r, head + 1);
}

LOOP_OPS(cp);
