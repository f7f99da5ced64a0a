#pragma once
// Declarations shared by the AMQP server's files (server.cc, channel.cc, publish.cc,
// arguments.cc); not part of the module's interface (that is server.h).
#include <map>
#include <optional>
#include <set>

#include "engine/amqp/codec.h"
#include "engine/amqp/server.h"
#include "engine/queue/queue_engine.h"
#include "io/logging.h"
#include "io/shard.h"
#include "io/task.h"
#include "io/tcp.h"

namespace sluice::amqp {

inline uint64_t shard_now_ms() { return static_cast<uint64_t>(io::Shard::current().now_ns() / 1'000'000); }

// Queue arguments, expirations and message properties (arguments.cc).

// One queue argument into `a`; returns the refusal reason or "". Unknown x- arguments are ignored
// as RabbitMQ does; known ones Sluice does not implement set *not_implemented.
std::string parse_queue_arg(const std::string& k, const FieldValue& v, queue::QueueArgs* a, bool* not_implemented);
// Declare flags a quorum queue cannot have (RabbitMQ's wording), or "".
std::string quorum_flag_error(const queue::QueueOptions& o);
// RabbitMQ accepts an expiration of decimal digits up to its timer ceiling.
std::optional<uint64_t> parse_expiration(const std::string& s);
// The properties a delivery goes out with: the stored bytes, or (dead-lettered or redelivered
// from a quorum queue) a rewrite with x-death, x-first/last-death-*, x-delivery-count and without
// the expiration RabbitMQ strips on dead-lettering.
std::string_view delivery_properties(const queue::Delivery& d, std::string& scratch);
queue::Headers to_headers(const FieldTable& t);

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

struct AmqpChannel;

enum class ConnState : uint8_t { kStartOk, kTuneOk, kOpen, kOpened, kClosing, kDone };

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
  bool decode_or_close(const Frame& f, Method* m);
  void handle_connection_method(const Method& m);
  void handle_channel_method(AmqpChannel& ch, const Method& m);
  // One method each (channel.cc).
  void exchange_declare(AmqpChannel& ch, const Method& m);
  void exchange_delete(AmqpChannel& ch, const Method& m);
  void queue_declare(AmqpChannel& ch, const Method& m);
  void queue_bind(AmqpChannel& ch, const Method& m);
  void queue_delete(AmqpChannel& ch, const Method& m);
  void basic_consume(AmqpChannel& ch, const Method& m);
  void basic_get(AmqpChannel& ch, const Method& m);
  void reply_unless_nowait(uint16_t cid, const Method& m, MethodId ok_id);
  void finish_publish(AmqpChannel& ch);
  bool publish_now(AmqpChannel& ch, const queue::MessagePtr& msg, bool mandatory, const Method& m);
  bool settle_now(AmqpChannel& ch, const TxOp& op, const Method& m);
  bool tx_room(AmqpChannel& ch, const Method& m);
  bool set_direct_reply_to(AmqpChannel& ch, queue::Message& msg, const Method& m);
  void handle_tx(AmqpChannel& ch, const Method& m);
  bool parse_declare_args(AmqpChannel& ch, const Method& m, queue::QueueOptions* o);
  void reply_with_message_count(uint16_t cid, const Method& m, MethodId ok_id, uint32_t message_count);
  bool queue_ok(AmqpChannel& ch, queue::QErr e, const std::string& q, const Method& m);
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

}  // namespace sluice::amqp
