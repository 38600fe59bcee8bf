#include "clip.h"

#include <cmath>

#include "../autograd/functions.h"
#include "../autograd/node.h"
#include "../core/native.h"

namespace tg::optim {

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  TG_CHECK(norm_type > 0.0, Value, "clip_grad_norm_: norm_type must be positive or inf, got ",
           norm_type);
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  for (const auto& p : params)
    if (p.defined() && p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return 0.0;

  // Each gradient's norm, then the norm of those (as PyTorch).
  double total = 0.0;
  if (std::isinf(norm_type)) {
    for (const auto& g : grads) {
      if (g.numel() == 0) continue;
      const double m = amax(abs(g)).item();
      if (std::isnan(m) || m > total) total = m;  // a NaN stays: nothing compares greater
    }
  } else {
    double acc = 0.0;
    for (const auto& g : grads) {
      double norm;
      if (norm_type == 1.0) norm = sum(abs(g)).item();
      else if (norm_type == 2.0) norm = std::sqrt(sum(mul(g, g)).item());
      else norm = std::pow(sum(pow(abs(g), norm_type)).item(), 1.0 / norm_type);
      acc += norm_type == 1.0 ? norm : norm_type == 2.0 ? norm * norm : std::pow(norm, norm_type);
    }
    total = norm_type == 1.0 ? acc : norm_type == 2.0 ? std::sqrt(acc) : std::pow(acc, 1.0 / norm_type);
  }
  TG_CHECK(!error_if_nonfinite || std::isfinite(total), Runtime, "clip_grad_norm_: the total norm of order ",
           norm_type, " of the gradients is non-finite (", total,
           "), so it cannot be clipped; pass error_if_nonfinite=false to scale by it anyway");
  const double coef = max_norm / (total + 1e-6);
  const double clamped = coef < 1.0 || std::isnan(coef) ? coef : 1.0;
  if (clamped != 1.0)
    for (const auto& g : grads) native::unary_("clip_grad_norm_", native::UnaryOp::MulScalar, g, clamped);
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  TG_CHECK(clip_value >= 0.0, Value, "clip_grad_value_: clip_value must be >= 0, got ", clip_value);
  NoGradGuard no_grad;
  for (const auto& p : params)
    if (p.defined() && p.grad().defined())
      native::unary_("clip_grad_value_", native::UnaryOp::Clamp, p.grad(), -clip_value, clip_value);
}

EarlyStopping::EarlyStopping(int64_t patience, double min_delta, std::string mode)
    : patience_(patience), min_delta_(min_delta), minimize_(mode == "min") {
  TG_CHECK(patience >= 0, Value, "EarlyStopping: patience must be >= 0, got ", patience);
  TG_CHECK(min_delta >= 0.0, Value, "EarlyStopping: min_delta must be >= 0, got ", min_delta);
  TG_CHECK(mode == "min" || mode == "max", Value, "EarlyStopping: mode must be 'min' or 'max', got '",
           mode, "'");
  reset();
}

void EarlyStopping::reset() {
  best_ = minimize_ ? kInf : -kInf;
  best_epoch_ = -1;
  num_bad_epochs_ = 0;
  epoch_ = 0;
  should_stop_ = false;
}

bool EarlyStopping::step(double metric) {
  const bool improved = minimize_ ? metric < best_ - min_delta_ : metric > best_ + min_delta_;
  if (improved) {
    best_ = metric;
    best_epoch_ = epoch_;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  ++epoch_;
  // patience 0: stop at the first epoch without improvement.
  should_stop_ = num_bad_epochs_ > 0 && num_bad_epochs_ >= patience_;
  return should_stop_;
}

}  // namespace tg::optim
