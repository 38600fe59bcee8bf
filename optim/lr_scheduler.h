// Learning-rate schedulers, as torch.optim.lr_scheduler: each writes the "lr" option of every
// parameter group of its optimizer. Construction does the first step() (epoch 0), as PyTorch;
// call step() after each optimizer.step() (once per epoch, or per batch for OneCycleLR).
//
//   tg::optim::SGD opt(params, {.lr = 0.1});
//   tg::optim::StepLR sched(opt, /*step_size=*/30, /*gamma=*/0.1);
//   for (int epoch = 0; epoch < 100; ++epoch) { train(opt); sched.step(); }
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "optimizer.h"

namespace tg::optim {

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  // Advances one epoch and sets each group's lr.
  void step();
  // The lr of each group after the last step().
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  int64_t last_epoch() const { return last_epoch_; }
  // Each group's "initial_lr" when the scheduler was made.
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  Optimizer& optimizer() { return optimizer_; }

 protected:
  // last_epoch = -1: a fresh start (each group's "initial_lr" is set to its lr unless present);
  // else resuming, and every group must already have "initial_lr".
  LRScheduler(Optimizer& optimizer, int64_t last_epoch);
  // Derived constructors call this last: it takes the first step (epoch last_epoch + 1).
  void initial_step();
  // The lr of each group for epoch last_epoch_ (PyTorch's get_lr, which may read the current lr).
  virtual std::vector<double> get_lr() = 0;

  Optimizer& optimizer_;
  int64_t last_epoch_;
  int64_t step_count_ = 0;
  std::vector<double> base_lrs_;
  std::vector<double> last_lr_;
};

// lr = initial_lr * gamma ^ floor(epoch / step_size).
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1, int64_t last_epoch = -1);

 protected:
  std::vector<double> get_lr() override;

 private:
  int64_t step_size_;
  double gamma_;
};

// lr = initial_lr * gamma ^ (number of milestones <= epoch); a milestone listed twice counts twice.
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma = 0.1,
              int64_t last_epoch = -1);

 protected:
  std::vector<double> get_lr() override;

 private:
  std::vector<int64_t> milestones_;  // sorted
  double gamma_;
};

// lr = initial_lr * gamma ^ epoch.
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma, int64_t last_epoch = -1);

 protected:
  std::vector<double> get_lr() override;

 private:
  double gamma_;
};

// lr = eta_min + (initial_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2, computed with PyTorch's
// recursive form (from the current lr, so it composes with other changes of the lr the same way).
// Past T_max it rises again (period 2 T_max), as PyTorch.
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0.0,
                    int64_t last_epoch = -1);

 protected:
  std::vector<double> get_lr() override;

 private:
  int64_t T_max_;
  double eta_min_;
};

// The 1cycle policy (Smith & Topin): lr rises from max_lr / div_factor to max_lr over pct_start of
// total_steps, then falls to max_lr / (div_factor * final_div_factor); three_phase: up, back down
// to the initial lr, then down to the minimum. With cycle_momentum, the momentum (SGD, RMSprop) or
// beta1 (Adam, AdamW) moves the opposite way between base_momentum and max_momentum. Step it
// once per batch. Give total_steps, or epochs and steps_per_epoch.
struct OneCycleLROptions {
  std::vector<double> max_lr = {};  // one value for all groups, or one per group
  int64_t total_steps = 0;     // 0: epochs * steps_per_epoch
  int64_t epochs = 0;
  int64_t steps_per_epoch = 0;
  double pct_start = 0.3;
  std::string anneal_strategy = "cos";  // "cos" or "linear"
  bool cycle_momentum = true;
  std::vector<double> base_momentum = {0.85};
  std::vector<double> max_momentum = {0.95};
  double div_factor = 25.0;
  double final_div_factor = 1e4;
  bool three_phase = false;
  int64_t last_epoch = -1;
};

class OneCycleLR : public LRScheduler {
 public:
  OneCycleLR(Optimizer& optimizer, const OneCycleLROptions& options);
  // The common case: one max_lr for every group and the number of steps.
  OneCycleLR(Optimizer& optimizer, double max_lr, int64_t total_steps);
  int64_t total_steps() const { return total_steps_; }

 protected:
  std::vector<double> get_lr() override;

 private:
  struct Phase {
    double end_step;
    const char *start_lr, *end_lr, *start_momentum, *end_momentum;  // group option names
  };
  double anneal(double start, double end, double pct) const;
  int64_t total_steps_;
  std::vector<Phase> phases_;
  bool cos_;
  bool cycle_momentum_;
  bool use_beta1_ = false;
};

// Divides the lr by 1 / factor when a metric has stopped improving for `patience` epochs.
struct ReduceLROnPlateauOptions {
  std::string mode = "min";  // "min": the metric should fall; "max": rise
  double factor = 0.1;
  int64_t patience = 10;
  double threshold = 1e-4;
  std::string threshold_mode = "rel";  // "rel": relative to the best; "abs"
  int64_t cooldown = 0;
  std::vector<double> min_lr = {0.0};  // one value for all groups, or one per group
  double eps = 1e-8;                   // smaller changes of the lr are not made
};

class ReduceLROnPlateau {
 public:
  explicit ReduceLROnPlateau(Optimizer& optimizer, const ReduceLROnPlateauOptions& options = {});
  void step(double metric);
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  double best() const { return best_; }
  int64_t num_bad_epochs() const { return num_bad_epochs_; }
  int64_t cooldown_counter() const { return cooldown_counter_; }
  int64_t last_epoch() const { return last_epoch_; }
  bool in_cooldown() const { return cooldown_counter_ > 0; }

 private:
  bool is_better(double a, double best) const;
  void reduce_lr();
  Optimizer& optimizer_;
  ReduceLROnPlateauOptions o_;
  std::vector<double> min_lrs_;
  double best_;
  int64_t num_bad_epochs_ = 0;
  int64_t cooldown_counter_ = 0;
  int64_t last_epoch_ = 0;
  std::vector<double> last_lr_;
};

}  // namespace tg::optim
