#pragma once
// Umbrella header of the Kafka wire codec (sluice_kafka_codec). See README.md in this folder.
#include "engine/kafka/codec/codec.h"
#include "engine/kafka/codec/error_code.h"
#include "engine/kafka/codec/frame.h"
#include "engine/kafka/codec/headers.h"
#include "engine/kafka/codec/messages.h"
#include "engine/kafka/codec/registry.h"
#include "engine/kafka/codec/schema.h"
#include "engine/kafka/codec/types.h"
#include "engine/kafka/codec/wire.h"
