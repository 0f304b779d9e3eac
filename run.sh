#!/usr/bin/env bash
# Installs what is missing, builds a Release palaver, and serves it on the
# embedded log: data in ./palaver-data, HTTP on 127.0.0.1:8080. Ctrl-C stops
# it; running this again finds the data where it was. Extra arguments go to
# `palaver serve` (see `build/release/engine/palaver serve --help`).
set -euo pipefail
cd "$(dirname "$0")"

./deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DPALAVER_BUILD_TESTS=OFF -DPALAVER_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build/release --target palaver
exec build/release/engine/palaver serve --data-dir palaver-data --listen 127.0.0.1:8080 "$@"
