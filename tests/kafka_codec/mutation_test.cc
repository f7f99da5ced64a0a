// The fuzz target's logic without libFuzzer: the seed corpus plus filled requests of every
// api/version, and a few thousand seeded random mutations of them, through the decoder.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/kafka_codec/request_fuzz_common.h"
#include "tests/kafka_codec/test_util.h"

namespace sluice::kafka {
namespace {

struct XorShift {
  uint64_t s;
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  std::size_t below(std::size_t n) { return n ? static_cast<std::size_t>(next() % n) : 0; }
};

std::vector<std::vector<std::byte>> seeds() {
  std::vector<std::vector<std::byte>> out;
  for (const auto& e : std::filesystem::directory_iterator(std::string(SLUICE_CODEC_TEST_DIR) + "/corpus"))
    out.push_back(test::read_file(e.path().string()));
  for_each_api([&](auto api) {
    using Req = typename decltype(api)::Request;
    for (int v = Req::kValidVersions.min; v <= Req::kValidVersions.max; ++v) {
      Writer w;
      auto framed = encode_request_frame(w, static_cast<int16_t>(v), 1, std::string("m"),
                                         test::filled<Req>(static_cast<int16_t>(v), v % 2))
                        .linearize();
      out.emplace_back(framed.begin() + 4, framed.end());
    }
  });
  return out;
}

std::vector<std::byte> mutate(std::vector<std::byte> f, XorShift& rng) {
  static const uint8_t kInteresting[] = {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff};
  int edits = 1 + static_cast<int>(rng.below(4));
  for (int i = 0; i < edits; ++i) {
    if (f.empty()) break;
    std::size_t at = rng.below(f.size());
    switch (rng.below(6)) {
      case 0: f[at] ^= static_cast<std::byte>(1u << rng.below(8)); break;
      case 1: f[at] = static_cast<std::byte>(kInteresting[rng.below(sizeof kInteresting)]); break;
      case 2: f.resize(at); break;
      case 3: f.insert(f.begin() + static_cast<std::ptrdiff_t>(at), static_cast<std::byte>(rng.next())); break;
      case 4: f.erase(f.begin() + static_cast<std::ptrdiff_t>(at)); break;
      case 5: {  // overwrite 4 bytes with a big or negative int32
        uint32_t v = rng.below(2) ? 0x7fffffffu : 0xfffffffeu;
        for (int k = 0; k < 4 && at + static_cast<std::size_t>(k) < f.size(); ++k)
          f[at + static_cast<std::size_t>(k)] = static_cast<std::byte>(v >> (24 - 8 * k));
        break;
      }
    }
  }
  return f;
}

TEST(KafkaCodecMutation, CorpusAndSeededMutations) {
  auto s = seeds();
  ASSERT_GT(s.size(), 200u);
  int decoded = 0;
  for (const auto& f : s) decoded += fuzz::decode_and_check(f) ? 1 : 0;
  EXPECT_EQ(decoded, static_cast<int>(s.size()));  // every seed is a valid request

  XorShift rng{0x5eed5eed12345678ull};
  int ok = 0, total = 0;
  for (int i = 0; i < 20000; ++i) {
    const auto& base = s[rng.below(s.size())];
    auto m = mutate(base, rng);
    std::vector<std::byte> exact(m.begin(), m.end());  // exact-size heap block for ASan
    ok += fuzz::decode_and_check(exact) ? 1 : 0;
    ++total;
  }
  // Mutations hit both paths: some still decode, most are rejected.
  EXPECT_GT(ok, 0);
  EXPECT_LT(ok, total);
}

}  // namespace
}  // namespace sluice::kafka
