// CPU layer normalization over dense rows (LayerNormArgs in kernel_api.h): two passes over each
// row forward (mean, then variance, both accumulated in double), one backward; rows split over
// threads.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/strided_loop.h"

namespace tg::kernels::cpu {

void layer_norm_rows(const LayerNormArgs& a, const void* x, void* y, void* mean, void* rstd) {
  dispatch_floating("layer_norm_rows", a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t C = a.cols;
    const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(C, 1));
    parallel_range(a.rows, grain, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* xr = static_cast<const T*>(x) + r * C;
        T* yr = static_cast<T*>(y) + r * C;
        double sum = 0;
        for (int64_t j = 0; j < C; ++j) sum += xr[j];
        const double m = sum / static_cast<double>(C);
        double squares = 0;
        for (int64_t j = 0; j < C; ++j) squares += (xr[j] - m) * (xr[j] - m);
        const double s = 1.0 / std::sqrt(squares / static_cast<double>(C) + a.eps);
        const T mt = T(m), st = T(s);
        for (int64_t j = 0; j < C; ++j) yr[j] = (xr[j] - mt) * st;
        static_cast<T*>(mean)[r] = mt;
        static_cast<T*>(rstd)[r] = st;
      }
    });
  });
}

void layer_norm_rows_backward(const LayerNormArgs& a, const void* x, const void* mean, const void* rstd,
                              const void* grad_y, void* grad_x) {
  dispatch_floating("layer_norm_rows_backward", a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t C = a.cols;
    const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(C, 1));
    parallel_range(a.rows, grain, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* xr = static_cast<const T*>(x) + r * C;
        const T* gr = static_cast<const T*>(grad_y) + r * C;
        T* dr = static_cast<T*>(grad_x) + r * C;
        const T m = static_cast<const T*>(mean)[r], s = static_cast<const T*>(rstd)[r];
        double sum_g = 0, sum_gy = 0;
        for (int64_t j = 0; j < C; ++j) {
          sum_g += gr[j];
          sum_gy += double(gr[j]) * double((xr[j] - m) * s);
        }
        const T mean_g = T(sum_g / static_cast<double>(C)), mean_gy = T(sum_gy / static_cast<double>(C));
        for (int64_t j = 0; j < C; ++j) dr[j] = s * (gr[j] - mean_g - (xr[j] - m) * s * mean_gy);
      }
    });
  });
}

}  // namespace tg::kernels::cpu
