#pragma once
#include <cstdint>
#include <functional>
#include <memory>

#include "engine/broker/broker_config.h"
#include "engine/log/clock.h"
#include "engine/log/file_io.h"

namespace sluice::kafka {

// Seams for running the broker in process (tests, the simulation, the whole-request fuzzer): any
// FileSystem and clock per shard, a callback once it listens, and a stop from another thread.
struct BrokerHooks {
  // Default: the io_uring FileSystem. Called once per shard, on the starting thread.
  std::function<std::unique_ptr<log::FileSystem>(unsigned shard)> make_file_system;
  // Default: the wall clock. Called once per shard (LogAppendTime, retention, segment.ms, group
  // timers read it), so a simulation can run time at its own pace.
  std::function<std::unique_ptr<log::Clock>(unsigned shard)> make_clock;
  // Called on shard 0 once every shard listens, with the bound port.
  std::function<void(uint16_t port)> on_listening;
  // Other protocols' listeners (AMQP), kept out of this module: `start_extra` runs on shard 0 once
  // the Kafka listeners serve, before the ready file is written (false fails the start);
  // `stop_extra` runs on shard 0 when the broker stops, before partitions close.
  std::function<bool()> start_extra;
  std::function<void()> stop_extra;
  bool handle_signals = true;  // SIGINT/SIGTERM stop the broker
  bool pin_threads = true;
};

// Starts the shards, loads the catalogue and partitions, listens, and serves until SIGINT or
// SIGTERM (or stop_broker()). Returns the process exit code (0 on an orderly stop, 1 when the
// start failed).
int run_broker(const broker::BrokerConfig& cfg);
int run_broker(const broker::BrokerConfig& cfg, const BrokerHooks& hooks);
// Thread-safe: asks the running broker to stop (run_broker then returns).
void stop_broker();

}  // namespace sluice::kafka
