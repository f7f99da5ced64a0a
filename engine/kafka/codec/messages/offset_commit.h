#pragma once
// Kafka OffsetCommit (api key 8): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct OffsetCommitRequest {
  static constexpr int16_t kApiKey = 8;
  static constexpr std::string_view kName = "OffsetCommitRequest";
  static constexpr VersionRange kValidVersions = versions("0-9");
  static constexpr VersionRange kFlexibleVersions = versions("8+");

  struct OffsetCommitRequestTopic {
    struct OffsetCommitRequestPartition {
      int32_t partition_index = 0;
      int64_t committed_offset = 0;
      int32_t committed_leader_epoch = -1;
      int64_t commit_timestamp = -1;
      std::optional<std::string> committed_metadata = std::string{};

      static constexpr auto schema() {
        return std::tuple{
            field("partition_index", &OffsetCommitRequestPartition::partition_index, "0+"),
            field("committed_offset", &OffsetCommitRequestPartition::committed_offset, "0+"),
            field("committed_leader_epoch", &OffsetCommitRequestPartition::committed_leader_epoch, "6+"),
            field("commit_timestamp", &OffsetCommitRequestPartition::commit_timestamp, "1"),
            field("committed_metadata", &OffsetCommitRequestPartition::committed_metadata, "0+").nullable("0+"),
        };
      }
      bool operator==(const OffsetCommitRequestPartition&) const = default;
    };

    std::string name;
    std::vector<OffsetCommitRequestPartition> partitions;

    static constexpr auto schema() {
      return std::tuple{
          field("name", &OffsetCommitRequestTopic::name, "0+"),
          field("partitions", &OffsetCommitRequestTopic::partitions, "0+"),
      };
    }
    bool operator==(const OffsetCommitRequestTopic&) const = default;
  };

  std::string group_id;
  int32_t generation_id_or_member_epoch = -1;
  std::string member_id;
  std::optional<std::string> group_instance_id = std::nullopt;
  int64_t retention_time_ms = -1;
  std::vector<OffsetCommitRequestTopic> topics;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("group_id", &OffsetCommitRequest::group_id, "0+"),
        field("generation_id_or_member_epoch", &OffsetCommitRequest::generation_id_or_member_epoch, "1+"),
        field("member_id", &OffsetCommitRequest::member_id, "1+"),
        field("group_instance_id", &OffsetCommitRequest::group_instance_id, "7+").nullable("7+"),
        field("retention_time_ms", &OffsetCommitRequest::retention_time_ms, "2-4"),
        field("topics", &OffsetCommitRequest::topics, "0+"),
    };
  }
  bool operator==(const OffsetCommitRequest&) const = default;
};

struct OffsetCommitResponse {
  static constexpr int16_t kApiKey = 8;
  static constexpr std::string_view kName = "OffsetCommitResponse";
  static constexpr VersionRange kValidVersions = versions("0-9");
  static constexpr VersionRange kFlexibleVersions = versions("8+");

  struct OffsetCommitResponseTopic {
    struct OffsetCommitResponsePartition {
      int32_t partition_index = 0;
      int16_t error_code = 0;

      static constexpr auto schema() {
        return std::tuple{
            field("partition_index", &OffsetCommitResponsePartition::partition_index, "0+"),
            field("error_code", &OffsetCommitResponsePartition::error_code, "0+"),
        };
      }
      bool operator==(const OffsetCommitResponsePartition&) const = default;
    };

    std::string name;
    std::vector<OffsetCommitResponsePartition> partitions;

    static constexpr auto schema() {
      return std::tuple{
          field("name", &OffsetCommitResponseTopic::name, "0+"),
          field("partitions", &OffsetCommitResponseTopic::partitions, "0+"),
      };
    }
    bool operator==(const OffsetCommitResponseTopic&) const = default;
  };

  int32_t throttle_time_ms = 0;
  std::vector<OffsetCommitResponseTopic> topics;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &OffsetCommitResponse::throttle_time_ms, "3+"),
        field("topics", &OffsetCommitResponse::topics, "0+"),
    };
  }
  bool operator==(const OffsetCommitResponse&) const = default;
};

}  // namespace sluice::kafka
