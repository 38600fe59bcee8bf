// Shared by the CUDA kernels: the current device's stream and library handles, checked CUDA
// calls, scratch memory, deferred index errors, dtype dispatch and a strided elementwise launcher.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "core/error.h"
#include "kernels/dtype_dispatch.h"
#include "kernels/kernel_api.h"

namespace tg::kernels::cuda {

// ---- the current device (set by KernelTable::activate before every op)
int current_device();
const char* current_op();
cudaStream_t stream();
cublasHandle_t cublas();

// Throws tg::Error "<op>: <what> failed: <CUDA error string>".
[[noreturn]] void fail(const char* what, const char* detail);
inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) fail(what, cudaGetErrorString(err));
}
void check(cublasStatus_t status, const char* what);
// After every launch: a bad configuration or a sticky error from earlier work.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

// Device memory reused in stream order by one kernel call at a time (grown, never shrunk).
// `slot` < 4 lets one call hold several buffers at once.
void* scratch(size_t nbytes, int slot = 0);

// Index kernels record the first out-of-range index here (mapped host memory written by the
// GPU); it is reported as a tg::Error at the next synchronization.
enum class IndexErrorKind : int { None = 0, IndexSelect, IndexAdd, Gather, ScatterAdd, CrossEntropy };
struct IndexErrorRecord {
  int flag;  // 0, then 1 once written (atomicCAS)
  int kind;
  long long value;
  long long bound;
};
IndexErrorRecord* index_error_record();  // device pointer for the current device

__device__ inline void report_bad_index(IndexErrorRecord* rec, IndexErrorKind kind, int64_t value,
                                        int64_t bound) {
  if (atomicCAS(&rec->flag, 0, 1) == 0) {
    rec->kind = static_cast<int>(kind);
    rec->value = value;
    rec->bound = bound;
    __threadfence_system();
  }
}

// ---- launch geometry
constexpr int kBlock = 256;
inline unsigned grid_for(int64_t n, int block = kBlock) {
  int64_t g = (n + block - 1) / block;
  // Grid-stride loops cover the rest; 65535 * 16 blocks keep every SM busy.
  return static_cast<unsigned>(g < 1 ? 1 : (g > 65535 * 16 ? 65535 * 16 : g));
}

// ---- dtypes
[[noreturn]] void unsupported(const char* what, DType t);

template <typename F>
decltype(auto) dispatch_floating(const char* what, DType t, F&& f) {
  switch (t) {
    case DType::Float32: return f(Tag<float>{});
    case DType::Float64: return f(Tag<double>{});
    default: break;
  }
  unsupported(what, t);
}

// ---- strided elementwise iteration
//
// N operands sharing `sizes`, each with its own byte strides (0 on broadcast dims). Dims are
// coalesced on the host where every operand is contiguous across them, and stored innermost
// first so the device walks them with one divide per dim.
template <int N>
struct Strided {
  char* data[N];
  int ndim = 0;               // after coalescing; 1 for a flat contiguous run
  int64_t sizes[kMaxDims];    // innermost first
  int64_t strides[N][kMaxDims];

  __device__ inline void offsets(int64_t linear, int64_t (&off)[N]) const {
    if (ndim == 1) {
#pragma unroll
      for (int k = 0; k < N; ++k) off[k] = linear * strides[k][0];
      return;
    }
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int d = 0; d < ndim; ++d) {
      const int64_t size = sizes[d];
      const int64_t q = linear / size;
      const int64_t i = linear - q * size;
      linear = q;
#pragma unroll
      for (int k = 0; k < N; ++k) off[k] += i * strides[k][d];
    }
  }
};

// views[k] all have views[0]'s sizes.
template <int N>
Strided<N> make_strided(const View* const (&views)[N]) {
  Strided<N> s;
  const View& v0 = *views[0];
  for (int k = 0; k < N; ++k) s.data[k] = static_cast<char*>(views[k]->data);
  int nd = 0;
  // Innermost first, skipping size-1 dims.
  for (int d = v0.ndim - 1; d >= 0; --d) {
    if (v0.sizes[d] == 1) continue;
    const bool merge = nd > 0 && [&] {
      for (int k = 0; k < N; ++k) {
        const int64_t esz = static_cast<int64_t>(dtype_size(views[k]->dtype));
        if (views[k]->strides[d] * esz != s.strides[k][nd - 1] * s.sizes[nd - 1]) return false;
      }
      return true;
    }();
    if (merge) {
      s.sizes[nd - 1] *= v0.sizes[d];
      continue;
    }
    s.sizes[nd] = v0.sizes[d];
    for (int k = 0; k < N; ++k)
      s.strides[k][nd] = views[k]->strides[d] * static_cast<int64_t>(dtype_size(views[k]->dtype));
    ++nd;
  }
  if (nd == 0) {  // a single element
    s.sizes[0] = 1;
    for (int k = 0; k < N; ++k) s.strides[k][0] = 0;
    nd = 1;
  }
  s.ndim = nd;
  return s;
}

inline int64_t numel_of(const View& v) {
  int64_t n = 1;
  for (int d = 0; d < v.ndim; ++d) n *= v.sizes[d];
  return n;
}

template <int N, typename F>
__global__ void elementwise_kernel(int64_t n, Strided<N> s, F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[N];
    s.offsets(i, off);
    char* p[N];
#pragma unroll
    for (int k = 0; k < N; ++k) p[k] = s.data[k] + off[k];
    f(p);
  }
}

// Calls f(char* p[N]) on the device for every element, p[k] pointing at operand k's element.
template <int N, typename F>
void for_each_element(const char* kernel, const View* const (&views)[N], F f) {
  const int64_t n = numel_of(*views[0]);
  if (n == 0) return;
  const Strided<N> s = make_strided<N>(views);
  elementwise_kernel<N><<<grid_for(n), kBlock, 0, stream()>>>(n, s, f);
  check_launch(kernel);
}

// ---- warp and block reductions
template <typename T, typename Op>
__device__ inline T warp_reduce(T v, Op op) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

}  // namespace tg::kernels::cuda
