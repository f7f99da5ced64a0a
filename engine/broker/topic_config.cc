#include "engine/broker/topic_config.h"

#include <charconv>
#include <cstdlib>

#include "alloc/assert.h"

namespace sluice::broker {
namespace {

constexpr TopicConfigKey kKeys[] = {
    {"cleanup.policy", "log.cleanup.policy", ConfigType::list, "delete",
     "delete: drop old segments by retention.ms/retention.bytes. compact: keep the latest record per key "
     "(the log cleaner). compact,delete: both."},
    {"min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio", ConfigType::double_, "0.5",
     "Compaction runs once the not-yet-cleaned share of the closed segments reaches this ratio."},
    {"min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms", ConfigType::long_, "0",
     "A segment is compacted only once its newest record is at least this old."},
    {"max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms", ConfigType::long_, "9223372036854775807",
     "A closed segment with records older than this is compacted whatever the dirty ratio."},
    {"delete.retention.ms", "log.cleaner.delete.retention.ms", ConfigType::long_, "86400000",
     "Tombstones (null values) stay this long after the cleaning that first kept them, then go."},
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

std::optional<double> parse_double(std::string_view v) {
  double out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size()) return std::nullopt;
  return out;
}

}  // namespace

std::optional<CleanupPolicy> parse_cleanup_policy(std::string_view v) {
  // A list: "delete", "compact", "compact,delete" (any order, spaces allowed), never empty.
  CleanupPolicy p{false, false};
  while (!v.empty()) {
    const std::size_t comma = v.find(',');
    std::string_view item = v.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == "compact") p.compact = true;
    else if (item == "delete") p.delete_ = true;
    else return std::nullopt;
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  if (!p.compact && !p.delete_) return std::nullopt;
  return p;
}

std::span<const TopicConfigKey> topic_config_keys() { return kKeys; }

const TopicConfigKey* find_topic_config_key(std::string_view name) {
  for (const auto& k : kKeys)
    if (k.name == name) return &k;
  return nullptr;
}

std::optional<std::string> validate_topic_config(std::string_view name, std::string_view value) {
  const TopicConfigKey* key = find_topic_config_key(name);
  if (!key) return "Unknown topic config name: " + std::string(name);
  if (key->type == ConfigType::double_) {
    auto d = parse_double(value);
    if (!d || !(*d >= 0.0 && *d <= 1.0)) return std::string(name) + " must be a number in [0, 1]";
    return std::nullopt;
  }
  if (key->type == ConfigType::long_ || key->type == ConfigType::int_) {
    auto n = parse_long(value);
    if (!n) return "Invalid value " + std::string(value) + " for configuration " + std::string(name);
    if (key->type == ConfigType::int_ && (*n > INT32_MAX || *n < INT32_MIN))
      return "Value out of range for " + std::string(name);
    if (name == "segment.bytes" && *n < 14) return "segment.bytes must be at least 14";
    if (name == "max.message.bytes" && *n < 0) return "max.message.bytes must be non-negative";
    if ((name == "segment.ms" || name == "flush.ms" || name == "flush.messages") && *n < 1)
      return std::string(name) + " must be at least 1";
    if ((name == "min.compaction.lag.ms" || name == "delete.retention.ms") && *n < 0)
      return std::string(name) + " must be 0 or more";
    if (name == "max.compaction.lag.ms" && *n < 1) return std::string(name) + " must be at least 1";
    if ((name == "retention.ms" || name == "retention.bytes") && *n < -1)
      return std::string(name) + " must be -1 or more";
    return std::nullopt;
  }
  if (name == "cleanup.policy") {
    if (parse_cleanup_policy(value)) return std::nullopt;
    return "cleanup.policy=" + std::string(value) + " is not supported: use delete, compact or compact,delete";
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
  const auto policy = parse_cleanup_policy(c.cleanup_policy);
  SLUICE_ASSERT_MSG(policy.has_value(), "stored cleanup.policy failed validation");
  c.compact = policy->compact;
  c.retention_delete = policy->delete_;
  auto ratio = parse_double(value("min.cleanable.dirty.ratio"));
  SLUICE_ASSERT_MSG(ratio.has_value(), "stored min.cleanable.dirty.ratio failed validation");
  c.min_cleanable_dirty_ratio = *ratio;
  c.min_compaction_lag_ms = num("min.compaction.lag.ms");
  c.max_compaction_lag_ms = num("max.compaction.lag.ms");
  c.delete_retention_ms = num("delete.retention.ms");
  return c;
}

}  // namespace sluice::broker
