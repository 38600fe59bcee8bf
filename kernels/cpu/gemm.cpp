// CPU GEMM: CBLAS (OpenBLAS) when built with TG_HAVE_CBLAS, and a portable blocked kernel.
//
// The portable kernel follows the usual GotoBLAS structure: op(B) is packed into KC x NR column
// panels, op(A) into MC x KC blocks of MR-row panels, and an MR x NR register-blocked micro-kernel
// (fixed-size loops the compiler unrolls and vectorizes) accumulates over KC. Threads take
// independent (batch, MC-row block, NC-column block) tiles of C, so no two threads write the same
// element. alpha/beta are applied when a tile is written back; beta == 0 never reads C.
#include "kernels/cpu/gemm.h"

#include <omp.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <memory>
#include <new>
#include <type_traits>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/simd_clones.h"
#include "kernels/cpu/strided_loop.h"

#ifdef TG_HAVE_CBLAS
#include <cblas.h>
#endif

namespace tg::kernels::cpu {
namespace {

template <typename T>
struct Blocking;
template <>
struct Blocking<float> {
  static constexpr int MR = 6, NR = 8;
  static constexpr int64_t MC = 120, KC = 256, NC = 512;
};
template <>
struct Blocking<double> {
  static constexpr int MR = 6, NR = 4;
  static constexpr int64_t MC = 96, KC = 256, NC = 256;
};
template <>
struct Blocking<int64_t> {
  static constexpr int MR = 4, NR = 4;
  static constexpr int64_t MC = 96, KC = 256, NC = 256;
};

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

template <typename T>
std::unique_ptr<T, FreeDeleter> aligned_buffer(int64_t count) {
  size_t bytes = static_cast<size_t>(count) * sizeof(T);
  bytes = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes == 0 ? 64 : bytes);
  if (p == nullptr) throw std::bad_alloc();
  return std::unique_ptr<T, FreeDeleter>(static_cast<T*>(p));
}

// C (m x n, ldc) = beta * C; beta == 0 writes zeros without reading.
template <typename T>
void scale_c(T* c, int64_t ldc, int64_t m, int64_t n, T beta) {
  for (int64_t i = 0; i < m; ++i) {
    T* row = c + i * ldc;
    if (beta == T(0)) {
      for (int64_t j = 0; j < n; ++j) row[j] = T(0);
    } else if (beta != T(1)) {
      for (int64_t j = 0; j < n; ++j) row[j] *= beta;
    }
  }
}

// Packs rows [i0, i0+mc) x cols [p0, p0+kc) of op(A) into MR-row panels: panel r holds
// ap[r*MR*kc + p*MR + ii]; rows past m are zero.
template <typename T, int MR>
void pack_a(const T* a, int64_t lda, bool trans, int64_t m, int64_t i0, int64_t mc, int64_t p0,
            int64_t kc, T* __restrict ap) {
  for (int64_t ir = 0; ir < mc; ir += MR) {
    T* dst = ap + ir * kc;
    const int64_t rows = std::min<int64_t>(MR, m - (i0 + ir));
    if (trans) {
      // op(A)(i, p) = a[p * lda + i]: MR contiguous values per p.
      for (int64_t p = 0; p < kc; ++p) {
        const T* src = a + (p0 + p) * lda + i0 + ir;
        T* d = dst + p * MR;
        if (rows == MR) {
          for (int ii = 0; ii < MR; ++ii) d[ii] = src[ii];
        } else {
          for (int ii = 0; ii < MR; ++ii) d[ii] = ii < rows ? src[ii] : T(0);
        }
      }
    } else {
      // op(A)(i, p) = a[i * lda + p]
      for (int ii = 0; ii < MR; ++ii) {
        if (ii < rows) {
          const T* src = a + (i0 + ir + ii) * lda + p0;
          for (int64_t p = 0; p < kc; ++p) dst[p * MR + ii] = src[p];
        } else {
          for (int64_t p = 0; p < kc; ++p) dst[p * MR + ii] = T(0);
        }
      }
    }
  }
}

// Packs rows [p0, p0+kc) x cols [j0, j0+nc) of op(B) into NR-column panels: panel r holds
// bp[r*NR*kc + p*NR + jj]; columns past n are zero.
template <typename T, int NR>
void pack_b(const T* b, int64_t ldb, bool trans, int64_t n, int64_t j0, int64_t nc, int64_t p0,
            int64_t kc, T* __restrict bp) {
  for (int64_t jr = 0; jr < nc; jr += NR) {
    T* dst = bp + jr * kc;
    const int64_t cols = std::min<int64_t>(NR, n - (j0 + jr));
    if (!trans) {
      // op(B)(p, j) = b[p * ldb + j]: NR contiguous values per p.
      for (int64_t p = 0; p < kc; ++p) {
        const T* src = b + (p0 + p) * ldb + j0 + jr;
        T* d = dst + p * NR;
        if (cols == NR) {
          for (int jj = 0; jj < NR; ++jj) d[jj] = src[jj];
        } else {
          for (int jj = 0; jj < NR; ++jj) d[jj] = jj < cols ? src[jj] : T(0);
        }
      }
    } else {
      // op(B)(p, j) = b[j * ldb + p]
      for (int jj = 0; jj < NR; ++jj) {
        if (jj < cols) {
          const T* src = b + (j0 + jr + jj) * ldb + p0;
          for (int64_t p = 0; p < kc; ++p) dst[p * NR + jj] = src[p];
        } else {
          for (int64_t p = 0; p < kc; ++p) dst[p * NR + jj] = T(0);
        }
      }
    }
  }
}

// acc (MR x NR, row-major) = sum_p ap[p] (outer) bp[p].
template <typename T, int MR, int NR>
inline void micro_kernel(int64_t kc, const T* __restrict ap, const T* __restrict bp,
                         T* __restrict acc) {
  T c[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) c[i][j] = T(0);
  for (int64_t p = 0; p < kc; ++p) {
    const T* a = ap + p * MR;
    const T* b = bp + p * NR;
    for (int i = 0; i < MR; ++i) {
      const T ai = a[i];
      // Without the simd hint GCC's SLP pass shuffles the accumulators through memory.
#pragma omp simd
      for (int j = 0; j < NR; ++j) c[i][j] += ai * b[j];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i * NR + j] = c[i][j];
}

// Writes an mr x nr corner of acc into C: first K block applies beta, later ones accumulate.
template <typename T, int NR>
inline void write_back(T* c, int64_t ldc, const T* acc, int64_t mr, int64_t nr, T alpha, T beta,
                       bool first) {
  for (int64_t i = 0; i < mr; ++i) {
    T* row = c + i * ldc;
    const T* a = acc + i * NR;
    if (!first || beta == T(1)) {
      for (int64_t j = 0; j < nr; ++j) row[j] += alpha * a[j];
    } else if (beta == T(0)) {
      for (int64_t j = 0; j < nr; ++j) row[j] = alpha * a[j];
    } else {
      for (int64_t j = 0; j < nr; ++j) row[j] = alpha * a[j] + beta * row[j];
    }
  }
}

// C[mcur x ncur] (+)= alpha * packed A block @ packed B block, one MR x NR tile at a time.
// Compiled for AVX2 as well (simd_clones.h).
template <typename T, int MR, int NR>
TG_SIMD_CLONES void compute_block(int64_t mcur, int64_t ncur, int64_t kc, const T* ap, const T* bp,
                                  T* c, int64_t ldc, T alpha, T beta, bool first) {
  alignas(64) T acc[MR * NR];
  for (int64_t jr = 0; jr < ncur; jr += NR) {
    const int64_t nr = std::min<int64_t>(NR, ncur - jr);
    const T* bpanel = bp + jr * kc;
    for (int64_t ir = 0; ir < mcur; ir += MR) {
      const int64_t mr = std::min<int64_t>(MR, mcur - ir);
      micro_kernel<T, MR, NR>(kc, ap + ir * kc, bpanel, acc);
      write_back<T, NR>(c + ir * ldc + jr, ldc, acc, mr, nr, alpha, beta, first);
    }
  }
}

template <typename T>
void gemm_blocked(const GemmArgs& g) {
  using B = Blocking<T>;
  constexpr int MR = B::MR, NR = B::NR;
  const int64_t m = g.m, n = g.n, k = g.k, batch = g.items();
  if (m <= 0 || n <= 0 || batch <= 0) return;
  const T alpha = static_cast<T>(g.alpha), beta = static_cast<T>(g.beta);
  const T* A = static_cast<const T*>(g.a);
  const T* Bm = static_cast<const T*>(g.b);
  T* C = static_cast<T*>(g.c);

  if (k <= 0 || alpha == T(0)) {
    // C = beta * C; A and B are not read.
    parallel_items(batch, m * n, [&](int64_t bi) { scale_c(C + g.offset_c(bi), g.ldc, m, n, beta); });
    return;
  }

  const int64_t threads = max_threads();
  const double work = double(m) * double(n) * double(k) * double(batch);
  const bool parallel = threads > 1 && work > 262144.0 && !omp_in_parallel();

  // Tile sizes: shrink the column block while there are too few tiles to keep threads busy.
  const int64_t mc = std::min<int64_t>(B::MC, (m + MR - 1) / MR * MR);
  int64_t nc = std::min<int64_t>(B::NC, (n + NR - 1) / NR * NR);
  const int64_t kc_max = std::min<int64_t>(B::KC, k);
  const int64_t tiles_m = (m + mc - 1) / mc;
  auto tile_count = [&](int64_t ncb) { return batch * tiles_m * ((n + ncb - 1) / ncb); };
  if (parallel) {
    while (tile_count(nc) < 4 * threads && nc > 4 * NR) nc = std::max<int64_t>(NR, (nc / 2 + NR - 1) / NR * NR);
  }
  const int64_t tiles_n = (n + nc - 1) / nc;
  const int64_t tasks = batch * tiles_m * tiles_n;
  const bool b_shared = g.stride_b == 0 && (g.outer == 1 || g.outer_stride_b == 0);

  auto worker = [&](int64_t t_begin, int64_t t_end) {
    auto abuf = aligned_buffer<T>(mc * kc_max);
    auto bbuf = aligned_buffer<T>(nc * kc_max);
    T* ap = abuf.get();
    T* bp = bbuf.get();
    int64_t packed_b = -1;  // (batch, column tile) whose single K block is in bp
    for (int64_t t = t_begin; t < t_end; ++t) {
      // Row tiles vary fastest so that consecutive tasks share the packed B when k <= KC.
      const int64_t im = t % tiles_m;
      const int64_t jn = (t / tiles_m) % tiles_n;
      const int64_t bi = t / (tiles_m * tiles_n);
      const T* a = A + g.offset_a(bi);
      const T* b = Bm + g.offset_b(bi);
      T* c = C + g.offset_c(bi);
      const int64_t i0 = im * mc, j0 = jn * nc;
      const int64_t mcur = std::min(mc, m - i0), ncur = std::min(nc, n - j0);
      const int64_t mpad = (mcur + MR - 1) / MR * MR, npad = (ncur + NR - 1) / NR * NR;
      for (int64_t p0 = 0; p0 < k; p0 += kc_max) {
        const int64_t kc = std::min(kc_max, k - p0);
        const int64_t b_key = bi * tiles_n + jn;
        const bool single_k = kc_max >= k;
        // With a stride-0 batch B every batch item shares the same packed panel too.
        const int64_t key = b_shared ? jn : b_key;
        if (!(single_k && packed_b == key)) {
          pack_b<T, NR>(b, g.ldb, g.trans_b, n, j0, npad, p0, kc, bp);
          packed_b = single_k ? key : -1;
        }
        pack_a<T, MR>(a, g.lda, g.trans_a, m, i0, mpad, p0, kc, ap);
        compute_block<T, MR, NR>(mcur, ncur, kc, ap, bp, c + i0 * g.ldc + j0, g.ldc, alpha, beta,
                                 p0 == 0);
      }
    }
  };

  if (!parallel || tasks == 1) {
    worker(0, tasks);
    return;
  }
  const int nt = static_cast<int>(std::min<int64_t>(threads, tasks));
#pragma omp parallel num_threads(nt)
  {
    const int64_t t = omp_get_thread_num(), nth = omp_get_num_threads();
    worker(tasks * t / nth, tasks * (t + 1) / nth);
  }
}

#ifdef TG_HAVE_CBLAS
// Whether the arguments are within what (row-major) CBLAS accepts.
bool cblas_ok(const GemmArgs& g) {
  if (g.dtype != DType::Float32 && g.dtype != DType::Float64) return false;
  if (g.m <= 0 || g.n <= 0 || g.k <= 0 || g.items() <= 0) return false;
  const int64_t lim = INT_MAX;
  if (g.m > lim || g.n > lim || g.k > lim || g.lda > lim || g.ldb > lim || g.ldc > lim) return false;
  const int64_t a_cols = g.trans_a ? g.m : g.k;
  const int64_t b_cols = g.trans_b ? g.k : g.n;
  return g.lda >= std::max<int64_t>(1, a_cols) && g.ldb >= std::max<int64_t>(1, b_cols) &&
         g.ldc >= std::max<int64_t>(1, g.n);
}
#endif

}  // namespace

void gemm_fallback(const GemmArgs& g) {
  switch (g.dtype) {
    case DType::Float32: return gemm_blocked<float>(g);
    case DType::Float64: return gemm_blocked<double>(g);
    case DType::Int64: return gemm_blocked<int64_t>(g);
    case DType::Bool: break;
  }
  unsupported("gemm", g.dtype);
}

#ifdef TG_HAVE_CBLAS
namespace {

// One CBLAS call: C (m x n) = alpha op(A) op(B) + beta C, pointers at the block's corner.
template <typename T>
void blas_call(const GemmArgs& g, int64_t m, int64_t n, const T* a, const T* b, T* c) {
  const CBLAS_TRANSPOSE ta = g.trans_a ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = g.trans_b ? CblasTrans : CblasNoTrans;
  const int im = static_cast<int>(m), in = static_cast<int>(n), ik = static_cast<int>(g.k);
  const int lda = static_cast<int>(g.lda), ldb = static_cast<int>(g.ldb), ldc = static_cast<int>(g.ldc);
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, ta, tb, im, in, ik, static_cast<float>(g.alpha), a, lda, b, ldb,
                static_cast<float>(g.beta), c, ldc);
  } else {
    cblas_dgemm(CblasRowMajor, ta, tb, im, in, ik, g.alpha, a, lda, b, ldb, g.beta, c, ldc);
  }
}

// OpenBLAS built with its own pthread pool competes with the OpenMP pool of the other kernels
// (after each parallel region libgomp's workers spin for a while, and on a machine with as many
// threads as cores the two pools then take turns: several times slower end to end). So such an
// OpenBLAS runs single-threaded and the product is split over the OpenMP threads here instead.
// (An OpenMP or sequential OpenBLAS is used the same way; inside our parallel region an OpenMP
// OpenBLAS runs single-threaded by itself.) Note this sets OpenBLAS's global thread count.
void configure_blas_threads() {
#if defined(OPENBLAS_VERSION) && defined(OPENBLAS_THREAD)
  static const bool done = [] {
    if (openblas_get_parallel() == OPENBLAS_THREAD) openblas_set_num_threads(1);
    return true;
  }();
  (void)done;
#endif
}

template <typename T>
void gemm_blas(const GemmArgs& g) {
  configure_blas_threads();
  const T* A = static_cast<const T*>(g.a);
  const T* B = static_cast<const T*>(g.b);
  T* C = static_cast<T*>(g.c);
  const int64_t m = g.m, n = g.n, batch = g.items();
  const double work = double(m) * double(n) * double(g.k) * double(batch);
  const int64_t threads = max_threads();
  if (threads <= 1 || work < 262144.0 || omp_in_parallel()) {
    for (int64_t i = 0; i < batch; ++i)
      blas_call<T>(g, m, n, A + g.offset_a(i), B + g.offset_b(i), C + g.offset_c(i));
    return;
  }
  // Tasks: each batch item is cut into `pieces` row blocks (or column blocks when C is wide)
  // so that there are about as many tasks as threads; pieces stay at least 16 rows/columns.
  constexpr int64_t kMinEdge = 16;
  const bool by_rows = m >= n;
  const int64_t edge = by_rows ? m : n;
  const int64_t want = (threads + batch - 1) / batch;
  const int64_t pieces = std::max<int64_t>(1, std::min(want, edge / kMinEdge));
  const int64_t tasks = batch * pieces;
  const int nt = static_cast<int>(std::min<int64_t>(threads, tasks));
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t bi = t / pieces, pc = t % pieces;
    const int64_t lo = edge * pc / pieces, hi = edge * (pc + 1) / pieces;
    const T* a = A + g.offset_a(bi);
    const T* b = B + g.offset_b(bi);
    T* c = C + g.offset_c(bi);
    if (by_rows) {
      // Rows [lo, hi) of op(A) and C.
      blas_call<T>(g, hi - lo, n, g.trans_a ? a + lo : a + lo * g.lda, b, c + lo * g.ldc);
    } else {
      // Columns [lo, hi) of op(B) and C.
      blas_call<T>(g, m, hi - lo, a, g.trans_b ? b + lo * g.ldb : b + lo, c + lo);
    }
  }
}

}  // namespace
#endif

void gemm(const GemmArgs& g) {
#ifdef TG_HAVE_CBLAS
  if (cblas_ok(g)) {
    if (g.dtype == DType::Float32) {
      gemm_blas<float>(g);
    } else {
      gemm_blas<double>(g);
    }
    return;
  }
#endif
  gemm_fallback(g);
}

}  // namespace tg::kernels::cpu
