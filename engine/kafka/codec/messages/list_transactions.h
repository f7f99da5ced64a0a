#pragma once
// Kafka ListTransactions (api key 66): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct ListTransactionsRequest {
  static constexpr int16_t kApiKey = 66;
  static constexpr std::string_view kName = "ListTransactionsRequest";
  static constexpr VersionRange kValidVersions = versions("0-1");
  static constexpr VersionRange kFlexibleVersions = versions("0+");

  std::vector<std::string> state_filters;
  std::vector<int64_t> producer_id_filters;
  int64_t duration_filter = -1;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("state_filters", &ListTransactionsRequest::state_filters, "0+"),
        field("producer_id_filters", &ListTransactionsRequest::producer_id_filters, "0+"),
        field("duration_filter", &ListTransactionsRequest::duration_filter, "1+"),
    };
  }
  bool operator==(const ListTransactionsRequest&) const = default;
};

struct ListTransactionsResponse {
  static constexpr int16_t kApiKey = 66;
  static constexpr std::string_view kName = "ListTransactionsResponse";
  static constexpr VersionRange kValidVersions = versions("0-1");
  static constexpr VersionRange kFlexibleVersions = versions("0+");

  struct TransactionState {
    std::string transactional_id;
    int64_t producer_id = 0;
    std::string transaction_state;

    static constexpr auto schema() {
      return std::tuple{
          field("transactional_id", &TransactionState::transactional_id, "0+"),
          field("producer_id", &TransactionState::producer_id, "0+"),
          field("transaction_state", &TransactionState::transaction_state, "0+"),
      };
    }
    bool operator==(const TransactionState&) const = default;
  };

  int32_t throttle_time_ms = 0;
  int16_t error_code = 0;
  std::vector<std::string> unknown_state_filters;
  std::vector<TransactionState> transaction_states;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &ListTransactionsResponse::throttle_time_ms, "0+"),
        field("error_code", &ListTransactionsResponse::error_code, "0+"),
        field("unknown_state_filters", &ListTransactionsResponse::unknown_state_filters, "0+"),
        field("transaction_states", &ListTransactionsResponse::transaction_states, "0+"),
    };
  }
  bool operator==(const ListTransactionsResponse&) const = default;
};

}  // namespace sluice::kafka
