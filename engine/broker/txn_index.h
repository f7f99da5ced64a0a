#pragma once
// The transactions of one partition as its reader sees them (KIP-98): which producers have an
// open transaction and from which offset (the first unstable offset bounds the last stable
// offset, LSO), and which finished transactions were aborted (a read_committed fetch returns
// them as `aborted_transactions` so the consumer drops their records). Owned by the shard that
// owns the partition, fed with every transactional batch and marker in log order (appends, and
// the replay at start). I/O-free; encode()/decode() give the bytes a snapshot keeps.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include "alloc/result.h"

namespace sluice::broker {

struct AbortedTxn {
  int64_t producer_id = -1;
  int64_t first_offset = -1;  // the transaction's first data batch here
  int64_t last_offset = -1;   // its ABORT marker
  friend bool operator==(const AbortedTxn&, const AbortedTxn&) = default;
};

// Open transactions are bounded by producers (one each); aborted ones by retention and this cap
// (the oldest are forgotten first: a consumer reading that far back sees their records as if
// committed, which Kafka's own index never does — the cap is far above any sane abort rate).
inline constexpr std::size_t kDefaultMaxAbortedTxns = 100'000;

class TxnIndex {
 public:
  explicit TxnIndex(std::size_t max_aborted = kDefaultMaxAbortedTxns) : max_aborted_(max_aborted) {}

  // A transactional data batch of `producer_id` at `base_offset`: opens its transaction unless one
  // is open already. Offsets must not go backwards (asserted).
  void on_data(int64_t producer_id, int64_t base_offset);
  // A COMMIT/ABORT marker of `producer_id` at `offset` ends its open transaction; an abort of an
  // open transaction is remembered. A marker with no open transaction changes nothing.
  void on_marker(int64_t producer_id, bool commit, int64_t offset);

  bool is_open(int64_t producer_id) const { return open_.contains(producer_id); }
  std::size_t open_count() const { return open_.size(); }
  std::size_t aborted_count() const { return aborted_.size(); }
  std::optional<int64_t> first_unstable_offset() const;
  // The last stable offset for a log whose high watermark is `high_watermark`.
  int64_t last_stable_offset(int64_t high_watermark) const;
  // Appends to `out` the aborted transactions a fetch of [from_offset, to_offset] must report:
  // those with records in the range (first_offset <= to_offset and last_offset >= from_offset).
  void aborted_in_range(int64_t from_offset, int64_t to_offset, std::vector<AbortedTxn>& out) const;

  // Recovery cut the log at `offset`: forgets transactions that start at or after it and aborts
  // whose marker is at or after it (those transactions are then open again, from their start).
  void truncate_from(int64_t offset);
  // Retention moved the log start: aborted transactions wholly below it are forgotten.
  void drop_below(int64_t log_start_offset);

  // Snapshot bytes (format in txn_index.cc; CRC-checked, bounds-checked on decode).
  std::vector<std::byte> encode() const;
  static Result<TxnIndex> decode(std::span<const std::byte> bytes, std::size_t max_aborted = kDefaultMaxAbortedTxns);
  // The largest encode() for at most `max_open` open transactions and the default abort cap.
  static std::size_t max_encoded_bytes(std::size_t max_open);
  bool invariants_hold() const;
  friend bool operator==(const TxnIndex& a, const TxnIndex& b) {
    return a.open_ == b.open_ && a.aborted_ == b.aborted_;
  }

 private:
  std::map<int64_t, int64_t> open_;                 // producer id -> first offset
  std::set<std::pair<int64_t, int64_t>> by_start_;  // (first offset, producer id) of open_
  std::vector<AbortedTxn> aborted_;                 // by last_offset (marker order)
  int64_t last_seen_offset_ = -1;
  std::size_t max_aborted_;
};

}  // namespace sluice::broker
