#include "native.h"

#include "allocator.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <numeric>
#include <optional>

#include <omp.h>

namespace tg::native {

namespace {

bool is_comparison(BinaryOp op) { return op >= BinaryOp::Eq && op <= BinaryOp::Ge; }
bool is_logical(BinaryOp op) { return op == BinaryOp::LogicalAnd || op == BinaryOp::LogicalOr; }
bool is_integral_value(double v) { return std::isfinite(v) && v == std::floor(v); }

kernels::View broadcast_view(const Tensor& t, const Shape& shape) {
  kernels::View v = kernel_view(t);
  const int n = static_cast<int>(shape.size());
  const int off = n - static_cast<int>(t.dim());
  v.ndim = n;
  for (int i = 0; i < n; ++i) {
    const bool present = i >= off;
    const int64_t size = present ? t.sizes()[i - off] : 1;
    v.sizes[i] = shape[i];
    v.strides[i] = (present && size == shape[i]) ? t.strides()[i - off] : 0;
  }
  return v;
}

// The order of dims that puts `dim` last, the others in order.
Shape moved_to_last(int64_t ndim, int64_t dim) {
  Shape order;
  for (int64_t i = 0; i < ndim; ++i)
    if (i != dim) order.push_back(i);
  order.push_back(dim);
  return order;
}

std::mutex& rng_mutex() {
  static std::mutex m;
  return m;
}
GeneratorState& rng_state() {
  static GeneratorState state{0x5eed, 0};
  return state;
}

}  // namespace

const kernels::KernelTable& kernels_for(const char* op, Device device) {
  const kernels::KernelTable* table =
      device.is_cpu() ? kernels::cpu_kernels() : kernels::cuda_kernels();
  TG_CHECK(table != nullptr, Runtime, op, ": tapegrad was built without support for device ",
           device, " (rebuild with -DTG_CUDA=ON and a CUDA toolkit)");
  if (table->activate) table->activate(device.index, op);
  return *table;
}

void check_dims(const char* op, const Shape& shape) {
  TG_CHECK(shape.size() <= static_cast<size_t>(kernels::kMaxDims), Value, op, ": tensors have at most ",
           kernels::kMaxDims, " dims, got ", shape.size(), " (shape ", shape, ")");
}

kernels::View kernel_view(const Tensor& t) {
  kernels::View v;
  v.data = t.data_ptr();
  v.dtype = t.dtype();
  v.ndim = static_cast<int>(t.dim());
  for (int i = 0; i < v.ndim; ++i) {
    v.sizes[i] = t.sizes()[i];
    v.strides[i] = t.strides()[i];
  }
  return v;
}

Tensor empty(const Shape& shape, DType dtype, Device device) {
  check_dims("empty", shape);
  int64_t n = 1;
  for (int64_t d : shape) {
    TG_CHECK(d >= 0, Value, "empty: negative dimension ", d, " in shape ", shape);
    TG_CHECK(d == 0 || n <= (int64_t(1) << 62) / d, Value, "empty: shape ", shape,
             " has too many elements");
    n *= d;
  }
  kernels_for("empty", device);
  auto storage = std::make_shared<Storage>();
  const size_t nbytes = static_cast<size_t>(n) * element_size(dtype);
  storage->nbytes = nbytes;
  storage->device = device;
  storage->data = allocate_memory(device, nbytes);
  storage->deleter = [device, nbytes](void* p) { release_memory(device, p, nbytes); };
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->sizes = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor as_strided(const Tensor& base, const Shape& sizes, const Shape& strides, int64_t offset) {
  check_dims("view", sizes);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->sizes = sizes;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = base.dtype();
  impl->is_view = true;
  impl->view_history_version = base.storage()->history_version;
  return Tensor(std::move(impl));
}

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  TG_CHECK(a.device() == b.device(), Runtime, op, ": expected all tensors on the same device, got ",
           a.device(), " and ", b.device());
}

void check_floating(const char* op, const Tensor& t) {
  TG_CHECK(t.is_floating_point(), Type, op, ": expected a floating-point tensor, got ", t.dtype());
}

void bump_version(const Tensor& t) { ++t.storage()->version; }

Tensor scalar_like(const Tensor& x, double value) {
  DType dt = x.dtype();
  if (!is_floating(dt)) dt = is_integral_value(value) ? DType::Int64 : DType::Float32;
  Tensor t = empty({}, dt, x.device());
  kernels_for("scalar", t.device()).fill(kernel_view(t), value);
  return t;
}

// ---------------------------------------------------------------- copies

void fill_(const Tensor& t, double value) {
  if (t.numel() == 0) return;
  kernels_for("fill_", t.device()).fill(kernel_view(t), value);
  bump_version(t);
}

void copy_(const Tensor& dst, const Tensor& src_in) {
  broadcast_shapes("copy_", dst.sizes(), src_in.sizes());
  TG_CHECK(src_in.dim() <= dst.dim() &&
               broadcast_shapes("copy_", dst.sizes(), src_in.sizes()) == dst.sizes(),
           Value, "copy_: source of shape ", src_in.sizes(), " cannot be broadcast to ", dst.sizes());
  if (dst.numel() == 0) return;
  Tensor src = src_in;
  if (src.device() != dst.device()) src = to_device(src, dst.device());
  // Overlapping memory: read from a private copy.
  else if (src.storage() == dst.storage()) src = clone(src);
  kernels_for("copy_", dst.device()).copy(kernel_view(dst), broadcast_view(src, dst.sizes()));
  bump_version(dst);
}

Tensor contiguous(const Tensor& t) { return t.is_contiguous() ? t : clone(t); }

Tensor clone(const Tensor& t) {
  Tensor out = empty(t.sizes(), t.dtype(), t.device());
  if (t.numel() > 0) kernels_for("clone", t.device()).copy(kernel_view(out), kernel_view(t));
  return out;
}

Tensor to_dtype(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype) return t;
  Tensor out = empty(t.sizes(), dtype, t.device());
  if (t.numel() > 0) kernels_for("to", t.device()).copy(kernel_view(out), kernel_view(t));
  return out;
}

Tensor to_device(const Tensor& t, Device device) {
  if (t.device() == device) return t;
  Tensor out = empty(t.sizes(), t.dtype(), device);
  if (t.numel() == 0) return out;
  const size_t nbytes = static_cast<size_t>(t.numel()) * element_size(t.dtype());
  if (t.device().is_cpu()) {
    Tensor src = contiguous(t);
    kernels_for("to", device).copy_from_host(out.data_ptr(), src.data_ptr(), nbytes);
  } else if (device.is_cpu()) {
    Tensor src = contiguous(t);
    kernels_for("to", t.device()).copy_to_host(out.data_ptr(), src.data_ptr(), nbytes);
  } else {
    return to_device(to_device(t, Device(kCPU)), device);
  }
  return out;
}

// ---------------------------------------------------------------- views

Shape infer_shape(const char* op, const Shape& shape, int64_t numel) {
  Shape out = shape;
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      TG_CHECK(infer_at < 0, Value, op, ": only one dimension can be -1, got shape ", shape);
      infer_at = static_cast<int64_t>(i);
    } else {
      TG_CHECK(out[i] >= 0, Value, op, ": invalid dimension ", out[i], " in shape ", shape);
      known *= out[i];
    }
  }
  if (infer_at >= 0) {
    TG_CHECK(known != 0 && numel % known == 0, Value, op, ": shape ", shape,
             " is invalid for input of size ", numel);
    out[infer_at] = numel / known;
  }
  TG_CHECK(numel_of(out) == numel, Value, op, ": shape ", shape, " is invalid for input of size ",
           numel);
  return out;
}

std::optional<Tensor> try_view(const Tensor& t, const Shape& shape_in) {
  const Shape shape = infer_shape("view", shape_in, t.numel());
  const Shape& old_sizes = t.sizes();
  const Shape& old_strides = t.strides();
  if (t.numel() == 0 || old_sizes.empty())
    return as_strided(t, shape, contiguous_strides(shape), t.storage_offset());
  // Walk the old dims from the back in chunks that are contiguous among themselves; each chunk
  // must be covered exactly by a run of new dims.
  Shape new_strides(shape.size());
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_sizes.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_sizes[d];
    const bool chunk_ends =
        d == 0 || (old_sizes[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_stride);
    if (!chunk_ends) continue;
    while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
      new_strides[view_d] = view_numel * chunk_stride;
      view_numel *= shape[view_d];
      --view_d;
    }
    if (view_numel != tensor_numel) return std::nullopt;
    if (d > 0) {
      chunk_stride = old_strides[d - 1];
      tensor_numel = 1;
      view_numel = 1;
    }
  }
  if (view_d != -1) return std::nullopt;
  return as_strided(t, shape, new_strides, t.storage_offset());
}

Tensor view(const Tensor& t, const Shape& shape) {
  auto v = try_view(t, shape);
  TG_CHECK(v.has_value(), Runtime, "view: shape ", shape, " is not compatible with the strides ",
           t.strides(), " of a tensor of shape ", t.sizes(), "; use reshape() instead");
  return *v;
}

Tensor reshape(const Tensor& t, const Shape& shape_in) {
  const Shape shape = infer_shape("reshape", shape_in, t.numel());
  check_dims("reshape", shape);
  if (auto v = try_view(t, shape)) return *v;
  return *try_view(clone(t), shape);
}

Tensor permute(const Tensor& t, const Shape& dims) {
  const int64_t n = t.dim();
  TG_CHECK(static_cast<int64_t>(dims.size()) == n, Value, "permute: expected ", n,
           " dims for a tensor of shape ", t.sizes(), ", got ", dims);
  Shape sizes(n), strides(n);
  std::vector<bool> seen(n, false);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t d = wrap_dim("permute", dims[i], n);
    TG_CHECK(!seen[d], Value, "permute: dim ", dims[i], " repeated in ", dims);
    seen[d] = true;
    sizes[i] = t.sizes()[d];
    strides[i] = t.strides()[d];
  }
  return as_strided(t, sizes, strides, t.storage_offset());
}

Tensor transpose(const Tensor& t, int64_t d0, int64_t d1) {
  const int64_t n = t.dim();
  if (n == 0) {
    wrap_dim("transpose", d0, 0);
    wrap_dim("transpose", d1, 0);
    return as_strided(t, t.sizes(), t.strides(), t.storage_offset());
  }
  d0 = wrap_dim("transpose", d0, n);
  d1 = wrap_dim("transpose", d1, n);
  Shape sizes = t.sizes(), strides = t.strides();
  std::swap(sizes[d0], sizes[d1]);
  std::swap(strides[d0], strides[d1]);
  return as_strided(t, sizes, strides, t.storage_offset());
}

Tensor expand(const Tensor& t, const Shape& shape) {
  const int64_t n = static_cast<int64_t>(shape.size()), old = t.dim();
  TG_CHECK(n >= old, Value, "expand: the target shape ", shape, " has fewer dims than the tensor's ",
           t.sizes());
  check_dims("expand", shape);
  Shape sizes(n), strides(n);
  for (int64_t i = n - 1; i >= 0; --i) {
    const int64_t j = i - (n - old);
    if (j >= 0) {
      const int64_t size = t.sizes()[j];
      const int64_t target = shape[i] == -1 ? size : shape[i];
      TG_CHECK(target >= 0, Value, "expand: invalid size ", shape[i], " at dim ", i, " in ", shape);
      TG_CHECK(target == size || size == 1, Value, "expand: the expanded size ", target,
               " must match the existing size ", size, " at non-singleton dim ", i, "; target ",
               shape, ", tensor ", t.sizes());
      sizes[i] = target;
      strides[i] = size == target ? t.strides()[j] : 0;
    } else {
      TG_CHECK(shape[i] >= 0, Value, "expand: invalid size ", shape[i], " for new leading dim ", i,
               " in ", shape);
      sizes[i] = shape[i];
      strides[i] = 0;
    }
  }
  return as_strided(t, sizes, strides, t.storage_offset());
}

Tensor squeeze(const Tensor& t, std::optional<int64_t> dim) {
  Shape sizes, strides;
  const int64_t n = t.dim();
  const int64_t only = dim ? wrap_dim("squeeze", *dim, n) : -1;
  for (int64_t i = 0; i < n; ++i) {
    const bool drop = t.sizes()[i] == 1 && (only < 0 || i == only);
    if (!drop) {
      sizes.push_back(t.sizes()[i]);
      strides.push_back(t.strides()[i]);
    }
  }
  return as_strided(t, sizes, strides, t.storage_offset());
}

Tensor unsqueeze(const Tensor& t, int64_t dim) {
  const int64_t n = t.dim();
  dim = wrap_dim("unsqueeze", dim, n + 1);
  TG_CHECK(n < kernels::kMaxDims, Value, "unsqueeze: tensors have at most ", kernels::kMaxDims,
           " dims, got ", n + 1, " (shape ", t.sizes(), ")");
  Shape sizes = t.sizes(), strides = t.strides();
  const int64_t stride = dim < n ? sizes[dim] * strides[dim] : 1;
  sizes.insert(sizes.begin() + dim, 1);
  strides.insert(strides.begin() + dim, stride);
  return as_strided(t, sizes, strides, t.storage_offset());
}

Tensor slice(const Tensor& t, int64_t dim, int64_t start, int64_t end, int64_t step) {
  TG_CHECK(t.dim() > 0, Index, "slice: cannot slice a 0-dim tensor");
  dim = wrap_dim("slice", dim, t.dim());
  TG_CHECK(step > 0, Value, "slice: step must be positive, got ", step);
  const int64_t size = t.sizes()[dim];
  if (start < 0) start += size;
  if (end < 0) end += size;
  start = std::clamp<int64_t>(start, 0, size);
  end = std::clamp<int64_t>(end, start, size);
  Shape sizes = t.sizes(), strides = t.strides();
  sizes[dim] = (end - start + step - 1) / step;
  strides[dim] *= step;
  return as_strided(t, sizes, strides, t.storage_offset() + start * t.strides()[dim]);
}

Tensor select(const Tensor& t, int64_t dim, int64_t index) {
  TG_CHECK(t.dim() > 0, Index, "select: cannot select from a 0-dim tensor");
  dim = wrap_dim("select", dim, t.dim());
  const int64_t size = t.sizes()[dim];
  TG_CHECK(index >= -size && index < size, Index, "select: index ", index,
           " is out of range for dim ", dim, " with size ", size);
  if (index < 0) index += size;
  Shape sizes = t.sizes(), strides = t.strides();
  sizes.erase(sizes.begin() + dim);
  strides.erase(strides.begin() + dim);
  return as_strided(t, sizes, strides, t.storage_offset() + index * t.strides()[dim]);
}

// ---------------------------------------------------------------- pointwise

namespace {

// The dtype a unary op computes in for an input of dtype `in`.
DType unary_compute_dtype(UnaryOp op, DType in, double p0, double p1) {
  switch (op) {
    case UnaryOp::LogicalNot:
      return DType::Bool;
    case UnaryOp::Neg: case UnaryOp::Abs: case UnaryOp::Sign: case UnaryOp::Square:
      return in == DType::Bool ? DType::Int64 : in;
    case UnaryOp::Relu:
      return in == DType::Bool ? DType::Int64 : in;
    case UnaryOp::Floor: case UnaryOp::Ceil: case UnaryOp::Round: case UnaryOp::Trunc:
      return in == DType::Bool ? DType::Int64 : in;
    case UnaryOp::AddScalar: case UnaryOp::MulScalar: case UnaryOp::RSubScalar:
      if (is_floating(in)) return in;
      return is_integral_value(p0) ? DType::Int64 : DType::Float32;
    case UnaryOp::Clamp:
      if (is_floating(in)) return in;
      return (std::isnan(p0) || is_integral_value(p0)) && (std::isnan(p1) || is_integral_value(p1))
                 ? DType::Int64 : DType::Float32;
    case UnaryOp::PowScalar:
      if (is_floating(in)) return in;
      return is_integral_value(p0) && p0 >= 0 ? DType::Int64 : DType::Float32;
    default:
      return is_floating(in) ? in : DType::Float32;
  }
}

}  // namespace

Tensor unary(const char* op_name, UnaryOp op, const Tensor& x, double p0, double p1) {
  const DType dt = unary_compute_dtype(op, x.dtype(), p0, p1);
  Tensor in = to_dtype(x, dt);
  Tensor out = empty(x.sizes(), dt, x.device());
  if (out.numel() > 0) kernels_for(op_name, x.device()).unary(op, kernel_view(out), kernel_view(in), p0, p1);
  return out;
}

void unary_(const char* op_name, UnaryOp op, const Tensor& x, double p0, double p1) {
  const DType dt = unary_compute_dtype(op, x.dtype(), p0, p1);
  TG_CHECK(dt == x.dtype(), Type, op_name, ": result type ", dt, " cannot be written in place into a ",
           x.dtype(), " tensor");
  if (x.numel() > 0) kernels_for(op_name, x.device()).unary(op, kernel_view(x), kernel_view(x), p0, p1);
  bump_version(x);
}

namespace {
int dtype_category(DType t) { return t == DType::Bool ? 0 : is_floating(t) ? 2 : 1; }

// The dtype a binary op computes in, given its operands' common dtype.
DType binary_compute_dtype(BinaryOp op, DType common) {
  if (is_logical(op)) return DType::Bool;
  if (is_comparison(op)) return common;
  if (op == BinaryOp::Div && !is_floating(common)) return DType::Float32;
  if (common == DType::Bool) return DType::Int64;  // bool arithmetic runs in int64
  return common;
}

// The result's dtype: bool for comparisons and logic, and (as PyTorch) for add, mul, maximum
// and minimum of bools (or, and, or, and); else the compute dtype.
DType binary_result_dtype(BinaryOp op, DType common) {
  if (is_comparison(op) || is_logical(op)) return DType::Bool;
  if (common == DType::Bool && (op == BinaryOp::Add || op == BinaryOp::Mul ||
                                op == BinaryOp::Maximum || op == BinaryOp::Minimum))
    return DType::Bool;
  return binary_compute_dtype(op, common);
}

void check_not_bool_sub(const char* op_name, BinaryOp op, DType common) {
  TG_CHECK(op != BinaryOp::Sub || common != DType::Bool, Type, op_name,
           ": subtracting bool tensors is not supported; use logical_xor() or logical_not()");
}
}  // namespace

DType result_type(const Tensor& a, const Tensor& b) {
  const bool a0 = a.dim() == 0, b0 = b.dim() == 0;
  if (a0 == b0) return promote_types(a.dtype(), b.dtype());
  const DType dimensioned = a0 ? b.dtype() : a.dtype(), zero_dim = a0 ? a.dtype() : b.dtype();
  return dtype_category(zero_dim) > dtype_category(dimensioned) ? promote_types(dimensioned, zero_dim)
                                                                : dimensioned;
}

Tensor binary(const char* op_name, BinaryOp op, const Tensor& a, const Tensor& b) {
  check_same_device(op_name, a, b);
  const Shape shape = broadcast_shapes(op_name, a.sizes(), b.sizes());
  const DType common = result_type(a, b);
  check_not_bool_sub(op_name, op, common);
  const DType dt = binary_compute_dtype(op, common);
  Tensor ac = to_dtype(a, dt), bc = to_dtype(b, dt);
  const DType out_dt = is_comparison(op) || is_logical(op) ? DType::Bool : dt;
  Tensor out = empty(shape, out_dt, a.device());
  if (out.numel() > 0)
    kernels_for(op_name, a.device())
        .binary(op, kernel_view(out), broadcast_view(ac, shape), broadcast_view(bc, shape));
  return to_dtype(out, binary_result_dtype(op, common));
}

void binary_(const char* op_name, BinaryOp op, const Tensor& self, const Tensor& other) {
  check_same_device(op_name, self, other);
  TG_CHECK(broadcast_shapes(op_name, self.sizes(), other.sizes()) == self.sizes(), Value, op_name,
           ": the other operand's shape ", other.sizes(), " cannot be broadcast to self's shape ",
           self.sizes());
  const DType common = result_type(self, other);
  check_not_bool_sub(op_name, op, common);
  const DType dt = binary_compute_dtype(op, common), result = binary_result_dtype(op, common);
  // As PyTorch: the result is cast to self's dtype unless that would lower its category (float
  // into int, int into bool).
  TG_CHECK(!is_comparison(op) && !is_logical(op) &&
               dtype_category(result) <= dtype_category(self.dtype()),
           Type, op_name, ": result type ", result, " cannot be written in place into a ",
           self.dtype(), " tensor");
  if (dt != self.dtype()) {  // computed in another dtype (e.g. float64 for a float32 self)
    if (self.numel() > 0) copy_(self, binary(op_name, op, self, other));
    bump_version(self);
    return;
  }
  if (self.numel() > 0) {
    Tensor o = to_dtype(other, dt);
    if (o.storage() == self.storage() && !o.is_same(self)) o = clone(o);
    kernels_for(op_name, self.device())
        .binary(op, kernel_view(self), kernel_view(self), broadcast_view(o, self.sizes()));
  }
  bump_version(self);
}

Tensor activation_grad(ActivationGrad op, const Tensor& grad, const Tensor& x, const Tensor& y,
                       double p0, double p1) {
  const Tensor& ref = x.defined() ? x : y;
  Tensor out = empty(ref.sizes(), ref.dtype(), ref.device());
  if (out.numel() == 0) return out;
  Tensor g = to_dtype(grad, ref.dtype());
  kernels::View empty_view;
  kernels_for("backward", ref.device())
      .activation_grad(op, kernel_view(out), broadcast_view(g, ref.sizes()),
                       x.defined() ? kernel_view(x) : empty_view,
                       y.defined() ? kernel_view(y) : empty_view, p0, p1);
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_same_device("where", cond, a);
  check_same_device("where", a, b);
  TG_CHECK(cond.dtype() == DType::Bool, Type, "where: condition must be a bool tensor, got ",
           cond.dtype());
  const Shape shape =
      broadcast_shapes("where", cond.sizes(), broadcast_shapes("where", a.sizes(), b.sizes()));
  const DType dt = result_type(a, b);
  Tensor ac = to_dtype(a, dt), bc = to_dtype(b, dt);
  Tensor out = empty(shape, dt, a.device());
  if (out.numel() > 0)
    kernels_for("where", a.device())
        .where(kernel_view(out), broadcast_view(cond, shape), broadcast_view(ac, shape),
               broadcast_view(bc, shape));
  return out;
}

// ---------------------------------------------------------------- reductions

std::vector<int64_t> reduce_dims(const char* op, const Tensor& t, const Shape& dims) {
  std::vector<int64_t> out;
  const int64_t n = t.dim();
  if (dims.empty()) {
    for (int64_t i = 0; i < n; ++i) out.push_back(i);
    return out;
  }
  std::vector<bool> seen(std::max<int64_t>(n, 1), false);
  for (int64_t d : dims) {
    const int64_t w = wrap_dim(op, d, n);
    TG_CHECK(!seen[w], Value, op, ": dim ", d, " appears more than once in ", dims);
    seen[w] = true;
    if (n > 0) out.push_back(w);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Tensor reduce(const char* op_name, ReduceOp op, const Tensor& x, const Shape& dims, bool keepdim) {
  const std::vector<int64_t> rdims = reduce_dims(op_name, x, dims);
  const int64_t n = x.dim();
  std::vector<bool> reduced(std::max<int64_t>(n, 1), false);
  for (int64_t d : rdims) reduced[d] = true;
  Shape order, out_shape, keep_shape;
  int64_t reduced_numel = 1;
  for (int64_t i = 0; i < n; ++i) {
    if (!reduced[i]) {
      order.push_back(i);
      out_shape.push_back(x.sizes()[i]);
    } else {
      reduced_numel *= x.sizes()[i];
    }
    keep_shape.push_back(reduced[i] ? 1 : x.sizes()[i]);
  }
  for (int64_t d : rdims) order.push_back(d);
  const bool needs_values = op == ReduceOp::Max || op == ReduceOp::Min ||
                            op == ReduceOp::ArgMax || op == ReduceOp::ArgMin;
  TG_CHECK(!needs_values || reduced_numel > 0, Index, op_name,
           ": cannot reduce over an empty dimension (shape ", x.sizes(), ", dims ", Shape(rdims.begin(), rdims.end()), ")");
  // Any/All read Bool and integer Sum/Prod accumulate in Int64; the kernels write reduce_out_dtype.
  Tensor in = x;
  if (op == ReduceOp::Any || op == ReduceOp::All) in = to_dtype(x, DType::Bool);
  else if ((op == ReduceOp::Sum || op == ReduceOp::Prod) && !is_floating(x.dtype())) in = to_dtype(x, DType::Int64);
  const DType out_dt = kernels::reduce_out_dtype(op, in.dtype());
  Tensor out = empty(out_shape, out_dt, x.device());
  if (out.numel() > 0) {
    Tensor permuted = permute(in, order);
    kernels_for(op_name, x.device())
        .reduce(op, kernel_view(out), kernel_view(permuted), static_cast<int>(rdims.size()));
  }
  return keepdim ? view(out, keep_shape) : out;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.sizes() == shape) return x;
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  TG_CHECK(lead >= 0, Value, "sum_to: cannot reduce shape ", x.sizes(), " to ", shape);
  Shape dims;
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (i < lead) {
      dims.push_back(i);
      continue;
    }
    const int64_t target = shape[i - lead];
    if (target == 1 && x.sizes()[i] != 1) dims.push_back(i);
    else
      TG_CHECK(target == x.sizes()[i], Value, "sum_to: cannot reduce shape ", x.sizes(), " to ", shape);
  }
  if (dims.empty()) return view(x, shape);
  return reshape(reduce("sum", ReduceOp::Sum, x, dims, true), shape);
}

// ---------------------------------------------------------------- matmul

namespace {

struct GemmOperand {
  Tensor keep;  // holds a contiguous copy alive when one was needed
  const void* data = nullptr;
  bool trans = false;
  int64_t ld = 0, batch_stride = 0, outer_stride = 0;
};

// `t` read as an [outer, batch, rows, cols] GEMM operand with the given strides, without copying
// when its layout allows (a copy is contiguous in t's own shape, whose batch dims are the
// outer ones followed by the inner ones, so it reads the same way).
GemmOperand gemm_operand(const Tensor& t, int64_t outer, int64_t batch, int64_t s_outer,
                         int64_t s0, int64_t rows, int64_t cols, int64_t s_r, int64_t s_c) {
  GemmOperand op;
  op.batch_stride = batch == 1 ? 0 : s0;
  op.outer_stride = outer == 1 ? 0 : s_outer;
  if ((s_c == 1 || cols == 1) && (rows == 1 || s_r >= std::max<int64_t>(cols, 1))) {
    op.data = t.data_ptr();
    op.ld = rows == 1 ? std::max<int64_t>(cols, 1) : s_r;
    op.keep = t;
    return op;
  }
  if ((s_r == 1 || rows == 1) && (cols == 1 || s_c >= std::max<int64_t>(rows, 1))) {
    op.data = t.data_ptr();
    op.trans = true;
    op.ld = cols == 1 ? std::max<int64_t>(rows, 1) : s_c;
    op.keep = t;
    return op;
  }
  op.keep = clone(t);
  op.data = op.keep.data_ptr();
  op.ld = std::max<int64_t>(cols, 1);
  op.batch_stride = batch == 1 ? 0 : rows * cols;
  op.outer_stride = outer == 1 ? 0 : batch * rows * cols;
  return op;
}

GemmOperand gemm_operand(const Tensor& t) {
  return gemm_operand(t, 1, t.sizes()[0], 0, t.strides()[0], t.sizes()[1], t.sizes()[2],
                      t.strides()[1], t.strides()[2]);
}

void run_gemm(const char* op, const GemmOperand& ga, const GemmOperand& gb, Tensor& out,
              int64_t outer, int64_t batch, int64_t m, int64_t n, int64_t k, bool accumulate) {
  kernels::GemmArgs args;
  args.dtype = out.dtype();
  args.trans_a = ga.trans;
  args.trans_b = gb.trans;
  args.m = m;
  args.n = n;
  args.k = k;
  args.batch = batch;
  args.outer = outer;
  args.a = ga.data;
  args.lda = ga.ld;
  args.stride_a = ga.batch_stride;
  args.outer_stride_a = ga.outer_stride;
  args.b = gb.data;
  args.ldb = gb.ld;
  args.stride_b = gb.batch_stride;
  args.outer_stride_b = gb.outer_stride;
  args.c = out.data_ptr();
  args.ldc = n;
  args.stride_c = m * n;
  args.outer_stride_c = batch * m * n;
  args.beta = accumulate ? 1.0 : 0.0;
  kernels_for(op, out.device()).gemm(args);
}

// [B, M, K] @ [B, K, N]; with `accumulate`, adds onto `out`'s values instead of overwriting them.
Tensor batched_mm(const Tensor& a, const Tensor& b, Tensor out = Tensor(), bool accumulate = false) {
  const int64_t batch = a.sizes()[0], m = a.sizes()[1], k = a.sizes()[2], n = b.sizes()[2];
  if (!out.defined()) out = empty({batch, m, n}, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  run_gemm("matmul", gemm_operand(a), gemm_operand(b), out, 1, batch, m, n, k, accumulate);
  return out;
}

// matmul of 1-D and 2-D operands straight from their strides: no views, one allocation (the
// result), which is most of the cost of a tiny product.
Tensor matmul_2d(const Tensor& a, const Tensor& b) {
  const bool a_vec = a.dim() == 1, b_vec = b.dim() == 1;
  const int64_t m = a_vec ? 1 : a.sizes()[0], k = a.sizes().back();
  const int64_t k2 = b.sizes()[0], n = b_vec ? 1 : b.sizes()[1];
  TG_CHECK(k == k2, Value, "matmul: shapes ", a.sizes(), " and ", b.sizes(),
           " cannot be multiplied (", k, " != ", k2, ")");
  Shape out_shape;
  if (!a_vec) out_shape.push_back(m);
  if (!b_vec) out_shape.push_back(n);
  Tensor out = empty(out_shape, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  const GemmOperand ga = a_vec ? gemm_operand(a, 1, 1, 0, 0, 1, k, k, a.strides()[0])
                               : gemm_operand(a, 1, 1, 0, 0, m, k, a.strides()[0], a.strides()[1]);
  const GemmOperand gb = b_vec ? gemm_operand(b, 1, 1, 0, 0, k, 1, b.strides()[0], 1)
                               : gemm_operand(b, 1, 1, 0, 0, k, n, b.strides()[0], b.strides()[1]);
  run_gemm("matmul", ga, gb, out, 1, 1, m, n, k, false);
  return out;
}

// The one stride that steps through batch dims [lo, hi) of t as a single dim (dims of size 1
// ignored; 0 when none is left), or nothing when they do not merge.
std::optional<int64_t> merged_batch_stride(const Tensor& t, size_t lo, size_t hi) {
  std::optional<int64_t> inner;
  int64_t next = 0;  // the stride the next outer dim needs to continue the run
  for (size_t d = hi; d-- > lo;) {
    const int64_t size = t.sizes()[d], stride = t.strides()[d];
    if (size == 1) continue;
    if (inner && stride != next) return std::nullopt;
    if (!inner) inner = stride;
    next = stride * size;
  }
  return inner.value_or(0);
}

bool batch_splits_at(const Tensor& t, size_t split, size_t dims) {
  return merged_batch_stride(t, 0, split) && merged_batch_stride(t, split, dims);
}

// `a` [batch..., M, K] @ `b` [batch..., K, N] (equal batch shapes) as one GEMM call. The batch
// dims are split into an outer and an inner level, each with one stride per operand, where the
// operands' layouts allow (attention's heads: [N, H, T, d] views of [N, T, E]); an operand that
// fits no split is copied. On CUDA the batch stays one level (there the outer level is a launch
// per item, which costs more than the copy).
Tensor batched_matmul(Tensor a, Tensor b) {
  const size_t dims = a.dim() - 2;
  const int64_t m = a.sizes()[dims], k = a.sizes()[dims + 1], n = b.sizes()[dims + 1];
  size_t split = 0;
  int misfits = !batch_splits_at(a, 0, dims) + !batch_splits_at(b, 0, dims);
  for (size_t s = 1; misfits > 0 && s < dims && a.device().is_cpu(); ++s) {
    const int here = !batch_splits_at(a, s, dims) + !batch_splits_at(b, s, dims);
    if (here < misfits) split = s, misfits = here;
  }
  if (!batch_splits_at(a, split, dims)) a = clone(a);
  if (!batch_splits_at(b, split, dims)) b = clone(b);
  Shape out_shape(a.sizes().begin(), a.sizes().begin() + dims);
  const int64_t outer = numel_of(Shape(out_shape.begin(), out_shape.begin() + split));
  const int64_t batch = numel_of(out_shape) / std::max<int64_t>(outer, 1);
  out_shape.insert(out_shape.end(), {m, n});
  Tensor out = empty(out_shape, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  auto operand = [&](const Tensor& t, int64_t rows, int64_t cols) {
    return gemm_operand(t, outer, batch, *merged_batch_stride(t, 0, split),
                        *merged_batch_stride(t, split, dims), rows, cols, t.strides()[dims],
                        t.strides()[dims + 1]);
  };
  run_gemm("matmul", operand(a, m, k), operand(b, k, n), out, outer, batch, m, n, k, false);
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_same_device("matmul", a, b);
  TG_CHECK(a.dim() >= 1 && b.dim() >= 1, Value,
           "matmul: both arguments need at least 1 dimension, got shapes ", a.sizes(), " and ",
           b.sizes());
  TG_CHECK(a.dtype() == b.dtype(), Type, "matmul: expected both operands to have the same dtype, got ",
           a.dtype(), " and ", b.dtype());
  TG_CHECK(is_floating(a.dtype()), Type, "matmul: expected floating-point operands, got ", a.dtype());
  if (a.dim() <= 2 && b.dim() <= 2) return matmul_2d(a, b);
  Tensor a2 = a.dim() == 1 ? unsqueeze(a, 0) : a;
  Tensor b2 = b.dim() == 1 ? unsqueeze(b, 1) : b;
  const int64_t m = a2.sizes()[a2.dim() - 2], k = a2.sizes()[a2.dim() - 1];
  const int64_t k2 = b2.sizes()[b2.dim() - 2], n = b2.sizes()[b2.dim() - 1];
  TG_CHECK(k == k2, Value, "matmul: shapes ", a.sizes(), " and ", b.sizes(),
           " cannot be multiplied (", k, " != ", k2, ")");
  Shape batch_a(a2.sizes().begin(), a2.sizes().end() - 2);
  Shape batch_b(b2.sizes().begin(), b2.sizes().end() - 2);
  Shape out_shape;
  Tensor out;
  if (batch_b.empty()) {
    // Fold a's batch dims into its rows: one GEMM.
    const int64_t rows = numel_of(batch_a) * m;
    Tensor flat = reshape(a2, {1, rows, k});
    out = batched_mm(flat, unsqueeze(b2, 0));
    out_shape = batch_a;
  } else {
    for (size_t i = 1; i <= std::min(batch_a.size(), batch_b.size()); ++i) {
      const int64_t da = batch_a[batch_a.size() - i], db = batch_b[batch_b.size() - i];
      TG_CHECK(da == db || da == 1 || db == 1, Value, "matmul: the batch dims of shapes ", a.sizes(),
               " and ", b.sizes(), " cannot be broadcast (", da, " vs ", db, ")");
    }
    out_shape = broadcast_shapes("matmul", batch_a, batch_b);
    Shape sa = out_shape, sb = out_shape;
    sa.insert(sa.end(), {m, k});
    sb.insert(sb.end(), {k, n});
    out = batched_matmul(expand(a2, sa), expand(b2, sb));
  }
  if (a.dim() > 1) out_shape.push_back(m);
  if (b.dim() > 1) out_shape.push_back(n);
  return view(out, out_shape);
}

Tensor addmm(const Tensor& bias, const Tensor& a, const Tensor& b) {
  check_same_device("addmm", a, b);
  check_same_device("addmm", bias, a);
  TG_CHECK(a.dim() == 2 && b.dim() == 2, Value, "addmm: expected 2-D matrices, got shapes ",
           a.sizes(), " and ", b.sizes());
  TG_CHECK(a.dtype() == b.dtype() && bias.dtype() == a.dtype(), Type,
           "addmm: expected bias and matrices of one dtype, got ", bias.dtype(), ", ", a.dtype(),
           " and ", b.dtype());
  TG_CHECK(is_floating(a.dtype()), Type, "addmm: expected floating-point operands, got ", a.dtype());
  const int64_t m = a.sizes()[0], k = a.sizes()[1], n = b.sizes()[1];
  TG_CHECK(k == b.sizes()[0], Value, "addmm: shapes ", a.sizes(), " and ", b.sizes(),
           " cannot be multiplied (", k, " != ", b.sizes()[0], ")");
  const Shape out_shape{m, n};
  TG_CHECK(broadcast_shapes("addmm", bias.sizes(), out_shape) == out_shape, Value,
           "addmm: bias of shape ", bias.sizes(), " does not broadcast to the product's shape ",
           out_shape);
  Tensor out = empty({1, m, n}, a.dtype(), a.device());
  copy_(out, bias);
  if (k == 0) return view(out, out_shape);
  return view(batched_mm(unsqueeze(a, 0), unsqueeze(b, 0), out, /*accumulate=*/true), out_shape);
}

// ---------------------------------------------------------------- softmax

Tensor softmax(const Tensor& x, int64_t dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  check_floating(name, x);
  dim = wrap_dim(name, dim, x.dim());
  Tensor out = empty(x.sizes(), x.dtype(), x.device());
  if (out.numel() == 0) return out;
  if (x.dim() == 0) {
    fill_(out, log ? 0.0 : 1.0);
    return out;
  }
  const Shape order = moved_to_last(x.dim(), dim);
  kernels_for(name, x.device())
      .softmax(log, kernel_view(permute(out, order)), kernel_view(permute(x, order)));
  return out;
}

Tensor softmax_backward(const Tensor& grad, const Tensor& out, int64_t dim, bool log) {
  const char* name = log ? "log_softmax_backward" : "softmax_backward";
  dim = wrap_dim(name, dim, out.dim());
  Tensor g = to_dtype(grad, out.dtype());
  Tensor gin = empty(out.sizes(), out.dtype(), out.device());
  if (gin.numel() == 0) return gin;
  if (out.dim() == 0) {
    fill_(gin, 0.0);
    return gin;
  }
  const Shape order = moved_to_last(out.dim(), dim);
  kernels_for(name, out.device())
      .softmax_backward(log, kernel_view(permute(gin, order)), kernel_view(permute(g, order)),
                        kernel_view(permute(out, order)));
  return gin;
}

Tensor masked_softmax(const Tensor& x, const Tensor& mask, int64_t dim) {
  const char* name = "masked_softmax";
  check_floating(name, x);
  TG_CHECK(mask.dtype() == DType::Bool, Type, name, ": mask must be a bool tensor, got ",
           mask.dtype(), " (shape ", mask.sizes(), ")");
  check_same_device(name, x, mask);
  TG_CHECK(broadcast_shapes(name, x.sizes(), mask.sizes()) == x.sizes(), Value, name,
           ": mask of shape ", mask.sizes(), " cannot be broadcast to the input's shape ",
           x.sizes());
  dim = wrap_dim(name, dim, x.dim());
  const kernels::KernelTable& table = kernels_for(name, x.device());
  if (table.masked_softmax == nullptr) {
    // A backend without the fused kernel: the same values from where + softmax.
    return softmax(where(mask, x, scalar_like(x, -std::numeric_limits<double>::infinity())), dim,
                   false);
  }
  Tensor out = empty(x.sizes(), x.dtype(), x.device());
  if (out.numel() == 0) return out;
  // A 0-dim input is one row of one element.
  Tensor x1 = x.dim() == 0 ? unsqueeze(x, 0) : x;
  Tensor out1 = x.dim() == 0 ? unsqueeze(out, 0) : out;
  Tensor mask1 = expand(mask, x1.sizes());
  const Shape order = moved_to_last(x1.dim(), dim);
  table.masked_softmax(kernel_view(permute(out1, order)), kernel_view(permute(x1, order)),
                       kernel_view(permute(mask1, order)));
  return out;
}

// ---------------------------------------------------------------- indexing

namespace {

void check_index_tensor(const char* op, const Tensor& x, const Tensor& index) {
  check_same_device(op, x, index);
  TG_CHECK(index.dtype() == DType::Int64, Type, op, ": index must be an int64 tensor, got ",
           index.dtype());
}

void check_index_result(const char* op, kernels::IndexCheck r, int64_t dim, int64_t size) {
  TG_CHECK(r.ok, Index, op, ": index ", r.bad_index, " is out of bounds for dim ", dim, " with size ",
           size);
}

// gather/scatter: index has the tensor's ndim and fits inside `ref` on every dim but `dim`.
void check_gather_shapes(const char* op, const Tensor& x, int64_t dim, const Tensor& index,
                         const Tensor* src) {
  TG_CHECK(index.dim() == std::max<int64_t>(x.dim(), 1) || (x.dim() == 0 && index.dim() <= 1), Value,
           op, ": index must have as many dims as the input (", x.dim(), "), got shape ",
           index.sizes());
  for (int64_t d = 0; d < index.dim() && x.dim() > 0; ++d) {
    TG_CHECK(d == dim || index.sizes()[d] <= x.sizes()[d], Value, op, ": index shape ",
             index.sizes(), " exceeds input shape ", x.sizes(), " at dim ", d);
    if (src)
      TG_CHECK(index.sizes()[d] <= src->sizes()[d], Value, op, ": index shape ", index.sizes(),
               " exceeds src shape ", src->sizes(), " at dim ", d);
  }
}

}  // namespace

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index_in) {
  check_index_tensor("index_select", x, index_in);
  TG_CHECK(index_in.dim() <= 1, Value, "index_select: index must be 0-D or 1-D, got shape ",
           index_in.sizes());
  Tensor index = index_in.dim() == 0 ? unsqueeze(index_in, 0) : index_in;
  Tensor xs = x.dim() == 0 ? unsqueeze(x, 0) : x;
  dim = wrap_dim("index_select", dim, xs.dim());
  Shape shape = xs.sizes();
  shape[dim] = index.numel();
  Tensor out = empty(shape, x.dtype(), x.device());
  if (index.numel() > 0) {
    auto r = kernels_for("index_select", x.device())
                 .index_select(kernel_view(out), kernel_view(xs), kernel_view(index),
                               static_cast<int>(dim));
    check_index_result("index_select", r, dim, xs.sizes()[dim]);
  }
  return x.dim() == 0 ? view(out, index_in.sizes()) : out;
}

Tensor index_add(const Tensor& base, int64_t dim, const Tensor& index, const Tensor& src) {
  check_index_tensor("index_add", base, index);
  check_same_device("index_add", base, src);
  TG_CHECK(index.dim() == 1, Value, "index_add: index must be 1-D, got shape ", index.sizes());
  dim = wrap_dim("index_add", dim, base.dim());
  Shape expected = base.sizes();
  expected[dim] = index.numel();
  TG_CHECK(src.sizes() == expected, Value, "index_add: src shape ", src.sizes(), " must be ",
           expected);
  Tensor out = clone(base);
  if (index.numel() > 0) {
    auto r = kernels_for("index_add", base.device())
                 .index_add(kernel_view(out), kernel_view(index), kernel_view(to_dtype(src, base.dtype())),
                            static_cast<int>(dim));
    check_index_result("index_add", r, dim, base.sizes()[dim]);
  }
  return out;
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  check_index_tensor("gather", x, index);
  dim = wrap_dim("gather", dim, x.dim());
  check_gather_shapes("gather", x, dim, index, nullptr);
  Tensor out = empty(index.sizes(), x.dtype(), x.device());
  if (out.numel() > 0) {
    Tensor xs = x.dim() == 0 ? view(x, {1}) : x;
    Tensor is = index.dim() == 0 ? view(index, {1}) : index;
    auto r = kernels_for("gather", x.device())
                 .gather(kernel_view(view(out, is.sizes())), kernel_view(xs), kernel_view(is),
                         static_cast<int>(dim));
    check_index_result("gather", r, dim, xs.sizes()[dim]);
  }
  return out;
}

Tensor scatter_add(const Tensor& base, int64_t dim, const Tensor& index, const Tensor& src) {
  check_index_tensor("scatter_add", base, index);
  check_same_device("scatter_add", base, src);
  dim = wrap_dim("scatter_add", dim, base.dim());
  TG_CHECK(src.dim() == index.dim(), Value, "scatter_add: src must have as many dims as index, got ",
           src.sizes(), " and ", index.sizes());
  check_gather_shapes("scatter_add", base, dim, index, &src);
  Tensor out = clone(base);
  if (index.numel() > 0) {
    Tensor s = to_dtype(src, base.dtype());
    Tensor s_fit = as_strided(s, index.sizes(), s.strides(), s.storage_offset());
    Tensor os = base.dim() == 0 ? view(out, {1}) : out;
    Tensor is = index.dim() == 0 ? view(index, {1}) : index;
    Tensor ss = index.dim() == 0 ? view(s_fit, {1}) : s_fit;
    auto r = kernels_for("scatter_add", base.device())
                 .scatter_add(kernel_view(os), kernel_view(is), kernel_view(ss), static_cast<int>(dim));
    check_index_result("scatter_add", r, dim, os.sizes()[dim]);
    bump_version(out);
  }
  return out;
}

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  TG_CHECK(!tensors.empty(), Value, "cat: expected a non-empty list of tensors");
  const Tensor* ref = nullptr;
  for (const Tensor& t : tensors) {
    TG_CHECK(t.defined(), Value, "cat: undefined tensor in the list");
    if (!(t.dim() == 1 && t.numel() == 0) && !ref) ref = &t;  // legacy: 1-D empties are skipped
  }
  if (!ref) return clone(tensors[0]);
  TG_CHECK(ref->dim() > 0, Value, "cat: zero-dimensional tensors cannot be concatenated");
  dim = wrap_dim("cat", dim, ref->dim());
  Shape shape = ref->sizes();
  shape[dim] = 0;
  DType dt = ref->dtype();
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (t.dim() == 1 && t.numel() == 0) continue;
    check_same_device("cat", *ref, t);
    TG_CHECK(t.dim() == ref->dim(), Value, "cat: tensor ", i, " has shape ", t.sizes(),
             " but tensor 0 has shape ", ref->sizes(), " (different number of dims)");
    for (int64_t d = 0; d < t.dim(); ++d)
      TG_CHECK(d == dim || t.sizes()[d] == ref->sizes()[d], Value, "cat: sizes must match except in dim ",
               dim, ", but tensor ", i, " has shape ", t.sizes(), " and the first has ", ref->sizes());
    shape[dim] += t.sizes()[dim];
    dt = promote_types(dt, t.dtype());
  }
  Tensor out = empty(shape, dt, ref->device());
  int64_t at = 0;
  for (const Tensor& t : tensors) {
    if (t.dim() == 1 && t.numel() == 0) continue;
    const int64_t len = t.sizes()[dim];
    if (len > 0) copy_(slice(out, dim, at, at + len, 1), t);
    at += len;
  }
  return out;
}

// ---------------------------------------------------------------- random

void random_(const Tensor& t, RandomKind kind, double a, double b) {
  if (t.numel() == 0) return;
  GeneratorState draw;
  {
    std::lock_guard<std::mutex> lock(rng_mutex());
    draw = rng_state();
    ++rng_state().offset;
  }
  kernels_for("random", t.device()).random(kind, kernel_view(t), draw.seed, draw.offset, a, b);
  bump_version(t);
}

}  // namespace tg::native

namespace tg {

void manual_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lock(native::rng_mutex());
  native::rng_state() = GeneratorState{seed, 0};
}

void set_num_threads(int threads) {
  TG_CHECK(threads >= 1, Value, "set_num_threads: expected a positive number of threads, got ", threads);
  omp_set_num_threads(threads);
}

int get_num_threads() { return omp_get_max_threads(); }

uint64_t initial_seed() {
  std::lock_guard<std::mutex> lock(native::rng_mutex());
  return native::rng_state().seed;
}

GeneratorState get_rng_state() {
  std::lock_guard<std::mutex> lock(native::rng_mutex());
  return native::rng_state();
}

void set_rng_state(GeneratorState state) {
  std::lock_guard<std::mutex> lock(native::rng_mutex());
  native::rng_state() = state;
}

}  // namespace tg
