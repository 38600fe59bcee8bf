// CPU elementwise kernels: fill, copy (with dtype conversion) and where. (unary.cpp and
// binary.cpp hold the other elementwise entries; the files are split only to build in parallel.)
// The op and dtype are resolved once per call; the loops see only a functor.
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/elementwise_loops.h"
#include "kernels/cpu/scalar_math.h"

namespace tg::kernels::cpu {

void fill(const View& out, double value) {
  dispatch_all(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T v = scalar_to<T>(value);
    const View* const vs[1] = {&out};
    const Plan<1> p = make_plan<1>(vs, true);
    for_each(p, [&](int64_t n, char* const* ptr, const int64_t* s, int64_t) {
      T* o = reinterpret_cast<T*>(ptr[0]);
      const int64_t so = s[0];
      if (so == 1) {
        for (int64_t i = 0; i < n; ++i) o[i] = v;
      } else {
        for (int64_t i = 0; i < n; ++i) o[i * so] = v;
      }
    });
  });
}

void copy(const View& out, const View& in) {
  dispatch_all(out.dtype, [&](auto to_tag) {
    using TO = typename decltype(to_tag)::type;
    dispatch_all(in.dtype, [&](auto from_tag) {
      using TI = typename decltype(from_tag)::type;
      if constexpr (std::is_same_v<TO, TI>) {
        map1<TO, TI>(out, in, [](TI x) { return x; });
      } else {
        map1<TO, TI>(out, in, [](TI x) { return convert<TO>(x); });
      }
    });
  });
}

void where(const View& out, const View& cond, const View& a, const View& b) {
  if (cond.dtype != DType::Bool) unsupported("where condition", cond.dtype);
  dispatch_all(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    map3<T, Bool, T, T>(out, cond, a, b, [](Bool c, T x, T y) { return c ? x : y; });
  });
}

}  // namespace tg::kernels::cpu
