// io micro-benchmarks: cross-shard round trip, TCP echo through the runtime next to plain
// blocking and spinning sockets, 4 KiB O_DIRECT write + fdatasync through the ring next to
// pwrite + fdatasync. Latencies are recorded per iteration and reported as p50_us / p99_us.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "alloc/alloc_counters.h"
#include "io/cross_shard.h"
#include "io/dma_file.h"
#include "io/runtime.h"
#include "io/shard.h"
#include "io/tcp.h"

namespace sluice::io {
namespace {
using Clock = std::chrono::steady_clock;
const std::string kLocalhost = "127.0.0.1";
constexpr std::size_t kEchoBytes = 64;

struct Latencies {
  std::vector<int64_t> ns;
  explicit Latencies(benchmark::State& st) { ns.reserve(static_cast<std::size_t>(st.max_iterations)); }
  void add(Clock::time_point t0) {
    ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
  }
  void report(benchmark::State& st) {
    if (ns.empty()) return;
    std::sort(ns.begin(), ns.end());
    auto pct = [&](double p) {
      return double(ns[std::min(ns.size() - 1, std::size_t(p * double(ns.size())))]) / 1000.0;
    };
    st.counters["p50_us"] = pct(0.50);
    st.counters["p99_us"] = pct(0.99);
  }
};

RuntimeConfig bench_config(uint32_t poll_us) {
  RuntimeConfig cfg;
  cfg.smp = 2;
  cfg.poll_us = poll_us;
  cfg.handle_signals = false;
  cfg.registered_pages_per_shard = 256;
  return cfg;
}

std::unique_ptr<Runtime> make_rt(benchmark::State& st, uint32_t poll_us) {
  auto rt = Runtime::create(bench_config(poll_us));
  if (!rt) {
    st.SkipWithError(rt.error().describe());
    return nullptr;
  }
  return std::move(rt.value());
}

// ---------------------------------------------------------------- cross-shard round trip

void BM_CrossShardRoundTrip(benchmark::State& st) {
  auto rt = make_rt(st, static_cast<uint32_t>(st.range(0)));
  if (!rt) return;
  Latencies lat(st);
  Runtime* r = rt.get();
  rt->run([&](unsigned id) -> Task<void> {
    if (id == 0) {
      for (auto _ : st) {
        auto t0 = Clock::now();
        unsigned v = co_await submit_to(1, [] { return Shard::current().id(); });
        benchmark::DoNotOptimize(v);
        lat.add(t0);
      }
      r->stop();
    }
    co_await Shard::current().wait_stop();
  });
  lat.report(st);
}
BENCHMARK(BM_CrossShardRoundTrip)->ArgName("poll_us")->Arg(0)->Arg(50)->UseRealTime();

// ---------------------------------------------------------------- TCP echo through the runtime

struct EchoServerReport {
  std::atomic<bool> done{false};
  uint64_t messages = 0;
  uint64_t allocations = 0;
};

Task<void> bench_echo_server(TcpListener* l, EchoServerReport* rep) {
  auto c = co_await l->accept();
  if (!c) {
    rep->done = true;
    co_return;
  }
  TcpConnection conn = std::move(*c);
  uint64_t msgs = 0, allocs_start = 0;
  for (;;) {
    auto r = co_await conn.recv();
    if (!r || r->empty()) break;
    auto s = co_await conn.send(*r);
    if (!s) break;
    // Count from the 100th message: connection setup and first-use caches are not steady state.
    if (++msgs == 100) allocs_start = alloc::thread_alloc_counters().allocations;
  }
  if (msgs > 100) {
    rep->messages = msgs - 100;
    rep->allocations = alloc::thread_alloc_counters().allocations - allocs_start;
  }
  rep->done = true;
}

void BM_TcpEchoRuntime(benchmark::State& st) {
  auto rt = make_rt(st, static_cast<uint32_t>(st.range(0)));
  if (!rt) return;
  auto l = TcpListener::bind(kLocalhost, 0, false);
  if (!l) {
    st.SkipWithError("bind failed");
    return;
  }
  TcpListener listener = std::move(*l);
  uint16_t port = listener.port();
  Latencies lat(st);
  EchoServerReport rep;
  Runtime* r = rt.get();
  rt->run([&](unsigned id) -> Task<void> {
    if (id == 1) {
      co_await bench_echo_server(&listener, &rep);
      listener.close();
      co_return;
    }
    auto c = co_await TcpConnection::connect(kLocalhost, port);
    if (!c) {
      st.SkipWithError("connect failed");
      r->stop();
      co_return;
    }
    std::byte msg[kEchoBytes] = {};
    std::span<const std::byte> out(msg, kEchoBytes);
    for (auto _ : st) {
      auto t0 = Clock::now();
      auto s = co_await c->send(out);
      std::size_t got = 0;
      while (s && got < kEchoBytes) {
        auto rr = co_await c->recv();
        if (!rr || rr->empty()) break;
        got += rr->size();
      }
      lat.add(t0);
    }
    c->close();
    while (!rep.done.load()) co_await sleep_for(std::chrono::milliseconds(1));
    r->stop();
  });
  lat.report(st);
  if (rep.messages > 0) st.counters["allocs_per_msg"] = double(rep.allocations) / double(rep.messages);
}
BENCHMARK(BM_TcpEchoRuntime)->ArgName("poll_us")->Arg(0)->Arg(50)->UseRealTime();

// ---------------------------------------------------------------- plain sockets for comparison

struct PlainPair {
  int listen_fd = -1, client = -1;
  uint16_t port = 0;
  PlainPair() {
    listen_fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(listen_fd, 16);
    socklen_t len = sizeof a;
    ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    client = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  ~PlainPair() {
    ::close(client);
    ::close(listen_fd);
  }
};

// spin=false: blocking read/write; spin=true: MSG_DONTWAIT busy loops on both sides.
void plain_echo(benchmark::State& st, bool spin) {
  PlainPair p;
  std::thread server([&] {
    int fd = ::accept(p.listen_fd, nullptr, nullptr);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, spin ? MSG_DONTWAIT : 0);
      if (n < 0 && errno == EAGAIN) continue;
      if (n <= 0) break;
      ::send(fd, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL);
    }
    ::close(fd);
  });
  Latencies lat(st);
  char msg[kEchoBytes] = {}, buf[kEchoBytes];
  for (auto _ : st) {
    auto t0 = Clock::now();
    ::send(p.client, msg, kEchoBytes, MSG_NOSIGNAL);
    std::size_t got = 0;
    while (got < kEchoBytes) {
      ssize_t n = ::recv(p.client, buf, kEchoBytes - got, spin ? MSG_DONTWAIT : 0);
      if (n < 0 && errno == EAGAIN) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    lat.add(t0);
  }
  ::shutdown(p.client, SHUT_WR);
  server.join();
  lat.report(st);
}
void BM_TcpEchoPlainBlocking(benchmark::State& st) { plain_echo(st, false); }
void BM_TcpEchoPlainSpinning(benchmark::State& st) { plain_echo(st, true); }
BENCHMARK(BM_TcpEchoPlainBlocking)->UseRealTime();
BENCHMARK(BM_TcpEchoPlainSpinning)->UseRealTime();

// ---------------------------------------------------------------- 4 KiB O_DIRECT write + fdatasync

std::string bench_file() { return "/var/tmp/sluice-io-bench-" + std::to_string(::getpid()) + ".dat"; }

void BM_DmaWriteDatasyncRing(benchmark::State& st) {
  RuntimeConfig cfg = bench_config(0);
  cfg.smp = 1;
  auto rtr = Runtime::create(cfg);
  if (!rtr) {
    st.SkipWithError(rtr.error().describe());
    return;
  }
  auto& rt = rtr.value();
  std::string path = bench_file();
  Latencies lat(st);
  Runtime* r = rt.get();
  rt->run([&](unsigned) -> Task<void> {
    auto f = co_await DmaFile::open(path, DmaFile::Mode::create);
    if (!f) {
      st.SkipWithError("O_DIRECT open failed");
      r->stop();
      co_return;
    }
    std::byte* page = Shard::current().pages().allocate_page();  // registered: WRITE_FIXED
    std::fill(page, page + 4096, std::byte{0x5a});
    uint64_t pos = 0;
    for (auto _ : st) {
      auto t0 = Clock::now();
      auto w = co_await f->write(pos, page, 4096);
      auto s = co_await f->datasync();
      if (!w || !s) st.SkipWithError("write/datasync failed");
      lat.add(t0);
      pos = (pos + 4096) % (64 << 20);
    }
    Shard::current().pages().free_page(page);
    auto c = co_await f->close();
    (void)c;
    r->stop();
  });
  ::unlink(path.c_str());
  lat.report(st);
}
BENCHMARK(BM_DmaWriteDatasyncRing)->UseRealTime();

void BM_PwriteDatasyncSyscalls(benchmark::State& st) {
  std::string path = bench_file();
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0644);
  if (fd < 0) {
    st.SkipWithError("O_DIRECT open failed");
    return;
  }
  auto* page = static_cast<char*>(std::aligned_alloc(4096, 4096));
  std::fill(page, page + 4096, char{0x5a});
  Latencies lat(st);
  uint64_t pos = 0;
  for (auto _ : st) {
    auto t0 = Clock::now();
    if (::pwrite(fd, page, 4096, static_cast<off_t>(pos)) != 4096 || ::fdatasync(fd) != 0)
      st.SkipWithError("pwrite/fdatasync failed");
    lat.add(t0);
    pos = (pos + 4096) % (64 << 20);
  }
  std::free(page);
  ::close(fd);
  ::unlink(path.c_str());
  lat.report(st);
}
BENCHMARK(BM_PwriteDatasyncSyscalls)->UseRealTime();

}  // namespace
}  // namespace sluice::io

int main(int argc, char** argv) {
  if (auto p = sluice::io::Runtime::probe(); !p) {
    std::fprintf(stderr, "io_uring unavailable, skipping: %s\n", p.error().describe());
    return 77;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
