// Redis Streams load generator (hiredis): XADD pipelined at an open-loop rate on one connection
// (replies read as they come: the reply is the producer's acknowledgement), XREAD BLOCK on a
// second connection. Durability is the server's: run it with appendonly yes and appendfsync
// everysec or always.
#include <hiredis/hiredis.h>

#include <deque>
#include <thread>

#include "bench/compare/peer_common.h"

using namespace sluice::bench::peer;

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"redis_bench - Redis Streams open-loop latency"};
  add_common_options(app, o);
  CLI11_PARSE(app, argc, argv);
  Workload w(o);
  redisContext* pc = redisConnect(o.host.c_str(), o.port);
  redisContext* cc = redisConnect(o.host.c_str(), o.port);
  if (!pc || pc->err || !cc || cc->err) {
    std::fprintf(stderr, "redis_bench: connect failed\n");
    return 2;
  }
  freeReplyObject(redisCommand(pc, "DEL %s", o.name.c_str()));

  std::thread consumer([&] {
    std::string last = "0-0";
    while (!w.stop.load()) {
      auto* r = static_cast<redisReply*>(
          redisCommand(cc, "XREAD COUNT 4096 BLOCK 100 STREAMS %s %s", o.name.c_str(), last.c_str()));
      int64_t now = mono_ns();
      if (!r) {
        w.error("consumer: connection error");
        return;
      }
      if (r->type == REDIS_REPLY_ARRAY) {
        for (std::size_t s = 0; s < r->elements; ++s) {
          redisReply* entries = r->element[s]->element[1];
          for (std::size_t e = 0; e < entries->elements; ++e) {
            redisReply* ent = entries->element[e];
            last.assign(ent->element[0]->str, ent->element[0]->len);
            redisReply* fields = ent->element[1];
            if (fields->elements >= 2) w.on_receive(fields->element[1]->str, fields->element[1]->len, now);
          }
        }
      } else if (r->type == REDIS_REPLY_ERROR) {
        w.error(std::string("XREAD: ") + r->str);
      }
      freeReplyObject(r);
    }
  });
  ::usleep(100000);

  w.start_clock();
  std::deque<int64_t> inflight;
  int64_t g = 0;
  const int64_t hard = w.t0 + static_cast<int64_t>((o.warmup_s + o.duration_s + o.drain_timeout_s) * 1e9);
  while ((g < w.total || !inflight.empty()) && mono_ns() < hard) {
    int64_t due = w.due_at(mono_ns());
    bool wrote = false;
    while (g < due && static_cast<int>(inflight.size()) < o.max_inflight) {
      redisAppendCommand(pc, "XADD %s * d %b", o.name.c_str(), w.make_payload(g), o.size);
      inflight.push_back(g++);
      w.sent++;
      wrote = true;
    }
    if (wrote) {
      int done = 0;
      do {
        if (redisBufferWrite(pc, &done) != REDIS_OK) break;
      } while (!done);
    }
    int64_t next =
        g < w.total && static_cast<int>(inflight.size()) < o.max_inflight ? w.intended(g) : mono_ns() + 1'000'000;
    if (inflight.empty()) {
      Workload::wait_until(next, -1);
      continue;
    }
    if (!Workload::wait_until(next, pc->fd)) continue;
    if (redisBufferRead(pc) != REDIS_OK) {
      w.error("producer: read failed");
      break;
    }
    int64_t now = mono_ns();
    void* rep = nullptr;
    while (!inflight.empty() && redisReaderGetReply(pc->reader, &rep) == REDIS_OK && rep) {
      auto* r = static_cast<redisReply*>(rep);
      if (r->type == REDIS_REPLY_ERROR) w.error(std::string("XADD: ") + r->str);
      else w.on_ack(inflight.front(), now);
      inflight.pop_front();
      freeReplyObject(r);
      rep = nullptr;
    }
  }
  w.producer_done = true;
  w.wait_drain();
  w.stop = true;
  consumer.join();
  freeReplyObject(redisCommand(pc, "DEL %s", o.name.c_str()));
  redisFree(pc);
  redisFree(cc);
  return w.report("redis_bench");
}
