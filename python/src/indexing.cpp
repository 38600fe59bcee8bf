// Tensor.__getitem__ / __setitem__ with NumPy's and PyTorch's rules: ints, slices with steps,
// None, Ellipsis, integer tensors (or lists) and boolean masks. Basic indices give views; advanced
// ones gather through index_select on the merged indexed dims, so every result is differentiable.
#include "bind.h"

namespace tgpy {

namespace {

using TensorClass = py::class_<tg::TensorImpl, std::shared_ptr<tg::TensorImpl>>;

struct Advanced {
  int64_t dim;  // in the tensor after the basic indices
  Tensor index; // int64, any shape
};

struct Indexed {
  Tensor view;                    // after ints, slices, None and Ellipsis
  std::vector<Advanced> advanced; // integer index tensors still to apply, by dim
};

Tensor index_tensor(const py::handle& h) {
  if (py::isinstance<tg::TensorImpl>(h)) return py::cast<Tensor>(h);
  // A list or tuple inside an index is an integer (or bool) tensor, as in NumPy.
  return py::cast<Tensor>(py::module_::import("tapegrad._C").attr("tensor")(h));
}

// An int index into a dim of `size`; Python ints beyond int64 are out of bounds too.
int64_t int_index(const py::handle& h, int64_t dim, int64_t size) {
  py::int_ value = py::reinterpret_steal<py::int_>(PyNumber_Index(h.ptr()));
  if (!value) throw py::error_already_set();
  int overflow = 0;
  const long long i = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
  TG_CHECK(!overflow && i >= -size && i < size, Index, "index ", std::string(py::str(value)),
           " is out of bounds for dimension ", dim, " with size ", size);
  return static_cast<int64_t>(i);
}

bool is_sequence_index(const py::handle& h) {
  return (py::isinstance<py::list>(h) || py::isinstance<py::tuple>(h)) && !py::isinstance<py::str>(h);
}

Indexed apply_basic(const Tensor& self, const py::handle& index) {
  std::vector<py::object> items;
  if (py::isinstance<py::tuple>(index)) {
    for (auto i : py::reinterpret_borrow<py::tuple>(index)) items.push_back(py::reinterpret_borrow<py::object>(i));
  } else {
    items.push_back(py::reinterpret_borrow<py::object>(index));
  }
  for (auto& it : items)
    if (is_sequence_index(it)) it = py::cast(index_tensor(it));

  int64_t consumed = 0;
  int ellipses = 0;
  for (const auto& it : items) {
    if (it.is_none()) continue;
    if (it.ptr() == Py_Ellipsis) { ++ellipses; continue; }
    if (py::isinstance<tg::TensorImpl>(it)) {
      Tensor t = py::cast<Tensor>(it);
      consumed += t.dtype() == tg::kBool ? std::max<int64_t>(t.dim(), 1) : 1;
    } else {
      ++consumed;
    }
  }
  TG_CHECK(ellipses <= 1, Index, "index: an index can only have a single ellipsis ('...')");
  TG_CHECK(consumed <= self.dim(), Index, "index: too many indices for tensor of dimension ",
           self.dim(), " (got ", consumed, ")");

  Indexed r{self, {}};
  int64_t d = 0;
  for (const auto& it : items) {
    if (it.is_none()) {
      r.view = tg::unsqueeze(r.view, d++);
    } else if (it.ptr() == Py_Ellipsis) {
      d += self.dim() - consumed;
    } else if (PyBool_Check(it.ptr())) {
      TG_FAIL(Type, "index: a Python bool is not a valid index here; use a bool tensor mask");
    } else if (PyIndex_Check(it.ptr()) && !py::isinstance<tg::TensorImpl>(it)) {
      r.view = tg::select(r.view, d, int_index(it, d, r.view.size(d)));
    } else if (PySlice_Check(it.ptr())) {
      Py_ssize_t start, stop, step;
      if (PySlice_Unpack(it.ptr(), &start, &stop, &step) < 0) throw py::error_already_set();
      TG_CHECK(step > 0, Value, "index: slice step must be positive, got ", step);
      const Py_ssize_t size = r.view.size(d);
      const Py_ssize_t len = PySlice_AdjustIndices(size, &start, &stop, step);
      if (len == 0) stop = start;
      r.view = tg::slice(r.view, d, start, std::max(stop, start), step);
      ++d;
    } else if (py::isinstance<tg::TensorImpl>(it)) {
      Tensor t = py::cast<Tensor>(it);
      if (t.dtype() == tg::kBool) {
        TG_CHECK(t.dim() > 0, Index, "index: a 0-dim bool mask is not supported");
        for (int64_t k = 0; k < t.dim(); ++k)
          TG_CHECK(t.size(k) == r.view.size(d + k), Index, "index: the mask of shape ", t.sizes(),
                   " does not match the indexed tensor's shape ", r.view.sizes(), " at dim ", d + k);
        Tensor coords = tg::nonzero(t);  // [n, mask dims]
        for (int64_t k = 0; k < t.dim(); ++k) r.advanced.push_back({d + k, tg::select(coords, 1, k)});
        d += t.dim();
      } else {
        TG_CHECK(t.dtype() == tg::kInt64, Index, "index: tensors used as indices must be int64 or "
                 "bool, got ", t.dtype());
        r.advanced.push_back({d, t});
        ++d;
      }
    } else {
      TG_FAIL(Index, "index: only integers, slices (`:`), ellipsis (`...`), None and int64 or bool "
              "tensors are valid indices, got ", std::string(py::str(py::type::of(it).attr("__name__"))));
    }
  }
  return r;
}

// Gathers with the advanced indices: they broadcast together; adjacent ones put the result's
// dims where they were, separated ones put them first (NumPy's rule).
Tensor apply_advanced(Tensor t, std::vector<Advanced> adv) {
  if (adv.empty()) return t;
  Shape bshape = adv[0].index.sizes();
  for (const auto& a : adv) bshape = tg::broadcast_shapes("index", bshape, a.index.sizes());
  bool adjacent = true;
  for (size_t k = 1; k < adv.size(); ++k) adjacent &= adv[k].dim == adv[k - 1].dim + 1;
  if (!adjacent) {
    Shape perm;
    for (const auto& a : adv) perm.push_back(a.dim);
    for (int64_t d = 0; d < t.dim(); ++d) {
      bool taken = false;
      for (const auto& a : adv) taken |= a.dim == d;
      if (!taken) perm.push_back(d);
    }
    t = tg::permute(t, perm);
    for (size_t k = 0; k < adv.size(); ++k) adv[k].dim = static_cast<int64_t>(k);
  }
  const int64_t first = adv.front().dim, last = adv.back().dim;
  // One linear index into the merged dims [first, last]; each index is bounds-checked first so
  // an out-of-range one cannot land on another valid element.
  Tensor linear;
  int64_t merged = 1;
  for (size_t k = adv.size(); k-- > 0;) {
    const int64_t size = t.size(adv[k].dim);
    Tensor idx = adv[k].index;
    if (idx.numel() > 0) {
      const int64_t lo = static_cast<int64_t>(tg::amin(idx).item()), hi = static_cast<int64_t>(tg::amax(idx).item());
      TG_CHECK(lo >= -size && hi < size, Index, "index ", lo < -size ? lo : hi,
               " is out of bounds for dimension ", adv[k].dim, " with size ", size);
      idx = tg::where(tg::lt(idx, tg::zeros_like(idx)), tg::add(idx, static_cast<double>(size)), idx);
    }
    Tensor term = merged == 1 ? idx : tg::mul(idx, static_cast<double>(merged));
    linear = linear.defined() ? tg::add(linear, term) : term;
    merged *= size;
  }
  linear = tg::expand(linear, bshape).contiguous();
  Shape merged_shape(t.sizes().begin(), t.sizes().begin() + first);
  merged_shape.push_back(merged);
  merged_shape.insert(merged_shape.end(), t.sizes().begin() + last + 1, t.sizes().end());
  Tensor flat = tg::reshape(t, merged_shape);
  Tensor picked = tg::index_select(flat, first, tg::reshape(linear, {linear.numel()}));
  Shape out_shape(t.sizes().begin(), t.sizes().begin() + first);
  out_shape.insert(out_shape.end(), bshape.begin(), bshape.end());
  out_shape.insert(out_shape.end(), t.sizes().begin() + last + 1, t.sizes().end());
  return tg::reshape(picked, out_shape);
}

Tensor getitem(const Tensor& self, const py::handle& index) {
  if (PyLong_CheckExact(index.ptr()) && self.dim() > 0) {  // x[i], the common case, directly
    return tg::select(self, 0, int_index(index, 0, self.size(0)));
  }
  Indexed r = apply_basic(self, index);
  return apply_advanced(r.view, std::move(r.advanced));
}

void setitem(const Tensor& self, const py::handle& index, const py::object& value) {
  const bool is_tensor = py::isinstance<tg::TensorImpl>(value);
  TG_CHECK(is_tensor || is_python_number(value), Type, "index assignment: the value must be a tensor "
           "or a number, got ", std::string(py::str(py::type::of(value).attr("__name__"))));
  Indexed r = apply_basic(self, index);
  if (r.advanced.empty()) {
    if (is_tensor)
      tg::copy_(r.view, py::cast<Tensor>(value));
    else
      tg::fill_(r.view, to_double(value));
    return;
  }
  // The row-major positions the index selects, found by indexing a tensor of positions the same
  // way; then the new values are placed with a scatter and merged in with where().
  const Shape shape = self.sizes();
  Tensor positions = tg::arange(0.0, static_cast<double>(self.numel()), 1.0, tg::TensorOptions(tg::kInt64).device(self.device()));
  Tensor selected = getitem(tg::reshape(positions, shape), index);
  Tensor pos = tg::reshape(selected, {selected.numel()}).contiguous();
  const tg::TensorOptions int_opts = tg::TensorOptions(tg::kInt64).device(self.device());
  Tensor counts = tg::scatter_add(tg::zeros({self.numel()}, int_opts), 0, pos, tg::ones({pos.numel()}, int_opts));
  Tensor chosen = tg::reshape(tg::gt(counts, tg::zeros_like(counts)), shape);
  if (!is_tensor) {
    auto s = scalar_operand(self, value);
    tg::copy_(self, tg::where(chosen, tg::to(*s, self.dtype()), self));
    return;
  }
  TG_CHECK(pos.numel() == 0 || tg::amax(counts).item() <= 1, Index, "index assignment: the index "
           "selects some element more than once, so the value written there would be ambiguous");
  Tensor v = tg::to(py::cast<Tensor>(value), self.dtype() == tg::kBool ? tg::kInt64 : self.dtype());
  v = tg::reshape(tg::expand(v, selected.sizes()).contiguous(), {pos.numel()});
  Tensor placed = tg::scatter_add(tg::zeros({self.numel()}, tg::TensorOptions(v.dtype()).device(self.device())), 0, pos, v);
  tg::copy_(self, tg::where(chosen, tg::to(tg::reshape(placed, shape), self.dtype()), self));
}

}  // namespace

void init_indexing(TensorClass& cls) {
  cls.def("__getitem__", &getitem);
  cls.def("__setitem__", &setitem);
  cls.def_static("_nonzero", [](const Tensor& x) { return tg::nonzero(x); });
}

}  // namespace tgpy
