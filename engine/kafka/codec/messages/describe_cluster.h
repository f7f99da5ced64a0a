#pragma once
// Kafka DescribeCluster (api key 60): request and response definitions for the generic codec.
// Field order, types and version ranges follow the Kafka protocol specification.
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

struct DescribeClusterRequest {
  static constexpr int16_t kApiKey = 60;
  static constexpr std::string_view kName = "DescribeClusterRequest";
  static constexpr VersionRange kValidVersions = versions("0-1");
  static constexpr VersionRange kFlexibleVersions = versions("0+");

  bool include_cluster_authorized_operations = false;
  int8_t endpoint_type = 1;  // 1 = brokers, 2 = controllers (KIP-919)
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("include_cluster_authorized_operations", &DescribeClusterRequest::include_cluster_authorized_operations,
              "0+"),
        field("endpoint_type", &DescribeClusterRequest::endpoint_type, "1+"),
    };
  }
  bool operator==(const DescribeClusterRequest&) const = default;
};

struct DescribeClusterResponse {
  static constexpr int16_t kApiKey = 60;
  static constexpr std::string_view kName = "DescribeClusterResponse";
  static constexpr VersionRange kValidVersions = versions("0-1");
  static constexpr VersionRange kFlexibleVersions = versions("0+");

  struct DescribeClusterBroker {
    int32_t broker_id = 0;
    std::string host;
    int32_t port = 0;
    std::optional<std::string> rack = std::nullopt;

    static constexpr auto schema() {
      return std::tuple{
          field("broker_id", &DescribeClusterBroker::broker_id, "0+"),
          field("host", &DescribeClusterBroker::host, "0+"),
          field("port", &DescribeClusterBroker::port, "0+"),
          field("rack", &DescribeClusterBroker::rack, "0+").nullable("0+"),
      };
    }
    bool operator==(const DescribeClusterBroker&) const = default;
  };

  int32_t throttle_time_ms = 0;
  int16_t error_code = 0;
  std::optional<std::string> error_message = std::nullopt;
  int8_t endpoint_type = 1;
  std::string cluster_id;
  int32_t controller_id = -1;
  std::vector<DescribeClusterBroker> brokers;
  int32_t cluster_authorized_operations = std::numeric_limits<int32_t>::min();
  TaggedFields unknown_tagged_fields;

  static constexpr auto schema() {
    return std::tuple{
        field("throttle_time_ms", &DescribeClusterResponse::throttle_time_ms, "0+"),
        field("error_code", &DescribeClusterResponse::error_code, "0+"),
        field("error_message", &DescribeClusterResponse::error_message, "0+").nullable("0+"),
        field("endpoint_type", &DescribeClusterResponse::endpoint_type, "1+"),
        field("cluster_id", &DescribeClusterResponse::cluster_id, "0+"),
        field("controller_id", &DescribeClusterResponse::controller_id, "0+"),
        field("brokers", &DescribeClusterResponse::brokers, "0+"),
        field("cluster_authorized_operations", &DescribeClusterResponse::cluster_authorized_operations, "0+"),
    };
  }
  bool operator==(const DescribeClusterResponse&) const = default;
};

}  // namespace sluice::kafka
