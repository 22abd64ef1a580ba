#!/usr/bin/env bash
# The ctest entry of the e2e suite: run.sh [TERN_BINARY]. Exits 77 (ctest's
# "skipped") with a message when node or the npm dependencies are missing.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v node >/dev/null 2>&1; then
  echo "SKIPPED: node is not installed"; exit 77
fi
if [ ! -d node_modules/openai ]; then
  echo "SKIPPED: the openai npm package is not installed; run tests/server/e2e/setup.sh (npm ci) first"; exit 77
fi
if [ $# -ge 1 ]; then export TERN_BIN="$1"; fi
exec node --test --test-concurrency=1 ./*.test.mjs
