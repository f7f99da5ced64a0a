// basic.publish content into messages, routing them (or buffering them in a transaction), settlements
// and tx.*.
#include "engine/amqp/server_internal.h"

namespace sluice::amqp {

namespace {
// A transaction buffers publishes and settlements until tx.commit; these bound one transaction.
constexpr std::size_t kMaxTxOps = 100'000;
constexpr std::size_t kMaxTxBodyBytes = 64 << 20;
}  // namespace

void Conn::finish_publish(AmqpChannel& ch) {
  Method pub = std::move(*ch.publish);
  ch.publish.reset();
  ch.have_header = false;
  auto msg = std::make_shared<queue::Message>();
  msg->exchange = pub.str("exchange");
  msg->routing_key = pub.str("routing-key");
  msg->properties = std::move(ch.header.properties);
  msg->body = std::move(ch.body);
  msg->headers = to_headers(ch.header.headers);
  msg->persistent = ch.header.delivery_mode == 2;
  ch.body.clear();
  if (ch.header.expiration) {
    msg->expiration_ms = parse_expiration(*ch.header.expiration);
    if (!msg->expiration_ms) {
      channel_error(ch, reply::kPreconditionFailed,
                    "PRECONDITION_FAILED - invalid expiration '" + ch.header.expiration->substr(0, 64) + "'", &pub);
      return;
    }
    msg->expiration_text = *ch.header.expiration;
  }
  if (ch.header.reply_to == queue::kDirectReplyTo && !set_direct_reply_to(ch, *msg, pub)) return;
  if (!ch.tx) {
    publish_now(ch, msg, pub.bit("mandatory"), pub);
    return;
  }
  if (!srv_->engine_.has_exchange(msg->exchange)) {  // RabbitMQ checks the exchange at publish time
    engine_error(ch, queue::QErr::kNotFound, "exchange '" + msg->exchange + "'", pub);
    return;
  }
  ch.tx_body_bytes += msg->body.size();
  if (!tx_room(ch, pub)) return;
  ch.tx_ops.push_back(TxOp{MethodId::kBasicPublish, std::move(msg), pub.bit("mandatory"), 0, false, false});
}

// A request naming amq.rabbitmq.reply-to goes out with the channel's private reply address, as
// RabbitMQ rewrites it; without a reply consumer on the channel it is refused.
bool Conn::set_direct_reply_to(AmqpChannel& ch, queue::Message& msg, const Method& m) {
  std::optional<std::string> address = srv_->engine_.reply_address(ch.session);
  PropertyArgs p;
  if (!address || !decode_properties(msg.properties, &p) || !p[kPropReplyTo]) {
    channel_error(ch, reply::kPreconditionFailed, "PRECONDITION_FAILED - fast reply consumer does not exist", &m);
    return false;
  }
  p[kPropReplyTo]->str = std::move(*address);
  msg.properties = encode_properties(p);
  return true;
}

bool Conn::tx_room(AmqpChannel& ch, const Method& m) {
  if (ch.tx_ops.size() < kMaxTxOps && ch.tx_body_bytes <= kMaxTxBodyBytes) return true;
  channel_error(ch, reply::kResourceError, "RESOURCE_ERROR - transaction too large", &m);
  return false;
}

bool Conn::publish_now(AmqpChannel& ch, const queue::MessagePtr& msg, bool mandatory, const Method& m) {
  queue::PublishResult r = srv_->engine_.publish(msg->exchange, msg->routing_key, msg);
  if (r.err != queue::QErr::kOk) {
    engine_error(ch, r.err, "exchange '" + msg->exchange + "'", m);
    return false;
  }
  // A message refused by a full queue (reject-publish) is not unroutable: it is nacked, not returned.
  if (r.routed == 0 && r.refused == 0 && mandatory) {
    Method ret = make_method(MethodId::kBasicReturn);
    ret.set("reply-code", reply::kNoRoute)
        .set("reply-text", "NO_ROUTE")
        .set("exchange", msg->exchange)
        .set("routing-key", msg->routing_key);
    send_method(ch.id, ret);
    send_content(ch.id, msg->properties, msg->body);
  }
  if (ch.confirm) {
    // A queue that was full refused it: nack, as RabbitMQ's reject-publish overflow does.
    Method ack = make_method(r.refused ? MethodId::kBasicNack : MethodId::kBasicAck);
    ack.set("delivery-tag", ++ch.publish_seq).set("multiple", 0);
    send_method(ch.id, ack);
  }
  return true;
}

bool Conn::settle_now(AmqpChannel& ch, const TxOp& op, const Method& m) {
  queue::QueueEngine& eng = srv_->engine_;
  queue::QErr e = queue::QErr::kOk;
  if (op.kind == MethodId::kBasicAck) {
    e = eng.ack(ch.session, op.tag, op.multiple);
  } else {
    e = eng.nack(ch.session, op.tag, op.multiple, op.requeue);
  }
  if (e == queue::QErr::kOk) return true;
  channel_error(ch, reply::kPreconditionFailed, "PRECONDITION_FAILED - unknown delivery tag " + std::to_string(op.tag),
                &m);
  return false;
}

void Conn::handle_tx(AmqpChannel& ch, const Method& m) {
  if (m.id() == MethodId::kTxSelect) {
    if (ch.confirm) {
      channel_error(ch, reply::kPreconditionFailed, "PRECONDITION_FAILED - cannot switch from confirm to tx mode", &m);
      return;
    }
    ch.tx = true;
    send_method(ch.id, make_method(MethodId::kTxSelectOk));
    return;
  }
  if (!ch.tx) {
    channel_error(ch, reply::kPreconditionFailed, "PRECONDITION_FAILED - channel is not transactional", &m);
    return;
  }
  std::vector<TxOp> ops;
  ops.swap(ch.tx_ops);
  ch.tx_body_bytes = 0;
  if (m.id() == MethodId::kTxCommit) {
    // Applied in the order the client sent them; the first failure closes the channel.
    for (const TxOp& op : ops) {
      bool ok = op.kind == MethodId::kBasicPublish ? publish_now(ch, op.msg, op.mandatory, m) : settle_now(ch, op, m);
      if (!ok) return;
    }
  }
  send_method(ch.id, make_method(m.id() == MethodId::kTxCommit ? MethodId::kTxCommitOk : MethodId::kTxRollbackOk));
}

}  // namespace sluice::amqp
