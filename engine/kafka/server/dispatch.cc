#include "engine/kafka/server/api_table.h"
#include "engine/kafka/server/request.h"

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
  co_return co_await api->handler(ctx);
}

}  // namespace sluice::kafka
