#include "engine/amqp/wire.h"

#include <cstring>

#include "alloc/assert.h"

namespace sluice::amqp {

uint8_t Reader::u8() {
  if (!need(1)) return 0;
  return static_cast<uint8_t>(b_[pos_++]);
}

uint16_t Reader::u16() {
  if (!need(2)) return 0;
  uint16_t v = static_cast<uint16_t>((static_cast<uint16_t>(b_[pos_]) << 8) | static_cast<uint16_t>(b_[pos_ + 1]));
  pos_ += 2;
  return v;
}

uint32_t Reader::u32() {
  if (!need(4)) return 0;
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint32_t>(b_[pos_ + static_cast<std::size_t>(i)]);
  pos_ += 4;
  return v;
}

uint64_t Reader::u64() {
  if (!need(8)) return 0;
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint64_t>(b_[pos_ + static_cast<std::size_t>(i)]);
  pos_ += 8;
  return v;
}

std::span<const std::byte> Reader::bytes(std::size_t n) {
  if (!need(n)) return {};
  auto s = b_.subspan(pos_, n);
  pos_ += n;
  return s;
}

std::string Reader::shortstr() {
  std::size_t n = u8();
  auto s = bytes(n);
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

std::string Reader::longstr() {
  std::size_t n = u32();
  auto s = bytes(n);
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

FieldTable Reader::table(int depth) {
  FieldTable t;
  uint32_t n = u32();
  if (failed_ || n > left() || depth > kMaxTableDepth) {
    failed_ = true;
    return t;
  }
  Reader sub(b_.subspan(pos_, n));
  pos_ += n;
  while (!sub.failed() && sub.left() > 0) {
    std::string key = sub.shortstr();
    FieldValue v = sub.value(depth + 1);
    if (sub.failed()) break;
    t.push_back(FieldEntry{std::move(key), std::move(v)});
  }
  if (sub.failed()) failed_ = true;
  return t;
}

FieldValue Reader::value(int depth) {
  FieldValue v;
  v.tag = static_cast<char>(u8());
  switch (v.tag) {
    case 't': v.i = u8() != 0 ? 1 : 0; break;
    case 'b': {
      uint8_t b = u8();
      v.i = b >= 128 ? static_cast<int64_t>(b) - 256 : static_cast<int64_t>(b);
      break;
    }
    case 'B': v.i = u8(); break;
    case 's': v.i = static_cast<int16_t>(u16()); break;
    case 'u': v.i = u16(); break;
    case 'I': v.i = static_cast<int32_t>(u32()); break;
    case 'i': v.i = u32(); break;
    case 'l':
    case 'T': v.i = static_cast<int64_t>(u64()); break;
    case 'f': {
      uint32_t bits = u32();
      float f = 0;
      std::memcpy(&f, &bits, sizeof f);
      v.d = f;
      break;
    }
    case 'd': {
      uint64_t bits = u64();
      std::memcpy(&v.d, &bits, sizeof v.d);
      break;
    }
    case 'D':
      v.i = u8();
      v.u = u32();
      break;
    case 'S':
    case 'x': v.s = longstr(); break;
    case 'F': v.table = table(depth); break;
    case 'A': {
      uint32_t n = u32();
      if (failed_ || n > left() || depth > kMaxTableDepth) {
        failed_ = true;
        break;
      }
      Reader sub(b_.subspan(pos_, n));
      pos_ += n;
      while (!sub.failed() && sub.left() > 0) {
        FieldValue e = sub.value(depth + 1);
        if (sub.failed()) break;
        v.array.push_back(std::move(e));
      }
      if (sub.failed()) failed_ = true;
      break;
    }
    case 'V': break;
    default: failed_ = true; break;
  }
  return v;
}

void Writer::u16(uint16_t v) {
  out_.push_back(static_cast<char>(v >> 8));
  out_.push_back(static_cast<char>(v & 0xFF));
}

void Writer::u32(uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out_.push_back(static_cast<char>((v >> s) & 0xFF));
}

void Writer::u64(uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) out_.push_back(static_cast<char>((v >> s) & 0xFF));
}

void Writer::patch_u32(std::size_t at, uint32_t v) {
  SLUICE_ASSERT(at + 4 <= out_.size());
  for (int i = 0; i < 4; ++i) out_[at + static_cast<std::size_t>(i)] = static_cast<char>((v >> (24 - 8 * i)) & 0xFF);
}

void Writer::shortstr(std::string_view s) {
  SLUICE_ASSERT(s.size() <= 255);
  u8(static_cast<uint8_t>(s.size()));
  out_.append(s);
}

void Writer::longstr(std::string_view s) {
  u32(static_cast<uint32_t>(s.size()));
  out_.append(s);
}

void Writer::table(const FieldTable& t) {
  std::size_t at = out_.size();
  u32(0);
  for (const auto& [k, v] : t) {
    shortstr(k.size() <= 255 ? std::string_view(k) : std::string_view(k).substr(0, 255));
    value(v);
  }
  patch_u32(at, static_cast<uint32_t>(out_.size() - at - 4));
}

void Writer::value(const FieldValue& v) {
  u8(static_cast<uint8_t>(v.tag));
  switch (v.tag) {
    case 't':
    case 'b':
    case 'B': u8(static_cast<uint8_t>(v.i)); break;
    case 's':
    case 'u': u16(static_cast<uint16_t>(v.i)); break;
    case 'I':
    case 'i': u32(static_cast<uint32_t>(v.i)); break;
    case 'l':
    case 'T': u64(static_cast<uint64_t>(v.i)); break;
    case 'f': {
      float f = static_cast<float>(v.d);
      uint32_t bits = 0;
      std::memcpy(&bits, &f, sizeof f);
      u32(bits);
      break;
    }
    case 'd': {
      uint64_t bits = 0;
      std::memcpy(&bits, &v.d, sizeof bits);
      u64(bits);
      break;
    }
    case 'D':
      u8(static_cast<uint8_t>(v.i));
      u32(v.u);
      break;
    case 'S':
    case 'x': longstr(v.s); break;
    case 'F': table(v.table); break;
    case 'A': {
      std::size_t at = out_.size();
      u32(0);
      for (const auto& e : v.array) value(e);
      patch_u32(at, static_cast<uint32_t>(out_.size() - at - 4));
      break;
    }
    default: break;  // 'V' and anything else: no payload
  }
}

const FieldValue* find_field(const FieldTable& t, std::string_view key) noexcept {
  for (const auto& [k, v] : t)
    if (k == key) return &v;
  return nullptr;
}

std::string canonical_text(const FieldValue& v) {
  if (is_integer_tag(v.tag)) return std::to_string(v.i);
  switch (v.tag) {
    case 't': return v.i ? "true" : "false";
    case 'T': return std::to_string(v.i);
    case 'f':
    case 'd': return std::to_string(v.d);
    case 'D': return std::to_string(v.u) + "e-" + std::to_string(v.i);
    case 'S':
    case 'x': return v.s;
    default: return std::string(1, v.tag);
  }
}

}  // namespace sluice::amqp
