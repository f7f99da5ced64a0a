#include "engine/kafka/server/api_table.h"
#include "engine/kafka/server/request.h"

namespace sluice::kafka {

io::Task<HandlerOutput> dispatch_request(RequestContext& ctx) {
  const int16_t key = ctx.header.request_api_key;
  const int16_t version = ctx.header.request_api_version;
  if (key == ApiVersionsRequest::kApiKey) co_return co_await handle_api_versions(ctx);  // KIP-511 path inside
  const AdvertisedApi* api = find_advertised(key);
  // Unknown APIs and versions cannot be parsed: the real broker closes the connection.
  if (!api || version < api->min_version || version > api->max_version)
    co_return close_connection("unsupported api key or version");
  switch (key) {
    case 0: co_return co_await handle_produce(ctx);
    case 1: co_return co_await handle_fetch(ctx);
    case 2: co_return co_await handle_list_offsets(ctx);
    case 3: co_return co_await handle_metadata(ctx);
    case 8: co_return co_await handle_offset_commit(ctx);
    case 9: co_return co_await handle_offset_fetch(ctx);
    case 10: co_return co_await handle_find_coordinator(ctx);
    case 11: co_return co_await handle_join_group(ctx);
    case 12: co_return co_await handle_heartbeat(ctx);
    case 13: co_return co_await handle_leave_group(ctx);
    case 14: co_return co_await handle_sync_group(ctx);
    case 15: co_return co_await handle_describe_groups(ctx);
    case 16: co_return co_await handle_list_groups(ctx);
    case 42: co_return co_await handle_delete_groups(ctx);
    case 19: co_return co_await handle_create_topics(ctx);
    case 20: co_return co_await handle_delete_topics(ctx);
    case 22: co_return co_await handle_init_producer_id(ctx);
    case 32: co_return co_await handle_describe_configs(ctx);
    case 33: co_return co_await handle_alter_configs(ctx);
    case 37: co_return co_await handle_create_partitions(ctx);
    case 44: co_return co_await handle_incremental_alter_configs(ctx);
    default: break;
  }
  co_return close_connection("api advertised without a handler");
}

}  // namespace sluice::kafka
