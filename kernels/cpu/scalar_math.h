// Scalar math shared by the CPU elementwise, activation-gradient and softmax kernels.
#pragma once
#include <cmath>
#include <cstdint>

namespace tg::kernels::cpu {

// 1 / (1 + exp(-x)) without overflow for large |x|: exp only ever sees -|x|.
template <typename T>
inline T sigmoid(T x) {
  const T e = std::exp(-std::abs(x));
  const T r = T(1) / (T(1) + e);
  return x >= T(0) ? r : e * r;
}

template <typename T>
inline T gelu(T x) {
  return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
}

constexpr double kSqrt2OverPi = 0.79788456080286535588;  // sqrt(2 / pi)
constexpr double kGeluKappa = 0.044715;

template <typename T>
inline T gelu_tanh(T x) {
  const T inner = T(kSqrt2OverPi) * (x + T(kGeluKappa) * x * x * x);
  return T(0.5) * x * (T(1) + std::tanh(inner));
}

// d/dx of the exact gelu: Phi(x) + x phi(x).
template <typename T>
inline T gelu_grad(T x) {
  const T cdf = T(0.5) * (T(1) + std::erf(x * T(0.70710678118654752440)));
  const T pdf = std::exp(T(-0.5) * x * x) * T(0.39894228040143267794);  // 1/sqrt(2 pi)
  return cdf + x * pdf;
}

template <typename T>
inline T gelu_tanh_grad(T x) {
  const T x2 = x * x;
  const T inner = T(kSqrt2OverPi) * (x + T(kGeluKappa) * x2 * x);
  const T t = std::tanh(inner);
  const T left = T(0.5) * x;
  const T left_d = T(0.5) * (T(1) + t);
  const T right_d = left * (T(1) - t * t) * T(kSqrt2OverPi) * (T(1) + T(3 * kGeluKappa) * x2);
  return left_d + right_d;
}

template <typename T>
inline T softplus(T x, T beta, T threshold) {
  const T bx = x * beta;
  return bx > threshold ? x : std::log1p(std::exp(bx)) / beta;
}

// Integer power by squaring; negative exponents give 1/b^|e| truncated (0 unless b = +-1).
inline int64_t ipow(int64_t base, int64_t e) {
  if (e < 0) {
    if (base == 1) return 1;
    if (base == -1) return (e & 1) ? -1 : 1;
    return 0;
  }
  uint64_t result = 1, b = static_cast<uint64_t>(base);
  uint64_t ue = static_cast<uint64_t>(e);
  while (ue) {
    if (ue & 1) result *= b;
    b *= b;
    ue >>= 1;
  }
  return static_cast<int64_t>(result);
}

// Wrapping int64 arithmetic (two's complement, no UB on overflow).
inline int64_t wrap_add(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
inline int64_t wrap_sub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
inline int64_t wrap_mul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}

}  // namespace tg::kernels::cpu
