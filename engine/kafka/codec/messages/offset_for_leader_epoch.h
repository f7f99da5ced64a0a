#pragma once
// Kafka OffsetForLeaderEpoch (api key 23): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct OffsetForLeaderEpochRequest {
  static constexpr int16_t kApiKey = 23;
  static constexpr std::string_view kName = "OffsetForLeaderEpochRequest";
  static constexpr VersionRange kValidVersions = versions("0-4");
  static constexpr VersionRange kFlexibleVersions = versions("4+");

  struct OffsetForLeaderTopic {
    struct OffsetForLeaderPartition {
      int32_t partition = 0;
      int32_t current_leader_epoch = -1;
      int32_t leader_epoch = 0;

      static constexpr auto schema() {
        return std::tuple{
            field("partition", &OffsetForLeaderPartition::partition, "0+"),
            field("current_leader_epoch", &OffsetForLeaderPartition::current_leader_epoch, "2+"),
            field("leader_epoch", &OffsetForLeaderPartition::leader_epoch, "0+"),
        };
      }
      bool operator==(const OffsetForLeaderPartition&) const = default;
    };

    std::string topic;
    std::vector<OffsetForLeaderPartition> partitions;

    static constexpr auto schema() {
      return std::tuple{
          field("topic", &OffsetForLeaderTopic::topic, "0+"),
          field("partitions", &OffsetForLeaderTopic::partitions, "0+"),
      };
    }
    bool operator==(const OffsetForLeaderTopic&) const = default;
  };

  int32_t replica_id = -2;
  std::vector<OffsetForLeaderTopic> topics;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("replica_id", &OffsetForLeaderEpochRequest::replica_id, "3+"),
        field("topics", &OffsetForLeaderEpochRequest::topics, "0+"),
    };
  }
  bool operator==(const OffsetForLeaderEpochRequest&) const = default;
};

struct OffsetForLeaderEpochResponse {
  static constexpr int16_t kApiKey = 23;
  static constexpr std::string_view kName = "OffsetForLeaderEpochResponse";
  static constexpr VersionRange kValidVersions = versions("0-4");
  static constexpr VersionRange kFlexibleVersions = versions("4+");

  struct OffsetForLeaderTopicResult {
    struct EpochEndOffset {
      int16_t error_code = 0;
      int32_t partition = 0;
      int32_t leader_epoch = -1;
      int64_t end_offset = -1;

      static constexpr auto schema() {
        return std::tuple{
            field("error_code", &EpochEndOffset::error_code, "0+"),
            field("partition", &EpochEndOffset::partition, "0+"),
            field("leader_epoch", &EpochEndOffset::leader_epoch, "1+"),
            field("end_offset", &EpochEndOffset::end_offset, "0+"),
        };
      }
      bool operator==(const EpochEndOffset&) const = default;
    };

    std::string topic;
    std::vector<EpochEndOffset> partitions;

    static constexpr auto schema() {
      return std::tuple{
          field("topic", &OffsetForLeaderTopicResult::topic, "0+"),
          field("partitions", &OffsetForLeaderTopicResult::partitions, "0+"),
      };
    }
    bool operator==(const OffsetForLeaderTopicResult&) const = default;
  };

  int32_t throttle_time_ms = 0;
  std::vector<OffsetForLeaderTopicResult> topics;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &OffsetForLeaderEpochResponse::throttle_time_ms, "2+"),
        field("topics", &OffsetForLeaderEpochResponse::topics, "0+"),
    };
  }
  bool operator==(const OffsetForLeaderEpochResponse&) const = default;
};

}  // namespace sluice::kafka
