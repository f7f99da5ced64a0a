#pragma once
// The metrics endpoint: a minimal HTTP/1.1 server on the io runtime that answers GET /metrics
// (and HEAD) with what a render function returns, and GET / with the web console (a static page
// that reads /metrics itself), then closes the connection. It runs on the
// shard that bound it (the broker uses shard 0). Not on any data path: one scrape at a time per
// connection, a bounded request head, a deadline per connection and a cap on connections.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "alloc/result.h"
#include "io/task.h"
#include "io/tcp.h"

namespace sluice::metrics {

inline constexpr std::size_t kMaxRequestHeadBytes = 8 * 1024;
inline constexpr unsigned kMaxScrapeConnections = 16;
inline constexpr int64_t kScrapeRequestTimeoutMs = 10'000;

enum class HttpVerdict : uint8_t { scrape, scrape_head, console, console_head, not_found, bad_method, bad_request };

// Classifies a complete request head (request line + headers, up to the blank line).
HttpVerdict classify_request(std::string_view head);
// A whole response with Content-Length and `Connection: close`; the body only when include_body.
std::string http_response(int status, std::string_view reason, std::string_view content_type, std::string_view body,
                          bool include_body);

using RenderFn = std::function<io::Task<std::string>()>;

class HttpEndpoint {
 public:
  static Result<std::unique_ptr<HttpEndpoint>> bind(const std::string& host, uint16_t port);
  uint16_t port() const noexcept { return listener_.port(); }
  // Accepts and answers until close() or the runtime stops. The endpoint outlives this task.
  io::Task<void> serve(RenderFn render);
  void close();
  unsigned active_connections() const noexcept { return active_; }

 private:
  explicit HttpEndpoint(io::TcpListener l) : listener_(std::move(l)) {}
  io::Task<void> answer(io::TcpConnection conn);
  io::TcpListener listener_;
  RenderFn render_;
  unsigned active_ = 0;
  bool closed_ = false;
};

}  // namespace sluice::metrics
