// CUDA fused optimizer steps (AdamStepArgs, SgdStepArgs in kernel_api.h): multi-tensor launches.
// Up to kTensorsPerLaunch tensors travel in one kernel argument; each block updates one chunk of
// one tensor, so a model's whole update is a few launches instead of a dozen per parameter. The
// element formulas are kernels/optimizer_math.h, shared with the CPU.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/optimizer_math.h"

namespace tg::kernels::cuda {
namespace {

// 24 tensors keep the float64 Adam batch under 2 KB, well inside the 4 KB of kernel arguments.
constexpr int kTensorsPerLaunch = 24;
constexpr int64_t kChunk = 16384;  // elements per block

// Which tensors a launch covers and where each one's blocks start (first_block[count] = grid).
struct Chunks {
  int count = 0;
  int64_t numel[kTensorsPerLaunch];
  int64_t first_block[kTensorsPerLaunch + 1];
};

struct BlockWork {
  int tensor;
  int64_t begin, end;
};

__device__ inline BlockWork block_work(const Chunks& c) {
  const int64_t b = blockIdx.x;
  int t = 0;
  while (t + 1 < c.count && c.first_block[t + 1] <= b) ++t;
  const int64_t begin = (b - c.first_block[t]) * kChunk;
  return {t, begin, min(begin + kChunk, c.numel[t])};
}

template <typename T>
struct AdamBatch {
  Chunks chunks;
  T* p[kTensorsPerLaunch];
  const T* g[kTensorsPerLaunch];
  T* m[kTensorsPerLaunch];
  T* v[kTensorsPerLaunch];
  T* max_v[kTensorsPerLaunch];
  T step_size[kTensorsPerLaunch];
  T inv_bc2_sqrt[kTensorsPerLaunch];
};

template <typename T>
struct SgdBatch {
  Chunks chunks;
  T* p[kTensorsPerLaunch];
  const T* g[kTensorsPerLaunch];
  T* buf[kTensorsPerLaunch];
  bool first[kTensorsPerLaunch];
};

template <bool kAmsgrad, typename T>
__global__ void adam_kernel(AdamBatch<T> batch, optimizer_math::AdamConstants<T> c) {
  const BlockWork w = block_work(batch.chunks);
  const int t = w.tensor;
  T unused = 0;
  for (int64_t i = w.begin + threadIdx.x; i < w.end; i += blockDim.x)
    optimizer_math::adam_element<kAmsgrad>(batch.p[t][i], batch.g[t][i], batch.m[t][i], batch.v[t][i],
                                           kAmsgrad ? batch.max_v[t][i] : unused, batch.step_size[t],
                                           batch.inv_bc2_sqrt[t], c);
}

template <bool kMomentum, typename T>
__global__ void sgd_kernel(SgdBatch<T> batch, optimizer_math::SgdConstants<T> c) {
  const BlockWork w = block_work(batch.chunks);
  const int t = w.tensor;
  T unused = 0;
  for (int64_t i = w.begin + threadIdx.x; i < w.end; i += blockDim.x)
    optimizer_math::sgd_element<kMomentum>(batch.p[t][i], batch.g[t][i], kMomentum ? batch.buf[t][i] : unused,
                                           batch.first[t], c);
}

// Fills batches tensor by tensor (add(slot, tensor) copies its pointers) and calls launch(grid)
// whenever one is full and at the end; empty tensors are skipped.
template <typename Batch, typename Add, typename Launch>
void in_batches(Batch& batch, int64_t count, const int64_t* numels, Add&& add, Launch&& launch) {
  Chunks& c = batch.chunks;
  c.count = 0;
  c.first_block[0] = 0;
  auto flush = [&] {
    if (c.count == 0) return;
    launch(c.first_block[c.count]);
    c.count = 0;
  };
  for (int64_t t = 0; t < count; ++t) {
    if (numels[t] == 0) continue;
    const int slot = c.count++;
    c.numel[slot] = numels[t];
    c.first_block[slot + 1] = c.first_block[slot] + (numels[t] + kChunk - 1) / kChunk;
    add(slot, t);
    if (c.count == kTensorsPerLaunch) flush();
  }
  flush();
}

}  // namespace

void adam_step(const AdamStepArgs& a) {
  dispatch_floating("adam_step", a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    AdamBatch<T> batch;
    const optimizer_math::AdamConstants<T> constants(a);
    in_batches(
        batch, a.count, a.numels,
        [&](int slot, int64_t t) {
          batch.p[slot] = static_cast<T*>(a.params[t]);
          batch.g[slot] = static_cast<const T*>(a.grads[t]);
          batch.m[slot] = static_cast<T*>(a.exp_avgs[t]);
          batch.v[slot] = static_cast<T*>(a.exp_avg_sqs[t]);
          batch.max_v[slot] = a.amsgrad ? static_cast<T*>(a.max_exp_avg_sqs[t]) : nullptr;
          batch.step_size[slot] = T(a.step_sizes[t]);
          batch.inv_bc2_sqrt[slot] = T(1.0 / a.bias_correction2_sqrts[t]);
        },
        [&](int64_t grid) {
          if (a.amsgrad) adam_kernel<true, T><<<static_cast<unsigned>(grid), kBlock, 0, stream()>>>(batch, constants);
          else adam_kernel<false, T><<<static_cast<unsigned>(grid), kBlock, 0, stream()>>>(batch, constants);
          check_launch("adam_step");
        });
  });
}

void sgd_step(const SgdStepArgs& a) {
  dispatch_floating("sgd_step", a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    SgdBatch<T> batch;
    const optimizer_math::SgdConstants<T> constants(a);
    in_batches(
        batch, a.count, a.numels,
        [&](int slot, int64_t t) {
          batch.p[slot] = static_cast<T*>(a.params[t]);
          batch.g[slot] = static_cast<const T*>(a.grads[t]);
          batch.buf[slot] = a.momentum != 0.0 ? static_cast<T*>(a.momentum_buffers[t]) : nullptr;
          batch.first[slot] = a.momentum != 0.0 && a.first_step[t];
        },
        [&](int64_t grid) {
          if (a.momentum != 0.0) sgd_kernel<true, T><<<static_cast<unsigned>(grid), kBlock, 0, stream()>>>(batch, constants);
          else sgd_kernel<false, T><<<static_cast<unsigned>(grid), kBlock, 0, stream()>>>(batch, constants);
          check_launch("sgd_step");
        });
  });
}

}  // namespace tg::kernels::cuda
