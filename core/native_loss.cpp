#include "native_loss.h"

#include "native.h"

namespace tg::native {

namespace {

constexpr const char* kOp = "cross_entropy";

const kernels::KernelTable& loss_kernels(const Tensor& x) {
  const kernels::KernelTable& table = kernels_for(kOp, x.device());
  TG_CHECK(table.cross_entropy_rows && table.cross_entropy_rows_backward, Runtime, kOp,
           ": no fused cross-entropy kernel on ", x.device());
  return table;
}

void check_rows(const Tensor& x, const Tensor& target, const CrossEntropyRowsOptions& o) {
  TG_CHECK(x.defined() && x.dim() == 2, Value, kOp, ": expected 2-D logits [N, C], got ",
           x.defined() ? shape_str(x.sizes()) : std::string("an undefined tensor"));
  check_floating(kOp, x);
  TG_CHECK(x.size(1) > 0, Value, kOp, ": expected at least one class, got logits of shape ", x.sizes());
  TG_CHECK(target.defined() && target.dtype() == kInt64 && target.dim() == 1 &&
               target.size(0) == x.size(0),
           Value, kOp, ": expected an int64 target of shape [", x.size(0), "], got ",
           target.defined() ? dtype_name(target.dtype()) : "undefined", " of shape ",
           target.defined() ? shape_str(target.sizes()) : std::string("[]"));
  check_same_device(kOp, x, target);
  TG_CHECK(o.label_smoothing >= 0.0 && o.label_smoothing <= 1.0, Value, kOp,
           ": label_smoothing must be between 0.0 and 1.0, got ", o.label_smoothing);
  if (o.weight.defined()) {
    TG_CHECK(o.weight.dim() == 1 && o.weight.size(0) == x.size(1), Value, kOp,
             ": weight must have shape [", x.size(1), "] (one per class), got ", o.weight.sizes());
    check_same_device(kOp, x, o.weight);
  }
}

kernels::CrossEntropyArgs args_of(const Tensor& x, const Tensor& weight, const CrossEntropyRowsOptions& o) {
  kernels::CrossEntropyArgs a;
  a.dtype = x.dtype();
  a.rows = x.size(0);
  a.cols = x.size(1);
  a.ignore_index = o.ignore_index;
  a.label_smoothing = o.label_smoothing;
  a.weight = weight.defined() ? weight.data_ptr() : nullptr;
  return a;
}

// The weight as a dense tensor of x's dtype (undefined when there is none).
Tensor dense_weight(const Tensor& x, const CrossEntropyRowsOptions& o) {
  return o.weight.defined() ? contiguous(to_dtype(o.weight, x.dtype())) : Tensor();
}

}  // namespace

bool has_fused_cross_entropy(Device device) {
  const kernels::KernelTable& table = kernels_for(kOp, device);
  return table.cross_entropy_rows && table.cross_entropy_rows_backward;
}

std::tuple<Tensor, CrossEntropyRowStats, Tensor> cross_entropy_rows(const Tensor& logits, const Tensor& target,
                                                      const CrossEntropyRowsOptions& options) {
  check_rows(logits, target, options);
  const Tensor x = contiguous(logits), t = contiguous(target), w = dense_weight(logits, options);
  const Shape rows{x.size(0)};
  Tensor loss = empty(rows, x.dtype(), x.device());
  CrossEntropyRowStats stats{empty(rows, x.dtype(), x.device()), empty(rows, x.dtype(), x.device())};
  Tensor row_weight = empty(rows, x.dtype(), x.device());
  if (x.size(0) == 0) return {loss, stats, row_weight};
  const kernels::IndexCheck r = loss_kernels(x).cross_entropy_rows(
      args_of(x, w, options), x.data_ptr(), static_cast<const int64_t*>(t.data_ptr()), loss.data_ptr(),
      stats.max.data_ptr(), stats.log_sum.data_ptr(), row_weight.data_ptr());
  TG_CHECK(r.ok, Index, kOp, ": target ", r.bad_index, " is out of bounds for ", x.size(1),
           " classes (valid: 0 to ", x.size(1) - 1, ", or ignore_index ", options.ignore_index, ")");
  return {loss, stats, row_weight};
}

Tensor cross_entropy_rows_backward(const Tensor& logits, const Tensor& target, const CrossEntropyRowStats& stats,
                                   const Tensor& grad_loss, const CrossEntropyRowsOptions& options) {
  check_rows(logits, target, options);
  for (const Tensor* v : {&stats.max, &stats.log_sum, &grad_loss}) {
    TG_CHECK(v->defined() && v->dim() == 1 && v->size(0) == logits.size(0) && v->dtype() == logits.dtype(),
             Value, kOp, ": expected ", logits.dtype(), " of shape [", logits.size(0), "] for ",
             v == &grad_loss ? "grad_loss" : "the forward's row statistics", ", got ",
             v->defined() ? shape_str(v->sizes()) : std::string("an undefined tensor"));
    check_same_device(kOp, logits, *v);
  }
  const Tensor x = contiguous(logits), t = contiguous(target), w = dense_weight(logits, options);
  const Tensor m = contiguous(stats.max), ls = contiguous(stats.log_sum), g = contiguous(grad_loss);
  Tensor grad = empty(x.sizes(), x.dtype(), x.device());
  if (x.size(0) > 0)
    loss_kernels(x).cross_entropy_rows_backward(args_of(x, w, options), x.data_ptr(), static_cast<const int64_t*>(t.data_ptr()),
                                                m.data_ptr(), ls.data_ptr(), g.data_ptr(), grad.data_ptr());
  return grad;
}

}  // namespace tg::native
