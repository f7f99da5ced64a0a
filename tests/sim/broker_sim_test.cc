// Seeded whole-broker simulation: a real broker in process (one shard, loopback) on a MemFileSystem
// that lives for the whole seed, driven by a random sequence of Kafka requests, clean restarts,
// crashes (with the disk keeping only what was synced, or tearing the last write) and injected
// disk faults. A model of what the broker acknowledged checks durability and ordering invariants
// after every answer and after every restart. See README.md.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "engine/log/batch_builder.h"
#include "engine/log/record_batch.h"
#include "tests/sim/sim_client.h"
#include "tests/sim/sim_disk.h"
#include "tests/sim/txn_workload.h"

namespace sluice::sim {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kMaxTopics = 4;
constexpr int kDefaultSeeds = 200;  // ~35 s on the 2-core CI VM (0.15-0.2 s a seed)

// Every record value starts with "b<batch id>." so a fetched batch names the batch it came from.
std::optional<uint64_t> batch_id_of(const std::vector<Rec>& recs) {
  if (recs.empty() || recs[0].value.size() < 3 || recs[0].value[0] != 'b') return std::nullopt;
  auto dot = recs[0].value.find('.');
  if (dot == std::string::npos) return std::nullopt;
  return std::stoull(recs[0].value.substr(1, dot - 1));
}

// ---------------------------------------------------------------------------------------------
// The model.

struct SentBatch {
  std::string topic;
  uint64_t incarnation = 0;
  int32_t partition = 0;
  std::vector<Rec> records;
  int64_t producer_id = -1;
  int32_t base_sequence = -1;
  std::vector<std::byte> bytes;
  int64_t known_base = -1;  // where the log holds it, once known (acknowledged or fetched)
};

struct KnownBatch {
  uint64_t id = 0;
  int64_t last = 0;
};

struct PartitionModel {
  std::map<int64_t, KnownBatch> known;  // base offset -> batch
  // Batches ending at or below durable_end survive any restart; below clean_end a clean restart.
  int64_t durable_end = 0;
  int64_t clean_end = 0;
  int64_t run_hw = 0;  // highest high watermark seen in this broker run
  int32_t next_sequence = 0;
  uint64_t last_idempotent_batch = 0;  // the batch a retry resends (0: none)
};

struct TopicModel {
  uint64_t incarnation = 0;
  bool visible_appended = false;  // sluice.read.visibility=appended: readers may see unsynced data
  std::vector<PartitionModel> partitions;
};

struct CommitModel {
  int64_t acked = -1;          // the last commit answered NONE (since the topic's last deletion)
  int64_t max_attempted = -1;  // the highest value ever sent, whatever the answer
  int64_t run_seen = -1;       // the highest value OffsetFetch returned in this broker run
};

struct GroupModel {
  std::string id;
  std::string member_id;
  int32_t generation = -1;
  bool joined = false;
};

// Everything the broker persists, the topic catalogue included, goes through the FileSystem seam
// to the simulated disk: the data directory is a path inside it, not a real directory.
constexpr const char* kSimDataDir = "/sim/data";

// ---------------------------------------------------------------------------------------------

class Simulation {
 public:
  explicit Simulation(uint64_t seed)
      : seed_(seed),
        rng_(seed),
        disk_(seed ^ 0x5eed),
        broker_(disk_, clock_, kSimDataDir),
        txn_(TxnEnv{&client_, &rng_, &clock_, [this](const std::string& line) { note(line); },
                    [this] { return degraded(); }}) {
    groups_.push_back({"g0"});
    groups_.push_back({"g1"});
    // Some seeds run two shards: partitions and groups spread over both, cross-shard paths.
    shards_ = chance(25) ? 2 : 1;
    broker_.set_shards(shards_);
  }

  void run() {
    note("shards " + std::to_string(shards_));
    start_broker();
    txn_.setup();
    const int ops = 40 + static_cast<int>(rng_() % 61);
    for (int i = 0; i < ops; ++i) step();
    restart(/*crash=*/false);
    verify_after_restart(/*clean=*/true);
    txn_.finish();
    broker_.stop();
  }

  void stop_quietly() {
    client_.close();
    kafka::stop_broker();
  }

  const std::deque<std::string>& trace() const { return trace_; }
  const TxnStats& txn_stats() const { return txn_.stats(); }

 private:
  // --- plumbing ------------------------------------------------------------------------------

  uint64_t rand(uint64_t n) { return rng_() % n; }
  bool chance(int percent) { return static_cast<int>(rng_() % 100) < percent; }

  void note(const std::string& line) {
    trace_.push_back(line);
    if (trace_.size() > 60) trace_.pop_front();
  }

  // Faults were injected in this run, or its disk crashed: errors are allowed (never wrong data).
  bool degraded() const { return faulted_run_ || crashed_run_; }

  // A dead or faulty disk may keep a coordinator unavailable until the restart: give up sooner.
  int retries() const { return degraded() ? 5 : kTransientRetries; }

  [[noreturn]] void fail(const std::string& what) { throw SimFailure(what); }
  void check(bool ok, const std::string& what) {
    if (!ok) fail(what);
  }

  void start_broker() {
    broker_.start();
    client_.connect(broker_.port());
    for (auto& [name, t] : topics_)
      for (auto& p : t.partitions) p.run_hw = 0;
    for (auto& [key, c] : commits_) c.run_seen = -1;
  }

  // Stops the running broker (after a crash of its disk, if `crash`) and starts another on the
  // same disk.
  void restart(bool crash) {
    client_.close();
    int rc = broker_.stop();
    if (!crash) check(rc == 0, "clean stop returned " + std::to_string(rc));
    disk_.clear_faults();
    if (crash) {
      // What was not synced may be gone: only durable batches keep their place.
      for (auto& [name, t] : topics_)
        for (auto& p : t.partitions) p.clean_end = p.durable_end;
    }
    faulted_run_ = false;
    start_broker();
  }

  void crash_disk() {
    using Mode = log::MemFileSystem::CrashMode;
    const Mode mode = chance(50) ? Mode::kDropUnsynced : Mode::kTornLastWrite;
    note(std::string("crash ") + (mode == Mode::kDropUnsynced ? "drop-unsynced" : "torn-write"));
    disk_.crash(mode);
    crashed_run_ = true;
  }

  TopicModel* topic(const std::string& name) {
    auto it = topics_.find(name);
    return it == topics_.end() ? nullptr : &it->second;
  }

  // A random existing (topic, partition), or nothing.
  std::optional<std::pair<std::string, int32_t>> pick_partition() {
    if (topics_.empty()) return std::nullopt;
    auto it = topics_.begin();
    std::advance(it, static_cast<long>(rand(topics_.size())));
    return std::make_pair(it->first, static_cast<int32_t>(rand(it->second.partitions.size())));
  }

  // --- the model's log checks -----------------------------------------------------------------

  bool must_survive(const PartitionModel& pm, const KnownBatch& kb) const { return kb.last < pm.clean_end; }

  // The log holds batch `id` at [base, last]: consistent with everything that must survive?
  void observe_batch(const std::string& name, int32_t partition, int64_t base, int64_t last, uint64_t id) {
    PartitionModel& pm = topics_.at(name).partitions[static_cast<std::size_t>(partition)];
    SentBatch& sb = sent_.at(id);
    const std::string where = name + "/" + std::to_string(partition) + "@" + std::to_string(base);
    // Another batch held these offsets: only allowed if that one could have been lost.
    auto it = pm.known.upper_bound(last);
    while (it != pm.known.begin()) {
      auto prev = std::prev(it);
      if (prev->second.last < base) break;
      if (prev->first == base && prev->second.id == id) {
        check(prev->second.last == last, "batch b" + std::to_string(id) + " changed its length at " + where);
        return;
      }
      check(!must_survive(pm, prev->second), "offset reused: b" + std::to_string(prev->second.id) +
                                                 " was acknowledged at " + name + "/" + std::to_string(partition) +
                                                 "@" + std::to_string(prev->first) + " and must survive, now b" +
                                                 std::to_string(id) + " is at " + where);
      sent_.at(prev->second.id).known_base = -1;
      it = pm.known.erase(prev);
    }
    if (sb.known_base >= 0 && sb.known_base != base) {
      auto old = pm.known.find(sb.known_base);
      if (old != pm.known.end() && old->second.id == id) {
        check(!must_survive(pm, old->second), "batch b" + std::to_string(id) + " is in the log twice: at " +
                                                  std::to_string(sb.known_base) + " and " + where);
        pm.known.erase(old);
      }
    }
    pm.known[base] = {id, last};
    sb.known_base = base;
  }

  void observe_hw(const std::string& name, int32_t partition, int64_t hw) {
    TopicModel& t = topics_.at(name);
    PartitionModel& pm = t.partitions[static_cast<std::size_t>(partition)];
    const std::string where = name + "/" + std::to_string(partition);
    check(hw >= pm.run_hw, "high watermark of " + where + " moved back within a run: " + std::to_string(pm.run_hw) +
                               " -> " + std::to_string(hw));
    check(hw >= pm.durable_end, "high watermark of " + where + " is " + std::to_string(hw) +
                                    ", below the end of durable (acks=all or visible) data " +
                                    std::to_string(pm.durable_end));
    pm.run_hw = hw;
    // Without appended visibility, readers only see synced data: what they saw is durable.
    if (!t.visible_appended) pm.durable_end = std::max(pm.durable_end, hw);
    pm.clean_end = std::max(pm.clean_end, hw);
  }

  // Checks a fetch answer's records: whole batches, in order, from the requested offset, each one a
  // batch this simulation sent to this partition (incarnation) and consistent with the model.
  // Returns the offset after the last batch (or `from` when empty).
  int64_t check_fetched(const std::string& name, int32_t partition, int64_t from, int64_t hw,
                        std::span<const std::byte> bytes, std::set<int64_t>* seen_bases) {
    const TopicModel& t = topics_.at(name);
    const std::string where = name + "/" + std::to_string(partition);
    int64_t next = from;
    bool first = true;
    while (!bytes.empty()) {
      auto sz = log::peek_batch_size(bytes);
      check(sz.ok() && sz.value() <= bytes.size(),
            "fetch of " + where + " returned a partial batch at " + std::to_string(next));
      auto batch = bytes.first(sz.value());
      bytes = bytes.subspan(sz.value());
      auto h = log::parse_batch_header(batch);
      check(h.ok() && h->magic == log::kMagicV2, "fetch of " + where + ": bad batch header");
      check(log::compute_batch_crc(batch) == h->crc,
            "fetch of " + where + ": CRC mismatch at " + std::to_string(h->base_offset));
      if (first) {
        check(h->base_offset <= from && from <= h->last_offset(),
              "fetch of " + where + " from " + std::to_string(from) + " starts with batch [" +
                  std::to_string(h->base_offset) + ", " + std::to_string(h->last_offset()) + "]");
      } else {
        check(h->base_offset == next, "fetch of " + where + ": batch at " + std::to_string(h->base_offset) +
                                          " does not follow the previous one (expected " + std::to_string(next) + ")");
      }
      first = false;
      check(h->last_offset() < hw, "fetch of " + where + " returned offset " + std::to_string(h->last_offset()) +
                                       " at or above the high watermark " + std::to_string(hw));
      auto recs = parse_records(batch, *h);
      check(recs.has_value() && h->compression() == log::Compression::kNone,
            "fetch of " + where + ": malformed records at " + std::to_string(h->base_offset));
      auto id = batch_id_of(*recs);
      check(id.has_value() && sent_.count(*id),
            "fetch of " + where + ": a batch this simulation never sent at " + std::to_string(h->base_offset));
      const SentBatch& sb = sent_.at(*id);
      check(sb.topic == name && sb.incarnation == t.incarnation && sb.partition == partition,
            "fetch of " + where + " (incarnation " + std::to_string(t.incarnation) + ") returned b" +
                std::to_string(*id) + " sent to " + sb.topic + "/" + std::to_string(sb.partition) + " incarnation " +
                std::to_string(sb.incarnation));
      check(*recs == sb.records && h->last_offset_delta + 1 == static_cast<int32_t>(sb.records.size()),
            "fetch of " + where + ": b" + std::to_string(*id) + " at " + std::to_string(h->base_offset) +
                " has other records than were sent");
      check(h->producer_id == sb.producer_id && h->base_sequence == sb.base_sequence,
            "fetch of " + where + ": b" + std::to_string(*id) + " lost its producer id or sequence");
      observe_batch(name, partition, h->base_offset, h->last_offset(), *id);
      if (seen_bases) seen_bases->insert(h->base_offset);
      next = h->last_offset() + 1;
    }
    return next;
  }

  // --- requests --------------------------------------------------------------------------------

  kafka::FetchRequest fetch_request(const std::string& name, int32_t partition, int64_t offset) {
    kafka::FetchRequest req;
    req.replica_id = -1;
    req.max_wait_ms = 0;
    req.min_bytes = 0;
    req.max_bytes = 1 << 20;
    req.isolation_level = 0;
    auto& ft = req.topics.emplace_back();
    ft.topic = name;
    auto& fp = ft.partitions.emplace_back();
    fp.partition = partition;
    fp.fetch_offset = offset;
    fp.partition_max_bytes = static_cast<int32_t>(4096 + rand(64 << 10));
    return req;
  }

  // One fetch, retried while the answer is transient. Returns the partition's answer.
  kafka::FetchResponse::FetchableTopicResponse::PartitionData fetch_once(const std::string& name, int32_t partition,
                                                                         int64_t offset) {
    for (int attempt = 0;; ++attempt) {
      auto resp = client_.call<kafka::FetchRequest, kafka::FetchResponse>(11, fetch_request(name, partition, offset));
      check(resp.responses.size() == 1 && resp.responses[0].partitions.size() == 1, "fetch: malformed answer");
      auto pd = std::move(resp.responses[0].partitions[0]);
      if (transient(pd.error_code) && attempt < retries()) {
        std::this_thread::sleep_for(kTransientBackoff);
        continue;
      }
      return pd;
    }
  }

  std::span<const std::byte> records_of(const kafka::Records& r, std::vector<std::byte>& scratch) {
    if (!r.data.empty()) {
      scratch = r.data.linearize();
      return scratch;
    }
    return r.view;
  }

  // ListOffsets latest (-1) or earliest (-2); retried while transient. Returns (error, offset).
  std::pair<int16_t, int64_t> list_offset(const std::string& name, int32_t partition, int64_t timestamp) {
    kafka::ListOffsetsRequest req;
    req.replica_id = -1;
    auto& t = req.topics.emplace_back();
    t.name = name;
    auto& lp = t.partitions.emplace_back();
    lp.partition_index = partition;
    lp.timestamp = timestamp;
    for (int attempt = 0;; ++attempt) {
      auto resp = client_.call<kafka::ListOffsetsRequest, kafka::ListOffsetsResponse>(5, req);
      check(resp.topics.size() == 1 && resp.topics[0].partitions.size() == 1, "ListOffsets: malformed answer");
      auto& rp = resp.topics[0].partitions[0];
      if (transient(rp.error_code) && attempt < retries()) {
        std::this_thread::sleep_for(kTransientBackoff);
        continue;
      }
      return {rp.error_code, rp.offset};
    }
  }

  // --- operations ------------------------------------------------------------------------------

  void step() {
    // Transactions (txn_workload.*) on topics of their own, between the same restarts and crashes.
    if (chance(30)) {
      txn_.step();
      return;
    }
    const int r = static_cast<int>(rand(100));
    if (r < 8) op_create_topic();
    else if (r < 12) op_delete_topic();
    else if (r < 40) op_produce(/*faults=*/false);
    else if (r < 44) op_produce(/*faults=*/true);
    else if (r < 49) op_idempotent_retry();
    else if (r < 61) op_fetch();
    else if (r < 65) op_list_offsets();
    else if (r < 74) op_group();
    else if (r < 82) op_commit();
    else if (r < 87) op_offset_fetch();
    else if (r < 91) op_check_metadata();
    else if (r < 95) {
      note("clean restart");
      restart(false);
      verify_after_restart(true);
    } else if (r < 98) {
      op_unclean_restart();
    } else {
      op_crash_in_end_txn();
    }
  }

  void op_create_topic() {
    std::string name = "t" + std::to_string(rand(kMaxTopics));
    const bool exists = topics_.count(name) != 0;
    const int32_t partitions = 1 + static_cast<int32_t>(rand(4));
    kafka::CreateTopicsRequest req;
    req.timeout_ms = 30000;
    auto& t = req.topics.emplace_back();
    t.name = name;
    t.num_partitions = partitions;
    t.replication_factor = 1;
    const bool appended = chance(25);
    if (appended) t.configs.push_back({"sluice.read.visibility", std::string("appended")});
    // Small segments make rolls (and recovery across several segments) part of the run.
    if (chance(40)) t.configs.push_back({"segment.bytes", std::to_string(1024 + rand(8192))});
    note("create " + name + " partitions=" + std::to_string(partitions) + (appended ? " appended" : ""));
    for (int attempt = 0;; ++attempt) {
      auto resp = client_.call<kafka::CreateTopicsRequest, kafka::CreateTopicsResponse>(4, req);
      check(resp.topics.size() == 1, "CreateTopics: malformed answer");
      int16_t ec = resp.topics[0].error_code;
      if (transient(ec) && attempt < retries()) {
        std::this_thread::sleep_for(kTransientBackoff);
        continue;
      }
      if (exists) {
        check(is(ec, ErrorCode::TOPIC_ALREADY_EXISTS),
              "CreateTopics of existing " + name + " answered " + err_name(ec));
        return;
      }
      const auto& message = resp.topics[0].error_message;
      check(is(ec, ErrorCode::NONE),
            "CreateTopics " + name + " answered " + err_name(ec) + (message ? " (" + *message + ")" : ""));
      break;
    }
    TopicModel tm;
    tm.incarnation = ++incarnations_;
    tm.visible_appended = appended;
    tm.partitions.resize(static_cast<std::size_t>(partitions));
    topics_[name] = std::move(tm);
    // A new (or recreated) topic starts empty.
    for (int32_t p = 0; p < partitions; ++p) {
      auto [ec, latest] = list_offset(name, p, -1);
      check(is(ec, ErrorCode::NONE) && latest == 0, "new topic " + name + "/" + std::to_string(p) + " latest offset " +
                                                        std::to_string(latest) + " (" + err_name(ec) + ")");
      observe_hw(name, p, latest);
    }
  }

  void op_delete_topic() {
    auto pick = pick_partition();
    if (!pick) return;
    const std::string name = pick->first;
    note("delete " + name);
    kafka::DeleteTopicsRequest req;
    req.topic_names.push_back(name);
    req.timeout_ms = 30000;
    for (int attempt = 0;; ++attempt) {
      auto resp = client_.call<kafka::DeleteTopicsRequest, kafka::DeleteTopicsResponse>(3, req);
      check(resp.responses.size() == 1, "DeleteTopics: malformed answer");
      int16_t ec = resp.responses[0].error_code;
      if (transient(ec) && attempt < retries()) {
        std::this_thread::sleep_for(kTransientBackoff);
        continue;
      }
      check(is(ec, ErrorCode::NONE), "DeleteTopics " + name + " answered " + err_name(ec));
      break;
    }
    topics_.erase(name);
    for (auto& [key, c] : commits_)
      if (std::get<1>(key) == name) c.acked = -1, c.run_seen = -1;
    // Gone at once.
    auto [ec, off] = list_offset(name, 0, -1);
    check(is(ec, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
          "ListOffsets of deleted topic " + name + " answered " + err_name(ec));
  }

  std::vector<Rec> make_records(uint64_t id) {
    std::vector<Rec> recs(1 + rand(5));
    for (std::size_t i = 0; i < recs.size(); ++i) {
      Rec& r = recs[i];
      r.key_null = chance(20);
      if (!r.key_null) r.key = "k" + std::to_string(rand(1000));
      r.value = "b" + std::to_string(id) + "." + std::to_string(i) + ".";
      r.value.append(rand(chance(10) ? 2000 : 200), static_cast<char>('a' + rand(26)));
    }
    return recs;
  }

  bool ensure_producer() {
    if (producer_id_ >= 0) return true;
    kafka::InitProducerIdRequest req;
    req.transactional_id = std::nullopt;
    req.transaction_timeout_ms = 60000;
    for (int attempt = 0;; ++attempt) {
      auto resp = client_.call<kafka::InitProducerIdRequest, kafka::InitProducerIdResponse>(1, req);
      if (transient(resp.error_code) && attempt < retries()) {
        std::this_thread::sleep_for(kTransientBackoff);
        continue;
      }
      if (degraded() && !is(resp.error_code, ErrorCode::NONE)) return false;
      check(is(resp.error_code, ErrorCode::NONE), "InitProducerId answered " + err_name(resp.error_code));
      producer_id_ = resp.producer_id;
      producer_epoch_ = resp.producer_epoch;
      note("producer id " + std::to_string(producer_id_));
      for (auto& [name, t] : topics_)
        for (auto& p : t.partitions) p.next_sequence = 0, p.last_idempotent_batch = 0;
      return true;
    }
  }

  kafka::ProduceRequest produce_request(const SentBatch& sb, int16_t acks) {
    kafka::ProduceRequest req;
    req.acks = acks;
    req.timeout_ms = 30000;
    auto& td = req.topic_data.emplace_back();
    td.name = sb.topic;
    auto& pd = td.partition_data.emplace_back();
    pd.index = sb.partition;
    pd.records.view = sb.bytes;
    return req;
  }

  // Produces one new batch. With `faults`, the disk fails the next write or sync, or is full, while
  // the request is handled (acks=all then must not be answered NONE unless the data is durable).
  void op_produce(bool faults) {
    auto pick = pick_partition();
    if (!pick) return;
    auto [name, partition] = *pick;
    TopicModel& t = topics_.at(name);
    PartitionModel& pm = t.partitions[static_cast<std::size_t>(partition)];
    int16_t acks = faults ? -1 : std::array<int16_t, 3>{-1, 1, 0}[rand(3)];
    const bool idempotent = acks == -1 && chance(40) && ensure_producer();

    const uint64_t id = ++batch_ids_;
    SentBatch sb;
    sb.topic = name;
    sb.incarnation = t.incarnation;
    sb.partition = partition;
    sb.records = make_records(id);
    log::BatchSpec spec;
    spec.base_timestamp_ms = 1'700'000'000'000 + static_cast<int64_t>(id);
    if (idempotent) {
      spec.producer_id = producer_id_;
      spec.producer_epoch = producer_epoch_;
      spec.base_sequence = pm.next_sequence;
      sb.producer_id = producer_id_;
      sb.base_sequence = pm.next_sequence;
    }
    for (const Rec& r : sb.records) {
      log::RecordSpec rs;
      rs.key_null = r.key_null;
      rs.key = r.key;
      rs.value = r.value;
      spec.records.push_back(std::move(rs));
    }
    sb.bytes = log::BatchBuilder::build(spec);
    const int32_t n = static_cast<int32_t>(sb.records.size());
    sent_[id] = std::move(sb);
    const SentBatch& s = sent_.at(id);

    std::string what = "produce b" + std::to_string(id) + " to " + name + "/" + std::to_string(partition) +
                       " acks=" + std::to_string(acks) + " n=" + std::to_string(n) +
                       (idempotent ? " seq=" + std::to_string(s.base_sequence) : "");
    if (faults) {
      faulted_run_ = true;
      switch (rand(3)) {
        case 0:
          disk_.fail_next_syncs(1 + static_cast<int>(rand(2)));
          what += " [sync fails]";
          break;
        case 1:
          disk_.fail_next_writes(1 + static_cast<int>(rand(2)));
          what += " [write fails]";
          break;
        default:
          disk_.fill_disk();
          what += " [disk full]";
          break;
      }
    }
    note(what);
    if (acks == 0) {
      client_.send_only(7, produce_request(s, acks));
      return;
    }
    auto resp = client_.call<kafka::ProduceRequest, kafka::ProduceResponse>(7, produce_request(s, acks));
    if (faults) disk_.clear_faults();
    check(resp.responses.size() == 1 && resp.responses[0].partition_responses.size() == 1, "produce: malformed answer");
    const auto& pr = resp.responses[0].partition_responses[0];
    note("  -> " + err_name(pr.error_code) + " base=" + std::to_string(pr.base_offset));
    if (!is(pr.error_code, ErrorCode::NONE)) {
      // Not acknowledged: the batch may or may not be in the log. An idempotent producer whose
      // sequence state is now unknown starts over with a new producer id.
      const bool allowed = transient(pr.error_code) || crashed_run_ ||
                           (faulted_run_ && is(pr.error_code, ErrorCode::KAFKA_STORAGE_ERROR));
      check(allowed, what + " answered " + err_name(pr.error_code));
      if (idempotent) producer_id_ = -1;
      return;
    }
    const int64_t base = pr.base_offset;
    const int64_t last = base + n - 1;
    check(base >= pm.clean_end && base >= pm.run_hw, what + " acknowledged at " + std::to_string(base) +
                                                         ", below the log end the model knows (" +
                                                         std::to_string(std::max(pm.clean_end, pm.run_hw)) + ")");
    observe_batch(name, partition, base, last, id);
    if (acks == -1) pm.durable_end = std::max(pm.durable_end, last + 1);
    pm.clean_end = std::max(pm.clean_end, last + 1);
    if (idempotent) {
      pm.next_sequence += n;
      pm.last_idempotent_batch = id;
    }
  }

  // Resends the last acknowledged idempotent batch of a partition: deduplicated to its offset.
  void op_idempotent_retry() {
    auto pick = pick_partition();
    if (!pick || producer_id_ < 0) return;
    auto [name, partition] = *pick;
    PartitionModel& pm = topics_.at(name).partitions[static_cast<std::size_t>(partition)];
    if (pm.last_idempotent_batch == 0) return;
    const uint64_t id = pm.last_idempotent_batch;
    const SentBatch& s = sent_.at(id);
    check(s.known_base >= 0, "the model lost the offset of acknowledged b" + std::to_string(id));
    note("retry b" + std::to_string(id) + " (acked at " + std::to_string(s.known_base) + ")");
    for (int attempt = 0;; ++attempt) {
      auto resp = client_.call<kafka::ProduceRequest, kafka::ProduceResponse>(7, produce_request(s, -1));
      check(resp.responses.size() == 1 && resp.responses[0].partition_responses.size() == 1,
            "produce: malformed answer");
      const auto& pr = resp.responses[0].partition_responses[0];
      if (transient(pr.error_code) && attempt < retries()) {
        std::this_thread::sleep_for(kTransientBackoff);
        continue;
      }
      if (faulted_run_ && is(pr.error_code, ErrorCode::KAFKA_STORAGE_ERROR)) return;
      check(is(pr.error_code, ErrorCode::NONE),
            "idempotent retry of b" + std::to_string(id) + " answered " + err_name(pr.error_code));
      check(pr.base_offset == s.known_base, "idempotent retry of b" + std::to_string(id) + " got offset " +
                                                std::to_string(pr.base_offset) + ", the original is at " +
                                                std::to_string(s.known_base));
      return;
    }
  }

  void op_fetch() {
    auto pick = pick_partition();
    if (!pick) return;
    auto [name, partition] = *pick;
    PartitionModel& pm = topics_.at(name).partitions[static_cast<std::size_t>(partition)];
    const int64_t top = std::max(pm.clean_end, pm.run_hw);
    const int64_t from = static_cast<int64_t>(rand(static_cast<uint64_t>(top) + 2));
    auto pd = fetch_once(name, partition, from);
    note("fetch " + name + "/" + std::to_string(partition) + " from " + std::to_string(from) + " -> " +
         err_name(pd.error_code) + " hw=" + std::to_string(pd.high_watermark));
    if (is(pd.error_code, ErrorCode::OFFSET_OUT_OF_RANGE)) {
      check(from > top, "fetch from " + std::to_string(from) + " at or below the known log end " + std::to_string(top) +
                            " answered OFFSET_OUT_OF_RANGE");
      return;
    }
    if (faulted_run_ && is(pd.error_code, ErrorCode::KAFKA_STORAGE_ERROR)) return;
    check(is(pd.error_code, ErrorCode::NONE), "fetch answered " + err_name(pd.error_code));
    observe_hw(name, partition, pd.high_watermark);
    std::vector<std::byte> scratch;
    check_fetched(name, partition, from, pd.high_watermark, records_of(pd.records, scratch), nullptr);
  }

  void op_list_offsets() {
    auto pick = pick_partition();
    if (!pick) return;
    auto [name, partition] = *pick;
    auto [ec, earliest] = list_offset(name, partition, -2);
    check(is(ec, ErrorCode::NONE) && earliest == 0, "earliest offset of " + name + "/" + std::to_string(partition) +
                                                        ": " + std::to_string(earliest) + " (" + err_name(ec) + ")");
    auto [ec2, latest] = list_offset(name, partition, -1);
    check(is(ec2, ErrorCode::NONE), "ListOffsets latest answered " + err_name(ec2));
    note("list offsets " + name + "/" + std::to_string(partition) + " latest=" + std::to_string(latest));
    observe_hw(name, partition, latest);
  }

  // --- groups ----------------------------------------------------------------------------------

  // JoinGroup (with the MEMBER_ID_REQUIRED round trip) and SyncGroup for the group's only member.
  // Returns false when the broker could not complete it (faulted run).
  bool join(GroupModel& g) {
    for (int attempt = 0; attempt < retries(); ++attempt) {
      kafka::JoinGroupRequest jr;
      jr.group_id = g.id;
      jr.session_timeout_ms = 30000;
      jr.rebalance_timeout_ms = 500;
      jr.member_id = g.member_id;
      jr.protocol_type = "consumer";
      jr.protocols.push_back({"range", kafka::Bytes{std::byte{1}}});
      auto resp = client_.call<kafka::JoinGroupRequest, kafka::JoinGroupResponse>(5, jr);
      const int16_t ec = resp.error_code;
      if (is(ec, ErrorCode::MEMBER_ID_REQUIRED)) {
        g.member_id = resp.member_id;
        continue;
      }
      if (is(ec, ErrorCode::UNKNOWN_MEMBER_ID)) {
        g.member_id.clear();  // our member is gone (session expiry, or its join was never durable)
        continue;
      }
      if (transient(ec) || is(ec, ErrorCode::REBALANCE_IN_PROGRESS)) {
        std::this_thread::sleep_for(kTransientBackoff);
        continue;
      }
      if (degraded() && !is(ec, ErrorCode::NONE)) return false;
      check(is(ec, ErrorCode::NONE), "JoinGroup " + g.id + " answered " + err_name(ec));
      check(resp.member_id == g.member_id, "JoinGroup " + g.id + " changed the member id");
      g.generation = resp.generation_id;
      kafka::SyncGroupRequest sr;
      sr.group_id = g.id;
      sr.generation_id = g.generation;
      sr.member_id = g.member_id;
      if (resp.leader == g.member_id) sr.assignments.push_back({g.member_id, kafka::Bytes{std::byte{7}}});
      auto sresp = client_.call<kafka::SyncGroupRequest, kafka::SyncGroupResponse>(3, sr);
      if (transient(sresp.error_code) || is(sresp.error_code, ErrorCode::REBALANCE_IN_PROGRESS) ||
          is(sresp.error_code, ErrorCode::ILLEGAL_GENERATION) || is(sresp.error_code, ErrorCode::UNKNOWN_MEMBER_ID)) {
        std::this_thread::sleep_for(kTransientBackoff);
        continue;
      }
      if (degraded() && !is(sresp.error_code, ErrorCode::NONE)) return false;
      check(is(sresp.error_code, ErrorCode::NONE), "SyncGroup " + g.id + " answered " + err_name(sresp.error_code));
      g.joined = true;
      note("joined " + g.id + " generation " + std::to_string(g.generation));
      return true;
    }
    check(degraded(), "group " + g.id + " never became stable");
    return false;
  }

  void op_group() {
    GroupModel& g = groups_[rand(groups_.size())];
    if (!g.joined) {
      note("join " + g.id);
      join(g);
      return;
    }
    if (chance(25)) {
      note("leave " + g.id);
      kafka::LeaveGroupRequest req;
      req.group_id = g.id;
      req.members.push_back({g.member_id, std::nullopt, std::nullopt});
      auto resp = client_.call<kafka::LeaveGroupRequest, kafka::LeaveGroupResponse>(3, req);
      // After a restart or an expiry the member may already be gone; either way it is out now.
      const int16_t member_ec = resp.members.empty() ? resp.error_code : resp.members[0].error_code;
      check(degraded() || is(resp.error_code, ErrorCode::NONE) || transient(resp.error_code),
            "LeaveGroup answered " + err_name(resp.error_code));
      check(degraded() || is(member_ec, ErrorCode::NONE) || is(member_ec, ErrorCode::UNKNOWN_MEMBER_ID) ||
                transient(member_ec),
            "LeaveGroup member answered " + err_name(member_ec));
      g.joined = false;
      g.member_id.clear();
      g.generation = -1;
      return;
    }
    kafka::HeartbeatRequest req;
    req.group_id = g.id;
    req.generation_id = g.generation;
    req.member_id = g.member_id;
    auto resp = client_.call<kafka::HeartbeatRequest, kafka::HeartbeatResponse>(3, req);
    note("heartbeat " + g.id + " -> " + err_name(resp.error_code));
    if (is(resp.error_code, ErrorCode::NONE)) return;
    const bool rejoin = transient(resp.error_code) || is(resp.error_code, ErrorCode::REBALANCE_IN_PROGRESS) ||
                        is(resp.error_code, ErrorCode::UNKNOWN_MEMBER_ID) ||
                        is(resp.error_code, ErrorCode::ILLEGAL_GENERATION);
    check(rejoin || degraded(), "Heartbeat answered " + err_name(resp.error_code));
    if (is(resp.error_code, ErrorCode::UNKNOWN_MEMBER_ID)) g.member_id.clear();
    g.joined = false;
    join(g);
  }

  void op_commit() {
    auto pick = pick_partition();
    if (!pick) return;
    auto [name, partition] = *pick;
    GroupModel& g = groups_[rand(groups_.size())];
    auto key = std::make_tuple(g.id, name, partition);
    CommitModel& c = commits_[key];
    const int64_t offset = std::max(c.max_attempted, c.acked) + 1 + static_cast<int64_t>(rand(10));
    c.max_attempted = offset;
    note("commit " + g.id + " " + name + "/" + std::to_string(partition) + " = " + std::to_string(offset) +
         (g.joined ? " gen " + std::to_string(g.generation) : " simple"));
    for (int attempt = 0; attempt < retries(); ++attempt) {
      kafka::OffsetCommitRequest req;
      req.group_id = g.id;
      req.generation_id_or_member_epoch = g.joined ? g.generation : -1;
      req.member_id = g.joined ? g.member_id : "";
      auto& t = req.topics.emplace_back();
      t.name = name;
      auto& p = t.partitions.emplace_back();
      p.partition_index = partition;
      p.committed_offset = offset;
      p.committed_metadata = "m" + std::to_string(offset);
      auto resp = client_.call<kafka::OffsetCommitRequest, kafka::OffsetCommitResponse>(7, req);
      check(resp.topics.size() == 1 && resp.topics[0].partitions.size() == 1, "OffsetCommit: malformed answer");
      const int16_t ec = resp.topics[0].partitions[0].error_code;
      if (is(ec, ErrorCode::NONE)) {
        c.acked = offset;
        note("  -> NONE");
        return;
      }
      if (transient(ec)) {
        std::this_thread::sleep_for(kTransientBackoff);
        continue;
      }
      // Our membership changed under us (restart, expiry, a member left over from before a crash):
      // rejoin and commit as the member.
      if (is(ec, ErrorCode::REBALANCE_IN_PROGRESS) || is(ec, ErrorCode::ILLEGAL_GENERATION) ||
          is(ec, ErrorCode::UNKNOWN_MEMBER_ID)) {
        if (is(ec, ErrorCode::UNKNOWN_MEMBER_ID)) g.member_id.clear();
        g.joined = false;
        if (!join(g)) return;
        continue;
      }
      note("  -> " + err_name(ec));
      check(degraded(), "OffsetCommit answered " + err_name(ec));
      return;
    }
    check(degraded(), "OffsetCommit never succeeded");
  }

  // OffsetFetch of (group, topic, partition) and the check against the model.
  void check_committed(const std::string& group, const std::string& name, int32_t partition) {
    kafka::OffsetFetchRequest req;
    req.group_id = group;
    req.topics.emplace();
    req.topics->push_back({name, {partition}});
    for (int attempt = 0;; ++attempt) {
      auto resp = client_.call<kafka::OffsetFetchRequest, kafka::OffsetFetchResponse>(5, req);
      int16_t ec = resp.error_code;
      if (is(ec, ErrorCode::NONE)) {
        check(resp.topics.size() == 1 && resp.topics[0].partitions.size() == 1, "OffsetFetch: malformed answer");
        ec = resp.topics[0].partitions[0].error_code;
      }
      if (transient(ec) && attempt < retries()) {
        std::this_thread::sleep_for(kTransientBackoff);
        continue;
      }
      if (degraded() && !is(ec, ErrorCode::NONE)) return;
      check(is(ec, ErrorCode::NONE), "OffsetFetch answered " + err_name(ec));
      const int64_t got = resp.topics[0].partitions[0].committed_offset;
      CommitModel& c = commits_[std::make_tuple(group, name, partition)];
      const std::string where = group + " " + name + "/" + std::to_string(partition);
      note("offset fetch " + where + " = " + std::to_string(got));
      check(got >= c.acked, "committed offset of " + where + " moved back: acknowledged " + std::to_string(c.acked) +
                                ", now " + std::to_string(got));
      check(got <= c.max_attempted, "committed offset of " + where + " is " + std::to_string(got) +
                                        ", never committed (highest sent " + std::to_string(c.max_attempted) + ")");
      check(got >= c.run_seen, "committed offset of " + where + " moved back within a run: " +
                                   std::to_string(c.run_seen) + " -> " + std::to_string(got));
      c.run_seen = got;
      return;
    }
  }

  void op_offset_fetch() {
    auto pick = pick_partition();
    if (!pick) return;
    check_committed(groups_[rand(groups_.size())].id, pick->first, pick->second);
  }

  // The broker's topics are exactly the model's, with their partition counts.
  void op_check_metadata() {
    kafka::MetadataRequest req;
    req.topics = std::nullopt;  // all
    req.allow_auto_topic_creation = false;
    auto resp = client_.call<kafka::MetadataRequest, kafka::MetadataResponse>(7, req);
    std::map<std::string, int32_t> seen;
    for (const auto& t : resp.topics) {
      if (!t.name || t.is_internal || t.name->rfind("__", 0) == 0) continue;
      check(is(t.error_code, ErrorCode::NONE) || transient(t.error_code),
            "Metadata of " + *t.name + " answered " + err_name(t.error_code));
      seen[*t.name] = static_cast<int32_t>(t.partitions.size());
    }
    std::map<std::string, int32_t> want = txn_.topics();
    for (const auto& [name, t] : topics_) want[name] = static_cast<int32_t>(t.partitions.size());
    auto describe = [](const std::map<std::string, int32_t>& m) {
      std::string s;
      for (const auto& [n, p] : m) s += n + ":" + std::to_string(p) + " ";
      return s;
    };
    check(seen == want, "topics are {" + describe(seen) + "}, the model has {" + describe(want) + "}");
  }

  // --- restarts --------------------------------------------------------------------------------

  void op_unclean_restart() {
    crash_disk();
    // The broker keeps running on a dead disk for a moment: nothing it acknowledges now may be
    // lost, so acks=all produces and commits must fail (or be durable, which they cannot be).
    const int dead_ops = static_cast<int>(rand(3));
    for (int i = 0; i < dead_ops; ++i) {
      const int r = static_cast<int>(rand(100));
      if (r < 45) op_produce(false);
      else if (r < 70) op_commit();
      else txn_.step();
    }
    note("unclean restart");
    restart(true);
    crashed_run_ = false;
    verify_after_restart(false);
  }

  // The disk crashes a few syncs into an EndTxn: before its prepare record is durable, between
  // that and the markers, or among the markers. Recovery must finish what was prepared.
  void op_crash_in_end_txn() {
    using Mode = log::MemFileSystem::CrashMode;
    const Mode mode = chance(50) ? Mode::kDropUnsynced : Mode::kTornLastWrite;
    const int syncs = 1 + static_cast<int>(rand(4));
    const bool sent = txn_.end_txn_unanswered([this, syncs, mode] { disk_.crash_after_syncs(syncs, mode); });
    if (!sent) return;
    note("crash after " + std::to_string(syncs) + " syncs (" +
         (mode == Mode::kDropUnsynced ? "drop-unsynced" : "torn-write") + ")");
    // Bounded: the broker may need fewer syncs than that for this EndTxn (then crash now).
    for (int i = 0; i < 200 && !disk_.crashed_by_trigger(); ++i) std::this_thread::sleep_for(kTransientBackoff);
    if (!disk_.crashed_by_trigger()) disk_.crash(mode);
    crashed_run_ = true;
    note("unclean restart");
    restart(true);
    crashed_run_ = false;
    verify_after_restart(false);
  }

  // Everything that must have survived did, at the same offsets; no deleted topic came back;
  // committed offsets are where they were acknowledged.
  void verify_after_restart(bool clean) {
    op_check_metadata();
    for (auto& [name, t] : topics_) {
      for (int32_t p = 0; p < static_cast<int32_t>(t.partitions.size()); ++p) {
        PartitionModel& pm = t.partitions[static_cast<std::size_t>(p)];
        const std::string where = name + "/" + std::to_string(p);
        auto [ec, hw] = list_offset(name, p, -1);
        check(is(ec, ErrorCode::NONE), "ListOffsets of " + where + " after restart answered " + err_name(ec));
        if (clean) {
          check(hw >= pm.clean_end, "after a clean restart " + where + " ends at " + std::to_string(hw) +
                                        ", acknowledged data reached " + std::to_string(pm.clean_end));
        }
        observe_hw(name, p, hw);
        std::set<int64_t> seen;
        int64_t off = 0;
        while (off < hw) {
          auto pd = fetch_once(name, p, off);
          check(is(pd.error_code, ErrorCode::NONE), "fetch of " + where + " from " + std::to_string(off) +
                                                        " after restart answered " + err_name(pd.error_code));
          observe_hw(name, p, pd.high_watermark);
          std::vector<std::byte> scratch;
          int64_t next = check_fetched(name, p, off, pd.high_watermark, records_of(pd.records, scratch), &seen);
          check(next > off, "fetch of " + where + " from " + std::to_string(off) + " below the high watermark " +
                                std::to_string(hw) + " returned nothing");
          off = next;
        }
        for (auto it = pm.known.begin(); it != pm.known.end();) {
          if (seen.count(it->first)) {
            ++it;
            continue;
          }
          check(!must_survive(pm, it->second), "b" + std::to_string(it->second.id) + " acknowledged at " + where + "@" +
                                                   std::to_string(it->first) + " is gone after a" +
                                                   (clean ? " clean" : "n unclean") + " restart (high watermark " +
                                                   std::to_string(hw) + ")");
          sent_.at(it->second.id).known_base = -1;
          it = pm.known.erase(it);
        }
        if (pm.last_idempotent_batch && sent_.at(pm.last_idempotent_batch).known_base < 0) pm.last_idempotent_batch = 0;
      }
    }
    txn_.after_restart();
    for (const auto& [key, c] : commits_) {
      if (!topics_.count(std::get<1>(key))) continue;
      if (c.max_attempted < 0) continue;
      check_committed(std::get<0>(key), std::get<1>(key), std::get<2>(key));
    }
  }

  uint64_t seed_;
  std::mt19937_64 rng_;
  SimDisk disk_;
  SimClock clock_;
  BrokerProcess broker_;
  Client client_;
  std::map<std::string, TopicModel> topics_;
  std::unordered_map<uint64_t, SentBatch> sent_;
  std::map<std::tuple<std::string, std::string, int32_t>, CommitModel> commits_;
  std::vector<GroupModel> groups_;
  unsigned shards_ = 1;
  uint64_t batch_ids_ = 0;
  uint64_t incarnations_ = 0;
  int64_t producer_id_ = -1;
  int16_t producer_epoch_ = 0;
  bool faulted_run_ = false;  // faults were injected in this broker run (storage errors allowed)
  bool crashed_run_ = false;  // the disk under this run crashed (errors allowed until the restart)
  std::deque<std::string> trace_;
  TxnWorkload txn_;  // last: it borrows client_, rng_ and clock_
};

uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

TEST(BrokerSim, RandomSeeds) {
  std::vector<uint64_t> seeds;
  if (std::getenv("SLUICE_SIM_SEED")) {
    seeds.push_back(env_u64("SLUICE_SIM_SEED", 1));
  } else {
    const uint64_t first = env_u64("SLUICE_SIM_FIRST_SEED", 1);
    const uint64_t count = env_u64("SLUICE_SIM_SEEDS", kDefaultSeeds);
    for (uint64_t s = first; s < first + count; ++s) seeds.push_back(s);
  }
  const auto start = Clock::now();
  TxnStats total;
  for (uint64_t seed : seeds) {
    Simulation sim(seed);
    try {
      sim.run();
      const TxnStats& t = sim.txn_stats();
      total.commits += t.commits;
      total.aborts += t.aborts;
      total.unknown_commits += t.unknown_commits;
      total.fenced += t.fenced;
      total.timeouts += t.timeouts;
      total.exactly_once_checks += t.exactly_once_checks;
      total.outputs += t.outputs;
    } catch (const SimFailure& e) {
      sim.stop_quietly();
      std::ostringstream trace;
      for (const auto& line : sim.trace()) trace << "    " << line << "\n";
      ADD_FAILURE() << "seed=" << seed << ": " << e.what() << "\n  last operations:\n"
                    << trace.str() << "  reproduce: SLUICE_SIM_SEED=" << seed << " "
                    << ::testing::internal::GetArgvs()[0];
      return;
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::fprintf(stderr,
               "broker_sim: %zu seeds in %.1f s; transactions: %llu commits, %llu aborts, %llu commits with no "
               "answer, %llu zombies fenced, %llu timeout aborts; %llu exactly-once checks, %llu records processed\n",
               seeds.size(), secs, static_cast<unsigned long long>(total.commits),
               static_cast<unsigned long long>(total.aborts), static_cast<unsigned long long>(total.unknown_commits),
               static_cast<unsigned long long>(total.fenced), static_cast<unsigned long long>(total.timeouts),
               static_cast<unsigned long long>(total.exactly_once_checks),
               static_cast<unsigned long long>(total.outputs));
}

}  // namespace
}  // namespace sluice::sim
