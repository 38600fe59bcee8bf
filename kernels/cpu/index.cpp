// CPU indexing kernels: index_select, index_add, gather, scatter_add.
//
// Every index value is validated first (in row-major order of the index view, so the reported
// value is the first offending one); nothing is written when one is out of range. The
// accumulating kernels never let two threads write the same output element: index_add runs the
// index positions in order (each sub-block add may itself be split over elements), and
// scatter_add splits over the positions outside `dim`, each of which owns distinct outputs.
#include <cstring>
#include <vector>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/elementwise_loops.h"

namespace tg::kernels::cpu {
namespace {

// Sub-blocks at least this large are copied/added one index at a time with the generic loops.
constexpr int64_t kBlockwiseMin = 32;

// A 0-d view as a 1-d view of one element (indexing ops need a dim).
View as_at_least_1d(const View& v) {
  if (v.ndim > 0) return v;
  View r = v;
  r.ndim = 1;
  r.sizes[0] = 1;
  r.strides[0] = 0;
  return r;
}

// The first value of `index` (row-major) outside [0, limit).
IndexCheck validate(const View& index, int64_t limit) {
  if (index.dtype != DType::Int64) unsupported("index tensor", index.dtype);
  const View* const vs[1] = {&index};
  const Plan<1> p = make_plan<1>(vs, false);
  if (p.numel == 0) return {};
  auto scan = [&](int64_t b, int64_t e, int64_t& bad_pos, int64_t& bad_val) {
    bad_pos = -1;
    run_range(p, b, e, [&](int64_t n, char* const* ptr, const int64_t* s, int64_t lin) {
      if (bad_pos >= 0) return;
      const int64_t* x = reinterpret_cast<const int64_t*>(ptr[0]);
      const int64_t st = s[0];
      // Branch-free check of the row, then locate the first offender if there is one.
      bool any_bad = false;
      for (int64_t i = 0; i < n; ++i) {
        const uint64_t v = static_cast<uint64_t>(x[i * st]);
        any_bad |= v >= static_cast<uint64_t>(limit);
      }
      if (!any_bad) return;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t v = x[i * st];
        if (v < 0 || v >= limit) {
          bad_pos = lin + i;
          bad_val = v;
          return;
        }
      }
    });
  };
  if (!should_parallelize(p.numel, 4 * kParallelGrain)) {
    int64_t pos, val = 0;
    scan(0, p.numel, pos, val);
    return pos >= 0 ? IndexCheck{false, val} : IndexCheck{};
  }
  const int nt = max_threads();
  std::vector<int64_t> pos(static_cast<size_t>(nt), -1), val(static_cast<size_t>(nt), 0);
#pragma omp parallel num_threads(nt)
  {
    const int64_t t = omp_get_thread_num(), nth = omp_get_num_threads();
    scan(p.numel * t / nth, p.numel * (t + 1) / nth, pos[size_t(t)], val[size_t(t)]);
  }
  for (int t = 0; t < nt; ++t)
    if (pos[size_t(t)] >= 0) return IndexCheck{false, val[size_t(t)]};
  return {};
}

// Index values of a 1-d Int64 view, contiguous.
std::vector<int64_t> load_index(const View& index) {
  const int64_t n = index.ndim == 0 ? 1 : index.sizes[0];
  const int64_t s = index.ndim == 0 ? 0 : index.strides[0];
  const int64_t* x = static_cast<const int64_t*>(index.data);
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = x[i * s];
  return v;
}

// v with `dim` removed and the data moved to position `at` along it.
View drop_dim(const View& v, int dim, int64_t at) {
  View r;
  r.dtype = v.dtype;
  r.data = static_cast<char*>(v.data) + at * v.strides[dim] * static_cast<int64_t>(dtype_size(v.dtype));
  r.ndim = v.ndim - 1;
  int j = 0;
  for (int d = 0; d < v.ndim; ++d) {
    if (d == dim) continue;
    r.sizes[j] = v.sizes[d];
    r.strides[j] = v.strides[d];
    ++j;
  }
  return r;
}

int64_t trailing_numel(const View& v, int dim) {
  int64_t n = 1;
  for (int d = dim + 1; d < v.ndim; ++d) n *= v.sizes[d];
  return n;
}

// Plan over the dims other than `dim` of N views that share sizes there.
template <int N>
Plan<N> plan_without_dim(const View* const (&vs)[N], int dim) {
  View tmp[N];
  for (int k = 0; k < N; ++k) tmp[k] = drop_dim(*vs[k], dim, 0);
  void* data[N];
  DType dt[N];
  const int64_t* st[N];
  for (int k = 0; k < N; ++k) {
    data[k] = tmp[k].data;
    dt[k] = tmp[k].dtype;
    st[k] = tmp[k].strides;
  }
  return make_plan<N>(tmp[0].ndim, tmp[0].sizes, data, dt, st, true);
}

void check_dim(int dim, int ndim) {
  if (dim < 0 || dim >= ndim) throw std::invalid_argument("tapegrad cpu kernel: dim out of range");
}

template <typename T>
inline void accumulate(T& dst, T v) {
  if constexpr (std::is_same_v<T, Bool>) {
    dst = Bool((dst != 0) | (v != 0));
  } else {
    dst += v;
  }
}

}  // namespace

IndexCheck index_select(const View& out_v, const View& in_v, const View& index, int dim) {
  const View out = as_at_least_1d(out_v), in = as_at_least_1d(in_v);
  check_dim(dim, in.ndim);
  if (out.dtype != in.dtype) unsupported("index_select with differing dtypes", out.dtype);
  const IndexCheck chk = validate(index, in.sizes[dim]);
  if (!chk.ok) return chk;
  if (numel_of(out) == 0) return chk;
  const std::vector<int64_t> idx = load_index(index);
  const int64_t len = static_cast<int64_t>(idx.size());
  const int64_t block = numel_of(out) / len;  // elements per index position

  if (trailing_numel(out, dim) >= kBlockwiseMin) {
    // Sub-block copies out[.., i, ..] = in[.., idx[i], ..]. Every sub-block has the same layout,
    // so one plan serves all of them with shifted base pointers. The (i, position) space is
    // split over threads in i-major order; all writes are distinct.
    dispatch_all(out.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const View* const vs[2] = {&out, &in};
      const Plan<2> p = plan_without_dim<2>(vs, dim);
      const int64_t es = static_cast<int64_t>(sizeof(T));
      const int64_t so = out.strides[dim] * es, si = in.strides[dim] * es;
      auto rows = [&](int64_t n, char* const* ptr, const int64_t* st, int64_t) {
        T* o = reinterpret_cast<T*>(ptr[0]);
        const T* a = reinterpret_cast<const T*>(ptr[1]);
        if (st[0] == 1 && st[1] == 1) {
          std::memcpy(o, a, static_cast<size_t>(n) * sizeof(T));
        } else {
          for (int64_t k = 0; k < n; ++k) o[k * st[0]] = a[k * st[1]];
        }
      };
      parallel_range(len * block, kParallelGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b / block; i < len && i * block < e; ++i) {
          char* base[2] = {p.data[0] + i * so, p.data[1] + idx[size_t(i)] * si};
          run_range_at(p, base, std::max(b - i * block, int64_t(0)),
                       std::min(e - i * block, block), rows);
        }
      });
    });
    return chk;
  }
  // Small trailing blocks: for each position outside dim, walk the index.
  dispatch_all(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const View* const vs[2] = {&out, &in};
    const Plan<2> p = plan_without_dim<2>(vs, dim);
    const int64_t so = out.strides[dim], si = in.strides[dim];
    const int64_t* ix = idx.data();
    for_each(
        p,
        [&](int64_t n, char* const* ptr, const int64_t* s, int64_t) {
          for (int64_t i = 0; i < n; ++i) {
            T* o = reinterpret_cast<T*>(ptr[0]) + i * s[0];
            const T* a = reinterpret_cast<const T*>(ptr[1]) + i * s[1];
            for (int64_t j = 0; j < len; ++j) o[j * so] = a[ix[j] * si];
          }
        },
        std::max<int64_t>(1, kParallelGrain / len));
  });
  return chk;
}

IndexCheck index_add(const View& out_v, const View& index, const View& src_v, int dim) {
  const View out = as_at_least_1d(out_v), src = as_at_least_1d(src_v);
  check_dim(dim, out.ndim);
  if (out.dtype != src.dtype) unsupported("index_add with differing dtypes", out.dtype);
  const IndexCheck chk = validate(index, out.sizes[dim]);
  if (!chk.ok) return chk;
  if (numel_of(src) == 0) return chk;
  const std::vector<int64_t> idx = load_index(index);
  const int64_t len = static_cast<int64_t>(idx.size());

  dispatch_all(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (trailing_numel(src, dim) >= kBlockwiseMin) {
      // Sub-block adds out[.., idx[i], ..] += src[.., i, ..], one plan for all of them (same
      // layout, shifted bases). Threads split the positions within a block and each walks the
      // whole index in order, so an output element is only ever updated by one thread, in index
      // order (deterministic sums with duplicate indices).
      const View* const vs[2] = {&out, &src};
      const Plan<2> p = plan_without_dim<2>(vs, dim);
      const int64_t es = static_cast<int64_t>(sizeof(T));
      const int64_t so = out.strides[dim] * es, ss = src.strides[dim] * es;
      const int64_t block = p.numel;
      auto rows = [&](int64_t n, char* const* ptr, const int64_t* st, int64_t) {
        T* o = reinterpret_cast<T*>(ptr[0]);
        const T* a = reinterpret_cast<const T*>(ptr[1]);
        if (st[0] == 1 && st[1] == 1) {
          for (int64_t k = 0; k < n; ++k) accumulate(o[k], a[k]);
        } else {
          for (int64_t k = 0; k < n; ++k) accumulate(o[k * st[0]], a[k * st[1]]);
        }
      };
      const int64_t grain = std::max<int64_t>(1, kParallelGrain / len);
      parallel_range(block, grain, [&](int64_t b, int64_t e) {
        for (int64_t i = 0; i < len; ++i) {
          char* base[2] = {p.data[0] + idx[size_t(i)] * so, p.data[1] + i * ss};
          run_range_at(p, base, b, e, rows);
        }
      });
      return;
    }
    // Small trailing blocks: each position outside dim owns its outputs; walk the index serially.
    const View* const vs[2] = {&out, &src};
    const Plan<2> p = plan_without_dim<2>(vs, dim);
    const int64_t so = out.strides[dim], ss = src.strides[dim];
    const int64_t* ix = idx.data();
    for_each(
        p,
        [&](int64_t n, char* const* ptr, const int64_t* s, int64_t) {
          for (int64_t i = 0; i < n; ++i) {
            T* o = reinterpret_cast<T*>(ptr[0]) + i * s[0];
            const T* a = reinterpret_cast<const T*>(ptr[1]) + i * s[1];
            for (int64_t j = 0; j < len; ++j) accumulate(o[ix[j] * so], a[j * ss]);
          }
        },
        std::max<int64_t>(1, kParallelGrain / len));
  });
  return chk;
}

IndexCheck gather(const View& out_v, const View& in_v, const View& index_v, int dim) {
  const View out = as_at_least_1d(out_v), in = as_at_least_1d(in_v),
             index = as_at_least_1d(index_v);
  check_dim(dim, in.ndim);
  if (out.dtype != in.dtype) unsupported("gather with differing dtypes", out.dtype);
  const IndexCheck chk = validate(index, in.sizes[dim]);
  if (!chk.ok) return chk;
  // in restricted to out's sizes, with the dim stride applied through the index.
  View src = in;
  for (int d = 0; d < out.ndim; ++d) src.sizes[d] = out.sizes[d];
  src.strides[dim] = 0;
  const int64_t sd = in.strides[dim];
  dispatch_all(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const View* const vs[3] = {&out, &index, &src};
    const Plan<3> p = make_plan<3>(vs, true);
    for_each(p, [&](int64_t n, char* const* ptr, const int64_t* s, int64_t) {
      T* o = reinterpret_cast<T*>(ptr[0]);
      const int64_t* ix = reinterpret_cast<const int64_t*>(ptr[1]);
      const T* a = reinterpret_cast<const T*>(ptr[2]);
      const int64_t so = s[0], sx = s[1], sa = s[2];
      for (int64_t i = 0; i < n; ++i) o[i * so] = a[i * sa + ix[i * sx] * sd];
    });
  });
  return chk;
}

IndexCheck scatter_add(const View& out_v, const View& index_v, const View& src_v, int dim) {
  const View out = as_at_least_1d(out_v), index = as_at_least_1d(index_v),
             src = as_at_least_1d(src_v);
  check_dim(dim, out.ndim);
  if (out.dtype != src.dtype) unsupported("scatter_add with differing dtypes", out.dtype);
  const IndexCheck chk = validate(index, out.sizes[dim]);
  if (!chk.ok) return chk;
  const int64_t len = index.sizes[dim];
  if (numel_of(index) == 0) return chk;
  // out restricted to index's sizes (dim handled through the index).
  View dst = out;
  for (int d = 0; d < index.ndim; ++d) dst.sizes[d] = index.sizes[d];
  const int64_t sod = out.strides[dim], sxd = index.strides[dim], ssd = src.strides[dim];
  dispatch_all(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const View* const vs[3] = {&index, &src, &dst};
    const Plan<3> p = plan_without_dim<3>(vs, dim);
    for_each(
        p,
        [&](int64_t n, char* const* ptr, const int64_t* s, int64_t) {
          for (int64_t i = 0; i < n; ++i) {
            const int64_t* ix = reinterpret_cast<const int64_t*>(ptr[0]) + i * s[0];
            const T* a = reinterpret_cast<const T*>(ptr[1]) + i * s[1];
            T* o = reinterpret_cast<T*>(ptr[2]) + i * s[2];
            for (int64_t j = 0; j < len; ++j) accumulate(o[ix[j * sxd] * sod], a[j * ssd]);
          }
        },
        std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(len, 1)));
  });
  return chk;
}

}  // namespace tg::kernels::cpu
