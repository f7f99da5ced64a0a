#pragma once
// Request and response headers, described like every other message.
//
// Request header v1: api key, api version, correlation id, client id (nullable string).
// Request header v2 (flexible request versions): the same plus a tagged-field section; the client
// id stays a classic int16-length string (field-level "flexibleVersions: none").
// Response header v0: correlation id; v1 (flexible response versions) adds tagged fields, except
// that ApiVersions responses always use v0 (see response_header_version()).
#include <cstdint>
#include <optional>
#include <string>

#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct RequestHeader {
  static constexpr std::string_view kName = "RequestHeader";
  static constexpr VersionRange kValidVersions = versions("0-2");
  static constexpr VersionRange kFlexibleVersions = versions("2+");

  int16_t request_api_key = 0;
  int16_t request_api_version = 0;
  int32_t correlation_id = 0;
  std::optional<std::string> client_id = std::string();
  TaggedFields unknown_tagged_fields;
  // Not on the wire: the header version this header was decoded with / is to be encoded with.
  int16_t header_version = 1;

  static constexpr auto schema() {
    return std::tuple{
        field("request_api_key", &RequestHeader::request_api_key, "0+"),
        field("request_api_version", &RequestHeader::request_api_version, "0+"),
        field("correlation_id", &RequestHeader::correlation_id, "0+"),
        field("client_id", &RequestHeader::client_id, "1+").nullable("1+").flexible("none"),
    };
  }
  bool operator==(const RequestHeader&) const = default;
};

struct ResponseHeader {
  static constexpr std::string_view kName = "ResponseHeader";
  static constexpr VersionRange kValidVersions = versions("0-1");
  static constexpr VersionRange kFlexibleVersions = versions("1+");

  int32_t correlation_id = 0;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("correlation_id", &ResponseHeader::correlation_id, "0+"),
    };
  }
  bool operator==(const ResponseHeader&) const = default;
};

}  // namespace sluice::kafka
