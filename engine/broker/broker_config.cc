#include "engine/broker/broker_config.h"

#include <charconv>
#include <cstdint>
#include <fstream>

namespace sluice::broker {
namespace {

template <typename T>
bool parse_int(std::string_view v, T& out) {
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  return ec == std::errc() && p == v.data() + v.size();
}

bool parse_bool(std::string_view v, bool& out) {
  if (v == "true") {
    out = true;
    return true;
  }
  if (v == "false") {
    out = false;
    return true;
  }
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// "auto" (empty list) or comma-separated ports.
bool parse_port_list(std::string_view v, std::vector<uint16_t>& out) {
  std::vector<uint16_t> ports;
  if (v != "auto") {
    while (true) {
      const size_t comma = v.find(',');
      uint16_t port = 0;
      if (!parse_int(trim(v.substr(0, comma)), port)) return false;
      ports.push_back(port);
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  out = std::move(ports);
  return true;
}

}  // namespace

Result<uint16_t> shard_listen_port(const BrokerConfig& cfg, unsigned shard, unsigned shard_count,
                                   std::string* error_text) {
  auto fail = [&](std::string what) -> Result<uint16_t> {
    if (error_text) *error_text = std::move(what);
    return make_error(EINVAL, "invalid sluice.kafka.shard.ports");
  };
  if (shard >= shard_count) return fail("shard out of range");
  if (static_cast<int64_t>(cfg.node_id) + shard_count - 1 > INT32_MAX)
    return fail("node.id + shard count exceeds the largest node id");
  if (cfg.shard_ports.size() > 1) {
    if (cfg.shard_ports.size() != shard_count)
      return fail("sluice.kafka.shard.ports lists " + std::to_string(cfg.shard_ports.size()) + " ports for " +
                  std::to_string(shard_count) + " shards");
    return cfg.shard_ports[shard];
  }
  uint32_t base = 0;
  if (cfg.shard_ports.size() == 1) {
    if (cfg.shard_ports[0] == 0) return uint16_t{0};
    base = cfg.shard_ports[0];
  } else {
    if (cfg.listen_port == 0) return uint16_t{0};  // an ephemeral bootstrap port: ephemeral shard ports
    base = static_cast<uint32_t>(cfg.listen_port) + 1;
  }
  if (base + shard > 65535)
    return fail("shard " + std::to_string(shard) + " would listen on port " + std::to_string(base + shard) +
                " (over 65535); set sluice.kafka.shard.ports");
  return static_cast<uint16_t>(base + shard);
}

bool parse_host_port(std::string_view s, std::string& host, uint16_t& port) {
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view h = s.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (!parse_int(s.substr(colon + 1), port)) return false;
  host = std::string(h);
  return true;
}

Result<void> apply_broker_property(BrokerConfig& c, std::string_view key, std::string_view value, std::string* err) {
  auto bad = [&](const char* what) -> Result<void> {
    if (err) *err = std::string(what) + ": " + std::string(key) + "=" + std::string(value);
    return make_error(EINVAL, "invalid broker property");
  };
  bool ok = true;
  if (key == "listeners" || key == "listen") {
    std::string_view v = value;
    if (auto p = v.find("://"); p != std::string_view::npos) v = v.substr(p + 3);  // PLAINTEXT://host:port
    ok = parse_host_port(v, c.listen_host, c.listen_port);
  } else if (key == "sluice.metrics.listen") {
    // HOST:PORT of the Prometheus endpoint (port 0 = ephemeral), or "off".
    c.metrics_enabled = value != "off";
    if (c.metrics_enabled) ok = parse_host_port(value, c.metrics_host, c.metrics_port);
  } else if (key == "sluice.amqp.listen") {
    // HOST:PORT of the AMQP 0-9-1 listener (port 0 = ephemeral), or "off".
    c.amqp_enabled = value != "off";
    if (c.amqp_enabled) ok = parse_host_port(value, c.amqp_host, c.amqp_port);
  } else if (key == "advertised.listeners" || key == "advertised.address") {
    std::string_view v = value;
    if (auto p = v.find("://"); p != std::string_view::npos) v = v.substr(p + 3);
    ok = parse_host_port(v, c.advertised_host, c.advertised_port);
    if (!ok) {
      c.advertised_host = std::string(v);
      c.advertised_port = 0;
      ok = !v.empty();
    }
  } else if (key == "log.dirs" || key == "log.dir" || key == "data.dir") {
    c.data_dir = std::string(value);
    ok = !value.empty();
  } else if (key == "smp") {
    ok = parse_int(value, c.smp) && c.smp <= 1024;
  } else if (key == "sluice.stall.threshold.ms") {
    ok = parse_int(value, c.stall_threshold_ms) && c.stall_threshold_ms >= 1 && c.stall_threshold_ms <= 60000;
  } else if (key == "sluice.stall.backtraces") {
    ok = parse_bool(value, c.stall_backtraces);
  } else if (key == "poll.us") {
    ok = parse_int(value, c.poll_us) && c.poll_us <= 1000000;
  } else if (key == "node.id" || key == "broker.id") {
    ok = parse_int(value, c.node_id) && c.node_id >= 0;
  } else if (key == "sluice.kafka.shard.listeners") {
    ok = parse_bool(value, c.shard_listeners);
  } else if (key == "sluice.kafka.shard.ports") {
    ok = parse_port_list(value, c.shard_ports);
  } else if (key == "auto.create.topics.enable") {
    ok = parse_bool(value, c.auto_create_topics);
  } else if (key == "num.partitions") {
    ok = parse_int(value, c.default_partitions) && c.default_partitions >= 1 && c.default_partitions <= 10000;
  } else if (key == "socket.request.max.bytes") {
    ok = parse_int(value, c.max_request_bytes) && c.max_request_bytes >= 1024;
  } else if (key == "queued.max.request.bytes") {
    ok = parse_int(value, c.queued_max_request_bytes_per_shard) && c.queued_max_request_bytes_per_shard >= 65536;
  } else if (key == "sluice.fetch.max.memory.bytes") {
    ok = parse_int(value, c.fetch_max_memory_bytes_per_shard) && c.fetch_max_memory_bytes_per_shard >= 65536;
  } else if (key == "max.incremental.fetch.session.cache.slots") {
    ok = parse_int(value, c.fetch_session_cache_slots_per_shard) && c.fetch_session_cache_slots_per_shard >= 0 &&
         c.fetch_session_cache_slots_per_shard <= 1000000;
  } else if (key == "sluice.fetch.session.cache.partitions") {
    ok = parse_int(value, c.fetch_session_cache_partitions_per_shard) &&
         c.fetch_session_cache_partitions_per_shard >= 1 && c.fetch_session_cache_partitions_per_shard <= 100000000;
  } else if (key == "sluice.connection.send.timeout.ms") {
    ok = parse_int(value, c.connection_send_timeout_ms) && c.connection_send_timeout_ms >= 100;
  } else if (key == "sluice.max.open.sealed.segments.per.shard") {
    ok = parse_int(value, c.max_open_sealed_segments_per_shard) && c.max_open_sealed_segments_per_shard >= 1 &&
         c.max_open_sealed_segments_per_shard <= 1000000;
  } else if (key == "sluice.max.partitions") {
    ok = parse_int(value, c.max_partitions) && c.max_partitions >= 1;
  } else if (key == "sluice.log.prezero.ahead.bytes") {
    ok = parse_int(value, c.log_prezero_ahead_bytes) &&
         (c.log_prezero_ahead_bytes == 0 ||
          (c.log_prezero_ahead_bytes >= (256 << 10) && c.log_prezero_ahead_bytes <= (1 << 30)));
  } else if (key == "log.cleaner.dedupe.buffer.size") {
    ok = parse_int(value, c.log_cleaner_map_bytes) && c.log_cleaner_map_bytes >= 4096 &&
         c.log_cleaner_map_bytes <= (int64_t{1} << 32);
  } else if (key == "sluice.log.cleaner.slice.bytes") {
    ok = parse_int(value, c.log_cleaner_slice_bytes) && c.log_cleaner_slice_bytes >= 1 &&
         c.log_cleaner_slice_bytes <= (64 << 20);
  } else if (key == "sluice.log.durable.write.dsync") {
    ok = parse_bool(value, c.log_durable_write_dsync);
  } else if (key == "sluice.log.background.sync.interval.ms") {
    ok = parse_int(value, c.log_background_sync_interval_ms) && c.log_background_sync_interval_ms >= 0 &&
         c.log_background_sync_interval_ms <= 3600000;
  } else if (key == "sluice.log.background.sync.bytes") {
    ok = parse_int(value, c.log_background_sync_bytes) && c.log_background_sync_bytes >= 1;
  } else if (key == "max.connections.per.shard") {
    ok = parse_int(value, c.max_connections_per_shard) && c.max_connections_per_shard >= 1;
  } else if (key == "group.min.session.timeout.ms") {
    ok = parse_int(value, c.group_min_session_timeout_ms) && c.group_min_session_timeout_ms >= 0;
  } else if (key == "group.max.session.timeout.ms") {
    ok = parse_int(value, c.group_max_session_timeout_ms) && c.group_max_session_timeout_ms >= 1;
  } else if (key == "group.initial.rebalance.delay.ms") {
    ok = parse_int(value, c.group_initial_rebalance_delay_ms) && c.group_initial_rebalance_delay_ms >= 0;
  } else if (key == "offsets.retention.minutes") {
    ok = parse_int(value, c.offsets_retention_minutes) && c.offsets_retention_minutes >= 1;
  } else if (key == "producer.id.expiration.ms") {
    ok = parse_int(value, c.producer_id_expiration_ms) && c.producer_id_expiration_ms >= 1;
  } else if (key == "sluice.group.compaction.min.records") {
    ok = parse_int(value, c.group_compaction_min_records) && c.group_compaction_min_records >= 1;
  } else if (key == "transaction.max.timeout.ms") {
    ok = parse_int(value, c.transaction_max_timeout_ms) && c.transaction_max_timeout_ms >= 1;
  } else if (key == "transactional.id.expiration.ms") {
    ok = parse_int(value, c.transactional_id_expiration_ms) && c.transactional_id_expiration_ms >= 1;
  } else if (key == "transaction.abort.timed.out.transaction.cleanup.interval.ms") {
    ok = parse_int(value, c.transaction_abort_check_interval_ms) && c.transaction_abort_check_interval_ms >= 1;
  } else if (key == "log.retention.check.interval.ms") {
    ok = parse_int(value, c.retention_check_interval_ms) && c.retention_check_interval_ms >= 1;
  } else if (key == "log.retention.hours" || key == "log.retention.minutes") {
    int64_t n = 0;
    ok = parse_int(value, n) && n >= -1;
    if (ok) {
      int64_t ms = n < 0 ? -1 : n * (key == "log.retention.hours" ? 3600000 : 60000);
      ok = !c.topic_defaults.set("retention.ms", std::to_string(ms)).has_value();
    }
  } else {
    auto e = c.topic_defaults.set(key, value);
    if (e) {
      if (err) *err = *e;
      return make_error(EINVAL, "invalid broker property");
    }
  }
  if (!ok) return bad("invalid value");
  return {};
}

Result<void> load_properties_file(BrokerConfig& c, const std::string& path, std::string* err) {
  std::ifstream in(path);
  if (!in) {
    if (err) *err = "cannot read config file " + path;
    return make_error(ENOENT, "config file");
  }
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    lineno++;
    std::string_view l = trim(line);
    if (l.empty() || l.front() == '#' || l.front() == '!') continue;
    size_t eq = l.find('=');
    if (eq == std::string_view::npos) {
      if (err) *err = path + ":" + std::to_string(lineno) + ": expected key=value";
      return make_error(EINVAL, "config file");
    }
    std::string e;
    if (auto r = apply_broker_property(c, trim(l.substr(0, eq)), trim(l.substr(eq + 1)), &e); !r) {
      if (err) {
        *err = path;
        err->append(":").append(std::to_string(lineno)).append(": ").append(e);
      }
      return r;
    }
  }
  return {};
}

}  // namespace sluice::broker
