#pragma once
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>

#include "io/runtime.h"

namespace sluice::io::test {

inline RuntimeConfig test_config(unsigned smp = 2) {
  RuntimeConfig cfg;
  cfg.smp = smp;
  cfg.handle_signals = false;  // gtest owns the process; signal tests opt in
  cfg.registered_pages_per_shard = 256;
  return cfg;
}

inline std::unique_ptr<Runtime> make_runtime(const RuntimeConfig& cfg) {
  auto rt = Runtime::create(cfg);
  if (!rt) ADD_FAILURE() << "Runtime::create: " << rt.error().describe();
  return rt ? std::move(rt.value()) : nullptr;
}

inline int64_t elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace sluice::io::test
