#pragma once
// Shared by the peer load generators (redis_bench, nats_bench, rabbitmq_bench): the same open-loop
// schedule, payload header, exactly-once/in-order check, histogram and one-line JSON summary as
// sluice-bench, for one stream/queue with one producer and one consumer.
#include <poll.h>
#include <sys/prctl.h>
#include <time.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "bench/e2e/histogram.h"

namespace sluice::bench::peer {

inline int64_t mono_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

struct PayloadHeader {
  uint32_t magic;
  uint32_t partition;
  uint64_t seq;
  int64_t intended_ns;
};
inline constexpr uint32_t kMagic = 0x534c4342;

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  double rate = 10000;
  std::size_t size = 100;
  double duration_s = 10;
  double warmup_s = 2;
  double drain_timeout_s = 15;
  int max_inflight = 4096;
  std::string label;  // system + durability, printed in the JSON
  std::string hist_out;
  std::string name = "sluicebench";  // stream / queue / subject name
};

inline void add_common_options(CLI::App& app, Options& o) {
  app.add_option("--host", o.host)->capture_default_str();
  app.add_option("--port", o.port)->required();
  app.add_option("--rate", o.rate)->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--size", o.size)->capture_default_str();
  app.add_option("--duration", o.duration_s)->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup_s)->capture_default_str();
  app.add_option("--drain-timeout", o.drain_timeout_s)->capture_default_str();
  app.add_option("--max-inflight", o.max_inflight, "unacknowledged publishes before the producer waits")
      ->capture_default_str();
  app.add_option("--label", o.label, "system/durability label for the JSON line");
  app.add_option("--hist-out", o.hist_out, "percentile distribution file");
  app.add_option("--name", o.name, "stream/queue name")->capture_default_str();
}

// The open-loop schedule and the bookkeeping. Producer-side fields are touched by the producer
// thread, consumer-side by the consumer thread; counters read across threads are atomics.
struct Workload {
  Options o;
  int64_t t0 = 0, total = 0, measure_from = 0, measure_to = 0;
  std::vector<uint8_t> seen;  // consumer
  LogLinearHistogram e2e;     // consumer
  LogLinearHistogram ack;     // producer
  int64_t next_seq = 0, dup = 0, out_of_order = 0, foreign = 0, window_received = 0, last_window_recv = 0;
  std::atomic<int64_t> unique{0}, sent{0}, acked{0}, errors{0};
  std::atomic<bool> producer_done{false}, stop{false};
  std::mutex err_mu;
  std::string first_error;
  std::vector<char> payload;

  explicit Workload(const Options& opt) : o(opt) {
    ::prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    if (o.size < sizeof(PayloadHeader)) o.size = sizeof(PayloadHeader);
    total = static_cast<int64_t>(std::llround(o.rate * (o.warmup_s + o.duration_s)));
    seen.assign(static_cast<std::size_t>(total) + 1, 0);
    payload.assign(o.size, 'p');
  }
  void start_clock() {
    t0 = mono_ns() + 10'000'000;
    measure_from = t0 + static_cast<int64_t>(o.warmup_s * 1e9);
    measure_to = t0 + static_cast<int64_t>((o.warmup_s + o.duration_s) * 1e9);
  }
  int64_t intended(int64_t g) const {
    return t0 + static_cast<int64_t>(static_cast<long double>(g) * 1e9L / static_cast<long double>(o.rate));
  }
  int64_t due_at(int64_t now) const {
    if (now < t0) return 0;
    auto n = static_cast<int64_t>(static_cast<long double>(now - t0) * static_cast<long double>(o.rate) / 1e9L) + 1;
    return std::min(n, total);
  }
  bool in_window(int64_t t) const { return t >= measure_from && t < measure_to; }
  // Fills the payload for message g; returns it.
  const char* make_payload(int64_t g) {
    PayloadHeader h{kMagic, 0, static_cast<uint64_t>(g), intended(g)};
    std::memcpy(payload.data(), &h, sizeof h);
    return payload.data();
  }
  void error(const std::string& e) {
    errors++;
    std::lock_guard<std::mutex> l(err_mu);
    if (first_error.empty()) first_error = e;
  }
  void on_ack(int64_t g, int64_t now) {
    acked++;
    int64_t it = intended(g);
    if (in_window(it)) ack.record_signed(now - it);
  }
  void on_receive(const void* data, std::size_t len, int64_t now) {
    if (len < sizeof(PayloadHeader)) {
      ++foreign;
      return;
    }
    PayloadHeader h;
    std::memcpy(&h, data, sizeof h);
    if (h.magic != kMagic || h.seq >= static_cast<uint64_t>(total)) {
      ++foreign;
      return;
    }
    auto seq = static_cast<int64_t>(h.seq);
    uint8_t& c = seen[static_cast<std::size_t>(seq)];
    if (c) {
      ++dup;
    } else {
      unique++;
      if (in_window(h.intended_ns)) {
        e2e.record_signed(now - h.intended_ns);
        ++window_received;
        last_window_recv = std::max(last_window_recv, now);
      }
    }
    if (c < 255) ++c;
    if (seq == next_seq) next_seq = seq + 1;
    else if (seq > next_seq) {
      ++out_of_order;
      next_seq = seq + 1;
    }
  }
  // Wait until the producer is done and the consumer caught up (or the drain deadline passed).
  void wait_drain() {
    const int64_t hard = t0 + static_cast<int64_t>((o.warmup_s + o.duration_s + o.drain_timeout_s) * 1e9);
    while (!producer_done.load() && mono_ns() < hard) ::usleep(2000);
    const int64_t drain = std::max<int64_t>(mono_ns() + 2000000000LL, hard);
    while (unique.load() < acked.load() && mono_ns() < drain) ::usleep(2000);
    if (!producer_done.load()) error("producer did not finish in time");
  }
  // Sleeps until t (or until fd is readable, when fd >= 0). Returns true if fd is readable.
  static bool wait_until(int64_t t, int fd) {
    int64_t now = mono_ns();
    if (fd < 0) {
      if (t > now) {
        timespec ts{static_cast<time_t>(t / 1000000000LL), static_cast<long>(t % 1000000000LL)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
        }
      }
      return false;
    }
    int64_t wait_ns = t - now;
    timespec ts{0, 0};
    if (wait_ns > 0) ts = {static_cast<time_t>(wait_ns / 1000000000LL), static_cast<long>(wait_ns % 1000000000LL)};
    pollfd p{fd, POLLIN, 0};
    int r = ::ppoll(&p, 1, &ts, nullptr);
    return r > 0 && (p.revents & (POLLIN | POLLERR | POLLHUP));
  }

  int report(const char* tool) {
    int64_t lost = acked.load() - unique.load();
    if (lost < 0) lost = 0;
    double span_s = last_window_recv > measure_from ? static_cast<double>(last_window_recv - measure_from) / 1e9 : 0;
    double msgs_per_s = span_s > 0 ? static_cast<double>(window_received) / std::max(span_s, o.duration_s) : 0;
    double mib_per_s = msgs_per_s * static_cast<double>(o.size) / (1024.0 * 1024.0);
    std::fprintf(stderr,
                 "%s [%s] rate=%.0f size=%zu: e2e p50 %.1f p99 %.1f p99.9 %.1f max %.1f us; sent %" PRId64
                 " acked %" PRId64 " received %" PRId64 " lost %" PRId64 " dup %" PRId64 " ooo %" PRId64
                 " errors %" PRId64 " %s\n",
                 tool, o.label.c_str(), o.rate, o.size, e2e.percentile_us(0.5), e2e.percentile_us(0.99),
                 e2e.percentile_us(0.999), static_cast<double>(e2e.max()) / 1000, sent.load(), acked.load(),
                 unique.load(), lost, dup, out_of_order, errors.load(), first_error.c_str());
    std::printf("{\"tool\":\"%s\",\"label\":\"%s\",\"rate\":%.0f,\"size\":%zu,\"duration_s\":%.1f,\"warmup_s\":%.1f,%s,"
                "\"msgs_per_s\":%.0f,\"mib_per_s\":%.2f,%s,\"sent\":%" PRId64 ",\"acked\":%" PRId64
                ",\"received\":%" PRId64 ",\"errors\":%" PRId64 ",\"lost\":%" PRId64 ",\"dup\":%" PRId64
                ",\"out_of_order\":%" PRId64 ",\"foreign\":%" PRId64 "}\n",
                tool, o.label.c_str(), o.rate, o.size, o.duration_s, o.warmup_s, e2e.json_fields().c_str(), msgs_per_s,
                mib_per_s, ack.json_fields("ack_").c_str(), sent.load(), acked.load(), unique.load(), errors.load(),
                lost, dup, out_of_order, foreign);
    std::fflush(stdout);
    if (!o.hist_out.empty())
      if (std::FILE* f = std::fopen(o.hist_out.c_str(), "w")) {
        e2e.write_percentiles(f);
        std::fclose(f);
      }
    return 0;
  }
};

}  // namespace sluice::bench::peer
