"""A tiny Kafka request encoder / response decoder, Python stdlib only, for hostile-input tests.

Only the non-flexible versions the tests need: request header v1, ApiVersions v0 (and a raw v9
frame for KIP-511), Metadata v4, Produce v3, Fetch v4, InitProducerId v0, CreateTopics v2.
RecordBatch v2 encoding with CRC-32C computed in pure Python.
"""
import socket
import struct
import time

# ------------------------------------------------------------------------------------ CRC-32C

_CRC32C_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC32C_TABLE.append(_c)


def crc32c(data):
    c = 0xFFFFFFFF
    t = _CRC32C_TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the standard check value

# ---------------------------------------------------------------------------------- primitives


def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def string(s):
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def nbytes(b):
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


def array(items, enc):
    if items is None:
        return i32(-1)
    return i32(len(items)) + b"".join(enc(x) for x in items)


def uvarint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint(v):
    return uvarint((v << 1) ^ (v >> 63))


def compact_string(s):
    b = s.encode()
    return uvarint(len(b) + 1) + b


class Reader:
    def __init__(self, data):
        self.d = data
        self.p = 0

    def take(self, n):
        if self.p + n > len(self.d):
            raise ValueError("truncated response at %d (+%d of %d)" % (self.p, n, len(self.d)))
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def nbytes(self):
        n = self.i32()
        return None if n < 0 else self.take(n)

    def array(self, dec):
        n = self.i32()
        return None if n < 0 else [dec(self) for _ in range(n)]

    def rest(self):
        return self.d[self.p:]

# --------------------------------------------------------------------------------- record batch


def record(offset_delta, key, value, headers=(), ts_delta=0):
    body = (i8(0) + varint(ts_delta) + varint(offset_delta)
            + (varint(-1) if key is None else varint(len(key)) + key)
            + (varint(-1) if value is None else varint(len(value)) + value)
            + varint(len(headers))
            + b"".join(varint(len(k)) + k + varint(len(v)) + v for k, v in headers))
    return varint(len(body)) + body


def record_batch(values, producer_id=-1, producer_epoch=-1, base_sequence=-1, timestamp_ms=None,
                 magic=2, corrupt_crc=False, keys=None):
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    recs = b"".join(record(i, None if keys is None else keys[i], v) for i, v in enumerate(values))
    after_crc = (i16(0) + i32(len(values) - 1) + i64(ts) + i64(ts) + i64(producer_id) + i16(producer_epoch)
                 + i32(base_sequence) + i32(len(values)) + recs)
    crc = crc32c(after_crc)
    if corrupt_crc:
        crc ^= 0xDEADBEEF
    after_len = i32(0) + i8(magic) + struct.pack(">I", crc) + after_crc
    return i64(0) + i32(len(after_len)) + after_len

# ------------------------------------------------------------------------------------ requests


def request_header(api_key, version, correlation_id, client_id="sluice-it"):
    return i16(api_key) + i16(version) + i32(correlation_id) + string(client_id)


def frame(payload):
    return i32(len(payload)) + payload


def api_versions_v0(cid):
    return frame(request_header(18, 0, cid))


def api_versions_v9(cid):
    # Header v2 (flexible): client id stays a classic string, then empty tagged fields.
    body = compact_string("sluice-it") + compact_string("1.0") + uvarint(0)
    return frame(request_header(18, 9, cid) + uvarint(0) + body)


def metadata(cid, topics=None, version=4, allow_auto_create=True):
    body = array(topics, string) + (i8(1 if allow_auto_create else 0) if version >= 4 else b"")
    return frame(request_header(3, version, cid) + body)


def produce(cid, topic, partitions, acks=-1, timeout_ms=10000, version=3):
    """partitions: list of (index, records bytes)."""
    body = (string(None) + i16(acks) + i32(timeout_ms)
            + array([(topic, partitions)], lambda t: string(t[0]) + array(t[1], lambda p: i32(p[0]) + nbytes(p[1]))))
    return frame(request_header(0, version, cid) + body)


def fetch(cid, topic, partition, offset, max_wait_ms=0, max_bytes=1 << 20):
    body = (i32(-1) + i32(max_wait_ms) + i32(1) + i32(max_bytes) + i8(0)
            + array([topic], lambda t: string(t) + array([partition], lambda p: i32(p) + i64(offset) + i32(max_bytes))))
    return frame(request_header(1, 4, cid) + body)


def init_producer_id(cid):
    return frame(request_header(22, 0, cid) + string(None) + i32(60000))


def create_topics(cid, name, partitions=1):
    topic = string(name) + i32(partitions) + i16(1) + array([], None) + array([], None)
    body = array([topic], lambda t: t) + i32(10000) + i8(0)
    return frame(request_header(19, 2, cid) + body)

# ----------------------------------------------------------------------------------- responses


def parse_api_versions_v0(r):
    err = r.i16()
    apis = r.array(lambda r: (r.i16(), r.i16(), r.i16()))
    return err, apis


def parse_produce_v3(r):
    topics = r.array(lambda r: (r.string(), r.array(lambda r: (r.i32(), r.i16(), r.i64(), r.i64()))))
    r.i32()  # throttle
    return topics


def parse_fetch_v4(r):
    r.i32()  # throttle
    return r.array(lambda r: (r.string(), r.array(lambda r: {
        "partition": r.i32(), "error": r.i16(), "hw": r.i64(), "lso": r.i64(),
        "aborted": r.array(lambda r: (r.i64(), r.i64())), "records": r.nbytes()})))


def parse_init_producer_id_v0(r):
    r.i32()
    return r.i16(), r.i64(), r.i16()


def parse_create_topics_v2(r):
    r.i32()
    return r.array(lambda r: (r.string(), r.i16(), r.string()))


def parse_metadata_v4(r):
    r.i32()
    brokers = r.array(lambda r: (r.i32(), r.string(), r.i32(), r.string()))
    r.string()
    r.i32()
    topics = r.array(lambda r: (r.i16(), r.string(), r.i8(), r.array(
        lambda r: (r.i16(), r.i32(), r.i32(), r.array(lambda r: r.i32()), r.array(lambda r: r.i32())))))
    return brokers, topics

# ---------------------------------------------------------------------------------- connection


class Conn:
    def __init__(self, port, timeout=15):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, data):
        self.s.sendall(data)

    def recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def recv_frame(self):
        """Returns (correlation_id, Reader over the body) or None if the peer closed."""
        head = self.recv_exact(4)
        if head is None:
            return None
        (n,) = struct.unpack(">i", head)
        payload = self.recv_exact(n)
        if payload is None:
            return None
        r = Reader(payload)
        return r.i32(), r

    def call(self, data):
        self.send(data)
        resp = self.recv_frame()
        if resp is None:
            raise AssertionError("connection closed instead of a response")
        return resp[1]

    def expect_closed(self, timeout=10):
        """True if the broker closes the connection without sending a response frame."""
        self.s.settimeout(timeout)
        try:
            data = self.s.recv(4096)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        return data == b""

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def join_group_v2(cid, group, member_id="", session_ms=30000, rebalance_ms=300000, topics=("t",)):
    meta = i16(0) + array(list(topics), string) + nbytes(b"")
    body = (string(group) + i32(session_ms) + i32(rebalance_ms) + string(member_id) + string("consumer")
            + array([("range", meta)], lambda p: string(p[0]) + nbytes(p[1])))
    return frame(request_header(11, 2, cid) + body)


def parse_join_group_v2(r):
    r.i32()
    err, gen = r.i16(), r.i32()
    proto, leader, member = r.string(), r.string(), r.string()
    members = r.array(lambda r: (r.string(), r.nbytes()))
    return err, gen, proto, leader, member, members


def fetch_multi(cid, topic, offsets, max_wait_ms=0, max_bytes=1 << 20):
    """offsets: {partition: fetch offset}."""
    body = (i32(-1) + i32(max_wait_ms) + i32(1) + i32(max_bytes) + i8(0)
            + array([topic], lambda t: string(t) + array(sorted(offsets.items()),
                                                          lambda p: i32(p[0]) + i64(p[1]) + i32(max_bytes))))
    return frame(request_header(1, 4, cid) + body)


def fetch_v7(cid, session_id, epoch, topics, forgotten=(), max_wait_ms=0, max_bytes=1 << 20, min_bytes=1):
    """Fetch v7 (fetch sessions, KIP-227). topics: [(topic, [(partition, offset)])];
    forgotten: [(topic, [partition])]."""
    part = lambda p: i32(p[0]) + i64(p[1]) + i64(-1) + i32(max_bytes)  # noqa: E731
    body = (i32(-1) + i32(max_wait_ms) + i32(min_bytes) + i32(max_bytes) + i8(0) + i32(session_id) + i32(epoch)
            + array(topics, lambda t: string(t[0]) + array(t[1], part))
            + array(forgotten, lambda t: string(t[0]) + array(t[1], i32)))
    return frame(request_header(1, 7, cid) + body)


def parse_fetch_v7(r):
    """(error, session_id, {(topic, partition): {...}}) in response order."""
    r.i32()  # throttle
    error, session_id = r.i16(), r.i32()
    topics = r.array(lambda r: (r.string(), r.array(lambda r: {
        "partition": r.i32(), "error": r.i16(), "hw": r.i64(), "lso": r.i64(), "log_start": r.i64(),
        "aborted": r.array(lambda r: (r.i64(), r.i64())), "records": r.nbytes()})))
    return error, session_id, [((t, p["partition"]), p) for t, parts in topics for p in parts]
