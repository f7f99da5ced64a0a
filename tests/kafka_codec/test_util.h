#pragma once
// Test helpers: a generic "fill every present field with a non-default value" walker over the
// same field tables the codec uses, byte helpers and frame file loading.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/kafka/codec/kafka_codec.h"

namespace sluice::kafka::test {

inline std::vector<std::byte> bytes_of(const alloc::IoBuf& b) { return b.linearize(); }

inline std::vector<std::byte> hex(std::string_view s) {
  std::vector<std::byte> out;
  int hi = -1;
  for (char ch : s) {
    int v;
    if (ch >= '0' && ch <= '9') v = ch - '0';
    else if (ch >= 'a' && ch <= 'f') v = ch - 'a' + 10;
    else if (ch >= 'A' && ch <= 'F') v = ch - 'A' + 10;
    else continue;  // spaces, separators
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<std::byte>(hi * 16 + v));
      hi = -1;
    }
  }
  return out;
}

inline std::vector<std::byte> str_bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), reinterpret_cast<const std::byte*>(s.data()) + s.size()};
}

inline std::vector<std::byte> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return {reinterpret_cast<const std::byte*>(c.data()), reinterpret_cast<const std::byte*>(c.data()) + c.size()};
}

// An IoBuf of `n` bytes made of two fragments (one copied, one shared), content derived from seed.
inline alloc::IoBuf make_records(std::size_t n, int seed) {
  std::vector<std::byte> b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>((seed * 31 + static_cast<int>(i)) & 0xff);
  alloc::IoBuf io;
  std::size_t half = n / 2;
  io.append_copy(std::span<const std::byte>(b.data(), half));
  alloc::BufferRef buf(alloc::Buffer::allocate(n - half + 1));
  std::memcpy(buf->data(), b.data() + half, n - half);
  io.append_shared(buf, 0, n - half);
  return io;
}

// variant 0: every present field gets a value (nullable ones non-null);
// variant 1: nullable fields become null, arrays get one element.
struct Filler {
  int seed = 1;
  int variant = 0;

  template <class T>
  void fill(const Ctx& c, T& v, bool nullable) {
    ++seed;
    if constexpr (std::is_same_v<T, bool>) {
      v = true;
    } else if constexpr (std::is_integral_v<T>) {
      v = static_cast<T>(100 + seed);
    } else if constexpr (std::is_same_v<T, double>) {
      v = seed + 0.25;
    } else if constexpr (std::is_same_v<T, std::string>) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "s%d", seed);
      v.assign(buf);
    } else if constexpr (std::is_same_v<T, Bytes>) {
      v = Bytes(3, static_cast<std::byte>(seed));
    } else if constexpr (std::is_same_v<T, Records>) {
      if (variant == 1 && nullable) {
        v.is_null = true;
      } else {
        v.is_null = false;
        v.data = make_records(static_cast<std::size_t>(5 + seed % 7), seed);
      }
    } else if constexpr (std::is_same_v<T, Uuid>) {
      for (int i = 0; i < 16; ++i) v.bytes[static_cast<std::size_t>(i)] = static_cast<uint8_t>(seed + i);
    } else if constexpr (is_optional_v<T>) {
      if (variant == 1 && nullable) {
        v.reset();
      } else {
        v.emplace();
        fill(c, *v, false);
      }
    } else if constexpr (is_vector_v<T>) {
      v.resize(variant == 1 ? 1 : 2);
      for (auto& e : v) fill(c, e, false);
    } else if constexpr (Described<T>) {
      fill_struct(c, v);
    } else {
      static_assert(detail::kAlwaysFalse<T>);
    }
  }

  template <class S>
  void fill_struct(const Ctx& c, S& s) {
    std::apply(
        [&](const auto&... f) {
          auto one = [&](const auto& fd) {
            if (fd.present.contains(c.version)) fill(c, s.*(fd.member), fd.nullable_in.contains(c.version));
          };
          (one(f), ...);
        },
        schema_of<S>);
  }
};

template <class M>
M filled(int16_t version, int variant, int seed = 1) {
  M m;
  Filler f{seed, variant};
  f.fill_struct(ctx_for<M>(version), m);
  return m;
}

template <class M>
alloc::IoBuf encode_body(int16_t version, const M& m) {
  Writer w;
  encode(w, version, m);
  return w.finish();
}

// Number of fields present in a version (non-tagged and tagged), top level only.
template <class S>
int count_present(const Ctx& c) {
  int n = 0;
  std::apply([&](const auto&... f) { ((n += f.present.contains(c.version) ? 1 : 0), ...); }, schema_of<S>);
  return n;
}

}  // namespace sluice::kafka::test
