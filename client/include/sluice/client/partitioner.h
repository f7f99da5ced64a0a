#pragma once
// The Java client's and librdkafka's keyed partitioner: murmur2 of the key bytes, made positive
// (h & 0x7fffffff), modulo the partition count. Same key, same partition on every client.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sluice::client {

int32_t murmur2(const void* data, std::size_t len) noexcept;  // Kafka's Utils.murmur2
int32_t murmur2_partition(std::string_view key, int32_t partition_count) noexcept;

}  // namespace sluice::client
