/*
 * uringbpf-loader: load and run an io_uring `loop_step` struct_ops BPF program.
 *
 * Works for any libbpf-style object (uringbpf's or clang's) that holds a struct_ops map of type
 * `io_uring_bpf_ops`. Steps, one function each:
 *   1. check_object/open_object  the file must be an ELF for EM_BPF whose every structure passes
 *                                objcheck.c's bounds checks, then libbpf must open it          (exit 2)
 *   2. create_ring               io_uring_setup with the requested flags, optional MEM region
 *   3. configure                 ring_fd into the struct_ops map; ring-geometry .rodata globals;
 *                                --set/--open/--buffer globals (found by name in the BTF DATASECs)
 *   4. load_object               bpf_object__load with a verifier log for every program; -ENOSPC retries
 *                                with a bigger log; kernel without io_uring_bpf_ops (exit 3); a refusal
 *                                (exit 4) names its stage (diagnose.c): the BTF verifier's line, the
 *                                program and the verifier's error line, or libbpf's reason
 *   5. attach                    bpf_map__attach_struct_ops (a struct_ops link)              (exit 6)
 *   6. run                       io_uring_enter(fd, 0, 0, GETEVENTS) timed with CLOCK_MONOTONIC (exit 7
 *                                if it returns an error); --trace clears tracefs' trace before, reads it after
 *   7. report                    every .rodata/.data/.bss global read back with bpf_map_lookup_elem
 *                                (libbpf 1.4 does not remap maps after a plain load), the MEM region
 *                                decoded through its BTF layout (uringbpf_mem_layout), a trap
 *                                (uringbpf_trap != 0: its source line from .BTF.ext line_info, exit 8)
 *                                and the trace messages, one JSON line.
 * Usage errors exit 1; ring/option/global errors exit 5. See runtime/loader/README.md.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <elf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <liburing.h>
#include "diagnose.h"
#include "geometry.h"
#include "objcheck.h"

#define DEFAULT_FLAGS (IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER | \
		       IORING_SETUP_NO_SQARRAY | IORING_SETUP_CQSIZE | IORING_SETUP_SQ_REWIND)
#ifndef LOG_START
#define LOG_START (16u << 20)
#endif
#define LOG_MAX (1u << 30)
#define MAX_ASSIGN 64
#define MAX_TYPE_DEPTH OBJCHECK_MAX_DEPTH /* nesting followed when printing or describing a BTF type */
#define MEM_LAYOUT_MAX (64ull << 20)      /* largest MEM layout the loader maps without --mem-region */

#if defined(__SANITIZE_ADDRESS__)
/* The sanitizer build (uringbpf-loader-asan): any report exits 99, a status the loader never uses; leaks
 * at exit are not reported (the loader exits from many places on purpose). */
__attribute__((used, visibility("default"))) const char *__asan_default_options(void)
{
	return "detect_leaks=0:exitcode=99";
}
__attribute__((used, visibility("default"))) const char *__ubsan_default_options(void)
{
	return "print_stacktrace=1:halt_on_error=1:exitcode=99";
}
#endif

enum { EXIT_USAGE = 1, EXIT_OPEN = 2, EXIT_NOKERNEL = 3, EXIT_VERIFIER = 4, EXIT_SETUP = 5,
       EXIT_ATTACH = 6, EXIT_RUN = 7, EXIT_TRAP = 8 };

static const struct { const char *name; unsigned flag; } setup_flags[] = {
	{"IOPOLL", IORING_SETUP_IOPOLL}, {"SQPOLL", IORING_SETUP_SQPOLL},
	{"SQ_AFF", IORING_SETUP_SQ_AFF}, {"CQSIZE", IORING_SETUP_CQSIZE},
	{"CLAMP", IORING_SETUP_CLAMP}, {"ATTACH_WQ", IORING_SETUP_ATTACH_WQ},
	{"R_DISABLED", IORING_SETUP_R_DISABLED}, {"SUBMIT_ALL", IORING_SETUP_SUBMIT_ALL},
	{"COOP_TASKRUN", IORING_SETUP_COOP_TASKRUN}, {"TASKRUN_FLAG", IORING_SETUP_TASKRUN_FLAG},
	{"SQE128", IORING_SETUP_SQE128}, {"CQE32", IORING_SETUP_CQE32},
	{"SINGLE_ISSUER", IORING_SETUP_SINGLE_ISSUER}, {"DEFER_TASKRUN", IORING_SETUP_DEFER_TASKRUN},
	{"NO_MMAP", IORING_SETUP_NO_MMAP}, {"REGISTERED_FD_ONLY", IORING_SETUP_REGISTERED_FD_ONLY},
	{"NO_SQARRAY", IORING_SETUP_NO_SQARRAY}, {"HYBRID_IOPOLL", IORING_SETUP_HYBRID_IOPOLL},
	{"CQE_MIXED", IORING_SETUP_CQE_MIXED}, {"SQE_MIXED", IORING_SETUP_SQE_MIXED},
	{"SQ_REWIND", IORING_SETUP_SQ_REWIND},
};

/* kind: 's' --set, 'o' --open, 'b' --buffer, 'm' --mem. For 's'/'m', value is the 64-bit pattern and
 * neg says the text was negative (so a u64 above 2^63 and a negative number can be told apart). */
struct assign { char kind; char *name; char *arg; long long value; int neg; };

static struct {
	const char *path, *prog_name, *pin_maps, *mem_file;
	unsigned sq_entries, cq_entries, flags, log_level;
	unsigned long long mem_size;
	int no_run, no_load, verbose, trace;
	struct assign assigns[MAX_ASSIGN];
	int nassign;
} opt = { .sq_entries = 8, .flags = DEFAULT_FLAGS, .log_level = 1 };

static struct io_uring ring;
static struct io_uring_params params;
static void *mem_region;
static struct bpf_object *obj;
static struct bpf_program *prog;
static struct bpf_map *ops_map;
static char *vlog;                 /* the selected program's verifier log */
static char libbpf_msgs[4096];
static struct load_diag diag;      /* what libbpf said while loading (diagnose.c) */
/* Every program gets its own verifier log, so a rejection of any of them can be explained. */
static struct plog { struct bpf_program *p; char *buf; size_t insns; } *plogs;
static int nplogs;

/* ---------- output helpers ---------- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = *s;
		if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
		else if (c == '\n') fputs("\\n", f);
		else if (c == '\t') fputs("\\t", f);
		else if (c < 0x20) fprintf(f, "\\u%04x", c);
		else fputc(c, f);
	}
	fputc('"', f);
}

/* Print the failure JSON line plus a message on stderr, then exit. `extra` is appended raw. */
__attribute__((noreturn, format(printf, 4, 5)))
static void fail(int code, const char *stage, const char *extra, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (libbpf_msgs[0] && !opt.verbose) fprintf(stderr, "%s", libbpf_msgs);
	fprintf(stderr, "uringbpf-loader: %s\n", msg);
	printf("{\"ok\":false,\"stage\":\"%s\",\"error\":", stage);
	json_str(stdout, msg);
	printf(",\"object\":");
	json_str(stdout, opt.path);
	printf("%s}\n", extra ? extra : "");
	exit(code);
}

/* libbpf messages: everything on stderr with --verbose, otherwise the last few warnings are kept and
 * shown only if something fails (the verifier log itself is printed separately). */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[512];
	if (level == LIBBPF_WARN) { /* the whole message (a BTF load log is long) for diagnose.c */
		va_list cp;
		char *full = NULL;
		va_copy(cp, ap);
		if (vasprintf(&full, fmt, cp) >= 0 && full) diag_libbpf_message(&diag, full);
		va_end(cp);
		free(full);
	}
	if (opt.verbose) return vfprintf(stderr, fmt, ap);
	if (level != LIBBPF_WARN) return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (strstr(line, "PROG LOAD LOG") || strchr(line, '\n') != strrchr(line, '\n')) return 0;
	size_t used = strlen(libbpf_msgs), n = strlen(line) + 8;
	if (used + n >= sizeof(libbpf_msgs)) libbpf_msgs[used = 0] = 0;
	snprintf(libbpf_msgs + used, sizeof(libbpf_msgs) - used, "%s%s", strncmp(line, "libbpf: ", 8) ? "libbpf: " : "", line);
	return 0;
}

/* ---------- option parsing ---------- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: uringbpf-loader OBJ.o [options]\n"
"Load an io_uring loop_step struct_ops program, attach it to a new ring, run it once with\n"
"io_uring_enter(GETEVENTS) and print one JSON line with the result and all globals.\n\n"
"  --sq-entries N        SQ size (default 8)\n"
"  --cq-entries N        CQ size (default 2*sq; giving it adds CQSIZE)\n"
"  --setup-flags LIST    comma list of IORING_SETUP_ names without prefix, or 'none'\n"
"                        (default DEFER_TASKRUN,SINGLE_ISSUER,NO_SQARRAY,CQSIZE,SQ_REWIND)\n"
"  --mem-region SIZE     register a MEM region (region 0) of SIZE bytes (rounded up to pages)\n"
"  --set NAME=VALUE      set global NAME (.rodata/.data/.bss) before load; decimal, 0x hex, negative\n"
"  --open NAME=PATH[:F]  open PATH (F: r (default), w = create+truncate, rw, a = append) and\n"
"                        store the fd in global NAME\n"
"  --mem PATH=VALUE      set a field of the MEM region before the run, through the program's layout\n"
"                        (uringbpf_mem_layout in BTF): count, hdr.len, slots[3], heads[1].seq\n"
"  --map NAME[KEY]PATH=VALUE  preset an array/hash map entry after load: KEY an integer or\n"
"                        {field=INT,...} (struct keys), PATH .field/[index] steps into the value,\n"
"                        VALUE an integer or {field=INT,...}: hist[3]=5, conns[{port=80}].pkts=2,\n"
"                        byId[-3]={origin.x=1,tag=2}; every map is printed after the run under \"maps\"\n"
"  --mem-file PATH       map the MEM region from PATH (MAP_SHARED, created or extended as needed), so\n"
"                        other processes that map the same file share it with the program\n"
"  --pin-maps DIR        pin the maps as DIR/NAME after the run (for bpftool map dump pinned ...)\n"
"  --buffer NAME=SIZE    allocate a page-aligned zeroed buffer, store its address (u64) in NAME\n"
"  --prog NAME           program to report/log if the object holds several\n"
"  --log-level N         verifier log level (default 1)\n"
"  --no-run              load and attach only (checks verifier acceptance)\n"
"  --no-load             stop before load: print the globals as they would be loaded (any kernel)\n"
"  --trace               clear /sys/kernel/tracing/trace before the run (mounting tracefs if needed)\n"
"                        and read it after: bpf_trace_printk messages on stderr and as \"trace\"\n"
"  --verbose             print libbpf's debug output on stderr\n"
"  --explain-log FILE    print the error line of a saved verifier log (as a rejection reports it)\n"
"  -h, --help            this text\n\n"
"Hidden .rodata u32 globals filled when present: uringbpf_sq_entries, uringbpf_cq_entries,\n"
"uringbpf_cq_head, uringbpf_cq_tail, uringbpf_cq_cqes, uringbpf_cq_size, uringbpf_sq_size,\n"
"uringbpf_mem_size; u64 uringbpf_mem_uaddr. A program with a MEM layout (uringbpf_mem_layout) gets a\n"
"region of the layout's size without --mem-region, and the JSON shows it decoded as \"mem\". A non-zero\n"
".bss uringbpf_trap after the run is the source line of a failed run-time check (\"trap\", exit 8).\n"
"Exit: 0 ok, 1 usage, 2 not a BPF object or a malformed one, 3 kernel lacks io_uring BPF ops,\n"
"4 the kernel refused the object (its BTF, a map, a kfunc, or the verifier rejected a program),\n"
"5 ring/global setup failed, 6 attach failed, 7 io_uring_enter returned an error,\n"
"8 the program stopped at a failed run-time check (trap).\n");
}

static void usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "uringbpf-loader: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n(see uringbpf-loader --help)\n");
	exit(EXIT_USAGE);
}

static unsigned long long parse_uint(const char *s, const char *what)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-') usage_error("bad number for %s", what);
	return v;
}

static unsigned parse_flags(char *list)
{
	unsigned flags = 0;
	if (!strcmp(list, "none") || !*list) return 0;
	for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
		if (!strncasecmp(tok, "IORING_SETUP_", 13)) tok += 13;
		size_t i;
		for (i = 0; i < sizeof(setup_flags) / sizeof(setup_flags[0]); i++)
			if (!strcasecmp(tok, setup_flags[i].name)) break;
		if (i == sizeof(setup_flags) / sizeof(setup_flags[0])) usage_error("unknown setup flag '%s'", tok);
		flags |= setup_flags[i].flag;
	}
	return flags;
}

/* A value token: a decimal or 0x hex integer within 64 bits (optionally negative) or true/false, the
 * grammar of runtime/assign.ts parseValue. 0 when it parses; *v is the 64-bit pattern, *neg its sign. */
static int parse_int_text(const char *s, long long *v, int *neg)
{
	char *end;
	*neg = *s == '-';
	if (!strcmp(s, "true") || !strcmp(s, "false")) { *v = s[0] == 't'; *neg = 0; return 0; }
	const char *d = s + *neg;
	if (!isdigit((unsigned char)*d)) return -1;
	int hex = d[0] == '0' && d[1] == 'x';
	if (hex && !isxdigit((unsigned char)d[2])) return -1;
	/* leading zeros are decimal, not octal (as parseValue reads them) */
	if (!hex) while (d[0] == '0' && isdigit((unsigned char)d[1])) d++;
	errno = 0;
	unsigned long long u = strtoull(hex ? d + 2 : d, &end, hex ? 16 : 10);
	if (hex && end == d + 2) return -1;
	if (errno || end == d || *end || !isxdigit((unsigned char)end[-1])) return -1;
	if (*neg && u > 1ULL << 63) return -1;
	if (!u) *neg = 0; /* -0 is 0 */
	*v = *neg ? (long long)(0 - u) : (long long)u;
	return 0;
}

static void add_assign(char kind, char *arg, const char *optname)
{
	if (kind == 'p') {
		/* --map NAME[KEY]PATH=VALUE: parsed after the object is open (maps.h), the whole text kept */
		if (opt.nassign == MAX_ASSIGN) usage_error("too many %s options", optname);
		opt.assigns[opt.nassign++] = (struct assign){ .kind = kind, .name = arg, .arg = "" };
		return;
	}
	char *eq = strchr(arg, '=');
	if (!eq || eq == arg) usage_error("%s expects NAME=VALUE", optname);
	if (opt.nassign == MAX_ASSIGN) usage_error("too many %s options", optname);
	*eq = 0;
	struct assign *a = &opt.assigns[opt.nassign++];
	a->kind = kind; a->name = arg; a->arg = eq + 1;
	if (kind == 's' || kind == 'm') {
		char msg[512];
		if (parse_int_text(a->arg, &a->value, &a->neg)) {
			snprintf(msg, sizeof(msg), "%s %s=%s: bad value (a decimal or 0x hex integer within 64 bits, or true/false)",
				 optname, arg, a->arg);
			usage_error("%s", msg);
		}
	}
}

/* --explain-log FILE: the verifier error line of a saved verifier log (as the loader picks it on a
 * rejection), as one JSON line. */
__attribute__((noreturn))
static void explain_log(const char *file)
{
	FILE *f = fopen(file, "r");
	if (!f) { fprintf(stderr, "uringbpf-loader: --explain-log %s: %s\n", file, strerror(errno)); exit(EXIT_USAGE); }
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap + 1), line[1024];
	for (size_t r; buf && (r = fread(buf + len, 1, cap - len, f)) > 0;) {
		len += r;
		if (len == cap) { char *nb = realloc(buf, 2 * cap + 1); if (!nb) break; buf = nb; cap *= 2; }
	}
	fclose(f);
	if (!buf) exit(EXIT_SETUP);
	buf[len] = 0;
	verifier_error_line(buf, line, sizeof(line));
	printf("{\"error_line\":");
	json_str(stdout, line[0] ? line : NULL);
	printf("}\n");
	exit(0);
}

static void parse_args(int argc, char **argv)
{
	int cq_set = 0;
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED() do { if (!val) usage_error("%s needs an argument", a); i++; } while (0)
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); exit(0); }
		else if (!strcmp(a, "--sq-entries")) { NEED(); opt.sq_entries = parse_uint(val, a); }
		else if (!strcmp(a, "--cq-entries")) { NEED(); opt.cq_entries = parse_uint(val, a); cq_set = 1; }
		else if (!strcmp(a, "--setup-flags")) { NEED(); opt.flags = parse_flags(argv[i]); }
		else if (!strcmp(a, "--mem-region")) { NEED(); opt.mem_size = parse_uint(val, a); }
		else if (!strcmp(a, "--set")) { NEED(); add_assign('s', argv[i], a); }
		else if (!strcmp(a, "--open")) { NEED(); add_assign('o', argv[i], a); }
		else if (!strcmp(a, "--buffer")) { NEED(); add_assign('b', argv[i], a); }
		else if (!strcmp(a, "--mem")) { NEED(); add_assign('m', argv[i], a); }
		else if (!strcmp(a, "--map")) { NEED(); add_assign('p', argv[i], a); }
		else if (!strcmp(a, "--pin-maps")) { NEED(); opt.pin_maps = val; }
		else if (!strcmp(a, "--mem-file")) { NEED(); opt.mem_file = val; }
		else if (!strcmp(a, "--prog")) { NEED(); opt.prog_name = val; }
		else if (!strcmp(a, "--log-level")) { NEED(); opt.log_level = parse_uint(val, a); }
		else if (!strcmp(a, "--no-run")) opt.no_run = 1;
		else if (!strcmp(a, "--no-load")) opt.no_load = opt.no_run = 1;
		else if (!strcmp(a, "--verbose")) opt.verbose = 1;
		else if (!strcmp(a, "--trace")) opt.trace = 1;
		else if (!strcmp(a, "--explain-log")) { NEED(); explain_log(val); }
		else if (a[0] == '-' && a[1]) usage_error("unknown option %s", a);
		else if (opt.path) usage_error("more than one object file given (%s)", a);
		else opt.path = a;
#undef NEED
	}
	if (!opt.path) usage_error("%s", "no object file given");
	if (!opt.sq_entries) usage_error("%s", "--sq-entries must be > 0");
	if (!cq_set) opt.cq_entries = 2 * opt.sq_entries;
	else opt.flags |= IORING_SETUP_CQSIZE;
}

/* ---------- step 1: open ---------- */

static void check_object(void)
{
	Elf64_Ehdr h;
	struct stat st;
	int fd = open(opt.path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st))
		fail(EXIT_OPEN, "open", NULL, "%s: cannot open: %s", opt.path, strerror(errno));
	ssize_t n = read(fd, &h, sizeof(h));
	close(fd);
	const char *why = NULL;
	if (n < 0) why = strerror(errno);
	else if (n < SELFMAG || memcmp(h.e_ident, ELFMAG, SELFMAG)) why = "no ELF header";
	else if (n < (ssize_t)sizeof(h)) why = "truncated ELF header";
	else if (h.e_ident[EI_CLASS] != ELFCLASS64) why = "not a 64-bit ELF";
	else if (h.e_machine != EM_BPF) why = "ELF machine is not BPF";
	else if (h.e_type != ET_REL) why = "not a relocatable object";
	else if (h.e_shoff + (unsigned long long)h.e_shnum * h.e_shentsize > (unsigned long long)st.st_size)
		why = "truncated: section headers past the end of the file";
	if (why) fail(EXIT_OPEN, "open", NULL, "%s: not a BPF object file (%s)", opt.path, why);
	/* Every structure libbpf and the loader read, checked before either trusts it (objcheck.c). */
	char msg[512];
#if defined(__SANITIZE_ADDRESS__)
	/* The sanitizer build only: UBPF_LOADER_NO_OBJCHECK=1 skips the check, so tests can show that the
	 * loader's own readers stay in bounds behind it (never in the static loader that runs as root). */
	if (getenv("UBPF_LOADER_NO_OBJCHECK") && !strcmp(getenv("UBPF_LOADER_NO_OBJCHECK"), "1")) return;
#endif
	if (objcheck_file(opt.path, msg, sizeof(msg)))
		fail(EXIT_OPEN, "open", NULL, "%s: malformed BPF object: %s", opt.path, msg);
}

static void open_object(void)
{
	obj = bpf_object__open_file(opt.path, NULL);
	if (!obj) {
		int err = errno;
		char last[300] = "";
		char *p = strrchr(libbpf_msgs, '\n');
		if (p) { /* last libbpf warning, without the prefix and newline */
			*p = 0;
			char *q = strrchr(libbpf_msgs, '\n');
			snprintf(last, sizeof(last), "%s", q ? q + 1 : libbpf_msgs);
			*p = '\n';
		}
		char errstr[128];
		const char *why = strncmp(last, "libbpf: ", 8) ? last : last + 8;
		libbpf_strerror(err, errstr, sizeof(errstr));
		fail(EXIT_OPEN, "open", NULL, "%s: not a BPF object file (%s)", opt.path, why[0] ? why : errstr);
	}
	struct bpf_map *m;
	struct bpf_program *p;
	bpf_object__for_each_program(p, obj) {
		if (opt.prog_name ? !strcmp(bpf_program__name(p), opt.prog_name)
				  : bpf_program__type(p) == BPF_PROG_TYPE_STRUCT_OPS) { prog = p; break; }
	}
	if (!prog && opt.prog_name) fail(EXIT_OPEN, "open", NULL, "%s: no program named '%s'", opt.path, opt.prog_name);
	if (!prog) fail(EXIT_OPEN, "open", NULL, "%s: no struct_ops program in the object", opt.path);
	bpf_object__for_each_map(m, obj) {
		if (bpf_map__type(m) != BPF_MAP_TYPE_STRUCT_OPS) continue;
		size_t sz;
		void **slot = bpf_map__initial_value(m, &sz);
		/* libbpf 1.4 puts a struct bpf_program pointer at each function member of the value */
		if (!ops_map || (slot && sz >= 8 && *slot == (void *)prog)) ops_map = m;
	}
	if (!ops_map) fail(EXIT_OPEN, "open", NULL, "%s: no struct_ops map (section .struct_ops.link)", opt.path);
}

/* ---------- step 2: ring ---------- */

static int kernel_has_ops(void)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux) return 0;
	int found = btf__find_by_name_kind(vmlinux, "io_uring_bpf_ops", BTF_KIND_STRUCT) >= 0;
	btf__free(vmlinux);
	return found;
}

#define NO_OPS_MSG "kernel lacks io_uring BPF ops (CONFIG_IO_URING_BPF_OPS, Linux 7.1+)"

static __u32 mem_layout_type(void);
static void describe_type(__u32 type, char *buf, size_t n);

static void create_ring(void)
{
	memset(&params, 0, sizeof(params));
	params.flags = opt.flags;
	params.cq_entries = opt.cq_entries;
	int ret = io_uring_queue_init_params(opt.sq_entries, &ring, &params);
	if (ret == -EINVAL && opt.no_load && (opt.flags & IORING_SETUP_SQ_REWIND)) {
		/* --no-load works on any kernel: one without SQ_REWIND (before 7.1) gets the ring without it */
		fprintf(stderr, "uringbpf-loader: --no-load: this kernel refuses IORING_SETUP_SQ_REWIND; the ring is made without it\n");
		opt.flags &= ~IORING_SETUP_SQ_REWIND;
		memset(&params, 0, sizeof(params));
		params.flags = opt.flags;
		params.cq_entries = opt.cq_entries;
		ret = io_uring_queue_init_params(opt.sq_entries, &ring, &params);
	}
	if (ret < 0) {
		if (!kernel_has_ops())
			fail(EXIT_NOKERNEL, "ring", NULL, NO_OPS_MSG " (io_uring_setup flags 0x%x: %s)",
			     opt.flags, strerror(-ret));
		fail(EXIT_SETUP, "ring", NULL, "io_uring_setup(%u entries, flags 0x%x): %s",
		     opt.sq_entries, opt.flags, strerror(-ret));
	}
	__u32 layout = mem_layout_type();
	long long need = layout ? btf__resolve_size(bpf_object__btf(obj), layout) : 0;
	if (!opt.mem_size && need > 0 && (unsigned long long)need > MEM_LAYOUT_MAX) {
		char name[160];
		describe_type(layout, name, sizeof(name));
		fail(EXIT_SETUP, "ring", NULL, "the program's MEM layout (%s) is %lld bytes, more than the %llu MiB the loader maps "
		     "by itself; give --mem-region SIZE to map it anyway", name, need, MEM_LAYOUT_MAX >> 20);
	}
	if (!opt.mem_size && need > 0) opt.mem_size = need;
	if (!opt.mem_size) return;
	long page = sysconf(_SC_PAGESIZE);
	opt.mem_size = (opt.mem_size + page - 1) / page * page;
	if (need > 0 && opt.mem_size < (unsigned long long)need) {
		char name[160];
		describe_type(layout, name, sizeof(name));
		fail(EXIT_SETUP, "ring", NULL, "--mem-region %llu is smaller than the program's MEM layout (%s, %lld bytes)",
		     opt.mem_size, name, need);
	}
	if (opt.mem_file) {
		/* A shared file mapping (tmpfs or /dev/shm): other processes map the same file and see the region. */
		int fd = open(opt.mem_file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) != 0) fail(EXIT_SETUP, "ring", NULL, "--mem-file %s: %s", opt.mem_file, strerror(errno));
		if ((unsigned long long)st.st_size < opt.mem_size && ftruncate(fd, (off_t)opt.mem_size) != 0)
			fail(EXIT_SETUP, "ring", NULL, "--mem-file %s: cannot extend to %llu bytes: %s", opt.mem_file, opt.mem_size, strerror(errno));
		mem_region = mmap(NULL, opt.mem_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
		close(fd);
	} else {
		mem_region = mmap(NULL, opt.mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	}
	if (mem_region == MAP_FAILED) fail(EXIT_SETUP, "ring", NULL, "mmap MEM region: %s", strerror(errno));
	struct io_uring_region_desc rd = { .user_addr = (uintptr_t)mem_region, .size = opt.mem_size,
					   .flags = IORING_MEM_REGION_TYPE_USER };
	struct io_uring_mem_region_reg reg = { .region_uptr = (uintptr_t)&rd };
	ret = io_uring_register_region(&ring, &reg);
	if (ret < 0) fail(EXIT_SETUP, "ring", NULL, "IORING_REGISTER_MEM_REGION (%llu bytes): %s", opt.mem_size, strerror(-ret));
}

/* ---------- step 3: globals ---------- */

struct gvar { struct bpf_map *map; const char *name, *sec; __u32 off, size, type; };

/* Call fn for every VAR in the DATASEC of each .rodata/.data/.bss internal map. Stops when fn returns 1. */
static int for_each_global(int (*fn)(struct gvar *, void *), void *ctx)
{
	struct btf *btf = bpf_object__btf(obj);
	struct bpf_map *m;
	if (!btf) return 0;
	bpf_object__for_each_map(m, obj) {
		if (!bpf_map__is_internal(m) || !bpf_map__btf_value_type_id(m)) continue;
		const struct btf_type *ds = btf__type_by_id(btf, bpf_map__btf_value_type_id(m));
		if (!ds || !btf_is_datasec(ds)) continue;
		const char *sec = btf__name_by_offset(btf, ds->name_off);
		if (strncmp(sec, ".rodata", 7) && strncmp(sec, ".data", 5) && strncmp(sec, ".bss", 4)) continue;
		const struct btf_var_secinfo *vi = btf_var_secinfos(ds);
		for (int i = 0; i < btf_vlen(ds); i++, vi++) {
			const struct btf_type *var = btf__type_by_id(btf, vi->type);
			if (!var || !btf_is_var(var)) continue;
			struct gvar g = { m, btf__name_by_offset(btf, var->name_off), sec, vi->offset, vi->size, var->type };
			if (fn(&g, ctx)) return 1;
		}
	}
	return 0;
}

struct find_ctx { const char *name; struct gvar found; char list[1024]; };

static int find_cb(struct gvar *g, void *p)
{
	struct find_ctx *c = p;
	if (!strcmp(g->name, c->name)) { c->found = *g; return 1; }
	if (strncmp(g->name, "uringbpf_", 9) && strlen(c->list) + strlen(g->name) + 3 < sizeof(c->list))
		snprintf(c->list + strlen(c->list), sizeof(c->list) - strlen(c->list), "%s%s", c->list[0] ? ", " : "", g->name);
	return 0;
}

/* Integer kind of a BTF type: size in bytes, signedness; 0 if not an int/enum/pointer. */
static int int_kind(__u32 type, int *is_signed, int *is_bool)
{
	struct btf *btf = bpf_object__btf(obj);
	int id = btf__resolve_type(btf, type);
	const struct btf_type *t = id < 0 ? NULL : btf__type_by_id(btf, id);
	*is_signed = *is_bool = 0;
	if (!t) return 0;
	/* only the widths a 64-bit value holds: a BTF type's size is input, never a copy length by itself */
	int width_ok = t->size == 1 || t->size == 2 || t->size == 4 || t->size == 8;
	if (btf_is_int(t)) {
		if (!width_ok) return 0;
		*is_signed = !!(btf_int_encoding(t) & BTF_INT_SIGNED);
		*is_bool = !!(btf_int_encoding(t) & BTF_INT_BOOL);
		return t->size;
	}
	if (btf_is_any_enum(t)) { if (!width_ok) return 0; *is_signed = btf_kflag(t); return t->size; }
	if (btf_is_ptr(t)) return 8;
	return 0;
}

/* Set global NAME to V (a 64-bit pattern). required: error if missing. Returns 1 if set. */
static int set_global(const char *name, long long v, int required)
{
	struct find_ctx c = { .name = name };
	if (!for_each_global(find_cb, &c)) {
		if (!required) return 0;
		fail(EXIT_SETUP, "globals", NULL, "no global named '%s' in the object (globals: %s)", name,
		     c.list[0] ? c.list : "none");
	}
	struct gvar *g = &c.found;
	int sgn, isbool, size = int_kind(g->type, &sgn, &isbool);
	if (!size) size = g->size;
	if (size != 1 && size != 2 && size != 4 && size != 8)
		fail(EXIT_SETUP, "globals", NULL, "global '%s' is %u bytes, not an integer", name, g->size);
	if (size < 8) {
		long long lo = -(1LL << (size * 8 - 1)); /* negative values allowed for unsigned too (two's complement) */
		long long hi = sgn ? (1LL << (size * 8 - 1)) - 1 : (1LL << (size * 8)) - 1;
		if (v < lo || v > hi)
			fail(EXIT_SETUP, "globals", NULL, "value %lld does not fit global '%s' (%d bytes)", v, name, size);
	}
	size_t msz;
	char *data = bpf_map__initial_value(g->map, &msz);
	if (!data || g->off + size > msz)
		fail(EXIT_SETUP, "globals", NULL, "global '%s' in %s cannot be written before load", name, g->sec);
	uint64_t u = (uint64_t)v;
	memcpy(data + g->off, &u, size); /* little-endian: the low bytes */
	return 1;
}

/* ---------- the MEM region through the program's layout ---------- */

/* The struct behind the hidden global uringbpf_mem_layout (a const pointer to it), or 0. */
static __u32 mem_layout_type(void)
{
	struct find_ctx c = { .name = "uringbpf_mem_layout" };
	if (!for_each_global(find_cb, &c)) return 0;
	struct btf *btf = bpf_object__btf(obj);
	if (!btf) return 0;
	int id = btf__resolve_type(btf, c.found.type);
	const struct btf_type *t = id < 0 ? NULL : btf__type_by_id(btf, id);
	if (!t || !btf_is_ptr(t)) return 0;
	id = btf__resolve_type(btf, t->type);
	t = id < 0 ? NULL : btf__type_by_id(btf, id);
	return t && btf_is_struct(t) ? (__u32)id : 0;
}

/* Print the value of BTF type `type` at `p` (`avail` bytes readable there) as JSON: integers, bools,
 * structs as objects, arrays as lists. Anything that does not fit in `avail`, or nests deeper than
 * MAX_TYPE_DEPTH, prints as null. */
static void print_typed(FILE *f, __u32 type, const unsigned char *p, size_t avail, int depth)
{
	struct btf *btf = bpf_object__btf(obj);
	int id = btf__resolve_type(btf, type);
	const struct btf_type *t = id < 0 ? NULL : btf__type_by_id(btf, id);
	int sgn, isbool, size = int_kind(type, &sgn, &isbool);
	if (depth > MAX_TYPE_DEPTH || (size && (size_t)size > avail)) {
		fprintf(f, "null");
	} else if (size) {
		uint64_t u = 0;
		memcpy(&u, p, size);
		if (sgn && size < 8 && (u >> (size * 8 - 1)) & 1) u |= ~0ULL << (size * 8);
		long long s = (long long)u;
		if (isbool) fprintf(f, u ? "true" : "false");
		else if (sgn && s >= -(1LL << 53) && s <= (1LL << 53)) fprintf(f, "%lld", s);
		else if (!sgn && u <= (1ULL << 53)) fprintf(f, "%llu", (unsigned long long)u);
		else fprintf(f, sgn ? "\"%lld\"" : "\"%llu\"", s);
	} else if (t && btf_is_struct(t)) {
		const struct btf_member *m = btf_members(t);
		fputc('{', f);
		for (int i = 0; i < btf_vlen(t); i++, m++) {
			if (i) fputc(',', f);
			json_str(f, btf__name_by_offset(btf, m->name_off));
			fputc(':', f);
			size_t moff = btf_member_bit_offset(t, i) / 8;
			if (moff < avail) print_typed(f, m->type, p + moff, avail - moff, depth + 1);
			else fprintf(f, "null");
		}
		fputc('}', f);
	} else if (t && btf_is_array(t)) {
		const struct btf_array *a = btf_array(t);
		long long esz = btf__resolve_size(btf, a->type);
		fputc('[', f);
		for (__u32 i = 0; i < a->nelems && esz > 0 && (unsigned long long)(i + 1ull) * esz <= avail; i++) {
			if (i) fputc(',', f);
			print_typed(f, a->type, p + i * esz, avail - i * esz, depth + 1);
		}
		fputc(']', f);
	} else {
		fprintf(f, "null");
	}
}

/* Append to a string buffer; stops silently when it is full. */
__attribute__((format(printf, 3, 4)))
static void append(char *buf, size_t n, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;
	if (used + 1 >= n) return;
	va_start(ap, fmt);
	vsnprintf(buf + used, n - used, fmt, ap);
	va_end(ap);
}

/* A short name of a BTF type for messages: u8, i32, bool, struct Header, array of 8 u32. */
static void describe_type_at(__u32 type, char *buf, size_t n, int depth);
static void describe_type(__u32 type, char *buf, size_t n) { describe_type_at(type, buf, n, 0); }
static void describe_type_at(__u32 type, char *buf, size_t n, int depth)
{
	struct btf *btf = bpf_object__btf(obj);
	int id = btf__resolve_type(btf, type);
	const struct btf_type *t = id < 0 ? NULL : btf__type_by_id(btf, id);
	int sgn, isbool, size = int_kind(type, &sgn, &isbool);
	if (depth > MAX_TYPE_DEPTH) snprintf(buf, n, "(nested too deep)");
	else if (isbool) snprintf(buf, n, "bool");
	else if (t && btf_is_ptr(t)) snprintf(buf, n, "pointer");
	else if (size) snprintf(buf, n, "%c%d", sgn ? 'i' : 'u', size * 8);
	else if (t && btf_is_struct(t)) snprintf(buf, n, "struct %s", btf__name_by_offset(btf, t->name_off));
	else if (t && btf_is_array(t)) {
		char el[128];
		describe_type_at(btf_array(t)->type, el, sizeof(el), depth + 1);
		snprintf(buf, n, "array of %u %s", btf_array(t)->nelems, el);
	} else snprintf(buf, n, "unsupported type");
}

__attribute__((noreturn, format(printf, 2, 3)))
static void mem_fail(const struct assign *a, const char *fmt, ...)
{
	char msg[1536];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fail(EXIT_SETUP, "globals", NULL, "--mem %s=%s: %s", a->name, a->arg, msg);
}

/* How a --mem or --map assignment reports a bad step (mem_fail, map_fail). */
typedef __attribute__((noreturn)) void (*assign_fail_fn)(const struct assign *a, const char *fmt, ...);

/* The field names of struct `t` as "where.f1, where.f2" (where "" gives "f1, f2"). */
static void field_names(const struct btf_type *t, const char *where, char *names, size_t n)
{
	struct btf *btf = bpf_object__btf(obj);
	const struct btf_member *m = btf_members(t);
	names[0] = 0;
	for (int i = 0; i < btf_vlen(t); i++, m++)
		append(names, n, "%s%s%s%s", names[0] ? ", " : "", where, where[0] ? "." : "", btf__name_by_offset(btf, m->name_off));
}

/* Walk a path of '.' NAME / '[' DECIMAL ']' steps from `s` through BTF type *type, adding byte offsets to
 * *off, up to the end or a character of `stop`; the path syntax of runtime/assign.ts walkPath. With
 * first_field the path starts with a field name without its dot (--mem, fields inside {...}). `where`
 * names the place walked so far (`root` before the first step). Returns where the walk stopped. */
static const char *walk_path(const struct assign *a, assign_fail_fn failf, const char *root, const char *s, const char *stop,
			     int first_field, __u32 *type, unsigned long long *off, char *where, size_t wn)
{
	struct btf *btf = bpf_object__btf(obj);
	char desc[256];
	int first = 1;
	while (*s && !strchr(stop, *s)) {
		int id = btf__resolve_type(btf, *type);
		const struct btf_type *t = id < 0 ? NULL : btf__type_by_id(btf, id);
		describe_type(*type, desc, sizeof(desc));
		const char *at = where[0] ? where : root;
		if (*s == '[') {
			if (first && first_field) failf(a, "the path starts with a field name, not an index");
			if (!t || !btf_is_array(t)) failf(a, "%s is not an array (it is %s)", at, desc);
			const struct btf_array *arr = btf_array(t);
			char *end;
			if (!isdigit((unsigned char)s[1])) failf(a, "bad index after %s: expected [0..%u]", at, arr->nelems ? arr->nelems - 1 : 0);
			errno = 0;
			unsigned long long i = strtoull(s + 1, &end, 10);
			if (*end != ']') failf(a, "bad index after %s: expected [0..%u]", at, arr->nelems ? arr->nelems - 1 : 0);
			if (errno || i >= arr->nelems)
				failf(a, "index %.*s out of range: %s has %u elements (0..%u)", (int)(end - s - 1), s + 1, at,
				      arr->nelems, arr->nelems ? arr->nelems - 1 : 0);
			long long esz = btf__resolve_size(btf, arr->type);
			if (esz <= 0 || esz > (1LL << 30)) failf(a, "%s has elements of unknown size", at);
			*off += i * esz;
			*type = arr->type;
			append(where, wn, "[%llu]", i);
			s = end + 1;
			first = 0;
			continue;
		}
		if (!(first && first_field)) {
			if (*s != '.') failf(a, "expected '.field' or '[index]' after %s, found '%s'", at, s);
			s++;
		}
		size_t n = strcspn(s, ".[");
		const char *sp = s;
		while (sp < s + n && !strchr(stop, *sp)) sp++;
		n = sp - s;
		if (!t || !btf_is_struct(t)) failf(a, "%s is not a struct (it is %s), so it has no field '%.*s'", at, desc, (int)n, s);
		if (!n) failf(a, "empty field name after %s", at);
		const struct btf_member *m = btf_members(t);
		int found = -1;
		for (int i = 0; i < btf_vlen(t); i++, m++) {
			const char *mn = btf__name_by_offset(btf, m->name_off);
			if (strlen(mn) == n && !strncmp(mn, s, n)) { found = i; break; }
		}
		if (found < 0) {
			char names[1024];
			field_names(t, where, names, sizeof(names));
			failf(a, "%s (%s) has no field '%.*s'; valid fields: %s", at, desc, (int)n, s, names);
		}
		if (btf_member_bitfield_size(t, found)) failf(a, "bit fields are not supported");
		*off += btf_member_bit_offset(t, found) / 8;
		*type = btf_members(t)[found].type;
		append(where, wn, "%s%.*s", where[0] ? "." : "", (int)n, s);
		s += n;
		first = 0;
	}
	return s;
}

/* Range-check value (v, neg) for the integer place `where` of BTF type `type` and store its low bytes at
 * dst (at most `room` bytes there); returns the place's size. Not an integer: failf with what it is. */
static int store_checked(const struct assign *a, assign_fail_fn failf, const char *where, __u32 type, long long v, int neg,
			 unsigned char *dst, unsigned long long room)
{
	struct btf *btf = bpf_object__btf(obj);
	int sgn, isbool, size = int_kind(type, &sgn, &isbool);
	int id = btf__resolve_type(btf, type);
	const struct btf_type *t = id < 0 ? NULL : btf__type_by_id(btf, id);
	char desc[256];
	describe_type(type, desc, sizeof(desc));
	if (t && btf_is_struct(t)) {
		char names[1024];
		field_names(t, where, names, sizeof(names));
		failf(a, "%s is a %s: set one of its fields (%s)", where, desc, names);
	}
	if (t && btf_is_array(t)) {
		__u32 ne = btf_array(t)->nelems;
		failf(a, "%s is an %s: set one element, %s[0] .. %s[%u]", where, desc, where, where, ne ? ne - 1 : 0);
	}
	if (!size || (t && btf_is_ptr(t))) failf(a, "%s is %s, not an integer", where, desc);
	int bad;
	char range[96];
	unsigned long long u = (unsigned long long)v;
	if (isbool) {
		bad = neg || u > 1;
		snprintf(range, sizeof(range), "0..1 or true/false");
	} else if (!sgn) {
		unsigned long long max = size == 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
		bad = neg || u > max;
		snprintf(range, sizeof(range), "0..%llu", max);
	} else {
		long long max = size == 8 ? LLONG_MAX : (1LL << (size * 8 - 1)) - 1, min = -max - 1;
		bad = neg ? v < min : u > (unsigned long long)max;
		snprintf(range, sizeof(range), "%lld..%lld", min, max);
	}
	if (bad) failf(a, "value out of range for %s (%s: %s)", where, desc, range);
	if ((unsigned long long)size > room) failf(a, "%s lies outside the %s", where, a->kind == 'm' ? "region" : "entry");
	memcpy(dst, &u, size); /* little-endian: the low bytes */
	return size;
}

/* --mem PATH=VALUE: walk PATH (field names, [index]) through the layout and store VALUE.
 * Grammar: NAME ( '.' NAME | '[' DECIMAL ']' )*, starting at the layout struct. */
static void set_mem_field(const struct assign *a)
{
	__u32 type = mem_layout_type();
	char where[512] = "";
	if (!type) mem_fail(a, "the program has no MEM-region layout (it does not use ring.mem<T>())");
	if (!mem_region) mem_fail(a, "no MEM region registered");
	unsigned long long off = 0;
	walk_path(a, mem_fail, "the MEM layout", a->name, "", 1, &type, &off, where, sizeof(where));
	if (off >= opt.mem_size) mem_fail(a, "%s lies outside the %llu-byte region", where, opt.mem_size);
	store_checked(a, mem_fail, where, type, a->value, a->neg, (unsigned char *)mem_region + off, opt.mem_size - off);
}

/* The ring-geometry globals (geometry.h, generated from compiler/contract/geometry.ts): set when present. */
static void set_geometry(const char *name, unsigned long long v, int size, void *arg)
{
	(void)size; (void)arg;
	set_global(name, (long long)v, 0);
}

static const char *ops_type_name(void)
{
	struct btf *btf = bpf_object__btf(obj);
	const struct btf_type *t = btf ? btf__type_by_id(btf, bpf_map__btf_value_type_id(ops_map)) : NULL;
	return t ? btf__name_by_offset(btf, t->name_off) : "";
}

static void configure(void)
{
	size_t sz;
	char *val = bpf_map__initial_value(ops_map, &sz);
	int ring_off = -1;
	struct btf *btf = bpf_object__btf(obj);
	const struct btf_type *t = btf ? btf__type_by_id(btf, bpf_map__btf_value_type_id(ops_map)) : NULL;
	if (t && btf_is_struct(t)) {
		const struct btf_member *m = btf_members(t);
		for (int i = 0; i < btf_vlen(t); i++, m++)
			if (!strcmp(btf__name_by_offset(btf, m->name_off), "ring_fd")) ring_off = btf_member_bit_offset(t, i) / 8;
	}
	if (ring_off < 0 && !strcmp(ops_type_name(), "io_uring_bpf_ops")) ring_off = 8;
	if (ring_off >= 0) {
		if (!val || sz < (size_t)ring_off + 4) fail(EXIT_SETUP, "globals", NULL, "struct_ops map value too small for ring_fd");
		__u32 fd = ring.ring_fd;
		memcpy(val + ring_off, &fd, 4);
	} else if (opt.verbose) {
		fprintf(stderr, "uringbpf-loader: struct_ops type '%s' has no ring_fd member\n", ops_type_name());
	}

	unsigned cqe = params.flags & IORING_SETUP_CQE32 ? 32 : 16, sqe = params.flags & IORING_SETUP_SQE128 ? 128 : 64;
	struct uringbpf_geometry_inputs geo = {
		.sq_entries = params.sq_entries, .cq_entries = params.cq_entries, .cq_off_head = params.cq_off.head,
		.cq_off_tail = params.cq_off.tail, .cq_off_cqes = params.cq_off.cqes, .sqe_size = sqe, .cqe_size = cqe,
		.mem_size = opt.mem_size, .mem_uaddr = (uintptr_t)mem_region,
	};
	uringbpf_geometry(&geo, set_geometry, NULL);
	for (int i = 0; i < opt.nassign; i++) {
		if (opt.assigns[i].kind == 'm') set_mem_field(&opt.assigns[i]);
		else if (opt.assigns[i].kind != 'p') set_global(opt.assigns[i].name, opt.assigns[i].value, 1);
	}
}

/* --open and --buffer resources are made once (the object may be reopened for a bigger log). */
static void prepare_resources(void)
{
	long page = sysconf(_SC_PAGESIZE);
	for (int i = 0; i < opt.nassign; i++) {
		struct assign *a = &opt.assigns[i];
		if (a->kind == 'o') {
			char *colon = strrchr(a->arg, ':');
			int fl = O_RDONLY;
			if (colon && strchr(colon, '/') == NULL) {
				const char *m = colon + 1;
				if (!strcmp(m, "r")) fl = O_RDONLY;
				else if (!strcmp(m, "w")) fl = O_WRONLY | O_CREAT | O_TRUNC;
				else if (!strcmp(m, "rw")) fl = O_RDWR | O_CREAT;
				else if (!strcmp(m, "a")) fl = O_WRONLY | O_CREAT | O_APPEND;
				else usage_error("bad --open mode '%s' (r, w, rw, a)", m);
				*colon = 0;
			}
			int fd = open(a->arg, fl | O_CLOEXEC, 0644);
			if (fd < 0) fail(EXIT_SETUP, "globals", NULL, "--open %s: %s: %s", a->name, a->arg, strerror(errno));
			a->value = fd;
		} else if (a->kind == 'b') {
			unsigned long long size = parse_uint(a->arg, "--buffer");
			size_t len = size ? (size + page - 1) / page * page : (size_t)page;
			void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
			if (p == MAP_FAILED) fail(EXIT_SETUP, "globals", NULL, "--buffer %s: %s", a->name, strerror(errno));
			a->value = (long long)(uintptr_t)p;
		}
	}
}

/* ---------- step 4: load ---------- */

static unsigned long long log_number(const char *key)
{
	const char *p = vlog ? strstr(vlog, key) : NULL;
	return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

/* ---------- a rejection inside a loop names the loop (issue 9) ---------- */

static void copy_trimmed(char *dst, size_t n, const char *src);
/* The source line of instruction `idx` of the program: the line_info record of the program's section with
 * the largest instruction offset <= idx * 8 (layout as in find_trap_source below). */
static int line_of_insn(struct bpf_program *prog, size_t idx, char *where, size_t n)
{
	struct btf_ext *ext = NULL;
	struct btf *btf = btf__parse_elf(opt.path, &ext);
	__u32 size = 0, h[8], rec;
	const unsigned char *d = ext ? btf_ext__raw_data(ext, &size) : NULL;
	const char *sec_name = bpf_program__section_name(prog);
	long best = -1;
	__u32 best_rec[4] = { 0 };
	if (!btf || !d || size < 24 || !sec_name) goto out;
	memcpy(h, d, 24);
	if ((h[0] & 0xffff) != 0xeB9F || h[1] < 24 || h[1] > size) goto out;
	unsigned long long lo = (unsigned long long)h[1] + h[4], hi = lo + h[5];
	if (h[5] < 4 || hi > size) goto out;
	memcpy(&rec, d + lo, 4);
	if (rec < 16) goto out;
	for (unsigned long long p = lo + 4; p + 8 <= hi;) {
		__u32 sec[2];
		memcpy(sec, d + p, 8);
		p += 8;
		const char *name = btf__name_by_offset(btf, sec[0]);
		int mine = name && !strcmp(name, sec_name);
		for (__u32 i = 0; i < sec[1] && p + rec <= hi; i++, p += rec) {
			__u32 li[4];
			memcpy(li, d + p, 16);
			if (mine && li[0] <= idx * 8 && (long)li[0] > best) { best = li[0]; memcpy(best_rec, li, 16); }
		}
	}
	if (best >= 0) {
		const char *file = btf__name_by_offset(btf, best_rec[1]), *src = btf__name_by_offset(btf, best_rec[2]);
		char text[1024];
		copy_trimmed(text, sizeof(text), src ? src : "");
		snprintf(where, n, "%s:%u: %s", file ? file : "?", best_rec[3] >> 10, text);
	}
out:
	btf_ext__free(ext);
	btf__free(btf);
	return best >= 0;
}

/* The innermost loop around instruction `at`: the shortest backward jump from S to T with T <= at <= S.
 * uringbpf stamps a loop's back edge with the loop's header line, so its line names the loop.
 * main_insns: the program's own instructions (before libbpf appended subprograms at load). */
static int loop_of_insn(struct bpf_program *prog, size_t main_insns, long at, char *where, size_t n)
{
	const struct bpf_insn *in = bpf_program__insns(prog);
	size_t cnt = bpf_program__insn_cnt(prog);
	long best = -1, span = LONG_MAX;
	/* Only the program's own section: subprograms appended at load have other line_info. */
	if (cnt > main_insns) cnt = main_insns;
	if (!in || at < 0 || (size_t)at >= cnt) return 0;
	for (size_t s = 0; s < cnt; s++) {
		__u8 cls = in[s].code & 7, op = in[s].code & 0xf0;
		if (in[s].code == (BPF_LD | BPF_IMM | BPF_DW)) { s++; continue; }
		if ((cls != BPF_JMP && cls != BPF_JMP32) || op == BPF_CALL || op == BPF_EXIT || in[s].off >= 0) continue;
		long t = (long)s + 1 + in[s].off;
		if (t <= at && at <= (long)s && (long)s - t < span) { span = (long)s - t; best = (long)s; }
	}
	return best >= 0 && line_of_insn(prog, (size_t)best, where, n);
}

/* The symbolic name of the errno values a load returns (the kernel's reason class). */
static const char *errno_name(int e)
{
	switch (e) {
	case E2BIG: return "E2BIG";
	case EACCES: return "EACCES";
	case EINVAL: return "EINVAL";
	case EPERM: return "EPERM";
	case EFAULT: return "EFAULT";
	case ENOMEM: return "ENOMEM";
	case ENOSPC: return "ENOSPC";
	case EBUSY: return "EBUSY";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case 524: return "ENOTSUPP";
	default: return "errno";
	}
}

/* A verifier rejection of program p, whose log is plog: the log's last lines, the TypeScript line the
 * log points at and the verifier's error line. */
__attribute__((noreturn))
static void report_rejection(int err, struct plog *pg)
{
	struct bpf_program *p = pg->p;
	char *plog = pg->buf;
	char *lines[4096];
	int n = 0;
	char *src = NULL, errline[1024];
	unsigned long long processed = 0;
	const char *pl = strstr(plog, "processed ");
	if (pl) processed = strtoull(pl + 10, NULL, 10);
	verifier_error_line(plog, errline, sizeof(errline));
	for (char *s = strtok(plog, "\n"); s; s = strtok(NULL, "\n")) {
		if (n == 4096) { memmove(lines, lines + 2048, 2048 * sizeof(*lines)); n = 2048; }
		lines[n++] = s;
		if (!strncmp(s, "; ", 2) && strstr(s, " @ ")) src = s;
	}
	fprintf(stderr, "uringbpf-loader: verifier log of '%s' (last %d lines):\n", bpf_program__name(p), n < 40 ? n : 40);
	for (int i = n < 40 ? 0 : n - 40; i < n; i++) fprintf(stderr, "  %s\n", lines[i]);
	char extra[4096] = "", where[1024] = "", why[1300], stopped[1024] = "", loop[1024] = "";
	if (src) {
		char *at = strstr(src, " @ ");
		while (strstr(at + 3, " @ ")) at = strstr(at + 3, " @ ");
		*at = 0;
		snprintf(where, sizeof(where), "%s: %s", at + 3, src + 2);
	}
	/* The last instruction the verifier printed ("N: (op) ..."): inside a loop, name the loop. */
	long last = -1;
	for (int i = n - 1; i >= 0 && last < 0; i--) {
		char *e;
		long v = strtol(lines[i], &e, 10);
		if (e != lines[i] && !strncmp(e, ": (", 3)) last = v;
	}
	if (loop_of_insn(p, pg->insns, last, loop, sizeof(loop))) {
		snprintf(stopped, sizeof(stopped), "%s", where);
		snprintf(where, sizeof(where), "%s", loop);
		src = where;
	}
	if (src) fprintf(stderr, "rejected at %s%s%s%s\n", where, stopped[0] ? " (in this loop, at " : "", stopped, stopped[0] ? ")" : "");
	if (errline[0]) fprintf(stderr, "verifier: %s\n", errline);
	snprintf(why, sizeof(why), "%s", errline[0] ? errline : strerror(-err));
	FILE *f = fmemopen(extra, sizeof(extra) - 1, "w");
	fprintf(f, ",\"errno\":%d,\"load_stage\":\"verifier\",\"prog\":", -err);
	json_str(f, bpf_program__name(p));
	fprintf(f, ",\"section\":");
	json_str(f, bpf_program__section_name(p));
	fprintf(f, ",\"verifier\":{\"rejected_at\":");
	json_str(f, src ? where : NULL);
	if (stopped[0]) { fprintf(f, ",\"stopped_at\":"); json_str(f, stopped); }
	fprintf(f, ",\"error_line\":");
	json_str(f, errline[0] ? errline : NULL);
	fprintf(f, ",\"insns_processed\":%llu}", processed);
	fclose(f);
	libbpf_msgs[0] = 0;
	fail(EXIT_VERIFIER, "load", extra, "verifier rejected %s: %s (program '%s', section %s, %llu instructions processed; %s %d: %s)",
	     bpf_program__name(p), why, bpf_program__name(p), bpf_program__section_name(p), processed, errno_name(-err), -err,
	     strerror(-err));
}

/* The kernel refused the object's BTF (names, types): the BTF verifier's own line names the type. */
__attribute__((noreturn))
static void report_btf_rejection(int err)
{
	char line[1024], extra[2048] = "", msg[1500];
	btf_error_line(diag.btf_log, line, sizeof(line));
	if (diag.btf_log) {
		/* the last lines of the BTF log: the header summary and the types before the bad one */
		const char *s = diag.btf_log + strlen(diag.btf_log);
		for (int k = 0; k < 12 && s > diag.btf_log; ) { s--; if (*s == '\n' && s[1]) k++; }
		fprintf(stderr, "uringbpf-loader: BTF load log (last lines):\n%s%s\n", s == diag.btf_log ? "" : "  ...", s);
	}
	if (line[0])
		snprintf(msg, sizeof(msg), "the kernel rejected the object's BTF (type information): %s%s", line,
			 strstr(line, "Invalid name") ? " (the kernel accepts only C identifiers as BTF names: ASCII letters, "
							"digits and _, not starting with a digit)" : "");
	else
		snprintf(msg, sizeof(msg), "the kernel rejected the object's BTF (type information): %s (%s; no BTF log)",
			 strerror(-err), diag.stage_msg[0] ? diag.stage_msg : "libbpf gave no reason");
	FILE *f = fmemopen(extra, sizeof(extra) - 1, "w");
	fprintf(f, ",\"errno\":%d,\"load_stage\":\"btf\",\"btf\":{\"error_line\":", -err);
	json_str(f, line[0] ? line : NULL);
	fprintf(f, "}");
	fclose(f);
	libbpf_msgs[0] = 0;
	fail(EXIT_VERIFIER, "load", extra, "%s", msg);
}

/* The program that failed: the one libbpf named, else the first one without an fd that has a log. */
static struct plog *failed_program(void)
{
	for (int i = 0; i < nplogs && diag.prog[0]; i++)
		if (!strcmp(bpf_program__name(plogs[i].p), diag.prog)) return &plogs[i];
	if (diag.stage != STAGE_NONE && diag.stage != STAGE_PROGRAM) return NULL;
	for (int i = 0; i < nplogs; i++)
		if (bpf_program__autoload(plogs[i].p) && bpf_program__fd(plogs[i].p) < 0 && plogs[i].buf[0]) return &plogs[i];
	return NULL;
}

__attribute__((noreturn))
static void report_load_failure(int err)
{
	if (diag.stage == STAGE_BTF || (diag.stage == STAGE_NONE && diag.btf_log)) report_btf_rejection(err);
	struct plog *fp = failed_program();
	if (fp && fp->buf[0]) report_rejection(err, fp);
	char extra[1024] = "";
	FILE *f = fmemopen(extra, sizeof(extra) - 1, "w");
	fprintf(f, ",\"errno\":%d,\"load_stage\":", -err);
	json_str(f, fp ? "program" : diag.stage == STAGE_NONE ? "unknown" : stage_name(diag.stage));
	if (fp) { fprintf(f, ",\"prog\":"); json_str(f, bpf_program__name(fp->p)); }
	fclose(f);
	if (fp) {
		/* refused before the verifier produced a line: say what the kernel checks at that point */
		struct bpf_program *p = fp->p;
		size_t insns = bpf_program__insn_cnt(p);
		char hint[256] = "";
		if (err == -E2BIG)
			snprintf(hint, sizeof(hint), insns > 1000000 ? "; the kernel allows at most 1000000 instructions"
								       : "; the kernel found the program or one of its limits too big");
		else if (err == -EPERM || err == -EACCES)
			snprintf(hint, sizeof(hint), "; loading struct_ops programs needs root (CAP_BPF and CAP_SYS_ADMIN)");
		fail(EXIT_VERIFIER, "load", extra, "the kernel refused program '%s' (section %s, %zu instructions) before verification: %s %d: %s%s",
		     bpf_program__name(p), bpf_program__section_name(p), insns, errno_name(-err), -err, strerror(-err), hint);
	}
	if (diag.stage != STAGE_NONE)
		fail(EXIT_VERIFIER, "load", extra, "load failed at %s: %s", stage_name(diag.stage), diag.stage_msg);
	fail(EXIT_VERIFIER, "load", extra, "load failed: %s (libbpf gave no reason; --verbose shows its log)", strerror(-err));
}

static void free_logs(void)
{
	for (int i = 0; i < nplogs; i++) free(plogs[i].buf);
	free(plogs);
	plogs = NULL;
	nplogs = 0;
	vlog = NULL;
}

/* The program whose log overflowed on the previous attempt: only its log grows (one big buffer, not one
 * per program). Empty: every program gets the full size. */
static char grow_prog[128];

/* Returns 0 on success, -ENOSPC when a log buffer was too small (caller retries). */
static int load_object(size_t log_size)
{
	struct bpf_program *p;
	int n = 0;
	free_logs();
	bpf_object__for_each_program(p, obj) n++;
	plogs = calloc(n ? n : 1, sizeof(*plogs));
	if (!plogs) fail(EXIT_SETUP, "load", NULL, "out of memory");
	bpf_object__for_each_program(p, obj) {
		size_t size = grow_prog[0] && strcmp(bpf_program__name(p), grow_prog) ? LOG_START : log_size;
		char *buf = calloc(1, size);
		if (!buf) fail(EXIT_SETUP, "load", NULL, "cannot allocate %zu bytes of verifier log", size);
		plogs[nplogs].p = p;
		plogs[nplogs].insns = bpf_program__insn_cnt(p); /* before libbpf appends subprograms */
		plogs[nplogs++].buf = buf;
		bpf_program__set_log_buf(p, buf, size);
		bpf_program__set_log_level(p, opt.log_level);
		if (p == prog) vlog = buf;
	}
	free(diag.btf_log);
	memset(&diag, 0, sizeof(diag));
	int err = bpf_object__load(obj);
	if (!err) return 0;
	if (err == -ENOSPC && log_size < LOG_MAX) {
		snprintf(grow_prog, sizeof(grow_prog), "%s", diag.prog);
		return -ENOSPC;
	}
	if (err == -ESRCH || (!strcmp(ops_type_name(), "io_uring_bpf_ops") && !kernel_has_ops()))
		fail(EXIT_NOKERNEL, "load", NULL, NO_OPS_MSG);
	report_load_failure(err);
}

#include "maps.h"

/* ---------- steps 5-7: attach, run, report ---------- */

struct print_ctx { int first; };

static int print_cb(struct gvar *g, void *p)
{
	struct print_ctx *c = p;
	size_t vsz = bpf_map__value_size(g->map), isz;
	unsigned char *buf = malloc(vsz);
	const void *init = opt.no_load ? bpf_map__initial_value(g->map, &isz) : NULL;
	int key = 0;
	if (!buf || g->off + g->size > vsz) { free(buf); return 0; }
	if (opt.no_load ? !init || isz < vsz : bpf_map_lookup_elem(bpf_map__fd(g->map), &key, buf) != 0) { free(buf); return 0; }
	if (opt.no_load) memcpy(buf, init, vsz);
	printf("%s", c->first ? "" : ",");
	c->first = 0;
	json_str(stdout, g->name);
	putchar(':');
	int sgn, isbool, size = int_kind(g->type, &sgn, &isbool);
	if (size && size <= 8 && (unsigned)size == g->size) {
		uint64_t u = 0;
		memcpy(&u, buf + g->off, size);
		if (sgn && size < 8 && (u >> (size * 8 - 1)) & 1) u |= ~0ULL << (size * 8);
		long long s = (long long)u;
		if (isbool) printf(u ? "true" : "false");
		else if (sgn && s >= -(1LL << 53) && s <= (1LL << 53)) printf("%lld", s);
		else if (!sgn && u <= (1ULL << 53)) printf("%llu", (unsigned long long)u);
		else if (sgn) printf("\"%lld\"", s);
		else printf("\"%llu\"", (unsigned long long)u);
	} else {
		putchar('"');
		for (__u32 i = 0; i < g->size; i++) printf("%02x", buf[g->off + i]);
		putchar('"');
	}
	free(buf);
	return 0;
}

/* The value of integer global NAME after the run (the initial value with --no-load); 0 if absent. */
static int read_global(const char *name, unsigned long long *out)
{
	struct find_ctx c = { .name = name };
	*out = 0;
	if (!for_each_global(find_cb, &c)) return 0;
	struct gvar *g = &c.found;
	size_t vsz = bpf_map__value_size(g->map), isz;
	int sgn, isbool, size = int_kind(g->type, &sgn, &isbool), key = 0, ok;
	if (!size || size > 8 || g->off + size > vsz) return 0;
	unsigned char *buf = malloc(vsz);
	if (!buf) return 0;
	if (opt.no_load) {
		const void *init = bpf_map__initial_value(g->map, &isz);
		ok = init && isz >= vsz;
		if (ok) memcpy(buf, init, vsz);
	} else {
		ok = bpf_map_lookup_elem(bpf_map__fd(g->map), &key, buf) == 0;
	}
	if (ok) memcpy(out, buf + g->off, size);
	free(buf);
	return ok;
}

/* ---------- traps: uringbpf_trap names a source line; its text comes from BTF.ext line_info ---------- */

struct trap_info { unsigned long long line; int loop; char file[512], source[1024]; int found; };

static void copy_trimmed(char *dst, size_t n, const char *src)
{
	while (*src == ' ' || *src == '\t') src++;
	snprintf(dst, n, "%s", src);
	size_t l = strlen(dst);
	while (l && (dst[l - 1] == ' ' || dst[l - 1] == '\t' || dst[l - 1] == '\n' || dst[l - 1] == '\r')) dst[--l] = 0;
}

/* Find a line_info record (any section) whose line is t->line; fills file and source. The .BTF.ext
 * section is read from the file itself (libbpf keeps its parsed copy private; btf_ext__raw_data gives the
 * bytes): header {u16 magic 0xeB9F, u8 version, u8 flags, u32 hdr_len, u32 func_info_off, u32 func_info_len,
 * u32 line_info_off, u32 line_info_len, ...}; line_info = u32 rec_size, then per section {u32 name_off,
 * u32 count, count records {u32 insn_off, file_name_off, line_off, line_col (line << 10 | col)}}. */
static void find_trap_source(struct trap_info *t)
{
	struct btf_ext *ext = NULL;
	struct btf *btf = btf__parse_elf(opt.path, &ext);
	__u32 size = 0;
	const unsigned char *d = ext ? btf_ext__raw_data(ext, &size) : NULL;
	__u32 h[8];
	if (!btf || !d || size < 24) goto out;
	memcpy(h, d, 24);
	if ((h[0] & 0xffff) != 0xeB9F || h[1] < 24 || h[1] > size) goto out;
	unsigned long long lo = (unsigned long long)h[1] + h[4], hi = lo + h[5];
	if (h[5] < 4 || hi > size) goto out;
	__u32 rec;
	memcpy(&rec, d + lo, 4);
	if (rec < 16) goto out;
	for (unsigned long long p = lo + 4; p + 8 <= hi && !t->found;) {
		__u32 sec[2];
		memcpy(sec, d + p, 8);
		p += 8;
		__u32 i;
		for (i = 0; i < sec[1] && p + rec <= hi; i++, p += rec) {
			__u32 li[4];
			memcpy(li, d + p, 16);
			if ((li[3] >> 10) != t->line) continue;
			const char *file = btf__name_by_offset(btf, li[1]), *src = btf__name_by_offset(btf, li[2]);
			copy_trimmed(t->file, sizeof(t->file), file ? file : "");
			copy_trimmed(t->source, sizeof(t->source), src ? src : "");
			t->found = 1;
			break;
		}
		if (i < sec[1] && !t->found) break; /* truncated */
	}
out:
	btf_ext__free(ext);
	btf__free(btf);
}

/* ---------- --trace: bpf_trace_printk output from tracefs ---------- */

#define TRACEFS "/sys/kernel/tracing"
static char trace_error[512];

/* Mount tracefs if needed, make sure tracing is on, and clear the buffer. Errors only disable --trace. */
static void trace_prepare(void)
{
	if (access(TRACEFS "/trace", F_OK) != 0) {
		if (/* mount(2) without <sys/mount.h>, whose macros clash with linux/fs.h */
		    syscall(__NR_mount, "tracefs", TRACEFS, "tracefs", 0UL, NULL) != 0 && errno != EBUSY) {
			snprintf(trace_error, sizeof(trace_error), "cannot mount tracefs on " TRACEFS ": %s", strerror(errno));
			return;
		}
	}
	int fd = open(TRACEFS "/tracing_on", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) { if (write(fd, "1", 1) < 0) { /* best effort */ } close(fd); }
	fd = open(TRACEFS "/trace", O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0) {
		snprintf(trace_error, sizeof(trace_error), "cannot clear " TRACEFS "/trace: %s", strerror(errno));
		return;
	}
	close(fd);
}

/* Read the trace buffer; returns the bpf_trace_printk messages (pointers into *bufp), count in *n. */
static char **trace_collect(char **bufp, int *n)
{
	*n = 0;
	*bufp = NULL;
	int fd = open(TRACEFS "/trace", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(trace_error, sizeof(trace_error), "cannot read " TRACEFS "/trace: %s", strerror(errno));
		return NULL;
	}
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap + 1);
	for (ssize_t r; buf; len += r) {
		if (len == cap) { char *nb = realloc(buf, 2 * cap + 1); if (!nb) break; buf = nb; cap *= 2; }
		r = read(fd, buf + len, cap - len);
		if (r <= 0) break;
	}
	close(fd);
	if (!buf) return NULL;
	buf[len] = 0;
	*bufp = buf;
	int max = 16;
	char **msgs = malloc(max * sizeof(*msgs));
	static const char marker[] = "bpf_trace_printk: ";
	for (char *line = strtok(buf, "\n"); line && msgs; line = strtok(NULL, "\n")) {
		if (line[0] == '#') continue;
		char *m = strstr(line, marker);
		if (!m) continue;
		if (*n == max) { char **nm = realloc(msgs, 2 * max * sizeof(*msgs)); if (!nm) break; msgs = nm; max *= 2; }
		msgs[(*n)++] = m + sizeof(marker) - 1;
	}
	return msgs;
}

static int loader_main(int argc, char **argv)
{
	parse_args(argc, argv);
	libbpf_set_print(libbpf_print);
	check_object();
	open_object();
	maps_resolve();
	create_ring();
	prepare_resources();
	size_t log_size = LOG_START;
	for (;;) {
		if (opt.no_load) { configure(); break; }
		configure();
		if (load_object(log_size) == 0) break;
		log_size *= 4; /* -ENOSPC: reopen and retry with a bigger log */
		bpf_object__close(obj);
		obj = NULL; prog = NULL; ops_map = NULL;
		open_object();
		maps_resolve(); /* the maps of the reopened object */
	}
	if (!opt.no_load) maps_preset();
	struct bpf_link *link = opt.no_load ? NULL : bpf_map__attach_struct_ops(ops_map);
	if (!link && !opt.no_load) fail(EXIT_ATTACH, "attach", NULL, "attaching struct_ops map %s: %s", bpf_map__name(ops_map), strerror(errno));

	long ret = 0;
	unsigned long long ns = 0;
	if (!opt.no_run) {
		if (opt.trace) trace_prepare();
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		ret = syscall(__NR_io_uring_enter, ring.ring_fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
		if (ret < 0) ret = -errno;
		clock_gettime(CLOCK_MONOTONIC, &b);
		ns = (b.tv_sec - a.tv_sec) * 1000000000ULL + b.tv_nsec - a.tv_nsec;
	}

	/* trace messages (only after a run) */
	char *trace_buf = NULL, **trace_msgs = NULL;
	int ntrace = 0, have_trace = opt.trace && !opt.no_run;
	if (have_trace && !trace_error[0]) trace_msgs = trace_collect(&trace_buf, &ntrace);
	if (have_trace && trace_error[0]) fprintf(stderr, "uringbpf-loader: --trace: %s\n", trace_error);
	for (int i = 0; i < ntrace; i++) fprintf(stderr, "%s\n", trace_msgs[i]);

	/* a failed run-time check: uringbpf_trap holds its source line */
	struct trap_info trap = { 0 };
	char trap_msg[2048] = "";
	if (read_global("uringbpf_trap", &trap.line) && trap.line) {
		/* the trap word (geometry.h): the line, with URINGBPF_TRAP_LOOP_BIT for a loop's spent budget */
		trap.loop = (trap.line & URINGBPF_TRAP_LOOP_BIT) != 0;
		trap.line &= 0xffffffffULL & ~(unsigned long long)URINGBPF_TRAP_LOOP_BIT;
		find_trap_source(&trap);
		const char *why = trap.loop ? "loop budget spent" : "run-time check failed";
		if (trap.found)
			snprintf(trap_msg, sizeof(trap_msg), "program stopped at %s:%llu: %s (%s)",
				 trap.file[0] ? trap.file : opt.path, trap.line, trap.source, why);
		else
			snprintf(trap_msg, sizeof(trap_msg), "program stopped at line %llu (%s; no line_info for it)",
				 trap.line, why);
	}

	int ok = ret >= 0 && !trap.line;
	printf("{\"ok\":%s,", ok ? "true" : "false");
	if (ret < 0) printf("\"stage\":\"run\",\"error\":\"io_uring_enter: %s\",", strerror(-ret));
	else if (trap.line) { printf("\"stage\":\"trap\",\"error\":"); json_str(stdout, trap_msg); putchar(','); }
	printf("\"object\":");
	json_str(stdout, opt.path);
	printf(",\"prog\":");
	json_str(stdout, bpf_program__name(prog));
	printf(",\"ops_map\":");
	json_str(stdout, bpf_map__name(ops_map));
	printf(",\"ret\":%ld,\"run_ns\":%llu,\"ran\":%s,\"loaded\":%s", ret, ns,
	       opt.no_run ? "false" : "true", opt.no_load ? "false" : "true");
	printf(",\"verifier\":{\"insns_processed\":%llu,\"total_states\":%llu,\"peak_states\":%llu}",
	       log_number("processed "), log_number("total_states "), log_number("peak_states "));
	struct print_ctx pc = { 1 };
	printf(",\"globals\":{");
	for_each_global(print_cb, &pc);
	printf("}");
	maps_print(stdout);
	if (opt.no_load) maps_presets_print(stdout);
	__u32 layout = mem_layout_type();
	if (layout && mem_region) {
		printf(",\"mem\":");
		print_typed(stdout, layout, mem_region, opt.mem_size, 0);
	}
	if (trap.line) {
		printf(",\"trap\":{\"line\":%llu,\"kind\":\"%s\",\"source\":", trap.line, trap.loop ? "loop" : "check");
		json_str(stdout, trap.found ? trap.source : NULL);
		printf(",\"file\":");
		json_str(stdout, trap.found ? trap.file : NULL);
		printf("}");
	}
	if (have_trace && trace_error[0]) {
		printf(",\"trace_error\":");
		json_str(stdout, trace_error);
	} else if (have_trace) {
		printf(",\"trace\":[");
		for (int i = 0; i < ntrace; i++) {
			if (i) putchar(',');
			json_str(stdout, trace_msgs[i]);
		}
		printf("]");
	}
	printf(",\"ring\":{\"sq_entries\":%u,\"cq_entries\":%u,\"flags\":%u,\"mem_size\":%llu}}\n",
	       params.sq_entries, params.cq_entries, params.flags, opt.mem_size);
	fflush(stdout);
	if (opt.pin_maps && !opt.no_load) maps_pin(opt.pin_maps);
	if (ret < 0) fprintf(stderr, "uringbpf-loader: io_uring_enter: %s\n", strerror(-ret));
	else if (trap.line) fprintf(stderr, "%s\n", trap_msg);
	free(trace_msgs);
	free(trace_buf);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	io_uring_queue_exit(&ring);
	return ret < 0 ? EXIT_RUN : trap.line ? EXIT_TRAP : 0;
}

/* `--fuzz-batch` (for the fuzz harness, not in --help): a fork server for `OBJ --no-load` runs. Each line
 * of stdin is "OBJ<TAB>ERRFILE"; for each, a child forked from this still untouched process runs exactly
 * what `uringbpf-loader OBJ --no-load` runs, with stdout on /dev/null and stderr in ERRFILE. Printed on
 * stdout: "pid N" when the child starts (the harness watches and may kill it), then "exit CODE" or
 * "signal SIG" when it ends. Saves the exec, the dynamic linking and the sanitizer start-up of every run. */
static int fuzz_batch(const char *argv0)
{
	char line[8192];
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = 0;
		char *tab = strchr(line, '\t');
		if (!tab) { printf("error no tab\n"); continue; }
		*tab = 0;
		pid_t pid = fork();
		if (pid < 0) { printf("error fork: %s\n", strerror(errno)); continue; }
		if (pid == 0) {
			int in = open("/dev/null", O_RDONLY), out = open("/dev/null", O_WRONLY);
			int err = open(tab + 1, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(EXIT_SETUP);
			char *args[] = { (char *)argv0, line, "--no-load", NULL };
			exit(loader_main(3, args));
		}
		printf("pid %d\n", (int)pid);
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
		if (WIFSIGNALED(st)) printf("signal %d\n", WTERMSIG(st));
		else printf("exit %d\n", WEXITSTATUS(st));
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--fuzz-batch")) return fuzz_batch(argv[0]);
	return loader_main(argc, argv);
}
