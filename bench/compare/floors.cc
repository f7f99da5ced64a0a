// Floors measured in the same run as the comparisons: loopback TCP round trip of 64 bytes
// (blocking recv on both ends, and busy-polling recv with MSG_DONTWAIT on both ends), 4 KiB
// O_DIRECT pwrite + fdatasync latency, and raw O_DIRECT sequential write bandwidth in 1 MiB
// writes (one fdatasync per write, and one at the end). One JSON line. The 4 KiB sync is measured
// both as an overwrite of written blocks (the log's case: segments are pre-zeroed) and into
// fallocated, never-written blocks (adds a journal commit).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench/e2e/histogram.h"

namespace {
int64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

bool xfer(int fd, char* buf, std::size_t n, bool spin, bool send) {
  std::size_t done = 0;
  while (done < n) {
    ssize_t r = send ? ::send(fd, buf + done, n - done, MSG_NOSIGNAL)
                     : ::recv(fd, buf + done, n - done, spin ? MSG_DONTWAIT : 0);
    if (r > 0) done += static_cast<std::size_t>(r);
    else if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    else return false;
  }
  return true;
}

sluice::bench::LogLinearHistogram rtt(bool spin, int iters) {
  sluice::bench::LogLinearHistogram h;
  int ls = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t al = sizeof a;
  ::getsockname(ls, reinterpret_cast<sockaddr*>(&a), &al);
  ::listen(ls, 1);
  std::thread server([&] {
    int c = ::accept(ls, nullptr, nullptr);
    int one = 1;
    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char buf[64];
    for (int i = 0; i < iters + 100; ++i)
      if (!xfer(c, buf, 64, spin, false) || !xfer(c, buf, 64, spin, true)) break;
    ::close(c);
  });
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char buf[64] = {};
  for (int i = 0; i < iters + 100; ++i) {
    int64_t t0 = mono_ns();
    if (!xfer(fd, buf, 64, spin, true) || !xfer(fd, buf, 64, spin, false)) break;
    if (i >= 100) h.record_signed(mono_ns() - t0);
  }
  ::close(fd);
  server.join();
  ::close(ls);
  return h;
}
}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/var/tmp";
  int rtt_iters = 20000, sync_iters = 2000, bw_mib = 256;
  CLI::App app{"floors - loopback RTT and fdatasync floors"};
  app.add_option("--dir", dir, "directory on the broker's data file system")->capture_default_str();
  app.add_option("--rtt-iters", rtt_iters)->capture_default_str();
  app.add_option("--sync-iters", sync_iters)->capture_default_str();
  app.add_option("--bw-mib", bw_mib, "MiB written for the bandwidth floor")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto blocking = rtt(false, rtt_iters);
  auto spinning = rtt(true, rtt_iters);

  std::string path = dir + "/sluice-floors-" + std::to_string(::getpid()) + ".bin";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
  bool direct = fd >= 0;
  if (fd < 0) fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    std::perror("open");
    return 1;
  }
  const std::size_t file_bytes = static_cast<std::size_t>(bw_mib) << 20;
  (void)::fallocate(fd, 0, 0, static_cast<off_t>(file_bytes));
  void* mem = nullptr;
  if (posix_memalign(&mem, 4096, 1 << 20) != 0) return 1;
  std::memset(mem, 'x', 1 << 20);
  // fdatasync after a 4 KiB write into fallocated, never-written blocks: the file system must
  // also commit the unwritten->written extent change (a journal commit).
  sluice::bench::LogLinearHistogram sync4k_unwritten;
  const int unwritten_iters = std::min<int>(sync_iters, static_cast<int>(file_bytes / 4096));
  for (int i = 0; i < unwritten_iters; ++i) {
    int64_t t0 = mono_ns();
    if (::pwrite(fd, mem, 4096, static_cast<off_t>(i) * 4096) != 4096 || ::fdatasync(fd) != 0) break;
    sync4k_unwritten.record_signed(mono_ns() - t0);
  }
  // The floor a log with pre-zeroed (already written) segment blocks pays: overwrite in place,
  // fdatasync flushes data only. The region is written and synced first.
  const std::size_t region = std::min<std::size_t>(file_bytes, 4u << 20);
  for (std::size_t off = 0; off < region; off += 1 << 20)
    if (::pwrite(fd, mem, 1 << 20, static_cast<off_t>(off)) != (1 << 20)) break;
  ::fdatasync(fd);
  sluice::bench::LogLinearHistogram sync4k;
  for (int i = 0; i < sync_iters; ++i) {
    off_t pos = static_cast<off_t>((static_cast<std::size_t>(i) * 4096) % region);
    int64_t t0 = mono_ns();
    if (::pwrite(fd, mem, 4096, pos) != 4096 || ::fdatasync(fd) != 0) break;
    sync4k.record_signed(mono_ns() - t0);
  }
  // The same overwrite+fdatasync while every CPU is kept busy by a spinning thread: on some VMs (seen on the
  // Firecracker dev box) an idle vCPU takes a whole timer tick (~4 ms) to see the completion, so
  // the idle floor above is far above what a loaded broker pays (~0.1 ms there).
  sluice::bench::LogLinearHistogram sync4k_busy;
  {
    std::atomic<bool> stop{false};
    std::vector<std::thread> spinners;  // one per CPU: no CPU goes idle during the syncs
    for (unsigned c = 0; c < std::max(1u, std::thread::hardware_concurrency()); ++c)
      spinners.emplace_back([&] {
        while (!stop.load(std::memory_order_relaxed)) {
        }
      });
    for (int i = 0; i < sync_iters; ++i) {
      off_t pos = static_cast<off_t>((static_cast<std::size_t>(i) * 4096) % region);
      int64_t t0 = mono_ns();
      if (::pwrite(fd, mem, 4096, pos) != 4096 || ::fdatasync(fd) != 0) break;
      sync4k_busy.record_signed(mono_ns() - t0);
    }
    stop = true;
    for (auto& t : spinners) t.join();
  }
  // Bandwidth: 1 MiB O_DIRECT writes, fdatasync after each (durable stream), then without.
  int64_t t0 = mono_ns();
  for (int i = 0; i < bw_mib; ++i)
    if (::pwrite(fd, mem, 1 << 20, static_cast<off_t>(i) << 20) != (1 << 20) || ::fdatasync(fd) != 0) break;
  double bw_sync = bw_mib / (static_cast<double>(mono_ns() - t0) / 1e9);
  t0 = mono_ns();
  for (int i = 0; i < bw_mib; ++i)
    if (::pwrite(fd, mem, 1 << 20, static_cast<off_t>(i) << 20) != (1 << 20)) break;
  ::fdatasync(fd);
  double bw_nosync = bw_mib / (static_cast<double>(mono_ns() - t0) / 1e9);
  ::close(fd);
  ::unlink(path.c_str());
  std::free(mem);
  std::printf(
      "{\"tool\":\"floors\",\"rtt_blocking_p50_us\":%.1f,\"rtt_blocking_p99_us\":%.1f,\"rtt_spinning_p50_us\":%.1f,"
      "\"rtt_spinning_p99_us\":%.1f,\"fdatasync_4k_p50_us\":%.1f,\"fdatasync_4k_p99_us\":%.1f,\"fdatasync_4k_max_us\":%"
      ".1f,"
      "\"fdatasync_4k_unwritten_p50_us\":%.1f,\"fdatasync_4k_unwritten_p99_us\":%.1f,"
      "\"fdatasync_4k_busy_cpu_p50_us\":%.1f,\"fdatasync_4k_busy_cpu_p99_us\":%.1f,"
      "\"odirect\":%s,\"odirect_1mib_sync_each_mib_per_s\":%.0f,\"odirect_1mib_mib_per_s\":%.0f}\n",
      blocking.percentile_us(0.5), blocking.percentile_us(0.99), spinning.percentile_us(0.5),
      spinning.percentile_us(0.99), sync4k.percentile_us(0.5), sync4k.percentile_us(0.99),
      static_cast<double>(sync4k.max()) / 1000, sync4k_unwritten.percentile_us(0.5),
      sync4k_unwritten.percentile_us(0.99), sync4k_busy.percentile_us(0.5), sync4k_busy.percentile_us(0.99),
      direct ? "true" : "false", bw_sync, bw_nosync);
  return 0;
}
