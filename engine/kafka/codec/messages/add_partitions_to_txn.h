#pragma once
// Kafka AddPartitionsToTxn (api key 24): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct AddPartitionsToTxnRequest {
  static constexpr int16_t kApiKey = 24;
  static constexpr std::string_view kName = "AddPartitionsToTxnRequest";
  static constexpr VersionRange kValidVersions = versions("0-5");
  static constexpr VersionRange kFlexibleVersions = versions("3+");

  struct AddPartitionsToTxnTopic {
    std::string name;
    std::vector<int32_t> partitions;

    static constexpr auto schema() {
      return std::tuple{
          field("name", &AddPartitionsToTxnTopic::name, "0+"),
          field("partitions", &AddPartitionsToTxnTopic::partitions, "0+"),
      };
    }
    bool operator==(const AddPartitionsToTxnTopic&) const = default;
  };

  struct AddPartitionsToTxnTransaction {
    std::string transactional_id;
    int64_t producer_id = 0;
    int16_t producer_epoch = 0;
    bool verify_only = false;
    std::vector<AddPartitionsToTxnTopic> topics;

    static constexpr auto schema() {
      return std::tuple{
          field("transactional_id", &AddPartitionsToTxnTransaction::transactional_id, "4+"),
          field("producer_id", &AddPartitionsToTxnTransaction::producer_id, "4+"),
          field("producer_epoch", &AddPartitionsToTxnTransaction::producer_epoch, "4+"),
          field("verify_only", &AddPartitionsToTxnTransaction::verify_only, "4+"),
          field("topics", &AddPartitionsToTxnTransaction::topics, "4+"),
      };
    }
    bool operator==(const AddPartitionsToTxnTransaction&) const = default;
  };

  std::vector<AddPartitionsToTxnTransaction> transactions;
  std::string v3_and_below_transactional_id;
  int64_t v3_and_below_producer_id = 0;
  int16_t v3_and_below_producer_epoch = 0;
  std::vector<AddPartitionsToTxnTopic> v3_and_below_topics;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("transactions", &AddPartitionsToTxnRequest::transactions, "4+"),
        field("v3_and_below_transactional_id", &AddPartitionsToTxnRequest::v3_and_below_transactional_id, "0-3"),
        field("v3_and_below_producer_id", &AddPartitionsToTxnRequest::v3_and_below_producer_id, "0-3"),
        field("v3_and_below_producer_epoch", &AddPartitionsToTxnRequest::v3_and_below_producer_epoch, "0-3"),
        field("v3_and_below_topics", &AddPartitionsToTxnRequest::v3_and_below_topics, "0-3"),
    };
  }
  bool operator==(const AddPartitionsToTxnRequest&) const = default;
};

struct AddPartitionsToTxnResponse {
  static constexpr int16_t kApiKey = 24;
  static constexpr std::string_view kName = "AddPartitionsToTxnResponse";
  static constexpr VersionRange kValidVersions = versions("0-5");
  static constexpr VersionRange kFlexibleVersions = versions("3+");

  struct AddPartitionsToTxnPartitionResult {
    int32_t partition_index = 0;
    int16_t partition_error_code = 0;

    static constexpr auto schema() {
      return std::tuple{
          field("partition_index", &AddPartitionsToTxnPartitionResult::partition_index, "0+"),
          field("partition_error_code", &AddPartitionsToTxnPartitionResult::partition_error_code, "0+"),
      };
    }
    bool operator==(const AddPartitionsToTxnPartitionResult&) const = default;
  };

  struct AddPartitionsToTxnTopicResult {
    std::string name;
    std::vector<AddPartitionsToTxnPartitionResult> results_by_partition;

    static constexpr auto schema() {
      return std::tuple{
          field("name", &AddPartitionsToTxnTopicResult::name, "0+"),
          field("results_by_partition", &AddPartitionsToTxnTopicResult::results_by_partition, "0+"),
      };
    }
    bool operator==(const AddPartitionsToTxnTopicResult&) const = default;
  };

  struct AddPartitionsToTxnResult {
    std::string transactional_id;
    std::vector<AddPartitionsToTxnTopicResult> topic_results;

    static constexpr auto schema() {
      return std::tuple{
          field("transactional_id", &AddPartitionsToTxnResult::transactional_id, "4+"),
          field("topic_results", &AddPartitionsToTxnResult::topic_results, "4+"),
      };
    }
    bool operator==(const AddPartitionsToTxnResult&) const = default;
  };

  int32_t throttle_time_ms = 0;
  int16_t error_code = 0;
  std::vector<AddPartitionsToTxnResult> results_by_transaction;
  std::vector<AddPartitionsToTxnTopicResult> results_by_topic_v3_and_below;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &AddPartitionsToTxnResponse::throttle_time_ms, "0+"),
        field("error_code", &AddPartitionsToTxnResponse::error_code, "4+"),
        field("results_by_transaction", &AddPartitionsToTxnResponse::results_by_transaction, "4+"),
        field("results_by_topic_v3_and_below", &AddPartitionsToTxnResponse::results_by_topic_v3_and_below, "0-3"),
    };
  }
  bool operator==(const AddPartitionsToTxnResponse&) const = default;
};

}  // namespace sluice::kafka
