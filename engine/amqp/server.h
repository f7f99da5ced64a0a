#pragma once
// The AMQP 0-9-1 listener and its connections. This slice runs on shard 0 only: the listener,
// every AMQP connection and the one queue::QueueEngine (all exchanges, queues, consumers) live
// there, so no AMQP state crosses shards. See README.md.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "alloc/result.h"

namespace sluice::amqp {

struct ServerConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 5672;
  uint32_t frame_max_bytes = 131072;                // offered in connection.tune
  uint16_t channel_max = 2047;                      // offered in connection.tune
  uint16_t heartbeat_s = 60;                        // offered in connection.tune; the client's tune-ok decides
  std::size_t max_message_bytes = 16 << 20;         // larger content: channel closed 406
  std::size_t max_connection_out_bytes = 64 << 20;  // queued output past it: connection closed
  // Bodies announced by content headers and not yet complete, over all channels of a connection:
  // past it the connection is closed with 506.
  std::size_t max_connection_pending_content_bytes = 64 << 20;
  bool allow_guest_from_loopback_only = true;
};

class Server;

// Binds on the calling shard and starts accepting. Logs `amqp listening on HOST:PORT (shard 0)`.
Result<std::shared_ptr<Server>> start_server(const ServerConfig& cfg);
// Stops accepting and closes every connection (their coroutines end on their own).
void stop_server(const std::shared_ptr<Server>& s);
uint16_t server_port(const Server& s);

}  // namespace sluice::amqp
