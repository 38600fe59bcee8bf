// CPU im2col / col2im: the data movement of convolution (the arithmetic is a GEMM, done by the
// caller through the gemm entry). One work item is one (image, channel) plane; items are split
// over OpenMP threads. For each kernel offset (ky, kx) the output rows and columns whose window
// position falls inside the image are computed once (valid_range), so the inner loops are plain
// copies (memcpy when stride_w == 1) and fills of the padding, with no per-element bounds tests.
#include <algorithm>
#include <cstring>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/strided_loop.h"

namespace tg::kernels::cpu {
namespace {

// The output positions o in [lo, hi) (within [0, out)) whose input coordinate
// o * stride + offset lies inside [0, size).
struct Range {
  int64_t lo = 0, hi = 0;
};

inline Range valid_range(int64_t offset, int64_t stride, int64_t size, int64_t out) {
  int64_t lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  int64_t hi = size - 1 - offset < 0 ? 0 : (size - 1 - offset) / stride + 1;
  lo = std::min(lo, out);
  hi = std::clamp(hi, lo, out);
  return {lo, hi};
}

// One plane: rows (ky, kx) of `col` (row stride `row_stride`) = the plane's values under that
// kernel offset at every output position, zeros where the window lies in the padding.
template <typename T>
void im2col_plane(const Window2d& w, const T* __restrict img, T* __restrict col,
                  int64_t row_stride) {
  const int64_t ow = w.out_w, L = w.out_h * w.out_w;
  for (int64_t ky = 0; ky < w.kernel_h; ++ky) {
    const int64_t y_off = ky * w.dilation_h - w.pad_h;
    const Range ry = valid_range(y_off, w.stride_h, w.in_h, w.out_h);
    for (int64_t kx = 0; kx < w.kernel_w; ++kx) {
      const int64_t x_off = kx * w.dilation_w - w.pad_w;
      const Range rx = valid_range(x_off, w.stride_w, w.in_w, w.out_w);
      const int64_t nx = rx.hi - rx.lo;
      T* dst = col + (ky * w.kernel_w + kx) * row_stride;
      std::fill(dst, dst + ry.lo * ow, T(0));
      for (int64_t oy = ry.lo; oy < ry.hi; ++oy) {
        T* d = dst + oy * ow;
        const T* src = img + (oy * w.stride_h + y_off) * w.in_w + (rx.lo * w.stride_w + x_off);
        std::fill(d, d + rx.lo, T(0));
        T* dv = d + rx.lo;
        if (w.stride_w == 1) {
          if (nx > 0) std::memcpy(dv, src, static_cast<size_t>(nx) * sizeof(T));
        } else if (w.stride_w == 2) {
          for (int64_t i = 0; i < nx; ++i) dv[i] = src[2 * i];
        } else {
          const int64_t sw = w.stride_w;
          for (int64_t i = 0; i < nx; ++i) dv[i] = src[i * sw];
        }
        std::fill(d + rx.hi, d + ow, T(0));
      }
      std::fill(dst + ry.hi * ow, dst + L, T(0));
    }
  }
}

// One plane: img += the rows (ky, kx) of `col` summed back to the positions they were read from.
template <typename T>
void col2im_plane(const Window2d& w, const T* __restrict col, T* __restrict img,
                  int64_t row_stride) {
  const int64_t ow = w.out_w;
  for (int64_t ky = 0; ky < w.kernel_h; ++ky) {
    const int64_t y_off = ky * w.dilation_h - w.pad_h;
    const Range ry = valid_range(y_off, w.stride_h, w.in_h, w.out_h);
    for (int64_t kx = 0; kx < w.kernel_w; ++kx) {
      const int64_t x_off = kx * w.dilation_w - w.pad_w;
      const Range rx = valid_range(x_off, w.stride_w, w.in_w, w.out_w);
      const int64_t nx = rx.hi - rx.lo;
      const T* src = col + (ky * w.kernel_w + kx) * row_stride;
      for (int64_t oy = ry.lo; oy < ry.hi; ++oy) {
        T* d = img + (oy * w.stride_h + y_off) * w.in_w + (rx.lo * w.stride_w + x_off);
        const T* s = src + oy * ow + rx.lo;
        if (w.stride_w == 1) {
          for (int64_t i = 0; i < nx; ++i) d[i] += s[i];
        } else {
          const int64_t sw = w.stride_w;
          for (int64_t i = 0; i < nx; ++i) d[i * sw] += s[i];
        }
      }
    }
  }
}

template <typename F>
void dispatch_float(DType t, const char* what, F&& f) {
  switch (t) {
    case DType::Float32: return f(Tag<float>{});
    case DType::Float64: return f(Tag<double>{});
    default: unsupported(what, t);
  }
}

// Calls body(plane pointer, first column row of that plane) for every (image, channel).
template <typename T, typename F>
void for_each_plane(const Im2colArgs& a, F&& body) {
  const int64_t items = a.batch * a.channels;
  const int64_t kk = a.win.kernel_h * a.win.kernel_w;
  const int64_t cost = kk * a.win.out_h * a.win.out_w;
  T* image = static_cast<T*>(a.image);
  T* columns = static_cast<T*>(a.columns);
  parallel_items(items, cost, [&](int64_t item) {
    const int64_t n = item / a.channels, c = item % a.channels;
    body(image + n * a.image_batch_stride + c * a.image_channel_stride,
         columns + n * a.col_batch_stride + c * kk * a.col_row_stride);
  });
}

}  // namespace

void im2col(const Im2colArgs& a) {
  if (a.batch <= 0 || a.channels <= 0 || a.win.out_h <= 0 || a.win.out_w <= 0) return;
  dispatch_float(a.dtype, "im2col", [&](auto tag) {
    using T = typename decltype(tag)::type;
    for_each_plane<T>(a, [&](T* plane, T* rows) { im2col_plane<T>(a.win, plane, rows, a.col_row_stride); });
  });
}

void col2im(const Im2colArgs& a) {
  if (a.batch <= 0 || a.channels <= 0 || a.win.out_h <= 0 || a.win.out_w <= 0) return;
  dispatch_float(a.dtype, "col2im", [&](auto tag) {
    using T = typename decltype(tag)::type;
    for_each_plane<T>(a, [&](T* plane, T* rows) { col2im_plane<T>(a.win, rows, plane, a.col_row_stride); });
  });
}

}  // namespace tg::kernels::cpu
