#pragma once
// Readable broker::Errc in test output. gtest finds PrintTo by ADL, so failed assertions show
// "kUnknownMember (member not in the group)" instead of the raw byte it prints for an enum.
#include <cstddef>
#include <ostream>
#include <string>
#include <string_view>

#include "engine/broker/errc.h"

namespace sluice::broker {

// The enumerator's name, e.g. "kUnknownMember".
inline std::string errc_name(Errc e) {
  constexpr std::string_view kNames[] = {
#define SLUICE_ERRC_NAME(name, text) #name,
      SLUICE_ERRC_LIST(SLUICE_ERRC_NAME)
#undef SLUICE_ERRC_NAME
  };
  const auto i = static_cast<std::size_t>(e);
  return i < kErrcCount ? std::string(kNames[i]) : "Errc(" + std::to_string(i) + ")";
}

inline void PrintTo(Errc e, std::ostream* os) { *os << errc_name(e) << " (" << errc_text(e) << ")"; }

}  // namespace sluice::broker
