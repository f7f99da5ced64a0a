#pragma once
// The simulation's plumbing shared by the broker model (broker_sim_test.cc) and the transaction
// workload (txn_workload.*): the broker in process on the simulated disk and clock, a blocking
// Kafka client with bounded waits, and records parsed back from fetched batches.
#include <poll.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench/e2e/kafka_client.h"
#include "engine/broker/broker_config.h"
#include "engine/kafka/codec/error_code.h"
#include "engine/kafka/codec/kafka_codec.h"
#include "engine/kafka/server/broker.h"
#include "engine/log/clock.h"
#include "engine/log/record_batch.h"
#include "tests/sim/sim_disk.h"
#include "tests/support/broker_thread.h"

namespace sluice::sim {

using kafka::ErrorCode;

// Generous: only a broker that stopped answering may fail it (never used to judge speed).
inline constexpr int kResponseTimeoutMs = 30000;
inline constexpr int kStartTimeoutMs = 30000;
inline constexpr int kTransientRetries = 200;
inline constexpr auto kTransientBackoff = std::chrono::milliseconds(5);

struct SimFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline std::string err_name(int16_t code) { return std::string(kafka::error_name(static_cast<ErrorCode>(code))); }
inline bool is(int16_t code, ErrorCode e) { return code == static_cast<int16_t>(e); }

// Answers a broker may give right after a start, a topic creation or during group changes.
inline bool transient(int16_t code) {
  switch (static_cast<ErrorCode>(code)) {
    case ErrorCode::NOT_LEADER_OR_FOLLOWER:
    case ErrorCode::LEADER_NOT_AVAILABLE:
    case ErrorCode::COORDINATOR_NOT_AVAILABLE:
    case ErrorCode::COORDINATOR_LOAD_IN_PROGRESS:
    case ErrorCode::NOT_COORDINATOR:
    case ErrorCode::REQUEST_TIMED_OUT: return true;
    default: return false;
  }
}
// ---------------------------------------------------------------------------------------------
// The simulated clock: every shard of every broker run reads it (LogAppendTime, retention, group
// and transaction timers), and only the test moves it. The broker's timers still sleep in real
// time, bounded (a coordinator re-reads the clock at least every 100 ms), so a jump past a
// deadline takes effect within one such interval.

class SimClock {
 public:
  int64_t now_ms() const { return now_ms_.load(std::memory_order_acquire); }
  void advance_ms(int64_t d) { now_ms_.fetch_add(d, std::memory_order_acq_rel); }

  // A log::Clock for one shard of one run, reading this one.
  std::unique_ptr<log::Clock> clock_for_run() {
    struct View final : log::Clock {
      explicit View(const SimClock* c) : c_(c) {}
      int64_t now_ms() override { return c_->now_ms(); }
      const SimClock* c_;
    };
    return std::make_unique<View>(this);
  }

 private:
  std::atomic<int64_t> now_ms_{1'700'000'000'000};
};

// ---------------------------------------------------------------------------------------------
// The broker, in process, restartable on the same disk.

class BrokerProcess {
 public:
  BrokerProcess(SimDisk& disk, SimClock& clock, std::string data_dir) : disk_(disk), clock_(clock) {
    cfg_.listen_host = "127.0.0.1";
    cfg_.listen_port = 0;
    cfg_.data_dir = std::move(data_dir);
    cfg_.smp = 1;
    cfg_.auto_create_topics = false;  // a produce to a deleted topic must not bring it back
    cfg_.group_min_session_timeout_ms = 10;
  }
  void start() {
    hooks_ = {};
    hooks_.handle_signals = false;
    hooks_.pin_threads = false;
    // Every shard's FileSystem forwards to the one disk (its mutex makes that safe).
    hooks_.make_file_system = [this](unsigned) { return disk_.file_system_for_run(); };
    hooks_.make_clock = [this](unsigned) { return clock_.clock_for_run(); };
    if (!broker_.start(cfg_, hooks_, std::chrono::milliseconds(kStartTimeoutMs))) {
      throw SimFailure(broker_.exited() ? "the broker failed to start (run_broker returned " +
                                              std::to_string(broker_.exit_code()) + ")"
                                        : "the broker did not start listening");
    }
  }

  // Returns run_broker's exit code.
  int stop() { return broker_.stop(); }

  uint16_t port() const { return broker_.port(); }
  void set_shards(unsigned n) { cfg_.smp = n; }

 private:
  SimDisk& disk_;
  SimClock& clock_;
  broker::BrokerConfig cfg_;
  kafka::BrokerHooks hooks_;
  testing::BrokerThread broker_;
};

// ---------------------------------------------------------------------------------------------
// A blocking client: bench's KafkaConn for framing, plus a bounded wait for each answer.

class Client {
 public:
  void connect(uint16_t port) {
    port_ = port;
    conn_.close();
    std::string err;
    if (!conn_.connect("127.0.0.1:" + std::to_string(port), &err)) throw SimFailure("connect: " + err);
  }
  void close() { conn_.close(); }

  template <class Req, class Resp>
  Resp call(int16_t version, const Req& req) {
    Resp resp;
    if (try_call(version, req, resp)) return resp;
    throw SimFailure("connection closed waiting for " + std::string(Req::kName));
  }
  // acks=0 produce: Kafka sends no answer, and closes the connection when it fails (the only way
  // to tell that client). So a harmless request follows at once: if the connection closes, only
  // that one is sent again, on a new connection (another request could change state twice).
  // Sends a request and never reads its answer: the caller crashes the broker next and closes
  // this connection (a client that dies waiting).
  template <class Req>
  void send_no_wait(int16_t version, const Req& req) {
    if (conn_.send_request(version, req) < 0) throw SimFailure("send failed (" + std::string(Req::kName) + ")");
  }
  template <class Req>
  void send_only(int16_t version, const Req& req) {
    if (conn_.send_request(version, req) < 0) throw SimFailure("send failed (acks=0 produce)");
    kafka::MetadataRequest barrier;
    barrier.topics.emplace();  // no topics
    barrier.allow_auto_topic_creation = false;
    kafka::MetadataResponse resp;
    if (try_call(7, barrier, resp)) return;
    connect(port_);
    if (!try_call(7, barrier, resp)) throw SimFailure("connection closed twice after an acks=0 produce");
  }

 private:
  // false when the connection closed; throws on anything else that is wrong.
  template <class Req, class Resp>
  bool try_call(int16_t version, const Req& req, Resp& resp) {
    int32_t corr = conn_.send_request(version, req);
    if (corr < 0) return false;
    pollfd pf{conn_.fd(), POLLIN, 0};
    int ready = ::poll(&pf, 1, kResponseTimeoutMs);
    if (ready <= 0) throw SimFailure("no answer to " + std::string(Req::kName) + " (broker hung?)");
    // The rest of the frame follows at once: the broker writes whole responses.
    auto frame = conn_.read_frame();
    if (frame.empty()) return false;
    kafka::Reader r(frame);
    // Flexible versions (DescribeTransactions, OffsetFetch v7) have tagged fields in the header.
    kafka::ResponseHeader header;
    if (!kafka::decode(r, kafka::response_header_version(Req::kApiKey, version), header).ok())
      throw SimFailure("cannot decode the response header of " + std::string(Req::kName));
    if (header.correlation_id != corr) throw SimFailure("correlation id mismatch on " + std::string(Req::kName));
    auto d = kafka::decode(r, version, resp);
    if (!d.ok()) throw SimFailure("cannot decode " + std::string(Req::kName));
    return true;
  }
  bench::KafkaConn conn_;
  uint16_t port_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Records as the model keeps them, and parsing them back from fetched batches.

struct Rec {
  bool key_null = false;
  std::string key;
  std::string value;
  bool operator==(const Rec&) const = default;
};

// Records use zig-zag varints: the bench client's reader (kafka_client_inl.h).
using bench::detail::read_varlong;

// Uncompressed records of a batch; nullopt when malformed.
inline std::optional<std::vector<Rec>> parse_records(std::span<const std::byte> batch, const log::BatchHeader& h) {
  std::vector<Rec> out;
  const std::byte* p = batch.data() + log::kBatchHeaderBytes;
  const std::byte* end = batch.data() + batch.size();
  for (int32_t i = 0; i < h.record_count; ++i) {
    int64_t len = 0;
    if (!read_varlong(p, end, len) || len < 0 || len > end - p) return std::nullopt;
    const std::byte* rec_end = p + len;
    const std::byte* q = p + 1;  // attributes
    int64_t ts_delta = 0, off_delta = 0, klen = 0, vlen = 0, headers = 0;
    if (!read_varlong(q, rec_end, ts_delta) || !read_varlong(q, rec_end, off_delta) || off_delta != i)
      return std::nullopt;
    if (!read_varlong(q, rec_end, klen) || klen > rec_end - q) return std::nullopt;
    Rec r;
    r.key_null = klen < 0;
    if (klen > 0) r.key.assign(reinterpret_cast<const char*>(q), static_cast<std::size_t>(klen));
    if (klen > 0) q += klen;
    if (!read_varlong(q, rec_end, vlen) || vlen < 0 || vlen > rec_end - q) return std::nullopt;
    r.value.assign(reinterpret_cast<const char*>(q), static_cast<std::size_t>(vlen));
    q += vlen;
    if (!read_varlong(q, rec_end, headers) || headers != 0 || q != rec_end) return std::nullopt;
    out.push_back(std::move(r));
    p = rec_end;
  }
  if (p != end) return std::nullopt;
  return out;
}

}  // namespace sluice::sim
