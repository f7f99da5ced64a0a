#pragma once
// The host of one coordinator whose state lives in an internal partition (consumer groups today;
// transactions and AMQP queues next). The coordinator is a deterministic state machine; the host
// gives it durability:
//   - start: replay every record of the partition into the machine (load()),
//   - run: append the records the machine emitted as one batch per persist(), and let callers
//     wait until they are durable before answering (wait_durable()),
//   - compaction: once enough records accumulated, append the machine's live state as a snapshot
//     and drop the segments it replaced,
//   - timers: drive the machine's deadlines until the shard stops (tick_loop()).
// Owned by the shard that owns the partition; every call runs there.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "alloc/result.h"
#include "engine/core/internal_records.h"
#include "engine/core/partition.h"
#include "engine/log/clock.h"
#include "io/shard.h"
#include "io/task.h"

namespace sluice::core {

inline constexpr std::size_t kSnapshotRecordsPerBatch = 1000;
inline constexpr int64_t kNoTimer = std::numeric_limits<int64_t>::max();

// What a hosted coordinator provides.
class CoordinatorStateMachine {
 public:
  virtual ~CoordinatorStateMachine() = default;
  // Applies one record read back at start. An error counts the record as unreadable.
  virtual Result<void> replay(KeyValue record) = 0;
  // The live state as records: replaying them alone rebuilds it.
  virtual std::vector<KeyValue> snapshot() const = 0;
  // The next time tick() has work, kNoTimer for none.
  virtual int64_t next_deadline_ms() const = 0;
  virtual void tick(int64_t now_ms) = 0;
};

// A machine's own records ({key, optional value}, like KeyValue) as the host's, for snapshot().
template <class Record>
std::vector<KeyValue> to_key_values(std::vector<Record> records) {
  std::vector<KeyValue> out;
  out.reserve(records.size());
  for (auto& r : records) out.push_back(KeyValue{std::move(r.key), std::move(r.value)});
  return out;
}

class CoordinatorHost {
 public:
  // Compaction starts once compaction_min_records were written since the last snapshot and they
  // outnumber the live state at least twice.
  CoordinatorHost(Partition* partition, log::Clock* clock, uint64_t compaction_min_records);
  void attach(CoordinatorStateMachine* machine) { machine_ = machine; }

  // A record the machine produced: appended by the next persist().
  void emit(KeyValue record) { pending_.push_back(std::move(record)); }
  // Replays the partition into the machine. Records that fail to decode are counted, skipped.
  io::Task<void> load();
  // Appends the records emitted since the last call, as one batch. Every request the machine
  // handles ends here, so this is also where a deadline it moved earlier wakes tick_loop().
  io::Task<void> persist();
  // Completes when everything appended so far is durable; false on a storage error.
  io::Task<bool> wait_durable();
  // persist() then wait_durable(): what an answer that depends on the emitted records awaits.
  io::Task<bool> persist_durably();
  io::Task<void> compact_if_needed();
  // Drives the machine's timers until *stopping (checked at least every 100 ms). A deadline set
  // earlier than the one it sleeps for wakes it (persist()), so a 20 ms rebalance timeout fires
  // after 20 ms, not at the next 100 ms check.
  io::Task<void> tick_loop(const bool* stopping);

  Partition& partition() { return *partition_; }
  int64_t now_ms() { return clock_->now_ms(); }
  uint64_t records_since_snapshot() const { return records_since_snapshot_; }

 private:
  bool compaction_due() const;
  void wake_tick_loop_if_earlier();

  Partition* partition_;
  log::Clock* clock_;
  CoordinatorStateMachine* machine_ = nullptr;
  std::vector<KeyValue> pending_;
  ProduceOutcome last_appended_;
  bool storage_failed_ = false;
  bool compacting_ = false;
  uint64_t records_since_snapshot_ = 0;  // appended (or replayed) since the last snapshot
  uint64_t live_records_ = 0;            // size of the last snapshot
  uint64_t compaction_min_records_;
  io::Event deadline_moved_;                 // set when the machine's next deadline moved earlier
  int64_t tick_sleeps_until_ms_ = kNoTimer;  // what tick_loop() sleeps until (kNoTimer: awake)
};

}  // namespace sluice::core
