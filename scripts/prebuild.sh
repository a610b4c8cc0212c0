#!/usr/bin/env bash
# Run by `npm pack` / `npm publish` (the `prepack` script, after `npm run build`): puts the native parts
# that a user of the package cannot be asked to build into prebuilt/<platform>-<arch>/:
#   uring.node        the userspace engine's Node-API addon (runtime/addon/build.sh; uring.c needs only
#                     a C compiler and Node's headers, so other platforms build it from source at first run)
#   uringbpf-loader   the static loader the test VM runs (scripts/deps.sh build; stripped), which
#                     `uringbpf vm setup` copies into the user's cache
# npm 11 does not run a dependency's install scripts unless the installing project allows them, so
# nothing here may be left to install time. UBPF_PACK_NO_LOADER=1 packs without the loader (the package
# then runs `run --engine user`, build and check, but not `run --vm`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
UBPF_CACHE="${UBPF_CACHE:-$ROOT/.cache/uringbpf}"
export UBPF_CACHE
tag="$(node -p 'process.platform + "-" + process.arch')"
out="prebuilt/$tag"
rm -rf prebuilt
mkdir -p "$out"
bash runtime/addon/build.sh "$out/uring.node" | sed 's/^/prebuild: /'
if [ "${UBPF_PACK_NO_LOADER:-}" = 1 ]; then
  echo "prebuild: UBPF_PACK_NO_LOADER=1: packing without the VM loader" >&2
else
  loader="$UBPF_CACHE/bin/uringbpf-loader"
  stale=0
  for src in runtime/loader/*.c runtime/loader/*.h; do [ "$src" -nt "$loader" ] && stale=1; done
  if [ ! -x "$loader" ] || [ "$stale" = 1 ]; then
    bash scripts/deps.sh build | sed 's/^/prebuild: /'
  fi
  strip -o "$out/uringbpf-loader" "$loader"
fi
ls -l "$out" | sed 's/^/prebuild: /'
