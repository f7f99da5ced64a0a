#pragma once
// Errors of the Sluice Kafka client: every fallible call returns Result<T>, never throws.
#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace sluice::client {

enum class Errc : int {
  kOk = 0,
  kNetwork,             // connect/send/receive failed or the connection closed
  kTimeout,             // the deadline of the call passed
  kMalformedResponse,   // the server sent bytes that do not decode (truncated, garbage)
  kBroker,              // the server answered with a Kafka error code (Error::kafka_error)
  kInvalidArgument,     // bad input from the caller
  kUnsupportedVersion,  // the server does not implement an API version the call needs
  kClosed,              // the client was closed
  kUnknownTopic,        // the topic does not exist (and was not created)
  kQueueFull,           // buffer_memory_bytes exhausted
};

const char* errc_name(Errc e) noexcept;
// Kafka's retriable errors (NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, ...).
bool kafka_error_retriable(int16_t kafka_error) noexcept;

struct Error {
  Errc code = Errc::kOk;
  int16_t kafka_error = 0;  // set when code == kBroker
  std::string message;

  bool retriable() const noexcept {
    return code == Errc::kNetwork || code == Errc::kTimeout ||
           (code == Errc::kBroker && kafka_error_retriable(kafka_error));
  }
  std::string describe() const;  // "kBroker NOT_LEADER_OR_FOLLOWER (6): ..."
};

Error make_error(Errc code, std::string message);
Error broker_error(int16_t kafka_error, std::string context);  // message names the error code

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error e) : v_(std::move(e)) {}      // NOLINT
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error e) : err_(std::move(e)), ok_(false) {}  // NOLINT
  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const Error& error() const { return err_; }

 private:
  Error err_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace sluice::client
