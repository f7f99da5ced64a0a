#pragma once
// Kafka DescribeConfigs (api key 32): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct DescribeConfigsRequest {
  static constexpr int16_t kApiKey = 32;
  static constexpr std::string_view kName = "DescribeConfigsRequest";
  static constexpr VersionRange kValidVersions = versions("0-4");
  static constexpr VersionRange kFlexibleVersions = versions("4+");

  struct DescribeConfigsResource {
    int8_t resource_type = 0;
    std::string resource_name;
    std::optional<std::vector<std::string>> configuration_keys = std::vector<std::string>{};

    static constexpr auto schema() {
      return std::tuple{
          field("resource_type", &DescribeConfigsResource::resource_type, "0+"),
          field("resource_name", &DescribeConfigsResource::resource_name, "0+"),
          field("configuration_keys", &DescribeConfigsResource::configuration_keys, "0+").nullable("0+"),
      };
    }
    bool operator==(const DescribeConfigsResource&) const = default;
  };

  std::vector<DescribeConfigsResource> resources;
  bool include_synonyms = false;
  bool include_documentation = false;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("resources", &DescribeConfigsRequest::resources, "0+"),
        field("include_synonyms", &DescribeConfigsRequest::include_synonyms, "1+"),
        field("include_documentation", &DescribeConfigsRequest::include_documentation, "3+"),
    };
  }
  bool operator==(const DescribeConfigsRequest&) const = default;
};

struct DescribeConfigsResponse {
  static constexpr int16_t kApiKey = 32;
  static constexpr std::string_view kName = "DescribeConfigsResponse";
  static constexpr VersionRange kValidVersions = versions("0-4");
  static constexpr VersionRange kFlexibleVersions = versions("4+");

  struct DescribeConfigsResult {
    struct DescribeConfigsResourceResult {
      struct DescribeConfigsSynonym {
        std::string name;
        std::optional<std::string> value = std::string{};
        int8_t source = 0;

        static constexpr auto schema() {
          return std::tuple{
              field("name", &DescribeConfigsSynonym::name, "1+"),
              field("value", &DescribeConfigsSynonym::value, "1+").nullable("0+"),
              field("source", &DescribeConfigsSynonym::source, "1+"),
          };
        }
        bool operator==(const DescribeConfigsSynonym&) const = default;
      };

      std::string name;
      std::optional<std::string> value = std::string{};
      bool read_only = false;
      bool is_default = false;
      int8_t config_source = -1;
      bool is_sensitive = false;
      std::vector<DescribeConfigsSynonym> synonyms;
      int8_t config_type = 0;
      std::optional<std::string> documentation = std::string{};

      static constexpr auto schema() {
        return std::tuple{
            field("name", &DescribeConfigsResourceResult::name, "0+"),
            field("value", &DescribeConfigsResourceResult::value, "0+").nullable("0+"),
            field("read_only", &DescribeConfigsResourceResult::read_only, "0+"),
            field("is_default", &DescribeConfigsResourceResult::is_default, "0"),
            field("config_source", &DescribeConfigsResourceResult::config_source, "1+"),
            field("is_sensitive", &DescribeConfigsResourceResult::is_sensitive, "0+"),
            field("synonyms", &DescribeConfigsResourceResult::synonyms, "1+"),
            field("config_type", &DescribeConfigsResourceResult::config_type, "3+"),
            field("documentation", &DescribeConfigsResourceResult::documentation, "3+").nullable("0+"),
        };
      }
      bool operator==(const DescribeConfigsResourceResult&) const = default;
    };

    int16_t error_code = 0;
    std::optional<std::string> error_message = std::string{};
    int8_t resource_type = 0;
    std::string resource_name;
    std::vector<DescribeConfigsResourceResult> configs;

    static constexpr auto schema() {
      return std::tuple{
          field("error_code", &DescribeConfigsResult::error_code, "0+"),
          field("error_message", &DescribeConfigsResult::error_message, "0+").nullable("0+"),
          field("resource_type", &DescribeConfigsResult::resource_type, "0+"),
          field("resource_name", &DescribeConfigsResult::resource_name, "0+"),
          field("configs", &DescribeConfigsResult::configs, "0+"),
      };
    }
    bool operator==(const DescribeConfigsResult&) const = default;
  };

  int32_t throttle_time_ms = 0;
  std::vector<DescribeConfigsResult> results;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &DescribeConfigsResponse::throttle_time_ms, "0+"),
        field("results", &DescribeConfigsResponse::results, "0+"),
    };
  }
  bool operator==(const DescribeConfigsResponse&) const = default;
};

}  // namespace sluice::kafka
