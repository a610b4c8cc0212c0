/*
 * Three glibc 2.38 entry points for a static link with bookworm's glibc 2.36. libbpf.a from a newer
 * Debian suite (scripts/deps-libbpf-new.sh) was compiled against glibc 2.38+ headers, which redirect
 * sscanf, fscanf and strtoull to their C23 variants (__isoc23_*: they also accept 0b binary literals,
 * which libbpf never parses). Forwarding to the C11 functions keeps libbpf's behaviour.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

unsigned long long __isoc23_strtoull(const char *s, char **end, int base);
int __isoc23_sscanf(const char *s, const char *fmt, ...);
int __isoc23_fscanf(FILE *f, const char *fmt, ...);

unsigned long long __isoc23_strtoull(const char *s, char **end, int base)
{
	return strtoull(s, end, base);
}

int __isoc23_sscanf(const char *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsscanf(s, fmt, ap);
	va_end(ap);
	return n;
}

int __isoc23_fscanf(FILE *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vfscanf(f, fmt, ap);
	va_end(ap);
	return n;
}
