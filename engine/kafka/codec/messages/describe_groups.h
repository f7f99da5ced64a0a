#pragma once
// Kafka DescribeGroups (api key 15): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct DescribeGroupsRequest {
  static constexpr int16_t kApiKey = 15;
  static constexpr std::string_view kName = "DescribeGroupsRequest";
  static constexpr VersionRange kValidVersions = versions("0-5");
  static constexpr VersionRange kFlexibleVersions = versions("5+");

  std::vector<std::string> groups;
  bool include_authorized_operations = false;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("groups", &DescribeGroupsRequest::groups, "0+"),
        field("include_authorized_operations", &DescribeGroupsRequest::include_authorized_operations, "3+"),
    };
  }
  bool operator==(const DescribeGroupsRequest&) const = default;
};

struct DescribeGroupsResponse {
  static constexpr int16_t kApiKey = 15;
  static constexpr std::string_view kName = "DescribeGroupsResponse";
  static constexpr VersionRange kValidVersions = versions("0-5");
  static constexpr VersionRange kFlexibleVersions = versions("5+");

  struct DescribedGroup {
    struct DescribedGroupMember {
      std::string member_id;
      std::optional<std::string> group_instance_id = std::nullopt;
      std::string client_id;
      std::string client_host;
      Bytes member_metadata;
      Bytes member_assignment;

      static constexpr auto schema() {
        return std::tuple{
            field("member_id", &DescribedGroupMember::member_id, "0+"),
            field("group_instance_id", &DescribedGroupMember::group_instance_id, "4+").nullable("4+"),
            field("client_id", &DescribedGroupMember::client_id, "0+"),
            field("client_host", &DescribedGroupMember::client_host, "0+"),
            field("member_metadata", &DescribedGroupMember::member_metadata, "0+"),
            field("member_assignment", &DescribedGroupMember::member_assignment, "0+"),
        };
      }
      bool operator==(const DescribedGroupMember&) const = default;
    };

    int16_t error_code = 0;
    std::string group_id;
    std::string group_state;
    std::string protocol_type;
    std::string protocol_data;
    std::vector<DescribedGroupMember> members;
    int32_t authorized_operations = std::numeric_limits<int32_t>::min();

    static constexpr auto schema() {
      return std::tuple{
          field("error_code", &DescribedGroup::error_code, "0+"),
          field("group_id", &DescribedGroup::group_id, "0+"),
          field("group_state", &DescribedGroup::group_state, "0+"),
          field("protocol_type", &DescribedGroup::protocol_type, "0+"),
          field("protocol_data", &DescribedGroup::protocol_data, "0+"),
          field("members", &DescribedGroup::members, "0+"),
          field("authorized_operations", &DescribedGroup::authorized_operations, "3+"),
      };
    }
    bool operator==(const DescribedGroup&) const = default;
  };

  int32_t throttle_time_ms = 0;
  std::vector<DescribedGroup> groups;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &DescribeGroupsResponse::throttle_time_ms, "1+"),
        field("groups", &DescribeGroupsResponse::groups, "0+"),
    };
  }
  bool operator==(const DescribeGroupsResponse&) const = default;
};

}  // namespace sluice::kafka
