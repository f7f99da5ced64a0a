// Round trip of every defined api x version, request and response, with a value in every field
// present in that version: encode -> decode -> equal; re-encode -> same bytes; sizes agree.
#include <gtest/gtest.h>

#include "tests/kafka_codec/test_util.h"

namespace sluice::kafka {
namespace {

using test::bytes_of;

template <class M>
void round_trip_one(int16_t v, int variant) {
  SCOPED_TRACE(std::string(M::kName) + " v" + std::to_string(v) + " variant " + std::to_string(variant));
  M in = test::filled<M>(v, variant);
  if (variant == 0 && M::kFlexibleVersions.contains(v))
    in.unknown_tagged_fields.push_back(RawTaggedField{9999, Bytes{std::byte{1}, std::byte{2}}});
  auto wire = bytes_of(test::encode_body(v, in));
  EXPECT_EQ(wire.size(), encoded_size(v, in));
  M out;
  Reader r(wire);
  auto res = decode(r, v, out);
  ASSERT_TRUE(res.ok()) << res.error().describe();
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_TRUE(out == in);
  // Decoded (records as views) re-encodes to identical bytes.
  auto again = bytes_of(test::encode_body(v, out));
  EXPECT_EQ(again, wire);
  // Decoding into a reused, non-default object gives the same result.
  M reused = test::filled<M>(v, 1 - variant, 77);
  Reader r2(wire);
  ASSERT_TRUE(decode(r2, v, reused).ok());
  EXPECT_TRUE(reused == in);
}

template <class M>
int round_trip_all() {
  int n = 0;
  for (int v = M::kValidVersions.min; v <= M::kValidVersions.max; ++v) {
    round_trip_one<M>(static_cast<int16_t>(v), 0);
    round_trip_one<M>(static_cast<int16_t>(v), 1);
    ++n;
  }
  return n;
}

TEST(KafkaCodecRoundTrip, EveryApiEveryVersion) {
  int versions = 0;
  for_each_api([&](auto api) {
    using A = decltype(api);
    versions += round_trip_all<typename A::Request>();
    versions += round_trip_all<typename A::Response>();
  });
  EXPECT_GT(versions, 300);
}

// DescribeTransactions (65) and ListTransactions (66): registered in AllApis (so the loop above and
// the golden/hostile/mutation walks cover them) and round-trip in every version they define.
TEST(KafkaCodecRoundTrip, DescribeAndListTransactionsEveryVersion) {
  ASSERT_NE(find_api(DescribeTransactionsRequest::kApiKey), nullptr);
  EXPECT_EQ(find_api(DescribeTransactionsRequest::kApiKey)->name, "DescribeTransactions");
  ASSERT_NE(find_api(ListTransactionsRequest::kApiKey), nullptr);
  EXPECT_EQ(find_api(ListTransactionsRequest::kApiKey)->name, "ListTransactions");
  EXPECT_EQ(round_trip_all<DescribeTransactionsRequest>(), 1);
  EXPECT_EQ(round_trip_all<DescribeTransactionsResponse>(), 1);
  EXPECT_EQ(round_trip_all<ListTransactionsRequest>(), 2);
  EXPECT_EQ(round_trip_all<ListTransactionsResponse>(), 2);
}

// DescribeCluster (60): flexible from v0; v1 adds endpoint_type (default 1, brokers).
TEST(KafkaCodecRoundTrip, DescribeClusterEveryVersion) {
  ASSERT_NE(find_api(DescribeClusterRequest::kApiKey), nullptr);
  EXPECT_EQ(find_api(DescribeClusterRequest::kApiKey)->name, "DescribeCluster");
  EXPECT_EQ(round_trip_all<DescribeClusterRequest>(), 2);
  EXPECT_EQ(round_trip_all<DescribeClusterResponse>(), 2);
  // v0 has no endpoint type: a decoded v0 request keeps the default (brokers).
  DescribeClusterRequest req;
  req.include_cluster_authorized_operations = true;
  req.endpoint_type = 2;
  auto wire = bytes_of(test::encode_body(0, req));
  DescribeClusterRequest back;
  Reader r(wire);
  ASSERT_TRUE(decode(r, 0, back).ok());
  EXPECT_TRUE(back.include_cluster_authorized_operations);
  EXPECT_EQ(back.endpoint_type, 1);
}

// OffsetDelete (47): one version, not flexible.
TEST(KafkaCodecRoundTrip, OffsetDeleteVersionZero) {
  ASSERT_NE(find_api(OffsetDeleteRequest::kApiKey), nullptr);
  EXPECT_EQ(find_api(OffsetDeleteRequest::kApiKey)->name, "OffsetDelete");
  EXPECT_EQ(round_trip_all<OffsetDeleteRequest>(), 1);
  EXPECT_EQ(round_trip_all<OffsetDeleteResponse>(), 1);
}

// DescribeLogDirs (35): flexible from v2; null topics (every topic) survive every version; v3 adds
// the top-level error code, v4 the volume's total and usable bytes.
TEST(KafkaCodecRoundTrip, DescribeLogDirsEveryVersion) {
  ASSERT_NE(find_api(DescribeLogDirsRequest::kApiKey), nullptr);
  EXPECT_EQ(find_api(DescribeLogDirsRequest::kApiKey)->name, "DescribeLogDirs");
  EXPECT_EQ(round_trip_all<DescribeLogDirsRequest>(), 5);
  EXPECT_EQ(round_trip_all<DescribeLogDirsResponse>(), 5);
  for (int16_t v = 0; v <= 4; ++v) {
    DescribeLogDirsRequest all;
    all.topics = std::nullopt;
    auto wire = bytes_of(test::encode_body(v, all));
    DescribeLogDirsRequest back;
    Reader r(wire);
    ASSERT_TRUE(decode(r, v, back).ok()) << v;
    EXPECT_EQ(back.topics, std::nullopt) << v;
  }
}

// What the broker advertises is checked against the definitions where it lives (kafka/server
// api_table.h, at compile time); here every defined version is covered.
template <class M>
void expect_filled_differs_from_default() {
  for (int v = M::kValidVersions.min; v <= M::kValidVersions.max; ++v) {
    auto vv = static_cast<int16_t>(v);
    // A filled message differs from a default one whenever the version has fields.
    if (test::count_present<M>(ctx_for<M>(vv)) > 0) {
      EXPECT_FALSE(test::filled<M>(vv, 0) == M{}) << M::kName << " v" << v;
    }
  }
}

TEST(KafkaCodecRoundTrip, FilledFieldsNonEmptyInEveryDefinedVersion) {
  for_each_api([&](auto api) {
    using A = decltype(api);
    expect_filled_differs_from_default<typename A::Request>();
    expect_filled_differs_from_default<typename A::Response>();
  });
}

}  // namespace
}  // namespace sluice::kafka
