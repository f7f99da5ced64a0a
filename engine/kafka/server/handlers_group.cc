// Consumer-group APIs. Each group lives in the GroupService of its internal partition, on the
// shard owning that partition; the connection's shard forwards the request there.
#include <algorithm>
#include <cctype>

#include "engine/core/group_service.h"
#include "engine/core/shard_state.h"
#include "engine/core/when_all.h"
#include "engine/kafka/server/coordinator_route.h"
#include "engine/kafka/server/errors.h"
#include "engine/kafka/server/request.h"
#include "io/cross_shard.h"

namespace sluice::kafka {
namespace {

std::string to_string(const Bytes& b) {
  if (b.empty()) return {};  // an empty vector's data() may be null
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}
Bytes to_bytes(const std::string& s) {
  Bytes b(s.size());
  if (!s.empty()) std::memcpy(b.data(), s.data(), s.size());
  return b;
}

// Runs fn(GroupService&) -> Task<R> on the shard that coordinates group_id.
template <class R, class Fn>
io::Task<R> on_coordinator(const std::string& group_id, R unavailable, Fn fn) {
  return kafka::on_coordinator<core::GroupService, R>(kGroupCoordinators, group_id, std::move(unavailable),
                                                      std::move(fn));
}

// Runs op(GroupService&) -> R on the group's coordinator and answers once its records are durable.
template <class R, class Op>
io::Task<R> on_coordinator_durably(const std::string& group_id, R unavailable, Op op) {
  return kafka::on_coordinator_durably<core::GroupService, R>(kGroupCoordinators, group_id, std::move(unavailable),
                                                              std::move(op));
}

// Runs op(GroupService&) -> R, a state change, on the group's coordinator and answers once the
// records it emitted are written (not waiting for durability, unlike on_coordinator_durably).
template <class R, class Op>
io::Task<R> on_coordinator_persisted(const std::string& group_id, R unavailable, Op op) {
  auto fn = [op](core::GroupService& svc) mutable -> io::Task<R> {
    R answer = op(svc);
    co_await svc.persist();
    co_return answer;
  };
  return on_coordinator<R>(group_id, std::move(unavailable), std::move(fn));
}

// ----------------------------------------------------------------------------------------- Join

io::Task<JoinGroupResponse> join_group(RequestContext& ctx, JoinGroupRequest& req) {
  group::JoinGroupRequest g;
  g.group_id = req.group_id;
  g.member_id = req.member_id;
  g.group_instance_id = req.group_instance_id;
  g.client_id = ctx.header.client_id.value_or("");
  g.client_host = "/" + ctx.client_host;
  g.session_timeout_ms = req.session_timeout_ms;
  g.rebalance_timeout_ms = req.rebalance_timeout_ms;
  g.protocol_type = req.protocol_type;
  for (const auto& p : req.protocols) g.protocols.push_back({p.name, to_string(p.metadata)});
  g.api_version = ctx.header.request_api_version;
  group::JoinGroupResponse unavailable;
  unavailable.error = core::Errc::kCoordinatorNotAvailable;
  unavailable.member_id = req.member_id;
  auto fn = [g](core::GroupService& svc) -> io::Task<group::JoinGroupResponse> {
    core::CallbackResult<group::JoinGroupResponse> result;
    svc.coordinator().join_group(g, result.callback(), svc.now_ms());
    co_await svc.persist();
    auto resp = co_await result;
    co_return resp;
  };
  group::JoinGroupResponse r =
      co_await on_coordinator<group::JoinGroupResponse>(req.group_id, unavailable, std::move(fn));
  JoinGroupResponse resp;
  resp.error_code = kafka_code(r.error);
  resp.generation_id = r.generation_id;
  resp.protocol_type = r.protocol_type;
  resp.protocol_name = r.protocol_name.value_or("");
  resp.leader = r.leader;
  resp.member_id = r.member_id;
  for (const auto& m : r.members) {
    JoinGroupResponse::JoinGroupResponseMember wm;
    wm.member_id = m.member_id;
    wm.group_instance_id = m.group_instance_id;
    wm.metadata = to_bytes(m.metadata);
    resp.members.push_back(std::move(wm));
  }
  co_return resp;
}

// ----------------------------------------------------------------------------------------- Sync

io::Task<SyncGroupResponse> sync_group(RequestContext&, SyncGroupRequest& req) {
  group::SyncGroupRequest g;
  g.group_id = req.group_id;
  g.generation_id = req.generation_id;
  g.member_id = req.member_id;
  g.group_instance_id = req.group_instance_id;
  g.protocol_type = req.protocol_type;
  g.protocol_name = req.protocol_name;
  for (const auto& a : req.assignments) g.assignments.push_back({a.member_id, to_string(a.assignment)});
  group::SyncGroupResponse unavailable;
  unavailable.error = core::Errc::kCoordinatorNotAvailable;
  auto fn = [g](core::GroupService& svc) -> io::Task<group::SyncGroupResponse> {
    core::CallbackResult<group::SyncGroupResponse> result;
    svc.coordinator().sync_group(g, result.callback(), svc.now_ms());
    co_await svc.persist();
    auto resp = co_await result;
    if (core::shard_state().stopping) co_return resp;
    // The assignment is answered only once the group's new state is durable.
    if (resp.error == core::Errc::kOk) {
      bool durable = co_await svc.wait_durable();
      if (!durable) resp.error = core::Errc::kCoordinatorNotAvailable;
    }
    co_return resp;
  };
  group::SyncGroupResponse r =
      co_await on_coordinator<group::SyncGroupResponse>(req.group_id, unavailable, std::move(fn));
  SyncGroupResponse resp;
  resp.error_code = kafka_code(r.error);
  resp.protocol_type = r.protocol_type;
  resp.protocol_name = r.protocol_name;
  resp.assignment = to_bytes(r.assignment);
  co_return resp;
}

// ------------------------------------------------------------------------------ Heartbeat, Leave

io::Task<HeartbeatResponse> heartbeat(RequestContext&, HeartbeatRequest& req) {
  group::HeartbeatRequest g{req.group_id, req.generation_id, req.member_id, req.group_instance_id};
  group::HeartbeatResponse unavailable{core::Errc::kCoordinatorNotAvailable};
  auto op = [g](core::GroupService& svc) { return svc.coordinator().heartbeat(g, svc.now_ms()); };
  auto r = co_await on_coordinator_persisted<group::HeartbeatResponse>(req.group_id, unavailable, std::move(op));
  HeartbeatResponse resp;
  resp.error_code = kafka_code(r.error);
  co_return resp;
}

io::Task<LeaveGroupResponse> leave_group(RequestContext& ctx, LeaveGroupRequest& req) {
  group::LeaveGroupRequest g;
  g.group_id = req.group_id;
  g.api_version = ctx.header.request_api_version;
  if (ctx.header.request_api_version < 3) g.members.push_back({req.member_id, std::nullopt});
  for (const auto& m : req.members) g.members.push_back({m.member_id, m.group_instance_id});
  group::LeaveGroupResponse unavailable;
  unavailable.error = core::Errc::kCoordinatorNotAvailable;
  auto op = [g](core::GroupService& svc) { return svc.coordinator().leave_group(g, svc.now_ms()); };
  auto r = co_await on_coordinator_persisted<group::LeaveGroupResponse>(req.group_id, unavailable, std::move(op));
  LeaveGroupResponse resp;
  resp.error_code = kafka_code(r.error);
  for (const auto& m : r.members) resp.members.push_back({m.member_id, m.group_instance_id, kafka_code(m.error)});
  co_return resp;
}

// -------------------------------------------------------------------------------------- Offsets

// The offsets of an OffsetCommit or TxnOffsetCommit request, in the coordinator's terms.
template <class WireTopics>
std::vector<group::OffsetCommitTopic> commit_topics(const WireTopics& topics) {
  std::vector<group::OffsetCommitTopic> out;
  for (const auto& t : topics) {
    group::OffsetCommitTopic gt;
    gt.name = t.name;
    for (const auto& p : t.partitions)
      gt.partitions.push_back({p.partition_index, p.committed_offset, p.committed_leader_epoch, p.committed_metadata});
    out.push_back(std::move(gt));
  }
  return out;
}

// Every partition answered COORDINATOR_NOT_AVAILABLE.
group::OffsetCommitResult unavailable_for(const std::vector<group::OffsetCommitTopic>& topics) {
  group::OffsetCommitResult out;
  for (const auto& t : topics) {
    group::OffsetCommitTopicResult tr{t.name, {}};
    for (const auto& p : t.partitions) tr.partitions.push_back({p.partition, core::Errc::kCoordinatorNotAvailable});
    out.topics.push_back(std::move(tr));
  }
  return out;
}

io::Task<OffsetCommitResponse> offset_commit(RequestContext&, OffsetCommitRequest& req) {
  group::OffsetCommitRequest g;
  g.group_id = req.group_id;
  g.generation_id = req.generation_id_or_member_epoch;
  g.member_id = req.member_id;
  g.group_instance_id = req.group_instance_id;
  g.retention_time_ms = req.retention_time_ms;
  g.topics = commit_topics(req.topics);
  group::OffsetCommitResult unavailable = unavailable_for(g.topics);
  // A commit is acknowledged only once durable.
  auto op = [g](core::GroupService& svc) { return svc.coordinator().commit_offsets(g, svc.now_ms()); };
  auto r = co_await on_coordinator_durably<group::OffsetCommitResult>(req.group_id, unavailable, std::move(op));
  OffsetCommitResponse resp;
  for (const auto& t : r.topics) {
    OffsetCommitResponse::OffsetCommitResponseTopic wt;
    wt.name = t.name;
    for (const auto& p : t.partitions) wt.partitions.push_back({p.partition, kafka_code(p.error)});
    resp.topics.push_back(std::move(wt));
  }
  co_return resp;
}

// TxnOffsetCommit: the offsets wait in the group as pending for the producer until its
// transaction's marker reaches this group partition (commit: they become the committed offsets;
// abort: they are dropped). KIP-447 member checks from v3.
io::Task<TxnOffsetCommitResponse> txn_offset_commit(RequestContext& ctx, TxnOffsetCommitRequest& req) {
  const int16_t version = ctx.header.request_api_version;
  group::TxnOffsetCommitRequest g;
  g.group_id = req.group_id;
  g.transactional_id = req.transactional_id;
  g.producer_id = req.producer_id;
  g.producer_epoch = req.producer_epoch;
  g.generation_id = req.generation_id;
  g.member_id = req.member_id;
  g.group_instance_id = req.group_instance_id;
  g.api_version = version;
  g.topics = commit_topics(req.topics);
  group::OffsetCommitResult unavailable = unavailable_for(g.topics);
  // Pending offsets are acknowledged only once durable, like any commit.
  auto op = [g](core::GroupService& svc) { return svc.coordinator().txn_offset_commit(g, svc.now_ms()); };
  auto r = co_await on_coordinator_durably<group::OffsetCommitResult>(req.group_id, unavailable, std::move(op));
  TxnOffsetCommitResponse resp;
  for (const auto& t : r.topics) {
    TxnOffsetCommitResponse::TxnOffsetCommitResponseTopic wt;
    wt.name = t.name;
    for (const auto& p : t.partitions) wt.partitions.push_back({p.partition, txn_kafka_code(p.error, version >= 3)});
    resp.topics.push_back(std::move(wt));
  }
  co_return resp;
}

// One group's committed offsets, from its coordinator's shard.
io::Task<group::OffsetFetchResult> fetch_group_offsets(group::OffsetFetchRequest g) {
  group::OffsetFetchResult unavailable;
  unavailable.error = core::Errc::kCoordinatorNotAvailable;
  std::string group_id = g.group_id;
  auto fn = [g = std::move(g)](core::GroupService& svc) -> io::Task<group::OffsetFetchResult> {
    co_return svc.coordinator().fetch_offsets(g, svc.now_ms());
  };
  auto r = co_await on_coordinator<group::OffsetFetchResult>(group_id, unavailable, std::move(fn));
  co_return r;
}

// v8+ asks for several groups at once; each is answered in its own entry, as if asked alone.
io::Task<OffsetFetchResponse> offset_fetch_groups(OffsetFetchRequest& req) {
  OffsetFetchResponse resp;
  for (const auto& rg : req.groups) {
    group::OffsetFetchRequest g;
    g.group_id = rg.group_id;
    g.require_stable = req.require_stable;
    if (rg.topics) {
      g.topics.emplace();
      for (const auto& t : *rg.topics) g.topics->push_back({t.name, t.partition_indexes});
    }
    group::OffsetFetchResult r = co_await fetch_group_offsets(std::move(g));
    OffsetFetchResponse::OffsetFetchResponseGroup wg;
    wg.group_id = rg.group_id;
    wg.error_code = kafka_code(r.error);
    for (const auto& t : r.topics) {
      OffsetFetchResponse::OffsetFetchResponseGroup::OffsetFetchResponseTopics wt;
      wt.name = t.name;
      for (const auto& p : t.partitions) {
        OffsetFetchResponse::OffsetFetchResponseGroup::OffsetFetchResponseTopics::OffsetFetchResponsePartitions wp;
        wp.partition_index = p.partition;
        wp.committed_offset = p.offset;
        wp.committed_leader_epoch = p.leader_epoch;
        wp.metadata = p.metadata;
        wp.error_code = kafka_code(p.error);
        wt.partitions.push_back(std::move(wp));
      }
      wg.topics.push_back(std::move(wt));
    }
    resp.groups.push_back(std::move(wg));
  }
  co_return resp;
}

io::Task<OffsetFetchResponse> offset_fetch(RequestContext& ctx, OffsetFetchRequest& req) {
  if (ctx.header.request_api_version >= 8) {
    OffsetFetchResponse batched = co_await offset_fetch_groups(req);
    co_return batched;
  }
  group::OffsetFetchRequest g;
  g.group_id = req.group_id;
  g.require_stable = req.require_stable;
  if (req.topics) {
    g.topics.emplace();
    for (const auto& t : *req.topics) g.topics->push_back({t.name, t.partition_indexes});
  }
  group::OffsetFetchResult r = co_await fetch_group_offsets(std::move(g));
  OffsetFetchResponse resp;
  resp.error_code = kafka_code(r.error);
  for (const auto& t : r.topics) {
    OffsetFetchResponse::OffsetFetchResponseTopic wt;
    wt.name = t.name;
    for (const auto& p : t.partitions) {
      OffsetFetchResponse::OffsetFetchResponseTopic::OffsetFetchResponsePartition wp;
      wp.partition_index = p.partition;
      wp.committed_offset = p.offset;
      wp.committed_leader_epoch = p.leader_epoch;
      wp.metadata = p.metadata;
      wp.error_code = kafka_code(p.error);
      // v0-1 have no group-level error: a group-level failure shows on every partition.
      if (ctx.header.request_api_version < 2 && r.error != core::Errc::kOk) wp.error_code = kafka_code(r.error);
      wt.partitions.push_back(std::move(wp));
    }
    resp.topics.push_back(std::move(wt));
  }
  co_return resp;
}

// ---------------------------------------------------------------------------------------- Admin

io::Task<ListGroupsResponse> list_groups(RequestContext& ctx, ListGroupsRequest& req) {
  core::ShardState& st = core::shard_state();
  std::vector<std::vector<group::ListedGroup>> per_shard(st.shard_count);
  std::vector<core::Errc> errors(st.shard_count, core::Errc::kOk);
  std::vector<io::Task<void>> calls;
  // A shard's own broker lists the groups it coordinates, as a Kafka broker does (clients ask
  // every broker and concatenate); the bootstrap address lists every shard's.
  const unsigned first = ctx.via_shard_broker ? st.shard_id : 0;
  const unsigned last = ctx.via_shard_broker ? st.shard_id + 1 : st.shard_count;
  for (unsigned s = first; s < last; ++s) {
    calls.push_back([](unsigned target, std::vector<std::string> filter, std::vector<group::ListedGroup>* out,
                       core::Errc* err) -> io::Task<void> {
      auto fn = [filter]() {
        group::ListGroupsResult all;
        for (auto& [p, svc] : core::shard_state().groups) {
          auto one = svc->coordinator().list_groups(filter, svc->now_ms());
          if (one.error != core::Errc::kOk) all.error = one.error;
          all.groups.insert(all.groups.end(), one.groups.begin(), one.groups.end());
        }
        return all;
      };
      auto r = co_await io::submit_to(target, std::move(fn));
      *out = std::move(r.groups);
      *err = r.error;
    }(s, req.states_filter, &per_shard[s], &errors[s]));
  }
  co_await core::when_all(std::move(calls));
  ListGroupsResponse resp;
  for (unsigned s = 0; s < st.shard_count; ++s) {
    if (errors[s] != core::Errc::kOk) resp.error_code = kafka_code(errors[s]);
    for (auto& g : per_shard[s]) resp.groups.push_back({g.group_id, g.protocol_type, g.state, "classic"});
  }
  // v5: a types filter without "classic" (every group here is a classic one) matches nothing.
  auto classic = [](const std::string& t) {
    return t.size() == 7 && std::equal(t.begin(), t.end(), "classic",
                                       [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
  };
  if (!req.types_filter.empty() && std::none_of(req.types_filter.begin(), req.types_filter.end(), classic))
    resp.groups.clear();
  co_return resp;
}

io::Task<DescribeGroupsResponse> describe_groups(RequestContext&, DescribeGroupsRequest& req) {
  DescribeGroupsResponse resp;
  for (const auto& id : req.groups) {
    group::DescribedGroup unavailable;
    unavailable.error = core::Errc::kCoordinatorNotAvailable;
    unavailable.group_id = id;
    auto fn = [id](core::GroupService& svc) -> io::Task<group::DescribedGroup> {
      auto v = svc.coordinator().describe_groups({id}, svc.now_ms());
      SLUICE_ASSERT(v.size() == 1);
      co_return v[0];
    };
    auto d = co_await on_coordinator<group::DescribedGroup>(id, unavailable, std::move(fn));
    DescribeGroupsResponse::DescribedGroup wg;
    wg.error_code = kafka_code(d.error);
    wg.group_id = d.group_id;
    wg.group_state = d.state;
    wg.protocol_type = d.protocol_type;
    wg.protocol_data = d.protocol;
    for (const auto& m : d.members) {
      DescribeGroupsResponse::DescribedGroup::DescribedGroupMember wm;
      wm.member_id = m.member_id;
      wm.group_instance_id = m.group_instance_id;
      wm.client_id = m.client_id;
      wm.client_host = m.client_host;
      wm.member_metadata = to_bytes(m.metadata);
      wm.member_assignment = to_bytes(m.assignment);
      wg.members.push_back(std::move(wm));
    }
    resp.groups.push_back(std::move(wg));
  }
  co_return resp;
}

io::Task<DeleteGroupsResponse> delete_groups(RequestContext&, DeleteGroupsRequest& req) {
  DeleteGroupsResponse resp;
  for (const auto& id : req.groups_names) {
    group::DeletedGroup unavailable{id, core::Errc::kCoordinatorNotAvailable};
    auto op = [id](core::GroupService& svc) {
      auto v = svc.coordinator().delete_groups({id}, svc.now_ms());
      SLUICE_ASSERT(v.size() == 1);
      return v[0];
    };
    auto d = co_await on_coordinator_persisted<group::DeletedGroup>(id, unavailable, std::move(op));
    resp.results.push_back({d.group_id, kafka_code(d.error)});
  }
  co_return resp;
}

// OffsetDelete (KIP-496): partitions of unknown topics answer UNKNOWN_TOPIC_OR_PARTITION here, as
// Kafka's request handler does; the coordinator deletes the others (tombstones, durable before the
// answer) unless the group is active and subscribes to the topic.
io::Task<OffsetDeleteResponse> offset_delete(RequestContext&, OffsetDeleteRequest& req) {
  const core::ShardState& st = core::shard_state();
  group::OffsetDeleteRequest g;
  g.group_id = req.group_id;
  for (const auto& t : req.topics) {
    const broker::TopicInfo* info = st.catalogue.find(t.name);
    group::OffsetFetchTopic known{t.name, {}};
    for (const auto& p : t.partitions)
      if (info && p.partition_index >= 0 && p.partition_index < info->partition_count())
        known.partitions.push_back(p.partition_index);
    g.topics.push_back(std::move(known));
  }
  group::OffsetDeleteResult unavailable;
  unavailable.error = core::Errc::kCoordinatorNotAvailable;
  // Deleted offsets must not come back after a restart: answered once the tombstones are durable.
  auto op = [g](core::GroupService& svc) { return svc.coordinator().delete_offsets(g, svc.now_ms()); };
  auto r = co_await on_coordinator_durably<group::OffsetDeleteResult>(req.group_id, unavailable, std::move(op));
  OffsetDeleteResponse resp;
  resp.error_code = kafka_code(r.error);
  if (r.error != core::Errc::kOk) co_return resp;
  for (std::size_t i = 0; i < req.topics.size(); ++i) {
    const auto& t = req.topics[i];
    OffsetDeleteResponse::OffsetDeleteResponseTopic wt;
    wt.name = t.name;
    // The coordinator answered the known partitions of this topic, in request order.
    static const std::vector<group::OffsetCommitPartitionResult> kNone;
    const auto& answered = i < r.topics.size() ? r.topics[i].partitions : kNone;
    std::size_t next = 0;
    for (const auto& p : t.partitions) {
      int16_t error = code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
      if (next < answered.size() && answered[next].partition == p.partition_index)
        error = kafka_code(answered[next++].error);
      wt.partitions.push_back({p.partition_index, error});
    }
    resp.topics.push_back(std::move(wt));
  }
  co_return resp;
}

}  // namespace

io::Task<HandlerOutput> handle_join_group(RequestContext& ctx) {
  co_return co_await typed_handler<JoinGroupRequest, JoinGroupResponse>(ctx, join_group);
}
io::Task<HandlerOutput> handle_sync_group(RequestContext& ctx) {
  co_return co_await typed_handler<SyncGroupRequest, SyncGroupResponse>(ctx, sync_group);
}
io::Task<HandlerOutput> handle_heartbeat(RequestContext& ctx) {
  co_return co_await typed_handler<HeartbeatRequest, HeartbeatResponse>(ctx, heartbeat);
}
io::Task<HandlerOutput> handle_leave_group(RequestContext& ctx) {
  co_return co_await typed_handler<LeaveGroupRequest, LeaveGroupResponse>(ctx, leave_group);
}
io::Task<HandlerOutput> handle_offset_commit(RequestContext& ctx) {
  co_return co_await typed_handler<OffsetCommitRequest, OffsetCommitResponse>(ctx, offset_commit);
}
io::Task<HandlerOutput> handle_txn_offset_commit(RequestContext& ctx) {
  co_return co_await typed_handler<TxnOffsetCommitRequest, TxnOffsetCommitResponse>(ctx, txn_offset_commit);
}
io::Task<HandlerOutput> handle_offset_fetch(RequestContext& ctx) {
  co_return co_await typed_handler<OffsetFetchRequest, OffsetFetchResponse>(ctx, offset_fetch);
}
io::Task<HandlerOutput> handle_list_groups(RequestContext& ctx) {
  co_return co_await typed_handler<ListGroupsRequest, ListGroupsResponse>(ctx, list_groups);
}
io::Task<HandlerOutput> handle_describe_groups(RequestContext& ctx) {
  co_return co_await typed_handler<DescribeGroupsRequest, DescribeGroupsResponse>(ctx, describe_groups);
}
io::Task<HandlerOutput> handle_delete_groups(RequestContext& ctx) {
  co_return co_await typed_handler<DeleteGroupsRequest, DeleteGroupsResponse>(ctx, delete_groups);
}
io::Task<HandlerOutput> handle_offset_delete(RequestContext& ctx) {
  co_return co_await typed_handler<OffsetDeleteRequest, OffsetDeleteResponse>(ctx, offset_delete);
}

}  // namespace sluice::kafka
