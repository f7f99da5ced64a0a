#include "engine/kafka/server/api_table.h"
#include "engine/kafka/server/kafka_metrics.h"
#include "engine/kafka/server/request.h"
#include "io/shard.h"

namespace sluice::kafka {

io::Task<HandlerOutput> dispatch_request(RequestContext& ctx) {
  const int16_t version = ctx.header.request_api_version;
  const ServedApi* api = find_served_api(ctx.header.request_api_key);
  // Unknown APIs and versions cannot be parsed: the real broker closes the connection (the
  // connection logs why). ApiVersions is the exception (KIP-511): its handler answers any version,
  // a too-new one with its own range. Versions a handler refuses with UNSUPPORTED_VERSION (Produce
  // v0-2, Fetch v0-3) reach it.
  if (!api) co_return close_connection("unsupported api key");
  if (api->api_key != ApiVersionsRequest::kApiKey && !api->answers(version))
    co_return close_connection("unsupported api version");
  const int64_t start_ns = io::monotonic_ns();
  HandlerOutput out = co_await api->handler(ctx);
  KafkaShardMetrics& m = kafka_metrics();
  const auto i = static_cast<std::size_t>(api - kServedApis);
  m.requests[i]++;
  m.latency_ns[i].record(io::monotonic_ns() - start_ns);
  co_return out;
}

}  // namespace sluice::kafka
