// Every differentiable op: its forward (a native call) and, right beside it, its backward
// formula. Formulas receive g.out (gradients w.r.t. the outputs) and fill g.in (w.r.t. the
// inputs); the engine sums gradients over broadcast dims and casts them to the input's dtype, so
// formulas may return a gradient of the broadcast shape.
#include <algorithm>
#include <cmath>
#include <limits>

#include "../core/native.h"
#include "functions.h"

namespace tg {

using autograd::Grads;
using autograd::needs_grad;
using autograd::record;
using autograd::SavedTensor;
using kernels::ActivationGrad;
using kernels::BinaryOp;
using kernels::ReduceOp;
using kernels::UnaryOp;

namespace {

SavedTensor save(const Tensor& t) { return SavedTensor(t); }
SavedTensor save_output(const Tensor& t) { return SavedTensor(t, true); }

constexpr double kNoBound = std::numeric_limits<double>::quiet_NaN();

// g (shape of a reduction's output) brought back to the input's shape by broadcasting.
Tensor expand_reduced(const Tensor& g, const Shape& in_shape, const std::vector<int64_t>& dims,
                      bool keepdim) {
  Tensor out = g;
  if (!keepdim)
    for (int64_t d : dims) out = unsqueeze(out, d);
  return expand(out, in_shape);
}

// A matrix (or batch of them) stored column-major: a transpose of a contiguous tensor.
bool is_transposed_matrix(const Tensor& t) {
  const int64_t n = t.dim();
  return n >= 2 && t.strides()[n - 2] == 1 && t.strides()[n - 1] != 1 && t.sizes()[n - 2] > 1;
}

int64_t reduced_count(const Tensor& x, const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= x.sizes()[d];
  return n;
}

// f''(x) of the activations whose gradient reads x, as differentiable ops (double backward).
Tensor activation_second_derivative(ActivationGrad op, const Tensor& x, double p0, double p1) {
  switch (op) {
    case ActivationGrad::LeakyRelu:
    case ActivationGrad::Clamp:
      return zeros_like(x);
    case ActivationGrad::Gelu: {  // d/dx (Phi(x) + x phi(x)) = phi(x) (2 - x^2)
      const double inv_sqrt_2pi = 0.3989422804014327;
      Tensor x2 = mul(x, x);
      return mul(mul(exp(mul(x2, -0.5)), inv_sqrt_2pi), rsub(x2, 2.0));
    }
    case ActivationGrad::GeluTanh: {
      // u = c (x + a x^3), t = tanh(u): f' = (1 + t) / 2 + x (1 - t^2) u' / 2, and
      // f'' = (1 - t^2) (u' - x t u'^2 + x u'' / 2).
      const double c = 0.7978845608028654, a = 0.044715;
      Tensor x2 = mul(x, x);
      Tensor t = tanh(mul(add(x, mul(mul(x2, x), a)), c));
      Tensor du = mul(add(mul(x2, 3.0 * a), 1.0), c);
      Tensor d2u = mul(x, 6.0 * a * c);
      Tensor inner = add(sub(du, mul(mul(x, t), mul(du, du))), mul(mul(x, d2u), 0.5));
      return mul(rsub(mul(t, t), 1.0), inner);
    }
    case ActivationGrad::Softplus: {  // beta s (1 - s), s = sigmoid(beta x); 0 past the threshold
      Tensor s = sigmoid(mul(x, p0));
      return where(gt(mul(x, p0), native::scalar_like(x, p1)), zeros_like(x),
                   mul(mul(s, rsub(s, 1.0)), p0));
    }
    default:
      TG_FAIL(Runtime, "activation_second_derivative: the gradient of this activation reads y");
  }
}

// f'(x) as a tensor on the tape, for formulas differentiated again (create_graph).
Tensor activation_derivative(const char* name, ActivationGrad op, const Tensor& x, double p0,
                             double p1) {
  Tensor d = native::activation_grad(op, ones_like(x), x, Tensor(), p0, p1);
  if (needs_grad({&x}))
    record(name, {x}, {d}, [sx = save(x), op, p0, p1](Grads& g) {
      g.in[0] = mul(g.g(), activation_second_derivative(op, sx.get(), p0, p1));
    });
  return d;
}

Tensor unary_with_grad(const char* name, UnaryOp op, const Tensor& x, ActivationGrad grad_op,
                       bool grad_uses_output, double p0 = 0, double p1 = 0) {
  Tensor y = native::unary(name, op, x, p0, p1);
  if (needs_grad({&x})) {
    SavedTensor saved = grad_uses_output ? save_output(y) : save(x);
    record(name, {x}, {y}, [name, saved, grad_op, grad_uses_output, p0, p1](Grads& g) {
      const Tensor s = saved.get();
      if (!autograd::is_grad_enabled()) {  // the fused kernel; no history needed
        g.in[0] = native::activation_grad(grad_op, g.g(), grad_uses_output ? Tensor() : s,
                                          grad_uses_output ? s : Tensor(), p0, p1);
        return;
      }
      // create_graph: the formula with differentiable ops, so it can be differentiated again.
      switch (grad_op) {
        case ActivationGrad::Tanh: g.in[0] = mul(g.g(), rsub(mul(s, s), 1.0)); break;
        case ActivationGrad::Sigmoid: g.in[0] = mul(g.g(), mul(s, rsub(s, 1.0))); break;
        case ActivationGrad::Relu:
          g.in[0] = where(le(s, native::scalar_like(s, 0.0)), zeros_like(g.g()), g.g());
          break;
        default: g.in[0] = mul(g.g(), activation_derivative(name, grad_op, s, p0, p1));
      }
    });
  }
  return y;
}

}  // namespace

// ============================================================== pointwise, two tensors

Tensor add(const Tensor& a, const Tensor& b, double alpha) {
  Tensor out = alpha == 1.0 ? native::binary("add", BinaryOp::Add, a, b)
                            : native::binary("add", BinaryOp::Add, a,
                                             native::unary("add", UnaryOp::MulScalar, b, alpha));
  if (needs_grad({&a, &b}))
    record("add", {a, b}, {out}, [alpha](Grads& g) {
      g.in[0] = g.g();
      if (g.needs(1)) g.in[1] = alpha == 1.0 ? g.g() : mul(g.g(), alpha);
    });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b, double alpha) {
  Tensor out = alpha == 1.0 ? native::binary("sub", BinaryOp::Sub, a, b)
                            : native::binary("sub", BinaryOp::Sub, a,
                                             native::unary("sub", UnaryOp::MulScalar, b, alpha));
  if (needs_grad({&a, &b}))
    record("sub", {a, b}, {out}, [alpha](Grads& g) {
      g.in[0] = g.g();
      if (g.needs(1)) g.in[1] = mul(g.g(), -alpha);
    });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = native::binary("mul", BinaryOp::Mul, a, b);
  if (needs_grad({&a, &b}))
    record("mul", {a, b}, {out}, [sa = save(a), sb = save(b)](Grads& g) {
      if (g.needs(0)) g.in[0] = mul(g.g(), sb.get());
      if (g.needs(1)) g.in[1] = mul(g.g(), sa.get());
    });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = native::binary("div", BinaryOp::Div, a, b);
  if (needs_grad({&a, &b}))
    record("div", {a, b}, {out}, [sa = save(a), sb = save(b)](Grads& g) {
      const Tensor& bv = sb.get();
      if (g.needs(0)) g.in[0] = div(g.g(), bv);
      if (g.needs(1)) g.in[1] = neg(div(mul(g.g(), sa.get()), mul(bv, bv)));
    });
  return out;
}

Tensor pow(const Tensor& a, const Tensor& exponent) {
  Tensor out = native::binary("pow", BinaryOp::Pow, a, exponent);
  if (needs_grad({&a, &exponent}))
    record("pow", {a, exponent}, {out},
           [sa = save(a), se = save(exponent), so = save_output(out)](Grads& g) {
             const Tensor& base = sa.get();
             const Tensor& e = se.get();
             if (g.needs(0)) g.in[0] = mul(g.g(), mul(e, pow(base, sub(e, native::scalar_like(e, 1.0)))));
             if (g.needs(1)) {
               // d/de a^e = a^e log a, taken as 0 where a == 0 and e >= 0 (the limit).
               Tensor d = mul(so.get(), log(base));
               Tensor zero_base = logical_and(eq(base, native::scalar_like(base, 0.0)),
                                              ge(e, native::scalar_like(e, 0.0)));
               g.in[1] = mul(g.g(), masked_fill(d, zero_base, 0.0));
             }
           });
  return out;
}

namespace {
// maximum / minimum: the gradient goes to the winning operand; ties split it evenly.
Tensor extremum(const char* name, BinaryOp op, const Tensor& a, const Tensor& b) {
  Tensor out = native::binary(name, op, a, b);
  if (needs_grad({&a, &b}))
    record(name, {a, b}, {out}, [op, sa = save(a), sb = save(b)](Grads& g) {
      Tensor half = mul(g.g(), 0.5);
      Tensor tie = eq(sa.get(), sb.get());
      Tensor a_wins = op == BinaryOp::Maximum ? gt(sa.get(), sb.get()) : lt(sa.get(), sb.get());
      Tensor zero = zeros_like(g.g());
      if (g.needs(0)) g.in[0] = where(tie, half, where(a_wins, g.g(), zero));
      if (g.needs(1)) g.in[1] = where(tie, half, where(a_wins, zero, g.g()));
    });
  return out;
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) { return extremum("maximum", BinaryOp::Maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum("minimum", BinaryOp::Minimum, a, b); }

// ============================================================== pointwise, tensor and scalar

Tensor add(const Tensor& a, double b) {
  Tensor out = native::unary("add", UnaryOp::AddScalar, a, b);
  if (needs_grad({&a})) record("add", {a}, {out}, [](Grads& g) { g.in[0] = g.g(); });
  return out;
}

Tensor mul(const Tensor& a, double b) {
  Tensor out = native::unary("mul", UnaryOp::MulScalar, a, b);
  if (needs_grad({&a})) record("mul", {a}, {out}, [b](Grads& g) { g.in[0] = mul(g.g(), b); });
  return out;
}

Tensor rsub(const Tensor& a, double b) {
  Tensor out = native::unary("rsub", UnaryOp::RSubScalar, a, b);
  if (needs_grad({&a})) record("rsub", {a}, {out}, [](Grads& g) { g.in[0] = neg(g.g()); });
  return out;
}

Tensor rdiv(const Tensor& a, double b) {
  Tensor out = native::unary("div", UnaryOp::RDivScalar, a, b);
  if (needs_grad({&a}))
    record("div", {a}, {out}, [sa = save(a), so = save_output(out)](Grads& g) {
      g.in[0] = neg(div(mul(g.g(), so.get()), sa.get()));
    });
  return out;
}

Tensor pow(const Tensor& a, double exponent) {
  Tensor out = native::unary("pow", UnaryOp::PowScalar, a, exponent);
  if (needs_grad({&a}))
    record("pow", {a}, {out}, [sa = save(a), exponent](Grads& g) {
      if (exponent == 0.0) g.in[0] = zeros_like(g.g());
      else g.in[0] = mul(g.g(), mul(pow(sa.get(), exponent - 1.0), exponent));
    });
  return out;
}

Tensor pow(double base, const Tensor& exponent) {
  Tensor out = native::unary("pow", UnaryOp::RPowScalar, exponent, base);
  if (needs_grad({&exponent}))
    record("pow", {exponent}, {out}, [so = save_output(out), base](Grads& g) {
      g.in[0] = base == 0.0 ? zeros_like(g.g()) : mul(mul(g.g(), so.get()), std::log(base));
    });
  return out;
}

// ============================================================== pointwise, one tensor

Tensor neg(const Tensor& x) {
  TG_CHECK(x.dtype() != kBool, Type,
           "neg: negation (the - operator) of a bool tensor is not supported; use logical_not()");
  Tensor out = native::unary("neg", UnaryOp::Neg, x);
  if (needs_grad({&x})) record("neg", {x}, {out}, [](Grads& g) { g.in[0] = neg(g.g()); });
  return out;
}

Tensor exp(const Tensor& x) {
  Tensor out = native::unary("exp", UnaryOp::Exp, x);
  if (needs_grad({&x}))
    record("exp", {x}, {out}, [so = save_output(out)](Grads& g) { g.in[0] = mul(g.g(), so.get()); });
  return out;
}

Tensor log(const Tensor& x) {
  Tensor out = native::unary("log", UnaryOp::Log, x);
  if (needs_grad({&x}))
    record("log", {x}, {out}, [sx = save(x)](Grads& g) { g.in[0] = div(g.g(), sx.get()); });
  return out;
}

Tensor sqrt(const Tensor& x) {
  Tensor out = native::unary("sqrt", UnaryOp::Sqrt, x);
  if (needs_grad({&x}))
    record("sqrt", {x}, {out}, [so = save_output(out)](Grads& g) {
      g.in[0] = div(g.g(), mul(so.get(), 2.0));
    });
  return out;
}

Tensor rsqrt(const Tensor& x) {
  Tensor out = native::unary("rsqrt", UnaryOp::Rsqrt, x);
  if (needs_grad({&x}))
    record("rsqrt", {x}, {out}, [so = save_output(out)](Grads& g) {
      g.in[0] = mul(mul(g.g(), pow(so.get(), 3.0)), -0.5);
    });
  return out;
}

Tensor square(const Tensor& x) {
  Tensor out = native::unary("square", UnaryOp::Square, x);
  if (needs_grad({&x}))
    record("square", {x}, {out}, [sx = save(x)](Grads& g) { g.in[0] = mul(mul(g.g(), sx.get()), 2.0); });
  return out;
}

Tensor abs(const Tensor& x) {
  Tensor out = native::unary("abs", UnaryOp::Abs, x);
  if (needs_grad({&x}))
    record("abs", {x}, {out}, [sx = save(x)](Grads& g) { g.in[0] = mul(g.g(), sign(sx.get())); });
  return out;
}

Tensor sign(const Tensor& x) {
  Tensor out = native::unary("sign", UnaryOp::Sign, x);
  if (needs_grad({&x})) record("sign", {x}, {out}, [](Grads& g) { g.in[0] = zeros_like(g.g()); });
  return out;
}

Tensor sin(const Tensor& x) {
  Tensor out = native::unary("sin", UnaryOp::Sin, x);
  if (needs_grad({&x}))
    record("sin", {x}, {out}, [sx = save(x)](Grads& g) { g.in[0] = mul(g.g(), cos(sx.get())); });
  return out;
}

Tensor cos(const Tensor& x) {
  Tensor out = native::unary("cos", UnaryOp::Cos, x);
  if (needs_grad({&x}))
    record("cos", {x}, {out}, [sx = save(x)](Grads& g) { g.in[0] = neg(mul(g.g(), sin(sx.get()))); });
  return out;
}

Tensor log1p(const Tensor& x) {
  Tensor out = native::unary("log1p", UnaryOp::Log1p, x);
  if (needs_grad({&x}))
    record("log1p", {x}, {out}, [sx = save(x)](Grads& g) { g.in[0] = div(g.g(), add(sx.get(), 1.0)); });
  return out;
}

namespace {
// Piecewise constant: the gradient is zero wherever it is defined, as PyTorch.
Tensor rounding(const char* name, UnaryOp op, const Tensor& x) {
  Tensor out = native::unary(name, op, x);
  if (needs_grad({&x})) record(name, {x}, {out}, [](Grads& g) { g.in[0] = zeros_like(g.g()); });
  return out;
}
}  // namespace

Tensor floor(const Tensor& x) { return rounding("floor", UnaryOp::Floor, x); }
Tensor ceil(const Tensor& x) { return rounding("ceil", UnaryOp::Ceil, x); }
Tensor round(const Tensor& x) { return rounding("round", UnaryOp::Round, x); }
Tensor trunc(const Tensor& x) { return rounding("trunc", UnaryOp::Trunc, x); }

Tensor reciprocal(const Tensor& x) {
  Tensor out = native::unary("reciprocal", UnaryOp::Reciprocal, x);
  if (needs_grad({&x}))
    record("reciprocal", {x}, {out}, [so = save_output(out)](Grads& g) {
      const Tensor& y = so.get();
      g.in[0] = neg(mul(g.g(), mul(y, y)));  // d(1/x) = -1/x^2 = -y^2
    });
  return out;
}

Tensor erf(const Tensor& x) {
  Tensor out = native::unary("erf", UnaryOp::Erf, x);
  if (needs_grad({&x}))
    record("erf", {x}, {out}, [sx = save(x)](Grads& g) {
      const Tensor& v = sx.get();
      g.in[0] = mul(g.g(), mul(exp(neg(mul(v, v))), 1.1283791670955126));  // 2/sqrt(pi) e^-x^2
    });
  return out;
}

namespace {
// a - b * q with q = floor(a / b) (remainder) or trunc(a / b) (fmod): d/da = 1, d/db = -q.
Tensor modulo(const char* name, BinaryOp op, const Tensor& a, const Tensor& b) {
  if (!is_floating(native::result_type(a, b)))
    TG_CHECK(!native::reduce(name, ReduceOp::Any, native::binary(name, BinaryOp::Eq, b, zeros_like(b)),
                             {}, false).item<bool>(),
             Value, name, ": integer division by zero");
  Tensor out = native::binary(name, op, a, b);
  if (needs_grad({&a, &b}))
    record(name, {a, b}, {out}, [op, sa = save(a), sb = save(b)](Grads& g) {
      g.in[0] = g.g();
      if (g.needs(1)) {
        Tensor q = div(sa.get(), sb.get());
        g.in[1] = neg(mul(g.g(), op == BinaryOp::Remainder ? floor(q) : trunc(q)));
      }
    });
  return out;
}
}  // namespace

Tensor remainder(const Tensor& a, const Tensor& b) { return modulo("remainder", BinaryOp::Remainder, a, b); }
Tensor fmod(const Tensor& a, const Tensor& b) { return modulo("fmod", BinaryOp::Fmod, a, b); }

Tensor expm1(const Tensor& x) {
  Tensor out = native::unary("expm1", UnaryOp::Expm1, x);
  if (needs_grad({&x}))
    record("expm1", {x}, {out}, [so = save_output(out)](Grads& g) {
      g.in[0] = mul(g.g(), add(so.get(), 1.0));
    });
  return out;
}

Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  TG_CHECK(min || max, Value, "clamp: at least one of min and max must be given");
  return unary_with_grad("clamp", UnaryOp::Clamp, x, ActivationGrad::Clamp, false,
                         min.value_or(kNoBound), max.value_or(kNoBound));
}

Tensor tanh(const Tensor& x) {
  return unary_with_grad("tanh", UnaryOp::Tanh, x, ActivationGrad::Tanh, true);
}
Tensor sigmoid(const Tensor& x) {
  return unary_with_grad("sigmoid", UnaryOp::Sigmoid, x, ActivationGrad::Sigmoid, true);
}
Tensor relu(const Tensor& x) {
  return unary_with_grad("relu", UnaryOp::Relu, x, ActivationGrad::Relu, true);
}
Tensor leaky_relu(const Tensor& x, double negative_slope) {
  return unary_with_grad("leaky_relu", UnaryOp::LeakyRelu, x, ActivationGrad::LeakyRelu, false,
                         negative_slope);
}
Tensor gelu(const Tensor& x, const std::string& approximate) {
  TG_CHECK(approximate == "none" || approximate == "tanh", Value,
           "gelu: approximate must be \"none\" or \"tanh\", got \"", approximate, "\"");
  return approximate == "tanh"
             ? unary_with_grad("gelu", UnaryOp::GeluTanh, x, ActivationGrad::GeluTanh, false)
             : unary_with_grad("gelu", UnaryOp::Gelu, x, ActivationGrad::Gelu, false);
}
Tensor softplus(const Tensor& x, double beta, double threshold) {
  TG_CHECK(beta != 0, Value, "softplus: beta must be nonzero");
  return unary_with_grad("softplus", UnaryOp::Softplus, x, ActivationGrad::Softplus, false, beta,
                         threshold);
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  Tensor out = native::where(cond, a, b);
  if (needs_grad({&a, &b}))
    record("where", {a, b}, {out}, [sc = save(cond)](Grads& g) {
      Tensor zero = zeros_like(g.g());
      if (g.needs(0)) g.in[0] = where(sc.get(), g.g(), zero);
      if (g.needs(1)) g.in[1] = where(sc.get(), zero, g.g());
    });
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, double b) { return where(cond, a, native::scalar_like(a, b)); }

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  TG_CHECK(mask.dtype() == kBool, Type, "masked_fill: mask must be a bool tensor, got ", mask.dtype());
  TG_CHECK(broadcast_shapes("masked_fill", x.sizes(), mask.sizes()) == x.sizes(), Value,
           "masked_fill: mask of shape ", mask.sizes(), " cannot be broadcast to ", x.sizes());
  // The result keeps x's dtype (an int64 tensor filled with 1.5 gets 1), as PyTorch's does.
  return where(mask, native::to_dtype(native::scalar_like(x, value), x.dtype()), x);
}

Tensor eq(const Tensor& a, const Tensor& b) { return native::binary("eq", BinaryOp::Eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return native::binary("ne", BinaryOp::Ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return native::binary("lt", BinaryOp::Lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return native::binary("le", BinaryOp::Le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return native::binary("gt", BinaryOp::Gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return native::binary("ge", BinaryOp::Ge, a, b); }
Tensor logical_not(const Tensor& x) { return native::unary("logical_not", UnaryOp::LogicalNot, x); }
Tensor logical_and(const Tensor& a, const Tensor& b) {
  return native::binary("logical_and", BinaryOp::LogicalAnd, a, b);
}
Tensor logical_or(const Tensor& a, const Tensor& b) {
  return native::binary("logical_or", BinaryOp::LogicalOr, a, b);
}

// ============================================================== reductions

Tensor sum(const Tensor& x, const Shape& dims, bool keepdim) {
  Tensor out = native::reduce("sum", ReduceOp::Sum, x, dims, keepdim);
  if (needs_grad({&x}))
    record("sum", {x}, {out},
           [shape = x.sizes(), rd = native::reduce_dims("sum", x, dims), keepdim](Grads& g) {
             g.in[0] = expand_reduced(g.g(), shape, rd, keepdim);
           });
  return out;
}

Tensor norm(const Tensor& x, double p, const Shape& dims, bool keepdim) {
  native::check_floating("norm", x);
  if (p == 1.0) return sum(abs(x), dims, keepdim);
  if (std::isinf(p)) return p > 0 ? amax(abs(x), dims, keepdim) : amin(abs(x), dims, keepdim);
  if (p == 0.0) {  // the count of nonzeros: not differentiable
    Tensor nonzero = native::binary("norm", BinaryOp::Ne, x, zeros_like(x));
    return native::reduce("norm", ReduceOp::Sum, native::to_dtype(nonzero, x.dtype()), dims, keepdim);
  }
  if (p != 2.0) return pow(sum(pow(abs(x), p), dims, keepdim), 1.0 / p);
  Tensor squares = native::binary("norm", BinaryOp::Mul, x, x);
  Tensor out = native::unary("norm", UnaryOp::Sqrt, native::reduce("norm", ReduceOp::Sum, squares, dims, keepdim));
  if (needs_grad({&x}))
    record("norm", {x}, {out},
           [sx = save(x), so = save_output(out), rd = native::reduce_dims("norm", x, dims), keepdim](Grads& g) {
             const Tensor& v = sx.get();
             // x / |x|, and 0 where |x| = 0 (PyTorch's subgradient) instead of 0 / 0.
             Tensor n = expand_reduced(so.get(), v.sizes(), rd, keepdim);
             Tensor scale = expand_reduced(g.g(), v.sizes(), rd, keepdim);
             Tensor zero = eq(n, zeros_like(n));
             g.in[0] = where(zero, zeros_like(v), div(mul(scale, v), masked_fill(n, zero, 1.0)));
           });
  return out;
}

Tensor mean(const Tensor& x, const Shape& dims, bool keepdim) {
  native::check_floating("mean", x);
  const auto rd = native::reduce_dims("mean", x, dims);
  const double n = static_cast<double>(reduced_count(x, rd));
  Tensor out = native::reduce("mean", ReduceOp::Sum, x, dims, keepdim);
  native::unary_("mean", UnaryOp::MulScalar, out, 1.0 / n);
  if (needs_grad({&x}))
    record("mean", {x}, {out}, [shape = x.sizes(), rd, keepdim, n](Grads& g) {
      g.in[0] = expand_reduced(mul(g.g(), 1.0 / n), shape, rd, keepdim);
    });
  return out;
}

Tensor var(const Tensor& x, const Shape& dims, int64_t correction, bool keepdim) {
  native::check_floating("var", x);
  const auto rd = native::reduce_dims("var", x, dims);
  const double n = static_cast<double>(reduced_count(x, rd));
  const double denom = std::max(0.0, n - static_cast<double>(correction));
  Tensor m = native::reduce("var", ReduceOp::Sum, x, dims, true);
  native::unary_("var", UnaryOp::MulScalar, m, 1.0 / n);
  Tensor centered = native::binary("var", BinaryOp::Sub, x, m);
  Tensor out = native::reduce("var", ReduceOp::Sum,
                              native::binary("var", BinaryOp::Mul, centered, centered), dims, keepdim);
  native::unary_("var", UnaryOp::MulScalar, out, 1.0 / denom);
  if (needs_grad({&x}))
    // x - mean(x) recomputed from x with differentiable ops (as PyTorch's var_backward): saved as
    // a plain tensor it would lose its dependence on x, and gradients of gradients with it.
    record("var", {x}, {out}, [sx = save(x), rd, keepdim, denom](Grads& g) {
      const Tensor& xv = sx.get();
      Tensor centered_x = sub(xv, mean(xv, Shape(rd.begin(), rd.end()), true));
      g.in[0] = mul(expand_reduced(g.g(), xv.sizes(), rd, keepdim), mul(centered_x, 2.0 / denom));
    });
  return out;
}

Tensor std(const Tensor& x, const Shape& dims, int64_t correction, bool keepdim) {
  return sqrt(var(x, dims, correction, keepdim));
}

namespace {
Tensor extreme_all(const char* name, ReduceOp op, const Tensor& x, const Shape& dims, bool keepdim) {
  Tensor out = native::reduce(name, op, x, dims, keepdim);
  if (needs_grad({&x}))
    record(name, {x}, {out},
           [sx = save(x), so = save_output(out), rd = native::reduce_dims(name, x, dims), keepdim](Grads& g) {
             // Ties share the gradient evenly.
             const Tensor& xv = sx.get();
             Tensor hit = eq(xv, expand_reduced(so.get(), xv.sizes(), rd, keepdim)).to(xv.dtype());
             Tensor count = native::reduce("backward", ReduceOp::Sum, hit, Shape(rd.begin(), rd.end()), true);
             g.in[0] = div(mul(expand_reduced(g.g(), xv.sizes(), rd, keepdim), hit), count);
           });
  return out;
}

std::tuple<Tensor, Tensor> extreme_dim(const char* name, ReduceOp value_op, ReduceOp index_op,
                                       const Tensor& x, int64_t dim, bool keepdim) {
  dim = wrap_dim(name, dim, x.dim());
  Tensor values = native::reduce(name, value_op, x, {dim}, keepdim);
  Tensor indices = native::reduce(name, index_op, x, {dim}, keepdim);
  if (needs_grad({&x}))
    record(name, {x}, {values}, [si = save(indices), shape = x.sizes(), dim, keepdim](Grads& g) {
      Tensor idx = keepdim || shape.empty() ? si.get() : unsqueeze(si.get(), dim);
      Tensor gv = keepdim || shape.empty() ? g.g() : unsqueeze(g.g(), dim);
      if (shape.empty()) {
        g.in[0] = g.g();
        return;
      }
      g.in[0] = scatter_add(zeros(shape, g.g().options()), dim, idx, gv);
    });
  return {values, indices};
}
}  // namespace

Tensor amax(const Tensor& x, const Shape& dims, bool keepdim) {
  return extreme_all("amax", ReduceOp::Max, x, dims, keepdim);
}
Tensor amin(const Tensor& x, const Shape& dims, bool keepdim) {
  return extreme_all("amin", ReduceOp::Min, x, dims, keepdim);
}
std::tuple<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  return extreme_dim("max", ReduceOp::Max, ReduceOp::ArgMax, x, dim, keepdim);
}
std::tuple<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  return extreme_dim("min", ReduceOp::Min, ReduceOp::ArgMin, x, dim, keepdim);
}

Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  if (!dim) {
    Tensor flat = native::reshape(x, {-1});
    Tensor out = native::reduce("argmax", ReduceOp::ArgMax, flat, {0}, false);
    return keepdim ? native::reshape(out, Shape(x.dim(), 1)) : out;
  }
  return native::reduce("argmax", ReduceOp::ArgMax, x, {*dim}, keepdim);
}

Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  if (!dim) {
    Tensor flat = native::reshape(x, {-1});
    Tensor out = native::reduce("argmin", ReduceOp::ArgMin, flat, {0}, false);
    return keepdim ? native::reshape(out, Shape(x.dim(), 1)) : out;
  }
  return native::reduce("argmin", ReduceOp::ArgMin, x, {*dim}, keepdim);
}

Tensor logsumexp(const Tensor& x, const Shape& dims, bool keepdim) {
  native::check_floating("logsumexp", x);
  const auto rd = native::reduce_dims("logsumexp", x, dims);
  // Shift by the (constant) max; an infinite max would give inf - inf, so use 0 there.
  Tensor m = native::reduce("logsumexp", ReduceOp::Max, x, dims, true);
  Tensor inf_max = native::binary("logsumexp", BinaryOp::Eq,
                                  native::unary("logsumexp", UnaryOp::Abs, m),
                                  native::scalar_like(m, std::numeric_limits<double>::infinity()));
  m = native::where(inf_max, native::scalar_like(m, 0.0), m);
  Tensor out = add(log(sum(exp(sub(x, m)), Shape(rd.begin(), rd.end()), true)), m);
  return keepdim ? out : reshape(out, native::reduce("logsumexp", ReduceOp::Sum, m, dims, false).sizes());
}

Tensor any(const Tensor& x, const Shape& dims, bool keepdim) {
  return native::reduce("any", ReduceOp::Any, x, dims, keepdim);
}
Tensor all(const Tensor& x, const Shape& dims, bool keepdim) {
  return native::reduce("all", ReduceOp::All, x, dims, keepdim);
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  Tensor out = native::sum_to(x, shape);
  if (!out.is_same(x) && needs_grad({&x}))
    record("sum_to", {x}, {out}, [shape = x.sizes()](Grads& g) { g.in[0] = expand(g.g(), shape); });
  return out;
}

// ============================================================== matmul, softmax

namespace {
// The gradients of a @ b (batched or not) w.r.t. a and b. A transposed operand (x @ W.t()) gets
// its gradient computed transposed, so that the transpose's own backward hands a contiguous
// gradient to W.
Tensor mm_grad_a(const Tensor& g, const Tensor& a, const Tensor& b) {
  return is_transposed_matrix(a) ? transpose(matmul(b, transpose(g, -1, -2)), -1, -2)
                                 : matmul(g, transpose(b, -1, -2));
}
Tensor mm_grad_b(const Tensor& g, const Tensor& a, const Tensor& b) {
  return is_transposed_matrix(b) ? transpose(matmul(transpose(g, -1, -2), a), -1, -2)
                                 : matmul(transpose(a, -1, -2), g);
}
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  Tensor out = native::matmul(a, b);
  if (needs_grad({&a, &b}))
    record("matmul", {a, b}, {out}, [sa = save(a), sb = save(b)](Grads& g) {
      const Tensor& av = sa.get();
      const Tensor& bv = sb.get();
      if (av.dim() == 1 && bv.dim() == 1) {
        if (g.needs(0)) g.in[0] = mul(g.g(), bv);
        if (g.needs(1)) g.in[1] = mul(g.g(), av);
        return;
      }
      // Restore the dims matmul dropped for 1-D operands, then the 2-D rule applies per batch
      // (the engine sums over broadcast batch dims and the unit dims).
      Tensor a2 = av.dim() == 1 ? unsqueeze(av, 0) : av;
      Tensor b2 = bv.dim() == 1 ? unsqueeze(bv, 1) : bv;
      Tensor g2 = g.g();
      if (av.dim() == 1) g2 = unsqueeze(g2, -2);
      if (bv.dim() == 1) g2 = unsqueeze(g2, -1);
      if (g.needs(0)) {
        Tensor ga = mm_grad_a(g2, a2, b2);
        g.in[0] = av.dim() == 1 ? reshape(sum_to(ga, {1, av.sizes()[0]}), av.sizes()) : ga;
      }
      if (g.needs(1)) {
        Tensor gb;
        if (b2.dim() == 2 && a2.dim() > 2) {
          // Batched input times one matrix: fold the batch into one GEMM.
          const int64_t k = a2.sizes().back(), n = g2.sizes().back();
          Tensor a_rows = reshape(a2, {-1, k}), g_rows = reshape(g2, {-1, n});
          gb = is_transposed_matrix(b2) ? transpose(matmul(transpose(g_rows, 0, 1), a_rows), 0, 1)
                                        : matmul(transpose(a_rows, 0, 1), g_rows);
        } else {
          gb = mm_grad_b(g2, a2, b2);
        }
        g.in[1] = bv.dim() == 1 ? reshape(sum_to(gb, {bv.sizes()[0], 1}), bv.sizes()) : gb;
      }
    });
  return out;
}

Tensor addmm(const Tensor& bias, const Tensor& a, const Tensor& b) {
  Tensor out = native::addmm(bias, a, b);
  if (needs_grad({&bias, &a, &b}))
    record("addmm", {bias, a, b}, {out}, [sa = save(a), sb = save(b)](Grads& g) {
      if (g.needs(0)) g.in[0] = g.g();  // the engine sums it down to the bias's shape
      if (g.needs(1)) g.in[1] = mm_grad_a(g.g(), sa.get(), sb.get());
      if (g.needs(2)) g.in[2] = mm_grad_b(g.g(), sa.get(), sb.get());
    });
  return out;
}

namespace {
// Records the backward of a (log-)softmax whose output is `out` (masked softmax too: its masked
// entries are 0 in y, so the same formula gives them no gradient).
void record_softmax(const char* name, const Tensor& x, const Tensor& out, int64_t dim,
                    bool log_space) {
  record(name, {x}, {out}, [so = save_output(out), dim, log_space](Grads& g) {
    const Tensor& y = so.get();
    if (autograd::is_grad_enabled()) {  // create_graph: the formula itself on the tape
      g.in[0] = log_space ? sub(g.g(), mul(exp(y), sum(g.g(), {dim}, true)))
                          : mul(y, sub(g.g(), sum(mul(g.g(), y), {dim}, true)));
    } else {
      g.in[0] = native::softmax_backward(g.g(), y, dim, log_space);
    }
  });
}

Tensor softmax_impl(const Tensor& x, int64_t dim, bool log_space) {
  Tensor out = native::softmax(x, dim, log_space);
  if (needs_grad({&x})) record_softmax(log_space ? "log_softmax" : "softmax", x, out, dim, log_space);
  return out;
}
}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true); }

Tensor masked_softmax(const Tensor& x, const Tensor& mask, int64_t dim) {
  Tensor out = native::masked_softmax(x, mask, dim);
  if (needs_grad({&x})) record_softmax("masked_softmax", x, out, dim, false);
  return out;
}

// ============================================================== shapes

Tensor reshape(const Tensor& x, const Shape& shape) {
  Tensor out = native::reshape(x, shape);
  if (needs_grad({&x}))
    record("reshape", {x}, {out}, [shape = x.sizes()](Grads& g) { g.in[0] = reshape(g.g(), shape); });
  return out;
}

Tensor view(const Tensor& x, const Shape& shape) {
  Tensor out = native::view(x, shape);
  if (needs_grad({&x}))
    record("view", {x}, {out}, [shape = x.sizes()](Grads& g) { g.in[0] = reshape(g.g(), shape); });
  return out;
}

Tensor permute(const Tensor& x, const Shape& dims) {
  Tensor out = native::permute(x, dims);
  if (needs_grad({&x})) {
    Shape inverse(dims.size());
    for (size_t i = 0; i < dims.size(); ++i) inverse[wrap_dim("permute", dims[i], x.dim())] = static_cast<int64_t>(i);
    record("permute", {x}, {out}, [inverse](Grads& g) { g.in[0] = permute(g.g(), inverse); });
  }
  return out;
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  Tensor out = native::transpose(x, dim0, dim1);
  if (needs_grad({&x}))
    record("transpose", {x}, {out}, [dim0, dim1](Grads& g) { g.in[0] = transpose(g.g(), dim0, dim1); });
  return out;
}

Tensor expand(const Tensor& x, const Shape& shape) {
  Tensor out = native::expand(x, shape);
  if (needs_grad({&x})) record("expand", {x}, {out}, [](Grads& g) { g.in[0] = g.g(); });
  return out;
}

Tensor squeeze(const Tensor& x, std::optional<int64_t> dim) {
  Tensor out = native::squeeze(x, dim);
  if (needs_grad({&x}))
    record("squeeze", {x}, {out}, [shape = x.sizes()](Grads& g) { g.in[0] = reshape(g.g(), shape); });
  return out;
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  Tensor out = native::unsqueeze(x, dim);
  if (needs_grad({&x}))
    record("unsqueeze", {x}, {out}, [shape = x.sizes()](Grads& g) { g.in[0] = reshape(g.g(), shape); });
  return out;
}

namespace {
// The gradient of slice/select: g written at positions begin, begin + step, ... of dim d of a
// zero tensor of the input's shape. Under create_graph g has history that the result must keep,
// which a copy into a view of a fresh buffer would drop, so it is a (recorded) scatter_add there.
Tensor place_in_zeros(const Tensor& g, const Shape& shape, int64_t d, int64_t begin, int64_t step) {
  const int64_t len = g.sizes()[d];
  if (!g.requires_grad()) {
    Tensor full = zeros(shape, g.options());
    native::copy_(native::slice(full, d, begin, begin + (len - 1) * step + 1, step), g);
    return full;
  }
  std::vector<int64_t> positions(len);
  for (int64_t k = 0; k < len; ++k) positions[k] = begin + k * step;
  Shape index_shape(shape.size(), 1);
  index_shape[d] = len;
  Tensor index = tensor(positions, index_shape, TensorOptions(kInt64).device(g.device()));
  index = native::contiguous(native::expand(index, g.sizes()));
  return scatter_add(zeros(shape, g.options()), d, index, g);
}
}  // namespace

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  Tensor out = native::slice(x, dim, start, end, step);
  if (needs_grad({&x})) {
    const int64_t d = wrap_dim("slice", dim, x.dim());
    const int64_t size = x.sizes()[d];
    const int64_t begin = std::clamp<int64_t>(start < 0 ? start + size : start, 0, size);
    record("slice", {x}, {out}, [shape = x.sizes(), d, begin, step](Grads& g) {
      g.in[0] = place_in_zeros(g.g(), shape, d, begin, step);
    });
  }
  return out;
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  Tensor out = native::select(x, dim, index);
  if (needs_grad({&x})) {
    const int64_t d = wrap_dim("select", dim, x.dim());
    const int64_t i = index < 0 ? index + x.sizes()[d] : index;
    record("select", {x}, {out}, [shape = x.sizes(), d, i](Grads& g) {
      g.in[0] = place_in_zeros(unsqueeze(g.g(), d), shape, d, i, 1);
    });
  }
  return out;
}

Tensor contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  return clone(x);
}

Tensor clone(const Tensor& x) {
  Tensor out = native::clone(x);
  if (needs_grad({&x})) record("clone", {x}, {out}, [](Grads& g) { g.in[0] = g.g(); });
  return out;
}

Tensor to(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  Tensor out = native::to_dtype(x, dtype);
  // Only float-to-float conversions carry a gradient.
  if (is_floating(dtype) && needs_grad({&x}))
    record("to", {x}, {out}, [](Grads& g) { g.in[0] = g.g(); });
  return out;
}

Tensor to(const Tensor& x, Device device) {
  if (x.device() == device) return x;
  Tensor out = native::to_device(x, device);
  if (needs_grad({&x}))
    record("to", {x}, {out}, [from = x.device()](Grads& g) { g.in[0] = to(g.g(), from); });
  return out;
}

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  Tensor out = native::cat(tensors, dim);
  if (needs_grad(tensors)) {
    std::vector<int64_t> lengths;
    for (const Tensor& t : tensors) lengths.push_back(t.dim() == 1 && t.numel() == 0 ? -1 : t.sizes()[wrap_dim("cat", dim, t.dim())]);
    const int64_t d = wrap_dim("cat", dim, out.dim());
    record("cat", tensors, {out}, [lengths, d](Grads& g) {
      int64_t at = 0;
      for (size_t i = 0; i < lengths.size(); ++i) {
        if (lengths[i] < 0) continue;
        if (g.needs(i)) g.in[i] = slice(g.g(), d, at, at + lengths[i]);
        at += lengths[i];
      }
    });
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  TG_CHECK(!tensors.empty(), Value, "stack: expected a non-empty list of tensors");
  const int64_t d = wrap_dim("stack", dim, tensors[0].dim() + 1);
  std::vector<Tensor> parts;
  for (size_t i = 0; i < tensors.size(); ++i) {
    TG_CHECK(tensors[i].sizes() == tensors[0].sizes(), Value, "stack: expects each tensor to be equal "
             "size, but got ", tensors[0].sizes(), " at entry 0 and ", tensors[i].sizes(), " at entry ", i);
    parts.push_back(unsqueeze(tensors[i], d));
  }
  return cat(parts, d);
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  TG_CHECK(x.dim() > 0, Value, "split: expects a tensor with at least 1 dim, got a 0-dim tensor");
  TG_CHECK(split_size > 0 || (split_size == 0 && x.dim() > 0 && x.size(dim) == 0), Value,
           "split: split_size must be positive, got ", split_size);
  const int64_t d = wrap_dim("split", dim, x.dim());
  const int64_t size = x.sizes()[d];
  std::vector<Tensor> out;
  for (int64_t at = 0; at < size || (at == 0 && size == 0); at += std::max<int64_t>(split_size, 1)) {
    out.push_back(slice(x, d, at, std::min(at + split_size, size)));
    if (size == 0) break;
  }
  return out;
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  TG_CHECK(x.dim() > 0, Value, "split: expects a tensor with at least 1 dim, got a 0-dim tensor");
  const int64_t d = wrap_dim("split", dim, x.dim());
  int64_t total = 0;
  for (int64_t s : sizes) {
    TG_CHECK(s >= 0, Value, "split: split sizes must be non-negative, got ", Shape(sizes));
    total += s;
  }
  TG_CHECK(total == x.sizes()[d], Value, "split: split sizes ", Shape(sizes), " sum to ", total,
           " but dim ", d, " has size ", x.sizes()[d]);
  std::vector<Tensor> out;
  int64_t at = 0;
  for (int64_t s : sizes) {
    out.push_back(slice(x, d, at, at + s));
    at += s;
  }
  return out;
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  TG_CHECK(x.dim() > 0, Value, "chunk: expects a tensor with at least 1 dim, got a 0-dim tensor");
  TG_CHECK(chunks > 0, Value, "chunk: number of chunks must be positive, got ", chunks);
  const int64_t d = wrap_dim("chunk", dim, x.dim());
  const int64_t size = x.sizes()[d];
  return split(x, std::max<int64_t>((size + chunks - 1) / chunks, size == 0 ? 0 : 1), d);
}

// ============================================================== indexing

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  Tensor out = native::index_select(x, dim, index);
  if (needs_grad({&x})) {
    const int64_t d = wrap_dim("index_select", dim, std::max<int64_t>(x.dim(), 1));
    record("index_select", {x}, {out}, [si = save(index), shape = x.sizes(), d](Grads& g) {
      const Tensor& idx = si.get();
      if (shape.empty()) {
        g.in[0] = sum(g.g());
        return;
      }
      Tensor idx1 = idx.dim() == 0 ? unsqueeze(idx, 0) : idx;
      // The forward keeps dim d (size 1) for a 0-dim index, so g already has index_add's shape.
      g.in[0] = native::index_add(zeros(shape, g.g().options()), d, idx1, g.g());
    });
  }
  return out;
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  Tensor out = native::gather(x, dim, index);
  if (needs_grad({&x})) {
    const int64_t d = wrap_dim("gather", dim, x.dim());
    record("gather", {x}, {out}, [si = save(index), shape = x.sizes(), d](Grads& g) {
      g.in[0] = scatter_add(zeros(shape, g.g().options()), d, si.get(), g.g());
    });
  }
  return out;
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  Tensor out = native::scatter_add(x, dim, index, src);
  if (needs_grad({&x, &src})) {
    const int64_t d = wrap_dim("scatter_add", dim, x.dim());
    record("scatter_add", {x, src}, {out}, [si = save(index), src_shape = src.sizes(), d](Grads& g) {
      g.in[0] = g.g();
      if (g.needs(1)) {
        Tensor part = gather(g.g(), d, si.get());
        if (part.sizes() != src_shape) {  // src larger than index: the rest got no gradient
          Tensor full = zeros(src_shape, part.options());
          Tensor window = native::as_strided(full, part.sizes(), full.strides(), 0);
          native::copy_(window, part);
          part = full;
        }
        g.in[1] = part;
      }
    });
  }
  return out;
}

Tensor embedding(const Tensor& weight, const Tensor& indices) {
  TG_CHECK(weight.dim() == 2, Value, "embedding: weight must be 2-D [num_embeddings, dim], got shape ",
           weight.sizes());
  TG_CHECK(indices.dtype() == kInt64, Type, "embedding: indices must be int64, got ", indices.dtype());
  Shape out_shape = indices.sizes();
  out_shape.push_back(weight.sizes()[1]);
  try {
    return reshape(index_select(weight, 0, native::reshape(indices, {-1})), out_shape);
  } catch (const Error& e) {
    if (e.kind() != Error::Kind::Index) throw;
    TG_FAIL(Index, "embedding: an index is out of range for ", weight.sizes()[0], " embeddings (",
            e.what(), ")");
  }
}

// ============================================================== in place

const Tensor& add_(const Tensor& self, const Tensor& other, double alpha) {
  const bool grad = needs_grad({&self, &other});
  if (grad) autograd::begin_inplace("add_", self);
  native::binary_("add_", BinaryOp::Add, self,
                  alpha == 1.0 ? other : native::unary("add_", UnaryOp::MulScalar, other, alpha));
  if (grad)
    record("add_", {self, other}, {self}, [alpha](Grads& g) {
      g.in[0] = g.g();
      if (g.needs(1)) g.in[1] = alpha == 1.0 ? g.g() : mul(g.g(), alpha);
    });
  return self;
}

const Tensor& sub_(const Tensor& self, const Tensor& other, double alpha) {
  const bool grad = needs_grad({&self, &other});
  if (grad) autograd::begin_inplace("sub_", self);
  native::binary_("sub_", BinaryOp::Sub, self,
                  alpha == 1.0 ? other : native::unary("sub_", UnaryOp::MulScalar, other, alpha));
  if (grad)
    record("sub_", {self, other}, {self}, [alpha](Grads& g) {
      g.in[0] = g.g();
      if (g.needs(1)) g.in[1] = mul(g.g(), -alpha);
    });
  return self;
}

const Tensor& mul_(const Tensor& self, const Tensor& other) {
  const bool grad = needs_grad({&self, &other});
  if (grad) autograd::begin_inplace("mul_", self);
  SavedTensor old_self = grad && other.requires_grad() ? save(native::clone(self)) : SavedTensor();
  // self.mul_(self): other's value is self's old one, kept by the clone (saving self itself would
  // see the write, and would make a cycle: self -> its new node -> self).
  SavedTensor saved_other = !grad ? SavedTensor() : other.is_same(self) ? old_self : save(other);
  native::binary_("mul_", BinaryOp::Mul, self, other);
  if (grad)
    record("mul_", {self, other}, {self}, [old_self, saved_other](Grads& g) {
      if (g.needs(0)) g.in[0] = mul(g.g(), saved_other.get());
      if (g.needs(1)) g.in[1] = mul(g.g(), old_self.get());
    });
  return self;
}

const Tensor& div_(const Tensor& self, const Tensor& other) {
  const bool grad = needs_grad({&self, &other});
  if (grad) autograd::begin_inplace("div_", self);
  SavedTensor old_self = grad && other.requires_grad() ? save(native::clone(self)) : SavedTensor();
  // self.div_(self): other's value is self's old one, kept by the clone (saving self itself would
  // see the write, and would make a cycle: self -> its new node -> self).
  SavedTensor saved_other = !grad ? SavedTensor() : other.is_same(self) ? old_self : save(other);
  native::binary_("div_", BinaryOp::Div, self, other);
  if (grad)
    record("div_", {self, other}, {self}, [old_self, saved_other](Grads& g) {
      const Tensor& o = saved_other.get();
      if (g.needs(0)) g.in[0] = div(g.g(), o);
      if (g.needs(1)) g.in[1] = neg(div(mul(g.g(), old_self.get()), mul(o, o)));
    });
  return self;
}

const Tensor& add_scalar_(const Tensor& self, double value) {
  const bool grad = needs_grad({&self});
  if (grad) autograd::begin_inplace("add_", self);
  native::unary_("add_", UnaryOp::AddScalar, self, value);
  if (grad) record("add_", {self}, {self}, [](Grads& g) { g.in[0] = g.g(); });
  return self;
}

const Tensor& mul_scalar_(const Tensor& self, double value) {
  const bool grad = needs_grad({&self});
  if (grad) autograd::begin_inplace("mul_", self);
  native::unary_("mul_", UnaryOp::MulScalar, self, value);
  if (grad) record("mul_", {self}, {self}, [value](Grads& g) { g.in[0] = mul(g.g(), value); });
  return self;
}

const Tensor& fill_(const Tensor& self, double value) {
  const bool grad = needs_grad({&self});
  if (grad) autograd::begin_inplace("fill_", self);
  native::fill_(self, value);
  if (grad) record("fill_", {}, {self}, [](Grads&) {});  // the old values no longer matter
  return self;
}

const Tensor& copy_(const Tensor& self, const Tensor& src) {
  const bool grad = needs_grad({&self, &src});
  if (grad) autograd::begin_inplace("copy_", self);
  native::copy_(self, src);
  if (grad)
    record("copy_", {src}, {self}, [from = src.device()](Grads& g) {
      g.in[0] = g.g().device() == from ? g.g() : to(g.g(), from);
    });
  return self;
}

}  // namespace tg
