#include "engine/amqp/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <map>
#include <optional>
#include <set>

#include "engine/amqp/codec.h"
#include "engine/queue/queue_engine.h"
#include "io/logging.h"
#include "io/shard.h"
#include "io/task.h"
#include "io/tcp.h"

namespace sluice::amqp {

namespace {
constexpr auto kCloseGrace = std::chrono::seconds(2);  // wait for close-ok, then drop the socket
// How often the queue engine's clock advances for TTLs and x-expires when nothing else happens.
constexpr auto kQueueTickInterval = std::chrono::milliseconds(50);
// RabbitMQ's ceiling for TTLs and x-expires (its timers take 32-bit milliseconds).
constexpr int64_t kMaxExpiryMs = 0xFFFFFFFFLL;

// A transaction buffers publishes and settlements until tx.commit; these bound one transaction.
constexpr std::size_t kMaxTxOps = 100'000;
constexpr std::size_t kMaxTxBodyBytes = 64 << 20;

uint64_t shard_now_ms() { return static_cast<uint64_t>(io::Shard::current().now_ns() / 1'000'000); }
}  // namespace

class Conn;
struct TxOp;

class Server : public std::enable_shared_from_this<Server> {
 public:
  explicit Server(ServerConfig cfg) : cfg_(std::move(cfg)) {}
  ServerConfig cfg_;
  io::TcpListener listener_;
  queue::QueueEngine engine_{queue::Limits{}, shard_now_ms};
  std::set<Conn*> conns_;
  uint64_t next_conn_id_ = 1;
  bool stopping_ = false;
  // Connection-close lines: at most kMaxLinesPerWindow per 10 s (a hostile client must not flood
  // the log); the first line of the next window counts what was left out.
  static constexpr int64_t kLogWindowNs = 10'000'000'000;
  static constexpr uint32_t kMaxLinesPerWindow = 10;
  int64_t log_window_start_ns_ = 0;
  uint32_t log_lines_ = 0;
  uint64_t log_skipped_ = 0;
  bool may_log(int64_t now_ns) {
    if (now_ns - log_window_start_ns_ >= kLogWindowNs) {
      if (log_skipped_) logging::info("amqp: {} connection lines left out in the last window", log_skipped_);
      log_window_start_ns_ = now_ns;
      log_lines_ = 0;
      log_skipped_ = 0;
    }
    if (log_lines_ < kMaxLinesPerWindow) {
      log_lines_++;
      return true;
    }
    log_skipped_++;
    return false;
  }
};

uint16_t server_port(const Server& s) { return s.listener_.port(); }

struct AmqpChannel;

enum class ConnState : uint8_t { kStartOk, kTuneOk, kOpen, kOpened, kClosing, kDone };

namespace {

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

bool int_value(const FieldValue& v, int64_t* out) {
  switch (v.tag) {
    case 'b':
    case 'B':
    case 's':
    case 'u':
    case 'I':
    case 'i':
    case 'l': *out = v.i; return true;
    default: return false;
  }
}

// RabbitMQ's name of a field type, for refusals.
std::string type_name(char tag) {
  switch (tag) {
    case 'b': return "byte";
    case 'B': return "unsignedbyte";
    case 's': return "short";
    case 'u': return "unsignedshort";
    case 'I': return "signedint";
    case 'i': return "unsignedint";
    case 'l': return "long";
    case 'S': return "longstr";
    case 't': return "bool";
    case 'F': return "table";
    case 'A': return "array";
    case 'T': return "timestamp";
    case 'V': return "void";
    default: return std::string(1, tag);
  }
}

std::string unacceptable(const FieldValue& v) { return "{unacceptable_type," + type_name(v.tag) + "}"; }

// Why a queue argument is refused, as RabbitMQ words it ("" = accepted).
std::string bad_int(const FieldValue& v, int64_t min, int64_t max, int64_t* out) {
  if (!int_value(v, out)) return unacceptable(v);
  if (*out < min) return (*out < 0 ? "{value_negative," : "{value_zero,") + std::to_string(*out) + "}";
  if (*out > max) return "{value_too_large," + std::to_string(*out) + "," + std::to_string(max) + "}";
  return {};
}

std::string bad_str(const FieldValue& v, std::optional<std::string>* out) {
  if (v.tag != 'S') return unacceptable(v);
  if (v.s.size() > 255) return "{value_too_long," + std::to_string(v.s.size()) + "}";
  *out = v.s;
  return {};
}

std::optional<queue::Overflow> parse_overflow(const std::string& s) {
  if (s == "drop-head") return queue::Overflow::kDropHead;
  if (s == "reject-publish") return queue::Overflow::kRejectPublish;
  if (s == "reject-publish-dlx") return queue::Overflow::kRejectPublishDlx;
  return std::nullopt;
}

// One queue argument into `a`; returns the refusal reason or "". Unknown x- arguments are ignored
// as RabbitMQ does; known ones Sluice does not implement set *not_implemented.
std::string parse_queue_arg(const std::string& k, const FieldValue& v, queue::QueueArgs* a, bool* not_implemented) {
  int64_t n = 0;
  std::string why;
  auto set_u = [&](std::optional<uint64_t>* field, int64_t min, int64_t max) {
    why = bad_int(v, min, max, &n);
    if (why.empty()) *field = static_cast<uint64_t>(n);
  };
  if (k == "x-dead-letter-exchange") return bad_str(v, &a->dead_letter_exchange);
  if (k == "x-dead-letter-routing-key") return bad_str(v, &a->dead_letter_routing_key);
  if (k == "x-message-ttl") set_u(&a->message_ttl_ms, 0, kMaxExpiryMs);
  if (k == "x-expires") set_u(&a->expires_ms, 1, kMaxExpiryMs);
  if (k == "x-max-length") set_u(&a->max_length, 0, INT64_MAX);
  if (k == "x-max-length-bytes") set_u(&a->max_length_bytes, 0, INT64_MAX);
  if (k == "x-delivery-limit") set_u(&a->delivery_limit, 0, INT64_MAX);
  if (k == "x-overflow") {
    if (v.tag != 'S') return unacceptable(v);
    auto o = parse_overflow(v.s);
    if (!o) return "invalid_overflow";
    a->overflow = o;
  }
  if (k == "x-queue-type") {
    if (v.tag == 'S' && v.s == "stream") *not_implemented = true;
    if (v.tag == 'S' && (v.s == "classic" || v.s == "quorum"))
      a->type = v.s == "quorum" ? queue::QueueType::kQuorum : queue::QueueType::kClassic;
    else if (!*not_implemented) return "{unsupported_queue_type,'" + canonical_text(v) + "'}";
  }
  if (k == "x-single-active-consumer") {
    if (v.tag != 't') return unacceptable(v);
    a->single_active_consumer = v.i != 0;
  }
  if (k == "x-max-priority" || k == "x-stream-offset") *not_implemented = true;
  return why;
}

// Declare flags a quorum queue cannot have (RabbitMQ's wording), or "".
std::string quorum_flag_error(const queue::QueueOptions& o) {
  if (o.auto_delete) return "auto-delete";  // RabbitMQ checks in this order
  if (o.exclusive) return "exclusive-owner";
  if (!o.durable) return "non-durable";
  return {};
}

// RabbitMQ accepts an expiration of decimal digits up to its timer ceiling.
std::optional<uint64_t> parse_expiration(const std::string& s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > static_cast<uint64_t>(kMaxExpiryMs)) return std::nullopt;
  return v;
}

FieldValue long_value(int64_t v) {
  FieldValue f = FieldValue::integer(v);
  f.tag = 'l';
  return f;
}

// The engine's clock is monotonic; x-death times are wall-clock seconds.
int64_t wall_offset_ms() {
  auto wall =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
  return wall.count() - static_cast<int64_t>(shard_now_ms());
}

FieldValue death_table(const queue::Death& d, int64_t wall_offset_ms) {
  FieldValue keys;
  keys.tag = 'A';
  for (const auto& k : d.routing_keys) keys.array.push_back(FieldValue::str(k));
  FieldValue time = long_value((static_cast<int64_t>(d.time_ms) + wall_offset_ms) / 1000);  // AMQP: seconds
  time.tag = 'T';
  // Keys in sorted order, as RabbitMQ writes them.
  FieldTable t = {{"count", long_value(static_cast<int64_t>(d.count))}, {"exchange", FieldValue::str(d.exchange)}};
  if (d.original_expiration) t.push_back({"original-expiration", FieldValue::str(*d.original_expiration)});
  t.push_back({"queue", FieldValue::str(d.queue)});
  t.push_back({"reason", FieldValue::str(queue::death_reason_name(d.reason))});
  t.push_back({"routing-keys", std::move(keys)});
  t.push_back({"time", std::move(time)});
  return FieldValue::nested(std::move(t));
}

void set_header(FieldTable& h, const std::string& key, FieldValue v) {
  for (auto& e : h) {
    if (e.key == key) {
      e.value = std::move(v);
      return;
    }
  }
  h.push_back({key, std::move(v)});
}

// The properties a delivery goes out with: the stored bytes, or (dead-lettered or redelivered
// from a quorum queue) a rewrite with x-death, x-first/last-death-*, x-delivery-count and without
// the expiration RabbitMQ strips on dead-lettering.
std::string_view delivery_properties(const queue::Delivery& d, std::string& scratch) {
  const queue::Message& m = *d.message;
  const bool count = d.delivery_count.value_or(0) > 0;
  if (m.deaths.empty() && !m.expiration_removed && !count) return m.properties;
  PropertyArgs p;
  if (!decode_properties(m.properties, &p)) return m.properties;  // stored bytes were decoded before
  if (m.expiration_removed) p[kPropExpiration].reset();
  if (!p[kPropHeaders]) p[kPropHeaders] = Arg{};
  FieldTable& h = p[kPropHeaders]->table;
  if (!m.deaths.empty()) {
    FieldValue deaths;
    deaths.tag = 'A';
    const int64_t offset = wall_offset_ms();
    for (const auto& death : m.deaths) deaths.array.push_back(death_table(death, offset));
    set_header(h, "x-death", std::move(deaths));
    set_header(h, "x-first-death-exchange", FieldValue::str(m.first_death.exchange));
    set_header(h, "x-first-death-queue", FieldValue::str(m.first_death.queue));
    set_header(h, "x-first-death-reason", FieldValue::str(queue::death_reason_name(m.first_death.reason)));
    // RabbitMQ 3.13 added the most recent death's summary too; the front entry is the latest.
    set_header(h, "x-last-death-exchange", FieldValue::str(m.deaths.front().exchange));
    set_header(h, "x-last-death-queue", FieldValue::str(m.deaths.front().queue));
    set_header(h, "x-last-death-reason", FieldValue::str(queue::death_reason_name(m.deaths.front().reason)));
  }
  if (count) set_header(h, "x-delivery-count", long_value(*d.delivery_count));
  scratch = encode_properties(p);
  return scratch;
}

queue::Headers to_headers(const FieldTable& t) {
  queue::Headers h;
  for (const auto& [k, v] : t) {
    if (v.tag == 'V') {
      h.push_back({k, std::nullopt});
    } else {
      h.push_back({k, canonical_text(v)});
    }
  }
  return h;
}

}  // namespace

class Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(std::shared_ptr<Server> srv, io::TcpConnection sock)
      : srv_(std::move(srv)), sock_(std::move(sock)), id_(srv_->next_conn_id_++) {}
  ~Conn();

  io::Task<void> run();
  void close_socket() { sock_.close(); }

  // Output.
  void send_method(uint16_t ch, const Method& m) {
    encode_method_frame(ch, m, out_);
    out_ready_.set();
  }
  void send_content(uint16_t ch, std::string_view props, std::string_view body) {
    encode_content(ch, kClassBasic, props, body, frame_max_, out_);
    out_ready_.set();
  }
  std::string& out() { return out_; }
  void kick() { out_ready_.set(); }

  std::shared_ptr<Server> srv_;
  io::TcpConnection sock_;
  uint64_t id_;
  uint32_t frame_max_ = 0;
  bool cancel_notify_ = false;  // client capability consumer_cancel_notify

 private:
  io::Task<void> writer(std::shared_ptr<Conn> self);
  io::Task<void> heartbeat(std::shared_ptr<Conn> self);
  io::Task<void> close_watchdog(std::shared_ptr<Conn> self);
  bool handle_frame(const Frame& f);  // false: stop reading
  void handle_connection_method(const Method& m);
  void handle_channel_method(AmqpChannel& ch, const Method& m);
  void finish_publish(AmqpChannel& ch);
  bool publish_now(AmqpChannel& ch, const queue::MessagePtr& msg, bool mandatory, const Method& m);
  bool settle_now(AmqpChannel& ch, const TxOp& op, const Method& m);
  bool tx_room(AmqpChannel& ch, const Method& m);
  bool set_direct_reply_to(AmqpChannel& ch, queue::Message& msg, const Method& m);
  void handle_tx(AmqpChannel& ch, const Method& m);
  bool parse_declare_args(AmqpChannel& ch, const Method& m, queue::QueueOptions* o);
  void connection_error(uint16_t code, std::string text, const Method* m);
  void channel_error(AmqpChannel& ch, uint16_t code, std::string text, const Method* m);
  void close_channel(uint16_t id);
  void engine_error(AmqpChannel& ch, queue::QErr e, const std::string& what, const Method& m);
  const std::string& queue_name(AmqpChannel& ch, const std::string& given);

  std::string in_;
  std::string out_;
  io::Event out_ready_;
  io::Event writer_done_ev_;
  bool writer_done_ = false;
  bool finishing_ = false;
  ConnState state_ = ConnState::kStartOk;
  uint16_t channel_max_ = 0;
  uint16_t heartbeat_s_ = 0;
  int64_t last_recv_ns_ = 0;
  int64_t last_send_ns_ = 0;
  bool loopback_ = false;
  std::map<uint16_t, std::unique_ptr<AmqpChannel>> channels_;
};

// One buffered operation of a transactional channel: a publish or an ack / nack / reject.
struct TxOp {
  MethodId kind = MethodId::kBasicPublish;
  queue::MessagePtr msg;  // publish
  bool mandatory = false;
  uint64_t tag = 0;  // settlements
  bool multiple = false, requeue = false;
};

struct AmqpChannel : queue::SessionSink {
  AmqpChannel(Conn* c, uint16_t id) : conn(c), id(id) {}
  Conn* conn;
  uint16_t id;
  queue::SessionId session = 0;
  bool closing = false;
  bool confirm = false;
  uint64_t publish_seq = 0;
  bool tx = false;  // tx.select seen: publishes and settlements wait for tx.commit
  std::vector<TxOp> tx_ops;
  std::size_t tx_body_bytes = 0;
  bool defer = false;  // deliveries held until consume-ok went out
  std::string deferred;
  std::string last_queue;  // "" in queue arguments means the last declared queue
  // A basic.publish waiting for its content.
  std::optional<Method> publish;
  bool have_header = false;
  ContentHeader header;
  std::string body;

  std::string& sink() { return defer ? deferred : conn->out(); }

  void deliver(const queue::Delivery& d) override {
    Method m = make_method(MethodId::kBasicDeliver);
    m.set("consumer-tag", d.consumer_tag)
        .set("delivery-tag", d.delivery_tag)
        .set("redelivered", d.redelivered ? 1 : 0)
        .set("exchange", d.message->exchange)
        .set("routing-key", d.message->routing_key);
    encode_method_frame(id, m, sink());
    std::string scratch;
    encode_content(id, kClassBasic, delivery_properties(d, scratch), d.message->body, conn->frame_max_, sink());
    conn->kick();
  }
  void consumer_cancelled(const std::string& tag) override {
    if (!conn->cancel_notify_) return;  // the client did not ask for consumer_cancel_notify
    Method m = make_method(MethodId::kBasicCancel);
    m.set("consumer-tag", tag).set("no-wait", 1);
    encode_method_frame(id, m, sink());
    conn->kick();
  }
};

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
    DecodeError err;
    if (!decode_method(f.payload, &m, &err)) {
      connection_error(err.code, err.text, nullptr);
      return true;
    }
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
  DecodeError err;
  if (!decode_method(f.payload, &m, &err)) {
    connection_error(err.code, err.text, nullptr);
    return true;
  }
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

void Conn::finish_publish(AmqpChannel& ch) {
  Method pub = std::move(*ch.publish);
  ch.publish.reset();
  ch.have_header = false;
  auto msg = std::make_shared<queue::Message>();
  msg->exchange = pub.str("exchange");
  msg->routing_key = pub.str("routing-key");
  msg->properties = std::move(ch.header.properties);
  msg->body = std::move(ch.body);
  msg->headers = to_headers(ch.header.headers);
  msg->persistent = ch.header.delivery_mode == 2;
  ch.body.clear();
  if (ch.header.expiration) {
    msg->expiration_ms = parse_expiration(*ch.header.expiration);
    if (!msg->expiration_ms) {
      channel_error(ch, reply::kPreconditionFailed,
                    "PRECONDITION_FAILED - invalid expiration '" + ch.header.expiration->substr(0, 64) + "'", &pub);
      return;
    }
    msg->expiration_text = *ch.header.expiration;
  }
  if (ch.header.reply_to == queue::kDirectReplyTo && !set_direct_reply_to(ch, *msg, pub)) return;
  if (!ch.tx) {
    publish_now(ch, msg, pub.bit("mandatory"), pub);
    return;
  }
  if (!srv_->engine_.has_exchange(msg->exchange)) {  // RabbitMQ checks the exchange at publish time
    engine_error(ch, queue::QErr::kNotFound, "exchange '" + msg->exchange + "'", pub);
    return;
  }
  ch.tx_body_bytes += msg->body.size();
  if (!tx_room(ch, pub)) return;
  ch.tx_ops.push_back(TxOp{MethodId::kBasicPublish, std::move(msg), pub.bit("mandatory"), 0, false, false});
}

// A request naming amq.rabbitmq.reply-to goes out with the channel's private reply address, as
// RabbitMQ rewrites it; without a reply consumer on the channel it is refused.
bool Conn::set_direct_reply_to(AmqpChannel& ch, queue::Message& msg, const Method& m) {
  std::optional<std::string> address = srv_->engine_.reply_address(ch.session);
  PropertyArgs p;
  if (!address || !decode_properties(msg.properties, &p) || !p[kPropReplyTo]) {
    channel_error(ch, reply::kPreconditionFailed, "PRECONDITION_FAILED - fast reply consumer does not exist", &m);
    return false;
  }
  p[kPropReplyTo]->str = std::move(*address);
  msg.properties = encode_properties(p);
  return true;
}

bool Conn::tx_room(AmqpChannel& ch, const Method& m) {
  if (ch.tx_ops.size() < kMaxTxOps && ch.tx_body_bytes <= kMaxTxBodyBytes) return true;
  channel_error(ch, reply::kResourceError, "RESOURCE_ERROR - transaction too large", &m);
  return false;
}

bool Conn::publish_now(AmqpChannel& ch, const queue::MessagePtr& msg, bool mandatory, const Method& m) {
  queue::PublishResult r = srv_->engine_.publish(msg->exchange, msg->routing_key, msg);
  if (r.err != queue::QErr::kOk) {
    engine_error(ch, r.err, "exchange '" + msg->exchange + "'", m);
    return false;
  }
  // A message refused by a full queue (reject-publish) is not unroutable: it is nacked, not returned.
  if (r.routed == 0 && r.refused == 0 && mandatory) {
    Method ret = make_method(MethodId::kBasicReturn);
    ret.set("reply-code", reply::kNoRoute)
        .set("reply-text", "NO_ROUTE")
        .set("exchange", msg->exchange)
        .set("routing-key", msg->routing_key);
    send_method(ch.id, ret);
    send_content(ch.id, msg->properties, msg->body);
  }
  if (ch.confirm) {
    // A queue that was full refused it: nack, as RabbitMQ's reject-publish overflow does.
    Method ack = make_method(r.refused ? MethodId::kBasicNack : MethodId::kBasicAck);
    ack.set("delivery-tag", ++ch.publish_seq).set("multiple", 0);
    send_method(ch.id, ack);
  }
  return true;
}

bool Conn::settle_now(AmqpChannel& ch, const TxOp& op, const Method& m) {
  queue::QueueEngine& eng = srv_->engine_;
  queue::QErr e = queue::QErr::kOk;
  if (op.kind == MethodId::kBasicAck) {
    e = eng.ack(ch.session, op.tag, op.multiple);
  } else {
    e = eng.nack(ch.session, op.tag, op.multiple, op.requeue);
  }
  if (e == queue::QErr::kOk) return true;
  channel_error(ch, reply::kPreconditionFailed, "PRECONDITION_FAILED - unknown delivery tag " + std::to_string(op.tag),
                &m);
  return false;
}

void Conn::handle_tx(AmqpChannel& ch, const Method& m) {
  if (m.id() == MethodId::kTxSelect) {
    if (ch.confirm) {
      channel_error(ch, reply::kPreconditionFailed, "PRECONDITION_FAILED - cannot switch from confirm to tx mode", &m);
      return;
    }
    ch.tx = true;
    send_method(ch.id, make_method(MethodId::kTxSelectOk));
    return;
  }
  if (!ch.tx) {
    channel_error(ch, reply::kPreconditionFailed, "PRECONDITION_FAILED - channel is not transactional", &m);
    return;
  }
  std::vector<TxOp> ops;
  ops.swap(ch.tx_ops);
  ch.tx_body_bytes = 0;
  if (m.id() == MethodId::kTxCommit) {
    // Applied in the order the client sent them; the first failure closes the channel.
    for (const TxOp& op : ops) {
      bool ok = op.kind == MethodId::kBasicPublish ? publish_now(ch, op.msg, op.mandatory, m) : settle_now(ch, op, m);
      if (!ok) return;
    }
  }
  send_method(ch.id, make_method(m.id() == MethodId::kTxCommit ? MethodId::kTxCommitOk : MethodId::kTxRollbackOk));
}

bool Conn::parse_declare_args(AmqpChannel& ch, const Method& m, queue::QueueOptions* o) {
  const std::string& name = m.str("queue");
  auto refuse = [&](const std::string& what, const std::string& detail) {
    channel_error(ch, reply::kPreconditionFailed,
                  "PRECONDITION_FAILED - " + what + " for queue '" + name + "' in vhost '/'" + detail, &m);
    return false;
  };
  for (const auto& [k, v] : m.table("arguments")) {
    bool not_implemented = false;
    std::string why = parse_queue_arg(k, v, &o->args, &not_implemented);
    if (not_implemented) {
      connection_error(reply::kNotImplemented, "NOT_IMPLEMENTED - queue argument '" + k + "' not supported yet", &m);
      return false;
    }
    if (!why.empty()) return refuse("invalid arg '" + k + "'", ": " + why);
  }
  if (o->args.dead_letter_routing_key && !o->args.dead_letter_exchange)
    return refuse("invalid arg 'x-dead-letter-routing-key'", ": {routing_key_but_no_dlx_defined}");
  if (o->args.type == queue::QueueType::kQuorum) {
    std::string bad = quorum_flag_error(*o);
    if (!bad.empty()) return refuse("invalid property '" + bad + "'", "");
  }
  return true;
}

void Conn::handle_channel_method(AmqpChannel& ch, const Method& m) {
  queue::QueueEngine& eng = srv_->engine_;
  const uint16_t cid = ch.id;
  auto reply_unless_nowait = [&](MethodId id) {
    if (!m.bit("no-wait")) send_method(cid, make_method(id));
  };
  switch (m.id()) {
    case MethodId::kChannelOpen:
      connection_error(reply::kChannelError, "CHANNEL_ERROR - second 'channel.open' seen", &m);
      return;
    case MethodId::kChannelClose:
      send_method(cid, make_method(MethodId::kChannelCloseOk));
      close_channel(cid);
      return;
    case MethodId::kChannelCloseOk: return;
    case MethodId::kChannelFlow: {
      eng.set_flow(ch.session, m.bit("active"));
      Method ok = make_method(MethodId::kChannelFlowOk);
      ok.set("active", m.num("active"));
      send_method(cid, ok);
      return;
    }
    case MethodId::kChannelFlowOk: return;
    case MethodId::kExchangeDeclare: {
      const std::string& name = m.str("exchange");
      auto type = queue::parse_exchange_type(m.str("type"));
      if (!m.bit("passive") && !type) {
        connection_error(reply::kCommandInvalid, "COMMAND_INVALID - unknown exchange type '" + m.str("type") + "'", &m);
        return;
      }
      queue::ExchangeOptions o{m.bit("passive"), m.bit("durable"), m.bit("auto-delete"), m.bit("internal")};
      queue::QErr e = eng.declare_exchange(name, type.value_or(queue::ExchangeType::kDirect), o);
      if (e == queue::QErr::kPreconditionFailed) {
        channel_error(ch, reply::kPreconditionFailed,
                      "PRECONDITION_FAILED - inequivalent arg 'type' or flags for exchange '" + name + "' in vhost '/'",
                      &m);
        return;
      }
      if (e != queue::QErr::kOk) {
        engine_error(ch, e, "exchange '" + name + "'", m);
        return;
      }
      reply_unless_nowait(MethodId::kExchangeDeclareOk);
      return;
    }
    case MethodId::kExchangeDelete: {
      queue::QErr e = eng.delete_exchange(m.str("exchange"), m.bit("if-unused"));
      if (e == queue::QErr::kPreconditionFailed) {
        channel_error(ch, reply::kPreconditionFailed,
                      "PRECONDITION_FAILED - exchange '" + m.str("exchange") + "' in vhost '/' in use", &m);
        return;
      }
      if (e != queue::QErr::kOk) {
        engine_error(ch, e, "exchange '" + m.str("exchange") + "'", m);
        return;
      }
      reply_unless_nowait(MethodId::kExchangeDeleteOk);
      return;
    }
    case MethodId::kQueueDeclare: {
      queue::QueueOptions o{m.bit("passive"), m.bit("durable"), m.bit("exclusive"), m.bit("auto-delete"), {}};
      const std::string& name = m.str("queue");
      if (!o.passive && !parse_declare_args(ch, m, &o)) return;
      queue::QueueInfo info;
      std::string diff;
      queue::QErr e = eng.declare_queue(o.passive ? queue_name(ch, name) : name, id_, o, &info, &diff);
      if (e == queue::QErr::kPreconditionFailed) {
        channel_error(ch, reply::kPreconditionFailed,
                      "PRECONDITION_FAILED - inequivalent arg '" + diff + "' for queue '" + name + "' in vhost '/'",
                      &m);
        return;
      }
      if (e != queue::QErr::kOk) {
        engine_error(ch, e, "queue '" + name + "'", m);
        return;
      }
      ch.last_queue = info.name;
      if (!m.bit("no-wait")) {
        Method ok = make_method(MethodId::kQueueDeclareOk);
        ok.set("queue", info.name).set("message-count", info.message_count).set("consumer-count", info.consumer_count);
        send_method(cid, ok);
      }
      return;
    }
    case MethodId::kQueueBind:
    case MethodId::kQueueUnbind: {
      std::string q = queue_name(ch, m.str("queue"));
      const std::string& ex = m.str("exchange");
      if (ex.empty()) {
        channel_error(ch, reply::kAccessRefused, "ACCESS_REFUSED - operation not permitted on the default exchange",
                      &m);
        return;
      }
      queue::Headers args = to_headers(m.table("arguments"));
      queue::QErr e = m.id() == MethodId::kQueueBind ? eng.bind(q, ex, m.str("routing-key"), args, id_)
                                                     : eng.unbind(q, ex, m.str("routing-key"), args, id_);
      if (e == queue::QErr::kNotFound) {
        bool have_queue = eng.queue_info(q).has_value();
        engine_error(ch, e, have_queue ? "exchange '" + ex + "'" : "queue '" + q + "'", m);
        return;
      }
      if (e != queue::QErr::kOk) {
        engine_error(ch, e, "queue '" + q + "'", m);
        return;
      }
      if (m.id() == MethodId::kQueueBind) {
        reply_unless_nowait(MethodId::kQueueBindOk);
      } else {
        send_method(cid, make_method(MethodId::kQueueUnbindOk));
      }
      return;
    }
    case MethodId::kQueuePurge: {
      std::string q = queue_name(ch, m.str("queue"));
      uint32_t n = 0;
      queue::QErr e = eng.purge_queue(q, id_, &n);
      if (e != queue::QErr::kOk) {
        engine_error(ch, e, "queue '" + q + "'", m);
        return;
      }
      if (!m.bit("no-wait")) {
        Method ok = make_method(MethodId::kQueuePurgeOk);
        ok.set("message-count", n);
        send_method(cid, ok);
      }
      return;
    }
    case MethodId::kQueueDelete: {
      std::string q = queue_name(ch, m.str("queue"));
      uint32_t n = 0;
      queue::QErr e = eng.delete_queue(q, id_, m.bit("if-unused"), m.bit("if-empty"), &n);
      if (e == queue::QErr::kPreconditionFailed) {
        channel_error(
            ch, reply::kPreconditionFailed,
            "PRECONDITION_FAILED - queue '" + q + "' in vhost '/' " + (m.bit("if-unused") ? "in use" : "not empty"),
            &m);
        return;
      }
      if (e != queue::QErr::kOk) {
        engine_error(ch, e, "queue '" + q + "'", m);
        return;
      }
      if (!m.bit("no-wait")) {
        Method ok = make_method(MethodId::kQueueDeleteOk);
        ok.set("message-count", n);
        send_method(cid, ok);
      }
      return;
    }
    case MethodId::kBasicQos: {
      if (m.num("prefetch-size") != 0) {
        connection_error(reply::kNotImplemented,
                         "NOT_IMPLEMENTED - prefetch_size!=0 (" + std::to_string(m.num("prefetch-size")) + ")", &m);
        return;
      }
      eng.set_prefetch(ch.session, static_cast<uint32_t>(m.num("prefetch-count")), m.bit("global"));
      send_method(cid, make_method(MethodId::kBasicQosOk));
      return;
    }
    case MethodId::kBasicConsume: {
      if (!m.table("arguments").empty()) {
        connection_error(reply::kNotImplemented, "NOT_IMPLEMENTED - consumer arguments not supported yet", &m);
        return;
      }
      std::string q = queue_name(ch, m.str("queue"));
      std::string tag = m.str("consumer-tag");
      ch.defer = true;
      queue::QErr e = eng.consume(ch.session, q, &tag, m.bit("no-ack"), m.bit("exclusive"));
      ch.defer = false;
      if (e == queue::QErr::kNotAllowed) {
        connection_error(reply::kNotAllowed, "NOT_ALLOWED - attempt to reuse consumer tag '" + tag + "'", &m);
        return;
      }
      if (e == queue::QErr::kAccessRefused) {
        channel_error(ch, reply::kAccessRefused, "ACCESS_REFUSED - queue '" + q + "' in vhost '/' in exclusive use",
                      &m);
        return;
      }
      if (e == queue::QErr::kPreconditionFailed) {  // only the direct reply-to consumer answers this
        channel_error(ch, reply::kPreconditionFailed,
                      m.bit("no-ack") ? "PRECONDITION_FAILED - reply consumer already set"
                                      : "PRECONDITION_FAILED - reply consumer cannot acknowledge",
                      &m);
        return;
      }
      if (e != queue::QErr::kOk) {
        engine_error(ch, e, "queue '" + q + "'", m);
        return;
      }
      if (!m.bit("no-wait")) {
        Method ok = make_method(MethodId::kBasicConsumeOk);
        ok.set("consumer-tag", tag);
        send_method(cid, ok);
      }
      out_.append(ch.deferred);
      ch.deferred.clear();
      kick();
      return;
    }
    case MethodId::kBasicCancel: {
      (void)eng.cancel(ch.session, m.str("consumer-tag"));  // an unknown tag is answered ok, as RabbitMQ does
      if (!m.bit("no-wait")) {
        Method ok = make_method(MethodId::kBasicCancelOk);
        ok.set("consumer-tag", m.str("consumer-tag"));
        send_method(cid, ok);
      }
      return;
    }
    case MethodId::kBasicPublish: {
      if (m.bit("immediate")) {
        connection_error(reply::kNotImplemented, "NOT_IMPLEMENTED - immediate=true", &m);
        return;
      }
      ch.publish = m;
      ch.have_header = false;
      return;
    }
    case MethodId::kBasicGet: {
      std::string q = queue_name(ch, m.str("queue"));
      std::optional<queue::Delivery> d;
      queue::QErr e = eng.get(ch.session, q, m.bit("no-ack"), &d);
      if (e != queue::QErr::kOk) {
        engine_error(ch, e, "queue '" + q + "'", m);
        return;
      }
      if (!d) {
        send_method(cid, make_method(MethodId::kBasicGetEmpty));
        return;
      }
      Method ok = make_method(MethodId::kBasicGetOk);
      ok.set("delivery-tag", d->delivery_tag)
          .set("redelivered", d->redelivered ? 1 : 0)
          .set("exchange", d->message->exchange)
          .set("routing-key", d->message->routing_key)
          .set("message-count", d->message_count);
      send_method(cid, ok);
      std::string scratch;
      send_content(cid, delivery_properties(*d, scratch), d->message->body);
      return;
    }
    case MethodId::kBasicAck:
    case MethodId::kBasicNack:
    case MethodId::kBasicReject: {
      TxOp op{m.id(), nullptr, false, m.num("delivery-tag"), false, false};
      op.multiple = m.id() != MethodId::kBasicReject && m.bit("multiple");
      op.requeue = m.id() != MethodId::kBasicAck && m.bit("requeue");
      if (!ch.tx) {
        (void)settle_now(ch, op, m);
        return;
      }
      if (tx_room(ch, m)) ch.tx_ops.push_back(std::move(op));  // unknown tags are found at commit
      return;
    }
    case MethodId::kBasicRecover:
    case MethodId::kBasicRecoverAsync:
      eng.recover(ch.session);
      if (m.id() == MethodId::kBasicRecover) send_method(cid, make_method(MethodId::kBasicRecoverOk));
      return;
    case MethodId::kConfirmSelect:
      if (ch.tx) {
        channel_error(ch, reply::kPreconditionFailed, "PRECONDITION_FAILED - cannot switch from tx to confirm mode",
                      &m);
        return;
      }
      ch.confirm = true;
      if (!m.bit("nowait")) send_method(cid, make_method(MethodId::kConfirmSelectOk));
      return;
    case MethodId::kTxSelect:
    case MethodId::kTxCommit:
    case MethodId::kTxRollback: handle_tx(ch, m); return;
    case MethodId::kExchangeBind:
    case MethodId::kExchangeUnbind:
      connection_error(reply::kNotImplemented, "NOT_IMPLEMENTED - " + std::string(m.def->name) + " not supported yet",
                       &m);
      return;
    default: break;
  }
  connection_error(reply::kCommandInvalid,
                   "COMMAND_INVALID - unexpected " + std::string(m.def->name) + " on channel " + std::to_string(cid),
                   &m);
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
