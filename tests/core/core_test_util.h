#pragma once
// Shared by the core tests: run a coroutine on a one-shard runtime, open a partition, build a batch.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/partition.h"
#include "engine/log/batch_builder.h"
#include "engine/log/clock.h"
#include "engine/log/file_io.h"
#include "io/runtime.h"
#include "io/task.h"

namespace sluice::core::testing {

// A one-shard runtime for tests: no signal handling, unpinned, few registered pages.
inline io::RuntimeConfig one_shard_config() {
  io::RuntimeConfig cfg;
  cfg.smp = 1;
  cfg.handle_signals = false;
  cfg.pin_threads = false;
  cfg.registered_pages_per_shard = 64;
  return cfg;
}

// Runs `body` on a one-shard runtime (a Partition belongs to a shard). False when io_uring is
// unavailable here (the caller skips).
inline bool on_shard(const std::function<io::Task<void>()>& body) {
  auto rt = io::Runtime::create(one_shard_config());
  if (!rt.ok()) return false;
  io::Runtime* r = rt.value().get();
  int rc = r->run([&](unsigned) -> io::Task<void> {
    co_await body();
    r->stop();
  });
  EXPECT_EQ(rc, 0);
  return true;
}

inline log::LogConfig small_segments() {
  log::LogConfig c;
  c.segment_bytes = 64 << 10;
  c.preallocate_bytes = 16 << 10;
  c.tail_chunk_bytes = 16 << 10;
  c.retention_ms = -1;
  return c;
}

inline io::Task<std::unique_ptr<Partition>> open_partition(log::FileSystem& fs, log::Clock& clock,
                                                           const std::string& topic, int32_t index,
                                                           const log::LogConfig& c = small_segments()) {
  const std::string dir = "/data/" + topic + "/" + std::to_string(index);
  auto mk = co_await fs.mkdirs(dir);
  EXPECT_TRUE(mk.ok());
  auto p = co_await Partition::open(fs, clock, dir, topic, index, c);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().describe());
  if (!p.ok()) co_return nullptr;
  co_return std::move(p.value());
}

inline std::vector<std::byte> plain_batch(int count, std::size_t value_bytes = 100) {
  log::BatchSpec s;
  s.base_timestamp_ms = 1'000'000;
  for (int i = 0; i < count; ++i) {
    log::RecordSpec r;
    r.key = "k" + std::to_string(i);
    r.value.assign(value_bytes, 'v');
    s.records.push_back(std::move(r));
  }
  return log::BatchBuilder::build(s);
}

}  // namespace sluice::core::testing

namespace sluice::broker {
inline void PrintTo(Errc e, std::ostream* os) { *os << errc_text(e); }
}  // namespace sluice::broker
