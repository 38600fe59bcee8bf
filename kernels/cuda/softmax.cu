// CUDA softmax / log-softmax over the last dim, its backward, and the masked softmax (the
// semantics of kernels/cpu/softmax.cpp). Rows are the leading dims (any strides, coalesced); each
// row's base comes from its linear index.
//  * rows up to 1024 elements (512 when strided; backward 1024 / 256): W lanes per row (W = 1..32,
//    several rows per warp when short), each lane holding up to 32 elements in registers, so the
//    input is read once;
//  * longer rows: a block per row with an online max/sum (one pass), the row cached in shared
//    memory when it fits, then the output pass.
// NaN anywhere in a row makes its max NaN; a row that is all -inf (or all masked) has max -inf
// and x - max = NaN: either way the row comes out NaN, as on the CPU.
// Sums accumulate in the element type (float for float32), in a fixed order.
// Library path: cuDNN for contiguous rows when cuda_control::softmax_impl() is Library.
// The softmax cross-entropy (forward and backward) is a warp per dense row, ours only.
#include <cuda_runtime.h>
#include <cudnn.h>
#include <math_constants.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda_control.h"

namespace tg::kernels::cuda {
namespace {

using i64 = int64_t;
using cuda_control::Impl;

constexpr int kWarpBlock = 128;  // threads per block of the lanes-per-row kernels
constexpr int kRowBlock = 512;   // threads per block of the block-per-row kernels
constexpr i64 kCacheBytes = 32 * 1024;  // longest row (bytes) kept in shared memory

template <typename T>
__device__ inline T neg_inf() {
  if constexpr (std::is_same_v<T, float>) {
    return -CUDART_INF_F;
  } else {
    return -CUDART_INF;
  }
}
__device__ inline float dexp(float x) { return expf(x); }
__device__ inline double dexp(double x) { return exp(x); }
__device__ inline float dlog(float x) { return logf(x); }
__device__ inline double dlog(double x) { return log(x); }

// Max that propagates NaN.
template <typename T>
__device__ inline T nan_max(T a, T b) {
  return (b > a || b != b) ? b : a;
}

// Merges two (max, sum of exp(x - max)) pairs. A -inf max has a zero sum (nothing counted yet).
template <typename T>
__device__ inline void merge_ms(T& m, T& s, T m2, T s2) {
  const T mn = nan_max(m, m2);
  if (mn != neg_inf<T>()) s = s * dexp(m - mn) + s2 * dexp(m2 - mn);
  m = mn;
}

// Reductions over aligned groups of W lanes (all 32 lanes of the warp take part).
template <int W, typename T>
__device__ inline T group_max(T v) {
#pragma unroll
  for (int o = W / 2; o > 0; o >>= 1) v = nan_max(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
template <int W, typename T>
__device__ inline T group_sum(T v) {
#pragma unroll
  for (int o = W / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Block-wide (max, sum) merge, broadcast to every thread. `sh` holds 66 values: per-warp
// partials in [0, 64) and the result in 64, 65, so the next call needs no extra barrier (its
// writes to the partials come after everyone passed this call's second barrier).
template <typename T>
__device__ inline void block_ms(T& m, T& s, T* sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    merge_ms(m, s, __shfl_xor_sync(0xffffffffu, m, o), __shfl_xor_sync(0xffffffffu, s, o));
  if (lane == 0) {
    sh[warp] = m;
    sh[32 + warp] = s;
  }
  __syncthreads();
  if (warp == 0) {
    m = lane < nw ? sh[lane] : neg_inf<T>();
    s = lane < nw ? sh[32 + lane] : T(0);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
      merge_ms(m, s, __shfl_xor_sync(0xffffffffu, m, o), __shfl_xor_sync(0xffffffffu, s, o));
    if (lane == 0) {
      sh[64] = m;
      sh[65] = s;
    }
  }
  __syncthreads();
  m = sh[64];
  s = sh[65];
}

// Block-wide sum, broadcast; `sh` holds 33 values (partials, then the result in 32).
template <typename T>
__device__ inline T block_sum(T s, T* sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  s = group_sum<32>(s);
  if (lane == 0) sh[warp] = s;
  __syncthreads();
  if (warp == 0) {
    s = lane < nw ? sh[lane] : T(0);
    s = group_sum<32>(s);
    if (lane == 0) sh[32] = s;
  }
  __syncthreads();
  return sh[32];
}

// ---------------------------------------------------------------------------------------------
// row layouts

// Operands sharing the row structure: `outer` gives each row's start (bytes), stride[k] is
// operand k's last-dim stride in its own elements.
template <int N>
struct Rows {
  Strided<N> outer;
  i64 rows = 1, len = 1;
  i64 stride[N] = {};
};

template <int N, size_t... K>
Strided<N> strided_of(const View (&lead)[N], std::index_sequence<K...>) {
  const View* const vs[N] = {&lead[K]...};
  return make_strided<N>(vs);
}

// A 0-dim view is one row of one element.
template <int N>
Rows<N> make_rows(const View* const (&vs)[N]) {
  Rows<N> r;
  const View& v0 = *vs[0];
  View lead[N];
  for (int k = 0; k < N; ++k) {
    lead[k] = *vs[k];
    lead[k].ndim = v0.ndim > 0 ? v0.ndim - 1 : 0;
    for (int d = 0; d < lead[k].ndim; ++d) lead[k].sizes[d] = v0.sizes[d];
  }
  r.outer = strided_of<N>(lead, std::make_index_sequence<N>{});
  r.rows = numel_of(lead[0]);
  if (v0.ndim > 0) {
    r.len = v0.sizes[v0.ndim - 1];
    for (int k = 0; k < N; ++k) r.stride[k] = vs[k]->strides[v0.ndim - 1];
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// forward kernels: operand 0 in, 1 out, 2 mask (when kMasked)

template <typename T, bool kMasked>
__device__ inline T load_x(const T* x, const Bool* mk, i64 i, i64 sx, i64 sm) {
  if constexpr (kMasked) {
    if (mk[i * sm] == 0) return neg_inf<T>();
  }
  return x[i * sx];
}

// Element i (< 1024) of a row with the given stride. kUnit: every stride of the row is 1 (the
// mask's 0 or 1), and 32-bit indices let the compiler fold the per-element offsets into the
// loads and stores instead of holding 64-bit addresses in registers.
template <bool kUnit>
__device__ inline i64 at(int i, i64 stride) {
  if constexpr (kUnit) {
    return i * static_cast<int>(stride);
  } else {
    return i * stride;
  }
}

// W lanes per row, V elements per lane in registers (lane l holds elements l, l + W, ...).
template <typename T, bool kLog, bool kMasked, bool kUnit, int W, int V>
__global__ void __launch_bounds__(kWarpBlock) softmax_lanes(Rows<kMasked ? 3 : 2> r) {
  constexpr int kRowsPerWarp = 32 / W;
  const int lane = threadIdx.x % W;
  const int sub = (threadIdx.x & 31) / W;
  const i64 warp = (i64(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const i64 nwarps = (i64(gridDim.x) * blockDim.x) >> 5;
  const int len = static_cast<int>(r.len);
  const i64 sx = r.stride[0], sy = r.stride[1];
  const i64 sm = kMasked ? r.stride[kMasked ? 2 : 0] : 0;
  // Warp-uniform loop: every lane reaches the shuffles.
  for (i64 row0 = warp * kRowsPerWarp; row0 < r.rows; row0 += nwarps * kRowsPerWarp) {
    const i64 row = row0 + sub;
    const bool active = row < r.rows;
    i64 off[kMasked ? 3 : 2] = {};
    if (active) r.outer.offsets(row, off);
    const T* x = reinterpret_cast<const T*>(r.outer.data[0] + off[0]);
    T* y = reinterpret_cast<T*>(r.outer.data[1] + off[1]);
    const Bool* mk = nullptr;
    if constexpr (kMasked) mk = reinterpret_cast<const Bool*>(r.outer.data[2] + off[2]);
    const int n = active ? len : 0;

    T v[V];
    T m = neg_inf<T>();
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const int i = k * W + lane;
      v[k] = neg_inf<T>();
      if (i < n && !(kMasked && mk[at<kUnit>(i, sm)] == 0)) v[k] = x[at<kUnit>(i, sx)];
      m = nan_max(m, v[k]);
    }
    m = group_max<W>(m);
    T s = T(0);
#pragma unroll
    for (int k = 0; k < V; ++k) {
      if (k * W + lane < n) {
        const T e = dexp(v[k] - m);
        s += e;
        if constexpr (!kLog) v[k] = e;
      }
    }
    s = group_sum<W>(s);
    if constexpr (kLog) {
      const T lse = dlog(s);
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const int i = k * W + lane;
        if (i < n) y[at<kUnit>(i, sy)] = (v[k] - m) - lse;
      }
    } else {
      const T inv = T(1) / s;
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const int i = k * W + lane;
        if (i < n) y[at<kUnit>(i, sy)] = v[k] * inv;
      }
    }
  }
}

// A block per row: online (max, sum) over the row, then the output pass (from shared memory
// when kCache: dynamic shared memory of len elements).
template <typename T, bool kLog, bool kMasked, bool kCache>
__global__ void softmax_rows(Rows<kMasked ? 3 : 2> r) {
  extern __shared__ __align__(16) unsigned char dyn[];
  T* cache = reinterpret_cast<T*>(dyn);
  __shared__ T sh[66];
  const i64 len = r.len, sx = r.stride[0], sy = r.stride[1];
  const i64 sm = kMasked ? r.stride[kMasked ? 2 : 0] : 0;
  const i64 B = blockDim.x;
  for (i64 row = blockIdx.x; row < r.rows; row += gridDim.x) {
    i64 off[kMasked ? 3 : 2];
    r.outer.offsets(row, off);
    const T* x = reinterpret_cast<const T*>(r.outer.data[0] + off[0]);
    T* y = reinterpret_cast<T*>(r.outer.data[1] + off[1]);
    const Bool* mk = nullptr;
    if constexpr (kMasked) mk = reinterpret_cast<const Bool*>(r.outer.data[2] + off[2]);

    // Four elements at a time: one rescale of the running sum per four exps.
    T m = neg_inf<T>(), s = T(0);
    for (i64 i0 = threadIdx.x; i0 < len; i0 += 4 * B) {
      T v[4];
      T cm = neg_inf<T>();
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const i64 i = i0 + j * B;
        v[j] = i < len ? load_x<T, kMasked>(x, mk, i, sx, sm) : neg_inf<T>();
        if constexpr (kCache) {
          if (i < len) cache[i] = v[j];
        }
        cm = nan_max(cm, v[j]);
      }
      const T mn = nan_max(m, cm);
      if (mn != neg_inf<T>()) {
        T add = T(0);
#pragma unroll
        for (int j = 0; j < 4; ++j)
          if (i0 + j * B < len) add += dexp(v[j] - mn);
        s = s * dexp(m - mn) + add;
        m = mn;
      }
    }
    block_ms(m, s, sh);
    // Each thread reads back only the cache entries it wrote: no barrier needed for them.
    const T lse = kLog ? dlog(s) : T(0);
    const T inv = kLog ? T(0) : T(1) / s;
    for (i64 i = threadIdx.x; i < len; i += B) {
      const T v = kCache ? cache[i] : load_x<T, kMasked>(x, mk, i, sx, sm);
      y[i * sy] = kLog ? (v - m) - lse : dexp(v - m) * inv;
    }
  }
}

template <int W, int V>
struct LaneShape {
  static constexpr int kW = W, kV = V;
};

// Calls f(LaneShape<W, V>{}) with the narrowest lanes-per-row shape that holds len, for
// len <= 32 * kMaxV (only those shapes are instantiated).
template <int kMaxV, typename F>
void with_lane_shape(i64 len, F&& f) {
  if (len <= 1) return f(LaneShape<1, 1>{});
  if (len <= 2) return f(LaneShape<2, 1>{});
  if (len <= 4) return f(LaneShape<4, 1>{});
  if (len <= 8) return f(LaneShape<8, 1>{});
  if (len <= 16) return f(LaneShape<16, 1>{});
  if (len <= 32) return f(LaneShape<32, 1>{});
  if (len <= 64) return f(LaneShape<32, 2>{});
  if (len <= 128) return f(LaneShape<32, 4>{});
  if constexpr (kMaxV >= 8) {
    if (len <= 256) return f(LaneShape<32, 8>{});
  }
  if constexpr (kMaxV >= 16) {
    if (len <= 512) return f(LaneShape<32, 16>{});
  }
  if constexpr (kMaxV >= 32) return f(LaneShape<32, 32>{});
}

inline unsigned row_grid(i64 rows) {
  constexpr i64 kMaxGrid = 65535 * 16;
  return static_cast<unsigned>(rows < 1 ? 1 : (rows > kMaxGrid ? kMaxGrid : rows));
}

template <typename T, bool kLog, bool kMasked, bool kUnit, int kMaxV>
void launch_softmax_lanes(const Rows<kMasked ? 3 : 2>& r) {
  with_lane_shape<kMaxV>(r.len, [&](auto shape) {
    using S = decltype(shape);
    softmax_lanes<T, kLog, kMasked, kUnit, S::kW, S::kV>
        <<<grid_for(r.rows, kWarpBlock / S::kW), kWarpBlock, 0, stream()>>>(r);
    check_launch("softmax_lanes");
  });
}

template <typename T, bool kLog, bool kMasked>
void softmax_ours(const Rows<kMasked ? 3 : 2>& r) {
  if (r.rows == 0 || r.len == 0) return;
  const i64 sm = kMasked ? r.stride[kMasked ? 2 : 0] : 0;
  const bool unit = r.stride[0] == 1 && r.stride[1] == 1 && (sm == 0 || sm == 1);
  // Strided rows hold 64-bit addresses per element: registers for at most 16 elements a lane.
  if (unit && r.len <= 1024) return launch_softmax_lanes<T, kLog, kMasked, true, 32>(r);
  if (!unit && r.len <= 512) return launch_softmax_lanes<T, kLog, kMasked, false, 16>(r);
  const i64 bytes = r.len * i64(sizeof(T));
  if (bytes <= kCacheBytes) {
    softmax_rows<T, kLog, kMasked, true>
        <<<row_grid(r.rows), kRowBlock, static_cast<size_t>(bytes), stream()>>>(r);
  } else {
    softmax_rows<T, kLog, kMasked, false><<<row_grid(r.rows), kRowBlock, 0, stream()>>>(r);
  }
  check_launch("softmax_rows");
}

// ---------------------------------------------------------------------------------------------
// backward kernels: operand 0 grad_in, 1 grad_out, 2 out.
// softmax: gi = y * (g - sum(g * y)); log: gi = g - exp(y) * sum(g).

template <typename T, bool kLog, bool kUnit, int W, int V>
__global__ void __launch_bounds__(kWarpBlock) softmax_backward_lanes(Rows<3> r) {
  constexpr int kRowsPerWarp = 32 / W;
  const int lane = threadIdx.x % W;
  const int sub = (threadIdx.x & 31) / W;
  const i64 warp = (i64(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const i64 nwarps = (i64(gridDim.x) * blockDim.x) >> 5;
  const int len = static_cast<int>(r.len);
  const i64 sgi = r.stride[0], sg = r.stride[1], sy = r.stride[2];
  for (i64 row0 = warp * kRowsPerWarp; row0 < r.rows; row0 += nwarps * kRowsPerWarp) {
    const i64 row = row0 + sub;
    const bool active = row < r.rows;
    i64 off[3] = {};
    if (active) r.outer.offsets(row, off);
    T* gi = reinterpret_cast<T*>(r.outer.data[0] + off[0]);
    const T* g = reinterpret_cast<const T*>(r.outer.data[1] + off[1]);
    const T* y = reinterpret_cast<const T*>(r.outer.data[2] + off[2]);
    const int n = active ? len : 0;
    T gv[V], yv[V];
    T s = T(0);
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const int i = k * W + lane;
      gv[k] = i < n ? g[at<kUnit>(i, sg)] : T(0);
      yv[k] = i < n ? y[at<kUnit>(i, sy)] : T(0);
      s += kLog ? gv[k] : gv[k] * yv[k];
    }
    s = group_sum<W>(s);
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const int i = k * W + lane;
      if (i < n) gi[at<kUnit>(i, sgi)] = kLog ? gv[k] - dexp(yv[k]) * s : yv[k] * (gv[k] - s);
    }
  }
}

template <typename T, bool kLog>
__global__ void softmax_backward_rows(Rows<3> r) {
  __shared__ T sh[33];
  const i64 len = r.len, sgi = r.stride[0], sg = r.stride[1], sy = r.stride[2];
  const i64 B = blockDim.x;
  for (i64 row = blockIdx.x; row < r.rows; row += gridDim.x) {
    i64 off[3];
    r.outer.offsets(row, off);
    T* gi = reinterpret_cast<T*>(r.outer.data[0] + off[0]);
    const T* g = reinterpret_cast<const T*>(r.outer.data[1] + off[1]);
    const T* y = reinterpret_cast<const T*>(r.outer.data[2] + off[2]);
    T s = T(0);
    for (i64 i0 = threadIdx.x; i0 < len; i0 += 4 * B) {
      T gv[4], yv[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const i64 i = i0 + j * B;
        gv[j] = i < len ? g[i * sg] : T(0);
        yv[j] = !kLog && i < len ? y[i * sy] : T(0);
      }
#pragma unroll
      for (int j = 0; j < 4; ++j) s += kLog ? gv[j] : gv[j] * yv[j];
    }
    s = block_sum(s, sh);
    for (i64 i = threadIdx.x; i < len; i += B) {
      const T gv = g[i * sg], yv = y[i * sy];
      gi[i * sgi] = kLog ? gv - dexp(yv) * s : yv * (gv - s);
    }
  }
}

template <typename T, bool kLog, bool kUnit, int kMaxV>
void launch_softmax_backward_lanes(const Rows<3>& r) {
  with_lane_shape<kMaxV>(r.len, [&](auto shape) {
    using S = decltype(shape);
    softmax_backward_lanes<T, kLog, kUnit, S::kW, S::kV>
        <<<grid_for(r.rows, kWarpBlock / S::kW), kWarpBlock, 0, stream()>>>(r);
    check_launch("softmax_backward_lanes");
  });
}

template <typename T, bool kLog>
void softmax_backward_ours(const Rows<3>& r) {
  if (r.rows == 0 || r.len == 0) return;
  const bool unit = r.stride[0] == 1 && r.stride[1] == 1 && r.stride[2] == 1;
  // Two values an element in registers: up to 1024 elements a row when unit-stride, 256 otherwise
  // (64-bit addresses), beyond that a block per row.
  if (unit && r.len <= 1024) return launch_softmax_backward_lanes<T, kLog, true, 32>(r);
  if (!unit && r.len <= 256) return launch_softmax_backward_lanes<T, kLog, false, 8>(r);
  softmax_backward_rows<T, kLog><<<row_grid(r.rows), kRowBlock, 0, stream()>>>(r);
  check_launch("softmax_backward_rows");
}

// ---------------------------------------------------------------------------------------------
// cuDNN

void check_cudnn(cudnnStatus_t status, const char* what) {
  if (status != CUDNN_STATUS_SUCCESS) fail(what, cudnnGetErrorString(status));
}

// One handle per device, created on first use (with that device current) and kept for the
// process; its stream is set to the device's stream before every call.
cudnnHandle_t cudnn() {
  thread_local int cached_device = -1;
  thread_local cudnnHandle_t cached = nullptr;
  const int device = current_device();
  if (device != cached_device) {
    static std::mutex mutex;
    static std::vector<cudnnHandle_t>* handles = new std::vector<cudnnHandle_t>();
    std::lock_guard<std::mutex> lock(mutex);
    if (handles->size() <= static_cast<size_t>(device)) handles->resize(size_t(device) + 1, nullptr);
    cudnnHandle_t& h = (*handles)[static_cast<size_t>(device)];
    if (!h) check_cudnn(cudnnCreate(&h), "cudnnCreate");
    cached = h;
    cached_device = device;
  }
  check_cudnn(cudnnSetStream(cached, stream()), "cudnnSetStream");
  return cached;
}

// rows x len as an N x C x 1 x 1 tensor.
class RowsDesc {
 public:
  RowsDesc(DType dtype, i64 rows, i64 len) {
    check_cudnn(cudnnCreateTensorDescriptor(&desc_), "cudnnCreateTensorDescriptor");
    const cudnnStatus_t status = cudnnSetTensor4dDescriptor(
        desc_, CUDNN_TENSOR_NCHW, dtype == DType::Float64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT,
        static_cast<int>(rows), static_cast<int>(len), 1, 1);
    if (status != CUDNN_STATUS_SUCCESS) {
      cudnnDestroyTensorDescriptor(desc_);
      fail("cudnnSetTensor4dDescriptor", cudnnGetErrorString(status));
    }
  }
  ~RowsDesc() { cudnnDestroyTensorDescriptor(desc_); }
  RowsDesc(const RowsDesc&) = delete;
  RowsDesc& operator=(const RowsDesc&) = delete;
  cudnnTensorDescriptor_t get() const { return desc_; }

 private:
  cudnnTensorDescriptor_t desc_ = nullptr;
};

// Dense row-major (size-1 dims ignored).
bool is_packed(const View& v) {
  i64 expected = 1;
  for (int d = v.ndim - 1; d >= 0; --d) {
    if (v.sizes[d] == 1) continue;
    if (v.strides[d] != expected) return false;
    expected *= v.sizes[d];
  }
  return true;
}

// Whether cuDNN is chosen and can take these operands: all packed, sizes within its ints.
template <int N>
bool use_cudnn(const View* const (&vs)[N], i64 rows, i64 len) {
  if (cuda_control::softmax_impl() != Impl::Library) return false;
  if (rows <= 0 || len <= 0 || rows > INT_MAX || len > INT_MAX || rows * len > INT_MAX) return false;
  for (int k = 0; k < N; ++k)
    if (!is_packed(*vs[k])) return false;
  return true;
}

template <typename T>
void softmax_cudnn(bool log, const View& out, const View& in, i64 rows, i64 len) {
  const RowsDesc desc(in.dtype, rows, len);
  const T alpha = 1, beta = 0;
  check_cudnn(cudnnSoftmaxForward(cudnn(), log ? CUDNN_SOFTMAX_LOG : CUDNN_SOFTMAX_ACCURATE,
                                  CUDNN_SOFTMAX_MODE_INSTANCE, &alpha, desc.get(), in.data, &beta,
                                  desc.get(), out.data),
              "cudnnSoftmaxForward");
}

template <typename T>
void softmax_backward_cudnn(bool log, const View& grad_in, const View& grad_out, const View& out,
                            i64 rows, i64 len) {
  const RowsDesc desc(grad_in.dtype, rows, len);
  const T alpha = 1, beta = 0;
  check_cudnn(cudnnSoftmaxBackward(cudnn(), log ? CUDNN_SOFTMAX_LOG : CUDNN_SOFTMAX_ACCURATE,
                                   CUDNN_SOFTMAX_MODE_INSTANCE, &alpha, desc.get(), out.data,
                                   desc.get(), grad_out.data, &beta, desc.get(), grad_in.data),
              "cudnnSoftmaxBackward");
}


// ---------------------------------------------------------------------------------------------
// softmax cross-entropy over dense rows (CrossEntropyArgs): a warp per row (grid-stride over
// rows), the log-sum-exp by one online (max, sum) pass and a warp merge.

template <typename T>
__device__ inline T weight_at(const T* w, i64 j) {
  return w ? w[j] : T(1);
}

template <typename T>
__global__ void __launch_bounds__(kWarpBlock)
    cross_entropy_warps(CrossEntropyArgs a, const T* x, const int64_t* target, T* loss, T* row_max,
                        T* log_sum, T* row_weight, IndexErrorRecord* rec) {
  const int lane = threadIdx.x & 31;
  const i64 nwarps = (i64(gridDim.x) * blockDim.x) >> 5;
  const T* w = static_cast<const T*>(a.weight);
  const T s = T(a.label_smoothing), C = T(a.cols);
  for (i64 r = (i64(blockIdx.x) * blockDim.x + threadIdx.x) >> 5; r < a.rows; r += nwarps) {
    const T* xr = x + r * a.cols;
    T m = neg_inf<T>(), sum = 0;
    for (i64 j = lane; j < a.cols; j += 32) merge_ms(m, sum, xr[j], T(1));
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
      merge_ms(m, sum, __shfl_xor_sync(0xffffffffu, m, o), __shfl_xor_sync(0xffffffffu, sum, o));
    const T ls = dlog(sum), l = m + ls;
    const int64_t t = target[r];
    const bool ignored = t == a.ignore_index;
    const bool bad = !ignored && (t < 0 || t >= a.cols);
    T smooth = 0;
    if (s > T(0) && !ignored && !bad) {
      for (i64 j = lane; j < a.cols; j += 32) smooth += weight_at(w, j) * (l - xr[j]);
      smooth = group_sum<32>(smooth);
    }
    if (lane != 0) continue;
    row_max[r] = m;
    log_sum[r] = ls;
    if (bad) report_bad_index(rec, IndexErrorKind::CrossEntropy, t, a.cols);
    if (ignored || bad) {
      loss[r] = T(0);
      row_weight[r] = T(0);
      continue;
    }
    const T wt = weight_at(w, t);
    loss[r] = (T(1) - s) * wt * (l - xr[t]) + s / C * smooth;
    row_weight[r] = wt;
  }
}

template <typename T>
__global__ void __launch_bounds__(kWarpBlock)
    cross_entropy_backward_warps(CrossEntropyArgs a, const T* x, const int64_t* target, const T* row_max,
                                 const T* log_sum, const T* grad_loss, T* grad_x) {
  const int lane = threadIdx.x & 31;
  const i64 nwarps = (i64(gridDim.x) * blockDim.x) >> 5;
  const T* w = static_cast<const T*>(a.weight);
  const T s = T(a.label_smoothing), C = T(a.cols);
  T weight_sum = C;
  if (w) {
    weight_sum = 0;
    for (i64 j = lane; j < a.cols; j += 32) weight_sum += w[j];
    weight_sum = group_sum<32>(weight_sum);
  }
  for (i64 r = (i64(blockIdx.x) * blockDim.x + threadIdx.x) >> 5; r < a.rows; r += nwarps) {
    const T* xr = x + r * a.cols;
    T* gr = grad_x + r * a.cols;
    const int64_t t = target[r];
    if (t == a.ignore_index || t < 0 || t >= a.cols) {
      for (i64 j = lane; j < a.cols; j += 32) gr[j] = T(0);
      continue;
    }
    const T g = grad_loss[r], wt = weight_at(w, t), m = row_max[r], ls = log_sum[r];
    const T scale = g * ((T(1) - s) * wt + s / C * weight_sum), uniform = g * s / C;
    const T target_term = g * (T(1) - s) * wt;
    for (i64 j = lane; j < a.cols; j += 32)
      gr[j] = scale * dexp((xr[j] - m) - ls) - uniform * weight_at(w, j) - (j == t ? target_term : T(0));
  }
}

unsigned warp_row_blocks(i64 rows) {
  constexpr i64 kWarpsPerBlock = kWarpBlock / 32;
  return static_cast<unsigned>(std::min<i64>((rows + kWarpsPerBlock - 1) / kWarpsPerBlock, i64(1) << 20));
}

}  // namespace

void softmax(bool log, const View& out, const View& in) {
  if (out.dtype != in.dtype) unsupported("softmax with differing dtypes", out.dtype);
  dispatch_floating("softmax", in.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const View* const vs[2] = {&in, &out};
    const Rows<2> r = make_rows<2>(vs);
    if (use_cudnn<2>(vs, r.rows, r.len)) return softmax_cudnn<T>(log, out, in, r.rows, r.len);
    if (log) return softmax_ours<T, true, false>(r);
    softmax_ours<T, false, false>(r);
  });
}

void softmax_backward(bool log, const View& grad_in, const View& grad_out, const View& out) {
  if (grad_out.dtype != grad_in.dtype || out.dtype != grad_in.dtype)
    unsupported("softmax_backward with differing dtypes",
                grad_out.dtype != grad_in.dtype ? grad_out.dtype : out.dtype);
  dispatch_floating("softmax_backward", grad_in.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const View* const vs[3] = {&grad_in, &grad_out, &out};
    const Rows<3> r = make_rows<3>(vs);
    if (use_cudnn<3>(vs, r.rows, r.len))
      return softmax_backward_cudnn<T>(log, grad_in, grad_out, out, r.rows, r.len);
    if (log) return softmax_backward_ours<T, true>(r);
    softmax_backward_ours<T, false>(r);
  });
}

void masked_softmax(const View& out, const View& in, const View& mask) {
  if (out.dtype != in.dtype) unsupported("masked_softmax with differing dtypes", out.dtype);
  if (mask.dtype != DType::Bool) unsupported("masked_softmax mask", mask.dtype);
  dispatch_floating("masked_softmax", in.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const View* const vs[3] = {&in, &out, &mask};
    softmax_ours<T, false, true>(make_rows<3>(vs));
  });
}

IndexCheck cross_entropy_rows(const CrossEntropyArgs& a, const void* logits, const int64_t* target, void* loss,
                              void* row_max, void* log_sum, void* row_weight) {
  dispatch_floating("cross_entropy_rows", a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (a.rows == 0) return;
    cross_entropy_warps<T><<<warp_row_blocks(a.rows), kWarpBlock, 0, stream()>>>(
        a, static_cast<const T*>(logits), target, static_cast<T*>(loss), static_cast<T*>(row_max),
        static_cast<T*>(log_sum), static_cast<T*>(row_weight), index_error_record());
    check_launch("cross_entropy_rows");
  });
  return {};
}

void cross_entropy_rows_backward(const CrossEntropyArgs& a, const void* logits, const int64_t* target,
                                 const void* row_max, const void* log_sum, const void* grad_loss,
                                 void* grad_logits) {
  dispatch_floating("cross_entropy_rows_backward", a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (a.rows == 0) return;
    cross_entropy_backward_warps<T><<<warp_row_blocks(a.rows), kWarpBlock, 0, stream()>>>(
        a, static_cast<const T*>(logits), target, static_cast<const T*>(row_max), static_cast<const T*>(log_sum),
        static_cast<const T*>(grad_loss), static_cast<T*>(grad_logits));
    check_launch("cross_entropy_rows_backward");
  });
}

}  // namespace tg::kernels::cuda
