#pragma once
// Cross-shard messaging. One bounded SPSC ring per ordered pair of shards carries 16-byte
// messages (function + argument). submit_to's request and reply both point at a CrossCall that
// lives in the caller's coroutine frame, so a round trip allocates nothing (a Task-returning fn
// costs its own frame on the target, recycled by the frame cache). A full ring makes the sender
// wait in FIFO order; nothing is ever dropped. The receiver is woken with IORING_OP_MSG_RING only
// when it published 'sleeping' (see Shard::idle for the missed-wakeup argument).
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include "io/shard.h"
#include "io/task.h"

namespace sluice::io {

namespace detail {

template <typename T>
struct IsTask : std::false_type {};
template <typename T>
struct IsTask<Task<T>> : std::true_type {
  using value_type = T;
};

template <typename F, typename Ret = std::invoke_result_t<F&>>
struct SubmitResult {
  using type = Ret;
};
template <typename F, typename T>
struct SubmitResult<F, Task<T>> {
  using type = T;
};
template <typename F>
using submit_result_t = typename SubmitResult<F>::type;

template <typename R>
struct ResultSlot {
  std::optional<R> value;
  template <typename U>
  void set(U&& v) {
    value.emplace(std::forward<U>(v));
  }
  R take() {
    SLUICE_ASSERT(value.has_value());
    return std::move(*value);
  }
};
template <>
struct ResultSlot<void> {
  void take() {}
};

// Runs a Task-returning fn on the target and replies when it finishes.
struct Fire {
  struct promise_type {
    static void* operator new(std::size_t n) { return frame_alloc(n); }
    static void operator delete(void* p, std::size_t n) noexcept { frame_free(p, n); }
    Fire get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    [[noreturn]] void unhandled_exception() const noexcept { std::abort(); }
  };
};

template <typename F>
struct CrossCall {
  using R = submit_result_t<F>;
  F fn;
  ResultSlot<R> result;
  unsigned origin;
  unsigned target;
  std::coroutine_handle<> caller;
  PendingMsg node;

  CrossCall(F f, unsigned from, unsigned to) : fn(std::move(f)), origin(from), target(to) {}
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) noexcept {
    caller = h;
    node.msg = Msg{&CrossCall::on_target, this};
    Shard& s = Shard::current();
    s.call_sent();
    s.send_msg(target, &node);
  }
  R await_resume() { return result.take(); }

  // On the target shard.
  static void on_target(void* p) {
    auto* c = static_cast<CrossCall*>(p);
    if constexpr (IsTask<std::invoke_result_t<F&>>::value) {
      drive(c);
    } else if constexpr (std::is_void_v<R>) {
      c->fn();
      c->reply();
    } else {
      c->result.set(c->fn());
      c->reply();
    }
  }
  static Fire drive(CrossCall* c) {
    if constexpr (std::is_void_v<R>) co_await c->fn();
    else c->result.set(co_await c->fn());
    c->reply();
  }
  void reply() {
    node.msg = Msg{&CrossCall::on_origin, this};
    node.next = nullptr;
    Shard::current().send_msg(origin, &node);
  }
  // Back on the caller's shard.
  static void on_origin(void* p) {
    auto* c = static_cast<CrossCall*>(p);
    Shard::current().reply_arrived();
    c->caller.resume();
  }
};

template <typename F>
Task<submit_result_t<F>> submit_to_impl(unsigned target, F fn) {
  Shard& s = Shard::current();
  SLUICE_ASSERT(target < s.count());
  if (target == s.id()) {  // no hop
    if constexpr (IsTask<std::invoke_result_t<F&>>::value) co_return co_await fn();
    else co_return fn();
  }
  CrossCall<F> call(std::move(fn), s.id(), target);
  co_return co_await call;
}

template <typename F>
struct Posted {
  F fn;
  static void run(void* p) {
    auto* self = static_cast<Posted*>(p);
    self->fn();
    delete self;
  }
};

}  // namespace detail

// Runs fn on shard `target_shard` and returns its result (fn may return R or Task<R>) to the
// calling shard. fn is moved into the returned task's frame: it may capture by value freely.
template <typename F>
auto submit_to(unsigned target_shard, F&& fn) -> Task<detail::submit_result_t<std::decay_t<F>>> {
  return detail::submit_to_impl<std::decay_t<F>>(target_shard, std::forward<F>(fn));
}

// Fire-and-forget: runs fn on `target_shard` (on this shard: runs it now). One allocation for
// the closure; not for the per-message hot path (use submit_to there).
template <typename F>
void post_to(unsigned target_shard, F&& fn) {
  Shard& s = Shard::current();
  SLUICE_ASSERT(target_shard < s.count());
  if (target_shard == s.id()) {
    fn();
    return;
  }
  auto* p = new detail::Posted<std::decay_t<F>>{std::forward<F>(fn)};
  s.send_msg(target_shard, detail::Msg{&detail::Posted<std::decay_t<F>>::run, p});
}

}  // namespace sluice::io
