// The CPU KernelTable: host memory with 64-byte alignment, memcpy transfers, no-op sync.
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/kernel_api.h"

namespace tg::kernels {
namespace {

void* cpu_allocate(size_t nbytes) {
  constexpr size_t kAlign = 64;
  // aligned_alloc wants a multiple of the alignment; a zero-byte request still gets a block.
  size_t rounded = (nbytes + kAlign - 1) / kAlign * kAlign;
  if (rounded == 0) rounded = kAlign;
  if (rounded < nbytes) return nullptr;  // overflow
  // nullptr when out of memory (the KernelTable contract): core's allocator then frees its
  // cache, retries, and reports a tg::Error.
  return std::aligned_alloc(kAlign, rounded);
}

void cpu_deallocate(void* ptr) { std::free(ptr); }

void cpu_copy_bytes(void* dst, const void* src, size_t nbytes) {
  if (nbytes > 0 && dst != src) std::memmove(dst, src, nbytes);
}

void cpu_synchronize() {}

}  // namespace

const KernelTable* cpu_kernels() {
  static const KernelTable table = {
      .allocate = cpu_allocate,
      .deallocate = cpu_deallocate,
      .copy_to_host = cpu_copy_bytes,
      .copy_from_host = cpu_copy_bytes,
      .synchronize = cpu_synchronize,
#define TG_KERNEL(ret, name, params) .name = cpu::name,
#include "kernels/kernel_entries.h"
#undef TG_KERNEL
  };
  return &table;
}

}  // namespace tg::kernels
