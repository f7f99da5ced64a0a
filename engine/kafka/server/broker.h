#pragma once
#include "engine/broker/broker_config.h"

namespace sluice::kafka {
// Starts the shards, loads the catalogue and partitions, listens, and serves until SIGINT or
// SIGTERM. Returns the process exit code (0 on an orderly stop).
int run_broker(const broker::BrokerConfig& cfg);
}  // namespace sluice::kafka
