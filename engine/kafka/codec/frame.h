#pragma once
// Frames: a Kafka request or response is a 4-byte big-endian size followed by a header and a body.
//
// Server side:
//   Reader r(frame);                        // frame = the bytes after the size prefix
//   auto h = decode_request_header(r);      // picks header v1/v2 from the api key and version
//   ProduceRequest req;
//   auto ok = decode(r, h->request_api_version, req);
//   ...
//   Writer w;
//   alloc::IoBuf out = encode_response_frame(w, h->correlation_id, h->request_api_version, resp);
#include <cstdint>
#include <span>

#include "alloc/iobuf.h"
#include "alloc/result.h"
#include "engine/kafka/codec/codec.h"
#include "engine/kafka/codec/headers.h"
#include "engine/kafka/codec/registry.h"

namespace sluice::kafka {

// Reads the request header; header_version is set to the version used (1 or 2).
Result<RequestHeader> decode_request_header(Reader& r);

void encode_response_header(Writer& w, int16_t header_version, int32_t correlation_id);
void encode_request_header(Writer& w, const RequestHeader& h);  // uses h.header_version

namespace detail {
inline void store_be32(std::byte* p, uint32_t v) noexcept {
  v = byteswap_be(v);
  std::memcpy(p, &v, 4);
}
}  // namespace detail

// Size prefix + response header (version chosen from M's api key and `version`) + body.
template <KafkaMessage M>
alloc::IoBuf encode_response_frame(Writer& w, int32_t correlation_id, int16_t version, const M& body) {
  std::byte* size = w.reserve(4);
  std::size_t start = w.size();
  encode_response_header(w, response_header_version(M::kApiKey, version), correlation_id);
  encode(w, version, body);
  detail::store_be32(size, static_cast<uint32_t>(w.size() - start));
  return w.finish();
}

// Size prefix + request header + body (the client side, tests, tools).
template <KafkaMessage M>
alloc::IoBuf encode_request_frame(Writer& w, int16_t version, int32_t correlation_id,
                                  std::optional<std::string> client_id, const M& body) {
  RequestHeader h;
  h.request_api_key = M::kApiKey;
  h.request_api_version = version;
  h.correlation_id = correlation_id;
  h.client_id = std::move(client_id);
  h.header_version = request_header_version(M::kApiKey, version);
  std::byte* size = w.reserve(4);
  std::size_t start = w.size();
  encode_request_header(w, h);
  encode(w, version, body);
  detail::store_be32(size, static_cast<uint32_t>(w.size() - start));
  return w.finish();
}

// Decodes a whole request frame (without the size prefix): header, then the body of the api and
// version it names, which must end exactly at the end of the frame. The decoded body is thrown
// away; for fuzzing, corpus checks and tools. ENOTSUP: api key or version not defined.
Result<RequestHeader> decode_request_frame_discard(std::span<const std::byte> frame);

}  // namespace sluice::kafka
