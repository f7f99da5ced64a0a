// Test main for io tests: exits 77 (ctest SKIP_RETURN_CODE) only when io_uring itself is
// unavailable; missing individual kernel features are GTEST_SKIPs inside the tests.
#include <gtest/gtest.h>

#include <cstdio>

#include "io/runtime.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (!GTEST_FLAG_GET(list_tests)) {
    auto r = sluice::io::Runtime::probe();
    if (!r) {
      std::fprintf(stderr, "io_uring unavailable, skipping: %s\n", r.error().describe());
      return 77;
    }
  }
  return RUN_ALL_TESTS();
}
