#!/usr/bin/env bash
# Fetches a libbpf >= 1.5 (static libbpf.a and headers) for the C skeleton test (test/skeleton.test.ts):
# bpftool 7.5 writes skeletons for libbpf >= 1.5 (`struct bpf_map_skeleton` has a `link` member), and
# libbpf 1.5's static linker is the first that links two objects declaring the same kfunc. Bookworm has
# 1.4.6 only, so this takes the newest libbpf-dev that the private apt configuration offers (sid) and
# extracts it into $UBPF_CACHE/libbpf-new, apart from the loader's sysroot (which keeps 1.4.6).
# sid's libbpf.a was compiled against glibc 2.38+, whose headers redirect sscanf/fscanf/strtoull to
# __isoc23_* names; test/support/isoc23.c supplies those three for a static link with bookworm's glibc.
# Idempotent: a no-op when the extracted copy is there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UBPF_CACHE="${UBPF_CACHE:-$ROOT/.cache/uringbpf}"
export UBPF_CACHE
OUT="$UBPF_CACHE/libbpf-new"
say() { echo "deps-libbpf-new: $*"; }

if [ -e "$OUT/.done" ] && [ -e "$OUT/usr/lib/x86_64-linux-gnu/libbpf.a" ]; then
  say "libbpf $(cat "$OUT/.done") present"
  exit 0
fi
# shellcheck source=apt-private.sh
source "$ROOT/scripts/apt-private.sh"
apt_private_init
ver=""
while read -r v; do
  if dpkg --compare-versions "$v" ge "1:1.5"; then ver="$v"; break; fi
done < <(apt_private_cache madison libbpf-dev | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' | sort -Vr)
[ -n "$ver" ] || { say "apt offers no libbpf-dev >= 1.5"; exit 1; }
debs="$UBPF_CACHE/debs-libbpf-new"
mkdir -p "$debs"
say "download libbpf-dev $ver"
apt_private_download "$debs" "libbpf-dev=$ver" 2> >(grep -v unsandboxed >&2)
rm -rf "$OUT.tmp"
mkdir -p "$OUT.tmp"
dpkg-deb -x "$(ls "$debs"/libbpf-dev_*.deb | head -n1)" "$OUT.tmp"
echo "$ver" > "$OUT.tmp/.done"
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
say "libbpf $ver in $OUT"
