/*
 * uringbpf's userspace engine addon (Node-API): a real io_uring ring for the BPF interpreter to drive.
 * It creates the ring with raw syscalls, maps the rings and the SQE array, and exposes them to JavaScript
 * as ArrayBuffers over the kernel-shared memory, plus page-aligned buffers whose real addresses the
 * program can put into SQEs, io_uring_enter, and MEM-region registration. No liburing: the static
 * library is not position-independent, and the handful of syscalls is all the engine needs.
 *
 *   setup(sqEntries, cqEntries, flags) -> { fd, flags, sqEntries, cqEntries, sqOff: {...}, cqOff: {...},
 *                                          rings: ArrayBuffer, sqes: ArrayBuffer }
 *   enter(fd, toSubmit, minComplete, flags) -> int (>= 0, or -errno)
 *   alloc(size) -> { buffer: ArrayBuffer, addr: BigInt }   (zeroed, page-aligned; lives until exit)
 *   registerMemRegion(fd, addr: BigInt, size) -> int (0 or -errno)
 *   close(fd)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <linux/io_uring.h>
#include <node_api.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "uringbpf addon: Node-API call failed: " #call); return NULL; } } while (0)

static napi_value throw_errno(napi_env env, const char *what, int err)
{
	char msg[256];
	snprintf(msg, sizeof(msg), "%s: %s", what, strerror(err));
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

static uint32_t u32_of(napi_env env, napi_value v)
{
	uint32_t x = 0;
	napi_get_value_uint32(env, v, &x);
	return x;
}

static void set_u32(napi_env env, napi_value obj, const char *name, uint32_t v)
{
	napi_value x;
	napi_create_uint32(env, v, &x);
	napi_set_named_property(env, obj, name, x);
}

/* An ArrayBuffer over memory that outlives it (ring mappings, engine buffers: released at exit). */
static napi_value external(napi_env env, void *p, size_t len)
{
	napi_value ab;
	if (napi_create_external_arraybuffer(env, p, len, NULL, NULL, &ab) != napi_ok) return NULL;
	return ab;
}

static napi_value setup(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	if (args(env, info, 3, argv)) return NULL;
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = u32_of(env, argv[2]);
	p.cq_entries = u32_of(env, argv[1]);
	int fd = (int)syscall(__NR_io_uring_setup, u32_of(env, argv[0]), &p);
	if (fd < 0) return throw_errno(env, "io_uring_setup", errno);
	size_t rings_len = p.cq_off.cqes + p.cq_entries * (p.flags & IORING_SETUP_CQE32 ? 32 : 16);
	size_t sq_len = p.sq_off.array + (p.flags & IORING_SETUP_NO_SQARRAY ? 0 : p.sq_entries * 4);
	if (sq_len > rings_len) rings_len = sq_len;
	if (!(p.features & IORING_FEAT_SINGLE_MMAP)) {
		close(fd);
		return throw_errno(env, "io_uring without IORING_FEAT_SINGLE_MMAP is not supported", ENOTSUP);
	}
	void *rings = mmap(NULL, rings_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
	if (rings == MAP_FAILED) { int e = errno; close(fd); return throw_errno(env, "mmap rings", e); }
	size_t sqes_len = p.sq_entries * (p.flags & IORING_SETUP_SQE128 ? 128 : 64);
	void *sqes = mmap(NULL, sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
	if (sqes == MAP_FAILED) { int e = errno; close(fd); return throw_errno(env, "mmap SQEs", e); }

	napi_value out, sq, cq;
	CHECK(napi_create_object(env, &out));
	CHECK(napi_create_object(env, &sq));
	CHECK(napi_create_object(env, &cq));
	set_u32(env, out, "fd", fd);
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
	CHECK(napi_set_named_property(env, out, "rings", external(env, rings, rings_len)));
	CHECK(napi_set_named_property(env, out, "sqes", external(env, sqes, sqes_len)));
	return out;
}

static napi_value enter(napi_env env, napi_callback_info info)
{
	napi_value argv[4], r;
	if (args(env, info, 4, argv)) return NULL;
	int ret = (int)syscall(__NR_io_uring_enter, u32_of(env, argv[0]), u32_of(env, argv[1]), u32_of(env, argv[2]),
			       u32_of(env, argv[3]), NULL, 0);
	CHECK(napi_create_int32(env, ret < 0 ? -errno : ret, &r));
	return r;
}

static napi_value alloc(napi_env env, napi_callback_info info)
{
	napi_value argv[1], out, addr;
	if (args(env, info, 1, argv)) return NULL;
	size_t size = u32_of(env, argv[0]);
	long page = sysconf(_SC_PAGESIZE);
	size_t len = size ? (size + page - 1) / page * page : (size_t)page;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED) return throw_errno(env, "mmap buffer", errno);
	CHECK(napi_create_object(env, &out));
	CHECK(napi_set_named_property(env, out, "buffer", external(env, p, len)));
	CHECK(napi_create_bigint_uint64(env, (uint64_t)(uintptr_t)p, &addr));
	CHECK(napi_set_named_property(env, out, "addr", addr));
	return out;
}

static napi_value register_mem_region(napi_env env, napi_callback_info info)
{
	napi_value argv[3], r;
	if (args(env, info, 3, argv)) return NULL;
	uint64_t addr = 0;
	bool lossless;
	napi_get_value_bigint_uint64(env, argv[1], &addr, &lossless);
	struct io_uring_region_desc rd;
	memset(&rd, 0, sizeof(rd));
	rd.user_addr = addr;
	rd.size = u32_of(env, argv[2]);
	rd.flags = IORING_MEM_REGION_TYPE_USER;
	struct io_uring_mem_region_reg reg;
	memset(&reg, 0, sizeof(reg));
	reg.region_uptr = (uint64_t)(uintptr_t)&rd;
	int ret = (int)syscall(__NR_io_uring_register, u32_of(env, argv[0]), IORING_REGISTER_MEM_REGION, &reg, 1);
	CHECK(napi_create_int32(env, ret < 0 ? -errno : ret, &r));
	return r;
}

static napi_value close_fd(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	if (args(env, info, 1, argv)) return NULL;
	close((int)u32_of(env, argv[0]));
	return NULL;
}

NAPI_MODULE_INIT()
{
	napi_property_descriptor fns[] = {
		{ "setup", NULL, setup, NULL, NULL, NULL, napi_default, NULL },
		{ "enter", NULL, enter, NULL, NULL, NULL, napi_default, NULL },
		{ "alloc", NULL, alloc, NULL, NULL, NULL, napi_default, NULL },
		{ "registerMemRegion", NULL, register_mem_region, NULL, NULL, NULL, napi_default, NULL },
		{ "close", NULL, close_fd, NULL, NULL, NULL, napi_default, NULL },
	};
	napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns);
	return exports;
}
