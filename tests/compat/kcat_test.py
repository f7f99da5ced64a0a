"""kcat (librdkafka 2.0.2): produce keyed messages with headers, consume them back, across a
SIGTERM restart and a SIGKILL restart (acks=all, so every acknowledged message must survive)."""
import signal
import subprocess
import sys

from broker import Broker, main_wrapper

N = 200


def produce(bootstrap, topic, start, count):
    lines = "".join("key-%d:value-%d\n" % (i, i) for i in range(start, start + count))
    subprocess.run(["kcat", "-b", bootstrap, "-P", "-t", topic, "-K:", "-H", "origin=kcat", "-H", "n=%d" % start,
                    "-X", "acks=all", "-X", "enable.idempotence=true"],
                   input=lines.encode(), check=True, timeout=60)


def consume(bootstrap, topic):
    out = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                          "-f", "%p|%o|%k|%s|%h\n"], capture_output=True, check=True, timeout=60)
    rows = [line.split("|") for line in out.stdout.decode().splitlines() if line]
    return rows


def check(rows, expected_count):
    assert len(rows) == expected_count, "expected %d messages, got %d" % (expected_count, len(rows))
    keys = sorted(int(r[2].split("-")[1]) for r in rows)
    assert keys == list(range(expected_count)), "missing or duplicated keys"
    for p, o, k, v, h in rows:
        assert v == "value-" + k.split("-")[1], (k, v)
        assert "origin=kcat" in h, h
    offsets = [int(r[1]) for r in rows]
    assert offsets == list(range(len(offsets))), "offsets not dense from 0"


def run(binary):
    b = Broker(binary).start()
    try:
        out = subprocess.run(["kcat", "-b", b.bootstrap, "-L"], capture_output=True, check=True, timeout=30)
        assert b"2 brokers" in out.stdout, out.stdout  # one per shard (--smp 2)
        produce(b.bootstrap, "kcat-topic", 0, N)
        check(consume(b.bootstrap, "kcat-topic"), N)
        b.restart(signal.SIGTERM)
        check(consume(b.bootstrap, "kcat-topic"), N)
        produce(b.bootstrap, "kcat-topic", N, N)
        b.restart(signal.SIGKILL)
        check(consume(b.bootstrap, "kcat-topic"), 2 * N)
    finally:
        b.cleanup()


if __name__ == "__main__":
    main_wrapper(run)
