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

void check_channels(const char* op, const Tensor& x, const std::initializer_list<std::pair<const char*, const Tensor*>>& per_channel) {
  TG_CHECK(x.defined() && x.dim() >= 2, Value, op, ": expected input of shape [N, C, *], got ",
           x.defined() ? shape_str(x.sizes()) : std::string("an undefined tensor"));
  check_floating(op, x);
  for (const auto& [what, t] : per_channel) {
    if (!t->defined()) continue;
    TG_CHECK(t->dim() == 1 && t->size(0) == x.size(1), Value, op, ": ", what, " must have shape [", x.size(1),
             "] (the input's channels), got ", t->sizes());
    check_same_device(op, x, *t);
  }
}

const kernels::KernelTable& batch_norm_kernels(const char* op, const Tensor& x) {
  const kernels::KernelTable& table = kernels_for(op, x.device());
  TG_CHECK(table.batch_norm && table.batch_norm_backward, Runtime, op, ": no fused batch-norm kernel on ",
           x.device());
  return table;
}

kernels::BatchNormArgs batch_norm_args(const Tensor& x, const Tensor& weight, const Tensor& bias, bool training,
                                       double eps) {
  kernels::BatchNormArgs a;
  a.dtype = x.dtype();
  a.batch = x.size(0);
  a.channels = x.size(1);
  a.inner = a.channels == 0 || a.batch == 0 ? 0 : x.numel() / (a.batch * a.channels);
  a.eps = eps;
  a.training = training;
  a.weight = weight.defined() ? weight.data_ptr() : nullptr;
  a.bias = bias.defined() ? bias.data_ptr() : nullptr;
  return a;
}

// A per-channel operand as a dense tensor of x's dtype (undefined stays undefined).
Tensor channel_operand(const Tensor& t, const Tensor& x) {
  return t.defined() ? contiguous(to_dtype(t, x.dtype())) : Tensor();
}

}  // namespace

bool has_fused_batch_norm(Device device) {
  const kernels::KernelTable& table = kernels_for("batch_norm", device);
  return table.batch_norm && table.batch_norm_backward;
}

std::tuple<Tensor, BatchNormStats> batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                              const BatchNormStats& given, bool training, double eps) {
  const char* op = "batch_norm";
  check_channels(op, x, {{"weight", &weight}, {"bias", &bias}, {"running_mean", &given.mean},
                         {"running_var", &given.var}});
  TG_CHECK(training || (given.mean.defined() && given.var.defined()), Value, op,
           ": running_mean and running_var are required when not training");
  const Tensor xc = contiguous(x), w = channel_operand(weight, x), b = channel_operand(bias, x);
  BatchNormStats stats;
  if (training) {
    stats.mean = empty({x.size(1)}, x.dtype(), x.device());
    stats.var = empty({x.size(1)}, x.dtype(), x.device());
  } else {
    // Copies: the statistics saved for the backward must not follow later updates of the running ones.
    stats.mean = clone(channel_operand(given.mean, x));
    stats.var = clone(channel_operand(given.var, x));
  }
  Tensor y = empty(x.sizes(), x.dtype(), x.device());
  if (x.numel() > 0)
    batch_norm_kernels(op, x).batch_norm(batch_norm_args(xc, w, b, training, eps), xc.data_ptr(),
                                         stats.mean.data_ptr(), stats.var.data_ptr(), y.data_ptr());
  return {y, stats};
}

BatchNormGrads batch_norm_backward(const Tensor& x, const Tensor& weight, const BatchNormStats& stats,
                                   const Tensor& grad_y, bool training, double eps, bool need_x,
                                   bool need_weight, bool need_bias) {
  const char* op = "batch_norm_backward";
  check_channels(op, x, {{"weight", &weight}, {"mean", &stats.mean}, {"var", &stats.var}});
  TG_CHECK(grad_y.defined() && grad_y.sizes() == x.sizes() && grad_y.dtype() == x.dtype(), Value, op,
           ": expected a gradient of ", x.dtype(), " and shape ", x.sizes());
  check_same_device(op, x, grad_y);
  const Tensor xc = contiguous(x), gc = contiguous(grad_y), w = channel_operand(weight, x);
  const Tensor mean = channel_operand(stats.mean, x), var = channel_operand(stats.var, x);
  BatchNormGrads grads;
  const Shape channels{x.size(1)};
  if (need_x) grads.x = empty(x.sizes(), x.dtype(), x.device());
  if (need_weight) grads.weight = empty(channels, x.dtype(), x.device());
  if (need_bias) grads.bias = empty(channels, x.dtype(), x.device());
  if (x.numel() == 0) {
    for (Tensor* t : {&grads.weight, &grads.bias})
      if (t->defined()) fill_(*t, 0.0);
    return grads;
  }
  auto ptr = [](const Tensor& t) { return t.defined() ? t.data_ptr() : nullptr; };
  batch_norm_kernels(op, x).batch_norm_backward(batch_norm_args(xc, w, Tensor(), training, eps), xc.data_ptr(),
                                                mean.data_ptr(), var.data_ptr(), gc.data_ptr(), ptr(grads.x),
                                                ptr(grads.weight), ptr(grads.bias));
  return grads;
}

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
