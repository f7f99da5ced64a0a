#!/usr/bin/env bash
# Sluice side by side with Redis Streams, NATS JetStream and RabbitMQ, one command, loopback only.
#
#   bench/compare/run.sh [--rate 10000] [--size 100] [--duration 10] [--warmup 2] [--no-install]
#                        [--no-throughput] [--build-dir DIR] [--results DIR]
#
# Installs the peers from Debian (skipping any that are not available, and saying so), builds
# sluiced, sluice-bench and the generators (Release), then in one run measures:
#   floors      loopback TCP round trip (blocking / spinning), 4 KiB O_DIRECT fdatasync, raw
#               O_DIRECT 1 MiB write bandwidth, on the file system the servers write to
#   sluice      acks=-1 + durable visibility (default) and acks=1 + sluice.read.visibility=appended,
#               broker without and with --poll-us, own client; acks=-1 with librdkafka as a cross-check
#   redis       Redis Streams, AOF appendfsync everysec and always
#   nats        JetStream file storage
#   rabbitmq    durable classic queue, persistent messages, publisher confirms
#   throughput  Sluice 100 B messages batched at 1M msg/s offered; 1 MiB batches
# every one at the same open-loop rate/size/duration, latency from the intended send time.
# Writes results/results.md (table), results/latency.png (percentile plot), results/*.json.
# Every server is started on 127.0.0.1 with its data under a fresh directory and stopped at the
# end (trap), every wait is bounded.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RATE=10000 SIZE=100 DURATION=10 WARMUP=2 INSTALL=1 THROUGHPUT=1
BUILD=${BUILD_DIR:-$ROOT/build/compare}
RESULTS=$ROOT/bench/compare/results
while [[ $# -gt 0 ]]; do
  case $1 in
    --rate) RATE=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --no-install) INSTALL=0; shift ;;
    --no-throughput) THROUGHPUT=0; shift ;;
    --build-dir) BUILD=$2; shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    -h|--help) sed -n 2,20p "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$RESULTS"
log() { echo "[compare] $*" >&2; }

# ------------------------------------------------------------------ install
declare -A HAVE=()
if [[ $INSTALL == 1 ]]; then
  [[ $(id -u) == 0 ]] || { log "need root for apt-get (or pass --no-install)"; exit 2; }
  apt-get update -qq >/dev/null || log "apt-get update failed; using the package lists as they are"
  want=(redis-server nats-server rabbitmq-server gnuplot-nox libhiredis-dev librabbitmq-dev librdkafka-dev)
  avail=()
  for p in "${want[@]}"; do
    cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
    if [[ -n $cand && $cand != "(none)" ]]; then avail+=("$p"); else log "package $p not available from apt: skipped"; fi
  done
  # policy-rc.d or not, the packaged services must not be left running: we start our own.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${avail[@]}" >/dev/null
fi
command -v redis-server >/dev/null && HAVE[redis]=1 || log "redis-server missing: Redis skipped"
command -v nats-server >/dev/null && HAVE[nats]=1 || log "nats-server missing: NATS skipped"
[[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] && HAVE[rabbitmq]=1 || log "rabbitmq-server missing: RabbitMQ skipped"
command -v gnuplot >/dev/null && HAVE[gnuplot]=1 || log "gnuplot missing: no plot"

# ------------------------------------------------------------------ build
log "building in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >"$RESULTS/build.log" 2>&1
cmake --build "$BUILD" -j"$(nproc)" --target sluiced sluice-bench floors >>"$RESULTS/build.log" 2>&1
for t in nats_bench redis_bench rabbitmq_bench; do
  cmake --build "$BUILD" -j"$(nproc)" --target $t >>"$RESULTS/build.log" 2>&1 || log "$t not built (see build.log)"
done
SLUICED=$BUILD/tools/sluiced/sluiced
BENCH=$BUILD/bench/e2e/sluice-bench
GEN=$BUILD/bench/compare

# ------------------------------------------------------------------ servers and cleanup
WORK=$(mktemp -d /var/tmp/sluice-compare.XXXXXX)  # a real disk, not tmpfs: fsync must mean something
PIDS=()
RABBIT_NODE=
EPMD_WAS_RUNNING=0
pgrep -x epmd >/dev/null && EPMD_WAS_RUNNING=1
cleanup() {
  set +e
  if [[ -n $RABBIT_NODE ]]; then
    HOME=$WORK/rabbit/home timeout 60 /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RABBIT_NODE" stop >/dev/null 2>&1
  fi
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null
    fi
  done
  if [[ $EPMD_WAS_RUNNING == 0 ]] && pgrep -x epmd >/dev/null; then epmd -kill >/dev/null 2>&1; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {  # port, seconds
  for _ in $(seq 1 $(($2 * 10))); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
stop_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

JSONL=$RESULTS/runs.jsonl
: >"$JSONL"
record() {  # id system durability client json-line
  python3 - "$@" >>"$JSONL" <<'EOF'
import json, sys
rid, system, durability, client, line = sys.argv[1:6]
d = json.loads(line)
d.update(id=rid, system=system, durability=durability, client=client)
print(json.dumps(d))
EOF
}
COMMON=(--rate "$RATE" --size "$SIZE" --duration "$DURATION" --warmup "$WARMUP")

# ------------------------------------------------------------------ floors
log "floors (loopback RTT, fdatasync, O_DIRECT bandwidth) in $WORK"
"$GEN/floors" --dir "$WORK" | tail -n 1 >"$RESULTS/floors.json"
cat "$RESULTS/floors.json" >&2

# ------------------------------------------------------------------ sluice
start_sluiced() {  # extra args...
  rm -rf "$WORK/sluice" "$WORK/sluice.port"
  "$SLUICED" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --data-dir "$WORK/sluice" --smp 2 --ready-file "$WORK/sluice.port" "$@" \
    >"$WORK/sluiced.log" 2>&1 &
  SLUICED_PID=$!
  PIDS+=("$SLUICED_PID")
  for _ in $(seq 1 100); do [[ -s $WORK/sluice.port ]] && break; sleep 0.1; done
  [[ -s $WORK/sluice.port ]] || { cat "$WORK/sluiced.log" >&2; return 1; }
  SLUICE_PORT=$(tr -dc 0-9 <"$WORK/sluice.port")
}
run_sluice() {  # id durability client args...
  local id=$1 dur=$2 client=$3; shift 3
  log "sluice $id: $dur"
  local out
  out=$("$BENCH" --bootstrap "127.0.0.1:$SLUICE_PORT" --client "$client" "${COMMON[@]}" \
        --hist-out "$RESULTS/$id.hgrm" "$@" 2>"$RESULTS/$id.log" | tail -n 1) || true
  [[ -n $out ]] && record "$id" sluice "$dur" "$client" "$out" || log "sluice $id failed: $(tail -n 3 "$RESULTS/$id.log")"
}
for poll in 0 50; do
  start_sluiced --poll-us "$poll"
  sfx=""; [[ $poll != 0 ]] && sfx="-poll$poll"
  run_sluice "sluice-acks-1-durable$sfx" "acks=-1, visible after fdatasync (default)$( [[ $poll != 0 ]] && echo ", --poll-us $poll")" own --acks -1
  run_sluice "sluice-acks1-appended$sfx" "acks=1, sluice.read.visibility=appended$( [[ $poll != 0 ]] && echo ", --poll-us $poll")" own --acks 1 \
    --topic-config sluice.read.visibility=appended
  if [[ $poll == 0 ]]; then
    run_sluice "sluice-acks-1-durable-librdkafka" "acks=-1, visible after fdatasync (librdkafka client)" librdkafka --acks -1
  fi
  if [[ $poll == 0 && $THROUGHPUT == 1 ]]; then
    log "sluice throughput: 100 B batched, 1M msg/s offered, 2 partitions"
    out=$("$BENCH" --bootstrap "127.0.0.1:$SLUICE_PORT" --rate 1000000 --size 100 --duration 5 --warmup 1 --partitions 2 \
          --consumers 2 --acks 1 --batch 8192 --linger-us 1000 --topic-config sluice.read.visibility=appended \
          2>"$RESULTS/sluice-throughput-100B.log" | tail -n 1) || true
    [[ -n $out ]] && record sluice-throughput-100B sluice "acks=1, appended, batch<=8192, linger 1 ms, 2 partitions" own "$out"
    log "sluice throughput: ~1 MiB batches (16 x 65000 B; max.message.bytes is 1048588), acks=-1 durable"
    out=$("$BENCH" --bootstrap "127.0.0.1:$SLUICE_PORT" --rate 12000 --size 65000 --duration 5 --warmup 1 --partitions 1 \
          --acks -1 --batch 16 --linger-us 2000 --max-inflight 64 \
          2>"$RESULTS/sluice-throughput-1MiB.log" | tail -n 1) || true
    [[ -n $out ]] && record sluice-throughput-1MiB sluice "acks=-1, durable, 1 MiB batches" own "$out"
  fi
  stop_pid "$SLUICED_PID"
done

# ------------------------------------------------------------------ redis
run_peer() {  # id system durability binary port
  local id=$1 system=$2 dur=$3 bin=$4 port=$5
  log "$system $id: $dur"
  local out
  out=$("$bin" --port "$port" "${COMMON[@]}" --label "$dur" --hist-out "$RESULTS/$id.hgrm" 2>"$RESULTS/$id.log" | tail -n 1) || true
  [[ -n $out ]] && record "$id" "$system" "$dur" native "$out" || log "$id failed: $(tail -n 3 "$RESULTS/$id.log")"
}
if [[ -n ${HAVE[redis]:-} && -x $GEN/redis_bench ]]; then
  for fsync in everysec always; do
    port=$(free_port)
    mkdir -p "$WORK/redis-$fsync"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$WORK/redis-$fsync" --appendonly yes --appendfsync "$fsync" \
      --save '' --protected-mode no --daemonize no --logfile "$WORK/redis-$fsync.log" &
    rpid=$!
    PIDS+=("$rpid")
    if wait_port "$port" 20; then
      run_peer "redis-aof-$fsync" redis "Streams, AOF appendfsync $fsync" "$GEN/redis_bench" "$port"
    else log "redis did not start"; fi
    stop_pid "$rpid"
  done
else log "Redis skipped"; fi

# ------------------------------------------------------------------ nats
if [[ -n ${HAVE[nats]:-} && -x $GEN/nats_bench ]]; then
  port=$(free_port)
  nats-server -a 127.0.0.1 -p "$port" -js -sd "$WORK/nats" >"$WORK/nats.log" 2>&1 &
  npid=$!
  PIDS+=("$npid")
  if wait_port "$port" 20; then
    sleep 0.5
    run_peer nats-jetstream-file nats "JetStream file storage (nats-server $(nats-server --version 2>/dev/null | awk '{print $NF}'): acked after write to the OS, no per-message fsync)" \
      "$GEN/nats_bench" "$port"
  else log "nats-server did not start"; fi
  stop_pid "$npid"
else log "NATS skipped"; fi

# ------------------------------------------------------------------ rabbitmq
if [[ -n ${HAVE[rabbitmq]:-} && -x $GEN/rabbitmq_bench ]]; then
  port=$(free_port)
  dist=$(free_port)
  mkdir -p "$WORK/rabbit/home" "$WORK/rabbit/mnesia" "$WORK/rabbit/log"
  : >"$WORK/rabbit/enabled_plugins"
  RABBIT_NODE="sluicebench$$@localhost"
  export_rabbit_env() {
    export HOME=$WORK/rabbit/home RABBITMQ_NODENAME=$RABBIT_NODE RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
      RABBITMQ_NODE_PORT=$port RABBITMQ_DIST_PORT=$dist RABBITMQ_MNESIA_BASE=$WORK/rabbit/mnesia \
      RABBITMQ_LOG_BASE=$WORK/rabbit/log RABBITMQ_ENABLED_PLUGINS_FILE=$WORK/rabbit/enabled_plugins \
      RABBITMQ_PID_FILE=$WORK/rabbit/pid ERL_EPMD_ADDRESS=127.0.0.1
  }
  ( export_rabbit_env; exec /usr/lib/rabbitmq/bin/rabbitmq-server >"$WORK/rabbit/stdout.log" 2>&1 ) &
  rbpid=$!
  PIDS+=("$rbpid")
  if wait_port "$port" 120; then  # the AMQP listener opens once the broker has booted
    run_peer rabbitmq-durable-confirms rabbitmq "durable classic queue, persistent messages, publisher confirms (after fsync)" \
      "$GEN/rabbitmq_bench" "$port"
  else log "rabbitmq did not start: $(tail -n 5 "$WORK/rabbit/stdout.log")"; fi
  ( export_rabbit_env; timeout 60 /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RABBIT_NODE" stop >/dev/null 2>&1 ) || true
  RABBIT_NODE=
  stop_pid "$rbpid"
else log "RabbitMQ skipped"; fi

# ------------------------------------------------------------------ table and plot
python3 - "$RESULTS" "$RATE" "$SIZE" "$DURATION" "$WARMUP" <<'EOF'
import json, os, platform, subprocess, sys, datetime
res, rate, size, dur, warm = sys.argv[1:6]
runs = [json.loads(l) for l in open(os.path.join(res, "runs.jsonl")) if l.strip()]
fl = json.load(open(os.path.join(res, "floors.json")))
def cpu():
    try:
        for l in open("/proc/cpuinfo"):
            if l.startswith("model name"): return l.split(":", 1)[1].strip()
    except OSError: pass
    return platform.processor()
mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
out = []
out.append(f"# Sluice vs peers — {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}\n")
out.append(f"Machine: {cpu()}, {os.cpu_count()} CPUs, {mem:.0f} GiB, Linux {platform.release()}. Loopback only.\n")
out.append(f"Workload: open loop, {rate} msg/s of {size} B, {warm} s warm-up + {dur} s measured, 1 producer + 1 consumer, "
           "latency = consumer receive time − intended send time (no coordinated omission). Microseconds.\n")
out.append("## Floors (same run)\n")
out.append("| loopback RTT blocking p50/p99 | loopback RTT spinning p50/p99 | 4 KiB O_DIRECT overwrite+fdatasync p50/p99/max | same into fallocated (unwritten) blocks p50/p99 | overwrite+fdatasync with every CPU busy p50/p99 | O_DIRECT 1 MiB writes (fdatasync each / at end) |")
out.append("|---|---|---|---|---|---|")
out.append(f"| {fl['rtt_blocking_p50_us']} / {fl['rtt_blocking_p99_us']} | {fl['rtt_spinning_p50_us']} / {fl['rtt_spinning_p99_us']} | "
           f"{fl['fdatasync_4k_p50_us']} / {fl['fdatasync_4k_p99_us']} / {fl['fdatasync_4k_max_us']} | "
           f"{fl['fdatasync_4k_unwritten_p50_us']} / {fl['fdatasync_4k_unwritten_p99_us']} | "
           f"{fl.get('fdatasync_4k_busy_cpu_p50_us', '')} / {fl.get('fdatasync_4k_busy_cpu_p99_us', '')} | "
           f"{fl['odirect_1mib_sync_each_mib_per_s']} / {fl['odirect_1mib_mib_per_s']} MiB/s |\n")
out.append("## End-to-end latency\n")
out.append("| run | system | durability | client | p50 | p90 | p99 | p99.9 | p99.99 | max | msg/s | MiB/s | ack p50 | ack p99 | lost | dup | errors |")
out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in runs:
    out.append(f"| {r['id']} | {r['system']} | {r['durability']} | {r['client']} | {r['p50_us']} | {r['p90_us']} | {r['p99_us']} | "
               f"{r['p999_us']} | {r['p9999_us']} | {r['max_us']} | {r['msgs_per_s']} | {r['mib_per_s']} | {r.get('ack_p50_us','')} | "
               f"{r.get('ack_p99_us','')} | {r['lost']} | {r['dup']} | {r['errors']} |")
out.append("\nPlot: `latency.png` (percentile distribution of every latency run). Raw JSON: `runs.jsonl`, `floors.json`; "
           "distributions `*.hgrm` (per-run logs `*.log` stay local).\n")
open(os.path.join(res, "results.md"), "w").write("\n".join(out) + "\n")
# gnuplot script: x = 1/(1-p) on a log axis.
curves = [r for r in runs if os.path.exists(os.path.join(res, r["id"] + ".hgrm"))]
g = [f'set terminal pngcairo size 1200,700 font ",10"', # Names relative to the results folder (gnuplot runs there): the script stays valid anywhere.
     'set output "latency.png"',
     'set logscale xy', 'set xlabel "percentile"', 'set ylabel "end-to-end latency (us)"', 'set grid',
     f'set title "End-to-end latency, {rate} msg/s x {size} B, open loop (loopback)"', 'set key outside right',
     'set xtics ("50%%" 2, "90%%" 10, "99%%" 100, "99.9%%" 1000, "99.99%%" 10000, "99.999%%" 100000)',  # %% = literal %
     'set xrange [1.5:200000]']
plots = []
for r in curves:
    f = r["id"] + ".hgrm"
    plots.append(f'"{f}" using (($1<100)?1/(1-$1/100):150000):2 with linespoints title "{r["id"]}"')
if plots:
    g.append("plot " + ", \\\n  ".join(plots))
    open(os.path.join(res, "latency.gp"), "w").write("\n".join(g) + "\n")
EOF
if [[ -n ${HAVE[gnuplot]:-} && -f $RESULTS/latency.gp ]]; then
  (cd "$RESULTS" && gnuplot latency.gp) 2>>"$RESULTS/build.log" && log "plot: $RESULTS/latency.png" || log "gnuplot failed"
fi
log "table: $RESULTS/results.md"
cat "$RESULTS/results.md"
