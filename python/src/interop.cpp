// Zero-copy exchange: Tensor.numpy() / tapegrad.from_numpy share CPU memory with NumPy, and
// DLPack (__dlpack__, __dlpack_device__, from_dlpack) with any framework that speaks it.
#include <pybind11/numpy.h>

#include <dlpack/dlpack.h>

#include "../../core/native.h"
#include "bind.h"

namespace tgpy {

namespace {

using TensorClass = py::class_<tg::TensorImpl, std::shared_ptr<tg::TensorImpl>>;
constexpr uint8_t kDLBoolCode = 6;  // kDLBool from DLPack 0.8 (older headers lack the name)

std::string type_name(const py::handle& h) { return py::str(py::type::of(h).attr("__name__")); }

py::dtype numpy_dtype(tg::DType t) {
  switch (t) {
    case tg::DType::Float32: return py::dtype::of<float>();
    case tg::DType::Float64: return py::dtype::of<double>();
    case tg::DType::Int64: return py::dtype::of<int64_t>();
    case tg::DType::Bool: return py::dtype::of<bool>();
  }
  TG_FAIL(Type, "numpy: unknown dtype");
}

std::optional<tg::DType> dtype_from_numpy(const py::dtype& d) {
  const char kind = d.kind();
  const auto size = d.itemsize();
  if (kind == 'f' && size == 4) return tg::kFloat32;
  if (kind == 'f' && size == 8) return tg::kFloat64;
  if (kind == 'i' && size == 8) return tg::kInt64;
  if (kind == 'b' && size == 1) return tg::kBool;
  return std::nullopt;
}

void check_strides(const char* op, const tg::Shape& strides) {
  for (int64_t s : strides)
    TG_CHECK(s >= 0, Value, op, ": negative strides are not supported (strides ", strides,
             "); make a copy first (e.g. numpy's .copy())");
}

// A tensor over memory someone else owns: sizes and strides in elements (checked by
// check_strides first); `owner` runs when the last view of the memory is gone.
Tensor wrap_memory(void* data, const tg::Shape& sizes, const tg::Shape& strides, tg::DType dtype,
                   std::function<void(void*)> owner) {
  int64_t extent = 1;
  for (int64_t s : sizes)
    if (s == 0) extent = 0;
  if (extent != 0)
    for (size_t i = 0; i < sizes.size(); ++i) extent += (sizes[i] - 1) * strides[i];
  Tensor base = tg::from_blob(data, {extent}, dtype, std::move(owner));
  return tg::native::as_strided(base, sizes, strides, 0);
}

// Releases a Python object from whatever thread drops the last view of its memory.
std::function<void(void*)> python_owner(py::object obj) {
  PyObject* raw = obj.release().ptr();
  return [raw](void*) {
    if (!Py_IsInitialized()) return;
    py::gil_scoped_acquire gil;
    Py_DECREF(raw);
  };
}

py::object to_numpy(const Tensor& t, bool force) {
  Tensor x = t;
  if (force) x = x.detach().cpu();
  TG_CHECK(!x.requires_grad(), Runtime, "numpy: can't call numpy() on a tensor that requires grad; "
           "use tensor.detach().numpy()");
  TG_CHECK(x.device().is_cpu(), Type, "numpy: can't convert a ", x.device().str(),
           " tensor to numpy; copy it to the host first with .cpu()");
  std::vector<py::ssize_t> shape(x.sizes().begin(), x.sizes().end()), strides;
  const auto item = static_cast<py::ssize_t>(tg::element_size(x.dtype()));
  for (int64_t s : x.strides()) strides.push_back(s * item);
  if (x.numel() == 0) return py::array(numpy_dtype(x.dtype()), shape);
  auto* keep = new Tensor(x);
  py::capsule owner(keep, [](void* p) { delete static_cast<Tensor*>(p); });
  return py::array(numpy_dtype(x.dtype()), shape, strides, x.data_ptr(), owner);
}

Tensor from_numpy(const py::object& obj) {
  TG_CHECK(py::isinstance<py::array>(obj), Type, "from_numpy: expected a numpy.ndarray, got ", type_name(obj));
  auto arr = py::reinterpret_borrow<py::array>(obj);
  auto dtype = dtype_from_numpy(arr.dtype());
  TG_CHECK(dtype.has_value(), Type, "from_numpy: numpy dtype ", std::string(py::str(arr.dtype())),
           " is not supported (float32, float64, int64 and bool are); convert with .astype() or use "
           "tapegrad.tensor() to copy");
  TG_CHECK(arr.writeable(), Value, "from_numpy: the array is read-only, and the tensor would share "
           "its memory; pass a writeable array, or copy with tapegrad.tensor(array)");
  TG_CHECK(arr.ndim() <= tg::kernels::kMaxDims, Value, "from_numpy: ", arr.ndim(), " dims is more than ",
           tg::kernels::kMaxDims);
  const auto item = arr.itemsize();
  tg::Shape sizes, strides;
  for (py::ssize_t i = 0; i < arr.ndim(); ++i) {
    sizes.push_back(arr.shape(i));
    TG_CHECK(arr.strides(i) % item == 0, Value, "from_numpy: stride ", arr.strides(i), " bytes of dim ",
             i, " is not a multiple of the element size ", item);
    strides.push_back(arr.strides(i) / item);
  }
  TG_CHECK(reinterpret_cast<uintptr_t>(arr.data()) % item == 0, Value,
           "from_numpy: the array's data is not aligned to its element size");
  check_strides("from_numpy", strides);
  return wrap_memory(arr.mutable_data(), sizes, strides, *dtype, python_owner(obj));
}

// ---------------------------------------------------------------- DLPack

struct ExportContext {
  Tensor tensor;
  tg::Shape shape, strides;
  DLManagedTensor managed;
};

void delete_export(DLManagedTensor* m) { delete static_cast<ExportContext*>(m->manager_ctx); }

DLDataType dl_dtype(tg::DType t) {
  switch (t) {
    case tg::DType::Float32: return {kDLFloat, 32, 1};
    case tg::DType::Float64: return {kDLFloat, 64, 1};
    case tg::DType::Int64: return {kDLInt, 64, 1};
    case tg::DType::Bool: return {kDLBoolCode, 8, 1};
  }
  TG_FAIL(Type, "__dlpack__: unknown dtype");
}

py::capsule to_dlpack(const Tensor& t) {
  TG_CHECK(!t.requires_grad(), Runtime, "__dlpack__: can't export a tensor that requires grad; "
           "use tensor.detach()");
  auto* ctx = new ExportContext{t, t.sizes(), t.strides(), {}};
  DLTensor& d = ctx->managed.dl_tensor;
  // The first element's address with byte_offset 0, as NumPy exports: some consumers (PyTorch
  // 1.x) ignore byte_offset.
  d.data = t.numel() == 0 ? nullptr
                          : static_cast<char*>(t.storage()->data) +
                                t.storage_offset() * tg::element_size(t.dtype());
  d.byte_offset = 0;
  d.device = {t.device().is_cpu() ? kDLCPU : kDLCUDA, t.device().is_cpu() ? 0 : t.device().index};
  d.ndim = static_cast<int32_t>(t.dim());
  d.dtype = dl_dtype(t.dtype());
  d.shape = ctx->shape.data();
  d.strides = ctx->strides.data();
  ctx->managed.manager_ctx = ctx;
  ctx->managed.deleter = delete_export;
  // A capsule nobody consumed frees itself; a consumer renames it "used_dltensor" and owns it.
  return py::capsule(&ctx->managed, "dltensor", [](PyObject* cap) {
    if (PyCapsule_IsValid(cap, "dltensor")) {
      auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap, "dltensor"));
      if (m && m->deleter) m->deleter(m);
    }
  });
}

Tensor from_dlpack(const py::object& obj) {
  if (py::isinstance<tg::TensorImpl>(obj)) return py::cast<Tensor>(obj);
  py::object cap_obj = obj;
  if (py::hasattr(obj, "__dlpack__")) cap_obj = obj.attr("__dlpack__")();
  TG_CHECK(PyCapsule_IsValid(cap_obj.ptr(), "dltensor"), Type, "from_dlpack: expected an object "
           "with __dlpack__ or an unused DLPack capsule, got ", type_name(obj));
  auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap_obj.ptr(), "dltensor"));
  const DLTensor& d = m->dl_tensor;
  auto release = [m](void*) { if (m->deleter) m->deleter(m); };
  // From here on the memory is ours to release, whatever happens.
  PyCapsule_SetName(cap_obj.ptr(), "used_dltensor");
  std::optional<tg::DType> dtype;
  if (d.dtype.lanes == 1) {
    if (d.dtype.code == kDLFloat && d.dtype.bits == 32) dtype = tg::kFloat32;
    if (d.dtype.code == kDLFloat && d.dtype.bits == 64) dtype = tg::kFloat64;
    if (d.dtype.code == kDLInt && d.dtype.bits == 64) dtype = tg::kInt64;
    if (d.dtype.code == kDLBoolCode && d.dtype.bits == 8) dtype = tg::kBool;
  }
  if (!dtype || d.device.device_type != kDLCPU || d.ndim < 0 || d.ndim > tg::kernels::kMaxDims) {
    release(nullptr);
    TG_CHECK(dtype.has_value(), Type, "from_dlpack: DLPack dtype (code ", int(d.dtype.code), ", bits ",
             int(d.dtype.bits), ", lanes ", d.dtype.lanes, ") is not supported (float32, float64, int64, bool)");
    TG_CHECK(d.device.device_type == kDLCPU, Type, "from_dlpack: DLPack device type ",
             int(d.device.device_type), " is not supported: from_dlpack imports CPU memory only "
             "(copy CUDA tensors with .cpu() first)");
    TG_FAIL(Value, "from_dlpack: ", d.ndim, " dims is not supported");
  }
  tg::Shape sizes(d.shape, d.shape + d.ndim), strides;
  if (d.strides) {
    strides.assign(d.strides, d.strides + d.ndim);
  } else {
    strides = tg::contiguous_strides(sizes);
  }
  auto* data = static_cast<char*>(d.data) + d.byte_offset;
  try {
    check_strides("from_dlpack", strides);
  } catch (...) {
    release(nullptr);
    throw;
  }
  return wrap_memory(data, sizes, strides, *dtype, release);
}

}  // namespace

void init_interop(py::module_& m, TensorClass& cls) {
  cls.def("numpy", &to_numpy, py::kw_only(), py::arg("force") = false)
      .def("__array__", [](const Tensor& t, const py::object& dtype) {
        py::object a = to_numpy(t, false);
        return dtype.is_none() ? a : a.attr("astype")(dtype);
      }, py::arg("dtype") = py::none())
      .def("__dlpack__", [](const Tensor& t, const py::object&) { return to_dlpack(t); },
           py::kw_only(), py::arg("stream") = py::none())
      .def("__dlpack_device__", [](const Tensor& t) {
        return py::make_tuple(t.device().is_cpu() ? int(kDLCPU) : int(kDLCUDA),
                              t.device().is_cpu() ? 0 : t.device().index);
      });
  m.def("from_numpy", &from_numpy, py::arg("ndarray"));
  m.def("from_dlpack", &from_dlpack, py::arg("ext_tensor"));
}

}  // namespace tgpy
