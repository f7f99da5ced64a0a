#pragma once
// The generic AMQP 0-9-1 codec: frames, every method through its row in methods.h, content
// headers with the basic properties. Decoding is bounds-checked everywhere and reports the AMQP
// reply code RabbitMQ 3.x would close with (501 frame error, 502 syntax error, 540 not
// implemented, ...); it never asserts on input.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "engine/amqp/methods.h"
#include "engine/amqp/wire.h"

namespace sluice::amqp {

namespace reply {
inline constexpr uint16_t kSuccess = 200, kContentTooLarge = 311, kNoRoute = 312, kConnectionForced = 320,
                          kInvalidPath = 402, kAccessRefused = 403, kNotFound = 404, kResourceLocked = 405,
                          kPreconditionFailed = 406, kFrameError = 501, kSyntaxError = 502, kCommandInvalid = 503,
                          kChannelError = 504, kUnexpectedFrame = 505, kResourceError = 506, kNotAllowed = 530,
                          kNotImplemented = 540, kInternalError = 541;
}  // namespace reply

inline constexpr uint8_t kFrameMethod = 1, kFrameHeader = 2, kFrameBody = 3, kFrameHeartbeat = 8;
inline constexpr uint8_t kFrameEnd = 0xCE;
inline constexpr std::size_t kFrameOverheadBytes = 8;  // type, channel, size, end octet
inline constexpr uint32_t kFrameMinSizeBytes = 4096;   // spec: frame-max can never be below it
inline constexpr char kProtocolHeader[8] = {'A', 'M', 'Q', 'P', 0, 0, 9, 1};

struct DecodeError {
  uint16_t code = 0;
  std::string text;
};

struct Frame {
  uint8_t type = 0;
  uint16_t channel = 0;
  std::span<const std::byte> payload;
};

enum class FrameStatus : uint8_t { kNeedMore, kOk, kError };
// Parses one frame at the start of `buf`. frame_max_bytes is the whole frame's limit (header and
// end octet included, as negotiated by tune). kOk sets `consumed`.
FrameStatus parse_frame(std::span<const std::byte> buf, uint32_t frame_max_bytes, Frame* frame, std::size_t* consumed,
                        DecodeError* err);

// One argument of a method; which member is used follows the field's kind.
struct Arg {
  uint64_t num = 0;  // octet, short, long, longlong, timestamp, bit (0/1)
  std::string str;   // shortstr, longstr
  FieldTable table;
};

struct Method {
  const MethodDef* def = nullptr;
  std::vector<Arg> args;  // one per def->fields, in order

  MethodId id() const noexcept { return def->id; }
  // Lookups by field name; a name the method does not have is a programming error (asserts).
  uint64_t num(std::string_view field) const;
  bool bit(std::string_view field) const { return num(field) != 0; }
  const std::string& str(std::string_view field) const;
  const FieldTable& table(std::string_view field) const;
  template <typename T>
  requires std::is_integral_v<T> Method& set(std::string_view field, T v) {
    return set_num(field, static_cast<uint64_t>(v));
  }
  Method& set_num(std::string_view field, uint64_t v);
  Method& set(std::string_view field, std::string v);
  Method& set(std::string_view field, const char* v) { return set(field, std::string(v)); }
  Method& set(std::string_view field, FieldTable v);

 private:
  std::size_t index_of(std::string_view field) const;
};

Method make_method(MethodId id);  // every argument zero / empty
// Decodes a method frame's payload. Errors: 540 for an unknown class or method, 502 for
// arguments that do not parse (truncated, bad table, trailing bytes are tolerated as RabbitMQ does).
bool decode_method(std::span<const std::byte> payload, Method* out, DecodeError* err);
// Appends one method frame. Shortstr arguments longer than 255 bytes are cut (reply texts).
void encode_method_frame(uint16_t channel, const Method& m, std::string& out);
void encode_method_payload(const Method& m, std::string& out);

// A content header: the basic properties are kept as their raw flags + list bytes (`properties`)
// so they round trip exactly; headers and delivery mode are decoded for routing.
struct ContentHeader {
  uint16_t class_id = 0;
  uint64_t body_size = 0;
  std::string properties;
  FieldTable headers;
  uint8_t delivery_mode = 0;
  std::optional<std::string> expiration;
  std::optional<std::string> reply_to;
};
bool decode_content_header(std::span<const std::byte> payload, ContentHeader* out, DecodeError* err);
// Builds a properties blob from named values (tests, server-built messages).
struct BasicProperties {
  std::vector<std::pair<std::string_view, Arg>> set;  // names from kBasicProperties
};
std::string encode_properties(const BasicProperties& p);

// The basic properties one by one (nullopt: absent), indexed like kBasicProperties; for
// rewriting a stored message's properties (dead-letter headers).
using PropertyArgs = std::array<std::optional<Arg>, std::size(kBasicProperties)>;
inline constexpr std::size_t kPropHeaders = 2, kPropDeliveryMode = 3, kPropReplyTo = 6, kPropExpiration = 7;
static_assert(kBasicProperties[kPropHeaders].name == std::string_view("headers"));
static_assert(kBasicProperties[kPropExpiration].name == std::string_view("expiration"));
static_assert(kBasicProperties[kPropReplyTo].name == std::string_view("reply-to"));
bool decode_properties(std::string_view blob, PropertyArgs* out);
std::string encode_properties(const PropertyArgs& p);

// Appends the header frame and body frames (each at most frame_max_bytes in all) of one message.
void encode_content(uint16_t channel, uint16_t class_id, std::string_view properties, std::string_view body,
                    uint32_t frame_max_bytes, std::string& out);
void encode_heartbeat(std::string& out);

}  // namespace sluice::amqp
