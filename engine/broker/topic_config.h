#pragma once
// Topic configuration: the Kafka topic config keys Sluice honours, their types, defaults,
// validation, and the broker-level keys (server.properties names) that override the defaults.
// One table drives CreateTopics validation, DescribeConfigs, and (Incremental)AlterConfigs.
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sluice::broker {

enum class ConfigType : int8_t {
  boolean = 1,
  string = 2,
  int_ = 3,
  short_ = 4,
  long_ = 5,
  double_ = 6,
  list = 7,
  class_ = 8,
  password = 9
};

struct TopicConfigKey {
  std::string_view name;            // topic-level key, e.g. "retention.ms"
  std::string_view broker_synonym;  // server.properties key, e.g. "log.retention.ms"
  ConfigType type;
  std::string_view default_value;
  std::string_view documentation;
};

// Every key Sluice accepts on a topic.
std::span<const TopicConfigKey> topic_config_keys();
const TopicConfigKey* find_topic_config_key(std::string_view name);

// Checks one value: empty optional when valid, otherwise the reason (sent as the error message
// with INVALID_CONFIG).
std::optional<std::string> validate_topic_config(std::string_view name, std::string_view value);

// Broker-wide defaults (from server.properties-style keys); topic overrides sit on top.
class TopicDefaults {
 public:
  // Sets a default through its topic key or its broker synonym. Returns an error text if invalid.
  std::optional<std::string> set(std::string_view key, std::string_view value);
  std::string get(std::string_view topic_key) const;  // effective default
  bool overridden(std::string_view topic_key) const { return values_.contains(std::string(topic_key)); }

 private:
  std::map<std::string, std::string, std::less<>> values_;  // topic key -> value
};

// Effective typed values of one topic (defaults + overrides), read by the log and partitions.
struct EffectiveTopicConfig {
  int64_t retention_ms = 604800000;
  int64_t retention_bytes = -1;
  int64_t segment_bytes = 1073741824;
  int64_t segment_ms = 604800000;
  int64_t flush_ms = INT64_MAX;
  int64_t flush_messages = INT64_MAX;
  int32_t max_message_bytes = 1048588;
  bool log_append_time = false;      // message.timestamp.type=LogAppendTime
  bool visible_before_sync = false;  // sluice.read.visibility=appended
  std::string cleanup_policy = "delete";
  bool compact = false;          // cleanup.policy has compact
  bool retention_delete = true;  // cleanup.policy has delete
  double min_cleanable_dirty_ratio = 0.5;
  int64_t min_compaction_lag_ms = 0;
  int64_t max_compaction_lag_ms = INT64_MAX;
  int64_t delete_retention_ms = 86400000;
};

struct CleanupPolicy {
  bool compact;
  bool delete_;
};
// cleanup.policy's list value; empty optional when not a non-empty list of delete/compact.
std::optional<CleanupPolicy> parse_cleanup_policy(std::string_view value);

EffectiveTopicConfig effective_topic_config(const TopicDefaults& defaults,
                                            const std::map<std::string, std::string>& overrides);

}  // namespace sluice::broker
