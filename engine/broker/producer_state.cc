#include "engine/broker/producer_state.h"

#include <algorithm>
#include <vector>

#include "alloc/assert.h"

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
    if (now_ms - it->second.last_activity_ms > expiration_ms)
      it = producers_.erase(it);
    else
      ++it;
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

int16_t ProducerStateTable::epoch_of(int64_t producer_id) const {
  auto it = producers_.find(producer_id);
  return it == producers_.end() ? int16_t{-1} : it->second.epoch;
}

}  // namespace sluice::broker
