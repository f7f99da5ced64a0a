#pragma once
// One blocking TCP connection to one Kafka broker, on the project's codec. The API version of
// every request is negotiated with ApiVersions at connect time: the highest version both this
// client (kClientMaxVersion) and the broker implement. Requests may be pipelined (send, then
// receive in request order); every wait has a deadline (poll(2)), so a silent broker gives
// kTimeout, never a hang, and any byte sequence from the server gives an Error, never a crash.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/kafka/codec/kafka_codec.h"
#include "sluice/client/error.h"

namespace sluice::client::detail {

int64_t mono_ms() noexcept;
int64_t wall_ms() noexcept;

// The newest version of each API this client implements (-1: not used). Capped where a newer
// version changes the shape of what the client sends (Fetch v13 topic ids, OffsetFetch v8 group
// batches, FindCoordinator v4 key batches, DeleteTopics v6 topic states).
int16_t client_max_version(int16_t api_key) noexcept;
int16_t client_min_version(int16_t api_key) noexcept;

// Largest response frame accepted (a Fetch answer is bounded by fetch_max_bytes).
inline constexpr uint32_t kMaxResponseBytes = 256u << 20;

class Conn {
 public:
  Conn() = default;
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Connects and negotiates versions (ApiVersions).
  Status connect(const std::string& host, int32_t port, const std::string& client_id, int timeout_ms);
  void close() noexcept;
  bool connected() const noexcept { return fd_ >= 0; }
  const std::string& address() const noexcept { return address_; }

  // -1 when the broker does not implement any version this client can use.
  int16_t version(int16_t api_key) const noexcept {
    return api_key >= 0 && static_cast<std::size_t>(api_key) < versions_.size() ? versions_[api_key] : int16_t{-1};
  }

  template <class Req>
  Result<int32_t> send(int16_t version, const Req& req) {
    const int32_t corr = next_corr_++;
    alloc::IoBuf f = kafka::encode_request_frame(writer_, version, corr, client_id_, req);
    auto st = send_frame(f);
    if (!st.ok()) return st.error();
    return corr;
  }

  // Receives the response to `corr` (the next one in order) and decodes it.
  template <class Resp>
  Status receive(int32_t corr, int16_t version, Resp& resp, int64_t deadline_ms) {
    auto frame = read_frame(deadline_ms);
    if (!frame.ok()) return frame.error();
    kafka::Reader r(*frame);
    kafka::ResponseHeader h;
    auto hd = kafka::decode(r, kafka::response_header_version(Resp::kApiKey, version), h);
    if (!hd.ok()) return malformed(Resp::kName, hd.error().what);
    if (h.correlation_id != corr) {
      close();
      return make_error(Errc::kMalformedResponse, address_ + ": correlation id mismatch");
    }
    auto d = kafka::decode(r, version, resp);
    if (!d.ok()) return malformed(Resp::kName, d.error().what);
    return {};
  }

  // Request and response, with the negotiated version (kUnsupportedVersion when there is none).
  template <class Req, class Resp>
  Status call(const Req& req, Resp& resp, int timeout_ms) {
    const int16_t v = version(Req::kApiKey);
    if (v < 0) return unsupported(Req::kName);
    return call_version(v, req, resp, timeout_ms);
  }
  template <class Req, class Resp>
  Status call_version(int16_t v, const Req& req, Resp& resp, int timeout_ms) {
    auto corr = send(v, req);
    if (!corr.ok()) return corr.error();
    return receive(*corr, v, resp, mono_ms() + timeout_ms);
  }

  Status send_frame(const alloc::IoBuf& frame);
  // The frame after the size prefix; valid until the next read_frame.
  Result<std::span<const std::byte>> read_frame(int64_t deadline_ms);

 private:
  Status negotiate(int timeout_ms);
  Status fail_io(const char* what);
  Error malformed(std::string_view api, const char* what);
  Error unsupported(std::string_view api) const;
  Status read_exact(std::byte* p, std::size_t n, int64_t deadline_ms);

  int fd_ = -1;
  int32_t next_corr_ = 1;
  std::string address_;
  std::optional<std::string> client_id_;
  std::array<int16_t, 128> versions_{};
  // Chunks big enough for a whole produce request of default-sized batches: the writer recycles
  // them, so steady-state requests allocate nothing (4 KiB chunks would be 16 per 64 KiB batch).
  kafka::Writer writer_{256u << 10};
  std::vector<std::byte> rbuf_;
};

}  // namespace sluice::client::detail
