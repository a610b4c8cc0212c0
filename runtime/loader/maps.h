/*
 * BTF-defined maps for uringbpf-loader (included once by loader.c, after its BTF printing helpers):
 *   --map NAME[KEY]=VALUE and NAME[KEY].field...=VALUE preset array/hash entries after load, before the run
 *     (KEY an integer; the entry's other bytes are kept, or zero for a new hash entry);
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
	fail(EXIT_SETUP, "maps", NULL, "--map %s=%s: %s", a->name, a->arg, msg);
}

/* Walk ".field" / "[i]" steps from `s` through BTF type *type, adding to *off; returns the final type. */
static __u32 walk_value_path(const struct assign *a, const char *s, __u32 type, unsigned long long *off)
{
	struct btf *btf = bpf_object__btf(obj);
	while (*s) {
		int id = btf__resolve_type(btf, type);
		const struct btf_type *t = id < 0 ? NULL : btf__type_by_id(btf, id);
		if (*s == '[') {
			char *end;
			if (!t || !btf_is_array(t)) map_fail(a, "'%s': not an array", s);
			unsigned long long i = strtoull(s + 1, &end, 10);
			if (*end != ']' || i >= btf_array(t)->nelems) map_fail(a, "'%s': bad index (0..%u)", s, btf_array(t)->nelems - 1);
			*off += i * btf__resolve_size(btf, btf_array(t)->type);
			type = btf_array(t)->type;
			s = end + 1;
			continue;
		}
		if (*s != '.') map_fail(a, "expected .field or [index] at '%s'", s);
		s++;
		size_t n = strcspn(s, ".[");
		if (!t || !btf_is_struct(t)) map_fail(a, "'%.*s': the value is not a struct", (int)n, s);
		const struct btf_member *m = btf_members(t);
		int found = -1;
		for (int i = 0; i < btf_vlen(t); i++, m++) {
			const char *mn = btf__name_by_offset(btf, m->name_off);
			if (strlen(mn) == n && !strncmp(mn, s, n)) { found = i; break; }
		}
		if (found < 0) map_fail(a, "the value has no field '%.*s'", (int)n, s);
		*off += btf_member_bit_offset(t, found) / 8;
		type = btf_members(t)[found].type;
		s += n;
	}
	return type;
}

/* Store the integer of assignment `a` (range-checked for a field of `size` bytes) at p. */
static void store_int(const struct assign *a, unsigned char *p, int size, int sgn)
{
	unsigned long long u = (unsigned long long)a->value;
	int bad;
	if (!sgn) bad = a->neg || (size < 8 && u > (1ULL << (size * 8)) - 1);
	else bad = size < 8 && (a->neg ? a->value < -(1LL << (size * 8 - 1)) : u > (1ULL << (size * 8 - 1)) - 1);
	if (bad) map_fail(a, "value out of range for a %s%d", sgn ? "i" : "u", size * 8);
	memcpy(p, &u, size);
}

/* --map NAME[KEY](.path)=VALUE, after load and before the run. */
static void maps_preset(void)
{
	for (int i = 0; i < opt.nassign; i++) {
		struct assign *a = &opt.assigns[i];
		if (a->kind != 'p') continue;
		char name[256];
		const char *br = strchr(a->name, '[');
		if (!br || br == a->name || (size_t)(br - a->name) >= sizeof(name)) map_fail(a, "expected NAME[KEY]=VALUE");
		snprintf(name, sizeof(name), "%.*s", (int)(br - a->name), a->name);
		struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
		if (!m || !is_user_map(m)) {
			char list[512] = "";
			struct bpf_map *x;
			bpf_object__for_each_map(x, obj) if (is_user_map(x)) append(list, sizeof(list), "%s%s", list[0] ? ", " : "", bpf_map__name(x));
			map_fail(a, "no map named '%s' (maps: %s)", name, list[0] ? list : "none");
		}
		enum bpf_map_type mt = bpf_map__type(m);
		if (mt != BPF_MAP_TYPE_ARRAY && mt != BPF_MAP_TYPE_HASH) map_fail(a, "%s is not an array or hash map", name);
		char *end;
		errno = 0;
		int kneg = br[1] == '-';
		unsigned long long key = kneg ? (unsigned long long)strtoll(br + 1, &end, 0) : strtoull(br + 1, &end, 0);
		if (errno || end == br + 1 || *end != ']') map_fail(a, "bad key: expected an integer in [ ]");
		__u32 ksz = bpf_map__key_size(m), vsz = bpf_map__value_size(m);
		if (ksz > 8) map_fail(a, "%s has %u-byte keys: only integer keys can be preset", name, ksz);
		if (ksz < 8 && !kneg && key >> (ksz * 8)) map_fail(a, "key %llu does not fit %s's %u-byte keys", key, name, ksz);
		unsigned char kbuf[8] = { 0 }, *val = calloc(1, vsz);
		if (!val) map_fail(a, "out of memory");
		memcpy(kbuf, &key, ksz);
		int fd = bpf_map__fd(m);
		if (bpf_map_lookup_elem(fd, kbuf, val) != 0) {
			if (mt == BPF_MAP_TYPE_ARRAY) map_fail(a, "index %llu out of range (%s has %u entries)", key, name, bpf_map__max_entries(m));
			memset(val, 0, vsz);
		}
		unsigned long long off = 0;
		__u32 type = walk_value_path(a, end + 1, bpf_map__btf_value_type_id(m), &off);
		int sgn, isbool, size = int_kind(type, &sgn, &isbool);
		if (!size || off + size > vsz) map_fail(a, "%s is not an integer value or field: name one (e.g. %s[%llu].field)", a->name, name, key);
		store_int(a, val + off, size, sgn);
		if (bpf_map_update_elem(fd, kbuf, val, BPF_ANY) != 0) map_fail(a, "bpf_map_update_elem: %s", strerror(errno));
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
