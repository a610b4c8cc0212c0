#!/usr/bin/env bash
# Builds the userspace engine's Node-API addon (runtime/addon/uring.c) into $UBPF_CACHE/bin/uring.node
# with gcc against Node's headers and sid's UAPI headers from the sysroot (scripts/deps.sh build fetches
# them). Rebuilds only when the source is newer than the addon.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
UBPF_CACHE="${UBPF_CACHE:-$ROOT/.cache/uringbpf}"
SRC="$ROOT/runtime/addon/uring.c"
OUT="$UBPF_CACHE/bin/uring.node"
NODE_INC="$(dirname "$(dirname "$(command -v node)")")/include/node"
[ -e "$NODE_INC/node_api.h" ] || NODE_INC=/usr/include/node
if [ -e "$OUT" ] && [ "$OUT" -nt "$SRC" ]; then echo "addon: uring.node up to date"; exit 0; fi
mkdir -p "$UBPF_CACHE/bin"
gcc -shared -fPIC -O2 -Wall -I "$UBPF_CACHE/sysroot/usr/include" -I "$NODE_INC" -o "$OUT.tmp" "$SRC"
mv "$OUT.tmp" "$OUT"
echo "addon: built $OUT"
