#pragma once
// Kafka CreateTopics (api key 19): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct CreateTopicsRequest {
  static constexpr int16_t kApiKey = 19;
  static constexpr std::string_view kName = "CreateTopicsRequest";
  static constexpr VersionRange kValidVersions = versions("0-7");
  static constexpr VersionRange kFlexibleVersions = versions("5+");

  struct CreatableTopic {
    struct CreatableReplicaAssignment {
      int32_t partition_index = 0;
      std::vector<int32_t> broker_ids;

      static constexpr auto schema() {
        return std::tuple{
            field("partition_index", &CreatableReplicaAssignment::partition_index, "0+"),
            field("broker_ids", &CreatableReplicaAssignment::broker_ids, "0+"),
        };
      }
      bool operator==(const CreatableReplicaAssignment&) const = default;
    };

    struct CreatableTopicConfig {
      std::string name;
      std::optional<std::string> value = std::string{};

      static constexpr auto schema() {
        return std::tuple{
            field("name", &CreatableTopicConfig::name, "0+"),
            field("value", &CreatableTopicConfig::value, "0+").nullable("0+"),
        };
      }
      bool operator==(const CreatableTopicConfig&) const = default;
    };

    std::string name;
    int32_t num_partitions = 0;
    int16_t replication_factor = 0;
    std::vector<CreatableReplicaAssignment> assignments;
    std::vector<CreatableTopicConfig> configs;

    static constexpr auto schema() {
      return std::tuple{
          field("name", &CreatableTopic::name, "0+"),
          field("num_partitions", &CreatableTopic::num_partitions, "0+"),
          field("replication_factor", &CreatableTopic::replication_factor, "0+"),
          field("assignments", &CreatableTopic::assignments, "0+"),
          field("configs", &CreatableTopic::configs, "0+"),
      };
    }
    bool operator==(const CreatableTopic&) const = default;
  };

  std::vector<CreatableTopic> topics;
  int32_t timeout_ms = 60000;
  bool validate_only = false;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("topics", &CreateTopicsRequest::topics, "0+"),
        field("timeout_ms", &CreateTopicsRequest::timeout_ms, "0+"),
        field("validate_only", &CreateTopicsRequest::validate_only, "1+"),
    };
  }
  bool operator==(const CreateTopicsRequest&) const = default;
};

struct CreateTopicsResponse {
  static constexpr int16_t kApiKey = 19;
  static constexpr std::string_view kName = "CreateTopicsResponse";
  static constexpr VersionRange kValidVersions = versions("0-7");
  static constexpr VersionRange kFlexibleVersions = versions("5+");

  struct CreatableTopicResult {
    struct CreatableTopicConfigs {
      std::string name;
      std::optional<std::string> value = std::string{};
      bool read_only = false;
      int8_t config_source = -1;
      bool is_sensitive = false;

      static constexpr auto schema() {
        return std::tuple{
            field("name", &CreatableTopicConfigs::name, "5+"),
            field("value", &CreatableTopicConfigs::value, "5+").nullable("5+"),
            field("read_only", &CreatableTopicConfigs::read_only, "5+"),
            field("config_source", &CreatableTopicConfigs::config_source, "5+"),
            field("is_sensitive", &CreatableTopicConfigs::is_sensitive, "5+"),
        };
      }
      bool operator==(const CreatableTopicConfigs&) const = default;
    };

    std::string name;
    Uuid topic_id;
    int16_t error_code = 0;
    std::optional<std::string> error_message = std::string{};
    int16_t topic_config_error_code = 0;
    int32_t num_partitions = -1;
    int16_t replication_factor = -1;
    std::optional<std::vector<CreatableTopicConfigs>> configs = std::vector<CreatableTopicConfigs>{};

    static constexpr auto schema() {
      return std::tuple{
          field("name", &CreatableTopicResult::name, "0+"),
          field("topic_id", &CreatableTopicResult::topic_id, "7+"),
          field("error_code", &CreatableTopicResult::error_code, "0+"),
          field("error_message", &CreatableTopicResult::error_message, "1+").nullable("0+"),
          field("topic_config_error_code", &CreatableTopicResult::topic_config_error_code, "5+").tagged(0, "5+"),
          field("num_partitions", &CreatableTopicResult::num_partitions, "5+"),
          field("replication_factor", &CreatableTopicResult::replication_factor, "5+"),
          field("configs", &CreatableTopicResult::configs, "5+").nullable("5+"),
      };
    }
    bool operator==(const CreatableTopicResult&) const = default;
  };

  int32_t throttle_time_ms = 0;
  std::vector<CreatableTopicResult> topics;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &CreateTopicsResponse::throttle_time_ms, "2+"),
        field("topics", &CreateTopicsResponse::topics, "0+"),
    };
  }
  bool operator==(const CreateTopicsResponse&) const = default;
};

}  // namespace sluice::kafka
