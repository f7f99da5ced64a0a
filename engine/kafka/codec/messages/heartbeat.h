#pragma once
// Kafka Heartbeat (api key 12): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct HeartbeatRequest {
  static constexpr int16_t kApiKey = 12;
  static constexpr std::string_view kName = "HeartbeatRequest";
  static constexpr VersionRange kValidVersions = versions("0-4");
  static constexpr VersionRange kFlexibleVersions = versions("4+");

  std::string group_id;
  int32_t generation_id = 0;
  std::string member_id;
  std::optional<std::string> group_instance_id = std::nullopt;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("group_id", &HeartbeatRequest::group_id, "0+"),
        field("generation_id", &HeartbeatRequest::generation_id, "0+"),
        field("member_id", &HeartbeatRequest::member_id, "0+"),
        field("group_instance_id", &HeartbeatRequest::group_instance_id, "3+").nullable("3+"),
    };
  }
  bool operator==(const HeartbeatRequest&) const = default;
};

struct HeartbeatResponse {
  static constexpr int16_t kApiKey = 12;
  static constexpr std::string_view kName = "HeartbeatResponse";
  static constexpr VersionRange kValidVersions = versions("0-4");
  static constexpr VersionRange kFlexibleVersions = versions("4+");

  int32_t throttle_time_ms = 0;
  int16_t error_code = 0;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &HeartbeatResponse::throttle_time_ms, "1+"),
        field("error_code", &HeartbeatResponse::error_code, "0+"),
    };
  }
  bool operator==(const HeartbeatResponse&) const = default;
};

}  // namespace sluice::kafka
