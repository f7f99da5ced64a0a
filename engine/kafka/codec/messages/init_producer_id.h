#pragma once
// Kafka InitProducerId (api key 22): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct InitProducerIdRequest {
  static constexpr int16_t kApiKey = 22;
  static constexpr std::string_view kName = "InitProducerIdRequest";
  static constexpr VersionRange kValidVersions = versions("0-5");
  static constexpr VersionRange kFlexibleVersions = versions("2+");

  std::optional<std::string> transactional_id = std::string{};
  int32_t transaction_timeout_ms = 0;
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("transactional_id", &InitProducerIdRequest::transactional_id, "0+").nullable("0+"),
        field("transaction_timeout_ms", &InitProducerIdRequest::transaction_timeout_ms, "0+"),
        field("producer_id", &InitProducerIdRequest::producer_id, "3+"),
        field("producer_epoch", &InitProducerIdRequest::producer_epoch, "3+"),
    };
  }
  bool operator==(const InitProducerIdRequest&) const = default;
};

struct InitProducerIdResponse {
  static constexpr int16_t kApiKey = 22;
  static constexpr std::string_view kName = "InitProducerIdResponse";
  static constexpr VersionRange kValidVersions = versions("0-5");
  static constexpr VersionRange kFlexibleVersions = versions("2+");

  int32_t throttle_time_ms = 0;
  int16_t error_code = 0;
  int64_t producer_id = -1;
  int16_t producer_epoch = 0;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &InitProducerIdResponse::throttle_time_ms, "0+"),
        field("error_code", &InitProducerIdResponse::error_code, "0+"),
        field("producer_id", &InitProducerIdResponse::producer_id, "0+"),
        field("producer_epoch", &InitProducerIdResponse::producer_epoch, "0+"),
    };
  }
  bool operator==(const InitProducerIdResponse&) const = default;
};

}  // namespace sluice::kafka
