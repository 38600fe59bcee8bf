// Numerics: isnan/isinf/isfinite/nan_to_num, anomaly mode (names the op whose forward or backward
// made NaN/Inf), and losses and activations that stay finite for inputs of +-1e4.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace {

using tg::Tensor;
namespace nn = tg::nn;
namespace F = tg::nn::F;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

tg::TensorOptions grad_f64() { return tg::TensorOptions(tg::kFloat64).requires_grad(); }

// The message of the tg::Error that f throws ("" and a failure when it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const tg::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no tg::Error was thrown";
  return "";
}

void expect_contains(const std::string& msg, const std::vector<std::string>& parts) {
  for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
}

// ---------------------------------------------------------------- isnan, isinf, isfinite, nan_to_num

TEST(NonFinite, MasksOfFloatAndIntegerTensors) {
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {
    const Tensor x = tg::tensor({1.0, kNaN, kInf, -kInf, -0.0, 3e38}, dt);
    EXPECT_EQ(tg::isnan(x).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 0, 0, 0, 0}));
    EXPECT_EQ(tg::isinf(x).to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 1, 1, 0, 0}));
    EXPECT_EQ(tg::isfinite(x).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 0, 0, 1, 1}));
    EXPECT_EQ(tg::isnan(x).dtype(), tg::kBool);
  }
  const Tensor i = tg::tensor(std::vector<int64_t>{1, -5, 7}, {3});
  EXPECT_EQ(tg::isnan(i).to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(tg::isinf(i).to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(tg::isfinite(i).to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 1}));
  // Strided views and empty tensors.
  const Tensor m = tg::tensor({{1.0, kNaN}, {kInf, 2.0}}).t();
  EXPECT_EQ(tg::isfinite(m).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 0, 1}));
  EXPECT_EQ(tg::isnan(tg::zeros({0, 3})).sizes(), (tg::Shape{0, 3}));
}

TEST(NonFinite, NanToNumValuesAndGradient) {
  const Tensor x = tg::tensor({1.5, kNaN, kInf, -kInf}, grad_f64());
  const Tensor y = tg::nan_to_num(x);
  const double big = std::numeric_limits<double>::max();
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{1.5, 0.0, big, -big}));
  EXPECT_EQ(tg::nan_to_num(x, 7.0, 8.0, -9.0).to_vector<double>(), (std::vector<double>{1.5, 7.0, 8.0, -9.0}));
  const float fbig = std::numeric_limits<float>::max();
  EXPECT_EQ(tg::nan_to_num(x.detach().to(tg::kFloat32)).to_vector<float>(),
            (std::vector<float>{1.5f, 0.0f, fbig, -fbig}));
  tg::sum(tg::mul(y, 3.0)).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{3.0, 0.0, 0.0, 0.0}));
}

// ---------------------------------------------------------------- anomaly mode

TEST(Anomaly, OffByDefaultAndTheGuardRestores) {
  EXPECT_FALSE(tg::autograd::is_anomaly_enabled());
  {
    tg::DetectAnomalyGuard on;
    EXPECT_TRUE(tg::autograd::is_anomaly_enabled());
    EXPECT_TRUE(tg::autograd::is_anomaly_check_nan_enabled());
    {
      tg::DetectAnomalyGuard traces_only(/*check_nan=*/false);
      EXPECT_FALSE(tg::autograd::is_anomaly_check_nan_enabled());
    }
    EXPECT_TRUE(tg::autograd::is_anomaly_check_nan_enabled());
    // Thread-local, as grad mode: another thread starts with it off.
    bool other = true;
    std::thread([&] { other = tg::autograd::is_anomaly_enabled(); }).join();
    EXPECT_FALSE(other);
  }
  EXPECT_FALSE(tg::autograd::is_anomaly_enabled());
}

TEST(Anomaly, NamesTheForwardThatMadeInfFromFiniteInputs) {
  const Tensor x = tg::tensor({1.0, 0.0, 2.0}, grad_f64());
  // Without anomaly mode the Inf goes through silently: the check is what throws.
  EXPECT_TRUE(std::isinf(tg::log(x).to_vector<double>()[1]));
  tg::DetectAnomalyGuard anomaly;
  const std::string msg = error_of([&] { (void)tg::mul(tg::log(x), 2.0); });
  expect_contains(msg, {"anomaly detected", "forward of log", "Inf", "output 0", "1 Inf of 3 values",
                        "shape [3]", "from finite inputs"});
  // Inf carried along from an input is not a new anomaly; NaN is always one.
  const Tensor inf_in = tg::tensor({kInf, 1.0}, grad_f64());
  EXPECT_NO_THROW((void)tg::mul(inf_in, 2.0));
  expect_contains(error_of([&] { (void)tg::mul(inf_in, 0.0); }), {"forward of mul", "NaN", "from finite inputs"});
  // Without check_nan only the traces are kept.
  tg::DetectAnomalyGuard traces_only(false);
  EXPECT_NO_THROW((void)tg::log(x));
}

TEST(Anomaly, NaNAlreadyInTheInputIsSaidToComeFromEarlier) {
  const Tensor x = tg::tensor({kNaN, 1.0}, grad_f64());
  tg::DetectAnomalyGuard anomaly;
  expect_contains(error_of([&] { (void)tg::exp(x); }),
                  {"forward of exp", "NaN", "its input 0 already held NaN", "1 NaN of 2 values"});
}

TEST(Anomaly, OpsOffTheTapeAreNotChecked) {
  tg::DetectAnomalyGuard anomaly;
  const Tensor x = tg::tensor({0.0});
  EXPECT_NO_THROW((void)tg::log(x));  // needs no gradient: never recorded
  tg::NoGradGuard no_grad;
  EXPECT_NO_THROW((void)tg::log(tg::tensor({0.0}, grad_f64())));
}

TEST(Anomaly, NamesTheBackwardThatMadeNaNAndWhereItsForwardRan) {
  // sqrt'(0) = Inf, times the 0 coming from mul(., 0): NaN, though every forward value is finite.
  const Tensor x = tg::tensor({0.0, 4.0}, grad_f64());
  {
    Tensor loss = tg::sum(tg::mul(tg::sqrt(x), tg::tensor({0.0, 1.0}, tg::kFloat64)));
    loss.backward();  // no anomaly mode: NaN lands in .grad silently
    EXPECT_TRUE(std::isnan(x.grad().to_vector<double>()[0]));
  }
  tg::DetectAnomalyGuard anomaly;
  Tensor loss = tg::sum(tg::mul(tg::sqrt(x), tg::tensor({0.0, 1.0}, tg::kFloat64)));
  const std::string msg = error_of([&] { loss.backward(); });
  expect_contains(msg, {"anomaly detected", "SqrtBackward", "backward of sqrt", "NaN", "input 0",
                        "1 NaN of 2 values", "from a finite incoming gradient", "The forward of sqrt ran at",
                        "on the tape"});
  // Inf from a finite incoming gradient is one too.
  const Tensor z = tg::tensor({0.0}, grad_f64());
  expect_contains(error_of([&] { tg::sum(tg::sqrt(z)).backward(); }), {"SqrtBackward", "Inf"});
}

TEST(Anomaly, ErrorsFromABackwardFormulaSayWhereItsForwardRan) {
  tg::DetectAnomalyGuard anomaly;
  const Tensor w = tg::tensor({1.0, 2.0}, grad_f64());
  Tensor h = tg::mul(w, 3.0);
  Tensor y = tg::exp(h);  // saves its output
  y.mul_(2.0);
  const std::string msg = error_of([&] { tg::sum(y).backward(); });
  expect_contains(msg, {"modified by an in-place operation", "The forward of exp ran at"});
}

TEST(Anomaly, IntendedInfinitiesDoNotTrip) {
  tg::DetectAnomalyGuard anomaly;
  const Tensor x = tg::randn({2, 3}, tg::TensorOptions().requires_grad());
  const Tensor mask = tg::tensor({{1.0, 0.0, 0.0}, {0.0, 0.0, 1.0}}).gt(tg::scalar_tensor(0.5));
  Tensor masked = tg::masked_fill(x, mask, -kInf);
  tg::sum(tg::softmax(masked, 1)).backward();
  // A causal MultiheadAttention (its -inf mask) trains under anomaly mode without an error.
  tg::manual_seed(3);
  nn::MultiheadAttention mha(8, 2);
  const Tensor q = tg::randn({5, 2, 8});
  const Tensor causal = nn::generate_square_subsequent_mask(5);
  auto [out, weights] = mha.forward(q, q, q, Tensor(), true, causal, true, true);
  EXPECT_NO_THROW(tg::sum(out).backward());
  for (const Tensor& p : mha.parameters()) EXPECT_TRUE(tg::all(tg::isfinite(p.grad())).item<bool>());
}

// ---------------------------------------------------------------- stable for inputs of +-1e4

void expect_all_finite(const Tensor& t, const std::string& what) {
  for (double v : t.to_vector<double>()) EXPECT_TRUE(std::isfinite(v)) << what << ": " << v;
}

TEST(Stability, LogSoftmaxAndLogsumexpAtPlusMinus1e4) {
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {
    const Tensor x = tg::tensor({{1e4, -1e4, 0.0}, {1e4, 1e4, -1e4}}, tg::TensorOptions(dt).requires_grad());
    const Tensor ls = F::log_softmax(x, 1);
    const std::vector<double> v = ls.to_vector<double>();
    const std::vector<double> want{0.0, -2e4, -1e4, -std::log(2.0), -std::log(2.0), -2e4 - std::log(2.0)};
    for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(v[i], want[i], 1e-6 * std::max(1.0, std::abs(want[i]))) << i;
    const std::vector<double> lse = tg::logsumexp(x, {1}).to_vector<double>();
    EXPECT_NEAR(lse[0], 1e4, 1e-3);
    EXPECT_NEAR(lse[1], 1e4 + std::log(2.0), 1e-3);
    tg::DetectAnomalyGuard anomaly;  // no op along the way may make a NaN or Inf
    tg::sum(tg::add(tg::mul(F::log_softmax(x, 1), tg::softmax(x.detach(), 1)), tg::logsumexp(x, {1}, true))).backward();
    expect_all_finite(x.grad(), "log_softmax/logsumexp gradient");
    EXPECT_TRUE(tg::softmax(x, 1).to_vector<double>()[0] == 1.0);
  }
}

TEST(Stability, CrossEntropyAtPlusMinus1e4) {
  const Tensor logits = tg::tensor({{1e4, -1e4}, {-1e4, 1e4}}, tg::TensorOptions().requires_grad());
  const Tensor target = tg::tensor(std::vector<int64_t>{1, 1}, {2});
  tg::DetectAnomalyGuard anomaly;
  Tensor loss = F::cross_entropy(logits, target, {.reduction = "none"});
  const std::vector<double> l = loss.to_vector<double>();
  EXPECT_DOUBLE_EQ(l[0], 2e4);
  EXPECT_DOUBLE_EQ(l[1], 0.0);
  tg::sum(loss).backward();  // softmax - onehot
  EXPECT_EQ(logits.grad().to_vector<double>(), (std::vector<double>{1.0, -1.0, 0.0, 0.0}));
  // With label smoothing and probabilities as targets too.
  Tensor smoothed = F::cross_entropy(logits, target, {.label_smoothing = 0.1});
  expect_all_finite(smoothed, "label-smoothed cross-entropy");
  Tensor soft = F::cross_entropy(logits, tg::tensor({{0.5, 0.5}, {0.0, 1.0}}));
  EXPECT_NEAR(soft.item(), (0.5 * 2e4 + 0.0) / 2, 1e-2);
}

TEST(Stability, SigmoidSoftplusAndBinaryCrossEntropyAtPlusMinus1e4) {
  const Tensor x = tg::tensor({1e4, -1e4, 0.0}, tg::TensorOptions(tg::kFloat32).requires_grad());
  tg::DetectAnomalyGuard anomaly;
  EXPECT_EQ(tg::sigmoid(x).to_vector<double>(), (std::vector<double>{1.0, 0.0, 0.5}));
  const std::vector<double> sp = tg::softplus(x).to_vector<double>();
  EXPECT_EQ(sp[0], 1e4);
  EXPECT_EQ(sp[1], 0.0);
  EXPECT_NEAR(sp[2], std::log(2.0), 1e-6);
  tg::sum(tg::add(tg::softplus(x), tg::sigmoid(x))).backward();
  expect_all_finite(x.grad(), "softplus + sigmoid gradient");
  x.set_grad(Tensor());

  // With logits: max(x, 0) - x t + log(1 + exp(-|x|)).
  const Tensor t = tg::tensor({0.0, 1.0, 1.0});
  Tensor bce_logits = F::binary_cross_entropy_with_logits(x, t, {.reduction = "none"});
  const std::vector<double> bl = bce_logits.to_vector<double>();
  EXPECT_EQ(bl[0], 1e4);
  EXPECT_EQ(bl[1], 1e4);
  EXPECT_NEAR(bl[2], std::log(2.0), 1e-6);
  tg::sum(bce_logits).backward();  // sigmoid(x) - t
  const std::vector<double> g = x.grad().to_vector<double>();
  EXPECT_EQ(g[0], 1.0);
  EXPECT_EQ(g[1], -1.0);
  EXPECT_NEAR(g[2], -0.5, 1e-7);
  x.set_grad(Tensor());

  // On probabilities that saturated to exactly 0 and 1: each log clamps at -100.
  Tensor p = tg::sigmoid(x);
  Tensor bce = F::binary_cross_entropy(p, t, {.reduction = "none"});
  EXPECT_EQ(bce.to_vector<double>()[0], 100.0);
  EXPECT_EQ(bce.to_vector<double>()[1], 100.0);
  tg::sum(bce).backward();
  expect_all_finite(x.grad(), "binary_cross_entropy through a saturated sigmoid");
}

}  // namespace
