"""The web console (GET / on the metrics port) in a real headless Chromium, against a real sluiced:
  1. the page loads and renders without one console message (errors, uncaught exceptions);
  2. it shows a topic the test just created (kcat), with its partitions and offsets;
  3. it shows a consumer group (confluent-kafka) with its member's assignment and its lag, and
     the lag moves when more records are produced;
  4. the shards table lists both shards.
A screenshot goes to $SLUICE_CONSOLE_SCREENSHOT when set (the README's picture).
Exits 77 (skipped) when chromium is not installed."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "compat"))

from broker import Broker, main_wrapper  # noqa: E402

TOPIC = "console-orders"
GROUP = "console-group"


def chromium(url, extra):
    """Runs headless Chromium on url; returns (stdout, the page's console lines)."""
    profile = tempfile.mkdtemp(prefix="sluice-chromium-")
    try:
        out = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                              "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0",
                              "--virtual-time-budget=7000"] + extra + [url],
                             capture_output=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    console = [line for line in out.stderr.decode(errors="replace").splitlines() if ":CONSOLE" in line]
    return out.stdout.decode(errors="replace"), console


def render(port):
    dom, console = chromium("http://127.0.0.1:%d/" % port, ["--dump-dom"])
    assert not console, "console messages:\n" + "\n".join(console)
    assert "updated " in dom, "the page never read /metrics:\n" + dom[:2000]
    return dom


def group_lag(dom):
    m = re.search(r'<tr data-group="%s">(.*?)</tr>' % GROUP, dom)
    assert m, "group row missing"
    lag = re.search(r'data-lag="(\d+)"', m.group(1))
    assert lag, m.group(1)
    return int(lag.group(1))


def produce(bootstrap, start, count):
    lines = "".join("k%d:v%d\n" % (i, i) for i in range(start, start + count))
    subprocess.run(["kcat", "-b", bootstrap, "-P", "-t", TOPIC, "-K:", "-X", "acks=all"],
                   input=lines.encode(), check=True, timeout=60)


def main(binary):
    if not shutil.which("chromium"):
        print("chromium not installed: skipped")
        sys.exit(77)
    from confluent_kafka import Consumer
    from confluent_kafka.admin import AdminClient, NewTopic

    b = Broker(binary)
    b.start()
    consumer = None
    try:
        bootstrap = "127.0.0.1:%d" % b.port
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic(TOPIC, 3, 1)])[TOPIC].result(30)
        produce(bootstrap, 0, 90)
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP, "auto.offset.reset": "earliest",
                             "enable.auto.commit": False, "client.id": "console-test"})
        consumer.subscribe([TOPIC])
        got = []
        deadline = time.monotonic() + 60
        while len(got) < 90 and time.monotonic() < deadline:
            m = consumer.poll(1.0)
            if m is not None and not m.error():
                got.append(m)
        assert len(got) == 90, "consumed %d" % len(got)
        consumer.commit(asynchronous=False)  # every partition committed at its end: lag 0
        produce(bootstrap, 90, 50)

        port = b.metrics_port()
        dom = render(port)
        assert 'data-topic="%s"' % TOPIC in dom, "topic row missing"
        for p in range(3):
            assert 'data-partition="%s/%d"' % (TOPIC, p) in dom, "partition %d row missing" % p
        assert "console-test" in dom, "the member's assignment is not shown"
        lag_before = group_lag(dom)
        assert lag_before == 50, lag_before
        assert dom.count("data-shard=") == 2, "expected both shards"

        produce(bootstrap, 140, 25)
        lag_after = group_lag(render(port))
        assert lag_after == 75, (lag_before, lag_after)
        print("lag %d -> %d" % (lag_before, lag_after))

        shot = os.environ.get("SLUICE_CONSOLE_SCREENSHOT")
        if shot:
            _, console = chromium("http://127.0.0.1:%d/" % port, ["--screenshot=" + shot, "--window-size=1280,1400",
                                                                   "--hide-scrollbars"])
            assert not console, console
            print("screenshot:", shot)
    finally:
        if consumer is not None:
            consumer.close()
        b.stop()


if __name__ == "__main__":
    main_wrapper(main)
