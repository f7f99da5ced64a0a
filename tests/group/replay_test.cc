#include <gtest/gtest.h>

#include "tests/group/harness.h"

using namespace sluice::group;
using namespace sluice::group::testing;

namespace {

struct View {
  std::vector<DescribedGroup> groups;
  std::vector<OffsetFetchResult> offsets;
  std::vector<ListedGroup> listed;
  bool operator==(const View&) const = default;
};

View view(GroupCoordinator& c, const std::vector<std::string>& ids, int64_t now) {
  View v;
  v.groups = c.describe_groups(ids, now);
  for (const auto& id : ids) {
    OffsetFetchRequest r;
    r.group_id = id;
    v.offsets.push_back(c.fetch_offsets(r, now));
  }
  v.listed = c.list_groups({}, now).groups;
  return v;
}

void replay_all(GroupCoordinator& c, const std::vector<Record>& records) {
  for (const auto& r : records) {
    auto res = c.replay(r);
    ASSERT_TRUE(res.ok()) << res.error().describe();
  }
}

// Builds: a Stable dynamic group with offsets, a Stable static group whose member restarted,
// an Empty consumer group with offsets, a simple-commit group, a deleted group, a group whose
// offsets partly expired, and a group in the middle of a rebalance (persisted as its last Stable).
struct World {
  Harness h;
  std::vector<std::string> ids{"dyn", "static", "emptied", "simple", "deleted", "expiring", "rebalancing", "none"};
  std::string dyn_a, dyn_b;
  int32_t dyn_gen = 0;

  World() : h(make_config()) {
    h.c.tick(h.now);
    // dyn: two members, offsets with metadata.
    auto ja = h.join_new("dyn", "ca");
    dyn_a = ja->value->member_id;
    h.sync("dyn", 1, dyn_a, {{dyn_a, "x"}});
    auto jb = h.join_new("dyn", "cb");
    h.join(join_req("dyn", dyn_a, "ca"));
    dyn_b = jb->value->member_id;
    dyn_gen = jb->value->generation_id;
    h.sync("dyn", dyn_gen, dyn_b);
    h.sync("dyn", dyn_gen, dyn_a, {{dyn_a, "asg-a"}, {dyn_b, "asg-b"}});
    EXPECT_EQ(commit_error(h.commit("dyn", dyn_gen, dyn_a, "t1", 0, 100, "meta")), Errc::kOk);
    EXPECT_EQ(commit_error(h.commit("dyn", dyn_gen, dyn_b, "t1", 1, 200)), Errc::kOk);
    EXPECT_EQ(commit_error(h.commit("dyn", dyn_gen, dyn_b, "t1", 1, 201)), Errc::kOk);  // overwritten

    // static: two static members, one restarts (new member id persisted without rebalance).
    auto s1 = h.join(join_req("static", "", "c1", "i1"));
    const auto m1 = s1->value->member_id;
    h.sync("static", 1, m1, {{m1, "s"}}, "i1");
    auto s2 = h.join(join_req("static", "", "c2", "i2"));
    h.join(join_req("static", m1, "c1", "i1"));
    const auto m2 = s2->value->member_id;
    const int32_t sg = s2->value->generation_id;
    h.sync("static", sg, m2, {}, "i2");
    h.sync("static", sg, m1, {{m1, "S1"}, {m2, "S2"}}, "i1");
    h.join(join_req("static", "", "c2-restarted", "i2"));

    // emptied: consumer group whose members left after committing.
    auto je = h.join_new("emptied", "ce");
    const auto e = je->value->member_id;
    h.sync("emptied", 1, e, {{e, "E"}});
    EXPECT_EQ(commit_error(h.commit("emptied", 1, e, "t2", 3, 33)), Errc::kOk);
    h.c.leave_group(LeaveGroupRequest{"emptied", {{e, std::nullopt}}, 3}, h.now);

    // simple: offsets only.
    EXPECT_EQ(commit_error(h.commit("simple", -1, "", "t3", 0, 7, "m")), Errc::kOk);

    // deleted: created, committed, emptied and deleted.
    EXPECT_EQ(commit_error(h.commit("deleted", -1, "", "t4", 0, 1)), Errc::kOk);
    EXPECT_EQ(h.c.delete_groups({"deleted"}, h.now).at(0).error, Errc::kOk);

    // expiring: one offset with a short explicit retention expires at the next purge.
    EXPECT_EQ(commit_error(h.commit("expiring", -1, "", "t5", 0, 1, std::nullopt, 10)), Errc::kOk);
    EXPECT_EQ(commit_error(h.commit("expiring", -1, "", "t5", 1, 2)), Errc::kOk);
    h.advance(1000);  // purge interval 1 s

    // rebalancing: Stable, then a third member starts a rebalance that is not finished.
    auto r1 = h.join_new("rebalancing", "r1");
    const auto rm = r1->value->member_id;
    h.sync("rebalancing", 1, rm, {{rm, "R"}});
    h.join_new("rebalancing", "r2");
  }

  static Config make_config() {
    Config cfg;
    cfg.offsets_retention_check_interval_ms = 1000;
    cfg.member_id_seed = 99;
    return cfg;
  }
};

}  // namespace

TEST(GroupReplay, SnapshotAndFullLogReproduceTheSameState) {
  World w;
  const int64_t t = w.h.now;
  std::vector<Record> snap = w.h.c.snapshot();
  // The snapshot is minimal: one record per live key, no tombstones.
  std::set<std::string> keys;
  for (const auto& r : snap) {
    EXPECT_TRUE(r.value.has_value());
    EXPECT_TRUE(keys.insert(r.key).second);
  }
  EXPECT_LT(snap.size(), w.h.log.size());

  GroupCoordinator from_log;
  replay_all(from_log, w.h.log);
  GroupCoordinator from_snap;
  replay_all(from_snap, snap);
  View a = view(from_log, w.ids, t);
  View b = view(from_snap, w.ids, t);
  EXPECT_TRUE(a == b);
  // Snapshots of the two replayed coordinators are identical too.
  EXPECT_EQ(from_log.snapshot(), from_snap.snapshot());
  EXPECT_EQ(from_snap.snapshot(), snap);

  // Against the original: every group except the one mid-rebalance looks the same; the
  // rebalancing group comes back in its last persisted (Stable, generation 1) state.
  View orig = view(w.h.c, w.ids, t);
  for (size_t i = 0; i < w.ids.size(); ++i) {
    if (w.ids[i] == "rebalancing") continue;
    EXPECT_EQ(a.groups[i], orig.groups[i]) << w.ids[i];
    EXPECT_EQ(a.offsets[i], orig.offsets[i]) << w.ids[i];
  }
  const auto& reb = a.groups[6];
  EXPECT_EQ(reb.state, "Stable");
  ASSERT_EQ(reb.members.size(), 1u);
  EXPECT_EQ(reb.members[0].assignment, "R");
  EXPECT_EQ(orig.groups[6].state, "PreparingRebalance");

  // Spot checks of content.
  EXPECT_EQ(a.groups[0].state, "Stable");
  EXPECT_EQ(a.groups[0].members.size(), 2u);
  EXPECT_EQ(a.offsets[0].topics.at(0).partitions.at(1).offset, 201);
  EXPECT_EQ(a.offsets[0].topics.at(0).partitions.at(0).metadata, "meta");
  EXPECT_EQ(a.groups[1].members.at(1).client_id, "c2");  // Kafka keeps the old client id
  EXPECT_EQ(a.groups[1].members.at(1).assignment, "S2");
  EXPECT_EQ(a.groups[2].state, "Empty");
  EXPECT_EQ(a.groups[2].protocol_type, "consumer");
  EXPECT_EQ(a.offsets[2].topics.at(0).partitions.at(0).offset, 33);
  EXPECT_EQ(a.groups[3].state, "Empty");
  EXPECT_EQ(a.groups[3].protocol_type, "");
  EXPECT_EQ(a.groups[4].state, "Dead");
  ASSERT_EQ(a.offsets[5].topics.at(0).partitions.size(), 1u);
  EXPECT_EQ(a.offsets[5].topics.at(0).partitions.at(0).partition, 1);
  EXPECT_EQ(a.groups[7].state, "Dead");
}

TEST(GroupReplay, LoadedMembersKeepGenerationAndMustHeartbeatFromLoadTime) {
  World w;
  GroupCoordinator c;
  replay_all(c, w.h.log);
  const int64_t load = w.h.now + 3'600'000;  // broker restarted an hour later
  // Member A heartbeats in its old generation; B stays silent.
  EXPECT_EQ(c.heartbeat(HeartbeatRequest{"dyn", w.dyn_gen, w.dyn_a, std::nullopt}, load).error, Errc::kOk);
  EXPECT_EQ(c.group_state("dyn"), GroupState::kStable);
  EXPECT_EQ(c.group_generation("dyn"), w.dyn_gen);
  EXPECT_LE(c.next_deadline_ms(), load + 10000);
  c.tick(load + 9999);
  EXPECT_EQ(c.group_state("dyn"), GroupState::kStable);
  EXPECT_EQ(c.heartbeat(HeartbeatRequest{"dyn", w.dyn_gen, w.dyn_a, std::nullopt}, load + 9999).error, Errc::kOk);
  c.tick(load + 10000);  // B's session (10 s from load) expired
  EXPECT_EQ(c.group_state("dyn"), GroupState::kPreparingRebalance);
  EXPECT_EQ(c.heartbeat(HeartbeatRequest{"dyn", w.dyn_gen, w.dyn_b, std::nullopt}, load + 10000).error,
            Errc::kUnknownMember);
  // A loaded member syncing in Stable gets its persisted assignment.
  std::optional<SyncGroupResponse> got;
  GroupCoordinator c2;
  replay_all(c2, w.h.log);
  c2.sync_group(
      SyncGroupRequest{"dyn", w.dyn_gen, w.dyn_b, std::nullopt, std::nullopt, std::nullopt, {}},
      [&](SyncGroupResponse r) { got = r; }, load);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->error, Errc::kOk);
  EXPECT_EQ(got->assignment, "asg-b");
  // Offsets commit continues in the loaded generation.
  OffsetCommitRequest oc;
  oc.group_id = "dyn";
  oc.generation_id = w.dyn_gen;
  oc.member_id = w.dyn_a;
  oc.topics.push_back(OffsetCommitTopic{"t1", {{0, 101, -1, std::nullopt}}});
  EXPECT_EQ(c2.commit_offsets(oc, load).topics[0].partitions[0].error, Errc::kOk);
}

TEST(GroupReplay, CorruptRecordsAreRefused) {
  GroupCoordinator c;
  EXPECT_FALSE(c.replay(Record{"\x05garbage", std::string("x")}).ok());
  EXPECT_FALSE(c.replay(Record{encode_group_key("g"), std::string("\x00\x01", 2)}).ok());
  EXPECT_FALSE(c.replay(Record{encode_offset_key("g", "t", 0), std::string("\x00", 1)}).ok());
  EXPECT_TRUE(c.replay(Record{encode_offset_key("g", "t", 0), std::nullopt}).ok());
  EXPECT_EQ(c.list_groups({}, 0).groups.size(), 0u);
}

TEST(GroupReplay, TombstonesAndOrderLastRecordWins) {
  Harness h;
  EXPECT_EQ(commit_error(h.commit("g", -1, "", "t", 0, 1)), Errc::kOk);
  EXPECT_EQ(commit_error(h.commit("g", -1, "", "t", 0, 2)), Errc::kOk);
  EXPECT_EQ(commit_error(h.commit("g", -1, "", "t", 1, 5)), Errc::kOk);
  h.c.delete_groups({"g"}, h.now);
  EXPECT_EQ(commit_error(h.commit("g", -1, "", "t", 1, 6)), Errc::kOk);
  GroupCoordinator c;
  for (const auto& r : h.log) ASSERT_TRUE(c.replay(r).ok());
  OffsetFetchRequest fr;
  fr.group_id = "g";
  auto f = c.fetch_offsets(fr, h.now);
  ASSERT_EQ(f.topics.size(), 1u);
  ASSERT_EQ(f.topics[0].partitions.size(), 1u);
  EXPECT_EQ(f.topics[0].partitions[0].partition, 1);
  EXPECT_EQ(f.topics[0].partitions[0].offset, 6);
}

TEST(GroupReplay, LoadedOverCapacityGroupRebalances) {
  World w;
  Config small;
  small.max_group_size = 1;
  GroupCoordinator c(small);
  replay_all(c, w.h.log);
  EXPECT_EQ(c.group_state("dyn"), std::nullopt);  // not loaded until the first call
  EXPECT_EQ(c.list_groups({}, w.h.now).groups.size(), 6u);
  EXPECT_EQ(c.group_state("dyn"), GroupState::kPreparingRebalance);
  EXPECT_EQ(c.group_state("static"), GroupState::kPreparingRebalance);
  EXPECT_EQ(c.group_state("rebalancing"), GroupState::kStable);  // one member
}
