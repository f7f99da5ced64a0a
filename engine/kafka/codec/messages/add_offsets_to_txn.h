#pragma once
// Kafka AddOffsetsToTxn (api key 25): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct AddOffsetsToTxnRequest {
  static constexpr int16_t kApiKey = 25;
  static constexpr std::string_view kName = "AddOffsetsToTxnRequest";
  static constexpr VersionRange kValidVersions = versions("0-4");
  static constexpr VersionRange kFlexibleVersions = versions("3+");

  std::string transactional_id;
  int64_t producer_id = 0;
  int16_t producer_epoch = 0;
  std::string group_id;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("transactional_id", &AddOffsetsToTxnRequest::transactional_id, "0+"),
        field("producer_id", &AddOffsetsToTxnRequest::producer_id, "0+"),
        field("producer_epoch", &AddOffsetsToTxnRequest::producer_epoch, "0+"),
        field("group_id", &AddOffsetsToTxnRequest::group_id, "0+"),
    };
  }
  bool operator==(const AddOffsetsToTxnRequest&) const = default;
};

struct AddOffsetsToTxnResponse {
  static constexpr int16_t kApiKey = 25;
  static constexpr std::string_view kName = "AddOffsetsToTxnResponse";
  static constexpr VersionRange kValidVersions = versions("0-4");
  static constexpr VersionRange kFlexibleVersions = versions("3+");

  int32_t throttle_time_ms = 0;
  int16_t error_code = 0;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &AddOffsetsToTxnResponse::throttle_time_ms, "0+"),
        field("error_code", &AddOffsetsToTxnResponse::error_code, "0+"),
    };
  }
  bool operator==(const AddOffsetsToTxnResponse&) const = default;
};

}  // namespace sluice::kafka
