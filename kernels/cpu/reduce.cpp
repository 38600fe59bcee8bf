// CPU reductions over the trailing dims of a strided view.
//
// Two strategies:
//  * row mode: each output element reduces its own (coalesced) range; the innermost reduced dim
//    runs as a tight loop with several independent accumulators when it is contiguous.
//  * column mode: when the innermost kept dim is contiguous in the input and the innermost
//    reduced dim is not (e.g. column sums of a row-major matrix), a tile of adjacent outputs is
//    accumulated together while walking the reduced positions, so every input read is contiguous.
// Few outputs with a long reduction split the reduction into per-thread chunks whose partial
// results are combined in chunk order.
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/elementwise_loops.h"
#include "kernels/cpu/scalar_math.h"

namespace tg::kernels::cpu {
namespace {

constexpr int kLanes = 8;       // independent accumulators in contiguous rows
constexpr int64_t kTile = 256;  // outputs accumulated together in column mode

template <typename T>
using SumAcc = std::conditional_t<is_float_v<T>, double, int64_t>;

// Numeric value of an element; Bool storage reads as 0/1.
template <typename A, typename T>
inline A value_as(T v) {
  if constexpr (std::is_same_v<T, Bool>) {
    return static_cast<A>(v != 0);
  } else {
    return static_cast<A>(v);
  }
}

// ---------------------------------------------------------------------------------------------
// reducers: init / step / combine / finish, and row(acc, p, n, stride, first_index)

template <typename T>
struct SumR {
  using Acc = SumAcc<T>;
  using Out = T;
  static Acc init(int64_t) { return Acc(0); }
  static void step(Acc& a, T v, int64_t) { a += value_as<Acc>(v); }
  static void combine(Acc& a, const Acc& b) { a += b; }
  static Out finish(Acc a) { return convert<Out>(a); }
  static void row(Acc& acc, const T* p, int64_t n, int64_t s, int64_t) {
    if (s == 1 && n >= 2 * kLanes) {
      Acc lane[kLanes] = {};
      int64_t i = 0;
      for (; i + kLanes <= n; i += kLanes)
        for (int j = 0; j < kLanes; ++j) lane[j] += value_as<Acc>(p[i + j]);
      Acc t = Acc(0);
      for (int j = 0; j < kLanes; ++j) t += lane[j];
      for (; i < n; ++i) t += value_as<Acc>(p[i]);
      acc += t;
    } else {
      Acc t = Acc(0);
      for (int64_t i = 0; i < n; ++i) t += value_as<Acc>(p[i * s]);
      acc += t;
    }
  }
};

template <typename T>
struct ProdR {
  using Acc = SumAcc<T>;
  using Out = T;
  static Acc init(int64_t) { return Acc(1); }
  static void step(Acc& a, T v, int64_t) { a *= value_as<Acc>(v); }
  static void combine(Acc& a, const Acc& b) { a *= b; }
  static Out finish(Acc a) { return convert<Out>(a); }
  static void row(Acc& acc, const T* p, int64_t n, int64_t s, int64_t) {
    if (s == 1 && n >= 2 * kLanes) {
      Acc lane[kLanes];
      for (int j = 0; j < kLanes; ++j) lane[j] = Acc(1);
      int64_t i = 0;
      for (; i + kLanes <= n; i += kLanes)
        for (int j = 0; j < kLanes; ++j) lane[j] *= value_as<Acc>(p[i + j]);
      Acc t = Acc(1);
      for (int j = 0; j < kLanes; ++j) t *= lane[j];
      for (; i < n; ++i) t *= value_as<Acc>(p[i]);
      acc *= t;
    } else {
      for (int64_t i = 0; i < n; ++i) acc *= value_as<Acc>(p[i * s]);
    }
  }
};

// Max (kMax) or Min; NaN wins. Bool storage is normalized to 0/1.
template <typename T, bool kMax>
struct ExtremeR {
  using V = std::conditional_t<std::is_same_v<T, Bool>, int, T>;
  using Acc = V;
  using Out = T;
  static Acc init(int64_t) {
    if constexpr (is_float_v<T>) {
      return kMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
    } else if constexpr (std::is_same_v<T, Bool>) {
      return kMax ? 0 : 1;
    } else {
      return kMax ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
    }
  }
  static V pick(V a, V v) {
    if constexpr (is_float_v<T>) {
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
  static void step(Acc& a, T v, int64_t) { a = pick(a, value_as<V>(v)); }
  static void combine(Acc& a, const Acc& b) { a = pick(a, b); }
  static Out finish(Acc a) { return convert<Out>(a); }
  static void row(Acc& acc, const T* p, int64_t n, int64_t s, int64_t) {
    if constexpr (is_float_v<T>) {
      if (s == 1 && n >= 2 * kLanes) {
        acc = row_extreme<kMax>(p, n, acc);
        return;
      }
    }
    if (s == 1 && n >= 2 * kLanes) {
      V lane[kLanes];
      for (int j = 0; j < kLanes; ++j) lane[j] = acc;
      int64_t i = 0;
      for (; i + kLanes <= n; i += kLanes)
        for (int j = 0; j < kLanes; ++j) lane[j] = pick(lane[j], value_as<V>(p[i + j]));
      V t = acc;
      for (int j = 0; j < kLanes; ++j) t = pick(t, lane[j]);
      for (; i < n; ++i) t = pick(t, value_as<V>(p[i]));
      acc = t;
    } else {
      V t = acc;
      for (int64_t i = 0; i < n; ++i) t = pick(t, value_as<V>(p[i * s]));
      acc = t;
    }
  }
};

// ArgMax (kMax) or ArgMin: first index of the extreme; the first NaN wins.
template <typename T, bool kMax>
struct ArgR {
  using V = std::conditional_t<std::is_same_v<T, Bool>, int, T>;
  struct Acc {
    V best;
    int64_t idx;
  };
  using Out = int64_t;
  static Acc init(int64_t start) { return Acc{ExtremeR<T, kMax>::init(0), start}; }
  // Whether v replaces the current best (strictly better, so ties keep the first index).
  static bool better(V v, V best) {
    if constexpr (is_float_v<T>) {
      if (best != best) return false;
      if (v != v) return true;
    }
    if constexpr (kMax) {
      return v > best;
    } else {
      return v < best;
    }
  }
  static void step(Acc& a, T v, int64_t i) {
    const V x = value_as<V>(v);
    if (better(x, a.best)) {
      a.best = x;
      a.idx = i;
    }
  }
  static void combine(Acc& a, const Acc& b) {
    if (better(b.best, a.best)) a = b;
  }
  static Out finish(const Acc& a) { return a.idx; }
  static void row(Acc& acc, const T* p, int64_t n, int64_t s, int64_t first) {
    if constexpr (!std::is_same_v<T, Bool>) {
      if (s == 1 && n >= 4 * kLanes) {
        // Two passes, both fast: the extreme value (vectorized), then its first occurrence.
        typename ExtremeR<T, kMax>::Acc m = ExtremeR<T, kMax>::init(0);
        ExtremeR<T, kMax>::row(m, p, n, 1, 0);
        int64_t i = 0;
        if (m != m) {
          while (p[i] == p[i]) ++i;  // the first NaN
        } else {
          while (p[i] != m) ++i;
        }
        if (better(m, acc.best)) {
          acc.best = m;
          acc.idx = first + i;
        }
        return;
      }
    }
    V best = acc.best;
    int64_t idx = acc.idx;
    for (int64_t i = 0; i < n; ++i) {
      const V x = value_as<V>(p[i * s]);
      if (better(x, best)) {
        best = x;
        idx = first + i;
      }
    }
    acc.best = best;
    acc.idx = idx;
  }
};

// Any (kAny) or All, of v != 0.
template <typename T, bool kAny>
struct LogicR {
  using Acc = int;
  using Out = Bool;
  static Acc init(int64_t) { return kAny ? 0 : 1; }
  static void step(Acc& a, T v, int64_t) {
    if constexpr (kAny) {
      a |= int(v != T(0));
    } else {
      a &= int(v != T(0));
    }
  }
  static void combine(Acc& a, const Acc& b) {
    if constexpr (kAny) {
      a |= b;
    } else {
      a &= b;
    }
  }
  static Out finish(Acc a) { return Bool(a != 0); }
  static void row(Acc& acc, const T* p, int64_t n, int64_t s, int64_t) {
    int t = acc;
    if (s == 1) {
      for (int64_t i = 0; i < n; ++i) {
        if constexpr (kAny) {
          t |= int(p[i] != T(0));
        } else {
          t &= int(p[i] != T(0));
        }
      }
    } else {
      for (int64_t i = 0; i < n; ++i) {
        if constexpr (kAny) {
          t |= int(p[i * s] != T(0));
        } else {
          t &= int(p[i * s] != T(0));
        }
      }
    }
    acc = t;
  }
};

// ---------------------------------------------------------------------------------------------
// drivers

struct Layout {
  Plan<2> kept;  // operand 0: in, operand 1: out; over the kept (leading) dims
  Plan<1> red;   // operand 0: in; over the reduced (trailing) dims, offsets from a kept base
  int64_t nout = 0, nred = 0;
};

// Reduces linear reduced positions [r0, r1) starting from `base` (the input at a kept position).
template <class R, typename T>
inline void reduce_range(const Plan<1>& red, const char* base, int64_t r0, int64_t r1,
                         typename R::Acc& acc) {
  if (red.ndim == 0) {
    if (r0 < r1) R::row(acc, reinterpret_cast<const T*>(base), 1, 1, 0);
    return;
  }
  if (red.ndim == 1) {
    const int64_t s = red.strides[0][0];
    R::row(acc, reinterpret_cast<const T*>(base) + r0 * s, r1 - r0, s, r0);
    return;
  }
  char* b[1] = {const_cast<char*>(base)};
  run_range_at(red, b, r0, r1, [&](int64_t n, char* const* ptr, const int64_t* s, int64_t lin) {
    R::row(acc, reinterpret_cast<const T*>(ptr[0]), n, s[0], lin);
  });
}

// Chunks to split one reduction of `nred` elements into (1 = no split).
inline int64_t reduction_chunks(int64_t nout, int64_t nred) {
  if (!should_parallelize(nout * nred)) return 1;
  const int64_t threads = max_threads();
  if (nout >= threads) return 1;
  return std::max<int64_t>(1, std::min<int64_t>(threads, nred / (kParallelGrain / 4)));
}

template <class R, typename T>
void reduce_row_mode(const Layout& L) {
  using Acc = typename R::Acc;
  using Out = typename R::Out;
  const Plan<2>& kept = L.kept;
  const int64_t in_es = kept.elsize[0], out_es = kept.elsize[1];
  const int64_t nred = L.nred;
  const int64_t chunks = reduction_chunks(L.nout, nred);
  if (chunks <= 1) {
    const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(nred, 1));
    parallel_range(L.nout, grain, [&](int64_t b, int64_t e) {
      run_range(kept, b, e, [&](int64_t n, char* const* ptr, const int64_t* s, int64_t) {
        for (int64_t i = 0; i < n; ++i) {
          Acc acc = R::init(0);
          reduce_range<R, T>(L.red, ptr[0] + i * s[0] * in_es, 0, nred, acc);
          *reinterpret_cast<Out*>(ptr[1] + i * s[1] * out_es) = R::finish(acc);
        }
      });
    });
    return;
  }
  // Few outputs, long reductions: split each reduction over threads.
  std::vector<Acc> part(static_cast<size_t>(chunks));
  for (int64_t o = 0; o < L.nout; ++o) {
    int64_t off[2];
    plan_offsets(kept, o, off);
    const char* base = kept.data[0] + off[0] * in_es;
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t r0 = nred * c / chunks, r1 = nred * (c + 1) / chunks;
      Acc acc = R::init(r0);
      reduce_range<R, T>(L.red, base, r0, r1, acc);
      part[static_cast<size_t>(c)] = acc;
    }
    Acc acc = part[0];
    for (int64_t c = 1; c < chunks; ++c) R::combine(acc, part[static_cast<size_t>(c)]);
    *reinterpret_cast<Out*>(kept.data[1] + off[1] * out_es) = R::finish(acc);
  }
}

// Accumulates `width` adjacent contiguous outputs at input `base` over reduced positions [r0, r1).
template <class R, typename T>
inline void column_tile(const Plan<1>& red, const char* base, int64_t width, int64_t r0,
                        int64_t r1, typename R::Acc* acc) {
  auto body = [&](int64_t n, const T* p, int64_t s, int64_t lin) {
    int64_t i = 0;
    // Four reduced positions per pass over the accumulators (in order, so Arg* keeps the first).
    for (; i + 4 <= n; i += 4) {
      const T* q0 = p + i * s;
      const T* q1 = q0 + s;
      const T* q2 = q1 + s;
      const T* q3 = q2 + s;
      const int64_t r = lin + i;
      for (int64_t j = 0; j < width; ++j) {
        typename R::Acc a = acc[j];
        R::step(a, q0[j], r);
        R::step(a, q1[j], r + 1);
        R::step(a, q2[j], r + 2);
        R::step(a, q3[j], r + 3);
        acc[j] = a;
      }
    }
    for (; i < n; ++i) {
      const T* q = p + i * s;
      const int64_t r = lin + i;
      for (int64_t j = 0; j < width; ++j) R::step(acc[j], q[j], r);
    }
  };
  if (red.ndim == 1) {
    const int64_t s = red.strides[0][0];
    body(r1 - r0, reinterpret_cast<const T*>(base) + r0 * s, s, r0);
    return;
  }
  char* b[1] = {const_cast<char*>(base)};
  run_range_at(red, b, r0, r1, [&](int64_t n, char* const* ptr, const int64_t* s, int64_t lin) {
    body(n, reinterpret_cast<const T*>(ptr[0]), s[0], lin);
  });
}

template <class R, typename T>
void reduce_column_mode(const Layout& L) {
  using Acc = typename R::Acc;
  using Out = typename R::Out;
  const Plan<2>& kept = L.kept;
  const int last = kept.ndim - 1;
  const int64_t K = kept.sizes[last];
  const int64_t out_stride = kept.strides[1][last];
  const int64_t in_es = kept.elsize[0], out_es = kept.elsize[1];
  const int64_t outer = L.nout / K;
  const int64_t tiles_per = (K + kTile - 1) / kTile;
  const int64_t tasks = outer * tiles_per;
  const int64_t nred = L.nred;

  auto task_base = [&](int64_t t, const char*& in_base, char*& out_base, int64_t& width) {
    const int64_t o = t / tiles_per, tile = t % tiles_per;
    int64_t off[2];
    plan_offsets(kept, o * K, off);
    const int64_t j0 = tile * kTile;
    width = std::min(kTile, K - j0);
    in_base = kept.data[0] + (off[0] + j0) * in_es;
    out_base = kept.data[1] + (off[1] + j0 * out_stride) * out_es;
  };
  auto store = [&](char* out_base, const Acc* acc, int64_t width) {
    Out* o = reinterpret_cast<Out*>(out_base);
    for (int64_t j = 0; j < width; ++j) o[j * out_stride] = R::finish(acc[j]);
  };

  const int64_t threads = max_threads();
  const bool parallel = should_parallelize(L.nout * nred);
  if (!parallel || tasks >= threads) {
    auto run_task = [&](int64_t t) {
      const char* in_base;
      char* out_base;
      int64_t width;
      task_base(t, in_base, out_base, width);
      Acc acc[kTile];
      for (int64_t j = 0; j < width; ++j) acc[j] = R::init(0);
      column_tile<R, T>(L.red, in_base, width, 0, nred, acc);
      store(out_base, acc, width);
    };
    if (parallel) {
#pragma omp parallel for num_threads(static_cast<int>(std::min(threads, tasks))) schedule(static)
      for (int64_t t = 0; t < tasks; ++t) run_task(t);
    } else {
      for (int64_t t = 0; t < tasks; ++t) run_task(t);
    }
    return;
  }
  // Few tiles, long reductions: split the reduced range into chunks, combine in order.
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(threads, nred / 64));
  std::vector<Acc> part(static_cast<size_t>(chunks * kTile));
  for (int64_t t = 0; t < tasks; ++t) {
    const char* in_base;
    char* out_base;
    int64_t width;
    task_base(t, in_base, out_base, width);
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t r0 = nred * c / chunks, r1 = nred * (c + 1) / chunks;
      Acc* acc = part.data() + c * kTile;
      for (int64_t j = 0; j < width; ++j) acc[j] = R::init(r0);
      column_tile<R, T>(L.red, in_base, width, r0, r1, acc);
    }
    for (int64_t c = 1; c < chunks; ++c)
      for (int64_t j = 0; j < width; ++j) R::combine(part[size_t(j)], part[size_t(c * kTile + j)]);
    store(out_base, part.data(), width);
  }
}

template <class R, typename T>
void run_reduce(const Layout& L) {
  const Plan<2>& kept = L.kept;
  const bool column = kept.ndim >= 1 && kept.strides[0][kept.ndim - 1] == 1 && L.red.ndim >= 1 &&
                      L.red.strides[0][L.red.ndim - 1] != 1 && L.nred > 1;
  if (column) {
    reduce_column_mode<R, T>(L);
  } else {
    reduce_row_mode<R, T>(L);
  }
}

template <typename T>
void reduce_typed(ReduceOp op, const Layout& L) {
  switch (op) {
    case ReduceOp::Sum: return run_reduce<SumR<T>, T>(L);
    case ReduceOp::Prod: return run_reduce<ProdR<T>, T>(L);
    case ReduceOp::Max: return run_reduce<ExtremeR<T, true>, T>(L);
    case ReduceOp::Min: return run_reduce<ExtremeR<T, false>, T>(L);
    case ReduceOp::ArgMax: return run_reduce<ArgR<T, true>, T>(L);
    case ReduceOp::ArgMin: return run_reduce<ArgR<T, false>, T>(L);
    case ReduceOp::Any: return run_reduce<LogicR<T, true>, T>(L);
    case ReduceOp::All: return run_reduce<LogicR<T, false>, T>(L);
  }
}


}  // namespace

void reduce(ReduceOp op, const View& out, const View& in, int reduce_ndim) {
  if (reduce_ndim < 0 || reduce_ndim > in.ndim)
    throw std::invalid_argument("tapegrad cpu kernel: reduce_ndim out of range");
  if (out.dtype != reduce_out_dtype(op, in.dtype)) unsupported("reduce output", out.dtype);
  const int kept_nd = in.ndim - reduce_ndim;
  Layout L;
  {
    // Kept dims: input first so that its strides decide the order.
    void* data[2] = {in.data, out.data};
    const DType dt[2] = {in.dtype, out.dtype};
    const int64_t* st[2] = {in.strides, out.strides};
    L.kept = make_plan<2>(kept_nd, in.sizes, data, dt, st, true);
    L.nout = L.kept.numel;
  }
  {
    void* data[1] = {in.data};
    const DType dt[1] = {in.dtype};
    const int64_t* st[1] = {in.strides + kept_nd};
    // Arg ops need row-major order of the reduced dims (their result is a flat index).
    const bool reorder = !(op == ReduceOp::ArgMax || op == ReduceOp::ArgMin);
    L.red = make_plan<1>(reduce_ndim, in.sizes + kept_nd, data, dt, st, reorder);
    L.nred = L.red.numel;
  }
  if (L.nout == 0) return;
  if (L.nred == 0) {
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
    reduce_typed<T>(op, L);
  });
}

}  // namespace tg::kernels::cpu
