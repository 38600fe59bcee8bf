// Adam and AdamW, as torch.optim.Adam / torch.optim.AdamW. PyTorch's betas=(b1, b2) are the
// options beta1 and beta2.
#pragma once
#include "optimizer.h"

namespace tg::optim {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // L2 penalty added to the gradient
  bool amsgrad = false;
  bool maximize = false;

  OptionMap to_map() const;
  static AdamOptions from_group(const ParamGroup& group);
};

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;  // decoupled: the parameter is scaled by 1 - lr * weight_decay
  bool amsgrad = false;
  bool maximize = false;

  OptionMap to_map() const;
  static AdamWOptions from_group(const ParamGroup& group);
};

// State per parameter: "step" (scalar), "exp_avg", "exp_avg_sq", and "max_exp_avg_sq" (amsgrad).
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, const AdamOptions& options = {});
  Adam(std::vector<ParamGroup> groups, const AdamOptions& options = {});
  Tensor step(const LossClosure& closure = nullptr) override;
};

class AdamW : public Optimizer {
 public:
  AdamW(std::vector<Tensor> params, const AdamWOptions& options = {});
  AdamW(std::vector<ParamGroup> groups, const AdamWOptions& options = {});
  Tensor step(const LossClosure& closure = nullptr) override;
};

}  // namespace tg::optim
