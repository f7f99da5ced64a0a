"""The Prometheus endpoint of a real sluiced: the exposition parses strictly (every sample line
under its family's HELP/TYPE, histograms cumulative with +Inf, _sum and _count), its values follow
what kcat produced and consumed, HTTP misuse gets the right status, a silent client does not hold
up a scrape, a stop with a scraper connected exits 0, and a metrics port already in use fails the
start with a non-zero exit and one clear line."""
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "compat"))

from broker import Broker, main_wrapper  # noqa: E402

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset(labels)): value}, checking the text format on the way."""
    assert text.endswith("\n"), "exposition must end with a newline"
    families, samples, current = {}, {}, None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            assert name not in families, "family %s appears twice" % name
            current = name
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name == current, "TYPE %s not after its HELP" % name
            assert kind in ("counter", "gauge", "histogram"), line
            families[name] = kind
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        base = re.sub(r"_(bucket|sum|count)$", "", name) if families.get(current) == "histogram" else name
        assert base == current, "sample %s outside its family %s" % (name, current)
        key = (name, frozenset(LABEL.findall(labels)))
        assert key not in samples, "duplicate sample %r" % (key,)
        samples[key] = float(value)
    check_histograms(families, samples)
    return families, samples


def check_histograms(families, samples):
    for fam, kind in families.items():
        if kind != "histogram":
            continue
        series = {}
        for (name, labels), v in samples.items():
            if name == fam + "_bucket":
                d = dict(labels)
                le = d.pop("le")
                series.setdefault(frozenset(d.items()), []).append((float(le), v))
        for labels, buckets in series.items():
            buckets.sort()
            assert buckets[-1][0] == float("inf"), "%s%s has no +Inf bucket" % (fam, labels)
            counts = [c for _, c in buckets]
            assert counts == sorted(counts), "%s buckets not cumulative: %s" % (fam, counts)
            assert samples[(fam + "_count", labels)] == counts[-1], fam
            assert (fam + "_sum", labels) in samples, fam


def scrape(port, path="/metrics", method="GET"):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def total(samples, name, **want):
    return sum(v for (n, labels), v in samples.items()
               if n == name and all(dict(labels).get(k) == str(x) for k, x in want.items()))


def kcat(b, *args, data=None):
    return subprocess.run(["kcat", "-b", b.bootstrap] + list(args), input=data, capture_output=True,
                          timeout=60, check=True).stdout


def test_values_follow_traffic(b, port):
    kcat(b, "-P", "-t", "m-topic", "-p", "0", data=b"".join(b"a%d\n" % i for i in range(30)))
    kcat(b, "-P", "-t", "m-topic", "-p", "0", data=b"".join(b"b%d\n" % i for i in range(20)))
    status, headers, text = scrape(port)
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4"), (status, headers)
    families, s = parse(text)
    assert total(s, "sluice_partition_log_end_offset", topic="m-topic", partition=0) == 50, text
    assert total(s, "sluice_partition_high_watermark", topic="m-topic", partition=0) == 50
    assert total(s, "sluice_partition_last_stable_offset", topic="m-topic", partition=0) == 50
    assert total(s, "sluice_topic_records_in_total", topic="m-topic") == 50
    assert total(s, "sluice_topic_bytes_out_total", topic="m-topic") == 0
    assert total(s, "sluice_kafka_requests_total", api="Produce") >= 2
    assert total(s, "sluice_kafka_request_latency_seconds_count", api="Produce") >= 2
    # Memory: every shard's thread allocated something, and its I/O page pool is there.
    assert total(s, "sluice_shard_heap_allocations_total") > 0
    assert total(s, "sluice_shard_page_pool_pages", state="total") >= total(s, "sluice_shard_page_pool_pages",
                                                                           state="free") > 0
    assert families["sluice_process_heap_committed_bytes"] == "gauge"
    assert total(s, "sluice_log_records_per_group_commit_sum") >= 50  # kcat produces with acks=-1
    assert total(s, "sluice_log_sync_latency_seconds_count") >= 1
    assert families["sluice_shard_busy_seconds_total"] == "counter"
    assert total(s, "sluice_process_resident_memory_bytes") > 1 << 20
    for shard in (0, 1):
        assert ("sluice_shard_loop_iterations_total", frozenset({("shard", str(shard))})) in s, shard
    out = kcat(b, "-C", "-t", "m-topic", "-o", "beginning", "-c", "50", "-e", "-q")
    assert len(out.splitlines()) == 50
    _, s2 = parse(scrape(port)[2])
    assert total(s2, "sluice_topic_bytes_out_total", topic="m-topic") > 0
    assert total(s2, "sluice_kafka_requests_total", api="Fetch") >= 1
    # A fetch past the end: the response's partition error is counted by code.
    subprocess.run(["kcat", "-b", b.bootstrap, "-C", "-t", "m-topic", "-p", "0", "-o", "1000", "-e", "-q",
                    "-X", "auto.offset.reset=error"], capture_output=True, timeout=60)
    _, s3 = parse(scrape(port)[2])
    assert total(s3, "sluice_kafka_errors_total", code="OFFSET_OUT_OF_RANGE") >= 1, \
        [k for k in s3 if k[0] == "sluice_kafka_errors_total"]
    for key, v in s.items():  # counters never go backwards between scrapes
        if key[0].endswith("_total") and key in s2:
            assert s2[key] >= v, (key, v, s2[key])


def test_group_lag(b, port):
    """A group that consumed everything has lag 0; five more records make it 5."""
    subprocess.run(["kcat", "-b", b.bootstrap, "-G", "m-group", "-o", "beginning", "-e", "-q", "m-topic"],
                   capture_output=True, timeout=60, check=True)
    _, s = parse(scrape(port)[2])
    committed = total(s, "sluice_group_committed_offset", group="m-group", topic="m-topic", partition=0)
    assert committed == 50, [k for k in s if k[0].startswith("sluice_group")]
    assert total(s, "sluice_group_lag", group="m-group", topic="m-topic", partition=0) == 0
    kcat(b, "-P", "-t", "m-topic", "-p", "0", data=b"".join(b"c%d\n" % i for i in range(5)))
    _, s = parse(scrape(port)[2])
    assert total(s, "sluice_group_lag", group="m-group", topic="m-topic", partition=0) == 5


def test_http_misuse(port):
    assert scrape(port, "/nope")[0] == 404
    status, headers, body = scrape(port, "/")  # the console
    assert status == 200 and headers["Content-Type"].startswith("text/html") and "Sluice console" in body
    assert scrape(port, "/metrics", "POST")[0] == 405
    status, headers, body = scrape(port, "/metrics", "HEAD")
    assert status == 200 and body == "" and int(headers["Content-Length"]) > 1000, (status, headers)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 10000 + b"\r\n\r\n")
        assert c.recv(64).startswith(b"HTTP/1.1 431"), "oversized head"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(b"garbage\r\n\r\n")
        assert c.recv(64).startswith(b"HTTP/1.1 400")


def test_silent_clients_do_not_block(port):
    silent = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(4)]
    try:
        silent[0].sendall(b"GET /metr")  # half a request line, then nothing
        assert scrape(port)[0] == 200
    finally:
        for c in silent:
            c.close()


def test_port_in_use_fails_start(binary, port):
    d = "/tmp/sluice-metrics-conflict-%d" % os.getpid()
    proc = subprocess.run([binary, "--listen", "127.0.0.1:0", "--data-dir", d, "--smp", "1",
                           "--metrics-listen", "127.0.0.1:%d" % port], capture_output=True, timeout=30)
    subprocess.run(["rm", "-rf", d], check=False)
    assert proc.returncode != 0, proc
    assert b"cannot listen for metrics" in proc.stderr, proc.stderr


def run(binary):
    b = Broker(binary, ["--set", "num.partitions=2"]).start()
    try:
        port = b.metrics_port()
        test_values_follow_traffic(b, port)
        print("ok values follow traffic", flush=True)
        test_group_lag(b, port)
        print("ok group lag", flush=True)
        test_http_misuse(port)
        print("ok http misuse", flush=True)
        test_silent_clients_do_not_block(port)
        print("ok silent clients", flush=True)
        test_port_in_use_fails_start(binary, port)
        print("ok port in use fails the start", flush=True)
        idle = socket.create_connection(("127.0.0.1", port), timeout=10)  # connected at the stop
        t0 = time.monotonic()
        rc = b.stop(signal.SIGTERM)
        idle.close()
        assert rc == 0, "sluiced exited %d on SIGTERM; log:\n%s" % (rc, b.read_log())
        print("ok stop with a scraper connected (%.1f s)" % (time.monotonic() - t0), flush=True)
    finally:
        b.cleanup()


if __name__ == "__main__":
    main_wrapper(run)
