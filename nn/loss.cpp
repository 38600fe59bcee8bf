#include "loss.h"

namespace tg::nn {

namespace {
std::string checked_reduction(const char* module, std::string reduction) {
  TG_CHECK(reduction == "none" || reduction == "mean" || reduction == "sum", Value, module, ": \"",
           reduction,
           "\" is not a valid value for reduction (expected \"none\", \"mean\" or \"sum\")");
  return reduction;
}

// PyTorch registers the class weights as buffers: undefined ones are left out of the state dict.
Tensor weight_buffer(Module& m, const char* name, const Tensor& w) {
  return m.register_buffer(name, w.defined() ? w.detach() : Tensor());
}
}  // namespace

MSELoss::MSELoss(std::string reduction)
    : Loss("MSELoss"), reduction(checked_reduction("MSELoss", std::move(reduction))) {}
Tensor MSELoss::compute(const Tensor& input, const Tensor& target) {
  return F::mse_loss(input, target, reduction);
}

L1Loss::L1Loss(std::string reduction)
    : Loss("L1Loss"), reduction(checked_reduction("L1Loss", std::move(reduction))) {}
Tensor L1Loss::compute(const Tensor& input, const Tensor& target) {
  return F::l1_loss(input, target, reduction);
}

SmoothL1Loss::SmoothL1Loss(std::string reduction, double beta)
    : Loss("SmoothL1Loss"),
      reduction(checked_reduction("SmoothL1Loss", std::move(reduction))),
      beta(beta) {
  TG_CHECK(beta >= 0.0, Value, "SmoothL1Loss: beta must be >= 0, got ", beta);
}
Tensor SmoothL1Loss::compute(const Tensor& input, const Tensor& target) {
  return F::smooth_l1_loss(input, target, reduction, beta);
}

CrossEntropyLoss::CrossEntropyLoss(F::CrossEntropyOptions o)
    : Loss("CrossEntropyLoss"), options(std::move(o)) {
  checked_reduction("CrossEntropyLoss", options.reduction);
  TG_CHECK(options.label_smoothing >= 0.0 && options.label_smoothing <= 1.0, Value,
           "CrossEntropyLoss: label_smoothing must be between 0.0 and 1.0, got ",
           options.label_smoothing);
  options.weight = weight_buffer(*this, "weight", options.weight);
}
Tensor CrossEntropyLoss::compute(const Tensor& input, const Tensor& target) {
  return F::cross_entropy(input, target, options);
}

NLLLoss::NLLLoss(F::NLLLossOptions o) : Loss("NLLLoss"), options(std::move(o)) {
  checked_reduction("NLLLoss", options.reduction);
  options.weight = weight_buffer(*this, "weight", options.weight);
}
Tensor NLLLoss::compute(const Tensor& input, const Tensor& target) {
  return F::nll_loss(input, target, options);
}

BCELoss::BCELoss(F::BCEOptions o) : Loss("BCELoss"), options(std::move(o)) {
  checked_reduction("BCELoss", options.reduction);
  options.weight = weight_buffer(*this, "weight", options.weight);
}
Tensor BCELoss::compute(const Tensor& input, const Tensor& target) {
  return F::binary_cross_entropy(input, target, options);
}

BCEWithLogitsLoss::BCEWithLogitsLoss(F::BCEWithLogitsOptions o)
    : Loss("BCEWithLogitsLoss"), options(std::move(o)) {
  checked_reduction("BCEWithLogitsLoss", options.reduction);
  options.weight = weight_buffer(*this, "weight", options.weight);
  options.pos_weight = weight_buffer(*this, "pos_weight", options.pos_weight);
}
Tensor BCEWithLogitsLoss::compute(const Tensor& input, const Tensor& target) {
  return F::binary_cross_entropy_with_logits(input, target, options);
}

}  // namespace tg::nn
