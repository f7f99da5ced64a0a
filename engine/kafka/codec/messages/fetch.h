#pragma once
// Kafka Fetch (api key 1): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct FetchRequest {
  static constexpr int16_t kApiKey = 1;
  static constexpr std::string_view kName = "FetchRequest";
  static constexpr VersionRange kValidVersions = versions("0-17");
  static constexpr VersionRange kFlexibleVersions = versions("12+");

  struct ReplicaState {
    int32_t replica_id = -1;
    int64_t replica_epoch = -1;

    static constexpr auto schema() {
      return std::tuple{
          field("replica_id", &ReplicaState::replica_id, "15+"),
          field("replica_epoch", &ReplicaState::replica_epoch, "15+"),
      };
    }
    bool operator==(const ReplicaState&) const = default;
  };

  struct FetchTopic {
    struct FetchPartition {
      int32_t partition = 0;
      int32_t current_leader_epoch = -1;
      int64_t fetch_offset = 0;
      int32_t last_fetched_epoch = -1;
      int64_t log_start_offset = -1;
      int32_t partition_max_bytes = 0;
      Uuid replica_directory_id;

      static constexpr auto schema() {
        return std::tuple{
            field("partition", &FetchPartition::partition, "0+"),
            field("current_leader_epoch", &FetchPartition::current_leader_epoch, "9+"),
            field("fetch_offset", &FetchPartition::fetch_offset, "0+"),
            field("last_fetched_epoch", &FetchPartition::last_fetched_epoch, "12+"),
            field("log_start_offset", &FetchPartition::log_start_offset, "5+"),
            field("partition_max_bytes", &FetchPartition::partition_max_bytes, "0+"),
            field("replica_directory_id", &FetchPartition::replica_directory_id, "17+").tagged(0, "17+"),
        };
      }
      bool operator==(const FetchPartition&) const = default;
    };

    std::string topic;
    Uuid topic_id;
    std::vector<FetchPartition> partitions;

    static constexpr auto schema() {
      return std::tuple{
          field("topic", &FetchTopic::topic, "0-12"),
          field("topic_id", &FetchTopic::topic_id, "13+"),
          field("partitions", &FetchTopic::partitions, "0+"),
      };
    }
    bool operator==(const FetchTopic&) const = default;
  };

  struct ForgottenTopic {
    std::string topic;
    Uuid topic_id;
    std::vector<int32_t> partitions;

    static constexpr auto schema() {
      return std::tuple{
          field("topic", &ForgottenTopic::topic, "7-12"),
          field("topic_id", &ForgottenTopic::topic_id, "13+"),
          field("partitions", &ForgottenTopic::partitions, "7+"),
      };
    }
    bool operator==(const ForgottenTopic&) const = default;
  };

  std::optional<std::string> cluster_id = std::nullopt;
  int32_t replica_id = -1;
  ReplicaState replica_state;
  int32_t max_wait_ms = 0;
  int32_t min_bytes = 0;
  int32_t max_bytes = 0x7fffffff;
  int8_t isolation_level = 0;
  int32_t session_id = 0;
  int32_t session_epoch = -1;
  std::vector<FetchTopic> topics;
  std::vector<ForgottenTopic> forgotten_topics_data;
  std::string rack_id;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("cluster_id", &FetchRequest::cluster_id, "12+").nullable("12+").tagged(0, "12+"),
        field("replica_id", &FetchRequest::replica_id, "0-14"),
        field("replica_state", &FetchRequest::replica_state, "15+").tagged(1, "15+"),
        field("max_wait_ms", &FetchRequest::max_wait_ms, "0+"),
        field("min_bytes", &FetchRequest::min_bytes, "0+"),
        field("max_bytes", &FetchRequest::max_bytes, "3+"),
        field("isolation_level", &FetchRequest::isolation_level, "4+"),
        field("session_id", &FetchRequest::session_id, "7+"),
        field("session_epoch", &FetchRequest::session_epoch, "7+"),
        field("topics", &FetchRequest::topics, "0+"),
        field("forgotten_topics_data", &FetchRequest::forgotten_topics_data, "7+"),
        field("rack_id", &FetchRequest::rack_id, "11+"),
    };
  }
  bool operator==(const FetchRequest&) const = default;
};

struct FetchResponse {
  static constexpr int16_t kApiKey = 1;
  static constexpr std::string_view kName = "FetchResponse";
  static constexpr VersionRange kValidVersions = versions("0-17");
  static constexpr VersionRange kFlexibleVersions = versions("12+");

  struct FetchableTopicResponse {
    struct PartitionData {
      struct EpochEndOffset {
        int32_t epoch = -1;
        int64_t end_offset = -1;

        static constexpr auto schema() {
          return std::tuple{
              field("epoch", &EpochEndOffset::epoch, "12+"),
              field("end_offset", &EpochEndOffset::end_offset, "12+"),
          };
        }
        bool operator==(const EpochEndOffset&) const = default;
      };

      struct LeaderIdAndEpoch {
        int32_t leader_id = -1;
        int32_t leader_epoch = -1;

        static constexpr auto schema() {
          return std::tuple{
              field("leader_id", &LeaderIdAndEpoch::leader_id, "12+"),
              field("leader_epoch", &LeaderIdAndEpoch::leader_epoch, "12+"),
          };
        }
        bool operator==(const LeaderIdAndEpoch&) const = default;
      };

      struct SnapshotId {
        int64_t end_offset = -1;
        int32_t epoch = -1;

        static constexpr auto schema() {
          return std::tuple{
              field("end_offset", &SnapshotId::end_offset, "0+"),
              field("epoch", &SnapshotId::epoch, "0+"),
          };
        }
        bool operator==(const SnapshotId&) const = default;
      };

      struct AbortedTransaction {
        int64_t producer_id = 0;
        int64_t first_offset = 0;

        static constexpr auto schema() {
          return std::tuple{
              field("producer_id", &AbortedTransaction::producer_id, "4+"),
              field("first_offset", &AbortedTransaction::first_offset, "4+"),
          };
        }
        bool operator==(const AbortedTransaction&) const = default;
      };

      int32_t partition_index = 0;
      int16_t error_code = 0;
      int64_t high_watermark = 0;
      int64_t last_stable_offset = -1;
      int64_t log_start_offset = -1;
      EpochEndOffset diverging_epoch;
      LeaderIdAndEpoch current_leader;
      SnapshotId snapshot_id;
      std::optional<std::vector<AbortedTransaction>> aborted_transactions = std::vector<AbortedTransaction>{};
      int32_t preferred_read_replica = -1;
      Records records;

      static constexpr auto schema() {
        return std::tuple{
            field("partition_index", &PartitionData::partition_index, "0+"),
            field("error_code", &PartitionData::error_code, "0+"),
            field("high_watermark", &PartitionData::high_watermark, "0+"),
            field("last_stable_offset", &PartitionData::last_stable_offset, "4+"),
            field("log_start_offset", &PartitionData::log_start_offset, "5+"),
            field("diverging_epoch", &PartitionData::diverging_epoch, "12+").tagged(0, "12+"),
            field("current_leader", &PartitionData::current_leader, "12+").tagged(1, "12+"),
            field("snapshot_id", &PartitionData::snapshot_id, "12+").tagged(2, "12+"),
            field("aborted_transactions", &PartitionData::aborted_transactions, "4+").nullable("4+"),
            field("preferred_read_replica", &PartitionData::preferred_read_replica, "11+"),
            field("records", &PartitionData::records, "0+").nullable("0+"),
        };
      }
      bool operator==(const PartitionData&) const = default;
    };

    std::string topic;
    Uuid topic_id;
    std::vector<PartitionData> partitions;

    static constexpr auto schema() {
      return std::tuple{
          field("topic", &FetchableTopicResponse::topic, "0-12"),
          field("topic_id", &FetchableTopicResponse::topic_id, "13+"),
          field("partitions", &FetchableTopicResponse::partitions, "0+"),
      };
    }
    bool operator==(const FetchableTopicResponse&) const = default;
  };

  struct NodeEndpoint {
    int32_t node_id = 0;
    std::string host;
    int32_t port = 0;
    std::optional<std::string> rack = std::nullopt;

    static constexpr auto schema() {
      return std::tuple{
          field("node_id", &NodeEndpoint::node_id, "16+"),
          field("host", &NodeEndpoint::host, "16+"),
          field("port", &NodeEndpoint::port, "16+"),
          field("rack", &NodeEndpoint::rack, "16+").nullable("16+"),
      };
    }
    bool operator==(const NodeEndpoint&) const = default;
  };

  int32_t throttle_time_ms = 0;
  int16_t error_code = 0;
  int32_t session_id = 0;
  std::vector<FetchableTopicResponse> responses;
  std::vector<NodeEndpoint> node_endpoints;
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &FetchResponse::throttle_time_ms, "1+"),
        field("error_code", &FetchResponse::error_code, "7+"),
        field("session_id", &FetchResponse::session_id, "7+"),
        field("responses", &FetchResponse::responses, "0+"),
        field("node_endpoints", &FetchResponse::node_endpoints, "16+").tagged(0, "16+"),
    };
  }
  bool operator==(const FetchResponse&) const = default;
};

}  // namespace sluice::kafka
