#!/usr/bin/env bash
# Installs the Debian 12 packages palaver needs to build, run and test, and
# nothing that is already there. Used by run.sh and test.sh; safe to rerun.
#
#   ./deps.sh          build and run dependencies
#   ./deps.sh --test   also what the tests need (Java and Maven for the local
#                      Kafka broker, kcat, an SMTP server, clang's libFuzzer)
#   ./deps.sh --bench  also what the benchmarks need (the test set, wrk, nginx)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache
  librdkafka-dev librocksdb-dev libcereal-dev libspdlog-dev nlohmann-json3-dev
  libvalijson-dev libboost1.81-dev libcli11-dev libssl-dev libjemalloc-dev
  libhowardhinnant-date-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcurl4-openssl-dev
)
if [[ "${1:-}" == "--test" || "${1:-}" == "--bench" ]]; then
  packages+=(default-jre-headless maven kafkacat curl python3-aiosmtpd clang libclang-rt-14-dev)
fi
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(wrk nginx-light)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  echo "deps: all ${#packages[@]} Debian packages are installed"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "deps: not root and no sudo; install as root: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
