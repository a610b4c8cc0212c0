/*
 * The userspace side of samples/counters.ts (built by test/lang.test.ts, run in the VM beside
 * uringbpf-loader --mem-file FILE): maps FILE (the MEM region, shared), produces N items 1..N into the
 * 64-slot ring with release stores of `produced`, reuses slots only after an acquire load of `consumed`
 * shows the program took them, adds to `shared` atomically for each item (the program does too), then
 * sets `done` and waits until everything is consumed. Prints one JSON line with what it saw.
 * Usage: counters-producer FILE N
 */
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* The layout of interface Shared in samples/counters.ts (C rules: the same offsets). */
struct shared {
	uint32_t produced, consumed, done, polls;
	uint64_t total, items, shared;
	int64_t sleep_sec, sleep_nsec;
	uint32_t slots[64];
};

int main(int argc, char **argv)
{
	if (argc != 3) { fprintf(stderr, "usage: %s FILE N\n", argv[0]); return 1; }
	unsigned n = (unsigned)strtoul(argv[2], NULL, 10);
	int fd = -1;
	/* The loader creates the file when it sets up the ring: wait for it. */
	for (int i = 0; i < 20000 && fd < 0; i++) {
		fd = open(argv[1], O_RDWR);
		if (fd < 0 || lseek(fd, 0, SEEK_END) < (off_t)sizeof(struct shared)) {
			if (fd >= 0) close(fd);
			fd = -1;
			usleep(1000);
		}
	}
	if (fd < 0) { perror(argv[1]); return 1; }
	struct shared *m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) { perror("mmap"); return 1; }
	unsigned long long full_waits = 0;
	for (unsigned i = 1; i <= n; i++) {
		uint32_t p = m->produced;
		while (p - __atomic_load_n(&m->consumed, __ATOMIC_ACQUIRE) >= 64) { full_waits++; sched_yield(); }
		m->slots[p & 63] = i;
		__atomic_fetch_add(&m->shared, 1, __ATOMIC_SEQ_CST);
		__atomic_store_n(&m->produced, p + 1, __ATOMIC_RELEASE);
		if ((i & 15) == 0) sched_yield();
	}
	__atomic_store_n(&m->done, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&m->consumed, __ATOMIC_ACQUIRE) != n) sched_yield();
	printf("{\"producer\":{\"n\":%u,\"consumed\":%u,\"total\":%llu,\"items\":%llu,\"shared\":%llu,\"full_waits\":%llu}}\n", n,
	       __atomic_load_n(&m->consumed, __ATOMIC_ACQUIRE), (unsigned long long)__atomic_load_n(&m->total, __ATOMIC_SEQ_CST),
	       (unsigned long long)__atomic_load_n(&m->items, __ATOMIC_SEQ_CST), (unsigned long long)__atomic_load_n(&m->shared, __ATOMIC_SEQ_CST), full_waits);
	return 0;
}
