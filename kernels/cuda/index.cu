// CUDA indexing kernels (the semantics of kernels/cpu/index.cpp): index_select, index_add, gather
// and scatter_add over any strides and every dtype.
//
// Each is one strided elementwise pass over three operands {target, data, index} sharing one
// iteration shape; the indexed dim is folded out of the data-side operand (stride 0 along `dim`)
// and each element adds its index value times that operand's dim stride.
//
// Index values outside [0, size) (negative ones included: no wrapping, as on the CPU) are recorded
// in index_error_record() and reported at the next synchronization. Unlike the CPU, which checks
// everything before writing anything, the other positions are still processed (index_select and
// gather write 0 at a bad position; the adds skip it), and the value reported is one of the bad
// ones, not necessarily the first in row-major order. The adds use atomics, so float sums with
// repeated indices are in an order that can vary from run to run.
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <type_traits>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace tg::kernels::cuda {
namespace {

// ---- host-side shapes

View as_at_least_1d(const View& v) {
  if (v.ndim > 0) return v;
  View r = v;
  r.ndim = 1;
  r.sizes[0] = 1;
  r.strides[0] = 0;
  return r;
}

void check_dim(int dim, int ndim) {
  if (dim < 0 || dim >= ndim) throw std::invalid_argument("tapegrad cuda kernel: dim out of range");
}

void check_index_dtype(const View& index) {
  if (index.dtype != DType::Int64) unsupported("index tensor", index.dtype);
}

// v over `shape`'s sizes, with stride 0 along dim (the index supplies that coordinate).
View fold_dim(const View& v, const View& shape, int dim) {
  View r = v;
  for (int d = 0; d < v.ndim; ++d) r.sizes[d] = shape.sizes[d];
  r.strides[dim] = 0;
  return r;
}

// A 0-d or 1-d index broadcast over `shape`, running along dim.
View index_along(const View& index, const View& shape, int dim) {
  View r;
  r.data = index.data;
  r.dtype = DType::Int64;
  r.ndim = shape.ndim;
  for (int d = 0; d < shape.ndim; ++d) {
    r.sizes[d] = shape.sizes[d];
    r.strides[d] = 0;
  }
  r.strides[dim] = index.ndim == 0 ? 0 : index.strides[0];
  return r;
}

// ---- device helpers

__device__ inline bool in_bounds(int64_t v, int64_t bound) {
  return static_cast<uint64_t>(v) < static_cast<uint64_t>(bound);
}

// Records a bad index. At most one lane per warp touches the record: it lives in mapped host
// memory, so every atomic on it crosses the bus.
__device__ inline void note_bad(IndexErrorRecord* rec, IndexErrorKind kind, bool bad, int64_t v,
                                int64_t bound) {
  const unsigned active = __activemask();
  const unsigned bad_lanes = __ballot_sync(active, bad);
  if (bad && (threadIdx.x & 31u) == static_cast<unsigned>(__ffs(bad_lanes) - 1))
    report_bad_index(rec, kind, v, bound);
}

template <typename T>
__device__ inline void accumulate(T* dst, T v) {
  if constexpr (std::is_same_v<T, Bool>) {
    // Logical or, normalized to 1 like the CPU's. There is no byte atomic, but none is needed:
    // racing writers only ever store 1.
    volatile Bool* d = dst;
    const Bool old = *d;
    if (v != 0 || old > 1) *d = Bool(1);
  } else if constexpr (std::is_same_v<T, int64_t>) {
    // Two's complement: the unsigned add wraps exactly like the CPU's int64 sum.
    atomicAdd(reinterpret_cast<unsigned long long*>(dst), static_cast<unsigned long long>(v));
  } else {
    atomicAdd(dst, v);
  }
}

// p = {target, data with dim folded, index}: target = data[index] (0 where the index is bad).
template <typename T, bool kReport>
struct CopyAt {
  int64_t bound, dim_bytes;
  IndexErrorKind kind;
  IndexErrorRecord* rec;
  __device__ void operator()(char** p) const {
    const int64_t v = *reinterpret_cast<const int64_t*>(p[2]);
    const bool ok = in_bounds(v, bound);
    if constexpr (kReport) note_bad(rec, kind, !ok, v, bound);
    *reinterpret_cast<T*>(p[0]) = ok ? *reinterpret_cast<const T*>(p[1] + v * dim_bytes) : T(0);
  }
};

// p = {target with dim folded, data, index}: target[index] += data (skipped where bad).
template <typename T, bool kReport>
struct AddAt {
  int64_t bound, dim_bytes;
  IndexErrorKind kind;
  IndexErrorRecord* rec;
  __device__ void operator()(char** p) const {
    const int64_t v = *reinterpret_cast<const int64_t*>(p[2]);
    const bool ok = in_bounds(v, bound);
    if constexpr (kReport) note_bad(rec, kind, !ok, v, bound);
    if (ok) accumulate(reinterpret_cast<T*>(p[0] + v * dim_bytes), *reinterpret_cast<const T*>(p[1]));
  }
};

// The 1-d index of index_select / index_add, checked once per value (rather than once per use,
// and also when the elementwise part is empty, as the CPU checks it).
struct IndexList {
  const int64_t* data;
  int64_t stride, len, bound;
  IndexErrorKind kind;
  IndexErrorRecord* rec;
};

// Element i < n gets op; index value i < list.len is checked.
template <typename Op>
__global__ void along_dim_kernel(int64_t n, Strided<3> s, Op op, IndexList list) {
  const int64_t total = n > list.len ? n : list.len;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    if (i < list.len) {
      const int64_t v = list.data[i * list.stride];
      note_bad(list.rec, list.kind, !in_bounds(v, list.bound), v, list.bound);
    }
    if (i < n) {
      int64_t off[3];
      s.offsets(i, off);
      char* p[3] = {s.data[0] + off[0], s.data[1] + off[1], s.data[2] + off[2]};
      op(p);
    }
  }
}

template <typename Op>
void launch_along_dim(const char* name, const View* const (&views)[3], const Op& op,
                      const IndexList& list) {
  const int64_t n = numel_of(*views[0]);
  const Strided<3> s = make_strided<3>(views);
  along_dim_kernel<Op><<<grid_for(n > list.len ? n : list.len), kBlock, 0, stream()>>>(n, s, op, list);
  check_launch(name);
}

IndexList list_of(const View& index, int64_t bound, IndexErrorKind kind) {
  return IndexList{static_cast<const int64_t*>(index.data), index.ndim == 0 ? 0 : index.strides[0],
                   index.ndim == 0 ? 1 : index.sizes[0], bound, kind, index_error_record()};
}

}  // namespace

IndexCheck index_select(const View& out_v, const View& in_v, const View& index, int dim) {
  const View out = as_at_least_1d(out_v), in = as_at_least_1d(in_v);
  check_dim(dim, in.ndim);
  if (out.dtype != in.dtype) unsupported("index_select with differing dtypes", out.dtype);
  check_index_dtype(index);
  const IndexList list = list_of(index, in.sizes[dim], IndexErrorKind::IndexSelect);
  if (list.len == 0) return {};
  const View src = fold_dim(in, out, dim), ix = index_along(index, out, dim);
  const View* const vs[3] = {&out, &src, &ix};
  dispatch_all(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const CopyAt<T, false> op{list.bound, in.strides[dim] * int64_t(sizeof(T)), list.kind, list.rec};
    launch_along_dim("index_select", vs, op, list);
  });
  return {};
}

IndexCheck index_add(const View& out_v, const View& index, const View& src_v, int dim) {
  const View out = as_at_least_1d(out_v), src = as_at_least_1d(src_v);
  check_dim(dim, out.ndim);
  if (out.dtype != src.dtype) unsupported("index_add with differing dtypes", out.dtype);
  check_index_dtype(index);
  const IndexList list = list_of(index, out.sizes[dim], IndexErrorKind::IndexAdd);
  if (list.len == 0) return {};
  const View dst = fold_dim(out, src, dim), ix = index_along(index, src, dim);
  const View* const vs[3] = {&dst, &src, &ix};
  dispatch_all(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const AddAt<T, false> op{list.bound, out.strides[dim] * int64_t(sizeof(T)), list.kind, list.rec};
    launch_along_dim("index_add", vs, op, list);
  });
  return {};
}

IndexCheck gather(const View& out_v, const View& in_v, const View& index_v, int dim) {
  const View out = as_at_least_1d(out_v), in = as_at_least_1d(in_v),
             index = as_at_least_1d(index_v);
  check_dim(dim, in.ndim);
  if (out.dtype != in.dtype) unsupported("gather with differing dtypes", out.dtype);
  check_index_dtype(index);
  if (numel_of(index) == 0) return {};
  const View src = fold_dim(in, index, dim);
  const View* const vs[3] = {&out, &src, &index};
  dispatch_all(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const CopyAt<T, true> op{in.sizes[dim], in.strides[dim] * int64_t(sizeof(T)),
                             IndexErrorKind::Gather, index_error_record()};
    for_each_element<3>("gather", vs, op);
  });
  return {};
}

IndexCheck scatter_add(const View& out_v, const View& index_v, const View& src_v, int dim) {
  const View out = as_at_least_1d(out_v), index = as_at_least_1d(index_v),
             src_full = as_at_least_1d(src_v);
  check_dim(dim, out.ndim);
  if (out.dtype != src_full.dtype) unsupported("scatter_add with differing dtypes", out.dtype);
  check_index_dtype(index);
  if (numel_of(index) == 0) return {};
  // src is read over index's sizes (it may be larger, like the CPU's plan over index).
  View src = src_full;
  for (int d = 0; d < index.ndim; ++d) src.sizes[d] = index.sizes[d];
  const View dst = fold_dim(out, index, dim);
  const View* const vs[3] = {&dst, &src, &index};
  dispatch_all(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const AddAt<T, true> op{out.sizes[dim], out.strides[dim] * int64_t(sizeof(T)),
                            IndexErrorKind::ScatterAdd, index_error_record()};
    for_each_element<3>("scatter_add", vs, op);
  });
  return {};
}

}  // namespace tg::kernels::cuda
