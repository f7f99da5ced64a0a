#include "alloc/alloc_counters.h"

#include <cstdio>
#include <cstdlib>
#include <new>

#include "alloc/assert.h"

#if SLUICE_USE_MIMALLOC
#include <mimalloc.h>
#define SLUICE_MALLOC(n) mi_malloc(n)
#define SLUICE_ALIGNED_MALLOC(n, a) mi_malloc_aligned(n, a)
#define SLUICE_FREE(p) mi_free(p)
#else
#define SLUICE_MALLOC(n) std::malloc(n)
#define SLUICE_ALIGNED_MALLOC(n, a) std::aligned_alloc(a, ((n) + (a)-1) / (a) * (a))
#define SLUICE_FREE(p) std::free(p)
#endif

namespace sluice::detail {
[[noreturn]] void assert_fail(const char* expr, const char* file, int line, const char* msg) noexcept {
  std::fprintf(stderr, "sluice: assertion failed: %s (%s:%d)%s%s\n", expr, file, line, msg ? ": " : "", msg ? msg : "");
  std::fflush(stderr);
  std::abort();
}
}  // namespace sluice::detail

namespace sluice::alloc {
namespace {
thread_local AllocCounters t_counters;
}
const AllocCounters& thread_alloc_counters() noexcept { return t_counters; }
const char* allocator_name() noexcept {
#if SLUICE_USE_MIMALLOC
  return "mimalloc";
#else
  return "malloc";
#endif
}
std::size_t heap_committed_bytes() noexcept {
#if SLUICE_USE_MIMALLOC
  std::size_t elapsed_ms = 0, user_ms = 0, system_ms = 0, rss = 0, peak_rss = 0, commit = 0, peak_commit = 0;
  std::size_t faults = 0;
  mi_process_info(&elapsed_ms, &user_ms, &system_ms, &rss, &peak_rss, &commit, &peak_commit, &faults);
  return commit;
#else
  return 0;
#endif
}
}  // namespace sluice::alloc

namespace {
inline void* counted_alloc(std::size_t n) {
  auto& c = sluice::alloc::t_counters;
  c.allocations++;
  c.bytes_allocated += n;
  void* p = SLUICE_MALLOC(n == 0 ? 1 : n);
  if (!p) throw std::bad_alloc();
  return p;
}
inline void* counted_aligned_alloc(std::size_t n, std::size_t a) {
  auto& c = sluice::alloc::t_counters;
  c.allocations++;
  c.bytes_allocated += n;
  void* p = SLUICE_ALIGNED_MALLOC(n == 0 ? a : n, a);
  if (!p) throw std::bad_alloc();
  return p;
}
inline void counted_free(void* p) noexcept {
  if (!p) return;
  sluice::alloc::t_counters.deallocations++;
  SLUICE_FREE(p);
}
}  // namespace

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t n, std::align_val_t a) { return counted_aligned_alloc(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) {
  return counted_aligned_alloc(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { counted_free(p); }
