/*
 * uringbpf's userspace engine addon (Node-API): a real io_uring ring for the BPF interpreter to drive.
 * It talks to the kernel with the three io_uring system calls directly and carries the few UAPI
 * definitions it needs (below), so it builds with any C compiler and Node's headers alone: no liburing,
 * no kernel headers newer than the machine's. JavaScript gets the rings structure and the SQE array as
 * ArrayBuffers over the kernel-shared memory, page-aligned buffers whose real addresses a program can put
 * into SQEs, raw io_uring_enter and MEM-region registration.
 *
 *   setup(sqEntries, cqEntries, flags) -> { fd, flags, features, sqEntries, cqEntries,
 *                                          sqOff: {head, tail, ringMask, flags, array},
 *                                          cqOff: {head, tail, ringMask, cqes}, rings: ArrayBuffer,
 *                                          sqes: ArrayBuffer }          (throws "io_uring_setup: <errno>")
 *   enter(fd, toSubmit, minComplete, flags[, timeoutNs]) -> int (>= 0, or -errno: the caller decides what
 *                                          is fatal); a timeoutNs > 0 bounds a GETEVENTS wait (EXT_ARG): -ETIME
 *   alloc(size) -> { buffer: ArrayBuffer, addr: BigInt }    (zeroed, page-aligned, until free(addr))
 *   free(addr)                                              (detaches the buffer, unmaps the memory)
 *   registerMemRegion(fd, addr: BigInt, size) -> int (0 or -errno)
 *   registerRingFd(fd) -> int    (the index for enter(index, ..., flags | ENTER_REGISTERED_RING), or -errno)
 *   close(fd)                    (detaches the ring's ArrayBuffers, unmaps the ring, closes the fd)
 *   constants: { SETUP_SQ_REWIND, ENTER_REGISTERED_RING }
 *
 * Memory that JavaScript can still reach is never unmapped behind its back: close() and free() detach the
 * ArrayBuffers first, so a late access sees an empty buffer instead of a dangling pointer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* --- the io_uring UAPI this file uses (Linux's include/uapi/linux/io_uring.h; values are ABI) ---------- */
#if !defined(__x86_64__) && !defined(__aarch64__)
#error "uringbpf addon: the io_uring system call numbers below are those of x86-64 and arm64"
#endif
#define UBPF_NR_SETUP 425
#define UBPF_NR_ENTER 426
#define UBPF_NR_REGISTER 427

#define UBPF_SETUP_SQE128 (1U << 10)
#define UBPF_SETUP_CQE32 (1U << 11)
#define UBPF_SETUP_SQ_REWIND (1U << 20) /* Linux 7.1 */
#define UBPF_FEAT_SINGLE_MMAP (1U << 0)
#define UBPF_OFF_SQ_RING 0ULL
#define UBPF_OFF_SQES 0x10000000ULL
#define UBPF_REGISTER_MEM_REGION 34
#define UBPF_REGISTER_RING_FDS 20
#define UBPF_UNREGISTER_RING_FDS 21
#define UBPF_ENTER_REGISTERED_RING (1U << 4)
#define UBPF_MEM_REGION_TYPE_USER 1

struct ubpf_sq_offsets {
	uint32_t head, tail, ring_mask, ring_entries, flags, dropped, array, resv1;
	uint64_t user_addr;
};
struct ubpf_cq_offsets {
	uint32_t head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1;
	uint64_t user_addr;
};
struct ubpf_params {
	uint32_t sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle, features, wq_fd, resv[3];
	struct ubpf_sq_offsets sq_off;
	struct ubpf_cq_offsets cq_off;
};
struct ubpf_region_desc {
	uint64_t user_addr, size;
	uint32_t flags, id;
	uint64_t mmap_offset, resv[4];
};
struct ubpf_mem_region_reg {
	uint64_t region_uptr, flags, resv[2];
};
struct ubpf_rsrc_update {
	uint32_t offset, resv;
	uint64_t data;
};
_Static_assert(sizeof(struct ubpf_params) == 120, "io_uring_params is 120 bytes");
_Static_assert(sizeof(struct ubpf_region_desc) == 64, "io_uring_region_desc is 64 bytes");
_Static_assert(sizeof(struct ubpf_mem_region_reg) == 32, "io_uring_mem_region_reg is 32 bytes");
_Static_assert(sizeof(struct ubpf_rsrc_update) == 16, "io_uring_rsrc_update is 16 bytes");

static int sys_setup(uint32_t entries, struct ubpf_params *p)
{
	long r = syscall(UBPF_NR_SETUP, entries, p);
	return r < 0 ? -errno : (int)r;
}

static int sys_enter(int fd, uint32_t to_submit, uint32_t min_complete, uint32_t flags)
{
	long r = syscall(UBPF_NR_ENTER, fd, to_submit, min_complete, flags, NULL, 0);
	return r < 0 ? -errno : (int)r;
}

#define UBPF_ENTER_GETEVENTS (1U << 0)
#define UBPF_ENTER_EXT_ARG (1U << 3)
struct ubpf_timespec {
	int64_t tv_sec;
	long long tv_nsec;
};
struct ubpf_getevents_arg {
	uint64_t sigmask;
	uint32_t sigmask_sz;
	uint32_t min_wait_usec;
	uint64_t ts;
};

/* A GETEVENTS wait bounded by timeout_ns (IORING_ENTER_EXT_ARG): -ETIME when the time passes first. */
static int sys_enter_timeout(int fd, uint32_t to_submit, uint32_t min_complete, uint32_t flags, double timeout_ns)
{
	struct ubpf_timespec ts;
	struct ubpf_getevents_arg ga;
	memset(&ga, 0, sizeof(ga));
	ts.tv_sec = (int64_t)(timeout_ns / 1e9);
	ts.tv_nsec = (long long)(timeout_ns - (double)ts.tv_sec * 1e9);
	if (ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000) ts.tv_nsec = 0;
	ga.ts = (uint64_t)(uintptr_t)&ts;
	long r = syscall(UBPF_NR_ENTER, fd, to_submit, min_complete, flags | UBPF_ENTER_EXT_ARG, &ga, sizeof(ga));
	return r < 0 ? -errno : (int)r;
}

static int sys_register(int fd, uint32_t op, void *arg, uint32_t nr)
{
	long r = syscall(UBPF_NR_REGISTER, fd, op, arg, nr);
	return r < 0 ? -errno : (int)r;
}

#define CHECK(call)                                                                                   \
	do {                                                                                          \
		if ((call) != napi_ok) {                                                              \
			napi_throw_error(env, NULL, "uringbpf addon: Node-API call failed: " #call); \
			return NULL;                                                                  \
		}                                                                                     \
	} while (0)

/* One live ring or buffer: what close()/free() must detach and release. */
struct mapping {
	struct mapping *next;
	int fd;			/* the ring's fd, or -1 for a buffer */
	int is_ring;
	int reg_index;		/* rings only: the index registerRingFd got (IORING_REGISTER_RING_FDS), or -1 */
	void *addr;		/* a buffer, or the ring's rings mapping */
	size_t len;
	void *sqes;		/* rings only: the SQE array mapping */
	size_t sqes_len;
	napi_ref views[2];	/* the ArrayBuffers handed out over this memory */
};

static struct mapping *live;
/* Node may load the addon in several threads (workers): the list is shared, so it is locked. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;

static void push_mapping(struct mapping *m)
{
	pthread_mutex_lock(&live_lock);
	m->next = live;
	live = m;
	pthread_mutex_unlock(&live_lock);
}

static napi_value throw_errno(napi_env env, const char *what, int err)
{
	char msg[256];
	snprintf(msg, sizeof(msg), "%s: %s (errno %d)", what, strerror(err), err);
	napi_throw_error(env, NULL, msg);
	return NULL;
}

static int args(napi_env env, napi_callback_info info, size_t want, napi_value *argv)
{
	size_t argc = want;
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
		napi_throw_type_error(env, NULL, "uringbpf addon: missing arguments");
		return -1;
	}
	return 0;
}

static int u32_arg(napi_env env, napi_value v, uint32_t *out)
{
	if (napi_get_value_uint32(env, v, out) != napi_ok) {
		napi_throw_type_error(env, NULL, "uringbpf addon: expected a number");
		return -1;
	}
	return 0;
}

static int u64_arg(napi_env env, napi_value v, uint64_t *out)
{
	bool lossless;
	if (napi_get_value_bigint_uint64(env, v, out, &lossless) != napi_ok) {
		napi_throw_type_error(env, NULL, "uringbpf addon: expected a BigInt");
		return -1;
	}
	return 0;
}

static void set_u32(napi_env env, napi_value obj, const char *name, uint32_t v)
{
	napi_value x;
	if (napi_create_uint32(env, v, &x) == napi_ok) napi_set_named_property(env, obj, name, x);
}

/* An ArrayBuffer over memory this file owns; a weak reference is kept so it can be detached. */
static napi_value view(napi_env env, void *p, size_t len, napi_ref *ref)
{
	napi_value ab;
	if (napi_create_external_arraybuffer(env, p, len, NULL, NULL, &ab) != napi_ok) return NULL;
	if (napi_create_reference(env, ab, 0, ref) != napi_ok) return NULL;
	return ab;
}

static void detach_views(napi_env env, struct mapping *m)
{
	for (int i = 0; i < 2; i++) {
		napi_value ab;
		if (!m->views[i]) continue;
		if (napi_get_reference_value(env, m->views[i], &ab) == napi_ok && ab) napi_detach_arraybuffer(env, ab);
		napi_delete_reference(env, m->views[i]);
		m->views[i] = NULL;
	}
}

/* Remove and return the ring with this fd (fd >= 0) or the buffer at addr. */
static struct mapping *unlink_mapping(int fd, void *addr)
{
	struct mapping *found = NULL;
	pthread_mutex_lock(&live_lock);
	for (struct mapping **pp = &live; *pp; pp = &(*pp)->next) {
		struct mapping *m = *pp;
		if ((fd >= 0 && m->is_ring && m->fd == fd) || (addr && !m->is_ring && m->addr == addr)) {
			*pp = m->next;
			found = m;
			break;
		}
	}
	pthread_mutex_unlock(&live_lock);
	return found;
}

static napi_value setup(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	uint32_t entries, cq_entries, flags;
	if (args(env, info, 3, argv) || u32_arg(env, argv[0], &entries) || u32_arg(env, argv[1], &cq_entries) ||
	    u32_arg(env, argv[2], &flags))
		return NULL;
	struct ubpf_params p;
	memset(&p, 0, sizeof(p));
	p.flags = flags;
	p.cq_entries = cq_entries;
	int fd = sys_setup(entries, &p);
	if (fd < 0) return throw_errno(env, "io_uring_setup", -fd);
	if (!(p.features & UBPF_FEAT_SINGLE_MMAP)) {
		close(fd);
		return throw_errno(env, "io_uring without IORING_FEAT_SINGLE_MMAP", ENOTSUP);
	}
	/* One mapping holds the SQ and CQ rings (IORING_FEAT_SINGLE_MMAP): the larger of the two extents. */
	size_t sq_len = (size_t)p.sq_off.array + (size_t)p.sq_entries * sizeof(uint32_t);
	size_t cq_len = (size_t)p.cq_off.cqes + (size_t)p.cq_entries * (p.flags & UBPF_SETUP_CQE32 ? 32 : 16);
	size_t rings_len = sq_len > cq_len ? sq_len : cq_len;
	size_t sqes_len = (size_t)p.sq_entries * (p.flags & UBPF_SETUP_SQE128 ? 128 : 64);
	void *rings = mmap(NULL, rings_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, UBPF_OFF_SQ_RING);
	if (rings == MAP_FAILED) {
		int e = errno;
		close(fd);
		return throw_errno(env, "mmap io_uring rings", e);
	}
	void *sqes = mmap(NULL, sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, UBPF_OFF_SQES);
	if (sqes == MAP_FAILED) {
		int e = errno;
		munmap(rings, rings_len);
		close(fd);
		return throw_errno(env, "mmap io_uring SQEs", e);
	}
	struct mapping *m = calloc(1, sizeof(*m));
	if (!m) {
		munmap(sqes, sqes_len);
		munmap(rings, rings_len);
		close(fd);
		return throw_errno(env, "io_uring_setup", ENOMEM);
	}
	m->fd = fd;
	m->is_ring = 1;
	m->reg_index = -1;
	m->addr = rings;
	m->len = rings_len;
	m->sqes = sqes;
	m->sqes_len = sqes_len;
	push_mapping(m);

	napi_value out, sq, cq, ab;
	CHECK(napi_create_object(env, &out));
	CHECK(napi_create_object(env, &sq));
	CHECK(napi_create_object(env, &cq));
	set_u32(env, out, "fd", (uint32_t)fd);
	set_u32(env, out, "flags", p.flags);
	set_u32(env, out, "features", p.features);
	set_u32(env, out, "sqEntries", p.sq_entries);
	set_u32(env, out, "cqEntries", p.cq_entries);
	set_u32(env, sq, "head", p.sq_off.head);
	set_u32(env, sq, "tail", p.sq_off.tail);
	set_u32(env, sq, "ringMask", p.sq_off.ring_mask);
	set_u32(env, sq, "flags", p.sq_off.flags);
	set_u32(env, sq, "array", p.sq_off.array);
	set_u32(env, cq, "head", p.cq_off.head);
	set_u32(env, cq, "tail", p.cq_off.tail);
	set_u32(env, cq, "ringMask", p.cq_off.ring_mask);
	set_u32(env, cq, "cqes", p.cq_off.cqes);
	CHECK(napi_set_named_property(env, out, "sqOff", sq));
	CHECK(napi_set_named_property(env, out, "cqOff", cq));
	if (!(ab = view(env, rings, rings_len, &m->views[0]))) return throw_errno(env, "ArrayBuffer over the rings", ENOMEM);
	CHECK(napi_set_named_property(env, out, "rings", ab));
	if (!(ab = view(env, sqes, sqes_len, &m->views[1]))) return throw_errno(env, "ArrayBuffer over the SQEs", ENOMEM);
	CHECK(napi_set_named_property(env, out, "sqes", ab));
	return out;
}

static napi_value enter(napi_env env, napi_callback_info info)
{
	napi_value argv[5] = { NULL }, r;
	uint32_t fd, to_submit, min_complete, flags;
	size_t argc = 5;
	double timeout_ns = 0;
	/* One napi_get_cb_info for the 4 arguments and the optional fifth (this is called at every step). */
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) {
		napi_throw_type_error(env, NULL, "uringbpf addon: missing arguments");
		return NULL;
	}
	if (u32_arg(env, argv[0], &fd) || u32_arg(env, argv[1], &to_submit) || u32_arg(env, argv[2], &min_complete) ||
	    u32_arg(env, argv[3], &flags))
		return NULL;
	if (argc >= 5) {
		napi_valuetype t;
		if (napi_typeof(env, argv[4], &t) == napi_ok && t == napi_number) napi_get_value_double(env, argv[4], &timeout_ns);
	}
	int ret = timeout_ns > 0 && (flags & UBPF_ENTER_GETEVENTS) ? sys_enter_timeout((int)fd, to_submit, min_complete, flags, timeout_ns)
								    : sys_enter((int)fd, to_submit, min_complete, flags); /* -errno on failure */
	CHECK(napi_create_int32(env, ret, &r));
	return r;
}

static napi_value alloc(napi_env env, napi_callback_info info)
{
	napi_value argv[1], out, addr, ab;
	uint32_t size;
	if (args(env, info, 1, argv) || u32_arg(env, argv[0], &size)) return NULL;
	long page = sysconf(_SC_PAGESIZE);
	size_t len = size ? ((size_t)size + page - 1) / page * page : (size_t)page;
	struct mapping *m = calloc(1, sizeof(*m));
	if (!m) return throw_errno(env, "buffer", ENOMEM);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED) {
		int e = errno;
		free(m);
		return throw_errno(env, "mmap buffer", e);
	}
	m->fd = -1;
	m->addr = p;
	m->len = len;
	push_mapping(m);
	CHECK(napi_create_object(env, &out));
	if (!(ab = view(env, p, len, &m->views[0]))) return throw_errno(env, "ArrayBuffer over a buffer", ENOMEM);
	CHECK(napi_set_named_property(env, out, "buffer", ab));
	CHECK(napi_create_bigint_uint64(env, (uint64_t)(uintptr_t)p, &addr));
	CHECK(napi_set_named_property(env, out, "addr", addr));
	return out;
}

static napi_value free_buffer(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	uint64_t addr;
	if (args(env, info, 1, argv) || u64_arg(env, argv[0], &addr)) return NULL;
	struct mapping *m = addr ? unlink_mapping(-1, (void *)(uintptr_t)addr) : NULL;
	if (!m) return throw_errno(env, "free: not a buffer of this addon", EINVAL);
	detach_views(env, m);
	munmap(m->addr, m->len);
	free(m);
	return NULL;
}

static napi_value register_mem_region(napi_env env, napi_callback_info info)
{
	napi_value argv[3], r;
	uint32_t fd, size;
	uint64_t addr;
	if (args(env, info, 3, argv) || u32_arg(env, argv[0], &fd) || u64_arg(env, argv[1], &addr) ||
	    u32_arg(env, argv[2], &size))
		return NULL;
	int found = 0;
	pthread_mutex_lock(&live_lock);
	for (struct mapping *m = live; m && !found; m = m->next)
		if (m->is_ring && m->fd == (int)fd) found = 1;
	pthread_mutex_unlock(&live_lock);
	if (!found) return throw_errno(env, "registerMemRegion: not a ring of this addon", EBADF);
	struct ubpf_region_desc rd;
	memset(&rd, 0, sizeof(rd));
	rd.user_addr = addr;
	rd.size = size;
	rd.flags = UBPF_MEM_REGION_TYPE_USER;
	struct ubpf_mem_region_reg reg;
	memset(&reg, 0, sizeof(reg));
	reg.region_uptr = (uint64_t)(uintptr_t)&rd;
	CHECK(napi_create_int32(env, sys_register((int)fd, UBPF_REGISTER_MEM_REGION, &reg, 1), &r));
	return r;
}

/* IORING_REGISTER_RING_FDS: io_uring_enter(index, ..., IORING_ENTER_REGISTERED_RING) then skips the
 * file-table lookup of the fd. The index belongs to the calling thread; close() unregisters it. */
static napi_value register_ring_fd(napi_env env, napi_callback_info info)
{
	napi_value argv[1], r;
	uint32_t fd;
	if (args(env, info, 1, argv) || u32_arg(env, argv[0], &fd)) return NULL;
	struct mapping *ring = NULL;
	int ret = 0;
	/* Under the lock: the ring stays in the list (a close from another thread waits). */
	pthread_mutex_lock(&live_lock);
	for (struct mapping *m = live; m && !ring; m = m->next)
		if (m->is_ring && m->fd == (int)fd) ring = m;
	if (ring && (ret = ring->reg_index) < 0) {
		struct ubpf_rsrc_update u;
		memset(&u, 0, sizeof(u));
		u.offset = UINT32_MAX; /* any free slot: the kernel writes the one it took */
		u.data = fd;
		ret = sys_register((int)fd, UBPF_REGISTER_RING_FDS, &u, 1);
		if (ret == 1 && u.offset <= INT32_MAX) ret = ring->reg_index = (int)u.offset;
		else if (ret >= 0) ret = -EIO;
	}
	pthread_mutex_unlock(&live_lock);
	if (!ring) return throw_errno(env, "registerRingFd: not a ring of this addon", EBADF);
	CHECK(napi_create_int32(env, ret, &r));
	return r;
}

static napi_value close_ring(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	uint32_t fd;
	if (args(env, info, 1, argv) || u32_arg(env, argv[0], &fd)) return NULL;
	struct mapping *m = unlink_mapping((int)fd, NULL);
	if (!m) return throw_errno(env, "close: not a ring of this addon", EBADF);
	detach_views(env, m);
	if (m->reg_index >= 0) {
		/* The registration holds a reference to the ring's file: drop it before the fd. */
		struct ubpf_rsrc_update u;
		memset(&u, 0, sizeof(u));
		u.offset = (uint32_t)m->reg_index;
		sys_register(m->fd, UBPF_UNREGISTER_RING_FDS, &u, 1);
	}
	munmap(m->sqes, m->sqes_len);
	munmap(m->addr, m->len);
	close(m->fd);
	free(m);
	return NULL;
}

NAPI_MODULE_INIT()
{
	napi_value constants;
	napi_property_descriptor fns[] = {
		{ "setup", NULL, setup, NULL, NULL, NULL, napi_default, NULL },
		{ "enter", NULL, enter, NULL, NULL, NULL, napi_default, NULL },
		{ "alloc", NULL, alloc, NULL, NULL, NULL, napi_default, NULL },
		{ "free", NULL, free_buffer, NULL, NULL, NULL, napi_default, NULL },
		{ "registerMemRegion", NULL, register_mem_region, NULL, NULL, NULL, napi_default, NULL },
		{ "registerRingFd", NULL, register_ring_fd, NULL, NULL, NULL, napi_default, NULL },
		{ "close", NULL, close_ring, NULL, NULL, NULL, napi_default, NULL },
	};
	if (napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns) != napi_ok) return NULL;
	if (napi_create_object(env, &constants) != napi_ok) return NULL;
	set_u32(env, constants, "SETUP_SQ_REWIND", UBPF_SETUP_SQ_REWIND);
	set_u32(env, constants, "ENTER_REGISTERED_RING", UBPF_ENTER_REGISTERED_RING);
	napi_set_named_property(env, exports, "constants", constants);
	return exports;
}
