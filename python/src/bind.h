// Shared by the binding files: how a tg::Tensor crosses into Python and back, and the small
// argument helpers every file uses. The bindings have no maths of their own.
#pragma once
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace py = pybind11;

// A Python Tensor wraps the TensorImpl itself (holder std::shared_ptr<TensorImpl>), so the same
// tensor always comes back as the same Python object: `model.weight is opt.param_groups[0]
// ["params"][0]`, and a Parameter stays a Parameter whichever C++ call hands it back.
namespace pybind11::detail {
template <>
struct type_caster<tg::Tensor> {
  PYBIND11_TYPE_CASTER(tg::Tensor, const_name("Tensor"));
  // None is not a tensor: optional arguments are std::optional<tg::Tensor>.
  bool load(handle src, bool convert) {
    copyable_holder_caster<tg::TensorImpl, std::shared_ptr<tg::TensorImpl>> holder;
    if (src.is_none() || !holder.load(src, convert)) return false;
    value = tg::Tensor(static_cast<std::shared_ptr<tg::TensorImpl>>(holder));
    return true;
  }
  static handle cast(const tg::Tensor& t, return_value_policy, handle parent) {
    if (!t.defined()) return none().release();
    return copyable_holder_caster<tg::TensorImpl, std::shared_ptr<tg::TensorImpl>>::cast(
        t.impl_ptr(), return_value_policy::take_ownership, parent);
  }
};
}  // namespace pybind11::detail

namespace tgpy {

using tg::Shape;
using tg::Tensor;
using OptTensor = std::optional<Tensor>;

inline Tensor or_undefined(const OptTensor& t) { return t ? *t : Tensor(); }

// A shape given as ints, one sequence, or nothing: view(2, 3), view((2, 3)), view([2, 3]).
Shape shape_from_args(const char* op, const py::args& args);
// A dim argument that may be an int, a sequence of ints, or None (empty: every dim).
Shape dims_arg(const char* op, const py::handle& dim);
// One int or a sequence of ints, for kernel_size / stride / padding.
Shape int_list(const char* op, const char* name, const py::handle& v);
// A Python number as a 0-dim tensor that computes with `like` as PyTorch's scalars do (a float
// scalar keeps a floating tensor's dtype and turns an integral one into float32); nullopt when
// `v` is not a number.
std::optional<Tensor> scalar_operand(const Tensor& like, const py::handle& v);
// A floating tensor to compute `op` in: integral tensors become float32 (PyTorch's true division).
Tensor as_floating(const Tensor& t);
bool is_python_number(const py::handle& v);
double to_double(const py::handle& v);

tg::TensorOptions options_from(const py::object& dtype, const py::object& device,
                               bool requires_grad, tg::DType default_dtype = tg::kFloat32);

void init_tensor(py::module_& m);
void init_interop(py::module_& m, py::class_<tg::TensorImpl, std::shared_ptr<tg::TensorImpl>>& cls);
void init_indexing(py::class_<tg::TensorImpl, std::shared_ptr<tg::TensorImpl>>& cls);
void init_nn(py::module_& m);
void init_optim(py::module_& m);

}  // namespace tgpy
