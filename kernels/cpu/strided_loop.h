// Shared N-d iteration for the CPU kernels: dim coalescing, optional dim reordering, a linear
// index range split into OpenMP chunks, and a per-row callback for the innermost dim.
//
// A callback receives (n, ptrs, strides, linear): n elements of the innermost dim, one base
// pointer per operand (char*, to be cast by the caller), one element stride per operand, and the
// row-major linear index (in the plan's iteration order) of the first element of the row.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "kernels/dtype_dispatch.h"
#include "kernels/kernel_api.h"

namespace tg::kernels::cpu {

// Below this many elements a loop runs on the calling thread only.
constexpr int64_t kParallelGrain = 32768;

// sum_i f(i) over [0, n) in double with 8 independent lanes, so that the loop vectorizes.
template <typename F>
inline double lane_sum(int64_t n, F&& f) {
  constexpr int kSumLanes = 8;
  double lane[kSumLanes] = {};
  int64_t i = 0;
  for (; i + kSumLanes <= n; i += kSumLanes)
    for (int j = 0; j < kSumLanes; ++j) lane[j] += f(i + j);
  double sum = 0.0;
  for (int j = 0; j < kSumLanes; ++j) sum += lane[j];
  for (; i < n; ++i) sum += f(i);
  return sum;
}

[[noreturn]] inline void unsupported(const char* what, DType t) {
  static const char* names[] = {"float32", "float64", "int64", "bool"};
  throw std::invalid_argument(std::string("tapegrad cpu kernel: ") + what +
                              " is not supported for dtype " + names[static_cast<int>(t) & 3]);
}

template <typename T>
constexpr bool is_float_v = std::is_floating_point_v<T>;

// Calls f(Tag<T>{}) for the floating dtypes; throws for the others.
template <typename F>
decltype(auto) dispatch_floating(const char* what, DType t, F&& f) {
  switch (t) {
    case DType::Float32: return f(Tag<float>{});
    case DType::Float64: return f(Tag<double>{});
    default: break;
  }
  unsupported(what, t);
}

inline int max_threads() { return omp_get_max_threads(); }

// Whether a loop of `work` elements should fork threads.
inline bool should_parallelize(int64_t work, int64_t grain = kParallelGrain) {
  return work > grain && !omp_in_parallel() && omp_get_max_threads() > 1;
}

// Splits [0, total) into contiguous per-thread ranges (at least `grain` each) and calls
// body(begin, end) for each; serial when small.
template <typename F>
void parallel_range(int64_t total, int64_t grain, F&& body) {
  if (total <= 0) return;
  if (!should_parallelize(total, grain)) {
    body(int64_t(0), total);
    return;
  }
  int64_t nt = std::min<int64_t>(max_threads(), (total + grain - 1) / grain);
  if (nt <= 1) {
    body(int64_t(0), total);
    return;
  }
#pragma omp parallel num_threads(static_cast<int>(nt))
  {
    const int64_t t = omp_get_thread_num();
    const int64_t nth = omp_get_num_threads();
    const int64_t begin = total * t / nth;
    const int64_t end = total * (t + 1) / nth;
    if (begin < end) body(begin, end);
  }
}

// Like parallel_range but over independent items that are each `cost` elements of work.
template <typename F>
void parallel_items(int64_t items, int64_t cost, F&& body) {
  if (items <= 0) return;
  if (items == 1 || !should_parallelize(items * std::max<int64_t>(cost, 1))) {
    for (int64_t i = 0; i < items; ++i) body(i);
    return;
  }
  const int nt = static_cast<int>(std::min<int64_t>(max_threads(), items));
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t i = 0; i < items; ++i) body(i);
}

template <int N>
struct Plan {
  int ndim = 0;       // after dropping size-1 dims and coalescing; dim ndim-1 is innermost
  int64_t numel = 1;  // 0: nothing to do
  int64_t sizes[kMaxDims] = {};
  int64_t strides[N][kMaxDims] = {};
  char* data[N] = {};
  int64_t elsize[N] = {};
};

// Builds a plan over `ndim`/`sizes` for N operands given by their data, dtype and strides.
// reorder: permit permuting dims so that the innermost has the smallest strides (elementwise ops
// whose result does not depend on the visiting order). Without it, the iteration order is
// row-major over `sizes` and the linear index passed to callbacks is the row-major index.
template <int N>
Plan<N> make_plan(int ndim, const int64_t* sizes, void* const (&data)[N], const DType (&dtype)[N],
                  const int64_t* const (&strides)[N], bool reorder) {
  Plan<N> p;
  for (int k = 0; k < N; ++k) {
    p.data[k] = static_cast<char*>(data[k]);
    p.elsize[k] = static_cast<int64_t>(dtype_size(dtype[k]));
  }
  int dims[kMaxDims];
  int nd = 0;
  int64_t numel = 1;
  for (int d = 0; d < ndim; ++d) {
    numel *= sizes[d];
    if (sizes[d] != 1) dims[nd++] = d;
  }
  p.numel = numel;
  if (numel == 0) {
    p.ndim = 0;
    return p;
  }
  if (reorder && nd > 1) {
    // Insertion sort, outer to inner: move a dim inward while its strides are smaller than
    // those of the dim after it (first operand where both are nonzero and differ decides).
    auto should_swap = [&](int outer, int inner) {
      for (int k = 0; k < N; ++k) {
        const int64_t so = strides[k][outer], si = strides[k][inner];
        if (so == 0 || si == 0 || so == si) continue;
        return so < si;
      }
      return false;
    };
    for (int i = 1; i < nd; ++i) {
      for (int j = i; j > 0 && should_swap(dims[j - 1], dims[j]); --j) std::swap(dims[j - 1], dims[j]);
    }
  }
  // Coalesce from the inside out.
  int out_nd = 0;
  int64_t csize[kMaxDims];
  int64_t cstr[N][kMaxDims];
  for (int i = nd - 1; i >= 0; --i) {
    const int d = dims[i];
    if (out_nd > 0) {
      bool merge = true;
      for (int k = 0; k < N; ++k) {
        if (strides[k][d] != cstr[k][out_nd - 1] * csize[out_nd - 1]) {
          merge = false;
          break;
        }
      }
      if (merge) {
        csize[out_nd - 1] *= sizes[d];
        continue;
      }
    }
    csize[out_nd] = sizes[d];
    for (int k = 0; k < N; ++k) cstr[k][out_nd] = strides[k][d];
    ++out_nd;
  }
  // csize is inner-first; store outer-first.
  p.ndim = out_nd;
  for (int i = 0; i < out_nd; ++i) {
    p.sizes[i] = csize[out_nd - 1 - i];
    for (int k = 0; k < N; ++k) p.strides[k][i] = cstr[k][out_nd - 1 - i];
  }
  return p;
}

// Plan over views sharing views[0]'s sizes.
template <int N>
Plan<N> make_plan(const View* const (&views)[N], bool reorder) {
  void* data[N];
  DType dtype[N];
  const int64_t* strides[N];
  for (int k = 0; k < N; ++k) {
    data[k] = views[k]->data;
    dtype[k] = views[k]->dtype;
    strides[k] = views[k]->strides;
  }
  return make_plan<N>(views[0]->ndim, views[0]->sizes, data, dtype, strides, reorder);
}

// Visits linear indices [begin, end) of the plan row by row, with `base` in place of p.data.
template <int N, typename F>
void run_range_at(const Plan<N>& p, char* const* base, int64_t begin, int64_t end, F&& f) {
  if (begin >= end) return;
  char* ptr[N];
  int64_t inner_stride[N];
  if (p.ndim == 0) {  // a single element
    for (int k = 0; k < N; ++k) {
      ptr[k] = base[k];
      inner_stride[k] = 0;
    }
    f(int64_t(1), static_cast<char* const*>(ptr), static_cast<const int64_t*>(inner_stride), int64_t(0));
    return;
  }
  const int last = p.ndim - 1;
  const int64_t inner = p.sizes[last];
  int64_t idx[kMaxDims];
  int64_t off[N];  // element offsets of the current row start (inner index 0)
  {
    int64_t rem = begin;
    for (int d = last; d >= 0; --d) {
      idx[d] = rem % p.sizes[d];
      rem /= p.sizes[d];
    }
    for (int k = 0; k < N; ++k) {
      int64_t o = 0;
      for (int d = 0; d < last; ++d) o += idx[d] * p.strides[k][d];
      off[k] = o;
      inner_stride[k] = p.strides[k][last];
    }
  }
  int64_t lin = begin;
  while (lin < end) {
    const int64_t i0 = idx[last];
    const int64_t n = std::min(inner - i0, end - lin);
    for (int k = 0; k < N; ++k) ptr[k] = base[k] + (off[k] + i0 * inner_stride[k]) * p.elsize[k];
    f(n, static_cast<char* const*>(ptr), static_cast<const int64_t*>(inner_stride), lin);
    lin += n;
    if (lin >= end) break;
    // Next row: inner index back to 0, carry into the outer dims.
    idx[last] = 0;
    for (int d = last - 1; d >= 0; --d) {
      if (++idx[d] < p.sizes[d]) {
        for (int k = 0; k < N; ++k) off[k] += p.strides[k][d];
        break;
      }
      idx[d] = 0;
      for (int k = 0; k < N; ++k) off[k] -= (p.sizes[d] - 1) * p.strides[k][d];
    }
  }
}

template <int N, typename F>
void run_range(const Plan<N>& p, int64_t begin, int64_t end, F&& f) {
  run_range_at(p, p.data, begin, end, f);
}

// Element offsets (per operand) of linear index `lin` of the plan.
template <int N>
void plan_offsets(const Plan<N>& p, int64_t lin, int64_t (&off)[N]) {
  for (int k = 0; k < N; ++k) off[k] = 0;
  for (int d = p.ndim - 1; d >= 0; --d) {
    const int64_t i = lin % p.sizes[d];
    lin /= p.sizes[d];
    for (int k = 0; k < N; ++k) off[k] += i * p.strides[k][d];
  }
}

// Visits the whole plan, split over threads when large.
template <int N, typename F>
void for_each(const Plan<N>& p, F&& f, int64_t grain = kParallelGrain) {
  if (p.numel == 0) return;
  parallel_range(p.numel, grain, [&](int64_t b, int64_t e) { run_range(p, b, e, f); });
}

// A view with the same data and dtype as v, dims permuted so that `dim` is last.
inline View move_dim_last(const View& v, int dim) {
  View r = v;
  int j = 0;
  for (int d = 0; d < v.ndim; ++d) {
    if (d == dim) continue;
    r.sizes[j] = v.sizes[d];
    r.strides[j] = v.strides[d];
    ++j;
  }
  r.sizes[v.ndim - 1] = v.sizes[dim];
  r.strides[v.ndim - 1] = v.strides[dim];
  return r;
}

inline int64_t numel_of(const View& v) {
  int64_t n = 1;
  for (int d = 0; d < v.ndim; ++d) n *= v.sizes[d];
  return n;
}

}  // namespace tg::kernels::cpu
