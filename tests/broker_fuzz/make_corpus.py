"""Writes the seed corpus of fuzz_broker_requests: each file is a sequence of
[u16 big-endian length][request frame without its size prefix]. Real-client frames come from
tests/kafka_codec/corpus; the sequences below are built with tests/broker_it/kafka_wire.py."""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "broker_it"))
import kafka_wire as kw  # noqa: E402

OUT = os.path.join(HERE, "corpus")


def unframe(f):
    return f[4:]


def seq(*frames):
    return b"".join(struct.pack(">H", len(f)) + f for f in frames)


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def delete_records_v1(cid, topic, offsets):
    parts = kw.array(sorted(offsets.items()), lambda po: kw.i32(po[0]) + kw.i64(po[1]))
    return kw.frame(kw.request_header(21, 1, cid) + kw.array([topic], lambda t: kw.string(t) + parts) + kw.i32(1000))


def offset_for_leader_epoch_v2(cid, topic, partition, current_epoch, epoch):
    parts = kw.array([partition], lambda p: kw.i32(p) + kw.i32(current_epoch) + kw.i32(epoch))
    return kw.frame(kw.request_header(23, 2, cid) + kw.array([topic], lambda t: kw.string(t) + parts))


def describe_log_dirs_v1(cid, topic=None):
    topics = kw.i32(-1) if topic is None else kw.array([topic], lambda t: kw.string(t) + kw.array([0], kw.i32))
    return kw.frame(kw.request_header(35, 1, cid) + topics)


def main():
    os.makedirs(OUT, exist_ok=True)
    clients = os.path.join(HERE, "..", "kafka_codec", "corpus")
    for name in sorted(os.listdir(clients)):
        with open(os.path.join(clients, name), "rb") as f:
            write("client_" + name, seq(f.read()))
    t = "golden"
    meta = unframe(kw.metadata(1, [t]))
    batch = kw.record_batch([b"v1", b"v2"], timestamp_ms=1700000000000)
    idem = kw.record_batch([b"i1"], producer_id=1000, producer_epoch=0, base_sequence=0, timestamp_ms=1700000000000)
    write("produce_fetch", seq(meta, unframe(kw.produce(2, t, [(0, batch)])), unframe(kw.fetch(3, t, 0, 0))))
    write("produce_acks1_idempotent", seq(meta, unframe(kw.init_producer_id(4)),
                                          unframe(kw.produce(5, t, [(0, idem)], acks=1)),
                                          unframe(kw.produce(6, t, [(0, idem)], acks=-1))))
    write("create_topics", seq(unframe(kw.create_topics(7, "fz", 3)), unframe(kw.metadata(8, ["fz"]))))
    write("join_group", seq(unframe(kw.join_group_v2(9, "g", session_ms=100, rebalance_ms=100, topics=(t,)))))
    write("fetch_multi", seq(meta, unframe(kw.fetch_multi(10, t, {0: 0, 1: 0}, max_wait_ms=10))))
    write("delete_records_epochs_log_dirs",
          seq(meta, unframe(kw.produce(13, t, [(0, batch)])), unframe(delete_records_v1(14, t, {0: 1, 1: -1})),
              unframe(kw.fetch(15, t, 0, 0)), unframe(offset_for_leader_epoch_v2(16, t, 0, 0, 0)),
              unframe(offset_for_leader_epoch_v2(17, t, 0, 3, 0)), unframe(describe_log_dirs_v1(18)),
              unframe(describe_log_dirs_v1(19, t))))
    write("api_versions", seq(unframe(kw.api_versions_v0(11)), unframe(kw.api_versions_v9(12))))


if __name__ == "__main__":
    main()
