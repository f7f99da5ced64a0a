#include "engine/core/txn_service.h"

#include <chrono>
#include <memory>
#include <utility>

#include "engine/core/group_service.h"
#include "engine/core/when_all.h"

namespace sluice::core {
namespace {
// A job whose markers could not all be written (a partition closing, a disk error) is tried
// again after this; Kafka's marker channel retries the same way, forever.
constexpr auto kMarkerRetryDelay = std::chrono::milliseconds(100);
// Bounds what one pass of the loop does before it yields to other work on the shard.
constexpr std::size_t kMaxJobsPerPass = 64;
// The CompleteCommit/CompleteAbort records of a pass are not appended at once: the next request of
// the id (AddPartitionsToTxn of its next transaction, usually already waiting) appends them with
// its own record, in one sync instead of two. Idle, they go after this. Losing them in a crash is
// harmless: recovery finds the transaction prepared and writes its markers again.
constexpr auto kCompletionPersistDelay = std::chrono::milliseconds(20);
}  // namespace

TxnService::TxnService(Partition* partition, log::Clock* clock, const txn::Config& config,
                       uint64_t compaction_min_records, MarkerWriter writer)
    : host_(partition, clock, compaction_min_records), writer_(std::move(writer)) {
  SLUICE_ASSERT(writer_ != nullptr);
  coordinator_ = std::make_unique<txn::TransactionCoordinator>(
      config,
      [this](txn::Record r) {
        host_.emit(KeyValue{std::move(r.key), std::move(r.value)});
      },
      [this](txn::MarkerJob job) { queue(std::move(job)); });
  host_.attach(this);
}

TxnService::~TxnService() = default;

void TxnService::queue(txn::MarkerJob job) {
  // During replay the coordinator emits nothing; pending jobs are taken after it (load()).
  SLUICE_ASSERT(!loading_);
  jobs_.push_back(std::move(job));
  jobs_ready_.set();
}

io::Task<void> TxnService::load() {
  loading_ = true;
  co_await host_.load();
  loading_ = false;
  for (txn::MarkerJob& job : coordinator_->pending_marker_jobs()) queue(std::move(job));
}

io::Task<void> TxnService::stop() {
  stopping_ = true;
  jobs_ready_.set();
  // While the shard stops, Event::wait returns after one pass of the run loop: this polls.
  while (loop_running_) (void)co_await loop_done_.wait(std::chrono::milliseconds(100));
}

io::Task<void> TxnService::marker_loop(const bool* stopping) {
  SLUICE_ASSERT(!loop_running_);
  loop_running_ = true;
  co_await run_markers(stopping);
  loop_running_ = false;
  loop_done_.set();
}

io::Task<void> TxnService::run_markers(const bool* stopping) {
  // The runtime's stop ends the loop too: from then on sleeps and waits end after one loop pass,
  // and retrying a persist or writes that fail at stop would only poll until the shard ran the
  // code that sets *stopping or calls stop().
  while (!*stopping && !stopping_ && !io::Shard::current().stop_requested()) {
    if (jobs_.empty()) {
      jobs_ready_.reset();
      const bool woken =
          co_await jobs_ready_.wait(completions_unpersisted_ ? kCompletionPersistDelay : std::chrono::seconds(1));
      if (!woken && completions_unpersisted_ && !*stopping && !stopping_) {
        completions_unpersisted_ = false;
        co_await host_.persist();
        co_await host_.compact_if_needed();
      }
      continue;
    }
    // The record that prepared each queued job was emitted before it: once it is durable the
    // markers may go out (a crash before that forgets the prepare, and the markers with it).
    completions_unpersisted_ = false;  // this persist takes them too
    const bool durable = co_await host_.persist_durably();
    if (!durable) {
      (void)co_await io::sleep_for(kMarkerRetryDelay);
      continue;
    }
    // The jobs of one pass are written concurrently (each to its partitions, each partition's
    // marker in its own group commit), so many producers' commits share syncs.
    std::vector<txn::MarkerJob> batch;
    while (batch.size() < kMaxJobsPerPass && !jobs_.empty()) {
      batch.push_back(std::move(jobs_.front()));
      jobs_.pop_front();
    }
    auto written = std::make_unique<bool[]>(batch.size());
    std::vector<io::Task<void>> writes;
    writes.reserve(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) writes.push_back(write_one(&batch[i], &written[i]));
    co_await when_all(std::move(writes));
    bool failed = false;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!written[i]) {
        jobs_.push_back(std::move(batch[i]));
        failed = true;
        continue;
      }
      // A job fenced meanwhile (the id moved on) gets an error here and changes nothing.
      (void)coordinator_->markers_written(batch[i].transactional_id, batch[i].producer_id, batch[i].producer_epoch,
                                          batch[i].commit, host_.now_ms());
    }
    completions_unpersisted_ = true;
    markers_done_.set();
    markers_done_.reset();
    if (failed && !*stopping && !stopping_) (void)co_await io::sleep_for(kMarkerRetryDelay);
  }
}

io::Task<void> TxnService::write_one(const txn::MarkerJob* job, bool* written) { *written = co_await writer_(*job); }

io::Task<void> TxnService::wait_markers(std::string transactional_id, std::chrono::milliseconds timeout) {
  // Shard time, not the coordinator's clock: a test's or simulation's clock may stand still.
  const int64_t deadline_ns = io::Shard::current().now_ns() + std::chrono::nanoseconds(timeout).count();
  for (;;) {
    auto m = coordinator_->transaction(transactional_id);
    if (!m || (m->state != txn::TxnState::kPrepareCommit && m->state != txn::TxnState::kPrepareAbort)) co_return;
    const int64_t left_ns = deadline_ns - io::Shard::current().now_ns();
    // After the runtime's stop the wait below returns at once: nothing to wait for any more.
    if (left_ns <= 0 || stopping_ || io::Shard::current().stop_requested()) co_return;
    const bool woken = co_await markers_done_.wait(std::chrono::nanoseconds(left_ns));
    if (!woken && stopping_) co_return;
  }
}

Result<void> TxnService::replay(KeyValue record) {
  return coordinator_->replay(txn::Record{std::move(record.key), std::move(record.value)});
}

std::vector<KeyValue> TxnService::snapshot() const { return to_key_values(coordinator_->snapshot()); }

int64_t TxnService::next_deadline_ms() const {
  const int64_t next = coordinator_->next_deadline_ms();
  return next == txn::kNoDeadline ? kNoTimer : next;
}

void TxnService::tick(int64_t now_ms) { coordinator_->tick(now_ms); }

}  // namespace sluice::core
