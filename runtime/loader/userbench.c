/*
 * uringbpf-userbench WAY ...: userspace liburing equivalents of two loop_step samples, to compare in the
 * same guest with the BPF loop doing the same I/O.
 *
 *   records FILE       read a length-prefixed record stream (u32 length + body) with one request in flight:
 *                      read the header, wait, read exactly that many bytes, wait, checksum the body
 *                      (what samples/records.ts does inside the kernel)
 *   qd N DEPTH         run N NOPs keeping exactly DEPTH in flight, topping up as completions arrive
 *                      (what samples/qd.ts does)
 *
 * Prints one JSON line: {"way":..,"ns":..,...results}. Ring flags as the loader's, minus SQ_REWIND.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <liburing.h>

static struct io_uring ring;

static void die(const char *what, int err)
{
	fprintf(stderr, "uringbpf-userbench: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static unsigned long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000ULL + t.tv_nsec;
}

static void setup_ring(void)
{
	struct io_uring_params p = { .flags = IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_NO_SQARRAY | IORING_SETUP_CQSIZE, .cq_entries = 16 };
	int ret = io_uring_queue_init_params(8, &ring, &p);
	if (ret < 0) die("io_uring_queue_init_params", ret);
}

/* One read at `off` of `len` bytes into `buf`, waited for; returns res. */
static int read_once(int fd, void *buf, unsigned len, unsigned long long off)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	struct io_uring_cqe *cqe;
	io_uring_prep_read(sqe, fd, buf, len, off);
	int ret = io_uring_submit_and_wait(&ring, 1);
	if (ret < 0) die("io_uring_submit_and_wait", ret);
	ret = io_uring_peek_cqe(&ring, &cqe);
	if (ret < 0) die("io_uring_peek_cqe", ret);
	int res = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	return res;
}

static void records(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0) die(path, -1);
	static unsigned char body[4096];
	uint32_t len;
	unsigned long long off = 0, bytes = 0, t0 = now_ns();
	unsigned n = 0, sum = 0;
	int status = 0;
	for (;;) {
		int res = read_once(fd, &len, 4, off);
		if (res == 0) break;
		if (res != 4 || len > sizeof(body)) { status = res < 0 ? res : -74; break; }
		if (len) {
			res = read_once(fd, body, len, off + 4);
			if (res != (int)len) { status = res < 0 ? res : -74; break; }
			for (uint32_t i = 0; i < len; i++) sum += body[i];
		}
		n++;
		bytes += len;
		off += 4 + len;
	}
	printf("{\"way\":\"records\",\"ns\":%llu,\"status\":%d,\"records\":%u,\"bytes\":%llu,\"checksum\":%u}\n", now_ns() - t0, status, n, bytes, sum);
}

static void qd(unsigned n, unsigned depth)
{
	unsigned submitted = 0, completed = 0, inflight = 0, max = 0;
	unsigned long long t0 = now_ns();
	while (completed < n) {
		unsigned k = 0;
		while (inflight + k < depth && submitted + k < n) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			if (!sqe) break;
			io_uring_prep_nop(sqe);
			k++;
		}
		int ret = io_uring_submit_and_wait(&ring, 1);
		if (ret < 0) die("io_uring_submit_and_wait", ret);
		submitted += k;
		inflight += k;
		if (inflight > max) max = inflight;
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			if (cqe->res < 0) die("NOP", cqe->res);
			seen++;
		}
		io_uring_cq_advance(&ring, seen);
		completed += seen;
		inflight -= seen;
	}
	printf("{\"way\":\"qd\",\"ns\":%llu,\"completed\":%u,\"maxInflight\":%u}\n", now_ns() - t0, completed, max);
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "records")) { setup_ring(); records(argv[2]); return 0; }
	if (argc >= 4 && !strcmp(argv[1], "qd")) { setup_ring(); qd(strtoul(argv[2], NULL, 0), strtoul(argv[3], NULL, 0)); return 0; }
	fprintf(stderr, "usage: uringbpf-userbench records FILE | qd N DEPTH\n");
	return 2;
}
