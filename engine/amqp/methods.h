#pragma once
// AMQP 0-9-1 methods, described once: class id, method id, name, argument list, whether content
// follows. One generic codec (codec.h) encodes and decodes every method from these rows; adding a
// method is adding a row (and a handler in connection.cc). Facts from the 0-9-1 spec and
// RabbitMQ's errata (amqp0-9-1.extended.xml).
#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace sluice::amqp {

enum class FieldKind : uint8_t { kOctet, kShort, kLong, kLongLong, kShortStr, kLongStr, kBit, kTable, kTimestamp };

struct FieldDef {
  std::string_view name;
  FieldKind kind;
};

enum class MethodId : uint8_t {
  kConnectionStart,
  kConnectionStartOk,
  kConnectionSecure,
  kConnectionSecureOk,
  kConnectionTune,
  kConnectionTuneOk,
  kConnectionOpen,
  kConnectionOpenOk,
  kConnectionClose,
  kConnectionCloseOk,
  kConnectionBlocked,
  kConnectionUnblocked,
  kChannelOpen,
  kChannelOpenOk,
  kChannelFlow,
  kChannelFlowOk,
  kChannelClose,
  kChannelCloseOk,
  kExchangeDeclare,
  kExchangeDeclareOk,
  kExchangeDelete,
  kExchangeDeleteOk,
  kExchangeBind,
  kExchangeBindOk,
  kExchangeUnbind,
  kExchangeUnbindOk,
  kQueueDeclare,
  kQueueDeclareOk,
  kQueueBind,
  kQueueBindOk,
  kQueuePurge,
  kQueuePurgeOk,
  kQueueDelete,
  kQueueDeleteOk,
  kQueueUnbind,
  kQueueUnbindOk,
  kBasicQos,
  kBasicQosOk,
  kBasicConsume,
  kBasicConsumeOk,
  kBasicCancel,
  kBasicCancelOk,
  kBasicPublish,
  kBasicReturn,
  kBasicDeliver,
  kBasicGet,
  kBasicGetOk,
  kBasicGetEmpty,
  kBasicAck,
  kBasicReject,
  kBasicRecoverAsync,
  kBasicRecover,
  kBasicRecoverOk,
  kBasicNack,
  kTxSelect,
  kTxSelectOk,
  kTxCommit,
  kTxCommitOk,
  kTxRollback,
  kTxRollbackOk,
  kConfirmSelect,
  kConfirmSelectOk,
  kCount,
};

struct MethodDef {
  MethodId id;
  uint16_t class_id;
  uint16_t method_id;
  std::string_view name;
  std::span<const FieldDef> fields;
  bool has_content;
};

namespace fields {
using K = FieldKind;
inline constexpr FieldDef kConnectionStart[] = {{"version-major", K::kOctet},
                                                {"version-minor", K::kOctet},
                                                {"server-properties", K::kTable},
                                                {"mechanisms", K::kLongStr},
                                                {"locales", K::kLongStr}};
inline constexpr FieldDef kConnectionStartOk[] = {
    {"client-properties", K::kTable}, {"mechanism", K::kShortStr}, {"response", K::kLongStr}, {"locale", K::kShortStr}};
inline constexpr FieldDef kConnectionSecure[] = {{"challenge", K::kLongStr}};
inline constexpr FieldDef kConnectionSecureOk[] = {{"response", K::kLongStr}};
inline constexpr FieldDef kConnectionTune[] = {
    {"channel-max", K::kShort}, {"frame-max", K::kLong}, {"heartbeat", K::kShort}};
inline constexpr FieldDef kConnectionOpen[] = {
    {"virtual-host", K::kShortStr}, {"reserved-1", K::kShortStr}, {"reserved-2", K::kBit}};
inline constexpr FieldDef kConnectionOpenOk[] = {{"reserved-1", K::kShortStr}};
inline constexpr FieldDef kClose[] = {
    {"reply-code", K::kShort}, {"reply-text", K::kShortStr}, {"class-id", K::kShort}, {"method-id", K::kShort}};
inline constexpr FieldDef kConnectionBlocked[] = {{"reason", K::kShortStr}};
inline constexpr FieldDef kChannelOpen[] = {{"reserved-1", K::kShortStr}};
inline constexpr FieldDef kChannelOpenOk[] = {{"reserved-1", K::kLongStr}};
inline constexpr FieldDef kActive[] = {{"active", K::kBit}};
inline constexpr FieldDef kExchangeDeclare[] = {
    {"reserved-1", K::kShort}, {"exchange", K::kShortStr}, {"type", K::kShortStr},
    {"passive", K::kBit},      {"durable", K::kBit},       {"auto-delete", K::kBit},
    {"internal", K::kBit},     {"no-wait", K::kBit},       {"arguments", K::kTable}};
inline constexpr FieldDef kExchangeDelete[] = {
    {"reserved-1", K::kShort}, {"exchange", K::kShortStr}, {"if-unused", K::kBit}, {"no-wait", K::kBit}};
inline constexpr FieldDef kExchangeBind[] = {{"reserved-1", K::kShort}, {"destination", K::kShortStr},
                                             {"source", K::kShortStr},  {"routing-key", K::kShortStr},
                                             {"no-wait", K::kBit},      {"arguments", K::kTable}};
inline constexpr FieldDef kQueueDeclare[] = {
    {"reserved-1", K::kShort}, {"queue", K::kShortStr},  {"passive", K::kBit}, {"durable", K::kBit},
    {"exclusive", K::kBit},    {"auto-delete", K::kBit}, {"no-wait", K::kBit}, {"arguments", K::kTable}};
inline constexpr FieldDef kQueueDeclareOk[] = {
    {"queue", K::kShortStr}, {"message-count", K::kLong}, {"consumer-count", K::kLong}};
inline constexpr FieldDef kQueueBind[] = {{"reserved-1", K::kShort},  {"queue", K::kShortStr},
                                          {"exchange", K::kShortStr}, {"routing-key", K::kShortStr},
                                          {"no-wait", K::kBit},       {"arguments", K::kTable}};
inline constexpr FieldDef kQueueUnbind[] = {{"reserved-1", K::kShort},
                                            {"queue", K::kShortStr},
                                            {"exchange", K::kShortStr},
                                            {"routing-key", K::kShortStr},
                                            {"arguments", K::kTable}};
inline constexpr FieldDef kQueuePurge[] = {{"reserved-1", K::kShort}, {"queue", K::kShortStr}, {"no-wait", K::kBit}};
inline constexpr FieldDef kMessageCount[] = {{"message-count", K::kLong}};
inline constexpr FieldDef kQueueDelete[] = {{"reserved-1", K::kShort},
                                            {"queue", K::kShortStr},
                                            {"if-unused", K::kBit},
                                            {"if-empty", K::kBit},
                                            {"no-wait", K::kBit}};
inline constexpr FieldDef kBasicQos[] = {
    {"prefetch-size", K::kLong}, {"prefetch-count", K::kShort}, {"global", K::kBit}};
inline constexpr FieldDef kBasicConsume[] = {
    {"reserved-1", K::kShort}, {"queue", K::kShortStr}, {"consumer-tag", K::kShortStr}, {"no-local", K::kBit},
    {"no-ack", K::kBit},       {"exclusive", K::kBit},  {"no-wait", K::kBit},           {"arguments", K::kTable}};
inline constexpr FieldDef kConsumerTag[] = {{"consumer-tag", K::kShortStr}};
inline constexpr FieldDef kBasicCancel[] = {{"consumer-tag", K::kShortStr}, {"no-wait", K::kBit}};
inline constexpr FieldDef kBasicPublish[] = {{"reserved-1", K::kShort},
                                             {"exchange", K::kShortStr},
                                             {"routing-key", K::kShortStr},
                                             {"mandatory", K::kBit},
                                             {"immediate", K::kBit}};
inline constexpr FieldDef kBasicReturn[] = {
    {"reply-code", K::kShort}, {"reply-text", K::kShortStr}, {"exchange", K::kShortStr}, {"routing-key", K::kShortStr}};
inline constexpr FieldDef kBasicDeliver[] = {{"consumer-tag", K::kShortStr},
                                             {"delivery-tag", K::kLongLong},
                                             {"redelivered", K::kBit},
                                             {"exchange", K::kShortStr},
                                             {"routing-key", K::kShortStr}};
inline constexpr FieldDef kBasicGet[] = {{"reserved-1", K::kShort}, {"queue", K::kShortStr}, {"no-ack", K::kBit}};
inline constexpr FieldDef kBasicGetOk[] = {{"delivery-tag", K::kLongLong},
                                           {"redelivered", K::kBit},
                                           {"exchange", K::kShortStr},
                                           {"routing-key", K::kShortStr},
                                           {"message-count", K::kLong}};
inline constexpr FieldDef kBasicGetEmpty[] = {{"reserved-1", K::kShortStr}};
inline constexpr FieldDef kBasicAck[] = {{"delivery-tag", K::kLongLong}, {"multiple", K::kBit}};
inline constexpr FieldDef kBasicReject[] = {{"delivery-tag", K::kLongLong}, {"requeue", K::kBit}};
inline constexpr FieldDef kRequeue[] = {{"requeue", K::kBit}};
inline constexpr FieldDef kBasicNack[] = {{"delivery-tag", K::kLongLong}, {"multiple", K::kBit}, {"requeue", K::kBit}};
inline constexpr FieldDef kNoWait[] = {{"nowait", K::kBit}};
}  // namespace fields

// Basic content properties, in property-flag order (bit 15 first).
inline constexpr FieldDef kBasicProperties[] = {
    {"content-type", FieldKind::kShortStr}, {"content-encoding", FieldKind::kShortStr},
    {"headers", FieldKind::kTable},         {"delivery-mode", FieldKind::kOctet},
    {"priority", FieldKind::kOctet},        {"correlation-id", FieldKind::kShortStr},
    {"reply-to", FieldKind::kShortStr},     {"expiration", FieldKind::kShortStr},
    {"message-id", FieldKind::kShortStr},   {"timestamp", FieldKind::kTimestamp},
    {"type", FieldKind::kShortStr},         {"user-id", FieldKind::kShortStr},
    {"app-id", FieldKind::kShortStr},       {"cluster-id", FieldKind::kShortStr}};

inline constexpr uint16_t kClassConnection = 10, kClassChannel = 20, kClassExchange = 40, kClassQueue = 50,
                          kClassBasic = 60, kClassConfirm = 85, kClassTx = 90;

namespace detail {
template <std::size_t N>
constexpr std::span<const FieldDef> f(const FieldDef (&a)[N]) {
  return {a, N};
}
constexpr std::span<const FieldDef> none() { return {}; }
}  // namespace detail

// THE table. Indexed by MethodId (checked below).
inline constexpr std::array<MethodDef, static_cast<std::size_t>(MethodId::kCount)> kMethods = {{
    {MethodId::kConnectionStart, 10, 10, "connection.start", detail::f(fields::kConnectionStart), false},
    {MethodId::kConnectionStartOk, 10, 11, "connection.start-ok", detail::f(fields::kConnectionStartOk), false},
    {MethodId::kConnectionSecure, 10, 20, "connection.secure", detail::f(fields::kConnectionSecure), false},
    {MethodId::kConnectionSecureOk, 10, 21, "connection.secure-ok", detail::f(fields::kConnectionSecureOk), false},
    {MethodId::kConnectionTune, 10, 30, "connection.tune", detail::f(fields::kConnectionTune), false},
    {MethodId::kConnectionTuneOk, 10, 31, "connection.tune-ok", detail::f(fields::kConnectionTune), false},
    {MethodId::kConnectionOpen, 10, 40, "connection.open", detail::f(fields::kConnectionOpen), false},
    {MethodId::kConnectionOpenOk, 10, 41, "connection.open-ok", detail::f(fields::kConnectionOpenOk), false},
    {MethodId::kConnectionClose, 10, 50, "connection.close", detail::f(fields::kClose), false},
    {MethodId::kConnectionCloseOk, 10, 51, "connection.close-ok", detail::none(), false},
    {MethodId::kConnectionBlocked, 10, 60, "connection.blocked", detail::f(fields::kConnectionBlocked), false},
    {MethodId::kConnectionUnblocked, 10, 61, "connection.unblocked", detail::none(), false},
    {MethodId::kChannelOpen, 20, 10, "channel.open", detail::f(fields::kChannelOpen), false},
    {MethodId::kChannelOpenOk, 20, 11, "channel.open-ok", detail::f(fields::kChannelOpenOk), false},
    {MethodId::kChannelFlow, 20, 20, "channel.flow", detail::f(fields::kActive), false},
    {MethodId::kChannelFlowOk, 20, 21, "channel.flow-ok", detail::f(fields::kActive), false},
    {MethodId::kChannelClose, 20, 40, "channel.close", detail::f(fields::kClose), false},
    {MethodId::kChannelCloseOk, 20, 41, "channel.close-ok", detail::none(), false},
    {MethodId::kExchangeDeclare, 40, 10, "exchange.declare", detail::f(fields::kExchangeDeclare), false},
    {MethodId::kExchangeDeclareOk, 40, 11, "exchange.declare-ok", detail::none(), false},
    {MethodId::kExchangeDelete, 40, 20, "exchange.delete", detail::f(fields::kExchangeDelete), false},
    {MethodId::kExchangeDeleteOk, 40, 21, "exchange.delete-ok", detail::none(), false},
    {MethodId::kExchangeBind, 40, 30, "exchange.bind", detail::f(fields::kExchangeBind), false},
    {MethodId::kExchangeBindOk, 40, 31, "exchange.bind-ok", detail::none(), false},
    {MethodId::kExchangeUnbind, 40, 40, "exchange.unbind", detail::f(fields::kExchangeBind), false},
    {MethodId::kExchangeUnbindOk, 40, 51, "exchange.unbind-ok", detail::none(), false},
    {MethodId::kQueueDeclare, 50, 10, "queue.declare", detail::f(fields::kQueueDeclare), false},
    {MethodId::kQueueDeclareOk, 50, 11, "queue.declare-ok", detail::f(fields::kQueueDeclareOk), false},
    {MethodId::kQueueBind, 50, 20, "queue.bind", detail::f(fields::kQueueBind), false},
    {MethodId::kQueueBindOk, 50, 21, "queue.bind-ok", detail::none(), false},
    {MethodId::kQueuePurge, 50, 30, "queue.purge", detail::f(fields::kQueuePurge), false},
    {MethodId::kQueuePurgeOk, 50, 31, "queue.purge-ok", detail::f(fields::kMessageCount), false},
    {MethodId::kQueueDelete, 50, 40, "queue.delete", detail::f(fields::kQueueDelete), false},
    {MethodId::kQueueDeleteOk, 50, 41, "queue.delete-ok", detail::f(fields::kMessageCount), false},
    {MethodId::kQueueUnbind, 50, 50, "queue.unbind", detail::f(fields::kQueueUnbind), false},
    {MethodId::kQueueUnbindOk, 50, 51, "queue.unbind-ok", detail::none(), false},
    {MethodId::kBasicQos, 60, 10, "basic.qos", detail::f(fields::kBasicQos), false},
    {MethodId::kBasicQosOk, 60, 11, "basic.qos-ok", detail::none(), false},
    {MethodId::kBasicConsume, 60, 20, "basic.consume", detail::f(fields::kBasicConsume), false},
    {MethodId::kBasicConsumeOk, 60, 21, "basic.consume-ok", detail::f(fields::kConsumerTag), false},
    {MethodId::kBasicCancel, 60, 30, "basic.cancel", detail::f(fields::kBasicCancel), false},
    {MethodId::kBasicCancelOk, 60, 31, "basic.cancel-ok", detail::f(fields::kConsumerTag), false},
    {MethodId::kBasicPublish, 60, 40, "basic.publish", detail::f(fields::kBasicPublish), true},
    {MethodId::kBasicReturn, 60, 50, "basic.return", detail::f(fields::kBasicReturn), true},
    {MethodId::kBasicDeliver, 60, 60, "basic.deliver", detail::f(fields::kBasicDeliver), true},
    {MethodId::kBasicGet, 60, 70, "basic.get", detail::f(fields::kBasicGet), false},
    {MethodId::kBasicGetOk, 60, 71, "basic.get-ok", detail::f(fields::kBasicGetOk), true},
    {MethodId::kBasicGetEmpty, 60, 72, "basic.get-empty", detail::f(fields::kBasicGetEmpty), false},
    {MethodId::kBasicAck, 60, 80, "basic.ack", detail::f(fields::kBasicAck), false},
    {MethodId::kBasicReject, 60, 90, "basic.reject", detail::f(fields::kBasicReject), false},
    {MethodId::kBasicRecoverAsync, 60, 100, "basic.recover-async", detail::f(fields::kRequeue), false},
    {MethodId::kBasicRecover, 60, 110, "basic.recover", detail::f(fields::kRequeue), false},
    {MethodId::kBasicRecoverOk, 60, 111, "basic.recover-ok", detail::none(), false},
    {MethodId::kBasicNack, 60, 120, "basic.nack", detail::f(fields::kBasicNack), false},
    {MethodId::kTxSelect, 90, 10, "tx.select", detail::none(), false},
    {MethodId::kTxSelectOk, 90, 11, "tx.select-ok", detail::none(), false},
    {MethodId::kTxCommit, 90, 20, "tx.commit", detail::none(), false},
    {MethodId::kTxCommitOk, 90, 21, "tx.commit-ok", detail::none(), false},
    {MethodId::kTxRollback, 90, 30, "tx.rollback", detail::none(), false},
    {MethodId::kTxRollbackOk, 90, 31, "tx.rollback-ok", detail::none(), false},
    {MethodId::kConfirmSelect, 85, 10, "confirm.select", detail::f(fields::kNoWait), false},
    {MethodId::kConfirmSelectOk, 85, 11, "confirm.select-ok", detail::none(), false},
}};

constexpr bool methods_table_consistent() {
  for (std::size_t i = 0; i < kMethods.size(); ++i) {
    if (static_cast<std::size_t>(kMethods[i].id) != i) return false;
    for (std::size_t j = 0; j < i; ++j)
      if (kMethods[j].class_id == kMethods[i].class_id && kMethods[j].method_id == kMethods[i].method_id) return false;
  }
  return true;
}
static_assert(methods_table_consistent(), "kMethods must be indexed by MethodId with unique (class, method) ids");

constexpr const MethodDef& method_def(MethodId id) { return kMethods[static_cast<std::size_t>(id)]; }
// nullptr for an unknown (class, method) pair.
const MethodDef* find_method(uint16_t class_id, uint16_t method_id) noexcept;

}  // namespace sluice::amqp
