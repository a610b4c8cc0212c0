/* samples/records.ts in C: read a stream of length-prefixed records (a little-endian u32 length, then that
 * many bytes): read the 4-byte header, then exactly `length` bytes, add them to a checksum inside the MEM
 * region, go on with the next header. */
#include "uringbpf.h"

#define MAX_RECORD 4096
#define HEADER 1
#define BODY 2

/* The MEM region: results for userspace, and the read buffers. */
struct Records {
	__s32 status; /* 1 while reading, 0 at a clean end of file, -errno on failure */
	__u32 records;
	__u64 bytes;
	__u32 checksum; /* sum of all record bytes, modulo 2^32 */
	__u32 length; /* the header being read */
	__u8 data[MAX_RECORD];
};
MEM_UADDR();
MEM_LAYOUT(struct Records);

int inFd = -1;
static __u64 offset = 0; /* file offset of the next header */
__u32 started = 0; /* not static: clang -O2 would shrink a static 0/1 variable to a 1-byte bool, whose BTF type stays 4 bytes (the kernel's BTF check refuses that) */

#define USER_ADDR(field) (uringbpf_mem_uaddr + __builtin_offsetof(struct Records, field))

static __always_inline void read_header(struct io_uring_sqe *sqe)
{
	prep_read(sqe, inFd, USER_ADDR(length), 4, offset, HEADER);
}

SEC("struct_ops.s/records")
int records(unsigned long long *ctx)
{
	struct ring r;
	ring_open(&r, ctx, sizeof(struct Records));
	struct Records *p = r.mem;
	if (!p || !r.sq || !r.cq)
		return STOP;
	__u8 *cq = r.cq;
	struct io_uring_sqe *sqe = sq_at(r.sq, 0);
	__u32 head = *cq_head(cq);
	if (started == 0) {
		started = 1;
		p->status = 1;
		read_header(sqe);
	} else {
		if (head == cq_tail(cq))
			return wait_cq(&r, head + 1);
		int res;
		__u64 what;
		cq_take(cq, &head, &res, &what);
		if (res < 0) {
			p->status = res;
			return STOP;
		}
		if (what == HEADER) {
			if (res == 0) {
				p->status = 0; /* end of file between records */
				return STOP;
			}
			__u32 len = p->length;
			if (res != 4 || len > MAX_RECORD) {
				p->status = -74; /* EBADMSG: torn header or oversized record */
				return STOP;
			}
			if (len == 0) {
				p->records++;
				offset += 4;
				read_header(sqe);
			} else {
				prep_read(sqe, inFd, USER_ADDR(data), len, offset + 4, BODY);
			}
		} else {
			__u32 len = p->length;
			if ((__u32)res != len || len > MAX_RECORD) {
				p->status = -74; /* short record at the end of the file */
				return STOP;
			}
			/* A loop with a constant bound, as BPF C writes it (the verifier does not carry the len <= MAX_RECORD
			 * test over to a copy of len clang makes): the verifier walks it once per iteration. */
			__u32 sum = p->checksum;
			for (__u32 i = 0; i < MAX_RECORD; i++) {
				if (i >= len)
					break;
				sum += p->data[i];
			}
			p->checksum = sum;
			p->records++;
			p->bytes += len;
			offset += 4 + (__u64)len;
			read_header(sqe);
		}
	}
	if (bpf_io_uring_submit_sqes(r.ctx, 1) != 1) {
		p->status = -5;
		return STOP;
	}
	return wait_cq(&r, head + 1);
}

LOOP_OPS(records);
