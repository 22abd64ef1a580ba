#!/usr/bin/env bash
# Installs the e2e suite's one dependency (the official openai client) from
# package-lock.json. Run once before `ctest -R server_e2e` or `npm test`.
set -euo pipefail
cd "$(dirname "$0")"
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
