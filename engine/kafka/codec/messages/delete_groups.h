#pragma once
// Kafka DeleteGroups (api key 42): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct DeleteGroupsRequest {
  static constexpr int16_t kApiKey = 42;
  static constexpr std::string_view kName = "DeleteGroupsRequest";
  static constexpr VersionRange kValidVersions = versions("0-2");
  static constexpr VersionRange kFlexibleVersions = versions("2+");

  std::vector<std::string> groups_names;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("groups_names", &DeleteGroupsRequest::groups_names, "0+"),
    };
  }
  bool operator==(const DeleteGroupsRequest&) const = default;
};

struct DeleteGroupsResponse {
  static constexpr int16_t kApiKey = 42;
  static constexpr std::string_view kName = "DeleteGroupsResponse";
  static constexpr VersionRange kValidVersions = versions("0-2");
  static constexpr VersionRange kFlexibleVersions = versions("2+");

  struct DeletableGroupResult {
    std::string group_id;
    int16_t error_code = 0;

    static constexpr auto schema() {
      return std::tuple{
          field("group_id", &DeletableGroupResult::group_id, "0+"),
          field("error_code", &DeletableGroupResult::error_code, "0+"),
      };
    }
    bool operator==(const DeletableGroupResult&) const = default;
  };

  int32_t throttle_time_ms = 0;
  std::vector<DeletableGroupResult> results;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &DeleteGroupsResponse::throttle_time_ms, "0+"),
        field("results", &DeleteGroupsResponse::results, "0+"),
    };
  }
  bool operator==(const DeleteGroupsResponse&) const = default;
};

}  // namespace sluice::kafka
