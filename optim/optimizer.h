// tg::optim::Optimizer: parameter groups with their own options, per-parameter state, step(),
// zero_grad() and a state_dict that round-trips, with PyTorch's semantics:
//
//   tg::optim::SGD opt(model.parameters(), {.lr = 0.1, .momentum = 0.9});
//   tg::optim::Adam opt({{encoder_params}, {head_params, {{"lr", 1e-4}}}}, {.lr = 1e-3});
//
// A group's options are a map from PyTorch's argument names to numbers ("lr", "momentum",
// "weight_decay", "beta1"/"beta2" for PyTorch's betas, booleans as 0/1); keys a group leaves out
// take the optimizer's defaults. Schedulers read and write the same maps ("lr", "initial_lr", ...).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "../core/tensor.h"

namespace tg::optim {

using OptionMap = std::map<std::string, double>;

// One parameter group: its tensors and the options that differ from the optimizer's defaults
// (after construction: all of them).
struct ParamGroup {
  std::vector<Tensor> params;
  OptionMap options;
  std::map<std::string, std::string> string_options;  // e.g. LBFGS's line_search_fn

  ParamGroup() = default;
  ParamGroup(std::vector<Tensor> params_, OptionMap options_ = {})
      : params(std::move(params_)), options(std::move(options_)) {}

  bool has(const std::string& key) const { return options.count(key) != 0; }
  // The option `key`; an error names it when the group has none.
  double get(const std::string& key) const;
  void set(const std::string& key, double value) { options[key] = value; }
};

// What an optimizer keeps for one parameter (PyTorch's optimizer.state[p]): named tensors
// ("exp_avg", "momentum_buffer", ...), numbers ("step") and lists of tensors (LBFGS's history).
struct ParamState {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, double> scalars;
  std::map<std::string, std::vector<Tensor>> tensor_lists;
  bool empty() const { return tensors.empty() && scalars.empty() && tensor_lists.empty(); }
  // The tensor `key`, undefined when there is none; the number `key`, or `otherwise`.
  Tensor tensor(const std::string& key) const;
  double scalar(const std::string& key, double otherwise = 0.0) const;
};

// PyTorch's optimizer.state_dict() as plain data: each group's options with its parameters as
// indices (numbered across groups in order), and the state of each parameter that has one, keyed by
// that index. state_dict() shares the state tensors (as PyTorch); load_state_dict() copies them.
struct OptimizerStateDict {
  struct Group {
    OptionMap options;
    std::map<std::string, std::string> string_options;
    std::vector<int64_t> params;
  };
  std::vector<Group> param_groups;
  std::map<int64_t, ParamState> state;
};

class Optimizer {
 public:
  // Re-evaluates the model: zeroes the gradients, computes the loss, calls backward, returns it.
  using LossClosure = std::function<Tensor()>;

  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient. With a closure, it is called first (with
  // grad mode on) and its loss returned; LBFGS needs one.
  virtual Tensor step(const LossClosure& closure = nullptr) = 0;
  // set_to_none: drop the gradients (the default, as from PyTorch 2.0; 1.13 zeroed them); else
  // zero them in place.
  void zero_grad(bool set_to_none = true);

  // Adds a group; options it leaves out take the defaults. Errors: bad option values, a tensor
  // that is not a leaf or does not require grad, a tensor already in a group.
  void add_param_group(ParamGroup group);
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  const OptionMap& defaults() const { return defaults_; }
  const std::string& name() const { return name_; }

  // The state of `param` (created empty on first use) and whether it has any yet.
  ParamState& state(const Tensor& param);
  bool has_state(const Tensor& param) const;

  OptimizerStateDict state_dict() const;
  // Takes the groups' options and the per-parameter state of `dict` (which must have as many
  // groups, of the same sizes, as this optimizer); state tensors are copied, cast to each
  // parameter's dtype and device.
  void load_state_dict(const OptimizerStateDict& dict);

 protected:
  // `validate` checks one group's options (complete: defaults filled in) and throws tg::Error.
  using Validator = std::function<void(const ParamGroup&)>;
  Optimizer(std::string name, OptionMap defaults, Validator validate);
  // Derived constructors call this once their defaults are set.
  void add_param_groups(std::vector<ParamGroup> groups);
  // Runs the closure with grad mode on (undefined Tensor when there is none).
  static Tensor evaluate(const LossClosure& closure);
  // The parameters of `group` that have a gradient (the others are skipped), and the gradients.
  static void params_with_grad(const ParamGroup& group, std::vector<Tensor>& params,
                               std::vector<Tensor>& grads);

  std::string name_;
  OptionMap defaults_;
  std::vector<ParamGroup> groups_;
  std::unordered_map<const TensorImpl*, ParamState> state_;

 private:
  Validator validate_;
};

// Builds a one-group list from plain tensors (what the optimizers' first constructor does).
std::vector<ParamGroup> single_group(std::vector<Tensor> params);

namespace detail {
// Shared option checks: "SGD: invalid learning rate: -1 (must be >= 0)".
void check_non_negative(const std::string& opt, const char* what, double value);
void check_beta(const std::string& opt, int index, double value);
double required(const std::string& opt, const ParamGroup& group, const char* key);
}  // namespace detail

}  // namespace tg::optim
