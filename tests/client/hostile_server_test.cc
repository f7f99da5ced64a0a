// A fake Kafka server on a loopback socket answers the client with garbage, truncated frames,
// absurd sizes, silence and unknown error codes: every case is an Error, never a crash or a hang.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "client/src/conn.h"
#include "engine/kafka/codec/kafka_codec.h"
#include "sluice/client/client.h"

namespace sluice::client::testing {
namespace {

using Bytes = std::string;
// Answer to one request: bytes to send (size prefix included), or nullopt to close.
using Handler = std::function<std::optional<Bytes>(const kafka::RequestHeader&, kafka::Reader&)>;

Bytes flatten(const alloc::IoBuf& b) {
  Bytes out;
  for (const auto& f : b.fragments()) {
    auto s = f.bytes();
    out.append(reinterpret_cast<const char*>(s.data()), s.size());
  }
  return out;
}

template <class M>
Bytes frame(int32_t corr, int16_t version, const M& body) {
  kafka::Writer w;
  return flatten(kafka::encode_response_frame(w, corr, version, body));
}

Bytes size_prefixed(const Bytes& payload) {
  Bytes out(4, '\0');
  const uint32_t n = htonl(static_cast<uint32_t>(payload.size()));
  std::memcpy(out.data(), &n, 4);
  return out + payload;
}

Bytes api_versions(int32_t corr, int16_t version) {
  kafka::ApiVersionsResponse r;
  for (int16_t k = 0; k < 70; ++k) {
    const int16_t hi = detail::client_max_version(k);
    if (hi < 0) continue;
    auto& a = r.api_keys.emplace_back();
    a.api_key = k;
    a.min_version = 0;
    a.max_version = hi;
  }
  return frame(corr, version, r);
}

class FakeServer {
 public:
  explicit FakeServer(Handler h) : handler_(std::move(h)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  uint16_t port() const { return port_; }

 private:
  static bool read_exact(int fd, char* p, std::size_t n, const std::atomic<bool>& stop) {
    while (n > 0) {
      pollfd pf{fd, POLLIN, 0};
      if (::poll(&pf, 1, 50) <= 0) {
        if (stop) return false;
        continue;
      }
      const ssize_t r = ::recv(fd, p, n, 0);
      if (r <= 0) return false;
      p += r;
      n -= static_cast<std::size_t>(r);
    }
    return true;
  }

  void serve() {
    while (!stop_) {
      pollfd pf{fd_, POLLIN, 0};
      if (::poll(&pf, 1, 50) <= 0) continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      conns_.emplace_back([this, c] { serve_connection(c); });
    }
    for (auto& t : conns_) t.join();
  }

  void serve_connection(int c) {
    for (;;) {
      char hdr[4];
      if (!read_exact(c, hdr, 4, stop_)) break;
      uint32_t n = 0;
      std::memcpy(&n, hdr, 4);
      n = ntohl(n);
      std::string body(n, '\0');
      if (!read_exact(c, body.data(), n, stop_)) break;
      kafka::Reader r(std::span<const std::byte>(reinterpret_cast<const std::byte*>(body.data()), body.size()));
      auto h = kafka::decode_request_header(r);
      if (!h.ok()) break;
      std::optional<Bytes> out;
      {
        std::lock_guard<std::mutex> lock(mu_);  // handlers keep state (rng, variants)
        out = handler_(*h, r);
      }
      if (!out) break;
      if (!out->empty() && ::send(c, out->data(), out->size(), MSG_NOSIGNAL) < 0) break;
    }
    ::close(c);
  }

  Handler handler_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::thread> conns_;
  std::mutex mu_;
};

ClientConfig config(const FakeServer& s) {
  ClientConfig c;
  c.bootstrap_servers = s.address();
  c.request_timeout_ms = 3000;  // generous: the machine may be loaded; only the silence test waits it out
  c.connect_timeout_ms = 3000;
  return c;
}

// Answers ApiVersions properly and everything else with `other`.
Handler after_versions(std::function<std::optional<Bytes>(const kafka::RequestHeader&, kafka::Reader&)> other) {
  return [other](const kafka::RequestHeader& h, kafka::Reader& r) -> std::optional<Bytes> {
    if (h.request_api_key == kafka::ApiVersionsRequest::kApiKey)
      return api_versions(h.correlation_id, h.request_api_version);
    return other(h, r);
  };
}

TEST(HostileServer, GarbageApiVersionsAnswer) {
  FakeServer s([](const kafka::RequestHeader&, kafka::Reader&) -> std::optional<Bytes> {
    return size_prefixed(Bytes("\x00\x00\x00\x01garbage garbage garbage", 27));
  });
  auto a = Admin::create(config(s));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, Errc::kMalformedResponse) << a.error().describe();
}

TEST(HostileServer, TruncatedAnswer) {
  FakeServer s([](const kafka::RequestHeader& h, kafka::Reader&) -> std::optional<Bytes> {
    Bytes full = api_versions(h.correlation_id, h.request_api_version);
    return size_prefixed(full.substr(4, (full.size() - 4) / 2));  // a consistent size, half a body
  });
  auto a = Admin::create(config(s));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, Errc::kMalformedResponse) << a.error().describe();
}

TEST(HostileServer, AbsurdFrameSize) {
  FakeServer s([](const kafka::RequestHeader&, kafka::Reader&) -> std::optional<Bytes> {
    return Bytes("\x7f\xff\xff\xff\x00\x00\x00\x01", 8);
  });
  auto a = Admin::create(config(s));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, Errc::kMalformedResponse) << a.error().describe();
}

TEST(HostileServer, ClosesMidFrame) {
  FakeServer s([](const kafka::RequestHeader&, kafka::Reader&) -> std::optional<Bytes> { return std::nullopt; });
  auto a = Admin::create(config(s));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, Errc::kNetwork) << a.error().describe();
}

TEST(HostileServer, SilenceIsATimeout) {
  FakeServer s([](const kafka::RequestHeader&, kafka::Reader&) -> std::optional<Bytes> { return Bytes(); });
  const auto start = std::chrono::steady_clock::now();
  ClientConfig c = config(s);
  c.request_timeout_ms = 500;
  auto a = Admin::create(c);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, Errc::kTimeout) << a.error().describe();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(HostileServer, WrongCorrelationId) {
  FakeServer s([](const kafka::RequestHeader& h, kafka::Reader&) -> std::optional<Bytes> {
    return api_versions(h.correlation_id + 7, h.request_api_version);
  });
  auto a = Admin::create(config(s));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, Errc::kMalformedResponse) << a.error().describe();
}

kafka::MetadataResponse one_topic(uint16_t port, int16_t topic_error) {
  kafka::MetadataResponse m;
  auto& b = m.brokers.emplace_back();
  b.node_id = 1;
  b.host = "127.0.0.1";
  b.port = port;
  m.controller_id = 1;
  auto& t = m.topics.emplace_back();
  t.name = "t";
  t.error_code = topic_error;
  if (topic_error == 0) {
    auto& p = t.partitions.emplace_back();
    p.partition_index = 0;
    p.leader_id = 1;
  }
  return m;
}

TEST(HostileServer, UnknownErrorCodeIsNamed) {
  uint16_t port = 0;
  FakeServer s(after_versions([&port](const kafka::RequestHeader& h, kafka::Reader&) -> std::optional<Bytes> {
    return frame(h.correlation_id, h.request_api_version, one_topic(port, 9999));
  }));
  port = s.port();
  auto a = Admin::create(config(s));
  ASSERT_TRUE(a.ok()) << a.error().describe();
  auto d = (*a)->describe_topic("t");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, Errc::kBroker);
  EXPECT_EQ(d.error().kafka_error, 9999);
  EXPECT_NE(d.error().describe().find("UNKNOWN_ERROR_CODE"), std::string::npos) << d.error().describe();
}

TEST(HostileServer, CorruptFetchedRecords) {
  uint16_t port = 0;
  std::atomic<int> variant{0};
  FakeServer s(after_versions([&](const kafka::RequestHeader& h, kafka::Reader&) -> std::optional<Bytes> {
    if (h.request_api_key == kafka::MetadataRequest::kApiKey)
      return frame(h.correlation_id, h.request_api_version, one_topic(port, 0));
    if (h.request_api_key == kafka::FetchRequest::kApiKey) {
      kafka::FetchResponse f;
      auto& t = f.responses.emplace_back();
      t.topic = "t";
      auto& p = t.partitions.emplace_back();
      p.partition_index = 0;
      p.high_watermark = 100;
      // A batch header claiming 200 bytes of which 80 are random: a corrupt batch, or (variant 1)
      // a header with a bad CRC and records that do not parse.
      static std::vector<std::byte> junk;
      junk.assign(80, std::byte{0x5a});
      const uint32_t len = htonl(variant == 0 ? 10u : 68u);  // batch length: too small, or plausible
      std::memcpy(junk.data() + 8, &len, 4);
      junk[16] = std::byte{2};  // magic
      p.records.view = junk;
      return frame(h.correlation_id, h.request_api_version, f);
    }
    return std::nullopt;
  }));
  port = s.port();
  for (int v = 0; v < 2; ++v) {
    variant = v;
    ConsumerConfig cc;
    cc.bootstrap_servers = s.address();
    cc.request_timeout_ms = 3000;
    cc.fetch_max_wait_ms = 10;
    auto c = Consumer::create(cc);
    ASSERT_TRUE(c.ok()) << c.error().describe();
    ASSERT_TRUE((*c)->assign({{"t", 0}}).ok());
    ASSERT_TRUE((*c)->seek({"t", 0}, 0).ok());
    auto r = (*c)->poll(300);
    ASSERT_FALSE(r.ok()) << "variant " << v;
    EXPECT_EQ(r.error().code, Errc::kMalformedResponse) << r.error().describe();
  }
}

// Metadata answers mutated at random (bytes flipped, cut short): an error or a value, never a
// crash, a hang or a sanitizer report.
TEST(HostileServer, MutatedMetadataAnswers) {
  uint16_t port = 0;
  std::mt19937 rng(12345);
  FakeServer s(after_versions([&](const kafka::RequestHeader& h, kafka::Reader&) -> std::optional<Bytes> {
    Bytes f = frame(h.correlation_id, h.request_api_version, one_topic(port, 0));
    Bytes body = f.substr(4);
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) body[8 + rng() % (body.size() - 8)] = static_cast<char>(rng());
    if (rng() % 3 == 0) body.resize(8 + rng() % (body.size() - 8));
    return size_prefixed(body);
  }));
  port = s.port();
  int errors = 0;
  for (int i = 0; i < 200; ++i) {
    auto a = Admin::create(config(s));
    if (!a.ok()) {
      ++errors;
      continue;
    }
    auto t = (*a)->list_topics();
    if (!t.ok()) ++errors;
  }
  EXPECT_GT(errors, 0);
}

}  // namespace
}  // namespace sluice::client::testing
