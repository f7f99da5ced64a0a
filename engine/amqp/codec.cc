#include "engine/amqp/codec.h"

#include <algorithm>

#include "alloc/assert.h"

namespace sluice::amqp {

const MethodDef* find_method(uint16_t class_id, uint16_t method_id) noexcept {
  for (const auto& m : kMethods)
    if (m.class_id == class_id && m.method_id == method_id) return &m;
  return nullptr;
}

FrameStatus parse_frame(std::span<const std::byte> buf, uint32_t frame_max_bytes, Frame* frame, std::size_t* consumed,
                        DecodeError* err) {
  if (buf.size() < 7) return FrameStatus::kNeedMore;
  Reader r(buf);
  uint8_t type = r.u8();
  uint16_t channel = r.u16();
  uint32_t size = r.u32();
  if (type != kFrameMethod && type != kFrameHeader && type != kFrameBody && type != kFrameHeartbeat) {
    *err = {reply::kFrameError, "FRAME_ERROR - unknown frame type " + std::to_string(type)};
    return FrameStatus::kError;
  }
  if (static_cast<uint64_t>(size) + kFrameOverheadBytes > frame_max_bytes) {
    *err = {reply::kFrameError, "FRAME_ERROR - frame size " + std::to_string(size) + " exceeds frame-max " +
                                    std::to_string(frame_max_bytes)};
    return FrameStatus::kError;
  }
  if (buf.size() < static_cast<std::size_t>(size) + kFrameOverheadBytes) return FrameStatus::kNeedMore;
  if (static_cast<uint8_t>(buf[7 + size]) != kFrameEnd) {
    *err = {reply::kFrameError, "FRAME_ERROR - frame end octet missing"};
    return FrameStatus::kError;
  }
  frame->type = type;
  frame->channel = channel;
  frame->payload = buf.subspan(7, size);
  *consumed = size + kFrameOverheadBytes;
  return FrameStatus::kOk;
}

std::size_t Method::index_of(std::string_view field) const {
  SLUICE_ASSERT(def != nullptr);
  for (std::size_t i = 0; i < def->fields.size(); ++i)
    if (def->fields[i].name == field) return i;
  SLUICE_ASSERT_MSG(false, "AMQP method has no such field");
  return 0;
}

uint64_t Method::num(std::string_view field) const { return args[index_of(field)].num; }
const std::string& Method::str(std::string_view field) const { return args[index_of(field)].str; }
const FieldTable& Method::table(std::string_view field) const { return args[index_of(field)].table; }
Method& Method::set_num(std::string_view field, uint64_t v) {
  args[index_of(field)].num = v;
  return *this;
}
Method& Method::set(std::string_view field, std::string v) {
  args[index_of(field)].str = std::move(v);
  return *this;
}
Method& Method::set(std::string_view field, FieldTable v) {
  args[index_of(field)].table = std::move(v);
  return *this;
}

Method make_method(MethodId id) {
  Method m;
  m.def = &method_def(id);
  m.args.resize(m.def->fields.size());
  return m;
}

namespace {

// Reads fields in order; consecutive bits share octets (LSB first).
void read_fields(Reader& r, std::span<const FieldDef> defs, std::vector<Arg>& args) {
  uint8_t bits = 0;
  int bit_pos = 8;
  for (std::size_t i = 0; i < defs.size(); ++i) {
    Arg& a = args[i];
    if (defs[i].kind == FieldKind::kBit) {
      if (bit_pos == 8) {
        bits = r.u8();
        bit_pos = 0;
      }
      a.num = (bits >> bit_pos++) & 1U;
      continue;
    }
    bit_pos = 8;
    switch (defs[i].kind) {
      case FieldKind::kOctet: a.num = r.u8(); break;
      case FieldKind::kShort: a.num = r.u16(); break;
      case FieldKind::kLong: a.num = r.u32(); break;
      case FieldKind::kLongLong:
      case FieldKind::kTimestamp: a.num = r.u64(); break;
      case FieldKind::kShortStr: a.str = r.shortstr(); break;
      case FieldKind::kLongStr: a.str = r.longstr(); break;
      case FieldKind::kTable: a.table = r.table(); break;
      case FieldKind::kBit: break;
    }
  }
}

void write_field(Writer& w, FieldKind kind, const Arg& a) {
  switch (kind) {
    case FieldKind::kOctet: w.u8(static_cast<uint8_t>(a.num)); break;
    case FieldKind::kShort: w.u16(static_cast<uint16_t>(a.num)); break;
    case FieldKind::kLong: w.u32(static_cast<uint32_t>(a.num)); break;
    case FieldKind::kLongLong:
    case FieldKind::kTimestamp: w.u64(a.num); break;
    case FieldKind::kShortStr: w.shortstr(std::string_view(a.str).substr(0, 255)); break;
    case FieldKind::kLongStr: w.longstr(a.str); break;
    case FieldKind::kTable: w.table(a.table); break;
    case FieldKind::kBit: break;
  }
}

void write_fields(Writer& w, std::span<const FieldDef> defs, const std::vector<Arg>& args) {
  SLUICE_ASSERT(args.size() == defs.size());
  for (std::size_t i = 0; i < defs.size();) {
    if (defs[i].kind != FieldKind::kBit) {
      write_field(w, defs[i].kind, args[i]);
      ++i;
      continue;
    }
    uint8_t bits = 0;
    int pos = 0;
    while (i < defs.size() && defs[i].kind == FieldKind::kBit && pos < 8) {
      if (args[i].num) bits = static_cast<uint8_t>(bits | (1U << pos));
      ++pos;
      ++i;
    }
    w.u8(bits);
  }
}

}  // namespace

bool decode_method(std::span<const std::byte> payload, Method* out, DecodeError* err) {
  Reader r(payload);
  uint16_t class_id = r.u16();
  uint16_t method_id = r.u16();
  if (r.failed()) {
    *err = {reply::kFrameError, "FRAME_ERROR - method frame too short"};
    return false;
  }
  const MethodDef* def = find_method(class_id, method_id);
  if (!def) {
    *err = {reply::kNotImplemented,
            "NOT_IMPLEMENTED - unknown method " + std::to_string(class_id) + "/" + std::to_string(method_id)};
    return false;
  }
  out->def = def;
  out->args.assign(def->fields.size(), Arg{});
  read_fields(r, def->fields, out->args);
  if (r.failed()) {
    *err = {reply::kSyntaxError, "SYNTAX_ERROR - cannot decode " + std::string(def->name)};
    return false;
  }
  return true;
}

void encode_method_payload(const Method& m, std::string& out) {
  Writer w(out);
  w.u16(m.def->class_id);
  w.u16(m.def->method_id);
  write_fields(w, m.def->fields, m.args);
}

void encode_method_frame(uint16_t channel, const Method& m, std::string& out) {
  Writer w(out);
  w.u8(kFrameMethod);
  w.u16(channel);
  std::size_t at = w.size();
  w.u32(0);
  encode_method_payload(m, out);
  w.patch_u32(at, static_cast<uint32_t>(out.size() - at - 4));
  w.u8(kFrameEnd);
}

namespace {
// Reads the property flags and the present properties; false on bad flags (r's error flag tells
// truncation apart).
bool read_properties(Reader& r, PropertyArgs* out) {
  uint16_t flags = r.u16();
  if (r.failed()) return false;
  if (flags & 0x3U) return false;  // bit 0: continuation (basic has one flag word), bit 1: unused
  for (std::size_t i = 0; i < std::size(kBasicProperties); ++i) {
    (*out)[i].reset();
    if (!(flags & (1U << (15 - i)))) continue;
    std::vector<Arg> one(1);
    read_fields(r, std::span<const FieldDef>(&kBasicProperties[i], 1), one);
    (*out)[i] = std::move(one[0]);
  }
  return !r.failed();
}
}  // namespace

bool decode_content_header(std::span<const std::byte> payload, ContentHeader* out, DecodeError* err) {
  Reader r(payload);
  out->class_id = r.u16();
  (void)r.u16();  // weight
  out->body_size = r.u64();
  std::size_t props_at = r.pos();
  if (r.left() < 2) r.fail();
  if (r.failed()) {
    *err = {reply::kFrameError, "FRAME_ERROR - content header too short"};
    return false;
  }
  PropertyArgs args;
  if (!read_properties(r, &args)) {
    *err = {reply::kSyntaxError,
            r.failed() ? "SYNTAX_ERROR - cannot decode content properties" : "SYNTAX_ERROR - bad property flags"};
    return false;
  }
  out->properties.assign(reinterpret_cast<const char*>(payload.data()) + props_at, r.pos() - props_at);
  out->headers = args[kPropHeaders] ? std::move(args[kPropHeaders]->table) : FieldTable{};
  out->delivery_mode = args[kPropDeliveryMode] ? static_cast<uint8_t>(args[kPropDeliveryMode]->num) : 0;
  out->expiration.reset();
  if (args[kPropExpiration]) out->expiration = std::move(args[kPropExpiration]->str);
  out->reply_to.reset();
  if (args[kPropReplyTo]) out->reply_to = std::move(args[kPropReplyTo]->str);
  return true;
}

bool decode_properties(std::string_view blob, PropertyArgs* out) {
  Reader r(std::as_bytes(std::span<const char>(blob.data(), blob.size())));
  return read_properties(r, out) && r.left() == 0;
}

std::string encode_properties(const PropertyArgs& p) {
  std::string out;
  Writer w(out);
  uint16_t flags = 0;
  for (std::size_t i = 0; i < p.size(); ++i)
    if (p[i]) flags = static_cast<uint16_t>(flags | (1U << (15 - i)));
  w.u16(flags);
  for (std::size_t i = 0; i < p.size(); ++i)
    if (p[i]) write_field(w, kBasicProperties[i].kind, *p[i]);
  return out;
}

std::string encode_properties(const BasicProperties& p) {
  std::string out;
  Writer w(out);
  uint16_t flags = 0;
  std::vector<const Arg*> vals(std::size(kBasicProperties), nullptr);
  for (const auto& [name, arg] : p.set) {
    for (std::size_t i = 0; i < std::size(kBasicProperties); ++i) {
      if (kBasicProperties[i].name != name) continue;
      flags = static_cast<uint16_t>(flags | (1U << (15 - i)));
      vals[i] = &arg;
    }
  }
  w.u16(flags);
  for (std::size_t i = 0; i < vals.size(); ++i)
    if (vals[i]) write_field(w, kBasicProperties[i].kind, *vals[i]);
  return out;
}

void encode_content(uint16_t channel, uint16_t class_id, std::string_view properties, std::string_view body,
                    uint32_t frame_max_bytes, std::string& out) {
  Writer w(out);
  w.u8(kFrameHeader);
  w.u16(channel);
  w.u32(static_cast<uint32_t>(12 + properties.size()));
  w.u16(class_id);
  w.u16(0);
  w.u64(body.size());
  w.raw(properties);
  w.u8(kFrameEnd);
  const std::size_t chunk = std::max<std::size_t>(frame_max_bytes, kFrameMinSizeBytes) - kFrameOverheadBytes;
  for (std::size_t at = 0; at < body.size(); at += chunk) {
    std::string_view part = body.substr(at, chunk);
    w.u8(kFrameBody);
    w.u16(channel);
    w.u32(static_cast<uint32_t>(part.size()));
    w.raw(part);
    w.u8(kFrameEnd);
  }
}

void encode_heartbeat(std::string& out) {
  Writer w(out);
  w.u8(kFrameHeartbeat);
  w.u16(0);
  w.u32(0);
  w.u8(kFrameEnd);
}

}  // namespace sluice::amqp
