#pragma once
// Suspends the calling coroutine until the shard's next run-loop pass. Unlike Event::wait and
// sleep_for, it suspends while the shard drains at stop, so a close or stop that waits for other
// coroutines to finish lets them run instead of spinning.
#include <coroutine>

#include "io/shard.h"

namespace sluice::core {

struct YieldToLoop : io::detail::ReadyNode {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) noexcept {
    handle = h;
    io::Shard::current().schedule(this);
  }
  void await_resume() const noexcept {}
};

}  // namespace sluice::core
