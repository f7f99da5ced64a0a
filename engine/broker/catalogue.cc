#include "engine/broker/catalogue.h"

#include <xxhash.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <random>
#include <sstream>

namespace sluice::broker {

bool valid_topic_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxTopicNameBytes || name == "." || name == "..") return false;
  for (char c : name) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

uint16_t placement_shard(std::string_view topic, int32_t partition, unsigned shard_count) {
  SLUICE_ASSERT(shard_count > 0 && shard_count <= 65535);
  // Hash of the name, then of the partition seeded with it: no allocation, stable across runs.
  uint64_t h = XXH64(topic.data(), topic.size(), 0);
  uint32_t be = __builtin_bswap32(static_cast<uint32_t>(partition));
  return static_cast<uint16_t>(XXH64(&be, sizeof(be), h) % shard_count);
}

const TopicInfo* Catalogue::find(std::string_view name) const {
  auto it = topics_.find(name);
  return it == topics_.end() ? nullptr : &it->second;
}

TopicInfo* Catalogue::find_mutable(std::string_view name) {
  auto it = topics_.find(name);
  return it == topics_.end() ? nullptr : &it->second;
}

TopicInfo& Catalogue::add(TopicInfo t) {
  SLUICE_ASSERT(valid_topic_name(t.name) || t.internal);
  SLUICE_ASSERT(!topics_.contains(t.name));
  version++;
  std::string key = t.name;
  return topics_.emplace(std::move(key), std::move(t)).first->second;
}

bool Catalogue::remove(std::string_view name) {
  auto it = topics_.find(name);
  if (it == topics_.end()) return false;
  topics_.erase(it);
  version++;
  return true;
}

int64_t Catalogue::user_partition_count() const {
  int64_t n = 0;
  for (const auto& [name, t] : topics_)
    if (!t.internal) n += t.partition_count();
  return n;
}

std::string uuid_to_hex(const Uuid& u) {
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (uint8_t b : u) {
    s.push_back(hex[b >> 4]);
    s.push_back(hex[b & 15]);
  }
  return s;
}

static std::optional<Uuid> uuid_from_hex(std::string_view s) {
  if (s.size() != 32) return std::nullopt;
  Uuid u{};
  for (size_t i = 0; i < 16; ++i) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data() + 2 * i, s.data() + 2 * i + 2, v, 16);
    if (ec != std::errc() || p != s.data() + 2 * i + 2) return std::nullopt;
    u[i] = static_cast<uint8_t>(v);
  }
  return u;
}

Uuid random_uuid() {
  std::random_device rd;
  Uuid u{};
  for (auto& b : u) b = static_cast<uint8_t>(rd());
  u[6] = static_cast<uint8_t>((u[6] & 0x0f) | 0x40);  // version 4
  u[8] = static_cast<uint8_t>((u[8] & 0x3f) | 0x80);
  return u;
}

std::string uuid_to_base64(const Uuid& u) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t b : u) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      out.push_back(alphabet[(acc >> (bits - 6)) & 63]);
      bits -= 6;
    }
  }
  if (bits > 0) out.push_back(alphabet[(acc << (6 - bits)) & 63]);
  return out;
}

// Text format, one record per line, tokens separated by single spaces. Topic names and config
// keys/values never contain spaces or newlines (validated on the way in).
std::string Catalogue::serialize() const {
  std::ostringstream o;
  o << "sluice-catalogue 1\n";
  o << "cluster_id " << cluster_id << "\n";
  o << "next_producer_id " << next_producer_id << "\n";
  for (const auto& [name, t] : topics_) {
    o << "topic " << name << " " << uuid_to_hex(t.topic_id) << " " << (t.internal ? 1 : 0) << " "
      << t.partition_owner_shard.size();
    for (uint16_t s : t.partition_owner_shard) o << " " << s;
    o << "\n";
    for (const auto& [k, v] : t.configs) o << "config " << k << " " << v << "\n";
  }
  o << "end\n";
  return o.str();
}

Result<Catalogue> Catalogue::parse(std::string_view text) {
  Catalogue c;
  std::istringstream in{std::string(text)};
  std::string line;
  TopicInfo* current = nullptr;
  bool header = false, end = false;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string kind;
    ls >> kind;
    if (kind == "sluice-catalogue") {
      int v = 0;
      ls >> v;
      if (v != 1) return make_error(EINVAL, "catalogue: unsupported version");
      header = true;
    } else if (kind == "cluster_id") {
      ls >> c.cluster_id;
    } else if (kind == "next_producer_id") {
      ls >> c.next_producer_id;
    } else if (kind == "topic") {
      TopicInfo t;
      std::string id;
      int internal = 0;
      size_t n = 0;
      ls >> t.name >> id >> internal >> n;
      auto u = uuid_from_hex(id);
      if (!ls || !u || n > static_cast<size_t>(kMaxPartitionsPerTopic))
        return make_error(EINVAL, "catalogue: bad topic line");
      t.topic_id = *u;
      t.internal = internal != 0;
      for (size_t i = 0; i < n; ++i) {
        unsigned s = 0;
        ls >> s;
        if (!ls) return make_error(EINVAL, "catalogue: bad owner list");
        t.partition_owner_shard.push_back(static_cast<uint16_t>(s));
      }
      if (c.topics_.contains(t.name)) return make_error(EINVAL, "catalogue: duplicate topic");
      std::string key = t.name;
      current = &c.topics_.emplace(std::move(key), std::move(t)).first->second;
    } else if (kind == "config") {
      std::string k, v;
      ls >> k >> v;
      if (!current || k.empty()) return make_error(EINVAL, "catalogue: config outside a topic");
      current->configs[k] = v;
    } else if (kind == "end") {
      end = true;
      break;
    } else if (!kind.empty()) {
      return make_error(EINVAL, "catalogue: unknown record");
    }
  }
  // A catalogue without its end marker was torn: refuse it rather than lose topics silently.
  if (!header || !end) return make_error(EINVAL, "catalogue: truncated file");
  return c;
}

}  // namespace sluice::broker
