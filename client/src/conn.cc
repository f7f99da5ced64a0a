#include "client/src/conn.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sluice::client::detail {

int64_t mono_ms() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}
int64_t wall_ms() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

namespace {
struct ApiRange {
  int16_t api_key;
  int16_t min_version;
  int16_t max_version;
};
// What this client implements, per API. Minimums: message format 2 (Produce v3, Fetch v4), a
// single offset per partition (ListOffsets v1), null = all topics (Metadata v1), generations in
// commits (OffsetCommit v2).
constexpr ApiRange kClientApis[] = {
    {0, 3, 9},   // Produce
    {1, 4, 12},  // Fetch (v13+ names topics by id)
    {2, 1, 7},   // ListOffsets
    {3, 1, 12},  // Metadata
    {8, 2, 8},   // OffsetCommit
    {9, 1, 7},   // OffsetFetch (v8+ batches groups)
    {10, 0, 3},  // FindCoordinator (v4+ batches keys)
    {11, 0, 7},  // JoinGroup
    {12, 0, 4},  // Heartbeat
    {13, 0, 4},  // LeaveGroup
    {14, 0, 5},  // SyncGroup
    {15, 0, 5},  // DescribeGroups
    {16, 0, 4},  // ListGroups
    {18, 0, 3},  // ApiVersions
    {19, 0, 7},  // CreateTopics
    {20, 0, 5},  // DeleteTopics (v6 names topics by state)
    {22, 0, 4},  // InitProducerId
    {32, 0, 4},  // DescribeConfigs
    {37, 0, 3},  // CreatePartitions
    {42, 0, 2},  // DeleteGroups
    {60, 0, 0},  // DescribeCluster
};

const ApiRange* find_api(int16_t api_key) noexcept {
  for (const auto& a : kClientApis)
    if (a.api_key == api_key) return &a;
  return nullptr;
}
}  // namespace

int16_t client_max_version(int16_t api_key) noexcept {
  const ApiRange* a = find_api(api_key);
  return a != nullptr ? a->max_version : int16_t{-1};
}

int16_t client_min_version(int16_t api_key) noexcept {
  const ApiRange* a = find_api(api_key);
  return a != nullptr ? a->min_version : int16_t{0};
}

Conn::~Conn() { close(); }

void Conn::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status Conn::fail_io(const char* what) {
  const int e = errno;
  close();
  return make_error(Errc::kNetwork, address_ + ": " + what + (e ? std::string(": ") + std::strerror(e) : ""));
}

Error Conn::malformed(std::string_view api, const char* what) {
  // The stream position is unknown after a bad frame: the connection cannot be reused.
  close();
  return make_error(Errc::kMalformedResponse,
                    address_ + ": malformed " + std::string(api) + ": " + (what && *what ? what : "decode error"));
}

Error Conn::unsupported(std::string_view api) const {
  return make_error(Errc::kUnsupportedVersion,
                    address_ + " implements no version of " + std::string(api) + " this client speaks");
}

Status Conn::connect(const std::string& host, int32_t port, const std::string& client_id, int timeout_ms) {
  close();
  address_ = host + ":" + std::to_string(port);
  client_id_ = client_id;
  next_corr_ = 1;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port_str = std::to_string(port);
  if (getaddrinfo(host.c_str(), port_str.c_str(), &hints, &res) != 0 || res == nullptr)
    return make_error(Errc::kNetwork, "cannot resolve " + address_);
  std::string why = "connect failed";
  for (addrinfo* a = res; a != nullptr && fd_ < 0; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = ::poll(&p, 1, timeout_ms);
      int err = 0;
      socklen_t len = sizeof err;
      if (rc == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
        rc = 0;
      } else {
        why = rc == 0 ? "connect timed out" : std::string("connect: ") + std::strerror(err != 0 ? err : errno);
        rc = -1;
      }
    } else if (rc != 0) {
      why = std::string("connect: ") + std::strerror(errno);
    }
    if (rc == 0) {
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      fd_ = fd;
    } else {
      ::close(fd);
    }
  }
  freeaddrinfo(res);
  if (fd_ < 0) return make_error(Errc::kNetwork, address_ + ": " + why);
  return negotiate(timeout_ms);
}

Status Conn::negotiate(int timeout_ms) {
  versions_.fill(-1);
  kafka::ApiVersionsRequest req;
  req.client_software_name = "sluice-client";
  req.client_software_version = "0.1.0";
  kafka::ApiVersionsResponse resp;
  auto st = call_version(3, req, resp, timeout_ms);
  if (st.ok() && resp.error_code == kafka::code(kafka::ErrorCode::UNSUPPORTED_VERSION)) {
    // KIP-511: the broker answered in v0 and lists what it supports; ask again with v0.
    resp = {};
    st = call_version(0, req, resp, timeout_ms);
  }
  if (!st.ok()) return st;
  if (resp.error_code != 0) return broker_error(resp.error_code, address_ + " ApiVersions");
  for (const auto& k : resp.api_keys) {
    if (k.api_key < 0 || static_cast<std::size_t>(k.api_key) >= versions_.size()) continue;
    const int16_t hi = std::min(k.max_version, client_max_version(k.api_key));
    const int16_t lo = std::max(k.min_version, client_min_version(k.api_key));
    if (hi >= lo && hi >= 0) versions_[static_cast<std::size_t>(k.api_key)] = hi;
  }
  return {};
}

Status Conn::send_frame(const alloc::IoBuf& frame) {
  if (fd_ < 0) return make_error(Errc::kNetwork, address_ + ": not connected");
  const auto frags = frame.fragments();
  std::size_t i = 0;
  std::size_t off = 0;
  while (i < frags.size()) {
    std::array<iovec, 64> iov{};
    std::size_t n = 0;
    for (std::size_t j = i; j < frags.size() && n < iov.size(); ++j, ++n) {
      auto b = frags[j].bytes();
      const std::size_t skip = (j == i) ? off : 0;
      iov[n].iov_base = const_cast<std::byte*>(b.data() + skip);
      iov[n].iov_len = b.size() - skip;
    }
    msghdr m{};
    m.msg_iov = iov.data();
    m.msg_iovlen = n;
    const ssize_t w = ::sendmsg(fd_, &m, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        pollfd p{fd_, POLLOUT, 0};
        (void)::poll(&p, 1, 1000);
        continue;
      }
      return fail_io("send");
    }
    auto left = static_cast<std::size_t>(w);
    while (i < frags.size() && left > 0) {
      const std::size_t rem = frags[i].length - off;
      if (left >= rem) {
        left -= rem;
        ++i;
        off = 0;
      } else {
        off += left;
        left = 0;
      }
    }
  }
  return {};
}

Status Conn::read_exact(std::byte* p, std::size_t n, int64_t deadline_ms) {
  while (n > 0) {
    const ssize_t r = ::recv(fd_, p, n, MSG_DONTWAIT);
    if (r > 0) {
      p += r;
      n -= static_cast<std::size_t>(r);
      continue;
    }
    if (r == 0) {
      errno = 0;
      return fail_io("connection closed by the server");
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return fail_io("recv");
    const int64_t left = deadline_ms - mono_ms();
    if (left <= 0) {
      close();  // a response may still arrive: the stream is out of step
      return make_error(Errc::kTimeout, address_ + ": no response in time");
    }
    pollfd pf{fd_, POLLIN, 0};
    (void)::poll(&pf, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
  }
  return {};
}

Result<std::span<const std::byte>> Conn::read_frame(int64_t deadline_ms) {
  if (fd_ < 0) return make_error(Errc::kNetwork, address_ + ": not connected");
  std::array<std::byte, 4> hdr{};
  auto st = read_exact(hdr.data(), 4, deadline_ms);
  if (!st.ok()) return st.error();
  const uint32_t n = kafka::detail::load_be<uint32_t>(hdr.data());
  if (n < 4 || n > kMaxResponseBytes) {
    close();
    return make_error(Errc::kMalformedResponse, address_ + ": bad response size " + std::to_string(n));
  }
  if (rbuf_.size() < n) rbuf_.resize(n);
  st = read_exact(rbuf_.data(), n, deadline_ms);
  if (!st.ok()) return st.error();
  return std::span<const std::byte>(rbuf_.data(), n);
}

}  // namespace sluice::client::detail
