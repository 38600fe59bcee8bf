// CUDA layer normalization over dense rows (the semantics of kernels/cpu/norm.cpp; the contract is
// LayerNormArgs in kernel_api.h): one block per row, sums accumulated in double per thread and
// combined by warp shuffles, as the CPU accumulates in double. Batch normalization (BatchNormArgs):
// one block per channel, its batch * inner values visited run by run.
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

template <typename T>
__device__ inline T param_at(const void* p, int64_t c, T fallback) {
  return p ? static_cast<const T*>(p)[c] : fallback;
}

// Element k of channel c's values in x [batch, channels, inner].
__device__ inline int64_t channel_at(const BatchNormArgs& a, int64_t c, int64_t k) {
  return ((k / a.inner) * a.channels + c) * a.inner + k % a.inner;
}

template <typename T>
__global__ void batch_norm_kernel(BatchNormArgs a, const T* x, T* mean, T* var, T* y) {
  __shared__ double shared[32];
  const int64_t c = blockIdx.x, count = a.batch * a.inner;
  if (a.training) {
    double sum = 0;
    for (int64_t k = threadIdx.x; k < count; k += blockDim.x) sum += x[channel_at(a, c, k)];
    const double m = block_sum(sum, shared) / double(count);
    double squares = 0;
    for (int64_t k = threadIdx.x; k < count; k += blockDim.x) {
      const double d = x[channel_at(a, c, k)] - m;
      squares += d * d;
    }
    const double v = block_sum(squares, shared) / double(count);
    if (threadIdx.x == 0) {
      mean[c] = T(m);
      var[c] = T(v);
    }
    __syncthreads();
  }
  const T m = mean[c];
  const T scale = T(double(param_at<T>(a.weight, c, T(1))) / ::sqrt(double(var[c]) + a.eps));
  const T shift = param_at<T>(a.bias, c, T(0));
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    const int64_t i = channel_at(a, c, k);
    y[i] = (x[i] - m) * scale + shift;
  }
}

template <typename T>
__global__ void batch_norm_backward_kernel(BatchNormArgs a, const T* x, const T* mean, const T* var,
                                           const T* g, T* gx, T* grad_weight, T* grad_bias) {
  __shared__ double shared[32];
  const int64_t c = blockIdx.x, count = a.batch * a.inner;
  const T m = mean[c];
  const double rstd = 1.0 / ::sqrt(double(var[c]) + a.eps);
  double sum_g = 0, sum_gxhat = 0;
  if (a.training || grad_weight || grad_bias) {
    double sum_gx = 0;
    for (int64_t k = threadIdx.x; k < count; k += blockDim.x) {
      const int64_t i = channel_at(a, c, k);
      sum_g += g[i];
      sum_gx += double(g[i]) * double(x[i] - m);
    }
    sum_g = block_sum(sum_g, shared);
    sum_gxhat = block_sum(sum_gx, shared) * rstd;
  }
  if (threadIdx.x == 0) {
    if (grad_weight) grad_weight[c] = T(sum_gxhat);
    if (grad_bias) grad_bias[c] = T(sum_g);
  }
  if (!gx) return;
  const T k_scale = T(double(param_at<T>(a.weight, c, T(1))) * rstd);
  const T mean_g = a.training ? T(sum_g / double(count)) : T(0);
  const T proj = a.training ? T(rstd * sum_gxhat / double(count)) : T(0);
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    const int64_t i = channel_at(a, c, k);
    gx[i] = k_scale * (g[i] - mean_g - (x[i] - m) * proj);
  }
}

}  // namespace

void batch_norm(const BatchNormArgs& a, const void* x, void* mean, void* var, void* y) {
  dispatch_floating("batch_norm", a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (a.channels == 0 || a.batch * a.inner == 0) return;
    TG_CHECK(a.channels <= 0x7fffffff, Value, current_op(), ": ", a.channels, " channels exceed one launch (2^31 - 1)");
    batch_norm_kernel<T><<<static_cast<unsigned>(a.channels), kNormBlock, 0, stream()>>>(
        a, static_cast<const T*>(x), static_cast<T*>(mean), static_cast<T*>(var), static_cast<T*>(y));
    check_launch("batch_norm");
  });
}

void batch_norm_backward(const BatchNormArgs& a, const void* x, const void* mean, const void* var,
                         const void* grad_y, void* grad_x, void* grad_weight, void* grad_bias) {
  dispatch_floating("batch_norm_backward", a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (a.channels == 0 || a.batch * a.inner == 0) return;
    TG_CHECK(a.channels <= 0x7fffffff, Value, current_op(), ": ", a.channels, " channels exceed one launch (2^31 - 1)");
    batch_norm_backward_kernel<T><<<static_cast<unsigned>(a.channels), kNormBlock, 0, stream()>>>(
        a, static_cast<const T*>(x), static_cast<const T*>(mean), static_cast<const T*>(var),
        static_cast<const T*>(grad_y), static_cast<T*>(grad_x), static_cast<T*>(grad_weight),
        static_cast<T*>(grad_bias));
    check_launch("batch_norm_backward");
  });
}

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
