#pragma once
// Heap allocation counters, per thread (so per shard). Global operator new/delete are replaced
// in alloc_counters.cc to count and forward to mimalloc (or to malloc under sanitizers).
// Tests and benchmarks read them to prove the hot path does not allocate.
#include <cstddef>
#include <cstdint>

namespace sluice::alloc {

struct AllocCounters {
  uint64_t allocations = 0;
  uint64_t deallocations = 0;
  uint64_t bytes_allocated = 0;
};

// Counters of the calling thread.
const AllocCounters& thread_alloc_counters() noexcept;
// Name of the allocator actually serving operator new ("mimalloc" or "malloc").
const char* allocator_name() noexcept;
// Memory mimalloc has committed from the OS for the whole process (0 under malloc).
std::size_t heap_committed_bytes() noexcept;

}  // namespace sluice::alloc
