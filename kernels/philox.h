// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11) and the
// mapping from (seed, offset, element index) to values. Shared by every backend so that the same
// seed gives the same numbers on every device.
#pragma once
#include <cmath>
#include <cstdint>

#include "host_device.h"

namespace tg::kernels::philox {

struct Block { uint32_t w[4]; };

TG_HOST_DEVICE inline void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t p = uint64_t(a) * uint64_t(b);
  hi = uint32_t(p >> 32);
  lo = uint32_t(p);
}

TG_HOST_DEVICE inline Block philox4x32_10(Block ctr, uint32_t k0, uint32_t k1) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(kM0, ctr.w[0], hi0, lo0);
    mulhilo(kM1, ctr.w[2], hi1, lo1);
    ctr = Block{{hi1 ^ ctr.w[1] ^ k0, lo1, hi0 ^ ctr.w[3] ^ k1, lo0}};
    k0 += kW0;
    k1 += kW1;
  }
  return ctr;
}

// The block for 128-bit counter (block_index, offset) under key seed.
TG_HOST_DEVICE inline Block block(uint64_t seed, uint64_t offset, uint64_t block_index) {
  Block ctr{{uint32_t(block_index), uint32_t(block_index >> 32), uint32_t(offset),
             uint32_t(offset >> 32)}};
  return philox4x32_10(ctr, uint32_t(seed), uint32_t(seed >> 32));
}

// One 32-bit word per element: element i reads word i % 4 of block i / 4.
TG_HOST_DEVICE inline uint32_t word(uint64_t seed, uint64_t offset, uint64_t i) {
  return block(seed, offset, i / 4).w[i % 4];
}

// Two words per element: element i reads words (2j, 2j+1), j = i % 2, of block i / 2.
TG_HOST_DEVICE inline void word_pair(uint64_t seed, uint64_t offset, uint64_t i, uint32_t& a,
                                     uint32_t& b) {
  Block blk = block(seed, offset, i / 2);
  a = blk.w[2 * (i % 2)];
  b = blk.w[2 * (i % 2) + 1];
}

// [0, 1) with 24 random bits, exactly representable in float32.
TG_HOST_DEVICE inline float uniform_float(uint32_t w) { return float(w >> 8) * (1.0f / 16777216.0f); }

// [0, 1) with 53 random bits.
TG_HOST_DEVICE inline double uniform_double(uint32_t a, uint32_t b) {
  uint64_t bits = (uint64_t(a) << 21) ^ uint64_t(b >> 11);
  return double(bits & ((uint64_t(1) << 53) - 1)) * (1.0 / 9007199254740992.0);
}

// Standard normal by Box-Muller from two words, computed in double on every device.
TG_HOST_DEVICE inline double normal(uint32_t a, uint32_t b) {
  const double u1 = (double(a) + 0.5) * (1.0 / 4294967296.0);  // (0, 1): log is finite
  const double u2 = double(b) * (1.0 / 4294967296.0);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

// Uniform integer in [0, range) from 64 random bits; the modulo bias is below range / 2^64.
TG_HOST_DEVICE inline uint64_t below(uint32_t a, uint32_t b, uint64_t range) {
  return ((uint64_t(a) << 32) | b) % range;
}

}  // namespace tg::kernels::philox
