// DType, Device, Shape: the small value types every room uses.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "../kernels/kernel_api.h"

namespace tg {

using Shape = std::vector<int64_t>;

constexpr DType kFloat32 = DType::Float32;
constexpr DType kFloat64 = DType::Float64;
constexpr DType kInt64 = DType::Int64;
constexpr DType kBool = DType::Bool;

const char* dtype_name(DType t);  // "float32", ...
inline size_t element_size(DType t) { return kernels::dtype_size(t); }
inline bool is_floating(DType t) { return t == DType::Float32 || t == DType::Float64; }
// The dtype both operands of a binary op are computed in (bool < int64 < float32 < float64).
DType promote_types(DType a, DType b);

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  Device() = default;
  Device(DeviceType t, int i = 0) : type(t), index(i) {}
  // "cpu" (or "cpu:0"), "cuda", "cuda:1"; anything else is an error.
  Device(const std::string& spec);
  Device(const char* spec) : Device(std::string(spec)) {}
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  std::string str() const;
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
};

constexpr DeviceType kCPU = DeviceType::CPU;
constexpr DeviceType kCUDA = DeviceType::CUDA;

std::ostream& operator<<(std::ostream& os, DType t);
std::ostream& operator<<(std::ostream& os, const Device& d);
std::ostream& operator<<(std::ostream& os, const Shape& s);  // [2, 3]
std::string shape_str(const Shape& s);

int64_t numel_of(const Shape& s);
Shape contiguous_strides(const Shape& sizes);
// NumPy broadcasting of two shapes; `op` names the caller in the error.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);
// Wraps a possibly negative dim into [0, ndim); an error names the op when out of range.
int64_t wrap_dim(const char* op, int64_t dim, int64_t ndim);

// What a factory builds: dtype, device, requires_grad. Converts implicitly from DType/Device.
struct TensorOptions {
  DType dtype_ = DType::Float32;
  Device device_{};
  bool requires_grad_ = false;
  TensorOptions() = default;
  TensorOptions(DType t) : dtype_(t) {}
  TensorOptions(Device d) : device_(d) {}
  TensorOptions(DeviceType d) : device_(d) {}
  TensorOptions dtype(DType t) const { auto o = *this; o.dtype_ = t; return o; }
  TensorOptions device(Device d) const { auto o = *this; o.device_ = d; return o; }
  TensorOptions requires_grad(bool r = true) const { auto o = *this; o.requires_grad_ = r; return o; }
};

}  // namespace tg
