#include "engine/log/partition_log_internal.h"

namespace sluice::log {
namespace {
// Out of space. Recovery and index rebuilds treat it as "keep going without the reservation or
// without persisting the index": a full disk must not make durable data unreadable.
bool no_space(const Error& e) noexcept { return e.code == ENOSPC || e.code == EDQUOT; }
}  // namespace

// ---------------------------------------------------------------------------------------------
// Open / recovery.

io::Task<Result<std::unique_ptr<PartitionLog>>> PartitionLog::open(FileSystem& fs, std::string dir, LogConfig config,
                                                                   Clock& clock) {
  auto v = validate_config(config);
  if (!v) co_return v.error();
  std::unique_ptr<PartitionLog> log(new PartitionLog(fs, std::move(dir), config, clock));
  auto r = co_await log->load();
  if (!r) co_return r.error();
  co_return std::move(log);
}

io::Task<Result<void>> PartitionLog::remove(FileSystem& fs, std::string dir) {
  auto r = co_await fs.remove_dir_recursive(dir);
  if (!r && r.error().code != ENOENT) co_return r;
  co_return ok_result();
}

io::Task<Result<void>> PartitionLog::load() {
  // Listed first: an existing partition (every one at a restart) needs no mkdirs, which costs
  // a mkdir(2) per path component.
  auto names = co_await fs_.list(dir_);
  if (!names && names.error().code == ENOENT) {
    auto mk = co_await fs_.mkdirs(dir_);
    if (!mk) co_return mk;
    names = co_await fs_.list(dir_);
  }
  if (!names) co_return names.error();
  bool swapped = false;  // a cleaner's swap was completed or discarded: list again
  auto sw = co_await recover_swaps(names.value(), &swapped);
  if (!sw) co_return sw;
  if (swapped) names = co_await fs_.list(dir_);
  if (!names) co_return names.error();
  Result<void> r = ok_result();
  std::vector<int64_t> bases;
  std::vector<std::pair<int64_t, std::string>> others;
  bool marker = false;
  bool state_file = false;
  for (const auto& name : names.value()) {
    int64_t base = 0;
    std::string ext;
    if (name == kCleanMarkerName) marker = true;
    else if (name == kPartitionStateName) state_file = true;
    else if (parse_segment_name(name, &base, &ext)) {
      if (ext == "log") bases.push_back(base);
      else others.emplace_back(base, name);
    }
  }
  std::sort(bases.begin(), bases.end());
  if (bases.size() > config_.max_segments) co_return log_error(LogErrc::kCorruptLog, "more segments than max_segments");
  for (const auto& [base, name] : others) {  // index files without their segment: leftovers
    if (!std::binary_search(bases.begin(), bases.end(), base)) (void)co_await fs_.remove(dir_ + "/" + name);
  }
  const int64_t now = clock_.now_ms();
  for (std::size_t i = 0; i < bases.size(); ++i) {
    auto s = std::make_unique<Segment>();
    s->base_offset = bases[i];
    s->created_ms = now;
    s->files_created = true;
    if (i + 1 < bases.size()) {
      s->end_offset = bases[i + 1];
      s->sealed = true;
      s->size_known = false;
    }
    segments_.push_back(std::move(s));
  }
  if (segments_.empty()) {
    auto s = std::make_unique<Segment>();
    s->created_ms = now;
    s->indexes_loaded = true;
    r = co_await create_segment_files(*s, true);
    if (!r) co_return r;
    segments_.push_back(std::move(s));
  }
  Segment& a = active();  // its append reservations come with the first append (reserve_for_appends)
  if (!a.log) {
    auto lf = co_await fs_.open(path(a.base_offset, "log"), OpenOptions{false, true});
    if (!lf) co_return lf.error();
    a.log = std::move(lf.value());
    SLUICE_ASSERT_MSG(a.log->alignment() <= kPage && kPage % a.log->alignment() == 0, "unsupported O_DIRECT alignment");
    auto sz = co_await a.log->size();
    if (!sz) co_return sz.error();
    a.allocated_bytes = sz.value();
    bool valid_indexes = false;
    r = co_await load_index_files(a, &valid_indexes);
    if (!r) co_return r;
    bool clean = false;
    if (marker && valid_indexes) {
      auto m = co_await read_clean_marker(a);
      if (!m) co_return m.error();
      clean = m.value();
    }
    stats_.opened_clean = clean;
    if (!clean) {
      r = co_await recover_tail(a, a.allocated_bytes);
      if (!r) co_return r;
    }
    // Reservation works in whole pages; a file cut on a full disk may end mid-page, and the
    // partial last page is rewritten from memory anyway.
    a.allocated_bytes = align_up(a.allocated_bytes, kPage);
    a.end_offset = std::max(a.end_offset, a.base_offset);
  }
  if (marker && stats_.opened_clean) {
    // Trusted, and still true: it describes the active segment's files, and nothing has changed
    // them since close(). It stays on disk until the first operation that changes them
    // (consume_clean_marker: first flush, roll or truncation), so a clean open does no directory
    // write and no sync; a crash before that change finds the marker still true.
    marker_on_disk_ = true;
  } else if (marker) {
    // An untrusted marker goes now, durably (sync_dir): recovery has just changed the files, and
    // a stale marker left behind could match them after a later crash and be trusted wrongly.
    // This is the crash path only; a clean open never gets here.
    r = co_await fs_.remove(dir_ + "/" + kCleanMarkerName);
    if (!r) co_return r;
    r = co_await fs_.sync_dir(dir_);
    if (!r) co_return r;
  }
  // No tail chunk yet (see Segment::tail_hole_end): an opened partition that is never written
  // costs no 256 KiB chunk and no read of its last page; readers read the tail from disk.
  SLUICE_ASSERT(a.chunks.empty() && a.tail_hole_end == 0);
  log_start_ = segments_.front()->base_offset;
  log_end_ = a.end_offset;
  durable_end_ = log_end_;
  hw_ = log_end_;
  last_flush_ms_ = now;
  SLUICE_ASSERT(a.size_bytes == a.durable_bytes && log_start_ <= log_end_);
  co_return co_await load_partition_state(state_file);  // DeleteRecords' log start, the leader epochs
}

// Removes a clean-shutdown marker that open() left in place, durably, before the first change
// to the files it describes (callers hold io_lock_). The sync_dir is what makes the removal
// survive a crash: without it a crash after new data became durable could bring the marker
// back, and the next open would trust its old size and lose that data.
io::Task<Result<void>> PartitionLog::consume_clean_marker() {
  if (!marker_on_disk_) co_return ok_result();
  auto r = co_await fs_.remove(dir_ + "/" + kCleanMarkerName);
  if (!r && r.error().code != ENOENT) co_return r;
  r = co_await fs_.sync_dir(dir_);
  if (!r) co_return r;
  marker_on_disk_ = false;
  co_return ok_result();
}

// Loads .idx/.tix into memory, keeping the longest structurally valid prefix. *valid reports
// whether the files were entirely well-formed.
io::Task<Result<void>> PartitionLog::load_index_files(Segment& s, bool* valid) {
  *valid = true;
  for (int which = 0; which < 2; ++which) {
    const bool is_idx = which == 0;
    auto f = co_await fs_.open(path(s.base_offset, is_idx ? "idx" : "tix"), OpenOptions{true, false});
    if (!f) co_return f.error();
    auto sz = co_await f.value()->size();
    if (!sz) co_return sz.error();
    const std::size_t entry = is_idx ? kIdxEntryBytes : kTixEntryBytes;
    if (sz.value() % entry != 0) *valid = false;
    std::vector<std::byte> bytes(static_cast<std::size_t>(sz.value() / entry * entry));
    auto rd = co_await f.value()->read(0, bytes);
    if (!rd) co_return rd.error();
    if (rd.value() != bytes.size()) *valid = false;
    const std::size_t count = rd.value() / entry;
    if (is_idx) {
      s.index.clear();
      for (std::size_t i = 0; i < count; ++i) {
        IndexEntry e{load_be<uint32_t>(bytes.data() + i * entry), load_be<uint32_t>(bytes.data() + i * entry + 4)};
        bool ok = e.position > 0 && (s.index.empty() || (e.relative_offset > s.index.back().relative_offset &&
                                                         e.position > s.index.back().position));
        if (!ok) {
          *valid = false;
          break;
        }
        s.index.push_back(e);
      }
      s.index_persisted = s.index.size();
      s.idx = std::move(f.value());
    } else {
      s.time_index.clear();
      for (std::size_t i = 0; i < count; ++i) {
        TimeIndexEntry e{load_be<int64_t>(bytes.data() + i * entry), load_be<uint32_t>(bytes.data() + i * entry + 8),
                         load_be<uint32_t>(bytes.data() + i * entry + 12)};
        bool ok =
            e.timestamp_ms >= 0 && (s.time_index.empty() || (e.timestamp_ms >= s.time_index.back().timestamp_ms &&
                                                             e.relative_offset > s.time_index.back().relative_offset &&
                                                             e.position > s.time_index.back().position));
        if (!ok) {
          *valid = false;
          break;
        }
        s.time_index.push_back(e);
      }
      s.time_index_persisted = s.time_index.size();
      s.tix = std::move(f.value());
    }
  }
  s.indexes_loaded = true;
  co_return ok_result();
}

io::Task<Result<bool>> PartitionLog::read_clean_marker(const Segment& a) {
  auto f = co_await fs_.open(dir_ + "/" + kCleanMarkerName, OpenOptions{false, false});
  if (!f) co_return false;
  std::array<std::byte, kMarkerBytes> m{};
  auto rd = co_await f.value()->read(0, m);
  if (!rd) co_return rd.error();
  if (rd.value() != kMarkerBytes) co_return false;
  if (load_be<uint32_t>(m.data()) != kMarkerMagic || load_be<uint32_t>(m.data() + 4) != kMarkerVersion) co_return false;
  if (crc32c(std::span<const std::byte>(m.data(), kMarkerBytes - 4)) != load_be<uint32_t>(m.data() + kMarkerBytes - 4))
    co_return false;
  const int64_t base = load_be<int64_t>(m.data() + 8);
  const uint64_t size = load_be<uint64_t>(m.data() + 16);
  const int64_t end = load_be<int64_t>(m.data() + 24);
  if (base != a.base_offset || size > a.allocated_bytes || end < base) co_return false;
  if (!a.index.empty() && (a.index.back().position >= size || a.index.back().relative_offset >= end - base))
    co_return false;
  Segment& s = const_cast<Segment&>(a);
  s.size_bytes = s.durable_bytes = size;
  s.end_offset = end;
  s.bytes_since_index = size - (s.index.empty() ? 0 : s.index.back().position);
  if (!s.time_index.empty()) {
    const auto& t = s.time_index.back();
    s.max_timestamp_ms = t.timestamp_ms;
    s.max_timestamp_rel = t.relative_offset;
    s.max_timestamp_pos = t.position;
  }
  co_return true;
}

io::Task<Result<void>> PartitionLog::write_clean_marker() {
  const Segment& a = *segments_.back();
  std::array<std::byte, kMarkerBytes> m{};
  store_be<uint32_t>(m.data(), kMarkerMagic);
  store_be<uint32_t>(m.data() + 4, kMarkerVersion);
  store_be<int64_t>(m.data() + 8, a.base_offset);
  store_be<uint64_t>(m.data() + 16, a.size_bytes);
  store_be<int64_t>(m.data() + 24, log_end_);
  store_be<uint32_t>(m.data() + kMarkerBytes - 4, crc32c(std::span<const std::byte>(m.data(), kMarkerBytes - 4)));
  const std::string tmp = dir_ + "/" + kCleanMarkerName + ".tmp";
  auto f = co_await fs_.open(tmp, OpenOptions{true, false});
  if (!f) co_return f.error();
  auto r = co_await f.value()->truncate(0);
  auto w = r ? co_await f.value()->write(0, m) : Result<std::size_t>(r.error());
  if (w) r = co_await f.value()->datasync();
  else r = w.error();
  f.value().reset();
  if (!r) {
    (void)co_await fs_.remove(tmp);  // e.g. ENOSPC: no marker, the next open recovers
    co_return r;
  }
  r = co_await fs_.rename(tmp, dir_ + "/" + kCleanMarkerName);
  if (!r) co_return r;
  co_return co_await fs_.sync_dir(dir_);
}

// Scans the tail of segment `s` (whose indexes are loaded) from its last trustworthy index
// entry up to `limit`, checking every batch (length, magic, CRC, offset continuity), cuts the
// file at the first bad one, restores the zeroed pre-allocation and rebuilds the index tails.
io::Task<Result<void>> PartitionLog::recover_tail(Segment& s, uint64_t limit) {
  SLUICE_ASSERT(s.log && s.indexes_loaded);
  SegmentReader rd(s, limit, config_.read_window_bytes);  // grows only for batches larger than it
  // Restart point: the last time-index entry that verifies (a batch with the expected base
  // offset, sane length, matching max timestamp and CRC). It carries the max timestamp so far,
  // so nothing before it needs reading. Entries past it are re-derived by the scan.
  uint64_t start_pos = 0;
  int64_t start_offset = s.base_offset;
  while (!s.time_index.empty()) {
    const TimeIndexEntry t = s.time_index.back();
    bool ok = false;
    auto p = co_await rd.get(t.position, kBatchHeaderBytes);
    if (!p) co_return p.error();
    if (p.value()) {
      auto h = parse_batch_header(std::span<const std::byte>(p.value(), kBatchHeaderBytes));
      if (h && h.value().magic == kMagicV2 && h.value().base_offset == s.base_offset + t.relative_offset &&
          h.value().size_bytes() <= kMaxBatchBytesHardLimit && h.value().max_timestamp_ms <= t.timestamp_ms) {
        auto whole = co_await rd.get(t.position, h.value().size_bytes());
        if (!whole) co_return whole.error();
        ok = whole.value() &&
             compute_batch_crc(std::span<const std::byte>(whole.value(), h.value().size_bytes())) == h.value().crc;
      }
    }
    if (ok) {
      start_pos = t.position;
      start_offset = s.base_offset + t.relative_offset;
      break;
    }
    s.time_index.pop_back();
  }
  while (!s.index.empty() && s.index.back().position > start_pos) s.index.pop_back();
  s.index_persisted = std::min(s.index_persisted, s.index.size());
  s.time_index_persisted = std::min(s.time_index_persisted, s.time_index.size());
  s.max_timestamp_ms = -1;
  if (!s.time_index.empty()) {
    s.max_timestamp_ms = s.time_index.back().timestamp_ms;
    s.max_timestamp_rel = s.time_index.back().relative_offset;
    s.max_timestamp_pos = s.time_index.back().position;
  }
  // The scan re-reads the batch at start_pos: make its offset-index decision come out the same.
  if (!s.index.empty() && s.index.back().position == start_pos) {
    s.index.pop_back();
    s.bytes_since_index = config_.index_interval_bytes;
  } else {
    s.bytes_since_index = start_pos - (s.index.empty() ? 0 : s.index.back().position);
  }
  s.index_persisted = std::min(s.index_persisted, s.index.size());

  uint64_t pos = start_pos;
  int64_t expected = start_offset;
  for (;;) {
    auto p = co_await rd.get(pos, kBatchHeaderBytes);
    if (!p) co_return p.error();
    if (!p.value()) break;
    bool zeros = std::all_of(p.value(), p.value() + kLogOverheadBytes, [](std::byte b) { return b == std::byte{0}; });
    if (!zeros) stats_.recovery_cut_tail = true;  // provisional: cleared below if the batch is good
    auto h = parse_batch_header(std::span<const std::byte>(p.value(), kBatchHeaderBytes));
    if (!h) break;  // zeros (batchLength 0) or garbage: the end
    const BatchHeader hd = h.value();
    if (hd.magic != kMagicV2 || hd.base_offset != expected || hd.last_offset_delta < 0 ||
        hd.size_bytes() > kMaxBatchBytesHardLimit || pos + hd.size_bytes() > UINT32_MAX)
      break;
    auto whole = co_await rd.get(pos, hd.size_bytes());
    if (!whole) co_return whole.error();
    if (!whole.value()) break;  // torn: runs past the end of the file
    if (compute_batch_crc(std::span<const std::byte>(whole.value(), hd.size_bytes())) != hd.crc) break;
    stats_.recovery_cut_tail = false;
    index_batch(s, hd, pos);
    pos += hd.size_bytes();
    expected = hd.last_offset() + 1;
  }
  stats_.recovered_bytes_scanned += rd.bytes_read();
  const uint64_t old_size = s.allocated_bytes;
  s.size_bytes = s.durable_bytes = pos;
  s.end_offset = expected;
  // Whatever follows the last good batch goes; the pre-allocation is restored with zeros.
  auto r = co_await s.log->truncate(pos);
  if (!r) co_return r;
  uint64_t keep = std::max(align_up(pos, kPage), align_up(old_size, kPage));
  if (keep > pos) {  // fallocate refuses a zero length (EINVAL)
    r = co_await s.log->allocate(pos, keep - pos);
    // Full disk: go on without the reservation (appends will fail until space returns; the
    // data is readable). Only whole pages count as reserved: see write_pages.
    if (!r && no_space(r.error())) keep = align_up(pos, kPage);
    else if (!r) co_return r;
  }
  // Crash path only (a clean open never runs recover_tail; truncate_to does): the cut and the
  // restored reservation become durable before anything is appended after `pos`, so a later
  // crash cannot bring back bytes this scan rejected next to batches reported durable since.
  r = co_await s.log->datasync();
  if (!r) co_return r;
  stats_.syncs++;
  s.allocated_bytes = keep;
  r = co_await persist_indexes(s, true, index_scratch());
  // An index that could not grow is a stale prefix on disk, which recovery tolerates; the
  // complete index is in memory.
  if (!r && no_space(r.error())) stats_.index_write_errors++;
  else if (!r) co_return r;
  SLUICE_ASSERT(s.end_offset >= s.base_offset && s.size_bytes <= s.allocated_bytes);
  co_return ok_result();
}

// Opens a sealed segment's .log for reading (a no-op for open files; non-sealed segments always
// have theirs). Kept open under the thread's OpenSegmentLru; with keep_open false (only the size
// is wanted) it closes again at once. Callers that use s.log across a suspension hold a Pin.
io::Task<Result<void>> PartitionLog::ensure_open(Segment& s, bool keep_open) {
  if (s.log) {
    if (s.sealed) OpenSegmentLru::local().touch(s);
    co_return ok_result();
  }
  if (!s.sealed) co_return ok_result();  // not flushed yet: all its data is in memory
  // The cleaner swapped a new file in under this path; the reader looks the segment up again.
  if (s.replaced) co_return make_error(ESTALE, "segment replaced by the cleaner");
  SLUICE_ASSERT(s.files_created);
  auto f = co_await fs_.open(path(s.base_offset, "log"), OpenOptions{false, true});
  if (!f) co_return f.error();
  auto sz = co_await f.value()->size();
  if (!sz) co_return sz.error();
  stats_.segment_opens++;
  if (!s.size_known) {
    s.size_bytes = s.durable_bytes = s.allocated_bytes = sz.value();
    s.size_known = true;
  }
  // Another reader may have opened it meanwhile: keep that one (reads may be in flight on it).
  if (!keep_open || s.log) co_return ok_result();
  s.log = std::move(f.value());
  OpenSegmentLru::local().touch(s);
  SLUICE_ASSERT(s.log && s.in_lru);
  co_return ok_result();
}

io::Task<Result<void>> PartitionLog::ensure_indexes(Segment& s, bool locked) {
  if (s.indexes_loaded) co_return ok_result();
  if (!locked) {
    // Lazy loading of a sealed segment's files runs under the I/O lock (once per segment).
    co_await io_lock_.lock();
    LockGuard guard(io_lock_);
    co_return co_await ensure_indexes(s, true);
  }
  Pin pin(&s);  // rebuild_indexes reads s.log across suspensions
  auto r = co_await ensure_open(s);
  if (!r) co_return r;
  bool valid = false;
  r = co_await load_index_files(s, &valid);
  if (!r) {
    s.idx.reset();  // a sealed segment keeps no index file open
    s.tix.reset();
    co_return r;
  }
  if (valid && !s.index.empty() && s.index.back().position >= s.size_bytes) valid = false;
  if (valid && !s.time_index.empty() && s.time_index.back().position >= s.size_bytes) valid = false;
  if (valid && s.index.empty() && s.size_bytes > 2ull * config_.index_interval_bytes) valid = false;
  if (!valid) {
    r = co_await rebuild_indexes(s);
    if (!r) {
      s.idx.reset();
      s.tix.reset();
      co_return r;
    }
  }
  if (!s.time_index.empty()) {
    s.max_timestamp_ms = s.time_index.back().timestamp_ms;
    s.max_timestamp_rel = s.time_index.back().relative_offset;
    s.max_timestamp_pos = s.time_index.back().position;
  }
  s.idx.reset();
  s.tix.reset();
  co_return ok_result();
}

// Sealed segment with a damaged index: rebuild both indexes from the data.
io::Task<Result<void>> PartitionLog::rebuild_indexes(Segment& s) {
  SLUICE_ASSERT(s.sealed && s.log);
  s.index.clear();
  s.time_index.clear();
  s.bytes_since_index = 0;
  s.max_timestamp_ms = -1;
  SegmentReader rd(s, s.size_bytes, std::max<uint32_t>(config_.read_window_bytes, 1u << 20));
  uint64_t pos = 0;
  while (pos < s.size_bytes) {
    auto p = co_await rd.get(pos, kBatchHeaderBytes);
    if (!p) co_return p.error();
    if (!p.value()) break;
    auto h = parse_batch_header(std::span<const std::byte>(p.value(), kBatchHeaderBytes));
    if (!h || h.value().magic != kMagicV2 || pos + h.value().size_bytes() > s.size_bytes) break;
    index_batch(s, h.value(), pos);
    pos += h.value().size_bytes();
  }
  if (pos < s.size_bytes) {  // a sealed segment must end with its last batch: repair
    auto t = co_await s.log->truncate(pos);
    if (!t) co_return t;
    s.size_bytes = s.durable_bytes = s.allocated_bytes = pos;
    stats_.recovery_cut_tail = true;
  }
  if (s.max_timestamp_ms >= 0 && (s.time_index.empty() || s.time_index.back().timestamp_ms < s.max_timestamp_ms))
    s.time_index.push_back(TimeIndexEntry{s.max_timestamp_ms, s.max_timestamp_rel, s.max_timestamp_pos});
  s.index_persisted = s.time_index_persisted = 0;
  std::vector<std::byte> scratch(kScratchBytes);  // reads may run this next to a flush using scratch_
  auto r = co_await persist_indexes(s, true, scratch);
  // A full disk keeps the rebuilt index in memory only (rebuilt again after the next restart):
  // reads and retention must keep working while nothing can be written.
  if (!r && no_space(r.error())) {
    stats_.index_write_errors++;
    co_return ok_result();
  }
  co_return r;
}

}  // namespace sluice::log
