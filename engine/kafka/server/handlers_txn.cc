// Transaction APIs (KIP-98, KIP-360, KIP-664). Each transactional id lives in the TxnService of
// its __transaction_state partition, on the shard owning that partition; the connection's shard
// forwards the request there. Answers that depend on a state change wait until it is durable.
#include "engine/core/admin.h"
#include "engine/core/group_service.h"
#include "engine/core/shard_state.h"
#include "engine/core/transactions.h"
#include "engine/core/when_all.h"
#include "engine/kafka/server/coordinator_route.h"
#include "engine/kafka/server/errors.h"
#include "engine/kafka/server/request.h"
#include "io/cross_shard.h"

namespace sluice::kafka {
namespace {

// Runs fn(TxnService&) -> Task<R> on the shard that coordinates transactional_id.
template <class R, class Fn>
io::Task<R> on_coordinator(const std::string& transactional_id, R unavailable, Fn fn) {
  return kafka::on_coordinator<core::TxnService, R>(kTxnCoordinators, transactional_id, std::move(unavailable),
                                                    std::move(fn));
}

// A request for an id whose previous transaction is still writing its markers (Prepare*) waits
// for them on the broker for up to this long, then gets CONCURRENT_TRANSACTIONS. Answered at
// once, librdkafka and the Java client would back off for tens of ms (retry.backoff.ms) while the
// markers take one group-commit sync, already under way since the EndTxn answer.
constexpr auto kMarkerSettleWait = std::chrono::milliseconds(1000);

// Like kafka::on_coordinator_durably, but first lets the id's previous transaction finish its
// markers (kMarkerSettleWait).
template <class R, class Op>
io::Task<R> on_settled_coordinator_durably(const std::string& transactional_id, R unavailable, Op op) {
  auto fn = [id = transactional_id, op, unavailable](core::TxnService& svc) mutable -> io::Task<R> {
    co_await svc.wait_markers(id, kMarkerSettleWait);
    R answer = op(svc);
    const bool durable = co_await svc.persist_durably();
    if (!durable) co_return unavailable;
    co_return answer;
  };
  R result = co_await kafka::on_coordinator<core::TxnService, R>(kTxnCoordinators, transactional_id,
                                                                 std::move(unavailable), std::move(fn));
  co_return result;
}

int32_t offsets_partition(const std::string& group_id) {
  const broker::TopicInfo* t = core::shard_state().catalogue.find(core::kGroupTopic);
  if (!t || t->partition_count() == 0) return -1;
  return core::group_partition(group_id, t->partition_count());
}

}  // namespace

// ------------------------------------------------------------------------------- InitProducerId

io::Task<InitProducerIdResponse> txn_init_producer_id(InitProducerIdRequest& req, int16_t version) {
  InitProducerIdResponse resp;
  resp.producer_id = -1;
  resp.producer_epoch = -1;
  // A fresh id is taken ahead (shard 0 hands them out in persisted blocks); the coordinator uses
  // it only for a new transactional id or after epoch exhaustion. An unused one is never reused.
  auto fresh = co_await io::submit_to(0, [] { return core::allocate_producer_id(); });
  if (!fresh.ok()) {
    resp.error_code = kafka_code(core::Errc::kStorage);
    co_return resp;
  }
  txn::InitProducerIdRequest t;
  t.transactional_id = *req.transactional_id;
  t.txn_timeout_ms = req.transaction_timeout_ms;
  t.expected_producer_id = req.producer_id;
  t.expected_producer_epoch = req.producer_epoch;
  t.fresh_producer_id = fresh.value();
  txn::InitProducerIdResult unavailable;
  unavailable.error = core::Errc::kCoordinatorNotAvailable;
  auto op = [t](core::TxnService& svc) { return svc.coordinator().init_producer_id(t, svc.now_ms()); };
  txn::InitProducerIdResult r = co_await on_settled_coordinator_durably<txn::InitProducerIdResult>(
      t.transactional_id, unavailable, std::move(op));
  resp.error_code = txn_kafka_code(r.error, version >= 4);
  if (r.error == core::Errc::kOk) {
    resp.producer_id = r.producer_id;
    resp.producer_epoch = r.producer_epoch;
  }
  co_return resp;
}

namespace {

// --------------------------------------------------------------------------- AddPartitionsToTxn

io::Task<AddPartitionsToTxnResponse> add_partitions_to_txn(RequestContext& ctx, AddPartitionsToTxnRequest& req) {
  core::ShardState& st = core::shard_state();
  // Kafka's answer for a request naming partitions that do not exist: those get
  // UNKNOWN_TOPIC_OR_PARTITION, the others OPERATION_NOT_ATTEMPTED, and nothing is added.
  std::vector<txn::TopicPartition> partitions;
  bool any_unknown = false;
  for (const auto& t : req.v3_and_below_topics) {
    const broker::TopicInfo* info = st.catalogue.find(t.name);
    for (int32_t p : t.partitions) {
      if (!info || p < 0 || p >= info->partition_count()) any_unknown = true;
      partitions.push_back({t.name, p});
    }
  }
  auto answer_all = [&req, &st](auto code_of) {
    AddPartitionsToTxnResponse resp;
    for (const auto& t : req.v3_and_below_topics) {
      AddPartitionsToTxnResponse::AddPartitionsToTxnTopicResult tr;
      tr.name = t.name;
      const broker::TopicInfo* info = st.catalogue.find(t.name);
      for (int32_t p : t.partitions) tr.results_by_partition.push_back({p, code_of(info, p)});
      resp.results_by_topic_v3_and_below.push_back(std::move(tr));
    }
    return resp;
  };
  if (any_unknown) {
    co_return answer_all([](const broker::TopicInfo* info, int32_t p) {
      const bool known = info && p >= 0 && p < info->partition_count();
      return code(known ? ErrorCode::OPERATION_NOT_ATTEMPTED : ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
    });
  }
  const int64_t producer_id = req.v3_and_below_producer_id;
  const int16_t epoch = req.v3_and_below_producer_epoch;
  auto fn = [id = req.v3_and_below_transactional_id, producer_id, epoch,
             partitions](core::TxnService& svc) -> io::Task<core::Errc> {
    co_await svc.wait_markers(id, kMarkerSettleWait);
    core::Errc e = svc.coordinator().add_partitions(id, producer_id, epoch, partitions, svc.now_ms());
    const bool durable = co_await svc.persist_durably();
    if (!durable) co_return core::Errc::kCoordinatorNotAvailable;
    // The partitions' owners learn that this producer may write there before the client does.
    if (e == core::Errc::kOk) co_await core::admit_transaction(producer_id, epoch, partitions);
    co_return e;
  };
  const core::Errc e =
      co_await on_coordinator(req.v3_and_below_transactional_id, core::Errc::kCoordinatorNotAvailable, std::move(fn));
  const int16_t wire = txn_kafka_code(e, ctx.header.request_api_version >= 2);
  co_return answer_all([wire](const broker::TopicInfo*, int32_t) { return wire; });
}

// ----------------------------------------------------------------------------- AddOffsetsToTxn

io::Task<AddOffsetsToTxnResponse> add_offsets_to_txn(RequestContext& ctx, AddOffsetsToTxnRequest& req) {
  AddOffsetsToTxnResponse resp;
  const int32_t partition = offsets_partition(req.group_id);
  if (partition < 0) {
    resp.error_code = kafka_code(core::Errc::kCoordinatorNotAvailable);
    co_return resp;
  }
  auto op = [id = req.transactional_id, pid = req.producer_id, epoch = req.producer_epoch,
             partition](core::TxnService& svc) {
    return svc.coordinator().add_offsets(id, pid, epoch, partition, svc.now_ms());
  };
  const core::Errc e = co_await on_settled_coordinator_durably<core::Errc>(
      req.transactional_id, core::Errc::kCoordinatorNotAvailable, std::move(op));
  resp.error_code = txn_kafka_code(e, ctx.header.request_api_version >= 2);
  co_return resp;
}

// -------------------------------------------------------------------------------------- EndTxn

io::Task<EndTxnResponse> end_txn(RequestContext& ctx, EndTxnRequest& req) {
  auto fn = [id = req.transactional_id, pid = req.producer_id, epoch = req.producer_epoch,
             commit = req.committed](core::TxnService& svc) -> io::Task<core::Errc> {
    core::Errc e = svc.coordinator().end_txn(id, pid, epoch, commit, svc.now_ms());
    const bool durable = co_await svc.persist_durably();
    if (!durable) co_return core::Errc::kCoordinatorNotAvailable;
    // Answered once the prepare record is durable, as Kafka does: the markers follow (one
    // group-commit sync, every partition in parallel) while the answer travels and the client
    // starts its next transaction, whose first request waits for them here on the broker
    // (kMarkerSettleWait) instead of a CONCURRENT_TRANSACTIONS back-off.
    co_return e;
  };
  EndTxnResponse resp;
  const core::Errc e =
      co_await on_coordinator(req.transactional_id, core::Errc::kCoordinatorNotAvailable, std::move(fn));
  resp.error_code = txn_kafka_code(e, ctx.header.request_api_version >= 2);
  co_return resp;
}

// ----------------------------------------------------------------------- Describe / List (664)

io::Task<DescribeTransactionsResponse> describe_transactions(RequestContext&, DescribeTransactionsRequest& req) {
  DescribeTransactionsResponse resp;
  for (const std::string& id : req.transactional_ids) {
    std::vector<txn::DescribedTxn> unavailable(1);
    unavailable[0].error = core::Errc::kCoordinatorNotAvailable;
    unavailable[0].transactional_id = id;
    auto fn = [id](core::TxnService& svc) -> io::Task<std::vector<txn::DescribedTxn>> {
      co_return svc.coordinator().describe(std::vector<std::string>{id});
    };
    auto described = co_await on_coordinator(id, unavailable, std::move(fn));
    for (const txn::DescribedTxn& d : described) {
      DescribeTransactionsResponse::TransactionState s;
      s.error_code = kafka_code(d.error);
      s.transactional_id = d.transactional_id;
      s.transaction_state = d.state;
      s.transaction_timeout_ms = d.txn_timeout_ms;
      s.transaction_start_time_ms = d.start_ms;
      s.producer_id = d.producer_id;
      s.producer_epoch = d.producer_epoch;
      for (const txn::TopicPartition& tp : d.partitions) {
        if (s.topics.empty() || s.topics.back().topic != tp.topic) s.topics.push_back({tp.topic, {}});
        s.topics.back().partitions.push_back(tp.partition);
      }
      resp.transaction_states.push_back(std::move(s));
    }
  }
  co_return resp;
}

io::Task<void> list_on_shard(std::vector<std::string> states, std::vector<int64_t> pids, int64_t duration_ms,
                             txn::ListTxnsResult* out) {
  core::ShardState& st = core::shard_state();
  for (auto& [partition, svc] : st.txns) {
    txn::ListTxnsResult r = svc->coordinator().list(states, pids, duration_ms, svc->now_ms());
    out->unknown_state_filters = std::move(r.unknown_state_filters);
    for (auto& l : r.transactions) out->transactions.push_back(std::move(l));
  }
  co_return;
}

io::Task<ListTransactionsResponse> list_transactions(RequestContext& ctx, ListTransactionsRequest& req) {
  core::ShardState& st = core::shard_state();
  std::vector<txn::ListTxnsResult> per_shard(st.shard_count);
  std::vector<io::Task<void>> calls;
  // A shard's own broker lists the transactional ids it coordinates (admin clients ask every
  // broker and concatenate); the bootstrap address lists every shard's.
  const unsigned first = ctx.via_shard_broker ? st.shard_id : 0;
  const unsigned last = ctx.via_shard_broker ? st.shard_id + 1 : st.shard_count;
  for (unsigned s = first; s < last; ++s) {
    txn::ListTxnsResult* out = &per_shard[s];
    auto call = [states = req.state_filters, pids = req.producer_id_filters, out]() mutable {
      return list_on_shard(std::move(states), std::move(pids), -1, out);
    };
    calls.push_back(io::submit_to(s, std::move(call)));
  }
  co_await core::when_all(std::move(calls));
  ListTransactionsResponse resp;
  for (auto& r : per_shard) {
    if (resp.unknown_state_filters.empty()) resp.unknown_state_filters = std::move(r.unknown_state_filters);
    for (auto& l : r.transactions) resp.transaction_states.push_back({l.transactional_id, l.producer_id, l.state});
  }
  co_return resp;
}

}  // namespace

io::Task<HandlerOutput> handle_add_partitions_to_txn(RequestContext& ctx) {
  co_return co_await typed_handler<AddPartitionsToTxnRequest, AddPartitionsToTxnResponse>(ctx, add_partitions_to_txn);
}
io::Task<HandlerOutput> handle_add_offsets_to_txn(RequestContext& ctx) {
  co_return co_await typed_handler<AddOffsetsToTxnRequest, AddOffsetsToTxnResponse>(ctx, add_offsets_to_txn);
}
io::Task<HandlerOutput> handle_end_txn(RequestContext& ctx) {
  co_return co_await typed_handler<EndTxnRequest, EndTxnResponse>(ctx, end_txn);
}
io::Task<HandlerOutput> handle_describe_transactions(RequestContext& ctx) {
  co_return co_await typed_handler<DescribeTransactionsRequest, DescribeTransactionsResponse>(ctx,
                                                                                              describe_transactions);
}
io::Task<HandlerOutput> handle_list_transactions(RequestContext& ctx) {
  co_return co_await typed_handler<ListTransactionsRequest, ListTransactionsResponse>(ctx, list_transactions);
}

}  // namespace sluice::kafka
