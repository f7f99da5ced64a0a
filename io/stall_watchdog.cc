#include "io/stall_watchdog.h"

#include <execinfo.h>
#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <csignal>
#include <cstdio>

#include "alloc/assert.h"
#include "io/runtime_shared.h"
#include "io/symbolize.h"

namespace sluice::io {
namespace {

int stall_signal() { return SIGRTMIN + 3; }

void on_stall_signal(int /*signo*/) {
  const int saved_errno = errno;
  if (Shard::on_shard()) Shard::current().capture_stall();
  errno = saved_errno;
}

void install_handler_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    // backtrace() loads libgcc's unwinder on its first call: do it here, never in the handler.
    void* warm[4];
    (void)::backtrace(warm, 4);
    struct sigaction sa = {};
    sa.sa_handler = &on_stall_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;  // a shard stalled in a blocking syscall resumes it afterwards
    SLUICE_ASSERT(::sigaction(stall_signal(), &sa, nullptr) == 0);
  });
}

int64_t monotonic_now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

bool is_coroutine_body(const std::string& frame) {
  return frame.find("[clone .actor]") != std::string::npos || frame.find(".resume") != std::string::npos;
}

// GCC names a coroutine body "f(f(args)::Frame*) [clone .actor]": "f" and its location read
// better. Other names are kept whole.
std::string short_task_name(const std::string& frame) {
  for (std::size_t i = frame.find('('); i != std::string::npos; i = frame.find('(', i + 1)) {
    const std::string name = frame.substr(0, i);
    if (frame.compare(i + 1, name.size() + 1, name + "(") != 0) continue;
    const std::size_t at = frame.find(" at ");
    return name + " (coroutine)" + (at == std::string::npos ? "" : frame.substr(at));
  }
  return frame;
}

}  // namespace

StallWatchdog::StallWatchdog(detail::RuntimeShared& shared) : shared_(shared) {
  SLUICE_ASSERT(shared_.cfg.stall_threshold_us > 0);
  install_handler_once();
  thread_ = std::thread([this] { run(); });
}

StallWatchdog::~StallWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void StallWatchdog::run() {
  const unsigned n = shared_.shard_count;
  std::vector<uint64_t> last_progress(n, 0), signalled_at(n, UINT64_MAX);
  std::vector<int64_t> still_since_ns(n, monotonic_now_ns());
  const auto period = std::chrono::microseconds(std::max<uint32_t>(shared_.cfg.stall_threshold_us / 2, 500));
  std::unique_lock<std::mutex> lock(mutex_);
  while (!wake_.wait_for(lock, period, [this] { return stop_; }))
    check_shards(last_progress, still_since_ns, signalled_at);
}

void StallWatchdog::check_shards(std::vector<uint64_t>& last_progress, std::vector<int64_t>& still_since_ns,
                                 std::vector<uint64_t>& signalled_at) {
  const int64_t now = monotonic_now_ns();
  const int64_t threshold_ns = int64_t{shared_.cfg.stall_threshold_us} * 1000;
  for (unsigned i = 0; i < shared_.shard_count; ++i) {
    detail::ShardSlot& slot = shared_.slots[i];
    const uint64_t progress = slot.progress.load(std::memory_order_relaxed);
    const bool running =
        slot.watchable.load(std::memory_order_acquire) && !slot.sleeping.load(std::memory_order_relaxed);
    if (!running || progress != last_progress[i]) {
      last_progress[i] = progress;
      still_since_ns[i] = now;
      continue;
    }
    // One signal per stalled pass: the handler records the first moment it was caught.
    if (now - still_since_ns[i] >= threshold_ns && signalled_at[i] != progress) {
      signalled_at[i] = progress;
      (void)::pthread_kill(slot.thread, stall_signal());
    }
  }
}

std::string describe_stall_in_the_act(const void* task_resume_fn, void* const* pcs, int depth) {
  std::vector<std::string> frames;
  frames.reserve(static_cast<std::size_t>(std::max(depth, 0)));
  for (int i = 0; i < depth; ++i) frames.push_back(describe_code_address(pcs[i]));
  // Frames up to the signal trampoline are the handler's own.
  std::size_t first = 0;
  for (std::size_t i = 0; i < frames.size(); ++i)
    if (frames[i].find("__restore_rt") != std::string::npos) first = i + 1;
  std::string task = "(none: I/O completion, timer or cross-shard message)";
  if (task_resume_fn) task = describe_code_address(task_resume_fn);
  for (std::size_t i = first; i < frames.size(); ++i)
    if (is_coroutine_body(frames[i])) {
      task = frames[i];
      break;
    }
  std::string out = "\n  task: " + short_task_name(task) + "\n  backtrace:";
  for (std::size_t i = first; i < frames.size(); ++i) out += "\n    #" + std::to_string(i - first) + " " + frames[i];
  return out;
}

}  // namespace sluice::io
