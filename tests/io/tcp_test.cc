#include "io/tcp.h"

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "alloc/iobuf.h"
#include "io/cross_shard.h"
#include "io/runtime.h"
#include "io/shard.h"
#include "io_test_util.h"

// Note: no temporaries with destructors inside co_await full-expressions and no `!co_await`
// (GCC 12 coroutine bugs, see io/README.md): hosts are named locals.

namespace sluice::io {
namespace {
using namespace std::chrono_literals;
using test::make_runtime;
using test::test_config;

const std::string kLocalhost = "127.0.0.1";

std::byte pattern_byte(uint64_t i, uint32_t seed) { return std::byte((i * 131 + seed * 7 + (i >> 9)) & 0xff); }

Task<void> echo_session(TcpConnection c) {
  for (;;) {
    auto r = co_await c.recv();
    if (!r || r->empty()) break;
    auto sent = co_await c.send(*r);
    if (!sent) break;
  }
}

Task<void> accept_loop(TcpListener* l, std::atomic<unsigned>* accepted) {
  for (;;) {
    auto c = co_await l->accept();
    if (!c) break;  // closed or cancelled at shutdown
    (*accepted)++;
    spawn(echo_session(std::move(*c)));
  }
}

// One client: connect, wait until the whole shard's clients are connected (so >= 1000 are open
// at once), then exchange messages and check every echoed byte.
struct ClientGroup {
  unsigned connected = 0;
  unsigned target = 0;
  Event all_connected;
};

Task<void> echo_client(uint16_t port, uint32_t seed, ClientGroup* g, int rounds, std::atomic<unsigned>* ok) {
  auto c = co_await TcpConnection::connect(kLocalhost, port);
  if (!c) {
    ADD_FAILURE() << "connect: " << c.error().describe();
    co_return;
  }
  if (++g->connected == g->target) g->all_connected.set();
  bool all = co_await g->all_connected.wait(20s);
  EXPECT_TRUE(all);
  std::vector<std::byte> msg(100 + seed % 3000), got;
  for (int round = 0; round < rounds; ++round) {
    for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = pattern_byte(i + round, seed);
    std::span<const std::byte> out(msg);
    auto s = co_await c->send(out);
    if (!s) {
      ADD_FAILURE() << "send: " << s.error().describe();
      co_return;
    }
    got.clear();
    while (got.size() < msg.size()) {
      auto r = co_await c->recv();
      if (!r || r->empty()) {
        ADD_FAILURE() << "recv ended early";
        co_return;
      }
      got.insert(got.end(), r->begin(), r->end());
    }
    if (got != msg) {
      ADD_FAILURE() << "echo mismatch";
      co_return;
    }
  }
  (*ok)++;
}

TEST(Tcp, EchoThousandConcurrentConnectionsOverTwoShards) {
  auto rt = make_runtime(test_config(2));
  ASSERT_TRUE(rt);
  auto l0 = TcpListener::bind(kLocalhost, 0, true);
  ASSERT_TRUE(l0) << l0.error().describe();
  uint16_t port = l0->port();
  auto l1 = TcpListener::bind(kLocalhost, port, true);
  ASSERT_TRUE(l1) << l1.error().describe();
  TcpListener listeners[2] = {std::move(*l0), std::move(*l1)};
  std::atomic<unsigned> accepted[2] = {0, 0};
  std::atomic<unsigned> ok{0}, finished_shards{0};
  ClientGroup groups[2];
  constexpr unsigned kPerShard = 500;
  Runtime* r = rt.get();
  int rc = rt->run([&](unsigned id) -> Task<void> {
    spawn(accept_loop(&listeners[id], &accepted[id]));
    groups[id].target = kPerShard;
    std::vector<Task<void>> clients;
    for (unsigned i = 0; i < kPerShard; ++i)
      clients.push_back(echo_client(port, id * kPerShard + i, &groups[id], 5, &ok));
    for (auto& t : clients) spawn(std::move(t));
    auto t0 = std::chrono::steady_clock::now();
    while (ok.load() < 2 * kPerShard && test::elapsed_ms(t0) < 30000) co_await sleep_for(5ms);
    if (++finished_shards == 2) r->stop();
    co_await Shard::current().wait_stop();
    listeners[id].close();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(ok.load(), 2 * kPerShard);
  EXPECT_EQ(accepted[0] + accepted[1], 2 * kPerShard);
  EXPECT_GT(accepted[0].load(), 0u) << "SO_REUSEPORT should spread connections";
  EXPECT_GT(accepted[1].load(), 0u);
}

Task<uint64_t> drain_bytes(TcpConnection c, uint64_t expect, uint32_t seed, bool* match, int slow_every) {
  uint64_t n = 0;
  int chunks = 0;
  *match = true;
  while (n < expect) {
    auto r = co_await c.recv();
    if (!r || r->empty()) break;
    for (std::byte b : *r) {
      if (b != pattern_byte(n, seed)) *match = false;
      n++;
    }
    if (slow_every && ++chunks % slow_every == 0) co_await sleep_for(1ms);  // let chunks pile up
  }
  co_return n;
}

TEST(Tcp, LargeMultiFragmentIoBufUsesSendZc) {
  auto rt = make_runtime(test_config(2));
  ASSERT_TRUE(rt);
  auto l = TcpListener::bind(kLocalhost, 0, false);
  ASSERT_TRUE(l);
  uint16_t port = l->port();
  TcpListener listener = std::move(*l);
  Runtime* r = rt.get();
  constexpr uint32_t kSeed = 3;
  uint64_t total = 0, received = 0, zc_sends = 0, zc_supported = 0;
  bool match = false;
  int rc = rt->run([&](unsigned id) -> Task<void> {
    if (id == 1) {
      auto c = co_await listener.accept();
      EXPECT_TRUE(c);
      if (c) received = co_await drain_bytes(std::move(*c), ~0ull, kSeed, &match, 7);
      listener.close();
      co_return;
    }
    // Header, 20 shared 64 KiB fragments with small copies between them: > 1 MiB.
    alloc::IoBuf buf;
    uint64_t pos = 0;
    auto add_copy = [&](std::size_t n) {
      std::vector<std::byte> v(n);
      for (auto& b : v) b = pattern_byte(pos++, kSeed);
      buf.append_copy(std::span<const std::byte>(v));
    };
    add_copy(100);
    for (int i = 0; i < 20; ++i) {
      alloc::BufferRef big(alloc::Buffer::allocate(64 * 1024 + 512, 4096));
      for (std::size_t k = 0; k < 64 * 1024; ++k) big->data()[256 + k] = pattern_byte(pos++, kSeed);
      buf.append_shared(big, 256, 64 * 1024);
      add_copy(37 + i);
    }
    total = buf.size();
    EXPECT_GT(buf.fragments().size(), 40u);
    auto c = co_await TcpConnection::connect(kLocalhost, port);
    EXPECT_TRUE(c);
    if (c) {
      auto s = co_await c->send(std::move(buf));
      EXPECT_TRUE(s) << (s ? "" : s.error().describe());
      c->close();
    }
    zc_sends = Shard::current().stats().zc_sends;
    zc_supported = Shard::current().send_zc_supported();
    co_await sleep_for(50ms);
    while (received == 0) co_await sleep_for(5ms);  // plain load: shard 1 finished (test-only)
    r->stop();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_GT(total, 1024u * 1024u);
  EXPECT_EQ(received, total);
  EXPECT_TRUE(match);
  if (zc_supported) {
    EXPECT_GE(zc_sends, 20u);
  }
}

TEST(Tcp, CloseCancelsPendingRecvAndPeerCloseIsEof) {
  auto rt = make_runtime(test_config(1));
  ASSERT_TRUE(rt);
  auto l = TcpListener::bind(kLocalhost, 0, false);
  ASSERT_TRUE(l);
  TcpListener listener = std::move(*l);
  Runtime* r = rt.get();
  int cancelled_code = 0;
  bool eof_seen = false;
  int rc = rt->run([&](unsigned) -> Task<void> {
    auto client = co_await TcpConnection::connect(kLocalhost, listener.port());
    auto server = co_await listener.accept();
    EXPECT_TRUE(client && server);
    if (!client || !server) {
      r->stop();
      co_return;
    }
    TcpConnection* srv = &*server;
    auto closer = [](TcpConnection* c) -> Task<void> {
      co_await sleep_for(10ms);
      c->close();
    };
    spawn(closer(srv));
    auto res = co_await srv->recv();  // pending when close() runs
    EXPECT_FALSE(res);
    if (!res) cancelled_code = res.error().code;
    EXPECT_FALSE(srv->is_open());
    // The client now sees the server's close as EOF.
    auto eof = co_await client->recv();
    eof_seen = eof && eof->empty();
    listener.close();
    r->stop();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(cancelled_code, ECANCELED);
  EXPECT_TRUE(eof_seen);
}

TEST(Tcp, ConnectionsOverTheShardLimitAreClosed) {
  auto cfg = test_config(1);
  cfg.max_connections_per_shard = 2;
  auto rt = make_runtime(cfg);
  ASSERT_TRUE(rt);
  auto l = TcpListener::bind(kLocalhost, 0, false);
  ASSERT_TRUE(l);
  TcpListener listener = std::move(*l);
  Runtime* r = rt.get();
  uint64_t rejected = 0;
  bool third_closed = false;
  int rc = rt->run([&](unsigned) -> Task<void> {
    auto a = co_await TcpConnection::connect(kLocalhost, listener.port());
    auto sa = co_await listener.accept();
    auto b = co_await TcpConnection::connect(kLocalhost, listener.port());
    auto sb = co_await listener.accept();
    EXPECT_TRUE(a && b && sa && sb);
    auto c = co_await TcpConnection::connect(kLocalhost, listener.port());
    EXPECT_TRUE(c);
    if (c) {
      auto res = co_await c->recv();  // closed by the server at once: EOF or reset
      third_closed = !res || res->empty();
    }
    rejected = Shard::current().stats().accepts_rejected;
    listener.close();
    r->stop();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(third_closed);
  EXPECT_EQ(rejected, 1u);
}

// Few small recv buffers and slow readers: exercises ENOBUFS re-arming and per-connection
// throttling (multishot cancelled when 16 chunks wait, re-armed as the reader catches up).
TEST(Tcp, BufferStarvationAndThrottlingLoseNothing) {
  auto cfg = test_config(1);
  cfg.recv_buffers_per_shard = 16;
  cfg.recv_buffer_bytes = 4096;
  auto rt = make_runtime(cfg);
  ASSERT_TRUE(rt);
  auto l = TcpListener::bind(kLocalhost, 0, false);
  ASSERT_TRUE(l);
  TcpListener listener = std::move(*l);
  Runtime* r = rt.get();
  constexpr int kConns = 8;
  constexpr uint64_t kBytes = 512 * 1024;
  int done = 0, good = 0;
  uint64_t enobufs = 0;
  int rc = rt->run([&](unsigned) -> Task<void> {
    auto reader = [&](TcpConnection c, uint32_t seed) -> Task<void> {
      bool match = false;
      uint64_t n = co_await drain_bytes(std::move(c), kBytes, seed, &match, 3);
      if (n == kBytes && match) good++;
      done++;
    };
    auto writer = [&](uint32_t seed) -> Task<void> {
      auto c = co_await TcpConnection::connect(kLocalhost, listener.port());
      EXPECT_TRUE(c);
      if (!c) co_return;
      std::vector<std::byte> data(kBytes);
      for (uint64_t i = 0; i < kBytes; ++i) data[i] = pattern_byte(i, seed);
      std::span<const std::byte> out(data);
      auto s = co_await c->send(out);
      EXPECT_TRUE(s);
      co_await sleep_for(2s);  // keep open until read (closed early only by shutdown)
    };
    for (int i = 0; i < kConns; ++i) {
      spawn(writer(static_cast<uint32_t>(i)));
      auto sc = co_await listener.accept();
      EXPECT_TRUE(sc);
      if (sc) spawn(reader(std::move(*sc), static_cast<uint32_t>(i)));
    }
    while (done < kConns) co_await sleep_for(5ms);
    enobufs = Shard::current().stats().recv_enobufs;
    listener.close();
    r->stop();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(good, kConns);
  RecordProperty("recv_enobufs", static_cast<int>(enobufs));
}

// Shutdown with operations in flight on both shards: a pending accept, a pending recv, a
// pending sleep. run() must return 0 and every pending op must end (LSan checks the rest).
struct PendingState {
  TcpListener* listener;
  std::atomic<int> ended{0};
  bool recv_ended_ok = false;
  bool accept_failed = false;
};

Task<void> pending_accept(PendingState* st) {
  auto c = co_await st->listener->accept();  // the one client is accepted
  if (c) {
    TcpConnection server = std::move(*c);      // connections die on their shard, before run() returns
    auto res = co_await server.recv();         // no data ever: pending until shutdown
    st->recv_ended_ok = !res || res->empty();  // cancelled, or EOF when the client shard exits
    st->ended++;
  }
  auto again = co_await st->listener->accept();  // pending at shutdown
  st->accept_failed = !again;
  st->ended++;
}

TEST(Tcp, ShutdownCancelsPendingAcceptRecvAndTimers) {
  auto rt = make_runtime(test_config(2));
  ASSERT_TRUE(rt);
  auto l = TcpListener::bind(kLocalhost, 0, false);
  ASSERT_TRUE(l);
  TcpListener listener = std::move(*l);
  uint16_t port = listener.port();
  Runtime* r = rt.get();
  PendingState st;
  st.listener = &listener;
  std::atomic<int> sleeps_ended{0};
  int rc = rt->run([&](unsigned id) -> Task<void> {
    if (id == 1) spawn(pending_accept(&st));
    TcpConnection client;
    if (id == 0) {
      auto c = co_await TcpConnection::connect(kLocalhost, port);
      EXPECT_TRUE(c);
      if (c) client = std::move(*c);
      co_await sleep_for(30ms);
      r->stop();
    }
    bool slept = co_await sleep_for(1h);  // shard 1: pending when stop arrives
    if (!slept) sleeps_ended++;
    co_await Shard::current().wait_stop();
    // Return with the accept (and maybe the recv) still pending: the drain must end them.
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(sleeps_ended.load(), 2);
  EXPECT_EQ(st.ended.load(), 2);
  EXPECT_TRUE(st.recv_ended_ok);
  EXPECT_TRUE(st.accept_failed);
}

}  // namespace
}  // namespace sluice::io
