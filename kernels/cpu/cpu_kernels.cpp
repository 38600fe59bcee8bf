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
      .fill = cpu::fill,
      .copy = cpu::copy,
      .unary = cpu::unary,
      .binary = cpu::binary,
      .activation_grad = cpu::activation_grad,
      .where = cpu::where,
      .reduce = cpu::reduce,
      .gemm = cpu::gemm,
      .softmax = cpu::softmax,
      .softmax_backward = cpu::softmax_backward,
      .masked_softmax = cpu::masked_softmax,
      .index_select = cpu::index_select,
      .index_add = cpu::index_add,
      .gather = cpu::gather,
      .scatter_add = cpu::scatter_add,
      .random = cpu::random,
      .im2col = cpu::im2col,
      .col2im = cpu::col2im,
      .max_pool2d = cpu::max_pool2d,
      .max_pool2d_backward = cpu::max_pool2d_backward,
      .avg_pool2d = cpu::avg_pool2d,
      .avg_pool2d_backward = cpu::avg_pool2d_backward,
      .adaptive_avg_pool2d = cpu::adaptive_avg_pool2d,
      .adaptive_avg_pool2d_backward = cpu::adaptive_avg_pool2d_backward,
      .lstm_cell = cpu::lstm_cell,
      .lstm_cell_backward = cpu::lstm_cell_backward,
      .gru_cell = cpu::gru_cell,
      .gru_cell_backward = cpu::gru_cell_backward,
      .adam_step = cpu::adam_step,
      .sgd_step = cpu::sgd_step,
  };
  return &table;
}

}  // namespace tg::kernels
