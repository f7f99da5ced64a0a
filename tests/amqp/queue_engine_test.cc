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

// --- Queue arguments: dead-lettering, TTL, length limits, quorum, x-expires, single active
// consumer. Time moves only by tick() (no clock injected), so every case is deterministic.

PublishResult pub(QueueEngine& e, const std::string& ex, const std::string& key, const std::string& body) {
  auto m = std::make_shared<Message>();
  m->exchange = ex;
  m->routing_key = key;
  m->body = body;
  return e.publish(ex, key, m);
}

QueueOptions with_args(QueueArgs a, bool durable = false) {
  QueueOptions o;
  o.durable = durable;
  o.args = std::move(a);
  return o;
}

// A DLX "dlx" (fanout) bound to queue "dlq".
void make_dlx(QueueEngine& e) {
  ASSERT_EQ(e.declare_exchange("dlx", ExchangeType::kFanout, {}), QErr::kOk);
  declare(e, "dlq");
  ASSERT_EQ(e.bind("dlq", "dlx", "", {}, 1), QErr::kOk);
}

QueueArgs dlx_args() {
  QueueArgs a;
  a.dead_letter_exchange = "dlx";
  return a;
}

std::optional<Delivery> get1(QueueEngine& e, SessionId s, const std::string& q, bool no_ack = true) {
  std::optional<Delivery> d;
  EXPECT_EQ(e.get(s, q, no_ack, &d), QErr::kOk);
  return d;
}

TEST(QueueArgs, RejectDeadLettersWithDeathHistory) {
  QueueEngine e;
  make_dlx(e);
  QueueArgs a = dlx_args();
  a.dead_letter_routing_key = "dead";
  declare(e, "work", 1, with_args(a));
  Sink s;
  SessionId sid = e.open_session(1, &s);
  auto m = msg("job");
  std::const_pointer_cast<Message>(m)->routing_key = "work";
  e.publish("", "work", m);
  auto d = get1(e, sid, "work", false);
  ASSERT_TRUE(d);
  EXPECT_EQ(e.nack(sid, d->delivery_tag, false, false), QErr::kOk);
  auto dl = get1(e, sid, "dlq");
  ASSERT_TRUE(dl);
  EXPECT_EQ(dl->message->exchange, "dlx");
  EXPECT_EQ(dl->message->routing_key, "dead");
  ASSERT_EQ(dl->message->deaths.size(), 1U);
  const Death& death = dl->message->deaths[0];
  EXPECT_EQ(death.queue, "work");
  EXPECT_EQ(death.reason, DeathReason::kRejected);
  EXPECT_EQ(death.count, 1U);
  EXPECT_EQ(death.exchange, "");
  EXPECT_EQ(death.routing_keys, std::vector<std::string>{"work"});
  EXPECT_EQ(dl->message->first_death.queue, "work");
  EXPECT_EQ(e.dead_lettered_messages(), 1U);
  // requeue=true does not dead-letter; ack does not either.
  e.publish("", "work", m);
  d = get1(e, sid, "work", false);
  EXPECT_EQ(e.nack(sid, d->delivery_tag, false, true), QErr::kOk);
  d = get1(e, sid, "work", false);
  EXPECT_TRUE(d->redelivered);
  EXPECT_EQ(e.ack(sid, d->delivery_tag, false), QErr::kOk);
  EXPECT_EQ(e.queue_info("dlq")->message_count, 0U);
}

TEST(QueueArgs, NoDlxDropsAndMissingDlxDrops) {
  QueueEngine e;
  declare(e, "plain");
  QueueArgs a;
  a.dead_letter_exchange = "nowhere";
  declare(e, "q", 1, with_args(a));
  Sink s;
  SessionId sid = e.open_session(1, &s);
  pub(e, "", "q", "x");
  auto d = get1(e, sid, "q", false);
  EXPECT_EQ(e.nack(sid, d->delivery_tag, false, false), QErr::kOk);
  EXPECT_EQ(e.dropped_messages(), 1U);
}

TEST(QueueArgs, QueueTtlExpiresIntoDlxOnTick) {
  QueueEngine e;
  make_dlx(e);
  QueueArgs a = dlx_args();
  a.message_ttl_ms = 1000;
  declare(e, "ttl", 1, with_args(a));
  e.tick(100);
  pub(e, "", "ttl", "a");
  e.tick(600);
  pub(e, "", "ttl", "b");
  e.tick(1099);
  EXPECT_EQ(e.queue_info("ttl")->message_count, 2U);
  e.tick(1100);  // "a" is due
  EXPECT_EQ(e.queue_info("ttl")->message_count, 1U);
  EXPECT_EQ(e.queue_info("dlq")->message_count, 1U);
  e.tick(1600);
  EXPECT_EQ(e.queue_info("ttl")->message_count, 0U);
  Sink s;
  SessionId sid = e.open_session(1, &s);
  auto d = get1(e, sid, "dlq");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->message->body, "a");
  EXPECT_EQ(d->message->deaths[0].reason, DeathReason::kExpired);
  EXPECT_EQ(d->message->deaths[0].time_ms, 1100U);
  EXPECT_FALSE(d->message->deaths[0].original_expiration);
}

TEST(QueueArgs, PerMessageExpirationAtHeadAndRemovedOnDeadLetter) {
  QueueEngine e;
  make_dlx(e);
  declare(e, "q", 1, with_args(dlx_args()));
  auto m = std::make_shared<Message>();
  m->body = "short";
  m->expiration_ms = 50;
  m->expiration_text = "50";
  e.publish("", "q", m);
  Sink s;
  SessionId sid = e.open_session(1, &s);
  e.tick(49);
  EXPECT_TRUE(get1(e, sid, "q", false));  // not yet expired: delivered, then requeued
  e.recover(sid);
  e.tick(50);  // a requeued message keeps its expiry
  EXPECT_FALSE(get1(e, sid, "q"));
  auto d = get1(e, sid, "dlq");
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->message->expiration_removed);
  EXPECT_FALSE(d->message->expiration_ms);
  EXPECT_EQ(d->message->deaths[0].original_expiration, std::optional<std::string>("50"));
}

TEST(QueueArgs, ShorterOfQueueAndMessageTtlWins) {
  QueueEngine e;
  QueueArgs a;
  a.message_ttl_ms = 100;
  declare(e, "q", 1, with_args(a));
  auto m = std::make_shared<Message>();
  m->expiration_ms = 1000;
  e.publish("", "q", m);
  e.tick(100);
  EXPECT_EQ(e.queue_info("q")->message_count, 0U);
  EXPECT_EQ(e.dropped_messages(), 1U);
}

TEST(QueueArgs, ZeroTtlDeliversToWaitingConsumerOnly) {
  QueueEngine e;
  QueueArgs a;
  a.message_ttl_ms = 0;
  declare(e, "q", 1, with_args(a));
  pub(e, "", "q", "gone");
  Sink s;
  SessionId sid = e.open_session(1, &s);
  EXPECT_FALSE(get1(e, sid, "q"));
  std::string tag;
  ASSERT_EQ(e.consume(sid, "q", &tag, true, false), QErr::kOk);
  pub(e, "", "q", "kept");
  ASSERT_EQ(s.got.size(), 1U);
  EXPECT_EQ(s.got[0].message->body, "kept");
}

TEST(QueueArgs, MaxLengthDropHeadDeadLettersOldest) {
  QueueEngine e;
  make_dlx(e);
  QueueArgs a = dlx_args();
  a.max_length = 2;
  declare(e, "q", 1, with_args(a));
  for (const char* b : {"1", "2", "3", "4"}) EXPECT_EQ(pub(e, "", "q", b).routed, 1U);
  EXPECT_EQ(e.queue_info("q")->message_count, 2U);
  Sink s;
  SessionId sid = e.open_session(1, &s);
  EXPECT_EQ(get1(e, sid, "q")->message->body, "3");
  auto d = get1(e, sid, "dlq");
  EXPECT_EQ(d->message->body, "1");
  EXPECT_EQ(d->message->deaths[0].reason, DeathReason::kMaxLen);
}

TEST(QueueArgs, RequeuePastMaxLengthDropsHead) {
  QueueEngine e;
  QueueArgs a;
  a.max_length = 1;
  declare(e, "q", 1, with_args(a));
  Sink s;
  SessionId sid = e.open_session(1, &s);
  pub(e, "", "q", "first");
  auto d = get1(e, sid, "q", false);
  pub(e, "", "q", "second");
  e.nack(sid, d->delivery_tag, false, true);  // "first" goes back to the head and over the limit
  EXPECT_EQ(e.queue_info("q")->message_count, 1U);
  EXPECT_EQ(get1(e, sid, "q")->message->body, "second");
}

TEST(QueueArgs, MaxLengthBytesCountsBodies) {
  QueueEngine e;
  QueueArgs a;
  a.max_length_bytes = 10;
  declare(e, "q", 1, with_args(a));
  pub(e, "", "q", "123456");
  pub(e, "", "q", "123456");  // 12 bytes: the first goes
  EXPECT_EQ(e.queue_info("q")->message_count, 1U);
  EXPECT_EQ(e.dropped_messages(), 1U);
}

TEST(QueueArgs, RejectPublishRefusesAndRejectPublishDlxDeadLetters) {
  QueueEngine e;
  make_dlx(e);
  QueueArgs a = dlx_args();
  a.max_length = 1;
  a.overflow = Overflow::kRejectPublish;
  declare(e, "rp", 1, with_args(a));
  a.overflow = Overflow::kRejectPublishDlx;
  declare(e, "rpd", 1, with_args(a));
  EXPECT_EQ(pub(e, "", "rp", "1").refused, 0U);
  PublishResult r = pub(e, "", "rp", "2");
  EXPECT_EQ(r.refused, 1U);
  EXPECT_EQ(r.routed, 0U);
  EXPECT_EQ(e.queue_info("dlq")->message_count, 0U);
  EXPECT_EQ(pub(e, "", "rpd", "1").refused, 0U);
  EXPECT_EQ(pub(e, "", "rpd", "2").refused, 1U);
  EXPECT_EQ(e.queue_info("rpd")->message_count, 1U);
  EXPECT_EQ(e.queue_info("dlq")->message_count, 1U);
}

TEST(QueueArgs, ExpiryCycleIsDroppedButRejectionCycleIsNot) {
  QueueEngine e;
  // "self" dead-letters to itself through the default exchange: an expiry loop must stop.
  QueueArgs self;
  self.dead_letter_exchange = "";
  self.message_ttl_ms = 10;
  declare(e, "self", 1, with_args(self));
  pub(e, "", "self", "x");
  e.tick(10);
  EXPECT_EQ(e.queue_info("self")->message_count, 0U);
  EXPECT_EQ(e.dropped_messages(), 1U);
  // Retry pattern: work rejects -> retry (TTL) expires -> back to work: not a cycle.
  QueueArgs work;
  work.dead_letter_exchange = "";
  work.dead_letter_routing_key = "retry";
  declare(e, "work", 1, with_args(work));
  QueueArgs retry;
  retry.dead_letter_exchange = "";
  retry.dead_letter_routing_key = "work";
  retry.message_ttl_ms = 100;
  declare(e, "retry", 1, with_args(retry));
  Sink s;
  SessionId sid = e.open_session(1, &s);
  pub(e, "", "work", "job");
  for (int round = 1; round <= 3; ++round) {
    auto d = get1(e, sid, "work", false);
    ASSERT_TRUE(d) << round;
    ASSERT_EQ(e.nack(sid, d->delivery_tag, false, false), QErr::kOk);
    EXPECT_EQ(e.queue_info("retry")->message_count, 1U);
    e.tick(10 + 100 * static_cast<uint64_t>(round));
  }
  auto d = get1(e, sid, "work");
  ASSERT_TRUE(d);
  // Aggregated per queue and reason: two entries, counts 3 and 3, most recent first.
  ASSERT_EQ(d->message->deaths.size(), 2U);
  EXPECT_EQ(d->message->deaths[0].queue, "retry");
  EXPECT_EQ(d->message->deaths[0].count, 3U);
  EXPECT_EQ(d->message->deaths[1].queue, "work");
  EXPECT_EQ(d->message->deaths[1].reason, DeathReason::kRejected);
  EXPECT_EQ(d->message->deaths[1].count, 3U);
  EXPECT_EQ(d->message->first_death.reason, DeathReason::kRejected);
}

TEST(QueueArgs, DeathHistoryIsBounded) {
  Limits lim;
  lim.max_death_entries = 2;
  QueueEngine e(lim);
  // a -> b -> c -> d by rejection: the third distinct entry is refused.
  for (const char* n : {"a", "b", "c", "d"}) {
    QueueArgs x;
    x.dead_letter_exchange = "";
    x.dead_letter_routing_key = std::string(1, static_cast<char>(n[0] + 1));
    declare(e, n, 1, with_args(x));
  }
  Sink s;
  SessionId sid = e.open_session(1, &s);
  pub(e, "", "a", "m");
  for (const char* n : {"a", "b", "c"}) {
    auto d = get1(e, sid, n, false);
    ASSERT_TRUE(d) << n;
    e.nack(sid, d->delivery_tag, false, false);
  }
  EXPECT_EQ(e.queue_info("d")->message_count, 0U);
  EXPECT_EQ(e.dropped_messages(), 1U);
}

TEST(QueueArgs, DeadLetterFanOutIsBoundedPerOperation) {
  Limits lim;
  lim.max_dead_letters_per_operation = 500;
  QueueEngine e(lim);
  // Eight queues of length 0 dead-letter into one fanout bound to all of them: without a budget
  // one publish would make 8! copies along the cycle-free paths.
  ASSERT_EQ(e.declare_exchange("fan", ExchangeType::kFanout, {}), QErr::kOk);
  QueueArgs a;
  a.dead_letter_exchange = "fan";
  a.max_length = 0;
  for (int i = 0; i < 8; ++i) {
    std::string n = "q" + std::to_string(i);
    declare(e, n, 1, with_args(a));
    ASSERT_EQ(e.bind(n, "fan", "", {}, 1), QErr::kOk);
  }
  pub(e, "", "q0", "storm");
  EXPECT_LE(e.dead_lettered_messages(), 1U + 500U);  // the direct one and the budgeted cascade
  EXPECT_GT(e.dropped_messages(), 0U);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(e.queue_info("q" + std::to_string(i))->message_count, 0U);
}

TEST(QueueArgs, ExpiryBacklogIsNotCutByTheCascadeBudget) {
  Limits lim;
  lim.max_dead_letters_per_operation = 10;
  QueueEngine e(lim);
  make_dlx(e);
  QueueArgs a = dlx_args();
  a.message_ttl_ms = 100;
  declare(e, "ttl", 1, with_args(a));
  for (int i = 0; i < 100; ++i) pub(e, "", "ttl", "m");
  e.tick(100);  // 100 direct dead letters in one operation: all delivered
  EXPECT_EQ(e.queue_info("dlq")->message_count, 100U);
  EXPECT_EQ(e.dropped_messages(), 0U);
}

TEST(QueueArgs, QuorumDeliveryLimitAndCount) {
  QueueEngine e;
  make_dlx(e);
  QueueArgs a = dlx_args();
  a.type = QueueType::kQuorum;
  a.delivery_limit = 2;
  declare(e, "qq", 1, with_args(a, true));
  Sink s;
  SessionId sid = e.open_session(1, &s);
  pub(e, "", "qq", "poison");
  for (uint32_t i = 0; i <= 2; ++i) {
    auto d = get1(e, sid, "qq", false);
    ASSERT_TRUE(d) << i;
    EXPECT_EQ(d->delivery_count, std::optional<uint32_t>(i));
    EXPECT_EQ(d->redelivered, i > 0);
    e.nack(sid, d->delivery_tag, false, true);
  }
  EXPECT_EQ(e.queue_info("qq")->message_count, 0U);
  auto d = get1(e, sid, "dlq");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->message->deaths[0].reason, DeathReason::kDeliveryLimit);
  // A closed channel's unacked messages count as returns too.
  pub(e, "", "qq", "again");
  Sink s2;
  SessionId other = e.open_session(2, &s2);
  ASSERT_TRUE(get1(e, other, "qq", false));
  e.close_session(other);
  EXPECT_EQ(get1(e, sid, "qq")->delivery_count, std::optional<uint32_t>(1));
}

TEST(QueueArgs, QuorumRejectPublishDlxFallsBackToDropHead) {
  QueueEngine e;
  QueueArgs a;
  a.type = QueueType::kQuorum;
  a.max_length = 1;
  a.overflow = Overflow::kRejectPublishDlx;
  declare(e, "qq", 1, with_args(a, true));
  pub(e, "", "qq", "old");
  EXPECT_EQ(pub(e, "", "qq", "new").refused, 0U);
  Sink s;
  EXPECT_EQ(get1(e, e.open_session(1, &s), "qq")->message->body, "new");
}

TEST(QueueArgs, ClassicQueueHasNoDeliveryCount) {
  QueueEngine e;
  declare(e, "q");
  Sink s;
  SessionId sid = e.open_session(1, &s);
  pub(e, "", "q", "x");
  auto d = get1(e, sid, "q", false);
  e.nack(sid, d->delivery_tag, false, true);
  EXPECT_FALSE(get1(e, sid, "q")->delivery_count);
}

TEST(QueueArgs, ExpiresDeletesUnusedQueue) {
  QueueEngine e;
  QueueArgs a;
  a.expires_ms = 1000;
  declare(e, "tmp", 1, with_args(a));
  e.tick(900);
  declare(e, "tmp", 1, with_args(a));  // a redeclare counts as use
  e.tick(1800);
  EXPECT_TRUE(e.queue_info("tmp"));
  Sink s;
  SessionId sid = e.open_session(1, &s);
  std::string tag;
  ASSERT_EQ(e.consume(sid, "tmp", &tag, true, false), QErr::kOk);
  e.tick(5000);  // a consumer keeps it
  EXPECT_TRUE(e.queue_info("tmp"));
  ASSERT_EQ(e.cancel(sid, tag), QErr::kOk);
  e.tick(5999);
  EXPECT_TRUE(e.queue_info("tmp"));
  e.tick(6000);
  EXPECT_FALSE(e.queue_info("tmp"));
}

TEST(QueueArgs, SingleActiveConsumerHandsOver) {
  QueueEngine e;
  QueueArgs a;
  a.single_active_consumer = true;
  declare(e, "sac", 1, with_args(a));
  Sink s1, s2;
  SessionId c1 = e.open_session(1, &s1), c2 = e.open_session(2, &s2);
  std::string t1, t2;
  ASSERT_EQ(e.consume(c1, "sac", &t1, true, false), QErr::kOk);
  ASSERT_EQ(e.consume(c2, "sac", &t2, true, false), QErr::kOk);
  for (int i = 0; i < 4; ++i) pub(e, "", "sac", "m");
  EXPECT_EQ(s1.got.size(), 4U);
  EXPECT_EQ(s2.got.size(), 0U);
  ASSERT_EQ(e.cancel(c1, t1), QErr::kOk);
  pub(e, "", "sac", "m");
  EXPECT_EQ(s2.got.size(), 1U);
}

TEST(QueueArgs, RedeclareWithDifferentArgsIsInequivalent) {
  QueueEngine e;
  QueueArgs a;
  a.message_ttl_ms = 5;
  declare(e, "q", 1, with_args(a));
  QueueInfo info;
  std::string diff;
  QueueArgs b;
  b.message_ttl_ms = 6;
  EXPECT_EQ(e.declare_queue("q", 1, with_args(b), &info, &diff), QErr::kPreconditionFailed);
  EXPECT_EQ(diff, "x-message-ttl");
  EXPECT_EQ(e.declare_queue("q", 1, with_args({}), &info, &diff), QErr::kPreconditionFailed);
  a.type = QueueType::kClassic;  // an explicit classic matches a queue declared without a type
  EXPECT_EQ(e.declare_queue("q", 1, with_args(a), &info, &diff), QErr::kOk);
  a.type = QueueType::kQuorum;
  EXPECT_EQ(e.declare_queue("q", 1, with_args(a), &info, &diff), QErr::kPreconditionFailed);
  EXPECT_EQ(diff, "x-queue-type");
  QueueArgs quorum;
  quorum.type = QueueType::kQuorum;
  declare(e, "qq", 1, with_args(quorum, true));
  EXPECT_EQ(e.declare_queue("qq", 1, with_args({}, true), &info, &diff), QErr::kPreconditionFailed);
  EXPECT_EQ(diff, "x-queue-type");  // RabbitMQ: "received none but current is the value 'quorum'"
  QueueOptions durable = with_args(QueueArgs{.message_ttl_ms = 5}, true);
  EXPECT_EQ(e.declare_queue("q", 1, durable, &info, &diff), QErr::kPreconditionFailed);
  EXPECT_EQ(diff, "durable");
}

TEST(DirectReplyTo, RepliesGoStraightToTheRequester) {
  QueueEngine e;
  Sink client, server;
  SessionId c = e.open_session(1, &client), srv = e.open_session(2, &server);
  EXPECT_FALSE(e.reply_address(c));
  std::string tag;
  EXPECT_EQ(e.consume(c, std::string(kDirectReplyTo), &tag, /*no_ack=*/false, false), QErr::kPreconditionFailed);
  ASSERT_EQ(e.consume(c, std::string(kDirectReplyTo), &tag, true, false), QErr::kOk);
  std::string again;
  EXPECT_EQ(e.consume(c, std::string(kDirectReplyTo), &again, true, false), QErr::kPreconditionFailed);
  std::optional<std::string> addr = e.reply_address(c);
  ASSERT_TRUE(addr);
  EXPECT_TRUE(addr->starts_with("amq.rabbitmq.reply-to."));
  QueueInfo info;
  EXPECT_EQ(e.declare_queue(*addr, 2, {}, &info), QErr::kOk);
  EXPECT_EQ(info.consumer_count, 1U);
  EXPECT_EQ(e.bind(*addr, "amq.direct", "k", {}, 2), QErr::kAccessRefused);
  EXPECT_EQ(pub(e, "", *addr, "reply").routed, 1U);
  ASSERT_EQ(client.got.size(), 1U);
  EXPECT_EQ(client.got[0].consumer_tag, tag);
  EXPECT_EQ(client.got[0].message->body, "reply");
  EXPECT_EQ(e.unacked(c), 0U);  // no-ack
  ASSERT_EQ(e.cancel(c, tag), QErr::kOk);
  EXPECT_EQ(pub(e, "", *addr, "late").routed, 0U);
  EXPECT_EQ(e.declare_queue(*addr, 2, {}, &info), QErr::kNotFound);
  (void)srv;
}

}  // namespace
}  // namespace sluice::queue
