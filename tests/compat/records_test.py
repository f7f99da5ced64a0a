"""DeleteRecords, OffsetForLeaderEpoch and DescribeLogDirs through real clients, and the log start
offset across restarts:
- kafkajs 2.2.4 admin.deleteTopicRecords (to each partition's leader) and fetchTopicOffsets
  (kafkajs_records_test.js): partition 0 deleted below 4, partition 1 up to its high watermark (-1);
- confluent-kafka (librdkafka 2.0.2): watermarks (ListOffsets earliest = the new log start), a
  consumer group from the beginning that starts at it, and a consumer assigned below it that gets
  OFFSET_OUT_OF_RANGE and resets to it;
- kafka-python 2.0.2's own protocol code (2.0.2 has no admin call for these: the messages are
  declared with its Struct types and sent to every broker): DescribeLogDirs v1 (sizes per
  partition) and OffsetForLeaderEpoch v2 (epoch 0 ends at the log end);
- a SIGTERM restart and a SIGKILL restart, each keeping the log start offsets."""
import os
import signal
import subprocess

from confluent_kafka import Consumer, KafkaError, TopicPartition

from broker import Broker, main_wrapper

HERE = os.path.dirname(os.path.abspath(__file__))
TOPIC = "records-topic"

try:
    from kafka import KafkaAdminClient
    from kafka.protocol.api import Request, Response
    from kafka.protocol.types import Array, Boolean, Int16, Int32, Int64, Schema, String

    class DescribeLogDirsResponse_v1(Response):
        API_KEY = 35
        API_VERSION = 1
        SCHEMA = Schema(
            ('throttle_time_ms', Int32),
            ('log_dirs', Array(
                ('error_code', Int16),
                ('log_dir', String('utf-8')),
                ('topics', Array(
                    ('name', String('utf-8')),
                    ('partitions', Array(
                        ('partition_index', Int32),
                        ('partition_size', Int64),
                        ('offset_lag', Int64),
                        ('is_future_key', Boolean))))))))

    class DescribeLogDirsRequest_v1(Request):
        API_KEY = 35
        API_VERSION = 1
        RESPONSE_TYPE = DescribeLogDirsResponse_v1
        SCHEMA = Schema(('topics', Array(('topic', String('utf-8')), ('partitions', Array(Int32)))))

    class OffsetForLeaderEpochResponse_v2(Response):
        API_KEY = 23
        API_VERSION = 2
        SCHEMA = Schema(
            ('throttle_time_ms', Int32),
            ('topics', Array(
                ('topic', String('utf-8')),
                ('partitions', Array(
                    ('error_code', Int16),
                    ('partition', Int32),
                    ('leader_epoch', Int32),
                    ('end_offset', Int64))))))

    class OffsetForLeaderEpochRequest_v2(Request):
        API_KEY = 23
        API_VERSION = 2
        RESPONSE_TYPE = OffsetForLeaderEpochResponse_v2
        SCHEMA = Schema(
            ('topics', Array(
                ('topic', String('utf-8')),
                ('partitions', Array(
                    ('partition', Int32),
                    ('current_leader_epoch', Int32),
                    ('leader_epoch', Int32))))))
    HAVE_KAFKA_PYTHON = True
except ImportError:
    HAVE_KAFKA_PYTHON = False


def watermarks(bootstrap):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "records-watermarks"})
    try:
        return [c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=15) for p in (0, 1)]
    finally:
        c.close()


def expect_watermarks(bootstrap, want):
    got = watermarks(bootstrap)
    assert got == want, "watermarks %s, want %s" % (got, want)
    print("watermarks (low, high):", got, flush=True)


def consume_from_beginning(bootstrap):
    """A group consumer with auto.offset.reset=earliest sees exactly the records kept."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "records-group", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([TOPIC])
    got = []
    try:
        for _ in range(300):
            m = c.poll(0.2)
            if m is None or m.error():
                if got and len(got) >= 6:
                    break
                continue
            got.append((m.partition(), m.offset(), m.value().decode()))
    finally:
        c.close()
    assert got == [(0, o, "p0-m%d" % o) for o in range(4, 10)], got
    print("consumed from the beginning:", [(p, o) for p, o, _ in got], flush=True)


def consume_below_log_start(bootstrap):
    """Assigned below the log start: OFFSET_OUT_OF_RANGE, reset to the earliest offset (4)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "records-assign", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.assign([TopicPartition(TOPIC, 0, 1)])
    first = None
    try:
        for _ in range(300):
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                assert m.error().code() in (KafkaError._PARTITION_EOF, KafkaError.OFFSET_OUT_OF_RANGE), m.error()
                continue
            first = m.offset()
            break
    finally:
        c.close()
    assert first == 4, first
    print("assigned at 1, reset to", first, flush=True)


def kafka_python_checks(bootstrap):
    if not HAVE_KAFKA_PYTHON:
        print("kafka-python not installed: DescribeLogDirs/OffsetForLeaderEpoch client checks skipped", flush=True)
        return
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="records-kpy", request_timeout_ms=15000)
    try:
        brokers = [b["node_id"] for b in admin.describe_cluster()["brokers"]]
        sizes = {}
        epochs = {}
        for node in brokers:
            f = admin._send_request_to_node(node, DescribeLogDirsRequest_v1(topics=None))
            admin._wait_for_futures([f])
            dirs = f.value.log_dirs
            assert len(dirs) == 1 and dirs[0][0] == 0, dirs
            for name, partitions in dirs[0][2]:
                for index, size, lag, future in partitions:
                    if name == TOPIC:
                        sizes[index] = size
                        assert lag == 0 and not future, (lag, future)
            f = admin._send_request_to_node(
                node, OffsetForLeaderEpochRequest_v2(topics=[(TOPIC, [(0, 0, 0), (1, -1, 0), (0, 5, 0)])]))
            admin._wait_for_futures([f])
            for topic, partitions in f.value.topics:
                for error, partition, epoch, end in partitions:
                    epochs.setdefault(partition, []).append((error, epoch, end))
        # Each shard's broker describes the partitions it leads: together, both partitions.
        assert sorted(sizes) == [0, 1] and sizes[0] > 0, sizes
        print("DescribeLogDirs sizes:", sizes, flush=True)
        # Every broker answers for every partition (forwarded to the owner): epoch 0 ends at the
        # log end (10); current_leader_epoch 5 is newer than the partition's, UNKNOWN_LEADER_EPOCH (75).
        for answers in epochs.values():
            assert (0, 0, 10) in answers, epochs
        assert all(a == (75, -1, -1) for a in epochs[0] if a[0] != 0), epochs
        print("OffsetForLeaderEpoch:", epochs, flush=True)
    finally:
        admin.close()


def run(binary):
    if not os.path.isdir(os.path.join(HERE, "node_modules", "kafkajs")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], check=True, cwd=HERE, timeout=300)
    b = Broker(binary).start()
    try:
        subprocess.run(["node", os.path.join(HERE, "kafkajs_records_test.js"), b.bootstrap, TOPIC], check=True,
                       timeout=120, cwd=HERE, env=dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1"))
        want = [(4, 10), (10, 10)]
        expect_watermarks(b.bootstrap, want)
        consume_from_beginning(b.bootstrap)
        consume_below_log_start(b.bootstrap)
        kafka_python_checks(b.bootstrap)
        b.restart(signal.SIGTERM)
        expect_watermarks(b.bootstrap, want)
        consume_below_log_start(b.bootstrap)
        b.restart(signal.SIGKILL)
        expect_watermarks(b.bootstrap, want)
    finally:
        b.cleanup()


if __name__ == "__main__":
    main_wrapper(run)
