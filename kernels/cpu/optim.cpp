// CPU fused optimizer steps (AdamStepArgs, SgdStepArgs in kernel_api.h): one pass over each
// tensor, reading and writing every state once, where the composed step makes about a dozen;
// large tensors are split over threads. The element formulas are kernels/optimizer_math.h.
#include <algorithm>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/simd_clones.h"
#include "kernels/cpu/strided_loop.h"
#include "kernels/optimizer_math.h"

namespace tg::kernels::cpu {
namespace {

// Flags as template arguments and restrict pointers: the loops vectorize (and get AVX2 clones).
template <bool kAmsgrad, typename T>
TG_SIMD_CLONES void adam_range(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m,
                               T* __restrict__ v, T* __restrict__ max_v, int64_t begin, int64_t end,
                               T step_size, T inv_bc2_sqrt, const optimizer_math::AdamConstants<T> c) {
  for (int64_t i = begin; i < end; ++i) {
    T unused = 0;
    optimizer_math::adam_element<kAmsgrad>(p[i], g[i], m[i], v[i], kAmsgrad ? max_v[i] : unused,
                                           step_size, inv_bc2_sqrt, c);
  }
}

template <bool kMomentum, typename T>
TG_SIMD_CLONES void sgd_range(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ buf,
                              bool first, int64_t begin, int64_t end, const optimizer_math::SgdConstants<T> c) {
  for (int64_t i = begin; i < end; ++i) {
    T unused = 0;
    optimizer_math::sgd_element<kMomentum>(p[i], g[i], kMomentum ? buf[i] : unused, first, c);
  }
}

}  // namespace

void adam_step(const AdamStepArgs& a) {
  dispatch_floating("adam_step", a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const optimizer_math::AdamConstants<T> c(a);
    for (int64_t t = 0; t < a.count; ++t) {
      T* p = static_cast<T*>(a.params[t]);
      const T* g = static_cast<const T*>(a.grads[t]);
      T* m = static_cast<T*>(a.exp_avgs[t]);
      T* v = static_cast<T*>(a.exp_avg_sqs[t]);
      T* max_v = a.amsgrad ? static_cast<T*>(a.max_exp_avg_sqs[t]) : nullptr;
      const T step_size = T(a.step_sizes[t]), inv_bc2_sqrt = T(1.0 / a.bias_correction2_sqrts[t]);
      parallel_range(a.numels[t], kParallelGrain, [&](int64_t begin, int64_t end) {
        if (a.amsgrad) adam_range<true>(p, g, m, v, max_v, begin, end, step_size, inv_bc2_sqrt, c);
        else adam_range<false>(p, g, m, v, max_v, begin, end, step_size, inv_bc2_sqrt, c);
      });
    }
  });
}

void sgd_step(const SgdStepArgs& a) {
  dispatch_floating("sgd_step", a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const optimizer_math::SgdConstants<T> c(a);
    for (int64_t t = 0; t < a.count; ++t) {
      T* p = static_cast<T*>(a.params[t]);
      const T* g = static_cast<const T*>(a.grads[t]);
      T* buf = a.momentum != 0.0 ? static_cast<T*>(a.momentum_buffers[t]) : nullptr;
      const bool first = a.momentum != 0.0 && a.first_step[t];
      parallel_range(a.numels[t], kParallelGrain, [&](int64_t begin, int64_t end) {
        if (buf) sgd_range<true>(p, g, buf, first, begin, end, c);
        else sgd_range<false>(p, g, buf, first, begin, end, c);
      });
    }
  });
}

}  // namespace tg::kernels::cpu
