#include "tests/sim/txn_workload.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "engine/log/batch_builder.h"
#include "engine/log/control_record.h"
#include "engine/log/record_batch.h"

namespace sluice::sim {
namespace {

constexpr const char* kIn = "xin";
constexpr const char* kOut = "xout";
constexpr const char* kGroup = "ctpg";
// The coordinator rounds timeout aborts up to a multiple of its check interval (10 s default).
constexpr int64_t kAbortCheckIntervalMs = 10000;
// How long a healthy broker gets to finish a transaction's markers (polls of kTransientBackoff).
constexpr int kSettleAttempts = 2000;

std::string tp_name(const std::string& topic, int32_t partition) { return topic + "/" + std::to_string(partition); }

bool retriable_txn(int16_t code) { return transient(code) || is(code, ErrorCode::CONCURRENT_TRANSACTIONS); }

void backoff() { std::this_thread::sleep_for(kTransientBackoff); }

std::span<const std::byte> records_of(const kafka::Records& r, std::vector<std::byte>& scratch) {
  if (!r.data.empty()) {
    scratch = r.data.linearize();
    return scratch;
  }
  return r.view;
}

// "X<batch>.<i>|<body>": the batch id and the body of a record value.
std::optional<std::pair<uint64_t, std::string>> split_value(const std::string& v) {
  if (v.size() < 4 || v[0] != 'X') return std::nullopt;
  const auto dot = v.find('.');
  const auto bar = v.find('|');
  if (dot == std::string::npos || bar == std::string::npos || dot > bar || dot < 2) return std::nullopt;
  for (std::size_t i = 1; i < dot; ++i)
    if (v[i] < '0' || v[i] > '9') return std::nullopt;
  return std::make_pair(std::stoull(v.substr(1, dot - 1)), v.substr(bar + 1));
}

// "o:<input partition>:<input offset>:<input body>", the processor's transform of an input record.
struct Output {
  int32_t partition = 0;
  int64_t offset = 0;
  std::string body;
};
std::optional<Output> parse_output(const std::string& body) {
  if (body.rfind("o:", 0) != 0) return std::nullopt;
  const auto a = body.find(':', 2);
  const auto b = a == std::string::npos ? a : body.find(':', a + 1);
  if (b == std::string::npos) return std::nullopt;
  Output o;
  o.partition = static_cast<int32_t>(std::stol(body.substr(2, a - 2)));
  o.offset = std::stoll(body.substr(a + 1, b - a - 1));
  o.body = body.substr(b + 1);
  return o;
}

}  // namespace

int TxnWorkload::retries() const { return degraded() ? 5 : kTransientRetries; }

std::string TxnWorkload::txn_name(const Txn& t) const {
  std::string s = "T" + std::to_string(t.id) + "(" + t.tid + " pid " + std::to_string(t.producer_id) + " epoch " +
                  std::to_string(t.epoch) + ":";
  if (t.commit_sent) s += t.commit_acked ? " commit acked" : " commit sent";
  if (t.abort_sent) s += t.abort_acked ? " abort acked" : " abort sent";
  if (t.fence_sent) s += " fence sent";
  if (t.must_abort) s += " fenced";
  if (timed_out(t)) s += " timed out";
  if (t.observed) s += t.observed > 0 ? " seen committed" : " seen aborted";
  return s + ")";
}

// --------------------------------------------------------------------------------- the model

bool TxnWorkload::timed_out(const Txn& t) const {
  return t.start_ms >= 0 && env_.clock->now_ms() >= t.start_ms + t.timeout_ms;
}

bool TxnWorkload::can_abort(const Txn& t) const {
  return !t.commit_acked && (t.abort_sent || t.fence_sent || t.must_abort || timed_out(t));
}

bool TxnWorkload::definitely_open(const Txn& t) const {
  return !t.commit_sent && !t.abort_sent && !t.fence_sent && !t.must_abort && !timed_out(t);
}

void TxnWorkload::observe(Txn& t, bool committed, const std::string& where) {
  if (committed) {
    check(can_commit(t), "read_committed: " + where + " shows records of " + txn_name(t) + " as committed");
    check(t.observed >= 0, "not atomic: " + txn_name(t) + " was aborted elsewhere, committed at " + where);
  } else {
    check(can_abort(t), "read_committed: " + where + " shows " + txn_name(t) + " as aborted");
    check(t.observed <= 0, "not atomic: " + txn_name(t) + " was committed elsewhere, aborted at " + where);
  }
  t.observed = committed ? 1 : -1;
}

TxnWorkload::Txn& TxnWorkload::current(Producer& p) { return txns_.at(p.txn); }

bool TxnWorkload::refused(const Producer& p, int16_t code, const std::string& what) {
  note("  " + what + " -> " + err_name(code));
  if (degraded()) return false;
  // Only a fenced or timed-out producer may be refused on a healthy broker.
  const bool may_be_fenced = p.txn != 0 && can_abort(txns_.at(p.txn));
  check(may_be_fenced, what + " of a healthy producer answered " + err_name(code));
  return false;
}

void TxnWorkload::reset(Producer& p) {
  note("  " + p.tid + " starts over");
  p.pid = -1;
  p.epoch = -1;
  p.txn = 0;
  p.seq.clear();
  p.added.clear();
  p.offsets_added = false;
  if (&p == &ctp_) pos_valid_ = false;
}

// ------------------------------------------------------------------------------------ requests

bool TxnWorkload::init(Producer& p) {
  // The coordinator aborts (or completes) whatever this id still has open before it answers.
  for (auto& [id, t] : txns_)
    if (t.tid == p.tid && !t.commit_acked && !t.abort_acked) t.fence_sent = true;
  kafka::InitProducerIdRequest req;
  req.transactional_id = p.tid;
  req.transaction_timeout_ms = p.timeout_ms;
  req.producer_id = -1;
  req.producer_epoch = -1;
  for (int attempt = 0;; ++attempt) {
    auto resp = env_.client->call<kafka::InitProducerIdRequest, kafka::InitProducerIdResponse>(1, req);
    if (retriable_txn(resp.error_code) && attempt < retries()) {
      backoff();
      continue;
    }
    if (!is(resp.error_code, ErrorCode::NONE)) {
      note("init " + p.tid + " -> " + err_name(resp.error_code));
      check(degraded(), "InitProducerId " + p.tid + " answered " + err_name(resp.error_code));
      return false;
    }
    for (auto& [id, t] : txns_) {
      if (t.tid != p.tid) continue;
      if (!t.commit_acked && !t.abort_acked && !t.commit_sent) {
        check(t.observed <= 0, txn_name(t) + " was seen committed, but it was never ended");
        t.must_abort = true;
      }
      check(resp.producer_id != t.producer_id || resp.producer_epoch > t.epoch,
            "InitProducerId " + p.tid + " gave epoch " + std::to_string(resp.producer_epoch) + " of pid " +
                std::to_string(resp.producer_id) + ", not above the epoch of " + txn_name(t));
    }
    p.pid = resp.producer_id;
    p.epoch = resp.producer_epoch;
    p.txn = 0;
    p.seq.clear();
    p.added.clear();
    p.offsets_added = false;
    txn_pids_.insert(p.pid);
    note("init " + p.tid + " -> pid " + std::to_string(p.pid) + " epoch " + std::to_string(p.epoch));
    return true;
  }
}

bool TxnWorkload::add_partitions(Producer& p, const std::vector<std::pair<std::string, int32_t>>& parts) {
  kafka::AddPartitionsToTxnRequest req;
  req.v3_and_below_transactional_id = p.tid;
  req.v3_and_below_producer_id = p.pid;
  req.v3_and_below_producer_epoch = p.epoch;
  std::string what = "add-partitions " + p.tid;
  for (const auto& tp : parts) {
    if (p.added.count(tp)) continue;
    if (req.v3_and_below_topics.empty() || req.v3_and_below_topics.back().name != tp.first)
      req.v3_and_below_topics.push_back({tp.first, {}});
    req.v3_and_below_topics.back().partitions.push_back(tp.second);
    what += " " + tp_name(tp.first, tp.second);
  }
  if (req.v3_and_below_topics.empty()) return true;
  if (p.txn == 0) {
    Txn t;
    t.id = ++next_txn_;
    t.tid = p.tid;
    t.producer_id = p.pid;
    t.epoch = p.epoch;
    t.timeout_ms = p.timeout_ms;
    t.start_ms = env_.clock->now_ms();
    txns_[t.id] = t;
    p.txn = t.id;
    what += " (begins T" + std::to_string(t.id) + ")";
  }
  note(what);
  for (int attempt = 0;; ++attempt) {
    auto resp = env_.client->call<kafka::AddPartitionsToTxnRequest, kafka::AddPartitionsToTxnResponse>(2, req);
    int16_t ec = resp.error_code;
    for (const auto& t : resp.results_by_topic_v3_and_below)
      for (const auto& r : t.results_by_partition)
        if (!is(r.partition_error_code, ErrorCode::NONE)) ec = r.partition_error_code;
    check(!resp.results_by_topic_v3_and_below.empty() || !is(ec, ErrorCode::NONE),
          "AddPartitionsToTxn: malformed answer");
    if (retriable_txn(ec) && attempt < retries()) {
      backoff();
      continue;
    }
    if (!is(ec, ErrorCode::NONE)) return refused(p, ec, what);
    for (const auto& tp : parts) p.added.insert(tp);
    return true;
  }
}

int16_t TxnWorkload::produce_raw(const Batch& b, int64_t* base) {
  kafka::ProduceRequest req;
  req.acks = -1;
  req.timeout_ms = 30000;
  if (b.txn != 0) req.transactional_id = txns_.at(b.txn).tid;
  auto& td = req.topic_data.emplace_back();
  td.name = b.topic;
  auto& pd = td.partition_data.emplace_back();
  pd.index = b.partition;
  pd.records.view = b.bytes;
  for (int attempt = 0;; ++attempt) {
    auto resp = env_.client->call<kafka::ProduceRequest, kafka::ProduceResponse>(7, req);
    check(resp.responses.size() == 1 && resp.responses[0].partition_responses.size() == 1, "produce: malformed answer");
    const auto& pr = resp.responses[0].partition_responses[0];
    // A retry is the same batch with the same sequence: deduplicated if the first one landed.
    if (transient(pr.error_code) && attempt < retries()) {
      backoff();
      continue;
    }
    *base = pr.base_offset;
    return pr.error_code;
  }
}

bool TxnWorkload::produce_txn(Producer& p, const std::string& topic, int32_t partition,
                              std::vector<std::string> bodies) {
  const uint64_t id = ++next_batch_;
  Batch b;
  b.topic = topic;
  b.partition = partition;
  b.txn = p.txn;
  b.producer_id = p.pid;
  b.epoch = p.epoch;
  int32_t& seq = p.seq[{topic, partition}];
  b.base_sequence = seq;
  log::BatchSpec spec;
  spec.attributes = log::batch_attr::kTransactional;
  spec.base_timestamp_ms = env_.clock->now_ms();
  spec.producer_id = p.pid;
  spec.producer_epoch = p.epoch;
  spec.base_sequence = seq;
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    b.values.push_back("X" + std::to_string(id) + "." + std::to_string(i) + "|" + bodies[i]);
    log::RecordSpec rs;
    rs.key_null = true;
    rs.value = b.values.back();
    spec.records.push_back(std::move(rs));
  }
  b.bytes = log::BatchBuilder::build(spec);
  const std::string what = "txn produce X" + std::to_string(id) + " by " + txn_name(txns_.at(p.txn)) + " to " +
                           tp_name(topic, partition) + " n=" + std::to_string(bodies.size());
  batches_[id] = b;
  txns_.at(p.txn).batches.push_back(id);
  note(what);
  int64_t base = -1;
  const int16_t ec = produce_raw(batches_.at(id), &base);
  if (!is(ec, ErrorCode::NONE)) return refused(p, ec, what);
  note("  -> base " + std::to_string(base));
  batches_.at(id).acked_base = base;
  seq += static_cast<int32_t>(bodies.size());
  return true;
}

bool TxnWorkload::end_txn(Producer& p, bool commit) {
  Txn& t = current(p);
  if (commit) t.commit_sent = true;
  else t.abort_sent = true;
  const std::string what = std::string(commit ? "commit " : "abort ") + txn_name(t);
  note(what);
  kafka::EndTxnRequest req;
  req.transactional_id = p.tid;
  req.producer_id = p.pid;
  req.producer_epoch = p.epoch;
  req.committed = commit;
  for (int attempt = 0;; ++attempt) {
    auto resp = env_.client->call<kafka::EndTxnRequest, kafka::EndTxnResponse>(1, req);
    if (retriable_txn(resp.error_code) && attempt < retries()) {
      backoff();
      continue;
    }
    if (!is(resp.error_code, ErrorCode::NONE)) {
      if (commit) stats_.unknown_commits++;
      refused(p, resp.error_code, what);
      reset(p);
      return false;
    }
    if (commit) t.commit_acked = true;
    else t.abort_acked = true;
    if (commit) stats_.commits++;
    else stats_.aborts++;
    note("  -> NONE");
    p.txn = 0;
    p.added.clear();
    p.offsets_added = false;
    return true;
  }
}

bool TxnWorkload::send_offsets(Producer& p) {
  Txn& t = current(p);
  if (!p.offsets_added) {
    note("add-offsets " + txn_name(t));
    kafka::AddOffsetsToTxnRequest req;
    req.transactional_id = p.tid;
    req.producer_id = p.pid;
    req.producer_epoch = p.epoch;
    req.group_id = kGroup;
    for (int attempt = 0;; ++attempt) {
      auto resp = env_.client->call<kafka::AddOffsetsToTxnRequest, kafka::AddOffsetsToTxnResponse>(1, req);
      if (retriable_txn(resp.error_code) && attempt < retries()) {
        backoff();
        continue;
      }
      if (!is(resp.error_code, ErrorCode::NONE)) return refused(p, resp.error_code, "AddOffsetsToTxn");
      break;
    }
    p.offsets_added = true;
  }
  kafka::TxnOffsetCommitRequest req;
  req.transactional_id = p.tid;
  req.group_id = kGroup;
  req.producer_id = p.pid;
  req.producer_epoch = p.epoch;
  req.generation_id = -1;
  auto& topic = req.topics.emplace_back();
  topic.name = kIn;
  std::string what = "txn-offset-commit " + txn_name(t);
  for (const auto& [partition, offset] : t.offsets) {
    auto& tp = topic.partitions.emplace_back();
    tp.partition_index = partition;
    tp.committed_offset = offset;
    what += " " + std::to_string(partition) + "=" + std::to_string(offset);
  }
  note(what);
  for (int attempt = 0;; ++attempt) {
    auto resp = env_.client->call<kafka::TxnOffsetCommitRequest, kafka::TxnOffsetCommitResponse>(2, req);
    int16_t ec = 0;
    for (const auto& rt : resp.topics)
      for (const auto& rp : rt.partitions)
        if (!is(rp.error_code, ErrorCode::NONE)) ec = rp.error_code;
    if (retriable_txn(ec) && attempt < retries()) {
      backoff();
      continue;
    }
    if (!is(ec, ErrorCode::NONE)) return refused(p, ec, what);
    return true;
  }
}

std::optional<std::map<int32_t, int64_t>> TxnWorkload::fetch_committed(bool require_stable) {
  kafka::OffsetFetchRequest req;
  req.group_id = kGroup;
  req.require_stable = require_stable;
  req.topics.emplace();
  auto& t = req.topics->emplace_back();
  t.name = kIn;
  for (int32_t p = 0; p < in_partitions_; ++p) t.partition_indexes.push_back(p);
  for (int attempt = 0;; ++attempt) {
    auto resp = env_.client->call<kafka::OffsetFetchRequest, kafka::OffsetFetchResponse>(7, req);
    int16_t ec = resp.error_code;
    std::map<int32_t, int64_t> out;
    for (const auto& rt : resp.topics)
      for (const auto& rp : rt.partitions) {
        if (!is(rp.error_code, ErrorCode::NONE)) ec = rp.error_code;
        out[rp.partition_index] = rp.committed_offset;
      }
    // require_stable: UNSTABLE_OFFSET_COMMIT while a transaction's offsets are pending.
    const bool unstable = require_stable && is(ec, ErrorCode::UNSTABLE_OFFSET_COMMIT);
    if ((transient(ec) || unstable) && attempt < retries()) {
      backoff();
      continue;
    }
    if (!is(ec, ErrorCode::NONE)) {
      check(degraded(), std::string("OffsetFetch ") + kGroup + " answered " + err_name(ec));
      return std::nullopt;
    }
    check(static_cast<int32_t>(out.size()) == in_partitions_, "OffsetFetch: malformed answer");
    return out;
  }
}

std::optional<kafka::DescribeTransactionsResponse::TransactionState> TxnWorkload::describe(const std::string& tid) {
  kafka::DescribeTransactionsRequest req;
  req.transactional_ids.push_back(tid);
  for (int attempt = 0;; ++attempt) {
    auto resp = env_.client->call<kafka::DescribeTransactionsRequest, kafka::DescribeTransactionsResponse>(0, req);
    check(resp.transaction_states.size() == 1, "DescribeTransactions: malformed answer");
    auto s = resp.transaction_states[0];
    if (transient(s.error_code) && attempt < retries()) {
      backoff();
      continue;
    }
    if (is(s.error_code, ErrorCode::NONE) || is(s.error_code, ErrorCode::TRANSACTIONAL_ID_NOT_FOUND)) return s;
    check(degraded(), "DescribeTransactions " + tid + " answered " + err_name(s.error_code));
    return std::nullopt;
  }
}

bool TxnWorkload::wait_settled(const std::string& tid) {
  const int attempts = degraded() ? 5 : kSettleAttempts;
  std::string state;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    auto s = describe(tid);
    if (!s) return false;
    if (is(s->error_code, ErrorCode::TRANSACTIONAL_ID_NOT_FOUND)) return true;
    state = s->transaction_state;
    if (state != "PrepareCommit" && state != "PrepareAbort") return true;
    backoff();
  }
  check(degraded(), tid + " stays in " + state + ": its markers are never written");
  return false;
}

// --------------------------------------------------------------------------- reading, checking

std::optional<std::vector<TxnWorkload::Visible>> TxnWorkload::read_committed(const std::string& topic,
                                                                             int32_t partition, int64_t from,
                                                                             int64_t* lso_out, int64_t* hw_out) {
  PartState& ps = parts_[{topic, partition}];
  const std::string where = tp_name(topic, partition);
  std::vector<Visible> out;
  int64_t off = from;
  for (;;) {
    kafka::FetchRequest req;
    req.replica_id = -1;
    req.max_wait_ms = 0;
    req.min_bytes = 0;
    req.max_bytes = 1 << 20;
    req.isolation_level = 1;
    auto& ft = req.topics.emplace_back();
    ft.topic = topic;
    auto& fp = ft.partitions.emplace_back();
    fp.partition = partition;
    fp.fetch_offset = off;
    fp.partition_max_bytes = static_cast<int32_t>(1024 + rand(16 << 10));
    kafka::FetchResponse::FetchableTopicResponse::PartitionData pd;
    for (int attempt = 0;; ++attempt) {
      auto resp = env_.client->call<kafka::FetchRequest, kafka::FetchResponse>(11, req);
      check(resp.responses.size() == 1 && resp.responses[0].partitions.size() == 1, "fetch: malformed answer");
      pd = std::move(resp.responses[0].partitions[0]);
      if (transient(pd.error_code) && attempt < retries()) {
        backoff();
        continue;
      }
      break;
    }
    if (!is(pd.error_code, ErrorCode::NONE)) {
      check(degraded(), "read_committed fetch of " + where + " from " + std::to_string(off) + " answered " +
                            err_name(pd.error_code));
      return std::nullopt;
    }
    const int64_t lso = pd.last_stable_offset;
    const int64_t hw = pd.high_watermark;
    check(lso >= 0 && lso <= hw,
          "fetch of " + where + ": LSO " + std::to_string(lso) + ", high watermark " + std::to_string(hw));
    check(lso >= ps.max_lso,
          "the LSO of " + where + " went back from " + std::to_string(ps.max_lso) + " to " + std::to_string(lso));
    ps.max_lso = lso;
    if (lso_out) *lso_out = lso;
    if (hw_out) *hw_out = hw;
    // The LSO stops at the first offset of every transaction that is certainly still open.
    for (const auto& [id, t] : txns_) {
      if (!definitely_open(t)) continue;
      for (uint64_t bid : t.batches) {
        const Batch& b = batches_.at(bid);
        if (b.topic != topic || b.partition != partition || b.acked_base < 0) continue;
        check(lso <= b.acked_base, "the LSO of " + where + " is " + std::to_string(lso) + ", past X" +
                                       std::to_string(bid) + " at " + std::to_string(b.acked_base) + " of open " +
                                       txn_name(t));
      }
    }
    if (off >= lso) break;
    // As Kafka's consumer does it: an aborted transaction's producer is skipped from its first
    // offset to its ABORT marker; control batches are never delivered.
    std::vector<kafka::FetchResponse::FetchableTopicResponse::PartitionData::AbortedTransaction> aborted;
    if (pd.aborted_transactions) aborted = *pd.aborted_transactions;
    std::sort(aborted.begin(), aborted.end(),
              [](const auto& a, const auto& b) { return a.first_offset < b.first_offset; });
    std::size_t next_aborted = 0;
    std::set<int64_t> aborted_pids;
    std::map<int64_t, uint64_t> txn_of_pid;  // the transaction each producer's batches here belong to
    std::vector<std::byte> scratch;
    auto bytes = records_of(pd.records, scratch);
    check(!bytes.empty(), "read_committed fetch of " + where + " from " + std::to_string(off) + " below the LSO " +
                              std::to_string(lso) + " returned nothing");
    bool first = true;
    while (!bytes.empty()) {
      auto sz = log::peek_batch_size(bytes);
      check(sz.ok() && sz.value() <= bytes.size(), "fetch of " + where + " returned a partial batch");
      auto batch = bytes.first(sz.value());
      bytes = bytes.subspan(sz.value());
      auto h = log::parse_batch_header(batch);
      check(h.ok() && h->magic == log::kMagicV2, "fetch of " + where + ": bad batch header");
      check(log::compute_batch_crc(batch) == h->crc, "fetch of " + where + ": CRC mismatch");
      const std::string at = where + "@" + std::to_string(h->base_offset);
      if (first) {
        check(h->base_offset <= off && off <= h->last_offset(),
              "read_committed fetch of " + where + " from " + std::to_string(off) + " starts at " + at);
      } else {
        check(h->base_offset == off, "fetch of " + where + ": " + at + " does not follow " + std::to_string(off));
      }
      first = false;
      check(h->last_offset() < lso, "read_committed fetch returned " + at + " (last " +
                                        std::to_string(h->last_offset()) + ") at or above the LSO " +
                                        std::to_string(lso));
      off = h->last_offset() + 1;
      while (next_aborted < aborted.size() && aborted[next_aborted].first_offset <= h->last_offset())
        aborted_pids.insert(aborted[next_aborted++].producer_id);
      if (h->is_control()) {
        check(h->is_transactional(), "control batch at " + at + " is not transactional");
        auto marker = log::parse_control_batch(batch);
        check(marker.ok(), "malformed control batch at " + at);
        check(txn_pids_.count(h->producer_id) != 0,
              "marker at " + at + " for producer " + std::to_string(h->producer_id) + " that never began one");
        const bool commit = marker->type == log::ControlType::kCommit;
        // The marker ends the transaction whose batches this reader saw before it.
        auto it = txn_of_pid.find(h->producer_id);
        if (it != txn_of_pid.end()) {
          observe(txns_.at(it->second), commit, std::string(commit ? "COMMIT" : "ABORT") + " marker at " + at);
          txn_of_pid.erase(it);
        }
        if (!commit) aborted_pids.erase(h->producer_id);
        continue;
      }
      std::optional<std::vector<Rec>> recs = parse_records(batch, *h);
      check(recs.has_value() && !recs->empty(), "fetch of " + where + ": malformed records at " + at);
      auto first_value = split_value((*recs)[0].value);
      check(first_value.has_value() && batches_.count(first_value->first),
            "fetch of " + where + ": a batch the workload never sent at " + at);
      const uint64_t bid = first_value->first;
      Batch& b = batches_.at(bid);
      check(b.topic == topic && b.partition == partition,
            "X" + std::to_string(bid) + " sent to " + tp_name(b.topic, b.partition) + " is at " + at);
      check(static_cast<std::size_t>(h->record_count) == b.values.size(),
            "X" + std::to_string(bid) + " at " + at + " has other records than were sent");
      for (std::size_t i = 0; i < b.values.size(); ++i)
        check((*recs)[i].value == b.values[i], "X" + std::to_string(bid) + " at " + at + " has other records");
      check(h->producer_id == b.producer_id && h->producer_epoch == b.epoch && h->base_sequence == b.base_sequence &&
                h->is_transactional() == (b.txn != 0),
            "X" + std::to_string(bid) + " at " + at + " lost its producer id, epoch, sequence or flag");
      check(b.acked_base < 0 || b.acked_base == h->base_offset,
            "X" + std::to_string(bid) + " was acknowledged at " + std::to_string(b.acked_base) + ", found at " + at);
      check(b.seen_base < 0 || b.seen_base == h->base_offset,
            "X" + std::to_string(bid) + " is in the log twice: at " + std::to_string(b.seen_base) + " and " + at);
      b.seen_base = h->base_offset;
      if (b.txn != 0) {
        txn_of_pid[h->producer_id] = b.txn;
        const bool skipped = aborted_pids.count(h->producer_id) != 0;
        observe(txns_.at(b.txn), !skipped, "X" + std::to_string(bid) + " at " + at);
        if (skipped) continue;
      }
      ps.visible[h->base_offset] = bid;
      for (std::size_t i = 0; i < b.values.size(); ++i) {
        const int64_t o = h->base_offset + static_cast<int64_t>(i);
        if (o < from) continue;
        out.push_back({o, bid, split_value(b.values[i])->second});
      }
    }
    if (off >= lso) break;
  }
  return out;
}

std::optional<std::vector<TxnWorkload::Visible>> TxnWorkload::scan(const std::string& topic, int32_t partition,
                                                                   int64_t* lso_out, int64_t* hw_out) {
  auto v = read_committed(topic, partition, 0, lso_out, hw_out);
  if (!v) return v;
  std::set<int64_t> bases;
  for (const Visible& r : *v) bases.insert(batches_.at(r.batch).seen_base);
  for (const auto& [base, bid] : parts_[{topic, partition}].visible)
    check(bases.count(base) != 0, "X" + std::to_string(bid) + " that a read_committed reader got at " +
                                      tp_name(topic, partition) + "@" + std::to_string(base) + " is gone");
  return v;
}

void TxnWorkload::check_exactly_once(bool settled) {
  std::map<std::pair<int32_t, int64_t>, std::string> inputs;
  for (int32_t p = 0; p < in_partitions_; ++p) {
    auto v = scan(kIn, p);
    if (!v) return;
    for (const Visible& r : *v) inputs[{p, r.offset}] = r.body;
  }
  std::set<std::pair<int32_t, int64_t>> outputs;
  for (int32_t q = 0; q < out_partitions_; ++q) {
    auto v = scan(kOut, q);
    if (!v) return;
    std::map<int32_t, int64_t> last;
    for (const Visible& r : *v) {
      const std::string at = tp_name(kOut, q) + "@" + std::to_string(r.offset);
      auto o = parse_output(r.body);
      check(o.has_value(), "output at " + at + " is not the processor's: " + r.body);
      const std::string src = tp_name(kIn, o->partition) + "@" + std::to_string(o->offset);
      auto in = inputs.find({o->partition, o->offset});
      check(in != inputs.end() && in->second == o->body,
            "output at " + at + " transforms " + src + ", which is not a committed input record");
      check(outputs.insert({o->partition, o->offset}).second,
            "not exactly once: " + src + " was processed twice (again at " + at + ")");
      auto l = last.find(o->partition);
      check(l == last.end() || l->second < o->offset,
            "out of order: " + src + " after " + std::to_string(l == last.end() ? -1 : l->second) + " at " + at);
      last[o->partition] = o->offset;
    }
  }
  auto committed = fetch_committed(false);
  if (!committed) return;
  std::string offsets;
  bool any = false;
  for (const auto& [p, c] : *committed) {
    offsets += " " + std::to_string(p) + "=" + std::to_string(c);
    any = any || c >= 0;
  }
  if (any) {
    // Committed offsets are those of a transaction that committed, never of an open or aborted one.
    Txn* from = nullptr;
    for (auto& [id, t] : txns_)
      if (t.tid == ctp_.tid && t.offsets == *committed && can_commit(t)) from = &t;
    check(from != nullptr, std::string("the committed offsets of ") + kGroup + " are" + offsets +
                               ", which no committed transaction sent");
    observe(*from, true, "committed offsets");
  }
  for (const auto& [p, c] : *committed) {
    auto m = max_committed_.find(p);
    check(m == max_committed_.end() || c >= m->second,
          "committed offset of " + tp_name(kIn, p) + " moved back from " + std::to_string(m->second));
    max_committed_[p] = c;
    auto a = acked_committed_.find(p);
    check(a == acked_committed_.end() || c >= a->second, "committed offset of " + tp_name(kIn, p) + " is " +
                                                             std::to_string(c) + ", below the acknowledged commit " +
                                                             std::to_string(a->second));
  }
  note("exactly-once check: " + std::to_string(outputs.size()) + " outputs, offsets" + offsets +
       (settled ? " (settled)" : ""));
  if (!settled || degraded()) return;
  stats_.exactly_once_checks++;
  stats_.outputs = outputs.size();
  // Exactly once: the output is the committed input below the committed offsets, each once.
  for (const auto& key : outputs)
    check(key.second < committed->at(key.first),
          "output of " + tp_name(kIn, key.first) + "@" + std::to_string(key.second) +
              " is visible, but the committed offset is " + std::to_string(committed->at(key.first)));
  for (const auto& [key, body] : inputs)
    check(key.second >= committed->at(key.first) || outputs.count(key),
          "input " + tp_name(kIn, key.first) + "@" + std::to_string(key.second) + " is below the committed offset " +
              std::to_string(committed->at(key.first)) + " but its output is not visible");
}

void TxnWorkload::check_acked_commits_visible() {
  for (const auto& [id, t] : txns_) {
    if (!t.commit_acked) continue;
    for (uint64_t bid : t.batches) {
      const Batch& b = batches_.at(bid);
      if (b.acked_base < 0) continue;
      // Below the LSO (another transaction may hold it lower), it must have been read.
      if (b.acked_base >= parts_[{b.topic, b.partition}].max_lso) continue;
      check(b.seen_base == b.acked_base, "the commit of " + txn_name(t) + " was acknowledged, but X" +
                                             std::to_string(bid) + " at " + tp_name(b.topic, b.partition) + "@" +
                                             std::to_string(b.acked_base) + " is not visible read_committed");
    }
  }
}

// ---------------------------------------------------------------------------------- operations

void TxnWorkload::setup() {
  in_partitions_ = 1 + static_cast<int32_t>(rand(2));
  out_partitions_ = 1 + static_cast<int32_t>(rand(3));
  const std::map<std::string, int32_t> wanted{{kIn, in_partitions_}, {kOut, out_partitions_}};
  for (const auto& [name, n] : wanted) {
    kafka::CreateTopicsRequest req;
    req.timeout_ms = 30000;
    auto& t = req.topics.emplace_back();
    t.name = name;
    t.num_partitions = n;
    t.replication_factor = 1;
    // Small segments: aborted-transaction indexes over several segments, rebuilt on recovery.
    if (chance(50)) t.configs.push_back({"segment.bytes", std::to_string(1024 + rand(4096))});
    note("create " + name + " partitions=" + std::to_string(n));
    for (int attempt = 0;; ++attempt) {
      auto resp = env_.client->call<kafka::CreateTopicsRequest, kafka::CreateTopicsResponse>(4, req);
      check(resp.topics.size() == 1, "CreateTopics: malformed answer");
      if (transient(resp.topics[0].error_code) && attempt < retries()) {
        backoff();
        continue;
      }
      check(is(resp.topics[0].error_code, ErrorCode::NONE),
            "CreateTopics " + name + " answered " + err_name(resp.topics[0].error_code));
      break;
    }
  }
  set_up_ = true;
}

std::map<std::string, int32_t> TxnWorkload::topics() const {
  if (!set_up_) return {};
  return {{kIn, in_partitions_}, {kOut, out_partitions_}};
}

void TxnWorkload::step() {
  if (!set_up_) return;
  const int r = static_cast<int>(rand(100));
  if (r < 18) op_plain_input();
  else if (r < 42) op_ctp();
  else if (r < 60) op_src();
  else if (r < 66) op_zombie();
  else if (r < 72) op_timeout();
  else if (r < 90) op_read();
  else check_exactly_once(false);
}

void TxnWorkload::op_plain_input() {
  const int32_t p = static_cast<int32_t>(rand(static_cast<uint64_t>(in_partitions_)));
  const uint64_t id = ++next_batch_;
  Batch b;
  b.topic = kIn;
  b.partition = p;
  log::BatchSpec spec;
  spec.base_timestamp_ms = env_.clock->now_ms();
  const std::size_t n = 1 + rand(3);
  for (std::size_t i = 0; i < n; ++i) {
    b.values.push_back("X" + std::to_string(id) + "." + std::to_string(i) + "|in" + std::to_string(++next_input_));
    log::RecordSpec rs;
    rs.key_null = true;
    rs.value = b.values.back();
    spec.records.push_back(std::move(rs));
  }
  b.bytes = log::BatchBuilder::build(spec);
  batches_[id] = b;
  const std::string what = "input X" + std::to_string(id) + " to " + tp_name(kIn, p) + " n=" + std::to_string(n);
  note(what);
  int64_t base = -1;
  const int16_t ec = produce_raw(batches_.at(id), &base);
  if (!is(ec, ErrorCode::NONE)) {
    note("  -> " + err_name(ec));
    check(degraded(), what + " answered " + err_name(ec));
    return;
  }
  batches_.at(id).acked_base = base;
  note("  -> base " + std::to_string(base));
}

void TxnWorkload::op_src() {
  if (src_.pid < 0) {
    init(src_);
    return;
  }
  const bool fresh = src_.txn == 0;
  const int r = static_cast<int>(rand(100));
  if (fresh || r < 25) {
    std::vector<std::pair<std::string, int32_t>> parts;
    const int32_t first = static_cast<int32_t>(rand(static_cast<uint64_t>(in_partitions_)));
    parts.emplace_back(kIn, first);
    if (in_partitions_ > 1 && chance(40)) parts.emplace_back(kIn, (first + 1) % in_partitions_);
    if (!add_partitions(src_, parts)) {
      if (src_.txn) end_txn(src_, false);
      return;
    }
    for (const auto& [topic, p] : parts) {
      std::vector<std::string> bodies;
      for (uint64_t i = 0, n = 1 + rand(3); i < n; ++i) bodies.push_back("in" + std::to_string(++next_input_));
      if (!produce_txn(src_, topic, p, std::move(bodies))) {
        end_txn(src_, false);
        return;
      }
    }
    if (!fresh) return;
    const int end = static_cast<int>(rand(100));
    if (end < 50) end_txn(src_, true);
    else if (end < 75) end_txn(src_, false);
    // else: left open (until a later step ends it, or its timeout does)
    return;
  }
  end_txn(src_, r < 70);
}

void TxnWorkload::op_ctp() {
  if (ctp_.pid < 0) {
    init(ctp_);
    return;
  }
  if (!pos_valid_) {
    // The processor (re)starts from its group's committed offsets, once no transaction's
    // offsets are pending.
    auto committed = fetch_committed(true);
    if (!committed) return;
    pos_.clear();
    for (const auto& [p, c] : *committed) pos_[p] = std::max<int64_t>(c, 0);
    pos_valid_ = true;
  }
  if (ctp_.txn == 0 || chance(30)) {
    if (!ctp_consume()) return;
    if (ctp_.txn == 0 || chance(40)) return;
  }
  ctp_finish(chance(85));
}

bool TxnWorkload::ctp_consume() {
  const int32_t start = static_cast<int32_t>(rand(static_cast<uint64_t>(in_partitions_)));
  std::vector<std::pair<int32_t, Visible>> taken;
  std::size_t want = 1 + rand(6);
  for (int32_t i = 0; i < in_partitions_ && taken.size() < want; ++i) {
    const int32_t p = (start + i) % in_partitions_;
    auto v = read_committed(kIn, p, pos_[p]);
    if (!v) return false;
    for (const Visible& r : *v) {
      if (taken.size() >= want) break;
      taken.emplace_back(p, r);
    }
  }
  if (taken.empty()) return true;
  std::map<int32_t, std::vector<std::string>> per_out;
  for (const auto& [p, r] : taken) {
    const int32_t q = static_cast<int32_t>(rand(static_cast<uint64_t>(out_partitions_)));
    per_out[q].push_back("o:" + std::to_string(p) + ":" + std::to_string(r.offset) + ":" + r.body);
  }
  std::vector<std::pair<std::string, int32_t>> parts;
  for (const auto& [q, bodies] : per_out) parts.emplace_back(kOut, q);
  const bool added = add_partitions(ctp_, parts);
  if (!added) {
    if (ctp_.txn) end_txn(ctp_, false);
    pos_valid_ = false;
    return false;
  }
  for (auto& [q, bodies] : per_out) {
    const bool sent = produce_txn(ctp_, kOut, q, std::move(bodies));
    if (!sent) {
      end_txn(ctp_, false);
      pos_valid_ = false;
      return false;
    }
  }
  for (const auto& [p, r] : taken) pos_[p] = std::max(pos_[p], r.offset + 1);
  current(ctp_).offsets = pos_;
  return true;
}

void TxnWorkload::ctp_finish(bool commit) {
  // Sometimes the offsets go first and the transaction stays open a while: pending offsets must
  // not be visible (and an abort drops them).
  const bool offsets_first = chance(commit ? 25 : 50);
  if (offsets_first) {
    if (!send_offsets(ctp_)) {
      if (ctp_.txn) end_txn(ctp_, false);
      pos_valid_ = false;
      return;
    }
    check_exactly_once(false);
    if (commit && chance(50)) {
      note("  T" + std::to_string(ctp_.txn) + " stays open with its offsets pending");
      return;
    }
  }
  if (!commit) {
    end_txn(ctp_, false);
    pos_valid_ = false;  // back to the committed offsets
    return;
  }
  const std::map<int32_t, int64_t> offsets = current(ctp_).offsets;
  if (!send_offsets(ctp_)) {
    if (ctp_.txn) end_txn(ctp_, false);
    pos_valid_ = false;
    return;
  }
  if (!end_txn(ctp_, true)) return;
  acked_committed_ = offsets;
  if (degraded()) return;
  wait_settled(ctp_.tid);
  check_exactly_once(true);
  check_acked_commits_visible();
}

void TxnWorkload::op_zombie() {
  if (ctp_.pid < 0) return;
  Producer zombie = ctp_;
  note("ctp replaced by a new instance: the old one (pid " + std::to_string(zombie.pid) + " epoch " +
       std::to_string(zombie.epoch) + ") is a zombie");
  ctp_ = Producer{ctp_.tid, ctp_.timeout_ms};
  pos_valid_ = false;
  const bool fenced = init(ctp_);
  if (!fenced) return;
  // Every write of the zombie is refused from now on (and never becomes visible).
  if (zombie.txn == 0) {
    Txn t;
    t.id = ++next_txn_;
    t.tid = zombie.tid;
    t.producer_id = zombie.pid;
    t.epoch = zombie.epoch;
    t.timeout_ms = zombie.timeout_ms;
    t.must_abort = true;  // whatever it writes now belongs to no transaction that may commit
    txns_[t.id] = t;
    zombie.txn = t.id;
  }
  int32_t q = static_cast<int32_t>(rand(static_cast<uint64_t>(out_partitions_)));
  for (const auto& [topic, p] : zombie.added)
    if (topic == kOut) q = p;
  const bool accepted = produce_txn(zombie, kOut, q, {"o:zombie"});
  check(!accepted, "the fenced zombie's produce to " + tp_name(kOut, q) + " was accepted");
  // No zombie TxnOffsetCommit: below v3 (no group generation), Kafka's group coordinator accepts
  // it from any epoch as pending offsets of the producer id (KIP-890 closes that), and Sluice does
  // the same; those offsets would then hold require_stable readers until the id's next marker.
  kafka::EndTxnRequest end;
  end.transactional_id = zombie.tid;
  end.producer_id = zombie.pid;
  end.producer_epoch = zombie.epoch;
  end.committed = true;
  auto eresp = env_.client->call<kafka::EndTxnRequest, kafka::EndTxnResponse>(1, end);
  note("  zombie EndTxn(commit) -> " + err_name(eresp.error_code));
  check(!is(eresp.error_code, ErrorCode::NONE), "the fenced zombie's EndTxn(commit) was accepted");
  stats_.fenced++;
}

void TxnWorkload::op_timeout() {
  if (src_.pid < 0 || src_.txn == 0) {
    // Some time passes with nothing open for src (a ctp transaction may time out meanwhile).
    const int64_t d = static_cast<int64_t>(rand(5000));
    env_.clock->advance_ms(d);
    note("clock +" + std::to_string(d) + " ms");
    return;
  }
  Txn& t = current(src_);
  const int64_t due = t.start_ms + t.timeout_ms + kAbortCheckIntervalMs + 1;
  const int64_t d = std::max<int64_t>(0, due - env_.clock->now_ms()) + static_cast<int64_t>(rand(1000));
  env_.clock->advance_ms(d);
  note("clock +" + std::to_string(d) + " ms: " + txn_name(t) + " times out");
  // The coordinator aborts it by itself, with an epoch bump that fences the producer.
  bool aborted = false;
  const int attempts = degraded() ? 5 : kSettleAttempts;
  std::string state;
  for (int attempt = 0; attempt < attempts && !aborted; ++attempt) {
    auto s = describe(src_.tid);
    if (!s) break;
    state = s->transaction_state;
    aborted = (state == "CompleteAbort" || state == "Empty") &&
              (s->producer_id != t.producer_id || s->producer_epoch > t.epoch);
    if (!aborted) backoff();
  }
  if (!aborted) {
    check(degraded(), txn_name(t) + " is past its timeout but the coordinator never aborted it (state " + state + ")");
    reset(src_);
    return;
  }
  note("  aborted by the coordinator");
  stats_.timeouts++;
  t.must_abort = true;
  // The timed-out producer is fenced: its writes and its commit are refused.
  auto part = src_.added.empty() ? std::make_pair(std::string(kIn), 0) : *src_.added.begin();
  const bool accepted = produce_txn(src_, part.first, part.second, {"in-fenced"});
  check(!accepted, "the timed-out producer's produce to " + tp_name(part.first, part.second) + " was accepted");
  kafka::EndTxnRequest end;
  end.transactional_id = src_.tid;
  end.producer_id = src_.pid;
  end.producer_epoch = src_.epoch;
  end.committed = true;
  auto resp = env_.client->call<kafka::EndTxnRequest, kafka::EndTxnResponse>(1, end);
  note("  timed-out EndTxn(commit) -> " + err_name(resp.error_code));
  check(!is(resp.error_code, ErrorCode::NONE), "the timed-out producer's EndTxn(commit) was accepted");
  reset(src_);
}

void TxnWorkload::op_read() {
  const bool in = chance(50);
  const std::string topic = in ? kIn : kOut;
  const int32_t p = static_cast<int32_t>(rand(static_cast<uint64_t>(in ? in_partitions_ : out_partitions_)));
  const int64_t top = parts_[{topic, p}].max_lso;
  const int64_t from = static_cast<int64_t>(rand(static_cast<uint64_t>(top) + 1));
  int64_t lso = -1;
  int64_t hw = -1;
  auto v = read_committed(topic, p, from, &lso, &hw);
  if (!v) return;
  note("read_committed " + tp_name(topic, p) + " from " + std::to_string(from) + ": " + std::to_string(v->size()) +
       " records, LSO " + std::to_string(lso) + " hw " + std::to_string(hw));
}

bool TxnWorkload::end_txn_unanswered(const std::function<void()>& arm) {
  if (!set_up_) return false;
  Producer* p = nullptr;
  bool commit = true;
  if (ctp_.txn != 0 && chance(70)) {
    p = &ctp_;
    if (!send_offsets(ctp_)) {
      end_txn(ctp_, false);
      pos_valid_ = false;
      return false;
    }
  } else if (src_.txn != 0) {
    p = &src_;
    commit = chance(60);
  } else {
    return false;
  }
  Txn& t = current(*p);
  if (commit) t.commit_sent = true;
  else t.abort_sent = true;
  note(std::string(commit ? "commit " : "abort ") + txn_name(t) + ", the broker crashes meanwhile");
  kafka::EndTxnRequest req;
  req.transactional_id = p->tid;
  req.producer_id = p->pid;
  req.producer_epoch = p->epoch;
  req.committed = commit;
  arm();
  env_.client->send_no_wait(1, req);
  if (commit) stats_.unknown_commits++;
  // The client never learns the outcome: it starts over (InitProducerId completes the transaction).
  reset(*p);
  return true;
}

void TxnWorkload::after_restart() {
  if (!set_up_) return;
  // Recovery finishes every prepared transaction by itself (no client asks it to).
  wait_settled(ctp_.tid);
  wait_settled(src_.tid);
  check_exactly_once(true);
  check_acked_commits_visible();
}

void TxnWorkload::finish() {
  if (!set_up_) return;
  note("txn finish");
  if (src_.txn) end_txn(src_, chance(50));
  if (ctp_.txn) ctp_finish(true);
  // A transaction left open by an instance that started over is aborted by its timeout.
  env_.clock->advance_ms(ctp_.timeout_ms + kAbortCheckIntervalMs + 1);
  note("clock +" + std::to_string(ctp_.timeout_ms + kAbortCheckIntervalMs + 1) + " ms");
  for (const std::string& tid : {src_.tid, ctp_.tid}) {
    std::string state;
    for (int attempt = 0; attempt < kSettleAttempts; ++attempt) {
      auto s = describe(tid);
      state = s ? s->transaction_state : "?";
      if (!s || is(s->error_code, ErrorCode::TRANSACTIONAL_ID_NOT_FOUND)) break;
      if (state == "Empty" || state == "CompleteCommit" || state == "CompleteAbort") break;
      backoff();
    }
    check(state != "Ongoing" && state != "PrepareCommit" && state != "PrepareAbort",
          tid + " is still " + state + " after every timeout passed");
  }
  for (auto& [id, t] : txns_)
    if (!t.commit_sent && !t.commit_acked && !t.abort_acked) t.must_abort = t.must_abort || timed_out(t);
  // Nothing is open any more: every partition is stable up to its end.
  for (const auto& [name, n] : topics()) {
    for (int32_t p = 0; p < n; ++p) {
      int64_t lso = -1;
      int64_t hw = -1;
      auto v = scan(name, p, &lso, &hw);
      check(v.has_value(), "cannot read " + tp_name(name, p));
      check(lso == hw, "no transaction is open, yet the LSO of " + tp_name(name, p) + " is " + std::to_string(lso) +
                           " below the high watermark " + std::to_string(hw));
    }
  }
  check_exactly_once(true);
  check_acked_commits_visible();
}

}  // namespace sluice::sim
