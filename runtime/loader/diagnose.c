/* diagnose: see diagnose.h. */
#define _GNU_SOURCE
#include "diagnose.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *stage_name(enum load_stage s)
{
	switch (s) {
	case STAGE_KERNEL_BTF: return "kernel BTF";
	case STAGE_KFUNCS: return "kfunc/extern resolution";
	case STAGE_STRUCT_OPS: return "struct_ops setup";
	case STAGE_RELOCATION: return "relocation";
	case STAGE_BTF: return "BTF load";
	case STAGE_MAPS: return "map creation";
	case STAGE_PROGRAM: return "program load";
	default: return "load";
	}
}

/* The text between the first pair of single quotes after `key`, e.g. prog 'NAME': */
static void quoted_after(const char *msg, const char *key, char *out, size_t n)
{
	const char *p = strstr(msg, key);
	if (!p) return;
	p += strlen(key);
	const char *q = strchr(p, '\'');
	if (!q) return;
	snprintf(out, n, "%.*s", (int)(q - p), p);
}

static void set_stage(struct load_diag *d, enum load_stage s, const char *msg)
{
	if (d->stage != STAGE_NONE) return; /* the first failure is the cause; later ones are its echoes */
	d->stage = s;
	snprintf(d->stage_msg, sizeof(d->stage_msg), "%s", msg);
	size_t l = strlen(d->stage_msg);
	while (l && (d->stage_msg[l - 1] == '\n' || d->stage_msg[l - 1] == ' ')) d->stage_msg[--l] = 0;
}

void diag_libbpf_message(struct load_diag *d, const char *msg)
{
	if (!strncmp(msg, "libbpf: ", 8)) msg += 8;
	const char *b = strstr(msg, "-- BEGIN BTF LOAD LOG ---\n");
	if (b) {
		b += strlen("-- BEGIN BTF LOAD LOG ---\n");
		const char *e = strstr(b, "-- END BTF LOAD LOG --");
		size_t n = e ? (size_t)(e - b) : strlen(b);
		free(d->btf_log);
		d->btf_log = strndup(b, n);
		return;
	}
	if (strstr(msg, "BTF loading error") || strstr(msg, "Error loading .BTF into kernel")) set_stage(d, STAGE_BTF, msg);
	else if (strstr(msg, "Error loading vmlinux BTF") || strstr(msg, "failed to find valid kernel BTF"))
		set_stage(d, STAGE_KERNEL_BTF, msg);
	else if (!strncmp(msg, "extern ", 7) || strstr(msg, "failed to find extern") || strstr(msg, "failed to find BTF for extern"))
		set_stage(d, STAGE_KFUNCS, msg);
	else if (!strncmp(msg, "struct_ops ", 11)) set_stage(d, STAGE_STRUCT_OPS, msg);
	else if (!strncmp(msg, "map '", 5) && strstr(msg, "failed")) set_stage(d, STAGE_MAPS, msg);
	else if (!strncmp(msg, "prog '", 6) && strstr(msg, "BPF program load failed")) {
		if (!d->prog[0]) quoted_after(msg, "prog '", d->prog, sizeof(d->prog));
		set_stage(d, STAGE_PROGRAM, msg);
	} else if (!strncmp(msg, "prog '", 6) && (strstr(msg, "relo") || strstr(msg, "failed to relocate"))) {
		if (!d->prog[0]) quoted_after(msg, "prog '", d->prog, sizeof(d->prog));
		set_stage(d, STAGE_RELOCATION, msg);
	} else if (!strncmp(msg, "prog '", 6) && strstr(msg, "failed to load")) {
		if (!d->prog[0]) quoted_after(msg, "prog '", d->prog, sizeof(d->prog));
		set_stage(d, STAGE_PROGRAM, msg);
	}
}

static int starts(const char *s, size_t n, const char *p)
{
	size_t l = strlen(p);
	return n >= l && !memcmp(s, p, l);
}

/* A line of the verifier log that is not an error message: instructions and register states
 * ("12: (b7) r1 = 0", "12: R1=..."), source lines ("; x = 1 @ f.ts:3"), branch headers ("from 3 to 7:"),
 * precision tracking, statistics, and the argument-type preamble of struct_ops/kfunc programs. */
static int is_noise(const char *s, size_t n)
{
	if (!n) return 1;
	if (s[0] == ' ' || s[0] == '\t' || s[0] == ';') return 1;
	if (isdigit((unsigned char)s[0])) {
		size_t i = 0;
		while (i < n && isdigit((unsigned char)s[i])) i++;
		if (i < n && s[i] == ':') return 1;
	}
	static const char *const pre[] = {
		"from ", "processed ", "verification time", "stack depth", "mark_precise", "last_idx ", "parent ",
		"regs=", "frame", "func#", "Func#", "caller:", "callee:", "Live regs", "Validating ", "propagating ",
		"sleepable", "insn_idx", "states_equal", "Global function ", "returning from callee", "to caller at",
		"arg#", "in-iter", NULL,
	};
	for (int i = 0; pre[i]; i++) {
		/* "Global function X() doesn't return scalar" and "arg#0 ..." type errors are real errors */
		if (!strcmp(pre[i], "Global function ") || !strcmp(pre[i], "arg#")) {
			if (starts(s, n, pre[i]) && (memmem(s, n, "is valid", 8) || memmem(s, n, "reference type", 14))) return 1;
			continue;
		}
		if (starts(s, n, pre[i])) return 1;
	}
	/* func 'loop_step' arg0 has btf_id 1234 type STRUCT 'iou_ctx': informational */
	if (starts(s, n, "func '") && memmem(s, n, " has btf_id ", 12)) return 1;
	return 0;
}

/* Lines that read as an error (used to prefer them over other message lines). */
static int looks_like_error(const char *s, size_t n)
{
	static const char *const w[] = {
		"invalid", "Invalid", "too large", "too complex", "not allowed", "unbounded", "out of range", "expected",
		"!read_ok", "misaligned", "unreachable", "infinite loop", "back-edge", "exceeded", "cannot", "Cannot",
		"unknown", "Unreleased", "must ", "doesn't", "isn't", "is not", "math between", "prohibited", "failed",
		"min value", "max value", "not supported", "unsupported", "only ", "denied", "pointer", "R0 ", "uninit",
		"jump out", "bad ", "leaks", "Unrecognized", "unrecognized", "reference", "mismatch", "requires", NULL,
	};
	for (int i = 0; w[i]; i++)
		if (memmem(s, n, w[i], strlen(w[i]))) return 1;
	return 0;
}

void verifier_error_line(const char *log, char *out, size_t n)
{
	const char *best = NULL, *any = NULL;
	size_t best_n = 0, any_n = 0;
	if (n) out[0] = 0;
	if (!log) return;
	for (const char *s = log; *s;) {
		const char *e = strchr(s, '\n');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		/* the statistics line ends the error part of a failed verification */
		if (starts(s, len, "processed ") && memmem(s, len, " insns", 6) && (best || any)) break;
		if (!is_noise(s, len)) {
			if (looks_like_error(s, len)) { best = s; best_n = len; }
			any = s;
			any_n = len;
		}
		s = e ? e + 1 : s + len;
	}
	if (!best) { best = any; best_n = any_n; }
	if (best) snprintf(out, n, "%.*s", (int)best_n, best);
}

void btf_error_line(const char *log, char *out, size_t n)
{
	const char *last = NULL;
	size_t last_n = 0;
	if (n) out[0] = 0;
	if (!log) return;
	for (const char *s = log; *s;) {
		const char *e = strchr(s, '\n');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		if (len) { last = s; last_n = len; }
		s = e ? e + 1 : s + len;
	}
	if (last) snprintf(out, n, "%.*s", (int)last_n, last);
}
