// NATS JetStream load generator speaking the NATS client protocol directly over a socket (no C
// client is packaged in Debian 12): one connection publishes to a file-storage stream with a
// reply inbox per message (the JetStream PubAck is the producer's acknowledgement), a second
// connection receives from a push consumer (ack policy none, deliver all).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string_view>
#include <thread>

#include "bench/compare/peer_common.h"

using namespace sluice::bench::peer;

namespace {

class NatsConn {
 public:
  bool connect(const std::string& host, int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return false;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    write_all("CONNECT "
              "{\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"lang\":\"c\","
              "\"version\":\"0\"}\r\nPING\r\n");
    bool pong = false;
    for (int i = 0; i < 100 && !pong; ++i)
      if (!pump(
              1000, [](std::string_view, std::string_view, std::string_view) {}, &pong))
        return false;
    return pong;
  }
  ~NatsConn() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }
  bool write_all(std::string_view s) {
    while (!s.empty()) {
      ssize_t w = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
      if (w <= 0) {
        if (w < 0 && errno == EINTR) continue;
        return false;
      }
      s.remove_prefix(static_cast<std::size_t>(w));
    }
    return true;
  }
  // Reads what is available (waiting up to timeout_ms for the first bytes) and dispatches every
  // complete message: fn(subject, reply_to, payload). Answers PING. false on EOF/-ERR.
  template <class Fn>
  bool pump(int timeout_ms, Fn&& fn, bool* got_pong = nullptr) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return true;
    char tmp[65536];
    ssize_t r = ::recv(fd_, tmp, sizeof tmp, 0);
    if (r <= 0) return false;
    buf_.append(tmp, static_cast<std::size_t>(r));
    return parse(fn, got_pong);
  }

 private:
  template <class Fn>
  bool parse(Fn&& fn, bool* got_pong) {
    std::size_t pos = 0;
    for (;;) {
      auto eol = buf_.find("\r\n", pos);
      if (eol == std::string::npos) break;
      std::string_view line(buf_.data() + pos, eol - pos);
      if (line.starts_with("MSG ") || line.starts_with("HMSG ")) {
        bool hmsg = line[0] == 'H';
        std::vector<std::string_view> tok;
        std::size_t s = 0;
        while (s < line.size()) {
          auto e = line.find(' ', s);
          if (e == std::string_view::npos) e = line.size();
          if (e > s) tok.push_back(line.substr(s, e - s));
          s = e + 1;
        }
        std::size_t total = std::stoul(std::string(tok.back()));
        std::size_t hdr = hmsg ? std::stoul(std::string(tok[tok.size() - 2])) : 0;
        std::size_t need = eol + 2 + total + 2;
        if (buf_.size() < need) break;  // wait for the payload
        std::string_view subject = tok[1];
        std::size_t ntok = tok.size() - (hmsg ? 2 : 1);
        std::string_view reply = ntok == 4 ? tok[3] : std::string_view{};
        std::string_view payload(buf_.data() + eol + 2 + hdr, total - hdr);
        fn(subject, reply, payload);
        pos = need;
        continue;
      }
      if (line == "PING") write_all("PONG\r\n");
      else if (line == "PONG") {
        if (got_pong) *got_pong = true;
      } else if (line.starts_with("-ERR")) {
        std::fprintf(stderr, "nats: %.*s\n", static_cast<int>(line.size()), line.data());
        return false;
      }
      pos = eol + 2;
    }
    buf_.erase(0, pos);
    return true;
  }
  int fd_ = -1;
  std::string buf_;
};

// Request/reply on an admin inbox; returns the reply payload ("" on timeout).
std::string request(NatsConn& c, const std::string& subject, const std::string& body, const std::string& inbox) {
  c.write_all("PUB " + subject + " " + inbox + " " + std::to_string(body.size()) + "\r\n" + body + "\r\n");
  std::string reply;
  bool got = false;
  for (int i = 0; i < 50 && !got; ++i)
    if (!c.pump(100, [&](std::string_view subj, std::string_view, std::string_view p) {
          if (subj == inbox) {
            reply.assign(p);
            got = true;
          }
        }))
      break;
  return reply;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"nats_bench - NATS JetStream open-loop latency (raw protocol)"};
  add_common_options(app, o);
  CLI11_PARSE(app, argc, argv);
  Workload w(o);
  NatsConn pc, cc;
  if (!pc.connect(o.host, o.port) || !cc.connect(o.host, o.port)) {
    std::fprintf(stderr, "nats_bench: connect failed\n");
    return 2;
  }
  const std::string stream = o.name, subj = "bench." + o.name, deliver = "deliver." + o.name;
  pc.write_all("SUB _INBOX.admin 2\r\nSUB _INBOX.acks.* 1\r\n");
  (void)request(pc, "$JS.API.STREAM.DELETE." + stream, "", "_INBOX.admin");
  std::string created =
      request(pc, "$JS.API.STREAM.CREATE." + stream,
              "{\"name\":\"" + stream + "\",\"subjects\":[\"" + subj +
                  "\"],\"storage\":\"file\",\"retention\":\"limits\",\"discard\":\"old\",\"num_replicas\":1}",
              "_INBOX.admin");
  if (created.empty() || created.find("\"error\"") != std::string::npos) {
    std::fprintf(stderr, "nats_bench: stream create failed: %s\n", created.c_str());
    return 2;
  }
  cc.write_all("SUB " + deliver + " 1\r\nSUB _INBOX.cadmin 2\r\n");
  std::string cons =
      request(cc, "$JS.API.CONSUMER.CREATE." + stream,
              "{\"stream_name\":\"" + stream + "\",\"config\":{\"deliver_subject\":\"" + deliver +
                  "\",\"ack_policy\":\"none\",\"deliver_policy\":\"all\",\"replay_policy\":\"instant\"}}",
              "_INBOX.cadmin");
  if (cons.empty() || cons.find("\"error\"") != std::string::npos) {
    std::fprintf(stderr, "nats_bench: consumer create failed: %s\n", cons.c_str());
    return 2;
  }
  std::thread consumer([&] {
    while (!w.stop.load()) {
      bool ok = cc.pump(100, [&](std::string_view s, std::string_view, std::string_view p) {
        // Push deliveries carry the original subject (bench.<name>) on the deliver subscription.
        if (s != "_INBOX.cadmin") w.on_receive(p.data(), p.size(), mono_ns());
      });
      if (!ok) {
        w.error("consumer connection closed");
        return;
      }
    }
  });
  ::usleep(100000);

  w.start_clock();
  int64_t g = 0;
  const int64_t hard = w.t0 + static_cast<int64_t>((o.warmup_s + o.duration_s + o.drain_timeout_s) * 1e9);
  std::string out;
  auto on_ack = [&](std::string_view s, std::string_view, std::string_view p) {
    if (!s.starts_with("_INBOX.acks.")) return;
    int64_t id = std::stoll(std::string(s.substr(12)));
    if (p.find("\"error\"") != std::string_view::npos) w.error("puback: " + std::string(p));
    else w.on_ack(id, mono_ns());
  };
  while ((g < w.total || w.acked.load() + w.errors.load() < w.sent.load()) && mono_ns() < hard) {
    int64_t due = w.due_at(mono_ns());
    out.clear();
    while (g < due && w.sent.load() - w.acked.load() < o.max_inflight) {
      out += "PUB " + subj + " _INBOX.acks." + std::to_string(g) + " " + std::to_string(o.size) + "\r\n";
      out.append(w.make_payload(g), o.size);
      out += "\r\n";
      ++g;
      w.sent++;
    }
    if (!out.empty() && !pc.write_all(out)) {
      w.error("producer: write failed");
      break;
    }
    int64_t next = g < w.total ? w.intended(g) : mono_ns() + 1'000'000;
    if (Workload::wait_until(next, pc.fd()))
      if (!pc.pump(0, on_ack)) {
        w.error("producer: connection closed");
        break;
      }
  }
  w.producer_done = true;
  w.wait_drain();
  w.stop = true;
  consumer.join();
  (void)request(pc, "$JS.API.STREAM.DELETE." + stream, "", "_INBOX.admin");
  return w.report("nats_bench");
}
