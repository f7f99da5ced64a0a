#include "io/runtime.h"

#include <hwloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <latch>
#include <thread>

#include "alloc/iobuf.h"
#include "io/cross_shard.h"
#include "io/logging.h"
#include "io/runtime_shared.h"
#include "io/stall_watchdog.h"

namespace sluice::io {
namespace {

std::atomic<Runtime::RingSetupFn> g_setup_hook{nullptr};

int init_ring(unsigned entries, io_uring* ring, io_uring_params* p) {
  if (auto hook = g_setup_hook.load()) return hook(entries, ring, p);
  return io_uring_queue_init_params(entries, ring, p);
}

int read_io_uring_disabled_sysctl() {
  std::ifstream f("/proc/sys/kernel/io_uring_disabled");
  int v = -1;
  if (f) f >> v;
  return v;
}

// io_uring_setup failed with errno `err`: say why and what to change. Static strings only.
Error explain_setup_failure(int err) {
  if (err == EPERM || err == EACCES) {
    int disabled = read_io_uring_disabled_sysctl();
    if (disabled == 2)
      return make_error(err, "io_uring is disabled by sysctl kernel.io_uring_disabled=2; run "
                             "`sysctl -w kernel.io_uring_disabled=0` as root to enable it");
    if (disabled == 1)
      return make_error(err, "io_uring is restricted by sysctl kernel.io_uring_disabled=1 to members of "
                             "kernel.io_uring_group; add this user to that group or set kernel.io_uring_disabled=0");
    return make_error(err, "io_uring_setup was denied (EPERM): a seccomp filter (e.g. Docker's or "
                           "Kubernetes' default profile) or an LSM blocks io_uring; allow the io_uring_setup, "
                           "io_uring_enter and io_uring_register syscalls (e.g. docker run --security-opt "
                           "seccomp=unconfined)");
  }
  if (err == ENOSYS)
    return make_error(err, "io_uring_setup is not implemented (ENOSYS): the kernel is older than 5.1 or built "
                           "without CONFIG_IO_URING, or a seccomp filter returns ENOSYS; Sluice needs Linux >= 6.1 "
                           "with io_uring enabled");
  if (err == ENOMEM)
    return make_error(err, "io_uring_setup failed with ENOMEM: raise RLIMIT_MEMLOCK (ulimit -l) or lower "
                           "ring_entries");
  if (err == EMFILE || err == ENFILE)
    return make_error(err, "io_uring_setup failed: out of file descriptors (raise ulimit -n)");
  return make_error(err, "io_uring_setup failed");
}

Result<unsigned> probe_ring(bool* send_zc) {
  io_uring ring;
  unsigned used = 0;
  int rc = detail::setup_ring(8, &ring, ~0u, &used);
  if (rc < 0) return explain_setup_failure(-rc);
  io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  bool ok = probe && io_uring_opcode_supported(probe, IORING_OP_MSG_RING) &&
            io_uring_opcode_supported(probe, IORING_OP_ASYNC_CANCEL) &&
            io_uring_opcode_supported(probe, IORING_OP_RECV) && io_uring_opcode_supported(probe, IORING_OP_ACCEPT);
  if (send_zc) *send_zc = probe && io_uring_opcode_supported(probe, IORING_OP_SEND_ZC);
  if (probe) io_uring_free_probe(probe);
  io_uring_queue_exit(&ring);
  if (!ok)
    return make_error(ENOTSUP, "the kernel's io_uring lacks operations Sluice needs (MSG_RING, ASYNC_CANCEL, "
                               "multishot ACCEPT/RECV): Sluice needs Linux >= 6.1");
  return used;
}

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

void release_on_owner(void* p) { static_cast<alloc::Buffer*>(p)->unref_local(); }

// alloc::Buffer's hook: a reference dropped on a foreign shard travels home as a message.
void foreign_release(alloc::Buffer* b) {
  if (!Shard::on_shard()) {  // runtime not running (teardown, tools): no concurrent owner
    b->unref_local();
    return;
  }
  Shard& s = Shard::current();
  SLUICE_ASSERT(b->owner_shard() < s.count());
  s.send_msg(b->owner_shard(), detail::Msg{&release_on_owner, b});
}

Task<void> run_shard_main(Task<void> t, Shard* s) {
  co_await std::move(t);
  s->mark_main_done();
}

}  // namespace

namespace detail {
int setup_ring(unsigned entries, io_uring* ring, unsigned preferred_flags, unsigned* used_flags) {
  // Best first; each step drops a flag older kernels reject with EINVAL.
  static const unsigned kTries[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
      IORING_SETUP_COOP_TASKRUN,
      0,
  };
  int rc = -EINVAL;
  for (unsigned flags : kTries) {
    if (preferred_flags != ~0u && flags != preferred_flags) continue;
    io_uring_params p{};
    p.flags = flags | IORING_SETUP_CQSIZE;
    p.cq_entries = entries * 4;  // multishot recv/accept post many CQEs per SQE
    rc = init_ring(entries, ring, &p);
    if (rc == 0) {
      *used_flags = flags;
      return 0;
    }
    if (rc != -EINVAL) return rc;
  }
  return rc;
}
}  // namespace detail

struct Runtime::Impl {
  detail::RuntimeShared shared;
  std::vector<int> cores;
  bool pinned = false;
  bool ran = false;
  hwloc_topology_t topo = nullptr;
};

Runtime::Runtime() : impl_(std::make_unique<Impl>()) {}

Runtime::~Runtime() {
  for (unsigned i = 0; i < impl_->shared.shard_count; ++i) {
    int fd = impl_->shared.slots[i].event_fd;
    if (fd >= 0) ::close(fd);
  }
  if (impl_->topo) hwloc_topology_destroy(impl_->topo);
}

void Runtime::set_ring_setup_hook_for_testing(RingSetupFn fn) noexcept { g_setup_hook.store(fn); }

Result<void> Runtime::probe() {
  auto r = probe_ring(nullptr);
  if (!r) return r.error();
  return ok_result();
}

Result<std::unique_ptr<Runtime>> Runtime::create(const RuntimeConfig& cfg) {
  SLUICE_ASSERT(cfg.ring_entries >= 8 && cfg.ring_entries <= 32768);
  SLUICE_ASSERT((cfg.cross_shard_ring_entries & (cfg.cross_shard_ring_entries - 1)) == 0);
  bool send_zc = false;
  auto flags = probe_ring(&send_zc);
  if (!flags) return flags.error();
  std::unique_ptr<Runtime> rt(new Runtime());
  Impl& im = *rt->impl_;
  std::vector<int> cpus = allowed_cpus();
  unsigned n = cfg.smp ? cfg.smp : static_cast<unsigned>(std::max<std::size_t>(1, cpus.size()));
  SLUICE_ASSERT_MSG(n >= 1 && n <= 1024, "smp out of range");
  detail::RuntimeShared& sh = im.shared;
  sh.cfg = cfg;
  sh.shard_count = n;
  sh.setup_flags = flags.value();
  sh.send_zc = send_zc;
  sh.runtime = rt.get();
  sh.slots = std::make_unique<detail::ShardSlot[]>(n);
  sh.rings.resize(std::size_t{n} * n);
  for (unsigned from = 0; from < n; ++from)
    for (unsigned to = 0; to < n; ++to)
      if (from != to) sh.rings[from * n + to] = std::make_unique<detail::SpscRing>(cfg.cross_shard_ring_entries);
  for (unsigned i = 0; i < n; ++i) {
    sh.slots[i].event_fd = ::eventfd(0, EFD_CLOEXEC);  // blocking: io_uring polls it
    if (sh.slots[i].event_fd < 0) return make_error(errno, "eventfd failed");
  }
  // Cores: hwloc PUs in topology order, restricted to the ones sched_getaffinity allows.
  std::vector<int> pus;
  if (hwloc_topology_init(&im.topo) == 0 && hwloc_topology_load(im.topo) == 0) {
    int npu = hwloc_get_nbobjs_by_type(im.topo, HWLOC_OBJ_PU);
    for (int i = 0; i < npu; ++i) {
      hwloc_obj_t pu = hwloc_get_obj_by_type(im.topo, HWLOC_OBJ_PU, static_cast<unsigned>(i));
      if (std::find(cpus.begin(), cpus.end(), static_cast<int>(pu->os_index)) != cpus.end())
        pus.push_back(static_cast<int>(pu->os_index));
    }
  } else {
    pus = cpus;
  }
  im.cores.assign(n, -1);
  if (cfg.pin_threads && n <= pus.size()) {
    for (unsigned i = 0; i < n; ++i) im.cores[i] = pus[i];
    im.pinned = true;
  } else if (cfg.pin_threads) {
    logging::warn("{} shards but only {} allowed cores: threads are not pinned", n, pus.size());
  }
  return rt;
}

unsigned Runtime::shard_count() const noexcept { return impl_->shared.shard_count; }
std::vector<int> Runtime::shard_cores() const { return impl_->cores; }
bool Runtime::pinned() const noexcept { return impl_->pinned; }
const RuntimeConfig& Runtime::config() const noexcept { return impl_->shared.cfg; }
unsigned Runtime::ring_setup_flags() const noexcept { return impl_->shared.setup_flags; }
bool Runtime::stop_requested() const noexcept { return impl_->shared.stop.load(); }

void Runtime::stop() noexcept {
  detail::RuntimeShared& sh = impl_->shared;
  sh.stop.store(true, std::memory_order_seq_cst);
  for (unsigned i = 0; i < sh.shard_count; ++i) {
    uint64_t one = 1;
    ssize_t w = ::write(sh.slots[i].event_fd, &one, sizeof one);
    (void)w;  // EAGAIN (counter saturated) still leaves the shard readable
  }
}

int Runtime::run(std::function<Task<void>(unsigned)> shard_main) {
  Impl& im = *impl_;
  SLUICE_ASSERT_MSG(!im.ran, "Runtime::run may be called once");
  SLUICE_ASSERT(shard_main);
  im.ran = true;
  detail::RuntimeShared& sh = im.shared;
  unsigned n = sh.shard_count;

  // Signals: blocked here (and so in every shard thread, which inherits the mask) and read as
  // data from a signalfd through shard 0's ring.
  sigset_t sigs, old_mask;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  int signal_fd = -1;
  if (sh.cfg.handle_signals) {
    pthread_sigmask(SIG_BLOCK, &sigs, &old_mask);
    signal_fd = ::signalfd(-1, &sigs, SFD_CLOEXEC);
  }
  alloc::set_foreign_release_hook(&foreign_release);

  cpu_set_t caller_affinity;
  ::sched_getaffinity(0, sizeof caller_affinity, &caller_affinity);

  std::latch started(n);
  std::latch stopped(n);
  std::vector<char> init_ok(n, 0);
  std::vector<int> exit_codes(n, 0);
  auto shard_thread = [&](unsigned i) {
    if (im.pinned) {
      hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(im.topo, static_cast<unsigned>(im.cores[i]));
      if (!pu || hwloc_set_cpubind(im.topo, pu->cpuset, HWLOC_CPUBIND_THREAD) != 0)
        logging::error("shard {}: pinning to core {} failed", i, im.cores[i]);
    }
    Shard shard(sh, i);
    auto r = shard.init();
    if (!r) logging::error("shard {}: {}", i, r.error().describe());
    init_ok[i] = static_cast<char>(r.ok());
    started.arrive_and_wait();  // every ring fd is published before any message can flow
    for (unsigned k = 0; k < n; ++k)
      if (!init_ok[k]) {
        exit_codes[i] = 1;
        stopped.arrive_and_wait();
        return;
      }
    if (i == 0 && signal_fd >= 0) shard.install_signal_reader(signal_fd);
    spawn(run_shard_main(shard_main(i), &shard));
    sh.slots[i].thread = ::pthread_self();
    sh.slots[i].watchable.store(true, std::memory_order_release);
    shard.run_loop();
    sh.slots[i].watchable.store(false, std::memory_order_release);
    exit_codes[i] = shard.drain_failed() ? 1 : 0;
    stopped.arrive_and_wait();  // nobody sends after this point
    shard.final_sweep();
  };
  std::unique_ptr<StallWatchdog> watchdog;
  if (sh.cfg.stall_backtraces && sh.cfg.stall_threshold_us > 0) watchdog = std::make_unique<StallWatchdog>(sh);
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (unsigned i = 1; i < n; ++i) threads.emplace_back(shard_thread, i);
  shard_thread(0);
  watchdog.reset();  // before the joins: it may only signal threads that have not been joined
  for (auto& t : threads) t.join();

  alloc::set_foreign_release_hook(nullptr);
  ::sched_setaffinity(0, sizeof caller_affinity, &caller_affinity);
  if (sh.cfg.handle_signals) {
    if (signal_fd >= 0) ::close(signal_fd);
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  }
  for (int c : exit_codes)
    if (c != 0) return c;
  return 0;
}

}  // namespace sluice::io
