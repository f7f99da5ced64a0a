"""confluent-kafka-python 1.7 (librdkafka 2.0.2) consumer groups: two consumers with
partition.assignment.strategy=cooperative-sticky share a topic (each message consumed exactly
once with synchronous commits, committed offsets end at the log end); AdminClient.list_groups
shows the members and their assignment; replay from the beginning (seek) and from a timestamp
(offsets_for_times); a second group receives everything again."""
import signal
import struct
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from broker import Broker, main_wrapper

PARTS = 4


def create(bootstrap, topic, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for _, f in admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                                    request_timeout=15).items():
        f.result()


def produce(bootstrap, topic, tag, count, partitions, timestamp=None):
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    out = []

    def cb(err, msg):
        assert err is None, err
        out.append((msg.partition(), msg.offset(), msg.value()))

    for i in range(count):
        kw = {"timestamp": timestamp} if timestamp is not None else {}
        p.produce(topic, value=b"%s-%d" % (tag.encode(), i), key=b"k%d" % i, partition=i % partitions,
                  on_delivery=cb, **kw)
    assert p.flush(30) == 0
    assert len(out) == count
    return out


def consumer(bootstrap, group, **extra):
    conf = {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "heartbeat.interval.ms": 500, "session.timeout.ms": 6000,
            "client.id": "py-" + group}
    conf.update(extra)
    return Consumer(conf)


def decode_assignment(buf):
    """ConsumerProtocolAssignment: version, [topic, [partition]], user data."""
    if not buf:
        return {}
    pos = 2
    (n,) = struct.unpack_from(">i", buf, pos)
    pos += 4
    out = {}
    for _ in range(n):
        (ln,) = struct.unpack_from(">h", buf, pos)
        pos += 2
        topic = buf[pos:pos + ln].decode()
        pos += ln
        (np,) = struct.unpack_from(">i", buf, pos)
        pos += 4
        out[topic] = sorted(struct.unpack_from(">%di" % np, buf, pos))
        pos += 4 * np
    return out


def cooperative(bootstrap):
    topic, group = "coop-topic", "py-coop-group"
    create(bootstrap, topic, PARTS)
    written = produce(bootstrap, topic, "first", 100, PARTS)
    seen = {}  # (partition, offset) -> consumer name
    dupes = []
    events = []

    def make(name):
        c = consumer(bootstrap, group, **{"partition.assignment.strategy": "cooperative-sticky"})

        def on_assign(cons, parts):
            events.append((name, "assign", sorted(p.partition for p in parts)))

        def on_revoke(cons, parts):
            events.append((name, "revoke", sorted(p.partition for p in parts)))

        c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
        return c

    def poll(name, c):
        m = c.poll(0.1)
        if m is None:
            return
        assert m.error() is None, m.error()
        key = (m.partition(), m.offset())
        if key in seen:
            dupes.append((name, key, seen[key]))
        seen[key] = name
        c.commit(message=m, asynchronous=False)

    c1 = make("c1")
    deadline = time.monotonic() + 40
    while len(seen) < 100:
        assert time.monotonic() < deadline, "c1 alone saw %d of 100" % len(seen)
        poll("c1", c1)
    assert sorted(p.partition for p in c1.assignment()) == list(range(PARTS)), c1.assignment()

    c2 = make("c2")
    consumers = [("c1", c1), ("c2", c2)]
    deadline = time.monotonic() + 40
    while True:
        for name, c in consumers:
            poll(name, c)
        a1 = sorted(p.partition for p in c1.assignment())
        a2 = sorted(p.partition for p in c2.assignment())
        if a1 and a2 and sorted(a1 + a2) == list(range(PARTS)):
            break
        assert time.monotonic() < deadline, ("no split", a1, a2, events)
    assert not set(a1) & set(a2), (a1, a2)
    print("split:", a1, a2, "events:", events, flush=True)
    # Cooperative: c1 never lost the partitions it kept (only incremental revokes).
    assert all(e[1] != "revoke" or not set(e[2]) & set(a1) for e in events if e[0] == "c1"), events

    # The admin view of the group while both are members.
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + 20
    while True:
        groups = [g for g in admin.list_groups(timeout=10) if g.id == group]
        for name, c in consumers:
            poll(name, c)
        if groups and groups[0].state == "Stable" and len(groups[0].members) == 2:
            break
        assert time.monotonic() < deadline, groups
    g = groups[0]
    assert g.protocol_type == "consumer" and g.protocol == "cooperative-sticky", (g.protocol_type, g.protocol)
    assigned = sorted(p for m in g.members for p in decode_assignment(m.assignment).get(topic, []))
    assert assigned == list(range(PARTS)), assigned
    assert all(m.client_id == "py-" + group and "127.0.0.1" in m.client_host for m in g.members), \
        [(m.client_id, m.client_host) for m in g.members]
    all_ids = [x.id for x in admin.list_groups(timeout=10)]
    assert group in all_ids, all_ids

    written += produce(bootstrap, topic, "second", 100, PARTS)
    deadline = time.monotonic() + 40
    while len(seen) < 200:
        assert time.monotonic() < deadline, "saw %d of 200" % len(seen)
        for name, c in consumers:
            poll(name, c)
    for _ in range(10):  # nothing more arrives
        for name, c in consumers:
            poll(name, c)
    assert not dupes, dupes
    assert set(seen) == {(p, o) for p, o, _ in written}, "missing messages"
    second = [seen[(p, o)] for p, o, v in written if v.startswith(b"second")]
    assert "c1" in second and "c2" in second, "both consumers must share the second batch"
    # Lag is zero: committed == high watermark on every partition.
    tps = [TopicPartition(topic, p) for p in range(PARTS)]
    committed = {tp.partition: tp.offset for tp in c1.committed(tps, timeout=10)}
    for p in range(PARTS):
        lo, hi = c1.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        assert lo == 0 and committed[p] == hi == 50, (p, committed[p], lo, hi)
    c2.close()
    c1.close()
    return written


def pubsub(bootstrap, written):
    c = consumer(bootstrap, "py-second-group")
    c.subscribe(["coop-topic"])
    got = set()
    deadline = time.monotonic() + 40
    while len(got) < len(written):
        assert time.monotonic() < deadline, "second group saw %d" % len(got)
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        got.add((m.partition(), m.offset(), m.value()))
    c.close()
    assert got == set(written)


def replay(bootstrap):
    topic = "py-replay"
    create(bootstrap, topic, 2)
    now = int(time.time() * 1000)
    t0, t1 = now - 60000, now - 30000
    old = produce(bootstrap, topic, "old", 20, 2, timestamp=t0)
    recent = produce(bootstrap, topic, "recent", 20, 2, timestamp=t1)
    c = consumer(bootstrap, "py-replay-group")
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(2)])

    def read(n):
        out = []
        deadline = time.monotonic() + 30
        while len(out) < n:
            assert time.monotonic() < deadline, "read %d of %d" % (len(out), n)
            m = c.poll(0.2)
            if m is None:
                continue
            assert m.error() is None, m.error()
            out.append((m.partition(), m.offset(), m.value(), m.timestamp()[1]))
        assert c.poll(0.5) is None, "more than expected"
        return out

    first = read(40)
    assert {(p, o, v) for p, o, v, _ in first} == set(old + recent)
    # Seek back to the beginning: everything again.
    for p in range(2):
        c.seek(TopicPartition(topic, p, OFFSET_BEGINNING))
    again = read(40)
    assert {(p, o, v) for p, o, v, _ in again} == set(old + recent)
    # From a timestamp: the first offset with timestamp >= t (between t0 and t1 -> first recent one).
    for t in (t1, t0 + 1):
        found = c.offsets_for_times([TopicPartition(topic, p, t) for p in range(2)], timeout=10)
        want = {p: min(o for pp, o, _ in recent if pp == p) for p in range(2)}
        assert {tp.partition: tp.offset for tp in found} == want, (t, found, want)
    found = c.offsets_for_times([TopicPartition(topic, p, t1) for p in range(2)], timeout=10)
    c.assign(found)
    from_time = read(20)
    assert {(p, o, v) for p, o, v, _ in from_time} == set(recent)
    assert all(ts == t1 for *_, ts in from_time)
    # Past the newest timestamp: the log end (-1 from the broker, librdkafka reports the end).
    future = c.offsets_for_times([TopicPartition(topic, p, now + 3600000) for p in range(2)], timeout=10)
    assert all(tp.offset in (-1, 20) for tp in future), future
    c.close()


def run(binary):
    b = Broker(binary, ["--set", "group.min.session.timeout.ms=1000",
                        "--set", "group.initial.rebalance.delay.ms=300"]).start()
    try:
        written = cooperative(b.bootstrap)
        print("ok cooperative-sticky", flush=True)
        pubsub(b.bootstrap, written)
        print("ok second group", flush=True)
        replay(b.bootstrap)
        print("ok replay", flush=True)
        rc = b.stop(signal.SIGTERM)
        assert rc == 0, "sluiced exited %d on SIGTERM" % rc
    finally:
        b.cleanup()


if __name__ == "__main__":
    main_wrapper(run)
