#pragma once
// AMQP 0-9-1 primitive types: a bounds-checked big-endian reader, an appending writer, and field
// tables (RabbitMQ's type tags, the 0-9-1 errata set). Every read checks the bytes left; a failed
// read sets the reader's error flag and returns a zero value, so decoders check once at the end.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::amqp {

struct FieldValue;
struct FieldEntry;  // key and value (not std::pair: a pair of an incomplete type breaks clang + libstdc++)
using FieldTable = std::vector<FieldEntry>;

// One table or array value. `tag` is the wire type letter; numbers live in `i` (all integer
// types, bool, timestamp; decimals: scale in `i`, value in `u`), floats in `d`, strings and byte
// arrays in `s`, nested tables in `table`, arrays in `array`.
struct FieldValue {
  char tag = 'V';
  int64_t i = 0;
  uint32_t u = 0;
  double d = 0;
  std::string s;
  FieldTable table;
  std::vector<FieldValue> array;

  static FieldValue str(std::string v);
  static FieldValue boolean(bool b);
  static FieldValue nested(FieldTable t);
  static FieldValue integer(int64_t v);
};

struct FieldEntry {
  std::string key;
  FieldValue value;
};

inline FieldValue FieldValue::str(std::string v) {
  FieldValue f;
  f.tag = 'S';
  f.s = std::move(v);
  return f;
}
inline FieldValue FieldValue::boolean(bool b) {
  FieldValue f;
  f.tag = 't';
  f.i = b ? 1 : 0;
  return f;
}
inline FieldValue FieldValue::nested(FieldTable t) {
  FieldValue f;
  f.tag = 'F';
  f.table = std::move(t);
  return f;
}
inline FieldValue FieldValue::integer(int64_t v) {
  FieldValue f;
  f.tag = 'l';
  f.i = v;
  return f;
}

// Tags whose value is the integer in FieldValue::i (signed and unsigned, 8 to 64 bits).
constexpr bool is_integer_tag(char tag) noexcept {
  switch (tag) {
    case 'b':
    case 'B':
    case 's':
    case 'u':
    case 'I':
    case 'i':
    case 'l': return true;
    default: return false;
  }
}

// Nesting limit for tables and arrays from the network.
inline constexpr int kMaxTableDepth = 16;

class Reader {
 public:
  explicit Reader(std::span<const std::byte> b) : b_(b) {}
  bool failed() const noexcept { return failed_; }
  std::size_t left() const noexcept { return b_.size() - pos_; }
  std::size_t pos() const noexcept { return pos_; }
  uint8_t u8();
  uint16_t u16();
  uint32_t u32();
  uint64_t u64();
  std::string shortstr();
  std::string longstr();
  std::span<const std::byte> bytes(std::size_t n);
  FieldTable table(int depth = 0);
  void fail() noexcept { failed_ = true; }

 private:
  bool need(std::size_t n) noexcept {
    if (failed_ || left() < n) {
      failed_ = true;
      return false;
    }
    return true;
  }
  FieldValue value(int depth);
  std::span<const std::byte> b_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(uint16_t v);
  void u32(uint32_t v);
  void u64(uint64_t v);
  void shortstr(std::string_view s);  // asserts <= 255 bytes (callers validate)
  void longstr(std::string_view s);
  void table(const FieldTable& t);
  void raw(std::string_view s) { out_.append(s); }
  std::size_t size() const noexcept { return out_.size(); }
  void patch_u32(std::size_t at, uint32_t v);

 private:
  void value(const FieldValue& v);
  std::string& out_;
};

const FieldValue* find_field(const FieldTable& t, std::string_view key) noexcept;
// Canonical text of a scalar value (numbers in decimal, bools true/false, strings as is) used for
// header-exchange matching; tables and arrays give their tag only.
std::string canonical_text(const FieldValue& v);

}  // namespace sluice::amqp
