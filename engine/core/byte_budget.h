#pragma once
// A per-shard byte budget: how much memory request frames being received, or fetch responses
// waiting to be sent, may hold on one shard. Without it each slow or hostile client pins as much
// as it asks for (50 unread 100 MB fetches held 11.5 GB). Leases are taken and returned on the
// shard that owns the budget; the budget is never shared between shards.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "alloc/assert.h"
#include "io/shard.h"
#include "io/task.h"

namespace sluice::core {

class ByteBudget {
 public:
  explicit ByteBudget(std::size_t limit_bytes = 0) : limit_bytes_(limit_bytes) {}
  ByteBudget(const ByteBudget&) = delete;
  ByteBudget& operator=(const ByteBudget&) = delete;

  void set_limit(std::size_t limit_bytes) { limit_bytes_ = limit_bytes; }
  std::size_t limit_bytes() const { return limit_bytes_; }
  std::size_t in_use_bytes() const { return in_use_bytes_; }
  std::size_t available_bytes() const { return in_use_bytes_ >= limit_bytes_ ? 0 : limit_bytes_ - in_use_bytes_; }
  // `bytes` fit now. A request larger than the whole budget fits when nothing else holds any,
  // so one oversized holder at a time always makes progress.
  bool fits(std::size_t bytes) const { return in_use_bytes_ == 0 || bytes <= available_bytes(); }

  void take(std::size_t bytes) { in_use_bytes_ += bytes; }
  void give(std::size_t bytes) {
    SLUICE_ASSERT(bytes <= in_use_bytes_);
    in_use_bytes_ -= bytes;
    if (bytes > 0 && freed_.waiters() > 0) {
      freed_.set();
      freed_.reset();
    }
  }
  // Waits until `bytes` fit, the deadline passes or `*stopping` is set. True = they fit now.
  io::Task<bool> wait_until_fits(std::size_t bytes, int64_t deadline_ns, const bool* stopping) {
    while (!fits(bytes)) {
      const int64_t left_ns = deadline_ns - io::Shard::current().now_ns();
      if (left_ns <= 0 || *stopping) co_return false;
      bool woken = co_await freed_.wait(std::chrono::nanoseconds(left_ns));
      if (!woken && *stopping) co_return false;
    }
    co_return true;
  }

 private:
  std::size_t limit_bytes_;
  std::size_t in_use_bytes_ = 0;
  io::Event freed_;
};

// Bytes held from a ByteBudget; returned when the lease is destroyed (the frame was handled, the
// response was handed to the kernel or dropped with its connection).
class BudgetLease {
 public:
  BudgetLease() = default;
  BudgetLease(ByteBudget& budget, std::size_t bytes) : budget_(&budget), bytes_(bytes) { budget_->take(bytes_); }
  BudgetLease(BudgetLease&& o) noexcept
      : budget_(std::exchange(o.budget_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  BudgetLease& operator=(BudgetLease&& o) noexcept {
    if (this != &o) {
      release();
      budget_ = std::exchange(o.budget_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  BudgetLease(const BudgetLease&) = delete;
  BudgetLease& operator=(const BudgetLease&) = delete;
  ~BudgetLease() { release(); }

  std::size_t bytes() const { return bytes_; }
  // Adjusts the lease to what is really held (e.g. the response's final size).
  void resize(std::size_t bytes) {
    SLUICE_ASSERT(budget_ != nullptr);
    if (bytes > bytes_) budget_->take(bytes - bytes_);
    else budget_->give(bytes_ - bytes);
    bytes_ = bytes;
  }
  void release() {
    if (budget_) budget_->give(bytes_);
    budget_ = nullptr;
    bytes_ = 0;
  }

 private:
  ByteBudget* budget_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace sluice::core
