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

def wait_get(ch, queue, seconds=3.0):
    """basic.get until a message arrives (TTL expiry runs on the broker's timer)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        m, p, body = ch.basic_get(queue, auto_ack=True)
        if m:
            return m, p, body
        ch.connection.sleep(0.05)
    return None, None, None


def death(p):
    return (p.headers or {}).get("x-death") or []


def dead_lettering(port):
    c = connect(port)
    ch = c.channel()
    ch.exchange_declare("dlx", exchange_type="direct")
    ch.queue_declare("dlq")
    ch.queue_bind("dlq", "dlx", "dead")
    ch.queue_declare("dl-work", arguments={"x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": "dead"})
    ch.basic_publish("", "dl-work", b"bad", pika.BasicProperties(headers={"app": "1"}))
    m, p, body = ch.basic_get("dl-work")
    ch.basic_reject(m.delivery_tag, requeue=False)
    m, p, body = wait_get(ch, "dlq")
    check(body == b"bad" and m.exchange == "dlx" and m.routing_key == "dead", "rejected message republished to the DLX")
    d = death(p)
    check(len(d) == 1 and d[0]["reason"] == "rejected" and d[0]["queue"] == "dl-work" and d[0]["count"] == 1
          and d[0]["exchange"] == "" and d[0]["routing-keys"] == ["dl-work"]
          and abs(d[0]["time"].timestamp() - time.time()) < 120, "x-death after reject: %r" % d)
    check(p.headers.get("x-first-death-reason") == "rejected" and p.headers.get("x-first-death-queue") == "dl-work"
          and p.headers.get("x-last-death-queue") == "dl-work" and p.headers.get("app") == "1",
          "x-first-death-* / x-last-death-* headers, the message's own headers kept")
    # TTL into a DLX: queue TTL and per-message expiration.
    ch.queue_declare("dl-ttl", arguments={"x-message-ttl": 200, "x-dead-letter-exchange": "dlx",
                                          "x-dead-letter-routing-key": "dead"})
    ch.basic_publish("", "dl-ttl", b"slow")
    m, p, body = wait_get(ch, "dlq")
    check(body == b"slow" and death(p)[0]["reason"] == "expired", "queue TTL expiry dead-letters with reason expired")
    ch.queue_declare("dl-exp", arguments={"x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": "dead"})
    ch.basic_publish("", "dl-exp", b"per-msg", pika.BasicProperties(expiration="100"))
    m, p, body = wait_get(ch, "dlq")
    d = death(p)
    check(body == b"per-msg" and p.expiration is None and d[0].get("original-expiration") == "100",
          "per-message expiration: expiration removed, original-expiration in x-death")
    try:
        ch.basic_publish("", "dl-exp", b"x", pika.BasicProperties(expiration="soon"))
        ch.queue_declare("dl-exp", passive=True)
        check(False, "an invalid expiration must close the channel")
    except pika.exceptions.ChannelClosedByBroker as e:
        check(e.reply_code == 406, "invalid expiration -> 406")
    c.close()


def length_limits(port):
    c = connect(port)
    ch = c.channel()
    ch.exchange_declare("lim-dlx", exchange_type="fanout")
    ch.queue_declare("lim-dlq")
    ch.queue_bind("lim-dlq", "lim-dlx")
    ch.queue_declare("drop-head", arguments={"x-max-length": 2, "x-dead-letter-exchange": "lim-dlx"})
    for i in range(5):
        ch.basic_publish("", "drop-head", b"%d" % i)
    check(ch.queue_declare("drop-head", passive=True).method.message_count == 2, "x-max-length 2 keeps 2")
    check(ch.basic_get("drop-head", auto_ack=True)[2] == b"3", "drop-head kept the newest")
    got = [wait_get(ch, "lim-dlq") for _ in range(3)]
    check([g[2] for g in got] == [b"0", b"1", b"2"] and death(got[0][1])[0]["reason"] == "maxlen",
          "dropped heads dead-lettered with reason maxlen")
    ch.queue_declare("reject-pub", arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    ch.confirm_delivery()
    ch.basic_publish("", "reject-pub", b"first")
    try:
        ch.basic_publish("", "reject-pub", b"second")
        check(False, "reject-publish must nack the second message")
    except pika.exceptions.NackError:
        check(True, "reject-publish: publisher gets basic.nack when the queue is full")
    check(ch.queue_declare("reject-pub", passive=True).method.message_count == 1, "reject-publish kept the first")
    ch.queue_declare("bytes", arguments={"x-max-length-bytes": 10})
    ch.basic_publish("", "bytes", b"123456")
    ch.basic_publish("", "bytes", b"abcdef")
    check(ch.basic_get("bytes", auto_ack=True)[2] == b"abcdef", "x-max-length-bytes drops the oldest")
    c.close()


def quorum_and_retries(port):
    c = connect(port)
    ch = c.channel()
    ch.exchange_declare("poison-dlx", exchange_type="fanout")
    ch.queue_declare("poison-dlq")
    ch.queue_bind("poison-dlq", "poison-dlx")
    ch.queue_declare("qq", durable=True, arguments={"x-queue-type": "quorum", "x-delivery-limit": 2,
                                                    "x-dead-letter-exchange": "poison-dlx"})
    ch.basic_publish("", "qq", b"poison")
    counts = []
    for _ in range(3):
        m, p, body = ch.basic_get("qq")
        counts.append((p.headers or {}).get("x-delivery-count"))
        ch.basic_nack(m.delivery_tag, requeue=True)
    check(counts == [None, 1, 2], "x-delivery-count on redeliveries: %r" % counts)
    m, p, body = wait_get(ch, "poison-dlq")
    check(body == b"poison" and death(p)[0]["reason"] == "delivery_limit",
          "past x-delivery-limit the message is dead-lettered (delivery_limit)")

    def refused(fn, what, code=406):
        x = c.channel()
        try:
            fn(x)
            check(False, what)
        except pika.exceptions.ChannelClosedByBroker as e:
            check(e.reply_code == code, "%s -> %d (%s)" % (what, e.reply_code, e.reply_text))
    refused(lambda x: x.queue_declare("qq-transient", arguments={"x-queue-type": "quorum"}), "non-durable quorum queue")
    refused(lambda x: x.queue_declare("qq-x", durable=True, exclusive=True, arguments={"x-queue-type": "quorum"}),
            "exclusive quorum queue")
    refused(lambda x: x.queue_declare("qq", durable=True, arguments={
        "x-queue-type": "quorum", "x-delivery-limit": 3, "x-dead-letter-exchange": "poison-dlx"}),
        "redeclare with another x-delivery-limit")
    refused(lambda x: x.queue_declare("bad-ttl", arguments={"x-message-ttl": -1}), "negative x-message-ttl")
    refused(lambda x: x.queue_declare("bad-ttl", arguments={"x-message-ttl": "10"}), "string x-message-ttl")
    refused(lambda x: x.queue_declare("bad-of", arguments={"x-overflow": "nope"}), "unknown x-overflow")
    refused(lambda x: x.queue_declare("bad-rk", arguments={"x-dead-letter-routing-key": "k"}),
            "x-dead-letter-routing-key without an exchange")
    refused(lambda x: x.queue_declare("bad-exp", arguments={"x-expires": 0}), "x-expires 0")

    # "Dead-letter queue after N retries": work rejects into a delay queue whose TTL sends it
    # back; the consumer counts x-death and parks the message after 3 attempts.
    ch.exchange_declare("retry-x", exchange_type="direct")
    ch.queue_declare("jobs", arguments={"x-dead-letter-exchange": "retry-x", "x-dead-letter-routing-key": "delay"})
    ch.queue_declare("jobs-delay", arguments={"x-message-ttl": 50, "x-dead-letter-exchange": "retry-x",
                                              "x-dead-letter-routing-key": "jobs"})
    ch.queue_declare("jobs-parked")
    ch.queue_bind("jobs", "retry-x", "jobs")
    ch.queue_bind("jobs-delay", "retry-x", "delay")
    ch.basic_publish("", "jobs", b"flaky")
    attempts = 0
    end = time.monotonic() + 5
    while time.monotonic() < end:
        m, p, body = ch.basic_get("jobs")
        if not m:
            c.sleep(0.02)
            continue
        attempts += 1
        rejected = [d["count"] for d in death(p) if d["queue"] == "jobs" and d["reason"] == "rejected"]
        if rejected and rejected[0] >= 3:
            ch.basic_publish("", "jobs-parked", body)
            ch.basic_ack(m.delivery_tag)
            break
        ch.basic_reject(m.delivery_tag, requeue=False)
    check(attempts == 4 and ch.basic_get("jobs-parked", auto_ack=True)[2] == b"flaky",
          "retry through a TTL delay queue, parked after 3 rejections (%d attempts)" % attempts)

    # x-expires and single active consumer.
    ch.queue_declare("short-lived", arguments={"x-expires": 200})
    c.sleep(0.6)
    refused(lambda x: x.queue_declare("short-lived", passive=True), "queue gone after x-expires", 404)
    ch.queue_declare("sac", arguments={"x-single-active-consumer": True})
    got = {"a": 0, "b": 0}
    ta = ch.basic_consume("sac", lambda x, m, p, b: got.__setitem__("a", got["a"] + 1), auto_ack=True)
    ch.basic_consume("sac", lambda x, m, p, b: got.__setitem__("b", got["b"] + 1), auto_ack=True)
    for _ in range(4):
        ch.basic_publish("", "sac", b"s")
    pump([c], 0.3)
    ch.basic_cancel(ta)
    ch.basic_publish("", "sac", b"s")
    pump([c], 0.3)
    check(got == {"a": 4, "b": 1}, "single active consumer: one consumer at a time, then the next (%r)" % got)
    c.close()


def transactions(port):
    c = connect(port)
    ch, obs = c.channel(), c.channel()
    ch.queue_declare("txq")
    ch.tx_select()

    def count():
        return obs.queue_declare("txq", passive=True).method.message_count
    ch.basic_publish("", "txq", b"a")
    ch.basic_publish("", "txq", b"b")
    check(count() == 0, "tx: publishes wait for commit")
    ch.tx_commit()
    check(count() == 2, "tx.commit delivers both publishes")
    ch.basic_publish("", "txq", b"c")
    ch.tx_rollback()
    check(count() == 2, "tx.rollback discards the publish")
    m, p, body = ch.basic_get("txq")
    ch.basic_ack(m.delivery_tag)
    ch.tx_rollback()
    ch.close()
    check(count() == 2, "a rolled-back ack leaves the message unacked (requeued when the channel closes)")
    ch = c.channel()
    ch.tx_select()
    m, p, body = ch.basic_get("txq")
    ch.basic_ack(m.delivery_tag)
    ch.tx_commit()
    ch.close()
    check(count() == 1, "a committed ack removes the message")
    x = c.channel()
    x.tx_select()
    try:
        x.confirm_delivery()
        check(False, "confirm.select on a tx channel must fail")
    except pika.exceptions.ChannelClosedByBroker as e:
        check(e.reply_code == 406, "confirm.select on a transactional channel -> 406")
    x = c.channel()
    try:
        x.tx_commit()
        check(False, "tx.commit without tx.select must fail")
    except pika.exceptions.ChannelClosedByBroker as e:
        check(e.reply_code == 406, "tx.commit without tx.select -> 406")
    c.close()


def direct_reply_to(port):
    srv = connect(port)
    sch = srv.channel()
    sch.queue_declare("rpc-direct")

    def on_request(ch, m, p, body):
        ok = ch.queue_declare(p.reply_to, passive=True).method.consumer_count == 1
        ch.basic_publish("", p.reply_to, body.upper() + (b"!" if ok else b"?"),
                         pika.BasicProperties(correlation_id=p.correlation_id))
        ch.basic_ack(m.delivery_tag)
    sch.basic_consume("rpc-direct", on_request)
    cli = connect(port)
    cch = cli.channel()
    replies = []
    cch.basic_consume("amq.rabbitmq.reply-to", lambda ch, m, p, body: replies.append((p.correlation_id, body)),
                      auto_ack=True)
    cch.basic_publish("", "rpc-direct", b"ping", pika.BasicProperties(reply_to="amq.rabbitmq.reply-to",
                                                                      correlation_id="d1"))
    pump([srv, cli], 0.5)
    check(replies == [("d1", b"PING!")], "direct reply-to: the reply reaches the requester (%r)" % replies)
    x = cli.channel()
    try:
        x.basic_publish("", "rpc-direct", b"x", pika.BasicProperties(reply_to="amq.rabbitmq.reply-to"))
        x.queue_declare("rpc-direct", passive=True)
        check(False, "reply_to amq.rabbitmq.reply-to without a reply consumer must fail")
    except pika.exceptions.ChannelClosedByBroker as e:
        check(e.reply_code == 406, "direct reply-to without a reply consumer -> 406 (%s)" % e.reply_text)
    y = cli.channel()
    try:
        y.basic_consume("amq.rabbitmq.reply-to", lambda *a: None, auto_ack=False)
        check(False, "an acking reply consumer must be refused")
    except pika.exceptions.ChannelClosedByBroker as e:
        check(e.reply_code == 406, "direct reply-to consumer with acks -> 406 (%s)" % e.reply_text)
    srv.close()
    cli.close()



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
        dead_lettering(port)
        length_limits(port)
        quorum_and_retries(port)
        transactions(port)
        direct_reply_to(port)
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
