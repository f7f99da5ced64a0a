#include "sluice/client/error.h"

#include <string>

#include "engine/kafka/codec/error_code.h"
#include "sluice/client/partitioner.h"

namespace sluice::client {

const char* errc_name(Errc e) noexcept {
  switch (e) {
    case Errc::kOk: return "ok";
    case Errc::kNetwork: return "network";
    case Errc::kTimeout: return "timeout";
    case Errc::kMalformedResponse: return "malformed_response";
    case Errc::kBroker: return "broker";
    case Errc::kInvalidArgument: return "invalid_argument";
    case Errc::kUnsupportedVersion: return "unsupported_version";
    case Errc::kClosed: return "closed";
    case Errc::kUnknownTopic: return "unknown_topic";
    case Errc::kQueueFull: return "queue_full";
  }
  return "unknown";
}

bool kafka_error_retriable(int16_t kafka_error) noexcept {
  using kafka::ErrorCode;
  switch (static_cast<ErrorCode>(kafka_error)) {
    case ErrorCode::CORRUPT_MESSAGE:
    case ErrorCode::UNKNOWN_TOPIC_OR_PARTITION:
    case ErrorCode::LEADER_NOT_AVAILABLE:
    case ErrorCode::NOT_LEADER_OR_FOLLOWER:
    case ErrorCode::REQUEST_TIMED_OUT:
    case ErrorCode::NETWORK_EXCEPTION:
    case ErrorCode::COORDINATOR_LOAD_IN_PROGRESS:
    case ErrorCode::COORDINATOR_NOT_AVAILABLE:
    case ErrorCode::NOT_COORDINATOR:
    case ErrorCode::NOT_ENOUGH_REPLICAS:
    case ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case ErrorCode::KAFKA_STORAGE_ERROR:
    case ErrorCode::FETCH_SESSION_ID_NOT_FOUND:
    case ErrorCode::INVALID_FETCH_SESSION_EPOCH:
    case ErrorCode::UNKNOWN_LEADER_EPOCH:
    case ErrorCode::FENCED_LEADER_EPOCH:
    case ErrorCode::OFFSET_NOT_AVAILABLE:
    case ErrorCode::PREFERRED_LEADER_NOT_AVAILABLE:
    case ErrorCode::CONCURRENT_TRANSACTIONS:
    case ErrorCode::UNSTABLE_OFFSET_COMMIT:
    case ErrorCode::THROTTLING_QUOTA_EXCEEDED: return true;
    default: return false;
  }
}

std::string Error::describe() const {
  std::string s = errc_name(code);
  if (code == Errc::kBroker) {
    s += ' ';
    s += kafka::error_name(kafka_error);
    s += " (" + std::to_string(kafka_error) + ")";
  }
  if (!message.empty()) s += ": " + message;
  return s;
}

Error make_error(Errc code, std::string message) { return Error{code, 0, std::move(message)}; }

Error broker_error(int16_t kafka_error, std::string context) {
  std::string msg = std::move(context);
  msg += ": ";
  msg += kafka::error_name(kafka_error);
  if (kafka::error_name(kafka_error) == "UNKNOWN_ERROR_CODE") msg += " " + std::to_string(kafka_error);
  return Error{Errc::kBroker, kafka_error, std::move(msg)};
}

int32_t murmur2(const void* data_ptr, std::size_t len) noexcept {
  // Kafka's org.apache.kafka.common.utils.Utils.murmur2, in unsigned arithmetic (Java's int
  // wraps the same way).
  const auto* data = static_cast<const uint8_t*>(data_ptr);
  const auto length = static_cast<uint32_t>(len);
  constexpr uint32_t kSeed = 0x9747b28c;
  constexpr uint32_t kM = 0x5bd1e995;
  constexpr int kR = 24;
  uint32_t h = kSeed ^ length;
  const uint32_t length4 = length / 4;
  for (uint32_t i = 0; i < length4; ++i) {
    const uint32_t i4 = i * 4;
    uint32_t k = static_cast<uint32_t>(data[i4]) | (static_cast<uint32_t>(data[i4 + 1]) << 8) |
                 (static_cast<uint32_t>(data[i4 + 2]) << 16) | (static_cast<uint32_t>(data[i4 + 3]) << 24);
    k *= kM;
    k ^= k >> kR;
    k *= kM;
    h *= kM;
    h ^= k;
  }
  const uint32_t tail = length & ~3u;
  switch (length % 4) {
    case 3: h ^= static_cast<uint32_t>(data[tail + 2]) << 16; [[fallthrough]];
    case 2: h ^= static_cast<uint32_t>(data[tail + 1]) << 8; [[fallthrough]];
    case 1:
      h ^= static_cast<uint32_t>(data[tail]);
      h *= kM;
      break;
    default: break;
  }
  h ^= h >> 13;
  h *= kM;
  h ^= h >> 15;
  return static_cast<int32_t>(h);
}

int32_t murmur2_partition(std::string_view key, int32_t partition_count) noexcept {
  if (partition_count <= 0) return -1;
  const auto positive = static_cast<uint32_t>(murmur2(key.data(), key.size())) & 0x7fffffffu;
  return static_cast<int32_t>(positive % static_cast<uint32_t>(partition_count));
}

}  // namespace sluice::client
