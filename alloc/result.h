#pragma once
// Result<T>: value or an operating error (a negative errno-style code plus a short static
// message). Used for everything that can fail at run time for reasons outside the program.
#include <cerrno>
#include <cstring>
#include <utility>
#include <variant>

#include "alloc/assert.h"

namespace sluice {

struct Error {
  int code = 0;           // positive errno value (EIO, ENOSPC, ...) or a module-specific code
  const char* what = "";  // static string, never owned
  const char* describe() const noexcept { return what && *what ? what : std::strerror(code); }
};

inline Error make_error(int code, const char* what = "") noexcept { return Error{code, what}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error e) : v_(e) {}                 // NOLINT
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & {
    SLUICE_ASSERT(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    SLUICE_ASSERT(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    SLUICE_ASSERT(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  T& operator*() { return value(); }
  const Error& error() const {
    SLUICE_ASSERT(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error e) : err_(e), ok_(false) {}  // NOLINT
  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const Error& error() const {
    SLUICE_ASSERT(!ok_);
    return err_;
  }

 private:
  Error err_{};
  bool ok_ = true;
};

inline Result<void> ok_result() { return Result<void>{}; }

}  // namespace sluice
