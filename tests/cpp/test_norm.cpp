// The fused layer and batch normalizations (layer_norm_normalize and batch_norm_fused, kernels'
// layer_norm_rows and batch_norm) against the composed ops they replace, finite differences and
// float64 references.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "autograd/functions.h"
#include "autograd/functions_fused.h"
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

// ---------------------------------------------------------------- batch norm

struct BatchNormGuard {
  ~BatchNormGuard() { set_fused_batch_norm_enabled(true); }
};

struct BnResult {
  Tensor out, gx, gw, gb, running_mean, running_var;
};

BnResult run_batch_norm(const Tensor& x0, const Tensor& w0, const Tensor& b0, bool training, const Tensor& g,
                        bool fused) {
  BatchNormGuard guard;
  set_fused_batch_norm_enabled(fused);
  const int64_t c = x0.size(1);
  Tensor x = x0.clone().requires_grad_();
  Tensor w = w0.defined() ? w0.clone().requires_grad_() : Tensor();
  Tensor b = b0.defined() ? b0.clone().requires_grad_() : Tensor();
  Tensor rm = arange(0.0, double(c), 1.0, x0.dtype()), rv = add(arange(0.0, double(c), 1.0, x0.dtype()), 0.5);
  Tensor out = nn::F::batch_norm(x, rm, rv, w, b, training, 0.1, 1e-5);
  out.backward(g);
  return {out.detach(), x.grad(), w.defined() ? w.grad() : Tensor(), b.defined() ? b.grad() : Tensor(), rm, rv};
}

TEST(FusedBatchNorm, MatchesTheComposedOpsTrainingAndEval) {
  for (DType dtype : {kFloat32, kFloat64})
    for (const Shape& shape : {Shape{8, 3}, Shape{4, 3, 5, 5}, Shape{2, 4, 7}, Shape{3, 2, 1, 1}})
      for (bool training : {true, false})
        for (bool affine : {true, false}) {
          SCOPED_TRACE(shape_str(shape) + (dtype == kFloat64 ? " float64" : " float32") +
                       (training ? " training" : " eval") + (affine ? " affine" : ""));
          manual_seed(7);
          const int64_t c = shape[1];
          const Tensor x = add(mul(randn(shape, dtype), 2.0), 1.5), g = randn(shape, dtype);
          const Tensor w = affine ? randn({c}, dtype) : Tensor(), b = affine ? randn({c}, dtype) : Tensor();
          const BnResult fused = run_batch_norm(x, w, b, training, g, true);
          const BnResult composed = run_batch_norm(x, w, b, training, g, false);
          const double tol = dtype == kFloat64 ? 1e-12 : 2e-5;
          expect_close(fused.out, composed.out, tol, "out");
          expect_close(fused.gx, composed.gx, tol, "x.grad");
          if (affine) {
            expect_close(fused.gw, composed.gw, tol, "weight.grad");
            expect_close(fused.gb, composed.gb, tol, "bias.grad");
          }
          expect_close(fused.running_mean, composed.running_mean, tol, "running_mean");
          expect_close(fused.running_var, composed.running_var, tol, "running_var");
        }
}

// Training statistics and output against a float64 loop written here: per channel over N, H, W,
// biased variance for normalizing, unbiased for the running average.
TEST(FusedBatchNorm, TrainingForwardAgainstAFloat64Loop) {
  manual_seed(8);
  const int64_t n = 3, c = 2, hw = 5;
  const Tensor x = add(randn({n, c, hw}, kFloat64), 1e3);  // an offset, to catch E[x^2] - E[x]^2
  const Tensor w = tensor(std::vector<double>{2.0, -0.5}, {2}), b = tensor(std::vector<double>{0.25, 1.0}, {2});
  Tensor rm = zeros({c}, kFloat64), rv = ones({c}, kFloat64);
  const std::vector<double> y = nn::F::batch_norm(x.to(kFloat32), rm, rv, w.to(kFloat32), b.to(kFloat32), true, 0.1, 1e-5)
                                    .to_vector<double>();
  const std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>(), bv = b.to_vector<double>();
  const std::vector<double> rmv = rm.to_vector<double>(), rvv = rv.to_vector<double>();
  const std::vector<double> x32 = x.to(kFloat32).to_vector<double>();  // the values the float32 op saw
  for (int64_t ch = 0; ch < c; ++ch) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < hw; ++j) mean += x32[(i * c + ch) * hw + j] / double(n * hw);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < hw; ++j) var += std::pow(x32[(i * c + ch) * hw + j] - mean, 2) / double(n * hw);
    EXPECT_NEAR(rmv[ch], 0.1 * mean, 1e-4 * std::abs(mean));
    EXPECT_NEAR(rvv[ch], 0.9 + 0.1 * var * double(n * hw) / double(n * hw - 1), 1e-4);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < hw; ++j) {
        const int64_t k = (i * c + ch) * hw + j;
        EXPECT_NEAR(y[k], (x32[k] - mean) / std::sqrt(var + 1e-5) * wv[ch] + bv[ch], 2e-3) << k;
      }
  }
}

TEST(FusedBatchNorm, GradcheckFirstAndSecondOrder) {
  manual_seed(9);
  const Tensor x = randn({4, 3, 2}, kFloat64).requires_grad_();
  const Tensor w = randn({3}, kFloat64).requires_grad_(), b = randn({3}, kFloat64).requires_grad_();
  const Tensor rm = randn({3}, kFloat64), rv = add(rand({3}, kFloat64), 0.5);
  for (bool training : {true, false}) {
    SCOPED_TRACE(training ? "training" : "eval");
    EXPECT_TRUE(gradcheck([&](const std::vector<Tensor>& in) {
      return std::get<0>(batch_norm_fused(in[0], in[1], in[2], rm, rv, training, 1e-5));
    }, {x, w, b}));
    // create_graph: gradients of the gradients agree with the composed ops' (plain autograd).
    const Tensor g = randn({4, 3, 2}, kFloat64);
    Tensor second[2][2];
    for (int fused = 0; fused < 2; ++fused) {
      BatchNormGuard guard;
      set_fused_batch_norm_enabled(fused == 1);
      Tensor xi = x.detach().clone().requires_grad_(), wi = w.detach().clone().requires_grad_();
      Tensor y = nn::F::batch_norm(xi, rm.clone(), rv.clone(), wi, b.detach(), training, 0.1, 1e-5);
      auto grads = autograd::grad({sum(mul(y, g))}, {xi, wi}, {}, true, true);
      Tensor h = add(sum(mul(grads[0], grads[0])), sum(mul(grads[1], grads[1])));
      auto gg = autograd::grad({h}, {xi, wi}, {}, false, true);
      second[fused][0] = gg[0];
      second[fused][1] = gg[1];
    }
    ASSERT_TRUE(second[1][0].defined() && second[1][1].defined());
    expect_close(second[1][0], second[0][0], 1e-10, "d/dx of the gradients");
    expect_close(second[1][1], second[0][1], 1e-10, "d/dweight of the gradients");
  }
}

TEST(FusedBatchNorm, NativeOpsNameBadOperands) {
  try {
    (void)native::batch_norm(ones({4, 3}), ones({2}), Tensor(), {}, true, 1e-5);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("batch_norm: weight must have shape [3]"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)native::batch_norm(ones({4}), Tensor(), Tensor(), {}, true, 1e-5), Error);
  EXPECT_THROW((void)native::batch_norm(ones({4, 3}), Tensor(), Tensor(), {}, false, 1e-5), Error);
  EXPECT_THROW((void)native::batch_norm(ones({4, 3}, kInt64), Tensor(), Tensor(), {}, true, 1e-5), Error);
}

}  // namespace
