// CUDA batched GEMM (the semantics of kernels/cpu/gemm.cpp): row-major
// C[i] = alpha * op(A[i]) @ op(B[i]) + beta * C[i]. k == 0 or alpha == 0 only scales C (A and B are
// not read); beta == 0 never reads C.
//
// Paths (cuda_control::matmul_impl(), allow_tf32()):
//  * Library: cuBLAS for float32/float64. Row-major C is column-major C^T, so C^T = op(B)^T op(A)^T
//    is one column-major call with the operands swapped. TF32 tensor-op math only when allowed.
//  * Ours, float32: a SIMT SGEMM (block tile in shared memory, double-buffered through registers,
//    8x8 or 4x4 register tile per thread), or with allow_tf32() a WMMA TF32 tensor-core kernel
//    with float32 accumulation. Both read either layout of each operand and guard every edge.
//  * Ours, float64/int64: a plainer shared-memory tiled kernel.
//  * Auto: cuBLAS where it applies (the faster path until a GPU benchmark shows otherwise),
//    int64 always ours.
// Tiles are numbered along grid.x (grouped so neighbouring blocks share operand tiles in L2), batch
// items along grid.z (several launches past 65535). Offsets are 64-bit throughout.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda_control.h"

namespace tg::kernels::cuda {
namespace {

using i64 = int64_t;
using cuda_control::Impl;

constexpr int kThreads = 256;   // every GEMM kernel
constexpr int kGroupM = 8;      // tile rows per group of the block order (L2 reuse of B tiles)
constexpr int kMaxGridZ = 65535;

template <typename T>
struct Params {
  i64 m, n, k;
  const T* a;
  i64 lda, sa;
  const T* b;
  i64 ldb, sb;
  T* c;
  i64 ldc, sc;
  T alpha, beta;
  bool vec_a, vec_b, vec_c;  // 16-byte accesses allowed (base, leading dim and batch stride)
  i64 tiles_m, tiles_n;
};

// Block tile (row, column) of linear tile index `tile`: groups of kGroupM tile rows, column-major
// inside a group, so the blocks resident at one time cover a compact patch of C.
__device__ inline void tile_coords(i64 tile, i64 tiles_m, i64 tiles_n, i64& tm, i64& tn) {
  const i64 per_group = i64(kGroupM) * tiles_n;
  const i64 group = tile / per_group;
  const i64 first = group * kGroupM;
  const i64 rows = min(tiles_m - first, i64(kGroupM));
  const i64 in_group = tile - group * per_group;
  tm = first + in_group % rows;
  tn = in_group / rows;
}

// ---------------------------------------------------------------------------------------------
// float32 tile loads: a BT x BK tile of op(X) (t = row of op(A) or column of op(B), k = the
// reduction index) fetched into registers as float4 chunks, 4 consecutive elements each. KC: X is
// stored with k contiguous (A not transposed, B transposed), so chunks run along k; otherwise
// they run along t. Out-of-range elements read as 0.

template <int BT, int BK, bool KC>
struct TileRegs {
  static constexpr int kChunks = BT * BK / 4;
  static constexpr int kLoads = kChunks / kThreads;
  static_assert(kChunks % kThreads == 0, "tile must split evenly over the threads");
  float4 v[kLoads];
  const float* ptr[kLoads];  // the chunk's first element in the tile being loaded
  int t_cnt[kLoads];         // KC: 1 if the chunk's row is in range; else its elements in range

  // Tile position (t, kk) of the first element of chunk l of thread tid.
  __device__ static void pos(int tid, int l, int& t, int& kk) {
    const int c = tid + l * kThreads;
    if constexpr (KC) {
      t = c / (BK / 4);
      kk = (c % (BK / 4)) * 4;
    } else {
      kk = c / (BT / 4);
      t = (c % (BT / 4)) * 4;
    }
  }

  // Points the chunks at the first k tile of rows/columns [t0, t0 + BT).
  __device__ void start(const float* x, i64 ld, i64 t_size, i64 t0, int tid) {
#pragma unroll
    for (int l = 0; l < kLoads; ++l) {
      int t, kk;
      pos(tid, l, t, kk);
      const i64 gt = t0 + t;
      if constexpr (KC) {
        t_cnt[l] = gt < t_size;
        ptr[l] = t_cnt[l] ? x + gt * ld + kk : x;
      } else {
        t_cnt[l] = static_cast<int>(max(i64(0), min(i64(4), t_size - gt)));
        ptr[l] = t_cnt[l] ? x + kk * ld + gt : x;
      }
    }
  }

  // Moves to the next k tile (only called while one remains).
  __device__ void advance(i64 ld) {
#pragma unroll
    for (int l = 0; l < kLoads; ++l)
      if (t_cnt[l]) ptr[l] += KC ? i64(BK) : BK * ld;
  }

  // k_rem: the reduction indices left from this tile's first one.
  __device__ void load(i64 k_rem, bool vec, int tid) {
#pragma unroll
    for (int l = 0; l < kLoads; ++l) {
      int t, kk;
      pos(tid, l, t, kk);
      float e[4] = {0.f, 0.f, 0.f, 0.f};
      // Elements of the chunk in range along its own direction.
      const i64 cnt = KC ? (t_cnt[l] ? k_rem - kk : 0) : (kk < k_rem ? t_cnt[l] : 0);
      if (vec && cnt >= 4) {
        v[l] = __ldg(reinterpret_cast<const float4*>(ptr[l]));
        continue;
      }
#pragma unroll
      for (int i = 0; i < 4; ++i)
        if (i < cnt) e[i] = __ldg(ptr[l] + i);
      v[l] = make_float4(e[0], e[1], e[2], e[3]);
    }
  }

  // Into s[k][t] (row length LD): the layout the SIMT kernel reads as float4 along t.
  template <int LD>
  __device__ void store_k_major(float* s, int tid) const {
#pragma unroll
    for (int l = 0; l < kLoads; ++l) {
      int t, kk;
      pos(tid, l, t, kk);
      if constexpr (KC) {
        s[(kk + 0) * LD + t] = v[l].x;
        s[(kk + 1) * LD + t] = v[l].y;
        s[(kk + 2) * LD + t] = v[l].z;
        s[(kk + 3) * LD + t] = v[l].w;
      } else {
        *reinterpret_cast<float4*>(s + kk * LD + t) = v[l];
      }
    }
  }

  // Rounded to TF32, in the stored orientation: s[t][k] (LD = BK + pad) when KC, else s[k][t]
  // (LD = BT + pad). Either is a float4 store; WMMA takes both layouts.
  template <int LD>
  __device__ void store_natural_tf32(float* s, int tid) const {
    using nvcuda::wmma::__float_to_tf32;
#pragma unroll
    for (int l = 0; l < kLoads; ++l) {
      int t, kk;
      pos(tid, l, t, kk);
      const float4 q = make_float4(__float_to_tf32(v[l].x), __float_to_tf32(v[l].y),
                                   __float_to_tf32(v[l].z), __float_to_tf32(v[l].w));
      *reinterpret_cast<float4*>(s + (KC ? t * LD + kk : kk * LD + t)) = q;
    }
  }
};

// C[row][col .. col + width) = alpha * acc + beta * C (C not read when beta == 0); width is 4 or 8,
// stored as float4 when allowed and in range.
template <int W>
__device__ inline void write_row(float* __restrict__ crow, i64 col, i64 n, const float* acc,
                                 float alpha, float beta, bool vec) {
  if (vec && col + W <= n) {
#pragma unroll
    for (int q = 0; q < W; q += 4) {
      float4 r = make_float4(alpha * acc[q], alpha * acc[q + 1], alpha * acc[q + 2], alpha * acc[q + 3]);
      float4* dst = reinterpret_cast<float4*>(crow + col + q);
      if (beta != 0.f) {
        const float4 o = *dst;
        r.x += beta * o.x;
        r.y += beta * o.y;
        r.z += beta * o.z;
        r.w += beta * o.w;
      }
      *dst = r;
    }
    return;
  }
#pragma unroll
  for (int j = 0; j < W; ++j) {
    if (col + j < n) {
      float r = alpha * acc[j];
      if (beta != 0.f) r += beta * crow[col + j];
      crow[col + j] = r;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// SIMT SGEMM. BM x BN block tile, BK deep; each thread owns a TM x TN register tile made of
// float4 groups: rows wm0 + rg * 16 + wy * 4 + [0, 4), columns wn0 + cg * 32 + wx * 4 + [0, 4)
// (a warp is 4 x 8 threads), so per k step a warp reads 4 distinct float4 of A (broadcast) and
// 8 consecutive float4 of B: one shared-memory wavefront each.

template <int BM_, int BN_, int BK_, int TM_, int TN_>
struct SimtConfig {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, TM = TM_, TN = TN_;
  static constexpr int RM = TM / 4, RN = TN / 4;
  static constexpr int kWarpM = 4 * TM, kWarpN = 8 * TN;  // a warp's part of the tile
  static constexpr int kWarpsN = BN / kWarpN;
  static_assert((BM / kWarpM) * kWarpsN == kThreads / 32, "warps must cover the tile");
  // +4 floats per row keeps rows 16-byte aligned and spreads the transposed (KC) stores: no bank
  // conflict with BK = 8, 2-way with BK = 16.
  static constexpr int kLdA = BM + 4, kLdB = BN + 4;
};
using SimtLarge = SimtConfig<128, 128, 8, 8, 8>;
using SimtSmall = SimtConfig<64, 64, 16, 4, 4>;  // when large tiles would leave SMs idle

template <class Cfg, bool A_KC, bool B_KC>
__global__ void __launch_bounds__(kThreads, 2) sgemm_kernel(const Params<float> p) {
  constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, TM = Cfg::TM, TN = Cfg::TN;
  constexpr int LDA = Cfg::kLdA, LDB = Cfg::kLdB;
  __shared__ __align__(16) float As[2][BK * LDA];
  __shared__ __align__(16) float Bs[2][BK * LDB];

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int a_row = (warp / Cfg::kWarpsN) * Cfg::kWarpM + (lane / 8) * 4;
  const int b_col = (warp % Cfg::kWarpsN) * Cfg::kWarpN + (lane % 8) * 4;
  i64 tm, tn;
  tile_coords(blockIdx.x, p.tiles_m, p.tiles_n, tm, tn);
  const i64 m0 = tm * BM, n0 = tn * BN;

  const i64 z = blockIdx.z;
  const float* A = p.a + z * p.sa;
  const float* B = p.b + z * p.sb;
  float* C = p.c + z * p.sc;
  TileRegs<BM, BK, A_KC> ra;
  TileRegs<BN, BK, B_KC> rb;
  ra.start(A, p.lda, p.m, m0, tid);
  rb.start(B, p.ldb, p.n, n0, tid);
  ra.load(p.k, p.vec_a, tid);
  rb.load(p.k, p.vec_b, tid);
  ra.template store_k_major<LDA>(As[0], tid);
  rb.template store_k_major<LDB>(Bs[0], tid);
  __syncthreads();

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;

  // k_rem: reduction indices after the tile in buffer `cur`.
  int cur = 0;
  for (i64 k_rem = p.k - BK;; k_rem -= BK) {
    const bool more = k_rem > 0;
    // The next tile's global loads are in flight while this one is multiplied.
    if (more) {
      ra.advance(p.lda);
      rb.advance(p.ldb);
      ra.load(k_rem, p.vec_a, tid);
      rb.load(k_rem, p.vec_b, tid);
    }
    const float* as = As[cur];
    const float* bs = Bs[cur];
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float a[TM], b[TN];
#pragma unroll
      for (int g = 0; g < Cfg::RM; ++g)
        *reinterpret_cast<float4*>(a + 4 * g) =
            *reinterpret_cast<const float4*>(as + kk * LDA + a_row + g * 16);
#pragma unroll
      for (int g = 0; g < Cfg::RN; ++g)
        *reinterpret_cast<float4*>(b + 4 * g) =
            *reinterpret_cast<const float4*>(bs + kk * LDB + b_col + g * 32);
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    // The other buffer was last read before the previous barrier: free to overwrite.
    if (more) {
      ra.template store_k_major<LDA>(As[cur ^ 1], tid);
      rb.template store_k_major<LDB>(Bs[cur ^ 1], tid);
    }
    __syncthreads();
    if (!more) break;
    cur ^= 1;
  }

#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const i64 row = m0 + a_row + (i / 4) * 16 + (i % 4);
    if (row >= p.m) continue;
    float* crow = C + row * p.ldc;
#pragma unroll
    for (int g = 0; g < Cfg::RN; ++g)
      write_row<4>(crow, n0 + b_col + g * 32, p.n, &acc[i][4 * g], p.alpha, p.beta, p.vec_c);
  }
}

// ---------------------------------------------------------------------------------------------
// TF32 tensor cores (WMMA m16n16k8, float32 accumulators). BM x BN x 16 block tile, 8 warps as
// 2 (rows) x 4 (columns), each holding (BM/32) x (BN/64) accumulator fragments. Tiles are staged
// in shared memory in their stored orientation (so every store is a float4) and rounded to TF32
// once there. The epilogue passes each fragment through a per-warp 16x16 buffer to apply
// alpha/beta with bounds.

template <int BM_, int BN_>
struct Tf32Config {
  static constexpr int BM = BM_, BN = BN_, BK = 16;
  static constexpr int kWarpM = BM / 2, kWarpN = BN / 4;
  static constexpr int FM = kWarpM / 16, FN = kWarpN / 16;
  static constexpr int kPad = 4;  // row strides of 20 or BT + 4 floats spread rows over banks
  static constexpr int kTileA = (BM * (BK + kPad) > BK * (BM + kPad)) ? BM * (BK + kPad) : BK * (BM + kPad);
  static constexpr int kTileB = (BN * (BK + kPad) > BK * (BN + kPad)) ? BN * (BK + kPad) : BK * (BN + kPad);
  static constexpr int kBuffer = kTileA + kTileB;
  static_assert(FM >= 1 && FN >= 1, "warp tile must hold a fragment");
  // Fragment pointers must be 32-byte aligned: every offset below is a multiple of 8 floats.
  static_assert(kTileA % 8 == 0 && kBuffer % 8 == 0, "buffers must stay 32-byte aligned");
  static_assert(2 * kBuffer >= (kThreads / 32) * 256, "the epilogue staging reuses the buffers");
};
using Tf32Large = Tf32Config<128, 128>;
using Tf32Small = Tf32Config<64, 64>;

template <class Cfg, bool A_KC, bool B_KC>
__global__ void __launch_bounds__(kThreads, 2) tf32_kernel(const Params<float> p) {
  namespace wmma = nvcuda::wmma;
  constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, FM = Cfg::FM, FN = Cfg::FN;
  // op(A)(m, k) at As[m * LDA + k] (row-major fragment) or As[k * LDA + m] (column-major).
  constexpr int LDA = A_KC ? BK + Cfg::kPad : BM + Cfg::kPad;
  // op(B)(k, n) at Bs[n * LDB + k] (column-major fragment) or Bs[k * LDB + n] (row-major).
  constexpr int LDB = B_KC ? BK + Cfg::kPad : BN + Cfg::kPad;
  using LayoutA = std::conditional_t<A_KC, wmma::row_major, wmma::col_major>;
  using LayoutB = std::conditional_t<B_KC, wmma::col_major, wmma::row_major>;
  __shared__ __align__(128) float smem[2 * Cfg::kBuffer];

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int wm0 = (warp / 4) * Cfg::kWarpM, wn0 = (warp % 4) * Cfg::kWarpN;
  i64 tm, tn;
  tile_coords(blockIdx.x, p.tiles_m, p.tiles_n, tm, tn);
  const i64 m0 = tm * BM, n0 = tn * BN;

  const i64 z = blockIdx.z;
  const float* A = p.a + z * p.sa;
  const float* B = p.b + z * p.sb;
  float* C = p.c + z * p.sc;
  TileRegs<BM, BK, A_KC> ra;
  TileRegs<BN, BK, B_KC> rb;
  ra.start(A, p.lda, p.m, m0, tid);
  rb.start(B, p.ldb, p.n, n0, tid);
  ra.load(p.k, p.vec_a, tid);
  rb.load(p.k, p.vec_b, tid);
  ra.template store_natural_tf32<LDA>(smem, tid);
  rb.template store_natural_tf32<LDB>(smem + Cfg::kTileA, tid);
  __syncthreads();

  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[FM][FN];
#pragma unroll
  for (int i = 0; i < FM; ++i)
#pragma unroll
    for (int j = 0; j < FN; ++j) wmma::fill_fragment(acc[i][j], 0.f);

  int cur = 0;
  for (i64 k_rem = p.k - BK;; k_rem -= BK) {  // k_rem: reduction indices after this tile
    const bool more = k_rem > 0;
    if (more) {
      ra.advance(p.lda);
      rb.advance(p.ldb);
      ra.load(k_rem, p.vec_a, tid);
      rb.load(k_rem, p.vec_b, tid);
    }
    const float* as = smem + cur * Cfg::kBuffer;
    const float* bs = as + Cfg::kTileA;
#pragma unroll
    for (int ks = 0; ks < BK; ks += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, LayoutA> af[FM];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, LayoutB> bf[FN];
#pragma unroll
      for (int i = 0; i < FM; ++i) {
        const int m = wm0 + i * 16;
        wmma::load_matrix_sync(af[i], as + (A_KC ? m * LDA + ks : ks * LDA + m), LDA);
      }
#pragma unroll
      for (int j = 0; j < FN; ++j) {
        const int n = wn0 + j * 16;
        wmma::load_matrix_sync(bf[j], bs + (B_KC ? n * LDB + ks : ks * LDB + n), LDB);
      }
#pragma unroll
      for (int i = 0; i < FM; ++i)
#pragma unroll
        for (int j = 0; j < FN; ++j) wmma::mma_sync(acc[i][j], af[i], bf[j], acc[i][j]);
    }
    if (more) {
      float* next = smem + (cur ^ 1) * Cfg::kBuffer;
      ra.template store_natural_tf32<LDA>(next, tid);
      rb.template store_natural_tf32<LDB>(next + Cfg::kTileA, tid);
    }
    __syncthreads();
    if (!more) break;
    cur ^= 1;
  }

  // Every warp is past the last barrier, so the buffers are free for staging.
  float* stage = smem + warp * 256;
  const int r = lane / 2, c8 = (lane % 2) * 8;
#pragma unroll
  for (int i = 0; i < FM; ++i) {
#pragma unroll
    for (int j = 0; j < FN; ++j) {
      wmma::store_matrix_sync(stage, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      const i64 row = m0 + wm0 + i * 16 + r;
      if (row < p.m)
        write_row<8>(C + row * p.ldc, n0 + wn0 + j * 16 + c8, p.n, stage + r * 16 + c8, p.alpha,
                     p.beta, p.vec_c);
      __syncwarp();  // read before the next fragment overwrites it
    }
  }
}

// ---------------------------------------------------------------------------------------------
// float64 / int64: 64 x 64 block tile, 16 deep, single-buffered; each thread a 4 x 4 tile at
// rows ty + 16 i, columns tx + 16 j (conflict-free shared reads, coalesced C writes). Global loads
// walk the contiguous dim of each operand; the +1 row padding keeps transposed stores
// conflict-free.

template <typename T>
__global__ void __launch_bounds__(kThreads) gemm_generic_kernel(const Params<T> p, bool trans_a,
                                                                bool trans_b) {
  constexpr int BT = 64, BK = 16, LD = BT + 1;
  __shared__ T As[BK][LD];
  __shared__ T Bs[BK][LD];
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  i64 tm, tn;
  tile_coords(blockIdx.x, p.tiles_m, p.tiles_n, tm, tn);
  const i64 m0 = tm * BT, n0 = tn * BT;

  const i64 z = blockIdx.z;
  const T* A = p.a + z * p.sa;
  const T* B = p.b + z * p.sb;
  T* C = p.c + z * p.sc;
  T acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = T(0);

  for (i64 k0 = 0; k0 < p.k; k0 += BK) {
#pragma unroll
    for (int l = 0; l < BT * BK / kThreads; ++l) {
      const int idx = tid + l * kThreads;
      {
        // op(A)(m, k): A[m * lda + k], or A[k * lda + m] when transposed.
        const int t = trans_a ? idx % BT : idx / BK, kk = trans_a ? idx / BT : idx % BK;
        const i64 gm = m0 + t, gk = k0 + kk;
        As[kk][t] = (gm < p.m && gk < p.k) ? A[trans_a ? gk * p.lda + gm : gm * p.lda + gk] : T(0);
      }
      {
        // op(B)(k, n): B[k * ldb + n], or B[n * ldb + k] when transposed.
        const int t = trans_b ? idx / BK : idx % BT, kk = trans_b ? idx % BK : idx / BT;
        const i64 gn = n0 + t, gk = k0 + kk;
        Bs[kk][t] = (gn < p.n && gk < p.k) ? B[trans_b ? gn * p.ldb + gk : gk * p.ldb + gn] : T(0);
      }
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      T a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const i64 row = m0 + ty + 16 * i;
    if (row >= p.m) continue;
    T* crow = C + row * p.ldc;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const i64 col = n0 + tx + 16 * j;
      if (col >= p.n) continue;
      T r = p.alpha * acc[i][j];
      if (p.beta != T(0)) r += p.beta * crow[col];
      crow[col] = r;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// host side

bool aligned16(const void* ptr, i64 ld, i64 stride, i64 batch) {
  return reinterpret_cast<uintptr_t>(ptr) % 16 == 0 && ld % 4 == 0 && (batch == 1 || stride % 4 == 0);
}

template <typename T>
Params<T> make_params(const GemmArgs& g, i64 bm, i64 bn) {
  Params<T> p;
  p.m = g.m;
  p.n = g.n;
  p.k = g.k;
  p.a = static_cast<const T*>(g.a);
  p.lda = g.lda;
  p.sa = g.stride_a;
  p.b = static_cast<const T*>(g.b);
  p.ldb = g.ldb;
  p.sb = g.stride_b;
  p.c = static_cast<T*>(g.c);
  p.ldc = g.ldc;
  p.sc = g.stride_c;
  p.alpha = static_cast<T>(g.alpha);
  p.beta = static_cast<T>(g.beta);
  p.vec_a = aligned16(g.a, g.lda, g.stride_a, g.batch);
  p.vec_b = aligned16(g.b, g.ldb, g.stride_b, g.batch);
  p.vec_c = aligned16(g.c, g.ldc, g.stride_c, g.batch);
  p.tiles_m = (g.m + bm - 1) / bm;
  p.tiles_n = (g.n + bn - 1) / bn;
  return p;
}

// Tiles along grid.x, batch items along grid.z; a batch beyond grid.z's limit takes several
// launches (a loop over batch items inside the kernels costs registers the tile loop needs).
template <typename T, typename Launch>
void launch_batches(const Params<T>& p, i64 batch, const char* name, Launch launch) {
  const i64 tiles = p.tiles_m * p.tiles_n;
  if (tiles > INT32_MAX) fail(name, "the output has too many tiles for one launch");
  for (i64 z0 = 0; z0 < batch; z0 += kMaxGridZ) {
    Params<T> q = p;
    q.a += z0 * p.sa;
    q.b += z0 * p.sb;
    q.c += z0 * p.sc;
    const unsigned nz = static_cast<unsigned>(std::min<i64>(kMaxGridZ, batch - z0));
    launch(dim3(static_cast<unsigned>(tiles), 1, nz), q);
    check_launch(name);
  }
}

int sm_count() {
  static std::atomic<int> cached[64] = {};
  const int dev = current_device();
  if (dev >= 0 && dev < 64 && cached[dev].load(std::memory_order_relaxed) > 0) return cached[dev];
  int n = 0;
  check(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev), "cudaDeviceGetAttribute");
  if (dev >= 0 && dev < 64) cached[dev] = n;
  return n;
}

// The large tile unless it leaves SMs idle (fewer blocks than SMs).
bool use_large_tiles(const GemmArgs& g) {
  const i64 tiles = ((g.m + 127) / 128) * ((g.n + 127) / 128) * g.batch;
  return tiles >= sm_count();
}

template <class Cfg, template <class, bool, bool> class Kernel>
void launch_float(const GemmArgs& g, const char* name) {
  const Params<float> p = make_params<float>(g, Cfg::BM, Cfg::BN);
  const bool a_kc = !g.trans_a, b_kc = g.trans_b;
  launch_batches(p, g.batch, name, [&](dim3 grid, const Params<float>& q) {
    if (a_kc && b_kc) {
      Kernel<Cfg, true, true>::launch(grid, q);
    } else if (a_kc) {
      Kernel<Cfg, true, false>::launch(grid, q);
    } else if (b_kc) {
      Kernel<Cfg, false, true>::launch(grid, q);
    } else {
      Kernel<Cfg, false, false>::launch(grid, q);
    }
  });
}

template <class Cfg, bool A_KC, bool B_KC>
struct SgemmLaunch {
  static void launch(dim3 grid, const Params<float>& p) {
    sgemm_kernel<Cfg, A_KC, B_KC><<<grid, kThreads, 0, stream()>>>(p);
  }
};
template <class Cfg, bool A_KC, bool B_KC>
struct Tf32Launch {
  static void launch(dim3 grid, const Params<float>& p) {
    tf32_kernel<Cfg, A_KC, B_KC><<<grid, kThreads, 0, stream()>>>(p);
  }
};

void gemm_ours_float(const GemmArgs& g) {
  const bool large = use_large_tiles(g);
  if (cuda_control::allow_tf32()) {
    if (large) {
      launch_float<Tf32Large, Tf32Launch>(g, "gemm_tf32_kernel");
    } else {
      launch_float<Tf32Small, Tf32Launch>(g, "gemm_tf32_kernel");
    }
  } else if (large) {
    launch_float<SimtLarge, SgemmLaunch>(g, "sgemm_kernel");
  } else {
    launch_float<SimtSmall, SgemmLaunch>(g, "sgemm_kernel");
  }
}

template <typename T>
void gemm_ours_generic(const GemmArgs& g) {
  const Params<T> p = make_params<T>(g, 64, 64);
  launch_batches(p, g.batch, "gemm_generic_kernel", [&](dim3 grid, const Params<T>& q) {
    gemm_generic_kernel<T><<<grid, kThreads, 0, stream()>>>(q, g.trans_a, g.trans_b);
  });
}

// cuBLAS checks the leading dims against the column-major shapes of what it is given: B as
// n x k (k x n when transposed), A as k x m (m x k when transposed), C as n x m. Those are the
// row-major minimums, but the contract does not promise them for degenerate shapes.
bool cublas_accepts(const GemmArgs& g) {
  return g.ldb >= std::max<i64>(1, g.trans_b ? g.k : g.n) &&
         g.lda >= std::max<i64>(1, g.trans_a ? g.m : g.k) && g.ldc >= std::max<i64>(1, g.n);
}

template <typename T>
void gemm_cublas(const GemmArgs& g) {
  cublasHandle_t h = cublas();
  constexpr bool kSingle = std::is_same_v<T, float>;
  // Set every call: allow_tf32() can change between calls, and the handle is shared.
  check(cublasSetMathMode(h, kSingle && cuda_control::allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH
                                                                  : CUBLAS_DEFAULT_MATH),
        "cublasSetMathMode");
  check(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST), "cublasSetPointerMode");
  const cublasOperation_t op_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const T alpha = static_cast<T>(g.alpha), beta = static_cast<T>(g.beta);
  const T* a = static_cast<const T*>(g.a);
  const T* b = static_cast<const T*>(g.b);
  T* c = static_cast<T*>(g.c);
  if constexpr (kSingle) {
    check(cublasSgemmStridedBatched_64(h, op_b, op_a, g.n, g.m, g.k, &alpha, b, g.ldb, g.stride_b, a,
                                       g.lda, g.stride_a, &beta, c, g.ldc, g.stride_c, g.batch),
          "cublasSgemmStridedBatched");
  } else {
    check(cublasDgemmStridedBatched_64(h, op_b, op_a, g.n, g.m, g.k, &alpha, b, g.ldb, g.stride_b, a,
                                       g.lda, g.stride_a, &beta, c, g.ldc, g.stride_c, g.batch),
          "cublasDgemmStridedBatched");
  }
}

// C = beta * C over the batch (beta == 0 writes zeros without reading).
template <typename T>
void scale_c(const GemmArgs& g, T beta) {
  View v;
  v.data = g.c;
  v.dtype = g.dtype;
  v.ndim = 3;
  v.sizes[0] = g.batch;
  v.sizes[1] = g.m;
  v.sizes[2] = g.n;
  v.strides[0] = g.stride_c;
  v.strides[1] = g.ldc;
  v.strides[2] = 1;
  const View* views[1] = {&v};
  if (beta == T(0)) {
    for_each_element<1>("gemm_scale_c", views, [] __device__(char** p) {
      *reinterpret_cast<T*>(p[0]) = T(0);
    });
  } else if (beta != T(1)) {
    for_each_element<1>("gemm_scale_c", views, [beta] __device__(char** p) {
      T* c = reinterpret_cast<T*>(p[0]);
      *c = beta * *c;
    });
  }
}

template <typename T>
void gemm_typed(const GemmArgs& g) {
  const T alpha = static_cast<T>(g.alpha), beta = static_cast<T>(g.beta);
  if (g.k <= 0 || alpha == T(0)) {
    scale_c<T>(g, beta);
    return;
  }
  if constexpr (std::is_floating_point_v<T>) {
    // Auto = cuBLAS: the faster path until a GPU benchmark shows otherwise.
    if (cuda_control::matmul_impl() != Impl::Ours && cublas_accepts(g)) {
      gemm_cublas<T>(g);
      return;
    }
  }
  if constexpr (std::is_same_v<T, float>) {
    gemm_ours_float(g);
  } else {
    gemm_ours_generic<T>(g);
  }
}

}  // namespace

void gemm(const GemmArgs& g) {
  if (g.dtype == DType::Bool) unsupported("gemm", g.dtype);
  if (g.m <= 0 || g.n <= 0 || g.items() <= 0) return;
  if (g.outer > 1) {
    // A launch per outer item (cuBLAS has no two-level strided batch). core's matmul copies
    // such operands into one level on CUDA instead, where a copy is cheaper than the launches.
    const i64 elem = static_cast<i64>(dtype_size(g.dtype));
    for (i64 o = 0; o < g.outer; ++o) {
      GemmArgs one = g;
      one.outer = 1;
      one.a = static_cast<const char*>(g.a) + o * g.outer_stride_a * elem;
      one.b = static_cast<const char*>(g.b) + o * g.outer_stride_b * elem;
      one.c = static_cast<char*>(g.c) + o * g.outer_stride_c * elem;
      gemm(one);
    }
    return;
  }
  switch (g.dtype) {
    case DType::Float32: return gemm_typed<float>(g);
    case DType::Float64: return gemm_typed<double>(g);
    case DType::Int64: return gemm_typed<int64_t>(g);
    case DType::Bool: break;
  }
}

}  // namespace tg::kernels::cuda
