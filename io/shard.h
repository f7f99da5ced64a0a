#pragma once
// The per-thread shard: one io_uring, one page pool, one provided-buffer ring, a timer heap, a
// ready queue and the cross-shard mailboxes. Everything in a Shard is touched only by its own
// thread; the only shared words are the atomics in detail::RuntimeShared (sleep flags, SPSC
// ring indexes, the stop flag).
#include <liburing.h>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <csignal>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "alloc/page_pool.h"
#include "alloc/result.h"
#include "io/task.h"

namespace sluice::io {

struct RuntimeConfig;
class Shard;

namespace detail {

struct RuntimeShared;
class BufRing;

// A connection whose multishot recv ended with ENOBUFS; re-armed when buffers come back.
struct StarvedNode {
  StarvedNode* starved_prev = nullptr;
  StarvedNode* starved_next = nullptr;
  bool starved = false;
  void (*rearm)(StarvedNode*) = nullptr;
  void (*drain)(StarvedNode*) = nullptr;  // shutdown: wake its waiter with an error
};

// An operation in the ring. Its address is the SQE's user_data; small integers are tags.
struct IoOp {
  using Handler = void (*)(IoOp* self, int32_t res, uint32_t flags);
  Handler on_cqe = nullptr;
};
inline constexpr uint64_t kUserDataIgnore = 1;  // cancels, msg_ring sender side
inline constexpr uint64_t kUserDataWake = 2;    // msg_ring wakeups arriving at a sleeping shard
inline constexpr uint64_t kUserDataMaxTag = 7;

// An in-flight sleep_for (IORING_OP_TIMEOUT); listed so stop can cancel it.
struct SleepNode : IoOp {
  SleepNode* prev = nullptr;
  SleepNode* next = nullptr;
};

// A coroutine waiting to be resumed from the run loop; lives in the waiter's frame.
struct ReadyNode {
  ReadyNode* next = nullptr;
  std::coroutine_handle<> handle;
};

// A userspace timer (Timer, Event::wait timeouts). The shard keeps a binary heap of these and
// sleeps in io_uring_submit_and_wait_timeout until the earliest one, so arming and cancelling
// cost no SQE and no syscall.
struct TimerNode {
  static constexpr uint32_t kNotQueued = UINT32_MAX;
  int64_t deadline_ns = 0;
  uint32_t heap_index = kNotQueued;
  bool ends_at_stop = false;  // Event waits end (false) as soon as the runtime is stopping
  // shutdown=true: the shard is draining; the timer is dropped, not expired.
  void (*fire)(TimerNode* self, bool shutdown) = nullptr;
  bool queued() const noexcept { return heap_index != kNotQueued; }
};

class TimerHeap {
 public:
  explicit TimerHeap(std::size_t limit);
  void push(TimerNode* n);
  void remove(TimerNode* n);
  TimerNode* top() const noexcept { return heap_.empty() ? nullptr : heap_[0]; }
  std::size_t size() const noexcept { return heap_.size(); }
  TimerNode* at(std::size_t i) const noexcept { return heap_[i]; }

 private:
  void sift_up(std::size_t i) noexcept;
  void sift_down(std::size_t i) noexcept;
  void place(std::size_t i, TimerNode* n) noexcept {
    heap_[i] = n;
    n->heap_index = static_cast<uint32_t>(i);
  }
  std::vector<TimerNode*> heap_;
  std::size_t limit_;
};

// A cross-shard message: a function and its argument. 16 bytes, no ownership.
struct Msg {
  void (*fn)(void* arg) = nullptr;
  void* arg = nullptr;
};
// A message waiting for space in a full SPSC ring (FIFO per target, never dropped).
struct PendingMsg {
  Msg msg;
  PendingMsg* next = nullptr;
  bool heap_owned = false;
};

// Single-producer single-consumer ring for one ordered pair of shards.
class SpscRing {
 public:
  explicit SpscRing(uint32_t capacity);
  bool try_push(const Msg& m) noexcept;     // producer only
  uint32_t consume(uint32_t max) noexcept;  // consumer only: runs up to max messages
  bool empty_for_consumer() const noexcept {
    return head_.load(std::memory_order_relaxed) == tail_.load(std::memory_order_acquire);
  }
  bool has_space_for_producer() noexcept;
  // Set by a producer that has messages waiting for space; the consumer wakes it after consuming.
  std::atomic<bool> producer_blocked{false};

 private:
  alignas(64) std::atomic<uint64_t> head_{0};
  uint64_t cached_tail_ = 0;
  alignas(64) std::atomic<uint64_t> tail_{0};
  uint64_t cached_head_ = 0;
  alignas(64) std::unique_ptr<Msg[]> slots_;
  uint64_t mask_;
};

template <typename Prep>
struct RingAwaiter;

}  // namespace detail

// CLOCK_MONOTONIC in nanoseconds (vDSO: no syscall). Shard::now_ns() is the cached per-pass value.
int64_t monotonic_ns() noexcept;

struct ShardStats {
  uint64_t loop_iterations = 0;
  uint64_t sleeps = 0;
  uint64_t cqes = 0;
  uint64_t wakeups_sent = 0;
  uint64_t messages_sent = 0;  // cross-shard messages (calls, replies, posts, buffer releases)
  uint64_t messages_received = 0;
  uint64_t zc_sends = 0;
  uint64_t zc_copied = 0;         // SEND_ZC notifications saying the kernel copied anyway (loopback)
  uint64_t accepts_rejected = 0;  // closed at once: over max_connections_per_shard or queue full
  uint64_t recv_enobufs = 0;
  uint64_t fixed_buffer_ops = 0;
  uint64_t tasks_resumed = 0;  // coroutines resumed from the ready queue
  int64_t busy_ns = 0;         // time in loop passes, outside the wait for completions (and spin)
  uint64_t stalls = 0;         // loop passes longer than RuntimeConfig::stall_threshold_us
  uint64_t stalls_caught = 0;  // of those, caught in the act by the watchdog (with a backtrace)
  int64_t started_ns = 0;      // monotonic time the loop started (busy ratio = busy_ns / uptime)
};

class Shard {
 public:
  Shard(detail::RuntimeShared& shared, unsigned id);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  static Shard& current();  // asserts when not on a shard thread
  static bool on_shard() noexcept;

  unsigned id() const noexcept { return id_; }
  unsigned count() const noexcept;
  io_uring& ring() noexcept { return ring_; }
  alloc::PagePool& pages() noexcept { return pages_; }
  bool pages_registered() const noexcept { return pages_registered_; }
  bool stop_requested() const noexcept { return stopping_; }
  Task<void> wait_stop();
  int64_t now_ns() const noexcept { return now_ns_; }
  void assert_owner(unsigned owner_shard) const { SLUICE_ASSERT(owner_shard == id_); }
  const RuntimeConfig& config() const noexcept;
  const ShardStats& stats() const noexcept { return stats_; }
  ShardStats& mutable_stats() noexcept { return stats_; }

  // ---- io/ internals ----
  // An SQE for `op` (its user_data is set by track()); nullptr while draining: the caller then
  // completes the operation itself with -ECANCELED.
  io_uring_sqe* sqe_for_op() noexcept;
  void track(io_uring_sqe* sqe, detail::IoOp* op) noexcept;
  // An SQE whose completion is ignored (cancel, msg_ring); allowed while draining.
  io_uring_sqe* untracked_sqe() noexcept;
  void cancel_op(detail::IoOp* op) noexcept;
  bool draining() const noexcept { return draining_; }
  void schedule(detail::ReadyNode* n) noexcept;
  void add_timer(detail::TimerNode* n, int64_t deadline_ns);
  void remove_timer(detail::TimerNode* n) noexcept;
  void send_msg(unsigned target, detail::PendingMsg* node) noexcept;  // node lives until pushed
  void send_msg(unsigned target, detail::Msg m);                      // spills to the heap if full
  // Pending sleep_for ops, cancelled when the runtime starts stopping.
  void link_sleeper(detail::SleepNode* n) noexcept;
  void unlink_sleeper(detail::SleepNode* n) noexcept;
  void reply_arrived() noexcept {
    SLUICE_ASSERT(awaiting_replies_ > 0);
    awaiting_replies_--;
  }
  void call_sent() noexcept { awaiting_replies_++; }
  detail::BufRing* recv_buffers() noexcept { return buf_ring_.get(); }
  void add_starved(detail::StarvedNode* c) noexcept;
  void remove_starved(detail::StarvedNode* c) noexcept;
  uint32_t& live_connections() noexcept { return live_connections_; }
  bool send_zc_supported() const noexcept;

  // Runtime driver (runtime.cc).
  Result<void> init();
  void run_loop();
  void final_sweep();
  void note_stall(int64_t worked_ns);
  void install_signal_reader(int signal_fd);
  // Stall watchdog's signal handler, on this shard's thread in the middle of the stalling code:
  // records the backtrace and the running task (async-signal-safe; reported by note_stall).
  void capture_stall() noexcept;
  // The last stall report written to the log ("" if none): task, duration and backtrace.
  const std::string& last_stall_report() const noexcept { return last_stall_report_; }
  bool stall_caught_in_this_pass() const noexcept { return stall_caught_ != 0; }

 private:
  struct WakeOp;
  struct SignalOp;
  void update_now() noexcept;
  void check_stop();
  void begin_drain();
  void run_timers();
  bool process_incoming();
  void flush_outgoing();
  unsigned run_ready();
  unsigned reap();
  void dispatch(uint64_t user_data, int32_t res, uint32_t flags);
  bool has_incoming() const noexcept;
  bool outgoing_ready() noexcept;
  void wake(unsigned target) noexcept;
  void idle();
  bool spin(int64_t budget_ns);
  bool quiescent() const noexcept;
  bool try_finish();
  void rearm_starved();
  void arm_wake_read();

  detail::RuntimeShared& shared_;
  const unsigned id_;
  io_uring ring_{};
  bool ring_ready_ = false;
  alloc::PagePool pages_;
  bool pages_registered_ = false;
  std::unique_ptr<detail::BufRing> buf_ring_;
  detail::TimerHeap timers_;
  detail::ReadyNode* ready_head_ = nullptr;
  detail::ReadyNode* ready_tail_ = nullptr;
  detail::ReadyNode* stop_waiters_ = nullptr;
  detail::SleepNode* sleepers_ = nullptr;
  struct Outbox {
    detail::PendingMsg* head = nullptr;
    detail::PendingMsg* tail = nullptr;
    std::size_t count = 0;
  };
  std::vector<Outbox> outboxes_;
  std::size_t outbox_total_ = 0;
  detail::StarvedNode* starved_head_ = nullptr;
  detail::StarvedNode* starved_tail_ = nullptr;
  int64_t drain_start_ns_ = 0;
  bool drain_failed_ = false;
  uint64_t in_flight_ = 0;
  uint64_t awaiting_replies_ = 0;
  uint32_t live_connections_ = 0;
  int64_t now_ns_ = 0;
  bool stopping_ = false;
  bool draining_ = false;
  bool main_done_ = false;
  uint64_t wake_value_ = 0;
  std::unique_ptr<WakeOp> wake_op_;
  std::unique_ptr<SignalOp> signal_op_;
  ShardStats stats_;
  int64_t last_stall_log_ns_ = 0;
  // The resume function of the coroutine run_ready() is resuming, for the stall watchdog's report.
  const void* running_task_resume_fn_ = nullptr;
  static constexpr int kMaxStallFrames = 32;
  void* stall_pcs_[kMaxStallFrames] = {};
  int stall_depth_ = 0;
  const void* stall_task_resume_fn_ = nullptr;  // first word of the running coroutine's frame
  volatile std::sig_atomic_t stall_caught_ = 0;
  std::string last_stall_report_;

  friend class Runtime;
  friend struct ShardMainDone;

 public:
  void mark_main_done() noexcept { main_done_ = true; }
  bool drain_failed() const noexcept { return drain_failed_; }
};

namespace detail {

// The generic single-shot operation awaiter: lives in the awaiting coroutine's frame, so an
// operation costs no allocation. co_await yields the CQE's res (negative errno on failure).
template <typename Prep>
struct RingAwaiter : IoOp {
  Prep prep;
  int32_t res = 0;
  uint32_t cqe_flags = 0;
  std::coroutine_handle<> handle;

  explicit RingAwaiter(Prep p) : prep(std::move(p)) { on_cqe = &complete; }
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    Shard& s = Shard::current();
    io_uring_sqe* sqe = s.sqe_for_op();
    if (!sqe) {  // draining: never reaches the kernel
      res = -ECANCELED;
      return false;
    }
    prep(sqe);
    s.track(sqe, this);
    handle = h;
    return true;
  }
  int32_t await_resume() const noexcept { return res; }
  static void complete(IoOp* op, int32_t r, uint32_t flags) {
    auto* self = static_cast<RingAwaiter*>(op);
    self->res = r;
    self->cqe_flags = flags;
    self->handle.resume();
  }
};

template <typename Prep>
RingAwaiter<Prep> ring_op(Prep p) {
  return RingAwaiter<Prep>(std::move(p));
}

}  // namespace detail

// IORING_OP_TIMEOUT; true when the time elapsed, false once the runtime is stopping (pending
// sleeps are cancelled at stop, and new ones return false at once).
Task<bool> sleep_for(std::chrono::nanoseconds d);

// A cancellable callback timer (session timeouts, linger). Shard-local, not movable (the shard's
// timer heap points at it). Destroying it cancels it. At shutdown armed timers are dropped
// without running their callbacks.
class Timer {
 public:
  Timer();
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  void arm(std::chrono::nanoseconds d, std::function<void()> cb);
  void cancel();
  bool armed() const noexcept { return node_.queued(); }

 private:
  static void fire(detail::TimerNode* n, bool shutdown);
  struct Node : detail::TimerNode {
    Timer* owner = nullptr;
  };
  Node node_;
  std::function<void()> cb_;
  Shard* shard_ = nullptr;
};

// Suspends the calling coroutine until the shard's next run-loop pass (after what is already
// ready). Unlike Event::wait's timeout and sleep_for, it suspends while the shard drains at stop,
// so a close or stop that waits for other coroutines lets them run instead of spinning.
struct YieldToLoop : detail::ReadyNode {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) noexcept;
  void await_resume() const noexcept {}
};

// A shard-local level-triggered event with any number of waiters: set() wakes every waiter and
// stays set until reset(). Used by fetch long polls and JoinGroup waits. Waits end with false
// on timeout and as soon as the runtime is stopping; even then a wait suspends once (to the
// next loop pass), so `while (!done) co_await ev.wait(..)` cannot keep the shard from running
// the coroutine that sets `done` (that livelock hung a stop with a fetch parked on its gate).
class Event {
 public:
  Event() = default;
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  void set();
  void reset() noexcept { set_ = false; }
  bool is_set() const noexcept { return set_; }
  std::size_t waiters() const noexcept { return waiter_count_; }
  Task<bool> wait(std::chrono::nanoseconds timeout);  // true = set, false = timed out / shutdown

  struct Waiter;  // lives in the waiting coroutine's frame

 private:
  friend struct Waiter;
  void unlink(Waiter* w) noexcept;
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
  std::size_t waiter_count_ = 0;
  bool set_ = false;
};

}  // namespace sluice::io
