#pragma once
// Fan-out helpers for request handlers: run tasks concurrently on the current shard (each one
// typically a submit_to another shard) and resume when every one has finished.
#include <coroutine>
#include <vector>

#include "alloc/assert.h"
#include "io/cross_shard.h"
#include "io/task.h"

namespace sluice::core {

// Counts down to zero, then resumes the one coroutine waiting on it. Shard-local.
class Latch {
 public:
  explicit Latch(std::size_t count) : count_(count) {}
  void count_down() {
    SLUICE_ASSERT(count_ > 0);
    if (--count_ == 0 && waiter_) {
      auto h = waiter_;
      waiter_ = {};
      h.resume();  // nothing of the latch is touched after this
    }
  }
  bool await_ready() const noexcept { return count_ == 0; }
  void await_suspend(std::coroutine_handle<> h) noexcept {
    SLUICE_ASSERT(!waiter_);
    waiter_ = h;
  }
  void await_resume() const noexcept {}

 private:
  std::size_t count_;
  std::coroutine_handle<> waiter_;
};

namespace detail {
inline io::Task<void> run_and_count_down(io::Task<void> t, Latch* latch) {
  co_await std::move(t);
  latch->count_down();
}
}  // namespace detail

// Starts every task now and completes when all have completed.
inline io::Task<void> when_all(std::vector<io::Task<void>> tasks) {
  if (tasks.empty()) co_return;
  if (tasks.size() == 1) {
    co_await std::move(tasks.front());
    co_return;
  }
  Latch latch(tasks.size());
  for (auto& t : tasks) io::spawn(detail::run_and_count_down(std::move(t), &latch));
  co_await latch;
}

namespace detail {
template <class Item, class Fn>
io::Task<void> call_on_owner(unsigned target, std::vector<Item*> items, Fn fn) {
  // Named, then moved: g++ 12 destroys lambda temporaries in a co_await expression twice.
  auto call = [items = std::move(items), fn]() mutable { return fn(std::move(items)); };
  co_await io::submit_to(target, std::move(call));
}
}  // namespace detail

// The data-path fan-out: by_shard[s] lists the items owned by shard s; fn(items) -> Task<void>
// runs on each shard that has items, all concurrently; completes when every one has finished.
template <class Item, class Fn>
io::Task<void> on_each_owner(std::vector<std::vector<Item*>> by_shard, Fn fn) {
  std::vector<io::Task<void>> calls;
  for (unsigned s = 0; s < by_shard.size(); ++s)
    if (!by_shard[s].empty()) calls.push_back(detail::call_on_owner(s, std::move(by_shard[s]), fn));
  co_await when_all(std::move(calls));
}

}  // namespace sluice::core
