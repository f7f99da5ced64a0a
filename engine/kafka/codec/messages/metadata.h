#pragma once
// Kafka Metadata (api key 3): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct MetadataRequest {
  static constexpr int16_t kApiKey = 3;
  static constexpr std::string_view kName = "MetadataRequest";
  static constexpr VersionRange kValidVersions = versions("0-12");
  static constexpr VersionRange kFlexibleVersions = versions("9+");

  struct MetadataRequestTopic {
    Uuid topic_id;
    std::optional<std::string> name = std::string{};

    static constexpr auto schema() {
      return std::tuple{
          field("topic_id", &MetadataRequestTopic::topic_id, "10+"),
          field("name", &MetadataRequestTopic::name, "0+").nullable("10+"),
      };
    }
    bool operator==(const MetadataRequestTopic&) const = default;
  };

  std::optional<std::vector<MetadataRequestTopic>> topics = std::vector<MetadataRequestTopic>{};
  bool allow_auto_topic_creation = true;
  bool include_cluster_authorized_operations = false;
  bool include_topic_authorized_operations = false;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("topics", &MetadataRequest::topics, "0+").nullable("1+"),
        field("allow_auto_topic_creation", &MetadataRequest::allow_auto_topic_creation, "4+"),
        field("include_cluster_authorized_operations", &MetadataRequest::include_cluster_authorized_operations, "8-10"),
        field("include_topic_authorized_operations", &MetadataRequest::include_topic_authorized_operations, "8+"),
    };
  }
  bool operator==(const MetadataRequest&) const = default;
};

struct MetadataResponse {
  static constexpr int16_t kApiKey = 3;
  static constexpr std::string_view kName = "MetadataResponse";
  static constexpr VersionRange kValidVersions = versions("0-12");
  static constexpr VersionRange kFlexibleVersions = versions("9+");

  struct MetadataResponseBroker {
    int32_t node_id = 0;
    std::string host;
    int32_t port = 0;
    std::optional<std::string> rack = std::nullopt;

    static constexpr auto schema() {
      return std::tuple{
          field("node_id", &MetadataResponseBroker::node_id, "0+"),
          field("host", &MetadataResponseBroker::host, "0+"),
          field("port", &MetadataResponseBroker::port, "0+"),
          field("rack", &MetadataResponseBroker::rack, "1+").nullable("1+"),
      };
    }
    bool operator==(const MetadataResponseBroker&) const = default;
  };

  struct MetadataResponseTopic {
    struct MetadataResponsePartition {
      int16_t error_code = 0;
      int32_t partition_index = 0;
      int32_t leader_id = 0;
      int32_t leader_epoch = -1;
      std::vector<int32_t> replica_nodes;
      std::vector<int32_t> isr_nodes;
      std::vector<int32_t> offline_replicas;

      static constexpr auto schema() {
        return std::tuple{
            field("error_code", &MetadataResponsePartition::error_code, "0+"),
            field("partition_index", &MetadataResponsePartition::partition_index, "0+"),
            field("leader_id", &MetadataResponsePartition::leader_id, "0+"),
            field("leader_epoch", &MetadataResponsePartition::leader_epoch, "7+"),
            field("replica_nodes", &MetadataResponsePartition::replica_nodes, "0+"),
            field("isr_nodes", &MetadataResponsePartition::isr_nodes, "0+"),
            field("offline_replicas", &MetadataResponsePartition::offline_replicas, "5+"),
        };
      }
      bool operator==(const MetadataResponsePartition&) const = default;
    };

    int16_t error_code = 0;
    std::optional<std::string> name = std::string{};
    Uuid topic_id;
    bool is_internal = false;
    std::vector<MetadataResponsePartition> partitions;
    int32_t topic_authorized_operations = std::numeric_limits<int32_t>::min();

    static constexpr auto schema() {
      return std::tuple{
          field("error_code", &MetadataResponseTopic::error_code, "0+"),
          field("name", &MetadataResponseTopic::name, "0+").nullable("12+"),
          field("topic_id", &MetadataResponseTopic::topic_id, "10+"),
          field("is_internal", &MetadataResponseTopic::is_internal, "1+"),
          field("partitions", &MetadataResponseTopic::partitions, "0+"),
          field("topic_authorized_operations", &MetadataResponseTopic::topic_authorized_operations, "8+"),
      };
    }
    bool operator==(const MetadataResponseTopic&) const = default;
  };

  int32_t throttle_time_ms = 0;
  std::vector<MetadataResponseBroker> brokers;
  std::optional<std::string> cluster_id = std::nullopt;
  int32_t controller_id = -1;
  std::vector<MetadataResponseTopic> topics;
  int32_t cluster_authorized_operations = std::numeric_limits<int32_t>::min();
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &MetadataResponse::throttle_time_ms, "3+"),
        field("brokers", &MetadataResponse::brokers, "0+"),
        field("cluster_id", &MetadataResponse::cluster_id, "2+").nullable("2+"),
        field("controller_id", &MetadataResponse::controller_id, "1+"),
        field("topics", &MetadataResponse::topics, "0+"),
        field("cluster_authorized_operations", &MetadataResponse::cluster_authorized_operations, "8-10"),
    };
  }
  bool operator==(const MetadataResponse&) const = default;
};

}  // namespace sluice::kafka
