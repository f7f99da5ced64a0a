#include "engine/core/partition.h"

#include "engine/log/log_error.h"
#include "io/logging.h"

namespace sluice::core {
namespace {
constexpr int kProducerStateSegmentsScanned = 2;

broker::BatchIdentity identity_of(const log::BatchHeader& h) {
  broker::BatchIdentity b;
  b.producer_id = h.producer_id;
  b.producer_epoch = h.producer_epoch;
  b.base_sequence = h.base_sequence;
  b.last_offset_delta = h.last_offset_delta;
  b.max_timestamp_ms = h.max_timestamp_ms;
  b.transactional = h.is_transactional();
  return b;
}
}  // namespace

namespace {
// Wakes every waiter, then arms the event again for the next occurrence.
void pulse(io::Event& e) {
  e.set();
  e.reset();
}

}  // namespace

Partition::Partition(log::FileSystem& fs, std::string dir, std::string topic, int32_t index,
                     std::unique_ptr<log::PartitionLog> log)
    : topic_(std::move(topic)),
      index_(index),
      owner_shard_(io::Shard::current().id()),
      log_(std::move(log)),
      snapshots_(fs, std::move(dir)) {
  // Only the fetches waiting on this partition re-check when its high watermark moves.
  log_->set_on_high_watermark([this](int64_t) { wake_watchers(); });
}

Partition::~Partition() {
  SLUICE_ASSERT(!flush_running_ && reads_in_flight_ == 0 && !snapshot_writer_running_);
  SLUICE_ASSERT(!window_extender_running_);
  wake_watchers();  // close() woke them already; a partition dropped without close() must not dangle
  SLUICE_ASSERT(watch_head_ == nullptr && watch_count_ == 0);
}

DataWatch::~DataWatch() {
  if (watched_) watched_->unwatch(this);
}

void Partition::watch(DataWatch* w, io::Event* wake) {
  io::Shard::current().assert_owner(owner_shard_);
  SLUICE_ASSERT(w->watched_ == nullptr && wake != nullptr);
  w->watched_ = this;
  w->wake_ = wake;
  w->prev_ = nullptr;
  w->next_ = watch_head_;
  if (watch_head_) watch_head_->prev_ = w;
  watch_head_ = w;
  watch_count_++;
}

void Partition::unwatch(DataWatch* w) {
  SLUICE_ASSERT(w->watched_ == this && watch_count_ > 0);
  if (w->prev_) w->prev_->next_ = w->next_;
  else watch_head_ = w->next_;
  if (w->next_) w->next_->prev_ = w->prev_;
  w->watched_ = nullptr;
  w->prev_ = w->next_ = nullptr;
  watch_count_--;
}

void Partition::wake_watchers() {
  // Unlinked before waking: a woken fetch may stop watching its other partitions, or this one
  // may close, before it runs.
  while (DataWatch* w = watch_head_) {
    io::Event* wake = w->wake_;
    unwatch(w);
    wake->set();
  }
}

struct Partition::ReadGuard {
  explicit ReadGuard(Partition& p) : p_(p) { p_.reads_in_flight_++; }
  ~ReadGuard() {
    if (--p_.reads_in_flight_ == 0) pulse(p_.activity_done_);
  }
  ReadGuard(const ReadGuard&) = delete;
  ReadGuard& operator=(const ReadGuard&) = delete;
  Partition& p_;
};

io::Task<Result<std::unique_ptr<Partition>>> Partition::open(log::FileSystem& fs, log::Clock& clock, std::string dir,
                                                             std::string topic, int32_t index, log::LogConfig config) {
  auto log = co_await log::PartitionLog::open(fs, dir, config, clock);
  if (!log.ok()) co_return log.error();
  std::unique_ptr<Partition> p(new Partition(fs, std::move(dir), std::move(topic), index, std::move(log.value())));
  const log::LogStats& ls = p->log_->stats();
  if (ls.recovery_cut_tail)
    logging::warn("{}-{}: recovery cut a torn or corrupt tail: the log now ends at offset {} ({} bytes scanned)",
                  p->topic_, p->index_, p->log_->log_end_offset(), ls.recovered_bytes_scanned);
  if (ls.cleaner_swaps_completed > 0 || ls.cleaner_files_discarded > 0)
    logging::info(
        "{}-{}: compaction interrupted by a stop: {} segment swap(s) completed, {} unfinished file(s) removed",
        p->topic_, p->index_, ls.cleaner_swaps_completed, ls.cleaner_files_discarded);
  co_await p->restore_producer_state();
  co_return p;
}

// The newest usable snapshot plus a replay of the batch headers after it: after a clean stop the
// replay is empty; after SIGKILL it covers what was appended since the last snapshot written (a
// roll, or every kProducerSnapshotIntervalBytes), on top of what the log's recovery already cut.
// Without a usable snapshot (first start, or every one lost or corrupt) the newest segments are
// replayed, as before snapshots existed.
io::Task<void> Partition::restore_producer_state() {
  const int64_t start = log_->log_start_offset();
  const int64_t end = log_->log_end_offset();
  // After a clean stop the snapshot written at close covers the log end: one file read, no
  // directory listing (5,000 partitions start in about the time the log itself needs). Otherwise
  // the directory is listed and the newest usable snapshot taken.
  std::optional<broker::DecodedProducerSnapshot> loaded =
      co_await snapshots_.load_exact(end, producers_.max_producers());
  Result<void> listed = ok_result();
  if (!loaded) {
    listed = co_await snapshots_.scan_directory();
    if (listed.ok()) loaded = co_await snapshots_.load_newest(start, end, producers_.max_producers());
    else report_snapshot_error("listing producer snapshots", listed.error());
  }
  int64_t from = start;
  if (loaded) {
    SLUICE_ASSERT(start <= loaded->offset && loaded->offset <= end);
    producers_ = std::move(loaded->table);
    txns_ = std::move(loaded->txns);
    from = loaded->offset;
    restore_.snapshot_offset = loaded->offset;
  } else {
    auto bases = log_->segment_base_offsets();
    if (bases.size() > static_cast<std::size_t>(kProducerStateSegmentsScanned))
      from = std::max(from, bases[bases.size() - kProducerStateSegmentsScanned]);
  }
  restore_.replayed_from_offset = from;
  if (from < end) {
    log::PartitionLog::BatchVisitor visit = [this](const log::BatchView& v) {
      producers_.record(identity_of(v.header), v.header.base_offset, v.header.max_timestamp_ms);
      observe_transaction(v.header, v.bytes, v.header.base_offset);
      restore_.batches_replayed++;
      return true;
    };
    auto r = co_await log_->scan(from, end, visit);
    if (!r.ok()) logging::warn("{}-{}: producer state rebuild stopped: {}", topic_, index_, r.error().describe());
  }
  // A close with nothing appended or expired since writes no new snapshot.
  if (loaded && restore_.snapshot_offset == end) snapshot_on_disk_offset_ = end;
  // Snapshots beyond the recovered end (the disk lost more than the log had synced) go before the
  // log can grow past them again; so do old ones. (After a start by exact name the first prune,
  // after the next snapshot write, lists the directory instead.)
  if (restore_.snapshot_offset != end && listed.ok() && snapshots_.prune_needed(start, end)) {
    auto pr = co_await snapshots_.prune(start, end);
    if (!pr.ok()) report_snapshot_error("deleting old producer snapshots", pr.error());
  }
  auto bases = log_->segment_base_offsets();
  SLUICE_ASSERT(!bases.empty());
  seen_segment_count_ = bases.size();
  seen_active_base_offset_ = bases.back();
  seen_log_start_offset_ = start;
}

io::Task<ProduceOutcome> Partition::produce(std::span<const std::byte> records) {
  io::Shard::current().assert_owner(owner_shard_);
  ProduceOutcome out;
  out.log_start_offset = log_->log_start_offset();
  if (closing_) {
    out.error = Errc::kNotOwner;  // closing: the client refreshes its metadata and retries
    co_return out;
  }
  log::BatchIterator it(records);
  auto first = it.next();
  if (!first.ok()) {
    out.error = to_errc(first.error());
    co_return out;
  }
  // Kafka's ProduceRequest.validateRecords (v3+): magic 0/1 is INVALID_RECORD (not the log's
  // UNSUPPORTED_FOR_MESSAGE_FORMAT); an unknown magic is a corrupt batch.
  if (const int8_t magic = first.value().header.magic; magic != 2) {
    out.error = magic == 0 || magic == 1 ? Errc::kInvalidRecord : Errc::kCorruptBatch;
    out.error_message = "Produce requests with version 3 or higher must contain record batches with magic version 2";
    co_return out;
  }
  if (!it.done()) {
    out.error = Errc::kInvalidRecord;
    out.error_message = "Produce requests with version 3 or higher must contain exactly one record batch";
    co_return out;
  }
  // The whole batch is validated (CRC, counts against the records, deltas, sizes) before any
  // state is derived from its header: a hostile header must never reach the producer table.
  auto validated = log_->validate(first.value().bytes);
  if (!validated.ok()) {
    out.error = to_errc(validated.error());
    out.error_message = validated.error().what;
    co_return out;
  }
  const log::BatchHeader& h = validated.value();
  broker::BatchIdentity id = identity_of(h);
  broker::SequenceVerdict verdict = producers_.check(id);
  if (verdict.check == broker::SequenceCheck::out_of_order) {
    out.error = Errc::kOutOfOrderSequence;
    co_return out;
  }
  if (verdict.check == broker::SequenceCheck::invalid_epoch) {
    out.error = Errc::kProducerFenced;
    co_return out;
  }
  // A transactional batch opens a transaction that only a coordinator's marker ends; one the
  // coordinator did not admit here would hold the last stable offset (and read_committed
  // consumers) forever. (A duplicate is already in the log: it is answered as before.)
  if (h.is_transactional() && verdict.check != broker::SequenceCheck::duplicate) {
    auto admitted = admitted_.find(h.producer_id);
    if (admitted == admitted_.end() || admitted->second != h.producer_epoch) {
      out.error = Errc::kInvalidTxnState;
      out.error_message = "transactional batch for a partition not in the producer's transaction";
      co_return out;
    }
  }
  int64_t last_offset = -1;
  if (verdict.check == broker::SequenceCheck::duplicate) {
    // Already in the log: answer with the original offset (and wait for its durability).
    out.base_offset = verdict.duplicate_base_offset;
    last_offset = verdict.duplicate_base_offset + h.last_offset_delta;
    if (log_->config().log_append_time) out.log_append_time_ms = verdict.duplicate_timestamp_ms;
  } else if (!append_and_record(first.value().bytes, h, id, out)) {
    co_return out;
  } else {
    last_offset = out.last_offset;
    traffic_.records_in += static_cast<uint64_t>(h.record_count);
    traffic_.bytes_in += first.value().bytes.size();
  }
  request_background_sync();
  out.last_offset = last_offset;
  out.log_start_offset = log_->log_start_offset();
  co_return out;
}

bool Partition::append_and_record(std::span<const std::byte> batch, const log::BatchHeader& h,
                                  const broker::BatchIdentity& id, ProduceOutcome& out) {
  auto r = log_->append_validated(batch, h);
  if (!r.ok()) {
    out.error = to_errc(r.error());
    if (log::is_log_error(r.error(), log::LogErrc::kTailFull)) request_flush();
    return false;
  }
  SLUICE_ASSERT(r->last_offset - r->base_offset == h.last_offset_delta);
  out.base_offset = r->base_offset;
  out.log_append_time_ms = r->log_append_time_ms;
  out.last_offset = r->last_offset;
  const int64_t ts = r->log_append_time_ms >= 0 ? r->log_append_time_ms : h.max_timestamp_ms;
  producers_.record(id, r->base_offset, ts);
  observe_transaction(h, batch, r->base_offset);
  producer_state_changes_++;
  // Cheap on the hot path: only a changed segment count (a size roll) looks further.
  bytes_since_snapshot_ += batch.size();
  if (log_->segment_count() != seen_segment_count_) note_segment_changes();
  if (bytes_since_snapshot_ >= snapshot_interval_bytes_) capture_snapshot();
  return true;
}

void Partition::observe_transaction(const log::BatchHeader& h, std::span<const std::byte> batch, int64_t base_offset) {
  if (!h.is_transactional() || h.producer_id < 0) return;
  if (!h.is_control()) {
    txns_.on_data(h.producer_id, base_offset);
    return;
  }
  auto marker = log::parse_control_batch(batch);
  // Control batches enter a log only through append_control(), which builds them: one that does
  // not parse is a corrupt segment that recovery let through; it ends nothing.
  if (!marker.ok()) {
    logging::error("{}-{}: unreadable transaction marker at offset {}", topic_, index_, base_offset);
    return;
  }
  txns_.on_marker(h.producer_id, marker->type == log::ControlType::kCommit, base_offset);
}

void Partition::admit_transaction(int64_t producer_id, int16_t epoch) {
  io::Shard::current().assert_owner(owner_shard_);
  SLUICE_ASSERT(producer_id >= 0 && epoch >= 0);
  // An older epoch never replaces a newer one (a late admission of a fenced producer).
  auto [it, inserted] = admitted_.emplace(producer_id, epoch);
  if (!inserted && it->second < epoch) it->second = epoch;
}

io::Task<ProduceOutcome> Partition::append_control(const log::ControlMarker& marker) {
  io::Shard::current().assert_owner(owner_shard_);
  SLUICE_ASSERT(marker.producer_id >= 0 && marker.producer_epoch >= 0);
  ProduceOutcome out;
  out.log_start_offset = log_->log_start_offset();
  if (closing_) {
    out.error = Errc::kNotOwner;
    co_return out;
  }
  // A marker from an older epoch than the producer's current one comes from a coordinator that
  // was superseded (Kafka: the marker is refused and nothing is written).
  if (marker.producer_epoch < producers_.epoch_of(marker.producer_id)) {
    out.error = Errc::kProducerFenced;
    co_return out;
  }
  const std::vector<std::byte> batch = log::build_control_batch(marker);
  auto validated = log_->validate_control(batch);
  SLUICE_ASSERT_MSG(validated.ok(), "a marker built here fails validation");
  const log::BatchHeader& h = validated.value();
  if (!append_and_record(batch, h, identity_of(h), out)) co_return out;
  SLUICE_ASSERT(out.last_offset == out.base_offset);
  // The transaction ended here: its producer writes transactionally again only once admitted.
  if (auto it = admitted_.find(marker.producer_id); it != admitted_.end() && it->second <= marker.producer_epoch)
    admitted_.erase(it);
  request_flush();
  out.log_start_offset = log_->log_start_offset();
  co_return out;
}

io::Task<bool> Partition::wait_durable(const ProduceOutcome& produced) {
  io::Shard::current().assert_owner(owner_shard_);
  SLUICE_ASSERT(produced.error == Errc::kOk && produced.last_offset >= produced.base_offset);
  auto d = co_await log_->wait_durable(produced.last_offset);
  co_return d.ok();
}

// Group commit: one flush at a time; appends that arrive meanwhile are covered by the next one.
void Partition::request_flush() {
  if (flush_running_) return;
  flush_running_ = true;
  io::spawn(flush_loop());
}

io::Task<void> Partition::flush_loop() {
  while (log_->unflushed_bytes() > 0 || log_->durable_end_offset() < log_->log_end_offset()) {
    auto r = co_await log_->flush();
    if (!r.ok()) {
      // Storage error (ENOSPC, EIO): the batches stay unacknowledged for acks=-1; retry on the next append.
      flush_errors_++;
      break;
    }
    // A snapshot captured at a roll may have just become durable in the log.
    if (pending_snapshot_) start_snapshot_writer();
    start_window_extender();
    // Appended visibility: what came in during that sync waits for its interval or bytes
    // instead of the next sync starting at once (one sync per append under load otherwise).
    if (log_->unflushed_bytes() > 0 && sync_can_wait()) {
      if (!sync_timer_.armed()) {
        sync_timer_.arm(std::chrono::milliseconds(log_->config().background_sync_interval_ms),
                        [this] { request_flush(); });
      }
      break;
    }
  }
  flush_running_ = false;
  if (pending_snapshot_) start_snapshot_writer();
  pulse(activity_done_);
}

bool Partition::sync_can_wait() const {
  const log::LogConfig& c = log_->config();
  if (!c.visible_before_sync || c.background_sync_interval_ms <= 0 || closing_) return false;
  if (log_->unflushed_bytes() >= c.background_sync_bytes) return false;
  // A snapshot captured at a roll is written only once the log is durable up to it.
  return !(pending_snapshot_ && pending_snapshot_->offset > log_->durable_end_offset());
}

void Partition::request_background_sync() {
  if (!sync_can_wait()) {
    sync_timer_.cancel();
    request_flush();
    return;
  }
  SLUICE_ASSERT(log_->config().visible_before_sync);
  // A sync in flight re-checks when it ends (flush_loop); otherwise the first append after a
  // sync starts the interval, and the ones after it join the same sync.
  if (flush_running_ || sync_timer_.armed()) return;
  sync_timer_.arm(std::chrono::milliseconds(log_->config().background_sync_interval_ms), [this] { request_flush(); });
}

void Partition::start_window_extender() {
  if (window_extender_running_ || closing_ || !log_->written_window_low()) return;
  window_extender_running_ = true;
  io::spawn(window_extender());
}

// One step at a time (a zero write and its sync), beside the flushes; close() waits for it.
io::Task<void> Partition::window_extender() {
  SLUICE_ASSERT(window_extender_running_);
  while (!closing_ && log_->written_window_low()) {
    auto r = co_await log_->extend_written_window();
    if (!r.ok()) break;  // e.g. a full disk: flushes fall back to reserving as they go
  }
  window_extender_running_ = false;
  pulse(activity_done_);
}

// After anything that can roll the active segment or delete old ones.
void Partition::note_segment_changes() {
  const int64_t start = log_->log_start_offset();
  if (log_->segment_count() == seen_segment_count_ && start == seen_log_start_offset_) return;
  auto bases = log_->segment_base_offsets();
  SLUICE_ASSERT(!bases.empty() && bases.back() <= log_->log_end_offset());
  seen_segment_count_ = bases.size();
  const bool rolled = bases.back() != seen_active_base_offset_;
  seen_active_base_offset_ = bases.back();
  if (start != seen_log_start_offset_) {
    // Retention moved the log start: snapshots below it describe deleted batches, and aborted
    // transactions below it have no records left to hide.
    seen_log_start_offset_ = start;
    txns_.drop_below(start);
    if (snapshots_.prune_needed(start, log_->log_end_offset())) {
      prune_requested_ = true;
      start_snapshot_writer();
    }
  }
  if (rolled) capture_snapshot();
}

// The table describes exactly the batches below the log end at any point where no produce is
// half-way (the append and its record() run without suspending), so it is encoded now, at that
// offset, and written once the log has made the offset durable.
void Partition::capture_snapshot() {
  if (closing_) return;
  const int64_t offset = log_->log_end_offset();
  pending_snapshot_ =
      PendingSnapshot{offset, broker::encode_snapshot(producers_, offset, txns_), producer_state_changes_};
  bytes_since_snapshot_ = 0;
  // Many producers make a big snapshot: then snapshot less often, so snapshots stay a small
  // fraction (at most 1/8) of what is written.
  snapshot_interval_bytes_ = std::max<uint64_t>(kProducerSnapshotIntervalBytes, 8 * pending_snapshot_->bytes.size());
  start_snapshot_writer();
  if (pending_snapshot_ && pending_snapshot_->offset > log_->durable_end_offset()) request_flush();
}

void Partition::start_snapshot_writer() {
  if (snapshot_writer_running_ || closing_) return;
  const bool write_ready = pending_snapshot_ && pending_snapshot_->offset <= log_->durable_end_offset();
  if (!write_ready && !prune_requested_) return;
  snapshot_writer_running_ = true;
  io::spawn(snapshot_writer());
}

// One snapshot file operation at a time. Never fails a produce: errors are reported once and
// otherwise ignored (the next start then replays more of the log).
io::Task<void> Partition::snapshot_writer() {
  SLUICE_ASSERT(snapshot_writer_running_);
  while (!closing_) {
    if (pending_snapshot_ && pending_snapshot_->offset <= log_->durable_end_offset()) {
      PendingSnapshot snap = std::move(*pending_snapshot_);
      pending_snapshot_.reset();
      auto w = co_await snapshots_.write(snap.offset, snap.bytes);
      if (w.ok()) {
        snapshot_on_disk_offset_ = snap.offset;
        snapshot_on_disk_changes_ = snap.producer_state_changes;
        prune_requested_ = true;
      } else {
        report_snapshot_error("writing a producer snapshot", w.error());
      }
      continue;
    }
    if (prune_requested_) {
      prune_requested_ = false;
      auto pr = co_await snapshots_.prune(log_->log_start_offset(), log_->log_end_offset());
      if (!pr.ok()) report_snapshot_error("deleting old producer snapshots", pr.error());
      continue;
    }
    break;
  }
  snapshot_writer_running_ = false;
  pulse(activity_done_);
}

void Partition::report_snapshot_error(const char* what, const Error& e) {
  if (snapshot_error_reported_) return;
  snapshot_error_reported_ = true;
  logging::error("{}-{}: {}: {} (reported once; a restart replays the log instead)", topic_, index_, what,
                 e.describe());
}

io::Task<FetchOutcome> Partition::fetch(int64_t offset, int32_t max_bytes, Isolation isolation) {
  io::Shard::current().assert_owner(owner_shard_);
  FetchOutcome out;
  if (closing_) {
    out.error = Errc::kNotOwner;  // shutting down (or deleted)
    co_return out;
  }
  ReadGuard guard(*this);
  out.high_watermark = log_->high_watermark();
  out.last_stable_offset = txns_.last_stable_offset(out.high_watermark);
  out.log_start_offset = log_->log_start_offset();
  if (offset < out.log_start_offset || offset > out.high_watermark) {
    out.error = Errc::kOffsetOutOfRange;
    co_return out;
  }
  // read_committed reads stop at the last stable offset: nothing of an open transaction.
  const int64_t bound = isolation == Isolation::kReadCommitted ? out.last_stable_offset : out.high_watermark;
  if (offset >= bound) co_return out;
  auto r = co_await log_->read(offset, static_cast<std::size_t>(std::max(max_bytes, 0)), bound);
  if (!r.ok()) {
    out.error = to_errc(r.error());
    co_return out;
  }
  out.records = std::move(r->batches);
  traffic_.bytes_out += out.records.size();
  // The aborted transactions with records in what may have been read (as Kafka, the bound is
  // where the read could end, not the exact last batch; the consumer matches them by producer id
  // and offset). The index is the one of now: a read that suspended saw no batch beyond `bound`.
  if (isolation == Isolation::kReadCommitted) txns_.aborted_in_range(offset, bound - 1, out.aborted);
  co_return out;
}

io::Task<ListOffsetOutcome> Partition::list_offset(int64_t timestamp_ms, Isolation isolation) {
  io::Shard::current().assert_owner(owner_shard_);
  ListOffsetOutcome out;
  if (closing_) {
    out.error = Errc::kNotOwner;
    co_return out;
  }
  ReadGuard guard(*this);
  ListOffsetOutcome found = co_await find_offset(timestamp_ms, isolation);
  if (found.error == Errc::kOk && found.offset >= 0) found.leader_epoch = log_->epoch_for_offset(found.offset);
  co_return found;
}

io::Task<ListOffsetOutcome> Partition::find_offset(int64_t timestamp_ms, Isolation isolation) {
  ListOffsetOutcome out;
  if (timestamp_ms == log::kLatestTimestamp) {
    out.offset = isolation == Isolation::kReadCommitted ? last_stable_offset() : log_->high_watermark();
    co_return out;
  }
  if (timestamp_ms == log::kEarliestTimestamp) {
    out.offset = log_->log_start_offset();
    co_return out;
  }
  if (timestamp_ms == log::kMaxTimestamp) {
    // As Kafka: the first record with the largest timestamp of the whole log, answered only if a
    // reader at this isolation level may see it.
    auto max = co_await log_->max_timestamp();
    if (!max.ok()) {
      out.error = to_errc(max.error());
      co_return out;
    }
    if (max.value() < 0) co_return out;
    auto at = co_await log_->offset_for_timestamp(max.value());
    if (!at.ok()) {
      out.error = to_errc(at.error());
      co_return out;
    }
    const bool visible =
        at.value() >= 0 && (isolation != Isolation::kReadCommitted || at.value() < last_stable_offset());
    if (visible) {
      out.offset = at.value();
      out.timestamp_ms = max.value();
    }
    co_return out;
  }
  auto r = co_await log_->offset_for_timestamp(timestamp_ms);
  if (!r.ok()) {
    out.error = to_errc(r.error());
    co_return out;
  }
  out.offset = r.value();
  if (out.offset >= 0) out.timestamp_ms = timestamp_ms;
  co_return out;
}

namespace {
// Between two cleaner slices: back to the shard's run loop, so produce and fetch requests that
// arrived meanwhile run before the next slice.
io::Task<void> cleaner_yield() { co_await io::YieldToLoop{}; }
}  // namespace

// Awaited by housekeeping, which visits the shard's partitions one at a time: at most one
// cleaner (and one key map, LogConfig::cleaner_map_bytes) per shard at any moment.
io::Task<void> Partition::run_cleaner(int64_t now_ms) {
  SLUICE_ASSERT(!cleaner_running_);
  cleaner_running_ = true;
  log::CleanOptions o;
  o.now_ms = now_ms;
  o.max_offset = last_stable_offset();  // an open transaction's records wait
  o.yield = &cleaner_yield;
  o.should_stop = [this] { return closing_; };
  o.newest_of_producer = [this](int64_t pid, int64_t base) { return producers_.newest_base_offset(pid) == base; };
  auto r = co_await log_->clean(std::move(o));
  if (!r.ok() && !closing_) logging::warn("{}-{}: cleaner: {}", topic_, index_, r.error().describe());
  if (r.ok() && r.value().segments_rewritten > 0)
    logging::info("{}-{}: compacted {} segments: {} -> {} bytes, {} records removed", topic_, index_,
                  r.value().segments_rewritten, r.value().bytes_read, r.value().bytes_written,
                  r.value().records_removed);
  SLUICE_ASSERT(cleaner_running_);
  cleaner_running_ = false;
  pulse(activity_done_);  // last: a close waiting for it may free this partition next
}

io::Task<void> Partition::housekeeping(int64_t now_ms, int64_t producer_expiration_ms) {
  if (closing_) co_return;
  auto roll = co_await log_->roll_if_needed(now_ms);
  if (!roll.ok()) logging::warn("{}-{}: roll: {}", topic_, index_, roll.error().describe());
  note_segment_changes();  // a segment.ms roll
  auto ret = co_await log_->apply_retention(now_ms);
  if (!ret.ok()) logging::warn("{}-{}: retention: {}", topic_, index_, ret.error().describe());
  note_segment_changes();
  if (log_->config().compact) co_await run_cleaner(now_ms);
  if (log_->flush_due(now_ms)) request_flush();
  const std::size_t producers_before = producers_.producer_count();
  producers_.expire(now_ms, producer_expiration_ms);
  if (producers_.producer_count() != producers_before) producer_state_changes_++;
}

io::Task<void> Partition::close() {
  closing_ = true;
  sync_timer_.cancel();  // the log's close() flushes everything anyway
  auto busy = [this] {
    return flush_running_ || reads_in_flight_ > 0 || snapshot_writer_running_ || window_extender_running_ ||
           cleaner_running_;
  };
  // While the shard stops, Event::wait returns after one pass of the run loop, which reaps the
  // flush's, the reads' and the snapshot writer's completions: this polls until they are done.
  while (busy()) (void)co_await activity_done_.wait(std::chrono::milliseconds(100));
  auto r = co_await log_->close();
  if (!r.ok()) logging::warn("{}-{}: close: {}", topic_, index_, r.error().describe());
  // The snapshot that makes the next start replay nothing; it supersedes one captured at a roll.
  // Only after the log's final flush succeeded: a snapshot never covers data that is not durable.
  pending_snapshot_.reset();
  const int64_t end = log_->log_end_offset();
  const bool unchanged = snapshot_on_disk_offset_ == end && snapshot_on_disk_changes_ == producer_state_changes_;
  if (r.ok() && log_->durable_end_offset() >= end && !unchanged) {
    std::vector<std::byte> bytes = broker::encode_snapshot(producers_, end, txns_);
    auto w = co_await snapshots_.write(end, bytes);
    if (w.ok()) {
      snapshot_on_disk_offset_ = end;
      snapshot_on_disk_changes_ = producer_state_changes_;
      auto pr = co_await snapshots_.prune(log_->log_start_offset(), end);
      if (!pr.ok()) report_snapshot_error("deleting old producer snapshots", pr.error());
    } else {
      report_snapshot_error("writing the producer snapshot at close", w.error());
    }
  }
  // Long polls on this partition answer now instead of at their deadline.
  wake_watchers();
}

io::Task<DeleteRecordsOutcome> Partition::delete_records(int64_t offset) {
  io::Shard::current().assert_owner(owner_shard_);
  DeleteRecordsOutcome out;
  if (closing_) {
    out.error = Errc::kNotOwner;
    co_return out;
  }
  ReadGuard guard(*this);  // close() waits for it: the log stays open meanwhile
  const int64_t target = offset == -1 ? log_->high_watermark() : offset;
  auto r = co_await log_->advance_log_start(target);
  note_segment_changes();  // snapshots and aborted transactions below the new start go
  if (!r.ok()) {
    out.error = to_errc(r.error());
    co_return out;
  }
  out.low_watermark = r.value();
  co_return out;
}

Errc Partition::check_leader_epoch(int32_t current_leader_epoch) const {
  if (current_leader_epoch < 0) return Errc::kOk;  // -1: the client does not know (or check) it
  const int32_t epoch = log_->leader_epoch();
  if (current_leader_epoch < epoch) return Errc::kFencedLeaderEpoch;
  if (current_leader_epoch > epoch) return Errc::kUnknownLeaderEpoch;
  return Errc::kOk;
}

EpochEndOutcome Partition::end_offset_for_epoch(int32_t current_leader_epoch, int32_t leader_epoch) const {
  io::Shard::current().assert_owner(owner_shard_);
  EpochEndOutcome out;
  if (closing_) {
    out.error = Errc::kNotOwner;
    return out;
  }
  out.error = check_leader_epoch(current_leader_epoch);
  if (out.error != Errc::kOk) return out;
  const log::EpochEndOffset e = log_->end_offset_for_epoch(leader_epoch);
  out.leader_epoch = e.epoch;
  out.end_offset = e.end_offset;
  return out;
}

io::Task<Result<uint64_t>> Partition::size_bytes() {
  io::Shard::current().assert_owner(owner_shard_);
  if (closing_) co_return log::log_error(log::LogErrc::kLogClosed, "partition closing");
  ReadGuard guard(*this);
  co_return co_await log_->size_bytes();
}

io::Task<Result<void>> Partition::drop_segments_below(int64_t offset, int64_t now_ms) {
  io::Shard::current().assert_owner(owner_shard_);
  auto rolled = co_await log_->roll_now(now_ms);
  note_segment_changes();
  if (!rolled.ok()) co_return rolled;
  auto deleted = co_await log_->delete_segments_below(offset);
  note_segment_changes();
  co_return deleted;
}

io::Task<Result<void>> Partition::remove_files(log::FileSystem& fs, const std::string& dir) {
  co_return co_await log::PartitionLog::remove(fs, dir);
}

}  // namespace sluice::core
