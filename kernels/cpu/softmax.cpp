// CPU softmax / log-softmax over the last dim and their backward. Rows are independent: the outer
// dims are coalesced into a plan of rows and split over threads when large; each row is a few
// tight passes (max, sum of exp, normalize) with unit-stride specializations.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/elementwise_loops.h"
#include "kernels/cpu/scalar_math.h"
#include "kernels/cpu/simd_clones.h"

namespace tg::kernels::cpu {
namespace {

// Row layout: outer dims as a plan of N operands; the last dim is length L with per-operand
// strides.
template <int N>
struct Rows {
  Plan<N> outer;
  int64_t len = 0;
  int64_t stride[N] = {};
  int64_t elsize[N] = {};
};

template <int N>
Rows<N> make_rows(const View* const (&vs)[N]) {
  Rows<N> r;
  const View& v0 = *vs[0];
  void* data[N];
  DType dt[N];
  const int64_t* st[N];
  for (int k = 0; k < N; ++k) {
    data[k] = vs[k]->data;
    dt[k] = vs[k]->dtype;
    st[k] = vs[k]->strides;
    r.elsize[k] = static_cast<int64_t>(dtype_size(vs[k]->dtype));
  }
  if (v0.ndim == 0) {  // a scalar is one row of one element
    r.outer = make_plan<N>(0, v0.sizes, data, dt, st, false);
    r.len = 1;
    return r;
  }
  r.outer = make_plan<N>(v0.ndim - 1, v0.sizes, data, dt, st, true);
  r.len = v0.sizes[v0.ndim - 1];
  for (int k = 0; k < N; ++k) r.stride[k] = vs[k]->strides[v0.ndim - 1];
  return r;
}

// Visits every row: f(ptrs) with one char* per operand at the row start.
template <int N, typename F>
void for_each_row(const Rows<N>& r, int64_t grain, F&& f) {
  if (r.len == 0 || r.outer.numel == 0) return;
  const int64_t row_grain = std::max<int64_t>(1, grain / r.len);
  parallel_range(r.outer.numel, row_grain, [&](int64_t b, int64_t e) {
    run_range(r.outer, b, e, [&](int64_t n, char* const* ptr, const int64_t* s, int64_t) {
      char* p[N];
      for (int64_t i = 0; i < n; ++i) {
        for (int k = 0; k < N; ++k) p[k] = ptr[k] + i * s[k] * r.elsize[k];
        f(static_cast<char* const*>(p));
      }
    });
  });
}

// Max of a row; NaN if any element is NaN.
template <typename T>
inline T row_max(const T* x, int64_t n, int64_t s) {
  T m = -std::numeric_limits<T>::infinity();
  if (s == 1) return row_extreme<true>(x, n, m);
  for (int64_t i = 0; i < n; ++i) {
    const T v = x[i * s];
    m = (v > m || v != v) ? v : m;
  }
  return m;
}

// Sum of a contiguous row in double with independent lanes (vectorizes).
template <typename T>
inline double array_sum(const T* v, int64_t n) {
  return lane_sum(n, [v](int64_t i) { return double(v[i]); });
}

// sum_i exp(x[i * s] - m), the exps computed a chunk at a time into a local buffer. Always
// inlined, so that it is compiled into its callers' AVX2 clones.
template <typename T>
__attribute__((always_inline)) inline double sum_exp(const T* x, int64_t n, int64_t s, T m, MathConsts mc) {
  constexpr int64_t kChunk = 256;
  T buf[kChunk];
  double sum = 0.0;
  for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
    const int64_t c = std::min(kChunk, n - i0);
    const T* xs = x + i0 * s;
    if (s == 1) {
      for (int64_t i = 0; i < c; ++i) buf[i] = fexp(xs[i] - m, mc);
    } else {
      for (int64_t i = 0; i < c; ++i) buf[i] = fexp(xs[i * s] - m, mc);
    }
    sum += array_sum(buf, c);
  }
  return sum;
}

// One contiguous row (the common case), compiled for AVX2 as well.
template <typename T>
TG_SIMD_CLONES void softmax_row_unit(bool log, const T* x, T* y, int64_t L, MathConsts mc) {
  // A NaN anywhere makes m NaN, an all -inf row makes x - m NaN: either way the row is NaN.
  const T m = row_max(x, L, 1);
  if (log) {
    double sum;
    if (y != x) {
      // The output row as scratch for the exps.
      for (int64_t i = 0; i < L; ++i) y[i] = fexp(x[i] - m, mc);
      sum = array_sum(y, L);
    } else {
      sum = sum_exp(x, L, 1, m, mc);
    }
    const T lse = static_cast<T>(std::log(sum));
    for (int64_t i = 0; i < L; ++i) y[i] = (x[i] - m) - lse;
  } else {
    // exp into the output row (element i is read before it is written, so in place is fine).
    for (int64_t i = 0; i < L; ++i) y[i] = fexp(x[i] - m, mc);
    const T inv = static_cast<T>(1.0 / array_sum(y, L));
    for (int64_t i = 0; i < L; ++i) y[i] *= inv;
  }
}

template <typename T>
void softmax_row_strided(bool log, const T* x, int64_t si, T* y, int64_t so, int64_t L,
                         MathConsts mc) {
  const T m = row_max(x, L, si);
  if (log) {
    const T lse = static_cast<T>(std::log(sum_exp(x, L, si, m, mc)));
    for (int64_t i = 0; i < L; ++i) y[i * so] = (x[i * si] - m) - lse;
  } else {
    const T inv = static_cast<T>(1.0 / sum_exp(x, L, si, m, mc));
    for (int64_t i = 0; i < L; ++i) y[i * so] = fexp(x[i * si] - m, mc) * inv;
  }
}

template <typename T>
void softmax_typed(bool log, const View& out, const View& in) {
  const View* const vs[2] = {&in, &out};
  const Rows<2> r = make_rows<2>(vs);
  const int64_t L = r.len, si = r.stride[0], so = r.stride[1];
  const MathConsts mc = math_consts();
  for_each_row(r, kHeavyGrain, [&](char* const* p) {
    const T* x = reinterpret_cast<const T*>(p[0]);
    T* y = reinterpret_cast<T*>(p[1]);
    if (si == 1 && so == 1) {
      softmax_row_unit(log, x, y, L, mc);
    } else {
      softmax_row_strided(log, x, si, y, so, L, mc);
    }
  });
}

// grad_in = g - exp(y) * sum(g) over one contiguous row.
template <typename T>
TG_SIMD_CLONES void log_softmax_backward_row_unit(T* gi, const T* g, const T* y, int64_t L,
                                                  MathConsts mc) {
  const T s = static_cast<T>(array_sum(g, L));
  for (int64_t i = 0; i < L; ++i) gi[i] = g[i] - fexp(y[i], mc) * s;
}

template <typename T>
void softmax_backward_typed(bool log, const View& grad_in, const View& grad_out, const View& out) {
  const View* const vs[3] = {&grad_in, &grad_out, &out};
  const Rows<3> r = make_rows<3>(vs);
  const int64_t L = r.len, sgi = r.stride[0], sg = r.stride[1], sy = r.stride[2];
  const bool unit = sgi == 1 && sg == 1 && sy == 1;
  const MathConsts mc = math_consts();
  for_each_row(r, log ? kHeavyGrain : kParallelGrain, [&](char* const* p) {
    T* gi = reinterpret_cast<T*>(p[0]);
    const T* g = reinterpret_cast<const T*>(p[1]);
    const T* y = reinterpret_cast<const T*>(p[2]);
    if (log) {
      // grad_in = g - exp(y) * sum(g)
      if (unit) {
        log_softmax_backward_row_unit(gi, g, y, L, mc);
        return;
      }
      double sum = 0.0;
      for (int64_t i = 0; i < L; ++i) sum += double(g[i * sg]);
      const T s = static_cast<T>(sum);
      for (int64_t i = 0; i < L; ++i) gi[i * sgi] = g[i * sg] - fexp(y[i * sy], mc) * s;
    } else {
      // grad_in = y * (g - sum(g * y))
      double sum = 0.0;
      if (unit) {
        sum = lane_sum(L, [&](int64_t i) { return double(g[i]) * double(y[i]); });
      } else {
        for (int64_t i = 0; i < L; ++i) sum += double(g[i * sg]) * double(y[i * sy]);
      }
      const T s = static_cast<T>(sum);
      if (unit) {
        for (int64_t i = 0; i < L; ++i) gi[i] = y[i] * (g[i] - s);
      } else {
        for (int64_t i = 0; i < L; ++i) gi[i * sgi] = y[i * sy] * (g[i * sg] - s);
      }
    }
  });
}


// ---- masked softmax: the softmax of the kept entries (mask true), 0 elsewhere.

template <typename T>
void fill_row_nan(T* y, int64_t so, int64_t L) {
  for (int64_t i = 0; i < L; ++i) y[i * so] = std::numeric_limits<T>::quiet_NaN();
}

// A contiguous row with a contiguous mask: the masked row (-inf where masked) written into the
// output, then the plain softmax in place. Exactly softmax(masked_fill(-inf)): a masked NaN
// does not matter, a kept NaN or a row without a kept entry gives a NaN row.
template <typename T>
TG_SIMD_CLONES void masked_softmax_row_unit(const T* x, const bool* keep, T* y, int64_t L,
                                            MathConsts mc) {
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  for (int64_t i = 0; i < L; ++i) y[i] = keep[i] ? x[i] : kNegInf;
  softmax_row_unit(false, y, y, L, mc);
}

template <typename T>
void masked_softmax_row_strided(const T* x, int64_t sx, const bool* keep, int64_t sk, T* y,
                                int64_t sy, int64_t L, MathConsts mc) {
  T m = -std::numeric_limits<T>::infinity();
  bool any = false;
  for (int64_t i = 0; i < L; ++i) {
    if (!keep[i * sk]) continue;
    any = true;
    const T v = x[i * sx];
    m = (v > m || v != v) ? v : m;
  }
  if (!any) return fill_row_nan(y, sy, L);
  double sum = 0.0;
  for (int64_t i = 0; i < L; ++i) {
    const T e = keep[i * sk] ? fexp(x[i * sx] - m, mc) : T(0);
    y[i * sy] = e;
    sum += double(e);
  }
  const T inv = static_cast<T>(1.0 / sum);
  for (int64_t i = 0; i < L; ++i) y[i * sy] *= inv;
}

template <typename T>
void masked_softmax_typed(const View& out, const View& in, const View& mask) {
  const View* const vs[3] = {&in, &mask, &out};
  const Rows<3> r = make_rows<3>(vs);
  const int64_t L = r.len, sx = r.stride[0], sk = r.stride[1], sy = r.stride[2];
  const MathConsts mc = math_consts();
  for_each_row(r, kHeavyGrain, [&](char* const* p) {
    const T* x = reinterpret_cast<const T*>(p[0]);
    const bool* keep = reinterpret_cast<const bool*>(p[1]);
    T* y = reinterpret_cast<T*>(p[2]);
    if (sk == 0) {  // one mask value for the whole row (a mask broadcast along it)
      if (!keep[0]) return fill_row_nan(y, sy, L);
      if (sx == 1 && sy == 1) return softmax_row_unit(false, x, y, L, mc);
      return softmax_row_strided(false, x, sx, y, sy, L, mc);
    }
    if (sx == 1 && sk == 1 && sy == 1) return masked_softmax_row_unit(x, keep, y, L, mc);
    masked_softmax_row_strided(x, sx, keep, sk, y, sy, L, mc);
  });
}

}  // namespace

void softmax(bool log, const View& out, const View& in) {
  if (out.dtype != in.dtype) unsupported("softmax with differing dtypes", out.dtype);
  switch (in.dtype) {
    case DType::Float32: return softmax_typed<float>(log, out, in);
    case DType::Float64: return softmax_typed<double>(log, out, in);
    default: break;
  }
  unsupported("softmax", in.dtype);
}

void softmax_backward(bool log, const View& grad_in, const View& grad_out, const View& out) {
  switch (grad_in.dtype) {
    case DType::Float32: return softmax_backward_typed<float>(log, grad_in, grad_out, out);
    case DType::Float64: return softmax_backward_typed<double>(log, grad_in, grad_out, out);
    default: break;
  }
  unsupported("softmax_backward", grad_in.dtype);
}

}  // namespace tg::kernels::cpu

namespace tg::kernels::cpu {

void masked_softmax(const View& out, const View& in, const View& mask) {
  if (out.dtype != in.dtype) unsupported("masked_softmax with differing dtypes", out.dtype);
  if (mask.dtype != DType::Bool) unsupported("masked_softmax mask", mask.dtype);
  switch (in.dtype) {
    case DType::Float32: return masked_softmax_typed<float>(out, in, mask);
    case DType::Float64: return masked_softmax_typed<double>(out, in, mask);
    default: break;
  }
  unsupported("masked_softmax", in.dtype);
}

}  // namespace tg::kernels::cpu

// ---- softmax cross-entropy over dense rows (CrossEntropyArgs in kernel_api.h): one pass for the
// row's log-sum-exp, then the target's term (and the smoothing sum); the backward is one pass
// writing p = exp((x - max) - log_sum) scaled, minus the constant terms.
namespace tg::kernels::cpu {
namespace {

template <typename T>
double weight_at(const T* w, int64_t j) {
  return w ? double(w[j]) : 1.0;
}

// A row's max and log(sum(exp(x - max))), compiled for AVX2 as well.
template <typename T>
TG_SIMD_CLONES void row_log_sum_exp(const T* x, int64_t n, MathConsts mc, T& max, double& log_sum) {
  max = row_max(x, n, 1);
  log_sum = std::log(sum_exp(x, n, 1, max, mc));
}

// g[j] = scale * exp((x[j] - max) - log_sum) - uniform * (w ? w[j] : 1), compiled for AVX2 as well.
template <typename T>
TG_SIMD_CLONES void cross_entropy_row_grad(const T* x, int64_t n, T max, T log_sum, T scale, T uniform,
                                           const T* w, MathConsts mc, T* g) {
  if (w) {
    for (int64_t j = 0; j < n; ++j) g[j] = scale * fexp((x[j] - max) - log_sum, mc) - uniform * w[j];
  } else {
    for (int64_t j = 0; j < n; ++j) g[j] = scale * fexp((x[j] - max) - log_sum, mc) - uniform;
  }
}

template <typename T>
void cross_entropy_typed(const CrossEntropyArgs& a, const T* x, const int64_t* target, T* loss, T* maxes,
                         T* log_sum, T* row_weight) {
  const int64_t C = a.cols;
  const T* w = static_cast<const T*>(a.weight);
  const double s = a.label_smoothing;
  const MathConsts mc = math_consts();
  parallel_range(a.rows, std::max<int64_t>(1, kHeavyGrain / C), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * C;
      T m;
      double ls;
      row_log_sum_exp(xr, C, mc, m, ls);
      const double l = double(m) + ls;
      maxes[r] = m;
      log_sum[r] = T(ls);
      const int64_t t = target[r];
      if (t == a.ignore_index) {
        loss[r] = T(0);
        row_weight[r] = T(0);
        continue;
      }
      const double wt = weight_at(w, t);
      double value = (1.0 - s) * wt * (l - double(xr[t]));
      if (s > 0.0) {
        double smooth = 0.0;
        for (int64_t j = 0; j < C; ++j) smooth += weight_at(w, j) * (l - double(xr[j]));
        value += s / double(C) * smooth;
      }
      loss[r] = T(value);
      row_weight[r] = T(wt);
    }
  });
}

template <typename T>
void cross_entropy_backward_typed(const CrossEntropyArgs& a, const T* x, const int64_t* target, const T* maxes,
                                  const T* log_sum, const T* grad_loss, T* grad_x) {
  const int64_t C = a.cols;
  const T* w = static_cast<const T*>(a.weight);
  const double s = a.label_smoothing;
  double weight_sum = double(C);
  if (w) {
    weight_sum = 0.0;
    for (int64_t j = 0; j < C; ++j) weight_sum += double(w[j]);
  }
  const MathConsts mc = math_consts();
  parallel_range(a.rows, std::max<int64_t>(1, kHeavyGrain / C), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * C;
      T* gr = grad_x + r * C;
      const int64_t t = target[r];
      if (t == a.ignore_index) {
        std::fill(gr, gr + C, T(0));
        continue;
      }
      const double g = double(grad_loss[r]), wt = weight_at(w, t);
      // grad[j] = scale * p[j] - uniform * w[j], and the target's -(1 - s) * w[t] * g.
      const T scale = T(g * ((1.0 - s) * wt + s / double(C) * weight_sum));
      const T uniform = T(g * s / double(C));
      cross_entropy_row_grad(xr, C, maxes[r], log_sum[r], scale, uniform, s > 0.0 ? w : nullptr, mc, gr);
      gr[t] -= T(g * (1.0 - s) * wt);
    }
  });
}

}  // namespace

IndexCheck cross_entropy_rows(const CrossEntropyArgs& a, const void* logits, const int64_t* target, void* loss,
                              void* row_max, void* log_sum, void* row_weight) {
  for (int64_t r = 0; r < a.rows; ++r) {
    const int64_t t = target[r];
    if (t != a.ignore_index && (t < 0 || t >= a.cols)) return {false, t};
  }
  dispatch_floating("cross_entropy_rows", a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    cross_entropy_typed<T>(a, static_cast<const T*>(logits), target, static_cast<T*>(loss),
                           static_cast<T*>(row_max), static_cast<T*>(log_sum), static_cast<T*>(row_weight));
  });
  return {};
}

void cross_entropy_rows_backward(const CrossEntropyArgs& a, const void* logits, const int64_t* target,
                                 const void* row_max, const void* log_sum, const void* grad_loss,
                                 void* grad_logits) {
  dispatch_floating("cross_entropy_rows_backward", a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    cross_entropy_backward_typed<T>(a, static_cast<const T*>(logits), target, static_cast<const T*>(row_max),
                                    static_cast<const T*>(log_sum), static_cast<const T*>(grad_loss),
                                    static_cast<T*>(grad_logits));
  });
}

}  // namespace tg::kernels::cpu
