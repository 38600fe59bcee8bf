// Attention: masked softmax (against the where + softmax composition and by hand, gradcheck),
// F::scaled_dot_product_attention, MultiheadAttention and the Transformer encoder and decoder
// layers and stacks against PyTorch 1.13 (float64 values hard-coded in attention_reference.h by
// tests/cpp/attention_reference.py from the same deterministic inputs and parameters), gradcheck
// of SDPA and MHA, init, state dict keys, errors, and a tiny causal language model.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "core/tensor.h"
#include "nn/nn.h"
#include "optim/optim.h"
#include "tests/cpp/attention_reference.h"

namespace {

using tg::Shape;
using tg::Tensor;
namespace nn = tg::nn;
namespace F = tg::nn::F;
using Inputs = std::vector<Tensor>;

constexpr double kInf = std::numeric_limits<double>::infinity();

// ---------------------------------------------------------------- helpers

// scale * sin(seed * 1.7 + i * 0.913) + offset, float64 (as det() in attention_reference.py).
Tensor det(const Shape& shape, double seed, double scale = 1.0, double offset = 0.0) {
  std::vector<double> v(static_cast<size_t>(tg::numel_of(shape)));
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = scale * std::sin(seed * 1.7 + static_cast<double>(i) * 0.913) + offset;
  return tg::tensor(v, shape, tg::kFloat64);
}

Tensor leaf(const Tensor& t) { return t.clone().requires_grad_(); }

const attention_reference::Value& Ref(const std::string& name) {
  const auto& refs = attention_reference::Values();
  auto it = refs.find(name);
  if (it == refs.end()) throw std::runtime_error("no reference value named " + name);
  return it->second;
}

Tensor RefTensor(const std::string& name) {
  const auto& r = Ref(name);
  return tg::tensor(r.values, r.shape, tg::kFloat64);
}
Tensor RefMask(const std::string& name) { return RefTensor(name) > 0.5; }
Tensor BoolMask(const std::vector<double>& values, const Shape& shape) {
  return tg::tensor(values, shape, tg::kFloat64) > 0.5;
}

::testing::AssertionResult MatchesRef(const Tensor& actual, const std::string& name,
                                      double tol = 1e-10) {
  const auto& r = Ref(name);
  if (!actual.defined()) return ::testing::AssertionFailure() << name << ": tensor is undefined";
  if (actual.sizes() != r.shape)
    return ::testing::AssertionFailure() << name << ": shape " << tg::shape_str(actual.sizes())
                                         << " != expected " << tg::shape_str(r.shape);
  auto got = actual.to_vector<double>();
  for (size_t i = 0; i < got.size(); ++i) {
    const double e = r.values[i], g = got[i];
    if (std::isnan(e) && std::isnan(g)) continue;
    if (std::isnan(e) != std::isnan(g) || std::abs(g - e) > tol * (1.0 + std::abs(e)))
      return ::testing::AssertionFailure() << name << "[" << i << "]: got " << g << ", expected "
                                           << e;
  }
  return ::testing::AssertionSuccess();
}
#define EXPECT_REF(actual, name, ...) EXPECT_TRUE(MatchesRef(actual, name, ##__VA_ARGS__))

// Entry i of the state dict gets det(shape, seed + i, 0.5), as set_params() in the script.
void SetParams(nn::Module& m, double seed) {
  tg::NoGradGuard no_grad;
  int i = 0;
  for (auto& [name, t] : m.state_dict()) t.copy_(det(t.sizes(), seed + i++, 0.5));
}

// sum(out * det(out.shape, 99)) + sum(weights * det(weights.shape, 98)).
void BackwardSeeded(const Tensor& out, const Tensor& weights = Tensor()) {
  Tensor loss = (out * det(out.sizes(), 99)).sum();
  if (weights.defined()) loss = loss + (weights * det(weights.sizes(), 98)).sum();
  loss.backward();
}

void ExpectParamGrads(const std::string& c, const nn::Module& m) {
  for (const auto& [name, p] : m.named_parameters()) EXPECT_REF(p.grad(), c + ".grad." + name);
}

::testing::AssertionResult Gradcheck(const std::function<Tensor(const Inputs&)>& fn,
                                     const Inputs& inputs) {
  try {
    if (tg::gradcheck(fn, inputs)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "gradcheck returned false";
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << e.what();
  }
}

// The message of the tg::Error `fn` throws ("" and a test failure if none).
std::string ErrorOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const tg::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a tg::Error";
  return "";
}
#define EXPECT_ERROR_HAS(stmt, ...)                                 \
  do {                                                              \
    const std::string msg_ = ErrorOf([&] { stmt; });                \
    for (const char* part : {__VA_ARGS__})                          \
      EXPECT_NE(msg_.find(part), std::string::npos) << "message: " << msg_ << "\nmissing: " << part; \
  } while (0)

bool AllNaN(const Tensor& t) {
  for (double v : t.to_vector<double>())
    if (!std::isnan(v)) return false;
  return true;
}

// ---------------------------------------------------------------- masked softmax

// By hand, in double: softmax over the kept entries of one row.
std::vector<double> MaskedSoftmaxRow(const std::vector<double>& x, const std::vector<bool>& keep) {
  double m = -kInf;
  for (size_t i = 0; i < x.size(); ++i)
    if (keep[i]) m = std::max(m, x[i]);
  double sum = 0.0;
  for (size_t i = 0; i < x.size(); ++i)
    if (keep[i]) sum += std::exp(x[i] - m);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = keep[i] ? std::exp(x[i] - m) / sum : 0.0;
  return y;
}

TEST(MaskedSoftmax, MatchesHandComputedRows) {
  Tensor x = det({2, 3, 5}, 1, 3.0);
  Tensor mask = det({3, 5}, 2) > -0.2;  // broadcast over dim 0
  Tensor y = tg::masked_softmax(x, mask, -1);
  auto xv = x.to_vector<double>(), yv = y.to_vector<double>();
  auto mv = mask.to_vector<double>();
  for (int b = 0; b < 2; ++b)
    for (int r = 0; r < 3; ++r) {
      std::vector<double> row(5);
      std::vector<bool> keep(5);
      bool any = false;
      for (int j = 0; j < 5; ++j) {
        row[j] = xv[(b * 3 + r) * 5 + j];
        keep[j] = mv[r * 5 + j] != 0.0;
        any = any || keep[j];
      }
      ASSERT_TRUE(any);
      auto expect = MaskedSoftmaxRow(row, keep);
      for (int j = 0; j < 5; ++j)
        EXPECT_NEAR(yv[(b * 3 + r) * 5 + j], expect[j], 1e-14) << b << "," << r << "," << j;
    }
}

TEST(MaskedSoftmax, EqualsSoftmaxOfMaskedFillInEveryLayout) {
  Tensor x = det({3, 4, 6}, 3, 4.0);
  // Rows along dim 2 (contiguous), dim 1 (strided) and on a transposed input; masks of full
  // shape, broadcast over leading dims, and broadcast along the softmax dim itself.
  for (int64_t dim : {2, 1, 0}) {
    for (const Shape& mshape : {Shape{3, 4, 6}, Shape{4, 6}, Shape{3, 1, 6}, Shape{3, 4, 1}}) {
      Tensor mask = det(mshape, 5 + dim, 1.0) > -0.5;
      Tensor expect = tg::softmax(tg::masked_fill(x, tg::logical_not(mask), -kInf), dim);
      Tensor got = tg::masked_softmax(x, mask, dim);
      auto e = expect.to_vector<double>(), g = got.to_vector<double>();
      ASSERT_EQ(e.size(), g.size());
      for (size_t i = 0; i < e.size(); ++i) {
        if (std::isnan(e[i])) {
          EXPECT_TRUE(std::isnan(g[i])) << "dim " << dim << " mask " << tg::shape_str(mshape) << " at " << i;
        } else {
          EXPECT_NEAR(g[i], e[i], 1e-14) << "dim " << dim << " mask " << tg::shape_str(mshape) << " at " << i;
        }
      }
    }
  }
  Tensor xt = det({6, 4}, 7).t();  // non-contiguous rows
  Tensor mask = det({4, 6}, 8) > 0.0;
  Tensor expect = tg::softmax(tg::masked_fill(xt, tg::logical_not(mask), -kInf), -1);
  auto e = expect.to_vector<double>(), g = tg::masked_softmax(xt, mask, -1).to_vector<double>();
  for (size_t i = 0; i < e.size(); ++i)
    if (!std::isnan(e[i])) {
      EXPECT_NEAR(g[i], e[i], 1e-14);
    }
}

TEST(MaskedSoftmax, FullyMaskedRowIsNaNLikeSoftmaxOfAllMinusInf) {
  Tensor x = det({3, 4}, 9);
  Tensor mask = BoolMask({1, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1}, {3, 4});
  Tensor y = tg::masked_softmax(x, mask, 1);
  EXPECT_TRUE(AllNaN(y.select(0, 1)));
  EXPECT_FALSE(AllNaN(y.select(0, 0)));
  EXPECT_EQ(y.select(0, 0).select(0, 1).item(), 0.0);
  EXPECT_NEAR(y.select(0, 2).sum().item(), 1.0, 1e-15);
  // The same rule as PyTorch's softmax of an all -inf row.
  EXPECT_TRUE(AllNaN(tg::softmax(tg::full({4}, -kInf, tg::kFloat64), 0)));
  // A mask broadcast along the row: one false value masks the whole row.
  Tensor yb = tg::masked_softmax(x, BoolMask({1, 0, 1}, {3, 1}), 1);
  EXPECT_TRUE(AllNaN(yb.select(0, 1)));
  EXPECT_NEAR(yb.select(0, 0).sum().item(), 1.0, 1e-15);
}

TEST(MaskedSoftmax, Float32AndScalar) {
  Tensor x = det({4, 33}, 10, 5.0);
  Tensor mask = det({4, 33}, 11) > 0.1;
  Tensor y64 = tg::masked_softmax(x, mask, -1);
  Tensor y32 = tg::masked_softmax(x.to(tg::kFloat32), mask, -1);
  EXPECT_EQ(y32.dtype(), tg::kFloat32);
  auto a = y64.to_vector<double>(), b = y32.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(b[i], a[i], 1e-6);
  Tensor s = tg::scalar_tensor(2.5, tg::kFloat64);
  EXPECT_EQ(tg::masked_softmax(s, tg::scalar_tensor(1.0) > 0.5, 0).item(), 1.0);
  EXPECT_TRUE(std::isnan(tg::masked_softmax(s, tg::scalar_tensor(0.0) > 0.5, 0).item()));
}

TEST(MaskedSoftmax, GradientIsZeroOnMaskedEntriesAndPassesGradcheck) {
  Tensor mask = det({3, 5}, 12) > -0.3;
  Tensor x = leaf(det({2, 3, 5}, 13, 2.0));
  (tg::masked_softmax(x, mask, -1) * det({2, 3, 5}, 14)).sum().backward();
  auto g = x.grad().to_vector<double>();
  auto m = tg::expand(mask, {2, 3, 5}).contiguous().to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i)
    if (m[i] == 0.0) {
      EXPECT_EQ(g[i], 0.0) << i;
    }
  EXPECT_TRUE(Gradcheck([&](const Inputs& in) { return tg::masked_softmax(in[0], mask, -1); },
                        {leaf(det({2, 3, 5}, 15))}));
  EXPECT_TRUE(Gradcheck([&](const Inputs& in) { return tg::masked_softmax(in[0], mask.t(), 0); },
                        {leaf(det({5, 3}, 16))}));
}

TEST(MaskedSoftmax, Errors) {
  Tensor x = det({2, 3}, 1);
  EXPECT_ERROR_HAS(tg::masked_softmax(x, tg::ones({2, 3}, tg::kInt64), 1), "masked_softmax",
                   "bool", "int64");
  EXPECT_ERROR_HAS(tg::masked_softmax(x, tg::ones({2, 4}) > 0.0, 1), "masked_softmax", "[2, 4]",
                   "[2, 3]");
  EXPECT_ERROR_HAS(tg::masked_softmax(x, tg::ones({4, 2, 3}) > 0.0, 1), "masked_softmax",
                   "[4, 2, 3]");
  EXPECT_ERROR_HAS(tg::masked_softmax(tg::ones({2, 3}, tg::kInt64), tg::ones({2, 3}) > 0.0, 1),
                   "masked_softmax");
  EXPECT_ERROR_HAS(tg::masked_softmax(x, tg::ones({2, 3}) > 0.0, 2), "masked_softmax");
}

// ---------------------------------------------------------------- scaled_dot_product_attention

struct SdpaCase {
  const char* name;
  Shape q, k, v;
  bool grads = true;
  bool causal = false;
  std::optional<double> scale{};
};

TEST(ScaledDotProductAttention, MatchesPyTorchFormula) {
  const SdpaCase cases[] = {
      {"sdpa.plain", {2, 2, 3, 4}, {2, 2, 5, 4}, {2, 2, 5, 3}},
      {"sdpa.bool_mask", {2, 2, 3, 4}, {2, 2, 5, 4}, {2, 2, 5, 3}},
      {"sdpa.float_mask", {2, 2, 3, 4}, {2, 2, 5, 4}, {2, 2, 5, 3}},
      {"sdpa.causal_square", {2, 4, 4}, {2, 4, 4}, {2, 4, 3}, true, true},
      {"sdpa.causal_rect", {2, 3, 4}, {2, 5, 4}, {2, 5, 2}, true, true},
      {"sdpa.scale_broadcast", {2, 3, 4}, {5, 4}, {5, 3}, true, false, 0.3},
      {"sdpa.fully_masked", {2, 3, 4}, {2, 5, 4}, {2, 5, 3}, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string n = c.name;
    Tensor q = leaf(det(c.q, 1)), k = leaf(det(c.k, 2)), v = leaf(det(c.v, 3));
    Tensor mask;
    if (attention_reference::Values().count(n + ".mask"))
      mask = n == "sdpa.float_mask" ? RefTensor(n + ".mask") : RefMask(n + ".mask");
    Tensor out = F::scaled_dot_product_attention(q, k, v, mask, 0.0, c.causal, c.scale);
    EXPECT_REF(out, n + ".out");
    // The option-struct form is the same call.
    Tensor out2 = F::scaled_dot_product_attention(
        q, k, v, {.attn_mask = mask, .is_causal = c.causal, .scale = c.scale});
    EXPECT_REF(out2, n + ".out");
    if (!c.grads) continue;
    BackwardSeeded(out);
    EXPECT_REF(q.grad(), n + ".grad.q");
    EXPECT_REF(k.grad(), n + ".grad.k");
    EXPECT_REF(v.grad(), n + ".grad.v");
  }
}

TEST(ScaledDotProductAttention, Float32MatchesFloat64) {
  Tensor q = det({2, 3, 8}, 1), k = det({2, 6, 8}, 2), v = det({2, 6, 4}, 3);
  Tensor mask = det({3, 6}, 4) > -0.5;
  Tensor o64 = F::scaled_dot_product_attention(q, k, v, mask);
  Tensor o32 = F::scaled_dot_product_attention(q.to(tg::kFloat32), k.to(tg::kFloat32),
                                               v.to(tg::kFloat32), mask);
  auto a = o64.to_vector<double>(), b = o32.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(b[i], a[i], 1e-5);
}

TEST(ScaledDotProductAttention, Dropout) {
  Tensor q = det({2, 3, 4}, 1), k = det({2, 5, 4}, 2), v = det({2, 5, 3}, 3);
  Tensor zeros = F::scaled_dot_product_attention(q, k, v, Tensor(), 1.0);
  for (double x : zeros.to_vector<double>()) EXPECT_EQ(x, 0.0);
  tg::manual_seed(7);
  Tensor a = F::scaled_dot_product_attention(q, k, v, Tensor(), 0.5);
  Tensor plain = F::scaled_dot_product_attention(q, k, v);
  EXPECT_GT((a - plain).abs().max().item(), 1e-3);
  tg::manual_seed(7);
  Tensor b = F::scaled_dot_product_attention(q, k, v, Tensor(), 0.5);
  EXPECT_EQ((a - b).abs().max().item(), 0.0);  // the global generator decides
}

TEST(ScaledDotProductAttention, Gradcheck) {
  Tensor bool_mask = BoolMask({1, 0, 1, 1, 1, 0}, {2, 3});
  Tensor float_mask = det({1, 2, 3}, 9);
  auto sdpa = [&](const Tensor& mask, bool causal) {
    return [&, mask, causal](const Inputs& in) {
      return F::scaled_dot_product_attention(in[0], in[1], in[2], mask, 0.0, causal);
    };
  };
  const Inputs in = {leaf(det({2, 2, 3}, 1)), leaf(det({2, 3, 3}, 2)), leaf(det({2, 3, 2}, 3))};
  EXPECT_TRUE(Gradcheck(sdpa(Tensor(), false), in));
  EXPECT_TRUE(Gradcheck(sdpa(bool_mask, false), in));
  EXPECT_TRUE(Gradcheck(sdpa(float_mask, false), in));
  EXPECT_TRUE(Gradcheck(sdpa(Tensor(), true), in));
}

TEST(ScaledDotProductAttention, Errors) {
  Tensor q = det({2, 3, 4}, 1), k = det({2, 5, 4}, 2), v = det({2, 5, 3}, 3);
  const char* op = "scaled_dot_product_attention";
  EXPECT_ERROR_HAS(F::scaled_dot_product_attention(q, det({2, 5, 6}, 2), v), op, "[2, 3, 4]",
                   "[2, 5, 6]");
  EXPECT_ERROR_HAS(F::scaled_dot_product_attention(q, k, det({2, 4, 3}, 3)), op, "[2, 5, 4]",
                   "[2, 4, 3]");
  EXPECT_ERROR_HAS(F::scaled_dot_product_attention(det({4}, 1), k, v), op, "[4]");
  EXPECT_ERROR_HAS(F::scaled_dot_product_attention(q, det({3, 5, 4}, 2), det({3, 5, 3}, 3)), op);
  EXPECT_ERROR_HAS(F::scaled_dot_product_attention(q, k, v, tg::ones({3, 5}, tg::kInt64)), op,
                   "attn_mask", "int64", "float64");
  EXPECT_ERROR_HAS(F::scaled_dot_product_attention(q, k, v, tg::ones({3, 5}, tg::kFloat32)), op,
                   "float32", "float64");
  EXPECT_ERROR_HAS(F::scaled_dot_product_attention(q, k, v, tg::ones({3, 4}) > 0.0), op,
                   "[3, 4]", "[2, 3, 5]");
  EXPECT_ERROR_HAS(F::scaled_dot_product_attention(q, k, v, tg::ones({3, 5}) > 0.0, 0.0, true),
                   op, "is_causal");
  EXPECT_ERROR_HAS(F::scaled_dot_product_attention(q, k, v, Tensor(), 1.5), op, "1.5");
  EXPECT_ERROR_HAS(F::scaled_dot_product_attention(q, k.to(tg::kFloat32), v), op, "dtype");
}

// ---------------------------------------------------------------- MultiheadAttention

struct MhaInputs {
  Tensor q{}, k{}, v{};  // k, v undefined: self-attention on q
  Tensor key_padding_mask{}, attn_mask{};
  bool need_weights = true, average_attn_weights = true, is_causal = false;
};

// Runs one reference case: parameters from SetParams(200), output, weights and gradients.
void RunMhaCase(const std::string& c, nn::MultiheadAttention& mha, MhaInputs in,
                bool grads = true) {
  SCOPED_TRACE(c);
  mha.to(tg::kFloat64);
  SetParams(mha, 200);
  Tensor q = leaf(in.q);
  Tensor k = in.k.defined() ? leaf(in.k) : q, v = in.k.defined() ? leaf(in.v) : q;
  auto [out, weights] = mha.forward(q, k, v, in.key_padding_mask, in.need_weights, in.attn_mask,
                                    in.average_attn_weights, in.is_causal);
  EXPECT_REF(out, c + ".out");
  if (in.need_weights) {
    EXPECT_REF(weights, c + ".weights");
  } else {
    EXPECT_FALSE(weights.defined());
  }
  if (!grads) return;
  BackwardSeeded(out, weights);
  EXPECT_REF(q.grad(), c + ".grad.q");
  if (in.k.defined()) {
    EXPECT_REF(k.grad(), c + ".grad.k");
    EXPECT_REF(v.grad(), c + ".grad.v");
  }
  ExpectParamGrads(c, mha);
}

constexpr int64_t E = 8, H = 2, L = 3, S = 4, N = 2;

TEST(MultiheadAttention, Basic) {
  nn::MultiheadAttention mha(E, H);
  RunMhaCase("mha.basic", mha, {det({L, N, E}, 1), det({S, N, E}, 2), det({S, N, E}, 3)});
}

TEST(MultiheadAttention, SelfAttentionBoolMasksPerHeadWeights) {
  nn::MultiheadAttention mha(E, H);
  const std::string c = "mha.self_masks";
  RunMhaCase(c, mha,
             {.q = det({L, N, E}, 4), .key_padding_mask = RefMask(c + ".key_padding_mask"),
              .attn_mask = RefMask(c + ".attn_mask"), .average_attn_weights = false});
}

TEST(MultiheadAttention, Float3dAttnMaskAndBoolKeyPadding) {
  nn::MultiheadAttention mha(E, H);
  const std::string c = "mha.float_masks";
  RunMhaCase(c, mha,
             {det({L, N, E}, 5), det({S, N, E}, 6), det({S, N, E}, 7),
              RefMask(c + ".key_padding_mask"), RefTensor(c + ".attn_mask")});
}

TEST(MultiheadAttention, BatchFirstKdimVdimFloatKeyPadding) {
  nn::MultiheadAttention mha(E, H, 0.0, true, false, false, 6, 5, true);
  EXPECT_FALSE(mha.in_proj_weight.defined());
  const std::string c = "mha.batch_first_kvdim";
  RunMhaCase(c, mha,
             {det({N, L, E}, 8), det({N, S, 6}, 9), det({N, S, 5}, 10),
              RefTensor(c + ".key_padding_mask")});
}

TEST(MultiheadAttention, NoBiasNoWeights) {
  nn::MultiheadAttention mha(E, H, 0.0, false);
  EXPECT_FALSE(mha.in_proj_bias.defined());
  EXPECT_FALSE(mha.out_proj->bias.defined());
  RunMhaCase("mha.nobias_noweights", mha,
             {.q = det({L, N, E}, 11), .k = det({S, N, E}, 12), .v = det({S, N, E}, 13),
              .need_weights = false});
}

TEST(MultiheadAttention, Unbatched) {
  {
    nn::MultiheadAttention mha(E, H);
    const std::string c = "mha.unbatched_self";
    RunMhaCase(c, mha,
               {.q = det({L, E}, 14), .key_padding_mask = RefMask(c + ".key_padding_mask"),
                .attn_mask = RefMask(c + ".attn_mask")});
  }
  {
    nn::MultiheadAttention mha(E, H, 0.0, true, false, false, std::nullopt, std::nullopt, true);
    const std::string c = "mha.unbatched_2d_float";
    RunMhaCase(c, mha,
               {.q = det({L, E}, 15), .k = det({S, E}, 16), .v = det({S, E}, 17),
                .attn_mask = RefTensor(c + ".attn_mask"), .average_attn_weights = false});
  }
}

TEST(MultiheadAttention, BiasKvAndZeroAttn) {
  nn::MultiheadAttention mha(E, H, 0.0, true, true, true);
  const std::string c = "mha.bias_kv_zero_attn";
  RunMhaCase(c, mha,
             {det({L, N, E}, 18), det({S, N, E}, 19), det({S, N, E}, 20),
              RefMask(c + ".key_padding_mask"), RefMask(c + ".attn_mask")});
}

TEST(MultiheadAttention, CausalMaskWithIsCausalHint) {
  nn::MultiheadAttention mha(E, H, 0.0, true, false, false, std::nullopt, std::nullopt, true);
  Tensor mask = nn::generate_square_subsequent_mask(L, tg::kFloat64);
  EXPECT_EQ(mask.to_vector<double>(), (std::vector<double>{0, -kInf, -kInf, 0, 0, -kInf, 0, 0, 0}));
  RunMhaCase("mha.causal", mha, {.q = det({N, L, E}, 21), .attn_mask = mask, .is_causal = true});
}

TEST(MultiheadAttention, FullyMaskedBatchGivesNaNAsPyTorch) {
  nn::MultiheadAttention mha(E, H);
  const std::string c = "mha.fully_masked";
  RunMhaCase(c, mha,
             {det({L, N, E}, 22), det({S, N, E}, 23), det({S, N, E}, 24),
              RefMask(c + ".key_padding_mask")},
             false);
}

TEST(MultiheadAttention, DropoutOnlyInTraining) {
  nn::MultiheadAttention mha(E, H, 0.5, true, false, false, std::nullopt, std::nullopt, false,
                            tg::kFloat64);
  Tensor x = det({L, N, E}, 1);
  mha.eval();
  auto [a, wa] = mha.forward(x, x, x);
  auto [b, wb] = mha.forward(x, x, x);
  EXPECT_EQ((a - b).abs().max().item(), 0.0);
  mha.train();
  auto [c, wc] = mha.forward(x, x, x);
  EXPECT_GT((a - c).abs().max().item(), 1e-4);
  // Dropped weights are zero, the others scaled by 2: each row sums to 2 * (kept share).
  auto w = mha.forward(x, x, x, Tensor(), true, Tensor(), false);
  int zeros = 0;
  for (double v : std::get<1>(w).to_vector<double>()) zeros += v == 0.0;
  EXPECT_GT(zeros, 0);
}

TEST(MultiheadAttention, InitAndStateDictMatchPyTorch) {
  tg::manual_seed(0);
  nn::MultiheadAttention mha(16, 4);
  const double xavier = std::sqrt(6.0 / (16 + 48));
  EXPECT_LE(mha.in_proj_weight.abs().max().item(), xavier);
  EXPECT_GT(mha.in_proj_weight.abs().max().item(), 0.9 * xavier);
  EXPECT_EQ(mha.in_proj_bias.abs().max().item(), 0.0);
  EXPECT_EQ(mha.out_proj->bias.abs().max().item(), 0.0);
  EXPECT_LE(mha.out_proj->weight.abs().max().item(), 0.25);  // Linear's U(-1/sqrt(16), ..)
  EXPECT_GT(mha.out_proj->weight.abs().max().item(), 0.2);
  nn::MultiheadAttention kv(16, 4, 0.0, true, true, false, 6, 5);
  const double xavier_k = std::sqrt(6.0 / (16 + 6));
  EXPECT_LE(kv.k_proj_weight.abs().max().item(), xavier_k);
  EXPECT_GT(kv.k_proj_weight.abs().max().item(), 0.7 * xavier_k);
  EXPECT_GT(kv.bias_k.abs().max().item(), 0.0);

  auto keys = [](const nn::Module& m) {
    std::vector<std::pair<std::string, Shape>> out;
    for (const auto& [k, t] : m.state_dict()) out.emplace_back(k, t.sizes());
    return out;
  };
  const auto& refs = attention_reference::StateDicts();
  EXPECT_EQ(keys(nn::MultiheadAttention(8, 2)), refs.at("mha"));
  EXPECT_EQ(keys(nn::MultiheadAttention(8, 2, 0.0, true, false, false, 6, 5)), refs.at("mha_kvdim"));
  EXPECT_EQ(keys(nn::MultiheadAttention(8, 2, 0.0, false)), refs.at("mha_nobias"));
  EXPECT_EQ(keys(nn::MultiheadAttention(8, 2, 0.0, true, true)), refs.at("mha_bias_kv"));
  auto layer = std::make_shared<nn::TransformerEncoderLayer>(8, 2, 16);
  EXPECT_EQ(keys(*layer), refs.at("encoder_layer"));
  EXPECT_EQ(keys(nn::TransformerEncoder(layer, 2, std::make_shared<nn::LayerNorm>(Shape{8}))),
            refs.at("encoder_norm"));
}

TEST(MultiheadAttention, PrintsAsPyTorch) {
  const auto& reprs = attention_reference::Reprs();
  EXPECT_EQ(nn::MultiheadAttention(8, 2).repr(), reprs.at("mha"));
  EXPECT_EQ(nn::MultiheadAttention(8, 2, 0.0, false).repr(), reprs.at("mha_nobias"));
  auto layer = std::make_shared<nn::TransformerEncoderLayer>(8, 2, 16);
  EXPECT_EQ(layer->repr(), reprs.at("encoder_layer"));
  EXPECT_EQ(nn::TransformerEncoder(layer, 2, std::make_shared<nn::LayerNorm>(Shape{8})).repr(),
            reprs.at("encoder_norm"));
}

TEST(MultiheadAttention, FunctionalGradcheckOverInputsAndParameters) {
  // E = 4, 2 heads, L = 2, S = 3, N = 1, with a key padding mask and a float attn_mask.
  Tensor kpm = BoolMask({0, 1, 0}, {1, 3});
  Tensor am = det({2, 3}, 30, 0.5);
  const Inputs in = {leaf(det({2, 1, 4}, 1)),  leaf(det({3, 1, 4}, 2)),     leaf(det({3, 1, 4}, 3)),
                     leaf(det({12, 4}, 4, 0.5)), leaf(det({12}, 5, 0.5)),    leaf(det({4, 4}, 6, 0.5)),
                     leaf(det({4}, 7, 0.5)),     leaf(det({1, 1, 4}, 8, 0.5)), leaf(det({1, 1, 4}, 9, 0.5))};
  auto run = [&](bool average, bool bias_kv) {
    return [&, average, bias_kv](const Inputs& t) {
      F::MultiheadAttentionForwardOptions o;
      o.key_padding_mask = kpm;
      o.attn_mask = am;
      o.average_attn_weights = average;
      auto [out, w] = F::multi_head_attention_forward(
          t[0], t[1], t[2], 4, 2, t[3], t[4], bias_kv ? t[7] : Tensor(), bias_kv ? t[8] : Tensor(),
          bias_kv, 0.0, t[5], t[6], o);
      return tg::cat({out.reshape({-1}), w.reshape({-1})});
    };
  };
  EXPECT_TRUE(Gradcheck(run(true, false), Inputs(in.begin(), in.begin() + 7)));
  EXPECT_TRUE(Gradcheck(run(false, true), in));
}

TEST(MultiheadAttention, Errors) {
  EXPECT_ERROR_HAS(nn::MultiheadAttention(10, 3), "MultiheadAttention", "10", "3", "divisible");
  nn::MultiheadAttention mha(E, H);
  mha.to(tg::kFloat64);
  Tensor q = det({L, N, E}, 1), k = det({S, N, E}, 2), v = det({S, N, E}, 3);
  const char* op = "MultiheadAttention";
  EXPECT_ERROR_HAS(mha.forward(q, det({S, N, 6}, 2), det({S, N, 6}, 3)), op, "[4, 2, 6]", "8");
  EXPECT_ERROR_HAS(mha.forward(q, k, det({S + 1, N, E}, 3)), op, "[4, 2, 8]", "[5, 2, 8]");
  EXPECT_ERROR_HAS(mha.forward(det({L, N, 6}, 1), k, v), op, "[3, 2, 6]", "8");
  EXPECT_ERROR_HAS(mha.forward(q, det({S, 3, E}, 2), det({S, 3, E}, 3)), op, "batch");
  EXPECT_ERROR_HAS(mha.forward(det({1, L, N, E}, 1), k, v), op, "[1, 3, 2, 8]");
  EXPECT_ERROR_HAS(mha.forward(q, det({S, E}, 2), det({S, E}, 3)), op, "[4, 8]");
  // Masks: shapes and dtypes name what was expected and what came.
  EXPECT_ERROR_HAS(mha.forward(q, k, v, Tensor(), true, tg::zeros({L, S + 1}, tg::kFloat64)), op,
                   "2-D attn_mask", "[3, 5]", "[3, 4]");
  EXPECT_ERROR_HAS(mha.forward(q, k, v, Tensor(), true, tg::zeros({N, L, S}, tg::kFloat64)), op,
                   "3-D attn_mask", "[2, 3, 4]", "[4, 3, 4]");
  EXPECT_ERROR_HAS(mha.forward(q, k, v, Tensor(), true, tg::zeros({S}, tg::kFloat64)), op,
                   "attn_mask", "[4]");
  EXPECT_ERROR_HAS(mha.forward(q, k, v, tg::zeros({N, S + 1}) > 0.0), op, "key_padding_mask",
                   "[2, 4]", "[2, 5]");
  EXPECT_ERROR_HAS(mha.forward(q, k, v, tg::zeros({N, S}, tg::kInt64)), op, "key_padding_mask",
                   "bool", "int64");
  EXPECT_ERROR_HAS(mha.forward(q, k, v, Tensor(), true, tg::zeros({L, S}, tg::kFloat32)), op,
                   "attn_mask", "float64", "float32");
  EXPECT_ERROR_HAS(mha.forward(q, q, q, Tensor(), true, Tensor(), true, true), op, "is_causal",
                   "attn_mask");
  nn::MultiheadAttention kv(E, H, 0.0, true, false, false, 6, 5);
  kv.to(tg::kFloat64);
  EXPECT_ERROR_HAS(kv.forward(q, det({S, N, 5}, 2), det({S, N, 5}, 3)), op, "key", "[4, 2, 5]",
                   "kdim", "6");
  EXPECT_ERROR_HAS(kv.forward(q, det({S, N, 6}, 2), det({S, N, 6}, 3)), op, "value", "vdim", "5");
  nn::MultiheadAttention f32(E, H);
  EXPECT_ERROR_HAS(f32.forward(q, k, v), op, "float64", "float32");
  // The functional form checks what the module guarantees.
  const char* fop = "multi_head_attention_forward";
  auto functional = [&](int64_t heads, const Tensor& out_w) {
    F::multi_head_attention_forward(q, k, v, E, heads, det({3 * E, E}, 4), Tensor(), Tensor(),
                                    Tensor(), false, 0.0, out_w, Tensor());
  };
  EXPECT_ERROR_HAS(functional(0, det({E, E}, 5)), fop, "num_heads", "0");
  EXPECT_ERROR_HAS(functional(3, det({E, E}, 5)), fop, "8", "divisible", "3");
  EXPECT_ERROR_HAS(functional(H, det({E, 7}, 5)), fop, "out_proj_weight", "[8, 8]", "[8, 7]");
  EXPECT_ERROR_HAS(F::multi_head_attention_forward(q, k, v, E, H, det({3 * E, E}, 4), Tensor(),
                                                   det({1, 1, E}, 6), Tensor(), false, 0.0,
                                                   det({E, E}, 5), Tensor()),
                   fop, "bias_k and bias_v");
}

// ---------------------------------------------------------------- Transformer encoder

void RunEncoderCase(const std::string& c, nn::Module& m,
                    const std::function<Tensor(const Tensor&)>& forward, const Tensor& src) {
  SCOPED_TRACE(c);
  m.to(tg::kFloat64);
  SetParams(m, 300);
  m.eval();
  Tensor x = leaf(src);
  Tensor out = forward(x);
  EXPECT_REF(out, c + ".out");
  BackwardSeeded(out);
  EXPECT_REF(x.grad(), c + ".grad.src");
  ExpectParamGrads(c, m);
}

TEST(TransformerEncoderLayer, PostNormReluWithMasks) {
  nn::TransformerEncoderLayer layer(8, 2, 16);
  const std::string c = "tel.post_relu";
  Tensor mask = RefMask(c + ".src_mask"), kpm = RefMask(c + ".src_key_padding_mask");
  RunEncoderCase(c, layer, [&](const Tensor& x) { return layer.forward(x, mask, kpm); },
                 det({3, 2, 8}, 40));
}

TEST(TransformerEncoderLayer, PreNormGeluBatchFirstCausal) {
  nn::TransformerEncoderLayer layer(8, 2, 16, 0.1, "gelu", 1e-6, true, true);
  Tensor mask = nn::generate_square_subsequent_mask(3, tg::kFloat64);
  RunEncoderCase("tel.pre_gelu_batch_first", layer,
                 [&](const Tensor& x) { return layer.forward(x, mask, Tensor(), true); },
                 det({2, 3, 8}, 41));
}

TEST(TransformerEncoderLayer, DropoutTrainingAndCustomActivation) {
  tg::manual_seed(3);
  nn::TransformerEncoderLayer layer(8, 2, 16, 0.3);
  layer.to(tg::kFloat64);
  Tensor x = det({3, 2, 8}, 1);
  layer.eval();
  Tensor a = layer.forward(x);
  layer.train();
  Tensor b = layer.forward(x);
  EXPECT_GT((a - b).abs().max().item(), 1e-4);
  // dropout = 0: training and eval agree.
  nn::TransformerEncoderLayer nodrop(8, 2, 16, 0.0);
  Tensor t = nodrop.forward(x.to(tg::kFloat32));
  nodrop.eval();
  EXPECT_LT((t - nodrop.forward(x.to(tg::kFloat32))).abs().max().item(), 1e-6);
  // A function as the activation: relu given as a function equals "relu" on the same weights.
  nn::TransformerEncoderLayer custom(8, 2, 16, 0.0, nn::TransformerActivation(
                                                        [](const Tensor& h) { return tg::relu(h); }));
  custom.load_state_dict(nodrop.state_dict());
  custom.eval();
  EXPECT_LT((custom.forward(x.to(tg::kFloat32)) - nodrop.forward(x.to(tg::kFloat32))).abs().max().item(),
            1e-6);
  EXPECT_ERROR_HAS(nn::TransformerEncoderLayer(8, 2, 16, 0.1, "tanh"), "activation", "relu",
                   "gelu", "tanh");
  EXPECT_ERROR_HAS(nn::TransformerEncoderLayer(8, 3), "embed_dim (8)", "num_heads (3)");
  EXPECT_ERROR_HAS(layer.forward(det({3, 2, 6}, 1)), "MultiheadAttention", "[3, 2, 6]");
}

TEST(TransformerEncoder, TwoLayersAndNormAreDeepCopies) {
  auto layer = std::make_shared<nn::TransformerEncoderLayer>(8, 2, 16);
  nn::TransformerEncoder enc(layer, 2, std::make_shared<nn::LayerNorm>(Shape{8}));
  // Deep copies: equal values, distinct tensors.
  auto sd = enc.state_dict();
  auto layer_sd = layer->state_dict();
  ASSERT_EQ(sd.size(), 2 * layer_sd.size() + 2);
  for (size_t i = 0; i < layer_sd.size(); ++i) {
    EXPECT_EQ((sd[i].second - layer_sd[i].second).abs().max().item(), 0.0) << sd[i].first;
    EXPECT_FALSE(sd[i].second.storage() == layer_sd[i].second.storage()) << sd[i].first;
    EXPECT_FALSE(sd[i].second.storage() == sd[i + layer_sd.size()].second.storage());
  }
  enc.to(tg::kFloat64);
  const std::string c = "tenc.two_layers_norm";
  Tensor kpm = RefMask(c + ".src_key_padding_mask");
  RunEncoderCase(c, enc, [&](const Tensor& x) { return enc.forward(x, Tensor(), kpm); },
                 det({3, 2, 8}, 42));
}

// ---------------------------------------------------------------- Transformer decoder

// A reference case of a module with two inputs (named as in the script): parameters from
// SetParams(seed), eval mode, the output and every gradient.
void RunTwoInputCase(const std::string& c, nn::Module& m, double seed,
                     const std::function<Tensor(const Tensor&, const Tensor&)>& forward,
                     const std::pair<const char*, Tensor>& a,
                     const std::pair<const char*, Tensor>& b) {
  SCOPED_TRACE(c);
  m.to(tg::kFloat64);
  SetParams(m, seed);
  m.eval();
  Tensor x = leaf(a.second), y = leaf(b.second);
  Tensor out = forward(x, y);
  EXPECT_REF(out, c + ".out");
  BackwardSeeded(out);
  EXPECT_REF(x.grad(), c + ".grad." + a.first);
  EXPECT_REF(y.grad(), c + ".grad." + b.first);
  ExpectParamGrads(c, m);
}

void RunDecoderCase(const std::string& c, nn::Module& m,
                    const std::function<Tensor(const Tensor&, const Tensor&)>& forward,
                    const Tensor& tgt, const Tensor& memory) {
  RunTwoInputCase(c, m, 400, forward, {"tgt", tgt}, {"memory", memory});
}

TEST(TransformerDecoderLayer, PostNormReluCausalWithPadding) {
  nn::TransformerDecoderLayer layer(8, 2, 16);
  const std::string c = "tdl.post_relu";
  Tensor causal = nn::generate_square_subsequent_mask(3, tg::kFloat64);
  Tensor tkpm = RefMask(c + ".tgt_key_padding_mask"), mkpm = RefMask(c + ".memory_key_padding_mask");
  RunDecoderCase(
      c, layer,
      [&](const Tensor& t, const Tensor& m) {
        return layer.forward(t, m, causal, Tensor(), tkpm, mkpm, /*tgt_is_causal=*/true);
      },
      det({3, 2, 8}, 60), det({4, 2, 8}, 61));
}

TEST(TransformerDecoderLayer, PreNormGeluBatchFirstMemoryMask) {
  nn::TransformerDecoderLayer layer(8, 2, 16, 0.1, "gelu", 1e-5, true, true);
  const std::string c = "tdl.pre_gelu_batch_first";
  Tensor mm = RefMask(c + ".memory_mask");
  RunDecoderCase(
      c, layer, [&](const Tensor& t, const Tensor& m) { return layer.forward(t, m, Tensor(), mm); },
      det({2, 3, 8}, 62), det({2, 4, 8}, 63));
}

TEST(TransformerDecoder, TwoLayersAndNormStateDictAndPrinting) {
  auto layer = std::make_shared<nn::TransformerDecoderLayer>(8, 2, 16);
  nn::TransformerDecoder dec(layer, 2, std::make_shared<nn::LayerNorm>(Shape{8}));
  std::vector<std::pair<std::string, Shape>> keys;
  for (const auto& [k, t] : dec.state_dict()) keys.emplace_back(k, t.sizes());
  EXPECT_EQ(keys, attention_reference::StateDicts().at("decoder_norm"));
  keys.clear();
  for (const auto& [k, t] : layer->state_dict()) keys.emplace_back(k, t.sizes());
  EXPECT_EQ(keys, attention_reference::StateDicts().at("decoder_layer"));
  EXPECT_EQ(layer->repr(), attention_reference::Reprs().at("decoder_layer"));
  EXPECT_EQ(dec.repr(), attention_reference::Reprs().at("decoder_norm"));
  const std::string c = "tdec.two_layers_norm";
  Tensor causal = nn::generate_square_subsequent_mask(3, tg::kFloat64);
  Tensor mkpm = RefMask(c + ".memory_key_padding_mask");
  RunDecoderCase(
      c, dec,
      [&](const Tensor& t, const Tensor& m) {
        return dec.forward(t, m, causal, Tensor(), Tensor(), mkpm);
      },
      det({3, 2, 8}, 64), det({4, 2, 8}, 65));
}

TEST(TransformerDecoder, Errors) {
  nn::TransformerDecoderLayer layer(8, 2, 16);
  Tensor tgt = tg::randn({3, 2, 8});
  EXPECT_ERROR_HAS(layer.forward(tgt, tg::randn({4, 3, 8})), "MultiheadAttention", "batch");
  EXPECT_ERROR_HAS(layer.forward(tgt, tg::randn({4, 2, 6})), "MultiheadAttention", "[4, 2, 6]");
  EXPECT_ERROR_HAS(layer.forward(tgt, tg::randn({4, 2, 8}), Tensor(), tg::zeros({3, 5}) > 0.0),
                   "attn_mask", "[3, 5]", "[3, 4]");
  EXPECT_ERROR_HAS(nn::TransformerDecoder(nullptr, 2), "TransformerDecoder", "null");
  EXPECT_ERROR_HAS(nn::TransformerDecoder(std::make_shared<nn::TransformerDecoderLayer>(8, 2, 16), -1),
                   "TransformerDecoder", "num_layers", "-1");
}

// ---------------------------------------------------------------- Transformer

TEST(Transformer, PostNormReluMatchesPyTorch) {
  nn::Transformer model(8, 2, 1, 2, 16);
  const std::string c = "transformer.post_relu";
  Tensor causal = nn::Transformer::generate_square_subsequent_mask(3, tg::kFloat64);
  Tensor skpm = RefMask(c + ".src_key_padding_mask");
  RunTwoInputCase(
      c, model, 500,
      [&](const Tensor& src, const Tensor& tgt) {
        return model.forward(src, tgt, Tensor(), causal, Tensor(), skpm, Tensor(), skpm);
      },
      {"src", det({4, 2, 8}, 80)}, {"tgt", det({3, 2, 8}, 81)});
}

TEST(Transformer, PreNormGeluBatchFirstMatchesPyTorch) {
  nn::Transformer model(8, 2, 2, 1, 16, 0.1, "gelu", nullptr, nullptr, 1e-5, true, true);
  Tensor causal = nn::Transformer::generate_square_subsequent_mask(3, tg::kFloat64);
  RunTwoInputCase(
      "transformer.pre_gelu_batch_first", model, 600,
      [&](const Tensor& src, const Tensor& tgt) {
        return model.forward(src, tgt, Tensor(), causal, Tensor(), Tensor(), Tensor(), Tensor(),
                             std::nullopt, true);
      },
      {"src", det({2, 4, 8}, 82)}, {"tgt", det({2, 3, 8}, 83)});
}

TEST(Transformer, InitStateDictPrintingAndErrors) {
  tg::manual_seed(5);
  nn::Transformer model(8, 2, 1, 2, 16);
  std::vector<std::pair<std::string, Shape>> keys;
  for (const auto& [k, t] : model.state_dict()) keys.emplace_back(k, t.sizes());
  EXPECT_EQ(keys, attention_reference::StateDicts().at("transformer"));
  EXPECT_EQ(model.repr(), attention_reference::Reprs().at("transformer"));
  // Every matrix is xavier_uniform (including out_proj and the feed-forward weights).
  for (const auto& [name, p] : model.named_parameters()) {
    if (p.dim() < 2) continue;
    const double bound = std::sqrt(6.0 / static_cast<double>(p.size(0) + p.size(1)));
    EXPECT_LE(p.abs().max().item(), bound) << name;
    EXPECT_GT(p.abs().max().item(), 0.5 * bound) << name;
  }
  EXPECT_ERROR_HAS(model.forward(tg::randn({4, 2, 8}), tg::randn({3, 3, 8})), "Transformer",
                   "batch number", "[4, 2, 8]", "[3, 3, 8]");
  EXPECT_ERROR_HAS(model.forward(tg::randn({4, 2, 8}), tg::randn({3, 2, 6})), "Transformer",
                   "d_model (8)", "[3, 2, 6]");
  // Unbatched src and tgt.
  EXPECT_EQ(model.forward(tg::randn({4, 8}), tg::randn({3, 8})).sizes(), (Shape{3, 8}));
}

// A tiny causal language model learns to continue a cyclic sequence.
TEST(TransformerEncoder, TinyCausalLanguageModelLearns) {
  tg::manual_seed(1);
  const int64_t vocab = 7, T = 8, batch = 4, d = 16;
  std::vector<int64_t> tokens;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t <= T; ++t) tokens.push_back((b * 2 + t * 3) % vocab);
  Tensor seq = tg::tensor(tokens, {batch, T + 1});
  Tensor input = seq.slice(1, 0, T).contiguous(), target = seq.slice(1, 1, T + 1).contiguous();
  auto emb = std::make_shared<nn::Embedding>(vocab, d);
  auto enc = std::make_shared<nn::TransformerEncoder>(
      std::make_shared<nn::TransformerEncoderLayer>(d, 2, 32, 0.0, "gelu", 1e-5, true), 1);
  auto head = std::make_shared<nn::Linear>(d, vocab);
  nn::Sequential model({emb, enc, head});
  Tensor mask = nn::generate_square_subsequent_mask(T);
  tg::optim::Adam opt(model.parameters(), {.lr = 1e-2});
  auto loss_fn = [&] {
    Tensor h = enc->forward(emb->forward(input), mask, Tensor(), true);
    Tensor logits = head->forward(h);
    return F::cross_entropy(logits.reshape({-1, vocab}), target.reshape({-1}));
  };
  const double first = loss_fn().item();
  double last = first;
  for (int step = 0; step < 60; ++step) {
    opt.zero_grad();
    Tensor loss = loss_fn();
    loss.backward();
    opt.step();
    last = loss.item();
  }
  EXPECT_LT(last, 0.25 * first) << "first " << first << ", last " << last;
}

}  // namespace
