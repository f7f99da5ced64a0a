// Always-on counterpart of the batch fuzz target: seeded mutations of valid batches (bit flips,
// truncations, length and count rewrites) go through validation and iteration. Mutations that
// keep the CRC valid but break structure must be refused, never crash.
#include <gtest/gtest.h>

#include <random>

#include "engine/log/batch_builder.h"
#include "tests/log/batch_fuzz_common.h"

using namespace sluice::log;

namespace {
std::vector<std::vector<std::byte>> seeds() {
  std::vector<std::vector<std::byte>> out;
  for (int n : {1, 3, 17}) {
    BatchSpec spec;
    spec.base_timestamp_ms = 1700000000000;
    for (int i = 0; i < n; ++i)
      spec.records.push_back(
          RecordSpec{"key-" + std::to_string(i), std::string(static_cast<size_t>(i * 7), 'v'), false, i, {{"h", "x"}}});
    out.push_back(BatchBuilder::build(spec));
  }
  return out;
}
}  // namespace

TEST(BatchMutation, SeedsAreValid) {
  for (const auto& s : seeds()) EXPECT_TRUE(validate_batch(s, ValidateOptions{}).ok());
}

TEST(BatchMutation, TwentyThousandMutationsNeverCrash) {
  std::mt19937_64 rng(20261127);
  auto base = seeds();
  int refused = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<std::byte> b = base[static_cast<size_t>(iter) % base.size()];
    int kind = static_cast<int>(rng() % 4);
    if (kind == 0) {  // bit flips
      for (int k = 0; k < 1 + static_cast<int>(rng() % 4); ++k)
        b[rng() % b.size()] ^= std::byte{static_cast<uint8_t>(1u << (rng() % 8))};
    } else if (kind == 1) {  // truncation
      b.resize(rng() % b.size());
    } else if (kind == 2) {  // structure change with a recomputed CRC: only structural checks can refuse it
      if (b.size() > kBatchHeaderBytes + 2)
        b[kBatchHeaderBytes + rng() % (b.size() - kBatchHeaderBytes)] = std::byte{static_cast<uint8_t>(rng())};
      store_be<uint32_t>(b.data() + 17, compute_batch_crc(b));
    } else {  // concatenation with garbage
      b.insert(b.end(), base[0].begin(), base[0].begin() + static_cast<std::ptrdiff_t>(rng() % base[0].size()));
    }
    fuzz::check_batch_bytes(b);
    if (!validate_batch(b, ValidateOptions{}).ok()) refused++;
  }
  // Most mutations damage something the validator checks.
  EXPECT_GT(refused, 15000);
}
