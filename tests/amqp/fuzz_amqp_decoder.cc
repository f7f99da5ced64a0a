// libFuzzer: arbitrary bytes as a stream of AMQP frames; every method and content header is
// decoded and every decoded method re-encoded and decoded again (it must round trip); content
// properties are decoded one by one and re-encoded as the dead-letter rewrite does.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "engine/amqp/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sluice::amqp;
  std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  while (!in.empty()) {
    Frame f;
    std::size_t used = 0;
    DecodeError err;
    if (parse_frame(in, 131072, &f, &used, &err) != FrameStatus::kOk) break;
    in = in.subspan(used);
    if (f.type == kFrameMethod) {
      Method m;
      if (decode_method(f.payload, &m, &err)) {
        std::string out;
        encode_method_payload(m, out);
        Method again;
        if (!decode_method(std::as_bytes(std::span<const char>(out.data(), out.size())), &again, &err)) std::abort();
        if (again.def != m.def) std::abort();
      }
    } else if (f.type == kFrameHeader) {
      ContentHeader h;
      if (decode_content_header(f.payload, &h, &err)) {
        // The stored properties are rewritten for dead-lettered deliveries: they must decode
        // again, and the rewrite must decode too.
        PropertyArgs p;
        if (!decode_properties(h.properties, &p)) std::abort();
        std::string again = encode_properties(p);
        if (!decode_properties(again, &p)) std::abort();
      }
    }
  }
  return 0;
}
