/*
 * BTF-defined maps for uringbpf-loader (included once by loader.c, after its BTF printing helpers):
 *   --map NAME[KEY]PATH=VALUE presets array/hash entries after load, before the run (KEY an integer or
 *     {field=INT,...}; PATH .field/[index] steps into the value; VALUE an integer or {field=INT,...}; the
 *     entry's other bytes are kept, or zero for a new hash entry), resolved against BTF before load;
 *   maps_print() writes every user map after the run as the JSON member "maps": arrays as lists of values,
 *     hashes as lists of {"key","value"} sorted by key (little-endian bytes compared as one unsigned
 *     number), ring buffers as the list of committed records in buffer order, each decoded through its BTF
 *     type (a ring buffer's record type is named by the hidden global uringbpf_rec_NAME);
 *   --pin-maps DIR pins the maps after the run so bpftool can read them (bpftool map dump pinned DIR/NAME).
 */

/* The pointee of hidden global NAME (a const pointer to a type), or 0. */
static __u32 pointee_of_global(const char *name)
{
	struct find_ctx c = { .name = name };
	if (!for_each_global(find_cb, &c)) return 0;
	struct btf *btf = bpf_object__btf(obj);
	int id = btf__resolve_type(btf, c.found.type);
	const struct btf_type *t = id < 0 ? NULL : btf__type_by_id(btf, id);
	if (!t || !btf_is_ptr(t)) return 0;
	id = btf__resolve_type(btf, t->type);
	return id < 0 ? 0 : (__u32)id;
}

static int is_user_map(struct bpf_map *m)
{
	enum bpf_map_type t = bpf_map__type(m);
	return !bpf_map__is_internal(m) && t != BPF_MAP_TYPE_STRUCT_OPS;
}

__attribute__((noreturn, format(printf, 2, 3)))
static void map_fail(const struct assign *a, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fail(EXIT_SETUP, "maps", NULL, "--map %s: %s", a->name, msg);
}

/* A resolved --map preset: the key's bytes, and the value bytes to write where mask is set. */
struct map_preset { struct bpf_map *map; unsigned char *key, *value, *mask; };

/* Write `text` (up to `end`) into buf+off as BTF type `type`: an integer (range-checked), or
 * {PATH=INT,...} for a struct or array place (all of it written, fields not named 0), marking the bytes
 * written in mask (NULL for a key). `room` is the bytes from buf+off to the end of the entry. */
static void fill_place(const struct assign *a, const char *text, const char *end, __u32 type, unsigned char *buf,
		       unsigned char *mask, unsigned long long off, unsigned long long room, const char *what)
{
	struct btf *btf = bpf_object__btf(obj);
	char tok[128], where[512];
	int sgn, isbool;
	long long v;
	int neg;
	if (*text != '{') {
		if ((size_t)(end - text) >= sizeof(tok)) map_fail(a, "bad value '%.*s'", (int)(end - text), text);
		snprintf(tok, sizeof(tok), "%.*s", (int)(end - text), text);
		if (parse_int_text(tok, &v, &neg)) map_fail(a, "bad value '%s' (a decimal or 0x hex integer within 64 bits, or true/false)", tok);
		int size = store_checked(a, map_fail, what, type, v, neg, buf + off, room);
		if (mask) memset(mask + off, 0xff, size);
		return;
	}
	int id = btf__resolve_type(btf, type);
	const struct btf_type *t = id < 0 ? NULL : btf__type_by_id(btf, id);
	if (!t || (!btf_is_struct(t) && !btf_is_array(t)) || int_kind(type, &sgn, &isbool))
		map_fail(a, "%s is an integer: give a number, not {...}", what);
	long long size = btf__resolve_size(btf, type);
	if (size < 0 || (unsigned long long)size > room) map_fail(a, "%s lies outside its entry", what);
	if (end[-1] != '}') map_fail(a, "%s: expected {field=VALUE,...}", what);
	memset(buf + off, 0, size);
	if (mask) memset(mask + off, 0xff, size);
	const char *s = text + 1, *close = end - 1;
	while (s < close) {
		__u32 ft = type;
		unsigned long long foff = 0;
		where[0] = 0;
		const char *eq = walk_path(a, map_fail, what, s, "=,}", !btf_is_array(t), &ft, &foff, where, sizeof(where));
		if (eq == s || *eq != '=') map_fail(a, "expected PATH=VALUE in {...} at '%.*s'", (int)(close - s), s);
		const char *vend = eq + 1;
		while (vend < close && *vend != ',') vend++;
		if ((size_t)(vend - eq - 1) >= sizeof(tok)) map_fail(a, "bad value in {...}");
		snprintf(tok, sizeof(tok), "%.*s", (int)(vend - eq - 1), eq + 1);
		if (parse_int_text(tok, &v, &neg)) map_fail(a, "bad value '%s' for %s (a decimal or 0x hex integer within 64 bits, or true/false)", tok, where);
		char full[700];
		snprintf(full, sizeof(full), "field '%s' of %s", where, what);
		if (foff >= (unsigned long long)size) map_fail(a, "%s lies outside its entry", full);
		store_checked(a, map_fail, full, ft, v, neg, buf + off + foff, size - foff);
		s = vend < close ? vend + 1 : vend;
		if (vend < close && s == close) map_fail(a, "expected PATH=VALUE after ',' in {...}");
	}
}

/* Resolve --map NAME[KEY]PATH=VALUE (the grammar of runtime/assign.ts resolveMapAssign, docs/LANGUAGE.md
 * "Maps") against the object's maps and BTF: nothing touches a map here. */
static struct map_preset resolve_preset(const struct assign *a)
{
	struct btf *btf = bpf_object__btf(obj);
	const char *text = a->name;
	size_t nl = strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$");
	if (!nl || isdigit((unsigned char)text[0]) || text[nl] != '[' || nl >= 256)
		map_fail(a, "expected NAME[KEY]=VALUE, NAME[KEY].field=VALUE or NAME[{field=KEY,...}]={field=VALUE,...}");
	char name[256];
	snprintf(name, sizeof(name), "%.*s", (int)nl, text);
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
	if (!m || !is_user_map(m)) {
		char list[512] = "";
		struct bpf_map *x;
		bpf_object__for_each_map(x, obj) if (is_user_map(x)) append(list, sizeof(list), "%s%s", list[0] ? ", " : "", bpf_map__name(x));
		map_fail(a, "no map named '%s' (maps: %s)", name, list[0] ? list : "none");
	}
	enum bpf_map_type mt = bpf_map__type(m);
	if (mt != BPF_MAP_TYPE_ARRAY && mt != BPF_MAP_TYPE_HASH) map_fail(a, "%s is not an array or hash map", name);
	__u32 ktype = bpf_map__btf_key_type_id(m), vtype = bpf_map__btf_value_type_id(m);
	__u32 ksz = bpf_map__key_size(m), vsz = bpf_map__value_size(m);
	if (!ktype || !vtype || btf__resolve_size(btf, ktype) != ksz || btf__resolve_size(btf, vtype) != vsz)
		map_fail(a, "%s has no BTF key or value type", name);
	/* KEY: {...} up to its '}', else up to ']' */
	const char *k = text + nl + 1, *kend;
	if (*k == '{') {
		const char *close = strchr(k, '}'), *open = strchr(k + 1, '{');
		kend = close && (!open || open > close) && close[1] == ']' ? close + 1 : NULL;
	} else {
		kend = strchr(k, ']');
		if (kend && memchr(k, '{', kend - k)) kend = NULL;
		if (kend && memchr(k, '}', kend - k)) kend = NULL;
	}
	if (!kend) map_fail(a, "expected NAME[KEY]=VALUE, NAME[KEY].field=VALUE or NAME[{field=KEY,...}]={field=VALUE,...}");
	struct map_preset p = { m, calloc(1, ksz), calloc(1, vsz), calloc(1, vsz) };
	if (!p.key || !p.value || !p.mask) map_fail(a, "out of memory");
	char what[320];
	snprintf(what, sizeof(what), "the key of %s", name);
	fill_place(a, k, kend, ktype, p.key, NULL, 0, ksz, what);
	if (mt == BPF_MAP_TYPE_ARRAY) {
		__u32 i;
		memcpy(&i, p.key, 4);
		if (i >= bpf_map__max_entries(m)) map_fail(a, "index %u out of range (%s has %u entries)", i, name, bpf_map__max_entries(m));
	}
	/* PATH into the value, then '=' VALUE */
	char where[512] = "";
	unsigned long long off = 0;
	__u32 type = vtype;
	snprintf(what, sizeof(what), "the value of %s", name);
	const char *eq = walk_path(a, map_fail, what, kend + 1, "={}", 0, &type, &off, where, sizeof(where));
	if (*eq != '=') map_fail(a, "expected NAME[KEY]=VALUE, NAME[KEY].field=VALUE or NAME[{field=KEY,...}]={field=VALUE,...}");
	if (off >= vsz) map_fail(a, "%s lies outside the %u-byte value", where, vsz);
	if (where[0]) snprintf(what, sizeof(what), "'%.*s'", (int)(eq - text), text);
	const char *v = eq + 1;
	fill_place(a, v, v + strlen(v), type, p.value, p.mask, off, vsz - off, what);
	return p;
}

static void hex_str(FILE *f, const unsigned char *b, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) fprintf(f, "%02x", b[i]);
	fputc('"', f);
}

/* Every --map resolved before the run (errors exit 5 before anything is written). With --no-load the
 * resolved presets are printed as the JSON member "map_presets" (map, key, value and mask as hex bytes):
 * what test/mapassign.test.ts compares with runtime/assign.ts, row by row of one table. */
static struct map_preset *presets;
static int npresets;

static void maps_resolve(void)
{
	for (int i = 0; i < npresets; i++) { free(presets[i].key); free(presets[i].value); free(presets[i].mask); }
	free(presets);
	npresets = 0;
	for (int i = 0; i < opt.nassign; i++)
		if (opt.assigns[i].kind == 'p') npresets++;
	presets = calloc(npresets ? npresets : 1, sizeof(*presets));
	if (!presets) fail(EXIT_SETUP, "maps", NULL, "out of memory");
	for (int i = 0, n = 0; i < opt.nassign; i++)
		if (opt.assigns[i].kind == 'p') presets[n++] = resolve_preset(&opt.assigns[i]);
}

static void maps_presets_print(FILE *f)
{
	if (!npresets) return;
	fprintf(f, ",\"map_presets\":[");
	for (int i = 0; i < npresets; i++) {
		struct map_preset *p = &presets[i];
		fprintf(f, "%s{\"map\":", i ? "," : "");
		json_str(f, bpf_map__name(p->map));
		fprintf(f, ",\"key\":");
		hex_str(f, p->key, bpf_map__key_size(p->map));
		fprintf(f, ",\"value\":");
		hex_str(f, p->value, bpf_map__value_size(p->map));
		fprintf(f, ",\"mask\":");
		hex_str(f, p->mask, bpf_map__value_size(p->map));
		fputc('}', f);
	}
	fputc(']', f);
}

/* Write the presets into the loaded maps, in order, after load and before the run. */
static void maps_preset(void)
{
	for (int i = 0, n = 0; i < opt.nassign; i++) {
		struct assign *a = &opt.assigns[i];
		if (a->kind != 'p') continue;
		struct map_preset *p = &presets[n++];
		__u32 vsz = bpf_map__value_size(p->map);
		unsigned char *val = calloc(1, vsz);
		if (!val) map_fail(a, "out of memory");
		int fd = bpf_map__fd(p->map);
		if (bpf_map_lookup_elem(fd, p->key, val) != 0) {
			if (bpf_map__type(p->map) == BPF_MAP_TYPE_ARRAY) map_fail(a, "index out of range (%s has %u entries)", bpf_map__name(p->map), bpf_map__max_entries(p->map));
			memset(val, 0, vsz);
		}
		for (__u32 b = 0; b < vsz; b++)
			if (p->mask[b]) val[b] = p->value[b];
		if (bpf_map_update_elem(fd, p->key, val, BPF_ANY) != 0) {
			if (errno == E2BIG) map_fail(a, "the map is full (%u entries)", bpf_map__max_entries(p->map));
			map_fail(a, "bpf_map_update_elem: %s", strerror(errno));
		}
		free(val);
	}
}

struct map_entry { unsigned char *key, *value; };
static __u32 sort_key_size;

/* Keys compared as little-endian unsigned numbers: the highest byte first. */
static int cmp_entry(const void *x, const void *y)
{
	const struct map_entry *a = x, *b = y;
	for (int i = (int)sort_key_size - 1; i >= 0; i--)
		if (a->key[i] != b->key[i]) return a->key[i] < b->key[i] ? -1 : 1;
	return 0;
}

struct rb_ctx { FILE *f; __u32 type; int n; };

static int rb_record(void *p, void *data, size_t size)
{
	struct rb_ctx *c = p;
	struct btf *btf = bpf_object__btf(obj);
	if (c->n++) fputc(',', c->f);
	if (c->type && btf__resolve_size(btf, c->type) == (long long)size) print_typed(c->f, c->type, data, size, 0);
	else {
		fputc('"', c->f);
		for (size_t i = 0; i < size; i++) fprintf(c->f, "%02x", ((unsigned char *)data)[i]);
		fputc('"', c->f);
	}
	return 0;
}

/* ,"maps":{...} for every user map (nothing when there is none). */
static void maps_print(FILE *f)
{
	struct bpf_map *m;
	int first = 1;
	bpf_object__for_each_map(m, obj) {
		if (!is_user_map(m)) continue;
		fprintf(f, first ? ",\"maps\":{" : ",");
		first = 0;
		json_str(f, bpf_map__name(m));
		fputc(':', f);
		int fd = bpf_map__fd(m);
		__u32 ksz = bpf_map__key_size(m), vsz = bpf_map__value_size(m), max = bpf_map__max_entries(m);
		enum bpf_map_type mt = bpf_map__type(m);
		if (opt.no_load || fd < 0) { fprintf(f, "null"); continue; }
		if (mt == BPF_MAP_TYPE_RINGBUF) {
			char rec[300];
			snprintf(rec, sizeof(rec), "uringbpf_rec_%s", bpf_map__name(m));
			struct rb_ctx c = { f, pointee_of_global(rec), 0 };
			fputc('[', f);
			struct ring_buffer *rb = ring_buffer__new(fd, rb_record, &c, NULL);
			if (rb) {
				ring_buffer__consume(rb);
				ring_buffer__free(rb);
			}
			fputc(']', f);
			continue;
		}
		if (mt != BPF_MAP_TYPE_ARRAY && mt != BPF_MAP_TYPE_HASH) { fprintf(f, "null"); continue; }
		__u32 vtype = bpf_map__btf_value_type_id(m), ktype = bpf_map__btf_key_type_id(m);
		struct map_entry *ents = calloc(max ? max : 1, sizeof(*ents));
		unsigned char *keys = calloc(max ? max : 1, ksz), *vals = calloc(max ? max : 1, vsz);
		unsigned char *prev = NULL;
		__u32 n = 0;
		if (!ents || !keys || !vals) { fprintf(f, "null"); free(ents); free(keys); free(vals); continue; }
		while (n < max && bpf_map_get_next_key(fd, prev, keys + (size_t)n * ksz) == 0) {
			prev = keys + (size_t)n * ksz;
			if (bpf_map_lookup_elem(fd, prev, vals + (size_t)n * vsz) != 0) continue; /* deleted meanwhile */
			ents[n].key = prev;
			ents[n].value = vals + (size_t)n * vsz;
			n++;
		}
		sort_key_size = ksz;
		qsort(ents, n, sizeof(*ents), cmp_entry);
		fputc('[', f);
		for (__u32 i = 0; i < n; i++) {
			if (i) fputc(',', f);
			if (mt == BPF_MAP_TYPE_ARRAY) { print_typed(f, vtype, ents[i].value, vsz, 0); continue; }
			fprintf(f, "{\"key\":");
			print_typed(f, ktype, ents[i].key, ksz, 0);
			fprintf(f, ",\"value\":");
			print_typed(f, vtype, ents[i].value, vsz, 0);
			fputc('}', f);
		}
		fputc(']', f);
		free(ents); free(keys); free(vals);
	}
	if (!first) fputc('}', f);
}

/* --pin-maps DIR: pin every user map as DIR/NAME (errors go to stderr; the run's result stands). */
static void maps_pin(const char *dir)
{
	struct bpf_map *m;
	char path[PATH_MAX];
	mkdir(dir, 0700);
	bpf_object__for_each_map(m, obj) {
		if (!is_user_map(m)) continue;
		snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(m));
		if (bpf_map__pin(m, path) != 0) fprintf(stderr, "uringbpf-loader: --pin-maps: %s: %s\n", path, strerror(errno));
	}
}
