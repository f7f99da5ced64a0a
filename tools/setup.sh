#!/usr/bin/env bash
# Installs every Debian package the build and the tests need. Idempotent: installs only what is
# missing. Runs apt-get as root, or through sudo otherwise.
set -euo pipefail

packages=(
  build-essential cmake pkg-config g++ clang libclang-rt-14-dev clang-format-14 clang-tidy-14
  liburing-dev libmimalloc-dev libxxhash-dev libhwloc-dev libdw-dev libspdlog-dev libfmt-dev
  libsnappy-dev liblz4-dev libzstd-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev
  kcat librdkafka-dev python3 python3-confluent-kafka gdb
  python3-kafka golang-go golang-github-shopify-sarama-dev
  python3-pika amqp-tools
  chromium fonts-dejavu-core
)
# Node.js for the kafkajs compatibility tests: keep a newer one if present.
command -v node >/dev/null 2>&1 || packages+=(nodejs npm)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq || true
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi

# kafkajs for the compatibility tests, pinned by tests/compat/package-lock.json.
here="$(cd "$(dirname "$0")/.." && pwd)"
if [[ -f "$here/tests/compat/package-lock.json" ]]; then
  (cd "$here/tests/compat" && { [[ -d node_modules/kafkajs ]] || npm ci --no-audit --no-fund --silent; })
fi
