#pragma once
// Kafka SaslAuthenticate (api key 36): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct SaslAuthenticateRequest {
  static constexpr int16_t kApiKey = 36;
  static constexpr std::string_view kName = "SaslAuthenticateRequest";
  static constexpr VersionRange kValidVersions = versions("0-2");
  static constexpr VersionRange kFlexibleVersions = versions("2+");

  Bytes auth_bytes;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("auth_bytes", &SaslAuthenticateRequest::auth_bytes, "0+"),
    };
  }
  bool operator==(const SaslAuthenticateRequest&) const = default;
};

struct SaslAuthenticateResponse {
  static constexpr int16_t kApiKey = 36;
  static constexpr std::string_view kName = "SaslAuthenticateResponse";
  static constexpr VersionRange kValidVersions = versions("0-2");
  static constexpr VersionRange kFlexibleVersions = versions("2+");

  int16_t error_code = 0;
  std::optional<std::string> error_message = std::string{};
  Bytes auth_bytes;
  int64_t session_lifetime_ms = 0;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("error_code", &SaslAuthenticateResponse::error_code, "0+"),
        field("error_message", &SaslAuthenticateResponse::error_message, "0+").nullable("0+"),
        field("auth_bytes", &SaslAuthenticateResponse::auth_bytes, "0+"),
        field("session_lifetime_ms", &SaslAuthenticateResponse::session_lifetime_ms, "1+"),
    };
  }
  bool operator==(const SaslAuthenticateResponse&) const = default;
};

}  // namespace sluice::kafka
