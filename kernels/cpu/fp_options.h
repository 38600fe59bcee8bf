// Floating-point code generation options for the CPU kernel sources. Include this FIRST in a
// kernel .cpp (before any other header) so that it covers everything compiled in that file.
//
// -fno-trapping-math: the kernels never inspect floating-point exception flags, and with the
//   default -ftrapping-math GCC refuses to if-convert chains of float comparisons (clamps, NaN
//   checks, the selects in exp/tanh), which keeps those loops scalar.
// -fno-math-errno: errno is never read after a math call, and with the default GCC wraps sqrt
//   in a branch to the library for negative inputs, which also keeps the loop scalar.
// Neither changes any computed value (unlike -ffast-math).
//
// Caveat (measured with GCC 12): the pragma reaches only part of the optimizer. Calls inside
// lambdas of function templates can still be treated as setting errno (no vectorized sqrt), and
// some if-conversion decisions still follow the command-line -ftrapping-math. So hot loops should
// not depend on it: write float selects as bitwise blends with no computed float arm, and keep
// constants that could be propagated through a select opaque (see scalar_math.h), which
// vectorizes with the default flags. The elementwise/reduce/softmax kernels do that and do not
// include this header.
#pragma once
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math", "no-math-errno")
#endif
