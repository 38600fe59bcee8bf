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

// out = f(in). kSimd: run the contiguous case through simd_loop1 (for compute-heavy functors).
template <typename TO, typename TI, bool kSimd = false, typename F>
void map1(const View& out, const View& in, F f, int64_t grain = kParallelGrain) {
  const View* const vs[2] = {&out, &in};
  const Plan<2> p = make_plan<2>(vs, true);
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
