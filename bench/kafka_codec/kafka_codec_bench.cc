// Kafka codec hot paths: decoding a 16 KiB Produce v7 request (records stay a view into the
// frame) and encoding a Fetch v11 response whose 16 KiB of records are spliced, not copied.
#include <benchmark/benchmark.h>

#include <cstring>

#include "alloc/alloc_counters.h"
#include "engine/kafka/codec/kafka_codec.h"

namespace sluice::kafka {
namespace {

constexpr std::size_t kRecordBytes = 16 * 1024;

std::vector<std::byte> produce_v7_frame() {
  alloc::BufferRef batch(alloc::Buffer::allocate(kRecordBytes));
  std::memset(batch->data(), 0x5a, kRecordBytes);
  ProduceRequest req;
  req.acks = -1;
  req.timeout_ms = 30000;
  req.topic_data.emplace_back();
  req.topic_data[0].name = "bench-topic";
  req.topic_data[0].partition_data.emplace_back();
  req.topic_data[0].partition_data[0].index = 0;
  req.topic_data[0].partition_data[0].records.data.append_shared(batch, 0, kRecordBytes);
  Writer w;
  auto framed = encode_request_frame(w, 7, 1, std::string("rdkafka"), req).linearize();
  return {framed.begin() + 4, framed.end()};  // the frame as the connection hands it over
}

void BM_DecodeProduceV7_16KiB(benchmark::State& state) {
  auto frame = produce_v7_frame();
  ProduceRequest req;  // reused across iterations, as a connection would
  uint64_t allocs = alloc::thread_alloc_counters().allocations;
  for (auto _ : state) {
    Reader r(frame);
    auto h = decode_request_header(r);
    if (!h) state.SkipWithError("header");
    if (!decode(r, h->request_api_version, req).ok()) state.SkipWithError("body");
    benchmark::DoNotOptimize(req.topic_data[0].partition_data[0].records.view.data());
  }
  state.counters["allocs/op"] =
      benchmark::Counter(static_cast<double>(alloc::thread_alloc_counters().allocations - allocs) /
                         static_cast<double>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * frame.size()));
}
BENCHMARK(BM_DecodeProduceV7_16KiB);

void BM_EncodeFetchV11_16KiB(benchmark::State& state) {
  alloc::BufferRef page(alloc::Buffer::allocate(kRecordBytes));
  std::memset(page->data(), 0x5a, kRecordBytes);
  FetchResponse resp;
  resp.session_id = 0;
  resp.responses.emplace_back();
  resp.responses[0].topic = "bench-topic";
  resp.responses[0].partitions.emplace_back();
  auto& p = resp.responses[0].partitions[0];
  p.high_watermark = 1000;
  p.last_stable_offset = 1000;
  p.log_start_offset = 0;
  p.records.data.append_shared(page, 0, kRecordBytes);
  Writer w;
  std::size_t bytes = 0;
  uint64_t allocs = alloc::thread_alloc_counters().allocations;
  for (auto _ : state) {
    alloc::IoBuf out = encode_response_frame(w, 7, 11, resp);
    bytes += out.size();
    benchmark::DoNotOptimize(out.fragments().data());
  }
  state.counters["allocs/op"] =
      benchmark::Counter(static_cast<double>(alloc::thread_alloc_counters().allocations - allocs) /
                         static_cast<double>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_EncodeFetchV11_16KiB);

void BM_DecodeMetadataV4Request(benchmark::State& state) {
  MetadataRequest req;
  req.topics.emplace();
  for (int i = 0; i < 10; ++i) req.topics->push_back({{}, "topic-" + std::to_string(i)});
  Writer w;
  auto framed = encode_request_frame(w, 4, 1, std::string("rdkafka"), req).linearize();
  std::vector<std::byte> frame(framed.begin() + 4, framed.end());
  MetadataRequest out;
  for (auto _ : state) {
    Reader r(frame);
    auto h = decode_request_header(r);
    if (!h || !decode(r, 4, out).ok()) state.SkipWithError("decode");
    benchmark::DoNotOptimize(out.topics->data());
  }
}
BENCHMARK(BM_DecodeMetadataV4Request);

}  // namespace
}  // namespace sluice::kafka

BENCHMARK_MAIN();
