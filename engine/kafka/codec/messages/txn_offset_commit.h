#pragma once
// Kafka TxnOffsetCommit (api key 28): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct TxnOffsetCommitRequest {
  static constexpr int16_t kApiKey = 28;
  static constexpr std::string_view kName = "TxnOffsetCommitRequest";
  static constexpr VersionRange kValidVersions = versions("0-4");
  static constexpr VersionRange kFlexibleVersions = versions("3+");

  struct TxnOffsetCommitRequestTopic {
    struct TxnOffsetCommitRequestPartition {
      int32_t partition_index = 0;
      int64_t committed_offset = 0;
      int32_t committed_leader_epoch = -1;
      std::optional<std::string> committed_metadata = std::string{};

      static constexpr auto schema() {
        return std::tuple{
            field("partition_index", &TxnOffsetCommitRequestPartition::partition_index, "0+"),
            field("committed_offset", &TxnOffsetCommitRequestPartition::committed_offset, "0+"),
            field("committed_leader_epoch", &TxnOffsetCommitRequestPartition::committed_leader_epoch, "2+"),
            field("committed_metadata", &TxnOffsetCommitRequestPartition::committed_metadata, "0+").nullable("0+"),
        };
      }
      bool operator==(const TxnOffsetCommitRequestPartition&) const = default;
    };

    std::string name;
    std::vector<TxnOffsetCommitRequestPartition> partitions;

    static constexpr auto schema() {
      return std::tuple{
          field("name", &TxnOffsetCommitRequestTopic::name, "0+"),
          field("partitions", &TxnOffsetCommitRequestTopic::partitions, "0+"),
      };
    }
    bool operator==(const TxnOffsetCommitRequestTopic&) const = default;
  };

  std::string transactional_id;
  std::string group_id;
  int64_t producer_id = 0;
  int16_t producer_epoch = 0;
  int32_t generation_id = -1;
  std::string member_id;
  std::optional<std::string> group_instance_id = std::nullopt;
  std::vector<TxnOffsetCommitRequestTopic> topics;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("transactional_id", &TxnOffsetCommitRequest::transactional_id, "0+"),
        field("group_id", &TxnOffsetCommitRequest::group_id, "0+"),
        field("producer_id", &TxnOffsetCommitRequest::producer_id, "0+"),
        field("producer_epoch", &TxnOffsetCommitRequest::producer_epoch, "0+"),
        field("generation_id", &TxnOffsetCommitRequest::generation_id, "3+"),
        field("member_id", &TxnOffsetCommitRequest::member_id, "3+"),
        field("group_instance_id", &TxnOffsetCommitRequest::group_instance_id, "3+").nullable("3+"),
        field("topics", &TxnOffsetCommitRequest::topics, "0+"),
    };
  }
  bool operator==(const TxnOffsetCommitRequest&) const = default;
};

struct TxnOffsetCommitResponse {
  static constexpr int16_t kApiKey = 28;
  static constexpr std::string_view kName = "TxnOffsetCommitResponse";
  static constexpr VersionRange kValidVersions = versions("0-4");
  static constexpr VersionRange kFlexibleVersions = versions("3+");

  struct TxnOffsetCommitResponseTopic {
    struct TxnOffsetCommitResponsePartition {
      int32_t partition_index = 0;
      int16_t error_code = 0;

      static constexpr auto schema() {
        return std::tuple{
            field("partition_index", &TxnOffsetCommitResponsePartition::partition_index, "0+"),
            field("error_code", &TxnOffsetCommitResponsePartition::error_code, "0+"),
        };
      }
      bool operator==(const TxnOffsetCommitResponsePartition&) const = default;
    };

    std::string name;
    std::vector<TxnOffsetCommitResponsePartition> partitions;

    static constexpr auto schema() {
      return std::tuple{
          field("name", &TxnOffsetCommitResponseTopic::name, "0+"),
          field("partitions", &TxnOffsetCommitResponseTopic::partitions, "0+"),
      };
    }
    bool operator==(const TxnOffsetCommitResponseTopic&) const = default;
  };

  int32_t throttle_time_ms = 0;
  std::vector<TxnOffsetCommitResponseTopic> topics;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &TxnOffsetCommitResponse::throttle_time_ms, "0+"),
        field("topics", &TxnOffsetCommitResponse::topics, "0+"),
    };
  }
  bool operator==(const TxnOffsetCommitResponse&) const = default;
};

}  // namespace sluice::kafka
