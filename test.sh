#!/usr/bin/env bash
# Installs everything, builds palaver with AddressSanitizer and
# UndefinedBehaviorSanitizer (warnings are errors), starts a real single-node
# Kafka broker on loopback, runs the whole ctest suite against it, stops the
# broker, then runs every libFuzzer target for a bounded time (tests/fuzz/),
# and exits non-zero on any failure. Extra arguments go to ctest
# (e.g. ./test.sh -R Frame).
set -euo pipefail
cd "$(dirname "$0")"

./deps.sh --test
# -Og -g1 keeps CI on 2 cores short: with both sanitizers, the largest file
# (json_codec.cc) compiles in 122 s at -Og, 209 s at -O1 and 112 s at -O0;
# -g0 saves nothing more. -O0 would leave the tests much slower to run.
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-Og -g1 -DNDEBUG" \
  -DPALAVER_WERROR=ON -DPALAVER_SANITIZE=ON >/dev/null
cmake --build build/asan

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# `run` stops the broker when ctest ends, however it ends.
connectors/kafka/local-kafka.sh run -- \
  ctest --test-dir build/asan --output-on-failure --no-tests=error -j "$(nproc)" "$@"

# Then every libFuzzer target for a bounded time (PALAVER_FUZZ_SECONDS each,
# default 25; 0 skips), in its own clang build; any finding fails the run.
tests/fuzz/run-fuzzers.sh
