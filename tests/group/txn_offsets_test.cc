// Transactional offset commits (TxnOffsetCommit, KIP-98 / KIP-447): pending offsets, their
// completion by transaction markers, OffsetFetch require_stable, bounds and durability.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "tests/group/harness.h"

using namespace sluice::group;
using namespace sluice::group::testing;

namespace {

constexpr int64_t kP1 = 1001;
constexpr int64_t kP2 = 1002;

TxnOffsetCommitRequest txn_req(const std::string& group, int64_t producer_id, const std::string& topic,
                               int32_t partition, int64_t offset, std::optional<std::string> metadata = std::nullopt,
                               int16_t epoch = 0) {
  TxnOffsetCommitRequest r;
  r.group_id = group;
  r.transactional_id = "tx-" + std::to_string(producer_id);
  r.producer_id = producer_id;
  r.producer_epoch = epoch;
  r.topics.push_back(OffsetCommitTopic{topic, {OffsetCommitPartition{partition, offset, 7, std::move(metadata)}}});
  return r;
}

Errc txn_commit(Harness& h, const TxnOffsetCommitRequest& r) { return commit_error(h.c.txn_offset_commit(r, h.now)); }

OffsetFetchPartitionResult fetch_one(GroupCoordinator& c, const std::string& group, const std::string& topic,
                                     int32_t partition, bool require_stable, int64_t now) {
  OffsetFetchRequest r;
  r.group_id = group;
  r.topics = std::vector<OffsetFetchTopic>{OffsetFetchTopic{topic, {partition}}};
  r.require_stable = require_stable;
  return c.fetch_offsets(r, now).topics.at(0).partitions.at(0);
}

OffsetFetchPartitionResult fetch_one(Harness& h, const std::string& group, const std::string& topic, int32_t partition,
                                     bool require_stable = false) {
  return fetch_one(h.c, group, topic, partition, require_stable, h.now);
}

void replay_all(GroupCoordinator& c, const std::vector<Record>& records) {
  for (const auto& r : records) {
    auto res = c.replay(r);
    ASSERT_TRUE(res.ok()) << res.error().describe();
  }
}

size_t count_type(const std::vector<Record>& log, RecordType type) {
  size_t n = 0;
  for (const auto& r : log) {
    auto k = decode_record_key(r.key);
    if (k.ok() && k->type == type) ++n;
  }
  return n;
}

// A Stable group "cg" with one dynamic member; returns (member id, generation).
std::pair<std::string, int32_t> stable_group(Harness& h, const std::string& group = "cg") {
  auto j = h.join_new(group, "c");
  EXPECT_TRUE(j->ready());
  const std::string m = j->value->member_id;
  const int32_t gen = j->value->generation_id;
  auto s = h.sync(group, gen, m, {{m, "a"}});
  EXPECT_EQ(s->value->error, Errc::kOk);
  EXPECT_EQ(h.state(group), GroupState::kStable);
  return {m, gen};
}

}  // namespace

TEST(GroupTxnOffsets, CommittedOnlyAfterTheCommitMarker) {
  Harness h;
  ASSERT_EQ(txn_commit(h, txn_req("g", kP1, "t", 0, 42, "meta")), Errc::kOk);
  EXPECT_EQ(h.c.pending_txn_offsets("g"), 1u);
  EXPECT_EQ(h.c.pending_txn_offsets_of_producer(kP1), 1u);
  // Invisible: the committed value (none) is returned, and fetch-all lists nothing.
  auto f = fetch_one(h, "g", "t", 0);
  EXPECT_EQ(f.error, Errc::kOk);
  EXPECT_EQ(f.offset, -1);
  EXPECT_TRUE(h.fetch_all("g").topics.empty());
  EXPECT_EQ(h.state("g"), GroupState::kEmpty);  // created as a simple group
  EXPECT_EQ(h.describe("g").protocol_type, "");

  // Another producer's marker changes nothing here.
  h.c.complete_transaction(kP2, true, h.now);
  EXPECT_EQ(fetch_one(h, "g", "t", 0).offset, -1);

  h.c.complete_transaction(kP1, true, h.now);
  f = fetch_one(h, "g", "t", 0);
  EXPECT_EQ(f.error, Errc::kOk);
  EXPECT_EQ(f.offset, 42);
  EXPECT_EQ(f.leader_epoch, 7);
  EXPECT_EQ(f.metadata, "meta");
  EXPECT_EQ(h.c.pending_txn_offsets("g"), 0u);
  EXPECT_EQ(h.c.pending_txn_offsets_of_producer(kP1), 0u);
  EXPECT_EQ(count_type(h.log, RecordType::kPendingTxnOffset), 1u);
  EXPECT_EQ(count_type(h.log, RecordType::kTxnMarker), 1u);

  // A marker delivered twice finds nothing and emits nothing.
  const size_t records = h.log.size();
  h.c.complete_transaction(kP1, true, h.now);
  h.c.complete_transaction(kP1, false, h.now);
  EXPECT_EQ(h.log.size(), records);
  EXPECT_EQ(fetch_one(h, "g", "t", 0).offset, 42);
}

TEST(GroupTxnOffsets, AbortDropsPendingOffsets) {
  Harness h;
  ASSERT_EQ(commit_error(h.commit("g", -1, "", "t", 0, 5)), Errc::kOk);
  OffsetCommitTopic two{"t", {{0, 10, -1, std::nullopt}, {1, 11, -1, std::nullopt}}};
  TxnOffsetCommitRequest r = txn_req("g", kP1, "t", 0, 0);
  r.topics = {two};
  auto res = h.c.txn_offset_commit(r, h.now);
  ASSERT_EQ(res.topics.size(), 1u);
  ASSERT_EQ(res.topics[0].partitions.size(), 2u);
  EXPECT_EQ(res.topics[0].partitions[0].error, Errc::kOk);
  EXPECT_EQ(res.topics[0].partitions[1].error, Errc::kOk);
  EXPECT_EQ(h.c.pending_txn_offsets("g"), 2u);
  h.c.complete_transaction(kP1, false, h.now);
  EXPECT_EQ(h.c.pending_txn_offsets("g"), 0u);
  EXPECT_EQ(fetch_one(h, "g", "t", 0).offset, 5);
  EXPECT_EQ(fetch_one(h, "g", "t", 1).offset, -1);

  // A group that only ever held an aborted transaction's offsets does not outlive it (a reload
  // would not bring it back either).
  ASSERT_EQ(txn_commit(h, txn_req("only-txn", kP2, "t", 0, 1)), Errc::kOk);
  EXPECT_EQ(h.state("only-txn"), GroupState::kEmpty);
  h.c.complete_transaction(kP2, false, h.now);
  EXPECT_EQ(h.c.group_state("only-txn"), std::nullopt);
  EXPECT_EQ(h.c.group_state("g"), GroupState::kEmpty);  // has a committed offset
}

TEST(GroupTxnOffsets, RequireStableAnswersUnstableForPendingPartitionsOnly) {
  Harness h;
  ASSERT_EQ(commit_error(h.commit("g", -1, "", "t", 0, 5, "old")), Errc::kOk);
  ASSERT_EQ(commit_error(h.commit("g", -1, "", "t", 1, 6)), Errc::kOk);
  ASSERT_EQ(txn_commit(h, txn_req("g", kP1, "t", 0, 50)), Errc::kOk);
  ASSERT_EQ(txn_commit(h, txn_req("g", kP1, "u", 0, 70)), Errc::kOk);  // no committed offset yet

  auto f = fetch_one(h, "g", "t", 0, /*require_stable=*/true);
  EXPECT_EQ(f.error, Errc::kUnstableOffsetCommit);
  EXPECT_EQ(f.offset, -1);
  EXPECT_EQ(f.metadata, "");
  EXPECT_EQ(fetch_one(h, "g", "u", 0, true).error, Errc::kUnstableOffsetCommit);
  f = fetch_one(h, "g", "t", 1, true);
  EXPECT_EQ(f.error, Errc::kOk);
  EXPECT_EQ(f.offset, 6);
  // Without require_stable: the committed value.
  f = fetch_one(h, "g", "t", 0);
  EXPECT_EQ(f.error, Errc::kOk);
  EXPECT_EQ(f.offset, 5);
  EXPECT_EQ(f.metadata, "old");

  // Fetch-all lists committed partitions; a pending one is unstable with require_stable.
  OffsetFetchRequest all;
  all.group_id = "g";
  all.require_stable = true;
  auto fa = h.c.fetch_offsets(all, h.now);
  ASSERT_EQ(fa.topics.size(), 1u);
  ASSERT_EQ(fa.topics[0].partitions.size(), 2u);
  EXPECT_EQ(fa.topics[0].partitions[0].error, Errc::kUnstableOffsetCommit);
  EXPECT_EQ(fa.topics[0].partitions[1].offset, 6);
  all.require_stable = false;
  fa = h.c.fetch_offsets(all, h.now);
  EXPECT_EQ(fa.topics[0].partitions[0].offset, 5);
  EXPECT_EQ(fa.topics[0].partitions[0].error, Errc::kOk);

  h.c.complete_transaction(kP1, true, h.now);
  f = fetch_one(h, "g", "t", 0, true);
  EXPECT_EQ(f.error, Errc::kOk);
  EXPECT_EQ(f.offset, 50);
  EXPECT_EQ(fetch_one(h, "g", "u", 0, true).offset, 70);
  // Another group's pending offsets do not make this group's partitions unstable.
  ASSERT_EQ(txn_commit(h, txn_req("other", kP2, "t", 0, 1)), Errc::kOk);
  EXPECT_EQ(fetch_one(h, "g", "t", 0, true).error, Errc::kOk);
}

TEST(GroupTxnOffsets, Kip447MemberAndGenerationChecks) {
  Harness h;
  auto [m, gen] = stable_group(h);
  auto with_member = [&](int32_t g, std::string member, std::optional<std::string> instance = std::nullopt) {
    TxnOffsetCommitRequest r = txn_req("cg", kP1, "t", 0, 1);
    r.generation_id = g;
    r.member_id = std::move(member);
    r.group_instance_id = std::move(instance);
    return r;
  };
  EXPECT_EQ(txn_commit(h, with_member(gen, m)), Errc::kOk);
  EXPECT_EQ(txn_commit(h, with_member(gen + 1, m)), Errc::kIllegalGeneration);
  EXPECT_EQ(txn_commit(h, with_member(-1, m)), Errc::kIllegalGeneration);
  EXPECT_EQ(txn_commit(h, with_member(gen, "stranger")), Errc::kUnknownMember);
  EXPECT_EQ(txn_commit(h, with_member(gen, "")), Errc::kUnknownMember);
  EXPECT_EQ(txn_commit(h, with_member(gen, m, "no-such-instance")), Errc::kUnknownMember);
  // Before v3 there are no member fields: whatever the struct holds is ignored.
  TxnOffsetCommitRequest old = with_member(gen + 5, "stranger");
  old.api_version = 2;
  EXPECT_EQ(txn_commit(h, old), Errc::kOk);
  // A transactional commit without member fields is accepted by a non-empty group (Kafka: older
  // producers cannot send them), unlike a plain OffsetCommit.
  EXPECT_EQ(txn_commit(h, txn_req("cg", kP1, "t", 1, 1)), Errc::kOk);
  EXPECT_EQ(commit_error(h.commit("cg", -1, "", "t", 1, 1)), Errc::kUnknownMember);

  // The group state is not checked: a commit from the current generation is accepted while
  // the group completes a rebalance (OffsetCommit would get kRebalanceInProgress).
  auto j2 = h.join_new("cg", "c2");
  h.join(join_req("cg", m, "c"));
  ASSERT_TRUE(j2->ready());
  const int32_t gen2 = j2->value->generation_id;
  ASSERT_EQ(h.state("cg"), GroupState::kCompletingRebalance);
  EXPECT_EQ(txn_commit(h, with_member(gen2, m)), Errc::kOk);
  EXPECT_EQ(txn_commit(h, with_member(gen, m)), Errc::kIllegalGeneration);  // the zombie generation
  EXPECT_EQ(commit_error(h.commit("cg", gen2, m, "t", 0, 1)), Errc::kRebalanceInProgress);

  // A group that does not exist has no members: Kafka answers UNKNOWN_MEMBER_ID (nothing is
  // created here); without member fields the group is created as a simple group.
  EXPECT_EQ(txn_commit(h,
                       [&] {
                         auto r = txn_req("nope", kP2, "t", 0, 1);
                         r.generation_id = 3;
                         return r;
                       }()),
            Errc::kUnknownMember);
  EXPECT_EQ(h.c.group_state("nope"), std::nullopt);
  EXPECT_EQ(txn_commit(h, txn_req("nope", kP2, "t", 0, 1)), Errc::kOk);
  EXPECT_EQ(h.c.group_state("nope"), GroupState::kEmpty);
}

TEST(GroupTxnOffsets, StaticMemberFencing) {
  Harness h;
  auto j = h.join(join_req("sg", "", "c1", "inst"));
  const std::string old_id = j->value->member_id;
  h.sync("sg", 1, old_id, {{old_id, "a"}}, "inst");
  ASSERT_EQ(h.state("sg"), GroupState::kStable);
  auto j2 = h.join(join_req("sg", "", "c1", "inst"));  // restart: new member id, no rebalance
  const std::string new_id = j2->value->member_id;
  ASSERT_NE(new_id, old_id);
  auto req = [&](const std::string& member) {
    TxnOffsetCommitRequest r = txn_req("sg", kP1, "t", 0, 1);
    r.generation_id = 1;
    r.member_id = member;
    r.group_instance_id = "inst";
    return r;
  };
  EXPECT_EQ(txn_commit(h, req(old_id)), Errc::kFencedInstance);
  EXPECT_EQ(txn_commit(h, req(new_id)), Errc::kOk);
}

TEST(GroupTxnOffsets, RequestValidation) {
  Config cfg;
  cfg.offset_metadata_max_bytes = 4;
  Harness h(cfg);
  EXPECT_EQ(txn_commit(h, txn_req("", kP1, "t", 0, 1)), Errc::kInvalidGroupId);
  EXPECT_EQ(txn_commit(h, txn_req(std::string(256, 'g'), kP1, "t", 0, 1)), Errc::kInvalidGroupId);
  EXPECT_EQ(txn_commit(h, txn_req("g", -1, "t", 0, 1)), Errc::kInvalidRequest);
  EXPECT_EQ(txn_commit(h, txn_req("g", kP1, "t", 0, 1, std::nullopt, -1)), Errc::kInvalidRequest);
  EXPECT_EQ(h.c.group_count(), 0u);

  // Metadata too large: that partition only.
  TxnOffsetCommitRequest r = txn_req("g", kP1, "t", 0, 1);
  r.topics[0].partitions.push_back(OffsetCommitPartition{1, 2, -1, std::string("12345")});
  r.topics[0].partitions.push_back(OffsetCommitPartition{2, 3, -1, std::string("1234")});
  auto res = h.c.txn_offset_commit(r, h.now);
  ASSERT_EQ(res.topics[0].partitions.size(), 3u);
  EXPECT_EQ(res.topics[0].partitions[0].error, Errc::kOk);
  EXPECT_EQ(res.topics[0].partitions[1].error, Errc::kMetadataTooLarge);
  EXPECT_EQ(res.topics[0].partitions[2].error, Errc::kOk);
  EXPECT_EQ(h.c.pending_txn_offsets("g"), 2u);
  // Only too-large metadata: nothing stored, no group created.
  EXPECT_EQ(txn_commit(h, txn_req("g2", kP1, "t", 0, 1, std::string("12345"))), Errc::kMetadataTooLarge);
  EXPECT_EQ(h.c.group_state("g2"), std::nullopt);

  // An older epoch of a producer that has pending offsets here is a zombie.
  EXPECT_EQ(txn_commit(h, txn_req("g", kP2, "t", 0, 1, std::nullopt, 5)), Errc::kOk);
  EXPECT_EQ(txn_commit(h, txn_req("g", kP2, "t", 1, 1, std::nullopt, 4)), Errc::kProducerFenced);
  EXPECT_EQ(txn_commit(h, txn_req("other", kP2, "t", 1, 1, std::nullopt, 4)), Errc::kProducerFenced);
  EXPECT_EQ(txn_commit(h, txn_req("g", kP2, "t", 1, 1, std::nullopt, 5)), Errc::kOk);
}

TEST(GroupTxnOffsets, PendingOffsetsAreBoundedPerGroupAndPerProducer) {
  Config cfg;
  cfg.max_pending_txn_offsets_per_group = 3;
  cfg.max_pending_txn_offsets_per_producer = 2;
  Harness h(cfg);
  ASSERT_EQ(txn_commit(h, txn_req("g", kP1, "t", 0, 1)), Errc::kOk);
  ASSERT_EQ(txn_commit(h, txn_req("h", kP1, "t", 0, 1)), Errc::kOk);
  // The producer is full (2 over both groups): a new partition is refused, a rewrite is not.
  EXPECT_EQ(txn_commit(h, txn_req("g", kP1, "t", 1, 1)), Errc::kTooManyPendingOffsets);
  EXPECT_EQ(txn_commit(h, txn_req("g", kP1, "t", 0, 2)), Errc::kOk);
  EXPECT_EQ(h.c.pending_txn_offsets_of_producer(kP1), 2u);
  // The group "g" fills up with another producer's offsets: 1 + 2 = 3.
  OffsetCommitTopic two{"u", {{0, 1, -1, std::nullopt}, {1, 1, -1, std::nullopt}}};
  TxnOffsetCommitRequest r2 = txn_req("g", kP2, "t", 0, 0);
  r2.topics = {two};
  auto res = h.c.txn_offset_commit(r2, h.now);
  EXPECT_EQ(res.topics[0].partitions[0].error, Errc::kOk);
  EXPECT_EQ(res.topics[0].partitions[1].error, Errc::kOk);
  EXPECT_EQ(h.c.pending_txn_offsets("g"), 3u);
  // A request that would go past a bound is refused whole, and changes nothing.
  constexpr int64_t kP3 = 1003;
  const size_t records = h.log.size();
  TxnOffsetCommitRequest r3 = txn_req("g", kP3, "v", 0, 0);
  r3.topics[0].partitions.push_back(OffsetCommitPartition{1, 1, -1, std::string(5000, 'm')});
  res = h.c.txn_offset_commit(r3, h.now);
  EXPECT_EQ(res.topics[0].partitions[0].error, Errc::kTooManyPendingOffsets);
  EXPECT_EQ(res.topics[0].partitions[1].error, Errc::kMetadataTooLarge);  // its own error wins
  EXPECT_EQ(h.log.size(), records);
  EXPECT_EQ(h.c.pending_txn_offsets("g"), 3u);
  // Completing a transaction frees the room.
  h.c.complete_transaction(kP2, true, h.now);
  EXPECT_EQ(txn_commit(h, txn_req("g", kP3, "v", 0, 0)), Errc::kOk);
  EXPECT_EQ(h.c.pending_txn_offsets("g"), 2u);
}

TEST(GroupTxnOffsets, LogOrderDecidesAgainstRegularCommits) {
  Harness h;
  // A regular commit written before the transactional one loses to it ...
  ASSERT_EQ(commit_error(h.commit("g", -1, "", "t", 0, 1)), Errc::kOk);
  ASSERT_EQ(txn_commit(h, txn_req("g", kP1, "t", 0, 10)), Errc::kOk);
  // ... one written after it wins, even though the marker comes later still (Kafka's
  // appendedBatchOffset comparison).
  ASSERT_EQ(txn_commit(h, txn_req("g", kP1, "t", 1, 20)), Errc::kOk);
  ASSERT_EQ(commit_error(h.commit("g", -1, "", "t", 1, 2)), Errc::kOk);
  EXPECT_EQ(fetch_one(h, "g", "t", 1, true).error, Errc::kUnstableOffsetCommit);  // still pending
  h.c.complete_transaction(kP1, true, h.now);
  EXPECT_EQ(fetch_one(h, "g", "t", 0).offset, 10);
  EXPECT_EQ(fetch_one(h, "g", "t", 1).offset, 2);
  EXPECT_EQ(fetch_one(h, "g", "t", 1, true).error, Errc::kOk);
}

TEST(GroupTxnOffsets, TwoProducersPendingOnTheSamePartition) {
  // P1 writes first, P2 second. Whatever the order of the markers, the later write wins.
  for (bool p1_marker_first : {true, false}) {
    Harness h;
    ASSERT_EQ(txn_commit(h, txn_req("g", kP1, "t", 0, 10)), Errc::kOk);
    ASSERT_EQ(txn_commit(h, txn_req("g", kP2, "t", 0, 20)), Errc::kOk);
    EXPECT_EQ(h.c.pending_txn_offsets("g"), 2u);
    const int64_t first = p1_marker_first ? kP1 : kP2;
    const int64_t second = p1_marker_first ? kP2 : kP1;
    h.c.complete_transaction(first, true, h.now);
    // Still unstable: the other producer's offset is pending.
    EXPECT_EQ(fetch_one(h, "g", "t", 0, true).error, Errc::kUnstableOffsetCommit);
    EXPECT_EQ(fetch_one(h, "g", "t", 0).offset, p1_marker_first ? 10 : 20);
    h.c.complete_transaction(second, true, h.now);
    auto f = fetch_one(h, "g", "t", 0, true);
    EXPECT_EQ(f.error, Errc::kOk);
    EXPECT_EQ(f.offset, 20) << p1_marker_first;
  }
  // One aborts, the other commits.
  Harness h;
  ASSERT_EQ(txn_commit(h, txn_req("g", kP1, "t", 0, 10)), Errc::kOk);
  ASSERT_EQ(txn_commit(h, txn_req("g", kP2, "t", 0, 20)), Errc::kOk);
  h.c.complete_transaction(kP2, false, h.now);
  h.c.complete_transaction(kP1, true, h.now);
  EXPECT_EQ(fetch_one(h, "g", "t", 0, true).offset, 10);
}

TEST(GroupTxnOffsets, OneMarkerCompletesEveryGroup) {
  Harness h;
  ASSERT_EQ(txn_commit(h, txn_req("a", kP1, "t", 0, 1)), Errc::kOk);
  ASSERT_EQ(txn_commit(h, txn_req("b", kP1, "t", 0, 2)), Errc::kOk);
  ASSERT_EQ(txn_commit(h, txn_req("b", kP2, "t", 1, 3)), Errc::kOk);
  EXPECT_EQ(h.c.pending_txn_offsets_of_producer(kP1), 2u);
  h.c.complete_transaction(kP1, true, h.now);
  EXPECT_EQ(fetch_one(h, "a", "t", 0).offset, 1);
  EXPECT_EQ(fetch_one(h, "b", "t", 0).offset, 2);
  EXPECT_EQ(fetch_one(h, "b", "t", 1).offset, -1);
  EXPECT_EQ(h.c.pending_txn_offsets("b"), 1u);
  EXPECT_EQ(count_type(h.log, RecordType::kTxnMarker), 1u);
}

TEST(GroupTxnOffsets, PendingOffsetsBlockDeleteAndExpiry) {
  Config cfg;
  cfg.offsets_retention_ms = 1000;
  cfg.offsets_retention_check_interval_ms = 100;
  Harness h(cfg);
  h.c.tick(h.now);
  ASSERT_EQ(commit_error(h.commit("g", -1, "", "t", 0, 1)), Errc::kOk);
  ASSERT_EQ(commit_error(h.commit("g", -1, "", "t", 1, 1)), Errc::kOk);
  ASSERT_EQ(txn_commit(h, txn_req("g", kP1, "t", 0, 5)), Errc::kOk);
  ASSERT_EQ(txn_commit(h, txn_req("p", kP1, "t", 0, 5)), Errc::kOk);  // only pending offsets
  // An Empty group with pending offsets is not deleted (NON_EMPTY_GROUP) ...
  auto d = h.c.delete_groups({"g", "p"}, h.now);
  EXPECT_EQ(d.at(0).error, Errc::kGroupNotEmpty);
  EXPECT_EQ(d.at(1).error, Errc::kGroupNotEmpty);
  // ... nor expired: the offset an open transaction may replace stays, the others expire.
  h.advance(2000);
  EXPECT_EQ(h.c.group_state("g"), GroupState::kEmpty);
  EXPECT_EQ(h.c.group_state("p"), GroupState::kEmpty);
  EXPECT_EQ(fetch_one(h, "g", "t", 0).offset, 1);
  EXPECT_EQ(fetch_one(h, "g", "t", 1).offset, -1);
  // The commit lands; later the offsets expire and the groups go.
  h.c.complete_transaction(kP1, true, h.now);
  EXPECT_EQ(fetch_one(h, "g", "t", 0).offset, 5);
  EXPECT_EQ(fetch_one(h, "p", "t", 0).offset, 5);
  h.advance(2000);
  EXPECT_EQ(h.c.group_state("g"), std::nullopt);
  EXPECT_EQ(h.c.group_state("p"), std::nullopt);
}

TEST(GroupTxnOffsets, ConsumerGroupWithPendingOffsetsStillDeletesAfterCompletion) {
  Harness h;
  auto [m, gen] = stable_group(h);
  TxnOffsetCommitRequest r = txn_req("cg", kP1, "t", 0, 9);
  r.generation_id = gen;
  r.member_id = m;
  ASSERT_EQ(txn_commit(h, r), Errc::kOk);
  EXPECT_EQ(h.c.delete_groups({"cg"}, h.now).at(0).error, Errc::kGroupNotEmpty);  // members
  h.c.leave_group(LeaveGroupRequest{"cg", {{m, std::nullopt}}, 3}, h.now);
  ASSERT_EQ(h.state("cg"), GroupState::kEmpty);
  EXPECT_EQ(h.c.delete_groups({"cg"}, h.now).at(0).error, Errc::kGroupNotEmpty);  // pending
  h.c.complete_transaction(kP1, false, h.now);
  EXPECT_EQ(h.c.group_state("cg"), GroupState::kEmpty);  // a consumer group: it stays
  EXPECT_EQ(h.c.delete_groups({"cg"}, h.now).at(0).error, Errc::kOk);
}

TEST(GroupTxnOffsets, ReplayKeepsPendingAndCompletedState) {
  Harness h;
  ASSERT_EQ(commit_error(h.commit("g", -1, "", "t", 0, 1)), Errc::kOk);
  ASSERT_EQ(txn_commit(h, txn_req("g", kP1, "t", 0, 10, "m1", 3)), Errc::kOk);
  ASSERT_EQ(txn_commit(h, txn_req("g", kP2, "t", 1, 20)), Errc::kOk);
  ASSERT_EQ(txn_commit(h, txn_req("other", kP1, "t", 0, 30, std::nullopt, 3)), Errc::kOk);
  const std::vector<Record> before_markers = h.log;
  h.c.complete_transaction(kP1, true, h.now);

  // The log up to the pending offsets: they are pending again after a restart ...
  GroupCoordinator a;
  replay_all(a, before_markers);
  EXPECT_EQ(a.pending_txn_offsets_of_producer(kP1), 2u);
  EXPECT_EQ(fetch_one(a, "g", "t", 0, true, h.now).error, Errc::kUnstableOffsetCommit);
  EXPECT_EQ(fetch_one(a, "g", "t", 0, false, h.now).offset, 1);
  EXPECT_EQ(a.pending_txn_offsets("g"), 2u);
  // ... the producer's epoch is remembered (zombie fencing) ...
  EXPECT_EQ(a.txn_offset_commit(txn_req("g", kP1, "t", 2, 1, std::nullopt, 2), h.now).topics[0].partitions[0].error,
            Errc::kProducerFenced);
  // ... and the re-delivered marker completes them as it did before the restart.
  a.complete_transaction(kP1, true, h.now);
  auto f = fetch_one(a, "g", "t", 0, true, h.now);
  EXPECT_EQ(f.offset, 10);
  EXPECT_EQ(f.metadata, "m1");
  EXPECT_EQ(fetch_one(a, "other", "t", 0, true, h.now).offset, 30);
  EXPECT_EQ(fetch_one(a, "g", "t", 1, true, h.now).error, Errc::kUnstableOffsetCommit);

  // The whole log, marker included: the completion survives.
  GroupCoordinator b;
  replay_all(b, h.log);
  EXPECT_EQ(fetch_one(b, "g", "t", 0, true, h.now).offset, 10);
  EXPECT_EQ(fetch_one(b, "other", "t", 0, true, h.now).offset, 30);
  EXPECT_EQ(b.pending_txn_offsets("g"), 1u);
  EXPECT_EQ(b.pending_txn_offsets_of_producer(kP1), 0u);
  EXPECT_EQ(b.pending_txn_offsets_of_producer(kP2), 1u);
  EXPECT_EQ(b.snapshot(), h.c.snapshot());
  b.complete_transaction(kP2, true, h.now);
  EXPECT_EQ(fetch_one(b, "g", "t", 1, true, h.now).offset, 20);
}

TEST(GroupTxnOffsets, AbortedOnlyGroupDoesNotComeBackFromTheLog) {
  Harness h;
  ASSERT_EQ(txn_commit(h, txn_req("g", kP1, "t", 0, 10)), Errc::kOk);
  h.c.complete_transaction(kP1, false, h.now);
  GroupCoordinator c;
  replay_all(c, h.log);
  EXPECT_EQ(c.list_groups({}, h.now).groups.size(), 0u);
  EXPECT_EQ(h.c.list_groups({}, h.now).groups.size(), 0u);
}

TEST(GroupTxnOffsets, SnapshotReplaysToTheSameStateAndTheSameOutcomes) {
  Harness h;
  // Per partition of "g", t-0: regular(1) < P1(10) < P2(20); t-1: P1(11) < regular(2) (P1 beaten);
  // t-2: P2(22) only; group "h": P1 only. Then a completed producer P3 on t-3.
  constexpr int64_t kP3 = 1003;
  ASSERT_EQ(commit_error(h.commit("g", -1, "", "t", 0, 1)), Errc::kOk);
  ASSERT_EQ(txn_commit(h, txn_req("g", kP1, "t", 0, 10)), Errc::kOk);
  ASSERT_EQ(txn_commit(h, txn_req("g", kP2, "t", 0, 20)), Errc::kOk);
  ASSERT_EQ(txn_commit(h, txn_req("g", kP1, "t", 1, 11)), Errc::kOk);
  ASSERT_EQ(commit_error(h.commit("g", -1, "", "t", 1, 2)), Errc::kOk);
  ASSERT_EQ(txn_commit(h, txn_req("g", kP2, "t", 2, 22, "meta", 4)), Errc::kOk);
  ASSERT_EQ(txn_commit(h, txn_req("h", kP1, "t", 0, 5)), Errc::kOk);
  ASSERT_EQ(txn_commit(h, txn_req("g", kP3, "t", 3, 33)), Errc::kOk);
  h.c.complete_transaction(kP3, true, h.now);
  // P2's rewrite of t-0 is now later than ... nothing else: still after P1.
  const std::vector<Record> snap = h.c.snapshot();
  std::set<std::string> keys;
  for (const auto& r : snap) {
    EXPECT_TRUE(r.value.has_value());
    EXPECT_TRUE(keys.insert(r.key).second);
  }
  EXPECT_EQ(count_type(snap, RecordType::kTxnMarker), 0u);
  EXPECT_EQ(count_type(snap, RecordType::kPendingTxnOffset), 5u);

  GroupCoordinator from_log;
  replay_all(from_log, h.log);
  GroupCoordinator from_snap;
  replay_all(from_snap, snap);
  // Before loading completes, the snapshot is that of the staged records.
  EXPECT_EQ(from_snap.snapshot(), snap);
  EXPECT_EQ(from_log.snapshot(), snap);
  for (GroupCoordinator* c : {&from_log, &from_snap}) {
    EXPECT_EQ(c->list_groups({}, h.now).groups.size(), 2u);  // finishes loading
    EXPECT_EQ(c->pending_txn_offsets("g"), 4u);
    EXPECT_EQ(c->pending_txn_offsets("h"), 1u);
    EXPECT_EQ(c->pending_txn_offsets_of_producer(kP1), 3u);
    EXPECT_EQ(c->pending_txn_offsets_of_producer(kP2), 2u);
    EXPECT_EQ(c->snapshot(), snap);
  }

  // The same markers give the same offsets in the original and both replicas.
  auto outcome = [&](GroupCoordinator& c) {
    c.complete_transaction(kP1, true, h.now);
    std::vector<OffsetFetchResult> out;
    out.push_back(c.fetch_offsets(OffsetFetchRequest{"g", std::nullopt, true}, h.now));
    c.complete_transaction(kP2, true, h.now);
    out.push_back(c.fetch_offsets(OffsetFetchRequest{"g", std::nullopt, true}, h.now));
    out.push_back(c.fetch_offsets(OffsetFetchRequest{"h", std::nullopt, true}, h.now));
    return out;
  };
  auto live = outcome(h.c);
  EXPECT_EQ(outcome(from_log), live);
  EXPECT_EQ(outcome(from_snap), live);
  // t-0: P2 (written last) wins; t-1: the regular commit wins; t-2: P2; t-3: P3.
  const auto& final_g = live[1].topics.at(0).partitions;
  ASSERT_EQ(final_g.size(), 4u);
  EXPECT_EQ(final_g[0].offset, 20);
  EXPECT_EQ(final_g[1].offset, 2);
  EXPECT_EQ(final_g[2].offset, 22);
  EXPECT_EQ(final_g[2].metadata, "meta");
  EXPECT_EQ(final_g[3].offset, 33);
  // After P1 only: t-0 holds P1's 10 (P2 still pending, so unstable with require_stable).
  EXPECT_EQ(live[0].topics.at(0).partitions.at(0).error, Errc::kUnstableOffsetCommit);
  EXPECT_EQ(live[0].topics.at(0).partitions.at(1).offset, 2);
  EXPECT_EQ(live[2].topics.at(0).partitions.at(0).offset, 5);
}

TEST(GroupTxnOffsets, CorruptAndUnusualTxnRecords) {
  GroupCoordinator c;
  // A marker is never a tombstone; a bad value is refused and changes nothing.
  EXPECT_FALSE(c.replay(Record{encode_txn_marker_key(1), std::nullopt}).ok());
  EXPECT_FALSE(c.replay(Record{encode_txn_marker_key(1), std::string("\x00\x07", 2)}).ok());
  EXPECT_FALSE(c.replay(Record{encode_pending_txn_offset_key("g", 1, "t", 0), std::string("\x00", 1)}).ok());
  // A marker for a producer with nothing pending is a no-op.
  EXPECT_TRUE(c.replay(Record{encode_txn_marker_key(1), encode_txn_marker_value(TxnMarkerValue{true})}).ok());
  // A pending-offset tombstone (never emitted) removes that pending offset.
  const std::string k0 = encode_pending_txn_offset_key("g", 1, "t", 0);
  const std::string k1 = encode_pending_txn_offset_key("g", 1, "t", 1);
  EXPECT_TRUE(c.replay(Record{k0, encode_pending_txn_offset_value(PendingTxnOffsetValue{5, -1, 0, 0, ""})}).ok());
  EXPECT_TRUE(c.replay(Record{k1, encode_pending_txn_offset_value(PendingTxnOffsetValue{6, -1, 0, 0, ""})}).ok());
  EXPECT_TRUE(c.replay(Record{k0, std::nullopt}).ok());
  EXPECT_TRUE(c.replay(Record{k0, std::nullopt}).ok());  // twice: still fine
  EXPECT_EQ(c.pending_txn_offsets_of_producer(1), 1u);
  c.complete_transaction(1, true, 0);
  EXPECT_EQ(fetch_one(c, "g", "t", 0, true, 0).offset, -1);
  EXPECT_EQ(fetch_one(c, "g", "t", 1, true, 0).offset, 6);
}

// Seeded random operations over a few groups, partitions and producers, checked against a model
// of Kafka's rule (each offset record has a log position; a committed transaction installs its
// offsets unless the committed one was written later) and against replays of the log and of the
// snapshot.
TEST(GroupTxnOffsets, RandomOperationsMatchTheModelAndReplay) {
  struct ModelOffset {
    int64_t offset;
    uint64_t pos;
  };
  using Key = std::pair<std::string, int32_t>;  // group, partition (one topic)
  const std::vector<std::string> groups{"ga", "gb"};
  const std::vector<int64_t> producers{1, 2, 3};
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    std::mt19937_64 rng(seed);
    Config cfg;
    cfg.max_pending_txn_offsets_per_group = 5;
    cfg.max_pending_txn_offsets_per_producer = 4;
    Harness h(cfg);
    std::map<Key, ModelOffset> committed;
    std::map<int64_t, std::map<Key, ModelOffset>> pending;
    uint64_t pos = 0;
    int64_t next_offset = 1;
    for (int step = 0; step < 300; ++step) {
      const std::string& g = groups[rng() % groups.size()];
      const int32_t part = static_cast<int32_t>(rng() % 3);
      const int64_t pid = producers[rng() % producers.size()];
      const Key key{g, part};
      switch (rng() % 5) {
        case 0: {
          const int64_t off = next_offset++;
          ASSERT_EQ(commit_error(h.commit(g, -1, "", "t", part, off)), Errc::kOk);
          committed[key] = {off, ++pos};
          break;
        }
        case 1:
        case 2: {
          const int64_t off = next_offset++;
          size_t group_n = 0;
          for (const auto& [p, m] : pending)
            for (const auto& [k, v] : m) group_n += k.first == g ? 1 : 0;
          const bool fresh = !pending[pid].contains(key);
          const bool over = fresh && (group_n + 1 > cfg.max_pending_txn_offsets_per_group ||
                                      pending[pid].size() + 1 > cfg.max_pending_txn_offsets_per_producer);
          const Errc e = txn_commit(h, txn_req(g, pid, "t", part, off));
          ASSERT_EQ(e, over ? Errc::kTooManyPendingOffsets : Errc::kOk) << "seed " << seed << " step " << step;
          if (!over) pending[pid][key] = {off, ++pos};
          break;
        }
        case 3: {
          const bool commit = rng() % 3 != 0;
          h.c.complete_transaction(pid, commit, h.now);
          if (commit)
            for (const auto& [k, v] : pending[pid]) {
              auto it = committed.find(k);
              if (it == committed.end() || it->second.pos < v.pos) committed[k] = v;
            }
          pending.erase(pid);
          break;
        }
        case 4: {
          // Re-check every partition against the model, with and without require_stable.
          for (const auto& gg : groups)
            for (int32_t p = 0; p < 3; ++p) {
              const Key k{gg, p};
              bool is_pending = false;
              for (const auto& [pp, m] : pending) is_pending = is_pending || m.contains(k);
              auto it = committed.find(k);
              const int64_t want = it == committed.end() ? -1 : it->second.offset;
              auto f = fetch_one(h, gg, "t", p, false);
              ASSERT_EQ(f.offset, want) << "seed " << seed << " step " << step;
              auto s = fetch_one(h, gg, "t", p, true);
              ASSERT_EQ(s.error, is_pending ? Errc::kUnstableOffsetCommit : Errc::kOk);
            }
          break;
        }
      }
      for (int64_t p : producers) {
        size_t n = 0;
        if (auto it = pending.find(p); it != pending.end()) n = it->second.size();
        ASSERT_EQ(h.c.pending_txn_offsets_of_producer(p), n) << "seed " << seed << " step " << step;
      }
      if (step % 50 == 49) {
        // Replays of the log and of the snapshot match the live coordinator, and stay in step
        // with it when every transaction is then committed.
        const std::vector<Record> snap = h.c.snapshot();
        GroupCoordinator from_log(cfg);
        replay_all(from_log, h.log);
        GroupCoordinator from_snap(cfg);
        replay_all(from_snap, snap);
        ASSERT_EQ(from_log.snapshot(), snap) << "seed " << seed << " step " << step;
        ASSERT_EQ(from_snap.snapshot(), snap) << "seed " << seed << " step " << step;
        // What committing every open transaction (in producer order) would give, per the model.
        std::map<Key, ModelOffset> after = committed;
        for (int64_t p : producers)
          if (auto it = pending.find(p); it != pending.end())
            for (const auto& [k, v] : it->second) {
              auto c = after.find(k);
              if (c == after.end() || c->second.pos < v.pos) after[k] = v;
            }
        for (GroupCoordinator* c : {&from_log, &from_snap}) {
          for (int64_t p : producers) c->complete_transaction(p, true, h.now);
          for (const auto& gg : groups)
            for (int32_t p = 0; p < 3; ++p) {
              auto it = after.find(Key{gg, p});
              auto f = fetch_one(*c, gg, "t", p, true, h.now);
              ASSERT_EQ(f.error, Errc::kOk);
              ASSERT_EQ(f.offset, it == after.end() ? -1 : it->second.offset) << "seed " << seed << " step " << step;
            }
        }
      }
    }
  }
}
