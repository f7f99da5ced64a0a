#pragma once
// Kafka LeaveGroup (api key 13): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct LeaveGroupRequest {
  static constexpr int16_t kApiKey = 13;
  static constexpr std::string_view kName = "LeaveGroupRequest";
  static constexpr VersionRange kValidVersions = versions("0-5");
  static constexpr VersionRange kFlexibleVersions = versions("4+");

  struct MemberIdentity {
    std::string member_id;
    std::optional<std::string> group_instance_id = std::nullopt;
    std::optional<std::string> reason = std::nullopt;

    static constexpr auto schema() {
      return std::tuple{
          field("member_id", &MemberIdentity::member_id, "3+"),
          field("group_instance_id", &MemberIdentity::group_instance_id, "3+").nullable("3+"),
          field("reason", &MemberIdentity::reason, "5+").nullable("5+"),
      };
    }
    bool operator==(const MemberIdentity&) const = default;
  };

  std::string group_id;
  std::string member_id;
  std::vector<MemberIdentity> members;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("group_id", &LeaveGroupRequest::group_id, "0+"),
        field("member_id", &LeaveGroupRequest::member_id, "0-2"),
        field("members", &LeaveGroupRequest::members, "3+"),
    };
  }
  bool operator==(const LeaveGroupRequest&) const = default;
};

struct LeaveGroupResponse {
  static constexpr int16_t kApiKey = 13;
  static constexpr std::string_view kName = "LeaveGroupResponse";
  static constexpr VersionRange kValidVersions = versions("0-5");
  static constexpr VersionRange kFlexibleVersions = versions("4+");

  struct MemberResponse {
    std::string member_id;
    std::optional<std::string> group_instance_id = std::string{};
    int16_t error_code = 0;

    static constexpr auto schema() {
      return std::tuple{
          field("member_id", &MemberResponse::member_id, "3+"),
          field("group_instance_id", &MemberResponse::group_instance_id, "3+").nullable("3+"),
          field("error_code", &MemberResponse::error_code, "3+"),
      };
    }
    bool operator==(const MemberResponse&) const = default;
  };

  int32_t throttle_time_ms = 0;
  int16_t error_code = 0;
  std::vector<MemberResponse> members;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &LeaveGroupResponse::throttle_time_ms, "1+"),
        field("error_code", &LeaveGroupResponse::error_code, "0+"),
        field("members", &LeaveGroupResponse::members, "3+"),
    };
  }
  bool operator==(const LeaveGroupResponse&) const = default;
};

}  // namespace sluice::kafka
