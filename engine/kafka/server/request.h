#pragma once
// What a request handler gets and returns.
#include <cstdint>
#include <span>
#include <string>

#include "alloc/iobuf.h"
#include "engine/core/byte_budget.h"
#include "engine/kafka/codec/kafka_codec.h"
#include "engine/kafka/server/error_counts.h"
#include "io/task.h"

namespace sluice::kafka {

struct RequestContext {
  RequestHeader header;
  std::span<const std::byte> body;  // the request body (after the header), inside `frame`
  alloc::BufferRef frame;           // keeps body alive while the handler runs
  std::string client_host;
  // The connection came in on this shard's own broker port (sluice.kafka.shard.listeners), so the
  // client addresses this shard's broker; false on the bootstrap address (any shard).
  bool via_shard_broker = false;
};

struct HandlerOutput {
  enum class Kind : uint8_t { respond, no_response, close_connection } kind = Kind::respond;
  alloc::IoBuf frame;  // size-prefixed response when kind == respond
  const char* close_reason = nullptr;
  core::BudgetLease memory;  // the shard's fetch memory this response holds until sent
};

inline HandlerOutput close_connection(const char* why) {
  HandlerOutput o;
  o.kind = HandlerOutput::Kind::close_connection;
  o.close_reason = why;
  return o;
}

// Decodes the body as Req, runs fn(ctx, req) -> Task<Resp>, encodes the response frame.
// The calling shard's response writer. Encoding is synchronous, so handlers share it; its chunks
// are recycled once the responses that used them have been sent, so a response costs no heap
// allocation in steady state.
inline Writer& response_writer() {
  thread_local Writer w;
  return w;
}

// A body that does not decode closes the connection, as the real broker does.
template <class Req, class Resp, class Fn>
io::Task<HandlerOutput> typed_handler(RequestContext& ctx, Fn fn) {
  Req req;
  Reader r(ctx.body);
  auto d = decode(r, ctx.header.request_api_version, req);
  if (!d.ok()) co_return close_connection("malformed request body");
  Resp resp = co_await fn(ctx, req);
  Writer& w = response_writer();
  HandlerOutput out;
  out.frame = encode_counted_response(w, ctx.header.correlation_id, ctx.header.request_api_version, resp);
  co_return out;
}

// Entry point: routes by api key / version (dispatch.cc).
io::Task<HandlerOutput> dispatch_request(RequestContext& ctx);

// Handlers (one per API), each in the file named after its area.
io::Task<HandlerOutput> handle_api_versions(RequestContext& ctx);
io::Task<HandlerOutput> handle_metadata(RequestContext& ctx);
io::Task<HandlerOutput> handle_produce(RequestContext& ctx);
io::Task<HandlerOutput> handle_fetch(RequestContext& ctx);
io::Task<HandlerOutput> handle_list_offsets(RequestContext& ctx);
io::Task<HandlerOutput> handle_delete_records(RequestContext& ctx);
io::Task<HandlerOutput> handle_offset_for_leader_epoch(RequestContext& ctx);
io::Task<HandlerOutput> handle_describe_log_dirs(RequestContext& ctx);
io::Task<HandlerOutput> handle_create_topics(RequestContext& ctx);
io::Task<HandlerOutput> handle_delete_topics(RequestContext& ctx);
io::Task<HandlerOutput> handle_create_partitions(RequestContext& ctx);
io::Task<HandlerOutput> handle_describe_configs(RequestContext& ctx);
io::Task<HandlerOutput> handle_alter_configs(RequestContext& ctx);
io::Task<HandlerOutput> handle_incremental_alter_configs(RequestContext& ctx);
io::Task<HandlerOutput> handle_init_producer_id(RequestContext& ctx);
io::Task<HandlerOutput> handle_find_coordinator(RequestContext& ctx);
io::Task<HandlerOutput> handle_join_group(RequestContext& ctx);
io::Task<HandlerOutput> handle_sync_group(RequestContext& ctx);
io::Task<HandlerOutput> handle_heartbeat(RequestContext& ctx);
io::Task<HandlerOutput> handle_leave_group(RequestContext& ctx);
io::Task<HandlerOutput> handle_offset_commit(RequestContext& ctx);
io::Task<HandlerOutput> handle_offset_fetch(RequestContext& ctx);
io::Task<HandlerOutput> handle_list_groups(RequestContext& ctx);
io::Task<HandlerOutput> handle_describe_groups(RequestContext& ctx);
io::Task<HandlerOutput> handle_delete_groups(RequestContext& ctx);
io::Task<HandlerOutput> handle_offset_delete(RequestContext& ctx);
io::Task<HandlerOutput> handle_add_partitions_to_txn(RequestContext& ctx);
io::Task<HandlerOutput> handle_add_offsets_to_txn(RequestContext& ctx);
io::Task<HandlerOutput> handle_end_txn(RequestContext& ctx);
io::Task<HandlerOutput> handle_txn_offset_commit(RequestContext& ctx);
io::Task<HandlerOutput> handle_describe_cluster(RequestContext& ctx);
io::Task<HandlerOutput> handle_describe_transactions(RequestContext& ctx);
io::Task<HandlerOutput> handle_list_transactions(RequestContext& ctx);
// The transactional half of InitProducerId (handlers_txn.cc), called by its handler.
io::Task<InitProducerIdResponse> txn_init_producer_id(InitProducerIdRequest& req, int16_t version);

}  // namespace sluice::kafka
