// Stochastic gradient descent, optionally with (Nesterov) momentum, as torch.optim.SGD.
#pragma once
#include <limits>

#include "optimizer.h"

namespace tg::optim {

struct SGDOptions {
  // No default: SGD needs a learning rate (as PyTorch 1.13's lr=required).
  double lr = std::numeric_limits<double>::quiet_NaN();
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
  bool maximize = false;

  OptionMap to_map() const;
  static SGDOptions from_group(const ParamGroup& group);
};

// State per parameter: "momentum_buffer" (when momentum != 0).
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, const SGDOptions& options);
  SGD(std::vector<ParamGroup> groups, const SGDOptions& options);
  Tensor step(const LossClosure& closure = nullptr) override;
};

}  // namespace tg::optim
