#include "io/shard.h"

#include <execinfo.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "alloc/iobuf.h"
#include "io/buf_ring.h"
#include "io/logging.h"
#include "io/runtime_shared.h"
#include "io/stall_watchdog.h"

namespace sluice::io {
namespace {
thread_local Shard* t_shard = nullptr;

// Per-tick bounds keep one busy source (CQEs, a chatty peer shard, a timer storm) from starving
// the others and keep the latency of a loop iteration bounded.
constexpr unsigned kMaxResumesPerTick = 4096;
constexpr unsigned kMaxCqesPerTick = 4096;
constexpr unsigned kMaxMessagesPerSourcePerTick = 1024;
constexpr unsigned kMaxTimersPerTick = 4096;
constexpr std::size_t kMaxOutboxMessages = std::size_t{1} << 22;
constexpr int64_t kDrainPollNs = 1'000'000;  // while draining, re-check peers every 1 ms

}  // namespace

int64_t monotonic_ns() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// ---------------------------------------------------------------- TimerHeap

namespace detail {

TimerHeap::TimerHeap(std::size_t limit) : limit_(limit) { heap_.reserve(std::min<std::size_t>(limit, 1024)); }

void TimerHeap::push(TimerNode* n) {
  SLUICE_ASSERT(!n->queued());
  SLUICE_ASSERT_MSG(heap_.size() < limit_, "max_timers_per_shard exceeded");
  heap_.push_back(n);
  n->heap_index = static_cast<uint32_t>(heap_.size() - 1);
  sift_up(heap_.size() - 1);
}

void TimerHeap::remove(TimerNode* n) {
  SLUICE_ASSERT(n->queued() && heap_[n->heap_index] == n);
  std::size_t i = n->heap_index;
  TimerNode* last = heap_.back();
  heap_.pop_back();
  n->heap_index = TimerNode::kNotQueued;
  if (i == heap_.size()) return;
  place(i, last);
  sift_up(i);
  sift_down(last->heap_index);
}

void TimerHeap::sift_up(std::size_t i) noexcept {
  TimerNode* n = heap_[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / 2;
    if (heap_[parent]->deadline_ns <= n->deadline_ns) break;
    place(i, heap_[parent]);
    i = parent;
  }
  place(i, n);
}

void TimerHeap::sift_down(std::size_t i) noexcept {
  TimerNode* n = heap_[i];
  for (;;) {
    std::size_t child = 2 * i + 1;
    if (child >= heap_.size()) break;
    if (child + 1 < heap_.size() && heap_[child + 1]->deadline_ns < heap_[child]->deadline_ns) child++;
    if (heap_[child]->deadline_ns >= n->deadline_ns) break;
    place(i, heap_[child]);
    i = child;
  }
  place(i, n);
}

// ---------------------------------------------------------------- SpscRing

SpscRing::SpscRing(uint32_t capacity) : slots_(new Msg[capacity]), mask_(capacity - 1) {
  SLUICE_ASSERT(capacity >= 2 && (capacity & (capacity - 1)) == 0);
}

bool SpscRing::has_space_for_producer() noexcept {
  uint64_t t = tail_.load(std::memory_order_relaxed);
  if (t - cached_head_ <= mask_) return true;
  cached_head_ = head_.load(std::memory_order_acquire);
  return t - cached_head_ <= mask_;
}

bool SpscRing::try_push(const Msg& m) noexcept {
  if (!has_space_for_producer()) return false;
  uint64_t t = tail_.load(std::memory_order_relaxed);
  slots_[t & mask_] = m;
  tail_.store(t + 1, std::memory_order_release);
  return true;
}

uint32_t SpscRing::consume(uint32_t max) noexcept {
  uint64_t h = head_.load(std::memory_order_relaxed);
  if (cached_tail_ == h) {
    cached_tail_ = tail_.load(std::memory_order_acquire);
    if (cached_tail_ == h) return 0;
  }
  uint64_t n = std::min<uint64_t>(cached_tail_ - h, max);
  for (uint64_t i = 0; i < n; ++i) {
    Msg m = slots_[(h + i) & mask_];
    m.fn(m.arg);
  }
  head_.store(h + n, std::memory_order_release);
  return static_cast<uint32_t>(n);
}

}  // namespace detail

// ---------------------------------------------------------------- Shard basics

struct Shard::WakeOp : detail::IoOp {
  Shard* shard = nullptr;
};
struct Shard::SignalOp : detail::IoOp {
  Shard* shard = nullptr;
  int fd = -1;
  signalfd_siginfo info{};
};

Shard::Shard(detail::RuntimeShared& shared, unsigned id)
    : shared_(shared),
      id_(id),
      pages_(shared.cfg.registered_pages_per_shard),
      timers_(shared.cfg.max_timers_per_shard),
      outboxes_(shared.shard_count) {
  SLUICE_ASSERT(id < shared.shard_count);
}

Shard::~Shard() {
  if (t_shard == this) {
    t_shard = nullptr;
    alloc::set_current_shard_id(alloc::kNoShard);
  }
  shared_.slots[id_].shard = nullptr;
  if (!ring_ready_) return;
  if (buf_ring_) buf_ring_->unregister(ring_);
  if (pages_registered_) io_uring_unregister_buffers(&ring_);
  io_uring_queue_exit(&ring_);
}

Shard& Shard::current() {
  SLUICE_ASSERT_MSG(t_shard != nullptr, "not on a shard thread");
  return *t_shard;
}
bool Shard::on_shard() noexcept { return t_shard != nullptr; }
unsigned Shard::count() const noexcept { return shared_.shard_count; }
const RuntimeConfig& Shard::config() const noexcept { return shared_.cfg; }
bool Shard::send_zc_supported() const noexcept { return shared_.send_zc; }

void Shard::update_now() noexcept { now_ns_ = monotonic_ns(); }

Result<void> Shard::init() {
  SLUICE_ASSERT(t_shard == nullptr);
  unsigned used = 0;
  int rc = detail::setup_ring(shared_.cfg.ring_entries, &ring_, shared_.setup_flags, &used);
  if (rc < 0) return make_error(-rc, "io_uring setup failed on a shard thread");
  ring_ready_ = true;
  io_uring_register_ring_fd(&ring_);  // optional: saves an fd lookup per io_uring_enter
  t_shard = this;
  alloc::set_current_shard_id(id_);
  // One iovec over the whole pool: a multi-page O_DIRECT write is one fixed-buffer op (index 0).
  iovec iov{pages_.region().data(), pages_.region().size()};
  rc = io_uring_register_buffers(&ring_, &iov, 1);
  pages_registered_ = rc == 0;
  if (!pages_registered_)
    logging::error(
        "shard {}: registering {} pages as fixed buffers failed ({}); DMA uses plain READ/WRITE (raise RLIMIT_MEMLOCK)",
        id_, pages_.page_count(), std::strerror(-rc));
  auto br = detail::BufRing::create(ring_, 0, shared_.cfg.recv_buffers_per_shard, shared_.cfg.recv_buffer_bytes);
  if (!br) return br.error();
  buf_ring_ = std::move(br.value());
  detail::ShardSlot& slot = shared_.slots[id_];
  slot.ring_fd = ring_.ring_fd;
  slot.shard = this;
  wake_op_ = std::make_unique<WakeOp>();
  wake_op_->shard = this;
  wake_op_->on_cqe = [](detail::IoOp* op, int32_t res, uint32_t) {
    auto* w = static_cast<WakeOp*>(op);
    if (res > 0 && !w->shard->draining_) w->shard->arm_wake_read();
  };
  arm_wake_read();
  update_now();
  return ok_result();
}

void Shard::arm_wake_read() {
  io_uring_sqe* sqe = sqe_for_op();
  if (!sqe) return;
  io_uring_prep_read(sqe, shared_.slots[id_].event_fd, &wake_value_, sizeof wake_value_, 0);
  track(sqe, wake_op_.get());
}

void Shard::install_signal_reader(int signal_fd) {
  SLUICE_ASSERT(signal_fd >= 0 && !signal_op_);
  signal_op_ = std::make_unique<SignalOp>();
  signal_op_->shard = this;
  signal_op_->fd = signal_fd;
  signal_op_->on_cqe = [](detail::IoOp* op, int32_t res, uint32_t) {
    auto* s = static_cast<SignalOp*>(op);
    if (res != static_cast<int32_t>(sizeof(signalfd_siginfo))) return;  // cancelled at shutdown
    logging::info("signal {} received, stopping", s->info.ssi_signo);
    s->shard->shared_.runtime->stop();
    // One read is enough: stop is one-way.
  };
  io_uring_sqe* sqe = sqe_for_op();
  SLUICE_ASSERT(sqe);
  io_uring_prep_read(sqe, signal_fd, &signal_op_->info, sizeof signal_op_->info, 0);
  track(sqe, signal_op_.get());
}

// ---------------------------------------------------------------- submission

io_uring_sqe* Shard::untracked_sqe() noexcept {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (!sqe) {  // SQ full: push what we have to the kernel and retry
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  SLUICE_ASSERT_MSG(sqe, "submission queue still full after submit");
  return sqe;
}

io_uring_sqe* Shard::sqe_for_op() noexcept {
  if (draining_) return nullptr;
  return untracked_sqe();
}

void Shard::track(io_uring_sqe* sqe, detail::IoOp* op) noexcept {
  SLUICE_ASSERT(op && op->on_cqe && (reinterpret_cast<uintptr_t>(op) & 7) == 0);
  SLUICE_ASSERT_MSG(in_flight_ < shared_.cfg.max_in_flight_ops_per_shard, "max_in_flight_ops_per_shard exceeded");
  io_uring_sqe_set_data(sqe, op);
  in_flight_++;
}

void Shard::cancel_op(detail::IoOp* op) noexcept {
  io_uring_sqe* sqe = untracked_sqe();
  io_uring_prep_cancel64(sqe, reinterpret_cast<uint64_t>(op), 0);
  io_uring_sqe_set_data64(sqe, detail::kUserDataIgnore);
}

void Shard::schedule(detail::ReadyNode* n) noexcept {
  SLUICE_ASSERT(n->handle);
  n->next = nullptr;
  if (ready_tail_) ready_tail_->next = n;
  else ready_head_ = n;
  ready_tail_ = n;
}

void Shard::add_timer(detail::TimerNode* n, int64_t deadline_ns) {
  n->deadline_ns = deadline_ns;
  timers_.push(n);
}
void Shard::remove_timer(detail::TimerNode* n) noexcept {
  if (n->queued()) timers_.remove(n);
}

void Shard::add_starved(detail::StarvedNode* c) noexcept {
  SLUICE_ASSERT(!c->starved);
  c->starved = true;
  c->starved_next = nullptr;
  c->starved_prev = starved_tail_;
  if (starved_tail_) starved_tail_->starved_next = c;
  else starved_head_ = c;
  starved_tail_ = c;
}

void Shard::remove_starved(detail::StarvedNode* c) noexcept {
  if (!c->starved) return;
  c->starved = false;
  if (c->starved_prev) c->starved_prev->starved_next = c->starved_next;
  else starved_head_ = c->starved_next;
  if (c->starved_next) c->starved_next->starved_prev = c->starved_prev;
  else starved_tail_ = c->starved_prev;
  c->starved_prev = c->starved_next = nullptr;
}

void Shard::rearm_starved() {
  // Each re-armed connection will take at least one buffer when data arrives; re-arming more
  // than there are free buffers only produces another round of ENOBUFS.
  uint32_t budget = std::max<uint32_t>(1, buf_ring_->available());
  while (starved_head_ && budget-- > 0 && buf_ring_->available() > 0) {
    detail::StarvedNode* c = starved_head_;
    remove_starved(c);
    c->rearm(c);
  }
}

// ---------------------------------------------------------------- cross-shard

void Shard::wake(unsigned target) noexcept {
  detail::ShardSlot& slot = shared_.slots[target];
  if (!slot.sleeping.load(std::memory_order_relaxed)) return;
  if (!slot.sleeping.exchange(false, std::memory_order_acq_rel)) return;
  io_uring_sqe* sqe = untracked_sqe();
  io_uring_prep_msg_ring(sqe, slot.ring_fd, 0, detail::kUserDataWake, 0);
  io_uring_sqe_set_data64(sqe, detail::kUserDataIgnore);
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  stats_.wakeups_sent++;
}

void Shard::send_msg(unsigned target, detail::PendingMsg* node) noexcept {
  SLUICE_ASSERT(target < shared_.shard_count && target != id_);
  if (shared_.stop.load(std::memory_order_relaxed)) shared_.drain_activity.fetch_add(1);
  stats_.messages_sent++;
  Outbox& ob = outboxes_[target];
  // Read before the push: once pushed, the receiver may run the message and free the node (a
  // submit_to reply node lives in the caller's frame, which the caller destroys on resumption).
  const bool heap_owned = node->heap_owned;
  if (ob.count == 0 && shared_.ring(id_, target).try_push(node->msg)) {
    if (heap_owned) delete node;
    // Dekker with the receiver's idle(): our tail store vs. its 'sleeping' store.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    wake(target);
    return;
  }
  SLUICE_ASSERT_MSG(ob.count < kMaxOutboxMessages, "cross-shard outbox limit exceeded");
  node->next = nullptr;
  if (ob.tail) ob.tail->next = node;
  else ob.head = node;
  ob.tail = node;
  ob.count++;
  outbox_total_++;
  shared_.ring(id_, target).producer_blocked.store(true, std::memory_order_relaxed);
}

void Shard::send_msg(unsigned target, detail::Msg m) {
  SLUICE_ASSERT(m.fn);
  Outbox& ob = outboxes_[target];
  if (ob.count == 0) {
    detail::PendingMsg local{m, nullptr, false};
    if (shared_.ring(id_, target).has_space_for_producer()) return send_msg(target, &local);
  }
  send_msg(target, new detail::PendingMsg{m, nullptr, true});  // rare: ring full
}

void Shard::flush_outgoing() {
  if (outbox_total_ == 0) return;
  for (unsigned t = 0; t < shared_.shard_count; ++t) {
    Outbox& ob = outboxes_[t];
    if (ob.count == 0) continue;
    detail::SpscRing& r = shared_.ring(id_, t);
    bool pushed = false;
    while (ob.head) {
      detail::PendingMsg* n = ob.head;
      // Everything read from the node is read before the push (see send_msg).
      detail::PendingMsg* next = n->next;
      const bool heap_owned = n->heap_owned;
      if (!r.try_push(n->msg)) break;
      ob.head = next;
      if (!ob.head) ob.tail = nullptr;
      ob.count--;
      outbox_total_--;
      pushed = true;
      if (heap_owned) delete n;
    }
    if (ob.count > 0) r.producer_blocked.store(true, std::memory_order_relaxed);
    if (pushed) {
      std::atomic_thread_fence(std::memory_order_seq_cst);
      wake(t);
    }
  }
}

bool Shard::outgoing_ready() noexcept {
  if (outbox_total_ == 0) return false;
  for (unsigned t = 0; t < shared_.shard_count; ++t)
    if (outboxes_[t].count > 0 && shared_.ring(id_, t).has_space_for_producer()) return true;
  return false;
}

bool Shard::process_incoming() {
  bool any = false;
  for (unsigned s = 0; s < shared_.shard_count; ++s) {
    if (s == id_) continue;
    detail::SpscRing& r = shared_.ring(s, id_);
    uint32_t n = r.consume(kMaxMessagesPerSourcePerTick);
    if (n == 0) continue;
    any = true;
    stats_.messages_received += n;
    // Dekker with the producer: our head store vs. its producer_blocked store.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (r.producer_blocked.load(std::memory_order_relaxed) && r.producer_blocked.exchange(false)) wake(s);
  }
  return any;
}

bool Shard::has_incoming() const noexcept {
  for (unsigned s = 0; s < shared_.shard_count; ++s)
    if (s != id_ && !shared_.ring(s, id_).empty_for_consumer()) return true;
  return false;
}

// ---------------------------------------------------------------- the loop

void Shard::link_sleeper(detail::SleepNode* n) noexcept {
  n->prev = nullptr;
  n->next = sleepers_;
  if (sleepers_) sleepers_->prev = n;
  sleepers_ = n;
}

void Shard::unlink_sleeper(detail::SleepNode* n) noexcept {
  if (n->prev) n->prev->next = n->next;
  else sleepers_ = n->next;
  if (n->next) n->next->prev = n->prev;
  n->prev = n->next = nullptr;
}

void Shard::check_stop() {
  if (stopping_ || !shared_.stop.load(std::memory_order_acquire)) return;
  stopping_ = true;
  while (detail::ReadyNode* n = stop_waiters_) {
    stop_waiters_ = n->next;
    schedule(n);
  }
  // Sleeps and Event waits end now (false) so shard_main and its tasks can observe the stop;
  // Timer callbacks stay armed until the drain drops them.
  for (detail::SleepNode* n = sleepers_; n; n = n->next) cancel_op(n);
  std::vector<detail::TimerNode*> ending;
  for (std::size_t i = 0; i < timers_.size(); ++i)
    if (timers_.at(i)->ends_at_stop) ending.push_back(timers_.at(i));
  for (detail::TimerNode* n : ending) {
    timers_.remove(n);
    n->fire(n, true);
  }
}

void Shard::begin_drain() {
  SLUICE_ASSERT(stopping_ && !draining_);
  draining_ = true;
  drain_start_ns_ = now_ns_;
  // Timers are dropped; Event waiters wake with false (their fire() handles shutdown=true).
  while (detail::TimerNode* n = timers_.top()) {
    timers_.remove(n);
    n->fire(n, true);
  }
  while (detail::StarvedNode* c = starved_head_) {
    remove_starved(c);
    c->drain(c);
  }
  // Every op still in the kernel completes now with -ECANCELED; ops issued from here on never
  // reach the kernel (sqe_for_op returns nullptr).
  io_uring_sqe* sqe = untracked_sqe();
  io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
  io_uring_sqe_set_data64(sqe, detail::kUserDataIgnore);
}

void Shard::run_timers() {
  for (unsigned i = 0; i < kMaxTimersPerTick; ++i) {
    detail::TimerNode* n = timers_.top();
    if (!n || n->deadline_ns > now_ns_) return;
    timers_.remove(n);
    n->fire(n, false);
  }
}

unsigned Shard::run_ready() {
  unsigned n = 0;
  while (ready_head_ && n < kMaxResumesPerTick) {
    detail::ReadyNode* node = ready_head_;
    ready_head_ = node->next;
    if (!ready_head_) ready_tail_ = nullptr;
    n++;
    // The frame's first word (its resume function) is read now, while the frame surely lives:
    // the coroutine may finish and free it before the stall signal arrives.
    running_task_resume_fn_ = *static_cast<void* const*>(node->handle.address());
    node->handle.resume();
  }
  running_task_resume_fn_ = nullptr;
  return n;
}

void Shard::dispatch(uint64_t user_data, int32_t res, uint32_t flags) {
  stats_.cqes++;
  if (user_data <= detail::kUserDataMaxTag) return;
  auto* op = reinterpret_cast<detail::IoOp*>(user_data);
  if (!(flags & IORING_CQE_F_MORE)) {
    SLUICE_ASSERT(in_flight_ > 0);
    in_flight_--;
  }
  op->on_cqe(op, res, flags);
}

unsigned Shard::reap() {
  unsigned n = 0;
  io_uring_cqe* cqe = nullptr;
  while (n < kMaxCqesPerTick && io_uring_peek_cqe(&ring_, &cqe) == 0) {
    // Copy and release the slot first: the handler may resume code that submits or reaps.
    uint64_t ud = cqe->user_data;
    int32_t res = cqe->res;
    uint32_t flags = cqe->flags;
    io_uring_cqe_seen(&ring_, cqe);
    n++;
    dispatch(ud, res, flags);
  }
  return n;
}

bool Shard::spin(int64_t budget_ns) {
  io_uring_submit_and_get_events(&ring_);
  int64_t deadline = monotonic_ns() + budget_ns;
  for (;;) {
    if (io_uring_cq_ready(&ring_) > 0 || has_incoming() || outgoing_ready()) return true;
    if (shared_.stop.load(std::memory_order_relaxed) != stopping_) return true;
    int64_t now = monotonic_ns();
    if (now >= deadline) return false;
    // Spinning is waiting, not a stall: the watchdog sees it move.
    shared_.slots[id_].progress.fetch_add(1, std::memory_order_relaxed);
    if (detail::TimerNode* t = timers_.top(); t && t->deadline_ns <= now) return true;
    // DEFER_TASKRUN: completions are only posted when we enter the kernel asking for events.
    io_uring_get_events(&ring_);
  }
}

void Shard::idle() {
  if (shared_.cfg.poll_us > 0 && !draining_ && spin(int64_t{shared_.cfg.poll_us} * 1000)) return;
  detail::ShardSlot& slot = shared_.slots[id_];
  slot.sleeping.store(true, std::memory_order_relaxed);
  // Dekker with senders: our 'sleeping' store vs. their tail store. After this fence either we
  // see their message below, or they see 'sleeping' and send a MSG_RING wakeup.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (has_incoming() || outgoing_ready() || shared_.stop.load(std::memory_order_relaxed) != stopping_) {
    slot.sleeping.store(false, std::memory_order_relaxed);
    io_uring_submit_and_get_events(&ring_);
    return;
  }
  int64_t timeout_ns = -1;
  if (detail::TimerNode* t = timers_.top()) timeout_ns = std::max<int64_t>(0, t->deadline_ns - monotonic_ns());
  if (draining_) timeout_ns = timeout_ns < 0 ? kDrainPollNs : std::min(timeout_ns, kDrainPollNs);
  stats_.sleeps++;
  if (timeout_ns >= 0) {
    __kernel_timespec ts{timeout_ns / 1'000'000'000, timeout_ns % 1'000'000'000};
    io_uring_cqe* cqe = nullptr;
    io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  } else {
    io_uring_submit_and_wait(&ring_, 1);
  }
  slot.sleeping.store(false, std::memory_order_relaxed);
}

bool Shard::quiescent() const noexcept {
  return main_done_ && in_flight_ == 0 && !ready_head_ && outbox_total_ == 0 && awaiting_replies_ == 0 &&
         !has_incoming();
}

bool Shard::try_finish() {
  uint64_t before = shared_.drain_activity.load();
  bool q = quiescent();
  shared_.slots[id_].done.store(q);
  if (!q) {
    if (now_ns_ - drain_start_ns_ > int64_t{shared_.cfg.drain_timeout_ms} * 1'000'000) {
      logging::error("shard {}: drain timed out (in_flight={} ready={} outbox={} replies={})", id_, in_flight_,
                     ready_head_ != nullptr, outbox_total_, awaiting_replies_);
      drain_failed_ = true;
      return true;
    }
    return false;
  }
  for (unsigned s = 0; s < shared_.shard_count; ++s)
    if (!shared_.slots[s].done.load()) return false;
  return shared_.drain_activity.load() == before;
}

void Shard::run_loop() {
  SLUICE_ASSERT(t_shard == this);
  update_now();
  stats_.started_ns = now_ns_;
  const int64_t stall_threshold_ns = int64_t{shared_.cfg.stall_threshold_us} * 1000;
  detail::ShardSlot& slot = shared_.slots[id_];
  for (;;) {
    stats_.loop_iterations++;
    slot.progress.store(stats_.loop_iterations, std::memory_order_relaxed);
    check_stop();
    if (stopping_ && main_done_ && !draining_) begin_drain();
    run_timers();
    process_incoming();
    flush_outgoing();
    stats_.tasks_resumed += run_ready();
    if (starved_head_ && buf_ring_->available() > 0 && !draining_) rearm_starved();
    if (draining_ && try_finish()) break;
    detail::TimerNode* t = timers_.top();
    bool busy = ready_head_ || io_uring_cq_ready(&ring_) > 0 || has_incoming() ||
                (stopping_ && main_done_ && !draining_) || (t && t->deadline_ns <= monotonic_ns());
    // now_ns_ is when this pass started (after the previous wait): one clock read measures it.
    const int64_t worked_ns = monotonic_ns() - now_ns_;
    stats_.busy_ns += worked_ns;
    if (worked_ns > stall_threshold_ns) note_stall(worked_ns);
    if (busy) io_uring_submit_and_get_events(&ring_);
    else idle();
    update_now();
    reap();
  }
}

void Shard::capture_stall() noexcept {
  if (stall_caught_) return;
  stall_depth_ = ::backtrace(stall_pcs_, kMaxStallFrames);
  stall_task_resume_fn_ = running_task_resume_fn_;
  stall_caught_ = 1;
}

void Shard::note_stall(int64_t worked_ns) {
  stats_.stalls++;
  const bool caught = stall_caught_ != 0;
  stall_caught_ = 0;
  if (caught) stats_.stalls_caught++;
  // One report per interval: a shard that stalls often must not also flood the log.
  constexpr int64_t kStallLogIntervalNs = 10'000'000'000;
  if (last_stall_log_ns_ != 0 && now_ns_ - last_stall_log_ns_ < kStallLogIntervalNs) return;
  last_stall_log_ns_ = now_ns_;
  char head[256];
  std::snprintf(head, sizeof head,
                "sluice io: shard %u: reactor stall: one loop pass took %.1f ms (threshold %u us; %llu so far)", id_,
                static_cast<double>(worked_ns) / 1e6, shared_.cfg.stall_threshold_us,
                static_cast<unsigned long long>(stats_.stalls));
  last_stall_report_ = head;
  if (caught) last_stall_report_ += describe_stall_in_the_act(stall_task_resume_fn_, stall_pcs_, stall_depth_);
  logging::warn("{}", last_stall_report_);
}

void Shard::final_sweep() {
  // Every shard left its loop with nothing in flight; anything still queued is a bug upstream.
  if (has_incoming()) logging::error("shard {}: cross-shard messages left after shutdown", id_);
  while (starved_head_) remove_starved(starved_head_);
}

// ---------------------------------------------------------------- wait_stop, sleep_for

Task<void> Shard::wait_stop() {
  struct Awaiter {
    Shard* s;
    detail::ReadyNode node;
    bool await_ready() const noexcept { return s->stopping_; }
    void await_suspend(std::coroutine_handle<> h) noexcept {
      node.handle = h;
      node.next = s->stop_waiters_;
      s->stop_waiters_ = &node;
    }
    void await_resume() const noexcept {}
  };
  co_await Awaiter{this, {}};
}

namespace {
struct SleepAwaiter : detail::SleepNode {
  __kernel_timespec ts;
  int32_t res = 0;
  std::coroutine_handle<> handle;
  Shard* shard = nullptr;
  bool ended_at_once = false;  // stopping or no SQE: never reached the kernel

  explicit SleepAwaiter(int64_t ns) : ts{ns / 1'000'000'000, ns % 1'000'000'000} { on_cqe = &complete; }
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    shard = &Shard::current();
    io_uring_sqe* sqe = shard->stop_requested() ? nullptr : shard->sqe_for_op();
    if (!sqe) {
      res = -ECANCELED;
      ended_at_once = true;
      return false;
    }
    io_uring_prep_timeout(sqe, &ts, 0, 0);
    shard->track(sqe, this);
    shard->link_sleeper(this);
    handle = h;
    return true;
  }
  int32_t await_resume() const noexcept { return res; }
  static void complete(detail::IoOp* op, int32_t r, uint32_t) {
    auto* self = static_cast<SleepAwaiter*>(op);
    self->res = r;
    self->shard->unlink_sleeper(self);
    self->handle.resume();
  }
};
}  // namespace

Task<bool> sleep_for(std::chrono::nanoseconds d) {
  SleepAwaiter op(std::max<int64_t>(0, d.count()));
  int res = co_await op;
  // Like Event::wait: suspend at least until the next loop pass, so a caller that loops on a
  // flag cannot spin without letting the coroutine that sets it run.
  if (op.ended_at_once) co_await YieldToLoop{};
  co_return res == -ETIME || res == 0;
}

// ---------------------------------------------------------------- Timer

Timer::Timer() {
  node_.fire = &Timer::fire;
  node_.owner = this;
}

Timer::~Timer() { cancel(); }

void Timer::arm(std::chrono::nanoseconds d, std::function<void()> cb) {
  Shard& s = Shard::current();
  SLUICE_ASSERT(!shard_ || shard_ == &s);
  SLUICE_ASSERT(cb);
  cancel();
  shard_ = &s;
  if (s.draining()) return;  // shutting down: the callback would be dropped anyway
  cb_ = std::move(cb);
  s.add_timer(&node_, s.now_ns() + std::max<int64_t>(0, d.count()));
}

void Timer::cancel() {
  if (!node_.queued()) return;
  SLUICE_ASSERT(shard_ == &Shard::current());
  shard_->remove_timer(&node_);
  cb_ = nullptr;
}

void Timer::fire(detail::TimerNode* n, bool shutdown) {
  Timer* t = static_cast<Node*>(n)->owner;
  std::function<void()> cb = std::move(t->cb_);
  t->cb_ = nullptr;
  if (!shutdown && cb) cb();  // cb may re-arm t
}

// ---------------------------------------------------------------- Event

struct Event::Waiter : detail::TimerNode {
  Event* ev;
  Shard* shard;
  Waiter* prev = nullptr;
  Waiter* next = nullptr;
  detail::ReadyNode ready;
  bool result = false;

  Waiter(Event* e, Shard* s, int64_t deadline) : ev(e), shard(s) {
    deadline_ns = deadline;
    ends_at_stop = true;
    fire = &Waiter::on_timer;
  }
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    ready.handle = h;
    prev = ev->tail_;
    if (ev->tail_) ev->tail_->next = this;
    else ev->head_ = this;
    ev->tail_ = this;
    ev->waiter_count_++;
    shard->add_timer(this, deadline_ns);
  }
  bool await_resume() const noexcept { return result; }
  static void on_timer(detail::TimerNode* n, bool /*shutdown*/) {
    auto* w = static_cast<Waiter*>(n);
    w->ev->unlink(w);
    w->result = false;
    w->shard->schedule(&w->ready);
  }
};

Event::~Event() { SLUICE_ASSERT_MSG(head_ == nullptr, "Event destroyed with waiters"); }

void Event::unlink(Waiter* w) noexcept {
  SLUICE_ASSERT(waiter_count_ > 0);
  if (w->prev) w->prev->next = w->next;
  else head_ = w->next;
  if (w->next) w->next->prev = w->prev;
  else tail_ = w->prev;
  w->prev = w->next = nullptr;
  waiter_count_--;
}

void Event::set() {
  set_ = true;
  while (Waiter* w = head_) {
    unlink(w);
    w->shard->remove_timer(w);
    w->result = true;
    w->shard->schedule(&w->ready);
  }
}

void YieldToLoop::await_suspend(std::coroutine_handle<> h) noexcept {
  handle = h;
  Shard::current().schedule(this);
}

Task<bool> Event::wait(std::chrono::nanoseconds timeout) {
  if (set_) co_return true;
  Shard& s = Shard::current();
  if (s.stop_requested()) {
    co_await YieldToLoop{};
    co_return set_;
  }
  if (timeout.count() <= 0) co_return false;
  Waiter w(this, &s, s.now_ns() + timeout.count());
  co_return co_await w;
}

}  // namespace sluice::io
