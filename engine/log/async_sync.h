#pragma once
// Shard-local coroutine synchronisation (no atomics, no threads): a FIFO async mutex and a
// wait list. Waiters are intrusive nodes living in the awaiting coroutine's frame, so waiting
// never allocates. Wake-ups resume the waiter inline on the calling shard.
#include <coroutine>
#include <utility>

#include "alloc/assert.h"

namespace sluice::log {

class AsyncMutex {
 public:
  class LockAwaiter {
   public:
    explicit LockAwaiter(AsyncMutex& m) noexcept : m_(m) {}
    bool await_ready() noexcept {
      if (m_.locked_) return false;
      m_.locked_ = true;
      return true;
    }
    void await_suspend(std::coroutine_handle<> h) noexcept {
      h_ = h;
      if (m_.tail_) m_.tail_->next_ = this;
      else m_.head_ = this;
      m_.tail_ = this;
    }
    void await_resume() const noexcept { SLUICE_ASSERT(m_.locked_); }

   private:
    friend class AsyncMutex;
    AsyncMutex& m_;
    LockAwaiter* next_ = nullptr;
    std::coroutine_handle<> h_;
  };

  // co_await mutex.lock(); ... mutex.unlock();  Ownership passes directly to the next waiter.
  LockAwaiter lock() noexcept { return LockAwaiter(*this); }
  void unlock() noexcept {
    SLUICE_ASSERT(locked_);
    LockAwaiter* w = head_;
    if (!w) {
      locked_ = false;
      return;
    }
    head_ = w->next_;
    if (!head_) tail_ = nullptr;
    w->h_.resume();  // still locked: ownership transferred
  }
  bool locked() const noexcept { return locked_; }

 private:
  bool locked_ = false;
  LockAwaiter* head_ = nullptr;
  LockAwaiter* tail_ = nullptr;
};

class WaitList {
 public:
  class Awaiter {
   public:
    explicit Awaiter(WaitList& l) noexcept : l_(l) {}
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) noexcept {
      h_ = h;
      next_ = l_.head_;
      l_.head_ = this;
    }
    void await_resume() const noexcept {}

   private:
    friend class WaitList;
    WaitList& l_;
    Awaiter* next_ = nullptr;
    std::coroutine_handle<> h_;
  };

  Awaiter wait() noexcept { return Awaiter(*this); }
  bool empty() const noexcept { return head_ == nullptr; }
  void notify_all() noexcept {
    Awaiter* w = std::exchange(head_, nullptr);
    while (w) {
      Awaiter* next = w->next_;  // read before resuming: the node lives in the waiter's frame
      w->h_.resume();
      w = next;
    }
  }

 private:
  Awaiter* head_ = nullptr;
};

}  // namespace sluice::log
