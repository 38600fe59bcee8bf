#include "tensor.h"

#include <cstring>

#include "native.h"

namespace tg {

namespace {
const TensorImpl& checked(const TensorImpl* impl, const char* what) {
  TG_CHECK(impl != nullptr, Runtime, what, ": the tensor is undefined");
  return *impl;
}
}  // namespace

const Shape& Tensor::sizes() const { return checked(impl(), "sizes").sizes; }
const Shape& Tensor::strides() const { return checked(impl(), "strides").strides; }
int64_t Tensor::dim() const { return static_cast<int64_t>(sizes().size()); }
int64_t Tensor::numel() const { return numel_of(sizes()); }
int64_t Tensor::storage_offset() const { return checked(impl(), "storage_offset").offset; }
DType Tensor::dtype() const { return checked(impl(), "dtype").dtype; }
Device Tensor::device() const { return checked(impl(), "device").storage->device; }
const std::shared_ptr<Storage>& Tensor::storage() const { return checked(impl(), "storage").storage; }
TensorOptions Tensor::options() const { return TensorOptions(dtype()).device(device()); }

int64_t Tensor::size(int64_t d) const {
  TG_CHECK(dim() > 0, Index, "size: dim ", d, " was given but the tensor is 0-dim (no dims)");
  return sizes()[wrap_dim("size", d, dim())];
}
int64_t Tensor::stride(int64_t d) const {
  TG_CHECK(dim() > 0, Index, "stride: dim ", d, " was given but the tensor is 0-dim (no dims)");
  return strides()[wrap_dim("stride", d, dim())];
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    const int64_t size = sizes()[i];
    if (size == 0) return true;
    if (size != 1 && strides()[i] != expected) return false;
    expected *= size;
  }
  return true;
}

void* Tensor::data_ptr() const {
  const TensorImpl& t = checked(impl(), "data_ptr");
  return static_cast<char*>(t.storage->data) + t.offset * static_cast<int64_t>(element_size(t.dtype));
}

namespace {
template <class T>
constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::Float32; }
template <> constexpr DType dtype_of<double>() { return DType::Float64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::Int64; }
template <> constexpr DType dtype_of<bool>() { return DType::Bool; }
}  // namespace

template <class T>
T* Tensor::data_ptr() const {
  TG_CHECK(dtype() == dtype_of<T>(), Type, "data_ptr: the tensor is ", dtype(), ", not ",
           dtype_of<T>());
  TG_CHECK(device().is_cpu(), Runtime, "data_ptr<T>: the tensor is on ", device(),
           "; move it to the CPU first");
  return static_cast<T*>(data_ptr());
}
template float* Tensor::data_ptr<float>() const;
template double* Tensor::data_ptr<double>() const;
template int64_t* Tensor::data_ptr<int64_t>() const;
template bool* Tensor::data_ptr<bool>() const;

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor host = native::contiguous(native::to_dtype(native::to_device(*this, Device(kCPU)), dtype_of<T>()));
  const T* p = static_cast<const T*>(host.data_ptr());
  return std::vector<T>(p, p + host.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<bool> Tensor::to_vector<bool>() const;

double Tensor::item() const {
  TG_CHECK(numel() == 1, Value, "item: a tensor with ", numel(),
           " elements cannot be converted to a scalar (shape ", sizes(), ")");
  return to_vector<double>()[0];
}

bool Tensor::requires_grad() const {
  const TensorImpl& t = checked(impl(), "requires_grad");
  return t.requires_grad || t.grad_fn != nullptr;
}

const Tensor& Tensor::requires_grad_(bool on) const {
  TensorImpl& t = const_cast<TensorImpl&>(checked(impl(), "requires_grad_"));
  TG_CHECK(t.grad_fn == nullptr || on, Runtime,
           "requires_grad_: you can only change requires_grad of leaf tensors; use detach() for a "
           "non-leaf");
  TG_CHECK(!on || is_floating(t.dtype), Type,
           "requires_grad_: only floating-point tensors can require gradients, got ", t.dtype);
  t.requires_grad = on;
  return *this;
}

const Tensor& Tensor::grad() const { return checked(impl(), "grad").grad; }

void Tensor::set_grad(const Tensor& g) const {
  TensorImpl& t = const_cast<TensorImpl&>(checked(impl(), "set_grad"));
  if (g.defined()) {
    TG_CHECK(g.sizes() == t.sizes && g.dtype() == t.dtype && g.device() == device(), Value,
             "set_grad: the gradient (", g.sizes(), ", ", g.dtype(), ", ", g.device(),
             ") must match the tensor (", t.sizes, ", ", t.dtype, ", ", device(), ")");
  }
  t.grad = g;
}

const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const { return checked(impl(), "grad_fn").grad_fn; }
bool Tensor::is_leaf() const { return grad_fn() == nullptr; }
uint64_t Tensor::version() const { return storage()->version; }

Tensor Tensor::detach() const {
  const TensorImpl& t = checked(impl(), "detach");
  auto out = std::make_shared<TensorImpl>();
  out->storage = t.storage;
  out->sizes = t.sizes;
  out->strides = t.strides;
  out->offset = t.offset;
  out->dtype = t.dtype;
  out->is_view = true;
  out->view_history_version = t.storage->history_version;
  return Tensor(std::move(out));
}

void Tensor::set_data(const Tensor& src) const {
  TensorImpl& t = const_cast<TensorImpl&>(checked(impl(), "set_data"));
  TG_CHECK(src.defined(), Value, "set_data: the source tensor is undefined");
  TG_CHECK(!t.requires_grad || is_floating(src.dtype()), Type,
           "set_data: a tensor that requires grad needs floating-point data, got ", src.dtype());
  t.storage = src.storage();
  t.sizes = src.sizes();
  t.strides = src.strides();
  t.offset = src.storage_offset();
  t.dtype = src.dtype();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace tg
