#pragma once
// Kafka ListOffsets (api key 2): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct ListOffsetsRequest {
  static constexpr int16_t kApiKey = 2;
  static constexpr std::string_view kName = "ListOffsetsRequest";
  static constexpr VersionRange kValidVersions = versions("0-10");
  static constexpr VersionRange kFlexibleVersions = versions("6+");

  struct ListOffsetsTopic {
    struct ListOffsetsPartition {
      int32_t partition_index = 0;
      int32_t current_leader_epoch = -1;
      int64_t timestamp = 0;
      int32_t max_num_offsets = 1;

      static constexpr auto schema() {
        return std::tuple{
            field("partition_index", &ListOffsetsPartition::partition_index, "0+"),
            field("current_leader_epoch", &ListOffsetsPartition::current_leader_epoch, "4+"),
            field("timestamp", &ListOffsetsPartition::timestamp, "0+"),
            field("max_num_offsets", &ListOffsetsPartition::max_num_offsets, "0"),
        };
      }
      bool operator==(const ListOffsetsPartition&) const = default;
    };

    std::string name;
    std::vector<ListOffsetsPartition> partitions;

    static constexpr auto schema() {
      return std::tuple{
          field("name", &ListOffsetsTopic::name, "0+"),
          field("partitions", &ListOffsetsTopic::partitions, "0+"),
      };
    }
    bool operator==(const ListOffsetsTopic&) const = default;
  };

  int32_t replica_id = 0;
  int8_t isolation_level = 0;
  std::vector<ListOffsetsTopic> topics;
  int32_t timeout_ms = 0;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("replica_id", &ListOffsetsRequest::replica_id, "0+"),
        field("isolation_level", &ListOffsetsRequest::isolation_level, "2+"),
        field("topics", &ListOffsetsRequest::topics, "0+"),
        field("timeout_ms", &ListOffsetsRequest::timeout_ms, "10+"),
    };
  }
  bool operator==(const ListOffsetsRequest&) const = default;
};

struct ListOffsetsResponse {
  static constexpr int16_t kApiKey = 2;
  static constexpr std::string_view kName = "ListOffsetsResponse";
  static constexpr VersionRange kValidVersions = versions("0-10");
  static constexpr VersionRange kFlexibleVersions = versions("6+");

  struct ListOffsetsTopicResponse {
    struct ListOffsetsPartitionResponse {
      int32_t partition_index = 0;
      int16_t error_code = 0;
      std::vector<int64_t> old_style_offsets;
      int64_t timestamp = -1;
      int64_t offset = -1;
      int32_t leader_epoch = -1;

      static constexpr auto schema() {
        return std::tuple{
            field("partition_index", &ListOffsetsPartitionResponse::partition_index, "0+"),
            field("error_code", &ListOffsetsPartitionResponse::error_code, "0+"),
            field("old_style_offsets", &ListOffsetsPartitionResponse::old_style_offsets, "0"),
            field("timestamp", &ListOffsetsPartitionResponse::timestamp, "1+"),
            field("offset", &ListOffsetsPartitionResponse::offset, "1+"),
            field("leader_epoch", &ListOffsetsPartitionResponse::leader_epoch, "4+"),
        };
      }
      bool operator==(const ListOffsetsPartitionResponse&) const = default;
    };

    std::string name;
    std::vector<ListOffsetsPartitionResponse> partitions;

    static constexpr auto schema() {
      return std::tuple{
          field("name", &ListOffsetsTopicResponse::name, "0+"),
          field("partitions", &ListOffsetsTopicResponse::partitions, "0+"),
      };
    }
    bool operator==(const ListOffsetsTopicResponse&) const = default;
  };

  int32_t throttle_time_ms = 0;
  std::vector<ListOffsetsTopicResponse> topics;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &ListOffsetsResponse::throttle_time_ms, "2+"),
        field("topics", &ListOffsetsResponse::topics, "0+"),
    };
  }
  bool operator==(const ListOffsetsResponse&) const = default;
};

}  // namespace sluice::kafka
