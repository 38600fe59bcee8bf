// CUDA elementwise kernels: fill, copy, unary, binary, activation gradients, where and random
// (the semantics of kernels/cpu/elementwise.cpp, unary.cpp, binary.cpp and random.cpp).
//
// Two paths per call, chosen from the coalesced layout (make_strided):
//  * flat: every operand dense over the whole tensor (or, for inputs, one broadcast element).
//    Each thread handles packs of V = 16 / (widest element) elements with one vector load or
//    store per operand (16 bytes for the widest), the tail element by element; misaligned
//    pointers (offset views) take the element loop.
//  * strided: for_each_element, one element per thread.
//
// The op is a run-time field of the functor, switched on inside the device code, rather than a
// template parameter: these kernels are memory-bound, a branch that is uniform across the grid
// costs nothing measurable, and it keeps the kernels to two per (functor, dtype) instead of two
// per (op, dtype), which keeps the compile time of this file reasonable.
//
// Float results differ from the CPU's only where the math library does (CUDA's exp/tanh/erf/...
// against glibc and the CPU's float32 approximations) and where nvcc contracts a * b + c into an
// FMA. The random streams are bit-exact: their arithmetic uses explicit round-to-nearest
// intrinsics (no contraction), like the CPU build, which has no FMA.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/philox.h"

namespace tg::kernels::cuda {
namespace {

using i64 = int64_t;
using u64 = uint64_t;

// ---------------------------------------------------------------------------------------------
// launch machinery

// V consecutive elements moved with one load or store.
template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

// An input of the flat path: a dense array, or one element broadcast to every position.
template <typename T>
struct FlatArg {
  const T* p;
  bool scalar;
};

template <typename T>
__device__ inline T element(const FlatArg<T>& a, i64 i) {
  return a.scalar ? a.p[0] : a.p[i];
}

template <int V, typename T>
__device__ inline Pack<T, V> load_pack(const FlatArg<T>& a, i64 i) {
  if (a.scalar) {
    Pack<T, V> r;
    const T s = a.p[0];
#pragma unroll
    for (int j = 0; j < V; ++j) r.v[j] = s;
    return r;
  }
  return *reinterpret_cast<const Pack<T, V>*>(a.p + i);
}

template <int V, typename F, typename TO, typename... TI>
__device__ inline void compute_pack(const F& f, Pack<TO, V>& o, const Pack<TI, V>&... a) {
#pragma unroll
  for (int j = 0; j < V; ++j) o.v[j] = f(a.v[j]...);
}

// vec: every dense pointer is aligned to its pack; then packs first, the n % V tail after.
template <int V, typename F, typename TO, typename... TI>
__global__ void __launch_bounds__(kBlock)
    flat_kernel(i64 n, bool vec, F f, TO* out, FlatArg<TI>... in) {
  const i64 first = blockIdx.x * i64(blockDim.x) + threadIdx.x;
  const i64 step = i64(gridDim.x) * blockDim.x;
  i64 tail = 0;
  if (vec) {
    const i64 packs = n / V;
    for (i64 q = first; q < packs; q += step) {
      Pack<TO, V> o;
      compute_pack<V>(f, o, load_pack<V>(in, q * V)...);
      *reinterpret_cast<Pack<TO, V>*>(out + q * V) = o;
    }
    tail = packs * V;
  }
  for (i64 i = tail + first; i < n; i += step) out[i] = f(element(in, i)...);
}

inline bool aligned(const void* p, size_t bytes) {
  return reinterpret_cast<uintptr_t>(p) % bytes == 0;
}

// Launches the flat path when the layout allows it; false otherwise.
template <typename F, typename TO, typename... TI, size_t... K>
bool launch_flat(const char* name, const F& f, const Strided<1 + sizeof...(TI)>& s, i64 n,
                 std::index_sequence<K...>) {
  constexpr int N = 1 + sizeof...(TI);
  constexpr i64 width[N] = {i64(sizeof(TO)), i64(sizeof(TI))...};
  constexpr i64 widest = std::max({i64(sizeof(TO)), i64(sizeof(TI))...});
  constexpr int V = static_cast<int>(16 / widest);
  if (s.ndim != 1) return false;
  // n == 1: every stride is 0.
  if (n > 1 && s.strides[0][0] != width[0]) return false;
  bool vec = aligned(s.data[0], size_t(V * width[0]));
  for (int k = 1; k < N; ++k) {
    const i64 st = s.strides[k][0];
    if (st != 0 && st != width[k]) return false;
    if (st != 0) vec = vec && aligned(s.data[k], size_t(V * width[k]));
  }
  flat_kernel<V, F, TO, TI...><<<grid_for(vec ? n / V : n), kBlock, 0, stream()>>>(
      n, vec, f, reinterpret_cast<TO*>(s.data[0]),
      FlatArg<TI>{reinterpret_cast<const TI*>(s.data[K + 1]), s.strides[K + 1][0] == 0}...);
  check_launch(name);
  return true;
}

template <typename TO, typename... TI, typename F, size_t... K>
__device__ inline void apply_at(const F& f, char* const* p, std::index_sequence<K...>) {
  *reinterpret_cast<TO*>(p[0]) = f(*reinterpret_cast<const TI*>(p[K + 1])...);
}

// out (views[0], element type TO) = f(inputs views[1..], element types TI...).
template <typename F, typename TO, typename... TI>
void map(const char* name, const F& f, const View* const (&views)[1 + sizeof...(TI)]) {
  constexpr int N = 1 + sizeof...(TI);
  const i64 n = numel_of(*views[0]);
  if (n == 0) return;
  const Strided<N> s = make_strided<N>(views);
  if (launch_flat<F, TO, TI...>(name, f, s, n, std::index_sequence_for<TI...>{})) return;
  for_each_element<N>(name, views, [f] __device__(char** p) {
    apply_at<TO, TI...>(f, p, std::index_sequence_for<TI...>{});
  });
}

// Raw storage of a dtype of this width, for ops that only move bits.
template <size_t W>
using Bits = std::conditional_t<W == 1, uint8_t, std::conditional_t<W == 4, uint32_t, uint64_t>>;

template <typename F>
decltype(auto) dispatch_width(DType t, F&& f) {
  switch (dtype_size(t)) {
    case 1: return f(Tag<Bits<1>>{});
    case 4: return f(Tag<Bits<4>>{});
    default: return f(Tag<Bits<8>>{});
  }
}

// ---------------------------------------------------------------------------------------------
// conversions

// A double parameter as an int64 (saturating, NaN -> 0), as the CPU's scalar_to.
i64 scalar_to_i64(double v) {
  if (std::isnan(v)) return 0;
  if (v >= 9223372036854775807.0) return std::numeric_limits<i64>::max();
  if (v <= -9223372036854775808.0) return std::numeric_limits<i64>::min();
  return static_cast<i64>(v);
}

template <typename T>
T scalar_to(double v) {
  if constexpr (std::is_same_v<T, Bool>) {
    return v != 0.0 ? Bool(1) : Bool(0);
  } else if constexpr (std::is_same_v<T, i64>) {
    return scalar_to_i64(v);
  } else {
    return static_cast<T>(v);
  }
}

// Element conversion as the CPU computes it. Float -> int64 out of range (or NaN) is undefined
// in C++; the CPU build's cvttsd2si gives INT64_MIN there, where CUDA's cvt would saturate, so
// that case is spelled out.
template <typename To, typename From>
__device__ inline To cast(From v) {
  if constexpr (std::is_same_v<To, i64> && std::is_floating_point_v<From>) {
    const double d = v;
    return (d >= -9223372036854775808.0 && d < 9223372036854775808.0) ? static_cast<i64>(d)
                                                                        : INT64_MIN;
  } else {
    return convert<To>(v);
  }
}

// ---------------------------------------------------------------------------------------------
// fill and copy

template <typename U>
struct FillOp {
  U v;
  __device__ U operator()() const { return v; }
};

template <typename U>
struct Identity {
  __device__ U operator()(U x) const { return x; }
};

template <typename TO, typename TI>
struct Convert {
  __device__ TO operator()(TI x) const { return cast<TO>(x); }
};

// True when the view covers n * esz contiguous bytes from its data pointer.
bool dense(const View& v) {
  const View* const vs[1] = {&v};
  const Strided<1> s = make_strided<1>(vs);
  return s.ndim == 1 && (s.sizes[0] == 1 || s.strides[0][0] == i64(dtype_size(v.dtype)));
}

// ---------------------------------------------------------------------------------------------
// unary

template <typename T>
__device__ inline T sigmoid(T x) {
  const T e = exp(-fabs(x));  // <= 1: no overflow
  const T r = T(1) / (T(1) + e);
  return x < T(0) ? r * e : r;
}

constexpr double kSqrtHalf = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1 / sqrt(2 pi)
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kGeluKappa = 0.044715;

template <typename T>
__device__ inline T gelu(T x) {
  return T(0.5) * x * (T(1) + erf(x * T(kSqrtHalf)));
}
template <typename T>
__device__ inline T gelu_tanh(T x) {
  const T inner = T(kSqrt2OverPi) * (x + T(kGeluKappa) * x * x * x);
  return T(0.5) * x * (T(1) + tanh(inner));
}
template <typename T>
__device__ inline T gelu_grad(T x) {
  const T cdf = T(0.5) * (T(1) + erf(x * T(kSqrtHalf)));
  const T pdf = exp(T(-0.5) * x * x) * T(kInvSqrt2Pi);
  return cdf + x * pdf;
}
template <typename T>
__device__ inline T gelu_tanh_grad(T x) {
  const T x2 = x * x;
  const T inner = T(kSqrt2OverPi) * (x + T(kGeluKappa) * x2 * x);
  const T t = tanh(inner);
  const T left = T(0.5) * x;
  const T left_d = T(0.5) * (T(1) + t);
  const T right_d = left * (T(1) - t * t) * T(kSqrt2OverPi) * (T(1) + T(3 * kGeluKappa) * x2);
  return left_d + right_d;
}

// PowScalar's special exponents, each computed as the CPU does.
enum class PowForm : uint8_t { General, Identity, Square, Cube, Sqrt, Reciprocal, Rsqrt, InvSquare };

PowForm pow_form(double e) {
  if (e == 2.0) return PowForm::Square;
  if (e == 1.0) return PowForm::Identity;
  if (e == 3.0) return PowForm::Cube;
  if (e == 0.5) return PowForm::Sqrt;
  if (e == -1.0) return PowForm::Reciprocal;
  if (e == -0.5) return PowForm::Rsqrt;
  if (e == -2.0) return PowForm::InvSquare;
  return PowForm::General;
}

template <typename T>
__device__ inline T pow_scalar(T x, PowForm form, T e) {
  switch (form) {
    case PowForm::Identity: return x;
    case PowForm::Square: return x * x;
    case PowForm::Cube: return x * x * x;
    case PowForm::Sqrt: return sqrt(x);
    case PowForm::Reciprocal: return T(1) / x;
    case PowForm::Rsqrt: return T(1) / sqrt(x);
    case PowForm::InvSquare: return T(1) / (x * x);
    case PowForm::General: break;
  }
  return pow(x, e);
}

// p0/p1: the op's parameters in T (Clamp: the bounds with NaN already replaced by -inf / inf).
template <typename T>
struct UnaryFloat {
  UnaryOp op;
  PowForm form;
  T p0, p1;
  __device__ T operator()(T x) const {
    switch (op) {
      case UnaryOp::Neg: return -x;
      case UnaryOp::Exp: return exp(x);
      case UnaryOp::Log: return log(x);
      case UnaryOp::Sqrt: return sqrt(x);
      case UnaryOp::Abs: return fabs(x);
      case UnaryOp::Tanh: return tanh(x);
      case UnaryOp::Sigmoid: return sigmoid(x);
      case UnaryOp::Relu: return x < T(0) ? T(0) : x;  // NaN passes
      case UnaryOp::LeakyRelu: return x * (x > T(0) ? T(1) : p0);
      case UnaryOp::Gelu: return gelu(x);
      case UnaryOp::GeluTanh: return gelu_tanh(x);
      case UnaryOp::Softplus: {
        const T bx = x * p0;
        return bx > p1 ? x : log1p(exp(bx)) / p0;
      }
      case UnaryOp::Clamp: {
        const T r = x < p0 ? p0 : x;  // NaN passes
        return r > p1 ? p1 : r;
      }
      case UnaryOp::AddScalar: return x + p0;
      case UnaryOp::MulScalar: return x * p0;
      case UnaryOp::RSubScalar: return p0 - x;
      case UnaryOp::RDivScalar: return p0 / x;
      case UnaryOp::PowScalar: return pow_scalar(x, form, p0);
      case UnaryOp::RPowScalar: return pow(p0, x);
      case UnaryOp::Sign: return T((T(0) < x) - (x < T(0)));  // sign(NaN) = 0
      case UnaryOp::Square: return x * x;
      case UnaryOp::Reciprocal: return T(1) / x;
      case UnaryOp::Sin: return sin(x);
      case UnaryOp::Cos: return cos(x);
      case UnaryOp::Log1p: return log1p(x);
      case UnaryOp::Expm1: return expm1(x);
      case UnaryOp::Rsqrt: return T(1) / sqrt(x);  // as the CPU: rsqrt() is not correctly rounded
      case UnaryOp::Erf: return erf(x);
      case UnaryOp::Floor: return floor(x);
      case UnaryOp::Ceil: return ceil(x);
      case UnaryOp::Round: return rint(x);  // half to even
      case UnaryOp::Trunc: return trunc(x);
      case UnaryOp::LogicalNot: break;  // its own functor (Bool output)
    }
    return x;
  }
};

// Wrapping int64 arithmetic (two's complement), as the CPU's wrap_*.
__device__ inline i64 wrap_add(i64 a, i64 b) { return static_cast<i64>(u64(a) + u64(b)); }
__device__ inline i64 wrap_sub(i64 a, i64 b) { return static_cast<i64>(u64(a) - u64(b)); }
__device__ inline i64 wrap_mul(i64 a, i64 b) { return static_cast<i64>(u64(a) * u64(b)); }

// Power by squaring; negative exponents give 1 / b^|e| truncated (0 unless b = +-1).
__device__ inline i64 ipow(i64 base, i64 e) {
  if (e < 0) {
    if (base == 1) return 1;
    if (base == -1) return (e & 1) ? -1 : 1;
    return 0;
  }
  u64 result = 1, b = static_cast<u64>(base), ue = static_cast<u64>(e);
  while (ue) {
    if (ue & 1) result *= b;
    b *= b;
    ue >>= 1;
  }
  return static_cast<i64>(result);
}

bool int_unary_supported(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: case UnaryOp::Abs: case UnaryOp::Sign: case UnaryOp::Square:
    case UnaryOp::Relu: case UnaryOp::Floor: case UnaryOp::Ceil: case UnaryOp::Round:
    case UnaryOp::Trunc: case UnaryOp::Clamp: case UnaryOp::AddScalar: case UnaryOp::MulScalar:
    case UnaryOp::RSubScalar: case UnaryOp::PowScalar: return true;
    default: return false;
  }
}

// s: the scalar operand; lo/hi: Clamp's bounds (NaN -> the int64 range).
struct UnaryInt {
  UnaryOp op;
  i64 s, lo, hi;
  __device__ i64 operator()(i64 x) const {
    switch (op) {
      case UnaryOp::Neg: return wrap_sub(0, x);
      case UnaryOp::Abs: return x < 0 ? wrap_sub(0, x) : x;
      case UnaryOp::Sign: return i64((0 < x) - (x < 0));
      case UnaryOp::Square: return wrap_mul(x, x);
      case UnaryOp::Relu: return x < 0 ? i64(0) : x;
      case UnaryOp::Clamp: {
        const i64 r = x < lo ? lo : x;
        return r > hi ? hi : r;
      }
      case UnaryOp::AddScalar: return wrap_add(x, s);
      case UnaryOp::MulScalar: return wrap_mul(x, s);
      case UnaryOp::RSubScalar: return wrap_sub(s, x);
      case UnaryOp::PowScalar: return ipow(x, s);
      default: return x;  // Floor, Ceil, Round, Trunc (int_unary_supported filters the rest)
    }
  }
};

template <typename T>
struct LogicalNotOp {
  __device__ Bool operator()(T x) const { return Bool(x == T(0)); }
};

// ---------------------------------------------------------------------------------------------
// binary

template <typename T>
struct BinaryFloat {
  BinaryOp op;
  __device__ T operator()(T x, T y) const {
    switch (op) {
      case BinaryOp::Add: return x + y;
      case BinaryOp::Sub: return x - y;
      case BinaryOp::Mul: return x * y;
      case BinaryOp::Div: return x / y;
      case BinaryOp::Pow: return pow(x, y);
      case BinaryOp::Maximum: return (x != x || x > y) ? x : y;  // NaN in either wins
      case BinaryOp::Minimum: return (x != x || x < y) ? x : y;
      case BinaryOp::Remainder: {
        T r = fmod(x, y);
        if (r != T(0) && ((r < T(0)) != (y < T(0)))) r += y;
        return r;
      }
      case BinaryOp::Fmod: return fmod(x, y);
      default: return x;  // comparisons and logical ops: the Compare functor
    }
  }
};

struct BinaryInt {
  BinaryOp op;
  __device__ i64 operator()(i64 x, i64 y) const {
    switch (op) {
      case BinaryOp::Add: return wrap_add(x, y);
      case BinaryOp::Sub: return wrap_sub(x, y);
      case BinaryOp::Mul: return wrap_mul(x, y);
      case BinaryOp::Div:  // truncating; a zero divisor gives 0, -1 wraps
        if (y == 0) return 0;
        if (y == -1) return wrap_sub(0, x);
        return x / y;
      case BinaryOp::Pow: return ipow(x, y);
      case BinaryOp::Maximum: return x > y ? x : y;
      case BinaryOp::Minimum: return x < y ? x : y;
      case BinaryOp::Remainder: {
        if (y == 0 || y == -1) return 0;
        i64 r = x % y;
        if (r != 0 && ((r < 0) != (y < 0))) r += y;
        return r;
      }
      case BinaryOp::Fmod: return (y == 0 || y == -1) ? i64(0) : x % y;
      default: return x;  // comparisons and logical ops: the Compare functor
    }
  }
};

// Bool storage compares as 0/1.
template <typename T>
__device__ inline auto cmp_value(T v) {
  if constexpr (std::is_same_v<T, Bool>) {
    return static_cast<int>(v != 0);
  } else {
    return v;
  }
}

template <typename T>
struct Compare {
  BinaryOp op;
  __device__ Bool operator()(T x, T y) const {
    const auto a = cmp_value(x), b = cmp_value(y);
    switch (op) {
      case BinaryOp::Eq: return Bool(a == b);
      case BinaryOp::Ne: return Bool(a != b);
      case BinaryOp::Lt: return Bool(a < b);
      case BinaryOp::Le: return Bool(a <= b);
      case BinaryOp::Gt: return Bool(a > b);
      case BinaryOp::Ge: return Bool(a >= b);
      case BinaryOp::LogicalAnd: return Bool((x != T(0)) & (y != T(0)));
      default: return Bool((x != T(0)) | (y != T(0)));  // LogicalOr (is_bool_result filters)
    }
  }
};

bool is_bool_result(BinaryOp op) {
  switch (op) {
    case BinaryOp::Eq: case BinaryOp::Ne: case BinaryOp::Lt: case BinaryOp::Le:
    case BinaryOp::Gt: case BinaryOp::Ge: case BinaryOp::LogicalAnd: case BinaryOp::LogicalOr:
      return true;
    default: return false;
  }
}

// ---------------------------------------------------------------------------------------------
// activation gradients: grad_in = grad_out * f'(v), v = x or y

// p0/p1: slope, or beta/threshold, or Clamp's bounds (NaN -> -inf / inf); unbounded: both
// Clamp bounds were NaN (then NaN inputs pass the gradient too).
template <typename T>
struct ActGrad {
  ActivationGrad op;
  bool unbounded;
  T p0, p1;
  __device__ T operator()(T g, T v) const {
    switch (op) {
      case ActivationGrad::Tanh: return g * (T(1) - v * v);
      case ActivationGrad::Sigmoid: return g * (v * (T(1) - v));
      case ActivationGrad::Relu: return v <= T(0) ? T(0) : g;  // NaN outputs pass g
      case ActivationGrad::LeakyRelu: return g * (v > T(0) ? T(1) : p0);
      case ActivationGrad::Gelu: return g * gelu_grad(v);
      case ActivationGrad::GeluTanh: return g * gelu_tanh_grad(v);
      case ActivationGrad::Softplus: {
        const T bx = v * p0;
        return g * (bx > p1 ? T(1) : sigmoid(bx));
      }
      case ActivationGrad::Clamp:
        if (unbounded) return g;
        return (v >= p0 && v <= p1) ? g : T(0);
    }
    return g;
  }
};

bool uses_output(ActivationGrad op) {
  return op == ActivationGrad::Tanh || op == ActivationGrad::Sigmoid || op == ActivationGrad::Relu;
}

// ---------------------------------------------------------------------------------------------
// where

template <typename U>
struct WhereOp {
  __device__ U operator()(Bool c, U x, U y) const { return c ? x : y; }
};

// ---------------------------------------------------------------------------------------------
// random

// How each element's value is made (random.cpp): from one Philox word (G = 1) or a word pair.
enum class RandomMode : uint8_t { UniformFloat, Bernoulli, UniformDouble, Normal, IntRange };

__host__ __device__ constexpr int words_per_element(RandomMode m) {
  return (m == RandomMode::UniformFloat || m == RandomMode::Bernoulli) ? 1 : 2;
}

struct RandomParams {
  double a = 0, b = 0;          // Normal: mean, std; UniformDouble: [a, b); Bernoulli: a = p
  double width = 0, below = 0;  // UniformDouble: b - a, the largest double below b
  double lo_d = 0, width_d = 0; // UniformFloat: float(a) and float(b) - float(a), in double
  float hi_f = 0, below_f = 0;  // UniformFloat: float(b), the largest float below it
  i64 lo_i = 0;                 // IntRange: [lo_i, lo_i + range)
  u64 range = 1;
};

template <typename T, RandomMode M>
__device__ inline T random_value(const RandomParams& r, const uint32_t* w) {
  if constexpr (M == RandomMode::UniformFloat) {
    // a + (b - a) * u in double, rounded once to float; kept below b.
    const float u = philox::uniform_float(w[0]);
    const float v = static_cast<float>(__dadd_rn(r.lo_d, __dmul_rn(r.width_d, double(u))));
    return v >= r.hi_f ? r.below_f : v;
  } else if constexpr (M == RandomMode::Bernoulli) {
    return static_cast<T>(double(philox::uniform_float(w[0])) < r.a);
  } else if constexpr (M == RandomMode::UniformDouble) {
    const double v = __dadd_rn(r.a, __dmul_rn(r.width, philox::uniform_double(w[0], w[1])));
    return cast<T>(v >= r.b ? r.below : v);
  } else if constexpr (M == RandomMode::Normal) {
    return cast<T>(__dadd_rn(r.a, __dmul_rn(r.b, philox::normal(w[0], w[1]))));
  } else {
    const u64 v = static_cast<u64>(r.lo_i) + philox::below(w[0], w[1], r.range);
    return cast<T>(static_cast<i64>(v));
  }
}

// Thread t makes Philox block t (counter (t, offset), key seed), i.e. the K = 4 / G elements
// e = t * K + j, each from word j (G = 1) or words 2j, 2j + 1 (G = 2): philox::word and
// philox::word_pair's mapping. dense: out is contiguous and aligned to a K-element pack.
template <typename T, RandomMode M>
__global__ void __launch_bounds__(kBlock)
    random_kernel(i64 n, Strided<1> s, bool dense, RandomParams r, u64 seed, u64 offset) {
  constexpr int G = words_per_element(M), K = 4 / G;
  const i64 blocks = (n + K - 1) / K;
  for (i64 t = blockIdx.x * i64(blockDim.x) + threadIdx.x; t < blocks;
       t += i64(gridDim.x) * blockDim.x) {
    const philox::Block blk = philox::block(seed, offset, static_cast<u64>(t));
    Pack<T, K> vals;
#pragma unroll
    for (int j = 0; j < K; ++j) vals.v[j] = random_value<T, M>(r, blk.w + G * j);
    const i64 e0 = t * K;
    if (dense && e0 + K <= n) {
      *reinterpret_cast<Pack<T, K>*>(s.data[0] + e0 * i64(sizeof(T))) = vals;
      continue;
    }
#pragma unroll
    for (int j = 0; j < K; ++j) {
      if (e0 + j >= n) break;
      i64 off[1];
      s.offsets(e0 + j, off);  // the linear index is the row-major element index
      *reinterpret_cast<T*>(s.data[0] + off[0]) = vals.v[j];
    }
  }
}

template <typename T, RandomMode M>
void launch_random(const View& out, u64 seed, u64 offset, const RandomParams& r) {
  constexpr int K = 4 / words_per_element(M);
  const i64 n = numel_of(out);
  if (n == 0) return;
  const View* const vs[1] = {&out};
  const Strided<1> s = make_strided<1>(vs);
  const bool is_dense = s.ndim == 1 && s.strides[0][0] == i64(sizeof(T)) &&
                        aligned(out.data, K * sizeof(T));
  random_kernel<T, M><<<grid_for((n + K - 1) / K), kBlock, 0, stream()>>>(n, s, is_dense, r, seed,
                                                                            offset);
  check_launch("random_kernel");
}

template <typename T>
void random_typed(RandomKind kind, const View& out, u64 seed, u64 offset, double a, double b) {
  RandomParams r;
  r.a = a;
  r.b = b;
  switch (kind) {
    case RandomKind::Uniform:
      if constexpr (std::is_same_v<T, float>) {
        const float lo = static_cast<float>(a), hi = static_cast<float>(b);
        r.lo_d = lo;
        r.width_d = double(hi) - double(lo);
        r.hi_f = hi;
        r.below_f = hi > lo ? std::nextafter(hi, lo) : hi;
        return launch_random<T, RandomMode::UniformFloat>(out, seed, offset, r);
      } else {
        r.width = b - a;
        r.below = b > a ? std::nextafter(b, a) : b;
        return launch_random<T, RandomMode::UniformDouble>(out, seed, offset, r);
      }
    case RandomKind::Normal: return launch_random<T, RandomMode::Normal>(out, seed, offset, r);
    case RandomKind::IntRange: {
      const i64 lo = scalar_to_i64(a), hi = scalar_to_i64(b);
      if (hi <= lo) {  // empty range: core rejects it; write lo rather than divide by zero
        fill(out, static_cast<double>(lo));
        return;
      }
      r.lo_i = lo;
      r.range = static_cast<u64>(hi) - static_cast<u64>(lo);
      return launch_random<T, RandomMode::IntRange>(out, seed, offset, r);
    }
    case RandomKind::Bernoulli: return launch_random<T, RandomMode::Bernoulli>(out, seed, offset, r);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// entry points

void fill(const View& out, double value) {
  dispatch_all(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using U = Bits<sizeof(T)>;
    const T v = scalar_to<T>(value);
    U bits;
    std::memcpy(&bits, &v, sizeof bits);
    const i64 n = numel_of(out);
    if (n == 0) return;
    if (dense(out)) {
      // A pattern of one repeated byte (zeros, all ones, any bool): memset.
      unsigned char bytes[sizeof(U)];
      std::memcpy(bytes, &bits, sizeof bits);
      bool same = true;
      for (size_t k = 1; k < sizeof(U); ++k) same = same && bytes[k] == bytes[0];
      if (same) {
        check(cudaMemsetAsync(out.data, bytes[0], size_t(n) * sizeof(U), stream()),
              "cudaMemsetAsync");
        return;
      }
    }
    const View* const vs[1] = {&out};
    map<FillOp<U>, U>("fill", FillOp<U>{bits}, vs);
  });
}

void copy(const View& out, const View& in) {
  const View* const vs[2] = {&out, &in};
  if (out.dtype == in.dtype) {
    const i64 n = numel_of(out);
    if (n == 0) return;
    if (dense(out) && dense(in)) {
      check(cudaMemcpyAsync(out.data, in.data, size_t(n) * dtype_size(out.dtype),
                            cudaMemcpyDeviceToDevice, stream()),
            "cudaMemcpyAsync");
      return;
    }
    dispatch_width(out.dtype, [&](auto tag) {
      using U = typename decltype(tag)::type;
      map<Identity<U>, U, U>("copy", Identity<U>{}, vs);
    });
    return;
  }
  dispatch_all(out.dtype, [&](auto to_tag) {
    using TO = typename decltype(to_tag)::type;
    dispatch_all(in.dtype, [&](auto from_tag) {
      using TI = typename decltype(from_tag)::type;
      if constexpr (!std::is_same_v<TO, TI>) map<Convert<TO, TI>, TO, TI>("copy", Convert<TO, TI>{}, vs);
    });
  });
}

void unary(UnaryOp op, const View& out, const View& in, double p0, double p1) {
  const View* const vs[2] = {&out, &in};
  if (op == UnaryOp::LogicalNot) {
    if (out.dtype != DType::Bool) unsupported("logical_not output", out.dtype);
    dispatch_all(in.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      map<LogicalNotOp<T>, Bool, T>("logical_not", LogicalNotOp<T>{}, vs);
    });
    return;
  }
  if (out.dtype != in.dtype) unsupported("unary op with differing input dtype", in.dtype);
  switch (out.dtype) {
    case DType::Float32:
    case DType::Float64:
      dispatch_floating("this unary op", out.dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        UnaryFloat<T> f{op, PowForm::General, static_cast<T>(p0), static_cast<T>(p1)};
        if (op == UnaryOp::Clamp) {
          f.p0 = std::isnan(p0) ? -std::numeric_limits<T>::infinity() : static_cast<T>(p0);
          f.p1 = std::isnan(p1) ? std::numeric_limits<T>::infinity() : static_cast<T>(p1);
        }
        if (op == UnaryOp::PowScalar) f.form = pow_form(p0);
        map<UnaryFloat<T>, T, T>("unary", f, vs);
      });
      return;
    case DType::Int64: {
      if (!int_unary_supported(op)) unsupported("this unary op", DType::Int64);
      const UnaryInt f{op, scalar_to_i64(p0),
                       std::isnan(p0) ? std::numeric_limits<i64>::min() : scalar_to_i64(p0),
                       std::isnan(p1) ? std::numeric_limits<i64>::max() : scalar_to_i64(p1)};
      map<UnaryInt, i64, i64>("unary", f, vs);
      return;
    }
    case DType::Bool: break;
  }
  unsupported("this unary op", out.dtype);
}

void binary(BinaryOp op, const View& out, const View& a, const View& b) {
  const View* const vs[3] = {&out, &a, &b};
  if (a.dtype != b.dtype) unsupported("binary op with differing input dtypes", b.dtype);
  if (is_bool_result(op)) {
    if (out.dtype != DType::Bool) unsupported("comparison output", out.dtype);
    dispatch_all(a.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      map<Compare<T>, Bool, T, T>("compare", Compare<T>{op}, vs);
    });
    return;
  }
  if (out.dtype != a.dtype) unsupported("binary op with differing output dtype", out.dtype);
  switch (out.dtype) {
    case DType::Float32: return map<BinaryFloat<float>, float, float, float>("binary", {op}, vs);
    case DType::Float64:
      return map<BinaryFloat<double>, double, double, double>("binary", {op}, vs);
    case DType::Int64: return map<BinaryInt, i64, i64, i64>("binary", {op}, vs);
    case DType::Bool: break;
  }
  unsupported("this binary op", out.dtype);
}

void activation_grad(ActivationGrad op, const View& grad_in, const View& grad_out, const View& x,
                     const View& y, double p0, double p1) {
  const View* const vs[3] = {&grad_in, &grad_out, uses_output(op) ? &y : &x};
  dispatch_floating("activation gradients", grad_in.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    ActGrad<T> f{op, false, static_cast<T>(p0), static_cast<T>(p1)};
    if (op == ActivationGrad::Clamp) {
      f.unbounded = std::isnan(p0) && std::isnan(p1);
      f.p0 = std::isnan(p0) ? -std::numeric_limits<T>::infinity() : static_cast<T>(p0);
      f.p1 = std::isnan(p1) ? std::numeric_limits<T>::infinity() : static_cast<T>(p1);
    }
    map<ActGrad<T>, T, T, T>("activation_grad", f, vs);
  });
}

void where(const View& out, const View& cond, const View& a, const View& b) {
  if (cond.dtype != DType::Bool) unsupported("where condition", cond.dtype);
  const View* const vs[4] = {&out, &cond, &a, &b};
  dispatch_width(out.dtype, [&](auto tag) {
    using U = typename decltype(tag)::type;
    map<WhereOp<U>, U, Bool, U, U>("where", WhereOp<U>{}, vs);
  });
}

void random(RandomKind kind, const View& out, uint64_t seed, uint64_t offset, double a, double b) {
  dispatch_all(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    random_typed<T>(kind, out, seed, offset, a, b);
  });
}

}  // namespace tg::kernels::cuda
