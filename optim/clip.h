// Gradient clipping (torch.nn.utils.clip_grad_norm_ / clip_grad_value_) and an early-stopping
// helper for training loops.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "../core/tensor.h"

namespace tg::optim {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Scales the gradients of `params` (those that have one) in place so that their total norm (the
// norm of the vector of every gradient's norm) is at most max_norm: each is multiplied by
// min(1, max_norm / (total_norm + 1e-6)). norm_type: p > 0, or kInf (the largest |g|). Returns the
// total norm before clipping. error_if_nonfinite: throw instead of scaling by a NaN/inf norm.
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

// Clamps every gradient of `params` in place to [-clip_value, clip_value].
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

// Stops training when a metric has not improved for `patience` consecutive epochs: an epoch
// improves when its metric beats the best so far by more than min_delta (lower in mode "min",
// higher in "max"). NaN never improves.
//
//   tg::optim::EarlyStopping stopper(/*patience=*/5);
//   for (int epoch = 0;; ++epoch) { ...; if (stopper.step(val_loss)) break; }
class EarlyStopping {
 public:
  explicit EarlyStopping(int64_t patience = 10, double min_delta = 0.0, std::string mode = "min");

  // Records the metric of one epoch; true when training should stop.
  bool step(double metric);
  bool should_stop() const { return should_stop_; }
  double best() const { return best_; }           // +inf (min) / -inf (max) before any step
  int64_t best_epoch() const { return best_epoch_; }  // 0-based epoch of the best; -1 before any
  int64_t num_bad_epochs() const { return num_bad_epochs_; }
  int64_t epoch() const { return epoch_; }  // epochs recorded so far
  void reset();

 private:
  int64_t patience_;
  double min_delta_;
  bool minimize_;
  double best_ = 0.0;
  int64_t best_epoch_ = -1;
  int64_t num_bad_epochs_ = 0;
  int64_t epoch_ = 0;
  bool should_stop_ = false;
};

}  // namespace tg::optim
