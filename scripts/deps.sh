#!/usr/bin/env bash
# Installs what uringbpf needs. Idempotent: safe to run repeatedly, fast when everything is present.
#
#   scripts/deps.sh host    apt-get install the host tools (qemu, busybox-static, llvm, clang, clang-19/llvm-19 for cpu v4, gcc, libelf...)
#   scripts/deps.sh build   fetch libbpf 1.4 / bpftool 7.5 (bookworm-backports) and liburing 2.15 +
#                           UAPI headers (sid) into the sysroot, then build the native programs
#   scripts/deps.sh all     host + build + scripts/fetch-kernel.sh (if present)   [default]
#
# Everything fetched goes under $UBPF_CACHE (default .cache/uringbpf):
#   debs/     downloaded .deb files          sysroot/  their extracted contents
#   bin/      uringbpf-loader, uringbpf-nopbench (static), uringbpf-loader-asan (ASan+UBSan, host only),
#             uring.node (the userspace engine's addon)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UBPF_CACHE="${UBPF_CACHE:-$ROOT/.cache/uringbpf}"
export UBPF_CACHE
DEBS="$UBPF_CACHE/debs"
SYSROOT="$UBPF_CACHE/sysroot"
BIN="$UBPF_CACHE/bin"

say() { echo "deps: $*"; }
die() { echo "deps: error: $*" >&2; exit 1; }

HOST_PKGS=(qemu-system-x86 busybox-static llvm llvm-19 clang clang-19 gcc make libelf-dev zlib1g-dev libzstd-dev cpio)

deps_host() {
  local missing=() p
  for p in "${HOST_PKGS[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "host packages present"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "need root to install: ${missing[*]}"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# pick_version PKG SUITE PATTERN: the newest version of PKG that apt offers from SUITE and that matches
# the shell glob PATTERN (asked from apt, not pinned).
pick_version() {
  local pkg="$1" suite="$2" pat="$3" v
  while read -r v; do
    # shellcheck disable=SC2053
    if [[ "$v" == $pat ]]; then echo "$v"; return 0; fi
  done < <(apt_private_cache madison "$pkg" |
           awk -F'|' -v s=" $suite/" 'index($3, s) { gsub(/ /, "", $2); print $2 }' | sort -Vr)
  return 1
}

# fetch PKG SUITE PATTERN: download the .deb (cached) and extract it into the sysroot (once per version).
fetch() {
  local pkg="$1" suite="$2" pat="$3" ver deb stamp
  deb=$(ls "$DEBS/${pkg}_"*.deb 2>/dev/null | head -n1 || true)
  if [ -z "$deb" ]; then
    apt_private_init
    ver=$(pick_version "$pkg" "$suite" "$pat") || die "apt offers no $pkg from $suite matching '$pat'"
    say "download $pkg $ver ($suite)"
    # apt warns that _apt cannot write into the cache directory and downloads as root: harmless.
    apt_private_download "$DEBS" "$pkg=$ver" 2> >(grep -v 'unsandboxed' >&2)
    deb=$(ls "$DEBS/${pkg}_"*.deb | head -n1)
  fi
  stamp="$SYSROOT/.extracted-$(basename "$deb")"
  if [ ! -e "$stamp" ]; then
    say "extract $(basename "$deb")"
    dpkg-deb -x "$deb" "$SYSROOT"
    touch "$stamp"
  else
    say "$pkg present ($(basename "$deb"))"
  fi
}

# Build flags for the static native programs. sid's UAPI headers come first (liburing 2.15 needs them).
CFLAGS_NATIVE=()
LIBS_NATIVE=()
native_flags() {
  CFLAGS_NATIVE=(-static -O2 -g -Wall -Wextra -Wno-unused-parameter
    -I"$SYSROOT/usr/include" -I"$SYSROOT/usr/include/x86_64-linux-gnu")
  LIBS_NATIVE=(-L"$SYSROOT/usr/lib/x86_64-linux-gnu" -l:libbpf.a -l:liburing.a -lelf -lz -lzstd)
}

# build_native NAME SRC...: rebuild $BIN/NAME if a source (or a header beside it, or a library) is newer
# than the binary. BUILD_FLAGS/BUILD_LIBS (arrays) override the static flags (the sanitizer build).
build_native() {
  local name="$1"; shift
  local out="$BIN/$name" src fresh=1 dep
  local -a srcs=("$@") flags=("${CFLAGS_NATIVE[@]}") libs=("${LIBS_NATIVE[@]}")
  [ -n "${BUILD_FLAGS+x}" ] && flags=("${BUILD_FLAGS[@]}")
  [ -n "${BUILD_LIBS+x}" ] && libs=("${BUILD_LIBS[@]}")
  for src in "${srcs[@]}"; do [ -e "$src" ] || { say "skip $name (no $src)"; return 0; }; done
  if [ -e "$out" ] && [ "$out" -nt "$SYSROOT/usr/lib/x86_64-linux-gnu/libbpf.a" ]; then
    for dep in "${srcs[@]}" $(ls "$(dirname "${srcs[0]}")"/*.h 2>/dev/null); do
      [ "$out" -nt "$dep" ] || fresh=0
    done
  else
    fresh=0
  fi
  if [ "$fresh" = 1 ]; then say "$name up to date"; return 0; fi
  mkdir -p "$BIN"
  say "build $name"
  gcc "${flags[@]}" -o "$out.tmp" "${srcs[@]}" "${libs[@]}" 2> "$BIN/$name.log" || {
    cat "$BIN/$name.log" >&2; die "building $name failed"; }
  mv "$out.tmp" "$out"
}

# The loader's sources (loader.c and the validated object reader and diagnostics beside it).
LOADER_SRCS=()
loader_srcs() {
  local d="$ROOT/runtime/loader"
  LOADER_SRCS=("$d/loader.c" "$d/objcheck.c" "$d/diagnose.c")
}

deps_build() {
  # shellcheck source=apt-private.sh
  source "$ROOT/scripts/apt-private.sh"
  mkdir -p "$DEBS" "$SYSROOT"
  fetch libbpf-dev bookworm-backports '1:1.4.*~bpo12*'   # static libbpf.a + headers
  fetch libbpf1 bookworm-backports '1:1.4.*~bpo12*'      # bpftool's shared library (not the loader's)
  fetch bpftool bookworm-backports '7.5.*~bpo12*'
  fetch liburing-dev sid '2.15*'                         # liburing.a + headers
  fetch linux-libc-dev sid '*'                           # newest UAPI headers (liburing 2.15 needs them)
  local bt="$SYSROOT/usr/sbin/bpftool"
  [ -x "$bt" ] || die "bpftool missing in sysroot"
  if ! LD_LIBRARY_PATH="$SYSROOT/usr/lib/x86_64-linux-gnu" "$bt" version >/dev/null 2>&1; then
    LD_LIBRARY_PATH="$SYSROOT/usr/lib/x86_64-linux-gnu" "$bt" version >&2 || true
    die "bpftool does not run"
  fi
  say "bpftool ok: $(LD_LIBRARY_PATH="$SYSROOT/usr/lib/x86_64-linux-gnu" "$bt" version | head -n1)"
  for h in /usr/include/gelf.h /usr/include/zlib.h /usr/include/zstd.h; do
    [ -e "$h" ] || die "$h missing: run 'scripts/deps.sh host' first"
  done
  native_flags
  loader_srcs
  build_native uringbpf-loader "${LOADER_SRCS[@]}"
  # The same loader with AddressSanitizer and UBSan (dynamically linked against the host's libc, libelf,
  # zlib and zstd; libbpf and liburing stay static): for tests and the fuzz harness, host only.
  # Any sanitizer report ends the process with exit 99 (loader.c sets the sanitizer defaults).
  BUILD_FLAGS=(-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
    -Wall -Wextra -Wno-unused-parameter -I"$SYSROOT/usr/include" -I"$SYSROOT/usr/include/x86_64-linux-gnu")
  BUILD_LIBS=("$SYSROOT/usr/lib/x86_64-linux-gnu/libbpf.a" "$SYSROOT/usr/lib/x86_64-linux-gnu/liburing.a" -lelf -lz -lzstd)
  build_native uringbpf-loader-asan "${LOADER_SRCS[@]}"
  unset BUILD_FLAGS BUILD_LIBS
  build_native uringbpf-nopbench "$ROOT/runtime/loader/nopbench.c"
  build_native uringbpf-userbench "$ROOT/runtime/loader/userbench.c"
  # The userspace engine's Node-API addon (uring.node).
  UBPF_CACHE="$UBPF_CACHE" bash "$ROOT/runtime/addon/build.sh" | sed 's/^/deps: /'
}

deps_kernel() {
  if [ -x "$ROOT/scripts/fetch-kernel.sh" ] || [ -f "$ROOT/scripts/fetch-kernel.sh" ]; then
    say "kernel: scripts/fetch-kernel.sh"
    bash "$ROOT/scripts/fetch-kernel.sh"
  else
    say "kernel: scripts/fetch-kernel.sh not present, skipped"
  fi
}

case "${1:-all}" in
  host) deps_host ;;
  build) deps_build ;;
  all) deps_host; deps_build; deps_kernel ;;
  -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown subcommand '$1' (host, build, all)" ;;
esac
