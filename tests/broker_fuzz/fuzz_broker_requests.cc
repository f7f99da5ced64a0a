// Whole-request fuzzer: a real broker (core + Kafka handlers + connection framing) runs in this
// process on one shard over MemFileSystem; each input is a pipelined sequence of request frames
// sent on a loopback connection. Any assertion or sanitizer report in the broker is a crash of
// this process, so libFuzzer reports it with the input.
//
// Input: repeated [u16 big-endian length][request frame without its size prefix] (header and
// body, as the seeds from real clients in tests/kafka_codec/corpus are). Structure-aware fix-ups
// keep mutated inputs deep in the handlers instead of at the first check: record batches in
// Produce get a correct CRC-32C (so the batch validator, producer state and log see the fuzzed
// fields), and requests that could park a connection or eat memory by design are clamped (fetch
// long-poll waits, group timeouts, topic and partition counts).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "alloc/assert.h"
#include "engine/kafka/codec/kafka_codec.h"
#include "engine/kafka/server/broker.h"
#include "engine/log/mem_file_system.h"
#include "engine/log/record_batch.h"

namespace {

using sluice::kafka::Reader;
using sluice::kafka::Writer;

constexpr std::size_t kMaxFramesPerInput = 8;
constexpr int32_t kMaxFetchWaitMs = 5;
constexpr int32_t kMaxGroupTimeoutMs = 20;
constexpr int32_t kMaxPartitions = 4;
constexpr std::size_t kMaxTopicsPerAdminRequest = 2;
// An input whose requests are not all answered in this time is abandoned (a request may park by
// design); the broker then has kServeTimeoutMs to answer a fresh connection. Both are generous:
// the fuzzer shares two cores with whatever else runs, and only a broker that stopped serving
// may fail it.
constexpr int kResponseTimeoutMs = 1000;
constexpr int kServeTimeoutMs = 30000;
constexpr int32_t kTerminatorCorrelationId = 0x7ffffff0;

uint16_t g_port = 0;
int g_fd = -1;

int connect_broker() {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(g_port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int attempt = 0;; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    SLUICE_ASSERT(fd >= 0);
    // Closed with RST (no TIME_WAIT): hundreds of reconnects a second would otherwise use up the
    // ephemeral ports and fail the harness, not the broker.
    linger abort_on_close{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    }
    const int err = errno;
    ::close(fd);
    // A local shortage (ports, fds) is retried; a refused connection means no broker.
    SLUICE_ASSERT_MSG(err != ECONNREFUSED && attempt < 300, "broker not reachable");
    ::usleep(100 * 1000);
  }
}

// libFuzzer's SIGALRM (every timeout/2 + 1 s) interrupts blocking calls in this thread: EINTR is
// retried, never taken for the broker's answer (it once failed CI as "broker stopped answering").
bool send_all(int fd, const std::vector<std::byte>& b) {
  std::size_t off = 0;
  while (off < b.size()) {
    ssize_t n = ::send(fd, b.data() + off, b.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Reads one response frame; returns its correlation id, or -1 on EOF/timeout/error.
int64_t read_response(int fd, int timeout_ms = kResponseTimeoutMs) {
  auto read_exact = [fd, timeout_ms](std::byte* p, std::size_t n) {
    const int64_t deadline_ms = now_ms() + timeout_ms;
    while (n > 0) {
      const int64_t left_ms = deadline_ms - now_ms();
      if (left_ms <= 0) return false;
      pollfd pf{fd, POLLIN, 0};
      const int ready = ::poll(&pf, 1, static_cast<int>(left_ms));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return false;
      ssize_t r = ::recv(fd, p, n, MSG_DONTWAIT);
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (r <= 0) return false;
      p += r;
      n -= static_cast<std::size_t>(r);
    }
    return true;
  };
  std::byte head[8];
  if (!read_exact(head, 4)) return -1;
  const auto size = sluice::log::load_be<int32_t>(head);
  SLUICE_ASSERT_MSG(size >= 4 && size <= (256 << 20), "broker sent a frame with an impossible size");
  if (!read_exact(head + 4, 4)) return -1;
  std::vector<std::byte> rest(static_cast<std::size_t>(size) - 4);
  if (!rest.empty() && !read_exact(rest.data(), rest.size())) return -1;
  return sluice::log::load_be<int32_t>(head + 4);
}

std::vector<std::byte> api_versions_frame(int32_t correlation_id) {
  std::vector<std::byte> f(4 + 10);
  sluice::log::store_be<int32_t>(f.data(), 10);
  sluice::log::store_be<int16_t>(f.data() + 4, 18);  // ApiVersions v0, client id null
  sluice::log::store_be<int16_t>(f.data() + 6, 0);
  sluice::log::store_be<int32_t>(f.data() + 8, correlation_id);
  sluice::log::store_be<int16_t>(f.data() + 12, -1);
  return f;
}

// The broker still answers a fresh connection: nothing an input did stopped it.
void assert_serves() {
  int fd = connect_broker();
  SLUICE_ASSERT(send_all(fd, api_versions_frame(1)));
  int64_t got = read_response(fd, kServeTimeoutMs);
  if (got != 1) {
    // Every thread's stack (the broker's shard included) before the abort: what it was doing.
    std::fprintf(stderr, "fuzz: fresh connection got %lld; stacks:\n", static_cast<long long>(got));
    std::string cmd = "gdb -batch -p " + std::to_string(::getpid()) + " -ex 'thread apply all bt 30' 1>&2";
    (void)std::system(cmd.c_str());
  }
  SLUICE_ASSERT_MSG(got == 1, "broker stopped answering");
  ::close(fd);
}

template <class Req>
bool reencode(std::vector<std::byte>& frame, std::size_t header_bytes, int16_t version, const Req& req) {
  Writer w;
  encode(w, version, req);
  auto body = w.finish().linearize();
  frame.resize(header_bytes);
  frame.insert(frame.end(), body.begin(), body.end());
  return true;
}

// Correct CRCs of every batch in a Produce request, in place (the records are views into `frame`).
void fix_produce_crcs(std::vector<std::byte>& frame, const sluice::kafka::ProduceRequest& req) {
  for (const auto& t : req.topic_data)
    for (const auto& p : t.partition_data) {
      std::span<const std::byte> rest = p.records.view;
      while (rest.size() >= sluice::log::kBatchHeaderBytes) {
        const auto len = sluice::log::load_be<int32_t>(rest.data() + sluice::log::batch_field::kBatchLength);
        if (len < sluice::log::kMinBatchLength) break;
        const std::size_t n = sluice::log::kLogOverheadBytes + static_cast<std::size_t>(len);
        if (n > rest.size()) break;
        auto* at = frame.data() + (rest.data() - frame.data());
        std::span<std::byte> batch(at, n);
        sluice::log::store_be<uint32_t>(at + sluice::log::batch_field::kCrc, sluice::log::compute_batch_crc(batch));
        rest = rest.subspan(n);
      }
    }
}

// Applies the structure-aware fix-ups to one frame (header + body).
void fix_up(std::vector<std::byte>& frame) {
  Reader r(std::span<const std::byte>(frame.data(), frame.size()));
  auto h = sluice::kafka::decode_request_header(r);
  if (!h.ok()) return;
  const std::size_t header_bytes = frame.size() - r.remaining();
  const int16_t v = h->request_api_version;
  switch (h->request_api_key) {
    case 0: {
      sluice::kafka::ProduceRequest req;
      if (decode(r, v, req).ok()) fix_produce_crcs(frame, req);
      break;
    }
    case 1: {
      sluice::kafka::FetchRequest req;
      if (!decode(r, v, req).ok()) break;
      req.max_wait_ms = std::clamp(req.max_wait_ms, -1, kMaxFetchWaitMs);
      reencode(frame, header_bytes, v, req);
      break;
    }
    case 11: {
      sluice::kafka::JoinGroupRequest req;
      if (!decode(r, v, req).ok()) break;
      req.session_timeout_ms = std::clamp(req.session_timeout_ms, -1, kMaxGroupTimeoutMs);
      req.rebalance_timeout_ms = std::clamp(req.rebalance_timeout_ms, -1, kMaxGroupTimeoutMs);
      reencode(frame, header_bytes, v, req);
      break;
    }
    case 19: {
      sluice::kafka::CreateTopicsRequest req;
      if (!decode(r, v, req).ok()) break;
      if (req.topics.size() > kMaxTopicsPerAdminRequest) req.topics.resize(kMaxTopicsPerAdminRequest);
      for (auto& t : req.topics) t.num_partitions = std::clamp(t.num_partitions, -1, kMaxPartitions);
      reencode(frame, header_bytes, v, req);
      break;
    }
    case 37: {
      sluice::kafka::CreatePartitionsRequest req;
      if (!decode(r, v, req).ok()) break;
      if (req.topics.size() > kMaxTopicsPerAdminRequest) req.topics.resize(kMaxTopicsPerAdminRequest);
      for (auto& t : req.topics) t.count = std::clamp(t.count, -1, kMaxPartitions);
      reencode(frame, header_bytes, v, req);
      break;
    }
    default: break;
  }
}

void start_broker_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    static std::string dir;
    char tmpl[] = "/dev/shm/sluice-fuzz-XXXXXX";
    char* made = ::mkdtemp(tmpl);
    if (!made) {
      char tmpl2[] = "/tmp/sluice-fuzz-XXXXXX";
      made = ::mkdtemp(tmpl2);
    }
    SLUICE_ASSERT(made != nullptr);
    dir = made;
    static sluice::broker::BrokerConfig cfg;
    std::string err;
    auto set = [&](const char* k, const char* val) {
      SLUICE_ASSERT_MSG(sluice::broker::apply_broker_property(cfg, k, val, &err).ok(), "fuzz broker config");
    };
    set("listen", "127.0.0.1:0");
    set("smp", "1");
    set("socket.request.max.bytes", "1048576");
    set("group.min.session.timeout.ms", "1");
    set("group.initial.rebalance.delay.ms", "0");
    // Stall reports symbolize through libdw, whose debuginfod client leaves an OpenSSL allocation
    // that LeakSanitizer reports at exit; stalls are still counted and logged without it.
    set("sluice.stall.backtraces", "false");
    // The broker lives for the whole run: without a cap the topics inputs create pile up and every
    // Metadata answer (and the run) slows down as they do.
    set("sluice.max.partitions", "16");
    set("sluice.connection.send.timeout.ms", "2000");
    cfg.data_dir = dir;
    static std::mutex m;
    static std::condition_variable cv;
    static sluice::kafka::BrokerHooks hooks;
    hooks.handle_signals = false;
    hooks.pin_threads = false;
    hooks.make_file_system = [](unsigned) { return std::make_unique<sluice::log::MemFileSystem>(); };
    hooks.on_listening = [](uint16_t port) {
      std::lock_guard<std::mutex> lock(m);
      g_port = port;
      cv.notify_all();
    };
    static std::atomic<bool> exiting{false};
    static std::thread broker([] {
      int rc = sluice::kafka::run_broker(cfg, hooks);
      if (exiting.load()) return;
      std::fprintf(stderr, "fuzz: broker exited with %d\n", rc);
      std::abort();  // the broker must never stop by itself
    });
    // Stop the broker before static destructors run (its globals would go away under it).
    std::atexit([] {
      exiting.store(true);
      sluice::kafka::stop_broker();
      if (broker.joinable()) broker.join();
    });
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [] { return g_port != 0; });
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  start_broker_once();
  std::vector<std::byte> wire;
  std::size_t frames = 0;
  std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  while (in.size() >= 2 && frames < kMaxFramesPerInput) {
    const std::size_t n = std::min<std::size_t>(sluice::log::load_be<uint16_t>(in.data()), in.size() - 2);
    std::vector<std::byte> frame(in.begin() + 2, in.begin() + 2 + static_cast<std::ptrdiff_t>(n));
    in = in.subspan(2 + n);
    fix_up(frame);
    std::byte len[4];
    sluice::log::store_be<int32_t>(len, static_cast<int32_t>(frame.size()));
    wire.insert(wire.end(), len, len + 4);
    wire.insert(wire.end(), frame.begin(), frame.end());
    frames++;
  }
  if (frames == 0) return 0;
  // A terminator after the inputs: its answer means every earlier request was handled (responses
  // leave in request order), unless the broker closed the connection on a bad frame.
  auto term = api_versions_frame(kTerminatorCorrelationId);
  wire.insert(wire.end(), term.begin(), term.end());
  if (g_fd < 0) g_fd = connect_broker();
  bool healthy = send_all(g_fd, wire);
  while (healthy) {
    int64_t cid = read_response(g_fd);
    if (cid < 0) healthy = false;
    if (cid == kTerminatorCorrelationId) break;
  }
  if (!healthy) {
    // Closed (bad input) or stuck (a request parked): start over on a new connection and check
    // that the broker still serves everyone else.
    ::close(g_fd);
    g_fd = -1;
    assert_serves();
  }
  return 0;
}
