#include <gtest/gtest.h>

#include "tests/group/harness.h"

using namespace sluice::group;
using namespace sluice::group::testing;

namespace {

// Brings a group with two dynamic members A (leader) and B to Stable; returns their ids and gen.
struct Pair {
  std::string a, b;
  int32_t gen = 0;
};

Pair stable_pair(Harness& h, const std::string& g) {
  Pair p;
  auto ja = h.join_new(g, "ca");
  EXPECT_TRUE(ja->ready());
  p.a = ja->value->member_id;
  auto sa = h.sync(g, ja->value->generation_id, p.a, {{p.a, "a1"}});
  EXPECT_TRUE(sa->ready());
  auto jb = h.join_new(g, "cb");
  EXPECT_FALSE(jb->ready());
  EXPECT_EQ(h.heartbeat(g, ja->value->generation_id, p.a), Errc::kRebalanceInProgress);
  auto ja2 = h.join(join_req(g, p.a, "ca"));
  EXPECT_TRUE(ja2->ready() && jb->ready());
  p.b = jb->value->member_id;
  p.gen = ja2->value->generation_id;
  auto sb = h.sync(g, p.gen, p.b);
  auto sa2 = h.sync(g, p.gen, p.a, {{p.a, "A"}, {p.b, "B"}});
  EXPECT_TRUE(sb->ready() && sa2->ready());
  EXPECT_EQ(h.state(g), GroupState::kStable);
  return p;
}

}  // namespace

TEST(GroupJoin, MemberIdRequiredRoundTrip) {
  Harness h;
  auto first = h.join(join_req("g", "", "my-client"));
  ASSERT_TRUE(first->ready());
  EXPECT_EQ(first->value->error, Errc::kMemberIdRequired);
  EXPECT_EQ(first->value->generation_id, -1);
  const std::string id = first->value->member_id;
  EXPECT_EQ(id.rfind("my-client-", 0), 0u) << id;
  EXPECT_EQ(id.size(), std::string("my-client-").size() + 36);
  EXPECT_EQ(h.state("g"), GroupState::kEmpty);  // pending members are not members

  auto second = h.join(join_req("g", id, "my-client"));
  ASSERT_TRUE(second->ready());
  EXPECT_EQ(second->calls, 1);
  EXPECT_EQ(second->value->error, Errc::kOk);
  EXPECT_EQ(second->value->member_id, id);
  EXPECT_EQ(second->value->generation_id, 1);
  EXPECT_EQ(second->value->leader, id);
  EXPECT_EQ(second->value->protocol_name, "range");
  EXPECT_EQ(second->value->protocol_type, "consumer");
  ASSERT_EQ(second->value->members.size(), 1u);
  EXPECT_EQ(second->value->members[0].metadata, "sub");
  EXPECT_EQ(h.state("g"), GroupState::kCompletingRebalance);

  // v3 and below: no member id dance.
  auto old = h.join(join_req("g2", "", "c", std::nullopt, protos({{"range", "x"}}), 10000, 30000, 3));
  ASSERT_TRUE(old->ready());
  EXPECT_EQ(old->value->error, Errc::kOk);
  EXPECT_EQ(old->value->generation_id, 1);
}

TEST(GroupJoin, PendingMemberExpiresAfterSessionTimeout) {
  Harness h;
  auto first = h.join(join_req("g", "", "c", std::nullopt, protos({{"range", "s"}}), 6000));
  const std::string id = first->value->member_id;
  // A second member that is pending holds the join phase open.
  auto a = h.join_new("g", "ca");
  ASSERT_FALSE(a->ready());
  EXPECT_EQ(h.state("g"), GroupState::kPreparingRebalance);
  h.advance(5999);
  EXPECT_FALSE(a->ready());
  h.advance(1);
  ASSERT_TRUE(a->ready());
  EXPECT_EQ(a->value->error, Errc::kOk);
  // The expired pending id is no longer accepted as a known member.
  auto late = h.join(join_req("g", id, "c"));
  ASSERT_TRUE(late->ready());
  EXPECT_EQ(late->value->error, Errc::kUnknownMember);
}

TEST(GroupJoin, StateTransitionsOfOneMember) {
  Harness h;
  EXPECT_FALSE(h.c.group_state("g").has_value());
  auto j = h.join_new("g", "c");
  ASSERT_TRUE(j->ready());
  EXPECT_EQ(h.state("g"), GroupState::kCompletingRebalance);
  const auto id = j->value->member_id;
  // Commit while CompletingRebalance is refused; heartbeat is fine.
  EXPECT_EQ(commit_error(h.commit("g", 1, id, "t", 0, 5)), Errc::kRebalanceInProgress);
  EXPECT_EQ(h.heartbeat("g", 1, id), Errc::kOk);
  auto s = h.sync("g", 1, id, {{id, "assign"}});
  ASSERT_TRUE(s->ready());
  EXPECT_EQ(s->value->error, Errc::kOk);
  EXPECT_EQ(s->value->assignment, "assign");
  EXPECT_EQ(s->value->protocol_name, "range");
  EXPECT_EQ(h.state("g"), GroupState::kStable);
  // Leader rejoin in Stable forces a rebalance; it completes at once (only member).
  auto j2 = h.join(join_req("g", id, "c"));
  ASSERT_TRUE(j2->ready());
  EXPECT_EQ(j2->value->generation_id, 2);
  EXPECT_EQ(h.state("g"), GroupState::kCompletingRebalance);
  // Leaving during CompletingRebalance: the group goes through PreparingRebalance to Empty.
  auto leave = h.c.leave_group(LeaveGroupRequest{"g", {{id, std::nullopt}}, 1}, h.now);
  EXPECT_EQ(leave.error, Errc::kOk);
  EXPECT_EQ(h.state("g"), GroupState::kEmpty);
  EXPECT_EQ(h.c.group_generation("g"), 3);
  // Empty group with no offsets disappears at the next purge (Dead).
  h.advance(600'000);
  EXPECT_FALSE(h.c.group_state("g").has_value());
}

TEST(GroupJoin, TwoMembersLeaderAssignsBothSync) {
  Harness h;
  auto ja = h.join_new("g", "ca");
  ASSERT_TRUE(ja->ready());
  const auto a = ja->value->member_id;
  ASSERT_TRUE(h.sync("g", 1, a, {{a, "solo"}})->ready());

  auto jb = h.join_new("g", "cb");
  EXPECT_FALSE(jb->ready());
  EXPECT_EQ(h.state("g"), GroupState::kPreparingRebalance);
  EXPECT_EQ(h.heartbeat("g", 1, a), Errc::kRebalanceInProgress);
  auto ja2 = h.join(join_req("g", a, "ca"));
  ASSERT_TRUE(ja2->ready());
  ASSERT_TRUE(jb->ready());
  const auto b = jb->value->member_id;
  EXPECT_EQ(ja2->value->generation_id, 2);
  EXPECT_EQ(jb->value->generation_id, 2);
  EXPECT_EQ(ja2->value->leader, a);
  EXPECT_EQ(jb->value->leader, a);
  EXPECT_EQ(ja2->value->members.size(), 2u);
  EXPECT_TRUE(jb->value->members.empty());

  // The follower waits for the leader.
  auto sb = h.sync("g", 2, b);
  EXPECT_FALSE(sb->ready());
  EXPECT_EQ(h.heartbeat("g", 2, b), Errc::kOk);
  // Wrong generation and unknown members are refused at once.
  EXPECT_EQ(h.sync("g", 1, a)->value->error, Errc::kIllegalGeneration);
  EXPECT_EQ(h.sync("g", 2, "nobody")->value->error, Errc::kUnknownMember);
  auto sa = h.sync("g", 2, a, {{a, "pa"}, {b, "pb"}, {"ghost", "x"}});
  ASSERT_TRUE(sa->ready() && sb->ready());
  EXPECT_EQ(sa->value->assignment, "pa");
  EXPECT_EQ(sb->value->assignment, "pb");
  EXPECT_EQ(sb->calls, 1);
  EXPECT_EQ(h.state("g"), GroupState::kStable);
  // A late sync in Stable returns the current assignment.
  auto sb2 = h.sync("g", 2, b);
  ASSERT_TRUE(sb2->ready());
  EXPECT_EQ(sb2->value->assignment, "pb");
}

TEST(GroupJoin, MissingAssignmentIsEmptyAndV5ProtocolChecked) {
  Harness h;
  Pair p = stable_pair(h, "g");
  SyncGroupRequest r;
  r.group_id = "g";
  r.generation_id = p.gen;
  r.member_id = p.b;
  r.protocol_type = "consumer";
  r.protocol_name = "roundrobin";
  std::optional<SyncGroupResponse> got;
  h.c.sync_group(
      r, [&](SyncGroupResponse s) { got = s; }, h.now);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->error, Errc::kInconsistentGroupProtocol);
  r.protocol_name = "range";
  got.reset();
  h.c.sync_group(
      r, [&](SyncGroupResponse s) { got = s; }, h.now);
  EXPECT_EQ(got->error, Errc::kOk);
  EXPECT_EQ(got->assignment, "B");
}

TEST(GroupJoin, ThirdMemberTriggersRebalanceAndOthersRejoin) {
  Harness h;
  Pair p = stable_pair(h, "g");
  auto jc = h.join_new("g", "cc");
  EXPECT_FALSE(jc->ready());
  EXPECT_EQ(h.state("g"), GroupState::kPreparingRebalance);
  EXPECT_EQ(h.heartbeat("g", p.gen, p.a), Errc::kRebalanceInProgress);
  EXPECT_EQ(h.heartbeat("g", p.gen, p.b), Errc::kRebalanceInProgress);
  // Stable-generation sync during the join phase.
  EXPECT_EQ(h.sync("g", p.gen, p.b)->value->error, Errc::kRebalanceInProgress);
  // Commits are still accepted while preparing.
  EXPECT_EQ(commit_error(h.commit("g", p.gen, p.a, "t", 0, 10)), Errc::kOk);
  auto jb = h.join(join_req("g", p.b, "cb"));
  EXPECT_FALSE(jb->ready());
  auto ja = h.join(join_req("g", p.a, "ca"));
  ASSERT_TRUE(ja->ready() && jb->ready() && jc->ready());
  EXPECT_EQ(ja->value->generation_id, p.gen + 1);
  EXPECT_EQ(ja->value->leader, p.a);
  EXPECT_EQ(ja->value->members.size(), 3u);
  EXPECT_EQ(h.heartbeat("g", p.gen, p.a), Errc::kIllegalGeneration);
  const auto c = jc->value->member_id;
  auto sc = h.sync("g", p.gen + 1, c);
  auto sb = h.sync("g", p.gen + 1, p.b);
  auto sa = h.sync("g", p.gen + 1, p.a, {{p.a, "1"}, {p.b, "2"}, {c, "3"}});
  ASSERT_TRUE(sa->ready() && sb->ready() && sc->ready());
  EXPECT_EQ(sc->value->assignment, "3");
  EXPECT_EQ(h.describe("g").members.size(), 3u);
}

TEST(GroupJoin, SessionTimeoutEvictsSilentMemberAndRebalances) {
  Harness h;
  Pair p = stable_pair(h, "g");
  // A keeps heartbeating, B is silent. Session is 10 s.
  for (int i = 0; i < 9; ++i) {
    h.advance(1000);
    EXPECT_EQ(h.heartbeat("g", p.gen, p.a), Errc::kOk);
  }
  EXPECT_EQ(h.state("g"), GroupState::kStable);
  h.advance(1000);
  EXPECT_EQ(h.state("g"), GroupState::kPreparingRebalance);
  EXPECT_EQ(h.heartbeat("g", p.gen, p.b), Errc::kUnknownMember);
  EXPECT_EQ(h.heartbeat("g", p.gen, p.a), Errc::kRebalanceInProgress);
  auto ja = h.join(join_req("g", p.a, "ca"));
  ASSERT_TRUE(ja->ready());
  EXPECT_EQ(ja->value->generation_id, p.gen + 1);
  ASSERT_EQ(ja->value->members.size(), 1u);
  EXPECT_EQ(ja->value->members[0].member_id, p.a);
}

TEST(GroupJoin, NextDeadlineTracksSessionExpiry) {
  Harness h;
  Pair p = stable_pair(h, "g");
  const int64_t t0 = h.now;
  EXPECT_LE(h.c.next_deadline_ms(), t0 + 10000);
  EXPECT_GT(h.c.next_deadline_ms(), t0);
  EXPECT_EQ(h.heartbeat("g", p.gen, p.a), Errc::kOk);
  EXPECT_EQ(h.heartbeat("g", p.gen, p.b), Errc::kOk);
  EXPECT_EQ(h.c.next_deadline_ms(), t0 + 10000);
  h.now = t0 + 9999;
  h.c.tick(h.now);
  EXPECT_EQ(h.state("g"), GroupState::kStable);
  h.now = t0 + 10000;
  h.c.tick(h.now);
  EXPECT_EQ(h.state("g"), GroupState::kEmpty);  // both expired, group emptied
}

TEST(GroupJoin, RebalanceTimeoutRemovesMembersThatDidNotRejoin) {
  Harness h;
  Pair p = stable_pair(h, "g");
  auto jc = h.join_new("g", "cc", protos({{"range", "sub"}}), 10000, 20000);
  ASSERT_FALSE(jc->ready());
  auto ja = h.join(join_req("g", p.a, "ca"));
  EXPECT_FALSE(ja->ready());
  // B keeps its session alive with heartbeats but never rejoins.
  for (int i = 0; i < 29; ++i) {
    h.advance(1000);
    EXPECT_EQ(h.heartbeat("g", p.gen, p.b), Errc::kRebalanceInProgress);
    EXPECT_FALSE(ja->ready());
  }
  h.advance(1000);  // 30 s = max rebalance timeout of the members
  ASSERT_TRUE(ja->ready() && jc->ready());
  EXPECT_EQ(ja->value->error, Errc::kOk);
  EXPECT_EQ(ja->value->members.size(), 2u);
  EXPECT_EQ(h.heartbeat("g", p.gen, p.b), Errc::kUnknownMember);
  EXPECT_EQ(h.describe("g").members.size(), 2u);
}

TEST(GroupJoin, PendingSyncTimeoutRemovesFollowerThatNeverSyncs) {
  Harness h;
  Pair p = stable_pair(h, "g");
  auto ja = h.join(join_req("g", p.a, "ca"));  // leader rejoin: rebalance
  auto jb = h.join(join_req("g", p.b, "cb"));
  ASSERT_TRUE(ja->ready() && jb->ready());
  const int32_t gen = ja->value->generation_id;
  auto sa = h.sync("g", gen, p.a, {{p.a, "x"}, {p.b, "y"}});
  ASSERT_TRUE(sa->ready());
  // B heartbeats but never sends SyncGroup: removed after the rebalance timeout (30 s).
  for (int i = 0; i < 29; ++i) {
    h.advance(1000);
    EXPECT_EQ(h.heartbeat("g", gen, p.b), Errc::kOk);
    EXPECT_EQ(h.heartbeat("g", gen, p.a), Errc::kOk);
  }
  h.advance(1000);
  EXPECT_EQ(h.heartbeat("g", gen, p.b), Errc::kUnknownMember);
  EXPECT_EQ(h.heartbeat("g", gen, p.a), Errc::kRebalanceInProgress);
}

TEST(GroupJoin, LeaderFailureDuringSyncFailsWaitingFollowers) {
  Harness h;
  Pair p = stable_pair(h, "g");
  auto ja = h.join(join_req("g", p.a, "ca"));
  auto jb = h.join(join_req("g", p.b, "cb"));
  const int32_t gen = ja->value->generation_id;
  auto sb = h.sync("g", gen, p.b);
  ASSERT_FALSE(sb->ready());
  auto res = h.c.leave_group(LeaveGroupRequest{"g", {{p.a, std::nullopt}}, 3}, h.now);
  EXPECT_EQ(res.members.at(0).error, Errc::kOk);
  ASSERT_TRUE(sb->ready());
  EXPECT_EQ(sb->value->error, Errc::kRebalanceInProgress);
  EXPECT_EQ(h.state("g"), GroupState::kPreparingRebalance);
  EXPECT_EQ(h.c.group_leader("g"), p.b);
  auto jb2 = h.join(join_req("g", p.b, "cb"));
  ASSERT_TRUE(jb2->ready());
  EXPECT_EQ(jb2->value->leader, p.b);
}

TEST(GroupJoin, RepeatedJoinInCompletingRebalanceReturnsSameGeneration) {
  Harness h;
  Pair p = stable_pair(h, "g");
  auto ja = h.join(join_req("g", p.a, "ca"));
  auto jb = h.join(join_req("g", p.b, "cb"));
  const int32_t gen = ja->value->generation_id;
  auto jb2 = h.join(join_req("g", p.b, "cb"));  // lost response: same metadata
  ASSERT_TRUE(jb2->ready());
  EXPECT_EQ(jb2->value->generation_id, gen);
  EXPECT_TRUE(jb2->value->members.empty());
  auto ja2 = h.join(join_req("g", p.a, "ca"));
  EXPECT_EQ(ja2->value->generation_id, gen);
  EXPECT_EQ(ja2->value->members.size(), 2u);
  EXPECT_EQ(h.state("g"), GroupState::kCompletingRebalance);
  // Changed metadata forces a new rebalance.
  auto jb3 = h.join(join_req("g", p.b, "cb", std::nullopt, protos({{"range", "other"}})));
  EXPECT_FALSE(jb3->ready());
  EXPECT_EQ(h.state("g"), GroupState::kPreparingRebalance);
}

TEST(GroupJoin, DuplicateJoinWhileWaitingAnswersTheFirst) {
  Harness h;
  Pair p = stable_pair(h, "g");
  auto jc = h.join_new("g", "cc");
  auto ja1 = h.join(join_req("g", p.a, "ca"));
  EXPECT_FALSE(ja1->ready());
  auto ja2 = h.join(join_req("g", p.a, "ca"));
  ASSERT_TRUE(ja1->ready());
  EXPECT_EQ(ja1->value->error, Errc::kRebalanceInProgress);
  EXPECT_FALSE(ja2->ready());
  auto jb = h.join(join_req("g", p.b, "cb"));
  ASSERT_TRUE(ja2->ready() && jb->ready() && jc->ready());
  EXPECT_EQ(ja1->calls, 1);
  EXPECT_EQ(ja2->calls, 1);
}

TEST(GroupJoin, ProtocolSelectionByVotesAndInconsistentProtocol) {
  Harness h;
  auto j1 =
      h.join(join_req("g", "", "c1", std::nullopt, protos({{"roundrobin", "1"}, {"range", "1"}}), 10000, 30000, 3));
  const auto m1 = j1->value->member_id;
  EXPECT_EQ(j1->value->protocol_name, "roundrobin");
  auto j2 =
      h.join(join_req("g", "", "c2", std::nullopt, protos({{"range", "2"}, {"roundrobin", "2"}}), 10000, 30000, 3));
  auto j3 = h.join(join_req("g", "", "c3", std::nullopt, protos({{"range", "3"}, {"sticky", "3"}}), 10000, 30000, 3));
  // c3 does not share roundrobin with c1... but all share range: accepted.
  EXPECT_FALSE(j3->ready());
  auto bad = h.join(join_req("g", "", "c4", std::nullopt, protos({{"sticky", "4"}}), 10000, 30000, 3));
  ASSERT_TRUE(bad->ready());
  EXPECT_EQ(bad->value->error, Errc::kInconsistentGroupProtocol);
  EXPECT_EQ(bad->value->member_id, "");
  auto wrong_type = join_req("g", "", "c5", std::nullopt, protos({{"range", "5"}}), 10000, 30000, 3);
  wrong_type.protocol_type = "connect";
  EXPECT_EQ(h.join(wrong_type)->value->error, Errc::kInconsistentGroupProtocol);
  auto j1b =
      h.join(join_req("g", m1, "c1", std::nullopt, protos({{"roundrobin", "1"}, {"range", "1"}}), 10000, 30000, 3));
  ASSERT_TRUE(j1b->ready() && j2->ready() && j3->ready());
  // Candidates: only range is common to all three. Votes: range x3.
  EXPECT_EQ(j1b->value->protocol_name, "range");
  EXPECT_EQ(j1b->value->members.at(0).metadata, "1");

  // Votes decide between several common protocols: 2 votes roundrobin vs 1 range.
  Harness h2;
  auto a =
      h2.join(join_req("v", "", "a", std::nullopt, protos({{"range", "a"}, {"roundrobin", "a"}}), 10000, 30000, 3));
  auto b =
      h2.join(join_req("v", "", "b", std::nullopt, protos({{"roundrobin", "b"}, {"range", "b"}}), 10000, 30000, 3));
  auto c =
      h2.join(join_req("v", "", "c", std::nullopt, protos({{"roundrobin", "c"}, {"range", "c"}}), 10000, 30000, 3));
  auto a2 = h2.join(join_req("v", a->value->member_id, "a", std::nullopt, protos({{"range", "a"}, {"roundrobin", "a"}}),
                             10000, 30000, 3));
  ASSERT_TRUE(a2->ready() && b->ready() && c->ready());
  EXPECT_EQ(a2->value->protocol_name, "roundrobin");
}

TEST(GroupJoin, RequestValidation) {
  Config cfg;
  cfg.max_group_size = 2;
  Harness h(cfg);
  EXPECT_EQ(h.join(join_req("", "", "c"))->value->error, Errc::kInvalidGroupId);
  EXPECT_EQ(h.join(join_req(std::string(256, 'x'), "", "c"))->value->error, Errc::kInvalidGroupId);
  EXPECT_EQ(h.join(join_req("g", "", "c", std::nullopt, protos({{"r", "m"}}), 5999))->value->error,
            Errc::kInvalidSessionTimeout);
  EXPECT_EQ(h.join(join_req("g", "", "c", std::nullopt, protos({{"r", "m"}}), 1800001))->value->error,
            Errc::kInvalidSessionTimeout);
  EXPECT_EQ(h.join(join_req("nogroup", "some-id", "c"))->value->error, Errc::kUnknownMember);
  EXPECT_EQ(h.join(join_req("g", "", "c", std::nullopt, {}))->value->error, Errc::kInconsistentGroupProtocol);
  EXPECT_EQ(h.heartbeat("", 1, "m"), Errc::kInvalidGroupId);
  EXPECT_EQ(h.heartbeat("nogroup", 1, "m"), Errc::kUnknownMember);

  // group.max.size = 2
  Pair p = stable_pair(h, "g");
  auto third = h.join(join_req("g", "", "cc"));
  ASSERT_TRUE(third->ready());
  EXPECT_EQ(third->value->error, Errc::kGroupFull);
  EXPECT_EQ(h.state("g"), GroupState::kStable);
  EXPECT_EQ(h.heartbeat("g", p.gen, p.a), Errc::kOk);
}

TEST(GroupJoin, OversizedMetadataAndAssignmentRejected) {
  Config cfg;
  cfg.max_member_metadata_bytes = 1000;
  cfg.max_assignment_bytes = 100;
  Harness h(cfg);
  auto big = h.join(join_req("g", "", "c", std::nullopt, {Protocol{"range", std::string(1000, 'm')}}));
  ASSERT_TRUE(big->ready());
  EXPECT_EQ(big->value->error, Errc::kInvalidRequest);
  EXPECT_FALSE(h.c.group_state("g").has_value());
  auto j = h.join_new("g", "c");
  const auto id = j->value->member_id;
  auto s = h.sync("g", 1, id, {{id, std::string(101, 'a')}});
  ASSERT_TRUE(s->ready());
  EXPECT_EQ(s->value->error, Errc::kInvalidRequest);
  EXPECT_EQ(h.state("g"), GroupState::kCompletingRebalance);
  auto ok = h.sync("g", 1, id, {{id, std::string(100, 'a')}});
  EXPECT_EQ(ok->value->error, Errc::kOk);
  // Offset metadata limit: per partition.
  OffsetCommitRequest r;
  r.group_id = "simple";
  r.topics.push_back(OffsetCommitTopic{"t",
                                       {OffsetCommitPartition{0, 1, -1, std::string(4096, 'x')},
                                        OffsetCommitPartition{1, 2, -1, std::string(4097, 'x')}}});
  auto res = h.c.commit_offsets(r, h.now);
  EXPECT_EQ(res.topics[0].partitions[0].error, Errc::kOk);
  EXPECT_EQ(res.topics[0].partitions[1].error, Errc::kMetadataTooLarge);
  auto f = h.fetch_all("simple");
  ASSERT_EQ(f.topics.size(), 1u);
  ASSERT_EQ(f.topics[0].partitions.size(), 1u);
}

TEST(GroupJoin, InitialRebalanceDelayGathersEarlyMembers) {
  Config cfg;
  cfg.initial_rebalance_delay_ms = 3000;
  Harness h(cfg);
  auto a = h.join_new("g", "ca");
  EXPECT_FALSE(a->ready());
  EXPECT_EQ(h.state("g"), GroupState::kPreparingRebalance);
  h.advance(2000);
  auto b = h.join_new("g", "cb");  // new member during the delay: extends it
  h.advance(1000);
  EXPECT_FALSE(a->ready());
  h.advance(2999);
  EXPECT_FALSE(a->ready());
  h.advance(1);
  ASSERT_TRUE(a->ready() && b->ready());
  EXPECT_EQ(a->value->generation_id, 1);
  EXPECT_EQ(b->value->generation_id, 1);
}

// ---- static membership ----

TEST(GroupStatic, RestartKeepsAssignmentWithoutRebalance) {
  Harness h;
  auto j1 = h.join(join_req("g", "", "c1", "inst-1"));
  ASSERT_TRUE(j1->ready());  // static members skip MEMBER_ID_REQUIRED
  const auto m1 = j1->value->member_id;
  EXPECT_EQ(m1.rfind("inst-1-", 0), 0u);
  h.sync("g", 1, m1, {{m1, "solo"}}, "inst-1");
  auto j2 = h.join(join_req("g", "", "c2", "inst-2"));
  auto j1b = h.join(join_req("g", m1, "c1", "inst-1"));
  ASSERT_TRUE(j1b->ready() && j2->ready());
  const auto m2 = j2->value->member_id;
  const int32_t gen = j1b->value->generation_id;
  ASSERT_EQ(j1b->value->members.size(), 2u);
  EXPECT_EQ(j1b->value->members[1].group_instance_id, "inst-2");
  h.sync("g", gen, m2, {}, "inst-2");
  h.sync("g", gen, m1, {{m1, "A1"}, {m2, "A2"}}, "inst-1");
  ASSERT_EQ(h.state("g"), GroupState::kStable);
  const size_t records_before = h.log.size();

  // inst-2 restarts: empty member id, same instance id and protocols.
  auto r2 = h.join(join_req("g", "", "c2", "inst-2"));
  ASSERT_TRUE(r2->ready());
  EXPECT_EQ(r2->value->error, Errc::kOk);
  const auto m2b = r2->value->member_id;
  EXPECT_NE(m2b, m2);
  EXPECT_EQ(r2->value->generation_id, gen);
  EXPECT_EQ(r2->value->leader, m1);
  EXPECT_TRUE(r2->value->members.empty());
  EXPECT_EQ(h.state("g"), GroupState::kStable);
  EXPECT_EQ(h.c.group_generation("g"), gen);
  EXPECT_EQ(h.log.size(), records_before + 1);  // the new member id is persisted
  auto s2 = h.sync("g", gen, m2b, {}, "inst-2");
  ASSERT_TRUE(s2->ready());
  EXPECT_EQ(s2->value->assignment, "A2");
  EXPECT_EQ(h.heartbeat("g", gen, m1, "inst-1"), Errc::kOk);  // nobody else rebalanced
  // The old incarnation is fenced.
  EXPECT_EQ(h.heartbeat("g", gen, m2, "inst-2"), Errc::kFencedInstance);
  EXPECT_EQ(h.heartbeat("g", gen, m2), Errc::kUnknownMember);
  EXPECT_EQ(h.join(join_req("g", m2, "c2", "inst-2"))->value->error, Errc::kFencedInstance);
  EXPECT_EQ(h.sync("g", gen, m2, {}, "inst-2")->value->error, Errc::kFencedInstance);
  EXPECT_EQ(commit_error(h.commit("g", gen, m2, "t", 0, 1)), Errc::kUnknownMember);
  EXPECT_EQ(h.heartbeat("g", gen, m2b, "inst-unknown"), Errc::kUnknownMember);

  // The leader restarts: it is told the previous leader id, so it does not reassign.
  auto r1 = h.join(join_req("g", "", "c1", "inst-1"));
  ASSERT_TRUE(r1->ready());
  const auto m1b = r1->value->member_id;
  EXPECT_EQ(r1->value->leader, m1);
  EXPECT_NE(r1->value->leader, m1b);
  EXPECT_EQ(h.c.group_leader("g"), m1b);
  EXPECT_EQ(h.sync("g", gen, m1b, {}, "inst-1")->value->assignment, "A1");
  EXPECT_EQ(h.state("g"), GroupState::kStable);
  auto d = h.describe("g");
  ASSERT_EQ(d.members.size(), 2u);
  EXPECT_EQ(d.members[0].group_instance_id, "inst-1");
}

TEST(GroupStatic, RejoinWithNewProtocolRebalancesAndFencesWaitingOldIncarnation) {
  Harness h;
  const auto p1 = protos({{"roundrobin", "1"}, {"range", "1"}});
  auto j1 = h.join(join_req("g", "", "c1", "i1", p1));
  const auto m1 = j1->value->member_id;
  EXPECT_EQ(j1->value->protocol_name, "roundrobin");
  h.sync("g", 1, m1, {{m1, "x"}}, "i1");
  auto j2 = h.join(join_req("g", "", "c2", "i2"));
  EXPECT_FALSE(j2->ready());
  // i2 restarts while its first join still waits: the old request is fenced.
  auto j2b = h.join(join_req("g", "", "c2", "i2"));
  ASSERT_TRUE(j2->ready());
  EXPECT_EQ(j2->value->error, Errc::kFencedInstance);
  EXPECT_FALSE(j2b->ready());
  auto j1b = h.join(join_req("g", m1, "c1", "i1", p1));
  ASSERT_TRUE(j1b->ready() && j2b->ready());
  const int32_t gen = j1b->value->generation_id;
  EXPECT_EQ(j1b->value->protocol_name, "range");  // the only common protocol
  const auto m2b = j2b->value->member_id;
  auto s2 = h.sync("g", gen, m2b, {}, "i2");
  EXPECT_FALSE(s2->ready());
  // i2 restarts again while waiting for its assignment: fenced, and the group rebalances.
  auto j2c = h.join(join_req("g", "", "c2", "i2"));
  ASSERT_TRUE(s2->ready());
  EXPECT_EQ(s2->value->error, Errc::kFencedInstance);
  EXPECT_FALSE(j2c->ready());
  EXPECT_EQ(h.state("g"), GroupState::kPreparingRebalance);
  auto j1c = h.join(join_req("g", m1, "c1", "i1", p1));
  ASSERT_TRUE(j1c->ready() && j2c->ready());
  const int32_t gen2 = j1c->value->generation_id;
  EXPECT_EQ(gen2, gen + 1);
  const auto m2c = j2c->value->member_id;
  h.sync("g", gen2, m2c, {}, "i2");
  h.sync("g", gen2, m1, {{m1, "a"}, {m2c, "b"}}, "i1");
  ASSERT_EQ(h.state("g"), GroupState::kStable);

  // Same protocols: no rebalance (tested elsewhere). A restart whose protocols change the
  // selection (now both prefer roundrobin) triggers a rebalance instead.
  auto j2d = h.join(join_req("g", "", "c2", "i2", protos({{"roundrobin", "2"}, {"range", "2"}})));
  EXPECT_FALSE(j2d->ready());
  EXPECT_EQ(h.state("g"), GroupState::kPreparingRebalance);
  EXPECT_EQ(h.heartbeat("g", gen2, m1, "i1"), Errc::kRebalanceInProgress);
  auto j1d = h.join(join_req("g", m1, "c1", "i1", p1));
  ASSERT_TRUE(j1d->ready() && j2d->ready());
  EXPECT_EQ(j1d->value->protocol_name, "roundrobin");
  EXPECT_EQ(j1d->value->generation_id, gen2 + 1);
}

TEST(GroupStatic, StaticMemberNotRejoiningStaysAndLeaveByInstanceId) {
  Harness h;
  auto j1 = h.join(join_req("g", "", "c1", "i1"));
  const auto m1 = j1->value->member_id;
  h.sync("g", 1, m1, {{m1, "x"}}, "i1");
  auto j2 = h.join(join_req("g", "", "c2", "i2", protos({{"range", "sub"}}), 10000, 5000));
  EXPECT_FALSE(j2->ready());
  // i1 does not rejoin within the rebalance timeout (30 s for i1); static members stay.
  for (int i = 0; i < 30; ++i) {
    h.advance(1000);
    h.heartbeat("g", 1, m1, "i1");
  }
  ASSERT_TRUE(j2->ready());
  EXPECT_EQ(j2->value->error, Errc::kOk);
  EXPECT_EQ(j2->value->leader, j2->value->member_id);  // i1 did not rejoin: i2 leads
  EXPECT_EQ(j2->value->members.size(), 2u);
  EXPECT_EQ(h.heartbeat("g", 1, m1, "i1"), Errc::kIllegalGeneration);

  // Administrative leave by instance id (empty member id), plus unknown ones.
  LeaveGroupRequest lr{"g", {{"", "i1"}, {"", "nope"}, {"bogus", std::nullopt}}, 3};
  auto res = h.c.leave_group(lr, h.now);
  EXPECT_EQ(res.error, Errc::kOk);
  ASSERT_EQ(res.members.size(), 3u);
  EXPECT_EQ(res.members[0].error, Errc::kOk);
  EXPECT_EQ(res.members[1].error, Errc::kUnknownMember);
  EXPECT_EQ(res.members[2].error, Errc::kUnknownMember);
  EXPECT_EQ(h.describe("g").members.size(), 1u);
  EXPECT_EQ(h.state("g"), GroupState::kPreparingRebalance);
}

TEST(GroupLeave, BatchLeaveAndLegacyErrors) {
  Harness h;
  Pair p = stable_pair(h, "g");
  auto jc = h.join_new("g", "cc");
  auto ja = h.join(join_req("g", p.a, "ca"));
  auto jb = h.join(join_req("g", p.b, "cb"));
  ASSERT_TRUE(jc->ready());
  const int32_t gen = ja->value->generation_id;
  const auto c = jc->value->member_id;
  h.sync("g", gen, p.a, {{p.a, "1"}, {p.b, "2"}, {c, "3"}});
  h.sync("g", gen, p.b);
  h.sync("g", gen, c);
  ASSERT_EQ(h.state("g"), GroupState::kStable);
  // Pending member id leaving is fine too.
  auto pend = h.join(join_req("g", "", "cd"));
  const auto d = pend->value->member_id;

  LeaveGroupRequest lr{
      "g", {{p.a, std::nullopt}, {c, std::nullopt}, {d, std::nullopt}, {"zzz", std::nullopt}, {p.b, "not-static"}}, 3};
  auto res = h.c.leave_group(lr, h.now);
  EXPECT_EQ(res.error, Errc::kOk);
  ASSERT_EQ(res.members.size(), 5u);
  EXPECT_EQ(res.members[0].error, Errc::kOk);
  EXPECT_EQ(res.members[1].error, Errc::kOk);
  EXPECT_EQ(res.members[2].error, Errc::kOk);
  EXPECT_EQ(res.members[3].error, Errc::kUnknownMember);
  EXPECT_EQ(res.members[4].error, Errc::kUnknownMember);
  EXPECT_EQ(h.state("g"), GroupState::kPreparingRebalance);
  EXPECT_EQ(h.c.group_leader("g"), p.b);
  auto jb2 = h.join(join_req("g", p.b, "cb"));
  ASSERT_TRUE(jb2->ready());
  EXPECT_EQ(jb2->value->members.size(), 1u);

  // v0-2: the member error is the top-level error.
  auto legacy = h.c.leave_group(LeaveGroupRequest{"g", {{"zzz", std::nullopt}}, 1}, h.now);
  EXPECT_EQ(legacy.error, Errc::kUnknownMember);
  auto nogroup = h.c.leave_group(LeaveGroupRequest{"nope", {{"x", std::nullopt}}, 0}, h.now);
  EXPECT_EQ(nogroup.error, Errc::kUnknownMember);
  EXPECT_EQ(h.c.leave_group(LeaveGroupRequest{"", {{"x", std::nullopt}}, 3}, h.now).error, Errc::kInvalidGroupId);
}

TEST(GroupLeave, LeaveWhileJoiningAnswersTheJoin) {
  Harness h;
  Pair p = stable_pair(h, "g");
  auto jc = h.join_new("g", "cc");
  ASSERT_FALSE(jc->ready());
  const auto c = h.describe("g").members.at(2).member_id;
  auto res = h.c.leave_group(LeaveGroupRequest{"g", {{c, std::nullopt}}, 3}, h.now);
  EXPECT_EQ(res.members[0].error, Errc::kOk);
  ASSERT_TRUE(jc->ready());
  EXPECT_EQ(jc->value->error, Errc::kUnknownMember);
  (void)p;
}

// ---- offsets ----

TEST(GroupOffsets, CommitValidation) {
  Harness h;
  EXPECT_EQ(commit_error(h.commit("nogroup", 3, "m", "t", 0, 1)), Errc::kIllegalGeneration);
  EXPECT_FALSE(h.c.group_state("nogroup").has_value());
  Pair p = stable_pair(h, "g");
  EXPECT_EQ(commit_error(h.commit("g", p.gen, p.a, "t", 0, 1)), Errc::kOk);
  EXPECT_EQ(commit_error(h.commit("g", p.gen - 1, p.a, "t", 0, 1)), Errc::kIllegalGeneration);
  EXPECT_EQ(commit_error(h.commit("g", p.gen, "stranger", "t", 0, 1)), Errc::kUnknownMember);
  EXPECT_EQ(commit_error(h.commit("g", -1, "", "t", 0, 1)), Errc::kUnknownMember);  // simple commit, non-empty group
  EXPECT_EQ(commit_error(h.commit("g", -1, p.a, "t", 0, 1)), Errc::kIllegalGeneration);
  // CompletingRebalance: refused; PreparingRebalance: accepted.
  auto ja = h.join(join_req("g", p.a, "ca"));
  EXPECT_EQ(commit_error(h.commit("g", p.gen, p.b, "t", 1, 7)), Errc::kOk);
  auto jb = h.join(join_req("g", p.b, "cb"));
  ASSERT_TRUE(ja->ready() && jb->ready());
  EXPECT_EQ(commit_error(h.commit("g", p.gen + 1, p.b, "t", 1, 8)), Errc::kRebalanceInProgress);
  EXPECT_EQ(commit_error(h.commit(std::string(300, 'g'), -1, "", "t", 0, 1)), Errc::kInvalidGroupId);
  auto f = h.fetch_all("g");
  ASSERT_EQ(f.topics.size(), 1u);
  ASSERT_EQ(f.topics[0].partitions.size(), 2u);
  EXPECT_EQ(f.topics[0].partitions[1].offset, 7);
}

TEST(GroupOffsets, CommitKeepsMemberAlive) {
  Harness h;
  Pair p = stable_pair(h, "g");
  for (int i = 0; i < 5; ++i) {
    h.advance(5000);
    EXPECT_EQ(commit_error(h.commit("g", p.gen, p.a, "t", 0, i)), Errc::kOk);
    EXPECT_EQ(commit_error(h.commit("g", p.gen, p.b, "t", 1, i)), Errc::kOk);
  }
  EXPECT_EQ(h.state("g"), GroupState::kStable);
}

TEST(GroupOffsets, SimpleCommitsAndFetch) {
  Harness h;
  OffsetCommitRequest r;
  r.group_id = "simple";
  r.topics.push_back(OffsetCommitTopic{"b", {{2, 20, 5, "meta-b2"}, {0, 10, -1, std::nullopt}}});
  r.topics.push_back(OffsetCommitTopic{"a", {{0, 1, -1, "m"}}});
  auto res = h.c.commit_offsets(r, h.now);
  ASSERT_EQ(res.topics.size(), 2u);
  EXPECT_EQ(res.topics[0].name, "b");
  EXPECT_EQ(res.topics[0].partitions[1].partition, 0);
  EXPECT_EQ(h.state("simple"), GroupState::kEmpty);
  auto d = h.describe("simple");
  EXPECT_EQ(d.state, "Empty");
  EXPECT_EQ(d.protocol_type, "");

  auto all = h.fetch_all("simple");
  EXPECT_EQ(all.error, Errc::kOk);
  ASSERT_EQ(all.topics.size(), 2u);
  EXPECT_EQ(all.topics[0].name, "a");
  EXPECT_EQ(all.topics[1].name, "b");
  ASSERT_EQ(all.topics[1].partitions.size(), 2u);
  EXPECT_EQ(all.topics[1].partitions[0].partition, 0);
  EXPECT_EQ(all.topics[1].partitions[0].metadata, "");
  EXPECT_EQ(all.topics[1].partitions[1].offset, 20);
  EXPECT_EQ(all.topics[1].partitions[1].leader_epoch, 5);
  EXPECT_EQ(all.topics[1].partitions[1].metadata, "meta-b2");

  OffsetFetchRequest fr;
  fr.group_id = "simple";
  fr.topics = std::vector<OffsetFetchTopic>{{"b", {2, 9}}, {"zz", {0}}};
  auto some = h.c.fetch_offsets(fr, h.now);
  ASSERT_EQ(some.topics.size(), 2u);
  EXPECT_EQ(some.topics[0].partitions[0].offset, 20);
  EXPECT_EQ(some.topics[0].partitions[1].offset, -1);
  EXPECT_EQ(some.topics[0].partitions[1].leader_epoch, -1);
  EXPECT_EQ(some.topics[1].partitions[0].offset, -1);
  fr.group_id = "unknown-group";
  auto unk = h.c.fetch_offsets(fr, h.now);
  EXPECT_EQ(unk.topics.size(), 2u);
  EXPECT_EQ(unk.topics[0].partitions[0].offset, -1);
  EXPECT_TRUE(h.fetch_all("unknown-group").topics.empty());
  EXPECT_FALSE(h.c.group_state("unknown-group").has_value());

  // The empty group id is allowed for offsets (Kafka compatibility).
  EXPECT_EQ(commit_error(h.commit("", -1, "", "t", 0, 3)), Errc::kOk);
  EXPECT_EQ(h.fetch_all("").topics.at(0).partitions.at(0).offset, 3);

  // A simple group can later be used with group management.
  auto j = h.join_new("simple", "c");
  ASSERT_TRUE(j->ready());
  EXPECT_EQ(j->value->generation_id, 1);
  EXPECT_EQ(h.describe("simple").protocol_type, "consumer");
}

TEST(GroupOffsets, ExpiryOfSimpleAndEmptyGroups) {
  Config cfg;
  cfg.offsets_retention_ms = 100'000;
  cfg.offsets_retention_check_interval_ms = 1'000;
  Harness h(cfg);
  h.c.tick(h.now);
  EXPECT_EQ(commit_error(h.commit("simple", -1, "", "t", 0, 1)), Errc::kOk);
  h.advance(50'000);
  EXPECT_EQ(commit_error(h.commit("simple", -1, "", "t", 1, 1)), Errc::kOk);
  EXPECT_EQ(commit_error(h.commit("simple", -1, "", "short", 0, 1, std::nullopt, 10'000)), Errc::kOk);
  h.advance(10'000);  // explicit retention (v2-v4) expired
  {
    auto f = h.fetch_all("simple");
    ASSERT_EQ(f.topics.size(), 1u);
    EXPECT_EQ(f.topics[0].name, "t");
  }
  h.advance(40'000);  // t-0 is 100 s old
  {
    auto f = h.fetch_all("simple");
    ASSERT_EQ(f.topics.size(), 1u);
    ASSERT_EQ(f.topics[0].partitions.size(), 1u);
    EXPECT_EQ(f.topics[0].partitions[0].partition, 1);
  }
  h.advance(50'000);
  EXPECT_TRUE(h.fetch_all("simple").topics.empty());
  EXPECT_FALSE(h.c.group_state("simple").has_value());  // Dead and removed
  // Tombstones were emitted for each expired offset.
  int tombstones = 0;
  for (const auto& r : h.log) tombstones += r.value ? 0 : 1;
  EXPECT_EQ(tombstones, 3);

  // Consumer group: offsets are kept while it has members, expire retention after it emptied.
  Pair p = stable_pair(h, "cg");
  EXPECT_EQ(commit_error(h.commit("cg", p.gen, p.a, "t", 0, 5)), Errc::kOk);
  for (int i = 0; i < 150; ++i) {
    h.advance(1000);
    h.heartbeat("cg", p.gen, p.a);
    h.heartbeat("cg", p.gen, p.b);
  }
  EXPECT_EQ(h.fetch_all("cg").topics.size(), 1u);
  h.c.leave_group(LeaveGroupRequest{"cg", {{p.a, std::nullopt}, {p.b, std::nullopt}}, 3}, h.now);
  EXPECT_EQ(h.state("cg"), GroupState::kEmpty);
  h.advance(99'000);
  EXPECT_EQ(h.fetch_all("cg").topics.size(), 1u);
  h.advance(1'000);
  EXPECT_TRUE(h.fetch_all("cg").topics.empty());
  EXPECT_FALSE(h.c.group_state("cg").has_value());
  // Group tombstone for a group that had generations.
  ASSERT_FALSE(h.log.back().value.has_value());
  auto k = decode_record_key(h.log.back().key);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->type, RecordType::kGroup);
}

// ---- admin ----

TEST(GroupAdmin, DescribeListDelete) {
  Harness h;
  Pair p = stable_pair(h, "stable");
  auto j = h.join_new("preparing", "c");
  auto j2 = h.join_new("preparing", "c2");
  EXPECT_EQ(commit_error(h.commit("empty", -1, "", "t", 0, 1)), Errc::kOk);

  auto d = h.c.describe_groups({"stable", "preparing", "empty", "missing"}, h.now);
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0].state, "Stable");
  EXPECT_EQ(d[0].protocol_type, "consumer");
  EXPECT_EQ(d[0].protocol, "range");
  ASSERT_EQ(d[0].members.size(), 2u);
  EXPECT_EQ(d[0].members[0].member_id, p.a);
  EXPECT_EQ(d[0].members[0].client_id, "ca");
  EXPECT_EQ(d[0].members[0].client_host, "/127.0.0.1");
  EXPECT_EQ(d[0].members[0].metadata, "sub");
  EXPECT_EQ(d[0].members[0].assignment, "A");
  EXPECT_EQ(d[0].members[1].assignment, "B");
  EXPECT_EQ(d[1].state, "PreparingRebalance");
  EXPECT_EQ(d[1].protocol, "");
  EXPECT_EQ(d[1].members.at(0).metadata, "");
  EXPECT_EQ(d[2].state, "Empty");
  EXPECT_EQ(d[3].state, "Dead");
  EXPECT_EQ(d[3].error, Errc::kOk);
  EXPECT_TRUE(d[3].members.empty());

  auto l = h.c.list_groups({}, h.now);
  ASSERT_EQ(l.groups.size(), 3u);
  EXPECT_EQ(l.groups[0], (ListedGroup{"empty", "", "Empty"}));
  EXPECT_EQ(l.groups[1], (ListedGroup{"preparing", "consumer", "PreparingRebalance"}));
  EXPECT_EQ(l.groups[2], (ListedGroup{"stable", "consumer", "Stable"}));
  auto ls = h.c.list_groups({"Stable", "Empty"}, h.now);
  ASSERT_EQ(ls.groups.size(), 2u);
  EXPECT_EQ(ls.groups[1].group_id, "stable");

  auto del = h.c.delete_groups({"stable", "missing", "empty", "preparing", "empty"}, h.now);
  ASSERT_EQ(del.size(), 4u);
  EXPECT_EQ(del[0].error, Errc::kGroupNotEmpty);
  EXPECT_EQ(del[1].error, Errc::kGroupNotFound);
  EXPECT_EQ(del[2].error, Errc::kOk);
  EXPECT_EQ(del[3].error, Errc::kGroupNotEmpty);
  EXPECT_FALSE(h.c.group_state("empty").has_value());
  EXPECT_FALSE(h.log.back().value.has_value());  // offset tombstone
  EXPECT_TRUE(h.fetch_all("empty").topics.empty());

  // A consumer group that emptied can be deleted: offsets and group record are tombstoned.
  EXPECT_EQ(commit_error(h.commit("stable", p.gen, p.a, "t", 0, 9)), Errc::kOk);
  h.c.leave_group(LeaveGroupRequest{"stable", {{p.a, std::nullopt}, {p.b, std::nullopt}}, 3}, h.now);
  ASSERT_EQ(h.state("stable"), GroupState::kEmpty);
  const size_t before = h.log.size();
  auto del2 = h.c.delete_groups({"stable"}, h.now);
  EXPECT_EQ(del2[0].error, Errc::kOk);
  ASSERT_EQ(h.log.size(), before + 2);
  EXPECT_FALSE(h.log[before].value.has_value());
  EXPECT_FALSE(h.log[before + 1].value.has_value());
  (void)j;
  (void)j2;
}

TEST(GroupCallbacks, EveryCallbackRunsExactlyOnce) {
  auto h = std::make_unique<Harness>();
  Pair p = stable_pair(*h, "g");
  auto ja = h->join(join_req("g", p.a, "ca"));
  auto jb = h->join(join_req("g", p.b, "cb"));
  const int32_t gen = ja->value->generation_id;
  // A second SyncGroup while the first waits answers the first.
  auto s1 = h->sync("g", gen, p.b);
  auto s2 = h->sync("g", gen, p.b);
  ASSERT_TRUE(s1->ready());
  EXPECT_EQ(s1->value->error, Errc::kRebalanceInProgress);
  EXPECT_FALSE(s2->ready());
  // A member waiting in a join phase when the coordinator goes away is answered too.
  // (A new member starts a rebalance: the waiting SyncGroup is told to rejoin.)
  auto jc = h->join_new("g", "cc");
  EXPECT_FALSE(jc->ready());
  ASSERT_TRUE(s2->ready());
  EXPECT_EQ(s2->value->error, Errc::kRebalanceInProgress);
  h.reset();
  ASSERT_TRUE(jc->ready());
  EXPECT_EQ(jc->value->error, Errc::kCoordinatorNotAvailable);
  EXPECT_EQ(s1->calls + s2->calls + jc->calls + ja->calls + jb->calls, 5);
}

TEST(GroupCallbacks, CallbackMayReenterTheCoordinator) {
  Harness h;
  std::optional<SyncGroupResponse> synced;
  // The join callback immediately sends SyncGroup from inside the callback.
  JoinGroupRequest r = join_req("g", "", "c", std::nullopt, protos({{"range", "s"}}), 10000, 30000, 3);
  h.c.join_group(
      r,
      [&](JoinGroupResponse resp) {
        ASSERT_EQ(resp.error, Errc::kOk);
        SyncGroupRequest s{"g",          resp.generation_id,        resp.member_id, std::nullopt, std::nullopt,
                           std::nullopt, {{resp.member_id, "mine"}}};
        h.c.sync_group(
            s, [&](SyncGroupResponse sr) { synced = sr; }, h.now);
      },
      h.now);
  ASSERT_TRUE(synced);
  EXPECT_EQ(synced->assignment, "mine");
  EXPECT_EQ(h.state("g"), GroupState::kStable);
}

TEST(GroupRecordsEmitted, GroupAndOffsetRecordsAtKafkaPoints) {
  Harness h;
  auto j = h.join_new("g", "c");
  EXPECT_TRUE(h.log.empty());  // join phase is not persisted
  const auto id = j->value->member_id;
  h.sync("g", 1, id, {{id, "asg"}});
  ASSERT_EQ(h.log.size(), 1u);
  auto k = decode_record_key(h.log[0].key);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->type, RecordType::kGroup);
  auto v = decode_group_value(*h.log[0].value);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->generation, 1);
  EXPECT_EQ(v->protocol, "range");
  EXPECT_EQ(v->leader, id);
  ASSERT_EQ(v->members.size(), 1u);
  EXPECT_EQ(v->members[0].assignment, "asg");
  EXPECT_EQ(v->members[0].subscription, "sub");
  EXPECT_EQ(v->members[0].session_timeout_ms, 10000);
  EXPECT_EQ(commit_error(h.commit("g", 1, id, "t", 4, 44, "md")), Errc::kOk);
  ASSERT_EQ(h.log.size(), 2u);
  auto ok = decode_record_key(h.log[1].key);
  EXPECT_EQ(ok->topic, "t");
  EXPECT_EQ(ok->partition, 4);
  auto ov = decode_offset_value(*h.log[1].value);
  EXPECT_EQ(ov->offset, 44);
  EXPECT_EQ(ov->metadata, "md");
  EXPECT_EQ(ov->commit_timestamp_ms, h.now);
  h.c.leave_group(LeaveGroupRequest{"g", {{id, std::nullopt}}, 3}, h.now);
  ASSERT_EQ(h.log.size(), 3u);
  auto ev = decode_group_value(*h.log[2].value);
  EXPECT_EQ(ev->generation, 2);
  EXPECT_TRUE(ev->members.empty());
  EXPECT_FALSE(ev->protocol.has_value());
  EXPECT_EQ(ev->protocol_type, "consumer");
}

namespace {

// ConsumerProtocolSubscription v0: int16 version, [string] topics, bytes user data (null).
std::string subscription(std::initializer_list<std::string> topics) {
  std::string out;
  auto be = [&](uint32_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  be(0, 2);
  be(static_cast<uint32_t>(topics.size()), 4);
  for (const auto& t : topics) {
    be(static_cast<uint32_t>(t.size()), 2);
    out += t;
  }
  be(0xffffffffu, 4);
  return out;
}

OffsetDeleteResult delete_offsets(Harness& h, const std::string& group, std::vector<OffsetFetchTopic> topics) {
  return h.c.delete_offsets(OffsetDeleteRequest{group, std::move(topics)}, h.now);
}

}  // namespace

// KIP-496: a Stable consumer group keeps the offsets of topics its members subscribe to and loses
// the others; the deletions are tombstones, so a coordinator replaying the log agrees.
TEST(GroupAdmin, OffsetDeleteKeepsSubscribedTopicsAndIsDurable) {
  Harness h;
  const std::string sub = subscription({"orders"});
  auto j = h.join_new("g", "c", {Protocol{"range", sub}});
  ASSERT_TRUE(j->ready());
  const std::string m = j->value->member_id;
  const int32_t gen = j->value->generation_id;
  ASSERT_TRUE(h.sync("g", gen, m, {{m, "a"}})->ready());
  ASSERT_EQ(h.state("g"), GroupState::kStable);
  EXPECT_EQ(commit_error(h.commit("g", gen, m, "orders", 0, 10)), Errc::kOk);
  EXPECT_EQ(commit_error(h.commit("g", gen, m, "old", 0, 20)), Errc::kOk);
  EXPECT_EQ(commit_error(h.commit("g", gen, m, "old", 1, 21)), Errc::kOk);

  auto r = delete_offsets(h, "g", {{"orders", {0}}, {"old", {0, 5}}});
  EXPECT_EQ(r.error, Errc::kOk);
  ASSERT_EQ(r.topics.size(), 2u);
  EXPECT_EQ(r.topics[0].name, "orders");
  ASSERT_EQ(r.topics[0].partitions.size(), 1u);
  EXPECT_EQ(r.topics[0].partitions[0].error, Errc::kGroupSubscribedToTopic);
  ASSERT_EQ(r.topics[1].partitions.size(), 2u);
  EXPECT_EQ(r.topics[1].partitions[0].error, Errc::kOk);
  EXPECT_EQ(r.topics[1].partitions[1].error, Errc::kOk);  // no offset: nothing to delete
  EXPECT_FALSE(h.log.back().value.has_value());           // the tombstone of old-0

  auto left = h.fetch_all("g");
  ASSERT_EQ(left.topics.size(), 2u);
  EXPECT_EQ(left.topics[0].name, "old");
  ASSERT_EQ(left.topics[0].partitions.size(), 1u);
  EXPECT_EQ(left.topics[0].partitions[0].partition, 1);
  EXPECT_EQ(left.topics[1].name, "orders");

  GroupCoordinator replayed;
  for (const auto& rec : h.log) ASSERT_TRUE(replayed.replay(rec).ok());
  OffsetFetchRequest all;
  all.group_id = "g";
  EXPECT_EQ(replayed.fetch_offsets(all, h.now), left);

  // Errors: unknown and invalid groups.
  EXPECT_EQ(delete_offsets(h, "missing", {{"old", {1}}}).error, Errc::kGroupNotFound);
  EXPECT_TRUE(delete_offsets(h, "missing", {{"old", {1}}}).topics.empty());
  EXPECT_EQ(delete_offsets(h, "", {{"old", {1}}}).error, Errc::kInvalidGroupId);
}

// An Empty group may lose any offset; left without offsets it is removed, as Kafka's cleanup does.
TEST(GroupAdmin, OffsetDeleteOfAnEmptyGroupRemovesItWhenNoOffsetIsLeft) {
  Harness h;
  EXPECT_EQ(commit_error(h.commit("simple", -1, "", "t", 0, 1)), Errc::kOk);
  EXPECT_EQ(commit_error(h.commit("simple", -1, "", "t", 1, 2)), Errc::kOk);
  auto r = delete_offsets(h, "simple", {{"t", {0}}});
  EXPECT_EQ(r.error, Errc::kOk);
  EXPECT_EQ(r.topics.at(0).partitions.at(0).error, Errc::kOk);
  EXPECT_EQ(h.state("simple"), GroupState::kEmpty);
  r = delete_offsets(h, "simple", {{"t", {1}}});
  EXPECT_EQ(r.topics.at(0).partitions.at(0).error, Errc::kOk);
  EXPECT_FALSE(h.c.group_state("simple").has_value());
  EXPECT_EQ(delete_offsets(h, "simple", {{"t", {1}}}).error, Errc::kGroupNotFound);
}
