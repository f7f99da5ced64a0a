#pragma once
// Kafka SyncGroup (api key 14): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct SyncGroupRequest {
  static constexpr int16_t kApiKey = 14;
  static constexpr std::string_view kName = "SyncGroupRequest";
  static constexpr VersionRange kValidVersions = versions("0-5");
  static constexpr VersionRange kFlexibleVersions = versions("4+");

  struct SyncGroupRequestAssignment {
    std::string member_id;
    Bytes assignment;

    static constexpr auto schema() {
      return std::tuple{
          field("member_id", &SyncGroupRequestAssignment::member_id, "0+"),
          field("assignment", &SyncGroupRequestAssignment::assignment, "0+"),
      };
    }
    bool operator==(const SyncGroupRequestAssignment&) const = default;
  };

  std::string group_id;
  int32_t generation_id = 0;
  std::string member_id;
  std::optional<std::string> group_instance_id = std::nullopt;
  std::optional<std::string> protocol_type = std::nullopt;
  std::optional<std::string> protocol_name = std::nullopt;
  std::vector<SyncGroupRequestAssignment> assignments;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("group_id", &SyncGroupRequest::group_id, "0+"),
        field("generation_id", &SyncGroupRequest::generation_id, "0+"),
        field("member_id", &SyncGroupRequest::member_id, "0+"),
        field("group_instance_id", &SyncGroupRequest::group_instance_id, "3+").nullable("3+"),
        field("protocol_type", &SyncGroupRequest::protocol_type, "5+").nullable("5+"),
        field("protocol_name", &SyncGroupRequest::protocol_name, "5+").nullable("5+"),
        field("assignments", &SyncGroupRequest::assignments, "0+"),
    };
  }
  bool operator==(const SyncGroupRequest&) const = default;
};

struct SyncGroupResponse {
  static constexpr int16_t kApiKey = 14;
  static constexpr std::string_view kName = "SyncGroupResponse";
  static constexpr VersionRange kValidVersions = versions("0-5");
  static constexpr VersionRange kFlexibleVersions = versions("4+");

  int32_t throttle_time_ms = 0;
  int16_t error_code = 0;
  std::optional<std::string> protocol_type = std::nullopt;
  std::optional<std::string> protocol_name = std::nullopt;
  Bytes assignment;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &SyncGroupResponse::throttle_time_ms, "1+"),
        field("error_code", &SyncGroupResponse::error_code, "0+"),
        field("protocol_type", &SyncGroupResponse::protocol_type, "5+").nullable("5+"),
        field("protocol_name", &SyncGroupResponse::protocol_name, "5+").nullable("5+"),
        field("assignment", &SyncGroupResponse::assignment, "0+"),
    };
  }
  bool operator==(const SyncGroupResponse&) const = default;
};

}  // namespace sluice::kafka
