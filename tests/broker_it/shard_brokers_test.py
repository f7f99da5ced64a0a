"""Each shard presented as a broker of its own (sluice.kafka.shard.listeners, default on), against
a real sluiced --smp 2:
  1. Metadata lists 2 brokers (node ids 1 and 2) on distinct ports of their own, the same answer
     from the bootstrap address and from either shard's port; partitions are led by both nodes,
     each by its owner shard's broker; the controller is node 1;
  2. FindCoordinator (groups and transactional ids) names a shard broker, the same one whichever
     port it is asked on;
  3. kcat produces keyed messages to partitions on both shards and reads them all back;
     confluent-kafka (librdkafka) does too, as a consumer group whose coordinator is a shard
     broker (committed offsets come back), and list_groups lists the group once;
  4. a SIGTERM restart on the same ports keeps the shard brokers' ports;
  5. kcat's produce -> fetch costs no cross-shard message (the counters each shard logs at stop);
  6. with sluice.kafka.shard.listeners=false Metadata lists one broker, at the bootstrap address,
     that leads everything, kcat still works, and now its requests do cross shards;
  7. a shard broker port already in use fails the start (exit code 1, one line why), no hang.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "compat"))

import kafka_wire as kw  # noqa: E402
from broker import Broker, main_wrapper  # noqa: E402

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

PARTS = 8
N = 400


def metadata(port, topics=None):
    c = kw.Conn(port)
    try:
        r = c.call(kw.metadata(1, topics, version=4, allow_auto_create=False))
        r.i32()  # throttle
        brokers = r.array(lambda r: (r.i32(), r.string(), r.i32(), r.string()))
        r.string()  # cluster id
        controller = r.i32()
        topics = r.array(lambda r: (r.i16(), r.string(), r.i8(), r.array(
            lambda r: (r.i16(), r.i32(), r.i32(), r.array(lambda r: r.i32()), r.array(lambda r: r.i32())))))
        leaders = {name: {p[1]: p[2] for p in parts} for err, name, internal, parts in topics if err == 0}
        return sorted((b[0], b[2]) for b in brokers), controller, leaders
    finally:
        c.close()


def find_coordinator(port, key, key_type):
    c = kw.Conn(port)
    try:
        body = kw.string(key) + kw.i8(key_type)
        r = c.call(kw.frame(kw.request_header(10, 1, 7) + body))
        r.i32()  # throttle
        err = r.i16()
        r.string()
        return err, r.i32(), r.string(), r.i32()
    finally:
        c.close()


def kcat_produce(bootstrap, topic, start, count):
    lines = "".join("key-%d:value-%d\n" % (i, i) for i in range(start, start + count))
    subprocess.run(["kcat", "-b", bootstrap, "-P", "-t", topic, "-K:", "-X", "acks=all"],
                   input=lines.encode(), check=True, timeout=60)


def kcat_consume(bootstrap, topic):
    out = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                          "-f", "%p|%k|%s\n"], capture_output=True, check=True, timeout=60)
    return [line.split("|") for line in out.stdout.decode().splitlines() if line]


def check_metadata(b, topic):
    assert len(b.shard_ports) == 2 and len(set(b.shard_ports)) == 2 and b.port not in b.shard_ports, \
        (b.port, b.shard_ports)
    expected = [(1, b.shard_ports[0]), (2, b.shard_ports[1])]
    answers = [metadata(p, [topic]) for p in [b.port] + b.shard_ports]
    for brokers, controller, leaders in answers:
        assert brokers == expected, (brokers, expected)
        assert controller == 1, controller
        assert leaders == answers[0][2], answers  # every shard answers the same
    leaders = answers[0][2][topic]
    assert sorted(leaders) == list(range(PARTS)), leaders
    assert set(leaders.values()) == {1, 2}, leaders  # partitions on both shards
    return leaders


def check_coordinators(b):
    seen = set()
    for key_type, keys in ((0, ["g-%d" % i for i in range(8)]), (1, ["tx-%d" % i for i in range(8)])):
        for key in keys:
            answers = {find_coordinator(p, key, key_type) for p in [b.port] + b.shard_ports}
            assert len(answers) == 1, answers  # the same wherever asked
            err, node, host, port = answers.pop()
            assert err == 0 and (node, port) in [(1, b.shard_ports[0]), (2, b.shard_ports[1])], (err, node, port)
            seen.add(node)
    assert seen == {1, 2}, seen  # coordinators live on both shards


def check_clients(b, topic, leaders):
    kcat_produce(b.bootstrap, topic, 0, N)
    rows = kcat_consume(b.bootstrap, topic)
    assert sorted(int(k.split("-")[1]) for _, k, _ in rows) == list(range(N)), "kcat lost or duplicated"
    used = {int(p) for p, _, _ in rows}
    assert {leaders[p] for p in used} == {1, 2}, (used, leaders)  # kcat wrote to both shards

    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all"})
    for i in range(N):
        p.produce(topic, key=b"py-%d" % i, value=b"v-%d" % i)
    assert p.flush(30) == 0

    group = "shard-brokers-group"
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic])
    got = 0
    deadline = time.monotonic() + 60
    while got < 2 * N:
        assert time.monotonic() < deadline, "consumer group read %d of %d" % (got, 2 * N)
        m = c.poll(1)
        if m is not None and not m.error():
            got += 1
    c.commit(asynchronous=False)
    committed = c.committed([TopicPartition(topic, i) for i in range(PARTS)], timeout=10)
    assert sum(tp.offset for tp in committed) == 2 * N, committed
    c.close()

    # The group's coordinator is one shard broker, and the group is listed once across brokers.
    err, node, _, port = find_coordinator(b.port, group, 0)
    assert err == 0 and node in (1, 2) and port == b.shard_ports[node - 1], (err, node, port)
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    listed = [g for g in admin.list_groups(timeout=10) if g.id == group]
    assert len(listed) == 1 and listed[0].broker.id == node, [(g.id, g.broker.id) for g in listed]


def sent(b):
    return sum(s["sent"] for s in b.stats().values())


def client_cross_shard_messages(b, topic):
    """Cross-shard messages kcat's produce -> fetch of N more messages costs: a run's count at stop
    less a start-and-stop run's (start-up publishes the catalogue to every shard)."""
    b.start(shard_ports=b.shard_ports)
    assert b.stop() == 0
    baseline = sent(b)
    b.start(shard_ports=b.shard_ports)
    kcat_produce(b.bootstrap, topic, 0, N)
    rows = kcat_consume(b.bootstrap, topic)
    assert len(rows) >= N, len(rows)
    assert b.stop() == 0
    return sent(b) - baseline


def check_taken_port_fails_the_start(binary):
    """A shard broker port in use fails the start: exit code 1 and a line saying why, no hang."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    data = tempfile.mkdtemp(prefix="sluice-shard-port-")
    try:
        port = taken.getsockname()[1]
        proc = subprocess.run([binary, "--listen", "127.0.0.1:0", "--data-dir", data, "--smp", "2",
                               "--set", "sluice.kafka.shard.ports=0,%d" % port], capture_output=True, timeout=60)
        err = proc.stderr.decode()
        assert proc.returncode == 1, (proc.returncode, err)
        assert "shard 1 cannot listen on its broker port 127.0.0.1:%d" % port in err, err
    finally:
        taken.close()
        shutil.rmtree(data, ignore_errors=True)


def run(binary):
    b = Broker(binary).start()
    try:
        topic = "shards"
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        admin.create_topics([NewTopic(topic, PARTS, 1)])[topic].result(30)
        md = admin.list_topics(timeout=10)
        assert sorted((x.id, x.port) for x in md.brokers.values()) == [(1, b.shard_ports[0]), (2, b.shard_ports[1])]
        leaders = check_metadata(b, topic)
        check_coordinators(b)
        check_clients(b, topic, leaders)

        del admin  # no client of the stopped broker keeps reconnecting into the log
        ports = list(b.shard_ports)
        b.restart(signal.SIGTERM, same_port=True)
        assert b.shard_ports == ports, (ports, b.shard_ports)
        assert check_metadata(b, topic) == leaders
        assert len(kcat_consume(b.bootstrap, topic)) == 2 * N
        assert b.stop() == 0
        assert sorted(b.stats()) == [0, 1], b.stats()  # each shard logs its cross-shard messages at stop
        assert client_cross_shard_messages(b, topic) == 0  # kcat follows Metadata: no hop at all
    finally:
        b.cleanup()

    b = Broker(binary, ["--set", "sluice.kafka.shard.listeners=false"]).start()
    try:
        assert b.shard_ports == [], b.shard_ports
        topic = "one-broker"
        c = kw.Conn(b.port)
        r = c.call(kw.create_topics(1, topic, PARTS))
        assert kw.parse_create_topics_v2(r)[0][1] == 0
        c.close()
        brokers, controller, leaders = metadata(b.port, [topic])
        assert brokers == [(1, b.port)] and controller == 1, (brokers, controller)
        assert set(leaders[topic].values()) == {1}, leaders
        for key_type in (0, 1):
            assert find_coordinator(b.port, "k", key_type)[1:] == (1, "127.0.0.1", b.port)
        out = subprocess.run(["kcat", "-b", b.bootstrap, "-L"], capture_output=True, check=True, timeout=30)
        assert b"1 brokers" in out.stdout, out.stdout
        kcat_produce(b.bootstrap, topic, 0, N)
        assert len(kcat_consume(b.bootstrap, topic)) == N
        assert b.stop() == 0
        # One broker: the partitions of the shard kcat's connection did not land on are served
        # by cross-shard messages (the counter sees them).
        assert client_cross_shard_messages(b, topic) > 0
    finally:
        b.cleanup()

    check_taken_port_fails_the_start(binary)


if __name__ == "__main__":
    main_wrapper(run)
