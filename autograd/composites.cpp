// Ops written in terms of other differentiable ops: their gradients come from those ops' formulas,
// so none is recorded here.
#include <limits>

#include "../core/native.h"
#include "functions.h"

namespace tg {

Tensor lerp(const Tensor& start, const Tensor& end, const Tensor& weight) {
  return add(start, mul(weight, sub(end, start)));
}
Tensor lerp(const Tensor& start, const Tensor& end, double weight) {
  return add(start, mul(sub(end, start), weight));
}

Tensor addcmul(const Tensor& x, const Tensor& t1, const Tensor& t2, double value) {
  return add(x, mul(t1, t2), value);
}
Tensor addcdiv(const Tensor& x, const Tensor& t1, const Tensor& t2, double value) {
  return add(x, div(t1, t2), value);
}

namespace {
// Keeps the elements with col - row >= diagonal (upper) or <= diagonal (lower).
Tensor triangle(const char* op, const Tensor& x, int64_t diagonal, bool upper) {
  TG_CHECK(x.dim() >= 2, Value, op, ": expects a tensor with at least 2 dims, got shape ", x.sizes());
  const int64_t rows = x.size(-2), cols = x.size(-1);
  const TensorOptions ints = TensorOptions(kInt64).device(x.device());
  Tensor r = unsqueeze(arange(0.0, static_cast<double>(rows), 1.0, ints), 1);
  Tensor c = unsqueeze(arange(0.0, static_cast<double>(cols), 1.0, ints), 0);
  Tensor offset = sub(c, r);
  Tensor drop = upper ? lt(offset, full({1, 1}, static_cast<double>(diagonal), ints))
                      : gt(offset, full({1, 1}, static_cast<double>(diagonal), ints));
  return masked_fill(x, drop, 0.0);
}
}  // namespace

Tensor tril(const Tensor& x, int64_t diagonal) { return triangle("tril", x, diagonal, false); }
Tensor triu(const Tensor& x, int64_t diagonal) { return triangle("triu", x, diagonal, true); }

Tensor flip(const Tensor& x, const Shape& dims) {
  Tensor out = x;
  std::vector<bool> seen(x.dim(), false);
  for (int64_t d : dims) {
    const int64_t w = wrap_dim("flip", d, x.dim());
    TG_CHECK(!seen[w], Value, "flip: dim ", d, " appears more than once in dims ", dims);
    seen[w] = true;
    const double n = static_cast<double>(x.size(w));
    Tensor reversed = arange(n - 1, -1.0, -1.0, TensorOptions(kInt64).device(x.device()));
    out = index_select(out, w, reversed);
  }
  return out;
}

Tensor roll(const Tensor& x, const Shape& shifts, const Shape& dims) {
  if (dims.empty()) {
    TG_CHECK(shifts.size() == 1, Value, "roll: without dims, shifts must be one number, got ", shifts);
    return reshape(roll(reshape(x, {-1}), shifts, {0}), x.sizes());
  }
  TG_CHECK(shifts.size() == dims.size(), Value, "roll: shifts and dims must have the same length, got ",
           shifts, " and ", dims);
  Tensor out = x;
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t w = wrap_dim("roll", dims[i], x.dim());
    const int64_t n = x.size(w);
    if (n == 0) continue;
    const int64_t s = ((shifts[i] % n) + n) % n;
    if (s == 0) continue;
    out = cat({slice(out, w, n - s, n), slice(out, w, 0, n - s)}, w);
  }
  return out;
}

Tensor dot(const Tensor& a, const Tensor& b) {
  TG_CHECK(a.dim() == 1 && b.dim() == 1, Value, "dot: expects 1-D tensors, got shapes ", a.sizes(),
           " and ", b.sizes());
  TG_CHECK(a.numel() == b.numel(), Value, "dot: inconsistent tensor size, expected tensor [",
           a.numel(), "] and src [", b.numel(), "] to have the same number of elements");
  return matmul(a, b);
}

Tensor outer(const Tensor& a, const Tensor& b) {
  TG_CHECK(a.dim() == 1 && b.dim() == 1, Value, "outer: expects 1-D tensors, got shapes ", a.sizes(),
           " and ", b.sizes());
  return mul(unsqueeze(a, 1), unsqueeze(b, 0));
}

Tensor isclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  TG_CHECK(rtol >= 0 && atol >= 0, Value, "isclose: rtol and atol must be non-negative, got rtol=",
           rtol, " atol=", atol);
  NoGradGuard no_grad;
  const DType common = native::result_type(a, b);
  Tensor x = to(a, common), y = to(b, common);
  Tensor close = eq(x, y);  // also equal infinities
  if (is_floating(common)) {
    Tensor diff = abs(sub(x, y));
    Tensor tol = add(mul(abs(y), rtol), atol);
    close = logical_or(close, le(diff, tol));
    if (equal_nan) close = logical_or(close, logical_and(ne(x, x), ne(y, y)));
  }
  return close;
}

Tensor masked_select(const Tensor& x, const Tensor& mask) {
  TG_CHECK(mask.dtype() == kBool, Type, "masked_select: expected a bool mask, got ", mask.dtype());
  const Shape shape = broadcast_shapes("masked_select", x.sizes(), mask.sizes());
  Tensor flat = reshape(expand(x, shape), {-1});
  Tensor positions = reshape(nonzero(reshape(expand(mask, shape), {-1})), {-1});
  return index_select(flat, 0, positions);
}

Tensor isnan(const Tensor& x) {
  NoGradGuard no_grad;
  return is_floating(x.dtype()) ? ne(x, x) : zeros(x.sizes(), TensorOptions(kBool).device(x.device()));
}

Tensor isinf(const Tensor& x) {
  NoGradGuard no_grad;
  if (!is_floating(x.dtype())) return zeros(x.sizes(), TensorOptions(kBool).device(x.device()));
  return eq(abs(x), native::scalar_like(x, std::numeric_limits<double>::infinity()));
}

Tensor isfinite(const Tensor& x) {
  NoGradGuard no_grad;
  if (!is_floating(x.dtype())) return ones(x.sizes(), TensorOptions(kBool).device(x.device()));
  // x - x is 0 for finite x and NaN for NaN and +-Inf.
  return eq(sub(x, x), native::scalar_like(x, 0.0));
}

Tensor nan_to_num(const Tensor& x, double nan, std::optional<double> posinf, std::optional<double> neginf) {
  if (!is_floating(x.dtype())) return clone(x);
  const bool f32 = x.dtype() == kFloat32;
  const double largest = f32 ? std::numeric_limits<float>::max() : std::numeric_limits<double>::max();
  Tensor out = where(isnan(x), native::scalar_like(x, nan), x);
  const Tensor inf = native::scalar_like(x, std::numeric_limits<double>::infinity());
  out = where(eq(x, inf), native::scalar_like(x, posinf.value_or(largest)), out);
  return where(eq(x, neg(inf)), native::scalar_like(x, neginf.value_or(-largest)), out);
}

}  // namespace tg
