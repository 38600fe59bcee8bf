#include "native_norm.h"

#include "native.h"

namespace tg::native {

namespace {

void check_rows(const char* op, const Tensor& x) {
  TG_CHECK(x.defined() && x.dim() == 2, Value, op, ": expected a 2-D [rows, cols] tensor, got ",
           x.defined() ? shape_str(x.sizes()) : std::string("an undefined tensor"));
  check_floating(op, x);
  TG_CHECK(x.size(1) > 0, Value, op, ": rows of 0 elements have no mean (shape ", x.sizes(), ")");
}

const kernels::KernelTable& norm_kernels(const char* op, const Tensor& x) {
  const kernels::KernelTable& table = kernels_for(op, x.device());
  TG_CHECK(table.layer_norm_rows && table.layer_norm_rows_backward, Runtime, op,
           ": no fused layer-norm kernel on ", x.device());
  return table;
}

kernels::LayerNormArgs args_of(const Tensor& x, double eps) {
  kernels::LayerNormArgs a;
  a.dtype = x.dtype();
  a.rows = x.size(0);
  a.cols = x.size(1);
  a.eps = eps;
  return a;
}

}  // namespace

bool has_fused_layer_norm(Device device) {
  const kernels::KernelTable& table = kernels_for("layer_norm", device);
  return table.layer_norm_rows && table.layer_norm_rows_backward;
}

std::tuple<Tensor, Tensor, Tensor> layer_norm_rows(const Tensor& x, double eps) {
  const char* op = "layer_norm_rows";
  check_rows(op, x);
  const Tensor xc = contiguous(x);
  Tensor y = empty(x.sizes(), x.dtype(), x.device());
  Tensor mean = empty({x.size(0)}, x.dtype(), x.device());
  Tensor rstd = empty({x.size(0)}, x.dtype(), x.device());
  if (x.size(0) > 0)
    norm_kernels(op, x).layer_norm_rows(args_of(xc, eps), xc.data_ptr(), y.data_ptr(), mean.data_ptr(),
                                        rstd.data_ptr());
  return {y, mean, rstd};
}

Tensor layer_norm_rows_backward(const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                const Tensor& grad_y) {
  const char* op = "layer_norm_rows_backward";
  check_rows(op, x);
  const Shape stats{x.size(0)};
  for (const Tensor* t : {&mean, &rstd, &grad_y}) {
    const Shape want = t == &grad_y ? x.sizes() : stats;
    TG_CHECK(t->defined() && t->sizes() == want && t->dtype() == x.dtype(), Value, op, ": expected ",
             x.dtype(), " of shape ", want, ", got ", t->defined() ? shape_str(t->sizes()) : "undefined");
    check_same_device(op, *t, x);
  }
  const Tensor xc = contiguous(x), mc = contiguous(mean), rc = contiguous(rstd), gc = contiguous(grad_y);
  Tensor grad_x = empty(x.sizes(), x.dtype(), x.device());
  if (x.size(0) > 0)
    norm_kernels(op, x).layer_norm_rows_backward(args_of(xc, 0.0), xc.data_ptr(), mc.data_ptr(), rc.data_ptr(),
                                                 gc.data_ptr(), grad_x.data_ptr());
  return grad_x;
}

}  // namespace tg::native
