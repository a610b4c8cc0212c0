/*
 * A C user of a uringbpf object through a bpftool skeleton (docs/OBJECT.md "From C: a libbpf
 * skeleton"): samples/nops.ts compiled by `uringbpf build`, `bpftool gen skeleton nops.o name nops >
 * nops.skel.h`, libbpf >= 1.5. Creates the ring itself, fills the hidden ring globals from
 * io_uring_params (skel-ring.h), sets reqsToRun, writes ring_fd into the struct_ops map, loads, attaches (the
 * skeleton's attach attaches struct_ops maps since libbpf 1.5), runs the loop with one io_uring_enter
 * and reads the results back through the skeleton's mmapped .bss.
 *   skel-nops N   prints "SKEL reqsToRun=R result=E enter=RET attached=0|1"
 */
#include <stdio.h>
#include <stdlib.h>
#include "skel-ring.h"
#include "nops.skel.h"

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000;
	struct skel_ring r;
	int err = skel_ring_create(&r, 8, 16);
	if (err) {
		printf("SKEL error io_uring_setup %d\n", err);
		return 1;
	}
	struct nops *skel = nops__open();
	if (!skel) {
		printf("SKEL error open %d\n", -errno);
		return 1;
	}
	/* The hidden ring globals nops uses (docs/OBJECT.md lists them all), by name through geometry.h. */
	if (skel_ring_geometry(skel->obj, skel->rodata, &r) < 7) {
		printf("SKEL error geometry globals\n");
		return 1;
	}
	skel->bss->reqsToRun = n;
	skel->struct_ops.nops_ops->ring_fd = r.fd;
	err = nops__load(skel);
	if (err) {
		printf("SKEL error load %d\n", err);
		return 1;
	}
	err = nops__attach(skel);
	if (err) {
		printf("SKEL error attach %d\n", err);
		return 1;
	}
	long ret = skel_ring_run(&r);
	printf("SKEL reqsToRun=%d result=%d enter=%ld attached=%d\n", skel->bss->reqsToRun, skel->bss->result, ret,
	       skel->links.nops_ops != NULL);
	nops__destroy(skel);
	close(r.fd);
	return 0;
}
