// CUDA layer normalization over dense rows (the semantics of kernels/cpu/norm.cpp; the contract is
// LayerNormArgs in kernel_api.h): one block per row, sums accumulated in double per thread and
// combined by warp shuffles, as the CPU accumulates in double.
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace tg::kernels::cuda {
namespace {

constexpr int kNormBlock = 256;

// The sum of v over the block, returned to every thread.
__device__ inline double block_sum(double v, double* shared) {
  auto plus = [](double a, double b) { return a + b; };
  v = warp_reduce(v, plus);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = threadIdx.x < blockDim.x / 32 ? shared[lane] : 0.0;
  if (warp == 0) v = warp_reduce(v, plus);
  if (threadIdx.x == 0) shared[0] = v;
  __syncthreads();
  const double total = shared[0];
  __syncthreads();  // shared is reused by the next call
  return total;
}

template <typename T>
__global__ void layer_norm_kernel(int64_t cols, double eps, const T* x, T* y, T* mean, T* rstd) {
  __shared__ double shared[32];
  const int64_t r = blockIdx.x;
  const T* xr = x + r * cols;
  double sum = 0;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) sum += xr[j];
  const double m = block_sum(sum, shared) / double(cols);
  double squares = 0;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) squares += (xr[j] - m) * (xr[j] - m);
  const double s = 1.0 / ::sqrt(block_sum(squares, shared) / double(cols) + eps);
  const T mt = T(m), st = T(s);
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) y[r * cols + j] = (xr[j] - mt) * st;
  if (threadIdx.x == 0) {
    mean[r] = mt;
    rstd[r] = st;
  }
}

template <typename T>
__global__ void layer_norm_backward_kernel(int64_t cols, const T* x, const T* mean, const T* rstd,
                                           const T* grad_y, T* grad_x) {
  __shared__ double shared[32];
  const int64_t r = blockIdx.x;
  const T* xr = x + r * cols;
  const T* gr = grad_y + r * cols;
  const T m = mean[r], s = rstd[r];
  double sum_g = 0, sum_gy = 0;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    sum_g += gr[j];
    sum_gy += double(gr[j]) * double((xr[j] - m) * s);
  }
  const T mean_g = T(block_sum(sum_g, shared) / double(cols));
  const T mean_gy = T(block_sum(sum_gy, shared) / double(cols));
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x)
    grad_x[r * cols + j] = s * (gr[j] - mean_g - (xr[j] - m) * s * mean_gy);
}

}  // namespace

void layer_norm_rows(const LayerNormArgs& a, const void* x, void* y, void* mean, void* rstd) {
  dispatch_floating("layer_norm_rows", a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (a.rows == 0) return;
    TG_CHECK(a.rows <= 0x7fffffff, Value, current_op(), ": ", a.rows, " rows exceed one launch (2^31 - 1)");
    layer_norm_kernel<T><<<static_cast<unsigned>(a.rows), kNormBlock, 0, stream()>>>(
        a.cols, a.eps, static_cast<const T*>(x), static_cast<T*>(y), static_cast<T*>(mean),
        static_cast<T*>(rstd));
    check_launch("layer_norm_rows");
  });
}

void layer_norm_rows_backward(const LayerNormArgs& a, const void* x, const void* mean, const void* rstd,
                              const void* grad_y, void* grad_x) {
  dispatch_floating("layer_norm_rows_backward", a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (a.rows == 0) return;
    TG_CHECK(a.rows <= 0x7fffffff, Value, current_op(), ": ", a.rows, " rows exceed one launch (2^31 - 1)");
    layer_norm_backward_kernel<T><<<static_cast<unsigned>(a.rows), kNormBlock, 0, stream()>>>(
        a.cols, static_cast<const T*>(x), static_cast<const T*>(mean), static_cast<const T*>(rstd),
        static_cast<const T*>(grad_y), static_cast<T*>(grad_x));
    check_launch("layer_norm_rows_backward");
  });
}

}  // namespace tg::kernels::cuda
