#!/usr/bin/env bash
# The test command (`npm test`): installs what the tests need, idempotently, then runs them.
#   npm packages (npm ci when node_modules is missing or older than the lock file), the compiled CLI,
#   Debian host packages, libbpf/liburing/bpftool (private apt), the static loader, then what the VM needs
#   through the same command a user runs: `uringbpf vm setup` (the 7.x kernel, QEMU, busybox, loader).
# Extra arguments go to vitest (e.g. `npm test -- test/fixtures.test.ts`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [ ! -x node_modules/.bin/vitest ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "test: installing npm packages"
  npm ci --no-audit --no-fund
fi
echo "test: building the CLI"
npm run build --silent
echo "test: type-checking the project"
npx tsc --noEmit -p tsconfig.json
bash scripts/deps.sh host
bash scripts/deps.sh build
bash scripts/deps-libbpf-new.sh
node cli/uringbpf.js vm setup
exec npx vitest run "$@"
