#pragma once
// Shared by the libFuzzer target and the always-on mutation test: decode a request frame (header,
// then the body for its api/version); if that succeeds, re-encode the decoded request and check
// that it decodes again to an equal value (the codec is consistent on whatever it accepts).
#include <cstddef>
#include <cstdint>
#include <span>

#include "alloc/assert.h"
#include "engine/kafka/codec/kafka_codec.h"

namespace sluice::kafka::fuzz {

inline bool decode_and_check(std::span<const std::byte> frame) {
  Reader r(frame);
  auto h = decode_request_header(r);
  if (!h) return false;
  bool ok = false;
  visit_api(h->request_api_key, [&](auto api) {
    using Req = typename decltype(api)::Request;
    Req req;
    if (!decode(r, h->request_api_version, req).ok()) return;
    ok = true;
    Writer w;
    encode(w, h->request_api_version, req);
    auto bytes = w.finish().linearize();
    SLUICE_ASSERT(bytes.size() == encoded_size(h->request_api_version, req));
    Req again;
    Reader r2(bytes);
    SLUICE_ASSERT_MSG(decode(r2, h->request_api_version, again).ok(), "re-encoded request does not decode");
    SLUICE_ASSERT_MSG(r2.remaining() == 0, "re-encoded request has trailing bytes");
    SLUICE_ASSERT_MSG(again == req, "re-encoded request decodes to a different value");
  });
  return ok;
}

}  // namespace sluice::kafka::fuzz
