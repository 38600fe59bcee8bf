#include <algorithm>
#include <cmath>
#include <numeric>

#include "native.h"

namespace tg {

namespace {
Tensor finish(Tensor t, const TensorOptions& o) {
  if (o.requires_grad_) t.requires_grad_(true);
  return t;
}

Tensor from_host_doubles(const std::vector<double>& values, const Shape& shape, const TensorOptions& o) {
  TG_CHECK(numel_of(shape) == static_cast<int64_t>(values.size()), Value, "tensor: ", values.size(),
           " values cannot fill shape ", shape);
  Tensor host = native::empty(shape, kFloat64, Device(kCPU));
  std::copy(values.begin(), values.end(), static_cast<double*>(host.data_ptr()));
  return finish(native::to_device(native::to_dtype(host, o.dtype_), o.device_), o);
}

void check_float_dtype(const char* op, DType t) {
  TG_CHECK(is_floating(t), Type, op, ": expected a floating-point dtype, got ", t);
}
}  // namespace

Tensor empty(const Shape& shape, TensorOptions o) {
  return finish(native::empty(shape, o.dtype_, o.device_), o);
}

Tensor full(const Shape& shape, double value, TensorOptions o) {
  Tensor t = native::empty(shape, o.dtype_, o.device_);
  native::fill_(t, value);
  return finish(t, o);
}

Tensor zeros(const Shape& shape, TensorOptions o) { return full(shape, 0.0, o); }
Tensor ones(const Shape& shape, TensorOptions o) { return full(shape, 1.0, o); }
Tensor zeros_like(const Tensor& t) { return zeros(t.sizes(), t.options()); }
Tensor ones_like(const Tensor& t) { return ones(t.sizes(), t.options()); }
Tensor full_like(const Tensor& t, double value) { return full(t.sizes(), value, t.options()); }
Tensor empty_like(const Tensor& t) { return empty(t.sizes(), t.options()); }

Tensor arange(double end) { return arange(0.0, end, 1.0); }
Tensor arange(double end, TensorOptions o) { return arange(0.0, end, 1.0, o); }

Tensor arange(double start, double end, double step) {
  auto integral = [](double v) { return std::isfinite(v) && v == std::floor(v); };
  const bool ints = integral(start) && integral(end) && integral(step);
  return arange(start, end, step, ints ? kInt64 : kFloat32);
}

Tensor arange(double start, double end, double step, TensorOptions o) {
  TG_CHECK(std::isfinite(start) && std::isfinite(end) && std::isfinite(step), Value,
           "arange: start, end and step must be finite, got ", start, ", ", end, ", ", step);
  TG_CHECK(step != 0, Value, "arange: step must be nonzero");
  TG_CHECK((end - start) / step >= 0 || start == end, Value, "arange: the range from ", start,
           " to ", end, " is inconsistent with the sign of step ", step);
  const double count = std::ceil((end - start) / step);
  TG_CHECK(count < 1e12, Value, "arange: ", count, " elements is too many");
  const int64_t n = static_cast<int64_t>(std::max(0.0, count));
  std::vector<double> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = start + static_cast<double>(i) * step;
  return from_host_doubles(values, {n}, o);
}

Tensor linspace(double start, double end, int64_t steps, TensorOptions o) {
  TG_CHECK(steps >= 0, Value, "linspace: number of steps must be non-negative, got ", steps);
  std::vector<double> values(steps);
  const double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  // Fill from both ends so that both endpoints are exact; one step is just start (as PyTorch).
  for (int64_t i = 0; i < steps; ++i)
    values[i] = i < steps / 2 || steps == 1 ? start + step * static_cast<double>(i)
                                            : end - step * static_cast<double>(steps - 1 - i);
  return from_host_doubles(values, {steps}, o);
}

Tensor eye(int64_t n, std::optional<int64_t> m_opt, TensorOptions o) {
  const int64_t m = m_opt.value_or(n);
  TG_CHECK(n >= 0 && m >= 0, Value, "eye: sizes must be non-negative, got ", n, " and ", m);
  Tensor t = native::empty({n, m}, o.dtype_, o.device_);
  native::fill_(t, 0.0);
  const int64_t diag = std::min(n, m);
  if (diag > 0) native::fill_(native::as_strided(t, {diag}, {m + 1}, 0), 1.0);
  return finish(t, o);
}

Tensor rand(const Shape& shape, TensorOptions o) {
  check_float_dtype("rand", o.dtype_);
  Tensor t = native::empty(shape, o.dtype_, o.device_);
  native::random_(t, kernels::RandomKind::Uniform, 0.0, 1.0);
  return finish(t, o);
}

Tensor randn(const Shape& shape, TensorOptions o) {
  check_float_dtype("randn", o.dtype_);
  Tensor t = native::empty(shape, o.dtype_, o.device_);
  native::random_(t, kernels::RandomKind::Normal, 0.0, 1.0);
  return finish(t, o);
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions o) {
  TG_CHECK(low < high, Value, "randint: low (", low, ") must be less than high (", high, ")");
  TG_CHECK(o.dtype_ != kBool, Type, "randint: bool is not a valid dtype");
  Tensor t = native::empty(shape, o.dtype_, o.device_);
  native::random_(t, kernels::RandomKind::IntRange, static_cast<double>(low), static_cast<double>(high));
  return finish(t, o);
}

Tensor randperm(int64_t n, TensorOptions o) {
  TG_CHECK(n >= 0, Value, "randperm: n must be non-negative, got ", n);
  TG_CHECK(o.dtype_ != kBool, Type, "randperm: bool is not a valid dtype");
  // Sorting uniform keys drawn from the global generator: the same permutation on every device.
  const std::vector<double> keys = rand({n}, kFloat64).to_vector<double>();
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return keys[a] < keys[b]; });
  return finish(native::to_device(native::to_dtype(tensor(order, {n}), o.dtype_), o.device_), o);
}

Tensor nonzero(const Tensor& x) {
  TG_CHECK(x.defined(), Value, "nonzero: undefined tensor");
  // The result's size depends on the values: they are read on the host (a sync on a GPU).
  const std::vector<double> v = x.to_vector<double>();
  const Shape& sizes = x.sizes();
  const int64_t nd = x.dim();
  std::vector<int64_t> coords;
  std::vector<int64_t> at(static_cast<size_t>(nd), 0);
  int64_t count = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != 0.0) {
      coords.insert(coords.end(), at.begin(), at.end());
      ++count;
    }
    for (int64_t d = nd - 1; d >= 0; --d) {
      if (++at[d] < sizes[d]) break;
      at[d] = 0;
    }
  }
  return native::to_device(tensor(coords, {count, nd}), x.device());
}

Tensor rand_like(const Tensor& t) { return rand(t.sizes(), t.options()); }
Tensor randn_like(const Tensor& t) { return randn(t.sizes(), t.options()); }

Tensor tensor(const std::vector<double>& values, TensorOptions o) {
  return from_host_doubles(values, {static_cast<int64_t>(values.size())}, o);
}

Tensor tensor(const std::vector<double>& values, const Shape& shape, TensorOptions o) {
  return from_host_doubles(values, shape, o);
}

Tensor tensor(std::initializer_list<double> values, TensorOptions o) {
  return tensor(std::vector<double>(values), o);
}

Tensor tensor(std::initializer_list<std::initializer_list<double>> rows, TensorOptions o) {
  std::vector<double> values;
  const int64_t cols = rows.size() ? static_cast<int64_t>(rows.begin()->size()) : 0;
  for (const auto& row : rows) {
    TG_CHECK(static_cast<int64_t>(row.size()) == cols, Value, "tensor: rows have different lengths (",
             cols, " and ", row.size(), ")");
    values.insert(values.end(), row.begin(), row.end());
  }
  return from_host_doubles(values, {static_cast<int64_t>(rows.size()), cols}, o);
}

Tensor tensor(const std::vector<int64_t>& values, const Shape& shape, TensorOptions o) {
  TG_CHECK(numel_of(shape) == static_cast<int64_t>(values.size()), Value, "tensor: ", values.size(),
           " values cannot fill shape ", shape);
  Tensor host = native::empty(shape, kInt64, Device(kCPU));
  std::copy(values.begin(), values.end(), static_cast<int64_t*>(host.data_ptr()));
  return finish(native::to_device(native::to_dtype(host, o.dtype_), o.device_), o);
}

Tensor scalar_tensor(double value, TensorOptions o) { return from_host_doubles({value}, {}, o); }

Tensor from_blob(void* data, const Shape& shape, DType dtype, std::function<void(void*)> deleter) {
  native::check_dims("from_blob", shape);
  int64_t n = 1;
  for (int64_t d : shape) {
    TG_CHECK(d >= 0, Value, "from_blob: negative dimension in shape ", shape);
    TG_CHECK(d == 0 || n <= (int64_t(1) << 62) / d, Value, "from_blob: shape ", shape,
             " has too many elements");
    n *= d;
  }
  auto storage = std::make_shared<Storage>();
  storage->data = data;
  storage->nbytes = static_cast<size_t>(numel_of(shape)) * element_size(dtype);
  storage->device = Device(kCPU);
  storage->deleter = std::move(deleter);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->sizes = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

}  // namespace tg
