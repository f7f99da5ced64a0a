#pragma once
// The Kafka edge's per-shard counters for the metrics endpoint: requests and their latency per
// served API, connections, and connections the broker closed for bad input. Plain per-shard
// numbers (no atomics): each shard touches only its own; a scrape collects them by message.
#include <array>
#include <cstdint>
#include <iterator>

#include "engine/kafka/server/api_table.h"
#include "engine/metrics/exposition.h"
#include "engine/metrics/histogram.h"

namespace sluice::kafka {

struct KafkaShardMetrics {
  static constexpr std::size_t kApis = std::size(kServedApis);
  std::array<uint64_t, kApis> requests{};
  std::array<metrics::LatencyHistogram, kApis> latency_ns{};
  uint64_t connections_accepted = 0;
  uint64_t connections_open = 0;
  uint64_t protocol_closes = 0;  // closed for a request the broker cannot or will not parse
};

// The calling shard's counters.
KafkaShardMetrics& kafka_metrics();
// Appends the calling shard's Kafka samples, labelled with its shard id.
void collect_kafka_metrics(metrics::Samples& out, unsigned shard);

}  // namespace sluice::kafka
