#include "client/src/group_protocol.h"

#include <algorithm>
#include <set>
#include <string>

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

kafka::Bytes encode_subscription(const std::vector<std::string>& topics, const std::vector<TopicPartition>* owned) {
  kafka::Writer w;
  w.write_int<int16_t>(owned != nullptr ? 1 : 0);
  w.write_int<int32_t>(static_cast<int32_t>(topics.size()));
  for (const auto& t : topics) write_string(w, t);
  w.write_int<int32_t>(-1);  // user data: null
  if (owned != nullptr) {
    std::map<std::string, std::vector<int32_t>> by_topic;
    for (const auto& tp : *owned) by_topic[tp.topic].push_back(tp.partition);
    w.write_int<int32_t>(static_cast<int32_t>(by_topic.size()));
    for (const auto& [topic, parts] : by_topic) {
      write_string(w, topic);
      w.write_int<int32_t>(static_cast<int32_t>(parts.size()));
      for (int32_t p : parts) w.write_int<int32_t>(p);
    }
  }
  return flatten(w.finish());
}

Result<Subscription> decode_subscription(const kafka::Bytes& b) {
  kafka::Reader r(b);
  const auto version = r.read_int<int16_t>();
  if (!r.ok() || version < 0) return bad("subscription version");
  const auto n = r.read_int<int32_t>();
  if (!r.ok() || n < 0 || static_cast<std::size_t>(n) > r.remaining() / 2) return bad("subscription topics");
  Subscription sub;
  sub.topics.resize(static_cast<std::size_t>(n));
  for (auto& t : sub.topics)
    if (!read_string(r, t)) return bad("subscription topic");
  if (version >= 1 && r.remaining() > 0) {
    const auto user_len = r.read_int<int32_t>();
    if (!r.ok() || user_len > static_cast<int64_t>(r.remaining())) return bad("subscription user data");
    if (user_len > 0) r.skip(static_cast<std::size_t>(user_len));
    const auto nt = r.read_int<int32_t>();
    if (!r.ok() || nt < 0 || static_cast<std::size_t>(nt) > r.remaining() / 2) return bad("owned partitions");
    for (int32_t i = 0; i < nt; ++i) {
      std::string topic;
      if (!read_string(r, topic)) return bad("owned topic");
      const auto np = r.read_int<int32_t>();
      if (!r.ok() || np < 0 || static_cast<std::size_t>(np) > r.remaining() / 4) return bad("owned partitions");
      for (int32_t k = 0; k < np; ++k) sub.owned.push_back(TopicPartition{topic, r.read_int<int32_t>()});
    }
    if (!r.ok()) return bad("owned partitions truncated");
  }
  // Later versions append generation and rack: not needed here.
  return sub;
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

std::map<std::string, std::vector<TopicPartition>> assign_cooperative_sticky(
    const std::map<std::string, Subscription>& members, const std::map<std::string, int32_t>& partitions) {
  std::map<std::string, std::vector<TopicPartition>> out;
  if (members.empty()) return out;
  auto subscribed = [&](const std::string& m, const std::string& topic) {
    const auto& topics = members.at(m).topics;
    return std::find(topics.begin(), topics.end(), topic) != topics.end();
  };
  std::vector<TopicPartition> all;
  for (const auto& [topic, count] : partitions)
    for (int32_t p = 0; p < count; ++p) all.push_back({topic, p});
  const std::size_t n = members.size();
  const std::size_t floor_share = all.size() / n;
  std::size_t ceil_slots = all.size() % n;      // members that may hold one more
  std::map<TopicPartition, std::string> owner;  // current owners (first claim wins)
  for (const auto& [m, sub] : members)
    for (const auto& tp : sub.owned) owner.emplace(tp, m);
  std::set<TopicPartition> taken;
  // 1. Stickiness: keep owned partitions up to a balanced share.
  for (const auto& [m, sub] : members) {
    auto& mine = out[m];
    for (const auto& tp : sub.owned) {
      auto pc = partitions.find(tp.topic);
      if (pc == partitions.end() || tp.partition >= pc->second || !subscribed(m, tp.topic)) continue;
      if (owner[tp] != m || taken.contains(tp)) continue;
      if (mine.size() < floor_share || (mine.size() == floor_share && ceil_slots > 0)) {
        if (mine.size() == floor_share) --ceil_slots;
        mine.push_back(tp);
        taken.insert(tp);
      }
    }
  }
  // 2. The rest to the least loaded subscribed member.
  std::map<std::string, std::vector<TopicPartition>> target = out;
  for (const auto& tp : all) {
    if (taken.contains(tp)) continue;
    const std::string* best = nullptr;
    for (const auto& [m, sub] : members)
      if (subscribed(m, tp.topic) && (best == nullptr || target[m].size() < target[*best].size())) best = &m;
    if (best == nullptr) continue;
    target[*best].push_back(tp);
    // 3. Cooperative: not while another member still owns it.
    auto o = owner.find(tp);
    if (o == owner.end() || o->second == *best) out[*best].push_back(tp);
  }
  return out;
}

}  // namespace sluice::client::detail
