// Queue arguments and expirations as RabbitMQ checks them, and the properties and headers of
// messages going out and coming in.
#include "engine/amqp/server_internal.h"

namespace sluice::amqp {

namespace {
// RabbitMQ's ceiling for TTLs and x-expires (its timers take 32-bit milliseconds).
constexpr int64_t kMaxExpiryMs = 0xFFFFFFFFLL;

bool int_value(const FieldValue& v, int64_t* out) {
  if (!is_integer_tag(v.tag)) return false;
  *out = v.i;
  return true;
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

}  // namespace

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

namespace {

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

}  // namespace

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

}  // namespace sluice::amqp
