#pragma once
// Kafka DeleteTopics (api key 20): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct DeleteTopicsRequest {
  static constexpr int16_t kApiKey = 20;
  static constexpr std::string_view kName = "DeleteTopicsRequest";
  static constexpr VersionRange kValidVersions = versions("0-6");
  static constexpr VersionRange kFlexibleVersions = versions("4+");

  struct DeleteTopicState {
    std::optional<std::string> name = std::nullopt;
    Uuid topic_id;

    static constexpr auto schema() {
      return std::tuple{
          field("name", &DeleteTopicState::name, "6+").nullable("6+"),
          field("topic_id", &DeleteTopicState::topic_id, "6+"),
      };
    }
    bool operator==(const DeleteTopicState&) const = default;
  };

  std::vector<DeleteTopicState> topics;
  std::vector<std::string> topic_names;
  int32_t timeout_ms = 0;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("topics", &DeleteTopicsRequest::topics, "6+"),
        field("topic_names", &DeleteTopicsRequest::topic_names, "0-5"),
        field("timeout_ms", &DeleteTopicsRequest::timeout_ms, "0+"),
    };
  }
  bool operator==(const DeleteTopicsRequest&) const = default;
};

struct DeleteTopicsResponse {
  static constexpr int16_t kApiKey = 20;
  static constexpr std::string_view kName = "DeleteTopicsResponse";
  static constexpr VersionRange kValidVersions = versions("0-6");
  static constexpr VersionRange kFlexibleVersions = versions("4+");

  struct DeletableTopicResult {
    std::optional<std::string> name = std::string{};
    Uuid topic_id;
    int16_t error_code = 0;
    std::optional<std::string> error_message = std::nullopt;

    static constexpr auto schema() {
      return std::tuple{
          field("name", &DeletableTopicResult::name, "0+").nullable("6+"),
          field("topic_id", &DeletableTopicResult::topic_id, "6+"),
          field("error_code", &DeletableTopicResult::error_code, "0+"),
          field("error_message", &DeletableTopicResult::error_message, "5+").nullable("5+"),
      };
    }
    bool operator==(const DeletableTopicResult&) const = default;
  };

  int32_t throttle_time_ms = 0;
  std::vector<DeletableTopicResult> responses;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &DeleteTopicsResponse::throttle_time_ms, "1+"),
        field("responses", &DeleteTopicsResponse::responses, "0+"),
    };
  }
  bool operator==(const DeleteTopicsResponse&) const = default;
};

}  // namespace sluice::kafka
