// Fetch sessions (KIP-227): the cache's rules without a broker (engine/kafka/server/fetch_sessions.h).
#include "engine/kafka/server/fetch_sessions.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace sluice::kafka {
namespace {

using Parts = std::vector<std::pair<std::string, int32_t>>;

FetchRequest fetch(int32_t session_id, int32_t epoch, const Parts& parts, int64_t offset = 0) {
  FetchRequest req;
  req.session_id = session_id;
  req.session_epoch = epoch;
  for (const auto& [topic, partition] : parts) {
    if (req.topics.empty() || req.topics.back().topic != topic) {
      req.topics.emplace_back();
      req.topics.back().topic = topic;
    }
    FetchRequest::FetchTopic::FetchPartition p;
    p.partition = partition;
    p.fetch_offset = offset;
    p.partition_max_bytes = 1 << 20;
    req.topics.back().partitions.push_back(p);
  }
  return req;
}

PartitionAnswer quiet(int64_t hw) { return {false, false, hw, hw, 0}; }
PartitionAnswer with_records(int64_t hw) { return {true, false, hw, hw, 0}; }

// Opens a session over `parts` (all answered quiet at hw 10) and returns its id.
int32_t open(FetchSessionCache& c, const Parts& parts, int64_t now_ms = 0) {
  auto plan = c.plan(fetch(0, 0, parts), 12, now_ms);
  EXPECT_EQ(plan.kind, FetchSessionCache::Kind::kNewSession);
  std::vector<PartitionAnswer> said(plan.targets.size(), quiet(10));
  return c.create(plan.targets, said, false, now_ms);
}

TEST(FetchSessions, OldVersionsAndFinalEpochAreSessionless) {
  FetchSessionCache c;
  EXPECT_EQ(c.plan(fetch(0, 0, {{"a", 0}}), 6, 0).kind, FetchSessionCache::Kind::kSessionless);
  auto plan = c.plan(fetch(0, -1, {{"a", 0}, {"a", 1}}), 12, 0);
  EXPECT_EQ(plan.kind, FetchSessionCache::Kind::kSessionless);
  EXPECT_EQ(plan.targets.size(), 2u);
  EXPECT_EQ(c.session_count(), 0u);
}

TEST(FetchSessions, IncrementalFetchReadsTheSessionAndAnswersOnlyChanges) {
  FetchSessionCache c;
  const int32_t id = open(c, {{"a", 0}, {"a", 1}, {"b", 0}});
  ASSERT_NE(id, 0);
  EXPECT_EQ(c.partition_count(), 3u);
  // Epoch 1, no partitions named: all three are read from the session.
  auto plan = c.plan(fetch(id, 1, {}), 12, 1);
  ASSERT_EQ(plan.kind, FetchSessionCache::Kind::kIncremental);
  ASSERT_EQ(plan.targets.size(), 3u);
  // Only a/1 has records; b/0's high watermark moved; a/0 is unchanged and left out.
  auto include = c.finish_incremental(id, plan.targets, {quiet(10), with_records(12), quiet(11)});
  EXPECT_EQ(include, (std::vector<bool>{false, true, true}));
  // The partition that returned records moved to the back (fairness).
  plan = c.plan(fetch(id, 2, {}), 12, 2);
  ASSERT_EQ(plan.targets.size(), 3u);
  EXPECT_EQ(plan.targets[2].topic, "a");
  EXPECT_EQ(plan.targets[2].partition, 1);
}

TEST(FetchSessions, UpdatesAddAndForgetPartitions) {
  FetchSessionCache c;
  const int32_t id = open(c, {{"a", 0}, {"a", 1}});
  auto req = fetch(id, 1, {{"a", 1}, {"c", 0}}, 42);  // a/1 at a new offset, c/0 added
  req.forgotten_topics_data.push_back({"a", {}, {0}});
  auto plan = c.plan(req, 12, 1);
  ASSERT_EQ(plan.kind, FetchSessionCache::Kind::kIncremental);
  ASSERT_EQ(plan.targets.size(), 2u);
  EXPECT_EQ(plan.targets[0].topic, "a");
  EXPECT_EQ(plan.targets[0].fetch_offset, 42);
  EXPECT_EQ(plan.targets[1].topic, "c");
  EXPECT_EQ(c.partition_count(), 2u);
  // A newly added partition is always answered the first time.
  auto include = c.finish_incremental(id, plan.targets, {quiet(10), quiet(0)});
  EXPECT_EQ(include, (std::vector<bool>{false, true}));
}

TEST(FetchSessions, WrongEpochAndUnknownSessionAreErrors) {
  FetchSessionCache c;
  const int32_t id = open(c, {{"a", 0}});
  EXPECT_EQ(c.plan(fetch(id, 5, {}), 12, 1).error, ErrorCode::INVALID_FETCH_SESSION_EPOCH);
  EXPECT_EQ(c.plan(fetch(id + 1, 1, {}), 12, 1).error, ErrorCode::FETCH_SESSION_ID_NOT_FOUND);
  EXPECT_EQ(c.plan(fetch(0, 3, {}), 12, 1).error, ErrorCode::FETCH_SESSION_ID_NOT_FOUND);
  // A session opened without topic ids cannot be used with them (Fetch v13+).
  EXPECT_EQ(c.plan(fetch(id, 1, {}), 13, 1).error, ErrorCode::FETCH_SESSION_TOPIC_ID_ERROR);
  // The right epoch still works, and the epoch moves on.
  EXPECT_EQ(c.plan(fetch(id, 1, {}), 12, 1).kind, FetchSessionCache::Kind::kIncremental);
  EXPECT_EQ(c.plan(fetch(id, 1, {}), 12, 1).error, ErrorCode::INVALID_FETCH_SESSION_EPOCH);
  EXPECT_EQ(c.plan(fetch(id, 2, {}), 12, 1).kind, FetchSessionCache::Kind::kIncremental);
}

TEST(FetchSessions, FullFetchClosesTheSessionItNames) {
  FetchSessionCache c;
  const int32_t id = open(c, {{"a", 0}});
  EXPECT_EQ(c.plan(fetch(id, -1, {{"a", 0}}), 12, 1).kind, FetchSessionCache::Kind::kSessionless);
  EXPECT_EQ(c.session_count(), 0u);
  EXPECT_EQ(c.partition_count(), 0u);
  EXPECT_EQ(c.plan(fetch(id, 1, {}), 12, 1).error, ErrorCode::FETCH_SESSION_ID_NOT_FOUND);
}

TEST(FetchSessions, ForgettingEverythingEndsTheSession) {
  FetchSessionCache c;
  const int32_t id = open(c, {{"a", 0}});
  auto req = fetch(id, 1, {});
  req.forgotten_topics_data.push_back({"a", {}, {0}});
  auto plan = c.plan(req, 12, 1);
  EXPECT_EQ(plan.kind, FetchSessionCache::Kind::kSessionless);
  EXPECT_TRUE(plan.targets.empty());
  EXPECT_EQ(c.session_count(), 0u);
}

TEST(FetchSessions, AnErrorIsAnsweredUntilItClearsAndOnceAfter) {
  PartitionAnswer last;
  PartitionAnswer err{false, true, -1, -1, -1};
  EXPECT_TRUE(must_answer(last, quiet(5)));
  EXPECT_FALSE(must_answer(last, quiet(5)));
  EXPECT_TRUE(must_answer(last, err));
  EXPECT_TRUE(must_answer(last, err));
  EXPECT_TRUE(must_answer(last, quiet(5)));  // the recovery itself is answered
  EXPECT_FALSE(must_answer(last, quiet(5)));
}

TEST(FetchSessions, FullCacheEvictsOnlyIdleSessionsOldestFirst) {
  FetchSessionLimits limits;
  limits.max_sessions = 2;
  limits.idle_eviction_ms = 1000;
  FetchSessionCache c(limits);
  const int32_t first = open(c, {{"a", 0}}, 0);
  const int32_t second = open(c, {{"b", 0}}, 500);
  ASSERT_NE(first, 0);
  ASSERT_NE(second, 0);
  // Both in use recently: no room, no session (the client stays with full fetches).
  auto plan = c.plan(fetch(0, 0, {{"c", 0}}), 12, 900);
  EXPECT_EQ(c.create(plan.targets, {quiet(1)}, false, 900), 0);
  // Later the oldest is idle long enough and gives way.
  EXPECT_NE(c.create(plan.targets, {quiet(1)}, false, 1200), 0);
  EXPECT_EQ(c.evictions(), 1u);
  EXPECT_EQ(c.plan(fetch(first, 1, {}), 12, 1200).error, ErrorCode::FETCH_SESSION_ID_NOT_FOUND);
  EXPECT_EQ(c.plan(fetch(second, 1, {}), 12, 1200).kind, FetchSessionCache::Kind::kIncremental);
}

TEST(FetchSessions, CachedPartitionsAreBounded) {
  FetchSessionLimits limits;
  limits.max_partitions = 3;
  FetchSessionCache c(limits);
  // A session bigger than the bound is never made.
  auto plan = c.plan(fetch(0, 0, {{"a", 0}, {"a", 1}, {"a", 2}, {"a", 3}}), 12, 0);
  EXPECT_EQ(c.create(plan.targets, std::vector<PartitionAnswer>(4, quiet(1)), false, 0), 0);
  const int32_t id = open(c, {{"a", 0}, {"a", 1}});
  ASSERT_NE(id, 0);
  // Growing past it ends the session; the client starts over with a full fetch.
  auto grow = c.plan(fetch(id, 1, {{"b", 0}, {"b", 1}}), 12, 1);
  EXPECT_EQ(grow.error, ErrorCode::FETCH_SESSION_ID_NOT_FOUND);
  EXPECT_EQ(c.partition_count(), 0u);
  EXPECT_EQ(c.session_count(), 0u);
}

TEST(FetchSessions, NoSlotsMeansNoSessions) {
  FetchSessionLimits limits;
  limits.max_sessions = 0;
  FetchSessionCache c(limits);
  auto plan = c.plan(fetch(0, 0, {{"a", 0}}), 12, 0);
  EXPECT_EQ(c.create(plan.targets, {quiet(1)}, false, 0), 0);
}

TEST(FetchSessions, TopicIdSessionsKeyByIdAndForgetById) {
  FetchSessionCache c;
  FetchRequest req = fetch(0, 0, {{"a", 0}});
  req.topics[0].topic_id.bytes[0] = 7;
  auto plan = c.plan(req, 13, 0);
  const int32_t id = c.create(plan.targets, {quiet(1)}, true, 0);
  ASSERT_NE(id, 0);
  FetchRequest inc = fetch(id, 1, {});
  inc.forgotten_topics_data.push_back({"", {}, {0}});
  inc.forgotten_topics_data[0].topic_id.bytes[0] = 7;
  EXPECT_EQ(c.plan(inc, 13, 1).kind, FetchSessionCache::Kind::kSessionless);  // forgotten by id: empty
}

}  // namespace
}  // namespace sluice::kafka
