/* Opens a BPF object with libbpf (bpf_object__open_file, no load) and prints what libbpf made of it, one
 * line per program and map, so test/elf.test.ts can prove libbpf parses the objects the writer produces.
 * With --load it then loads the object into the kernel (test/cref.test.ts, in the VM: what libbpf alone
 * makes of an object the loader refuses up front).
 * Usage: libbpf-open [--load] FILE.o. Exit status 0 on success, 1 with libbpf's warnings on stderr otherwise. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

static int print_warnings(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, args);
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_map *map;
	const struct btf *btf;

	int load = argc == 3 && !strcmp(argv[1], "--load");
	if (argc != 2 && !load) {
		fprintf(stderr, "usage: %s [--load] FILE.o\n", argv[0]);
		return 2;
	}
	libbpf_set_print(print_warnings);
	obj = bpf_object__open_file(argv[argc - 1], NULL);
	if (!obj) {
		fprintf(stderr, "open failed: %s\n", strerror(errno));
		return 1;
	}
	printf("object %s\n", bpf_object__name(obj));
	bpf_object__for_each_program(prog, obj)
		printf("program %s section=%s type=%d insns=%zu autoload=%d\n", bpf_program__name(prog),
		       bpf_program__section_name(prog), (int)bpf_program__type(prog), bpf_program__insn_cnt(prog),
		       (int)bpf_program__autoload(prog));
	bpf_object__for_each_map(map, obj)
		printf("map %s type=%d value_size=%u\n", bpf_map__name(map), (int)bpf_map__type(map),
		       bpf_map__value_size(map));
	btf = bpf_object__btf(obj);
	printf("btf types=%u\n", btf ? btf__type_cnt(btf) - 1 : 0);
	int err = load ? bpf_object__load(obj) : 0;
	if (load)
		printf("load %s (%d)\n", err ? "failed" : "ok", err);
	bpf_object__close(obj);
	return err ? 1 : 0;
}
