"""Regression tests for the hostile-input and operator-fault findings (issue 15), each against a
real sluiced over raw sockets:
  1. a batch with a negative lastOffsetDelta (valid CRC) is refused, the broker keeps serving;
  2. compressed batches are decompressed and validated: garbage, lying record counts refused;
  3. segment/fd flood: many segment rolls keep the broker's open fds bounded;
  4. fd exhaustion: accept backs off (logged), a topic created meanwhile is consistent afterwards;
  5. disk full (tmpfs): DeleteTopics frees space, a stop while full restarts, a failed start
     exits non-zero;
  6. slow readers: 50 unread 100 MB fetches keep RSS bounded, stalled senders are closed.
"""
import gzip
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import resource

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "compat"))

import kafka_wire as kw  # noqa: E402
from broker import Broker, main_wrapper  # noqa: E402
from hostile_input_test import rss_kib  # noqa: E402

NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
TOPIC_ALREADY_EXISTS = 36
INVALID_PARTITIONS = 37
KAFKA_STORAGE_ERROR = 56
INVALID_RECORD = 87
CORRUPT_MESSAGE = 2


class Ids:
    cid = 5000

    @classmethod
    def next(cls):
        cls.cid += 1
        return cls.cid


def raw_batch(records_payload, record_count, last_offset_delta, attributes=0, producer_id=-1, epoch=-1,
              base_sequence=-1):
    """A v2 batch with a valid CRC around whatever header fields and payload the caller chooses."""
    ts = int(time.time() * 1000)
    after_crc = (kw.i16(attributes) + kw.i32(last_offset_delta) + kw.i64(ts) + kw.i64(ts) + kw.i64(producer_id)
                 + kw.i16(epoch) + kw.i32(base_sequence) + kw.i32(record_count) + records_payload)
    after_len = kw.i32(0) + kw.i8(2) + struct.pack(">I", kw.crc32c(after_crc)) + after_crc
    return kw.i64(0) + kw.i32(len(after_len)) + after_len


def records(values):
    return b"".join(kw.record(i, None, v) for i, v in enumerate(values))


def produce(port, topic, partition, batch, acks=-1, version=3):
    c = kw.Conn(port)
    try:
        (_, parts), = kw.parse_produce_v3(c.call(kw.produce(Ids.next(), topic, [(partition, batch)], acks=acks,
                                                            version=version)))
        return parts[0][1], parts[0][2]
    finally:
        c.close()


def create_topic(port, name, partitions=1, configs=()):
    c = kw.Conn(port)
    try:
        cfg = kw.array(list(configs), lambda kv: kw.string(kv[0]) + kw.string(kv[1]))
        topic = kw.string(name) + kw.i32(partitions) + kw.i16(1) + kw.array([], None) + cfg
        body = kw.array([topic], lambda t: t) + kw.i32(10000) + kw.i8(0)
        (res,) = kw.parse_create_topics_v2(c.call(kw.frame(kw.request_header(19, 2, Ids.next()) + body)))
        return res[1]
    finally:
        c.close()


def delete_topic(port, name):
    c = kw.Conn(port)
    try:
        body = kw.array([name], kw.string) + kw.i32(10000)
        r = c.call(kw.frame(kw.request_header(20, 1, Ids.next()) + body))
        r.i32()
        (res,) = r.array(lambda r: (r.string(), r.i16()))
        return res[1]
    finally:
        c.close()


def topic_exists(port, name):
    c = kw.Conn(port)
    try:
        _, topics = kw.parse_metadata_v4(c.call(kw.metadata(Ids.next(), [name], allow_auto_create=False)))
        return topics[0][0] == 0
    finally:
        c.close()


def high_watermark(port, topic, partition=0):
    c = kw.Conn(port)
    try:
        p = kw.parse_fetch_v4(c.call(kw.fetch(Ids.next(), topic, partition, 0, max_bytes=1024)))[0][1][0]
        return p["hw"]
    finally:
        c.close()


def serves(port):
    c = kw.Conn(port, timeout=5)
    try:
        cid = Ids.next()
        c.send(kw.api_versions_v0(cid))
        got = c.recv_frame()
        return got is not None and got[0] == cid
    finally:
        c.close()


def stop_cleanly(b):
    rc = b.stop(signal.SIGTERM)
    assert rc == 0, (rc, b.read_log())


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


# ----------------------------------------------------------------------------- findings 1 and 2


def test_negative_offset_delta(b):
    create_topic(b.port, "neg")
    for pid in (-1, 4242):  # plain and idempotent (the producer table asserted on it)
        batch = raw_batch(records([b"x"]), 1, -1, producer_id=pid, epoch=0 if pid >= 0 else -1,
                          base_sequence=0 if pid >= 0 else -1)
        err, _ = produce(b.port, "neg", 0, batch)
        assert err == INVALID_RECORD, err
    assert serves(b.port)
    assert high_watermark(b.port, "neg") == 0


def test_compressed_validation(b):
    create_topic(b.port, "gz")
    good = gzip.compress(records([b"one", b"two", b"three"]))
    err, base = produce(b.port, "gz", 0, raw_batch(good, 3, 2, attributes=1))
    assert (err, base) == (NONE, 0), (err, base)
    cases = {
        "random payload": raw_batch(os.urandom(300), 1, 0, attributes=1),
        "truncated gzip": raw_batch(good[:-9], 3, 2, attributes=1),
        "2^31-1 records claimed": raw_batch(good, 0x7FFFFFFF, 0x7FFFFFFE, attributes=1),
        "more records claimed": raw_batch(good, 4, 3, attributes=1),
        "fewer records claimed": raw_batch(good, 2, 1, attributes=1),
        "trailing garbage": raw_batch(good + b"\x00garbage", 3, 2, attributes=1),
        "random snappy": raw_batch(os.urandom(200), 1, 0, attributes=2),
        "random lz4": raw_batch(os.urandom(200), 1, 0, attributes=3),
    }
    for what, batch in cases.items():
        err, _ = produce(b.port, "gz", 0, batch)
        assert err in (INVALID_RECORD, CORRUPT_MESSAGE), "%s: error %d" % (what, err)
    err, _ = produce(b.port, "gz", 0, raw_batch(os.urandom(200), 1, 0, attributes=4), version=7)
    assert err in (INVALID_RECORD, CORRUPT_MESSAGE), "random zstd: error %d" % err
    # Only the good batch is there; the high watermark was not pushed by the lying counts.
    assert high_watermark(b.port, "gz") == 3
    out = subprocess.run(["kcat", "-b", b.bootstrap, "-C", "-t", "gz", "-o", "beginning", "-e", "-q", "-f", "%s\n"],
                         capture_output=True, check=True, timeout=60)
    assert out.stdout.decode().split() == ["one", "two", "three"], out.stdout


# ----------------------------------------------------------------------------- finding 3


def test_segment_fd_flood(b):
    pid = b.proc.pid
    before = open_fds(pid)
    # Hostile: huge offset claims (these used to roll a new segment each, fds never closed).
    create_topic(b.port, "flood")
    c = kw.Conn(b.port)
    try:
        for i in range(1200):
            batch = raw_batch(gzip.compress(records([b"x"])), 0x7FFFFFFF, 0x7FFFFFFE, attributes=1)
            (_, parts), = kw.parse_produce_v3(c.call(kw.produce(Ids.next(), "flood", [(0, batch)])))
            assert parts[0][1] != NONE, parts
    finally:
        c.close()
    # Legitimate: 400 segment rolls (4 KiB segments).
    create_topic(b.port, "rolls", configs=[("segment.bytes", "4096")])
    c = kw.Conn(b.port)
    try:
        for i in range(400):
            batch = kw.record_batch([b"r%04d" % i + b"." * 3000])
            (_, parts), = kw.parse_produce_v3(c.call(kw.produce(Ids.next(), "rolls", [(0, batch)], acks=-1)))
            assert parts[0][1] == NONE, parts
    finally:
        c.close()
    after = open_fds(pid)
    print("open fds: %d before, %d after 1,200 hostile batches and 400 rolls" % (before, after), flush=True)
    assert after - before < 150, "fds grew from %d to %d" % (before, after)
    # Old segments are still readable (they reopen on demand).
    out = subprocess.run(["kcat", "-b", b.bootstrap, "-C", "-t", "rolls", "-o", "beginning", "-e", "-q",
                          "-f", "%o\n"], capture_output=True, check=True, timeout=120)
    assert len(out.stdout.split()) == 400, len(out.stdout.split())


# ----------------------------------------------------------------------------- finding 4


def test_fd_exhaustion(binary):
    # The limit must be there when the broker starts (io_uring does not see a later prlimit): the
    # child inherits this process's soft limit, restored right after the start.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (96, hard))
    try:
        b = Broker(binary).start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    hogs = []
    try:
        admin = kw.Conn(b.port)
        # One round trip before the hogs: the broker has then accepted this connection. Connected
        # is not accepted: each shard accepts from its own SO_REUSEPORT listener, and when this
        # connection's shard is not scheduled for a moment (CI load) the other shard's accepts
        # take every fd, leaving it in the listen backlog, unanswered, until fds are free again.
        cid = Ids.next()
        admin.send(kw.api_versions_v0(cid))
        got = admin.recv_frame()
        assert got is not None and got[0] == cid, got
        for _ in range(200):
            try:
                s = socket.create_connection(("127.0.0.1", b.port), timeout=2)
                hogs.append(s)
            except OSError:
                break
        time.sleep(1.5)  # the accept loop meets EMFILE
        # Created while out of fds: either refused, or created and usable later.
        cfg = kw.array([], None)
        topic = kw.string("during-emfile") + kw.i32(4) + kw.i16(1) + kw.array([], None) + cfg
        body = kw.array([topic], lambda t: t) + kw.i32(10000) + kw.i8(0)
        (res,) = kw.parse_create_topics_v2(admin.call(kw.frame(kw.request_header(19, 2, Ids.next()) + body)))
        created = res[1]
        assert created in (NONE, KAFKA_STORAGE_ERROR), res
        admin.close()
        usr0 = cpu_seconds(b.proc.pid)
        time.sleep(2)
        cpu = cpu_seconds(b.proc.pid) - usr0
        print("broker CPU while out of fds: %.2f s over 2 s" % cpu, flush=True)
        for s in hogs:
            s.close()
        hogs = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if serves(b.port):
                    break
            except OSError:
                time.sleep(0.2)
        assert serves(b.port)
        assert "backing off" in b.read_log(), b.read_log()
        # Consistent afterwards: Metadata and CreateTopics agree, and the topic can be written.
        deadline = time.monotonic() + 10
        exists = topic_exists(b.port, "during-emfile")
        again = create_topic(b.port, "during-emfile", 4)
        if exists:
            assert again == TOPIC_ALREADY_EXISTS, again
        else:
            assert again == NONE, again
        for p in range(4):
            while True:  # partitions that could not open are reopened by housekeeping
                err, _ = produce(b.port, "during-emfile", p, kw.record_batch([b"after"]))
                if err == NONE or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert err == NONE, (p, err)
        stop_cleanly(b)
    finally:
        for s in hogs:
            s.close()
        b.cleanup()


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- finding 5


def mount_small_tmpfs(size_mib):
    d = tempfile.mkdtemp(prefix="sluice-full-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % size_mib, "tmpfs", d], capture_output=True)
    if r.returncode != 0:
        os.rmdir(d)
        return None
    return d


def fill(port, topic):
    """Produces 512 KiB batches until the broker reports a storage error."""
    value = os.urandom(512 * 1024)
    for i in range(400):
        err, _ = produce(port, topic, 0, kw.record_batch([value]))
        if err != NONE:
            return err
    raise AssertionError("the disk never filled")


def test_disk_full(binary):
    mnt = mount_small_tmpfs(48)
    if mnt is None:
        print("SKIP disk-full: cannot mount a tmpfs here", flush=True)
        return False
    data = os.path.join(mnt, "data")
    os.makedirs(data)
    b = Broker(binary, ["--set", "max.message.bytes=2000000"], data_dir=data)
    try:
        b.start()
        assert create_topic(b.port, "filler") == NONE
        assert fill(b.port, "filler") == KAFKA_STORAGE_ERROR
        # Full: DeleteTopics must work and free the space.
        assert delete_topic(b.port, "filler") == NONE
        assert not topic_exists(b.port, "filler")
        assert create_topic(b.port, "after") == NONE
        err, _ = produce(b.port, "after", 0, kw.record_batch([b"fits again"]))
        assert err == NONE, err
        # Full again, then a clean stop: the next start must read everything back.
        assert fill(b.port, "after") == KAFKA_STORAGE_ERROR
        stop_cleanly(b)
        b.start()
        assert topic_exists(b.port, "after")
        assert high_watermark(b.port, "after") >= 1
        stop_cleanly(b)
        # A start that cannot work exits non-zero with one clear line.
        with open(os.path.join(data, "meta", "catalogue"), "wb") as f:
            f.write(b"not a catalogue\n")
        proc = subprocess.run([binary, "--listen", "127.0.0.1:0", "--data-dir", data, "--smp", "2",
                               "--metrics-listen", "off"],
                              capture_output=True, timeout=30)
        assert proc.returncode != 0, proc
        assert b"catalogue" in proc.stderr, proc.stderr
    finally:
        b.cleanup()
        subprocess.run(["umount", mnt], check=False)
        os.rmdir(mnt)
    return True


# ----------------------------------------------------------------------------- finding 6


def test_slow_readers(binary):
    b = Broker(binary, ["--set", "sluice.connection.send.timeout.ms=3000"]).start()
    hogs = []
    try:
        assert create_topic(b.port, "hundred", configs=[("max.message.bytes", "2000000")]) == NONE
        value = os.urandom(1000 * 1000)
        for i in range(100):
            err, _ = produce(b.port, "hundred", 0, kw.record_batch([value]), acks=1)
            assert err == NONE, err
        # Restart so every fetch reads from disk into fresh buffers.
        stop_cleanly(b)
        b.start()
        idle = rss_kib(b.proc.pid)
        for i in range(50):
            h = kw.Conn(b.port)
            h.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            h.send(kw.fetch(Ids.next(), "hundred", 0, 0, max_bytes=100 << 20))
            hogs.append(h)
        time.sleep(2)
        grown_mib = (rss_kib(b.proc.pid) - idle) / 1024
        print("rss growth with 50 unread 100 MB fetches: %.1f MiB" % grown_mib, flush=True)
        assert grown_mib <= 512, grown_mib
        assert serves(b.port)
        # A well-behaved consumer still gets data (after throttled answers at worst).
        got = False
        for _ in range(100):
            c = kw.Conn(b.port)
            try:
                p = kw.parse_fetch_v4(c.call(kw.fetch(Ids.next(), "hundred", 0, 0, max_wait_ms=500)))[0][1][0]
            finally:
                c.close()
            assert p["error"] == NONE, p
            if p["records"]:
                got = True
                break
            time.sleep(0.1)
        assert got, "a reading consumer never got data"
        # The stalled senders are closed after the send timeout.
        deadline = time.monotonic() + 30
        while "not reading their responses" not in b.read_log() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "not reading their responses" in b.read_log(), b.read_log()
        stop_cleanly(b)
    finally:
        for h in hogs:
            h.close()
        b.cleanup()


def create_partitions(port, name, total):
    c = kw.Conn(port)
    try:
        topic = kw.string(name) + kw.i32(total) + kw.i32(-1)  # v0, assignments null
        body = kw.array([topic], lambda t: t) + kw.i32(10000) + kw.i8(0)
        r = c.call(kw.frame(kw.request_header(37, 0, Ids.next()) + body))
        r.i32()
        (res,) = r.array(lambda r: (r.string(), r.i16(), r.string()))
        return res[1]
    finally:
        c.close()


def test_partition_limit(binary):
    """sluice.max.partitions caps what CreateTopics, CreatePartitions and auto-creation may add;
    deleting a topic gives its partitions back."""
    b = Broker(binary, ["--set", "sluice.max.partitions=10"]).start()
    try:
        assert create_topic(b.port, "six", partitions=6) == NONE
        assert create_topic(b.port, "five", partitions=5) == INVALID_PARTITIONS
        assert not topic_exists(b.port, "five")
        assert create_partitions(b.port, "six", 11) == INVALID_PARTITIONS
        assert create_partitions(b.port, "six", 10) == NONE
        # Auto-creation (num.partitions=1) is refused too: the topic stays unknown.
        c = kw.Conn(b.port)
        try:
            _, topics = kw.parse_metadata_v4(c.call(kw.metadata(Ids.next(), ["auto"], allow_auto_create=True)))
            assert topics[0][0] != NONE, topics
        finally:
            c.close()
        assert not topic_exists(b.port, "auto")
        assert delete_topic(b.port, "six") == NONE
        assert create_topic(b.port, "five", partitions=5) == NONE
        stop_cleanly(b)
    finally:
        b.cleanup()


def run(binary):
    test_partition_limit(binary)
    print("ok test_partition_limit", flush=True)
    b = Broker(binary, ["--set", "auto.create.topics.enable=false"]).start()
    try:
        for t in (test_negative_offset_delta, test_compressed_validation, test_segment_fd_flood):
            t(b)
            print("ok", t.__name__, flush=True)
        stop_cleanly(b)
    finally:
        b.cleanup()
    test_fd_exhaustion(binary)
    print("ok test_fd_exhaustion", flush=True)
    test_slow_readers(binary)
    print("ok test_slow_readers", flush=True)
    if test_disk_full(binary):
        print("ok test_disk_full", flush=True)


if __name__ == "__main__":
    main_wrapper(run)
