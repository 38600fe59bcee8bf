// The extension module tapegrad._C: tg::Error becomes the Python exception its kind names.
#include "bind.h"

PYBIND11_MODULE(_C, m) {
  m.doc() = "tapegrad's C++ engine; use the tapegrad package, not this module";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const tg::Error& e) {
      switch (e.kind()) {
        case tg::Error::Kind::Value: PyErr_SetString(PyExc_ValueError, e.what()); break;
        case tg::Error::Kind::Type: PyErr_SetString(PyExc_TypeError, e.what()); break;
        case tg::Error::Kind::Index: PyErr_SetString(PyExc_IndexError, e.what()); break;
        case tg::Error::Kind::Runtime: PyErr_SetString(PyExc_RuntimeError, e.what()); break;
      }
    }
  });
  tgpy::init_tensor(m);
  tgpy::init_nn(m);
  tgpy::init_optim(m);
}
