#pragma once
// Kafka FindCoordinator (api key 10): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct FindCoordinatorRequest {
  static constexpr int16_t kApiKey = 10;
  static constexpr std::string_view kName = "FindCoordinatorRequest";
  static constexpr VersionRange kValidVersions = versions("0-6");
  static constexpr VersionRange kFlexibleVersions = versions("3+");

  std::string key;
  int8_t key_type = 0;
  std::vector<std::string> coordinator_keys;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("key", &FindCoordinatorRequest::key, "0-3"),
        field("key_type", &FindCoordinatorRequest::key_type, "1+"),
        field("coordinator_keys", &FindCoordinatorRequest::coordinator_keys, "4+"),
    };
  }
  bool operator==(const FindCoordinatorRequest&) const = default;
};

struct FindCoordinatorResponse {
  static constexpr int16_t kApiKey = 10;
  static constexpr std::string_view kName = "FindCoordinatorResponse";
  static constexpr VersionRange kValidVersions = versions("0-6");
  static constexpr VersionRange kFlexibleVersions = versions("3+");

  struct Coordinator {
    std::string key;
    int32_t node_id = 0;
    std::string host;
    int32_t port = 0;
    int16_t error_code = 0;
    std::optional<std::string> error_message = std::string{};

    static constexpr auto schema() {
      return std::tuple{
          field("key", &Coordinator::key, "4+"),
          field("node_id", &Coordinator::node_id, "4+"),
          field("host", &Coordinator::host, "4+"),
          field("port", &Coordinator::port, "4+"),
          field("error_code", &Coordinator::error_code, "4+"),
          field("error_message", &Coordinator::error_message, "4+").nullable("4+"),
      };
    }
    bool operator==(const Coordinator&) const = default;
  };

  int32_t throttle_time_ms = 0;
  int16_t error_code = 0;
  std::optional<std::string> error_message = std::string{};
  int32_t node_id = 0;
  std::string host;
  int32_t port = 0;
  std::vector<Coordinator> coordinators;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &FindCoordinatorResponse::throttle_time_ms, "1+"),
        field("error_code", &FindCoordinatorResponse::error_code, "0-3"),
        field("error_message", &FindCoordinatorResponse::error_message, "1-3").nullable("1-3"),
        field("node_id", &FindCoordinatorResponse::node_id, "0-3"),
        field("host", &FindCoordinatorResponse::host, "0-3"),
        field("port", &FindCoordinatorResponse::port, "0-3"),
        field("coordinators", &FindCoordinatorResponse::coordinators, "4+"),
    };
  }
  bool operator==(const FindCoordinatorResponse&) const = default;
};

}  // namespace sluice::kafka
