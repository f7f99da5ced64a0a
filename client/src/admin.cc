#include "sluice/client/admin.h"

#include <set>
#include <thread>

#include "client/src/cluster.h"
#include "client/src/group_protocol.h"

namespace sluice::client {

using detail::mono_ms;

struct Admin::Impl {
  explicit Impl(const ClientConfig& c) : cfg(c), cluster(c) {}
  ClientConfig cfg;
  detail::Cluster cluster;

  Result<detail::Conn*> controller() {
    if (cluster.controller_id() >= 0) {
      auto c = cluster.node(cluster.controller_id());
      if (c.ok()) return c;
    }
    return cluster.any();
  }

  Result<detail::Conn*> coordinator(const std::string& group) {
    auto c = cluster.group_coordinator(group);
    if (!c.ok()) return c.error();
    return c->second;
  }

  // Topic metadata must show the change before the call returns, so the caller can use it.
  void wait_metadata(const std::vector<std::string>& topics, bool present, int timeout_ms) {
    const int64_t deadline = mono_ms() + timeout_ms;
    while (mono_ms() < deadline) {
      if (!cluster.refresh(topics, false).ok()) return;
      bool all = true;
      for (const auto& t : topics) {
        const auto* m = cluster.topic(t);
        const bool here = m != nullptr && m->error == 0 && !m->leaders.empty() &&
                          std::find(m->leaders.begin(), m->leaders.end(), -1) == m->leaders.end();
        all = all && (here == present);
      }
      if (all) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
};

Admin::Admin(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Admin::~Admin() = default;

Result<std::unique_ptr<Admin>> Admin::create(const ClientConfig& cfg) {
  auto impl = std::make_unique<Impl>(cfg);
  auto st = impl->cluster.bootstrap();
  if (!st.ok()) return st.error();
  return std::unique_ptr<Admin>(new Admin(std::move(impl)));
}

Status Admin::create_topics(const std::vector<NewTopic>& topics, int timeout_ms) {
  auto c = impl_->controller();
  if (!c.ok()) return c.error();
  kafka::CreateTopicsRequest req;
  req.timeout_ms = timeout_ms;
  for (const auto& t : topics) {
    auto& ct = req.topics.emplace_back();
    ct.name = t.name;
    ct.num_partitions = t.partitions;
    ct.replication_factor = t.replication_factor;
    for (const auto& [k, v] : t.configs) {
      auto& cfg = ct.configs.emplace_back();
      cfg.name = k;
      cfg.value = v;
    }
  }
  kafka::CreateTopicsResponse resp;
  auto st = (*c)->call(req, resp, timeout_ms + 5000);
  if (!st.ok()) return st;
  std::vector<std::string> names;
  Status result;
  for (const auto& r : resp.topics) {
    if (r.error_code == 0) {
      names.push_back(r.name);
    } else if (result.ok()) {
      Error e = broker_error(r.error_code, "create topic " + r.name);
      if (r.error_message) e.message += ": " + *r.error_message;
      result = e;
    }
  }
  if (!names.empty()) impl_->wait_metadata(names, true, timeout_ms);
  return result;
}

Status Admin::delete_topics(const std::vector<std::string>& topics, int timeout_ms) {
  auto c = impl_->controller();
  if (!c.ok()) return c.error();
  kafka::DeleteTopicsRequest req;
  req.topic_names = topics;
  req.timeout_ms = timeout_ms;
  kafka::DeleteTopicsResponse resp;
  auto st = (*c)->call(req, resp, timeout_ms + 5000);
  if (!st.ok()) return st;
  std::vector<std::string> names;
  Status result;
  for (const auto& r : resp.responses) {
    const std::string name = r.name.value_or("?");
    if (r.error_code == 0) {
      names.push_back(name);
    } else if (result.ok()) {
      Error e = broker_error(r.error_code, "delete topic " + name);
      if (r.error_message) e.message += ": " + *r.error_message;
      result = e;
    }
  }
  if (!names.empty()) impl_->wait_metadata(names, false, timeout_ms);
  return result;
}

Status Admin::create_partitions(const std::string& topic, int32_t total_count, int timeout_ms) {
  auto c = impl_->controller();
  if (!c.ok()) return c.error();
  kafka::CreatePartitionsRequest req;
  auto& t = req.topics.emplace_back();
  t.name = topic;
  t.count = total_count;
  req.timeout_ms = timeout_ms;
  kafka::CreatePartitionsResponse resp;
  auto st = (*c)->call(req, resp, timeout_ms + 5000);
  if (!st.ok()) return st;
  for (const auto& r : resp.results) {
    if (r.error_code != 0) {
      Error e = broker_error(r.error_code, "create partitions of " + r.name);
      if (r.error_message) e.message += ": " + *r.error_message;
      return e;
    }
  }
  const int64_t deadline = mono_ms() + timeout_ms;
  while (mono_ms() < deadline) {
    if (!impl_->cluster.refresh({topic}, false).ok()) break;
    const auto* m = impl_->cluster.topic(topic);
    if (m != nullptr && static_cast<int32_t>(m->leaders.size()) >= total_count) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return {};
}

Result<std::vector<TopicInfo>> Admin::list_topics(bool include_internal) {
  auto st = impl_->cluster.refresh({}, false, true);
  if (!st.ok()) return st.error();
  std::vector<TopicInfo> out;
  for (const auto& [name, m] : impl_->cluster.topics()) {
    if (m.error != 0 || (m.internal && !include_internal)) continue;
    TopicInfo info;
    info.name = name;
    info.internal = m.internal;
    for (std::size_t p = 0; p < m.leaders.size(); ++p)
      info.partitions.push_back(PartitionInfo{static_cast<int32_t>(p), m.leaders[p], m.partition_errors[p]});
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(), [](const TopicInfo& a, const TopicInfo& b) { return a.name < b.name; });
  return out;
}

Result<TopicInfo> Admin::describe_topic(const std::string& topic) {
  auto st = impl_->cluster.refresh({topic}, false);
  if (!st.ok()) return st.error();
  const auto* m = impl_->cluster.topic(topic);
  if (m == nullptr) return make_error(Errc::kUnknownTopic, "unknown topic " + topic);
  if (m->error != 0) return broker_error(m->error, "describe topic " + topic);
  TopicInfo info;
  info.name = topic;
  info.internal = m->internal;
  for (std::size_t p = 0; p < m->leaders.size(); ++p)
    info.partitions.push_back(PartitionInfo{static_cast<int32_t>(p), m->leaders[p], m->partition_errors[p]});
  return info;
}

Result<ClusterInfo> Admin::describe_cluster() {
  // Metadata answers the same as DescribeCluster and every Kafka implementation has it.
  auto st = impl_->cluster.refresh({}, false);
  if (!st.ok()) return st.error();
  ClusterInfo info;
  info.cluster_id = impl_->cluster.cluster_id();
  info.controller_id = impl_->cluster.controller_id();
  for (const auto& [id, b] : impl_->cluster.brokers()) info.brokers.push_back(BrokerInfo{id, b.host, b.port, b.rack});
  return info;
}

Result<std::vector<GroupListing>> Admin::list_groups() {
  auto st = impl_->cluster.refresh({}, false);
  if (!st.ok()) return st.error();
  std::vector<int32_t> ids;
  for (const auto& [id, b] : impl_->cluster.brokers()) ids.push_back(id);
  std::vector<GroupListing> out;
  std::set<std::string> seen;
  for (int32_t id : ids) {
    auto c = impl_->cluster.node(id);
    if (!c.ok()) return c.error();
    kafka::ListGroupsRequest req;
    kafka::ListGroupsResponse resp;
    auto cst = (*c)->call(req, resp, impl_->cfg.request_timeout_ms);
    if (!cst.ok()) return cst.error();
    if (resp.error_code != 0) return broker_error(resp.error_code, "ListGroups");
    for (const auto& g : resp.groups)
      if (seen.insert(g.group_id).second) out.push_back(GroupListing{g.group_id, g.protocol_type, g.group_state});
  }
  return out;
}

Result<GroupDescription> Admin::describe_group(const std::string& group_id) {
  auto c = impl_->coordinator(group_id);
  if (!c.ok()) return c.error();
  kafka::DescribeGroupsRequest req;
  req.groups = {group_id};
  kafka::DescribeGroupsResponse resp;
  auto st = (*c)->call(req, resp, impl_->cfg.request_timeout_ms);
  if (!st.ok()) return st.error();
  if (resp.groups.empty()) return make_error(Errc::kMalformedResponse, "DescribeGroups: no group in the answer");
  const auto& g = resp.groups[0];
  if (g.error_code != 0) return broker_error(g.error_code, "describe group " + group_id);
  GroupDescription d;
  d.group_id = g.group_id;
  d.state = g.group_state;
  d.protocol_type = g.protocol_type;
  d.protocol = g.protocol_data;
  for (const auto& m : g.members) {
    MemberDescription md;
    md.member_id = m.member_id;
    md.group_instance_id = m.group_instance_id;
    md.client_id = m.client_id;
    md.client_host = m.client_host;
    if (g.protocol_type == "consumer") {
      auto a = detail::decode_assignment(m.member_assignment);
      if (a.ok()) md.assignment = std::move(*a);
    }
    d.members.push_back(std::move(md));
  }
  return d;
}

Status Admin::delete_groups(const std::vector<std::string>& group_ids) {
  for (const auto& g : group_ids) {
    auto c = impl_->coordinator(g);
    if (!c.ok()) return c.error();
    kafka::DeleteGroupsRequest req;
    req.groups_names = {g};
    kafka::DeleteGroupsResponse resp;
    auto st = (*c)->call(req, resp, impl_->cfg.request_timeout_ms);
    if (!st.ok()) return st;
    for (const auto& r : resp.results)
      if (r.error_code != 0) return broker_error(r.error_code, "delete group " + r.group_id);
  }
  return {};
}

Result<std::map<TopicPartition, int64_t>> Admin::list_group_offsets(const std::string& group_id) {
  auto c = impl_->coordinator(group_id);
  if (!c.ok()) return c.error();
  kafka::OffsetFetchRequest req;
  req.group_id = group_id;
  req.topics = std::nullopt;  // all committed offsets (v2+)
  kafka::OffsetFetchResponse resp;
  auto st = (*c)->call(req, resp, impl_->cfg.request_timeout_ms);
  if (!st.ok()) return st.error();
  if (resp.error_code != 0) return broker_error(resp.error_code, "OffsetFetch " + group_id);
  std::map<TopicPartition, int64_t> out;
  for (const auto& t : resp.topics)
    for (const auto& p : t.partitions) {
      if (p.error_code != 0) return broker_error(p.error_code, "OffsetFetch " + group_id);
      if (p.committed_offset >= 0) out[TopicPartition{t.name, p.partition_index}] = p.committed_offset;
    }
  return out;
}

Status Admin::alter_group_offsets(const std::string& group_id, const std::map<TopicPartition, int64_t>& offsets) {
  auto c = impl_->coordinator(group_id);
  if (!c.ok()) return c.error();
  kafka::OffsetCommitRequest req;
  req.group_id = group_id;
  req.generation_id_or_member_epoch = -1;  // not a member: the group must be empty
  for (const auto& [tp, off] : offsets) {
    if (req.topics.empty() || req.topics.back().name != tp.topic) req.topics.emplace_back().name = tp.topic;
    auto& p = req.topics.back().partitions.emplace_back();
    p.partition_index = tp.partition;
    p.committed_offset = off;
  }
  kafka::OffsetCommitResponse resp;
  auto st = (*c)->call(req, resp, impl_->cfg.request_timeout_ms);
  if (!st.ok()) return st;
  for (const auto& t : resp.topics)
    for (const auto& p : t.partitions)
      if (p.error_code != 0) return broker_error(p.error_code, "alter offsets of " + group_id);
  return {};
}

Result<std::map<TopicPartition, int64_t>> Admin::list_offsets(const std::vector<TopicPartition>& tps, int64_t spec) {
  std::vector<std::string> topics;
  topics.reserve(tps.size());
  for (const auto& tp : tps) topics.push_back(tp.topic);
  auto st = impl_->cluster.refresh(topics, false);
  if (!st.ok()) return st.error();
  std::map<TopicPartition, int64_t> out;
  for (const auto& tp : tps) {
    const int32_t leader = impl_->cluster.leader(tp.topic, tp.partition);
    if (leader < 0)
      return make_error(Errc::kUnknownTopic, "no leader for " + tp.topic + "-" + std::to_string(tp.partition));
    auto c = impl_->cluster.node(leader);
    if (!c.ok()) return c.error();
    kafka::ListOffsetsRequest req;
    req.replica_id = -1;
    auto& t = req.topics.emplace_back();
    t.name = tp.topic;
    auto& p = t.partitions.emplace_back();
    p.partition_index = tp.partition;
    p.timestamp = spec;
    kafka::ListOffsetsResponse resp;
    auto cst = (*c)->call(req, resp, impl_->cfg.request_timeout_ms);
    if (!cst.ok()) return cst.error();
    for (const auto& rt : resp.topics)
      for (const auto& rp : rt.partitions) {
        if (rp.error_code != 0) return broker_error(rp.error_code, "ListOffsets " + rt.name);
        out[TopicPartition{rt.name, rp.partition_index}] = rp.offset;
      }
  }
  return out;
}

Result<std::vector<ConfigEntry>> Admin::describe_configs(ConfigResourceType type, const std::string& name) {
  auto c = impl_->controller();
  if (!c.ok()) return c.error();
  kafka::DescribeConfigsRequest req;
  auto& r = req.resources.emplace_back();
  r.resource_type = static_cast<int8_t>(type);
  r.resource_name = name;
  r.configuration_keys = std::nullopt;
  kafka::DescribeConfigsResponse resp;
  auto st = (*c)->call(req, resp, impl_->cfg.request_timeout_ms);
  if (!st.ok()) return st.error();
  if (resp.results.empty()) return make_error(Errc::kMalformedResponse, "DescribeConfigs: no result");
  const auto& res = resp.results[0];
  if (res.error_code != 0) return broker_error(res.error_code, "describe configs of " + name);
  std::vector<ConfigEntry> out;
  for (const auto& e : res.configs)
    out.push_back(ConfigEntry{e.name, e.value, e.read_only, e.is_default || e.config_source == 5, e.is_sensitive});
  return out;
}

}  // namespace sluice::client
