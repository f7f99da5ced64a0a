#include "engine/queue/queue_engine.h"

#include <gtest/gtest.h>

namespace sluice::queue {
namespace {

struct Sink : SessionSink {
  std::vector<Delivery> got;
  std::vector<std::string> cancelled;
  void deliver(const Delivery& d) override { got.push_back(d); }
  void consumer_cancelled(const std::string& tag) override { cancelled.push_back(tag); }
};

MessagePtr msg(const std::string& body, Headers h = {}) {
  auto m = std::make_shared<Message>();
  m->body = body;
  m->headers = std::move(h);
  return m;
}

QueueInfo declare(QueueEngine& e, const std::string& name, OwnerId owner = 1, QueueOptions o = {}) {
  QueueInfo info;
  EXPECT_EQ(e.declare_queue(name, owner, o, &info), QErr::kOk);
  return info;
}

TEST(QueueEngine, TopicMatching) {
  EXPECT_TRUE(QueueEngine::topic_matches("a.*.c", "a.b.c"));
  EXPECT_FALSE(QueueEngine::topic_matches("a.*.c", "a.b.d.c"));
  EXPECT_TRUE(QueueEngine::topic_matches("a.#", "a"));
  EXPECT_TRUE(QueueEngine::topic_matches("a.#", "a.b.c"));
  EXPECT_TRUE(QueueEngine::topic_matches("#", ""));
  EXPECT_TRUE(QueueEngine::topic_matches("#.c", "a.b.c"));
  EXPECT_TRUE(QueueEngine::topic_matches("*.orange.*", "quick.orange.rabbit"));
  EXPECT_FALSE(QueueEngine::topic_matches("*.orange.*", "quick.orange.male.rabbit"));
  EXPECT_TRUE(QueueEngine::topic_matches("lazy.#", "lazy.orange.male.rabbit"));
  EXPECT_TRUE(QueueEngine::topic_matches("*.*.rabbit", "quick.orange.rabbit"));
  EXPECT_FALSE(QueueEngine::topic_matches("*", ""));
  EXPECT_TRUE(QueueEngine::topic_matches("a.#.#.b", "a.b"));
  EXPECT_FALSE(QueueEngine::topic_matches("a.b", "a.b.c"));
}

TEST(QueueEngine, HeadersMatching) {
  Headers all = {{"x-match", "all"}, {"format", "pdf"}, {"type", "report"}};
  Headers any = {{"x-match", "any"}, {"format", "pdf"}, {"type", "report"}};
  Headers m1 = {{"format", "pdf"}, {"type", "report"}};
  Headers m2 = {{"format", "pdf"}, {"type", "log"}};
  EXPECT_TRUE(QueueEngine::headers_match(all, m1));
  EXPECT_FALSE(QueueEngine::headers_match(all, m2));
  EXPECT_TRUE(QueueEngine::headers_match(any, m2));
  EXPECT_FALSE(QueueEngine::headers_match(any, {}));
  EXPECT_TRUE(QueueEngine::headers_match({{"present", std::nullopt}}, {{"present", "1"}}));
}

TEST(QueueEngine, ExchangesAndDefaults) {
  QueueEngine e;
  for (const char* n : {"", "amq.direct", "amq.topic", "amq.fanout", "amq.headers"}) EXPECT_TRUE(e.has_exchange(n));
  EXPECT_EQ(e.declare_exchange("x", ExchangeType::kTopic, {}), QErr::kOk);
  EXPECT_EQ(e.declare_exchange("x", ExchangeType::kTopic, {}), QErr::kOk);
  EXPECT_EQ(e.declare_exchange("x", ExchangeType::kFanout, {}), QErr::kPreconditionFailed);
  EXPECT_EQ(e.declare_exchange("nope", ExchangeType::kTopic, {.passive = true}), QErr::kNotFound);
  EXPECT_EQ(e.declare_exchange("amq.mine", ExchangeType::kTopic, {}), QErr::kAccessRefused);
  EXPECT_EQ(e.delete_exchange("amq.direct", false), QErr::kAccessRefused);
  declare(e, "q");
  EXPECT_EQ(e.bind("q", "x", "a.*", {}, 1), QErr::kOk);
  EXPECT_EQ(e.delete_exchange("x", true), QErr::kPreconditionFailed);
  EXPECT_EQ(e.delete_exchange("x", false), QErr::kOk);
  EXPECT_EQ(e.bind("q", "", "q", {}, 1), QErr::kAccessRefused);
}

TEST(QueueEngine, QueueDeclareRules) {
  QueueEngine e;
  QueueInfo gen = declare(e, "");
  EXPECT_EQ(gen.name.rfind("amq.gen-", 0), 0U);
  EXPECT_EQ(gen.name.size(), 8U + 22U);
  QueueInfo info;
  EXPECT_EQ(e.declare_queue("amq.x", 1, {}, &info), QErr::kAccessRefused);
  EXPECT_EQ(e.declare_queue("missing", 1, {.passive = true}, &info), QErr::kNotFound);
  declare(e, "excl", 1, {.exclusive = true});
  EXPECT_EQ(e.declare_queue("excl", 2, {.exclusive = true}, &info), QErr::kResourceLocked);
  EXPECT_EQ(e.declare_queue("excl", 1, {.durable = true, .exclusive = true}, &info), QErr::kPreconditionFailed);
  e.owner_gone(1);
  EXPECT_FALSE(e.queue_info("excl"));
}

TEST(QueueEngine, RoutingByExchangeType) {
  QueueEngine e;
  declare(e, "a");
  declare(e, "b");
  ASSERT_EQ(e.declare_exchange("t", ExchangeType::kTopic, {}), QErr::kOk);
  ASSERT_EQ(e.declare_exchange("f", ExchangeType::kFanout, {}), QErr::kOk);
  ASSERT_EQ(e.bind("a", "t", "*.error", {}, 1), QErr::kOk);
  ASSERT_EQ(e.bind("b", "t", "kern.#", {}, 1), QErr::kOk);
  ASSERT_EQ(e.bind("a", "f", "", {}, 1), QErr::kOk);
  ASSERT_EQ(e.bind("b", "f", "ignored", {}, 1), QErr::kOk);
  EXPECT_EQ(e.publish("t", "kern.error", msg("1")).routed, 2U);
  EXPECT_EQ(e.publish("t", "app.error", msg("2")).routed, 1U);
  EXPECT_EQ(e.publish("t", "app.info", msg("3")).routed, 0U);
  EXPECT_EQ(e.publish("f", "whatever", msg("4")).routed, 2U);
  EXPECT_EQ(e.publish("", "a", msg("5")).routed, 1U);
  EXPECT_EQ(e.publish("", "none", msg("6")).routed, 0U);
  EXPECT_EQ(e.publish("missing", "a", msg("7")).err, QErr::kNotFound);
  EXPECT_EQ(e.queue_info("a")->message_count, 4U);
  EXPECT_EQ(e.queue_info("b")->message_count, 2U);
  ASSERT_EQ(e.bind("a", "amq.headers", "", {{"x-match", "any"}, {"k", "v"}}, 1), QErr::kOk);
  EXPECT_EQ(e.publish("amq.headers", "", msg("8", {{"k", "v"}})).routed, 1U);
  EXPECT_EQ(e.publish("amq.headers", "", msg("9", {{"k", "w"}})).routed, 0U);
  ASSERT_EQ(e.unbind("a", "t", "*.error", {}, 1), QErr::kOk);
  EXPECT_EQ(e.publish("t", "app.error", msg("10")).routed, 0U);
}

TEST(QueueEngine, CompetingConsumersWithPrefetchOne) {
  QueueEngine e;
  declare(e, "work");
  Sink s1, s2;
  SessionId a = e.open_session(1, &s1), b = e.open_session(2, &s2);
  e.set_prefetch(a, 1, false);
  e.set_prefetch(b, 1, false);
  std::string t1, t2;
  ASSERT_EQ(e.consume(a, "work", &t1, false, false), QErr::kOk);
  ASSERT_EQ(e.consume(b, "work", &t2, false, false), QErr::kOk);
  for (int i = 0; i < 4; ++i) e.publish("", "work", msg(std::to_string(i)));
  ASSERT_EQ(s1.got.size(), 1U);
  ASSERT_EQ(s2.got.size(), 1U);
  EXPECT_EQ(e.queue_info("work")->message_count, 2U);
  EXPECT_EQ(e.ack(a, s1.got[0].delivery_tag, false), QErr::kOk);
  ASSERT_EQ(s1.got.size(), 2U);
  EXPECT_EQ(s1.got[1].message->body, "2");
  EXPECT_EQ(s1.got[1].delivery_tag, 2U);  // tags count per session
  EXPECT_EQ(e.ack(a, 99, false), QErr::kPreconditionFailed);
}

TEST(QueueEngine, NackRequeueRedelivers) {
  QueueEngine e;
  declare(e, "q");
  Sink s;
  SessionId a = e.open_session(1, &s);
  e.set_prefetch(a, 1, false);
  std::string tag;
  ASSERT_EQ(e.consume(a, "q", &tag, false, false), QErr::kOk);
  e.publish("", "q", msg("m1"));
  e.publish("", "q", msg("m2"));
  ASSERT_EQ(s.got.size(), 1U);
  EXPECT_FALSE(s.got[0].redelivered);
  EXPECT_EQ(e.nack(a, s.got[0].delivery_tag, false, true), QErr::kOk);
  ASSERT_EQ(s.got.size(), 2U);
  EXPECT_EQ(s.got[1].message->body, "m1");
  EXPECT_TRUE(s.got[1].redelivered);
  EXPECT_EQ(e.nack(a, s.got[1].delivery_tag, false, false), QErr::kOk);  // dropped
  ASSERT_EQ(s.got.size(), 3U);
  EXPECT_EQ(s.got[2].message->body, "m2");
  EXPECT_FALSE(s.got[2].redelivered);
}

TEST(QueueEngine, MultipleAckAndSessionCloseRequeues) {
  QueueEngine e;
  declare(e, "q");
  Sink s1, s2;
  SessionId a = e.open_session(1, &s1);
  std::string tag;
  ASSERT_EQ(e.consume(a, "q", &tag, false, false), QErr::kOk);
  for (int i = 0; i < 5; ++i) e.publish("", "q", msg(std::to_string(i)));
  ASSERT_EQ(s1.got.size(), 5U);
  EXPECT_EQ(e.ack(a, 3, true), QErr::kOk);
  EXPECT_EQ(e.unacked(a), 2U);
  e.close_session(a);
  EXPECT_EQ(e.queue_info("q")->message_count, 2U);
  SessionId b = e.open_session(2, &s2);
  std::optional<Delivery> d;
  ASSERT_EQ(e.get(b, "q", false, &d), QErr::kOk);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->message->body, "3");
  EXPECT_TRUE(d->redelivered);
  EXPECT_EQ(d->message_count, 1U);
  ASSERT_EQ(e.get(b, "q", true, &d), QErr::kOk);
  ASSERT_TRUE(d);
  ASSERT_EQ(e.get(b, "q", true, &d), QErr::kOk);
  EXPECT_FALSE(d);
  EXPECT_EQ(e.unacked(b), 1U);
}

TEST(QueueEngine, PurgeDeleteAndAutoDelete) {
  QueueEngine e;
  declare(e, "q");
  e.publish("", "q", msg("x"));
  uint32_t n = 0;
  EXPECT_EQ(e.delete_queue("q", 1, false, true, &n), QErr::kPreconditionFailed);
  EXPECT_EQ(e.purge_queue("q", 1, &n), QErr::kOk);
  EXPECT_EQ(n, 1U);
  Sink s;
  SessionId a = e.open_session(1, &s);
  std::string tag = "c1";
  ASSERT_EQ(e.consume(a, "q", &tag, false, false), QErr::kOk);
  EXPECT_EQ(e.consume(a, "q", &tag, false, false), QErr::kNotAllowed);
  EXPECT_EQ(e.delete_queue("q", 1, true, false, &n), QErr::kPreconditionFailed);
  EXPECT_EQ(e.delete_queue("q", 1, false, false, &n), QErr::kOk);
  ASSERT_EQ(s.cancelled.size(), 1U);
  EXPECT_EQ(s.cancelled[0], "c1");
  declare(e, "auto", 1, {.auto_delete = true});
  std::string t2;
  ASSERT_EQ(e.consume(a, "auto", &t2, true, false), QErr::kOk);
  EXPECT_EQ(e.cancel(a, t2), QErr::kOk);
  EXPECT_FALSE(e.queue_info("auto"));
}

TEST(QueueEngine, GlobalPrefetchAndFlow) {
  QueueEngine e;
  declare(e, "q1");
  declare(e, "q2");
  Sink s;
  SessionId a = e.open_session(1, &s);
  e.set_prefetch(a, 2, true);
  std::string t1, t2;
  ASSERT_EQ(e.consume(a, "q1", &t1, false, false), QErr::kOk);
  ASSERT_EQ(e.consume(a, "q2", &t2, false, false), QErr::kOk);
  for (int i = 0; i < 3; ++i) {
    e.publish("", "q1", msg("a"));
    e.publish("", "q2", msg("b"));
  }
  EXPECT_EQ(s.got.size(), 2U);
  e.set_flow(a, false);
  EXPECT_EQ(e.ack(a, 0, true), QErr::kOk);
  EXPECT_EQ(s.got.size(), 2U);
  e.set_flow(a, true);
  EXPECT_EQ(s.got.size(), 4U);
}

}  // namespace
}  // namespace sluice::queue

namespace sluice::queue {
namespace {

TEST(QueueEngine, FullQueueRefusesAndCounts) {
  Limits l;
  l.max_messages_per_queue = 2;
  QueueEngine e(l);
  declare(e, "small");
  declare(e, "big");
  ASSERT_EQ(e.bind("small", "amq.fanout", "", {}, 1), QErr::kOk);
  ASSERT_EQ(e.bind("big", "amq.fanout", "", {}, 1), QErr::kOk);
  EXPECT_EQ(e.publish("amq.fanout", "", msg("1")).refused, 0U);
  EXPECT_EQ(e.publish("amq.fanout", "", msg("2")).refused, 0U);
  PublishResult r = e.publish("", "small", msg("3"));
  EXPECT_EQ(r.routed, 0U);
  EXPECT_EQ(r.refused, 1U);
  EXPECT_EQ(e.dropped_messages(), 1U);
  EXPECT_EQ(e.queue_info("small")->message_count, 2U);
}

}  // namespace
}  // namespace sluice::queue
