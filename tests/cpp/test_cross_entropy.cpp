// The fused softmax cross-entropy (cross_entropy_rows, kernels' cross_entropy_rows) against a
// float64 loop written here, the composed ops it replaces, finite differences, and its errors.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "autograd/functions_fused.h"
#include "autograd/gradcheck.h"
#include "autograd/node.h"
#include "core/error.h"
#include "nn/functional.h"

namespace {

using namespace tg;
namespace F = nn::F;

struct FusedGuard {
  ~FusedGuard() { set_fused_cross_entropy_enabled(true); }
};

void expect_close(const Tensor& a, const Tensor& b, double tol, const std::string& what) {
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  ASSERT_EQ(x.size(), y.size()) << what;
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(y[i])) {  // a mean over no rows: 0 / 0 on both paths
      ASSERT_TRUE(std::isnan(x[i])) << what << " at " << i << ": " << x[i];
      continue;
    }
    ASSERT_NEAR(x[i], y[i], tol * (1 + std::abs(y[i]))) << what << " at " << i;
  }
}

// PyTorch's definition, row by row in double: x [N][C], class indices t [N].
std::vector<double> reference_rows(const std::vector<double>& x, const std::vector<int64_t>& t, int64_t c,
                                   const std::vector<double>& w, int64_t ignore, double s,
                                   std::vector<double>& row_weight) {
  std::vector<double> loss(t.size());
  row_weight.assign(t.size(), 0.0);
  for (size_t r = 0; r < t.size(); ++r) {
    if (t[r] == ignore) continue;
    double m = -INFINITY, sum = 0;
    for (int64_t j = 0; j < c; ++j) m = std::max(m, x[r * c + j]);
    for (int64_t j = 0; j < c; ++j) sum += std::exp(x[r * c + j] - m);
    const double lse = m + std::log(sum);
    auto wt = [&](int64_t j) { return w.empty() ? 1.0 : w[j]; };
    double smooth = 0;
    for (int64_t j = 0; j < c; ++j) smooth += wt(j) * (lse - x[r * c + j]);
    loss[r] = (1 - s) * wt(t[r]) * (lse - x[r * c + t[r]]) + s / double(c) * smooth;
    row_weight[r] = wt(t[r]);
  }
  return loss;
}

TEST(FusedCrossEntropy, HandDerivedValueAndGradient) {
  // log(e + e^2 + e^3) - 3 = 0.40760596; the gradient is softmax - onehot.
  Tensor x = tensor(std::vector<double>{1, 2, 3}, {1, 3}, kFloat32).requires_grad_();
  Tensor loss = F::cross_entropy(x, tensor(std::vector<int64_t>{2}, {1}));
  EXPECT_NEAR(loss.item(), 0.40760596, 1e-6);
  loss.backward();
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  expect_close(x.grad(), tensor(std::vector<double>{std::exp(1.0) / z, std::exp(2.0) / z, std::exp(3.0) / z - 1}, {1, 3}),
               1e-6, "gradient");
}

// Logits near 1e4 in float32: the backward's probabilities come from (x - max) - log_sum, not
// from x - lse with lse rounded to float32 (an ulp of 1e4 would move them by 2e-4).
TEST(FusedCrossEntropy, LargeLogitsKeepTheGradientExact) {
  Tensor x = tensor(std::vector<double>{1e4, -1e4, 0, 1e4, 1e4, -1e4}, {2, 3}, kFloat32).requires_grad_();
  Tensor loss = F::cross_entropy(x, tensor(std::vector<int64_t>{1, 2}, {2}), {.reduction = "none"});
  expect_close(loss, tensor(std::vector<double>{2e4, 2e4 + std::log(2.0)}, {2}, kFloat64), 1e-7, "loss");
  sum(loss).backward();
  const std::vector<double> want{1, -1, 0, 0.5, 0.5, -1}, got = x.grad().to_vector<double>();
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << i;
}

TEST(FusedCrossEntropy, IsOneNodeWithUnreducedLoss) {
  Tensor x = randn({4, 5}).requires_grad_();
  Tensor loss = F::cross_entropy(x, tensor(std::vector<int64_t>{0, 1, 2, 3}, {4}), {.reduction = "none"});
  ASSERT_NE(loss.grad_fn(), nullptr);
  EXPECT_STREQ(loss.grad_fn()->name, "cross_entropy");
}

TEST(FusedCrossEntropy, MatchesAFloat64LoopForEveryOption) {
  manual_seed(3);
  const int64_t n = 37, c = 11;
  std::vector<int64_t> t(n);
  for (int64_t i = 0; i < n; ++i) t[i] = i % 6 == 0 ? 4 : (i * 5 + 2) % c;
  const Tensor x = mul(randn({n, c}, kFloat64), 4.0), target = tensor(t, {n});
  const Tensor w = add(rand({c}, kFloat64), 0.25);
  const std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>();
  for (bool weighted : {false, true})
    for (int64_t ignore : {int64_t(-100), int64_t(4)})
      for (double s : {0.0, 0.2})
        for (DType dtype : {kFloat64, kFloat32}) {
          SCOPED_TRACE(std::string(weighted ? "weighted" : "unweighted") + " ignore " + std::to_string(ignore) +
                       " smoothing " + std::to_string(s) + (dtype == kFloat64 ? " float64" : " float32"));
          std::vector<double> rw;
          const std::vector<double> want = reference_rows(xv, t, c, weighted ? wv : std::vector<double>{}, ignore, s, rw);
          double total = 0, denom = 0;
          for (int64_t i = 0; i < n; ++i) {
            total += want[i];
            denom += rw[i];
          }
          F::CrossEntropyOptions o{.weight = weighted ? to(w, dtype) : Tensor(), .ignore_index = ignore,
                                   .label_smoothing = s};
          const Tensor xi = to(x, dtype);
          const double tol = dtype == kFloat64 ? 1e-12 : 2e-6;
          o.reduction = "none";
          expect_close(F::cross_entropy(xi, target, o), tensor(want, {n}, kFloat64), tol, "none");
          o.reduction = "sum";
          EXPECT_NEAR(F::cross_entropy(xi, target, o).item(), total, tol * std::abs(total));
          o.reduction = "mean";
          EXPECT_NEAR(F::cross_entropy(xi, target, o).item(), total / denom, tol * std::abs(total / denom));
        }
}

struct CeRun {
  Tensor loss, grad;
};

CeRun run(const Tensor& x0, const Tensor& target, const F::CrossEntropyOptions& o, bool fused) {
  FusedGuard guard;
  set_fused_cross_entropy_enabled(fused);
  Tensor x = x0.clone().requires_grad_();
  Tensor loss = F::cross_entropy(x, target, o);
  loss.backward(randn(loss.sizes(), loss.dtype()));
  return {loss.detach(), x.grad()};
}

TEST(FusedCrossEntropy, MatchesTheComposedOpsIncludingExtraDims) {
  for (DType dtype : {kFloat32, kFloat64})
    for (const Shape& shape : {Shape{7, 33}, Shape{1, 1}, Shape{0, 5}, Shape{2, 4, 3, 5}, Shape{6}}) {
      SCOPED_TRACE(shape_str(shape) + (dtype == kFloat64 ? " float64" : " float32"));
      manual_seed(4);
      const int64_t c = shape.size() == 1 ? shape[0] : shape[1];
      Shape ts = shape;
      ts.erase(ts.begin() + (shape.size() == 1 ? 0 : 1));
      const Tensor x = mul(randn(shape, dtype), 3.0), target = randint(0, c, ts);
      const Tensor w = add(rand({c}, dtype), 0.5);
      for (const char* reduction : {"mean", "sum", "none"})
        for (double s : {0.0, 0.1}) {
          SCOPED_TRACE(std::string(reduction) + " smoothing " + std::to_string(s));
          const F::CrossEntropyOptions o{.weight = w, .ignore_index = 0, .reduction = reduction, .label_smoothing = s};
          manual_seed(5);
          const CeRun fused = run(x, target, o, true);
          manual_seed(5);
          const CeRun composed = run(x, target, o, false);
          const double tol = dtype == kFloat64 ? 1e-12 : 2e-5;
          expect_close(fused.loss, composed.loss, tol, "loss");
          if (x.numel() > 0) expect_close(fused.grad, composed.grad, tol, "x.grad");
        }
    }
}

TEST(FusedCrossEntropy, GradcheckFirstAndSecondOrder) {
  manual_seed(6);
  const Tensor x = randn({5, 4}, kFloat64).requires_grad_();
  const Tensor target = tensor(std::vector<int64_t>{0, 3, 1, 1, 2}, {5});
  const Tensor w = tensor(std::vector<double>{0.5, 1.0, 2.0, 1.5}, {4}, kFloat64);
  const F::CrossEntropyOptions o{.weight = w, .ignore_index = 2, .label_smoothing = 0.15};
  EXPECT_TRUE(gradcheck([&](const std::vector<Tensor>& in) { return F::cross_entropy(in[0], target, o); }, {x}));
  // create_graph: gradients of the gradient agree with the composed ops' (plain autograd).
  Tensor first[2], second[2];
  for (int fused = 0; fused < 2; ++fused) {
    FusedGuard guard;
    set_fused_cross_entropy_enabled(fused == 1);
    Tensor xi = x.detach().clone().requires_grad_();
    Tensor gx = autograd::grad({F::cross_entropy(xi, target, o)}, {xi}, {}, true, true)[0];
    first[fused] = gx.detach();
    second[fused] = autograd::grad({sum(mul(gx, gx))}, {xi})[0];
  }
  expect_close(first[1], first[0], 1e-12, "first-order gradient under create_graph");
  expect_close(second[1], second[0], 1e-10, "second-order gradient");
  EXPECT_GT(sum(abs(second[1])).item(), 1e-3);  // not trivially zero
}

TEST(FusedCrossEntropy, BadTargetsAreClearErrors) {
  const Tensor x = randn({3, 4});
  try {
    (void)F::cross_entropy(x, tensor(std::vector<int64_t>{0, 4, 1}, {3}));
    FAIL() << "target 4 of 4 classes was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::Index);
    EXPECT_NE(std::string(e.what()).find("cross_entropy: target 4 is out of bounds for 4 classes"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW((void)F::cross_entropy(x, tensor(std::vector<int64_t>{0, -1, 1}, {3})), Error);
  // ignore_index may lie outside [0, C): such rows count for nothing.
  const Tensor t = tensor(std::vector<int64_t>{-100, 2, -100}, {3});
  EXPECT_NEAR(F::cross_entropy(x, t).item(), F::cross_entropy(x.narrow(0, 1, 1), t.narrow(0, 1, 1)).item(), 1e-6);
  // Every row ignored: 0 / 0 as PyTorch.
  EXPECT_TRUE(std::isnan(F::cross_entropy(x, full({3}, -100.0, kInt64)).item()));
  EXPECT_THROW((void)F::cross_entropy(x, tensor(std::vector<int64_t>{0, 1}, {2})), Error);
  EXPECT_THROW((void)F::cross_entropy(x, tensor(std::vector<int64_t>{0, 1, 2}, {3}), {.weight = ones({3})}), Error);
  EXPECT_THROW((void)cross_entropy_rows(x, tensor(std::vector<int64_t>{0, 1, 2}, {3}), Tensor(), -100, 1.5), Error);
}

// A NaN or infinite logit gives a NaN loss in its row only, as the composed ops.
TEST(FusedCrossEntropy, NonFiniteLogitsStayInTheirRow) {
  const double inf = INFINITY;
  const Tensor x = tensor(std::vector<double>{NAN, 0, 1, 2, 1, 0, inf, 0, 0, -inf, 0, 0}, {4, 3});
  const Tensor t = tensor(std::vector<int64_t>{0, 1, 2, 0}, {4});
  const std::vector<double> fused = F::cross_entropy(x, t, {.reduction = "none"}).to_vector<double>();
  std::vector<double> composed;
  {
    FusedGuard guard;
    set_fused_cross_entropy_enabled(false);
    composed = F::cross_entropy(x, t, {.reduction = "none"}).to_vector<double>();
  }
  EXPECT_TRUE(std::isnan(fused[0]));
  EXPECT_NEAR(fused[1], composed[1], 1e-12);
  EXPECT_EQ(std::isnan(fused[2]), std::isnan(composed[2]));
  EXPECT_TRUE(std::isinf(fused[3]) && fused[3] > 0) << fused[3];
  EXPECT_EQ(fused[3], composed[3]);
}

}  // namespace
