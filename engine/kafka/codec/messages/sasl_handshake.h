#pragma once
// Kafka SaslHandshake (api key 17): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct SaslHandshakeRequest {
  static constexpr int16_t kApiKey = 17;
  static constexpr std::string_view kName = "SaslHandshakeRequest";
  static constexpr VersionRange kValidVersions = versions("0-1");
  static constexpr VersionRange kFlexibleVersions = versions("none");

  std::string mechanism;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("mechanism", &SaslHandshakeRequest::mechanism, "0+"),
    };
  }
  bool operator==(const SaslHandshakeRequest&) const = default;
};

struct SaslHandshakeResponse {
  static constexpr int16_t kApiKey = 17;
  static constexpr std::string_view kName = "SaslHandshakeResponse";
  static constexpr VersionRange kValidVersions = versions("0-1");
  static constexpr VersionRange kFlexibleVersions = versions("none");

  int16_t error_code = 0;
  std::vector<std::string> mechanisms;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("error_code", &SaslHandshakeResponse::error_code, "0+"),
        field("mechanisms", &SaslHandshakeResponse::mechanisms, "0+"),
    };
  }
  bool operator==(const SaslHandshakeResponse&) const = default;
};

}  // namespace sluice::kafka
