/*
 * diagnose: reading the kernel's and libbpf's words after a failed load (pure text functions).
 *   - which stage of bpf_object__load failed, from libbpf's warnings (BTF, maps, struct_ops, kfuncs,
 *     relocation, program load);
 *   - the verifier's real error line in a program's log (not the statistics, the instruction trace, the
 *     precision-tracking chatter or the `func 'x' arg0 has btf_id ...` preamble);
 *   - the BTF verifier's error line in a BTF load log (the offending type and name).
 */
#ifndef URINGBPF_DIAGNOSE_H
#define URINGBPF_DIAGNOSE_H
#include <stddef.h>

/* Stages of a load, in the order libbpf runs them. */
enum load_stage { STAGE_NONE = 0, STAGE_KERNEL_BTF, STAGE_KFUNCS, STAGE_STRUCT_OPS, STAGE_RELOCATION, STAGE_BTF,
		  STAGE_MAPS, STAGE_PROGRAM };

struct load_diag {
	enum load_stage stage;
	char stage_msg[512];     /* the libbpf warning that showed the stage (without "libbpf: ") */
	char prog[128];          /* program named in "prog 'X': BPF program load failed" */
	char *btf_log;           /* the BTF load log libbpf printed (malloc'd), or NULL */
};

const char *stage_name(enum load_stage s);
/* Feed one libbpf warning (any level); updates d. */
void diag_libbpf_message(struct load_diag *d, const char *msg);
/* The verifier's error line in `log` (copied into out, "" if none). Does not modify log. */
void verifier_error_line(const char *log, char *out, size_t n);
/* The BTF verifier's error line in `log` (copied into out, "" if none). */
void btf_error_line(const char *log, char *out, size_t n);

#endif
