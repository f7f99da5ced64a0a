#!/usr/bin/env bash
# Smoke test: start sluiced on an ephemeral loopback port, run sluice-bench briefly at a low
# rate with both clients, both durability modes and the one-thread client (--threads 1, spinning
# or not), require lost == dup == 0 (--check). Never
# asserts on latency. Exit 77 (skipped) when io_uring is unavailable to the broker.
set -u
SLUICED=$1
BENCH=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-smoke.XXXXXX")
pid=
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
"$SLUICED" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --data-dir "$work/data" --smp 2 --ready-file "$work/port" >"$work/sluiced.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  [[ -s $work/port ]] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$work/sluiced.log"
    grep -qi "io_uring" "$work/sluiced.log" && exit 77
    exit 1
  fi
  sleep 0.05
done
[[ -s $work/port ]] || { echo "sluiced did not become ready"; cat "$work/sluiced.log"; exit 1; }
port=$(tr -dc '0-9' <"$work/port")
rc=0
run() {
  echo "+ sluice-bench $*"
  out=$("$BENCH" --bootstrap "127.0.0.1:$port" --check "$@" 2>&1)
  r=$?
  echo "$out" | tail -n 4
  [[ $r -eq 0 ]] || { echo "FAILED (exit $r)"; rc=1; }
}
run --rate 500 --size 100 --duration 1.5 --warmup 0.5 --partitions 2 --consumers 2 --acks -1
run --rate 500 --size 100 --duration 1.5 --warmup 0.5 --partitions 1 --acks 1 --topic-config sluice.read.visibility=appended
run --threads 1 --rate 500 --size 100 --duration 1.5 --warmup 0.5 --partitions 2 --acks -1
run --threads 1 --spin --rate 500 --size 100 --duration 1 --warmup 0.5 --partitions 1 --acks 1
run --client librdkafka --rate 300 --size 64 --duration 1.5 --warmup 0.5 --partitions 2 --acks -1
exit $rc
