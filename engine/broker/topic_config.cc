#include "engine/broker/topic_config.h"

#include <charconv>
#include <cstdlib>

#include "alloc/assert.h"

namespace sluice::broker {
namespace {

constexpr TopicConfigKey kKeys[] = {
    {"cleanup.policy", "log.cleanup.policy", ConfigType::list, "delete",
     "Retention policy for old segments: only 'delete' is supported (compaction is not implemented)."},
    {"retention.ms", "log.retention.ms", ConfigType::long_, "604800000",
     "Delete whole segments whose newest record is older than this; -1 keeps forever."},
    {"retention.bytes", "log.retention.bytes", ConfigType::long_, "-1",
     "Delete oldest segments while the partition is larger than this; -1 means no limit."},
    {"segment.bytes", "log.segment.bytes", ConfigType::int_, "1073741824", "Roll a new segment at this size."},
    {"segment.ms", "log.roll.ms", ConfigType::long_, "604800000", "Roll a new segment after this age."},
    {"flush.ms", "log.flush.interval.ms", ConfigType::long_, "9223372036854775807",
     "Force an fdatasync this long after an unsynced append, even for acks=0/1."},
    {"flush.messages", "log.flush.interval.messages", ConfigType::long_, "9223372036854775807",
     "Force an fdatasync after this many unsynced messages, even for acks=0/1."},
    {"max.message.bytes", "message.max.bytes", ConfigType::int_, "1048588", "Largest record batch accepted."},
    {"message.timestamp.type", "log.message.timestamp.type", ConfigType::string, "CreateTime",
     "CreateTime keeps the producer's timestamps; LogAppendTime stamps batches with the broker's clock."},
    {"sluice.read.visibility", "sluice.read.visibility", ConfigType::string, "durable",
     "durable: consumers see a batch only after an fdatasync covers it (nothing read can vanish in a crash). "
     "appended: consumers see it as soon as it is appended (lower latency; the unsynced tail may be lost on power "
     "loss)."},
};

std::optional<int64_t> parse_long(std::string_view v) {
  int64_t out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size()) return std::nullopt;
  return out;
}

}  // namespace

std::span<const TopicConfigKey> topic_config_keys() { return kKeys; }

const TopicConfigKey* find_topic_config_key(std::string_view name) {
  for (const auto& k : kKeys)
    if (k.name == name) return &k;
  return nullptr;
}

std::optional<std::string> validate_topic_config(std::string_view name, std::string_view value) {
  const TopicConfigKey* key = find_topic_config_key(name);
  if (!key) return "Unknown topic config name: " + std::string(name);
  if (key->type == ConfigType::long_ || key->type == ConfigType::int_) {
    auto n = parse_long(value);
    if (!n) return "Invalid value " + std::string(value) + " for configuration " + std::string(name);
    if (key->type == ConfigType::int_ && (*n > INT32_MAX || *n < INT32_MIN))
      return "Value out of range for " + std::string(name);
    if (name == "segment.bytes" && *n < 14) return "segment.bytes must be at least 14";
    if (name == "max.message.bytes" && *n < 0) return "max.message.bytes must be non-negative";
    if ((name == "segment.ms" || name == "flush.ms" || name == "flush.messages") && *n < 1)
      return std::string(name) + " must be at least 1";
    if ((name == "retention.ms" || name == "retention.bytes") && *n < -1)
      return std::string(name) + " must be -1 or more";
    return std::nullopt;
  }
  if (name == "cleanup.policy") {
    if (value == "delete") return std::nullopt;
    return "cleanup.policy=" + std::string(value) + " is not supported: Sluice implements only 'delete'";
  }
  if (name == "message.timestamp.type") {
    if (value == "CreateTime" || value == "LogAppendTime") return std::nullopt;
    return "message.timestamp.type must be CreateTime or LogAppendTime";
  }
  if (name == "sluice.read.visibility") {
    if (value == "durable" || value == "appended") return std::nullopt;
    return "sluice.read.visibility must be durable or appended";
  }
  SLUICE_UNREACHABLE();
}

std::optional<std::string> TopicDefaults::set(std::string_view key, std::string_view value) {
  for (const auto& k : kKeys) {
    if (k.name == key || k.broker_synonym == key) {
      if (auto err = validate_topic_config(k.name, value)) return err;
      values_[std::string(k.name)] = std::string(value);
      return std::nullopt;
    }
  }
  return "unknown topic default " + std::string(key);
}

std::string TopicDefaults::get(std::string_view topic_key) const {
  auto it = values_.find(topic_key);
  if (it != values_.end()) return it->second;
  const TopicConfigKey* k = find_topic_config_key(topic_key);
  SLUICE_ASSERT(k != nullptr);
  return std::string(k->default_value);
}

EffectiveTopicConfig effective_topic_config(const TopicDefaults& defaults,
                                            const std::map<std::string, std::string>& overrides) {
  auto value = [&](std::string_view key) {
    auto it = overrides.find(std::string(key));
    return it != overrides.end() ? it->second : defaults.get(key);
  };
  auto num = [&](std::string_view key) {
    auto n = parse_long(value(key));
    SLUICE_ASSERT_MSG(n.has_value(), "stored topic config failed validation");
    return *n;
  };
  EffectiveTopicConfig c;
  c.retention_ms = num("retention.ms");
  c.retention_bytes = num("retention.bytes");
  c.segment_bytes = num("segment.bytes");
  c.segment_ms = num("segment.ms");
  c.flush_ms = num("flush.ms");
  c.flush_messages = num("flush.messages");
  c.max_message_bytes = static_cast<int32_t>(num("max.message.bytes"));
  c.log_append_time = value("message.timestamp.type") == "LogAppendTime";
  c.visible_before_sync = value("sluice.read.visibility") == "appended";
  c.cleanup_policy = value("cleanup.policy");
  return c;
}

}  // namespace sluice::broker
