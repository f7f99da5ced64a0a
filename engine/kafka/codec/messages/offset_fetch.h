#pragma once
// Kafka OffsetFetch (api key 9): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct OffsetFetchRequest {
  static constexpr int16_t kApiKey = 9;
  static constexpr std::string_view kName = "OffsetFetchRequest";
  static constexpr VersionRange kValidVersions = versions("0-9");
  static constexpr VersionRange kFlexibleVersions = versions("6+");

  struct OffsetFetchRequestTopic {
    std::string name;
    std::vector<int32_t> partition_indexes;

    static constexpr auto schema() {
      return std::tuple{
          field("name", &OffsetFetchRequestTopic::name, "0-7"),
          field("partition_indexes", &OffsetFetchRequestTopic::partition_indexes, "0-7"),
      };
    }
    bool operator==(const OffsetFetchRequestTopic&) const = default;
  };

  struct OffsetFetchRequestGroup {
    struct OffsetFetchRequestTopics {
      std::string name;
      std::vector<int32_t> partition_indexes;

      static constexpr auto schema() {
        return std::tuple{
            field("name", &OffsetFetchRequestTopics::name, "8+"),
            field("partition_indexes", &OffsetFetchRequestTopics::partition_indexes, "8+"),
        };
      }
      bool operator==(const OffsetFetchRequestTopics&) const = default;
    };

    std::string group_id;
    std::optional<std::string> member_id = std::nullopt;
    int32_t member_epoch = -1;
    std::optional<std::vector<OffsetFetchRequestTopics>> topics = std::vector<OffsetFetchRequestTopics>{};

    static constexpr auto schema() {
      return std::tuple{
          field("group_id", &OffsetFetchRequestGroup::group_id, "8+"),
          field("member_id", &OffsetFetchRequestGroup::member_id, "9+").nullable("9+"),
          field("member_epoch", &OffsetFetchRequestGroup::member_epoch, "9+"),
          field("topics", &OffsetFetchRequestGroup::topics, "8+").nullable("8+"),
      };
    }
    bool operator==(const OffsetFetchRequestGroup&) const = default;
  };

  std::string group_id;
  std::optional<std::vector<OffsetFetchRequestTopic>> topics = std::vector<OffsetFetchRequestTopic>{};
  std::vector<OffsetFetchRequestGroup> groups;
  bool require_stable = false;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("group_id", &OffsetFetchRequest::group_id, "0-7"),
        field("topics", &OffsetFetchRequest::topics, "0-7").nullable("2-7"),
        field("groups", &OffsetFetchRequest::groups, "8+"),
        field("require_stable", &OffsetFetchRequest::require_stable, "7+"),
    };
  }
  bool operator==(const OffsetFetchRequest&) const = default;
};

struct OffsetFetchResponse {
  static constexpr int16_t kApiKey = 9;
  static constexpr std::string_view kName = "OffsetFetchResponse";
  static constexpr VersionRange kValidVersions = versions("0-9");
  static constexpr VersionRange kFlexibleVersions = versions("6+");

  struct OffsetFetchResponseTopic {
    struct OffsetFetchResponsePartition {
      int32_t partition_index = 0;
      int64_t committed_offset = 0;
      int32_t committed_leader_epoch = -1;
      std::optional<std::string> metadata = std::string{};
      int16_t error_code = 0;

      static constexpr auto schema() {
        return std::tuple{
            field("partition_index", &OffsetFetchResponsePartition::partition_index, "0-7"),
            field("committed_offset", &OffsetFetchResponsePartition::committed_offset, "0-7"),
            field("committed_leader_epoch", &OffsetFetchResponsePartition::committed_leader_epoch, "5-7"),
            field("metadata", &OffsetFetchResponsePartition::metadata, "0-7").nullable("0-7"),
            field("error_code", &OffsetFetchResponsePartition::error_code, "0-7"),
        };
      }
      bool operator==(const OffsetFetchResponsePartition&) const = default;
    };

    std::string name;
    std::vector<OffsetFetchResponsePartition> partitions;

    static constexpr auto schema() {
      return std::tuple{
          field("name", &OffsetFetchResponseTopic::name, "0-7"),
          field("partitions", &OffsetFetchResponseTopic::partitions, "0-7"),
      };
    }
    bool operator==(const OffsetFetchResponseTopic&) const = default;
  };

  struct OffsetFetchResponseGroup {
    struct OffsetFetchResponseTopics {
      struct OffsetFetchResponsePartitions {
        int32_t partition_index = 0;
        int64_t committed_offset = 0;
        int32_t committed_leader_epoch = -1;
        std::optional<std::string> metadata = std::string{};
        int16_t error_code = 0;

        static constexpr auto schema() {
          return std::tuple{
              field("partition_index", &OffsetFetchResponsePartitions::partition_index, "8+"),
              field("committed_offset", &OffsetFetchResponsePartitions::committed_offset, "8+"),
              field("committed_leader_epoch", &OffsetFetchResponsePartitions::committed_leader_epoch, "8+"),
              field("metadata", &OffsetFetchResponsePartitions::metadata, "8+").nullable("8+"),
              field("error_code", &OffsetFetchResponsePartitions::error_code, "8+"),
          };
        }
        bool operator==(const OffsetFetchResponsePartitions&) const = default;
      };

      std::string name;
      std::vector<OffsetFetchResponsePartitions> partitions;

      static constexpr auto schema() {
        return std::tuple{
            field("name", &OffsetFetchResponseTopics::name, "8+"),
            field("partitions", &OffsetFetchResponseTopics::partitions, "8+"),
        };
      }
      bool operator==(const OffsetFetchResponseTopics&) const = default;
    };

    std::string group_id;
    std::vector<OffsetFetchResponseTopics> topics;
    int16_t error_code = 0;

    static constexpr auto schema() {
      return std::tuple{
          field("group_id", &OffsetFetchResponseGroup::group_id, "8+"),
          field("topics", &OffsetFetchResponseGroup::topics, "8+"),
          field("error_code", &OffsetFetchResponseGroup::error_code, "8+"),
      };
    }
    bool operator==(const OffsetFetchResponseGroup&) const = default;
  };

  int32_t throttle_time_ms = 0;
  std::vector<OffsetFetchResponseTopic> topics;
  int16_t error_code = 0;
  std::vector<OffsetFetchResponseGroup> groups;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &OffsetFetchResponse::throttle_time_ms, "3+"),
        field("topics", &OffsetFetchResponse::topics, "0-7"),
        field("error_code", &OffsetFetchResponse::error_code, "2-7"),
        field("groups", &OffsetFetchResponse::groups, "8+"),
    };
  }
  bool operator==(const OffsetFetchResponse&) const = default;
};

}  // namespace sluice::kafka
