// The client suite: every test runs against a Sluice broker in process and against librdkafka's
// mock cluster (the same test code, a bootstrap address from the fixture).
#include "sluice/client/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "client/src/group_protocol.h"
#include "tests/client/backends.h"

namespace sluice::client::testing {
namespace {

// Backends live for the whole test program (one broker start per process).
class Backends : public ::testing::Environment {
 public:
  static Backend* get(BackendKind k) {
    auto& slot = instance().backends_[k];
    if (!slot) {
      if (k == BackendKind::kSluice) {
        auto b = std::make_unique<SluiceBackend>();
        if (b->started()) slot = std::move(b);
      } else {
        auto b = std::make_unique<MockBackend>();
        if (b->started()) slot = std::move(b);
      }
    }
    return slot.get();
  }
  static Backends& instance() {
    static Backends* b = nullptr;
    if (b == nullptr) {
      b = new Backends();
      ::testing::AddGlobalTestEnvironment(b);  // gtest owns it and calls TearDown at the end
    }
    return *b;
  }
  void TearDown() override { backends_.clear(); }

 private:
  std::map<BackendKind, std::unique_ptr<Backend>> backends_;
};

std::vector<ConsumerRecord> poll_until(Consumer& c, std::size_t n, int timeout_ms) {
  std::vector<ConsumerRecord> out;
  std::string last_error;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    auto r = c.poll(200);
    if (!r.ok()) {
      // Transient broker errors (the mock cluster answers ListOffsets for a partition it has just
      // created with UNKNOWN_SERVER_ERROR for a moment) are polled through; a lasting one fails
      // the record count below and is printed.
      last_error = r.error().describe();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    for (auto& rec : *r) out.push_back(std::move(rec));
  }
  EXPECT_GE(out.size(), n) << "last poll error: " << last_error;
  return out;
}

class ClientTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    backend_ = Backends::get(GetParam());
    ASSERT_NE(backend_, nullptr) << backend_name(GetParam()) << " did not start";
  }

  std::string topic(const std::string& base) const {
    return base + "-" + backend_name(GetParam()) + "-" + std::to_string(counter_++);
  }
  std::string make_topic(const std::string& base, int32_t partitions) {
    std::string t = topic(base);
    EXPECT_TRUE(backend_->create_topic(t, partitions)) << "creating " << t;
    return t;
  }

  ProducerConfig producer_config() const {
    ProducerConfig c;
    c.bootstrap_servers = backend_->bootstrap();
    c.linger_ms = 2;
    c.request_timeout_ms = 10000;
    c.delivery_timeout_ms = 20000;
    return c;
  }
  ConsumerConfig consumer_config(const std::string& group) const {
    ConsumerConfig c;
    c.bootstrap_servers = backend_->bootstrap();
    c.group_id = group;
    c.auto_offset_reset = OffsetReset::kEarliest;
    c.fetch_max_wait_ms = 100;
    c.session_timeout_ms = 6000;
    c.heartbeat_interval_ms = 200;
    c.rebalance_timeout_ms = 10000;
    c.request_timeout_ms = 10000;
    return c;
  }
  std::unique_ptr<Producer> producer(const ProducerConfig& c) {
    auto p = Producer::create(c);
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().describe());
    return p.ok() ? std::move(*p) : nullptr;
  }
  std::unique_ptr<Consumer> consumer(const ConsumerConfig& c) {
    auto p = Consumer::create(c);
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().describe());
    return p.ok() ? std::move(*p) : nullptr;
  }
  std::vector<TopicPartition> partitions(const std::string& t, int32_t n) {
    std::vector<TopicPartition> out;
    for (int32_t p = 0; p < n; ++p) out.push_back({t, p});
    return out;
  }

  Backend* backend_ = nullptr;
  static inline std::atomic<int> counter_{0};
};

TEST_P(ClientTest, ProduceConsumeRoundTripWithKeysAndHeaders) {
  const std::string t = make_topic("roundtrip", 3);
  auto p = producer(producer_config());
  ASSERT_NE(p, nullptr);
  EXPECT_GE(p->producer_id(), 0);  // idempotent by default
  constexpr int kRecords = 30;
  std::atomic<int> delivered{0};
  std::atomic<int> failed{0};
  std::vector<std::string> keys;
  for (int i = 0; i < kRecords; ++i) keys.push_back("key-" + std::to_string(i));
  for (int i = 0; i < kRecords; ++i) {
    const std::string value = "value-" + std::to_string(i);
    const HeaderView headers[] = {{"h1", std::string_view("v1")}, {"null-header", std::nullopt}};
    ProducerRecord rec;
    rec.topic = t;
    rec.key = keys[static_cast<std::size_t>(i)];
    rec.value = value;
    rec.headers = headers;
    auto st = p->send(rec, [&, i](const Result<RecordMetadata>& r) {
      if (!r.ok()) {
        failed++;
        ADD_FAILURE() << r.error().describe();
        return;
      }
      EXPECT_EQ(r->partition, murmur2_partition(keys[static_cast<std::size_t>(i)], 3));
      EXPECT_GE(r->offset, 0);
      delivered++;
    });
    ASSERT_TRUE(st.ok()) << st.error().describe();
  }
  ASSERT_TRUE(p->flush(20000).ok());
  EXPECT_EQ(delivered.load(), kRecords);
  EXPECT_EQ(failed.load(), 0);

  ConsumerConfig cc = consumer_config("");
  auto c = consumer(cc);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->assign(partitions(t, 3)).ok());
  auto got = poll_until(*c, kRecords, 20000);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kRecords));
  std::map<int32_t, int64_t> last_offset;
  for (const auto& r : got) {
    ASSERT_TRUE(r.key.has_value());
    EXPECT_EQ(r.partition, murmur2_partition(*r.key, 3)) << *r.key;
    EXPECT_EQ(*r.value, "value-" + r.key->substr(4));
    ASSERT_EQ(r.headers.size(), 2u);
    EXPECT_EQ(r.headers[0], (Header{"h1", std::string("v1")}));
    EXPECT_EQ(r.headers[1], (Header{"null-header", std::nullopt}));
    EXPECT_GT(r.timestamp_ms, 0);
    EXPECT_EQ(r.topic, t);
    auto it = last_offset.find(r.partition);
    if (it != last_offset.end()) {
      EXPECT_EQ(r.offset, it->second + 1);  // in order, no gaps
    }
    last_offset[r.partition] = r.offset;
  }
}

TEST_P(ClientTest, FutureFormAndAcksLevels) {
  const std::string t = make_topic("acks", 1);
  for (Acks acks : {Acks::kNone, Acks::kLeader, Acks::kAll}) {
    ProducerConfig pc = producer_config();
    pc.acks = acks;
    pc.enable_idempotence = acks == Acks::kAll;
    auto p = producer(pc);
    ASSERT_NE(p, nullptr);
    ProducerRecord rec;
    rec.topic = t;
    rec.value = "acks";
    auto fut = p->send(rec);
    auto md = fut.get();
    ASSERT_TRUE(md.ok()) << md.error().describe();
    EXPECT_EQ(md->partition, 0);
    if (acks == Acks::kNone) {
      EXPECT_EQ(md->offset, -1);
    } else {
      EXPECT_GE(md->offset, 0);
    }
  }
  auto c = consumer(consumer_config(""));
  ASSERT_TRUE(c->assign(partitions(t, 1)).ok());
  EXPECT_EQ(poll_until(*c, 3, 10000).size(), 3u);
}

TEST_P(ClientTest, CompressionCodecsRoundTrip) {
  const std::string t = make_topic("compression", 1);
  const CompressionType codecs[] = {CompressionType::kNone, CompressionType::kGzip, CompressionType::kSnappy,
                                    CompressionType::kLz4, CompressionType::kZstd};
  const std::string big(2000, 'x');  // compressible
  for (CompressionType codec : codecs) {
    ProducerConfig pc = producer_config();
    pc.compression = codec;
    pc.linger_ms = 20;
    auto p = producer(pc);
    ASSERT_NE(p, nullptr);
    for (int i = 0; i < 10; ++i) {
      ProducerRecord rec;
      rec.topic = t;
      rec.key = "c";
      rec.value = big;
      ASSERT_TRUE(p->send(rec, nullptr).ok());
    }
    ASSERT_TRUE(p->flush(20000).ok());
    EXPECT_EQ(p->stats().records_sent, 10u) << static_cast<int>(codec);
  }
  auto c = consumer(consumer_config(""));
  ASSERT_TRUE(c->assign(partitions(t, 1)).ok());
  auto got = poll_until(*c, 50, 20000);
  ASSERT_EQ(got.size(), 50u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].offset, static_cast<int64_t>(i));
    EXPECT_EQ(got[i].value, big);
  }
}

TEST_P(ClientTest, NullKeysStickToAPartitionPerBatch) {
  const std::string t = make_topic("sticky", 4);
  ProducerConfig pc = producer_config();
  pc.linger_ms = 50;
  auto p = producer(pc);
  ASSERT_NE(p, nullptr);
  std::set<int32_t> used;
  std::mutex mu;
  for (int i = 0; i < 20; ++i) {
    ProducerRecord rec;
    rec.topic = t;
    rec.value = "v";
    ASSERT_TRUE(p->send(rec, [&](const Result<RecordMetadata>& r) {
                   ASSERT_TRUE(r.ok());
                   std::lock_guard<std::mutex> lock(mu);
                   used.insert(r->partition);
                 }).ok());
  }
  ASSERT_TRUE(p->flush(20000).ok());
  EXPECT_EQ(used.size(), 1u);  // one batch, one partition
}

TEST_P(ClientTest, GroupOfTwoConsumersSplitsPartitions) {
  const std::string t = make_topic("group", 4);
  auto p = producer(producer_config());
  ASSERT_NE(p, nullptr);
  for (int i = 0; i < 40; ++i) {
    const std::string key = "k" + std::to_string(i);
    ProducerRecord rec;
    rec.topic = t;
    rec.key = key;
    rec.value = "v";
    ASSERT_TRUE(p->send(rec, nullptr).ok());
  }
  ASSERT_TRUE(p->flush(20000).ok());
  const std::string group = "group-" + t;
  for (Assignor assignor : {Assignor::kRange, Assignor::kRoundRobin, Assignor::kCooperativeSticky}) {
    ConsumerConfig cc = consumer_config(group + "-" + std::to_string(static_cast<int>(assignor)));
    cc.assignors = {assignor};
    auto a = consumer(cc);
    auto b = consumer(cc);
    ASSERT_TRUE(a && b);
    ASSERT_TRUE(a->subscribe({t}).ok());
    ASSERT_TRUE(b->subscribe({t}).ok());
    std::atomic<bool> stop{false};
    std::atomic<int> total{0};
    struct Seen {
      std::atomic<int> partitions{0};
      std::atomic<int> generation{-1};
    };
    Seen seen_a;
    Seen seen_b;
    auto run = [&](Consumer& c, Seen& seen) {
      while (!stop) {
        auto r = c.poll(100);
        if (r.ok()) total += static_cast<int>(r->size());
        seen.partitions = static_cast<int>(c.assignment().size());
        seen.generation = c.generation();
      }
    };
    std::thread ta(run, std::ref(*a), std::ref(seen_a));
    std::thread tb(run, std::ref(*b), std::ref(seen_b));
    // Done when both are members of the same generation, share the 4 partitions and everything
    // was read (by whichever member held the partition at the time).
    for (int i = 0; i < 300; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (total.load() >= 40 && seen_a.generation >= 0 && seen_a.generation == seen_b.generation &&
          seen_a.partitions > 0 && seen_b.partitions > 0 && seen_a.partitions + seen_b.partitions == 4)
        break;
    }
    stop = true;
    ta.join();
    tb.join();
    auto aa = a->assignment();
    auto ba = b->assignment();
    EXPECT_EQ(aa.size(), 2u);
    EXPECT_EQ(ba.size(), 2u);
    std::set<TopicPartition> all(aa.begin(), aa.end());
    all.insert(ba.begin(), ba.end());
    EXPECT_EQ(all.size(), 4u);
    EXPECT_EQ(a->generation(), b->generation());
    EXPECT_GE(total.load(), 40);
    a->close();
    b->close();
  }
}

TEST_P(ClientTest, CommitAndResume) {
  const std::string t = make_topic("commit", 2);
  const std::string group = "commit-" + t;
  auto p = producer(producer_config());
  ASSERT_NE(p, nullptr);
  auto produce = [&](int from, int n) {
    for (int i = from; i < from + n; ++i) {
      const std::string v = std::to_string(i);
      ProducerRecord rec;
      rec.topic = t;
      rec.partition = i % 2;
      rec.value = v;
      ASSERT_TRUE(p->send(rec, nullptr).ok());
    }
    ASSERT_TRUE(p->flush(20000).ok());
  };
  produce(0, 10);
  {
    ConsumerConfig cc = consumer_config(group);
    cc.enable_auto_commit = false;
    auto c = consumer(cc);
    ASSERT_TRUE(c->subscribe({t}).ok());
    auto got = poll_until(*c, 10, 20000);
    ASSERT_EQ(got.size(), 10u);
    ASSERT_TRUE(c->commit_sync().ok());
    auto committed = c->committed({t, 0});
    ASSERT_TRUE(committed.ok()) << committed.error().describe();
    EXPECT_EQ(*committed, 5);
    c->close();
  }
  produce(10, 10);
  {
    auto c = consumer(consumer_config(group));
    ASSERT_TRUE(c->subscribe({t}).ok());
    auto got = poll_until(*c, 10, 20000);
    ASSERT_EQ(got.size(), 10u);
    std::set<std::string> values;
    for (const auto& r : got) values.insert(*r.value);
    for (int i = 10; i < 20; ++i) EXPECT_TRUE(values.count(std::to_string(i))) << i;
    c->close();  // auto-commit on close
  }
  {
    ConsumerConfig cc = consumer_config(group);
    auto c = consumer(cc);
    ASSERT_TRUE(c->assign(partitions(t, 2)).ok());
    auto pos = c->position({t, 1});
    ASSERT_TRUE(pos.ok()) << pos.error().describe();
    EXPECT_EQ(*pos, 10);
  }
}

TEST_P(ClientTest, SeekByOffsetAndTimestamp) {
  const std::string t = make_topic("seek", 1);
  auto p = producer(producer_config());
  ASSERT_NE(p, nullptr);
  const int64_t base = 1700000000000;
  for (int i = 0; i < 10; ++i) {
    ProducerRecord rec;
    rec.topic = t;
    rec.value = std::to_string(i);
    rec.timestamp_ms = base + i * 1000;
    ASSERT_TRUE(p->send(rec, nullptr).ok());
  }
  ASSERT_TRUE(p->flush(20000).ok());
  auto c = consumer(consumer_config(""));
  ASSERT_TRUE(c->assign(partitions(t, 1)).ok());
  auto times = c->offsets_for_times({{{t, 0}, base + 4500}});
  if (!times.ok() && backend_->kind() == BackendKind::kMock)
    GTEST_SKIP() << "mock cluster: " << times.error().describe();
  ASSERT_TRUE(times.ok()) << times.error().describe();
  ASSERT_EQ(times->size(), 1u);
  if (backend_->kind() == BackendKind::kMock && (*times)[0].second.offset != 5)
    GTEST_SKIP() << "the mock cluster does not look up timestamps (answered " << (*times)[0].second.offset << ")";
  EXPECT_EQ((*times)[0].second.offset, 5);
  ASSERT_TRUE(c->seek_to_timestamp({{t, 0}}, base + 4500).ok());
  auto got = poll_until(*c, 5, 10000);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0].offset, 5);
  EXPECT_EQ(got[0].timestamp_ms, base + 5000);
  ASSERT_TRUE(c->seek({t, 0}, 8).ok());
  got = poll_until(*c, 2, 10000);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].offset, 8);
  EXPECT_EQ(*got[0].value, "8");
}

TEST_P(ClientTest, PauseAndResume) {
  const std::string t = make_topic("pause", 2);
  auto p = producer(producer_config());
  ASSERT_NE(p, nullptr);
  for (int i = 0; i < 6; ++i) {
    ProducerRecord rec;
    rec.topic = t;
    rec.partition = i % 2;
    rec.value = "v";
    ASSERT_TRUE(p->send(rec, nullptr).ok());
  }
  ASSERT_TRUE(p->flush(20000).ok());
  auto c = consumer(consumer_config(""));
  ASSERT_TRUE(c->assign(partitions(t, 2)).ok());
  c->pause({{t, 1}});
  EXPECT_EQ(c->paused().size(), 1u);
  auto got = poll_until(*c, 3, 5000);
  ASSERT_EQ(got.size(), 3u);
  for (const auto& r : got) EXPECT_EQ(r.partition, 0);
  auto none = c->poll(300);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  c->resume({{t, 1}});
  got = poll_until(*c, 3, 5000);
  ASSERT_EQ(got.size(), 3u);
  for (const auto& r : got) EXPECT_EQ(r.partition, 1);
}

TEST_P(ClientTest, ReadCommittedSeesNonTransactionalRecords) {
  const std::string t = make_topic("readcommitted", 1);
  auto p = producer(producer_config());
  ASSERT_NE(p, nullptr);
  ProducerRecord rec;
  rec.topic = t;
  rec.value = "committed";
  ASSERT_TRUE(p->send(rec).get().ok());
  ConsumerConfig cc = consumer_config("");
  cc.isolation_level = IsolationLevel::kReadCommitted;
  auto c = consumer(cc);
  ASSERT_TRUE(c->assign(partitions(t, 1)).ok());
  auto got = poll_until(*c, 1, 10000);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(*got[0].value, "committed");
}

TEST_P(ClientTest, AdminTopicsAndCluster) {
  ClientConfig cfg;
  cfg.bootstrap_servers = backend_->bootstrap();
  auto admin_r = Admin::create(cfg);
  ASSERT_TRUE(admin_r.ok()) << admin_r.error().describe();
  Admin& admin = **admin_r;
  auto cluster = admin.describe_cluster();
  ASSERT_TRUE(cluster.ok()) << cluster.error().describe();
  EXPECT_GE(cluster->brokers.size(), 2u);
  const std::string t = topic("admin");
  auto st = admin.create_topics({NewTopic{t, 2, -1, {{"retention.ms", "3600000"}}}});
  if (!st.ok() && st.error().code == Errc::kUnsupportedVersion)
    GTEST_SKIP() << backend_name(GetParam()) << " has no CreateTopics: " << st.error().describe();
  ASSERT_TRUE(st.ok()) << st.error().describe();
  auto again = admin.create_topics({NewTopic{t, 2, -1, {}}});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::kBroker);
  EXPECT_EQ(again.error().kafka_error, 36);  // TOPIC_ALREADY_EXISTS
  auto list = admin.list_topics();
  ASSERT_TRUE(list.ok()) << list.error().describe();
  bool found = false;
  for (const auto& info : *list) found = found || (info.name == t && info.partitions.size() == 2);
  EXPECT_TRUE(found);
  ASSERT_TRUE(admin.create_partitions(t, 3).ok());
  auto d = admin.describe_topic(t);
  ASSERT_TRUE(d.ok()) << d.error().describe();
  EXPECT_EQ(d->partitions.size(), 3u);
  auto configs = admin.describe_configs(ConfigResourceType::kTopic, t);
  if (configs.ok()) {
    bool retention = false;
    for (const auto& e : *configs) retention = retention || (e.name == "retention.ms" && e.value == "3600000");
    EXPECT_TRUE(retention);
  }
  ASSERT_TRUE(admin.delete_topics({t}).ok());
  list = admin.list_topics();
  ASSERT_TRUE(list.ok());
  for (const auto& info : *list) EXPECT_NE(info.name, t);
}

TEST_P(ClientTest, AdminGroupsAndOffsets) {
  const std::string t = make_topic("admingroups", 2);
  const std::string group = "admin-" + t;
  ClientConfig cfg;
  cfg.bootstrap_servers = backend_->bootstrap();
  auto admin_r = Admin::create(cfg);
  ASSERT_TRUE(admin_r.ok());
  Admin& admin = **admin_r;
  {
    auto c = consumer(consumer_config(group));
    ASSERT_TRUE(c->assign(partitions(t, 2)).ok());
    ASSERT_TRUE(c->commit_sync({{{t, 0}, 0}, {{t, 1}, 0}}).ok());
  }
  auto st = admin.alter_group_offsets(group, {{{t, 0}, 0}, {{t, 1}, 0}});
  ASSERT_TRUE(st.ok()) << st.error().describe();
  auto offsets = admin.list_group_offsets(group);
  if (!offsets.ok() && backend_->kind() == BackendKind::kMock)
    GTEST_SKIP() << "mock cluster: " << offsets.error().describe();
  ASSERT_TRUE(offsets.ok()) << offsets.error().describe();
  EXPECT_EQ(offsets->size(), 2u);
  auto groups = admin.list_groups();
  if (!groups.ok() && groups.error().code == Errc::kUnsupportedVersion)
    GTEST_SKIP() << "no ListGroups: " << groups.error().describe();
  ASSERT_TRUE(groups.ok()) << groups.error().describe();
  bool found = false;
  for (const auto& g : *groups) found = found || g.group_id == group;
  EXPECT_TRUE(found);
  auto d = admin.describe_group(group);
  ASSERT_TRUE(d.ok()) << d.error().describe();
  EXPECT_EQ(d->group_id, group);
  auto ends = admin.list_offsets(partitions(t, 2), -1);
  ASSERT_TRUE(ends.ok()) << ends.error().describe();
  EXPECT_EQ(ends->size(), 2u);
}

TEST_P(ClientTest, UnknownTopicIsAnErrorNotAHang) {
  ProducerConfig pc = producer_config();
  pc.allow_auto_topic_creation = false;
  pc.max_block_ms = 5000;
  auto p = producer(pc);
  ASSERT_NE(p, nullptr);
  const std::string name = "no-such-topic-" + topic("x");
  ProducerRecord rec;
  rec.topic = name;
  rec.value = "v";
  auto st = p->send(rec, nullptr);
  if (st.ok() && backend_->kind() == BackendKind::kMock)
    GTEST_SKIP() << "the mock cluster creates every topic it is asked about";
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(st.error().code == Errc::kUnknownTopic || st.error().code == Errc::kTimeout) << st.error().describe();
  // Created later: the producer asks again (after retry_backoff_ms) and sends.
  ASSERT_TRUE(backend_->create_topic(name, 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(pc.retry_backoff_ms + 50));
  auto md = p->send(rec).get();
  ASSERT_TRUE(md.ok()) << md.error().describe();
  EXPECT_EQ(md->offset, 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, ClientTest, ::testing::Values(BackendKind::kSluice, BackendKind::kMock),
                         [](const ::testing::TestParamInfo<BackendKind>& info) { return backend_name(info.param); });

// Failure handling needs a broker that misbehaves on request: the mock cluster injects errors
// and moves partition leaders.
TEST(MockFailures, RetriesRetriableErrorsAndFollowsTheLeader) {
  MockBackend mock;
  ASSERT_TRUE(mock.started());
  ASSERT_TRUE(mock.create_topic("failover", 1));
  ProducerConfig pc;
  pc.bootstrap_servers = mock.bootstrap();
  pc.linger_ms = 0;
  pc.retry_backoff_ms = 10;
  auto p = Producer::create(pc);
  ASSERT_TRUE(p.ok()) << p.error().describe();
  ProducerRecord rec;
  rec.topic = "failover";
  rec.value = "a";
  // Two retriable errors, then success: one record, delivered once.
  rd_kafka_mock_push_request_errors(mock.cluster(), 0 /* Produce */, 2, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                    RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
  auto md = (*p)->send(rec).get();
  ASSERT_TRUE(md.ok()) << md.error().describe();
  EXPECT_EQ(md->offset, 0);
  EXPECT_GE((*p)->stats().retries, 2u);
  // The leader moves to each broker in turn: the producer finds it through Metadata.
  for (int32_t leader = 1; leader <= 3; ++leader) {
    ASSERT_EQ(rd_kafka_mock_partition_set_leader(mock.cluster(), "failover", 0, leader), RD_KAFKA_RESP_ERR_NO_ERROR);
    auto r = (*p)->send(rec).get();
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r->offset, leader);
  }
  // A non-retriable error fails the record with the broker's code.
  rd_kafka_mock_push_request_errors(mock.cluster(), 0, 1, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
  auto bad = (*p)->send(rec).get();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::kBroker);
  EXPECT_EQ(bad.error().kafka_error, 10);
  ConsumerConfig cc;
  cc.bootstrap_servers = mock.bootstrap();
  cc.auto_offset_reset = OffsetReset::kEarliest;
  auto c = Consumer::create(cc);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->assign({{"failover", 0}}).ok());
  EXPECT_EQ(poll_until(**c, 4, 10000).size(), 4u);  // no duplicates from the retries
}

TEST(Assignors, RangeAndRoundRobin) {
  const detail::Subscriptions members = {{"a", {"t", "u"}}, {"b", {"t", "u"}}};
  const std::map<std::string, int32_t> counts = {{"t", 3}, {"u", 2}};
  auto range = detail::assign_range(members, counts);
  EXPECT_EQ(range["a"], (std::vector<TopicPartition>{{"t", 0}, {"t", 1}, {"u", 0}}));
  EXPECT_EQ(range["b"], (std::vector<TopicPartition>{{"t", 2}, {"u", 1}}));
  auto rr = detail::assign_round_robin(members, counts);
  EXPECT_EQ(rr["a"], (std::vector<TopicPartition>{{"t", 0}, {"t", 2}, {"u", 1}}));
  EXPECT_EQ(rr["b"], (std::vector<TopicPartition>{{"t", 1}, {"u", 0}}));
}

TEST(Assignors, CooperativeStickyMovesPartitionsInTwoRounds) {
  const std::map<std::string, int32_t> counts = {{"t", 4}};
  std::vector<TopicPartition> all = {{"t", 0}, {"t", 1}, {"t", 2}, {"t", 3}};
  // Round 1: a owns everything, b just joined. a keeps half; the other half is still a's, so
  // nobody gets it yet (a revokes it and rejoins).
  std::map<std::string, detail::Subscription> members = {{"a", {{"t"}, all}}, {"b", {{"t"}, {}}}};
  auto r1 = detail::assign_cooperative_sticky(members, counts);
  ASSERT_EQ(r1["a"].size(), 2u);
  EXPECT_TRUE(r1["b"].empty());
  // Round 2: a owns its half; b gets the rest. a's partitions never moved.
  members["a"].owned = r1["a"];
  auto r2 = detail::assign_cooperative_sticky(members, counts);
  EXPECT_EQ(r2["a"], r1["a"]);
  ASSERT_EQ(r2["b"].size(), 2u);
  std::set<TopicPartition> union_set(r2["a"].begin(), r2["a"].end());
  union_set.insert(r2["b"].begin(), r2["b"].end());
  EXPECT_EQ(union_set.size(), 4u);
  // The subscription (with owned partitions) survives encoding.
  auto bytes = detail::encode_subscription({"t"}, &all);
  auto back = detail::decode_subscription(bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->topics, std::vector<std::string>{"t"});
  EXPECT_EQ(back->owned, all);
}

// Interoperability with librdkafka both ways, every codec: records written by one client are
// read back exactly by the other (keys, values, headers, timestamps, partitions).
TEST(Interop, LibrdkafkaReadsOursAndWeReadTheirs) {
  Backend* b = Backends::get(BackendKind::kSluice);
  ASSERT_NE(b, nullptr);
  const char* codecs[] = {"none", "gzip", "snappy", "lz4", "zstd"};
  for (int ci = 0; ci < 5; ++ci) {
    const std::string ours = std::string("interop-ours-") + codecs[ci];
    const std::string theirs = std::string("interop-theirs-") + codecs[ci];
    ASSERT_TRUE(b->create_topic(ours, 2));
    ASSERT_TRUE(b->create_topic(theirs, 2));
    // Ours -> librdkafka.
    ProducerConfig pc;
    pc.bootstrap_servers = b->bootstrap();
    pc.compression = static_cast<CompressionType>(ci);
    auto p = Producer::create(pc);
    ASSERT_TRUE(p.ok());
    for (int i = 0; i < 10; ++i) {
      const std::string key = "k" + std::to_string(i);
      const std::string value = "v" + std::to_string(i);
      const HeaderView h[] = {{"hk", std::string_view("hv")}};
      ProducerRecord rec;
      rec.topic = ours;
      rec.key = key;
      rec.value = value;
      rec.headers = h;
      rec.timestamp_ms = 1700000000000 + i;
      ASSERT_TRUE((*p)->send(rec, nullptr).ok());
    }
    ASSERT_TRUE((*p)->flush().ok());
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", b->bootstrap().c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", ("interop-" + ours).c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof err);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    ASSERT_NE(rk, nullptr) << err;
    rd_kafka_topic_partition_list_t* tl = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(tl, ours.c_str(), 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_topic_partition_list_add(tl, ours.c_str(), 1)->offset = RD_KAFKA_OFFSET_BEGINNING;
    ASSERT_EQ(rd_kafka_assign(rk, tl), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(tl);
    int got = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (got < 10 && std::chrono::steady_clock::now() < deadline) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
      if (m == nullptr) continue;
      if (m->err == 0) {
        const std::string key(static_cast<const char*>(m->key), m->key_len);
        const std::string value(static_cast<const char*>(m->payload), m->len);
        EXPECT_EQ(value, "v" + key.substr(1)) << codecs[ci];
        EXPECT_EQ(m->partition, murmur2_partition(key, 2));
        rd_kafka_headers_t* hdrs = nullptr;
        ASSERT_EQ(rd_kafka_message_headers(m, &hdrs), RD_KAFKA_RESP_ERR_NO_ERROR);
        const void* hv = nullptr;
        size_t hv_len = 0;
        ASSERT_EQ(rd_kafka_header_get_last(hdrs, "hk", &hv, &hv_len), RD_KAFKA_RESP_ERR_NO_ERROR);
        EXPECT_EQ(std::string(static_cast<const char*>(hv), hv_len), "hv");
        rd_kafka_timestamp_type_t tstype;
        EXPECT_EQ(rd_kafka_message_timestamp(m, &tstype), 1700000000000 + std::stoi(key.substr(1)));
        ++got;
      }
      rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    EXPECT_EQ(got, 10) << codecs[ci];
    // librdkafka -> ours.
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", b->bootstrap().c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "compression.codec", codecs[ci], err, sizeof err);
    rd_kafka_conf_set(conf, "linger.ms", "20", err, sizeof err);
    // librdkafka's Java-compatible partitioner (its default, consistent_random, is CRC32).
    rd_kafka_conf_set(conf, "partitioner", "murmur2_random", err, sizeof err);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    ASSERT_NE(rk, nullptr) << err;
    for (int i = 0; i < 10; ++i) {
      const std::string key = "k" + std::to_string(i);
      const std::string value = std::string(200, 'x') + std::to_string(i);
      ASSERT_EQ(rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC(theirs.c_str()), RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
                    RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_HEADER("hk", "hv", 2),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    ASSERT_EQ(rd_kafka_flush(rk, 20000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
    ConsumerConfig cc;
    cc.bootstrap_servers = b->bootstrap();
    cc.auto_offset_reset = OffsetReset::kEarliest;
    auto c = Consumer::create(cc);
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE((*c)->assign({{theirs, 0}, {theirs, 1}}).ok());
    auto records = poll_until(**c, 10, 20000);
    ASSERT_EQ(records.size(), 10u) << codecs[ci];
    for (const auto& r : records) {
      EXPECT_EQ(*r.value, std::string(200, 'x') + r.key->substr(1));
      EXPECT_EQ(r.partition, murmur2_partition(*r.key, 2));
      ASSERT_EQ(r.headers.size(), 1u);
      EXPECT_EQ(r.headers[0], (Header{"hk", std::string("hv")}));
    }
  }
}

// Keyed partitioning: the same partition as librdkafka's murmur2 partitioner and Java's vectors.
TEST(Partitioner, MatchesLibrdkafkaAndJava) {
  // org.apache.kafka.common.utils.UtilsTest#testMurmur2
  EXPECT_EQ(murmur2("21", 2), -973932308);
  EXPECT_EQ(murmur2("foobar", 6), -790332482);
  EXPECT_EQ(murmur2("a-little-bit-long-string", 24), -985981536);
  EXPECT_EQ(murmur2("a-little-bit-longer-string", 26), -1486304829);
  EXPECT_EQ(murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", 48), -58897971);
  EXPECT_EQ(murmur2("abc", 3), 479470107);
  for (int32_t count : {1, 2, 3, 7, 16, 100}) {
    for (int i = 0; i < 500; ++i) {
      const std::string key = "key-" + std::to_string(i * 7919) + std::string(static_cast<std::size_t>(i % 5), 'x');
      EXPECT_EQ(murmur2_partition(key, count),
                rd_kafka_msg_partitioner_murmur2(nullptr, key.data(), key.size(), count, nullptr, nullptr))
          << key << " / " << count;
    }
  }
}

}  // namespace
}  // namespace sluice::client::testing
