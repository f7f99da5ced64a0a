#pragma once
// Kafka Produce (api key 0): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct ProduceRequest {
  static constexpr int16_t kApiKey = 0;
  static constexpr std::string_view kName = "ProduceRequest";
  static constexpr VersionRange kValidVersions = versions("0-11");
  static constexpr VersionRange kFlexibleVersions = versions("9+");

  struct TopicProduceData {
    struct PartitionProduceData {
      int32_t index = 0;
      Records records;

      static constexpr auto schema() {
        return std::tuple{
            field("index", &PartitionProduceData::index, "0+"),
            field("records", &PartitionProduceData::records, "0+").nullable("0+"),
        };
      }
      bool operator==(const PartitionProduceData&) const = default;
    };

    std::string name;
    std::vector<PartitionProduceData> partition_data;

    static constexpr auto schema() {
      return std::tuple{
          field("name", &TopicProduceData::name, "0+"),
          field("partition_data", &TopicProduceData::partition_data, "0+"),
      };
    }
    bool operator==(const TopicProduceData&) const = default;
  };

  std::optional<std::string> transactional_id = std::nullopt;
  int16_t acks = 0;
  int32_t timeout_ms = 0;
  std::vector<TopicProduceData> topic_data;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("transactional_id", &ProduceRequest::transactional_id, "3+").nullable("3+"),
        field("acks", &ProduceRequest::acks, "0+"),
        field("timeout_ms", &ProduceRequest::timeout_ms, "0+"),
        field("topic_data", &ProduceRequest::topic_data, "0+"),
    };
  }
  bool operator==(const ProduceRequest&) const = default;
};

struct ProduceResponse {
  static constexpr int16_t kApiKey = 0;
  static constexpr std::string_view kName = "ProduceResponse";
  static constexpr VersionRange kValidVersions = versions("0-11");
  static constexpr VersionRange kFlexibleVersions = versions("9+");

  struct TopicProduceResponse {
    struct PartitionProduceResponse {
      struct BatchIndexAndErrorMessage {
        int32_t batch_index = 0;
        std::optional<std::string> batch_index_error_message = std::nullopt;

        static constexpr auto schema() {
          return std::tuple{
              field("batch_index", &BatchIndexAndErrorMessage::batch_index, "8+"),
              field("batch_index_error_message", &BatchIndexAndErrorMessage::batch_index_error_message, "8+")
                  .nullable("8+"),
          };
        }
        bool operator==(const BatchIndexAndErrorMessage&) const = default;
      };

      struct LeaderIdAndEpoch {
        int32_t leader_id = -1;
        int32_t leader_epoch = -1;

        static constexpr auto schema() {
          return std::tuple{
              field("leader_id", &LeaderIdAndEpoch::leader_id, "10+"),
              field("leader_epoch", &LeaderIdAndEpoch::leader_epoch, "10+"),
          };
        }
        bool operator==(const LeaderIdAndEpoch&) const = default;
      };

      int32_t index = 0;
      int16_t error_code = 0;
      int64_t base_offset = 0;
      int64_t log_append_time_ms = -1;
      int64_t log_start_offset = -1;
      std::vector<BatchIndexAndErrorMessage> record_errors;
      std::optional<std::string> error_message = std::nullopt;
      LeaderIdAndEpoch current_leader;

      static constexpr auto schema() {
        return std::tuple{
            field("index", &PartitionProduceResponse::index, "0+"),
            field("error_code", &PartitionProduceResponse::error_code, "0+"),
            field("base_offset", &PartitionProduceResponse::base_offset, "0+"),
            field("log_append_time_ms", &PartitionProduceResponse::log_append_time_ms, "2+"),
            field("log_start_offset", &PartitionProduceResponse::log_start_offset, "5+"),
            field("record_errors", &PartitionProduceResponse::record_errors, "8+"),
            field("error_message", &PartitionProduceResponse::error_message, "8+").nullable("8+"),
            field("current_leader", &PartitionProduceResponse::current_leader, "10+").tagged(0, "10+"),
        };
      }
      bool operator==(const PartitionProduceResponse&) const = default;
    };

    std::string name;
    std::vector<PartitionProduceResponse> partition_responses;

    static constexpr auto schema() {
      return std::tuple{
          field("name", &TopicProduceResponse::name, "0+"),
          field("partition_responses", &TopicProduceResponse::partition_responses, "0+"),
      };
    }
    bool operator==(const TopicProduceResponse&) const = default;
  };

  struct NodeEndpoint {
    int32_t node_id = 0;
    std::string host;
    int32_t port = 0;
    std::optional<std::string> rack = std::nullopt;

    static constexpr auto schema() {
      return std::tuple{
          field("node_id", &NodeEndpoint::node_id, "10+"),
          field("host", &NodeEndpoint::host, "10+"),
          field("port", &NodeEndpoint::port, "10+"),
          field("rack", &NodeEndpoint::rack, "10+").nullable("10+"),
      };
    }
    bool operator==(const NodeEndpoint&) const = default;
  };

  std::vector<TopicProduceResponse> responses;
  int32_t throttle_time_ms = 0;
  std::vector<NodeEndpoint> node_endpoints;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("responses", &ProduceResponse::responses, "0+"),
        field("throttle_time_ms", &ProduceResponse::throttle_time_ms, "1+"),
        field("node_endpoints", &ProduceResponse::node_endpoints, "10+").tagged(0, "10+"),
    };
  }
  bool operator==(const ProduceResponse&) const = default;
};

}  // namespace sluice::kafka
