// A caching allocator per device: freed blocks are kept in size classes and handed out again,
// so a training loop's steady state makes no system allocations (no page faults on the CPU, no
// cudaMalloc/cudaFree on the GPU). TG_CACHING_ALLOCATOR=0 turns the cache off (for sanitizers).
#pragma once
#include <cstddef>
#include <cstdint>

#include "types.h"

namespace tg {

struct MemoryStats {
  int64_t allocated_bytes = 0;       // held by live tensors (rounded to size classes)
  int64_t reserved_bytes = 0;        // allocated + cached
  int64_t peak_allocated_bytes = 0;  // since start or the last reset_peak_memory_stats()
  int64_t num_system_allocations = 0;
};

// Memory for `nbytes` on `device`; `release` must later get the same pointer, size and device.
void* allocate_memory(Device device, size_t nbytes);
void release_memory(Device device, void* ptr, size_t nbytes);

MemoryStats memory_stats(Device device = Device(kCPU));
void reset_peak_memory_stats(Device device = Device(kCPU));
// Gives every cached block on `device` back to the system.
void empty_cache(Device device = Device(kCPU));

}  // namespace tg
