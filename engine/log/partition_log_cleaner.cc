// The log cleaner (compaction): PartitionLog::clean and the swap of rewritten segments.
//
// A run: plan (which closed segments, is it due), map (key digest -> latest offset over the
// dirty segments), then rewrite every cleanable segment up to the last mapped one, one at a time.
// Runs on the owner's shard beside produce and fetch: it takes no lock while it reads and
// rewrites (it pins the segment it reads), yields to the run loop every cleaner_slice_bytes, and
// holds io_lock_ only for the swap (a few renames and directory syncs per segment).
//
// The swap of segment <b>, each step ended by a directory sync (so a crash sees a prefix of them):
//   0  <b>.log.cleaned, <b>.idx.cleaned, <b>.tix.cleaned written and fdatasynced
//   1  <b>.idx.cleaned -> <b>.idx.swap, <b>.tix.cleaned -> <b>.tix.swap
//   2  <b>.log.cleaned -> <b>.log.swap            (commit point)
//   3  <b>.idx.swap -> <b>.idx, <b>.tix.swap -> <b>.tix
//   4  <b>.log.swap -> <b>.log                    (replaces the old segment)
// open() (recover_swaps): every .cleaned goes; a <b>.log.swap means committed: renames the
// index .swap files still there over the old ones, then the .log.swap over the old .log; index
// .swap files without a <b>.log.swap were never committed and go. So after a crash at any point
// the partition holds either the old segment with its indexes or the new one with its own (an
// index that is missing or stale is rebuilt from the data: ensure_indexes).
#include <chrono>

#include "engine/log/log_cleaner.h"
#include "engine/log/partition_log_internal.h"

namespace sluice::log {

namespace {
constexpr std::size_t kCleanerWriteBytes = 1u << 20;  // output buffered up to this, then written

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

struct PartitionLog::CleanPlan {
  std::vector<int64_t> bases;     // cleanable (closed, old enough, stable) segments, oldest first
  std::size_t first_dirty = 0;    // index in bases of the first segment not yet cleaned
  std::size_t rewrite_count = 0;  // bases[0, rewrite_count) are rewritten
  int64_t mapped_end = 0;         // offsets below it are all in the map: the next first dirty offset
};

io::Task<void> PartitionLog::cleaner_yield(const CleanOptions& o, uint64_t& since_yield_bytes, uint64_t n) {
  since_yield_bytes += n;
  if (since_yield_bytes < config_.cleaner_slice_bytes || o.yield == nullptr) co_return;
  since_yield_bytes = 0;
  co_await o.yield();
}

io::Task<Result<bool>> PartitionLog::plan_clean(const CleanOptions& o, CleanPlan& plan) {
  uint64_t total = 0;
  uint64_t dirty = 0;
  bool overdue = false;
  // Every segment but the active (and one waiting to be sealed) is closed and durable.
  for (std::size_t i = 0; i + 1 < segments_.size(); ++i) {
    Segment* s = segments_[i].get();
    if (!s->sealed || s->end_offset > o.max_offset || s->end_offset > durable_end_) break;
    Pin pin(s);
    auto r = co_await ensure_indexes(*s, false);
    if (!r) co_return r.error();
    if (!s->size_known) {
      r = co_await ensure_open(*s, false);
      if (!r) co_return r.error();
    }
    if (s->replaced || i >= segments_.size() || segments_[i].get() != s) co_return false;  // changed meanwhile
    if (s->max_timestamp_ms > o.now_ms - config_.min_compaction_lag_ms) break;
    plan.bases.push_back(s->base_offset);
    total += s->size_bytes;
    if (s->end_offset <= clean_end_) {
      plan.first_dirty = plan.bases.size();
      continue;
    }
    dirty += s->size_bytes;
    // max.compaction.lag.ms counts from the dirty part's oldest record; the segment's first
    // time-index entry is its first batch's max timestamp (index_batch always records it).
    const int64_t first_ts = s->time_index.empty() ? s->max_timestamp_ms : s->time_index.front().timestamp_ms;
    if (first_ts >= 0 && o.now_ms - first_ts > config_.max_compaction_lag_ms) overdue = true;
  }
  SLUICE_ASSERT(dirty <= total && plan.first_dirty <= plan.bases.size());
  const bool horizon_due = o.now_ms >= tombstone_horizon_ms_;
  if (plan.first_dirty == plan.bases.size()) co_return !plan.bases.empty() && (o.force || horizon_due);
  const double ratio = total == 0 ? 1.0 : static_cast<double>(dirty) / static_cast<double>(total);
  co_return o.force || overdue || horizon_due || ratio >= config_.min_cleanable_dirty_ratio;
}

io::Task<Result<void>> PartitionLog::map_dirty(const CleanOptions& o, CleanPlan& plan, OffsetMap& map,
                                               CleanResult& res) {
  SLUICE_ASSERT(plan.first_dirty <= plan.bases.size() && plan.rewrite_count == 0);
  uint64_t since_yield = 0;
  plan.rewrite_count = plan.first_dirty;  // the clean part is rewritten too (the map's keys may be there)
  for (std::size_t i = plan.first_dirty; i < plan.bases.size(); ++i) {
    Segment* s = find_segment(plan.bases[i]);
    if (s == nullptr || s->base_offset != plan.bases[i] || !s->sealed) co_return ok_result();  // retention/truncation
    Pin pin(s);
    auto r = co_await ensure_open(*s);
    if (!r) co_return r;
    SegmentReader rd(*s, s->size_bytes, config_.read_window_bytes);
    plan.rewrite_count = i + 1;
    uint64_t pos = 0;
    while (pos < s->size_bytes) {
      auto p = co_await rd.get(pos, kBatchHeaderBytes);
      if (!p) co_return p.error();
      if (!p.value()) co_return log_error(LogErrc::kCorruptLog, "cleaner: truncated batch header");
      auto h = parse_batch_header(std::span<const std::byte>(p.value(), kBatchHeaderBytes));
      if (!h || pos + h.value().size_bytes() > s->size_bytes)
        co_return log_error(LogErrc::kCorruptLog, "cleaner: bad batch");
      auto whole = co_await rd.get(pos, h.value().size_bytes());
      if (!whole) co_return whole.error();
      if (!whole.value()) co_return log_error(LogErrc::kCorruptLog, "cleaner: truncated batch");
      auto m = map_batch_keys(std::span<const std::byte>(whole.value(), h.value().size_bytes()), h.value(), map);
      if (!m) co_return m.error();
      if (!m.value()) {
        // Map full part-way: later runs go on from the next segment when earlier ones were whole;
        // a single segment with more keys than the map holds counts as mapped (progress over
        // completeness: duplicates in its unmapped tail stay until their keys are written again).
        if (i == plan.first_dirty) plan.mapped_end = s->end_offset;
        co_return ok_result();
      }
      pos += h.value().size_bytes();
      res.bytes_read += h.value().size_bytes();
      co_await cleaner_yield(o, since_yield, h.value().size_bytes());
      if (o.should_stop && o.should_stop()) co_return log_error(LogErrc::kLogClosed, "cleaner stopped");
    }
    plan.mapped_end = s->end_offset;
  }
  co_return ok_result();
}

io::Task<Result<CleanResult>> PartitionLog::clean(CleanOptions o) {
  if (closed_) co_return log_error(LogErrc::kLogClosed, "log closed");
  CleanResult res;
  res.first_dirty_offset = clean_end_;
  if (!config_.compact || cleaning_) co_return res;
  cleaning_ = true;
  struct Reset {
    bool& b;
    ~Reset() { b = false; }
  } reset{cleaning_};
  std::erase_if(graveyard_, [](const std::unique_ptr<Segment>& s) { return s->pins == 0; });
  clean_end_ = std::max(clean_end_, log_start_);
  CleanPlan plan;
  auto due = co_await plan_clean(o, plan);
  if (!due) co_return due.error();
  if (!due.value() || closed_) co_return res;
  const auto started = std::chrono::steady_clock::now();
  // One table per shard, reused run after run (runs are one at a time per shard: the owner
  // awaits them from its housekeeping; a second log's run meanwhile returns at once below).
  thread_local std::unique_ptr<OffsetMap> t_map;
  thread_local bool t_map_busy = false;
  if (t_map_busy) co_return res;
  if (!t_map || t_map->requested_bytes() != config_.cleaner_map_bytes)
    t_map = std::make_unique<OffsetMap>(config_.cleaner_map_bytes);
  else t_map->reset();
  t_map_busy = true;
  res.ran = true;
  struct Release {
    ~Release() { t_map_busy = false; }
  } release;
  OffsetMap& map = *t_map;
  auto m = co_await map_dirty(o, plan, map, res);
  if (!m) co_return m.error();
  SLUICE_ASSERT(plan.rewrite_count <= plan.bases.size());
  for (std::size_t i = 0; i < plan.rewrite_count && !closed_; ++i) {
    Segment* s = find_segment(plan.bases[i]);
    if (s == nullptr || s->base_offset != plan.bases[i] || !s->sealed) continue;  // retention took it
    auto r = co_await clean_segment(o, *s, map, res);
    if (!r) co_return r.error();
  }
  clean_end_ = std::max(clean_end_, plan.mapped_end);
  tombstone_horizon_ms_ = res.tombstone_horizon_ms;
  res.first_dirty_offset = clean_end_;
  stats_.cleaner_runs++;
  stats_.cleaner_bytes_read += res.bytes_read;
  stats_.cleaner_bytes_written += res.bytes_written;
  stats_.cleaner_records_removed += res.records_removed;
  stats_.cleaner_segments_rewritten += res.segments_rewritten;
  stats_.cleaner_last_run_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  co_return res;
}

namespace {

// Appends one batch (kept or rewritten) to the output and indexes it.
struct Output {
  std::vector<std::byte> buf;
  uint64_t file_pos = 0;  // where buf starts in the .cleaned file
  bool changed = false;
};

}  // namespace

io::Task<Result<void>> PartitionLog::clean_segment(const CleanOptions& o, Segment& s, const OffsetMap& map,
                                                   CleanResult& res) {
  SLUICE_ASSERT(s.sealed && !s.replaced);
  Pin pin(&s);
  auto r = co_await ensure_open(s);
  if (!r) co_return r;
  const std::string cleaned = path(s.base_offset, "log") + ".cleaned";
  auto file = co_await fs_.open(cleaned, OpenOptions{true, false});
  if (!file) co_return file.error();
  File& out_file = *file.value();
  r = co_await out_file.truncate(0);  // a leftover from an abandoned run
  if (!r) co_return r;
  auto fresh = std::make_unique<Segment>();
  fresh->base_offset = s.base_offset;
  fresh->end_offset = s.end_offset;
  fresh->created_ms = s.created_ms;
  SegmentReader rd(s, s.size_bytes, config_.read_window_bytes);
  Output out;
  uint64_t since_yield = 0;
  uint64_t pos = 0;
  while (pos < s.size_bytes) {
    auto p = co_await rd.get(pos, kBatchHeaderBytes);
    if (!p) co_return p.error();
    if (!p.value()) co_return log_error(LogErrc::kCorruptLog, "cleaner: truncated batch header");
    auto hp = parse_batch_header(std::span<const std::byte>(p.value(), kBatchHeaderBytes));
    if (!hp || pos + hp.value().size_bytes() > s.size_bytes)
      co_return log_error(LogErrc::kCorruptLog, "cleaner: bad batch");
    const BatchHeader h = hp.value();
    auto whole = co_await rd.get(pos, h.size_bytes());
    if (!whole) co_return whole.error();
    if (!whole.value()) co_return log_error(LogErrc::kCorruptLog, "cleaner: truncated batch");
    const std::span<const std::byte> batch(whole.value(), h.size_bytes());
    FilterParams fp{o.now_ms, config_.delete_retention_ms, false};
    if (h.producer_id >= 0 && o.newest_of_producer)
      fp.keep_if_empty = o.newest_of_producer(h.producer_id, h.base_offset);
    const std::size_t at = out.buf.size();
    auto f = filter_batch(batch, h, map, fp, out.buf);
    if (!f) co_return f.error();
    if (f.value().action == FilterAction::kKeep) out.buf.insert(out.buf.end(), batch.begin(), batch.end());
    out.changed = out.changed || f.value().action != FilterAction::kKeep;
    res.records_removed += static_cast<uint64_t>(f.value().records_removed);
    res.tombstone_horizon_ms = std::min(res.tombstone_horizon_ms, f.value().horizon_ms);
    if (out.buf.size() > at) {
      auto nh = parse_batch_header(std::span<const std::byte>(out.buf.data() + at, out.buf.size() - at));
      SLUICE_ASSERT(nh.ok() && nh.value().size_bytes() == out.buf.size() - at);
      index_batch(*fresh, nh.value(), out.file_pos + at);
    }
    if (out.buf.size() >= kCleanerWriteBytes) {
      auto w = co_await out_file.write(out.file_pos, out.buf);
      if (!w) co_return w.error();
      out.file_pos += out.buf.size();
      out.buf.clear();
    }
    pos += h.size_bytes();
    res.bytes_read += h.size_bytes();
    co_await cleaner_yield(o, since_yield, h.size_bytes());
    if (o.should_stop && o.should_stop()) co_return log_error(LogErrc::kLogClosed, "cleaner stopped");
  }
  if (!out.changed) {  // nothing to remove here: keep the segment as it is
    file.value().reset();
    co_return co_await fs_.remove(cleaned);
  }
  if (!out.buf.empty()) {
    auto w = co_await out_file.write(out.file_pos, out.buf);
    if (!w) co_return w.error();
    out.file_pos += out.buf.size();
  }
  r = co_await out_file.datasync();
  if (!r) co_return r;
  file.value().reset();
  fresh->size_bytes = fresh->durable_bytes = fresh->allocated_bytes = out.file_pos;
  SLUICE_ASSERT(fresh->end_offset == s.end_offset && fresh->base_offset == s.base_offset);
  res.bytes_written += out.file_pos;
  res.segments_rewritten++;
  co_return co_await swap_in(o, s, std::move(fresh));
}

io::Task<Result<void>> PartitionLog::rename_step(const CleanOptions& o, int step, int64_t base, RenamePair first,
                                                 RenamePair second) {
  for (const RenamePair& m : {first, second}) {
    if (m.from == nullptr) continue;
    auto r = co_await fs_.rename(path(base, m.from), path(base, m.to));
    if (!r) co_return r;
  }
  auto r = co_await fs_.sync_dir(dir_);
  if (!r) co_return r;
  if (o.stop_after_step == step) co_return make_error(EINTR, "cleaner stopped at a test's swap step");
  co_return ok_result();
}

io::Task<Result<void>> PartitionLog::swap_in(const CleanOptions& o, Segment& old, std::unique_ptr<Segment> fresh) {
  Segment& ns = *fresh;
  const int64_t base = ns.base_offset;
  // Step 0: the new segment's complete indexes (its final time-index entry as seal() writes it).
  if (ns.max_timestamp_ms >= 0 && (ns.time_index.empty() || ns.time_index.back().timestamp_ms < ns.max_timestamp_ms))
    ns.time_index.push_back(TimeIndexEntry{ns.max_timestamp_ms, ns.max_timestamp_rel, ns.max_timestamp_pos});
  auto idx = co_await fs_.open(path(base, "idx.cleaned"), OpenOptions{true, false});
  if (!idx) co_return idx.error();
  auto tix = co_await fs_.open(path(base, "tix.cleaned"), OpenOptions{true, false});
  if (!tix) co_return tix.error();
  ns.idx = std::move(idx.value());
  ns.tix = std::move(tix.value());
  std::vector<std::byte> scratch(kScratchBytes);         // scratch_ may be in use by a flush
  auto r = co_await persist_indexes(ns, true, scratch);  // truncates leftovers, writes, datasyncs
  ns.idx.reset();
  ns.tix.reset();
  if (!r) co_return r;
  if (o.stop_after_step == 0) co_return make_error(EINTR, "cleaner stopped at a test's swap step");
  co_await io_lock_.lock();
  LockGuard guard(io_lock_);
  auto it = std::find_if(segments_.begin(), segments_.end(), [&](const auto& p) { return p.get() == &old; });
  if (it == segments_.end() || !old.sealed || closed_) {  // retention or truncation took it meanwhile
    for (const char* ext : {"log.cleaned", "idx.cleaned", "tix.cleaned"}) (void)co_await fs_.remove(path(base, ext));
    co_return ok_result();
  }
  r = co_await rename_step(o, 1, base, {"idx.cleaned", "idx.swap"}, {"tix.cleaned", "tix.swap"});
  if (!r) co_return r;
  r = co_await rename_step(o, 2, base, {"log.cleaned", "log.swap"});
  if (!r) co_return r;
  r = co_await rename_step(o, 3, base, {"idx.swap", "idx"}, {"tix.swap", "tix"});
  if (!r) co_return r;
  r = co_await rename_step(o, 4, base, {"log.swap", "log"});
  if (!r) co_return r;
  // In memory, with no suspension from the last rename: the path names the new file now.
  ns.sealed = true;
  ns.files_created = true;
  ns.indexes_loaded = true;
  ns.index_persisted = ns.index.size();
  ns.time_index_persisted = ns.time_index.size();
  ns.index.shrink_to_fit();
  ns.time_index.shrink_to_fit();
  it = std::find_if(segments_.begin(), segments_.end(), [&](const auto& p) { return p.get() == &old; });
  SLUICE_ASSERT(it != segments_.end());
  std::unique_ptr<Segment> gone = std::move(*it);
  *it = std::move(fresh);
  gone->replaced = true;
  OpenSegmentLru::local().remove(*gone);
  graveyard_.push_back(std::move(gone));  // pinned by this run (and perhaps readers) until they finish
  SLUICE_ASSERT((*it)->base_offset == base && (*it)->sealed);
  co_return ok_result();
}

io::Task<Result<void>> PartitionLog::recover_swaps(const std::vector<std::string>& names, bool* changed) {
  SLUICE_ASSERT(std::is_sorted(names.begin(), names.end()));  // FileSystem::list sorts
  auto has = [&](const std::string& n) { return std::binary_search(names.begin(), names.end(), n); };
  for (const auto& name : names) {
    if (ends_with(name, ".cleaned")) {  // an unfinished rewrite: the old segment is intact
      auto r = co_await fs_.remove(dir_ + "/" + name);
      if (!r) co_return r;
      stats_.cleaner_files_discarded++;
      *changed = true;
    } else if (ends_with(name, ".log.swap")) {  // committed: finish steps 3 and 4
      const std::string stem = dir_ + "/" + name.substr(0, name.size() - std::string_view(".log.swap").size());
      for (const char* ext : {".idx", ".tix"}) {
        if (!has(name.substr(0, name.size() - 9) + ext + ".swap")) continue;
        auto r = co_await fs_.rename(stem + ext + ".swap", stem + ext);
        if (!r) co_return r;
      }
      auto r = co_await fs_.rename(dir_ + "/" + name, stem + ".log");
      if (!r) co_return r;
      stats_.cleaner_swaps_completed++;
      *changed = true;
    }
  }
  for (const auto& name : names) {  // index .swap files of a swap that never committed
    if (!ends_with(name, ".idx.swap") && !ends_with(name, ".tix.swap")) continue;
    if (has(name.substr(0, name.size() - 9) + ".log.swap")) continue;
    auto r = co_await fs_.remove(dir_ + "/" + name);
    if (!r) co_return r;
    stats_.cleaner_files_discarded++;
    *changed = true;
  }
  if (*changed) co_return co_await fs_.sync_dir(dir_);
  co_return ok_result();
}

}  // namespace sluice::log
