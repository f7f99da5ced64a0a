#pragma once
// Kafka ApiVersions (api key 18): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct ApiVersionsRequest {
  static constexpr int16_t kApiKey = 18;
  static constexpr std::string_view kName = "ApiVersionsRequest";
  static constexpr VersionRange kValidVersions = versions("0-4");
  static constexpr VersionRange kFlexibleVersions = versions("3+");

  std::string client_software_name;
  std::string client_software_version;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("client_software_name", &ApiVersionsRequest::client_software_name, "3+"),
        field("client_software_version", &ApiVersionsRequest::client_software_version, "3+"),
    };
  }
  bool operator==(const ApiVersionsRequest&) const = default;
};

struct ApiVersionsResponse {
  static constexpr int16_t kApiKey = 18;
  static constexpr std::string_view kName = "ApiVersionsResponse";
  static constexpr VersionRange kValidVersions = versions("0-4");
  static constexpr VersionRange kFlexibleVersions = versions("3+");

  struct ApiVersion {
    int16_t api_key = 0;
    int16_t min_version = 0;
    int16_t max_version = 0;

    static constexpr auto schema() {
      return std::tuple{
          field("api_key", &ApiVersion::api_key, "0+"),
          field("min_version", &ApiVersion::min_version, "0+"),
          field("max_version", &ApiVersion::max_version, "0+"),
      };
    }
    bool operator==(const ApiVersion&) const = default;
  };

  struct SupportedFeatureKey {
    std::string name;
    int16_t min_version = 0;
    int16_t max_version = 0;

    static constexpr auto schema() {
      return std::tuple{
          field("name", &SupportedFeatureKey::name, "3+"),
          field("min_version", &SupportedFeatureKey::min_version, "3+"),
          field("max_version", &SupportedFeatureKey::max_version, "3+"),
      };
    }
    bool operator==(const SupportedFeatureKey&) const = default;
  };

  struct FinalizedFeatureKey {
    std::string name;
    int16_t max_version_level = 0;
    int16_t min_version_level = 0;

    static constexpr auto schema() {
      return std::tuple{
          field("name", &FinalizedFeatureKey::name, "3+"),
          field("max_version_level", &FinalizedFeatureKey::max_version_level, "3+"),
          field("min_version_level", &FinalizedFeatureKey::min_version_level, "3+"),
      };
    }
    bool operator==(const FinalizedFeatureKey&) const = default;
  };

  int16_t error_code = 0;
  std::vector<ApiVersion> api_keys;
  int32_t throttle_time_ms = 0;
  std::vector<SupportedFeatureKey> supported_features;
  int64_t finalized_features_epoch = -1;
  std::vector<FinalizedFeatureKey> finalized_features;
  bool zk_migration_ready = false;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("error_code", &ApiVersionsResponse::error_code, "0+"),
        field("api_keys", &ApiVersionsResponse::api_keys, "0+"),
        field("throttle_time_ms", &ApiVersionsResponse::throttle_time_ms, "1+"),
        field("supported_features", &ApiVersionsResponse::supported_features, "3+").tagged(0, "3+"),
        field("finalized_features_epoch", &ApiVersionsResponse::finalized_features_epoch, "3+").tagged(1, "3+"),
        field("finalized_features", &ApiVersionsResponse::finalized_features, "3+").tagged(2, "3+"),
        field("zk_migration_ready", &ApiVersionsResponse::zk_migration_ready, "3+").tagged(3, "3+"),
    };
  }
  bool operator==(const ApiVersionsResponse&) const = default;
};

}  // namespace sluice::kafka
