#include "engine/queue/queue_engine.h"

#include <algorithm>
#include <random>

#include "alloc/assert.h"

namespace sluice::queue {

const char* qerr_name(QErr e) noexcept {
  switch (e) {
    case QErr::kOk: return "ok";
    case QErr::kNotFound: return "not found";
    case QErr::kAccessRefused: return "access refused";
    case QErr::kResourceLocked: return "resource locked";
    case QErr::kPreconditionFailed: return "precondition failed";
    case QErr::kNotAllowed: return "not allowed";
    case QErr::kLimit: return "limit reached";
  }
  return "?";
}

const char* death_reason_name(DeathReason r) noexcept {
  switch (r) {
    case DeathReason::kRejected: return "rejected";
    case DeathReason::kExpired: return "expired";
    case DeathReason::kMaxLen: return "maxlen";
    case DeathReason::kDeliveryLimit: return "delivery_limit";
  }
  return "?";
}

std::optional<ExchangeType> parse_exchange_type(std::string_view s) noexcept {
  if (s == "direct") return ExchangeType::kDirect;
  if (s == "fanout") return ExchangeType::kFanout;
  if (s == "topic") return ExchangeType::kTopic;
  if (s == "headers") return ExchangeType::kHeaders;
  return std::nullopt;
}

const char* exchange_type_name(ExchangeType t) noexcept {
  switch (t) {
    case ExchangeType::kDirect: return "direct";
    case ExchangeType::kFanout: return "fanout";
    case ExchangeType::kTopic: return "topic";
    case ExchangeType::kHeaders: return "headers";
  }
  return "?";
}

struct QueueEngine::Binding {
  std::string queue;
  std::string key;
  Headers args;
  bool match_any = false;
};

struct QueueEngine::Exchange {
  std::string name;
  ExchangeType type = ExchangeType::kDirect;
  bool durable = false, auto_delete = false, internal = false, builtin = false;
  bool had_binding = false;
  std::vector<Binding> bindings;
};

namespace {
constexpr uint64_t kNever = UINT64_MAX;
}  // namespace

struct QueueEngine::Entry {
  MessagePtr msg;
  bool redelivered = false;
  uint64_t expires_at_ms = kNever;
  uint32_t returns = 0;  // times given back to the queue (quorum delivery count)
};

// A dead-lettered copy waiting to be routed through its dead-letter exchange. Routing is
// deferred to the end of the operation so that a cascade (a dead-letter overflowing a queue that
// dead-letters in turn) runs as a loop, not as recursion.
struct QueueEngine::DeadLetter {
  std::string exchange;
  std::string routing_key;
  MessagePtr msg;
  bool cascade = false;  // made while routing another dead letter (counts against the budget)
};

struct QueueEngine::Queue {
  std::string name;
  bool durable = false, exclusive = false, auto_delete = false;
  OwnerId owner = 0;
  QueueArgs args;
  std::deque<Entry> ready;
  std::size_t ready_bytes = 0;
  uint64_t last_used_ms = 0;  // x-expires counts from here while there is no consumer
  std::vector<std::pair<SessionId, std::string>> consumers;
  std::size_t rr = 0;
  bool had_consumer = false;
  bool exclusive_consumer = false;
};

struct QueueEngine::Consumer {
  std::string queue;
  bool no_ack = false;
  uint32_t prefetch = 0;
  uint32_t unacked = 0;
};

struct QueueEngine::Unacked {
  std::string queue;
  std::string consumer_tag;  // empty: basic.get
  Entry entry;
};

struct QueueEngine::Session {
  OwnerId owner = 0;
  SessionSink* sink = nullptr;
  uint32_t prefetch_consumer = 0;
  uint32_t prefetch_global = 0;
  bool flow = true;
  uint64_t next_tag = 0;
  uint64_t next_ctag = 0;
  std::map<uint64_t, Unacked> unacked;
  std::map<std::string, Consumer> consumers;
  std::string reply_tag;      // the direct reply-to consumer's tag ("" = none)
  std::string reply_address;  // its address (kDirectReplyTo + "." + token)
};

QueueEngine::QueueEngine(Limits limits, Clock clock)
    : limits_(limits), clock_(std::move(clock)), name_seed_(std::random_device{}()) {
  auto add = [this](const char* n, ExchangeType t) {
    auto ex = std::make_unique<Exchange>();
    ex->name = n;
    ex->type = t;
    ex->durable = true;
    ex->builtin = true;
    exchanges_.emplace(n, std::move(ex));
  };
  add("", ExchangeType::kDirect);
  add("amq.direct", ExchangeType::kDirect);
  add("amq.fanout", ExchangeType::kFanout);
  add("amq.topic", ExchangeType::kTopic);
  add("amq.headers", ExchangeType::kHeaders);
  add("amq.match", ExchangeType::kHeaders);
}

QueueEngine::~QueueEngine() = default;

QueueEngine::Queue* QueueEngine::find_queue(const std::string& name) {
  auto it = queues_.find(name);
  return it == queues_.end() ? nullptr : it->second.get();
}

QErr QueueEngine::access_queue(const std::string& name, OwnerId owner, Queue** out) {
  Queue* q = find_queue(name);
  if (!q) return QErr::kNotFound;
  if (q->exclusive && q->owner != owner) return QErr::kResourceLocked;
  *out = q;
  return QErr::kOk;
}

static bool reserved_name(const std::string& n) { return n.rfind("amq.", 0) == 0; }

QErr QueueEngine::declare_exchange(const std::string& name, ExchangeType type, const ExchangeOptions& o) {
  auto it = exchanges_.find(name);
  if (o.passive) return it == exchanges_.end() ? QErr::kNotFound : QErr::kOk;
  if (it != exchanges_.end()) {
    const Exchange& ex = *it->second;
    if (ex.type != type || ex.durable != o.durable || ex.auto_delete != o.auto_delete || ex.internal != o.internal) {
      // RabbitMQ refuses a redeclare of amq.* and the default exchange with 403 only when new.
      return QErr::kPreconditionFailed;
    }
    return QErr::kOk;
  }
  if (name.empty() || reserved_name(name)) return QErr::kAccessRefused;
  if (exchanges_.size() >= limits_.max_exchanges) return QErr::kLimit;
  auto ex = std::make_unique<Exchange>();
  ex->name = name;
  ex->type = type;
  ex->durable = o.durable;
  ex->auto_delete = o.auto_delete;
  ex->internal = o.internal;
  exchanges_.emplace(name, std::move(ex));
  return QErr::kOk;
}

QErr QueueEngine::delete_exchange(const std::string& name, bool if_unused) {
  auto it = exchanges_.find(name);
  if (it == exchanges_.end()) return QErr::kOk;  // RabbitMQ 3.x: deleting a missing exchange is ok
  if (it->second->builtin) return QErr::kAccessRefused;
  if (if_unused && !it->second->bindings.empty()) return QErr::kPreconditionFailed;
  binding_count_ -= it->second->bindings.size();
  exchanges_.erase(it);
  return QErr::kOk;
}

std::string QueueEngine::random_token(std::string_view prefix) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string n(prefix);
  uint64_t x = name_seed_ + 0x9E3779B97F4A7C15ULL * next_name_++;
  for (int round = 0; round < 2; ++round) {
    uint64_t z = x + static_cast<uint64_t>(round) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    for (int i = 0; i < 11; ++i, z >>= 6) n.push_back(kAlphabet[z & 63]);
  }
  return n;
}

std::string QueueEngine::generate_queue_name() {
  for (;;) {
    std::string n = random_token("amq.gen-");
    if (!queues_.contains(n)) return n;
  }
}

static bool is_direct_reply_name(std::string_view n) { return n.starts_with(kDirectReplyTo); }

QErr QueueEngine::consume_direct_reply(SessionId sid, Session& s, const std::string& tag, bool no_ack) {
  if (!no_ack || !s.reply_tag.empty()) return QErr::kPreconditionFailed;
  s.reply_tag = tag;
  do {
    s.reply_address = random_token(std::string(kDirectReplyTo) + ".");
  } while (reply_addresses_.contains(s.reply_address));
  reply_addresses_.emplace(s.reply_address, sid);
  return QErr::kOk;
}

void QueueEngine::drop_direct_reply(Session& s) {
  reply_addresses_.erase(s.reply_address);
  s.reply_tag.clear();
  s.reply_address.clear();
}

std::optional<std::string> QueueEngine::reply_address(SessionId sid) const {
  auto it = sessions_.find(sid);
  SLUICE_ASSERT(it != sessions_.end());
  if (it->second->reply_tag.empty()) return std::nullopt;
  return it->second->reply_address;
}

// A reply to a direct reply-to address goes straight to that session's reply consumer (no queue,
// no ack); false when the address is gone (unroutable).
bool QueueEngine::publish_direct_reply(const std::string& address, const MessagePtr& msg) {
  auto a = reply_addresses_.find(address);
  if (a == reply_addresses_.end()) return false;
  auto sit = sessions_.find(a->second);
  SLUICE_ASSERT(sit != sessions_.end());
  Session& s = *sit->second;
  Delivery d;
  d.consumer_tag = s.reply_tag;
  d.delivery_tag = ++s.next_tag;
  d.message = msg;
  s.sink->deliver(d);
  return true;
}

// The first queue argument that makes a redeclare inequivalent, or nullptr. An absent
// x-queue-type means classic, as in RabbitMQ (redeclaring a quorum queue without it is 406).
static const char* args_difference(const QueueArgs& have, const QueueArgs& want) {
  if (have.dead_letter_exchange != want.dead_letter_exchange) return "x-dead-letter-exchange";
  if (have.dead_letter_routing_key != want.dead_letter_routing_key) return "x-dead-letter-routing-key";
  if (have.message_ttl_ms != want.message_ttl_ms) return "x-message-ttl";
  if (have.max_length != want.max_length) return "x-max-length";
  if (have.max_length_bytes != want.max_length_bytes) return "x-max-length-bytes";
  if (have.overflow != want.overflow) return "x-overflow";
  if (want.type.value_or(QueueType::kClassic) != have.type.value_or(QueueType::kClassic)) return "x-queue-type";
  if (have.delivery_limit != want.delivery_limit) return "x-delivery-limit";
  if (have.expires_ms != want.expires_ms) return "x-expires";
  if (have.single_active_consumer != want.single_active_consumer) return "x-single-active-consumer";
  return nullptr;
}

static const char* flags_difference(bool durable, bool exclusive, bool auto_delete, const QueueOptions& o) {
  if (durable != o.durable) return "durable";
  if (exclusive != o.exclusive) return "exclusive";
  if (auto_delete != o.auto_delete) return "auto_delete";
  return nullptr;
}

QErr QueueEngine::declare_queue(const std::string& name, OwnerId owner, const QueueOptions& o, QueueInfo* out,
                                std::string* inequivalent) {
  if (is_direct_reply_name(name)) {  // every declare of these is passive; a live one has 1 consumer
    if (name != kDirectReplyTo && !reply_addresses_.contains(name)) return QErr::kNotFound;
    *out = QueueInfo{name, 0, 1};
    return QErr::kOk;
  }
  if (o.passive) {
    Queue* q = nullptr;
    QErr e = access_queue(name, owner, &q);
    if (e != QErr::kOk) return e;
    touch(*q);
    *out = QueueInfo{q->name, static_cast<uint32_t>(q->ready.size()), static_cast<uint32_t>(q->consumers.size())};
    return QErr::kOk;
  }
  if (!name.empty()) {
    if (Queue* q = find_queue(name)) {
      if (q->exclusive && q->owner != owner) return QErr::kResourceLocked;
      const char* diff = flags_difference(q->durable, q->exclusive, q->auto_delete, o);
      if (!diff) diff = args_difference(q->args, o.args);
      if (diff) {
        if (inequivalent) *inequivalent = diff;
        return QErr::kPreconditionFailed;
      }
      touch(*q);
      *out = QueueInfo{q->name, static_cast<uint32_t>(q->ready.size()), static_cast<uint32_t>(q->consumers.size())};
      return QErr::kOk;
    }
    if (reserved_name(name)) return QErr::kAccessRefused;
  }
  if (queues_.size() >= limits_.max_queues) return QErr::kLimit;
  auto q = std::make_unique<Queue>();
  q->name = name.empty() ? generate_queue_name() : name;
  q->durable = o.durable;
  q->exclusive = o.exclusive;
  q->auto_delete = o.auto_delete;
  q->owner = owner;
  q->args = o.args;
  q->last_used_ms = now();
  *out = QueueInfo{q->name, 0, 0};
  queues_.emplace(q->name, std::move(q));
  return QErr::kOk;
}

void QueueEngine::drop_bindings_of_queue(const std::string& queue) {
  std::vector<std::string> emptied;
  for (auto& [n, ex] : exchanges_) {
    auto& b = ex->bindings;
    auto before = b.size();
    b.erase(std::remove_if(b.begin(), b.end(), [&](const Binding& x) { return x.queue == queue; }), b.end());
    binding_count_ -= before - b.size();
    if (before != b.size() && b.empty() && ex->auto_delete) emptied.push_back(n);
  }
  for (const auto& n : emptied) maybe_auto_delete_exchange(n);
}

void QueueEngine::maybe_auto_delete_exchange(const std::string& name) {
  auto it = exchanges_.find(name);
  if (it == exchanges_.end()) return;
  if (it->second->auto_delete && !it->second->builtin && it->second->bindings.empty() && it->second->had_binding)
    exchanges_.erase(it);
}

void QueueEngine::remove_queue(Queue& q, bool notify_consumers) {
  std::string name = q.name;
  for (auto& [sid, tag] : q.consumers) {
    auto sit = sessions_.find(sid);
    if (sit == sessions_.end()) continue;
    sit->second->consumers.erase(tag);
    if (notify_consumers) sit->second->sink->consumer_cancelled(tag);
  }
  queued_bytes_ -= q.ready_bytes;
  drop_bindings_of_queue(name);
  queues_.erase(name);
}

QErr QueueEngine::delete_queue(const std::string& name, OwnerId owner, bool if_unused, bool if_empty,
                               uint32_t* deleted) {
  *deleted = 0;
  Queue* q = nullptr;
  QErr e = access_queue(name, owner, &q);
  if (e == QErr::kNotFound) return QErr::kOk;  // RabbitMQ 3.x: deleting a missing queue is ok
  if (e != QErr::kOk) return e;
  if (if_unused && !q->consumers.empty()) return QErr::kPreconditionFailed;
  if (if_empty && !q->ready.empty()) return QErr::kPreconditionFailed;
  *deleted = static_cast<uint32_t>(q->ready.size());
  remove_queue(*q, /*notify_consumers=*/true);
  return QErr::kOk;
}

QErr QueueEngine::purge_queue(const std::string& name, OwnerId owner, uint32_t* purged) {
  Queue* q = nullptr;
  QErr e = access_queue(name, owner, &q);
  if (e != QErr::kOk) return e;
  *purged = static_cast<uint32_t>(q->ready.size());
  queued_bytes_ -= q->ready_bytes;
  q->ready_bytes = 0;
  q->ready.clear();
  return QErr::kOk;
}

static bool match_any_of(const Headers& args) {
  for (const auto& h : args)
    if (h.key == "x-match") return h.value && (*h.value == "any" || *h.value == "any-with-x");
  return false;
}

QErr QueueEngine::binding_target(const std::string& queue, const std::string& exchange, OwnerId owner, Exchange** out) {
  if (is_direct_reply_name(queue)) return QErr::kAccessRefused;  // a volatile address, not a queue
  Queue* q = nullptr;
  QErr e = access_queue(queue, owner, &q);
  if (e != QErr::kOk) return e;
  auto it = exchanges_.find(exchange);
  if (it == exchanges_.end()) return QErr::kNotFound;
  if (exchange.empty()) return QErr::kAccessRefused;  // the default exchange's bindings are implicit
  *out = it->second.get();
  return QErr::kOk;
}

QErr QueueEngine::bind(const std::string& queue, const std::string& exchange, const std::string& key,
                       const Headers& args, OwnerId owner) {
  Exchange* target = nullptr;
  if (QErr e = binding_target(queue, exchange, owner, &target); e != QErr::kOk) return e;
  Exchange& ex = *target;
  for (const auto& b : ex.bindings)
    if (b.queue == queue && b.key == key && b.args == args) return QErr::kOk;
  if (binding_count_ >= limits_.max_bindings) return QErr::kLimit;
  ex.bindings.push_back(Binding{queue, key, args, match_any_of(args)});
  ex.had_binding = true;
  binding_count_++;
  return QErr::kOk;
}

QErr QueueEngine::unbind(const std::string& queue, const std::string& exchange, const std::string& key,
                         const Headers& args, OwnerId owner) {
  Exchange* target = nullptr;
  if (QErr e = binding_target(queue, exchange, owner, &target); e != QErr::kOk) return e;
  auto& b = target->bindings;
  auto pos = std::find_if(b.begin(), b.end(),
                          [&](const Binding& x) { return x.queue == queue && x.key == key && x.args == args; });
  if (pos == b.end()) return QErr::kOk;  // RabbitMQ 3.x: unbinding a missing binding is ok
  b.erase(pos);
  binding_count_--;
  maybe_auto_delete_exchange(exchange);
  return QErr::kOk;
}

bool QueueEngine::topic_matches(std::string_view pattern, std::string_view key) noexcept {
  // Word-wise match with backtracking over '#'. Words are split on '.'.
  auto next_word = [](std::string_view& s, std::string_view* w) {
    auto dot = s.find('.');
    *w = s.substr(0, dot);
    s = dot == std::string_view::npos ? std::string_view{} : s.substr(dot + 1);
  };
  // Iterative with one backtrack point (classic glob matching over words).
  std::vector<std::string_view> pw, kw;
  {
    std::string_view p = pattern, w;
    bool more = true;
    while (more) {
      more = p.find('.') != std::string_view::npos;
      next_word(p, &w);
      pw.push_back(w);
    }
    std::string_view k = key;
    if (!key.empty()) {
      more = true;
      while (more) {
        more = k.find('.') != std::string_view::npos;
        next_word(k, &w);
        kw.push_back(w);
      }
    }
  }
  std::size_t pi = 0, ki = 0, star_p = SIZE_MAX, star_k = 0;
  while (ki < kw.size()) {
    if (pi < pw.size() && pw[pi] == "#") {
      star_p = pi++;
      star_k = ki;
    } else if (pi < pw.size() && (pw[pi] == "*" || pw[pi] == kw[ki])) {
      ++pi;
      ++ki;
    } else if (star_p != SIZE_MAX) {
      pi = star_p + 1;
      ki = ++star_k;
    } else {
      return false;
    }
  }
  while (pi < pw.size() && pw[pi] == "#") ++pi;
  return pi == pw.size();
}

bool QueueEngine::headers_match(const Headers& args, const Headers& headers) noexcept {
  bool any = match_any_of(args);
  std::size_t considered = 0;
  for (const auto& a : args) {
    if (a.key.rfind("x-", 0) == 0) continue;
    considered++;
    bool found = false;
    for (const auto& h : headers) {
      if (h.key != a.key) continue;
      found = !a.value || (h.value && *h.value == *a.value);
      break;
    }
    if (any && found) return true;
    if (!any && !found) return false;
  }
  (void)considered;
  return !any;
}

void QueueEngine::route(const Exchange& ex, const std::string& key, const Message& m, std::vector<Queue*>* out) {
  auto add = [&](const std::string& qn) {
    Queue* q = find_queue(qn);
    if (q && std::find(out->begin(), out->end(), q) == out->end()) out->push_back(q);
  };
  if (ex.name.empty()) {
    add(key);
    return;
  }
  for (const auto& b : ex.bindings) {
    bool hit = false;
    switch (ex.type) {
      case ExchangeType::kDirect: hit = b.key == key; break;
      case ExchangeType::kFanout: hit = true; break;
      case ExchangeType::kTopic: hit = topic_matches(b.key, key); break;
      case ExchangeType::kHeaders: hit = headers_match(b.args, m.headers); break;
    }
    if (hit) add(b.queue);
  }
}

void QueueEngine::enqueue(Queue& q, Entry e, bool front) {
  queued_bytes_ += e.msg->body.size();
  q.ready_bytes += e.msg->body.size();
  if (front) {
    q.ready.push_front(std::move(e));
  } else {
    q.ready.push_back(std::move(e));
  }
  dirty_.push_back(q.name);
}

QueueEngine::Entry QueueEngine::take(Queue& q, bool back) {
  SLUICE_ASSERT(!q.ready.empty());
  Entry e = std::move(back ? q.ready.back() : q.ready.front());
  if (back) {
    q.ready.pop_back();
  } else {
    q.ready.pop_front();
  }
  const std::size_t size = e.msg->body.size();
  SLUICE_ASSERT(q.ready_bytes >= size && queued_bytes_ >= size);  // byte accounting follows the lists
  queued_bytes_ -= size;
  q.ready_bytes -= size;
  return e;
}

bool QueueEngine::over_limit(const Queue& q, std::size_t extra_msgs, std::size_t extra_bytes) const {
  // Only ready messages count, as in RabbitMQ (unacknowledged ones do not).
  if (q.args.max_length && q.ready.size() + extra_msgs > *q.args.max_length) return true;
  return q.args.max_length_bytes && q.ready_bytes + extra_bytes > *q.args.max_length_bytes;
}

// drop-head: the oldest ready messages leave (dead-lettered as maxlen) until the queue fits.
void QueueEngine::enforce_length(Queue& q) {
  while (!q.ready.empty() && over_limit(q, 0, 0)) dead_letter(q, take(q, false).msg, DeathReason::kMaxLen);
}

static Overflow overflow_of(const QueueArgs& a) {
  Overflow ov = a.overflow.value_or(Overflow::kDropHead);
  // Quorum queues do not know reject-publish-dlx: RabbitMQ logs it and keeps drop-head.
  if (ov == Overflow::kRejectPublishDlx && a.type == QueueType::kQuorum) ov = Overflow::kDropHead;
  return ov;
}

// Routes one published or dead-lettered message into q under its length policy. False: refused.
bool QueueEngine::admit(Queue& q, const MessagePtr& m) {
  if (q.ready.size() >= limits_.max_messages_per_queue ||
      queued_bytes_ + m->body.size() > limits_.max_queued_bytes_total) {
    dropped_++;
    return false;
  }
  const Overflow ov = overflow_of(q.args);
  if (ov != Overflow::kDropHead && over_limit(q, 1, m->body.size())) {
    if (ov == Overflow::kRejectPublishDlx) {
      dead_letter(q, m, DeathReason::kMaxLen);
    } else {
      dropped_++;
    }
    return false;
  }
  Entry e{m, false, kNever, 0};
  std::optional<uint64_t> ttl = q.args.message_ttl_ms;
  if (m->expiration_ms) ttl = std::min(ttl.value_or(kNever), *m->expiration_ms);
  if (ttl && *ttl > 0) e.expires_at_ms = now() + std::min<uint64_t>(*ttl, kNever / 2);
  enqueue(q, std::move(e), false);
  // A waiting consumer takes it before the length limit applies (RabbitMQ delivers first).
  dispatch(q);
  if (ttl == 0u && !q.ready.empty() && q.ready.back().msg == m) {
    // TTL 0: expired on arrival unless a consumer took it just now.
    dead_letter(q, take(q, /*back=*/true).msg, DeathReason::kExpired);
  }
  if (ov == Overflow::kDropHead) enforce_length(q);
  return true;
}

// Drops or dead-letters expired messages at the head. As in RabbitMQ, a message is checked only
// when it reaches the head (a long per-message TTL at the head delays shorter ones behind it).
void QueueEngine::expire_head(Queue& q) {
  // Most queues hold no expiring messages: the clock is read only when the head can expire.
  if (q.ready.empty() || q.ready.front().expires_at_ms == kNever) return;
  const uint64_t t = now();
  while (!q.ready.empty() && q.ready.front().expires_at_ms <= t)
    dead_letter(q, take(q, false).msg, DeathReason::kExpired);
}

void QueueEngine::dead_letter(const Queue& q, const MessagePtr& m, DeathReason why) {
  if (!q.args.dead_letter_exchange) {
    dropped_++;
    return;
  }
  auto copy = std::make_shared<Message>(*m);
  auto same = [&](const Death& d) { return d.queue == q.name && d.reason == why; };
  auto it = std::find_if(copy->deaths.begin(), copy->deaths.end(), same);
  Death d;
  if (it != copy->deaths.end()) {
    d = std::move(*it);
    d.count++;
    copy->deaths.erase(it);
  } else {
    if (copy->deaths.size() >= limits_.max_death_entries) {
      dropped_++;
      return;
    }
    d = Death{q.name, why, 1, now(), m->exchange, {m->routing_key}, std::nullopt};
    if (m->expiration_ms) d.original_expiration = m->expiration_text;
  }
  if (copy->deaths.empty()) copy->first_death = d;
  copy->deaths.insert(copy->deaths.begin(), std::move(d));
  // RabbitMQ removes the per-message TTL from every dead-lettered copy so it cannot expire again.
  if (copy->expiration_ms || !copy->expiration_text.empty()) copy->expiration_removed = true;
  copy->expiration_ms.reset();
  copy->exchange = *q.args.dead_letter_exchange;
  copy->routing_key = q.args.dead_letter_routing_key.value_or(m->routing_key);
  dead_letters_.push_back(DeadLetter{copy->exchange, copy->routing_key, std::move(copy), routing_dead_letter_});
}

// RabbitMQ's cycle rule: dead-lettering into `target` cycles when the history reaches an entry of
// `target` without a rejection on the way (a client rejecting is progress; expiry loops are not).
static bool is_cycle(const std::string& target, const std::vector<Death>& deaths) {
  for (const Death& d : deaths) {
    if (d.reason == DeathReason::kRejected) return false;
    if (d.queue == target) return true;
  }
  return false;
}

void QueueEngine::deliver_dead_letter(const DeadLetter& dl) {
  auto it = exchanges_.find(dl.exchange);
  if (it == exchanges_.end()) {  // a missing dead-letter exchange drops the message silently
    dropped_++;
    return;
  }
  std::vector<Queue*> targets;
  route(*it->second, dl.routing_key, *dl.msg, &targets);
  bool any = false;
  for (Queue* q : targets) {
    if (is_cycle(q->name, dl.msg->deaths)) continue;
    any = admit(*q, dl.msg) || any;
  }
  if (any) {
    dead_lettered_++;
  } else {
    dropped_++;
  }
}

// Routes pending dead letters. Those made while routing another dead letter (a cascade) use up
// *budget; past it they are dropped: dead-letter exchanges fanning out into queues that
// dead-letter into each other copy a message along every cycle-free path (n queues: up to n!).
// Direct dead letters (each from a message that was in a queue) are never dropped for it.
void QueueEngine::flush_dead_letters(std::size_t* budget) {
  while (!dead_letters_.empty()) {
    std::vector<DeadLetter> batch;
    batch.swap(dead_letters_);
    for (const auto& dl : batch) {
      if (dl.cascade && *budget == 0) {
        dropped_++;
        continue;
      }
      if (dl.cascade) --*budget;
      routing_dead_letter_ = true;
      deliver_dead_letter(dl);
      routing_dead_letter_ = false;
    }
  }
}

// Ends every public operation: dead-letters are routed and queues dispatch until both settle.
void QueueEngine::finish() {
  std::size_t budget = limits_.max_dead_letters_per_operation;
  do {
    flush_dead_letters(&budget);
    dispatch_dirty();
  } while (!dead_letters_.empty() || !dirty_.empty());
}

// Gives an unacknowledged message back to its queue's head. `returned` counts it as a failed
// delivery: past a quorum queue's x-delivery-limit it is dead-lettered instead.
void QueueEngine::requeue(const std::string& queue, Entry e, bool returned) {
  Queue* q = find_queue(queue);
  if (!q) return;  // the queue was deleted meanwhile
  if (returned && q->args.type == QueueType::kQuorum) {
    e.returns++;
    if (q->args.delivery_limit && e.returns > *q->args.delivery_limit) {
      dead_letter(*q, e.msg, DeathReason::kDeliveryLimit);
      return;
    }
  }
  e.redelivered = true;
  enqueue(*q, std::move(e), true);
  // RabbitMQ applies drop-head after a requeue too: a requeue past the limit drops from the head.
  if (overflow_of(q->args) == Overflow::kDropHead) enforce_length(*q);
}

void QueueEngine::touch(Queue& q) { q.last_used_ms = now(); }

void QueueEngine::tick(uint64_t now_ms) {
  now_ms_ = std::max(now_ms_, now_ms);
  const uint64_t t = now();
  std::vector<std::string> unused;
  for (auto& [n, q] : queues_) {
    expire_head(*q);
    if (q->args.expires_ms && q->consumers.empty() && t >= q->last_used_ms &&
        t - q->last_used_ms >= *q->args.expires_ms)
      unused.push_back(n);
  }
  for (const auto& n : unused)
    if (Queue* q = find_queue(n)) remove_queue(*q, false);
  finish();
}

PublishResult QueueEngine::publish(const std::string& exchange, const std::string& routing_key, const MessagePtr& msg) {
  PublishResult r;
  auto it = exchanges_.find(exchange);
  if (it == exchanges_.end()) {
    r.err = QErr::kNotFound;
    return r;
  }
  if (it->second->internal) {
    r.err = QErr::kAccessRefused;
    return r;
  }
  if (exchange.empty() && is_direct_reply_name(routing_key)) {
    r.routed = publish_direct_reply(routing_key, msg) ? 1 : 0;
    return r;
  }
  std::vector<Queue*> targets;
  route(*it->second, routing_key, *msg, &targets);
  for (Queue* q : targets) {
    if (admit(*q, msg)) {
      r.routed++;
    } else {
      r.refused++;
    }
  }
  finish();
  return r;
}

SessionId QueueEngine::open_session(OwnerId owner, SessionSink* sink) {
  SLUICE_ASSERT(sink != nullptr);
  SessionId id = next_session_++;
  auto s = std::make_unique<Session>();
  s->owner = owner;
  s->sink = sink;
  sessions_.emplace(id, std::move(s));
  return id;
}

void QueueEngine::remove_consumer(SessionId sid, Session& s, const std::string& tag, bool maybe_auto_delete) {
  auto it = s.consumers.find(tag);
  if (it == s.consumers.end()) return;
  std::string qn = it->second.queue;
  s.consumers.erase(it);
  Queue* q = find_queue(qn);
  if (!q) return;
  auto& c = q->consumers;
  auto pos = std::find(c.begin(), c.end(), std::make_pair(sid, tag));
  if (pos != c.end()) {
    c.erase(pos);
    q->exclusive_consumer = false;
    dirty_.push_back(qn);  // a single-active-consumer queue hands over to the next consumer
  }
  if (c.empty()) touch(*q);
  if (maybe_auto_delete && q->auto_delete && q->had_consumer && c.empty()) remove_queue(*q, false);
}

void QueueEngine::close_session(SessionId sid) {
  auto it = sessions_.find(sid);
  if (it == sessions_.end()) return;
  Session& s = *it->second;
  drop_direct_reply(s);
  // Requeue unacked first (in order, at the head: they were at the head when delivered).
  for (auto u = s.unacked.rbegin(); u != s.unacked.rend(); ++u)
    requeue(u->second.queue, std::move(u->second.entry), /*returned=*/true);
  s.unacked.clear();
  std::vector<std::string> tags;
  for (const auto& [t, c] : s.consumers) tags.push_back(t);
  for (const auto& t : tags) remove_consumer(sid, s, t, true);
  sessions_.erase(sid);
  finish();
}

void QueueEngine::owner_gone(OwnerId owner) {
  std::vector<std::string> names;
  for (const auto& [n, q] : queues_)
    if (q->exclusive && q->owner == owner) names.push_back(n);
  for (const auto& n : names)
    if (Queue* q = find_queue(n)) remove_queue(*q, true);
}

void QueueEngine::set_prefetch(SessionId sid, uint32_t count, bool global) {
  auto it = sessions_.find(sid);
  SLUICE_ASSERT(it != sessions_.end());
  if (global) {
    it->second->prefetch_global = count;
  } else {
    it->second->prefetch_consumer = count;
  }
  for (const auto& [t, c] : it->second->consumers) dirty_.push_back(c.queue);
  finish();
}

void QueueEngine::set_flow(SessionId sid, bool active) {
  auto it = sessions_.find(sid);
  SLUICE_ASSERT(it != sessions_.end());
  it->second->flow = active;
  for (const auto& [t, c] : it->second->consumers) dirty_.push_back(c.queue);
  finish();
}

QErr QueueEngine::consume(SessionId sid, const std::string& queue, std::string* tag, bool no_ack, bool exclusive) {
  auto it = sessions_.find(sid);
  SLUICE_ASSERT(it != sessions_.end());
  Session& s = *it->second;
  Queue* q = nullptr;
  const bool direct = queue == kDirectReplyTo;
  QErr e = direct ? QErr::kOk : access_queue(queue, s.owner, &q);
  if (e != QErr::kOk) return e;
  if (tag->empty()) {
    *tag = "amq.ctag-" + std::to_string(sid) + "." + std::to_string(++s.next_ctag);
  }
  if (s.consumers.contains(*tag) || *tag == s.reply_tag) return QErr::kNotAllowed;
  if (direct) return consume_direct_reply(sid, s, *tag, no_ack);
  if (s.consumers.size() >= limits_.max_consumers_per_session) return QErr::kLimit;
  if (q->exclusive_consumer || (exclusive && !q->consumers.empty())) return QErr::kAccessRefused;
  s.consumers.emplace(*tag, Consumer{queue, no_ack, s.prefetch_consumer, 0});
  q->consumers.emplace_back(sid, *tag);
  q->had_consumer = true;
  q->exclusive_consumer = exclusive;
  touch(*q);
  dirty_.push_back(queue);
  finish();
  return QErr::kOk;
}

QErr QueueEngine::cancel(SessionId sid, const std::string& tag) {
  auto it = sessions_.find(sid);
  SLUICE_ASSERT(it != sessions_.end());
  if (!tag.empty() && tag == it->second->reply_tag) {
    drop_direct_reply(*it->second);
    return QErr::kOk;
  }
  if (!it->second->consumers.contains(tag)) return QErr::kNotFound;
  remove_consumer(sid, *it->second, tag, true);
  finish();
  return QErr::kOk;
}

void QueueEngine::settle(Session& s, uint64_t tag, bool multiple, Settle how, QErr* err) {
  std::vector<std::map<uint64_t, Unacked>::iterator> picked;
  if (multiple) {
    if (tag != 0 && !s.unacked.contains(tag)) {
      *err = QErr::kPreconditionFailed;
      return;
    }
    for (auto it = s.unacked.begin(); it != s.unacked.end() && (tag == 0 || it->first <= tag); ++it)
      picked.push_back(it);
  } else {
    auto it = s.unacked.find(tag);
    if (it == s.unacked.end()) {
      *err = QErr::kPreconditionFailed;
      return;
    }
    picked.push_back(it);
  }
  for (auto& it : picked) {
    const Unacked& u = it->second;
    if (!u.consumer_tag.empty()) {
      auto c = s.consumers.find(u.consumer_tag);
      if (c != s.consumers.end() && c->second.unacked > 0) c->second.unacked--;
    }
    dirty_.push_back(u.queue);
  }
  if (s.prefetch_global)
    for (const auto& [t, c] : s.consumers) dirty_.push_back(c.queue);
  if (how == Settle::kRequeue) {
    for (auto p = picked.rbegin(); p != picked.rend(); ++p)
      requeue((*p)->second.queue, std::move((*p)->second.entry), /*returned=*/true);
  } else if (how == Settle::kReject) {
    for (auto& it : picked)
      if (Queue* q = find_queue(it->second.queue)) dead_letter(*q, it->second.entry.msg, DeathReason::kRejected);
  }
  for (auto& it : picked) s.unacked.erase(it);
  *err = QErr::kOk;
}

QErr QueueEngine::ack(SessionId sid, uint64_t delivery_tag, bool multiple) {
  auto it = sessions_.find(sid);
  SLUICE_ASSERT(it != sessions_.end());
  QErr e = QErr::kOk;
  settle(*it->second, delivery_tag, multiple, Settle::kAck, &e);
  finish();
  return e;
}

QErr QueueEngine::nack(SessionId sid, uint64_t delivery_tag, bool multiple, bool requeue) {
  auto it = sessions_.find(sid);
  SLUICE_ASSERT(it != sessions_.end());
  QErr e = QErr::kOk;
  settle(*it->second, delivery_tag, multiple, requeue ? Settle::kRequeue : Settle::kReject, &e);
  finish();
  return e;
}

void QueueEngine::recover(SessionId sid) {
  auto it = sessions_.find(sid);
  SLUICE_ASSERT(it != sessions_.end());
  QErr e = QErr::kOk;
  if (!it->second->unacked.empty()) settle(*it->second, 0, true, Settle::kRequeue, &e);
  finish();
}

QErr QueueEngine::get(SessionId sid, const std::string& queue, bool no_ack, std::optional<Delivery>* out) {
  auto it = sessions_.find(sid);
  SLUICE_ASSERT(it != sessions_.end());
  Session& s = *it->second;
  Queue* q = nullptr;
  QErr e = access_queue(queue, s.owner, &q);
  if (e != QErr::kOk) return e;
  out->reset();
  touch(*q);
  expire_head(*q);
  if (!q->ready.empty()) {
    Entry entry = take(*q, false);
    Delivery d = make_delivery(*q, entry, {}, ++s.next_tag);  // tags count every delivery on the channel
    d.message_count = static_cast<uint32_t>(q->ready.size());
    if (!no_ack) s.unacked.emplace(d.delivery_tag, Unacked{queue, {}, std::move(entry)});
    *out = std::move(d);
  }
  finish();
  return QErr::kOk;
}

Delivery QueueEngine::make_delivery(const Queue& q, const Entry& e, const std::string& consumer_tag, uint64_t tag) {
  Delivery d;
  d.consumer_tag = consumer_tag;
  d.delivery_tag = tag;
  d.redelivered = e.redelivered;
  d.message = e.msg;
  if (q.args.type == QueueType::kQuorum) d.delivery_count = e.returns;
  return d;
}

void QueueEngine::dispatch(Queue& q) {
  // Single active consumer: only the oldest consumer receives; the next takes over when it goes.
  const bool single = q.args.single_active_consumer.value_or(false);
  for (;;) {
    expire_head(q);
    if (q.ready.empty() || q.consumers.empty()) break;
    bool delivered = false;
    const std::size_t n = single ? 1 : q.consumers.size();
    for (std::size_t i = 0; i < n; ++i) {
      std::size_t idx = single ? 0 : (q.rr + i) % n;
      auto& [sid, tag] = q.consumers[idx];
      auto sit = sessions_.find(sid);
      SLUICE_ASSERT(sit != sessions_.end());
      Session& s = *sit->second;
      auto cit = s.consumers.find(tag);
      SLUICE_ASSERT(cit != s.consumers.end());
      Consumer& c = cit->second;
      if (!s.flow) continue;
      if (!c.no_ack) {
        if (c.prefetch != 0 && c.unacked >= c.prefetch) continue;
        if (s.prefetch_global != 0 && s.unacked.size() >= s.prefetch_global) continue;
      }
      Entry entry = take(q, false);
      Delivery d = make_delivery(q, entry, tag, ++s.next_tag);
      if (!c.no_ack) {
        s.unacked.emplace(d.delivery_tag, Unacked{q.name, tag, std::move(entry)});
        c.unacked++;
      }
      q.rr = idx + 1;
      s.sink->deliver(d);
      delivered = true;
      break;
    }
    if (!delivered) break;
  }
}

void QueueEngine::dispatch_dirty() {
  while (!dirty_.empty()) {
    std::vector<std::string> names;
    names.swap(dirty_);
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    for (const auto& n : names)
      if (Queue* q = find_queue(n)) dispatch(*q);
  }
}

std::optional<QueueInfo> QueueEngine::queue_info(const std::string& name) const {
  auto it = queues_.find(name);
  if (it == queues_.end()) return std::nullopt;
  return QueueInfo{name, static_cast<uint32_t>(it->second->ready.size()),
                   static_cast<uint32_t>(it->second->consumers.size())};
}

bool QueueEngine::has_exchange(const std::string& name) const { return exchanges_.contains(name); }

std::size_t QueueEngine::unacked(SessionId s) const {
  auto it = sessions_.find(s);
  return it == sessions_.end() ? 0 : it->second->unacked.size();
}

}  // namespace sluice::queue
