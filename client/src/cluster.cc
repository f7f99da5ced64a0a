#include "client/src/cluster.h"

#include <algorithm>
#include <chrono>
#include <thread>

namespace sluice::client::detail {

Result<std::vector<std::pair<std::string, int32_t>>> parse_bootstrap(const std::string& servers) {
  std::vector<std::pair<std::string, int32_t>> out;
  std::size_t pos = 0;
  while (pos <= servers.size()) {
    std::size_t end = servers.find(',', pos);
    if (end == std::string::npos) end = servers.size();
    std::string item = servers.substr(pos, end - pos);
    pos = end + 1;
    if (item.empty()) continue;
    const auto colon = item.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == item.size())
      return make_error(Errc::kInvalidArgument, "bootstrap server must be HOST:PORT: " + item);
    int32_t port = 0;
    for (std::size_t i = colon + 1; i < item.size(); ++i) {
      if (item[i] < '0' || item[i] > '9' || port > 65535)
        return make_error(Errc::kInvalidArgument, "bad port in " + item);
      port = port * 10 + (item[i] - '0');
    }
    std::string host = item.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    out.emplace_back(std::move(host), port);
  }
  if (out.empty()) return make_error(Errc::kInvalidArgument, "no bootstrap servers");
  return out;
}

Cluster::Cluster(ClientConfig cfg) : cfg_(std::move(cfg)) {}

Status Cluster::bootstrap() {
  auto bs = parse_bootstrap(cfg_.bootstrap_servers);
  if (!bs.ok()) return bs.error();
  bootstrap_ = std::move(*bs);
  Error last = make_error(Errc::kNetwork, "no bootstrap server answered");
  for (const auto& [host, port] : bootstrap_) {
    auto st = bootstrap_conn_.connect(host, port, cfg_.client_id, cfg_.connect_timeout_ms);
    if (st.ok()) return refresh({}, false);
    last = st.error();
  }
  return last;
}

Result<Conn*> Cluster::any() {
  // Prefer a broker already connected; then any broker; then the bootstrap connection.
  for (auto& [id, b] : brokers_)
    if (b.conn && b.conn->connected()) return b.conn.get();
  if (!brokers_.empty()) {
    const std::size_t n = brokers_.size();
    for (std::size_t k = 0; k < n; ++k) {
      auto it = brokers_.begin();
      std::advance(it, static_cast<std::ptrdiff_t>((next_any_ + k) % n));
      auto c = node(it->first);
      if (c.ok()) {
        next_any_ = (next_any_ + k + 1) % n;
        return c;
      }
    }
  }
  if (bootstrap_conn_.connected()) return &bootstrap_conn_;
  Error last = make_error(Errc::kNetwork, "no broker reachable");
  for (const auto& [host, port] : bootstrap_) {
    auto st = bootstrap_conn_.connect(host, port, cfg_.client_id, cfg_.connect_timeout_ms);
    if (st.ok()) return &bootstrap_conn_;
    last = st.error();
  }
  return last;
}

Result<Conn*> Cluster::node(int32_t node_id) {
  auto it = brokers_.find(node_id);
  if (it == brokers_.end()) return make_error(Errc::kNetwork, "unknown broker " + std::to_string(node_id));
  BrokerMeta& b = it->second;
  if (!b.conn) b.conn = std::make_unique<Conn>();
  if (!b.conn->connected()) {
    auto st = b.conn->connect(b.host, b.port, cfg_.client_id, cfg_.connect_timeout_ms);
    if (!st.ok()) return st.error();
  }
  return b.conn.get();
}

Result<Conn*> Cluster::at(int32_t node_id, const std::string& host, int32_t port) {
  auto it = brokers_.find(node_id);
  if (it == brokers_.end() || it->second.host != host || it->second.port != port) {
    BrokerMeta& b = brokers_[node_id];
    b.host = host;
    b.port = port;
    b.conn.reset();
  }
  return node(node_id);
}

void Cluster::drop(int32_t node_id) {
  auto it = brokers_.find(node_id);
  if (it != brokers_.end() && it->second.conn) it->second.conn->close();
}

Status Cluster::refresh_known() {
  std::vector<std::string> names;
  names.reserve(topics_.size());
  for (const auto& [name, t] : topics_) names.push_back(name);
  if (names.empty()) return {};
  return refresh(names, false);
}

Status Cluster::refresh(const std::vector<std::string>& topics, bool allow_auto_create, bool all_topics) {
  kafka::MetadataRequest req;
  // An empty list asks for no topic; null asks for all. Bootstrap asks for none.
  if (!all_topics) {
    req.topics.emplace();
    for (const auto& t : topics) req.topics->emplace_back().name = t;
  }
  req.allow_auto_topic_creation = allow_auto_create;
  kafka::MetadataResponse resp;
  Error last = make_error(Errc::kNetwork, "no broker reachable");
  bool done = false;
  for (int attempt = 0; attempt < 3 && !done; ++attempt) {
    auto c = any();
    if (!c.ok()) {
      last = c.error();
      continue;
    }
    resp = {};
    auto st = (*c)->call(req, resp, cfg_.request_timeout_ms);
    if (st.ok()) {
      done = true;
    } else {
      last = st.error();
      (*c)->close();
    }
  }
  if (!done) return last;
  for (const auto& b : resp.brokers) {
    BrokerMeta& m = brokers_[b.node_id];
    if (m.host != b.host || m.port != b.port) {
      m.host = b.host;
      m.port = b.port;
      m.conn.reset();
    }
    m.rack = b.rack;
  }
  // Forget brokers no longer listed (a restarted cluster may renumber).
  for (auto it = brokers_.begin(); it != brokers_.end();) {
    const bool listed =
        std::any_of(resp.brokers.begin(), resp.brokers.end(), [&](const auto& b) { return b.node_id == it->first; });
    it = listed ? std::next(it) : brokers_.erase(it);
  }
  controller_id_ = resp.controller_id;
  cluster_id_ = resp.cluster_id;
  // Partition indexes are dense (0..n-1): anything else is a broken answer, and must not size
  // an allocation.
  for (const auto& t : resp.topics)
    for (const auto& p : t.partitions)
      if (p.partition_index < 0 || static_cast<std::size_t>(p.partition_index) >= t.partitions.size())
        return make_error(Errc::kMalformedResponse, "Metadata: partition index " + std::to_string(p.partition_index) +
                                                        " out of range for " + t.name.value_or("?"));
  for (const auto& t : resp.topics) {
    if (!t.name) continue;
    TopicMeta& m = topics_[*t.name];
    m.error = t.error_code;
    m.internal = t.is_internal;
    int32_t count = 0;
    for (const auto& p : t.partitions) count = std::max(count, p.partition_index + 1);
    m.leaders.assign(static_cast<std::size_t>(count), -1);
    m.partition_errors.assign(static_cast<std::size_t>(count), 0);
    for (const auto& p : t.partitions) {
      if (p.partition_index < 0) continue;
      m.leaders[static_cast<std::size_t>(p.partition_index)] = p.leader_id;
      m.partition_errors[static_cast<std::size_t>(p.partition_index)] = p.error_code;
    }
  }
  last_refresh_ms_ = mono_ms();
  return {};
}

const TopicMeta* Cluster::topic(std::string_view name) const {
  auto it = topics_.find(name);
  return it == topics_.end() ? nullptr : &it->second;
}

int32_t Cluster::leader(std::string_view topic, int32_t partition) const {
  const TopicMeta* t = this->topic(topic);
  if (t == nullptr || partition < 0 || static_cast<std::size_t>(partition) >= t->leaders.size()) return -1;
  return t->leaders[static_cast<std::size_t>(partition)];
}

Result<std::pair<int32_t, Conn*>> Cluster::group_coordinator(const std::string& group) {
  kafka::FindCoordinatorRequest req;
  req.key = group;
  req.key_type = 0;
  Error last = make_error(Errc::kTimeout, "FindCoordinator");
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto c = any();
    if (!c.ok()) return c.error();
    kafka::FindCoordinatorResponse resp;
    auto st = (*c)->call(req, resp, cfg_.request_timeout_ms);
    if (!st.ok()) {
      last = st.error();
    } else if (resp.error_code != 0) {
      last = broker_error(resp.error_code, "FindCoordinator " + group);
      if (!last.retriable()) return last;
    } else {
      auto conn = at(resp.node_id, resp.host, resp.port);
      if (!conn.ok()) return conn.error();
      return std::pair<int32_t, Conn*>{resp.node_id, *conn};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(cfg_.retry_backoff_ms));
  }
  return last;
}

}  // namespace sluice::client::detail
