#pragma once
// Every `error_code` a message carries in a given version, found through its declarative schema
// (top level, nested structs, arrays of structs), so the server counts errors by code for every
// API with one generic walk instead of one list per response type.
#include <cstdint>
#include <tuple>

#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

template <Described S, class Fn>
void for_each_error_code(const S& s, int16_t version, Fn& fn);

namespace detail {
template <class T, class Fn>
void visit_error_codes_in(const T& v, int16_t version, Fn& fn) {
  if constexpr (is_optional_v<T>) {
    if (v) visit_error_codes_in(*v, version, fn);
  } else if constexpr (is_vector_v<T>) {
    if constexpr (Described<typename T::value_type>)
      for (const auto& e : v) for_each_error_code(e, version, fn);
  } else if constexpr (Described<T>) {
    for_each_error_code(v, version, fn);
  }
}
}  // namespace detail

template <Described S, class Fn>
void for_each_error_code(const S& s, int16_t version, Fn& fn) {
  auto one = [&](const auto& f) {
    if (!f.present.contains(version)) return;
    using T = typename std::decay_t<decltype(f)>::value_type;
    if constexpr (std::is_same_v<T, int16_t>) {
      if (f.name == "error_code") fn(s.*f.member);
    } else {
      detail::visit_error_codes_in(s.*f.member, version, fn);
    }
  };
  std::apply([&](const auto&... f) { (one(f), ...); }, schema_of<S>);
}

}  // namespace sluice::kafka
