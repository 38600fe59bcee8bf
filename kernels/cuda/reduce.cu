// CUDA reductions over the trailing dims of a strided view (the semantics of kernels/cpu/reduce.cpp).
//
// Paths, chosen from the coalesced layout:
//  * columns: adjacent threads take adjacent outputs, each walking its own reduced range. Used when
//    adjacent outputs are closer in memory than adjacent reduced elements (column sums: every
//    warp load is contiguous) and when the reduced extent is tiny. With few outputs the reduced
//    range is also split over threadIdx.y and over grid.y.
//  * rows: one warp per output (medium rows or many outputs), or a block per output, or several
//    blocks per output when outputs are few (a full reduction).
// Split reductions write per-block partials to scratch() and a second kernel combines them in a
// fixed order: no float atomics, so every result is deterministic for a given shape and device.
//
// Accumulation: float32 sums in float (per-thread runs, then a tree), float32 products in double
// as on the CPU (a float product can overflow or underflow midway where the double one does not),
// integer and bool sums/products in unsigned 64-bit, which wraps like the CPU's int64 and is
// independent of the order.
#include <cuda_runtime.h>
#include <math_constants.h>

#include <cstdint>
#include <limits>
#include <type_traits>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace tg::kernels::cuda {
namespace {

using i64 = int64_t;
using u64 = unsigned long long;

template <typename T>
constexpr bool kFloat = std::is_floating_point_v<T>;

template <typename A, typename T>
__device__ inline A value_as(T v) {
  if constexpr (std::is_same_v<T, Bool>) {
    return static_cast<A>(v != 0);
  } else {
    return static_cast<A>(v);
  }
}

template <typename T>
__device__ inline T load(const char* p) {
  return *reinterpret_cast<const T*>(p);
}

// ---------------------------------------------------------------------------------------------
// reducers: init() is the identity of combine(); combine is commutative, so tree order is free.

template <typename T>
using SumAcc = std::conditional_t<kFloat<T>, T, u64>;
template <typename T>
using ProdAcc = std::conditional_t<kFloat<T>, double, u64>;

template <typename T>
struct SumR {
  using Acc = SumAcc<T>;
  using Out = T;
  __device__ static Acc init() { return Acc(0); }
  __device__ static void step(Acc& a, T v, i64) { a += value_as<Acc>(v); }
  __device__ static void combine(Acc& a, Acc b) { a += b; }
  __device__ static Out finish(Acc a) { return convert<Out>(a); }
};

template <typename T>
struct ProdR {
  using Acc = ProdAcc<T>;
  using Out = T;
  __device__ static Acc init() { return Acc(1); }
  __device__ static void step(Acc& a, T v, i64) { a *= value_as<Acc>(v); }
  __device__ static void combine(Acc& a, Acc b) { a *= b; }
  __device__ static Out finish(Acc a) { return convert<Out>(a); }
};

// Bool storage compares as 0/1.
template <typename T>
using ValueOf = std::conditional_t<std::is_same_v<T, Bool>, int, T>;

template <typename T, bool kMax>
__device__ inline ValueOf<T> extreme_identity() {
  if constexpr (std::is_same_v<T, float>) {
    return kMax ? -CUDART_INF_F : CUDART_INF_F;
  } else if constexpr (std::is_same_v<T, double>) {
    return kMax ? -CUDART_INF : CUDART_INF;
  } else if constexpr (std::is_same_v<T, Bool>) {
    return kMax ? 0 : 1;
  } else {
    return kMax ? INT64_MIN : INT64_MAX;
  }
}

// Max (kMax) or Min; NaN wins.
template <typename T, bool kMax>
struct ExtremeR {
  using Acc = ValueOf<T>;
  using Out = T;
  __device__ static Acc init() { return extreme_identity<T, kMax>(); }
  __device__ static Acc pick(Acc a, Acc v) {
    if constexpr (kFloat<T>) {
      if constexpr (kMax) {
        return (v > a || v != v) ? v : a;
      } else {
        return (v < a || v != v) ? v : a;
      }
    } else {
      if constexpr (kMax) {
        return v > a ? v : a;
      } else {
        return v < a ? v : a;
      }
    }
  }
  __device__ static void step(Acc& a, T v, i64) { a = pick(a, value_as<Acc>(v)); }
  __device__ static void combine(Acc& a, Acc b) { a = pick(a, b); }
  __device__ static Out finish(Acc a) { return convert<Out>(a); }
};

template <typename V>
struct ArgAcc {
  V best;
  long long idx;
};

// ArgMax (kMax) or ArgMin: the first index of the extreme, the first NaN winning. Ordered by
// (value, then smaller index) so that any combination order gives the CPU's answer; the identity
// carries index INT64_MAX and loses every tie against a real element.
template <typename T, bool kMax>
struct ArgR {
  using V = ValueOf<T>;
  using Acc = ArgAcc<V>;
  using Out = int64_t;
  __device__ static Acc init() { return Acc{extreme_identity<T, kMax>(), INT64_MAX}; }
  // Whether (v, i) beats (best, idx).
  __device__ static bool beats(V v, long long i, V best, long long idx) {
    if constexpr (kFloat<T>) {
      if (best != best) return v != v && i < idx;
      if (v != v) return true;
    }
    if (v == best) return i < idx;
    if constexpr (kMax) {
      return v > best;
    } else {
      return v < best;
    }
  }
  __device__ static void step(Acc& a, T v, i64 i) {
    const V x = value_as<V>(v);
    if (beats(x, i, a.best, a.idx)) {
      a.best = x;
      a.idx = i;
    }
  }
  __device__ static void combine(Acc& a, Acc b) {
    if (beats(b.best, b.idx, a.best, a.idx)) a = b;
  }
  __device__ static Out finish(Acc a) { return a.idx; }
};

// Any (kAny) or All, of v != 0 (NaN counts as true).
template <typename T, bool kAny>
struct LogicR {
  using Acc = int;
  using Out = Bool;
  __device__ static Acc init() { return kAny ? 0 : 1; }
  __device__ static void step(Acc& a, T v, i64) {
    if constexpr (kAny) {
      a |= int(v != T(0));
    } else {
      a &= int(v != T(0));
    }
  }
  __device__ static void combine(Acc& a, Acc b) {
    if constexpr (kAny) {
      a |= b;
    } else {
      a &= b;
    }
  }
  __device__ static Out finish(Acc a) { return Bool(a != 0); }
};

// ---------------------------------------------------------------------------------------------
// warp / block combination

template <typename A>
__device__ inline A shfl_xor(A v, int o) {
  return __shfl_xor_sync(0xffffffffu, v, o);
}
template <typename V>
__device__ inline ArgAcc<V> shfl_xor(ArgAcc<V> v, int o) {
  return ArgAcc<V>{__shfl_xor_sync(0xffffffffu, v.best, o), __shfl_xor_sync(0xffffffffu, v.idx, o)};
}

template <class R>
__device__ inline typename R::Acc warp_combine(typename R::Acc a) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) R::combine(a, shfl_xor(a, o));
  return a;
}

// Combines over a 1-D block (a multiple of 32 threads); the result is valid in thread 0.
// `sh` holds 32 Accs; the trailing barrier lets the caller reuse it at once.
template <class R>
__device__ inline typename R::Acc block_combine(typename R::Acc a, typename R::Acc* sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  a = warp_combine<R>(a);
  if (lane == 0) sh[warp] = a;
  __syncthreads();
  if (warp == 0) {
    a = lane < int(blockDim.x >> 5) ? sh[lane] : R::init();
    a = warp_combine<R>(a);
  }
  __syncthreads();
  return a;
}

// ---------------------------------------------------------------------------------------------
// walking the reduced positions

// The reduced dims after coalescing: an innermost run of n0 elements (byte stride s0) and
// `nd` outer dims (innermost first, byte strides). Reduced position r = q * n0 + i is the
// row-major flat index the Arg ops return.
struct RedIndex {
  i64 n0 = 1, s0 = 0;
  int nd = 0;
  i64 sizes[kMaxDims] = {};
  i64 strides[kMaxDims] = {};

  __device__ inline i64 outer_offset(i64 q) const {
    if (nd == 0) return 0;
    if (nd == 1) return q * strides[0];
    i64 off = 0;
    for (int d = 0; d < nd; ++d) {
      const i64 size = sizes[d];
      const i64 qq = q / size;
      off += (q - qq * size) * strides[d];
      q = qq;
    }
    return off;
  }
};

// cnt elements at p, p + stride, ... with positions r, r + step, ...; four loads in flight.
template <class R, typename T>
__device__ inline void run(typename R::Acc& acc, const char* p, i64 stride, i64 cnt, i64 r,
                           i64 step) {
  i64 k = 0;
  for (; k + 4 <= cnt; k += 4) {
    const char* q = p + k * stride;
    const T v0 = load<T>(q);
    const T v1 = load<T>(q + stride);
    const T v2 = load<T>(q + 2 * stride);
    const T v3 = load<T>(q + 3 * stride);
    const i64 rk = r + k * step;
    R::step(acc, v0, rk);
    R::step(acc, v1, rk + step);
    R::step(acc, v2, rk + 2 * step);
    R::step(acc, v3, rk + 3 * step);
  }
  for (; k < cnt; ++k) R::step(acc, load<T>(p + k * stride), r + k * step);
}

// Accumulates positions r, r + step, ... < r_end of the reduction starting at `base`, an inner
// run at a time (one division per run change, none per element).
template <class R, typename T>
__device__ inline void accumulate(typename R::Acc& acc, const char* base, const RedIndex& ri, i64 r,
                                  i64 r_end, i64 step) {
  if (r >= r_end) return;
  const i64 n0 = ri.n0;
  i64 q = r / n0, i = r - q * n0;
  while (true) {
    const i64 avail = n0 - i < r_end - r ? n0 - i : r_end - r;
    const i64 cnt = (avail + step - 1) / step;
    run<R, T>(acc, base + ri.outer_offset(q) + i * ri.s0, step * ri.s0, cnt, r, step);
    r += cnt * step;
    if (r >= r_end) return;
    i += cnt * step;
    const i64 dq = i / n0;
    q += dq;
    i -= dq * n0;
  }
}

template <class R>
__device__ inline void store(const Strided<2>& kept, const i64 (&off)[2], typename R::Acc acc) {
  *reinterpret_cast<typename R::Out*>(kept.data[1] + off[1]) = R::finish(acc);
}

// ---------------------------------------------------------------------------------------------
// kernels

// Columns: block (bx, by); output o = blockIdx.x * bx + tx (grid-stride); ty walks this split's
// reduced range with step by. Split s of `splits` (blockIdx.y) covers [nred*s/splits,
// nred*(s+1)/splits). Writes the output, or partial[o * splits + s] when `partial` is set.
template <class R, typename T>
__global__ void reduce_columns(i64 nout, i64 nred, int splits, Strided<2> kept, RedIndex ri,
                               typename R::Acc* partial) {
  using Acc = typename R::Acc;
  __shared__ Acc sh[kBlock];
  const int tx = threadIdx.x, ty = threadIdx.y, bx = blockDim.x, by = blockDim.y;
  const int split = blockIdx.y;
  const i64 r0 = nred * split / splits, r1 = nred * (split + 1) / splits;
  // The loop bound is uniform over the block, so the barriers inside are reached by all.
  for (i64 o0 = i64(blockIdx.x) * bx; o0 < nout; o0 += i64(gridDim.x) * bx) {
    const i64 o = o0 + tx;
    Acc acc = R::init();
    i64 off[2] = {0, 0};
    if (o < nout) {
      kept.offsets(o, off);
      accumulate<R, T>(acc, kept.data[0] + off[0], ri, r0 + ty, r1, by);
    }
    if (by > 1) {
      sh[ty * bx + tx] = acc;
      __syncthreads();
      if (ty == 0)
        for (int k = 1; k < by; ++k) R::combine(acc, sh[k * bx + tx]);
      __syncthreads();
    }
    if (ty == 0 && o < nout) {
      if (partial) {
        partial[o * splits + split] = acc;
      } else {
        store<R>(kept, off, acc);
      }
    }
  }
}

// Rows, one warp per output.
template <class R, typename T>
__global__ void reduce_rows_warp(i64 nout, i64 nred, Strided<2> kept, RedIndex ri) {
  using Acc = typename R::Acc;
  const int lane = threadIdx.x & 31;
  const i64 wpb = blockDim.x >> 5;
  for (i64 o = i64(blockIdx.x) * wpb + (threadIdx.x >> 5); o < nout; o += i64(gridDim.x) * wpb) {
    i64 off[2];
    kept.offsets(o, off);
    Acc acc = R::init();
    accumulate<R, T>(acc, kept.data[0] + off[0], ri, lane, nred, 32);
    acc = warp_combine<R>(acc);
    if (lane == 0) store<R>(kept, off, acc);
  }
}

// Rows, a block per (output, split): output o = blockIdx.y (grid-stride), split blockIdx.x.
template <class R, typename T>
__global__ void reduce_rows_block(i64 nout, i64 nred, int splits, Strided<2> kept, RedIndex ri,
                                  typename R::Acc* partial) {
  using Acc = typename R::Acc;
  __shared__ Acc sh[32];
  const int split = blockIdx.x;
  const i64 r0 = nred * split / splits, r1 = nred * (split + 1) / splits;
  for (i64 o = blockIdx.y; o < nout; o += gridDim.y) {
    i64 off[2];
    kept.offsets(o, off);
    Acc acc = R::init();
    accumulate<R, T>(acc, kept.data[0] + off[0], ri, r0 + threadIdx.x, r1, blockDim.x);
    acc = block_combine<R>(acc, sh);
    if (threadIdx.x == 0) {
      if (partial) {
        partial[o * splits + split] = acc;
      } else {
        store<R>(kept, off, acc);
      }
    }
  }
}

// Second pass: one warp per output combines its `splits` partials.
template <class R>
__global__ void reduce_partials(i64 nout, int splits, const typename R::Acc* partial,
                                Strided<2> kept) {
  using Acc = typename R::Acc;
  const int lane = threadIdx.x & 31;
  const i64 wpb = blockDim.x >> 5;
  for (i64 o = i64(blockIdx.x) * wpb + (threadIdx.x >> 5); o < nout; o += i64(gridDim.x) * wpb) {
    Acc acc = R::init();
    for (int c = lane; c < splits; c += 32) R::combine(acc, partial[o * splits + c]);
    acc = warp_combine<R>(acc);
    if (lane == 0) {
      i64 off[2];
      kept.offsets(o, off);
      store<R>(kept, off, acc);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// host side

int sm_count() {
  thread_local int device = -1, count = 0;
  const int d = current_device();
  if (d != device) {
    check(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, d),
          "cudaDeviceGetAttribute");
    device = d;
  }
  return count;
}

inline i64 abs64(i64 v) { return v < 0 ? -v : v; }
inline i64 ceil_div(i64 a, i64 b) { return (a + b - 1) / b; }
inline i64 clamp64(i64 v, i64 lo, i64 hi) { return v < lo ? lo : (v > hi ? hi : v); }

template <class R, typename T>
void launch_columns(i64 nout, i64 nred, const Strided<2>& kept, const RedIndex& ri, i64 target_blocks) {
  using Acc = typename R::Acc;
  if (nred <= 16 || nout >= target_blocks * kBlock) {
    // One thread per output.
    reduce_columns<R, T><<<grid_for(nout), dim3(kBlock, 1), 0, stream()>>>(nout, nred, 1, kept, ri,
                                                                            nullptr);
    check_launch("reduce_columns");
    return;
  }
  // A warp covers bx adjacent outputs of 32 / bx consecutive reduced positions; the rest of the
  // block (by) and grid.y split the reduced range.
  int bx = 1;
  while (bx < 32 && bx < nout) bx *= 2;
  const int by = kBlock / bx;
  const i64 blocks_x = ceil_div(nout, bx);  // < target_blocks * kBlock here
  const int splits = static_cast<int>(
      clamp64(ceil_div(target_blocks, blocks_x), 1, clamp64(nred / (i64(by) * 64), 1, 65535)));
  Acc* partial = splits > 1 ? static_cast<Acc*>(scratch(size_t(nout) * splits * sizeof(Acc))) : nullptr;
  const dim3 grid(static_cast<unsigned>(blocks_x), static_cast<unsigned>(splits));
  reduce_columns<R, T><<<grid, dim3(bx, by), 0, stream()>>>(nout, nred, splits, kept, ri, partial);
  check_launch("reduce_columns");
  if (splits > 1) {
    reduce_partials<R><<<grid_for(nout, kBlock / 32), kBlock, 0, stream()>>>(nout, splits, partial, kept);
    check_launch("reduce_partials");
  }
}

template <class R, typename T>
void launch_rows(i64 nout, i64 nred, const Strided<2>& kept, const RedIndex& ri, int sms,
                 i64 target_blocks) {
  using Acc = typename R::Acc;
  if (nred <= 1024 || nout >= i64(sms) * 32) {
    reduce_rows_warp<R, T><<<grid_for(nout, kBlock / 32), kBlock, 0, stream()>>>(nout, nred, kept, ri);
    check_launch("reduce_rows_warp");
    return;
  }
  // Few outputs, long rows: enough blocks to fill the device, each with >= 16 elements a thread.
  const int splits = nout >= target_blocks
                         ? 1
                         : static_cast<int>(clamp64(ceil_div(target_blocks, nout), 1,
                                                    clamp64(nred / (kBlock * 16), 1, target_blocks)));
  Acc* partial = splits > 1 ? static_cast<Acc*>(scratch(size_t(nout) * splits * sizeof(Acc))) : nullptr;
  const dim3 grid(static_cast<unsigned>(splits), static_cast<unsigned>(nout < 65535 ? nout : 65535));
  reduce_rows_block<R, T><<<grid, kBlock, 0, stream()>>>(nout, nred, splits, kept, ri, partial);
  check_launch("reduce_rows_block");
  if (splits > 1) {
    reduce_partials<R><<<grid_for(nout, kBlock / 32), kBlock, 0, stream()>>>(nout, splits, partial, kept);
    check_launch("reduce_partials");
  }
}

template <class R, typename T>
void run_reduce(const Strided<2>& kept, const Strided<1>& red, i64 nout, i64 nred) {
  RedIndex ri;
  ri.n0 = red.sizes[0];
  ri.s0 = red.strides[0][0];
  ri.nd = red.ndim - 1;
  for (int d = 1; d < red.ndim; ++d) {
    ri.sizes[d - 1] = red.sizes[d];
    ri.strides[d - 1] = red.strides[0][d];
  }
  const int sms = sm_count();
  const i64 target_blocks = i64(sms) * 8;  // 8 blocks of 256 threads fill an SM
  // Adjacent outputs closer in memory than adjacent reduced elements: read across outputs.
  const bool columns = nout > 1 && nred > 1 && abs64(kept.strides[0][0]) < abs64(ri.s0);
  if (columns || nred <= 16) {
    launch_columns<R, T>(nout, nred, kept, ri, target_blocks);
  } else {
    launch_rows<R, T>(nout, nred, kept, ri, sms, target_blocks);
  }
}


}  // namespace

void reduce(ReduceOp op, const View& out, const View& in, int reduce_ndim) {
  TG_CHECK(reduce_ndim >= 0 && reduce_ndim <= in.ndim, Value, current_op(), ": reduce over ",
           reduce_ndim, " trailing dims of a ", in.ndim, "-dim view");
  if (out.dtype != reduce_out_dtype(op, in.dtype)) unsupported("reduce output", out.dtype);
  const int kept_nd = in.ndim - reduce_ndim;

  // Kept dims: in and out over in's leading sizes.
  View in_kept = in;
  in_kept.ndim = kept_nd;
  View out_kept = out;
  out_kept.ndim = kept_nd;
  for (int d = 0; d < kept_nd; ++d) out_kept.sizes[d] = in.sizes[d];
  const View* const kv[2] = {&in_kept, &out_kept};
  const Strided<2> kept = make_strided<2>(kv);
  const i64 nout = numel_of(in_kept);

  // Reduced dims, row-major order kept (Arg* return the flat row-major index).
  View in_red;
  in_red.data = in.data;
  in_red.dtype = in.dtype;
  in_red.ndim = reduce_ndim;
  for (int d = 0; d < reduce_ndim; ++d) {
    in_red.sizes[d] = in.sizes[kept_nd + d];
    in_red.strides[d] = in.strides[kept_nd + d];
  }
  const View* const rv[1] = {&in_red};
  const Strided<1> red = make_strided<1>(rv);
  const i64 nred = numel_of(in_red);

  if (nout == 0) return;
  if (nred == 0) {
    double identity = 0.0;
    if (op == ReduceOp::Prod || op == ReduceOp::All) identity = 1.0;
    // Max/Min/Arg* of nothing is undefined (core never asks): NaN for floats, 0 otherwise.
    if ((op == ReduceOp::Max || op == ReduceOp::Min) &&
        (out.dtype == DType::Float32 || out.dtype == DType::Float64))
      identity = std::numeric_limits<double>::quiet_NaN();
    fill(out, identity);
    return;
  }
  dispatch_all(in.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    switch (op) {
      case ReduceOp::Sum: return run_reduce<SumR<T>, T>(kept, red, nout, nred);
      case ReduceOp::Prod: return run_reduce<ProdR<T>, T>(kept, red, nout, nred);
      case ReduceOp::Max: return run_reduce<ExtremeR<T, true>, T>(kept, red, nout, nred);
      case ReduceOp::Min: return run_reduce<ExtremeR<T, false>, T>(kept, red, nout, nred);
      case ReduceOp::ArgMax: return run_reduce<ArgR<T, true>, T>(kept, red, nout, nred);
      case ReduceOp::ArgMin: return run_reduce<ArgR<T, false>, T>(kept, red, nout, nred);
      case ReduceOp::Any: return run_reduce<LogicR<T, true>, T>(kept, red, nout, nred);
      case ReduceOp::All: return run_reduce<LogicR<T, false>, T>(kept, red, nout, nred);
    }
  });
}

}  // namespace tg::kernels::cuda
