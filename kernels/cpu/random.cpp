// CPU random fill from Philox4x32-10 (kernels/philox.h). Element i (row-major over out's sizes,
// whatever its strides) depends only on (seed, offset, i); one Philox block serves 4 consecutive
// elements (one word each) or 2 (a word pair each).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/elementwise_loops.h"
#include "kernels/cpu/simd_clones.h"
#include "kernels/philox.h"

namespace tg::kernels::cpu {
namespace {

constexpr int64_t kRandomGrain = 4096;
constexpr int kBatch = 16;                // Philox blocks computed together
constexpr int kBatchWords = 4 * kBatch;  // their words, in element order

// The words of Philox blocks b0 .. b0 + kBatch - 1 (counter (b, offset), key seed), block
// b0 + k's word j at words[4 k + j]: the rounds of philox::philox4x32_10, laid out across blocks
// so that the 32x32->64-bit products vectorize. Compiled for AVX2 as well.
TG_SIMD_CLONES void philox_batch(uint64_t seed, uint64_t offset, uint64_t b0,
                                 uint32_t* __restrict words) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  uint32_t c0[kBatch], c1[kBatch], c2[kBatch], c3[kBatch];
  for (int k = 0; k < kBatch; ++k) {
    const uint64_t b = b0 + static_cast<uint64_t>(k);
    c0[k] = static_cast<uint32_t>(b);
    c1[k] = static_cast<uint32_t>(b >> 32);
    c2[k] = static_cast<uint32_t>(offset);
    c3[k] = static_cast<uint32_t>(offset >> 32);
  }
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
#pragma omp simd
    for (int k = 0; k < kBatch; ++k) {
      const uint64_t p0 = uint64_t(kM0) * c0[k];
      const uint64_t p1 = uint64_t(kM1) * c2[k];
      const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1[k] ^ k0;
      const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3[k] ^ k1;
      c1[k] = static_cast<uint32_t>(p1);
      c3[k] = static_cast<uint32_t>(p0);
      c0[k] = n0;
      c2[k] = n2;
    }
    k0 += kW0;
    k1 += kW1;
  }
  for (int k = 0; k < kBatch; ++k) {
    words[4 * k] = c0[k];
    words[4 * k + 1] = c1[k];
    words[4 * k + 2] = c2[k];
    words[4 * k + 3] = c3[k];
  }
}

// Writes every element e of out: G = 1 word per element, value(word e of the stream), or G = 2
// words per element, value(words 2e and 2e + 1), where word w is word w % 4 of Philox block
// w / 4 for (seed, offset) (so element e uses block e / 4 or e / 2, as philox::word and
// philox::word_pair define). Values are made a batch of blocks at a time into a local buffer
// (fixed-length loops that vectorize) and copied to the output run.
template <typename T, int G, typename F>
void generate(const View& out, uint64_t seed, uint64_t offset, F value) {
  constexpr int kPerBatch = kBatchWords / G;  // elements per batch of blocks
  constexpr int kPerBlock = 4 / G;            // elements per block
  const View* const vs[1] = {&out};
  const Plan<1> p = make_plan<1>(vs, false);  // row-major: the linear index is the element index
  for_each(
      p,
      [&](int64_t n, char* const* ptr, const int64_t* s, int64_t lin) {
        T* o = reinterpret_cast<T*>(ptr[0]);
        const int64_t st = s[0];
        alignas(64) uint32_t w[kBatchWords];
        alignas(64) T vals[kPerBatch];
        int64_t i = 0;
        while (i < n) {
          const uint64_t e = static_cast<uint64_t>(lin + i);
          const uint64_t b0 = e / kPerBlock;
          const int first = static_cast<int>(e % kPerBlock);
          philox_batch(seed, offset, b0, w);
          if constexpr (G == 1) {
            for (int t = 0; t < kPerBatch; ++t) vals[t] = value(w[t]);
          } else {
            for (int t = 0; t < kPerBatch; ++t) vals[t] = value(w[2 * t], w[2 * t + 1]);
          }
          const int64_t cnt = std::min<int64_t>(n - i, kPerBatch - first);
          if (st == 1) {
            std::memcpy(o + i, vals + first, static_cast<size_t>(cnt) * sizeof(T));
          } else {
            for (int64_t t = 0; t < cnt; ++t) o[(i + t) * st] = vals[first + t];
          }
          i += cnt;
        }
      },
      kRandomGrain);
}

// Keeps a uniform draw inside [lo, hi) when rounding lands on hi (branch-free selects; the
// largest value below hi is precomputed).
template <typename T>
inline T below_hi(T v, T hi, T below) {
  return v >= hi ? below : v;
}

template <typename T>
void random_typed(RandomKind kind, const View& out, uint64_t seed, uint64_t offset, double a,
                  double b) {
  switch (kind) {
    case RandomKind::Uniform: {
      if constexpr (std::is_same_v<T, float>) {
        // word() + uniform_float; a + (b - a) * u evaluated in double, rounded once to float.
        const float lo = static_cast<float>(a), hi = static_cast<float>(b);
        const float below = hi > lo ? std::nextafter(hi, lo) : hi;
        const double da = lo, width = double(hi) - double(lo);
        generate<T, 1>(out, seed, offset, [=](uint32_t w) {
          const float u = philox::uniform_float(w);
          return below_hi(static_cast<float>(da + width * double(u)), hi, below);
        });
      } else {
        // word_pair() + uniform_double (Int64/Bool: the double value converted).
        const double width = b - a;
        const double below = b > a ? std::nextafter(b, a) : b;
        generate<T, 2>(out, seed, offset, [=](uint32_t w0, uint32_t w1) {
          return convert<T>(below_hi(a + width * philox::uniform_double(w0, w1), b, below));
        });
      }
      return;
    }
    case RandomKind::Normal: {
      generate<T, 2>(out, seed, offset, [=](uint32_t w0, uint32_t w1) {
        return convert<T>(a + b * philox::normal(w0, w1));
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
      generate<T, 2>(out, seed, offset, [=](uint32_t w0, uint32_t w1) {
        const uint64_t r = philox::below(w0, w1, range);
        return convert<T>(static_cast<int64_t>(static_cast<uint64_t>(lo) + r));
      });
      return;
    }
    case RandomKind::Bernoulli: {
      // word() + uniform_float for every dtype: 1 if u < p.
      const double prob = a;
      generate<T, 1>(out, seed, offset, [=](uint32_t w) {
        return static_cast<T>(double(philox::uniform_float(w)) < prob);
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
