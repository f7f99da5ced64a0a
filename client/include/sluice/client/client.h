#pragma once
// Umbrella header of the Sluice Kafka client library (sluice::client / Sluice::client).
#include "sluice/client/admin.h"
#include "sluice/client/consumer.h"
#include "sluice/client/error.h"
#include "sluice/client/partitioner.h"
#include "sluice/client/producer.h"
#include "sluice/client/types.h"
