// CPU elementwise binary ops: arithmetic, comparisons and logical ops. The op and dtype are
// resolved once per call; the loops (elementwise_loops.h) see only a functor.
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/elementwise_loops.h"
#include "kernels/cpu/scalar_math.h"

namespace tg::kernels::cpu {
namespace {

// ---------------------------------------------------------------------------------------------
// binary

template <typename T>
void binary_float(BinaryOp op, const View& out, const View& a, const View& b) {
  switch (op) {
    case BinaryOp::Add: return map2<T, T, T>(out, a, b, [](T x, T y) { return x + y; });
    case BinaryOp::Sub: return map2<T, T, T>(out, a, b, [](T x, T y) { return x - y; });
    case BinaryOp::Mul: return map2<T, T, T>(out, a, b, [](T x, T y) { return x * y; });
    case BinaryOp::Div: return map2<T, T, T>(out, a, b, [](T x, T y) { return x / y; });
    case BinaryOp::Pow:
      return map2<T, T, T>(out, a, b, [](T x, T y) { return std::pow(x, y); }, kHeavyGrain);
    case BinaryOp::Maximum:
      return map2<T, T, T>(out, a, b, [](T x, T y) { return (x != x || x > y) ? x : y; });
    case BinaryOp::Minimum:
      return map2<T, T, T>(out, a, b, [](T x, T y) { return (x != x || x < y) ? x : y; });
    case BinaryOp::Remainder:
      return map2<T, T, T>(out, a, b, [](T x, T y) {
        T r = std::fmod(x, y);
        if (r != T(0) && ((r < T(0)) != (y < T(0)))) r += y;
        return r;
      }, kHeavyGrain);
    case BinaryOp::Fmod:
      return map2<T, T, T>(out, a, b, [](T x, T y) { return std::fmod(x, y); }, kHeavyGrain);
    default: break;
  }
  unsupported("this binary op", out.dtype);
}

void binary_int(BinaryOp op, const View& out, const View& a, const View& b) {
  using T = int64_t;
  switch (op) {
    case BinaryOp::Add: return map2<T, T, T>(out, a, b, [](T x, T y) { return wrap_add(x, y); });
    case BinaryOp::Sub: return map2<T, T, T>(out, a, b, [](T x, T y) { return wrap_sub(x, y); });
    case BinaryOp::Mul: return map2<T, T, T>(out, a, b, [](T x, T y) { return wrap_mul(x, y); });
    case BinaryOp::Div:
      // Truncating division; core casts to float first, this only avoids traps.
      return map2<T, T, T>(out, a, b, [](T x, T y) {
        if (y == 0) return T(0);
        if (y == -1) return wrap_sub(0, x);
        return x / y;
      });
    case BinaryOp::Pow: return map2<T, T, T>(out, a, b, [](T x, T y) { return ipow(x, y); });
    case BinaryOp::Maximum: return map2<T, T, T>(out, a, b, [](T x, T y) { return x > y ? x : y; });
    case BinaryOp::Minimum: return map2<T, T, T>(out, a, b, [](T x, T y) { return x < y ? x : y; });
    // Core rejects a zero divisor first; y == -1 would trap for the most negative x.
    case BinaryOp::Remainder:
      return map2<T, T, T>(out, a, b, [](T x, T y) {
        if (y == 0 || y == -1) return T(0);
        T r = x % y;
        if (r != 0 && ((r < 0) != (y < 0))) r += y;
        return r;
      });
    case BinaryOp::Fmod:
      return map2<T, T, T>(out, a, b, [](T x, T y) { return (y == 0 || y == -1) ? T(0) : x % y; });
    default: break;
  }
  unsupported("this binary op", DType::Int64);
}

// Comparison operand value: Bool storage is normalized to 0/1.
template <typename T>
inline auto cmp_value(T v) {
  if constexpr (std::is_same_v<T, Bool>) {
    return static_cast<int>(v != 0);
  } else {
    return v;
  }
}

template <typename T>
void compare(BinaryOp op, const View& out, const View& a, const View& b) {
  switch (op) {
    case BinaryOp::Eq:
      return map2<Bool, T, T>(out, a, b, [](T x, T y) { return Bool(cmp_value(x) == cmp_value(y)); });
    case BinaryOp::Ne:
      return map2<Bool, T, T>(out, a, b, [](T x, T y) { return Bool(cmp_value(x) != cmp_value(y)); });
    case BinaryOp::Lt:
      return map2<Bool, T, T>(out, a, b, [](T x, T y) { return Bool(cmp_value(x) < cmp_value(y)); });
    case BinaryOp::Le:
      return map2<Bool, T, T>(out, a, b, [](T x, T y) { return Bool(cmp_value(x) <= cmp_value(y)); });
    case BinaryOp::Gt:
      return map2<Bool, T, T>(out, a, b, [](T x, T y) { return Bool(cmp_value(x) > cmp_value(y)); });
    case BinaryOp::Ge:
      return map2<Bool, T, T>(out, a, b, [](T x, T y) { return Bool(cmp_value(x) >= cmp_value(y)); });
    case BinaryOp::LogicalAnd:
      return map2<Bool, T, T>(out, a, b, [](T x, T y) { return Bool((x != T(0)) & (y != T(0))); });
    case BinaryOp::LogicalOr:
      return map2<Bool, T, T>(out, a, b, [](T x, T y) { return Bool((x != T(0)) | (y != T(0))); });
    default: break;
  }
  unsupported("this comparison", a.dtype);
}

bool is_bool_result(BinaryOp op) {
  switch (op) {
    case BinaryOp::Eq:
    case BinaryOp::Ne:
    case BinaryOp::Lt:
    case BinaryOp::Le:
    case BinaryOp::Gt:
    case BinaryOp::Ge:
    case BinaryOp::LogicalAnd:
    case BinaryOp::LogicalOr: return true;
    default: return false;
  }
}

}  // namespace

void binary(BinaryOp op, const View& out, const View& a, const View& b) {
  if (a.dtype != b.dtype) unsupported("binary op with differing input dtypes", b.dtype);
  if (is_bool_result(op)) {
    if (out.dtype != DType::Bool) unsupported("comparison output", out.dtype);
    dispatch_all(a.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      compare<T>(op, out, a, b);
    });
    return;
  }
  if (out.dtype != a.dtype) unsupported("binary op with differing output dtype", out.dtype);
  switch (out.dtype) {
    case DType::Float32: return binary_float<float>(op, out, a, b);
    case DType::Float64: return binary_float<double>(op, out, a, b);
    case DType::Int64: return binary_int(op, out, a, b);
    case DType::Bool: break;
  }
  unsupported("this binary op", out.dtype);
}

}  // namespace tg::kernels::cpu
