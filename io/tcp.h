#pragma once
// TCP over the shard's ring: multishot accept, multishot recv into the shard's provided buffer
// ring, sendmsg / SEND_ZC. Listener and connection belong to the shard that first uses them
// (accept / recv / send assert it). See io/README.md for how connections spread over shards.
#include <cstdint>
#include <span>
#include <string>

#include "alloc/iobuf.h"
#include "alloc/result.h"
#include "io/task.h"

namespace sluice::io {

namespace detail {
struct ConnState;
struct ListenerState;
}  // namespace detail

// Fragments at least this large go out with IORING_OP_SEND_ZC (below it, copying is cheaper
// than the page pinning and the extra notification CQE).
inline constexpr std::size_t kSendZcThresholdBytes = 16 * 1024;
// A connection stops its multishot recv (and so stops taking shard buffers) when this many
// received chunks wait for the application; it is re-armed when the application catches up.
inline constexpr uint16_t kMaxQueuedChunksPerConnection = 16;

class TcpConnection {
 public:
  TcpConnection() = default;
  TcpConnection(TcpConnection&& o) noexcept;
  TcpConnection& operator=(TcpConnection&& o) noexcept;
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;
  ~TcpConnection();

  // Resolves host (IPv4/IPv6 literal, "localhost", or a name via getaddrinfo — blocking, so for
  // clients/tests) and connects through the ring. TCP_NODELAY is set.
  static Task<Result<TcpConnection>> connect(const std::string& host, uint16_t port);

  // The next chunk of received bytes. Valid until the next recv() call on this connection (its
  // buffer then goes back to the shard's ring). Empty span = peer closed (EOF). After close():
  // error ECANCELED. One recv at a time per connection.
  Task<Result<std::span<const std::byte>>> recv();
  // Sends every byte (sendmsg over up to 64 fragments at a time; SEND_ZC for fragments >=
  // kSendZcThresholdBytes, waiting for the notification before the IoBuf is released).
  // One send at a time per connection (the caller serialises responses anyway).
  Task<Result<void>> send(alloc::IoBuf data);
  // Sends directly from `data` (no copy): the caller keeps it alive until the task completes.
  Task<Result<void>> send(std::span<const std::byte> data);
  // Closes the socket; a pending recv() then completes with ECANCELED. Idempotent.
  void close();
  int fd() const noexcept;
  bool is_open() const noexcept;
  std::size_t queued_chunks() const noexcept;

 private:
  explicit TcpConnection(detail::ConnState* st) noexcept : st_(st) {}
  void destroy() noexcept;
  detail::ConnState* st_ = nullptr;
  friend class TcpListener;
};

class TcpListener {
 public:
  TcpListener() = default;
  TcpListener(TcpListener&& o) noexcept;
  TcpListener& operator=(TcpListener&& o) noexcept;
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;
  ~TcpListener();

  // SO_REUSEADDR always; reuse_port sets SO_REUSEPORT so each shard can bind the same address
  // (the kernel then spreads incoming connections over the shards' listeners by 4-tuple hash).
  // port 0 = ephemeral; port() tells the bound one. Backlog 4096.
  static Result<TcpListener> bind(const std::string& host, uint16_t port, bool reuse_port);
  uint16_t port() const noexcept;
  int fd() const noexcept;
  // Next accepted connection (multishot accept under the hood). Connections beyond
  // max_connections_per_shard live connections on this shard are closed at once.
  Task<Result<TcpConnection>> accept();
  void close();

 private:
  explicit TcpListener(detail::ListenerState* st) noexcept : st_(st) {}
  void destroy() noexcept;
  detail::ListenerState* st_ = nullptr;
};

}  // namespace sluice::io
