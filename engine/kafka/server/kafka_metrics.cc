#include "engine/kafka/server/kafka_metrics.h"

#include <string>

#include "engine/kafka/codec/error_code.h"
#include "engine/kafka/server/error_counts.h"
#include "engine/kafka/server/fetch_sessions.h"

namespace sluice::kafka {
namespace {

thread_local KafkaShardMetrics t_metrics;
thread_local KafkaErrorCounts t_errors;

constexpr metrics::Family kRequests{"sluice_kafka_requests_total", "Kafka requests handled, by API.",
                                    metrics::Type::counter};
constexpr metrics::Family kLatency{"sluice_kafka_request_latency_seconds",
                                   "Time from a request's dispatch to its response, by API.", metrics::Type::histogram};
constexpr metrics::Family kErrors{"sluice_kafka_errors_total",
                                  "Error codes in the responses sent (each partition's, topic's or member's counts).",
                                  metrics::Type::counter};
constexpr metrics::Family kAccepted{"sluice_kafka_connections_accepted_total", "Kafka connections accepted.",
                                    metrics::Type::counter};
constexpr metrics::Family kOpen{"sluice_kafka_connections", "Kafka connections open.", metrics::Type::gauge};
constexpr metrics::Family kProtocolCloses{
    "sluice_kafka_protocol_closes_total",
    "Connections the broker closed for a request it cannot parse (unknown API or version, malformed frame).",
    metrics::Type::counter};

constexpr metrics::Family kFetchSessions{"sluice_kafka_fetch_sessions", "Fetch sessions (KIP-227) cached on the shard.",
                                         metrics::Type::gauge};
constexpr metrics::Family kFetchSessionPartitions{
    "sluice_kafka_fetch_session_partitions", "Partitions cached in the shard's fetch sessions.", metrics::Type::gauge};
constexpr metrics::Family kFetchSessionEvictions{
    "sluice_kafka_fetch_session_evictions_total",
    "Idle fetch sessions evicted to make room for new ones (max.incremental.fetch.session.cache.slots).",
    metrics::Type::counter};

}  // namespace

KafkaShardMetrics& kafka_metrics() { return t_metrics; }
KafkaErrorCounts& kafka_error_counts() { return t_errors; }

void collect_kafka_metrics(metrics::Samples& out, unsigned shard) {
  const KafkaShardMetrics& m = t_metrics;
  const std::string s = std::to_string(shard);
  for (std::size_t i = 0; i < KafkaShardMetrics::kApis; ++i) {
    if (m.requests[i] == 0) continue;  // an API nobody called is noise in every scrape
    const std::string_view api = kServedApis[i].name;
    out.add(kRequests, {{"api", api}, {"shard", s}}, static_cast<double>(m.requests[i]));
    out.add_histogram(kLatency, {{"api", api}, {"shard", s}}, m.latency_ns[i], metrics::kNanosToSeconds);
  }
  for (std::size_t slot = 0; slot < kErrorSlots; ++slot) {
    if (t_errors.by_slot[slot] == 0) continue;
    const std::string_view name = slot == kErrorSlots - 1
                                      ? std::string_view("OTHER")
                                      : error_name(static_cast<int16_t>(static_cast<int>(slot) - 1));
    out.add(kErrors, {{"code", name}, {"shard", s}}, static_cast<double>(t_errors.by_slot[slot]));
  }
  out.add(kAccepted, {{"shard", s}}, static_cast<double>(m.connections_accepted));
  out.add(kOpen, {{"shard", s}}, static_cast<double>(m.connections_open));
  out.add(kProtocolCloses, {{"shard", s}}, static_cast<double>(m.protocol_closes));
  const FetchSessionCache* sessions = peek_this_shard_fetch_sessions();
  out.add(kFetchSessions, {{"shard", s}}, sessions ? static_cast<double>(sessions->session_count()) : 0.0);
  out.add(kFetchSessionPartitions, {{"shard", s}}, sessions ? static_cast<double>(sessions->partition_count()) : 0.0);
  out.add(kFetchSessionEvictions, {{"shard", s}}, sessions ? static_cast<double>(sessions->evictions()) : 0.0);
}

}  // namespace sluice::kafka
