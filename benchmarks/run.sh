#!/usr/bin/env bash
# The standard benchmark, in one command: builds the benchmarks (Release, in
# build/bench), starts its own local Kafka broker (port 19292, data in
# /tmp/palaver-bench-kafka: apart from ./test.sh's and the development
# broker's), runs the set, stops the broker, and writes
#   benchmarks/results/report.json  every figure, machine, raw outputs
#   benchmarks/results/report.md    Markdown tables, each figure beside its raw limit
#   benchmarks/results/latency.svg  append -> projected latency and projection lag over time
#
#   benchmarks/run.sh            --quick (the default): a few minutes
#   benchmarks/run.sh --full     longer runs, bigger data sets
#   benchmarks/run.sh --no-build use what build/bench already holds
#
# When the build's palaver has the HTTP API (`palaver shop`), it also starts
# `palaver serve` (embedded log, then the broker) and drives it over HTTP and
# WebSocket (load_generator --http); on the embedded log it then measures the
# inbox page with wrk beside nginx serving a file of the same size
# (inbox_vs_nginx.py; needs wrk and nginx, which ./deps.sh --bench installs).
#
# Environment: PALAVER_BENCH_KAFKA_PORT (19292), PALAVER_BENCH_KAFKA_DIR
# (/tmp/palaver-bench-kafka), PALAVER_BENCH_JOBS (build jobs, default nproc),
# PALAVER_BENCH_RESULTS (benchmarks/results).
set -euo pipefail
SELF=$(readlink -f "$0")
cd "$(dirname "$SELF")/.."

MODE=quick
BUILD=1
INSIDE=0
args=("$@")
while (($#)); do
  case "$1" in
    --quick) MODE=quick; shift ;;
    --full) MODE=full; shift ;;
    --no-build) BUILD=0; shift ;;
    --inside) INSIDE=1; shift ;;
    -h|--help) sed -n '2,22p' "$SELF" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

BUILD_DIR=build/bench
RESULTS=${PALAVER_BENCH_RESULTS:-benchmarks/results}
BIN=$BUILD_DIR/benchmarks

if ((INSIDE == 0)); then
  ./deps.sh --bench
  if ((BUILD)); then
    cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DPALAVER_BUILD_TESTS=OFF -DPALAVER_BUILD_BENCHMARKS=ON >/dev/null
    cmake --build "$BUILD_DIR" -j "${PALAVER_BENCH_JOBS:-$(nproc)}" \
      --target micro_benchmark load_generator ingest_benchmark projection_benchmark palaver
  fi
  mkdir -p "$RESULTS"
  rm -f "$RESULTS"/*.json "$RESULTS"/*.txt "$RESULTS"/*.md "$RESULTS"/*.svg
  # `run` stops the broker when the set ends, however it ends.
  exec connectors/kafka/local-kafka.sh run \
    --port "${PALAVER_BENCH_KAFKA_PORT:-19292}" --dir "${PALAVER_BENCH_KAFKA_DIR:-/tmp/palaver-bench-kafka}" \
    -- "$SELF" --inside "${args[@]}"
fi

# ---- inside: the broker is up and PALAVER_KAFKA_BROKERS names it.
: "${PALAVER_KAFKA_BROKERS:?run.sh --inside expects PALAVER_KAFKA_BROKERS}"
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$SECONDS

if [[ $MODE == full ]]; then
  MICRO=(--events 20000 --benchmark_min_time=0.5)
  LOAD=(--shops 100 --conversations 5000 --agents 5 --seconds 30 --threads 4)
  INGEST=(--records 20000 --max-seconds 180)
  PROJ=(--events 300000 --conversations 1000000 --queries 2000)
  HTTP=(--conversations 500 --rate 1000 --seconds 30 --threads 32)
  WRK=(--threads 2 --connections 32 --duration 30s)
else
  MICRO=(--events 5000 --benchmark_min_time=0.1)
  LOAD=(--shops 20 --conversations 400 --agents 3 --seconds 10 --threads 4)
  INGEST=(--records 20000 --max-seconds 60)
  PROJ=(--events 50000 --conversations 10000 --queries 500)
  HTTP=(--conversations 200 --rate 1000 --seconds 10 --threads 32)
  WRK=(--threads 2 --connections 32 --duration 10s)
fi

step() { printf '\n==== %s (%ss into the run)\n' "$*" $((SECONDS - t0)); }
status=0

step "micro_benchmark"
"$BIN/micro_benchmark" "${MICRO[@]}" --benchmark_out="$RESULTS/micro.json" \
  --benchmark_out_format=json || status=1

step "load_generator, embedded log"
"$BIN/load_generator" --log embedded "${LOAD[@]}" --json "$RESULTS/load-embedded.json" || status=1

step "load_generator, Kafka ($PALAVER_KAFKA_BROKERS)"
"$BIN/load_generator" --log kafka "${LOAD[@]}" --json "$RESULTS/load-kafka.json" || status=1

step "ingest_benchmark (storefront topic -> views)"
"$BIN/ingest_benchmark" "${INGEST[@]}" --json "$RESULTS/ingest.json" || status=1

step "projection_benchmark"
"$BIN/projection_benchmark" "${PROJ[@]}" --dir "/tmp/palaver-bench-projection-$$" \
  | tee "$RESULTS/projection.txt" || status=1

# HTTP/WebSocket: a real `palaver serve` (embedded log, then the broker), a shop
# and an admin token made with `palaver shop` / `palaver token`, shoppers POSTing
# 1,000 messages/s while an agent's WebSocket stream waits for them.
PALAVER=$BUILD_DIR/engine/palaver
if [[ -x $PALAVER ]] && "$PALAVER" shop --help >/dev/null 2>&1; then
  for log in embedded kafka; do
    step "load_generator --http: palaver serve on the $log log"
    data=$(mktemp -d /tmp/palaver-bench-serve.XXXXXX)
    secret="bench-identity-secret-$$"
    PALAVER_DATA_DIR=$data "$PALAVER" shop add bench --secret "$secret" >/dev/null
    token=$(PALAVER_DATA_DIR=$data "$PALAVER" token create --shop bench --role admin --agent ann \
      | sed -n 's/^token: *//p')
    kafka_args=()
    [[ $log == kafka ]] && kafka_args=(--kafka "$PALAVER_KAFKA_BROKERS")
    PALAVER_DATA_DIR=$data "$PALAVER" serve --listen 127.0.0.1:0 --rate-limit 0 --no-access-log \
      "${kafka_args[@]}" >"$RESULTS/serve-$log.log" 2>&1 &
    serve_pid=$!
    trap 'kill -INT "$serve_pid" 2>/dev/null || true' EXIT  # however the run ends
    url=""
    for _ in $(seq 1 300); do
      url=$(sed -n 's/^palaver listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$RESULTS/serve-$log.log")
      [[ -n $url ]] && break
      kill -0 "$serve_pid" 2>/dev/null || break
      sleep 0.1
    done
    if [[ -z $url || -z $token ]]; then
      echo "palaver serve did not start (see $RESULTS/serve-$log.log)" >&2
      status=1
    else
      for _ in $(seq 1 100); do
        curl -sf "$url/readyz" >/dev/null 2>&1 && break
        sleep 0.1
      done
      "$BIN/load_generator" --http "$url" --shop bench --token "$token" --secret "$secret" \
        --agent ann --server-pid "$serve_pid" "${HTTP[@]}" --json "$RESULTS/http-$log.json" \
        || status=1
      # The shop now holds the conversations load_generator started through
      # the API: its inbox page beside nginx serving a file of the same size.
      if [[ $log == embedded ]]; then
        step "wrk: inbox page of palaver serve vs nginx, static file of the same size"
        python3 benchmarks/inbox_vs_nginx.py --url "$url" --shop bench --token "$token" \
          --server-pid "$serve_pid" "${WRK[@]}" --json "$RESULTS/inbox-wrk.json" || status=1
      fi
    fi
    kill -INT "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
    trap - EXIT
    rm -rf "$data"
  done
else
  echo
  echo "==== HTTP/WebSocket: skipped (this build's palaver has no HTTP API: no 'palaver shop')"
fi

cat >"$RESULTS/run.json" <<EOF
{"mode": "$MODE", "commit": "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)", "started_at": "$started", "finished_at": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
 "seconds": $((SECONDS - t0)), "loadavg_start": "$load_start",
 "loadavg_end": "$(cut -d' ' -f1-3 /proc/loadavg)", "kafka_brokers": "$PALAVER_KAFKA_BROKERS",
 "all_steps_ok": $([[ $status == 0 ]] && echo true || echo false)}
EOF
step "report"
python3 benchmarks/report.py "$RESULTS" || status=1
exit $status
