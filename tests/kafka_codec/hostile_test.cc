// Hostile input: truncation at every offset, absurd counts and lengths, malformed varints. The
// decoder must return an error, never crash, over-read (ASan) or allocate more than the input
// justifies.
#include <gtest/gtest.h>

#include "alloc/alloc_counters.h"
#include "tests/kafka_codec/test_util.h"

namespace sluice::kafka {
namespace {

using test::bytes_of;
using test::hex;

std::vector<std::vector<std::byte>> sample_frames() {
  std::vector<std::vector<std::byte>> frames;
  for (const char* f : {"librdkafka_apiversions_v3.bin", "librdkafka_metadata_v4_topic.bin",
                        "librdkafka_produce_v7.bin", "kafkajs_metadata_v6.bin", "kafkajs_produce_v7.bin"})
    frames.push_back(test::read_file(std::string(SLUICE_CODEC_TEST_DIR) + "/golden/" + f));
  // Filled requests of every api at its lowest, highest and first flexible version.
  for_each_api([&](auto api) {
    using Req = typename decltype(api)::Request;
    for (int16_t v : {Req::kValidVersions.min, Req::kValidVersions.max, Req::kFlexibleVersions.min}) {
      if (!Req::kValidVersions.contains(v)) continue;
      Writer w;
      auto framed = bytes_of(encode_request_frame(w, v, 5, std::string("c"), test::filled<Req>(v, 0)));
      frames.emplace_back(framed.begin() + 4, framed.end());
    }
  });
  return frames;
}

TEST(KafkaCodecHostile, TruncatedAtEveryOffsetFails) {
  int checked = 0;
  for (const auto& frame : sample_frames()) {
    ASSERT_TRUE(decode_request_frame_discard(frame).ok());
    for (std::size_t n = 0; n < frame.size(); ++n) {
      // A fresh heap copy of exactly n bytes so ASan catches any over-read.
      std::vector<std::byte> cut(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(n));
      auto res = decode_request_frame_discard(cut);
      EXPECT_FALSE(res.ok()) << "prefix " << n << " of " << frame.size() << " decoded";
      ++checked;
    }
  }
  EXPECT_GT(checked, 1000);
}

TEST(KafkaCodecHostile, HugeArrayCountsAreRejectedWithoutAllocating) {
  // Produce v7 with topic_data count 0x7fffffff and nothing after it.
  auto frame = hex("0000 0007 00000001 0001 63 ffff ffff 00007530 7fffffff");
  auto before = alloc::thread_alloc_counters().bytes_allocated;
  auto res = decode_request_frame_discard(frame);
  auto after = alloc::thread_alloc_counters().bytes_allocated;
  ASSERT_FALSE(res.ok());
  EXPECT_STREQ(res.error().what, "array count exceeds remaining bytes");
  EXPECT_LT(after - before, 4096u);

  // Count that fits the byte budget only if elements were 1 byte: partitions need >= 8 bytes each.
  auto frame2 = hex("0000 0007 00000001 0001 63 ffff ffff 00007530 00000001 0001 74 00000004"
                    "0000000000000000 0000000000000000 0000000000000000");
  EXPECT_FALSE(decode_request_frame_discard(frame2).ok());

  // Flexible (compact) array count of 2^32-2 (uvarint ffffffff0f).
  auto frame3 = hex("0016 0002 00000001 0001 63 00 ffffffff0f 00000000 00");  // InitProducerId v2: string len
  EXPECT_FALSE(decode_request_frame_discard(frame3).ok());
  auto frame4 = hex("0003 0009 00000001 0001 63 00 ffffffff0f 00 00 00 00");  // Metadata v9 topics
  auto res4 = decode_request_frame_discard(frame4);
  ASSERT_FALSE(res4.ok());
  EXPECT_STREQ(res4.error().what, "array count exceeds remaining bytes");
}

TEST(KafkaCodecHostile, NegativeAndOversizedLengths) {
  // Metadata v4 topic name with length -2, and -1 (null) where null is not allowed.
  EXPECT_FALSE(decode_request_frame_discard(hex("0003 0004 00000001 0001 63 00000001 fffe 01")).ok());
  auto null_name = decode_request_frame_discard(hex("0003 0004 00000001 0001 63 00000001 ffff 01"));
  ASSERT_FALSE(null_name.ok());
  EXPECT_STREQ(null_name.error().what, "null string in a non-nullable field");
  // Array count -2.
  EXPECT_FALSE(decode_request_frame_discard(hex("0003 0004 00000001 0001 63 fffffffe 01")).ok());
  // String longer than the frame.
  EXPECT_FALSE(decode_request_frame_discard(hex("0003 0004 00000001 0001 63 00000001 7fff 6162 01")).ok());
  // Records length beyond the frame / negative.
  EXPECT_FALSE(decode_request_frame_discard(
                   hex("0000 0007 00000001 0001 63 ffff ffff 00007530 00000001 0001 74 00000001 00000000 7fffffff 00"))
                   .ok());
  EXPECT_FALSE(decode_request_frame_discard(
                   hex("0000 0007 00000001 0001 63 ffff ffff 00007530 00000001 0001 74 00000001 00000000 fffffffe"))
                   .ok());
  // Null records are legal in Produce.
  auto null_records = decode_request_frame_discard(
      hex("0000 0007 00000001 0001 63 ffff ffff 00007530 00000001 0001 74 00000001 00000000 ffffffff"));
  EXPECT_TRUE(null_records.ok());
  // Client id length beyond the frame; negative client id length.
  EXPECT_FALSE(decode_request_frame_discard(hex("0012 0000 00000001 0100 63")).ok());
  EXPECT_FALSE(decode_request_frame_discard(hex("0012 0000 00000001 fff0")).ok());
}

TEST(KafkaCodecHostile, MalformedVarintsAndTaggedSections) {
  // ApiVersions v3 body with a 6-byte varint string length.
  EXPECT_FALSE(decode_request_frame_discard(hex("0012 0003 00000001 0001 63 00 ffffffffff01 00")).ok());
  // 5-byte varint whose top bits overflow 32 bits.
  EXPECT_FALSE(decode_request_frame_discard(hex("0012 0003 00000001 0001 63 00 ffffffff7f 00")).ok());
  // Header tagged count far larger than the frame.
  EXPECT_FALSE(decode_request_frame_discard(hex("0012 0003 00000001 0001 63 ffffffff0f")).ok());
  // Tagged field whose size runs past the end.
  EXPECT_FALSE(decode_request_frame_discard(hex("0012 0003 00000001 0001 63 01 00 7f 00")).ok());
  // Unknown tagged field in the header, properly sized: skipped/kept, decode succeeds.
  auto ok = decode_request_frame_discard(hex("0012 0003 00000001 0001 63 01 09 02 abcd 01 01 00"));
  EXPECT_TRUE(ok.ok()) << (ok.ok() ? "" : ok.error().describe());
}

TEST(KafkaCodecHostile, UnknownApiOrVersion) {
  auto r1 = decode_request_frame_discard(hex("0004 0000 00000001 0001 63"));  // LeaderAndIsr: not ours
  ASSERT_FALSE(r1.ok());
  EXPECT_EQ(r1.error().code, ENOTSUP);
  auto r2 = decode_request_frame_discard(hex("0000 0063 00000001 0001 63 00"));  // Produce v99 (header v2)
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().code, ENOTSUP);
  EXPECT_FALSE(decode_request_frame_discard(hex("00")).ok());
  EXPECT_FALSE(decode_request_frame_discard({}).ok());
  // Trailing garbage after a valid body.
  auto r3 = decode_request_frame_discard(hex("0012 0000 00000001 0001 63 00"));
  ASSERT_FALSE(r3.ok());
  EXPECT_EQ(r3.error().code, kDecodeErrno);
}

}  // namespace
}  // namespace sluice::kafka
