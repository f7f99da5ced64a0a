// libFuzzer target: a request frame (without the 4-byte size prefix) -> header -> body.
// Built only with -DSLUICE_FUZZ=ON and clang. Seed corpus: tests/kafka_codec/corpus/.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "tests/kafka_codec/request_fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Own exact-size copy so any over-read is caught by ASan.
  std::vector<std::byte> frame(size);
  if (size) std::memcpy(frame.data(), data, size);
  sluice::kafka::fuzz::decode_and_check(frame);
  return 0;
}
