#include "bench/e2e/kafka_client.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace sluice::bench {

int64_t mono_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}
int64_t wall_ms() noexcept {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000LL + ts.tv_nsec / 1000000;
}

KafkaConn::~KafkaConn() { close(); }

void KafkaConn::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool KafkaConn::connect(const std::string& host_port, std::string* err) {
  auto colon = host_port.rfind(':');
  if (colon == std::string::npos) return fail(err, "bootstrap must be HOST:PORT");
  std::string host = host_port.substr(0, colon), port = host_port.substr(colon + 1);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || !res) return fail(err, "cannot resolve bootstrap");
  for (addrinfo* a = res; a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      fd_ = fd;
      break;
    }
    ::close(fd);
  }
  freeaddrinfo(res);
  if (fd_ < 0) return fail(err, "connect failed");
  return true;
}

bool KafkaConn::send_iobuf(const alloc::IoBuf& frame) {
  const auto& frags = frame.fragments();
  std::size_t i = 0, off = 0;
  while (i < frags.size()) {
    iovec iov[64];
    int n = 0;
    for (std::size_t j = i; j < frags.size() && n < 64; ++j, ++n) {
      auto b = frags[j].bytes();
      std::size_t skip = (j == i) ? off : 0;
      iov[n].iov_base = const_cast<std::byte*>(b.data() + skip);
      iov[n].iov_len = b.size() - skip;
    }
    msghdr m{};
    m.msg_iov = iov;
    m.msg_iovlen = static_cast<std::size_t>(n);
    ssize_t w = ::sendmsg(fd_, &m, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    auto left = static_cast<std::size_t>(w);
    while (i < frags.size() && left > 0) {
      std::size_t rem = frags[i].length - off;
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
  return true;
}

bool KafkaConn::read_exact(std::byte* p, std::size_t n) {
  while (n > 0) {
    ssize_t r = ::recv(fd_, p, n, spin_ ? MSG_DONTWAIT : 0);
    if (r > 0) {
      p += r;
      n -= static_cast<std::size_t>(r);
      continue;
    }
    if (r == 0) return false;
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
    return false;
  }
  return true;
}

std::span<const std::byte> KafkaConn::read_frame() {
  std::byte hdr[4];
  if (fd_ < 0 || !read_exact(hdr, 4)) return {};
  uint32_t n = (static_cast<uint32_t>(hdr[0]) << 24) | (static_cast<uint32_t>(hdr[1]) << 16) |
               (static_cast<uint32_t>(hdr[2]) << 8) | static_cast<uint32_t>(hdr[3]);
  if (n == 0 || n > (256u << 20)) return {};
  if (rbuf_.size() < n) rbuf_.resize(n);
  if (!read_exact(rbuf_.data(), n)) return {};
  return {rbuf_.data(), n};
}

int create_topic(KafkaConn& c, const std::string& topic, int32_t partitions, const std::vector<std::string>& configs,
                 std::string* err) {
  kafka::CreateTopicsRequest req;
  req.timeout_ms = 30000;
  auto& t = req.topics.emplace_back();
  t.name = topic;
  t.num_partitions = partitions;
  t.replication_factor = 1;
  for (const auto& kv : configs) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    auto& cfg = t.configs.emplace_back();
    cfg.name = kv.substr(0, eq);
    cfg.value = kv.substr(eq + 1);
  }
  kafka::CreateTopicsResponse resp;
  if (!c.call(4, req, resp, err)) return -1;
  if (resp.topics.empty()) {
    if (err) *err = "empty CreateTopics response";
    return -1;
  }
  if (resp.topics[0].error_code != 0 && err && resp.topics[0].error_message) *err = *resp.topics[0].error_message;
  return resp.topics[0].error_code;
}

bool wait_topic_ready(KafkaConn& c, const std::string& topic, int32_t partitions, int timeout_ms, std::string* err) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    kafka::MetadataRequest req;
    req.topics.emplace();
    req.topics->push_back({{}, topic});
    req.allow_auto_topic_creation = false;
    kafka::MetadataResponse resp;
    if (!c.call(7, req, resp, err)) return false;
    if (!resp.topics.empty() && resp.topics[0].error_code == 0 &&
        static_cast<int32_t>(resp.topics[0].partitions.size()) >= partitions) {
      bool all = true;
      for (auto& p : resp.topics[0].partitions) all = all && p.error_code == 0 && p.leader_id >= 0;
      if (all) return true;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      if (err) *err = "topic not ready (metadata)";
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool latest_offsets(KafkaConn& c, const std::string& topic, int32_t partitions, std::vector<int64_t>& out,
                    std::string* err) {
  kafka::ListOffsetsRequest req;
  req.replica_id = -1;
  auto& t = req.topics.emplace_back();
  t.name = topic;
  for (int32_t p = 0; p < partitions; ++p) {
    auto& lp = t.partitions.emplace_back();
    lp.partition_index = p;
    lp.timestamp = -1;  // latest
  }
  kafka::ListOffsetsResponse resp;
  if (!c.call(5, req, resp, err)) return false;
  out.assign(static_cast<std::size_t>(partitions), 0);
  for (auto& rt : resp.topics)
    for (auto& rp : rt.partitions) {
      if (rp.error_code != 0) {
        if (err) *err = "ListOffsets error " + std::to_string(rp.error_code);
        return false;
      }
      if (rp.partition_index >= 0 && rp.partition_index < partitions)
        out[static_cast<std::size_t>(rp.partition_index)] = rp.offset;
    }
  return true;
}

namespace {
void put_varlong(std::vector<std::byte>& out, int64_t v) {
  uint64_t z = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  while (z >= 0x80) {
    out.push_back(static_cast<std::byte>((z & 0x7f) | 0x80));
    z >>= 7;
  }
  out.push_back(static_cast<std::byte>(z));
}
std::size_t varlong_size(int64_t v) {
  uint64_t z = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  std::size_t n = 1;
  while (z >= 0x80) {
    z >>= 7;
    ++n;
  }
  return n;
}
}  // namespace

void BatchWriter::begin(std::vector<std::byte>& out, int64_t base_ts_ms) {
  start_ = out.size();
  count_ = 0;
  base_ts_ = base_ts_ms;
  out.resize(out.size() + log::kBatchHeaderBytes);
}

void BatchWriter::add(std::vector<std::byte>& out, const PayloadHeader& h, std::size_t size) {
  // attributes, timestampDelta 0, offsetDelta, key null (-1), value, 0 headers
  std::size_t body = 1 + 1 + varlong_size(count_) + 1 + varlong_size(static_cast<int64_t>(size)) + size + 1;
  put_varlong(out, static_cast<int64_t>(body));
  out.push_back(std::byte{0});
  put_varlong(out, 0);
  put_varlong(out, count_);
  put_varlong(out, -1);
  put_varlong(out, static_cast<int64_t>(size));
  std::size_t at = out.size();
  out.resize(at + size, std::byte{'p'});
  std::memcpy(out.data() + at, &h, sizeof h);
  put_varlong(out, 0);
  ++count_;
}

void BatchWriter::finish(std::vector<std::byte>& out) {
  std::byte* p = out.data() + start_;
  std::size_t len = out.size() - start_;
  using log::store_be;
  namespace f = log::batch_field;
  store_be<int64_t>(p + f::kBaseOffset, 0);
  store_be<int32_t>(p + f::kBatchLength, static_cast<int32_t>(len - log::kLogOverheadBytes));
  store_be<int32_t>(p + f::kPartitionLeaderEpoch, -1);
  store_be<int8_t>(p + f::kMagic, log::kMagicV2);
  store_be<int16_t>(p + f::kAttributes, 0);
  store_be<int32_t>(p + f::kLastOffsetDelta, count_ > 0 ? count_ - 1 : 0);
  store_be<int64_t>(p + f::kBaseTimestamp, base_ts_);
  store_be<int64_t>(p + f::kMaxTimestamp, base_ts_);
  store_be<int64_t>(p + f::kProducerId, -1);
  store_be<int16_t>(p + f::kProducerEpoch, -1);
  store_be<int32_t>(p + f::kBaseSequence, -1);
  store_be<int32_t>(p + f::kRecordCount, count_);
  store_be<uint32_t>(p + f::kCrc, log::compute_batch_crc(std::span<const std::byte>(p, len)));
}

}  // namespace sluice::bench
