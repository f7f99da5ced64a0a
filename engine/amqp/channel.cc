// Channel-level methods: channel.*, exchange.*, queue.*, basic.* (but publish content), confirm.
#include "engine/amqp/server_internal.h"

namespace sluice::amqp {

// false (and the channel or connection closed as RabbitMQ does) when the engine refused an
// operation on queue `q`.
bool Conn::queue_ok(AmqpChannel& ch, queue::QErr e, const std::string& q, const Method& m) {
  if (e == queue::QErr::kOk) return true;
  engine_error(ch, e, "queue '" + q + "'", m);
  return false;
}

// queue.purge-ok and queue.delete-ok: the messages the queue held, unless the client said no-wait.
void Conn::reply_with_message_count(uint16_t cid, const Method& m, MethodId ok_id, uint32_t message_count) {
  if (m.bit("no-wait")) return;
  Method ok = make_method(ok_id);
  ok.set("message-count", message_count);
  send_method(cid, ok);
}

bool Conn::parse_declare_args(AmqpChannel& ch, const Method& m, queue::QueueOptions* o) {
  const std::string& name = m.str("queue");
  auto refuse = [&](const std::string& what, const std::string& detail) {
    channel_error(ch, reply::kPreconditionFailed,
                  "PRECONDITION_FAILED - " + what + " for queue '" + name + "' in vhost '/'" + detail, &m);
    return false;
  };
  for (const auto& [k, v] : m.table("arguments")) {
    bool not_implemented = false;
    std::string why = parse_queue_arg(k, v, &o->args, &not_implemented);
    if (not_implemented) {
      connection_error(reply::kNotImplemented, "NOT_IMPLEMENTED - queue argument '" + k + "' not supported yet", &m);
      return false;
    }
    if (!why.empty()) return refuse("invalid arg '" + k + "'", ": " + why);
  }
  if (o->args.dead_letter_routing_key && !o->args.dead_letter_exchange)
    return refuse("invalid arg 'x-dead-letter-routing-key'", ": {routing_key_but_no_dlx_defined}");
  if (o->args.type == queue::QueueType::kQuorum) {
    std::string bad = quorum_flag_error(*o);
    if (!bad.empty()) return refuse("invalid property '" + bad + "'", "");
  }
  return true;
}

// Answers ok_id unless the client said no-wait.
void Conn::reply_unless_nowait(uint16_t cid, const Method& m, MethodId ok_id) {
  if (!m.bit("no-wait")) send_method(cid, make_method(ok_id));
}

void Conn::exchange_declare(AmqpChannel& ch, const Method& m) {
  queue::QueueEngine& eng = srv_->engine_;
  const std::string& name = m.str("exchange");
  auto type = queue::parse_exchange_type(m.str("type"));
  if (!m.bit("passive") && !type) {
    connection_error(reply::kCommandInvalid, "COMMAND_INVALID - unknown exchange type '" + m.str("type") + "'", &m);
    return;
  }
  queue::ExchangeOptions o{m.bit("passive"), m.bit("durable"), m.bit("auto-delete"), m.bit("internal")};
  queue::QErr e = eng.declare_exchange(name, type.value_or(queue::ExchangeType::kDirect), o);
  if (e == queue::QErr::kPreconditionFailed) {
    channel_error(ch, reply::kPreconditionFailed,
                  "PRECONDITION_FAILED - inequivalent arg 'type' or flags for exchange '" + name + "' in vhost '/'",
                  &m);
    return;
  }
  if (e != queue::QErr::kOk) {
    engine_error(ch, e, "exchange '" + name + "'", m);
    return;
  }
  reply_unless_nowait(ch.id, m, MethodId::kExchangeDeclareOk);
}

void Conn::exchange_delete(AmqpChannel& ch, const Method& m) {
  queue::QueueEngine& eng = srv_->engine_;
  queue::QErr e = eng.delete_exchange(m.str("exchange"), m.bit("if-unused"));
  if (e == queue::QErr::kPreconditionFailed) {
    channel_error(ch, reply::kPreconditionFailed,
                  "PRECONDITION_FAILED - exchange '" + m.str("exchange") + "' in vhost '/' in use", &m);
    return;
  }
  if (e != queue::QErr::kOk) {
    engine_error(ch, e, "exchange '" + m.str("exchange") + "'", m);
    return;
  }
  reply_unless_nowait(ch.id, m, MethodId::kExchangeDeleteOk);
}

void Conn::queue_declare(AmqpChannel& ch, const Method& m) {
  queue::QueueEngine& eng = srv_->engine_;
  const uint16_t cid = ch.id;
  queue::QueueOptions o{m.bit("passive"), m.bit("durable"), m.bit("exclusive"), m.bit("auto-delete"), {}};
  const std::string& name = m.str("queue");
  if (!o.passive && !parse_declare_args(ch, m, &o)) return;
  queue::QueueInfo info;
  std::string diff;
  queue::QErr e = eng.declare_queue(o.passive ? queue_name(ch, name) : name, id_, o, &info, &diff);
  if (e == queue::QErr::kPreconditionFailed) {
    channel_error(ch, reply::kPreconditionFailed,
                  "PRECONDITION_FAILED - inequivalent arg '" + diff + "' for queue '" + name + "' in vhost '/'", &m);
    return;
  }
  if (!queue_ok(ch, e, name, m)) return;
  ch.last_queue = info.name;
  if (!m.bit("no-wait")) {
    Method ok = make_method(MethodId::kQueueDeclareOk);
    ok.set("queue", info.name).set("message-count", info.message_count).set("consumer-count", info.consumer_count);
    send_method(cid, ok);
  }
}

void Conn::queue_bind(AmqpChannel& ch, const Method& m) {
  queue::QueueEngine& eng = srv_->engine_;
  const uint16_t cid = ch.id;
  std::string q = queue_name(ch, m.str("queue"));
  const std::string& ex = m.str("exchange");
  if (ex.empty()) {
    channel_error(ch, reply::kAccessRefused, "ACCESS_REFUSED - operation not permitted on the default exchange", &m);
    return;
  }
  queue::Headers args = to_headers(m.table("arguments"));
  queue::QErr e = m.id() == MethodId::kQueueBind ? eng.bind(q, ex, m.str("routing-key"), args, id_)
                                                 : eng.unbind(q, ex, m.str("routing-key"), args, id_);
  if (e == queue::QErr::kNotFound) {
    bool have_queue = eng.queue_info(q).has_value();
    engine_error(ch, e, have_queue ? "exchange '" + ex + "'" : "queue '" + q + "'", m);
    return;
  }
  if (!queue_ok(ch, e, q, m)) return;
  if (m.id() == MethodId::kQueueBind) {
    reply_unless_nowait(ch.id, m, MethodId::kQueueBindOk);
  } else {
    send_method(cid, make_method(MethodId::kQueueUnbindOk));
  }
}

void Conn::queue_delete(AmqpChannel& ch, const Method& m) {
  queue::QueueEngine& eng = srv_->engine_;
  const uint16_t cid = ch.id;
  std::string q = queue_name(ch, m.str("queue"));
  uint32_t n = 0;
  queue::QErr e = eng.delete_queue(q, id_, m.bit("if-unused"), m.bit("if-empty"), &n);
  if (e == queue::QErr::kPreconditionFailed) {
    channel_error(
        ch, reply::kPreconditionFailed,
        "PRECONDITION_FAILED - queue '" + q + "' in vhost '/' " + (m.bit("if-unused") ? "in use" : "not empty"), &m);
    return;
  }
  if (!queue_ok(ch, e, q, m)) return;
  reply_with_message_count(cid, m, MethodId::kQueueDeleteOk, n);
}

void Conn::basic_consume(AmqpChannel& ch, const Method& m) {
  queue::QueueEngine& eng = srv_->engine_;
  const uint16_t cid = ch.id;
  if (!m.table("arguments").empty()) {
    connection_error(reply::kNotImplemented, "NOT_IMPLEMENTED - consumer arguments not supported yet", &m);
    return;
  }
  std::string q = queue_name(ch, m.str("queue"));
  std::string tag = m.str("consumer-tag");
  ch.defer = true;
  queue::QErr e = eng.consume(ch.session, q, &tag, m.bit("no-ack"), m.bit("exclusive"));
  ch.defer = false;
  if (e == queue::QErr::kNotAllowed) {
    connection_error(reply::kNotAllowed, "NOT_ALLOWED - attempt to reuse consumer tag '" + tag + "'", &m);
    return;
  }
  if (e == queue::QErr::kAccessRefused) {
    channel_error(ch, reply::kAccessRefused, "ACCESS_REFUSED - queue '" + q + "' in vhost '/' in exclusive use", &m);
    return;
  }
  if (e == queue::QErr::kPreconditionFailed) {  // only the direct reply-to consumer answers this
    channel_error(ch, reply::kPreconditionFailed,
                  m.bit("no-ack") ? "PRECONDITION_FAILED - reply consumer already set"
                                  : "PRECONDITION_FAILED - reply consumer cannot acknowledge",
                  &m);
    return;
  }
  if (!queue_ok(ch, e, q, m)) return;
  if (!m.bit("no-wait")) {
    Method ok = make_method(MethodId::kBasicConsumeOk);
    ok.set("consumer-tag", tag);
    send_method(cid, ok);
  }
  out_.append(ch.deferred);
  ch.deferred.clear();
  kick();
}

void Conn::basic_get(AmqpChannel& ch, const Method& m) {
  queue::QueueEngine& eng = srv_->engine_;
  const uint16_t cid = ch.id;
  std::string q = queue_name(ch, m.str("queue"));
  std::optional<queue::Delivery> d;
  queue::QErr e = eng.get(ch.session, q, m.bit("no-ack"), &d);
  if (!queue_ok(ch, e, q, m)) return;
  if (!d) {
    send_method(cid, make_method(MethodId::kBasicGetEmpty));
    return;
  }
  Method ok = make_method(MethodId::kBasicGetOk);
  ok.set("delivery-tag", d->delivery_tag)
      .set("redelivered", d->redelivered ? 1 : 0)
      .set("exchange", d->message->exchange)
      .set("routing-key", d->message->routing_key)
      .set("message-count", d->message_count);
  send_method(cid, ok);
  std::string scratch;
  send_content(cid, delivery_properties(*d, scratch), d->message->body);
}

void Conn::handle_channel_method(AmqpChannel& ch, const Method& m) {
  queue::QueueEngine& eng = srv_->engine_;
  const uint16_t cid = ch.id;
  switch (m.id()) {
    case MethodId::kChannelOpen:
      connection_error(reply::kChannelError, "CHANNEL_ERROR - second 'channel.open' seen", &m);
      return;
    case MethodId::kChannelClose:
      send_method(cid, make_method(MethodId::kChannelCloseOk));
      close_channel(cid);
      return;
    case MethodId::kChannelCloseOk: return;
    case MethodId::kChannelFlow: {
      eng.set_flow(ch.session, m.bit("active"));
      Method ok = make_method(MethodId::kChannelFlowOk);
      ok.set("active", m.num("active"));
      send_method(cid, ok);
      return;
    }
    case MethodId::kChannelFlowOk: return;
    case MethodId::kExchangeDeclare: exchange_declare(ch, m); return;
    case MethodId::kExchangeDelete: exchange_delete(ch, m); return;
    case MethodId::kQueueDeclare: queue_declare(ch, m); return;
    case MethodId::kQueueBind:
    case MethodId::kQueueUnbind: queue_bind(ch, m); return;
    case MethodId::kQueuePurge: {
      std::string q = queue_name(ch, m.str("queue"));
      uint32_t n = 0;
      queue::QErr e = eng.purge_queue(q, id_, &n);
      if (!queue_ok(ch, e, q, m)) return;
      reply_with_message_count(cid, m, MethodId::kQueuePurgeOk, n);
      return;
    }
    case MethodId::kQueueDelete: queue_delete(ch, m); return;
    case MethodId::kBasicQos: {
      if (m.num("prefetch-size") != 0) {
        connection_error(reply::kNotImplemented,
                         "NOT_IMPLEMENTED - prefetch_size!=0 (" + std::to_string(m.num("prefetch-size")) + ")", &m);
        return;
      }
      eng.set_prefetch(ch.session, static_cast<uint32_t>(m.num("prefetch-count")), m.bit("global"));
      send_method(cid, make_method(MethodId::kBasicQosOk));
      return;
    }
    case MethodId::kBasicConsume: basic_consume(ch, m); return;
    case MethodId::kBasicCancel: {
      (void)eng.cancel(ch.session, m.str("consumer-tag"));  // an unknown tag is answered ok, as RabbitMQ does
      if (!m.bit("no-wait")) {
        Method ok = make_method(MethodId::kBasicCancelOk);
        ok.set("consumer-tag", m.str("consumer-tag"));
        send_method(cid, ok);
      }
      return;
    }
    case MethodId::kBasicPublish: {
      if (m.bit("immediate")) {
        connection_error(reply::kNotImplemented, "NOT_IMPLEMENTED - immediate=true", &m);
        return;
      }
      ch.publish = m;
      ch.have_header = false;
      return;
    }
    case MethodId::kBasicGet: basic_get(ch, m); return;
    case MethodId::kBasicAck:
    case MethodId::kBasicNack:
    case MethodId::kBasicReject: {
      TxOp op{m.id(), nullptr, false, m.num("delivery-tag"), false, false};
      op.multiple = m.id() != MethodId::kBasicReject && m.bit("multiple");
      op.requeue = m.id() != MethodId::kBasicAck && m.bit("requeue");
      if (!ch.tx) {
        (void)settle_now(ch, op, m);
        return;
      }
      if (tx_room(ch, m)) ch.tx_ops.push_back(std::move(op));  // unknown tags are found at commit
      return;
    }
    case MethodId::kBasicRecover:
    case MethodId::kBasicRecoverAsync:
      eng.recover(ch.session);
      if (m.id() == MethodId::kBasicRecover) send_method(cid, make_method(MethodId::kBasicRecoverOk));
      return;
    case MethodId::kConfirmSelect:
      if (ch.tx) {
        channel_error(ch, reply::kPreconditionFailed, "PRECONDITION_FAILED - cannot switch from tx to confirm mode",
                      &m);
        return;
      }
      ch.confirm = true;
      if (!m.bit("nowait")) send_method(cid, make_method(MethodId::kConfirmSelectOk));
      return;
    case MethodId::kTxSelect:
    case MethodId::kTxCommit:
    case MethodId::kTxRollback: handle_tx(ch, m); return;
    case MethodId::kExchangeBind:
    case MethodId::kExchangeUnbind:
      connection_error(reply::kNotImplemented, "NOT_IMPLEMENTED - " + std::string(m.def->name) + " not supported yet",
                       &m);
      return;
    default: break;
  }
  connection_error(reply::kCommandInvalid,
                   "COMMAND_INVALID - unexpected " + std::string(m.def->name) + " on channel " + std::to_string(cid),
                   &m);
}

}  // namespace sluice::amqp
