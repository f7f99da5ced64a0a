#pragma once
// The one generic Kafka codec: walks a struct's field table (schema.h) for a given version.
//
//  - a field outside its version range is not on the wire; decode resets it to its default;
//  - flexible versions use compact strings/bytes/arrays/records (unsigned varint length + 1,
//    0 = null) and end every struct with a tagged-field section; unknown tags are skipped, or kept
//    verbatim by structs that have `TaggedFields unknown_tagged_fields`;
//  - decode is bounds-checked everywhere: negative or oversized lengths, array counts that cannot
//    fit in the remaining bytes, nulls in non-nullable versions and overlong varints are errors.
//    Allocation is bounded by the input: an array of n elements is only allocated after checking
//    that n minimal encodings of its element fit in the bytes left.
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "alloc/assert.h"
#include "alloc/result.h"
#include "engine/kafka/codec/schema.h"
#include "engine/kafka/codec/wire.h"

namespace sluice::kafka {

// What the codec needs to know while walking: the version and whether it is flexible.
struct Ctx {
  int16_t version = 0;
  bool flexible = false;
};

// A struct with versions (every message, and the request/response headers).
template <class T>
concept VersionedStruct = Described<T> && requires {
  T::kValidVersions;
  T::kFlexibleVersions;
};

namespace detail {

template <class>
inline constexpr bool kAlwaysFalse = false;

template <class F>
constexpr bool tagged_now(const F& f, const Ctx& c) noexcept {
  return f.tag >= 0 && c.flexible && f.tagged_in.contains(c.version);
}

// ------------------------------------------------------------------------------------------------
// Encoding (W is Writer or CountingWriter)
// ------------------------------------------------------------------------------------------------

inline constexpr std::size_t kMaxClassicString = 0x7fff;
inline constexpr std::size_t kMaxLength32 = 0x7ffffffe;

template <class W>
inline void write_string(W& w, std::string_view s, bool compact) {
  // Longer values cannot be represented; they are cut rather than corrupting the frame.
  if (compact) {
    if (s.size() > kMaxLength32) s = s.substr(0, kMaxLength32);
    w.write_uvarint(static_cast<uint32_t>(s.size() + 1));
  } else {
    if (s.size() > kMaxClassicString) s = s.substr(0, kMaxClassicString);
    w.write_int(static_cast<int16_t>(s.size()));
  }
  w.write_raw(s);
}

template <class W>
inline void write_length32(W& w, std::size_t n, bool compact) {
  SLUICE_ASSERT(n <= kMaxLength32);
  if (compact) w.write_uvarint(static_cast<uint32_t>(n + 1));
  else w.write_int(static_cast<int32_t>(n));
}

template <class W>
inline void write_null32(W& w, bool compact) {
  if (compact) w.write_uvarint(0);
  else w.write_int(int32_t{-1});
}

template <class W, class S>
void encode_struct(W& w, const Ctx& c, const S& s);

template <class W, class T>
void write_value(W& w, const Ctx& c, const T& v, bool nullable, bool compact) {
  if constexpr (std::is_same_v<T, bool>) {
    w.write_bool(v);
  } else if constexpr (std::is_integral_v<T>) {
    w.write_int(v);
  } else if constexpr (std::is_same_v<T, double>) {
    w.write_float64(v);
  } else if constexpr (std::is_same_v<T, std::string>) {
    write_string(w, v, compact);
  } else if constexpr (std::is_same_v<T, Bytes>) {
    write_length32(w, v.size(), compact);
    w.write_raw(std::span<const std::byte>(v.data(), v.size()));
  } else if constexpr (std::is_same_v<T, Records>) {
    if (v.is_null && nullable) {
      write_null32(w, compact);
      return;
    }
    write_length32(w, v.size(), compact);
    if (!v.data.empty()) w.splice(v.data);
    else w.write_raw(v.view);
  } else if constexpr (std::is_same_v<T, Uuid>) {
    w.write_raw(std::span<const std::byte>(reinterpret_cast<const std::byte*>(v.bytes.data()), 16));
  } else if constexpr (is_optional_v<T>) {
    using E = typename T::value_type;
    if (v.has_value()) {
      if constexpr (Described<E>) {
        if (nullable) w.write_int(int8_t{1});
      }
      write_value(w, c, *v, false, compact);
    } else if (nullable) {
      if constexpr (std::is_same_v<E, std::string>) {
        if (compact) w.write_uvarint(0);
        else w.write_int(int16_t{-1});
      } else if constexpr (Described<E>) {
        w.write_int(int8_t{-1});
      } else {
        write_null32(w, compact);
      }
    } else {
      // Null where this version cannot express it: the empty value is the closest encoding.
      write_value(w, c, E{}, false, compact);
    }
  } else if constexpr (is_vector_v<T>) {
    write_length32(w, v.size(), compact);
    for (const auto& e : v) write_value(w, c, e, false, compact);
  } else if constexpr (Described<T>) {
    encode_struct(w, c, v);
  } else {
    static_assert(kAlwaysFalse<T>, "no wire encoding for this member type");
  }
}

template <class W, class S, class F>
inline void encode_field(W& w, const Ctx& c, const S& s, const F& f) {
  if (!f.present.contains(c.version) || tagged_now(f, c)) return;
  write_value(w, c, s.*(f.member), f.nullable_in.contains(c.version), c.flexible && f.flexible_in.contains(c.version));
}

template <class S, class F>
inline bool tagged_field_written(const Ctx& c, const S& s, const F& f) {
  return tagged_now(f, c) && f.present.contains(c.version) && !(s.*(f.member) == default_of<S>.*(f.member));
}

template <class W>
inline void write_raw_tagged(W& w, const RawTaggedField& t) {
  w.write_uvarint(t.tag);
  w.write_uvarint(static_cast<uint32_t>(t.data.size()));
  w.write_raw(std::span<const std::byte>(t.data.data(), t.data.size()));
}

template <class W, class S>
void encode_tagged(W& w, const Ctx& c, const S& s) {
  constexpr const auto& fs = schema_of<S>;
  uint32_t count = 0;
  std::apply([&](const auto&... f) { ((count += tagged_field_written(c, s, f) ? 1u : 0u), ...); }, fs);
  const TaggedFields* unknown = nullptr;
  if constexpr (HasUnknownTaggedFields<S>) {
    unknown = &s.unknown_tagged_fields;
    count += static_cast<uint32_t>(unknown->size());
  }
  w.write_uvarint(count);
  if (count == 0) return;
  // Tags go out in ascending order: known fields (ascending in every table, checked at compile
  // time) merged with preserved unknown ones.
  std::size_t ui = 0;
  auto unknown_below = [&](uint64_t limit) {
    while (unknown && ui < unknown->size() && (*unknown)[ui].tag < limit) write_raw_tagged(w, (*unknown)[ui++]);
  };
  auto one = [&](const auto& f) {
    if (!tagged_field_written(c, s, f)) return;
    unknown_below(static_cast<uint64_t>(f.tag));
    const auto& v = s.*(f.member);
    bool nullable = f.nullable_in.contains(c.version);
    CountingWriter size;
    write_value(size, c, v, nullable, true);
    w.write_uvarint(static_cast<uint32_t>(f.tag));
    w.write_uvarint(static_cast<uint32_t>(size.size()));
    write_value(w, c, v, nullable, true);
  };
  std::apply([&](const auto&... f) { (one(f), ...); }, fs);
  unknown_below(uint64_t{1} << 32);
}

template <class W, class S>
void encode_struct(W& w, const Ctx& c, const S& s) {
  std::apply([&](const auto&... f) { (encode_field(w, c, s, f), ...); }, schema_of<S>);
  if (c.flexible) encode_tagged(w, c, s);
}

// ------------------------------------------------------------------------------------------------
// Decoding
// ------------------------------------------------------------------------------------------------

// Smallest possible encoding of a T (bounds array counts before allocating).
template <class T>
std::size_t min_wire_size(const Ctx& c, bool compact);

template <class S>
std::size_t min_struct_size(const Ctx& c) {
  std::size_t n = c.flexible ? 1 : 0;  // tagged-field count
  std::apply(
      [&](const auto&... f) {
        ((n += (f.present.contains(c.version) && !tagged_now(f, c))
                   ? min_wire_size<typename std::remove_cvref_t<decltype(f)>::value_type>(
                         c, c.flexible && f.flexible_in.contains(c.version))
                   : 0),
         ...);
      },
      schema_of<S>);
  return n;
}

template <class T>
std::size_t min_wire_size(const Ctx& c, bool compact) {
  if constexpr (std::is_arithmetic_v<T>) {
    return sizeof(T);
  } else if constexpr (std::is_same_v<T, Uuid>) {
    return 16;
  } else if constexpr (std::is_same_v<T, std::string>) {
    return compact ? 1 : 2;
  } else if constexpr (is_optional_v<T>) {
    if constexpr (Described<typename T::value_type>) return 1;
    else return min_wire_size<typename T::value_type>(c, compact);
  } else if constexpr (Described<T>) {
    return min_struct_size<T>(c);
  } else {  // Bytes, Records, arrays
    return compact ? 1 : 4;
  }
}

// Length prefix of a string (int16) or of bytes/records/arrays (int32); compact: uvarint - 1.
// Returns >= 0 for a length, -1 for null, < -1 (after failing the reader) for garbage.
inline int64_t read_length(Reader& r, bool compact, bool is_string) {
  if (compact) return static_cast<int64_t>(r.read_uvarint()) - 1;
  int64_t n = is_string ? r.read_int<int16_t>() : r.read_int<int32_t>();
  if (n < -1) {
    r.fail("negative length");
    return -2;
  }
  return n;
}

template <class S>
void decode_struct(Reader& r, const Ctx& c, S& s);

template <class T>
void read_value(Reader& r, const Ctx& c, T& v, bool nullable, bool compact);

template <class E>
void read_array(Reader& r, const Ctx& c, std::vector<E>& v, int64_t n, bool compact) {
  std::size_t min = std::max<std::size_t>(1, min_wire_size<E>(c, compact));
  if (static_cast<uint64_t>(n) > r.remaining() / min) {
    r.fail("array count exceeds remaining bytes");
    return;
  }
  v.resize(static_cast<std::size_t>(n));
  for (auto& e : v) {
    read_value(r, c, e, false, compact);
    if (!r.ok()) return;
  }
}

template <class T>
void read_value(Reader& r, const Ctx& c, T& v, bool nullable, bool compact) {
  if constexpr (std::is_same_v<T, bool>) {
    v = r.read_bool();
  } else if constexpr (std::is_integral_v<T>) {
    v = r.read_int<T>();
  } else if constexpr (std::is_same_v<T, double>) {
    v = r.read_float64();
  } else if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::optional<std::string>>) {
    int64_t n = read_length(r, compact, true);
    if (n < 0) {
      if constexpr (is_optional_v<T>) {
        if (n == -1 && nullable) {
          v.reset();
          return;
        }
      }
      r.fail("null string in a non-nullable field");
      return;
    }
    auto bytes = r.take(static_cast<std::size_t>(n));
    if (!r.ok()) return;
    const char* p = reinterpret_cast<const char*>(bytes.data());
    if constexpr (is_optional_v<T>) v.emplace(p, bytes.size());
    else v.assign(p, bytes.size());
  } else if constexpr (std::is_same_v<T, Bytes> || std::is_same_v<T, std::optional<Bytes>>) {
    int64_t n = read_length(r, compact, false);
    if (n < 0) {
      if constexpr (is_optional_v<T>) {
        if (n == -1 && nullable) {
          v.reset();
          return;
        }
      }
      r.fail("null bytes in a non-nullable field");
      return;
    }
    auto bytes = r.take(static_cast<std::size_t>(n));
    if (!r.ok()) return;
    if constexpr (is_optional_v<T>) v.emplace(bytes.begin(), bytes.end());
    else v.assign(bytes.begin(), bytes.end());
  } else if constexpr (std::is_same_v<T, Records>) {
    int64_t n = read_length(r, compact, false);
    v.data.clear();
    if (n < 0) {
      if (n == -1 && nullable) {
        v.is_null = true;
        v.view = {};
        return;
      }
      r.fail("null records in a non-nullable field");
      return;
    }
    v.is_null = false;
    v.view = r.take(static_cast<std::size_t>(n));  // zero-copy: a view into the frame
  } else if constexpr (std::is_same_v<T, Uuid>) {
    auto bytes = r.take(16);
    if (r.ok()) std::memcpy(v.bytes.data(), bytes.data(), 16);
  } else if constexpr (is_vector_v<T>) {
    int64_t n = read_length(r, compact, false);
    if (n < 0) {
      r.fail("null array in a non-nullable field");
      return;
    }
    read_array(r, c, v, n, compact);
  } else if constexpr (is_optional_v<T>) {
    using E = typename T::value_type;
    if constexpr (is_vector_v<E>) {
      int64_t n = read_length(r, compact, false);
      if (n < 0) {
        if (n == -1 && nullable) {
          v.reset();
          return;
        }
        r.fail("null array in a non-nullable field");
        return;
      }
      if (!v) v.emplace();
      read_array(r, c, *v, n, compact);
    } else if constexpr (Described<E>) {
      if (nullable && r.read_int<int8_t>() < 0) {
        v.reset();
        return;
      }
      if (!v) v.emplace();
      decode_struct(r, c, *v);
    } else {
      static_assert(kAlwaysFalse<T>, "no wire decoding for this optional type");
    }
  } else if constexpr (Described<T>) {
    decode_struct(r, c, v);
  } else {
    static_assert(kAlwaysFalse<T>, "no wire decoding for this member type");
  }
}

template <class S, class F>
inline void decode_field(Reader& r, const Ctx& c, S& s, const F& f) {
  if (!f.present.contains(c.version) || tagged_now(f, c)) {
    s.*(f.member) = default_of<S>.*(f.member);  // absent (or only in the tagged section)
    return;
  }
  read_value(r, c, s.*(f.member), f.nullable_in.contains(c.version), c.flexible && f.flexible_in.contains(c.version));
}

template <class S, class F>
inline bool decode_tagged_field(Reader& sub, const Ctx& c, S& s, const F& f, uint32_t tag) {
  if (!tagged_now(f, c) || !f.present.contains(c.version) || static_cast<uint32_t>(f.tag) != tag) return false;
  read_value(sub, c, s.*(f.member), f.nullable_in.contains(c.version), true);
  return true;
}

template <class S>
void decode_tagged(Reader& r, const Ctx& c, S& s) {
  if constexpr (HasUnknownTaggedFields<S>) s.unknown_tagged_fields.clear();
  uint32_t count = r.read_uvarint();
  if (count > r.remaining() / 2) {  // every tagged field takes at least 2 bytes
    r.fail("tagged field count exceeds remaining bytes");
    return;
  }
  for (uint32_t i = 0; i < count && r.ok(); ++i) {
    uint32_t tag = r.read_uvarint();
    uint32_t size = r.read_uvarint();
    auto bytes = r.take(size);
    if (!r.ok()) return;
    Reader sub(bytes);
    bool known =
        std::apply([&](const auto&... f) { return (decode_tagged_field(sub, c, s, f, tag) || ...); }, schema_of<S>);
    if (known) {
      if (!sub.ok()) r.fail(sub.error_what());
    } else if constexpr (HasUnknownTaggedFields<S>) {
      s.unknown_tagged_fields.push_back(RawTaggedField{tag, Bytes(bytes.begin(), bytes.end())});
    }
  }
}

template <class S>
void decode_struct(Reader& r, const Ctx& c, S& s) {
  std::apply([&](const auto&... f) { (decode_field(r, c, s, f), ...); }, schema_of<S>);
  if (c.flexible && r.ok()) decode_tagged(r, c, s);
}

// ------------------------------------------------------------------------------------------------
// Compile-time checks of a field table (run once per struct type that is encoded or decoded).
// ------------------------------------------------------------------------------------------------

template <class T>
constexpr bool nullable_type() {
  return is_optional_v<T> || std::is_same_v<T, Records>;
}

template <class S>
constexpr bool check_schema() {
  bool ok = true;
  int32_t last_tag = -1;
  std::apply(
      [&](const auto&... f) {
        auto one = [&](const auto& fd) {
          using T = typename std::remove_cvref_t<decltype(fd)>::value_type;
          if (!fd.nullable_in.empty() && !nullable_type<T>()) ok = false;  // nullable needs optional<>
          if (fd.tag >= 0) {
            if (fd.tag <= last_tag) ok = false;  // tags ascending, unique
            last_tag = fd.tag;
            if (fd.tagged_in.empty()) ok = false;
          }
          if (fd.name.empty()) ok = false;
        };
        (one(f), ...);
      },
      S::schema());
  return ok;
}

}  // namespace detail

template <class S>
inline constexpr bool kSchemaValid = detail::check_schema<S>();

template <VersionedStruct M>
constexpr Ctx ctx_for(int16_t version) noexcept {
  return Ctx{version, M::kFlexibleVersions.contains(version)};
}

// Decodes a message (body only) of the given version from r. The reader is left after the
// message; callers that expect the frame to end there check r.remaining().
template <VersionedStruct M>
Result<void> decode(Reader& r, int16_t version, M& out) {
  static_assert(kSchemaValid<M>);
  if (!M::kValidVersions.contains(version)) return make_error(ENOTSUP, "unsupported message version");
  detail::decode_struct(r, ctx_for<M>(version), out);
  if (!r.ok()) return r.error();
  return ok_result();
}

// Encodes a message (body only). The version must be one the message defines (programmer error
// otherwise: versions come from our own negotiation).
template <VersionedStruct M, class W>
void encode(W& w, int16_t version, const M& m) {
  static_assert(kSchemaValid<M>);
  SLUICE_ASSERT_MSG(M::kValidVersions.contains(version), "encode: version not defined for message");
  detail::encode_struct(w, ctx_for<M>(version), m);
}

// Exact encoded size of a message body.
template <VersionedStruct M>
std::size_t encoded_size(int16_t version, const M& m) {
  CountingWriter cw;
  encode(cw, version, m);
  return cw.size();
}

}  // namespace sluice::kafka
