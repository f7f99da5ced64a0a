#pragma once
// Kafka EndTxn (api key 26): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct EndTxnRequest {
  static constexpr int16_t kApiKey = 26;
  static constexpr std::string_view kName = "EndTxnRequest";
  static constexpr VersionRange kValidVersions = versions("0-5");
  static constexpr VersionRange kFlexibleVersions = versions("3+");

  std::string transactional_id;
  int64_t producer_id = 0;
  int16_t producer_epoch = 0;
  bool committed = false;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("transactional_id", &EndTxnRequest::transactional_id, "0+"),
        field("producer_id", &EndTxnRequest::producer_id, "0+"),
        field("producer_epoch", &EndTxnRequest::producer_epoch, "0+"),
        field("committed", &EndTxnRequest::committed, "0+"),
    };
  }
  bool operator==(const EndTxnRequest&) const = default;
};

struct EndTxnResponse {
  static constexpr int16_t kApiKey = 26;
  static constexpr std::string_view kName = "EndTxnResponse";
  static constexpr VersionRange kValidVersions = versions("0-5");
  static constexpr VersionRange kFlexibleVersions = versions("3+");

  int32_t throttle_time_ms = 0;
  int16_t error_code = 0;
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &EndTxnResponse::throttle_time_ms, "0+"),
        field("error_code", &EndTxnResponse::error_code, "0+"),
        field("producer_id", &EndTxnResponse::producer_id, "5+"),
        field("producer_epoch", &EndTxnResponse::producer_epoch, "5+"),
    };
  }
  bool operator==(const EndTxnResponse&) const = default;
};

}  // namespace sluice::kafka
