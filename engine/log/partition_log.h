#pragma once
// PartitionLog: the durable log of one topic-partition. Owned by one shard; not thread-safe.
//
// append() is synchronous and in memory: it validates the batch, assigns offsets and copies it
// (with the patched header) into the log's 4 KiB-aligned tail buffers. flush() writes the dirty
// tail pages (rewriting the partial last page in place) and fdatasyncs: that is what makes
// batches durable. Group commit: concurrent flush() callers share the sync in flight or the next
// one. By default the high watermark follows the durable offset, so readers never see a batch
// that a crash could take back (LogConfig::visible_before_sync trades that for latency).
//
// On disk, per partition directory:
//   <20-digit base offset>.log  RecordBatch v2 frames back to back, exactly as on the wire;
//                               reserved ahead in growing steps; zeros after the last batch
//                               mark the end
//   <base>.idx                  sparse offset index: (u32 relative offset, u32 position) BE
//   <base>.tix                  sparse time index: (i64 max timestamp so far, u32 relative
//                               offset, u32 position) BE, one entry when the max grows
//   .clean_shutdown             written by close(); lets the next open skip recovery
// Index entries are written (unsynced, page cache) only for batches already durable, so an index
// entry found after a crash never points past durable data. Sealed (non-last) segments have
// their exact size and synced indexes before the next segment file is created.
//
// File descriptors: the active segment keeps its three files open. A sealed segment keeps none:
// its index is in memory, and its .log reopens on demand for readers and stays open only while
// it is among the max_open_sealed_segments() most recently read sealed segments of this thread
// (shard), or while a read is in flight on it.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "alloc/iobuf.h"
#include "alloc/result.h"
#include "engine/log/async_sync.h"
#include "engine/log/clock.h"
#include "engine/log/file_io.h"
#include "engine/log/log_error.h"
#include "engine/log/record_batch.h"
#include "engine/metrics/histogram.h"
#include "io/task.h"

namespace sluice::log {

struct LogConfig {
  // Kafka topic configs.
  uint64_t segment_bytes = 1ull << 30;                           // segment.bytes
  int64_t segment_ms = 7LL * 24 * 3600 * 1000;                   // segment.ms
  int64_t retention_bytes = -1;                                  // retention.bytes (-1 = unlimited)
  int64_t retention_ms = 7LL * 24 * 3600 * 1000;                 // retention.ms (-1 = unlimited)
  int64_t flush_messages = std::numeric_limits<int64_t>::max();  // flush.messages
  int64_t flush_ms = std::numeric_limits<int64_t>::max();        // flush.ms
  bool log_append_time = false;                                  // message.timestamp.type=LogAppendTime
  uint32_t max_message_bytes = 1048588;                          // max.message.bytes
  uint32_t index_interval_bytes = 4096;                          // index.interval.bytes
  // sluice.visibility: false = "durable" (high watermark follows the synced offset, default),
  // true = "appended" (visible once in the memory tail; a crash may take it back).
  bool visible_before_sync = false;
  // Written into every appended batch's partitionLeaderEpoch and recorded in the leader-epoch
  // cache (leader_epochs()). Fixed while the log is open (update_config keeps the open value);
  // a log opened with a higher epoch than its cache's last records where the new epoch starts.
  int32_t leader_epoch = 0;
  // cleanup.policy: `compact` runs the cleaner (clean()) and refuses records without a key;
  // `delete` applies retention.bytes / retention.ms. Both may be on ("compact,delete").
  bool compact = false;
  bool retention_delete = true;
  double min_cleanable_dirty_ratio = 0.5;                               // min.cleanable.dirty.ratio
  int64_t min_compaction_lag_ms = 0;                                    // min.compaction.lag.ms
  int64_t max_compaction_lag_ms = std::numeric_limits<int64_t>::max();  // max.compaction.lag.ms
  int64_t delete_retention_ms = 24LL * 3600 * 1000;                     // delete.retention.ms (tombstones)

  // Sluice limits.
  // Disk space is reserved ahead of the data of the active segment (fallocate, or zeros with
  // `prezero`) so a sync rarely pays for extent allocation. A new segment reserves only
  // preallocate_initial_bytes (an idle partition costs little disk, and a full disk is found
  // when data comes, not when thousands of empty partitions are created); every later step
  // reserves as much again as the segment already has (geometric growth), at most
  // preallocate_bytes per step and never past segment.bytes.
  uint64_t preallocate_bytes = 16u << 20;          // largest reservation step
  uint64_t preallocate_initial_bytes = 64u << 10;  // first reservation of a new segment
  // Reserve segment space by writing zeros instead of fallocate. fallocate leaves unwritten
  // extents, and the first fdatasync after data lands in one must also commit the extent
  // conversion to the journal (here ~190 us instead of ~90 us per durable append). Zeroing makes
  // every later sync a pure data sync, at the price of writing each block twice. Off in the
  // broker: measured end to end (sluice-bench, 10k msg/s acks=-1) it changed nothing here, since
  // the fsync's hop to io_uring's worker thread and the shard wake-ups dominate.
  bool prezero = false;
  // The written window: blocks ahead of the active segment's tail that are already written
  // (zeros) and synced, kept up by extend_written_window() off the produce path (the owner runs
  // it in the background when written_window_low()). A flush whose pages fall inside the window
  // commits no extent conversion and no size change, so its sync is a pure data sync; with
  // durable_write_dsync it is the write itself (RWF_DSYNC), with no separate fdatasync. 0 = off
  // (the window is then only what flushes wrote). The window grows with the segment's data
  // (at least one step, at most this), so a quiet partition costs little disk.
  uint64_t prezero_ahead_bytes = 0;
  uint32_t prezero_step_bytes = 256u << 10;  // one background zero write (then one sync)
  // Inside the written window, write data pages with RWF_DSYNC instead of write + fdatasync.
  bool durable_write_dsync = false;
  // The owner's background-sync policy for appended visibility (the log never syncs by itself):
  // with visible_before_sync, the sync after acks=0/1 appends waits up to this long, or until
  // this many bytes are unflushed, so one sync covers many appends. 0 = sync after every append
  // (whenever no sync is in flight). acks=-1 is not delayed: wait_durable() flushes at once.
  int64_t background_sync_interval_ms = 0;
  uint64_t background_sync_bytes = 1u << 20;
  uint32_t tail_chunk_bytes = 256u << 10;         // tail buffer unit (multiple of 4 KiB)
  uint64_t tail_cache_bytes = 1u << 20;           // flushed tail bytes kept in memory for readers
  uint64_t max_unflushed_bytes = 64u << 20;       // appends beyond this fail (back-pressure)
  uint32_t read_window_bytes = 64u << 10;         // aligned read size for disk reads and scans
  uint64_t index_sync_interval_bytes = 4u << 20;  // sync the active index every so much data
  uint32_t max_segments = 100000;
  // Cleaner: memory of its key -> offset map (one per run; runs are one at a time per shard), and
  // the bytes it reads between two yields to the shard's run loop (CleanOptions::yield).
  uint64_t cleaner_map_bytes = 8u << 20;
  uint32_t cleaner_slice_bytes = 64u << 10;
};

// One run of the cleaner (PartitionLog::clean).
struct CleanOptions {
  int64_t now_ms = 0;
  // Only segments whose offsets are all below this are cleaned (the owner passes the last stable
  // offset: an open transaction's records are left alone).
  int64_t max_offset = std::numeric_limits<int64_t>::max();
  bool force = false;  // ignore min.cleanable.dirty.ratio
  // Awaited after every cleaner_slice_bytes read: the owner returns to its run loop there, so
  // produce and fetch never wait behind more than one slice. Capture-less (it outlives nothing).
  io::Task<void> (*yield)() = nullptr;
  // Polled at every slice: true abandons the run (a close); nothing is swapped in then.
  std::function<bool()> should_stop;
  // An idempotent producer's batch that loses all its records stays as an empty batch when this
  // says it is the producer's newest one (its sequence must survive a restart's replay).
  std::function<bool(int64_t producer_id, int64_t base_offset)> newest_of_producer;
  // Tests: return right after this step of a segment swap (1..4, see partition_log_cleaner.cc)
  // as if the process died there; the log object must be dropped afterwards, not used.
  int stop_after_step = -1;
};

struct CleanResult {
  bool ran = false;  // false: nothing cleanable, or below min.cleanable.dirty.ratio
  uint32_t segments_rewritten = 0;
  uint64_t bytes_read = 0;     // segment bytes read: mapping the dirty ones, then rewriting all
  uint64_t bytes_written = 0;  // bytes of the rewritten segments swapped in
  uint64_t records_removed = 0;
  int64_t first_dirty_offset = 0;  // after the run: what the next run starts mapping from
  int64_t tombstone_horizon_ms = std::numeric_limits<int64_t>::max();  // earliest kept tombstone's
};

// Checks ranges (segment_bytes in [4 KiB, 2 GiB), chunk multiple of 4 KiB, ...).
Result<void> validate_config(const LogConfig& c);

struct AppendResult {
  int64_t base_offset = -1;
  int64_t last_offset = -1;
  int64_t log_append_time_ms = -1;  // -1 with CreateTime
  int64_t log_start_offset = 0;
  bool flush_due = false;  // flush.messages / flush.ms reached: the owner should flush()
};

struct ReadResult {
  alloc::IoBuf batches;  // whole batches; tail data shares the log's buffers
  int64_t high_watermark = 0;
  int64_t log_start_offset = 0;
};

struct LogStats {
  uint64_t flushes = 0;                  // do_flush runs (each ends with >= 1 datasync)
  uint64_t syncs = 0;                    // datasyncs issued by the log
  uint64_t recovered_bytes_scanned = 0;  // bytes read by recovery at open
  bool opened_clean = false;             // open() found a valid clean-shutdown marker
  bool recovery_cut_tail = false;        // recovery found a torn/corrupt batch and cut the file there
  uint64_t index_write_errors = 0;
  uint64_t tail_chunk_allocations = 0;
  uint64_t segment_opens = 0;  // lazy reopens of sealed segments' .log files
  // Written window (LogConfig::prezero_ahead_bytes):
  uint64_t window_misses = 0;  // active-segment flushes that wrote past the window (old path)
  uint64_t zeroed_bytes = 0;   // zeros written ahead by extend_written_window
  uint64_t dsync_writes = 0;   // data writes made durable by RWF_DSYNC (no fdatasync)
  // For the metrics endpoint: each datasync of segment data, and the records each flush (group
  // commit) made durable.
  metrics::LatencyHistogram sync_latency_ns;
  metrics::CountHistogram records_per_flush;
  // Cleaner (compaction).
  uint64_t cleaner_runs = 0;
  uint64_t cleaner_bytes_read = 0;
  uint64_t cleaner_bytes_written = 0;
  uint64_t cleaner_records_removed = 0;
  uint64_t cleaner_segments_rewritten = 0;
  int64_t cleaner_last_run_ms = 0;  // duration of the last run that rewrote or mapped anything
  // open() found a cleaner's swap cut short: committed ones completed, uncommitted files removed.
  uint64_t cleaner_swaps_completed = 0;
  uint64_t cleaner_files_discarded = 0;
};

struct Segment;  // internal
// One rename of the cleaner's swap: file extensions after the base offset, e.g. "log.swap".
struct RenamePair {
  const char* from = nullptr;
  const char* to = nullptr;
};
class OffsetMap;  // log_cleaner.h

// One entry of the leader-epoch cache (Kafka's leader-epoch-checkpoint): the first offset
// written under `epoch`.
struct EpochEntry {
  int32_t epoch = 0;
  int64_t start_offset = 0;
  bool operator==(const EpochEntry&) const = default;
};

// OffsetForLeaderEpoch's answer: the largest epoch <= the requested one and the offset where it
// ended; both -1 (Kafka's UNDEFINED_EPOCH / UNDEFINED_EPOCH_OFFSET) when the log cannot say.
struct EpochEndOffset {
  int32_t epoch = -1;
  int64_t end_offset = -1;
};

// ListOffsets special timestamps.
inline constexpr int64_t kLatestTimestamp = -1;
inline constexpr int64_t kEarliestTimestamp = -2;
inline constexpr int64_t kMaxTimestamp = -3;  // the record with the largest timestamp (KIP-734)

class PartitionLog {
 public:
  static io::Task<Result<std::unique_ptr<PartitionLog>>> open(FileSystem& fs, std::string dir, LogConfig config,
                                                              Clock& clock);
  // Deletes the partition directory and everything in it.
  static io::Task<Result<void>> remove(FileSystem& fs, std::string dir);

  ~PartitionLog();
  PartitionLog(const PartitionLog&) = delete;
  PartitionLog& operator=(const PartitionLog&) = delete;

  // Validates one RecordBatch v2 (CRC, lengths, counts, max.message.bytes), assigns offsets and
  // places it in the memory tail. No I/O, no heap allocation in steady state.
  Result<AppendResult> append(std::span<const std::byte> one_batch);
  // The same validation append() does, with this log's limits, without appending: the owner runs
  // it before it touches any state derived from the batch (producer state), then appends with
  // append_validated() so the batch is checked exactly once.
  Result<BatchHeader> validate(std::span<const std::byte> one_batch) const;
  // The same checks for a batch a coordinator wrote (a transaction marker): control batches
  // pass here and only here, so a client can never append one.
  Result<BatchHeader> validate_control(std::span<const std::byte> one_batch) const;
  // Appends a batch that validate() accepted; `header` is what it returned.
  Result<AppendResult> append_validated(std::span<const std::byte> one_batch, BatchHeader header);

  // Makes everything appended before the call durable (writes dirty pages, datasync).
  io::Task<Result<void>> flush();
  // Completes once the record at `offset` is durable (durable_end_offset() > offset).
  io::Task<Result<void>> wait_durable(int64_t offset);

  // Written window (LogConfig::prezero_ahead_bytes): true when the active segment's window is at
  // least one step short of its target and no extension is in flight. The owner then runs
  // extend_written_window() in the background (never on the produce path), in a loop while this
  // stays true, and lets it finish before close().
  bool written_window_low() const noexcept;
  // One step: writes prezero_step_bytes of zeros after the window and syncs them. Runs beside
  // flushes (disjoint pages); a flush that needs those pages, a roll, truncate_to and close wait
  // for it. Errors leave the window as it was (the flush path falls back to reserve + sync).
  io::Task<Result<void>> extend_written_window();

  int64_t log_start_offset() const noexcept { return log_start_; }
  int64_t log_end_offset() const noexcept { return log_end_; }
  int64_t durable_end_offset() const noexcept { return durable_end_; }
  int64_t high_watermark() const noexcept { return hw_; }

  // Whole batches starting with the one containing `offset`, up to max_bytes (at least one
  // batch), only batches with base offset < max_offset_exclusive (pass high_watermark() for
  // consumers). OFFSET_OUT_OF_RANGE outside [log_start, log_end].
  io::Task<Result<ReadResult>> read(int64_t offset, std::size_t max_bytes,
                                    int64_t max_offset_exclusive = std::numeric_limits<int64_t>::max());

  // First offset below the high watermark whose record timestamp is >= ts_ms (batch-level for
  // compressed / LogAppendTime batches), -1 if none. kEarliestTimestamp -> log start,
  // kLatestTimestamp -> high watermark.
  io::Task<Result<int64_t>> offset_for_timestamp(int64_t ts_ms);
  // The largest record timestamp in the log (every appended batch, visible or not), -1 if none.
  // offset_for_timestamp of it is the first record carrying it (ListOffsets kMaxTimestamp).
  io::Task<Result<int64_t>> max_timestamp();

  // Compaction (LogConfig::compact): when the dirty part of the closed segments reaches
  // min.cleanable.dirty.ratio (or max.compaction.lag.ms passed), maps every key of the dirty
  // segments to its latest offset, then rewrites each closed segment keeping only the latest
  // record per key (offsets preserved, see log_cleaner.h). Each rewritten segment is written to
  // <base>.log.cleaned (+ indexes), synced, and swapped in by renames through .swap names that
  // open() completes or discards after a crash. The active segment is never touched. Readers
  // keep reading a segment they started on (its open file); later reads see the new one. One
  // run at a time; returns at once (ran = false) when another is in progress.
  io::Task<Result<CleanResult>> clean(CleanOptions options);
  // Deletes whole sealed segments beyond retention.bytes / retention.ms; moves the log start.
  io::Task<Result<void>> apply_retention(int64_t now_ms);
  // Deletes whole sealed segments all of whose offsets are below `offset` and moves the log
  // start to the first remaining segment (how internal partitions drop what a snapshot replaced).
  io::Task<Result<void>> delete_segments_below(int64_t offset);
  // DeleteRecords: moves the log start offset forward to `offset` (at most the high watermark;
  // OFFSET_OUT_OF_RANGE past it or below 0), durably (the partition-state file is written and
  // synced before it returns), then deletes the whole segments below it. An offset at or below
  // the current start changes nothing. Returns the log start offset after the call. Reads below
  // it answer OFFSET_OUT_OF_RANGE; the segment holding it keeps its earlier batches on disk.
  io::Task<Result<int64_t>> advance_log_start(int64_t offset);
  // The leader-epoch cache, oldest first: never empty; without a partition-state file (every
  // log written before epochs were recorded, always under epoch 0) it is {0, log start}.
  const std::vector<EpochEntry>& leader_epochs() const noexcept { return epochs_; }
  int32_t leader_epoch() const noexcept { return config_.leader_epoch; }
  // The epoch the record at `offset` was (or, at the log end, will be) written under.
  int32_t epoch_for_offset(int64_t offset) const noexcept;
  // Kafka's LeaderEpochFileCache.endOffsetFor: the current epoch ends at the log end; an older
  // one where the next higher epoch starts (answered with the largest epoch <= the requested);
  // undefined (-1, -1) for -1 or an epoch newer than the current one.
  EpochEndOffset end_offset_for_epoch(int32_t requested) const;
  // Bytes of every segment (sealed segments' sizes learned without keeping them open).
  io::Task<Result<uint64_t>> size_bytes();
  // Seals the active segment now (if not empty) so everything before it can be deleted.
  io::Task<Result<void>> roll_now(int64_t now_ms);
  // Rolls the active segment when it is older than segment.ms (and not empty).
  io::Task<Result<void>> roll_if_needed(int64_t now_ms);
  // Removes every batch with an offset >= `offset` (the batch containing it goes entirely).
  io::Task<Result<void>> truncate_to(int64_t offset);
  // Flushes, writes complete indexes and the clean-shutdown marker. The log is unusable after.
  // It needs no new disk space beyond what unflushed data needs: on a full disk (ENOSPC) it
  // returns the error without the marker, every durable batch stays on disk, and the next
  // open() recovers.
  io::Task<Result<void>> close();

  // Visits durable-or-not batches with base offset in [from_offset, to_offset_exclusive) in
  // order (e.g. to rebuild producer state). The visitor returns false to stop. Returns the
  // offset after the last visited batch.
  using BatchVisitor = std::function<bool(const BatchView&)>;
  io::Task<Result<int64_t>> scan(int64_t from_offset, int64_t to_offset_exclusive, const BatchVisitor& visitor);

  void set_on_high_watermark(std::function<void(int64_t)> cb) { on_hw_ = std::move(cb); }
  Result<void> update_config(const LogConfig& c);
  const LogConfig& config() const noexcept { return config_; }
  bool flush_due(int64_t now_ms) const noexcept;
  std::size_t segment_count() const noexcept { return segments_.size(); }
  std::vector<int64_t> segment_base_offsets() const;
  const LogStats& stats() const noexcept { return stats_; }
  uint64_t unflushed_bytes() const noexcept { return unflushed_bytes_; }

  // Thread-wide (per shard) bound on sealed segments whose .log stays open for readers, shared
  // by every log of the calling thread; least recently used ones close first, never one with a
  // read in flight. Default 64, minimum 1.
  static void set_max_open_sealed_segments(std::size_t n);
  static std::size_t max_open_sealed_segments();
  static std::size_t open_sealed_segments();  // of the calling thread

 private:
  PartitionLog(FileSystem& fs, std::string dir, LogConfig config, Clock& clock);
  friend class SegmentReader;

  io::Task<Result<void>> load();
  io::Task<Result<void>> recover_swaps(const std::vector<std::string>& names, bool* changed);
  struct ReadScan {
    int64_t skip_to = -1;      // nothing at or after the offset in its segment: go on from here
    int64_t next_offset = -1;  // after the last batch returned
    uint32_t records = 0;      // batches returned with records (or control batches)
  };
  io::Task<Result<ReadResult>> read_once(int64_t offset, std::size_t max_bytes, int64_t max_offset_exclusive,
                                         ReadScan* scan);
  // The cleaner (partition_log_cleaner.cc).
  struct CleanPlan;
  io::Task<Result<bool>> plan_clean(const CleanOptions& o, CleanPlan& plan);
  io::Task<Result<void>> map_dirty(const CleanOptions& o, CleanPlan& plan, OffsetMap& map, CleanResult& res);
  io::Task<Result<void>> clean_segment(const CleanOptions& o, Segment& s, const OffsetMap& map, CleanResult& res);
  io::Task<Result<void>> swap_in(const CleanOptions& o, Segment& old, std::unique_ptr<Segment> fresh);
  io::Task<Result<void>> rename_step(const CleanOptions& o, int step, int64_t base, RenamePair first,
                                     RenamePair second = {});
  io::Task<void> cleaner_yield(const CleanOptions& o, uint64_t& since_yield_bytes, uint64_t n);
  io::Task<Result<void>> do_flush();
  io::Task<Result<void>> create_segment_files(Segment& s, bool reserve_space);
  io::Task<Result<void>> write_pages(Segment& s, uint64_t from, uint64_t to, bool durable_writes);
  io::Task<void> wait_zeroing();
  uint64_t window_target(const Segment& s) const noexcept;
  io::Task<Result<void>> reserve(File& f, uint64_t from, uint64_t to);
  io::Task<Result<void>> drop_oldest_segment();
  io::Task<Result<void>> seal(Segment& s, uint64_t size_bytes);
  io::Task<Result<void>> ensure_open(Segment& s, bool keep_open = true);
  void close_sealed(Segment& s);
  uint64_t next_reservation(const Segment& s, uint64_t end) const;
  io::Task<Result<void>> ensure_indexes(Segment& s, bool locked);
  io::Task<Result<void>> load_index_files(Segment& s, bool* valid);
  io::Task<Result<void>> rebuild_indexes(Segment& s);
  io::Task<Result<void>> recover_tail(Segment& s, uint64_t limit);
  io::Task<Result<void>> consume_clean_marker();
  io::Task<Result<void>> fill_tail_hole(Segment& s);
  io::Task<Result<void>> persist_indexes(Segment& s, bool full, std::span<std::byte> scratch);
  io::Task<Result<bool>> read_clean_marker(const Segment& active);
  io::Task<Result<void>> write_clean_marker();
  io::Task<Result<void>> delete_segment_files(int64_t base);
  // The partition-state file (.partition_state: log start offset and leader epochs).
  io::Task<Result<void>> load_partition_state(bool file_listed);
  io::Task<Result<void>> write_partition_state(int64_t log_start, const std::vector<EpochEntry>& epochs);

  void roll_in_memory(int64_t now_ms);
  void index_batch(Segment& s, const BatchHeader& h, uint64_t pos);
  void copy_into_tail(Segment& s, uint64_t pos, std::span<const std::byte> bytes);
  void reserve_for_appends(Segment& s);
  std::span<std::byte> index_scratch();
  alloc::BufferRef take_chunk();
  void retire_chunks(Segment& s, bool all);
  void set_hw(int64_t v);
  Segment& active() noexcept { return *segments_.back(); }
  Segment* find_segment(int64_t offset) noexcept;
  std::string path(int64_t base, const char* ext) const;

  FileSystem& fs_;
  std::string dir_;
  LogConfig config_;
  Clock& clock_;
  std::vector<std::unique_ptr<Segment>> segments_;
  std::vector<std::unique_ptr<Segment>> graveyard_;  // removed but still pinned by a reader
  int64_t log_start_ = 0;
  std::vector<EpochEntry> epochs_;  // leader-epoch cache, see leader_epochs()
  int64_t log_end_ = 0;
  int64_t durable_end_ = 0;
  int64_t hw_ = 0;
  uint64_t unflushed_bytes_ = 0;
  int64_t appended_messages_ = 0;
  int64_t flushed_messages_ = 0;
  int64_t last_flush_ms_ = 0;
  std::optional<Error> storage_error_;
  bool closed_ = false;
  bool marker_on_disk_ = false;  // open() trusted a clean marker and left it: see consume_clean_marker
  bool flushing_ = false;
  bool zeroing_ = false;   // an extend_written_window step is in flight
  bool cleaning_ = false;  // a clean() run is in progress
  // The cleaner's first dirty offset: segments below it were cleaned with a map covering them
  // (memory only: after a restart the first run treats everything as dirty, which is merely
  // redundant work; a cleaning is idempotent).
  int64_t clean_end_ = 0;
  // The earliest delete horizon of the tombstones the last run kept: a run is due then, dirty or
  // not (KIP-534). Unknown after a restart, when the first run maps everything anyway.
  int64_t tombstone_horizon_ms_ = std::numeric_limits<int64_t>::max();
  WaitList zeroing_done_;
  uint64_t flush_generation_ = 0;
  std::optional<Error> last_flush_error_;
  AsyncMutex io_lock_;   // serialises flush / roll / retention / truncate / close I/O
  WaitList flush_done_;  // flush() callers waiting for the flush in flight
  std::vector<alloc::BufferRef> spare_chunks_;
  std::vector<std::byte> scratch_;  // index serialisation (index_scratch() sizes it on first use)
  std::function<void(int64_t)> on_hw_;
  LogStats stats_;
};

}  // namespace sluice::log
