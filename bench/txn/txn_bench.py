"""Transaction benchmark with confluent-kafka-python (librdkafka 2.0.2) against a running sluiced.

Commit latency: begin, produce N messages of 100 B spread over P partitions, commit_transaction
(which flushes the messages, then EndTxn; the answer follows the durable PrepareCommit), for
N in {1, 10, 100} and P in {1, 8}: p50/p99 of the whole transaction and of the commit call alone.
Throughput: the same 100 B messages in transactions of 100 over 8 partitions against an idempotent
producer (acks=all) flushing every 100 messages, messages per second over the same count (each
producer first runs 3 untimed rounds).

Usage: /usr/bin/python3 txn_bench.py HOST:PORT [transactions_per_case]"""
import json
import sys
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap = sys.argv[1]
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 200
stamp = int(time.time() * 1000)
payload = b"x" * 100


def topic_with(partitions):
    name = "txn-bench-%d-%d" % (partitions, stamp)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result()
    return name


def pct(values, p):
    values = sorted(values)
    return round(values[min(len(values) - 1, int(p / 100.0 * len(values)))], 1)


def commit_latency(producer, topic, partitions, per_txn):
    total, commit = [], []
    for r in range(rounds + 10):
        t0 = time.perf_counter()
        producer.begin_transaction()
        for i in range(per_txn):
            producer.produce(topic, value=payload, partition=i % partitions)
        t1 = time.perf_counter()
        producer.commit_transaction(30)
        t2 = time.perf_counter()
        if r >= 10:  # the first transactions pay for connections and partition registration
            total.append((t2 - t0) * 1e6)
            commit.append((t2 - t1) * 1e6)
    return {"partitions": partitions, "messages_per_txn": per_txn, "txn_p50_us": pct(total, 50),
            "txn_p99_us": pct(total, 99), "commit_p50_us": pct(commit, 50), "commit_p99_us": pct(commit, 99)}


def throughput(topic, partitions, per_txn, transactional):
    conf = {"bootstrap.servers": bootstrap, "linger.ms": 1, "enable.idempotence": True, "acks": "all"}
    if transactional:
        conf["transactional.id"] = "txn-bench-tput-%d" % stamp
    p = Producer(conf)
    if transactional:
        p.init_transactions(30)
    def one_round(start):
        if transactional:
            p.begin_transaction()
        for i in range(per_txn):
            p.produce(topic, value=payload, partition=(start + i) % partitions)
        if transactional:
            p.commit_transaction(30)
        else:
            assert p.flush(30) == 0

    # Untimed: a new producer's first round waits for metadata and connections (up to ~1 s with
    # librdkafka), which would otherwise dominate either side at random.
    for _ in range(3):
        one_round(0)
    count = rounds * per_txn
    t0 = time.perf_counter()
    for start in range(0, count, per_txn):
        one_round(start)
    elapsed = time.perf_counter() - t0
    return round(count / elapsed)


results = []
topics = {p: topic_with(p) for p in (1, 8)}
producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": "txn-bench-%d" % stamp, "linger.ms": 1})
producer.init_transactions(30)
for partitions in (1, 8):
    for per_txn in (1, 10, 100):
        results.append(commit_latency(producer, topics[partitions], partitions, per_txn))
tx = throughput(topics[8], 8, 100, True)
idem = throughput(topics[8], 8, 100, False)
print(json.dumps({"commit_latency": results, "throughput_msgs_per_s": {
    "transactional_100_per_txn": tx, "idempotent_flush_every_100": idem,
    "ratio": round(tx / idem, 3) if idem else None}}, indent=1))
