// tapegrad.Tensor, dtypes, devices, factories, the differentiable ops (as methods and as module
// functions, with PyTorch's names and argument names), grad mode and autograd.grad.
#include <cmath>
#include <functional>
#include <limits>

#include "bind.h"

namespace tgpy {

using tg::DType;
using tg::Device;
using TensorClass = py::class_<tg::TensorImpl, std::shared_ptr<tg::TensorImpl>>;
using Guard = py::call_guard<py::gil_scoped_release>;

// ---------------------------------------------------------------- argument helpers

bool is_python_number(const py::handle& v) {
  return PyBool_Check(v.ptr()) || PyLong_Check(v.ptr()) || PyFloat_Check(v.ptr()) ||
         PyIndex_Check(v.ptr()) || (PyNumber_Check(v.ptr()) && py::hasattr(v, "__float__") &&
                                    !py::isinstance<tg::TensorImpl>(v));
}

double to_double(const py::handle& v) {
  if (PyBool_Check(v.ptr())) return v.ptr() == Py_True ? 1.0 : 0.0;
  if (PyLong_Check(v.ptr()) || PyIndex_Check(v.ptr())) {
    // int64's range; larger ints are an error rather than a silent wrap.
    py::int_ i = py::reinterpret_steal<py::int_>(PyNumber_Index(v.ptr()));
    if (!i) throw py::error_already_set();
    return PyLong_AsDouble(i.ptr());
  }
  return py::cast<double>(py::reinterpret_borrow<py::object>(v).attr("__float__")());
}

namespace {

enum class ScalarKind { Bool, Int, Float };

std::optional<ScalarKind> scalar_kind(const py::handle& v) {
  if (PyBool_Check(v.ptr())) return ScalarKind::Bool;
  if (py::isinstance<tg::TensorImpl>(v)) return std::nullopt;
  if (PyLong_Check(v.ptr()) || PyIndex_Check(v.ptr())) return ScalarKind::Int;
  if (PyFloat_Check(v.ptr()) || (PyNumber_Check(v.ptr()) && py::hasattr(v, "__float__")))
    return ScalarKind::Float;
  return std::nullopt;
}

int64_t to_int64(const char* op, const py::handle& v) {
  if (!PyIndex_Check(v.ptr()) || py::isinstance<tg::TensorImpl>(v) && !PyIndex_Check(v.ptr()))
    TG_FAIL(Type, op, ": expected an int, got ", std::string(py::str(py::type::of(v).attr("__name__"))));
  int overflow = 0;
  py::int_ i = py::reinterpret_steal<py::int_>(PyNumber_Index(v.ptr()));
  if (!i) throw py::error_already_set();
  const long long x = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
  TG_CHECK(!overflow, Value, op, ": ", std::string(py::str(v)), " does not fit in int64");
  return x;
}

}  // namespace

Shape int_list(const char* op, const char* name, const py::handle& v) {
  Shape out;
  if (PyIndex_Check(v.ptr()) && !py::isinstance<tg::TensorImpl>(v)) {
    out.push_back(to_int64(op, v));
  } else if (py::isinstance<py::sequence>(v) && !py::isinstance<py::str>(v)) {
    for (auto item : py::reinterpret_borrow<py::sequence>(v)) out.push_back(to_int64(op, item));
  } else {
    TG_FAIL(Type, op, ": ", name, " must be an int or a sequence of ints, got ",
            std::string(py::str(py::type::of(v).attr("__name__"))));
  }
  return out;
}

Shape shape_from_args(const char* op, const py::args& args) {
  if (args.size() == 1 && !PyIndex_Check(args[0].ptr())) return int_list(op, "size", args[0]);
  Shape out;
  for (auto a : args) out.push_back(to_int64(op, a));
  return out;
}

Shape dims_arg(const char* op, const py::handle& dim) {
  if (dim.is_none()) return {};
  return int_list(op, "dim", dim);
}

Tensor as_floating(const Tensor& t) { return t.is_floating_point() ? t : tg::to(t, tg::kFloat32); }

std::optional<Tensor> scalar_operand(const Tensor& like, const py::handle& v) {
  auto kind = scalar_kind(v);
  if (!kind) return std::nullopt;
  DType dtype = like.dtype();
  if (*kind == ScalarKind::Float && !like.is_floating_point()) dtype = tg::kFloat32;
  if (*kind == ScalarKind::Int && dtype == tg::kBool) dtype = tg::kInt64;
  return tg::scalar_tensor(to_double(v), tg::TensorOptions(dtype).device(like.device()));
}

namespace {

// The tensor a binary op with a Python scalar computes on, and the scalar: integral tensors
// meet float scalars in float32, bool tensors meet ints in int64 (PyTorch's promotion).
std::optional<std::pair<Tensor, double>> with_scalar(const Tensor& a, const py::handle& v) {
  auto kind = scalar_kind(v);
  if (!kind) return std::nullopt;
  Tensor x = a;
  if (*kind == ScalarKind::Float && !a.is_floating_point()) x = tg::to(a, tg::kFloat32);
  if (*kind == ScalarKind::Int && a.dtype() == tg::kBool) x = tg::to(a, tg::kInt64);
  return std::make_pair(x, to_double(v));
}

py::object not_implemented() { return py::reinterpret_borrow<py::object>(Py_NotImplemented); }

DType dtype_of(const py::handle& h) { return py::cast<DType>(h); }

Device device_of(const py::handle& h) {
  if (py::isinstance<py::str>(h)) return Device(py::cast<std::string>(h));
  if (PyLong_Check(h.ptr())) return Device(tg::kCUDA, static_cast<int>(py::cast<int64_t>(h)));
  return py::cast<Device>(h);
}

}  // namespace

tg::TensorOptions options_from(const py::object& dtype, const py::object& device, bool requires_grad,
                               DType default_dtype) {
  tg::TensorOptions o(dtype.is_none() ? default_dtype : dtype_of(dtype));
  if (!device.is_none()) o = o.device(device_of(device));
  return o.requires_grad(requires_grad);
}

namespace {

// ---------------------------------------------------------------- tg.tensor(data)

struct ParsedData {
  Shape shape;
  std::vector<double> values;
  std::vector<int64_t> ints;
  bool any_float = false, any_int = false;
};

void parse_data(const py::handle& obj, size_t depth, ParsedData& p) {
  if (auto kind = scalar_kind(obj)) {
    TG_CHECK(depth == p.shape.size(), Value, "tensor: expected a sequence at depth ", depth,
             ", got a number (ragged nested sequences are not a tensor)");
    if (*kind == ScalarKind::Float) p.any_float = true;
    if (*kind == ScalarKind::Int) {
      p.any_int = true;
      p.ints.push_back(to_int64("tensor", obj));
    } else {
      p.ints.push_back(0);
    }
    p.values.push_back(to_double(obj));
    return;
  }
  if (py::isinstance<tg::TensorImpl>(obj)) {
    Tensor t = py::cast<Tensor>(obj);
    TG_CHECK(t.numel() == 1, Value, "tensor: only one-element tensors can be elements of a "
             "nested sequence, got shape ", t.sizes());
    TG_CHECK(depth == p.shape.size(), Value, "tensor: ragged nested sequence at depth ", depth);
    if (t.is_floating_point()) p.any_float = true;
    if (t.dtype() == tg::kInt64) p.any_int = true;
    p.values.push_back(t.item());
    p.ints.push_back(t.dtype() == tg::kInt64 ? t.to_vector<int64_t>()[0] : 0);
    return;
  }
  if (!py::isinstance<py::sequence>(obj) || py::isinstance<py::str>(obj))
    TG_FAIL(Type, "tensor: cannot make a tensor from an element of type ",
            std::string(py::str(py::type::of(obj).attr("__name__"))));
  auto seq = py::reinterpret_borrow<py::sequence>(obj);
  const int64_t n = static_cast<int64_t>(py::len(seq));
  if (depth == p.shape.size()) {
    TG_CHECK(p.values.empty() || depth > 0, Value, "tensor: ragged nested sequence");
    TG_CHECK(depth < static_cast<size_t>(tg::kernels::kMaxDims), Value,
             "tensor: more than ", tg::kernels::kMaxDims, " nested levels");
    if (!p.values.empty() || (depth > 0 && p.shape.back() == 0))
      TG_FAIL(Value, "tensor: ragged nested sequence at depth ", depth);
    p.shape.push_back(n);
  } else {
    TG_CHECK(depth < p.shape.size() && p.shape[depth] == n, Value, "tensor: ragged nested "
             "sequence: expected length ", depth < p.shape.size() ? p.shape[depth] : -1,
             " at depth ", depth, ", got ", n);
  }
  for (auto item : seq) parse_data(item, depth + 1, p);
}

Tensor tensor_from_data(const py::handle& data, const py::object& dtype, const py::object& device,
                        bool requires_grad) {
  Tensor out;
  if (py::isinstance<tg::TensorImpl>(data)) {
    out = py::cast<Tensor>(data).detach().clone();
    if (!dtype.is_none()) out = out.to(dtype_of(dtype));
  } else if (py::hasattr(data, "__array_interface__") || py::hasattr(data, "__dlpack__")) {
    // NumPy arrays and their kin: a copy through tapegrad.from_numpy's path.
    py::object from_numpy = py::module_::import("tapegrad._interop").attr("as_tensor_copy");
    out = py::cast<Tensor>(from_numpy(data));
    if (!dtype.is_none()) out = out.to(dtype_of(dtype));
  } else {
    ParsedData p;
    parse_data(data, 0, p);
    DType inferred = p.any_float ? tg::kFloat32 : p.any_int ? tg::kInt64 : tg::kBool;
    if (p.values.empty() && !p.shape.empty()) inferred = tg::kFloat32;
    const DType target = dtype.is_none() ? inferred : dtype_of(dtype);
    if (target == tg::kInt64 && !p.any_float)
      out = tg::tensor(p.ints, p.shape, tg::kInt64);
    else
      out = tg::tensor(p.values, p.shape, target);
    TG_CHECK(!(target == tg::kInt64 && p.any_float) || true, Value, "");
  }
  if (!device.is_none()) out = out.to(device_of(device));
  if (requires_grad) out.requires_grad_(true);
  return out;
}

// ---------------------------------------------------------------- values back to Python

py::object scalar_to_python(const Tensor& t) {
  switch (t.dtype()) {
    case DType::Int64: return py::int_(t.to_vector<int64_t>()[0]);
    case DType::Bool: return py::bool_(t.item() != 0.0);
    default: return py::float_(t.item());
  }
}

template <class T>
py::object nested_list(const std::vector<T>& v, const Shape& shape, size_t dim, size_t& pos,
                       DType dtype) {
  if (dim == shape.size()) {
    const T x = v[pos++];
    if (dtype == DType::Bool) return py::bool_(x != 0);
    return py::cast(x);
  }
  py::list out(shape[dim]);
  for (int64_t i = 0; i < shape[dim]; ++i) out[i] = nested_list(v, shape, dim + 1, pos, dtype);
  return out;
}

py::object tolist(const Tensor& t) {
  size_t pos = 0;
  if (t.dtype() == DType::Int64) return nested_list(t.to_vector<int64_t>(), t.sizes(), 0, pos, t.dtype());
  return nested_list(t.to_vector<double>(), t.sizes(), 0, pos, t.dtype());
}

py::object g_size_type;    // tapegrad.Size, set by the package
py::object g_return_types; // tapegrad.return_types module

py::object size_object(const Shape& s) {
  py::tuple t(s.size());
  for (size_t i = 0; i < s.size(); ++i) t[i] = py::int_(s[i]);
  return g_size_type ? g_size_type(t) : py::object(t);
}

py::object values_indices(const char* which, std::tuple<Tensor, Tensor> r) {
  if (!g_return_types) g_return_types = py::module_::import("tapegrad.return_types");
  return g_return_types.attr(which)(std::get<0>(r), std::get<1>(r));
}

// ---------------------------------------------------------------- .to(...)

Tensor to_any(const Tensor& self, const py::args& args, const py::kwargs& kwargs) {
  std::optional<DType> dtype;
  std::optional<Device> device;
  bool copy = false;
  for (auto a : args) {
    if (py::isinstance<tg::TensorImpl>(a)) {
      Tensor o = py::cast<Tensor>(a);
      dtype = o.dtype();
      device = o.device();
    } else if (py::isinstance<DType>(a)) {
      dtype = dtype_of(a);
    } else if (py::isinstance<py::str>(a) || py::isinstance<Device>(a)) {
      device = device_of(a);
    } else {
      TG_FAIL(Type, "to: expected a dtype, a device or a tensor, got ",
              std::string(py::str(py::type::of(a).attr("__name__"))));
    }
  }
  for (auto kv : kwargs) {
    const std::string key = py::cast<std::string>(kv.first);
    if (key == "dtype") {
      if (!kv.second.is_none()) dtype = dtype_of(kv.second);
    } else if (key == "device") {
      if (!kv.second.is_none()) device = device_of(kv.second);
    } else if (key == "copy") {
      copy = py::cast<bool>(kv.second);
    } else if (key != "non_blocking") {
      TG_FAIL(Type, "to: unexpected keyword argument '", key, "'");
    }
  }
  py::gil_scoped_release release;
  Tensor out = self;
  if (device) out = tg::to(out, *device);
  if (dtype) out = tg::to(out, *dtype);
  if (copy && out.is_same(self)) out = tg::clone(self);
  return out;
}

// ---------------------------------------------------------------- registration helpers

// Defines `name` as a method and as a module function whose first argument is `input`.
template <class Fn, class... Extra>
void both(TensorClass& cls, py::module_& m, const char* name, Fn&& fn, const Extra&... extra) {
  cls.def(name, fn, extra...);
  m.def(name, fn, py::arg("input"), extra...);
}

Tensor sum_(const Tensor& x, const py::object& dim, bool keepdim, const py::object& dtype) {
  Tensor in = dtype.is_none() ? x : tg::to(x, dtype_of(dtype));
  return tg::sum(in, dims_arg("sum", dim), keepdim);
}

Tensor mean_(const Tensor& x, const py::object& dim, bool keepdim, const py::object& dtype) {
  Tensor in = dtype.is_none() ? x : tg::to(x, dtype_of(dtype));
  TG_CHECK(in.is_floating_point(), Type, "mean: needs a floating-point input (got ", in.dtype(),
           "); pass dtype=tapegrad.float32 or convert with .float()");
  return tg::mean(in, dims_arg("mean", dim), keepdim);
}

int64_t correction_of(const py::object& unbiased, const py::object& correction) {
  if (!correction.is_none()) return py::cast<int64_t>(correction);
  return unbiased.is_none() || py::cast<bool>(unbiased) ? 1 : 0;
}

py::object max_min(bool is_max, const Tensor& x, const py::object& dim_or_other, bool keepdim) {
  if (dim_or_other.is_none()) return py::cast(is_max ? tg::amax(x) : tg::amin(x));
  if (py::isinstance<tg::TensorImpl>(dim_or_other)) {
    Tensor o = py::cast<Tensor>(dim_or_other);
    return py::cast(is_max ? tg::maximum(x, o) : tg::minimum(x, o));
  }
  const int64_t dim = to_int64(is_max ? "max" : "min", dim_or_other);
  return values_indices(is_max ? "max" : "min", is_max ? tg::max(x, dim, keepdim) : tg::min(x, dim, keepdim));
}

Tensor where_(const Tensor& cond, const py::object& a, const py::object& b) {
  const bool ta = py::isinstance<tg::TensorImpl>(a), tb = py::isinstance<tg::TensorImpl>(b);
  if (ta && tb) return tg::where(cond, py::cast<Tensor>(a), py::cast<Tensor>(b));
  if (ta) {
    auto s = scalar_operand(py::cast<Tensor>(a), b);
    TG_CHECK(s.has_value(), Type, "where: other must be a tensor or a number");
    return tg::where(cond, py::cast<Tensor>(a), *s);
  }
  if (tb) {
    auto s = scalar_operand(py::cast<Tensor>(b), a);
    TG_CHECK(s.has_value(), Type, "where: input must be a tensor or a number");
    return tg::where(cond, *s, py::cast<Tensor>(b));
  }
  TG_CHECK(is_python_number(a) && is_python_number(b), Type,
           "where: input and other must be tensors or numbers");
  const bool floating = PyFloat_Check(a.ptr()) || PyFloat_Check(b.ptr());
  tg::TensorOptions o = tg::TensorOptions(floating ? tg::kFloat32 : tg::kInt64).device(cond.device());
  return tg::where(cond, tg::scalar_tensor(to_double(a), o), tg::scalar_tensor(to_double(b), o));
}

Tensor clamp_(const Tensor& x, const py::object& min, const py::object& max) {
  std::optional<double> lo, hi;
  if (!min.is_none()) lo = to_double(min);
  if (!max.is_none()) hi = to_double(max);
  TG_CHECK(lo || hi, Value, "clamp: at least one of min and max must be given");
  return tg::clamp(x, lo, hi);
}

// x.repeat(*sizes): tiles through unsqueeze/expand/reshape, so it is differentiable as they are.
Tensor repeat_(const Tensor& x, const Shape& reps) {
  TG_CHECK(reps.size() >= static_cast<size_t>(x.dim()), Value, "repeat: the number of repeats (",
           reps.size(), ") cannot be smaller than the number of dims (", x.dim(), ")");
  for (int64_t r : reps) TG_CHECK(r >= 0, Value, "repeat: repeats must be non-negative, got ", reps);
  Tensor t = x;
  while (static_cast<size_t>(t.dim()) < reps.size()) t = t.unsqueeze(0);
  Shape expanded, final_shape;
  Tensor u = t;
  for (int64_t d = t.dim() - 1; d >= 0; --d) u = u.unsqueeze(d);  // [1, s0, 1, s1, ...]
  for (int64_t d = 0; d < t.dim(); ++d) {
    expanded.push_back(reps[d]);
    expanded.push_back(t.size(d));
    final_shape.push_back(reps[d] * t.size(d));
  }
  return u.expand(expanded).reshape(final_shape);
}

Tensor dtype_cast(const Tensor& x, DType dtype) { return tg::to(x, dtype); }

}  // namespace

// ---------------------------------------------------------------- the module

void init_tensor(py::module_& m) {
  py::enum_<DType> dtype_cls(m, "dtype");
  dtype_cls.value("float32", DType::Float32)
      .value("float64", DType::Float64)
      .value("int64", DType::Int64)
      .value("bool", DType::Bool)
      .def_property_readonly("is_floating_point", [](DType d) { return tg::is_floating(d); })
      .def_property_readonly("itemsize", [](DType d) { return tg::element_size(d); });
  // Replaced, not overloaded: .def would chain after enum_'s own __repr__, which always matches.
  auto dtype_repr = [](DType d) { return std::string("tapegrad.") + tg::dtype_name(d); };
  dtype_cls.attr("__repr__") = py::cpp_function(dtype_repr, py::is_method(dtype_cls));
  dtype_cls.attr("__str__") = py::cpp_function(dtype_repr, py::is_method(dtype_cls));

  py::class_<Device>(m, "device")
      .def(py::init([](const std::string& spec) { return Device(spec); }), py::arg("type"))
      .def(py::init([](const std::string& type, int index) {
             Device d(type);
             TG_CHECK(index >= 0, Value, "device: index must be non-negative, got ", index);
             return Device(d.type, index);
           }),
           py::arg("type"), py::arg("index"))
      .def(py::init([](const Device& d) { return d; }))
      .def_property_readonly("type", [](const Device& d) { return d.is_cpu() ? "cpu" : "cuda"; })
      .def_property_readonly("index", [](const Device& d) -> py::object {
        return d.is_cpu() ? py::none() : py::object(py::int_(d.index));
      })
      .def("__str__", &Device::str)
      .def("__repr__", [](const Device& d) {
        return d.is_cpu() ? std::string("device(type='cpu')")
                          : "device(type='cuda', index=" + std::to_string(d.index) + ")";
      })
      .def("__eq__", [](const Device& a, const py::object& b) {
        if (py::isinstance<py::str>(b)) return a == Device(py::cast<std::string>(b));
        return py::isinstance<Device>(b) && a == py::cast<Device>(b);
      })
      .def("__hash__", [](const Device& d) { return static_cast<int>(d.type) * 1000 + d.index; });
  py::implicitly_convertible<std::string, Device>();

  py::class_<tg::autograd::Node, std::shared_ptr<tg::autograd::Node>>(m, "Node")
      .def("name", [](const tg::autograd::Node& n) { return tg::autograd::backward_name(n); })
      .def("__repr__", [](const tg::autograd::Node& n) { return "<" + tg::autograd::backward_name(n) + " object>"; });

  TensorClass cls(m, "Tensor");
  // Tensor(data, requires_grad): a new tensor sharing data's values (how Parameter is made).
  // _alias: this Python object becomes another handle to data itself (how the engine's own
  // parameters become nn.Parameter objects without a copy or a new identity).
  cls.def(py::init([](const Tensor& data, bool requires_grad, bool alias) {
            if (alias) return data.impl_ptr();
            Tensor t = data.detach();
            if (requires_grad) t.requires_grad_(true);
            return t.impl_ptr();
          }),
          py::arg("data"), py::arg("requires_grad") = false, py::arg("_alias") = false);

  m.def("_set_size_type", [](py::object t) { g_size_type = std::move(t); });
  // Drop the Python objects this module holds before the interpreter goes away.
  m.add_object("_cleanup", py::capsule([]() {
    g_size_type.release().dec_ref();
    g_return_types.release().dec_ref();
  }));

  // ---- metadata
  cls.def_property_readonly("shape", [](const Tensor& t) { return size_object(t.sizes()); })
      .def("size", [](const Tensor& t, const py::object& dim) -> py::object {
             if (dim.is_none()) return size_object(t.sizes());
             return py::int_(t.size(to_int64("size", dim)));
           }, py::arg("dim") = py::none())
      .def("stride", [](const Tensor& t, const py::object& dim) -> py::object {
             if (dim.is_none()) {
               py::tuple s(t.dim());
               for (int64_t i = 0; i < t.dim(); ++i) s[i] = py::int_(t.stride(i));
               return s;
             }
             return py::int_(t.stride(to_int64("stride", dim)));
           }, py::arg("dim") = py::none())
      .def("dim", [](const Tensor& x) -> int64_t { return x.dim(); })
      .def("ndimension", [](const Tensor& x) -> int64_t { return x.dim(); })
      .def_property_readonly("ndim", [](const Tensor& x) -> int64_t { return x.dim(); })
      .def("numel", [](const Tensor& x) -> int64_t { return x.numel(); })
      .def("nelement", [](const Tensor& x) -> int64_t { return x.numel(); })
      .def("element_size", [](const Tensor& t) { return tg::element_size(t.dtype()); })
      .def_property_readonly("dtype", [](const Tensor& x) -> DType { return x.dtype(); })
      .def_property_readonly("device", [](const Tensor& x) -> Device { return x.device(); })
      .def_property_readonly("is_cuda", [](const Tensor& t) { return t.device().is_cuda(); })
      .def("is_contiguous", [](const Tensor& x) -> bool { return x.is_contiguous(); })
      .def("is_floating_point", [](const Tensor& x) -> bool { return x.is_floating_point(); })
      .def("storage_offset", [](const Tensor& x) -> int64_t { return x.storage_offset(); })
      .def("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.data_ptr()); })
      .def("__len__", [](const Tensor& t) {
        TG_CHECK(t.dim() > 0, Type, "len() of a 0-d tensor");
        return t.size(0);
      })
      .def("__iter__", [](const Tensor& t) {
        TG_CHECK(t.dim() > 0, Type, "iteration over a 0-d tensor");
        py::list rows;
        for (int64_t i = 0; i < t.size(0); ++i) rows.append(py::cast(tg::select(t, 0, i)));
        return py::iter(rows);
      })
      .def("__hash__", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.impl()); })
      .def("__repr__", [](const Tensor& x) -> std::string { return x.str(); })
      .def("item", [](const Tensor& t) {
        TG_CHECK(t.numel() == 1, Value, "item: a Tensor with ", t.numel(),
                 " elements cannot be converted to Scalar (shape ", t.sizes(), ")");
        return scalar_to_python(t);
      })
      .def("tolist", [](const Tensor& t) { return t.dim() == 0 ? scalar_to_python(t) : tolist(t); })
      .def("__bool__", [](const Tensor& t) {
        TG_CHECK(t.numel() == 1, Runtime, "Boolean value of Tensor with ", t.numel(),
                 " values is ambiguous (shape ", t.sizes(), "); use .any() or .all()");
        return t.item() != 0.0;
      })
      .def("__float__", [](const Tensor& t) {
        TG_CHECK(t.numel() == 1, Type, "only one element tensors can be converted to Python "
                 "scalars (shape ", t.sizes(), ")");
        return t.item();
      })
      .def("__int__", [](const Tensor& t) -> int64_t {
        TG_CHECK(t.numel() == 1, Type, "only one element tensors can be converted to Python "
                 "scalars (shape ", t.sizes(), ")");
        if (t.dtype() == DType::Int64) return t.to_vector<int64_t>()[0];
        const double v = t.item();
        TG_CHECK(std::isfinite(v), Value, "cannot convert ", v, " to an integer");
        return static_cast<int64_t>(v);
      })
      .def("__index__", [](const Tensor& t) -> int64_t {
        TG_CHECK(t.numel() == 1 && (t.dtype() == DType::Int64 || t.dtype() == DType::Bool), Type,
                 "only integer tensors of a single element can be converted to an index");
        return t.to_vector<int64_t>()[0];
      });

  // ---- autograd state
  cls.def_property("requires_grad", [](const Tensor& x) -> bool { return x.requires_grad(); },
                   [](const Tensor& t, bool on) { t.requires_grad_(on); })
      .def("requires_grad_", [](const Tensor& t, bool on) { t.requires_grad_(on); return t; },
           py::arg("requires_grad") = true)
      .def_property("grad", [](const Tensor& t) { return t.grad(); },
                    [](const Tensor& t, const OptTensor& g) { t.set_grad(or_undefined(g)); })
      .def_property_readonly("grad_fn", [](const Tensor& t) { return t.grad_fn(); })
      .def_property_readonly("is_leaf", [](const Tensor& x) -> bool { return x.is_leaf(); })
      .def_property_readonly("_version", [](const Tensor& x) -> uint64_t { return x.version(); })
      .def_property("data", [](const Tensor& t) { return t.detach(); },
                    [](const Tensor& t, const Tensor& src) { t.set_data(src); })
      .def("detach", [](const Tensor& x) -> Tensor { return x.detach(); })
      .def("detach_", [](const Tensor& t) {
        TG_CHECK(t.is_leaf(), Runtime, "detach_: only leaves can be detached in place here; "
                 "use detach()");
        t.requires_grad_(false);
        return t;
      })
      .def("backward",
           [](const Tensor& t, const OptTensor& gradient, const py::object& retain_graph,
              bool create_graph) {
             const bool retain = retain_graph.is_none() ? create_graph : py::cast<bool>(retain_graph);
             py::gil_scoped_release release;
             t.backward(or_undefined(gradient), retain, create_graph);
           },
           py::arg("gradient") = py::none(), py::arg("retain_graph") = py::none(),
           py::arg("create_graph") = false);

  // ---- conversions
  cls.def("to", &to_any)
      .def("cpu", [](const Tensor& t) { return tg::to(t, Device(tg::kCPU)); }, Guard())
      .def("cuda", [](const Tensor& t, const py::object& device) {
             return tg::to(t, device.is_none() ? Device(tg::kCUDA) : device_of(device));
           }, py::arg("device") = py::none())
      .def("float", [](const Tensor& t) { return dtype_cast(t, tg::kFloat32); })
      .def("double", [](const Tensor& t) { return dtype_cast(t, tg::kFloat64); })
      .def("long", [](const Tensor& t) { return dtype_cast(t, tg::kInt64); })
      .def("int", [](const Tensor& t) { return dtype_cast(t, tg::kInt64); })
      .def("bool", [](const Tensor& t) { return dtype_cast(t, tg::kBool); })
      .def("type_as", [](const Tensor& t, const Tensor& o) { return dtype_cast(t, o.dtype()); })
      .def("contiguous", [](const Tensor& t) { return tg::contiguous(t); })
      .def("clone", [](const Tensor& t) { return tg::clone(t); }, Guard());

  // ---- views
  cls.def("view", [](const Tensor& t, const py::args& a) { return tg::view(t, shape_from_args("view", a)); })
      .def("reshape", [](const Tensor& t, const py::args& a) { return tg::reshape(t, shape_from_args("reshape", a)); })
      .def("view_as", [](const Tensor& t, const Tensor& o) { return tg::view(t, o.sizes()); })
      .def("reshape_as", [](const Tensor& t, const Tensor& o) { return tg::reshape(t, o.sizes()); })
      .def("permute", [](const Tensor& t, const py::args& a) { return tg::permute(t, shape_from_args("permute", a)); })
      .def("expand", [](const Tensor& t, const py::args& a) { return tg::expand(t, shape_from_args("expand", a)); })
      .def("expand_as", [](const Tensor& t, const Tensor& o) { return tg::expand(t, o.sizes()); })
      .def("repeat", [](const Tensor& t, const py::args& a) { return repeat_(t, shape_from_args("repeat", a)); })
      .def("t", [](const Tensor& x) -> Tensor { return x.t(); })
      .def_property_readonly("T", [](const Tensor& t) {
        Shape dims;
        for (int64_t i = t.dim() - 1; i >= 0; --i) dims.push_back(i);
        return tg::permute(t, dims);
      })
      .def_property_readonly("mT", [](const Tensor& t) { return tg::transpose(t, -2, -1); })
      .def("narrow", [](const Tensor& x, int64_t d, int64_t s, int64_t l) { return x.narrow(d, s, l); }, py::arg("dim"), py::arg("start"), py::arg("length"))
      .def("select", [](const Tensor& x, int64_t d, int64_t i) { return x.select(d, i); }, py::arg("dim"), py::arg("index"))
      .def("unbind", [](const Tensor& t, int64_t dim) { return tg::unbind(t, dim); }, py::arg("dim") = 0);
  both(cls, m, "flatten", [](const Tensor& x, int64_t s, int64_t e) { return x.flatten(s, e); }, py::arg("start_dim") = 0, py::arg("end_dim") = -1);
  both(cls, m, "transpose", [](const Tensor& t, int64_t a, int64_t b) { return tg::transpose(t, a, b); },
       py::arg("dim0"), py::arg("dim1"));
  both(cls, m, "squeeze", [](const Tensor& t, std::optional<int64_t> d) { return tg::squeeze(t, d); },
       py::arg("dim") = py::none());
  both(cls, m, "unsqueeze", [](const Tensor& t, int64_t d) { return tg::unsqueeze(t, d); }, py::arg("dim"));
  m.def("reshape", [](const Tensor& t, const py::object& s) { return tg::reshape(t, int_list("reshape", "shape", s)); },
        py::arg("input"), py::arg("shape"));
  m.def("permute", [](const Tensor& t, const py::object& s) { return tg::permute(t, int_list("permute", "dims", s)); },
        py::arg("input"), py::arg("dims"));
  m.def("unbind", [](const Tensor& t, int64_t dim) { return tg::unbind(t, dim); }, py::arg("input"), py::arg("dim") = 0);
  m.def("t", [](const Tensor& x) -> Tensor { return x.t(); }, py::arg("input"));
  m.def("narrow", [](const Tensor& x, int64_t d, int64_t s, int64_t l) { return x.narrow(d, s, l); }, py::arg("input"), py::arg("dim"), py::arg("start"), py::arg("length"));
  m.def("select", [](const Tensor& x, int64_t d, int64_t i) { return x.select(d, i); }, py::arg("input"), py::arg("dim"), py::arg("index"));
  m.def("clone", [](const Tensor& t) { return tg::clone(t); }, py::arg("input"), Guard());

  // ---- pointwise
#define TG_UNARY(name) both(cls, m, #name, [](const Tensor& x) { return tg::name(x); })
  TG_UNARY(neg); TG_UNARY(exp); TG_UNARY(log); TG_UNARY(sqrt); TG_UNARY(rsqrt); TG_UNARY(square);
  TG_UNARY(abs); TG_UNARY(sign); TG_UNARY(sin); TG_UNARY(cos); TG_UNARY(log1p); TG_UNARY(expm1);
  TG_UNARY(tanh); TG_UNARY(sigmoid); TG_UNARY(relu); TG_UNARY(logical_not);
  TG_UNARY(floor); TG_UNARY(ceil); TG_UNARY(trunc); TG_UNARY(reciprocal); TG_UNARY(erf);
#undef TG_UNARY
  m.attr("negative") = m.attr("neg");
  both(cls, m, "clamp", &clamp_, py::arg("min") = py::none(), py::arg("max") = py::none());
  both(cls, m, "clip", &clamp_, py::arg("min") = py::none(), py::arg("max") = py::none());
  both(cls, m, "maximum", [](const Tensor& a, const Tensor& b) { return tg::maximum(a, b); }, py::arg("other"));
  both(cls, m, "minimum", [](const Tensor& a, const Tensor& b) { return tg::minimum(a, b); }, py::arg("other"));
  both(cls, m, "logical_and", [](const Tensor& a, const Tensor& b) { return tg::logical_and(a, b); }, py::arg("other"));
  both(cls, m, "logical_or", [](const Tensor& a, const Tensor& b) { return tg::logical_or(a, b); }, py::arg("other"));
  both(cls, m, "masked_fill", [](const Tensor& x, const Tensor& mask, const py::object& v) {
         return tg::masked_fill(x, mask, to_double(v));
       }, py::arg("mask"), py::arg("value"));
  cls.def("where", [](const Tensor& x, const Tensor& cond, const py::object& other) {
    return where_(cond, py::cast(x), other);
  }, py::arg("condition"), py::arg("other"));
  m.def("where", &where_, py::arg("condition"), py::arg("input"), py::arg("other"));
  m.def("softplus", [](const Tensor& x, double beta, double threshold) { return tg::softplus(x, beta, threshold); },
        py::arg("input"), py::arg("beta") = 1.0, py::arg("threshold") = 20.0);

  // Binary ops: tensor op tensor, tensor op number (NotImplemented otherwise, so Python can try
  // the reflected op and then raise its own TypeError).
#define TG_BINARY(pyname, expr_tt, expr_ts)                                                   \
  cls.def(pyname, [](const Tensor& a, const Tensor& b) { return expr_tt; }, py::is_operator()); \
  cls.def(pyname, [](const Tensor& self, const py::object& o) -> py::object {                  \
    auto s = with_scalar(self, o);                                                             \
    if (!s) return not_implemented();                                                          \
    const Tensor& a = s->first;                                                                \
    const double b = s->second;                                                                \
    return py::cast(expr_ts);                                                                  \
  }, py::is_operator())
  TG_BINARY("__add__", a + b, a + b);
  TG_BINARY("__radd__", b + a, b + a);
  TG_BINARY("__sub__", a - b, a - b);
  TG_BINARY("__rsub__", b - a, b - a);
  TG_BINARY("__mul__", a * b, a * b);
  TG_BINARY("__rmul__", b * a, b * a);
  TG_BINARY("__truediv__", as_floating(a) / as_floating(b), as_floating(a) / b);
  TG_BINARY("__rtruediv__", as_floating(b) / as_floating(a), b / as_floating(a));
  TG_BINARY("__pow__", tg::pow(a, b), tg::pow(a, b));
  TG_BINARY("__rpow__", tg::pow(b, a), tg::pow(b, as_floating(a)));
  TG_BINARY("__eq__", a == b, a == b);
  TG_BINARY("__ne__", a != b, a != b);
  TG_BINARY("__lt__", a < b, a < b);
  TG_BINARY("__le__", a <= b, a <= b);
  TG_BINARY("__gt__", a > b, a > b);
  TG_BINARY("__ge__", a >= b, a >= b);
#undef TG_BINARY
  cls.def("__neg__", [](const Tensor& a) { return -a; })
      .def("__pos__", [](const Tensor& a) { return a; })
      .def("__abs__", [](const Tensor& a) { return tg::abs(a); })
      .def("__invert__", [](const Tensor& a) {
        TG_CHECK(a.dtype() == DType::Bool, Type, "~ (bitwise not) is only supported for bool "
                 "tensors here, got ", a.dtype());
        return tg::logical_not(a);
      })
      .def("__and__", [](const Tensor& a, const Tensor& b) { return tg::logical_and(a, b); }, py::is_operator())
      .def("__or__", [](const Tensor& a, const Tensor& b) { return tg::logical_or(a, b); }, py::is_operator())
      .def("__xor__", [](const Tensor& a, const Tensor& b) { return tg::ne(a, b); }, py::is_operator())
      .def("__matmul__", [](const Tensor& a, const Tensor& b) { return tg::matmul(a, b); },
           py::is_operator(), Guard())
      .def("__rmatmul__", [](const Tensor& a, const Tensor& b) { return tg::matmul(b, a); },
           py::is_operator(), Guard());

  // Named binary methods and functions (alpha as PyTorch's add/sub).
  auto binary_any = [](const char* op, const Tensor& a, const py::object& b) -> Tensor {
    if (py::isinstance<tg::TensorImpl>(b)) return py::cast<Tensor>(b);
    auto s = scalar_operand(a, b);
    TG_CHECK(s.has_value(), Type, op, ": other must be a tensor or a number, got ",
             std::string(py::str(py::type::of(b).attr("__name__"))));
    return *s;
  };
  both(cls, m, "add", [binary_any](const Tensor& a, const py::object& b, double alpha) {
         return tg::add(a, binary_any("add", a, b), alpha);
       }, py::arg("other"), py::kw_only(), py::arg("alpha") = 1.0);
  both(cls, m, "sub", [binary_any](const Tensor& a, const py::object& b, double alpha) {
         return tg::sub(a, binary_any("sub", a, b), alpha);
       }, py::arg("other"), py::kw_only(), py::arg("alpha") = 1.0);
  both(cls, m, "mul", [binary_any](const Tensor& a, const py::object& b) { return tg::mul(a, binary_any("mul", a, b)); },
       py::arg("other"));
  both(cls, m, "div", [binary_any](const Tensor& a, const py::object& b) {
         return tg::div(as_floating(a), as_floating(binary_any("div", a, b)));
       }, py::arg("other"));
  both(cls, m, "pow", [binary_any](const Tensor& a, const py::object& b) -> Tensor {
         if (!py::isinstance<tg::TensorImpl>(b)) {
           auto s = with_scalar(a, b);
           TG_CHECK(s.has_value(), Type, "pow: exponent must be a tensor or a number");
           return tg::pow(s->first, s->second);
         }
         return tg::pow(a, py::cast<Tensor>(b));
       }, py::arg("exponent"));
  // Modulo and floor division: a // b is floor(a / b), integral for integral operands.
  auto floor_divide = [](const Tensor& a, const Tensor& b) -> Tensor {
    if (a.is_floating_point() || b.is_floating_point()) return tg::floor(tg::div(a, b));
    const DType common = a.dtype() == DType::Bool ? b.dtype() : a.dtype();
    TG_CHECK(!tg::any(tg::eq(b, tg::zeros_like(b))).item<bool>(), Value, "floor_divide: integer division by zero");
    Tensor q = tg::floor(tg::div(tg::to(a, tg::kFloat64), tg::to(b, tg::kFloat64)));
    return tg::to(q, common == DType::Bool ? tg::kInt64 : common);
  };
  both(cls, m, "remainder", [binary_any](const Tensor& a, const py::object& b) {
         return tg::remainder(a, binary_any("remainder", a, b)); }, py::arg("other"));
  both(cls, m, "fmod", [binary_any](const Tensor& a, const py::object& b) {
         return tg::fmod(a, binary_any("fmod", a, b)); }, py::arg("other"));
  both(cls, m, "floor_divide", [binary_any, floor_divide](const Tensor& a, const py::object& b) {
         return floor_divide(a, binary_any("floor_divide", a, b)); }, py::arg("other"));
  auto reflected = [](const Tensor& self, const py::object& o,
                      const std::function<Tensor(const Tensor&, const Tensor&)>& f, bool swap) -> py::object {
    Tensor other;
    if (py::isinstance<tg::TensorImpl>(o)) {
      other = py::cast<Tensor>(o);
    } else {
      auto s = scalar_operand(self, o);
      if (!s) return not_implemented();
      other = *s;
    }
    return py::cast(swap ? f(other, self) : f(self, other));
  };
  auto remainder_fn = [](const Tensor& a, const Tensor& b) { return tg::remainder(a, b); };
  cls.def("__mod__", [reflected, remainder_fn](const Tensor& a, const py::object& b) {
        return reflected(a, b, remainder_fn, false); }, py::is_operator())
      .def("__rmod__", [reflected, remainder_fn](const Tensor& a, const py::object& b) {
        return reflected(a, b, remainder_fn, true); }, py::is_operator())
      .def("__floordiv__", [reflected, floor_divide](const Tensor& a, const py::object& b) {
        return reflected(a, b, floor_divide, false); }, py::is_operator())
      .def("__rfloordiv__", [reflected, floor_divide](const Tensor& a, const py::object& b) {
        return reflected(a, b, floor_divide, true); }, py::is_operator());
  both(cls, m, "lerp", [](const Tensor& a, const Tensor& end, const py::object& w) {
         if (py::isinstance<tg::TensorImpl>(w)) return tg::lerp(a, end, py::cast<Tensor>(w));
         return tg::lerp(a, end, to_double(w));
       }, py::arg("end"), py::arg("weight"));
  both(cls, m, "addcmul", [](const Tensor& x, const Tensor& t1, const Tensor& t2, double value) {
         return tg::addcmul(x, t1, t2, value); }, py::arg("tensor1"), py::arg("tensor2"), py::kw_only(), py::arg("value") = 1.0);
  both(cls, m, "addcdiv", [](const Tensor& x, const Tensor& t1, const Tensor& t2, double value) {
         return tg::addcdiv(x, t1, t2, value); }, py::arg("tensor1"), py::arg("tensor2"), py::kw_only(), py::arg("value") = 1.0);
  both(cls, m, "tril", [](const Tensor& x, int64_t d) { return tg::tril(x, d); }, py::arg("diagonal") = 0);
  both(cls, m, "triu", [](const Tensor& x, int64_t d) { return tg::triu(x, d); }, py::arg("diagonal") = 0);
  both(cls, m, "flip", [](const Tensor& x, const py::object& dims) { return tg::flip(x, int_list("flip", "dims", dims)); },
       py::arg("dims"));
  both(cls, m, "roll", [](const Tensor& x, const py::object& shifts, const py::object& dims) {
         return tg::roll(x, int_list("roll", "shifts", shifts), dims_arg("roll", dims));
       }, py::arg("shifts"), py::arg("dims") = py::none());
  both(cls, m, "dot", [](const Tensor& a, const Tensor& b) { return tg::dot(a, b); }, py::arg("other"));
  both(cls, m, "outer", [](const Tensor& a, const Tensor& b) { return tg::outer(a, b); }, py::arg("vec2"));
  both(cls, m, "isclose", [](const Tensor& a, const py::object& b, double rtol, double atol, bool equal_nan) {
         Tensor other = py::isinstance<tg::TensorImpl>(b) ? py::cast<Tensor>(b) : *scalar_operand(a, b);
         return tg::isclose(a, other, rtol, atol, equal_nan);
       }, py::arg("other"), py::arg("rtol") = 1e-5, py::arg("atol") = 1e-8, py::arg("equal_nan") = false);
  both(cls, m, "masked_select", [](const Tensor& x, const Tensor& mask) { return tg::masked_select(x, mask); },
       py::arg("mask"));
  both(cls, m, "isnan", [](const Tensor& x) { return tg::isnan(x); });
  both(cls, m, "isinf", [](const Tensor& x) { return tg::isinf(x); });
  both(cls, m, "isfinite", [](const Tensor& x) { return tg::isfinite(x); });
  both(cls, m, "nan_to_num", [](const Tensor& x, double nan, std::optional<double> posinf,
                                std::optional<double> neginf) { return tg::nan_to_num(x, nan, posinf, neginf); },
       py::arg("nan") = 0.0, py::arg("posinf") = py::none(), py::arg("neginf") = py::none());
  both(cls, m, "broadcast_to", [](const Tensor& x, const py::object& shape) {
         return tg::expand(x, int_list("broadcast_to", "size", shape)); }, py::arg("size"));
  // p: a number, inf, or "fro" (= 2 over the given dims); PyTorch's Tensor.norm / torch.norm.
  both(cls, m, "norm", [](const Tensor& x, const py::object& p, const py::object& dim, bool keepdim) {
         double order = 2.0;
         if (py::isinstance<py::str>(p)) {
           const std::string name = py::cast<std::string>(p);
           TG_CHECK(name == "fro", Value, "norm: p must be a number, inf or 'fro', got '", name, "'");
         } else if (!p.is_none()) {
           order = to_double(p);
         }
         return tg::norm(x, order, dims_arg("norm", dim), keepdim);
       }, py::arg("p") = "fro", py::arg("dim") = py::none(), py::arg("keepdim") = false);
  // Random fills in place; like any in-place op they refuse a tensor that requires grad while
  // grad mode is on (initialize under tg.no_grad(), or through .data).
  auto check_fill = [](const char* op, const Tensor& t) {
    TG_CHECK(!(tg::autograd::is_grad_enabled() && t.requires_grad()), Runtime, op,
             ": a tensor that requires grad can't be filled in place; do it under tapegrad.no_grad() "
             "or on tensor.data");
  };
  cls.def("normal_", [check_fill](const Tensor& t, double mean, double std) {
        check_fill("normal_", t);
        return tg::nn::init::normal_(t, mean, std);
      }, py::arg("mean") = 0.0, py::arg("std") = 1.0)
      .def("uniform_", [check_fill](const Tensor& t, double from, double to) {
        check_fill("uniform_", t);
        return tg::nn::init::uniform_(t, from, to);
      }, py::arg("from_") = 0.0, py::arg("to") = 1.0);
  both(cls, m, "round", [](const Tensor& x, int64_t decimals) {
         if (decimals == 0) return tg::round(x);
         const double scale = std::pow(10.0, static_cast<double>(decimals));
         return tg::div(tg::round(tg::mul(x, scale)), tg::scalar_tensor(scale, tg::TensorOptions(x.dtype()).device(x.device())));
       }, py::kw_only(), py::arg("decimals") = 0);
#define TG_CMP(name)                                                                      \
  both(cls, m, #name, [binary_any](const Tensor& a, const py::object& b) {                \
    return tg::name(a, binary_any(#name, a, b));                                          \
  }, py::arg("other"))
  TG_CMP(eq); TG_CMP(ne); TG_CMP(lt); TG_CMP(le); TG_CMP(gt); TG_CMP(ge);
#undef TG_CMP
  m.attr("greater") = m.attr("gt");
  m.attr("less") = m.attr("lt");
  m.attr("multiply") = m.attr("mul");
  m.attr("divide") = m.attr("div");
  m.attr("subtract") = m.attr("sub");

  // ---- in place
  auto inplace_operand = [](const char* op, const Tensor& self, const py::object& o) -> Tensor {
    if (py::isinstance<tg::TensorImpl>(o)) return py::cast<Tensor>(o);
    TG_CHECK(scalar_kind(o).has_value(), Type, op, ": expected a tensor or a number, got ",
             std::string(py::str(py::type::of(o).attr("__name__"))));
    return tg::scalar_tensor(to_double(o), tg::TensorOptions(self.dtype()).device(self.device()));
  };
  cls.def("add_", [inplace_operand](const Tensor& t, const py::object& o, double alpha) {
        return tg::add_(t, inplace_operand("add_", t, o), alpha); }, py::arg("other"), py::kw_only(), py::arg("alpha") = 1.0)
      .def("sub_", [inplace_operand](const Tensor& t, const py::object& o, double alpha) {
        return tg::sub_(t, inplace_operand("sub_", t, o), alpha); }, py::arg("other"), py::kw_only(), py::arg("alpha") = 1.0)
      .def("mul_", [inplace_operand](const Tensor& t, const py::object& o) {
        return tg::mul_(t, inplace_operand("mul_", t, o)); }, py::arg("other"))
      .def("div_", [inplace_operand](const Tensor& t, const py::object& o) {
        return tg::div_(t, inplace_operand("div_", t, o)); }, py::arg("other"))
      .def("__iadd__", [inplace_operand](const Tensor& t, const py::object& o) {
        return tg::add_(t, inplace_operand("+=", t, o)); }, py::is_operator())
      .def("__isub__", [inplace_operand](const Tensor& t, const py::object& o) {
        return tg::sub_(t, inplace_operand("-=", t, o)); }, py::is_operator())
      .def("__imul__", [inplace_operand](const Tensor& t, const py::object& o) {
        return tg::mul_(t, inplace_operand("*=", t, o)); }, py::is_operator())
      .def("__itruediv__", [inplace_operand](const Tensor& t, const py::object& o) {
        return tg::div_(t, inplace_operand("/=", t, o)); }, py::is_operator())
      .def("zero_", [](const Tensor& t) { return tg::fill_(t, 0.0); })
      .def("fill_", [](const Tensor& t, const py::object& v) { return tg::fill_(t, to_double(v)); }, py::arg("value"))
      .def("copy_", [](const Tensor& t, const Tensor& src, bool) { return tg::copy_(t, src); },
           py::arg("src"), py::arg("non_blocking") = false, Guard())
      .def("clamp_", [](const Tensor& t, const py::object& lo, const py::object& hi) {
        return tg::copy_(t, clamp_(t, lo, hi)); }, py::arg("min") = py::none(), py::arg("max") = py::none())
      .def("masked_fill_", [](const Tensor& t, const Tensor& mask, const py::object& v) {
        return tg::copy_(t, tg::masked_fill(t, mask, to_double(v))); }, py::arg("mask"), py::arg("value"));

  // ---- reductions
  both(cls, m, "sum", &sum_, py::arg("dim") = py::none(), py::arg("keepdim") = false,
       py::kw_only(), py::arg("dtype") = py::none());
  both(cls, m, "mean", &mean_, py::arg("dim") = py::none(), py::arg("keepdim") = false,
       py::kw_only(), py::arg("dtype") = py::none());
  both(cls, m, "var", [](const Tensor& x, const py::object& dim, const py::object& unbiased, bool keepdim,
                         const py::object& correction) {
         return tg::var(x, dims_arg("var", dim), correction_of(unbiased, correction), keepdim);
       }, py::arg("dim") = py::none(), py::arg("unbiased") = py::none(), py::arg("keepdim") = false,
       py::kw_only(), py::arg("correction") = py::none());
  both(cls, m, "std", [](const Tensor& x, const py::object& dim, const py::object& unbiased, bool keepdim,
                         const py::object& correction) {
         return tg::std(x, dims_arg("std", dim), correction_of(unbiased, correction), keepdim);
       }, py::arg("dim") = py::none(), py::arg("unbiased") = py::none(), py::arg("keepdim") = false,
       py::kw_only(), py::arg("correction") = py::none());
  both(cls, m, "amax", [](const Tensor& x, const py::object& dim, bool keepdim) {
         return tg::amax(x, dims_arg("amax", dim), keepdim); }, py::arg("dim") = py::tuple(), py::arg("keepdim") = false);
  both(cls, m, "amin", [](const Tensor& x, const py::object& dim, bool keepdim) {
         return tg::amin(x, dims_arg("amin", dim), keepdim); }, py::arg("dim") = py::tuple(), py::arg("keepdim") = false);
  both(cls, m, "max", [](const Tensor& x, const py::object& dim, bool keepdim) { return max_min(true, x, dim, keepdim); },
       py::arg("dim") = py::none(), py::arg("keepdim") = false);
  both(cls, m, "min", [](const Tensor& x, const py::object& dim, bool keepdim) { return max_min(false, x, dim, keepdim); },
       py::arg("dim") = py::none(), py::arg("keepdim") = false);
  both(cls, m, "argmax", [](const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return tg::argmax(x, dim, keepdim); },
       py::arg("dim") = py::none(), py::arg("keepdim") = false);
  both(cls, m, "argmin", [](const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return tg::argmin(x, dim, keepdim); },
       py::arg("dim") = py::none(), py::arg("keepdim") = false);
  both(cls, m, "logsumexp", [](const Tensor& x, const py::object& dim, bool keepdim) {
         return tg::logsumexp(x, int_list("logsumexp", "dim", dim), keepdim); }, py::arg("dim"), py::arg("keepdim") = false);
  both(cls, m, "any", [](const Tensor& x, const py::object& dim, bool keepdim) {
         return tg::any(x, dims_arg("any", dim), keepdim); }, py::arg("dim") = py::none(), py::arg("keepdim") = false);
  both(cls, m, "all", [](const Tensor& x, const py::object& dim, bool keepdim) {
         return tg::all(x, dims_arg("all", dim), keepdim); }, py::arg("dim") = py::none(), py::arg("keepdim") = false);

  // ---- linear algebra, rows, joins, indexing
  both(cls, m, "matmul", [](const Tensor& a, const Tensor& b) { return tg::matmul(a, b); }, py::arg("other"), Guard());
  both(cls, m, "mm", [](const Tensor& a, const Tensor& b) {
         TG_CHECK(a.dim() == 2 && b.dim() == 2, Value, "mm: expects 2-D tensors, got shapes ", a.sizes(),
                  " and ", b.sizes());
         return tg::matmul(a, b); }, py::arg("mat2"), Guard());
  both(cls, m, "bmm", [](const Tensor& a, const Tensor& b) {
         TG_CHECK(a.dim() == 3 && b.dim() == 3, Value, "bmm: expects 3-D tensors, got shapes ", a.sizes(),
                  " and ", b.sizes());
         TG_CHECK(a.size(0) == b.size(0), Value, "bmm: batch sizes differ: ", a.sizes(), " and ", b.sizes());
         return tg::matmul(a, b); }, py::arg("mat2"), Guard());
  m.def("addmm", [](const Tensor& bias, const Tensor& a, const Tensor& b, double beta, double alpha) {
          TG_CHECK(beta == 1.0 && alpha == 1.0, Value, "addmm: only beta=1 and alpha=1 are supported, got beta=",
                   beta, ", alpha=", alpha);
          return tg::addmm(bias, a, b);
        }, py::arg("input"), py::arg("mat1"), py::arg("mat2"), py::kw_only(), py::arg("beta") = 1.0,
        py::arg("alpha") = 1.0, Guard());
  auto softmax_like = [](bool log) {
    return [log](const Tensor& x, int64_t dim, const py::object& dtype) {
      Tensor in = dtype.is_none() ? x : tg::to(x, dtype_of(dtype));
      return log ? tg::log_softmax(in, dim) : tg::softmax(in, dim);
    };
  };
  both(cls, m, "softmax", softmax_like(false), py::arg("dim"), py::arg("dtype") = py::none());
  both(cls, m, "log_softmax", softmax_like(true), py::arg("dim"), py::arg("dtype") = py::none());
  m.def("cat", [](const std::vector<Tensor>& ts, int64_t dim) { return tg::cat(ts, dim); },
        py::arg("tensors"), py::arg("dim") = 0, Guard());
  m.attr("concat") = m.attr("cat");
  m.def("stack", [](const std::vector<Tensor>& ts, int64_t dim) { return tg::stack(ts, dim); },
        py::arg("tensors"), py::arg("dim") = 0, Guard());
  both(cls, m, "split", [](const Tensor& x, const py::object& size, int64_t dim) {
         if (PyIndex_Check(size.ptr())) return tg::split(x, to_int64("split", size), dim);
         return tg::split(x, int_list("split", "split_size_or_sections", size), dim);
       }, py::arg("split_size_or_sections"), py::arg("dim") = 0);
  both(cls, m, "chunk", [](const Tensor& x, int64_t chunks, int64_t dim) { return tg::chunk(x, chunks, dim); },
       py::arg("chunks"), py::arg("dim") = 0);
  both(cls, m, "index_select", [](const Tensor& x, int64_t dim, const Tensor& i) { return tg::index_select(x, dim, i); },
       py::arg("dim"), py::arg("index"));
  both(cls, m, "gather", [](const Tensor& x, int64_t dim, const Tensor& i) { return tg::gather(x, dim, i); },
       py::arg("dim"), py::arg("index"));
  both(cls, m, "scatter_add", [](const Tensor& x, int64_t dim, const Tensor& i, const Tensor& s) {
         return tg::scatter_add(x, dim, i, s); }, py::arg("dim"), py::arg("index"), py::arg("src"));
  cls.def("scatter_add_", [](const Tensor& x, int64_t dim, const Tensor& i, const Tensor& s) {
    return tg::copy_(x, tg::scatter_add(x, dim, i, s)); }, py::arg("dim"), py::arg("index"), py::arg("src"));

  // ---- factories
  auto shape_factory = [&m](const char* name, Tensor (*fn)(const Shape&, tg::TensorOptions)) {
    m.def(name, [fn, name](const py::args& size, const py::object& dtype, const py::object& device,
                           bool requires_grad) {
      return fn(shape_from_args(name, size), options_from(dtype, device, requires_grad));
    }, py::kw_only(), py::arg("dtype") = py::none(), py::arg("device") = py::none(),
       py::arg("requires_grad") = false);
  };
  shape_factory("zeros", [](const Shape& s, tg::TensorOptions o) { return tg::zeros(s, o); });
  shape_factory("ones", [](const Shape& s, tg::TensorOptions o) { return tg::ones(s, o); });
  shape_factory("empty", [](const Shape& s, tg::TensorOptions o) { return tg::zeros(s, o); });
  shape_factory("rand", [](const Shape& s, tg::TensorOptions o) { return tg::rand(s, o); });
  shape_factory("randn", [](const Shape& s, tg::TensorOptions o) { return tg::randn(s, o); });
  m.def("full", [](const py::object& size, const py::object& value, const py::object& dtype,
                   const py::object& device, bool requires_grad) {
    auto kind = scalar_kind(value);
    TG_CHECK(kind.has_value(), Type, "full: fill_value must be a number");
    const DType inferred = *kind == ScalarKind::Bool ? tg::kBool
                           : *kind == ScalarKind::Int ? tg::kInt64 : tg::kFloat32;
    return tg::full(int_list("full", "size", size), to_double(value),
                    options_from(dtype, device, requires_grad, inferred));
  }, py::arg("size"), py::arg("fill_value"), py::kw_only(), py::arg("dtype") = py::none(),
     py::arg("device") = py::none(), py::arg("requires_grad") = false);
  m.def("arange", [](const py::object& a, const py::object& b, const py::object& step,
                     const py::object& dtype, const py::object& device, bool requires_grad) {
    const bool all_int = PyIndex_Check(a.ptr()) && (b.is_none() || PyIndex_Check(b.ptr())) &&
                         PyIndex_Check(step.ptr());
    auto o = options_from(dtype, device, requires_grad, all_int ? tg::kInt64 : tg::kFloat32);
    if (b.is_none()) return tg::arange(0.0, to_double(a), to_double(step), o);
    return tg::arange(to_double(a), to_double(b), to_double(step), o);
  }, py::arg("start"), py::arg("end") = py::none(), py::arg("step") = 1, py::kw_only(),
     py::arg("dtype") = py::none(), py::arg("device") = py::none(), py::arg("requires_grad") = false);
  m.def("linspace", [](double start, double end, int64_t steps, const py::object& dtype,
                       const py::object& device, bool requires_grad) {
    return tg::linspace(start, end, steps, options_from(dtype, device, requires_grad));
  }, py::arg("start"), py::arg("end"), py::arg("steps"), py::kw_only(), py::arg("dtype") = py::none(),
     py::arg("device") = py::none(), py::arg("requires_grad") = false);
  m.def("eye", [](int64_t n, std::optional<int64_t> mm, const py::object& dtype, const py::object& device,
                  bool requires_grad) {
    return tg::eye(n, mm, options_from(dtype, device, requires_grad));
  }, py::arg("n"), py::arg("m") = py::none(), py::kw_only(), py::arg("dtype") = py::none(),
     py::arg("device") = py::none(), py::arg("requires_grad") = false);
  m.def("randint", [](const py::args& args, const py::object& size_kw, const py::object& dtype,
                      const py::object& device, bool requires_grad) {
    // randint(high, size) or randint(low, high, size), as PyTorch.
    std::vector<py::object> a;
    for (auto x : args) a.push_back(py::reinterpret_borrow<py::object>(x));
    if (!size_kw.is_none()) a.push_back(size_kw);
    TG_CHECK(a.size() == 2 || a.size() == 3, Type, "randint: expected (high, size) or (low, high, size), got ",
             a.size(), " arguments");
    const int64_t low = a.size() == 3 ? to_int64("randint", a[0]) : 0;
    const int64_t high = to_int64("randint", a[a.size() - 2]);
    return tg::randint(low, high, int_list("randint", "size", a.back()),
                       options_from(dtype, device, requires_grad, tg::kInt64));
  }, py::kw_only(), py::arg("size") = py::none(), py::arg("dtype") = py::none(),
     py::arg("device") = py::none(), py::arg("requires_grad") = false);
  m.def("randperm", [](int64_t n, const py::object& dtype, const py::object& device, bool requires_grad) {
    return tg::randperm(n, options_from(dtype, device, requires_grad, tg::kInt64));
  }, py::arg("n"), py::kw_only(), py::arg("dtype") = py::none(), py::arg("device") = py::none(),
     py::arg("requires_grad") = false);
  auto like_factory = [&m](const char* name, std::function<Tensor(const Shape&, tg::TensorOptions)> fn) {
    m.def(name, [fn](const Tensor& like, const py::object& dtype, const py::object& device, bool requires_grad) {
      auto o = options_from(dtype, py::none(), requires_grad, like.dtype());
      o = o.device(device.is_none() ? like.device() : device_of(device));
      return fn(like.sizes(), o);
    }, py::arg("input"), py::kw_only(), py::arg("dtype") = py::none(), py::arg("device") = py::none(),
       py::arg("requires_grad") = false);
  };
  like_factory("zeros_like", [](const Shape& s, tg::TensorOptions o) { return tg::zeros(s, o); });
  like_factory("ones_like", [](const Shape& s, tg::TensorOptions o) { return tg::ones(s, o); });
  like_factory("empty_like", [](const Shape& s, tg::TensorOptions o) { return tg::zeros(s, o); });
  like_factory("rand_like", [](const Shape& s, tg::TensorOptions o) { return tg::rand(s, o); });
  like_factory("randn_like", [](const Shape& s, tg::TensorOptions o) { return tg::randn(s, o); });
  m.def("full_like", [](const Tensor& like, const py::object& value, const py::object& dtype,
                        const py::object& device, bool requires_grad) {
    auto o = options_from(dtype, py::none(), requires_grad, like.dtype());
    o = o.device(device.is_none() ? like.device() : device_of(device));
    return tg::full(like.sizes(), to_double(value), o);
  }, py::arg("input"), py::arg("fill_value"), py::kw_only(), py::arg("dtype") = py::none(),
     py::arg("device") = py::none(), py::arg("requires_grad") = false);
  auto new_factory = [&cls](const char* name, std::function<Tensor(const Shape&, tg::TensorOptions)> fn) {
    cls.def(name, [fn, name](const Tensor& self, const py::object& size, const py::object& dtype,
                             const py::object& device, bool requires_grad) {
      auto o = options_from(dtype, py::none(), requires_grad, self.dtype());
      o = o.device(device.is_none() ? self.device() : device_of(device));
      return fn(int_list(name, "size", size), o);
    }, py::arg("size"), py::kw_only(), py::arg("dtype") = py::none(), py::arg("device") = py::none(),
       py::arg("requires_grad") = false);
  };
  new_factory("new_zeros", [](const Shape& s, tg::TensorOptions o) { return tg::zeros(s, o); });
  new_factory("new_ones", [](const Shape& s, tg::TensorOptions o) { return tg::ones(s, o); });
  new_factory("new_empty", [](const Shape& s, tg::TensorOptions o) { return tg::zeros(s, o); });
  cls.def("new_full", [](const Tensor& self, const py::object& size, const py::object& value,
                         const py::object& dtype, const py::object& device, bool requires_grad) {
    auto o = options_from(dtype, py::none(), requires_grad, self.dtype());
    o = o.device(device.is_none() ? self.device() : device_of(device));
    return tg::full(int_list("new_full", "size", size), to_double(value), o);
  }, py::arg("size"), py::arg("fill_value"), py::kw_only(), py::arg("dtype") = py::none(),
     py::arg("device") = py::none(), py::arg("requires_grad") = false);
  cls.def("new_tensor", [](const Tensor& self, const py::object& data, const py::object& dtype,
                           const py::object& device, bool requires_grad) {
    return tensor_from_data(data, dtype.is_none() ? py::cast(self.dtype()) : dtype,
                            device.is_none() ? py::cast(self.device()) : device, requires_grad);
  }, py::arg("data"), py::kw_only(), py::arg("dtype") = py::none(), py::arg("device") = py::none(),
     py::arg("requires_grad") = false);
  m.def("tensor", &tensor_from_data, py::arg("data"), py::kw_only(), py::arg("dtype") = py::none(),
        py::arg("device") = py::none(), py::arg("requires_grad") = false);
  m.def("scalar_tensor", [](double v, const py::object& dtype, const py::object& device, bool rg) {
    return tg::scalar_tensor(v, options_from(dtype, device, rg));
  }, py::arg("s"), py::kw_only(), py::arg("dtype") = py::none(), py::arg("device") = py::none(),
     py::arg("requires_grad") = false);

  // ---- random numbers, grad mode, autograd
  m.def("manual_seed", [](int64_t seed) { tg::manual_seed(static_cast<uint64_t>(seed)); }, py::arg("seed"));
  m.def("initial_seed", [] { return tg::initial_seed(); });
  m.def("set_num_threads", [](int threads) { tg::set_num_threads(threads); }, py::arg("threads"));
  m.def("get_num_threads", [] { return tg::get_num_threads(); });
  m.def("get_rng_state", [] { auto s = tg::get_rng_state(); return py::make_tuple(s.seed, s.offset); });
  m.def("set_rng_state", [](std::tuple<uint64_t, uint64_t> s) {
    tg::set_rng_state({std::get<0>(s), std::get<1>(s)});
  }, py::arg("new_state"));
  m.def("is_grad_enabled", &tg::autograd::is_grad_enabled);
  m.def("_set_grad_enabled", &tg::autograd::set_grad_enabled, py::arg("mode"));
  m.def("is_anomaly_enabled", &tg::autograd::is_anomaly_enabled);
  m.def("is_anomaly_check_nan_enabled", &tg::autograd::is_anomaly_check_nan_enabled);
  m.def("_set_detect_anomaly", &tg::autograd::set_detect_anomaly, py::arg("mode"), py::arg("check_nan") = true);
  // In anomaly mode each recorded op keeps the Python stack of its forward (ops may run with the
  // GIL released, so it is taken back here).
  tg::autograd::set_anomaly_trace_source([]() -> std::string {
    if (!Py_IsInitialized()) return "";
    py::gil_scoped_acquire gil;
    try {
      py::list frames = py::module_::import("traceback").attr("format_stack")();
      std::string out;
      for (const py::handle& f : frames) out += py::cast<std::string>(f);
      return out;
    } catch (py::error_already_set&) {
      return "";
    }
  });
  m.def("_autograd_grad", [](const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                             const std::vector<OptTensor>& grad_outputs, bool retain_graph,
                             bool create_graph, bool allow_unused) {
    std::vector<Tensor> go;
    for (const auto& g : grad_outputs) go.push_back(or_undefined(g));
    py::gil_scoped_release release;
    return tg::autograd::grad(outputs, inputs, go, retain_graph, create_graph, allow_unused);
  });
  m.def("_run_backward", [](const std::vector<Tensor>& roots, const std::vector<OptTensor>& grads,
                            bool retain_graph, bool create_graph) {
    std::vector<Tensor> g;
    for (const auto& x : grads) g.push_back(or_undefined(x));
    py::gil_scoped_release release;
    tg::autograd::run_backward(roots, g, retain_graph, create_graph);
  });
  m.def("_gradcheck", [](const py::function& fn, const std::vector<Tensor>& inputs, double eps,
                         double atol, double rtol) {
    // fn may be Python: it runs with the GIL held (gradcheck calls it many times).
    return tg::gradcheck([&fn](const std::vector<Tensor>& xs) {
      py::object r = fn(*py::cast(xs));
      return py::cast<Tensor>(r);
    }, inputs, {eps, atol, rtol});
  });
  m.def("is_tensor", [](const py::object& o) { return py::isinstance<tg::TensorImpl>(o); }, py::arg("obj"));
  m.def("numel", [](const Tensor& x) -> int64_t { return x.numel(); }, py::arg("input"));
  m.def("cuda_is_available", [] { return tg::cuda::is_available(); });
  m.def("cuda_device_count", [] { return tg::cuda::device_count(); });
  m.def("cuda_unavailable_reason", [] { return tg::cuda::unavailable_reason(); });
  m.def("cuda_synchronize", [](int device) { tg::cuda::synchronize(device); }, py::arg("device") = 0, Guard());
  using Impl = tg::cuda::Impl;
  const auto impl_of = [](const char* what, const std::string& name, const char* library) {
    if (name == "auto") return Impl::Auto;
    if (name == "ours") return Impl::Ours;
    if (name == library) return Impl::Library;
    TG_FAIL(Value, what, ": expected \"ours\", \"", library, "\" or \"auto\", got \"", name, "\"");
  };
  const auto impl_name = [](Impl impl, const char* library) -> std::string {
    return impl == Impl::Ours ? "ours" : impl == Impl::Library ? library : "auto";
  };
  m.def("cuda_set_matmul_impl", [impl_of](const std::string& name) {
    tg::cuda::set_matmul_impl(impl_of("set_matmul_impl", name, "cublas"));
  });
  m.def("cuda_matmul_impl", [impl_name] { return impl_name(tg::cuda::matmul_impl(), "cublas"); });
  m.def("cuda_set_softmax_impl", [impl_of](const std::string& name) {
    tg::cuda::set_softmax_impl(impl_of("set_softmax_impl", name, "cudnn"));
  });
  m.def("cuda_softmax_impl", [impl_name] { return impl_name(tg::cuda::softmax_impl(), "cudnn"); });
  m.def("cuda_set_allow_tf32", [](bool allow) { tg::cuda::set_allow_tf32(allow); });
  m.def("cuda_allow_tf32", [] { return tg::cuda::allow_tf32(); });
  m.def("memory_stats", [](const py::object& device) {
    auto s = tg::memory_stats(device.is_none() ? Device(tg::kCPU) : device_of(device));
    py::dict d;
    d["allocated_bytes"] = s.allocated_bytes;
    d["reserved_bytes"] = s.reserved_bytes;
    d["peak_allocated_bytes"] = s.peak_allocated_bytes;
    d["num_system_allocations"] = s.num_system_allocations;
    return d;
  }, py::arg("device") = py::none());
  m.def("empty_cache", [](const py::object& device) {
    tg::empty_cache(device.is_none() ? Device(tg::kCPU) : device_of(device));
  }, py::arg("device") = py::none());
  m.def("reset_peak_memory_stats", [](const py::object& device) {
    tg::reset_peak_memory_stats(device.is_none() ? Device(tg::kCPU) : device_of(device));
  }, py::arg("device") = py::none());

  init_indexing(cls);
  init_interop(m, cls);
}

}  // namespace tgpy
