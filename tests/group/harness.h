#pragma once
// Test harness for the group coordinator: captures records and callback results.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/group/coordinator.h"
#include "tests/group/errc_print.h"

namespace sluice::group::testing {

using broker::Errc;

template <typename T>
struct Slot {
  std::optional<T> value;
  int calls = 0;
  bool ready() const { return value.has_value(); }
  const T& operator*() const { return *value; }
  const T* operator->() const { return &*value; }
};

inline std::vector<Protocol> protos(std::initializer_list<std::pair<const char*, const char*>> ps) {
  std::vector<Protocol> out;
  for (const auto& [n, m] : ps) out.push_back(Protocol{n, m});
  return out;
}

inline JoinGroupRequest join_req(const std::string& group, const std::string& member_id,
                                 const std::string& client_id = "client",
                                 std::optional<std::string> instance = std::nullopt,
                                 std::vector<Protocol> protocols = protos({{"range", "sub"}}),
                                 int32_t session_ms = 10000, int32_t rebalance_ms = 30000, int16_t version = 5) {
  JoinGroupRequest r;
  r.group_id = group;
  r.member_id = member_id;
  r.group_instance_id = std::move(instance);
  r.client_id = client_id;
  r.client_host = "/127.0.0.1";
  r.session_timeout_ms = session_ms;
  r.rebalance_timeout_ms = rebalance_ms;
  r.protocol_type = "consumer";
  r.protocols = std::move(protocols);
  r.api_version = version;
  return r;
}

struct Harness {
  std::vector<Record> log;
  GroupCoordinator c;
  int64_t now = 1'000'000;

  explicit Harness(Config cfg = {}) : c(cfg, [this](Record r) { log.push_back(std::move(r)); }) {}

  std::shared_ptr<Slot<JoinGroupResponse>> join(const JoinGroupRequest& req) {
    auto s = std::make_shared<Slot<JoinGroupResponse>>();
    c.join_group(
        req,
        [s](JoinGroupResponse r) {
          ++s->calls;
          s->value = std::move(r);
        },
        now);
    return s;
  }

  std::shared_ptr<Slot<SyncGroupResponse>> sync(const std::string& group, int32_t gen, const std::string& member,
                                                std::vector<SyncAssignment> assignments = {},
                                                std::optional<std::string> instance = std::nullopt) {
    SyncGroupRequest r;
    r.group_id = group;
    r.generation_id = gen;
    r.member_id = member;
    r.group_instance_id = std::move(instance);
    r.assignments = std::move(assignments);
    auto s = std::make_shared<Slot<SyncGroupResponse>>();
    c.sync_group(
        r,
        [s](SyncGroupResponse resp) {
          ++s->calls;
          s->value = std::move(resp);
        },
        now);
    return s;
  }

  Errc heartbeat(const std::string& group, int32_t gen, const std::string& member,
                 std::optional<std::string> instance = std::nullopt) {
    return c.heartbeat(HeartbeatRequest{group, gen, member, std::move(instance)}, now).error;
  }

  // Dynamic member join with the KIP-394 dance; returns the pending join slot (second join).
  std::shared_ptr<Slot<JoinGroupResponse>> join_new(const std::string& group, const std::string& client,
                                                    std::vector<Protocol> ps = protos({{"range", "sub"}}),
                                                    int32_t session_ms = 10000, int32_t rebalance_ms = 30000) {
    auto first = join(join_req(group, "", client, std::nullopt, ps, session_ms, rebalance_ms));
    EXPECT_TRUE(first->ready());
    EXPECT_EQ(first->value->error, Errc::kMemberIdRequired);
    return join(join_req(group, first->value->member_id, client, std::nullopt, ps, session_ms, rebalance_ms));
  }

  OffsetCommitResult commit(const std::string& group, int32_t gen, const std::string& member, const std::string& topic,
                            int32_t partition, int64_t offset, std::optional<std::string> metadata = std::nullopt,
                            int64_t retention = -1) {
    OffsetCommitRequest r;
    r.group_id = group;
    r.generation_id = gen;
    r.member_id = member;
    r.retention_time_ms = retention;
    r.topics.push_back(OffsetCommitTopic{topic, {OffsetCommitPartition{partition, offset, -1, std::move(metadata)}}});
    return c.commit_offsets(r, now);
  }

  OffsetFetchResult fetch_all(const std::string& group) {
    OffsetFetchRequest r;
    r.group_id = group;
    return c.fetch_offsets(r, now);
  }

  DescribedGroup describe(const std::string& group) { return c.describe_groups({group}, now).at(0); }
  GroupState state(const std::string& group) { return c.group_state(group).value_or(GroupState::kDead); }

  void advance(int64_t ms) {
    now += ms;
    c.tick(now);
  }
};

inline Errc commit_error(const OffsetCommitResult& r) { return r.topics.at(0).partitions.at(0).error; }

}  // namespace sluice::group::testing
