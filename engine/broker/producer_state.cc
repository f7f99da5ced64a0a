#include "engine/broker/producer_state.h"

#include <algorithm>
#include <cerrno>
#include <vector>

#include "alloc/assert.h"
#include "engine/log/crc32c.h"

namespace sluice::broker {
namespace {
// Sequences wrap from INT32_MAX to 0 (KIP-98).
bool in_sequence(int32_t last_seq, int32_t next_first_seq) {
  return next_first_seq == (last_seq == INT32_MAX ? 0 : last_seq + 1);
}
int32_t last_sequence(const BatchIdentity& b) {
  int64_t last = static_cast<int64_t>(b.base_sequence) + b.last_offset_delta;
  return static_cast<int32_t>(last > INT32_MAX ? last - INT32_MAX - 1 : last);
}
}  // namespace

SequenceVerdict ProducerStateTable::check(const BatchIdentity& b) const {
  SLUICE_ASSERT(b.last_offset_delta >= 0);
  if (b.producer_id < 0 || b.base_sequence < 0) return {};  // not idempotent
  auto it = producers_.find(b.producer_id);
  if (it == producers_.end()) return {};  // unknown producer (new, or expired): any sequence is accepted
  const Entry& e = it->second;
  if (b.producer_epoch < e.epoch) return {SequenceCheck::invalid_epoch};
  if (b.producer_epoch > e.epoch) {
    // A bumped epoch restarts sequences at 0.
    if (b.base_sequence != 0) return {SequenceCheck::out_of_order};
    return {};
  }
  int32_t last = last_sequence(b);
  for (uint8_t i = 0; i < e.count; ++i) {
    const BatchMeta& m = e.batches[i];
    if (m.first_seq == b.base_sequence && m.last_seq == last)
      return {SequenceCheck::duplicate, m.base_offset, m.timestamp_ms};
  }
  if (e.count == 0 || in_sequence(e.newest().last_seq, b.base_sequence)) return {};
  return {SequenceCheck::out_of_order};
}

void ProducerStateTable::record(const BatchIdentity& b, int64_t base_offset, int64_t append_time_ms) {
  if (b.producer_id < 0) return;
  SLUICE_ASSERT(base_offset >= 0);
  auto it = producers_.find(b.producer_id);
  if (it == producers_.end()) {
    if (producers_.size() >= max_producers_) {
      // Bounded: evict the longest-idle producer (it can still write; its next batch is accepted).
      auto oldest = std::min_element(producers_.begin(), producers_.end(), [](const auto& x, const auto& y) {
        return x.second.last_activity_ms < y.second.last_activity_ms;
      });
      producers_.erase(oldest);
    }
    it = producers_.emplace(b.producer_id, Entry{}).first;
  }
  Entry& e = it->second;
  if (b.producer_epoch != e.epoch) {
    e.epoch = b.producer_epoch;
    e.count = 0;
    e.head = 0;
  }
  e.last_activity_ms = std::max(e.last_activity_ms, append_time_ms);
  if (b.base_sequence < 0) return;
  BatchMeta m{b.base_sequence, last_sequence(b), base_offset, append_time_ms};
  if (e.count == 0) {
    e.head = 0;
    e.batches[0] = m;
    e.count = 1;
    return;
  }
  e.head = static_cast<uint8_t>((e.head + 1) % kProducerBatchesKept);
  e.batches[e.head] = m;
  if (e.count < kProducerBatchesKept) e.count++;
  SLUICE_ASSERT(e.count <= kProducerBatchesKept);
}

void ProducerStateTable::expire(int64_t now_ms, int64_t expiration_ms) {
  for (auto it = producers_.begin(); it != producers_.end();) {
    if (now_ms - it->second.last_activity_ms > expiration_ms) it = producers_.erase(it);
    else ++it;
  }
}

void ProducerStateTable::truncate_from(int64_t offset) {
  for (auto it = producers_.begin(); it != producers_.end();) {
    Entry& e = it->second;
    // Keep only batches below the cut, in their order oldest..newest.
    std::vector<BatchMeta> kept;
    for (uint8_t k = 0; k < e.count; ++k) {
      const BatchMeta& m = e.batches[(e.head + kProducerBatchesKept - (e.count - 1) + k) % kProducerBatchesKept];
      if (m.base_offset < offset) kept.push_back(m);
    }
    if (kept.empty()) {
      it = producers_.erase(it);
      continue;
    }
    e.count = static_cast<uint8_t>(kept.size());
    for (size_t k = 0; k < kept.size(); ++k) e.batches[k] = kept[k];
    e.head = static_cast<uint8_t>(kept.size() - 1);
    ++it;
  }
}

int64_t ProducerStateTable::newest_base_offset(int64_t producer_id) const {
  auto it = producers_.find(producer_id);
  if (it == producers_.end() || it->second.count == 0) return -1;
  return it->second.newest().base_offset;
}

int16_t ProducerStateTable::epoch_of(int64_t producer_id) const {
  auto it = producers_.find(producer_id);
  return it == producers_.end() ? int16_t{-1} : it->second.epoch;
}

bool ProducerStateTable::invariants_hold() const {
  if (producers_.size() > max_producers_) return false;
  for (const auto& [pid, e] : producers_) {
    if (pid < 0 || e.count > kProducerBatchesKept || e.head >= kProducerBatchesKept) return false;
    // record() fills the ring from slot 0 and only wraps once it is full; truncate_from() and
    // snapshot decoding repack it the same way. check() relies on slots [0, count) being valid.
    if (e.count < kProducerBatchesKept && e.head != (e.count == 0 ? 0 : e.count - 1)) return false;
    int64_t previous_base = -1;
    for (uint8_t k = 0; k < e.count; ++k) {
      const BatchMeta& m = e.batches[(e.head + kProducerBatchesKept - (e.count - 1) + k) % kProducerBatchesKept];
      if (m.first_seq < 0 || m.last_seq < 0 || m.base_offset <= previous_base) return false;
      previous_base = m.base_offset;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------- snapshots
//
// Snapshot format, version 2, all integers big-endian:
//   u32 magic "SLPS"  u16 version (2)  u16 reserved (0)  i64 offset  u32 entry count
//   entry count x { i64 producer id  i16 epoch  i64 last activity (ms)  u8 batch count (0-5)
//                   batch count x { i32 first seq  i32 last seq  i64 base offset  i64 timestamp (ms) }
//                   (oldest batch first) }
//   u32 transaction index length  TxnIndex::encode() bytes (self-checked with their own CRC)
//   u32 CRC-32C of every byte before it
// Version 1 is the same without the transaction index (read as an empty one).
// Entries are sorted by producer id (strictly increasing: a decoder refuses duplicates cheaply).
namespace {
constexpr uint32_t kSnapshotMagic = 0x534C5053;  // "SLPS"
constexpr uint16_t kSnapshotVersion = 2;
constexpr uint16_t kSnapshotVersionWithoutTxns = 1;
constexpr std::size_t kSnapshotHeaderBytes = 4 + 2 + 2 + 8 + 4;
constexpr std::size_t kSnapshotEntryFixedBytes = 8 + 2 + 8 + 1;
constexpr std::size_t kSnapshotBatchBytes = 4 + 4 + 8 + 8;
constexpr std::size_t kSnapshotCrcBytes = 4;

template <typename T>
void put_be(std::vector<std::byte>& out, T v) {
  auto u = static_cast<std::make_unsigned_t<T>>(v);
  for (int shift = static_cast<int>(sizeof(T) * 8) - 8; shift >= 0; shift -= 8)
    out.push_back(static_cast<std::byte>((u >> shift) & 0xff));
}

// Bounds-checked big-endian reader: every get() fails once the input is exhausted.
class SnapshotReader {
 public:
  explicit SnapshotReader(std::span<const std::byte> in) : in_(in) {}
  template <typename T>
  bool get(T* v) {
    if (in_.size() - pos_ < sizeof(T)) return false;
    std::make_unsigned_t<T> u = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i)
      u = static_cast<std::make_unsigned_t<T>>((u << 8) | std::to_integer<uint8_t>(in_[pos_ + i]));
    pos_ += sizeof(T);
    *v = static_cast<T>(u);
    return true;
  }
  std::size_t remaining() const { return in_.size() - pos_; }
  void skip(std::size_t n) {
    SLUICE_ASSERT(n <= remaining());
    pos_ += n;
  }

 private:
  std::span<const std::byte> in_;
  std::size_t pos_ = 0;
};

Error corrupt(const char* what) { return make_error(EBADMSG, what); }
}  // namespace

std::vector<std::byte> encode_snapshot(const ProducerStateTable& table, int64_t offset, const TxnIndex& txns) {
  SLUICE_ASSERT(offset >= 0);
  const std::vector<std::byte> txn_bytes = txns.encode();
  std::vector<int64_t> ids;
  ids.reserve(table.producers_.size());
  std::size_t batches = 0;
  for (const auto& [pid, e] : table.producers_) {
    ids.push_back(pid);
    batches += e.count;
  }
  std::sort(ids.begin(), ids.end());
  std::vector<std::byte> out;
  out.reserve(kSnapshotHeaderBytes + ids.size() * kSnapshotEntryFixedBytes + batches * kSnapshotBatchBytes + 4 +
              txn_bytes.size() + kSnapshotCrcBytes);
  put_be<uint32_t>(out, kSnapshotMagic);
  put_be<uint16_t>(out, kSnapshotVersion);
  put_be<uint16_t>(out, 0);
  put_be<int64_t>(out, offset);
  put_be<uint32_t>(out, static_cast<uint32_t>(ids.size()));
  for (int64_t pid : ids) {
    const ProducerStateTable::Entry& e = table.producers_.at(pid);
    put_be<int64_t>(out, pid);
    put_be<int16_t>(out, e.epoch);
    put_be<int64_t>(out, e.last_activity_ms);
    put_be<uint8_t>(out, e.count);
    for (uint8_t k = 0; k < e.count; ++k) {
      const auto& m = e.batches[(e.head + kProducerBatchesKept - (e.count - 1) + k) % kProducerBatchesKept];
      // The caller's promise: nothing at or beyond `offset` is in the table.
      SLUICE_ASSERT(m.base_offset < offset);
      put_be<int32_t>(out, m.first_seq);
      put_be<int32_t>(out, m.last_seq);
      put_be<int64_t>(out, m.base_offset);
      put_be<int64_t>(out, m.timestamp_ms);
    }
  }
  put_be<uint32_t>(out, static_cast<uint32_t>(txn_bytes.size()));
  out.insert(out.end(), txn_bytes.begin(), txn_bytes.end());
  put_be<uint32_t>(out, log::crc32c(out));
  return out;
}

std::vector<std::byte> encode_snapshot(const ProducerStateTable& table, int64_t offset) {
  return encode_snapshot(table, offset, TxnIndex());
}

Result<DecodedProducerSnapshot> decode_snapshot(std::span<const std::byte> bytes, std::size_t max_producers) {
  if (bytes.size() < kSnapshotHeaderBytes + kSnapshotCrcBytes) return corrupt("producer snapshot: truncated header");
  const std::span<const std::byte> body = bytes.first(bytes.size() - kSnapshotCrcBytes);
  uint32_t stored_crc = 0;
  SnapshotReader trailer(bytes.subspan(body.size()));
  const bool trailer_read = trailer.get(&stored_crc);
  SLUICE_ASSERT(trailer_read);  // the size check above covers it
  SnapshotReader in(body);
  uint32_t magic = 0, count = 0;
  uint16_t version = 0, reserved = 0;
  int64_t offset = 0;
  const bool header_read = in.get(&magic) && in.get(&version) && in.get(&reserved) && in.get(&offset) && in.get(&count);
  SLUICE_ASSERT(header_read);
  if (magic != kSnapshotMagic) return corrupt("producer snapshot: bad magic");
  if (version != kSnapshotVersion && version != kSnapshotVersionWithoutTxns)
    return corrupt("producer snapshot: unknown version");
  if (log::crc32c(body) != stored_crc) return corrupt("producer snapshot: CRC mismatch");
  if (reserved != 0 || offset < 0) return corrupt("producer snapshot: bad header");
  // The count is checked against what the bytes could hold before anything is reserved for it.
  if (count > max_producers || count > in.remaining() / kSnapshotEntryFixedBytes)
    return corrupt("producer snapshot: bad entry count");
  DecodedProducerSnapshot out{offset, ProducerStateTable(max_producers), TxnIndex()};
  out.table.producers_.reserve(count);
  int64_t previous_pid = -1;
  for (uint32_t i = 0; i < count; ++i) {
    int64_t pid = 0, last_activity_ms = 0;
    int16_t epoch = 0;
    uint8_t batches = 0;
    if (!in.get(&pid) || !in.get(&epoch) || !in.get(&last_activity_ms) || !in.get(&batches))
      return corrupt("producer snapshot: truncated entry");
    if (pid <= previous_pid) return corrupt("producer snapshot: producer ids not increasing");
    if (batches > kProducerBatchesKept) return corrupt("producer snapshot: too many batches");
    previous_pid = pid;
    ProducerStateTable::Entry e;
    e.epoch = epoch;
    e.last_activity_ms = last_activity_ms;
    e.count = batches;
    e.head = static_cast<uint8_t>(batches == 0 ? 0 : batches - 1);
    int64_t previous_base = -1;
    for (uint8_t k = 0; k < batches; ++k) {
      ProducerStateTable::BatchMeta& m = e.batches[k];
      if (!in.get(&m.first_seq) || !in.get(&m.last_seq) || !in.get(&m.base_offset) || !in.get(&m.timestamp_ms))
        return corrupt("producer snapshot: truncated batch");
      if (m.first_seq < 0 || m.last_seq < 0) return corrupt("producer snapshot: negative sequence");
      // Batches are oldest first, and all below the offset the snapshot claims to cover.
      if (m.base_offset <= previous_base || m.base_offset >= offset)
        return corrupt("producer snapshot: bad batch offset");
      previous_base = m.base_offset;
    }
    out.table.producers_.emplace(pid, e);
  }
  if (version == kSnapshotVersion) {
    uint32_t txn_bytes = 0;
    if (!in.get(&txn_bytes) || txn_bytes != in.remaining())
      return corrupt("producer snapshot: bad transaction index length");
    auto txns = TxnIndex::decode(body.last(txn_bytes));
    if (!txns.ok()) return txns.error();
    out.txns = std::move(txns.value());
    in.skip(txn_bytes);
  }
  if (in.remaining() != 0) return corrupt("producer snapshot: trailing bytes");
  SLUICE_ASSERT(out.table.producer_count() == count && out.table.invariants_hold());
  return out;
}

}  // namespace sluice::broker
