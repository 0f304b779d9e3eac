#!/usr/bin/env bash
# Memory of a long-running `palaver serve`: serves on the embedded log while
# load_generator --http sends shoppers' messages at a steady rate, and samples
# the server's resident set (VmRSS) every --every seconds. Prints one line per
# sample and a summary, and writes the samples as CSV.
#
#   benchmarks/soak.sh [--minutes N] [--rate R] [--conversations C] [--every S] [--csv FILE]
#
# Defaults: 10 minutes, 500 messages/s over 500 conversations, a sample every
# 30 s, CSV to benchmarks/results/soak.csv. Installs what is missing and
# builds palaver and load_generator in Release (build/bench), as
# benchmarks/run.sh does.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=10 rate=500 conversations=500 every=30 csv=benchmarks/results/soak.csv
while [[ $# -gt 0 ]]; do
  case $1 in
    --minutes) minutes=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --conversations) conversations=$2; shift 2 ;;
    --every) every=$2; shift 2 ;;
    --csv) csv=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "soak.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

BIN=build/bench
./deps.sh --bench
cmake -S . -B "$BIN" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPALAVER_BUILD_TESTS=OFF \
  -DPALAVER_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$BIN" --target palaver load_generator

data=$(mktemp -d /tmp/palaver-soak.XXXXXX)
secret="soak-identity-secret-$$"
PALAVER_DATA_DIR=$data "$BIN/engine/palaver" shop add soak --secret "$secret" >/dev/null
token=$(PALAVER_DATA_DIR=$data "$BIN/engine/palaver" token create --shop soak --role admin \
  --agent ann | sed -n 's/^token: *//p')
PALAVER_DATA_DIR=$data "$BIN/engine/palaver" serve --listen 127.0.0.1:0 --rate-limit 0 \
  --no-access-log >"$data/serve.log" 2>&1 &
serve_pid=$!
trap 'kill -INT $serve_pid 2>/dev/null || true; wait $serve_pid 2>/dev/null || true; rm -rf "$data"' EXIT
url=""
for _ in $(seq 1 300); do
  url=$(sed -n 's/^palaver listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$data/serve.log")
  [[ -n $url ]] && break
  sleep 0.1
done
[[ -n $url ]] || { echo "soak.sh: palaver serve did not start:" >&2; cat "$data/serve.log" >&2; exit 1; }

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$serve_pid/status"; }
"$BIN/benchmarks/load_generator" --http "$url" --shop soak --token "$token" --secret "$secret" \
  --agent ann --conversations "$conversations" --rate "$rate" --seconds $((minutes * 60)) \
  --threads 32 >"$data/load.txt" 2>&1 &
load_pid=$!

mkdir -p "$(dirname "$csv")"
echo "seconds,rss_kb" >"$csv"
start=$SECONDS
echo "palaver serve (pid $serve_pid) under $rate messages/s over $conversations conversations for $minutes min"
while kill -0 $load_pid 2>/dev/null; do
  if ! kill -0 $serve_pid 2>/dev/null; then
    echo "soak.sh: palaver serve exited during the load; its log:" >&2
    cat "$data/serve.log" >&2
    exit 1
  fi
  kb=$(rss_kb)
  echo "$((SECONDS - start)),$kb" >>"$csv"
  awk -v t=$((SECONDS - start)) -v kb="$kb" 'BEGIN {printf "%5d s  RSS %7.1f MiB\n", t, kb / 1024}'
  sleep "$every"
done
status=0
wait $load_pid || status=$?
echo "--- load_generator"
cat "$data/load.txt"
awk -F, 'NR == 2 {first = $2} NR > 1 {last = $2; if ($2 > peak) peak = $2}
  END {printf "RSS: first sample %.1f MiB, last %.1f MiB, peak %.1f MiB (samples in '"$csv"')\n",
       first / 1024, last / 1024, peak / 1024}' "$csv"
exit $status
