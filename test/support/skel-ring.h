/*
 * What a C user of a uringbpf skeleton does before load, shared by the skeleton programs in test/support:
 * create the ring (the flags the loop needs), register a MEM region when the program has a layout, and fill
 * the hidden ring-geometry globals through geometry.h (generated from compiler/contract/geometry.ts) by
 * name, found in the object's .rodata DATASEC, so no offset is written by hand.
 */
#ifndef SKEL_RING_H
#define SKEL_RING_H

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "geometry.h"

struct skel_ring {
	int fd;
	struct io_uring_params p;
	void *mem;
	unsigned long long mem_size;
};

/* io_uring_setup with SQ entries `sq` and CQ entries `cq`; 0 or -errno. */
static inline int skel_ring_create(struct skel_ring *r, unsigned sq, unsigned cq)
{
	memset(r, 0, sizeof(*r));
	r->p.flags = IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_NO_SQARRAY |
		     IORING_SETUP_CQSIZE | IORING_SETUP_SQ_REWIND;
	r->p.cq_entries = cq;
	r->fd = (int)syscall(__NR_io_uring_setup, sq, &r->p);
	return r->fd < 0 ? -errno : 0;
}

/* The size of the program's MEM layout (the pointee of hidden global uringbpf_mem_layout), or 0. */
static inline long long skel_mem_layout_size(struct bpf_object *obj)
{
	struct btf *btf = bpf_object__btf(obj);
	int id = btf ? btf__find_by_name_kind(btf, "uringbpf_mem_layout", BTF_KIND_VAR) : -1;
	if (id < 0) return 0;
	int ptr = btf__resolve_type(btf, btf__type_by_id(btf, id)->type);
	const struct btf_type *t = ptr < 0 ? NULL : btf__type_by_id(btf, ptr);
	return t && btf_is_ptr(t) ? btf__resolve_size(btf, t->type) : 0;
}

/* Register a MEM region of `size` bytes (rounded up to pages) as region 0; 0 or -errno. */
static inline int skel_ring_mem(struct skel_ring *r, unsigned long long size)
{
	long page = sysconf(_SC_PAGESIZE);
	r->mem_size = (size + page - 1) / page * page;
	r->mem = mmap(NULL, r->mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (r->mem == MAP_FAILED) return -errno;
	struct io_uring_region_desc rd = { .user_addr = (unsigned long long)(uintptr_t)r->mem, .size = r->mem_size,
					   .flags = IORING_MEM_REGION_TYPE_USER };
	struct io_uring_mem_region_reg reg = { .region_uptr = (unsigned long long)(uintptr_t)&rd };
	return syscall(__NR_io_uring_register, r->fd, IORING_REGISTER_MEM_REGION, &reg, 1) < 0 ? -errno : 0;
}

struct skel_rodata { const struct btf *btf; const struct btf_type *ds; unsigned char *data; int set; };

static inline void skel_set_global(const char *name, unsigned long long value, int size, void *arg)
{
	struct skel_rodata *c = arg;
	const struct btf_var_secinfo *v = btf_var_secinfos(c->ds);
	for (int i = 0; i < btf_vlen(c->ds); i++, v++) {
		const struct btf_type *var = btf__type_by_id(c->btf, v->type);
		if (strcmp(btf__name_by_offset(c->btf, var->name_off), name) || (int)v->size != size) continue;
		memcpy(c->data + v->offset, &value, size); /* little-endian: the low `size` bytes */
		c->set++;
	}
}

/* Fill every geometry global the object has in its .rodata (`rodata` is the skeleton's skel->rodata);
 * returns how many were set, or -1 without BTF. */
static inline int skel_ring_geometry(struct bpf_object *obj, void *rodata, const struct skel_ring *r)
{
	const struct btf *btf = bpf_object__btf(obj);
	int id = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -1;
	if (id < 0) return -1;
	struct skel_rodata c = { btf, btf__type_by_id(btf, id), rodata, 0 };
	struct uringbpf_geometry_inputs in = {
		.sq_entries = r->p.sq_entries, .cq_entries = r->p.cq_entries, .cq_off_head = r->p.cq_off.head,
		.cq_off_tail = r->p.cq_off.tail, .cq_off_cqes = r->p.cq_off.cqes, .sqe_size = 64, .cqe_size = 16,
		.mem_size = r->mem_size, .mem_uaddr = (unsigned long long)(uintptr_t)r->mem,
	};
	uringbpf_geometry(&in, skel_set_global, &c);
	return c.set;
}

/* Run the loop: one io_uring_enter(GETEVENTS); its result or -errno. */
static inline long skel_ring_run(const struct skel_ring *r)
{
	long ret = syscall(__NR_io_uring_enter, r->fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
	return ret < 0 ? -(long)errno : ret;
}

#endif
