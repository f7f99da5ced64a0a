#include <algorithm>

#include "engine/kafka/codec/frame.h"
#include "engine/kafka/codec/wire.h"

namespace sluice::kafka {

// ---- Records ----
bool operator==(const Records& a, const Records& b) {
  if (a.is_null != b.is_null || a.size() != b.size()) return false;
  auto bytes_of = [](const Records& r) -> std::vector<std::byte> {
    if (!r.data.empty()) return r.data.linearize();
    return {r.view.begin(), r.view.end()};
  };
  if (a.data.empty() && b.data.empty()) return std::equal(a.view.begin(), a.view.end(), b.view.begin(), b.view.end());
  return bytes_of(a) == bytes_of(b);
}

// ---- Writer ----
alloc::BufferRef Writer::take_free_chunk() {
  for (auto& s : spare_)
    if (s && s->refs() == 1) return std::move(s);
  return {};
}

void Writer::grow(std::size_t n) {
  flush_pending();
  // Every byte written so far is in out_ (or was handed over by finish()): the current chunk can
  // be rewritten from its start once no IoBuf refers to it any more.
  if (n <= chunk_bytes_ && chunk_ && chunk_->refs() == 1 && chunk_->capacity() == chunk_bytes_) {
    pending_ = pos_ = chunk_->data();
    end_ = pos_ + chunk_bytes_;
    return;
  }
  alloc::BufferRef next;
  if (n <= chunk_bytes_) next = take_free_chunk();
  if (chunk_ && chunk_->capacity() == chunk_bytes_) {
    // Park the current chunk (still shared by messages in flight) for later reuse.
    std::size_t slot = kSpareChunks;
    for (std::size_t i = 0; i < kSpareChunks; ++i)
      if (!spare_[i]) {
        slot = i;
        break;
      }
    if (slot == kSpareChunks) {
      slot = spare_next_;
      spare_next_ = (spare_next_ + 1) % kSpareChunks;
    }
    spare_[slot] = std::move(chunk_);
  }
  if (!next) next = alloc::BufferRef(alloc::Buffer::allocate(std::max(chunk_bytes_, n)));
  chunk_ = std::move(next);
  pending_ = pos_ = chunk_->data();
  end_ = pos_ + chunk_->capacity();
}

void Writer::flush_pending() {
  if (pos_ == pending_) return;
  std::size_t len = static_cast<std::size_t>(pos_ - pending_);
  out_.append_shared(chunk_, static_cast<std::size_t>(pending_ - chunk_->data()), len);
  flushed_ += len;
  pending_ = pos_;
}

void Writer::write_raw(std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    if (pos_ == end_) grow(std::min(bytes.size(), chunk_bytes_));
    std::size_t n = std::min(bytes.size(), static_cast<std::size_t>(end_ - pos_));
    std::memcpy(pos_, bytes.data(), n);
    pos_ += n;
    bytes = bytes.subspan(n);
  }
}

void Writer::splice(const alloc::IoBuf& data) {
  if (data.empty()) return;
  flush_pending();
  for (const auto& f : data.fragments()) {
    out_.append_shared(f.buffer, f.offset, f.length);
    flushed_ += f.length;
  }
}

alloc::IoBuf Writer::finish() {
  flush_pending();
  alloc::IoBuf out = std::move(out_);
  out_.clear();
  flushed_ = 0;
  return out;
}

// ---- headers and frames ----
Result<RequestHeader> decode_request_header(Reader& r) {
  int16_t key = 0, version = 0;
  if (!r.peek_int<int16_t>(0, key) || !r.peek_int<int16_t>(2, version)) {
    r.fail("truncated: request header");
    return r.error();
  }
  int16_t hv = request_header_version(key, version);
  RequestHeader h;
  detail::decode_struct(r, Ctx{hv, RequestHeader::kFlexibleVersions.contains(hv)}, h);
  if (!r.ok()) return r.error();
  h.header_version = hv;
  return h;
}

void encode_response_header(Writer& w, int16_t header_version, int32_t correlation_id) {
  ResponseHeader h;
  h.correlation_id = correlation_id;
  encode(w, header_version, h);
}

void encode_request_header(Writer& w, const RequestHeader& h) { encode(w, h.header_version, h); }

Result<RequestHeader> decode_request_frame_discard(std::span<const std::byte> frame) {
  Reader r(frame);
  auto h = decode_request_header(r);
  if (!h) return h.error();
  Result<void> body = make_error(ENOTSUP, "unknown api key");
  visit_api(h->request_api_key, [&](auto api) {
    typename decltype(api)::Request req;
    body = decode(r, h->request_api_version, req);
  });
  if (!body) return body.error();
  if (r.remaining() != 0) return make_error(kDecodeErrno, "trailing bytes after request body");
  return h;
}

}  // namespace sluice::kafka
