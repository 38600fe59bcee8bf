// CPU 2-D pooling (max with argmax indices, average, adaptive average) and their backward. The
// window bounds of every output row and column are computed once per call into small tables
// (shared by all planes), so the per-plane loops only walk windows. Planes (batch * channels)
// are split over OpenMP threads; a backward writes whole input planes (zeros first, then sums),
// so threads never share an element. Float32 sums accumulate in double.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/scalar_math.h"
#include "kernels/cpu/strided_loop.h"

namespace tg::kernels::cpu {
namespace {

template <typename F>
void dispatch_float(DType t, const char* what, F&& f) {
  switch (t) {
    case DType::Float32: return f(Tag<float>{});
    case DType::Float64: return f(Tag<double>{});
    default: unsupported(what, t);
  }
}

// Bounds of the windows along one axis: window o covers [begin[o], end[o]) (in steps of `step`
// for max pooling), clipped to the input; `count` is the divisor's factor along this axis.
struct AxisTable {
  std::vector<int64_t> begin, end, count;
};

// Max pooling (PyTorch's rule): the dilated window's first valid tap and its end.
AxisTable max_axis(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t pad,
                   int64_t dilation) {
  AxisTable t;
  t.begin.resize(out);
  t.end.resize(out);
  for (int64_t o = 0; o < out; ++o) {
    int64_t b = o * stride - pad;
    const int64_t e = std::min(b + (kernel - 1) * dilation + 1, in);
    if (b < 0) b += (-b + dilation - 1) / dilation * dilation;
    t.begin[o] = b;
    t.end[o] = std::max(e, b);
  }
  return t;
}

// Average pooling: the window clipped to the padded input gives the count_include_pad divisor,
// then clipped to the input gives the summed range.
AxisTable avg_axis(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t pad,
                   bool include_pad) {
  AxisTable t;
  t.begin.resize(out);
  t.end.resize(out);
  t.count.resize(out);
  for (int64_t o = 0; o < out; ++o) {
    int64_t b = o * stride - pad;
    int64_t e = std::min(b + kernel, in + pad);
    const int64_t padded = e - b;
    b = std::max<int64_t>(b, 0);
    e = std::min(e, in);
    t.begin[o] = b;
    t.end[o] = std::max(e, b);
    t.count[o] = include_pad ? padded : t.end[o] - b;
  }
  return t;
}

// Adaptive pooling: output o covers [floor(o * in / out), ceil((o + 1) * in / out)).
AxisTable adaptive_axis(int64_t in, int64_t out) {
  AxisTable t;
  t.begin.resize(out);
  t.end.resize(out);
  t.count.resize(out);
  for (int64_t o = 0; o < out; ++o) {
    t.begin[o] = (o / out) * in + ((o % out) * in) / out;
    t.end[o] = 1 + ((o + 1) * in - 1) / out;
    t.count[o] = t.end[o] - t.begin[o];
  }
  return t;
}

template <typename T>
using Acc = double;

// ---------------------------------------------------------------- max

template <typename T>
void max_forward(const Pool2dArgs& a, const T* in, T* out, int64_t* indices) {
  const Window2d& w = a.win;
  const AxisTable ty = max_axis(w.in_h, w.out_h, w.kernel_h, w.stride_h, w.pad_h, w.dilation_h);
  const AxisTable tx = max_axis(w.in_w, w.out_w, w.kernel_w, w.stride_w, w.pad_w, w.dilation_w);
  const int64_t in_plane = w.in_h * w.in_w, out_plane = w.out_h * w.out_w;
  const int64_t dh = w.dilation_h, dw = w.dilation_w, W = w.in_w;
  parallel_items(a.planes, out_plane * w.kernel_h * w.kernel_w, [&](int64_t p) {
    const T* x = in + p * in_plane;
    T* y = out + p * out_plane;
    int64_t* idx = indices + p * out_plane;
    for (int64_t oy = 0; oy < w.out_h; ++oy) {
      const int64_t y0 = ty.begin[oy], y1 = ty.end[oy];
      for (int64_t ox = 0; ox < w.out_w; ++ox) {
        const int64_t x0 = tx.begin[ox], x1 = tx.end[ox];
        int64_t best = y0 * W + x0;
        T m = -std::numeric_limits<T>::infinity();
        // The common 2x2 window, wholly inside the input: its four taps in the same order as
        // the loop below, without the loop's overhead (which dominated a window this small).
        const bool full_2x2 = y1 - y0 == 2 && x1 - x0 == 2 && dh == 1 && dw == 1 &&
                              w.kernel_h == 2 && w.kernel_w == 2;
        if (full_2x2) {
          const T* r0 = x + best;
          for (const int64_t offset : {int64_t(0), int64_t(1), W, W + 1}) {
            const T v = r0[offset];
            const bool take = (v > m) | (v != v);
            m = blend(take, v, m);
            best = take ? y0 * W + x0 + offset : best;
          }
        }
        for (int64_t iy = full_2x2 ? y1 : y0; iy < y1; iy += dh) {
          const T* row = x + iy * W;
          for (int64_t ix = x0; ix < x1; ix += dw) {
            // Branch-free (PyTorch's rule: a larger value or a NaN takes over): on activations
            // `v > m` is a coin flip, and the mispredicted branch made this loop 1.6x slower.
            const T v = row[ix];
            const bool take = (v > m) | (v != v);
            m = blend(take, v, m);
            best = take ? iy * W + ix : best;
          }
        }
        y[oy * w.out_w + ox] = m;
        idx[oy * w.out_w + ox] = best;
      }
    }
  });
}

template <typename T>
void max_backward(const Pool2dArgs& a, const T* grad_out, const int64_t* indices, T* grad_in) {
  const Window2d& w = a.win;
  const int64_t in_plane = w.in_h * w.in_w, out_plane = w.out_h * w.out_w;
  parallel_items(a.planes, in_plane + out_plane, [&](int64_t p) {
    T* gi = grad_in + p * in_plane;
    const T* go = grad_out + p * out_plane;
    const int64_t* idx = indices + p * out_plane;
    std::fill(gi, gi + in_plane, T(0));
    for (int64_t o = 0; o < out_plane; ++o) gi[idx[o]] += go[o];
  });
}

// ---------------------------------------------------------------- average (fixed or adaptive)

// out[o] = sum of the window / divisor, with the windows of the tables.
template <typename T>
void avg_forward(const Pool2dArgs& a, const AxisTable& ty, const AxisTable& tx, const T* in,
                 T* out) {
  const Window2d& w = a.win;
  const int64_t in_plane = w.in_h * w.in_w, out_plane = w.out_h * w.out_w, W = w.in_w;
  parallel_items(a.planes, in_plane + out_plane * 4, [&](int64_t p) {
    const T* x = in + p * in_plane;
    T* y = out + p * out_plane;
    for (int64_t oy = 0; oy < w.out_h; ++oy) {
      const int64_t y0 = ty.begin[oy], y1 = ty.end[oy];
      for (int64_t ox = 0; ox < w.out_w; ++ox) {
        const int64_t x0 = tx.begin[ox], x1 = tx.end[ox];
        if (y0 >= y1 || x0 >= x1) {
          y[oy * w.out_w + ox] = T(0);
          continue;
        }
        Acc<T> s = 0;
        for (int64_t iy = y0; iy < y1; ++iy) {
          const T* row = x + iy * W;
          for (int64_t ix = x0; ix < x1; ++ix) s += row[ix];
        }
        const int64_t div = a.divisor_override != 0 ? a.divisor_override : ty.count[oy] * tx.count[ox];
        y[oy * w.out_w + ox] = static_cast<T>(s / static_cast<Acc<T>>(div));
      }
    }
  });
}

template <typename T>
void avg_backward(const Pool2dArgs& a, const AxisTable& ty, const AxisTable& tx, const T* grad_out,
                  T* grad_in) {
  const Window2d& w = a.win;
  const int64_t in_plane = w.in_h * w.in_w, out_plane = w.out_h * w.out_w, W = w.in_w;
  parallel_items(a.planes, in_plane + out_plane * 4, [&](int64_t p) {
    T* gi = grad_in + p * in_plane;
    const T* go = grad_out + p * out_plane;
    std::fill(gi, gi + in_plane, T(0));
    for (int64_t oy = 0; oy < w.out_h; ++oy) {
      const int64_t y0 = ty.begin[oy], y1 = ty.end[oy];
      for (int64_t ox = 0; ox < w.out_w; ++ox) {
        const int64_t x0 = tx.begin[ox], x1 = tx.end[ox];
        if (y0 >= y1 || x0 >= x1) continue;
        const int64_t div = a.divisor_override != 0 ? a.divisor_override : ty.count[oy] * tx.count[ox];
        const T g = static_cast<T>(static_cast<Acc<T>>(go[oy * w.out_w + ox]) / static_cast<Acc<T>>(div));
        for (int64_t iy = y0; iy < y1; ++iy) {
          T* row = gi + iy * W;
          for (int64_t ix = x0; ix < x1; ++ix) row[ix] += g;
        }
      }
    }
  });
}

bool empty_pool(const Pool2dArgs& a) {
  return a.planes <= 0 || a.win.out_h <= 0 || a.win.out_w <= 0;
}

// A backward with no output positions still owes zeros to grad_in.
template <typename T>
void zero_planes(const Pool2dArgs& a, T* grad_in) {
  const int64_t n = a.planes * a.win.in_h * a.win.in_w;
  if (n > 0) std::fill(grad_in, grad_in + n, T(0));
}

}  // namespace

void max_pool2d(const Pool2dArgs& a, const void* in, void* out, int64_t* indices) {
  if (empty_pool(a)) return;
  dispatch_float(a.dtype, "max_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    max_forward<T>(a, static_cast<const T*>(in), static_cast<T*>(out), indices);
  });
}

void max_pool2d_backward(const Pool2dArgs& a, const void* grad_out, const int64_t* indices,
                         void* grad_in) {
  dispatch_float(a.dtype, "max_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (empty_pool(a)) return zero_planes<T>(a, static_cast<T*>(grad_in));
    max_backward<T>(a, static_cast<const T*>(grad_out), indices, static_cast<T*>(grad_in));
  });
}

void avg_pool2d(const Pool2dArgs& a, const void* in, void* out) {
  if (empty_pool(a)) return;
  const Window2d& w = a.win;
  const AxisTable ty = avg_axis(w.in_h, w.out_h, w.kernel_h, w.stride_h, w.pad_h, a.count_include_pad);
  const AxisTable tx = avg_axis(w.in_w, w.out_w, w.kernel_w, w.stride_w, w.pad_w, a.count_include_pad);
  dispatch_float(a.dtype, "avg_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    avg_forward<T>(a, ty, tx, static_cast<const T*>(in), static_cast<T*>(out));
  });
}

void avg_pool2d_backward(const Pool2dArgs& a, const void* grad_out, void* grad_in) {
  const Window2d& w = a.win;
  dispatch_float(a.dtype, "avg_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (empty_pool(a)) return zero_planes<T>(a, static_cast<T*>(grad_in));
    const AxisTable ty = avg_axis(w.in_h, w.out_h, w.kernel_h, w.stride_h, w.pad_h, a.count_include_pad);
    const AxisTable tx = avg_axis(w.in_w, w.out_w, w.kernel_w, w.stride_w, w.pad_w, a.count_include_pad);
    avg_backward<T>(a, ty, tx, static_cast<const T*>(grad_out), static_cast<T*>(grad_in));
  });
}

void adaptive_avg_pool2d(const Pool2dArgs& a, const void* in, void* out) {
  if (empty_pool(a)) return;
  const AxisTable ty = adaptive_axis(a.win.in_h, a.win.out_h);
  const AxisTable tx = adaptive_axis(a.win.in_w, a.win.out_w);
  Pool2dArgs plain = a;
  plain.divisor_override = 0;
  dispatch_float(a.dtype, "adaptive_avg_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    avg_forward<T>(plain, ty, tx, static_cast<const T*>(in), static_cast<T*>(out));
  });
}

void adaptive_avg_pool2d_backward(const Pool2dArgs& a, const void* grad_out, void* grad_in) {
  Pool2dArgs plain = a;
  plain.divisor_override = 0;
  dispatch_float(a.dtype, "adaptive_avg_pool2d_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (empty_pool(a)) return zero_planes<T>(a, static_cast<T*>(grad_in));
    const AxisTable ty = adaptive_axis(a.win.in_h, a.win.out_h);
    const AxisTable tx = adaptive_axis(a.win.in_w, a.win.out_w);
    avg_backward<T>(plain, ty, tx, static_cast<const T*>(grad_out), static_cast<T*>(grad_in));
  });
}

}  // namespace tg::kernels::cpu
