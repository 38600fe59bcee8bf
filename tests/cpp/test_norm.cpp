// The fused layer normalization (layer_norm_normalize, kernels' layer_norm_rows) against the
// composed ops it replaces, finite differences and a float64 reference.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "autograd/functions.h"
#include "autograd/functions_rnn.h"
#include "autograd/gradcheck.h"
#include "core/native_norm.h"
#include "nn/functional.h"

namespace {

using namespace tg;

// Restores the default (fused) when a test switched it off.
struct FusedGuard {
  ~FusedGuard() { set_fused_layer_norm_enabled(true); }
};

void expect_close(const Tensor& a, const Tensor& b, double tol, const char* what) {
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  ASSERT_EQ(x.size(), y.size()) << what;
  for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(x[i], y[i], tol * (1 + std::abs(y[i]))) << what << " at " << i;
}

struct Result {
  Tensor out, gx, gw, gb;
};

Result run_layer_norm(const Tensor& x0, const Tensor& w0, const Tensor& b0, const Shape& normalized, const Tensor& g,
                   bool fused) {
  FusedGuard guard;
  set_fused_layer_norm_enabled(fused);
  Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_(), b = b0.clone().requires_grad_();
  Tensor out = nn::F::layer_norm(x, normalized, w, b, 1e-5);
  out.backward(g);
  return {out.detach(), x.grad(), w.grad(), b.grad()};
}

TEST(FusedLayerNorm, MatchesTheComposedOpsForwardAndBackward) {
  for (DType dtype : {kFloat32, kFloat64})
    for (const auto& [shape, normalized] : std::vector<std::pair<Shape, Shape>>{
             {{7, 33}, {33}}, {{2, 3, 4, 5}, {4, 5}}, {{3, 1}, {1}}, {{0, 8}, {8}}}) {
      SCOPED_TRACE(shape_str(shape) + (dtype == kFloat64 ? " float64" : " float32"));
      manual_seed(1);
      const Tensor x = add(mul(randn(shape, dtype), 3.0), 2.0), g = randn(shape, dtype);
      const Tensor w = randn(normalized, dtype), b = randn(normalized, dtype);
      const Result fused = run_layer_norm(x, w, b, normalized, g, true);
      const Result composed = run_layer_norm(x, w, b, normalized, g, false);
      const double tol = dtype == kFloat64 ? 1e-12 : 2e-5;
      expect_close(fused.out, composed.out, tol, "out");
      expect_close(fused.gx, composed.gx, tol, "x.grad");
      expect_close(fused.gw, composed.gw, tol, "weight.grad");
      expect_close(fused.gb, composed.gb, tol, "bias.grad");
    }
}

TEST(FusedLayerNorm, GradcheckFirstAndSecondOrder) {
  manual_seed(2);
  const Tensor x = randn({3, 6}, kFloat64).requires_grad_();
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return layer_norm_normalize(in[0], 1e-5); }, {x}));
  // create_graph: the gradient is itself differentiable, checked against finite differences of it.
  const Tensor g = randn({3, 6}, kFloat64);
  Tensor first[2], second[2];
  for (int fused = 0; fused < 2; ++fused) {
    FusedGuard guard;
    set_fused_layer_norm_enabled(fused == 1);
    Tensor xi = x.detach().clone().requires_grad_();
    Tensor y = layer_norm_normalize(xi, 1e-5);
    Tensor gx = autograd::grad({sum(mul(y, g))}, {xi}, {}, true, true)[0];
    first[fused] = gx.detach();
    second[fused] = autograd::grad({sum(mul(gx, gx))}, {xi})[0];
  }
  expect_close(first[1], first[0], 1e-12, "first-order gradient under create_graph");
  // h(x) = sum(grad_x(x)^2) by central differences of the first-order gradient.
  auto h = [&](const Tensor& xv) {
    Tensor xi = xv.clone().requires_grad_();
    Tensor gx = autograd::grad({sum(mul(layer_norm_normalize(xi, 1e-5), g))}, {xi})[0];
    return sum(mul(gx, gx)).item();
  };
  const std::vector<double> x0 = x.detach().to_vector<double>();
  std::vector<double> numeric;
  for (size_t i = 0; i < x0.size(); ++i) {
    std::vector<double> plus = x0, minus = x0;
    plus[i] += 1e-6, minus[i] -= 1e-6;
    numeric.push_back((h(tensor(plus, {3, 6}, kFloat64)) - h(tensor(minus, {3, 6}, kFloat64))) / 2e-6);
  }
  expect_close(second[0], tensor(numeric, {3, 6}, kFloat64), 1e-5, "composed second-order gradient");
  expect_close(second[1], tensor(numeric, {3, 6}, kFloat64), 1e-5, "fused second-order gradient");
}

TEST(FusedLayerNorm, LargeOffsetRowsAgainstFloat64) {
  // Rows far from zero with a small spread: two passes (mean, then variance) keep float32 exact
  // enough where E[x^2] - E[x]^2 would cancel.
  manual_seed(3);
  const Tensor x64 = add(randn({4, 100000}, kFloat64), 1e4);
  const Tensor x32 = x64.to(kFloat32);
  const Tensor ref = layer_norm_normalize(x64, 1e-5);
  const Tensor got = layer_norm_normalize(x32, 1e-5);
  expect_close(got, ref, 2e-3, "normalized");  // float32 inputs round 1e4 + z to ~1e-3
}

TEST(FusedLayerNorm, NativeOpsNameBadOperands) {
  EXPECT_THROW(native::layer_norm_rows(ones({4}), 1e-5), Error);
  EXPECT_THROW(native::layer_norm_rows(ones({2, 3}, kInt64), 1e-5), Error);
  EXPECT_THROW(native::layer_norm_rows(ones({2, 0}), 1e-5), Error);
  auto [y, m, r] = native::layer_norm_rows(ones({2, 3}), 1e-5);
  try {
    native::layer_norm_rows_backward(ones({2, 3}), m, r, ones({3, 2}));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer_norm_rows_backward"), std::string::npos) << e.what();
  }
}

}  // namespace
