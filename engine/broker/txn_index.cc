#include "engine/broker/txn_index.h"

#include <algorithm>
#include <cerrno>

#include "alloc/assert.h"
#include "engine/log/crc32c.h"
#include "engine/log/record_batch.h"

namespace sluice::broker {

void TxnIndex::on_data(int64_t producer_id, int64_t base_offset) {
  SLUICE_ASSERT(producer_id >= 0 && base_offset >= 0);
  SLUICE_ASSERT_MSG(base_offset > last_seen_offset_, "transactional batches arrive in log order");
  last_seen_offset_ = base_offset;
  if (open_.emplace(producer_id, base_offset).second) by_start_.emplace(base_offset, producer_id);
  SLUICE_ASSERT(open_.size() == by_start_.size());
}

void TxnIndex::on_marker(int64_t producer_id, bool commit, int64_t offset) {
  SLUICE_ASSERT(producer_id >= 0 && offset >= 0);
  SLUICE_ASSERT_MSG(offset > last_seen_offset_, "markers arrive in log order");
  last_seen_offset_ = offset;
  auto it = open_.find(producer_id);
  if (it == open_.end()) return;  // an empty transaction here (or one cut by retention)
  const int64_t first = it->second;
  by_start_.erase({first, producer_id});
  open_.erase(it);
  if (!commit) {
    if (aborted_.size() >= max_aborted_) aborted_.erase(aborted_.begin());
    aborted_.push_back(AbortedTxn{producer_id, first, offset});
  }
  SLUICE_ASSERT(open_.size() == by_start_.size());
}

std::optional<int64_t> TxnIndex::first_unstable_offset() const {
  if (by_start_.empty()) return std::nullopt;
  return by_start_.begin()->first;
}

int64_t TxnIndex::last_stable_offset(int64_t high_watermark) const {
  const auto first = first_unstable_offset();
  return first ? std::min(*first, high_watermark) : high_watermark;
}

void TxnIndex::aborted_in_range(int64_t from_offset, int64_t to_offset, std::vector<AbortedTxn>& out) const {
  SLUICE_ASSERT(from_offset <= to_offset + 1);
  // Sorted by marker offset: everything ending before the range is skipped at once; a transaction
  // that ends after the range may still have started inside it, so the rest is scanned.
  auto it = std::lower_bound(aborted_.begin(), aborted_.end(), from_offset,
                             [](const AbortedTxn& a, int64_t offset) { return a.last_offset < offset; });
  for (; it != aborted_.end(); ++it)
    if (it->first_offset <= to_offset) out.push_back(*it);
}

void TxnIndex::truncate_from(int64_t offset) {
  for (auto it = open_.begin(); it != open_.end();) {
    if (it->second >= offset) {
      by_start_.erase({it->second, it->first});
      it = open_.erase(it);
    } else {
      ++it;
    }
  }
  // An abort whose marker was cut: its transaction is open again (if its data survived).
  while (!aborted_.empty() && aborted_.back().last_offset >= offset) {
    const AbortedTxn a = aborted_.back();
    aborted_.pop_back();
    if (a.first_offset < offset && open_.emplace(a.producer_id, a.first_offset).second)
      by_start_.emplace(a.first_offset, a.producer_id);
  }
  last_seen_offset_ = std::min(last_seen_offset_, offset - 1);
  SLUICE_ASSERT(open_.size() == by_start_.size());
}

void TxnIndex::drop_below(int64_t log_start_offset) {
  auto keep = std::find_if(aborted_.begin(), aborted_.end(),
                           [log_start_offset](const AbortedTxn& a) { return a.last_offset >= log_start_offset; });
  aborted_.erase(aborted_.begin(), keep);
}

bool TxnIndex::invariants_hold() const {
  if (open_.size() != by_start_.size() || aborted_.size() > max_aborted_) return false;
  for (const auto& [pid, first] : open_)
    if (pid < 0 || first < 0 || !by_start_.contains({first, pid})) return false;
  int64_t previous_last = -1;
  for (const AbortedTxn& a : aborted_) {
    if (a.producer_id < 0 || a.first_offset < 0 || a.last_offset <= a.first_offset || a.last_offset <= previous_last)
      return false;
    previous_last = a.last_offset;
  }
  return true;
}

// Format, version 1, big-endian:
//   u32 magic "SLTX"  u16 version (1)  u16 reserved (0)  i64 last seen offset
//   u32 open count    x { i64 producer id  i64 first offset }           (producer-id order)
//   u32 aborted count x { i64 producer id  i64 first offset  i64 last offset }  (marker order)
//   u32 CRC-32C of every byte before it
namespace {
constexpr uint32_t kMagic = 0x534C5458;  // "SLTX"
constexpr uint16_t kVersion = 1;
constexpr std::size_t kHeaderBytes = 4 + 2 + 2 + 8;
constexpr std::size_t kOpenEntryBytes = 16;
constexpr std::size_t kAbortedEntryBytes = 24;

template <class T>
void put(std::vector<std::byte>& out, T v) {
  std::byte b[sizeof(T)];
  log::store_be<T>(b, v);
  out.insert(out.end(), b, b + sizeof(T));
}
}  // namespace

std::size_t TxnIndex::max_encoded_bytes(std::size_t max_open) {
  return kHeaderBytes + 4 + max_open * kOpenEntryBytes + 4 + kDefaultMaxAbortedTxns * kAbortedEntryBytes + 4;
}

std::vector<std::byte> TxnIndex::encode() const {
  SLUICE_ASSERT(invariants_hold());
  std::vector<std::byte> out;
  out.reserve(kHeaderBytes + 8 + open_.size() * kOpenEntryBytes + aborted_.size() * kAbortedEntryBytes + 4);
  put<uint32_t>(out, kMagic);
  put<uint16_t>(out, kVersion);
  put<uint16_t>(out, 0);
  put<int64_t>(out, last_seen_offset_);
  put<uint32_t>(out, static_cast<uint32_t>(open_.size()));
  for (const auto& [pid, first] : open_) {
    put<int64_t>(out, pid);
    put<int64_t>(out, first);
  }
  put<uint32_t>(out, static_cast<uint32_t>(aborted_.size()));
  for (const AbortedTxn& a : aborted_) {
    put<int64_t>(out, a.producer_id);
    put<int64_t>(out, a.first_offset);
    put<int64_t>(out, a.last_offset);
  }
  put<uint32_t>(out, log::crc32c(std::span<const std::byte>(out.data(), out.size())));
  return out;
}

Result<TxnIndex> TxnIndex::decode(std::span<const std::byte> bytes, std::size_t max_aborted) {
  const auto bad = [](const char* what) { return make_error(EBADMSG, what); };
  if (bytes.size() < kHeaderBytes + 4 + 4 + 4) return bad("txn index: too short");
  const std::size_t body = bytes.size() - 4;
  if (log::crc32c(bytes.first(body)) != log::load_be<uint32_t>(bytes.data() + body)) return bad("txn index: crc");
  if (log::load_be<uint32_t>(bytes.data()) != kMagic || log::load_be<uint16_t>(bytes.data() + 4) != kVersion)
    return bad("txn index: magic or version");
  std::size_t pos = kHeaderBytes;
  TxnIndex t(max_aborted);
  t.last_seen_offset_ = log::load_be<int64_t>(bytes.data() + 8);
  const auto open_count = log::load_be<uint32_t>(bytes.data() + pos);
  pos += 4;
  if (open_count > (body - pos) / kOpenEntryBytes) return bad("txn index: open count");
  for (uint32_t i = 0; i < open_count; ++i, pos += kOpenEntryBytes) {
    const auto pid = log::load_be<int64_t>(bytes.data() + pos);
    const auto first = log::load_be<int64_t>(bytes.data() + pos + 8);
    if (pid < 0 || first < 0 || first > t.last_seen_offset_ || !t.open_.emplace(pid, first).second)
      return bad("txn index: open entry");
    t.by_start_.emplace(first, pid);
  }
  if (body - pos < 4) return bad("txn index: truncated");
  const auto aborted_count = log::load_be<uint32_t>(bytes.data() + pos);
  pos += 4;
  if (aborted_count > max_aborted || aborted_count != (body - pos) / kAbortedEntryBytes ||
      (body - pos) % kAbortedEntryBytes != 0)
    return bad("txn index: aborted count");
  for (uint32_t i = 0; i < aborted_count; ++i, pos += kAbortedEntryBytes) {
    AbortedTxn a{log::load_be<int64_t>(bytes.data() + pos), log::load_be<int64_t>(bytes.data() + pos + 8),
                 log::load_be<int64_t>(bytes.data() + pos + 16)};
    if (a.last_offset > t.last_seen_offset_) return bad("txn index: aborted entry");
    t.aborted_.push_back(a);
  }
  SLUICE_ASSERT(pos == body);
  if (!t.invariants_hold()) return bad("txn index: inconsistent");
  return t;
}

}  // namespace sluice::broker
