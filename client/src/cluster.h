#pragma once
// What one client knows of the cluster: brokers (node id -> address and connection), topics
// (partition leaders), from Metadata. Used by one thread at a time (the producer's sender thread,
// the consumer's poll thread, the admin caller).
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "client/src/conn.h"
#include "sluice/client/types.h"

namespace sluice::client::detail {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

struct TopicMeta {
  int16_t error = 0;
  bool internal = false;
  std::vector<int32_t> leaders;  // per partition; -1 when leaderless
  std::vector<int16_t> partition_errors;
};

struct BrokerMeta {
  std::string host;
  int32_t port = 0;
  std::optional<std::string> rack;
  std::unique_ptr<Conn> conn;
};

class Cluster {
 public:
  explicit Cluster(ClientConfig cfg);

  // Connects to a bootstrap server (the first that answers).
  Status bootstrap();
  // Metadata for `topics` (empty: all topics); updates brokers and the topics named.
  Status refresh(const std::vector<std::string>& topics, bool allow_auto_create, bool all_topics = false);
  Status refresh_known();  // the topics already known

  // A connected broker: by node id, or any (the least recently failed).
  Result<Conn*> node(int32_t node_id);
  Result<Conn*> any();
  // Connection to an address outside the broker list (a coordinator may be one).
  Result<Conn*> at(int32_t node_id, const std::string& host, int32_t port);
  void drop(int32_t node_id);  // closes the connection after an error
  // The coordinator of a consumer group (FindCoordinator key type 0), retried on retriable
  // errors; its node id and a connection to it.
  Result<std::pair<int32_t, Conn*>> group_coordinator(const std::string& group);

  const TopicMeta* topic(std::string_view name) const;
  const std::unordered_map<std::string, TopicMeta, StringHash, std::equal_to<>>& topics() const { return topics_; }
  const std::map<int32_t, BrokerMeta>& brokers() const { return brokers_; }
  int32_t controller_id() const noexcept { return controller_id_; }
  const std::optional<std::string>& cluster_id() const noexcept { return cluster_id_; }
  int64_t last_refresh_ms() const noexcept { return last_refresh_ms_; }
  const ClientConfig& config() const noexcept { return cfg_; }

  // Leader of a partition, or -1.
  int32_t leader(std::string_view topic, int32_t partition) const;

 private:
  ClientConfig cfg_;
  std::vector<std::pair<std::string, int32_t>> bootstrap_;
  Conn bootstrap_conn_;
  std::map<int32_t, BrokerMeta> brokers_;
  std::unordered_map<std::string, TopicMeta, StringHash, std::equal_to<>> topics_;
  int32_t controller_id_ = -1;
  std::optional<std::string> cluster_id_;
  int64_t last_refresh_ms_ = 0;
  std::size_t next_any_ = 0;
};

Result<std::vector<std::pair<std::string, int32_t>>> parse_bootstrap(const std::string& servers);

}  // namespace sluice::client::detail
