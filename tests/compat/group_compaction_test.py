"""The internal group partitions are compacted: after many commits the old segments are gone,
and the committed offsets still come back after a SIGKILL restart."""
import os
import signal

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from broker import Broker, main_wrapper

COMMITS = 400


def segment_bases(data_dir):
    """Base offsets of the segment files of each internal partition."""
    root = os.path.join(data_dir, "__consumer_offsets")
    return {part: sorted(int(f[:-4]) for f in os.listdir(os.path.join(root, part)) if f.endswith(".log"))
            for part in os.listdir(root)}


def committed(bootstrap, group):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    got = c.committed([TopicPartition("cmp", p) for p in range(2)], timeout=10)
    c.close()
    return {tp.partition: tp.offset for tp in got}


def run(binary):
    b = Broker(binary, ["--set", "sluice.group.compaction.min.records=50"]).start()
    try:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        admin.create_topics([NewTopic("cmp", 2, 1)])["cmp"].result()
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "compactor", "enable.auto.commit": False})
        for i in range(COMMITS):
            c.commit(offsets=[TopicPartition("cmp", i % 2, i)], asynchronous=False)
        c.close()
        bases = segment_bases(b.data_dir)
        # Without compaction the group's partition would still start at offset 0 and hold all
        # 400 commits; with it the segments a snapshot replaced are gone.
        assert any(v and v[0] > 0 for v in bases.values()), bases
        assert all(len(v) <= 3 for v in bases.values()), bases
        assert committed(b.bootstrap, "compactor") == {0: COMMITS - 2, 1: COMMITS - 1}
        b.restart(signal.SIGKILL)
        assert committed(b.bootstrap, "compactor") == {0: COMMITS - 2, 1: COMMITS - 1}
        b.restart(signal.SIGTERM)
        assert committed(b.bootstrap, "compactor") == {0: COMMITS - 2, 1: COMMITS - 1}
    finally:
        b.cleanup()


if __name__ == "__main__":
    main_wrapper(run)
