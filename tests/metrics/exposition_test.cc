#include "engine/metrics/exposition.h"

#include <gtest/gtest.h>

#include <string>

#include "engine/metrics/histogram.h"
#include "engine/metrics/http_endpoint.h"

namespace sluice::metrics {
namespace {

constexpr Family kCounter{"test_things_total", "Things counted.", Type::counter};
constexpr Family kGauge{"test_level", "A level.", Type::gauge};
constexpr Family kHist{"test_latency_seconds", "A latency.", Type::histogram};

TEST(Histogram, ValuesLandInTheFirstBucketWhoseBoundHoldsThem) {
  CountHistogram h;
  h.record(0);      // <= 1
  h.record(1);      // <= 1 (bounds are inclusive)
  h.record(2);      // <= 2
  h.record(3);      // <= 4
  h.record(70000);  // above 65536: +Inf only
  EXPECT_EQ(h.count(), 5u);
  EXPECT_EQ(h.sum(), 70006);
  auto b = h.buckets();
  ASSERT_EQ(b.size(), kCountBounds.size() + 1);
  EXPECT_EQ(b[0], 2u);
  EXPECT_EQ(b[1], 1u);
  EXPECT_EQ(b[2], 1u);
  EXPECT_EQ(b[b.size() - 1], 1u);
  CountHistogram other;
  other.record(2);
  h.merge(other);
  EXPECT_EQ(h.buckets()[1], 2u);
  EXPECT_EQ(h.count(), 6u);
}

TEST(Exposition, GroupsFamiliesFromSeveralShardsUnderOneHeader) {
  Samples shard0, shard1;
  shard0.add(kCounter, {{"shard", "0"}}, 3);
  shard0.add(kGauge, {{"shard", "0"}}, 1.5);
  shard1.add(kCounter, {{"shard", "1"}}, 4);
  shard0.append(std::move(shard1));
  EXPECT_EQ(shard0.render(), "# HELP test_things_total Things counted.\n"
                             "# TYPE test_things_total counter\n"
                             "test_things_total{shard=\"0\"} 3\n"
                             "test_things_total{shard=\"1\"} 4\n"
                             "# HELP test_level A level.\n"
                             "# TYPE test_level gauge\n"
                             "test_level{shard=\"0\"} 1.5\n");
}

TEST(Exposition, EscapesLabelValues) {
  Samples s;
  s.add(kGauge, {{"topic", "a\"b\\c\nd"}}, 0);
  s.add(kGauge, {}, 7);
  const std::string text = s.render();
  EXPECT_NE(text.find("test_level{topic=\"a\\\"b\\\\c\\nd\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("test_level 7\n"), std::string::npos) << text;
}

TEST(Exposition, HistogramsAreCumulativeWithInfSumAndCountInSeconds) {
  LatencyHistogram h;
  h.record(5'000);           // <= 10 us
  h.record(30'000);          // <= 50 us
  h.record(20'000'000'000);  // above 10 s
  Samples s;
  s.add_histogram(kHist, {{"api", "Produce"}}, h, kNanosToSeconds);
  const std::string text = s.render();
  EXPECT_NE(text.find("test_latency_seconds_bucket{api=\"Produce\",le=\"1e-05\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("test_latency_seconds_bucket{api=\"Produce\",le=\"2.5e-05\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("test_latency_seconds_bucket{api=\"Produce\",le=\"5e-05\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("test_latency_seconds_bucket{api=\"Produce\",le=\"10\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("test_latency_seconds_bucket{api=\"Produce\",le=\"+Inf\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("test_latency_seconds_sum{api=\"Produce\"} 20.000035\n"), std::string::npos) << text;
  EXPECT_NE(text.find("test_latency_seconds_count{api=\"Produce\"} 3\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("# TYPE test_latency_seconds histogram\n"), text.find("# TYPE"));
}

TEST(HttpEndpoint, ClassifiesRequestLines) {
  EXPECT_EQ(classify_request("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), HttpVerdict::scrape);
  EXPECT_EQ(classify_request("GET /metrics?name[]=x HTTP/1.0\r\n\r\n"), HttpVerdict::scrape);
  EXPECT_EQ(classify_request("HEAD /metrics HTTP/1.1\r\n\r\n"), HttpVerdict::scrape_head);
  EXPECT_EQ(classify_request("GET / HTTP/1.1\r\n\r\n"), HttpVerdict::console);
  EXPECT_EQ(classify_request("HEAD /index.html HTTP/1.1\r\n\r\n"), HttpVerdict::console_head);
  EXPECT_EQ(classify_request("GET /nope HTTP/1.1\r\n\r\n"), HttpVerdict::not_found);
  EXPECT_EQ(classify_request("POST /metrics HTTP/1.1\r\n\r\n"), HttpVerdict::bad_method);
  EXPECT_EQ(classify_request("GET /metrics\r\n\r\n"), HttpVerdict::bad_request);
  EXPECT_EQ(classify_request("GET /metrics SPDY/3\r\n\r\n"), HttpVerdict::bad_request);
  EXPECT_EQ(classify_request("\r\n\r\n"), HttpVerdict::bad_request);
  EXPECT_EQ(classify_request(std::string(10000, 'G')), HttpVerdict::bad_request);
}

TEST(HttpEndpoint, ResponsesCarryLengthAndCloseAndHeadHasNoBody) {
  const std::string get = http_response(200, "OK", "text/plain", "abc", true);
  EXPECT_EQ(get, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
  const std::string head = http_response(200, "OK", "text/plain", "abc", false);
  EXPECT_EQ(head, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\n");
}

}  // namespace
}  // namespace sluice::metrics
