#pragma once
// Kafka JoinGroup (api key 11): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct JoinGroupRequest {
  static constexpr int16_t kApiKey = 11;
  static constexpr std::string_view kName = "JoinGroupRequest";
  static constexpr VersionRange kValidVersions = versions("0-9");
  static constexpr VersionRange kFlexibleVersions = versions("6+");

  struct JoinGroupRequestProtocol {
    std::string name;
    Bytes metadata;

    static constexpr auto schema() {
      return std::tuple{
          field("name", &JoinGroupRequestProtocol::name, "0+"),
          field("metadata", &JoinGroupRequestProtocol::metadata, "0+"),
      };
    }
    bool operator==(const JoinGroupRequestProtocol&) const = default;
  };

  std::string group_id;
  int32_t session_timeout_ms = 0;
  int32_t rebalance_timeout_ms = -1;
  std::string member_id;
  std::optional<std::string> group_instance_id = std::nullopt;
  std::string protocol_type;
  std::vector<JoinGroupRequestProtocol> protocols;
  std::optional<std::string> reason = std::nullopt;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("group_id", &JoinGroupRequest::group_id, "0+"),
        field("session_timeout_ms", &JoinGroupRequest::session_timeout_ms, "0+"),
        field("rebalance_timeout_ms", &JoinGroupRequest::rebalance_timeout_ms, "1+"),
        field("member_id", &JoinGroupRequest::member_id, "0+"),
        field("group_instance_id", &JoinGroupRequest::group_instance_id, "5+").nullable("5+"),
        field("protocol_type", &JoinGroupRequest::protocol_type, "0+"),
        field("protocols", &JoinGroupRequest::protocols, "0+"),
        field("reason", &JoinGroupRequest::reason, "8+").nullable("8+"),
    };
  }
  bool operator==(const JoinGroupRequest&) const = default;
};

struct JoinGroupResponse {
  static constexpr int16_t kApiKey = 11;
  static constexpr std::string_view kName = "JoinGroupResponse";
  static constexpr VersionRange kValidVersions = versions("0-9");
  static constexpr VersionRange kFlexibleVersions = versions("6+");

  struct JoinGroupResponseMember {
    std::string member_id;
    std::optional<std::string> group_instance_id = std::nullopt;
    Bytes metadata;

    static constexpr auto schema() {
      return std::tuple{
          field("member_id", &JoinGroupResponseMember::member_id, "0+"),
          field("group_instance_id", &JoinGroupResponseMember::group_instance_id, "5+").nullable("5+"),
          field("metadata", &JoinGroupResponseMember::metadata, "0+"),
      };
    }
    bool operator==(const JoinGroupResponseMember&) const = default;
  };

  int32_t throttle_time_ms = 0;
  int16_t error_code = 0;
  int32_t generation_id = -1;
  std::optional<std::string> protocol_type = std::nullopt;
  std::optional<std::string> protocol_name = std::string{};
  std::string leader;
  bool skip_assignment = false;
  std::string member_id;
  std::vector<JoinGroupResponseMember> members;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &JoinGroupResponse::throttle_time_ms, "2+"),
        field("error_code", &JoinGroupResponse::error_code, "0+"),
        field("generation_id", &JoinGroupResponse::generation_id, "0+"),
        field("protocol_type", &JoinGroupResponse::protocol_type, "7+").nullable("7+"),
        field("protocol_name", &JoinGroupResponse::protocol_name, "0+").nullable("7+"),
        field("leader", &JoinGroupResponse::leader, "0+"),
        field("skip_assignment", &JoinGroupResponse::skip_assignment, "9+"),
        field("member_id", &JoinGroupResponse::member_id, "0+"),
        field("members", &JoinGroupResponse::members, "0+"),
    };
  }
  bool operator==(const JoinGroupResponse&) const = default;
};

}  // namespace sluice::kafka
