#pragma once
#include "io/task.h"
#include "io/tcp.h"

namespace sluice::kafka {
// Serves one client connection until it closes: frames requests (size limit from the config),
// runs them concurrently (bounded per connection) and sends responses in request order.
// via_shard_broker: accepted on this shard's own broker port (RequestContext::via_shard_broker).
io::Task<void> serve_connection(io::TcpConnection sock, bool via_shard_broker);
}  // namespace sluice::kafka
