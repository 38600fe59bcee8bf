// bench_cuda: the CUDA backend's kernels, called straight through the KernelTable, against the
// vendor libraries (cuBLAS, cuDNN), the device's own copy bandwidth and the CPU backend.
//
//   bench_cuda [--quick]
//
// 1. A GEMM correctness sweep (odd sizes, both transposes, padded and misaligned leading dims,
//    stride-0 batch operands, alpha/beta, K = 0, float32/float64/int64, every path) against a
//    float64 (int64: exact) host reference.
// 2. Tables, each case checked first (max abs / rel error vs a float64 host reference, on all or
//    a sample of rows of the same problem; exit 1 past the stated tolerance), then timed:
//    GPU with cudaEvents on the backend's stream after warm-up, the median of >= 10 runs; CPU
//    (tg::kernels::cpu_kernels() on host buffers) with std::chrono, the median of up to 10 runs
//    within a time budget (large GEMMs: fewer, the count is printed).
//    (a) float32 matmul N x N x N: GFLOP/s of our SGEMM, cuBLAS (TF32 off), ours TF32, cuBLAS TF32.
//    (b) float32 softmax over rows: GB/s (bytes read + written) of ours and cuDNN, and as % of a
//        device-to-device cudaMemcpyAsync of the same bytes.
//    (c) float32 elementwise add: GB/s and % of the copy.
// Without a usable GPU it prints one line "no CUDA device: <reason>" and exits 0.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "kernels/cuda/cuda_common.cuh"  // tg::kernels::cuda::stream(): the stream to time on
#include "kernels/cuda_control.h"
#include "kernels/kernel_api.h"

namespace {

namespace K = tg::kernels;
namespace cc = tg::kernels::cuda_control;
using tg::DType;
using K::GemmArgs;
using K::View;

const K::KernelTable* gpu = nullptr;
const K::KernelTable* cpu = nullptr;
bool quick = false;
bool failed = false;

void cuda_ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "%s failed: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

template <typename T>
T* device_alloc(size_t count) {
  void* p = nullptr;
  cuda_ok(cudaMalloc(&p, std::max<size_t>(count, 1) * sizeof(T)), "cudaMalloc");
  return static_cast<T*>(p);
}

void upload(void* dst, const void* src, size_t bytes) { gpu->copy_from_host(dst, src, bytes); }
void download(void* dst, const void* src, size_t bytes) { gpu->copy_to_host(dst, src, bytes); }

// xorshift64*: fast, reproducible host data.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
  }
  double uniform(double lo, double hi) { return lo + (hi - lo) * double(next() >> 11) * 0x1p-53; }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Median milliseconds of `runs` calls, each between two events on the backend's stream (all
// queued back to back, one synchronization at the end), after `warmup` calls.
template <class F>
double gpu_ms(F&& f, int runs, int warmup = 3) {
  cudaStream_t s = K::cuda::stream();
  for (int i = 0; i < warmup; ++i) f();
  std::vector<cudaEvent_t> ev(2 * static_cast<size_t>(runs));
  for (auto& e : ev) cuda_ok(cudaEventCreate(&e), "cudaEventCreate");
  for (int r = 0; r < runs; ++r) {
    cuda_ok(cudaEventRecord(ev[2 * r], s), "cudaEventRecord");
    f();
    cuda_ok(cudaEventRecord(ev[2 * r + 1], s), "cudaEventRecord");
  }
  gpu->synchronize();
  std::vector<double> ms(static_cast<size_t>(runs));
  for (int r = 0; r < runs; ++r) {
    float t = 0;
    cuda_ok(cudaEventElapsedTime(&t, ev[2 * r], ev[2 * r + 1]), "cudaEventElapsedTime");
    ms[static_cast<size_t>(r)] = t;
  }
  for (auto& e : ev) cuda_ok(cudaEventDestroy(e), "cudaEventDestroy");
  return median(ms);
}

struct CpuTime {
  double ms = 0;
  int runs = 0;
};

// Median of up to `max_runs` timed calls after one warm-up, stopping once `budget_s` is spent
// (a warm-up longer than the budget is the only sample).
template <class F>
CpuTime cpu_ms(F&& f, int max_runs, double budget_s) {
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  f();
  const double first = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
  if (first > 1000.0 * budget_s) return {first, 1};
  std::vector<double> ms;
  const auto start = clock::now();
  while (static_cast<int>(ms.size()) < max_runs &&
         std::chrono::duration<double>(clock::now() - start).count() < budget_s) {
    t0 = clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
  }
  return {median(ms), static_cast<int>(ms.size())};
}

View view2d(void* data, int64_t rows, int64_t cols) {
  View v;
  v.data = data;
  v.dtype = DType::Float32;
  v.ndim = 2;
  v.sizes[0] = rows;
  v.sizes[1] = cols;
  v.strides[0] = cols;
  v.strides[1] = 1;
  return v;
}

View view1d(void* data, int64_t n) {
  View v;
  v.data = data;
  v.dtype = DType::Float32;
  v.ndim = 1;
  v.sizes[0] = n;
  v.strides[0] = 1;
  return v;
}

// Device-to-device copy of `bytes` (GB/s counting the bytes read and written).
double copy_gbps(size_t bytes, int runs) {
  char* a = device_alloc<char>(bytes);
  char* b = device_alloc<char>(bytes);
  cuda_ok(cudaMemsetAsync(a, 0, bytes, K::cuda::stream()), "cudaMemsetAsync");
  const double ms = gpu_ms(
      [&] { cuda_ok(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, K::cuda::stream()), "cudaMemcpyAsync"); },
      runs);
  cuda_ok(cudaFree(a), "cudaFree");
  cuda_ok(cudaFree(b), "cudaFree");
  return 2.0 * double(bytes) / (ms * 1e6);
}

// Prints a check line and records a failure past the tolerance.
void report_check(const char* what, double max_abs, double max_rel, double tol) {
  const bool ok = max_rel <= tol;
  std::printf("  check %-44s max abs %.3e  max rel %.3e  (tol %.1e) %s\n", what, max_abs, max_rel, tol,
              ok ? "ok" : "FAILED");
  if (!ok) failed = true;
}

// ------------------------------------------------------------------------------------------------
// GEMM correctness sweep

struct Path {
  const char* name;
  cc::Impl impl;
  bool tf32;
  double tol;  // on |c - ref| / (|alpha| sum |a b| + |beta c|)
};

constexpr double kTolF32 = 1e-5, kTolTf32 = 2e-3, kTolF64 = 1e-12;

template <typename T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>) return DType::Float32;
  if constexpr (std::is_same_v<T, double>) return DType::Float64;
  return DType::Int64;
}

template <typename T>
T garbage() {
  if constexpr (std::is_floating_point_v<T>) {
    return std::numeric_limits<T>::quiet_NaN();
  } else {
    return T(0x5555555555555555ll);
  }
}

// Operand layouts: dense; padded with base pointers one element off 16-byte alignment (scalar
// loads); padded to a multiple of 4 elements, aligned (vector loads with partial edge chunks).
enum Layout { kTight = 0, kMisaligned = 1, kAligned = 2 };

struct SweepCase {
  int64_t m, n, k, batch;
  Layout layout;
};

// A stored rows x cols operand per batch item (padding and the gaps between items hold garbage).
template <typename T>
struct Operand {
  int64_t rows, cols, ld, stride, offset;
  std::vector<T> host;  // offset + the items
  T* dev = nullptr;
  T at(int64_t z, int64_t r, int64_t c) const { return host[offset + z * stride + r * ld + c]; }
};

template <typename T>
Operand<T> make_operand(int64_t rows, int64_t cols, int64_t batch, Layout layout, bool broadcast, Rng& rng,
                        bool fill) {
  Operand<T> o;
  o.rows = rows;
  o.cols = cols;
  const int64_t dense = std::max<int64_t>(cols, 1);
  o.ld = layout == kTight ? dense : layout == kMisaligned ? dense + 3 : (dense + 3) / 4 * 4 + 4;
  o.stride = broadcast ? 0 : rows * o.ld + (layout == kMisaligned ? 5 : layout == kAligned ? 8 : 0);
  o.offset = layout == kMisaligned ? 1 : 0;
  const int64_t items = broadcast ? 1 : batch;
  o.host.assign(static_cast<size_t>(o.offset + (items - 1) * o.stride + rows * o.ld + 1), garbage<T>());
  for (int64_t z = 0; z < items; ++z)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        T v;
        if constexpr (std::is_floating_point_v<T>) {
          v = static_cast<T>(static_cast<float>(rng.uniform(-1, 1)));
        } else {
          v = static_cast<T>(static_cast<int64_t>(rng.next() % 7) - 3);
        }
        o.host[static_cast<size_t>(o.offset + z * o.stride + r * o.ld + c)] = fill ? v : garbage<T>();
      }
  o.dev = device_alloc<T>(o.host.size());
  upload(o.dev, o.host.data(), o.host.size() * sizeof(T));
  return o;
}

// Runs every path on one case; returns false on a mismatch (printed).
template <typename T>
bool sweep_case(const SweepCase& sc, int idx, bool ta, bool tb, bool beta_zero, const std::vector<Path>& paths) {
  Rng rng(1000 + idx * 8 + ta * 4 + tb * 2 + beta_zero);
  const int64_t m = sc.m, n = sc.n, k = sc.k, batch = sc.batch;
  const bool bcast_a = batch > 1 && idx % 3 == 0, bcast_b = batch > 1 && idx % 2 == 1;
  Operand<T> A = make_operand<T>(ta ? k : m, ta ? m : k, batch, sc.layout, bcast_a, rng, true);
  Operand<T> B = make_operand<T>(tb ? n : k, tb ? k : n, batch, sc.layout, bcast_b, rng, true);
  Operand<T> C = make_operand<T>(m, n, batch, sc.layout, false, rng, !beta_zero);
  const double alpha = std::is_floating_point_v<T> ? 1.5 : 2.0;
  const double beta = beta_zero ? 0.0 : (std::is_floating_point_v<T> ? 0.5 : 3.0);

  // Reference and error scale per element of C.
  const size_t cn = static_cast<size_t>(batch * m * n);
  std::vector<double> ref(cn), scale(cn);
  for (int64_t z = 0; z < batch; ++z)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0, sa = 0;
        for (int64_t p = 0; p < k; ++p) {
          const double a = double(ta ? A.at(bcast_a ? 0 : z, p, i) : A.at(bcast_a ? 0 : z, i, p));
          const double b = double(tb ? B.at(bcast_b ? 0 : z, j, p) : B.at(bcast_b ? 0 : z, p, j));
          s += a * b;
          sa += std::fabs(a * b);
        }
        const double c0 = beta_zero ? 0.0 : double(C.at(z, i, j));
        const size_t e = static_cast<size_t>((z * m + i) * n + j);
        ref[e] = alpha * s + beta * c0;
        scale[e] = std::fabs(alpha) * sa + std::fabs(beta * c0);
      }

  bool ok = true;
  std::vector<T> out(C.host.size());
  for (const Path& path : paths) {
    upload(C.dev, C.host.data(), C.host.size() * sizeof(T));
    cc::set_matmul_impl(path.impl);
    cc::set_allow_tf32(path.tf32);
    GemmArgs g;
    g.dtype = dtype_of<T>();
    g.trans_a = ta;
    g.trans_b = tb;
    g.m = m;
    g.n = n;
    g.k = k;
    g.batch = batch;
    g.a = A.dev + A.offset;
    g.lda = A.ld;
    g.stride_a = A.stride;
    g.b = B.dev + B.offset;
    g.ldb = B.ld;
    g.stride_b = B.stride;
    g.c = C.dev + C.offset;
    g.ldc = C.ld;
    g.stride_c = C.stride;
    g.alpha = alpha;
    g.beta = beta;
    gpu->gemm(g);
    download(out.data(), C.dev, out.size() * sizeof(T));
    double max_abs = 0, max_rel = 0;
    bool bad = false;
    for (int64_t z = 0; z < batch && !bad; ++z)
      for (int64_t i = 0; i < m && !bad; ++i)
        for (int64_t j = 0; j < n; ++j) {
          const size_t e = static_cast<size_t>((z * m + i) * n + j);
          const double got = double(out[static_cast<size_t>(C.offset + z * C.stride + i * C.ld + j)]);
          const double err = std::fabs(got - ref[e]);
          if (!(err <= path.tol * scale[e])) {  // NaN fails too
            std::printf("  MISMATCH %s m=%lld n=%lld k=%lld batch=%lld ta=%d tb=%d beta=%g layout=%d: "
                        "C[%lld][%lld][%lld] = %.9g, expected %.9g\n",
                        path.name, (long long)m, (long long)n, (long long)k, (long long)batch, ta, tb,
                        beta, int(sc.layout), (long long)z, (long long)i, (long long)j, got, ref[e]);
            bad = true;
            break;
          }
          max_abs = std::max(max_abs, err);
          if (scale[e] > 0) max_rel = std::max(max_rel, err / scale[e]);
        }
    // Elements outside the m x n windows (padding, gaps) must be untouched.
    for (size_t e = 0; e < out.size() && !bad; ++e) {
      const int64_t rel = static_cast<int64_t>(e) - C.offset;  // C.stride > 0: C is never broadcast
      const bool inside = rel >= 0 && rel / C.stride < batch && (rel % C.stride) / C.ld < m &&
                          (rel % C.stride) % C.ld < n;
      if (inside) continue;
      const bool same = std::is_floating_point_v<T> ? (std::isnan(double(out[e])) == std::isnan(double(C.host[e])) &&
                                                       (std::isnan(double(out[e])) || out[e] == C.host[e]))
                                                    : out[e] == C.host[e];
      if (!same) {
        std::printf("  OUT-OF-WINDOW WRITE %s m=%lld n=%lld k=%lld at element %zu\n", path.name,
                    (long long)m, (long long)n, (long long)k, e);
        bad = true;
      }
    }
    if (bad) ok = false;
  }
  T* const buffers[] = {A.dev, B.dev, C.dev};
  for (T* p : buffers) cuda_ok(cudaFree(p), "cudaFree");
  return ok;
}

bool gemm_sweep() {
  std::printf("== GEMM correctness sweep (every path vs a float64 / exact int64 host reference) ==\n");
  // The 1537 x 1541 cases have enough 128 x 128 tiles for the large-tile kernels on an H100.
  const std::vector<SweepCase> cases = {
      {1, 1, 1, 1, kTight},           {7, 5, 3, 2, kMisaligned},      {33, 65, 17, 3, kAligned},
      {127, 129, 131, 2, kMisaligned}, {125, 131, 67, 2, kAligned},   {1000, 7, 33, 1, kTight},
      {5, 1000, 260, 2, kMisaligned},  {64, 48, 0, 2, kTight},        {256, 256, 256, 1, kTight},
      {130, 260, 1030, 2, kAligned},   {1537, 1541, 45, 1, kMisaligned}, {1537, 1541, 45, 1, kAligned},
  };
  const std::vector<Path> f32 = {{"ours-sgemm", cc::Impl::Ours, false, kTolF32},
                                 {"ours-tf32", cc::Impl::Ours, true, kTolTf32},
                                 {"cublas", cc::Impl::Library, false, kTolF32},
                                 {"cublas-tf32", cc::Impl::Library, true, kTolTf32}};
  const std::vector<Path> f64 = {{"ours-f64", cc::Impl::Ours, false, kTolF64},
                                 {"cublas-f64", cc::Impl::Library, false, kTolF64}};
  const std::vector<Path> i64 = {{"ours-i64", cc::Impl::Ours, false, 0.0}};
  int total = 0, bad = 0;
  for (int idx = 0; idx < static_cast<int>(cases.size()); ++idx) {
    const SweepCase& sc = cases[static_cast<size_t>(idx)];
    // The big case once per transpose pair in quick mode.
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (int bz = 0; bz < 2; ++bz) {
          if (quick && sc.m * sc.n > 1000000 && bz) continue;
          total += 3;
          bad += !sweep_case<float>(sc, idx, ta, tb, bz, f32);
          bad += !sweep_case<double>(sc, idx, ta, tb, bz, f64);
          bad += !sweep_case<int64_t>(sc, idx, ta, tb, bz, i64);
        }
  }
  cc::set_matmul_impl(cc::Impl::Auto);
  cc::set_allow_tf32(false);
  std::printf("  %d of %d case groups passed\n\n", total - bad, total);
  if (bad) failed = true;
  return bad == 0;
}

// ------------------------------------------------------------------------------------------------
// (a) matmul

struct GemmRow {
  int64_t n;
  double gf[4];  // ours fp32, cuBLAS fp32, ours tf32, cuBLAS tf32
  double cpu_gf;
  int cpu_runs;
};

GemmArgs square_gemm(const float* a, const float* b, float* c, int64_t n) {
  GemmArgs g;
  g.dtype = DType::Float32;
  g.m = g.n = g.k = n;
  g.a = a;
  g.lda = n;
  g.b = b;
  g.ldb = n;
  g.c = c;
  g.ldc = n;
  return g;
}

GemmRow bench_gemm(int64_t n, int runs) {
  const size_t nn = static_cast<size_t>(n * n);
  std::vector<float> ha(nn), hb(nn), hc(nn);
  Rng rng(static_cast<uint64_t>(n));
  for (auto& v : ha) v = static_cast<float>(rng.uniform(-1, 1));
  for (auto& v : hb) v = static_cast<float>(rng.uniform(-1, 1));
  float* da = device_alloc<float>(nn);
  float* db = device_alloc<float>(nn);
  float* dc = device_alloc<float>(nn);
  upload(da, ha.data(), nn * 4);
  upload(db, hb.data(), nn * 4);

  // Reference rows: all up to 512, else 16 spread over the matrix (the last one included).
  std::vector<int64_t> rows;
  if (n <= 512) {
    for (int64_t i = 0; i < n; ++i) rows.push_back(i);
  } else {
    for (int64_t i = 0; i < 16; ++i) rows.push_back(i * (n - 1) / 15);
  }
  std::vector<double> ref(rows.size() * static_cast<size_t>(n)), scale(ref.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    double* acc = &ref[r * static_cast<size_t>(n)];
    double* sc = &scale[r * static_cast<size_t>(n)];
    for (int64_t p = 0; p < n; ++p) {
      const double a = ha[static_cast<size_t>(rows[r] * n + p)];
      const float* brow = &hb[static_cast<size_t>(p * n)];
      for (int64_t j = 0; j < n; ++j) {
        acc[j] += a * brow[j];
        sc[j] += std::fabs(a * brow[j]);
      }
    }
  }

  const Path paths[4] = {{"ours fp32", cc::Impl::Ours, false, kTolF32},
                         {"cuBLAS fp32", cc::Impl::Library, false, kTolF32},
                         {"ours tf32", cc::Impl::Ours, true, kTolTf32},
                         {"cuBLAS tf32", cc::Impl::Library, true, kTolTf32}};
  GemmRow row{};
  row.n = n;
  const GemmArgs g = square_gemm(da, db, dc, n);
  for (int pi = 0; pi < 4; ++pi) {
    cc::set_matmul_impl(paths[pi].impl);
    cc::set_allow_tf32(paths[pi].tf32);
    // NaN (on the kernels' stream, so it lands first): beta = 0 must not read C.
    cuda_ok(cudaMemsetAsync(dc, 0xff, nn * 4, K::cuda::stream()), "cudaMemsetAsync");
    gpu->gemm(g);
    download(hc.data(), dc, nn * 4);
    double max_abs = 0, max_rel = 0;
    for (size_t r = 0; r < rows.size(); ++r)
      for (int64_t j = 0; j < n; ++j) {
        const size_t e = r * static_cast<size_t>(n) + static_cast<size_t>(j);
        const double err = std::fabs(double(hc[static_cast<size_t>(rows[r] * n + j)]) - ref[e]);
        max_abs = std::isnan(err) ? INFINITY : std::max(max_abs, err);
        max_rel = std::isnan(err) ? INFINITY : std::max(max_rel, err / scale[e]);
      }
    char what[96];
    std::snprintf(what, sizeof what, "matmul %lld^3 %s (%zu rows)", (long long)n, paths[pi].name, rows.size());
    report_check(what, max_abs, max_rel, paths[pi].tol);
    const double ms = gpu_ms([&] { gpu->gemm(g); }, runs);
    row.gf[pi] = 2.0 * double(n) * double(n) * double(n) / (ms * 1e6);
  }
  cc::set_matmul_impl(cc::Impl::Auto);
  cc::set_allow_tf32(false);
  for (float* p : {da, db, dc}) cuda_ok(cudaFree(p), "cudaFree");

  const GemmArgs hg = square_gemm(ha.data(), hb.data(), hc.data(), n);
  const CpuTime t = cpu_ms([&] { cpu->gemm(hg); }, 10, quick ? 0.5 : 2.0);
  row.cpu_gf = 2.0 * double(n) * double(n) * double(n) / (t.ms * 1e6);
  row.cpu_runs = t.runs;
  return row;
}

// ------------------------------------------------------------------------------------------------
// (b) softmax

struct BandwidthRow {
  int64_t rows, cols;
  double ours, lib, copy, cpu;
  int cpu_runs;
};

BandwidthRow bench_softmax(int64_t rows, int64_t cols, int runs) {
  const size_t n = static_cast<size_t>(rows * cols);
  std::vector<float> hx(n), hy(n);
  Rng rng(static_cast<uint64_t>(rows * 7 + cols));
  for (auto& v : hx) v = static_cast<float>(rng.uniform(-8, 8));
  float* dx = device_alloc<float>(n);
  float* dy = device_alloc<float>(n);
  upload(dx, hx.data(), n * 4);
  const View vx = view2d(dx, rows, cols), vy = view2d(dy, rows, cols);

  // Reference rows: up to 256 spread over the input.
  std::vector<int64_t> check_rows;
  const int64_t nr = std::min<int64_t>(rows, 256);
  for (int64_t i = 0; i < nr; ++i) check_rows.push_back(nr == 1 ? 0 : i * (rows - 1) / (nr - 1));

  BandwidthRow row{};
  row.rows = rows;
  row.cols = cols;
  const double bytes = 2.0 * double(n) * 4;
  const struct {
    const char* name;
    cc::Impl impl;
    double* out;
  } paths[2] = {{"ours", cc::Impl::Ours, &row.ours}, {"cuDNN", cc::Impl::Library, &row.lib}};
  for (const auto& path : paths) {
    cc::set_softmax_impl(path.impl);
    cuda_ok(cudaMemsetAsync(dy, 0xff, n * 4, K::cuda::stream()), "cudaMemsetAsync");
    gpu->softmax(false, vy, vx);
    download(hy.data(), dy, n * 4);
    double max_abs = 0, max_rel = 0;
    for (int64_t r : check_rows) {
      const float* x = &hx[static_cast<size_t>(r * cols)];
      double mx = -INFINITY, sum = 0;
      for (int64_t j = 0; j < cols; ++j) mx = std::max(mx, double(x[j]));
      for (int64_t j = 0; j < cols; ++j) sum += std::exp(double(x[j]) - mx);
      for (int64_t j = 0; j < cols; ++j) {
        const double want = std::exp(double(x[j]) - mx) / sum;
        const double err = std::fabs(double(hy[static_cast<size_t>(r * cols + j)]) - want);
        max_abs = std::isnan(err) ? INFINITY : std::max(max_abs, err);
        // Relative to the value, floored so that underflowing tails do not dominate.
        max_rel = std::isnan(err) ? INFINITY : std::max(max_rel, err / std::max(want, 1e-6));
      }
    }
    char what[96];
    std::snprintf(what, sizeof what, "softmax %lldx%lld %s (%zu rows)", (long long)rows, (long long)cols,
                  path.name, check_rows.size());
    report_check(what, max_abs, max_rel, 1e-4);
    const double ms = gpu_ms([&] { gpu->softmax(false, vy, vx); }, runs);
    *path.out = bytes / (ms * 1e6);
  }
  cc::set_softmax_impl(cc::Impl::Auto);
  for (float* p : {dx, dy}) cuda_ok(cudaFree(p), "cudaFree");
  row.copy = copy_gbps(n * 4, runs);

  const View hvx = view2d(hx.data(), rows, cols), hvy = view2d(hy.data(), rows, cols);
  const CpuTime t = cpu_ms([&] { cpu->softmax(false, hvy, hvx); }, 10, quick ? 0.5 : 2.0);
  row.cpu = bytes / (t.ms * 1e6);
  row.cpu_runs = t.runs;
  return row;
}

// ------------------------------------------------------------------------------------------------
// (c) elementwise add

BandwidthRow bench_add(int64_t n, int runs) {
  const size_t count = static_cast<size_t>(n);
  std::vector<float> ha(count), hb(count), hc(count);
  Rng rng(static_cast<uint64_t>(n));
  for (auto& v : ha) v = static_cast<float>(rng.uniform(-1, 1));
  for (auto& v : hb) v = static_cast<float>(rng.uniform(-1, 1));
  float* da = device_alloc<float>(count);
  float* db = device_alloc<float>(count);
  float* dc = device_alloc<float>(count);
  upload(da, ha.data(), count * 4);
  upload(db, hb.data(), count * 4);
  const View va = view1d(da, n), vb = view1d(db, n), vc = view1d(dc, n);
  gpu->binary(K::BinaryOp::Add, vc, va, vb);
  download(hc.data(), dc, count * 4);
  double max_abs = 0, max_rel = 0;
  for (size_t i = 0; i < count; ++i) {
    const double want = double(ha[i]) + double(hb[i]);
    const double err = std::fabs(double(hc[i]) - want);
    max_abs = std::isnan(err) ? INFINITY : std::max(max_abs, err);
    if (want != 0) max_rel = std::isnan(err) ? INFINITY : std::max(max_rel, err / std::fabs(want));
  }
  char what[96];
  std::snprintf(what, sizeof what, "add %lld floats", (long long)n);
  report_check(what, max_abs, max_rel, 6e-8);  // one correctly rounded float add: <= 2^-24

  BandwidthRow row{};
  row.rows = n;
  const double bytes = 3.0 * double(n) * 4;
  const double ms = gpu_ms([&] { gpu->binary(K::BinaryOp::Add, vc, va, vb); }, runs);
  row.ours = bytes / (ms * 1e6);
  for (float* p : {da, db, dc}) cuda_ok(cudaFree(p), "cudaFree");
  row.copy = copy_gbps(count * 4, runs);

  const View hva = view1d(ha.data(), n), hvb = view1d(hb.data(), n), hvc = view1d(hc.data(), n);
  const CpuTime t = cpu_ms([&] { cpu->binary(K::BinaryOp::Add, hvc, hva, hvb); }, 10, quick ? 0.5 : 2.0);
  row.cpu = bytes / (t.ms * 1e6);
  row.cpu_runs = t.runs;
  return row;
}

int run() {
  gpu = K::cuda_kernels();
  cpu = K::cpu_kernels();
  gpu->activate(0, "bench");
  cudaDeviceProp prop{};
  cuda_ok(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  const int runs = quick ? 10 : 20;
  std::printf("bench_cuda%s: %s, %d SMs, %.1f GiB; CPU: %u hardware threads; GPU medians of %d runs\n\n",
              quick ? " --quick" : "", prop.name, prop.multiProcessorCount,
              double(prop.totalGlobalMem) / (1 << 30), std::thread::hardware_concurrency(), runs);

  gemm_sweep();

  std::printf("== checks of the timed cases ==\n");
  std::vector<int64_t> gemm_sizes = {128, 256, 512, 1024, 2048, 4096, 8192};
  if (quick) gemm_sizes = {128, 512, 2048};
  std::vector<GemmRow> gemm_rows;
  for (int64_t n : gemm_sizes) gemm_rows.push_back(bench_gemm(n, runs));

  std::vector<std::pair<int64_t, int64_t>> sm_shapes = {{8192, 8192}, {4096, 1024}, {32768, 128}};
  if (quick) sm_shapes = {{4096, 1024}, {32768, 128}};
  std::vector<BandwidthRow> sm_rows;
  for (auto [r, c] : sm_shapes) sm_rows.push_back(bench_softmax(r, c, runs));

  std::vector<int64_t> add_sizes = {int64_t(1) << 24, int64_t(1) << 26};
  if (quick) add_sizes = {int64_t(1) << 24};
  std::vector<BandwidthRow> add_rows;
  for (int64_t n : add_sizes) add_rows.push_back(bench_add(n, runs));

  std::printf("\n== (a) matmul float32 N x N x N, GFLOP/s ==\n");
  std::printf("%6s | %10s %11s %6s | %10s %11s %6s | %10s %5s | %8s\n", "N", "ours fp32", "cuBLAS fp32",
              "%", "ours tf32", "cuBLAS tf32", "%", "CPU fp32", "runs", "GPU/CPU");
  for (const GemmRow& r : gemm_rows)
    std::printf("%6lld | %10.1f %11.1f %5.1f%% | %10.1f %11.1f %5.1f%% | %10.1f %5d | %7.1fx\n",
                (long long)r.n, r.gf[0], r.gf[1], 100 * r.gf[0] / r.gf[1], r.gf[2], r.gf[3],
                100 * r.gf[2] / r.gf[3], r.cpu_gf, r.cpu_runs, r.gf[0] / r.cpu_gf);

  std::printf("\n== (b) softmax float32 over rows, GB/s (read + write) ==\n");
  std::printf("%13s | %8s %6s | %8s %6s | %9s | %8s %5s | %8s\n", "rows x cols", "ours", "%copy", "cuDNN",
              "%copy", "D2D copy", "CPU", "runs", "GPU/CPU");
  for (const BandwidthRow& r : sm_rows) {
    char shape[32];
    std::snprintf(shape, sizeof shape, "%lldx%lld", (long long)r.rows, (long long)r.cols);
    std::printf("%13s | %8.1f %5.1f%% | %8.1f %5.1f%% | %9.1f | %8.1f %5d | %7.1fx\n", shape, r.ours,
                100 * r.ours / r.copy, r.lib, 100 * r.lib / r.copy, r.copy, r.cpu, r.cpu_runs, r.ours / r.cpu);
  }

  std::printf("\n== (c) elementwise add float32, GB/s (2 reads + 1 write) ==\n");
  std::printf("%13s | %8s %6s | %9s | %8s %5s | %8s\n", "elements", "ours", "%copy", "D2D copy", "CPU", "runs",
              "GPU/CPU");
  for (const BandwidthRow& r : add_rows)
    std::printf("%13lld | %8.1f %5.1f%% | %9.1f | %8.1f %5d | %7.1fx\n", (long long)r.rows, r.ours,
                100 * r.ours / r.copy, r.copy, r.cpu, r.cpu_runs, r.ours / r.cpu);

  if (failed) {
    std::printf("\nFAILED: some results were outside their tolerance (see above)\n");
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else {
      std::fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
      return 2;
    }
  }
  if (cc::device_count() == 0) {
    std::printf("no CUDA device: %s\n", cc::unavailable_reason().c_str());
    return 0;
  }
  try {
    return run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda: %s\n", e.what());
    return 1;
  }
}
