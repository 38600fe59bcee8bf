// The loss modules of tg::nn: thin wrappers over the F:: losses with PyTorch's names, options and
// defaults. weight / pos_weight are buffers, as in PyTorch (so they follow .to() and appear in
// the state dict when given). Call them with two tensors: loss_fn(input, target).
#pragma once
#include <string>

#include "functional.h"
#include "module.h"

namespace tg::nn {

class Loss : public Module {
 public:
  Tensor forward(const Tensor& input, const Tensor& target) { return compute(input, target); }
  Tensor operator()(const Tensor& input, const Tensor& target) { return compute(input, target); }
  using Module::forward;  // one tensor: an error naming the loss
  using Module::operator();

 protected:
  using Module::Module;
  virtual Tensor compute(const Tensor& input, const Tensor& target) = 0;
};

class MSELoss : public Loss {
 public:
  explicit MSELoss(std::string reduction = "mean");
  std::string reduction;

 protected:
  Tensor compute(const Tensor& input, const Tensor& target) override;
};

class L1Loss : public Loss {
 public:
  explicit L1Loss(std::string reduction = "mean");
  std::string reduction;

 protected:
  Tensor compute(const Tensor& input, const Tensor& target) override;
};

class SmoothL1Loss : public Loss {
 public:
  explicit SmoothL1Loss(std::string reduction = "mean", double beta = 1.0);
  std::string reduction;
  double beta;

 protected:
  Tensor compute(const Tensor& input, const Tensor& target) override;
};

// CrossEntropyLoss({.weight = w, .ignore_index = 0, .reduction = "sum", .label_smoothing = 0.1})
class CrossEntropyLoss : public Loss {
 public:
  explicit CrossEntropyLoss(F::CrossEntropyOptions options = {});
  F::CrossEntropyOptions options;  // options.weight is the registered buffer "weight"

 protected:
  Tensor compute(const Tensor& input, const Tensor& target) override;
};

class NLLLoss : public Loss {
 public:
  explicit NLLLoss(F::NLLLossOptions options = {});
  F::NLLLossOptions options;

 protected:
  Tensor compute(const Tensor& input, const Tensor& target) override;
};

class BCELoss : public Loss {
 public:
  explicit BCELoss(F::BCEOptions options = {});
  F::BCEOptions options;

 protected:
  Tensor compute(const Tensor& input, const Tensor& target) override;
};

class BCEWithLogitsLoss : public Loss {
 public:
  explicit BCEWithLogitsLoss(F::BCEWithLogitsOptions options = {});
  F::BCEWithLogitsOptions options;

 protected:
  Tensor compute(const Tensor& input, const Tensor& target) override;
};

}  // namespace tg::nn
