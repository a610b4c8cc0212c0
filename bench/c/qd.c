/* samples/qd.ts in C: userspace queues requests in the MEM region; the loop keeps exactly `depth` of them
 * in flight, topping up as completions arrive, and records the highest depth it ever had in flight. */
#include "uringbpf.h"

#define MAX_REQS 256

const volatile __u32 depth = 4; /* requests in flight at once (at most the SQ size) */

/* One queued request: the SQE fields that matter; a zeroed entry is a NOP. */
struct Req {
	__u8 opcode;
	__s32 fd;
	__u32 len;
	__u64 off;
	__u64 addr;
};
struct Queue {
	__u32 count; /* requests queued by userspace */
	__s32 status; /* 1 while running, 0 when all completed, -errno of the first failure */
	__u32 submitted;
	__u32 completed;
	__u32 maxInflight;
	struct Req reqs[MAX_REQS];
};
MEM_LAYOUT(struct Queue);

static __u32 inflight = 0;

SEC("struct_ops.s/qd")
int qd(unsigned long long *ctx)
{
	struct ring r;
	ring_open(&r, ctx, sizeof(struct Queue));
	struct Queue *q = r.mem;
	if (!q || !r.sq || !r.cq)
		return STOP;
	struct io_uring_sqe *sq = r.sq;
	__u8 *cq = r.cq;
	if (depth == 0 || depth > uringbpf_sq_entries || q->count > MAX_REQS) {
		q->status = -22;
		return STOP;
	}
	__u32 head = *cq_head(cq);
	__u32 tail = cq_tail(cq);
	for (__u32 i = 0; i < 64; i++) {
		if (head == tail)
			break;
		struct io_uring_cqe *cqe = cq_at(cq, head);
		if (cqe->res < 0 && q->status == 1)
			q->status = cqe->res;
		q->completed++;
		inflight--;
		head++;
	}
	*cq_head(cq) = head;
	if (q->completed == q->count) {
		if (q->status == 1 || q->count == 0)
			q->status = 0;
		return STOP;
	}
	if (q->submitted == 0)
		q->status = 1;
	/* Top up to exactly `depth` in flight. */
	__u32 n = 0;
	for (__u32 i = 0; i < 32; i++) {
		if (inflight + n >= depth || q->submitted + n >= q->count)
			break;
		__u32 k = q->submitted + n;
		if (k >= MAX_REQS) /* the index check uringbpf makes (a trap there) */
			return STOP;
		struct Req *req = &q->reqs[k];
		prep(sq_at(sq, i), req->opcode, req->fd, req->addr, req->len, req->off, k);
		n++;
	}
	if (n > 0) {
		int got = bpf_io_uring_submit_sqes(r.ctx, n);
		if (got != (int)n) {
			q->status = got < 0 ? got : -5;
			return STOP;
		}
		q->submitted += n;
		inflight += n;
		if (inflight > q->maxInflight)
			q->maxInflight = inflight;
	}
	return wait_cq(&r, head + 1);
}

LOOP_OPS(qd);
