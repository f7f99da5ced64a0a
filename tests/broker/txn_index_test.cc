// TxnIndex: open transactions bound the last stable offset; aborted ones are reported to the
// fetches whose range holds their records; recovery truncation reopens an abort whose marker was
// cut; snapshot bytes round-trip and hostile bytes are refused, never trusted or crashed on.
#include "engine/broker/txn_index.h"

#include <gtest/gtest.h>

#include <random>

namespace sluice::broker {
namespace {

TEST(TxnIndex, OpenTransactionsBoundTheLastStableOffset) {
  TxnIndex t;
  EXPECT_EQ(t.last_stable_offset(10), 10);
  t.on_data(1, 10);
  t.on_data(2, 12);
  t.on_data(1, 14);  // same transaction: its start stays 10
  EXPECT_EQ(t.first_unstable_offset(), 10);
  EXPECT_EQ(t.last_stable_offset(20), 10);
  EXPECT_EQ(t.last_stable_offset(5), 5);
  t.on_marker(1, /*commit=*/true, 16);
  EXPECT_FALSE(t.is_open(1));
  EXPECT_EQ(t.last_stable_offset(20), 12);
  t.on_marker(2, /*commit=*/false, 17);
  EXPECT_EQ(t.last_stable_offset(20), 20);
  EXPECT_EQ(t.aborted_count(), 1u);
  EXPECT_TRUE(t.invariants_hold());
}

TEST(TxnIndex, MarkerWithoutOpenTransactionChangesNothing) {
  TxnIndex t;
  t.on_marker(7, false, 3);
  EXPECT_EQ(t.aborted_count(), 0u);
  EXPECT_EQ(t.open_count(), 0u);
}

TEST(TxnIndex, AbortedInRangeReportsOverlappingTransactions) {
  TxnIndex t;
  t.on_data(1, 0);
  t.on_data(2, 5);
  t.on_marker(1, false, 8);  // aborted [0, 8]
  t.on_marker(2, true, 9);   // committed
  t.on_data(3, 10);
  t.on_marker(3, false, 20);  // aborted [10, 20]
  std::vector<AbortedTxn> got;
  t.aborted_in_range(0, 4, got);
  EXPECT_EQ(got, (std::vector<AbortedTxn>{{1, 0, 8}}));
  got.clear();
  t.aborted_in_range(9, 9, got);
  EXPECT_TRUE(got.empty());
  got.clear();
  t.aborted_in_range(6, 15, got);
  EXPECT_EQ(got, (std::vector<AbortedTxn>{{1, 0, 8}, {3, 10, 20}}));
  got.clear();
  t.aborted_in_range(21, 30, got);
  EXPECT_TRUE(got.empty());
}

TEST(TxnIndex, TruncationReopensACutAbortAndForgetsLaterStarts) {
  TxnIndex t;
  t.on_data(1, 0);
  t.on_marker(1, false, 4);
  t.on_data(2, 5);
  t.truncate_from(4);  // the marker at 4 and the data at 5 are gone
  EXPECT_TRUE(t.is_open(1));
  EXPECT_FALSE(t.is_open(2));
  EXPECT_EQ(t.aborted_count(), 0u);
  EXPECT_EQ(t.first_unstable_offset(), 0);
  t.on_marker(1, true, 4);  // the log continues from the cut
  EXPECT_EQ(t.open_count(), 0u);
  EXPECT_TRUE(t.invariants_hold());
}

TEST(TxnIndex, RetentionDropsAbortsBelowTheLogStart) {
  TxnIndex t;
  t.on_data(1, 0);
  t.on_marker(1, false, 2);
  t.on_data(1, 3);
  t.on_marker(1, false, 6);
  t.drop_below(3);
  EXPECT_EQ(t.aborted_count(), 1u);
  std::vector<AbortedTxn> got;
  t.aborted_in_range(0, 100, got);
  EXPECT_EQ(got, (std::vector<AbortedTxn>{{1, 3, 6}}));
}

TEST(TxnIndex, AbortedCapForgetsTheOldest) {
  TxnIndex t(/*max_aborted=*/2);
  for (int64_t i = 0; i < 3; ++i) {
    t.on_data(1, i * 2);
    t.on_marker(1, false, i * 2 + 1);
  }
  std::vector<AbortedTxn> got;
  t.aborted_in_range(0, 100, got);
  EXPECT_EQ(got, (std::vector<AbortedTxn>{{1, 2, 3}, {1, 4, 5}}));
}

// Random logs against a brute-force model of what each fetch range must report.
TEST(TxnIndex, MatchesABruteForceModelAndRoundTrips) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 200; ++round) {
    TxnIndex t;
    std::map<int64_t, int64_t> open;
    std::vector<AbortedTxn> aborted;
    int64_t offset = 0;
    for (int step = 0; step < 60; ++step) {
      const int64_t pid = static_cast<int64_t>(rng() % 4);
      if (rng() % 3 != 0) {
        t.on_data(pid, offset);
        open.emplace(pid, offset);
        offset += 1 + static_cast<int64_t>(rng() % 3);
      } else {
        const bool commit = rng() % 2 == 0;
        t.on_marker(pid, commit, offset);
        if (auto it = open.find(pid); it != open.end()) {
          if (!commit) aborted.push_back({pid, it->second, offset});
          open.erase(it);
        }
        offset += 1;
      }
    }
    ASSERT_TRUE(t.invariants_hold());
    int64_t first_open = offset;
    for (const auto& [pid, first] : open) first_open = std::min(first_open, first);
    EXPECT_EQ(t.last_stable_offset(offset), first_open);
    for (int q = 0; q < 20; ++q) {
      const int64_t from = static_cast<int64_t>(rng() % static_cast<uint64_t>(offset + 1));
      const int64_t to = from + static_cast<int64_t>(rng() % 20);
      std::vector<AbortedTxn> want, got;
      for (const AbortedTxn& a : aborted)
        if (a.first_offset <= to && a.last_offset >= from) want.push_back(a);
      t.aborted_in_range(from, to, got);
      EXPECT_EQ(got, want) << "round " << round << " range " << from << ".." << to;
    }
    auto bytes = t.encode();
    auto back = TxnIndex::decode(bytes);
    ASSERT_TRUE(back.ok());
    EXPECT_TRUE(back.value() == t);
  }
}

TEST(TxnIndex, HostileSnapshotBytesAreRefused) {
  TxnIndex t;
  t.on_data(1, 0);
  t.on_data(2, 3);
  t.on_marker(1, false, 5);
  const auto bytes = t.encode();
  for (std::size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(TxnIndex::decode(std::span<const std::byte>(bytes.data(), n)).ok()) << n;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    auto bad = bytes;
    bad[rng() % bad.size()] ^= static_cast<std::byte>(1 + rng() % 255);
    EXPECT_FALSE(TxnIndex::decode(bad).ok());  // the CRC catches every single-byte change
  }
  EXPECT_FALSE(TxnIndex::decode(bytes, /*max_aborted=*/0).ok());
}

}  // namespace
}  // namespace sluice::broker
