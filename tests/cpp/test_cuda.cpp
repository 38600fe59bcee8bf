// The CUDA backend against the CPU one: every op forward and backward on the same inputs (odd
// sizes, broadcasting, strided views, float32 and float64), our kernels against cuBLAS/cuDNN,
// the random streams, deferred index errors, device mixing, and the caching allocator in a
// training loop. Without a usable GPU every test skips with one line saying why.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

#include "kernels/kernel_api.h"

namespace {

using tg::Device;
using tg::Shape;
using tg::Tensor;
namespace F = tg::nn::F;
using Impl = tg::cuda::Impl;

const Device kGpu(tg::kCUDA, 0);
const Device kHost(tg::kCPU);

#define REQUIRE_CUDA()                                                             \
  do {                                                                             \
    if (!tg::cuda::is_available())                                                 \
      GTEST_SKIP() << "no CUDA device: " << tg::cuda::unavailable_reason();        \
  } while (0)

// Restores the global CUDA settings a test changes.
struct SettingsGuard {
  Impl matmul = tg::cuda::matmul_impl(), softmax = tg::cuda::softmax_impl();
  bool tf32 = tg::cuda::allow_tf32();
  ~SettingsGuard() {
    tg::cuda::set_matmul_impl(matmul);
    tg::cuda::set_softmax_impl(softmax);
    tg::cuda::set_allow_tf32(tf32);
  }
};

// |got - want| <= atol + rtol * |want| elementwise; NaN matches NaN, infinities must be equal.
void expect_close(const Tensor& got_t, const Tensor& want_t, double rtol, double atol,
                  const std::string& what) {
  ASSERT_EQ(got_t.sizes(), want_t.sizes()) << what;
  ASSERT_EQ(got_t.dtype(), want_t.dtype()) << what;
  ASSERT_TRUE(got_t.device().is_cpu()) << what;
  const std::vector<double> got = got_t.to_vector<double>(), want = want_t.to_vector<double>();
  int reported = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    bool ok;
    if (std::isnan(w)) ok = std::isnan(g);
    else if (std::isinf(w)) ok = g == w;
    else ok = std::isfinite(g) && std::abs(g - w) <= atol + rtol * std::abs(w);
    if (!ok && reported++ < 5)
      ADD_FAILURE() << what << ": element " << i << " is " << g << " on CUDA, " << w << " on CPU";
  }
}

struct Tol {
  double rtol, atol;
};
// float32 results differ from the CPU's by summation order and by an ulp in transcendental
// functions; float64 ones by summation order only.
Tol tol_for(tg::DType t, double scale = 1.0) {
  return t == tg::kFloat64 ? Tol{1e-10 * scale, 1e-12 * scale} : Tol{2e-5 * scale, 1e-6 * scale};
}

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// Runs fn on `inputs` (CPU tensors) and on their CUDA copies, compares the outputs, then (when
// `grads`) backpropagates the same random output gradient on both and compares the gradients of
// every floating-point input.
void expect_parity(const std::string& what, const std::vector<Tensor>& inputs, const Fn& fn,
                   Tol tol, bool grads = true) {
  std::vector<Tensor> cpu, gpu;
  for (const Tensor& t : inputs) {
    Tensor c = t.detach().clone();
    Tensor g = c.to(kGpu);
    if (grads && c.is_floating_point()) {
      c.requires_grad_();
      g.requires_grad_();
    }
    cpu.push_back(c);
    gpu.push_back(g);
  }
  const Tensor out_cpu = fn(cpu), out_gpu = fn(gpu);
  ASSERT_TRUE(out_gpu.device() == kGpu) << what;
  expect_close(out_gpu.cpu(), out_cpu, tol.rtol, tol.atol, what + " (forward)");
  if (!grads || !out_cpu.requires_grad()) return;
  const Tensor seed = tg::randn(out_cpu.sizes(), out_cpu.dtype());
  out_cpu.backward(seed);
  out_gpu.backward(seed.to(kGpu));
  for (size_t i = 0; i < cpu.size(); ++i) {
    if (!cpu[i].requires_grad() || !cpu[i].grad().defined()) continue;
    ASSERT_TRUE(gpu[i].grad().defined()) << what << ": input " << i << " got no gradient on CUDA";
    expect_close(gpu[i].grad().cpu(), cpu[i].grad(), tol.rtol * 10, tol.atol * 10,
                 what + " (gradient of input " + std::to_string(i) + ")");
  }
}

Tensor randn_of(const Shape& s, tg::DType t) { return tg::randn(s, t); }
// Values away from zero, for ops with poles or kinks there.
Tensor positive_of(const Shape& s, tg::DType t) { return tg::add(tg::rand(s, t), 0.5); }

const std::vector<Shape> kOddShapes = {{1}, {7}, {33}, {1000}, {3, 33}, {2, 7, 33}};

// ---------------------------------------------------------------- device and memory

TEST(Cuda, RoundTripsEveryDtypeAndSize) {
  REQUIRE_CUDA();
  // 2^20 + 3 floats cross the pinned-staging threshold and its chunk boundary unevenly.
  for (int64_t n : {int64_t(0), int64_t(1), int64_t(7), int64_t(1000), int64_t((1 << 20) + 3),
                    int64_t(3 << 20)}) {
    for (tg::DType dt : {tg::kFloat32, tg::kFloat64, tg::kInt64, tg::kBool}) {
      const Tensor host = tg::to(tg::randint(-3, 3, {n}), dt);
      const Tensor back = host.to(kGpu).cpu();
      EXPECT_EQ(back.device(), kHost);
      expect_close(back, host, 0, 0, "round trip n=" + std::to_string(n));
    }
  }
}

TEST(Cuda, StridedViewsCopyAndItem) {
  REQUIRE_CUDA();
  const Tensor a = tg::randn({33, 7});
  const Tensor g = a.to(kGpu);
  expect_close(g.t().contiguous().cpu(), a.t().contiguous(), 0, 0, "transpose");
  expect_close(tg::slice(g, 0, 1, 30, 3).cpu(), tg::slice(a, 0, 1, 30, 3).contiguous(), 0, 0, "slice");
  expect_close(g.expand({4, 33, 7}).contiguous().cpu(), a.expand({4, 33, 7}).contiguous(), 0, 0, "expand");
  EXPECT_EQ(tg::select(tg::select(g, 0, 5), 0, 3).item(), a.to_vector<double>()[5 * 7 + 3]);
  // copy_ across devices is allowed (an explicit copy), in both directions.
  Tensor dst = tg::zeros({33, 7}, kGpu);
  dst.copy_(a);
  expect_close(dst.cpu(), a, 0, 0, "copy_ host to device");
  Tensor host = tg::zeros({33, 7});
  host.copy_(g);
  expect_close(host, a, 0, 0, "copy_ device to host");
  std::ostringstream os;
  os << tg::ones({2}, kGpu);
  EXPECT_NE(os.str().find("device='cuda:0'"), std::string::npos) << os.str();
}

TEST(Cuda, MixingDevicesIsAClearError) {
  REQUIRE_CUDA();
  const Tensor a = tg::ones({3}), b = tg::ones({3}, kGpu);
  try {
    (void)tg::add(a, b);
    FAIL() << "add of a CPU and a CUDA tensor did not throw";
  } catch (const tg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("same device"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)tg::matmul(tg::ones({2, 2}), tg::ones({2, 2}, kGpu)), tg::Error);
}

TEST(Cuda, MissingDeviceIsAClearError) {
  REQUIRE_CUDA();
  const int n = tg::cuda::device_count();
  try {
    (void)tg::ones({3}, Device(tg::kCUDA, n));
    FAIL() << "a tensor on a missing device was created";
  } catch (const tg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
}

TEST(Cuda, WithoutDeviceEveryEntryPointSaysSo) {
  if (tg::cuda::is_available()) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_FALSE(tg::cuda::unavailable_reason().empty());
  EXPECT_THROW((void)tg::ones({3}, kGpu), tg::Error);
  EXPECT_THROW(tg::cuda::synchronize(), tg::Error);
}

// ---------------------------------------------------------------- pointwise

TEST(Cuda, UnaryOpsMatchCpu) {
  REQUIRE_CUDA();
  const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> ops = {
      {"neg", [](const Tensor& x) { return tg::neg(x); }},
      {"exp", [](const Tensor& x) { return tg::exp(x); }},
      {"log", [](const Tensor& x) { return tg::log(tg::add(tg::abs(x), 0.1)); }},
      {"sqrt", [](const Tensor& x) { return tg::sqrt(tg::add(tg::abs(x), 0.1)); }},
      {"rsqrt", [](const Tensor& x) { return tg::rsqrt(tg::add(tg::abs(x), 0.1)); }},
      {"abs", [](const Tensor& x) { return tg::abs(x); }},
      {"tanh", [](const Tensor& x) { return tg::tanh(x); }},
      {"sigmoid", [](const Tensor& x) { return tg::sigmoid(x); }},
      {"relu", [](const Tensor& x) { return tg::relu(x); }},
      {"leaky_relu", [](const Tensor& x) { return tg::leaky_relu(x, 0.2); }},
      {"gelu", [](const Tensor& x) { return tg::gelu(x); }},
      {"gelu_tanh", [](const Tensor& x) { return tg::gelu(x, "tanh"); }},
      {"softplus", [](const Tensor& x) { return tg::softplus(tg::mul(x, 10.0), 2.0, 5.0); }},
      {"clamp", [](const Tensor& x) { return tg::clamp(x, -0.5, 0.7); }},
      {"pow_scalar", [](const Tensor& x) { return tg::pow(tg::add(tg::abs(x), 0.1), 2.5); }},
      {"rpow_scalar", [](const Tensor& x) { return tg::pow(1.7, x); }},
      {"rdiv", [](const Tensor& x) { return tg::rdiv(tg::add(tg::abs(x), 0.1), 3.0); }},
      {"square", [](const Tensor& x) { return tg::square(x); }},
      {"sin", [](const Tensor& x) { return tg::sin(x); }},
      {"cos", [](const Tensor& x) { return tg::cos(x); }},
      {"log1p", [](const Tensor& x) { return tg::log1p(tg::abs(x)); }},
      {"expm1", [](const Tensor& x) { return tg::expm1(x); }},
      {"erf", [](const Tensor& x) { return tg::erf(x); }},
      {"reciprocal", [](const Tensor& x) { return tg::reciprocal(tg::add(tg::abs(x), 0.1)); }},
      {"sign", [](const Tensor& x) { return tg::sign(x); }},
      {"floor", [](const Tensor& x) { return tg::floor(tg::mul(x, 3.0)); }},
      {"ceil", [](const Tensor& x) { return tg::ceil(tg::mul(x, 3.0)); }},
      {"round", [](const Tensor& x) { return tg::round(tg::mul(x, 3.0)); }},
      {"trunc", [](const Tensor& x) { return tg::trunc(tg::mul(x, 3.0)); }},
  };
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {
    for (const Shape& s : kOddShapes) {
      const Tensor x = randn_of(s, dt);
      for (const auto& [name, op] : ops) {
        expect_parity(name + " " + tg::shape_str(s), {x}, [&](const std::vector<Tensor>& in) { return op(in[0]); },
                      tol_for(dt, 4));
      }
      // A transposed (non-contiguous) input and output layout.
      if (s.size() == 2)
        expect_parity("tanh of a transpose", {x}, [](const std::vector<Tensor>& in) { return tg::tanh(in[0].t()); },
                      tol_for(dt));
    }
  }
  // Halfway cases round to even; NaN and infinities pass through.
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  const Tensor special = tg::tensor({0.5, 1.5, 2.5, -0.5, -2.5, inf, -inf, nan, 0.0, -0.0});
  for (const auto& [name, op] : ops)
    expect_parity(name + " special values", {special},
                  [&](const std::vector<Tensor>& in) { return op(in[0]); }, tol_for(tg::kFloat32), false);
  // Integer and bool inputs where the CPU takes them.
  const Tensor ints = tg::randint(-50, 50, {1000});
  expect_parity("int64 neg/abs/clamp", {ints}, [](const std::vector<Tensor>& in) {
    return tg::add(tg::abs(tg::neg(in[0])), tg::clamp(in[0], -7.0, 9.0));
  }, {0, 0}, false);
  expect_parity("logical_not", {tg::gt(ints, tg::zeros({1}, tg::kInt64))},
                [](const std::vector<Tensor>& in) { return tg::logical_not(in[0]); }, {0, 0}, false);
}

TEST(Cuda, BinaryOpsBroadcastLikeCpu) {
  REQUIRE_CUDA();
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{33}, {1}}, {{7, 1}, {1, 33}}, {{4, 7, 33}, {7, 1}}, {{1000}, {1000}}, {{1}, {2, 3, 5}}};
  using B = std::function<Tensor(const Tensor&, const Tensor&)>;
  const std::vector<std::pair<std::string, B>> ops = {
      {"add", [](const Tensor& a, const Tensor& b) { return tg::add(a, b, 0.5); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return tg::sub(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return tg::mul(a, b); }},
      {"div", [](const Tensor& a, const Tensor& b) { return tg::div(a, tg::add(tg::abs(b), 0.1)); }},
      {"pow", [](const Tensor& a, const Tensor& b) { return tg::pow(tg::add(tg::abs(a), 0.1), b); }},
      {"maximum", [](const Tensor& a, const Tensor& b) { return tg::maximum(a, b); }},
      {"minimum", [](const Tensor& a, const Tensor& b) { return tg::minimum(a, b); }},
      {"remainder", [](const Tensor& a, const Tensor& b) { return tg::remainder(tg::mul(a, 5.0), b); }},
      {"fmod", [](const Tensor& a, const Tensor& b) { return tg::fmod(tg::mul(a, 5.0), b); }},
      {"where", [](const Tensor& a, const Tensor& b) { return tg::where(tg::gt(a, b), a, b); }},
      {"lerp", [](const Tensor& a, const Tensor& b) { return tg::lerp(a, b, 0.3); }},
  };
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {
    for (const auto& [sa, sb] : shapes) {
      const Tensor a = randn_of(sa, dt), b = randn_of(sb, dt);
      for (const auto& [name, op] : ops)
        expect_parity(name + " " + tg::shape_str(sa) + " " + tg::shape_str(sb), {a, b},
                      [&](const std::vector<Tensor>& in) { return op(in[0], in[1]); }, tol_for(dt, 4));
      const std::vector<std::pair<std::string, B>> cmps = {
          {"eq", [](const Tensor& x, const Tensor& y) { return tg::eq(x, y); }},
          {"ne", [](const Tensor& x, const Tensor& y) { return tg::ne(x, y); }},
          {"lt", [](const Tensor& x, const Tensor& y) { return tg::lt(x, y); }},
          {"le", [](const Tensor& x, const Tensor& y) { return tg::le(x, y); }},
          {"gt", [](const Tensor& x, const Tensor& y) { return tg::gt(x, y); }},
          {"ge", [](const Tensor& x, const Tensor& y) { return tg::ge(x, y); }},
          {"and", [](const Tensor& x, const Tensor& y) { return tg::logical_and(tg::gt(x, y), tg::gt(y, x)); }},
          {"or", [](const Tensor& x, const Tensor& y) { return tg::logical_or(tg::gt(x, y), tg::lt(x, y)); }},
      };
      for (const auto& [name, op] : cmps)
        expect_parity(name, {tg::round(a), tg::round(b)},
                      [&](const std::vector<Tensor>& in) { return op(in[0], in[1]); }, {0, 0}, false);
    }
  }
  // Integer arithmetic: Python's % (sign of the divisor), no float detour.
  const Tensor ia = tg::randint(-100, 100, {7, 33}), ib = tg::add(tg::randint(1, 9, {33}), 0.0);
  const Tensor ibn = tg::mul(tg::to(ib, tg::kInt64), -1.0);
  for (const Tensor& d : {tg::to(ib, tg::kInt64), ibn})
    expect_parity("int64 arithmetic", {ia, d}, [](const std::vector<Tensor>& in) {
      return tg::add(tg::remainder(in[0], in[1]),
                     tg::sub(tg::mul(in[0], in[1]), tg::maximum(in[0], in[1])));
    }, {0, 0}, false);
}

// ---------------------------------------------------------------- reductions

TEST(Cuda, ReductionsOverAnyDims) {
  REQUIRE_CUDA();
  struct Case {
    Shape shape;
    Shape dims;
  };
  const std::vector<Case> cases = {{{1}, {}},          {{1000}, {}},          {{1 << 20}, {}},
                                   {{33, 7}, {0}},     {{33, 7}, {1}},        {{4, 33, 1000}, {2}},
                                   {{4, 33, 1000}, {0, 2}}, {{4, 33, 1000}, {1}}, {{3, 1, 5}, {1}},
                                   {{2048, 3}, {1}},   {{3, 4097}, {0}}};
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {
    for (const Case& c : cases) {
      const Tensor x = randn_of(c.shape, dt);
      const std::string where = tg::shape_str(c.shape) + " dims " + tg::shape_str(c.dims);
      // Long float32 sums lose digits in either order: scale the tolerance with the length.
      const Tol sum_tol = tol_for(dt, c.shape.size() == 1 && c.shape[0] == (1 << 20) ? 50 : 5);
      expect_parity("sum " + where, {x}, [&](const auto& in) { return tg::sum(in[0], c.dims); }, sum_tol);
      expect_parity("sum keepdim " + where, {x}, [&](const auto& in) { return tg::sum(in[0], c.dims, true); }, sum_tol);
      expect_parity("mean " + where, {x}, [&](const auto& in) { return tg::mean(in[0], c.dims); }, sum_tol);
      expect_parity("amax " + where, {x}, [&](const auto& in) { return tg::amax(in[0], c.dims); }, {0, 0});
      expect_parity("amin " + where, {x}, [&](const auto& in) { return tg::amin(in[0], c.dims); }, {0, 0});
      expect_parity("any " + where, {tg::gt(x, tg::full({1}, 2.5, dt))},
                    [&](const auto& in) { return tg::any(in[0], c.dims); }, {0, 0}, false);
      expect_parity("all " + where, {tg::gt(x, tg::full({1}, -2.5, dt))},
                    [&](const auto& in) { return tg::all(in[0], c.dims); }, {0, 0}, false);
      if (tg::numel_of(c.shape) > 1) {
        expect_parity("var " + where, {x}, [&](const auto& in) { return tg::var(in[0], c.dims); }, sum_tol);
        expect_parity("logsumexp " + where, {x},
                      [&](const auto& in) { return tg::logsumexp(in[0], c.dims.empty() ? Shape{0} : c.dims); },
                      sum_tol);
      }
    }
    // max/min with indices, argmax over all; ties resolve to the first index as on the CPU.
    const Tensor ties = tg::round(tg::mul(randn_of({33, 1000}, dt), 2.0));
    for (int64_t dim : {0, 1}) {
      expect_parity("max values", {ties}, [&](const auto& in) { return std::get<0>(tg::max(in[0], dim)); }, {0, 0});
      expect_parity("max indices", {ties}, [&](const auto& in) { return std::get<1>(tg::max(in[0], dim)); }, {0, 0}, false);
      expect_parity("min indices", {ties}, [&](const auto& in) { return std::get<1>(tg::min(in[0], dim)); }, {0, 0}, false);
      expect_parity("argmin", {ties}, [&](const auto& in) { return tg::argmin(in[0], dim); }, {0, 0}, false);
    }
    expect_parity("argmax all", {ties}, [](const auto& in) { return tg::argmax(in[0]); }, {0, 0}, false);
  }
  // NaN wins max/min and their indices, as on the CPU.
  const double nan = std::nan("");
  const Tensor with_nan = tg::tensor(std::vector<double>{1.0, nan, 3.0, -1.0, 2.0, nan}, Shape{2, 3});
  expect_parity("max with NaN", {with_nan}, [](const auto& in) { return std::get<1>(tg::max(in[0], 1)); }, {0, 0}, false);
  expect_parity("amax with NaN", {with_nan}, [](const auto& in) { return tg::amax(in[0], {0}); }, {0, 0}, false);
  // Integer sums are exact.
  const Tensor ints = tg::randint(-1000, 1000, {7, 3001});
  expect_parity("int64 sum", {ints}, [](const auto& in) { return tg::sum(in[0], {1}); }, {0, 0}, false);
}

// ---------------------------------------------------------------- matmul

TEST(Cuda, MatmulOursAndCublasMatchCpu) {
  REQUIRE_CUDA();
  SettingsGuard guard;
  struct Case {
    Shape a, b;
  };
  const std::vector<Case> cases = {{{1, 1}, {1, 1}},        {{7, 33}, {33, 5}},       {{1000, 33}, {33, 7}},
                                   {{128, 64}, {64, 256}},  {{129, 65}, {65, 257}},   {{3, 7, 33}, {3, 33, 5}},
                                   {{2, 1, 7, 8}, {3, 8, 4}}, {{33}, {33, 7}},        {{7, 33}, {33}},
                                   {{33}, {33}},            {{1, 300}, {300, 1}}};
  for (Impl impl : {Impl::Ours, Impl::Library}) {
    tg::cuda::set_matmul_impl(impl);
    for (bool tf32 : {false, true}) {
      tg::cuda::set_allow_tf32(tf32);
      for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {
        // TF32 keeps 10 mantissa bits: relative error ~1e-3 over K terms.
        const Tol tol = dt == tg::kFloat32 && tf32 ? Tol{5e-3, 5e-3} : tol_for(dt, 10);
        for (const Case& c : cases) {
          const std::string what = std::string(impl == Impl::Ours ? "ours" : "cublas") + (tf32 ? " tf32 " : " ") +
                                   tg::shape_str(c.a) + " @ " + tg::shape_str(c.b);
          expect_parity(what, {randn_of(c.a, dt), randn_of(c.b, dt)},
                        [](const auto& in) { return tg::matmul(in[0], in[1]); }, tol);
        }
        // Transposed operands (the GEMM's trans flags) and addmm's beta = 1 path.
        expect_parity("a^T @ b^T", {randn_of({33, 70}, dt), randn_of({9, 33}, dt)},
                      [](const auto& in) { return tg::matmul(in[0].t(), in[1].t()); }, tol);
        expect_parity("addmm", {randn_of({70}, dt), randn_of({70, 33}, dt), randn_of({33, 70}, dt)},
                      [](const auto& in) { return tg::addmm(in[0], in[1], in[2]); }, tol);
      }
    }
  }
  tg::cuda::set_allow_tf32(false);
  // Int64 products are exact.
  const Tensor ia = tg::randint(-9, 9, {17, 33}), ib = tg::randint(-9, 9, {33, 5});
  expect_parity("int64 matmul", {ia, ib}, [](const auto& in) { return tg::matmul(in[0], in[1]); }, {0, 0}, false);
}

TEST(Cuda, OurSgemmAgreesWithCublasOnLargeProducts) {
  REQUIRE_CUDA();
  SettingsGuard guard;
  tg::cuda::set_allow_tf32(false);
  for (const Shape& mnk : {Shape{1024, 1024, 1024}, Shape{1000, 513, 777}, Shape{4096, 64, 4096}}) {
    const Tensor a = tg::randn({mnk[0], mnk[2]}, kGpu), b = tg::randn({mnk[2], mnk[1]}, kGpu);
    tg::cuda::set_matmul_impl(Impl::Ours);
    const Tensor ours = tg::matmul(a, b).cpu();
    tg::cuda::set_matmul_impl(Impl::Library);
    const Tensor lib = tg::matmul(a, b).cpu();
    const Tensor ref = tg::matmul(tg::to(a.cpu(), tg::kFloat64), tg::to(b.cpu(), tg::kFloat64));
    const double k = static_cast<double>(mnk[2]);
    expect_close(tg::to(ours, tg::kFloat64), ref, 1e-4, 1e-5 * std::sqrt(k), "ours vs float64 " + tg::shape_str(mnk));
    expect_close(tg::to(lib, tg::kFloat64), ref, 1e-4, 1e-5 * std::sqrt(k), "cublas vs float64 " + tg::shape_str(mnk));
  }
}

// Two batch levels (attention's heads: item (o, i) at o * outer_stride + i * stride, rows
// interleaved) on both CUDA paths against the CPU kernel on the same buffers. core's matmul
// sends two levels only to the CPU; the CUDA kernel still honours them for every caller.
TEST(Cuda, GemmTwoBatchLevelsMatchCpu) {
  REQUIRE_CUDA();
  SettingsGuard guard;
  tg::cuda::set_allow_tf32(false);
  const int64_t outer = 3, inner = 4, m = 33, n = 17, k = 40;
  const Tensor a = tg::randn({outer, m, inner, k}), b = tg::randn({outer, k, inner, n});
  auto args = [&](const Tensor& x, const Tensor& y, Tensor& c) {
    tg::kernels::GemmArgs g;
    g.m = m;
    g.n = n;
    g.k = k;
    g.outer = outer;
    g.batch = inner;
    g.a = x.data_ptr();
    g.lda = inner * k;
    g.stride_a = k;
    g.outer_stride_a = m * inner * k;
    g.b = y.data_ptr();
    g.ldb = inner * n;
    g.stride_b = n;
    g.outer_stride_b = k * inner * n;
    g.c = c.data_ptr();
    g.ldc = inner * n;
    g.stride_c = n;
    g.outer_stride_c = m * inner * n;
    return g;
  };
  Tensor want = tg::zeros({outer, m, inner, n});
  tg::kernels::cpu_kernels()->gemm(args(a, b, want));
  const Tensor ga = a.to(kGpu), gb = b.to(kGpu);
  for (Impl impl : {Impl::Ours, Impl::Library}) {
    tg::cuda::set_matmul_impl(impl);
    Tensor got = tg::full({outer, m, inner, n}, std::nan(""), tg::TensorOptions().device(kGpu));
    tg::kernels::cuda_kernels()->gemm(args(ga, gb, got));
    const Tol tol = tol_for(tg::kFloat32, 10);
    expect_close(got.cpu(), want, tol.rtol, tol.atol, impl == Impl::Ours ? "ours" : "cublas");
  }
  // The same layout through matmul, forward and backward (copied to one level on CUDA).
  expect_parity("attention heads", {tg::randn({2, 5, 12})},
                [](const auto& in) {
                  auto heads = [&](int64_t at) {
                    return in[0].narrow(2, at, 6).view({2, 5, 3, 2}).permute({0, 2, 1, 3});
                  };
                  return tg::matmul(heads(0), heads(6).transpose(-2, -1));
                },
                tol_for(tg::kFloat32, 10));
}

// ---------------------------------------------------------------- softmax

TEST(Cuda, SoftmaxOursAndCudnnMatchCpu) {
  REQUIRE_CUDA();
  SettingsGuard guard;
  const double inf = std::numeric_limits<double>::infinity();
  for (Impl impl : {Impl::Ours, Impl::Library}) {
    tg::cuda::set_softmax_impl(impl);
    for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {
      for (const Shape& s : {Shape{7}, Shape{33, 1000}, Shape{4, 5000}, Shape{2, 3, 7}, Shape{1000, 1}, Shape{3, 40000}}) {
        const Tensor x = tg::mul(randn_of(s, dt), 5.0);
        for (int64_t dim : {int64_t(-1), int64_t(0)}) {
          const std::string what = std::string(impl == Impl::Ours ? "ours " : "cudnn ") + tg::shape_str(s) +
                                   " dim " + std::to_string(dim);
          expect_parity("softmax " + what, {x}, [&](const auto& in) { return tg::softmax(in[0], dim); }, tol_for(dt, 5));
          expect_parity("log_softmax " + what, {x}, [&](const auto& in) { return tg::log_softmax(in[0], dim); },
                        tol_for(dt, 5));
        }
      }
      // -inf entries get probability 0; huge logits stay finite.
      const Tensor masked = tg::tensor(std::vector<double>{1.0, -inf, 3.0, 1e4, -1e4, 0.0}, Shape{2, 3});
      expect_parity("softmax with -inf", {tg::to(masked, dt)}, [](const auto& in) { return tg::softmax(in[0], 1); },
                    tol_for(dt), false);
      expect_parity("log_softmax with -inf", {tg::to(masked, dt)},
                    [](const auto& in) { return tg::log_softmax(in[0], 1); }, tol_for(dt), false);
    }
  }
  const Tensor x = tg::randn({4, 9, 33}), mask = tg::gt(tg::randn({9, 33}), tg::zeros({1}));
  expect_parity("masked_softmax", {x, mask}, [](const auto& in) { return tg::masked_softmax(in[0], in[1], -1); },
                tol_for(tg::kFloat32, 5));
  expect_parity("cross_entropy", {tg::randn({64, 10}), tg::randint(0, 10, {64})},
                [](const auto& in) { return F::cross_entropy(in[0], in[1]); }, tol_for(tg::kFloat32, 5));
}

// The fused softmax cross-entropy (a warp per row) against the CPU's: every option that changes
// the formula, rows short and long, classes in dim 1 of a 3-D input; a bad target is deferred.
TEST(Cuda, FusedCrossEntropyMatchesCpu) {
  REQUIRE_CUDA();
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {
    for (const Shape& s : {Shape{64, 10}, Shape{33, 1000}, Shape{3, 40000}, Shape{2, 7, 5}}) {
      const int64_t c = s[1];
      Shape ts = s;
      ts.erase(ts.begin() + 1);
      std::vector<int64_t> classes(static_cast<size_t>(tg::numel_of(ts)));
      for (size_t i = 0; i < classes.size(); ++i) classes[i] = i % 5 == 0 ? 1 : int64_t(i * 7 + 3) % c;  // 1: ignored below
      const Tensor target = tg::tensor(classes, ts);
      const Tensor x = tg::mul(randn_of(s, dt), 3.0), w = positive_of({c}, dt);
      for (const std::string reduction : {"mean", "sum", "none"})
        for (double smoothing : {0.0, 0.1}) {
          const std::string what = "cross_entropy " + tg::shape_str(s) + " " + reduction + " smoothing " +
                                   std::to_string(smoothing);
          expect_parity(what, {x, target}, [&](const auto& in) {
            return F::cross_entropy(in[0], in[1], {.reduction = reduction, .label_smoothing = smoothing});
          }, tol_for(dt, 5));
          expect_parity(what + " weighted, ignore_index 1", {x, target, w}, [&](const auto& in) {
            return F::cross_entropy(in[0], in[1], {.weight = in[2], .ignore_index = 1, .reduction = reduction,
                                                   .label_smoothing = smoothing});
          }, tol_for(dt, 5));
        }
    }
  }
  const Tensor bad = tg::tensor(std::vector<int64_t>{1, 12, 2}, {3}).to(kGpu);
  try {
    Tensor loss = F::cross_entropy(tg::randn({3, 10}, kGpu), bad);
    (void)loss.item();
    FAIL() << "an out-of-range target on CUDA was not reported";
  } catch (const tg::Error& e) {
    EXPECT_EQ(e.kind(), tg::Error::Kind::Index) << e.what();
    EXPECT_NE(std::string(e.what()).find("cross_entropy: index 12"), std::string::npos) << e.what();
  }
  tg::cuda::synchronize();
  EXPECT_EQ(tg::sum(tg::ones({4}, kGpu)).item(), 4.0);
}

// ---------------------------------------------------------------- joining, indexing

TEST(Cuda, IndexingAndJoiningMatchCpu) {
  REQUIRE_CUDA();
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {
    const Tensor x = randn_of({7, 33}, dt);
    const Tensor idx = tg::tensor(std::vector<int64_t>{6, 0, 3, 3, 1}, {5});
    expect_parity("index_select 0", {x, idx}, [](const auto& in) { return tg::index_select(in[0], 0, in[1]); }, tol_for(dt));
    expect_parity("index_select 1", {x, idx}, [](const auto& in) { return tg::index_select(in[0], 1, in[1]); }, tol_for(dt));
    const Tensor gidx = tg::randint(0, 33, {7, 50});
    expect_parity("gather", {x, gidx}, [](const auto& in) { return tg::gather(in[0], 1, in[1]); }, tol_for(dt));
    expect_parity("scatter_add", {x, gidx, randn_of({7, 50}, dt)},
                  [](const auto& in) { return tg::scatter_add(in[0], 1, in[1], in[2]); }, tol_for(dt, 5));
    expect_parity("embedding", {randn_of({100, 16}, dt), tg::randint(0, 100, {4, 9})},
                  [](const auto& in) { return tg::embedding(in[0], in[1]); }, tol_for(dt, 5));
    expect_parity("masked_fill", {x, tg::gt(randn_of({33}, dt), tg::zeros({1}, dt))},
                  [](const auto& in) { return tg::masked_fill(in[0], in[1], -2.0); }, tol_for(dt));
    expect_parity("cat/stack/split", {x, randn_of({7, 5}, dt)}, [](const auto& in) {
      const Tensor c = tg::cat({in[0], in[1]}, 1);
      const auto parts = tg::split(c, 10, 1);
      return tg::stack({tg::sum(parts[0], {1}), tg::sum(parts.back(), {1})}, 0);
    }, tol_for(dt, 5));
    expect_parity("tril/flip/roll", {x}, [](const auto& in) {
      return tg::add(tg::tril(in[0], 1), tg::roll(tg::flip(in[0], {1}), {3}, {1}));
    }, tol_for(dt));
  }
  // masked_select and nonzero read the mask's values: a synchronizing op on CUDA.
  const Tensor x = tg::randn({7, 33});
  expect_parity("masked_select", {x}, [](const auto& in) { return tg::masked_select(in[0], tg::gt(in[0], tg::zeros({1}, in[0].device()))); },
                tol_for(tg::kFloat32));
}

TEST(Cuda, BadIndexIsReportedAtTheNextSynchronization) {
  REQUIRE_CUDA();
  const Tensor x = tg::randn({5, 3}, kGpu);
  const Tensor bad = tg::tensor(std::vector<int64_t>{1, 7, 2}, {3}).to(kGpu);
  // Core checks indices it can see; the GPU kernel checks the rest without reading out of bounds.
  try {
    Tensor y = tg::index_select(x, 0, bad);
    tg::cuda::synchronize();
    (void)y.cpu();
    FAIL() << "an out-of-range index on CUDA was not reported";
  } catch (const tg::Error& e) {
    EXPECT_EQ(e.kind(), tg::Error::Kind::Index) << e.what();
    EXPECT_NE(std::string(e.what()).find("7"), std::string::npos) << e.what();
  }
  // Reported once; the device keeps working.
  tg::cuda::synchronize();
  EXPECT_EQ(tg::sum(tg::ones({4}, kGpu)).item(), 4.0);
}

// ---------------------------------------------------------------- convolution, pooling, RNN

TEST(Cuda, ConvolutionAndPoolingMatchCpu) {
  REQUIRE_CUDA();
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {
    const Tol tol = tol_for(dt, 20);
    const Tensor x = randn_of({2, 3, 11, 13}, dt);
    expect_parity("conv2d", {x, randn_of({4, 3, 3, 3}, dt), randn_of({4}, dt)},
                  [](const auto& in) { return tg::conv2d(in[0], in[1], in[2], {2, 1}, {1, 2}, {1, 2}); }, tol);
    expect_parity("conv2d groups", {randn_of({2, 4, 9, 9}, dt), randn_of({6, 2, 3, 3}, dt)},
                  [](const auto& in) { return tg::conv2d(in[0], in[1], Tensor(), {1}, {1}, {1}, 2); }, tol);
    expect_parity("conv_transpose2d", {x, randn_of({3, 2, 3, 3}, dt), randn_of({2}, dt)},
                  [](const auto& in) { return tg::conv_transpose2d(in[0], in[1], in[2], {2}, {1}, {1}); }, tol);
    expect_parity("conv1d", {randn_of({2, 3, 40}, dt), randn_of({5, 3, 4}, dt)},
                  [](const auto& in) { return tg::conv1d(in[0], in[1], Tensor(), {3}, {2}); }, tol);
    expect_parity("max_pool2d", {x}, [](const auto& in) { return tg::max_pool2d(in[0], {3, 2}, {2, 2}, {1, 1}); }, tol);
    expect_parity("max_pool2d indices", {x}, [](const auto& in) {
      return std::get<1>(tg::max_pool2d_with_indices(in[0], {2}, {}, {0}, {1}, true));
    }, {0, 0}, false);
    expect_parity("avg_pool2d", {x}, [](const auto& in) { return tg::avg_pool2d(in[0], {3}, {2}, {1}, true, false); }, tol);
    expect_parity("avg_pool2d divisor", {x}, [](const auto& in) { return tg::avg_pool2d(in[0], {2}, {}, {0}, false, true, 3); }, tol);
    expect_parity("adaptive_avg_pool2d", {x}, [](const auto& in) { return tg::adaptive_avg_pool2d(in[0], {4, 5}); }, tol);
  }
}

TEST(Cuda, RecurrentLayersMatchCpu) {
  REQUIRE_CUDA();
  for (bool fused : {true, false}) {
    tg::set_fused_rnn_cells_enabled(fused);
    tg::manual_seed(3);
    auto lstm = std::make_shared<tg::nn::LSTM>(5, 7, tg::nn::LSTMOptions{.num_layers = 2});
    auto gru = std::make_shared<tg::nn::GRU>(5, 7);
    const Tensor x = tg::randn({6, 3, 5});
    const auto run = [&](tg::nn::Module& m, bool is_lstm, const Tensor& input) {
      return is_lstm ? std::get<0>(static_cast<tg::nn::LSTM&>(m).forward(input))
                     : std::get<0>(static_cast<tg::nn::GRU&>(m).forward(input));
    };
    for (bool is_lstm : {true, false}) {
      tg::nn::Module& m = is_lstm ? static_cast<tg::nn::Module&>(*lstm) : *gru;
      const Tensor out_cpu = run(m, is_lstm, x);
      tg::sum(tg::square(out_cpu)).backward();
      std::vector<Tensor> grads_cpu;
      for (const Tensor& p : m.parameters()) grads_cpu.push_back(p.grad().clone());
      m.zero_grad();
      m.to(kGpu);
      const Tensor out_gpu = run(m, is_lstm, x.to(kGpu));
      tg::sum(tg::square(out_gpu)).backward();
      const std::string what = std::string(is_lstm ? "LSTM" : "GRU") + (fused ? " fused" : " composed");
      expect_close(out_gpu.detach().cpu(), out_cpu.detach(), 1e-5, 1e-6, what + " output");
      const auto params = m.parameters();
      for (size_t i = 0; i < params.size(); ++i)
        expect_close(params[i].grad().cpu(), grads_cpu[i], 1e-4, 1e-5, what + " gradient " + std::to_string(i));
      m.to(kHost);
    }
  }
  tg::set_fused_rnn_cells_enabled(true);
}

// ---------------------------------------------------------------- random numbers, in-place ops

TEST(Cuda, RandomStreamsEqualTheCpuOnes) {
  REQUIRE_CUDA();
  for (tg::DType dt : {tg::kFloat32, tg::kFloat64}) {
    tg::manual_seed(1234);
    const Tensor u = tg::rand({1001}, dt), n = tg::randn({1001}, dt);
    tg::manual_seed(1234);
    const Tensor ug = tg::rand({1001}, tg::TensorOptions(dt).device(kGpu));
    const Tensor ng = tg::randn({1001}, tg::TensorOptions(dt).device(kGpu));
    expect_close(ug.cpu(), u, 0, 0, "rand");
    // Box-Muller in double: CUDA's log/cos may differ from glibc's by an ulp.
    expect_close(ng.cpu(), n, 1e-12, 1e-12, "randn");
  }
  tg::manual_seed(99);
  const Tensor i = tg::randint(-5, 17, {1001});
  tg::manual_seed(99);
  expect_close(tg::randint(-5, 17, {1001}, tg::TensorOptions(tg::kInt64).device(kGpu)).cpu(), i, 0, 0, "randint");
  tg::manual_seed(7);
  const Tensor d = F::dropout(tg::ones({4, 257}), 0.3, true);
  tg::manual_seed(7);
  expect_close(F::dropout(tg::ones({4, 257}, kGpu), 0.3, true).cpu(), d, 0, 0, "dropout");
}

TEST(Cuda, InPlaceOpsAndVersionChecks) {
  REQUIRE_CUDA();
  Tensor a = tg::randn({7, 33}, kGpu);
  const Tensor a0 = a.cpu();
  a.add_(tg::ones({33}, kGpu)).mul_(tg::full({1}, 2.0, kGpu));
  expect_close(a.cpu(), tg::mul(tg::add(a0, 1.0), 2.0), 1e-6, 1e-6, "add_ mul_");
  a.zero_();
  EXPECT_EQ(tg::sum(tg::abs(a)).item(), 0.0);
  // Modifying a saved tensor in place is caught at backward, as on the CPU.
  Tensor w = tg::randn({3}, kGpu).requires_grad_();
  Tensor y = tg::exp(w);
  Tensor loss = tg::sum(y);
  y.detach().add_(tg::ones({3}, kGpu));
  EXPECT_THROW(loss.backward(), tg::Error);
}

// ---------------------------------------------------------------- training

// An MLP trained for 20 steps on CUDA gives the CPU's losses; the caching allocator makes no
// system allocation in the steady state and returns to its baseline.
TEST(Cuda, TrainingLoopMatchesCpuWithoutSteadyStateMallocs) {
  REQUIRE_CUDA();
  const auto make_model = [] {
    tg::manual_seed(11);
    auto m = std::make_shared<tg::nn::Sequential>(std::vector<std::shared_ptr<tg::nn::Module>>{
        std::make_shared<tg::nn::Linear>(20, 64), std::make_shared<tg::nn::ReLU>(),
        std::make_shared<tg::nn::Linear>(64, 5)});
    return m;
  };
  tg::manual_seed(5);
  const Tensor x = tg::randn({128, 20}), target = tg::randint(0, 5, {128});
  std::vector<double> losses[2];
  for (int dev = 0; dev < 2; ++dev) {
    const Device device = dev == 0 ? kHost : kGpu;
    auto model = make_model();
    model->to(device);
    tg::optim::Adam opt(model->parameters(), {.lr = 1e-2});
    const Tensor xd = x.to(device), td = target.to(device);
    tg::MemoryStats before{};
    for (int step = 0; step < 60; ++step) {
      if (step == 5) before = tg::memory_stats(device);
      opt.zero_grad();
      Tensor loss = F::cross_entropy((*model)(xd), td);
      loss.backward();
      opt.step();
      if (step < 20) losses[dev].push_back(loss.item());
    }
    if (device.is_cuda()) {
      const tg::MemoryStats after = tg::memory_stats(device);
      EXPECT_EQ(after.num_system_allocations, before.num_system_allocations) << "cudaMalloc in the steady state";
      EXPECT_EQ(after.allocated_bytes, before.allocated_bytes) << "CUDA memory grew over 55 steps";
    }
  }
  for (size_t i = 0; i < losses[0].size(); ++i)
    EXPECT_NEAR(losses[1][i], losses[0][i], 1e-4 * std::max(1.0, std::abs(losses[0][i]))) << "step " << i;
}

// The multi-tensor optimizer kernels against the CPU: 30 tensors (more than one launch holds),
// sizes around the 16384-element chunk, an empty one; each option that changes the formula.
TEST(Cuda, FusedOptimizerStepsMatchCpu) {
  REQUIRE_CUDA();
  namespace functional = tg::optim::functional;
  tg::manual_seed(21);
  std::vector<tg::Shape> shapes;
  for (int i = 0; i < 30; ++i) shapes.push_back({i == 7 ? 0 : (i % 3 == 0 ? 16385 : 1 + 37 * i)});
  std::vector<Tensor> initial, grads;
  for (const auto& s : shapes) initial.push_back(tg::randn(s));
  for (int step = 0; step < 3; ++step)
    for (const auto& s : shapes) grads.push_back(tg::randn(s));
  using Step = std::function<void(std::vector<Tensor>&, std::vector<Tensor>&, std::vector<Tensor>&,
                                  std::vector<Tensor>&, std::vector<Tensor>&, std::vector<double>&)>;
  const std::vector<std::pair<std::string, Step>> cases = {
      {"sgd nesterov wd", [](auto& p, auto& g, auto& a, auto&, auto&, auto&) {
         functional::sgd(p, g, a, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
       }},
      {"sgd dampening maximize", [](auto& p, auto& g, auto& a, auto&, auto&, auto&) {
         functional::sgd(p, g, a, {.lr = 0.1, .momentum = 0.5, .dampening = 0.2, .maximize = true});
       }},
      {"adam wd", [](auto& p, auto& g, auto& m, auto& v, auto& x, auto& st) {
         functional::adam(p, g, m, v, x, st, {.lr = 1e-2, .weight_decay = 0.1});
       }},
      {"adamw amsgrad", [](auto& p, auto& g, auto& m, auto& v, auto& x, auto& st) {
         functional::adam(p, g, m, v, x, st, {.lr = 1e-2, .weight_decay = 0.1, .amsgrad = true}, true);
       }},
  };
  for (const auto& [name, step] : cases) {
    SCOPED_TRACE(name);
    std::vector<Tensor> result[2];
    for (int dev = 0; dev < 2; ++dev) {
      const Device device = dev == 0 ? kHost : kGpu;
      std::vector<Tensor> params, a(shapes.size()), b(shapes.size()), c(shapes.size());
      for (const Tensor& t : initial) params.push_back(t.to(device));
      std::vector<double> steps(shapes.size(), 0.0);
      for (int k = 0; k < 3; ++k) {
        std::vector<Tensor> g;
        for (size_t i = 0; i < shapes.size(); ++i) g.push_back(grads[k * shapes.size() + i].to(device));
        step(params, g, a, b, c, steps);
      }
      result[dev] = params;
    }
    for (size_t i = 0; i < shapes.size(); ++i) {
      const std::vector<float> cpu = result[0][i].to_vector<float>(), gpu = result[1][i].cpu().to_vector<float>();
      ASSERT_EQ(cpu.size(), gpu.size());
      for (size_t j = 0; j < cpu.size(); ++j)
        ASSERT_NEAR(gpu[j], cpu[j], 1e-5f * (1 + std::abs(cpu[j]))) << "tensor " << i << " element " << j;
    }
  }
}

TEST(Cuda, AllocatorStatisticsAndEmptyCache) {
  REQUIRE_CUDA();
  tg::cuda::synchronize();
  const tg::MemoryStats base = tg::memory_stats(kGpu);
  tg::reset_peak_memory_stats(kGpu);
  {
    const Tensor big = tg::zeros({1 << 22}, kGpu);  // 16 MiB
    const tg::MemoryStats during = tg::memory_stats(kGpu);
    EXPECT_GE(during.allocated_bytes - base.allocated_bytes, int64_t(16) << 20);
    EXPECT_GE(during.reserved_bytes, during.allocated_bytes);
  }
  const tg::MemoryStats after = tg::memory_stats(kGpu);
  EXPECT_EQ(after.allocated_bytes, base.allocated_bytes);
  EXPECT_GE(after.peak_allocated_bytes - base.allocated_bytes, int64_t(16) << 20);
  // Reuse: the same size again makes no system allocation.
  const int64_t mallocs = after.num_system_allocations;
  { const Tensor again = tg::zeros({1 << 22}, kGpu); }
  EXPECT_EQ(tg::memory_stats(kGpu).num_system_allocations, mallocs);
  tg::empty_cache(kGpu);
  const tg::MemoryStats emptied = tg::memory_stats(kGpu);
  EXPECT_EQ(emptied.reserved_bytes, emptied.allocated_bytes);
}

}  // namespace
