#pragma once
// QueueEngine: AMQP-style queues without a wire. Exchanges (direct, fanout, topic, headers),
// queues, bindings, routing, consumers, per-session unacked deliveries with delivery tags,
// prefetch, ack/nack/reject with requeue, basic-get. Deterministic and I/O-free: every call runs
// to completion and deliveries to consumers are handed synchronously to the session's sink.
// One engine instance lives on one shard and is touched only by it (see README.md).
#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::queue {

// Errors an operation can answer; the wire edge maps them to its codes (the names follow the
// AMQP reply codes they correspond to).
enum class QErr : uint8_t {
  kOk = 0,
  kNotFound,            // no such exchange / queue / consumer
  kAccessRefused,       // reserved name (amq.*), default exchange, internal exchange
  kResourceLocked,      // exclusive queue of another owner
  kPreconditionFailed,  // inequivalent redeclare, if-unused/if-empty, unknown delivery tag
  kNotAllowed,          // duplicate consumer tag
  kLimit,               // engine limits (queues, exchanges, bindings, consumers)
};
const char* qerr_name(QErr e) noexcept;

enum class ExchangeType : uint8_t { kDirect, kFanout, kTopic, kHeaders };
std::optional<ExchangeType> parse_exchange_type(std::string_view s) noexcept;
const char* exchange_type_name(ExchangeType t) noexcept;

// Message headers for the headers exchange, each value reduced to a canonical string by the
// wire edge (so the engine needs no wire types). A binding value of nullopt matches presence.
struct Header {
  std::string key;
  std::optional<std::string> value;
  bool operator==(const Header&) const = default;
};
using Headers = std::vector<Header>;

// Why a message was dead-lettered (RabbitMQ's x-death reasons).
enum class DeathReason : uint8_t { kRejected, kExpired, kMaxLen, kDeliveryLimit };
const char* death_reason_name(DeathReason r) noexcept;

// One x-death entry. Entries are aggregated per (queue, reason): a repeat increments `count` and
// moves the entry to the front, keeping the first occurrence's time, exchange and keys (RabbitMQ).
struct Death {
  std::string queue;
  DeathReason reason = DeathReason::kRejected;
  uint64_t count = 1;
  uint64_t time_ms = 0;
  std::string exchange;                            // the message's exchange before this dead-lettering
  std::vector<std::string> routing_keys;           // its routing keys before this dead-lettering
  std::optional<std::string> original_expiration;  // per-message expiration removed on expiry
};

struct Message {
  std::string exchange;
  std::string routing_key;
  std::string properties;  // opaque to the engine (the wire's encoded properties)
  std::string body;
  Headers headers;  // for headers-exchange routing only
  bool persistent = false;
  // Per-message TTL (the `expiration` property, parsed by the wire edge) and its text.
  std::optional<uint64_t> expiration_ms;
  std::string expiration_text;
  // Dead-letter history, most recent first; non-empty only for dead-lettered messages. The wire
  // edge renders it as x-death / x-first-death-* headers and, when `expiration_removed`, drops
  // the expiration property (RabbitMQ removes it when a message dead-letters on expiry).
  std::vector<Death> deaths;
  Death first_death;  // the first dead-lettering (x-first-death-*); meaningful when deaths is not empty
  bool expiration_removed = false;
};
using MessagePtr = std::shared_ptr<const Message>;

// Direct reply-to: consuming this pseudo-queue (no-ack) gives a session a private address
// (kDirectReplyTo + "." + token) that replies published to the default exchange go to directly.
inline constexpr std::string_view kDirectReplyTo = "amq.rabbitmq.reply-to";

using SessionId = uint64_t;  // one per channel
using OwnerId = uint64_t;    // one per connection (exclusive queues)

struct Delivery {
  std::string consumer_tag;   // empty for get
  uint64_t delivery_tag = 0;  // 0 when not tracked (no-ack)
  bool redelivered = false;
  MessagePtr message;
  uint32_t message_count = 0;  // get: messages left in the queue
  // Quorum queues: times this message was returned before (x-delivery-count header when > 0).
  std::optional<uint32_t> delivery_count;
};

// Receives deliveries and server-side consumer cancels for one session. Implementations must not
// call back into the engine from these.
class SessionSink {
 public:
  virtual ~SessionSink() = default;
  virtual void deliver(const Delivery& d) = 0;
  virtual void consumer_cancelled(const std::string& consumer_tag) = 0;  // its queue was deleted
};

struct Limits {
  std::size_t max_queues = 10000;
  std::size_t max_exchanges = 10000;
  std::size_t max_bindings = 100000;
  std::size_t max_consumers_per_session = 10000;
  std::size_t max_messages_per_queue = 1'000'000;      // past it new messages are dropped (counted)
  std::size_t max_queued_bytes_total = 1ULL << 30;     // bodies held in all queues
  std::size_t max_death_entries = 32;                  // distinct x-death entries; past it a message is dropped
  std::size_t max_dead_letters_per_operation = 10000;  // cascaded ones routed by one call; the rest dropped
};

struct QueueInfo {
  std::string name;
  uint32_t message_count = 0;
  uint32_t consumer_count = 0;
};

enum class Overflow : uint8_t { kDropHead, kRejectPublish, kRejectPublishDlx };
enum class QueueType : uint8_t { kClassic, kQuorum };

// Queue arguments (x-...), already validated by the wire edge. Equality decides whether a
// redeclare is equivalent.
struct QueueArgs {
  std::optional<std::string> dead_letter_exchange;
  std::optional<std::string> dead_letter_routing_key;
  std::optional<uint64_t> message_ttl_ms;
  std::optional<uint64_t> max_length;
  std::optional<uint64_t> max_length_bytes;
  std::optional<Overflow> overflow;  // unset = drop-head
  std::optional<QueueType> type;     // unset = classic
  std::optional<uint64_t> delivery_limit;
  std::optional<uint64_t> expires_ms;
  std::optional<bool> single_active_consumer;
  bool operator==(const QueueArgs&) const = default;
};

struct QueueOptions {
  bool passive = false, durable = false, exclusive = false, auto_delete = false;
  QueueArgs args;
};
struct ExchangeOptions {
  bool passive = false, durable = false, auto_delete = false, internal = false;
};

struct PublishResult {
  QErr err = QErr::kOk;     // kNotFound: no exchange; kAccessRefused: internal exchange
  std::size_t routed = 0;   // queues the message went to (0 = unroutable)
  std::size_t refused = 0;  // matching queues that refused it (reject-publish, engine limits)
};

// Milliseconds from an arbitrary origin; the engine reads time only through this.
using Clock = std::function<uint64_t()>;

class QueueEngine {
 public:
  // Without a clock the time is the last tick() (deterministic tests).
  explicit QueueEngine(Limits limits = {}, Clock clock = nullptr);
  ~QueueEngine();
  QueueEngine(const QueueEngine&) = delete;
  QueueEngine& operator=(const QueueEngine&) = delete;

  // Exchanges. `type` is ignored for passive declares.
  QErr declare_exchange(const std::string& name, ExchangeType type, const ExchangeOptions& o);
  QErr delete_exchange(const std::string& name, bool if_unused);

  // Queues. An empty name gets a server name (amq.gen-...), returned in QueueInfo. On an
  // inequivalent redeclare (kPreconditionFailed) `*inequivalent` names the differing field.
  QErr declare_queue(const std::string& name, OwnerId owner, const QueueOptions& o, QueueInfo* out,
                     std::string* inequivalent = nullptr);
  QErr delete_queue(const std::string& name, OwnerId owner, bool if_unused, bool if_empty, uint32_t* deleted);
  QErr purge_queue(const std::string& name, OwnerId owner, uint32_t* purged);
  // Headers bindings read x-match (all/any) from `args` (key "x-match"); others ignore args.
  QErr bind(const std::string& queue, const std::string& exchange, const std::string& key, const Headers& args,
            OwnerId owner);
  QErr unbind(const std::string& queue, const std::string& exchange, const std::string& key, const Headers& args,
              OwnerId owner);

  PublishResult publish(const std::string& exchange, const std::string& routing_key, const MessagePtr& msg);

  // Sessions (channels).
  SessionId open_session(OwnerId owner, SessionSink* sink);
  // Requeues the session's unacked deliveries (redelivered), cancels its consumers.
  void close_session(SessionId s);
  // Deletes the owner's exclusive queues. Sessions must be closed first.
  void owner_gone(OwnerId owner);

  // global=false: each consumer started afterwards on the session gets this limit; true: the
  // session's deliveries in flight in all.
  void set_prefetch(SessionId s, uint32_t count, bool global);
  void set_flow(SessionId s, bool active);
  // `queue` kDirectReplyTo makes the session's direct reply-to consumer: kPreconditionFailed
  // unless no_ack, or when the session has one already.
  QErr consume(SessionId s, const std::string& queue, std::string* tag, bool no_ack, bool exclusive);
  // The reply_to address requests published on the session carry, when it has a reply consumer.
  std::optional<std::string> reply_address(SessionId s) const;
  QErr cancel(SessionId s, const std::string& tag);
  // delivery_tag 0 with multiple = everything outstanding.
  QErr ack(SessionId s, uint64_t delivery_tag, bool multiple);
  QErr nack(SessionId s, uint64_t delivery_tag, bool multiple, bool requeue);
  // Returns kOk and no value when the queue is empty.
  QErr get(SessionId s, const std::string& queue, bool no_ack, std::optional<Delivery>* out);
  // Requeues (or redelivers to the same session when !requeue: here also requeued) every unacked.
  void recover(SessionId s);

  // Advances the time to now_ms (never backwards) and does what is due: expired messages at
  // queue heads are dropped or dead-lettered, queues unused for their x-expires are deleted.
  // The server calls it from a timer; tests call it to move time.
  void tick(uint64_t now_ms);

  // Introspection for tests.
  std::optional<QueueInfo> queue_info(const std::string& name) const;
  bool has_exchange(const std::string& name) const;
  std::size_t unacked(SessionId s) const;
  uint64_t dropped_messages() const noexcept { return dropped_; }
  uint64_t dead_lettered_messages() const noexcept { return dead_lettered_; }

  // Routing helpers (exposed for tests).
  static bool topic_matches(std::string_view pattern, std::string_view key) noexcept;
  static bool headers_match(const Headers& binding_args, const Headers& message_headers) noexcept;

 private:
  struct Queue;
  struct Exchange;
  struct Binding;
  struct Consumer;
  struct Session;
  struct Unacked;

  Queue* find_queue(const std::string& name);
  QErr access_queue(const std::string& name, OwnerId owner, Queue** out);
  // The exchange a bind or unbind of `queue` names, once the queue may be used by `owner`.
  QErr binding_target(const std::string& queue, const std::string& exchange, OwnerId owner, Exchange** out);
  void route(const Exchange& ex, const std::string& key, const Message& m, std::vector<Queue*>* out);
  struct Entry;
  struct DeadLetter;
  uint64_t now() const { return clock_ ? std::max(clock_(), now_ms_) : now_ms_; }
  void enqueue(Queue& q, Entry e, bool front);
  bool admit(Queue& q, const MessagePtr& m);
  void enforce_length(Queue& q);
  bool over_limit(const Queue& q, std::size_t extra_msgs, std::size_t extra_bytes) const;
  Entry take(Queue& q, bool back);  // removes the head (or the tail) of the ready list
  void expire_head(Queue& q);
  void dead_letter(const Queue& q, const MessagePtr& m, DeathReason why);
  void flush_dead_letters(std::size_t* budget);
  void deliver_dead_letter(const DeadLetter& dl);
  void requeue(const std::string& queue, Entry e, bool returned);
  void touch(Queue& q);
  QErr consume_direct_reply(SessionId sid, Session& s, const std::string& tag, bool no_ack);
  bool publish_direct_reply(const std::string& address, const MessagePtr& msg);
  void drop_direct_reply(Session& s);
  std::string random_token(std::string_view prefix);
  void finish();
  void dispatch(Queue& q);
  void dispatch_dirty();
  void remove_queue(Queue& q, bool notify_consumers);
  void remove_consumer(SessionId sid, Session& s, const std::string& tag, bool maybe_auto_delete);
  enum class Settle : uint8_t { kAck, kRequeue, kReject };
  void settle(Session& s, uint64_t tag, bool multiple, Settle how, QErr* err);
  Delivery make_delivery(const Queue& q, const Entry& e, const std::string& consumer_tag, uint64_t tag);
  void drop_bindings_of_queue(const std::string& queue);
  void maybe_auto_delete_exchange(const std::string& name);
  std::string generate_queue_name();

  Limits limits_;
  Clock clock_;
  uint64_t now_ms_ = 0;
  std::vector<DeadLetter> dead_letters_;
  bool routing_dead_letter_ = false;  // inside deliver_dead_letter: new dead letters are a cascade
  std::map<std::string, std::unique_ptr<Exchange>> exchanges_;
  std::map<std::string, std::unique_ptr<Queue>> queues_;
  std::map<SessionId, std::unique_ptr<Session>> sessions_;
  std::map<std::string, SessionId, std::less<>> reply_addresses_;
  std::vector<std::string> dirty_;
  std::size_t binding_count_ = 0;
  std::size_t queued_bytes_ = 0;
  SessionId next_session_ = 1;
  uint64_t next_name_ = 1;
  uint64_t name_seed_;
  uint64_t dropped_ = 0;
  uint64_t dead_lettered_ = 0;
};

}  // namespace sluice::queue
