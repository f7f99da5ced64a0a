// Producer throughput of sluice::client (100-byte records, batched) next to librdkafka in the same
// run, against a Sluice broker in process (one shard). Counters: msgs/s (items_per_second),
// allocs_per_msg (heap allocations on the sending thread and the producer's sender thread per
// record, in steady state: the warm-up fills buffers first) and for librdkafka the same rate.
//
//   build/release/bench/client/client_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>
#include <librdkafka/rdkafka.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "alloc/alloc_counters.h"
#include "engine/broker/broker_config.h"
#include "engine/kafka/server/broker.h"
#include "io/runtime.h"
#include "sluice/client/client.h"
#include "tests/support/broker_thread.h"

namespace {

using namespace sluice::client;  // NOLINT(google-build-using-namespace)

constexpr std::size_t kValueBytes = 100;

class Broker {
 public:
  Broker() {
    std::string tmpl = "/tmp/sluice-client-bench-XXXXXX";
    dir_ = ::mkdtemp(tmpl.data());
    cfg_.listen_host = "127.0.0.1";
    cfg_.listen_port = 0;
    cfg_.data_dir = dir_;
    cfg_.smp = 1;
    hooks_.handle_signals = false;
    hooks_.pin_threads = false;
    up_ = broker_.start(cfg_, hooks_, std::chrono::milliseconds(30000));
  }
  ~Broker() {
    if (up_) (void)broker_.stop();
    std::filesystem::remove_all(dir_);
  }
  bool up() const { return up_; }
  std::string bootstrap() const { return "127.0.0.1:" + std::to_string(broker_.port()); }

 private:
  std::string dir_;
  sluice::broker::BrokerConfig cfg_;
  sluice::kafka::BrokerHooks hooks_;
  sluice::testing::BrokerThread broker_;
  bool up_ = false;
};

Broker* g_broker = nullptr;

// Records sent before measuring (buffers and pools reach steady state). The ctest smoke run
// lowers it with SLUICE_CLIENT_BENCH_WARMUP.
int warmup_records() {
  const char* env = std::getenv("SLUICE_CLIENT_BENCH_WARMUP");
  return env != nullptr ? std::atoi(env) : 500000;
}
std::atomic<uint64_t> g_delivered{0};
std::atomic<uint64_t> g_failed{0};

std::string make_topic(const std::string& name) {
  ClientConfig c;
  c.bootstrap_servers = g_broker->bootstrap();
  auto admin = Admin::create(c);
  if (admin.ok()) (void)(*admin)->create_topics({NewTopic{name, 1, -1, {}}});
  return name;
}

void BM_SluiceClientProduce(benchmark::State& state) {
  const auto acks = static_cast<Acks>(state.range(0));
  static int round = 0;
  const std::string topic =
      make_topic("bench-sluice-" + std::to_string(state.range(0)) + "-" + std::to_string(round++));
  ProducerConfig pc;
  pc.bootstrap_servers = g_broker->bootstrap();
  pc.acks = acks;
  pc.enable_idempotence = acks == Acks::kAll;
  pc.linger_ms = 5;
  pc.batch_size_bytes = 64 << 10;
  auto p = Producer::create(pc);
  if (!p.ok()) {
    state.SkipWithError(p.error().describe().c_str());
    return;
  }
  Producer& producer = **p;
  const std::string value(kValueBytes, 'v');
  ProducerRecord rec;
  rec.topic = topic;
  rec.value = value;
  auto cb = [](const Result<RecordMetadata>& r) {
    if (r.ok()) g_delivered.fetch_add(1, std::memory_order_relaxed);
    else g_failed.fetch_add(1, std::memory_order_relaxed);
  };
  // Warm-up: batches, vectors and codec chunks reach their steady-state sizes.
  for (int i = 0; i < warmup_records(); ++i) (void)producer.send(rec, cb);
  (void)producer.flush();
  const uint64_t app0 = sluice::alloc::thread_alloc_counters().allocations;
  const uint64_t sender0 = producer.stats().sender_thread_allocations;
  uint64_t sent = 0;
  for (auto _ : state) {
    auto st = producer.send(rec, cb);
    if (!st.ok()) {
      state.SkipWithError(st.error().describe().c_str());
      break;
    }
    ++sent;
  }
  (void)producer.flush();
  const uint64_t app = sluice::alloc::thread_alloc_counters().allocations - app0;
  const uint64_t sender = producer.stats().sender_thread_allocations - sender0;
  state.SetItemsProcessed(static_cast<int64_t>(sent));
  state.SetBytesProcessed(static_cast<int64_t>(sent * kValueBytes));
  state.counters["allocs_per_msg"] =
      benchmark::Counter(sent ? static_cast<double>(app + sender) / static_cast<double>(sent) : 0.0);
  state.counters["app_allocs_per_msg"] =
      benchmark::Counter(sent ? static_cast<double>(app) / static_cast<double>(sent) : 0.0);
  if (g_failed.load() != 0) state.SkipWithError("delivery failures");
}
BENCHMARK(BM_SluiceClientProduce)->Arg(1)->Arg(-1)->UseRealTime()->Unit(benchmark::kNanosecond);

void dr_cb(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  if (m->err == 0) g_delivered.fetch_add(1, std::memory_order_relaxed);
  else g_failed.fetch_add(1, std::memory_order_relaxed);
}

void BM_LibrdkafkaProduce(benchmark::State& state) {
  static int round = 0;
  const std::string topic =
      make_topic("bench-rdkafka-" + std::to_string(state.range(0)) + "-" + std::to_string(round++));
  char err[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  const std::string acks = std::to_string(state.range(0));
  const std::pair<const char*, std::string> settings[] = {
      {"bootstrap.servers", g_broker->bootstrap()},
      {"acks", acks},
      {"enable.idempotence", state.range(0) == -1 ? "true" : "false"},
      {"linger.ms", "5"},
      {"batch.size", std::to_string(64 << 10)},
      {"queue.buffering.max.messages", "1000000"},
  };
  for (const auto& [k, v] : settings) rd_kafka_conf_set(conf, k, v.c_str(), err, sizeof err);
  rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) {
    state.SkipWithError(err);
    return;
  }
  const std::string value(kValueBytes, 'v');
  auto produce = [&] {
    for (;;) {
      const rd_kafka_resp_err_t e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()),
                                                      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) return e;
      rd_kafka_poll(rk, 1);
    }
  };
  for (int i = 0; i < warmup_records(); ++i) (void)produce();
  rd_kafka_flush(rk, 30000);
  uint64_t sent = 0;
  for (auto _ : state) {
    if (produce() != RD_KAFKA_RESP_ERR_NO_ERROR) {
      state.SkipWithError("rd_kafka_producev failed");
      break;
    }
    if ((++sent & 1023) == 0) rd_kafka_poll(rk, 0);
  }
  rd_kafka_flush(rk, 30000);
  state.SetItemsProcessed(static_cast<int64_t>(sent));
  state.SetBytesProcessed(static_cast<int64_t>(sent * kValueBytes));
  rd_kafka_destroy(rk);
}
BENCHMARK(BM_LibrdkafkaProduce)->Arg(1)->Arg(-1)->UseRealTime()->Unit(benchmark::kNanosecond);

}  // namespace

int main(int argc, char** argv) {
  if (!sluice::io::Runtime::probe().ok()) {
    std::fprintf(stderr, "io_uring unavailable: skipped\n");
    return 77;
  }
  benchmark::Initialize(&argc, argv);
  Broker broker;
  if (!broker.up()) {
    std::fprintf(stderr, "the broker did not start\n");
    return 1;
  }
  g_broker = &broker;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_broker = nullptr;
  return 0;
}
