#include "client/src/group_protocol.h"

#include <algorithm>
#include <set>

#include "engine/kafka/codec/wire.h"

namespace sluice::client::detail {

namespace {
kafka::Bytes flatten(const alloc::IoBuf& buf) {
  kafka::Bytes out;
  out.reserve(buf.size());
  for (const auto& f : buf.fragments()) {
    auto b = f.bytes();
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

void write_string(kafka::Writer& w, const std::string& s) {
  w.write_int<int16_t>(static_cast<int16_t>(s.size()));
  w.write_raw(std::string_view(s));
}

bool read_string(kafka::Reader& r, std::string& out) {
  const auto n = r.read_int<int16_t>();
  if (!r.ok() || n < 0 || static_cast<std::size_t>(n) > r.remaining()) return false;
  auto b = r.take(static_cast<std::size_t>(n));
  out.assign(reinterpret_cast<const char*>(b.data()), b.size());
  return r.ok();
}

Error bad(const char* what) { return make_error(Errc::kMalformedResponse, std::string("consumer protocol: ") + what); }
}  // namespace

kafka::Bytes encode_subscription(const std::vector<std::string>& topics) {
  kafka::Writer w;
  w.write_int<int16_t>(0);
  w.write_int<int32_t>(static_cast<int32_t>(topics.size()));
  for (const auto& t : topics) write_string(w, t);
  w.write_int<int32_t>(-1);  // user data: null
  return flatten(w.finish());
}

Result<std::vector<std::string>> decode_subscription(const kafka::Bytes& b) {
  kafka::Reader r(b);
  const auto version = r.read_int<int16_t>();
  if (!r.ok() || version < 0) return bad("subscription version");
  const auto n = r.read_int<int32_t>();
  if (!r.ok() || n < 0 || static_cast<std::size_t>(n) > r.remaining() / 2) return bad("subscription topics");
  std::vector<std::string> topics(static_cast<std::size_t>(n));
  for (auto& t : topics)
    if (!read_string(r, t)) return bad("subscription topic");
  // Newer versions append user data, owned partitions, generation, rack: not needed here.
  return topics;
}

kafka::Bytes encode_assignment(const std::vector<TopicPartition>& tps) {
  std::map<std::string, std::vector<int32_t>> by_topic;
  for (const auto& tp : tps) by_topic[tp.topic].push_back(tp.partition);
  kafka::Writer w;
  w.write_int<int16_t>(0);
  w.write_int<int32_t>(static_cast<int32_t>(by_topic.size()));
  for (const auto& [topic, parts] : by_topic) {
    write_string(w, topic);
    w.write_int<int32_t>(static_cast<int32_t>(parts.size()));
    for (int32_t p : parts) w.write_int<int32_t>(p);
  }
  w.write_int<int32_t>(-1);
  return flatten(w.finish());
}

Result<std::vector<TopicPartition>> decode_assignment(const kafka::Bytes& b) {
  std::vector<TopicPartition> out;
  if (b.empty()) return out;  // a member left without partitions
  kafka::Reader r(b);
  const auto version = r.read_int<int16_t>();
  if (!r.ok() || version < 0) return bad("assignment version");
  const auto n = r.read_int<int32_t>();
  if (!r.ok() || n < 0 || static_cast<std::size_t>(n) > r.remaining() / 2) return bad("assignment topics");
  for (int32_t i = 0; i < n; ++i) {
    std::string topic;
    if (!read_string(r, topic)) return bad("assignment topic");
    const auto np = r.read_int<int32_t>();
    if (!r.ok() || np < 0 || static_cast<std::size_t>(np) > r.remaining() / 4) return bad("assignment partitions");
    for (int32_t k = 0; k < np; ++k) out.push_back(TopicPartition{topic, r.read_int<int32_t>()});
  }
  if (!r.ok()) return bad("assignment truncated");
  return out;
}

std::map<std::string, std::vector<TopicPartition>> assign_range(const Subscriptions& members,
                                                                const std::map<std::string, int32_t>& partitions) {
  std::map<std::string, std::vector<TopicPartition>> out;
  for (const auto& [m, topics] : members) out[m];
  for (const auto& [topic, count] : partitions) {
    std::vector<std::string> subs;  // sorted: std::map order
    for (const auto& [m, topics] : members)
      if (std::find(topics.begin(), topics.end(), topic) != topics.end()) subs.push_back(m);
    if (subs.empty()) continue;
    const auto n = static_cast<int32_t>(subs.size());
    const int32_t per = count / n;
    const int32_t extra = count % n;
    int32_t next = 0;
    for (int32_t i = 0; i < n; ++i) {
      const int32_t take = per + (i < extra ? 1 : 0);
      for (int32_t k = 0; k < take; ++k) out[subs[static_cast<std::size_t>(i)]].push_back({topic, next++});
    }
  }
  return out;
}

std::map<std::string, std::vector<TopicPartition>> assign_round_robin(
    const Subscriptions& members, const std::map<std::string, int32_t>& partitions) {
  std::map<std::string, std::vector<TopicPartition>> out;
  std::vector<std::string> ids;
  for (const auto& [m, topics] : members) {
    out[m];
    ids.push_back(m);
  }
  if (ids.empty()) return out;
  std::size_t cursor = 0;
  for (const auto& [topic, count] : partitions) {
    for (int32_t p = 0; p < count; ++p) {
      // Next member (circularly) subscribed to this topic.
      for (std::size_t k = 0; k < ids.size(); ++k) {
        const std::string& m = ids[(cursor + k) % ids.size()];
        const auto& topics = members.at(m);
        if (std::find(topics.begin(), topics.end(), topic) == topics.end()) continue;
        out[m].push_back({topic, p});
        cursor = (cursor + k + 1) % ids.size();
        break;
      }
    }
  }
  return out;
}

}  // namespace sluice::client::detail
