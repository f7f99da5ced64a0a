#pragma once
// What ApiVersions advertises: exactly the APIs and versions this broker implements and tests.
// Ranges follow ../shared/kafka-protocol/CLIENT-VERSIONS.md (librdkafka 2.0.2 feature checks need
// Produce min 0, Fetch 4..10+, FindCoordinator min 0, InitProducerId min 0).
#include <cstdint>

namespace sluice::kafka {

struct AdvertisedApi {
  int16_t api_key;
  int16_t min_version;
  int16_t max_version;
  int16_t accepted_min_version;  // versions below this are advertised for feature checks only
};

inline constexpr AdvertisedApi kAdvertisedApis[] = {
    {0, 0, 7, 3},    // Produce: v0-2 (message format < 2) are answered with UNSUPPORTED_VERSION
    {1, 4, 11, 4},   // Fetch
    {2, 1, 5, 1},    // ListOffsets
    {3, 4, 8, 4},    // Metadata
    {8, 2, 7, 2},    // OffsetCommit
    {9, 1, 7, 1},    // OffsetFetch (6-7 flexible)
    {10, 0, 2, 0},   // FindCoordinator
    {11, 2, 5, 2},   // JoinGroup (4+: MEMBER_ID_REQUIRED round trip)
    {12, 0, 3, 0},   // Heartbeat
    {13, 0, 3, 0},   // LeaveGroup (3: batched)
    {14, 0, 3, 0},   // SyncGroup
    {15, 0, 4, 0},   // DescribeGroups
    {16, 0, 4, 0},   // ListGroups (3-4 flexible)
    {18, 0, 3, 0},   // ApiVersions
    {19, 2, 4, 2},   // CreateTopics
    {20, 1, 3, 1},   // DeleteTopics
    {22, 0, 4, 0},   // InitProducerId
    {32, 1, 3, 1},   // DescribeConfigs
    {33, 0, 1, 0},   // AlterConfigs
    {37, 0, 1, 0},   // CreatePartitions
    {42, 0, 1, 0},   // DeleteGroups
    {44, 0, 1, 0},   // IncrementalAlterConfigs
};

constexpr const AdvertisedApi* find_advertised(int16_t api_key) {
  for (const auto& a : kAdvertisedApis)
    if (a.api_key == api_key) return &a;
  return nullptr;
}

}  // namespace sluice::kafka
