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
      while (!closed_ && (slots_.size() >= max_inflight || (inflight_bytes_ > budget && !slots_.empty())))
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
    out = co_await dispatch_request(ctx);
  }
  SLUICE_ASSERT(seq >= first_seq_ && seq - first_seq_ < slots_.size());
  Slot& slot = slots_[static_cast<std::size_t>(seq - first_seq_)];
  slot.done = true;
  slot.out = std::move(out);
  inflight_bytes_ -= frame_bytes;
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
    slot_freed_.set();
    slot_freed_.reset();
    if (closed_) continue;
    if (out.kind == HandlerOutput::Kind::close_connection) {
      close();
      continue;
    }
    if (out.kind == HandlerOutput::Kind::no_response) continue;
    auto sent = co_await sock_.send(std::move(out.frame));
    if (!sent.ok()) close();
  }
  sending_ = false;
}

}  // namespace

io::Task<void> serve_connection(io::TcpConnection sock) {
  auto c = std::make_shared<Connection>(std::move(sock));
  co_await c->read_loop();
}

}  // namespace sluice::kafka
