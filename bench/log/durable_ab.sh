#!/usr/bin/env bash
# Interleaved before/after runs of log_durable_bench (see durable_bench.cc), then medians of the
# per-run percentiles: the 2 vCPUs of the bench VM are shared, so single runs swing by 10x.
#   BEFORE=/path/to/main/log_durable_bench AFTER=build/ci/bench/log/log_durable_bench \
#   DIR=/var/tmp/sluice-dur ROUNDS=20 N=2000 bench/log/durable_ab.sh
# DIR must be on the file system to measure (ext4 here; not tmpfs, which refuses O_DIRECT).
set -euo pipefail
: "${BEFORE:?path of the before binary}" "${AFTER:?path of the after binary}"
DIR=${DIR:-/var/tmp/sluice-dur}
N=${N:-2000}
ROUNDS=${ROUNDS:-20}
WINDOW=${WINDOW:-2097152}
mkdir -p "$DIR"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for round in $(seq 1 "$ROUNDS"); do
  for sz in 100 16384; do
    echo "r$round before:fallocate $("$BEFORE" --dir "$DIR" --bytes $sz --count "$N" --prezero 0)"
    echo "r$round after:window $("$AFTER" --dir "$DIR" --bytes $sz --count "$N" --window-bytes "$WINDOW" --dsync 0)"
    echo "r$round before:prezero $("$BEFORE" --dir "$DIR" --bytes $sz --count "$N" --prezero 1)"
    echo "r$round after:window+dsync $("$AFTER" --dir "$DIR" --bytes $sz --count "$N" --window-bytes "$WINDOW" --dsync 1)"
  done
done >"$out"
python3 - "$out" <<'PY'
import re, sys, statistics as st
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r'r(\d+) (\S+) bytes=(\d+).*?mean=([\d.]+)us p50=([\d.]+)us p90=([\d.]+)us p99=([\d.]+)us p999=([\d.]+)us', line)
    if m:
        rows.setdefault((int(m.group(3)), m.group(2)), []).append([float(x) for x in m.groups()[3:]])
print("%-6s %-20s %5s %9s %9s %9s %9s %9s" % ("bytes", "config", "runs", "mean", "p50", "p90", "p99", "p999"))
for k in sorted(rows):
    v = rows[k]
    med = [st.median([r[i] for r in v]) for i in range(5)]
    print("%-6d %-20s %5d %9.1f %9.1f %9.1f %9.1f %9.1f" % (k[0], k[1], len(v), *med))
PY
