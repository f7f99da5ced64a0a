// sluice-bench: end-to-end latency and throughput of a Kafka-compatible broker.
//
// Open loop: message g (0, 1, 2, ...) is due at t0 + g/rate; its payload carries that intended
// send time (CLOCK_MONOTONIC, producer and consumers are in this process) and a per-partition
// sequence number. Latency = consumer receive time - intended send time, so a stalled producer
// or broker shows up in the numbers instead of silently slowing the load (no coordinated
// omission). Message g goes to partition g % P with sequence g / P; consumers split the
// partitions (like a consumer group) and check that every acknowledged message arrives exactly
// once and in order per partition.
//
// Two client implementations drive the same workload: `own` (blocking sockets, the project's
// codec, Produce v7 pipelined on one connection + an ack reader thread, Fetch v11 long polls on
// one connection per consumer) and `librdkafka`. The last line printed is one JSON object.
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/e2e/histogram.h"
#include "bench/e2e/kafka_client.h"

namespace sluice::bench {
namespace {

struct Options {
  std::string bootstrap = "127.0.0.1:9092";
  std::string topic;
  std::string client = "own";
  double rate = 10000;
  std::size_t size = 100;
  double duration_s = 10;
  double warmup_s = 2;
  int32_t partitions = 1;
  int acks = -1;
  int batch = 1000;      // max messages per produce request (own) / batch.num.messages
  double linger_us = 0;  // wait this long for more messages before sending
  int consumers = 1;
  int max_inflight = 1024;  // pipelined produce requests (own client)
  int fetch_wait_ms = 200;  // long-poll max wait
  int fetch_max_bytes = 8 << 20;
  double drain_timeout_s = 15;
  bool spin = false;   // busy-poll receives and pacing (needs spare cores)
  int threads = 0;     // client threads: 0 = one per role; 1 = producer and consumer on one thread
  bool check = false;  // exit 1 on lost/dup/out-of-order/errors
  bool verify_crc = true;
  std::string hist_out;  // percentile distribution file (for plots)
  std::vector<std::string> topic_configs;
  std::vector<std::string> rdkafka_conf;
};

void sleep_until_ns(int64_t t, bool spin) {
  if (spin) {
    while (mono_ns() < t) {
    }
    return;
  }
  timespec ts{static_cast<time_t>(t / 1000000000LL), static_cast<long>(t % 1000000000LL)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

// State shared by producer, ack reader and consumers.
struct Run {
  Options o;
  int64_t t0 = 0;
  int64_t total = 0;         // messages to send
  int64_t measure_from = 0;  // intended times in [measure_from, measure_to) are recorded
  int64_t measure_to = 0;
  int64_t per_partition = 0;                // max sequence numbers per partition
  std::vector<std::vector<uint8_t>> acked;  // [p][seq], written by the ack path only
  std::vector<int64_t> start_offset;        // per partition

  std::atomic<int64_t> sent{0};
  std::atomic<int64_t> acked_ok{0};
  std::atomic<int64_t> produce_errors{0};
  std::atomic<int64_t> io_errors{0};
  std::atomic<bool> producer_done{false};
  std::atomic<bool> acks_done{false};
  std::atomic<bool> stop_consumers{false};
  std::atomic<bool> abort{false};
  LogLinearHistogram ack_hist;  // ack path only
  std::string first_error;
  std::mutex err_mu;

  int64_t intended(int64_t g) const {
    return t0 + static_cast<int64_t>(static_cast<long double>(g) * 1e9L / static_cast<long double>(o.rate));
  }
  // Messages with intended time <= now.
  int64_t due_at(int64_t now) const {
    if (now < t0) return 0;
    auto n = static_cast<int64_t>(static_cast<long double>(now - t0) * static_cast<long double>(o.rate) / 1e9L) + 1;
    return std::min(n, total);
  }
  bool in_window(int64_t intended_ns) const { return intended_ns >= measure_from && intended_ns < measure_to; }
  void error(const std::string& e) {
    std::lock_guard<std::mutex> l(err_mu);
    if (first_error.empty()) first_error = e;
  }
  void ack_range(int64_t g0, int64_t g1, int32_t partition, int16_t err, int64_t now) {
    const int32_t P = o.partitions;
    int64_t first = g0 + ((partition - g0 % P) % P + P) % P;
    for (int64_t g = first; g < g1; g += P) {
      if (err != 0) {
        produce_errors.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      acked[static_cast<std::size_t>(partition)][static_cast<std::size_t>(g / P)] = 1;
      acked_ok.fetch_add(1, std::memory_order_relaxed);
      int64_t it = intended(g);
      if (in_window(it)) ack_hist.record_signed(now - it);
    }
  }
};

// One consumer's view: its partitions, its histogram, its exactly-once bookkeeping.
struct ConsumerState {
  std::vector<int32_t> partitions;
  LogLinearHistogram hist;
  std::vector<std::vector<uint8_t>> seen;  // [p][seq] receipt count (saturating)
  std::vector<int64_t> next_seq;           // [p]
  uint64_t dup = 0, out_of_order = 0, bad_crc = 0, foreign = 0, fetch_errors = 0;
  std::atomic<int64_t> unique{0};
  int64_t window_received = 0;
  int64_t last_window_recv_ns = 0;

  void on_message(const Run& run, const PayloadHeader& h, int64_t now) {
    auto p = static_cast<int32_t>(h.partition);
    if (p < 0 || p >= run.o.partitions || h.seq >= static_cast<uint64_t>(run.per_partition)) {
      ++foreign;
      return;
    }
    auto& s = seen[static_cast<std::size_t>(p)];
    auto seq = static_cast<int64_t>(h.seq);
    uint8_t& c = s[static_cast<std::size_t>(seq)];
    if (c > 0) {
      ++dup;
    } else {
      unique.fetch_add(1, std::memory_order_relaxed);
      if (run.in_window(h.intended_ns)) {
        hist.record_signed(now - h.intended_ns);
        ++window_received;
        last_window_recv_ns = std::max(last_window_recv_ns, now);
      }
    }
    if (c < 255) ++c;
    int64_t& n = next_seq[static_cast<std::size_t>(p)];
    if (seq == n) n = seq + 1;
    else if (seq > n) {
      ++out_of_order;  // a gap: something earlier is missing or late
      n = seq + 1;
    }
  }
};

// ------------------------------------------------------------------------------ own client

// A produce request in flight: its correlation id and the messages [g0, g1) it carries.
struct Inflight {
  int32_t corr;
  int64_t g0, g1;
};

// Builds the Produce v7 request for messages [g, end): one batch per partition, each message
// carrying its payload header (partition, sequence, intended send time).
struct ProduceBuilder {
  const Options& o;
  kafka::ProduceRequest req;
  std::vector<std::byte> buf;
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  BatchWriter bw;

  explicit ProduceBuilder(const Options& opts) : o(opts), spans(static_cast<std::size_t>(opts.partitions)) {
    buf.reserve(static_cast<std::size_t>(o.batch) * (o.size + 32) + 4096);
    req.acks = static_cast<int16_t>(o.acks);
    req.timeout_ms = 30000;
    req.topic_data.resize(1);
    req.topic_data[0].name = o.topic;
  }

  void build(const Run& run, int64_t g, int64_t end) {
    const int32_t P = o.partitions;
    buf.clear();
    int64_t ts = wall_ms();
    auto& pd = req.topic_data[0].partition_data;
    pd.clear();
    for (int32_t p = 0; p < P; ++p) {
      int64_t first = g + ((p - g % P) % P + P) % P;
      if (first >= end) continue;
      std::size_t at = buf.size();
      bw.begin(buf, ts);
      for (int64_t m = first; m < end; m += P) {
        PayloadHeader h{kPayloadMagic, static_cast<uint32_t>(p), static_cast<uint64_t>(m / P), run.intended(m)};
        bw.add(buf, h, o.size);
      }
      bw.finish(buf);
      spans[static_cast<std::size_t>(p)] = {at, buf.size() - at};
      auto& e = pd.emplace_back();
      e.index = p;
    }
    // Views last: buf may have grown (and moved) while the batches were written.
    for (auto& e : pd) {
      auto [at, len] = spans[static_cast<std::size_t>(e.index)];
      e.records.view = std::span<const std::byte>(buf.data() + at, len);
    }
  }
};

// Accounts one produce response; false (and the run aborted) if it is not the expected one.
bool on_produce_response(Run& run, std::span<const std::byte> f, const Inflight& in, int64_t now) {
  kafka::Reader r(f);
  int32_t corr = r.read_int<int32_t>();
  kafka::ProduceResponse resp;
  auto d = kafka::decode(r, 7, resp);
  if (corr != in.corr || !d.ok()) {
    run.error("producer: bad produce response");
    run.io_errors++;
    run.abort = true;
    return false;
  }
  for (auto& tr : resp.responses)
    for (auto& pr : tr.partition_responses) {
      if (pr.error_code != 0) run.error("produce error code " + std::to_string(pr.error_code));
      run.ack_range(in.g0, in.g1, pr.index, pr.error_code, now);
    }
  return true;
}

// One consumer's Fetch v11 long polls: the request (offsets follow what was received) and the
// accounting of each response.
struct FetchLoop {
  kafka::FetchRequest req;
  std::vector<int64_t> offset;
  kafka::FetchResponse resp;

  FetchLoop(const Run& run, const ConsumerState& cs) : offset(static_cast<std::size_t>(run.o.partitions), 0) {
    const Options& o = run.o;
    req.replica_id = -1;
    req.max_wait_ms = o.fetch_wait_ms;
    req.min_bytes = 1;
    req.max_bytes = o.fetch_max_bytes;
    req.isolation_level = 0;
    req.session_id = 0;
    req.session_epoch = -1;
    auto& t = req.topics.emplace_back();
    t.topic = o.topic;
    for (int32_t p : cs.partitions) {
      auto& fp = t.partitions.emplace_back();
      fp.partition = p;
      fp.fetch_offset = offset[static_cast<std::size_t>(p)] = run.start_offset[static_cast<std::size_t>(p)];
      fp.partition_max_bytes = o.fetch_max_bytes;
    }
  }

  const kafka::FetchRequest& next() {
    for (auto& fp : req.topics[0].partitions) fp.fetch_offset = offset[static_cast<std::size_t>(fp.partition)];
    return req;
  }

  // false (and the error recorded) if the response is not the one expected.
  bool on_response(Run& run, ConsumerState& cs, std::span<const std::byte> f, int32_t corr, int64_t now) {
    const Options& o = run.o;
    kafka::Reader r(f);
    int32_t got = r.read_int<int32_t>();
    auto d = kafka::decode(r, 11, resp);
    if (got != corr || !d.ok()) {
      run.error("consumer: bad fetch response");
      run.io_errors++;
      return false;
    }
    if (resp.error_code != 0) ++cs.fetch_errors;
    for (auto& tr : resp.responses)
      for (auto& pd : tr.partitions) {
        if (pd.error_code != 0) {
          ++cs.fetch_errors;
          run.error("fetch error code " + std::to_string(pd.error_code));
          continue;
        }
        if (pd.partition_index < 0 || pd.partition_index >= o.partitions) continue;
        auto& off = offset[static_cast<std::size_t>(pd.partition_index)];
        off = walk_records(
            pd.records.view, off, [&](const PayloadHeader& h, int64_t) { cs.on_message(run, h, now); },
            o.verify_crc ? &cs.bad_crc : nullptr);
      }
    return true;
  }
};

void own_producer(Run& run) {
  const Options& o = run.o;
  KafkaConn conn;
  std::string err;
  if (!conn.connect(o.bootstrap, &err)) {
    run.error("producer: " + err);
    run.abort = true;
    run.producer_done = true;
    run.acks_done = true;
    return;
  }
  conn.set_spin(o.spin);
  const std::size_t cap = static_cast<std::size_t>(o.max_inflight);
  std::vector<Inflight> ring(cap);
  std::atomic<uint64_t> head{0}, tail{0};  // head: producer pushes; tail: ack reader pops

  std::thread acker([&] {
    std::vector<int32_t> dummy;
    for (;;) {
      uint64_t t = tail.load(std::memory_order_relaxed);
      if (t == head.load(std::memory_order_acquire)) {
        if (run.producer_done.load() || run.abort.load()) break;
        if (o.spin) continue;
        std::this_thread::sleep_for(std::chrono::microseconds(20));
        continue;
      }
      auto f = conn.read_frame();
      int64_t now = mono_ns();
      if (f.empty()) {
        run.error("producer: connection closed while waiting for acks");
        run.io_errors++;
        run.abort = true;
        break;
      }
      if (!on_produce_response(run, f, ring[t % cap], now)) break;
      tail.store(t + 1, std::memory_order_release);
    }
    run.acks_done = true;
  });

  ProduceBuilder builder(o);
  const int32_t P = o.partitions;
  const auto linger_ns = static_cast<int64_t>(o.linger_us * 1000);
  int64_t g = 0;
  while (g < run.total && !run.abort.load(std::memory_order_relaxed)) {
    int64_t now = mono_ns();
    int64_t due = run.due_at(now);
    if (due <= g) {
      sleep_until_ns(run.intended(g), o.spin);
      continue;
    }
    if (linger_ns > 0 && due - g < o.batch && due < run.total) {
      int64_t flush_at = run.intended(g) + linger_ns;
      if (now < flush_at) {
        int64_t batch_full_at = run.intended(std::min(run.total - 1, g + o.batch - 1));
        sleep_until_ns(std::min(flush_at, batch_full_at), o.spin);
        continue;
      }
    }
    int64_t end = std::min(due, g + o.batch);
    // Wait for a free in-flight slot (back-pressure shows up as latency: the payload keeps its
    // intended send time).
    while (head.load(std::memory_order_relaxed) - tail.load(std::memory_order_acquire) >= cap) {
      if (run.abort.load()) break;
      if (!o.spin) std::this_thread::sleep_for(std::chrono::microseconds(10));
    }
    if (run.abort.load()) break;
    builder.build(run, g, end);
    uint64_t h = head.load(std::memory_order_relaxed);
    int32_t corr = conn.send_request(7, builder.req);
    if (corr < 0) {
      run.error("producer: send failed");
      run.io_errors++;
      run.abort = true;
      break;
    }
    if (o.acks == 0) {
      for (int32_t p = 0; p < P; ++p) run.ack_range(g, end, p, 0, mono_ns());
    } else {
      ring[h % cap] = Inflight{corr, g, end};
      head.store(h + 1, std::memory_order_release);
    }
    run.sent.fetch_add(end - g, std::memory_order_relaxed);
    g = end;
  }
  run.producer_done = true;
  acker.join();
}

void own_consumer(Run& run, ConsumerState& cs) {
  const Options& o = run.o;
  KafkaConn conn;
  std::string err;
  if (!conn.connect(o.bootstrap, &err)) {
    run.error("consumer: " + err);
    run.abort = true;
    return;
  }
  conn.set_spin(o.spin);
  FetchLoop loop(run, cs);
  while (!run.stop_consumers.load(std::memory_order_relaxed)) {
    int32_t corr = conn.send_request(11, loop.next());
    auto f = corr < 0 ? std::span<const std::byte>{} : conn.read_frame();
    int64_t now = mono_ns();
    if (f.empty()) {
      run.error("consumer: connection closed");
      run.io_errors++;
      return;
    }
    if (!loop.on_response(run, cs, f, corr, now)) return;
  }
}

// Whether a frame (or EOF) is waiting on the connection, without blocking.
bool readable(const KafkaConn& conn) {
  std::byte b;
  const ssize_t n = ::recv(conn.fd(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return n > 0 || n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

// --threads 1: producer, ack reader and one consumer on this one thread, over two connections,
// so that a spinning client (--spin) takes exactly one core and the broker (--smp 1 --poll-us N)
// the other. Without --spin it sleeps in ppoll until a response or the next message is due.
void own_single_thread(Run& run, ConsumerState& cs) {
  const Options& o = run.o;
  KafkaConn pconn, cconn;
  std::string err;
  if (!pconn.connect(o.bootstrap, &err) || !cconn.connect(o.bootstrap, &err)) {
    run.error("client: " + err);
    run.abort = run.producer_done = run.acks_done = true;
    return;
  }
  ProduceBuilder builder(o);
  FetchLoop loop(run, cs);
  const std::size_t cap = static_cast<std::size_t>(o.max_inflight);
  std::vector<Inflight> ring(cap);
  uint64_t head = 0, tail = 0;
  const auto linger_ns = static_cast<int64_t>(o.linger_us * 1000);
  int64_t g = 0;
  int32_t fetch_corr = -1;  // the fetch in flight, -1 when none
  auto fail = [&](const char* what) {
    run.error(what);
    run.io_errors++;
    run.abort = run.producer_done = run.acks_done = true;
  };
  while (!run.stop_consumers.load(std::memory_order_relaxed) && !run.abort.load(std::memory_order_relaxed)) {
    bool worked = false;
    int64_t now = mono_ns();
    // Produce what is due (lingering as the threaded producer does) while in-flight slots last.
    const int64_t due = g < run.total ? run.due_at(now) : g;
    const bool lingering = linger_ns > 0 && due - g < o.batch && due < run.total && now < run.intended(g) + linger_ns;
    if (due > g && !lingering && head - tail < cap) {
      const int64_t end = std::min(due, g + o.batch);
      builder.build(run, g, end);
      const int32_t corr = pconn.send_request(7, builder.req);
      if (corr < 0) return fail("producer: send failed");
      if (o.acks == 0) {
        for (int32_t p = 0; p < o.partitions; ++p) run.ack_range(g, end, p, 0, mono_ns());
      } else {
        ring[head++ % cap] = Inflight{corr, g, end};
      }
      run.sent.fetch_add(end - g, std::memory_order_relaxed);
      g = end;
      if (g == run.total) run.producer_done = true;
      worked = true;
    }
    if (head > tail && readable(pconn)) {
      auto f = pconn.read_frame();
      if (f.empty()) return fail("producer: connection closed while waiting for acks");
      if (!on_produce_response(run, f, ring[tail++ % cap], mono_ns())) return;
      worked = true;
    }
    if (run.producer_done.load(std::memory_order_relaxed) && head == tail) run.acks_done = true;
    // One long poll in flight at all times.
    if (fetch_corr < 0) {
      fetch_corr = cconn.send_request(11, loop.next());
      if (fetch_corr < 0) return fail("consumer: send failed");
    } else if (readable(cconn)) {
      auto f = cconn.read_frame();
      const int64_t received = mono_ns();
      if (f.empty()) return fail("consumer: connection closed");
      if (!loop.on_response(run, cs, f, fetch_corr, received)) return;
      fetch_corr = -1;
      worked = true;
    }
    if (worked || o.spin) continue;
    // Nothing to do: sleep until a response arrives or the next message is due (at most 1 ms,
    // so the stop flag is seen).
    int64_t wait_ns = 1'000'000;
    if (g < run.total) wait_ns = std::clamp<int64_t>(run.intended(g) - mono_ns(), 0, wait_ns);
    pollfd fds[2] = {{cconn.fd(), POLLIN, 0}, {pconn.fd(), POLLIN, 0}};  // acks only when awaited
    timespec ts{0, static_cast<long>(wait_ns)};
    (void)::ppoll(fds, head > tail ? 2 : 1, &ts, nullptr);
  }
}

// ------------------------------------------------------------------------------ librdkafka

bool rk_set(rd_kafka_conf_t* c, const std::string& k, const std::string& v, std::string* err) {
  char buf[512];
  if (rd_kafka_conf_set(c, k.c_str(), v.c_str(), buf, sizeof buf) != RD_KAFKA_CONF_OK) {
    *err = k + ": " + buf;
    return false;
  }
  return true;
}
bool rk_apply_overrides(rd_kafka_conf_t* c, const Options& o, std::string* err) {
  for (const auto& kv : o.rdkafka_conf) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || !rk_set(c, kv.substr(0, eq), kv.substr(eq + 1), err)) return false;
  }
  return true;
}

struct RkDr {
  Run* run;
};

void rk_dr_cb(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* run = static_cast<RkDr*>(opaque)->run;
  auto g = static_cast<int64_t>(reinterpret_cast<intptr_t>(m->_private));
  if (m->err) run->error(std::string("delivery: ") + rd_kafka_err2str(m->err));
  run->ack_range(g, g + 1, m->partition, m->err ? 1 : 0, mono_ns());
}

void rk_producer(Run& run) {
  const Options& o = run.o;
  std::string err;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char linger[64];
  std::snprintf(linger, sizeof linger, "%.3f", o.linger_us / 1000.0);
  RkDr dr{&run};
  bool ok = rk_set(conf, "bootstrap.servers", o.bootstrap, &err) &&
            rk_set(conf, "acks", std::to_string(o.acks), &err) && rk_set(conf, "linger.ms", linger, &err) &&
            rk_set(conf, "batch.num.messages", std::to_string(o.batch), &err) &&
            rk_set(conf, "socket.nagle.disable", "true", &err) && rk_set(conf, "enable.idempotence", "false", &err) &&
            rk_set(conf, "queue.buffering.max.messages", "2000000", &err) &&
            rk_set(conf, "queue.buffering.max.kbytes", "2097151", &err) && rk_apply_overrides(conf, o, &err);
  if (!ok) {
    run.error("librdkafka producer conf: " + err);
    rd_kafka_conf_destroy(conf);
    run.abort = run.producer_done = run.acks_done = true;
    return;
  }
  rd_kafka_conf_set_dr_msg_cb(conf, rk_dr_cb);
  rd_kafka_conf_set_opaque(conf, &dr);
  char ebuf[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, ebuf, sizeof ebuf);
  if (!rk) {
    run.error(std::string("rd_kafka_new: ") + ebuf);
    run.abort = run.producer_done = run.acks_done = true;
    return;
  }
  std::atomic<bool> polling{true};
  std::thread poller([&] {
    while (polling.load()) rd_kafka_poll(rk, 50);
  });
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, o.topic.c_str(), nullptr);
  std::vector<std::byte> payload(o.size, std::byte{'p'});
  const int32_t P = o.partitions;
  int64_t g = 0;
  while (g < run.total && !run.abort.load(std::memory_order_relaxed)) {
    int64_t due = run.due_at(mono_ns());
    if (due <= g) {
      sleep_until_ns(run.intended(g), o.spin);
      continue;
    }
    for (; g < due; ++g) {
      auto p = static_cast<int32_t>(g % P);
      PayloadHeader h{kPayloadMagic, static_cast<uint32_t>(p), static_cast<uint64_t>(g / P), run.intended(g)};
      std::memcpy(payload.data(), &h, sizeof h);
      for (int tries = 0;; ++tries) {
        if (rd_kafka_produce(rkt, p, RD_KAFKA_MSG_F_COPY, payload.data(), payload.size(), nullptr, 0,
                             reinterpret_cast<void*>(static_cast<intptr_t>(g))) == 0)
          break;
        if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL || tries > 100000) {
          run.error(std::string("rd_kafka_produce: ") + rd_kafka_err2str(rd_kafka_last_error()));
          run.produce_errors++;
          break;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
      run.sent.fetch_add(1, std::memory_order_relaxed);
    }
  }
  run.producer_done = true;
  rd_kafka_flush(rk, static_cast<int>(o.drain_timeout_s * 1000));
  polling = false;
  poller.join();
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  run.acks_done = true;
}

void rk_consumer(Run& run, ConsumerState& cs, int id) {
  const Options& o = run.o;
  std::string err;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  bool ok = rk_set(conf, "bootstrap.servers", o.bootstrap, &err) &&
            rk_set(conf, "group.id", "sluice-bench-" + std::to_string(::getpid()) + "-" + std::to_string(id), &err) &&
            rk_set(conf, "enable.auto.commit", "false", &err) &&
            rk_set(conf, "fetch.wait.max.ms", std::to_string(o.fetch_wait_ms), &err) &&
            rk_set(conf, "fetch.min.bytes", "1", &err) && rk_set(conf, "socket.nagle.disable", "true", &err) &&
            rk_set(conf, "enable.partition.eof", "false", &err) &&
            rk_set(conf, "check.crcs", o.verify_crc ? "true" : "false", &err) && rk_apply_overrides(conf, o, &err);
  if (!ok) {
    run.error("librdkafka consumer conf: " + err);
    rd_kafka_conf_destroy(conf);
    run.abort = true;
    return;
  }
  char ebuf[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, ebuf, sizeof ebuf);
  if (!rk) {
    run.error(std::string("rd_kafka_new: ") + ebuf);
    run.abort = true;
    return;
  }
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(static_cast<int>(cs.partitions.size()));
  for (int32_t p : cs.partitions)
    rd_kafka_topic_partition_list_add(parts, o.topic.c_str(), p)->offset =
        run.start_offset[static_cast<std::size_t>(p)];
  rd_kafka_assign(rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  while (!run.stop_consumers.load(std::memory_order_relaxed)) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 50);
    if (!m) continue;
    int64_t now = mono_ns();
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        ++cs.fetch_errors;
        run.error(std::string("consume: ") + rd_kafka_message_errstr(m));
      }
    } else if (m->len >= sizeof(PayloadHeader)) {
      PayloadHeader h;
      std::memcpy(&h, m->payload, sizeof h);
      if (h.magic == kPayloadMagic) cs.on_message(run, h, now);
      else ++cs.foreign;
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_assign(rk, nullptr);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
}

// ------------------------------------------------------------------------------ main

int run_main(Options o) {
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);  // nanosleep wakes on time, not 50 us late
  if (o.size < kMinPayload) {
    std::fprintf(stderr, "--size must be >= %zu (payload header)\n", kMinPayload);
    return 2;
  }
  if (o.consumers < 1 || o.consumers > o.partitions) {
    std::fprintf(stderr, "--consumers must be in [1, partitions]: consumers split the partitions\n");
    return 2;
  }
  if (o.client != "own" && o.client != "librdkafka") {
    std::fprintf(stderr, "--client must be own or librdkafka\n");
    return 2;
  }
  if (o.topic.empty()) o.topic = "sluice-bench-" + std::to_string(::getpid()) + "-" + std::to_string(wall_ms());

  auto run = std::make_unique<Run>();
  run->o = o;
  std::string err;
  {
    KafkaConn admin;
    if (!admin.connect(o.bootstrap, &err)) {
      std::fprintf(stderr, "sluice-bench: %s: %s\n", o.bootstrap.c_str(), err.c_str());
      return 2;
    }
    int ec = create_topic(admin, o.topic, o.partitions, o.topic_configs, &err);
    if (ec != 0 && ec != 36) {
      std::fprintf(stderr, "sluice-bench: CreateTopics %s failed: error %d %s\n", o.topic.c_str(), ec, err.c_str());
      return 2;
    }
    if (ec == 36) std::fprintf(stderr, "sluice-bench: topic %s exists, reading from its end\n", o.topic.c_str());
    if (!wait_topic_ready(admin, o.topic, o.partitions, 10000, &err) ||
        !latest_offsets(admin, o.topic, o.partitions, run->start_offset, &err)) {
      std::fprintf(stderr, "sluice-bench: %s\n", err.c_str());
      return 2;
    }
  }
  run->total = static_cast<int64_t>(std::llround(o.rate * (o.warmup_s + o.duration_s)));
  run->per_partition = run->total / o.partitions + 1;
  run->acked.assign(static_cast<std::size_t>(o.partitions),
                    std::vector<uint8_t>(static_cast<std::size_t>(run->per_partition), 0));

  std::vector<std::unique_ptr<ConsumerState>> cons;
  for (int c = 0; c < o.consumers; ++c) {
    auto cs = std::make_unique<ConsumerState>();
    for (int32_t p = c; p < o.partitions; p += o.consumers) cs->partitions.push_back(p);
    cs->seen.assign(static_cast<std::size_t>(o.partitions), {});
    for (int32_t p : cs->partitions)
      cs->seen[static_cast<std::size_t>(p)].assign(static_cast<std::size_t>(run->per_partition), 0);
    cs->next_seq.assign(static_cast<std::size_t>(o.partitions), 0);
    cons.push_back(std::move(cs));
  }
  std::vector<std::thread> cthreads;
  for (int c = 0; o.threads == 0 && c < o.consumers; ++c)
    cthreads.emplace_back([&, c] {
      if (o.client == "own") own_consumer(*run, *cons[static_cast<std::size_t>(c)]);
      else rk_consumer(*run, *cons[static_cast<std::size_t>(c)], c);
    });
  // Let consumers connect and park their first long poll before the clock starts.
  if (o.threads == 0) std::this_thread::sleep_for(std::chrono::milliseconds(o.client == "own" ? 200 : 1500));

  run->t0 = mono_ns() + 10'000'000;
  run->measure_from = run->t0 + static_cast<int64_t>(o.warmup_s * 1e9);
  run->measure_to = run->t0 + static_cast<int64_t>((o.warmup_s + o.duration_s) * 1e9);
  std::thread producer([&] {
    if (o.threads == 1) own_single_thread(*run, *cons[0]);
    else if (o.client == "own") own_producer(*run);
    else rk_producer(*run);
  });

  // Bounded waits: sending takes warmup+duration; then acks and consumption get drain_timeout.
  auto unique_total = [&] {
    int64_t n = 0;
    for (auto& c : cons) n += c->unique.load();
    return n;
  };
  const int64_t hard_deadline = run->t0 + static_cast<int64_t>((o.warmup_s + o.duration_s + o.drain_timeout_s) * 1e9);
  while (!run->acks_done.load() && mono_ns() < hard_deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  bool timed_out = !run->acks_done.load();
  if (timed_out) {
    run->error("timed out waiting for produce acks");
    run->abort = true;
  }
  const int64_t drain_deadline = std::max<int64_t>(mono_ns() + 2000000000LL, hard_deadline);
  while (!run->abort.load() && unique_total() < run->acked_ok.load() && mono_ns() < drain_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  run->stop_consumers = true;
  producer.join();
  for (auto& t : cthreads) t.join();

  // Exactly-once accounting.
  LogLinearHistogram e2e;
  int64_t lost = 0, dup = 0, ooo = 0, bad_crc = 0, fetch_errors = 0, foreign = 0, received = 0, window_received = 0;
  int64_t last_window_recv = 0;
  for (auto& c : cons) {
    e2e.merge(c->hist);
    dup += static_cast<int64_t>(c->dup);
    ooo += static_cast<int64_t>(c->out_of_order);
    bad_crc += static_cast<int64_t>(c->bad_crc);
    fetch_errors += static_cast<int64_t>(c->fetch_errors);
    foreign += static_cast<int64_t>(c->foreign);
    received += c->unique.load();
    window_received += c->window_received;
    last_window_recv = std::max(last_window_recv, c->last_window_recv_ns);
    for (int32_t p : c->partitions) {
      const auto& a = run->acked[static_cast<std::size_t>(p)];
      const auto& s = c->seen[static_cast<std::size_t>(p)];
      for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i] && !s[i]) ++lost;
    }
  }
  double span_s =
      last_window_recv > run->measure_from ? static_cast<double>(last_window_recv - run->measure_from) / 1e9 : 0;
  double msgs_per_s = span_s > 0 ? static_cast<double>(window_received) / std::max(span_s, o.duration_s) : 0;
  double mib_per_s = msgs_per_s * static_cast<double>(o.size) / (1024.0 * 1024.0);
  int64_t errors = run->produce_errors.load() + run->io_errors.load() + fetch_errors + bad_crc + (timed_out ? 1 : 0);

  std::fprintf(stderr,
               "sluice-bench %s -> %s topic=%s rate=%.0f/s size=%zu partitions=%d acks=%d batch=%d linger_us=%.0f "
               "consumers=%d spin=%d threads=%d\n",
               o.client.c_str(), o.bootstrap.c_str(), o.topic.c_str(), o.rate, o.size, o.partitions, o.acks, o.batch,
               o.linger_us, o.consumers, o.spin ? 1 : 0, o.threads);
  std::fprintf(stderr, "  end-to-end us: p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f p99.99 %.1f max %.1f (n=%" PRIu64 ")\n",
               e2e.percentile_us(0.5), e2e.percentile_us(0.9), e2e.percentile_us(0.99), e2e.percentile_us(0.999),
               e2e.percentile_us(0.9999), static_cast<double>(e2e.max()) / 1000, e2e.count());
  std::fprintf(stderr, "  produce ack us: p50 %.1f p99 %.1f p99.9 %.1f max %.1f\n", run->ack_hist.percentile_us(0.5),
               run->ack_hist.percentile_us(0.99), run->ack_hist.percentile_us(0.999),
               static_cast<double>(run->ack_hist.max()) / 1000);
  std::fprintf(stderr,
               "  sent %" PRId64 " acked %" PRId64 " received %" PRId64 " lost %" PRId64 " dup %" PRId64
               " out_of_order %" PRId64 " errors %" PRId64 "%s%s\n",
               run->sent.load(), run->acked_ok.load(), received, lost, dup, ooo, errors,
               run->first_error.empty() ? "" : " first error: ", run->first_error.c_str());
  std::printf("{\"tool\":\"sluice-bench\",\"client\":\"%s\",\"rate\":%.0f,\"size\":%zu,\"partitions\":%d,\"acks\":%d,"
              "\"batch\":%d,\"linger_us\":%.0f,\"consumers\":%d,\"spin\":%s,\"threads\":%d,\"duration_s\":%.1f,"
              "\"warmup_s\":%.1f,%s,"
              "\"msgs_per_s\":%.0f,\"mib_per_s\":%.2f,%s,\"sent\":%" PRId64 ",\"acked\":%" PRId64
              ",\"received\":%" PRId64 ",\"errors\":%" PRId64 ",\"lost\":%" PRId64 ",\"dup\":%" PRId64
              ",\"out_of_order\":%" PRId64 ",\"bad_crc\":%" PRId64 ",\"foreign\":%" PRId64 "}\n",
              o.client.c_str(), o.rate, o.size, o.partitions, o.acks, o.batch, o.linger_us, o.consumers,
              o.spin ? "true" : "false", o.threads, o.duration_s, o.warmup_s, e2e.json_fields().c_str(), msgs_per_s,
              mib_per_s, run->ack_hist.json_fields("ack_").c_str(), run->sent.load(), run->acked_ok.load(), received,
              errors, lost, dup, ooo, bad_crc, foreign);
  std::fflush(stdout);
  if (!o.hist_out.empty()) {
    if (std::FILE* f = std::fopen(o.hist_out.c_str(), "w")) {
      e2e.write_percentiles(f);
      std::fclose(f);
    }
  }
  if (o.check && (lost || dup || ooo || errors || run->acked_ok.load() == 0)) return 1;
  return 0;
}

}  // namespace
}  // namespace sluice::bench

int main(int argc, char** argv) {
  sluice::bench::Options o;
  CLI::App app{"sluice-bench - open-loop end-to-end latency of a Kafka-compatible broker"};
  app.add_option("--bootstrap", o.bootstrap, "broker HOST:PORT")->capture_default_str();
  app.add_option("--topic", o.topic, "topic (default: a fresh sluice-bench-<pid>-<ms> topic)");
  app.add_option("--client", o.client, "own | librdkafka")->capture_default_str();
  app.add_option("--rate", o.rate, "messages per second (open loop)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--size", o.size, "message value bytes (>= 24)")->capture_default_str();
  app.add_option("--duration", o.duration_s, "measured seconds")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup_s, "seconds sent before measuring")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--partitions", o.partitions, "partitions (created with the topic)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--acks", o.acks, "-1 | 0 | 1")->capture_default_str()->check(CLI::IsMember({-1, 0, 1}));
  app.add_option("--batch", o.batch, "max messages per produce request (librdkafka: batch.num.messages)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--linger-us", o.linger_us, "wait up to this long for more messages (librdkafka: linger.ms)")
      ->capture_default_str();
  app.add_option("--consumers", o.consumers, "consumer connections, splitting the partitions")->capture_default_str();
  app.add_option("--max-inflight", o.max_inflight, "pipelined produce requests (own)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--fetch-wait-ms", o.fetch_wait_ms, "fetch long-poll max wait")->capture_default_str();
  app.add_option("--fetch-max-bytes", o.fetch_max_bytes, "fetch max bytes (and per partition)")->capture_default_str();
  app.add_option("--drain-timeout", o.drain_timeout_s, "seconds to wait for acks and consumption after sending")
      ->capture_default_str();
  app.add_option("--hist-out", o.hist_out, "write the end-to-end percentile distribution here (percent value_us)");
  app.add_flag("--spin", o.spin, "busy-poll receives and pacing (each client thread takes a core)");
  app.add_option("--threads", o.threads,
                 "client threads: 0 = one per role (producer, ack reader, each consumer); 1 = all on one thread "
                 "(own client, one consumer; with --spin it takes exactly one core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1));
  app.add_flag("--check", o.check, "exit 1 if any message was lost, duplicated, reordered or errored");
  app.add_flag("!--no-verify-crc", o.verify_crc, "skip the consumer-side CRC-32C check");
  app.add_option("--topic-config", o.topic_configs,
                 "KEY=VALUE topic config at creation (repeatable), e.g. sluice.read.visibility=appended");
  app.add_option("--rdkafka", o.rdkafka_conf, "KEY=VALUE librdkafka property (repeatable)");
  CLI11_PARSE(app, argc, argv);
  if (o.threads == 1 && (o.client != "own" || o.consumers != 1)) {
    std::fprintf(stderr, "sluice-bench: --threads 1 needs --client own and --consumers 1\n");
    return 2;
  }
  return sluice::bench::run_main(o);
}
