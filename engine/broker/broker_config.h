#pragma once
// Broker configuration. Every setting has a server.properties-style key so it can come from a
// config file (`--config FILE`, Kafka's key=value format) or a flag; flags win over the file.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "alloc/result.h"
#include "engine/broker/topic_config.h"

namespace sluice::broker {

struct BrokerConfig {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 9092;
  std::string advertised_host;   // empty: the listen host
  uint16_t advertised_port = 0;  // 0: the bound listen port
  std::string data_dir = "./data";
  unsigned smp = 0;      // 0: every core the process may use
  uint32_t poll_us = 0;  // busy-poll before sleeping; 0 = off
  // A loop pass keeping a shard longer than this is a reactor stall: counted, logged once per
  // 10 s, with the task and its backtrace when the watchdog catches it in the act
  // (sluice.stall.threshold.ms, sluice.stall.backtraces).
  uint32_t stall_threshold_ms = 5;
  bool stall_backtraces = true;
  int32_t node_id = 1;  // broker id in Metadata (also the controller id)
  // sluice.kafka.shard.listeners: each shard is a Kafka broker of its own (its own listener, node
  // id node_id + shard, leader of the partitions it owns, coordinator of the groups and
  // transactional ids it hosts), so clients that follow Metadata never make a shard hop. The
  // bootstrap listener (listen_host:listen_port, every shard) stays. false: one broker, one port.
  bool shard_listeners = true;
  // sluice.kafka.shard.ports: where shard s listens. Empty ("auto"): bootstrap port + 1 + s, or
  // ephemeral when the bootstrap port is 0; one port B: B + s (0: every shard ephemeral); a list:
  // one port per shard (0 = ephemeral), as many as there are shards.
  std::vector<uint16_t> shard_ports;
  bool auto_create_topics = true;              // auto.create.topics.enable
  int32_t default_partitions = 1;              // num.partitions
  int32_t max_request_bytes = 104857600;       // socket.request.max.bytes
  uint32_t max_connections_per_shard = 10000;  // max.connections.per.shard
  int32_t max_inflight_requests_per_connection = 128;
  int64_t connection_budget_bytes = 256 << 20;  // request bytes buffered per connection
  // Per shard: request frames being received or handled (queued.max.request.bytes; frames up to
  // 64 KiB are not counted, so small requests are never held up by large ones).
  int64_t queued_max_request_bytes_per_shard = 128 << 20;
  // Per shard: fetch response bytes read and not yet handed to the kernel
  // (sluice.fetch.max.memory.bytes); fetches beyond it shrink, then wait, then answer empty.
  int64_t fetch_max_memory_bytes_per_shard = 64 << 20;
  // Fetch sessions (KIP-227) each shard keeps (max.incremental.fetch.session.cache.slots, 0 = no
  // sessions: every fetch is a full one) and partitions cached in them all
  // (sluice.fetch.session.cache.partitions).
  int64_t fetch_session_cache_slots_per_shard = 1000;
  int64_t fetch_session_cache_partitions_per_shard = 200000;
  // A connection whose response send makes no progress this long is closed
  // (sluice.connection.send.timeout.ms): a peer that stops reading must not pin memory forever.
  int64_t connection_send_timeout_ms = 30000;
  // Sealed segments whose .log stays open for readers, per shard (least recently read closed
  // first; active segments always stay open): sluice.max.open.sealed.segments.per.shard.
  int64_t max_open_sealed_segments_per_shard = 64;
  // Partitions of user topics the broker may hold in all (sluice.max.partitions): each costs fds, memory and
  // start-up time, so CreateTopics / CreatePartitions / auto-creation past it are refused.
  int32_t max_partitions = 100000;
  // Durable path (engine/log README): written window kept ahead of each active segment's tail
  // (sluice.log.prezero.ahead.bytes, 0 = off), RWF_DSYNC data writes inside it instead of
  // write + fdatasync (sluice.log.durable.write.dsync), and for appended visibility the
  // acks=0/1 background sync grouped by time and bytes (sluice.log.background.sync.interval.ms,
  // 0 = after every append, and sluice.log.background.sync.bytes).
  int64_t log_prezero_ahead_bytes = 2 << 20;
  bool log_durable_write_dsync = false;
  int64_t log_background_sync_interval_ms = 10;
  int64_t log_background_sync_bytes = 1 << 20;
  // Log cleaner (compaction): the key map's memory per run (log.cleaner.dedupe.buffer.size; runs
  // are one at a time per shard, so this is per shard) and the bytes a run reads between two
  // returns to the shard's loop (sluice.log.cleaner.slice.bytes).
  int64_t log_cleaner_map_bytes = 8 << 20;
  int64_t log_cleaner_slice_bytes = 64 << 10;
  int32_t group_min_session_timeout_ms = 6000;
  int32_t group_max_session_timeout_ms = 1800000;
  int32_t group_initial_rebalance_delay_ms = 0;
  int64_t offsets_retention_minutes = 10080;
  int64_t producer_id_expiration_ms = 86400000;
  uint64_t group_compaction_min_records = 20000;       // sluice.group.compaction.min.records
  int32_t transaction_max_timeout_ms = 900000;         // transaction.max.timeout.ms
  int64_t transactional_id_expiration_ms = 604800000;  // transactional.id.expiration.ms
  // transaction.abort.timed.out.transaction.cleanup.interval.ms
  int64_t transaction_abort_check_interval_ms = 10000;
  int64_t retention_check_interval_ms = 300000;  // log.retention.check.interval.ms
  std::string ready_file;                        // written with the bound port once listening (tests)
  // The Prometheus endpoint (sluice.metrics.listen = HOST:PORT or off). Off unless set: sluiced
  // turns it on at 127.0.0.1:9644 by default; in-process brokers (tests) stay without it.
  bool metrics_enabled = false;
  std::string metrics_host = "127.0.0.1";
  uint16_t metrics_port = 9644;
  // The AMQP 0-9-1 listener (sluice.amqp.listen = HOST:PORT or off). Off unless set: sluiced turns
  // it on at 127.0.0.1:5672 by default; in-process brokers (tests) stay without it.
  bool amqp_enabled = false;
  std::string amqp_host = "127.0.0.1";
  uint16_t amqp_port = 5672;
  TopicDefaults topic_defaults;
};

// Applies one key=value setting. Unknown keys and bad values are errors (a typo must not pass).
Result<void> apply_broker_property(BrokerConfig& cfg, std::string_view key, std::string_view value,
                                   std::string* error_text);
// Reads a server.properties-style file: key=value lines, '#' or '!' comments, blank lines.
Result<void> load_properties_file(BrokerConfig& cfg, const std::string& path, std::string* error_text);
// The port shard `shard` of `shard_count` listens on for its own broker (0 = ephemeral), given the
// bootstrap listener's configured port; an error (text in *error_text) when the configured ports do
// not fit the shard count or overflow.
Result<uint16_t> shard_listen_port(const BrokerConfig& cfg, unsigned shard, unsigned shard_count,
                                   std::string* error_text);
// "host:port" -> parts; the host may be empty (all interfaces) or a bracketed IPv6 address.
bool parse_host_port(std::string_view s, std::string& host, uint16_t& port);

}  // namespace sluice::broker
