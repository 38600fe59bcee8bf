// Shared by the CPU and CUDA kernels: the storage type of each DType (Tag, dispatch_all) and
// value conversion between them. Each backend adds its own dispatch_floating, whose error for
// an unsupported dtype is the backend's.
#pragma once
#include <cstdint>
#include <type_traits>

#include "host_device.h"
#include "kernel_api.h"

namespace tg::kernels {

using Bool = uint8_t;  // storage of DType::Bool: one byte, read as != 0

template <typename T>
struct Tag {
  using type = T;
};

// Calls f(Tag<T>{}) with T the storage type of the dtype.
template <typename F>
decltype(auto) dispatch_all(DType t, F&& f) {
  switch (t) {
    case DType::Float32: return f(Tag<float>{});
    case DType::Float64: return f(Tag<double>{});
    case DType::Int64: return f(Tag<int64_t>{});
    case DType::Bool: return f(Tag<Bool>{});
  }
  return f(Tag<float>{});
}

// Value conversion between storage types; to Bool means != 0.
template <typename To, typename From>
TG_HOST_DEVICE inline To convert(From v) {
  if constexpr (std::is_same_v<To, Bool>) {
    return v != From(0) ? Bool(1) : Bool(0);
  } else if constexpr (std::is_same_v<From, Bool>) {
    return v != 0 ? To(1) : To(0);
  } else {
    return static_cast<To>(v);
  }
}

}  // namespace tg::kernels
