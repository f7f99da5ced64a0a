#pragma once
// Kafka IncrementalAlterConfigs (api key 44): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct IncrementalAlterConfigsRequest {
  static constexpr int16_t kApiKey = 44;
  static constexpr std::string_view kName = "IncrementalAlterConfigsRequest";
  static constexpr VersionRange kValidVersions = versions("0-1");
  static constexpr VersionRange kFlexibleVersions = versions("1+");

  struct AlterConfigsResource {
    struct AlterableConfig {
      std::string name;
      int8_t config_operation = 0;
      std::optional<std::string> value = std::string{};

      static constexpr auto schema() {
        return std::tuple{
            field("name", &AlterableConfig::name, "0+"),
            field("config_operation", &AlterableConfig::config_operation, "0+"),
            field("value", &AlterableConfig::value, "0+").nullable("0+"),
        };
      }
      bool operator==(const AlterableConfig&) const = default;
    };

    int8_t resource_type = 0;
    std::string resource_name;
    std::vector<AlterableConfig> configs;

    static constexpr auto schema() {
      return std::tuple{
          field("resource_type", &AlterConfigsResource::resource_type, "0+"),
          field("resource_name", &AlterConfigsResource::resource_name, "0+"),
          field("configs", &AlterConfigsResource::configs, "0+"),
      };
    }
    bool operator==(const AlterConfigsResource&) const = default;
  };

  std::vector<AlterConfigsResource> resources;
  bool validate_only = false;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("resources", &IncrementalAlterConfigsRequest::resources, "0+"),
        field("validate_only", &IncrementalAlterConfigsRequest::validate_only, "0+"),
    };
  }
  bool operator==(const IncrementalAlterConfigsRequest&) const = default;
};

struct IncrementalAlterConfigsResponse {
  static constexpr int16_t kApiKey = 44;
  static constexpr std::string_view kName = "IncrementalAlterConfigsResponse";
  static constexpr VersionRange kValidVersions = versions("0-1");
  static constexpr VersionRange kFlexibleVersions = versions("1+");

  struct AlterConfigsResourceResponse {
    int16_t error_code = 0;
    std::optional<std::string> error_message = std::string{};
    int8_t resource_type = 0;
    std::string resource_name;

    static constexpr auto schema() {
      return std::tuple{
          field("error_code", &AlterConfigsResourceResponse::error_code, "0+"),
          field("error_message", &AlterConfigsResourceResponse::error_message, "0+").nullable("0+"),
          field("resource_type", &AlterConfigsResourceResponse::resource_type, "0+"),
          field("resource_name", &AlterConfigsResourceResponse::resource_name, "0+"),
      };
    }
    bool operator==(const AlterConfigsResourceResponse&) const = default;
  };

  int32_t throttle_time_ms = 0;
  std::vector<AlterConfigsResourceResponse> responses;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &IncrementalAlterConfigsResponse::throttle_time_ms, "0+"),
        field("responses", &IncrementalAlterConfigsResponse::responses, "0+"),
    };
  }
  bool operator==(const IncrementalAlterConfigsResponse&) const = default;
};

}  // namespace sluice::kafka
