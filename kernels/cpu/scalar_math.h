// Scalar math shared by the CPU elementwise, activation-gradient and softmax kernels.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

namespace tg::kernels::cpu {

// ---------------------------------------------------------------------------------------------
// float32 exp / tanh / sigmoid that loops can vectorize (libm's expf/tanhf are opaque calls that
// keep a loop scalar). Accurate to a few float ulps over the whole range, with exp's gradual
// underflow to 0 and overflow to inf, and NaN in -> NaN out.
//
// They are shaped for GCC's if-conversion under the default -ftrapping-math, which refuses to
// speculate float arithmetic that a branch would skip:
//  * range tests are integer compares on the bit pattern;
//  * value selects are bitwise blends (blend below), never `c ? f(x) : g(x)`;
//  * exp's clamp bounds come from MathConsts, loaded through a volatile once per kernel call:
//    with literal bounds GCC sees that the clamped path is the constant exp(-104) = 0, moves the
//    whole computation into the other branch and the loop no longer vectorizes.
// Kernels fetch `const MathConsts mc = math_consts();` outside their loops and pass it down.

struct MathConsts {
  float exp_lo, exp_hi;  // exp(x) is 0 in float below exp_lo and inf above exp_hi
};

inline MathConsts math_consts() {
  static volatile float lo = -104.0f, hi = 89.0f;
  return MathConsts{lo, hi};
}

inline float bits_to_float(uint32_t i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}
inline uint32_t float_to_bits(float f) {
  uint32_t i;
  std::memcpy(&i, &f, sizeof i);
  return i;
}

// c ? a : b as a bitwise blend of the two values, which GCC keeps branch-free.
template <typename T>
inline T blend(bool c, T a, T b) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  const U m = U(0) - U(c);
  U ua, ub;
  std::memcpy(&ua, &a, sizeof a);
  std::memcpy(&ub, &b, sizeof b);
  const U r = (ua & m) | (ub & ~m);
  T out;
  std::memcpy(&out, &r, sizeof out);
  return out;
}

inline float exp_f32(float x, MathConsts mc) {
  const uint32_t ux = float_to_bits(x);
  const int32_t sx = static_cast<int32_t>(ux);
  // Clamp to [-104, 89] (NaN passes unchanged): beyond, the result is 0 or inf anyway.
  const bool too_high = sx > 0x42B20000 && sx <= 0x7F800000;   // 89 < x <= +inf
  const bool too_low = ux > 0xC2D00000u && ux <= 0xFF800000u;  // -inf <= x < -104
  const float lo = mc.exp_lo, hi = mc.exp_hi;  // unconditional loads (no branchy load)
  float xc = too_high ? hi : x;
  xc = too_low ? lo : xc;
  // exp(x) = 2^n exp(r), n = round(x / ln 2), |r| <= ln2 / 2 (Cody-Waite split of ln 2).
  const float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer in the mantissa
  const float shifted = xc * 1.44269504088896341f + magic;
  const float n = shifted - magic;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  const float z = r * r;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * z + r + 1.0f;
  // 2^n from the integer in the mantissa of `shifted`, as two normal powers of two so that
  // n in [-150, 128] neither overflows the exponent field nor skips gradual underflow.
  const int32_t ni = static_cast<int32_t>(float_to_bits(shifted) - float_to_bits(magic));
  const int32_t n1 = ni >> 1, n2 = ni - n1;
  const float s1 = bits_to_float(static_cast<uint32_t>(n1 + 127) << 23);
  const float s2 = bits_to_float(static_cast<uint32_t>(n2 + 127) << 23);
  return (y * s1) * s2;  // NaN: y is NaN
}

inline float tanh_f32(float x, MathConsts mc) {
  const uint32_t ux = float_to_bits(x);
  const uint32_t sign = ux & 0x80000000u;
  const float ax = bits_to_float(ux & 0x7FFFFFFFu);
  // |x| >= 0.625: 1 - 2 / (exp(2|x|) + 1), then the sign of x.
  const float e = exp_f32(2.0f * ax, mc);
  const float big = bits_to_float(float_to_bits(1.0f - 2.0f / (e + 1.0f)) | sign);
  // |x| < 0.625: odd polynomial.
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * x + x;
  return blend((ux & 0x7FFFFFFFu) < 0x3F200000u, small, big);  // NaN: both are NaN
}

// 1 / (1 + exp(-x)) without overflow for large |x|: exp only ever sees -|x|.
inline float sigmoid_f32(float x, MathConsts mc) {
  const uint32_t ux = float_to_bits(x);
  const float e = exp_f32(bits_to_float(ux | 0x80000000u), mc);  // exp(-|x|) <= 1
  const float r = 1.0f / (1.0f + e);
  return r * blend((ux & 0x80000000u) != 0, e, 1.0f);  // x < 0: e / (1 + e)
}

// Per-type exp / tanh / sigmoid: the vectorizable versions above for float32, libm for float64.
inline float fexp(float x, MathConsts mc) { return exp_f32(x, mc); }
inline double fexp(double x, MathConsts) { return std::exp(x); }
inline float ftanh(float x, MathConsts mc) { return tanh_f32(x, mc); }
inline double ftanh(double x, MathConsts) { return std::tanh(x); }
inline float sigmoid(float x, MathConsts mc) { return sigmoid_f32(x, mc); }
inline double sigmoid(double x, MathConsts) {
  const double e = std::exp(-std::abs(x));
  const double r = 1.0 / (1.0 + e);
  return r * blend(x < 0.0, e, 1.0);
}

// Max (kMax) or min of a contiguous float row, NaN if any element is NaN, starting from `init`.
// Independent lanes of plain max/min (maxps/minps) plus NaN flags: both vectorize, unlike one
// NaN-propagating select chain.
template <bool kMax, typename T>
inline T row_extreme(const T* p, int64_t n, T init) {
  using Flag = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  constexpr int kLanes = 8;
  T lane[kLanes];
  Flag nan[kLanes];
  for (int j = 0; j < kLanes; ++j) {
    lane[j] = init;
    nan[j] = Flag(init != init);
  }
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
      const T v = p[i + j];
      if constexpr (kMax) {
        lane[j] = lane[j] < v ? v : lane[j];
      } else {
        lane[j] = v < lane[j] ? v : lane[j];
      }
      nan[j] |= Flag(v != v);
    }
  }
  for (; i < n; ++i) {
    const T v = p[i];
    if constexpr (kMax) {
      lane[0] = lane[0] < v ? v : lane[0];
    } else {
      lane[0] = v < lane[0] ? v : lane[0];
    }
    nan[0] |= Flag(v != v);
  }
  T t = lane[0];
  Flag any_nan = nan[0];
  for (int j = 1; j < kLanes; ++j) {
    if constexpr (kMax) {
      t = t < lane[j] ? lane[j] : t;
    } else {
      t = lane[j] < t ? lane[j] : t;
    }
    any_nan |= nan[j];
  }
  return any_nan ? std::numeric_limits<T>::quiet_NaN() : t;
}

// erf for the exact-gelu kernels: float32 uses Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7,
// the same approximation as PyTorch's vectorized CPU erf) on the vectorizable exp above; float64
// uses libm. (The Erf op itself always uses libm, for full relative accuracy near 0.)
inline float gelu_erf(float x, MathConsts mc) {
  const uint32_t ux = float_to_bits(x);
  const float ax = bits_to_float(ux & 0x7FFFFFFFu);
  const float t = 1.0f / (1.0f + 0.3275911f * ax);
  float r = 1.061405429f;
  r = r * t - 1.453152027f;
  r = r * t + 1.421413741f;
  r = r * t - 0.284496736f;
  r = r * t + 0.254829592f;
  const float e = 1.0f - r * t * exp_f32(-(x * x), mc);
  return bits_to_float(float_to_bits(e) | (ux & 0x80000000u));  // e >= 0: copy x's sign
}
inline double gelu_erf(double x, MathConsts) { return std::erf(x); }

template <typename T>
inline T gelu(T x, MathConsts mc) {
  return T(0.5) * x * (T(1) + gelu_erf(x * T(0.70710678118654752440), mc));
}

constexpr double kSqrt2OverPi = 0.79788456080286535588;  // sqrt(2 / pi)
constexpr double kGeluKappa = 0.044715;

template <typename T>
inline T gelu_tanh(T x, MathConsts mc) {
  const T inner = T(kSqrt2OverPi) * (x + T(kGeluKappa) * x * x * x);
  return T(0.5) * x * (T(1) + ftanh(inner, mc));
}

// d/dx of the exact gelu: Phi(x) + x phi(x).
template <typename T>
inline T gelu_grad(T x, MathConsts mc) {
  const T cdf = T(0.5) * (T(1) + gelu_erf(x * T(0.70710678118654752440), mc));
  const T pdf = fexp(T(-0.5) * x * x, mc) * T(0.39894228040143267794);  // 1/sqrt(2 pi)
  return cdf + x * pdf;
}

template <typename T>
inline T gelu_tanh_grad(T x, MathConsts mc) {
  const T x2 = x * x;
  const T inner = T(kSqrt2OverPi) * (x + T(kGeluKappa) * x2 * x);
  const T t = ftanh(inner, mc);
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
