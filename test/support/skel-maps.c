/*
 * A C user of uringbpf objects WITH MAPS through bpftool skeletons (docs/OBJECT.md "From C: a libbpf
 * skeleton"): samples/latency.ts (a hash map and two array maps; a MEM region) and samples/events.ts (a
 * ring buffer), each compiled by `uringbpf build` and turned into latency.skel.h / events.skel.h by
 * `bpftool gen skeleton`, built against libbpf >= 1.5. libbpf creates the maps from the objects' .maps
 * sections when the skeleton loads; this program presets one entry before the run and reads every map
 * after it through the skeleton
 * (skel->maps.NAME with bpf_map__lookup_elem / bpf_map__get_next_key, and ring_buffer__new on the ring
 * buffer's fd) with C structs of its own for the values, whose sizes it checks against the maps' BTF.
 *   skel-maps latency REQUESTS DEPTH BASE_US
 *   skel-maps events REQUESTS DEPTH
 * print one line "SKEL {json}": the run's result, the globals and every map, as the loader's JSON names them.
 */
#include <stdio.h>
#include <stdlib.h>
#include "skel-ring.h"
#include "latency.skel.h"
#include "events.skel.h"

/* hist[31] (latencies of 2^31 us and more: none) is preset to this before the run. */
#define HIST_PRESET 1000

/* samples/latency.ts's Stamp and samples/events.ts's Event, as a C programmer declares them. */
struct stamp { unsigned long long start; unsigned int kind; };
struct event { unsigned long long userData; int res; unsigned int flags; unsigned int seq; };

static int fail(const char *what, long err)
{
	printf("SKEL {\"error\":\"%s\",\"errno\":%ld}\n", what, err);
	return 1;
}

/* The size of BTF struct `name` in the object, or -1. */
static long long struct_size(struct bpf_object *obj, const char *name)
{
	const struct btf *btf = bpf_object__btf(obj);
	int id = btf__find_by_name_kind(btf, name, BTF_KIND_STRUCT);
	return id < 0 ? -1 : btf__resolve_size(btf, id);
}

/* An array map of u64 values as a JSON list, read entry by entry through the skeleton. */
static int print_u64_array(const struct bpf_map *m)
{
	if (bpf_map__key_size(m) != 4 || bpf_map__value_size(m) != 8) return -1;
	putchar('[');
	for (unsigned i = 0; i < bpf_map__max_entries(m); i++) {
		unsigned long long v;
		if (bpf_map__lookup_elem(m, &i, sizeof(i), &v, sizeof(v), 0)) return -1;
		printf("%s%llu", i ? "," : "", v);
	}
	putchar(']');
	return 0;
}

static int run_latency(int requests, int depth, int base_us)
{
	struct skel_ring r;
	int err = skel_ring_create(&r, 8, 16);
	if (err) return fail("io_uring_setup", err);
	struct latency *skel = latency__open();
	if (!skel) return fail("open", -errno);
	long long mem = skel_mem_layout_size(skel->obj);
	if (mem <= 0) return fail("no MEM layout", mem);
	if ((err = skel_ring_mem(&r, mem))) return fail("IORING_REGISTER_MEM_REGION", err);
	if (skel_ring_geometry(skel->obj, skel->rodata, &r) < 7) return fail("geometry globals", -1);
	skel->rodata->requests = requests;
	skel->rodata->depth = depth;
	skel->rodata->baseUs = base_us;
	skel->struct_ops.latency_ops->ring_fd = r.fd;
	if (bpf_map__value_size(skel->maps.inflight) != sizeof(struct stamp) || struct_size(skel->obj, "Stamp") != sizeof(struct stamp))
		return fail("struct Stamp differs from the map's value", bpf_map__value_size(skel->maps.inflight));
	if ((err = latency__load(skel))) return fail("load", err);
	/* A preset through the skeleton after libbpf created the map (what `--map hist[31]=PRESET` does). */
	__u32 last = 31;
	__u64 preset = HIST_PRESET;
	if (bpf_map__update_elem(skel->maps.hist, &last, sizeof(last), &preset, sizeof(preset), BPF_ANY)) return fail("preset hist[31]", -errno);
	if ((err = latency__attach(skel))) return fail("attach", err);
	long ret = skel_ring_run(&r);
	printf("SKEL {\"ret\":%ld,\"attached\":%d,\"globals\":{\"status\":%d,\"submitted\":%u,\"completed\":%u,\"lost\":%u},\"maps\":{\"hist\":",
	       ret, skel->links.latency_ops != NULL, skel->data->status, skel->bss->submitted, skel->bss->completed, skel->bss->lost);
	if (print_u64_array(skel->maps.hist)) return fail("hist", -errno);
	printf(",\"fastest\":");
	if (print_u64_array(skel->maps.fastest)) return fail("fastest", -errno);
	printf(",\"inflight\":[");
	unsigned long long key, *prev = NULL;
	int n = 0;
	while (!bpf_map__get_next_key(skel->maps.inflight, prev, &key, sizeof(key))) {
		struct stamp s;
		if (!bpf_map__lookup_elem(skel->maps.inflight, &key, sizeof(key), &s, sizeof(s), 0))
			printf("%s{\"key\":%llu,\"value\":{\"start\":%llu,\"kind\":%u}}", n++ ? "," : "", key, s.start, s.kind);
		prev = &key;
	}
	printf("]}}\n");
	latency__destroy(skel);
	close(r.fd);
	return 0;
}

struct records { int n, bad_size; };

static int on_record(void *ctx, void *data, size_t size)
{
	struct records *c = ctx;
	if (size != sizeof(struct event)) {
		c->bad_size++;
		return 0;
	}
	const struct event *e = data;
	printf("%s{\"userData\":%llu,\"res\":%d,\"flags\":%u,\"seq\":%u}", c->n++ ? "," : "", e->userData, e->res, e->flags, e->seq);
	return 0;
}

static int run_events(int requests, int depth)
{
	struct skel_ring r;
	int err = skel_ring_create(&r, 8, 16);
	if (err) return fail("io_uring_setup", err);
	struct events *skel = events__open();
	if (!skel) return fail("open", -errno);
	if (skel_ring_geometry(skel->obj, skel->rodata, &r) < 7) return fail("geometry globals", -1);
	skel->rodata->requests = requests;
	skel->rodata->depth = depth;
	skel->struct_ops.stream_ops->ring_fd = r.fd;
	if (struct_size(skel->obj, "Event") != sizeof(struct event)) return fail("struct Event differs from the record type", struct_size(skel->obj, "Event"));
	if ((err = events__load(skel))) return fail("load", err);
	if ((err = events__attach(skel))) return fail("attach", err);
	long ret = skel_ring_run(&r);
	printf("SKEL {\"ret\":%ld,\"attached\":%d,\"globals\":{\"status\":%d,\"submitted\":%u,\"completed\":%u,\"dropped\":%u},\"maps\":{\"events\":[",
	       ret, skel->links.stream_ops != NULL, skel->data->status, skel->bss->submitted, skel->bss->completed, skel->bss->dropped);
	struct records c = { 0, 0 };
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_record, &c, NULL);
	if (!rb) return fail("ring_buffer__new", -errno);
	int consumed = ring_buffer__consume(rb);
	printf("]},\"consumed\":%d,\"bad_size\":%d}\n", consumed, c.bad_size);
	ring_buffer__free(rb);
	events__destroy(skel);
	close(r.fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "latency")) return run_latency(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "events")) return run_events(atoi(argv[2]), atoi(argv[3]));
	fprintf(stderr, "usage: skel-maps latency REQUESTS DEPTH BASE_US | skel-maps events REQUESTS DEPTH\n");
	return 2;
}
