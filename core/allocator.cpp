#include "allocator.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "native.h"

namespace tg {

namespace {

// Four classes per power of two above 512 bytes: at most 25% of a block is slack.
size_t size_class(size_t n) {
  if (n <= 512) return 512;
  size_t pow2 = 512;
  while (pow2 * 2 < n) pow2 *= 2;
  const size_t step = pow2 / 4;
  return (n + step - 1) / step * step;
}

class CachingAllocator {
 public:
  explicit CachingAllocator(Device device) : device_(device) {
    const char* env = std::getenv("TG_CACHING_ALLOCATOR");
    caching_ = !(env && std::strcmp(env, "0") == 0);
  }

  void* allocate(size_t nbytes) {
    const size_t size = size_class(nbytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        note_allocated(size);
        return p;
      }
    }
    const kernels::KernelTable& kt = native::kernels_for("allocate", device_);
    void* p = kt.allocate(size);
    if (!p) {  // the cache may hold what is needed: give it back and retry once
      empty_cache();
      p = kt.allocate(size);
    }
    TG_CHECK(p != nullptr, Runtime, "allocate: out of memory on ", device_, " allocating ", nbytes,
             " bytes (", stats().allocated_bytes, " bytes in use)");
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.reserved_bytes += static_cast<int64_t>(size);
    ++stats_.num_system_allocations;
    note_allocated(size);
    return p;
  }

  void release(void* p, size_t nbytes) {
    if (!p) return;
    const size_t size = size_class(nbytes);
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.allocated_bytes -= static_cast<int64_t>(size);
    if (caching_) {
      free_[size].push_back(p);
    } else {
      stats_.reserved_bytes -= static_cast<int64_t>(size);
      native::kernels_for("free", device_).deallocate(p);
    }
  }

  void empty_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    const kernels::KernelTable& kt = native::kernels_for("empty_cache", device_);
    for (auto& [size, blocks] : free_) {
      for (void* p : blocks) kt.deallocate(p);
      stats_.reserved_bytes -= static_cast<int64_t>(size * blocks.size());
      blocks.clear();
    }
  }

  MemoryStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

  void reset_peak() {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.peak_allocated_bytes = stats_.allocated_bytes;
  }

 private:
  void note_allocated(size_t size) {
    stats_.allocated_bytes += static_cast<int64_t>(size);
    stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
  }

  Device device_;
  bool caching_ = true;
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  MemoryStats stats_;
};

CachingAllocator& allocator_for(Device device) {
  // Never destroyed: tensors in static storage may be released after main returns.
  static auto* cpu = new CachingAllocator(Device(kCPU));
  static std::mutex cuda_mutex;
  static auto* cuda = new std::unordered_map<int, CachingAllocator*>();
  if (device.is_cpu()) return *cpu;
  std::lock_guard<std::mutex> lock(cuda_mutex);
  auto& slot = (*cuda)[device.index];
  if (!slot) slot = new CachingAllocator(device);
  return *slot;
}

}  // namespace

void* allocate_memory(Device device, size_t nbytes) { return allocator_for(device).allocate(nbytes); }
void release_memory(Device device, void* ptr, size_t nbytes) { allocator_for(device).release(ptr, nbytes); }
MemoryStats memory_stats(Device device) { return allocator_for(device).stats(); }
void reset_peak_memory_stats(Device device) { allocator_for(device).reset_peak(); }
void empty_cache(Device device) { allocator_for(device).empty_cache(); }

}  // namespace tg
