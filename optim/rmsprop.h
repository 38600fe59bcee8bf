// RMSprop, as torch.optim.RMSprop (alpha is the smoothing constant of the squared average).
#pragma once
#include "optimizer.h"

namespace tg::optim {

struct RMSpropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double momentum = 0.0;
  bool centered = false;
  bool maximize = false;

  OptionMap to_map() const;
  static RMSpropOptions from_group(const ParamGroup& group);
};

// State per parameter: "step", "square_avg", "momentum_buffer" (momentum > 0), "grad_avg"
// (centered).
class RMSprop : public Optimizer {
 public:
  RMSprop(std::vector<Tensor> params, const RMSpropOptions& options = {});
  RMSprop(std::vector<ParamGroup> groups, const RMSpropOptions& options = {});
  Tensor step(const LossClosure& closure = nullptr) override;
};

}  // namespace tg::optim
