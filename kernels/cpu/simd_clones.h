// TG_SIMD_CLONES: compile a hot loop twice, for AVX2 and for the baseline x86-64 (SSE2), and pick
// the version at load time from the CPU (GCC target_clones, an ifunc). The library is built for
// plain x86-64, so without this the compute-bound loops (exp, tanh, softmax, the GEMM micro-kernel)
// only ever use 4-wide SSE. No FMA is enabled: results are the same bits on either path.
// Empty (baseline only) where target_clones is unavailable or TG_NO_SIMD_CLONES is defined, and
// under ThreadSanitizer (an instrumented ifunc resolver runs before its runtime starts: a crash).
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(TG_NO_SIMD_CLONES) && !defined(__AVX2__) && !defined(__SANITIZE_THREAD__)
#define TG_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define TG_SIMD_CLONES
#endif
