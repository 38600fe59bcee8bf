// L-BFGS, as torch.optim.LBFGS: one parameter group, step(closure) runs up to max_iter
// iterations, each re-evaluating the loss through the closure (which must zero the gradients,
// compute the loss, call backward and return the loss). line_search_fn: "" (fixed step lr) or
// "strong_wolfe" (a line search satisfying the strong Wolfe conditions, with cubic interpolation:
// Nocedal & Wright, Numerical Optimization, Algorithms 3.5 and 3.6).
#pragma once
#include <string>

#include "optimizer.h"

namespace tg::optim {

struct LBFGSOptions {
  double lr = 1.0;
  int64_t max_iter = 20;
  int64_t max_eval = 0;  // 0: max_iter * 5 / 4 (PyTorch's None)
  double tolerance_grad = 1e-7;
  double tolerance_change = 1e-9;
  int64_t history_size = 100;
  std::string line_search_fn = "";  // "" or "strong_wolfe"

  OptionMap to_map() const;
  static LBFGSOptions from_group(const ParamGroup& group);
};

// State (kept on the first parameter, as PyTorch): "func_evals", "n_iter", "t", "H_diag",
// "prev_loss" (scalars), "d", "prev_flat_grad" (tensors), "old_dirs", "old_stps", "ro" (lists).
class LBFGS : public Optimizer {
 public:
  LBFGS(std::vector<Tensor> params, const LBFGSOptions& options = {});
  // Requires a closure; returns the loss it gave at the start of the step.
  Tensor step(const LossClosure& closure) override;

 private:
  Tensor gather_flat_grad() const;
  void add_to_params(double step_size, const Tensor& direction);
  std::vector<Tensor> clone_params() const;
  void set_params(const std::vector<Tensor>& values);
};

}  // namespace tg::optim
