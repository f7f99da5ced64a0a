#!/usr/bin/env bash
# Installs the sluice_client component into a temporary prefix and builds a tiny application
# against it twice: with CMake (find_package(Sluice) -> Sluice::client) and with pkg-config
# (sluice-client.pc). The application runs without a broker (partitioner + an error path).
set -euo pipefail
build_dir=$1
tmp=$(mktemp -d /tmp/sluice-client-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build_dir" --component sluice_client --prefix "$tmp/prefix" > "$tmp/install.log"
test -f "$tmp/prefix/include/sluice/client/client.h"
mkdir -p "$tmp/app"
cat > "$tmp/app/main.cc" <<'CC'
#include <sluice/client/client.h>

#include <cstdio>

int main() {
  // Java's Utils.murmur2("21") = -973932308.
  if (sluice::client::murmur2("21", 2) != -973932308) return 1;
  sluice::client::ProducerConfig cfg;
  cfg.bootstrap_servers = "not-a-host-port";
  auto p = sluice::client::Producer::create(cfg);
  if (p.ok() || p.error().code != sluice::client::Errc::kInvalidArgument) return 2;
  std::printf("ok: %s\n", p.error().describe().c_str());
  return 0;
}
CC
cat > "$tmp/app/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.25)
project(sluice_client_consumer CXX)
set(CMAKE_CXX_STANDARD 20)
find_package(Sluice 0.1 REQUIRED)
add_executable(app main.cc)
target_link_libraries(app PRIVATE Sluice::client)
CM
cmake -S "$tmp/app" -B "$tmp/app/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release > "$tmp/cmake.log"
cmake --build "$tmp/app/build" > "$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }
"$tmp/app/build/app"
libdir=$(dirname "$(find "$tmp/prefix" -name sluice-client.pc)")
# shellcheck disable=SC2046
g++ -std=c++20 -O1 "$tmp/app/main.cc" -o "$tmp/app/app_pc" $(PKG_CONFIG_PATH="$libdir" pkg-config --cflags --libs sluice-client)
"$tmp/app/app_pc"
echo "install test passed"
