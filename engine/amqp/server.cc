#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>

#include "engine/amqp/server_internal.h"

namespace sluice::amqp {

namespace {
constexpr auto kCloseGrace = std::chrono::seconds(2);  // wait for close-ok, then drop the socket
// How often the queue engine's clock advances for TTLs and x-expires when nothing else happens.
constexpr auto kQueueTickInterval = std::chrono::milliseconds(50);

bool is_loopback(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return false;
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
  }
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr)) return true;
    return IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && a->sin6_addr.s6_addr[12] == 127;
  }
  return false;
}

}  // namespace

uint16_t server_port(const Server& s) { return s.listener_.port(); }

Conn::~Conn() { srv_->conns_.erase(this); }

void Conn::connection_error(uint16_t code, std::string text, const Method* m) {
  if (state_ == ConnState::kClosing || state_ == ConnState::kDone) return;
  if (srv_->may_log(io::Shard::current().now_ns()))
    logging::info("amqp connection {} closed by the broker: {} {}", id_, code, text);
  Method c = make_method(MethodId::kConnectionClose);
  c.set("reply-code", code)
      .set("reply-text", std::move(text))
      .set("class-id", m ? m->def->class_id : 0)
      .set("method-id", m ? m->def->method_id : 0);
  send_method(0, c);
  state_ = ConnState::kClosing;
  io::spawn(close_watchdog(shared_from_this()));
}

void Conn::channel_error(AmqpChannel& ch, uint16_t code, std::string text, const Method* m) {
  Method c = make_method(MethodId::kChannelClose);
  c.set("reply-code", code)
      .set("reply-text", std::move(text))
      .set("class-id", m ? m->def->class_id : 0)
      .set("method-id", m ? m->def->method_id : 0);
  send_method(ch.id, c);
  ch.closing = true;
  ch.publish.reset();
  if (ch.session) srv_->engine_.close_session(ch.session);
  ch.session = 0;
}

void Conn::close_channel(uint16_t id) {
  auto it = channels_.find(id);
  if (it == channels_.end()) return;
  if (it->second->session) srv_->engine_.close_session(it->second->session);
  channels_.erase(it);
}

const std::string& Conn::queue_name(AmqpChannel& ch, const std::string& given) {
  return given.empty() ? ch.last_queue : given;
}

void Conn::engine_error(AmqpChannel& ch, queue::QErr e, const std::string& what, const Method& m) {
  using queue::QErr;
  switch (e) {
    case QErr::kOk: return;
    case QErr::kNotFound: channel_error(ch, reply::kNotFound, "NOT_FOUND - no " + what + " in vhost '/'", &m); return;
    case QErr::kAccessRefused:
      channel_error(ch, reply::kAccessRefused, "ACCESS_REFUSED - access to " + what + " refused", &m);
      return;
    case QErr::kResourceLocked:
      channel_error(ch, reply::kResourceLocked,
                    "RESOURCE_LOCKED - cannot obtain exclusive access to locked " + what + " in vhost '/'", &m);
      return;
    case QErr::kPreconditionFailed:
      channel_error(ch, reply::kPreconditionFailed, "PRECONDITION_FAILED - " + what, &m);
      return;
    case QErr::kNotAllowed: connection_error(reply::kNotAllowed, "NOT_ALLOWED - " + what, &m); return;
    case QErr::kLimit: channel_error(ch, reply::kResourceError, "RESOURCE_ERROR - limit reached: " + what, &m); return;
  }
}

io::Task<void> Conn::writer(std::shared_ptr<Conn> /*keep_alive*/) {
  std::string buf;
  for (;;) {
    if (!out_.empty()) {
      buf.clear();
      buf.swap(out_);
      auto r = co_await sock_.send(std::as_bytes(std::span<const char>(buf.data(), buf.size())));
      if (!r.ok()) break;
      last_send_ns_ = io::Shard::current().now_ns();
      continue;
    }
    if (finishing_ || io::Shard::current().stop_requested()) break;
    out_ready_.reset();
    bool set = co_await out_ready_.wait(std::chrono::seconds(1));
    (void)set;
  }
  out_.clear();
  writer_done_ = true;
  writer_done_ev_.set();
}

io::Task<void> Conn::heartbeat(std::shared_ptr<Conn> /*keep_alive*/) {
  const int64_t interval_ns = static_cast<int64_t>(heartbeat_s_) * 1'000'000'000;
  while (!finishing_) {
    bool slept = co_await io::sleep_for(std::chrono::nanoseconds(interval_ns / 2));
    if (!slept || finishing_) break;
    int64_t now = io::Shard::current().now_ns();
    if (now - last_recv_ns_ > 2 * interval_ns) {
      if (srv_->may_log(now))
        logging::info("amqp connection {}: missed heartbeats from the client, timeout {}s", id_, heartbeat_s_);
      sock_.close();
      break;
    }
    if (now - last_send_ns_ >= interval_ns / 2 && out_.empty()) {
      encode_heartbeat(out_);
      kick();
    }
  }
}

io::Task<void> Conn::close_watchdog(std::shared_ptr<Conn> /*keep_alive*/) {
  bool slept = co_await io::sleep_for(kCloseGrace);
  (void)slept;
  if (!finishing_) sock_.close();
}

io::Task<void> Conn::run() {
  auto self = shared_from_this();
  srv_->conns_.insert(this);
  loopback_ = is_loopback(sock_.fd());
  frame_max_ = srv_->cfg_.frame_max_bytes;  // until tune-ok the client is held to our offer
  last_recv_ns_ = last_send_ns_ = io::Shard::current().now_ns();
  io::spawn(writer(self));
  bool header_seen = false;
  bool reading = true;
  while (reading) {
    auto chunk = co_await sock_.recv();
    if (!chunk.ok() || chunk.value().empty()) break;
    last_recv_ns_ = io::Shard::current().now_ns();
    in_.append(reinterpret_cast<const char*>(chunk.value().data()), chunk.value().size());
    if (!header_seen) {
      if (in_.size() < sizeof kProtocolHeader) continue;
      if (in_.compare(0, sizeof kProtocolHeader, std::string_view(kProtocolHeader, sizeof kProtocolHeader)) != 0) {
        // Wrong protocol or version: answer the header we speak and close (spec 4.2.2).
        out_.append(kProtocolHeader, sizeof kProtocolHeader);
        kick();
        break;
      }
      in_.erase(0, sizeof kProtocolHeader);
      header_seen = true;
      FieldTable caps = {{"publisher_confirms", FieldValue::boolean(true)},
                         {"basic.nack", FieldValue::boolean(true)},
                         {"consumer_cancel_notify", FieldValue::boolean(true)},
                         {"per_consumer_qos", FieldValue::boolean(true)},
                         {"authentication_failure_close", FieldValue::boolean(true)},
                         {"exchange_exchange_bindings", FieldValue::boolean(false)},
                         {"connection.blocked", FieldValue::boolean(false)}};
      FieldTable props = {{"product", FieldValue::str("Sluice")},
                          {"version", FieldValue::str("0.1")},
                          {"platform", FieldValue::str("C++20 io_uring")},
                          {"capabilities", FieldValue::nested(std::move(caps))}};
      Method start = make_method(MethodId::kConnectionStart);
      start.set("version-major", 0)
          .set("version-minor", 9)
          .set("server-properties", std::move(props))
          .set("mechanisms", "PLAIN")
          .set("locales", "en_US");
      send_method(0, start);
    }
    std::size_t at = 0;
    while (reading) {
      Frame f;
      std::size_t used = 0;
      DecodeError err;
      auto view = std::as_bytes(std::span<const char>(in_.data() + at, in_.size() - at));
      FrameStatus st = parse_frame(view, frame_max_, &f, &used, &err);
      if (st == FrameStatus::kNeedMore) break;
      if (st == FrameStatus::kError) {
        connection_error(err.code, err.text, nullptr);
        in_.clear();
        at = 0;
        // A framing error leaves no way to find the next frame: stop reading, wait for the
        // watchdog or the peer's close-ok is impossible to parse reliably.
        reading = false;
        break;
      }
      at += used;
      reading = handle_frame(f);
      if (state_ == ConnState::kDone) reading = false;
    }
    in_.erase(0, at);
    if (out_.size() > srv_->cfg_.max_connection_out_bytes) {
      if (srv_->may_log(io::Shard::current().now_ns()))
        logging::warn("amqp connection {}: {} bytes of output queued, dropping it", id_, out_.size());
      break;
    }
  }
  // Engine state first (unacked deliveries go back to their queues, consumers go), then flush.
  for (auto& [n, ch] : channels_)
    if (ch->session) srv_->engine_.close_session(ch->session);
  channels_.clear();
  srv_->engine_.owner_gone(id_);
  finishing_ = true;
  out_ready_.set();
  while (!writer_done_) {
    bool done = co_await writer_done_ev_.wait(std::chrono::seconds(5));
    if (!done && io::Shard::current().stop_requested()) break;
  }
  sock_.close();
  state_ = ConnState::kDone;
}

// A method frame's method; a frame that does not decode closes the connection with the decoder's code.
bool Conn::decode_or_close(const Frame& f, Method* m) {
  DecodeError err;
  if (decode_method(f.payload, m, &err)) return true;
  connection_error(err.code, err.text, nullptr);
  return false;
}

bool Conn::handle_frame(const Frame& f) {
  if (f.type == kFrameHeartbeat) {
    if (f.channel != 0) {
      connection_error(reply::kFrameError, "FRAME_ERROR - heartbeat on channel " + std::to_string(f.channel), nullptr);
    }
    return true;
  }
  if (state_ == ConnState::kClosing) {
    // Only close-ok (or a crossing close) matters now.
    if (f.type != kFrameMethod || f.channel != 0) return true;
    Method m;
    DecodeError err;
    if (!decode_method(f.payload, &m, &err)) return true;
    if (m.id() == MethodId::kConnectionCloseOk) return false;
    if (m.id() == MethodId::kConnectionClose) {
      send_method(0, make_method(MethodId::kConnectionCloseOk));
      return false;
    }
    return true;
  }
  if (f.channel == 0) {
    if (f.type != kFrameMethod) {
      connection_error(reply::kUnexpectedFrame, "UNEXPECTED_FRAME - content frame on channel 0", nullptr);
      return true;
    }
    Method m;
    if (!decode_or_close(f, &m)) return true;
    handle_connection_method(m);
    return state_ != ConnState::kDone;
  }
  if (state_ != ConnState::kOpened) {
    connection_error(reply::kCommandInvalid, "COMMAND_INVALID - channel frame before connection.open", nullptr);
    return true;
  }
  auto it = channels_.find(f.channel);
  AmqpChannel* ch = it == channels_.end() ? nullptr : it->second.get();
  if (ch && ch->closing) {
    if (f.type != kFrameMethod) return true;
    Method m;
    DecodeError err;
    if (!decode_method(f.payload, &m, &err)) return true;
    if (m.id() == MethodId::kChannelCloseOk) {
      close_channel(f.channel);
    } else if (m.id() == MethodId::kChannelClose) {
      send_method(f.channel, make_method(MethodId::kChannelCloseOk));
      close_channel(f.channel);
    }
    return true;
  }
  if (f.type == kFrameHeader) {
    if (!ch || !ch->publish || ch->have_header) {
      connection_error(reply::kUnexpectedFrame,
                       "UNEXPECTED_FRAME - content header on channel " + std::to_string(f.channel), nullptr);
      return true;
    }
    DecodeError err;
    if (!decode_content_header(f.payload, &ch->header, &err)) {
      connection_error(err.code, err.text, &*ch->publish);
      return true;
    }
    if (ch->header.class_id != kClassBasic) {
      connection_error(reply::kUnexpectedFrame,
                       "UNEXPECTED_FRAME - content header for class " + std::to_string(ch->header.class_id),
                       &*ch->publish);
      return true;
    }
    if (ch->header.body_size > srv_->cfg_.max_message_bytes) {
      Method pub = *ch->publish;
      channel_error(*ch, reply::kPreconditionFailed,
                    "PRECONDITION_FAILED - message size " + std::to_string(ch->header.body_size) +
                        " is larger than configured max size " + std::to_string(srv_->cfg_.max_message_bytes),
                    &pub);
      return true;
    }
    uint64_t pending = ch->header.body_size;
    for (const auto& [n, other] : channels_)
      if (other->publish && other->have_header) pending += other->header.body_size;
    if (pending > srv_->cfg_.max_connection_pending_content_bytes) {
      connection_error(reply::kResourceError,
                       "RESOURCE_ERROR - " + std::to_string(pending) + " bytes of content in flight on the connection",
                       &*ch->publish);
      return true;
    }
    ch->have_header = true;
    ch->body.clear();
    ch->body.reserve(static_cast<std::size_t>(ch->header.body_size));
    if (ch->header.body_size == 0) finish_publish(*ch);
    return true;
  }
  if (f.type == kFrameBody) {
    if (!ch || !ch->publish || !ch->have_header) {
      connection_error(reply::kUnexpectedFrame,
                       "UNEXPECTED_FRAME - content body on channel " + std::to_string(f.channel), nullptr);
      return true;
    }
    if (ch->body.size() + f.payload.size() > ch->header.body_size) {
      connection_error(reply::kUnexpectedFrame, "UNEXPECTED_FRAME - content body longer than its header says",
                       &*ch->publish);
      return true;
    }
    ch->body.append(reinterpret_cast<const char*>(f.payload.data()), f.payload.size());
    if (ch->body.size() == ch->header.body_size) finish_publish(*ch);
    return true;
  }
  // A method frame.
  Method m;
  if (!decode_or_close(f, &m)) return true;
  if (ch && ch->publish) {
    connection_error(reply::kUnexpectedFrame,
                     "UNEXPECTED_FRAME - expected content header for class 60, got " + std::string(m.def->name), &m);
    return true;
  }
  if (!ch) {
    if (m.id() != MethodId::kChannelOpen) {
      if (m.id() == MethodId::kChannelCloseOk) return true;
      connection_error(reply::kChannelError, "CHANNEL_ERROR - expected 'channel.open'", &m);
      return true;
    }
    if (f.channel > channel_max_) {
      connection_error(reply::kChannelError,
                       "CHANNEL_ERROR - channel " + std::to_string(f.channel) + " above channel-max", &m);
      return true;
    }
    auto c = std::make_unique<AmqpChannel>(this, f.channel);
    c->session = srv_->engine_.open_session(id_, c.get());
    channels_.emplace(f.channel, std::move(c));
    send_method(f.channel, make_method(MethodId::kChannelOpenOk));
    return true;
  }
  handle_channel_method(*ch, m);
  return state_ != ConnState::kDone;
}

void Conn::handle_connection_method(const Method& m) {
  const ServerConfig& cfg = srv_->cfg_;
  switch (m.id()) {
    case MethodId::kConnectionStartOk: {
      if (state_ != ConnState::kStartOk) break;
      if (m.str("mechanism") != "PLAIN") {
        connection_error(reply::kAccessRefused, "ACCESS_REFUSED - unsupported mechanism " + m.str("mechanism"), &m);
        return;
      }
      if (const FieldValue* caps = find_field(m.table("client-properties"), "capabilities"); caps && caps->tag == 'F') {
        const FieldValue* cn = find_field(caps->table, "consumer_cancel_notify");
        cancel_notify_ = cn && cn->tag == 't' && cn->i != 0;
      }
      // PLAIN: [authzid] NUL authcid NUL password.
      const std::string& resp = m.str("response");
      auto a = resp.find('\0');
      auto b = a == std::string::npos ? std::string::npos : resp.find('\0', a + 1);
      std::string user = b == std::string::npos ? "" : resp.substr(a + 1, b - a - 1);
      std::string pass = b == std::string::npos ? "" : resp.substr(b + 1);
      bool ok = user == "guest" && pass == "guest" && (loopback_ || !cfg.allow_guest_from_loopback_only);
      if (!ok) {
        connection_error(reply::kAccessRefused,
                         "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details "
                         "see the broker logfile.",
                         &m);
        return;
      }
      Method t = make_method(MethodId::kConnectionTune);
      t.set("channel-max", cfg.channel_max).set("frame-max", cfg.frame_max_bytes).set("heartbeat", cfg.heartbeat_s);
      send_method(0, t);
      state_ = ConnState::kTuneOk;
      return;
    }
    case MethodId::kConnectionTuneOk: {
      if (state_ != ConnState::kTuneOk) break;
      uint64_t fm = m.num("frame-max");
      if (fm == 0) fm = cfg.frame_max_bytes;
      if (fm > cfg.frame_max_bytes || fm < kFrameMinSizeBytes) {
        connection_error(reply::kNotAllowed,
                         "NOT_ALLOWED - frame_max=" + std::to_string(fm) + " outside [4096, " +
                             std::to_string(cfg.frame_max_bytes) + "]",
                         &m);
        return;
      }
      frame_max_ = static_cast<uint32_t>(fm);
      uint64_t cm = m.num("channel-max");
      channel_max_ = static_cast<uint16_t>(cm == 0 || cm > cfg.channel_max ? cfg.channel_max : cm);
      heartbeat_s_ = static_cast<uint16_t>(m.num("heartbeat"));
      if (heartbeat_s_ > 0) io::spawn(heartbeat(shared_from_this()));
      state_ = ConnState::kOpen;
      return;
    }
    case MethodId::kConnectionOpen: {
      if (state_ != ConnState::kOpen) break;
      if (m.str("virtual-host") != "/") {
        connection_error(reply::kNotAllowed, "NOT_ALLOWED - vhost " + m.str("virtual-host") + " not found", &m);
        return;
      }
      send_method(0, make_method(MethodId::kConnectionOpenOk));
      state_ = ConnState::kOpened;
      return;
    }
    case MethodId::kConnectionClose:
      send_method(0, make_method(MethodId::kConnectionCloseOk));
      state_ = ConnState::kDone;
      return;
    case MethodId::kConnectionCloseOk: state_ = ConnState::kDone; return;
    default: break;
  }
  connection_error(reply::kCommandInvalid, "COMMAND_INVALID - unexpected " + std::string(m.def->name), &m);
}

namespace {

io::Task<void> serve(std::shared_ptr<Conn> c) { co_await c->run(); }

// Moves the queue engine's time on: TTL expiry and x-expires happen even with no traffic.
io::Task<void> tick_loop(std::shared_ptr<Server> srv) {
  while (!srv->stopping_) {
    bool slept = co_await io::sleep_for(kQueueTickInterval);
    if (!slept || srv->stopping_) break;
    srv->engine_.tick(shard_now_ms());
  }
}

io::Task<void> accept_loop(std::shared_ptr<Server> srv) {
  while (!srv->stopping_) {
    auto conn = co_await srv->listener_.accept();
    if (!conn.ok()) {
      if (srv->stopping_ || io::Shard::current().stop_requested()) break;
      bool slept = co_await io::sleep_for(std::chrono::milliseconds(10));
      if (!slept) break;
      continue;
    }
    auto c = std::make_shared<Conn>(srv, std::move(conn.value()));
    io::spawn(serve(std::move(c)));
  }
}

}  // namespace

Result<std::shared_ptr<Server>> start_server(const ServerConfig& cfg) {
  auto l = io::TcpListener::bind(cfg.host, cfg.port, /*reuse_port=*/false);
  if (!l.ok()) return l.error();
  auto srv = std::make_shared<Server>(cfg);
  srv->listener_ = std::move(l.value());
  logging::info("amqp listening on {}:{} (shard 0)", cfg.host, srv->listener_.port());
  io::spawn(accept_loop(srv));
  io::spawn(tick_loop(srv));
  return srv;
}

void stop_server(const std::shared_ptr<Server>& s) {
  if (!s) return;
  s->stopping_ = true;
  s->listener_.close();
  for (Conn* c : s->conns_) c->close_socket();
}

}  // namespace sluice::amqp
