// Tests of the CPU KernelTable, called directly with hand-built Views and checked against simple
// reference loops computed in double.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/kernel_api.h"
#include "kernels/philox.h"

using namespace tg;
using namespace tg::kernels;

namespace {

const KernelTable& K() { return *cpu_kernels(); }

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();
const double kPi = 3.14159265358979323846;

using Sizes = std::vector<int64_t>;

// ------------------------------------------------------------------------------------------------
// host tensors with arbitrary layouts

enum class Layout {
  Contig,      // row-major
  Reversed,    // column-major (every transpose-like permutation of a 2-d view)
  Padded,      // row-major with every element two apart (no dim contiguous)
  BcastOuter,  // stride 0 on dim 0 (a broadcast row)
  BcastInner,  // stride 0 on the last dim (a broadcast column)
  Scalar,      // stride 0 everywhere
};

const char* layout_name(Layout l) {
  switch (l) {
    case Layout::Contig: return "contig";
    case Layout::Reversed: return "reversed";
    case Layout::Padded: return "padded";
    case Layout::BcastOuter: return "bcast_outer";
    case Layout::BcastInner: return "bcast_inner";
    case Layout::Scalar: return "scalar";
  }
  return "?";
}

struct Tensor {
  std::vector<int64_t> storage;  // 8-byte aligned backing
  View v;
};

int64_t numel(const Sizes& s) {
  int64_t n = 1;
  for (int64_t x : s) n *= x;
  return n;
}

Tensor make(DType dt, const Sizes& sizes, Layout layout = Layout::Contig) {
  Tensor t;
  t.v.dtype = dt;
  t.v.ndim = static_cast<int>(sizes.size());
  const int nd = t.v.ndim;
  for (int d = 0; d < nd; ++d) t.v.sizes[d] = sizes[size_t(d)];
  switch (layout) {
    case Layout::Contig:
    case Layout::Padded:
    case Layout::BcastOuter:
    case Layout::BcastInner: {
      int64_t s = layout == Layout::Padded ? 2 : 1;
      for (int d = nd - 1; d >= 0; --d) {
        t.v.strides[d] = s;
        s *= sizes[size_t(d)];
      }
      if (layout == Layout::BcastOuter && nd > 0) t.v.strides[0] = 0;
      if (layout == Layout::BcastInner && nd > 0) t.v.strides[nd - 1] = 0;
      break;
    }
    case Layout::Reversed: {
      int64_t s = 1;
      for (int d = 0; d < nd; ++d) {
        t.v.strides[d] = s;
        s *= sizes[size_t(d)];
      }
      break;
    }
    case Layout::Scalar:
      for (int d = 0; d < nd; ++d) t.v.strides[d] = 0;
      break;
  }
  int64_t extent = 1;
  for (int d = 0; d < nd; ++d)
    if (sizes[size_t(d)] > 0) extent += (sizes[size_t(d)] - 1) * t.v.strides[d];
  const size_t bytes = static_cast<size_t>(extent) * dtype_size(dt);
  t.storage.assign(bytes / 8 + 2, 0);
  t.v.data = t.storage.data();
  return t;
}

// A view with explicit sizes and strides over fresh storage.
Tensor make_strided(DType dt, const Sizes& sizes, const Sizes& strides) {
  Tensor t;
  t.v.dtype = dt;
  t.v.ndim = static_cast<int>(sizes.size());
  int64_t extent = 1;
  for (int d = 0; d < t.v.ndim; ++d) {
    t.v.sizes[d] = sizes[size_t(d)];
    t.v.strides[d] = strides[size_t(d)];
    if (sizes[size_t(d)] > 0) extent += (sizes[size_t(d)] - 1) * strides[size_t(d)];
  }
  t.storage.assign(static_cast<size_t>(extent) * dtype_size(dt) / 8 + 2, 0);
  t.v.data = t.storage.data();
  return t;
}

int64_t offset_of(const View& v, const Sizes& idx) {
  int64_t o = 0;
  for (int d = 0; d < v.ndim; ++d) o += idx[size_t(d)] * v.strides[d];
  return o;
}

double get(const View& v, const Sizes& idx) {
  const int64_t o = offset_of(v, idx);
  switch (v.dtype) {
    case DType::Float32: return static_cast<const float*>(v.data)[o];
    case DType::Float64: return static_cast<const double*>(v.data)[o];
    case DType::Int64: return static_cast<double>(static_cast<const int64_t*>(v.data)[o]);
    case DType::Bool: return static_cast<const uint8_t*>(v.data)[o] != 0 ? 1.0 : 0.0;
  }
  return 0;
}

int64_t get_i(const View& v, const Sizes& idx) {
  return static_cast<const int64_t*>(v.data)[offset_of(v, idx)];
}

void set(const View& v, const Sizes& idx, double x) {
  const int64_t o = offset_of(v, idx);
  switch (v.dtype) {
    case DType::Float32: static_cast<float*>(v.data)[o] = static_cast<float>(x); break;
    case DType::Float64: static_cast<double*>(v.data)[o] = x; break;
    case DType::Int64: static_cast<int64_t*>(v.data)[o] = static_cast<int64_t>(x); break;
    case DType::Bool: static_cast<uint8_t*>(v.data)[o] = x != 0 ? 1 : 0; break;
  }
}

Sizes sizes_of(const View& v) { return Sizes(v.sizes, v.sizes + v.ndim); }

// Calls f(idx) for every multi-index of `sizes` in row-major order.
void for_each_index(const Sizes& sizes, const std::function<void(const Sizes&)>& f) {
  if (numel(sizes) == 0) return;
  Sizes idx(sizes.size(), 0);
  while (true) {
    f(idx);
    int d = static_cast<int>(sizes.size()) - 1;
    for (; d >= 0; --d) {
      if (++idx[size_t(d)] < sizes[size_t(d)]) break;
      idx[size_t(d)] = 0;
    }
    if (d < 0) return;
  }
}

// Fills every element of v (through its strides) from gen().
void fill_with(const View& v, const std::function<double()>& gen) {
  for_each_index(sizes_of(v), [&](const Sizes& i) { set(v, i, gen()); });
}

std::mt19937_64& rng() {
  static std::mt19937_64 g(12345);
  return g;
}
double urand(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng()); }
int64_t irand(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng()); }

// Tolerance check that treats NaN == NaN and equal infinities as matching.
bool close(double got, double want, double rtol, double atol) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::abs(got - want) <= atol + rtol * std::abs(want);
}

double rtol_for(DType t) { return t == DType::Float32 ? 2e-5 : 1e-11; }
double atol_for(DType t) { return t == DType::Float32 ? 2e-6 : 1e-12; }

const char* dtype_str(DType t) {
  switch (t) {
    case DType::Float32: return "f32";
    case DType::Float64: return "f64";
    case DType::Int64: return "i64";
    case DType::Bool: return "bool";
  }
  return "?";
}

// Value of a float dtype as stored (float32 inputs round).
double as_stored(DType t, double x) {
  return t == DType::Float32 ? static_cast<double>(static_cast<float>(x)) : x;
}

// ------------------------------------------------------------------------------------------------
// reference math

double ref_sigmoid(double x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }
double ref_gelu(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
double ref_gelu_tanh(double x) {
  const double c = std::sqrt(2.0 / kPi);
  return 0.5 * x * (1 + std::tanh(c * (x + 0.044715 * x * x * x)));
}

double ref_unary(UnaryOp op, double x, double p0, double p1) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return std::exp(x);
    case UnaryOp::Log: return std::log(x);
    case UnaryOp::Sqrt: return std::sqrt(x);
    case UnaryOp::Abs: return std::abs(x);
    case UnaryOp::Tanh: return std::tanh(x);
    case UnaryOp::Sigmoid: return ref_sigmoid(x);
    case UnaryOp::Relu: return std::isnan(x) ? x : std::max(x, 0.0);
    case UnaryOp::LeakyRelu: return x > 0 ? x : x * p0;
    case UnaryOp::Gelu: return ref_gelu(x);
    case UnaryOp::GeluTanh: return ref_gelu_tanh(x);
    case UnaryOp::Softplus: return p0 * x > p1 ? x : std::log1p(std::exp(p0 * x)) / p0;
    case UnaryOp::Clamp: {
      double r = x;
      if (!std::isnan(p0) && r < p0) r = p0;
      if (!std::isnan(p1) && r > p1) r = p1;
      return r;
    }
    case UnaryOp::AddScalar: return x + p0;
    case UnaryOp::MulScalar: return x * p0;
    case UnaryOp::RSubScalar: return p0 - x;
    case UnaryOp::RDivScalar: return p0 / x;
    case UnaryOp::PowScalar: return std::pow(x, p0);
    case UnaryOp::RPowScalar: return std::pow(p0, x);
    case UnaryOp::Sign: return (x > 0) - (x < 0);
    case UnaryOp::Square: return x * x;
    case UnaryOp::Reciprocal: return 1 / x;
    case UnaryOp::Sin: return std::sin(x);
    case UnaryOp::Cos: return std::cos(x);
    case UnaryOp::Log1p: return std::log1p(x);
    case UnaryOp::Expm1: return std::expm1(x);
    case UnaryOp::Rsqrt: return 1 / std::sqrt(x);
    case UnaryOp::Erf: return std::erf(x);
    case UnaryOp::LogicalNot: return x == 0 ? 1 : 0;
  }
  return kNaN;
}

struct UnaryCase {
  UnaryOp op;
  const char* name;
  double p0, p1;
  bool positive;  // domain (0.1, 3) instead of (-3, 3)
};

const std::vector<UnaryCase>& unary_cases() {
  static const std::vector<UnaryCase> cases = {
      {UnaryOp::Neg, "neg", 0, 0, false},
      {UnaryOp::Exp, "exp", 0, 0, false},
      {UnaryOp::Log, "log", 0, 0, true},
      {UnaryOp::Sqrt, "sqrt", 0, 0, true},
      {UnaryOp::Abs, "abs", 0, 0, false},
      {UnaryOp::Tanh, "tanh", 0, 0, false},
      {UnaryOp::Sigmoid, "sigmoid", 0, 0, false},
      {UnaryOp::Relu, "relu", 0, 0, false},
      {UnaryOp::LeakyRelu, "leaky_relu", 0.1, 0, false},
      {UnaryOp::Gelu, "gelu", 0, 0, false},
      {UnaryOp::GeluTanh, "gelu_tanh", 0, 0, false},
      {UnaryOp::Softplus, "softplus", 2.0, 3.0, false},
      {UnaryOp::Clamp, "clamp", -0.5, 0.7, false},
      {UnaryOp::Clamp, "clamp_min_only", -0.5, kNaN, false},
      {UnaryOp::Clamp, "clamp_max_only", kNaN, 0.7, false},
      {UnaryOp::AddScalar, "add_scalar", 1.5, 0, false},
      {UnaryOp::MulScalar, "mul_scalar", -2.5, 0, false},
      {UnaryOp::RSubScalar, "rsub_scalar", 0.75, 0, false},
      {UnaryOp::RDivScalar, "rdiv_scalar", 2.0, 0, true},
      {UnaryOp::PowScalar, "pow_scalar", 2.5, 0, true},
      {UnaryOp::PowScalar, "pow_2", 2.0, 0, false},
      {UnaryOp::PowScalar, "pow_3", 3.0, 0, false},
      {UnaryOp::PowScalar, "pow_half", 0.5, 0, true},
      {UnaryOp::PowScalar, "pow_m1", -1.0, 0, true},
      {UnaryOp::PowScalar, "pow_mhalf", -0.5, 0, true},
      {UnaryOp::PowScalar, "pow_m2", -2.0, 0, true},
      {UnaryOp::RPowScalar, "rpow_scalar", 1.7, 0, false},
      {UnaryOp::Sign, "sign", 0, 0, false},
      {UnaryOp::Square, "square", 0, 0, false},
      {UnaryOp::Reciprocal, "reciprocal", 0, 0, true},
      {UnaryOp::Sin, "sin", 0, 0, false},
      {UnaryOp::Cos, "cos", 0, 0, false},
      {UnaryOp::Log1p, "log1p", 0, 0, true},
      {UnaryOp::Expm1, "expm1", 0, 0, false},
      {UnaryOp::Rsqrt, "rsqrt", 0, 0, true},
      {UnaryOp::Erf, "erf", 0, 0, false},
  };
  return cases;
}

// The (out sizes, out layout, in layout) combinations every elementwise test runs.
struct Shape2 {
  Sizes sizes;
  Layout out_layout, in_layout;
};

std::vector<Shape2> unary_shapes() {
  std::vector<Shape2> s;
  for (int64_t n : {1, 7, 33, 1000}) {
    s.push_back({{n}, Layout::Contig, Layout::Contig});
    s.push_back({{n}, Layout::Contig, Layout::Padded});
    s.push_back({{n, 3}, Layout::Contig, Layout::Reversed});
    s.push_back({{n, 3}, Layout::Reversed, Layout::Contig});
    s.push_back({{n, 3}, Layout::Contig, Layout::BcastOuter});
    s.push_back({{3, n}, Layout::Padded, Layout::BcastInner});
    s.push_back({{n, 2}, Layout::Contig, Layout::Scalar});
  }
  s.push_back({{}, Layout::Contig, Layout::Contig});                // 0-d
  s.push_back({{0, 5}, Layout::Contig, Layout::Contig});            // empty
  s.push_back({{100003}, Layout::Contig, Layout::Contig});          // parallel, flat
  s.push_back({{301, 317}, Layout::Contig, Layout::Reversed});      // parallel, transposed
  s.push_back({{5, 7, 9, 11}, Layout::Reversed, Layout::Padded});   // 4-d, nothing coalesces
  return s;
}

// ------------------------------------------------------------------------------------------------
// table basics

TEST(CpuKernels, TableIsComplete) {
  const KernelTable* t = cpu_kernels();
  ASSERT_NE(t, nullptr);
  EXPECT_NE(t->allocate, nullptr);
  EXPECT_NE(t->deallocate, nullptr);
  EXPECT_NE(t->copy_to_host, nullptr);
  EXPECT_NE(t->copy_from_host, nullptr);
  EXPECT_NE(t->synchronize, nullptr);
  EXPECT_NE(t->fill, nullptr);
  EXPECT_NE(t->copy, nullptr);
  EXPECT_NE(t->unary, nullptr);
  EXPECT_NE(t->binary, nullptr);
  EXPECT_NE(t->activation_grad, nullptr);
  EXPECT_NE(t->where, nullptr);
  EXPECT_NE(t->reduce, nullptr);
  EXPECT_NE(t->gemm, nullptr);
  EXPECT_NE(t->softmax, nullptr);
  EXPECT_NE(t->softmax_backward, nullptr);
  EXPECT_NE(t->index_select, nullptr);
  EXPECT_NE(t->index_add, nullptr);
  EXPECT_NE(t->gather, nullptr);
  EXPECT_NE(t->scatter_add, nullptr);
  EXPECT_NE(t->random, nullptr);
  EXPECT_EQ(cpu_kernels(), t);
}

TEST(CpuKernels, AllocateAlignedAndCopies) {
  for (size_t n : {size_t(0), size_t(1), size_t(63), size_t(64), size_t(1000), size_t(1) << 20}) {
    void* p = K().allocate(n);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
    std::vector<unsigned char> src(n), back(n);
    for (size_t i = 0; i < n; ++i) src[i] = static_cast<unsigned char>(i * 7 + 1);
    K().copy_from_host(p, src.data(), n);
    K().copy_to_host(back.data(), p, n);
    EXPECT_EQ(src, back);
    K().deallocate(p);
  }
  K().synchronize();
}

// ------------------------------------------------------------------------------------------------
// fill / copy

TEST(CpuKernels, FillConvertsToDtype) {
  struct C {
    DType dt;
    double value, expect;
  };
  for (C c : {C{DType::Float32, 2.7, double(2.7f)}, C{DType::Float64, 2.7, 2.7}, C{DType::Int64, 2.7, 2},
              C{DType::Int64, -3.9, -3}, C{DType::Bool, 2.7, 1}, C{DType::Bool, 0.0, 0},
              C{DType::Bool, -0.5, 1}}) {
    for (Layout l : {Layout::Contig, Layout::Padded, Layout::Reversed}) {
      for (Sizes s : {Sizes{}, Sizes{7}, Sizes{33, 5}, Sizes{70000}}) {
        Tensor t = make(c.dt, s, l);
        K().fill(t.v, c.value);
        for_each_index(s, [&](const Sizes& i) { ASSERT_EQ(get(t.v, i), c.expect) << dtype_str(c.dt); });
      }
    }
  }
  // Padding between elements is left alone.
  Tensor t = make(DType::Float32, {5}, Layout::Padded);
  K().fill(t.v, 1.0);
  const float* f = static_cast<const float*>(t.v.data);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(f[i], i % 2 == 0 ? 1.0f : 0.0f);
}

TEST(CpuKernels, CopyConvertsBetweenAllDtypes) {
  const std::vector<double> values = {-2.5, 0.0, 1.0, 3.7, -0.0, 100.25};
  const DType all[] = {DType::Float32, DType::Float64, DType::Int64, DType::Bool};
  auto expect_of = [](DType from, DType to, double v) {
    double x = v;
    if (from == DType::Int64) x = std::trunc(x);
    if (from == DType::Bool) x = x != 0 ? 1 : 0;
    if (from == DType::Float32) x = double(float(x));
    if (to == DType::Float32) return double(float(x));
    if (to == DType::Int64) return std::trunc(x);
    if (to == DType::Bool) return x != 0 ? 1.0 : 0.0;
    return x;
  };
  for (DType from : all) {
    for (DType to : all) {
      for (auto [lin, lout] : {std::pair{Layout::Contig, Layout::Contig},
                               std::pair{Layout::Reversed, Layout::Contig},
                               std::pair{Layout::Contig, Layout::Padded},
                               std::pair{Layout::BcastOuter, Layout::Reversed}}) {
        for (Sizes s : {Sizes{6, 7}, Sizes{300, 201}}) {
          Tensor in = make(from, s, lin), out = make(to, s, lout);
          size_t k = 0;
          fill_with(in.v, [&] { return values[k++ % values.size()]; });
          K().copy(out.v, in.v);
          for_each_index(s, [&](const Sizes& i) {
            const double want = expect_of(from, to, get(in.v, i));
            ASSERT_EQ(get(out.v, i), want) << dtype_str(from) << "->" << dtype_str(to) << " "
                                          << layout_name(lin) << "/" << layout_name(lout);
          });
        }
      }
    }
  }
}

TEST(CpuKernels, CopyInPlaceAndTransposeMaterialize) {
  Tensor a = make(DType::Float32, {13, 17});
  fill_with(a.v, [] { return urand(-1, 1); });
  std::vector<int64_t> before = a.storage;
  K().copy(a.v, a.v);  // aliasing, same layout
  EXPECT_EQ(before, a.storage);
  Tensor t = make(DType::Float32, {17, 13});
  View tv = a.v;  // a viewed transposed
  std::swap(tv.sizes[0], tv.sizes[1]);
  std::swap(tv.strides[0], tv.strides[1]);
  K().copy(t.v, tv);
  for_each_index({17, 13}, [&](const Sizes& i) { ASSERT_EQ(get(t.v, i), get(a.v, {i[1], i[0]})); });
  // Batched transposes (the tiled path), with and without a dtype conversion and odd edges.
  for (auto [sizes, strides] : {std::pair{Sizes{3, 70, 50}, Sizes{3500, 1, 70}},
                                std::pair{Sizes{130, 2, 67}, Sizes{1, 130 * 67, 130}},
                                std::pair{Sizes{2, 300, 9}, Sizes{2700, 1, 300}},
                                std::pair{Sizes{257, 300}, Sizes{1, 257}}}) {
    for (DType to : {DType::Float32, DType::Float64}) {
      Tensor in = make_strided(DType::Float32, sizes, strides);
      fill_with(in.v, [] { return urand(-1, 1); });
      Tensor out = make(to, sizes);
      K().copy(out.v, in.v);
      for_each_index(sizes, [&](const Sizes& i) { ASSERT_EQ(get(out.v, i), get(in.v, i)); });
      Tensor u = make(DType::Float32, sizes);
      K().unary(UnaryOp::Exp, u.v, in.v, 0, 0);
      for_each_index(sizes, [&](const Sizes& i) {
        ASSERT_NEAR(get(u.v, i), std::exp(get(in.v, i)), 1e-6);
      });
    }
  }
}

// ------------------------------------------------------------------------------------------------
// unary

void check_unary(const UnaryCase& c, DType dt, const Shape2& sh) {
  Tensor in = make(dt, sh.sizes, sh.in_layout), out = make(dt, sh.sizes, sh.out_layout);
  fill_with(in.v, [&] { return c.positive ? urand(0.1, 3) : urand(-3, 3); });
  K().unary(c.op, out.v, in.v, c.p0, c.p1);
  const double rtol = rtol_for(dt) * (c.op == UnaryOp::RPowScalar || c.op == UnaryOp::PowScalar ? 4 : 1);
  for_each_index(sh.sizes, [&](const Sizes& i) {
    const double x = get(in.v, i);
    const double want = as_stored(dt, ref_unary(c.op, x, c.p0, c.p1));
    ASSERT_TRUE(close(get(out.v, i), want, rtol, atol_for(dt)))
        << c.name << " " << dtype_str(dt) << " x=" << x << " got " << get(out.v, i) << " want "
        << want << " out=" << layout_name(sh.out_layout) << " in=" << layout_name(sh.in_layout)
        << " ndim=" << sh.sizes.size();
  });
}

TEST(CpuKernels, UnaryFloatOpsAllLayouts) {
  for (const UnaryCase& c : unary_cases())
    for (DType dt : {DType::Float32, DType::Float64})
      for (const Shape2& sh : unary_shapes()) check_unary(c, dt, sh);
}

TEST(CpuKernels, UnaryInt64Ops) {
  const std::vector<UnaryCase> cases = {
      {UnaryOp::Neg, "neg", 0, 0, false},          {UnaryOp::Abs, "abs", 0, 0, false},
      {UnaryOp::Sign, "sign", 0, 0, false},        {UnaryOp::Square, "square", 0, 0, false},
      {UnaryOp::Clamp, "clamp", -3, 4, false},     {UnaryOp::Clamp, "clamp_lo", -3, kNaN, false},
      {UnaryOp::Clamp, "clamp_hi", kNaN, 4, false}, {UnaryOp::AddScalar, "add", 5, 0, false},
      {UnaryOp::MulScalar, "mul", -3, 0, false},   {UnaryOp::RSubScalar, "rsub", 7, 0, false},
      {UnaryOp::Relu, "relu", 0, 0, false},
  };
  for (const UnaryCase& c : cases) {
    for (const Shape2& sh : unary_shapes()) {
      Tensor in = make(DType::Int64, sh.sizes, sh.in_layout), out = make(DType::Int64, sh.sizes, sh.out_layout);
      fill_with(in.v, [] { return double(irand(-10, 10)); });
      K().unary(c.op, out.v, in.v, c.p0, c.p1);
      for_each_index(sh.sizes, [&](const Sizes& i) {
        const double x = get(in.v, i);
        ASSERT_EQ(get(out.v, i), ref_unary(c.op, x, c.p0, c.p1)) << c.name << " x=" << x;
      });
    }
  }
}

TEST(CpuKernels, UnaryLogicalNot) {
  for (const Shape2& sh : unary_shapes()) {
    Tensor in = make(DType::Bool, sh.sizes, sh.in_layout), out = make(DType::Bool, sh.sizes, sh.out_layout);
    fill_with(in.v, [] { return double(irand(0, 1)); });
    K().unary(UnaryOp::LogicalNot, out.v, in.v, 0, 0);
    for_each_index(sh.sizes, [&](const Sizes& i) { ASSERT_EQ(get(out.v, i), 1 - get(in.v, i)); });
  }
  // Non-canonical true bytes still read as true.
  uint8_t raw[3] = {0, 2, 255}, res[3] = {9, 9, 9};
  View in, out;
  in.dtype = out.dtype = DType::Bool;
  in.ndim = out.ndim = 1;
  in.sizes[0] = out.sizes[0] = 3;
  in.strides[0] = out.strides[0] = 1;
  in.data = raw;
  out.data = res;
  K().unary(UnaryOp::LogicalNot, out, in, 0, 0);
  EXPECT_EQ(res[0], 1);
  EXPECT_EQ(res[1], 0);
  EXPECT_EQ(res[2], 0);
}

// A 1-d float view over a vector.
template <typename T>
View vec_view(std::vector<T>& v) {
  View r;
  r.dtype = std::is_same_v<T, float> ? DType::Float32 : std::is_same_v<T, double> ? DType::Float64
            : std::is_same_v<T, int64_t>                ? DType::Int64
                                                        : DType::Bool;
  r.data = v.data();
  r.ndim = 1;
  r.sizes[0] = static_cast<int64_t>(v.size());
  r.strides[0] = 1;
  return r;
}

TEST(CpuKernels, UnarySpecialValues) {
  std::vector<float> x = {1e4f, -1e4f, 88.0f, -88.0f, 200.0f, -200.0f, 0.0f, float(kNaN)};
  std::vector<float> y(x.size());
  K().unary(UnaryOp::Sigmoid, vec_view(y), vec_view(x), 0, 0);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], 0.0f);
  EXPECT_EQ(y[2], 1.0f);
  EXPECT_NEAR(y[3], 6.0546e-39f, 1e-41f);
  EXPECT_EQ(y[4], 1.0f);
  EXPECT_EQ(y[5], 0.0f);
  EXPECT_EQ(y[6], 0.5f);
  EXPECT_TRUE(std::isnan(y[7]));
  for (float v : y) EXPECT_FALSE(std::isinf(v));

  std::vector<double> xd = {1e4, -1e4, 800, -800};
  std::vector<double> yd(xd.size());
  K().unary(UnaryOp::Sigmoid, vec_view(yd), vec_view(xd), 0, 0);
  EXPECT_EQ(yd[0], 1.0);
  EXPECT_EQ(yd[1], 0.0);
  EXPECT_EQ(yd[2], 1.0);
  EXPECT_EQ(yd[3], 0.0);

  // NaN propagates through relu, clamp, leaky relu; NaN bounds mean unbounded.
  std::vector<float> n = {float(kNaN), -2.0f, 5.0f};
  std::vector<float> r(3);
  K().unary(UnaryOp::Relu, vec_view(r), vec_view(n), 0, 0);
  EXPECT_TRUE(std::isnan(r[0]));
  EXPECT_EQ(r[1], 0.0f);
  EXPECT_EQ(r[2], 5.0f);
  K().unary(UnaryOp::Clamp, vec_view(r), vec_view(n), -1.0, 1.0);
  EXPECT_TRUE(std::isnan(r[0]));
  EXPECT_EQ(r[1], -1.0f);
  EXPECT_EQ(r[2], 1.0f);
  K().unary(UnaryOp::Clamp, vec_view(r), vec_view(n), kNaN, kNaN);
  EXPECT_TRUE(std::isnan(r[0]));
  EXPECT_EQ(r[1], -2.0f);
  EXPECT_EQ(r[2], 5.0f);
  K().unary(UnaryOp::LeakyRelu, vec_view(r), vec_view(n), 0.01, 0);
  EXPECT_TRUE(std::isnan(r[0]));
  EXPECT_FLOAT_EQ(r[1], -0.02f);

  // Softplus above the threshold is the identity, and large inputs do not overflow.
  std::vector<float> s = {1000.0f, -1000.0f, 10.0f, 0.0f};
  std::vector<float> sp(4);
  K().unary(UnaryOp::Softplus, vec_view(sp), vec_view(s), 1.0, 20.0);
  EXPECT_EQ(sp[0], 1000.0f);
  EXPECT_EQ(sp[1], 0.0f);
  EXPECT_NEAR(sp[2], 10.0000454f, 1e-5f);
  EXPECT_NEAR(sp[3], std::log(2.0f), 1e-7f);

  // Exact gelu vs the tanh approximation at a known point.
  std::vector<double> g = {1.0}, go(1);
  K().unary(UnaryOp::Gelu, vec_view(go), vec_view(g), 0, 0);
  EXPECT_NEAR(go[0], 0.8413447460685429, 1e-15);
  K().unary(UnaryOp::GeluTanh, vec_view(go), vec_view(g), 0, 0);
  EXPECT_NEAR(go[0], 0.8411919906082768, 1e-15);
}

// ------------------------------------------------------------------------------------------------
// binary

double ref_binary(BinaryOp op, double a, double b, bool is_int) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return is_int ? std::trunc(a / b) : a / b;
    case BinaryOp::Pow: return std::pow(a, b);
    case BinaryOp::Maximum: return (std::isnan(a) || std::isnan(b)) ? kNaN : std::max(a, b);
    case BinaryOp::Minimum: return (std::isnan(a) || std::isnan(b)) ? kNaN : std::min(a, b);
    case BinaryOp::Eq: return a == b;
    case BinaryOp::Ne: return a != b;
    case BinaryOp::Lt: return a < b;
    case BinaryOp::Le: return a <= b;
    case BinaryOp::Gt: return a > b;
    case BinaryOp::Ge: return a >= b;
    case BinaryOp::LogicalAnd: return (a != 0) && (b != 0);
    case BinaryOp::LogicalOr: return (a != 0) || (b != 0);
  }
  return kNaN;
}

struct BinShape {
  Sizes sizes;
  Layout out, a, b;
};

std::vector<BinShape> binary_shapes() {
  std::vector<BinShape> s;
  for (int64_t n : {1, 7, 33, 1000}) {
    s.push_back({{n}, Layout::Contig, Layout::Contig, Layout::Contig});
    s.push_back({{n, 3}, Layout::Contig, Layout::Reversed, Layout::Contig});
    s.push_back({{n, 3}, Layout::Contig, Layout::Contig, Layout::BcastOuter});
    s.push_back({{3, n}, Layout::Contig, Layout::BcastInner, Layout::Contig});
    s.push_back({{n, 5}, Layout::Contig, Layout::Contig, Layout::Scalar});
    s.push_back({{n, 5}, Layout::Contig, Layout::Scalar, Layout::Padded});
    s.push_back({{n, 4}, Layout::Reversed, Layout::Padded, Layout::BcastInner});
  }
  s.push_back({{}, Layout::Contig, Layout::Contig, Layout::Contig});
  s.push_back({{4, 0}, Layout::Contig, Layout::Contig, Layout::Contig});
  s.push_back({{200003}, Layout::Contig, Layout::Contig, Layout::Contig});
  s.push_back({{300, 301}, Layout::Contig, Layout::Reversed, Layout::BcastOuter});
  s.push_back({{300, 301}, Layout::Contig, Layout::Contig, Layout::Scalar});
  s.push_back({{3, 5, 7, 9}, Layout::Padded, Layout::Reversed, Layout::BcastOuter});
  return s;
}

void check_binary(BinaryOp op, const char* name, DType dt, const std::function<double()>& gen_a,
                  const std::function<double()>& gen_b) {
  const bool cmp = op >= BinaryOp::Eq;
  const DType odt = cmp ? DType::Bool : dt;
  const bool is_int = dt == DType::Int64;
  for (const BinShape& sh : binary_shapes()) {
    Tensor a = make(dt, sh.sizes, sh.a), b = make(dt, sh.sizes, sh.b), out = make(odt, sh.sizes, sh.out);
    fill_with(a.v, gen_a);
    fill_with(b.v, gen_b);
    K().binary(op, out.v, a.v, b.v);
    for_each_index(sh.sizes, [&](const Sizes& i) {
      const double x = get(a.v, i), y = get(b.v, i);
      double want = ref_binary(op, x, y, is_int);
      if (!cmp) want = as_stored(dt, want);
      const double got = get(out.v, i);
      const bool ok = (cmp || is_int) ? got == want : close(got, want, rtol_for(dt) * 4, atol_for(dt));
      ASSERT_TRUE(ok) << name << " " << dtype_str(dt) << " a=" << x << " b=" << y << " got " << got
                      << " want " << want << " layouts " << layout_name(sh.out) << "/"
                      << layout_name(sh.a) << "/" << layout_name(sh.b);
    });
  }
}

TEST(CpuKernels, BinaryArithmetic) {
  struct C {
    BinaryOp op;
    const char* name;
  };
  const C cases[] = {{BinaryOp::Add, "add"}, {BinaryOp::Sub, "sub"},         {BinaryOp::Mul, "mul"},
                     {BinaryOp::Div, "div"}, {BinaryOp::Pow, "pow"},         {BinaryOp::Maximum, "maximum"},
                     {BinaryOp::Minimum, "minimum"}};
  for (const C& c : cases) {
    for (DType dt : {DType::Float32, DType::Float64}) {
      if (c.op == BinaryOp::Pow) {
        check_binary(c.op, c.name, dt, [] { return urand(0.1, 3); }, [] { return urand(-2, 2); });
      } else if (c.op == BinaryOp::Div) {
        check_binary(c.op, c.name, dt, [] { return urand(-3, 3); },
                     [] { return (irand(0, 1) ? 1 : -1) * urand(0.1, 3); });
      } else {
        check_binary(c.op, c.name, dt, [] { return urand(-3, 3); }, [] { return urand(-3, 3); });
      }
    }
    if (c.op == BinaryOp::Pow) {
      check_binary(c.op, c.name, DType::Int64, [] { return double(irand(-3, 3)); },
                   [] { return double(irand(0, 5)); });
    } else if (c.op == BinaryOp::Div) {
      check_binary(c.op, c.name, DType::Int64, [] { return double(irand(-50, 50)); },
                   [] { return double(irand(1, 7) * (irand(0, 1) ? 1 : -1)); });
    } else {
      check_binary(c.op, c.name, DType::Int64, [] { return double(irand(-100, 100)); },
                   [] { return double(irand(-100, 100)); });
    }
  }
}

TEST(CpuKernels, BinaryComparisonsAndLogical) {
  struct C {
    BinaryOp op;
    const char* name;
  };
  const C cmps[] = {{BinaryOp::Eq, "eq"}, {BinaryOp::Ne, "ne"}, {BinaryOp::Lt, "lt"},
                    {BinaryOp::Le, "le"}, {BinaryOp::Gt, "gt"}, {BinaryOp::Ge, "ge"}};
  auto small = [] { return double(irand(-2, 2)); };
  for (const C& c : cmps) {
    for (DType dt : {DType::Float32, DType::Float64, DType::Int64}) check_binary(c.op, c.name, dt, small, small);
    check_binary(c.op, c.name, DType::Bool, [] { return double(irand(0, 1)); },
                 [] { return double(irand(0, 1)); });
  }
  for (BinaryOp op : {BinaryOp::LogicalAnd, BinaryOp::LogicalOr})
    check_binary(op, "logical", DType::Bool, [] { return double(irand(0, 1)); },
                 [] { return double(irand(0, 1)); });
}

TEST(CpuKernels, BinaryNaNSemantics) {
  std::vector<float> a = {float(kNaN), 1.0f, float(kNaN), 2.0f};
  std::vector<float> b = {1.0f, float(kNaN), float(kNaN), 1.0f};
  std::vector<float> o(4);
  for (BinaryOp op : {BinaryOp::Maximum, BinaryOp::Minimum}) {
    K().binary(op, vec_view(o), vec_view(a), vec_view(b));
    EXPECT_TRUE(std::isnan(o[0]));
    EXPECT_TRUE(std::isnan(o[1]));
    EXPECT_TRUE(std::isnan(o[2]));
    EXPECT_EQ(o[3], op == BinaryOp::Maximum ? 2.0f : 1.0f);
  }
  std::vector<uint8_t> r(4);
  K().binary(BinaryOp::Eq, vec_view(r), vec_view(a), vec_view(b));
  EXPECT_EQ(r, (std::vector<uint8_t>{0, 0, 0, 0}));
  K().binary(BinaryOp::Ne, vec_view(r), vec_view(a), vec_view(b));
  EXPECT_EQ(r, (std::vector<uint8_t>{1, 1, 1, 1}));
}

// ------------------------------------------------------------------------------------------------
// activation gradients and where

double ref_act_grad(ActivationGrad op, double x, double y, double p0, double p1) {
  switch (op) {
    case ActivationGrad::Tanh: return 1 - y * y;
    case ActivationGrad::Sigmoid: return y * (1 - y);
    case ActivationGrad::Relu: return y <= 0 ? 0 : 1;  // NaN passes, as in PyTorch
    case ActivationGrad::LeakyRelu: return x > 0 ? 1 : p0;
    case ActivationGrad::Gelu:
      return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * kPi);
    case ActivationGrad::GeluTanh: {
      const double h = 1e-6;  // numeric derivative of the reference
      return (ref_gelu_tanh(x + h) - ref_gelu_tanh(x - h)) / (2 * h);
    }
    case ActivationGrad::Softplus: return p0 * x > p1 ? 1 : ref_sigmoid(p0 * x);
    case ActivationGrad::Clamp:
      return ((std::isnan(p0) || x >= p0) && (std::isnan(p1) || x <= p1)) ? 1 : 0;
  }
  return kNaN;
}

TEST(CpuKernels, ActivationGrad) {
  struct C {
    ActivationGrad op;
    const char* name;
    bool uses_y;
    double p0, p1;
    UnaryOp fwd;
  };
  const C cases[] = {
      {ActivationGrad::Tanh, "tanh", true, 0, 0, UnaryOp::Tanh},
      {ActivationGrad::Sigmoid, "sigmoid", true, 0, 0, UnaryOp::Sigmoid},
      {ActivationGrad::Relu, "relu", true, 0, 0, UnaryOp::Relu},
      {ActivationGrad::LeakyRelu, "leaky", false, 0.2, 0, UnaryOp::LeakyRelu},
      {ActivationGrad::Gelu, "gelu", false, 0, 0, UnaryOp::Gelu},
      {ActivationGrad::GeluTanh, "gelu_tanh", false, 0, 0, UnaryOp::GeluTanh},
      {ActivationGrad::Softplus, "softplus", false, 2.0, 3.0, UnaryOp::Softplus},
      {ActivationGrad::Clamp, "clamp", false, -0.5, 1.0, UnaryOp::Clamp},
      {ActivationGrad::Clamp, "clamp_lo", false, -0.5, kNaN, UnaryOp::Clamp},
      {ActivationGrad::Clamp, "clamp_none", false, kNaN, kNaN, UnaryOp::Clamp},
  };
  for (const C& c : cases) {
    for (DType dt : {DType::Float32, DType::Float64}) {
      for (const BinShape& sh : binary_shapes()) {
        Tensor g = make(dt, sh.sizes, sh.a), x = make(dt, sh.sizes, sh.b), y = make(dt, sh.sizes, sh.b),
               gi = make(dt, sh.sizes, sh.out);
        fill_with(g.v, [] { return urand(-2, 2); });
        fill_with(x.v, [] { return urand(-3, 3); });
        K().unary(c.fwd, y.v, x.v, c.p0, c.p1);
        View empty;
        K().activation_grad(c.op, gi.v, g.v, c.uses_y ? empty : x.v, c.uses_y ? y.v : empty, c.p0, c.p1);
        const double tol = c.op == ActivationGrad::GeluTanh ? 1e-6 : 0;
        for_each_index(sh.sizes, [&](const Sizes& i) {
          const double want =
              get(g.v, i) * ref_act_grad(c.op, get(x.v, i), get(y.v, i), c.p0, c.p1);
          ASSERT_TRUE(close(get(gi.v, i), want, rtol_for(dt) * 4, atol_for(dt) * 4 + tol))
              << c.name << " " << dtype_str(dt) << " x=" << get(x.v, i) << " got " << get(gi.v, i)
              << " want " << want;
        });
      }
    }
  }
  // Relu passes the gradient of a NaN output on (PyTorch 1.13: relu(nan).backward() gives 1);
  // clamp gradient at the bounds passes.
  std::vector<float> g = {1, 1, 1, 1}, yv = {float(kNaN), 0.0f, 2.0f, -1.0f}, gi(4);
  View empty;
  K().activation_grad(ActivationGrad::Relu, vec_view(gi), vec_view(g), empty, vec_view(yv), 0, 0);
  EXPECT_EQ(gi, (std::vector<float>{1, 0, 1, 0}));
  std::vector<float> xv = {-1.0f, 1.0f, 1.5f, -1.5f};
  K().activation_grad(ActivationGrad::Clamp, vec_view(gi), vec_view(g), vec_view(xv), empty, -1.0, 1.0);
  EXPECT_EQ(gi, (std::vector<float>{1, 1, 0, 0}));
}

TEST(CpuKernels, Where) {
  for (DType dt : {DType::Float32, DType::Float64, DType::Int64, DType::Bool}) {
    for (const BinShape& sh : binary_shapes()) {
      Tensor c = make(DType::Bool, sh.sizes, sh.a), a = make(dt, sh.sizes, sh.b),
             b = make(dt, sh.sizes, Layout::Contig), o = make(dt, sh.sizes, sh.out);
      fill_with(c.v, [] { return double(irand(0, 1)); });
      fill_with(a.v, [] { return double(irand(-5, 5)); });
      fill_with(b.v, [] { return double(irand(-5, 5)); });
      K().where(o.v, c.v, a.v, b.v);
      for_each_index(sh.sizes, [&](const Sizes& i) {
        ASSERT_EQ(get(o.v, i), get(c.v, i) != 0 ? get(a.v, i) : get(b.v, i)) << dtype_str(dt);
      });
    }
  }
}

// ------------------------------------------------------------------------------------------------
// reduce

struct ReduceRef {
  double value;
  int64_t index;
};

// Reference reduction over the trailing `r` dims of in at kept index `kept`.
ReduceRef ref_reduce(ReduceOp op, const View& in, const Sizes& kept, int r) {
  Sizes red(in.sizes + in.ndim - r, in.sizes + in.ndim);
  double sum = 0, prod = 1, best = 0;
  bool any = false, all = true, have = false;
  int64_t best_i = 0, flat = 0;
  for_each_index(red, [&](const Sizes& ri) {
    Sizes full = kept;
    full.insert(full.end(), ri.begin(), ri.end());
    const double v = get(in, full);
    sum += v;
    prod *= v;
    any = any || v != 0;
    all = all && v != 0;
    bool better = false;
    if (!have) {
      better = true;
    } else if (!std::isnan(best)) {
      if (std::isnan(v)) better = true;
      else if (op == ReduceOp::Max || op == ReduceOp::ArgMax) better = v > best;
      else better = v < best;
    }
    if (better) {
      best = v;
      best_i = flat;
      have = true;
    }
    ++flat;
  });
  if (red.empty()) {  // reduce_ndim == 0: one element
  }
  switch (op) {
    case ReduceOp::Sum: return {sum, 0};
    case ReduceOp::Prod: return {prod, 0};
    case ReduceOp::Max:
    case ReduceOp::Min: return {best, 0};
    case ReduceOp::ArgMax:
    case ReduceOp::ArgMin: return {0, best_i};
    case ReduceOp::Any: return {double(any), 0};
    case ReduceOp::All: return {double(all), 0};
  }
  return {0, 0};
}

DType expected_reduce_dtype(ReduceOp op, DType in) {
  if (op == ReduceOp::ArgMax || op == ReduceOp::ArgMin) return DType::Int64;
  if (op == ReduceOp::Any || op == ReduceOp::All) return DType::Bool;
  return in;
}

const char* reduce_name(ReduceOp op) {
  const char* names[] = {"sum", "prod", "max", "min", "argmax", "argmin", "any", "all"};
  return names[int(op)];
}

// Runs one reduction of `in` (already filled) and checks every output.
void check_reduce(ReduceOp op, const View& in, int r, const std::string& what) {
  const int kept_nd = in.ndim - r;
  Sizes kept_sizes(in.sizes, in.sizes + kept_nd);
  Tensor out = make(expected_reduce_dtype(op, in.dtype), kept_sizes);
  K().reduce(op, out.v, in, r);
  const bool is_float = in.dtype == DType::Float32 || in.dtype == DType::Float64;
  for_each_index(kept_sizes, [&](const Sizes& k) {
    const ReduceRef ref = ref_reduce(op, in, k, r);
    if (op == ReduceOp::ArgMax || op == ReduceOp::ArgMin) {
      ASSERT_EQ(get_i(out.v, k), ref.index) << reduce_name(op) << " " << what;
      return;
    }
    double want = ref.value;
    if (out.v.dtype == DType::Bool) want = want != 0;
    if (out.v.dtype == DType::Float32) want = double(float(want));
    const double got = get(out.v, k);
    if (is_float && (op == ReduceOp::Sum || op == ReduceOp::Prod)) {
      ASSERT_TRUE(close(got, want, in.dtype == DType::Float32 ? 1e-6 : 1e-12, 1e-9))
          << reduce_name(op) << " " << what << " got " << got << " want " << want;
    } else {
      ASSERT_TRUE(close(got, want, 0, 0)) << reduce_name(op) << " " << what << " got " << got << " want " << want;
    }
  });
}

struct ReduceCase {
  Sizes sizes;
  Sizes strides;  // empty: contiguous
  int r;
  const char* what;
};

std::vector<ReduceCase> reduce_cases() {
  return {
      {{5, 7}, {}, 1, "trailing"},
      {{1, 1000}, {}, 1, "one row"},
      {{33, 6}, {1, 33}, 1, "leading (column sums)"},
      {{1000, 7}, {1, 1000}, 1, "leading long"},
      {{7, 1000}, {1, 7}, 1, "leading short kept"},
      {{2, 5, 3, 4}, {60, 1, 20, 5}, 2, "middle dims"},
      {{3, 4, 5}, {}, 2, "multi trailing"},
      {{3, 4, 5}, {}, 3, "full"},
      {{3, 4, 5}, {}, 0, "none"},
      {{3, 4, 5}, {1, 3, 12}, 2, "multi column"},
      {{6, 5}, {0, 1}, 1, "broadcast kept"},
      {{6, 5}, {1, 0}, 1, "broadcast reduced"},
      {{4, 9}, {18, 2}, 1, "padded"},
      {{}, {}, 0, "scalar"},
      {{7}, {}, 1, "vector"},
      {{3, 40000}, {}, 1, "few long rows (split)"},
      {{40001}, {}, 1, "full long (split)"},
      {{3, 20000}, {1, 3}, 1, "few long columns (split)"},
      {{20000, 3}, {1, 20000}, 1, "many short columns"},
      {{20000, 3}, {}, 1, "many short rows"},
      {{200, 200}, {1, 200}, 1, "column parallel"},
      {{17, 9, 5}, {5, 85, 1}, 1, "middle kept contiguous"},
  };
}

Tensor make_case(DType dt, const ReduceCase& c) {
  if (c.strides.empty()) return make(dt, c.sizes);
  return make_strided(dt, c.sizes, c.strides);
}

TEST(CpuKernels, ReduceAllOpsAndLayouts) {
  const ReduceOp ops[] = {ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Max, ReduceOp::Min,
                          ReduceOp::ArgMax, ReduceOp::ArgMin, ReduceOp::Any, ReduceOp::All};
  for (const ReduceCase& c : reduce_cases()) {
    for (DType dt : {DType::Float32, DType::Float64, DType::Int64}) {
      Tensor in = make_case(dt, c);
      for (ReduceOp op : ops) {
        if (op == ReduceOp::Prod) {
          if (dt == DType::Int64) fill_with(in.v, [] { return double(irand(-1, 1) == 0 ? 1 : irand(-1, 1)); });
          else fill_with(in.v, [] { return urand(0.995, 1.005); });
        } else if (op == ReduceOp::Any || op == ReduceOp::All) {
          // Mostly nonzero with occasional zeros.
          fill_with(in.v, [] { return irand(0, 40) == 0 ? 0.0 : urand(-1, 1); });
        } else if (dt == DType::Int64 || op == ReduceOp::ArgMax || op == ReduceOp::ArgMin) {
          fill_with(in.v, [] { return double(irand(-20, 20)); });  // many ties
        } else {
          fill_with(in.v, [] { return urand(-1, 1); });
        }
        check_reduce(op, in.v, c.r, std::string(c.what) + " " + dtype_str(dt));
      }
    }
    Tensor b = make_case(DType::Bool, c);
    for (ReduceOp op : {ReduceOp::Any, ReduceOp::All, ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min,
                        ReduceOp::ArgMax}) {
      for (int density : {0, 1, 50}) {
        fill_with(b.v, [&] { return density == 0 ? 1.0 : double(irand(0, density) != 0); });
        check_reduce(op, b.v, c.r, std::string(c.what) + " bool");
      }
    }
  }
}

TEST(CpuKernels, ReduceNaNAndEmpty) {
  // NaN is the extreme for max/min/argmax/argmin; the first NaN wins.
  std::vector<float> x = {1.0f, float(kNaN), 5.0f, float(kNaN), -3.0f};
  View in = vec_view(x);
  float f;
  int64_t idx;
  View fo, io;
  fo.dtype = DType::Float32;
  fo.data = &f;
  io.dtype = DType::Int64;
  io.data = &idx;
  K().reduce(ReduceOp::Max, fo, in, 1);
  EXPECT_TRUE(std::isnan(f));
  K().reduce(ReduceOp::Min, fo, in, 1);
  EXPECT_TRUE(std::isnan(f));
  K().reduce(ReduceOp::ArgMax, io, in, 1);
  EXPECT_EQ(idx, 1);
  K().reduce(ReduceOp::ArgMin, io, in, 1);
  EXPECT_EQ(idx, 1);
  K().reduce(ReduceOp::Sum, fo, in, 1);
  EXPECT_TRUE(std::isnan(f));
  // NaN in long rows and columns (vectorized / column paths).
  for (const ReduceCase& c : {ReduceCase{{3, 1000}, {}, 1, "rows"}, ReduceCase{{1000, 3}, {1, 1000}, 1, "cols"},
                              ReduceCase{{2, 100000}, {}, 1, "split"}}) {
    Tensor t = make_case(DType::Float64, c);
    fill_with(t.v, [] { return urand(-1, 1); });
    Sizes nan_at = {1, c.sizes[1] - 2};
    set(t.v, nan_at, kNaN);
    set(t.v, {1, c.sizes[1] - 1}, kNaN);
    for (ReduceOp op : {ReduceOp::Max, ReduceOp::Min, ReduceOp::ArgMax, ReduceOp::ArgMin})
      check_reduce(op, t.v, 1, std::string("nan ") + c.what);
  }
  // Ties: first index of the extreme, also in split reductions.
  Tensor t = make(DType::Float32, {200001});
  fill_with(t.v, [] { return 0.0; });
  set(t.v, {150000}, 2.0);
  set(t.v, {180000}, 2.0);
  set(t.v, {100}, -1.0);
  set(t.v, {199999}, -1.0);
  check_reduce(ReduceOp::ArgMax, t.v, 1, "ties split");
  check_reduce(ReduceOp::ArgMin, t.v, 1, "ties split");
  // -inf only rows: argmax is 0.
  Tensor ninf = make(DType::Float32, {2, 5});
  fill_with(ninf.v, [] { return -kInf; });
  check_reduce(ReduceOp::ArgMax, ninf.v, 1, "-inf");
  check_reduce(ReduceOp::Max, ninf.v, 1, "-inf");

  // Empty reductions: identities.
  Tensor e = make(DType::Float32, {3, 0});
  struct C {
    ReduceOp op;
    double v;
  };
  for (C c : {C{ReduceOp::Sum, 0}, C{ReduceOp::Prod, 1}, C{ReduceOp::Any, 0}, C{ReduceOp::All, 1}}) {
    Tensor o = make(reduce_out_dtype(c.op, DType::Float32), {3});
    fill_with(o.v, [] { return 7.0; });
    K().reduce(c.op, o.v, e.v, 1);
    for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(get(o.v, {i}), c.v) << reduce_name(c.op);
  }
  // Empty kept dims: nothing written, no crash.
  Tensor e2 = make(DType::Float32, {0, 4});
  Tensor o2 = make(DType::Float32, {0});
  K().reduce(ReduceOp::Sum, o2.v, e2.v, 1);
}

TEST(CpuKernels, ReduceSumAccumulatesInDouble) {
  // 1 + 1e8 * 1e-8... in float32 a naive float accumulator would lose the small terms.
  const int64_t n = 1 << 22;
  Tensor t = make(DType::Float32, {n});
  fill_with(t.v, [] { return 0.1; });
  float out;
  View o;
  o.dtype = DType::Float32;
  o.data = &out;
  K().reduce(ReduceOp::Sum, o, t.v, 1);
  EXPECT_EQ(out, float(double(0.1f) * double(n)));
  // Column sums of the same values.
  Tensor c = make_strided(DType::Float32, {4, n / 4}, {1, 4});
  fill_with(c.v, [] { return 0.1; });
  std::vector<float> cs(4);
  K().reduce(ReduceOp::Sum, vec_view(cs), c.v, 1);
  for (float v : cs) EXPECT_EQ(v, float(double(0.1f) * double(n / 4)));
}

// ------------------------------------------------------------------------------------------------
// gemm

template <typename T>
void check_gemm(const std::function<void(const GemmArgs&)>& fn, DType dt, bool ta, bool tb, int64_t m,
                int64_t n, int64_t k, int64_t batch, int64_t pad, bool bcast_a, bool bcast_b,
                double alpha, double beta, const char* path) {
  const int64_t a_rows = ta ? k : m, a_cols = ta ? m : k;
  const int64_t b_rows = tb ? n : k, b_cols = tb ? k : n;
  const int64_t lda = a_cols + pad, ldb = b_cols + pad, ldc = n + pad;
  const int64_t sa = bcast_a ? 0 : a_rows * lda + 3, sb = bcast_b ? 0 : b_rows * ldb + 5,
                sc = m * ldc + 1;
  std::vector<T> A(size_t(std::max<int64_t>(1, (bcast_a ? 1 : batch) * (a_rows * lda + 3))));
  std::vector<T> B(size_t(std::max<int64_t>(1, (bcast_b ? 1 : batch) * (b_rows * ldb + 5))));
  std::vector<T> C(size_t(std::max<int64_t>(1, batch * sc)));
  for (auto& v : A) v = T(std::is_integral_v<T> ? irand(-5, 5) : urand(-1, 1));
  for (auto& v : B) v = T(std::is_integral_v<T> ? irand(-5, 5) : urand(-1, 1));
  for (auto& v : C) v = beta == 0 ? (std::is_integral_v<T> ? T(1234567) : T(kNaN)) : T(std::is_integral_v<T> ? irand(-5, 5) : urand(-1, 1));
  const std::vector<T> C0 = C;
  GemmArgs g;
  g.dtype = dt;
  g.trans_a = ta;
  g.trans_b = tb;
  g.m = m;
  g.n = n;
  g.k = k;
  g.batch = batch;
  g.a = A.data();
  g.lda = lda;
  g.stride_a = sa;
  g.b = B.data();
  g.ldb = ldb;
  g.stride_b = sb;
  g.c = C.data();
  g.ldc = ldc;
  g.stride_c = sc;
  g.alpha = alpha;
  g.beta = beta;
  fn(g);
  for (int64_t bi = 0; bi < batch; ++bi) {
    const T* a = A.data() + bi * sa;
    const T* b = B.data() + bi * sb;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0, mag = 0;
        for (int64_t p = 0; p < k; ++p) {
          const double av = ta ? a[p * lda + i] : a[i * lda + p];
          const double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
          acc += av * bv;
          mag += std::abs(av * bv);
        }
        const size_t ci = size_t(bi * sc + i * ldc + j);
        const double want = alpha * acc + (beta == 0 ? 0.0 : beta * double(C0[ci]));
        const double got = double(C[ci]);
        const double eps = dt == DType::Float32 ? 1.2e-7 : 2.3e-16;
        const double cmag = beta == 0 ? 0.0 : std::abs(beta * double(C0[ci]));
        const double tol = std::is_integral_v<T> ? 0 : eps * (4 * double(k) + 8) * (std::abs(alpha) * mag + cmag + 1);
        ASSERT_NEAR(got, want, tol) << path << " " << dtype_str(dt) << " ta=" << ta << " tb=" << tb
                                    << " m=" << m << " n=" << n << " k=" << k << " batch=" << batch
                                    << " i=" << i << " j=" << j;
      }
    }
    // Padding columns of C are untouched.
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = n; j < ldc; ++j) {
        const size_t ci = size_t(bi * sc + i * ldc + j);
        if (std::is_integral_v<T> || !std::isnan(double(C0[ci]))) {
          ASSERT_EQ(C[ci], C0[ci]) << path << " padding written";
        } else {
          ASSERT_TRUE(std::isnan(double(C[ci]))) << path << " padding written";
        }
      }
  }
}

struct GemmPath {
  const char* name;
  std::function<void(const GemmArgs&)> fn;
};

std::vector<GemmPath> gemm_paths() {
  return {{"table", [](const GemmArgs& g) { K().gemm(g); }},
          {"fallback", [](const GemmArgs& g) { cpu::gemm_fallback(g); }}};
}

TEST(CpuKernels, GemmAllTransposesAndSizes) {
  const int64_t sizes[] = {1, 7, 33, 130};
  for (const GemmPath& path : gemm_paths())
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (int64_t m : sizes)
          for (int64_t n : sizes)
            for (int64_t k : sizes)
              check_gemm<float>(path.fn, DType::Float32, ta, tb, m, n, k, 1, 0, false, false, 1.0, 0.0,
                                path.name);
}

TEST(CpuKernels, GemmAlphaBetaPaddingBatch) {
  for (const GemmPath& path : gemm_paths()) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        // Larger leading dims, alpha/beta, NaN C with beta 0.
        check_gemm<float>(path.fn, DType::Float32, ta, tb, 33, 7, 130, 1, 3, false, false, 1.5, 0.5, path.name);
        check_gemm<float>(path.fn, DType::Float32, ta, tb, 37, 41, 19, 1, 5, false, false, -0.7, 0.0, path.name);
        check_gemm<double>(path.fn, DType::Float64, ta, tb, 33, 130, 7, 1, 2, false, false, 2.0, -1.0, path.name);
        check_gemm<double>(path.fn, DType::Float64, ta, tb, 130, 33, 65, 1, 0, false, false, 1.0, 0.0, path.name);
        // Batches, with and without broadcast A or B.
        check_gemm<float>(path.fn, DType::Float32, ta, tb, 7, 33, 13, 3, 1, false, false, 1.0, 0.0, path.name);
        check_gemm<float>(path.fn, DType::Float32, ta, tb, 7, 33, 13, 4, 0, true, false, 1.0, 0.25, path.name);
        check_gemm<float>(path.fn, DType::Float32, ta, tb, 33, 9, 17, 5, 2, false, true, 1.0, 0.0, path.name);
        check_gemm<double>(path.fn, DType::Float64, ta, tb, 6, 5, 4, 7, 1, true, false, 0.5, 2.0, path.name);
      }
    }
    // k == 0: C = beta * C (beta 0: zeros even over NaN).
    check_gemm<float>(path.fn, DType::Float32, false, false, 5, 6, 0, 2, 1, false, false, 1.0, 0.0, path.name);
    check_gemm<float>(path.fn, DType::Float32, true, false, 5, 6, 0, 1, 0, false, false, 1.0, 3.0, path.name);
    // alpha == 0 with beta.
    check_gemm<double>(path.fn, DType::Float64, false, true, 9, 4, 3, 1, 0, false, false, 0.0, 0.5, path.name);
    // m or n == 0: nothing happens.
    check_gemm<float>(path.fn, DType::Float32, false, false, 0, 6, 4, 1, 0, false, false, 1.0, 0.0, path.name);
    check_gemm<float>(path.fn, DType::Float32, false, false, 6, 0, 4, 1, 0, false, false, 1.0, 0.0, path.name);
  }
}

TEST(CpuKernels, GemmLargeMultiBlock) {
  // Several K blocks, several row and column tiles, threads.
  for (const GemmPath& path : gemm_paths()) {
    check_gemm<float>(path.fn, DType::Float32, false, false, 300, 257, 519, 1, 0, false, false, 1.0, 0.0, path.name);
    check_gemm<float>(path.fn, DType::Float32, true, true, 131, 600, 300, 1, 1, false, false, 1.0, 1.0, path.name);
    check_gemm<double>(path.fn, DType::Float64, false, true, 200, 150, 600, 2, 0, false, false, 1.0, 0.5, path.name);
    check_gemm<float>(path.fn, DType::Float32, false, false, 64, 64, 64, 40, 0, false, true, 1.0, 0.0, path.name);
  }
}

// Two batch levels laid out like attention's heads: item (o, i)'s rows interleave with the other
// inner items' (row stride inner * cols), so no single batch stride reaches every item. B is
// shared by all items (both strides 0), by the inner items only, or by the outer ones only.
enum class BShare { None, All, AcrossInner, AcrossOuter };

void check_gemm_two_level(const std::function<void(const GemmArgs&)>& fn, bool ta, bool tb, int64_t m,
                          int64_t n, int64_t k, int64_t outer, int64_t inner, BShare share,
                          double beta, const char* path) {
  const int64_t a_rows = ta ? k : m, a_cols = ta ? m : k;
  const int64_t b_rows = tb ? n : k, b_cols = tb ? k : n;
  const int64_t b_outer = share == BShare::All || share == BShare::AcrossOuter ? 1 : outer;
  const int64_t b_inner = share == BShare::All || share == BShare::AcrossInner ? 1 : inner;
  std::vector<float> A(size_t(outer * a_rows * inner * a_cols));
  std::vector<float> B(size_t(b_outer * b_rows * b_inner * b_cols));
  std::vector<float> C(size_t(outer * m * inner * n));
  for (auto& v : A) v = float(urand(-1, 1));
  for (auto& v : B) v = float(urand(-1, 1));
  for (auto& v : C) v = beta == 0 ? kNaN : float(urand(-1, 1));
  const std::vector<float> C0 = C;
  GemmArgs g;
  g.trans_a = ta;
  g.trans_b = tb;
  g.m = m;
  g.n = n;
  g.k = k;
  g.outer = outer;
  g.batch = inner;
  g.a = A.data();
  g.lda = inner * a_cols;
  g.stride_a = a_cols;
  g.outer_stride_a = a_rows * inner * a_cols;
  g.b = B.data();
  g.ldb = b_inner * b_cols;
  g.stride_b = b_inner == 1 ? 0 : b_cols;
  g.outer_stride_b = b_outer == 1 ? 0 : b_rows * b_inner * b_cols;
  g.c = C.data();
  g.ldc = inner * n;
  g.stride_c = n;
  g.outer_stride_c = m * inner * n;
  g.beta = beta;
  fn(g);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t bi = 0; bi < inner; ++bi) {
      const float* a = A.data() + o * g.outer_stride_a + bi * g.stride_a;
      const float* b = B.data() + (b_outer == 1 ? 0 : o) * g.outer_stride_b + (b_inner == 1 ? 0 : bi) * b_cols;
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double acc = 0, mag = 0;
          for (int64_t p = 0; p < k; ++p) {
            const double av = ta ? a[p * g.lda + i] : a[i * g.lda + p];
            const double bv = tb ? b[j * g.ldb + p] : b[p * g.ldb + j];
            acc += av * bv;
            mag += std::abs(av * bv);
          }
          const size_t ci = size_t(o * g.outer_stride_c + i * g.ldc + bi * n + j);
          const double want = acc + (beta == 0 ? 0.0 : beta * double(C0[ci]));
          ASSERT_NEAR(double(C[ci]), want, 1.2e-7 * (4 * double(k) + 8) * (mag + 2))
              << path << " ta=" << ta << " tb=" << tb << " m=" << m << " n=" << n << " k=" << k
              << " outer=" << outer << " inner=" << inner << " share=" << int(share) << " item (" << o
              << ", " << bi << ") i=" << i << " j=" << j;
        }
    }
}

TEST(CpuKernels, GemmTwoBatchLevelsReadInterleavedItemsInPlace) {
  for (const GemmPath& path : gemm_paths())
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (BShare share : {BShare::None, BShare::All, BShare::AcrossInner, BShare::AcrossOuter}) {
          check_gemm_two_level(path.fn, ta, tb, 7, 9, 5, 3, 4, share, 0.0, path.name);
          check_gemm_two_level(path.fn, ta, tb, 33, 16, 40, 2, 3, share, 0.5, path.name);
        }
  // Large enough to split over threads and K blocks.
  for (const GemmPath& path : gemm_paths())
    check_gemm_two_level(path.fn, false, true, 64, 64, 300, 4, 4, BShare::AcrossInner, 0.0, path.name);
}

TEST(CpuKernels, GemmInt64Fallback) {
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (int64_t s : {1, 7, 33})
        check_gemm<int64_t>([](const GemmArgs& g) { cpu::gemm_fallback(g); }, DType::Int64, ta, tb, s, s + 2,
                            s + 1, 2, 1, false, false, 1.0, 0.0, "fallback");
}

// ------------------------------------------------------------------------------------------------
// softmax

void ref_softmax(bool log, const std::vector<double>& x, std::vector<double>& y) {
  double m = -kInf;
  bool nan = false;
  for (double v : x) {
    if (std::isnan(v)) nan = true;
    m = std::max(m, v);
  }
  y.assign(x.size(), kNaN);
  if (nan || m == -kInf || m == kInf) return;
  double s = 0;
  for (double v : x) s += std::exp(v - m);
  for (size_t i = 0; i < x.size(); ++i) y[i] = log ? (x[i] - m) - std::log(s) : std::exp(x[i] - m) / s;
}

void check_softmax(DType dt, bool log, const Tensor& in, const Layout out_layout, const std::string& what) {
  Sizes sz = sizes_of(in.v);
  Tensor out = make(dt, sz, out_layout);
  K().softmax(log, out.v, in.v);
  const int64_t L = sz.empty() ? 1 : sz.back();
  Sizes outer(sz.begin(), sz.end() - (sz.empty() ? 0 : 1));
  for_each_index(outer, [&](const Sizes& o) {
    std::vector<double> x(static_cast<size_t>(L)), y;
    for (int64_t j = 0; j < L; ++j) {
      Sizes i = o;
      if (!sz.empty()) i.push_back(j);
      x[size_t(j)] = get(in.v, i);
    }
    ref_softmax(log, x, y);
    for (int64_t j = 0; j < L; ++j) {
      Sizes i = o;
      if (!sz.empty()) i.push_back(j);
      const double want = y[size_t(j)];
      ASSERT_TRUE(close(get(out.v, i), want, rtol_for(dt) * 5, atol_for(dt) * 5))
          << what << " log=" << log << " " << dtype_str(dt) << " got " << get(out.v, i) << " want " << want;
    }
  });
}

TEST(CpuKernels, SoftmaxRowsAndLayouts) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    for (bool log : {false, true}) {
      for (int64_t L : {1, 7, 33, 1000}) {
        for (Layout li : {Layout::Contig, Layout::Reversed, Layout::Padded}) {
          for (Layout lo : {Layout::Contig, Layout::Reversed}) {
            Tensor in = make(dt, {5, L}, li);
            fill_with(in.v, [] { return urand(-10, 10); });
            check_softmax(dt, log, in, lo, std::string("L=") + std::to_string(L) + " " + layout_name(li));
          }
        }
      }
      Tensor big = make(dt, {300, 257}, Layout::Contig);  // parallel over rows
      fill_with(big.v, [] { return urand(-5, 5); });
      check_softmax(dt, log, big, Layout::Contig, "parallel");
      Tensor three = make(dt, {3, 4, 9}, Layout::Reversed);
      fill_with(three.v, [] { return urand(-5, 5); });
      check_softmax(dt, log, three, Layout::Padded, "3d");
      Tensor scalar = make(dt, {}, Layout::Contig);
      set(scalar.v, {}, 3.0);
      check_softmax(dt, log, scalar, Layout::Contig, "0-d");
    }
  }
}

TEST(CpuKernels, SoftmaxExtremeValues) {
  for (bool log : {false, true}) {
    std::vector<float> x = {1e4f, -1e4f, 0.0f};
    std::vector<float> y(3);
    K().softmax(log, vec_view(y), vec_view(x));
    if (log) {
      EXPECT_EQ(y[0], 0.0f);
      EXPECT_EQ(y[1], -2e4f);
      EXPECT_EQ(y[2], -1e4f);
    } else {
      EXPECT_EQ(y[0], 1.0f);
      EXPECT_EQ(y[1], 0.0f);
      EXPECT_EQ(y[2], 0.0f);
    }
    // -inf entries are fine; a row of only -inf is NaN.
    std::vector<float> z = {-float(kInf), 0.0f, float(std::log(3.0))};
    K().softmax(log, vec_view(y), vec_view(z));
    if (log) {
      EXPECT_EQ(y[0], -float(kInf));
      EXPECT_NEAR(y[1], -std::log(4.0f), 1e-6f);
      EXPECT_NEAR(y[2], std::log(0.75f), 1e-6f);
    } else {
      EXPECT_EQ(y[0], 0.0f);
      EXPECT_NEAR(y[1], 0.25f, 1e-7f);
      EXPECT_NEAR(y[2], 0.75f, 1e-7f);
    }
    std::vector<float> ni = {-float(kInf), -float(kInf)}, no(2);
    K().softmax(log, vec_view(no), vec_view(ni));
    EXPECT_TRUE(std::isnan(no[0]) && std::isnan(no[1]));
    // In place.
    std::vector<double> ip = {1, 2, 3};
    K().softmax(log, vec_view(ip), vec_view(ip));
    std::vector<double> want;
    ref_softmax(log, {1, 2, 3}, want);
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(ip[size_t(i)], want[size_t(i)], 1e-15);
  }
}

TEST(CpuKernels, SoftmaxBackward) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    for (bool log : {false, true}) {
      for (int64_t L : {1, 7, 33, 1000}) {
        for (Layout l : {Layout::Contig, Layout::Reversed}) {
          Tensor x = make(dt, {6, L}), y = make(dt, {6, L}, l), g = make(dt, {6, L}, l),
                 gi = make(dt, {6, L}, l == Layout::Contig ? Layout::Contig : Layout::Padded);
          fill_with(x.v, [] { return urand(-3, 3); });
          fill_with(g.v, [] { return urand(-1, 1); });
          K().softmax(log, y.v, x.v);
          K().softmax_backward(log, gi.v, g.v, y.v);
          for (int64_t r = 0; r < 6; ++r) {
            double s = 0;
            for (int64_t j = 0; j < L; ++j)
              s += log ? get(g.v, {r, j}) : get(g.v, {r, j}) * get(y.v, {r, j});
            for (int64_t j = 0; j < L; ++j) {
              const double yy = get(y.v, {r, j}), gg = get(g.v, {r, j});
              const double want = log ? gg - std::exp(yy) * s : yy * (gg - s);
              ASSERT_TRUE(close(get(gi.v, {r, j}), want, rtol_for(dt) * 10, atol_for(dt) * 10))
                  << "log=" << log << " L=" << L << " got " << get(gi.v, {r, j}) << " want " << want;
            }
          }
        }
      }
    }
  }
}

// ------------------------------------------------------------------------------------------------
// indexing

Tensor index_tensor(const std::vector<int64_t>& values) {
  Tensor t = make(DType::Int64, {int64_t(values.size())});
  for (size_t i = 0; i < values.size(); ++i) set(t.v, {int64_t(i)}, double(values[i]));
  return t;
}

TEST(CpuKernels, IndexSelect) {
  struct C {
    Sizes in_sizes;
    int dim;
    std::vector<int64_t> idx;
    Layout in_layout;
  };
  std::vector<int64_t> many;
  for (int i = 0; i < 5000; ++i) many.push_back(irand(0, 99));
  const C cases[] = {
      {{5, 4}, 0, {4, 0, 0, 2}, Layout::Contig},        // small trailing blocks
      {{6, 40}, 0, {5, 1, 1, 0, 3}, Layout::Contig},    // blockwise copies
      {{5, 50}, 1, {49, 0, 7, 7, 3, 1, 2}, Layout::Reversed},
      {{3, 4, 5}, 1, {3, 3, 0}, Layout::Padded},
      {{3, 4, 50}, 1, {3, 3, 0}, Layout::Reversed},
      {{7}, 0, {6, 0, 3}, Layout::Contig},
      {{100, 64}, 0, many, Layout::Contig},             // parallel over index positions
      {{100}, 0, many, Layout::Contig},
      {{4, 100}, 1, many, Layout::Reversed},
  };
  for (const C& c : cases) {
    for (DType dt : {DType::Float32, DType::Int64, DType::Bool}) {
      Tensor in = make(dt, c.in_sizes, c.in_layout);
      fill_with(in.v, [&] { return dt == DType::Bool ? double(irand(0, 1)) : double(irand(-100, 100)); });
      Sizes out_sizes = c.in_sizes;
      out_sizes[size_t(c.dim)] = int64_t(c.idx.size());
      Tensor out = make(dt, out_sizes, Layout::Padded);
      Tensor ix = index_tensor(c.idx);
      const IndexCheck chk = K().index_select(out.v, in.v, ix.v, c.dim);
      ASSERT_TRUE(chk.ok);
      for_each_index(out_sizes, [&](const Sizes& i) {
        Sizes src = i;
        src[size_t(c.dim)] = c.idx[size_t(i[size_t(c.dim)])];
        ASSERT_EQ(get(out.v, i), get(in.v, src));
      });
    }
  }
  // Out of range: the first bad value, nothing written.
  Tensor in = make(DType::Float32, {5, 3});
  fill_with(in.v, [] { return 1.0; });
  Tensor out = make(DType::Float32, {4, 3});
  fill_with(out.v, [] { return -7.0; });
  Tensor bad = index_tensor({1, 5, -1, 9});
  IndexCheck chk = K().index_select(out.v, in.v, bad.v, 0);
  EXPECT_FALSE(chk.ok);
  EXPECT_EQ(chk.bad_index, 5);
  for_each_index({4, 3}, [&](const Sizes& i) { EXPECT_EQ(get(out.v, i), -7.0); });
  Tensor neg = index_tensor({0, -1, 7, 2});
  chk = K().index_select(out.v, in.v, neg.v, 0);
  EXPECT_FALSE(chk.ok);
  EXPECT_EQ(chk.bad_index, -1);
  // A bad value deep in a long (parallel-validated) index.
  std::vector<int64_t> long_idx(300000, 2);
  long_idx[250000] = 17;
  long_idx[260000] = -4;
  Tensor lix = index_tensor(long_idx);
  Tensor lout = make(DType::Float32, {300000, 3});
  chk = K().index_select(lout.v, in.v, lix.v, 0);
  EXPECT_FALSE(chk.ok);
  EXPECT_EQ(chk.bad_index, 17);
}

TEST(CpuKernels, IndexAdd) {
  struct C {
    Sizes out_sizes;
    int dim;
    std::vector<int64_t> idx;
  };
  std::vector<int64_t> many;
  for (int i = 0; i < 3000; ++i) many.push_back(irand(0, 9));
  const C cases[] = {
      {{5, 3}, 0, {0, 2, 0, 4, 2, 2}},
      {{5, 40}, 0, {0, 2, 0, 4, 2, 2}},
      {{3, 6}, 1, {5, 5, 0, 1}},
      {{3, 6, 40}, 1, {5, 5, 0, 1}},
      {{10, 64}, 0, many},
      {{10}, 0, many},
      {{2, 10}, 1, many},
  };
  for (const C& c : cases) {
    for (DType dt : {DType::Float32, DType::Float64, DType::Int64}) {
      Sizes src_sizes = c.out_sizes;
      src_sizes[size_t(c.dim)] = int64_t(c.idx.size());
      Tensor out = make(dt, c.out_sizes, Layout::Reversed), src = make(dt, src_sizes, Layout::Padded);
      fill_with(out.v, [] { return double(irand(-5, 5)); });
      fill_with(src.v, [] { return double(irand(-5, 5)); });
      // Reference.
      std::vector<double> want;
      for_each_index(c.out_sizes, [&](const Sizes& i) { want.push_back(get(out.v, i)); });
      std::vector<int64_t> strides(c.out_sizes.size(), 1);
      for (int d = int(c.out_sizes.size()) - 2; d >= 0; --d)
        strides[size_t(d)] = strides[size_t(d) + 1] * c.out_sizes[size_t(d) + 1];
      for_each_index(src_sizes, [&](const Sizes& i) {
        Sizes o = i;
        o[size_t(c.dim)] = c.idx[size_t(i[size_t(c.dim)])];
        int64_t flat = 0;
        for (size_t d = 0; d < o.size(); ++d) flat += o[d] * strides[d];
        want[size_t(flat)] += get(src.v, i);
      });
      Tensor ix = index_tensor(c.idx);
      ASSERT_TRUE(K().index_add(out.v, ix.v, src.v, c.dim).ok);
      size_t k = 0;
      for_each_index(c.out_sizes, [&](const Sizes& i) { ASSERT_EQ(get(out.v, i), want[k++]) << dtype_str(dt); });
    }
  }
  Tensor out = make(DType::Float32, {3, 2}), src = make(DType::Float32, {2, 2});
  fill_with(out.v, [] { return 0.0; });
  fill_with(src.v, [] { return 1.0; });
  Tensor bad = index_tensor({2, 3});
  const IndexCheck chk = K().index_add(out.v, bad.v, src.v, 0);
  EXPECT_FALSE(chk.ok);
  EXPECT_EQ(chk.bad_index, 3);
  for_each_index({3, 2}, [&](const Sizes& i) { EXPECT_EQ(get(out.v, i), 0.0); });
}

TEST(CpuKernels, GatherAndScatterAdd) {
  struct C {
    Sizes in_sizes, index_sizes;
    int dim;
  };
  const C cases[] = {
      {{3, 5}, {3, 4}, 1}, {{3, 5}, {6, 5}, 0}, {{4, 6}, {3, 2}, 1}, {{4, 6, 5}, {2, 9, 3}, 1},
      {{7}, {20}, 0},      {{200, 300}, {200, 400}, 1}, {{100000}, {100000}, 0}, {{5, 3000}, {5, 3000}, 0},
  };
  for (const C& c : cases) {
    for (DType dt : {DType::Float32, DType::Int64}) {
      const int64_t limit = c.in_sizes[size_t(c.dim)];
      Tensor ix = make(DType::Int64, c.index_sizes, Layout::Reversed);
      fill_with(ix.v, [&] { return double(irand(0, limit - 1)); });
      // gather
      Tensor in = make(dt, c.in_sizes, Layout::Padded);
      fill_with(in.v, [] { return double(irand(-50, 50)); });
      Tensor out = make(dt, c.index_sizes);
      ASSERT_TRUE(K().gather(out.v, in.v, ix.v, c.dim).ok);
      for_each_index(c.index_sizes, [&](const Sizes& i) {
        Sizes s = i;
        s[size_t(c.dim)] = get_i(ix.v, i);
        ASSERT_EQ(get(out.v, i), get(in.v, s));
      });
      // scatter_add into a tensor shaped like `in`
      Tensor dst = make(dt, c.in_sizes, Layout::Reversed), src = make(dt, c.index_sizes, Layout::Padded);
      fill_with(dst.v, [] { return double(irand(-5, 5)); });
      fill_with(src.v, [] { return double(irand(-5, 5)); });
      std::vector<double> want;
      for_each_index(c.in_sizes, [&](const Sizes& i) { want.push_back(get(dst.v, i)); });
      std::vector<int64_t> strides(c.in_sizes.size(), 1);
      for (int d = int(c.in_sizes.size()) - 2; d >= 0; --d)
        strides[size_t(d)] = strides[size_t(d) + 1] * c.in_sizes[size_t(d) + 1];
      for_each_index(c.index_sizes, [&](const Sizes& i) {
        Sizes o = i;
        o[size_t(c.dim)] = get_i(ix.v, i);
        int64_t flat = 0;
        for (size_t d = 0; d < o.size(); ++d) flat += o[d] * strides[d];
        want[size_t(flat)] += get(src.v, i);
      });
      ASSERT_TRUE(K().scatter_add(dst.v, ix.v, src.v, c.dim).ok);
      size_t k = 0;
      for_each_index(c.in_sizes, [&](const Sizes& i) { ASSERT_EQ(get(dst.v, i), want[k++]) << dtype_str(dt); });
    }
  }
  // Out of range.
  Tensor in = make(DType::Float32, {2, 3});
  fill_with(in.v, [] { return 1.0; });
  Tensor ix = make(DType::Int64, {2, 2});
  set(ix.v, {0, 0}, 0);
  set(ix.v, {0, 1}, 2);
  set(ix.v, {1, 0}, 3);
  set(ix.v, {1, 1}, -2);
  Tensor out = make(DType::Float32, {2, 2});
  fill_with(out.v, [] { return 9.0; });
  IndexCheck chk = K().gather(out.v, in.v, ix.v, 1);
  EXPECT_FALSE(chk.ok);
  EXPECT_EQ(chk.bad_index, 3);
  for_each_index({2, 2}, [&](const Sizes& i) { EXPECT_EQ(get(out.v, i), 9.0); });
  Tensor src = make(DType::Float32, {2, 2});
  fill_with(src.v, [] { return 1.0; });
  chk = K().scatter_add(in.v, ix.v, src.v, 1);
  EXPECT_FALSE(chk.ok);
  EXPECT_EQ(chk.bad_index, 3);
  for_each_index({2, 3}, [&](const Sizes& i) { EXPECT_EQ(get(in.v, i), 1.0); });
}

// ------------------------------------------------------------------------------------------------
// random

TEST(CpuKernels, PhiloxKnownAnswers) {
  philox::Block z = philox::philox4x32_10(philox::Block{{0, 0, 0, 0}}, 0, 0);
  EXPECT_EQ(z.w[0], 0x6627e8d5u);
  EXPECT_EQ(z.w[1], 0xe169c58du);
  EXPECT_EQ(z.w[2], 0xbc57ac4cu);
  EXPECT_EQ(z.w[3], 0x9b00dbd8u);
  philox::Block f = philox::philox4x32_10(
      philox::Block{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu, 0xffffffffu);
  EXPECT_EQ(f.w[0], 0x408f276du);
  EXPECT_EQ(f.w[1], 0x41c83b0eu);
  EXPECT_EQ(f.w[2], 0xa20bc7c6u);
  EXPECT_EQ(f.w[3], 0x6d5451fdu);
}

TEST(CpuKernels, RandomElementMapping) {
  const uint64_t seed = 0x123456789abcdefull, offset = 42;
  // Uniform float32: word(i); float64: word_pair(i); through a transposed out view the element
  // index is still row-major over the sizes.
  for (Layout l : {Layout::Contig, Layout::Reversed, Layout::Padded}) {
    Tensor f = make(DType::Float32, {7, 9}, l);
    K().random(RandomKind::Uniform, f.v, seed, offset, -1.0, 3.0);
    Tensor d = make(DType::Float64, {7, 9}, l);
    K().random(RandomKind::Uniform, d.v, seed, offset, -1.0, 3.0);
    Tensor n = make(DType::Float32, {7, 9}, l);
    K().random(RandomKind::Normal, n.v, seed, offset, 0.5, 2.0);
    Tensor ir = make(DType::Int64, {7, 9}, l);
    K().random(RandomKind::IntRange, ir.v, seed, offset, -3, 1000);
    Tensor bern = make(DType::Float64, {7, 9}, l);
    K().random(RandomKind::Bernoulli, bern.v, seed, offset, 0.3, 0);
    int64_t e = 0;
    for_each_index({7, 9}, [&](const Sizes& i) {
      const float u = philox::uniform_float(philox::word(seed, offset, uint64_t(e)));
      EXPECT_EQ(float(get(f.v, i)), float(-1.0 + 4.0 * double(u)));
      uint32_t a, b;
      philox::word_pair(seed, offset, uint64_t(e), a, b);
      EXPECT_EQ(get(d.v, i), -1.0 + 4.0 * philox::uniform_double(a, b));
      EXPECT_EQ(float(get(n.v, i)), float(0.5 + 2.0 * philox::normal(a, b)));
      EXPECT_EQ(get(ir.v, i), double(-3 + int64_t(philox::below(a, b, 1003))));
      EXPECT_EQ(get(bern.v, i), u < 0.3 ? 1.0 : 0.0);
      ++e;
    });
  }
}

TEST(CpuKernels, RandomElementMappingLarge) {
  // Every element of a large strided output (split over threads, rows starting mid-block).
  const uint64_t seed = 99, offset = (uint64_t(1) << 32) + 5;
  for (Layout l : {Layout::Contig, Layout::Reversed}) {
    Tensor f = make(DType::Float32, {317, 331}, l);
    Tensor ir = make(DType::Int64, {317, 331}, l);
    Tensor bern = make(DType::Bool, {317, 331}, l);
    K().random(RandomKind::Uniform, f.v, seed, offset, 0.0, 1.0);
    K().random(RandomKind::IntRange, ir.v, seed, offset, 0, 1 << 30);
    K().random(RandomKind::Bernoulli, bern.v, seed, offset, 0.5, 0);
    int64_t e = 0;
    for_each_index({317, 331}, [&](const Sizes& i) {
      const float u = philox::uniform_float(philox::word(seed, offset, uint64_t(e)));
      ASSERT_EQ(float(get(f.v, i)), u) << e;
      ASSERT_EQ(get(bern.v, i), u < 0.5f ? 1.0 : 0.0) << e;
      uint32_t a, b;
      philox::word_pair(seed, offset, uint64_t(e), a, b);
      ASSERT_EQ(get_i(ir.v, i), int64_t(philox::below(a, b, uint64_t(1) << 30))) << e;
      ++e;
    });
  }
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / double(v.size());
}
double var_of(const std::vector<double>& v) {
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return s / double(v.size() - 1);
}

std::vector<double> values_of(const View& v) {
  std::vector<double> r;
  for_each_index(sizes_of(v), [&](const Sizes& i) { r.push_back(get(v, i)); });
  return r;
}

TEST(CpuKernels, RandomDistributions) {
  const int64_t n = 1000000;
  for (DType dt : {DType::Float32, DType::Float64}) {
    Tensor u = make(dt, {n});
    K().random(RandomKind::Uniform, u.v, 7, 0, 2.0, 5.0);
    std::vector<double> uv = values_of(u.v);
    for (double x : uv) ASSERT_TRUE(x >= 2.0 && x < 5.0) << x;
    // mean 3.5, var 9/12; 6 sigma bounds
    EXPECT_NEAR(mean_of(uv), 3.5, 6 * std::sqrt(0.75 / double(n)));
    EXPECT_NEAR(var_of(uv), 0.75, 6 * 0.75 * std::sqrt(0.8 / double(n)));

    Tensor z = make(dt, {n});
    K().random(RandomKind::Normal, z.v, 7, 0, 0.0, 1.0);
    std::vector<double> zv = values_of(z.v);
    EXPECT_NEAR(mean_of(zv), 0.0, 6 / std::sqrt(double(n)));
    EXPECT_NEAR(std::sqrt(var_of(zv)), 1.0, 6 * std::sqrt(0.5 / double(n)));
    Tensor z2 = make(dt, {n});
    K().random(RandomKind::Normal, z2.v, 7, 0, 3.0, 0.5);
    std::vector<double> z2v = values_of(z2.v);
    EXPECT_NEAR(mean_of(z2v), 3.0, 6 * 0.5 / std::sqrt(double(n)));
    EXPECT_NEAR(std::sqrt(var_of(z2v)), 0.5, 6 * 0.5 * std::sqrt(0.5 / double(n)));

    Tensor b = make(dt, {n});
    K().random(RandomKind::Bernoulli, b.v, 9, 3, 0.3, 0);
    std::vector<double> bv = values_of(b.v);
    for (double x : bv) ASSERT_TRUE(x == 0.0 || x == 1.0);
    EXPECT_NEAR(mean_of(bv), 0.3, 6 * std::sqrt(0.21 / double(n)));

    Tensor ir = make(dt, {100000});
    K().random(RandomKind::IntRange, ir.v, 11, 0, -2, 3);
    std::vector<int> counts(5, 0);
    for (double x : values_of(ir.v)) {
      ASSERT_EQ(x, std::floor(x));
      ASSERT_TRUE(x >= -2 && x < 3);
      ++counts[size_t(int(x) + 2)];
    }
    for (int c : counts) EXPECT_NEAR(c, 20000, 1000);
  }
  Tensor ir = make(DType::Int64, {100000});
  K().random(RandomKind::IntRange, ir.v, 5, 1, 10, 20);
  for (double x : values_of(ir.v)) ASSERT_TRUE(x >= 10 && x < 20);
  Tensor bb = make(DType::Bool, {100000});
  K().random(RandomKind::Bernoulli, bb.v, 5, 1, 0.75, 0);
  EXPECT_NEAR(mean_of(values_of(bb.v)), 0.75, 0.01);
}

TEST(CpuKernels, RandomReproducible) {
  for (DType dt : {DType::Float32, DType::Float64, DType::Int64}) {
    const RandomKind kind = dt == DType::Int64 ? RandomKind::IntRange : RandomKind::Normal;
    const double a = dt == DType::Int64 ? 0 : 0.0, b = dt == DType::Int64 ? 1000000 : 1.0;
    Tensor x = make(dt, {100001}), y = make(dt, {100001}), z = make(dt, {100001}), w = make(dt, {100001});
    K().random(kind, x.v, 1234, 5, a, b);
    K().random(kind, y.v, 1234, 5, a, b);
    K().random(kind, z.v, 1234, 6, a, b);
    K().random(kind, w.v, 1235, 5, a, b);
    EXPECT_EQ(x.storage, y.storage);
    const std::vector<double> xv = values_of(x.v), zv = values_of(z.v), wv = values_of(w.v);
    int64_t same_z = 0, same_w = 0;
    for (size_t i = 0; i < xv.size(); ++i) {
      same_z += xv[i] == zv[i];
      same_w += xv[i] == wv[i];
    }
    EXPECT_LT(same_z, 100);
    EXPECT_LT(same_w, 100);
    // A sub-range written separately matches (threads split ranges anywhere).
    Tensor part = make(dt, {3});
    K().random(kind, part.v, 1234, 5, a, b);
    for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(get(part.v, {i}), xv[size_t(i)]);
  }
}

}  // namespace

namespace {

// Dense sweeps of the float32 transcendental kernels against double libm, in ulps of the result.
double ulp_error(float got, double want) {
  if (std::isnan(want)) return std::isnan(got) ? 0 : 1e9;
  if (std::isinf(want)) return double(got) == want ? 0 : 1e9;
  const double ulp = std::max(std::abs(double(std::nextafter(float(want), 0.0f)) - double(float(want))),
                              1.4e-45);
  return std::abs(double(got) - want) / ulp;
}

TEST(CpuKernels, Float32TranscendentalAccuracy) {
  std::vector<float> x;
  for (double v = -110.0; v <= 95.0; v += 0.0037) x.push_back(float(v));
  for (double v = -1.0; v <= 1.0; v += 1e-5) x.push_back(float(v));
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-8f, 88.72f, 88.73f, -87.33f, -103.9f, -104.5f,
                  float(kInf), -float(kInf), float(kNaN)})
    x.push_back(v);
  std::vector<float> y(x.size());
  struct C {
    UnaryOp op;
    double (*ref)(double);
    double max_ulp;
  };
  const C cases[] = {
      {UnaryOp::Exp, [](double v) { return std::exp(v); }, 3},
      {UnaryOp::Tanh, [](double v) { return std::tanh(v); }, 4},
      {UnaryOp::Sigmoid, [](double v) { return ref_sigmoid(v); }, 4},
  };
  for (const C& c : cases) {
    K().unary(c.op, vec_view(y), vec_view(x), 0, 0);
    double worst = 0;
    float worst_x = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = c.ref(double(x[i]));
      // Results in the float subnormal range are only required to within one subnormal step.
      const double e = std::abs(want) < 1.2e-38 ? std::abs(double(y[i]) - want) / 1.4e-45 : ulp_error(y[i], want);
      if (e > worst) {
        worst = e;
        worst_x = x[i];
      }
    }
    EXPECT_LE(worst, c.max_ulp) << "op " << int(c.op) << " worst at x=" << worst_x;
  }
  // Exact gelu (float32 uses an erf approximation with |error| <= 1.5e-7, as PyTorch's CPU erf)
  // and its gradient, against double references.
  std::vector<float> gx;
  for (double v = -12.0; v <= 12.0; v += 0.00113) gx.push_back(float(v));
  std::vector<float> gy(gx.size()), ones(gx.size(), 1.0f), gg(gx.size());
  K().unary(UnaryOp::Gelu, vec_view(gy), vec_view(gx), 0, 0);
  View empty;
  K().activation_grad(ActivationGrad::Gelu, vec_view(gg), vec_view(ones), vec_view(gx), empty, 0, 0);
  for (size_t i = 0; i < gx.size(); ++i) {
    const double x = gx[i];
    const double tol = 3e-7 * std::max(1.0, std::abs(x));
    ASSERT_NEAR(gy[i], ref_gelu(x), tol) << x;
    ASSERT_NEAR(gg[i], ref_act_grad(ActivationGrad::Gelu, x, 0, 0, 0), tol) << x;
  }
  std::vector<float> special = {float(kNaN), float(kInf), -float(kInf), 0.0f, -0.0f};
  std::vector<float> sy(special.size());
  K().unary(UnaryOp::Gelu, vec_view(sy), vec_view(special), 0, 0);
  EXPECT_TRUE(std::isnan(sy[0]));
  EXPECT_EQ(sy[1], float(kInf));
  EXPECT_TRUE(std::isnan(sy[2]) || sy[2] == 0.0f);  // -inf * 0: PyTorch gives nan
  EXPECT_EQ(sy[3], 0.0f);
  EXPECT_EQ(sy[4], 0.0f);
}

}  // namespace
