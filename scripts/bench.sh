#!/usr/bin/env bash
# `npm run bench`: the NOP benchmark (bench/nops.ts) in one VM boot, the samples (bench/samples.ts), code
# size and verifier work against clang (bench/size.ts), compile scaling and the userspace engine. Makes sure the kernel, QEMU and the
# native programs are there first (scripts/deps.sh, idempotent). Extra arguments go to bench/nops.ts
# (--n N, --reps R, --kvm).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ ! -x "${UBPF_CACHE:-$ROOT/.cache/uringbpf}/bin/uringbpf-loader" ] || [ ! -x "${UBPF_CACHE:-$ROOT/.cache/uringbpf}/bin/uringbpf-nopbench" ]; then
  bash scripts/deps.sh all
else
  bash scripts/fetch-kernel.sh >/dev/null
fi
npx tsx bench/nops.ts "$@"
npx tsx bench/samples.ts
npx tsx bench/size.ts
npx tsx bench/compile-scale.ts
exec npx tsx bench/engine.ts
