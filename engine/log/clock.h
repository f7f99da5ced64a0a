#pragma once
// Millisecond wall clock, injectable so tests control segment.ms / retention.ms / LogAppendTime.
#include <chrono>
#include <cstdint>

namespace sluice::log {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_ms() = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t now_ms() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ms = 1'000'000) : now_ms_(start_ms) {}
  int64_t now_ms() override { return now_ms_; }
  void set_ms(int64_t t) { now_ms_ = t; }
  void advance_ms(int64_t d) { now_ms_ += d; }

 private:
  int64_t now_ms_;
};

}  // namespace sluice::log
