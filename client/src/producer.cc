// Producer: records go into per-partition batches under one mutex (send() is a copy into a
// reused buffer); the sender thread owns the cluster connections and ships closed batches, one
// in flight per partition (so retries keep the order and idempotent sequences stay gapless).
#include "sluice/client/producer.h"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "alloc/alloc_counters.h"
#include "alloc/assert.h"
#include "client/src/cluster.h"
#include "client/src/records.h"
#include "sluice/client/partitioner.h"

namespace sluice::client {

using detail::mono_ms;
using detail::wall_ms;

namespace {
struct TopicState;
struct PartState;

struct Batch {
  std::vector<std::byte> buf;
  std::vector<DeliveryCallback> callbacks;
  std::vector<int64_t> timestamps;
  PartState* part = nullptr;
  Batch* next = nullptr;
  int32_t count = 0;
  int64_t base_ts_ms = 0;
  int64_t max_ts_ms = 0;
  int64_t created_ms = 0;
  int32_t base_sequence = -1;
  int attempts = 0;
  int64_t retry_at_ms = 0;
  std::size_t accounted_bytes = 0;
  bool finished = false;  // header and CRC written (and compressed)
};

struct PartState {
  TopicState* topic = nullptr;
  int32_t partition = 0;
  Batch* open = nullptr;
  Batch* ready_head = nullptr;
  Batch* ready_tail = nullptr;
  bool in_flight = false;
  int32_t next_sequence = 0;

  void push_back(Batch* b) {
    b->next = nullptr;
    if (ready_tail != nullptr) ready_tail->next = b;
    else ready_head = b;
    ready_tail = b;
  }
  void push_front(Batch* b) {
    b->next = ready_head;
    ready_head = b;
    if (ready_tail == nullptr) ready_tail = b;
  }
  Batch* pop_front() {
    Batch* b = ready_head;
    if (b != nullptr) {
      ready_head = b->next;
      if (ready_head == nullptr) ready_tail = nullptr;
      b->next = nullptr;
    }
    return b;
  }
};

struct TopicState {
  std::string name;
  bool known = false;
  int64_t error_at_ms = 0;  // when `error` was set: asked again after retry_backoff_ms
  Error error;              // metadata error (code kOk when none)
  std::vector<std::unique_ptr<PartState>> parts;
  int32_t sticky = -1;
  uint32_t round_robin = 0;
};
}  // namespace

struct Producer::Impl {
  explicit Impl(const ProducerConfig& c) : cfg(c), cluster(c) {}

  ProducerConfig cfg;
  detail::Cluster cluster;  // the sender thread's after create()

  mutable std::mutex mu;
  std::condition_variable wake_sender;
  std::condition_variable progress;  // metadata arrived, batches completed, buffer space
  std::unordered_map<std::string, std::unique_ptr<TopicState>, detail::StringHash, std::equal_to<>> topics;
  std::vector<std::string> wanted_topics;
  std::vector<Batch*> free_batches;
  std::vector<std::unique_ptr<Batch>> all_batches;
  std::size_t buffered_bytes = 0;
  uint64_t pending_records = 0;
  int flush_requests = 0;
  bool closing = false;
  bool stopped = false;
  bool delivery_abandoned = false;  // close() timed out: fail what is left
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  ProducerStats stats;
  std::thread sender;

  // Sender-thread state (no lock).
  std::vector<std::byte> scratch;
  std::vector<Batch*> drained;
  std::vector<Batch*> finished;
  std::vector<Batch*> abandoned;
  struct LeaderBatches {
    int32_t leader = -1;
    detail::Conn* conn = nullptr;
    int32_t corr = -1;
    int16_t version = -1;
    std::vector<Batch*> batches;
  };
  // Reused across requests (capacity kept) so a steady stream of requests allocates nothing.
  std::vector<LeaderBatches> by_leader;
  std::size_t leaders_used = 0;
  kafka::ProduceRequest request;
  kafka::ProduceResponse response;

  Status init_producer_id();
  Status send(const ProducerRecord& rec, DeliveryCallback&& cb);
  // The topic with metadata (waits for it up to `deadline`). TopicStates are never erased, so a
  // reference stays valid for the producer's life.
  Result<TopicState*> ready_topic(std::unique_lock<std::mutex>& lock, std::string_view name, int64_t deadline);
  Batch* new_batch(PartState& ps, int64_t ts);
  void close_open(PartState& ps);
  void run();
  void ship(std::vector<Batch*>& batches);
  void complete(Batch* b, int64_t base_offset, int64_t append_time, const Error* err);
  void requeue(Batch* b, const Error& err);
  void release(Batch* b);
  void apply_metadata(const std::vector<std::string>& names, const Status& st);
};

Status Producer::Impl::init_producer_id() {
  kafka::InitProducerIdRequest req;
  req.transactional_id = std::nullopt;  // idempotent only (an empty id is a different, invalid request)
  req.transaction_timeout_ms = 60000;
  Error last = make_error(Errc::kTimeout, "InitProducerId");
  const int64_t deadline = mono_ms() + cfg.request_timeout_ms;
  while (mono_ms() < deadline) {
    auto c = cluster.any();
    if (!c.ok()) return c.error();
    kafka::InitProducerIdResponse resp;
    auto st = (*c)->call(req, resp, cfg.request_timeout_ms);
    if (!st.ok()) {
      last = st.error();
      if (!last.retriable()) return last;
    } else if (resp.error_code != 0) {
      last = broker_error(resp.error_code, "InitProducerId");
      if (!last.retriable()) return last;
    } else {
      producer_id = resp.producer_id;
      producer_epoch = resp.producer_epoch;
      return {};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(cfg.retry_backoff_ms));
  }
  return last;
}

Batch* Producer::Impl::new_batch(PartState& ps, int64_t ts) {
  Batch* b = nullptr;
  if (!free_batches.empty()) {
    b = free_batches.back();
    free_batches.pop_back();
  } else {
    all_batches.push_back(std::make_unique<Batch>());
    b = all_batches.back().get();
    b->buf.reserve(cfg.batch_size_bytes + 1024);
    // Room for a batch of small records, so filling it does not grow these step by step.
    b->callbacks.reserve(cfg.batch_size_bytes / 64);
    b->timestamps.reserve(cfg.batch_size_bytes / 64);
  }
  b->buf.resize(detail::kBatchHeaderBytes);
  b->part = &ps;
  b->count = 0;
  b->base_ts_ms = ts;
  b->max_ts_ms = ts;
  b->created_ms = mono_ms();
  b->base_sequence = -1;
  b->attempts = 0;
  b->retry_at_ms = 0;
  b->accounted_bytes = 0;
  b->finished = false;
  ps.open = b;
  return b;
}

void Producer::Impl::close_open(PartState& ps) {
  Batch* b = ps.open;
  if (b == nullptr) return;
  ps.open = nullptr;
  ps.push_back(b);
  // Sticky partitioning (KIP-480): a null-key topic moves on once its batch is closed.
  if (ps.topic->sticky == ps.partition) ps.topic->sticky = -1;
}

Result<TopicState*> Producer::Impl::ready_topic(std::unique_lock<std::mutex>& lock, std::string_view name,
                                                int64_t deadline) {
  auto it = topics.find(name);
  if (it == topics.end()) {
    auto t = std::make_unique<TopicState>();
    t->name = std::string(name);
    it = topics.emplace(t->name, std::move(t)).first;
    wanted_topics.push_back(it->second->name);
    wake_sender.notify_one();
  }
  TopicState& t = *it->second;
  if (t.known && t.error.code != Errc::kOk && mono_ms() - t.error_at_ms >= cfg.retry_backoff_ms) {
    // Ask again: the topic may have been created meanwhile.
    t.known = false;
    t.error = Error{};
    wanted_topics.push_back(t.name);
    wake_sender.notify_one();
  }
  while (!t.known && !closing) {
    if (progress.wait_until(lock, std::chrono::steady_clock::now() + std::chrono::milliseconds(10)) ==
            std::cv_status::timeout &&
        mono_ms() >= deadline) {
      return make_error(Errc::kTimeout, "no metadata for topic " + t.name + " within max_block_ms");
    }
  }
  if (!t.known) return make_error(Errc::kClosed, "producer closed");
  if (t.error.code != Errc::kOk) return t.error;
  return &t;
}

Status Producer::Impl::send(const ProducerRecord& rec, DeliveryCallback&& cb) {
  std::unique_lock<std::mutex> lock(mu);
  if (closing) return make_error(Errc::kClosed, "producer closed");
  if (rec.topic.empty()) return make_error(Errc::kInvalidArgument, "empty topic name");
  const int64_t deadline = mono_ms() + cfg.max_block_ms;
  auto ready = ready_topic(lock, rec.topic, deadline);
  if (!ready.ok()) return ready.error();
  TopicState& t = **ready;
  const auto count = static_cast<int32_t>(t.parts.size());
  int32_t partition = rec.partition;
  if (partition >= count) {
    return make_error(Errc::kInvalidArgument,
                      "partition " + std::to_string(partition) + " of " + t.name + " does not exist");
  }
  if (partition < 0) {
    if (rec.key) {
      partition = murmur2_partition(*rec.key, count);
    } else {
      if (t.sticky < 0 || t.sticky >= count)
        t.sticky = static_cast<int32_t>(t.round_robin++ % static_cast<uint32_t>(count));
      partition = t.sticky;
    }
  }
  PartState& ps = *t.parts[static_cast<std::size_t>(partition)];
  const int64_t ts = rec.timestamp_ms >= 0 ? rec.timestamp_ms : wall_ms();
  Batch* b = ps.open;
  if (b != nullptr) {
    const std::size_t need = detail::record_size(rec, ts - b->base_ts_ms, b->count);
    if (b->buf.size() + need > cfg.batch_size_bytes && b->count > 0) {
      close_open(ps);
      wake_sender.notify_one();
      b = nullptr;
    }
  }
  const std::size_t need = detail::record_size(rec, 0, 0) + 16;
  while (b == nullptr && buffered_bytes + need + detail::kBatchHeaderBytes > cfg.buffer_memory_bytes &&
         buffered_bytes > 0) {
    if (closing) return make_error(Errc::kClosed, "producer closed");
    if (progress.wait_until(lock, std::chrono::steady_clock::now() + std::chrono::milliseconds(10)) ==
            std::cv_status::timeout &&
        mono_ms() >= deadline)
      return make_error(Errc::kQueueFull, "buffer_memory_bytes full for max_block_ms");
  }
  if (b == nullptr) b = new_batch(ps, ts);
  const std::size_t before = b->buf.size();
  detail::append_record(b->buf, rec, ts - b->base_ts_ms, b->count);
  const std::size_t added = b->buf.size() - before;
  b->count++;
  b->max_ts_ms = std::max(b->max_ts_ms, ts);
  b->callbacks.push_back(std::move(cb));
  b->timestamps.push_back(ts);
  b->accounted_bytes += added;
  buffered_bytes += added;
  pending_records++;
  if (b->buf.size() >= cfg.batch_size_bytes) {
    close_open(ps);
    wake_sender.notify_one();
  } else if (b->count == 1) {
    // The sender sleeps until the earliest linger deadline: tell it about a new one.
    wake_sender.notify_one();
  }
  return {};
}

void Producer::Impl::apply_metadata(const std::vector<std::string>& names, const Status& st) {
  std::lock_guard<std::mutex> lock(mu);
  for (const auto& name : names) {
    auto it = topics.find(name);
    if (it == topics.end()) continue;
    TopicState& t = *it->second;
    const detail::TopicMeta* m = cluster.topic(name);
    t.error_at_ms = mono_ms();
    if (!st.ok()) {
      t.error = st.error();
    } else if (m == nullptr) {
      t.error = make_error(Errc::kUnknownTopic, "topic " + name + " not in metadata");
    } else if (m->error == kafka::code(kafka::ErrorCode::LEADER_NOT_AVAILABLE) ||
               (m->error == 0 && m->leaders.empty())) {
      // Being created (auto-create): ask again.
      wanted_topics.push_back(name);
      continue;
    } else if (m->error == kafka::code(kafka::ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)) {
      t.error = Error{Errc::kUnknownTopic, m->error, "unknown topic " + name};
    } else if (m->error != 0) {
      t.error = broker_error(m->error, "metadata for " + name);
    } else {
      t.error = Error{};
      const std::size_t n = m->leaders.size();
      while (t.parts.size() < n) {
        auto ps = std::make_unique<PartState>();
        ps->topic = &t;
        ps->partition = static_cast<int32_t>(t.parts.size());
        t.parts.push_back(std::move(ps));
      }
    }
    t.known = true;
  }
  progress.notify_all();
}

void Producer::Impl::release(Batch* b) {
  b->callbacks.clear();
  b->timestamps.clear();
  b->buf.clear();
  PartState& ps = *b->part;
  ps.in_flight = false;
  buffered_bytes -= b->accounted_bytes;
  pending_records -= static_cast<uint64_t>(b->count);
  free_batches.push_back(b);
}

void Producer::Impl::complete(Batch* b, int64_t base_offset, int64_t append_time, const Error* err) {
  // Callbacks run without the lock: they may call send().
  if (err != nullptr) {
    Result<RecordMetadata> r(*err);
    for (auto& cb : b->callbacks)
      if (cb) cb(r);
  } else {
    RecordMetadata md;
    md.topic = b->part->topic->name;
    md.partition = b->part->partition;
    for (int32_t i = 0; i < b->count; ++i) {
      md.offset = base_offset >= 0 ? base_offset + i : -1;
      md.timestamp_ms = append_time >= 0 ? append_time : b->timestamps[static_cast<std::size_t>(i)];
      Result<RecordMetadata> r(md);
      auto& cb = b->callbacks[static_cast<std::size_t>(i)];
      if (cb) cb(r);
    }
  }
  std::lock_guard<std::mutex> lock(mu);
  if (err != nullptr) stats.errors += static_cast<uint64_t>(b->count);
  else stats.records_sent += static_cast<uint64_t>(b->count);
  stats.batches_sent++;
  release(b);
  progress.notify_all();
}

void Producer::Impl::requeue(Batch* b, const Error& err) {
  const int64_t now = mono_ms();
  if (now - b->created_ms >= cfg.delivery_timeout_ms) {
    Error e = err;
    e.message = "delivery timeout; last error: " + err.describe();
    complete(b, -1, -1, &e);
    return;
  }
  std::lock_guard<std::mutex> lock(mu);
  b->attempts++;
  b->retry_at_ms = now + cfg.retry_backoff_ms;
  stats.retries++;
  b->part->in_flight = false;
  b->part->push_front(b);
}

void Producer::Impl::run() {
  std::vector<std::string> wanted;
  for (;;) {
    drained.clear();
    wanted.clear();
    {
      std::unique_lock<std::mutex> lock(mu);
      for (;;) {
        const int64_t now = mono_ms();
        int64_t next_wake = now + 100;
        const bool force = flush_requests > 0 || closing;
        for (auto& [name, t] : topics) {
          for (auto& ps : t->parts) {
            if (ps->open != nullptr && ps->open->count > 0) {
              const int64_t due = ps->open->created_ms + cfg.linger_ms;
              if (force || due <= now) close_open(*ps);
              else next_wake = std::min(next_wake, due);
            }
            if (ps->in_flight || ps->ready_head == nullptr) continue;
            if (ps->ready_head->retry_at_ms > now) {
              next_wake = std::min(next_wake, ps->ready_head->retry_at_ms);
              continue;
            }
            Batch* b = ps->pop_front();
            ps->in_flight = true;
            if (cfg.enable_idempotence && b->base_sequence < 0) {
              b->base_sequence = ps->next_sequence;
              ps->next_sequence += b->count;
            }
            drained.push_back(b);
          }
        }
        wanted.swap(wanted_topics);
        if (delivery_abandoned) {
          for (auto& [name, t] : topics)
            for (auto& ps : t->parts) {
              if (ps->open != nullptr) close_open(*ps);
              while (Batch* b = ps->pop_front()) abandoned.push_back(b);
            }
        }
        if (!drained.empty() || !wanted.empty() || !abandoned.empty()) break;
        if (closing && pending_records == 0) {
          stopped = true;
          progress.notify_all();
          return;
        }
        wake_sender.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(1, next_wake - now)));
      }
    }
    if (!wanted.empty()) {
      auto st = cluster.refresh(wanted, cfg.allow_auto_topic_creation);
      apply_metadata(wanted, st);
      if (!st.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(cfg.retry_backoff_ms));
    }
    if (!abandoned.empty()) {
      const Error e = make_error(Errc::kClosed, "producer closed before delivery");
      for (Batch* b : abandoned) complete(b, -1, -1, &e);
      abandoned.clear();
    }
    if (!drained.empty()) ship(drained);
    const uint64_t allocations = alloc::thread_alloc_counters().allocations;
    std::lock_guard<std::mutex> lock(mu);
    stats.sender_thread_allocations = allocations;
  }
}

void Producer::Impl::ship(std::vector<Batch*>& batches) {
  finished.clear();
  for (Batch* b : batches) {
    if (b->finished) {
      finished.push_back(b);
      continue;
    }
    detail::BatchMeta meta;
    meta.record_count = b->count;
    meta.base_timestamp_ms = b->base_ts_ms;
    meta.max_timestamp_ms = b->max_ts_ms;
    if (cfg.enable_idempotence) {
      meta.producer_id = producer_id;
      meta.producer_epoch = producer_epoch;
      meta.base_sequence = b->base_sequence;
    }
    auto st = detail::finish_batch(b->buf, meta, cfg.compression, scratch);
    if (!st.ok()) {
      complete(b, -1, -1, &st.error());
      continue;
    }
    b->finished = true;
    finished.push_back(b);
  }
  batches.swap(finished);
  finished.clear();
  // Group by leader; a partition without a known leader waits for fresh metadata.
  for (std::size_t i = 0; i < leaders_used; ++i) by_leader[i].batches.clear();
  leaders_used = 0;
  bool need_refresh = false;
  for (Batch* b : batches) {
    const int32_t leader = cluster.leader(b->part->topic->name, b->part->partition);
    if (leader < 0) {
      need_refresh = true;
      requeue(b, make_error(Errc::kNetwork, "no leader for " + b->part->topic->name));
      continue;
    }
    std::size_t i = 0;
    while (i < leaders_used && by_leader[i].leader != leader) ++i;
    if (i == leaders_used) {
      if (by_leader.size() == leaders_used) by_leader.emplace_back();
      by_leader[i].leader = leader;
      by_leader[i].conn = nullptr;
      ++leaders_used;
    }
    by_leader[i].batches.push_back(b);
  }
  for (std::size_t li = 0; li < leaders_used; ++li) {
    LeaderBatches& lb = by_leader[li];
    auto& list = lb.batches;
    auto c = cluster.node(lb.leader);
    if (!c.ok()) {
      need_refresh = true;
      for (Batch* b : list) requeue(b, c.error());
      list.clear();
      continue;
    }
    const int16_t v = (*c)->version(kafka::ProduceRequest::kApiKey);
    if (v < 0) {
      Error e = make_error(Errc::kUnsupportedVersion, "broker does not support Produce v3+");
      for (Batch* b : list) complete(b, -1, -1, &e);
      list.clear();
      continue;
    }
    kafka::ProduceRequest& req = request;
    req.acks = static_cast<int16_t>(cfg.acks);
    req.timeout_ms = cfg.request_timeout_ms;
    std::size_t topics_used = 0;
    for (Batch* b : list) {
      const std::string& name = b->part->topic->name;
      std::size_t t = 0;
      while (t < topics_used && req.topic_data[t].name != name) ++t;
      if (t == topics_used) {
        if (req.topic_data.size() == topics_used) req.topic_data.emplace_back();
        req.topic_data[t].name = name;
        req.topic_data[t].partition_data.clear();
        ++topics_used;
      }
      auto& pd = req.topic_data[t].partition_data.emplace_back();
      pd.index = b->part->partition;
      pd.records.view = std::span<const std::byte>(b->buf);
    }
    req.topic_data.resize(topics_used);
    auto corr = (*c)->send(v, req);
    if (!corr.ok()) {
      need_refresh = true;
      for (Batch* b : list) requeue(b, corr.error());
      list.clear();
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      stats.requests_sent++;
    }
    if (cfg.acks == Acks::kNone) {
      // No response comes back for acks=0.
      for (Batch* b : list) complete(b, -1, -1, nullptr);
      list.clear();
      continue;
    }
    lb.conn = *c;
    lb.corr = *corr;
    lb.version = v;
  }
  const int64_t deadline = mono_ms() + cfg.request_timeout_ms + 5000;
  for (std::size_t li = 0; li < leaders_used; ++li) {
    LeaderBatches& lb = by_leader[li];
    if (lb.conn == nullptr || lb.batches.empty()) continue;
    kafka::ProduceResponse& resp = response;
    auto st = lb.conn->receive(lb.corr, lb.version, resp, deadline);
    if (!st.ok()) {
      need_refresh = true;
      cluster.drop(lb.leader);
      for (Batch* b : lb.batches) requeue(b, st.error());
      continue;
    }
    for (Batch* b : lb.batches) {
      const kafka::ProduceResponse::TopicProduceResponse::PartitionProduceResponse* pr = nullptr;
      for (const auto& tr : resp.responses) {
        if (tr.name != b->part->topic->name) continue;
        for (const auto& p : tr.partition_responses)
          if (p.index == b->part->partition) pr = &p;
      }
      if (pr == nullptr) {
        Error e = make_error(Errc::kMalformedResponse, "Produce response without partition " + b->part->topic->name +
                                                           "-" + std::to_string(b->part->partition));
        complete(b, -1, -1, &e);
        continue;
      }
      if (pr->error_code == 0 || pr->error_code == kafka::code(kafka::ErrorCode::DUPLICATE_SEQUENCE_NUMBER)) {
        complete(b, pr->base_offset, pr->log_append_time_ms, nullptr);
        continue;
      }
      Error e =
          broker_error(pr->error_code, "produce to " + b->part->topic->name + "-" + std::to_string(b->part->partition));
      if (pr->error_message) e.message += ": " + *pr->error_message;
      if (e.retriable()) {
        need_refresh = true;
        requeue(b, e);
      } else {
        complete(b, -1, -1, &e);
      }
    }
    lb.batches.clear();
  }
  if (need_refresh || mono_ms() - cluster.last_refresh_ms() > cfg.metadata_max_age_ms) (void)cluster.refresh_known();
}

Producer::Producer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Producer>> Producer::create(const ProducerConfig& cfg) {
  if (cfg.batch_size_bytes < 128 || cfg.linger_ms < 0)
    return make_error(Errc::kInvalidArgument, "batch_size_bytes >= 128 and linger_ms >= 0 required");
  ProducerConfig c = cfg;
  if (c.enable_idempotence && c.acks != Acks::kAll) {
    return make_error(Errc::kInvalidArgument, "enable_idempotence needs acks=kAll");
  }
  auto impl = std::make_unique<Impl>(c);
  auto st = impl->cluster.bootstrap();
  if (!st.ok()) return st.error();
  if (c.enable_idempotence) {
    st = impl->init_producer_id();
    if (!st.ok()) return st.error();
  }
  Impl* raw = impl.get();
  impl->sender = std::thread([raw] { raw->run(); });
  return std::unique_ptr<Producer>(new Producer(std::move(impl)));
}

Producer::~Producer() { close(impl_->cfg.request_timeout_ms); }

Status Producer::send(const ProducerRecord& rec, DeliveryCallback cb) { return impl_->send(rec, std::move(cb)); }

std::future<Result<RecordMetadata>> Producer::send(const ProducerRecord& rec) {
  auto promise = std::make_shared<std::promise<Result<RecordMetadata>>>();
  auto fut = promise->get_future();
  auto st = impl_->send(rec, [promise](const Result<RecordMetadata>& r) { promise->set_value(r); });
  if (!st.ok()) promise->set_value(st.error());
  return fut;
}

Status Producer::flush(int timeout_ms) {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->flush_requests++;
  impl_->wake_sender.notify_one();
  const bool ok = impl_->progress.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                                           [&] { return impl_->pending_records == 0 || impl_->stopped; });
  impl_->flush_requests--;
  if (!ok) return make_error(Errc::kTimeout, "flush: records still pending");
  return {};
}

void Producer::close(int timeout_ms) {
  if (!impl_ || !impl_->sender.joinable()) return;
  (void)flush(timeout_ms);
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->closing = true;
    if (impl_->pending_records > 0) {
      // Not delivered within the timeout: fail what is left so the sender can stop.
      impl_->delivery_abandoned = true;
    }
    impl_->wake_sender.notify_one();
  }
  impl_->sender.join();
}

int64_t Producer::producer_id() const noexcept { return impl_->producer_id; }

ProducerStats Producer::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stats;
}

Result<int32_t> Producer::partition_count(std::string_view topic) {
  std::unique_lock<std::mutex> lock(impl_->mu);
  auto t = impl_->ready_topic(lock, topic, mono_ms() + impl_->cfg.max_block_ms);
  if (!t.ok()) return t.error();
  return static_cast<int32_t>((*t)->parts.size());
}

}  // namespace sluice::client
