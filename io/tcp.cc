#include "io/tcp.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "io/buf_ring.h"
#include "io/runtime.h"
#include "io/shard.h"

#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

namespace sluice::io {
namespace detail {

// One per connection (allocated once at accept/connect). It is the multishot recv op itself, so
// it must outlive the final CQE: a connection destroyed while armed is 'orphaned' and freed by
// that CQE's handler.
struct ConnState : IoOp, StarvedNode {
  Shard* shard = nullptr;
  int fd = -1;
  bool armed = false;
  bool eof = false;
  bool closed = false;
  bool orphaned = false;
  bool throttled = false;  // we cancelled the multishot because too many chunks were queued
  bool counted = false;    // counts toward max_connections_per_shard (accepted side)
  bool sending = false;
  int error = 0;
  uint16_t q_head = kNoBuf;
  uint16_t q_tail = kNoBuf;
  uint16_t q_count = 0;
  uint16_t current = kNoBuf;  // buffer behind the span the last recv() returned
  std::coroutine_handle<> waiter;
  ReadyNode ready;
};

void close_conn(ConnState* c);

struct ListenerState : IoOp {
  static constexpr uint32_t kQueueCap = 256;  // accepted, not yet handed to accept() callers
  Shard* shard = nullptr;
  int fd = -1;
  uint16_t port = 0;
  bool armed = false;
  bool closed = false;
  bool orphaned = false;
  int error = 0;
  uint32_t q_head = 0;
  uint32_t q_count = 0;
  int queue[kQueueCap];
  std::coroutine_handle<> waiter;
  ReadyNode ready;
};

namespace {

void set_nodelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

Result<socklen_t> resolve(const std::string& host, uint16_t port, sockaddr_storage* ss) {
  std::memset(ss, 0, sizeof *ss);
  std::string h = host.empty() ? "0.0.0.0" : host == "localhost" ? "127.0.0.1" : host;
  auto* v4 = reinterpret_cast<sockaddr_in*>(ss);
  if (::inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return static_cast<socklen_t>(sizeof(sockaddr_in));
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (::inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return static_cast<socklen_t>(sizeof(sockaddr_in6));
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(h.c_str(), nullptr, &hints, &res) != 0 || !res) return make_error(EINVAL, "cannot resolve host");
  std::memcpy(ss, res->ai_addr, res->ai_addrlen);
  socklen_t len = res->ai_addrlen;
  ::freeaddrinfo(res);
  if (ss->ss_family == AF_INET) v4->sin_port = htons(port);
  else v6->sin6_port = htons(port);
  return len;
}

// ---- recv side

void recycle_all(ConnState* c) {
  BufRing& br = *c->shard->recv_buffers();
  if (c->current != kNoBuf) br.recycle(std::exchange(c->current, kNoBuf));
  while (c->q_head != kNoBuf) {
    uint16_t b = c->q_head;
    c->q_head = br.next(b);
    br.recycle(b);
  }
  c->q_tail = kNoBuf;
  c->q_count = 0;
}

void free_conn(ConnState* c) {
  if (c->counted) {
    SLUICE_ASSERT(c->shard->live_connections() > 0);
    c->shard->live_connections()--;
  }
  delete c;
}

void wake_conn(ConnState* c) {
  if (c->waiter) std::exchange(c->waiter, {}).resume();  // last action: the waiter may free c
}

void on_recv_cqe(IoOp* op, int32_t res, uint32_t flags);

bool arm_recv(ConnState* c) {
  SLUICE_ASSERT(!c->armed && !c->closed);
  io_uring_sqe* sqe = c->shard->sqe_for_op();
  if (!sqe) {  // draining
    c->error = ECANCELED;
    return false;
  }
  io_uring_prep_recv_multishot(sqe, c->fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = c->shard->recv_buffers()->group_id();
  c->shard->track(sqe, c);
  c->armed = true;
  c->throttled = false;
  return true;
}

void on_recv_cqe(IoOp* op, int32_t res, uint32_t flags) {
  auto* c = static_cast<ConnState*>(op);
  BufRing& br = *c->shard->recv_buffers();
  bool enobufs = false;
  if (flags & IORING_CQE_F_BUFFER) {
    auto bid = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
    br.taken(bid);
    if (res > 0 && !c->closed && !c->orphaned) {
      br.length(bid) = static_cast<uint32_t>(res);
      br.next(bid) = kNoBuf;
      if (c->q_tail != kNoBuf) br.next(c->q_tail) = bid;
      else c->q_head = bid;
      c->q_tail = bid;
      c->q_count++;
    } else {
      br.recycle(bid);
    }
  }
  if (res == 0) c->eof = true;
  else if (res == -ENOBUFS) enobufs = true;
  else if (res == -ECANCELED) {
    if (!c->throttled && !c->closed) c->error = ECANCELED;
  } else if (res < 0) c->error = -res;
  if (!(flags & IORING_CQE_F_MORE)) {
    c->armed = false;
    if (c->orphaned) {
      free_conn(c);
      return;
    }
    if (enobufs) {
      c->shard->mutable_stats().recv_enobufs++;
      if (!c->closed && !c->shard->draining()) c->shard->add_starved(c);
      else c->error = ECANCELED;
    } else if (!c->eof && !c->error && !c->closed && !c->throttled) {
      arm_recv(c);
    }
  } else if (c->q_count >= kMaxQueuedChunksPerConnection && !c->throttled) {
    c->throttled = true;  // stop taking shard buffers until the application catches up
    c->shard->cancel_op(c);
  }
  wake_conn(c);
}

void rearm_starved_conn(StarvedNode* n) {
  auto* c = static_cast<ConnState*>(n);
  if (c->closed || c->armed) return;
  arm_recv(c);
}

void drain_starved_conn(StarvedNode* n) {
  auto* c = static_cast<ConnState*>(n);
  c->error = ECANCELED;
  if (c->waiter) {
    c->ready.handle = std::exchange(c->waiter, {});
    c->shard->schedule(&c->ready);
  }
}

ConnState* new_conn(Shard& s, int fd, bool counted) {
  auto* c = new ConnState();
  c->on_cqe = &on_recv_cqe;
  c->rearm = &rearm_starved_conn;
  c->drain = &drain_starved_conn;
  c->shard = &s;
  c->fd = fd;
  c->counted = counted;
  if (counted) s.live_connections()++;
  set_nodelay(fd);
  return c;
}

struct RecvWait {
  ConnState* c;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) noexcept {
    SLUICE_ASSERT_MSG(!c->waiter, "one recv() at a time per connection");
    c->waiter = h;
  }
  void await_resume() const noexcept {}
};

// ---- SEND_ZC: done only after both the result CQE and the notification CQE.

struct ZcSend : IoOp {
  int fd;
  const std::byte* data;
  std::size_t len;
  int32_t res = 0;
  std::coroutine_handle<> handle;
  Shard* shard = nullptr;

  ZcSend(int f, const std::byte* d, std::size_t n) : fd(f), data(d), len(n) { on_cqe = &complete; }
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    shard = &Shard::current();
    io_uring_sqe* sqe = shard->sqe_for_op();
    if (!sqe) {
      res = -ECANCELED;
      return false;
    }
    io_uring_prep_send_zc(sqe, fd, data, len, MSG_NOSIGNAL, 0);
    sqe->ioprio |= IORING_SEND_ZC_REPORT_USAGE;
    shard->track(sqe, this);
    shard->mutable_stats().zc_sends++;
    handle = h;
    return true;
  }
  int32_t await_resume() const noexcept { return res; }
  static void complete(IoOp* op, int32_t r, uint32_t flags) {
    auto* self = static_cast<ZcSend*>(op);
    if (flags & IORING_CQE_F_NOTIF) {
      if (static_cast<uint32_t>(r) & IORING_NOTIF_USAGE_ZC_COPIED) self->shard->mutable_stats().zc_copied++;
      self->handle.resume();
      return;
    }
    self->res = r;
    if (!(flags & IORING_CQE_F_MORE)) self->handle.resume();  // failed: no notification follows
  }
};

struct SendGuard {
  ConnState* c;
  explicit SendGuard(ConnState* conn) : c(conn) {
    SLUICE_ASSERT_MSG(!c->sending, "one send() at a time per connection");
    c->sending = true;
  }
  ~SendGuard() { c->sending = false; }
};

// ---- accept side

void wake_listener(ListenerState* l) {
  if (l->waiter) std::exchange(l->waiter, {}).resume();
}

void free_listener(ListenerState* l) {
  while (l->q_count > 0) {
    ::close(l->queue[l->q_head]);
    l->q_head = (l->q_head + 1) % ListenerState::kQueueCap;
    l->q_count--;
  }
  delete l;
}

void on_accept_cqe(IoOp* op, int32_t res, uint32_t flags) {
  auto* l = static_cast<ListenerState*>(op);
  if (res >= 0) {
    uint32_t limit = l->shard->config().max_connections_per_shard;
    if (l->closed || l->orphaned || l->q_count == ListenerState::kQueueCap ||
        l->shard->live_connections() + l->q_count >= limit) {
      ::close(res);
      l->shard->mutable_stats().accepts_rejected++;
    } else {
      l->queue[(l->q_head + l->q_count) % ListenerState::kQueueCap] = res;
      l->q_count++;
    }
  } else if (!(res == -ECANCELED && l->closed)) {
    l->error = -res;
  }
  if (!(flags & IORING_CQE_F_MORE)) {
    l->armed = false;
    if (l->orphaned) {
      free_listener(l);
      return;
    }
  }
  wake_listener(l);
}

bool arm_accept(ListenerState* l) {
  SLUICE_ASSERT(!l->armed && !l->closed);
  io_uring_sqe* sqe = l->shard->sqe_for_op();
  if (!sqe) {
    l->error = ECANCELED;
    return false;
  }
  io_uring_prep_multishot_accept(sqe, l->fd, nullptr, nullptr, SOCK_CLOEXEC);
  l->shard->track(sqe, l);
  l->armed = true;
  return true;
}

struct AcceptWait {
  ListenerState* l;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) noexcept {
    SLUICE_ASSERT_MSG(!l->waiter, "one accept() at a time per listener");
    l->waiter = h;
  }
  void await_resume() const noexcept {}
};

}  // namespace
}  // namespace detail

// ---------------------------------------------------------------- TcpConnection

TcpConnection::TcpConnection(TcpConnection&& o) noexcept : st_(std::exchange(o.st_, nullptr)) {}
TcpConnection& TcpConnection::operator=(TcpConnection&& o) noexcept {
  if (this != &o) {
    destroy();
    st_ = std::exchange(o.st_, nullptr);
  }
  return *this;
}
TcpConnection::~TcpConnection() { destroy(); }

void TcpConnection::destroy() noexcept {
  if (!st_) return;
  detail::ConnState* c = std::exchange(st_, nullptr);
  SLUICE_ASSERT_MSG(!c->sending, "TcpConnection destroyed during send()");
  SLUICE_ASSERT_MSG(!c->waiter, "TcpConnection destroyed during recv()");
  detail::close_conn(c);
  if (c->armed) c->orphaned = true;  // the final CQE frees it
  else detail::free_conn(c);
}

int TcpConnection::fd() const noexcept { return st_ ? st_->fd : -1; }
bool TcpConnection::is_open() const noexcept { return st_ && !st_->closed; }
std::size_t TcpConnection::queued_chunks() const noexcept { return st_ ? st_->q_count : 0; }

void TcpConnection::close() {
  if (st_) detail::close_conn(st_);
}

void detail::close_conn(ConnState* c) {
  SLUICE_ASSERT_MSG(Shard::on_shard() && c->shard == &Shard::current(),
                    "TcpConnection used off its shard (destroy connections before Runtime::run returns)");
  if (c->closed) return;
  c->closed = true;
  if (c->armed) c->shard->cancel_op(c);  // its final CQE wakes a pending recv()
  c->shard->remove_starved(c);
  detail::recycle_all(c);
  // In-flight ops hold their own file reference, so close() alone would leave a send to a peer
  // that never reads blocked forever (and its buffers pinned): shutdown fails it at once. With a
  // send in flight the close is abortive (RST): queued bytes for a peer that does not read would
  // otherwise keep zero-copy pages, and their notifications, pending for minutes.
  if (c->sending) {
    linger abort_on_close{1, 0};
    ::setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof(abort_on_close));
  }
  ::shutdown(c->fd, SHUT_RDWR);
  ::close(c->fd);
  if (c->waiter && !c->armed) {
    c->ready.handle = std::exchange(c->waiter, {});
    c->shard->schedule(&c->ready);
  }
}

Task<Result<TcpConnection>> TcpConnection::connect(const std::string& host, uint16_t port) {
  sockaddr_storage ss;
  auto len = detail::resolve(host, port, &ss);
  if (!len) co_return len.error();
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) co_return make_error(errno, "socket failed");
  socklen_t sl = len.value();
  int res = co_await detail::ring_op(
      [&](io_uring_sqe* sqe) { io_uring_prep_connect(sqe, fd, reinterpret_cast<sockaddr*>(&ss), sl); });
  if (res < 0) {
    ::close(fd);
    co_return make_error(-res, "connect failed");
  }
  co_return TcpConnection(detail::new_conn(Shard::current(), fd, false));
}

Task<Result<std::span<const std::byte>>> TcpConnection::recv() {
  detail::ConnState* c = st_;
  SLUICE_ASSERT(c && c->shard == &Shard::current());
  detail::BufRing& br = *c->shard->recv_buffers();
  if (c->current != detail::kNoBuf) br.recycle(std::exchange(c->current, detail::kNoBuf));
  while (c->q_count == 0) {
    if (c->closed) co_return make_error(ECANCELED, "connection closed");
    if (c->error) co_return make_error(c->error, "recv failed");
    if (c->eof) co_return std::span<const std::byte>{};
    if (!c->armed && !c->starved && !detail::arm_recv(c)) continue;
    co_await detail::RecvWait{c};
  }
  uint16_t bid = c->q_head;
  c->q_head = br.next(bid);
  if (c->q_head == detail::kNoBuf) c->q_tail = detail::kNoBuf;
  c->q_count--;
  c->current = bid;
  // Throttled connections resume taking buffers once the application has caught up.
  if (c->throttled && !c->armed && !c->starved && c->q_count <= kMaxQueuedChunksPerConnection / 2 && !c->closed &&
      !c->eof && !c->error)
    detail::arm_recv(c);
  co_return std::span<const std::byte>(br.buffer(bid), br.length(bid));
}

Task<Result<void>> TcpConnection::send(std::span<const std::byte> data) {
  detail::ConnState* c = st_;
  SLUICE_ASSERT(c && c->shard == &Shard::current());
  detail::SendGuard guard(c);
  while (!data.empty()) {
    if (c->closed) co_return make_error(EBADF, "connection closed");
    unsigned n = static_cast<unsigned>(std::min<std::size_t>(data.size(), 1u << 30));
    int res = co_await detail::ring_op(
        [&](io_uring_sqe* sqe) { io_uring_prep_send(sqe, c->fd, data.data(), n, MSG_NOSIGNAL); });
    if (res < 0) co_return make_error(-res, "send failed");
    data = data.subspan(static_cast<std::size_t>(res));
  }
  co_return ok_result();
}

Task<Result<void>> TcpConnection::send(alloc::IoBuf data) {
  constexpr std::size_t kMaxIov = 64;
  detail::ConnState* c = st_;
  SLUICE_ASSERT(c && c->shard == &Shard::current());
  detail::SendGuard guard(c);
  const bool zc = c->shard->send_zc_supported();
  iovec iov[kMaxIov];
  while (!data.empty()) {
    if (c->closed) co_return make_error(EBADF, "connection closed");
    const auto& frags = data.fragments();
    int res;
    if (zc && frags[0].length >= kSendZcThresholdBytes) {
      auto bytes = frags[0].bytes();
      res = co_await detail::ZcSend(c->fd, bytes.data(), std::min<std::size_t>(bytes.size(), 1u << 30));
    } else {
      std::size_t n = 0;
      for (const auto& f : frags) {
        if (n == kMaxIov || (zc && f.length >= kSendZcThresholdBytes)) break;
        iov[n++] = iovec{const_cast<std::byte*>(f.bytes().data()), f.length};
      }
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = n;
      res = co_await detail::ring_op([&](io_uring_sqe* sqe) { io_uring_prep_sendmsg(sqe, c->fd, &msg, MSG_NOSIGNAL); });
    }
    if (res < 0) co_return make_error(-res, "send failed");
    data.trim_front(static_cast<std::size_t>(res));
  }
  co_return ok_result();
}

// ---------------------------------------------------------------- TcpListener

TcpListener::TcpListener(TcpListener&& o) noexcept : st_(std::exchange(o.st_, nullptr)) {}
TcpListener& TcpListener::operator=(TcpListener&& o) noexcept {
  if (this != &o) {
    destroy();
    st_ = std::exchange(o.st_, nullptr);
  }
  return *this;
}
TcpListener::~TcpListener() { destroy(); }

void TcpListener::destroy() noexcept {
  if (!st_) return;
  detail::ListenerState* l = st_;
  SLUICE_ASSERT_MSG(!l->waiter, "TcpListener destroyed during accept()");
  close();
  st_ = nullptr;
  if (l->armed) l->orphaned = true;
  else detail::free_listener(l);
}

Result<TcpListener> TcpListener::bind(const std::string& host, uint16_t port, bool reuse_port) {
  sockaddr_storage ss;
  auto len = detail::resolve(host, port, &ss);
  if (!len) return len.error();
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error(errno, "socket failed");
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    int e = errno;
    ::close(fd);
    return make_error(e, "setsockopt(SO_REUSEPORT) failed");
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len.value()) != 0 || ::listen(fd, 4096) != 0) {
    int e = errno;
    ::close(fd);
    return make_error(e, "bind/listen failed");
  }
  sockaddr_storage bound;
  socklen_t bl = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bl);
  auto* l = new detail::ListenerState();
  l->on_cqe = &detail::on_accept_cqe;
  l->fd = fd;
  l->port = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                             : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  return TcpListener(l);
}

uint16_t TcpListener::port() const noexcept { return st_ ? st_->port : 0; }
int TcpListener::fd() const noexcept { return st_ ? st_->fd : -1; }

Task<Result<TcpConnection>> TcpListener::accept() {
  detail::ListenerState* l = st_;
  SLUICE_ASSERT(l);
  Shard& s = Shard::current();
  if (!l->shard) l->shard = &s;
  SLUICE_ASSERT_MSG(l->shard == &s, "a listener is used by one shard only");
  while (l->q_count == 0) {
    if (l->closed) co_return make_error(EBADF, "listener closed");
    if (l->error) co_return make_error(std::exchange(l->error, 0), "accept failed");  // re-armed next call
    if (!l->armed && !detail::arm_accept(l)) continue;
    co_await detail::AcceptWait{l};
  }
  int fd = l->queue[l->q_head];
  l->q_head = (l->q_head + 1) % detail::ListenerState::kQueueCap;
  l->q_count--;
  co_return TcpConnection(detail::new_conn(s, fd, true));
}

void TcpListener::close() {
  if (!st_ || st_->closed) return;
  detail::ListenerState* l = st_;
  l->closed = true;
  if (l->armed) l->shard->cancel_op(l);
  ::close(l->fd);
  if (l->waiter && !l->armed) {
    l->ready.handle = std::exchange(l->waiter, {});
    l->shard->schedule(&l->ready);
  }
}

}  // namespace sluice::io
