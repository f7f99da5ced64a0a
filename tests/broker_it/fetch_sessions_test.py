"""Fetch sessions (KIP-227) against a real sluiced, over Fetch v7 on one connection:
  1. a full fetch with epoch 0 opens a session and answers every partition;
  2. incremental fetches (epoch 1, 2, ...) name only what changed and are answered only with
     partitions that have records or a changed high watermark; an unchanged session answers none;
  3. partitions are added and forgotten through incremental fetches;
  4. an incremental long poll wakes up for a record on a session partition the request did not name;
  5. a wrong epoch answers INVALID_FETCH_SESSION_EPOCH, an unknown id FETCH_SESSION_ID_NOT_FOUND,
     and a full fetch with epoch -1 closes the session;
  6. with max.incremental.fetch.session.cache.slots=0 no session is made and full fetches work.
(librdkafka and kafkajs send sessionless fetches; the Java client uses sessions.)"""
import os
import re
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "compat"))

import kafka_wire as kw  # noqa: E402
from broker import Broker, main_wrapper  # noqa: E402

FETCH_SESSION_ID_NOT_FOUND = 70
INVALID_FETCH_SESSION_EPOCH = 71
TOPIC = "sessions"


def produce(port, partition, values):
    c = kw.Conn(port)
    try:
        r = c.call(kw.produce(1, TOPIC, [(partition, kw.record_batch(values))]))
        (_, parts), = kw.parse_produce_v3(r)
        assert parts[0][1] == 0, "produce error %d" % parts[0][1]
    finally:
        c.close()


def call(conn, cid, session_id, epoch, topics, forgotten=(), max_wait_ms=0):
    r = conn.call(kw.fetch_v7(cid, session_id, epoch, topics, forgotten, max_wait_ms=max_wait_ms))
    return kw.parse_fetch_v7(r)


def answered(parts):
    return [(tp[1], p["hw"], len(p["records"] or b"") > 0) for tp, p in parts]


def cached(metrics_port, family):
    """The family's value summed over the shards, from /metrics."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % metrics_port, timeout=10) as r:
        text = r.read().decode()
    return sum(float(v) for v in re.findall(r"^%s\{[^}]*\} (\S+)$" % family, text, re.M))


def test_sessions(port, metrics_port):
    c = kw.Conn(port)
    r = c.call(kw.create_topics(1, TOPIC, 3))
    produce(port, 0, [b"a", b"b"])
    try:
        # 1. Full fetch, epoch 0: a session, every partition answered.
        err, sid, parts = call(c, 2, 0, 0, [(TOPIC, [(0, 0), (1, 0), (2, 0)])])
        assert err == 0 and sid != 0, (err, sid)
        assert answered(parts) == [(0, 2, True), (1, 0, False), (2, 0, False)], answered(parts)

        assert cached(metrics_port, "sluice_kafka_fetch_sessions") == 1
        assert cached(metrics_port, "sluice_kafka_fetch_session_partitions") == 3

        # 2. Epoch 1 moves partition 0 past its records: nothing changed, nothing answered.
        err, sid1, parts = call(c, 3, sid, 1, [(TOPIC, [(0, 2)])])
        assert (err, sid1, parts) == (0, sid, []), (err, sid1, parts)

        # A record on partition 1: only it is answered, though the request names nothing.
        produce(port, 1, [b"c"])
        err, _, parts = call(c, 4, sid, 2, [])
        assert err == 0 and answered(parts) == [(1, 1, True)], answered(parts)

        # 5. The same epoch again is refused; so is a session that does not exist.
        err, sid_e, parts = call(c, 5, sid, 2, [])
        assert (err, sid_e, parts) == (INVALID_FETCH_SESSION_EPOCH, 0, []), (err, sid_e, parts)
        err, _, _ = call(c, 6, sid + 1 if sid < 0x7fffffff else 1, 1, [])
        assert err == FETCH_SESSION_ID_NOT_FOUND, err

        # 3. Forget partition 2, move partition 1 past its record: quiet again.
        err, _, parts = call(c, 7, sid, 3, [(TOPIC, [(1, 1)])], forgotten=[(TOPIC, [2])])
        assert (err, parts) == (0, []), (err, parts)
        # Partition 2 is no longer in the session: a record there is not answered...
        produce(port, 2, [b"d"])
        err, _, parts = call(c, 8, sid, 4, [])
        assert (err, parts) == (0, []), (err, parts)
        # ...until it is added back.
        err, _, parts = call(c, 9, sid, 5, [(TOPIC, [(2, 0)])])
        assert err == 0 and answered(parts) == [(2, 1, True)], answered(parts)
        err, _, parts = call(c, 10, sid, 6, [(TOPIC, [(2, 1)])])
        assert (err, parts) == (0, []), (err, parts)

        # 4. A long poll on the session wakes up for a record on partition 0.
        t = threading.Timer(0.3, produce, args=(port, 0, [b"e"]))
        t.start()
        started = time.monotonic()
        err, _, parts = call(c, 11, sid, 7, [], max_wait_ms=20000)
        t.join()
        assert err == 0 and answered(parts) == [(0, 3, True)], answered(parts)
        print("long poll answered after %.0f ms" % ((time.monotonic() - started) * 1000))

        # 5. Epoch -1 closes the session (and answers as a full fetch).
        err, sid_f, parts = call(c, 12, sid, -1, [(TOPIC, [(0, 3)])])
        assert err == 0 and sid_f == 0 and answered(parts) == [(0, 3, False)], (err, sid_f, answered(parts))
        err, _, _ = call(c, 13, sid, 8, [])
        assert err == FETCH_SESSION_ID_NOT_FOUND, err
        assert cached(metrics_port, "sluice_kafka_fetch_sessions") == 0
    finally:
        c.close()


def test_no_slots(binary):
    b = Broker(binary, ["--set", "max.incremental.fetch.session.cache.slots=0"])
    b.start()
    try:
        c = kw.Conn(b.port)
        try:
            c.call(kw.create_topics(1, TOPIC, 1))
            produce(b.port, 0, [b"x"])
            err, sid, parts = call(c, 2, 0, 0, [(TOPIC, [(0, 0)])])
            assert err == 0 and sid == 0 and answered(parts) == [(0, 1, True)], (err, sid, answered(parts))
        finally:
            c.close()
    finally:
        b.stop()


def main(binary):
    b = Broker(binary)
    b.start()
    try:
        test_sessions(b.port, b.metrics_port())
    finally:
        b.stop()
    test_no_slots(binary)


if __name__ == "__main__":
    main_wrapper(main)
