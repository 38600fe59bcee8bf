// CPU elementwise unary ops and fused activation gradients. The op and dtype are resolved once
// per call; the loops (elementwise_loops.h) see only a functor.
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/elementwise_loops.h"
#include "kernels/cpu/scalar_math.h"

namespace tg::kernels::cpu {
namespace {

// ---------------------------------------------------------------------------------------------
// unary

template <typename T>
void unary_float(UnaryOp op, const View& out, const View& in, double p0, double p1) {
  const int64_t H = kHeavyGrain;
  const MathConsts mc = math_consts();
  switch (op) {
    case UnaryOp::Neg: return map1<T, T>(out, in, [](T x) { return -x; });
    case UnaryOp::Exp: return map1_heavy<T, T>(out, in, [mc](T x) { return fexp(x, mc); });
    case UnaryOp::Log: return map1<T, T>(out, in, [](T x) { return std::log(x); }, H);
    case UnaryOp::Sqrt: return map1<T, T>(out, in, [](T x) { return std::sqrt(x); });
    case UnaryOp::Abs: return map1<T, T>(out, in, [](T x) { return std::abs(x); });
    case UnaryOp::Tanh: return map1_heavy<T, T>(out, in, [mc](T x) { return ftanh(x, mc); });
    case UnaryOp::Sigmoid: return map1_heavy<T, T>(out, in, [mc](T x) { return sigmoid(x, mc); });
    case UnaryOp::Relu:
      // NaN < 0 is false, so NaN passes through.
      return map1<T, T>(out, in, [](T x) { return x < T(0) ? T(0) : x; });
    case UnaryOp::LeakyRelu: {
      const T slope = static_cast<T>(p0);
      return map1<T, T>(out, in, [slope](T x) { return x * blend(x > T(0), T(1), slope); });
    }
    case UnaryOp::Gelu: return map1_heavy<T, T>(out, in, [mc](T x) { return gelu(x, mc); });
    case UnaryOp::GeluTanh: return map1_heavy<T, T>(out, in, [mc](T x) { return gelu_tanh(x, mc); });
    case UnaryOp::Softplus: {
      const T beta = static_cast<T>(p0), threshold = static_cast<T>(p1);
      return map1<T, T>(out, in, [=](T x) { return softplus(x, beta, threshold); }, H);
    }
    case UnaryOp::Clamp: {
      const T lo = std::isnan(p0) ? -std::numeric_limits<T>::infinity() : static_cast<T>(p0);
      const T hi = std::isnan(p1) ? std::numeric_limits<T>::infinity() : static_cast<T>(p1);
      // min(max(x, lo), hi) with NaN x passing through.
      return map1<T, T>(out, in, [=](T x) {
        const T r = x < lo ? lo : x;
        return r > hi ? hi : r;
      });
    }
    case UnaryOp::AddScalar: {
      const T s = static_cast<T>(p0);
      return map1<T, T>(out, in, [s](T x) { return x + s; });
    }
    case UnaryOp::MulScalar: {
      const T s = static_cast<T>(p0);
      return map1<T, T>(out, in, [s](T x) { return x * s; });
    }
    case UnaryOp::RSubScalar: {
      const T s = static_cast<T>(p0);
      return map1<T, T>(out, in, [s](T x) { return s - x; });
    }
    case UnaryOp::RDivScalar: {
      const T s = static_cast<T>(p0);
      return map1<T, T>(out, in, [s](T x) { return s / x; });
    }
    case UnaryOp::PowScalar: {
      if (p0 == 2.0) return map1<T, T>(out, in, [](T x) { return x * x; });
      if (p0 == 1.0) return map1<T, T>(out, in, [](T x) { return x; });
      if (p0 == 3.0) return map1<T, T>(out, in, [](T x) { return x * x * x; });
      if (p0 == 0.5) return map1<T, T>(out, in, [](T x) { return std::sqrt(x); });
      if (p0 == -1.0) return map1<T, T>(out, in, [](T x) { return T(1) / x; });
      if (p0 == -0.5) return map1<T, T>(out, in, [](T x) { return T(1) / std::sqrt(x); });
      if (p0 == -2.0) return map1<T, T>(out, in, [](T x) { return T(1) / (x * x); });
      const T e = static_cast<T>(p0);
      return map1<T, T>(out, in, [e](T x) { return std::pow(x, e); }, H);
    }
    case UnaryOp::RPowScalar: {
      const T base = static_cast<T>(p0);
      return map1<T, T>(out, in, [base](T x) { return std::pow(base, x); }, H);
    }
    case UnaryOp::Sign:
      // Like PyTorch: sign(NaN) = 0.
      return map1<T, T>(out, in, [](T x) { return T((T(0) < x) - (x < T(0))); });
    case UnaryOp::Square: return map1<T, T>(out, in, [](T x) { return x * x; });
    case UnaryOp::Reciprocal: return map1<T, T>(out, in, [](T x) { return T(1) / x; });
    case UnaryOp::Sin: return map1<T, T>(out, in, [](T x) { return std::sin(x); }, H);
    case UnaryOp::Cos: return map1<T, T>(out, in, [](T x) { return std::cos(x); }, H);
    case UnaryOp::Log1p: return map1<T, T>(out, in, [](T x) { return std::log1p(x); }, H);
    case UnaryOp::Expm1: return map1<T, T>(out, in, [](T x) { return std::expm1(x); }, H);
    case UnaryOp::Rsqrt: return map1<T, T>(out, in, [](T x) { return T(1) / std::sqrt(x); });
    case UnaryOp::Erf: return map1<T, T>(out, in, [](T x) { return std::erf(x); }, H);
    case UnaryOp::Floor: return map1<T, T>(out, in, [](T x) { return std::floor(x); });
    case UnaryOp::Ceil: return map1<T, T>(out, in, [](T x) { return std::ceil(x); });
    case UnaryOp::Round: return map1<T, T>(out, in, [](T x) { return std::nearbyint(x); });
    case UnaryOp::Trunc: return map1<T, T>(out, in, [](T x) { return std::trunc(x); });
    case UnaryOp::LogicalNot: break;  // handled by the caller
  }
  unsupported("this unary op", out.dtype);
}

void unary_int(UnaryOp op, const View& out, const View& in, double p0, double p1) {
  using T = int64_t;
  switch (op) {
    case UnaryOp::Neg: return map1<T, T>(out, in, [](T x) { return wrap_sub(0, x); });
    case UnaryOp::Abs: return map1<T, T>(out, in, [](T x) { return x < 0 ? wrap_sub(0, x) : x; });
    case UnaryOp::Sign: return map1<T, T>(out, in, [](T x) { return T((0 < x) - (x < 0)); });
    case UnaryOp::Square: return map1<T, T>(out, in, [](T x) { return wrap_mul(x, x); });
    case UnaryOp::Relu: return map1<T, T>(out, in, [](T x) { return x < 0 ? T(0) : x; });
    case UnaryOp::Floor: case UnaryOp::Ceil: case UnaryOp::Round: case UnaryOp::Trunc:
      return map1<T, T>(out, in, [](T x) { return x; });
    case UnaryOp::Clamp: {
      const T lo = std::isnan(p0) ? std::numeric_limits<T>::min() : scalar_to<T>(p0);
      const T hi = std::isnan(p1) ? std::numeric_limits<T>::max() : scalar_to<T>(p1);
      return map1<T, T>(out, in, [=](T x) {
        const T r = x < lo ? lo : x;
        return r > hi ? hi : r;
      });
    }
    case UnaryOp::AddScalar: {
      const T s = scalar_to<T>(p0);
      return map1<T, T>(out, in, [s](T x) { return wrap_add(x, s); });
    }
    case UnaryOp::MulScalar: {
      const T s = scalar_to<T>(p0);
      return map1<T, T>(out, in, [s](T x) { return wrap_mul(x, s); });
    }
    case UnaryOp::RSubScalar: {
      const T s = scalar_to<T>(p0);
      return map1<T, T>(out, in, [s](T x) { return wrap_sub(s, x); });
    }
    case UnaryOp::PowScalar: {
      const T e = scalar_to<T>(p0);
      return map1<T, T>(out, in, [e](T x) { return ipow(x, e); });
    }
    default: break;
  }
  unsupported("this unary op", DType::Int64);
}

// ---------------------------------------------------------------------------------------------
// activation gradients: grad_in = grad_out * f'(v), v = x or y

template <typename T>
void activation_grad_float(ActivationGrad op, const View& gi, const View& go, const View& x,
                           const View& y, double p0, double p1) {
  const MathConsts mc = math_consts();
  switch (op) {
    case ActivationGrad::Tanh:
      return map2<T, T, T>(gi, go, y, [](T g, T v) { return g * (T(1) - v * v); });
    case ActivationGrad::Sigmoid:
      return map2<T, T, T>(gi, go, y, [](T g, T v) { return g * (v * (T(1) - v)); });
    case ActivationGrad::Relu:
      // NaN outputs pass the gradient on, as PyTorch's threshold_backward does.
      return map2<T, T, T>(gi, go, y, [](T g, T v) { return v <= T(0) ? T(0) : g; });
    case ActivationGrad::LeakyRelu: {
      const T slope = static_cast<T>(p0);
      return map2<T, T, T>(gi, go, x, [slope](T g, T v) { return g * blend(v > T(0), T(1), slope); });
    }
    case ActivationGrad::Gelu:
      return map2_heavy<T, T, T>(gi, go, x, [mc](T g, T v) { return g * gelu_grad(v, mc); });
    case ActivationGrad::GeluTanh:
      return map2_heavy<T, T, T>(gi, go, x, [mc](T g, T v) { return g * gelu_tanh_grad(v, mc); });
    case ActivationGrad::Softplus: {
      // d/dx log1p(exp(beta x)) / beta = sigmoid(beta x); 1 above the threshold.
      const T beta = static_cast<T>(p0), threshold = static_cast<T>(p1);
      return map2_heavy<T, T, T>(gi, go, x, [=](T g, T v) {
        const T bx = v * beta;
        return g * blend(bx > threshold, T(1), sigmoid(bx, mc));
      });
    }
    case ActivationGrad::Clamp: {
      const T lo = std::isnan(p0) ? -std::numeric_limits<T>::infinity() : static_cast<T>(p0);
      const T hi = std::isnan(p1) ? std::numeric_limits<T>::infinity() : static_cast<T>(p1);
      const bool unbounded = std::isnan(p0) && std::isnan(p1);
      if (unbounded) return map2<T, T, T>(gi, go, x, [](T g, T) { return g; });
      return map2<T, T, T>(gi, go, x, [=](T g, T v) { return (v >= lo && v <= hi) ? g : T(0); });
    }
  }
  unsupported("this activation gradient", gi.dtype);
}

}  // namespace

void unary(UnaryOp op, const View& out, const View& in, double p0, double p1) {
  if (op == UnaryOp::LogicalNot) {
    if (out.dtype != DType::Bool) unsupported("logical_not output", out.dtype);
    dispatch_all(in.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      map1<Bool, T>(out, in, [](T x) { return Bool(x == T(0)); });
    });
    return;
  }
  if (out.dtype != in.dtype) unsupported("unary op with differing input dtype", in.dtype);
  switch (out.dtype) {
    case DType::Float32: return unary_float<float>(op, out, in, p0, p1);
    case DType::Float64: return unary_float<double>(op, out, in, p0, p1);
    case DType::Int64: return unary_int(op, out, in, p0, p1);
    case DType::Bool: break;
  }
  unsupported("this unary op", out.dtype);
}

void activation_grad(ActivationGrad op, const View& grad_in, const View& grad_out, const View& x,
                     const View& y, double p0, double p1) {
  switch (grad_in.dtype) {
    case DType::Float32: return activation_grad_float<float>(op, grad_in, grad_out, x, y, p0, p1);
    case DType::Float64: return activation_grad_float<double>(op, grad_in, grad_out, x, y, p0, p1);
    default: break;
  }
  unsupported("activation gradients", grad_in.dtype);
}

}  // namespace tg::kernels::cpu
