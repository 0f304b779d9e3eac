#!/usr/bin/env bash
# Builds palaver's libFuzzer targets with clang in build/fuzz (separate from
# every gcc build) and runs each one for a bounded time, starting from its
# seed corpus. Exits non-zero when any target crashes, leaks, hits undefined
# behaviour, times out on one input or breaks one of its invariants; the
# input that did it is saved under build/fuzz/artifacts/.
#
#   PALAVER_FUZZ_SECONDS   seconds per target (default 25; 0 skips fuzzing)
#   PALAVER_FUZZ_TARGETS   space-separated subset of targets (default: all)
#
# Reproduce a finding: build/fuzz/tests/fuzz/<target> build/fuzz/artifacts/<target>/crash-...
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${PALAVER_FUZZ_SECONDS:-25}
if [[ "$seconds" == 0 ]]; then
  echo "fuzz: PALAVER_FUZZ_SECONDS=0, skipped"
  exit 0
fi
build=build/fuzz
seeds=$build/tests/fuzz/seeds

# Target -> seed corpus directory (under $seeds).
declare -A corpus=(
  [json_event_fuzzer]=json
  [storefront_mapper_fuzzer]=json
  [codec_fuzzer]=codec
  [http_parser_fuzzer]=http
  [http_server_fuzzer]=http
  [api_body_fuzzer]=api_body
  [api_service_fuzzer]=api
  [view_value_fuzzer]=view
)
targets=${PALAVER_FUZZ_TARGETS:-$(printf '%s\n' "${!corpus[@]}" | sort | tr '\n' ' ')}

CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DPALAVER_FUZZ=ON -DPALAVER_BUILD_TESTS=OFF -DPALAVER_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build" --target palaver_fuzzers

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for target in $targets; do
  if [[ ! -x "$build/tests/fuzz/$target" ]]; then
    echo "fuzz: $target is not built here (its library is missing), skipped"
    continue
  fi
  work=$build/fuzz-runs/$target
  artifacts=$build/artifacts/$target
  rm -rf "$work" "$artifacts" && mkdir -p "$work/corpus" "$artifacts"
  dict=()
  [[ -f tests/fuzz/$target.dict ]] && dict=(-dict="tests/fuzz/$target.dict")
  echo "fuzz: $target for ${seconds}s (seeds: $seeds/${corpus[$target]})"
  if "$build/tests/fuzz/$target" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2560 \
      -max_len=8192 -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" \
      "$work/corpus" "$seeds/${corpus[$target]}" >"$work/log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$work/log" |
      sed "s/^/fuzz: $target /" || true
  else
    echo "fuzz: $target FAILED; the last lines of $work/log:"
    tail -n 60 "$work/log"
    ls "$artifacts"
    failed+=("$target")
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: failures in: ${failed[*]}"
  exit 1
fi
echo "fuzz: every target ran ${seconds}s without a finding"
