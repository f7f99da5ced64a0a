"""confluent-kafka-python (Debian 1.7 over librdkafka 2.0.2): AdminClient create_topics and
describe_configs, an idempotent producer with every compression codec (batches pass through
untouched), read back by offset with assign() across a SIGKILL restart."""
import signal

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from broker import Broker, main_wrapper

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PER_CODEC = 300


def admin_checks(bootstrap):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [NewTopic("py-" + c, num_partitions=2, replication_factor=1,
                       config={"retention.ms": "3600000"}) for c in CODECS]
    for t, f in admin.create_topics(topics, request_timeout=15).items():
        f.result()
    # Creating one again must fail with TOPIC_ALREADY_EXISTS.
    f = admin.create_topics([NewTopic("py-none", num_partitions=1, replication_factor=1)])["py-none"]
    try:
        f.result()
        raise AssertionError("duplicate create_topics succeeded")
    except Exception as e:  # KafkaException
        assert "TOPIC_ALREADY_EXISTS" in str(e) or "already exists" in str(e), e
    res = ConfigResource(ConfigResource.Type.TOPIC, "py-gzip")
    configs = admin.describe_configs([res])[res].result()
    assert configs["retention.ms"].value == "3600000", configs["retention.ms"].value
    assert configs["segment.bytes"].value is not None
    md = admin.list_topics(timeout=10)
    assert len(md.topics["py-zstd"].partitions) == 2


def produce_all(bootstrap):
    acked = {}
    for codec in CODECS:
        p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                      "compression.codec": codec, "linger.ms": 5})
        delivered = []

        def cb(err, msg, delivered=delivered):
            assert err is None, err
            delivered.append((msg.partition(), msg.offset(), msg.key(), msg.value()))

        for i in range(PER_CODEC):
            p.produce("py-" + codec, key=b"k%d" % i, value=(b"payload-%d-" % i) * 10,
                      headers=[("codec", codec.encode())], on_delivery=cb)
            if i % 100 == 0:
                p.poll(0)
        assert p.flush(30) == 0
        assert len(delivered) == PER_CODEC, (codec, len(delivered))
        acked[codec] = delivered
    return acked


def read_back(bootstrap, codec, expected):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "py-reader-" + codec,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.assign([TopicPartition("py-" + codec, p, 0) for p in range(2)])
    got = {}
    idle = 0
    while len(got) < len(expected) and idle < 50:
        m = c.poll(0.2)
        if m is None:
            idle += 1
            continue
        assert m.error() is None, m.error()
        got[(m.partition(), m.offset())] = (m.key(), m.value(), m.headers())
        idle = 0
    c.close()
    for part, off, key, value in expected:
        assert (part, off) in got, ("missing", codec, part, off)
        k, v, h = got[(part, off)]
        assert (k, v) == (key, value), (codec, part, off)
        assert ("codec", codec.encode()) in (h or []), h


def run(binary):
    b = Broker(binary).start()
    try:
        admin_checks(b.bootstrap)
        acked = produce_all(b.bootstrap)
        for codec in CODECS:
            read_back(b.bootstrap, codec, acked[codec])
        b.restart(signal.SIGKILL)
        for codec in CODECS:
            read_back(b.bootstrap, codec, acked[codec])
    finally:
        b.cleanup()


if __name__ == "__main__":
    main_wrapper(run)
