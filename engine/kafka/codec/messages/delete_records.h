#pragma once
// Kafka DeleteRecords (api key 21): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct DeleteRecordsRequest {
  static constexpr int16_t kApiKey = 21;
  static constexpr std::string_view kName = "DeleteRecordsRequest";
  static constexpr VersionRange kValidVersions = versions("0-2");
  static constexpr VersionRange kFlexibleVersions = versions("2+");

  struct DeleteRecordsTopic {
    struct DeleteRecordsPartition {
      int32_t partition_index = 0;
      int64_t offset = 0;

      static constexpr auto schema() {
        return std::tuple{
            field("partition_index", &DeleteRecordsPartition::partition_index, "0+"),
            field("offset", &DeleteRecordsPartition::offset, "0+"),
        };
      }
      bool operator==(const DeleteRecordsPartition&) const = default;
    };

    std::string name;
    std::vector<DeleteRecordsPartition> partitions;

    static constexpr auto schema() {
      return std::tuple{
          field("name", &DeleteRecordsTopic::name, "0+"),
          field("partitions", &DeleteRecordsTopic::partitions, "0+"),
      };
    }
    bool operator==(const DeleteRecordsTopic&) const = default;
  };

  std::vector<DeleteRecordsTopic> topics;
  int32_t timeout_ms = 0;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("topics", &DeleteRecordsRequest::topics, "0+"),
        field("timeout_ms", &DeleteRecordsRequest::timeout_ms, "0+"),
    };
  }
  bool operator==(const DeleteRecordsRequest&) const = default;
};

struct DeleteRecordsResponse {
  static constexpr int16_t kApiKey = 21;
  static constexpr std::string_view kName = "DeleteRecordsResponse";
  static constexpr VersionRange kValidVersions = versions("0-2");
  static constexpr VersionRange kFlexibleVersions = versions("2+");

  struct DeleteRecordsTopicResult {
    struct DeleteRecordsPartitionResult {
      int32_t partition_index = 0;
      int64_t low_watermark = 0;
      int16_t error_code = 0;

      static constexpr auto schema() {
        return std::tuple{
            field("partition_index", &DeleteRecordsPartitionResult::partition_index, "0+"),
            field("low_watermark", &DeleteRecordsPartitionResult::low_watermark, "0+"),
            field("error_code", &DeleteRecordsPartitionResult::error_code, "0+"),
        };
      }
      bool operator==(const DeleteRecordsPartitionResult&) const = default;
    };

    std::string name;
    std::vector<DeleteRecordsPartitionResult> partitions;

    static constexpr auto schema() {
      return std::tuple{
          field("name", &DeleteRecordsTopicResult::name, "0+"),
          field("partitions", &DeleteRecordsTopicResult::partitions, "0+"),
      };
    }
    bool operator==(const DeleteRecordsTopicResult&) const = default;
  };

  int32_t throttle_time_ms = 0;
  std::vector<DeleteRecordsTopicResult> topics;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &DeleteRecordsResponse::throttle_time_ms, "0+"),
        field("topics", &DeleteRecordsResponse::topics, "0+"),
    };
  }
  bool operator==(const DeleteRecordsResponse&) const = default;
};

}  // namespace sluice::kafka
