/* samples/nops.ts in C: keep up to MAX_INFLIGHT NOPs in flight until reqsToRun have completed; each
 * completion's user_data is checked against TOKEN; sleep until everything in flight has completed. */
#include "uringbpf.h"

#define MAX_INFLIGHT 8
#define TOKEN 0xabba1741ULL

int reqsToRun = 0;
int result = 0;
static __u32 inflight = 0;

SEC("struct_ops.s/nops")
int nops(unsigned long long *ctx)
{
	struct ring r;
	ring_open(&r, ctx, 0);
	if (!r.sq || !r.cq) {
		result = -22;
		return STOP;
	}
	__u8 *cq = r.cq;

	/* Reap what has completed. */
	__u32 head = *cq_head(cq);
	__u32 tail = cq_tail(cq);
	for (__u32 i = 0; i < MAX_INFLIGHT; i++) {
		if (head == tail)
			break;
		struct io_uring_cqe *cqe = cq_at(cq, head);
		if (cqe->user_data != TOKEN) {
			result = -74;
			return STOP;
		}
		if (cqe->res < 0) {
			result = cqe->res;
			return STOP;
		}
		head++;
		inflight--;
	}
	*cq_head(cq) = head;

	/* Top the queue up to MAX_INFLIGHT. */
	__u32 n = 0;
	for (__u32 i = 0; i < MAX_INFLIGHT; i++) {
		if (inflight + n >= MAX_INFLIGHT || reqsToRun <= 0)
			break;
		prep_nop(sq_at(r.sq, i), TOKEN);
		n++;
		reqsToRun--;
	}
	if (n > 0) {
		int submitted = bpf_io_uring_submit_sqes(r.ctx, n);
		if (submitted != (int)n) {
			result = submitted < 0 ? submitted : -5;
			return STOP;
		}
		inflight += n;
	}
	if (inflight == 0)
		return STOP;

	/* Sleep until everything in flight has completed. */
	return wait_cq(&r, head + inflight);
}

LOOP_OPS(nops);
