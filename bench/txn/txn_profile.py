"""Where a transaction's time goes, seen from librdkafka (confluent-kafka-python, librdkafka 2.0.2).

Runs transactions of 100 messages of 100 B over 8 partitions (like the throughput case of
txn_bench.py) with `debug=eos,protocol` and reports, per request type, the round trips librdkafka
measured (`rtt` of AddPartitionsToTxn, Produce, EndTxn: p50/p90 in ms), the count of
CONCURRENT_TRANSACTIONS answers (each costs a client back-off), and the wall time per
transaction; then the same for an idempotent producer flushing every 100 messages.

Usage: /usr/bin/python3 txn_profile.py HOST:PORT [transactions]"""
import logging
import re
import sys
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap = sys.argv[1]
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 100
stamp = int(time.time() * 1000)
topic = "txn-profile-%d" % stamp
admin = AdminClient({"bootstrap.servers": bootstrap})
admin.create_topics([NewTopic(topic, 8, 1)])[topic].result()
payload = b"x" * 100


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


lines = Lines()
logger = logging.getLogger("txn-profile")
logger.setLevel(logging.DEBUG)
logger.addHandler(lines)


def run(transactional):
    conf = {"bootstrap.servers": bootstrap, "linger.ms": 1, "enable.idempotence": True, "acks": "all",
            "debug": "eos,protocol", "logger": logger}
    if transactional:
        conf["transactional.id"] = "txn-profile-%d" % stamp
    p = Producer(conf)
    if transactional:
        p.init_transactions(30)
    for warm in (True, False):
        lines.lines.clear()
        n = 10 if warm else rounds
        t0 = time.perf_counter()
        for r in range(n):
            if transactional:
                p.begin_transaction()
            for i in range(100):
                p.produce(topic, value=payload, partition=i % 8)
            if transactional:
                p.commit_transaction(30)
            else:
                assert p.flush(30) == 0
        elapsed = time.perf_counter() - t0
    p.flush(10)
    return elapsed / rounds * 1e3


def pct(values, q):
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 2) if values else None


def rtts(req):
    found = [float(m.group(1)) for line in lines.lines
             for m in [re.search(r"Received %sResponse .*rtt ([0-9.]+)ms" % req, line)] if m]
    return {"n": len(found), "p50": pct(found, 0.5), "p90": pct(found, 0.9)}


txn_ms = run(True)
out = {"transactional": {"ms_per_txn": round(txn_ms, 2)}}
for req in ("AddPartitionsToTxn", "Produce", "EndTxn"):
    out["transactional"][req + "_rtt_ms"] = rtts(req)
out["transactional"]["concurrent_transactions_answers"] = sum("CONCURRENT_TRANSACTIONS" in line
                                                              for line in lines.lines)
idem_ms = run(False)
out["idempotent"] = {"ms_per_flush_of_100": round(idem_ms, 2), "Produce_rtt_ms": rtts("Produce")}
print(out)
