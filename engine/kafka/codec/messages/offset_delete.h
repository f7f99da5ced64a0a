#pragma once
// Kafka OffsetDelete (api key 47, KIP-496): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct OffsetDeleteRequest {
  static constexpr int16_t kApiKey = 47;
  static constexpr std::string_view kName = "OffsetDeleteRequest";
  static constexpr VersionRange kValidVersions = versions("0");
  static constexpr VersionRange kFlexibleVersions = versions("none");

  struct OffsetDeleteRequestTopic {
    struct OffsetDeleteRequestPartition {
      int32_t partition_index = 0;

      static constexpr auto schema() {
        return std::tuple{
            field("partition_index", &OffsetDeleteRequestPartition::partition_index, "0+"),
        };
      }
      bool operator==(const OffsetDeleteRequestPartition&) const = default;
    };

    std::string name;
    std::vector<OffsetDeleteRequestPartition> partitions;

    static constexpr auto schema() {
      return std::tuple{
          field("name", &OffsetDeleteRequestTopic::name, "0+"),
          field("partitions", &OffsetDeleteRequestTopic::partitions, "0+"),
      };
    }
    bool operator==(const OffsetDeleteRequestTopic&) const = default;
  };

  std::string group_id;
  std::vector<OffsetDeleteRequestTopic> topics;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("group_id", &OffsetDeleteRequest::group_id, "0+"),
        field("topics", &OffsetDeleteRequest::topics, "0+"),
    };
  }
  bool operator==(const OffsetDeleteRequest&) const = default;
};

struct OffsetDeleteResponse {
  static constexpr int16_t kApiKey = 47;
  static constexpr std::string_view kName = "OffsetDeleteResponse";
  static constexpr VersionRange kValidVersions = versions("0");
  static constexpr VersionRange kFlexibleVersions = versions("none");

  struct OffsetDeleteResponseTopic {
    struct OffsetDeleteResponsePartition {
      int32_t partition_index = 0;
      int16_t error_code = 0;

      static constexpr auto schema() {
        return std::tuple{
            field("partition_index", &OffsetDeleteResponsePartition::partition_index, "0+"),
            field("error_code", &OffsetDeleteResponsePartition::error_code, "0+"),
        };
      }
      bool operator==(const OffsetDeleteResponsePartition&) const = default;
    };

    std::string name;
    std::vector<OffsetDeleteResponsePartition> partitions;

    static constexpr auto schema() {
      return std::tuple{
          field("name", &OffsetDeleteResponseTopic::name, "0+"),
          field("partitions", &OffsetDeleteResponseTopic::partitions, "0+"),
      };
    }
    bool operator==(const OffsetDeleteResponseTopic&) const = default;
  };

  int16_t error_code = 0;
  int32_t throttle_time_ms = 0;
  std::vector<OffsetDeleteResponseTopic> topics;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("error_code", &OffsetDeleteResponse::error_code, "0+"),
        field("throttle_time_ms", &OffsetDeleteResponse::throttle_time_ms, "0+"),
        field("topics", &OffsetDeleteResponse::topics, "0+"),
    };
  }
  bool operator==(const OffsetDeleteResponse&) const = default;
};

}  // namespace sluice::kafka
