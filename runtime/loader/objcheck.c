/*
 * objcheck: validate a BPF ELF object's structure before anything trusts it (see objcheck.h).
 * All reads go through rd32/rd64 on a bounds-checked offset; all sums of file-controlled values are done
 * in 64 bits after checking each term, so nothing wraps.
 */
#define _GNU_SOURCE
#include "objcheck.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/btf.h>

#ifndef EM_BPF
#define EM_BPF 247
#endif

struct obj {
	const unsigned char *d;
	size_t len;
	Elf64_Shdr *sh;          /* copies of the section headers (aligned) */
	unsigned shnum;
	const char *shstr;
	size_t shstr_len;
	unsigned symtab;         /* section index, 0 if none */
	size_t nsyms;
	const unsigned char *syms;
	const char *strtab;
	size_t strtab_len;
	/* BTF */
	const unsigned char *types;
	uint32_t types_len;
	const char *strs;
	uint32_t strs_len;
	uint32_t *toff;          /* toff[id] = offset of type id in types (id 1..ntypes) */
	uint32_t ntypes;
	unsigned char *state;    /* per type: 0 unvisited, 1 in progress, 2 done (containment check) */
	/* name lookups in O(log n), so a file with many sections, symbols or variables stays linear-ish */
	struct named *secs_by_name, *syms_by_name;
	size_t nsecs_by_name, nsyms_by_name;
	char *msg;
	size_t msglen;
};

/* A name with a second key (a symbol's section index; 0 for sections) and the entry's index. */
struct named { const char *name; size_t key, index; };

static int named_key_cmp(const struct named *x, const char *name, size_t key)
{
	int c = strcmp(x->name, name);
	return c ? c : (x->key > key) - (x->key < key);
}

static int named_cmp(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	int c = named_key_cmp(x, y->name, y->key);
	return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* The first entry with (name, key) in a sorted array, or NULL. */
static const struct named *named_find(const struct named *v, size_t n, const char *name, size_t key)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (named_key_cmp(&v[mid], name, key) < 0) lo = mid + 1;
		else hi = mid;
	}
	return lo < n && !named_key_cmp(&v[lo], name, key) ? &v[lo] : NULL;
}

__attribute__((format(printf, 2, 3)))
static int bad(struct obj *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(o->msg, o->msglen, fmt, ap);
	va_end(ap);
	return -1;
}

static uint32_t rd32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint16_t rd16(const unsigned char *p) { uint16_t v; memcpy(&v, p, 2); return v; }

/* [off, off+size) lies inside a buffer of `len` bytes (no wrap). */
static int inside(uint64_t off, uint64_t size, uint64_t len) { return off <= len && size <= len - off; }

/* A printable, bounded copy of a file-controlled name for messages. */
static const char *safe_name(const char *s, size_t avail, char *buf, size_t n)
{
	size_t i = 0;
	for (; i + 1 < n && i < avail && s[i]; i++) buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	buf[i] = 0;
	return buf;
}

/* ---------- ELF ---------- */

static const char *sec_name(struct obj *o, unsigned i)
{
	return i < o->shnum && o->sh[i].sh_name < o->shstr_len ? o->shstr + o->sh[i].sh_name : "";
}

static const unsigned char *sec_data(struct obj *o, unsigned i) { return o->d + o->sh[i].sh_offset; }

static int find_section(struct obj *o, const char *name)
{
	if (!o->secs_by_name) {
		o->secs_by_name = malloc(o->shnum * sizeof(struct named));
		if (!o->secs_by_name) return -1;
		for (unsigned i = 1; i < o->shnum; i++) o->secs_by_name[o->nsecs_by_name++] = (struct named){ sec_name(o, i), 0, i };
		qsort(o->secs_by_name, o->nsecs_by_name, sizeof(struct named), named_cmp);
	}
	const struct named *f = named_find(o->secs_by_name, o->nsecs_by_name, name, 0);
	return f ? (int)f->index : -1;
}

static int check_sections(struct obj *o)
{
	Elf64_Ehdr h;
	if (o->len < sizeof(h)) return bad(o, "truncated ELF header");
	memcpy(&h, o->d, sizeof(h));
	if (memcmp(h.e_ident, ELFMAG, SELFMAG)) return bad(o, "no ELF header");
	if (h.e_ident[EI_CLASS] != ELFCLASS64) return bad(o, "not a 64-bit ELF");
	if (h.e_ident[EI_DATA] != ELFDATA2LSB) return bad(o, "not a little-endian ELF (big-endian BPF objects are not supported)");
	if (h.e_machine != EM_BPF) return bad(o, "ELF machine is not BPF");
	if (h.e_type != ET_REL) return bad(o, "not a relocatable object");
	if (h.e_shentsize != sizeof(Elf64_Shdr)) return bad(o, "ELF section header size is %u, not %zu", h.e_shentsize, sizeof(Elf64_Shdr));
	if (h.e_shnum == 0) return bad(o, "no section headers (or extended section numbering, which is not supported)");
	if (h.e_shnum >= SHN_LORESERVE) return bad(o, "too many sections (%u)", h.e_shnum);
	if (!inside(h.e_shoff, (uint64_t)h.e_shnum * sizeof(Elf64_Shdr), o->len))
		return bad(o, "truncated: section headers past the end of the file");
	if (h.e_shstrndx == SHN_UNDEF || h.e_shstrndx >= h.e_shnum) return bad(o, "section name table index %u out of range", h.e_shstrndx);
	o->shnum = h.e_shnum;
	o->sh = malloc(o->shnum * sizeof(Elf64_Shdr));
	if (!o->sh) return bad(o, "out of memory");
	memcpy(o->sh, o->d + h.e_shoff, o->shnum * sizeof(Elf64_Shdr));
	for (unsigned i = 1; i < o->shnum; i++) {
		Elf64_Shdr *s = &o->sh[i];
		if (s->sh_type != SHT_NOBITS && s->sh_type != SHT_NULL && !inside(s->sh_offset, s->sh_size, o->len))
			return bad(o, "section %u: offset %llu + size %llu is past the end of the file (%zu bytes)", i,
				   (unsigned long long)s->sh_offset, (unsigned long long)s->sh_size, o->len);
		/* A NOBITS section (.bss) has no bytes in the file, but libbpf makes a map of its size and the
		 * loader copies and prints it: bound it like the MEM region (64 MiB) instead of by the file. */
		if (s->sh_type == SHT_NOBITS && s->sh_size > (64ull << 20))
			return bad(o, "section %u: a NOBITS section of %llu bytes (at most 64 MiB)", i, (unsigned long long)s->sh_size);
	}
	Elf64_Shdr *ss = &o->sh[h.e_shstrndx];
	if (ss->sh_type != SHT_STRTAB || ss->sh_size == 0) return bad(o, "section name table is not a string table");
	o->shstr = (const char *)sec_data(o, h.e_shstrndx);
	o->shstr_len = ss->sh_size;
	if (o->shstr[o->shstr_len - 1]) return bad(o, "section name table does not end with a NUL byte");
	for (unsigned i = 1; i < o->shnum; i++)
		if (o->sh[i].sh_name >= o->shstr_len) return bad(o, "section %u: name offset %u out of range", i, o->sh[i].sh_name);
	return 0;
}

static int check_symbols(struct obj *o)
{
	char nb[64];
	for (unsigned i = 1; i < o->shnum; i++) {
		if (o->sh[i].sh_type != SHT_SYMTAB) continue;
		if (o->symtab) return bad(o, "more than one symbol table");
		o->symtab = i;
	}
	if (!o->symtab) return bad(o, "no symbol table");
	Elf64_Shdr *st = &o->sh[o->symtab];
	if (st->sh_entsize != sizeof(Elf64_Sym) || st->sh_size % sizeof(Elf64_Sym))
		return bad(o, "symbol table entry size %llu / size %llu is not a whole number of symbols",
			   (unsigned long long)st->sh_entsize, (unsigned long long)st->sh_size);
	if (st->sh_link == 0 || st->sh_link >= o->shnum || o->sh[st->sh_link].sh_type != SHT_STRTAB || !o->sh[st->sh_link].sh_size)
		return bad(o, "symbol table's string table (section %u) is missing or not a string table", st->sh_link);
	o->syms = sec_data(o, o->symtab);
	o->nsyms = st->sh_size / sizeof(Elf64_Sym);
	if (o->nsyms > OBJCHECK_MAX_SYMBOLS) return bad(o, "%zu symbols: more than the loader's limit of %u", o->nsyms, OBJCHECK_MAX_SYMBOLS);
	o->strtab = (const char *)sec_data(o, st->sh_link);
	o->strtab_len = o->sh[st->sh_link].sh_size;
	if (o->strtab[o->strtab_len - 1]) return bad(o, "symbol string table does not end with a NUL byte");
	for (size_t i = 1; i < o->nsyms; i++) {
		Elf64_Sym s;
		memcpy(&s, o->syms + i * sizeof(s), sizeof(s));
		if (s.st_name >= o->strtab_len) return bad(o, "symbol %zu: name offset %u out of range", i, s.st_name);
		const char *name = safe_name(o->strtab + s.st_name, o->strtab_len - s.st_name, nb, sizeof(nb));
		unsigned shndx = s.st_shndx;
		if (shndx == SHN_UNDEF || shndx == SHN_ABS || shndx == SHN_COMMON) continue;
		if (shndx >= o->shnum) return bad(o, "symbol '%s': section index %u out of range", name, shndx);
		Elf64_Shdr *sec = &o->sh[shndx];
		if (!inside(s.st_value, s.st_size, sec->sh_size))
			return bad(o, "symbol '%s': value %llu + size %llu lies outside its section %s (%llu bytes)", name,
				   (unsigned long long)s.st_value, (unsigned long long)s.st_size, sec_name(o, shndx),
				   (unsigned long long)sec->sh_size);
		if ((sec->sh_flags & SHF_EXECINSTR) && ELF64_ST_TYPE(s.st_info) == STT_FUNC) {
			if (s.st_value % 8 || s.st_size % 8)
				return bad(o, "function '%s': offset %llu or size %llu is not a whole number of instructions", name,
					   (unsigned long long)s.st_value, (unsigned long long)s.st_size);
			/* libbpf copies each function's instructions on their own; an ld_imm64 must not straddle its end */
			if (sec->sh_type == SHT_PROGBITS) {
				const unsigned char *c = sec_data(o, shndx);
				for (uint64_t off = s.st_value; off < s.st_value + s.st_size; off += 8)
					if (c[off] == 0x18) {
						if (off + 16 > s.st_value + s.st_size)
							return bad(o, "function '%s': its last instruction is the first half of an ld_imm64", name);
						off += 8;
					}
			}
		}
	}
	return 0;
}

static int check_code_and_relocs(struct obj *o)
{
	for (unsigned i = 1; i < o->shnum; i++) {
		Elf64_Shdr *s = &o->sh[i];
		if (s->sh_type == SHT_PROGBITS && (s->sh_flags & SHF_EXECINSTR)) {
			if (s->sh_size % 8) return bad(o, "code section %s: size %llu is not a whole number of instructions",
						       sec_name(o, i), (unsigned long long)s->sh_size);
			const unsigned char *c = sec_data(o, i);
			for (uint64_t off = 0; off < s->sh_size; off += 8)
				if (c[off] == 0x18) {
					if (off + 16 > s->sh_size)
						return bad(o, "code section %s: ld_imm64 at instruction %llu is cut off by the end of the section",
							   sec_name(o, i), (unsigned long long)(off / 8));
					off += 8;
				}
		}
		if (s->sh_type == SHT_RELA) return bad(o, "section %s: RELA relocations are not used by BPF objects", sec_name(o, i));
		if (s->sh_type != SHT_REL) continue;
		if (s->sh_entsize != sizeof(Elf64_Rel) || s->sh_size % sizeof(Elf64_Rel))
			return bad(o, "relocation section %s: entry size %llu / size %llu is not a whole number of entries",
				   sec_name(o, i), (unsigned long long)s->sh_entsize, (unsigned long long)s->sh_size);
		if (s->sh_link != o->symtab) return bad(o, "relocation section %s does not use the symbol table", sec_name(o, i));
		if (s->sh_info == 0 || s->sh_info >= o->shnum)
			return bad(o, "relocation section %s: target section %u out of range", sec_name(o, i), s->sh_info);
		Elf64_Shdr *t = &o->sh[s->sh_info];
		if (t->sh_type == SHT_NOBITS || t->sh_type == SHT_NULL)
			return bad(o, "relocation section %s applies to a section without data", sec_name(o, i));
		int code = t->sh_type == SHT_PROGBITS && (t->sh_flags & SHF_EXECINSTR);
		uint64_t width = code || !strncmp(sec_name(o, s->sh_info), ".struct_ops", 11) ? 8 : 4;
		const unsigned char *tc = sec_data(o, s->sh_info);
		const unsigned char *r = sec_data(o, i);
		for (uint64_t k = 0; k < s->sh_size / sizeof(Elf64_Rel); k++) {
			Elf64_Rel rel;
			memcpy(&rel, r + k * sizeof(rel), sizeof(rel));
			uint64_t sym = ELF64_R_SYM(rel.r_info);
			if (sym >= o->nsyms)
				return bad(o, "relocation %llu in %s: symbol index %llu out of range (%zu symbols)", (unsigned long long)k,
					   sec_name(o, i), (unsigned long long)sym, o->nsyms);
			if (!inside(rel.r_offset, width, t->sh_size))
				return bad(o, "relocation %llu in %s: offset %llu lies outside %s (%llu bytes)", (unsigned long long)k,
					   sec_name(o, i), (unsigned long long)rel.r_offset, sec_name(o, s->sh_info),
					   (unsigned long long)t->sh_size);
			if (code && rel.r_offset % 8)
				return bad(o, "relocation %llu in %s: offset %llu is not at an instruction", (unsigned long long)k,
					   sec_name(o, i), (unsigned long long)rel.r_offset);
			if (code && tc[rel.r_offset] == 0x18 && !inside(rel.r_offset, 16, t->sh_size))
				return bad(o, "relocation %llu in %s: ld_imm64 cut off by the end of the section", (unsigned long long)k, sec_name(o, i));
		}
	}
	return 0;
}

/* ---------- BTF ---------- */

static const unsigned char *type_at(struct obj *o, uint32_t id) { return o->types + o->toff[id]; }
static uint32_t t_name(const unsigned char *t) { return rd32(t); }
static uint32_t t_info(const unsigned char *t) { return rd32(t + 4); }
static uint32_t t_size(const unsigned char *t) { return rd32(t + 8); }
static unsigned t_kind(const unsigned char *t) { return (t_info(t) >> 24) & 0x1f; }
static unsigned t_vlen(const unsigned char *t) { return t_info(t) & 0xffff; }
static int t_kflag(const unsigned char *t) { return t_info(t) >> 31; }

static const char *type_name(struct obj *o, uint32_t id, char *buf, size_t n)
{
	if (!id || id > o->ntypes) return "void";
	uint32_t off = t_name(type_at(o, id));
	if (off >= o->strs_len || !o->strs[off]) return "(anon)";
	return safe_name(o->strs + off, o->strs_len - off, buf, n);
}

/* Size of the record after the 12-byte header, by kind. -1: unknown kind. */
static int64_t extra_size(unsigned kind, unsigned vlen)
{
	switch (kind) {
	case BTF_KIND_INT: return 4;
	case BTF_KIND_PTR: case BTF_KIND_FWD: case BTF_KIND_TYPEDEF: case BTF_KIND_VOLATILE: case BTF_KIND_CONST:
	case BTF_KIND_RESTRICT: case BTF_KIND_FUNC: case BTF_KIND_FLOAT: case BTF_KIND_TYPE_TAG: return 0;
	case BTF_KIND_ARRAY: return 12;
	case BTF_KIND_STRUCT: case BTF_KIND_UNION: return (int64_t)vlen * 12;
	case BTF_KIND_ENUM: return (int64_t)vlen * 8;
	case BTF_KIND_FUNC_PROTO: return (int64_t)vlen * 8;
	case BTF_KIND_VAR: return 4;
	case BTF_KIND_DATASEC: return (int64_t)vlen * 12;
	case BTF_KIND_DECL_TAG: return 4;
	case BTF_KIND_ENUM64: return (int64_t)vlen * 12;
	default: return -1;
	}
}

enum { SZ_NONE = -1, SZ_DEEP = -2, SZ_BIG = -3 };

/* Size in bytes of type id, following modifiers, typedefs and arrays at most OBJCHECK_MAX_DEPTH deep. */
static int64_t type_size(struct obj *o, uint32_t id, int depth)
{
	if (depth > OBJCHECK_MAX_DEPTH) return SZ_DEEP;
	if (!id || id > o->ntypes) return SZ_NONE;
	const unsigned char *t = type_at(o, id);
	switch (t_kind(t)) {
	case BTF_KIND_INT: case BTF_KIND_ENUM: case BTF_KIND_ENUM64: case BTF_KIND_STRUCT: case BTF_KIND_UNION:
	case BTF_KIND_FLOAT: case BTF_KIND_DATASEC:
		return t_size(t);
	case BTF_KIND_PTR: return 8;
	case BTF_KIND_TYPEDEF: case BTF_KIND_VOLATILE: case BTF_KIND_CONST: case BTF_KIND_RESTRICT:
	case BTF_KIND_TYPE_TAG: case BTF_KIND_VAR:
		return type_size(o, t_size(t), depth + 1);
	case BTF_KIND_ARRAY: {
		int64_t e = type_size(o, rd32(t + 12), depth + 1);
		if (e < 0) return e;
		uint64_t n = rd32(t + 20);
		if (e && n > UINT32_MAX / (uint64_t)e) return SZ_BIG;
		return (int64_t)(n * (uint64_t)e);
	}
	default: return SZ_NONE;
	}
}

static int size_error(struct obj *o, int64_t r, uint32_t id, const char *what)
{
	char nb[64];
	if (r == SZ_DEEP) return bad(o, "BTF type [%u] %s: type chain deeper than %d (a loop?)", id, what, OBJCHECK_MAX_DEPTH);
	if (r == SZ_BIG) return bad(o, "BTF type [%u] %s: array size overflows 32 bits", id, what);
	return bad(o, "BTF type [%u] %s ('%s') has no size", id, what, type_name(o, id, nb, sizeof(nb)));
}

static int check_id(struct obj *o, uint32_t from, uint32_t id, const char *what)
{
	if (id > o->ntypes) return bad(o, "BTF type [%u]: %s type id %u out of range (%u types)", from, what, id, o->ntypes);
	return 0;
}

static int check_str(struct obj *o, uint32_t from, uint32_t off, const char *what)
{
	if (off >= o->strs_len) return bad(o, "BTF type [%u]: %s name offset %u out of range (%u bytes of strings)", from, what, off, o->strs_len);
	return 0;
}

/* No type contains itself by value, and by-value nesting (structs, arrays, modifiers) stays bounded. */
static int check_containment(struct obj *o, uint32_t id, int depth)
{
	char nb[64];
	if (!id || id > o->ntypes || o->state[id] == 2) return 0;
	if (o->state[id] == 1) return bad(o, "BTF type [%u] '%s' contains itself", id, type_name(o, id, nb, sizeof(nb)));
	if (depth > OBJCHECK_MAX_DEPTH) return bad(o, "BTF type [%u]: types nest deeper than %d", id, OBJCHECK_MAX_DEPTH);
	const unsigned char *t = type_at(o, id);
	o->state[id] = 1;
	int err = 0;
	switch (t_kind(t)) {
	case BTF_KIND_TYPEDEF: case BTF_KIND_VOLATILE: case BTF_KIND_CONST: case BTF_KIND_RESTRICT:
	case BTF_KIND_TYPE_TAG: case BTF_KIND_VAR:
		err = check_containment(o, t_size(t), depth + 1);
		break;
	case BTF_KIND_ARRAY:
		err = check_containment(o, rd32(t + 12), depth + 1);
		break;
	case BTF_KIND_STRUCT: case BTF_KIND_UNION:
		for (unsigned i = 0; i < t_vlen(t) && !err; i++) err = check_containment(o, rd32(t + 12 + i * 12 + 4), depth + 1);
		break;
	}
	o->state[id] = 2;
	return err;
}

/* The symbol in section `shndx` named `name` (a DATASEC variable's ELF symbol); -1 if none. */
static int64_t find_symbol_value(struct obj *o, unsigned shndx, const char *name, uint64_t *size)
{
	if (!o->syms_by_name) {
		o->syms_by_name = malloc((o->nsyms ? o->nsyms : 1) * sizeof(struct named));
		if (!o->syms_by_name) return -1;
		for (size_t i = 1; i < o->nsyms; i++) {
			Elf64_Sym s;
			memcpy(&s, o->syms + i * sizeof(s), sizeof(s));
			if (ELF64_ST_TYPE(s.st_info) != STT_SECTION)
				o->syms_by_name[o->nsyms_by_name++] = (struct named){ o->strtab + s.st_name, s.st_shndx, i };
		}
		qsort(o->syms_by_name, o->nsyms_by_name, sizeof(struct named), named_cmp);
	}
	const struct named *f = named_find(o->syms_by_name, o->nsyms_by_name, name, shndx);
	if (!f) return -1;
	Elf64_Sym s;
	memcpy(&s, o->syms + f->index * sizeof(s), sizeof(s));
	*size = s.st_size;
	return (int64_t)s.st_value;
}

static int check_datasec(struct obj *o, uint32_t id, const unsigned char *t)
{
	char nb[64], vb[64];
	const char *name = o->strs + t_name(t);
	safe_name(name, o->strs_len - t_name(t), nb, sizeof(nb));
	int ksyms = !strcmp(name, ".ksyms") || !strcmp(name, ".kconfig");
	int sec = ksyms ? -1 : find_section(o, name);
	int struct_ops = !strncmp(name, ".struct_ops", 11);
	uint64_t dsize = t_size(t), secsize = sec > 0 ? o->sh[sec].sh_size : 0;
	if (sec > 0 && dsize > secsize)
		return bad(o, "BTF DATASEC '%s' is %llu bytes but its section is %llu", nb, (unsigned long long)dsize, (unsigned long long)secsize);
	if (struct_ops && sec <= 0) return bad(o, "BTF DATASEC '%s' has no ELF section of that name", nb);
	uint64_t last_end = 0;
	for (unsigned i = 0; i < t_vlen(t); i++) {
		const unsigned char *v = t + 12 + i * 12;
		uint32_t vt = rd32(v), voff = rd32(v + 4), vsz = rd32(v + 8);
		if (!vt || vt > o->ntypes) return bad(o, "BTF DATASEC '%s' entry %u: type id %u out of range", nb, i, vt);
		const unsigned char *var = type_at(o, vt);
		unsigned k = t_kind(var);
		if (k != BTF_KIND_VAR && k != BTF_KIND_FUNC)
			return bad(o, "BTF DATASEC '%s' entry %u: type [%u] is not a VAR", nb, i, vt);
		if (k == BTF_KIND_FUNC) continue;
		type_name(o, vt, vb, sizeof(vb));
		int64_t need = type_size(o, t_size(var), 0);
		if (need < 0) return size_error(o, need, vt, "DATASEC variable");
		if (!ksyms && vsz < need)
			/* The kernel's BTF check refuses it too ("Invalid size"): libbpf passes DATASEC sizes on as they are. */
			return bad(o, "BTF DATASEC '%s' variable '%s': size %u is smaller than its type (%lld bytes), which the kernel's BTF "
				   "check refuses%s", nb, vb, vsz, (long long)need,
				   need <= 8 ? " (clang -O2 stores a static variable that only holds 0 or 1 in 1 byte: make it non-static)" : "");
		uint64_t span = vsz > (uint64_t)need ? vsz : (uint64_t)need;
		if (dsize) {
			if (!inside(voff, span, dsize))
				return bad(o, "BTF DATASEC '%s' variable '%s': offset %u + size %llu lies outside the %llu-byte section", nb, vb,
					   voff, (unsigned long long)span, (unsigned long long)dsize);
			if (voff < last_end) return bad(o, "BTF DATASEC '%s' variable '%s': offset %u overlaps the previous variable", nb, vb, voff);
			last_end = (uint64_t)voff + span;
		} else if (sec > 0) {
			/* libbpf places the variable at its symbol's value: that must hold the variable too */
			uint64_t ssz = 0;
			int64_t at = find_symbol_value(o, (unsigned)sec, o->strs + t_name(var), &ssz);
			if (at >= 0 && !inside((uint64_t)at, span, secsize))
				return bad(o, "BTF DATASEC '%s' variable '%s' (%llu bytes) at symbol value %lld lies outside the %llu-byte section",
					   nb, vb, (unsigned long long)span, (long long)at, (unsigned long long)secsize);
		}
		if (struct_ops) {
			int64_t r = type_size(o, t_size(var), 0);
			uint32_t st = t_size(var);
			for (int d = 0; d <= OBJCHECK_MAX_DEPTH && st && st <= o->ntypes; d++) {
				unsigned sk = t_kind(type_at(o, st));
				if (sk != BTF_KIND_TYPEDEF && sk != BTF_KIND_CONST && sk != BTF_KIND_VOLATILE && sk != BTF_KIND_RESTRICT &&
				    sk != BTF_KIND_TYPE_TAG) break;
				st = t_size(type_at(o, st));
			}
			if (!st || st > o->ntypes || t_kind(type_at(o, st)) != BTF_KIND_STRUCT)
				return bad(o, "struct_ops variable '%s' in %s is not a struct", vb, nb);
			if (r <= 0) return bad(o, "struct_ops variable '%s' in %s has no size", vb, nb);
		}
	}
	return 0;
}

static int check_type(struct obj *o, uint32_t id)
{
	char nb[64];
	const unsigned char *t = type_at(o, id);
	unsigned kind = t_kind(t), vlen = t_vlen(t);
	if (check_str(o, id, t_name(t), "type")) return -1;
	switch (kind) {
	case BTF_KIND_INT: {
		uint32_t size = t_size(t), data = rd32(t + 12), bits = data & 0xff, off = (data >> 16) & 0xff;
		if (size != 1 && size != 2 && size != 4 && size != 8 && size != 16)
			return bad(o, "BTF type [%u] INT '%s': size %u is not 1, 2, 4, 8 or 16", id, type_name(o, id, nb, sizeof(nb)), size);
		if (!bits || bits > 128 || off + bits > size * 8 || (data & 0xff00))
			return bad(o, "BTF type [%u] INT '%s': %u bits at bit %u do not fit its %u bytes", id, type_name(o, id, nb, sizeof(nb)), bits, off, size);
		break;
	}
	case BTF_KIND_FLOAT: {
		uint32_t size = t_size(t);
		if (size != 2 && size != 4 && size != 8 && size != 12 && size != 16)
			return bad(o, "BTF type [%u] FLOAT: size %u is not valid", id, size);
		break;
	}
	case BTF_KIND_PTR: case BTF_KIND_TYPEDEF: case BTF_KIND_VOLATILE: case BTF_KIND_CONST: case BTF_KIND_RESTRICT:
	case BTF_KIND_TYPE_TAG:
		return check_id(o, id, t_size(t), "referenced");
	case BTF_KIND_FUNC:
		if (check_id(o, id, t_size(t), "prototype")) return -1;
		if (!t_size(t) || t_kind(type_at(o, t_size(t))) != BTF_KIND_FUNC_PROTO)
			return bad(o, "BTF type [%u] FUNC '%s' does not point to a FUNC_PROTO", id, type_name(o, id, nb, sizeof(nb)));
		break;
	case BTF_KIND_VAR:
		if (check_id(o, id, t_size(t), "variable")) return -1;
		if (rd32(t + 12) > BTF_VAR_GLOBAL_EXTERN) return bad(o, "BTF type [%u] VAR: bad linkage %u", id, rd32(t + 12));
		break;
	case BTF_KIND_ARRAY: {
		if (check_id(o, id, rd32(t + 12), "element") || check_id(o, id, rd32(t + 16), "index")) return -1;
		int64_t r = type_size(o, id, 0);
		if (r < 0) return size_error(o, r, id, "ARRAY");
		break;
	}
	case BTF_KIND_STRUCT: case BTF_KIND_UNION: {
		uint64_t size = t_size(t);
		for (unsigned i = 0; i < vlen; i++) {
			const unsigned char *m = t + 12 + i * 12;
			uint32_t mt = rd32(m + 4), moff = rd32(m + 8);
			if (check_str(o, id, rd32(m), "member") || check_id(o, id, mt, "member")) return -1;
			uint64_t bitoff = t_kflag(t) ? (moff & 0xffffff) : moff, bitsz = t_kflag(t) ? moff >> 24 : 0;
			const char *mn = safe_name(o->strs + rd32(m), o->strs_len - rd32(m), nb, sizeof(nb));
			if (bitsz) {
				if (bitoff + bitsz > size * 8)
					return bad(o, "BTF type [%u] member '%s': bit field at bit %llu (%llu bits) lies outside the %llu-byte struct",
						   id, mn, (unsigned long long)bitoff, (unsigned long long)bitsz, (unsigned long long)size);
				continue;
			}
			int64_t msz = type_size(o, mt, 0);
			if (msz < 0) {
				/* a flexible array member of a sized element type is fine at the end */
				return size_error(o, msz, mt, "struct member");
			}
			if (bitoff % 8) return bad(o, "BTF type [%u] member '%s': offset %llu bits is not byte aligned", id, mn, (unsigned long long)bitoff);
			if (!inside(bitoff / 8, (uint64_t)msz, size))
				return bad(o, "BTF type [%u] member '%s': offset %llu + size %lld lies outside the %llu-byte struct", id, mn,
					   (unsigned long long)(bitoff / 8), (long long)msz, (unsigned long long)size);
		}
		break;
	}
	case BTF_KIND_ENUM: case BTF_KIND_ENUM64: {
		uint32_t size = t_size(t);
		if (size != 1 && size != 2 && size != 4 && size != 8) return bad(o, "BTF type [%u] ENUM: size %u is not 1, 2, 4 or 8", id, size);
		unsigned rec = kind == BTF_KIND_ENUM ? 8 : 12;
		for (unsigned i = 0; i < vlen; i++)
			if (check_str(o, id, rd32(t + 12 + i * rec), "enumerator")) return -1;
		break;
	}
	case BTF_KIND_FUNC_PROTO:
		if (check_id(o, id, t_size(t), "return")) return -1;
		for (unsigned i = 0; i < vlen; i++)
			if (check_str(o, id, rd32(t + 12 + i * 8), "parameter") || check_id(o, id, rd32(t + 12 + i * 8 + 4), "parameter")) return -1;
		break;
	case BTF_KIND_DATASEC:
		return 0; /* after all types are known to be sane: check_datasec */
	case BTF_KIND_DECL_TAG: {
		uint32_t target = t_size(t);
		int32_t comp = (int32_t)rd32(t + 12);
		if (!target || check_id(o, id, target, "tagged")) return bad(o, "BTF type [%u] DECL_TAG: bad target %u", id, target);
		if (comp < -1) return bad(o, "BTF type [%u] DECL_TAG: bad component index %d", id, comp);
		if (comp >= 0) {
			const unsigned char *tt = type_at(o, target);
			unsigned tk = t_kind(tt);
			if ((tk != BTF_KIND_STRUCT && tk != BTF_KIND_UNION && tk != BTF_KIND_FUNC) ||
			    (tk == BTF_KIND_FUNC ? (!t_size(tt) || t_size(tt) > o->ntypes || (uint32_t)comp >= t_vlen(type_at(o, t_size(tt))))
						  : (uint32_t)comp >= t_vlen(tt)))
				return bad(o, "BTF type [%u] DECL_TAG: component %d out of range", id, comp);
		}
		break;
	}
	default:
		break;
	}
	return 0;
}

static int check_btf(struct obj *o)
{
	int s = find_section(o, ".BTF");
	if (s < 0) return bad(o, "no .BTF section (a struct_ops object needs BTF)");
	if (o->sh[s].sh_type == SHT_NOBITS) return bad(o, ".BTF section has no data");
	const unsigned char *b = sec_data(o, s);
	uint64_t blen = o->sh[s].sh_size;
	if (blen < 24) return bad(o, ".BTF: truncated header (%llu bytes)", (unsigned long long)blen);
	if (rd16(b) != BTF_MAGIC) return bad(o, ".BTF: bad magic 0x%04x", rd16(b));
	if (b[2] != 1) return bad(o, ".BTF: unsupported version %u", b[2]);
	uint32_t hdr = rd32(b + 4), toff = rd32(b + 8), tlen = rd32(b + 12), soff = rd32(b + 16), slen = rd32(b + 20);
	if (hdr < 24 || hdr > blen) return bad(o, ".BTF: header length %u out of range", hdr);
	for (uint32_t i = 24; i < hdr; i++)
		if (b[i]) return bad(o, ".BTF: unknown non-zero header field at byte %u", i);
	if (!inside((uint64_t)hdr + toff, tlen, blen)) return bad(o, ".BTF: type section (offset %u, %u bytes) lies outside the section", toff, tlen);
	if (!inside((uint64_t)hdr + soff, slen, blen)) return bad(o, ".BTF: string section (offset %u, %u bytes) lies outside the section", soff, slen);
	if (toff % 4) return bad(o, ".BTF: type section is not 4-byte aligned");
	if (!slen) return bad(o, ".BTF: empty string section");
	o->types = b + hdr + toff;
	o->types_len = tlen;
	o->strs = (const char *)b + hdr + soff;
	o->strs_len = slen;
	if (o->strs[0] || o->strs[slen - 1]) return bad(o, ".BTF: string section does not start and end with a NUL byte");
	/* pass 1: the records tile the type section */
	size_t cap = 64;
	o->toff = malloc(cap * sizeof(*o->toff));
	if (!o->toff) return bad(o, "out of memory");
	o->toff[0] = 0;
	uint32_t n = 0;
	for (uint64_t p = 0; p < tlen;) {
		if (!inside(p, 12, tlen)) return bad(o, ".BTF: type [%u] is cut off by the end of the type section", n + 1);
		uint32_t info = rd32(o->types + p + 4);
		int64_t extra = extra_size((info >> 24) & 0x1f, info & 0xffff);
		if (extra < 0) return bad(o, ".BTF: type [%u] has unknown kind %u", n + 1, (info >> 24) & 0x1f);
		if (!inside(p + 12, (uint64_t)extra, tlen)) return bad(o, ".BTF: type [%u] is cut off by the end of the type section", n + 1);
		if (n + 1 >= OBJCHECK_MAX_TYPES) return bad(o, ".BTF: more than %u types", OBJCHECK_MAX_TYPES);
		if (n + 1 >= cap) {
			uint32_t *nt = realloc(o->toff, 2 * cap * sizeof(*o->toff));
			if (!nt) return bad(o, "out of memory");
			o->toff = nt;
			cap *= 2;
		}
		o->toff[++n] = (uint32_t)p;
		p += 12 + (uint64_t)extra;
	}
	o->ntypes = n;
	o->state = calloc(n + 1, 1);
	if (!o->state) return bad(o, "out of memory");
	/* pass 2: ids, names, sizes; then containment; then the datasecs (which use sizes) */
	for (uint32_t id = 1; id <= n; id++)
		if (check_type(o, id)) return -1;
	for (uint32_t id = 1; id <= n; id++)
		if (check_containment(o, id, 0)) return -1;
	for (uint32_t id = 1; id <= n; id++) {
		const unsigned char *t = type_at(o, id);
		if (t_kind(t) == BTF_KIND_DATASEC && check_datasec(o, id, t)) return -1;
	}
	return 0;
}

/* .BTF.ext: header {u16 magic, u8 version, u8 flags, u32 hdr_len, u32 func_info_off, func_info_len,
 * line_info_off, line_info_len, [core_relo_off, core_relo_len]}; each info block: u32 rec_size, then
 * per section {u32 sec_name_off, u32 num_info, records}. */
enum ext_kind { EXT_FUNC, EXT_LINE, EXT_CORE };

static int check_ext_block(struct obj *o, const unsigned char *e, uint64_t elen, uint32_t hdr, uint32_t off, uint32_t len,
			   const char *what, enum ext_kind kind)
{
	static const uint32_t min_recs[] = { 8, 16, 16 };
	uint32_t min_rec = min_recs[kind];
	char nb[64];
	if (!len) return 0;
	if (!inside((uint64_t)hdr + off, len, elen)) return bad(o, ".BTF.ext: %s (offset %u, %u bytes) lies outside the section", what, off, len);
	const unsigned char *p = e + hdr + off;
	if (len < 4) return bad(o, ".BTF.ext: %s is too short", what);
	uint32_t rec = rd32(p);
	if (rec < min_rec || rec % 4) return bad(o, ".BTF.ext: %s record size %u is invalid", what, rec);
	for (uint64_t q = 4; q < len;) {
		if (!inside(q, 8, len)) return bad(o, ".BTF.ext: %s section header is cut off", what);
		uint32_t name = rd32(p + q), num = rd32(p + q + 4);
		q += 8;
		if (name >= o->strs_len) return bad(o, ".BTF.ext: %s section name offset %u out of range", what, name);
		if (!num) return bad(o, ".BTF.ext: %s section '%s' has no records", what, safe_name(o->strs + name, o->strs_len - name, nb, sizeof(nb)));
		if (!inside(q, (uint64_t)num * rec, len))
			return bad(o, ".BTF.ext: %s section '%s': %u records of %u bytes run past the end", what,
				   safe_name(o->strs + name, o->strs_len - name, nb, sizeof(nb)), num, rec);
		int sec = find_section(o, o->strs + name);
		uint64_t secsize = sec > 0 ? o->sh[sec].sh_size : 0;
		for (uint32_t i = 0; i < num; i++, q += rec) {
			uint32_t insn = rd32(p + q), a = rd32(p + q + 4);
			if (sec > 0 && insn >= secsize)
				return bad(o, ".BTF.ext: %s record %u of '%s': instruction offset %u lies outside the section", what, i,
					   safe_name(o->strs + name, o->strs_len - name, nb, sizeof(nb)), insn);
			if (kind == EXT_FUNC && (a == 0 || a > o->ntypes)) return bad(o, ".BTF.ext: %s record %u: type id %u out of range", what, i, a);
			if (kind == EXT_LINE && (a >= o->strs_len || rd32(p + q + 8) >= o->strs_len))
				return bad(o, ".BTF.ext: %s record %u: string offset out of range", what, i);
			if (kind == EXT_CORE) { /* core_relo: insn_off, type_id, access_str_off, kind */
				if (a == 0 || a > o->ntypes) return bad(o, ".BTF.ext: %s record %u: type id %u out of range", what, i, a);
				if (rd32(p + q + 8) >= o->strs_len) return bad(o, ".BTF.ext: %s record %u: access string out of range", what, i);
			}
		}
	}
	return 0;
}

static int check_btf_ext(struct obj *o)
{
	int s = find_section(o, ".BTF.ext");
	if (s < 0) return 0;
	if (o->sh[s].sh_type == SHT_NOBITS) return bad(o, ".BTF.ext section has no data");
	const unsigned char *e = sec_data(o, s);
	uint64_t elen = o->sh[s].sh_size;
	if (elen < 8) return bad(o, ".BTF.ext: truncated header");
	if (rd16(e) != BTF_MAGIC) return bad(o, ".BTF.ext: bad magic 0x%04x", rd16(e));
	if (e[2] != 1) return bad(o, ".BTF.ext: unsupported version %u", e[2]);
	uint32_t hdr = rd32(e + 4);
	if (hdr < 24 || hdr > elen) return bad(o, ".BTF.ext: header length %u out of range", hdr);
	if (check_ext_block(o, e, elen, hdr, rd32(e + 8), rd32(e + 12), "func_info", EXT_FUNC) ||
	    check_ext_block(o, e, elen, hdr, rd32(e + 16), rd32(e + 20), "line_info", EXT_LINE))
		return -1;
	if (hdr >= 32 && check_ext_block(o, e, elen, hdr, rd32(e + 24), rd32(e + 28), "core_relo", EXT_CORE)) return -1;
	return 0;
}

int objcheck_buf(const unsigned char *data, size_t len, char *msg, size_t msglen)
{
	struct obj o = { .d = data, .len = len, .msg = msg, .msglen = msglen };
	if (msglen) msg[0] = 0;
	int err = check_sections(&o);
	err = err ? err : check_symbols(&o);
	err = err ? err : check_code_and_relocs(&o);
	err = err ? err : check_btf(&o);
	err = err ? err : check_btf_ext(&o);
	free(o.sh);
	free(o.toff);
	free(o.state);
	free(o.secs_by_name);
	free(o.syms_by_name);
	return err;
}

int objcheck_file(const char *path, char *msg, size_t msglen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		snprintf(msg, msglen, "cannot open: %s", strerror(errno));
		if (fd >= 0) close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(msg, msglen, "not a regular file");
		return -1;
	}
	if ((unsigned long long)st.st_size > OBJCHECK_MAX_FILE) {
		close(fd);
		snprintf(msg, msglen, "%lld bytes: larger than the loader's limit of %u MiB", (long long)st.st_size, OBJCHECK_MAX_FILE >> 20);
		return -1;
	}
	size_t len = (size_t)st.st_size, got = 0;
	unsigned char *buf = malloc(len ? len : 1);
	if (!buf) { close(fd); snprintf(msg, msglen, "out of memory"); return -1; }
	while (got < len) {
		ssize_t r = read(fd, buf + got, len - got);
		if (r <= 0) break;
		got += (size_t)r;
	}
	close(fd);
	int err = got == len ? objcheck_buf(buf, len, msg, msglen) : (snprintf(msg, msglen, "short read"), -1);
	free(buf);
	return err;
}
