#pragma once
// Always-on invariant checks. A failed assertion is a programmer error: print and abort.
// Operating errors (EIO, ENOSPC, bad client input) never use these; they return Result.
#include <cstdio>
#include <cstdlib>

namespace sluice::detail {
[[noreturn]] void assert_fail(const char* expr, const char* file, int line, const char* msg) noexcept;
}

#define SLUICE_ASSERT(expr)                                                                              \
  do {                                                                                                   \
    if (__builtin_expect(!(expr), 0)) ::sluice::detail::assert_fail(#expr, __FILE__, __LINE__, nullptr); \
  } while (0)

#define SLUICE_ASSERT_MSG(expr, msg)                                                                   \
  do {                                                                                                 \
    if (__builtin_expect(!(expr), 0)) ::sluice::detail::assert_fail(#expr, __FILE__, __LINE__, (msg)); \
  } while (0)

#define SLUICE_UNREACHABLE() ::sluice::detail::assert_fail("unreachable", __FILE__, __LINE__, nullptr)
