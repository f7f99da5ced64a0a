"""Exactly once across crashes (confluent-kafka-python, librdkafka 2.0.2): a processor reads topic
`in` in a consumer group (read_committed), writes each record transformed to topic `out` (same
partition) and commits its input offsets in the same transaction. Meanwhile the broker is killed
with SIGKILL and restarted on the same port several times, and so is the processor. At the end
every input record appears exactly once in `out` for a read_committed consumer, in input order per
partition, and the group's committed offsets are at the end of `in`.

Usage: python_eos_crash_test.py SLUICED           (the test)
       python_eos_crash_test.py --process BOOTSTRAP (one processor instance; exits on fatal errors)"""
import os
import random
import signal
import subprocess
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from broker import Broker, main_wrapper

PARTS = 2
RECORDS = 2000
TXN_ID = "eos-processor"
GROUP = "eos-group"


def process(bootstrap):
    """One processor instance: runs until killed, or exits 3 on an error it cannot go on from
    (the parent starts a new instance, which fences this one's transactional id)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP, "auto.offset.reset": "earliest",
                         "isolation.level": "read_committed", "enable.auto.commit": False,
                         "session.timeout.ms": 6000})
    consumer.subscribe(["in"])
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": TXN_ID, "linger.ms": 2,
                         "transaction.timeout.ms": 10000})
    try:
        producer.init_transactions(60)
        while True:
            msgs = [m for m in consumer.consume(num_messages=10, timeout=0.5) if m.error() is None]
            if not msgs:
                continue
            time.sleep(0.01)  # "transform": keeps the run long enough for kills in the middle of it
            producer.begin_transaction()
            for m in msgs:
                producer.produce("out", value=b"out-" + m.value(), partition=m.partition())
            producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                                 consumer.consumer_group_metadata(), 60)
            producer.commit_transaction(60)
    except KafkaException as e:
        err = e.args[0]
        print("processor: %s (retriable=%s abortable=%s fatal=%s)" % (err, err.retriable(),
              err.txn_requires_abort(), err.fatal()), flush=True)
        sys.exit(3)


def produce_input(bootstrap):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for _, f in admin.create_topics([NewTopic(t, num_partitions=PARTS, replication_factor=1) for t in ("in", "out")],
                                    request_timeout=15).items():
        f.result()
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for i in range(RECORDS):
        p.produce("in", value=b"%d-%05d" % (i % PARTS, i), partition=i % PARTS)
    assert p.flush(30) == 0


def read_out(bootstrap, wait_s):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "eos-check-%d" % time.monotonic_ns(),
                  "auto.offset.reset": "earliest", "isolation.level": "read_committed", "enable.auto.commit": False})
    c.assign([TopicPartition("out", p, 0) for p in range(PARTS)])
    got = {p: [] for p in range(PARTS)}
    deadline = time.monotonic() + wait_s
    idle = 0
    while time.monotonic() < deadline and idle < 6:
        m = c.poll(0.5)
        if m is None:
            idle += 1
            continue
        idle = 0
        assert m.error() is None, m.error()
        got[m.partition()].append(m.value())
    c.close()
    return got


def committed(bootstrap):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP})
    out = [tp.offset for tp in c.committed([TopicPartition("in", p) for p in range(PARTS)], timeout=15)]
    c.close()
    return out


def start_processor(bootstrap, log):
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), "--process", bootstrap],
                            stdout=log, stderr=subprocess.STDOUT)


def run(binary):
    rng = random.Random(20261202)
    b = Broker(binary).start()
    log = open(os.path.join(b.data_dir, "..", "eos-processor-%d.log" % os.getpid()), "ab")
    proc = None
    kills = {"broker": 0, "processor": 0}
    mid_stream = {"broker": 0, "processor": 0}  # kills while input was still unprocessed
    try:
        produce_input(b.bootstrap)
        proc = start_processor(b.bootstrap, log)
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            time.sleep(rng.uniform(0.5, 1.5))
            if proc.poll() is not None:  # exited on an error: a new instance takes over
                proc = start_processor(b.bootstrap, log)
            done = committed(b.bootstrap)
            unfinished = done != [RECORDS // PARTS] * PARTS
            if kills["broker"] < 3 and rng.random() < 0.5:
                b.restart(signal.SIGKILL, same_port=True)
                kills["broker"] += 1
                mid_stream["broker"] += unfinished
            elif kills["processor"] < 3:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills["processor"] += 1
                mid_stream["processor"] += unfinished
                proc = start_processor(b.bootstrap, log)
            elif not unfinished:
                break
        # The kills must have hit the run, not its end: the processor takes at least 2 s (200
        # transactions of 10 ms each) and the first kill comes within 1.5 s.
        assert mid_stream["broker"] + mid_stream["processor"] >= 1, (kills, mid_stream)
        assert committed(b.bootstrap) == [RECORDS // PARTS] * PARTS, committed(b.bootstrap)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc = None
        got = read_out(b.bootstrap, 60)
        for p in range(PARTS):
            want = [b"out-%d-%05d" % (p, i) for i in range(p, RECORDS, PARTS)]
            assert got[p] == want, "partition %d: %d records, first difference at %s" % (
                p, len(got[p]), next((i for i, (x, y) in enumerate(zip(got[p], want)) if x != y), min(len(got[p]), len(want))))
        print("exactly once: %d records, kills %s (during processing %s)" % (RECORDS, kills, mid_stream))
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        log.close()
        b.cleanup()


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--process":
        process(sys.argv[2])
    else:
        main_wrapper(run)
