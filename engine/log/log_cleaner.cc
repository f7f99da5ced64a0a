#include "engine/log/log_cleaner.h"

#include <xxhash.h>

#include <algorithm>
#include <bit>

#include "engine/log/compression.h"
#include "engine/log/crc32c.h"

namespace sluice::log {

namespace {

Error invalid(const char* what) noexcept { return log_error(LogErrc::kInvalidRecord, what); }

// Bounds-checked reader of contiguous record bytes (Kafka zigzag varints).
class Cursor {
 public:
  explicit Cursor(std::span<const std::byte> b) noexcept : b_(b) {}
  bool varlong(int64_t& out) noexcept {
    uint64_t v = 0;
    for (int i = 0; i < 10; ++i) {
      if (pos_ >= b_.size()) return false;
      auto byte = static_cast<uint8_t>(b_[pos_++]);
      v |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
      if ((byte & 0x80) == 0) {
        out = static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
        return true;
      }
    }
    return false;
  }
  bool byte(int8_t& out) noexcept {
    if (pos_ >= b_.size()) return false;
    out = static_cast<int8_t>(b_[pos_++]);
    return true;
  }
  // A nullable byte string; `null` tells a null one from an empty one.
  bool bytes(std::span<const std::byte>& out, bool& null) noexcept {
    int64_t len = 0;
    if (!varlong(len) || len < -1) return false;
    null = len == -1;
    if (null) {
      out = {};
      return true;
    }
    if (static_cast<uint64_t>(len) > b_.size() - pos_) return false;
    out = b_.subspan(pos_, static_cast<std::size_t>(len));
    pos_ += static_cast<std::size_t>(len);
    return true;
  }
  std::size_t pos() const noexcept { return pos_; }
  std::span<const std::byte> from(std::size_t start) const noexcept { return b_.subspan(start, pos_ - start); }
  std::size_t left() const noexcept { return b_.size() - pos_; }

 private:
  std::span<const std::byte> b_;
  std::size_t pos_ = 0;
};

void put_varlong(std::vector<std::byte>& out, int64_t v) {
  uint64_t z = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  while (z >= 0x80) {
    out.push_back(static_cast<std::byte>((z & 0x7f) | 0x80));
    z >>= 7;
  }
  out.push_back(static_cast<std::byte>(z));
}

void put_bytes(std::vector<std::byte>& out, std::span<const std::byte> b, bool null) {
  if (null) {
    put_varlong(out, -1);
    return;
  }
  put_varlong(out, static_cast<int64_t>(b.size()));
  out.insert(out.end(), b.begin(), b.end());
}

Result<RecordView> decode_one(Cursor& c, const BatchHeader& h) {
  int64_t len = 0;
  if (!c.varlong(len) || len < 0 || static_cast<uint64_t>(len) > c.left()) return invalid("bad record length");
  const std::size_t end = c.pos() + static_cast<std::size_t>(len);
  RecordView r;
  int64_t ts_delta = 0;
  int64_t off_delta = 0;
  if (!c.byte(r.attributes) || !c.varlong(ts_delta) || !c.varlong(off_delta)) return invalid("bad record header");
  if (off_delta < 0 || off_delta > h.last_offset_delta) return invalid("record offset delta out of range");
  r.offset = h.base_offset + off_delta;
  r.timestamp_ms = h.log_append_time() ? h.max_timestamp_ms : h.base_timestamp_ms + ts_delta;
  if (!c.bytes(r.key, r.key_null) || !c.bytes(r.value, r.value_null)) return invalid("bad record key or value");
  const std::size_t headers_start = c.pos();
  // Walked only to find the record's end: the headers are copied as stored, not re-encoded.
  std::span<const std::byte> skip;
  bool null = false;
  int64_t count = 0;
  if (!c.varlong(count) || count < 0) return invalid("bad record header count");
  for (int64_t k = 0; k < count; ++k) {
    if (!c.bytes(skip, null) || null || !c.bytes(skip, null)) return invalid("bad record header");
  }
  if (c.pos() != end) return invalid("record length mismatch");
  r.headers = c.from(headers_start);
  SLUICE_ASSERT(r.offset >= h.base_offset && r.offset <= h.last_offset());
  return r;
}

// Appends one record encoded against (base_offset, base_timestamp).
void encode_record(std::vector<std::byte>& out, const RecordView& r, const BatchHeader& h, int64_t base_ts,
                   std::vector<std::byte>& body) {
  body.clear();
  body.push_back(static_cast<std::byte>(r.attributes));
  // LogAppendTime batches: the record timestamps are the batch's; the deltas mean nothing.
  put_varlong(body, h.log_append_time() ? 0 : r.timestamp_ms - base_ts);
  put_varlong(body, r.offset - h.base_offset);
  put_bytes(body, r.key, r.key_null);
  put_bytes(body, r.value, r.value_null);
  body.insert(body.end(), r.headers.begin(), r.headers.end());
  put_varlong(out, static_cast<int64_t>(body.size()));
  out.insert(out.end(), body.begin(), body.end());
}

bool keyed_batch(const BatchHeader& h) noexcept { return !h.is_control() && !h.is_transactional(); }

struct Kept {
  std::vector<RecordView> records;
  bool tombstones = false;
};

// The records of the batch that stay.
Kept select_records(const std::vector<RecordView>& all, const BatchHeader& h, const OffsetMap& map,
                    const FilterParams& p) {
  const bool horizon_set = (h.attributes & batch_attr::kDeleteHorizon) != 0;
  const bool horizon_passed = horizon_set && p.now_ms >= h.base_timestamp_ms;
  Kept k;
  for (const RecordView& r : all) {
    if (!r.key_null) {
      const int64_t latest = map.get(key_digest(r.key));
      if (latest > r.offset) continue;  // a later record has this key
      if (r.value_null && horizon_passed) continue;
    }
    k.tombstones = k.tombstones || r.value_null;
    k.records.push_back(r);
  }
  return k;
}

}  // namespace

KeyDigest key_digest(std::span<const std::byte> key) noexcept {
  const XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  return KeyDigest{h.low64, h.high64};
}

OffsetMap::OffsetMap(std::size_t memory_bytes) : requested_bytes_(memory_bytes) {
  std::size_t n = std::bit_floor(std::max<std::size_t>(memory_bytes / sizeof(Slot), 64));
  slots_.resize(n);
  mask_ = n - 1;
  max_size_ = n / 4 * 3;
  SLUICE_ASSERT(max_size_ > 0 && max_size_ < n);
}

void OffsetMap::reset() noexcept {
  size_ = 0;
  if (++generation_ == 0) {  // wrapped after 2^32 runs: clear for real once
    for (Slot& s : slots_) s.generation = 0;
    generation_ = 1;
  }
  SLUICE_ASSERT(size_ == 0 && generation_ != 0);
}

std::size_t OffsetMap::probe(const KeyDigest& d) const noexcept {
  std::size_t i = static_cast<std::size_t>(d[0]) & mask_;
  while (used(slots_[i]) && slots_[i].digest != d) i = (i + 1) & mask_;
  return i;
}

bool OffsetMap::put(const KeyDigest& digest, int64_t offset) noexcept {
  SLUICE_ASSERT(offset >= 0);
  Slot& s = slots_[probe(digest)];
  if (!used(s)) {
    if (size_ >= max_size_) return false;
    size_++;
    s.digest = digest;
    s.offset = -1;
    s.generation = generation_;
  }
  SLUICE_ASSERT(s.offset <= offset);
  s.offset = offset;
  return true;
}

int64_t OffsetMap::get(const KeyDigest& digest) const noexcept {
  const Slot& s = slots_[probe(digest)];
  return used(s) ? s.offset : -1;
}

Result<void> decode_records(std::span<const std::byte> batch, const BatchHeader& h, std::vector<std::byte>& scratch,
                            std::vector<RecordView>& out) {
  SLUICE_ASSERT(batch.size() == h.size_bytes() && batch.size() >= kBatchHeaderBytes);
  out.clear();
  std::span<const std::byte> records = batch.subspan(kBatchHeaderBytes);
  if (h.compression() != Compression::kNone) {
    auto d = decompress_all(h.compression(), records, scratch);
    if (!d) return d;
    records = scratch;
  }
  Cursor c(records);
  for (int32_t i = 0; i < h.record_count; ++i) {
    auto r = decode_one(c, h);
    if (!r) return r.error();
    out.push_back(r.value());
  }
  if (c.left() != 0) return invalid("bytes after the last record");
  SLUICE_ASSERT(out.size() == static_cast<std::size_t>(h.record_count));
  return {};
}

Result<void> check_keys_present(std::span<const std::byte> batch, const BatchHeader& h) {
  thread_local std::vector<std::byte> scratch;
  thread_local std::vector<RecordView> records;
  auto d = decode_records(batch, h, scratch, records);
  if (!d) return d;
  for (const RecordView& r : records)
    if (r.key_null) return invalid("Compacted topic cannot accept message without key");
  return {};
}

Result<bool> map_batch_keys(std::span<const std::byte> batch, const BatchHeader& h, OffsetMap& map) {
  SLUICE_ASSERT(batch.size() == h.size_bytes());
  if (!keyed_batch(h)) return true;
  thread_local std::vector<std::byte> scratch;
  thread_local std::vector<RecordView> records;
  auto d = decode_records(batch, h, scratch, records);
  if (!d) return d.error();
  for (const RecordView& r : records) {
    if (r.key_null) continue;
    if (!map.put(key_digest(r.key), r.offset)) return false;
  }
  return true;
}

Result<FilterOutcome> filter_batch(std::span<const std::byte> batch, const BatchHeader& h, const OffsetMap& map,
                                   const FilterParams& params, std::vector<std::byte>& out) {
  FilterOutcome o;
  if (!keyed_batch(h) || h.record_count == 0) return o;  // kept byte for byte
  thread_local std::vector<std::byte> scratch;
  thread_local std::vector<RecordView> all;
  auto d = decode_records(batch, h, scratch, all);
  if (!d) return d.error();
  Kept k = select_records(all, h, map, params);
  o.records_kept = static_cast<int32_t>(k.records.size());
  o.records_removed = h.record_count - o.records_kept;
  const bool needs_horizon = k.tombstones && (h.attributes & batch_attr::kDeleteHorizon) == 0;
  if (k.tombstones) o.horizon_ms = needs_horizon ? params.now_ms + params.delete_retention_ms : h.base_timestamp_ms;
  if (o.records_removed == 0 && !needs_horizon) return o;
  if (k.records.empty() && !params.keep_if_empty) {
    o.action = FilterAction::kDrop;
    return o;
  }
  // The new batch: same base offset, lastOffsetDelta, producer fields and codec.
  int16_t attrs = static_cast<int16_t>(h.attributes & ~batch_attr::kDeleteHorizon);
  // CreateTime: the kept records' range; LogAppendTime (or nothing kept): the batch's own.
  int64_t base_ts = h.max_timestamp_ms;
  int64_t max_ts = h.max_timestamp_ms;
  if (!h.log_append_time() && !k.records.empty()) {
    base_ts = max_ts = k.records.front().timestamp_ms;
    for (const RecordView& r : k.records) {
      base_ts = std::min(base_ts, r.timestamp_ms);
      max_ts = std::max(max_ts, r.timestamp_ms);
    }
  }
  if (k.tombstones) {
    attrs = static_cast<int16_t>(attrs | batch_attr::kDeleteHorizon);
    base_ts = o.horizon_ms;
  }
  // An emptied batch is a bare header without a codec, as Kafka writes it (writeEmptyHeader):
  // clients choke on a compressed payload that decompresses to nothing.
  if (k.records.empty()) attrs = static_cast<int16_t>(attrs & ~batch_attr::kCompressionMask);
  thread_local std::vector<std::byte> plain;
  thread_local std::vector<std::byte> body;
  plain.clear();
  for (const RecordView& r : k.records) encode_record(plain, r, h, base_ts, body);
  const std::size_t start = out.size();
  out.resize(start + kBatchHeaderBytes);
  if (!k.records.empty()) {
    auto c = compress_append(h.compression(), plain, out);
    if (!c) return c.error();
  }
  std::byte* p = out.data() + start;
  std::memcpy(p, batch.data(), kBatchHeaderBytes);
  store_be<int32_t>(p + batch_field::kBatchLength, static_cast<int32_t>(out.size() - start - kLogOverheadBytes));
  store_be<int16_t>(p + batch_field::kAttributes, attrs);
  store_be<int64_t>(p + batch_field::kBaseTimestamp, base_ts);
  store_be<int64_t>(p + batch_field::kMaxTimestamp, max_ts);
  store_be<int32_t>(p + batch_field::kRecordCount, o.records_kept);
  store_be<uint32_t>(p + batch_field::kCrc, compute_batch_crc(std::span<const std::byte>(p, out.size() - start)));
  SLUICE_ASSERT(load_be<int32_t>(p + batch_field::kLastOffsetDelta) == h.last_offset_delta);
  SLUICE_ASSERT(out.size() - start >= kBatchHeaderBytes && load_be<int64_t>(p) == h.base_offset);
  o.action = FilterAction::kRewrite;
  return o;
}

}  // namespace sluice::log
