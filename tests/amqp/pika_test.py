"""AMQP 0-9-1 against a real sluiced with pika (Debian python3-pika) and amqp-tools (librabbitmq):
work queue with competing consumers and prefetch 1, nack/requeue redelivery, topic and fanout
exchanges, request-reply with reply_to/correlation_id and every basic property, publisher confirms
and mandatory returns, channel errors with RabbitMQ's codes, basic.get/purge/delete, bad frames and
a silent peer closed while the broker keeps serving."""
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))
from broker import Broker, main_wrapper  # noqa: E402

try:
    import pika
    import pika.exceptions
except ImportError:
    print("SKIPPED: python3-pika not installed")
    sys.exit(77)


def amqp_port(broker):
    m = re.findall(r"amqp listening on [^:]+:(\d+)", broker.read_log())
    if not m:
        raise RuntimeError("no amqp line in the log:\n" + broker.read_log())
    return int(m[-1])


def connect(port, **kw):
    return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, **kw))


def pump(conns, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for c in conns:
            c.process_data_events(time_limit=0.02)


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


def work_queue(port):
    pub = connect(port)
    pch = pub.channel()
    pch.queue_declare("work", durable=True)
    a, b = connect(port), connect(port)
    cha, chb = a.channel(), b.channel()
    cha.basic_qos(prefetch_count=1)
    chb.basic_qos(prefetch_count=1)
    got_a, got_b = [], []
    cha.basic_consume("work", lambda ch, m, p, body: got_a.append((m, body)))  # never acks (yet)

    def on_b(ch, m, p, body):
        got_b.append((m, body))
        ch.basic_ack(m.delivery_tag)
    chb.basic_consume("work", on_b)
    pump([a, b], 0.3)
    for i in range(10):
        pch.basic_publish("", "work", b"job-%d" % i)
    pump([a, b], 1.0)
    check(len(got_a) == 1 and len(got_b) == 9, "prefetch 1: the busy consumer holds one job, the other takes 9 (%d/%d)"
          % (len(got_a), len(got_b)))
    check(sorted([x[1] for x in got_a + got_b]) == sorted(b"job-%d" % i for i in range(10)), "every job once")
    # Nack with requeue: the job comes back with redelivered=true (to either consumer).
    m, body = got_a[0]
    cha.basic_nack(m.delivery_tag, requeue=True)
    pump([a, b], 0.8)
    again = [(mm, bb) for mm, bb in got_a[1:] + got_b[9:] if bb == body]
    check(len(again) == 1 and again[0][0].redelivered, "nacked job redelivered with the redelivered flag")
    if len(got_a) > 1:
        cha.basic_ack(got_a[1][0].delivery_tag)
    # Reject without requeue drops; closing a channel with unacked work requeues it.
    pch.basic_publish("", "work", b"left-unacked")
    pump([a, b], 0.5)
    cha.close()  # a held at most one unacked job; it goes back to b
    pump([b], 0.5)
    check(any(bb == b"left-unacked" for _, bb in got_b), "unacked job of a closed channel goes to the other consumer")
    for c in (a, b, pub):
        c.close()


def topic_and_fanout(port):
    c = connect(port)
    ch = c.channel()
    ch.exchange_declare("logs", exchange_type="topic")
    q1 = ch.queue_declare("", exclusive=True).method.queue
    q2 = ch.queue_declare("", exclusive=True).method.queue
    check(q1.startswith("amq.gen-"), "server-named queue " + q1)
    ch.queue_bind(q1, "logs", "*.critical")
    ch.queue_bind(q2, "logs", "kern.#")
    for key in ("kern.critical", "kern.info", "app.critical", "app.info"):
        ch.basic_publish("logs", key, key.encode())

    def drain(q):
        out = []
        while True:
            m, p, body = ch.basic_get(q, auto_ack=True)
            if m is None:
                return out
            out.append(body.decode())
    check(drain(q1) == ["kern.critical", "app.critical"], "topic *.critical")
    check(drain(q2) == ["kern.critical", "kern.info"], "topic kern.#")
    ch.exchange_declare("bcast", exchange_type="fanout")
    qs = [ch.queue_declare("", exclusive=True).method.queue for _ in range(3)]
    for q in qs:
        ch.queue_bind(q, "bcast")
    ch.basic_publish("bcast", "ignored", b"hello all")
    check(all(drain(q) == ["hello all"] for q in qs), "fanout to 3 queues")
    ch.exchange_declare("hdr", exchange_type="headers")
    ch.queue_bind(qs[0], "hdr", arguments={"x-match": "all", "format": "pdf", "type": "report"})
    ch.basic_publish("hdr", "", b"yes", pika.BasicProperties(headers={"format": "pdf", "type": "report"}))
    ch.basic_publish("hdr", "", b"no", pika.BasicProperties(headers={"format": "pdf"}))
    check(drain(qs[0]) == ["yes"], "headers exchange x-match all")
    check(drain(q1) == [] and ch.basic_get(q1)[0] is None, "basic.get-empty")
    c.close()


def rpc_and_properties(port):
    srv = connect(port)
    sch = srv.channel()
    sch.queue_declare("rpc")

    def on_request(ch, m, p, body):
        ch.basic_publish("", p.reply_to, b"re:" + body,
                         pika.BasicProperties(correlation_id=p.correlation_id, headers=p.headers))
        ch.basic_ack(m.delivery_tag)
    sch.basic_consume("rpc", on_request)
    cli = connect(port)
    cch = cli.channel()
    reply_q = cch.queue_declare("", exclusive=True).method.queue
    replies = []
    cch.basic_consume(reply_q, lambda ch, m, p, body: replies.append((p, body)), auto_ack=True)
    props = pika.BasicProperties(content_type="application/json", content_encoding="utf-8",
                                 headers={"n": 7, "s": "x", "nested": {"a": [1, "b"]}, "f": True},
                                 delivery_mode=2, priority=5, correlation_id="corr-42", reply_to=reply_q,
                                 expiration="60000", message_id="m-1", timestamp=1700000000, type="t",
                                 user_id=None, app_id="pika-test")
    cch.basic_publish("", "rpc", b"ping", props)
    pump([srv, cli], 1.0)
    check(len(replies) == 1 and replies[0][1] == b"re:ping", "request-reply round trip")
    check(replies[0][0].correlation_id == "corr-42", "correlation_id echoed")
    check(replies[0][0].headers == {"n": 7, "s": "x", "nested": {"a": [1, "b"]}, "f": True}, "headers round trip")
    # Every basic property round trips unchanged through a queue.
    cch.queue_declare("props")
    cch.basic_publish("", "props", b"p", props)
    m, p, body = cch.basic_get("props", auto_ack=True)
    for name in ("content_type", "content_encoding", "headers", "delivery_mode", "priority", "correlation_id",
                 "reply_to", "expiration", "message_id", "timestamp", "type", "app_id"):
        check(getattr(p, name) == getattr(props, name), "property %s round trips" % name)
    # Large body spanning many frames (frame-max 131072).
    big = os.urandom(1_000_000)
    cch.basic_publish("", "props", big)
    m, p, body = cch.basic_get("props", auto_ack=True)
    check(body == big, "1 MB body reassembled and delivered across frames")
    srv.close()
    cli.close()


def confirms_and_errors(port):
    c = connect(port)
    ch = c.channel()
    ch.confirm_delivery()
    ch.queue_declare("confirmed")
    for i in range(20):
        ch.basic_publish("", "confirmed", b"c%d" % i)  # raises unless acked
    check(ch.queue_declare("confirmed", passive=True).method.message_count == 20, "20 confirmed publishes queued")
    try:
        ch.basic_publish("", "no-such-queue", b"x", mandatory=True)
        check(False, "unroutable mandatory publish must be returned")
    except pika.exceptions.UnroutableError:
        check(True, "mandatory unroutable publish returned (312 NO_ROUTE)")
    check(ch.queue_purge("confirmed").method.message_count == 20, "purge counts 20")

    def expect_close(fn, code, what):
        chx = c.channel()
        try:
            fn(chx)
            check(False, what)
        except pika.exceptions.ChannelClosedByBroker as e:
            check(e.reply_code == code, "%s -> %d (%s)" % (what, e.reply_code, e.reply_text))
    expect_close(lambda x: x.queue_declare("missing", passive=True), 404, "passive declare of a missing queue")
    ch.exchange_declare("typed", exchange_type="direct")
    expect_close(lambda x: x.exchange_declare("typed", exchange_type="fanout"), 406, "redeclare with another type")
    expect_close(lambda x: x.exchange_declare("amq.custom", exchange_type="direct"), 403, "amq.* exchange name")
    expect_close(lambda x: x.basic_ack(12345) or x.queue_declare("sync"), 406, "ack of an unknown delivery tag")
    ch.queue_declare("full")
    ch.basic_publish("", "full", b"x")
    expect_close(lambda x: x.queue_delete("full", if_empty=True), 406, "delete if-empty of a non-empty queue")
    expect_close(lambda x: x.basic_publish("missing-ex", "k", b"x") or x.queue_declare("sync"), 404,
                 "publish to a missing exchange")
    other = connect(port)
    och = other.channel()
    och.queue_declare("mine", exclusive=True)
    expect_close(lambda x: x.queue_declare("mine", exclusive=True), 405, "another connection's exclusive queue")
    other.close()
    check(ch.queue_delete("full").method.message_count == 1, "queue.delete returns the message count")
    c.close()


def more_semantics(port):
    c = connect(port)
    ch = c.channel()
    ch.queue_declare("rej")
    ch.basic_publish("", "rej", b"r1")
    m, p, body = ch.basic_get("rej")
    ch.basic_reject(m.delivery_tag, requeue=True)
    m, p, body = ch.basic_get("rej")
    check(body == b"r1" and m.redelivered, "basic.reject requeue=true: back with redelivered")
    ch.basic_reject(m.delivery_tag, requeue=False)
    check(ch.basic_get("rej")[0] is None, "basic.reject requeue=false drops it")
    for i in range(2):
        ch.basic_publish("", "rej", b"rec%d" % i)
    got = []
    tag = ch.basic_consume("rej", lambda chx, mm, pp, bb: got.append((mm, bb)))
    pump([c], 0.3)
    ch.basic_recover(requeue=True)
    pump([c], 0.3)
    check(len(got) == 4 and all(mm.redelivered for mm, _ in got[2:]), "basic.recover redelivers the unacked")
    ch.basic_ack(0, multiple=True)
    ch.basic_cancel(tag)
    # A deleted queue cancels its consumers (server-sent basic.cancel, consumer_cancel_notify).
    cancelled = []
    ch.add_on_cancel_callback(lambda frame: cancelled.append(frame.method.consumer_tag))
    ch.queue_declare("doomed")
    dtag = ch.basic_consume("doomed", lambda *a: None)
    other = c.channel()
    other.queue_delete("doomed")
    pump([c], 0.3)
    check(cancelled == [dtag], "queue.delete sends basic.cancel to its consumers")
    # auto-delete goes with its last consumer; unbind stops routing; if-unused exchange delete.
    ch.queue_declare("ephemeral", auto_delete=True)
    etag = ch.basic_consume("ephemeral", lambda *a: None)
    ch.basic_cancel(etag)
    try:
        c.channel().queue_declare("ephemeral", passive=True)
        check(False, "auto-delete queue must be gone")
    except pika.exceptions.ChannelClosedByBroker as e:
        check(e.reply_code == 404, "auto-delete queue deleted after its last consumer")
    ch.exchange_declare("direct-x", exchange_type="direct")
    ch.queue_declare("bound")
    ch.queue_bind("bound", "direct-x", "k")
    ch.basic_publish("direct-x", "k", b"1")
    ch.queue_unbind("bound", "direct-x", "k")
    ch.basic_publish("direct-x", "k", b"2")
    check(ch.queue_declare("bound", passive=True).method.message_count == 1, "queue.unbind stops routing")
    ch.queue_bind("bound", "direct-x", "k")
    try:
        c.channel().exchange_delete("direct-x", if_unused=True)
        check(False, "if-unused delete of a bound exchange must fail")
    except pika.exceptions.ChannelClosedByBroker as e:
        check(e.reply_code == 406, "exchange.delete if-unused of a bound exchange -> 406")
    ch.exchange_delete("direct-x")
    c.close()


# Raw frames for the hostile cases.
def frame(ftype, channel, payload):
    return struct.pack(">BHI", ftype, channel, len(payload)) + payload + b"\xce"


def method(cls, mid, args=b""):
    return frame(1, 0, struct.pack(">HH", cls, mid) + args)


def read_frame(s):
    hdr = b""
    while len(hdr) < 7:
        part = s.recv(7 - len(hdr))
        if not part:
            return None
        hdr += part
    ftype, ch, size = struct.unpack(">BHI", hdr)
    body = b""
    while len(body) < size + 1:
        part = s.recv(size + 1 - len(body))
        if not part:
            return None
        body += part
    return ftype, ch, body[:-1]


def read_close_code(s):
    while True:
        f = read_frame(s)
        if f is None:
            return None
        ftype, ch, p = f
        if ftype == 1 and p[:4] == struct.pack(">HH", 10, 50):
            return struct.unpack(">H", p[4:6])[0]


def handshake(s, heartbeat=0):
    s.sendall(b"AMQP\x00\x00\x09\x01")
    read_frame(s)  # start
    s.sendall(method(10, 11, struct.pack(">I", 0) + b"\x05PLAIN" + struct.pack(">I", 12) + b"\x00guest\x00guest" +
                     b"\x05en_US"))
    read_frame(s)  # tune
    s.sendall(method(10, 31, struct.pack(">HIH", 0, 131072, heartbeat)))
    s.sendall(method(10, 40, b"\x01/\x00\x00"))
    read_frame(s)  # open-ok


def hostile(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"HTTP/1.1 GET /\r\n")
    check(s.recv(8) == b"AMQP\x00\x00\x09\x01", "wrong protocol header answered with ours")
    s.close()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"AMQP\x00\x00\x09\x01")
    read_frame(s)
    s.sendall(b"\x09\x00\x00\x00\x00\x00\x00\xce")
    check(read_close_code(s) == 501, "unknown frame type -> 501 FRAME_ERROR")
    s.close()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    handshake(s)
    s.sendall(method(99, 1))
    check(read_close_code(s) == 540, "unknown class -> 540 NOT_IMPLEMENTED")
    s.close()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    handshake(s)
    s.sendall(frame(1, 1, struct.pack(">HH", 20, 10) + b"\x00"))  # channel.open
    read_frame(s)
    s.sendall(frame(2, 1, b"\x00\x3c\x00\x00" + b"\x00" * 8 + b"\x00\x00"))  # header with no publish
    check(read_close_code(s) == 505, "content header without basic.publish -> 505 UNEXPECTED_FRAME")
    s.close()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    handshake(s)
    s.sendall(frame(1, 1, struct.pack(">HH", 20, 10) + b"\x00"))
    read_frame(s)
    s.sendall(frame(1, 1, struct.pack(">HH", 50, 10) + b"\x00\x00\x05qu"))  # truncated queue.declare
    check(read_close_code(s) == 502, "truncated method arguments -> 502 SYNTAX_ERROR")
    s.close()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"AMQP\x00\x00\x09\x01")
    read_frame(s)
    s.sendall(method(10, 11, struct.pack(">I", 0) + b"\x05PLAIN" + struct.pack(">I", 12) + b"\x00guest\x00wrong" +
                     b"\x05en_US"))
    check(read_close_code(s) == 403, "bad password -> 403 ACCESS_REFUSED")
    s.close()
    # A peer silent for two heartbeat intervals is closed.
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    handshake(s, heartbeat=1)
    t0 = time.monotonic()
    closed = False
    heartbeats = 0
    while time.monotonic() - t0 < 8:
        f = read_frame(s)
        if f is None:
            closed = True
            break
        heartbeats += f[0] == 8
    elapsed = time.monotonic() - t0
    check(heartbeats >= 1, "the broker sends heartbeats (%d before the close)" % heartbeats)
    check(closed and elapsed < 5, "silent peer with heartbeat 1 s closed after %.1f s" % elapsed)
    s.close()
    c = connect(port)
    c.channel().queue_declare("still-serving")
    c.close()
    check(True, "broker still serves after the hostile connections")


def amqp_tools(port):
    if not shutil.which("amqp-publish"):
        print("amqp-tools not installed: skipping that part")
        return
    url = "amqp://guest:guest@127.0.0.1:%d" % port
    subprocess.run(["amqp-declare-queue", "--url", url, "-q", "tools-q"], check=True, timeout=30)
    subprocess.run(["amqp-publish", "--url", url, "-r", "tools-q", "-b", "from-amqp-tools"], check=True, timeout=30)
    out = subprocess.run(["amqp-get", "--url", url, "-q", "tools-q"], check=True, capture_output=True, timeout=30)
    check(out.stdout.strip() == b"from-amqp-tools", "amqp-tools publish + get")


def run(binary):
    broker = Broker(binary, ["--amqp-listen", "127.0.0.1:0"]).start()
    try:
        port = amqp_port(broker)
        work_queue(port)
        topic_and_fanout(port)
        rpc_and_properties(port)
        confirms_and_errors(port)
        more_semantics(port)
        hostile(port)
        amqp_tools(port)
        # A consumer with an unacked delivery is still connected when the broker stops.
        lingering = connect(port)
        lch = lingering.channel()
        lch.queue_declare("linger")
        lch.basic_publish("", "linger", b"held")
        held = []
        lch.basic_consume("linger", lambda ch, m, p, body: held.append(body))
        pump([lingering], 0.3)
        check(held == [b"held"], "delivery held unacked while the broker stops")
        rc = broker.stop()
        check(rc == 0, "sluiced stops cleanly with AMQP connections served (rc %s)" % rc)
    finally:
        broker.cleanup()


if __name__ == "__main__":
    main_wrapper(run)
