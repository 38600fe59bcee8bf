// The schedulers compute each epoch's lr as PyTorch's get_lr does: StepLR, MultiStepLR,
// ExponentialLR and CosineAnnealingLR from the group's current lr (the "recursive" form, which
// equals the closed form when nothing else touches the lr), OneCycleLR from the stored endpoints.
#include "lr_scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

namespace tg::optim {

// ---------------------------------------------------------------- base

LRScheduler::LRScheduler(Optimizer& optimizer, int64_t last_epoch)
    : optimizer_(optimizer), last_epoch_(last_epoch) {
  TG_CHECK(last_epoch >= -1, Value, "lr_scheduler: invalid last_epoch: ", last_epoch,
           " (-1 to start, or the epoch to resume from)");
  auto& groups = optimizer.param_groups();
  for (size_t i = 0; i < groups.size(); ++i) {
    if (last_epoch == -1) {
      groups[i].options.try_emplace("initial_lr", groups[i].get("lr"));
    } else {
      TG_CHECK(groups[i].has("initial_lr"), Value, "lr_scheduler: param 'initial_lr' is not "
               "specified in param_groups[", i, "] when resuming an optimizer");
    }
    base_lrs_.push_back(groups[i].get("initial_lr"));
  }
}

void LRScheduler::initial_step() {
  step_count_ = 0;
  step();
}

void LRScheduler::step() {
  ++step_count_;
  ++last_epoch_;
  const std::vector<double> lrs = get_lr();
  auto& groups = optimizer_.param_groups();
  for (size_t i = 0; i < groups.size() && i < lrs.size(); ++i) groups[i].set("lr", lrs[i]);
  last_lr_.clear();
  for (const auto& g : groups) last_lr_.push_back(g.get("lr"));
}

namespace {
std::vector<double> current_lrs(Optimizer& opt) {
  std::vector<double> out;
  for (const auto& g : opt.param_groups()) out.push_back(g.get("lr"));
  return out;
}
}  // namespace

// ---------------------------------------------------------------- StepLR

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma, int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch), step_size_(step_size), gamma_(gamma) {
  TG_CHECK(step_size >= 1, Value, "StepLR: invalid step_size: ", step_size, " (must be >= 1)");
  initial_step();
}

std::vector<double> StepLR::get_lr() {
  std::vector<double> lrs = current_lrs(optimizer_);
  if (last_epoch_ == 0 || last_epoch_ % step_size_ != 0) return lrs;
  for (double& lr : lrs) lr *= gamma_;
  return lrs;
}

// ---------------------------------------------------------------- MultiStepLR

MultiStepLR::MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma,
                         int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch), milestones_(std::move(milestones)), gamma_(gamma) {
  std::sort(milestones_.begin(), milestones_.end());
  initial_step();
}

std::vector<double> MultiStepLR::get_lr() {
  std::vector<double> lrs = current_lrs(optimizer_);
  const auto hits = std::count(milestones_.begin(), milestones_.end(), last_epoch_);
  if (hits == 0) return lrs;
  const double factor = std::pow(gamma_, static_cast<double>(hits));
  for (double& lr : lrs) lr *= factor;
  return lrs;
}

// ---------------------------------------------------------------- ExponentialLR

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma, int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch), gamma_(gamma) {
  initial_step();
}

std::vector<double> ExponentialLR::get_lr() {
  std::vector<double> lrs = current_lrs(optimizer_);
  if (last_epoch_ == 0) return lrs;
  for (double& lr : lrs) lr *= gamma_;
  return lrs;
}

// ---------------------------------------------------------------- CosineAnnealingLR

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min,
                                     int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch), T_max_(T_max), eta_min_(eta_min) {
  TG_CHECK(T_max >= 1, Value, "CosineAnnealingLR: invalid T_max: ", T_max, " (must be >= 1)");
  initial_step();
}

std::vector<double> CosineAnnealingLR::get_lr() {
  constexpr double pi = std::numbers::pi;
  const double T = static_cast<double>(T_max_), e = static_cast<double>(last_epoch_);
  std::vector<double> lrs = current_lrs(optimizer_);
  if (last_epoch_ == 0) return lrs;
  if (step_count_ == 1) {  // resuming at a later epoch: the closed form
    for (size_t i = 0; i < lrs.size(); ++i)
      lrs[i] = eta_min_ + (base_lrs_[i] - eta_min_) * (1.0 + std::cos(e * pi / T)) / 2.0;
    return lrs;
  }
  if ((last_epoch_ - 1 - T_max_) % (2 * T_max_) == 0) {
    // At the bottom of the cosine the ratio below would divide by zero: step up from eta_min.
    for (size_t i = 0; i < lrs.size(); ++i)
      lrs[i] += (base_lrs_[i] - eta_min_) * (1.0 - std::cos(pi / T)) / 2.0;
    return lrs;
  }
  const double ratio = (1.0 + std::cos(pi * e / T)) / (1.0 + std::cos(pi * (e - 1.0) / T));
  for (double& lr : lrs) lr = ratio * (lr - eta_min_) + eta_min_;
  return lrs;
}

// ---------------------------------------------------------------- OneCycleLR

namespace {
std::vector<double> per_group(const char* name, const std::vector<double>& values, size_t groups) {
  if (values.size() == 1) return std::vector<double>(groups, values[0]);
  TG_CHECK(values.size() == groups, Value, "OneCycleLR: expected ", groups, " values for ", name,
           ", got ", values.size());
  return values;
}

int64_t one_cycle_total_steps(const OneCycleLROptions& o) {
  if (o.total_steps == 0 && o.epochs == 0 && o.steps_per_epoch == 0)
    TG_FAIL(Value, "OneCycleLR: you must define either total_steps OR (epochs AND steps_per_epoch)");
  if (o.total_steps != 0) {
    TG_CHECK(o.total_steps > 0, Value, "OneCycleLR: expected positive integer total_steps, but got ",
             o.total_steps);
    return o.total_steps;
  }
  TG_CHECK(o.epochs > 0, Value, "OneCycleLR: expected positive integer epochs, but got ", o.epochs);
  TG_CHECK(o.steps_per_epoch > 0, Value,
           "OneCycleLR: expected positive integer steps_per_epoch, but got ", o.steps_per_epoch);
  return o.epochs * o.steps_per_epoch;
}

// Runs before the base constructor: sets the groups' "initial_lr" (which the base then keeps),
// "max_lr", "min_lr" and the momentum endpoints.
Optimizer& prepare_one_cycle(Optimizer& opt, const OneCycleLROptions& o) {
  one_cycle_total_steps(o);
  TG_CHECK(o.pct_start >= 0.0 && o.pct_start <= 1.0, Value,
           "OneCycleLR: expected float between 0 and 1 pct_start, but got ", o.pct_start);
  TG_CHECK(o.anneal_strategy == "cos" || o.anneal_strategy == "linear", Value,
           "OneCycleLR: anneal_strategy must be one of 'cos' or 'linear', instead got '",
           o.anneal_strategy, "'");
  TG_CHECK(!o.max_lr.empty(), Value, "OneCycleLR: max_lr is required");
  auto& groups = opt.param_groups();
  const std::vector<double> max_lrs = per_group("max_lr", o.max_lr, groups.size());
  if (o.last_epoch == -1)
    for (size_t i = 0; i < groups.size(); ++i) {
      groups[i].set("initial_lr", max_lrs[i] / o.div_factor);
      groups[i].set("max_lr", max_lrs[i]);
      groups[i].set("min_lr", groups[i].get("initial_lr") / o.final_div_factor);
    }
  if (o.cycle_momentum) {
    const bool has_momentum = opt.defaults().count("momentum") != 0;
    const bool has_beta1 = opt.defaults().count("beta1") != 0;
    TG_CHECK(has_momentum || has_beta1, Value, "OneCycleLR: optimizer ", opt.name(),
             " must support momentum with the cycle_momentum option enabled");
    const std::vector<double> max_m = per_group("max_momentum", o.max_momentum, groups.size());
    const std::vector<double> base_m = per_group("base_momentum", o.base_momentum, groups.size());
    if (o.last_epoch == -1)
      for (size_t i = 0; i < groups.size(); ++i) {
        groups[i].set(has_beta1 ? "beta1" : "momentum", max_m[i]);
        groups[i].set("max_momentum", max_m[i]);
        groups[i].set("base_momentum", base_m[i]);
      }
  }
  return opt;
}
}  // namespace

OneCycleLR::OneCycleLR(Optimizer& optimizer, double max_lr, int64_t total_steps)
    : OneCycleLR(optimizer, [&] {
        OneCycleLROptions o;
        o.max_lr = {max_lr};
        o.total_steps = total_steps;
        return o;
      }()) {}

OneCycleLR::OneCycleLR(Optimizer& optimizer, const OneCycleLROptions& o)
    : LRScheduler(prepare_one_cycle(optimizer, o), o.last_epoch),
      total_steps_(one_cycle_total_steps(o)),
      cos_(o.anneal_strategy == "cos"),
      cycle_momentum_(o.cycle_momentum) {
  const double n = static_cast<double>(total_steps_);
  if (o.three_phase) {
    phases_ = {{o.pct_start * n - 1.0, "initial_lr", "max_lr", "max_momentum", "base_momentum"},
               {2.0 * o.pct_start * n - 2.0, "max_lr", "initial_lr", "base_momentum", "max_momentum"},
               {n - 1.0, "initial_lr", "min_lr", "max_momentum", "max_momentum"}};
  } else {
    phases_ = {{o.pct_start * n - 1.0, "initial_lr", "max_lr", "max_momentum", "base_momentum"},
               {n - 1.0, "max_lr", "min_lr", "base_momentum", "max_momentum"}};
  }
  use_beta1_ = optimizer.defaults().count("beta1") != 0;
  initial_step();
}

double OneCycleLR::anneal(double start, double end, double pct) const {
  if (cos_) return end + (start - end) / 2.0 * (std::cos(std::numbers::pi * pct) + 1.0);
  return (end - start) * pct + start;
}

std::vector<double> OneCycleLR::get_lr() {
  TG_CHECK(last_epoch_ <= total_steps_, Value, "OneCycleLR: tried to step ", last_epoch_,
           " times; the specified number of total steps is ", total_steps_);
  const double step_num = static_cast<double>(last_epoch_);
  std::vector<double> lrs;
  for (auto& group : optimizer_.param_groups()) {
    double start_step = 0.0, lr = 0.0, momentum = 0.0;
    for (size_t i = 0; i < phases_.size(); ++i) {
      const Phase& ph = phases_[i];
      if (step_num <= ph.end_step || i + 1 == phases_.size()) {
        const double pct = (step_num - start_step) / (ph.end_step - start_step);
        lr = anneal(group.get(ph.start_lr), group.get(ph.end_lr), pct);
        if (cycle_momentum_)
          momentum = anneal(group.get(ph.start_momentum), group.get(ph.end_momentum), pct);
        break;
      }
      start_step = ph.end_step;
    }
    lrs.push_back(lr);
    if (cycle_momentum_) group.set(use_beta1_ ? "beta1" : "momentum", momentum);
  }
  return lrs;
}

// ---------------------------------------------------------------- ReduceLROnPlateau

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, const ReduceLROnPlateauOptions& options)
    : optimizer_(optimizer), o_(options) {
  TG_CHECK(o_.factor < 1.0, Value, "ReduceLROnPlateau: factor should be < 1.0, got ", o_.factor);
  TG_CHECK(o_.mode == "min" || o_.mode == "max", Value, "ReduceLROnPlateau: mode '", o_.mode,
           "' is unknown (use 'min' or 'max')");
  TG_CHECK(o_.threshold_mode == "rel" || o_.threshold_mode == "abs", Value,
           "ReduceLROnPlateau: threshold mode '", o_.threshold_mode,
           "' is unknown (use 'rel' or 'abs')");
  TG_CHECK(o_.patience >= 0, Value, "ReduceLROnPlateau: invalid patience: ", o_.patience);
  TG_CHECK(o_.cooldown >= 0, Value, "ReduceLROnPlateau: invalid cooldown: ", o_.cooldown);
  const size_t n = optimizer.param_groups().size();
  if (o_.min_lr.size() == 1) {
    min_lrs_.assign(n, o_.min_lr[0]);
  } else {
    TG_CHECK(o_.min_lr.size() == n, Value, "ReduceLROnPlateau: expected ", n, " min_lrs, got ",
             o_.min_lr.size());
    min_lrs_ = o_.min_lr;
  }
  best_ = o_.mode == "min" ? std::numeric_limits<double>::infinity()
                           : -std::numeric_limits<double>::infinity();
  last_lr_ = current_lrs(optimizer_);
}

bool ReduceLROnPlateau::is_better(double a, double best) const {
  if (o_.mode == "min")
    return o_.threshold_mode == "rel" ? a < best * (1.0 - o_.threshold) : a < best - o_.threshold;
  return o_.threshold_mode == "rel" ? a > best * (o_.threshold + 1.0) : a > best + o_.threshold;
}

void ReduceLROnPlateau::reduce_lr() {
  auto& groups = optimizer_.param_groups();
  for (size_t i = 0; i < groups.size(); ++i) {
    const double old_lr = groups[i].get("lr");
    const double new_lr = std::max(old_lr * o_.factor, min_lrs_[i]);
    if (old_lr - new_lr > o_.eps) groups[i].set("lr", new_lr);
  }
}

void ReduceLROnPlateau::step(double metric) {
  ++last_epoch_;
  if (is_better(metric, best_)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (in_cooldown()) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;  // bad epochs during the cooldown do not count
  }
  if (num_bad_epochs_ > o_.patience) {
    reduce_lr();
    cooldown_counter_ = o_.cooldown;
    num_bad_epochs_ = 0;
  }
  last_lr_ = current_lrs(optimizer_);
}

}  // namespace tg::optim
