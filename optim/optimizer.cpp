#include "optimizer.h"

#include <cmath>
#include <unordered_map>

#include "../autograd/functions.h"
#include "../autograd/node.h"

namespace tg::optim {

double ParamGroup::get(const std::string& key) const {
  auto it = options.find(key);
  TG_CHECK(it != options.end(), Value, "optimizer: the parameter group has no option \"", key, "\"");
  return it->second;
}

Tensor ParamState::tensor(const std::string& key) const {
  auto it = tensors.find(key);
  return it == tensors.end() ? Tensor() : it->second;
}

double ParamState::scalar(const std::string& key, double otherwise) const {
  auto it = scalars.find(key);
  return it == scalars.end() ? otherwise : it->second;
}

std::vector<ParamGroup> single_group(std::vector<Tensor> params) {
  std::vector<ParamGroup> groups;
  groups.emplace_back(std::move(params));
  return groups;
}

namespace detail {

void check_non_negative(const std::string& opt, const char* what, double value) {
  TG_CHECK(value >= 0.0, Value, opt, ": invalid ", what, ": ", value, " (must be >= 0)");
}

void check_beta(const std::string& opt, int index, double value) {
  TG_CHECK(value >= 0.0 && value < 1.0, Value, opt, ": invalid beta parameter at index ", index,
           ": ", value, " (must be in [0, 1))");
}

double required(const std::string& opt, const ParamGroup& group, const char* key) {
  auto it = group.options.find(key);
  TG_CHECK(it != group.options.end() && !std::isnan(it->second), Value, opt,
           ": a parameter group did not specify a value of the required option ", key);
  return it->second;
}

}  // namespace detail

Optimizer::Optimizer(std::string name, OptionMap defaults, Validator validate)
    : name_(std::move(name)), defaults_(std::move(defaults)), validate_(std::move(validate)) {}

void Optimizer::add_param_groups(std::vector<ParamGroup> groups) {
  TG_CHECK(!groups.empty(), Value, name_, ": got an empty parameter list");
  for (auto& g : groups) add_param_group(std::move(g));
}

void Optimizer::add_param_group(ParamGroup group) {
  // Index of the first parameter of this group, across groups (as in the state_dict).
  int64_t first = 0;
  for (const auto& g : groups_) first += static_cast<int64_t>(g.params.size());
  TG_CHECK(!group.params.empty(), Value, name_, ": got an empty parameter list (parameter group ",
           groups_.size(), ")");
  // Where each tensor already is: earlier groups, then earlier in this group.
  std::unordered_map<const TensorImpl*, size_t> seen;
  for (size_t gi = 0; gi < groups_.size(); ++gi)
    for (const auto& p : groups_[gi].params) seen.emplace(p.impl(), gi);
  for (size_t i = 0; i < group.params.size(); ++i) {
    const Tensor& p = group.params[i];
    const int64_t index = first + static_cast<int64_t>(i);
    TG_CHECK(p.defined(), Value, name_, ": parameter ", index, " is an undefined tensor");
    TG_CHECK(p.is_leaf(), Value, name_, ": parameter ", index,
             " is not a leaf tensor (it was computed by an op); optimize the tensor it was computed "
             "from, or pass .detach().requires_grad_()");
    TG_CHECK(p.requires_grad(), Value, name_, ": parameter ", index,
             " does not require grad; call .requires_grad_() on it or leave it out");
    auto [it, fresh] = seen.emplace(p.impl(), groups_.size());
    TG_CHECK(fresh, Value, name_, ": parameter ", index, " appears more than once (",
             it->second == groups_.size() ? "twice in parameter group " : "also in parameter group ",
             it->second, "); each tensor may be in one parameter group, once");
  }
  for (const auto& [key, value] : defaults_) group.options.emplace(key, value);
  validate_(group);
  groups_.push_back(std::move(group));
}

ParamState& Optimizer::state(const Tensor& param) { return state_[param.impl()]; }

bool Optimizer::has_state(const Tensor& param) const {
  auto it = state_.find(param.impl());
  return it != state_.end() && !it->second.empty();
}

Tensor Optimizer::evaluate(const LossClosure& closure) {
  if (!closure) return Tensor();
  EnableGradGuard grad_on;
  return closure();
}

void Optimizer::params_with_grad(const ParamGroup& group, std::vector<Tensor>& params,
                                 std::vector<Tensor>& grads) {
  params.clear();
  grads.clear();
  for (const auto& p : group.params)
    if (p.grad().defined()) {
      params.push_back(p);
      grads.push_back(p.grad());
    }
}

void Optimizer::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (auto& group : groups_)
    for (auto& p : group.params) {
      const Tensor& g = p.grad();
      if (!g.defined()) continue;
      if (set_to_none) {
        p.set_grad(Tensor());
      } else {
        // A gradient with history (backward with create_graph) is cut from it first, as PyTorch.
        if (g.grad_fn()) p.set_grad(g.detach());
        p.grad().zero_();
      }
    }
}

OptimizerStateDict Optimizer::state_dict() const {
  OptimizerStateDict dict;
  int64_t index = 0;
  for (const auto& group : groups_) {
    OptimizerStateDict::Group g;
    g.options = group.options;
    g.string_options = group.string_options;
    for (const auto& p : group.params) {
      auto it = state_.find(p.impl());
      if (it != state_.end() && !it->second.empty()) dict.state[index] = it->second;
      g.params.push_back(index++);
    }
    dict.param_groups.push_back(std::move(g));
  }
  return dict;
}

namespace {
Tensor copied_like(const Tensor& t, const Tensor& param) {
  if (!t.defined()) return t;
  Tensor out = t.detach();
  if (out.is_floating_point() && out.dtype() != param.dtype()) out = out.to(param.dtype());
  if (out.device() != param.device()) out = out.to(param.device());
  // Always a private copy: the loaded optimizer must not share buffers with the source.
  if (out.storage() == t.storage()) out = out.clone();
  return out;
}
}  // namespace

void Optimizer::load_state_dict(const OptimizerStateDict& dict) {
  TG_CHECK(dict.param_groups.size() == groups_.size(), Value, name_,
           ": loaded state dict has a different number of parameter groups (",
           dict.param_groups.size(), " vs ", groups_.size(), ")");
  std::unordered_map<int64_t, const Tensor*> by_index;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const auto& saved = dict.param_groups[gi];
    TG_CHECK(saved.params.size() == groups_[gi].params.size(), Value, name_,
             ": loaded state dict contains a parameter group that doesn't match the size of the "
             "optimizer's group (group ", gi, ": ", saved.params.size(), " vs ",
             groups_[gi].params.size(), " parameters)");
    for (size_t i = 0; i < saved.params.size(); ++i) {
      TG_CHECK(by_index.emplace(saved.params[i], &groups_[gi].params[i]).second, Value, name_,
               ": loaded state dict lists parameter index ", saved.params[i], " twice");
    }
  }
  for (const auto& [index, st] : dict.state)
    TG_CHECK(by_index.count(index), Value, name_, ": loaded state dict has state for parameter ",
             index, ", which is in none of its parameter groups");
  // Check every group's options before changing anything.
  std::vector<ParamGroup> groups;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    ParamGroup g(groups_[gi].params, dict.param_groups[gi].options);
    g.string_options = dict.param_groups[gi].string_options;
    validate_(g);
    groups.push_back(std::move(g));
  }
  std::unordered_map<const TensorImpl*, ParamState> state;
  for (const auto& [index, st] : dict.state) {
    const Tensor& p = *by_index.at(index);
    ParamState copy;
    copy.scalars = st.scalars;
    for (const auto& [k, t] : st.tensors) copy.tensors[k] = copied_like(t, p);
    for (const auto& [k, list] : st.tensor_lists) {
      auto& out = copy.tensor_lists[k];
      for (const auto& t : list) out.push_back(copied_like(t, p));
    }
    state[p.impl()] = std::move(copy);
  }
  groups_ = std::move(groups);
  state_ = std::move(state);
}

}  // namespace tg::optim
