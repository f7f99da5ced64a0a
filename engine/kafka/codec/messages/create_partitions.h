#pragma once
// Kafka CreatePartitions (api key 37): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct CreatePartitionsRequest {
  static constexpr int16_t kApiKey = 37;
  static constexpr std::string_view kName = "CreatePartitionsRequest";
  static constexpr VersionRange kValidVersions = versions("0-3");
  static constexpr VersionRange kFlexibleVersions = versions("2+");

  struct CreatePartitionsTopic {
    struct CreatePartitionsAssignment {
      std::vector<int32_t> broker_ids;

      static constexpr auto schema() {
        return std::tuple{
            field("broker_ids", &CreatePartitionsAssignment::broker_ids, "0+"),
        };
      }
      bool operator==(const CreatePartitionsAssignment&) const = default;
    };

    std::string name;
    int32_t count = 0;
    std::optional<std::vector<CreatePartitionsAssignment>> assignments = std::vector<CreatePartitionsAssignment>{};

    static constexpr auto schema() {
      return std::tuple{
          field("name", &CreatePartitionsTopic::name, "0+"),
          field("count", &CreatePartitionsTopic::count, "0+"),
          field("assignments", &CreatePartitionsTopic::assignments, "0+").nullable("0+"),
      };
    }
    bool operator==(const CreatePartitionsTopic&) const = default;
  };

  std::vector<CreatePartitionsTopic> topics;
  int32_t timeout_ms = 0;
  bool validate_only = false;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("topics", &CreatePartitionsRequest::topics, "0+"),
        field("timeout_ms", &CreatePartitionsRequest::timeout_ms, "0+"),
        field("validate_only", &CreatePartitionsRequest::validate_only, "0+"),
    };
  }
  bool operator==(const CreatePartitionsRequest&) const = default;
};

struct CreatePartitionsResponse {
  static constexpr int16_t kApiKey = 37;
  static constexpr std::string_view kName = "CreatePartitionsResponse";
  static constexpr VersionRange kValidVersions = versions("0-3");
  static constexpr VersionRange kFlexibleVersions = versions("2+");

  struct CreatePartitionsTopicResult {
    std::string name;
    int16_t error_code = 0;
    std::optional<std::string> error_message = std::nullopt;

    static constexpr auto schema() {
      return std::tuple{
          field("name", &CreatePartitionsTopicResult::name, "0+"),
          field("error_code", &CreatePartitionsTopicResult::error_code, "0+"),
          field("error_message", &CreatePartitionsTopicResult::error_message, "0+").nullable("0+"),
      };
    }
    bool operator==(const CreatePartitionsTopicResult&) const = default;
  };

  int32_t throttle_time_ms = 0;
  std::vector<CreatePartitionsTopicResult> results;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &CreatePartitionsResponse::throttle_time_ms, "0+"),
        field("results", &CreatePartitionsResponse::results, "0+"),
    };
  }
  bool operator==(const CreatePartitionsResponse&) const = default;
};

}  // namespace sluice::kafka
