#include <chrono>

#include "engine/log/log_cleaner.h"
#include "engine/log/partition_log_internal.h"

namespace sluice::log {

Result<void> validate_config(const LogConfig& c) {
  if (c.segment_bytes < kPage || c.segment_bytes > (1ull << 31) - 1)
    return make_error(EINVAL, "segment.bytes out of range");
  if (c.tail_chunk_bytes < kPage || c.tail_chunk_bytes % kPage != 0 || c.tail_chunk_bytes > (64u << 20))
    return make_error(EINVAL, "tail_chunk_bytes must be a multiple of 4 KiB, <= 64 MiB");
  if (c.max_message_bytes < kBatchHeaderBytes || c.max_message_bytes > kMaxBatchBytesHardLimit)
    return make_error(EINVAL, "max.message.bytes out of range");
  if (c.max_unflushed_bytes < c.max_message_bytes) return make_error(EINVAL, "max_unflushed_bytes < max.message.bytes");
  if (c.index_interval_bytes == 0) return make_error(EINVAL, "index.interval.bytes must be > 0");
  if (c.segment_ms <= 0 || c.flush_messages <= 0 || c.flush_ms < 0) return make_error(EINVAL, "bad time/flush limits");
  if (c.read_window_bytes < kPage || c.max_segments < 1 || c.preallocate_bytes < kPage ||
      c.preallocate_initial_bytes < kPage)
    return make_error(EINVAL, "bad read window / segment limit / preallocation");
  if (c.prezero_step_bytes < kPage || c.prezero_step_bytes % kPage != 0 || c.prezero_step_bytes > (64u << 20))
    return make_error(EINVAL, "prezero_step_bytes must be a multiple of 4 KiB, <= 64 MiB");
  if (c.prezero_ahead_bytes != 0 &&
      (c.prezero_ahead_bytes < c.prezero_step_bytes || c.prezero_ahead_bytes > (1u << 30)))
    return make_error(EINVAL, "prezero_ahead_bytes must be 0 or in [prezero_step_bytes, 1 GiB]");
  if (c.background_sync_interval_ms < 0 || c.background_sync_interval_ms > 3600000 || c.background_sync_bytes == 0)
    return make_error(EINVAL, "background sync interval must be in [0, 1 h], bytes > 0");
  if (!(c.min_cleanable_dirty_ratio >= 0.0 && c.min_cleanable_dirty_ratio <= 1.0) || c.min_compaction_lag_ms < 0 ||
      c.max_compaction_lag_ms < 1 || c.delete_retention_ms < 0 || c.cleaner_map_bytes < 4096 ||
      c.cleaner_slice_bytes == 0)
    return make_error(EINVAL, "bad cleaner settings");
  return ok_result();
}

// ---------------------------------------------------------------------------------------------
// Open sealed segments (thread-wide LRU).

namespace {
// Constant-initialised and trivially destructible: no guard on access and nothing to run at
// thread exit (a Segment destroyed late still finds a usable list).
thread_local constinit OpenSegmentLru t_open_segments;
}  // namespace

OpenSegmentLru& OpenSegmentLru::local() noexcept { return t_open_segments; }

void OpenSegmentLru::unlink(Segment& s) noexcept {
  SLUICE_ASSERT(s.in_lru && size_ > 0);
  (s.lru_prev ? s.lru_prev->lru_next : head_) = s.lru_next;
  (s.lru_next ? s.lru_next->lru_prev : tail_) = s.lru_prev;
  s.lru_prev = s.lru_next = nullptr;
  s.in_lru = false;
  size_--;
}

void OpenSegmentLru::remove(Segment& s) noexcept {
  if (s.in_lru) unlink(s);
}

void OpenSegmentLru::touch(Segment& s) noexcept {
  SLUICE_ASSERT(s.sealed && s.log);
  if (s.in_lru) {
    if (tail_ == &s) return;
    unlink(s);
  }
  s.lru_prev = tail_;
  s.lru_next = nullptr;
  (tail_ ? tail_->lru_next : head_) = &s;
  tail_ = &s;
  s.in_lru = true;
  size_++;
  trim();
}

void OpenSegmentLru::trim() noexcept {
  // Oldest first; pinned segments (a read in flight) are skipped and closed by a later trim.
  // The most recently used one stays: its caller is about to read it.
  Segment* s = head_;
  while (size_ > capacity_ && s && s != tail_) {
    Segment* next = s->lru_next;
    if (s->pins == 0) {
      unlink(*s);
      s->log.reset();
    }
    s = next;
  }
  SLUICE_ASSERT(size_ == 0 || (head_ && tail_));
}

void OpenSegmentLru::set_capacity(std::size_t n) noexcept {
  capacity_ = std::max<std::size_t>(n, 1);
  trim();
}

void PartitionLog::set_max_open_sealed_segments(std::size_t n) { OpenSegmentLru::local().set_capacity(n); }
std::size_t PartitionLog::max_open_sealed_segments() { return OpenSegmentLru::local().capacity(); }
std::size_t PartitionLog::open_sealed_segments() { return OpenSegmentLru::local().size(); }

// ---------------------------------------------------------------------------------------------

PartitionLog::PartitionLog(FileSystem& fs, std::string dir, LogConfig config, Clock& clock)
    : fs_(fs), dir_(std::move(dir)), config_(config), clock_(clock) {
  spare_chunks_.reserve(kMaxSpareChunks);
  // scratch_ is sized on first use (index_scratch): a partition that is only opened needs none.
}

std::span<std::byte> PartitionLog::index_scratch() {
  if (scratch_.empty()) scratch_.resize(kScratchBytes);
  return scratch_;
}

PartitionLog::~PartitionLog() = default;

std::string PartitionLog::path(int64_t base, const char* ext) const {
  char name[48];
  std::snprintf(name, sizeof name, "/%020" PRId64 ".%s", base, ext);
  return dir_ + name;
}

std::vector<int64_t> PartitionLog::segment_base_offsets() const {
  std::vector<int64_t> v;
  for (const auto& s : segments_) v.push_back(s->base_offset);
  return v;
}

Segment* PartitionLog::find_segment(int64_t offset) noexcept {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), offset,
                             [](int64_t o, const std::unique_ptr<Segment>& s) { return o < s->base_offset; });
  if (it == segments_.begin()) return nullptr;
  return std::prev(it)->get();
}

void PartitionLog::set_hw(int64_t v) {
  if (v <= hw_) return;
  hw_ = v;
  if (on_hw_) on_hw_(v);
}

bool PartitionLog::flush_due(int64_t now_ms) const noexcept {
  if (durable_end_ >= log_end_) return false;
  if (appended_messages_ - flushed_messages_ >= config_.flush_messages) return true;
  return now_ms - last_flush_ms_ >= config_.flush_ms;
}

Result<void> PartitionLog::update_config(const LogConfig& c) {
  auto v = validate_config(c);
  if (!v) return v;
  const int32_t epoch = config_.leader_epoch;  // fixed while open (LogConfig::leader_epoch)
  config_ = c;
  config_.leader_epoch = epoch;
  if (config_.visible_before_sync) set_hw(log_end_);
  return ok_result();
}

// ---------------------------------------------------------------------------------------------
// Append path (synchronous, no I/O).

alloc::BufferRef PartitionLog::take_chunk() {
  if (!spare_chunks_.empty()) {
    alloc::BufferRef b = std::move(spare_chunks_.back());
    spare_chunks_.pop_back();
    SLUICE_ASSERT(b->refs() == 1 && b->capacity() == config_.tail_chunk_bytes);
    std::memset(b->data(), 0, b->capacity());  // bytes after the data must be zeros on disk
    return b;
  }
  stats_.tail_chunk_allocations++;
  alloc::BufferRef b(alloc::Buffer::allocate(config_.tail_chunk_bytes, kPage));
  std::memset(b->data(), 0, b->capacity());
  return b;
}

void PartitionLog::retire_chunks(Segment& s, bool all) {
  while (!s.chunks.empty()) {
    Chunk& c = s.chunks.front();
    uint64_t end = c.file_pos + c.buf->capacity();
    if (!all) {
      if (s.chunks.size() == 1 || end > align_down(s.durable_bytes, kPage)) break;
      if (s.durable_bytes - end < config_.tail_cache_bytes) break;
    }
    // A hole is filled by the first write_pages, before any page of the chunk is durable.
    SLUICE_ASSERT(s.tail_hole_end == 0);
    if (c.buf->refs() == 1 && c.buf->capacity() == config_.tail_chunk_bytes && spare_chunks_.size() < kMaxSpareChunks)
      spare_chunks_.push_back(std::move(c.buf));
    s.chunks.erase(s.chunks.begin());
    s.tail_hole_end = 0;
  }
}

void PartitionLog::copy_into_tail(Segment& s, uint64_t pos, std::span<const std::byte> bytes) {
  if (s.chunks.capacity() == 0) reserve_for_appends(s);  // first append since open / truncate_to
  while (!bytes.empty()) {
    if (s.chunks.empty() || pos >= s.chunks.back().file_pos + s.chunks.back().buf->capacity()) {
      uint64_t fp =
          s.chunks.empty() ? align_down(pos, kPage) : s.chunks.back().file_pos + s.chunks.back().buf->capacity();
      if (s.chunks.empty() && fp < pos) {
        // The first append after open/truncate_to (the tail loads lazily): [fp, pos) is durable
        // on disk and not read here (append does no I/O); write_pages fills it in first.
        SLUICE_ASSERT(pos == s.durable_bytes && pos == s.size_bytes);
        s.tail_hole_end = pos;
      }
      s.chunks.push_back(Chunk{take_chunk(), fp});
    }
    Chunk& c = s.chunks.back();
    SLUICE_ASSERT(pos >= c.file_pos);
    uint64_t off = pos - c.file_pos;
    std::size_t n = std::min<std::size_t>(bytes.size(), c.buf->capacity() - off);
    std::memcpy(c.buf->data() + off, bytes.data(), n);
    bytes = bytes.subspan(n);
    pos += n;
  }
}

// Room for the active segment's tail chunks and index growth, so appends in steady state do not
// allocate. Taken at a roll, or by the first append after open: a partition that is only opened
// (thousands at start-up) allocates none of it.
void PartitionLog::reserve_for_appends(Segment& s) {
  s.chunks.reserve(config_.max_unflushed_bytes / config_.tail_chunk_bytes +
                   config_.tail_cache_bytes / config_.tail_chunk_bytes + 4);
  s.index.reserve(kIndexReserveEntries);
  s.time_index.reserve(kIndexReserveEntries);
}

// Index entries for a batch at `pos`. The offset index gets an entry every
// index_interval_bytes. The time index holds (max timestamp so far, batch): one entry with every
// offset-index entry and one whenever the max grows (throttled to the same interval), so any
// entry is a complete restart point for recovery: offset, position and the max timestamp so far.
void PartitionLog::index_batch(Segment& s, const BatchHeader& h, uint64_t pos) {
  SLUICE_ASSERT(h.base_offset >= s.base_offset && pos <= UINT32_MAX);
  auto rel = static_cast<uint32_t>(h.base_offset - s.base_offset);
  bool indexed = false;
  if (s.bytes_since_index >= config_.index_interval_bytes) {
    SLUICE_ASSERT(s.index.empty() || (s.index.back().relative_offset < rel && s.index.back().position < pos));
    s.index.push_back(IndexEntry{rel, static_cast<uint32_t>(pos)});
    s.bytes_since_index = 0;
    indexed = true;
  }
  s.bytes_since_index += h.size_bytes();
  bool grew = h.max_timestamp_ms > s.max_timestamp_ms;
  if (grew) {
    s.max_timestamp_ms = h.max_timestamp_ms;
    s.max_timestamp_rel = rel;
    s.max_timestamp_pos = static_cast<uint32_t>(pos);
  }
  if (s.max_timestamp_ms < 0) return;
  const bool fresh = s.time_index.empty() || s.time_index.back().position < pos;
  if (fresh && (indexed ||
                (grew && (s.time_index.empty() || pos - s.time_index.back().position >= config_.index_interval_bytes))))
    s.time_index.push_back(TimeIndexEntry{s.max_timestamp_ms, rel, static_cast<uint32_t>(pos)});
}

void PartitionLog::roll_in_memory(int64_t now_ms) {
  Segment& old = active();
  SLUICE_ASSERT(!old.roll_pending && !old.sealed);
  old.roll_pending = true;
  auto s = std::make_unique<Segment>();
  s->base_offset = log_end_;
  s->end_offset = log_end_;
  s->created_ms = now_ms;
  s->indexes_loaded = true;
  reserve_for_appends(*s);
  segments_.push_back(std::move(s));
}

Result<BatchHeader> PartitionLog::validate(std::span<const std::byte> batch) const {
  ValidateOptions vo;
  vo.max_message_bytes = config_.max_message_bytes;
  auto h = validate_batch(batch, vo);
  // Kafka: "Compacted topic cannot accept message without key" (INVALID_RECORD): the cleaner
  // could never tell which such record is the latest.
  if (h && config_.compact) {
    auto k = check_keys_present(batch, h.value());
    if (!k) return k.error();
  }
  return h;
}

Result<BatchHeader> PartitionLog::validate_control(std::span<const std::byte> batch) const {
  ValidateOptions vo;
  vo.max_message_bytes = config_.max_message_bytes;
  vo.allow_control = true;
  auto h = validate_batch(batch, vo);
  if (h.ok()) SLUICE_ASSERT(h->is_control() && h->is_transactional());
  return h;
}

Result<AppendResult> PartitionLog::append(std::span<const std::byte> batch) {
  auto hv = validate(batch);
  if (!hv) return hv.error();
  return append_validated(batch, hv.value());
}

Result<AppendResult> PartitionLog::append_validated(std::span<const std::byte> batch, BatchHeader h) {
  SLUICE_ASSERT(h.size_bytes() == batch.size() && h.magic == kMagicV2);
  SLUICE_ASSERT(h.last_offset_delta >= 0 && h.record_count >= 0);
  if (closed_) return log_error(LogErrc::kLogClosed, "log closed");
  if (storage_error_) return *storage_error_;
  const int64_t now = clock_.now_ms();
  const std::size_t n = batch.size();

  Segment* a = &active();
  bool offsets_overflow = log_end_ + h.last_offset_delta - a->base_offset > std::numeric_limits<int32_t>::max();
  if (a->size_bytes > 0 &&
      (a->size_bytes + n > config_.segment_bytes || now - a->created_ms >= config_.segment_ms || offsets_overflow)) {
    if (segments_.size() >= config_.max_segments) return make_error(ENOSPC, "too many segments");
    roll_in_memory(now);
    a = &active();
  }
  if (unflushed_bytes_ + n > config_.max_unflushed_bytes)
    return log_error(LogErrc::kTailFull, "too many unflushed bytes");

  // Patch a copy of the header; the records are copied untouched.
  std::array<std::byte, kBatchHeaderBytes> hdr;
  std::memcpy(hdr.data(), batch.data(), kBatchHeaderBytes);
  const int64_t base = log_end_;
  store_be<int64_t>(hdr.data() + batch_field::kBaseOffset, base);
  store_be<int32_t>(hdr.data() + batch_field::kPartitionLeaderEpoch, config_.leader_epoch);
  int64_t append_time = -1;
  if (config_.log_append_time) {
    append_time = now;
    h.attributes = static_cast<int16_t>(h.attributes | batch_attr::kLogAppendTime);
    h.max_timestamp_ms = now;
    store_be<int16_t>(hdr.data() + batch_field::kAttributes, h.attributes);
    store_be<int64_t>(hdr.data() + batch_field::kMaxTimestamp, now);
    uint32_t crc =
        crc32c_extend(0, hdr.data() + batch_field::kAttributes, kBatchHeaderBytes - batch_field::kAttributes);
    crc = crc32c_extend(crc, batch.data() + kBatchHeaderBytes, n - kBatchHeaderBytes);
    store_be<uint32_t>(hdr.data() + batch_field::kCrc, crc);
  }
  h.base_offset = base;
  // Only after a truncate_to cut the current epoch's entry (open() records a new epoch).
  if (epochs_.empty() || config_.leader_epoch > epochs_.back().epoch) epochs_.push_back({config_.leader_epoch, base});

  const uint64_t pos = a->size_bytes;
  copy_into_tail(*a, pos, hdr);
  copy_into_tail(*a, pos + kBatchHeaderBytes, batch.subspan(kBatchHeaderBytes));
  index_batch(*a, h, pos);
  a->size_bytes += n;
  a->end_offset = h.last_offset() + 1;
  if (a->size_bytes == n) a->created_ms = now;  // segment.ms counts from the first batch
  log_end_ = a->end_offset;
  unflushed_bytes_ += n;
  appended_messages_ += h.record_count;
  SLUICE_ASSERT(log_end_ > base && a->size_bytes <= UINT32_MAX);

  if (config_.visible_before_sync) set_hw(log_end_);
  return AppendResult{base, h.last_offset(), append_time, log_start_, flush_due(now)};
}

// ---------------------------------------------------------------------------------------------
// Flush path.

io::Task<Result<void>> PartitionLog::flush() {
  const int64_t target = log_end_;
  auto seal_pending = [this] { return segments_.size() >= 2 && !segments_[segments_.size() - 2]->sealed; };
  while (durable_end_ < target || seal_pending()) {
    if (flushing_) {
      const uint64_t gen = flush_generation_;
      co_await flush_done_.wait();
      if (flush_generation_ != gen && last_flush_error_ && (durable_end_ < target || seal_pending()))
        co_return *last_flush_error_;
      continue;
    }
    flushing_ = true;
    auto r = co_await do_flush();
    flushing_ = false;
    flush_generation_++;
    if (r) last_flush_error_.reset();
    else last_flush_error_ = r.error();
    flush_done_.notify_all();
    if (!r) co_return r;
  }
  co_return ok_result();
}

io::Task<Result<void>> PartitionLog::wait_durable(int64_t offset) {
  if (offset < durable_end_) co_return ok_result();
  if (offset >= log_end_) co_return log_error(LogErrc::kOffsetOutOfRange, "offset not appended");
  co_return co_await flush();
}

// Writes the tail pages covering [from, to). With durable_writes every write is RWF_DSYNC
// (File::write_durable) and the pages are durable when this returns; the caller only does that
// inside the written window, where the write commits no metadata.
io::Task<Result<void>> PartitionLog::write_pages(Segment& s, uint64_t from, uint64_t to, bool durable_writes) {
  SLUICE_ASSERT(s.log && from <= to);
  const uint64_t start = align_down(from, kPage);
  const uint64_t end = align_up(to, kPage);
  SLUICE_ASSERT(!durable_writes || (end <= written_end(s) && end <= s.allocated_bytes));
  if (end > s.allocated_bytes) {
    const uint64_t want = next_reservation(s, end);
    auto r = co_await reserve(*s.log, s.allocated_bytes, want);
    if (!r) co_return r;
    s.allocated_bytes = want;
  }
  SLUICE_ASSERT(!s.chunks.empty() && s.chunks.front().file_pos <= start);
  if (s.tail_hole_end != 0) {
    auto r = co_await fill_tail_hole(s);
    if (!r) co_return r;
  }
  for (const Chunk& c : s.chunks) {
    uint64_t cs = c.file_pos, ce = c.file_pos + c.buf->capacity();
    uint64_t lo = std::max(start, cs), hi = std::min(end, ce);
    if (lo >= hi) continue;
    alloc::BufferRef keep = c.buf;  // the chunk list may change while the write is in flight
    const std::span<const std::byte> bytes(keep->data() + (lo - cs), hi - lo);
    auto w = durable_writes ? co_await s.log->write_durable(lo, bytes) : co_await s.log->write(lo, bytes);
    if (!w) co_return w.error();
    if (durable_writes) stats_.dsync_writes++;
  }
  co_return ok_result();
}

// ---------------------------------------------------------------------------------------------
// Written window (LogConfig::prezero_ahead_bytes).

// How far ahead of the tail the window should reach: it grows with the segment's data (one step
// at least) up to prezero_ahead_bytes, so a partition that gets little data costs little disk.
uint64_t PartitionLog::window_target(const Segment& s) const noexcept {
  const uint64_t step = config_.prezero_step_bytes;
  return align_up(
      std::min<uint64_t>(config_.prezero_ahead_bytes, std::max<uint64_t>(step, align_up(s.size_bytes, kPage))), kPage);
}

bool PartitionLog::written_window_low() const noexcept {
  if (config_.prezero_ahead_bytes == 0 || closed_ || zeroing_ || storage_error_ || segments_.empty()) return false;
  const Segment& a = *segments_.back();
  // A partition with no data in its active segment gets no window (idle ones cost no disk).
  if (!a.files_created || a.roll_pending || a.sealed || !a.log || a.size_bytes == 0) return false;
  const uint64_t tail = align_up(a.size_bytes, kPage);
  const uint64_t cap = align_up(config_.segment_bytes, kPage);
  // zero_end >= tail means the zeroed range reaches the tail (it starts at or below it).
  const uint64_t end = std::max(a.zero_end, tail);
  return end < cap && end - tail + config_.prezero_step_bytes <= window_target(a);
}

io::Task<void> PartitionLog::wait_zeroing() {
  while (zeroing_) co_await zeroing_done_.wait();
}

namespace {
// One zeroed, page-aligned block per thread (shard), written as many times as needed.
constexpr std::size_t kZeroBlockBytes = 256 << 10;
alloc::BufferRef zero_block() {
  static thread_local alloc::BufferRef zeros;
  if (!zeros) {
    zeros = alloc::BufferRef(alloc::Buffer::allocate(kZeroBlockBytes, kPage));
    std::memset(zeros->data(), 0, kZeroBlockBytes);
  }
  return zeros;
}

io::Task<Result<void>> write_zeros(File& f, uint64_t from, uint64_t to) {
  SLUICE_ASSERT(from <= to && from % kPage == 0 && to % kPage == 0);
  alloc::BufferRef keep = zero_block();
  for (uint64_t pos = from; pos < to;) {
    const std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(kZeroBlockBytes, to - pos));
    auto w = co_await f.write(pos, std::span<const std::byte>(keep->data(), n));
    if (!w) co_return w.error();
    pos += n;
  }
  co_return ok_result();
}
}  // namespace

io::Task<Result<void>> PartitionLog::extend_written_window() {
  if (!written_window_low()) co_return ok_result();
  Segment* seg = nullptr;
  uint64_t from = 0, to = 0;
  bool contiguous = false;
  co_await io_lock_.lock();
  {
    // Claimed under the lock, so no flush is half way: every page a flush may write from now on
    // until this step ends lies below `from` (the tail), or waits for it (do_flush).
    LockGuard guard(io_lock_);
    if (!written_window_low()) co_return ok_result();
    Segment& a = active();
    const uint64_t tail = align_up(a.size_bytes, kPage);
    contiguous = a.zero_end >= tail && a.zero_end > a.zero_start;
    from = contiguous ? a.zero_end : tail;
    to = std::min<uint64_t>(from + config_.prezero_step_bytes, align_up(config_.segment_bytes, kPage));
    if (from >= to) co_return ok_result();
    seg = &a;
    zeroing_ = true;
  }
  SLUICE_ASSERT(seg && seg->log && from % kPage == 0 && to % kPage == 0);
  // The segment stays active and its file open meanwhile: rolls, truncate_to and close wait for
  // zeroing_ (wait_zeroing) before they touch it.
  // Grow the file first (fallocate, a quick metadata change) when the step is past its end: a
  // direct write that extends the file holds the inode lock for its whole duration, and a data
  // write beside it would then wait for it in io_uring's worker instead of going straight out.
  Result<void> r = ok_result();
  if (to > seg->allocated_bytes) {
    const uint64_t grow_from = std::max(from, seg->allocated_bytes);
    r = co_await seg->log->allocate(grow_from, to - grow_from);
  }
  if (r) r = co_await write_zeros(*seg->log, from, to);
  if (r) {
    r = co_await seg->log->datasync();
    stats_.syncs++;
  }
  zeroing_ = false;
  if (r) {
    if (!contiguous) seg->zero_start = from;
    seg->zero_end = to;
    seg->allocated_bytes = std::max(seg->allocated_bytes, to);
    stats_.zeroed_bytes += to - from;
    SLUICE_ASSERT(seg->zero_start < seg->zero_end);
  }
  zeroing_done_.notify_all();
  co_return r;
}

// Reads the durable head [file_pos, tail_hole_end) of the first tail chunk's page from disk into
// the chunk (see Segment::tail_hole_end), so the page can be rewritten whole. Once per segment,
// at the first flush after open/truncate_to with a partial last page. Caller holds io_lock_.
io::Task<Result<void>> PartitionLog::fill_tail_hole(Segment& s) {
  SLUICE_ASSERT(s.log && !s.chunks.empty() && s.tail_hole_end > s.chunks.front().file_pos);
  const uint64_t fp = s.chunks.front().file_pos;
  const uint64_t n = s.tail_hole_end - fp;
  SLUICE_ASSERT(n < kPage && s.durable_bytes >= s.tail_hole_end);
  // Its own page: the chunk's page already holds appended bytes after the hole (and readers may
  // share them), so the disk page cannot be read into it directly.
  alloc::BufferRef page(alloc::Buffer::allocate(kPage, kPage));
  auto r = co_await s.log->read(fp, std::span<std::byte>(page->data(), kPage));
  if (!r) co_return r.error();
  if (r.value() < n) co_return log_error(LogErrc::kCorruptLog, "active segment shorter than its data");
  SLUICE_ASSERT(!s.chunks.empty() && s.chunks.front().file_pos == fp && s.tail_hole_end == fp + n);
  std::memcpy(s.chunks.front().buf->data(), page->data(), static_cast<std::size_t>(n));
  s.tail_hole_end = 0;
  co_return ok_result();
}

// The reserved size after the next step, covering at least `end` (page-aligned): the first step
// of a segment is preallocate_initial_bytes, then each step doubles what the segment has, at most
// preallocate_bytes at a time and never past segment.bytes (only a batch larger than the whole
// segment goes beyond, exactly as far as it needs).
uint64_t PartitionLog::next_reservation(const Segment& s, uint64_t end) const {
  SLUICE_ASSERT(end % kPage == 0 && s.allocated_bytes % kPage == 0);
  const uint64_t max_step = align_up(config_.preallocate_bytes, kPage);
  const uint64_t first = std::min(align_up(config_.preallocate_initial_bytes, kPage), max_step);
  const uint64_t step = std::min(std::max(s.allocated_bytes, first), max_step);
  const uint64_t want = std::max(end, std::min(s.allocated_bytes + step, align_up(config_.segment_bytes, kPage)));
  SLUICE_ASSERT(want % kPage == 0 && want >= s.allocated_bytes);
  return want;
}

io::Task<Result<void>> PartitionLog::reserve(File& f, uint64_t from, uint64_t to) {
  SLUICE_ASSERT(from <= to && from % kPage == 0 && to % kPage == 0);
  if (!config_.prezero) co_return co_await f.allocate(from, to - from);
  co_return co_await write_zeros(f, from, to);
}

io::Task<Result<void>> PartitionLog::create_segment_files(Segment& s, bool reserve_space) {
  SLUICE_ASSERT(!s.files_created && !s.log && s.durable_bytes == 0);
  auto log = co_await fs_.open(path(s.base_offset, "log"), OpenOptions{true, true});
  if (!log) co_return log.error();
  auto idx = co_await fs_.open(path(s.base_offset, "idx"), OpenOptions{true, false});
  if (!idx) co_return idx.error();
  auto tix = co_await fs_.open(path(s.base_offset, "tix"), OpenOptions{true, false});
  if (!tix) co_return tix.error();
  File* lf = log.value().get();
  SLUICE_ASSERT_MSG(lf->alignment() <= kPage && kPage % lf->alignment() == 0, "unsupported O_DIRECT alignment");
  for (File* f : {lf, idx.value().get(), tix.value().get()}) {
    auto r = co_await f->truncate(0);  // a leftover from an earlier failed attempt
    if (!r) co_return r;
  }
  // The first, small step (enough for the data already waiting): see next_reservation.
  s.allocated_bytes = 0;
  const uint64_t prealloc = reserve_space ? next_reservation(s, align_up(s.size_bytes, kPage)) : 0;
  if (prealloc > 0) {
    auto r = co_await reserve(*lf, 0, prealloc);
    if (!r) co_return r;
  }
  // A new segment only (a new partition, or a roll), never a reopen: fdatasync of a file does
  // not make its name durable, and data in it is reported durable by the next flush.
  auto r = co_await fs_.sync_dir(dir_);
  if (!r) co_return r;
  s.log = std::move(log.value());
  s.idx = std::move(idx.value());
  s.tix = std::move(tix.value());
  s.allocated_bytes = prealloc;
  s.index_persisted = s.time_index_persisted = 0;
  s.files_created = true;
  co_return ok_result();
}

io::Task<Result<void>> PartitionLog::persist_indexes(Segment& s, bool full, std::span<std::byte> scratch) {
  if (!s.idx || !s.tix) co_return ok_result();
  // Only entries of durable batches, so an entry that reaches the disk never points past
  // durable data. `full` (seal/close) writes everything and truncates stale tails.
  std::size_t n_idx = s.index.size();
  while (n_idx > s.index_persisted && s.index[n_idx - 1].position >= s.durable_bytes) --n_idx;
  std::size_t n_tix = s.time_index.size();
  while (n_tix > s.time_index_persisted && s.time_index[n_tix - 1].position >= s.durable_bytes) --n_tix;
  if (full) {
    auto r = co_await s.idx->truncate(s.index_persisted * kIdxEntryBytes);
    if (!r) co_return r;
    r = co_await s.tix->truncate(s.time_index_persisted * kTixEntryBytes);
    if (!r) co_return r;
  }
  while (s.index_persisted < n_idx) {
    std::size_t k = std::min(n_idx - s.index_persisted, scratch.size() / kIdxEntryBytes);
    for (std::size_t i = 0; i < k; ++i) {
      const IndexEntry& e = s.index[s.index_persisted + i];
      store_be<uint32_t>(scratch.data() + i * kIdxEntryBytes, e.relative_offset);
      store_be<uint32_t>(scratch.data() + i * kIdxEntryBytes + 4, e.position);
    }
    auto w = co_await s.idx->write(s.index_persisted * kIdxEntryBytes,
                                   std::span<const std::byte>(scratch.data(), k * kIdxEntryBytes));
    if (!w) co_return w.error();
    s.index_persisted += k;
  }
  while (s.time_index_persisted < n_tix) {
    std::size_t k = std::min(n_tix - s.time_index_persisted, scratch.size() / kTixEntryBytes);
    for (std::size_t i = 0; i < k; ++i) {
      const TimeIndexEntry& e = s.time_index[s.time_index_persisted + i];
      store_be<int64_t>(scratch.data() + i * kTixEntryBytes, e.timestamp_ms);
      store_be<uint32_t>(scratch.data() + i * kTixEntryBytes + 8, e.relative_offset);
      store_be<uint32_t>(scratch.data() + i * kTixEntryBytes + 12, e.position);
    }
    auto w = co_await s.tix->write(s.time_index_persisted * kTixEntryBytes,
                                   std::span<const std::byte>(scratch.data(), k * kTixEntryBytes));
    if (!w) co_return w.error();
    s.time_index_persisted += k;
  }
  if (full) {
    auto r = co_await s.idx->datasync();
    if (!r) co_return r;
    r = co_await s.tix->datasync();
    if (!r) co_return r;
    stats_.syncs += 2;
  }
  co_return ok_result();
}

io::Task<Result<void>> PartitionLog::seal(Segment& s, uint64_t size_bytes) {
  SLUICE_ASSERT(s.roll_pending && s.files_created && size_bytes == s.size_bytes);
  auto r = co_await s.log->truncate(size_bytes);
  if (!r) co_return r;
  r = co_await s.log->datasync();
  if (!r) co_return r;
  stats_.syncs++;
  s.durable_bytes = size_bytes;
  s.allocated_bytes = size_bytes;
  // A final time-index entry records the segment's max timestamp (retention.ms reads it).
  if (s.max_timestamp_ms >= 0 && (s.time_index.empty() || s.time_index.back().timestamp_ms < s.max_timestamp_ms) &&
      (s.time_index.empty() || s.time_index.back().position < s.max_timestamp_pos))
    s.time_index.push_back(TimeIndexEntry{s.max_timestamp_ms, s.max_timestamp_rel, s.max_timestamp_pos});
  r = co_await persist_indexes(s, true, index_scratch());
  if (!r) co_return r;
  s.sealed = true;
  s.roll_pending = false;
  retire_chunks(s, true);
  // The memory kept per sealed segment is its index: give back what the active one reserved
  // (a hostile offset pattern can make many small segments).
  s.chunks.shrink_to_fit();
  s.index.shrink_to_fit();
  s.time_index.shrink_to_fit();
  close_sealed(s);
  SLUICE_ASSERT(s.durable_bytes == s.size_bytes && !s.idx && !s.tix);
  co_return ok_result();
}

// A sealed segment needs no open file: its indexes are complete in memory and its .log reopens
// on demand (ensure_open). With a reader in flight it stays open, under the LRU's bound.
void PartitionLog::close_sealed(Segment& s) {
  SLUICE_ASSERT(s.sealed);
  s.idx.reset();
  s.tix.reset();
  if (!s.log) return;
  if (s.pins == 0) {
    OpenSegmentLru::local().remove(s);
    s.log.reset();
  } else {
    OpenSegmentLru::local().touch(s);
  }
}

io::Task<Result<void>> PartitionLog::do_flush() {
  co_await io_lock_.lock();
  LockGuard guard(io_lock_);
  // The first change to the files after a clean open: the marker describing them goes first.
  auto marker = co_await consume_clean_marker();
  if (!marker) {
    storage_error_ = marker.error();
    co_return marker;
  }
  const int64_t target_offset = log_end_;
  const int64_t target_messages = appended_messages_;
  const std::size_t n = segments_.size();
  const uint64_t last_target = segments_[n - 1]->size_bytes;
  std::size_t first = n - 1;
  while (first > 0 && !segments_[first - 1]->sealed) --first;
  if (zeroing_) {
    // A window step is writing zeros after the tail. Only a flush entirely inside the written
    // window (which ends below that step) may run beside it; anything else (pages past the
    // window, creating or sealing a segment) waits, so no data page is ever written before or
    // under zeros in flight, and no file is cut under them.
    const Segment& a = *segments_[n - 1];
    const bool inside = first == n - 1 && a.files_created && align_up(last_target, kPage) <= written_end(a);
    if (!inside) co_await wait_zeroing();
  }
  Result<void> result = ok_result();
  for (std::size_t i = first; i < n && result; ++i) {
    Segment& s = *segments_[i];
    const bool last = i == n - 1;
    const uint64_t target = last ? last_target : s.size_bytes;
    if (!s.files_created) {
      result = co_await create_segment_files(s, true);
      if (!result) break;
    }
    const uint64_t before = s.durable_bytes;
    // Inside the written window the sync commits data only; with durable_write_dsync the
    // writes themselves are durable (RWF_DSYNC) and there is no fdatasync at all. Either way
    // durable_bytes moves only once every page of [before, target) is durable.
    const bool in_window = last && align_up(target, kPage) <= written_end(s);
    const bool durable_writes = in_window && config_.durable_write_dsync;
    if (before < target) {
      if (last && config_.prezero_ahead_bytes > 0 && !in_window) stats_.window_misses++;
      result = co_await write_pages(s, before, target, durable_writes);
      if (!result) break;
    }
    if (s.roll_pending && !last) {
      result = co_await seal(s, target);
    } else if (before < target) {
      if (!durable_writes) {
        const auto sync_start = std::chrono::steady_clock::now();
        result = co_await s.log->datasync();
        stats_.sync_latency_ns.record(
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - sync_start)
                .count());
        stats_.syncs++;
      }
      if (result) s.durable_bytes = target;
    }
    if (result) {
      SLUICE_ASSERT(unflushed_bytes_ >= target - before);
      unflushed_bytes_ -= target - before;
    }
  }
  stats_.flushes++;
  if (!result) {
    storage_error_ = result.error();
    co_return result;
  }
  storage_error_.reset();
  SLUICE_ASSERT(target_offset >= durable_end_);
  durable_end_ = target_offset;
  stats_.records_per_flush.record(target_messages - flushed_messages_);
  flushed_messages_ = target_messages;
  last_flush_ms_ = clock_.now_ms();
  Segment& a = *segments_[n - 1];
  if (a.files_created && !a.sealed) {
    auto pr = co_await persist_indexes(a, false, index_scratch());  // best effort: recovery tolerates a stale index
    if (!pr) stats_.index_write_errors++;
    // Now and then make the index durable too, so recovery after a crash scans at most about
    // index_sync_interval_bytes of this segment instead of all of it.
    if (pr && a.durable_bytes - a.index_synced_pos >= config_.index_sync_interval_bytes) {
      auto s1 = co_await a.idx->datasync();
      auto s2 = s1 ? co_await a.tix->datasync() : s1;
      stats_.syncs += 2;
      if (s1 && s2) a.index_synced_pos = a.durable_bytes;
      else stats_.index_write_errors++;
    }
    retire_chunks(a, false);
  }
  set_hw(config_.visible_before_sync ? log_end_ : durable_end_);
  co_return ok_result();
}

// ---------------------------------------------------------------------------------------------
// Maintenance.

io::Task<Result<void>> PartitionLog::delete_segment_files(int64_t base) {
  // The .log goes first: a segment exists iff its .log does; stray indexes are removed at open.
  for (const char* ext : {"log", "idx", "tix"}) {
    auto r = co_await fs_.remove(path(base, ext));
    if (!r && r.error().code != ENOENT) co_return r;
  }
  co_return ok_result();
}

io::Task<Result<void>> PartitionLog::apply_retention(int64_t now_ms) {
  if (closed_) co_return log_error(LogErrc::kLogClosed, "log closed");
  co_await io_lock_.lock();
  LockGuard guard(io_lock_);
  std::erase_if(graveyard_, [](const std::unique_ptr<Segment>& s) { return s->pins == 0; });
  if (!config_.retention_delete) co_return ok_result();  // cleanup.policy=compact alone
  uint64_t total = 0;
  if (config_.retention_bytes >= 0) {
    for (auto& s : segments_) {
      if (!s->size_known) {  // sealed, not read since open: learn its size, keep no fd
        auto r = co_await ensure_open(*s, false);
        if (!r) co_return r;
      }
      SLUICE_ASSERT(s->size_known);
      total += s->size_bytes;
    }
  }
  bool removed = false;
  while (segments_.size() > 1 && segments_.front()->sealed) {
    Segment& s = *segments_.front();
    bool by_bytes =
        config_.retention_bytes >= 0 && total - s.size_bytes >= static_cast<uint64_t>(config_.retention_bytes);
    bool by_time = false;
    if (!by_bytes && config_.retention_ms >= 0) {
      auto r = co_await ensure_indexes(s, true);
      if (!r) co_return r;
      by_time = s.max_timestamp_ms >= 0 && now_ms - s.max_timestamp_ms > config_.retention_ms;
      // Compaction can empty a segment entirely: it has no timestamp to age by, and nothing in it
      // to keep, so it must not hold back the time retention of the ones after it.
      by_time = by_time || (s.size_known && s.size_bytes == 0);
    }
    if (!by_bytes && !by_time) break;
    total -= s.size_bytes;
    auto r = co_await drop_oldest_segment();
    if (!r) co_return r;
    removed = true;
  }
  if (removed) co_return co_await fs_.sync_dir(dir_);
  co_return ok_result();
}

// Removes the oldest (sealed, durable) segment and moves the log start. Caller holds io_lock_.
io::Task<Result<void>> PartitionLog::drop_oldest_segment() {
  SLUICE_ASSERT(segments_.size() > 1 && segments_.front()->sealed);
  const int64_t base = segments_.front()->base_offset;
  std::unique_ptr<Segment> gone = std::move(segments_.front());
  segments_.erase(segments_.begin());
  // advance_log_start may have put the start past the new first segment's base.
  log_start_ = std::max(log_start_, segments_.front()->base_offset);
  SLUICE_ASSERT(log_start_ <= durable_end_);
  if (gone->pins > 0) graveyard_.push_back(std::move(gone));  // a reader still uses it
  co_return co_await delete_segment_files(base);
}

io::Task<Result<void>> PartitionLog::delete_segments_below(int64_t offset) {
  if (closed_) co_return log_error(LogErrc::kLogClosed, "log closed");
  co_await io_lock_.lock();
  LockGuard guard(io_lock_);
  std::erase_if(graveyard_, [](const std::unique_ptr<Segment>& s) { return s->pins == 0; });
  bool removed = false;
  // Only durable data may go: the segment after the deleted one must start at or below both.
  while (segments_.size() > 1 && segments_.front()->sealed && segments_[1]->base_offset <= offset &&
         segments_[1]->base_offset <= durable_end_) {
    auto r = co_await drop_oldest_segment();
    if (!r) co_return r;
    SLUICE_ASSERT(segments_.front()->base_offset <= offset);
    removed = true;
  }
  if (removed) co_return co_await fs_.sync_dir(dir_);
  co_return ok_result();
}

io::Task<Result<void>> PartitionLog::roll_now(int64_t now_ms) {
  if (closed_) co_return log_error(LogErrc::kLogClosed, "log closed");
  if (active().size_bytes == 0) co_return ok_result();
  if (segments_.size() >= config_.max_segments) co_return make_error(ENOSPC, "too many segments");
  while (flushing_) co_await flush_done_.wait();  // one flush at a time: flushing_ is a single flag
  if (closed_) co_return log_error(LogErrc::kLogClosed, "log closed");
  if (active().size_bytes == 0) co_return ok_result();
  roll_in_memory(now_ms);
  // Seal the old segment and create the new one now (flush() alone would skip: nothing new).
  flushing_ = true;
  auto r = co_await do_flush();
  flushing_ = false;
  flush_generation_++;
  if (r) last_flush_error_.reset();
  else last_flush_error_ = r.error();
  flush_done_.notify_all();
  co_return r;
}

io::Task<Result<void>> PartitionLog::roll_if_needed(int64_t now_ms) {
  if (closed_) co_return log_error(LogErrc::kLogClosed, "log closed");
  Segment& a = active();
  if (a.size_bytes == 0 || now_ms - a.created_ms < config_.segment_ms) co_return ok_result();
  co_return co_await roll_now(now_ms);
}

io::Task<Result<void>> PartitionLog::truncate_to(int64_t offset) {
  if (closed_) co_return log_error(LogErrc::kLogClosed, "log closed");
  if (offset >= log_end_) co_return ok_result();
  if (offset < log_start_) co_return log_error(LogErrc::kOffsetOutOfRange, "truncation below the log start");
  auto f = co_await flush();
  if (!f) co_return f;
  co_await io_lock_.lock();
  LockGuard guard(io_lock_);
  co_await wait_zeroing();                    // the active segment may be cut below
  auto mr = co_await consume_clean_marker();  // the files change below
  if (!mr) co_return mr;
  Segment* s = find_segment(offset);
  SLUICE_ASSERT(s);
  // Offsets from s on will be written again: the cleaner must map them when they are.
  clean_end_ = std::min(clean_end_, s->base_offset);
  Pin pin(s);  // its .log stays open across the reads below (it is becoming the active one)
  auto r = co_await ensure_indexes(*s, true);
  if (!r) co_return r;
  r = co_await ensure_open(*s);
  if (!r) co_return r;
  // Drop whole segments after s.
  bool removed = false;
  while (segments_.back().get() != s) {
    std::unique_ptr<Segment> gone = std::move(segments_.back());
    segments_.pop_back();
    const int64_t base = gone->base_offset;
    if (gone->pins > 0) graveyard_.push_back(std::move(gone));
    r = co_await delete_segment_files(base);
    if (!r) co_return r;
    removed = true;
  }
  if (removed) {
    r = co_await fs_.sync_dir(dir_);
    if (!r) co_return r;
  }
  // Position of the batch containing `offset`.
  uint64_t pos = 0;
  {
    auto it = std::upper_bound(s->index.begin(), s->index.end(), static_cast<uint32_t>(offset - s->base_offset),
                               [](uint32_t rel, const IndexEntry& e) { return rel < e.relative_offset; });
    if (it != s->index.begin()) pos = std::prev(it)->position;
  }
  {
    SegmentReader rd(*s, s->size_bytes, config_.read_window_bytes);
    for (;;) {
      auto p = co_await rd.get(pos, kBatchHeaderBytes);
      if (!p) co_return p.error();
      if (!p.value()) co_return log_error(LogErrc::kCorruptLog, "offset not found in its segment");
      auto hp = parse_batch_header(std::span<const std::byte>(p.value(), kBatchHeaderBytes));
      if (!hp) co_return log_error(LogErrc::kCorruptLog, "bad batch header in segment");
      if (hp.value().last_offset() >= offset) break;
      pos += hp.value().size_bytes();
    }
  }
  // s becomes the active segment, cut at pos (pinned meanwhile, so its .log stays open).
  SLUICE_ASSERT(s->log);
  s->chunks.clear();
  s->tail_hole_end = 0;
  if (!s->idx) {
    auto fi = co_await fs_.open(path(s->base_offset, "idx"), OpenOptions{true, false});
    if (!fi) co_return fi.error();
    s->idx = std::move(fi.value());
  }
  if (!s->tix) {
    auto ft = co_await fs_.open(path(s->base_offset, "tix"), OpenOptions{true, false});
    if (!ft) co_return ft.error();
    s->tix = std::move(ft.value());
  }
  s->sealed = false;
  s->roll_pending = false;
  OpenSegmentLru::local().remove(*s);  // not sealed any more: its files stay open, outside the LRU
  s->allocated_bytes = std::max<uint64_t>(s->allocated_bytes, s->size_bytes);
  s->zero_start = s->zero_end = 0;  // recover_tail cuts the file at pos: the window goes with it
  r = co_await recover_tail(*s, pos);
  if (!r) co_return r;
  SLUICE_ASSERT(s->size_bytes == pos && s->chunks.empty());  // the tail loads lazily again
  log_end_ = durable_end_ = s->end_offset;
  hw_ = std::min(hw_, log_end_);
  // Epochs that started in what was cut go (in memory: the next open drops them from the file
  // too); the first entry stays, and an append under a newer epoch records it again.
  while (epochs_.size() > 1 && epochs_.back().start_offset > log_end_) epochs_.pop_back();
  unflushed_bytes_ = 0;
  co_return ok_result();
}

io::Task<Result<void>> PartitionLog::close() {
  if (closed_) co_return ok_result();
  // On a full disk this fails for data that never became durable; what is durable is already
  // complete on disk, and without the marker the next open() runs recovery (which needs no new
  // space either). Nothing below makes the files unreadable if it fails half way: index files
  // only grow by whole entries after a truncation to their persisted prefix, and the marker is
  // renamed into place only once complete.
  auto r = co_await flush();
  if (!r) co_return r;
  co_await io_lock_.lock();
  LockGuard guard(io_lock_);
  co_await wait_zeroing();  // nothing may write the active segment after the marker
  Segment& a = active();
  if (!a.files_created) {  // an empty segment rolled but never flushed: no reservation needed
    r = co_await create_segment_files(a, false);
    if (!r) co_return r;
  }
  // Complete indexes (incl. a final max-timestamp entry), synced, then the marker.
  if (a.max_timestamp_ms >= 0 && (a.time_index.empty() || (a.time_index.back().timestamp_ms < a.max_timestamp_ms &&
                                                           a.time_index.back().position < a.max_timestamp_pos)))
    a.time_index.push_back(TimeIndexEntry{a.max_timestamp_ms, a.max_timestamp_rel, a.max_timestamp_pos});
  r = co_await persist_indexes(a, true, index_scratch());
  if (!r) co_return r;
  r = co_await write_clean_marker();
  if (!r) co_return r;
  closed_ = true;
  co_return ok_result();
}

}  // namespace sluice::log
