#pragma once
// Kafka ListGroups (api key 16): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct ListGroupsRequest {
  static constexpr int16_t kApiKey = 16;
  static constexpr std::string_view kName = "ListGroupsRequest";
  static constexpr VersionRange kValidVersions = versions("0-5");
  static constexpr VersionRange kFlexibleVersions = versions("3+");

  std::vector<std::string> states_filter;
  std::vector<std::string> types_filter;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("states_filter", &ListGroupsRequest::states_filter, "4+"),
        field("types_filter", &ListGroupsRequest::types_filter, "5+"),
    };
  }
  bool operator==(const ListGroupsRequest&) const = default;
};

struct ListGroupsResponse {
  static constexpr int16_t kApiKey = 16;
  static constexpr std::string_view kName = "ListGroupsResponse";
  static constexpr VersionRange kValidVersions = versions("0-5");
  static constexpr VersionRange kFlexibleVersions = versions("3+");

  struct ListedGroup {
    std::string group_id;
    std::string protocol_type;
    std::string group_state;
    std::string group_type;

    static constexpr auto schema() {
      return std::tuple{
          field("group_id", &ListedGroup::group_id, "0+"),
          field("protocol_type", &ListedGroup::protocol_type, "0+"),
          field("group_state", &ListedGroup::group_state, "4+"),
          field("group_type", &ListedGroup::group_type, "5+"),
      };
    }
    bool operator==(const ListedGroup&) const = default;
  };

  int32_t throttle_time_ms = 0;
  int16_t error_code = 0;
  std::vector<ListedGroup> groups;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &ListGroupsResponse::throttle_time_ms, "1+"),
        field("error_code", &ListGroupsResponse::error_code, "0+"),
        field("groups", &ListGroupsResponse::groups, "0+"),
    };
  }
  bool operator==(const ListGroupsResponse&) const = default;
};

}  // namespace sluice::kafka
