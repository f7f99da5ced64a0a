#include "engine/log/partition_log_internal.h"

namespace sluice::log {

// ---------------------------------------------------------------------------------------------
// Read path.

// Compaction leaves gaps: the batch holding `offset` may be gone, even every batch from it to the
// end of its segment; the read then continues in the next segment (a consumer at a removed offset
// gets the next higher one, as Kafka serves it). A segment the cleaner replaced while this read
// waited is looked up again (its object no longer matches the file its path names).
io::Task<Result<ReadResult>> PartitionLog::read(int64_t offset, std::size_t max_bytes, int64_t max_offset_exclusive) {
  int stale_retries = 0;
  std::optional<ReadResult> acc;
  for (;;) {
    ReadScan scan;
    const std::size_t budget = acc ? max_bytes - std::min(max_bytes, acc->batches.size()) : max_bytes;
    auto r = co_await read_once(offset, std::max<std::size_t>(budget, 1), max_offset_exclusive, &scan);
    if (!r && r.error().code == ESTALE && stale_retries++ < 8) continue;
    if (!r && scan.skip_to >= 0) {
      SLUICE_ASSERT(scan.skip_to > offset);
      offset = scan.skip_to;
      continue;
    }
    if (!r) {
      if (acc) co_return std::move(*acc);
      co_return r.error();
    }
    if (!acc) acc = std::move(r.value());
    else acc->batches.append(std::move(r.value().batches));
    // Compaction leaves batches without records (an idempotent producer's emptied newest batch).
    // A response made only of those reads to librdkafka as "message too large": go on to the
    // next records, within max_bytes.
    const int64_t limit = std::min(max_offset_exclusive, log_end_);
    if (scan.records > 0 || scan.next_offset < 0 || scan.next_offset >= limit || acc->batches.size() >= max_bytes)
      co_return std::move(*acc);
    SLUICE_ASSERT(scan.next_offset > offset);
    offset = scan.next_offset;
  }
}

io::Task<Result<ReadResult>> PartitionLog::read_once(int64_t offset, std::size_t max_bytes,
                                                     int64_t max_offset_exclusive, ReadScan* scan) {
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
  if (s->sealed) {  // its .log may have been closed (fd bound); the active one is always open
    r = co_await ensure_open(*s);
    if (!r && r.error().code == ENOENT && offset < log_start_)  // retention removed it meanwhile
      co_return log_error(LogErrc::kOffsetOutOfRange, "offset out of range");
    if (!r) co_return r.error();
  }
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
    if (!p.value() && pos >= s->size_bytes && s->sealed && s->end_offset > offset) {
      scan->skip_to = s->end_offset;  // removed by compaction up to the segment's end
      co_return log_error(LogErrc::kOffsetOutOfRange, "offset removed by compaction");
    }
    if (!p.value()) co_return log_error(LogErrc::kCorruptLog, "offset not found in its segment");
    auto hp = parse_batch_header(std::span<const std::byte>(p.value(), kBatchHeaderBytes));
    if (!hp || hp.value().magic != kMagicV2) co_return log_error(LogErrc::kCorruptLog, "bad batch header in segment");
    h = hp.value();
    if (h.last_offset() >= offset) break;
    pos += h.size_bytes();
  }
  // After compaction the batch found may start past `offset` (the records before it are gone).
  SLUICE_ASSERT(h.last_offset() >= offset && pos < s->size_bytes);
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
    if (hp.value().record_count > 0 || hp.value().is_control()) scan->records++;
    scan->next_offset = hp.value().last_offset() + 1;
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

io::Task<Result<int64_t>> PartitionLog::scan(int64_t from_offset, int64_t to_offset_exclusive,
                                             const BatchVisitor& visitor) {
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

io::Task<Result<int64_t>> PartitionLog::max_timestamp() {
  int64_t best = -1;
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    Segment* s = segments_[i].get();
    Pin pin(s);
    auto r = co_await ensure_indexes(*s, false);
    if (!r) co_return r.error();
    best = std::max(best, s->max_timestamp_ms);
  }
  co_return best;
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
    r = co_await ensure_open(*s);
    if (!r) co_return r.error();
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

}  // namespace sluice::log
