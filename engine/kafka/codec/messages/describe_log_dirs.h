#pragma once
// Kafka DescribeLogDirs (api key 35): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct DescribeLogDirsRequest {
  static constexpr int16_t kApiKey = 35;
  static constexpr std::string_view kName = "DescribeLogDirsRequest";
  static constexpr VersionRange kValidVersions = versions("0-4");
  static constexpr VersionRange kFlexibleVersions = versions("2+");

  struct DescribableLogDirTopic {
    std::string topic;
    std::vector<int32_t> partitions;

    static constexpr auto schema() {
      return std::tuple{
          field("topic", &DescribableLogDirTopic::topic, "0+"),
          field("partitions", &DescribableLogDirTopic::partitions, "0+"),
      };
    }
    bool operator==(const DescribableLogDirTopic&) const = default;
  };

  // null = every topic
  std::optional<std::vector<DescribableLogDirTopic>> topics = std::vector<DescribableLogDirTopic>{};
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("topics", &DescribeLogDirsRequest::topics, "0+").nullable("0+"),
    };
  }
  bool operator==(const DescribeLogDirsRequest&) const = default;
};

struct DescribeLogDirsResponse {
  static constexpr int16_t kApiKey = 35;
  static constexpr std::string_view kName = "DescribeLogDirsResponse";
  static constexpr VersionRange kValidVersions = versions("0-4");
  static constexpr VersionRange kFlexibleVersions = versions("2+");

  struct DescribeLogDirsResult {
    struct DescribeLogDirsTopic {
      struct DescribeLogDirsPartition {
        int32_t partition_index = 0;
        int64_t partition_size = 0;
        int64_t offset_lag = 0;
        bool is_future_key = false;

        static constexpr auto schema() {
          return std::tuple{
              field("partition_index", &DescribeLogDirsPartition::partition_index, "0+"),
              field("partition_size", &DescribeLogDirsPartition::partition_size, "0+"),
              field("offset_lag", &DescribeLogDirsPartition::offset_lag, "0+"),
              field("is_future_key", &DescribeLogDirsPartition::is_future_key, "0+"),
          };
        }
        bool operator==(const DescribeLogDirsPartition&) const = default;
      };

      std::string name;
      std::vector<DescribeLogDirsPartition> partitions;

      static constexpr auto schema() {
        return std::tuple{
            field("name", &DescribeLogDirsTopic::name, "0+"),
            field("partitions", &DescribeLogDirsTopic::partitions, "0+"),
        };
      }
      bool operator==(const DescribeLogDirsTopic&) const = default;
    };

    int16_t error_code = 0;
    std::string log_dir;
    std::vector<DescribeLogDirsTopic> topics;
    int64_t total_bytes = -1;
    int64_t usable_bytes = -1;

    static constexpr auto schema() {
      return std::tuple{
          field("error_code", &DescribeLogDirsResult::error_code, "0+"),
          field("log_dir", &DescribeLogDirsResult::log_dir, "0+"),
          field("topics", &DescribeLogDirsResult::topics, "0+"),
          field("total_bytes", &DescribeLogDirsResult::total_bytes, "4+"),
          field("usable_bytes", &DescribeLogDirsResult::usable_bytes, "4+"),
      };
    }
    bool operator==(const DescribeLogDirsResult&) const = default;
  };

  int32_t throttle_time_ms = 0;
  int16_t error_code = 0;
  std::vector<DescribeLogDirsResult> results;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &DescribeLogDirsResponse::throttle_time_ms, "0+"),
        field("error_code", &DescribeLogDirsResponse::error_code, "3+"),
        field("results", &DescribeLogDirsResponse::results, "0+"),
    };
  }
  bool operator==(const DescribeLogDirsResponse&) const = default;
};

}  // namespace sluice::kafka
