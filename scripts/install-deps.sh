#!/usr/bin/env bash
# Installs tern's build and test dependencies from Debian packages (Debian 12).
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config clang libclang-rt-dev
      libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev libpcre2-dev
      libboost-dev libssl-dev libsqlite3-dev libxxhash-dev libyaml-cpp-dev
      libcli11-dev libspdlog-dev libfmt-dev libhiredis-dev redis-server
      libhnswlib-dev)
# Node.js + npm run the end-to-end tests with the official openai client; a
# machine that already has them (from any source) keeps its own.
command -v node >/dev/null && command -v npm >/dev/null || pkgs+=(nodejs npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
