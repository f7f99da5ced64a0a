#!/usr/bin/python3
"""Cross-shard messages per delivered message, produce -> fetch, with real clients against
`sluiced --smp 2` (issue 11, item 1: 0 when each shard is a broker of its own).

For each client (kcat, librdkafka through confluent-kafka-python, kafkajs), on a fresh data dir:
  setup     start, create the topic (PARTS partitions, placed on both shards), stop;
  baseline  start, stop: the start-up's and stop's own cross-shard messages (catalogue
            publication, binding the listeners), which do not depend on the clients;
  measured  start, the client produces N messages (acks=all) and reads all N back, stop.
Each stop logs every shard's plain counters (`sluiced: shard S stats: cross-shard messages sent
X received Y`, io::ShardStats). Cross-shard messages per delivered message =
(sum of `sent` in the measured run - the same in the baseline run) / N.

Usage: bench/shards/cross_shard_per_message.py SLUICED [--n N] [--clients kcat,librdkafka,kafkajs]
       [--set KEY=VALUE ...]   (e.g. --set sluice.kafka.shard.listeners=false for the one-port mode)
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "compat"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "broker_it"))

import kafka_wire as kw  # noqa: E402
from broker import Broker  # noqa: E402

PARTS = 4
TOPIC = "xshard"


def sent_total(b):
    stats = b.stats()
    assert len(stats) == 2, "no stats lines at stop:\n" + b.read_log()
    return sum(s["sent"] for s in stats.values())


def run_kcat(bootstrap, n):
    lines = "".join("k-%d:v-%d\n" % (i, i) for i in range(n)).encode()
    subprocess.run(["kcat", "-b", bootstrap, "-P", "-t", TOPIC, "-K:", "-X", "acks=all", "-X", "linger.ms=5"],
                   input=lines, check=True, timeout=300)
    out = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", TOPIC, "-o", "beginning", "-c", str(n), "-q",
                          "-f", "%k\n"], capture_output=True, check=True, timeout=300)
    return len(set(out.stdout.split()))


def run_librdkafka(bootstrap, n):
    from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for i in range(n):
        while True:
            try:
                p.produce(TOPIC, key=b"k-%d" % i, value=b"v-%d" % i)
                break
            except BufferError:
                p.poll(0.1)
    assert p.flush(120) == 0
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "xshard-bench", "enable.auto.commit": False})
    c.assign([TopicPartition(TOPIC, i, OFFSET_BEGINNING) for i in range(PARTS)])
    seen = set()
    deadline = time.monotonic() + 300
    while len(seen) < n and time.monotonic() < deadline:
        for m in c.consume(10000, 1):
            if not m.error():
                seen.add(m.key())
    c.close()
    return len(seen)


def run_kafkajs(bootstrap, n):
    out = subprocess.run(["node", os.path.join(HERE, "kafkajs_produce_consume.js"), bootstrap, TOPIC, str(n)],
                         capture_output=True, check=True, timeout=600)
    return int(out.stdout.decode().split()[-1])


CLIENTS = {"kcat": run_kcat, "librdkafka": run_librdkafka, "kafkajs": run_kafkajs}


def measure(binary, client, n, extra):
    data = tempfile.mkdtemp(prefix="sluice-xshard-")
    try:
        b = Broker(binary, extra, data_dir=data).start()
        c = kw.Conn(b.port)
        r = c.call(kw.create_topics(1, TOPIC, PARTS))
        assert kw.parse_create_topics_v2(r)[0][1] == 0
        c.close()
        assert b.stop() == 0
        b.start()
        assert b.stop() == 0
        baseline = sent_total(b)
        b.start()
        delivered = CLIENTS[client](b.bootstrap, n)
        assert b.stop() == 0
        measured = sent_total(b)
        return delivered, baseline, measured
    finally:
        shutil.rmtree(data, ignore_errors=True)
        try:
            os.unlink(os.path.join(data, "..", os.path.basename(data) + ".log"))
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sluiced")
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--clients", default="kcat,librdkafka,kafkajs")
    ap.add_argument("--set", action="append", default=[])
    a = ap.parse_args()
    extra = [x for kv in a.set for x in ("--set", kv)]
    print("sluiced --smp 2 %s, %d partitions, N=%d messages produced then fetched" % (" ".join(extra), PARTS, a.n))
    print("| client | delivered | sent in run (start, clients, stop) | sent in baseline run (start, stop) "
          "| cross-shard messages | per delivered message |")
    print("|---|---|---|---|---|---|")
    for client in a.clients.split(","):
        delivered, baseline, measured = measure(a.sluiced, client, a.n, extra)
        messages = measured - baseline
        print("| %s | %d | %d | %d | %d | %.4f |" % (client, delivered, measured, baseline, messages,
                                                     messages / max(delivered, 1)), flush=True)
        if delivered != a.n:
            print("  %s delivered %d of %d" % (client, delivered, a.n))
            sys.exit(1)


if __name__ == "__main__":
    main()
