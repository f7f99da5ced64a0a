// libFuzzer target: RecordBatch v2 validation and iteration over hostile bytes.
#include "tests/log/batch_fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sluice::log::fuzz::check_batch_bytes({reinterpret_cast<const std::byte*>(data), size});
  return 0;
}
