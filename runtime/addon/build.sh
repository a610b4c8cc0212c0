#!/usr/bin/env bash
# Builds the userspace engine's Node-API addon (runtime/addon/uring.c, binding.gyp) into OUT
# (default $UBPF_CACHE/bin/uring.node). uring.c needs only a C compiler and Node's headers: node-gyp
# (npm's own copy, Node's headers from --nodedir, default the prefix of `node`, else /usr) builds it in a
# scratch directory so the tree stays clean; without node-gyp, cc builds the same thing directly.
# Rebuilds only when an input changed. Used by scripts/deps.sh and by `npm pack` (scripts/prebuild.sh).
#   build.sh [OUT]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
UBPF_CACHE="${UBPF_CACHE:-$ROOT/.cache/uringbpf}"
SRC_DIR="$ROOT/runtime/addon"
OUT="${1:-$UBPF_CACHE/bin/uring.node}"
WORK="$(dirname "$OUT")/.addon-build"
NODEDIR="${UBPF_NODEDIR:-$(npm config get nodedir 2>/dev/null || true)}"
[ -n "$NODEDIR" ] && [ "$NODEDIR" != undefined ] && [ -e "$NODEDIR/include/node/node_api.h" ] || NODEDIR="$(dirname "$(dirname "$(command -v node)")")"
[ -e "$NODEDIR/include/node/node_api.h" ] || NODEDIR=/usr

inputs=("$SRC_DIR/uring.c" "$SRC_DIR/binding.gyp" "$SRC_DIR/build.sh")
stale=0
[ -e "$OUT" ] || stale=1
for f in "${inputs[@]}"; do [ "$stale" = 1 ] || [ "$f" -nt "$OUT" ] && stale=1; done
if [ "$stale" = 0 ]; then echo "addon: $(basename "$OUT") up to date"; exit 0; fi

mkdir -p "$(dirname "$OUT")"
# UBPF_NODE_GYP: a node-gyp.js to use, or "none" for the cc build.
NODE_GYP="${UBPF_NODE_GYP:-}"
if [ -z "$NODE_GYP" ] && command -v npm >/dev/null; then
  NODE_GYP="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
  [ -e "$NODE_GYP" ] || NODE_GYP="$(command -v node-gyp || true)"
fi
if [ -n "$NODE_GYP" ] && [ "$NODE_GYP" != none ] && [ -e "$NODE_GYP" ]; then
  rm -rf "$WORK" && mkdir -p "$WORK"
  cp "$SRC_DIR/uring.c" "$SRC_DIR/binding.gyp" "$WORK/"
  (cd "$WORK" && node "$NODE_GYP" rebuild --nodedir="$NODEDIR" --loglevel=warn) >"$WORK.log" 2>&1 || {
    cat "$WORK.log" >&2
    echo "addon: node-gyp failed (log above, also in $WORK.log)" >&2
    exit 1
  }
  cp "$WORK/build/Release/uring.node" "$OUT.tmp"
  rm -rf "$WORK" "$WORK.log"
  how="node-gyp"
else
  "${CC:-cc}" -shared -fPIC -O2 -Wall -DNAPI_VERSION=8 -I "$NODEDIR/include/node" \
    -o "$OUT.tmp" "$SRC_DIR/uring.c" -lpthread
  how="cc (no node-gyp)"
fi
# Load it once: a broken addon fails here, not in the middle of a test.
node -e 'const m = { exports: {} }; process.dlopen(m, process.argv[1]); if (typeof m.exports.setup !== "function") process.exit(1)' "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "addon: built $OUT with $how"
