#include "engine/amqp/codec.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::amqp {
namespace {

std::span<const std::byte> bytes(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

// Every row of the method table round trips through the generic encoder and decoder with every
// argument set to a non-default value.
TEST(AmqpCodec, EveryMethodRoundTrips) {
  for (const MethodDef& def : kMethods) {
    Method m = make_method(def.id);
    for (std::size_t i = 0; i < def.fields.size(); ++i) {
      const FieldDef& f = def.fields[i];
      switch (f.kind) {
        case FieldKind::kBit: m.args[i].num = i % 2; break;
        case FieldKind::kOctet: m.args[i].num = 200; break;
        case FieldKind::kShort: m.args[i].num = 60000; break;
        case FieldKind::kLong: m.args[i].num = 4000000000ULL; break;
        case FieldKind::kLongLong:
        case FieldKind::kTimestamp: m.args[i].num = 0x0102030405060708ULL; break;
        case FieldKind::kShortStr: m.args[i].str = std::string(f.name); break;
        case FieldKind::kLongStr: m.args[i].str = std::string(300, 'x'); break;
        case FieldKind::kTable: m.args[i].table = {{"k", FieldValue::str("v")}, {"n", FieldValue::integer(-5)}}; break;
      }
    }
    std::string frame;
    encode_method_frame(7, m, frame);
    Frame f;
    std::size_t used = 0;
    DecodeError err;
    ASSERT_EQ(parse_frame(bytes(frame), 131072, &f, &used, &err), FrameStatus::kOk) << def.name;
    EXPECT_EQ(used, frame.size());
    EXPECT_EQ(f.channel, 7);
    Method back;
    ASSERT_TRUE(decode_method(f.payload, &back, &err)) << def.name << ": " << err.text;
    ASSERT_EQ(back.def, m.def);
    for (std::size_t i = 0; i < def.fields.size(); ++i) {
      EXPECT_EQ(back.args[i].num, m.args[i].num) << def.name << "." << def.fields[i].name;
      EXPECT_EQ(back.args[i].str, m.args[i].str) << def.name << "." << def.fields[i].name;
      EXPECT_EQ(back.args[i].table.size(), m.args[i].table.size()) << def.name << "." << def.fields[i].name;
    }
  }
}

TEST(AmqpCodec, BitsPackIntoOneOctet) {
  Method m = make_method(MethodId::kQueueDeclare);
  m.set("queue", "q").set("durable", 1).set("auto-delete", 1);
  std::string payload;
  encode_method_payload(m, payload);
  // class 50, method 10, reserved short, shortstr "q", one octet of bits, empty table.
  ASSERT_EQ(payload.size(), 4U + 2 + 2 + 1 + 4);
  EXPECT_EQ(static_cast<uint8_t>(payload[8]), 0b01010);
}

TEST(AmqpCodec, FieldTableTypesRoundTrip) {
  FieldValue arr;
  arr.tag = 'A';
  arr.array = {FieldValue::integer(1), FieldValue::str("two")};
  FieldValue dec;
  dec.tag = 'D';
  dec.i = 2;
  dec.u = 12345;
  FieldValue dbl;
  dbl.tag = 'd';
  dbl.d = 1.5;
  FieldValue ts;
  ts.tag = 'T';
  ts.i = 1700000000;
  FieldValue v;
  v.tag = 'V';
  FieldTable t = {{"b", FieldValue::boolean(true)},
                  {"a", arr},
                  {"dec", dec},
                  {"d", dbl},
                  {"ts", ts},
                  {"void", v},
                  {"nested", FieldValue::nested({{"x", FieldValue::str("y")}})}};
  std::string out;
  Writer w(out);
  w.table(t);
  Reader r(bytes(out));
  FieldTable back = r.table();
  ASSERT_FALSE(r.failed());
  ASSERT_EQ(back.size(), t.size());
  EXPECT_EQ(back[1].value.array[1].s, "two");
  EXPECT_EQ(back[2].value.u, 12345U);
  EXPECT_EQ(back[3].value.d, 1.5);
  EXPECT_EQ(back[4].value.i, 1700000000);
  EXPECT_EQ(back[5].value.tag, 'V');
  EXPECT_EQ(back[6].value.table[0].value.s, "y");
}

TEST(AmqpCodec, PropertiesRoundTrip) {
  BasicProperties p;
  Arg ct, hdr, dm, corr, reply_to, ts;
  ct.str = "application/json";
  hdr.table = {{"x-retry", FieldValue::integer(3)}};
  dm.num = 2;
  corr.str = "c-1";
  reply_to.str = "amq.gen-abc";
  ts.num = 1700000000;
  p.set = {{"content-type", ct},     {"headers", hdr},       {"delivery-mode", dm},
           {"correlation-id", corr}, {"reply-to", reply_to}, {"timestamp", ts}};
  std::string props = encode_properties(p);
  std::string frames;
  encode_content(3, kClassBasic, props, std::string(10000, 'b'), 4096, frames);
  Frame f;
  std::size_t used = 0;
  DecodeError err;
  ASSERT_EQ(parse_frame(bytes(frames), 4096, &f, &used, &err), FrameStatus::kOk);
  ASSERT_EQ(f.type, kFrameHeader);
  ContentHeader h;
  ASSERT_TRUE(decode_content_header(f.payload, &h, &err)) << err.text;
  EXPECT_EQ(h.body_size, 10000U);
  EXPECT_EQ(h.properties, props);
  EXPECT_EQ(h.delivery_mode, 2);
  ASSERT_EQ(h.headers.size(), 1U);
  // Body split into frames of at most frame-max.
  std::size_t body = 0, frames_seen = 0;
  std::span<const std::byte> rest = bytes(frames).subspan(used);
  while (!rest.empty()) {
    ASSERT_EQ(parse_frame(rest, 4096, &f, &used, &err), FrameStatus::kOk);
    EXPECT_EQ(f.type, kFrameBody);
    EXPECT_LE(used, 4096U);
    body += f.payload.size();
    frames_seen++;
    rest = rest.subspan(used);
  }
  EXPECT_EQ(body, 10000U);
  EXPECT_EQ(frames_seen, 3U);
}

TEST(AmqpCodec, PropertyListDecodesAndReencodes) {
  BasicProperties p;
  Arg ct, hdr, exp, app;
  ct.str = "text/plain";
  hdr.table = {{"k", FieldValue::str("v")}};
  exp.str = "1500";
  app.str = "svc";
  p.set = {{"content-type", ct}, {"headers", hdr}, {"expiration", exp}, {"app-id", app}};
  const std::string props = encode_properties(p);
  PropertyArgs args;
  ASSERT_TRUE(decode_properties(props, &args));
  EXPECT_EQ(encode_properties(args), props);  // byte for byte
  ASSERT_TRUE(args[kPropExpiration]);
  EXPECT_EQ(args[kPropExpiration]->str, "1500");
  // The dead-letter rewrite: expiration gone, a header added, the rest unchanged.
  args[kPropExpiration].reset();
  args[kPropHeaders]->table.push_back({"x-first-death-reason", FieldValue::str("expired")});
  PropertyArgs again;
  ASSERT_TRUE(decode_properties(encode_properties(args), &again));
  EXPECT_FALSE(again[kPropExpiration]);
  EXPECT_EQ(again[kPropHeaders]->table.size(), 2U);
  EXPECT_EQ(again[0]->str, "text/plain");
  // The content header exposes the expiration for TTL.
  std::string frames;
  encode_content(1, kClassBasic, props, "", 4096, frames);
  Frame f;
  std::size_t used = 0;
  DecodeError err;
  ASSERT_EQ(parse_frame(bytes(frames), 4096, &f, &used, &err), FrameStatus::kOk);
  ContentHeader h;
  ASSERT_TRUE(decode_content_header(f.payload, &h, &err));
  EXPECT_EQ(h.expiration, std::optional<std::string>("1500"));
  // Truncated or trailing bytes are refused.
  EXPECT_FALSE(decode_properties(std::string_view(props).substr(0, props.size() - 1), &args));
  EXPECT_FALSE(decode_properties(props + "x", &args));
}

TEST(AmqpCodec, HostileFrames) {
  Frame f;
  std::size_t used = 0;
  DecodeError err;
  std::string bad_type("\x09\x00\x00\x00\x00\x00\x00\xCE", 8);
  EXPECT_EQ(parse_frame(bytes(bad_type), 4096, &f, &used, &err), FrameStatus::kError);
  EXPECT_EQ(err.code, reply::kFrameError);
  std::string too_big("\x01\x00\x01\x00\x01\x00\x00", 7);
  EXPECT_EQ(parse_frame(bytes(too_big), 4096, &f, &used, &err), FrameStatus::kError);
  EXPECT_EQ(err.code, reply::kFrameError);
  std::string no_end("\x08\x00\x00\x00\x00\x00\x00\x00", 8);
  EXPECT_EQ(parse_frame(bytes(no_end), 4096, &f, &used, &err), FrameStatus::kError);
  std::string partial("\x01\x00\x01\x00\x00\x00\x10", 7);
  EXPECT_EQ(parse_frame(bytes(partial), 4096, &f, &used, &err), FrameStatus::kNeedMore);

  Method m;
  std::string unknown("\x00\x63\x00\x01", 4);  // class 99
  EXPECT_FALSE(decode_method(bytes(unknown), &m, &err));
  EXPECT_EQ(err.code, reply::kNotImplemented);
  std::string truncated("\x00\x32\x00\x0A\x00\x00\x05qu", 9);  // queue.declare, shortstr cut
  EXPECT_FALSE(decode_method(bytes(truncated), &m, &err));
  EXPECT_EQ(err.code, reply::kSyntaxError);
  // A table whose length runs past the payload.
  Method decl = make_method(MethodId::kQueueDeclare);
  std::string p;
  encode_method_payload(decl, p);
  p[p.size() - 1] = 0x10;
  EXPECT_FALSE(decode_method(bytes(p), &m, &err));
  EXPECT_EQ(err.code, reply::kSyntaxError);
  // Unknown field type tag inside a table.
  std::string t("\x00\x00\x00\x04\x01k\x5A\x00", 8);
  Reader r(bytes(t));
  (void)r.table();
  EXPECT_TRUE(r.failed());
  // Deep nesting is refused, not recursed into without bound.
  std::string deep;
  for (int i = 0; i < 30; ++i)
    deep = std::string("\x01k", 2) + "F" + std::string(1, '\0') + std::string(1, '\0') + std::string(1, '\0') +
           std::string(1, static_cast<char>(deep.size())) + deep;
  std::string top = std::string(3, '\0') + std::string(1, static_cast<char>(deep.size())) + deep;
  Reader r2(bytes(top));
  (void)r2.table();
  EXPECT_TRUE(r2.failed());
}

TEST(AmqpCodec, EveryTruncationOfEveryMethodFailsCleanly) {
  for (const MethodDef& def : kMethods) {
    Method m = make_method(def.id);
    for (std::size_t i = 0; i < def.fields.size(); ++i)
      if (def.fields[i].kind == FieldKind::kShortStr) m.args[i].str = "abc";
    std::string p;
    encode_method_payload(m, p);
    for (std::size_t n = 0; n < p.size(); ++n) {
      Method back;
      DecodeError err;
      bool ok = decode_method(bytes(p.substr(0, n)), &back, &err);
      if (!ok) {
        EXPECT_TRUE(err.code == reply::kFrameError || err.code == reply::kSyntaxError) << def.name;
      }
    }
  }
}

}  // namespace
}  // namespace sluice::amqp
