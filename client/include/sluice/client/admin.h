#pragma once
// Admin: blocking calls on the caller's thread, each sent to the broker that serves it (the
// controller for topics, the coordinator for groups).
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sluice/client/error.h"
#include "sluice/client/types.h"

namespace sluice::client {

struct NewTopic {
  std::string name;
  int32_t partitions = 1;
  int16_t replication_factor = -1;  // -1: the broker's default
  std::map<std::string, std::string> configs;
};

struct BrokerInfo {
  int32_t node_id = -1;
  std::string host;
  int32_t port = 0;
  std::optional<std::string> rack;
};

struct ClusterInfo {
  std::optional<std::string> cluster_id;
  int32_t controller_id = -1;
  std::vector<BrokerInfo> brokers;
};

struct PartitionInfo {
  int32_t partition = 0;
  int32_t leader = -1;
  int16_t error = 0;
};

struct TopicInfo {
  std::string name;
  bool internal = false;
  std::vector<PartitionInfo> partitions;
};

struct GroupListing {
  std::string group_id;
  std::string protocol_type;
  std::string state;
};

struct MemberDescription {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::string client_id;
  std::string client_host;
  std::vector<TopicPartition> assignment;
};

struct GroupDescription {
  std::string group_id;
  std::string state;
  std::string protocol_type;
  std::string protocol;
  std::vector<MemberDescription> members;
};

struct ConfigEntry {
  std::string name;
  std::optional<std::string> value;
  bool read_only = false;
  bool is_default = false;
  bool sensitive = false;
};

enum class ConfigResourceType : int8_t { kTopic = 2, kBroker = 4 };

class Admin {
 public:
  static Result<std::unique_ptr<Admin>> create(const ClientConfig& cfg);
  ~Admin();
  Admin(const Admin&) = delete;
  Admin& operator=(const Admin&) = delete;

  // Per-topic errors (TOPIC_ALREADY_EXISTS ...) are returned as the first error.
  Status create_topics(const std::vector<NewTopic>& topics, int timeout_ms = 30000);
  Status delete_topics(const std::vector<std::string>& topics, int timeout_ms = 30000);
  // Grows `topic` to `total_count` partitions.
  Status create_partitions(const std::string& topic, int32_t total_count, int timeout_ms = 30000);
  Result<std::vector<TopicInfo>> list_topics(bool include_internal = false);
  Result<TopicInfo> describe_topic(const std::string& topic);
  Result<ClusterInfo> describe_cluster();

  Result<std::vector<GroupListing>> list_groups();
  Result<GroupDescription> describe_group(const std::string& group_id);
  Status delete_groups(const std::vector<std::string>& group_ids);
  // Committed offsets of a group (all its topics).
  Result<std::map<TopicPartition, int64_t>> list_group_offsets(const std::string& group_id);
  // Only for a group without active members (the broker refuses otherwise).
  Status alter_group_offsets(const std::string& group_id, const std::map<TopicPartition, int64_t>& offsets);
  // Earliest (-2) / latest (-1) / by timestamp offset of each partition.
  Result<std::map<TopicPartition, int64_t>> list_offsets(const std::vector<TopicPartition>& tps, int64_t spec);

  Result<std::vector<ConfigEntry>> describe_configs(ConfigResourceType type, const std::string& name);

  struct Impl;

 private:
  explicit Admin(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::client
