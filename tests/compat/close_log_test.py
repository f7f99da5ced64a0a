"""What the broker does with requests it cannot serve, over raw sockets: an API version it does not
know closes the connection and the broker logs one line saying why (API, version, client id,
address); Fetch v0-3 (message formats 0 and 1, not advertised) is answered with
UNSUPPORTED_VERSION instead; a bad frame size closes and is logged too."""
import socket
import struct

from broker import Broker, main_wrapper


def frame(api_key, version, correlation, client_id, body, flexible_header=False):
    cid = client_id.encode()
    header = struct.pack(">hhih", api_key, version, correlation, len(cid)) + cid
    if flexible_header:
        header += b"\x00"  # no tagged fields
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            return None
        out += chunk
    return out


def connect(broker):
    s = socket.create_connection(("127.0.0.1", broker.port), timeout=10)
    return s


def closed_by_peer(s):
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def unsupported_version_closes_and_logs(broker):
    s = connect(broker)
    # Metadata v13 does not exist: header v2 (Metadata is flexible from v9), empty body.
    s.sendall(frame(3, 13, 7, "close-log-test", b"", flexible_header=True))
    assert closed_by_peer(s), "connection not closed"
    s.close()


def old_fetch_answered(broker):
    s = connect(broker)
    # Fetch v3: replica_id, max_wait_ms, min_bytes, max_bytes, topics[name, partitions[partition,
    # fetch_offset, partition_max_bytes]].
    topic = b"old-fetch"
    body = struct.pack(">iiii", -1, 100, 1, 1 << 20) + struct.pack(">i", 1)
    body += struct.pack(">h", len(topic)) + topic + struct.pack(">i", 1) + struct.pack(">iqi", 0, 0, 1 << 20)
    s.sendall(frame(1, 3, 42, "old-fetcher", body))
    size = struct.unpack(">i", recv_exact(s, 4))[0]
    resp = recv_exact(s, size)
    # correlation id, throttle_time_ms, [topic: name, [partition: index, error_code, hw, records]]
    correlation, _throttle, ntopics = struct.unpack_from(">iii", resp, 0)
    assert correlation == 42 and ntopics == 1, resp
    pos = 12
    (ln,) = struct.unpack_from(">h", resp, pos)
    assert resp[pos + 2:pos + 2 + ln] == topic, resp
    pos += 2 + ln
    nparts, index, error = struct.unpack_from(">iih", resp, pos)
    assert (nparts, index, error) == (1, 0, 35), (nparts, index, error)  # 35 = UNSUPPORTED_VERSION
    # The connection stays usable.
    s.sendall(frame(18, 0, 43, "old-fetcher", b""))
    size = struct.unpack(">i", recv_exact(s, 4))[0]
    resp = recv_exact(s, size)
    assert struct.unpack_from(">ih", resp, 0) == (43, 0), resp
    s.close()


def bad_frame_size_closes_and_logs(broker):
    s = connect(broker)
    s.sendall(struct.pack(">i", 3) + b"abc")
    assert closed_by_peer(s), "connection not closed"
    s.close()


def run(binary):
    broker = Broker(binary).start()
    try:
        unsupported_version_closes_and_logs(broker)
        old_fetch_answered(broker)
        bad_frame_size_closes_and_logs(broker)
        broker.stop()
        log = broker.read_log()
        lines = [ln for ln in log.splitlines() if "closing connection" in ln]
        print("\n".join(lines))
        assert any("unsupported api version (api Metadata key 3 v13, client id 'close-log-test')" in ln and
                   "from 127.0.0.1" in ln for ln in lines), log
        assert any("request frame size below 8 bytes" in ln for ln in lines), log
        assert not any("old-fetcher" in ln for ln in lines), log
    finally:
        broker.cleanup()


if __name__ == "__main__":
    main_wrapper(run)
