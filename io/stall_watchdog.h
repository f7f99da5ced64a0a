#pragma once
// Reactor stall watchdog: catches a shard in the act of keeping its core too long, so the log
// says which task and where, not only that a loop pass was slow (Seastar's cpu stall detector).
//
// One thread for the runtime wakes every half threshold and reads each shard's progress counter
// (bumped by every loop pass); a shard that is not sleeping and has not moved for the threshold
// gets a signal. The handler runs on the shard's thread inside the stalling code and records its
// backtrace and the coroutine run_ready() resumed (Shard::capture_stall); when the pass ends,
// Shard::note_stall symbolizes and logs it (once per 10 s). The hot path pays one relaxed
// store per loop pass and one per resumed task; nothing when no stall happens.
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sluice::io {
namespace detail {
struct RuntimeShared;
}

class StallWatchdog {
 public:
  explicit StallWatchdog(detail::RuntimeShared& shared);
  ~StallWatchdog();  // stops the thread
  StallWatchdog(const StallWatchdog&) = delete;
  StallWatchdog& operator=(const StallWatchdog&) = delete;

 private:
  void run();
  void check_shards(std::vector<uint64_t>& last_progress, std::vector<int64_t>& still_since_ns,
                    std::vector<uint64_t>& signalled_at);

  detail::RuntimeShared& shared_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

// The report's body for a stall caught in the act: the task (the innermost coroutine body on
// the stack, or the one resumed from the ready queue) and the symbolized backtrace, one frame a
// line, starting at the interrupted code. Called off the signal handler.
std::string describe_stall_in_the_act(const void* task_resume_fn, void* const* pcs, int depth);

}  // namespace sluice::io
