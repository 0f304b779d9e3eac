#!/usr/bin/env bash
# Local Apache Kafka (KRaft) for tests and development. See --help.
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
HERE=$(dirname "$SELF")
POM="$HERE/pom.xml"

KAFKA_VERSION=${PALAVER_KAFKA_VERSION:-3.9.2}
CACHE_ROOT=${PALAVER_CACHE:-${XDG_CACHE_HOME:-${HOME:?set HOME or PALAVER_CACHE}/.cache}/palaver}
CACHE_DIR="$CACHE_ROOT/kafka-$KAFKA_VERSION"
LIBS="$CACHE_DIR/libs"
M2_REPO="$CACHE_ROOT/m2"
MARKER="$LIBS/.palaver-complete"

DIR=${PALAVER_KAFKA_DIR:-/tmp/palaver-kafka}
NODES=${PALAVER_KAFKA_NODES:-1}
PORT=${PALAVER_KAFKA_PORT:-19092}
CPORT=${PALAVER_KAFKA_CONTROLLER_PORT:-}
HEAP=${PALAVER_KAFKA_HEAP:-1g}
TIMEOUT=${PALAVER_KAFKA_TIMEOUT:-}
STOP_TIMEOUT=${PALAVER_KAFKA_STOP_TIMEOUT:-30}
KEEP=0
KILL=0
IN_RUN=0
HOST=127.0.0.1
DIR_MARK=.palaver-kafka

usage() {
  cat <<EOF
local-kafka.sh — a local Apache Kafka $KAFKA_VERSION broker (KRaft mode, loopback only)
for palaver's tests and for development. No install needed: the broker jars come
from Maven Central through \`mvn\` into a cache and run with \`java\`.

Usage:
  local-kafka.sh fetch
      Resolve the broker jars into the cache (first run needs network; later
      runs reuse the cache and never touch the network).
  local-kafka.sh start [--nodes 1|3] [--port P] [--controller-port C] [--dir DIR]
                       [--heap SIZE] [--timeout SECONDS] [--keep]
      Fetch if needed, stop anything this launcher left running in DIR, wipe DIR
      (unless --keep), format storage, start the node(s) in the background and
      wait until every broker answers Kafka requests. Prints "bootstrap: ..."
      and exits 0; on failure prints the end of the logs, stops what it started
      and exits 1. The nodes keep running until \`stop\`.
  local-kafka.sh stop [--dir DIR]
      Stop every node of DIR (SIGTERM, then SIGKILL after ${STOP_TIMEOUT}s). Safe to repeat.
  local-kafka.sh status [--dir DIR]
      Show which nodes run and answer requests. Exit 0 if all do, 3 otherwise.
  local-kafka.sh run [start options] -- COMMAND [ARGS...]
      start, run COMMAND with PALAVER_KAFKA_BROKERS exported, then stop, even on
      Ctrl-C/SIGTERM; exit with COMMAND's exit code. A watchdog stops the nodes
      if this script itself is killed (kill -9) so no JVM is left behind.
  local-kafka.sh stop-node N [--kill] [--dir DIR]
  local-kafka.sh start-node N [--dir DIR] [--timeout S]
      For failover tests: stop one node cleanly (or SIGKILL it with --kill, a
      crash), then start it again with its data; start-node waits until it answers.
  local-kafka.sh help

Options (environment variables give the defaults):
  --nodes N            1 or 3 (PALAVER_KAFKA_NODES, default 1). Every node is a
                       combined broker+controller; 3 nodes = 3 controller voters,
                       replication factor 3, min.insync.replicas 2.
  --port P             broker port of node 1 (PALAVER_KAFKA_PORT, default 19092);
                       node i listens on P+2*(i-1): 19092, 19094, 19096.
  --controller-port C  controller port of node 1 (PALAVER_KAFKA_CONTROLLER_PORT,
                       default P+1); node i uses C+2*(i-1): 19093, 19095, 19097.
  --dir DIR            data directory (PALAVER_KAFKA_DIR, default /tmp/palaver-kafka).
                       Wiped on start unless --keep; only a directory that is
                       empty or was made by this script is ever wiped.
  --heap SIZE          max heap per node, e.g. 1g, 768m (PALAVER_KAFKA_HEAP,
                       default 1g; -Xms is 512m or SIZE if smaller).
  --timeout S          seconds to wait for readiness (PALAVER_KAFKA_TIMEOUT,
                       default 60, 90 with 3 nodes).
  --keep               keep existing data and cluster id (no wipe/format).

Other environment:
  PALAVER_CACHE          cache root (default ~/.cache/palaver); jars go to
                         \$PALAVER_CACHE/kafka-<version>/libs, Maven's repository
                         to \$PALAVER_CACHE/m2.
  PALAVER_KAFKA_VERSION  Kafka version (default $KAFKA_VERSION).
  PALAVER_KAFKA_JVM_OPTS extra JVM options for the nodes.

Files in DIR:
  node-N/server.properties  node-N/kafka.log (broker log)  node-N/kafka.out
  (JVM stdout/stderr)  node-N/kafka.pid  node-N/data (log.dirs)
  cluster.env (nodes, ports, bootstrap)  watchdog.log (run mode)

Examples:
  connectors/kafka/local-kafka.sh start && kcat -L -b 127.0.0.1:19092
  connectors/kafka/local-kafka.sh run --nodes 3 -- ctest --test-dir build -L kafka
  connectors/kafka/local-kafka.sh stop
Requires: java (11+, 17 recommended) and mvn (for the first fetch) on PATH.
EOF
}

say() { printf 'local-kafka: %s\n' "$*" >&2; }
die() { printf 'local-kafka: error: %s\n' "$*" >&2; exit 1; }

need_java() {
  command -v java >/dev/null 2>&1 ||
    die "java not found on PATH. Install a Java runtime (Debian: apt-get install default-jre-headless; the project's dependency script does this)."
  local v
  v=$(java -version 2>&1 | sed -nE '1s/.*version "([0-9]+)(\.[0-9]+)?.*/\1\2/p')
  [[ $v == 1.* ]] && v=${v#1.}
  v=${v%%.*}
  [[ -z $v ]] || ((v >= 11)) || die "Kafka $KAFKA_VERSION needs Java 11 or newer (17 recommended); $(command -v java) is Java $v"
}
need_mvn() {
  command -v mvn >/dev/null 2>&1 ||
    die "mvn not found on PATH and the Kafka jars are not cached yet at $LIBS. Install Maven (Debian: apt-get install maven; the project's dependency script does this)."
}

pom_sum() { sha256sum "$POM" | cut -d' ' -f1; }
marker_text() { printf 'version=%s\npom=%s\n' "$KAFKA_VERSION" "$(pom_sum)"; }
cached() { [[ -f $MARKER ]] && [[ "$(cat "$MARKER")" == "$(marker_text)" ]]; }

# ---------------------------------------------------------------- fetch
cmd_fetch() {
  if cached; then
    say "fetch: using cached Kafka $KAFKA_VERSION jars in $LIBS ($(find "$LIBS" -name '*.jar' | wc -l) jars)"
    return 0
  fi
  mkdir -p "$CACHE_DIR" "$M2_REPO"
  # One fetch at a time per cache (parallel test runs share it).
  exec 9>"$CACHE_DIR/.lock"
  flock 9
  if cached; then
    exec 9>&-
    say "fetch: using cached Kafka $KAFKA_VERSION jars in $LIBS"
    return 0
  fi
  need_mvn
  local tmp="$CACHE_DIR/libs.tmp.$$" t0=$SECONDS
  rm -rf "$tmp"
  local args=(-q -B -Dstyle.color=never -f "$POM" "-Dmaven.repo.local=$M2_REPO"
              "-Dkafka.version=$KAFKA_VERSION"
              dependency:copy-dependencies "-DoutputDirectory=$tmp" -DincludeScope=runtime)
  say "fetch: resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION (+ slf4j-reload4j) with mvn"
  say "fetch: maven repository $M2_REPO"
  # Offline first: works without network when the Maven repository already has everything.
  if ! mvn -o "${args[@]}" >/dev/null 2>&1; then
    rm -rf "$tmp"
    local log="$CACHE_DIR/fetch.log"
    if ! mvn "${args[@]}" >"$log" 2>&1; then
      tail -n 30 "$log" >&2
      rm -rf "$tmp"
      die "fetch: mvn failed (full output: $log)"
    fi
  fi
  [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] || { rm -rf "$tmp"; die "fetch: kafka_2.13-$KAFKA_VERSION.jar missing after mvn"; }
  marker_text >"$tmp/.palaver-complete"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  exec 9>&-
  say "fetch: $(find "$LIBS" -name '*.jar' | wc -l) jars ($(du -sh "$LIBS" | cut -f1)) in $LIBS, $((SECONDS - t0))s"
}

# ---------------------------------------------------------------- helpers
parse_opts() {  # sets globals; leaves the rest (after --) in REST
  REST=()
  while (($#)); do
    case $1 in
      --nodes) NODES=${2:?--nodes needs a value}; shift 2 ;;
      --nodes=*) NODES=${1#*=}; shift ;;
      --port) PORT=${2:?--port needs a value}; shift 2 ;;
      --port=*) PORT=${1#*=}; shift ;;
      --controller-port) CPORT=${2:?--controller-port needs a value}; shift 2 ;;
      --controller-port=*) CPORT=${1#*=}; shift ;;
      --dir) DIR=${2:?--dir needs a value}; shift 2 ;;
      --dir=*) DIR=${1#*=}; shift ;;
      --heap) HEAP=${2:?--heap needs a value}; shift 2 ;;
      --heap=*) HEAP=${1#*=}; shift ;;
      --timeout) TIMEOUT=${2:?--timeout needs a value}; shift 2 ;;
      --timeout=*) TIMEOUT=${1#*=}; shift ;;
      --keep) KEEP=1; shift ;;
      --kill) KILL=1; shift ;;
      [0-9]*) REST+=("$1"); shift ;;
      --) shift
          ((${#REST[@]} == 0)) || die "unexpected argument '${REST[0]}' before --"
          REST=("$@"); return 0 ;;
      -h|--help) usage; exit 0 ;;
      *) die "unknown option '$1' (see --help)" ;;
    esac
  done
}

check_opts() {
  [[ $NODES == 1 || $NODES == 3 ]] || die "--nodes must be 1 or 3 (got '$NODES')"
  [[ $PORT =~ ^[0-9]+$ ]] && ((PORT > 0 && PORT < 65530)) || die "bad --port '$PORT'"
  [[ -z $CPORT ]] && CPORT=$((PORT + 1))
  [[ $CPORT =~ ^[0-9]+$ ]] && ((CPORT > 0 && CPORT < 65530)) || die "bad --controller-port '$CPORT'"
  [[ $HEAP =~ ^[0-9]+[kKmMgG]$ ]] || die "bad --heap '$HEAP' (use e.g. 1g or 768m)"
  [[ -z $TIMEOUT ]] && TIMEOUT=$((NODES == 3 ? 90 : 60))
  [[ $TIMEOUT =~ ^[0-9]+$ ]] || die "bad --timeout '$TIMEOUT'"
  local dup
  # shellcheck disable=SC2046  # (word splitting wanted: lists of ports)
  dup=$(printf '%s\n' $(broker_ports) $(controller_ports) | sort | uniq -d | tr '\n' ' ')
  [[ -z $dup ]] || die "port(s) ${dup% } used twice: node i uses --port+2(i-1) and --controller-port+2(i-1)"
  local p
  for p in $(broker_ports) $(controller_ports); do ((p < 65536)) || die "port $p out of range"; done
}

broker_ports() { local i; for ((i = 0; i < NODES; i++)); do printf '%s ' $((PORT + 2 * i)); done; }
controller_ports() { local i; for ((i = 0; i < NODES; i++)); do printf '%s ' $((CPORT + 2 * i)); done; }
bootstrap() { local p out=; for p in $(broker_ports); do out+="${out:+,}$HOST:$p"; done; echo "$out"; }

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# A pid file is trusted only if that process is a java running this node's config.
node_pid() {  # node index -> prints pid if alive and ours
  local nd="$DIR/node-$1" pid
  [[ -f "$nd/kafka.pid" ]] || return 1
  pid=$(<"$nd/kafka.pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF "$nd/server.properties" || return 1
  echo "$pid"
}

load_cluster_env() {  # for stop/status: read what start recorded
  local f="$DIR/cluster.env" k v
  [[ -f $f ]] || return 1
  while IFS='=' read -r k v; do
    case $k in
      NODES) NODES=$v ;; PORT) PORT=$v ;; CPORT) CPORT=$v ;; HEAP) HEAP=$v ;;
    esac
  done <"$f"
}

# Nodes that may have pid files: whatever cluster.env says, and any node-N dirs.
known_nodes() {
  local d n list=()
  for d in "$DIR"/node-*; do
    [[ -d $d ]] || continue
    n=${d##*/node-}
    [[ $n =~ ^[0-9]+$ ]] && list+=("$n")
  done
  printf '%s\n' "${list[@]}" | sort -n | uniq
}

# Stop processes: SIGTERM all, wait, SIGKILL what is left.
stop_pids() {
  local pids=("$@") deadline p alive
  ((${#pids[@]})) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while :; do
    alive=()
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
    ((${#alive[@]})) || return 0
    if ((SECONDS >= deadline)); then
      say "stop: pid(s) ${alive[*]} still running after ${STOP_TIMEOUT}s, sending SIGKILL"
      kill -KILL "${alive[@]}" 2>/dev/null || true
      sleep 0.5
      return 0
    fi
    sleep 0.2
  done
}

stop_watchdog() {
  local f="$DIR/watchdog.pid" pid
  [[ -f $f ]] || return 0
  pid=$(<"$f")
  if [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] &&
     tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qx _watchdog; then
    kill -TERM "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

stop_all() {  # quiet=1 for use inside start
  local quiet=${1:-0} n pid pids=() names=()
  [[ -d $DIR ]] || { ((quiet)) || say "stop: nothing in $DIR"; return 0; }
  stop_watchdog
  for n in $(known_nodes); do
    if pid=$(node_pid "$n"); then
      pids+=("$pid"); names+=("node-$n(pid $pid)")
    fi
  done
  if ((${#pids[@]})); then
    say "stop: stopping ${names[*]}"
    stop_pids "${pids[@]}"
  else
    ((quiet)) || say "stop: no running nodes in $DIR"
  fi
  rm -f "$DIR"/node-*/kafka.pid
}

# Kafka request check: BrokerApiVersionsCommand (in the broker jar) sends
# Metadata + ApiVersions requests; prints one "host:port (id: N ...)" line per
# broker that answered. Echoes the ids found.
tool_log4j() {
  local f="$DIR/tools-log4j.properties"
  [[ -f $f ]] || cat >"$f" <<'EOF'
log4j.rootLogger=ERROR, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
  echo "$f"
}

api_check() {  # bootstrap -> prints answering broker ids, one per line
  local bs=$1 cfg="$DIR/tools-client.properties"
  printf 'request.timeout.ms=5000\ndefault.api.timeout.ms=8000\nretries=2\n' >"$cfg"
  timeout 25 java -Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true \
    "-Dlog4j.configuration=file:$(tool_log4j)" -cp "$LIBS/*" \
    kafka.admin.BrokerApiVersionsCommand --bootstrap-server "$bs" --command-config "$cfg" 2>/dev/null |
    sed -nE 's/^[^ ]+ \(id: ([0-9]+) rack: .*/\1/p' | sort -un || true
}

write_node_config() {  # node index (1-based)
  local n=$1 nd="$DIR/node-$1" voters='' i rf=$NODES isr
  for ((i = 1; i <= NODES; i++)); do voters+="${voters:+,}$i@$HOST:$((CPORT + 2 * (i - 1)))"; done
  isr=$((NODES == 3 ? 2 : 1))
  mkdir -p "$nd/data"
  cat >"$nd/server.properties" <<EOF
# Written by connectors/kafka/local-kafka.sh; regenerated on every start.
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
listeners=PLAINTEXT://$HOST:$((PORT + 2 * (n - 1))),CONTROLLER://$HOST:$((CPORT + 2 * (n - 1)))
advertised.listeners=PLAINTEXT://$HOST:$((PORT + 2 * (n - 1)))
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$nd/data

# palaver creates its topics through the admin API with their own retention.
auto.create.topics.enable=false
num.partitions=8
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=8
group.initial.rebalance.delay.ms=0

# Small machine (2 cores): fewer threads than the defaults.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
background.threads=4
EOF
  cat >"$nd/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$nd/kafka.log
log4j.appender.file.MaxFileSize=50MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel\$=WARN
log4j.logger.org.apache.kafka.clients=WARN
EOF
}

heap_opts() {
  local num=${HEAP%[kKmMgG]} unit=${HEAP: -1} mb
  case $unit in k|K) mb=$((num / 1024)) ;; m|M) mb=$num ;; g|G) mb=$((num * 1024)) ;; esac
  if ((mb >= 512)); then echo "-Xms512m -Xmx$HEAP"; else echo "-Xms$HEAP -Xmx$HEAP"; fi
}

launch_node() {
  local n=$1 nd="$DIR/node-$1"
  # shellcheck disable=SC2046,SC2016,SC2086
  # setsid: own session, so a Ctrl-C in the terminal reaches this script (which
  # stops the nodes in order) and not the JVMs directly. The inner shell writes
  # its own pid, which `exec` turns into the JVM's pid.
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$nd/kafka.pid" \
    java $(heap_opts) -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    "-Dkafka.logs.dir=$nd" "-Dlog4j.configuration=file:$nd/log4j.properties" \
    ${PALAVER_KAFKA_JVM_OPTS:-} \
    -cp "$LIBS/*" kafka.Kafka "$nd/server.properties" \
    >"$nd/kafka.out" 2>&1 </dev/null &
}

show_logs() {
  local n nd
  for n in $(known_nodes); do
    nd="$DIR/node-$n"
    if [[ -s "$nd/kafka.out" ]]; then
      echo "----- $nd/kafka.out (last 40 lines)" >&2
      tail -n 40 "$nd/kafka.out" >&2
    fi
    if [[ -f "$nd/kafka.log" ]]; then
      echo "----- $nd/kafka.log (last 40 lines)" >&2
      tail -n 40 "$nd/kafka.log" >&2
    fi
  done
}

fail_start() {
  say "start: $*"
  show_logs
  stop_all 1
  exit 1
}

new_cluster_id() {  # 16 random bytes, base64url without padding (what Kafka's Uuid uses)
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [[ $id != -* ]] && { echo "$id"; return; }
  done
}

format_node() {
  local n=$1 id=$2 nd="$DIR/node-$1"
  java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true \
    "-Dlog4j.configuration=file:$(tool_log4j)" -cp "$LIBS/*" \
    kafka.tools.StorageTool format -t "$id" -c "$nd/server.properties" >"$nd/format.log" 2>&1
}

# ---------------------------------------------------------------- start
cmd_start() {
  check_opts
  need_java
  local t0=$SECONDS
  cmd_fetch

  if ((KEEP)) && [[ -f "$DIR/cluster.env" ]]; then
    local oldn
    oldn=$(sed -n 's/^NODES=//p' "$DIR/cluster.env")
    [[ $oldn == "$NODES" ]] || die "--keep: $DIR holds a $oldn-node cluster, asked for $NODES"
  fi

  # Stale nodes from an earlier run in this directory (e.g. a killed script).
  if [[ -d $DIR ]]; then
    stop_all 1
  fi

  if ((!KEEP)) && [[ -e $DIR ]]; then
    if [[ -f "$DIR/$DIR_MARK" ]] || [[ -d $DIR && -z "$(ls -A "$DIR")" ]]; then
      rm -rf "${DIR:?}"/node-* "$DIR/cluster.env" "$DIR"/tools-*.properties "$DIR/watchdog.log"
    else
      die "$DIR exists and was not made by this script; refusing to wipe it (choose another --dir)"
    fi
  fi
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  touch "$DIR/$DIR_MARK"

  local p
  for p in $(broker_ports) $(controller_ports); do
    port_open "$p" && die "port $HOST:$p is already in use (choose another --port/--controller-port)"
  done

  local n
  for ((n = 1; n <= NODES; n++)); do write_node_config "$n"; done
  {
    echo "NODES=$NODES"; echo "PORT=$PORT"; echo "CPORT=$CPORT"; echo "HEAP=$HEAP"
    echo "BOOTSTRAP=$(bootstrap)"; echo "VERSION=$KAFKA_VERSION"; echo "LIBS=$LIBS"
    echo "RUN_ID=$(date +%s%N)-$$"
  } >"$DIR/cluster.env"

  local fmt=0
  for ((n = 1; n <= NODES; n++)); do
    [[ -f "$DIR/node-$n/data/meta.properties" ]] || fmt=1
  done
  if ((fmt)); then
    ((KEEP)) && say "start: --keep but no formatted storage; formatting"
    local id pids=() ok=1
    id=$(new_cluster_id)
    say "start: formatting $NODES node(s), cluster id $id"
    for ((n = 1; n <= NODES; n++)); do format_node "$n" "$id" & pids+=($!); done
    for p in "${pids[@]}"; do wait "$p" || ok=0; done
    if ((!ok)); then
      for ((n = 1; n <= NODES; n++)); do cat "$DIR/node-$n/format.log" >&2; done
      die "start: formatting storage failed"
    fi
  fi

  say "start: Kafka $KAFKA_VERSION, $NODES node(s), heap $HEAP each, data in $DIR"
  for ((n = 1; n <= NODES; n++)); do launch_node "$n"; done
  # Interrupted before ready: stop what was started (run mode has its own traps).
  ((IN_RUN)) || trap 'trap "" INT TERM; say "start: interrupted"; stop_all 1; exit 130' INT TERM
  local deadline=$((SECONDS + TIMEOUT)) pid
  # Wait for the pid files (written by the launch shells).
  for ((n = 1; n <= NODES; n++)); do
    while [[ ! -s "$DIR/node-$n/kafka.pid" ]]; do
      ((SECONDS < deadline)) || fail_start "node $n did not start"
      sleep 0.05
    done
  done

  # Ready = every broker answers a Kafka request (Metadata + ApiVersions) and
  # the metadata lists all $NODES brokers.
  local ids want
  want=$(seq 1 "$NODES" | tr '\n' ' ')
  while :; do
    for ((n = 1; n <= NODES; n++)); do
      pid=$(node_pid "$n") || fail_start "node $n exited during startup"
    done
    local allopen=1
    for p in $(broker_ports); do port_open "$p" || allopen=0; done
    if ((allopen)); then
      ids=$(api_check "$(bootstrap)" | tr '\n' ' ')
      [[ $ids == "$want" ]] && break
    fi
    ((SECONDS < deadline)) || fail_start "not ready after ${TIMEOUT}s (brokers answering: ${ids:-none})"
    sleep 0.5
  done
  ((IN_RUN)) || trap - INT TERM
  say "start: ready in $((SECONDS - t0))s; logs: $DIR/node-N/kafka.log; stop: $SELF stop --dir $DIR"
  echo "bootstrap: $(bootstrap)"
}

# ---------------------------------------------------------------- stop / status
cmd_stop() {
  [[ -d $DIR ]] && DIR=$(cd "$DIR" && pwd)
  stop_all 0
  [[ -d $DIR ]] && say "stop: done"
  return 0
}

cmd_status() {
  [[ -d $DIR ]] || { say "status: $DIR does not exist; not running"; return 3; }
  DIR=$(cd "$DIR" && pwd)
  load_cluster_env || { say "status: no cluster in $DIR (never started)"; return 3; }
  local n pid up=0 ids=" " bp nrun=0
  local -a running=()
  for ((n = 1; n <= NODES; n++)); do
    if pid=$(node_pid "$n"); then running[n]=$pid; nrun=$((nrun + 1)); else running[n]=; fi
  done
  if ((nrun)); then
    need_java
    cached || die "jars not cached; run fetch"
    ids=" $(api_check "$(bootstrap)" | tr '\n' ' ')"
  fi
  for ((n = 1; n <= NODES; n++)); do
    bp=$((PORT + 2 * (n - 1)))
    if [[ -n ${running[n]} && $ids == *" $n "* ]]; then
      echo "node-$n pid ${running[n]} $HOST:$bp up"
      up=$((up + 1))
    elif [[ -n ${running[n]} ]]; then
      echo "node-$n pid ${running[n]} $HOST:$bp running, not answering"
    else
      echo "node-$n $HOST:$bp stopped"
    fi
  done
  echo "bootstrap: $(bootstrap)"
  ((up == NODES)) && return 0 || return 3
}

# ---------------------------------------------------------------- one node (failover tests)
node_arg() {
  [[ ${REST[0]:-} =~ ^[0-9]+$ ]] || die "give the node number, e.g. $cmd 2"
  [[ -d $DIR ]] || die "$DIR does not exist"
  DIR=$(cd "$DIR" && pwd)
  load_cluster_env || die "no cluster in $DIR"
  NODE=${REST[0]}
  ((NODE >= 1 && NODE <= NODES)) || die "node $NODE: the cluster in $DIR has nodes 1..$NODES"
}

cmd_stop_node() {  # [--kill]: SIGKILL (crash) instead of a clean shutdown
  node_arg
  local pid
  if ! pid=$(node_pid "$NODE"); then say "stop-node: node $NODE is not running"; return 0; fi
  if ((KILL)); then
    say "stop-node: SIGKILL node-$NODE (pid $pid)"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  else
    say "stop-node: stopping node-$NODE (pid $pid)"
    stop_pids "$pid"
  fi
  rm -f "$DIR/node-$NODE/kafka.pid"
}

cmd_start_node() {  # restart one node of an existing cluster, keeping its data
  node_arg
  [[ -z $TIMEOUT ]] && TIMEOUT=60
  [[ $TIMEOUT =~ ^[0-9]+$ ]] || die "bad --timeout '$TIMEOUT'"
  need_java
  cached || die "jars not cached; run fetch"
  if node_pid "$NODE" >/dev/null; then say "start-node: node $NODE is already running"; return 0; fi
  rm -f "$DIR/node-$NODE/kafka.pid"
  local bp=$((PORT + 2 * (NODE - 1))) cp=$((CPORT + 2 * (NODE - 1))) deadline=$((SECONDS + TIMEOUT)) t0=$SECONDS
  port_open "$bp" && die "port $HOST:$bp is in use"
  port_open "$cp" && die "port $HOST:$cp is in use"
  launch_node "$NODE"
  while [[ ! -s "$DIR/node-$NODE/kafka.pid" ]]; do sleep 0.05; done
  while :; do
    node_pid "$NODE" >/dev/null || { tail -n 40 "$DIR/node-$NODE/kafka.log" >&2; die "start-node: node $NODE exited"; }
    if port_open "$bp" && [[ " $(api_check "$HOST:$bp" | tr '\n' ' ')" == *" $NODE "* ]]; then break; fi
    ((SECONDS < deadline)) || { tail -n 40 "$DIR/node-$NODE/kafka.log" >&2; die "start-node: node $NODE not ready after ${TIMEOUT}s (still running; stop it with stop-node $NODE)"; }
    sleep 0.5
  done
  say "start-node: node $NODE ready in $((SECONDS - t0))s"
}

# ---------------------------------------------------------------- run
# Watchdog for run mode: lives in its own session; when the run script dies
# without cleaning up (kill -9), it stops the nodes that run started.
cmd_watchdog() {
  local parent=$1 n pid pids=() run_id
  DIR=$2
  echo $$ >"$DIR/watchdog.pid"
  run_id=$(sed -n 's/^RUN_ID=//p' "$DIR/cluster.env" 2>/dev/null) || true
  trap 'exit 0' TERM
  while kill -0 "$parent" 2>/dev/null; do
    sleep 1 &
    wait $! || true  # (interruptible, unlike a foreground sleep)
  done
  trap '' TERM
  # A later start in the same directory owns the nodes now: leave them alone.
  if [[ -z $run_id || "$(sed -n 's/^RUN_ID=//p' "$DIR/cluster.env" 2>/dev/null)" != "$run_id" ]]; then
    rm -f "$DIR/watchdog.pid"
    exit 0
  fi
  echo "[$(date '+%F %T')] run script (pid $parent) is gone; stopping what it started"
  # The command run was running: stop it too (same process, checked by start time).
  local cpid cstart
  if read -r cpid cstart <"$DIR/command.pid" 2>/dev/null &&
     [[ $cpid =~ ^[0-9]+$ && -n $cstart && "$(proc_start "$cpid")" == "$cstart" ]]; then
    echo "[$(date '+%F %T')] stopping the command (pid $cpid)"
    kill -TERM "$cpid" 2>/dev/null || true
  fi
  rm -f "$DIR/command.pid"
  for n in $(known_nodes); do
    if pid=$(node_pid "$n"); then pids+=("$pid"); fi
  done
  echo "[$(date '+%F %T')] stopping node pid(s): ${pids[*]:-none}"
  stop_pids "${pids[@]}"
  rm -f "$DIR"/node-*/kafka.pid "$DIR/watchdog.pid"
  echo "[$(date '+%F %T')] stopped"
}

proc_start() {  # pid -> its start time (field 22 of /proc/PID/stat), empty if gone
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  s=${s##*) }
  local -a f
  read -ra f <<<"$s"
  echo "${f[19]:-}"
}

RUN_CHILD=
WATCHDOG=
run_cleanup() {
  local rc=$1
  trap - EXIT
  trap '' INT TERM
  if [[ -n $WATCHDOG ]]; then
    kill -TERM "$WATCHDOG" 2>/dev/null || true
    wait "$WATCHDOG" 2>/dev/null || true
  fi
  if [[ -n $RUN_CHILD ]] && kill -0 "$RUN_CHILD" 2>/dev/null; then
    kill -TERM "$RUN_CHILD" 2>/dev/null || true
    wait "$RUN_CHILD" 2>/dev/null || true
  fi
  stop_all 1
  rm -f "$DIR/command.pid"
  exit "$rc"
}

cmd_run() {
  ((${#REST[@]})) || die "run: give a command after --, e.g. run -- ctest"
  IN_RUN=1
  trap 'run_cleanup 1' EXIT
  trap 'run_cleanup 130' INT
  trap 'run_cleanup 143' TERM
  cmd_start
  setsid "$SELF" _watchdog "$$" "$DIR" >>"$DIR/watchdog.log" 2>&1 </dev/null &
  WATCHDOG=$!
  export PALAVER_KAFKA_BROKERS
  PALAVER_KAFKA_BROKERS=$(bootstrap)
  export PALAVER_KAFKA_DIR=$DIR
  local rc=0
  # In the background + wait, so INT/TERM to this script are handled at once.
  "${REST[@]}" &
  RUN_CHILD=$!
  echo "$RUN_CHILD $(proc_start "$RUN_CHILD")" >"$DIR/command.pid"
  wait "$RUN_CHILD" || rc=$?
  RUN_CHILD=
  trap - EXIT
  run_cleanup "$rc"
}

# ---------------------------------------------------------------- main
cmd=${1:-help}
(($#)) && shift
case $cmd in
  fetch) parse_opts "$@"; need_java; cmd_fetch ;;
  start) parse_opts "$@"; ((${#REST[@]} == 0)) || die "start takes no command (did you mean run?)"; cmd_start ;;
  stop) parse_opts "$@"; cmd_stop ;;
  status) parse_opts "$@"; cmd_status ;;
  stop-node) parse_opts "$@"; cmd_stop_node ;;
  start-node) parse_opts "$@"; cmd_start_node ;;
  run) parse_opts "$@"; check_opts; cmd_run ;;
  _watchdog) cmd_watchdog "$@" ;;
  help|-h|--help) usage ;;
  *) usage >&2; exit 2 ;;
esac
