#pragma once
// Runs a whole broker (kafka::run_broker) on a thread of its own for tests that talk to it over
// loopback: start() waits until it listens (or exits), stop() asks it to stop and joins.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "engine/broker/broker_config.h"
#include "engine/kafka/server/broker.h"

namespace sluice::testing {

class BrokerThread {
 public:
  BrokerThread() = default;
  BrokerThread(const BrokerThread&) = delete;
  BrokerThread& operator=(const BrokerThread&) = delete;
  ~BrokerThread() {
    if (thread_.joinable()) stop();
  }

  // `cfg` and `hooks` must outlive the run (run_broker keeps references). True once listening;
  // false when the broker exited first or did not listen within `timeout` (it is then stopped).
  bool start(const broker::BrokerConfig& cfg, kafka::BrokerHooks& hooks, std::chrono::milliseconds timeout) {
    port_ = 0;
    exited_ = false;
    hooks.on_listening = [this](uint16_t port) {
      std::lock_guard<std::mutex> lock(mu_);
      port_ = port;
      cv_.notify_all();
    };
    thread_ = std::thread([this, &cfg, &hooks] {
      const int rc = kafka::run_broker(cfg, hooks);
      std::lock_guard<std::mutex> lock(mu_);
      rc_ = rc;
      exited_ = true;
      cv_.notify_all();
    });
    std::unique_lock<std::mutex> lock(mu_);
    const bool up = cv_.wait_for(lock, timeout, [this] { return port_ != 0 || exited_; });
    if (up && port_ != 0) return true;
    lock.unlock();
    stop();
    return false;
  }

  // Returns run_broker's exit code.
  int stop() {
    bool exited = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      exited = exited_;
    }
    if (!exited) kafka::stop_broker();
    thread_.join();
    return rc_;
  }

  uint16_t port() const { return port_; }
  bool exited() const { return exited_; }
  int exit_code() const { return rc_; }

 private:
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint16_t port_ = 0;
  bool exited_ = false;
  int rc_ = -1;
};

}  // namespace sluice::testing
