#!/usr/bin/env bash
# One end-to-end run for the durable-path settings: sluiced (--smp 1) with extra --set KEY=VALUE
# flags, then sluice-bench against it; prints the bench's JSON fields plus the broker's CPU time
# (centiseconds) and the device's flush requests (/proc/diskstats of $DISK, default vda: the whole
# disk, so other work shows too). Needs the sluiced and sluice-bench targets built.
#   bench/log/durable_e2e.sh LABEL [KEY=VALUE...] -- SLUICE-BENCH ARGS
#   e.g. bench/log/durable_e2e.sh off sluice.log.prezero.ahead.bytes=0 -- --rate 1000 --size 16384 --batch 1 --acks -1
B=${BUILD_DIR:-build/ci}
label=$1; shift
sets=(); bench=()
while [ $# -gt 0 ]; do if [ "$1" = "--" ]; then shift; bench=("$@"); break; fi; sets+=(--set "$1"); shift; done
data="${DATA_ROOT:-/var/tmp}/sluice-e2e-data-$$"
rm -rf "$data"; mkdir -p "$data"
ready="$data.ready"; rm -f "$ready"
"$B/tools/sluiced/sluiced" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --data-dir "$data" --smp 1 --ready-file "$ready" "${sets[@]}" 2>"$data.err" &
pid=$!
for i in $(seq 1 100); do [ -s "$ready" ] && break; sleep 0.1; done
port=$(cat "$ready")
DISK=${DISK:-vda}
f0=$(awk -v disk="$DISK" '$3==disk{print $19}' /proc/diskstats)
t0=$(awk '{print $14+$15}' /proc/$pid/stat)
out=$("$B/bench/e2e/sluice-bench" --bootstrap 127.0.0.1:$port "${bench[@]}" 2>/dev/null | tail -1)
t1=$(awk '{print $14+$15}' /proc/$pid/stat)
f1=$(awk -v disk="$DISK" '$3==disk{print $19}' /proc/diskstats)
kill $pid; wait $pid 2>/dev/null
fields=$(echo "$out" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(" ".join("%s=%s"%(k,d[k]) for k in ["p50_us","p90_us","p99_us","p999_us","ack_p50_us","ack_p99_us","msgs_per_s","lost","errors"] if k in d))')
echo "$label cpu_cs=$((t1 - t0)) dev_flushes=$((f1-f0)) $fields"
rm -rf "$data" "$data.err" "$ready"
