// Consumer: everything happens inside the caller's poll() (no background thread), like the Java
// client. The group protocol is the classic eager one: on a rebalance every partition is
// revoked (positions committed first with auto-commit), then the new assignment is taken.
#include "sluice/client/consumer.h"

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include "client/src/cluster.h"
#include "client/src/group_protocol.h"
#include "client/src/records.h"

namespace sluice::client {

using detail::mono_ms;

namespace {
struct PartPos {
  int64_t position = -1;  // next offset to fetch; -1 = to be found (committed or reset)
  bool paused = false;
  std::vector<detail::AbortedTxn> aborted;
};

bool is_coordinator_error(int16_t e) {
  using kafka::ErrorCode;
  return e == kafka::code(ErrorCode::NOT_COORDINATOR) || e == kafka::code(ErrorCode::COORDINATOR_NOT_AVAILABLE) ||
         e == kafka::code(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS);
}

const char* assignor_name(Assignor a) {
  switch (a) {
    case Assignor::kRange: return "range";
    case Assignor::kRoundRobin: return "roundrobin";
    case Assignor::kCooperativeSticky: return "cooperative-sticky";
  }
  return "range";
}
}  // namespace

struct Consumer::Impl {
  explicit Impl(const ConsumerConfig& c)
      : cfg(c), cluster(c), cooperative(std::all_of(c.assignors.begin(), c.assignors.end(), [](Assignor a) {
          return a == Assignor::kCooperativeSticky;
        })) {}

  ConsumerConfig cfg;
  detail::Cluster cluster;
  bool cooperative;  // KIP-429 incremental rebalances
  std::map<TopicPartition, PartPos> assigned;
  bool subscribed = false;
  std::vector<std::string> subscription;
  bool closed = false;

  // Group state.
  int32_t coordinator = -1;  // node id in `cluster`
  std::string member_id;
  int32_t generation = -1;
  bool need_join = false;
  int64_t next_heartbeat_ms = 0;
  int64_t next_autocommit_ms = 0;

  Result<detail::Conn*> coordinator_conn();
  Status find_coordinator();
  Status join_group(int64_t deadline);
  Status heartbeat();
  Status ensure_group(int64_t deadline);
  Status commit(const std::map<TopicPartition, int64_t>& offsets);
  Status commit_positions();
  Result<std::map<TopicPartition, int64_t>> fetch_committed(const std::vector<TopicPartition>& tps);
  Result<std::map<TopicPartition, std::pair<int64_t, int64_t>>> list_offsets(
      const std::vector<std::pair<TopicPartition, int64_t>>& query);
  Status resolve_positions();
  Status fetch_once(int wait_ms, std::vector<ConsumerRecord>& out);
  Status ensure_metadata(const std::vector<std::string>& topics);
  void leave_group();
};

Result<detail::Conn*> Consumer::Impl::coordinator_conn() {
  if (coordinator < 0) {
    auto st = find_coordinator();
    if (!st.ok()) return st.error();
  }
  auto c = cluster.node(coordinator);
  if (!c.ok()) coordinator = -1;
  return c;
}

Status Consumer::Impl::find_coordinator() {
  if (cfg.group_id.empty()) return make_error(Errc::kInvalidArgument, "no group_id configured");
  auto c = cluster.group_coordinator(cfg.group_id);
  if (!c.ok()) return c.error();
  coordinator = c->first;
  return {};
}

Status Consumer::Impl::ensure_metadata(const std::vector<std::string>& topics) {
  std::vector<std::string> missing;
  for (const auto& t : topics) {
    const auto* m = cluster.topic(t);
    if (m == nullptr || m->error != 0 || m->leaders.empty()) missing.push_back(t);
  }
  if (missing.empty()) return {};
  return cluster.refresh(missing, false);
}

Status Consumer::Impl::join_group(int64_t deadline) {
  if (!cooperative) {
    // Eager rebalance: give everything back first.
    if (cfg.enable_auto_commit && generation >= 0) (void)commit_positions();
    assigned.clear();
  }
  generation = -1;
  for (;;) {
    if (mono_ms() > deadline) return make_error(Errc::kTimeout, "join group " + cfg.group_id);
    auto c = coordinator_conn();
    if (!c.ok()) return c.error();
    kafka::JoinGroupRequest req;
    req.group_id = cfg.group_id;
    req.session_timeout_ms = cfg.session_timeout_ms;
    req.rebalance_timeout_ms = cfg.rebalance_timeout_ms;
    req.member_id = member_id;
    req.group_instance_id = cfg.group_instance_id;
    req.protocol_type = "consumer";
    std::vector<TopicPartition> owned;
    for (const auto& [tp, pos] : assigned) owned.push_back(tp);
    const kafka::Bytes meta = detail::encode_subscription(subscription, cooperative ? &owned : nullptr);
    for (Assignor a : cfg.assignors) {
      auto& p = req.protocols.emplace_back();
      p.name = assignor_name(a);
      p.metadata = meta;
    }
    kafka::JoinGroupResponse resp;
    auto st = (*c)->call(req, resp, cfg.rebalance_timeout_ms + 5000);
    if (!st.ok()) {
      coordinator = -1;
      if (!st.error().retriable()) return st;
      continue;
    }
    const int16_t e = resp.error_code;
    if (e == kafka::code(kafka::ErrorCode::MEMBER_ID_REQUIRED)) {
      member_id = resp.member_id;  // KIP-394: join again with the id the coordinator gave
      continue;
    }
    if (e == kafka::code(kafka::ErrorCode::UNKNOWN_MEMBER_ID)) {
      member_id.clear();
      continue;
    }
    if (is_coordinator_error(e)) {
      coordinator = -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(cfg.retry_backoff_ms));
      continue;
    }
    if (e == kafka::code(kafka::ErrorCode::REBALANCE_IN_PROGRESS)) continue;
    if (e != 0) return broker_error(e, "JoinGroup " + cfg.group_id);
    member_id = resp.member_id;
    const int32_t gen = resp.generation_id;
    const std::string protocol = resp.protocol_name.value_or("range");

    kafka::SyncGroupRequest sync;
    sync.group_id = cfg.group_id;
    sync.generation_id = gen;
    sync.member_id = member_id;
    sync.group_instance_id = cfg.group_instance_id;
    sync.protocol_type = "consumer";
    sync.protocol_name = protocol;
    if (resp.leader == member_id) {
      detail::Subscriptions subs;
      std::map<std::string, detail::Subscription> full;
      std::set<std::string> all_topics;
      for (const auto& m : resp.members) {
        auto sub = detail::decode_subscription(m.metadata);
        if (!sub.ok()) return sub.error();
        subs[m.member_id] = sub->topics;
        all_topics.insert(sub->topics.begin(), sub->topics.end());
        full[m.member_id] = std::move(*sub);
      }
      std::vector<std::string> names(all_topics.begin(), all_topics.end());
      auto mst = cluster.refresh(names, false);
      if (!mst.ok()) return mst;
      std::map<std::string, int32_t> counts;
      for (const auto& t : names) {
        const auto* m = cluster.topic(t);
        if (m != nullptr && m->error == 0) counts[t] = static_cast<int32_t>(m->leaders.size());
      }
      auto plan = protocol == "cooperative-sticky" ? detail::assign_cooperative_sticky(full, counts)
                  : protocol == "roundrobin"       ? detail::assign_round_robin(subs, counts)
                                                   : detail::assign_range(subs, counts);
      for (const auto& [m, tps] : plan) {
        auto& a = sync.assignments.emplace_back();
        a.member_id = m;
        a.assignment = detail::encode_assignment(tps);
      }
    }
    // The leader's metadata refresh may have replaced the coordinator's connection.
    c = coordinator_conn();
    if (!c.ok()) return c.error();
    kafka::SyncGroupResponse sresp;
    st = (*c)->call(sync, sresp, cfg.rebalance_timeout_ms + 5000);
    if (!st.ok()) {
      coordinator = -1;
      if (!st.error().retriable()) return st;
      continue;
    }
    if (sresp.error_code == kafka::code(kafka::ErrorCode::REBALANCE_IN_PROGRESS) ||
        sresp.error_code == kafka::code(kafka::ErrorCode::ILLEGAL_GENERATION))
      continue;
    if (sresp.error_code == kafka::code(kafka::ErrorCode::UNKNOWN_MEMBER_ID)) {
      member_id.clear();
      continue;
    }
    if (is_coordinator_error(sresp.error_code)) {
      coordinator = -1;
      continue;
    }
    if (sresp.error_code != 0) return broker_error(sresp.error_code, "SyncGroup " + cfg.group_id);
    auto tps = detail::decode_assignment(sresp.assignment);
    if (!tps.ok()) return tps.error();
    generation = gen;
    need_join = false;
    std::set<TopicPartition> now(tps->begin(), tps->end());
    std::map<TopicPartition, int64_t> revoked;
    for (const auto& [tp, pos] : assigned)
      if (!now.contains(tp) && pos.position >= 0) revoked[tp] = pos.position;
    if (cooperative && !revoked.empty() && cfg.enable_auto_commit) (void)commit(revoked);
    std::erase_if(assigned, [&](const auto& kv) { return !now.contains(kv.first); });
    for (const auto& tp : *tps) assigned[tp];  // new ones start at -1 (committed offset)
    // Cooperative: what we gave up may now go to another member, in a second round.
    if (cooperative && !revoked.empty()) need_join = true;
    next_heartbeat_ms = mono_ms() + cfg.heartbeat_interval_ms;
    next_autocommit_ms = mono_ms() + cfg.auto_commit_interval_ms;
    return {};
  }
}

Status Consumer::Impl::heartbeat() {
  auto c = coordinator_conn();
  if (!c.ok()) return c.error();
  kafka::HeartbeatRequest req;
  req.group_id = cfg.group_id;
  req.generation_id = generation;
  req.member_id = member_id;
  req.group_instance_id = cfg.group_instance_id;
  kafka::HeartbeatResponse resp;
  auto st = (*c)->call(req, resp, cfg.request_timeout_ms);
  next_heartbeat_ms = mono_ms() + cfg.heartbeat_interval_ms;
  if (!st.ok()) {
    coordinator = -1;
    return st;
  }
  const int16_t e = resp.error_code;
  if (e == 0) return {};
  if (e == kafka::code(kafka::ErrorCode::REBALANCE_IN_PROGRESS)) {
    need_join = true;
  } else if (e == kafka::code(kafka::ErrorCode::ILLEGAL_GENERATION) ||
             e == kafka::code(kafka::ErrorCode::UNKNOWN_MEMBER_ID) ||
             e == kafka::code(kafka::ErrorCode::FENCED_INSTANCE_ID)) {
    if (e == kafka::code(kafka::ErrorCode::UNKNOWN_MEMBER_ID)) member_id.clear();
    generation = -1;  // our commits would be refused: do not commit on the way out
    need_join = true;
  } else if (is_coordinator_error(e)) {
    coordinator = -1;
  } else {
    return broker_error(e, "Heartbeat " + cfg.group_id);
  }
  return {};
}

Status Consumer::Impl::ensure_group(int64_t deadline) {
  if (!subscribed) return {};
  if (need_join || generation < 0) {
    // A join can take up to the rebalance timeout whatever poll's own timeout says.
    return join_group(std::max(deadline, mono_ms() + cfg.rebalance_timeout_ms + 5000));
  }
  if (mono_ms() >= next_heartbeat_ms) {
    auto st = heartbeat();
    if (!st.ok() && !st.error().retriable()) return st;
    if (need_join) return join_group(std::max(deadline, mono_ms() + cfg.rebalance_timeout_ms + 5000));
  }
  return {};
}

Status Consumer::Impl::commit(const std::map<TopicPartition, int64_t>& offsets) {
  if (cfg.group_id.empty()) return make_error(Errc::kInvalidArgument, "commit needs a group_id");
  if (offsets.empty()) return {};
  Error last = make_error(Errc::kTimeout, "OffsetCommit");
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto c = coordinator_conn();
    if (!c.ok()) return c.error();
    kafka::OffsetCommitRequest req;
    req.group_id = cfg.group_id;
    req.generation_id_or_member_epoch = subscribed ? generation : -1;
    req.member_id = subscribed ? member_id : std::string();
    req.group_instance_id = subscribed ? cfg.group_instance_id : std::nullopt;
    for (const auto& [tp, off] : offsets) {
      if (req.topics.empty() || req.topics.back().name != tp.topic) req.topics.emplace_back().name = tp.topic;
      auto& p = req.topics.back().partitions.emplace_back();
      p.partition_index = tp.partition;
      p.committed_offset = off;
    }
    kafka::OffsetCommitResponse resp;
    auto st = (*c)->call(req, resp, cfg.request_timeout_ms);
    if (!st.ok()) {
      coordinator = -1;
      last = st.error();
      continue;
    }
    int16_t err = 0;
    for (const auto& t : resp.topics)
      for (const auto& p : t.partitions)
        if (p.error_code != 0) err = p.error_code;
    if (err == 0) return {};
    last = broker_error(err, "OffsetCommit " + cfg.group_id);
    if (is_coordinator_error(err)) {
      coordinator = -1;
      continue;
    }
    if (err == kafka::code(kafka::ErrorCode::REBALANCE_IN_PROGRESS) ||
        err == kafka::code(kafka::ErrorCode::ILLEGAL_GENERATION) ||
        err == kafka::code(kafka::ErrorCode::UNKNOWN_MEMBER_ID))
      need_join = true;
    return last;
  }
  return last;
}

Status Consumer::Impl::commit_positions() {
  std::map<TopicPartition, int64_t> offsets;
  for (const auto& [tp, pos] : assigned)
    if (pos.position >= 0) offsets[tp] = pos.position;
  return commit(offsets);
}

Result<std::map<TopicPartition, int64_t>> Consumer::Impl::fetch_committed(const std::vector<TopicPartition>& tps) {
  std::map<TopicPartition, int64_t> out;
  if (tps.empty()) return out;
  Error last = make_error(Errc::kTimeout, "OffsetFetch");
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto c = coordinator_conn();
    if (!c.ok()) return c.error();
    kafka::OffsetFetchRequest req;
    req.group_id = cfg.group_id;
    req.require_stable = cfg.isolation_level == IsolationLevel::kReadCommitted;
    req.topics.emplace();
    for (const auto& tp : tps) {
      if (req.topics->empty() || req.topics->back().name != tp.topic) req.topics->emplace_back().name = tp.topic;
      req.topics->back().partition_indexes.push_back(tp.partition);
    }
    kafka::OffsetFetchResponse resp;
    auto st = (*c)->call(req, resp, cfg.request_timeout_ms);
    if (!st.ok()) {
      coordinator = -1;
      last = st.error();
      continue;
    }
    int16_t err = resp.error_code;
    for (const auto& t : resp.topics)
      for (const auto& p : t.partitions) {
        if (p.error_code != 0) err = p.error_code;
        out[TopicPartition{t.name, p.partition_index}] = p.committed_offset;
      }
    if (err == 0) return out;
    last = broker_error(err, "OffsetFetch " + cfg.group_id);
    if (!last.retriable()) return last;
    if (is_coordinator_error(err)) coordinator = -1;
    out.clear();
    std::this_thread::sleep_for(std::chrono::milliseconds(cfg.retry_backoff_ms));
  }
  return last;
}

Result<std::map<TopicPartition, std::pair<int64_t, int64_t>>> Consumer::Impl::list_offsets(
    const std::vector<std::pair<TopicPartition, int64_t>>& query) {
  std::map<TopicPartition, std::pair<int64_t, int64_t>> out;
  std::vector<std::string> topics;
  topics.reserve(query.size());
  for (const auto& [tp, ts] : query) topics.push_back(tp.topic);
  auto st = ensure_metadata(topics);
  if (!st.ok()) return st.error();
  std::map<int32_t, std::vector<std::pair<TopicPartition, int64_t>>> by_leader;
  for (const auto& q : query) {
    const int32_t leader = cluster.leader(q.first.topic, q.first.partition);
    if (leader < 0)
      return make_error(Errc::kUnknownTopic,
                        "no leader for " + q.first.topic + "-" + std::to_string(q.first.partition));
    by_leader[leader].push_back(q);
  }
  for (const auto& [leader, list] : by_leader) {
    auto c = cluster.node(leader);
    if (!c.ok()) return c.error();
    kafka::ListOffsetsRequest req;
    req.replica_id = -1;
    req.isolation_level = static_cast<int8_t>(cfg.isolation_level);
    for (const auto& [tp, ts] : list) {
      if (req.topics.empty() || req.topics.back().name != tp.topic) req.topics.emplace_back().name = tp.topic;
      auto& p = req.topics.back().partitions.emplace_back();
      p.partition_index = tp.partition;
      p.timestamp = ts;
    }
    kafka::ListOffsetsResponse resp;
    auto cst = (*c)->call(req, resp, cfg.request_timeout_ms);
    if (!cst.ok()) return cst.error();
    for (const auto& t : resp.topics)
      for (const auto& p : t.partitions) {
        // Only the partitions asked for count (librdkafka's mock cluster sometimes adds an entry
        // for partition -1 with UNKNOWN_SERVER_ERROR); one left unanswered is asked again later.
        const TopicPartition tp{t.name, p.partition_index};
        if (std::none_of(list.begin(), list.end(), [&](const auto& q) { return q.first == tp; })) continue;
        if (p.error_code != 0)
          return broker_error(p.error_code, "ListOffsets " + t.name + "-" + std::to_string(p.partition_index));
        out[tp] = {p.offset, p.timestamp};
      }
  }
  return out;
}

Status Consumer::Impl::resolve_positions() {
  std::vector<TopicPartition> unknown;
  for (const auto& [tp, pos] : assigned)
    if (pos.position < 0) unknown.push_back(tp);
  if (unknown.empty()) return {};
  std::vector<std::pair<TopicPartition, int64_t>> reset;
  if (!cfg.group_id.empty()) {
    auto committed = fetch_committed(unknown);
    if (!committed.ok()) return committed.error();
    for (const auto& tp : unknown) {
      auto it = committed->find(tp);
      if (it != committed->end() && it->second >= 0) assigned[tp].position = it->second;
      else reset.emplace_back(tp, 0);
    }
  } else {
    for (const auto& tp : unknown) reset.emplace_back(tp, 0);
  }
  if (reset.empty()) return {};
  if (cfg.auto_offset_reset == OffsetReset::kNone)
    return make_error(Errc::kInvalidArgument,
                      "no committed offset for " + reset[0].first.topic + " and auto_offset_reset=none");
  for (auto& r : reset) r.second = cfg.auto_offset_reset == OffsetReset::kEarliest ? -2 : -1;
  auto offs = list_offsets(reset);
  if (!offs.ok()) return offs.error();
  for (const auto& [tp, o] : *offs) {
    auto it = assigned.find(tp);
    if (it != assigned.end()) it->second.position = o.first;
  }
  return {};
}

Status Consumer::Impl::fetch_once(int wait_ms, std::vector<ConsumerRecord>& out) {
  std::vector<std::string> topics;
  for (const auto& [tp, pos] : assigned) topics.push_back(tp.topic);
  auto st = ensure_metadata(topics);
  if (!st.ok()) return st;
  std::map<int32_t, std::vector<TopicPartition>> by_leader;
  for (const auto& [tp, pos] : assigned) {
    if (pos.paused || pos.position < 0) continue;
    const int32_t leader = cluster.leader(tp.topic, tp.partition);
    if (leader >= 0) by_leader[leader].push_back(tp);
  }
  if (by_leader.empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(wait_ms, 50)));
    return {};
  }
  struct Sent {
    int32_t leader;
    detail::Conn* conn;
    int32_t corr;
    int16_t version;
  };
  std::vector<Sent> sent;
  // Only one broker waits (long poll); the others answer at once, so records from any of them
  // arrive without waiting for the slowest.
  bool first = true;
  bool unreachable = false;
  for (const auto& [leader, tps] : by_leader) {
    auto c = cluster.node(leader);
    if (!c.ok()) {
      unreachable = true;  // refreshed after the answers: a refresh now could replace their connections
      continue;
    }
    const int16_t v = (*c)->version(kafka::FetchRequest::kApiKey);
    if (v < 0) return make_error(Errc::kUnsupportedVersion, "broker does not support Fetch v4-12");
    kafka::FetchRequest req;
    req.replica_id = -1;
    req.max_wait_ms = by_leader.size() == 1 || first ? wait_ms : 0;
    first = false;
    req.min_bytes = cfg.fetch_min_bytes;
    req.max_bytes = cfg.fetch_max_bytes;
    req.isolation_level = static_cast<int8_t>(cfg.isolation_level);
    req.session_id = 0;
    req.session_epoch = -1;
    for (const auto& tp : tps) {
      if (req.topics.empty() || req.topics.back().topic != tp.topic) req.topics.emplace_back().topic = tp.topic;
      auto& p = req.topics.back().partitions.emplace_back();
      p.partition = tp.partition;
      p.fetch_offset = assigned[tp].position;
      p.partition_max_bytes = cfg.max_partition_fetch_bytes;
    }
    auto corr = (*c)->send(v, req);
    if (!corr.ok()) continue;
    sent.push_back(Sent{leader, *c, *corr, v});
  }
  bool refresh = unreachable;
  Status result;
  std::vector<std::pair<TopicPartition, int64_t>> out_of_range;
  for (const auto& s : sent) {
    kafka::FetchResponse resp;
    auto rst = s.conn->receive(s.corr, s.version, resp, mono_ms() + wait_ms + cfg.request_timeout_ms);
    if (!rst.ok()) {
      cluster.drop(s.leader);
      refresh = true;
      if (rst.error().code == Errc::kMalformedResponse) result = rst;
      continue;
    }
    if (resp.error_code != 0) {
      result = broker_error(resp.error_code, "Fetch");
      continue;
    }
    for (const auto& t : resp.responses) {
      for (const auto& p : t.partitions) {
        auto it = assigned.find(TopicPartition{t.topic, p.partition_index});
        if (it == assigned.end() || it->second.position < 0) continue;
        PartPos& pos = it->second;
        if (p.error_code == kafka::code(kafka::ErrorCode::OFFSET_OUT_OF_RANGE)) {
          // Reset through auto_offset_reset once every answer is read: a ListOffsets now could
          // refresh metadata and replace connections still holding responses.
          if (cfg.auto_offset_reset == OffsetReset::kNone)
            result = broker_error(p.error_code, "Fetch " + t.topic + "-" + std::to_string(p.partition_index));
          else out_of_range.emplace_back(it->first, cfg.auto_offset_reset == OffsetReset::kEarliest ? -2 : -1);
          continue;
        }
        if (p.error_code != 0) {
          Error e = broker_error(p.error_code, "Fetch " + t.topic + "-" + std::to_string(p.partition_index));
          if (e.retriable()) refresh = true;
          else result = e;
          continue;
        }
        std::vector<detail::AbortedTxn>* aborted = nullptr;
        if (cfg.isolation_level == IsolationLevel::kReadCommitted) {
          pos.aborted.clear();
          if (p.aborted_transactions)
            for (const auto& a : *p.aborted_transactions) pos.aborted.push_back({a.producer_id, a.first_offset});
          aborted = &pos.aborted;
        }
        auto next = detail::decode_batches(p.records.view, t.topic, p.partition_index, pos.position, cfg.check_crcs,
                                           aborted, out);
        if (!next.ok()) {
          result = next.error();
          continue;
        }
        pos.position = *next;
      }
    }
  }
  if (!out_of_range.empty()) {
    auto offs = list_offsets(out_of_range);
    if (offs.ok()) {
      for (const auto& [tp, o] : *offs) {
        auto it = assigned.find(tp);
        if (it != assigned.end()) it->second.position = o.first;
      }
    }
  }
  if (refresh) (void)cluster.refresh_known();
  return result;
}

void Consumer::Impl::leave_group() {
  if (!subscribed || member_id.empty() || coordinator < 0) return;
  auto c = cluster.node(coordinator);
  if (!c.ok()) return;
  kafka::LeaveGroupRequest req;
  req.group_id = cfg.group_id;
  req.member_id = member_id;
  auto& m = req.members.emplace_back();
  m.member_id = member_id;
  m.group_instance_id = cfg.group_instance_id;
  kafka::LeaveGroupResponse resp;
  (void)(*c)->call(req, resp, cfg.request_timeout_ms);
  member_id.clear();
  generation = -1;
}

Consumer::Consumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Consumer::~Consumer() { close(); }

Result<std::unique_ptr<Consumer>> Consumer::create(const ConsumerConfig& cfg) {
  if (cfg.assignors.empty()) return make_error(Errc::kInvalidArgument, "no assignor configured");
  auto impl = std::make_unique<Impl>(cfg);
  auto st = impl->cluster.bootstrap();
  if (!st.ok()) return st.error();
  return std::unique_ptr<Consumer>(new Consumer(std::move(impl)));
}

Status Consumer::assign(const std::vector<TopicPartition>& partitions) {
  if (impl_->subscribed) return make_error(Errc::kInvalidArgument, "assign() after subscribe()");
  std::map<TopicPartition, PartPos> next;
  for (const auto& tp : partitions) {
    auto it = impl_->assigned.find(tp);
    next[tp] = it != impl_->assigned.end() ? it->second : PartPos{};
  }
  impl_->assigned = std::move(next);
  return {};
}

Status Consumer::subscribe(const std::vector<std::string>& topics) {
  if (impl_->cfg.group_id.empty()) return make_error(Errc::kInvalidArgument, "subscribe() needs a group_id");
  if (topics.empty()) return make_error(Errc::kInvalidArgument, "subscribe() to no topic");
  impl_->subscription = topics;
  std::sort(impl_->subscription.begin(), impl_->subscription.end());
  impl_->assigned.clear();
  impl_->subscribed = true;
  impl_->need_join = true;
  return {};
}

void Consumer::unsubscribe() {
  if (impl_->subscribed && impl_->cfg.enable_auto_commit && impl_->generation >= 0) (void)impl_->commit_positions();
  impl_->leave_group();
  impl_->subscribed = false;
  impl_->assigned.clear();
}

std::vector<TopicPartition> Consumer::assignment() const {
  std::vector<TopicPartition> out;
  for (const auto& [tp, pos] : impl_->assigned) out.push_back(tp);
  return out;
}

Result<std::vector<ConsumerRecord>> Consumer::poll(int timeout_ms) {
  Impl& d = *impl_;
  if (d.closed) return make_error(Errc::kClosed, "consumer closed");
  const int64_t deadline = mono_ms() + std::max(timeout_ms, 0);
  std::vector<ConsumerRecord> out;
  for (;;) {
    auto st = d.ensure_group(deadline);
    if (!st.ok()) return st.error();
    // Auto-commit: group members once they have a generation; assign() users with a group_id too
    // (committed as a non-member, generation -1, as the Java client does).
    const bool can_commit = !d.cfg.group_id.empty() && (!d.subscribed || d.generation >= 0);
    if (d.cfg.enable_auto_commit && can_commit && mono_ms() >= d.next_autocommit_ms) {
      (void)d.commit_positions();
      d.next_autocommit_ms = mono_ms() + d.cfg.auto_commit_interval_ms;
    }
    st = d.resolve_positions();
    if (!st.ok() && st.error().code != Errc::kBroker && !st.error().retriable()) return st.error();
    if (!st.ok()) {
      // A broker error while looking up where to start (a partition just created may answer
      // with an error for a moment): tried again within this poll, reported if it persists.
      if (mono_ms() + d.cfg.retry_backoff_ms >= deadline) return st.error();
      std::this_thread::sleep_for(std::chrono::milliseconds(d.cfg.retry_backoff_ms));
      continue;
    }
    int64_t wait = std::max<int64_t>(0, deadline - mono_ms());
    wait = std::min<int64_t>(wait, d.cfg.fetch_max_wait_ms);
    if (d.subscribed) wait = std::min<int64_t>(wait, std::max<int64_t>(0, d.next_heartbeat_ms - mono_ms()));
    st = d.fetch_once(static_cast<int>(wait), out);
    if (!out.empty()) return out;
    if (!st.ok() && !st.error().retriable()) return st.error();
    if (mono_ms() >= deadline) return out;
  }
}

Status Consumer::seek(const TopicPartition& tp, int64_t offset) {
  auto it = impl_->assigned.find(tp);
  if (it == impl_->assigned.end()) return make_error(Errc::kInvalidArgument, "seek on an unassigned partition");
  if (offset < 0) return make_error(Errc::kInvalidArgument, "negative offset");
  it->second.position = offset;
  return {};
}

Status Consumer::seek_to_beginning(const std::vector<TopicPartition>& tps) {
  std::vector<std::pair<TopicPartition, int64_t>> q;
  q.reserve(tps.size());
  for (const auto& tp : tps) q.emplace_back(tp, -2);
  auto offs = impl_->list_offsets(q);
  if (!offs.ok()) return offs.error();
  for (const auto& [tp, o] : *offs) (void)seek(tp, o.first);
  return {};
}

Status Consumer::seek_to_end(const std::vector<TopicPartition>& tps) {
  std::vector<std::pair<TopicPartition, int64_t>> q;
  q.reserve(tps.size());
  for (const auto& tp : tps) q.emplace_back(tp, -1);
  auto offs = impl_->list_offsets(q);
  if (!offs.ok()) return offs.error();
  for (const auto& [tp, o] : *offs) (void)seek(tp, o.first);
  return {};
}

Result<std::vector<std::pair<TopicPartition, OffsetAndTimestamp>>> Consumer::offsets_for_times(
    const std::vector<std::pair<TopicPartition, int64_t>>& query) {
  for (const auto& q : query)
    if (q.second < 0) return make_error(Errc::kInvalidArgument, "negative timestamp");
  auto offs = impl_->list_offsets(query);
  if (!offs.ok()) return offs.error();
  std::vector<std::pair<TopicPartition, OffsetAndTimestamp>> out;
  for (const auto& [tp, o] : *offs) out.emplace_back(tp, OffsetAndTimestamp{o.first, o.second});
  return out;
}

Status Consumer::seek_to_timestamp(const std::vector<TopicPartition>& tps, int64_t timestamp_ms) {
  std::vector<std::pair<TopicPartition, int64_t>> q;
  q.reserve(tps.size());
  for (const auto& tp : tps) q.emplace_back(tp, timestamp_ms);
  auto offs = offsets_for_times(q);
  if (!offs.ok()) return offs.error();
  std::vector<TopicPartition> past_end;
  for (const auto& [tp, o] : *offs) {
    if (o.offset >= 0) (void)seek(tp, o.offset);
    else past_end.push_back(tp);  // nothing at or after the time: the end
  }
  if (!past_end.empty()) return seek_to_end(past_end);
  return {};
}

Result<int64_t> Consumer::position(const TopicPartition& tp) {
  auto it = impl_->assigned.find(tp);
  if (it == impl_->assigned.end()) return make_error(Errc::kInvalidArgument, "position of an unassigned partition");
  if (it->second.position < 0) {
    auto st = impl_->resolve_positions();
    if (!st.ok()) return st.error();
  }
  return it->second.position;
}

void Consumer::pause(const std::vector<TopicPartition>& tps) {
  for (const auto& tp : tps) {
    auto it = impl_->assigned.find(tp);
    if (it != impl_->assigned.end()) it->second.paused = true;
  }
}

void Consumer::resume(const std::vector<TopicPartition>& tps) {
  for (const auto& tp : tps) {
    auto it = impl_->assigned.find(tp);
    if (it != impl_->assigned.end()) it->second.paused = false;
  }
}

std::vector<TopicPartition> Consumer::paused() const {
  std::vector<TopicPartition> out;
  for (const auto& [tp, pos] : impl_->assigned)
    if (pos.paused) out.push_back(tp);
  return out;
}

Status Consumer::commit_sync() { return impl_->commit_positions(); }

Status Consumer::commit_sync(const std::vector<std::pair<TopicPartition, int64_t>>& offsets) {
  std::map<TopicPartition, int64_t> m(offsets.begin(), offsets.end());
  return impl_->commit(m);
}

Result<int64_t> Consumer::committed(const TopicPartition& tp) {
  auto r = impl_->fetch_committed({tp});
  if (!r.ok()) return r.error();
  auto it = r->find(tp);
  return it == r->end() ? -1 : it->second;
}

void Consumer::close() {
  if (!impl_ || impl_->closed) return;
  if (impl_->subscribed) {
    unsubscribe();
  } else if (impl_->cfg.enable_auto_commit && !impl_->cfg.group_id.empty() && !impl_->assigned.empty()) {
    (void)impl_->commit_positions();
  }
  impl_->closed = true;
}

std::string Consumer::member_id() const { return impl_->member_id; }
int32_t Consumer::generation() const { return impl_->generation; }

}  // namespace sluice::client
