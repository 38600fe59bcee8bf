// CUDA 2-D pooling (the semantics of kernels/cpu/pool.cpp; the contract is Pool2dArgs in
// kernel_api.h): max with int64 argmax indices, average, adaptive average, and their backward.
// float32 and float64; sums of float32 accumulate in double, as on the CPU.
//
// Forward: one thread per output, walking its window in the CPU's order (so the result is the
// CPU's bit for bit); or, for large windows with few outputs (global pooling), one warp per
// output: lanes take interleaved taps and combine. The max combination orders (value, position)
// so that the result is still the CPU's (a NaN wins, the last NaN of the window; otherwise the
// first maximum); the average then sums in another order.
// Backward: a gather, not a scatter: one thread per input element sums, over the windows that
// cover it in increasing output order, what the CPU adds there in that same order. No atomics,
// deterministic, and equal to the CPU bit for bit.
//
// Coordinates are divided in 32 bits when every value the arithmetic reaches fits (a 64-bit
// division is several times slower on the GPU); memory offsets are always 64-bit.
#include <cuda_runtime.h>
#include <math_constants.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <type_traits>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace tg::kernels::cuda {
namespace {

template <typename I>
struct Geom {
  I in_h, in_w, out_h, out_w, kernel_h, kernel_w;
  I stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
};

template <typename I>
Geom<I> geom_of(const Window2d& w) {
  return Geom<I>{I(w.in_h),     I(w.in_w),     I(w.out_h), I(w.out_w),      I(w.kernel_h),
                 I(w.kernel_w), I(w.stride_h), I(w.stride_w), I(w.pad_h),   I(w.pad_w),
                 I(w.dilation_h), I(w.dilation_w)};
}

// Average pooling's divisor rule (adaptive pooling: include_pad unused, divisor 0).
struct Divisor {
  bool include_pad;
  int64_t override_value;
};

// 32-bit coordinates when every element count, coordinate sum and adaptive product is below 2^30.
template <typename F>
void with_index_type(const Pool2dArgs& a, F&& f) {
  const Window2d& w = a.win;
  const int64_t reach = std::max<int64_t>(
      {a.planes * w.in_h * w.in_w, a.planes * w.out_h * w.out_w,
       w.out_h * w.stride_h + w.kernel_h * w.dilation_h + w.pad_h + w.in_h,
       w.out_w * w.stride_w + w.kernel_w * w.dilation_w + w.pad_w + w.in_w,
       w.in_h * w.out_h + w.in_h + w.out_h, w.in_w * w.out_w + w.in_w + w.out_w});
  if (reach < (int64_t(1) << 30)) {
    f(Tag<int32_t>{});
  } else {
    f(Tag<int64_t>{});
  }
}

template <typename T>
__device__ inline T neg_inf() {
  if constexpr (std::is_same_v<T, float>) {
    return -CUDART_INF_F;
  } else {
    return -CUDART_INF;
  }
}

template <typename I>
__device__ inline I imin(I a, I b) {
  return a < b ? a : b;
}
template <typename I>
__device__ inline I imax(I a, I b) {
  return a > b ? a : b;
}

// ---- windows along one axis: [lo, hi), and the divisor's factor `count` for averages

template <typename I>
struct Win {
  I lo, hi;
  int64_t count;
};

// Max pooling (the CPU's max_axis): the first tap inside the input, in steps of the dilation.
template <typename I>
__device__ inline Win<I> max_window(I o, I in, I kernel, I stride, I pad, I dilation) {
  I b = o * stride - pad;
  const I e = imin(b + (kernel - 1) * dilation + 1, in);
  if (b < 0) b += (-b + dilation - 1) / dilation * dilation;
  return {b, imax(e, b), 0};
}

// Average pooling (the CPU's avg_axis): clipped to the padded input for the count_include_pad
// divisor, then to the input for the sum.
template <typename I>
__device__ inline Win<I> avg_window(I o, I in, I kernel, I stride, I pad, bool include_pad) {
  I b = o * stride - pad;
  I e = imin(b + kernel, in + pad);
  const I padded = e - b;
  b = imax(b, I(0));
  e = imax(imin(e, in), b);
  return {b, e, include_pad ? int64_t(padded) : int64_t(e - b)};
}

// Adaptive pooling: [floor(o * in / out), ceil((o + 1) * in / out)); the clip to `in` only acts
// on an empty input (where the CPU's window would read past it).
template <typename I>
__device__ inline Win<I> adaptive_window(I o, I in, I out) {
  const I b = o * in / out;
  const I e = imin(I(1) + ((o + 1) * in - 1) / out, in);
  return {b, e, int64_t(e - b)};
}

template <bool kAdaptive, typename I>
__device__ inline Win<I> avg_row(const Geom<I>& g, const Divisor& d, I oy) {
  if constexpr (kAdaptive) {
    return adaptive_window(oy, g.in_h, g.out_h);
  } else {
    return avg_window(oy, g.in_h, g.kernel_h, g.stride_h, g.pad_h, d.include_pad);
  }
}
template <bool kAdaptive, typename I>
__device__ inline Win<I> avg_col(const Geom<I>& g, const Divisor& d, I ox) {
  if constexpr (kAdaptive) {
    return adaptive_window(ox, g.in_w, g.out_w);
  } else {
    return avg_window(ox, g.in_w, g.kernel_w, g.stride_w, g.pad_w, d.include_pad);
  }
}

// ---- the inverse: which outputs' windows cover input coordinate i, as [lo, hi)

template <typename I>
struct Span {
  I lo, hi;
};

// Windows whose first tap is o * stride - pad and last tap `extent` further; pos = i + pad >= 0.
template <typename I>
__device__ inline Span<I> covering(I pos, I extent, I stride, I out) {
  const I first = pos - extent;
  const I lo = first <= 0 ? I(0) : (first + stride - 1) / stride;
  return {lo, imin(pos / stride + 1, out)};
}

// Adaptive windows: begin(o) <= i  <=>  o <= ((i + 1) * out - 1) / in, and
// end(o) > i  <=>  o >= i * out / in.
template <typename I>
__device__ inline Span<I> adaptive_covering(I i, I in, I out) {
  return {i * out / in, ((i + 1) * out - 1) / in + 1};
}

// ---- grid-stride helpers

template <typename I>
__device__ inline I thread_index() {
  return I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x);
}
template <typename I>
__device__ inline I thread_count() {
  return I(gridDim.x) * I(blockDim.x);
}

// Calls f(ty, tx) on lane `lane`'s share of an ny x nx grid of taps: those whose row-major rank
// is lane mod 32, in increasing rank.
template <typename I, typename F>
__device__ inline void lane_taps(I ny, I nx, int lane, F&& f) {
  if (nx <= 0) return;
  const I dy = 32 / nx, dx = 32 % nx;
  I ty = I(lane) / nx, tx = I(lane) % nx;
  while (ty < ny) {
    f(ty, tx);
    tx += dx;
    ty += dy;
    if (tx >= nx) {
      tx -= nx;
      ++ty;
    }
  }
}

// ---- max

// Whether (v, i) beats (m, b) in the CPU's scan: a NaN beats a number, the later NaN beats an
// earlier one; among numbers the larger, then the earlier, wins.
template <typename T>
__device__ inline bool beats(T v, int64_t i, T m, int64_t b) {
  if (m != m) return v != v && i > b;
  if (v != v) return true;
  return v > m || (v == m && i < b);
}

template <typename T, typename I>
__global__ void max_pool_kernel(Geom<I> g, I items, const T* __restrict__ in, T* __restrict__ out,
                                int64_t* __restrict__ indices) {
  const int64_t plane = int64_t(g.in_h) * g.in_w;
  for (I t = thread_index<I>(); t < items; t += thread_count<I>()) {
    const I ox = t % g.out_w;
    const I q = t / g.out_w;
    const I oy = q % g.out_h, p = q / g.out_h;
    const Win<I> wy = max_window(oy, g.in_h, g.kernel_h, g.stride_h, g.pad_h, g.dilation_h);
    const Win<I> wx = max_window(ox, g.in_w, g.kernel_w, g.stride_w, g.pad_w, g.dilation_w);
    const T* x = in + int64_t(p) * plane;
    T m = neg_inf<T>();
    int64_t best = int64_t(wy.lo) * g.in_w + wx.lo;
    for (I iy = wy.lo; iy < wy.hi; iy += g.dilation_h) {
      const T* row = x + iy * g.in_w;
      for (I ix = wx.lo; ix < wx.hi; ix += g.dilation_w) {
        const T v = row[ix];
        if (v > m || v != v) {
          m = v;
          best = int64_t(iy) * g.in_w + ix;
        }
      }
    }
    out[t] = m;
    indices[t] = best;
  }
}

template <typename T, typename I>
__global__ void max_pool_warp_kernel(Geom<I> g, I items, const T* __restrict__ in,
                                     T* __restrict__ out, int64_t* __restrict__ indices) {
  const int64_t plane = int64_t(g.in_h) * g.in_w;
  const int lane = threadIdx.x & 31;
  for (I t = thread_index<I>() / 32; t < items; t += thread_count<I>() / 32) {
    const I ox = t % g.out_w;
    const I q = t / g.out_w;
    const I oy = q % g.out_h, p = q / g.out_h;
    const Win<I> wy = max_window(oy, g.in_h, g.kernel_h, g.stride_h, g.pad_h, g.dilation_h);
    const Win<I> wx = max_window(ox, g.in_w, g.kernel_w, g.stride_w, g.pad_w, g.dilation_w);
    const I ny = (wy.hi - wy.lo + g.dilation_h - 1) / g.dilation_h;
    const I nx = (wx.hi - wx.lo + g.dilation_w - 1) / g.dilation_w;
    const T* x = in + int64_t(p) * plane;
    // Every lane starts from the CPU's initial state: it loses to any real tap but ties at -inf.
    T m = neg_inf<T>();
    int64_t best = int64_t(wy.lo) * g.in_w + wx.lo;
    lane_taps(ny, nx, lane, [&](I ty, I tx) {
      const I iy = wy.lo + ty * g.dilation_h, ix = wx.lo + tx * g.dilation_w;
      const T v = x[iy * g.in_w + ix];
      if (v > m || v != v) {
        m = v;
        best = int64_t(iy) * g.in_w + ix;
      }
    });
    for (int o = 16; o > 0; o >>= 1) {
      const T om = __shfl_xor_sync(0xffffffffu, m, o);
      const int64_t ob = __shfl_xor_sync(0xffffffffu, best, o);
      if (beats(om, ob, m, best)) {
        m = om;
        best = ob;
      }
    }
    if (lane == 0) {
      out[t] = m;
      indices[t] = best;
    }
  }
}

// grad_in[pos] = the sum, in output order, of grad_out over the windows whose saved index is pos.
// Only windows that have pos among their taps are read: a window's index is always one of them.
template <typename T, typename I>
__global__ void max_pool_backward_kernel(Geom<I> g, I items, const T* __restrict__ grad_out,
                                         const int64_t* __restrict__ indices,
                                         T* __restrict__ grad_in) {
  const int64_t out_plane = int64_t(g.out_h) * g.out_w;
  const I extent_h = (g.kernel_h - 1) * g.dilation_h, extent_w = (g.kernel_w - 1) * g.dilation_w;
  for (I t = thread_index<I>(); t < items; t += thread_count<I>()) {
    const I ix = t % g.in_w;
    const I q = t / g.in_w;
    const I iy = q % g.in_h, p = q / g.in_h;
    const Span<I> sy = covering(iy + g.pad_h, extent_h, g.stride_h, g.out_h);
    const Span<I> sx = covering(ix + g.pad_w, extent_w, g.stride_w, g.out_w);
    const int64_t pos = int64_t(iy) * g.in_w + ix;
    const int64_t* idx = indices + int64_t(p) * out_plane;
    const T* go = grad_out + int64_t(p) * out_plane;
    T acc = T(0);
    for (I oy = sy.lo; oy < sy.hi; ++oy) {
      if (g.dilation_h != 1 && (iy + g.pad_h - oy * g.stride_h) % g.dilation_h != 0) continue;
      for (I ox = sx.lo; ox < sx.hi; ++ox) {
        if (g.dilation_w != 1 && (ix + g.pad_w - ox * g.stride_w) % g.dilation_w != 0) continue;
        const int64_t o = int64_t(oy) * g.out_w + ox;
        if (idx[o] == pos) acc += go[o];
      }
    }
    grad_in[t] = acc;
  }
}

// ---- average (fixed or adaptive windows)

template <typename T, typename I, bool kAdaptive>
__global__ void avg_pool_kernel(Geom<I> g, Divisor d, I items, const T* __restrict__ in,
                                T* __restrict__ out) {
  const int64_t plane = int64_t(g.in_h) * g.in_w;
  for (I t = thread_index<I>(); t < items; t += thread_count<I>()) {
    const I ox = t % g.out_w;
    const I q = t / g.out_w;
    const I oy = q % g.out_h, p = q / g.out_h;
    const Win<I> wy = avg_row<kAdaptive>(g, d, oy), wx = avg_col<kAdaptive>(g, d, ox);
    T r = T(0);
    if (wy.lo < wy.hi && wx.lo < wx.hi) {
      const T* x = in + int64_t(p) * plane;
      double s = 0;
      for (I iy = wy.lo; iy < wy.hi; ++iy) {
        const T* row = x + iy * g.in_w;
        for (I ix = wx.lo; ix < wx.hi; ++ix) s += double(row[ix]);
      }
      const int64_t div = d.override_value != 0 ? d.override_value : wy.count * wx.count;
      r = static_cast<T>(s / double(div));
    }
    out[t] = r;
  }
}

template <typename T, typename I, bool kAdaptive>
__global__ void avg_pool_warp_kernel(Geom<I> g, Divisor d, I items, const T* __restrict__ in,
                                     T* __restrict__ out) {
  const int64_t plane = int64_t(g.in_h) * g.in_w;
  const int lane = threadIdx.x & 31;
  for (I t = thread_index<I>() / 32; t < items; t += thread_count<I>() / 32) {
    const I ox = t % g.out_w;
    const I q = t / g.out_w;
    const I oy = q % g.out_h, p = q / g.out_h;
    const Win<I> wy = avg_row<kAdaptive>(g, d, oy), wx = avg_col<kAdaptive>(g, d, ox);
    const T* x = in + int64_t(p) * plane;
    double s = 0;
    lane_taps(wy.hi - wy.lo, wx.hi - wx.lo, lane,
              [&](I ty, I tx) { s += double(x[(wy.lo + ty) * g.in_w + (wx.lo + tx)]); });
    s = warp_reduce(s, [](double a, double b) { return a + b; });
    if (lane == 0) {
      T r = T(0);
      if (wy.lo < wy.hi && wx.lo < wx.hi) {
        const int64_t div = d.override_value != 0 ? d.override_value : wy.count * wx.count;
        r = static_cast<T>(s / double(div));
      }
      out[t] = r;
    }
  }
}

// grad_in = the sum, in output order, of grad_out / divisor over the windows that contain it.
template <typename T, typename I, bool kAdaptive>
__global__ void avg_pool_backward_kernel(Geom<I> g, Divisor d, I items,
                                         const T* __restrict__ grad_out, T* __restrict__ grad_in) {
  const int64_t out_plane = int64_t(g.out_h) * g.out_w;
  for (I t = thread_index<I>(); t < items; t += thread_count<I>()) {
    const I ix = t % g.in_w;
    const I q = t / g.in_w;
    const I iy = q % g.in_h, p = q / g.in_h;
    Span<I> sy, sx;
    if constexpr (kAdaptive) {
      sy = adaptive_covering(iy, g.in_h, g.out_h);
      sx = adaptive_covering(ix, g.in_w, g.out_w);
    } else {
      sy = covering(iy + g.pad_h, g.kernel_h - 1, g.stride_h, g.out_h);
      sx = covering(ix + g.pad_w, g.kernel_w - 1, g.stride_w, g.out_w);
    }
    const T* go = grad_out + int64_t(p) * out_plane;
    T acc = T(0);
    for (I oy = sy.lo; oy < sy.hi; ++oy) {
      const Win<I> wy = avg_row<kAdaptive>(g, d, oy);
      for (I ox = sx.lo; ox < sx.hi; ++ox) {
        const Win<I> wx = avg_col<kAdaptive>(g, d, ox);
        const int64_t div = d.override_value != 0 ? d.override_value : wy.count * wx.count;
        acc += static_cast<T>(double(go[int64_t(oy) * g.out_w + ox]) / double(div));
      }
    }
    grad_in[t] = acc;
  }
}

// ---- host side

bool empty_pool(const Pool2dArgs& a) {
  return a.planes <= 0 || a.win.out_h <= 0 || a.win.out_w <= 0;
}

int64_t input_items(const Pool2dArgs& a) { return a.planes * a.win.in_h * a.win.in_w; }
int64_t output_items(const Pool2dArgs& a) { return a.planes * a.win.out_h * a.win.out_w; }

// One warp per output for large windows unless the outputs alone fill the GPU.
bool warp_per_output(int64_t window_area, int64_t outputs) {
  return window_area >= 32 && (window_area >= 512 || outputs < (int64_t(1) << 18));
}

// A backward with no output positions still owes zeros to grad_in.
template <typename T>
void zero_input_grad(const Pool2dArgs& a, void* grad_in) {
  const int64_t n = input_items(a);
  if (n > 0)
    check(cudaMemsetAsync(grad_in, 0, static_cast<size_t>(n) * sizeof(T), stream()),
          "cudaMemsetAsync");
}

template <bool kAdaptive>
void avg_forward(const char* name, const Pool2dArgs& a, const void* in, void* out) {
  if (empty_pool(a)) return;
  const Window2d& w = a.win;
  const int64_t items = output_items(a);
  const int64_t area = kAdaptive ? (w.in_h / w.out_h + 2) * (w.in_w / w.out_w + 2)
                                 : w.kernel_h * w.kernel_w;
  const Divisor d{a.count_include_pad, kAdaptive ? 0 : a.divisor_override};
  dispatch_floating(name, a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    with_index_type(a, [&](auto itag) {
      using I = typename decltype(itag)::type;
      const T* x = static_cast<const T*>(in);
      T* y = static_cast<T*>(out);
      if (warp_per_output(area, items)) {
        avg_pool_warp_kernel<T, I, kAdaptive>
            <<<grid_for(items, kBlock / 32), kBlock, 0, stream()>>>(geom_of<I>(w), d, I(items), x, y);
      } else {
        avg_pool_kernel<T, I, kAdaptive>
            <<<grid_for(items), kBlock, 0, stream()>>>(geom_of<I>(w), d, I(items), x, y);
      }
      check_launch(name);
    });
  });
}

template <bool kAdaptive>
void avg_backward(const char* name, const Pool2dArgs& a, const void* grad_out, void* grad_in) {
  dispatch_floating(name, a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (empty_pool(a)) return zero_input_grad<T>(a, grad_in);
    const int64_t items = input_items(a);
    if (items <= 0) return;
    const Divisor d{a.count_include_pad, kAdaptive ? 0 : a.divisor_override};
    with_index_type(a, [&](auto itag) {
      using I = typename decltype(itag)::type;
      avg_pool_backward_kernel<T, I, kAdaptive><<<grid_for(items), kBlock, 0, stream()>>>(
          geom_of<I>(a.win), d, I(items), static_cast<const T*>(grad_out), static_cast<T*>(grad_in));
      check_launch(name);
    });
  });
}

}  // namespace

void max_pool2d(const Pool2dArgs& a, const void* in, void* out, int64_t* indices) {
  if (empty_pool(a)) return;
  const int64_t items = output_items(a);
  dispatch_floating("max_pool2d", a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    with_index_type(a, [&](auto itag) {
      using I = typename decltype(itag)::type;
      const T* x = static_cast<const T*>(in);
      T* y = static_cast<T*>(out);
      if (warp_per_output(a.win.kernel_h * a.win.kernel_w, items)) {
        max_pool_warp_kernel<T, I><<<grid_for(items, kBlock / 32), kBlock, 0, stream()>>>(
            geom_of<I>(a.win), I(items), x, y, indices);
      } else {
        max_pool_kernel<T, I><<<grid_for(items), kBlock, 0, stream()>>>(geom_of<I>(a.win), I(items),
                                                                          x, y, indices);
      }
      check_launch("max_pool2d");
    });
  });
}

void max_pool2d_backward(const Pool2dArgs& a, const void* grad_out, const int64_t* indices,
                         void* grad_in) {
  dispatch_floating("max_pool2d_backward", a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (empty_pool(a)) return zero_input_grad<T>(a, grad_in);
    const int64_t items = input_items(a);
    if (items <= 0) return;
    with_index_type(a, [&](auto itag) {
      using I = typename decltype(itag)::type;
      max_pool_backward_kernel<T, I><<<grid_for(items), kBlock, 0, stream()>>>(
          geom_of<I>(a.win), I(items), static_cast<const T*>(grad_out), indices,
          static_cast<T*>(grad_in));
      check_launch("max_pool2d_backward");
    });
  });
}

void avg_pool2d(const Pool2dArgs& a, const void* in, void* out) {
  avg_forward<false>("avg_pool2d", a, in, out);
}

void avg_pool2d_backward(const Pool2dArgs& a, const void* grad_out, void* grad_in) {
  avg_backward<false>("avg_pool2d_backward", a, grad_out, grad_in);
}

void adaptive_avg_pool2d(const Pool2dArgs& a, const void* in, void* out) {
  avg_forward<true>("adaptive_avg_pool2d", a, in, out);
}

void adaptive_avg_pool2d_backward(const Pool2dArgs& a, const void* grad_out, void* grad_in) {
  avg_backward<true>("adaptive_avg_pool2d_backward", a, grad_out, grad_in);
}

}  // namespace tg::kernels::cuda
