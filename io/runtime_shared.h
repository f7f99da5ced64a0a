#pragma once
// Internal: the few words shards share. Never included outside io/.
#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "io/runtime.h"
#include "io/shard.h"

namespace sluice::io::detail {

struct alignas(64) ShardSlot {
  std::atomic<bool> sleeping{false};  // published before blocking in io_uring_submit_and_wait
  std::atomic<bool> done{false};      // drained and idle (shutdown protocol)
  int ring_fd = -1;                   // target of IORING_OP_MSG_RING wakeups
  int event_fd = -1;                  // stop() from any thread writes here
  Shard* shard = nullptr;
  // Stall watchdog: bumped by every loop pass (and spin step) of a running shard; the watchdog
  // signals `thread` when it stops moving while the shard is not sleeping and `watchable`.
  std::atomic<uint64_t> progress{0};
  std::atomic<bool> watchable{false};
  pthread_t thread{};
};

struct RuntimeShared {
  RuntimeConfig cfg;
  unsigned shard_count = 0;
  unsigned setup_flags = 0;
  bool send_zc = false;
  Runtime* runtime = nullptr;
  std::unique_ptr<ShardSlot[]> slots;
  std::vector<std::unique_ptr<SpscRing>> rings;  // [from * shard_count + to]
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> drain_activity{0};  // bumped by every message sent while stopping

  SpscRing& ring(unsigned from, unsigned to) { return *rings[from * shard_count + to]; }
};

// Creates a ring with the best setup flags, falling back progressively on EINVAL.
int setup_ring(unsigned entries, io_uring* ring, unsigned preferred_flags, unsigned* used_flags);

}  // namespace sluice::io::detail
