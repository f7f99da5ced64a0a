#include "engine/group/records.h"

#include <gtest/gtest.h>

#include <random>

using namespace sluice::group;

TEST(GroupRecords, KeysRoundTripAndAreDistinct) {
  auto ok = encode_offset_key("grp", "topic", 7);
  auto gk = encode_group_key("grp");
  // Fixed layout: type, version, u16 length + bytes ...
  EXPECT_EQ(gk, std::string("\x02\x00\x00\x03grp", 7));
  EXPECT_EQ(ok, std::string("\x01\x00\x00\x03grp\x00\x05topic\x00\x00\x00\x07", 18));
  auto k1 = decode_record_key(ok);
  ASSERT_TRUE(k1.ok());
  EXPECT_EQ(k1->type, RecordType::kOffset);
  EXPECT_EQ(k1->group, "grp");
  EXPECT_EQ(k1->topic, "topic");
  EXPECT_EQ(k1->partition, 7);
  auto k2 = decode_record_key(gk);
  ASSERT_TRUE(k2.ok());
  EXPECT_EQ(k2->type, RecordType::kGroup);
  EXPECT_EQ(k2->group, "grp");
  EXPECT_NE(encode_offset_key("a", "bc", 1), encode_offset_key("ab", "c", 1));
  auto empty = decode_record_key(encode_group_key(""));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->group, "");
}

TEST(GroupRecords, ValuesRoundTrip) {
  OffsetRecordValue ov{42, 3, 1700000000000, -1, std::string("meta\0data", 9)};
  auto ov2 = decode_offset_value(encode_offset_value(ov));
  ASSERT_TRUE(ov2.ok());
  EXPECT_EQ(*ov2, ov);

  GroupRecordValue gv;
  gv.protocol_type = "consumer";
  gv.generation = 12;
  gv.protocol = "range";
  gv.leader = "m1";
  gv.state_timestamp_ms = 123456789;
  gv.members.push_back(GroupRecordMember{"m1", std::nullopt, "c1", "/h1", 30000, 10000, "sub1", "asg1"});
  gv.members.push_back(GroupRecordMember{"m2", std::string("inst"), "c2", "/h2", 1, 2, "", std::string(1000, 'z')});
  auto gv2 = decode_group_value(encode_group_value(gv));
  ASSERT_TRUE(gv2.ok());
  EXPECT_EQ(*gv2, gv);

  GroupRecordValue empty;
  empty.protocol_type = "consumer";
  empty.generation = 3;
  auto e2 = decode_group_value(encode_group_value(empty));
  ASSERT_TRUE(e2.ok());
  EXPECT_EQ(*e2, empty);
  EXPECT_FALSE(e2->protocol.has_value());
  EXPECT_FALSE(e2->leader.has_value());
}

TEST(GroupRecords, MalformedInputIsRejectedNotCrashed) {
  GroupRecordValue gv;
  gv.protocol_type = "consumer";
  gv.generation = 1;
  gv.protocol = "range";
  gv.leader = "m";
  gv.members.push_back(GroupRecordMember{"m", std::string("i"), "c", "h", 1, 2, "s", "a"});
  const std::string good = encode_group_value(gv);
  const std::string goodo = encode_offset_value(OffsetRecordValue{1, 2, 3, 4, "m"});
  const std::string goodk = encode_offset_key("g", "t", 1);
  // Every strict prefix and every one-byte extension is refused.
  for (size_t n = 0; n < good.size(); ++n) EXPECT_FALSE(decode_group_value(good.substr(0, n)).ok()) << n;
  for (size_t n = 0; n < goodo.size(); ++n) EXPECT_FALSE(decode_offset_value(goodo.substr(0, n)).ok()) << n;
  for (size_t n = 0; n < goodk.size(); ++n) EXPECT_FALSE(decode_record_key(goodk.substr(0, n)).ok()) << n;
  EXPECT_FALSE(decode_group_value(good + "x").ok());
  EXPECT_FALSE(decode_offset_value(goodo + "x").ok());
  EXPECT_FALSE(decode_record_key(goodk + "x").ok());
  // Unknown versions / types.
  std::string v = good;
  v[0] = 9;
  EXPECT_FALSE(decode_group_value(v).ok());
  std::string k = goodk;
  k[0] = 7;
  EXPECT_FALSE(decode_record_key(k).ok());
  k = goodk;
  k[1] = 1;
  EXPECT_FALSE(decode_record_key(k).ok());
  // Huge member count with a tiny input does not allocate wildly.
  std::string huge = encode_group_value(GroupRecordValue{"consumer", 1, std::nullopt, std::nullopt, 0, {}});
  huge[huge.size() - 1] = '\xff';
  huge[huge.size() - 2] = '\xff';
  huge[huge.size() - 3] = '\xff';
  huge[huge.size() - 4] = '\x7f';
  EXPECT_FALSE(decode_group_value(huge).ok());
  // Random mutations never crash (ASan/UBSan run checks memory safety).
  std::mt19937_64 rng(1234);
  for (int i = 0; i < 20000; ++i) {
    std::string m = good;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) m[rng() % m.size()] = static_cast<char>(rng());
    auto r = decode_group_value(m);
    if (r.ok()) {
      // Whatever decodes re-encodes to the same bytes (the encoding is canonical).
      EXPECT_EQ(encode_group_value(*r), m);
    }
  }
}

TEST(GroupRecords, TxnRecordsRoundTrip) {
  const std::string pk = encode_pending_txn_offset_key("g", 0x0102030405060708LL, "t", 3);
  EXPECT_EQ(pk, std::string("\x03\x00\x00\x01g\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01t\x00\x00\x00\x03", 20));
  auto k = decode_record_key(pk);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->type, RecordType::kPendingTxnOffset);
  EXPECT_EQ(k->group, "g");
  EXPECT_EQ(k->producer_id, 0x0102030405060708LL);
  EXPECT_EQ(k->topic, "t");
  EXPECT_EQ(k->partition, 3);
  // Distinct from the committed-offset key of the same partition, and per producer.
  EXPECT_NE(pk, encode_offset_key("g", "t", 3));
  EXPECT_NE(pk, encode_pending_txn_offset_key("g", 9, "t", 3));

  const std::string mk = encode_txn_marker_key(-2);
  EXPECT_EQ(mk, std::string("\x04\x00\xff\xff\xff\xff\xff\xff\xff\xfe", 10));
  auto m = decode_record_key(mk);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->type, RecordType::kTxnMarker);
  EXPECT_EQ(m->producer_id, -2);
  EXPECT_EQ(m->group, "");

  PendingTxnOffsetValue pv{42, 7, 1700000000000, 3, std::string("m\0d", 3)};
  auto pv2 = decode_pending_txn_offset_value(encode_pending_txn_offset_value(pv));
  ASSERT_TRUE(pv2.ok());
  EXPECT_EQ(*pv2, pv);
  for (bool commit : {false, true}) {
    auto mv = decode_txn_marker_value(encode_txn_marker_value(TxnMarkerValue{commit}));
    ASSERT_TRUE(mv.ok());
    EXPECT_EQ(mv->commit, commit);
  }
  EXPECT_EQ(encode_txn_marker_value(TxnMarkerValue{true}), std::string("\x00\x01", 2));
}

TEST(GroupRecords, MalformedTxnRecordsAreRejected) {
  const std::string pk = encode_pending_txn_offset_key("g", 5, "t", 1);
  const std::string mk = encode_txn_marker_key(5);
  const std::string pv = encode_pending_txn_offset_value(PendingTxnOffsetValue{1, 2, 3, 4, "meta"});
  const std::string mv = encode_txn_marker_value(TxnMarkerValue{true});
  for (size_t n = 0; n < pk.size(); ++n) EXPECT_FALSE(decode_record_key(pk.substr(0, n)).ok()) << n;
  for (size_t n = 0; n < mk.size(); ++n) EXPECT_FALSE(decode_record_key(mk.substr(0, n)).ok()) << n;
  for (size_t n = 0; n < pv.size(); ++n) EXPECT_FALSE(decode_pending_txn_offset_value(pv.substr(0, n)).ok()) << n;
  for (size_t n = 0; n < mv.size(); ++n) EXPECT_FALSE(decode_txn_marker_value(mv.substr(0, n)).ok()) << n;
  EXPECT_FALSE(decode_record_key(pk + "x").ok());
  EXPECT_FALSE(decode_record_key(mk + "x").ok());
  EXPECT_FALSE(decode_pending_txn_offset_value(pv + "x").ok());
  EXPECT_FALSE(decode_txn_marker_value(mv + "x").ok());
  EXPECT_FALSE(decode_txn_marker_value(std::string("\x00\x02", 2)).ok());  // result other than 0/1
  std::string v = pv;
  v[0] = 1;
  EXPECT_FALSE(decode_pending_txn_offset_value(v).ok());
  v = mv;
  v[0] = 1;
  EXPECT_FALSE(decode_txn_marker_value(v).ok());
  // Random mutations never crash; whatever decodes re-encodes to the same bytes.
  std::mt19937_64 rng(4321);
  for (int i = 0; i < 20000; ++i) {
    std::string m = pv;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) m[rng() % m.size()] = static_cast<char>(rng());
    auto r = decode_pending_txn_offset_value(m);
    if (r.ok()) {
      EXPECT_EQ(encode_pending_txn_offset_value(*r), m);
    }
  }
}
