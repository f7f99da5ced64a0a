"""Log compaction through real clients: a cleanup.policy=compact topic (tiny segments, dirty ratio
0.01) gets keyed updates from confluent-kafka-python (lz4, idempotent) and kcat, and tombstones
(kcat -Z, and value=None). A reader keeps consuming from offset 0 the whole time, and every record
it sees must be the one produced at that offset (reads during compaction never see a half-written
segment or a stranger). Then: one record per key remains in the closed segments, at its original
offset; tombstones disappear after delete.retention.ms; a null key is refused with
INVALID_RECORD (87); DescribeConfigs reports the policy; AlterConfigs switches a topic to
compact,delete. Finally SIGKILL restarts in the middle of cleaner runs (small slices make a run
long) lose no kept record and duplicate none, and leave no .cleaned/.swap files behind."""
import glob
import os
import random
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "compat"))

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # noqa: E402

from broker import Broker, main_wrapper  # noqa: E402

TOPIC = "cmp"
KEYS = 40
COMPACT_CONFIG = {"cleanup.policy": "compact", "segment.bytes": "4096", "min.cleanable.dirty.ratio": "0.01",
                  "delete.retention.ms": "2000"}


def create(bootstrap, name, config):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for _, f in admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1, config=config)],
                                    request_timeout=15).items():
        f.result()
    return admin


def produce(bootstrap, records, codec="lz4"):
    """records: [(key, value or None)]; returns {offset: (key, value)} from the delivery reports."""
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "compression.codec": codec,
                  "linger.ms": 2})
    acked = {}

    def cb(err, msg):
        assert err is None, err
        acked[msg.offset()] = (msg.key(), msg.value())

    for k, v in records:
        p.produce(TOPIC, key=k, value=v, on_delivery=cb)
        p.poll(0)
    assert p.flush(30) == 0
    assert len(acked) == len(records)
    return acked


def kcat_produce(bootstrap, lines):
    """key:value lines; an empty value is a tombstone (-Z). Offsets come from reading back."""
    subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", TOPIC, "-p", "0", "-K:", "-Z"],
                   input=("\n".join(lines) + "\n").encode(), check=True, timeout=30)


def consume_all(bootstrap, topic=TOPIC, timeout_s=20):
    """Every record from offset 0 to the high watermark: [(offset, key, value)]."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "cmp-reader-%d" % random.randrange(1 << 30),
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    _, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    c.assign([TopicPartition(topic, 0, 0)])
    out = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and (not out or out[-1][0] < high - 1) and high > 0:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
            continue
        out.append((m.offset(), m.key(), m.value()))
    c.close()
    offsets = [o for o, _, _ in out]
    assert offsets == sorted(set(offsets)), "offsets must be strictly increasing"
    return out


def metric(b, name):
    import urllib.request
    if not hasattr(b, "mport"):  # named once in the start-up lines (read_log keeps only the tail)
        b.mport = b.metrics_port()
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % b.mport, timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


def check_against(produced, seen, what):
    """Every record read is exactly the one produced at its offset."""
    for o, k, v in seen:
        assert o in produced, "%s: offset %d was never produced" % (what, o)
        assert produced[o] == (k, v), "%s: offset %d is %r, produced %r" % (what, o, (k, v), produced[o])


def latest_per_key(produced):
    last = {}
    for o in sorted(produced):
        last[produced[o][0]] = o
    return last


class Reader(threading.Thread):
    """Consumes from offset 0 over and over while the test produces and the cleaner runs."""

    def __init__(self, bootstrap):
        super().__init__(daemon=True)
        self.bootstrap, self.stop, self.passes, self.seen, self.error = bootstrap, False, 0, [], None

    def run(self):
        try:
            while not self.stop:
                self.seen.append(consume_all(self.bootstrap, timeout_s=5))
                self.passes += 1
        except Exception as e:  # noqa: BLE001 (reported by the main thread)
            self.error = e


def add_filler(b, produced):
    """Filler records (own keys, 200 random bytes each: incompressible, more than a 4 KiB segment's worth) so every
    earlier record sits in a closed segment: the active segment is never cleaned."""
    for _ in range(6):
        produced.update(produce(b.bootstrap, [(b"fill-%d" % k, os.urandom(200)) for k in range(10)]))


def wait_compacted(b, produced, timeout_s=40):
    """Until the only superseded records left are filler ones (which the active segment holds)."""
    deadline = time.monotonic() + timeout_s
    stale = []
    while time.monotonic() < deadline:
        seen = consume_all(b.bootstrap)
        check_against(produced, seen, "after compaction")
        latest = latest_per_key(produced)
        stale = [(o, k) for o, k, _ in seen if latest[k] != o and not k.startswith(b"fill-")]
        if not stale:
            return seen
        time.sleep(0.5)
    raise AssertionError("not compacted in %ds: %d superseded records left, first %r" % (timeout_s, len(stale),
                                                                                          stale[:5]))


def keyed_updates_and_tombstones(b):
    admin = create(b.bootstrap, TOPIC, COMPACT_CONFIG)
    res = ConfigResource(ConfigResource.Type.TOPIC, TOPIC)
    cfg = admin.describe_configs([res])[res].result()
    assert cfg["cleanup.policy"].value == "compact", cfg["cleanup.policy"].value
    assert cfg["min.cleanable.dirty.ratio"].value == "0.01"

    reader = Reader(b.bootstrap)
    reader.start()
    produced = {}
    for rnd in range(30):
        produced.update(produce(b.bootstrap, [(b"key-%d" % k, b"value-%d-%d" % (k, rnd) * 4) for k in range(KEYS)]))
        time.sleep(0.05)
    # kcat: updates of its own keys, one tombstone among them.
    before = consume_all(b.bootstrap)
    kcat_produce(b.bootstrap, ["kc-%d:v%d" % (i % 5, i) for i in range(50)] + ["kc-0:"])
    after = consume_all(b.bootstrap)
    for o, k, v in after:
        if o > before[-1][0]:
            produced[o] = (k, v)
    # Tombstones for keys 0..4 (confluent-kafka: value=None).
    produced.update(produce(b.bootstrap, [(b"key-%d" % k, None) for k in range(5)]))
    add_filler(b, produced)  # the tombstones' segment closes

    seen = wait_compacted(b, produced)
    reader.stop = True
    reader.join(30)
    assert reader.error is None, reader.error
    assert reader.passes >= 2, reader.passes
    for p in reader.seen:
        check_against(produced, p, "read during compaction")
    # Every key's latest record is there, at its offset.
    latest = latest_per_key(produced)
    offsets = {o for o, _, _ in seen}
    for k, o in latest.items():
        assert o in offsets, "latest record of %r (offset %d) lost" % (k, o)
    assert len(seen) < len(produced) / 4, (len(seen), len(produced))
    assert metric(b, "sluice_log_cleaner_records_removed_total") > 0
    assert metric(b, "sluice_log_cleaner_runs_total") > 0

    # Tombstones go once delete.retention.ms has passed since the cleaning that kept them.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        seen = consume_all(b.bootstrap)
        check_against(produced, seen, "tombstone expiry")
        if not any(v is None for _, _, v in seen):
            break
        time.sleep(0.5)
    assert not any(v is None for _, _, v in seen), "tombstones still there after delete.retention.ms"
    assert not any(k == b"key-0" for _, k, _ in seen)
    assert any(k == b"key-9" for _, k, _ in seen)
    return produced


def null_key_refused(b):
    p = Producer({"bootstrap.servers": b.bootstrap, "retries": 0})
    errors = []
    p.produce(TOPIC, key=None, value=b"no key", on_delivery=lambda err, msg: errors.append(err))
    p.flush(15)
    assert errors and errors[0] is not None, errors
    assert errors[0].code() == 87 or errors[0].name() == "INVALID_RECORD", errors[0]


def alter_to_compact_delete(b):
    admin = create(b.bootstrap, "cmp-alter", {})
    res = ConfigResource(ConfigResource.Type.TOPIC, "cmp-alter", set_config={"cleanup.policy": "compact,delete"})
    admin.alter_configs([res])[res].result()
    got = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, "cmp-alter")])
    value = list(got.values())[0].result()["cleanup.policy"].value
    assert value == "compact,delete", value
    bad = ConfigResource(ConfigResource.Type.TOPIC, "cmp-alter", set_config={"cleanup.policy": "shred"})
    try:
        admin.alter_configs([bad])[bad].result()
        raise AssertionError("cleanup.policy=shred accepted")
    except Exception as e:  # noqa: BLE001
        assert "INVALID_CONFIG" in str(e) or "not supported" in str(e), e


def set_policy(bootstrap, config, policy):
    """AlterConfigs replaces the topic's whole set: pass every key again."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    res = ConfigResource(ConfigResource.Type.TOPIC, TOPIC, set_config=dict(config, **{"cleanup.policy": policy}))
    admin.alter_configs([res])[res].result()


def restart_mid_compaction(binary):
    """SIGKILL while a cleaner run is in progress, repeatedly: each round writes ~30 segments of
    keyed updates under cleanup.policy=delete, switches the topic to compact (the next
    housekeeping second starts a run that rewrites them all, several syncs per segment) and kills
    the broker a random moment later. No kept record is lost or duplicated, and no .cleaned/.swap
    file survives a start."""
    slow = ["--set", "sluice.log.cleaner.slice.bytes=512"]
    b = Broker(binary, slow).start()
    config = dict(COMPACT_CONFIG, **{"segment.bytes": "16384"})
    try:
        create(b.bootstrap, TOPIC, config)
        produced = {}
        kills = 0
        for _ in range(5):
            set_policy(b.bootstrap, config, "delete")
            for rnd in range(20):
                produced.update(produce(b.bootstrap, [(b"key-%d" % k, os.urandom(60).hex().encode())
                                                      for k in range(200)],
                                        codec=random.choice(["none", "gzip", "snappy", "lz4", "zstd"])))
            set_policy(b.bootstrap, config, "compact")
            time.sleep(random.uniform(0.5, 2.0))  # housekeeping starts a run within a second
            b.restart(signal.SIGKILL)
            kills += 1
            left = glob.glob(os.path.join(b.data_dir, TOPIC, "0", "*.cleaned")) + \
                glob.glob(os.path.join(b.data_dir, TOPIC, "0", "*.swap"))
            assert not left, "temp files after a start: %r" % left
            seen = consume_all(b.bootstrap)
            check_against(produced, seen, "after SIGKILL %d" % kills)
            offsets = {o for o, _, _ in seen}
            for k, o in latest_per_key(produced).items():
                assert o in offsets, "kill %d: latest record of %r (offset %d) lost" % (kills, k, o)
        add_filler(b, produced)
        seen = wait_compacted(b, produced, timeout_s=60)
        with open(b.log_path, "rb") as f:
            text = f.read().decode(errors="replace")
        interrupted = text.count("compaction interrupted by a stop")
        if os.environ.get("COMPACTION_TEST_VERBOSE"):
            print("\n".join(line for line in text.splitlines() if "compact" in line or "listening" in line))
        print("restart_mid_compaction: %d kills (%d found a swap or .cleaned files to finish), %d produced, %d left"
              % (kills, interrupted, len(produced), len(seen)))
    finally:
        b.cleanup()


def main(binary):
    b = Broker(binary).start()
    try:
        metric(b, "sluice_log_cleaner_runs_total")
        produced = keyed_updates_and_tombstones(b)
        null_key_refused(b)
        alter_to_compact_delete(b)
        print("compaction: %d produced, cleaner bytes read %d written %d" % (
            len(produced), metric(b, "sluice_log_cleaner_bytes_read_total"),
            metric(b, "sluice_log_cleaner_bytes_written_total")))
    finally:
        b.cleanup()
    restart_mid_compaction(binary)
    print("compaction_test: OK")


if __name__ == "__main__":
    main_wrapper(main)
