// Forward values of the public ops against hand-computed values or float64 references computed
// here with plain loops: factories, RNG, dtypes, views, broadcasting, pointwise ops, reductions,
// matmul, softmax, joining/splitting, indexing, in-place ops and printing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace {

using tg::Shape;
using tg::Tensor;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<double> vals(const Tensor& t) { return t.to_vector<double>(); }

Tensor i64(const std::vector<int64_t>& v, const Shape& shape) { return tg::tensor(v, shape); }
Tensor i64(const std::vector<int64_t>& v) { return tg::tensor(v, {static_cast<int64_t>(v.size())}); }

// Elementwise |got - want| <= atol + rtol * |want|; NaN matches NaN, infinities must be equal.
void expect_close(const std::vector<double>& got, const std::vector<double>& want, double rtol,
                  double atol, const std::string& what = "") {
  ASSERT_EQ(got.size(), want.size()) << what;
  int reported = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    bool ok;
    if (std::isnan(w)) ok = std::isnan(g);
    else if (std::isinf(w)) ok = g == w;
    else ok = std::isfinite(g) && std::abs(g - w) <= atol + rtol * std::abs(w);
    if (!ok && reported++ < 5)
      ADD_FAILURE() << what << ": element " << i << " is " << g << ", expected " << w
                    << " (diff " << std::abs(g - w) << ")";
  }
}

void expect_exact(const std::vector<double>& got, const std::vector<double>& want,
                  const std::string& what = "") {
  expect_close(got, want, 0.0, 0.0, what);
}

// ---- float64 references with plain loops over row-major data

Shape row_major_strides(const Shape& s) {
  Shape st(s.size(), 1);
  for (int64_t i = static_cast<int64_t>(s.size()) - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
  return st;
}

// Groups the values of a row-major tensor by output position when `dims` (wrapped, any order)
// are reduced; each group keeps the row-major order of the reduced dims.
std::vector<std::vector<double>> reduction_groups(const std::vector<double>& v, const Shape& shape,
                                                  const std::set<int64_t>& dims) {
  Shape out_shape;
  for (size_t d = 0; d < shape.size(); ++d)
    if (!dims.count(static_cast<int64_t>(d))) out_shape.push_back(shape[d]);
  const Shape in_st = row_major_strides(shape), out_st = row_major_strides(out_shape);
  int64_t out_n = 1;
  for (int64_t s : out_shape) out_n *= s;
  std::vector<std::vector<double>> groups(static_cast<size_t>(out_n));
  for (size_t flat = 0; flat < v.size(); ++flat) {
    int64_t rem = static_cast<int64_t>(flat), out = 0;
    size_t od = 0;
    for (size_t d = 0; d < shape.size(); ++d) {
      const int64_t c = rem / in_st[d];
      rem %= in_st[d];
      if (!dims.count(static_cast<int64_t>(d))) out += c * out_st[od++];
    }
    groups[static_cast<size_t>(out)].push_back(v[flat]);
  }
  return groups;
}

std::vector<double> ref_reduce(const std::vector<double>& v, const Shape& shape,
                               const std::set<int64_t>& dims,
                               const std::function<double(const std::vector<double>&)>& f) {
  std::vector<double> out;
  for (const auto& g : reduction_groups(v, shape, dims)) out.push_back(f(g));
  return out;
}

double ref_sum(const std::vector<double>& g) { return std::accumulate(g.begin(), g.end(), 0.0); }
double ref_mean(const std::vector<double>& g) { return ref_sum(g) / static_cast<double>(g.size()); }
double ref_var(const std::vector<double>& g, int64_t correction) {
  const double m = ref_mean(g);
  double s = 0;
  for (double x : g) s += (x - m) * (x - m);
  return s / (static_cast<double>(g.size()) - static_cast<double>(correction));
}
double ref_max(const std::vector<double>& g) {
  double m = g[0];
  for (double x : g) {
    if (std::isnan(x)) return x;
    m = std::max(m, x);
  }
  return m;
}
double ref_min(const std::vector<double>& g) {
  double m = g[0];
  for (double x : g) {
    if (std::isnan(x)) return x;
    m = std::min(m, x);
  }
  return m;
}
// First index of the max (or min); a NaN counts as the extreme.
double ref_arg(const std::vector<double>& g, bool want_max) {
  size_t best = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(g[best])) break;
    if (std::isnan(g[i]) || (want_max ? g[i] > g[best] : g[i] < g[best])) best = i;
  }
  return static_cast<double>(best);
}

// (outer, n, inner) for the lanes along `dim` of a row-major tensor.
struct Lanes {
  int64_t outer = 1, n = 1, inner = 1;
  Lanes(const Shape& s, int64_t dim) {
    for (int64_t i = 0; i < static_cast<int64_t>(s.size()); ++i) {
      if (i < dim) outer *= s[i];
      else if (i == dim) n = s[i];
      else inner *= s[i];
    }
  }
  size_t at(int64_t o, int64_t i, int64_t k) const { return static_cast<size_t>((o * n + i) * inner + k); }
};

std::vector<double> ref_softmax(const std::vector<double>& v, const Shape& shape, int64_t dim,
                                bool log) {
  const Lanes L(shape, dim);
  std::vector<double> out(v.size());
  for (int64_t o = 0; o < L.outer; ++o)
    for (int64_t k = 0; k < L.inner; ++k) {
      double m = -kInf;
      for (int64_t i = 0; i < L.n; ++i) m = std::max(m, v[L.at(o, i, k)]);
      double s = 0;
      for (int64_t i = 0; i < L.n; ++i) s += std::exp(v[L.at(o, i, k)] - m);
      for (int64_t i = 0; i < L.n; ++i) {
        const double z = v[L.at(o, i, k)] - m;
        out[L.at(o, i, k)] = log ? z - std::log(s) : std::exp(z) / s;
      }
    }
  return out;
}

// C = A @ B for row-major A [m, k] and B [k, n], with sum |a||b| per element in `scale`.
std::vector<double> ref_mm(const std::vector<double>& a, const std::vector<double>& b, int64_t m,
                           int64_t k, int64_t n, std::vector<double>* scale = nullptr,
                           size_t a_off = 0, size_t b_off = 0) {
  std::vector<double> c(static_cast<size_t>(m * n), 0.0);
  if (scale) scale->assign(c.size(), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0, sa = 0;
      for (int64_t p = 0; p < k; ++p) {
        const double x = a[a_off + static_cast<size_t>(i * k + p)];
        const double y = b[b_off + static_cast<size_t>(p * n + j)];
        s += x * y;
        sa += std::abs(x * y);
      }
      c[static_cast<size_t>(i * n + j)] = s;
      if (scale) (*scale)[static_cast<size_t>(i * n + j)] = sa;
    }
  return c;
}

// |got - ref| <= tol * sum_k |a_ik b_kj|: the relative error of each dot product.
void expect_matmul_close(const std::vector<double>& got, const std::vector<double>& ref,
                         const std::vector<double>& scale, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  int reported = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double bound = tol * std::max(scale[i], std::numeric_limits<double>::min());
    if (!(std::abs(got[i] - ref[i]) <= bound) && reported++ < 5)
      ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", expected " << ref[i]
                    << " (relative error " << std::abs(got[i] - ref[i]) / scale[i] << ")";
  }
}

// ================================================================ factories

TEST(TensorFactories, ZerosOnesFull) {
  Tensor z = tg::zeros({2, 3});
  EXPECT_EQ(z.sizes(), (Shape{2, 3}));
  EXPECT_EQ(z.dtype(), tg::kFloat32);
  EXPECT_TRUE(z.is_contiguous());
  expect_exact(vals(z), std::vector<double>(6, 0.0));
  Tensor o = tg::ones({4}, tg::kFloat64);
  EXPECT_EQ(o.dtype(), tg::kFloat64);
  expect_exact(vals(o), std::vector<double>(4, 1.0));
  Tensor f = tg::full({2, 2}, -2.5);
  expect_exact(vals(f), std::vector<double>(4, -2.5));
  Tensor fi = tg::full({3}, 7, tg::kInt64);
  EXPECT_EQ(fi.dtype(), tg::kInt64);
  EXPECT_EQ(fi.to_vector<int64_t>(), (std::vector<int64_t>{7, 7, 7}));
  Tensor fb = tg::full({2}, 1, tg::kBool);
  EXPECT_EQ(fb.to_vector<bool>(), (std::vector<bool>{true, true}));
  Tensor s = tg::zeros({});
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.numel(), 1);
  Tensor e = tg::zeros({3, 0});
  EXPECT_EQ(e.numel(), 0);
  EXPECT_TRUE(vals(e).empty());
  Tensor like = tg::ones_like(fi);
  EXPECT_EQ(like.dtype(), tg::kInt64);
  EXPECT_EQ(like.sizes(), (Shape{3}));
  expect_exact(vals(tg::full_like(o, 3.0)), std::vector<double>(4, 3.0));
  expect_exact(vals(tg::zeros_like(f)), std::vector<double>(4, 0.0));
}

TEST(TensorFactories, ArangeIntegralInfersInt64) {
  Tensor a = tg::arange(5);
  EXPECT_EQ(a.dtype(), tg::kInt64);
  EXPECT_EQ(a.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  Tensor b = tg::arange(2, 11, 3);
  EXPECT_EQ(b.dtype(), tg::kInt64);
  EXPECT_EQ(b.to_vector<int64_t>(), (std::vector<int64_t>{2, 5, 8}));
  Tensor c = tg::arange(10, 0, -3);
  EXPECT_EQ(c.to_vector<int64_t>(), (std::vector<int64_t>{10, 7, 4, 1}));
  Tensor d = tg::arange(3, 3);
  EXPECT_EQ(d.numel(), 0);
  EXPECT_EQ(d.sizes(), (Shape{0}));
  Tensor e = tg::arange(4, tg::kFloat64);
  EXPECT_EQ(e.dtype(), tg::kFloat64);
  expect_exact(vals(e), {0, 1, 2, 3});
}

TEST(TensorFactories, ArangeFloatStepsInferFloat32) {
  Tensor a = tg::arange(1, 2, 0.25);
  EXPECT_EQ(a.dtype(), tg::kFloat32);
  expect_exact(vals(a), {1.0, 1.25, 1.5, 1.75});
  Tensor b = tg::arange(5.5);
  EXPECT_EQ(b.dtype(), tg::kFloat32);
  expect_exact(vals(b), {0, 1, 2, 3, 4, 5});
  // PyTorch: ceil((end - start) / step) elements, each start + i * step.
  Tensor c = tg::arange(0, 1, 0.1);
  ASSERT_EQ(c.numel(), 10);
  std::vector<double> want;
  for (int i = 0; i < 10; ++i) want.push_back(static_cast<float>(i * 0.1));
  expect_exact(vals(c), want);
  Tensor d = tg::arange(1.0, -1.0, -0.5);
  expect_exact(vals(d), {1.0, 0.5, 0.0, -0.5});
}

TEST(TensorFactories, LinspaceEndpointsExact) {
  expect_exact(vals(tg::linspace(0, 1, 5)), {0, 0.25, 0.5, 0.75, 1});
  Tensor a = tg::linspace(-1.3, 2.7, 7);
  EXPECT_EQ(a.dtype(), tg::kFloat32);
  std::vector<float> av = a.to_vector<float>();
  ASSERT_EQ(av.size(), 7u);
  EXPECT_EQ(av.front(), -1.3f);
  EXPECT_EQ(av.back(), 2.7f);
  for (int i = 0; i < 7; ++i) EXPECT_NEAR(av[i], -1.3 + i * (4.0 / 6), 1e-6);
  Tensor b = tg::linspace(0.1, 0.7, 1001, tg::kFloat64);
  std::vector<double> bv = vals(b);
  EXPECT_EQ(bv.front(), 0.1);
  EXPECT_EQ(bv.back(), 0.7);
  for (int i = 0; i < 1001; ++i) EXPECT_NEAR(bv[i], 0.1 + i * 0.6 / 1000, 1e-15);
  expect_exact(vals(tg::linspace(3, 3, 1)), {3});
  expect_exact(vals(tg::linspace(2, 5, 1)), {2});
  EXPECT_EQ(tg::linspace(0, 1, 0).numel(), 0);
  expect_exact(vals(tg::linspace(5, -5, 3)), {5, 0, -5});
}

TEST(TensorFactories, EyeSquareAndNonSquare) {
  expect_exact(vals(tg::eye(3)), {1, 0, 0, 0, 1, 0, 0, 0, 1});
  Tensor a = tg::eye(2, 4);
  EXPECT_EQ(a.sizes(), (Shape{2, 4}));
  expect_exact(vals(a), {1, 0, 0, 0, 0, 1, 0, 0});
  Tensor b = tg::eye(4, 2);
  EXPECT_EQ(b.sizes(), (Shape{4, 2}));
  expect_exact(vals(b), {1, 0, 0, 1, 0, 0, 0, 0});
  Tensor c = tg::eye(3, std::nullopt, tg::kInt64);
  EXPECT_EQ(c.dtype(), tg::kInt64);
  EXPECT_EQ(c.to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 0, 0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(tg::eye(0).sizes(), (Shape{0, 0}));
  EXPECT_EQ(tg::eye(3, 0).sizes(), (Shape{3, 0}));
}

TEST(TensorFactories, RandUniformInUnitInterval) {
  tg::manual_seed(1234);
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {
    Tensor r = tg::rand({100000}, dt);
    EXPECT_EQ(r.dtype(), dt);
    std::vector<double> v = vals(r);
    double sum = 0, sq = 0, lo = 1, hi = 0;
    int64_t below_quarter = 0;
    for (double x : v) {
      ASSERT_GE(x, 0.0);
      ASSERT_LT(x, 1.0);
      sum += x;
      sq += x * x;
      lo = std::min(lo, x);
      hi = std::max(hi, x);
      below_quarter += x < 0.25;
    }
    const double mean = sum / v.size(), var = sq / v.size() - mean * mean;
    // Standard error of the mean is 0.29 / sqrt(1e5) ~ 1e-3.
    EXPECT_NEAR(mean, 0.5, 0.01);
    EXPECT_NEAR(var, 1.0 / 12.0, 0.005);
    EXPECT_NEAR(below_quarter / 1e5, 0.25, 0.01);
    EXPECT_LT(lo, 1e-3);
    EXPECT_GT(hi, 1 - 1e-3);
  }
  // Non-contiguous and multi-dim outputs are filled too.
  Tensor m = tg::rand({50, 40});
  EXPECT_EQ(m.sizes(), (Shape{50, 40}));
  std::set<double> distinct;
  for (double x : vals(m)) distinct.insert(x);
  EXPECT_GT(distinct.size(), 1990u);
}

TEST(TensorFactories, RandnMomentsNearStandardNormal) {
  tg::manual_seed(99);
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {
    std::vector<double> v = vals(tg::randn({100000}, dt));
    double sum = 0, sq = 0;
    int64_t within1 = 0;
    for (double x : v) {
      ASSERT_TRUE(std::isfinite(x));
      sum += x;
      sq += x * x;
      within1 += std::abs(x) < 1.0;
    }
    const double mean = sum / v.size(), sd = std::sqrt(sq / v.size() - mean * mean);
    EXPECT_NEAR(mean, 0.0, 0.015);
    EXPECT_NEAR(sd, 1.0, 0.015);
    EXPECT_NEAR(within1 / 1e5, 0.6827, 0.01);
  }
}

TEST(TensorFactories, RandintRangeAndEveryValueHit) {
  tg::manual_seed(7);
  Tensor r = tg::randint(3, 8, {10000});
  EXPECT_EQ(r.dtype(), tg::kInt64);
  std::vector<int64_t> v = r.to_vector<int64_t>();
  std::vector<int64_t> count(5, 0);
  for (int64_t x : v) {
    ASSERT_GE(x, 3);
    ASSERT_LT(x, 8);
    ++count[static_cast<size_t>(x - 3)];
  }
  for (int64_t c : count) EXPECT_NEAR(c, 2000, 250);
  std::vector<int64_t> neg = tg::randint(-2, 0, {1000}).to_vector<int64_t>();
  EXPECT_EQ(std::set<int64_t>(neg.begin(), neg.end()), (std::set<int64_t>{-2, -1}));
  std::vector<int64_t> one = tg::randint(5, 6, {100}).to_vector<int64_t>();
  EXPECT_EQ(std::set<int64_t>(one.begin(), one.end()), (std::set<int64_t>{5}));
  Tensor f = tg::randint(0, 4, {500}, tg::kFloat32);
  EXPECT_EQ(f.dtype(), tg::kFloat32);
  std::vector<double> fv = vals(f);
  EXPECT_EQ(std::set<double>(fv.begin(), fv.end()), (std::set<double>{0, 1, 2, 3}));
}

TEST(TensorFactories, TensorFromLists) {
  Tensor a = tg::tensor({1.5, -2, 3});
  EXPECT_EQ(a.dtype(), tg::kFloat32);
  EXPECT_EQ(a.sizes(), (Shape{3}));
  expect_exact(vals(a), {1.5, -2, 3});
  Tensor b = tg::tensor({{1, 2, 3}, {4, 5, 6}});
  EXPECT_EQ(b.sizes(), (Shape{2, 3}));
  expect_exact(vals(b), {1, 2, 3, 4, 5, 6});
  Tensor c = tg::tensor(std::vector<double>{1, 2, 3, 4, 5, 6}, Shape{3, 2}, tg::kFloat64);
  EXPECT_EQ(c.sizes(), (Shape{3, 2}));
  EXPECT_EQ(c.dtype(), tg::kFloat64);
  expect_exact(vals(c.select(0, 2)), {5, 6});
  Tensor d = i64({9007199254740993LL, -4}, {2});  // beyond 2^53: int64 is kept exactly
  EXPECT_EQ(d.dtype(), tg::kInt64);
  EXPECT_EQ(d.to_vector<int64_t>(), (std::vector<int64_t>{9007199254740993LL, -4}));
  Tensor e = tg::tensor({0.1}, tg::kFloat64);
  EXPECT_EQ(vals(e)[0], 0.1);
  EXPECT_EQ(vals(tg::tensor({0.1}))[0], static_cast<double>(0.1f));
  Tensor f = tg::tensor({1, 0, 2}, tg::kBool);
  EXPECT_EQ(f.to_vector<bool>(), (std::vector<bool>{true, false, true}));
  Tensor g = tg::scalar_tensor(2.5);
  EXPECT_EQ(g.dim(), 0);
  EXPECT_EQ(g.item(), 2.5);
  Tensor h = tg::tensor(std::vector<double>{}, Shape{0, 4});
  EXPECT_EQ(h.sizes(), (Shape{0, 4}));
}

TEST(TensorFactories, FromBlobSharesMemory) {
  bool deleted = false;
  float data[6] = {1, 2, 3, 4, 5, 6};
  {
    Tensor t = tg::from_blob(data, {2, 3}, tg::kFloat32, [&](void* p) {
      EXPECT_EQ(p, static_cast<void*>(data));
      deleted = true;
    });
    EXPECT_EQ(t.data_ptr(), static_cast<void*>(data));
    expect_exact(vals(t), {1, 2, 3, 4, 5, 6});
    data[4] = 50;
    EXPECT_EQ(t.select(0, 1).select(0, 1).item(), 50);
    Tensor row = t.select(0, 0);
    t.fill_(0.5);
    for (float x : data) EXPECT_EQ(x, 0.5f);
    t.select(1, 2).copy_(tg::tensor({7, 8}));
    EXPECT_EQ(data[2], 7);
    EXPECT_EQ(data[5], 8);
    t = Tensor();
    EXPECT_FALSE(deleted);  // the row view keeps the memory alive
    EXPECT_EQ(vals(row)[2], 7);
  }
  EXPECT_TRUE(deleted);
  int64_t ints[3] = {4, 5, 6};
  Tensor ti = tg::from_blob(ints, {3}, tg::kInt64);
  ti.add_(1.0);
  EXPECT_EQ(ints[0], 5);
  EXPECT_EQ(ints[2], 7);
}

// ================================================================ random reproducibility

TEST(TensorRandom, ManualSeedReproducesSequences) {
  auto draw = [] {
    std::vector<double> out;
    for (double x : vals(tg::rand({257}))) out.push_back(x);
    for (double x : vals(tg::randn({3, 33}, tg::kFloat64))) out.push_back(x);
    for (double x : vals(tg::randint(-5, 1000, {129}))) out.push_back(x);
    for (double x : vals(tg::rand({5}))) out.push_back(x);
    return out;
  };
  tg::manual_seed(2024);
  EXPECT_EQ(tg::initial_seed(), 2024u);
  const std::vector<double> a = draw();
  tg::manual_seed(2024);
  const std::vector<double> b = draw();
  EXPECT_EQ(a, b);
  tg::manual_seed(2025);
  const std::vector<double> c = draw();
  EXPECT_NE(a, c);
  size_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == c[i];
  EXPECT_LT(same, a.size() / 10);
  // Successive draws differ; the state can be saved and restored.
  tg::manual_seed(1);
  std::vector<double> r1 = vals(tg::rand({64}));
  tg::GeneratorState st = tg::get_rng_state();
  std::vector<double> r2 = vals(tg::rand({64}));
  EXPECT_NE(r1, r2);
  tg::set_rng_state(st);
  EXPECT_EQ(vals(tg::rand({64})), r2);
  // rand_like/randn_like follow the generator and the dtype.
  tg::manual_seed(5);
  Tensor like = tg::randn_like(tg::zeros({4}, tg::kFloat64));
  tg::manual_seed(5);
  EXPECT_EQ(vals(like), vals(tg::randn({4}, tg::kFloat64)));
  EXPECT_EQ(like.dtype(), tg::kFloat64);
}

// ================================================================ dtypes and promotion

TEST(TensorDtypes, BinaryPromotion) {
  Tensor i = i64({1, 2, 7});
  Tensor f = tg::tensor({0.5, 0.25, 2});
  Tensor d = tg::tensor({1, 2, 3}, tg::kFloat64);
  Tensor b = tg::tensor({1, 0, 1}, tg::kBool);

  Tensor if_ = i + f;
  EXPECT_EQ(if_.dtype(), tg::kFloat32);
  expect_exact(vals(if_), {1.5, 2.25, 9});
  EXPECT_EQ((f + i).dtype(), tg::kFloat32);
  Tensor fd = f + d;
  EXPECT_EQ(fd.dtype(), tg::kFloat64);
  expect_exact(vals(fd), {1.5, 2.25, 5});
  EXPECT_EQ((d * i).dtype(), tg::kFloat64);

  Tensor q = i64({7, -7, 1}) / i64({2, 2, 3});
  EXPECT_EQ(q.dtype(), tg::kFloat32);  // true division
  expect_close(vals(q), {3.5, -3.5, 1.0 / 3}, 1e-7, 0);
  EXPECT_EQ((i64({1}) / 2.0).dtype(), tg::kFloat32);
  expect_exact(vals(i64({5}) / 2.0), {2.5});
  expect_exact(vals(i64({5}) / 2), {2.5});

  // bool with bool stays bool for add (or), mul (and), maximum, minimum, as in PyTorch.
  Tensor b2 = tg::tensor({1, 1, 0}, tg::kBool);
  Tensor bb = b + b2;
  EXPECT_EQ(bb.dtype(), tg::kBool);
  EXPECT_EQ(bb.to_vector<bool>(), (std::vector<bool>{true, true, true}));
  Tensor bm = b * b2;
  EXPECT_EQ(bm.dtype(), tg::kBool);
  EXPECT_EQ(bm.to_vector<bool>(), (std::vector<bool>{true, false, false}));
  EXPECT_EQ(tg::maximum(b, b2).to_vector<bool>(), (std::vector<bool>{true, true, true}));
  EXPECT_EQ(tg::minimum(b, b2).to_vector<bool>(), (std::vector<bool>{true, false, false}));
  Tensor bd = b / b2;
  EXPECT_EQ(bd.dtype(), tg::kFloat32);
  expect_exact(vals(bd), {1, 0, kInf});
  EXPECT_EQ(tg::sum(b + b2).item<int64_t>(), 3);
  // A bool product is a valid mask.
  expect_exact(vals(f.masked_fill(b * b2, 0)), {0, 0.25, 2});
  Tensor bi = b * i;
  EXPECT_EQ(bi.dtype(), tg::kInt64);
  EXPECT_EQ(bi.to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 7}));
  Tensor bf = b + f;
  EXPECT_EQ(bf.dtype(), tg::kFloat32);
  expect_exact(vals(bf), {1.5, 0.25, 3});
  EXPECT_EQ((b - i).dtype(), tg::kInt64);

  Tensor ii = i * i64({3, 3, 3});
  EXPECT_EQ(ii.dtype(), tg::kInt64);
  EXPECT_EQ(ii.to_vector<int64_t>(), (std::vector<int64_t>{3, 6, 21}));
}

TEST(TensorDtypes, ComparisonsGiveBool) {
  Tensor a = tg::tensor({1, 2, 3});
  Tensor b = tg::tensor({3, 2, 1});
  struct Case {
    Tensor got;
    std::vector<bool> want;
  } cases[] = {
      {a == b, {false, true, false}}, {a != b, {true, false, true}},
      {a < b, {true, false, false}},  {a <= b, {true, true, false}},
      {a > b, {false, false, true}},  {a >= b, {false, true, true}},
      {a > 1.5, {false, true, true}}, {a == 2.0, {false, true, false}},
      {tg::eq(i64({1, 2, 3}), a), {true, true, true}},
      {tg::lt(tg::tensor({0.5}, tg::kFloat64), i64({1})), {true}},
      {i64({1, 2, 3}) < 2.5, {true, true, false}},
  };
  for (auto& c : cases) {
    EXPECT_EQ(c.got.dtype(), tg::kBool);
    EXPECT_EQ(c.got.to_vector<bool>(), c.want);
  }
  Tensor n = tg::tensor({kNaN});
  EXPECT_EQ((n == n).to_vector<bool>(), (std::vector<bool>{false}));
  EXPECT_EQ((n != n).to_vector<bool>(), (std::vector<bool>{true}));
  Tensor la = tg::logical_and(a > 1.5, a < 2.5);
  EXPECT_EQ(la.to_vector<bool>(), (std::vector<bool>{false, true, false}));
  EXPECT_EQ(tg::logical_or(a < 1.5, a > 2.5).to_vector<bool>(), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(tg::logical_not(a > 1.5).to_vector<bool>(), (std::vector<bool>{true, false, false}));
}

TEST(TensorDtypes, ZeroDimTensorsPromoteOnlyAcrossCategories) {
  // PyTorch: a 0-dim tensor decides the dtype only when its category (bool < integral <
  // floating) is higher than the dimensioned operand's.
  Tensor f = tg::tensor({1, 2});
  Tensor d0 = tg::scalar_tensor(0.5, tg::kFloat64);
  EXPECT_EQ((f * d0).dtype(), tg::kFloat32);
  EXPECT_EQ((d0 * f).dtype(), tg::kFloat32);
  expect_exact(vals(f * d0), {0.5, 1});
  EXPECT_EQ((f + tg::scalar_tensor(3, tg::kInt64)).dtype(), tg::kFloat32);
  EXPECT_EQ(tg::where(f > 1.5, f, d0).dtype(), tg::kFloat32);
  EXPECT_EQ(tg::maximum(f, d0).dtype(), tg::kFloat32);
  EXPECT_EQ((f < d0).dtype(), tg::kBool);
  Tensor i = i64({1, 2});
  Tensor id = i + d0;  // a higher category: the 0-dim operand's dtype
  EXPECT_EQ(id.dtype(), tg::kFloat64);
  expect_exact(vals(id), {1.5, 2.5});
  EXPECT_EQ((i + tg::scalar_tensor(1, tg::kFloat32)).dtype(), tg::kFloat32);
  EXPECT_EQ((i + tg::scalar_tensor(1, tg::kBool)).dtype(), tg::kInt64);
  EXPECT_EQ((tg::tensor({1, 0}, tg::kBool) + tg::scalar_tensor(2, tg::kInt64)).dtype(), tg::kInt64);
  // Both 0-dim, or both dimensioned: ordinary promotion.
  EXPECT_EQ((tg::scalar_tensor(1) + d0).dtype(), tg::kFloat64);
  EXPECT_EQ((f + tg::tensor({1, 1}, tg::kFloat64)).dtype(), tg::kFloat64);
  // A [1]-shaped tensor is not 0-dim.
  EXPECT_EQ((f * tg::tensor({0.5}, tg::kFloat64)).dtype(), tg::kFloat64);
}

TEST(TensorDtypes, InPlaceCastsWithinTheSameCategory) {
  // The result is computed in the common dtype and written into self's, as long as that does
  // not lower the category (float into int, int into bool are errors: see test_errors.cpp).
  Tensor x = tg::tensor({1, 2, 3});
  x.add_(tg::tensor({0.25, 0.5, 0.75}, tg::kFloat64));
  EXPECT_EQ(x.dtype(), tg::kFloat32);
  expect_exact(vals(x), {1.25, 2.5, 3.75});
  x.mul_(tg::scalar_tensor(2, tg::kFloat64));
  expect_exact(vals(x), {2.5, 5, 7.5});
  x.sub_(tg::tensor({0.5, 1, 1.5}, tg::kFloat64));
  x.div_(tg::tensor({2, 4, 6}, tg::kFloat64));
  expect_exact(vals(x), {1, 1, 1});
  x.add_(i64({1, 2, 3}));
  expect_exact(vals(x), {2, 3, 4});
  Tensor d = tg::tensor({1, 2}, tg::kFloat64);
  d.mul_(tg::tensor({0.1, 0.1}));
  EXPECT_EQ(d.dtype(), tg::kFloat64);
  expect_exact(vals(d), {static_cast<double>(0.1f), 2 * static_cast<double>(0.1f)});
  Tensor b = tg::tensor({1, 0, 0}, tg::kBool);
  const uint64_t v = b.version();
  b.add_(tg::tensor({0, 0, 1}, tg::kBool));
  EXPECT_GT(b.version(), v);
  EXPECT_EQ(b.to_vector<bool>(), (std::vector<bool>{true, false, true}));
  b.mul_(tg::tensor({1, 1, 0}, tg::kBool));
  EXPECT_EQ(b.to_vector<bool>(), (std::vector<bool>{true, false, false}));
  Tensor it = i64({5, 6});
  it.add_(tg::tensor({1, 0}, tg::kBool));
  EXPECT_EQ(it.to_vector<int64_t>(), (std::vector<int64_t>{6, 6}));
}

TEST(TensorDtypes, ScalarsDoNotPromote) {
  Tensor f = tg::tensor({1, 2});
  Tensor t = f * 2.5;
  EXPECT_EQ(t.dtype(), tg::kFloat32);
  expect_exact(vals(t), {2.5, 5});
  EXPECT_EQ((2.5 * f).dtype(), tg::kFloat32);
  EXPECT_EQ((f + 1e300).dtype(), tg::kFloat32);
  EXPECT_EQ((f - 1).dtype(), tg::kFloat32);
  EXPECT_EQ((1.0 / f).dtype(), tg::kFloat32);
  expect_exact(vals(1.0 / f), {1, 0.5});
  expect_exact(vals(3.0 - f), {2, 1});
  Tensor d = tg::tensor({1, 2}, tg::kFloat64);
  EXPECT_EQ((d * 2.5).dtype(), tg::kFloat64);
  Tensor i = i64({1, 2});
  Tensor ti = i * 2.5;
  EXPECT_EQ(ti.dtype(), tg::kFloat32);
  expect_exact(vals(ti), {2.5, 5});
  Tensor ti2 = i * 2;
  EXPECT_EQ(ti2.dtype(), tg::kInt64);
  EXPECT_EQ(ti2.to_vector<int64_t>(), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ((i + 0.5).dtype(), tg::kFloat32);
  EXPECT_EQ((i + 3).dtype(), tg::kInt64);
  EXPECT_EQ((tg::tensor({1, 0}, tg::kBool) * 2).dtype(), tg::kInt64);
  Tensor p = tg::pow(i, 2);
  EXPECT_EQ(p.dtype(), tg::kInt64);
  EXPECT_EQ(p.to_vector<int64_t>(), (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(tg::pow(i, 0.5).dtype(), tg::kFloat32);
  expect_close(vals(tg::pow(f, 0.5)), {1, std::sqrt(2.0)}, 1e-7, 0);
}

TEST(TensorDtypes, ConversionsAndUnaryOnIntegers) {
  Tensor f = tg::tensor({-2.7, -0.5, 0.5, 2.7});
  Tensor i = f.to(tg::kInt64);
  EXPECT_EQ(i.dtype(), tg::kInt64);
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{-2, 0, 0, 2}));  // truncation
  EXPECT_EQ(f.to(tg::kBool).to_vector<bool>(), (std::vector<bool>{true, true, true, true}));
  EXPECT_EQ(tg::tensor({0.0, -0.0, 3}).to(tg::kBool).to_vector<bool>(), (std::vector<bool>{false, false, true}));
  EXPECT_EQ(f.to(tg::kFloat32).is_same(f), true);
  Tensor d = f.to(tg::kFloat64);
  EXPECT_EQ(vals(d), vals(f));
  Tensor e = tg::exp(i64({0, 1}));
  EXPECT_EQ(e.dtype(), tg::kFloat32);
  expect_close(vals(e), {1, std::exp(1.0)}, 1e-7, 0);
  EXPECT_EQ(tg::sqrt(i64({4})).dtype(), tg::kFloat32);
  Tensor a = tg::abs(i64({-3, 4}));
  EXPECT_EQ(a.dtype(), tg::kInt64);
  EXPECT_EQ(a.to_vector<int64_t>(), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(tg::neg(i64({3})).to_vector<int64_t>(), (std::vector<int64_t>{-3}));
  EXPECT_EQ(tg::relu(i64({-3, 3})).to_vector<int64_t>(), (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(tg::relu(i64({-3, 3})).dtype(), tg::kInt64);
  EXPECT_EQ(tg::sum(i64({1, 2, 3})).dtype(), tg::kInt64);
  EXPECT_EQ(tg::sum(i64({1, 2, 3})).item<int64_t>(), 6);
  EXPECT_EQ(tg::sum(tg::tensor({1, 1, 0}, tg::kBool)).dtype(), tg::kInt64);
  EXPECT_EQ(tg::sum(tg::tensor({1, 1, 0}, tg::kBool)).item<int64_t>(), 2);
}

// ================================================================ views

TEST(TensorViews, ModifyThroughViewIsVisibleInBase) {
  Tensor base = tg::arange(12, tg::kFloat32).view({3, 4});
  Tensor row = base.select(0, 1);
  EXPECT_EQ(row.storage(), base.storage());
  EXPECT_EQ(row.storage_offset(), 4);
  const uint64_t v0 = base.version();
  row.fill_(-1);
  EXPECT_GT(base.version(), v0);
  EXPECT_EQ(row.version(), base.version());
  expect_exact(vals(base), {0, 1, 2, 3, -1, -1, -1, -1, 8, 9, 10, 11});
  Tensor col = base.select(1, 2);
  EXPECT_EQ(col.sizes(), (Shape{3}));
  EXPECT_EQ(col.strides(), (Shape{4}));
  col.add_(tg::tensor({100, 200, 300}));
  expect_exact(vals(base), {0, 1, 102, 3, -1, -1, 199, -1, 8, 9, 310, 11});
  Tensor flat = base.view({12});
  flat.select(0, 0).fill_(42);
  EXPECT_EQ(vals(base)[0], 42);
  Tensor inferred = base.view({2, -1});
  EXPECT_EQ(inferred.sizes(), (Shape{2, 6}));
  EXPECT_EQ(inferred.storage(), base.storage());
  Tensor d = base.detach();
  EXPECT_EQ(d.storage(), base.storage());
}

TEST(TensorViews, TransposePermuteStrides) {
  Tensor base = tg::arange(24, tg::kFloat32).view({2, 3, 4});
  Tensor t = base.transpose(0, 2);
  EXPECT_EQ(t.sizes(), (Shape{4, 3, 2}));
  EXPECT_EQ(t.strides(), (Shape{1, 4, 12}));
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.storage(), base.storage());
  std::vector<double> tv = vals(t);
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t k = 0; k < 2; ++k) EXPECT_EQ(tv[i * 6 + j * 2 + k], k * 12 + j * 4 + i);
  Tensor p = base.permute({2, 0, 1});
  EXPECT_EQ(p.sizes(), (Shape{4, 2, 3}));
  EXPECT_EQ(p.strides(), (Shape{1, 12, 4}));
  std::vector<double> pv = vals(p);
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t k = 0; k < 3; ++k) EXPECT_EQ(pv[i * 6 + j * 3 + k], j * 12 + k * 4 + i);
  EXPECT_EQ(base.permute({-1, 0, 1}).sizes(), (Shape{4, 2, 3}));
  Tensor m = tg::arange(6, tg::kFloat32).view({2, 3});
  Tensor mt = m.t();
  EXPECT_EQ(mt.sizes(), (Shape{3, 2}));
  expect_exact(vals(mt), {0, 3, 1, 4, 2, 5});
  mt.select(0, 2).fill_(9);  // column 2 of m
  expect_exact(vals(m), {0, 1, 9, 3, 4, 9});
  EXPECT_EQ(tg::arange(3, tg::kFloat32).t().sizes(), (Shape{3}));
  EXPECT_EQ(m.transpose(-1, -2).sizes(), (Shape{3, 2}));
  Tensor c = mt.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_NE(c.storage(), m.storage());
  expect_exact(vals(c), {0, 3, 1, 4, 9, 9});
  EXPECT_TRUE(m.contiguous().is_same(m));
}

TEST(TensorViews, SqueezeUnsqueeze) {
  Tensor a = tg::arange(6, tg::kFloat32).view({1, 2, 1, 3});
  EXPECT_EQ(a.squeeze().sizes(), (Shape{2, 3}));
  EXPECT_EQ(a.squeeze(0).sizes(), (Shape{2, 1, 3}));
  EXPECT_EQ(a.squeeze(-2).sizes(), (Shape{1, 2, 3}));
  EXPECT_EQ(a.squeeze(1).sizes(), (Shape{1, 2, 1, 3}));  // not size 1: unchanged
  EXPECT_EQ(a.squeeze().storage(), a.storage());
  Tensor b = tg::arange(6, tg::kFloat32).view({2, 3});
  Tensor u0 = b.unsqueeze(0);
  EXPECT_EQ(u0.sizes(), (Shape{1, 2, 3}));
  Tensor u2 = b.unsqueeze(2);
  EXPECT_EQ(u2.sizes(), (Shape{2, 3, 1}));
  Tensor um1 = b.unsqueeze(-1);
  EXPECT_EQ(um1.sizes(), (Shape{2, 3, 1}));
  Tensor um3 = b.unsqueeze(-3);
  EXPECT_EQ(um3.sizes(), (Shape{1, 2, 3}));
  expect_exact(vals(b.unsqueeze(1)), vals(b));
  EXPECT_EQ(b.unsqueeze(1).storage(), b.storage());
  Tensor s = tg::scalar_tensor(4);
  EXPECT_EQ(s.unsqueeze(0).sizes(), (Shape{1}));
  EXPECT_EQ(s.unsqueeze(0).squeeze().dim(), 0);
  // Unsqueezing a transposed view keeps the element order.
  expect_exact(vals(b.t().unsqueeze(1)), vals(b.t()));
}

TEST(TensorViews, ExpandHasZeroStride) {
  Tensor a = tg::tensor({1, 2, 3}).view({3, 1});
  Tensor e = a.expand({3, 4});
  EXPECT_EQ(e.sizes(), (Shape{3, 4}));
  EXPECT_EQ(e.strides()[1], 0);
  EXPECT_EQ(e.storage(), a.storage());
  expect_exact(vals(e), {1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3});
  Tensor e2 = a.expand({2, -1, 2});
  EXPECT_EQ(e2.sizes(), (Shape{2, 3, 2}));
  EXPECT_EQ(e2.strides()[0], 0);
  EXPECT_EQ(e2.strides()[2], 0);
  expect_exact(vals(e2), {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3});
  Tensor s = tg::scalar_tensor(5).expand({2, 2});
  expect_exact(vals(s), {5, 5, 5, 5});
  EXPECT_EQ(a.expand_as(tg::zeros({3, 2})).sizes(), (Shape{3, 2}));
  // Writing through the base shows in every expanded position.
  a.select(0, 0).fill_(10);
  expect_exact(vals(e.select(0, 0)), {10, 10, 10, 10});
  // Reading an expanded tensor into a contiguous copy.
  expect_exact(vals(e.contiguous()), vals(e));
  Tensor z = tg::zeros({1, 3}).expand({0, 3});
  EXPECT_EQ(z.numel(), 0);
}

TEST(TensorViews, NarrowSliceSelect) {
  Tensor a = tg::arange(20, tg::kFloat32).view({4, 5});
  Tensor n = a.narrow(1, 1, 3);
  EXPECT_EQ(n.sizes(), (Shape{4, 3}));
  EXPECT_EQ(n.storage_offset(), 1);
  expect_exact(vals(n), {1, 2, 3, 6, 7, 8, 11, 12, 13, 16, 17, 18});
  expect_exact(vals(a.narrow(0, -2, 1)), {10, 11, 12, 13, 14});
  EXPECT_EQ(a.narrow(0, 4, 0).numel(), 0);
  Tensor v = tg::arange(10, tg::kFloat32);
  Tensor s = v.slice(0, 1, 8, 3);
  EXPECT_EQ(s.sizes(), (Shape{3}));
  EXPECT_EQ(s.strides(), (Shape{3}));
  expect_exact(vals(s), {1, 4, 7});
  expect_exact(vals(v.slice(0, -3, std::nullopt)), {7, 8, 9});
  expect_exact(vals(v.slice(0, std::nullopt, -7)), {0, 1, 2});
  expect_exact(vals(v.slice(0, std::nullopt, std::nullopt, 4)), {0, 4, 8});
  expect_exact(vals(v.slice(0, 5, 100)), {5, 6, 7, 8, 9});
  EXPECT_EQ(v.slice(0, 7, 3).numel(), 0);
  expect_exact(vals(a.slice(1, 0, 5, 2)), {0, 2, 4, 5, 7, 9, 10, 12, 14, 15, 17, 19});
  expect_exact(vals(a.slice(0, 1, 4, 2).slice(1, 1, 3)), {6, 7, 16, 17});
  s.fill_(-1);
  expect_exact(vals(v), {0, -1, 2, 3, -1, 5, 6, -1, 8, 9});
  Tensor sel = a.select(1, -1);
  expect_exact(vals(sel), {4, 9, 14, 19});
  EXPECT_EQ(a.select(0, 2).select(0, 3).dim(), 0);
  EXPECT_EQ(a.select(0, 2).select(0, 3).item(), 13);
  std::vector<Tensor> parts = tg::split(v, 4);
  EXPECT_EQ(parts[1].storage(), v.storage());
}

TEST(TensorViews, ReshapeFlattenAndNonContiguousCopies) {
  Tensor base = tg::arange(12, tg::kFloat32).view({3, 4});
  Tensor r = base.reshape({4, 3});
  EXPECT_EQ(r.storage(), base.storage());  // contiguous: a view
  Tensor t = base.t();
  Tensor rt = t.reshape({12});
  EXPECT_NE(rt.storage(), base.storage());  // non-contiguous: a copy
  expect_exact(vals(rt), {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  rt.fill_(0);
  EXPECT_EQ(vals(base)[1], 1);  // the copy is independent
  // Some non-contiguous reshapes are still views (splitting a dim of a transposed tensor).
  Tensor rt2 = t.reshape({2, 2, 3});
  EXPECT_EQ(rt2.storage(), base.storage());
  expect_exact(vals(rt2), vals(t));
  EXPECT_THROW(t.view({12}), tg::Error);
  expect_exact(vals(base.reshape({-1})), vals(base));
  Tensor c = tg::arange(24, tg::kFloat32).view({2, 3, 4});
  EXPECT_EQ(c.flatten().sizes(), (Shape{24}));
  EXPECT_EQ(c.flatten(1).sizes(), (Shape{2, 12}));
  EXPECT_EQ(c.flatten(0, 1).sizes(), (Shape{6, 4}));
  EXPECT_EQ(c.flatten(-2, -1).sizes(), (Shape{2, 12}));
  EXPECT_EQ(c.flatten(1, 1).sizes(), (Shape{2, 3, 4}));
  EXPECT_EQ(c.flatten().storage(), c.storage());
  Tensor ct = c.transpose(0, 2);
  Tensor fl = ct.flatten();
  EXPECT_NE(fl.storage(), c.storage());
  expect_exact(vals(fl), vals(ct));
  EXPECT_EQ(tg::scalar_tensor(3).flatten().sizes(), (Shape{1}));
  EXPECT_EQ(tg::scalar_tensor(3).reshape({1, 1}).sizes(), (Shape{1, 1}));
  Tensor cl = base.clone();
  EXPECT_NE(cl.storage(), base.storage());
  expect_exact(vals(cl), vals(base));
}

// ================================================================ broadcasting

TEST(OpsBroadcast, AllBinaryOpsBroadcast) {
  tg::manual_seed(11);
  Tensor a = tg::randn({2, 1, 3}, tg::kFloat64);
  Tensor b = tg::rand({4, 1}, tg::kFloat64) + 0.5;  // positive: a valid pow exponent base
  const std::vector<double> av = vals(a), bv = vals(b);
  auto ref = [&](const std::function<double(double, double)>& f) {
    std::vector<double> out;
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 4; ++j)
        for (int k = 0; k < 3; ++k) out.push_back(f(av[i * 3 + k], bv[j]));
    return out;
  };
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&, const Tensor&)> op;
    std::function<double(double, double)> f;
  } cases[] = {
      {"add", [](const Tensor& x, const Tensor& y) { return x + y; }, [](double x, double y) { return x + y; }},
      {"add alpha", [](const Tensor& x, const Tensor& y) { return tg::add(x, y, 2.5); }, [](double x, double y) { return x + 2.5 * y; }},
      {"sub", [](const Tensor& x, const Tensor& y) { return x - y; }, [](double x, double y) { return x - y; }},
      {"sub alpha", [](const Tensor& x, const Tensor& y) { return x.sub(y, 0.5); }, [](double x, double y) { return x - 0.5 * y; }},
      {"mul", [](const Tensor& x, const Tensor& y) { return x * y; }, [](double x, double y) { return x * y; }},
      {"div", [](const Tensor& x, const Tensor& y) { return x / y; }, [](double x, double y) { return x / y; }},
      {"pow", [](const Tensor& x, const Tensor& y) { return tg::pow(y, x); }, [](double x, double y) { return std::pow(y, x); }},
      {"maximum", [](const Tensor& x, const Tensor& y) { return tg::maximum(x, y); }, [](double x, double y) { return std::max(x, y); }},
      {"minimum", [](const Tensor& x, const Tensor& y) { return tg::minimum(x, y); }, [](double x, double y) { return std::min(x, y); }},
      {"eq", [](const Tensor& x, const Tensor& y) { return x == y; }, [](double x, double y) { return double(x == y); }},
      {"ne", [](const Tensor& x, const Tensor& y) { return x != y; }, [](double x, double y) { return double(x != y); }},
      {"lt", [](const Tensor& x, const Tensor& y) { return x < y; }, [](double x, double y) { return double(x < y); }},
      {"le", [](const Tensor& x, const Tensor& y) { return x <= y; }, [](double x, double y) { return double(x <= y); }},
      {"gt", [](const Tensor& x, const Tensor& y) { return x > y; }, [](double x, double y) { return double(x > y); }},
      {"ge", [](const Tensor& x, const Tensor& y) { return x >= y; }, [](double x, double y) { return double(x >= y); }},
      {"logical_and", [](const Tensor& x, const Tensor& y) { return tg::logical_and(x > 0, y > 1); }, [](double x, double y) { return double(x > 0 && y > 1); }},
      {"logical_or", [](const Tensor& x, const Tensor& y) { return tg::logical_or(x > 0, y > 1); }, [](double x, double y) { return double(x > 0 || y > 1); }},
      {"where", [](const Tensor& x, const Tensor& y) { return tg::where(x > 0, x, y); }, [](double x, double y) { return x > 0 ? x : y; }},
  };
  for (auto& c : cases) {
    Tensor out = c.op(a, b);
    EXPECT_EQ(out.sizes(), (Shape{2, 4, 3})) << c.name;
    expect_close(vals(out), ref(c.f), 1e-14, 0, c.name);
    Tensor rev = c.op(a.expand({2, 4, 3}), b);  // the same through an explicit expand
    expect_close(vals(rev), ref(c.f), 1e-14, 0, c.name);
  }
}

TEST(OpsBroadcast, ZeroDimAndZeroSize) {
  Tensor s = tg::scalar_tensor(2);
  Tensor v = tg::tensor({1, 2, 3});
  Tensor sv = s * v;
  EXPECT_EQ(sv.sizes(), (Shape{3}));
  expect_exact(vals(sv), {2, 4, 6});
  expect_exact(vals(v - s), {-1, 0, 1});
  expect_exact(vals(s - v), {1, 0, -1});
  Tensor ss = s + s;
  EXPECT_EQ(ss.dim(), 0);
  EXPECT_EQ(ss.item(), 4);
  EXPECT_EQ((tg::zeros({2, 3}) + tg::scalar_tensor(1)).sizes(), (Shape{2, 3}));
  EXPECT_EQ((s > v).sizes(), (Shape{3}));
  // Zero-size dims broadcast like any other (size 0 wins against size 1).
  Tensor e = tg::zeros({0, 3}) + tg::ones({3});
  EXPECT_EQ(e.sizes(), (Shape{0, 3}));
  EXPECT_EQ((tg::zeros({2, 0}) * tg::ones({1})).sizes(), (Shape{2, 0}));
  EXPECT_EQ((tg::zeros({2, 1}) - tg::ones({1, 0})).sizes(), (Shape{2, 0}));
  EXPECT_EQ((tg::zeros({0}) / tg::scalar_tensor(1)).sizes(), (Shape{0}));
  EXPECT_EQ((tg::zeros({0, 3}) < tg::ones({1, 3})).sizes(), (Shape{0, 3}));
  EXPECT_EQ(tg::where(tg::zeros({0, 1}) > 0, tg::ones({3}), tg::zeros({})).sizes(), (Shape{0, 3}));
  EXPECT_EQ(tg::maximum(tg::zeros({4, 0, 2}), tg::ones({0, 1})).sizes(), (Shape{4, 0, 2}));
  // Broadcasting against a non-contiguous operand.
  Tensor m = tg::arange(6, tg::kFloat32).view({2, 3}).t();  // [3, 2]
  expect_exact(vals(m + tg::tensor({10, 20})), {10, 23, 11, 24, 12, 25});
  expect_exact(vals(m * tg::tensor({1, 2, 3}).view({3, 1})), {0, 3, 2, 8, 6, 15});
}

// ================================================================ pointwise vs std::

struct UnaryCase {
  const char* name;
  std::function<Tensor(const Tensor&)> op;
  std::function<double(double)> ref;
  double lo, hi;
};

double gelu_ref(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
double gelu_tanh_ref(double x) {
  const double c = std::sqrt(2.0 / M_PI);
  return 0.5 * x * (1 + std::tanh(c * (x + 0.044715 * x * x * x)));
}
double softplus_ref(double x, double beta, double threshold) {
  return beta * x > threshold ? x : std::log1p(std::exp(beta * x)) / beta;
}

std::vector<UnaryCase> unary_cases() {
  return {
      {"neg", [](const Tensor& x) { return -x; }, [](double x) { return -x; }, -5, 5},
      {"exp", [](const Tensor& x) { return x.exp(); }, [](double x) { return std::exp(x); }, -20, 20},
      {"log", [](const Tensor& x) { return x.log(); }, [](double x) { return std::log(x); }, 1e-3, 100},
      {"sqrt", [](const Tensor& x) { return x.sqrt(); }, [](double x) { return std::sqrt(x); }, 0, 100},
      {"abs", [](const Tensor& x) { return x.abs(); }, [](double x) { return std::abs(x); }, -5, 5},
      {"tanh", [](const Tensor& x) { return x.tanh(); }, [](double x) { return std::tanh(x); }, -10, 10},
      {"sigmoid", [](const Tensor& x) { return x.sigmoid(); }, [](double x) { return 1 / (1 + std::exp(-x)); }, -30, 30},
      {"relu", [](const Tensor& x) { return x.relu(); }, [](double x) { return x > 0 ? x : 0.0; }, -5, 5},
      {"leaky_relu", [](const Tensor& x) { return tg::leaky_relu(x); }, [](double x) { return x > 0 ? x : 0.01 * x; }, -5, 5},
      {"leaky_relu 0.2", [](const Tensor& x) { return tg::leaky_relu(x, 0.2); }, [](double x) { return x > 0 ? x : 0.2 * x; }, -5, 5},
      {"gelu", [](const Tensor& x) { return tg::gelu(x); }, gelu_ref, -6, 6},
      {"gelu tanh", [](const Tensor& x) { return tg::gelu(x, "tanh"); }, gelu_tanh_ref, -6, 6},
      {"softplus", [](const Tensor& x) { return tg::softplus(x); }, [](double x) { return softplus_ref(x, 1, 20); }, -30, 30},
      {"softplus beta", [](const Tensor& x) { return tg::softplus(x, 2.0, 5.0); }, [](double x) { return softplus_ref(x, 2, 5); }, -10, 10},
      {"clamp", [](const Tensor& x) { return x.clamp(-1.5, 2.0); }, [](double x) { return std::clamp(x, -1.5, 2.0); }, -5, 5},
      {"clamp min", [](const Tensor& x) { return x.clamp(0.5, std::nullopt); }, [](double x) { return std::max(x, 0.5); }, -5, 5},
      {"clamp max", [](const Tensor& x) { return x.clamp(std::nullopt, -0.5); }, [](double x) { return std::min(x, -0.5); }, -5, 5},
      {"square", [](const Tensor& x) { return tg::square(x); }, [](double x) { return x * x; }, -5, 5},
      {"rsqrt", [](const Tensor& x) { return tg::rsqrt(x); }, [](double x) { return 1 / std::sqrt(x); }, 0.01, 100},
      {"sin", [](const Tensor& x) { return tg::sin(x); }, [](double x) { return std::sin(x); }, -6, 6},
      {"cos", [](const Tensor& x) { return tg::cos(x); }, [](double x) { return std::cos(x); }, -6, 6},
      {"log1p", [](const Tensor& x) { return tg::log1p(x); }, [](double x) { return std::log1p(x); }, -0.9, 10},
      {"expm1", [](const Tensor& x) { return tg::expm1(x); }, [](double x) { return std::expm1(x); }, -5, 5},
      {"sign", [](const Tensor& x) { return tg::sign(x); }, [](double x) { return double((x > 0) - (x < 0)); }, -5, 5},
      {"pow 3", [](const Tensor& x) { return x.pow(3.0); }, [](double x) { return x * x * x; }, -5, 5},
      {"rpow", [](const Tensor& x) { return tg::pow(2.0, x); }, [](double x) { return std::exp2(x); }, -5, 5},
      {"mul scalar", [](const Tensor& x) { return x * -1.5; }, [](double x) { return x * -1.5; }, -5, 5},
      {"add scalar", [](const Tensor& x) { return x + 0.25; }, [](double x) { return x + 0.25; }, -5, 5},
      {"rdiv", [](const Tensor& x) { return 3.0 / x; }, [](double x) { return 3.0 / x; }, 0.1, 5},
      {"reciprocal", [](const Tensor& x) { return tg::reciprocal(x); }, [](double x) { return 1.0 / x; }, 0.1, 5},
      {"erf", [](const Tensor& x) { return tg::erf(x); }, [](double x) { return std::erf(x); }, -4, 4},
      // The grid (step 0.1 over [-5.5, 5.5]) hits the halves: round goes half to even.
      {"floor", [](const Tensor& x) { return tg::floor(x); }, [](double x) { return std::floor(x); }, -5.5, 5.5},
      {"ceil", [](const Tensor& x) { return tg::ceil(x); }, [](double x) { return std::ceil(x); }, -5.5, 5.5},
      {"round", [](const Tensor& x) { return tg::round(x); }, [](double x) { return std::nearbyint(x); }, -5.5, 5.5},
      {"trunc", [](const Tensor& x) { return tg::trunc(x); }, [](double x) { return std::trunc(x); }, -5.5, 5.5},
  };
}

void check_unary(tg::DType dt, double rtol, double atol) {
  const std::string dname = tg::dtype_name(dt);
  for (const UnaryCase& c : unary_cases()) {
    std::vector<double> grid;
    for (int i = 0; i <= 110; ++i) grid.push_back(c.lo + (c.hi - c.lo) * i / 110.0);
    // A [10, 11] tensor, also run through its non-contiguous transpose.
    Tensor x = tg::tensor(grid, Shape{111}, dt).slice(0, 0, 110).view({10, 11});
    for (const Tensor& in : {x, x.t()}) {
      Tensor y = c.op(in);
      EXPECT_EQ(y.dtype(), dt) << c.name;
      EXPECT_EQ(y.sizes(), in.sizes()) << c.name;
      std::vector<double> want;
      for (double v : vals(in)) want.push_back(c.ref(v));  // from the rounded inputs
      expect_close(vals(y), want, rtol, atol, std::string(c.name) + " " + dname);
    }
    // The last grid point (hi) through a 0-dim tensor.
    Tensor s = tg::tensor({grid.back()}, dt).view({});
    expect_close(vals(c.op(s)), {c.ref(vals(s)[0])}, rtol, atol, std::string(c.name) + " 0-dim " + dname);
  }
}

TEST(OpsUnary, MatchStdFloat32) { check_unary(tg::kFloat32, 2e-6, 1e-6); }
TEST(OpsUnary, MatchStdFloat64) { check_unary(tg::kFloat64, 1e-13, 1e-14); }

TEST(OpsUnary, ExtremeInputsStayFiniteAndCorrect) {
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {
    const std::string dname = tg::dtype_name(dt);
    Tensor x = tg::tensor({-1e4, -200, -80, -20, 0, 20, 80, 200, 1e4}, dt);
    std::vector<double> xv = vals(x);
    std::vector<double> sig, sp, th, gl, glt;
    for (double v : xv) {
      sig.push_back(v >= 0 ? 1 / (1 + std::exp(-v)) : std::exp(v) / (1 + std::exp(v)));
      sp.push_back(softplus_ref(v, 1, 20));
      th.push_back(std::tanh(v));
      gl.push_back(gelu_ref(v));
      glt.push_back(gelu_tanh_ref(v));
    }
    const double rtol = dt == tg::kFloat32 ? 2e-6 : 1e-13;
    // Denormal float32 results (sigmoid(-200)) lose relative precision: allow an absolute floor.
    const double atol = dt == tg::kFloat32 ? 1e-37 : 1e-300;
    expect_close(vals(x.sigmoid()), sig, rtol, atol, "sigmoid " + dname);
    for (double v : vals(x.sigmoid())) {
      EXPECT_TRUE(std::isfinite(v));
      EXPECT_GE(v, 0.0);
      EXPECT_LE(v, 1.0);
    }
    expect_close(vals(tg::softplus(x)), sp, rtol, atol, "softplus " + dname);
    expect_close(vals(x.tanh()), th, rtol, 0, "tanh " + dname);
    expect_close(vals(tg::gelu(x)), gl, rtol, 1e-30, "gelu " + dname);
    expect_close(vals(tg::gelu(x, "tanh")), glt, rtol, 1e-30, "gelu tanh " + dname);
    // The thresholded default stays finite at +-1e4.
    std::vector<double> spv = vals(tg::softplus(x));
    for (double v : spv) EXPECT_TRUE(std::isfinite(v)) << dname;
    EXPECT_EQ(spv.back(), 1e4);
    EXPECT_EQ(spv.front(), 0.0);
  }
  // Special values.
  Tensor s = tg::tensor({-1, 0, kInf, kNaN});
  std::vector<double> sq = vals(s.sqrt());
  EXPECT_TRUE(std::isnan(sq[0]));
  EXPECT_EQ(sq[1], 0);
  EXPECT_EQ(sq[2], kInf);
  EXPECT_TRUE(std::isnan(sq[3]));
  std::vector<double> lg = vals(s.log());
  EXPECT_TRUE(std::isnan(lg[0]));
  EXPECT_EQ(lg[1], -kInf);
  EXPECT_EQ(lg[2], kInf);
  std::vector<double> ex = vals(tg::tensor({-kInf, 1000, kNaN}).exp());
  EXPECT_EQ(ex[0], 0);
  EXPECT_EQ(ex[1], kInf);
  EXPECT_TRUE(std::isnan(ex[2]));
  std::vector<double> rl = vals(tg::tensor({kNaN, -kInf, kInf}).relu());
  EXPECT_TRUE(std::isnan(rl[0]));  // PyTorch: relu(nan) = nan
  EXPECT_EQ(rl[1], 0);
  EXPECT_EQ(rl[2], kInf);
  std::vector<double> cl = vals(tg::tensor({kNaN, -kInf, kInf}).clamp(-1, 1));
  EXPECT_TRUE(std::isnan(cl[0]));
  EXPECT_EQ(cl[1], -1);
  EXPECT_EQ(cl[2], 1);
  std::vector<double> tn = vals(tg::tensor({-kInf, kInf}).tanh());
  EXPECT_EQ(tn[0], -1);
  EXPECT_EQ(tn[1], 1);
  std::vector<double> sg = vals(tg::tensor({-kInf, kInf}).sigmoid());
  EXPECT_EQ(sg[0], 0);
  EXPECT_EQ(sg[1], 1);
  EXPECT_EQ(vals(tg::tensor({-0.0}).abs())[0], 0.0);
  EXPECT_FALSE(std::signbit(vals(tg::tensor({-0.0}).abs())[0]));
}

// ================================================================ reductions

TEST(OpsReduce, SumMeanVarOverDims) {
  tg::manual_seed(3);
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {
    const double tol = dt == tg::kFloat32 ? 2e-5 : 1e-12;
    const Shape shape{3, 4, 5};
    Tensor x = tg::randn(shape, dt);
    const std::vector<double> xv = vals(x);
    const std::vector<std::pair<Shape, std::set<int64_t>>> dim_sets = {
        {{}, {0, 1, 2}}, {{0}, {0}},       {{1}, {1}},           {{2}, {2}},
        {{-1}, {2}},     {{-3}, {0}},      {{0, 2}, {0, 2}},     {{-1, -3}, {0, 2}},
        {{2, 1}, {1, 2}}, {{0, 1, 2}, {0, 1, 2}},
    };
    for (const auto& [dims, wrapped] : dim_sets) {
      for (bool keepdim : {false, true}) {
        Shape want_shape;
        for (int64_t d = 0; d < 3; ++d) {
          if (!wrapped.count(d)) want_shape.push_back(shape[d]);
          else if (keepdim) want_shape.push_back(1);
        }
        if (dims.empty() && !keepdim) want_shape = {};
        const std::string what = std::string(tg::dtype_name(dt)) + " dims " + tg::shape_str(dims) +
                                 (keepdim ? " keepdim" : "");
        Tensor s = dims.empty() && !keepdim ? x.sum() : x.sum(dims, keepdim);
        EXPECT_EQ(s.sizes(), want_shape) << what;
        EXPECT_EQ(s.dtype(), dt);
        expect_close(vals(s), ref_reduce(xv, shape, wrapped, ref_sum), tol, tol, "sum " + what);
        Tensor m = dims.empty() && !keepdim ? x.mean() : x.mean(dims, keepdim);
        EXPECT_EQ(m.sizes(), want_shape) << what;
        expect_close(vals(m), ref_reduce(xv, shape, wrapped, ref_mean), tol, tol, "mean " + what);
        for (int64_t corr : {0, 1, 2}) {
          Tensor v = dims.empty() && !keepdim ? x.var(Shape{}, corr) : x.var(dims, corr, keepdim);
          EXPECT_EQ(v.sizes(), want_shape) << what;
          expect_close(vals(v),
                       ref_reduce(xv, shape, wrapped, [corr](const std::vector<double>& g) { return ref_var(g, corr); }),
                       tol, tol, "var correction " + std::to_string(corr) + " " + what);
        }
      }
    }
    // std is the square root of var; the default correction is 1 (unbiased).
    expect_close(vals(tg::std(x, {1})), ref_reduce(xv, shape, {1}, [](const std::vector<double>& g) {
                   return std::sqrt(ref_var(g, 1));
                 }), tol, tol, "std");
    EXPECT_NEAR(x.var().item(), ref_var(xv, 1), tol);
  }
  // Hand-computed values.
  Tensor h = tg::tensor({{1, 2, 3}, {4, 5, 6}});
  expect_exact(vals(h.sum(0)), {5, 7, 9});
  expect_exact(vals(h.sum(1)), {6, 15});
  expect_exact(vals(h.mean(-1)), {2, 5});
  expect_exact(vals(h.var(Shape{1})), {1, 1});
  expect_close(vals(h.var(Shape{1}, 0)), {2.0 / 3, 2.0 / 3}, 1e-7, 0);
  EXPECT_EQ(h.sum().item(), 21);
  // Non-contiguous input and a reduction of an empty dim.
  expect_exact(vals(h.t().sum(0)), {6, 15});
  expect_exact(vals(tg::zeros({0, 3}).sum(0)), {0, 0, 0});
  EXPECT_EQ(tg::zeros({0}).sum().item(), 0);
  EXPECT_TRUE(std::isnan(tg::zeros({0}).mean().item()));
  // A correction of at least the count: n - correction is clamped at 0 (as PyTorch).
  EXPECT_TRUE(std::isnan(tg::tensor({3}).var().item()));
  EXPECT_EQ(tg::tensor({1, 3}).var(Shape{}, 3).item(), kInf);
  EXPECT_EQ(tg::tensor({1, 3}).var(Shape{}, 2).item(), kInf);
  EXPECT_EQ(tg::tensor({1, 3}).var(Shape{}, 1).item(), 2);
  EXPECT_EQ(tg::tensor({1, 3}).var(Shape{}, 0).item(), 1);
  // A long sum stays accurate (float32, 1e6 ones plus fractions).
  EXPECT_NEAR(tg::full({1000000}, 0.1).sum().item(), 100000.0, 1.0);
}

TEST(OpsReduce, MaxMinArgmaxArgmin) {
  tg::manual_seed(4);
  const Shape shape{4, 3, 5};
  Tensor x = tg::randn(shape);
  const std::vector<double> xv = vals(x);
  EXPECT_EQ(x.max().dim(), 0);
  EXPECT_EQ(x.max().item(), ref_max(xv));
  EXPECT_EQ(x.min().item(), ref_min(xv));
  EXPECT_EQ(x.argmax().item(), ref_arg(xv, true));
  EXPECT_EQ(x.argmin().item(), ref_arg(xv, false));
  EXPECT_EQ(x.argmax().dtype(), tg::kInt64);
  EXPECT_EQ(x.argmax(std::nullopt, true).sizes(), (Shape{1, 1, 1}));
  for (int64_t dim : {0, 1, 2, -1, -2, -3}) {
    const int64_t w = dim < 0 ? dim + 3 : dim;
    for (bool keepdim : {false, true}) {
      Shape want_shape = shape;
      if (keepdim) want_shape[w] = 1;
      else want_shape.erase(want_shape.begin() + w);
      auto [mx, imx] = x.max(dim, keepdim);
      auto [mn, imn] = x.min(dim, keepdim);
      EXPECT_EQ(mx.sizes(), want_shape);
      EXPECT_EQ(imx.sizes(), want_shape);
      EXPECT_EQ(imx.dtype(), tg::kInt64);
      const std::string what = "dim " + std::to_string(dim);
      expect_exact(vals(mx), ref_reduce(xv, shape, {w}, ref_max), "max " + what);
      expect_exact(vals(mn), ref_reduce(xv, shape, {w}, ref_min), "min " + what);
      auto am = [](const std::vector<double>& g) { return ref_arg(g, true); };
      auto an = [](const std::vector<double>& g) { return ref_arg(g, false); };
      expect_exact(vals(imx), ref_reduce(xv, shape, {w}, am), "max indices " + what);
      expect_exact(vals(imn), ref_reduce(xv, shape, {w}, an), "min indices " + what);
      expect_exact(vals(x.argmax(dim, keepdim)), ref_reduce(xv, shape, {w}, am), "argmax " + what);
      expect_exact(vals(x.argmin(dim, keepdim)), ref_reduce(xv, shape, {w}, an), "argmin " + what);
    }
  }
  // amax/amin over several dims.
  expect_exact(vals(tg::amax(x, {0, 2})), ref_reduce(xv, shape, {0, 2}, ref_max), "amax");
  expect_exact(vals(tg::amin(x, {-1, 0}, true)), ref_reduce(xv, shape, {0, 2}, ref_min), "amin");
  EXPECT_EQ(tg::amin(x, {-1, 0}, true).sizes(), (Shape{1, 3, 1}));
  // Ties: the first occurrence.
  Tensor t = tg::tensor({1, 3, 3, 2});
  EXPECT_EQ(t.argmax().item<int64_t>(), 1);
  EXPECT_EQ(tg::tensor({2, 1, 5, 1}).argmin().item<int64_t>(), 1);
  Tensor t2 = tg::tensor({{1, 5, 5}, {7, 7, 0}, {4, 4, 4}});
  EXPECT_EQ(t2.argmax(1).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 0}));
  EXPECT_EQ(std::get<1>(t2.max(1)).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 0}));
  EXPECT_EQ(std::get<1>(t2.min(0)).to_vector<int64_t>(), (std::vector<int64_t>{0, 2, 1}));
  EXPECT_EQ(t2.argmax().item<int64_t>(), 3);
  EXPECT_EQ(t2.t().argmax().item<int64_t>(), 1);  // flattened order of the transposed view
  // Integer and bool inputs.
  EXPECT_EQ(i64({3, -9, 7, 7}).max().item<int64_t>(), 7);
  EXPECT_EQ(i64({3, -9, 7, 7}).argmax().item<int64_t>(), 2);
  EXPECT_EQ(i64({3, -9, 7, 7}).max().dtype(), tg::kInt64);
}

TEST(OpsReduce, NaNPropagatesInMaxMin) {
  Tensor x = tg::tensor({1, kNaN, 3, -kInf});
  EXPECT_TRUE(std::isnan(x.max().item()));
  EXPECT_TRUE(std::isnan(x.min().item()));
  EXPECT_EQ(x.argmax().item<int64_t>(), 1);
  EXPECT_EQ(x.argmin().item<int64_t>(), 1);
  auto [v, i] = x.max(0);
  EXPECT_TRUE(std::isnan(v.item()));
  EXPECT_EQ(i.item<int64_t>(), 1);
  Tensor m = tg::tensor({{1, 2, kNaN}, {4, 5, 6}, {kNaN, kNaN, 0}}, tg::kFloat64);
  auto [rv, ri] = m.max(1);
  std::vector<double> rvv = vals(rv);
  EXPECT_TRUE(std::isnan(rvv[0]));
  EXPECT_EQ(rvv[1], 6);
  EXPECT_TRUE(std::isnan(rvv[2]));
  EXPECT_EQ(ri.to_vector<int64_t>(), (std::vector<int64_t>{2, 2, 0}));
  std::vector<double> cmin = vals(tg::amin(m, {0}));
  EXPECT_TRUE(std::isnan(cmin[0]));
  EXPECT_TRUE(std::isnan(cmin[1]));
  EXPECT_TRUE(std::isnan(cmin[2]));
  EXPECT_EQ(tg::tensor({-kInf, -kInf}).max().item(), -kInf);
  EXPECT_EQ(tg::tensor({-kInf, -kInf}).argmax().item<int64_t>(), 0);
  // NaN at the end of a long row (past any vector block) is still found.
  Tensor big = tg::zeros({1000});
  big.select(0, 999).fill_(kNaN);
  EXPECT_TRUE(std::isnan(big.max().item()));
  EXPECT_EQ(big.argmax().item<int64_t>(), 999);
  EXPECT_EQ(big.argmin().item<int64_t>(), 999);
  EXPECT_TRUE(std::isnan(tg::sum(big).item()));
}

// ================================================================ matmul

TEST(OpsMatmul, TwoDimAllSizesFloat32) {
  tg::manual_seed(21);
  const int64_t sizes[] = {1, 7, 33, 130};
  for (int64_t m : sizes)
    for (int64_t k : sizes)
      for (int64_t n : sizes) {
        // Positive inputs: sum |a||b| is the result itself, so this is the plain relative error.
        Tensor a = tg::rand({m, k});
        Tensor b = tg::rand({k, n});
        Tensor c = a.matmul(b);
        ASSERT_EQ(c.sizes(), (Shape{m, n}));
        EXPECT_EQ(c.dtype(), tg::kFloat32);
        std::vector<double> scale;
        const std::vector<double> ref = ref_mm(vals(a), vals(b), m, k, n, &scale);
        expect_matmul_close(vals(c), ref, scale, 1e-5,
                            "[" + std::to_string(m) + "," + std::to_string(k) + "]@[" +
                                std::to_string(k) + "," + std::to_string(n) + "]");
      }
}

TEST(OpsMatmul, SignedInputsFloat32AndFloat64) {
  tg::manual_seed(22);
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {
    const double tol = dt == tg::kFloat32 ? 1e-5 : 1e-13;
    for (auto [m, k, n] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
             {130, 130, 130}, {7, 130, 33}, {33, 1, 7}, {1, 130, 1}, {64, 256, 65}}) {
      Tensor a = tg::randn({m, k}, dt);
      Tensor b = tg::randn({k, n}, dt);
      std::vector<double> scale;
      const std::vector<double> ref = ref_mm(vals(a), vals(b), m, k, n, &scale);
      Tensor c = tg::matmul(a, b);
      EXPECT_EQ(c.dtype(), dt);
      expect_matmul_close(vals(c), ref, scale, tol, std::string("signed ") + tg::dtype_name(dt));
    }
  }
}

TEST(OpsMatmul, AddmmAccumulatesOntoTheBias) {
  tg::manual_seed(23);
  for (auto [m, k, n] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {1, 1, 1}, {7, 33, 5}, {130, 64, 33}, {4, 0, 3}}) {
    Tensor a = tg::randn({m, k}, tg::kFloat64);
    Tensor w = tg::randn({n, k}, tg::kFloat64);
    Tensor bias = tg::randn({n}, tg::kFloat64);
    const std::vector<double> bias_before = vals(bias);
    std::vector<double> scale;
    std::vector<double> ref = ref_mm(vals(a), vals(w.t().contiguous()), m, k, n, &scale);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) ref[i * n + j] += bias_before[j];
    Tensor c = tg::addmm(bias, a, w.t());
    ASSERT_EQ(c.sizes(), (Shape{m, n}));
    expect_matmul_close(vals(c), ref, scale, 1e-13, "addmm");
    EXPECT_EQ(vals(bias), bias_before);  // the bias is read, never written
  }
  // A bias that is already the product's shape is copied, not overwritten.
  Tensor full = tg::ones({2, 2});
  Tensor c = tg::addmm(full, tg::eye(2), tg::full({2, 2}, 3.0));
  EXPECT_EQ(vals(c), (std::vector<double>{4, 4, 4, 4}));
  EXPECT_EQ(vals(full), (std::vector<double>{1, 1, 1, 1}));
  EXPECT_THROW(tg::addmm(tg::ones({3}), tg::ones({2, 4}), tg::ones({4, 2})), tg::Error);
  EXPECT_THROW(tg::addmm(tg::ones({2}), tg::ones({2, 4}), tg::ones({3, 2})), tg::Error);
  EXPECT_THROW(tg::addmm(tg::ones({2}), tg::ones({2, 2, 4}), tg::ones({4, 2})), tg::Error);
}

TEST(OpsMatmul, OneDimOperands) {
  Tensor v = tg::tensor({1, 2, 3});
  Tensor w = tg::tensor({4, -5, 6});
  Tensor dot = v.matmul(w);
  EXPECT_EQ(dot.dim(), 0);
  EXPECT_EQ(dot.item(), 12);
  Tensor m = tg::tensor({{1, 2}, {3, 4}, {5, 6}});  // [3, 2]
  Tensor vm = v.matmul(m);
  EXPECT_EQ(vm.sizes(), (Shape{2}));
  expect_exact(vals(vm), {22, 28});
  Tensor mv = m.t().matmul(v);
  EXPECT_EQ(mv.sizes(), (Shape{2}));
  expect_exact(vals(mv), {22, 28});
  Tensor mv2 = m.matmul(tg::tensor({1, -1}));
  EXPECT_EQ(mv2.sizes(), (Shape{3}));
  expect_exact(vals(mv2), {-1, -1, -1});
  // Batched matrix times a vector, and a vector times a batch.
  Tensor bm = tg::arange(12, tg::kFloat32).view({2, 3, 2});
  Tensor bmv = bm.matmul(tg::tensor({1, 1}));
  EXPECT_EQ(bmv.sizes(), (Shape{2, 3}));
  expect_exact(vals(bmv), {1, 5, 9, 13, 17, 21});
  Tensor vbm = tg::tensor({1, 0, -1}).matmul(bm);
  EXPECT_EQ(vbm.sizes(), (Shape{2, 2}));
  expect_exact(vals(vbm), {-4, -4, -4, -4});
  Tensor one = tg::tensor({2}).matmul(tg::tensor({3}));
  EXPECT_EQ(one.item(), 6);
}

TEST(OpsMatmul, BatchedAndBroadcastBatch) {
  tg::manual_seed(23);
  const int64_t M = 7, K = 33, N = 5;
  Tensor a = tg::randn({3, M, K});
  Tensor b = tg::randn({3, K, N});
  Tensor c = a.matmul(b);
  ASSERT_EQ(c.sizes(), (Shape{3, M, N}));
  const std::vector<double> av = vals(a), bv = vals(b), cv = vals(c);
  for (int64_t i = 0; i < 3; ++i) {
    std::vector<double> scale;
    std::vector<double> ref = ref_mm(av, bv, M, K, N, &scale, i * M * K, i * K * N);
    std::vector<double> got(cv.begin() + i * M * N, cv.begin() + (i + 1) * M * N);
    expect_matmul_close(got, ref, scale, 1e-5, "batch " + std::to_string(i));
  }
  // [2, 1, M, K] @ [3, K, N] -> [2, 3, M, N]
  Tensor a2 = tg::randn({2, 1, M, K});
  Tensor c2 = a2.matmul(b);
  ASSERT_EQ(c2.sizes(), (Shape{2, 3, M, N}));
  const std::vector<double> a2v = vals(a2), c2v = vals(c2);
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j) {
      std::vector<double> scale;
      std::vector<double> ref = ref_mm(a2v, bv, M, K, N, &scale, i * M * K, j * K * N);
      const size_t at = static_cast<size_t>((i * 3 + j) * M * N);
      std::vector<double> got(c2v.begin() + at, c2v.begin() + at + M * N);
      expect_matmul_close(got, ref, scale, 1e-5, "broadcast batch");
    }
  // Batched times one matrix: [3, M, K] @ [K, N]
  Tensor w = tg::randn({K, N});
  Tensor c3 = a.matmul(w);
  ASSERT_EQ(c3.sizes(), (Shape{3, M, N}));
  const std::vector<double> wv = vals(w), c3v = vals(c3);
  for (int64_t i = 0; i < 3; ++i) {
    std::vector<double> scale;
    std::vector<double> ref = ref_mm(av, wv, M, K, N, &scale, i * M * K, 0);
    std::vector<double> got(c3v.begin() + i * M * N, c3v.begin() + (i + 1) * M * N);
    expect_matmul_close(got, ref, scale, 1e-5, "batch @ matrix");
  }
  // One matrix times a batch: [M, K] @ [3, K, N]
  Tensor p = tg::randn({M, K});
  Tensor c4 = p.matmul(b);
  ASSERT_EQ(c4.sizes(), (Shape{3, M, N}));
  const std::vector<double> pv = vals(p), c4v = vals(c4);
  for (int64_t i = 0; i < 3; ++i) {
    std::vector<double> scale;
    std::vector<double> ref = ref_mm(pv, bv, M, K, N, &scale, 0, i * K * N);
    std::vector<double> got(c4v.begin() + i * M * N, c4v.begin() + (i + 1) * M * N);
    expect_matmul_close(got, ref, scale, 1e-5, "matrix @ batch");
  }
  // Empty batch and empty inner dim.
  EXPECT_EQ(tg::matmul(tg::zeros({0, 2, 3}), tg::zeros({0, 3, 4})).sizes(), (Shape{0, 2, 4}));
  Tensor e = tg::matmul(tg::ones({2, 0}), tg::ones({0, 3}));
  EXPECT_EQ(e.sizes(), (Shape{2, 3}));
  expect_exact(vals(e), std::vector<double>(6, 0.0));
}

TEST(OpsMatmul, TransposedAndSlicedViews) {
  tg::manual_seed(24);
  for (int64_t s : {1, 7, 33, 130}) {
    Tensor at = tg::randn({s + 3, s});  // used transposed: [s, s + 3]
    Tensor bt = tg::randn({9, s + 3});  // used transposed: [s + 3, 9]
    Tensor a = at.t(), b = bt.t();
    std::vector<double> scale;
    std::vector<double> ref = ref_mm(vals(a), vals(b), s, s + 3, 9, &scale);
    expect_matmul_close(vals(a.matmul(b)), ref, scale, 1e-5, "both transposed " + std::to_string(s));
    expect_matmul_close(vals(a.matmul(b.contiguous())), ref, scale, 1e-5, "a transposed");
    expect_matmul_close(vals(a.contiguous().matmul(b)), ref, scale, 1e-5, "b transposed");
    // Every other column of a wider matrix, and a row window with an offset.
    Tensor wide = tg::randn({s, 2 * (s + 3)});
    Tensor sa = wide.slice(1, 0, std::nullopt, 2);  // [s, s + 3], column stride 2
    ASSERT_FALSE(sa.is_contiguous());
    Tensor tall = tg::randn({s + 10, 9});
    Tensor sb = tall.narrow(0, 4, s + 3);
    std::vector<double> scale2;
    std::vector<double> ref2 = ref_mm(vals(sa), vals(sb), s, s + 3, 9, &scale2);
    expect_matmul_close(vals(sa.matmul(sb)), ref2, scale2, 1e-5, "sliced " + std::to_string(s));
    expect_matmul_close(vals(tg::matmul(sa, sb.t().contiguous().t())), ref2, scale2, 1e-5, "sliced 2");
  }
  // A batch of transposed matrices (permuted 3-D view).
  Tensor x = tg::randn({4, 6, 3});
  Tensor xt = x.transpose(1, 2);  // [4, 3, 6]
  Tensor y = tg::randn({4, 6, 5});
  Tensor z = xt.matmul(y);
  const std::vector<double> xtv = vals(xt), yv = vals(y), zv = vals(z);
  for (int64_t i = 0; i < 4; ++i) {
    std::vector<double> scale;
    std::vector<double> ref = ref_mm(xtv, yv, 3, 6, 5, &scale, i * 18, i * 30);
    std::vector<double> got(zv.begin() + i * 15, zv.begin() + (i + 1) * 15);
    expect_matmul_close(got, ref, scale, 1e-5, "batched transposed");
  }
  // Batch dim of a non-contiguous slice.
  Tensor big = tg::randn({6, 3, 4});
  Tensor every_other = big.slice(0, 0, std::nullopt, 2);  // [3, 3, 4]
  Tensor rhs = tg::randn({3, 4, 2});
  Tensor out = every_other.matmul(rhs);
  const std::vector<double> ev = vals(every_other), rv = vals(rhs), ov = vals(out);
  for (int64_t i = 0; i < 3; ++i) {
    std::vector<double> scale;
    std::vector<double> ref = ref_mm(ev, rv, 3, 4, 2, &scale, i * 12, i * 8);
    std::vector<double> got(ov.begin() + i * 6, ov.begin() + (i + 1) * 6);
    expect_matmul_close(got, ref, scale, 1e-5, "strided batch");
  }
  // An expanded (stride-0) operand.
  Tensor row = tg::randn({1, 5});
  Tensor ex = row.expand({4, 5});
  Tensor q = tg::randn({5, 3});
  std::vector<double> scale;
  std::vector<double> ref = ref_mm(vals(ex), vals(q), 4, 5, 3, &scale);
  expect_matmul_close(vals(ex.matmul(q)), ref, scale, 1e-5, "expanded");
}

// Attention's products: heads are [N, H, T, d] views of an [N, T, 3E] buffer (q, k and v side
// by side), whose (N, H) batch dims have no single stride. They are read in place (two batch
// levels), so the product allocates what the same product of contiguous inputs does: its result.
TEST(OpsMatmul, HeadViewsAreReadInPlaceWithTwoBatchLevels) {
  tg::manual_seed(25);
  const int64_t N = 3, T = 5, H = 4, d = 6, E = H * d;
  Tensor qkv = tg::randn({N, T, 3 * E});
  auto heads = [&](int64_t which) {
    return qkv.narrow(2, which * E, E).view({N, T, H, d}).permute({0, 2, 1, 3});
  };
  Tensor q = heads(0), kt = heads(1).transpose(-2, -1), v = heads(2);
  Tensor w = tg::softmax(tg::randn({N, H, T, T}), -1);
  struct Case {
    const char* what;
    Tensor a, b;
    int64_t m, k, n;
  };
  for (const Case& c : {Case{"q @ k^T", q, kt, T, d, T}, Case{"weights @ v", w, v, T, T, d},
                        Case{"k^T @ weights", kt, w, d, T, T}}) {
    const Tensor ac = c.a.contiguous(), bc = c.b.contiguous();
    tg::reset_peak_memory_stats();
    const int64_t before = tg::memory_stats().allocated_bytes;
    Tensor dense = tg::matmul(ac, bc);
    const int64_t dense_bytes = tg::memory_stats().peak_allocated_bytes - before;
    dense = Tensor();
    tg::reset_peak_memory_stats();
    Tensor got = tg::matmul(c.a, c.b);
    EXPECT_EQ(tg::memory_stats().peak_allocated_bytes - before, dense_bytes)
        << c.what << ": the views were copied";
    ASSERT_EQ(got.sizes(), (Shape{N, H, c.m, c.n})) << c.what;
    const std::vector<double> av = vals(ac), bv = vals(bc), gv = vals(got);
    for (int64_t i = 0; i < N * H; ++i) {
      std::vector<double> scale;
      const std::vector<double> ref = ref_mm(av, bv, c.m, c.k, c.n, &scale,
                                             size_t(i * c.m * c.k), size_t(i * c.k * c.n));
      const std::vector<double> item(gv.begin() + i * c.m * c.n, gv.begin() + (i + 1) * c.m * c.n);
      expect_matmul_close(item, ref, scale, 1e-5, std::string(c.what) + " item " + std::to_string(i));
    }
  }
  // Five dims whose only split is after the second ([2, 3] outer, [4] inner), and a batch
  // broadcast over the outer level ([1, H] against [N, H]).
  Tensor base = tg::randn({2, 7, 3, 4, 5});             // [A, M, B, C, K]
  Tensor a5 = base.permute({0, 2, 3, 1, 4});            // [A, B, C, M, K]
  Tensor b5 = tg::randn({2, 3, 4, 5, 2});
  Tensor per_head = tg::randn({1, H, d, 3});
  for (auto [what, a, b] : std::vector<std::tuple<std::string, Tensor, Tensor>>{
           {"5-D", a5, b5}, {"broadcast outer", q, per_head}}) {
    Tensor got = tg::matmul(a, b);
    Tensor want = tg::matmul(a.contiguous().to(tg::kFloat64),
                             b.expand(got.sizes().size() == 5 ? b.sizes() : Shape{N, H, d, 3})
                                 .contiguous()
                                 .to(tg::kFloat64));
    ASSERT_EQ(got.sizes(), want.sizes()) << what;
    const std::vector<double> gv = vals(got), wv = vals(want);
    for (size_t i = 0; i < gv.size(); ++i)
      ASSERT_NEAR(gv[i], wv[i], 1e-5 * (1 + std::abs(wv[i]))) << what << " element " << i;
  }
}

// ================================================================ softmax

TEST(OpsSoftmax, EveryDimMatchesFloat64Reference) {
  tg::manual_seed(31);
  const Shape shape{3, 4, 5};
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {
    // float32: x - max is rounded to float before exp (|x - max| up to ~25: ~1e-6 relative).
    const double tol = dt == tg::kFloat32 ? 4e-6 : 1e-14;
    Tensor x = tg::randn(shape, dt) * 3.0;
    const std::vector<double> xv = vals(x);
    for (int64_t dim : {0, 1, 2, -1, -2, -3}) {
      const int64_t w = dim < 0 ? dim + 3 : dim;
      const std::string what = std::string(tg::dtype_name(dt)) + " dim " + std::to_string(dim);
      Tensor s = x.softmax(dim);
      EXPECT_EQ(s.dtype(), dt);
      EXPECT_EQ(s.sizes(), shape);
      const std::vector<double> sv = vals(s);
      expect_close(sv, ref_softmax(xv, shape, w, false), tol, tol * 0.1, "softmax " + what);
      expect_close(vals(x.log_softmax(dim)), ref_softmax(xv, shape, w, true), tol, tol,
                   "log_softmax " + what);
      std::vector<double> ones(static_cast<size_t>(60 / shape[w]), 1.0);
      expect_close(ref_reduce(sv, shape, {w}, ref_sum), ones, 0, 4 * tol, "rows sum to 1, " + what);
    }
    // A non-contiguous input.
    Tensor xt = x.transpose(0, 2);  // [5, 4, 3]
    const std::vector<double> xtv = vals(xt);
    for (int64_t dim : {0, 1, 2})
      expect_close(vals(xt.softmax(dim)), ref_softmax(xtv, {5, 4, 3}, dim, false), tol, tol * 0.1,
                   "transposed softmax");
    // Long rows.
    Tensor l = tg::randn({3, 1000}, dt);
    expect_close(vals(tg::log_softmax(l, 1)), ref_softmax(vals(l), {3, 1000}, 1, true), tol, tol,
                 "long rows");
  }
}

TEST(OpsSoftmax, StableAtLargeMagnitudes) {
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {
    const double tol = dt == tg::kFloat32 ? 2e-6 : 1e-14;
    Tensor x = tg::tensor({{1e4, 1e4 - 1, -1e4}, {-1e4, -1e4, -1e4}, {1e4, 1e4, 1e4}}, dt);
    const std::vector<double> xv = vals(x);
    const std::vector<double> s = vals(x.softmax(1));
    const std::vector<double> ls = vals(x.log_softmax(1));
    for (double v : s) EXPECT_TRUE(std::isfinite(v));
    for (double v : ls) EXPECT_TRUE(std::isfinite(v));
    expect_close(s, ref_softmax(xv, {3, 3}, 1, false), tol, 1e-30, "softmax at 1e4");
    expect_close(ls, ref_softmax(xv, {3, 3}, 1, true), tol, tol, "log_softmax at 1e4");
    const double l1 = std::log1p(std::exp(-1.0));
    EXPECT_NEAR(s[0], 1 / (1 + std::exp(-1.0)), tol);
    EXPECT_NEAR(ls[1], -1 - l1, 4 * tol);
    EXPECT_NEAR(ls[2], -2e4 - l1, 2e4 * tol);
    EXPECT_NEAR(s[4], 1.0 / 3, tol);
    // -inf entries get probability 0; a 0-dim softmax is 1.
    std::vector<double> m = vals(tg::tensor({0, -kInf, 0}, dt).softmax(0));
    expect_close(m, {0.5, 0, 0.5}, tol, 0, "masked");
    EXPECT_EQ(tg::scalar_tensor(5).softmax(0).item(), 1);
    EXPECT_EQ(tg::scalar_tensor(5).log_softmax(0).item(), 0);
  }
}

// ================================================================ cat / stack / split / chunk

TEST(OpsJoinSplit, CatAndStack) {
  Tensor a = tg::tensor({{1, 2}, {3, 4}});
  Tensor b = tg::tensor({{5, 6}});
  Tensor c0 = tg::cat({a, b});
  EXPECT_EQ(c0.sizes(), (Shape{3, 2}));
  expect_exact(vals(c0), {1, 2, 3, 4, 5, 6});
  Tensor c1 = tg::cat({a, a.t()}, 1);
  EXPECT_EQ(c1.sizes(), (Shape{2, 4}));
  expect_exact(vals(c1), {1, 2, 1, 3, 3, 4, 2, 4});
  Tensor cm = tg::cat({a, tg::zeros({2, 1}), a}, -1);
  EXPECT_EQ(cm.sizes(), (Shape{2, 5}));
  expect_exact(vals(cm), {1, 2, 0, 1, 2, 3, 4, 0, 3, 4});
  Tensor cd = tg::cat({i64({1, 2}), tg::tensor({0.5})});
  EXPECT_EQ(cd.dtype(), tg::kFloat32);
  expect_exact(vals(cd), {1, 2, 0.5});
  EXPECT_EQ(tg::cat({a, tg::zeros({0, 2})}).sizes(), (Shape{2, 2}));
  EXPECT_EQ(tg::cat({tg::zeros({0}), a}).sizes(), (Shape{2, 2}));  // legacy 1-D empty skipped
  EXPECT_NE(tg::cat({a}).storage(), a.storage());
  Tensor s0 = tg::stack({tg::tensor({1, 2, 3}), tg::tensor({4, 5, 6})});
  EXPECT_EQ(s0.sizes(), (Shape{2, 3}));
  expect_exact(vals(s0), {1, 2, 3, 4, 5, 6});
  Tensor s1 = tg::stack({tg::tensor({1, 2, 3}), tg::tensor({4, 5, 6})}, 1);
  EXPECT_EQ(s1.sizes(), (Shape{3, 2}));
  expect_exact(vals(s1), {1, 4, 2, 5, 3, 6});
  Tensor sm = tg::stack({a, a * 10.0, a * 100.0}, -1);
  EXPECT_EQ(sm.sizes(), (Shape{2, 2, 3}));
  expect_exact(vals(sm), {1, 10, 100, 2, 20, 200, 3, 30, 300, 4, 40, 400});
  Tensor ss = tg::stack({tg::scalar_tensor(1), tg::scalar_tensor(2)});
  EXPECT_EQ(ss.sizes(), (Shape{2}));
  expect_exact(vals(ss), {1, 2});
}

TEST(OpsJoinSplit, SplitAndChunk) {
  Tensor x = tg::arange(10, tg::kFloat32).view({5, 2});
  std::vector<Tensor> s = tg::split(x, 2);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].sizes(), (Shape{2, 2}));
  EXPECT_EQ(s[2].sizes(), (Shape{1, 2}));
  expect_exact(vals(s[2]), {8, 9});
  EXPECT_EQ(s[1].storage(), x.storage());
  std::vector<Tensor> s2 = x.split(1, 1);
  ASSERT_EQ(s2.size(), 2u);
  expect_exact(vals(s2[1]), {1, 3, 5, 7, 9});
  std::vector<Tensor> sz = tg::split(x, std::vector<int64_t>{1, 0, 4});
  ASSERT_EQ(sz.size(), 3u);
  EXPECT_EQ(sz[1].sizes(), (Shape{0, 2}));
  expect_exact(vals(sz[2]), {2, 3, 4, 5, 6, 7, 8, 9});
  EXPECT_EQ(tg::split(x, 7).size(), 1u);
  // chunk: ceil(size / chunks) per chunk, so fewer chunks can come back.
  Tensor v = tg::arange(5, tg::kFloat32);
  std::vector<Tensor> c = v.chunk(3);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].numel(), 2);
  EXPECT_EQ(c[1].numel(), 2);
  EXPECT_EQ(c[2].numel(), 1);
  expect_exact(vals(c[2]), {4});
  std::vector<Tensor> c6 = tg::chunk(tg::arange(6, tg::kFloat32), 4);
  ASSERT_EQ(c6.size(), 3u);
  for (const Tensor& t : c6) EXPECT_EQ(t.numel(), 2);
  std::vector<Tensor> c10 = tg::chunk(tg::arange(2, tg::kFloat32), 5);
  ASSERT_EQ(c10.size(), 2u);
  std::vector<Tensor> cc = x.chunk(2, -1);
  ASSERT_EQ(cc.size(), 2u);
  expect_exact(vals(cc[0]), {0, 2, 4, 6, 8});
  // cat undoes split.
  expect_exact(vals(tg::cat(tg::split(x, 2))), vals(x));
}

// ================================================================ indexing

TEST(OpsIndex, IndexSelectGatherScatterAdd) {
  Tensor x = tg::arange(12, tg::kFloat32).view({3, 4});
  Tensor r = x.index_select(0, i64({2, 0, 2}));
  EXPECT_EQ(r.sizes(), (Shape{3, 4}));
  expect_exact(vals(r), {8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11});
  Tensor c = x.index_select(1, i64({3, 1}));
  EXPECT_EQ(c.sizes(), (Shape{3, 2}));
  expect_exact(vals(c), {3, 1, 7, 5, 11, 9});
  expect_exact(vals(x.index_select(-1, i64({0}))), {0, 4, 8});
  EXPECT_EQ(x.index_select(0, i64({})).sizes(), (Shape{0, 4}));
  Tensor s0 = x.index_select(0, tg::tensor(std::vector<int64_t>{1}, Shape{}));
  EXPECT_EQ(s0.sizes(), (Shape{1, 4}));
  expect_exact(vals(x.t().index_select(0, i64({1}))), {1, 5, 9});
  // gather (the PyTorch documentation example).
  Tensor t = tg::tensor({{1, 2}, {3, 4}});
  Tensor g = t.gather(1, i64({0, 0, 1, 0}, {2, 2}));
  expect_exact(vals(g), {1, 1, 4, 3});
  expect_exact(vals(t.gather(0, i64({1, 0, 0, 1}, {2, 2}))), {3, 2, 1, 4});
  Tensor gs = x.gather(1, i64({3, 2, 1}, {3, 1}));  // index smaller than the input
  EXPECT_EQ(gs.sizes(), (Shape{3, 1}));
  expect_exact(vals(gs), {3, 6, 9});
  // scatter_add (the PyTorch documentation examples); the base is not modified.
  Tensor src = tg::ones({2, 5});
  Tensor base = tg::zeros({3, 5});
  Tensor sa = base.scatter_add(0, i64({0, 1, 2, 0, 0}, {1, 5}), src);
  expect_exact(vals(sa), {1, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0});
  Tensor sb = base.scatter_add(0, i64({0, 1, 2, 0, 0, 0, 1, 2, 2, 2}, {2, 5}), src);
  expect_exact(vals(sb), {2, 0, 0, 1, 1, 0, 2, 0, 0, 0, 0, 0, 2, 1, 1});
  expect_exact(vals(base), std::vector<double>(15, 0.0));
  Tensor sc = tg::scatter_add(tg::zeros({2, 3}), 1, i64({2, 2, 0, 1}, {2, 2}), tg::tensor({{1, 2}, {3, 4}}));
  expect_exact(vals(sc), {0, 0, 3, 3, 4, 0});
  // Non-contiguous index, source and base.
  Tensor idx = i64({0, 9, 2, 9, 1, 9}).slice(0, 0, 6, 2);  // [0, 2, 1], stride 2
  expect_exact(vals(x.index_select(0, idx)), {0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7});
  Tensor gidx = i64({1, 0, 2, 2}, {2, 2}).t();  // [[1, 2], [0, 2]]
  expect_exact(vals(x.gather(1, gidx)), {1, 2, 4, 6});
  Tensor sbase = tg::zeros({3, 2}).t();  // [2, 3]
  Tensor ssrc = tg::tensor({{1, 2}, {3, 4}}).t();  // [[1, 3], [2, 4]]
  expect_exact(vals(sbase.scatter_add(1, gidx, ssrc)), {0, 1, 3, 2, 0, 4});
  expect_exact(vals(tg::embedding(x.t(), i64({3, 0}))), {3, 7, 11, 0, 4, 8});
}

TEST(OpsIndex, MaskedFillWhereEmbedding) {
  Tensor x = tg::arange(6, tg::kFloat32).view({2, 3});
  Tensor mask = tg::tensor({1, 0, 1}, tg::kBool);
  Tensor mf = x.masked_fill(mask, -1);
  expect_exact(vals(mf), {-1, 1, -1, -1, 4, -1});
  expect_exact(vals(x), {0, 1, 2, 3, 4, 5});
  expect_exact(vals(x.masked_fill(x > 2.5, kInf)), {0, 1, 2, kInf, kInf, kInf});
  Tensor mi = i64({1, 2, 3}).masked_fill(tg::tensor({0, 1, 0}, tg::kBool), 9);
  EXPECT_EQ(mi.dtype(), tg::kInt64);
  EXPECT_EQ(mi.to_vector<int64_t>(), (std::vector<int64_t>{1, 9, 3}));
  // The fill value is cast to the tensor's dtype, which the result keeps.
  Tensor mt = i64({1, 2, 3}).masked_fill(tg::tensor({1, 0, 1}, tg::kBool), 1.5);
  EXPECT_EQ(mt.dtype(), tg::kInt64);
  EXPECT_EQ(mt.to_vector<int64_t>(), (std::vector<int64_t>{1, 2, 1}));
  Tensor w = tg::where(x > 2, x, tg::zeros({1}));
  expect_exact(vals(w), {0, 0, 0, 3, 4, 5});
  Tensor w2 = tg::where(tg::tensor({1, 0}, tg::kBool).view({2, 1}), tg::tensor({1, 2, 3}), tg::tensor({-1, -2, -3}));
  EXPECT_EQ(w2.sizes(), (Shape{2, 3}));
  expect_exact(vals(w2), {1, 2, 3, -1, -2, -3});
  expect_exact(vals(tg::where(x < 2, x, 10.0)), {0, 1, 10, 10, 10, 10});
  Tensor wd = tg::where(x > 2, x, tg::zeros({2, 3}, tg::kFloat64));
  EXPECT_EQ(wd.dtype(), tg::kFloat64);
  // embedding: rows of the weight, shape indices + [dim].
  Tensor weight = tg::arange(12, tg::kFloat32).view({4, 3});
  Tensor e = tg::embedding(weight, i64({0, 2, 3, 3}, {2, 2}));
  EXPECT_EQ(e.sizes(), (Shape{2, 2, 3}));
  expect_exact(vals(e), {0, 1, 2, 6, 7, 8, 9, 10, 11, 9, 10, 11});
  Tensor e1 = tg::embedding(weight, tg::tensor(std::vector<int64_t>{1}, Shape{}));
  EXPECT_EQ(e1.sizes(), (Shape{3}));
  expect_exact(vals(e1), {3, 4, 5});
  EXPECT_EQ(tg::embedding(weight, i64({})).sizes(), (Shape{0, 3}));
}

// ================================================================ in place

TEST(TensorInPlace, OpsWriteValuesAndBumpVersion) {
  Tensor x = tg::tensor({1, 2, 3});
  uint64_t v = x.version();
  auto bumped = [&](const char* what) {
    EXPECT_GT(x.version(), v) << what;
    v = x.version();
  };
  x.add_(tg::tensor({1, 1, 1}));
  bumped("add_");
  expect_exact(vals(x), {2, 3, 4});
  x.add_(tg::tensor({1, 2, 3}), 2.0);
  bumped("add_ alpha");
  expect_exact(vals(x), {4, 7, 10});
  x.sub_(tg::tensor({1, 1, 1}));
  bumped("sub_");
  expect_exact(vals(x), {3, 6, 9});
  x.sub_(tg::tensor({1, 2, 3}), 0.5);
  bumped("sub_ alpha");
  expect_exact(vals(x), {2.5, 5, 7.5});
  x.mul_(tg::tensor({2, 2, 2}));
  bumped("mul_");
  expect_exact(vals(x), {5, 10, 15});
  x.mul_(0.2);
  bumped("mul_ scalar");
  expect_close(vals(x), {1, 2, 3}, 1e-7, 0);
  x.div_(tg::tensor({4, 4, 4}));
  bumped("div_");
  expect_close(vals(x), {0.25, 0.5, 0.75}, 1e-7, 0);
  x.add_(1.0);
  bumped("add_ scalar");
  x.zero_();
  bumped("zero_");
  expect_exact(vals(x), {0, 0, 0});
  x.fill_(2.5);
  bumped("fill_");
  expect_exact(vals(x), {2.5, 2.5, 2.5});
  x.copy_(tg::tensor({7, 8, 9}));
  bumped("copy_");
  expect_exact(vals(x), {7, 8, 9});
  x += tg::tensor({1, 1, 1});
  bumped("+=");
  x -= tg::tensor({1, 1, 1});
  bumped("-=");
  x *= tg::tensor({2, 2, 2});
  bumped("*=");
  x /= tg::tensor({2, 2, 2});
  bumped("/=");
  x += 1.0;
  bumped("+= scalar");
  x *= 2.0;
  bumped("*= scalar");
  expect_exact(vals(x), {16, 18, 20});
  // In-place results keep the handle and broadcast the other operand.
  Tensor m = tg::ones({2, 3});
  const Tensor& same = m.add_(tg::tensor({1, 2, 3}));
  EXPECT_TRUE(same.is_same(m));
  expect_exact(vals(m), {2, 3, 4, 2, 3, 4});
  m.mul_(tg::tensor({2, 3}).view({2, 1}));
  expect_exact(vals(m), {4, 6, 8, 6, 9, 12});
  m.div_(tg::scalar_tensor(2));
  expect_exact(vals(m), {2, 3, 4, 3, 4.5, 6});
  // In place through a non-contiguous view.
  Tensor base = tg::zeros({3, 3});
  base.t().select(0, 1).add_(tg::tensor({1, 2, 3}));  // column 1
  expect_exact(vals(base), {0, 1, 0, 0, 2, 0, 0, 3, 0});
  // Self-overlapping arguments read the old values.
  Tensor ov = tg::tensor({1, 2, 3, 4});
  ov.slice(0, 1, 4).add_(ov.slice(0, 0, 3));
  expect_exact(vals(ov), {1, 3, 5, 7});
  Tensor ov2 = tg::tensor({1, 2, 3, 4});
  ov2.slice(0, 0, 3).copy_(ov2.slice(0, 1, 4));
  expect_exact(vals(ov2), {2, 3, 4, 4});
  // Integer tensors in place.
  Tensor it = i64({1, 2});
  it.add_(i64({5, 5}));
  it.mul_(3.0);
  EXPECT_EQ(it.to_vector<int64_t>(), (std::vector<int64_t>{18, 21}));
}

TEST(TensorInPlace, CopyBroadcastsAndConvertsDtype) {
  Tensor d = tg::zeros({2, 3});
  uint64_t v = d.version();
  d.copy_(tg::tensor({1, 2, 3}));
  EXPECT_GT(d.version(), v);
  expect_exact(vals(d), {1, 2, 3, 1, 2, 3});
  d.copy_(tg::scalar_tensor(4));
  expect_exact(vals(d), std::vector<double>(6, 4));
  d.copy_(tg::tensor(std::vector<double>{5, 6}, Shape{2, 1}, tg::kFloat64));
  EXPECT_EQ(d.dtype(), tg::kFloat32);
  expect_exact(vals(d), {5, 5, 5, 6, 6, 6});
  d.copy_(tg::tensor({0.1, 0.2, 0.3}, tg::kFloat64));
  EXPECT_EQ(vals(d)[0], static_cast<double>(0.1f));
  d.copy_(i64({7, 8, 9, 10, 11, 12}, {2, 3}));
  expect_exact(vals(d), {7, 8, 9, 10, 11, 12});
  Tensor i = tg::zeros({4}, tg::kInt64);
  i.copy_(tg::tensor({-2.7, -0.2, 0.9, 3.99}));
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{-2, 0, 0, 3}));
  Tensor b = tg::zeros({3}, tg::kBool);
  b.copy_(tg::tensor({0, 2.5, -1}));
  EXPECT_EQ(b.to_vector<bool>(), (std::vector<bool>{false, true, true}));
  // copy_ into a transposed view.
  Tensor base = tg::zeros({2, 3});
  base.t().copy_(tg::tensor({{1, 2}, {3, 4}, {5, 6}}));
  expect_exact(vals(base), {1, 3, 5, 2, 4, 6});
  // Into an empty tensor: nothing to do.
  tg::zeros({0, 3}).copy_(tg::ones({3}));
}

// ================================================================ item / to_vector

TEST(TensorItem, ItemAndToVector) {
  EXPECT_EQ(tg::scalar_tensor(3.25).item(), 3.25);
  EXPECT_EQ(tg::tensor({7}).item(), 7);
  EXPECT_EQ(tg::tensor(std::vector<double>{-2}, Shape{1, 1}).item(), -2);
  EXPECT_EQ(tg::tensor({1}, tg::kBool).item<bool>(), true);
  EXPECT_EQ(tg::tensor({0.1}).item<float>(), 0.1f);
  Tensor x = tg::tensor({{1.5, 2.5}, {3.5, 4.5}});
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{1.5f, 2.5f, 3.5f, 4.5f}));
  EXPECT_EQ(x.t().to_vector<double>(), (std::vector<double>{1.5, 3.5, 2.5, 4.5}));
  EXPECT_EQ(x.to_vector<int64_t>(), (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(x.select(1, 1).select(0, 0).item(), 2.5);
  EXPECT_EQ(x.select(0, 1).select(0, 0).item(), 3.5);
  EXPECT_TRUE(tg::zeros({0}).to_vector<float>().empty());
  float* p = x.data_ptr<float>();
  EXPECT_EQ(p[3], 4.5f);
}

// ================================================================ printing

TEST(TensorPrint, SmallFloatTensorsLikePyTorch) {
  EXPECT_EQ(tg::tensor({{1.5, -2.0}, {3.0, 4.25}}).str(),
            "tensor([[ 1.5000, -2.0000],\n        [ 3.0000,  4.2500]])");
  EXPECT_EQ(tg::tensor({1, 2, 3}).str(), "tensor([1., 2., 3.])");
  EXPECT_EQ(tg::tensor({1, -2, 30}).str(), "tensor([ 1., -2., 30.])");
  EXPECT_EQ(tg::tensor({0.5, 0.25}).str(), "tensor([0.5000, 0.2500])");
  EXPECT_EQ(tg::tensor({0.1}).str(), "tensor([0.1000])");
  EXPECT_EQ(tg::tensor({123.456, -0.5}).str(), "tensor([123.4560,  -0.5000])");
  EXPECT_EQ(tg::scalar_tensor(3.5).str(), "tensor(3.5000)");
  EXPECT_EQ(tg::scalar_tensor(-2).str(), "tensor(-2.)");
  EXPECT_EQ(tg::zeros({2}).str(), "tensor([0., 0.])");
  EXPECT_EQ(tg::zeros({2, 2}).str(), "tensor([[0., 0.],\n        [0., 0.]])");
  std::ostringstream os;
  os << tg::tensor({1, 2});
  EXPECT_EQ(os.str(), "tensor([1., 2.])");
}

TEST(TensorPrint, IntegerBoolAndDtypeSuffix) {
  EXPECT_EQ(i64({1, 2, 3}).str(), "tensor([1, 2, 3])");
  EXPECT_EQ(i64({-1, 100}).str(), "tensor([ -1, 100])");
  EXPECT_EQ(tg::arange(8).view({2, 2, 2}).str(),
            "tensor([[[0, 1],\n         [2, 3]],\n\n        [[4, 5],\n         [6, 7]]])");
  EXPECT_EQ(tg::scalar_tensor(7, tg::kInt64).str(), "tensor(7)");
  // int64 values print exactly, also beyond 2^53.
  EXPECT_EQ(i64({9007199254740993LL, -9223372036854775807LL - 1}).str(),
            "tensor([    9007199254740993, -9223372036854775808])");
  EXPECT_EQ(tg::tensor({1, 0, 1}, tg::kBool).str(), "tensor([ True, False,  True])");
  EXPECT_EQ(tg::tensor({1.5, 2}, tg::kFloat64).str(), "tensor([1.5000, 2.0000], dtype=float64)");
  EXPECT_EQ(tg::tensor({1, 2}, tg::kFloat64).str(), "tensor([1., 2.], dtype=float64)");
  EXPECT_EQ(tg::scalar_tensor(0.5, tg::kFloat64).str(), "tensor(0.5000, dtype=float64)");
}

TEST(TensorPrint, AutogradSuffixes) {
  Tensor x = tg::tensor({1, 2}, tg::TensorOptions().requires_grad());
  EXPECT_EQ(x.str(), "tensor([1., 2.], requires_grad=True)");
  Tensor y = x * x;
  EXPECT_EQ(y.str(), "tensor([1., 4.], grad_fn=<MulBackward>)");
  EXPECT_EQ((x * 2.0).str(), "tensor([2., 4.], grad_fn=<MulBackward>)");
  EXPECT_EQ(x.sum().str(), "tensor(3., grad_fn=<SumBackward>)");
  EXPECT_EQ(tg::log_softmax(x, 0).grad_fn() != nullptr, true);
  EXPECT_EQ(x.detach().str(), "tensor([1., 2.])");
  Tensor d = tg::tensor({0.5}, tg::TensorOptions(tg::kFloat64).requires_grad());
  EXPECT_EQ(d.str(), "tensor([0.5000], dtype=float64, requires_grad=True)");
  {
    tg::NoGradGuard guard;
    EXPECT_EQ((x * x).str(), "tensor([1., 4.])");
  }
}

TEST(TensorPrint, ScientificAndNonFinite) {
  EXPECT_EQ(tg::tensor({1e-5, 1.0}).str(), "tensor([1.0000e-05, 1.0000e+00])");
  EXPECT_EQ(tg::tensor({1.5, 1e9}).str(), "tensor([1.5000e+00, 1.0000e+09])");
  // Integral values also switch to scientific when max / min > 1000 (PyTorch's int mode rule).
  EXPECT_EQ(tg::tensor({1, 2000}).str(), "tensor([1.0000e+00, 2.0000e+03])");
  EXPECT_EQ(tg::tensor({1, 1000}).str(), "tensor([   1., 1000.])");
  EXPECT_EQ(tg::tensor({1e10}).str(), "tensor([1.0000e+10])");
  EXPECT_EQ(tg::tensor({0, 1e-5}).str(), "tensor([0.0000e+00, 1.0000e-05])");
  // Widths come from the finite nonzero values only.
  EXPECT_EQ(tg::tensor({1.5, kNaN}).str(), "tensor([1.5000,    nan])");
  EXPECT_EQ(tg::tensor({1, -kInf}).str(), "tensor([1., -inf])");
  EXPECT_EQ(tg::tensor({kNaN, kInf, -kInf}).str(), "tensor([nan, inf, -inf])");
  EXPECT_EQ(tg::tensor({-kInf, 0, kNaN}).str(), "tensor([-inf, 0., nan])");
  EXPECT_EQ(tg::tensor({0.5, kInf}).str(), "tensor([0.5000,    inf])");
}

TEST(TensorPrint, ViewsAndBoolScalars) {
  Tensor m = tg::tensor({{1, 2, 3}, {4, 5, 6}});
  EXPECT_EQ(m.t().str(), "tensor([[1., 4.],\n        [2., 5.],\n        [3., 6.]])");
  EXPECT_EQ(m.select(1, 2).str(), "tensor([3., 6.])");
  EXPECT_EQ(m.slice(1, 0, 3, 2).str(), "tensor([[1., 3.],\n        [4., 6.]])");
  EXPECT_EQ(tg::scalar_tensor(1, tg::kBool).str(), "tensor(True)");
  EXPECT_EQ(tg::tensor({-0.0}).str(), "tensor([-0.])");
  EXPECT_EQ(tg::scalar_tensor(0.5).expand({3}).str(), "tensor([0.5000, 0.5000, 0.5000])");
}

TEST(TensorPrint, EmptyTensors) {
  EXPECT_EQ(tg::zeros({0}).str(), "tensor([])");
  EXPECT_EQ(tg::zeros({0, 3}).str(), "tensor([], size=(0, 3))");
  EXPECT_EQ(tg::zeros({2, 0, 1}).str(), "tensor([], size=(2, 0, 1))");
  // No values to infer the dtype from: every dtype but float32 is shown.
  EXPECT_EQ(tg::zeros({0}, tg::kInt64).str(), "tensor([], dtype=int64)");
  EXPECT_EQ(tg::zeros({0}, tg::kFloat64).str(), "tensor([], dtype=float64)");
}

TEST(TensorPrint, LineWrapping) {
  // 1-D: (80 - 7) / (6 + 2) = 9 elements per line.
  EXPECT_EQ(tg::linspace(0.5, 9.5, 10).str(),
            "tensor([0.5000, 1.5000, 2.5000, 3.5000, 4.5000, 5.5000, 6.5000, 7.5000, 8.5000,\n"
            "        9.5000])");
  // 2-D rows: (80 - 8) / 8 = 9 elements per line, so rows of 9 do not wrap.
  std::vector<double> v;
  for (int i = 1; i <= 18; ++i) v.push_back(0.25 * i);
  EXPECT_EQ(tg::tensor(v, Shape{2, 9}).str(),
            "tensor([[0.2500, 0.5000, 0.7500, 1.0000, 1.2500, 1.5000, 1.7500, 2.0000, 2.2500],\n"
            "        [2.5000, 2.7500, 3.0000, 3.2500, 3.5000, 3.7500, 4.0000, 4.2500, 4.5000]])");
  // Rows of 10 wrap after 9 with the continuation indented one past the row's bracket.
  std::vector<double> w;
  for (int i = 1; i <= 20; ++i) w.push_back(0.25 * i);
  EXPECT_EQ(tg::tensor(w, Shape{2, 10}).str(),
            "tensor([[0.2500, 0.5000, 0.7500, 1.0000, 1.2500, 1.5000, 1.7500, 2.0000, 2.2500,\n"
            "         2.5000],\n"
            "        [2.7500, 3.0000, 3.2500, 3.5000, 3.7500, 4.0000, 4.2500, 4.5000, 4.7500,\n"
            "         5.0000]])");
  // A suffix that does not fit on the last line goes on its own line.
  EXPECT_EQ(tg::linspace(0.5, 8.5, 9, tg::kFloat64).str(),
            "tensor([0.5000, 1.5000, 2.5000, 3.5000, 4.5000, 5.5000, 6.5000, 7.5000, 8.5000],\n"
            "       dtype=float64)");
}

TEST(TensorPrint, SummarizedAboveThreshold) {
  // 1000 elements are printed in full, 1001 are summarized.
  const std::string full = tg::zeros({1000}).str();
  EXPECT_EQ(full.find("..."), std::string::npos);
  EXPECT_EQ(tg::zeros({2000}).str(), "tensor([0., 0., 0.,  ..., 0., 0., 0.], size=(2000,))");
  EXPECT_EQ(tg::arange(2000.0, tg::kFloat32).str(),
            "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n"
            "        1.9990e+03], size=(2000,))");
  EXPECT_EQ(tg::arange(1001).str(), "tensor([   0,    1,    2,  ...,  998,  999, 1000], size=(1001,))");
  EXPECT_EQ(tg::zeros({100, 100}).str(),
            "tensor([[0., 0., 0.,  ..., 0., 0., 0.],\n"
            "        [0., 0., 0.,  ..., 0., 0., 0.],\n"
            "        [0., 0., 0.,  ..., 0., 0., 0.],\n"
            "        ...,\n"
            "        [0., 0., 0.,  ..., 0., 0., 0.],\n"
            "        [0., 0., 0.,  ..., 0., 0., 0.],\n"
            "        [0., 0., 0.,  ..., 0., 0., 0.]], size=(100, 100))");
  // Only dims longer than 6 are cut; the formatter sees only the shown values.
  Tensor t = tg::arange(2 * 3 * 200, tg::kFloat32).view({2, 3, 200}) + 1000.0;
  t.select(2, 100).fill_(0.5);  // hidden: does not turn the shown values non-integral
  const std::string s = t.str();
  EXPECT_EQ(s.substr(0, 59), "tensor([[[1000., 1001., 1002.,  ..., 1197., 1198., 1199.],\n");
  EXPECT_NE(s.find("size=(2, 3, 200)"), std::string::npos);
  EXPECT_EQ(s.find("0.5000"), std::string::npos);
}

}  // namespace

// ================================================================ modulo, rounding, composites

TEST(OpsModulo, RemainderFollowsTheDivisorFmodTheDividend) {
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64, tg::kInt64}) {
    Tensor a = tg::tensor({7.0, -7.0, 7.0, -7.0, 6.0, 0.0}, dt);
    Tensor b = tg::tensor({3.0, 3.0, -3.0, -3.0, 3.0, 5.0}, dt);
    // Python: 7 % 3 = 1, -7 % 3 = 2, 7 % -3 = -2, -7 % -3 = -1; C: fmod keeps the dividend's sign.
    EXPECT_EQ(vals(tg::remainder(a, b)), (std::vector<double>{1, 2, -2, -1, 0, 0})) << tg::dtype_name(dt);
    EXPECT_EQ(vals(tg::fmod(a, b)), (std::vector<double>{1, -1, 1, -1, 0, 0})) << tg::dtype_name(dt);
    EXPECT_EQ(tg::remainder(a, b).dtype(), dt);
  }
  Tensor frac = tg::remainder(tg::tensor({5.5, -5.5}, tg::kFloat64), tg::tensor({2.0}, tg::kFloat64));
  EXPECT_EQ(vals(frac), (std::vector<double>{1.5, 0.5}));
  EXPECT_THROW(tg::remainder(tg::tensor({1.0, 2.0}, tg::kInt64), tg::tensor({1.0, 0.0}, tg::kInt64)),
               tg::Error);
  // A float divisor of zero gives NaN, as IEEE and PyTorch.
  EXPECT_TRUE(std::isnan(vals(tg::fmod(tg::tensor({1.0}), tg::tensor({0.0})))[0]));
}

TEST(OpsRounding, IntegersPassThroughAndHalvesGoToEven) {
  Tensor i = tg::tensor({-3.0, 0.0, 4.0}, tg::kInt64);
  EXPECT_EQ(tg::floor(i).dtype(), tg::kInt64);
  EXPECT_EQ(vals(tg::round(i)), (std::vector<double>{-3, 0, 4}));
  EXPECT_EQ(vals(tg::round(tg::tensor({0.5, 1.5, 2.5, -0.5, -2.5}))), (std::vector<double>{0, 2, 2, -0, -2}));
}

TEST(OpsComposites, TrianglesFlipRollDotOuter) {
  Tensor m = tg::arange(1.0, 10.0, 1.0, tg::kFloat64).view({3, 3});
  EXPECT_EQ(vals(tg::tril(m)), (std::vector<double>{1, 0, 0, 4, 5, 0, 7, 8, 9}));
  EXPECT_EQ(vals(tg::triu(m, 1)), (std::vector<double>{0, 2, 3, 0, 0, 6, 0, 0, 0}));
  EXPECT_EQ(vals(tg::tril(m, -1)), (std::vector<double>{0, 0, 0, 4, 0, 0, 7, 8, 0}));
  EXPECT_EQ(vals(tg::flip(m, {0})), (std::vector<double>{7, 8, 9, 4, 5, 6, 1, 2, 3}));
  EXPECT_EQ(vals(tg::flip(m, {0, -1})), (std::vector<double>{9, 8, 7, 6, 5, 4, 3, 2, 1}));
  EXPECT_EQ(vals(tg::roll(m, {1}, {1})), (std::vector<double>{3, 1, 2, 6, 4, 5, 9, 7, 8}));
  EXPECT_EQ(vals(tg::roll(m, {-1})), (std::vector<double>{2, 3, 4, 5, 6, 7, 8, 9, 1}));
  EXPECT_EQ(vals(tg::roll(m, {4, -3}, {0, 1})), vals(tg::roll(m, {1}, {0})));
  EXPECT_THROW(tg::flip(m, {0, 0}), tg::Error);
  EXPECT_THROW(tg::tril(tg::ones({3})), tg::Error);
  Tensor a = tg::tensor({1.0, 2.0, 3.0}, tg::kFloat64), b = tg::tensor({4.0, -5.0, 6.0}, tg::kFloat64);
  EXPECT_EQ(tg::dot(a, b).item(), 4.0 - 10.0 + 18.0);
  EXPECT_EQ(vals(tg::outer(tg::tensor({1.0, 2.0}), tg::tensor({3.0, 4.0, 5.0}))),
            (std::vector<double>{3, 4, 5, 6, 8, 10}));
  EXPECT_THROW(tg::dot(a, tg::ones({2}, tg::kFloat64)), tg::Error);
  EXPECT_EQ(vals(tg::lerp(a, b, 0.25)), (std::vector<double>{1.75, 0.25, 3.75}));
  EXPECT_EQ(vals(tg::addcmul(a, a, b, 0.5)), (std::vector<double>{3, -3, 12}));
  EXPECT_EQ(vals(tg::addcdiv(a, b, a, 2.0)), (std::vector<double>{9, -3, 7}));
}

TEST(OpsComposites, NormIsCloseMaskedSelect) {
  Tensor x = tg::tensor({{3.0, -4.0}, {0.0, 1.0}}, tg::kFloat64);
  EXPECT_EQ(tg::norm(x).item(), std::sqrt(26.0));
  EXPECT_EQ(vals(tg::norm(x, 2.0, {1})), (std::vector<double>{5.0, 1.0}));
  EXPECT_EQ(vals(tg::norm(x, 1.0, {0}, true)), (std::vector<double>{3.0, 5.0}));
  EXPECT_EQ(tg::norm(x, INFINITY).item(), 4.0);
  EXPECT_EQ(tg::norm(x, -INFINITY).item(), 0.0);
  EXPECT_EQ(tg::norm(x, 0.0).item(), 3.0);
  EXPECT_NEAR(tg::norm(x, 3.0).item(), std::cbrt(27.0 + 64.0 + 1.0), 1e-12);
  Tensor close = tg::isclose(tg::tensor({1.0, 1.0, NAN, INFINITY}), tg::tensor({1.0 + 1e-6, 1.1, NAN, INFINITY}));
  EXPECT_EQ(vals(close), (std::vector<double>{1, 0, 0, 1}));
  EXPECT_EQ(vals(tg::isclose(tg::tensor({NAN}), tg::tensor({NAN}), 1e-5, 1e-8, true)), (std::vector<double>{1}));
  Tensor mask = tg::gt(x, tg::zeros_like(x));
  EXPECT_EQ(vals(tg::masked_select(x, mask)), (std::vector<double>{3.0, 1.0}));
  // The mask broadcasts over x.
  EXPECT_EQ(vals(tg::masked_select(x, tg::tensor(std::vector<int64_t>{1, 0}, {2}, tg::kInt64).to(tg::kBool))),
            (std::vector<double>{3.0, 0.0}));
}
