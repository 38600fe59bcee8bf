// CPU layer normalization over dense rows (LayerNormArgs in kernel_api.h): two passes over each
// row forward (mean, then variance, both accumulated in double), one backward; rows split over
// threads. Batch normalization (BatchNormArgs) likewise per channel, channels split over threads.
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

namespace {

// Visits channel c's values of x [batch, channels, inner]: f(offset of a run of `inner`).
template <typename F>
void for_each_run(const BatchNormArgs& a, int64_t c, F&& f) {
  for (int64_t n = 0; n < a.batch; ++n) f((n * a.channels + c) * a.inner);
}

template <typename T>
double param_at(const void* p, int64_t c, double fallback) {
  return p ? double(static_cast<const T*>(p)[c]) : fallback;
}

int64_t channel_grain(const BatchNormArgs& a) {
  return std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(a.batch * a.inner, 1));
}

}  // namespace

void batch_norm(const BatchNormArgs& a, const void* x_, void* mean_, void* var_, void* y_) {
  dispatch_floating("batch_norm", a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = static_cast<const T*>(x_);
    T* y = static_cast<T*>(y_);
    T* mean = static_cast<T*>(mean_);
    T* var = static_cast<T*>(var_);
    const double count = static_cast<double>(a.batch * a.inner);
    parallel_range(a.channels, channel_grain(a), [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        if (a.training) {
          double sum = 0;
          for_each_run(a, c, [&](int64_t o) {
            sum += lane_sum(a.inner, [&](int64_t i) { return double(x[o + i]); });
          });
          const double m = sum / count;
          double squares = 0;
          for_each_run(a, c, [&](int64_t o) {
            squares += lane_sum(a.inner, [&](int64_t i) { return (x[o + i] - m) * (x[o + i] - m); });
          });
          mean[c] = T(m);
          var[c] = T(squares / count);
        }
        const double rstd = 1.0 / std::sqrt(double(var[c]) + a.eps);
        const T m = mean[c], scale = T(param_at<T>(a.weight, c, 1.0) * rstd), shift = T(param_at<T>(a.bias, c, 0.0));
        for_each_run(a, c, [&](int64_t o) {
          for (int64_t i = 0; i < a.inner; ++i) y[o + i] = (x[o + i] - m) * scale + shift;
        });
      }
    });
  });
}

void batch_norm_backward(const BatchNormArgs& a, const void* x_, const void* mean_, const void* var_,
                         const void* grad_y, void* grad_x, void* grad_weight, void* grad_bias) {
  dispatch_floating("batch_norm_backward", a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = static_cast<const T*>(x_);
    const T* g = static_cast<const T*>(grad_y);
    T* gx = static_cast<T*>(grad_x);
    const double count = static_cast<double>(a.batch * a.inner);
    const bool need_sums = a.training || grad_weight || grad_bias;
    parallel_range(a.channels, channel_grain(a), [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        const T m = static_cast<const T*>(mean_)[c];
        const double rstd = 1.0 / std::sqrt(double(static_cast<const T*>(var_)[c]) + a.eps);
        double sum_g = 0, sum_gxhat = 0;
        if (need_sums) {
          double sum_gx = 0;
          for_each_run(a, c, [&](int64_t o) {
            sum_g += lane_sum(a.inner, [&](int64_t i) { return double(g[o + i]); });
            sum_gx += lane_sum(a.inner, [&](int64_t i) { return double(g[o + i]) * double(x[o + i] - m); });
          });
          sum_gxhat = sum_gx * rstd;
        }
        if (grad_weight) static_cast<T*>(grad_weight)[c] = T(sum_gxhat);
        if (grad_bias) static_cast<T*>(grad_bias)[c] = T(sum_g);
        if (!gx) continue;
        const T k = T(param_at<T>(a.weight, c, 1.0) * rstd);
        if (!a.training) {
          for_each_run(a, c, [&](int64_t o) {
            for (int64_t i = 0; i < a.inner; ++i) gx[o + i] = k * g[o + i];
          });
          continue;
        }
        // xhat * sum(g * xhat) / M = (x - m) * proj.
        const T mean_g = T(sum_g / count), proj = T(rstd * sum_gxhat / count);
        for_each_run(a, c, [&](int64_t o) {
          for (int64_t i = 0; i < a.inner; ++i) gx[o + i] = k * (g[o + i] - mean_g - (x[o + i] - m) * proj);
        });
      }
    });
  });
}

}  // namespace tg::kernels::cpu
