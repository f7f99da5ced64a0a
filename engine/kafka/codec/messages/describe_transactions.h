#pragma once
// Kafka DescribeTransactions (api key 65): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct DescribeTransactionsRequest {
  static constexpr int16_t kApiKey = 65;
  static constexpr std::string_view kName = "DescribeTransactionsRequest";
  static constexpr VersionRange kValidVersions = versions("0");
  static constexpr VersionRange kFlexibleVersions = versions("0+");

  std::vector<std::string> transactional_ids;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("transactional_ids", &DescribeTransactionsRequest::transactional_ids, "0+"),
    };
  }
  bool operator==(const DescribeTransactionsRequest&) const = default;
};

struct DescribeTransactionsResponse {
  static constexpr int16_t kApiKey = 65;
  static constexpr std::string_view kName = "DescribeTransactionsResponse";
  static constexpr VersionRange kValidVersions = versions("0");
  static constexpr VersionRange kFlexibleVersions = versions("0+");

  struct TopicData {
    std::string topic;
    std::vector<int32_t> partitions;

    static constexpr auto schema() {
      return std::tuple{
          field("topic", &TopicData::topic, "0+"),
          field("partitions", &TopicData::partitions, "0+"),
      };
    }
    bool operator==(const TopicData&) const = default;
  };

  struct TransactionState {
    int16_t error_code = 0;
    std::string transactional_id;
    std::string transaction_state;
    int32_t transaction_timeout_ms = 0;
    int64_t transaction_start_time_ms = 0;
    int64_t producer_id = 0;
    int16_t producer_epoch = 0;
    std::vector<TopicData> topics;

    static constexpr auto schema() {
      return std::tuple{
          field("error_code", &TransactionState::error_code, "0+"),
          field("transactional_id", &TransactionState::transactional_id, "0+"),
          field("transaction_state", &TransactionState::transaction_state, "0+"),
          field("transaction_timeout_ms", &TransactionState::transaction_timeout_ms, "0+"),
          field("transaction_start_time_ms", &TransactionState::transaction_start_time_ms, "0+"),
          field("producer_id", &TransactionState::producer_id, "0+"),
          field("producer_epoch", &TransactionState::producer_epoch, "0+"),
          field("topics", &TransactionState::topics, "0+"),
      };
    }
    bool operator==(const TransactionState&) const = default;
  };

  int32_t throttle_time_ms = 0;
  std::vector<TransactionState> transaction_states;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &DescribeTransactionsResponse::throttle_time_ms, "0+"),
        field("transaction_states", &DescribeTransactionsResponse::transaction_states, "0+"),
    };
  }
  bool operator==(const DescribeTransactionsResponse&) const = default;
};

}  // namespace sluice::kafka
