#pragma once
// Declarative message descriptions. Every Kafka message is a plain struct plus one field table:
//
//   struct FooRequest {
//     static constexpr int16_t kApiKey = ...;
//     static constexpr VersionRange kValidVersions = versions("0-4");
//     static constexpr VersionRange kFlexibleVersions = versions("3+");
//     int32_t bar = -1;
//     std::optional<std::string> baz = std::nullopt;
//     static constexpr auto schema() {
//       return std::tuple{field("bar", &FooRequest::bar, "0+"),
//                         field("baz", &FooRequest::baz, "1+").nullable("1+"),
//                         ...};
//     }
//   };
//
// Nested structs (array elements, struct-typed fields) carry their own schema() the same way and
// inherit the message's flexible versions. The wire type is the C++ member type:
//   bool int8_t int16_t int32_t int64_t uint16_t uint32_t double  -> fixed-width big-endian
//   std::string / std::optional<std::string>                        -> (nullable) string
//   Bytes / std::optional<Bytes>                                     -> (nullable) bytes
//   Records                                                          -> (nullable) records, zero-copy
//   Uuid                                                             -> 16 bytes
//   std::vector<T> / std::optional<std::vector<T>>                   -> (nullable) array of T
//   a struct with schema() / std::optional of it                     -> nested struct (nullable: int8 marker)
// A struct member's initializer is the field's default: it is what decode leaves in a field absent
// from the version, and a tagged field is written only when it differs from it.
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

#include "engine/kafka/codec/types.h"

namespace sluice::kafka {

inline constexpr int16_t kMaxVersion = std::numeric_limits<int16_t>::max();

// Inclusive [min, max]; empty when min > max.
struct VersionRange {
  int16_t min = 1;
  int16_t max = 0;
  constexpr bool contains(int16_t v) const noexcept { return v >= min && v <= max; }
  constexpr bool empty() const noexcept { return min > max; }
  bool operator==(const VersionRange&) const = default;
};

namespace detail {
constexpr int16_t parse_version_number(std::string_view s) {
  if (s.empty()) throw "bad version string";
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') throw "bad version string";
    v = v * 10 + (c - '0');
    if (v > kMaxVersion) throw "bad version string";
  }
  return static_cast<int16_t>(v);
}
}  // namespace detail

// The schema notation: "none", "3", "3+", "0-6". Evaluated at compile time in field tables
// (a malformed string is a compile error there).
constexpr VersionRange versions(std::string_view s) {
  if (s == "none") return VersionRange{};
  if (!s.empty() && s.back() == '+')
    return VersionRange{detail::parse_version_number(s.substr(0, s.size() - 1)), kMaxVersion};
  auto dash = s.find('-');
  if (dash == std::string_view::npos) {
    int16_t v = detail::parse_version_number(s);
    return VersionRange{v, v};
  }
  return VersionRange{detail::parse_version_number(s.substr(0, dash)),
                      detail::parse_version_number(s.substr(dash + 1))};
}

// One field descriptor. `flexible_versions` is a per-field override used only by the request
// header's client_id, which stays a classic (non-compact) string even in flexible headers.
template <class S, class T>
struct Field {
  using struct_type = S;
  using value_type = T;

  std::string_view name;
  T S::*member;
  VersionRange present;                      // versions the field exists in
  VersionRange nullable_in{};                // versions in which it may be null
  int32_t tag = -1;                          // >= 0: tagged field
  VersionRange tagged_in{};                  // versions in which it is tagged
  VersionRange flexible_in{0, kMaxVersion};  // field-level compact-encoding override

  constexpr Field nullable(std::string_view v) const {
    Field f = *this;
    f.nullable_in = versions(v);
    return f;
  }
  constexpr Field tagged(int32_t t, std::string_view v) const {
    Field f = *this;
    f.tag = t;
    f.tagged_in = versions(v);
    return f;
  }
  constexpr Field flexible(std::string_view v) const {
    Field f = *this;
    f.flexible_in = versions(v);
    return f;
  }
};

template <class S, class T>
constexpr Field<S, T> field(std::string_view name, T S::*member, std::string_view present) {
  return Field<S, T>{name, member, versions(present)};
}

// ---- type traits used by the generic codec ----
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
template <class T>
inline constexpr bool is_optional_v = is_optional<T>::value;

template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};
template <class T>
inline constexpr bool is_vector_v = is_vector<T>::value;

template <class T>
concept Described = requires {
  T::schema();
};

template <class T>
concept KafkaMessage = Described<T> && requires {
  T::kApiKey;
  T::kValidVersions;
  T::kFlexibleVersions;
};

template <class T>
concept HasUnknownTaggedFields = requires(T t) {
  { t.unknown_tagged_fields } -> std::same_as<TaggedFields&>;
};

// The field table of S as a compile-time constant.
template <class S>
inline constexpr auto schema_of = S::schema();

// A default-constructed S: the per-field defaults.
template <class S>
inline const S default_of{};

}  // namespace sluice::kafka
