// Autograd: gradcheck of every differentiable op, tape semantics with hand-derived values,
// version-counter checks, error messages, and the memory behaviour of a training loop.
#include <gtest/gtest.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "autograd/node.h"
#include "core/tensor.h"
#include "core/types.h"

namespace {

using tg::Shape;
using tg::Tensor;
using Inputs = std::vector<Tensor>;
using Fn = std::function<Tensor(const Inputs&)>;

// ---------------------------------------------------------------- helpers

::testing::AssertionResult Gradcheck(const Fn& fn, const Inputs& inputs,
                                     tg::autograd::GradcheckOptions options = {}) {
  try {
    if (tg::gradcheck(fn, inputs, options)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "gradcheck returned false";
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << e.what();
  }
}
#define EXPECT_GRADCHECK(...) EXPECT_TRUE(Gradcheck(__VA_ARGS__))

// A float64 leaf that requires grad, from host values.
Tensor leaf(const std::vector<double>& values, const Shape& shape) {
  return tg::tensor(values, shape, tg::kFloat64).requires_grad_();
}

// Seeded uniform values in [lo, hi), moved away (by 2 * margin) from each of `avoid`: the points
// where the op under test is not differentiable.
Tensor uniform(const Shape& shape, double lo = -1.0, double hi = 1.0,
               const std::vector<double>& avoid = {}, double margin = 0.05) {
  std::vector<double> v = tg::rand(shape, tg::kFloat64).to_vector<double>();
  for (double& e : v) {
    e = lo + (hi - lo) * e;
    for (double p : avoid)
      if (std::abs(e - p) < margin) e = p + (e < p ? -2 * margin : 2 * margin);
  }
  return leaf(v, shape);
}

// Seeded values whose magnitude lies in [lo, hi) and whose sign is random.
Tensor away_from_zero(const Shape& shape, double lo = 0.2, double hi = 1.0) {
  std::vector<double> u = tg::rand(shape, tg::kFloat64).to_vector<double>();
  std::vector<double> s = tg::rand(shape, tg::kFloat64).to_vector<double>();
  for (size_t i = 0; i < u.size(); ++i) u[i] = (s[i] < 0.5 ? -1.0 : 1.0) * (lo + (hi - lo) * u[i]);
  return leaf(u, shape);
}

// Seeded values in random order that are pairwise at least ~0.07 apart (no ties for max/min).
Tensor distinct(const Shape& shape) {
  std::vector<double> u = tg::rand(shape, tg::kFloat64).to_vector<double>();
  std::vector<size_t> order(u.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return u[a] < u[b]; });
  std::vector<double> v(u.size());
  const double half = static_cast<double>(u.size()) / 2;
  for (size_t rank = 0; rank < order.size(); ++rank)
    v[order[rank]] = (static_cast<double>(rank) - half) * 0.1 + 0.03 * u[order[rank]];
  return leaf(v, shape);
}

Tensor bool_mask(const Shape& shape) { return tg::rand(shape, tg::kFloat64) < 0.5; }

Tensor index_tensor(const std::vector<int64_t>& values, const Shape& shape) {
  return tg::tensor(values, shape, tg::kInt64);
}

void expect_values(const Tensor& t, const std::vector<double>& expected, double tol = 1e-12) {
  ASSERT_TRUE(t.defined());
  std::vector<double> got = t.to_vector<double>();
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], tol) << "element " << i;
}

::testing::AssertionResult HasSubstring(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}
#define EXPECT_HAS_SUBSTR(text, part) EXPECT_TRUE(HasSubstring(text, part))

template <class F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const tg::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("NOT A tg::Error: ") + e.what();
  }
  return "NO EXCEPTION THROWN";
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

class AutogradGradcheck : public ::testing::Test {
 protected:
  void SetUp() override { tg::manual_seed(20240611); }
};

// ================================================================ the harness itself

TEST_F(AutogradGradcheck, CatchesAWrongBackwardFormula) {
  // An op whose recorded derivative is 3 while the true one is 2: gradcheck must refuse it.
  Tensor x = uniform({3});
  Fn wrong = [](const Inputs& in) {
    Tensor out = in[0].detach() * 2.0;
    if (tg::autograd::is_grad_enabled())
      tg::autograd::record("wrong", {in[0]}, {out},
                           [](tg::autograd::Grads& g) { g.in[0] = tg::mul(g.g(), 3.0); });
    return out;
  };
  EXPECT_HAS_SUBSTR(error_message([&] { tg::gradcheck(wrong, {x}); }), "Jacobian mismatch");
  // An op that records nothing cannot be differentiated at all.
  Fn none = [](const Inputs& in) { return in[0].detach() * 2.0; };
  EXPECT_THROW(tg::gradcheck(none, {x}), tg::Error);
}

// ================================================================ pointwise, two operands

TEST_F(AutogradGradcheck, AddAndSubWithAlpha) {
  Tensor a = uniform({3, 4}), b = uniform({3, 4});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::add(in[0], in[1]); }, {a, b});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::add(in[0], in[1], 2.5); }, {a, b});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::sub(in[0], in[1]); }, {a, b});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::sub(in[0], in[1], -0.7); }, {a, b});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].sub(in[1], 3.0); }, {a, b});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0] + in[1] - in[0]; }, {a, b});
  // Only one operand requiring grad.
  Tensor c = tg::rand({3, 4}, tg::kFloat64);
  EXPECT_GRADCHECK([c](const Inputs& in) { return tg::sub(c, in[0], 1.5); }, {a});
}

TEST_F(AutogradGradcheck, AddSubScalar) {
  Tensor a = uniform({2, 3});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0] + 3.0; }, {a});
  EXPECT_GRADCHECK([](const Inputs& in) { return 3.0 + in[0]; }, {a});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0] - 2.0; }, {a});
  EXPECT_GRADCHECK([](const Inputs& in) { return 2.0 - in[0]; }, {a});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::rsub(in[0], 1.5); }, {a});
}

TEST_F(AutogradGradcheck, Broadcasting) {
  Tensor col = uniform({3, 1}), row = uniform({4});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0] + in[1]; }, {col, row});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::sub(in[0], in[1], 0.5); }, {col, row});
  Tensor m = uniform({2, 3}), v = uniform({3});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0] * in[1]; }, {m, v});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[1] * in[0]; }, {m, v});
  Tensor pos = uniform({3}, 0.5, 1.5);
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0] / in[1]; }, {m, pos});
  Tensor a = uniform({2, 1, 3}), b = uniform({4, 1});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0] * in[1] + in[1]; }, {a, b});
  // A 0-dim operand broadcast against a matrix.
  Tensor s = uniform({});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0] * in[1]; }, {m, s});
}

TEST_F(AutogradGradcheck, MulAndDiv) {
  Tensor a = uniform({3, 4}), b = uniform({3, 4}), pos = uniform({3, 4}, 0.5, 1.5);
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::mul(in[0], in[1]); }, {a, b});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0] * 2.5; }, {a});
  EXPECT_GRADCHECK([](const Inputs& in) { return -1.5 * in[0]; }, {a});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::div(in[0], in[1]); }, {a, pos});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0] / 4.0; }, {a});
  EXPECT_GRADCHECK([](const Inputs& in) { return 2.0 / in[0]; }, {pos});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::rdiv(in[0], -3.0); }, {pos});
  Tensor neg = uniform({3, 4}, -1.5, -0.5);
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0] / in[1]; }, {a, neg});
}

TEST_F(AutogradGradcheck, Pow) {
  Tensor base = uniform({3, 4}, 0.5, 1.5), e = uniform({3, 4}, -1.5, 1.5);
  // tensor ^ tensor: both operands, and a broadcast exponent.
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::pow(in[0], in[1]); }, {base, e});
  Tensor e_row = uniform({4}, -1.0, 2.0);
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].pow(in[1]); }, {base, e_row});
  // tensor ^ scalar.
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::pow(in[0], 2.5); }, {base});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::pow(in[0], -1.5); }, {base});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::pow(in[0], 0.0); }, {base});
  Tensor any = uniform({3, 4});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].pow(3.0); }, {any});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].pow(2.0); }, {any});
  // scalar ^ tensor.
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::pow(2.0, in[0]); }, {e});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::pow(0.5, in[0]); }, {e});
}

// ================================================================ pointwise, one operand

TEST_F(AutogradGradcheck, UnaryMath) {
  Tensor x = uniform({3, 4}), pos = uniform({3, 4}, 0.3, 2.0);
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::neg(in[0]); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return -in[0]; }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::exp(in[0]); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::log(in[0]); }, {pos});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::sqrt(in[0]); }, {pos});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::rsqrt(in[0]); }, {pos});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::square(in[0]); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::sin(in[0] * 3.0); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::cos(in[0] * 3.0); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::log1p(in[0]); }, {uniform({3, 4}, -0.5, 2.0)});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::expm1(in[0]); }, {x});
}

TEST_F(AutogradGradcheck, ReciprocalErfModuloRounding) {
  Tensor x = uniform({3, 4}), pos = uniform({3, 4}, 0.3, 2.0);
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::reciprocal(in[0]); }, {pos});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::erf(in[0] * 2.0); }, {x});
  // Away from the jumps (a / b integral), both operands.
  Tensor a = uniform({3, 4}, 0.1, 0.9), b = uniform({3, 4}, 1.2, 1.8);
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::remainder(in[0] + 2.0, in[1]); }, {a, b});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::remainder(-in[0] - 2.0, in[1]); }, {a, b});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::fmod(-in[0] - 2.0, in[1]); }, {a, b});
  for (auto f : {tg::floor, tg::ceil, tg::round, tg::trunc}) {
    Tensor y = leaf({0.3, 1.7}, {2});
    f(y * 3.0).sum().backward();
    EXPECT_EQ(y.grad().to_vector<double>(), (std::vector<double>{0.0, 0.0}));
  }
}

TEST_F(AutogradGradcheck, Composites) {
  Tensor m = uniform({3, 4}), n = uniform({3, 4}), w = uniform({3, 4}, 0.1, 0.9);
  Tensor v = uniform({4}), u = uniform({4});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::lerp(in[0], in[1], in[2]); }, {m, n, w});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::addcdiv(in[0], in[1], in[2] + 2.0, -0.5); }, {m, n, w});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::addcmul(in[0], in[1], in[2], 3.0); }, {m, n, w});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::triu(in[0], -1) + tg::tril(in[0], 1); }, {m});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::flip(in[0], {1, 0}) * in[0]; }, {m});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::roll(in[0], {1, -2}, {0, 1}) * in[0]; }, {m});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::dot(in[0], in[1]); }, {v, u});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::outer(in[0], in[1]); }, {v, u});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::masked_select(in[0], tg::gt(in[0], tg::zeros_like(in[0]))); }, {m});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::norm(in[0]); }, {m});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::norm(in[0], 2.0, {1}, true); }, {m});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::norm(in[0], 3.0, {0}); }, {m});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::norm(in[0], 1.0, {1}); }, {away_from_zero({3, 4})});
}

TEST(AutogradNorm, GradientAtZeroIsZeroNotNan) {
  Tensor z = tg::zeros({3}, tg::kFloat64).requires_grad_();
  tg::norm(z).backward();
  EXPECT_EQ(z.grad().to_vector<double>(), (std::vector<double>{0, 0, 0}));
  Tensor rows = leaf({0, 0, 3, 4}, {2, 2});
  tg::norm(rows, 2.0, {1}).sum().backward();
  EXPECT_EQ(rows.grad().to_vector<double>(), (std::vector<double>{0, 0, 0.6, 0.8}));
}

TEST_F(AutogradGradcheck, AbsAwayFromZero) {
  Tensor x = away_from_zero({3, 4});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::abs(in[0]); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].abs() * in[0]; }, {x});
}

TEST_F(AutogradGradcheck, Clamp) {
  const double lo = -0.3, hi = 0.4;
  Tensor x = uniform({4, 5}, -1.0, 1.0, {lo, hi});
  EXPECT_GRADCHECK([=](const Inputs& in) { return tg::clamp(in[0], lo, std::nullopt); }, {x});
  EXPECT_GRADCHECK([=](const Inputs& in) { return tg::clamp(in[0], std::nullopt, hi); }, {x});
  EXPECT_GRADCHECK([=](const Inputs& in) { return tg::clamp(in[0], lo, hi); }, {x});
  EXPECT_GRADCHECK([=](const Inputs& in) { return in[0].clamp(lo, hi) * in[0]; }, {x});
  // The values really straddle both bounds, so every branch of the formula is exercised.
  std::vector<double> v = x.to_vector<double>();
  EXPECT_TRUE(std::any_of(v.begin(), v.end(), [&](double e) { return e < lo; }));
  EXPECT_TRUE(std::any_of(v.begin(), v.end(), [&](double e) { return e > hi; }));
  EXPECT_TRUE(std::any_of(v.begin(), v.end(), [&](double e) { return e > lo && e < hi; }));
}

TEST_F(AutogradGradcheck, MaximumMinimum) {
  Tensor a = uniform({3, 4});
  // b differs from a by at least 0.2 everywhere, on both sides: no ties.
  Tensor offset = away_from_zero({3, 4});
  Tensor b = leaf((a.detach() + offset.detach()).to_vector<double>(), {3, 4});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::maximum(in[0], in[1]); }, {a, b});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::minimum(in[0], in[1]); }, {a, b});
  // Broadcast: [3, 4] against [4].
  Tensor row = uniform({4});
  Tensor m = leaf((row.detach() + offset.detach()).to_vector<double>(), {3, 4});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::maximum(in[0], in[1]); }, {m, row});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::minimum(in[1], in[0]); }, {m, row});
}

TEST_F(AutogradGradcheck, Activations) {
  Tensor x = uniform({3, 5}, -3.0, 3.0, {0.0});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::tanh(in[0]); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::sigmoid(in[0]); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::relu(in[0]); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].relu() * in[0]; }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::leaky_relu(in[0]); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::leaky_relu(in[0], 0.2); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::gelu(in[0]); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::gelu(in[0], "none"); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::gelu(in[0], "tanh"); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::softplus(in[0]); }, {x});
  // beta = 2, threshold = 1: linear above x = 0.5; the values avoid that switch point.
  Tensor y = uniform({3, 5}, -2.0, 2.0, {0.5});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::softplus(in[0], 2.0, 1.0); }, {y});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::softplus(in[0], 0.5); }, {y});
}

TEST_F(AutogradGradcheck, WhereAndMaskedFill) {
  Tensor a = uniform({3, 4}), b = uniform({3, 4});
  Tensor cond = bool_mask({3, 4});
  EXPECT_GRADCHECK([cond](const Inputs& in) { return tg::where(cond, in[0], in[1]); }, {a, b});
  EXPECT_GRADCHECK([cond](const Inputs& in) { return tg::where(cond, in[0], 0.5); }, {a});
  // Broadcast: a [4] branch and a [3, 1] condition.
  Tensor row = uniform({4});
  Tensor col_cond = bool_mask({3, 1});
  EXPECT_GRADCHECK([col_cond](const Inputs& in) { return tg::where(col_cond, in[0], in[1]); },
                   {a, row});
  Tensor mask = bool_mask({3, 4}), row_mask = bool_mask({4});
  EXPECT_GRADCHECK([mask](const Inputs& in) { return tg::masked_fill(in[0], mask, 2.0); }, {a});
  EXPECT_GRADCHECK(
      [row_mask](const Inputs& in) { return in[0].masked_fill(row_mask, -1.0) * in[0]; }, {a});
}

// ================================================================ reductions

TEST_F(AutogradGradcheck, SumAndMean) {
  Tensor x = uniform({2, 3, 4});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::sum(in[0]); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].sum(1); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::sum(in[0], {0, 2}); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::sum(in[0], {-1}, true); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::mean(in[0]); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].mean(2); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::mean(in[0], {0, 1}, true); }, {x});
}

TEST_F(AutogradGradcheck, VarAndStd) {
  Tensor x = uniform({3, 4, 2});
  for (int64_t correction : {0, 1}) {
    SCOPED_TRACE("correction " + std::to_string(correction));
    EXPECT_GRADCHECK([=](const Inputs& in) { return tg::var(in[0], {}, correction); }, {x});
    EXPECT_GRADCHECK([=](const Inputs& in) { return in[0].var(Shape{}, correction); }, {x});
    EXPECT_GRADCHECK([=](const Inputs& in) { return tg::var(in[0], {1}, correction); }, {x});
    EXPECT_GRADCHECK(
        [=](const Inputs& in) {
          return tg::var(in[0], {0, 2}, correction, true);
        },
        {x});
    EXPECT_GRADCHECK([=](const Inputs& in) { return tg::var(in[0], {-1}, correction, true); }, {x});
    EXPECT_GRADCHECK([=](const Inputs& in) { return tg::std(in[0], {}, correction); }, {x});
    EXPECT_GRADCHECK([=](const Inputs& in) { return tg::std(in[0], {1}, correction); }, {x});
    EXPECT_GRADCHECK(
        [=](const Inputs& in) {
          return tg::std(in[0], {0, 2}, correction, true);
        },
        {x});
  }
}

TEST_F(AutogradGradcheck, AmaxAmin) {
  Tensor x = distinct({3, 4, 2});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::amax(in[0]); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::amin(in[0]); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].max(); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].min(); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::amax(in[0], {1}); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::amin(in[0], {1}, true); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::amax(in[0], {0, 2}, true); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::amin(in[0], {-1}); }, {x});
}

TEST_F(AutogradGradcheck, MaxMinAlongDim) {
  Tensor x = distinct({3, 4, 2});
  for (int64_t dim : {0, 1, 2, -1})
    for (bool keepdim : {false, true}) {
      SCOPED_TRACE("dim " + std::to_string(dim) + " keepdim " + std::to_string(keepdim));
      EXPECT_GRADCHECK([=](const Inputs& in) { return std::get<0>(tg::max(in[0], dim, keepdim)); },
                       {x});
      EXPECT_GRADCHECK([=](const Inputs& in) { return std::get<0>(tg::min(in[0], dim, keepdim)); },
                       {x});
    }
  EXPECT_GRADCHECK([](const Inputs& in) { return std::get<0>(in[0].max(1)) * 2.0; }, {x});
  auto [values, indices] = tg::max(x, 1);
  EXPECT_TRUE(values.requires_grad());
  EXPECT_FALSE(indices.requires_grad());
  EXPECT_EQ(indices.dtype(), tg::kInt64);
}

TEST_F(AutogradGradcheck, Logsumexp) {
  Tensor x = uniform({3, 4, 2}, -2.0, 2.0);
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::logsumexp(in[0], {1}); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::logsumexp(in[0], {-1}, true); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::logsumexp(in[0], {0, 2}); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::logsumexp(in[0], {0, 1, 2}); }, {x});
  // Large values: the max shift must keep the gradient finite and correct.
  Tensor big = uniform({2, 3}, 500.0, 502.0);
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::logsumexp(in[0], {1}); }, {big});
}

TEST_F(AutogradGradcheck, SumTo) {
  Tensor x = uniform({2, 3, 4});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::sum_to(in[0], {3, 1}); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::sum_to(in[0], {4}); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::sum_to(in[0], {1, 3, 4}); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::sum_to(in[0], {2, 1, 1}); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::sum_to(in[0], {2, 3, 4}) * 2.0; }, {x});
}

// ================================================================ matmul, softmax

TEST_F(AutogradGradcheck, MatmulShapes) {
  auto mm = [](const Inputs& in) { return tg::matmul(in[0], in[1]); };
  EXPECT_GRADCHECK(mm, {uniform({4}), uniform({4})});                 // dot
  EXPECT_GRADCHECK(mm, {uniform({3, 4}), uniform({4})});              // matrix-vector
  EXPECT_GRADCHECK(mm, {uniform({4}), uniform({4, 3})});              // vector-matrix
  EXPECT_GRADCHECK(mm, {uniform({3, 4}), uniform({4, 2})});           // matrix-matrix
  EXPECT_GRADCHECK(mm, {uniform({2, 3, 4}), uniform({2, 4, 5})});     // batched
  EXPECT_GRADCHECK(mm, {uniform({2, 1, 3, 4}), uniform({5, 4, 2})});  // broadcast batch
  EXPECT_GRADCHECK(mm, {uniform({2, 3, 4}), uniform({4, 5})});        // 3-D @ 2-D
  EXPECT_GRADCHECK(mm, {uniform({3, 4}), uniform({2, 4, 5})});        // 2-D @ 3-D
  EXPECT_GRADCHECK(mm, {uniform({2, 3, 4}), uniform({4})});           // 3-D @ 1-D
  EXPECT_GRADCHECK(mm, {uniform({4}), uniform({2, 4, 3})});           // 1-D @ 3-D
  EXPECT_GRADCHECK(mm, {uniform({1, 3, 4}), uniform({2, 4, 2})});     // batch dim of 1
  // Only one operand requiring grad.
  Tensor fixed = tg::rand({4, 2}, tg::kFloat64);
  EXPECT_GRADCHECK([fixed](const Inputs& in) { return tg::matmul(in[0], fixed); },
                   {uniform({3, 4})});
  EXPECT_GRADCHECK([fixed](const Inputs& in) { return in[0].matmul(fixed.t()); },
                   {uniform({3, 2})});
}

TEST_F(AutogradGradcheck, Addmm) {
  auto addmm = [](const Inputs& in) { return tg::addmm(in[0], in[1], in[2]); };
  EXPECT_GRADCHECK(addmm, {uniform({2}), uniform({3, 4}), uniform({4, 2})});     // row bias
  EXPECT_GRADCHECK(addmm, {uniform({3, 1}), uniform({3, 4}), uniform({4, 2})});  // column bias
  EXPECT_GRADCHECK(addmm, {uniform({3, 2}), uniform({3, 4}), uniform({4, 2})});  // full bias
  // Linear's form: x @ W.t() + b.
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::addmm(in[0], in[1], in[2].t()); },
                   {uniform({5}), uniform({3, 4}), uniform({5, 4})});
}

TEST_F(AutogradGradcheck, MatmulOfViews) {
  Tensor a = uniform({4, 3}), b = uniform({2, 4});
  // Transposed inputs: a.t() is [3, 4], b.t() is [4, 2].
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::matmul(in[0].t(), in[1].t()); }, {a, b});
  Tensor c = uniform({3, 4});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::matmul(in[0], in[1].t()); },
                   {c, uniform({5, 4})});
  // Batched, transposed in the last two dims.
  Tensor x = uniform({2, 4, 3}), y = uniform({2, 5, 4});
  EXPECT_GRADCHECK(
      [](const Inputs& in) { return tg::matmul(in[0].transpose(1, 2), in[1].transpose(-1, -2)); },
      {x, y});
  // A transposed 3-D input times a matrix (the folded-batch path of the backward).
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::matmul(in[0].transpose(1, 2), in[1]); },
                   {x, uniform({4, 2})});
  // Sliced (strided) operands.
  Tensor s = uniform({3, 8}), t = uniform({6, 2});
  EXPECT_GRADCHECK(
      [](const Inputs& in) { return tg::matmul(in[0].slice(1, 0, 8, 2), in[1].slice(0, 1, 5)); },
      {s, t});
  // Attention's heads: [N, H, T, d] views of [N, T, 2E] (two batch levels, read in place).
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        auto heads = [&](int64_t at) {
          return in[0].narrow(2, at, 6).view({2, 3, 3, 2}).permute({0, 2, 1, 3});
        };
        return tg::matmul(heads(0), heads(6).transpose(-2, -1));
      },
      {uniform({2, 3, 12})});
}

TEST_F(AutogradGradcheck, SoftmaxAndLogSoftmax) {
  Tensor x = uniform({3, 4}, -2.0, 2.0);
  for (int64_t dim : {0, 1, -1}) {
    SCOPED_TRACE("dim " + std::to_string(dim));
    EXPECT_GRADCHECK([=](const Inputs& in) { return tg::softmax(in[0], dim); }, {x});
    EXPECT_GRADCHECK([=](const Inputs& in) { return tg::log_softmax(in[0], dim); }, {x});
  }
  Tensor y = uniform({2, 3, 4}, -2.0, 2.0);
  for (int64_t dim : {0, 1, 2, -1}) {
    SCOPED_TRACE("3-D, dim " + std::to_string(dim));
    EXPECT_GRADCHECK([=](const Inputs& in) { return in[0].softmax(dim); }, {y});
    EXPECT_GRADCHECK([=](const Inputs& in) { return in[0].log_softmax(dim); }, {y});
  }
  // Transposed input; weighted so that the gradient is not the trivial one.
  Tensor w = tg::rand({4, 3}, tg::kFloat64);
  for (int64_t dim : {0, 1}) {
    SCOPED_TRACE("transposed, dim " + std::to_string(dim));
    EXPECT_GRADCHECK([=](const Inputs& in) { return tg::softmax(in[0].t(), dim) * w; }, {x});
    EXPECT_GRADCHECK([=](const Inputs& in) { return tg::log_softmax(in[0].t(), dim) * w; }, {x});
  }
}

// ================================================================ shapes

TEST_F(AutogradGradcheck, ReshapeAndView) {
  Tensor x = uniform({2, 3, 4});
  Tensor w = tg::rand({6, 4}, tg::kFloat64);  // weights make the Jacobian position-dependent
  EXPECT_GRADCHECK([w](const Inputs& in) { return tg::reshape(in[0], {6, 4}) * w; }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].reshape({-1}); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].reshape({4, -1}); }, {x});
  EXPECT_GRADCHECK([w](const Inputs& in) { return tg::view(in[0], {6, 4}) * w; }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].view({3, 8}); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].flatten(1); }, {x});
  // Reshape of a non-contiguous view needs a copy.
  EXPECT_GRADCHECK(
      [w](const Inputs& in) {
        return in[0].transpose(0, 2).reshape({6, 4}) * w.t().reshape({6, 4});
      },
      {x});
}

TEST_F(AutogradGradcheck, PermuteTransposeExpand) {
  Tensor x = uniform({2, 3, 4});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::permute(in[0], {2, 0, 1}); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].permute({-1, 0, 1}) * 3.0; }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::transpose(in[0], 0, 2); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].transpose(-1, -2); }, {x});
  Tensor m = uniform({3, 4});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].t(); }, {m});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].t() + in[1]; }, {m, uniform({4, 3})});
  Tensor col = uniform({3, 1}), row = uniform({4});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::expand(in[0], {3, 4}); }, {col});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].expand({2, 3, 4}); }, {row});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].expand({2, 3, 5}) * in[0]; }, {col});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].expand_as(in[1]) * in[1]; },
                   {col, uniform({3, 4})});
}

TEST_F(AutogradGradcheck, SqueezeUnsqueeze) {
  Tensor x = uniform({3, 1, 4, 1});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::squeeze(in[0]); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].squeeze(1); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::squeeze(in[0], -1); }, {x});
  Tensor y = uniform({3, 4});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::unsqueeze(in[0], 0); }, {y});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].unsqueeze(1) * in[0]; }, {y});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].unsqueeze(-1); }, {y});
}

TEST_F(AutogradGradcheck, SliceAndSelect) {
  Tensor x = uniform({4, 7});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::slice(in[0], 1, 1, 5); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::slice(in[0], 1, 0, 7, 2); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::slice(in[0], 1, 1, 7, 3); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::slice(in[0], 0, -3, 4, 2); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].slice(1, std::nullopt, std::nullopt, 4); },
                   {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].narrow(0, 1, 2); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::select(in[0], 0, 2); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].select(1, -1); }, {x});
  // Slices of a slice, and two overlapping slices of one tensor.
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].slice(1, 1, 7, 2).slice(0, 1, 4, 2); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].slice(1, 0, 4) * in[0].slice(1, 3, 7); },
                   {x});
}

TEST_F(AutogradGradcheck, ContiguousCloneAndDtype) {
  Tensor x = uniform({3, 4});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::contiguous(in[0]); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].t().contiguous() * 2.0; }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::clone(in[0]); }, {x});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].clone() * in[0]; }, {x});
  // A round trip through float32: finite differences need a large step there.
  tg::autograd::GradcheckOptions coarse;
  coarse.eps = 1e-2;
  coarse.atol = 1e-4;
  coarse.rtol = 1e-4;
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].to(tg::kFloat32).to(tg::kFloat64) * 3.0; },
                   {x}, coarse);
  EXPECT_GRADCHECK(
      [](const Inputs& in) { return tg::to(tg::to(in[0], tg::kFloat32), tg::kFloat64); }, {x},
      coarse);
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].to(tg::kFloat64); }, {x});  // a no-op
}

TEST_F(AutogradGradcheck, CatAndStack) {
  Tensor a = uniform({2, 3}), b = uniform({4, 3}), c = uniform({1, 3});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::cat({in[0], in[1], in[2]}, 0); }, {a, b, c});
  Tensor d = uniform({2, 1}), e = uniform({2, 5});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::cat({in[0], in[1], in[2]}, 1); }, {a, d, e});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::cat({in[0], in[1]}, -1); }, {a, d});
  // The same tensor twice, and one operand that needs no gradient.
  Tensor fixed = tg::rand({2, 3}, tg::kFloat64);
  EXPECT_GRADCHECK([fixed](const Inputs& in) { return tg::cat({in[0], fixed, in[0]}, 0); }, {a});
  Tensor f = uniform({2, 3}), g = uniform({2, 3});
  for (int64_t dim : {0, 1, 2, -1}) {
    SCOPED_TRACE("stack dim " + std::to_string(dim));
    EXPECT_GRADCHECK(
        [=](const Inputs& in) {
          return tg::stack({in[0], in[1], in[2]}, dim);
        },
        {a, f, g});
  }
}

TEST_F(AutogradGradcheck, SplitAndChunk) {
  Tensor x = uniform({3, 5});
  // Every piece used differently, in a different order.
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        std::vector<Tensor> p = tg::split(in[0], 2, 1);  // sizes 2, 2, 1
        return tg::cat({p[2] * 3.0, p[0].exp(), p[1] * p[1]}, 1);
      },
      {x});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        std::vector<Tensor> p = tg::split(in[0], std::vector<int64_t>{1, 3, 1}, 1);
        return tg::cat({p[1], p[0] * 2.0}, 1);  // p[2] unused: zero gradient there
      },
      {x});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        std::vector<Tensor> p = in[0].split(1, 0);
        return p[0] * p[2] + p[1];
      },
      {x});
  Tensor y = uniform({7, 2});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        std::vector<Tensor> p = tg::chunk(in[0], 3, 0);  // sizes 3, 3, 1
        return tg::cat({p[1] * p[0], tg::sin(p[2])}, 0);
      },
      {y});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        std::vector<Tensor> p = in[0].chunk(2, 1);
        return p[0] - p[1] * 2.0;
      },
      {y});
}

// ================================================================ indexing

TEST_F(AutogradGradcheck, IndexSelect) {
  Tensor x = uniform({4, 3});
  Tensor rows = index_tensor({2, 0, 2, 3}, {4});  // row 2 twice: its gradient accumulates
  EXPECT_GRADCHECK([rows](const Inputs& in) { return tg::index_select(in[0], 0, rows); }, {x});
  Tensor cols = index_tensor({1, 1}, {2});
  EXPECT_GRADCHECK([cols](const Inputs& in) { return in[0].index_select(1, cols); }, {x});
  EXPECT_GRADCHECK([cols](const Inputs& in) { return tg::index_select(in[0], -1, cols); }, {x});
  Tensor one = tg::tensor(std::vector<int64_t>{2}, Shape{}, tg::kInt64);  // 0-dim index
  EXPECT_GRADCHECK([one](const Inputs& in) { return tg::index_select(in[0], 0, one); }, {x});
  EXPECT_GRADCHECK([one](const Inputs& in) { return tg::index_select(in[0], 1, one) * 2.0; }, {x});
  EXPECT_EQ(tg::index_select(x, 1, one).sizes(), Shape({4, 1}));  // the dim is kept, size 1
  // A 0-dim source: every index picks its only element.
  Tensor s = uniform({});
  Tensor zeros2 = index_tensor({0, 0}, {2});
  Tensor zero = tg::tensor(std::vector<int64_t>{0}, Shape{}, tg::kInt64);
  EXPECT_GRADCHECK([zeros2](const Inputs& in) { return tg::index_select(in[0], 0, zeros2); }, {s});
  EXPECT_GRADCHECK([zero](const Inputs& in) { return tg::index_select(in[0], 0, zero); }, {s});
}

TEST_F(AutogradGradcheck, GatherAndScatterAdd) {
  Tensor x = uniform({3, 4});
  Tensor idx = index_tensor({0, 3, 3, 1, 2, 2}, {3, 2});
  EXPECT_GRADCHECK([idx](const Inputs& in) { return tg::gather(in[0], 1, idx); }, {x});
  Tensor idx0 = index_tensor({2, 0, 1, 1, 0, 0, 2, 2}, {2, 4});
  EXPECT_GRADCHECK([idx0](const Inputs& in) { return in[0].gather(0, idx0); }, {x});
  // scatter_add: both the base and the source, with duplicate targets.
  Tensor base = uniform({3, 5}), src = uniform({3, 2});
  Tensor sidx = index_tensor({4, 4, 0, 2, 1, 3}, {3, 2});
  EXPECT_GRADCHECK([sidx](const Inputs& in) { return tg::scatter_add(in[0], 1, sidx, in[1]); },
                   {base, src});
  // A source larger than the index: only its leading window contributes.
  Tensor big_src = uniform({3, 4});
  EXPECT_GRADCHECK([sidx](const Inputs& in) { return in[0].scatter_add(1, sidx, in[1]); },
                   {base, big_src});
  Tensor sidx0 = index_tensor({1, 0, 0, 2, 2}, {1, 5});
  EXPECT_GRADCHECK([sidx0](const Inputs& in) { return tg::scatter_add(in[0], 0, sidx0, in[1]); },
                   {base, uniform({1, 5})});
}

TEST_F(AutogradGradcheck, Embedding) {
  Tensor weight = uniform({5, 3});
  Tensor ids = index_tensor({4, 0, 4, 2, 2, 4}, {2, 3});
  EXPECT_GRADCHECK([ids](const Inputs& in) { return tg::embedding(in[0], ids); }, {weight});
  Tensor flat = index_tensor({1, 3}, {2});
  EXPECT_GRADCHECK([flat](const Inputs& in) { return tg::embedding(in[0], flat) * 2.0; }, {weight});
}

// ================================================================ in place on non-leaves

TEST_F(AutogradGradcheck, InPlaceOnNonLeaves) {
  Tensor x = uniform({3, 4}), y = uniform({3, 4}), pos = uniform({3, 4}, 0.5, 1.5);
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        Tensor a = in[0].clone();
        tg::add_(a, in[1], 0.5);
        return a * a;
      },
      {x, y});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        Tensor a = in[0] * 1.0;
        a.add_(in[1]);
        a.add_(2.0);
        a.sub_(in[0], 3.0);
        return a * in[1];
      },
      {x, y});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        Tensor a = tg::sin(in[0]);  // sin keeps its input, not its output
        a.mul_(in[1]);              // both operands require grad
        return a;
      },
      {x, y});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        Tensor a = in[0] + 0.0;
        tg::mul_(a, in[0]);  // self times its own leaf
        return tg::sin(a);
      },
      {x});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        Tensor a = in[0] * 2.0;
        a.mul_(a);  // a *= a: both operands are a's old value
        return a;
      },
      {x});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        Tensor a = in[0].exp();
        Tensor b = a * 1.0;
        b.div_(b);  // identically 1: zero gradient through b
        return b * a;
      },
      {x});
  Tensor fixed = tg::rand({4}, tg::kFloat64);
  EXPECT_GRADCHECK(
      [fixed](const Inputs& in) {
        Tensor a = in[0].clone();
        a.mul_(fixed);  // other needs no gradient, broadcast
        a.mul_(-2.0);
        return a;
      },
      {x});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        Tensor a = in[0].clone();
        a.div_(in[1]);
        return a * in[0];
      },
      {x, pos});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        Tensor a = in[0] * 2.0;
        a.copy_(in[1]);  // a's old values (and x) no longer matter
        return a * a;
      },
      {x, y});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        Tensor a = in[0] * 2.0;
        tg::copy_(a, in[1].exp());
        return a * in[0];  // x still reaches the output through the multiplication
      },
      {x, y});
  Tensor row = uniform({4});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        Tensor a = tg::zeros({3, 4}, tg::kFloat64);
        a.copy_(in[0]);  // broadcast copy into a buffer that did not require grad
        a.add_(in[1]);   // broadcast add
        return a * in[1];
      },
      {row, y});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        Tensor a = in[0].clone();
        a += in[1];
        a *= in[1];
        a /= in[2];
        a *= 3.0;
        a += 1.0;
        return a;
      },
      {x, y, pos});
}

// ================================================================ composition

TEST_F(AutogradGradcheck, TensorReusedInOneExpression) {
  Tensor x = uniform({3, 4});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0] * in[0] + in[0].exp() * in[0]; }, {x});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        const Tensor& v = in[0];
        return (v * v * v).sum(1) + v.sum(1) * v.mean(1) - v.pow(2.0).sum(1);
      },
      {x});
}

TEST_F(AutogradGradcheck, ViewsAsInputs) {
  Tensor x = uniform({4, 3}), y = uniform({3, 4});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].t() * in[1]; }, {x, y});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].t().exp() + in[1].sigmoid(); }, {x, y});
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return in[0].slice(0, 1, 4, 2) * in[1].slice(0, 0, 3, 2).slice(1, 1, 4);
      },
      {x, y});
  EXPECT_GRADCHECK([](const Inputs& in) { return in[0].t().sum(0) * in[0].select(1, 2); }, {x});
  EXPECT_GRADCHECK(
      [](const Inputs& in) { return tg::log_softmax(in[0].t().slice(1, 1, 4), 1).sum(1); }, {x});
}

TEST_F(AutogradGradcheck, SmallNetwork) {
  // A layer, a loss and their gradients w.r.t. every parameter at once.
  Tensor input = tg::rand({5, 4}, tg::kFloat64);
  Tensor target = index_tensor({0, 2, 1, 2, 0}, {5, 1});
  Tensor w1 = uniform({4, 6}), b1 = uniform({6}), w2 = uniform({6, 3}), b2 = uniform({3});
  EXPECT_GRADCHECK(
      [=](const Inputs& in) {
        Tensor h = tg::tanh(tg::matmul(input, in[0]) + in[1]);
        Tensor logp = tg::log_softmax(tg::matmul(h, in[2]) + in[3], 1);
        return -tg::gather(logp, 1, target).mean();
      },
      {w1, b1, w2, b2});
}

// ================================================================ tape semantics

TEST(AutogradTape, GradAccumulatesOverTwoBackwardCalls) {
  Tensor x = leaf({1.0, 2.0, 3.0}, {3});
  (x * x).sum().backward();
  expect_values(x.grad(), {2.0, 4.0, 6.0});
  (x * x).sum().backward();
  expect_values(x.grad(), {4.0, 8.0, 12.0});
  (x * 3.0).sum().backward();
  expect_values(x.grad(), {7.0, 11.0, 15.0});
  EXPECT_FALSE(x.grad().requires_grad());
  EXPECT_EQ(x.grad().sizes(), Shape({3}));
  EXPECT_EQ(x.grad().dtype(), tg::kFloat64);
}

TEST(AutogradTape, BackwardWithExplicitGradient) {
  Tensor x = leaf({1.0, 2.0, 3.0, 4.0}, {2, 2});
  Tensor y = x * x;  // non-scalar
  y.backward(tg::tensor({{1.0, 0.5}, {-1.0, 2.0}}, tg::kFloat64));
  // dy/dx = 2x, times the given gradient.
  expect_values(x.grad(), {2.0, 2.0, -6.0, 16.0});
  // A float32 gradient for a float64 output is converted.
  Tensor z = x * 3.0;
  z.backward(tg::ones({2, 2}, tg::kFloat32));
  expect_values(x.grad(), {5.0, 5.0, -3.0, 19.0});
}

TEST(AutogradTape, RetainGraphAllowsASecondBackward) {
  Tensor x = leaf({1.0, -2.0}, {2});
  Tensor loss = (x * x * x).sum();  // d/dx = 3x^2
  loss.backward(Tensor(), /*retain_graph=*/true);
  expect_values(x.grad(), {3.0, 12.0});
  loss.backward(Tensor(), /*retain_graph=*/true);
  expect_values(x.grad(), {6.0, 24.0});
  loss.backward();  // the last one may free the graph
  expect_values(x.grad(), {9.0, 36.0});
  EXPECT_HAS_SUBSTR(error_message([&] { loss.backward(); }), "second time");
}

TEST(AutogradTape, DetachStopsGradients) {
  Tensor x = leaf({1.0, 2.0, 3.0}, {3});
  Tensor d = x.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.is_leaf());
  EXPECT_EQ(d.data_ptr(), x.data_ptr());  // shares the storage
  (d * x).sum().backward();
  expect_values(x.grad(), {1.0, 2.0, 3.0});  // x, not 2x
  // Detaching an intermediate cuts the graph below it.
  x.set_grad(Tensor());
  Tensor h = x.exp();
  Tensor loss = (h.detach() * x + x * x).sum();
  loss.backward();
  expect_values(x.grad(), {std::exp(1.0) + 2.0, std::exp(2.0) + 4.0, std::exp(3.0) + 6.0}, 1e-12);
  EXPECT_THROW(d.sum().backward(), tg::Error);
}

TEST(AutogradTape, NoGradGuardRecordsNothing) {
  Tensor x = leaf({1.0, 2.0}, {2});
  EXPECT_TRUE(tg::autograd::is_grad_enabled());
  {
    tg::NoGradGuard no_grad;
    EXPECT_FALSE(tg::autograd::is_grad_enabled());
    Tensor y = (x * 2.0).exp().sum();
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
    EXPECT_TRUE(y.is_leaf());
    EXPECT_NEAR(y.item(), std::exp(2.0) + std::exp(4.0), 1e-12);
    {
      tg::EnableGradGuard enable;  // nested: back on
      Tensor z = x * 2.0;
      EXPECT_TRUE(z.requires_grad());
      EXPECT_NE(z.grad_fn(), nullptr);
    }
    EXPECT_FALSE(tg::autograd::is_grad_enabled());
    {
      tg::NoGradGuard again;  // nested no-grad restores no-grad, not grad
    }
    EXPECT_FALSE(tg::autograd::is_grad_enabled());
  }
  EXPECT_TRUE(tg::autograd::is_grad_enabled());
  EXPECT_TRUE((x * 2.0).requires_grad());
  EXPECT_FALSE(x.grad().defined());  // nothing ran backward
}

TEST(AutogradTape, GradModeIsThreadLocal) {
  Tensor x = leaf({1.0, 2.0}, {2});
  bool thread_enabled = false, thread_records = false;
  double thread_grad = 0;
  {
    tg::NoGradGuard no_grad;
    std::thread worker([&] {
      thread_enabled = tg::autograd::is_grad_enabled();
      Tensor w = leaf({3.0}, {1});
      Tensor y = (w * w).sum();
      thread_records = y.requires_grad();
      y.backward();
      thread_grad = w.grad().item();
    });
    worker.join();
    EXPECT_FALSE(tg::autograd::is_grad_enabled());  // the thread did not turn it back on
    EXPECT_FALSE((x * 2.0).requires_grad());
  }
  EXPECT_TRUE(thread_enabled);
  EXPECT_TRUE(thread_records);
  EXPECT_DOUBLE_EQ(thread_grad, 6.0);
  // And the other way round: a thread in no-grad mode leaves this one alone.
  bool worker_in_no_grad = true;
  std::thread worker([&] {
    tg::NoGradGuard g;
    worker_in_no_grad = !tg::autograd::is_grad_enabled();
  });
  worker.join();
  EXPECT_TRUE(worker_in_no_grad);
  EXPECT_TRUE(tg::autograd::is_grad_enabled());
}

TEST(AutogradTape, RequiresGradPropagation) {
  Tensor a = leaf({1.0, 2.0}, {2});
  Tensor b = tg::tensor({3.0, 4.0}, tg::kFloat64);
  EXPECT_TRUE(a.requires_grad());
  EXPECT_FALSE(b.requires_grad());
  EXPECT_TRUE((a + b).requires_grad());
  EXPECT_TRUE((b * a).requires_grad());
  EXPECT_FALSE((b * b).requires_grad());
  EXPECT_FALSE(b.exp().requires_grad());
  EXPECT_TRUE(tg::cat({b, a}).requires_grad());
  EXPECT_FALSE(tg::cat({b, b}).requires_grad());
  EXPECT_TRUE(tg::where(b > 3.5, b, a).requires_grad());
  // Comparisons, argmax and integer results carry no gradient.
  EXPECT_FALSE((a > 1.5).requires_grad());
  EXPECT_FALSE(a.argmax().requires_grad());
  EXPECT_FALSE(a.to(tg::kInt64).requires_grad());
  EXPECT_TRUE(a.to(tg::kFloat32).requires_grad());
  // Only floating tensors may require grad.
  EXPECT_THROW(tg::tensor(std::vector<int64_t>{1, 2}, Shape{2}).requires_grad_(), tg::Error);
  // TensorOptions::requires_grad on a factory.
  Tensor c = tg::ones({2}, tg::TensorOptions(tg::kFloat64).requires_grad());
  EXPECT_TRUE(c.requires_grad());
  EXPECT_TRUE(c.is_leaf());
  // requires_grad_(false) on a leaf turns recording off for it.
  Tensor d = leaf({1.0}, {1});
  d.requires_grad_(false);
  EXPECT_FALSE((d * 2.0).requires_grad());
}

TEST(AutogradTape, IsLeaf) {
  Tensor x = leaf({1.0, 2.0}, {2});
  Tensor plain = tg::tensor({1.0, 2.0}, tg::kFloat64);
  EXPECT_TRUE(x.is_leaf());
  EXPECT_TRUE(plain.is_leaf());
  Tensor y = x * 2.0;
  EXPECT_FALSE(y.is_leaf());
  EXPECT_NE(y.grad_fn(), nullptr);
  EXPECT_TRUE((plain * 2.0).is_leaf());        // no history without an input requiring grad
  EXPECT_FALSE(x.unsqueeze(0).t().is_leaf());  // views of a leaf have history
  EXPECT_FALSE(x.slice(0, 0, 1).is_leaf());
  EXPECT_TRUE(x.t().is_same(x));  // t() of a 1-D tensor is the tensor itself
  EXPECT_TRUE(y.detach().is_leaf());
  // A non-leaf cannot stop requiring grad (detach it instead); it may keep requiring it.
  EXPECT_THROW(y.requires_grad_(false), tg::Error);
  EXPECT_NO_THROW(y.requires_grad_(true));
  // Only leaves get .grad.
  y.sum().backward();
  EXPECT_TRUE(x.grad().defined());
  EXPECT_FALSE(y.grad().defined());
}

TEST(AutogradTape, AutogradGradLeavesDotGradAlone) {
  Tensor x = leaf({1.0, 2.0, 3.0}, {3});
  Tensor w = leaf({0.5, -1.0, 2.0}, {3});
  x.set_grad(tg::tensor({10.0, 20.0, 30.0}, tg::kFloat64));
  Tensor loss = (x * x * w).sum();
  std::vector<Tensor> g = tg::autograd::grad({loss}, {x, w});
  ASSERT_EQ(g.size(), 2u);
  expect_values(g[0], {1.0, -4.0, 12.0});  // 2 x w
  expect_values(g[1], {1.0, 4.0, 9.0});    // x^2
  expect_values(x.grad(), {10.0, 20.0, 30.0});
  EXPECT_FALSE(w.grad().defined());
  // Only the inputs asked for; an explicit output gradient; an intermediate as an input.
  Tensor h = x * 2.0;
  Tensor out = h * h;  // [3]
  std::vector<Tensor> gh =
      tg::autograd::grad({out}, {h}, {tg::tensor({1.0, 1.0, -1.0}, tg::kFloat64)});
  expect_values(gh[0], {4.0, 8.0, -12.0});  // 2h * g
  EXPECT_FALSE(w.grad().defined());
  expect_values(x.grad(), {10.0, 20.0, 30.0});
  // An input that does not reach the output.
  Tensor unused = leaf({1.0}, {1});
  Tensor l2 = (x * 2.0).sum();
  EXPECT_HAS_SUBSTR(error_message([&] { tg::autograd::grad({l2}, {unused}, {}, true); }),
                    "not used");
  std::vector<Tensor> maybe = tg::autograd::grad({l2}, {x, unused}, {}, false, false, true);
  expect_values(maybe[0], {2.0, 2.0, 2.0});
  EXPECT_FALSE(maybe[1].defined());
  EXPECT_THROW(tg::autograd::grad({l2}, {tg::tensor({1.0}, tg::kFloat64)}), tg::Error);
}

TEST(AutogradTape, GradientThroughViewsLandsOnTheRightElements) {
  Tensor x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  // y = x.t() is [3, 2]; weights w[i][j] multiply x[j][i].
  Tensor w = tg::tensor({{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}}, tg::kFloat64);
  (x.t() * w).sum().backward();
  expect_values(x.grad(), {1, 3, 5, 2, 4, 6});
  x.set_grad(Tensor());
  x.t().sum().backward();
  expect_values(x.grad(), {1, 1, 1, 1, 1, 1});
  // x[:, 0] via select.
  x.set_grad(Tensor());
  (x.select(1, 0) * tg::tensor({10.0, 20.0}, tg::kFloat64)).sum().backward();
  expect_values(x.grad(), {10, 0, 0, 20, 0, 0});
  // x[1, ::2] via select then a stepped slice.
  x.set_grad(Tensor());
  (x.select(0, 1).slice(0, 0, 3, 2) * tg::tensor({7.0, 8.0}, tg::kFloat64)).sum().backward();
  expect_values(x.grad(), {0, 0, 0, 7, 0, 8});
  // A column through a transposed view, a reshape and an expand.
  x.set_grad(Tensor());
  (x.t().select(0, 2).reshape({2, 1}).expand({2, 4})).sum().backward();
  expect_values(x.grad(), {0, 0, 4, 0, 0, 4});
}

TEST(AutogradTape, TwoBranchesSum) {
  Tensor x = leaf({0.5, -1.0}, {2});
  Tensor a = x * 2.0, b = x * 3.0;
  (a + b).sum().backward();
  expect_values(x.grad(), {5.0, 5.0});
  // A diamond: h feeds two branches that meet again.
  x.set_grad(Tensor());
  Tensor h = x * x;
  Tensor out = (h.exp() + h * 4.0).sum();  // d/dx = (e^{x^2} + 4) 2x
  out.backward();
  expect_values(x.grad(), {(std::exp(0.25) + 4.0) * 1.0, (std::exp(1.0) + 4.0) * -2.0}, 1e-12);
  // A tensor used several times in one expression: x*x + exp(x)*x.
  x.set_grad(Tensor());
  (x * x + x.exp() * x).sum().backward();
  auto d = [](double v) { return 2 * v + std::exp(v) * (v + 1); };
  expect_values(x.grad(), {d(0.5), d(-1.0)}, 1e-12);
}

TEST(AutogradTape, GradOfFloat32LeafThroughFloat64) {
  Tensor x = tg::tensor({1.0, 2.0}, tg::kFloat32).requires_grad_();
  Tensor y = x.to(tg::kFloat64);
  (y * y * 0.5).sum().backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().dtype(), tg::kFloat32);
  expect_values(x.grad(), {1.0, 2.0});
}

// ================================================================ double backward

// x -> the gradient of sum(f(x) * w) w.r.t. x, computed with create_graph so that gradcheck can
// differentiate it once more (w: fixed weights, so that the first gradient is not trivial).
Fn first_gradient(const std::function<Tensor(const Tensor&)>& f, const Tensor& w) {
  return [f, w](const Inputs& in) {
    tg::EnableGradGuard on;  // gradcheck evaluates its finite differences in no-grad mode
    Tensor y = (f(in[0]) * w).sum();
    return tg::autograd::grad({y}, {in[0]}, {}, false, /*create_graph=*/true)[0];
  };
}

TEST(AutogradDoubleBackward, ExactSecondDerivatives) {
  Tensor x = leaf({1.0, 2.0, 3.0}, {3});
  Tensor y = (x * x * x).sum();
  std::vector<Tensor> g = tg::autograd::grad({y}, {x}, {}, false, true);
  expect_values(g[0], {3.0, 12.0, 27.0});
  ASSERT_TRUE(g[0].requires_grad());
  g[0].sum().backward();
  expect_values(x.grad(), {6.0, 12.0, 18.0});
  // Through a select and a stepped slice whose incoming gradient depends on x.
  x.set_grad(Tensor());
  Tensor s = x.select(0, 1).pow(3.0) + x.slice(0, 0, 3, 2).pow(3.0).sum();
  g = tg::autograd::grad({s}, {x}, {}, false, true);
  expect_values(g[0], {3.0, 12.0, 27.0});
  ASSERT_TRUE(g[0].requires_grad());
  (g[0] * tg::tensor({1.0, 10.0, 100.0}, tg::kFloat64)).sum().backward();
  expect_values(x.grad(), {6.0, 120.0, 1800.0});
  // backward(create_graph) leaves a .grad that itself has history.
  Tensor z = leaf({2.0}, {1});
  (z * z * z).sum().backward(Tensor(), false, /*create_graph=*/true);
  ASSERT_TRUE(z.grad().requires_grad());
  expect_values(z.grad(), {12.0});
  Tensor gz = z.grad();
  z.set_grad(Tensor());
  gz.sum().backward();
  expect_values(z.grad(), {12.0});  // 6 z
}

TEST(AutogradDoubleBackward, Gradgradcheck) {
  tg::manual_seed(99);
  auto weights = [](const Shape& s) { return tg::rand(s, tg::kFloat64) + 0.5; };
  Tensor x = uniform({3, 4}, 0.5, 1.5);
  Tensor w = weights({3, 4});
  EXPECT_GRADCHECK(first_gradient([](const Tensor& v) { return v * v * v; }, w), {x});
  EXPECT_GRADCHECK(first_gradient([](const Tensor& v) { return tg::log(v) / v; }, w), {x});
  EXPECT_GRADCHECK(first_gradient([](const Tensor& v) { return v.pow(2.5) + tg::sin(v); }, w), {x});
  EXPECT_GRADCHECK(first_gradient([](const Tensor& v) { return tg::cos(v) * tg::square(v); }, w),
                   {x});
  EXPECT_GRADCHECK(
      first_gradient([](const Tensor& v) { return tg::matmul(v, v.t()).sum(1); }, weights({3})),
      {x});
  EXPECT_GRADCHECK(
      first_gradient([](const Tensor& v) { return v.t().reshape({12}) * v.sum(); }, weights({12})),
      {x});
  EXPECT_GRADCHECK(
      first_gradient([](const Tensor& v) { return v.select(1, 2).pow(3.0); }, weights({3})), {x});
  EXPECT_GRADCHECK(
      first_gradient([](const Tensor& v) { return v.slice(1, 0, 4, 3).pow(3.0); }, weights({3, 2})),
      {x});
  EXPECT_GRADCHECK(first_gradient(
                       [](const Tensor& v) {
                         return tg::cat({v * v, v.slice(0, 1, 3)}, 0);
                       },
                       weights({5, 4})),
                   {x});
  Tensor idx = index_tensor({3, 0, 0, 2, 1, 1}, {3, 2});
  EXPECT_GRADCHECK(
      first_gradient([=](const Tensor& v) { return tg::gather(v * v, 1, idx); }, weights({3, 2})),
      {x});
}

// Ops whose backward reads their own output (exp, tanh, softmax, ...) or runs a fused activation
// gradient: the first gradient must carry history through those too.
TEST(AutogradDoubleBackward, OpsThatSaveTheirOutputAndActivations) {
  tg::manual_seed(98);
  auto weights = [](const Shape& s) { return tg::rand(s, tg::kFloat64) + 0.5; };
  Tensor x = uniform({3, 4}, -1.5, 1.5, {0.0, -0.5, 0.5});
  Tensor pos = uniform({3, 4}, 0.5, 1.5);
  Tensor w = weights({3, 4});
  using F = std::function<Tensor(const Tensor&)>;
  const std::vector<std::pair<const char*, F>> on_x = {
      {"exp", [](const Tensor& v) { return tg::exp(v); }},
      {"expm1", [](const Tensor& v) { return tg::expm1(v); }},
      {"tanh", [](const Tensor& v) { return tg::tanh(v); }},
      {"sigmoid", [](const Tensor& v) { return tg::sigmoid(v); }},
      {"tanh * x", [](const Tensor& v) { return tg::tanh(v) * v; }},
      {"relu * x", [](const Tensor& v) { return tg::relu(v) * v; }},
      {"leaky_relu * x", [](const Tensor& v) { return tg::leaky_relu(v, 0.1) * v; }},
      {"gelu", [](const Tensor& v) { return tg::gelu(v, "none"); }},
      {"gelu tanh", [](const Tensor& v) { return tg::gelu(v, "tanh"); }},
      {"softplus", [](const Tensor& v) { return tg::softplus(v, 2.0, 20.0); }},
      {"clamp * x", [](const Tensor& v) { return tg::clamp(v, -0.5, 0.5) * v; }},
      {"softmax", [](const Tensor& v) { return tg::softmax(v, 1); }},
      {"log_softmax", [](const Tensor& v) { return tg::log_softmax(v, 0); }},
      {"2 ^ x", [](const Tensor& v) { return tg::pow(2.0, v); }},
      {"1 / x^2", [](const Tensor& v) { return 1.0 / (v * v + 1.0); }},
  };
  for (const auto& [name, f] : on_x) {
    SCOPED_TRACE(name);
    EXPECT_GRADCHECK(first_gradient(f, w), {x});
  }
  const std::vector<std::pair<const char*, F>> on_positive = {
      {"sqrt", [](const Tensor& v) { return tg::sqrt(v); }},
      {"rsqrt", [](const Tensor& v) { return tg::rsqrt(v); }},
  };
  for (const auto& [name, f] : on_positive) {
    SCOPED_TRACE(name);
    EXPECT_GRADCHECK(first_gradient(f, w), {pos});
  }
  // A hand-derived value: d2/dx2 sum(tanh(x) * x) = 2 (1 - t^2) - 2 x t (1 - t^2).
  Tensor v = leaf({0.7}, {1});
  Tensor g = tg::autograd::grad({(tg::tanh(v) * v).sum()}, {v}, {}, false, true)[0];
  g.sum().backward();
  const double t = std::tanh(0.7);
  expect_values(v.grad(), {2 * (1 - t * t) - 2 * 0.7 * t * (1 - t * t)}, 1e-12);
}

// ================================================================ version counter

TEST(AutogradVersion, ModifiedSavedOutputIsDetected) {
  Tensor x = leaf({0.0, 1.0}, {2});
  Tensor y = x.exp();  // exp keeps its output for the backward
  Tensor z = y * 2.0;
  const uint64_t before = y.version();
  y.add_(1.0);
  EXPECT_GT(y.version(), before);
  std::string msg = error_message([&] { z.sum().backward(); });
  EXPECT_HAS_SUBSTR(msg, "modified by an in-place operation");
  EXPECT_HAS_SUBSTR(msg, "exp");
}

TEST(AutogradVersion, ModifiedSavedInputIsDetected) {
  Tensor x = leaf({1.0, 2.0}, {2});
  Tensor w = leaf({3.0, 4.0}, {2});
  Tensor a = x * 1.0;
  Tensor c = a * w;  // mul keeps a (for w's gradient)
  a.mul_(2.0);
  EXPECT_HAS_SUBSTR(error_message([&] { c.sum().backward(); }),
                    "modified by an in-place operation");
}

TEST(AutogradVersion, ModificationThroughAViewIsDetected) {
  Tensor x = leaf({0.0, 1.0, 2.0}, {3});
  Tensor y = x.exp();
  {
    tg::NoGradGuard no_grad;
    y.select(0, 1).fill_(5.0);  // writes the shared storage through a view
  }
  EXPECT_HAS_SUBSTR(error_message([&] { y.sum().backward(); }),
                    "modified by an in-place operation");
}

TEST(AutogradVersion, LeafUpdatedAfterBeingSavedIsDetected) {
  // The classic mistake: an optimizer step between the forward and the backward.
  Tensor w = leaf({1.0, 2.0}, {2});
  Tensor loss = (w * w).sum();
  {
    tg::NoGradGuard no_grad;
    w.sub_(tg::ones({2}, tg::kFloat64), 0.1);
  }
  EXPECT_HAS_SUBSTR(error_message([&] { loss.backward(); }), "modified by an in-place operation");
}

TEST(AutogradVersion, InPlaceWithItselfAsOperand) {
  Tensor x = leaf({1.0, -2.0, 3.0}, {3});
  std::weak_ptr<tg::autograd::Node> node;
  {
    Tensor a = x * 1.0;
    a.mul_(a);  // a = x^2
    node = a.grad_fn();
    expect_values(a, {1.0, 4.0, 9.0});
    a.sum().backward();
  }
  expect_values(x.grad(), {2.0, -4.0, 6.0});
  EXPECT_TRUE(node.expired());  // no cycle a -> node -> a
  x.set_grad(Tensor());
  {
    Tensor a = x * 2.0;
    a.div_(a);  // identically 1
    node = a.grad_fn();
    (a * x).sum().backward();
    expect_values(a, {1.0, 1.0, 1.0});
  }
  expect_values(x.grad(), {1.0, 1.0, 1.0});
  EXPECT_TRUE(node.expired());
}

TEST(AutogradVersion, ModifyingAnUnsavedTensorIsFine) {
  Tensor x = leaf({0.0, 1.0}, {2});
  Tensor a = x * 1.0;
  Tensor b = a.sigmoid();  // sigmoid keeps its output b, not a
  a.add_(1.0);
  (b + a).sum().backward();
  const double s0 = sigmoid(0.0), s1 = sigmoid(1.0);
  expect_values(x.grad(), {s0 * (1 - s0) + 1.0, s1 * (1 - s1) + 1.0}, 1e-12);
  expect_values(b, {s0, s1}, 1e-12);
  expect_values(a, {1.0, 2.0});
}

TEST(AutogradVersion, InPlaceOnLeafRequiringGrad) {
  Tensor x = leaf({1.0, 2.0}, {2});
  EXPECT_HAS_SUBSTR(error_message([&] { x.add_(1.0); }), "leaf");
  EXPECT_THROW(x.mul_(2.0), tg::Error);
  EXPECT_THROW(x.add_(tg::ones({2}, tg::kFloat64)), tg::Error);
  EXPECT_THROW(x.copy_(tg::ones({2}, tg::kFloat64)), tg::Error);
  EXPECT_THROW(x.zero_(), tg::Error);
  expect_values(x, {1.0, 2.0});  // refused before writing anything
  const uint64_t before = x.version();
  {
    tg::NoGradGuard no_grad;
    x.add_(1.0);
    x.mul_(tg::tensor({2.0, 3.0}, tg::kFloat64));
  }
  expect_values(x, {4.0, 9.0});
  EXPECT_GT(x.version(), before);
  EXPECT_TRUE(x.is_leaf());
  EXPECT_TRUE(x.requires_grad());
  EXPECT_EQ(x.grad_fn(), nullptr);
  // The updated leaf still works in a new graph.
  (x * x).sum().backward();
  expect_values(x.grad(), {8.0, 18.0});
}

TEST(AutogradVersion, InPlaceIntoABufferThatNeedsNoGrad) {
  Tensor x = leaf({1.0, 2.0}, {2});
  Tensor buf = tg::zeros({2}, tg::kFloat64);
  buf.add_(x, 3.0);
  EXPECT_TRUE(buf.requires_grad());
  EXPECT_FALSE(buf.is_leaf());
  (buf * buf).sum().backward();  // 9 x^2
  expect_values(x.grad(), {18.0, 36.0});
}

// ================================================================ errors

TEST(AutogradErrors, InPlaceIntoAViewWhileRecordingIsRefused) {
  Tensor x = leaf({1.0, 2.0, 3.0}, {3});
  // Writing a tensor that requires grad into a row of a plain buffer: the buffer would never get
  // the history, so its gradient would be silently lost. It must be refused, loudly.
  Tensor buf = tg::zeros({2, 3}, tg::kFloat64);
  EXPECT_HAS_SUBSTR(error_message([&] { buf.select(0, 0).copy_(x); }), "view");
  EXPECT_THROW(buf.slice(1, 0, 2).add_(x.slice(0, 0, 2)), tg::Error);
  EXPECT_THROW(buf.t().mul_(x.unsqueeze(1)), tg::Error);
  expect_values(buf, {0, 0, 0, 0, 0, 0});  // refused before writing
  // A view of a tensor that requires grad.
  Tensor a = x * 2.0;
  EXPECT_HAS_SUBSTR(error_message([&] { a.select(0, 0).mul_(3.0); }), "view");
  EXPECT_THROW(a.slice(0, 0, 2).add_(1.0), tg::Error);
  // The same writes are fine when nothing is recorded.
  {
    tg::NoGradGuard no_grad;
    buf.select(0, 0).copy_(x);
    a.select(0, 2).mul_(3.0);
  }
  expect_values(buf, {1, 2, 3, 0, 0, 0});
  expect_values(a, {2, 4, 18});
  Tensor plain = tg::zeros({2, 3}, tg::kFloat64);
  plain.select(0, 1).copy_(tg::tensor({4.0, 5.0, 6.0}, tg::kFloat64));  // nothing requires grad
  expect_values(plain, {0, 0, 0, 4, 5, 6});
  // The out-of-place way to build the buffer carries the gradient.
  Tensor built = tg::stack({x * 2.0, tg::zeros({3}, tg::kFloat64)});
  (built * built).sum().backward();
  expect_values(x.grad(), {8.0, 16.0, 24.0});
}

TEST(AutogradErrors, ViewTakenBeforeAnInPlaceOpOnItsBaseIsRefused) {
  Tensor x = leaf({1.0, 2.0, 3.0}, {3});
  Tensor y = x * 2.0;
  Tensor early = y.narrow(0, 0, 2);
  y.mul_(3.0);  // y = 6x now; `early` sees the new values but holds the old history (2x)
  expect_values(early, {6, 12});
  EXPECT_HAS_SUBSTR(error_message([&] { early.sum().backward(); }), "stale");
  EXPECT_HAS_SUBSTR(error_message([&] { (early * x.narrow(0, 0, 2)).sum(); }), "view");
  EXPECT_THROW(early.backward(tg::ones({2}, tg::kFloat64)), tg::Error);
  // Taken after the in-place op, the view carries the new history.
  y.narrow(0, 0, 2).sum().backward();
  expect_values(x.grad(), {6, 6, 0});
  // Modifying values without recording (an optimizer step) leaves the history valid.
  Tensor w = leaf({1.0, 2.0}, {2});
  Tensor wt = w.unsqueeze(0);
  {
    tg::NoGradGuard no_grad;
    w.add_(tg::ones({2}, tg::kFloat64));
  }
  (wt * wt).sum().backward();
  expect_values(w.grad(), {4, 6});
  // A detached view is a constant: no history to go stale.
  Tensor z = x * 2.0;
  Tensor frozen = z.detach();
  z.add_(1.0);
  x.set_grad(Tensor());
  (frozen * x).sum().backward();
  expect_values(x.grad(), {3, 5, 7});
}

TEST(AutogradErrors, NonScalarBackwardNeedsAGradient) {
  Tensor x = leaf({1.0, 2.0}, {2});
  Tensor y = x * 2.0;
  EXPECT_HAS_SUBSTR(error_message([&] { y.backward(); }), "scalar");
  EXPECT_THROW(y.backward(tg::ones({3}, tg::kFloat64)), tg::Error);  // wrong shape
  EXPECT_FALSE(x.grad().defined());
}

TEST(AutogradErrors, SecondBackwardWithoutRetainGraph) {
  Tensor x = leaf({1.0, 2.0}, {2});
  Tensor loss = (x * x).sum();
  loss.backward();
  expect_values(x.grad(), {2.0, 4.0});
  EXPECT_HAS_SUBSTR(error_message([&] { loss.backward(); }), "second time");
}

TEST(AutogradErrors, BackwardOnATensorThatDoesNotRequireGrad) {
  Tensor x = tg::tensor({1.0, 2.0}, tg::kFloat64);
  EXPECT_HAS_SUBSTR(error_message([&] { x.sum().backward(); }), "does not require grad");
  Tensor l = leaf({1.0}, {1});
  Tensor no_history;
  {
    tg::NoGradGuard g;
    no_history = (l * 2.0).sum();
  }
  EXPECT_HAS_SUBSTR(error_message([&] { no_history.backward(); }), "does not require grad");
  EXPECT_THROW(Tensor().backward(), tg::Error);
}

// ================================================================ memory

size_t resident_bytes() {
  long pages_total = 0, pages_resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
  std::fclose(f);
  return static_cast<size_t>(pages_resident) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// AddressSanitizer keeps freed memory in quarantine (RSS grows by design); its LeakSanitizer
// checks for leaks at exit instead.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

// Bytes malloc has handed out and not got back, where glibc can tell (mallinfo2: glibc 2.33+).
std::optional<size_t> malloc_in_use() {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  return mallinfo2().uordblks;
#else
  return std::nullopt;
#endif
}

TEST(AutogradMemory, TrainingLoopDoesNotGrow) {
  tg::manual_seed(7);
  const int64_t n = 16, d_in = 4, hidden = 16, classes = 3;
  Tensor x = tg::randn({n, d_in});
  Tensor labels = tg::randint(0, classes, {n, 1});
  auto param = [](const Shape& s, double scale) {
    Tensor p = tg::randn(s) * scale;
    p.requires_grad_();
    return p;
  };
  std::vector<Tensor> params = {param({d_in, hidden}, 0.5),    param({hidden}, 0.1),
                                param({hidden, hidden}, 0.3),  param({hidden}, 0.1),
                                param({hidden, classes}, 0.3), param({classes}, 0.1)};
  const double lr = 0.1;
  auto step = [&](int64_t i) {
    Tensor h1 = tg::relu(tg::matmul(x, params[0]) + params[1]);
    Tensor h2 = tg::tanh(tg::matmul(h1, params[2]) + params[3]);
    Tensor logp = tg::log_softmax(tg::matmul(h2, params[4]) + params[5], 1);
    Tensor loss = -tg::gather(logp, 1, labels).mean();
    loss.backward();
    {
      tg::NoGradGuard no_grad;
      for (size_t k = 0; k < params.size(); ++k) {
        params[k].sub_(params[k].grad(), lr);
        // Both ways of clearing: zero in place, and drop the gradient.
        if ((i + static_cast<int64_t>(k)) % 2 == 0)
          params[k].grad().zero_();
        else
          params[k].set_grad(Tensor());
      }
    }
    return loss.item();
  };
  const double first_loss = step(0);
  size_t rss_1000 = 0;
  std::optional<size_t> heap_1000;
  double last_loss = 0;
  for (int64_t i = 1; i <= 10000; ++i) {
    last_loss = step(i);
    if (i == 1000) {
      rss_1000 = resident_bytes();
      heap_1000 = malloc_in_use();
    }
  }
  const size_t rss_10000 = resident_bytes();
  const std::optional<size_t> heap_10000 = malloc_in_use();
  // And the loop really trained.
  EXPECT_TRUE(std::isfinite(last_loss));
  EXPECT_LT(last_loss, 0.5 * first_loss) << "loss " << first_loss << " -> " << last_loss;
  if (kAddressSanitizer) GTEST_SKIP() << "memory growth is not measurable under AddressSanitizer";
  ASSERT_GT(rss_1000, 0u);
  const double rss_growth = static_cast<double>(rss_10000) - static_cast<double>(rss_1000);
  EXPECT_LT(rss_growth, 2.0 * 1024 * 1024) << "RSS " << rss_1000 << " -> " << rss_10000;
  if (heap_1000 && heap_10000) {
    // A leak of even 32 bytes a step (one small node, one shared_ptr block) would show here.
    const double heap_growth = static_cast<double>(*heap_10000) - static_cast<double>(*heap_1000);
    EXPECT_LT(heap_growth, 256.0 * 1024) << "heap in use " << *heap_1000 << " -> " << *heap_10000;
  }
}

TEST(AutogradMemory, GraphIsFreedWithTheLoss) {
  Tensor x = leaf({1.0, 2.0, 3.0}, {3});
  std::weak_ptr<tg::autograd::Node> loss_node, mid_node, accumulator;
  {
    Tensor h = x.exp();
    Tensor loss = (h * x).sum();
    loss_node = loss.grad_fn();
    mid_node = h.grad_fn();
    accumulator = x.impl()->grad_accumulator;
    EXPECT_FALSE(loss_node.expired());
    EXPECT_FALSE(mid_node.expired());
    EXPECT_FALSE(accumulator.expired());
  }
  EXPECT_TRUE(loss_node.expired());
  EXPECT_TRUE(mid_node.expired());
  EXPECT_TRUE(accumulator.expired());
  // Same after a backward with retain_graph.
  {
    Tensor loss = (x.exp() * x).sum();
    loss_node = loss.grad_fn();
    loss.backward(Tensor(), /*retain_graph=*/true);
    EXPECT_FALSE(loss_node.expired());
  }
  EXPECT_TRUE(loss_node.expired());
  EXPECT_EQ(x.impl_ptr().use_count(), 1);  // no node holds the leaf any more
}

TEST(AutogradMemory, SavedTensorsAreReleasedByBackward) {
  Tensor x = leaf({0.5, -0.25}, {2});
  std::weak_ptr<tg::TensorImpl> saved_input;
  std::weak_ptr<tg::Storage> saved_output;
  Tensor loss;
  {
    Tensor h = x * 3.0;        // saved (as an input) by h * h
    Tensor e = (h * h).exp();  // exp keeps its output's storage
    loss = e.sum() + (h * h).sum();
    saved_input = h.impl_ptr();
    saved_output = e.storage();
  }
  EXPECT_FALSE(saved_input.expired());  // only the graph holds them now
  EXPECT_FALSE(saved_output.expired());
  loss.backward();
  EXPECT_TRUE(saved_input.expired());
  EXPECT_TRUE(saved_output.expired());
  // d/dx [exp(9x^2) + 9x^2] = 18x (exp(9x^2) + 1)
  expect_values(x.grad(), {9.0 * (std::exp(2.25) + 1.0), -4.5 * (std::exp(0.5625) + 1.0)}, 1e-10);

  // With retain_graph the saved tensors stay until the graph itself goes.
  {
    Tensor l2;
    {
      Tensor h = x * 3.0;
      l2 = (h * h).sum();
      saved_input = h.impl_ptr();
    }
    l2.backward(Tensor(), /*retain_graph=*/true);
    EXPECT_FALSE(saved_input.expired());
  }
  EXPECT_TRUE(saved_input.expired());
}

}  // namespace
