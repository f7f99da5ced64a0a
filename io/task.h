#pragma once
// Task<T>: the runtime's coroutine type. Lazily started (nothing runs until awaited or spawned),
// resumes its awaiter by symmetric transfer, never throws (an exception escaping a task is a
// programmer error and aborts). Frames come from operator new, i.e. mimalloc's heap of the
// calling thread: each shard allocates from its own heap.
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include "alloc/assert.h"

namespace sluice::io {

template <typename T = void>
class Task;

namespace detail {

// Coroutine frames are recycled per thread (per shard) in size classes, so that awaiting a
// Task-returning I/O call (recv, send, Event::wait) does not reach the heap in steady state.
// A frame freed on another thread simply joins that thread's cache (raw memory, no owner).
// Disabled under AddressSanitizer so use-after-free of frames stays detectable.
#if defined(__SANITIZE_ADDRESS__)
#define SLUICE_FRAME_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLUICE_FRAME_CACHE 0
#endif
#endif
#ifndef SLUICE_FRAME_CACHE
#define SLUICE_FRAME_CACHE 1
#endif

struct FrameCache {
  static constexpr std::size_t kGranuleBytes = 64;
  static constexpr std::size_t kClasses = 64;     // frames up to 4 KiB are cached
  static constexpr uint32_t kMaxPerClass = 4096;  // bound on idle memory per class
  struct Node {
    Node* next;
  };
  Node* heads[kClasses] = {};
  uint32_t counts[kClasses] = {};
  ~FrameCache() {
    for (std::size_t c = 0; c < kClasses; ++c) {
      while (Node* n = heads[c]) {
        heads[c] = n->next;
        ::operator delete(static_cast<void*>(n));
      }
    }
  }
};
inline thread_local FrameCache t_frame_cache;

inline void* frame_alloc(std::size_t n) {
  std::size_t cls = (n + FrameCache::kGranuleBytes - 1) / FrameCache::kGranuleBytes;
  if (!SLUICE_FRAME_CACHE || cls >= FrameCache::kClasses) return ::operator new(n);
  FrameCache& fc = t_frame_cache;
  if (FrameCache::Node* node = fc.heads[cls]) {
    fc.heads[cls] = node->next;
    fc.counts[cls]--;
    return node;
  }
  return ::operator new(FrameCache::kGranuleBytes* cls);
}

inline void frame_free(void* p, std::size_t n) noexcept {
  std::size_t cls = (n + FrameCache::kGranuleBytes - 1) / FrameCache::kGranuleBytes;
  if (!SLUICE_FRAME_CACHE || cls >= FrameCache::kClasses) {
    ::operator delete(p);
    return;
  }
  FrameCache& fc = t_frame_cache;
  if (fc.counts[cls] >= FrameCache::kMaxPerClass) {
    ::operator delete(p);
    return;
  }
  auto* node = static_cast<FrameCache::Node*>(p);
  node->next = fc.heads[cls];
  fc.heads[cls] = node;
  fc.counts[cls]++;
}

struct FinalAwaiter {
  bool await_ready() const noexcept { return false; }
  template <typename P>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
    auto cont = h.promise().continuation;
    if (cont) return cont;
    return std::noop_coroutine();
  }
  void await_resume() const noexcept {}
};

struct PromiseBase {
  static void* operator new(std::size_t n) { return frame_alloc(n); }
  static void operator delete(void* p, std::size_t n) noexcept { frame_free(p, n); }
  std::coroutine_handle<> continuation;
  std::suspend_always initial_suspend() const noexcept { return {}; }
  FinalAwaiter final_suspend() const noexcept { return {}; }
  [[noreturn]] void unhandled_exception() const noexcept {
    SLUICE_ASSERT_MSG(false, "exception escaped a task");
    std::abort();
  }
};

template <typename T>
struct Promise : PromiseBase {
  std::optional<T> value;
  Task<T> get_return_object() noexcept;
  template <typename U>
  void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    value.emplace(std::forward<U>(v));
  }
};

template <>
struct Promise<void> : PromiseBase {
  Task<void> get_return_object() noexcept;
  void return_void() const noexcept {}
};

}  // namespace detail

template <typename T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::Promise<T>;
  using Handle = std::coroutine_handle<promise_type>;

  Task() = default;
  explicit Task(Handle h) noexcept : h_(h) {}
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      destroy();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { destroy(); }

  bool valid() const noexcept { return static_cast<bool>(h_); }
  bool done() const noexcept { return h_ && h_.done(); }

  // Awaiting starts the task and resumes the awaiter when it finishes.
  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiter) noexcept {
    SLUICE_ASSERT(h_ && !h_.done());
    h_.promise().continuation = awaiter;
    return h_;
  }
  T await_resume() noexcept {
    if constexpr (!std::is_void_v<T>) {
      SLUICE_ASSERT(h_.promise().value.has_value());
      return std::move(*h_.promise().value);
    }
  }

  // For drivers (spawn, run loops, tests): start without an awaiter / read the result.
  Handle handle() const noexcept { return h_; }
  Handle release() noexcept { return std::exchange(h_, {}); }
  // Runs the task until its first suspension; returns true if it already finished.
  bool start() noexcept {
    SLUICE_ASSERT(h_ && !h_.done());
    h_.resume();
    return h_.done();
  }
  // Result of a finished task.
  decltype(auto) result() noexcept {
    SLUICE_ASSERT(done());
    if constexpr (!std::is_void_v<T>) return std::move(*h_.promise().value);
  }

 private:
  void destroy() noexcept {
    if (h_) {
      h_.destroy();
      h_ = {};
    }
  }
  Handle h_;
};

namespace detail {
template <typename T>
Task<T> Promise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}
inline Task<void> Promise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}

// A fire-and-forget coroutine that owns and awaits a Task, then frees itself.
struct Detached {
  struct promise_type {
    static void* operator new(std::size_t n) { return frame_alloc(n); }
    static void operator delete(void* p, std::size_t n) noexcept { frame_free(p, n); }
    Detached get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    [[noreturn]] void unhandled_exception() const noexcept { std::abort(); }
  };
};
template <typename T>
Detached run_detached(Task<T> t) {
  co_await std::move(t);
}
}  // namespace detail

// Starts `t` now on the calling thread (shard); it runs until its first suspension and
// continues from completions of that shard's ring. Its frame is freed when it finishes.
template <typename T>
void spawn(Task<T>&& t) {
  SLUICE_ASSERT(t.valid());
  detail::run_detached(std::move(t));
}

// Runs a task that never suspends on real I/O (pure logic, fake I/O in tests) to completion.
template <typename T>
T run_sync(Task<T> t) {
  bool finished = t.start();
  SLUICE_ASSERT_MSG(finished, "run_sync: task suspended; drive it with a shard instead");
  if constexpr (!std::is_void_v<T>) return t.result();
}

}  // namespace sluice::io
