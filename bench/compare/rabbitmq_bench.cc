// RabbitMQ load generator (librabbitmq / rabbitmq-c): a durable classic queue, persistent messages
// (delivery_mode 2) published at an open-loop rate with publisher confirms (the basic.ack is the
// producer's acknowledgement: RabbitMQ sends it once the message is on disk), consumed with
// basic.consume (no_ack) on a second connection.
#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <thread>

#include "bench/compare/peer_common.h"

using namespace sluice::bench::peer;

namespace {
amqp_connection_state_t open_conn(const Options& o) {
  amqp_connection_state_t c = amqp_new_connection();
  amqp_socket_t* s = amqp_tcp_socket_new(c);
  if (!s || amqp_socket_open(s, o.host.c_str(), o.port) != AMQP_STATUS_OK) return nullptr;
  amqp_rpc_reply_t r = amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
  if (r.reply_type != AMQP_RESPONSE_NORMAL) return nullptr;
  amqp_channel_open(c, 1);
  if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL) return nullptr;
  return c;
}
}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"rabbitmq_bench - RabbitMQ durable queue + publisher confirms, open-loop latency"};
  add_common_options(app, o);
  CLI11_PARSE(app, argc, argv);
  Workload w(o);
  amqp_connection_state_t pc = open_conn(o), cc = open_conn(o);
  if (!pc || !cc) {
    std::fprintf(stderr, "rabbitmq_bench: connect/login failed\n");
    return 2;
  }
  amqp_bytes_t q = amqp_cstring_bytes(o.name.c_str());
  amqp_queue_delete(pc, 1, q, 0, 0);
  (void)amqp_get_rpc_reply(pc);
  amqp_queue_declare(pc, 1, q, 0, /*durable=*/1, 0, 0, amqp_empty_table);
  if (amqp_get_rpc_reply(pc).reply_type != AMQP_RESPONSE_NORMAL) {
    std::fprintf(stderr, "rabbitmq_bench: queue.declare failed\n");
    return 2;
  }
  amqp_confirm_select(pc, 1);
  if (amqp_get_rpc_reply(pc).reply_type != AMQP_RESPONSE_NORMAL) {
    std::fprintf(stderr, "rabbitmq_bench: confirm.select failed\n");
    return 2;
  }
  amqp_basic_consume(cc, 1, q, amqp_empty_bytes, 0, /*no_ack=*/1, 0, amqp_empty_table);
  if (amqp_get_rpc_reply(cc).reply_type != AMQP_RESPONSE_NORMAL) {
    std::fprintf(stderr, "rabbitmq_bench: basic.consume failed\n");
    return 2;
  }
  std::thread consumer([&] {
    while (!w.stop.load()) {
      amqp_maybe_release_buffers(cc);
      amqp_envelope_t env;
      timeval tv{0, 100000};
      amqp_rpc_reply_t r = amqp_consume_message(cc, &env, &tv, 0);
      int64_t now = mono_ns();
      if (r.reply_type == AMQP_RESPONSE_NORMAL) {
        w.on_receive(env.message.body.bytes, env.message.body.len, now);
        amqp_destroy_envelope(&env);
      } else if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) {
        continue;
      } else {
        w.error("consumer: consume failed");
        return;
      }
    }
  });
  ::usleep(100000);

  amqp_basic_properties_t props;
  props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.delivery_mode = 2;  // persistent
  w.start_clock();
  int64_t g = 0;
  uint64_t acked_upto = 0;  // delivery tags are 1-based publish order: tag = g + 1
  const int64_t hard = w.t0 + static_cast<int64_t>((o.warmup_s + o.duration_s + o.drain_timeout_s) * 1e9);
  while ((g < w.total || static_cast<int64_t>(acked_upto) < g) && mono_ns() < hard) {
    int64_t due = w.due_at(mono_ns());
    while (g < due && g - static_cast<int64_t>(acked_upto) < o.max_inflight) {
      amqp_bytes_t body{o.size, const_cast<char*>(w.make_payload(g))};
      if (amqp_basic_publish(pc, 1, amqp_empty_bytes, q, 0, 0, &props, body) != AMQP_STATUS_OK) {
        w.error("publish failed");
        break;
      }
      ++g;
      w.sent++;
    }
    int64_t next = g < w.total ? w.intended(g) : mono_ns() + 1'000'000;
    int64_t wait = std::max<int64_t>(0, next - mono_ns());
    timeval tv{static_cast<time_t>(wait / 1000000000), static_cast<suseconds_t>((wait % 1000000000) / 1000)};
    amqp_frame_t f;
    int st = amqp_simple_wait_frame_noblock(pc, &f, &tv);
    while (st == AMQP_STATUS_OK) {
      int64_t now = mono_ns();
      if (f.frame_type == AMQP_FRAME_METHOD && f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
        auto* a = static_cast<amqp_basic_ack_t*>(f.payload.method.decoded);
        uint64_t upto = a->delivery_tag;
        if (!a->multiple && a->delivery_tag != acked_upto + 1) {
          // Single acks can only come in order for one channel/one queue; count it anyway.
          w.on_ack(static_cast<int64_t>(a->delivery_tag) - 1, now);
          acked_upto = std::max<uint64_t>(acked_upto, a->delivery_tag);
        } else {
          for (uint64_t t = acked_upto + 1; t <= upto; ++t) w.on_ack(static_cast<int64_t>(t) - 1, now);
          acked_upto = std::max(acked_upto, upto);
        }
      } else if (f.frame_type == AMQP_FRAME_METHOD && f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
        w.error("publisher nack");
        auto* n = static_cast<amqp_basic_nack_t*>(f.payload.method.decoded);
        acked_upto = std::max<uint64_t>(acked_upto, n->delivery_tag);
      }
      timeval zero{0, 0};
      st = amqp_simple_wait_frame_noblock(pc, &f, &zero);
    }
    if (st != AMQP_STATUS_TIMEOUT && st != AMQP_STATUS_OK) {
      w.error("producer: connection error");
      break;
    }
  }
  w.producer_done = true;
  w.wait_drain();
  w.stop = true;
  consumer.join();
  amqp_queue_delete(pc, 1, q, 0, 0);
  amqp_channel_close(pc, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(pc, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(pc);
  amqp_channel_close(cc, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(cc, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(cc);
  return w.report("rabbitmq_bench");
}
