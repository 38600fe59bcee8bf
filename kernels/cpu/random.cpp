// CPU random fill from Philox4x32-10 (kernels/philox.h). Element i (row-major over out's sizes,
// whatever its strides) depends only on (seed, offset, i); one Philox block serves 4 consecutive
// elements (one word each) or 2 (a word pair each).
#include <cmath>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/elementwise_loops.h"
#include "kernels/philox.h"

namespace tg::kernels::cpu {
namespace {

constexpr int64_t kRandomGrain = 4096;

// Calls out[e] = value(block, j) for every element e, with block = block(seed, offset, e / G) and
// j = e % G.
template <typename T, int G, typename F>
void generate(const View& out, uint64_t seed, uint64_t offset, F value) {
  const View* const vs[1] = {&out};
  const Plan<1> p = make_plan<1>(vs, false);  // row-major: the linear index is the element index
  for_each(
      p,
      [&](int64_t n, char* const* ptr, const int64_t* s, int64_t lin) {
        T* o = reinterpret_cast<T*>(ptr[0]);
        const int64_t st = s[0];
        int64_t i = 0;
        while (i < n) {
          const uint64_t e = static_cast<uint64_t>(lin + i);
          const philox::Block blk = philox::block(seed, offset, e / G);
          for (int j = static_cast<int>(e % G); j < G && i < n; ++j, ++i) o[i * st] = value(blk, j);
        }
      },
      kRandomGrain);
}

// Keeps a uniform draw inside [lo, hi) when rounding lands on hi.
template <typename T>
inline T below_hi(T v, T lo, T hi) {
  return (v >= hi && hi > lo) ? std::nextafter(hi, lo) : v;
}

template <typename T>
void random_typed(RandomKind kind, const View& out, uint64_t seed, uint64_t offset, double a,
                  double b) {
  switch (kind) {
    case RandomKind::Uniform: {
      if constexpr (std::is_same_v<T, float>) {
        // word() + uniform_float; a + (b - a) * u evaluated in double, rounded once to float.
        const float lo = static_cast<float>(a), hi = static_cast<float>(b);
        const double da = lo, width = double(hi) - double(lo);
        generate<T, 4>(out, seed, offset, [=](const philox::Block& blk, int j) {
          const float u = philox::uniform_float(blk.w[j]);
          return below_hi(static_cast<float>(da + width * double(u)), lo, hi);
        });
      } else {
        // word_pair() + uniform_double (Int64/Bool: the double value converted).
        const double width = b - a;
        generate<T, 2>(out, seed, offset, [=](const philox::Block& blk, int j) {
          const double u = philox::uniform_double(blk.w[2 * j], blk.w[2 * j + 1]);
          return convert<T>(below_hi(a + width * u, a, b));
        });
      }
      return;
    }
    case RandomKind::Normal: {
      generate<T, 2>(out, seed, offset, [=](const philox::Block& blk, int j) {
        const double z = philox::normal(blk.w[2 * j], blk.w[2 * j + 1]);
        return convert<T>(a + b * z);
      });
      return;
    }
    case RandomKind::IntRange: {
      const int64_t lo = scalar_to<int64_t>(a), hi = scalar_to<int64_t>(b);
      const uint64_t range = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
      if (hi <= lo) {  // empty range: core rejects it; write lo rather than divide by zero
        fill(out, static_cast<double>(lo));
        return;
      }
      generate<T, 2>(out, seed, offset, [=](const philox::Block& blk, int j) {
        const uint64_t r = philox::below(blk.w[2 * j], blk.w[2 * j + 1], range);
        const int64_t v = static_cast<int64_t>(static_cast<uint64_t>(lo) + r);
        return convert<T>(v);
      });
      return;
    }
    case RandomKind::Bernoulli: {
      // word() + uniform_float for every dtype: 1 if u < p.
      const double prob = a;
      generate<T, 4>(out, seed, offset, [=](const philox::Block& blk, int j) {
        const double u = philox::uniform_float(blk.w[j]);
        return u < prob ? T(1) : T(0);
      });
      return;
    }
  }
}

}  // namespace

void random(RandomKind kind, const View& out, uint64_t seed, uint64_t offset, double a, double b) {
  dispatch_all(out.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    random_typed<T>(kind, out, seed, offset, a, b);
  });
}

}  // namespace tg::kernels::cpu
