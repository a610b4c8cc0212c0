/*
 * uringbpf-nopbench N WAY: userspace liburing baselines for N sequential NOPs, to compare with a BPF
 * loop_step program that does the same inside one io_uring_enter.
 *
 *   single    one NOP per io_uring_submit_and_wait(1)
 *   batch8    8 NOPs per io_uring_submit_and_wait(8)
 *   link2     one 2-NOP IOSQE_IO_LINK chain per io_uring_submit_and_wait(2)
 *   link2x4   four 2-NOP chains per io_uring_submit_and_wait(8)
 *
 * The ring uses the loader's default flags minus SQ_REWIND (liburing moves the SQ tail itself):
 * DEFER_TASKRUN|SINGLE_ISSUER|NO_SQARRAY|CQSIZE, falling back to fewer flags on older kernels.
 * Every CQE must have res 0. Prints one JSON line: {"way":..,"n":..,"ns_per_nop":..,"total_ns":..}.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <liburing.h>

static struct io_uring ring;
static unsigned ring_flags;

static void die(const char *what, int err)
{
	fprintf(stderr, "uringbpf-nopbench: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static void setup_ring(void)
{
	static const unsigned tries[] = {
		IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_NO_SQARRAY | IORING_SETUP_CQSIZE,
		IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_CQSIZE,
		IORING_SETUP_CQSIZE,
	};
	int ret = -1;
	for (unsigned i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		struct io_uring_params p = { .flags = tries[i], .cq_entries = 16 };
		ret = io_uring_queue_init_params(8, &ring, &p);
		if (ret == 0) { ring_flags = p.flags; return; }
	}
	die("io_uring_queue_init_params", ret);
}

/* Queue `chains` chains of `len` NOPs (linked inside a chain), submit, wait for all, check them. */
static void round_trip(unsigned chains, unsigned len)
{
	unsigned total = chains * len, seen = 0;
	for (unsigned c = 0; c < chains; c++)
		for (unsigned k = 0; k < len; k++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			if (!sqe) die("io_uring_get_sqe", 16 /* EBUSY */);
			io_uring_prep_nop(sqe);
			if (k + 1 < len) sqe->flags |= IOSQE_IO_LINK;
		}
	int ret = io_uring_submit_and_wait(&ring, total);
	if (ret < 0) die("io_uring_submit_and_wait", ret);
	while (seen < total) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			if (cqe->res != 0) { fprintf(stderr, "uringbpf-nopbench: NOP completed with res %d\n", cqe->res); exit(1); }
			n++;
		}
		io_uring_cq_advance(&ring, n);
		seen += n;
		if (seen < total && (ret = io_uring_wait_cqe(&ring, &cqe)) < 0) die("io_uring_wait_cqe", ret);
	}
}

int main(int argc, char **argv)
{
	if (argc != 3 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fprintf(argc == 2 ? stdout : stderr, "usage: uringbpf-nopbench N single|batch8|link2|link2x4\n");
		return argc == 2 ? 0 : 1;
	}
	char *end;
	unsigned long long n = strtoull(argv[1], &end, 0);
	const char *way = argv[2];
	unsigned chains, len;
	if (*end || !n) { fprintf(stderr, "uringbpf-nopbench: bad N '%s'\n", argv[1]); return 1; }
	if (!strcmp(way, "single")) chains = 1, len = 1;
	else if (!strcmp(way, "batch8")) chains = 8, len = 1;
	else if (!strcmp(way, "link2")) chains = 1, len = 2;
	else if (!strcmp(way, "link2x4")) chains = 4, len = 2;
	else { fprintf(stderr, "uringbpf-nopbench: unknown way '%s'\n", way); return 1; }

	setup_ring();
	struct timespec a, b;
	unsigned long long done = 0, per = chains * len;
	clock_gettime(CLOCK_MONOTONIC, &a);
	while (done + per <= n) { round_trip(chains, len); done += per; }
	/* remainder (N not a multiple of the batch): whole chains, then single NOPs */
	while (done + len <= n && len > 1) { round_trip(1, len); done += len; }
	while (done < n) { round_trip(1, 1); done++; }
	clock_gettime(CLOCK_MONOTONIC, &b);
	unsigned long long ns = (b.tv_sec - a.tv_sec) * 1000000000ULL + b.tv_nsec - a.tv_nsec;
	printf("{\"way\":\"%s\",\"n\":%llu,\"ns_per_nop\":%.1f,\"total_ns\":%llu,\"ring_flags\":%u}\n",
	       way, n, (double)ns / n, ns, ring_flags);
	io_uring_queue_exit(&ring);
	return 0;
}
