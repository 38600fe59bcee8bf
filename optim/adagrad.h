// Adagrad, as torch.optim.Adagrad.
#pragma once
#include "optimizer.h"

namespace tg::optim {

struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0.0;
  double weight_decay = 0.0;
  double initial_accumulator_value = 0.0;
  double eps = 1e-10;
  bool maximize = false;

  OptionMap to_map() const;
  static AdagradOptions from_group(const ParamGroup& group);
};

// State per parameter, created with the optimizer (as PyTorch): "step" and "sum" (filled with
// initial_accumulator_value).
class Adagrad : public Optimizer {
 public:
  Adagrad(std::vector<Tensor> params, const AdagradOptions& options = {});
  Adagrad(std::vector<ParamGroup> groups, const AdagradOptions& options = {});
  Tensor step(const LossClosure& closure = nullptr) override;

 private:
  void init_state();
};

}  // namespace tg::optim
