#pragma once
// Producer: send() copies the record into the open batch of its partition and returns; a sender
// thread owned by the producer ships batches when they are full (batch_size_bytes) or have
// waited linger_ms, retries retriable errors (refreshing metadata), and calls the callbacks on
// that thread. Thread-safe: any thread may call send()/flush().
#include <functional>
#include <future>
#include <memory>

#include "sluice/client/error.h"
#include "sluice/client/types.h"

namespace sluice::client {

// Called once per record on the producer's sender thread. Keep it short: it delays other sends.
using DeliveryCallback = std::function<void(const Result<RecordMetadata>&)>;

struct ProducerStats {
  uint64_t records_sent = 0;
  uint64_t batches_sent = 0;
  uint64_t requests_sent = 0;
  uint64_t retries = 0;
  uint64_t errors = 0;
  // Heap allocations made on the sender thread so far (counted by Sluice's allocator hooks; 0
  // when the application replaced operator new itself).
  uint64_t sender_thread_allocations = 0;
};

class Producer {
 public:
  // Connects to the bootstrap servers (and, with idempotence, gets a producer id) before
  // returning.
  static Result<std::unique_ptr<Producer>> create(const ProducerConfig& cfg);
  ~Producer();  // close(): flushes for up to request_timeout_ms
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Callback form. Errors that are known at once (unknown topic, full buffer, closed) are
  // returned and the callback is not called.
  Status send(const ProducerRecord& rec, DeliveryCallback cb);
  // Future form.
  std::future<Result<RecordMetadata>> send(const ProducerRecord& rec);

  // Ships everything buffered now and waits until every record sent before has its callback.
  Status flush(int timeout_ms = 60000);
  void close(int timeout_ms = 30000);

  int64_t producer_id() const noexcept;
  ProducerStats stats() const;
  // Partition count of a topic (fetches metadata if needed).
  Result<int32_t> partition_count(std::string_view topic);

  struct Impl;

 private:
  explicit Producer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::client
