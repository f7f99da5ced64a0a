#pragma once
// Partition: one topic-partition as the broker serves it. Owned by exactly one shard (the one
// placement_shard() names); every method asserts it runs there. Wraps the durable log with the
// idempotent-producer state, the background group-commit flusher and the long-poll wake-up.
//
// Producer state survives restarts through snapshots (engine/broker/producer_snapshot.h), so
// start-up does not depend on how much data the partition holds: one is written at every clean
// close (covering the log end), and one is captured whenever the active segment rolls and after
// every kProducerSnapshotIntervalBytes appended (at least 8x the last snapshot's size), covering
// the log end at that moment and written once the log has made that offset durable. open() loads
// the newest usable one and replays only the batches after it (none after a clean stop; after
// SIGKILL at most about one interval); without one it replays the newest segments.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "alloc/iobuf.h"
#include "engine/broker/producer_snapshot.h"
#include "engine/broker/producer_state.h"
#include "engine/broker/txn_index.h"
#include "engine/core/errors.h"
#include "engine/log/control_record.h"
#include "engine/log/partition_log.h"
#include "io/shard.h"
#include "io/task.h"

namespace sluice::core {

// Appended bytes between snapshots: bounds what a start after SIGKILL replays (16 MiB: ~25 ms
// of reading here, against ~40 ms for a whole empty start) at the price of one small file write
// (two syncs, ~1 ms) per interval, a quarter of what the log's index syncs (every 4 MiB) cost.
inline constexpr uint64_t kProducerSnapshotIntervalBytes = 16ull << 20;

struct ProduceOutcome {
  Errc error = Errc::kOk;
  int64_t base_offset = -1;
  int64_t log_append_time_ms = -1;
  int64_t log_start_offset = -1;
  int64_t last_offset = -1;  // what a durability wait must cover
  const char* error_message = nullptr;
};

// Which records a read may see (Kafka's isolation_level): read_uncommitted reads up to the high
// watermark; read_committed up to the last stable offset, with the aborted transactions whose
// records it must drop.
enum class Isolation : int8_t { kReadUncommitted = 0, kReadCommitted = 1 };

struct FetchOutcome {
  Errc error = Errc::kOk;
  int64_t high_watermark = -1;
  int64_t last_stable_offset = -1;
  int64_t log_start_offset = -1;
  alloc::IoBuf records;
  std::vector<broker::AbortedTxn> aborted;  // read_committed only; empty (no allocation) without aborts
};

struct ListOffsetOutcome {
  Errc error = Errc::kOk;
  int64_t timestamp_ms = -1;
  int64_t offset = -1;
  int32_t leader_epoch = -1;  // the epoch the offset was written under (the current one at the end)
};

struct DeleteRecordsOutcome {
  Errc error = Errc::kOk;
  int64_t low_watermark = -1;  // the log start offset after the call
};

// OffsetForLeaderEpoch: the largest epoch <= the requested one and where it ended (-1, -1 when
// the log cannot say).
struct EpochEndOutcome {
  Errc error = Errc::kOk;
  int32_t leader_epoch = -1;
  int64_t end_offset = -1;
};

// How open() restored the producer state (tests, diagnostics).
struct ProducerStateRestore {
  int64_t snapshot_offset = -1;  // the snapshot loaded, -1 = none usable (the newest segments were replayed)
  int64_t replayed_from_offset = 0;
  int64_t batches_replayed = 0;
};

class Partition;

// One long poll waiting for a partition's high watermark to move (DESIGN §3: a waiter list per
// partition, so an append wakes only the fetches that wait on that partition). Lives in the
// waiting coroutine's frame; neither copied nor moved once watching. The partition wakes and
// unlinks it when its high watermark moves or it closes; otherwise the destructor unlinks it.
class DataWatch {
 public:
  DataWatch() = default;
  ~DataWatch();
  DataWatch(const DataWatch&) = delete;
  DataWatch& operator=(const DataWatch&) = delete;
  bool watching() const { return watched_ != nullptr; }

 private:
  friend class Partition;
  Partition* watched_ = nullptr;
  io::Event* wake_ = nullptr;
  DataWatch* prev_ = nullptr;
  DataWatch* next_ = nullptr;
};

class Partition {
 public:
  static io::Task<Result<std::unique_ptr<Partition>>> open(log::FileSystem& fs, log::Clock& clock, std::string dir,
                                                           std::string topic, int32_t index, log::LogConfig config);
  ~Partition();

  const std::string& topic() const { return topic_; }
  int32_t index() const { return index_; }
  unsigned owner_shard() const { return owner_shard_; }

  // Validates and appends the records of one produce request partition (exactly one batch, as
  // Kafka requires for v3+), applying idempotence. Starts a background flush (group commit).
  // A transactional batch is refused (kInvalidTxnState) unless the transaction coordinator
  // admitted its producer id and epoch here (admit_transaction) and no marker ended it since.
  io::Task<ProduceOutcome> produce(std::span<const std::byte> records);
  // The coordinator's word that (producer_id, epoch) has this partition in its ongoing
  // transaction: its transactional batches are accepted until a marker ends the transaction.
  void admit_transaction(int64_t producer_id, int16_t epoch);
  // Appends a transaction marker (a coordinator's call, never a client's): one control batch
  // ending `marker.producer_id`'s transaction here. kProducerFenced when the producer already
  // moved to a newer epoch (nothing is written). wait_durable() covers it like a produce.
  io::Task<ProduceOutcome> append_control(const log::ControlMarker& marker);
  // acks=-1: completes once the produced batch (or the duplicate it matched) is durable.
  io::Task<bool> wait_durable(const ProduceOutcome& produced);
  // Whole batches from `offset` up to max_bytes, below the high watermark.
  io::Task<FetchOutcome> fetch(int64_t offset, int32_t max_bytes, Isolation isolation = Isolation::kReadUncommitted);
  // kLatestTimestamp answers the last stable offset for read_committed.
  io::Task<ListOffsetOutcome> list_offset(int64_t timestamp_ms, Isolation isolation = Isolation::kReadUncommitted);
  // DeleteRecords: moves the log start offset to `offset` (-1 = the high watermark), durably,
  // and deletes the whole segments below it. kOffsetOutOfRange below -1 or past the high
  // watermark; an offset at or below the current log start changes nothing.
  io::Task<DeleteRecordsOutcome> delete_records(int64_t offset);
  // The epoch this partition's leader (this broker) has: Metadata's leader_epoch, written into
  // every appended batch and recorded in the log's leader-epoch cache.
  int32_t leader_epoch() const { return log_->leader_epoch(); }
  // A client's current_leader_epoch (Fetch, OffsetForLeaderEpoch, ListOffsets): -1 is not
  // checked; older than leader_epoch() is kFencedLeaderEpoch, newer kUnknownLeaderEpoch.
  Errc check_leader_epoch(int32_t current_leader_epoch) const;
  // OffsetForLeaderEpoch (KIP-101/279/320), after check_leader_epoch(current_leader_epoch).
  EpochEndOutcome end_offset_for_epoch(int32_t current_leader_epoch, int32_t leader_epoch) const;
  // Bytes on disk of the partition's segments (DescribeLogDirs).
  io::Task<Result<uint64_t>> size_bytes();

  int64_t high_watermark() const { return log_->high_watermark(); }
  // The first offset of the oldest open transaction, or the high watermark when none is open.
  int64_t last_stable_offset() const { return txns_.last_stable_offset(log_->high_watermark()); }
  const broker::TxnIndex& transactions() const { return txns_; }
  // Sets `wake` once the high watermark moves (or the partition closes); see DataWatch.
  void watch(DataWatch* w, io::Event* wake);
  void unwatch(DataWatch* w);
  std::size_t watch_count() const { return watch_count_; }
  int64_t log_start_offset() const { return log_->log_start_offset(); }
  int64_t log_end_offset() const { return log_->log_end_offset(); }

  // Traffic since open, for the metrics endpoint: what produce appended (client batches, not
  // duplicates or markers) and what fetches returned.
  struct Traffic {
    uint64_t records_in = 0;
    uint64_t bytes_in = 0;
    uint64_t bytes_out = 0;
  };
  const Traffic& traffic() const { return traffic_; }
  const log::LogStats& log_stats() const { return log_->stats(); }

  const ProducerStateRestore& producer_state_restore() const { return restore_; }
  // Offsets of this partition's snapshot files, ascending.
  const std::vector<int64_t>& producer_snapshot_offsets() const { return snapshots_.offsets(); }

  Result<void> update_config(const log::LogConfig& config) { return log_->update_config(config); }
  // Internal partitions: seal the active segment, then drop whole segments below `offset`.
  io::Task<Result<void>> drop_segments_below(int64_t offset, int64_t now_ms);
  // Periodic housekeeping: retention, segment.ms rolls, producer-state expiry, and for
  // cleanup.policy=compact one cleaner run when due (in slices, yielding to the shard's loop).
  io::Task<void> housekeeping(int64_t now_ms, int64_t producer_expiration_ms);
  // Flushes and closes the log (clean-shutdown marker), then snapshots the producer state.
  io::Task<void> close();
  // Deletes everything on disk (after close()).
  static io::Task<Result<void>> remove_files(log::FileSystem& fs, const std::string& dir);

 private:
  Traffic traffic_;
  Partition(log::FileSystem& fs, std::string dir, std::string topic, int32_t index,
            std::unique_ptr<log::PartitionLog> log);
  void wake_watchers();
  // Appends a validated batch and records it in the producer table; false (out.error set) when
  // the log refuses it.
  // Feeds the transaction index with a transactional data batch or marker at `base_offset`.
  void observe_transaction(const log::BatchHeader& h, std::span<const std::byte> batch, int64_t base_offset);
  bool append_and_record(std::span<const std::byte> batch, const log::BatchHeader& h, const broker::BatchIdentity& id,
                         ProduceOutcome& out);
  io::Task<void> restore_producer_state();
  io::Task<ListOffsetOutcome> find_offset(int64_t timestamp_ms, Isolation isolation);
  void request_flush();
  io::Task<void> flush_loop();
  // After an append: flush now (request_flush), or, with appended visibility, group the
  // background sync by time and bytes (LogConfig::background_sync_*): nobody waits for it then
  // except acks=-1, whose wait_durable() flushes by itself.
  void request_background_sync();
  bool sync_can_wait() const;
  // Keeps the log's written window ahead of the tail (one step at a time, in the background).
  void start_window_extender();
  io::Task<void> window_extender();
  // Snapshots: noticed after every operation that can roll or delete segments.
  void note_segment_changes();
  void capture_snapshot();
  void start_snapshot_writer();
  io::Task<void> snapshot_writer();
  void report_snapshot_error(const char* what, const Error& e);

  std::string topic_;
  int32_t index_;
  unsigned owner_shard_;
  std::unique_ptr<log::PartitionLog> log_;
  broker::ProducerStateTable producers_;
  broker::TxnIndex txns_;  // open and aborted transactions; saved in the producer snapshots
  // Producers the coordinator admitted to write transactionally here, with their epoch. Bounded
  // by the transactions in progress (only the coordinator adds; markers remove).
  std::unordered_map<int64_t, int16_t> admitted_;
  broker::ProducerSnapshotStore snapshots_;
  ProducerStateRestore restore_;
  // A snapshot captured at a roll (encoded at once, since the table moves on), written by
  // snapshot_writer() once the log's durable end reaches its offset.
  struct PendingSnapshot {
    int64_t offset = 0;
    std::vector<std::byte> bytes;
    uint64_t producer_state_changes = 0;
  };
  std::optional<PendingSnapshot> pending_snapshot_;
  bool snapshot_writer_running_ = false;
  bool prune_requested_ = false;
  bool snapshot_error_reported_ = false;
  // What the last look at the segments saw: a roll shows as a new active segment base offset.
  std::size_t seen_segment_count_ = 0;
  int64_t seen_active_base_offset_ = 0;
  int64_t seen_log_start_offset_ = 0;
  // Producer-table changes (records, expiries) and the count the newest snapshot file reflects,
  // so a close with nothing new since the last snapshot writes none.
  uint64_t producer_state_changes_ = 0;
  uint64_t bytes_since_snapshot_ = 0;  // appended since the last capture
  uint64_t snapshot_interval_bytes_ = kProducerSnapshotIntervalBytes;
  int64_t snapshot_on_disk_offset_ = -1;
  uint64_t snapshot_on_disk_changes_ = 0;
  DataWatch* watch_head_ = nullptr;  // long polls on this partition, woken when the high watermark moves
  std::size_t watch_count_ = 0;
  io::Event activity_done_;  // pulsed when the flusher or the last read in flight finishes
  bool flush_running_ = false;
  bool window_extender_running_ = false;
  bool cleaner_running_ = false;  // close() waits for it; it stops at its next slice
  io::Task<void> run_cleaner(int64_t now_ms);
  io::Timer sync_timer_;  // armed while an appended-visibility sync waits for its interval
  bool closing_ = false;
  int64_t flush_errors_ = 0;
  // Fetches and timestamp lookups suspended in a disk read: close() waits for them, since the
  // log's segments (and their memory tail) go away when it closes.
  int reads_in_flight_ = 0;
  struct ReadGuard;
};

}  // namespace sluice::core
