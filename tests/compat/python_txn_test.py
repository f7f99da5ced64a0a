"""confluent-kafka-python 1.7 (librdkafka 2.0.2) transactions against sluiced: commit makes records
visible to read_committed consumers and abort hides them (read_uncommitted sees both; control
records are never delivered); an open transaction holds the last stable offset; consume-transform-
produce with send_offsets_to_transaction commits the group's offsets with the output (and an abort
leaves them); a second producer with the same transactional id fences the first; a transaction past
its timeout is aborted by the broker; after SIGKILL the committed transactions stay and the open
one is finished before the id is served again."""
import signal
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from broker import Broker, main_wrapper

PARTS = 2


def create(bootstrap, *topics):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for _, f in admin.create_topics([NewTopic(t, num_partitions=PARTS, replication_factor=1) for t in topics],
                                    request_timeout=15).items():
        f.result()


def txn_producer(bootstrap, txn_id, **extra):
    conf = {"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 1}
    conf.update(extra)
    p = Producer(conf)
    p.init_transactions(30)
    return p


def read_all(bootstrap, topic, isolation, expect_at_least=0, wait_s=8.0, group=None):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group or ("r-%s-%d" % (isolation, time.monotonic_ns())),
                  "auto.offset.reset": "earliest", "isolation.level": isolation, "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p, 0) for p in range(PARTS)])
    got = []
    deadline = time.monotonic() + wait_s
    quiet_since = None
    while time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None:
            if len(got) >= expect_at_least:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > 1.0:
                    break
            continue
        quiet_since = None
        assert m.error() is None, m.error()
        got.append(m.value())
    c.close()
    return sorted(got)


def high_watermarks(bootstrap, topic, isolation):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "wm-%d" % time.monotonic_ns(),
                  "isolation.level": isolation})
    out = [c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1] for p in range(PARTS)]
    c.close()
    return out


def test_commit_and_abort(bootstrap):
    create(bootstrap, "ca")
    p = txn_producer(bootstrap, "ca-1")
    p.begin_transaction()
    for i in range(6):
        p.produce("ca", value=b"c%d" % i, partition=i % PARTS)
    p.commit_transaction(30)
    p.begin_transaction()
    for i in range(4):
        p.produce("ca", value=b"a%d" % i, partition=i % PARTS)
    assert p.flush(30) == 0  # written to the log, then aborted
    p.abort_transaction(30)
    p.begin_transaction()
    p.produce("ca", value=b"last", partition=0)
    p.commit_transaction(30)
    committed = [b"c%d" % i for i in range(6)] + [b"last"]
    aborted = [b"a%d" % i for i in range(4)]
    assert read_all(bootstrap, "ca", "read_committed", len(committed)) == sorted(committed)
    assert read_all(bootstrap, "ca", "read_uncommitted", len(committed) + len(aborted)) == sorted(committed + aborted)
    print("commit/abort ok")


def test_open_transaction_holds_lso(bootstrap):
    create(bootstrap, "lso")
    plain = Producer({"bootstrap.servers": bootstrap})
    for i in range(PARTS):
        plain.produce("lso", value=b"before%d" % i, partition=i)
    assert plain.flush(30) == 0
    p = txn_producer(bootstrap, "lso-1")
    p.begin_transaction()
    for i in range(PARTS):
        p.produce("lso", value=b"open%d" % i, partition=i)
    assert p.flush(30) == 0
    for i in range(PARTS):
        plain.produce("lso", value=b"after%d" % i, partition=i)
    assert plain.flush(30) == 0
    assert high_watermarks(bootstrap, "lso", "read_uncommitted") == [3] * PARTS
    assert high_watermarks(bootstrap, "lso", "read_committed") == [1] * PARTS, "LSO must stop at the open txn"
    assert read_all(bootstrap, "lso", "read_committed", PARTS) == sorted(b"before%d" % i for i in range(PARTS))
    p.commit_transaction(30)
    # The commit is answered once its decision is durable; the markers that move the LSO follow
    # (as with Kafka), one group-commit sync later.
    assert eventually(lambda: high_watermarks(bootstrap, "lso", "read_committed") == [4] * PARTS)
    want = [b"%s%d" % (w, i) for w in (b"before", b"open", b"after") for i in range(PARTS)]
    assert read_all(bootstrap, "lso", "read_committed", len(want)) == sorted(want)
    print("open transaction holds the LSO ok")


def eventually(cond, timeout_s=10):
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def committed_offsets(bootstrap, group, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    out = [tp.offset for tp in c.committed([TopicPartition(topic, p) for p in range(PARTS)], timeout=10)]
    c.close()
    return out


def test_consume_transform_produce(bootstrap):
    create(bootstrap, "in", "out")
    plain = Producer({"bootstrap.servers": bootstrap})
    n = 40
    for i in range(n):
        plain.produce("in", value=b"%d" % i, partition=i % PARTS)
    assert plain.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "proc", "auto.offset.reset": "earliest",
                         "isolation.level": "read_committed", "enable.auto.commit": False})
    consumer.subscribe(["in"])
    producer = txn_producer(bootstrap, "proc-1")
    done = 0
    aborted_once = False
    deadline = time.monotonic() + 60
    while done < n and time.monotonic() < deadline:
        msgs = consumer.consume(num_messages=7, timeout=1.0)
        msgs = [m for m in msgs if m.error() is None]
        if not msgs:
            continue
        producer.begin_transaction()
        for m in msgs:
            producer.produce("out", value=b"x" + m.value(), partition=m.partition())
        positions = consumer.position(consumer.assignment())
        producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), 30)
        if not aborted_once:
            # The first batch is aborted once: its output disappears and the group's offsets stay.
            aborted_once = True
            assert producer.flush(30) == 0
            producer.abort_transaction(30)
            assert committed_offsets(bootstrap, "proc", "in") == [-1001] * PARTS
            for tp in consumer.assignment():
                consumer.seek(TopicPartition(tp.topic, tp.partition, 0))
            continue
        producer.commit_transaction(30)
        done += len(msgs)
    consumer.close()
    assert done == n, done
    # The offsets become visible with the commit marker, which follows the commit's answer.
    assert eventually(lambda: committed_offsets(bootstrap, "proc", "in") == [n // PARTS] * PARTS)
    out = read_all(bootstrap, "out", "read_committed", n)
    assert out == sorted(b"x%d" % i for i in range(n)), out
    print("consume-transform-produce ok")


def test_zombie_fencing(bootstrap):
    create(bootstrap, "z")
    old = txn_producer(bootstrap, "zombie")
    old.begin_transaction()
    old.produce("z", value=b"zombie", partition=0)
    assert old.flush(30) == 0
    new = txn_producer(bootstrap, "zombie")  # fences `old` and aborts its transaction
    new.begin_transaction()
    new.produce("z", value=b"new", partition=0)
    new.commit_transaction(30)
    try:
        old.commit_transaction(10)
        raise AssertionError("the fenced producer committed")
    except KafkaException as e:
        assert e.args[0].fatal() or e.args[0].txn_requires_abort(), e
    assert read_all(bootstrap, "z", "read_committed", 1) == [b"new"]
    print("zombie fencing ok")


def test_timeout_abort(bootstrap):
    create(bootstrap, "to")
    # librdkafka caps message.timeout.ms at transaction.timeout.ms and registers the partition
    # about 1 s after begin_transaction: 3 s lets the record reach the log before the timeout.
    p = txn_producer(bootstrap, "slow", **{"transaction.timeout.ms": 3000})
    p.begin_transaction()
    delivered = []
    p.produce("to", value=b"late", partition=0, on_delivery=lambda err, msg: delivered.append(err))
    assert p.flush(30) == 0
    assert delivered == [None], delivered
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and high_watermarks(bootstrap, "to", "read_committed")[0] != 2:
        time.sleep(0.2)
    # The broker aborted it (data + abort marker): the LSO moved past both, nothing is visible.
    hw = high_watermarks(bootstrap, "to", "read_committed")
    assert hw[0] == 2, (hw, high_watermarks(bootstrap, "to", "read_uncommitted"))
    assert read_all(bootstrap, "to", "read_committed", 0, wait_s=3) == []
    try:
        p.commit_transaction(10)
        raise AssertionError("a transaction the broker aborted was committed")
    except KafkaException:
        pass
    print("timeout abort ok")


def test_sigkill(b):
    create(b.bootstrap, "k")
    p = txn_producer(b.bootstrap, "kill")
    p.begin_transaction()
    p.produce("k", value=b"committed", partition=0)
    p.commit_transaction(30)
    p.begin_transaction()
    p.produce("k", value=b"open", partition=0)
    assert p.flush(30) == 0
    b.restart(signal.SIGKILL)
    # The open transaction survives the crash: it still holds the LSO...
    assert high_watermarks(b.bootstrap, "k", "read_committed")[0] == 2
    # ...until the id is initialised again, which aborts it first.
    p2 = txn_producer(b.bootstrap, "kill")
    p2.begin_transaction()
    p2.produce("k", value=b"after", partition=0)
    p2.commit_transaction(30)
    assert read_all(b.bootstrap, "k", "read_committed", 2) == [b"after", b"committed"]
    print("sigkill ok")


def main(sluiced):
    b = Broker(sluiced, extra_args=["--set", "transaction.abort.timed.out.transaction.cleanup.interval.ms=200"]).start()
    try:
        test_commit_and_abort(b.bootstrap)
        test_open_transaction_holds_lso(b.bootstrap)
        test_consume_transform_produce(b.bootstrap)
        test_zombie_fencing(b.bootstrap)
        test_timeout_abort(b.bootstrap)
        test_sigkill(b)
        rc = b.stop()
        assert rc == 0, "sluiced exited %d on SIGTERM; log:\n%s" % (rc, b.read_log())
    finally:
        b.cleanup()


if __name__ == "__main__":
    main_wrapper(main)
