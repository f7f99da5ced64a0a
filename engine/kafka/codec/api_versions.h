#pragma once
// THE table of what the broker advertises in ApiVersions: one place, data only. The codec can
// encode/decode wider ranges (registry.h: kApiInfos); only what is listed here is offered to
// clients. Ranges follow ../shared/kafka-protocol/CLIENT-VERSIONS.md (librdkafka 2.0.2 needs
// Produce min 0, Fetch to contain 4 and 10, FindCoordinator min 0, InitProducerId min 0, ...).
#include <cstdint>

#include "engine/kafka/codec/registry.h"

namespace sluice::kafka {

struct SupportedApi {
  int16_t api_key;
  int16_t min_version;
  int16_t max_version;
};

// Sorted by api key.
inline constexpr SupportedApi kSupportedApis[] = {
    {0, 0, 7},    // Produce (v0-2 are advertised for librdkafka's feature checks; handlers may reject them)
    {1, 4, 11},   // Fetch
    {2, 1, 5},    // ListOffsets
    {3, 4, 8},    // Metadata
    {8, 2, 7},    // OffsetCommit
    {9, 1, 7},    // OffsetFetch
    {10, 0, 2},   // FindCoordinator
    {11, 2, 5},   // JoinGroup
    {12, 0, 3},   // Heartbeat
    {13, 0, 3},   // LeaveGroup
    {14, 0, 3},   // SyncGroup
    {15, 0, 4},   // DescribeGroups
    {16, 0, 4},   // ListGroups
    {18, 0, 3},   // ApiVersions
    {19, 2, 4},   // CreateTopics
    {20, 1, 3},   // DeleteTopics
    {21, 0, 1},   // DeleteRecords
    {22, 0, 4},   // InitProducerId
    {23, 2, 3},   // OffsetForLeaderEpoch
    {24, 0, 3},   // AddPartitionsToTxn
    {25, 0, 3},   // AddOffsetsToTxn
    {26, 0, 3},   // EndTxn
    {28, 0, 3},   // TxnOffsetCommit
    {32, 1, 3},   // DescribeConfigs
    {33, 0, 1},   // AlterConfigs
    {37, 0, 1},   // CreatePartitions
    {42, 0, 1},   // DeleteGroups
    {44, 0, 1},   // IncrementalAlterConfigs
};

constexpr const SupportedApi* find_supported_api(int16_t api_key) noexcept {
  for (const auto& s : kSupportedApis)
    if (s.api_key == api_key) return &s;
  return nullptr;
}

constexpr bool is_supported(int16_t api_key, int16_t version) noexcept {
  for (const auto& s : kSupportedApis)
    if (s.api_key == api_key) return version >= s.min_version && version <= s.max_version;
  return false;
}

// Every advertised range must be covered by the message definitions.
constexpr bool supported_table_is_defined() {
  int16_t last = -1;
  for (const auto& s : kSupportedApis) {
    int i = api_index(s.api_key);
    if (i < 0 || s.api_key <= last || s.min_version > s.max_version) return false;
    const VersionRange& d = kApiInfos[static_cast<std::size_t>(i)].defined_versions;
    if (!d.contains(s.min_version) || !d.contains(s.max_version)) return false;
    last = s.api_key;
  }
  return true;
}
static_assert(supported_table_is_defined(), "kSupportedApis names a version the codec does not define");

}  // namespace sluice::kafka
