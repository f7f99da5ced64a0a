"""OffsetCommit latency (synchronous commits, acknowledged only once durable) with
confluent-kafka-python. Usage: /usr/bin/python3 commit_latency.py HOST:PORT [count]"""
import json
import sys
import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap = sys.argv[1]
count = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
topic = "commit-latency-%d" % int(time.time() * 1000)
admin = AdminClient({"bootstrap.servers": bootstrap})
admin.create_topics([NewTopic(topic, 1, 1)])[topic].result()
c = Consumer({"bootstrap.servers": bootstrap, "group.id": topic + "-group", "enable.auto.commit": False})
c.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)  # coordinator lookup, warm-up
lat = []
for i in range(1, count + 1):
    t = time.perf_counter()
    c.commit(offsets=[TopicPartition(topic, 0, i)], asynchronous=False)
    lat.append((time.perf_counter() - t) * 1e6)
c.close()
lat.sort()
pct = lambda p: round(lat[min(len(lat) - 1, int(p / 100.0 * len(lat)))], 1)
print(json.dumps({"commits": count, "p50_us": pct(50), "p99_us": pct(99), "max_us": round(lat[-1], 1)}))
