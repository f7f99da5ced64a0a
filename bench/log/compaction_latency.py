#!/usr/bin/python3
"""Produce latency with and without the log cleaner busy on the same shard.

sluiced --smp 1 (one shard: the cleaner and the measured produce share it). A loader thread
(confluent-kafka, lz4) writes keyed updates (KEYS keys, VALUE_BYTES each) as fast as it can to
topic `load`, which is cleanup.policy=compact (min.cleanable.dirty.ratio 0.01, 1 MiB segments:
the cleaner runs every housekeeping second) in the "compaction" rounds and cleanup.policy=delete
in the "baseline" rounds, so both carry the same produce load and only the cleaner differs.
Meanwhile sluice-bench measures produce (ack) and end-to-end latency on its own topic. Rounds
alternate. Numbers are reported, never asserted (2 shared vCPUs: tails swing).

  bench/log/compaction_latency.py build/ci/tools/sluiced/sluiced build/ci/bench/e2e/sluice-bench [rounds]
"""
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "compat"))
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from broker import Broker  # noqa: E402

KEYS = 20000
VALUE_BYTES = 300
LOADER_RATE = 20000  # msgs/s: ~6 MB/s of keyed updates, well below what one shard takes
BENCH = ["--rate", "2000", "--size", "100", "--duration", "8", "--warmup", "2", "--acks", "-1"]


class Loader(threading.Thread):
    def __init__(self, bootstrap, topic):
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.stop, self.sent = bootstrap, topic, False, 0

    def run(self):
        p = Producer({"bootstrap.servers": self.bootstrap, "compression.codec": "lz4", "linger.ms": 5,
                      "queue.buffering.max.messages": 200000})
        i = 0
        value = os.urandom(VALUE_BYTES // 2).hex().encode()
        t0 = time.monotonic()
        while not self.stop:
            if i >= (time.monotonic() - t0) * LOADER_RATE:
                p.poll(0.001)
                continue
            try:
                p.produce(self.topic, key=b"key-%d" % (i % KEYS), value=value)
                i += 1
            except BufferError:
                p.poll(0.01)
            if i % 1000 == 0:
                p.poll(0)
        p.flush(30)
        self.sent = i


def metrics(b):
    if not hasattr(b, "mport"):
        b.mport = b.metrics_port()
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % b.mport, timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("sluice_log_cleaner") or line.startswith("sluice_shard_reactor_stalls_total"):
            name, value = line.rsplit(" ", 1)
            out[name.split("{")[0]] = out.get(name.split("{")[0], 0) + float(value)
    return out


class OneShard(Broker):
    """The compat tests' Broker, started with one shard (its start() passes --smp 2)."""

    def start(self, timeout_s=30, port=0, shard_ports=None):
        ready = os.path.join(tempfile.gettempdir(), "sluice-ready-%d-%d" % (os.getpid(), time.monotonic_ns()))
        args = [self.binary, "--listen", "127.0.0.1:0", "--data-dir", self.data_dir, "--smp", "1",
                "--ready-file", ready, "--metrics-listen", "127.0.0.1:0"]
        self.log = open(self.log_path, "ab")
        self.log_start = self.log.tell()
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if os.path.exists(ready) and open(ready).read().strip():
                self.port = int(open(ready).read().strip())
                os.unlink(ready)
                return self
            time.sleep(0.02)
        raise RuntimeError("sluiced did not become ready:\n" + self.read_log())


def one_round(sluiced, bench, policy):
    b = OneShard(sluiced).start()
    try:
        b.mport = b.metrics_port()
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        cfg = {"cleanup.policy": policy, "segment.bytes": "1048576", "min.cleanable.dirty.ratio": "0.01"}
        for _, f in admin.create_topics([NewTopic("load", 1, 1, config=cfg)]).items():
            f.result()
        loader = Loader(b.bootstrap, "load")
        loader.start()
        time.sleep(3)  # segments pile up; the cleaner is mid-work when the measurement starts
        before = metrics(b)
        t0 = time.monotonic()
        out = subprocess.run([bench, "--bootstrap", b.bootstrap] + BENCH, capture_output=True, timeout=120)
        elapsed = time.monotonic() - t0
        after = metrics(b)
        loader.stop = True
        loader.join(60)
        text = out.stdout.decode() + out.stderr.decode()
        with open(b.log_path, "rb") as f:
            log = f.read().decode(errors="replace")
        stalls = [line for line in log.splitlines() if "task:" in line]
        text += "\n" + "\n".join("stalled task: " + line.strip() for line in stalls[:5])
        delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        return text, delta, loader.sent, elapsed
    finally:
        b.cleanup()


def percentiles(text):
    """The bench's summary lines that name percentiles (printed as they are)."""
    return [line for line in text.splitlines() if re.search(r"end-to-end us|produce ack us|stalled task", line)]


def main():
    sluiced, bench = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    sys.stdout.reconfigure(line_buffering=True)
    for r in range(rounds):
        for policy, label in (("delete", "baseline (no cleaner)"), ("compact", "compaction running")):
            text, delta, sent, elapsed = one_round(sluiced, bench, policy)
            print("=== round %d: %s, loader %d msgs" % (r + 1, label, sent))
            for line in percentiles(text):
                print("   ", line)
            print("    cleaner during the measurement: runs %d, bytes read %d, written %d, records removed %d, "
                  "stalls %d (%.1f s)" % (delta.get("sluice_log_cleaner_runs_total", 0),
                                         delta.get("sluice_log_cleaner_bytes_read_total", 0),
                                         delta.get("sluice_log_cleaner_bytes_written_total", 0),
                                         delta.get("sluice_log_cleaner_records_removed_total", 0),
                                         delta.get("sluice_shard_reactor_stalls_total", 0), elapsed))


if __name__ == "__main__":
    tempfile.tempdir = "/var/tmp"
    main()
