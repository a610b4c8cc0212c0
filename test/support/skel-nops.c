/*
 * A C user of a uringbpf object through a bpftool skeleton (docs/OBJECT.md "From C: a libbpf
 * skeleton"): samples/nops.ts compiled by `uringbpf build`, `bpftool gen skeleton nops.o name nops >
 * nops.skel.h`, libbpf >= 1.5. Creates the ring itself, fills the hidden ring globals from
 * io_uring_params, sets reqsToRun, writes ring_fd into the struct_ops map, loads, attaches (the
 * skeleton's attach attaches struct_ops maps since libbpf 1.5), runs the loop with one io_uring_enter
 * and reads the results back through the skeleton's mmapped .bss.
 *   skel-nops N   prints "SKEL reqsToRun=R result=E enter=RET attached=0|1"
 */
#include <errno.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "nops.skel.h"

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000;
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_NO_SQARRAY |
		  IORING_SETUP_CQSIZE | IORING_SETUP_SQ_REWIND;
	p.cq_entries = 16;
	int fd = (int)syscall(__NR_io_uring_setup, 8, &p);
	if (fd < 0) {
		printf("SKEL error io_uring_setup %d\n", -errno);
		return 1;
	}
	struct nops *skel = nops__open();
	if (!skel) {
		printf("SKEL error open %d\n", -errno);
		return 1;
	}
	/* The hidden ring globals nops uses (docs/OBJECT.md lists them all). */
	skel->rodata->uringbpf_sq_entries = p.sq_entries;
	skel->rodata->uringbpf_cq_entries = p.cq_entries;
	skel->rodata->uringbpf_cq_head = p.cq_off.head;
	skel->rodata->uringbpf_cq_tail = p.cq_off.tail;
	skel->rodata->uringbpf_cq_cqes = p.cq_off.cqes;
	skel->rodata->uringbpf_cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	skel->rodata->uringbpf_sq_size = p.sq_entries * sizeof(struct io_uring_sqe);
	skel->bss->reqsToRun = n;
	skel->struct_ops.nops_ops->ring_fd = fd;
	int err = nops__load(skel);
	if (err) {
		printf("SKEL error load %d\n", err);
		return 1;
	}
	err = nops__attach(skel);
	if (err) {
		printf("SKEL error attach %d\n", err);
		return 1;
	}
	long ret = syscall(__NR_io_uring_enter, fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
	printf("SKEL reqsToRun=%d result=%d enter=%ld attached=%d\n", skel->bss->reqsToRun, skel->bss->result,
	       ret < 0 ? -(long)errno : ret, skel->links.nops_ops != NULL);
	nops__destroy(skel);
	close(fd);
	return 0;
}
