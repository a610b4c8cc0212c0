/*
 * Links BPF objects into one with libbpf's static linker (what `bpftool gen object OUT IN...` does):
 *   bpf-link OUT.o IN1.o IN2.o ...
 * Built against libbpf >= 1.5 (test/skeleton.test.ts): 1.4's linker fails on two objects that declare
 * the same extern kfunc ("failed to resolve size of underlying type"), whoever compiled them.
 */
#include <bpf/libbpf.h>
#include <stdio.h>

static int print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_DEBUG ? 0 : vfprintf(stderr, fmt, ap);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s OUT.o IN.o...\n", argv[0]);
		return 2;
	}
	libbpf_set_print(print);
	struct bpf_linker *l = bpf_linker__new(argv[1], NULL);
	if (!l) {
		perror("bpf_linker__new");
		return 1;
	}
	for (int i = 2; i < argc; i++) {
		int err = bpf_linker__add_file(l, argv[i], NULL);
		if (err) {
			fprintf(stderr, "bpf-link: cannot link %s: %d\n", argv[i], err);
			bpf_linker__free(l);
			return 1;
		}
	}
	int err = bpf_linker__finalize(l);
	bpf_linker__free(l);
	if (err) fprintf(stderr, "bpf-link: finalize: %d\n", err);
	return err ? 1 : 0;
}
