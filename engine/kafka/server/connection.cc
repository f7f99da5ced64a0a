#include "engine/kafka/server/connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <deque>
#include <memory>

#include "engine/kafka/server/request.h"
#include "engine/kafka/server/shard_state.h"

namespace sluice::kafka {
namespace {

constexpr std::size_t kCompactThresholdBytes = 64 * 1024;
// Memory a client that pipelines requests but does not read its responses can pin: Fetch
// responses read from disk own their buffers, so without a bound 128 pipelined 1 MiB fetches
// pin 128 MiB per connection. Real clients keep one Fetch in flight per connection.
constexpr std::size_t kMaxRunningFetches = 2;
constexpr std::size_t kMaxUnsentResponseBytes = 8 << 20;
constexpr int16_t kFetchApiKey = 1;

std::string peer_host(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "unknown";
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET)
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof(buf));
  else if (ss.ss_family == AF_INET6)
    ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof(buf));
  return buf;
}

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  explicit Connection(io::TcpConnection sock) : sock_(std::move(sock)), peer_(peer_host(sock_.fd())) {}
  ~Connection() { sock_.close(); }

  io::Task<void> read_loop();

 private:
  struct Slot {
    bool done = false;
    HandlerOutput out;
  };

  io::Task<void> run_request(alloc::BufferRef frame, uint64_t seq);
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
  std::deque<Slot> slots_;      // in request order; front is the next response to send
  uint64_t first_seq_ = 0;      // sequence number of slots_.front()
  uint64_t next_seq_ = 0;
  std::size_t inflight_bytes_ = 0;
  std::size_t unsent_bytes_ = 0;   // finished responses not yet handed to the kernel
  std::size_t sending_bytes_ = 0;  // the response pump() is sending right now
  std::size_t running_fetches_ = 0;
  io::Event fetch_gate_;           // pulsed when a fetch finishes or a response is sent
  bool sending_ = false;
  bool closed_ = false;
  io::Event slot_freed_;
};

io::Task<void> Connection::read_loop() {
  const ShardState& st = shard_state();
  const auto max_frame = static_cast<std::size_t>(st.config->max_request_bytes);
  const auto max_inflight = static_cast<std::size_t>(st.config->max_inflight_requests_per_connection);
  const auto budget = static_cast<std::size_t>(st.config->connection_budget_bytes);
  std::vector<std::byte> acc;
  std::size_t rd = 0;
  auto self = shared_from_this();
  while (!closed_) {
    auto chunk = co_await sock_.recv();
    if (!chunk.ok() || chunk.value().empty()) break;
    acc.insert(acc.end(), chunk.value().begin(), chunk.value().end());
    while (!closed_ && acc.size() - rd >= 4) {
      uint32_t raw;
      std::memcpy(&raw, acc.data() + rd, 4);
      int32_t size = static_cast<int32_t>(ntohl(raw));
      // A negative, tiny or oversized frame cannot be answered: close, as the real broker does.
      if (size < 8 || static_cast<std::size_t>(size) > max_frame) {
        close();
        break;
      }
      if (acc.size() - rd - 4 < static_cast<std::size_t>(size)) break;
      // Back-pressure: bounded requests and bytes in flight per connection.
      while (!closed_ && !st.stopping &&
             (slots_.size() >= max_inflight || (inflight_bytes_ + unsent_bytes_ > budget && !slots_.empty())))
        co_await slot_freed_.wait(std::chrono::seconds(1));
      if (closed_) break;
      alloc::BufferRef frame(alloc::Buffer::allocate(static_cast<std::size_t>(size)));
      std::memcpy(frame->data(), acc.data() + rd + 4, static_cast<std::size_t>(size));
      rd += 4 + static_cast<std::size_t>(size);
      inflight_bytes_ += static_cast<std::size_t>(size);
      slots_.emplace_back();
      io::spawn(run_request(std::move(frame), next_seq_++));
    }
    if (rd == acc.size()) {
      acc.clear();
      rd = 0;
    } else if (rd > kCompactThresholdBytes) {
      acc.erase(acc.begin(), acc.begin() + static_cast<std::ptrdiff_t>(rd));
      rd = 0;
    }
  }
  close();
}

io::Task<void> Connection::run_request(alloc::BufferRef frame, uint64_t seq) {
  auto self = shared_from_this();  // the connection outlives every request it runs
  std::size_t frame_bytes = frame->capacity();
  Reader r(std::span<const std::byte>(frame->data(), frame_bytes));
  HandlerOutput out;
  auto header = decode_request_header(r);
  if (!header.ok()) {
    out = close_connection("malformed request header");
  } else {
    RequestContext ctx{std::move(header.value()), r.rest(), frame, peer_};
    const bool is_fetch = ctx.header.request_api_key == kFetchApiKey;
    if (is_fetch) {
      // Fetches run one or two at a time and not while responses ahead of theirs pile up unsent
      // (only those ahead: they drain without this fetch, so the wait cannot deadlock).
      while (!closed_ && !shard_state().stopping &&
             (running_fetches_ >= kMaxRunningFetches || unsent_before(seq) > kMaxUnsentResponseBytes))
        co_await fetch_gate_.wait(std::chrono::seconds(1));
      running_fetches_++;
    }
    if (closed_) {
      out.kind = HandlerOutput::Kind::no_response;
    } else {
      out = co_await dispatch_request(ctx);
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
    if (!closed_ && out.kind == HandlerOutput::Kind::close_connection) close();
    if (!closed_ && out.kind == HandlerOutput::Kind::respond) {
      sending_bytes_ = response_bytes;
      auto sent = co_await sock_.send(std::move(out.frame));
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

}  // namespace

io::Task<void> serve_connection(io::TcpConnection sock) {
  auto c = std::make_shared<Connection>(std::move(sock));
  co_await c->read_loop();
}

}  // namespace sluice::kafka
