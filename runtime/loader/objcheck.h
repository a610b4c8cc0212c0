/*
 * objcheck: structural validation of a BPF ELF object before libbpf (or the loader) reads it.
 *
 * The loader runs as root and libbpf 1.4.6 trusts parts of the file (a `.struct_ops.link` variable offset
 * near 2^32 wraps a 32-bit bounds check in init_struct_ops_maps; a symbol value near 2^64 wraps
 * bpf_object_open's program bounds check). Every offset, size and count below is checked against the
 * buffer it indexes, with 64-bit arithmetic, before anything uses it:
 *   ELF    header, section headers, section bounds and names, the symbol table (names, section indices,
 *          values and sizes inside their sections), relocations (symbol index, offset inside the target,
 *          ld_imm64 pairs), instruction sections (whole instructions, no ld_imm64 cut in half);
 *   BTF    header, type and string sections, every type record inside the type section, every type id
 *          and name offset, INT sizes and bit layouts, struct/union members inside their struct,
 *          array sizes without overflow, DATASEC entries inside the datasec and the ELF section (or the
 *          symbol that places them), the struct_ops variables inside `.struct_ops*`, type chains no
 *          deeper than OBJCHECK_MAX_DEPTH and no type that contains itself;
 *   BTF.ext header, func_info/line_info/core_relo records, their string offsets and type ids.
 * Returns 0 when the object is well formed; otherwise -1 with a one-line reason in `msg`.
 */
#ifndef URINGBPF_OBJCHECK_H
#define URINGBPF_OBJCHECK_H
#include <stddef.h>

#define OBJCHECK_MAX_DEPTH 32           /* type resolution depth (the kernel's MAX_RESOLVE_DEPTH) */
#define OBJCHECK_MAX_FILE (64u << 20)   /* larger files are refused before they are read */
#define OBJCHECK_MAX_TYPES (1u << 20)
#define OBJCHECK_MAX_SYMBOLS (1u << 20)

int objcheck_buf(const unsigned char *data, size_t len, char *msg, size_t msglen);
int objcheck_file(const char *path, char *msg, size_t msglen);

#endif
