// CUDA im2col / col2im (the semantics of kernels/cpu/conv.cpp; the contract is Im2colArgs in
// kernel_api.h). float32 and float64.
//
// im2col: one thread per (image, channel, output position) writes that position's column entry
// of every kernel offset (ky, kx): adjacent threads write adjacent column entries.
// col2im is a gather, not a scatter: one thread per image element adds the column entries that
// read it, in (ky, kx) order, which is the order the CPU adds them in. So it is deterministic, needs
// no atomics and gives the CPU's result bit for bit.
//
// Coordinates are divided in 32 bits when every value the arithmetic reaches fits (a 64-bit
// division is several times slower on the GPU); memory offsets are always 64-bit.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace tg::kernels::cuda {
namespace {

template <typename I>
struct Geom {
  I channels, in_h, in_w, out_h, out_w, kernel_h, kernel_w;
  I stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
};

template <typename I>
Geom<I> geom_of(const Im2colArgs& a) {
  const Window2d& w = a.win;
  return Geom<I>{I(a.channels), I(w.in_h),     I(w.in_w),     I(w.out_h),      I(w.out_w),
                 I(w.kernel_h), I(w.kernel_w), I(w.stride_h), I(w.stride_w),   I(w.pad_h),
                 I(w.pad_w),    I(w.dilation_h), I(w.dilation_w)};
}

// 32-bit coordinates when `items` and every coordinate sum stay below 2^30.
template <typename F>
void with_index_type(const Im2colArgs& a, int64_t items, F&& f) {
  const Window2d& w = a.win;
  const int64_t reach = std::max<int64_t>(
      {items, w.in_h * w.in_w, w.out_h * w.out_w, a.channels,
       w.out_h * w.stride_h + w.kernel_h * w.dilation_h + w.pad_h + w.in_h,
       w.out_w * w.stride_w + w.kernel_w * w.dilation_w + w.pad_w + w.in_w});
  if (reach < (int64_t(1) << 30)) {
    f(Tag<int32_t>{});
  } else {
    f(Tag<int64_t>{});
  }
}

// The outputs o in [lo, hi) whose window (first tap o * stride - pad, last tap `extent` further)
// spans the input coordinate i; `pos` = i + pad >= 0.
template <typename I>
struct Span {
  I lo, hi;
};

template <typename I>
__device__ inline Span<I> covering(I pos, I extent, I stride, I out) {
  const I first = pos - extent;
  const I lo = first <= 0 ? I(0) : (first + stride - 1) / stride;
  const I hi = pos / stride + 1;
  return {lo, hi < out ? hi : out};
}

template <typename T, typename I>
__global__ void im2col_kernel(Geom<I> g, I items, const T* __restrict__ image, int64_t image_n,
                              int64_t image_c, T* __restrict__ columns, int64_t col_row,
                              int64_t col_n) {
  const int64_t kk = int64_t(g.kernel_h) * g.kernel_w;
  for (I t = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); t < items;
       t += I(gridDim.x) * I(blockDim.x)) {
    I q = t;
    const I ox = q % g.out_w;
    q /= g.out_w;
    const I oy = q % g.out_h;
    q /= g.out_h;
    const I c = q % g.channels;
    const I n = q / g.channels;
    const T* plane = image + int64_t(n) * image_n + int64_t(c) * image_c;
    T* col = columns + int64_t(n) * col_n + int64_t(c) * kk * col_row + int64_t(oy) * g.out_w + ox;
    const I y0 = oy * g.stride_h - g.pad_h, x0 = ox * g.stride_w - g.pad_w;
    for (I ky = 0; ky < g.kernel_h; ++ky) {
      const I iy = y0 + ky * g.dilation_h;
      const bool row_inside = iy >= 0 && iy < g.in_h;
      for (I kx = 0; kx < g.kernel_w; ++kx) {
        const I ix = x0 + kx * g.dilation_w;
        const bool inside = row_inside && ix >= 0 && ix < g.in_w;
        *col = inside ? plane[iy * g.in_w + ix] : T(0);
        col += col_row;
      }
    }
  }
}

template <typename T, typename I>
__global__ void col2im_kernel(Geom<I> g, I items, T* __restrict__ image, int64_t image_n,
                              int64_t image_c, const T* __restrict__ columns, int64_t col_row,
                              int64_t col_n) {
  const int64_t kk = int64_t(g.kernel_h) * g.kernel_w;
  const I extent_h = (g.kernel_h - 1) * g.dilation_h, extent_w = (g.kernel_w - 1) * g.dilation_w;
  for (I t = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); t < items;
       t += I(gridDim.x) * I(blockDim.x)) {
    I q = t;
    const I ix = q % g.in_w;
    q /= g.in_w;
    const I iy = q % g.in_h;
    q /= g.in_h;
    const I c = q % g.channels;
    const I n = q / g.channels;
    T* px = image + int64_t(n) * image_n + int64_t(c) * image_c + (iy * g.in_w + ix);
    const T* col = columns + int64_t(n) * col_n + int64_t(c) * kk * col_row;
    const Span<I> sy = covering(iy + g.pad_h, extent_h, g.stride_h, g.out_h);
    const Span<I> sx = covering(ix + g.pad_w, extent_w, g.stride_w, g.out_w);
    T acc = *px;
    // Descending outputs = ascending kernel offsets (the CPU's order).
    for (I oy = sy.hi - 1; oy >= sy.lo; --oy) {
      const I ry = iy + g.pad_h - oy * g.stride_h;  // ky * dilation_h
      if (g.dilation_h != 1 && ry % g.dilation_h != 0) continue;
      const I ky = g.dilation_h == 1 ? ry : ry / g.dilation_h;
      for (I ox = sx.hi - 1; ox >= sx.lo; --ox) {
        const I rx = ix + g.pad_w - ox * g.stride_w;
        if (g.dilation_w != 1 && rx % g.dilation_w != 0) continue;
        const I kx = g.dilation_w == 1 ? rx : rx / g.dilation_w;
        acc += col[(int64_t(ky) * g.kernel_w + kx) * col_row + int64_t(oy) * g.out_w + ox];
      }
    }
    *px = acc;
  }
}

bool empty_im2col(const Im2colArgs& a) {
  return a.batch <= 0 || a.channels <= 0 || a.win.out_h <= 0 || a.win.out_w <= 0;
}

}  // namespace

void im2col(const Im2colArgs& a) {
  if (empty_im2col(a)) return;
  const int64_t items = a.batch * a.channels * a.win.out_h * a.win.out_w;
  dispatch_floating("im2col", a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    with_index_type(a, items, [&](auto itag) {
      using I = typename decltype(itag)::type;
      im2col_kernel<T, I><<<grid_for(items), kBlock, 0, stream()>>>(
          geom_of<I>(a), I(items), static_cast<const T*>(a.image), a.image_batch_stride,
          a.image_channel_stride, static_cast<T*>(a.columns), a.col_row_stride, a.col_batch_stride);
      check_launch("im2col");
    });
  });
}

void col2im(const Im2colArgs& a) {
  if (empty_im2col(a)) return;
  const int64_t items = a.batch * a.channels * a.win.in_h * a.win.in_w;
  if (items <= 0) return;
  dispatch_floating("col2im", a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    with_index_type(a, items, [&](auto itag) {
      using I = typename decltype(itag)::type;
      col2im_kernel<T, I><<<grid_for(items), kBlock, 0, stream()>>>(
          geom_of<I>(a), I(items), static_cast<T*>(a.image), a.image_batch_stride,
          a.image_channel_stride, static_cast<const T*>(a.columns), a.col_row_stride,
          a.col_batch_stride);
      check_launch("col2im");
    });
  });
}

}  // namespace tg::kernels::cuda
