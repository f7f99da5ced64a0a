#pragma once
// Internals shared by the PartitionLog translation units (partition_log.cc: append, flush and
// maintenance; partition_log_recovery.cc: open and recovery; partition_log_read.cc: reads).
// Not part of the module's interface.
#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "engine/log/crc32c.h"
#include "engine/log/partition_log.h"

namespace sluice::log {

namespace internal {

inline constexpr uint64_t kPage = 4096;
inline constexpr std::size_t kIdxEntryBytes = 8;
inline constexpr std::size_t kTixEntryBytes = 16;
// Retired tail chunks kept for reuse. A flush that takes a slow fdatasync retires every chunk
// filled meanwhile at once (at ~200 MB/s, 10 ms of appends are 8 chunks of 256 KiB); with too
// few spares the next ones are allocated again. Only a partition that had this many chunks in
// flight keeps this many.
inline constexpr std::size_t kMaxSpareChunks = 16;
inline constexpr std::size_t kIndexReserveEntries = 1024;
inline constexpr std::size_t kScratchBytes = 4096;
inline constexpr const char* kCleanMarkerName = ".clean_shutdown";
inline constexpr const char* kPartitionStateName = ".partition_state";  // partition_state.cc
inline constexpr uint32_t kMarkerMagic = 0x534c4353;                    // "SLCS"
inline constexpr uint32_t kMarkerVersion = 1;
inline constexpr std::size_t kMarkerBytes = 36;
inline constexpr std::size_t kDefaultMaxOpenSealedSegments = 64;  // per thread (shard)

inline uint64_t align_down(uint64_t v, uint64_t a) { return v / a * a; }
inline uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

inline bool parse_segment_name(const std::string& name, int64_t* base, std::string* ext) {
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

}  // namespace internal

using namespace internal;

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

struct Segment;

// The sealed segments whose .log is open, least recently used first. One registry per thread,
// shared by every PartitionLog of that thread: a shard is one thread and owns its logs, so no
// lock. Sealed segments are many (one per segment.bytes of history, or one per batch under a
// hostile offset pattern) and each open file is an fd: only `capacity` of them stay open, the
// rest reopen on demand (PartitionLog::ensure_open). Active and roll-pending segments are never
// here (their files stay open for appends). Intrusive list through Segment: no allocation.
class OpenSegmentLru {
 public:
  static OpenSegmentLru& local() noexcept;
  // s is sealed and its .log open: make it the most recently used, then close the least
  // recently used unpinned ones beyond capacity (never s itself).
  void touch(Segment& s) noexcept;
  void remove(Segment& s) noexcept;  // s closes its .log, goes away or becomes active again
  void trim() noexcept;
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }
  void set_capacity(std::size_t n) noexcept;

 private:
  void unlink(Segment& s) noexcept;
  Segment* head_ = nullptr;  // least recently used
  Segment* tail_ = nullptr;  // most recently used
  std::size_t size_ = 0;
  std::size_t capacity_ = kDefaultMaxOpenSealedSegments;
};

struct Segment {
  Segment() = default;
  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  int64_t base_offset = 0;
  int64_t end_offset = 0;        // offset after the last batch (== base_offset when empty)
  uint64_t size_bytes = 0;       // data bytes, including those only in memory
  uint64_t durable_bytes = 0;    // synced prefix
  uint64_t allocated_bytes = 0;  // file size (pre-allocation)
  // Pages [zero_start, zero_end) were written with zeros and synced by extend_written_window:
  // data written there needs no extent conversion in its sync. See written_end().
  uint64_t zero_start = 0;
  uint64_t zero_end = 0;
  bool size_known = true;  // false for sealed segments until ensure_open
  int64_t max_timestamp_ms = -1;
  uint32_t max_timestamp_rel = 0;
  uint32_t max_timestamp_pos = 0;
  int64_t created_ms = 0;
  bool sealed = false;        // exact size on disk, complete synced indexes, no more appends
  bool roll_pending = false;  // no more appends; the next flush seals it
  bool files_created = false;
  bool indexes_loaded = false;
  std::unique_ptr<File> log, idx, tix;
  std::vector<IndexEntry> index;
  std::vector<TimeIndexEntry> time_index;
  std::size_t index_persisted = 0;  // entries known to be in the .idx file
  std::size_t time_index_persisted = 0;
  uint64_t bytes_since_index = 0;
  uint64_t index_synced_pos = 0;  // data covered by synced index entries (bounds crash recovery)
  std::vector<Chunk> chunks;      // memory tail: contiguous, covering [chunks[0].file_pos, size_bytes)
  // The tail is loaded lazily: after open (or truncate_to) the active segment has no chunk, and
  // the first append starts one at the partial last page without reading that page. Bytes
  // [chunks[0].file_pos, tail_hole_end) of that chunk are then zeros in memory; the data is on
  // disk (durable, and it ends at a batch boundary), so readers read it from disk, and the
  // first write_pages reads the page and fills the hole before rewriting it. 0 = no hole.
  uint64_t tail_hole_end = 0;
  uint32_t pins = 0;  // readers in flight: never closed under them
  // The cleaner swapped a rewritten copy in: this object only serves readers that already hold
  // it (through its open file); it must never reopen the path, which names the new file now.
  bool replaced = false;
  // OpenSegmentLru links (sealed segments with an open .log only).
  Segment* lru_prev = nullptr;
  Segment* lru_next = nullptr;
  bool in_lru = false;

  // First position whose bytes memory holds (readers take everything from there on from the
  // chunks, everything before it from disk).
  uint64_t first_cached_pos() const noexcept {
    return chunks.empty() ? UINT64_MAX : std::max<uint64_t>(chunks.front().file_pos, tail_hole_end);
  }
};

// End of the written prefix of a segment's file: every page below it is written (data that is
// durable, or synced zeros), so overwriting it and syncing commits no metadata. Durable data's
// pages are written; the zeroed range counts once it touches them.
inline uint64_t written_end(const Segment& s) noexcept {
  const uint64_t w = align_up(s.durable_bytes, kPage);
  return s.zero_start <= w ? std::max(w, s.zero_end) : w;
}

inline Segment::~Segment() {
  if (in_lru) OpenSegmentLru::local().remove(*this);
}

// Keeps a segment's files open (and the segment alive in the graveyard) while a reader or a
// maintenance task uses them across suspensions.
struct Pin {
  explicit Pin(Segment* s) : s_(s) { s_->pins++; }
  ~Pin() {
    SLUICE_ASSERT(s_->pins > 0);
    // The cache may have gone over capacity while this segment could not be closed.
    if (--s_->pins == 0 && s_->in_lru) OpenSegmentLru::local().trim();
  }
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

// Reads bytes of one segment: from the memory tail when cached there, otherwise with aligned
// reads through a window buffer. Never reads at or beyond `limit`.
class SegmentReader {
 public:
  SegmentReader(Segment& s, uint64_t limit, uint32_t window_bytes)
      : s_(s), limit_(limit), window_bytes_(window_bytes) {}

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

}  // namespace sluice::log
