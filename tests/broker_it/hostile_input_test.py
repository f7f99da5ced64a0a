"""Hostile input against a real sluiced over raw sockets (Python stdlib only): oversized, negative,
truncated and garbage frames, unknown APIs and versions, KIP-511, produce validation errors
(CRC, unknown topic, acks, two batches, bad magic), idempotent duplicates and sequence gaps,
out-of-range fetch, 1,000 abruptly closed connections, pipelining order. Afterwards the log is
exactly what was acknowledged (read back with kcat) and SIGTERM exits 0."""
import os
import signal
import socket
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "compat"))

import kafka_wire as kw  # noqa: E402
from broker import Broker, main_wrapper  # noqa: E402

TOPIC = "it-topic"
MAX_REQUEST = 1048576

# Error codes (Kafka protocol).
OFFSET_OUT_OF_RANGE = 1
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_REQUIRED_ACKS = 21
UNSUPPORTED_VERSION = 35
OUT_OF_ORDER_SEQUENCE_NUMBER = 45
INVALID_RECORD = 87
UNSUPPORTED_COMPRESSION_TYPE = 76


class State:
    def __init__(self, port):
        self.port = port
        self.cid = 1000
        self.expected = {0: [], 1: []}  # partition -> values in offset order

    def next_cid(self):
        self.cid += 1
        return self.cid


def assert_serves(st):
    """A fresh connection still gets answers."""
    c = kw.Conn(st.port)
    try:
        cid = st.next_cid()
        c.send(kw.api_versions_v0(cid))
        got = c.recv_frame()
        assert got is not None and got[0] == cid, "broker stopped serving"
        err, apis = kw.parse_api_versions_v0(got[1])
        assert err == 0 and any(a[0] == 0 for a in apis), (err, apis)
    finally:
        c.close()


def produce_one(st, partition, records, acks=-1, topic=TOPIC):
    c = kw.Conn(st.port)
    try:
        r = c.call(kw.produce(st.next_cid(), topic, [(partition, records)], acks=acks))
        topics = kw.parse_produce_v3(r)
        assert len(topics) == 1 and len(topics[0][1]) == 1, topics
        _, err, base, _ = topics[0][1][0]
        return err, base
    finally:
        c.close()


def check_closed(st, payload, what, keep_other=None):
    c = kw.Conn(st.port)
    try:
        c.send(payload)
        assert c.expect_closed(), "%s: connection was not closed" % what
    finally:
        c.close()
    if keep_other is not None:
        # An unrelated connection opened before is unaffected.
        cid = st.next_cid()
        keep_other.send(kw.api_versions_v0(cid))
        got = keep_other.recv_frame()
        assert got is not None and got[0] == cid, "%s: other connection broken" % what
    assert_serves(st)


def test_setup(st):
    c = kw.Conn(st.port)
    try:
        topics = kw.parse_create_topics_v2(c.call(kw.create_topics(st.next_cid(), TOPIC, 2)))
        assert topics == [(TOPIC, 0, None)], topics
        values = [b"good-%d" % i for i in range(10)]
        err, base = produce_one(st, 0, kw.record_batch(values))
        assert (err, base) == (0, 0), (err, base)
        st.expected[0] += values
    finally:
        c.close()


def test_frames(st):
    other = kw.Conn(st.port)
    try:
        # Over socket.request.max.bytes: closed before the body is even read.
        check_closed(st, struct.pack(">i", MAX_REQUEST + 1) + kw.request_header(18, 0, 1) + b"x" * 1000,
                     "oversized frame", other)
        check_closed(st, struct.pack(">i", 0x7FFFFFFF), "2 GiB frame", other)
        # Negative and tiny lengths.
        check_closed(st, struct.pack(">i", -1) + b"\0" * 16, "negative frame length", other)
        check_closed(st, struct.pack(">i", -2147483648), "INT32_MIN frame length", other)
        check_closed(st, struct.pack(">i", 3) + b"abc", "3-byte frame", other)
        # Garbage header: client id length runs past the frame end.
        check_closed(st, kw.frame(kw.i16(3) + kw.i16(4) + kw.i32(7) + kw.i16(500) + b"ab"), "garbage header", other)
        check_closed(st, kw.frame(b"\x7f\x13\xa5\x01\x00\x00\x00\x01" + b"\xff" * 4), "random header", other)
        # Unknown API key, unsupported versions of a known one.
        check_closed(st, kw.frame(kw.request_header(999, 0, 8)), "unknown api key", other)
        check_closed(st, kw.frame(kw.request_header(-5, 0, 8)), "negative api key", other)
        # (Metadata v0 is served: kafka-python probes with it. OffsetFetch v10 is beyond every range.)
        check_closed(st, kw.frame(kw.request_header(9, 10, 9) + b"\0" * 8), "OffsetFetch v10", other)
        check_closed(st, kw.frame(kw.request_header(3, 99, 10) + b"\0" * 8), "Metadata v99", other)
        # A body that does not decode (truncated Metadata v4 topics array).
        check_closed(st, kw.frame(kw.request_header(3, 4, 11) + kw.i32(5) + kw.string("a")), "truncated body", other)
        # Truncated frame, then the client goes away: nothing to answer, nothing breaks.
        c = kw.Conn(st.port)
        full = kw.api_versions_v0(12)
        c.send(struct.pack(">i", 100) + full[4:])
        c.close()
        assert_serves(st)
    finally:
        other.close()


def test_kip511(st):
    c = kw.Conn(st.port)
    try:
        cid = st.next_cid()
        c.send(kw.api_versions_v9(cid))
        got = c.recv_frame()
        assert got is not None, "ApiVersions v9: connection closed"
        assert got[0] == cid, got[0]
        err, apis = kw.parse_api_versions_v0(got[1])
        assert err == UNSUPPORTED_VERSION, err
        av = [a for a in apis if a[0] == 18]
        assert len(av) == 1 and av[0][1] == 0 and av[0][2] >= 3, apis
        assert got[1].rest() == b"", "v0 body expected, trailing bytes %r" % got[1].rest()
        # The connection stays usable: the client retries with v0.
        cid = st.next_cid()
        c.send(kw.api_versions_v0(cid))
        got = c.recv_frame()
        assert got is not None and got[0] == cid
        err, apis = kw.parse_api_versions_v0(got[1])
        assert err == 0 and len(apis) > 10, (err, apis)
    finally:
        c.close()


def test_produce_errors(st):
    good = kw.record_batch([b"never"])
    err, _ = produce_one(st, 0, kw.record_batch([b"bad-crc"], corrupt_crc=True))
    assert err == CORRUPT_MESSAGE, ("wrong crc", err)
    err, _ = produce_one(st, 0, good, topic="no-such-topic")
    assert err == UNKNOWN_TOPIC_OR_PARTITION, ("unknown topic", err)
    err, _ = produce_one(st, 7, good)
    assert err == UNKNOWN_TOPIC_OR_PARTITION, ("unknown partition", err)
    err, _ = produce_one(st, 0, good, acks=5)
    assert err == INVALID_REQUIRED_ACKS, ("acks=5", err)
    err, _ = produce_one(st, 0, kw.record_batch([b"a"]) + kw.record_batch([b"b"]))
    assert err == INVALID_RECORD, ("two batches", err)
    # Magic 0/1 in a produce v3+ request: INVALID_RECORD (Kafka's ProduceRequest.validateRecords);
    # an unknown magic is a corrupt batch.
    for magic, want in ((0, INVALID_RECORD), (1, INVALID_RECORD), (3, CORRUPT_MESSAGE), (-1, CORRUPT_MESSAGE)):
        err, _ = produce_one(st, 0, kw.record_batch([b"bad-magic"], magic=magic))
        assert err == want, ("bad magic %d" % magic, err)
    # zstd needs Produce v7+ (KIP-110).
    zstd = bytearray(kw.record_batch([b"z"]))
    zstd[22] |= 4
    zstd[17:21] = struct.pack(">I", kw.crc32c(bytes(zstd[21:])))
    err, _ = produce_one(st, 0, bytes(zstd))
    assert err == UNSUPPORTED_COMPRESSION_TYPE, ("zstd on produce v3", err)
    # Truncated batch (batch length says more than is there), and an empty records field.
    err, _ = produce_one(st, 0, kw.record_batch([b"trunc"])[:-3])
    assert err in (CORRUPT_MESSAGE, INVALID_RECORD), ("truncated batch", err)
    err, _ = produce_one(st, 0, b"")
    assert err in (CORRUPT_MESSAGE, INVALID_RECORD), ("empty records", err)
    # A batch whose record count disagrees with lastOffsetDelta.
    b = bytearray(kw.record_batch([b"x", b"y"]))
    b[57:61] = kw.i32(5)  # records count
    b[17:21] = struct.pack(">I", kw.crc32c(bytes(b[21:])))
    err, _ = produce_one(st, 0, bytes(b))
    assert err in (CORRUPT_MESSAGE, INVALID_RECORD), ("record count mismatch", err)
    # acks=0 with a bad batch: no response; like Kafka, the broker closes the connection so the
    # producer notices (it has no other way to learn of the error).
    c = kw.Conn(st.port)
    try:
        c.send(kw.produce(st.next_cid(), TOPIC, [(0, kw.record_batch([b"x"], corrupt_crc=True))], acks=0))
        assert c.expect_closed(), "acks=0 produce error must close the connection"
    finally:
        c.close()
    # acks=0 success: no response, the connection lives on.
    c = kw.Conn(st.port)
    try:
        c.send(kw.produce(st.next_cid(), TOPIC, [(0, kw.record_batch([b"acks0"]))], acks=0))
        st.expected[0].append(b"acks0")
        cid = st.next_cid()
        c.send(kw.api_versions_v0(cid))
        got = c.recv_frame()
        assert got is not None and got[0] == cid, "acks=0 produce must not be answered"
    finally:
        c.close()


def test_idempotence(st):
    c = kw.Conn(st.port)
    try:
        err, pid, epoch = kw.parse_init_producer_id_v0(c.call(kw.init_producer_id(st.next_cid())))
        assert err == 0 and pid >= 0 and epoch >= 0, (err, pid, epoch)
    finally:
        c.close()
    values = [b"idem-0", b"idem-1", b"idem-2"]
    batch = kw.record_batch(values, producer_id=pid, producer_epoch=epoch, base_sequence=0)
    err, base = produce_one(st, 1, batch)
    assert err == 0, err
    st.expected[1] += values
    err2, base2 = produce_one(st, 1, batch)
    assert (err2, base2) == (0, base), ("duplicate must return the original offset", err2, base2, base)
    # Next expected sequence is 3; 5 is a gap.
    gap = kw.record_batch([b"gap"], producer_id=pid, producer_epoch=epoch, base_sequence=5)
    err, _ = produce_one(st, 1, gap)
    assert err == OUT_OF_ORDER_SEQUENCE_NUMBER, ("sequence gap", err)
    nxt = kw.record_batch([b"idem-3"], producer_id=pid, producer_epoch=epoch, base_sequence=3)
    err, base3 = produce_one(st, 1, nxt)
    assert (err, base3) == (0, base + 3), (err, base3)
    st.expected[1].append(b"idem-3")


def test_fetch_out_of_range(st):
    c = kw.Conn(st.port)
    try:
        for off in (1000000, -5):
            topics = kw.parse_fetch_v4(c.call(kw.fetch(st.next_cid(), TOPIC, 0, off)))
            p = topics[0][1][0]
            assert p["error"] == OFFSET_OUT_OF_RANGE, (off, p)
            assert not p["records"], p
        topics = kw.parse_fetch_v4(c.call(kw.fetch(st.next_cid(), TOPIC, 0, 0)))
        p = topics[0][1][0]
        assert p["error"] == 0 and p["hw"] == len(st.expected[0]) and p["records"], p
        topics = kw.parse_fetch_v4(c.call(kw.fetch(st.next_cid(), "no-such-topic", 0, 0)))
        assert topics[0][1][0]["error"] == UNKNOWN_TOPIC_OR_PARTITION, topics
    finally:
        c.close()


def test_decoder_bombs(st):
    """Counts and lengths that claim far more than the frame holds must not allocate or crash."""
    other = kw.Conn(st.port)
    try:
        check_closed(st, kw.frame(kw.request_header(3, 4, 20) + kw.i32(0x7FFFFFFF) + kw.i8(1)), "huge array count", other)
        check_closed(st, kw.frame(kw.request_header(3, 4, 21) + kw.i32(1) + kw.i16(0x7FFF) + b"x"), "huge string", other)
        check_closed(st, kw.frame(kw.request_header(0, 3, 22) + kw.string(None) + kw.i16(-1) + kw.i32(1000)
                                  + kw.i32(1) + kw.string(TOPIC) + kw.i32(1) + kw.i32(0) + kw.i32(0x7FFFFFF0) + b"x"),
                     "huge records length", other)
        check_closed(st, kw.frame(kw.request_header(1, 4, 23) + kw.i32(-1) + kw.i32(0) + kw.i32(1) + kw.i32(1)
                                  + kw.i8(0) + kw.i32(-7)), "negative array count", other)
    finally:
        other.close()
    # Null client id is legal.
    c = kw.Conn(st.port)
    try:
        cid = st.next_cid()
        c.send(kw.frame(kw.i16(18) + kw.i16(0) + kw.i32(cid) + kw.i16(-1)))
        got = c.recv_frame()
        assert got is not None and got[0] == cid, "null client id"
    finally:
        c.close()
    # Negative partition index and a negative partition_max_bytes in Fetch.
    err, _ = produce_one(st, -1, kw.record_batch([b"neg"]))
    assert err == UNKNOWN_TOPIC_OR_PARTITION, err
    c = kw.Conn(st.port)
    try:
        p = kw.parse_fetch_v4(c.call(kw.fetch(st.next_cid(), TOPIC, -3, 0)))[0][1][0]
        assert p["error"] == UNKNOWN_TOPIC_OR_PARTITION, p
        p = kw.parse_fetch_v4(c.call(kw.fetch(st.next_cid(), TOPIC, 0, 0, max_bytes=-5)))[0][1][0]
        assert p["error"] == 0, p
    finally:
        c.close()


def test_slow_reader(st):
    """A client that pipelines big fetches and never reads must not stall anyone else."""
    c = kw.Conn(st.port)
    try:
        topics = kw.parse_create_topics_v2(c.call(kw.create_topics(st.next_cid(), "big-topic", 1)))
        assert topics[0][1] == 0, topics
        for i in range(6):
            err, _ = produce_one(st, 0, kw.record_batch([os.urandom(1000) * 100]), topic="big-topic")
            assert err == 0, err
    finally:
        c.close()
    hog = kw.Conn(st.port)
    hog.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        hog.s.settimeout(60)
        hog.send(b"".join(kw.fetch(i, "big-topic", 0, 0, max_bytes=1 << 20) for i in range(300)))
        for _ in range(3):
            assert_serves(st)
            c = kw.Conn(st.port)
            try:
                p = kw.parse_fetch_v4(c.call(kw.fetch(st.next_cid(), TOPIC, 0, 0)))[0][1][0]
                assert p["error"] == 0 and p["records"], p
            finally:
                c.close()
    finally:
        hog.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        hog.close()
    assert_serves(st)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_slow_reader_memory(st, pid):
    """After a restart big-topic is read from disk into fresh buffers: clients that pipeline 300
    fetches of ~600 KB each and never read must not make the broker hold them all (that was
    ~80 MB per connection; now a few MB: at most two fetches run and responses queue <= 8 MiB)."""
    before = rss_kib(pid)
    hogs = []
    try:
        for _ in range(4):
            h = kw.Conn(st.port)
            h.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            h.send(b"".join(kw.fetch(i, "big-topic", 0, 0, max_bytes=1 << 20) for i in range(300)))
            hogs.append(h)
        assert_serves(st)
        c = kw.Conn(st.port)
        try:  # a fetch from disk on another connection is served meanwhile
            p = kw.parse_fetch_v4(c.call(kw.fetch(st.next_cid(), "big-topic", 0, 0)))[0][1][0]
            assert p["error"] == 0 and p["records"], p
        finally:
            c.close()
        grown_mib = (rss_kib(pid) - before) / 1024
        print("rss growth with 4 non-reading fetchers: %.1f MiB" % grown_mib, flush=True)
        assert grown_mib < 120, "non-reading clients pinned %.0f MiB" % grown_mib
    finally:
        for h in hogs:
            h.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.close()
    assert_serves(st)


def test_multi_shard_long_poll(st):
    """A long poll over partitions of both shards, answered by an append on one of them: the wait
    left behind on the other shard must not touch the finished request (it read freed memory)."""
    parts = 8
    c = kw.Conn(st.port)
    try:
        topics = kw.parse_create_topics_v2(c.call(kw.create_topics(st.next_cid(), "spread-topic", parts)))
        assert topics[0][1] == 0, topics
        ends = {p: 0 for p in range(parts)}
        for rnd in range(40):
            poller = kw.Conn(st.port)
            try:
                cid = st.next_cid()
                poller.send(kw.fetch_multi(cid, "spread-topic", ends, max_wait_ms=5000))
                target = rnd % parts
                err, base = produce_one(st, target, kw.record_batch([b"wake-%d" % rnd]), topic="spread-topic")
                assert err == 0 and base == ends[target], (err, base)
                ends[target] += 1
                got = poller.recv_frame()
                assert got is not None and got[0] == cid
                for p in kw.parse_fetch_v4(got[1])[0][1]:
                    assert p["error"] == 0, p
            finally:
                poller.close()
        assert_serves(st)
    finally:
        c.close()


def test_abrupt_connections(st):
    req = kw.produce(1, TOPIC, [(0, kw.record_batch([b"never-complete"] * 4))])
    cut_points = [0, 2, 4, 7, len(req) // 2, len(req) - 1]
    opened = 0
    while opened < 1000:
        socks = []
        for _ in range(100):
            s = socket.create_connection(("127.0.0.1", st.port), timeout=10)
            cut = cut_points[opened % len(cut_points)]
            if cut:
                s.sendall(req[:cut])
            if opened % 2:  # half of them with a RST instead of a FIN
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            socks.append(s)
            opened += 1
        for s in socks:
            s.close()
    assert_serves(st)


def test_pipelining(st):
    c = kw.Conn(st.port)
    try:
        first = st.next_cid()
        reqs = []
        kinds = []
        for i in range(50):
            cid = first + i
            k = i % 4
            if k == 0:
                reqs.append(kw.api_versions_v0(cid))
            elif k == 1:
                # A long poll at the end of partition 1: completes late; later requests must wait.
                reqs.append(kw.fetch(cid, TOPIC, 1, len(st.expected[1]), max_wait_ms=100))
            elif k == 2:
                reqs.append(kw.produce(cid, TOPIC, [(0, kw.record_batch([b"pipe-%d" % i]))]))
            else:
                reqs.append(kw.metadata(cid, [TOPIC]))
            kinds.append(k)
        st.cid = first + 50
        c.send(b"".join(reqs))
        bases = []
        for i in range(50):
            got = c.recv_frame()
            assert got is not None, "closed after %d responses" % i
            assert got[0] == first + i, "response %d has correlation id %d, want %d" % (i, got[0], first + i)
            if kinds[i] == 2:
                (_, parts), = kw.parse_produce_v3(got[1])
                assert parts[0][1] == 0, parts
                bases.append(parts[0][2])
                st.expected[0].append(b"pipe-%d" % i)
            elif kinds[i] == 1:
                p = kw.parse_fetch_v4(got[1])[0][1][0]
                assert p["error"] == 0, p
            elif kinds[i] == 3:
                _, topics = kw.parse_metadata_v4(got[1])
                assert topics[0][0] == 0 and len(topics[0][3]) == 2, topics
        # Produces on one connection are applied in request order.
        assert bases == sorted(bases) and len(set(bases)) == len(bases), bases
    finally:
        c.close()


def park_requests(st):
    poll = kw.Conn(st.port)
    poll.send(kw.fetch(st.next_cid(), TOPIC, 1, len(st.expected[1]), max_wait_ms=3600000))
    leader = kw.Conn(st.port)
    err, gen, _, _, member, _ = kw.parse_join_group_v2(leader.call(kw.join_group_v2(st.next_cid(), "parked-group")))
    assert err == 0 and gen >= 1 and member, (err, gen, member)
    # A second member's join waits for the first to rejoin (rebalance timeout 300 s).
    waiter = kw.Conn(st.port)
    waiter.send(kw.join_group_v2(st.next_cid(), "parked-group"))
    waiter.s.settimeout(1)
    try:
        assert waiter.s.recv(1) == b"", "second join answered early"
    except socket.timeout:
        pass
    return [poll, leader, waiter]


def check_log(st, bootstrap):
    out = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", TOPIC, "-o", "beginning", "-e", "-q",
                          "-f", "%p|%o|%s\n"], capture_output=True, check=True, timeout=60)
    got = {0: [], 1: []}
    for line in out.stdout.decode().splitlines():
        if not line:
            continue
        p, o, v = line.split("|", 2)
        got[int(p)].append((int(o), v.encode()))
    for p in (0, 1):
        want = list(enumerate(st.expected[p]))
        assert got[p] == want, "partition %d: log differs:\n got  %r\n want %r" % (p, got[p], want)


def run(binary):
    b = Broker(binary, ["--set", "socket.request.max.bytes=%d" % MAX_REQUEST,
                        "--set", "auto.create.topics.enable=false"]).start()
    try:
        st = State(b.port)
        for t in (test_setup, test_frames, test_kip511, test_produce_errors, test_idempotence,
                  test_fetch_out_of_range, test_decoder_bombs, test_slow_reader, test_multi_shard_long_poll,
                  test_abrupt_connections,
                  test_pipelining):
            t(st)
            print("ok", t.__name__, flush=True)
        check_log(st, b.bootstrap)
        print("ok log intact", flush=True)
        # SIGTERM with requests parked: a long poll (1 h) and a JoinGroup waiting for a rebalance.
        parked = park_requests(st)
        rc = b.stop(signal.SIGTERM)
        for c in parked:
            c.close()
        assert rc == 0, "sluiced exited %d on SIGTERM; log:\n%s" % (rc, b.read_log())
        # And after a restart the same log is there.
        b.start()
        st.port = b.port
        check_log(st, b.bootstrap)
        test_slow_reader_memory(st, b.proc.pid)
        print("ok slow readers bounded", flush=True)
        rc = b.stop(signal.SIGTERM)
        assert rc == 0, "sluiced exited %d on SIGTERM after restart; log:\n%s" % (rc, b.read_log())
    finally:
        b.cleanup()


if __name__ == "__main__":
    main_wrapper(run)
