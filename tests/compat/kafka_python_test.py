"""kafka-python 2.0.2 (Debian python3-kafka, pure Python, its own protocol code), unchanged and
without api_version set, so its broker-version probe (ApiVersions v0 followed at once by Metadata
v0) runs: admin create topic, keyed produce with gzip and headers (acks=all), a consumer group of
two members that commits, and the committed offsets read back by a new consumer and by the admin
client. Exit 77 (skipped) only when kafka-python is not installed."""
import sys
import threading
import time

try:
    import kafka
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError
except ImportError:
    print("SKIPPED: kafka-python (Debian python3-kafka) is not installed")
    sys.exit(77)

from broker import Broker, main_wrapper

TOPIC = "kpy-orders"
GROUP = "kpy-group"
PARTS = 3
COUNT = 300


def admin_checks(bootstrap):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="kpy-admin", request_timeout_ms=15000)
    probed = admin.config["api_version"]
    print("kafka-python sees broker version", probed, flush=True)
    assert probed >= (2, 1, 0), probed  # the probe recognised a modern broker
    admin.create_topics([NewTopic(TOPIC, num_partitions=PARTS, replication_factor=1,
                                  topic_configs={"retention.ms": "3600000"})], timeout_ms=15000)
    try:
        admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)], timeout_ms=15000)
        raise AssertionError("duplicate create_topics succeeded")
    except TopicAlreadyExistsError:
        pass
    assert TOPIC in admin.list_topics(), admin.list_topics()
    admin.close()


def produce(bootstrap):
    producer = KafkaProducer(bootstrap_servers=bootstrap, client_id="kpy-producer", acks="all",
                             compression_type="gzip", linger_ms=5, retries=5)
    futures = []
    for i in range(COUNT):
        futures.append(producer.send(TOPIC, key=b"key-%d" % (i % 10), value=b"value-%d" % i,
                                     headers=[("seq", str(i).encode()), ("src", b"kafka-python")]))
    producer.flush(30)
    acked = [f.get(timeout=30) for f in futures]
    producer.close()
    # Same key, same partition (kafka-python's murmur2 partitioner); offsets dense per partition.
    by_key = {}
    for i, md in enumerate(acked):
        by_key.setdefault(i % 10, set()).add(md.partition)
    assert all(len(p) == 1 for p in by_key.values()), by_key
    per_part = {}
    for md in acked:
        per_part.setdefault(md.partition, []).append(md.offset)
    for p, offs in per_part.items():
        assert sorted(offs) == list(range(len(offs))), (p, offs[:10])
    return {p: len(offs) for p, offs in per_part.items()}


def group_consume(bootstrap, expected_per_part):
    """Two members, each polling in its own thread (kafka-python's poll blocks while its member
    joins, and a joining member waits for the other to rejoin). Each commits synchronously after
    every batch; both stop once every message was seen and the partitions are split between them."""
    seen = {}  # (partition, offset) -> seq
    assigned = {}  # member -> its current partitions
    errors = []
    lock = threading.Lock()
    stop = threading.Event()
    committed = threading.Barrier(2, timeout=60)

    def member(name):
        try:
            c = KafkaConsumer(TOPIC, bootstrap_servers=bootstrap, group_id=GROUP, client_id="kpy-" + name,
                              auto_offset_reset="earliest", enable_auto_commit=False,
                              session_timeout_ms=10000, heartbeat_interval_ms=500, max_poll_records=50)
            while not stop.is_set():
                batch = c.poll(timeout_ms=200)
                with lock:
                    for tp, records in batch.items():
                        for r in records:
                            headers = dict(r.headers)
                            assert headers["src"] == b"kafka-python", r.headers
                            i = int(headers["seq"])
                            assert r.value == b"value-%d" % i and r.key == b"key-%d" % (i % 10), r
                            seen[(tp.partition, r.offset)] = i
                    assigned[name] = {tp.partition for tp in c.assignment()}
                if batch:
                    c.commit()  # synchronous OffsetCommit with the group's generation
            c.commit()
            committed.wait()
            c.close()
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append((name, repr(e)))
            stop.set()

    threads = [threading.Thread(target=member, args=(n,)) for n in ("c1", "c2")]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    try:
        while True:
            with lock:
                done = len(seen) == COUNT and len(assigned) == 2 and all(assigned.values()) and \
                    set().union(*assigned.values()) == set(range(PARTS)) and \
                    not assigned["c1"] & assigned["c2"]
                state = (len(seen), dict(assigned))
            if done or errors:
                break
            assert time.monotonic() < deadline, "group did not finish: seen, assignment = %s" % (state,)
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join(90)
    assert not errors, errors
    print("assignment:", {n: sorted(a) for n, a in assigned.items()}, flush=True)
    assert sorted(seen.values()) == list(range(COUNT))


def committed_read_back(bootstrap, expected_per_part):
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=GROUP, client_id="kpy-reader",
                      enable_auto_commit=False)
    for p in range(PARTS):
        got = c.committed(TopicPartition(TOPIC, p))
        assert got == expected_per_part.get(p, 0), (p, got, expected_per_part)
    c.close()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="kpy-admin2")
    offsets = admin.list_consumer_group_offsets(GROUP)
    assert {tp.partition: om.offset for tp, om in offsets.items() if tp.topic == TOPIC} == \
        {p: n for p, n in expected_per_part.items()}, offsets
    groups = [g for g, _ in admin.list_consumer_groups()]
    assert GROUP in groups, groups
    admin.close()


def run(binary):
    print("kafka-python", kafka.__version__, flush=True)
    broker = Broker(binary).start()
    try:
        admin_checks(broker.bootstrap)
        expected = produce(broker.bootstrap)
        group_consume(broker.bootstrap, expected)
        committed_read_back(broker.bootstrap, expected)
        assert "closing connection" not in broker.read_log(), broker.read_log()
    finally:
        broker.cleanup()


if __name__ == "__main__":
    main_wrapper(run)
