#include "engine/kafka/server/connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <utility>

#include "engine/core/shard_state.h"
#include "engine/kafka/server/kafka_metrics.h"
#include "engine/kafka/server/request.h"
#include "io/logging.h"

namespace sluice::kafka {
namespace {

// Frames up to this size are not charged to the shard's request budget: the per-connection
// limits bound them, and metadata, heartbeats or fetch requests must never queue behind a large
// produce waiting for budget.
constexpr std::size_t kUncountedFrameBytes = 64 * 1024;
// Memory a client that pipelines requests but does not read its responses can pin: Fetch
// responses read from disk own their buffers, so without a bound 128 pipelined 1 MiB fetches
// pin 128 MiB per connection. Real clients keep one Fetch in flight per connection.
constexpr std::size_t kMaxRunningFetches = 2;
constexpr std::size_t kMaxUnsentResponseBytes = 8 << 20;

std::string peer_host(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "unknown";
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof(buf));
  else if (ss.ss_family == AF_INET6)
    ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof(buf));
  return buf;
}

// A connection the broker closes logs one line saying why, at most kCloseLogBurst lines per
// kCloseLogWindowNs per shard (a misbehaving client reconnecting in a loop must not flood the log);
// what was left out is counted in the next line.
constexpr int kCloseLogBurst = 10;
constexpr int64_t kCloseLogWindowNs = 10'000'000'000;
struct CloseLog {
  int64_t window_start_ns = 0;
  int logged = 0;
  int suppressed = 0;
};
thread_local CloseLog t_close_log;

void log_close(const std::string& peer, const char* why, const RequestHeader* h) {
  const int64_t now = io::Shard::current().now_ns();
  CloseLog& l = t_close_log;
  if (l.logged == 0 || now - l.window_start_ns >= kCloseLogWindowNs) {
    l.window_start_ns = now;
    l.logged = 0;
  }
  if (l.logged >= kCloseLogBurst) {
    l.suppressed++;
    return;
  }
  l.logged++;
  char more[64] = "";
  if (l.suppressed > 0) std::snprintf(more, sizeof(more), " (%d similar lines suppressed)", l.suppressed);
  l.suppressed = 0;
  const unsigned shard = core::shard_state().shard_id;
  if (h) {
    const ApiInfo* api = find_api(h->request_api_key);
    const std::string_view name = api ? api->name : std::string_view("unknown");
    const std::string_view client_id = h->client_id ? std::string_view(*h->client_id) : std::string_view();
    std::fprintf(
        stderr, "sluiced: shard %u: closing connection from %s: %s (api %.*s key %d v%d, client id '%.*s')%s\n", shard,
        peer.c_str(), why, static_cast<int>(name.size()), name.data(), h->request_api_key, h->request_api_version,
        static_cast<int>(std::min<std::size_t>(client_id.size(), 100)), client_id.data(), more);
  } else {
    logging::warn("shard {}: closing connection from {}: {}{}", shard, peer, why, more);
  }
}

class Connection;

// Connections with a response send in progress, per shard (intrusive, no allocation per send).
// A peer that stops reading keeps its response, and the shard fetch memory it holds, forever:
// one watchdog per shard closes connections whose response has not gone out within
// sluice.connection.send.timeout.ms, as NATS does with slow consumers.
struct SendWatch {
  Connection* head = nullptr;
  bool watchdog_running = false;
};
thread_local SendWatch t_send_watch;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(io::TcpConnection sock, bool via_shard_broker)
      : sock_(std::move(sock)), peer_(peer_host(sock_.fd())), via_shard_broker_(via_shard_broker) {
    kafka_metrics().connections_accepted++;
    kafka_metrics().connections_open++;
  }
  ~Connection() {
    SLUICE_ASSERT(kafka_metrics().connections_open > 0);
    kafka_metrics().connections_open--;
    if (watched_) unwatch_send();  // a send torn down with the runtime at shutdown
    sock_.close();
  }

  io::Task<void> read_loop();
  // Closes every connection whose current send started before `deadline_ns`; returns how many.
  static int close_stalled_senders(int64_t started_before_ns);

 private:
  struct Slot {
    bool done = false;
    HandlerOutput out;
  };

  io::Task<void> run_request(alloc::BufferRef frame, core::BudgetLease frame_memory, uint64_t seq);
  io::Task<void> pump();
  // Response bytes that will go out before request `seq`'s response (those ahead of it in order).
  std::size_t unsent_before(uint64_t seq) const {
    std::size_t n = sending_bytes_;
    for (std::size_t i = 0; i < slots_.size() && first_seq_ + i < seq; ++i)
      if (slots_[i].done) n += slots_[i].out.frame.size();
    return n;
  }
  void close() {
    if (closed_) return;
    closed_ = true;
    sock_.close();
  }

  io::TcpConnection sock_;
  std::string peer_;
  bool via_shard_broker_ = false;
  std::deque<Slot> slots_;  // in request order; front is the next response to send
  uint64_t first_seq_ = 0;  // sequence number of slots_.front()
  uint64_t next_seq_ = 0;
  std::size_t inflight_bytes_ = 0;
  std::size_t unsent_bytes_ = 0;   // finished responses not yet handed to the kernel
  std::size_t sending_bytes_ = 0;  // the response pump() is sending right now
  std::size_t running_fetches_ = 0;
  io::Event fetch_gate_;  // pulsed when a fetch finishes or a response is sent
  bool sending_ = false;
  bool closed_ = false;
  // SendWatch membership while a send is in progress.
  bool watched_ = false;
  int64_t send_started_ns_ = 0;
  Connection* watch_prev_ = nullptr;
  Connection* watch_next_ = nullptr;
  void watch_send();
  void unwatch_send();
  io::Event slot_freed_;
};

io::Task<void> Connection::read_loop() {
  core::ShardState& st = core::shard_state();
  const auto max_frame = static_cast<std::size_t>(st.config->max_request_bytes);
  const auto max_inflight = static_cast<std::size_t>(st.config->max_inflight_requests_per_connection);
  const auto budget = static_cast<std::size_t>(st.config->connection_budget_bytes);
  auto self = shared_from_this();
  // Received bytes go once, straight into a frame buffer of exactly the announced size; memory
  // for it is taken only after the per-connection and per-shard limits admit it.
  std::array<std::byte, 4> size_prefix{};
  std::size_t prefix_have = 0;
  alloc::BufferRef frame;
  std::size_t frame_have = 0;
  core::BudgetLease frame_memory;
  while (!closed_) {
    auto chunk = co_await sock_.recv();
    if (!chunk.ok() || chunk.value().empty()) break;
    std::span<const std::byte> data = chunk.value();  // valid until the next recv()
    while (!closed_ && !data.empty()) {
      if (!frame) {
        const std::size_t n = std::min(data.size(), size_prefix.size() - prefix_have);
        std::memcpy(size_prefix.data() + prefix_have, data.data(), n);
        prefix_have += n;
        data = data.subspan(n);
        if (prefix_have < size_prefix.size()) break;
        uint32_t raw;
        std::memcpy(&raw, size_prefix.data(), 4);
        const int32_t size = static_cast<int32_t>(ntohl(raw));
        // A negative, tiny or oversized frame cannot be answered: close, as the real broker does.
        if (size < 8 || static_cast<std::size_t>(size) > max_frame) {
          log_close(
              peer_,
              size < 8 ? "request frame size below 8 bytes" : "request frame larger than socket.request.max.bytes",
              nullptr);
          close();
          break;
        }
        const auto frame_bytes = static_cast<std::size_t>(size);
        // Back-pressure: bounded requests and bytes in flight per connection...
        while (!closed_ && !st.stopping &&
               (slots_.size() >= max_inflight || (inflight_bytes_ + unsent_bytes_ > budget && !slots_.empty())))
          co_await slot_freed_.wait(std::chrono::seconds(1));
        // ...and per shard for large frames (small ones are bounded by the connection limits).
        if (frame_bytes > kUncountedFrameBytes) {
          while (!closed_ && !st.stopping && !st.request_budget.fits(frame_bytes)) {
            const int64_t deadline_ns = io::Shard::current().now_ns() + 1'000'000'000;
            (void)co_await st.request_budget.wait_until_fits(frame_bytes, deadline_ns, &st.stopping);
          }
          frame_memory = core::BudgetLease(st.request_budget, frame_bytes);
        }
        if (closed_ || st.stopping) break;
        frame = alloc::BufferRef(alloc::Buffer::allocate(frame_bytes));
        frame_have = 0;
        prefix_have = 0;
      }
      const std::size_t want = frame->capacity() - frame_have;
      const std::size_t n = std::min(data.size(), want);
      std::memcpy(frame->data() + frame_have, data.data(), n);
      frame_have += n;
      data = data.subspan(n);
      if (frame_have < frame->capacity()) break;
      SLUICE_ASSERT(frame_have == frame->capacity());
      inflight_bytes_ += frame_have;
      slots_.emplace_back();
      io::spawn(run_request(std::move(frame), std::exchange(frame_memory, core::BudgetLease{}), next_seq_++));
      frame = alloc::BufferRef();
    }
  }
  close();
}

io::Task<void> Connection::run_request(alloc::BufferRef frame, core::BudgetLease frame_memory, uint64_t seq) {
  auto self = shared_from_this();  // the connection outlives every request it runs
  std::size_t frame_bytes = frame->capacity();
  Reader r(std::span<const std::byte>(frame->data(), frame_bytes));
  HandlerOutput out;
  auto header = decode_request_header(r);
  if (!header.ok()) {
    out = close_connection("malformed request header");
    log_close(peer_, out.close_reason, nullptr);
  } else {
    RequestContext ctx{std::move(header.value()), r.rest(), frame, peer_, via_shard_broker_};
    const bool is_fetch = ctx.header.request_api_key == FetchRequest::kApiKey;
    if (is_fetch) {
      // Fetches run one or two at a time and not while responses ahead of theirs pile up unsent
      // (only those ahead: they drain without this fetch, so the wait cannot deadlock).
      while (!closed_ && !core::shard_state().stopping &&
             (running_fetches_ >= kMaxRunningFetches || unsent_before(seq) > kMaxUnsentResponseBytes))
        co_await fetch_gate_.wait(std::chrono::seconds(1));
      running_fetches_++;
    }
    if (closed_) {
      out.kind = HandlerOutput::Kind::no_response;
    } else {
      out = co_await dispatch_request(ctx);
      if (out.kind == HandlerOutput::Kind::close_connection) log_close(peer_, out.close_reason, &ctx.header);
    }
    if (is_fetch) {
      running_fetches_--;
      fetch_gate_.set();
      fetch_gate_.reset();
    }
  }
  SLUICE_ASSERT(seq >= first_seq_ && seq - first_seq_ < slots_.size());
  Slot& slot = slots_[static_cast<std::size_t>(seq - first_seq_)];
  slot.done = true;
  slot.out = std::move(out);
  inflight_bytes_ -= frame_bytes;
  frame_memory.release();
  unsent_bytes_ += slot.out.frame.size();
  co_await pump();
}

// Sends finished responses in request order; one sender at a time.
io::Task<void> Connection::pump() {
  if (sending_) co_return;
  sending_ = true;
  auto self = shared_from_this();
  while (!slots_.empty() && slots_.front().done) {
    HandlerOutput out = std::move(slots_.front().out);
    slots_.pop_front();
    first_seq_++;
    const std::size_t response_bytes = out.frame.size();
    if (!closed_ && out.kind == HandlerOutput::Kind::close_connection) {
      kafka_metrics().protocol_closes++;
      close();
    }
    if (!closed_ && out.kind == HandlerOutput::Kind::respond) {
      sending_bytes_ = response_bytes;
      watch_send();
      auto sent = co_await sock_.send(std::move(out.frame));
      unwatch_send();
      sending_bytes_ = 0;
      if (!sent.ok()) close();
    }
    // The bytes count as unsent until the kernel has them (or the connection is gone).
    unsent_bytes_ -= response_bytes;
    slot_freed_.set();
    slot_freed_.reset();
    fetch_gate_.set();
    fetch_gate_.reset();
  }
  sending_ = false;
}

void Connection::watch_send() {
  SLUICE_ASSERT(!watched_);
  watched_ = true;
  send_started_ns_ = io::Shard::current().now_ns();
  watch_prev_ = nullptr;
  watch_next_ = t_send_watch.head;
  if (watch_next_) watch_next_->watch_prev_ = this;
  t_send_watch.head = this;
}

void Connection::unwatch_send() {
  SLUICE_ASSERT(watched_);
  watched_ = false;
  if (watch_prev_) watch_prev_->watch_next_ = watch_next_;
  else t_send_watch.head = watch_next_;
  if (watch_next_) watch_next_->watch_prev_ = watch_prev_;
  watch_prev_ = watch_next_ = nullptr;
}

int Connection::close_stalled_senders(int64_t started_before_ns) {
  int closed = 0;
  for (Connection* c = t_send_watch.head; c; c = c->watch_next_) {
    if (c->send_started_ns_ >= started_before_ns || c->closed_) continue;
    // The send fails at once (the socket is shut down); pump() then unwatches it.
    c->close();
    closed++;
  }
  return closed;
}

io::Task<void> send_watchdog() {
  core::ShardState& st = core::shard_state();
  const int64_t timeout_ns = st.config->connection_send_timeout_ms * 1'000'000;
  while (!st.stopping) {
    bool slept = co_await io::sleep_for(
        std::chrono::milliseconds(std::clamp<int64_t>(st.config->connection_send_timeout_ms / 4, 10, 1000)));
    if (!slept) break;
    int n = Connection::close_stalled_senders(io::Shard::current().now_ns() - timeout_ns);
    if (n > 0)
      logging::warn("shard {}: closed {} connection(s) not reading their responses for {} ms", st.shard_id, n,
                    st.config->connection_send_timeout_ms);
  }
  t_send_watch.watchdog_running = false;
}

}  // namespace

io::Task<void> serve_connection(io::TcpConnection sock, bool via_shard_broker) {
  if (!t_send_watch.watchdog_running) {
    t_send_watch.watchdog_running = true;
    io::spawn(send_watchdog());
  }
  auto c = std::make_shared<Connection>(std::move(sock), via_shard_broker);
  co_await c->read_loop();
}

}  // namespace sluice::kafka
