// The element-wise update rules of the fused optimizer steps (AdamStepArgs, SgdStepArgs in
// kernel_api.h), written once for the CPU and CUDA kernels. They follow the composed steps in
// optim/functional.cpp (PyTorch's formulas) term by term, in the parameters' dtype.
#pragma once
#include <cmath>
#include <cstdint>

#include "dtype_dispatch.h"
#include "kernel_api.h"

namespace tg::kernels::optimizer_math {

template <typename T>
TG_HOST_DEVICE inline T square_root(T x) {
#if defined(__CUDA_ARCH__)
  return ::sqrt(x);
#else
  return std::sqrt(x);
#endif
}

// The group's hyperparameters in T, computed once per call. The options become factors, so the
// element update has no branch but amsgrad's (the loops vectorize): maximize is a gradient sign,
// AdamW's decay a factor on the parameter (1 for Adam), Adam's L2 term a factor (0 for AdamW).
template <typename T>
struct AdamConstants {
  T beta1, one_minus_beta1, beta2, one_minus_beta2, eps, grad_sign, l2, decay_factor;
  explicit AdamConstants(const AdamStepArgs& a)
      : beta1(T(a.beta1)), one_minus_beta1(T(1.0 - a.beta1)), beta2(T(a.beta2)),
        one_minus_beta2(T(1.0 - a.beta2)), eps(T(a.eps)), grad_sign(a.maximize ? T(-1) : T(1)),
        l2(a.decoupled ? T(0) : T(a.weight_decay)),
        decay_factor(a.decoupled ? T(1.0 - a.lr * a.weight_decay) : T(1)) {}
};

// One element of Adam / AdamW. `step_size` = lr / (1 - beta1^t), `inv_bias_correction2_sqrt` =
// 1 / sqrt(1 - beta2^t); max_v is read only with kAmsgrad.
template <bool kAmsgrad, typename T>
TG_HOST_DEVICE inline void adam_element(T& p, T grad, T& m, T& v, T& max_v, T step_size,
                                        T inv_bias_correction2_sqrt, const AdamConstants<T>& c) {
  // L2 only when set: 0 * p would turn an infinite parameter's gradient into NaN.
  const T g = c.l2 != T(0) ? c.l2 * p + c.grad_sign * grad : c.grad_sign * grad;
  p = p * c.decay_factor;
  v = c.beta2 * v + (g * g) * c.one_minus_beta2;
  m = c.beta1 * m + g * c.one_minus_beta1;
  T second = v;
  if constexpr (kAmsgrad) {
    max_v = max_v > v || max_v != max_v ? max_v : v;  // NaN stays, as maximum() propagates it
    second = max_v;
  }
  const T denom = square_root(second) * inv_bias_correction2_sqrt + c.eps;
  p = p + (-step_size / denom) * m;
}

template <typename T>
struct SgdConstants {
  T lr, momentum, one_minus_dampening, weight_decay, grad_sign;
  bool nesterov;
  explicit SgdConstants(const SgdStepArgs& a)
      : lr(T(a.lr)), momentum(T(a.momentum)), one_minus_dampening(T(1.0 - a.dampening)),
        weight_decay(T(a.weight_decay)), grad_sign(a.maximize ? T(-1) : T(1)), nesterov(a.nesterov) {}
};

// One element of SGD; buf is read only with kMomentum (first: the buffer's first step).
template <bool kMomentum, typename T>
TG_HOST_DEVICE inline void sgd_element(T& p, T grad, T& buf, bool first, const SgdConstants<T>& c) {
  T d = c.weight_decay != T(0) ? c.weight_decay * p + c.grad_sign * grad : c.grad_sign * grad;
  if constexpr (kMomentum) {
    buf = first ? d : c.momentum * buf + c.one_minus_dampening * d;
    d = c.nesterov ? d + c.momentum * buf : buf;
  }
  p = p + (-c.lr) * d;
}

}  // namespace tg::kernels::optimizer_math
