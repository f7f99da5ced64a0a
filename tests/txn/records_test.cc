#include "engine/txn/records.h"

#include <gtest/gtest.h>

#include <random>

using namespace sluice::txn;

namespace {

TxnRecordValue sample() {
  TxnRecordValue v;
  v.producer_id = 0x0102030405060708;
  v.last_producer_id = 77;
  v.producer_epoch = 32767;
  v.last_producer_epoch = 5;
  v.txn_timeout_ms = 60000;
  v.state = TxnState::kOngoing;
  v.partitions = {{"a", 0}, {"a", 3}, {"b", 1}, {std::string("t\0x", 3), 2147483647}};
  v.last_update_ms = 1700000000123;
  v.start_ms = 1700000000000;
  return v;
}

}  // namespace

TEST(TxnRecords, KeyLayoutAndRoundTrip) {
  // Kafka's TransactionLogKey: int16 version, string transactional_id.
  EXPECT_EQ(encode_txn_key("tx"), std::string("\x00\x00\x00\x02tx", 6));
  auto k = decode_txn_key(encode_txn_key("tx"));
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(*k, "tx");
  auto e = decode_txn_key(encode_txn_key(""));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(*e, "");
  std::string longest(0xFFFF, 'x');
  auto l = decode_txn_key(encode_txn_key(longest));
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(*l, longest);
}

TEST(TxnRecords, ValueRoundTrip) {
  TxnRecordValue v = sample();
  auto d = decode_txn_value(encode_txn_value(v));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, v);

  for (TxnState s : {TxnState::kEmpty, TxnState::kPrepareCommit, TxnState::kPrepareAbort, TxnState::kCompleteCommit,
                     TxnState::kCompleteAbort}) {
    TxnRecordValue e;
    e.state = s;
    e.producer_id = 9;
    auto de = decode_txn_value(encode_txn_value(e));
    ASSERT_TRUE(de.ok());
    EXPECT_EQ(*de, e);
  }
}

TEST(TxnRecords, ValueLayoutFollowsKafkaOrder) {
  TxnRecordValue v;
  v.producer_id = 1;
  v.last_producer_id = -1;
  v.producer_epoch = 2;
  v.last_producer_epoch = -1;
  v.txn_timeout_ms = 3;
  v.state = TxnState::kOngoing;
  v.partitions = {{"t", 4}, {"t", 5}};
  v.last_update_ms = 6;
  v.start_ms = 7;
  const std::string expect = std::string("\x00\x00", 2)                              // version
                             + std::string("\0\0\0\0\0\0\0\x01", 8)                  // producer id
                             + std::string(8, '\xff')                                // last producer id
                             + std::string("\x00\x02", 2) + std::string("\xff\xff")  // epochs
                             + std::string("\0\0\0\x03", 4)                          // timeout
                             + std::string("\x01", 1)                                // state
                             + std::string("\0\0\0\x01\0\x01t\0\0\0\x02\0\0\0\x04\0\0\0\x05", 19) +
                             std::string("\0\0\0\0\0\0\0\x06\0\0\0\0\0\0\0\x07", 16);
  EXPECT_EQ(encode_txn_value(v), expect);
}

TEST(TxnRecords, GarbageIsRejectedNotCrashed) {
  const std::string key = encode_txn_key("some-txn");
  const std::string value = encode_txn_value(sample());
  // Every truncation and every trailing byte fails.
  for (size_t n = 0; n < key.size(); ++n) EXPECT_FALSE(decode_txn_key(key.substr(0, n)).ok()) << n;
  for (size_t n = 0; n < value.size(); ++n) EXPECT_FALSE(decode_txn_value(value.substr(0, n)).ok()) << n;
  EXPECT_FALSE(decode_txn_key(key + "x").ok());
  EXPECT_FALSE(decode_txn_value(value + "x").ok());
  // Unknown versions and states.
  std::string k2 = key;
  k2[1] = 1;
  EXPECT_FALSE(decode_txn_key(k2).ok());
  std::string v2 = value;
  v2[1] = 1;
  EXPECT_FALSE(decode_txn_value(v2).ok());
  for (uint8_t s : {6, 7, 0x80, 0xff}) {
    std::string v3 = value;
    v3[2 + 8 + 8 + 2 + 2 + 4] = static_cast<char>(s);
    EXPECT_FALSE(decode_txn_value(v3).ok()) << int(s);
  }
  // Counts larger than the input, negative counts, non-canonical partitions.
  TxnRecordValue one;
  one.partitions = {{"t", 1}};
  const std::string base = encode_txn_value(one);
  const size_t topics_at = 2 + 8 + 8 + 2 + 2 + 4 + 1;
  for (uint32_t bogus : {0x7fffffffu, 0xffffffffu, 2u}) {
    std::string v4 = base;
    for (int i = 0; i < 4; ++i) v4[topics_at + i] = static_cast<char>(bogus >> (24 - 8 * i));
    EXPECT_FALSE(decode_txn_value(v4).ok()) << bogus;
  }
  const size_t count_at = topics_at + 4 + 2 + 1;
  for (uint32_t bogus : {0u, 0x7fffffffu, 0xffffffffu, 2u}) {
    std::string v5 = base;
    for (int i = 0; i < 4; ++i) v5[count_at + i] = static_cast<char>(bogus >> (24 - 8 * i));
    EXPECT_FALSE(decode_txn_value(v5).ok()) << bogus;
  }
  TxnRecordValue sorted;
  sorted.partitions = {{"t", 1}, {"t", 2}};
  std::string v6 = encode_txn_value(sorted);
  std::swap(v6[count_at + 4 + 3], v6[count_at + 8 + 3]);  // partitions 2, 1
  EXPECT_FALSE(decode_txn_value(v6).ok());
  std::string v7 = encode_txn_value(sorted);
  v7[count_at + 8 + 3] = 1;  // duplicate partition 1
  EXPECT_FALSE(decode_txn_value(v7).ok());

  // Random mutations and random bytes: any outcome but a crash; what decodes re-encodes the same.
  std::mt19937_64 rng(42);
  for (int i = 0; i < 20000; ++i) {
    std::string m = (i % 4 == 0) ? std::string(rng() % 64, '\0') : value;
    for (auto& c : m)
      if (i % 4 == 0) c = static_cast<char>(rng());
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips && !m.empty(); ++f) m[rng() % m.size()] = static_cast<char>(rng());
    if (rng() % 8 == 0) m.resize(rng() % (m.size() + 1));
    auto d = decode_txn_value(m);
    if (d.ok()) {
      EXPECT_EQ(encode_txn_value(*d), m);
    }
    auto dk = decode_txn_key(m);
    if (dk.ok()) {
      EXPECT_EQ(encode_txn_key(*dk), m);
    }
  }
}
