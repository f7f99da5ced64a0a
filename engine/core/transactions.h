#pragma once
// The broker side of transactions, protocol-neutral: starting the transaction coordinators of a
// shard, telling partition owners which producer may write transactionally to which partition
// (the coordinator's word, asked for before AddPartitionsToTxn answers), and writing a finished
// transaction's COMMIT/ABORT markers to every partition in it, a __consumer_offsets partition's
// pending offsets included. Runs on the shard that calls; cross-shard work goes by message.
#include <cstdint>
#include <span>

#include "engine/broker/broker_config.h"
#include "engine/core/txn_service.h"
#include "io/task.h"

namespace sluice::core {

txn::Config txn_config(const broker::BrokerConfig& cfg);

// Every __transaction_state partition this shard owns gets its coordinator, loaded from the log,
// its ongoing transactions re-admitted at their partitions, and its marker and timer loops.
io::Task<void> start_txn_services();

// Lets (producer_id, producer_epoch) write transactional batches to `partitions` (until a marker
// ends the transaction there). Partitions that do not exist are skipped.
io::Task<void> admit_transaction(int64_t producer_id, int16_t producer_epoch,
                                 std::span<const txn::TopicPartition> partitions);

// Writes the job's markers durably on every partition (the MarkerWriter of TxnService). False:
// some could not be written now (the job is retried).
io::Task<bool> write_markers(const txn::MarkerJob& job);

}  // namespace sluice::core
