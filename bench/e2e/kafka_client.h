#pragma once
// A lean, blocking Kafka protocol client for sluice-bench, built on the project's codec. One
// KafkaConn = one TCP connection; requests can be pipelined (send_request returns the
// correlation id, read_frame returns responses in request order as Kafka requires). Only
// non-flexible API versions are used (Metadata v7, CreateTopics v4, ListOffsets v5, Produce v7,
// Fetch v11), so every response header is just the 4-byte correlation id.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "alloc/iobuf.h"
#include "engine/kafka/codec/kafka_codec.h"

namespace sluice::bench {

int64_t mono_ns() noexcept;  // CLOCK_MONOTONIC
int64_t wall_ms() noexcept;  // CLOCK_REALTIME in ms (record timestamps)

class KafkaConn {
 public:
  KafkaConn() = default;
  ~KafkaConn();
  KafkaConn(const KafkaConn&) = delete;
  KafkaConn& operator=(const KafkaConn&) = delete;

  // host:port; TCP_NODELAY; false (and `err`) on failure.
  bool connect(const std::string& host_port, std::string* err);
  void close();
  // spin = receive with MSG_DONTWAIT in a loop instead of blocking (a core per connection).
  void set_spin(bool spin) { spin_ = spin; }
  int fd() const { return fd_; }

  // Sends a whole frame (size prefix included) from its fragments with sendmsg.
  bool send_iobuf(const alloc::IoBuf& frame);
  template <class M>
  int32_t send_request(int16_t version, const M& body) {
    int32_t corr = next_corr_++;
    alloc::IoBuf f = kafka::encode_request_frame(writer_, version, corr, std::string("sluice-bench"), body);
    return send_iobuf(f) ? corr : -1;
  }
  // Reads one response frame (without the size prefix) into an internal buffer; the span stays
  // valid until the next read_frame. Empty span on EOF/error.
  std::span<const std::byte> read_frame();

  // Request + response in one call (admin paths). false on I/O or decode error.
  template <class Req, class Resp>
  bool call(int16_t version, const Req& req, Resp& resp, std::string* err) {
    int32_t corr = send_request(version, req);
    if (corr < 0) return fail(err, "send failed");
    auto f = read_frame();
    if (f.empty()) return fail(err, "connection closed");
    kafka::Reader r(f);
    int32_t got = r.read_int<int32_t>();
    if (got != corr) return fail(err, "correlation id mismatch");
    auto d = kafka::decode(r, version, resp);
    if (!d.ok()) return fail(err, "decode failed");
    return true;
  }

 private:
  static bool fail(std::string* err, const char* what) {
    if (err) *err = what;
    return false;
  }
  bool read_exact(std::byte* p, std::size_t n);

  int fd_ = -1;
  bool spin_ = false;
  int32_t next_corr_ = 1;
  kafka::Writer writer_;
  std::vector<std::byte> rbuf_;
};

struct TopicInfo {
  int32_t partitions = 0;
  int16_t error_code = 0;
};

// CreateTopics v4 (num_partitions, replication 1, configs "k=v"); TOPIC_ALREADY_EXISTS (36) is
// returned as-is. Returns the topic error code, or -1 on I/O failure (err set).
int create_topic(KafkaConn& c, const std::string& topic, int32_t partitions, const std::vector<std::string>& configs,
                 std::string* err);
// Metadata v7 for one topic; waits up to timeout_ms for every partition to have a leader.
bool wait_topic_ready(KafkaConn& c, const std::string& topic, int32_t partitions, int timeout_ms, std::string* err);
// ListOffsets v5 latest offset of each partition 0..n-1.
bool latest_offsets(KafkaConn& c, const std::string& topic, int32_t partitions, std::vector<int64_t>& out,
                    std::string* err);

// Benchmark payload header, at the start of every record value (host byte order).
struct PayloadHeader {
  uint32_t magic;  // kPayloadMagic
  uint32_t partition;
  uint64_t seq;         // per-partition sequence, 0, 1, 2, ...
  int64_t intended_ns;  // CLOCK_MONOTONIC intended send time (open loop)
};
inline constexpr uint32_t kPayloadMagic = 0x534c4342;  // "SLCB"
inline constexpr std::size_t kMinPayload = sizeof(PayloadHeader);

// Appends one uncompressed RecordBatch v2 of `n` records (null keys, `size`-byte values whose
// headers are given by `hdr(i, PayloadHeader&)`) to `out`. Producer id -1 (not idempotent).
class BatchWriter {
 public:
  void begin(std::vector<std::byte>& out, int64_t base_ts_ms);
  void add(std::vector<std::byte>& out, const PayloadHeader& h, std::size_t size);
  void finish(std::vector<std::byte>& out);

 private:
  std::size_t start_ = 0;
  int32_t count_ = 0;
  int64_t base_ts_ = 0;
};

// Walks the records of the batches in `bytes` (a fetch response's records): calls
// fn(partition_header, last_offset_of_batch) for each record value that carries a PayloadHeader;
// returns the next fetch offset (last offset of the last whole batch + 1), or `from` if none.
// A trailing partial batch is ignored, as Kafka clients do. bad_crc counts CRC failures.
template <class Fn>
int64_t walk_records(std::span<const std::byte> bytes, int64_t from, Fn&& fn, uint64_t* bad_crc);

}  // namespace sluice::bench

#include "bench/e2e/kafka_client_inl.h"
