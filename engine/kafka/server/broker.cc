#include "engine/kafka/server/broker.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "engine/core/admin.h"
#include "engine/core/metrics.h"
#include "engine/core/shard_state.h"
#include "engine/kafka/server/connection.h"
#include "engine/kafka/server/kafka_metrics.h"
#include "engine/log/partition_log.h"
#include "engine/log/uring_file_system.h"
#include "engine/metrics/http_endpoint.h"
#include "io/cross_shard.h"
#include "io/logging.h"
#include "io/runtime.h"
#include "io/tcp.h"

namespace sluice::kafka {
namespace {

constexpr auto kHousekeepingInterval = std::chrono::seconds(1);
constexpr auto kAcceptBackoffMin = std::chrono::milliseconds(10);
constexpr auto kAcceptBackoffMax = std::chrono::milliseconds(1000);
constexpr int64_t kAcceptErrorLogIntervalNs = 10'000'000'000;
bool g_start_failed = false;
// The running broker's runtime, for stop_broker() from other threads. Guarded by a mutex, not
// just atomic: stop() must not run while run_broker() destroys the runtime it just stopped (an
// atexit stop raced the broker's own return: ASan heap-use-after-free in the fuzzer).
std::mutex g_runtime_mutex;
io::Runtime* g_runtime = nullptr;
const BrokerHooks* g_hooks = nullptr;

struct ShardServer {
  std::optional<io::TcpListener> listener;        // the bootstrap address, on every shard (SO_REUSEPORT)
  std::optional<io::TcpListener> shard_listener;  // this shard's own broker (sluice.kafka.shard.listeners)
};
std::vector<ShardServer> g_servers;
std::unique_ptr<metrics::HttpEndpoint> g_metrics_endpoint;  // on shard 0 when enabled

bool out_of_descriptors(int code) { return code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM; }

// via_shard_broker: `listener` is the shard's own broker port (not the bootstrap address).
io::Task<void> accept_loop(unsigned shard, io::TcpListener* listener, bool via_shard_broker) {
  core::ShardState& st = core::shard_state();
  auto backoff = kAcceptBackoffMin;
  int64_t last_log_ns = io::Shard::current().now_ns() - kAcceptErrorLogIntervalNs;
  uint64_t refused_since_log = 0;
  while (!st.stopping) {
    auto conn = co_await listener->accept();
    if (conn.ok()) {
      backoff = kAcceptBackoffMin;
      io::spawn(serve_connection(std::move(conn.value()), via_shard_broker));
      continue;
    }
    if (st.stopping || io::Shard::current().stop_requested()) break;
    if (!out_of_descriptors(conn.error().code)) continue;  // ECONNABORTED...: the next one may work
    // Out of file descriptors: accepting again at once fails again and spins the core. Back off
    // (the pending connections wait in the listen backlog) and say so, once per interval.
    refused_since_log++;
    const int64_t now_ns = io::Shard::current().now_ns();
    if (now_ns - last_log_ns >= kAcceptErrorLogIntervalNs) {
      logging::error("shard {}: accept: {}; backing off {} ms ({} failures since last report)", shard,
                     conn.error().describe(), backoff.count(), refused_since_log);
      last_log_ns = now_ns;
      refused_since_log = 0;
    }
    bool slept = co_await io::sleep_for(backoff);
    if (!slept) break;
    backoff = std::min(backoff * 2, kAcceptBackoffMax);
  }
}

io::Task<void> housekeeping_loop() {
  core::ShardState& st = core::shard_state();
  while (!st.stopping) {
    bool slept = co_await io::sleep_for(kHousekeepingInterval);  // g++ 12: no `!co_await`
    if (!slept) break;
    // Partitions that could not be opened (out of fds, disk full) are retried until they open.
    if (st.open_failures > 0) {
      int still = co_await core::apply_catalogue(st.catalogue);
      if (still == 0) logging::info("shard {}: every partition is open again", st.shard_id);
    }
    int64_t now_ms = st.clock->now_ms();
    std::vector<core::Partition*> parts;
    for (auto& [k, p] : st.partitions) parts.push_back(p.get());
    for (core::Partition* p : parts) {
      if (st.stopping) break;
      co_await p->housekeeping(now_ms, st.config->producer_id_expiration_ms);
    }
  }
}

Result<uint16_t> listen_on(unsigned shard, const std::string& host, uint16_t port) {
  auto l = io::TcpListener::bind(host, port, /*reuse_port=*/true);
  if (!l.ok()) return l.error();
  uint16_t bound = l.value().port();
  g_servers[shard].listener.emplace(std::move(l.value()));
  return bound;
}

// On the calling shard: binds its own broker's listener (when the shards are brokers of their
// own) and returns its port; 0 when there is none; an error (said on stderr) when it fails.
Result<uint16_t> listen_shard_port() {
  core::ShardState& st = core::shard_state();
  const broker::BrokerConfig& cfg = *st.config;
  if (!cfg.shard_listeners) return uint16_t{0};
  std::string why;
  auto port = broker::shard_listen_port(cfg, st.shard_id, st.shard_count, &why);
  if (!port.ok()) {
    logging::error("{}", why);
    return port.error();
  }
  // Not SO_REUSEPORT: the port is this shard's alone, and a port in use must fail the start.
  auto l = io::TcpListener::bind(cfg.listen_host, port.value(), /*reuse_port=*/false);
  if (!l.ok()) {
    logging::error("shard {} cannot listen on its broker port {}:{}: {}", st.shard_id, cfg.listen_host, port.value(),
                   l.error().describe());
    return l.error();
  }
  const uint16_t bound = l.value().port();
  g_servers[st.shard_id].shard_listener.emplace(std::move(l.value()));
  return bound;
}

void start_serving(const std::string& adv_host, uint16_t adv_port, const std::vector<uint16_t>& shard_ports) {
  core::ShardState& st = core::shard_state();
  st.advertised_host = adv_host;
  st.advertised_port = adv_port;
  st.shard_ports = shard_ports;
  ShardServer& server = g_servers[st.shard_id];
  io::spawn(accept_loop(st.shard_id, &*server.listener, /*via_shard_broker=*/false));
  if (server.shard_listener) io::spawn(accept_loop(st.shard_id, &*server.shard_listener, /*via_shard_broker=*/true));
  io::spawn(housekeeping_loop());
}

// One scrape: every shard's samples (collected on that shard, by message), then the process's.
io::Task<std::string> render_metrics() {
  const unsigned shards = core::shard_state().shard_count;
  std::vector<core::ShardScrape> parts;
  parts.reserve(shards);
  for (unsigned s = 0; s < shards; ++s) {
    auto collect = [s] {
      core::ShardScrape part;
      core::collect_core_metrics(part);
      collect_kafka_metrics(part.samples, s);
      return part;
    };
    core::ShardScrape part = co_await io::submit_to(s, std::move(collect));
    parts.push_back(std::move(part));
  }
  metrics::Samples all;
  for (core::ShardScrape& p : parts) all.append(std::move(p.samples));
  core::add_group_lag(parts, all);
  core::collect_process_metrics(all);
  co_return all.render();
}

// Shard 0: the metrics endpoint, if configured. A port that cannot be bound fails the start (an
// operator who asked for metrics must not silently get none).
bool start_metrics(const broker::BrokerConfig& cfg) {
  if (!cfg.metrics_enabled) return true;
  auto ep = metrics::HttpEndpoint::bind(cfg.metrics_host, cfg.metrics_port);
  if (!ep.ok()) {
    logging::error("cannot listen for metrics on {}:{}: {} (set --metrics-listen HOST:PORT or off)", cfg.metrics_host,
                   cfg.metrics_port, ep.error().describe());
    return false;
  }
  g_metrics_endpoint = std::move(ep.value());
  logging::info("metrics on http://{}:{}/metrics", cfg.metrics_host, g_metrics_endpoint->port());
  io::spawn(g_metrics_endpoint->serve(render_metrics));
  return true;
}

bool write_ready_file(const std::string& path, uint16_t port) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    f << port << "\n";
    if (!f) return false;
  }
  return ::rename(tmp.c_str(), path.c_str()) == 0;
}

// Shard 0 brings the broker up: catalogue, partitions on every shard, listeners on every shard.
io::Task<bool> start_shard0() {
  core::ShardState& st = core::shard_state();
  const broker::BrokerConfig& cfg = *st.config;
  if (auto r = co_await st.fs->mkdirs(cfg.data_dir); !r.ok()) {
    logging::error("cannot create data dir {}: {}", cfg.data_dir, r.error().describe());
    co_return false;
  }
  if (auto r = co_await core::load_and_publish_catalogue(); !r.ok()) {
    logging::error("cannot load the topic catalogue in {}/meta: {}", cfg.data_dir, r.error().describe());
    co_return false;
  }
  auto port = listen_on(0, cfg.listen_host, cfg.listen_port);
  if (!port.ok()) {
    logging::error("cannot listen on {}:{}: {}", cfg.listen_host, cfg.listen_port, port.error().describe());
    co_return false;
  }
  std::string adv_host = cfg.advertised_host;
  if (adv_host.empty())
    adv_host = (cfg.listen_host.empty() || cfg.listen_host == "0.0.0.0") ? "127.0.0.1" : cfg.listen_host;
  uint16_t adv_port = cfg.advertised_port ? cfg.advertised_port : port.value();
  // Every shard binds first (the bootstrap address and its own broker's port), then every shard
  // serves, each knowing every shard broker's port: Metadata is the same wherever it is asked.
  std::vector<uint16_t> shard_ports;
  auto own = listen_shard_port();
  if (!own.ok()) co_return false;
  shard_ports.push_back(own.value());
  for (unsigned s = 1; s < st.shard_count; ++s) {
    std::string host = cfg.listen_host;
    uint16_t p = port.value();
    auto fn = [s, host, p]() -> int32_t {
      auto r = listen_on(s, host, p);
      if (!r.ok()) {
        logging::error("shard {} cannot listen: {}", s, r.error().describe());
        return -1;
      }
      auto mine = listen_shard_port();
      return mine.ok() ? mine.value() : -1;
    };
    int32_t bound = co_await io::submit_to(s, std::move(fn));
    if (bound < 0) co_return false;
    shard_ports.push_back(static_cast<uint16_t>(bound));
  }
  if (!cfg.shard_listeners) shard_ports.clear();
  for (unsigned s = 1; s < st.shard_count; ++s) {
    auto fn = [adv_host, adv_port, shard_ports]() { start_serving(adv_host, adv_port, shard_ports); };
    co_await io::submit_to(s, std::move(fn));
  }
  start_serving(adv_host, adv_port, shard_ports);
  if (!start_metrics(cfg)) co_return false;
  if (g_hooks && g_hooks->start_extra && !g_hooks->start_extra()) co_return false;
  std::size_t partitions = 0;
  for (const auto& [n, t] : st.catalogue.topics()) partitions += static_cast<std::size_t>(t.partition_count());
  logging::info("listening on {}:{} (advertised {}:{}), data in {}, {} topics, {} partitions", cfg.listen_host,
                port.value(), adv_host, adv_port, cfg.data_dir, st.catalogue.topics().size(), partitions);
  if (shard_ports.empty()) {
    logging::info("one broker for all shards: node {} at {}:{}", cfg.node_id, adv_host, adv_port);
  } else {
    std::string brokers;
    for (unsigned s = 0; s < st.shard_count; ++s)
      brokers += (s ? ", " : "") + std::string("node ") + std::to_string(cfg.node_id + static_cast<int32_t>(s)) +
                 " at " + adv_host + ":" + std::to_string(shard_ports[s]) + " (shard " + std::to_string(s) + ")";
    logging::info("shard brokers: {}", brokers);
  }
  if (!cfg.ready_file.empty() && !write_ready_file(cfg.ready_file, port.value()))
    logging::error("cannot write ready file {}", cfg.ready_file);
  if (g_hooks && g_hooks->on_listening) g_hooks->on_listening(port.value());
  co_return true;
}

io::Task<void> shard_main(unsigned id, io::Runtime* rt) {
  core::ShardState& st = core::shard_state();
  SLUICE_ASSERT(st.shard_id == id);
  log::PartitionLog::set_max_open_sealed_segments(
      static_cast<std::size_t>(st.config->max_open_sealed_segments_per_shard));
  if (id == 0) {
    bool started = co_await start_shard0();
    if (!started) {
      // Stopped like a running broker: the catalogue's partitions and coordinators (whose
      // marker loop would otherwise spin once the runtime stops) are already up.
      g_start_failed = true;
      rt->stop();
    }
  }
  co_await io::Shard::current().wait_stop();
  st.stopping = true;
  if (g_servers[id].listener) g_servers[id].listener->close();
  if (g_servers[id].shard_listener) g_servers[id].shard_listener->close();
  if (id == 0 && g_metrics_endpoint) g_metrics_endpoint->close();
  if (id == 0 && g_hooks && g_hooks->stop_extra) g_hooks->stop_extra();
  // Marker writes first (they may be completing offsets in a group service), then the groups:
  // waiting JoinGroup/SyncGroup calls are answered COORDINATOR_NOT_AVAILABLE.
  for (auto& [partition, svc] : st.txns) co_await svc->stop();
  st.txns.clear();
  st.groups.clear();
  co_await core::close_all_partitions();
  // Plain per-shard counters, read by bench/shards (cross-shard messages per delivered message).
  const io::ShardStats& stats = io::Shard::current().stats();
  logging::info("shard {} stats: cross-shard messages sent {} received {}", id, stats.messages_sent,
                stats.messages_received);
}

}  // namespace

int run_broker(const broker::BrokerConfig& cfg) { return run_broker(cfg, BrokerHooks{}); }

void stop_broker() {
  std::lock_guard<std::mutex> lock(g_runtime_mutex);
  if (g_runtime) g_runtime->stop();
}

int run_broker(const broker::BrokerConfig& cfg, const BrokerHooks& hooks) {
  io::RuntimeConfig rc;
  rc.handle_signals = hooks.handle_signals;
  rc.pin_threads = hooks.pin_threads;
  rc.smp = cfg.smp;
  rc.poll_us = cfg.poll_us;
  rc.stall_threshold_us = cfg.stall_threshold_ms * 1000;
  rc.stall_backtraces = cfg.stall_backtraces;
  rc.max_connections_per_shard = cfg.max_connections_per_shard;
  auto rt = io::Runtime::create(rc);
  if (!rt.ok()) {
    logging::error("{}", rt.error().describe());
    return 1;
  }
  io::Runtime& runtime = *rt.value();
  const unsigned n = runtime.shard_count();
  auto cores = runtime.shard_cores();
  std::string layout;
  for (unsigned i = 0; i < n; ++i)
    layout += (i ? ", " : "") + std::string("shard ") + std::to_string(i) + " -> " +
              (cores[i] >= 0 ? "core " + std::to_string(cores[i]) : std::string("unpinned"));
  logging::info("{} shards ({}), poll {} us, io_uring flags 0x{:x}", n, layout, cfg.poll_us,
                runtime.ring_setup_flags());
  std::vector<std::unique_ptr<core::ShardState>> states;
  g_servers.clear();
  g_servers.resize(n);
  for (unsigned i = 0; i < n; ++i) {
    auto s = std::make_unique<core::ShardState>();
    s->config = &cfg;
    s->shard_id = i;
    s->shard_count = n;
    s->fs = hooks.make_file_system ? hooks.make_file_system(i) : std::make_unique<log::UringFileSystem>();
    if (hooks.make_clock) s->clock = hooks.make_clock(i);
    SLUICE_ASSERT(s->fs && s->clock);
    s->request_budget.set_limit(static_cast<std::size_t>(cfg.queued_max_request_bytes_per_shard));
    s->fetch_budget.set_limit(static_cast<std::size_t>(cfg.fetch_max_memory_bytes_per_shard));
    states.push_back(std::move(s));
  }
  core::install_shard_states(std::move(states));
  g_start_failed = false;
  g_hooks = &hooks;
  {
    std::lock_guard<std::mutex> lock(g_runtime_mutex);
    g_runtime = &runtime;
  }
  int rc_run = runtime.run([&runtime](unsigned id) { return shard_main(id, &runtime); });
  {
    std::lock_guard<std::mutex> lock(g_runtime_mutex);
    g_runtime = nullptr;
  }
  g_hooks = nullptr;
  g_servers.clear();
  g_metrics_endpoint.reset();
  core::clear_shard_states();
  if (g_start_failed) {
    // A supervisor must see a failed start: never exit 0 without having served.
    logging::error("start-up failed, exiting with code 1");
    return 1;
  }
  logging::info("stopped ({})", rc_run == 0 ? "clean" : "with errors");
  return rc_run;
}

}  // namespace sluice::kafka
