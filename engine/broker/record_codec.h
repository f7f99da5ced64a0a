#pragma once
// Big-endian field writer and reader for the value formats of internal records (consumer groups,
// transactions): fixed-width integers, 16-bit-length strings, 32-bit-length (nullable) bytes.
// The reader treats its input as hostile: every read past the end flips ok() to false and
// returns zeroes, so a decoder can read a whole structure and check once.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "alloc/assert.h"

namespace sluice::broker {

class RecordWriter {
 public:
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(uint16_t v) {
    u8(static_cast<uint8_t>(v >> 8));
    u8(static_cast<uint8_t>(v));
  }
  void u32(uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) u8(static_cast<uint8_t>(v >> s));
  }
  void u64(uint64_t v) {
    for (int s = 56; s >= 0; s -= 8) u8(static_cast<uint8_t>(v >> s));
  }
  void i16(int16_t v) { u16(static_cast<uint16_t>(v)); }
  void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
  void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
  void str16(std::string_view s) {
    SLUICE_ASSERT_MSG(s.size() <= 0xFFFF, "record string longer than 65535 bytes");
    u16(static_cast<uint16_t>(s.size()));
    out_.append(s);
  }
  void bytes32(std::string_view s) {
    SLUICE_ASSERT(s.size() < 0xFFFFFFFFull);
    u32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  void nbytes32(const std::optional<std::string>& s) {
    if (!s) u32(kNullBytes32);
    else bytes32(*s);
  }
  std::string take() { return std::move(out_); }

  static constexpr uint32_t kNullBytes32 = 0xFFFFFFFFu;

 private:
  std::string out_;
};

class RecordReader {
 public:
  explicit RecordReader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == in_.size(); }
  std::size_t remaining() const { return in_.size() - pos_; }

  uint8_t u8() { return static_cast<uint8_t>(big(1)); }
  uint16_t u16() { return static_cast<uint16_t>(big(2)); }
  uint32_t u32() { return static_cast<uint32_t>(big(4)); }
  uint64_t u64() { return big(8); }
  int16_t i16() { return static_cast<int16_t>(u16()); }
  int32_t i32() { return static_cast<int32_t>(u32()); }
  int64_t i64() { return static_cast<int64_t>(u64()); }
  std::string str16() { return take(u16()); }
  std::string bytes32() {
    const uint32_t n = u32();
    if (n == RecordWriter::kNullBytes32) {
      ok_ = false;  // null where null is not allowed
      return {};
    }
    return take(n);
  }
  std::optional<std::string> nbytes32() {
    const uint32_t n = u32();
    if (!ok_ || n == RecordWriter::kNullBytes32) return std::nullopt;
    return take(n);
  }

 private:
  uint64_t big(std::size_t n) {
    if (!need(n)) return 0;
    uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(in_[pos_++]);
    return v;
  }
  bool need(std::size_t n) {
    if (!ok_ || in_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    return true;
  }
  std::string take(std::size_t n) {
    if (!need(n)) return {};
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }

  std::string_view in_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace sluice::broker
