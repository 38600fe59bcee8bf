// Convolution and pooling: forward values against direct float64 implementations written here
// (suite ConvForward, PoolForward), gradcheck of every op in float64 (ConvGradcheck), values and
// gradients against PyTorch 1.13 (ConvTorchReference, from tests/cpp/conv_reference.py), the nn
// layers (ConvModules) and the user errors (ConvErrors).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "autograd/node.h"
#include "core/tensor.h"
#include "core/types.h"
#include "nn/conv.h"
#include "nn/pooling.h"

namespace {

using tg::Shape;
using tg::Tensor;
using Vec = std::vector<double>;
using Pair = std::array<int64_t, 2>;
using Inputs = std::vector<Tensor>;
using Fn = std::function<Tensor(const Inputs&)>;

// ================================================================ helpers

int64_t numel(const Shape& s) {
  return std::accumulate(s.begin(), s.end(), int64_t(1), std::multiplies<int64_t>());
}

// Seeded normal values, float64, that require grad when asked.
Tensor randn64(const Shape& shape, bool requires_grad = false) {
  Tensor t = tg::randn(shape, tg::kFloat64);
  if (requires_grad) t.requires_grad_();
  return t;
}

// Seeded values in random order that are pairwise at least ~0.07 apart: no ties for max pooling,
// and a finite-difference step never changes which element is the maximum.
Tensor distinct(const Shape& shape) {
  Vec u = tg::rand(shape, tg::kFloat64).to_vector<double>();
  std::vector<size_t> order(u.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return u[a] < u[b]; });
  Vec v(u.size());
  const double half = static_cast<double>(u.size()) / 2;
  for (size_t rank = 0; rank < order.size(); ++rank)
    v[order[rank]] = (static_cast<double>(rank) - half) * 0.1 + 0.03 * u[order[rank]];
  return tg::tensor(v, shape, tg::kFloat64).requires_grad_();
}

// Element i = sin(a * i + b): the deterministic inputs of tests/cpp/conv_reference.py.
Tensor seq(const Shape& shape, double a, double b, bool requires_grad = true) {
  Vec v(static_cast<size_t>(numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(a * static_cast<double>(i) + b);
  Tensor t = tg::tensor(v, shape, tg::kFloat64);
  if (requires_grad) t.requires_grad_();
  return t;
}

// Element i = cos(0.37 i + 0.5): the output gradient of the reference cases.
Tensor cot(const Shape& shape) {
  Vec v(static_cast<size_t>(numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::cos(0.37 * static_cast<double>(i) + 0.5);
  return tg::tensor(v, shape, tg::kFloat64);
}

::testing::AssertionResult Near(const Vec& got, const Vec& want, double atol, double rtol) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "size " << got.size() << " != " << want.size();
  for (size_t i = 0; i < got.size(); ++i) {
    if (!(std::abs(got[i] - want[i]) <= atol + rtol * std::abs(want[i])))
      return ::testing::AssertionFailure()
             << "element " << i << ": got " << got[i] << ", want " << want[i];
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult Gradcheck(const Fn& fn, const Inputs& inputs) {
  try {
    if (tg::gradcheck(fn, inputs)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "gradcheck returned false";
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << e.what();
  }
}
#define EXPECT_GRADCHECK(...) EXPECT_TRUE(Gradcheck(__VA_ARGS__))

// ================================================================ direct implementations

struct ConvSpec {
  Shape x;  // [N, C, H, W]
  Shape w;  // [O, C / groups, kH, kW]
  Pair stride{1, 1};
  Pair pad{0, 0};
  Pair dil{1, 1};
  int64_t groups = 1;
  bool bias = true;
  Pair pad_end{-1, -1};  // bottom/right padding; -1: as pad
};

int64_t conv_out(int64_t in, int64_t k, int64_t pb, int64_t pe, int64_t s, int64_t d) {
  return (in + pb + pe - d * (k - 1) - 1) / s + 1;
}

// out[n, o, y, x] = b[o] + sum over c, ky, kx of x[n, g * Cg + c, y * s - p + ky * d, ...] w[o, c, ky, kx].
Vec direct_conv2d(const Vec& x, const Vec& w, const Vec& b, const ConvSpec& s, Shape* out_shape) {
  const int64_t N = s.x[0], C = s.x[1], H = s.x[2], W = s.x[3];
  const int64_t O = s.w[0], Cg = s.w[1], KH = s.w[2], KW = s.w[3], Og = O / s.groups;
  const Pair pe{s.pad_end[0] < 0 ? s.pad[0] : s.pad_end[0], s.pad_end[1] < 0 ? s.pad[1] : s.pad_end[1]};
  const int64_t OH = conv_out(H, KH, s.pad[0], pe[0], s.stride[0], s.dil[0]);
  const int64_t OW = conv_out(W, KW, s.pad[1], pe[1], s.stride[1], s.dil[1]);
  *out_shape = {N, O, OH, OW};
  Vec out(static_cast<size_t>(N * O * OH * OW));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          double acc = b.empty() ? 0.0 : b[o];
          const int64_t g = o / Og;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t ky = 0; ky < KH; ++ky)
              for (int64_t kx = 0; kx < KW; ++kx) {
                const int64_t iy = oy * s.stride[0] - s.pad[0] + ky * s.dil[0];
                const int64_t ix = ox * s.stride[1] - s.pad[1] + kx * s.dil[1];
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                acc += x[((n * C + g * Cg + c) * H + iy) * W + ix] * w[((o * Cg + c) * KH + ky) * KW + kx];
              }
          out[((n * O + o) * OH + oy) * OW + ox] = acc;
        }
  return out;
}

// The transposed convolution by scattering: each input element adds w times itself to the
// output positions its kernel covers. w [Cin, Cout / groups, kH, kW].
Vec direct_conv_transpose2d(const Vec& x, const Vec& w, const Vec& b, const Shape& xs, const Shape& ws,
                            Pair stride, Pair pad, Pair out_pad, Pair dil, int64_t groups,
                            Shape* out_shape) {
  const int64_t N = xs[0], Cin = xs[1], H = xs[2], W = xs[3];
  const int64_t Coutg = ws[1], KH = ws[2], KW = ws[3], Cout = Coutg * groups, Cing = Cin / groups;
  const int64_t OH = (H - 1) * stride[0] - 2 * pad[0] + dil[0] * (KH - 1) + out_pad[0] + 1;
  const int64_t OW = (W - 1) * stride[1] - 2 * pad[1] + dil[1] * (KW - 1) + out_pad[1] + 1;
  *out_shape = {N, Cout, OH, OW};
  Vec out(static_cast<size_t>(N * Cout * OH * OW), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t co = 0; co < Cout; ++co)
      for (int64_t i = 0; i < OH * OW; ++i) out[(n * Cout + co) * OH * OW + i] = b.empty() ? 0.0 : b[co];
  for (int64_t n = 0; n < N; ++n)
    for (int64_t ci = 0; ci < Cin; ++ci) {
      const int64_t g = ci / Cing;
      for (int64_t iy = 0; iy < H; ++iy)
        for (int64_t ix = 0; ix < W; ++ix)
          for (int64_t c = 0; c < Coutg; ++c)
            for (int64_t ky = 0; ky < KH; ++ky)
              for (int64_t kx = 0; kx < KW; ++kx) {
                const int64_t oy = iy * stride[0] - pad[0] + ky * dil[0];
                const int64_t ox = ix * stride[1] - pad[1] + kx * dil[1];
                if (oy < 0 || oy >= OH || ox < 0 || ox >= OW) continue;
                out[((n * Cout + g * Coutg + c) * OH + oy) * OW + ox] +=
                    x[((n * Cin + ci) * H + iy) * W + ix] * w[((ci * Coutg + c) * KH + ky) * KW + kx];
              }
    }
  return out;
}

struct PoolSpec {
  Pair kernel{2, 2};
  Pair stride{2, 2};
  Pair pad{0, 0};
  Pair dil{1, 1};
  bool ceil_mode = false;
  bool count_include_pad = true;
  int64_t divisor = 0;
};

int64_t pool_out(int64_t in, int64_t k, int64_t p, int64_t s, int64_t d, bool ceil_mode) {
  const int64_t span = in + 2 * p - d * (k - 1) - 1;
  int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

// kind 0: max, 1: average. Planes [P, H, W].
Vec direct_pool2d(int kind, const Vec& x, int64_t P, int64_t H, int64_t W, const PoolSpec& s,
                  int64_t* oh_out, int64_t* ow_out) {
  const Pair d = kind == 0 ? s.dil : Pair{1, 1};
  const int64_t OH = pool_out(H, s.kernel[0], s.pad[0], s.stride[0], d[0], s.ceil_mode);
  const int64_t OW = pool_out(W, s.kernel[1], s.pad[1], s.stride[1], d[1], s.ceil_mode);
  *oh_out = OH;
  *ow_out = OW;
  Vec out(static_cast<size_t>(P * OH * OW));
  for (int64_t p = 0; p < P; ++p)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        double m = -std::numeric_limits<double>::infinity(), sum = 0;
        int64_t inside = 0, padded = 0;
        for (int64_t ky = 0; ky < s.kernel[0]; ++ky)
          for (int64_t kx = 0; kx < s.kernel[1]; ++kx) {
            const int64_t iy = oy * s.stride[0] - s.pad[0] + ky * d[0];
            const int64_t ix = ox * s.stride[1] - s.pad[1] + kx * d[1];
            // Average pooling counts the padding but not what lies past it (ceil_mode windows).
            if (iy < H + s.pad[0] && ix < W + s.pad[1]) ++padded;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
            const double v = x[(p * H + iy) * W + ix];
            m = std::max(m, v);
            sum += v;
            ++inside;
          }
        const int64_t div = s.divisor != 0 ? s.divisor : s.count_include_pad ? padded : inside;
        out[(p * OH + oy) * OW + ox] = kind == 0 ? m : sum / static_cast<double>(div);
      }
  return out;
}

Vec direct_adaptive_avg(const Vec& x, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW) {
  Vec out(static_cast<size_t>(P * OH * OW));
  for (int64_t p = 0; p < P; ++p)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        const int64_t y0 = static_cast<int64_t>(std::floor(double(oy * H) / double(OH)));
        const int64_t y1 = static_cast<int64_t>(std::ceil(double((oy + 1) * H) / double(OH)));
        const int64_t x0 = static_cast<int64_t>(std::floor(double(ox * W) / double(OW)));
        const int64_t x1 = static_cast<int64_t>(std::ceil(double((ox + 1) * W) / double(OW)));
        double sum = 0;
        for (int64_t iy = y0; iy < y1; ++iy)
          for (int64_t ix = x0; ix < x1; ++ix) sum += x[(p * H + iy) * W + ix];
        out[(p * OH + oy) * OW + ox] = sum / static_cast<double>((y1 - y0) * (x1 - x0));
      }
  return out;
}

Shape pair_shape(Pair p) { return {p[0], p[1]}; }

// ================================================================ ConvForward

struct NamedSpec {
  const char* name;
  ConvSpec spec;
};

const std::vector<NamedSpec>& forward_specs() {
  static const std::vector<NamedSpec> specs = {
      {"3x3", {.x = {1, 1, 5, 5}, .w = {1, 1, 3, 3}}},
      {"stride2", {.x = {3, 2, 7, 8}, .w = {4, 2, 3, 3}, .stride = {2, 2}}},
      {"padding1", {.x = {2, 3, 6, 6}, .w = {5, 3, 3, 3}, .pad = {1, 1}}},
      {"padding2_stride2", {.x = {1, 2, 9, 7}, .w = {3, 2, 5, 5}, .stride = {2, 2}, .pad = {2, 2}}},
      {"dilation2", {.x = {2, 2, 9, 9}, .w = {3, 2, 3, 3}, .pad = {2, 2}, .dil = {2, 2}}},
      {"groups2", {.x = {3, 4, 6, 7}, .w = {6, 2, 3, 3}, .pad = {1, 1}, .groups = 2}},
      {"depthwise", {.x = {2, 5, 7, 6}, .w = {5, 1, 3, 3}, .pad = {1, 1}, .groups = 5}},
      {"depthwise_x2_stride2", {.x = {1, 3, 6, 6}, .w = {6, 1, 3, 3}, .stride = {2, 2}, .groups = 3}},
      {"1x1", {.x = {3, 6, 5, 4}, .w = {4, 6, 1, 1}}},
      {"1x1_groups2_nobias", {.x = {2, 6, 3, 5}, .w = {4, 3, 1, 1}, .groups = 2, .bias = false}},
      {"1x1_stride2", {.x = {2, 3, 7, 7}, .w = {2, 3, 1, 1}, .stride = {2, 2}}},
      {"1x1_padding1", {.x = {1, 2, 3, 4}, .w = {3, 2, 1, 1}, .pad = {1, 1}}},
      {"nonsquare",
       {.x = {2, 3, 5, 11}, .w = {4, 3, 2, 5}, .stride = {1, 3}, .pad = {1, 2}, .dil = {2, 1}}},
      {"odd_sizes", {.x = {3, 3, 13, 9}, .w = {7, 3, 4, 2}, .stride = {3, 2}, .pad = {2, 1}}},
      {"kernel_fills_input", {.x = {2, 2, 4, 4}, .w = {3, 2, 4, 4}}},
      {"kernel_fills_padded_input", {.x = {1, 2, 2, 3}, .w = {2, 2, 4, 5}, .pad = {1, 1}}},
      {"no_bias_batch1", {.x = {1, 3, 8, 5}, .w = {2, 3, 3, 2}, .stride = {2, 1}, .bias = false}},
      {"stride_larger_than_kernel", {.x = {2, 2, 11, 10}, .w = {3, 2, 2, 2}, .stride = {4, 3}, .pad = {1, 0}}},
      {"groups3_all", {.x = {2, 6, 7, 8}, .w = {9, 2, 3, 2}, .stride = {2, 1}, .pad = {1, 1}, .dil = {1, 2}, .groups = 3}},
  };
  return specs;
}

void check_conv_forward(const ConvSpec& s, const std::string& name) {
  Tensor x = randn64(s.x), w = randn64(s.w);
  Tensor b = s.bias ? randn64({s.w[0]}) : Tensor();
  Shape ref_shape;
  const Vec ref = direct_conv2d(x.to_vector<double>(), w.to_vector<double>(),
                                s.bias ? b.to_vector<double>() : Vec(), s, &ref_shape);
  Tensor out = tg::conv2d(x, w, b, pair_shape(s.stride), pair_shape(s.pad), pair_shape(s.dil), s.groups);
  ASSERT_EQ(out.sizes(), ref_shape) << name;
  EXPECT_TRUE(Near(out.to_vector<double>(), ref, 1e-11, 1e-11)) << name << " (float64)";
  // float32: the same values to float32 accuracy.
  Tensor out32 = tg::conv2d(x.to(tg::kFloat32), w.to(tg::kFloat32),
                            s.bias ? b.to(tg::kFloat32) : Tensor(), pair_shape(s.stride),
                            pair_shape(s.pad), pair_shape(s.dil), s.groups);
  EXPECT_EQ(out32.dtype(), tg::kFloat32);
  EXPECT_TRUE(Near(out32.to_vector<double>(), ref, 1e-4, 1e-4)) << name << " (float32)";
}

TEST(ConvForward, MatchesDirectConvolution) {
  tg::manual_seed(1);
  for (const auto& [name, spec] : forward_specs()) check_conv_forward(spec, name);
}

TEST(ConvForward, ColumnBufferInSeveralChunks) {
  // 64 channels of 64 x 64 with a 3x3 kernel: one image's float64 columns are ~19 MB, more than
  // the 4 MB budget, so the batch of 3 is unfolded one image at a time.
  tg::manual_seed(2);
  check_conv_forward({.x = {3, 64, 64, 64}, .w = {4, 64, 3, 3}, .pad = {1, 1}}, "chunked");
}

TEST(ConvForward, PaddingSameAndValid) {
  tg::manual_seed(3);
  // Odd total padding (kernel 4 x 2): PyTorch puts the extra row/column at the bottom/right.
  Tensor x = randn64({2, 3, 6, 7}), w = randn64({4, 3, 4, 2}), b = randn64({4});
  Tensor out = tg::conv2d(x, w, b, {1}, tg::ConvPadding::Same);
  ASSERT_EQ(out.sizes(), (Shape{2, 4, 6, 7}));
  Shape shape;
  const Vec ref = direct_conv2d(x.to_vector<double>(), w.to_vector<double>(), b.to_vector<double>(),
                                {.x = {2, 3, 6, 7}, .w = {4, 3, 4, 2}, .pad = {1, 0}, .pad_end = {2, 1}},
                                &shape);
  EXPECT_TRUE(Near(out.to_vector<double>(), ref, 1e-11, 1e-11));
  // With dilation: total dilation * (k - 1) = 6 and 2, even.
  Tensor out_d = tg::conv2d(x, w, b, {1}, tg::ConvPadding::Same, {2});
  ASSERT_EQ(out_d.sizes(), (Shape{2, 4, 6, 7}));
  const Vec ref_d = direct_conv2d(x.to_vector<double>(), w.to_vector<double>(), b.to_vector<double>(),
                                  {.x = {2, 3, 6, 7}, .w = {4, 3, 4, 2}, .pad = {3, 1}, .dil = {2, 2}},
                                  &shape);
  EXPECT_TRUE(Near(out_d.to_vector<double>(), ref_d, 1e-11, 1e-11));
  Tensor valid = tg::conv2d(x, w, b, {1}, tg::ConvPadding::Valid);
  EXPECT_EQ(valid.sizes(), (Shape{2, 4, 3, 6}));
  EXPECT_TRUE(Near(valid.to_vector<double>(), tg::conv2d(x, w, b).to_vector<double>(), 0, 0));
  EXPECT_EQ(tg::conv_padding_from_string("same"), tg::ConvPadding::Same);
  EXPECT_EQ(tg::conv_padding_from_string("valid"), tg::ConvPadding::Valid);
}

TEST(ConvForward, UnbatchedAndEmptyBatch) {
  tg::manual_seed(4);
  Tensor x = randn64({3, 6, 5}), w = randn64({4, 3, 3, 3}), b = randn64({4});
  Tensor out = tg::conv2d(x, w, b, {1}, {1});
  ASSERT_EQ(out.sizes(), (Shape{4, 6, 5}));
  Tensor batched = tg::conv2d(x.unsqueeze(0), w, b, {1}, {1});
  EXPECT_TRUE(Near(out.to_vector<double>(), batched.to_vector<double>(), 0, 0));
  Tensor empty = tg::conv2d(tg::zeros({0, 3, 6, 5}, tg::kFloat64), w, b, {1}, {1});
  EXPECT_EQ(empty.sizes(), (Shape{0, 4, 6, 5}));
}

TEST(ConvForward, NonContiguousInputs) {
  tg::manual_seed(5);
  // A transposed input and a permuted weight give the values of their contiguous copies.
  Tensor x = randn64({2, 3, 7, 6}).transpose(2, 3), w = randn64({3, 4, 3, 2}).transpose(0, 1);
  Tensor out = tg::conv2d(x, w, Tensor(), {2, 1}, {1, 0});
  Tensor ref = tg::conv2d(x.contiguous(), w.contiguous(), Tensor(), {2, 1}, {1, 0});
  EXPECT_TRUE(Near(out.to_vector<double>(), ref.to_vector<double>(), 0, 0));
}

TEST(ConvForward, Conv1dMatchesConv2dOverAUnitHeight) {
  tg::manual_seed(6);
  Tensor x = randn64({2, 4, 11}), w = randn64({6, 2, 3}), b = randn64({6});
  Tensor out = tg::conv1d(x, w, b, {2}, {2}, {2}, 2);
  ASSERT_EQ(out.sizes(), (Shape{2, 6, 6}));
  Shape shape;
  const Vec ref = direct_conv2d(x.to_vector<double>(), w.to_vector<double>(), b.to_vector<double>(),
                                {.x = {2, 4, 1, 11}, .w = {6, 2, 1, 3}, .stride = {1, 2},
                                 .pad = {0, 2}, .dil = {1, 2}, .groups = 2},
                                &shape);
  EXPECT_TRUE(Near(out.to_vector<double>(), ref, 1e-11, 1e-11));
  // Unbatched, and padding "same".
  Tensor u = tg::conv1d(x.select(0, 1), w, b, {1}, tg::ConvPadding::Same, {1}, 2);
  EXPECT_EQ(u.sizes(), (Shape{6, 11}));
}

TEST(ConvForward, ConvTranspose2dMatchesScatter) {
  tg::manual_seed(7);
  struct Case {
    Shape x, w;
    Pair stride, pad, out_pad, dil;
    int64_t groups;
    bool bias;
  };
  const std::vector<Case> cases = {
      {{1, 2, 4, 4}, {2, 3, 3, 3}, {1, 1}, {0, 0}, {0, 0}, {1, 1}, 1, true},
      {{2, 3, 3, 5}, {3, 2, 3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 1, true},
      {{1, 4, 3, 3}, {4, 1, 3, 2}, {2, 1}, {1, 0}, {1, 0}, {1, 2}, 2, false},
      {{2, 2, 3, 4}, {2, 3, 2, 2}, {1, 1}, {1, 1}, {1, 1}, {2, 2}, 1, true},  // out_pad >= stride
      {{3, 6, 5, 4}, {6, 1, 1, 1}, {1, 1}, {0, 0}, {0, 0}, {1, 1}, 6, true},  // 1x1 depthwise
      {{2, 4, 4, 3}, {4, 5, 1, 1}, {1, 1}, {0, 0}, {0, 0}, {1, 1}, 1, false}, // 1x1
      {{1, 3, 5, 5}, {3, 2, 4, 3}, {3, 2}, {2, 1}, {2, 1}, {1, 1}, 1, true},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    Tensor x = randn64(c.x), w = randn64(c.w);
    const int64_t cout = c.w[1] * c.groups;
    Tensor b = c.bias ? randn64({cout}) : Tensor();
    Shape ref_shape;
    const Vec ref = direct_conv_transpose2d(x.to_vector<double>(), w.to_vector<double>(),
                                            c.bias ? b.to_vector<double>() : Vec(), c.x, c.w, c.stride,
                                            c.pad, c.out_pad, c.dil, c.groups, &ref_shape);
    Tensor out = tg::conv_transpose2d(x, w, b, pair_shape(c.stride), pair_shape(c.pad),
                                      pair_shape(c.out_pad), c.groups, pair_shape(c.dil));
    ASSERT_EQ(out.sizes(), ref_shape) << "case " << i;
    EXPECT_TRUE(Near(out.to_vector<double>(), ref, 1e-11, 1e-11)) << "case " << i;
  }
}

// ================================================================ PoolForward

// Window shapes, strides, padding, dilation and ceil_mode windows that hang past the input.
std::vector<PoolSpec> pool_specs() {
  return {
      {},
      {.kernel = {3, 3}, .stride = {2, 2}, .pad = {1, 1}},
      {.kernel = {3, 3}, .stride = {2, 2}, .pad = {1, 1}, .ceil_mode = true},
      {.kernel = {3, 3}, .stride = {2, 2}, .pad = {1, 1}, .ceil_mode = true, .count_include_pad = false},
      {.kernel = {2, 3}, .stride = {1, 2}, .pad = {1, 1}, .dil = {2, 1}},
      {.kernel = {3, 2}, .stride = {3, 1}, .pad = {0, 1}, .ceil_mode = true, .divisor = 5},
      {.kernel = {4, 4}, .stride = {3, 3}, .pad = {2, 2}, .ceil_mode = true, .count_include_pad = false},
      {.kernel = {1, 1}, .stride = {2, 2}},
      {.kernel = {2, 2}, .stride = {1, 1}, .dil = {3, 2}, .ceil_mode = true},
  };
}

TEST(PoolForward, MaxAndAverageMatchDirect) {
  tg::manual_seed(8);
  const std::vector<PoolSpec> specs = pool_specs();
  const Shape shape{2, 3, 7, 9};
  Tensor x = randn64(shape);
  const Vec xv = x.to_vector<double>();
  for (size_t i = 0; i < specs.size(); ++i) {
    const PoolSpec& s = specs[i];
    int64_t oh = 0, ow = 0;
    const Vec ref_max = direct_pool2d(0, xv, 6, 7, 9, s, &oh, &ow);
    Tensor m = tg::max_pool2d(x, pair_shape(s.kernel), pair_shape(s.stride), pair_shape(s.pad),
                              pair_shape(s.dil), s.ceil_mode);
    ASSERT_EQ(m.sizes(), (Shape{2, 3, oh, ow})) << "max, spec " << i;
    EXPECT_TRUE(Near(m.to_vector<double>(), ref_max, 0, 0)) << "max, spec " << i;
    if (s.dil != Pair{1, 1}) continue;
    const Vec ref_avg = direct_pool2d(1, xv, 6, 7, 9, s, &oh, &ow);
    Tensor a = tg::avg_pool2d(x, pair_shape(s.kernel), pair_shape(s.stride), pair_shape(s.pad),
                              s.ceil_mode, s.count_include_pad,
                              s.divisor ? std::optional<int64_t>(s.divisor) : std::nullopt);
    ASSERT_EQ(a.sizes(), (Shape{2, 3, oh, ow})) << "avg, spec " << i;
    EXPECT_TRUE(Near(a.to_vector<double>(), ref_avg, 1e-12, 1e-12)) << "avg, spec " << i;
    Tensor a32 = tg::avg_pool2d(x.to(tg::kFloat32), pair_shape(s.kernel), pair_shape(s.stride),
                                pair_shape(s.pad), s.ceil_mode, s.count_include_pad,
                                s.divisor ? std::optional<int64_t>(s.divisor) : std::nullopt);
    EXPECT_TRUE(Near(a32.to_vector<double>(), ref_avg, 1e-5, 1e-5)) << "avg float32, spec " << i;
  }
}

TEST(PoolForward, MaxPoolIndicesStrideDefaultAndNaN) {
  Tensor x = tg::tensor({1, 5, 2, 0, 3, 4, 9, 8, 7, 6, 1, 2, -1, -2, -3, -4}, tg::kFloat32).view({1, 1, 4, 4});
  auto [v, idx] = tg::max_pool2d_with_indices(x, {2});  // stride defaults to the kernel
  EXPECT_EQ(v.to_vector<double>(), (Vec{5, 9, 7, 2}));
  EXPECT_EQ(idx.dtype(), tg::kInt64);
  EXPECT_EQ(idx.to_vector<int64_t>(), (std::vector<int64_t>{1, 6, 8, 11}));
  // NaN wins its window, as in PyTorch.
  Tensor y = tg::tensor({1.0, std::nan(""), 3.0, 2.0}, tg::kFloat64).view({1, 1, 2, 2});
  EXPECT_TRUE(std::isnan(tg::max_pool2d(y, {2}).item()));
  // Unbatched input.
  EXPECT_EQ(tg::max_pool2d(x.squeeze(0), {2}).sizes(), (Shape{1, 2, 2}));
}

// Which element's index wins a window, as PyTorch 1.13 reports it: ties keep the first, a NaN
// replaces everything (the last NaN wins), an all -inf window gives its first element.
TEST(PoolForward, MaxPoolIndexOfTiesNaNAndInfinity) {
  const double nan = std::nan(""), inf = std::numeric_limits<double>::infinity();
  const std::vector<std::pair<Vec, int64_t>> cases = {
      {{3, 3, nan, nan}, 3}, {{nan, 5, 7, nan}, 3}, {{-inf, -inf, -inf, -inf}, 0}, {{2, 5, 5, 1}, 1}};
  for (tg::DType dtype : {tg::kFloat32, tg::kFloat64})
    for (const auto& [values, index] : cases) {
      auto [v, idx] = tg::max_pool2d_with_indices(tg::tensor(values, dtype).view({1, 1, 2, 2}), {2});
      EXPECT_EQ(idx.item<int64_t>(), index) << dtype << " window " << ::testing::PrintToString(values);
      const double expected = values[index];
      if (std::isnan(expected)) EXPECT_TRUE(std::isnan(v.item()));
      else EXPECT_EQ(v.item(), expected);
    }
}

// Many ties and a few NaNs: the index of every window against a direct scan of its taps in
// row-major order, keeping the first maximum and letting each NaN take over (PyTorch's rule).
TEST(PoolForward, MaxPoolIndicesWithTiesMatchDirect) {
  tg::manual_seed(12);
  const int64_t H = 7, W = 9;
  Vec xv = tg::randint(-1, 2, {2, 3, H, W}).to(tg::kFloat64).to_vector<double>();
  for (size_t i = 5; i < xv.size(); i += 37) xv[i] = std::nan("");
  for (tg::DType dtype : {tg::kFloat32, tg::kFloat64})
    for (const PoolSpec& s : pool_specs()) {
      const int64_t OH = pool_out(H, s.kernel[0], s.pad[0], s.stride[0], s.dil[0], s.ceil_mode);
      const int64_t OW = pool_out(W, s.kernel[1], s.pad[1], s.stride[1], s.dil[1], s.ceil_mode);
      std::vector<int64_t> expected;
      for (int64_t p = 0; p < 6; ++p)
        for (int64_t oy = 0; oy < OH; ++oy)
          for (int64_t ox = 0; ox < OW; ++ox) {
            double m = -std::numeric_limits<double>::infinity();
            int64_t best = -1;
            for (int64_t ky = 0; ky < s.kernel[0]; ++ky)
              for (int64_t kx = 0; kx < s.kernel[1]; ++kx) {
                const int64_t iy = oy * s.stride[0] - s.pad[0] + ky * s.dil[0];
                const int64_t ix = ox * s.stride[1] - s.pad[1] + kx * s.dil[1];
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                const double v = xv[(p * H + iy) * W + ix];
                if (best < 0 || v > m || std::isnan(v)) m = v, best = iy * W + ix;
              }
            expected.push_back(best);
          }
      Tensor x = tg::tensor(xv, {2, 3, H, W}, dtype);
      auto [v, idx] = tg::max_pool2d_with_indices(x, pair_shape(s.kernel), pair_shape(s.stride),
                                                  pair_shape(s.pad), pair_shape(s.dil), s.ceil_mode);
      EXPECT_EQ(idx.to_vector<int64_t>(), expected)
          << dtype << " kernel " << s.kernel[0] << "x" << s.kernel[1] << " stride " << s.stride[0]
          << "," << s.stride[1] << " dil " << s.dil[0] << "," << s.dil[1];
    }
}

TEST(PoolForward, AdaptiveAverageMatchesDirect) {
  tg::manual_seed(9);
  Tensor x = randn64({2, 2, 7, 10});
  const Vec xv = x.to_vector<double>();
  for (Pair o : {Pair{1, 1}, Pair{3, 4}, Pair{7, 10}, Pair{5, 3}, Pair{2, 7}, Pair{4, 6}}) {
    Tensor out = tg::adaptive_avg_pool2d(x, pair_shape(o));
    ASSERT_EQ(out.sizes(), (Shape{2, 2, o[0], o[1]}));
    EXPECT_TRUE(Near(out.to_vector<double>(), direct_adaptive_avg(xv, 4, 7, 10, o[0], o[1]), 1e-12, 1e-12))
        << o[0] << "x" << o[1];
  }
  // One value means a square output; the global average is the mean.
  Tensor g = tg::adaptive_avg_pool2d(x, {1});
  EXPECT_TRUE(Near(g.to_vector<double>(), x.mean({2, 3}).to_vector<double>(), 1e-12, 1e-12));
}

// ================================================================ ConvGradcheck

class ConvGradcheck : public ::testing::Test {
 protected:
  void SetUp() override { tg::manual_seed(20240612); }
};

Fn conv2d_fn(Shape stride, Shape pad, Shape dil, int64_t groups) {
  return [=](const Inputs& in) { return tg::conv2d(in[0], in[1], in[2], stride, pad, dil, groups); };
}

TEST_F(ConvGradcheck, Conv2d) {
  // Input, weight and bias at once, over strides, padding, dilation and groups.
  EXPECT_GRADCHECK(conv2d_fn({1}, {1}, {1}, 1),
                   {randn64({2, 2, 4, 4}, true), randn64({3, 2, 3, 3}, true), randn64({3}, true)});
  EXPECT_GRADCHECK(conv2d_fn({2, 1}, {1, 0}, {1, 2}, 2),
                   {randn64({2, 4, 5, 6}, true), randn64({4, 2, 3, 2}, true), randn64({4}, true)});
  EXPECT_GRADCHECK(conv2d_fn({2}, {2}, {2}, 1),
                   {randn64({1, 2, 6, 5}, true), randn64({2, 2, 2, 3}, true), randn64({2}, true)});
}

TEST_F(ConvGradcheck, Conv2dDepthwisePointwiseAndUnbatched) {
  EXPECT_GRADCHECK(conv2d_fn({2}, {1}, {1}, 3),
                   {randn64({2, 3, 5, 5}, true), randn64({6, 1, 3, 3}, true), randn64({6}, true)});
  EXPECT_GRADCHECK(conv2d_fn({1}, {0}, {1}, 1),
                   {randn64({2, 3, 3, 4}, true), randn64({4, 3, 1, 1}, true), randn64({4}, true)});
  EXPECT_GRADCHECK(conv2d_fn({1}, {0}, {1}, 2),
                   {randn64({1, 4, 3, 3}, true), randn64({2, 2, 1, 1}, true), Tensor()});
  EXPECT_GRADCHECK(conv2d_fn({1, 2}, {1}, {1}, 1),
                   {randn64({2, 4, 5}, true), randn64({2, 2, 2, 3}, true), randn64({2}, true)});
  // Only one input requiring grad at a time (the others' formulas are skipped).
  EXPECT_GRADCHECK(conv2d_fn({1}, {1}, {1}, 1),
                   {randn64({1, 2, 4, 3}, true), randn64({2, 2, 3, 3}), randn64({2})});
  EXPECT_GRADCHECK(conv2d_fn({1}, {1}, {1}, 1),
                   {randn64({1, 2, 4, 3}), randn64({2, 2, 3, 3}, true), Tensor()});
}

// Sets an environment variable for the scope, restoring the previous value after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_, old_->c_str(), 1);
    else unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// Both ways conv2d meets the GEMM (TG_CONV_GEMM forces one; by default the shape decides):
// forward values on every spec, several chunks of images with a partial last one, gradients.
TEST_F(ConvGradcheck, BothGemmLayouts) {
  for (const char* layout : {"per_image", "whole_batch"}) {
    ScopedEnv env("TG_CONV_GEMM", layout);
    for (const auto& [name, spec] : forward_specs()) check_conv_forward(spec, std::string(name) + ", " + layout);
    // 1.2 MB of float64 columns per image against a 4 MB budget: chunks of 3 and 2 images.
    check_conv_forward({.x = {5, 16, 32, 32}, .w = {4, 16, 3, 3}, .pad = {1, 1}},
                       std::string("chunks, ") + layout);
    EXPECT_GRADCHECK(conv2d_fn({2, 1}, {1, 0}, {1, 2}, 2),
                     {randn64({3, 4, 5, 6}, true), randn64({4, 2, 3, 2}, true), randn64({4}, true)})
        << layout;
    EXPECT_GRADCHECK(
        [](const Inputs& in) { return tg::conv_transpose2d(in[0], in[1], in[2], {2}, {1}, {1}); },
        {randn64({2, 2, 3, 3}, true), randn64({2, 3, 3, 3}, true), randn64({3}, true)})
        << layout;
  }
}

TEST_F(ConvGradcheck, Conv2dPaddingSame) {
  EXPECT_GRADCHECK(
      [](const Inputs& in) { return tg::conv2d(in[0], in[1], in[2], {1}, tg::ConvPadding::Same); },
      {randn64({1, 2, 4, 5}, true), randn64({2, 2, 2, 4}, true), randn64({2}, true)});
}

TEST_F(ConvGradcheck, Conv1d) {
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::conv1d(in[0], in[1], in[2], {2}, {1}); },
                   {randn64({2, 3, 7}, true), randn64({2, 3, 3}, true), randn64({2}, true)});
  EXPECT_GRADCHECK(
      [](const Inputs& in) { return tg::conv1d(in[0], in[1], in[2], {1}, {2}, {2}, 2); },
      {randn64({4, 6}, true), randn64({4, 2, 3}, true), randn64({4}, true)});
}

TEST_F(ConvGradcheck, ConvTranspose2d) {
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return tg::conv_transpose2d(in[0], in[1], in[2], {2, 1}, {1, 0}, {1, 0}, 2, {1, 2});
      },
      {randn64({2, 4, 3, 3}, true), randn64({4, 1, 3, 2}, true), randn64({2}, true)});
  // output_padding beyond the stride (allowed by the dilation): the input gradient is a conv2d
  // whose last output rows/columns fall outside the input.
  EXPECT_GRADCHECK(
      [](const Inputs& in) { return tg::conv_transpose2d(in[0], in[1], in[2], {1}, {1}, {1}, 1, {2}); },
      {randn64({1, 2, 3, 4}, true), randn64({2, 3, 2, 2}, true), randn64({3}, true)});
  EXPECT_GRADCHECK(
      [](const Inputs& in) { return tg::conv_transpose2d(in[0], in[1], Tensor(), {2}, {0}); },
      {randn64({3, 2, 3}, true), randn64({3, 2, 2, 2}, true)});
}

TEST_F(ConvGradcheck, MaxPool2d) {
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::max_pool2d(in[0], {3}, {2}, {1}, {1}, true); },
                   {distinct({2, 2, 5, 6})});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::max_pool2d(in[0], {2, 3}, {1}, {1}, {2, 1}); },
                   {distinct({1, 2, 5, 5})});
  // Overlapping windows share maxima: their gradients add up.
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::max_pool2d(in[0], {3}, {1}); },
                   {distinct({3, 5, 4})});
}

TEST_F(ConvGradcheck, AvgPool2d) {
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::avg_pool2d(in[0], {3}, {2}, {1}, true); },
                   {randn64({2, 2, 5, 6}, true)});
  EXPECT_GRADCHECK(
      [](const Inputs& in) { return tg::avg_pool2d(in[0], {3}, {2}, {1}, true, false); },
      {randn64({1, 2, 5, 6}, true)});
  EXPECT_GRADCHECK(
      [](const Inputs& in) { return tg::avg_pool2d(in[0], {2, 3}, {1, 2}, {1}, false, true, 4); },
      {randn64({2, 4, 5}, true)});
}

TEST_F(ConvGradcheck, AdaptiveAvgPool2d) {
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::adaptive_avg_pool2d(in[0], {3, 4}); },
                   {randn64({2, 2, 5, 7}, true)});
  EXPECT_GRADCHECK([](const Inputs& in) { return tg::adaptive_avg_pool2d(in[0], {1}); },
                   {randn64({2, 3, 4}, true)});
}

// The gradient w.r.t. (x, w) of sum(f(x, w) * c), with create_graph, as a function gradcheck can
// differentiate once more: second derivatives of the ops (each output a different weighting of
// the two gradients so that both are checked).
Fn first_gradients(const std::function<Tensor(const Tensor&, const Tensor&)>& f, const Tensor& c) {
  return [f, c](const Inputs& in) {
    tg::EnableGradGuard on;  // gradcheck evaluates its finite differences in no-grad mode
    Tensor y = (f(in[0], in[1]) * c).sum();
    auto g = tg::autograd::grad({y}, {in[0], in[1]}, {}, false, /*create_graph=*/true);
    return tg::cat({(g[0] * g[0]).reshape({-1}), (g[1] * g[1] * 0.5).reshape({-1})}, 0);
  };
}

TEST_F(ConvGradcheck, SecondDerivatives) {
  Tensor x = randn64({1, 2, 4, 4}, true), w = randn64({2, 2, 2, 2}, true);
  EXPECT_GRADCHECK(first_gradients([](const Tensor& a, const Tensor& b) {
                     return tg::conv2d(a, b, Tensor(), {2, 1}, {1}, {1, 2}) * tg::conv2d(a, b, Tensor(), {2, 1}, {1}, {1, 2});
                   }, randn64({1, 2, 3, 4})),
                   {x, w});
  Tensor xt = randn64({1, 2, 3, 3}, true), wt = randn64({2, 1, 2, 2}, true);
  EXPECT_GRADCHECK(first_gradients([](const Tensor& a, const Tensor& b) {
                     Tensor y = tg::conv_transpose2d(a, b, Tensor(), {2}, {1}, {1});
                     return y * y;
                   }, randn64({1, 1, 5, 5})),
                   {xt, wt});
  // Pooling: the second derivative of avg/max pooling of a square is the pooling of the
  // incoming weights.
  Tensor xp = distinct({1, 1, 4, 4}), wp = randn64({1}, true);
  EXPECT_GRADCHECK(first_gradients([](const Tensor& a, const Tensor& s) {
                     return tg::max_pool2d(a * a, {2}) * s + tg::avg_pool2d(a * a, {3}, {1}) .sum() * s +
                            tg::adaptive_avg_pool2d(a * a * s, {3}).sum();
                   }, randn64({1, 1, 2, 2})),
                   {xp, wp});
}

TEST_F(ConvGradcheck, GradientsOfFloat32MatchFloat64) {
  Tensor x = randn64({2, 3, 6, 6}), w = randn64({4, 3, 3, 3}), b = randn64({4});
  auto grads = [](Tensor x, Tensor w, Tensor b) {
    x.requires_grad_();
    w.requires_grad_();
    b.requires_grad_();
    Tensor y = tg::conv2d(x, w, b, {2}, {1});
    (y * y).sum().backward();
    return std::vector<Vec>{x.grad().to_vector<double>(), w.grad().to_vector<double>(),
                            b.grad().to_vector<double>()};
  };
  auto g64 = grads(x.clone(), w.clone(), b.clone());
  auto g32 = grads(x.to(tg::kFloat32), w.to(tg::kFloat32), b.to(tg::kFloat32));
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(Near(g32[i], g64[i], 1e-3, 1e-4)) << "input " << i;
}

// ================================================================ ConvTorchReference

namespace ref {
// ---- generated by tests/cpp/conv_reference.py (PyTorch 1.13.0a0)
const std::vector<double> conv2d_groups_out = {
    0.757560246079225, 1.813540790756392, 2.981168885445899, 3.1487698624062985, 3.0257070073373087,
    2.3233828262792473, 1.2131078682344951, 0.18206116377879408, -0.46780210130077154,
    -1.8020441999868875, -1.918058425386756, -1.8417012498536616, -1.9967343349631725,
    -1.2178426548812356, -0.5967025442184144, -0.9769852835115518, -0.8164176350896883,
    -0.9190506712752455, -0.9245505731178101, -0.05977743428800256, 0.29057321122688473,
    1.1069113702246376, 1.7188438067583696, 2.7190139068121266, 2.8008743918531422,
    2.709665251349109, 2.6182021679166585, 1.9421301573715253, 1.8795972450695968,
    2.1997397647381685, 1.676785850369102, 1.7444203476674156, 1.7397000051529463,
    0.6576422657299781, 0.43060638218815983, -0.0017733591734645504, -0.9059110942848257,
    -1.3743442811814015, -1.5789970269174658, -1.5391737284138007, -0.3709650530132781,
    0.5523342972080065, 0.7515215312388973, 0.7699835102967499, 0.3492964632242029,
    0.3742101146221919, 0.4041925918536207, -0.2208800368415862, -0.1847244022088902,
    -0.7172494665322788, -1.78621907745533, -2.326569446197655, -2.7583437246754325,
    -2.8864138599995313, -1.1447569211568651, 0.07752438139802964, 1.238429288667386,
    2.257940216278956, 3.1857876661747824, 3.6326558336626977, 3.77395587668837, 2.6782820378248644,
    1.415570754515243, -0.05318802169789838, 0.5216111527602008, 0.6955015537711962,
    0.9323935152551361, 1.0082495895654047, -0.06532749922786196, -0.7086138975342449,
    -2.029164664709464, -3.5472543691927463, -4.824332410567599, -5.4444698495283825,
    -5.617718551811223, -3.8534679885619703, -2.0268970749069966, -0.16660272514013696,
    0.7644351784726424, 1.832351138275117, 2.2319768986811273, 2.3466737708659364,
    1.6755985954932677, 0.49109356036794005,
};
const std::vector<double> conv2d_groups_grad_x = {
    0.0, 0.0, 0.0, 0.0, 0.0, -0.3206968641227631, -0.8104488994024233, -1.190510478135624,
    -1.409442048590291, -1.4376122497598107, 0.0, 0.0, 0.0, 0.0, 0.0, -0.4680527875268864,
    0.059995588051737325, 0.5799238422395856, 1.0213621249260323, 1.3245638354300684, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.6569628056201238, 0.6487482896022365, 0.5527287360024935,
    0.3818999409525298, 0.1593827804682531, 0.0, 0.0, 0.0, 0.0, 0.0, -0.5070055117911894,
    -0.6280598143867336, -0.6641091674668156, -0.6102744602072037, -0.4738419676854607, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.8449745924251335, 0.5537314328900755,
    -0.8124566784150699, -2.068682589703309, -3.0449220171039433, 0.0, 0.0, 0.0, 0.0, 0.0,
    -3.2616507178613903, -2.397150643741043, -1.208207475532381, 0.14426090653209583,
    1.477204251655964, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.998938508127026,
    -0.4241206610076205, 1.2080999279392004, 2.676809859092412, 3.7832261333001878, 0.0, 0.0, 0.0,
    0.0, 0.0, 3.78863080222787, 2.685001026571337, 1.2179689578775987, -0.4139094955141967,
    -1.9897672404253717, 0.0, 0.0, 0.0, 0.0, 0.0,
};
const std::vector<double> conv2d_groups_grad_w = {
    -3.4849198630479363, -4.848679707820428, -5.556193500324186, 0.649982412529515,
    2.628756938971304, 4.251741545779606, 0.53250223141887, 2.3048713288588134, 3.7652869045779105,
    2.1671693669441767, 0.3793985724334598, -1.4597220390169638, 4.115550793012835,
    2.4471025469098073, 0.44745045095953767, -5.519442040583749, -4.742036338329518,
    -3.322818263580485, -4.9386134457905335, -4.260827659575515, -3.006358838083091,
    4.704075587950176, 5.028996823242817, 4.673266930600133, -4.457904065517816, -5.886074236494692,
    -6.5175918723845045, 1.289902248395389, 3.5206914559535063, 5.2749715912585655,
    0.43562258253388914, 1.7978103283425158, 2.9166728801194917, 1.645755045873402,
    0.26656021195914853, -1.148712296153293, 4.392866925566651, 2.3441197466004793,
    -0.021893043305222116, -6.279553434021905, -5.19534735613052, -3.4079753860630864,
    -3.7983688967587073, -3.2676133583931795, -2.294601681036358, 3.631690206221639,
    3.872608375507275, 3.589387168395149,
};
const std::vector<double> conv2d_groups_grad_b = {
    1.8038319114951877, -3.0442030929698487, -2.3145453805077336, 2.6559013061423276,
};
const std::vector<double> conv2d_same_out = {
    4.7215291349649675, 5.531620640073717, 4.532229918129237, 2.342208523630613, 0.6995691179107726,
    0.48476297929892864, -1.1584927335620536, -2.6277937254337322, -3.264145936914499,
    -2.8366960405349606, -4.325489957266571, -6.478080104105027, -6.6790713862769815,
    -5.008933764515863, -3.0170785302394694, -3.486445231854999, -3.52824299758227,
    -2.8429419789905888, -1.6316941312450417, -0.7151175400911691, 4.664177007340302,
    5.9999698154237, 5.3162658823228695, 3.1994383508096575, 1.3866549397964338, 1.550758622855143,
    0.34613100308121353, -1.1262586821365308, -2.2980456103061226, -2.3753113744249843,
    -3.397246164782029, -5.717189480105079, -6.2363909360019, -5.076883891587698,
    -3.3272246690802185, -3.796039647246371, -4.190851447485769, -3.4663866477834993,
    -2.175999484599666, -1.0933663005139935, 4.251702268270584, 6.011491356211035,
    5.695530282252196, 3.8130683102073366, 1.9681631811960374, 2.4986821068422476,
    1.8244009059135329, 0.4610278075001987, -1.156975946756322, -1.733074485735664,
    -2.2103417494565356, -4.52100164180432, -5.318882143727816, -4.758288597517368,
    -3.384041504275615, -3.8166099731665293, -4.534375499891648, -3.825906453368633,
    -2.554627888246335, -1.3883679853448148,
};
const std::vector<double> conv2d_same_grad_x = {
    -1.1242654870736404, -2.0401987991914416, -3.145183066812022, -4.504029438490266,
    -4.432067157186713, -1.818449714418542, -3.157180070564139, -4.01705687433174,
    -2.815358410214733, -0.6533197071076481, -0.15655602000503155, 1.317434850661226,
    3.578873164525889, 4.47679970927482, 3.855991918220004, 1.9047403388086397, 2.431035679226253,
    2.0444517968011073, 0.34783373648882254, -1.4720278218835094, 1.1158418416624785,
    2.0857339354138054, 3.2427996488837647, 4.6775468533014175, 4.452008640402105,
    1.9845229912496218, 3.1842484226202954, 3.7610117887316017, 2.2911996307189133,
    0.15609909566382207, -0.3158321058906962, -1.971606195555919, -4.267091694668887,
    -4.950775593415969, -4.02803216431133, -1.8104424952145737, -2.0975375464723047,
    -1.4090740820183456, 0.43757130480564965, 2.0640736610954526,
};
const std::vector<double> conv2d_same_grad_w = {
    -5.9015087145740175, -6.644751520899095, -4.419365135193234, -2.335439707107863,
    -0.16117595029960385, 1.806285385033887, 2.8012443331860477, 2.945367514819352,
    0.20957029820426767, -1.8582899778666842, -2.9369192383503555, -3.082157327364455,
    -3.486480626041368, -4.362087843918216, -2.700691256217821, -1.1676873587750611,
    -3.611110993396181, -5.96184183700817, -5.720757568393127, -4.641497184225148,
    -5.861878836478886, -5.837358588143665, -3.6540010927158706, -1.7813881460752243,
    4.976649576375824, 4.972469623085651, 2.672681689506891, 0.8353324677952867,
    -1.6477421498498503, -3.5614051601431282, -3.67815890437086, -3.0911523308981717,
    2.7342225631172226, 1.4156519108168384, -0.5982807514463164, -1.735592665064134,
    -4.980246646305782, -6.926201402881533, -6.006149161514945, -4.507813536487328,
    4.155422445783415, 6.219616507164781, 5.281114063130863, 3.8148229701399425, 2.041254793344702,
    1.2383984131373886, -0.5254022595937586, -1.5435458289064234,
};
const std::vector<double> conv2d_depthwise_out = {
    0.7929251544750922, -0.3483961741733398, -0.8296869057141067, 0.05551064276387846,
    0.5995195333688652, 1.4346896754062648, 1.6839843652624966, 2.892895524616223,
    2.306095363605298, 1.6817615749989216, 0.72693964850126, -0.05409496341651132,
    0.49834871590545676, 0.7742687731238178, 1.6829153668881633, 1.5966447470460934,
    2.8703231609589506, 2.662144714326092, 2.082240615014044, 2.8070296093916545,
    1.7948812129788918, 0.6441291470823202, -0.5120799537418215, -0.4531316837081827,
    0.2531166602973158, 0.8544351146246512, 1.7954353449192884, 1.015680184921122,
    1.9917583146858595, 1.226771127234792, 0.4429025458822923, -0.6570530421686942,
    -0.972475459436309, -0.8530888770678599, -0.59180910583898, 0.46873053942737375,
    -1.6748258783930559, -0.7889572772657127, 0.09392304143808716, 0.4190811550259266,
    0.2667464507682076, -0.9251897543998961, -0.33986820250885597, -1.2802447150281013,
    -1.3553533245530573, -2.1493371454833086, -1.5572531614791671, -0.4551421575597506,
    0.5435834511113394, 0.7787361239911709, -0.43635789798887437, -0.11320297966236859,
    -1.0203993727662022, -1.398434342388518, -0.40952864195757843, 0.42329115201475725,
    1.3206278249622403, 1.328612523598248, 1.3409477807807226, 0.38260609403094026,
    -0.5187702081872164, -1.9084278233705905, -1.6736687396932024, -0.17936603177032406,
    0.36490301004000514, 1.4595475386467631, 1.6519899214654798, 1.9225046397223906,
    1.051981370475368, 0.5877865107311688, -0.7574058366985434, -0.9191083920749572,
    -0.2595677063708106, -1.3380926045254822, -0.680869915249013, 0.6366365159623473,
    1.878929400247926, 2.2043285317056025, 1.2638971850802236, 1.1435026815816904,
    0.2076396541560218, -0.6763134032926116, -1.8886880918531195, -1.5638758374456294,
    -0.8106176042922884, 0.24689710674976212, 0.9444695080948725, 0.5115361172882469,
    0.6982960907502022, -0.20368134655019976, 0.4168957969223024, -0.047967389978386454,
    -1.1965167868036146, -1.6989040524926158, -1.9431452043484025, -0.9405206986126768,
    -1.7771206057739568, -0.8045006556990323, -0.2548202836178052, 0.461363445118249,
    0.3470921938025092, -0.8895648835963518, -1.9223196711268191, -2.4889988637518203,
    -1.587504159884709, -2.3799488923026817, -1.5945204667389192, -0.7418946990263233,
};
const std::vector<double> conv2d_depthwise_grad_x = {
    0.08420185735717362, 0.04776481586647954, -0.001583012847292084, -0.10004978404094039,
    -0.08715362968912584, -0.07414520504536962, -0.06791066859559725, -0.04851765340677086,
    -0.02812601420053365, -0.01632346498616699, -0.16092841160869523, -0.33688191166509096,
    -0.21292228796633506, -0.39384532193762894, -0.2360981315113384, 0.018080027843478872,
    0.05696357824064299, 0.050036473721754446, 0.09075203912316535, 0.07522071761349985,
    -0.22731920054268617, -0.34736165947417014, -0.1877736821831583, -0.2502059323878839,
    -0.12281387682630392, 0.25943595551418264, 0.44772302807064135, 0.2829425945654357,
    0.45683070421844646, 0.2681542807859714, -0.12332000130463981, -0.27620354715896567,
    -0.1672165756651831, -0.3333749350965298, -0.18848117095786335, -0.0604851198731198,
    -0.053566829318684644, -0.04973497412269484, -0.03686662945152966, -0.032253432942072655,
    -0.18423572396653987, -0.3107245108317598, -0.15505483602519687, -0.2339683272957175,
    -0.1048880034229618, -0.010406540920435497, 0.008567316698336463, 0.012848827595492246,
    0.03115179150993777, 0.03436516757294511, -0.04052507160929638, -0.00013091739158416216,
    0.029322738534982566, 0.12530151252686245, 0.0952018535777363, 0.2527279970397114,
    0.3721300652905861, 0.20215541726370467, 0.26011661315011964, 0.12422205011498902,
    -0.19177930471889484, -0.3223461572774522, -0.15360309972418287, -0.24004265285935278,
    -0.0946374357665161, -0.06803272671666157, -0.07838958824855721, -0.07288679685761318,
    -0.08315223132723601, -0.0678759809713092, -0.022863038842131856, 0.006493717720887665,
    0.052005763134170366, 0.13735904267938842, 0.11983582904032623, -0.05367846948116081,
    -0.05979333470413113, -0.03221582896381944, -0.03483331207874532, -0.00639292712751105,
    0.17144667766116253, 0.3281211700195761, 0.19985302275328154, 0.36219921337136207,
    0.20121019876865748, 0.07066555129738938, 0.0317964362355886, -0.00863426301032714,
    -0.10711247199164547, -0.08676547032475611, -0.164449725918446, -0.34132052543619495,
    -0.21500252061320332, -0.39547653615908995, -0.23645573276538442, 0.019951962271163585,
    0.05907970784831815, 0.05164114124036259, 0.09229600181030936, 0.07634093400222161,
    -0.22590577075175527, -0.3431255925350665, -0.18478052243875567, -0.24370409281828095,
    -0.11864609725828652, 0.09070833947839166, 0.1184481382822356, 0.09279879673822139,
    0.10784441180591145, 0.08232937219836564, -0.036453479407911604, 0.03617103261711818,
    0.05067294586931891, 0.17874487306161269, 0.13094102564067459, 0.21330901439312766,
    0.2894226388016458, 0.13151127619555858, 0.14017567762847952, 0.03191410371220662,
    -0.18325240365754666, -0.30750915602269635, -0.15277961186115246, -0.22868521641740996,
    -0.10162881632090691, -0.009129517540817783, 0.00987503549960106, 0.01411164793587913,
    0.03230283995432934, 0.03544286806518501, -0.03672303725395692, 0.006959489609921876,
    0.0331530326297599, 0.13188685053045462, 0.09854199507494776, 0.05197706227188187,
    0.061598572012000904, 0.06147640493549783, 0.06450145971343789, 0.06265520458995022,
    0.1505937607681333, 0.31369839043408965, 0.18226336740862634, 0.3459752304077262,
    0.1892644823064639, 0.02400074309935009, -0.058587773442726754, -0.0745620763012614,
    -0.21336555839332333, -0.16303326846100566, -0.018713282798087094, 0.013915213368926704,
    0.05602838419958004, 0.1442028628548539, 0.12318687223686164, -0.052659291610463344,
    -0.058598560060234645, -0.030872535961652015, -0.03328174638328044, -0.004907327400041683,
    0.17367259501262908, 0.33123435556147474, 0.20065254678840572, 0.3626643636487218,
    0.20047511766002343, 0.021722064903846913, 0.026829286963989868, 0.045411477625820616,
    0.053487760264351814, 0.06295465988600704, 0.17316432182765498, 0.28065912851292796,
    0.12241654738645773, 0.17832290916155982, 0.055100267538495055, -0.15628847089328327,
    -0.32855232189127825, -0.2005917522439759, -0.37501334888068916, -0.21774588094690123,
};
const std::vector<double> conv2d_depthwise_grad_w = {
    -0.2538476897080848, 0.41769986340026977, 0.8003017466258857, 1.4982108797146294,
    3.010066682530035, 2.3856382976846953, 3.877876490119461, 5.791583311704521, 3.7521543434658065,
    0.7864430041473327, 0.3880845252798788, -0.2682053430846105, -0.959552380244712,
    -2.2642038223474965, -1.9674057378414358, -3.738448389158303, -5.7685221372302005,
    -3.882385870100115, -2.532605271021964, -3.7574189948277414, -2.3608415690429743,
    -3.8111306292789786, -5.115317015743561, -3.0129260757755034, -1.0323377662953468,
    -0.6399700175016532, 0.1362679173739787, 2.487982249546132, 3.8174882703538726,
    2.4907748645777916, 4.0235278720469445, 5.638262607088813, 3.478633715435617,
    1.5831517721283082, 1.5362938828735442, 0.46663350723872976, 0.3668779933184507,
    -0.21674939851961694, -0.6057893856058159, -2.315882606871078, -4.171285702936864,
    -3.2545155704251063, -4.139925581462261, -6.311322054854921, -4.250543627424462,
    -0.8513086337223277, -0.529608730892418, 0.1125201201435968, 1.7075734326614542,
    3.371358780770178, 2.824840228555851, 3.8642655474194867, 6.119945759370642, 4.267014480335049,
};
const std::vector<double> conv2d_depthwise_grad_b = {
    -7.563055879617736, 8.390783135051013, -8.921540040373777, 9.136541809772794,
    -9.028179004450138, 8.600286849285016,
};
const std::vector<double> conv_transpose2d_out = {
    -0.13656043678158325, 0.3612627305538727, 0.5737513963924883, 0.45321335407355073,
    0.9582557945195639, -0.06338163601047142, 0.31622370242070863, 1.3414533325367195,
    1.1425754549130986, 1.35221233414905, 1.275733085935551, 1.6160107979832428, 3.0391172668352966,
    1.7411567043830227, 1.953633358093506, 1.0151008528460812, 1.2760078622512876,
    2.7137888200785136, 1.4730190839121784, 1.3741001110753235, 1.92293770314089, 1.863954740130315,
    3.48677973562126, 1.9333989220606185, 1.7023776555770858, 1.4593618128179835,
    1.3771192634172333, 1.4422302096251003, 0.395768042337308, 0.3306380974227974,
    -0.4133940640373507, -0.19123449532873538, -0.37515676259466824, 0.5719957612934596,
    0.7156547656653026, 0.8981728530733991, 1.2955235054595096, 2.424009886302698,
    2.0721660148542944, 2.3293326123088574, 0.5157957328189576, 0.9416207078123933,
    1.2857362876293634, 1.0513554524428417, 1.215362015513426, 1.9761868765581903,
    2.202655866355676, 3.8345271524832722, 2.489537879110199, 2.3791974463288206,
    1.7630522022864659, 2.0900591302850047, 2.7177711199206738, 1.4683486266474408,
    1.5362011938546067, 0.8112282263136911, 0.6645582097128186, -0.10163723356402576,
    -0.03138173065692906, -0.2987363896546972,
};
const std::vector<double> conv_transpose2d_grad_x = {
    0.049662383097658774, -0.657187455954263, -1.2750900558485003, 0.8916412552058489,
    1.5077882736296624, 1.9198632225722467, -1.7473841419839995, -2.032026729400252,
    -2.0416440316604967, -0.9581780502065923, -0.3005731859309407, 0.3977128490079067,
    0.8322554622197519, 0.15911604209359775, -0.5355589878828269, 0.19792179965821127,
    0.8671092691842761, 1.4189375669197195, 1.0656701547847653, 1.5403370023928402,
    1.8065264627745776, -1.3301873565981503, -2.0396442952376215, -2.4730449469206133,
    2.299515439076231, 2.5670754533392826, 2.487193847688214, -0.12114843986354172,
    -0.7800154643037163, -1.3333110548683398, 0.5276368608244836, 1.6457697491877086,
    2.5411554226532864, -2.1380855352641954, -2.870873307322508, -3.215101845110232,
};
const std::vector<double> conv_transpose2d_grad_w = {
    -0.09164254097866432, -0.9048390623136896, -0.6312206753352285, -0.8052364049327749,
    -0.3094675964443128, 0.27406275256105217, -1.0046443037227946, -0.07259300061249661,
    1.6411230358633944, 1.5649871255205314, 0.05106360336973725, -1.1233305809021699,
    0.6572408936322292, 1.6753054923925113, 0.1685210091366732, -1.3777175089057982,
    -2.187952207013377, -1.3109832120741434, -0.04116097377344098, -1.4779147456462591,
    0.059171100741470695, 1.4960670065283486, 2.0542154387081464, 1.078360927344737,
};
const std::vector<double> conv_transpose2d_grad_b = {
    -3.3247145495318122, 1.1228919861490858,
};
const std::vector<double> conv_transpose2d_outpad_out = {
    -0.08685098517093633, 0.3489719571353769, 0.48021327156655313, 0.5479780189293721,
    0.5053698530950134, -0.1527515927570279, 0.042118283102349996, 0.666779788073951,
    0.29349398541390687, 0.5021395297197444, 0.9779925200939895, 1.9978682287706435,
    2.079497815879501, 1.1976420099197649, 1.0619710002769887, 0.3634799603495078,
    0.7782966918506263, 0.025803616987609357, -0.04183946876326977, -0.4752627577690317,
    1.0430774638556815, 1.6044320434288415, 1.5530035813803107, 0.6230094664968322,
    0.5329660944668239, 0.37823957093989735, 0.7072146975383045, -0.08240017882180337,
    -0.15023724547735307, -0.5799993179797571, 0.041870382499862406, -0.4291441622210474,
    -0.5610576279470064, -0.588498140109519, -0.5408665119508475, -0.04863227645294416,
    -0.48217710549030696, -0.30959501334376605, -0.031861439153418374, 0.1829359393307488,
    -1.002138941733673, -2.024025243435433, -2.1015744026166754, -1.19841008834961,
    -1.0617951698789287, -0.24213670363824186, -0.7804619905114665, -0.5807526541155678,
    -0.13664384471010055, 0.10338924141943201, -1.0217058840175552, -1.5498347067720344,
    -1.4937444788370104, -0.5832403295187455, -0.4972975184654807, -0.31270706857986763,
    -0.2748959099738788, 0.2974186389175435, 0.07510333218382745, 0.2842746460485189,
    0.09574446822213345, -0.07653102091486873, -0.26918948693226025, -0.47657191364832646,
    -0.5422864861901749, 0.6951108872623952, 0.8632607843682351, 0.2602740469626048,
    0.0764631620163474, -0.17914079812773015, -0.6934205346947308, -1.397923316735121,
    -1.8631640224761956, -1.1025545566574813, -1.2056628143332242, -0.8026330383477309,
    -1.6685440647706198, -1.1029626651876339, -0.5894102287587073, -0.168579098529661,
    -0.7737323490242398, -1.2902803433524754, -1.5525082620988848, -0.6014443693075813,
    -0.6365432939396374, -0.831945621668601, -1.6678443031292522, -1.0531274246993425,
    -0.5019695364139097, -0.06359962187812042, -0.0630917538459022, 0.13635924145823883,
    0.3452081300802931, 0.5144958347641027, 0.5832863237279676, 0.017509607641361,
    0.6129422341484185, 0.5421296809775255, 0.3319837127609943, 0.1336285139596279,
    0.7120447549224839, 1.4236047958576994, 1.8900334965539507, 1.104489669006975,
    1.2068480927429677, 0.17345394432795413, 0.8779959378691156, 0.8392082033827546,
    0.4476012413570112, 0.2455398432419838, 0.7592893572795492, 1.2555620391369302,
    1.5027610904126303, 0.5654124929976666, 0.5967023554493549, 0.7843527216826484,
    1.0286223505244891, 0.5369704142590707, 0.24281380459980437, 0.029068745088259056,
};
const std::vector<double> conv_transpose2d_outpad_grad_x = {
    -0.6882979450219122, -1.598825184122355, -2.3281166051578044, -2.742308365373862,
    0.0710039407564989, -0.4577441091051213, -0.23053617314570038, 0.02787375235490912,
    0.17607901296954678, 0.6477872972706877, 0.7089877342024177, 0.6742300073216677,
    -0.6237387121402299, -1.4926277224440443, -2.236358313479076, -2.677408298015827,
    0.14388095114021301, -0.33271177059189794, -0.1503400274994824, 0.05237953303803257,
    0.09800886367414234, 0.5166348615700034, 0.5532725711392515, 0.5150274337237665,
    0.9236487646025333, 2.0442658314010447, 2.605340637736312, 2.8137948109594086,
    -0.11165989754886378, 0.33528576154314793, 0.08630922419592388, -0.17434886175133893,
    -0.1464715519636907, -0.6939354025791893, -0.7011618369669714, -0.6134893060201405,
    0.8562280187465053, 1.944534381009058, 2.527415452200848, 2.768222698579121,
    -0.17044633988954125, 0.23382639872704075, 0.036674801255700974, -0.16544055851632342,
    -0.05901975340170988, -0.5464607894208178, -0.5407889742240107, -0.4619239083217429,
};
const std::vector<double> conv_transpose2d_outpad_grad_w = {
    5.529534970459622, 3.576724911987, -7.400441835674267, -3.1406005512539696, 0.4730031473637435,
    -4.629470476602402, 0.11634074303804032, 7.122324996459843, -5.114666438038331,
    -7.637208723184051, 7.502483679568971, 9.387553737881456, -3.339499584740415,
    -7.013313630596123, 8.948118402367015, 12.202396765470281, -4.960081345935864,
    -3.7972893018468854, 6.679100600305844, 1.7242098975039748, -1.0109612528831056,
    3.68273147989257, -3.089914964637742, -10.690101480014919,
};
const std::vector<double> conv1d_out = {
    0.174106423413663, -0.8188542689452964, -2.1545308061711816, -2.1402576425269375,
    0.6047878702708775, -1.050320009593115, -2.3651913698682816, -1.6528662946443498,
    -1.2567152125938867, -1.0526763934726577, 0.5055380848158887, 1.372137161349249,
    -0.49389648669716796, 0.4639892600210628, 2.3502610022468735, 2.6209518974465897,
};
const std::vector<double> conv1d_grad_x = {
    0.44061278467170684, 0.6606872705005962, 0.0863824028563751, 0.08298564545039128,
    -0.27953943194739606, -0.5059476974082624, -0.607626916015844, 0.031067510989408038,
    -0.4205035956177622, -0.17921025670105797, -0.7320775466162806, -0.3652327568603548,
    -0.9445682360113076, -0.5018227167629196, -0.4670337673926325, -0.3030751580371356,
    0.06602475642090301, 0.5396007025876214, 0.5901471391890032, 1.309244139498472,
    1.0343958751732536, -0.5953847045320395, -0.9160077214448323, -0.26478955020505196,
    -0.3729387960805388, 0.1016436275582557, 0.2206056457982744, 0.4543198171633658,
    -0.1345226242380014, 0.24377294059485083, 0.07730435629616694, 0.5891772832474899,
    0.27866855485677827, 0.854839244568163, 0.4423162718108124, 0.7097878162514677,
    0.7086940215001656, 0.19904701091216673, -0.12811978004907207, -0.33863387358235614,
    -0.9475931704057261, -0.8304822518908217,
};
const std::vector<double> conv1d_grad_w = {
    1.5654810921618476, 2.1541564574059504, 2.901810038706401, -1.3751395106728839,
    -1.8263850438635687, -2.7004723712534924, 1.16101949517317, 1.4670324155377656,
    2.4524390750448637, -3.8300325566500004, -3.6264718378305076, -2.8763009364418464,
    3.781534394321859, 3.7112821955343502, 2.9017966702890012, -3.667647254834039,
    -3.731918352659372, -2.8771155456417663,
};
const std::vector<double> conv1d_grad_b = {
    -0.5461514095184503, -0.426911597994295,
};
const std::vector<double> max_pool2d_indices = {
    1.0, 2.0, 10.0, 11.0, 18.0, 19.0, 10.0, 11.0, 18.0, 26.0, 27.0, 29.0, 6.0, 3.0, 5.0, 5.0, 13.0,
    21.0, 21.0, 11.0, 19.0, 21.0, 29.0, 29.0,
};
const std::vector<double> max_pool2d_out = {
    0.7643289370255051, 0.9976063813191737, 0.998543345374605, 0.7544251912820534,
    0.9843469451547998, 0.8293611430360361, 0.998543345374605, 0.7544251912820534,
    0.9843469451547998, 0.9552323333588566, 0.8917277613189896, -0.4249000090816683,
    0.43886386878980443, 0.3683733968229741, 0.940579852557232, 0.940579852557232,
    0.9751770417878339, 0.9949949933673286, 0.9949949933673286, 0.2513487257096978,
    0.13051475393471534, 0.9949949933673286, 0.99973335750937, 0.99973335750937,
};
const std::vector<double> max_pool2d_grad_x = {
    0.0, 0.8775825618903728, 0.6448265472400012, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    -0.5876420769531816, -1.037863026010801, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.3476140833334123,
    -0.702713076773554, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.7722588196467437, -0.4902608213406994, 0.0,
    -0.14190832078367338, 0.0, 0.0, 0.0, 0.5626691534050324, 0.0, 1.7964681495245194,
    0.22565080526939485, 0.0, 0.0, 0.0, 0.0, 0.3183435651473032, 0.0, 0.9906554596944075, 0.0, 0.0,
    0.0, 0.0, 0.0, -0.04600212563953695, 0.0, 1.1097763752789669, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    -1.6227510165652492,
};
const std::vector<double> max_pool2d_dilated_out = {
    0.998710143975583, 0.998710143975583, 0.998710143975583, 0.9924655003309216, 0.9924655003309216,
    0.999351408778317, 0.7646152152319554, 0.978104283698491, 0.978104283698491, 0.9274440936916428,
    0.9274440936916428, 0.9274440936916428, 0.956375928404503, 0.9047907734805486,
    0.9047907734805486, 0.9274440936916428, 0.9274440936916428, 0.9274440936916428,
};
const std::vector<double> max_pool2d_dilated_grad_x = {
    0.0, 0.0, 1.8472053935691501, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.702713076773554, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, -0.43707250556290345, 0.0, 0.0, 0.0, 0.0, 0.0, -0.9124383613919579,
    -1.9484046037813099, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.22565080526939485, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 1.4334578482173166, 0.0, 0.0, 0.0, 0.0, 0.0, 1.3862020246326545, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0,
};
const std::vector<double> avg_pool2d_include_pad_out = {
    -0.007289703123845581, -0.0033435983840907437, 0.008083298879343047, 0.006164838285911513,
    -0.1104346783707591, -0.29415924241119223, -0.204968862509387, -0.03546935677289062,
    0.006800567376608169, 0.002040712343525566, -0.008991144125084683, -0.006321938669460315,
    0.006423923255969916, 0.0011560028987791886, -0.009530812063017065, -0.006380178651834702,
    0.14342279218649695, 0.3021333571940989, 0.15876637231154087, 0.003784288248323732,
    -0.005788677012109068, 0.0001822019804916438, 0.010234017879364425, 0.006396939968909002,
};
const std::vector<double> avg_pool2d_include_pad_grad_x = {
    0.09750917354337475, 0.16915656768115267, 0.07164739413777792, 0.10773587018653083,
    0.03608847604875291, 0.029556204086588333, 0.05330040978893964, 0.04686857317410045,
    -0.00643183661483919, -0.07172540072074826, -0.06529356410590907, -0.23827073510770924,
    -0.04420876375443511, -0.12228799450705222, -0.07807923075261711, -0.1794612709072791,
    -0.10138204015466198, -0.26782693919429756, -0.1497348981481569, -0.31362066441707886,
    -0.16388576626892196, -0.319741231016995, -0.15585546474807305, -0.3459517505849875,
    -0.1055261343937218, -0.19133266991002665, -0.08580653551630485, -0.14027996010971588,
    -0.05447342459341105, -0.07812481139068994, 0.025072311696599427, 0.08759110651938082,
    0.06251879482278139, 0.15402244718140606, 0.09150365235862466, 0.2536595320747742,
    0.1351451405515336, 0.29480783226288476, 0.15966269171135117, 0.3222333382709348,
    0.16257064655958364, 0.37778378713361704, 0.11007282885493416, 0.20721672574350394,
    0.09714389688856978, 0.16821089108952875, 0.07106699420095897, 0.12412425505884284,
    0.10496148156165228, 0.1572029735028007, 0.05224149194114845, 0.04469235340347594,
    -0.0075491385376725145, -0.10702618133271628, -0.005111347293281884, -0.050013752240703216,
    -0.04490240494742133, -0.12351853768605281, -0.07861613273863148, -0.23115043639155913,
};
const std::vector<double> avg_pool2d_exclude_pad_out = {
    -0.016401832028652558, -0.005015397576136116, 0.01212494831901457, 0.01849451485773454,
    -0.16565201755613865, -0.29415924241119223, -0.204968862509387, -0.07093871354578124,
    0.01530127659736838, 0.003061068515288349, -0.013486716187627026, -0.018965816008380945,
    0.014453827325932311, 0.0017340043481687828, -0.014296218094525597, -0.019140535955504107,
    0.21513418827974543, 0.3021333571940989, 0.15876637231154087, 0.007568576496647464,
    -0.013024523277245403, 0.0002733029707374657, 0.015351026819046638, 0.019190819906727007,
};
const std::vector<double> avg_pool2d_exclude_pad_grad_x = {
    0.2193956404725932, 0.32686673167926006, 0.10747109120666687, 0.16160380527979623,
    0.05413271407312937, 0.034535898186635626, 0.15308249484094053, 0.18247435529499026,
    0.029391860454049762, -0.01785746562748286, -0.047249326081532615, -0.3997359400472975,
    -0.06631314563165266, -0.14439237638426977, -0.07807923075261711, -0.1794612709072791,
    -0.10138204015466198, -0.4342718382339331, -0.3037469480175267, -0.510535982044601,
    -0.20678903402707438, -0.389881211071853, -0.18309217704477854, -0.5869361355158863,
    -0.23743380238587405, -0.36614360566033133, -0.12870980327445727, -0.21041994016457383,
    -0.08171013689011657, -0.15266429728195324, 0.05641270131734871, 0.15019089355152077,
    0.09377819223417207, 0.23103367077210907, 0.137255478537937, 0.6237231176863857,
    0.22152194459974997, 0.4124440337224918, 0.19092208912274183, 0.3992445618616378,
    0.20832247273889595, 0.8009046336031124, 0.16510924328240126, 0.262253140170971,
    0.09714389688856978, 0.16821089108952875, 0.07106699420095897, 0.1771815159167267,
    0.153608711872517, 0.1833990013399548, 0.029790289467437794, -0.017066915439550454,
    -0.04685720490698825, -0.3983455941500034, -0.011500531409884237, -0.07885413883101622,
    -0.06735360742113199, -0.18527780652907921, -0.11792419910794721, -0.5755271100667301,
};
const std::vector<double> avg_pool2d_divisor_out = {
    0.21638474144968978, 0.6487577246441845, 0.49894509458882985, -0.016401832028652558,
    -0.007523096364204174, 0.018187422478521856, 0.016058485116840715, 0.006555119604171877,
    -0.018896512610234985, -0.015691452855865595, -0.005577474416793932, 0.019577731464187238,
    0.01530127659736838, 0.004591602772932524, -0.020230074281440538, 0.2798377880484171,
    0.6730050178022868, 0.4220533537544452, -0.29472631987748144, -0.6766039765792895,
    -0.4012007748608778, 0.014453827325932311, 0.002601006522253174, -0.021444327141788396,
    -0.013997804252309481, -0.0015992179313114308, 0.02200444623120379, 0.01352113521620435,
    0.0005950705851798521, -0.022532110018122373, -0.013024523277245403, 0.0004099544561061985,
    0.023026540228569956, -0.349723609949173, -0.6809893171619278, -0.3121933512411932,
};
const std::vector<double> avg_pool2d_divisor_grad_x = {
    0.2095972325293463, 0.27133415089186763, 0.061736918362521306, -0.032742279721173134,
    -0.09447919808369444, -0.09447919808369444, -0.23790799829123635, -0.5870450652981687,
    -0.34913706700693237, -0.762249138586195, -0.41311207157926255, -0.41311207157926255,
    -0.4211742952596754, -0.7934068491543037, -0.3722325538946282, -0.6451434364764207,
    -0.2729108825817924, -0.2729108825817924, -0.1366520035943372, -0.11854992057825395,
    0.01810208301608325, 0.1885082206270704, 0.17040613761098716, 0.17040613761098716,
    0.29964652089157306, 0.687977674166433, 0.38833115327486, 0.8127881390810476,
    0.4244569858061875, 0.4244569858061875, 0.05887032582045969, -0.038430081554635315,
    -0.09730040737509502, -0.3376023942643707, -0.2403019868892757, -0.2403019868892757,
    -0.3507798197855739, -0.764561069441993, -0.41378124965641916, -0.8345605781782792,
    -0.42077932852186006, -0.42077932852186006, -0.3708268992369314, -0.641511688004841,
    -0.2706847887679096, -0.40459155074680836, -0.1339067619788988, -0.1339067619788988,
    0.02099491685893788, 0.19404994905046255, 0.17305503219152468, 0.47474799294636905,
    0.30169296075484436, 0.30169296075484436, 0.38949816238565416, 0.8140847773417001,
    0.4245866149560461, 0.8267958759740356, 0.4022092610179895, 0.4022092610179895,
};
const std::vector<double> adaptive_avg_pool2d_out = {
    -0.07078960686003151, -0.05988264015856237, -0.00800067868747891, 0.04001701266628874,
    -0.010084979832116092, -0.20321852681717478, -0.30074091563099, -0.21836789601702308,
    0.0697769530184757, 0.03947704438321017, -0.02219734338063839, -0.06194378817355488,
    0.061418461571180416, 0.021279049739560258, -0.040265704699867004, -0.07002541594704532,
    0.22158100558179852, 0.3011615264809199, 0.2000461888636135, 0.005624468358721417,
    -0.039169051036549385, 0.008961206740531283, 0.06035275941030216, 0.07059018053606622,
};
const std::vector<double> adaptive_avg_pool2d_grad_x = {
    0.2193956404725932, 0.32686673167926006, 0.10747109120666687, 0.16160380527979623,
    0.05413271407312937, 0.0443343061298825, -0.009798407943246872, 0.15308249484094053,
    0.18247435529499026, 0.029391860454049762, -0.017857465627482874, -0.04724932608153263,
    -0.22349263306441508, -0.17624330698288246, -0.06631314563165266, -0.14439237638426977,
    -0.07807923075261711, -0.1794612709072791, -0.101382040154662, -0.26782693919429756,
    -0.16644489903963558, -0.3037469480175267, -0.510535982044601, -0.20678903402707438,
    -0.389881211071853, -0.18309217704477856, -0.3850141562803325, -0.20192197923555394,
    -0.23743380238587405, -0.36614360566033133, -0.12870980327445727, -0.21041994016457383,
    -0.08171013689011657, -0.11718721708603491, -0.035477080195918345, 0.05641270131734871,
    0.15019089355152077, 0.09377819223417207, 0.23103367077210907, 0.137255478537937,
    0.38048929811216137, 0.24323381957422435, 0.22152194459974997, 0.4124440337224918,
    0.19092208912274183, 0.3992445618616378, 0.20832247273889595, 0.5046135531710042,
    0.2962910804321082, 0.16510924328240126, 0.262253140170971, 0.09714389688856978,
    0.16821089108952875, 0.07106699420095897, 0.12412425505884284, 0.05305726085788387,
    0.153608711872517, 0.1833990013399548, 0.029790289467437794, -0.017066915439550454,
    -0.04685720490698825, -0.22260139952849584, -0.1757441946215076, -0.011500531409884237,
    -0.07885413883101622, -0.06735360742113199, -0.18527780652907921, -0.11792419910794721,
    -0.34672565458733867, -0.22880145547939146,
};
// ---- end of generated values
}  // namespace ref

// out, and the gradients of sum(out * cot) w.r.t. each input that requires grad.
void expect_reference(const Tensor& out, const Vec& want_out, const Inputs& inputs,
                      const std::vector<const Vec*>& want_grads, const std::string& name) {
  EXPECT_TRUE(Near(out.to_vector<double>(), want_out, 1e-12, 1e-12)) << name << " output";
  out.backward(cot(out.sizes()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!want_grads[i]) continue;
    ASSERT_TRUE(inputs[i].grad().defined()) << name << " input " << i;
    EXPECT_TRUE(Near(inputs[i].grad().to_vector<double>(), *want_grads[i], 1e-12, 1e-12))
        << name << " gradient " << i;
  }
}

TEST(ConvTorchReference, Conv2d) {
  {
    Tensor x = seq({1, 4, 5, 5}, 0.31, 0.2), w = seq({4, 2, 2, 3}, 0.57, -0.4), b = seq({4}, 1.3, 0.1);
    expect_reference(tg::conv2d(x, w, b, {2, 1}, {1, 2}, {2, 1}, 2), ref::conv2d_groups_out, {x, w, b},
                     {&ref::conv2d_groups_grad_x, &ref::conv2d_groups_grad_w, &ref::conv2d_groups_grad_b},
                     "conv2d groups");
  }
  {
    Tensor x = seq({1, 2, 4, 5}, 0.23, 0.7), w = seq({3, 2, 2, 4}, 0.41, 0.3);
    expect_reference(tg::conv2d(x, w, Tensor(), {1}, tg::ConvPadding::Same), ref::conv2d_same_out,
                     {x, w}, {&ref::conv2d_same_grad_x, &ref::conv2d_same_grad_w}, "conv2d same");
  }
  {
    Tensor x = seq({2, 3, 6, 5}, 0.17, -0.2), w = seq({6, 1, 3, 3}, 0.73, 0.9), b = seq({6}, 0.9, 0.5);
    expect_reference(tg::conv2d(x, w, b, {2}, {1}, {1}, 3), ref::conv2d_depthwise_out, {x, w, b},
                     {&ref::conv2d_depthwise_grad_x, &ref::conv2d_depthwise_grad_w,
                      &ref::conv2d_depthwise_grad_b},
                     "conv2d depthwise");
  }
}

TEST(ConvTorchReference, ConvTranspose2dAndConv1d) {
  {
    Tensor x = seq({1, 4, 3, 3}, 0.29, 0.1), w = seq({4, 1, 3, 2}, 0.61, -0.3), b = seq({2}, 1.1, 0.2);
    expect_reference(tg::conv_transpose2d(x, w, b, {2, 1}, {1, 0}, {1, 0}, 2, {1, 2}),
                     ref::conv_transpose2d_out, {x, w, b},
                     {&ref::conv_transpose2d_grad_x, &ref::conv_transpose2d_grad_w,
                      &ref::conv_transpose2d_grad_b},
                     "conv_transpose2d");
  }
  {
    Tensor x = seq({2, 2, 3, 4}, 0.37, 0.4), w = seq({2, 3, 2, 2}, 0.53, -0.1);
    expect_reference(tg::conv_transpose2d(x, w, Tensor(), {1}, {1}, {1}, 1, {2}),
                     ref::conv_transpose2d_outpad_out, {x, w},
                     {&ref::conv_transpose2d_outpad_grad_x, &ref::conv_transpose2d_outpad_grad_w},
                     "conv_transpose2d output_padding");
  }
  {
    Tensor x = seq({2, 3, 7}, 0.43, 0.3), w = seq({2, 3, 3}, 0.67, 0.2), b = seq({2}, 0.8, -0.6);
    expect_reference(tg::conv1d(x, w, b, {2}, {1}), ref::conv1d_out, {x, w, b},
                     {&ref::conv1d_grad_x, &ref::conv1d_grad_w, &ref::conv1d_grad_b}, "conv1d");
  }
}

TEST(ConvTorchReference, Pooling) {
  {
    Tensor x = seq({1, 2, 5, 6}, 0.77, 0.1);
    auto [out, idx] = tg::max_pool2d_with_indices(x, {3}, {2}, {1}, {1}, true);
    EXPECT_TRUE(Near(idx.to_vector<double>(), ref::max_pool2d_indices, 0, 0));
    expect_reference(out, ref::max_pool2d_out, {x}, {&ref::max_pool2d_grad_x}, "max_pool2d");
  }
  {
    Tensor x = seq({2, 1, 5, 5}, 0.91, -0.3);
    expect_reference(tg::max_pool2d(x, {2, 3}, {1}, {0}, {2, 1}), ref::max_pool2d_dilated_out, {x},
                     {&ref::max_pool2d_dilated_grad_x}, "max_pool2d dilated");
  }
  {
    Tensor x = seq({1, 2, 5, 6}, 0.53, 0.2);
    expect_reference(tg::avg_pool2d(x, {3}, {2}, {1}, true), ref::avg_pool2d_include_pad_out, {x},
                     {&ref::avg_pool2d_include_pad_grad_x}, "avg_pool2d include pad");
  }
  {
    Tensor x = seq({1, 2, 5, 6}, 0.53, 0.2);
    expect_reference(tg::avg_pool2d(x, {3}, {2}, {1}, true, false), ref::avg_pool2d_exclude_pad_out,
                     {x}, {&ref::avg_pool2d_exclude_pad_grad_x}, "avg_pool2d exclude pad");
  }
  {
    Tensor x = seq({1, 2, 5, 6}, 0.53, 0.2);
    expect_reference(tg::avg_pool2d(x, {2, 3}, {1, 2}, {1, 1}, false, true, 4),
                     ref::avg_pool2d_divisor_out, {x}, {&ref::avg_pool2d_divisor_grad_x},
                     "avg_pool2d divisor_override");
  }
  {
    Tensor x = seq({1, 2, 5, 7}, 0.47, -0.5);
    expect_reference(tg::adaptive_avg_pool2d(x, {3, 4}), ref::adaptive_avg_pool2d_out, {x},
                     {&ref::adaptive_avg_pool2d_grad_x}, "adaptive_avg_pool2d");
  }
}

// ================================================================ ConvModules

TEST(ConvModules, Conv2dParametersInitAndRepr) {
  tg::manual_seed(10);
  tg::nn::Conv2d conv(3, 16, 5);
  EXPECT_EQ(conv.weight.sizes(), (Shape{16, 3, 5, 5}));
  EXPECT_EQ(conv.bias.sizes(), (Shape{16}));
  EXPECT_TRUE(conv.weight.requires_grad());
  EXPECT_EQ(conv.extra_repr(), "3, 16, kernel_size=(5, 5), stride=(1, 1)");
  // kaiming_uniform(a = sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 3 * 5 * 5.
  const double bound = 1.0 / std::sqrt(75.0);
  for (const Tensor& p : {conv.weight, conv.bias}) {
    EXPECT_LE(p.abs().max().item(), bound);
    EXPECT_GT(p.abs().max().item(), 0.8 * bound);
  }
  auto names = conv.named_parameters();
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0].first, "weight");
  EXPECT_EQ(names[1].first, "bias");
  Tensor y = conv(tg::randn({2, 3, 28, 28}));
  EXPECT_EQ(y.sizes(), (Shape{2, 16, 24, 24}));

  tg::nn::Conv2d full(4, 8, {3, 5}, {2, 1}, {1, 2}, 2, 2, false);
  EXPECT_EQ(full.weight.sizes(), (Shape{8, 2, 3, 5}));
  EXPECT_FALSE(full.bias.defined());
  EXPECT_EQ(full.extra_repr(),
            "4, 8, kernel_size=(3, 5), stride=(2, 1), padding=(1, 2), dilation=(2, 2), groups=2, "
            "bias=False");
  EXPECT_EQ(full(tg::randn({1, 4, 9, 9})).sizes(), (Shape{1, 8, 4, 5}));

  tg::nn::Conv2d same(3, 6, 4, 1, "same");
  EXPECT_EQ(same.extra_repr(), "3, 6, kernel_size=(4, 4), stride=(1, 1), padding=same");
  EXPECT_EQ(same(tg::randn({2, 3, 7, 5})).sizes(), (Shape{2, 6, 7, 5}));
  tg::nn::Conv2d valid(3, 6, 3, 1, tg::ConvPadding::Valid);
  EXPECT_EQ(valid.extra_repr(), "3, 6, kernel_size=(3, 3), stride=(1, 1), padding=valid");
  EXPECT_EQ(valid(tg::randn({3, 7, 5})).sizes(), (Shape{6, 5, 3}));
  tg::nn::Conv2d f64(2, 2, 1, 1, 0, 1, 1, true, "zeros", tg::kFloat64);
  EXPECT_EQ(f64.weight.dtype(), tg::kFloat64);
  EXPECT_EQ(f64.repr(), "Conv2d(2, 2, kernel_size=(1, 1), stride=(1, 1))");
}

TEST(ConvModules, Conv1dAndConvTranspose2d) {
  tg::manual_seed(11);
  tg::nn::Conv1d c1(4, 6, 3, 2, 1, 1, 2);
  EXPECT_EQ(c1.weight.sizes(), (Shape{6, 2, 3}));
  EXPECT_EQ(c1.extra_repr(), "4, 6, kernel_size=(3,), stride=(2,), padding=(1,), groups=2");
  EXPECT_EQ(c1(tg::randn({5, 4, 10})).sizes(), (Shape{5, 6, 5}));
  EXPECT_LE(c1.weight.abs().max().item(), 1.0 / std::sqrt(6.0));

  // weight [in, out / groups, kH, kW]; fan_in = weight.size(1) * kH * kW.
  tg::nn::ConvTranspose2d t(4, 6, 3, 2, 1, 1, 2);
  EXPECT_EQ(t.weight.sizes(), (Shape{4, 3, 3, 3}));
  EXPECT_EQ(t.bias.sizes(), (Shape{6}));
  EXPECT_LE(t.weight.abs().max().item(), 1.0 / std::sqrt(27.0));
  EXPECT_EQ(t.extra_repr(),
            "4, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 1), "
            "groups=2");
  EXPECT_EQ(t(tg::randn({2, 4, 5, 5})).sizes(), (Shape{2, 6, 10, 10}));
  // forward(input, output_size): the output_padding that gives that size.
  tg::nn::ConvTranspose2d up(2, 2, 3, 2, 1);
  Tensor x = tg::randn({1, 2, 5, 5});
  EXPECT_EQ(up(x).sizes(), (Shape{1, 2, 9, 9}));
  EXPECT_EQ(up.forward(x, {10, 9}).sizes(), (Shape{1, 2, 10, 9}));
  EXPECT_EQ(up.forward(x, {1, 2, 10, 10}).sizes(), (Shape{1, 2, 10, 10}));
  EXPECT_THROW(up.forward(x, {11, 9}), tg::Error);
}

TEST(ConvModules, PoolingLayers) {
  tg::nn::MaxPool2d mp(2);
  EXPECT_EQ(mp.extra_repr(), "kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False");
  tg::nn::MaxPool2d mp2({2, 3}, {}, {1, 1}, 1, false, true);
  EXPECT_EQ(mp2.extra_repr(),
            "kernel_size=(2, 3), stride=(2, 3), padding=(1, 1), dilation=1, ceil_mode=True");
  Tensor x = tg::randn({2, 3, 8, 8});
  EXPECT_EQ(mp(x).sizes(), (Shape{2, 3, 4, 4}));
  auto [v, idx] = mp.forward_with_indices(x);
  EXPECT_EQ(idx.sizes(), (Shape{2, 3, 4, 4}));
  tg::nn::AvgPool2d ap(3, 2, 1);
  EXPECT_EQ(ap.extra_repr(), "kernel_size=3, stride=2, padding=1");
  EXPECT_EQ(ap(x).sizes(), (Shape{2, 3, 4, 4}));
  tg::nn::AdaptiveAvgPool2d gap(1);
  EXPECT_EQ(gap.extra_repr(), "output_size=1");
  EXPECT_EQ(gap(x).sizes(), (Shape{2, 3, 1, 1}));
  tg::nn::AdaptiveAvgPool2d a2({5, 7});
  EXPECT_EQ(a2.repr(), "AdaptiveAvgPool2d(output_size=(5, 7))");
}

TEST(ConvModules, LeNetTrainsOneStep) {
  // A small LeNet-like stack: every layer's gradient arrives and the loss goes down with SGD.
  tg::manual_seed(12);
  auto conv1 = std::make_shared<tg::nn::Conv2d>(1, 4, 3, 1, 1);
  auto pool = std::make_shared<tg::nn::MaxPool2d>(2);
  auto conv2 = std::make_shared<tg::nn::Conv2d>(4, 8, 3, 1, 1);
  auto gap = std::make_shared<tg::nn::AdaptiveAvgPool2d>(1);
  Tensor x = tg::randn({8, 1, 12, 12});
  Tensor target = tg::randn({8, 8});
  auto loss_of = [&] {
    Tensor h = tg::relu(conv1->forward(x));
    h = pool->forward(h);
    h = tg::relu(conv2->forward(h));
    h = gap->forward(h).reshape({8, 8});
    return (h - target).pow(2.0).mean();
  };
  Tensor loss0 = loss_of();
  loss0.backward();
  std::vector<Tensor> params;
  for (auto* m : {static_cast<tg::nn::Module*>(conv1.get()), static_cast<tg::nn::Module*>(conv2.get())})
    for (const Tensor& p : m->parameters()) params.push_back(p);
  {
    tg::NoGradGuard no_grad;
    for (const Tensor& p : params) {
      ASSERT_TRUE(p.grad().defined());
      EXPECT_GT(p.grad().abs().sum().item(), 0.0);
      p.sub_(p.grad() * 0.5);
    }
  }
  EXPECT_LT(loss_of().item(), loss0.item());
}

// ================================================================ ConvErrors

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const tg::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("NOT A tg::Error: ") + e.what();
  }
  return "NO EXCEPTION THROWN";
}

::testing::AssertionResult HasAll(const std::string& text, const std::vector<std::string>& parts) {
  for (const std::string& p : parts)
    if (text.find(p) == std::string::npos)
      return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << p << "\"";
  return ::testing::AssertionSuccess();
}
#define EXPECT_ERROR(stmt, ...) EXPECT_TRUE(HasAll(error_of([&] { (void)(stmt); }), {__VA_ARGS__}))

TEST(ConvErrors, Conv2dShapes) {
  Tensor w = tg::zeros({16, 3, 5, 5});
  EXPECT_ERROR(tg::conv2d(tg::zeros({8, 1, 28, 28}), w),
               "conv2d: expected input with 3 channels (weight [16, 3, 5, 5], groups 1), got input "
               "of shape [8, 1, 28, 28]");
  EXPECT_ERROR(tg::conv2d(tg::zeros({8, 28, 28}), tg::zeros({16, 8, 5, 5}), Tensor(), {1}, {0}, {1}, 2),
               "conv2d: expected input with 16 channels (weight [16, 8, 5, 5], groups 2)");
  EXPECT_ERROR(tg::conv2d(tg::zeros({28, 28}), w), "conv2d: expected a 3-D", "[28, 28]");
  EXPECT_ERROR(tg::conv2d(tg::zeros({1, 3, 8, 8}), tg::zeros({16, 3, 5})), "conv2d: expected a 4-D weight",
               "[16, 3, 5]");
  EXPECT_ERROR(tg::conv2d(tg::zeros({1, 3, 2, 2}), w, Tensor(), {1}, {1}),
               "conv2d: the kernel (5, 5) is larger than the padded input (4, 4)", "[1, 3, 2, 2]",
               "padding (1, 1)");
  EXPECT_ERROR(tg::conv2d(tg::zeros({1, 3, 6, 6}), tg::zeros({1, 3, 3, 3}), Tensor(), {1}, {0}, {3}),
               "dilated by (3, 3): (7, 7)", "larger than the padded input (6, 6)");
  EXPECT_ERROR(tg::conv2d(tg::zeros({1, 3, 8, 8}), w, tg::zeros({10})),
               "conv2d: expected bias of shape [16]", "got [10]");
  EXPECT_ERROR(tg::conv2d(tg::zeros({1, 6, 8, 8}), tg::zeros({10, 2, 3, 3}), Tensor(), {1}, {0}, {1}, 3),
               "conv2d: out_channels (10", "divisible by groups (3)");
}

TEST(ConvErrors, Conv2dArguments) {
  Tensor x = tg::zeros({1, 3, 8, 8}), w = tg::zeros({4, 3, 3, 3});
  EXPECT_ERROR(tg::conv2d(x, w, Tensor(), {0}), "conv2d: stride must be positive, got (0, 0)");
  EXPECT_ERROR(tg::conv2d(x, w, Tensor(), {1, -2}), "conv2d: stride must be positive, got (1, -2)");
  EXPECT_ERROR(tg::conv2d(x, w, Tensor(), {1}, {-1}), "conv2d: padding must be non-negative");
  EXPECT_ERROR(tg::conv2d(x, w, Tensor(), {1}, {0}, {0}), "conv2d: dilation must be positive");
  EXPECT_ERROR(tg::conv2d(x, w, Tensor(), {1}, {0}, {1}, 0), "conv2d: groups must be positive, got 0");
  EXPECT_ERROR(tg::conv2d(x, w, Tensor(), {1, 1, 1}), "conv2d: stride must have 1 or 2 values",
               "[1, 1, 1]");
  EXPECT_ERROR(tg::conv2d(x, w, Tensor(), {2}, tg::ConvPadding::Same),
               "conv2d: padding=\"same\" is not supported for strided convolutions");
  EXPECT_ERROR(tg::conv_padding_from_string("full"), "padding must be \"valid\" or \"same\"", "full");
  EXPECT_ERROR(tg::conv2d(x, w.to(tg::kFloat64)), "conv2d: input (float32) and weight (float64)");
  EXPECT_ERROR(tg::conv2d(x, w, tg::zeros({4}, tg::kFloat64)), "conv2d: input (float32) and bias (float64)");
  EXPECT_ERROR(tg::conv2d(x.to(tg::kInt64), w.to(tg::kInt64)), "conv2d: expected a floating-point input",
               "int64");
}

TEST(ConvErrors, Conv1dAndTranspose) {
  EXPECT_ERROR(tg::conv1d(tg::zeros({2, 3, 10}), tg::zeros({4, 2, 3})),
               "conv1d: expected input with 2 channels (weight [4, 2, 3], groups 1), got input of "
               "shape [2, 3, 10]");
  EXPECT_ERROR(tg::conv1d(tg::zeros({2, 3, 4, 10}), tg::zeros({4, 3, 3})), "conv1d: expected a 2-D");
  EXPECT_ERROR(tg::conv1d(tg::zeros({2, 3, 10}), tg::zeros({4, 3, 3, 3})), "conv1d: expected a 3-D weight");
  EXPECT_ERROR(tg::conv1d(tg::zeros({2, 3, 10}), tg::zeros({4, 3, 3}), Tensor(), {1, 1}),
               "conv1d: stride must have 1 value");
  EXPECT_ERROR(tg::conv1d(tg::zeros({2, 3, 2}), tg::zeros({4, 3, 3})), "conv1d: the kernel",
               "larger than the padded input");
  Tensor x = tg::zeros({1, 4, 5, 5});
  EXPECT_ERROR(tg::conv_transpose2d(x, tg::zeros({3, 2, 3, 3})),
               "conv_transpose2d: expected input with 3 channels (weight [3, 2, 3, 3]",
               "got input of shape [1, 4, 5, 5]");
  EXPECT_ERROR(tg::conv_transpose2d(x, tg::zeros({4, 2, 3, 3}), Tensor(), {2}, {0}, {2}),
               "conv_transpose2d: output_padding (2, 2)", "smaller than either stride (2, 2) or dilation (1, 1)");
  EXPECT_ERROR(tg::conv_transpose2d(x, tg::zeros({4, 2, 3, 3}), Tensor(), {1}, {0}, {0}, 3),
               "conv_transpose2d: in_channels (4", "divisible by groups (3)");
  EXPECT_ERROR(tg::conv_transpose2d(x, tg::zeros({4, 2, 3, 3}), tg::zeros({3})),
               "conv_transpose2d: expected bias of shape [2]");
  EXPECT_ERROR(tg::conv_transpose2d(tg::zeros({1, 4, 1, 1}), tg::zeros({4, 2, 1, 1}), Tensor(), {1}, {1}),
               "conv_transpose2d: the output size (-1, -1) is not positive");
}

TEST(ConvErrors, Pooling) {
  Tensor x = tg::zeros({1, 2, 4, 4});
  EXPECT_ERROR(tg::max_pool2d(x, {0}), "max_pool2d: kernel_size must be positive, got (0, 0)");
  EXPECT_ERROR(tg::max_pool2d(x, {2}, {0}), "max_pool2d: stride must be positive");
  EXPECT_ERROR(tg::max_pool2d(x, {2}, {}, {0}, {0}), "max_pool2d: dilation must be positive");
  EXPECT_ERROR(tg::max_pool2d(x, {3}, {}, {2}), "max_pool2d: padding (2, 2) must be at most half of kernel_size (3, 3)");
  EXPECT_ERROR(tg::max_pool2d(x, {5}), "max_pool2d: the output size (0, 0) is too small", "[1, 2, 4, 4]");
  EXPECT_ERROR(tg::max_pool2d(tg::zeros({4, 4}), {2}), "max_pool2d: expected a 3-D", "[4, 4]");
  EXPECT_ERROR(tg::max_pool2d(tg::zeros({1, 0, 4, 4}), {2}), "max_pool2d: expected an input with non-zero");
  EXPECT_ERROR(tg::max_pool2d(x, {2, 2, 2}), "max_pool2d: kernel_size must have 1 or 2 values");
  EXPECT_ERROR(tg::avg_pool2d(x, {2}, {}, {0}, false, true, 0), "avg_pool2d: divisor_override must not be zero");
  EXPECT_ERROR(tg::avg_pool2d(x.to(tg::kInt64), {2}), "avg_pool2d: expected a floating-point input");
  EXPECT_ERROR(tg::adaptive_avg_pool2d(x, {-1, 2}), "adaptive_avg_pool2d: output_size must be non-negative");
  EXPECT_ERROR(tg::adaptive_avg_pool2d(x, {1, 2, 3}), "adaptive_avg_pool2d: output_size must have 1 or 2 values");
}

TEST(ConvErrors, Modules) {
  EXPECT_ERROR(tg::nn::Conv2d(3, 16, 3, 1, 0, 1, 1, true, "reflect"),
               "Conv2d: padding_mode \"reflect\" is not supported");
  EXPECT_ERROR(tg::nn::Conv2d(3, 16, 3, 1, 0, 1, 2), "Conv2d: in_channels (3) must be divisible by groups (2)");
  EXPECT_ERROR(tg::nn::Conv2d(4, 6, 3, 1, 0, 1, 4), "Conv2d: out_channels (6) must be divisible by groups (4)");
  EXPECT_ERROR(tg::nn::Conv2d(3, 16, 3, 2, "same"), "Conv2d: padding=\"same\" is not supported for strided");
  EXPECT_ERROR(tg::nn::Conv2d(3, 16, 3, 1, "full"), "Conv2d: padding must be \"valid\" or \"same\"");
  EXPECT_ERROR(tg::nn::Conv2d(3, 16, {3, 3, 3}), "expected 1 or 2 values");
  EXPECT_ERROR(tg::nn::Conv2d(3, 16, 0), "Conv2d: kernel_size must be positive");
  EXPECT_ERROR(tg::nn::ConvTranspose2d(3, 16, 3, 1, 0, 1), "ConvTranspose2d: output_padding (1, 1)");
  tg::nn::Conv2d conv(3, 16, 3);
  EXPECT_ERROR(conv(tg::zeros({2, 4, 8, 8})), "conv2d: expected input with 3 channels");
  EXPECT_ERROR(conv(tg::zeros({2, 3, 8, 8}, tg::kFloat64)), "conv2d: input (float64) and weight (float32)");
}

TEST(ConvErrors, ModifiedIndicesAreDetected) {
  Tensor x = distinct({1, 1, 4, 4});
  auto [v, idx] = tg::max_pool2d_with_indices(x, {2});
  idx.fill_(0);
  EXPECT_ERROR(v.sum().backward(), "modified by an in-place operation");
}

}  // namespace
