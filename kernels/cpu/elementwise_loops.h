// Typed elementwise loops over strided views (internal to the CPU backend). Each variant runs the
// innermost dim as a tight loop with special cases for unit and zero strides, so the contiguous
// cases vectorize.
#pragma once
#include <cmath>
#include <limits>

#include "kernels/cpu/simd_clones.h"
#include "kernels/cpu/strided_loop.h"

namespace tg::kernels::cpu {

// Heavier per-element work (transcendentals) forks threads earlier.
constexpr int64_t kHeavyGrain = 8192;

// A double scalar parameter converted to storage type T (saturating for Int64, NaN -> 0).
template <typename T>
inline T scalar_to(double v) {
  if constexpr (std::is_same_v<T, Bool>) {
    return v != 0.0 ? Bool(1) : Bool(0);
  } else if constexpr (std::is_same_v<T, int64_t>) {
    if (std::isnan(v)) return 0;
    if (v >= 9223372036854775807.0) return std::numeric_limits<int64_t>::max();
    if (v <= -9223372036854775808.0) return std::numeric_limits<int64_t>::min();
    return static_cast<int64_t>(v);
  } else {
    return static_cast<T>(v);
  }
}

// Contiguous loops for compute-heavy functors, compiled for AVX2 as well (simd_clones.h).
template <typename TO, typename TI, typename F>
TG_SIMD_CLONES void simd_loop1(TO* o, const TI* a, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) o[i] = f(a[i]);
}
template <typename TO, typename TA, typename TB, typename F>
TG_SIMD_CLONES void simd_loop2(TO* o, const TA* a, const TB* b, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b[i]);
}

// Transposing case of map1: the output's innermost dim is contiguous but the input's unit-stride
// dim is another one (e.g. materializing a transpose). Walking the output row by row reads the
// input with a large stride; instead the two dims are walked in tiles of 64 input-contiguous by
// 8 output-contiguous elements (few enough lines per tile that power-of-two strides do not thrash
// the L1 sets). Returns false when the layout is not of that kind.
template <typename TO, typename TI, typename F>
bool map1_tiled(const Plan<2>& p, F f, int64_t grain) {
  constexpr int64_t kTileRows = 64, kTileCols = 8;
  if (p.ndim < 2 || p.numel < 4096) return false;
  const int last = p.ndim - 1;
  if (p.strides[0][last] != 1 || p.strides[1][last] == 1) return false;
  int d = -1;  // the input's unit-stride dim
  for (int k = 0; k < last; ++k)
    if (p.strides[1][k] == 1) d = k;
  if (d < 0 || p.sizes[d] < 16 || p.sizes[last] < kTileCols) return false;
  // The remaining dims, as a plan of their own.
  Plan<2> outer;
  outer.ndim = 0;
  outer.numel = 1;
  for (int k = 0; k < last; ++k) {
    if (k == d) continue;
    outer.sizes[outer.ndim] = p.sizes[k];
    outer.strides[0][outer.ndim] = p.strides[0][k];
    outer.strides[1][outer.ndim] = p.strides[1][k];
    outer.numel *= p.sizes[k];
    ++outer.ndim;
  }
  const int64_t rows = p.sizes[d], cols = p.sizes[last];
  const int64_t tr = (rows + kTileRows - 1) / kTileRows, tc = (cols + kTileCols - 1) / kTileCols;
  const int64_t tiles = outer.numel * tr * tc;
  const int64_t so_row = p.strides[0][d], si_col = p.strides[1][last];
  TO* const out_base = reinterpret_cast<TO*>(p.data[0]);
  const TI* const in_base = reinterpret_cast<const TI*>(p.data[1]);
  // Tiles in (outer, row tile, column tile) order: a thread's consecutive tiles walk along the
  // output rows.
  auto tile = [&](int64_t t) {
    const F fn = f;
    int64_t off[2];
    plan_offsets(outer, t / (tr * tc), off);
    const int64_t r0 = (t / tc) % tr * kTileRows, c0 = t % tc * kTileCols;
    const int64_t r1 = std::min(rows, r0 + kTileRows), c1 = std::min(cols, c0 + kTileCols);
    for (int64_t r = r0; r < r1; ++r) {
      TO* o = out_base + off[0] + r * so_row;
      const TI* a = in_base + off[1] + r;
      for (int64_t c = c0; c < c1; ++c) o[c] = fn(a[c * si_col]);
    }
  };
  if (should_parallelize(p.numel, grain)) {
    const int nt = static_cast<int>(std::min<int64_t>(max_threads(), tiles));
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t t = 0; t < tiles; ++t) tile(t);
  } else {
    for (int64_t t = 0; t < tiles; ++t) tile(t);
  }
  return true;
}

// out = f(in). kSimd: run the contiguous case through simd_loop1 (for compute-heavy functors).
template <typename TO, typename TI, bool kSimd = false, typename F>
void map1(const View& out, const View& in, F f, int64_t grain = kParallelGrain) {
  const View* const vs[2] = {&out, &in};
  const Plan<2> p = make_plan<2>(vs, true);
  if (p.numel == 0 || map1_tiled<TO, TI>(p, f, grain)) return;
  for_each(
      p,
      [&](int64_t n, char* const* ptr, const int64_t* s, int64_t) {
        const F fn = f;  // a local copy: its captures cannot alias the output
        TO* o = reinterpret_cast<TO*>(ptr[0]);
        const TI* a = reinterpret_cast<const TI*>(ptr[1]);
        const int64_t so = s[0], sa = s[1];
        if (so == 1 && sa == 1) {
          if constexpr (kSimd) {
            simd_loop1(o, a, n, fn);
          } else {
            for (int64_t i = 0; i < n; ++i) o[i] = fn(a[i]);
          }
        } else if (sa == 0) {
          const TO v = fn(a[0]);
          for (int64_t i = 0; i < n; ++i) o[i * so] = v;
        } else {
          for (int64_t i = 0; i < n; ++i) o[i * so] = fn(a[i * sa]);
        }
      },
      grain);
}

// out = f(a, b). kSimd: as for map1.
template <typename TO, typename TA, typename TB, bool kSimd = false, typename F>
void map2(const View& out, const View& a_view, const View& b_view, F f,
          int64_t grain = kParallelGrain) {
  const View* const vs[3] = {&out, &a_view, &b_view};
  const Plan<3> p = make_plan<3>(vs, true);
  for_each(
      p,
      [&](int64_t n, char* const* ptr, const int64_t* s, int64_t) {
        const F fn = f;  // a local copy: its captures cannot alias the output
        TO* o = reinterpret_cast<TO*>(ptr[0]);
        const TA* a = reinterpret_cast<const TA*>(ptr[1]);
        const TB* b = reinterpret_cast<const TB*>(ptr[2]);
        const int64_t so = s[0], sa = s[1], sb = s[2];
        if (so == 1 && sa == 1 && sb == 1) {
          if constexpr (kSimd) {
            simd_loop2(o, a, b, n, fn);
          } else {
            for (int64_t i = 0; i < n; ++i) o[i] = fn(a[i], b[i]);
          }
        } else if (so == 1 && sa == 1 && sb == 0) {
          const TB bv = b[0];
          for (int64_t i = 0; i < n; ++i) o[i] = fn(a[i], bv);
        } else if (so == 1 && sa == 0 && sb == 1) {
          const TA av = a[0];
          for (int64_t i = 0; i < n; ++i) o[i] = fn(av, b[i]);
        } else {
          for (int64_t i = 0; i < n; ++i) o[i * so] = fn(a[i * sa], b[i * sb]);
        }
      },
      grain);
}

// Compute-heavy elementwise functors: SIMD clones and an earlier thread fork.
// (Only float32 functors vectorize: the float64 ones call libm.)
template <typename TO, typename TI, typename F>
void map1_heavy(const View& out, const View& in, F f) {
  map1<TO, TI, std::is_same_v<TO, float>>(out, in, f, kHeavyGrain);
}
template <typename TO, typename TA, typename TB, typename F>
void map2_heavy(const View& out, const View& a, const View& b, F f) {
  map2<TO, TA, TB, std::is_same_v<TO, float>>(out, a, b, f, kHeavyGrain);
}

// out = f(a, b, c)
template <typename TO, typename TA, typename TB, typename TC, typename F>
void map3(const View& out, const View& a_view, const View& b_view, const View& c_view, F f,
          int64_t grain = kParallelGrain) {
  const View* const vs[4] = {&out, &a_view, &b_view, &c_view};
  const Plan<4> p = make_plan<4>(vs, true);
  for_each(
      p,
      [&](int64_t n, char* const* ptr, const int64_t* s, int64_t) {
        const F fn = f;  // a local copy: its captures cannot alias the output
        TO* o = reinterpret_cast<TO*>(ptr[0]);
        const TA* a = reinterpret_cast<const TA*>(ptr[1]);
        const TB* b = reinterpret_cast<const TB*>(ptr[2]);
        const TC* c = reinterpret_cast<const TC*>(ptr[3]);
        const int64_t so = s[0], sa = s[1], sb = s[2], sc = s[3];
        if (so == 1 && sa == 1 && sb == 1 && sc == 1) {
          for (int64_t i = 0; i < n; ++i) o[i] = fn(a[i], b[i], c[i]);
        } else {
          for (int64_t i = 0; i < n; ++i) o[i * so] = fn(a[i * sa], b[i * sb], c[i * sc]);
        }
      },
      grain);
}

}  // namespace tg::kernels::cpu
