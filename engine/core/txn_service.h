#pragma once
// The transaction coordinator of one internal partition (__transaction_state-<p>), living on the
// shard that owns that partition: txn::TransactionCoordinator (the I/O-free state machine) run by
// a CoordinatorHost, which appends its records to the partition and replays them at start.
//
// Markers: the coordinator hands each finished transaction (PrepareCommit / PrepareAbort) to this
// service as a MarkerJob. The marker loop waits until the record that prepared it is durable,
// writes the COMMIT/ABORT markers through the MarkerWriter (the broker's: every partition of the
// transaction, on its owner shard), then tells the coordinator (Complete*), and retries a job
// whose markers could not all be written. The Complete* record follows lazily (with the next
// record of the partition, or after a short delay): a crash that loses it only makes recovery
// write the same markers again. After a restart the jobs of every transaction left in
// Prepare* are queued before anything is served.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/coordinator_host.h"
#include "engine/txn/coordinator.h"
#include "io/task.h"

namespace sluice::core {

inline constexpr const char* kTxnTopic = "__transaction_state";

// Writes the markers of one job; true once every partition of it has its marker durably (or no
// longer exists). Runs on the coordinator's shard.
using MarkerWriter = std::function<io::Task<bool>(const txn::MarkerJob&)>;

class TxnService final : private CoordinatorStateMachine {
 public:
  TxnService(Partition* partition, log::Clock* clock, const txn::Config& config, uint64_t compaction_min_records,
             MarkerWriter writer);
  ~TxnService() override;

  txn::TransactionCoordinator& coordinator() { return *coordinator_; }
  int64_t now_ms() { return host_.now_ms(); }
  // Replays the partition and queues the markers of transactions left in Prepare*.
  io::Task<void> load();
  io::Task<void> persist() { return host_.persist(); }
  io::Task<bool> wait_durable() { return host_.wait_durable(); }
  io::Task<bool> persist_durably() { return host_.persist_durably(); }
  io::Task<void> compact_if_needed() { return host_.compact_if_needed(); }
  io::Task<void> tick_loop(const bool* stopping) { return host_.tick_loop(stopping); }
  // Writes queued markers until *stopping or stop().
  io::Task<void> marker_loop(const bool* stopping);
  // Ends the marker loop and waits for it (a marker write in flight finishes first): the
  // service may be destroyed after this.
  io::Task<void> stop();
  std::size_t queued_marker_jobs() const { return jobs_.size(); }
  // Completes once the id's transaction is no longer PrepareCommit / PrepareAbort (its markers are
  // written), after `timeout`, or at stop.
  io::Task<void> wait_markers(std::string transactional_id, std::chrono::milliseconds timeout);

 private:
  Result<void> replay(KeyValue record) override;
  std::vector<KeyValue> snapshot() const override;
  int64_t next_deadline_ms() const override;
  void tick(int64_t now_ms) override;
  void queue(txn::MarkerJob job);
  io::Task<void> run_markers(const bool* stopping);
  io::Task<void> write_one(const txn::MarkerJob* job, bool* written);

  CoordinatorHost host_;
  std::unique_ptr<txn::TransactionCoordinator> coordinator_;
  MarkerWriter writer_;
  std::deque<txn::MarkerJob> jobs_;
  io::Event jobs_ready_;
  io::Event loop_done_;
  io::Event markers_done_;  // pulsed after every pass of the marker loop
  bool loading_ = false;
  bool stopping_ = false;
  bool loop_running_ = false;
  bool completions_unpersisted_ = false;  // Complete* records emitted, left for the next persist
};

}  // namespace sluice::core
