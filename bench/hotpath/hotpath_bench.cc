// Broker hot-path micro-benchmarks (issue 6, part 1):
//   BM_DecodeProduce16KiB_Validate  decode a Produce v7 frame carrying one real 16 KiB RecordBatch
//                                   and validate the batch (CRC-32C + bounds-only record walk)
//   BM_Validate16KiB_Compressed     validate the same 16 KiB of 100-byte records compressed with
//                                   each codec (CRC-32C + decompression + record walk); payload 0
//                                   = the repeated-byte values above, 1 = random text values
//   BM_LogAppend_Memory             PartitionLog::append (memory tail, visible at once); the log is
//                                   flushed outside the timed region every 1024 appends
//   BM_LogAppend_Durable            append + flush (pwrite + fdatasync) per batch, p50/p99
//   BM_LogAppend_GroupCommit        64 appends per flush
//   BM_FetchFromTail                PartitionLog::read of 16 KiB from the in-memory tail +
//                                   encoding the Fetch v11 response frame (records spliced)
//   BM_CrossShardHop                io::submit_to round trip between 2 shards (poll_us 0 / 50)
//   BM_ProducePath_Allocs           decode Produce -> Partition::produce (validate, idempotence
//                                   table, append, background group-commit flush through
//                                   io_uring) -> encode ProduceResponse, on a real shard; the
//                                   allocs_per_msg counter is the heap allocations per produced
//                                   message in steady state (target 0)
// Files go to $SLUICE_BENCH_DIR or /var/tmp/sluice-hotpath-bench-<pid> (removed at exit).
#include <benchmark/benchmark.h>
#include <lz4frame.h>
#include <snappy.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "alloc/alloc_counters.h"
#include "engine/core/partition.h"
#include "engine/kafka/codec/kafka_codec.h"
#include "engine/log/batch_builder.h"
#include "engine/log/compression.h"
#include "engine/log/partition_log.h"
#include "engine/log/posix_file_system.h"
#include "engine/log/record_batch.h"
#include "engine/log/uring_file_system.h"
#include "io/cross_shard.h"
#include "io/runtime.h"
#include "io/shard.h"

namespace sluice {
namespace {

using Clock = std::chrono::steady_clock;

const std::string& bench_dir() {
  static const std::string dir = [] {
    const char* env = std::getenv("SLUICE_BENCH_DIR");
    std::string d = env ? env : "/var/tmp/sluice-hotpath-bench-" + std::to_string(::getpid());
    log::PosixFileSystem fs;
    (void)io::run_sync(fs.mkdirs(d));
    return d;
  }();
  return dir;
}

struct Latencies {
  std::vector<int64_t> ns;
  explicit Latencies(std::size_t reserve = 1 << 20) { ns.reserve(reserve); }
  // Keeps the first `reserve` samples only: never allocates while timing (allocation counters).
  void add(Clock::time_point t0) {
    if (ns.size() == ns.capacity()) return;
    ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
  }
  void report(benchmark::State& st) {
    if (ns.empty()) return;
    std::sort(ns.begin(), ns.end());
    auto pct = [&](double p) {
      return double(ns[std::min(ns.size() - 1, std::size_t(p * double(ns.size())))]) / 1000.0;
    };
    st.counters["p50_us"] = pct(0.50);
    st.counters["p99_us"] = pct(0.99);
    st.counters["p999_us"] = pct(0.999);
  }
};

// A Produce v7 request frame (without the size prefix) carrying one batch.
std::vector<std::byte> produce_frame(const std::vector<std::byte>& batch, int16_t acks) {
  kafka::ProduceRequest req;
  req.acks = acks;
  req.timeout_ms = 30000;
  req.topic_data.emplace_back();
  req.topic_data[0].name = "bench-topic";
  req.topic_data[0].partition_data.emplace_back();
  req.topic_data[0].partition_data[0].index = 0;
  req.topic_data[0].partition_data[0].records.view = batch;
  kafka::Writer w;
  auto framed = kafka::encode_request_frame(w, 7, 1, std::string("rdkafka"), req).linearize();
  return {framed.begin() + 4, framed.end()};
}

// ------------------------------------------------------------------ decode + CRC validation

void BM_DecodeProduce16KiB_Validate(benchmark::State& state) {
  // 16 KiB batch of 100-byte records, as a batching producer sends it.
  auto batch = log::BatchBuilder::simple(16384 / 120, 100);
  auto frame = produce_frame(batch, -1);
  kafka::ProduceRequest req;  // reused across iterations, as a connection would
  log::ValidateOptions vopt;
  uint64_t allocs = alloc::thread_alloc_counters().allocations;
  for (auto _ : state) {
    kafka::Reader r(frame);
    auto h = kafka::decode_request_header(r);
    if (!h.ok()) state.SkipWithError("header");
    auto d = kafka::decode(r, h.value().request_api_version, req);
    if (!d.ok()) state.SkipWithError("body");
    auto v = log::validate_batch(req.topic_data[0].partition_data[0].records.view, vopt);
    if (!v.ok()) state.SkipWithError("validate");
    benchmark::DoNotOptimize(v.value().crc);
  }
  state.counters["allocs/op"] =
      benchmark::Counter(static_cast<double>(alloc::thread_alloc_counters().allocations - allocs) /
                         static_cast<double>(state.iterations()));
  state.counters["batch_bytes"] = static_cast<double>(batch.size());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * frame.size()));
}
BENCHMARK(BM_DecodeProduce16KiB_Validate);

// The records section of `plain` compressed as producers do: 1 gzip, 2 snappy (xerial, the Java
// client), 3 lz4 frame, 4 zstd (level 3), 5 raw snappy (librdkafka). Returns the whole batch.
std::vector<std::byte> compressed_batch(const std::vector<std::byte>& plain, int codec) {
  std::span<const std::byte> in = std::span<const std::byte>(plain).subspan(log::kBatchHeaderBytes);
  std::vector<std::byte> out;
  auto raw_snappy = [](std::span<const std::byte> src) {
    std::vector<std::byte> o(snappy::MaxCompressedLength(src.size()));
    std::size_t n = 0;
    snappy::RawCompress(reinterpret_cast<const char*>(src.data()), src.size(), reinterpret_cast<char*>(o.data()), &n);
    o.resize(n);
    return o;
  };
  if (codec == 1) {
    uLongf n = compressBound(static_cast<uLong>(in.size())) + 32;
    out.resize(n);
    z_stream z{};
    SLUICE_ASSERT(deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    SLUICE_ASSERT(deflate(&z, Z_FINISH) == Z_STREAM_END);
    out.resize(z.total_out);
    deflateEnd(&z);
  } else if (codec == 2) {
    const unsigned char header[16] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1};
    out.assign(reinterpret_cast<const std::byte*>(header), reinterpret_cast<const std::byte*>(header) + 16);
    for (std::size_t pos = 0; pos < in.size(); pos += 32 << 10) {
      auto b = raw_snappy(in.subspan(pos, std::min<std::size_t>(32 << 10, in.size() - pos)));
      std::byte len[4];
      log::store_be<uint32_t>(len, static_cast<uint32_t>(b.size()));
      out.insert(out.end(), len, len + 4);
      out.insert(out.end(), b.begin(), b.end());
    }
  } else if (codec == 3) {
    LZ4F_preferences_t prefs{};
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;
    out.resize(LZ4F_compressFrameBound(in.size(), &prefs));
    std::size_t n = LZ4F_compressFrame(out.data(), out.size(), in.data(), in.size(), &prefs);
    SLUICE_ASSERT(!LZ4F_isError(n));
    out.resize(n);
  } else if (codec == 4) {
    out.resize(ZSTD_compressBound(in.size()));
    std::size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
    SLUICE_ASSERT(!ZSTD_isError(n));
    out.resize(n);
  } else {
    out = raw_snappy(in);
  }
  std::vector<std::byte> b(plain.begin(), plain.begin() + log::kBatchHeaderBytes);
  b.resize(log::kBatchHeaderBytes + out.size());
  std::copy(out.begin(), out.end(), b.begin() + log::kBatchHeaderBytes);
  auto attrs = log::load_be<int16_t>(b.data() + log::batch_field::kAttributes);
  log::store_be<int16_t>(b.data() + log::batch_field::kAttributes,
                         static_cast<int16_t>(attrs | (codec == 5 ? 2 : codec)));
  log::store_be<int32_t>(b.data() + log::batch_field::kBatchLength,
                         static_cast<int32_t>(b.size() - log::kLogOverheadBytes));
  log::store_be<uint32_t>(b.data() + log::batch_field::kCrc, log::compute_batch_crc(b));
  return b;
}

void BM_Validate16KiB_Compressed(benchmark::State& state) {
  static const char* const kNames[] = {"none", "gzip", "snappy-xerial", "lz4", "zstd", "snappy-raw"};
  const auto codec = static_cast<int>(state.range(0));
  std::vector<std::byte> plain;
  if (state.range(1) == 0) {
    plain = log::BatchBuilder::simple(16384 / 120, 100);
  } else {
    // Random lowercase text: compresses about 1.6x, closer to real payloads than one repeated byte.
    std::mt19937 rng(42);
    log::BatchSpec spec;
    for (int i = 0; i < 16384 / 120; ++i) {
      log::RecordSpec r;
      r.key = "k" + std::to_string(i);
      r.value.resize(100);
      for (char& c : r.value) c = static_cast<char>('a' + rng() % 26);
      r.timestamp_delta_ms = i;
      spec.records.push_back(std::move(r));
    }
    plain = log::BatchBuilder::build(spec);
  }
  auto batch = codec == 0 ? plain : compressed_batch(plain, codec);
  log::ValidateOptions vopt;
  if (!log::validate_batch(batch, vopt).ok()) state.SkipWithError("validate");  // also warms the contexts
  uint64_t allocs = alloc::thread_alloc_counters().allocations;
  for (auto _ : state) {
    auto v = log::validate_batch(batch, vopt);
    if (!v.ok()) state.SkipWithError("validate");
    benchmark::DoNotOptimize(v.value().crc);
  }
  state.SetLabel(kNames[codec]);
  state.counters["allocs/op"] =
      benchmark::Counter(static_cast<double>(alloc::thread_alloc_counters().allocations - allocs) /
                         static_cast<double>(state.iterations()));
  state.counters["batch_bytes"] = static_cast<double>(batch.size());
  state.counters["records_bytes"] = static_cast<double>(plain.size());
  // Throughput in uncompressed bytes: what the walk covers.
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * plain.size()));
}
BENCHMARK(BM_Validate16KiB_Compressed)->ArgNames({"codec", "payload"})->ArgsProduct({{0, 1, 2, 5, 3, 4}, {0, 1}});

// ------------------------------------------------------------------ PartitionLog append

log::LogConfig log_config(bool visible_before_sync) {
  log::LogConfig c;
  c.segment_bytes = 64u << 20;
  c.preallocate_bytes = 16u << 20;
  c.retention_bytes = 256 << 20;
  c.max_message_bytes = 2u << 20;
  c.visible_before_sync = visible_before_sync;
  return c;
}

struct BenchLog {
  log::PosixFileSystem fs;
  log::SystemClock clock;
  std::string dir;
  std::unique_ptr<log::PartitionLog> log;
  BenchLog(const std::string& name, bool visible_before_sync) : dir(bench_dir() + "/" + name) {
    (void)io::run_sync(log::PartitionLog::remove(fs, dir));
    auto r = io::run_sync(log::PartitionLog::open(fs, dir, log_config(visible_before_sync), clock));
    SLUICE_ASSERT_MSG(r.ok(), "open failed");
    log = std::move(r.value());
  }
  ~BenchLog() {
    log.reset();
    (void)io::run_sync(log::PartitionLog::remove(fs, dir));
  }
  void maintain(int64_t i) {
    if (i % 256 == 0) (void)io::run_sync(log->apply_retention(clock.now_ms()));
  }
};

void BM_LogAppend_Memory(benchmark::State& state) {
  const auto records = static_cast<int>(state.range(0));
  BenchLog b("append_mem", /*visible_before_sync=*/true);
  auto batch = log::BatchBuilder::simple(records, 100);
  int64_t i = 0;
  uint64_t allocs = 0;
  for (auto _ : state) {
    uint64_t a0 = alloc::thread_alloc_counters().allocations;
    auto r = b.log->append(batch);
    allocs += alloc::thread_alloc_counters().allocations - a0;
    if (!r.ok()) state.SkipWithError(r.error().describe());
    if (++i % 1024 == 0) {
      state.PauseTiming();
      (void)io::run_sync(b.log->flush());
      b.maintain(i / 1024 * 256);
      state.ResumeTiming();
    }
  }
  state.counters["batch_bytes"] = static_cast<double>(batch.size());
  state.counters["allocs/op"] = static_cast<double>(allocs) / static_cast<double>(std::max<int64_t>(i, 1));
  state.SetItemsProcessed(state.iterations() * records);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * batch.size()));
}
BENCHMARK(BM_LogAppend_Memory)->ArgName("records")->Arg(1)->Arg(128);

void BM_LogAppend_Durable(benchmark::State& state) {
  BenchLog b("append_durable", false);
  auto batch = log::BatchBuilder::simple(1, 100);
  Latencies lat(1 << 16);
  int64_t i = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    auto r = b.log->append(batch);
    auto f = io::run_sync(b.log->flush());
    lat.add(t0);
    if (!r.ok() || !f.ok()) state.SkipWithError("append/flush");
    b.maintain(++i);
  }
  lat.report(state);
  state.counters["syncs/op"] = static_cast<double>(b.log->stats().syncs) / static_cast<double>(std::max<int64_t>(i, 1));
}
BENCHMARK(BM_LogAppend_Durable)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_LogAppend_GroupCommit(benchmark::State& state) {
  const auto n = static_cast<int>(state.range(0));
  BenchLog b("append_group", false);
  auto batch = log::BatchBuilder::simple(1, 100);
  int64_t i = 0;
  for (auto _ : state) {
    for (int k = 0; k < n; ++k) (void)b.log->append(batch);
    auto f = io::run_sync(b.log->flush());
    if (!f.ok()) state.SkipWithError("flush");
    b.maintain(++i);
  }
  state.SetItemsProcessed(state.iterations() * n);  // durable 100-byte messages per second
}
BENCHMARK(BM_LogAppend_GroupCommit)->ArgName("batches_per_sync")->Arg(64)->Unit(benchmark::kMicrosecond)->UseRealTime();

// ------------------------------------------------------------------ fetch from the memory tail

void BM_FetchFromTail(benchmark::State& state) {
  BenchLog b("fetch_tail", true);
  auto batch = log::BatchBuilder::simple(8, 100);  // ~1 KiB batches
  const int kBatches = 512;
  for (int k = 0; k < kBatches; ++k) (void)b.log->append(batch);
  const int64_t per_batch = 8;
  const int64_t hw = b.log->high_watermark();
  kafka::FetchResponse resp;
  resp.responses.emplace_back();
  resp.responses[0].topic = "bench-topic";
  resp.responses[0].partitions.emplace_back();
  auto& pd = resp.responses[0].partitions[0];
  kafka::Writer w;
  std::size_t bytes = 0;
  int64_t k = 0;
  uint64_t allocs = alloc::thread_alloc_counters().allocations;
  for (auto _ : state) {
    int64_t off = (k++ % (kBatches - 32)) * per_batch;  // a consumer a few batches behind
    auto r = io::run_sync(b.log->read(off, 16384, hw));
    if (!r.ok()) {
      state.SkipWithError(r.error().describe());
      break;
    }
    pd.high_watermark = r.value().high_watermark;
    pd.last_stable_offset = pd.high_watermark;
    pd.log_start_offset = r.value().log_start_offset;
    pd.records.data = std::move(r.value().batches);
    alloc::IoBuf out = kafka::encode_response_frame(w, 7, 11, resp);
    bytes += out.size();
    benchmark::DoNotOptimize(out.fragments().data());
  }
  state.counters["allocs/op"] =
      benchmark::Counter(static_cast<double>(alloc::thread_alloc_counters().allocations - allocs) /
                         static_cast<double>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_FetchFromTail);

// ------------------------------------------------------------------ cross-shard hop

io::RuntimeConfig rt_config(unsigned smp, uint32_t poll_us) {
  io::RuntimeConfig cfg;
  cfg.smp = smp;
  cfg.poll_us = poll_us;
  cfg.handle_signals = false;
  cfg.registered_pages_per_shard = 256;
  return cfg;
}

void BM_CrossShardHop(benchmark::State& st) {
  auto rt = io::Runtime::create(rt_config(2, static_cast<uint32_t>(st.range(0))));
  if (!rt.ok()) {
    st.SkipWithError(rt.error().describe());
    return;
  }
  Latencies lat;
  io::Runtime* r = rt.value().get();
  uint64_t allocs = 0, n = 0;
  r->run([&](unsigned id) -> io::Task<void> {
    if (id == 0) {
      for (int w = 0; w < 100; ++w) {
        unsigned v = co_await io::submit_to(1, [] { return io::Shard::current().id(); });
        benchmark::DoNotOptimize(v);
      }
      uint64_t a0 = alloc::thread_alloc_counters().allocations;
      for (auto _ : st) {
        auto t0 = Clock::now();
        unsigned v = co_await io::submit_to(1, [] { return io::Shard::current().id(); });
        benchmark::DoNotOptimize(v);
        lat.add(t0);
        ++n;
      }
      allocs = alloc::thread_alloc_counters().allocations - a0;
      r->stop();
    }
    co_await io::Shard::current().wait_stop();
  });
  lat.report(st);
  st.counters["allocs/op"] = static_cast<double>(allocs) / static_cast<double>(std::max<uint64_t>(n, 1));
}
BENCHMARK(BM_CrossShardHop)->ArgName("poll_us")->Arg(0)->Arg(50)->UseRealTime();

// ------------------------------------------------------------------ allocations per produced message

// acks: 1 = answer after the append (the background group-commit flush runs concurrently);
//      -1 = wait for durability before answering (one flush per message at this rate).
void BM_ProducePath_Allocs(benchmark::State& st) {
  const auto acks = static_cast<int16_t>(st.range(0));
  auto rt = io::Runtime::create(rt_config(1, 0));
  if (!rt.ok()) {
    st.SkipWithError(rt.error().describe());
    return;
  }
  io::Runtime* r = rt.value().get();
  auto batch = log::BatchBuilder::simple(1, 100);
  auto frame = produce_frame(batch, acks);
  const std::string dir = bench_dir() + "/produce_path_" + std::to_string(acks);
  uint64_t allocs = 0, msgs = 0;
  uint64_t stage[3] = {0, 0, 0};  // decode, produce (+ durability wait), encode
  bool counting = false;
  Latencies lat(1 << 16);
  r->run([&](unsigned) -> io::Task<void> {
    log::UringFileSystem fs;
    log::SystemClock clock;
    auto removed = co_await log::PartitionLog::remove(fs, dir);
    (void)removed;
    auto opened = co_await core::Partition::open(fs, clock, dir, "bench-topic", 0, log_config(false));
    if (!opened.ok()) {
      st.SkipWithError(opened.error().describe());
      r->stop();
      co_return;
    }
    std::unique_ptr<core::Partition> part = std::move(opened.value());
    kafka::ProduceRequest req;
    kafka::ProduceResponse resp;
    resp.responses.resize(1);
    resp.responses[0].name = "bench-topic";
    resp.responses[0].partition_responses.resize(1);
    kafka::Writer w;
    auto one = [&]() -> io::Task<bool> {
      const auto& ac = alloc::thread_alloc_counters();
      uint64_t a0 = ac.allocations;
      kafka::Reader rd(frame);
      auto h = kafka::decode_request_header(rd);
      if (!h.ok()) co_return false;
      auto d = kafka::decode(rd, h.value().request_api_version, req);
      if (!d.ok()) co_return false;
      uint64_t a1 = ac.allocations;
      core::ProduceOutcome out = co_await part->produce(req.topic_data[0].partition_data[0].records.view);
      if (out.error != core::Errc::kOk) co_return false;
      if (acks == -1) {
        bool durable = co_await part->wait_durable(out);
        if (!durable) co_return false;
      }
      uint64_t a2 = ac.allocations;
      auto& pr = resp.responses[0].partition_responses[0];
      pr.base_offset = out.base_offset;
      pr.log_start_offset = out.log_start_offset;
      {
        alloc::IoBuf o = kafka::encode_response_frame(w, h.value().correlation_id, 7, resp);
        benchmark::DoNotOptimize(o.fragments().data());
      }
      if (counting) {
        stage[0] += a1 - a0;
        stage[1] += a2 - a1;
        stage[2] += ac.allocations - a2;
      }
      co_return true;
    };
    // Warm-up: tail chunks, index vectors, producer table, frame cache, writer chunks. First
    // ~3 MiB in 16 KiB batches, so the tail cache is full and retired chunks already cycle
    // through the spare list (steady state), then the benchmark's own frame.
    {
      auto big = log::BatchBuilder::simple(16384 / 120, 100);
      for (int k = 0; k < 200; ++k) {
        core::ProduceOutcome wo = co_await part->produce(big);
        if (wo.error != core::Errc::kOk) break;
        bool durable = co_await part->wait_durable(wo);
        if (!durable) break;
      }
    }
    for (int k = 0; k < 2000; ++k) {
      bool ok = co_await one();
      if (!ok) break;
      if (acks == 1 && k % 64 == 63) {
        bool slept = co_await io::sleep_for(std::chrono::microseconds(1));
        (void)slept;
      }
    }
    uint64_t a0 = alloc::thread_alloc_counters().allocations;
    counting = true;
    for (auto _ : st) {
      auto t0 = Clock::now();
      bool ok = co_await one();
      lat.add(t0);
      if (!ok) {
        st.SkipWithError("produce failed");
        break;
      }
      ++msgs;
      // Let the background flusher run now and then (the shard would between requests).
      if (acks == 1 && msgs % 64 == 0) {
        bool slept = co_await io::sleep_for(std::chrono::microseconds(1));
        (void)slept;
      }
    }
    allocs = alloc::thread_alloc_counters().allocations - a0;
    co_await part->close();
    part.reset();
    auto rm = co_await log::PartitionLog::remove(fs, dir);
    (void)rm;
    r->stop();
  });
  lat.report(st);
  const double n = static_cast<double>(std::max<uint64_t>(msgs, 1));
  st.counters["allocs_per_msg"] = static_cast<double>(allocs) / n;
  // Where they happen (the rest of allocs_per_msg is the background flusher between requests).
  st.counters["allocs_decode"] = static_cast<double>(stage[0]) / n;
  st.counters["allocs_produce"] = static_cast<double>(stage[1]) / n;
  st.counters["allocs_encode"] = static_cast<double>(stage[2]) / n;
}
BENCHMARK(BM_ProducePath_Allocs)->ArgName("acks")->Arg(1)->Arg(-1)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace sluice

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  sluice::log::PosixFileSystem fs;
  (void)sluice::io::run_sync(fs.remove_dir_recursive(sluice::bench_dir()));
  return 0;
}
