#include "engine/metrics/http_endpoint.h"

#include <chrono>
#include <cstdio>

#include "alloc/assert.h"
#include "engine/metrics/console_page.h"
#include "io/shard.h"

namespace sluice::metrics {

HttpVerdict classify_request(std::string_view head) {
  const std::size_t eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return HttpVerdict::bad_request;
  const std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return HttpVerdict::bad_request;
  const std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!version.starts_with("HTTP/1.")) return HttpVerdict::bad_request;
  if (const std::size_t q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
  if (method != "GET" && method != "HEAD") return HttpVerdict::bad_method;
  const bool get = method == "GET";
  if (target == "/metrics") return get ? HttpVerdict::scrape : HttpVerdict::scrape_head;
  if (target == "/" || target == "/index.html") return get ? HttpVerdict::console : HttpVerdict::console_head;
  return HttpVerdict::not_found;
}

std::string http_response(int status, std::string_view reason, std::string_view content_type, std::string_view body,
                          bool include_body) {
  char head[256];
  const int n = std::snprintf(head, sizeof(head),
                              "HTTP/1.1 %d %.*s\r\nContent-Type: %.*s\r\nContent-Length: %zu\r\n"
                              "Connection: close\r\n\r\n",
                              status, static_cast<int>(reason.size()), reason.data(),
                              static_cast<int>(content_type.size()), content_type.data(), body.size());
  SLUICE_ASSERT(n > 0 && static_cast<std::size_t>(n) < sizeof(head));
  std::string out(head, static_cast<std::size_t>(n));
  if (include_body) out.append(body);
  return out;
}

Result<std::unique_ptr<HttpEndpoint>> HttpEndpoint::bind(const std::string& host, uint16_t port) {
  auto l = io::TcpListener::bind(host, port, /*reuse_port=*/false);
  if (!l.ok()) return l.error();
  return std::unique_ptr<HttpEndpoint>(new HttpEndpoint(std::move(l.value())));
}

io::Task<void> HttpEndpoint::serve(RenderFn render) {
  render_ = std::move(render);
  while (!closed_) {
    auto conn = co_await listener_.accept();
    if (!conn.ok()) {
      if (closed_ || io::Shard::current().stop_requested()) break;
      continue;  // a connection that failed to be accepted; out of fds backs off below
    }
    if (active_ >= kMaxScrapeConnections) {
      conn.value().close();  // a scraper flood must not pile up renders
      continue;
    }
    io::spawn(answer(std::move(conn.value())));
  }
}

void HttpEndpoint::close() {
  closed_ = true;
  listener_.close();
}

io::Task<void> HttpEndpoint::answer(io::TcpConnection conn) {
  active_++;
  SLUICE_ASSERT(active_ <= kMaxScrapeConnections);
  io::Timer deadline;  // declared after conn: destroyed (cancelled) before it
  deadline.arm(std::chrono::milliseconds(kScrapeRequestTimeoutMs), [&conn] { conn.close(); });
  std::string head;
  bool complete = false;
  while (!complete && head.size() <= kMaxRequestHeadBytes) {
    auto data = co_await conn.recv();
    if (!data.ok() || data.value().empty()) break;  // closed, timed out or reset
    head.append(reinterpret_cast<const char*>(data.value().data()), data.value().size());
    complete = head.find("\r\n\r\n") != std::string::npos;
  }
  std::string response;
  const bool too_large =
      complete ? head.find("\r\n\r\n") + 4 > kMaxRequestHeadBytes : head.size() > kMaxRequestHeadBytes;
  if (too_large) {
    response = http_response(431, "Request Header Fields Too Large", "text/plain", "request head too large\n", true);
  } else if (complete) {  // (an incomplete head: the peer closed or the deadline passed)
    switch (classify_request(head)) {
      case HttpVerdict::scrape:
      case HttpVerdict::scrape_head: {
        std::string body = co_await render_();
        const bool get = classify_request(head) == HttpVerdict::scrape;
        response = http_response(200, "OK", "text/plain; version=0.0.4; charset=utf-8", body, get);
        break;
      }
      case HttpVerdict::console:
      case HttpVerdict::console_head:
        response = http_response(200, "OK", "text/html; charset=utf-8", console_page(),
                                 classify_request(head) == HttpVerdict::console);
        break;
      case HttpVerdict::not_found:
        response = http_response(404, "Not Found", "text/plain", "/metrics and / (the console) are served\n", true);
        break;
      case HttpVerdict::bad_method:
        response = http_response(405, "Method Not Allowed", "text/plain", "GET or HEAD\n", true);
        break;
      case HttpVerdict::bad_request:
        response = http_response(400, "Bad Request", "text/plain", "bad request line\n", true);
        break;
    }
  }
  if (!response.empty() && conn.is_open()) {
    (void)co_await conn.send(
        std::span<const std::byte>(reinterpret_cast<const std::byte*>(response.data()), response.size()));
  }
  deadline.cancel();
  conn.close();
  SLUICE_ASSERT(active_ > 0);
  active_--;
}

}  // namespace sluice::metrics
