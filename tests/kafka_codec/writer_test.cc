// Writer/Reader mechanics: zero-copy records on both sides, chunking, framing, allocation.
#include <gtest/gtest.h>

#include "alloc/alloc_counters.h"
#include "tests/kafka_codec/test_util.h"

namespace sluice::kafka {
namespace {

using test::bytes_of;

TEST(KafkaCodecWriter, RecordsAreSplicedNotCopied) {
  alloc::BufferRef log_page(alloc::Buffer::allocate(16384));
  for (std::size_t i = 0; i < 16384; ++i) log_page->data()[i] = static_cast<std::byte>(i * 7);
  FetchResponse resp;
  resp.responses.emplace_back();
  resp.responses[0].topic = "t";
  resp.responses[0].partitions.emplace_back();
  auto& p = resp.responses[0].partitions[0];
  p.high_watermark = 100;
  p.records.data.append_shared(log_page, 100, 16000);
  Writer w;
  alloc::IoBuf out = encode_response_frame(w, 1, 11, resp);
  bool shared = false;
  for (const auto& f : out.fragments())
    if (f.buffer.get() == log_page.get() && f.offset == 100 && f.length == 16000) shared = true;
  EXPECT_TRUE(shared);
  EXPECT_EQ(log_page->refs(), 3u);  // ours, the response struct's, the frame's
  // The frame decodes back (response header v0 for Fetch v11) with records identical.
  auto bytes = out.linearize();
  Reader r(std::span<const std::byte>(bytes).subspan(8));
  FetchResponse back;
  ASSERT_TRUE(decode(r, 11, back).ok());
  EXPECT_TRUE(back == resp);
  EXPECT_EQ(std::memcmp(back.responses[0].partitions[0].records.view.data(), log_page->data() + 100, 16000), 0);
}

TEST(KafkaCodecWriter, ProduceDecodeDoesNotCopyRecords) {
  ProduceRequest req;
  req.acks = -1;
  req.timeout_ms = 1000;
  req.topic_data.emplace_back();
  req.topic_data[0].name = "topic";
  req.topic_data[0].partition_data.emplace_back();
  req.topic_data[0].partition_data[0].records.data = test::make_records(16384, 3);
  auto frame = bytes_of(test::encode_body(7, req));
  ProduceRequest out;
  auto before = alloc::thread_alloc_counters();
  Reader r(frame);
  ASSERT_TRUE(decode(r, 7, out).ok());
  auto after = alloc::thread_alloc_counters();
  EXPECT_LE(after.allocations - before.allocations, 2u);  // the two vectors
  EXPECT_LT(after.bytes_allocated - before.bytes_allocated, 1024u);
  const auto& v = out.topic_data[0].partition_data[0].records.view;
  EXPECT_EQ(v.size(), 16384u);
  EXPECT_GE(v.data(), frame.data());
  EXPECT_LE(v.data() + v.size(), frame.data() + frame.size());
}

TEST(KafkaCodecWriter, ChunkBoundariesAndLargeValues) {
  Writer w(64);  // tiny chunks: every field crosses boundaries somewhere
  MetadataResponse m;
  for (int i = 0; i < 50; ++i) {
    MetadataResponse::MetadataResponseTopic t;
    t.name = std::string(static_cast<std::size_t>(i * 5), static_cast<char>('a' + i % 26));
    t.partitions.resize(static_cast<std::size_t>(i % 4));
    m.topics.push_back(t);
  }
  m.cluster_id = std::string(1000, 'z');
  for (int16_t v : {int16_t{4}, int16_t{9}, int16_t{12}}) {
    auto b = bytes_of(test::encode_body(v, m));
    EXPECT_EQ(b.size(), encoded_size(v, m));
    Writer big;
    encode(big, v, m);
    EXPECT_EQ(bytes_of(big.finish()), b);
    MetadataResponse back;
    Reader r(b);
    ASSERT_TRUE(decode(r, v, back).ok());
    EXPECT_EQ(back.topics.size(), 50u);
    EXPECT_EQ(*back.topics[49].name, m.topics[49].name);
    EXPECT_EQ(back.cluster_id, m.cluster_id);
  }
  // Several frames from one writer share its chunk without overlapping.
  Writer shared;
  HeartbeatResponse hb;
  hb.error_code = 27;
  auto f1 = encode_response_frame(shared, 1, 3, hb);
  auto f2 = encode_response_frame(shared, 2, 3, hb);
  EXPECT_EQ(bytes_of(f1), test::hex("0000000a 00000001 00000000 001b"));
  EXPECT_EQ(bytes_of(f2), test::hex("0000000a 00000002 00000000 001b"));
  EXPECT_EQ(shared.size(), 0u);
}

// A writer kept across responses reuses its chunks once the responses are dropped, and never
// overwrites bytes of a response that is still held.
TEST(KafkaCodecWriter, ReusesChunksOfReleasedResponsesOnly) {
  Writer w(256);
  ProduceResponse resp;
  resp.responses.resize(1);
  resp.responses[0].name = "topic";
  resp.responses[0].partition_responses.resize(1);
  for (int i = 0; i < 64; ++i) (void)encode_response_frame(w, i, 7, resp);  // warm
  const uint64_t before = alloc::thread_alloc_counters().allocations;
  for (int i = 0; i < 1000; ++i) {
    resp.responses[0].partition_responses[0].base_offset = i;
    alloc::IoBuf out = encode_response_frame(w, i, 7, resp);
    ASSERT_GT(out.size(), 0u);
  }
  EXPECT_EQ(alloc::thread_alloc_counters().allocations - before, 0u);

  // Held responses keep their bytes while the writer moves on through many chunks.
  std::vector<alloc::IoBuf> held;
  std::vector<std::vector<std::byte>> copies;
  for (int i = 0; i < 200; ++i) {
    resp.responses[0].partition_responses[0].base_offset = 1000 + i;
    held.push_back(encode_response_frame(w, i, 7, resp));
    copies.push_back(held.back().linearize());
    if (i % 3 == 0) {
      held.erase(held.begin());
      copies.erase(copies.begin());
    }
  }
  for (std::size_t i = 0; i < held.size(); ++i) EXPECT_EQ(held[i].linearize(), copies[i]) << i;
}

TEST(KafkaCodecWriter, ReaderPrimitives) {
  auto b = test::hex("ff ff ff ff 07  80 01  00");
  Reader r(b);
  EXPECT_EQ(r.read_uvarint(), 0x7fffffffu);
  EXPECT_EQ(r.read_uvarint(), 128u);
  EXPECT_EQ(r.read_uvarint(), 0u);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.read_int<int32_t>(), 0);
  EXPECT_FALSE(r.ok());
  EXPECT_STREQ(r.error().what, "truncated: fixed-width field");
  Writer w;
  w.write_uvarint(0x7fffffff);
  w.write_uvarint(128);
  w.write_uvarint(0);
  EXPECT_EQ(bytes_of(w.finish()), test::hex("ffffff ff07 8001 00"));
}

}  // namespace
}  // namespace sluice::kafka
