#include "engine/log/partition_log.h"

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "engine/log/crc32c.h"

namespace sluice::log {

namespace {

constexpr uint64_t kPage = 4096;
constexpr std::size_t kIdxEntryBytes = 8;
constexpr std::size_t kTixEntryBytes = 16;
constexpr std::size_t kMaxSpareChunks = 4;
constexpr std::size_t kIndexReserveEntries = 1024;
constexpr std::size_t kScratchBytes = 4096;
constexpr const char* kCleanMarkerName = ".clean_shutdown";
constexpr uint32_t kMarkerMagic = 0x534c4353;  // "SLCS"
constexpr uint32_t kMarkerVersion = 1;
constexpr std::size_t kMarkerBytes = 36;

uint64_t align_down(uint64_t v, uint64_t a) { return v / a * a; }
uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

bool parse_segment_name(const std::string& name, int64_t* base, std::string* ext) {
  if (name.size() != 24 || name[20] != '.') return false;
  int64_t v = 0;
  for (int i = 0; i < 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    if (v > (std::numeric_limits<int64_t>::max() - 9) / 10) return false;
    v = v * 10 + (name[i] - '0');
  }
  *base = v;
  *ext = name.substr(21);
  return true;
}

}  // namespace

struct IndexEntry {
  uint32_t relative_offset;
  uint32_t position;
};

struct TimeIndexEntry {
  int64_t timestamp_ms;
  uint32_t relative_offset;
  uint32_t position;
};

struct Chunk {
  alloc::BufferRef buf;
  uint64_t file_pos;  // aligned to kPage
};

struct Segment {
  int64_t base_offset = 0;
  int64_t end_offset = 0;       // offset after the last batch (== base_offset when empty)
  uint64_t size_bytes = 0;      // data bytes, including those only in memory
  uint64_t durable_bytes = 0;   // synced prefix
  uint64_t allocated_bytes = 0; // file size (pre-allocation)
  bool size_known = true;       // false for sealed segments until ensure_open
  int64_t max_timestamp_ms = -1;
  uint32_t max_timestamp_rel = 0;
  uint32_t max_timestamp_pos = 0;
  int64_t created_ms = 0;
  bool sealed = false;          // exact size on disk, complete synced indexes, no more appends
  bool roll_pending = false;    // no more appends; the next flush seals it
  bool files_created = false;
  bool indexes_loaded = false;
  std::unique_ptr<File> log, idx, tix;
  std::vector<IndexEntry> index;
  std::vector<TimeIndexEntry> time_index;
  std::size_t index_persisted = 0;       // entries known to be in the .idx file
  std::size_t time_index_persisted = 0;
  uint64_t bytes_since_index = 0;
  uint64_t index_synced_pos = 0;  // data covered by synced index entries (bounds crash recovery)
  std::vector<Chunk> chunks;    // memory tail: contiguous, covering [chunks[0].file_pos, size_bytes)
  uint32_t pins = 0;            // readers in flight

  uint64_t first_cached_pos() const noexcept { return chunks.empty() ? UINT64_MAX : chunks.front().file_pos; }
};

namespace {
struct Pin {
  explicit Pin(Segment* s) : s_(s) { s_->pins++; }
  ~Pin() { s_->pins--; }
  Pin(const Pin&) = delete;
  Pin& operator=(const Pin&) = delete;
  Segment* s_;
};

struct LockGuard {
  explicit LockGuard(AsyncMutex& m) : m_(m) {}
  ~LockGuard() { m_.unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;
  AsyncMutex& m_;
};
}  // namespace

// Reads bytes of one segment: from the memory tail when cached there, otherwise with aligned
// reads through a window buffer. Never reads at or beyond `limit`.
class SegmentReader {
 public:
  SegmentReader(Segment& s, uint64_t limit, uint32_t window_bytes) : s_(s), limit_(limit), window_bytes_(window_bytes) {}

  // Pointer to n contiguous bytes at pos; nullptr if the range passes the limit or end of file.
  io::Task<Result<const std::byte*>> get(uint64_t pos, std::size_t n) {
    if (pos + n > limit_) co_return static_cast<const std::byte*>(nullptr);
    if (pos >= s_.first_cached_pos()) co_return from_memory(pos, n);
    if (!(pos >= win_pos_ && pos + n <= win_pos_ + win_len_)) {
      auto ok = co_await load(pos, n);
      if (!ok) co_return ok.error();
      if (!ok.value()) co_return static_cast<const std::byte*>(nullptr);
    }
    co_return static_cast<const std::byte*>(win_->data() + (pos - win_pos_));
  }

  // Appends [pos, pos+n) to out, sharing buffers (memory tail or a freshly read window).
  io::Task<Result<void>> share(alloc::IoBuf& out, uint64_t pos, std::size_t n) {
    SLUICE_ASSERT(pos + n <= limit_);
    while (n > 0) {
      uint64_t cached = s_.first_cached_pos();
      if (pos >= cached) {
        share_memory(out, pos, n);
        co_return ok_result();
      }
      std::size_t disk_n = static_cast<std::size_t>(std::min<uint64_t>(n, cached - pos));
      if (!(pos >= win_pos_ && pos + disk_n <= win_pos_ + win_len_)) {
        auto ok = co_await load(pos, disk_n);
        if (!ok) co_return ok.error();
        if (!ok.value()) co_return log_error(LogErrc::kCorruptLog, "segment shorter than its data");
      }
      out.append_shared(win_, static_cast<std::size_t>(pos - win_pos_), disk_n);
      pos += disk_n;
      n -= disk_n;
    }
    co_return ok_result();
  }

  uint64_t bytes_read() const noexcept { return bytes_read_; }

 private:
  const Chunk& chunk_at(uint64_t pos) const {
    const Chunk& first = s_.chunks.front();
    std::size_t cap = first.buf->capacity();
    std::size_t i = static_cast<std::size_t>((pos - first.file_pos) / cap);
    SLUICE_ASSERT(i < s_.chunks.size());
    SLUICE_ASSERT(s_.chunks[i].file_pos <= pos && pos < s_.chunks[i].file_pos + cap);
    return s_.chunks[i];
  }
  const std::byte* from_memory(uint64_t pos, std::size_t n) {
    const Chunk& c = chunk_at(pos);
    uint64_t off = pos - c.file_pos;
    if (off + n <= c.buf->capacity()) return c.buf->data() + off;
    scratch_.resize(n);  // straddles chunks: copy (rare; headers and scans only)
    std::size_t done = 0;
    while (done < n) {
      const Chunk& k = chunk_at(pos + done);
      uint64_t o = pos + done - k.file_pos;
      std::size_t m = std::min<std::size_t>(n - done, k.buf->capacity() - o);
      std::memcpy(scratch_.data() + done, k.buf->data() + o, m);
      done += m;
    }
    return scratch_.data();
  }
  void share_memory(alloc::IoBuf& out, uint64_t pos, std::size_t n) {
    while (n > 0) {
      const Chunk& c = chunk_at(pos);
      uint64_t off = pos - c.file_pos;
      std::size_t m = std::min<std::size_t>(n, c.buf->capacity() - off);
      out.append_shared(c.buf, static_cast<std::size_t>(off), m);
      pos += m;
      n -= m;
    }
  }
  io::Task<Result<bool>> load(uint64_t pos, std::size_t n) {
    SLUICE_ASSERT(s_.log);
    uint64_t start = align_down(pos, kPage);
    uint64_t need = pos + n - start;
    uint64_t len = align_up(std::max<uint64_t>(need, window_bytes_), kPage);
    len = std::max(align_up(need, kPage), std::min(len, align_up(limit_ - start, kPage)));
    if (!win_ || win_->refs() > 1 || win_->capacity() < len) {
      win_ = alloc::BufferRef(alloc::Buffer::allocate(static_cast<std::size_t>(len), kPage));
    }
    win_len_ = 0;
    auto r = co_await s_.log->read(start, std::span<std::byte>(win_->data(), static_cast<std::size_t>(len)));
    if (!r) co_return r.error();
    bytes_read_ += r.value();
    win_pos_ = start;
    win_len_ = r.value();
    co_return win_len_ >= need;
  }

  Segment& s_;
  uint64_t limit_;
  uint32_t window_bytes_;
  alloc::BufferRef win_;
  uint64_t win_pos_ = 0;
  uint64_t win_len_ = 0;
  uint64_t bytes_read_ = 0;
  std::vector<std::byte> scratch_;
};

Result<void> validate_config(const LogConfig& c) {
  if (c.segment_bytes < kPage || c.segment_bytes > (1ull << 31) - 1) return make_error(EINVAL, "segment.bytes out of range");
  if (c.tail_chunk_bytes < kPage || c.tail_chunk_bytes % kPage != 0 || c.tail_chunk_bytes > (64u << 20))
    return make_error(EINVAL, "tail_chunk_bytes must be a multiple of 4 KiB, <= 64 MiB");
  if (c.max_message_bytes < kBatchHeaderBytes || c.max_message_bytes > kMaxBatchBytesHardLimit)
    return make_error(EINVAL, "max.message.bytes out of range");
  if (c.max_unflushed_bytes < c.max_message_bytes) return make_error(EINVAL, "max_unflushed_bytes < max.message.bytes");
  if (c.index_interval_bytes == 0) return make_error(EINVAL, "index.interval.bytes must be > 0");
  if (c.segment_ms <= 0 || c.flush_messages <= 0 || c.flush_ms < 0) return make_error(EINVAL, "bad time/flush limits");
  if (c.read_window_bytes < kPage || c.max_segments < 1 || c.preallocate_bytes < kPage)
    return make_error(EINVAL, "bad read window / segment limit / preallocation");
  return ok_result();
}

PartitionLog::PartitionLog(FileSystem& fs, std::string dir, LogConfig config, Clock& clock)
    : fs_(fs), dir_(std::move(dir)), config_(config), clock_(clock) {
  spare_chunks_.reserve(kMaxSpareChunks);
  scratch_.resize(kScratchBytes);
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
  config_ = c;
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
    if (c.buf->refs() == 1 && c.buf->capacity() == config_.tail_chunk_bytes && spare_chunks_.size() < kMaxSpareChunks)
      spare_chunks_.push_back(std::move(c.buf));
    s.chunks.erase(s.chunks.begin());
  }
}

void PartitionLog::copy_into_tail(Segment& s, uint64_t pos, std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    if (s.chunks.empty() || pos >= s.chunks.back().file_pos + s.chunks.back().buf->capacity()) {
      uint64_t fp = s.chunks.empty() ? align_down(pos, kPage) : s.chunks.back().file_pos + s.chunks.back().buf->capacity();
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
  if (fresh && (indexed || (grew && (s.time_index.empty() || pos - s.time_index.back().position >= config_.index_interval_bytes))))
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
  s->chunks.reserve(config_.max_unflushed_bytes / config_.tail_chunk_bytes + config_.tail_cache_bytes / config_.tail_chunk_bytes + 4);
  s->index.reserve(kIndexReserveEntries);
  s->time_index.reserve(kIndexReserveEntries);
  segments_.push_back(std::move(s));
}

Result<AppendResult> PartitionLog::append(std::span<const std::byte> batch) {
  if (closed_) return log_error(LogErrc::kLogClosed, "log closed");
  if (storage_error_) return *storage_error_;
  ValidateOptions vo;
  vo.max_message_bytes = config_.max_message_bytes;
  auto hv = validate_batch(batch, vo);
  if (!hv) return hv.error();
  BatchHeader h = hv.value();
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
  if (unflushed_bytes_ + n > config_.max_unflushed_bytes) return log_error(LogErrc::kTailFull, "too many unflushed bytes");

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
    uint32_t crc = crc32c_extend(0, hdr.data() + batch_field::kAttributes, kBatchHeaderBytes - batch_field::kAttributes);
    crc = crc32c_extend(crc, batch.data() + kBatchHeaderBytes, n - kBatchHeaderBytes);
    store_be<uint32_t>(hdr.data() + batch_field::kCrc, crc);
  }
  h.base_offset = base;

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

io::Task<Result<void>> PartitionLog::write_pages(Segment& s, uint64_t from, uint64_t to) {
  SLUICE_ASSERT(s.log && from <= to);
  const uint64_t start = align_down(from, kPage);
  const uint64_t end = align_up(to, kPage);
  if (end > s.allocated_bytes) {
    uint64_t want = std::max(end, std::min<uint64_t>(s.allocated_bytes + config_.preallocate_bytes,
                                                     align_up(config_.segment_bytes, kPage)));
    want = align_up(want, kPage);
    auto r = co_await reserve(*s.log, s.allocated_bytes, want);
    if (!r) co_return r;
    s.allocated_bytes = want;
  }
  SLUICE_ASSERT(!s.chunks.empty() && s.chunks.front().file_pos <= start);
  for (const Chunk& c : s.chunks) {
    uint64_t cs = c.file_pos, ce = c.file_pos + c.buf->capacity();
    uint64_t lo = std::max(start, cs), hi = std::min(end, ce);
    if (lo >= hi) continue;
    alloc::BufferRef keep = c.buf;  // the chunk list may change while the write is in flight
    auto w = co_await s.log->write(lo, std::span<const std::byte>(keep->data() + (lo - cs), hi - lo));
    if (!w) co_return w.error();
  }
  co_return ok_result();
}

io::Task<Result<void>> PartitionLog::reserve(File& f, uint64_t from, uint64_t to) {
  SLUICE_ASSERT(from <= to && from % kPage == 0 && to % kPage == 0);
  if (!config_.prezero) co_return co_await f.allocate(from, to - from);
  // One zeroed, page-aligned block per thread (shard), written as many times as needed.
  constexpr std::size_t kZeroBlockBytes = 256 << 10;
  static thread_local alloc::BufferRef zeros;
  if (!zeros) {
    zeros = alloc::BufferRef(alloc::Buffer::allocate(kZeroBlockBytes, kPage));
    std::memset(zeros->data(), 0, kZeroBlockBytes);
  }
  alloc::BufferRef keep = zeros;
  for (uint64_t pos = from; pos < to;) {
    const std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(kZeroBlockBytes, to - pos));
    auto w = co_await f.write(pos, std::span<const std::byte>(keep->data(), n));
    if (!w) co_return w.error();
    pos += n;
  }
  co_return ok_result();
}

io::Task<Result<void>> PartitionLog::create_segment_files(Segment& s) {
  SLUICE_ASSERT(!s.files_created && s.size_bytes == s.durable_bytes + (s.size_bytes - s.durable_bytes));
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
  uint64_t prealloc = std::min<uint64_t>(config_.preallocate_bytes, align_up(config_.segment_bytes, kPage));
  auto r = co_await reserve(*lf, 0, align_up(prealloc, kPage));
  if (!r) co_return r;
  r = co_await fs_.sync_dir(dir_);
  if (!r) co_return r;
  s.log = std::move(log.value());
  s.idx = std::move(idx.value());
  s.tix = std::move(tix.value());
  s.allocated_bytes = align_up(prealloc, kPage);
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
    auto w = co_await s.idx->write(s.index_persisted * kIdxEntryBytes, std::span<const std::byte>(scratch.data(), k * kIdxEntryBytes));
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
    auto w = co_await s.tix->write(s.time_index_persisted * kTixEntryBytes, std::span<const std::byte>(scratch.data(), k * kTixEntryBytes));
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
  r = co_await persist_indexes(s, true, scratch_);
  if (!r) co_return r;
  s.sealed = true;
  s.roll_pending = false;
  s.idx.reset();
  s.tix.reset();
  retire_chunks(s, true);
  SLUICE_ASSERT(s.durable_bytes == s.size_bytes);
  co_return ok_result();
}

io::Task<Result<void>> PartitionLog::do_flush() {
  co_await io_lock_.lock();
  LockGuard guard(io_lock_);
  const int64_t target_offset = log_end_;
  const int64_t target_messages = appended_messages_;
  const std::size_t n = segments_.size();
  const uint64_t last_target = segments_[n - 1]->size_bytes;
  std::size_t first = n - 1;
  while (first > 0 && !segments_[first - 1]->sealed) --first;
  Result<void> result = ok_result();
  for (std::size_t i = first; i < n && result; ++i) {
    Segment& s = *segments_[i];
    const bool last = i == n - 1;
    const uint64_t target = last ? last_target : s.size_bytes;
    if (!s.files_created) {
      result = co_await create_segment_files(s);
      if (!result) break;
    }
    const uint64_t before = s.durable_bytes;
    if (before < target) {
      result = co_await write_pages(s, before, target);
      if (!result) break;
    }
    if (s.roll_pending && !last) {
      result = co_await seal(s, target);
    } else if (before < target) {
      result = co_await s.log->datasync();
      stats_.syncs++;
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
  flushed_messages_ = target_messages;
  last_flush_ms_ = clock_.now_ms();
  Segment& a = *segments_[n - 1];
  if (a.files_created && !a.sealed) {
    auto pr = co_await persist_indexes(a, false, scratch_);  // best effort: recovery tolerates a stale index
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
  auto r = co_await fs_.mkdirs(dir_);
  if (!r) co_return r;
  auto names = co_await fs_.list(dir_);
  if (!names) co_return names.error();
  std::vector<int64_t> bases;
  std::vector<std::pair<int64_t, std::string>> others;
  bool marker = false;
  for (const auto& name : names.value()) {
    int64_t base = 0;
    std::string ext;
    if (name == kCleanMarkerName) marker = true;
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
    r = co_await create_segment_files(*s);
    if (!r) co_return r;
    segments_.push_back(std::move(s));
  }
  Segment& a = active();
  a.chunks.reserve(config_.max_unflushed_bytes / config_.tail_chunk_bytes + config_.tail_cache_bytes / config_.tail_chunk_bytes + 4);
  a.index.reserve(kIndexReserveEntries);
  a.time_index.reserve(kIndexReserveEntries);
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
    a.end_offset = std::max(a.end_offset, a.base_offset);
  }
  if (marker) {  // consumed: a crash from now on must run recovery
    r = co_await fs_.remove(dir_ + "/" + kCleanMarkerName);
    if (!r) co_return r;
    r = co_await fs_.sync_dir(dir_);
    if (!r) co_return r;
  }
  r = co_await load_tail_chunk(a);
  if (!r) co_return r;
  log_start_ = segments_.front()->base_offset;
  log_end_ = a.end_offset;
  durable_end_ = log_end_;
  hw_ = log_end_;
  last_flush_ms_ = now;
  SLUICE_ASSERT(a.size_bytes == a.durable_bytes && log_start_ <= log_end_);
  co_return ok_result();
}

io::Task<Result<void>> PartitionLog::load_tail_chunk(Segment& s) {
  s.chunks.clear();
  if (s.size_bytes % kPage == 0) co_return ok_result();
  uint64_t fp = align_down(s.size_bytes, kPage);
  alloc::BufferRef b = take_chunk();
  auto r = co_await s.log->read(fp, std::span<std::byte>(b->data(), kPage));
  if (!r) co_return r.error();
  if (r.value() < s.size_bytes - fp) co_return log_error(LogErrc::kCorruptLog, "active segment shorter than its data");
  std::memset(b->data() + (s.size_bytes - fp), 0, b->capacity() - (s.size_bytes - fp));
  s.chunks.push_back(Chunk{std::move(b), fp});
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
        if (!ok) { *valid = false; break; }
        s.index.push_back(e);
      }
      s.index_persisted = s.index.size();
      s.idx = std::move(f.value());
    } else {
      s.time_index.clear();
      for (std::size_t i = 0; i < count; ++i) {
        TimeIndexEntry e{load_be<int64_t>(bytes.data() + i * entry), load_be<uint32_t>(bytes.data() + i * entry + 8),
                         load_be<uint32_t>(bytes.data() + i * entry + 12)};
        bool ok = e.timestamp_ms >= 0 && (s.time_index.empty() || (e.timestamp_ms >= s.time_index.back().timestamp_ms &&
                                                                   e.relative_offset > s.time_index.back().relative_offset &&
                                                                   e.position > s.time_index.back().position));
        if (!ok) { *valid = false; break; }
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
  if (!a.index.empty() && (a.index.back().position >= size || a.index.back().relative_offset >= end - base)) co_return false;
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
  if (!r) co_return r;
  auto w = co_await f.value()->write(0, m);
  if (!w) co_return w.error();
  r = co_await f.value()->datasync();
  if (!r) co_return r;
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
        ok = whole.value() && compute_batch_crc(std::span<const std::byte>(whole.value(), h.value().size_bytes())) == h.value().crc;
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
  const uint64_t keep = std::max(align_up(pos, kPage), align_up(old_size, kPage));
  if (keep > pos) {  // fallocate refuses a zero length (EINVAL)
    r = co_await s.log->allocate(pos, keep - pos);
    if (!r) co_return r;
  }
  r = co_await s.log->datasync();
  if (!r) co_return r;
  stats_.syncs++;
  s.allocated_bytes = keep;
  r = co_await persist_indexes(s, true, scratch_);
  if (!r) co_return r;
  SLUICE_ASSERT(s.end_offset >= s.base_offset && s.size_bytes <= s.allocated_bytes);
  co_return ok_result();
}

io::Task<Result<void>> PartitionLog::ensure_open(Segment& s) {
  if (s.log) co_return ok_result();
  auto f = co_await fs_.open(path(s.base_offset, "log"), OpenOptions{false, true});
  if (!f) co_return f.error();
  auto sz = co_await f.value()->size();
  if (!sz) co_return sz.error();
  s.log = std::move(f.value());
  if (!s.size_known) {
    SLUICE_ASSERT(s.sealed);
    s.size_bytes = s.durable_bytes = s.allocated_bytes = sz.value();
    s.size_known = true;
  }
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
  auto r = co_await ensure_open(s);
  if (!r) co_return r;
  bool valid = false;
  r = co_await load_index_files(s, &valid);
  if (!r) co_return r;
  if (valid && !s.index.empty() && s.index.back().position >= s.size_bytes) valid = false;
  if (valid && !s.time_index.empty() && s.time_index.back().position >= s.size_bytes) valid = false;
  if (valid && s.index.empty() && s.size_bytes > 2ull * config_.index_interval_bytes) valid = false;
  if (!valid) {
    r = co_await rebuild_indexes(s);
    if (!r) co_return r;
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
  co_return co_await persist_indexes(s, true, scratch);
}

// ---------------------------------------------------------------------------------------------
// Read path.

io::Task<Result<ReadResult>> PartitionLog::read(int64_t offset, std::size_t max_bytes, int64_t max_offset_exclusive) {
  if (closed_) co_return log_error(LogErrc::kLogClosed, "log closed");
  if (offset < log_start_ || offset > log_end_) co_return log_error(LogErrc::kOffsetOutOfRange, "offset out of range");
  ReadResult out;
  out.high_watermark = hw_;
  out.log_start_offset = log_start_;
  const int64_t limit = std::min(max_offset_exclusive, log_end_);
  if (offset >= limit) co_return out;
  Segment* s = find_segment(offset);
  SLUICE_ASSERT(s && offset >= s->base_offset);
  Pin pin(s);
  auto r = co_await ensure_indexes(*s, false);
  if (!r) co_return r.error();
  uint64_t pos = 0;
  {
    auto it = std::upper_bound(s->index.begin(), s->index.end(), static_cast<uint32_t>(offset - s->base_offset),
                               [](uint32_t rel, const IndexEntry& e) { return rel < e.relative_offset; });
    if (it != s->index.begin()) pos = std::prev(it)->position;
  }
  SegmentReader rd(*s, s->size_bytes, config_.read_window_bytes);
  // Find the batch containing `offset`.
  BatchHeader h;
  for (;;) {
    auto p = co_await rd.get(pos, kBatchHeaderBytes);
    if (!p) co_return p.error();
    if (!p.value()) co_return log_error(LogErrc::kCorruptLog, "offset not found in its segment");
    auto hp = parse_batch_header(std::span<const std::byte>(p.value(), kBatchHeaderBytes));
    if (!hp || hp.value().magic != kMagicV2) co_return log_error(LogErrc::kCorruptLog, "bad batch header in segment");
    h = hp.value();
    if (h.last_offset() >= offset) break;
    pos += h.size_bytes();
  }
  SLUICE_ASSERT(h.base_offset <= offset);
  const uint64_t start = pos;
  std::size_t total = 0;
  while (pos < s->size_bytes) {
    auto p = co_await rd.get(pos, kBatchHeaderBytes);
    if (!p) co_return p.error();
    if (!p.value()) break;
    auto hp = parse_batch_header(std::span<const std::byte>(p.value(), kBatchHeaderBytes));
    if (!hp || hp.value().magic != kMagicV2) co_return log_error(LogErrc::kCorruptLog, "bad batch header in segment");
    if (hp.value().base_offset >= limit) break;
    if (total > 0 && total + hp.value().size_bytes() > max_bytes) break;
    total += hp.value().size_bytes();
    pos += hp.value().size_bytes();
  }
  if (total > 0) {
    r = co_await rd.share(out.batches, start, total);
    if (!r) co_return r.error();
  }
  SLUICE_ASSERT(out.batches.size() == total);
  co_return out;
}

io::Task<Result<int64_t>> PartitionLog::scan(int64_t from_offset, int64_t to_offset_exclusive, const BatchVisitor& visitor) {
  int64_t next = std::max(from_offset, log_start_);
  std::vector<std::byte> copy;
  while (next < std::min(to_offset_exclusive, log_end_)) {
    auto rr = co_await read(next, 1u << 20, to_offset_exclusive);
    if (!rr) co_return rr.error();
    if (rr.value().batches.empty()) break;
    std::vector<std::byte> bytes = rr.value().batches.linearize();
    BatchIterator it(bytes);
    while (!it.done()) {
      auto v = it.next();
      if (!v) co_return v.error();
      if (v.value().header.last_offset() >= next) {
        if (!visitor(v.value())) co_return v.value().header.last_offset() + 1;
      }
      next = v.value().header.last_offset() + 1;
    }
  }
  co_return next;
}

io::Task<Result<int64_t>> PartitionLog::offset_for_timestamp(int64_t ts_ms) {
  if (ts_ms == kEarliestTimestamp) co_return log_start_;
  if (ts_ms == kLatestTimestamp) co_return hw_;
  if (ts_ms < 0) co_return log_error(LogErrc::kInvalidTimestamp, "negative timestamp");
  const int64_t visible = hw_;
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    Segment* s = segments_[i].get();
    if (s->base_offset >= visible) break;
    Pin pin(s);
    auto r = co_await ensure_indexes(*s, false);
    if (!r) co_return r.error();
    if (s->max_timestamp_ms < ts_ms) continue;
    uint64_t pos = 0;
    auto it = std::lower_bound(s->time_index.begin(), s->time_index.end(), ts_ms,
                               [](const TimeIndexEntry& e, int64_t t) { return e.timestamp_ms < t; });
    if (it != s->time_index.begin()) pos = std::prev(it)->position;
    SegmentReader rd(*s, s->size_bytes, config_.read_window_bytes);
    while (pos < s->size_bytes) {
      auto p = co_await rd.get(pos, kBatchHeaderBytes);
      if (!p) co_return p.error();
      if (!p.value()) break;
      auto hp = parse_batch_header(std::span<const std::byte>(p.value(), kBatchHeaderBytes));
      if (!hp) co_return log_error(LogErrc::kCorruptLog, "bad batch header in segment");
      const BatchHeader h = hp.value();
      if (h.base_offset >= visible) co_return int64_t{-1};
      if (h.max_timestamp_ms >= ts_ms) {
        auto whole = co_await rd.get(pos, h.size_bytes());
        if (!whole) co_return whole.error();
        if (!whole.value()) co_return log_error(LogErrc::kCorruptLog, "truncated batch in segment");
        int64_t o = first_offset_at_or_after(std::span<const std::byte>(whole.value(), h.size_bytes()), h, ts_ms);
        co_return std::max(o, log_start_);
      }
      pos += h.size_bytes();
    }
  }
  co_return int64_t{-1};
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
  uint64_t total = 0;
  if (config_.retention_bytes >= 0) {
    for (auto& s : segments_) {
      if (s->sealed) {
        auto r = co_await ensure_open(*s);
        if (!r) co_return r;
      }
      total += s->size_bytes;
    }
  }
  bool removed = false;
  while (segments_.size() > 1 && segments_.front()->sealed) {
    Segment& s = *segments_.front();
    bool by_bytes = config_.retention_bytes >= 0 && total - s.size_bytes >= static_cast<uint64_t>(config_.retention_bytes);
    bool by_time = false;
    if (!by_bytes && config_.retention_ms >= 0) {
      auto r = co_await ensure_indexes(s, true);
      if (!r) co_return r;
      by_time = s.max_timestamp_ms >= 0 && now_ms - s.max_timestamp_ms > config_.retention_ms;
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
  log_start_ = segments_.front()->base_offset;
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
    SLUICE_ASSERT(log_start_ <= offset);
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
  Segment* s = find_segment(offset);
  SLUICE_ASSERT(s);
  auto r = co_await ensure_indexes(*s, true);
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
  // s becomes the active segment, cut at pos.
  s->chunks.clear();
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
  s->allocated_bytes = std::max<uint64_t>(s->allocated_bytes, s->size_bytes);
  r = co_await recover_tail(*s, pos);
  if (!r) co_return r;
  SLUICE_ASSERT(s->size_bytes == pos);
  r = co_await load_tail_chunk(*s);
  if (!r) co_return r;
  log_end_ = durable_end_ = s->end_offset;
  hw_ = std::min(hw_, log_end_);
  unflushed_bytes_ = 0;
  co_return ok_result();
}

io::Task<Result<void>> PartitionLog::close() {
  if (closed_) co_return ok_result();
  auto r = co_await flush();
  if (!r) co_return r;
  co_await io_lock_.lock();
  LockGuard guard(io_lock_);
  Segment& a = active();
  if (!a.files_created) {  // an empty segment rolled but never flushed
    r = co_await create_segment_files(a);
    if (!r) co_return r;
  }
  // Complete indexes (incl. a final max-timestamp entry), synced, then the marker.
  if (a.max_timestamp_ms >= 0 && (a.time_index.empty() || (a.time_index.back().timestamp_ms < a.max_timestamp_ms &&
                                                           a.time_index.back().position < a.max_timestamp_pos)))
    a.time_index.push_back(TimeIndexEntry{a.max_timestamp_ms, a.max_timestamp_rel, a.max_timestamp_pos});
  r = co_await persist_indexes(a, true, scratch_);
  if (!r) co_return r;
  r = co_await write_clean_marker();
  if (!r) co_return r;
  closed_ = true;
  co_return ok_result();
}

}  // namespace sluice::log
